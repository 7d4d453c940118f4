//! [`Target`] for synack's own [`Stack`]: the runner's calls map onto the stack's
//! non-blocking socket API, its sysctls and its sans-IO packet interface.

use super::target::{
    CallError, CallResult, Errno, Family, Fd, How, MsgFlags, SockOpt, SocketRow, SysctlError,
    Target, TcpInfo,
};
use super::{LOCAL_V4, LOCAL_V6, Profile};
use core::net::{IpAddr, SocketAddr};
use std::collections::BTreeMap;
use synack::stack::{self, SockOptName, SockOptValue, SocketId, Stack, Sysctl};
use synack::{Instant, State};

/// The secret the runner's stacks are keyed with (ISNs, cookies, ports): fixed, so runs
/// are reproducible.
const SECRET: [u8; 16] = *b"synack-drill-key";

/// synack's [`Stack`] as a runner target, owning `198.18.0.1` and `fd00::1`.
pub struct StackTarget {
    /// The stack under test.
    pub stack: Stack,
    fds: BTreeMap<Fd, SocketId>,
    next_fd: Fd,
}

impl StackTarget {
    /// A stack with `profile`'s defaults.
    pub fn new(profile: Profile) -> StackTarget {
        let sp = match profile {
            Profile::Linux => stack::Profile::Linux,
            Profile::FreeBsd => stack::Profile::FreeBsd,
        };
        let mut stack = Stack::new(SECRET, Sysctl::for_profile(sp));
        stack.add_address(IpAddr::V4(LOCAL_V4));
        stack.add_address(IpAddr::V6(LOCAL_V6));
        StackTarget {
            stack,
            fds: BTreeMap::new(),
            next_fd: 3,
        }
    }

    fn sid(&self, fd: Fd) -> CallResult<SocketId> {
        self.fds
            .get(&fd)
            .copied()
            .ok_or(CallError::Errno(Errno::EBADF))
    }

    fn add(&mut self, s: SocketId) -> Fd {
        let fd = self.next_fd;
        self.next_fd += 1;
        self.fds.insert(fd, s);
        fd
    }
}

fn errno(e: stack::Errno) -> CallError {
    CallError::Errno(Errno(e.0))
}

fn opt_name(opt: SockOpt) -> CallResult<SockOptName> {
    Ok(match opt {
        SockOpt::ReuseAddr => SockOptName::ReuseAddr,
        SockOpt::ReusePort => SockOptName::ReusePort,
        SockOpt::RcvBuf => SockOptName::RcvBuf,
        SockOpt::SndBuf => SockOptName::SndBuf,
        SockOpt::Error => SockOptName::Error,
        SockOpt::KeepAlive => SockOptName::KeepAlive,
        SockOpt::OobInline => SockOptName::OobInline,
        SockOpt::NoDelay => SockOptName::NoDelay,
        SockOpt::MaxSeg => SockOptName::MaxSeg,
        SockOpt::KeepIdle => SockOptName::KeepIdle,
        SockOpt::KeepIntvl => SockOptName::KeepIntvl,
        SockOpt::KeepCnt => SockOptName::KeepCnt,
        SockOpt::UserTimeout => SockOptName::UserTimeout,
        SockOpt::Cork => SockOptName::Cork,
        SockOpt::IpTtl => SockOptName::IpTtl,
        SockOpt::KeepInit => SockOptName::KeepInit,
        other => {
            return Err(CallError::Unsupported(format!(
                "socket option {other:?} (not in the stack's API)"
            )));
        }
    })
}

impl Target for StackTarget {
    fn sysctl(&mut self, key: &str, value: &str) -> Result<(), SysctlError> {
        match self.stack.sysctl_set(key, value) {
            Ok(()) => Ok(()),
            Err(stack::SysctlError::UnknownKey(_)) => Err(SysctlError::Unknown),
            Err(e) => Err(SysctlError::Invalid(e.to_string())),
        }
    }

    fn socket(&mut self, _now: Instant, family: Family) -> CallResult<Fd> {
        let f = match family {
            Family::Inet => stack::Family::V4,
            Family::Inet6 => stack::Family::V6,
        };
        let s = self.stack.socket(f).map_err(errno)?;
        Ok(self.add(s))
    }

    fn bind(&mut self, _now: Instant, fd: Fd, addr: SocketAddr) -> CallResult<()> {
        let s = self.sid(fd)?;
        self.stack.bind(s, addr).map_err(errno)
    }

    fn listen(&mut self, _now: Instant, fd: Fd, backlog: i32) -> CallResult<()> {
        let s = self.sid(fd)?;
        self.stack.listen(s, backlog).map_err(errno)
    }

    fn accept(&mut self, _now: Instant, fd: Fd) -> CallResult<Fd> {
        let s = self.sid(fd)?;
        let (new, _) = self.stack.accept(s).map_err(errno)?;
        Ok(self.add(new))
    }

    fn connect(&mut self, now: Instant, fd: Fd, addr: SocketAddr) -> CallResult<()> {
        let s = self.sid(fd)?;
        self.stack.connect(now, s, addr).map_err(errno)
    }

    fn connect_status(&mut self, now: Instant, fd: Fd) -> CallResult<bool> {
        let s = self.sid(fd)?;
        match self.stack.state(s).map_err(errno)? {
            State::SynSent | State::SynReceived => Ok(false),
            State::Closed => {
                let e = self.stack.take_error(s).map_err(errno)?;
                Err(errno(e.unwrap_or(stack::Errno::ECONNREFUSED)))
            }
            // Established (or later): a second connect() reports success once.
            _ => match self
                .stack
                .connect(now, s, SocketAddr::new(IpAddr::V4(LOCAL_V4), 1))
            {
                Ok(()) => Ok(true),
                Err(e) if e == stack::Errno::EISCONN => Ok(true),
                Err(e) => Err(errno(e)),
            },
        }
    }

    fn send(&mut self, now: Instant, fd: Fd, data: &[u8], flags: MsgFlags) -> CallResult<usize> {
        let s = self.sid(fd)?;
        if flags.oob {
            return self.stack.send_urgent(now, s, data).map_err(errno);
        }
        self.stack.send(now, s, data).map_err(errno)
    }

    fn recv(&mut self, now: Instant, fd: Fd, buf: &mut [u8], flags: MsgFlags) -> CallResult<usize> {
        let s = self.sid(fd)?;
        let f = stack::RecvFlags {
            peek: flags.peek,
            oob: flags.oob,
        };
        self.stack.recv(now, s, buf, f).map_err(errno)
    }

    fn shutdown(&mut self, now: Instant, fd: Fd, how: How) -> CallResult<()> {
        let s = self.sid(fd)?;
        let h = match how {
            How::Read => stack::Shutdown::Read,
            How::Write => stack::Shutdown::Write,
            How::Both => stack::Shutdown::Both,
        };
        self.stack.shutdown(now, s, h).map_err(errno)
    }

    fn close(&mut self, now: Instant, fd: Fd) -> CallResult<()> {
        let s = self.sid(fd)?;
        self.fds.remove(&fd);
        self.stack.close(now, s).map_err(errno)
    }

    fn setsockopt(&mut self, _now: Instant, fd: Fd, opt: SockOpt, value: i64) -> CallResult<()> {
        let s = self.sid(fd)?;
        let v = i32::try_from(value).map_err(|_| CallError::Errno(Errno::EINVAL))?;
        let o = opt_name(opt)?
            .with_int(v)
            .ok_or(CallError::Errno(Errno::ENOPROTOOPT))?;
        self.stack.setsockopt(s, o).map_err(errno)
    }

    fn getsockopt(&mut self, _now: Instant, fd: Fd, opt: SockOpt) -> CallResult<i64> {
        let s = self.sid(fd)?;
        match self.stack.getsockopt(s, opt_name(opt)?).map_err(errno)? {
            SockOptValue::Int(v) => Ok(i64::from(v)),
            other => Err(CallError::Unsupported(format!(
                "getsockopt {opt:?} returning {other:?}"
            ))),
        }
    }

    fn bytes_readable(&mut self, fd: Fd) -> CallResult<usize> {
        let s = self.sid(fd)?;
        self.stack.ioctl_inq(s).map_err(errno)
    }

    fn tcp_info(&mut self, fd: Fd) -> CallResult<TcpInfo> {
        let s = self.sid(fd)?;
        let i = self.stack.tcp_info(s).map_err(errno)?;
        Ok(TcpInfo {
            state: i.state,
            snd_cwnd_bytes: i.snd_cwnd.map(|c| c.saturating_mul(i.snd_mss)),
            snd_mss: i.snd_mss,
            advmss: Some(i.advmss),
            options: i.options,
        })
    }

    fn sockets(&mut self) -> Vec<SocketRow> {
        // Live connections and listeners, plus open sockets without a connection (CLOSED,
        // as FreeBSD's sockstat lists them).
        let mut rows: Vec<SocketRow> = self
            .stack
            .ss()
            .into_iter()
            .map(|r| SocketRow {
                local: Some(r.local),
                remote: (r.state != State::Listen).then_some(r.peer),
                state: r.state,
            })
            .collect();
        for s in self.fds.values() {
            if self.stack.state(*s) == Ok(State::Closed) {
                rows.push(SocketRow {
                    local: self.stack.local_addr(*s).ok(),
                    remote: None,
                    state: State::Closed,
                });
            }
        }
        rows
    }

    fn drop_connections(&mut self, now: Instant, state: State) -> CallResult<usize> {
        if state == State::Listen {
            return Err(CallError::Unsupported(
                "tcpdrop -s LISTEN (listeners are not connections)".into(),
            ));
        }
        let rows: Vec<_> = self
            .stack
            .ss()
            .into_iter()
            .filter(|r| r.state == state)
            .collect();
        let mut n = 0;
        for r in rows {
            if self.stack.drop_connection(now, r.local, r.peer).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    fn inject(&mut self, now: Instant, datagram: &[u8]) {
        self.stack.receive(now, datagram);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.stack.poll_transmit(now, buf)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.stack.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.stack.handle_timeout(now);
    }
}
