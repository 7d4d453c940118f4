//! System call lines: arguments resolved against the script's conventions, calls made on
//! the non-blocking target API, blocking emulated by retrying as virtual time passes, and
//! results (return value, errno, values returned through pointers) checked.

use super::target::{CallError, Errno, Family, Fd, How, MsgFlags, SockOpt, Target};
use super::{Pending, Profile, Runner, SCRIPT_PORT, Stop, secs};
use crate::ast::{Event, Expr, Syscall};
use core::net::SocketAddr;

/// The largest read or write a script may ask for (64 MiB).
const MAX_IO: usize = 64 << 20;

/// A call that would block, kept to be retried.
#[derive(Clone, Debug)]
pub(crate) enum Blocked {
    Accept {
        fd: Fd,
    },
    Connect {
        fd: Fd,
    },
    Recv {
        fd: Fd,
        len: usize,
        flags: MsgFlags,
    },
    Send {
        fd: Fd,
        len: usize,
        done: usize,
        flags: MsgFlags,
    },
}

/// What a call returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ret {
    /// The return value (-1 with `errno` on failure).
    pub value: i64,
    pub errno: Option<Errno>,
    /// A value returned through a pointer argument (`getsockopt`'s `[v]`, `ioctl`'s `[n]`):
    /// (argument index, value).
    pub out: Option<(usize, i64)>,
    /// A new descriptor (`socket`, `accept`).
    pub new_fd: Option<Fd>,
}

impl Ret {
    fn ok(value: i64) -> Ret {
        Ret {
            value,
            errno: None,
            out: None,
            new_fd: None,
        }
    }

    fn err(e: Errno) -> Ret {
        Ret {
            value: -1,
            errno: Some(e),
            out: None,
            new_fd: None,
        }
    }
}

enum Attempt {
    Done(Ret),
    Blocked(Blocked),
}

/// A symbol's integer value, as the scripts use them.
pub(crate) fn symbol_value(name: &str, profile: Profile) -> Option<i64> {
    if let Some(e) = Errno::from_name(name) {
        return Some(i64::from(e.0));
    }
    if let Some(n) = name.strip_prefix("IPTOS_DSCP_CS")
        && let Ok(n) = n.parse::<i64>()
        && (0..8).contains(&n)
    {
        return Some(n << 5);
    }
    Some(match name {
        "O_RDONLY" => 0,
        "O_WRONLY" => 1,
        "O_RDWR" => 2,
        "O_NONBLOCK" => profile.o_nonblock(),
        "MSG_OOB" => 1,
        "MSG_PEEK" => 2,
        "MSG_DONTWAIT" => match profile {
            Profile::Linux => 0x40,
            Profile::FreeBsd => 0x80,
        },
        "MSG_WAITALL" => match profile {
            Profile::Linux => 0x100,
            Profile::FreeBsd => 0x40,
        },
        "SHUT_RD" => 0,
        "SHUT_WR" => 1,
        "SHUT_RDWR" => 2,
        "AF_INET" => 2,
        "AF_INET6" => match profile {
            Profile::Linux => 10,
            Profile::FreeBsd => 28,
        },
        "SOCK_STREAM" => 1,
        "IPPROTO_TCP" => 6,
        "IPTOS_LOWDELAY" => 0x10,
        "IPTOS_THROUGHPUT" => 0x08,
        "IPTOS_RELIABILITY" => 0x04,
        _ => return None,
    })
}

impl<T: Target + ?Sized> Runner<'_, T> {
    fn int(&self, ev: &Event, e: &Expr) -> Result<i64, Stop> {
        match e {
            Expr::Int(v) => Ok(*v),
            Expr::Symbol(s) => symbol_value(s, self.cfg.profile)
                .ok_or_else(|| Stop::Unsupported(format!("symbol {s}"))),
            Expr::Or(items) => {
                let mut v = 0;
                for i in items {
                    v |= self.int(ev, i)?;
                }
                Ok(v)
            }
            Expr::Array(items) if items.len() == 1 => self.int(ev, &items[0]),
            Expr::Call(f, args) if f == "htons" || f == "htonl" || f == "ntohs" => {
                match args.as_slice() {
                    [a] => self.int(ev, a),
                    _ => Err(self.fail(ev, format!("{f} takes one argument"))),
                }
            }
            other => Err(self.fail(ev, format!("expected an integer, found {other}"))),
        }
    }

    fn arg<'e>(&self, ev: &Event, sc: &'e Syscall, i: usize) -> Result<&'e Expr, Stop> {
        sc.args
            .get(i)
            .ok_or_else(|| self.fail(ev, format!("{} needs argument {}", sc.name, i + 1)))
    }

    /// The target fd for a script fd argument (`None`: not a descriptor we opened).
    fn fd(&self, ev: &Event, sc: &Syscall) -> Result<Option<Fd>, Stop> {
        let n = self.int(ev, self.arg(ev, sc, 0)?)?;
        Ok(self.fds.get(&n).copied())
    }

    fn addr(&self, ev: &Event, e: &Expr, local: bool) -> Result<SocketAddr, Stop> {
        match e {
            Expr::Elided => Ok(SocketAddr::new(
                if local {
                    self.local_ip()
                } else {
                    self.remote_ip()
                },
                SCRIPT_PORT,
            )),
            other => Err(Stop::Unsupported(format!(
                "explicit socket address {other} (line {})",
                ev.line
            ))),
        }
    }

    fn result<V>(&self, r: Result<V, CallError>) -> Result<Result<V, Errno>, Stop> {
        match r {
            Ok(v) => Ok(Ok(v)),
            Err(CallError::Errno(e)) => Ok(Err(e)),
            Err(CallError::Unsupported(s)) => Err(Stop::Unsupported(s)),
        }
    }

    fn is_nonblocking(&self, fd: Fd) -> bool {
        self.nonblocking.get(&fd).copied().unwrap_or(false)
    }

    /// Makes the call once.
    fn attempt(&mut self, ev: &Event, sc: &Syscall) -> Result<Attempt, Stop> {
        let now = self.instant();
        let name = sc.name.as_str();
        if name == "socket" {
            let family = match self.arg(ev, sc, 0)? {
                Expr::Elided => {
                    if self.v6 {
                        Family::Inet6
                    } else {
                        Family::Inet
                    }
                }
                Expr::Symbol(s) if s == "AF_INET" => Family::Inet,
                Expr::Symbol(s) if s == "AF_INET6" => Family::Inet6,
                other => return Err(Stop::Unsupported(format!("socket domain {other}"))),
            };
            let ty = self.int(ev, self.arg(ev, sc, 1)?)?;
            if ty != 1 {
                return Err(Stop::Unsupported(format!(
                    "socket type {}",
                    self.arg(ev, sc, 1)?
                )));
            }
            let r = self.t.socket(now, family);
            return Ok(Attempt::Done(match self.result(r)? {
                Ok(fd) => Ret {
                    new_fd: Some(fd),
                    ..Ret::ok(0)
                },
                Err(e) => Ret::err(e),
            }));
        }
        let Some(fd) = self.fd(ev, sc)? else {
            return Ok(Attempt::Done(Ret::err(Errno::EBADF)));
        };
        let unit = |r: Result<(), Errno>| match r {
            Ok(()) => Ret::ok(0),
            Err(e) => Ret::err(e),
        };
        let ret = match name {
            "bind" => {
                let a = self.addr(ev, self.arg(ev, sc, 1)?, true)?;
                let r = self.t.bind(now, fd, a);
                unit(self.result(r)?)
            }
            "listen" => {
                let backlog = self.int(ev, self.arg(ev, sc, 1)?)?;
                let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
                let r = self.t.listen(now, fd, backlog);
                let r = self.result(r)?;
                if r.is_ok() {
                    self.on_listen();
                    self.sut_fd = Some(fd);
                }
                unit(r)
            }
            "accept" => return self.accept(fd),
            "connect" => {
                let a = self.addr(ev, self.arg(ev, sc, 1)?, false)?;
                self.on_connect();
                self.sut_fd = Some(fd);
                let r = self.t.connect(now, fd, a);
                self.drain();
                match self.result(r)? {
                    Ok(()) => Ret::ok(0),
                    Err(e) if e == Errno::EINPROGRESS && !self.is_nonblocking(fd) => {
                        return Ok(Attempt::Blocked(Blocked::Connect { fd }));
                    }
                    Err(e) => Ret::err(e),
                }
            }
            "read" | "recv" | "recvfrom" => {
                let len = self.buffer_len(ev, sc)?;
                let flags = match sc.args.get(3) {
                    Some(f) if name != "read" => self.msg_flags(ev, f)?,
                    _ => MsgFlags::default(),
                };
                return self.recv(fd, len, flags);
            }
            "write" | "send" | "sendto" => {
                let len = self.buffer_len(ev, sc)?;
                let flags = match sc.args.get(3) {
                    Some(f) if name != "write" => self.msg_flags(ev, f)?,
                    _ => MsgFlags::default(),
                };
                return self.send(fd, len, 0, flags);
            }
            "close" => {
                let r = self.t.close(now, fd);
                let r = self.result(r)?;
                if r.is_ok() {
                    let script_fd = self.int(ev, self.arg(ev, sc, 0)?)?;
                    self.fds.remove(&script_fd);
                    self.nonblocking.remove(&fd);
                }
                unit(r)
            }
            "shutdown" => {
                let how = match self.int(ev, self.arg(ev, sc, 1)?)? {
                    0 => How::Read,
                    1 => How::Write,
                    2 => How::Both,
                    _ => return Ok(Attempt::Done(Ret::err(Errno::EINVAL))),
                };
                let r = self.t.shutdown(now, fd, how);
                unit(self.result(r)?)
            }
            "setsockopt" => {
                let opt = self.sockopt(ev, sc)?;
                let v = self.int(ev, self.arg(ev, sc, 3)?)?;
                let r = self.t.setsockopt(now, fd, opt, v);
                unit(self.result(r)?)
            }
            "getsockopt" => {
                let opt = self.sockopt(ev, sc)?;
                let r = self.t.getsockopt(now, fd, opt);
                match self.result(r)? {
                    Ok(v) => Ret {
                        out: Some((3, v)),
                        ..Ret::ok(0)
                    },
                    Err(e) => Ret::err(e),
                }
            }
            "fcntl" => self.fcntl(ev, sc, fd)?,
            "ioctl" => {
                let req = match self.arg(ev, sc, 1)? {
                    Expr::Symbol(s) => s.clone(),
                    other => other.to_string(),
                };
                if req != "SIOCINQ" && req != "FIONREAD" {
                    return Err(Stop::Unsupported(format!("ioctl {req}")));
                }
                let r = self.t.bytes_readable(fd);
                match self.result(r)? {
                    Ok(n) => Ret {
                        out: Some((2, n as i64)),
                        ..Ret::ok(0)
                    },
                    Err(e) => Ret::err(e),
                }
            }
            other => return Err(Stop::Unsupported(format!("system call {other}"))),
        };
        self.drain();
        Ok(Attempt::Done(ret))
    }

    /// The length argument of a read or write, at most [`MAX_IO`].
    fn buffer_len(&self, ev: &Event, sc: &Syscall) -> Result<usize, Stop> {
        let len = self.int(ev, self.arg(ev, sc, 2)?)?;
        match usize::try_from(len) {
            Ok(n) if n <= MAX_IO => Ok(n),
            _ => Err(self.fail(ev, format!("buffer length {len} outside 0..={MAX_IO}"))),
        }
    }

    fn msg_flags(&self, ev: &Event, e: &Expr) -> Result<MsgFlags, Stop> {
        let v = self.int(ev, e)?;
        let known = 1 | 2 | symbol_value("MSG_DONTWAIT", self.cfg.profile).unwrap_or(0);
        if v & !known != 0 {
            return Err(Stop::Unsupported(format!("message flags {e}")));
        }
        Ok(MsgFlags {
            peek: v & 2 != 0,
            oob: v & 1 != 0,
        })
    }

    fn sockopt(&self, ev: &Event, sc: &Syscall) -> Result<SockOpt, Stop> {
        let sym = |e: &Expr| e.as_symbol().map(str::to_string).unwrap_or(e.to_string());
        let level = sym(self.arg(ev, sc, 1)?);
        let name = sym(self.arg(ev, sc, 2)?);
        SockOpt::from_names(&level, &name)
            .ok_or_else(|| Stop::Unsupported(format!("{} {level} {name}", sc.name)))
    }

    fn fcntl(&mut self, ev: &Event, sc: &Syscall, fd: Fd) -> Result<Ret, Stop> {
        let cmd = match self.arg(ev, sc, 1)? {
            Expr::Symbol(s) => s.clone(),
            other => other.to_string(),
        };
        let nb = self.cfg.profile.o_nonblock();
        match cmd.as_str() {
            "F_GETFL" => {
                let v = 2 | if self.is_nonblocking(fd) { nb } else { 0 };
                Ok(Ret::ok(v))
            }
            "F_SETFL" => {
                let v = self.int(ev, self.arg(ev, sc, 2)?)?;
                self.nonblocking.insert(fd, v & nb != 0);
                Ok(Ret::ok(0))
            }
            other => Err(Stop::Unsupported(format!("fcntl {other}"))),
        }
    }

    fn accept(&mut self, fd: Fd) -> Result<Attempt, Stop> {
        let now = self.instant();
        let r = self.t.accept(now, fd);
        self.drain();
        Ok(match self.result(r)? {
            Ok(new) => Attempt::Done(Ret {
                new_fd: Some(new),
                ..Ret::ok(0)
            }),
            Err(e) if e == Errno::EAGAIN && !self.is_nonblocking(fd) => {
                Attempt::Blocked(Blocked::Accept { fd })
            }
            Err(e) => Attempt::Done(Ret::err(e)),
        })
    }

    fn recv(&mut self, fd: Fd, len: usize, flags: MsgFlags) -> Result<Attempt, Stop> {
        let now = self.instant();
        let mut buf = vec![0u8; len];
        let r = self.t.recv(now, fd, &mut buf, flags);
        self.drain();
        Ok(match self.result(r)? {
            Ok(n) => Attempt::Done(Ret::ok(n as i64)),
            Err(e) if e == Errno::EAGAIN && !self.is_nonblocking(fd) => {
                Attempt::Blocked(Blocked::Recv { fd, len, flags })
            }
            Err(e) => Attempt::Done(Ret::err(e)),
        })
    }

    fn send(&mut self, fd: Fd, len: usize, done: usize, flags: MsgFlags) -> Result<Attempt, Stop> {
        let now = self.instant();
        let data = vec![0u8; len - done];
        let r = self.t.send(now, fd, &data, flags);
        self.drain();
        let blocking = !self.is_nonblocking(fd);
        Ok(match self.result(r)? {
            Ok(n) if blocking && done + n < len => Attempt::Blocked(Blocked::Send {
                fd,
                len,
                done: done + n,
                flags,
            }),
            Ok(n) => Attempt::Done(Ret::ok((done + n) as i64)),
            Err(e) if e == Errno::EAGAIN && blocking => Attempt::Blocked(Blocked::Send {
                fd,
                len,
                done,
                flags,
            }),
            // A blocking write that already moved some bytes returns their count.
            Err(_) if done > 0 => Attempt::Done(Ret::ok(done as i64)),
            Err(e) => Attempt::Done(Ret::err(e)),
        })
    }

    fn retry(&mut self, b: &Blocked) -> Result<Attempt, Stop> {
        match *b {
            Blocked::Accept { fd } => self.accept(fd),
            Blocked::Recv { fd, len, flags } => self.recv(fd, len, flags),
            Blocked::Send {
                fd,
                len,
                done,
                flags,
            } => self.send(fd, len, done, flags),
            Blocked::Connect { fd } => {
                let now = self.instant();
                let r = self.t.connect_status(now, fd);
                Ok(match self.result(r)? {
                    Ok(true) => Attempt::Done(Ret::ok(0)),
                    Ok(false) => Attempt::Blocked(b.clone()),
                    Err(e) => Attempt::Done(Ret::err(e)),
                })
            }
        }
    }

    /// Retries a pending blocking call; on completion checks its result and end time.
    pub(crate) fn poll_pending(&mut self) -> Result<(), Stop> {
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        match self.retry(&p.call)? {
            Attempt::Blocked(b) => {
                self.pending = Some(Pending { call: b, ..p });
                Ok(())
            }
            Attempt::Done(ret) => {
                let crate::ast::EventKind::Syscall(sc) = &p.event.kind else {
                    return Ok(());
                };
                self.trace(|| format!("blocking call of line {} returned", p.event.line));
                self.check(&p.event, sc, &ret)?;
                self.check_end(&p.event, p.start, p.end)
            }
        }
    }

    /// Waits for a pending call to finish (by its end time, or within the tolerance).
    pub(crate) fn finish_pending(&mut self) -> Result<(), Stop> {
        let Some(p) = self.pending.clone() else {
            return Ok(());
        };
        let limit = p.end.unwrap_or(p.start).saturating_add(self.tolerance);
        let limit = if self.cfg.relax.timing {
            limit.saturating_add(super::ANY_TIME_WAIT_USECS)
        } else {
            limit
        };
        self.advance_to(limit)?;
        if self.pending.is_some() {
            self.pending = None;
            return Err(self.fail(
                &p.event,
                format!(
                    "blocking call did not return by {} (started at {})",
                    secs(limit),
                    secs(p.start)
                ),
            ));
        }
        Ok(())
    }

    fn check_end(&self, ev: &Event, start: u64, end: Option<u64>) -> Result<(), Stop> {
        if self.cfg.relax.timing {
            return Ok(());
        }
        let want = end.unwrap_or(start);
        let tol = self.tolerance;
        if self.now.saturating_add(tol) < want || self.now > want.saturating_add(tol) {
            return Err(self.fail(
                ev,
                format!(
                    "timing error: expected system call to return at {} but it returned at {}; tolerance {}",
                    secs(want),
                    secs(self.now),
                    secs(tol)
                ),
            ));
        }
        Ok(())
    }

    /// Runs a system call line.
    pub(crate) fn syscall(
        &mut self,
        ev: &Event,
        sc: &Syscall,
        end: Option<u64>,
    ) -> Result<(), Stop> {
        // One blocking call at a time, as packetdrill's single system-call thread.
        self.finish_pending()?;
        let start = self.now;
        match self.attempt(ev, sc)? {
            Attempt::Done(ret) => {
                self.check(ev, sc, &ret)?;
                if end.is_some() {
                    self.check_end(ev, start, end)?;
                }
                Ok(())
            }
            Attempt::Blocked(b) => {
                self.trace(|| format!("line {} blocks", ev.line));
                self.pending = Some(Pending {
                    event: ev.clone(),
                    call: b,
                    end,
                    start,
                });
                if end.is_none() {
                    // Not written as blocking: it must return within the tolerance.
                    self.finish_pending()?;
                }
                Ok(())
            }
        }
    }

    /// Compares a call's result with the line.
    fn check(&mut self, ev: &Event, sc: &Syscall, ret: &Ret) -> Result<(), Stop> {
        let got = match ret.errno {
            Some(e) => format!("{} {e}", ret.value),
            None => ret.value.to_string(),
        };
        if let Some(new) = ret.new_fd {
            // socket()/accept(): the script names the descriptor; map it.
            let want = match &sc.result {
                Expr::Elided => None,
                e => Some(self.int(ev, e)?),
            };
            if let Some(w) = want {
                if w < 0 {
                    return Err(self.fail(ev, format!("returned descriptor, expected {w}")));
                }
                self.fds.insert(w, new);
            }
            self.sut_fd = Some(new);
            return Ok(());
        }
        if !matches!(sc.result, Expr::Elided) {
            let want = self.int(ev, &sc.result)?;
            let want_errno = match &sc.errno {
                Some(name) => Some(
                    Errno::from_name(name)
                        .ok_or_else(|| Stop::Unsupported(format!("errno {name}")))?,
                ),
                None => None,
            };
            if want != ret.value || (want_errno.is_some() && want_errno != ret.errno) {
                let want_s = match &sc.errno {
                    Some(e) => format!("{want} {e}"),
                    None => want.to_string(),
                };
                return Err(self.fail(ev, format!("{} returned {got}, expected {want_s}", sc.name)));
            }
        }
        if let Some((i, v)) = ret.out
            && let Some(e) = sc.args.get(i)
            && !matches!(e, Expr::Elided)
        {
            let want = self.int(ev, e)?;
            if want != v {
                let shown = match e {
                    Expr::Array(items) if items.len() == 1 => items[0].to_string(),
                    other => other.to_string(),
                };
                let got_s = if shown.starts_with('E') {
                    Errno(i32::try_from(v).unwrap_or(-1)).name()
                } else {
                    v.to_string()
                };
                return Err(self.fail(
                    ev,
                    format!("{} returned value {got_s}, expected {shown}", sc.name),
                ));
            }
        }
        Ok(())
    }
}
