//! The socket API: non-blocking, readiness-based, with Linux `errno` values.

use super::{Binding, ConnId, Errno, Holder, Owner, Profile, SocketId, Stack};
use crate::conn::Connection;
use crate::error::Error;
use crate::isn::FourTuple;
use crate::state::State;
use crate::time::Instant;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::collections::VecDeque;
use std::sync::{Arc, LazyLock};

/// Linux's `SOCK_MIN_RCVBUF` / `SOCK_MIN_SNDBUF` (for 4 KiB pages, roughly).
const MIN_RCVBUF: u32 = 2304;
const MIN_SNDBUF: u32 = 4608;
/// `net.core.rmem_max` / `wmem_max` (212992): the cap on SO_RCVBUF/SO_SNDBUF before doubling.
const BUF_MAX: u32 = 212_992;
/// Linux `TCP_MSS_DEFAULT`: what TCP_MAXSEG reads before a connection has an MSS.
const TCP_MSS_DEFAULT: u16 = 536;

/// `SO_LINGER`'s `struct linger`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Linger {
    /// `l_onoff`.
    pub on: bool,
    /// `l_linger` in seconds (0 with `on`: close() aborts with RST).
    pub secs: u32,
}

/// The options of a fresh socket, shared until it sets one.
static DEFAULT_OPTS: LazyLock<Arc<SockOpts>> = LazyLock::new(|| Arc::new(SockOpts::default()));

/// Socket options as stored on a socket (inherited by accepted connections).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(super) struct SockOpts {
    pub reuseaddr: bool,
    pub reuseport: bool,
    pub linger: Linger,
    /// SO_RCVBUF as stored (doubled, like Linux), if set.
    pub rcvbuf: Option<u32>,
    /// SO_SNDBUF as stored (doubled), if set.
    pub sndbuf: Option<u32>,
    pub keepalive: bool,
    pub oobinline: bool,
    pub nodelay: bool,
    pub cork: bool,
    pub maxseg: Option<u16>,
    pub keepidle: Option<u32>,
    pub keepintvl: Option<u32>,
    pub keepcnt: Option<u32>,
    pub user_timeout: u32,
    pub syncnt: Option<u8>,
    pub linger2: Option<u32>,
    pub v6only: bool,
    /// IP_TTL / IPV6_UNICAST_HOPS, if set.
    pub ttl: Option<u8>,
    /// FreeBSD TCP_KEEPINIT seconds, if set.
    pub keepinit: Option<u32>,
    /// TCP_CONGESTION: the algorithm's canonical name, if set.
    pub congestion: Option<&'static str>,
}

/// A socket option with its value, for [`Stack::setsockopt`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockOpt {
    /// `SO_REUSEADDR`.
    ReuseAddr(bool),
    /// `SO_REUSEPORT`.
    ReusePort(bool),
    /// `SO_LINGER`.
    Linger(Linger),
    /// `SO_RCVBUF` (stored doubled, as Linux does).
    RcvBuf(i32),
    /// `SO_SNDBUF` (stored doubled).
    SndBuf(i32),
    /// `SO_KEEPALIVE` (stored; probes are the byte-stream work).
    KeepAlive(bool),
    /// `SO_OOBINLINE` (stored; urgent data is the byte-stream work).
    OobInline(bool),
    /// `TCP_NODELAY` (stored; Nagle is the byte-stream work).
    NoDelay(bool),
    /// `TCP_CORK` (stored; corking is the byte-stream work).
    Cork(bool),
    /// `TCP_MAXSEG`: clamps the MSS advertised and used (88..=65535).
    MaxSeg(i32),
    /// `TCP_KEEPIDLE` seconds (1..=32767; stored).
    KeepIdle(i32),
    /// `TCP_KEEPINTVL` seconds (1..=32767; stored).
    KeepIntvl(i32),
    /// `TCP_KEEPCNT` (1..=127; stored).
    KeepCnt(i32),
    /// `TCP_USER_TIMEOUT` milliseconds (≥ 0; stored).
    UserTimeout(i32),
    /// `TCP_SYNCNT`: SYN retries for this socket (1..=127).
    SynCnt(i32),
    /// `TCP_LINGER2`: FIN_WAIT_2 lifetime of this socket's orphan, seconds (0: sysctl).
    Linger2(i32),
    /// `IPV6_V6ONLY`: an IPv6 socket refuses IPv4 (off by default: dual-stack, RFC 4038).
    V6Only(bool),
    /// `IP_TTL` / `IPV6_UNICAST_HOPS`: the TTL of this socket's datagrams (1..=255; −1
    /// restores the default, 64).
    IpTtl(i32),
    /// FreeBSD `TCP_KEEPINIT` seconds (≥ 1): under the FreeBSD profile an active open
    /// still in SYN-SENT after this time is dropped with ETIMEDOUT (set before connect).
    KeepInit(i32),
}

/// A socket option name, for [`Stack::getsockopt`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SockOptName {
    /// `SO_REUSEADDR`.
    ReuseAddr,
    /// `SO_REUSEPORT`.
    ReusePort,
    /// `SO_LINGER`.
    Linger,
    /// `SO_RCVBUF`.
    RcvBuf,
    /// `SO_SNDBUF`.
    SndBuf,
    /// `SO_KEEPALIVE`.
    KeepAlive,
    /// `SO_ERROR` (reading clears it).
    Error,
    /// `SO_OOBINLINE`.
    OobInline,
    /// `SO_TYPE` (always `SOCK_STREAM`, 1).
    Type,
    /// `SO_ACCEPTCONN`.
    AcceptConn,
    /// `TCP_NODELAY`.
    NoDelay,
    /// `TCP_CORK`.
    Cork,
    /// `TCP_MAXSEG`.
    MaxSeg,
    /// `TCP_KEEPIDLE`.
    KeepIdle,
    /// `TCP_KEEPINTVL`.
    KeepIntvl,
    /// `TCP_KEEPCNT`.
    KeepCnt,
    /// `TCP_USER_TIMEOUT`.
    UserTimeout,
    /// `TCP_SYNCNT`.
    SynCnt,
    /// `TCP_LINGER2`.
    Linger2,
    /// `TCP_INFO`.
    Info,
    /// `IPV6_V6ONLY`.
    V6Only,
    /// `IP_TTL` / `IPV6_UNICAST_HOPS`.
    IpTtl,
    /// FreeBSD `TCP_KEEPINIT`.
    KeepInit,
}

/// Linux `SOL_SOCKET`.
pub const SOL_SOCKET: i32 = 1;
/// Linux `IPPROTO_TCP`.
pub const IPPROTO_TCP: i32 = 6;
/// Linux `IPPROTO_IP`.
pub const IPPROTO_IP: i32 = 0;
/// Linux `IPPROTO_IPV6`.
pub const IPPROTO_IPV6: i32 = 41;

impl SockOptName {
    /// The option for a Linux `(level, optname)` pair (`(SOL_SOCKET, 2)` is SO_REUSEADDR).
    pub fn from_linux(level: i32, name: i32) -> Option<SockOptName> {
        use SockOptName::*;
        Some(match (level, name) {
            (SOL_SOCKET, 2) => ReuseAddr,
            (SOL_SOCKET, 3) => Type,
            (SOL_SOCKET, 4) => Error,
            (SOL_SOCKET, 7) => SndBuf,
            (SOL_SOCKET, 8) => RcvBuf,
            (SOL_SOCKET, 9) => KeepAlive,
            (SOL_SOCKET, 10) => OobInline,
            (SOL_SOCKET, 13) => Linger,
            (SOL_SOCKET, 15) => ReusePort,
            (SOL_SOCKET, 30) => AcceptConn,
            (IPPROTO_TCP, 1) => NoDelay,
            (IPPROTO_TCP, 2) => MaxSeg,
            (IPPROTO_TCP, 3) => Cork,
            (IPPROTO_TCP, 4) => KeepIdle,
            (IPPROTO_TCP, 5) => KeepIntvl,
            (IPPROTO_TCP, 6) => KeepCnt,
            (IPPROTO_TCP, 7) => SynCnt,
            (IPPROTO_TCP, 8) => Linger2,
            (IPPROTO_TCP, 11) => Info,
            (IPPROTO_TCP, 18) => UserTimeout,
            (IPPROTO_IPV6, 26) => V6Only,
            (IPPROTO_IP, 2) | (IPPROTO_IPV6, 16) => IpTtl,
            _ => return None,
        })
    }

    /// The option `name` set to the integer `v` (boolean options take `v != 0`); `None`
    /// for options that do not take an int (SO_LINGER, TCP_INFO) or cannot be set.
    pub fn with_int(self, v: i32) -> Option<SockOpt> {
        use SockOptName::*;
        Some(match self {
            ReuseAddr => SockOpt::ReuseAddr(v != 0),
            ReusePort => SockOpt::ReusePort(v != 0),
            RcvBuf => SockOpt::RcvBuf(v),
            SndBuf => SockOpt::SndBuf(v),
            KeepAlive => SockOpt::KeepAlive(v != 0),
            OobInline => SockOpt::OobInline(v != 0),
            NoDelay => SockOpt::NoDelay(v != 0),
            Cork => SockOpt::Cork(v != 0),
            MaxSeg => SockOpt::MaxSeg(v),
            KeepIdle => SockOpt::KeepIdle(v),
            KeepIntvl => SockOpt::KeepIntvl(v),
            KeepCnt => SockOpt::KeepCnt(v),
            UserTimeout => SockOpt::UserTimeout(v),
            SynCnt => SockOpt::SynCnt(v),
            Linger2 => SockOpt::Linger2(v),
            V6Only => SockOpt::V6Only(v != 0),
            IpTtl => SockOpt::IpTtl(v),
            KeepInit => SockOpt::KeepInit(v),
            Linger | Error | Type | AcceptConn | Info => return None,
        })
    }
}

/// A value read by [`Stack::getsockopt`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockOptValue {
    /// An `int` option.
    Int(i32),
    /// `SO_LINGER`.
    Linger(Linger),
    /// `TCP_INFO`.
    Info(TcpInfo),
}

impl SockOptValue {
    /// The integer, for `Int` values.
    pub fn as_int(&self) -> Option<i32> {
        match self {
            SockOptValue::Int(v) => Some(*v),
            _ => None,
        }
    }
}

/// `TCP_INFO`, filled from the engine's [`crate::Info`] and [`crate::conn::Status`]. The
/// optional fields are `None` without a connection; `sacked` and `lost` stay `None` until
/// the engine keeps a SACK scoreboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpInfo {
    /// `tcpi_state`.
    pub state: State,
    /// `tcpi_retransmits`: retransmissions of the current head.
    pub retransmits: u8,
    /// `tcpi_options`: 1 timestamps, 2 SACK, 4 window scale, 8 ECN.
    pub options: u8,
    /// `tcpi_snd_wscale`.
    pub snd_wscale: u8,
    /// `tcpi_rcv_wscale`.
    pub rcv_wscale: u8,
    /// `tcpi_rto` (µs).
    pub rto_us: Option<u32>,
    /// `tcpi_rtt` (µs).
    pub rtt_us: Option<u32>,
    /// `tcpi_rttvar` (µs).
    pub rttvar_us: Option<u32>,
    /// `tcpi_snd_mss`.
    pub snd_mss: u32,
    /// `tcpi_advmss`: the MSS we advertise (the link MTU less the IP and TCP headers,
    /// clamped by TCP_MAXSEG).
    pub advmss: u32,
    /// `tcpi_rcv_mss`.
    pub rcv_mss: Option<u32>,
    /// `tcpi_snd_cwnd` (segments).
    pub snd_cwnd: Option<u32>,
    /// `tcpi_snd_ssthresh`.
    pub snd_ssthresh: Option<u32>,
    /// `tcpi_unacked`: segments in flight (bytes in flight over the MSS, rounded up).
    pub unacked: u32,
    /// `tcpi_sacked`.
    pub sacked: Option<u32>,
    /// `tcpi_lost`.
    pub lost: Option<u32>,
    /// `tcpi_total_retrans`.
    pub total_retrans: u32,
    /// `tcpi_bytes_acked` (SND.UNA − ISS − 1, less a FIN).
    pub bytes_acked: u64,
    /// `tcpi_bytes_received` (RCV.NXT − IRS − 1, less a FIN).
    pub bytes_received: u64,
    /// `tcpi_snd_wnd`: the peer's window (scaled).
    pub snd_wnd: u32,
    /// `tcpi_rcv_wnd`... our advertised window.
    pub rcv_wnd: u32,
    /// `tcpi_segs_in`.
    pub segs_in: u64,
    /// `tcpi_segs_out`.
    pub segs_out: u64,
    /// `tcpi_min_rtt` (µs).
    pub min_rtt_us: Option<u32>,
    /// `tcpi_probes`: unanswered zero-window or keepalive probes.
    pub probes: u8,
    /// `tcpi_backoff`.
    pub backoff: u8,
    /// The congestion-control algorithm in use (`TCP_CONGESTION`).
    pub congestion: &'static str,
    /// `tcpi_pacing_rate`, bytes per second (0: not paced).
    pub pacing_rate: u64,
    /// `tcpi_delivery_rate`, bytes per second: the latest delivery-rate sample (BBR), else
    /// the bytes acknowledged over the last completed round trip per second.
    pub delivery_rate: u64,
}

/// What a socket is ready for (`poll`'s `revents`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Readiness {
    /// `POLLIN`: data, end of stream, an error, or (listener) a connection to accept.
    pub readable: bool,
    /// `POLLOUT`: room in the send buffer (or sending is shut down, as Linux reports).
    pub writable: bool,
    /// `POLLERR`: an error is pending (`SO_ERROR`).
    pub error: bool,
    /// `POLLHUP`: both directions are shut down, or the connection is closed.
    pub hangup: bool,
    /// `POLLRDHUP`: the peer's FIN arrived or reading was shut down.
    pub read_hangup: bool,
    /// `POLLPRI`: the peer signalled urgent data that has not been read out of band.
    pub urgent: bool,
}

/// `recv` flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RecvFlags {
    /// `MSG_PEEK`: look without consuming.
    pub peek: bool,
    /// `MSG_OOB`: read the urgent byte out of band.
    pub oob: bool,
}

/// `shutdown`'s `how`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// `SHUT_RD`.
    Read,
    /// `SHUT_WR`.
    Write,
    /// `SHUT_RDWR`.
    Both,
}

/// Where a non-blocking connect() stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// `EINPROGRESS` was returned; a later connect() reports the outcome.
    InProgress,
    /// Connected and reported (connect() now says EISCONN).
    Done,
}

/// A listening socket's queues.
#[derive(Debug)]
pub(super) struct Listener {
    /// The backlog (capped by somaxconn).
    pub backlog: u32,
    /// Half-open connections in SYN_RCVD.
    pub syn_queue: u32,
    /// Established connections waiting for accept().
    pub accept: VecDeque<ConnId>,
    /// The last SYN queue overflow (cookies are only honoured within 2 minutes of one).
    pub last_overflow: Option<Instant>,
}

#[derive(Debug)]
enum Kind {
    Fresh,
    /// Boxed: a stream socket (the common kind) does not carry a listener's queues.
    Listener(Box<Listener>),
    Stream(ConnId, Phase),
}

/// A socket.
#[derive(Debug)]
pub(super) struct Socket {
    ipv6: bool,
    /// Shared copy-on-write: a socket that never sets an option, and every connection
    /// accepted from one listener, point at the same allocation.
    pub opts: Arc<SockOpts>,
    pub local: Option<SocketAddr>,
    /// Holds its own port binding (bind, listen, or connect's autobind).
    bound: bool,
    kind: Kind,
    shut_rd: bool,
    shut_wr: bool,
    /// A connection reset or failure was already reported once.
    error_reported: bool,
}

impl Socket {
    pub fn listener(&self) -> Option<&Listener> {
        match &self.kind {
            Kind::Listener(l) => Some(l.as_ref()),
            _ => None,
        }
    }

    pub fn listener_mut(&mut self) -> Option<&mut Listener> {
        match &mut self.kind {
            Kind::Listener(l) => Some(l.as_mut()),
            _ => None,
        }
    }

    pub fn conn(&self) -> Option<ConnId> {
        match self.kind {
            Kind::Stream(c, _) => Some(c),
            _ => None,
        }
    }
}

/// The address family of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// `AF_INET`.
    V4,
    /// `AF_INET6`.
    V6,
}

/// The address the stack works with: a dual-stack IPv6 socket's v4-mapped address
/// (`::ffff:a.b.c.d`) is the IPv4 address itself.
fn internal(sock: &Socket, a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V6(v6) if sock.ipv6 && !sock.opts.v6only => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), a.port()),
            None => a,
        },
        _ => a,
    }
}

/// The address an application sees: IPv4 addresses of an IPv6 socket appear v4-mapped.
fn external(ipv6: bool, a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V4(v4) if ipv6 => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), a.port()),
        _ => a,
    }
}

/// Whether a socket bound to `ip` is a dual-stack IPv6 wildcard.
fn is_dual(sock: &Socket, ip: IpAddr) -> bool {
    sock.ipv6 && !sock.opts.v6only && ip.is_ipv6() && ip.is_unspecified()
}

fn unspecified(ipv6: bool) -> IpAddr {
    if ipv6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

impl Stack {
    fn sock(&self, s: SocketId) -> Result<&Socket, Errno> {
        self.sockets.get(s.index, s.generation).ok_or(Errno::EBADF)
    }

    fn sock_mut(&mut self, s: SocketId) -> Result<&mut Socket, Errno> {
        self.sockets
            .get_mut(s.index, s.generation)
            .ok_or(Errno::EBADF)
    }

    /// `socket(family, SOCK_STREAM, 0)`.
    pub fn socket(&mut self, family: Family) -> Result<SocketId, Errno> {
        let (index, generation) = self.sockets.insert(Socket {
            ipv6: family == Family::V6,
            opts: DEFAULT_OPTS.clone(),
            local: None,
            bound: false,
            kind: Kind::Fresh,
            shut_rd: false,
            shut_wr: false,
            error_reported: false,
        });
        Ok(SocketId { index, generation })
    }

    /// `bind(addr)`: EINVAL if already bound, EAFNOSUPPORT for the other family,
    /// EADDRNOTAVAIL for an address that is not ours, EADDRINUSE on a conflict; port 0
    /// picks a free ephemeral port.
    pub fn bind(&mut self, s: SocketId, addr: SocketAddr) -> Result<(), Errno> {
        let sock = self.sock(s)?;
        if sock.bound || !matches!(sock.kind, Kind::Fresh) {
            return Err(Errno::EINVAL);
        }
        if addr.is_ipv6() != sock.ipv6 {
            return Err(Errno::EAFNOSUPPORT);
        }
        let addr = internal(sock, addr);
        if !addr.ip().is_unspecified() && !self.is_local(addr.ip()) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let (reuseaddr, reuseport) = (sock.opts.reuseaddr, sock.opts.reuseport);
        let dual = is_dual(sock, addr.ip());
        let me = Holder::Sock(s);
        let port = if addr.port() == 0 {
            self.ephemeral_for_bind().ok_or(Errno::EADDRINUSE)?
        } else {
            if self.port_conflict(
                me,
                addr.ip(),
                dual,
                addr.port(),
                reuseaddr,
                reuseport,
                false,
            ) {
                return Err(Errno::EADDRINUSE);
            }
            addr.port()
        };
        self.hold_port(s, SocketAddr::new(addr.ip(), port), false);
        Ok(())
    }

    fn hold_port(&mut self, s: SocketId, local: SocketAddr, auto: bool) {
        let Ok(sock) = self.sock_mut(s) else {
            return;
        };
        sock.local = Some(local);
        sock.bound = true;
        let b = Binding {
            ip: local.ip(),
            reuseaddr: sock.opts.reuseaddr,
            reuseport: sock.opts.reuseport,
            auto,
            dual: is_dual(sock, local.ip()),
        };
        self.ports.insert(local.port(), Holder::Sock(s), b);
    }

    /// `listen(backlog)`: the backlog is capped by `net.core.somaxconn` (a negative one
    /// means the cap); an unbound socket gets an ephemeral port; EADDRINUSE if another
    /// socket listens on the same address (without SO_REUSEPORT on both).
    pub fn listen(&mut self, s: SocketId, backlog: i32) -> Result<(), Errno> {
        let somaxconn = self.sysctl.somaxconn;
        let backlog = u32::try_from(backlog).map_or(somaxconn, |b| b.min(somaxconn));
        let sock = self.sock_mut(s)?;
        match &mut sock.kind {
            Kind::Listener(l) => {
                l.backlog = backlog;
                return Ok(());
            }
            Kind::Stream(..) => return Err(Errno::EINVAL),
            Kind::Fresh => {}
        }
        let ipv6 = sock.ipv6;
        let (reuseaddr, reuseport) = (sock.opts.reuseaddr, sock.opts.reuseport);
        let dual = sock.ipv6 && !sock.opts.v6only;
        let local = match sock.local {
            Some(l) => l,
            None => {
                let port = self.ephemeral_for_bind().ok_or(Errno::EADDRINUSE)?;
                let l = SocketAddr::new(unspecified(ipv6), port);
                self.hold_port(s, l, false);
                l
            }
        };
        if self.port_conflict(
            Holder::Sock(s),
            local.ip(),
            dual && local.ip().is_ipv6() && local.ip().is_unspecified(),
            local.port(),
            reuseaddr,
            reuseport,
            true,
        ) {
            return Err(Errno::EADDRINUSE);
        }
        let sock = self.sock_mut(s)?;
        sock.kind = Kind::Listener(Box::new(Listener {
            backlog,
            syn_queue: 0,
            accept: VecDeque::new(),
            last_overflow: None,
        }));
        self.listeners.entry(local).or_default().push(s);
        Ok(())
    }

    /// `accept()`: the next established connection and its peer, or EAGAIN.
    pub fn accept(&mut self, s: SocketId) -> Result<(SocketId, SocketAddr), Errno> {
        let sock = self.sock(s)?;
        let opts = sock.opts.clone();
        let ipv6 = sock.ipv6;
        if sock.listener().is_none() {
            return Err(Errno::EINVAL);
        }
        loop {
            let next = self
                .sock_mut(s)?
                .listener_mut()
                .and_then(|l| l.accept.pop_front());
            let Some(id) = next else {
                return Err(Errno::EAGAIN);
            };
            let Some(slot) = self.conns.get_mut(id.index, id.generation) else {
                continue;
            };
            let tuple = slot.conn.tuple();
            // TCP_CONGESTION set on the listener: the accepted connection inherits it (the
            // connection was built from the sysctl default).
            if let Some(name) = opts.congestion
                && slot.conn.info().congestion != name
            {
                let _ = slot.conn.set_congestion_control_by_name(name);
            }
            let (index, generation) = self.sockets.insert(Socket {
                ipv6,
                opts,
                local: Some(tuple.local),
                bound: false,
                kind: Kind::Stream(id, Phase::Done),
                shut_rd: false,
                shut_wr: false,
                error_reported: false,
            });
            let new = SocketId { index, generation };
            slot.owner = Owner::Socket(new);
            return Ok((new, external(ipv6, tuple.remote)));
        }
    }

    /// `connect(addr)`, non-blocking: the first call sends the SYN and returns
    /// `EINPROGRESS`; while the handshake runs, `EALREADY`; once established, the next
    /// call returns `Ok` and later ones `EISCONN`; a failed attempt reports its error
    /// (ECONNREFUSED, ETIMEDOUT, ...) once and the socket may connect again. Without a
    /// bound port an ephemeral one is chosen (EADDRNOTAVAIL when none is free).
    pub fn connect(&mut self, now: Instant, s: SocketId, addr: SocketAddr) -> Result<(), Errno> {
        self.now = now;
        let sock = self.sock(s)?;
        if addr.is_ipv6() != sock.ipv6 {
            return Err(Errno::EAFNOSUPPORT);
        }
        let addr = internal(sock, addr);
        match sock.kind {
            Kind::Listener(_) => return Err(Errno::EISCONN),
            Kind::Stream(id, phase) => {
                let state = self
                    .conns
                    .get(id.index, id.generation)
                    .map_or(State::Closed, |c| c.conn.state());
                match state {
                    State::SynSent | State::SynReceived => return Err(Errno::EALREADY),
                    State::Closed => {
                        let err = self.take_conn_error(id);
                        self.detach_conn(s);
                        if let Some(e) = err {
                            return Err(e);
                        }
                    }
                    _ => {
                        if phase == Phase::InProgress {
                            if let Ok(sock) = self.sock_mut(s) {
                                sock.kind = Kind::Stream(id, Phase::Done);
                            }
                            return Ok(());
                        }
                        return Err(Errno::EISCONN);
                    }
                }
            }
            Kind::Fresh => {}
        }
        let r = self.start_connect(now, s, addr);
        self.after_mutation();
        r
    }

    fn start_connect(&mut self, now: Instant, s: SocketId, addr: SocketAddr) -> Result<(), Errno> {
        if addr.ip().is_unspecified() || addr.port() == 0 {
            return Err(Errno::EINVAL);
        }
        let sock = self.sock(s)?;
        let opts = sock.opts.clone();
        let bound = sock.local;
        let local_ip = match bound.map(|b| b.ip()) {
            Some(ip) if !ip.is_unspecified() => ip,
            _ => self.source_address(addr.ip()).ok_or(Errno::ENETUNREACH)?,
        };
        // The demux hash of the 4-tuple, computed once for the check that it is free and
        // for the connection's entry.
        let (port, h) = match bound {
            Some(b) => {
                let tuple = FourTuple::new(SocketAddr::new(local_ip, b.port()), addr);
                let h = self.demux.hash(&tuple);
                if let Some(old) = self.demux_get_hashed(&tuple, h) {
                    // The 4-tuple is taken: reuse a TIME_WAIT one only as tcp_tw_reuse allows.
                    if !self.tw_reusable(old) {
                        return Err(Errno::EADDRNOTAVAIL);
                    }
                    if let Some(slot) = self.conns.get_mut(old.index, old.generation) {
                        slot.conn.abort(now);
                    }
                    self.counters.tcp_time_wait_reuse += 1;
                    self.touch(now, old);
                }
                (b.port(), h)
            }
            None => self
                .ephemeral_for_connect(local_ip, addr)
                .ok_or(Errno::EADDRNOTAVAIL)?,
        };
        if local_ip.is_ipv4() != addr.is_ipv4() {
            return Err(Errno::ENETUNREACH);
        }
        let local = SocketAddr::new(local_ip, port);
        // The socket's binding now names the chosen source address.
        let auto = bound.is_none();
        if let Some(b) = self.sock_mut(s).ok().map(|x| x.local) {
            let _ = b;
        }
        // Replaces a binding the socket already has of this port (the key is port and
        // holder), so nothing is released first.
        self.hold_port(s, local, auto);
        let tuple = FourTuple::new(local, addr);
        let cfg = self.conn_config(&opts, local.is_ipv6());
        // RFC 6528: the ISS is chosen now (as `Connection::connect` does).
        let (iss, ts_offset) = self.isn.isn_and_ts_offset(now, &tuple);
        let make = move || Connection::connect_with_iss(now, cfg, tuple, iss, ts_offset);
        let id = self.insert_conn_with(make, h, Owner::Socket(s), &opts, State::Closed);
        if let Some(name) = opts.congestion
            && let Some(slot) = self.conns.get_mut(id.index, id.generation)
        {
            // TCP_CONGESTION set before connect(); the name was validated when set.
            let _ = slot.conn.set_congestion_control_by_name(name);
        }
        if let Ok(sock) = self.sock_mut(s) {
            sock.kind = Kind::Stream(id, Phase::InProgress);
        }
        self.counters.active_opens += 1;
        self.touch(now, id);
        Err(Errno::EINPROGRESS)
    }

    /// The source address for a destination: the destination itself if it is ours, else
    /// the first address of its family (loopback preferred for loopback destinations).
    fn source_address(&self, dst: IpAddr) -> Option<IpAddr> {
        if self.is_local(dst) {
            return Some(dst);
        }
        let same = |a: &&IpAddr| a.is_ipv4() == dst.is_ipv4();
        if dst.is_loopback()
            && let Some(a) = self.addrs.iter().filter(same).find(|a| a.is_loopback())
        {
            return Some(*a);
        }
        self.addrs
            .iter()
            .filter(same)
            .find(|a| !a.is_loopback())
            .or_else(|| self.addrs.iter().find(same))
            .copied()
    }

    /// Turns a socket whose connection ended back into a fresh (bound) socket.
    fn detach_conn(&mut self, s: SocketId) {
        let Ok(sock) = self.sock_mut(s) else { return };
        let Kind::Stream(id, _) = sock.kind else {
            return;
        };
        sock.kind = Kind::Fresh;
        sock.error_reported = false;
        if let Some(slot) = self.conns.get_mut(id.index, id.generation) {
            slot.owner = Owner::Orphan;
            if slot.conn.is_closed() && !slot.queued_tx {
                self.free_conn(id);
            }
        }
    }

    /// The pending error of a connection, taken (reported once): a hard ICMP error, else
    /// the engine's error (ETIMEDOUT is reported as the soft ICMP error that explains it,
    /// like Linux).
    fn take_conn_error(&mut self, id: ConnId) -> Option<Errno> {
        let slot = self.conns.get_mut(id.index, id.generation)?;
        if let Some(e) = slot.hard_error.take() {
            return Some(e);
        }
        let e = slot.conn.take_error()?;
        if e == Error::TimedOut
            && let Some(soft) = slot.soft_error
        {
            return Some(soft);
        }
        Some(e.into())
    }

    fn peek_conn_error(&self, id: ConnId) -> Option<Errno> {
        let slot = self.conns.get(id.index, id.generation)?;
        slot.hard_error
            .or(slot.conn.status().error.map(Errno::from))
    }

    /// `send(data)`: bytes queued, or EAGAIN (buffer full or still connecting), EPIPE
    /// (shut down, or never connected — Linux), or the connection's error once.
    pub fn send(&mut self, now: Instant, s: SocketId, data: &[u8]) -> Result<usize, Errno> {
        self.send_inner(now, s, data, false)
    }

    /// `send(data, MSG_OOB)`: queues `data` as urgent data (RFC 9293 §3.8.5; the urgent
    /// pointer marks its last byte, as deployed stacks do). Errors as for [`Stack::send`].
    pub fn send_urgent(&mut self, now: Instant, s: SocketId, data: &[u8]) -> Result<usize, Errno> {
        self.send_inner(now, s, data, true)
    }

    /// `send` without a copy: `f` writes the bytes straight into the connection's send
    /// buffer (see [`Connection::send_with`]: the free space up to the ring's end, then,
    /// only if `f` filled that, the free space wrapped to the front) and returns how many
    /// it wrote each time. Returns the total (`Ok(0)` when `f` wrote nothing); EAGAIN
    /// without calling `f` when the buffer is full; other errors as for [`Stack::send`].
    ///
    /// [`Connection::send_with`]: crate::Connection::send_with
    pub fn send_with<F: FnMut(&mut [u8]) -> usize>(
        &mut self,
        now: Instant,
        s: SocketId,
        f: F,
    ) -> Result<usize, Errno> {
        self.send_op(now, s, |c| c.send_with(now, f))
    }

    /// `send` with or without `MSG_OOB`: one path, so both report errors alike.
    fn send_inner(
        &mut self,
        now: Instant,
        s: SocketId,
        data: &[u8],
        urgent: bool,
    ) -> Result<usize, Errno> {
        self.send_op(now, s, |c| {
            if urgent {
                c.send_urgent(now, data)
            } else {
                c.send(now, data)
            }
        })
    }

    /// The socket and state checks of `send`, then `op` on the connection.
    fn send_op(
        &mut self,
        now: Instant,
        s: SocketId,
        op: impl FnOnce(&mut crate::Connection) -> Result<usize, Error>,
    ) -> Result<usize, Errno> {
        self.now = now;
        let sock = self.sock(s)?;
        if sock.shut_wr {
            return Err(Errno::EPIPE);
        }
        let Kind::Stream(id, _) = sock.kind else {
            return Err(Errno::EPIPE);
        };
        let Some(slot) = self.conns.get_mut(id.index, id.generation) else {
            return Err(Errno::EPIPE);
        };
        match slot.conn.state() {
            // Linux: a non-blocking send waits for the handshake (EAGAIN).
            State::SynSent | State::SynReceived => return Err(Errno::EAGAIN),
            State::Closed => {
                return Err(self.take_conn_error(id).unwrap_or(Errno::EPIPE));
            }
            _ => {}
        }
        let r = match op(&mut slot.conn) {
            Ok(n) => Ok(n),
            Err(Error::WouldBlock) => Err(Errno::EAGAIN),
            Err(Error::NotConnected) => Err(Errno::EPIPE),
            Err(e) => {
                let _ = slot.conn.take_error();
                Err(e.into())
            }
        };
        self.touch(now, id);
        self.after_mutation();
        r
    }

    /// `SIOCATMARK`: whether the next byte to read is at the urgent mark.
    pub fn ioctl_atmark(&self, s: SocketId) -> Result<bool, Errno> {
        let id = self.sock(s)?.conn().ok_or(Errno::EINVAL)?;
        Ok(self
            .conns
            .get(id.index, id.generation)
            .is_some_and(|c| c.conn.at_mark()))
    }

    /// `recv` without a copy: `f` reads in-order bytes straight from the connection's
    /// receive buffer (see [`Connection::recv_with`]: the bytes up to the ring's end, then,
    /// only if `f` took all of those, the rest) and returns how many it took each time;
    /// those are consumed. Results as for [`Stack::recv`] without flags (`Ok(0)` is also
    /// `f` taking nothing).
    ///
    /// [`Connection::recv_with`]: crate::Connection::recv_with
    pub fn recv_with<F: FnMut(&[u8]) -> usize>(
        &mut self,
        now: Instant,
        s: SocketId,
        f: F,
    ) -> Result<usize, Errno> {
        self.recv_op(now, s, RecvFlags::default(), usize::MAX, |c| c.recv_with(f))
    }

    /// `recv(buf, flags)`: bytes read; `Ok(0)` at end of stream (or after SHUT_RD); EAGAIN
    /// when nothing is there yet; ENOTCONN before a connection; the connection's error
    /// once (ECONNRESET, ...), then `Ok(0)`.
    pub fn recv(
        &mut self,
        now: Instant,
        s: SocketId,
        buf: &mut [u8],
        flags: RecvFlags,
    ) -> Result<usize, Errno> {
        let max = buf.len();
        self.recv_op(now, s, flags, max, |c| {
            if flags.oob {
                c.recv_urgent(buf)
            } else if flags.peek {
                // MSG_PEEK leaves the data in the connection (and its window unchanged).
                c.peek(buf)
            } else {
                c.recv(buf)
            }
        })
    }

    /// The socket checks of `recv` for a read of at most `max` bytes, then `op` on the
    /// connection (which reads as `flags` say).
    fn recv_op(
        &mut self,
        now: Instant,
        s: SocketId,
        flags: RecvFlags,
        max: usize,
        op: impl FnOnce(&mut crate::Connection) -> Result<usize, Error>,
    ) -> Result<usize, Errno> {
        self.now = now;
        let sock = self.sock_mut(s)?;
        let Kind::Stream(id, _) = sock.kind else {
            return Err(Errno::ENOTCONN);
        };
        if flags.oob {
            // RFC 9293 §3.8.5 / Linux: the urgent byte out of band (EINVAL when none).
            let Some(slot) = self.conns.get_mut(id.index, id.generation) else {
                return Err(Errno::EINVAL);
            };
            let r = match op(&mut slot.conn) {
                Ok(n) => {
                    slot.urgent = false;
                    Ok(n)
                }
                Err(Error::WouldBlock) => Err(Errno::EAGAIN),
                Err(_) => Err(Errno::EINVAL),
            };
            self.touch(now, id);
            self.after_mutation();
            return r;
        }
        if max == 0 {
            return Ok(0);
        }
        if sock.shut_rd {
            return Ok(0);
        }
        let error_reported = sock.error_reported;
        let Some(slot) = self.conns.get_mut(id.index, id.generation) else {
            return Ok(0);
        };
        let r = match op(&mut slot.conn) {
            Ok(n) => Ok(n),
            Err(Error::WouldBlock) => Err(Errno::EAGAIN),
            Err(Error::NotConnected) if slot.conn.is_closed() => {
                // Reset or failed earlier: report a hard ICMP error once, then EOF.
                match slot.hard_error.take() {
                    Some(e) => Err(e),
                    None if error_reported => Ok(0),
                    None => Ok(0),
                }
            }
            Err(Error::NotConnected) => Err(Errno::ENOTCONN),
            Err(e) => {
                let _ = self.take_conn_error(id);
                if let Ok(sock) = self.sock_mut(s) {
                    sock.error_reported = true;
                }
                Err(e.into())
            }
        };
        self.touch(now, id);
        self.after_mutation();
        r
    }

    /// `shutdown(how)`: SHUT_WR sends a FIN after queued data (half-close); SHUT_RD makes
    /// further reads return 0. ENOTCONN without a connection.
    pub fn shutdown(&mut self, now: Instant, s: SocketId, how: Shutdown) -> Result<(), Errno> {
        self.now = now;
        let sock = self.sock_mut(s)?;
        let Kind::Stream(id, _) = sock.kind else {
            return Err(Errno::ENOTCONN);
        };
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            sock.shut_rd = true;
        }
        let mut r = Ok(());
        if matches!(how, Shutdown::Write | Shutdown::Both) && !sock.shut_wr {
            sock.shut_wr = true;
            if let Some(slot) = self.conns.get_mut(id.index, id.generation) {
                r = match slot.conn.shutdown_write(now) {
                    Ok(()) | Err(Error::Already) => Ok(()),
                    Err(Error::NotConnected) => Err(Errno::ENOTCONN),
                    Err(e) => Err(e.into()),
                };
            }
        }
        self.touch(now, id);
        self.after_mutation();
        r
    }

    /// `close()`: the socket goes. A connection finishes its teardown as an orphan (FIN
    /// after queued data; RST with unread data per RFC 2525 §2.17, or with SO_LINGER 0);
    /// a listener resets its queued connections.
    pub fn close(&mut self, now: Instant, s: SocketId) -> Result<(), Errno> {
        self.now = now;
        let sock = self
            .sockets
            .remove(s.index, s.generation)
            .ok_or(Errno::EBADF)?;
        let port = sock.local.map(|l| l.port());
        // Whether the socket's binding already passed to its connection.
        let mut released = false;
        match sock.kind {
            Kind::Fresh => {}
            Kind::Listener(l) => {
                if let Some(local) = sock.local
                    && let Some(g) = self.listeners.get_mut(&local)
                {
                    g.retain(|x| *x != s);
                    if g.is_empty() {
                        self.listeners.remove(&local);
                    }
                }
                // Linux (inet_csk_listen_stop): queued children are reset, half-open ones
                // dropped.
                let mut children: Vec<ConnId> = l.accept.into_iter().collect();
                children.extend(self.conns.iter().filter_map(|(i, g, c)| {
                    (c.owner == Owner::SynQueue(s)).then_some(ConnId {
                        index: i,
                        generation: g,
                    })
                }));
                for id in children {
                    if let Some(slot) = self.conns.get_mut(id.index, id.generation) {
                        slot.owner = Owner::Orphan;
                        slot.conn.abort(now);
                        self.touch(now, id);
                    }
                }
            }
            Kind::Stream(id, _) => {
                if let Some(slot) = self.conns.get_mut(id.index, id.generation) {
                    if sock.opts.linger.on && sock.opts.linger.secs == 0 {
                        // SO_LINGER 0: abortive close (RFC 9293 §3.10.5 ABORT).
                        slot.conn.abort(now);
                        self.counters.tcp_abort_on_linger += 1;
                    } else {
                        let had_unread = slot.conn.recv_queued() > 0;
                        let _ = slot.conn.close(now);
                        if had_unread {
                            self.counters.tcp_abort_on_close += 1;
                        }
                    }
                    slot.owner = Owner::Orphan;
                    let alive = !slot.conn.is_closed();
                    if alive {
                        slot.counted_orphan = true;
                        self.orphan_count += 1;
                        self.counters.tcp_orphans = self.orphan_count as u64;
                        self.orphans.push_back(id);
                        self.orphans_due = super::orphans_over(
                            self.orphan_count,
                            self.orphans.len(),
                            &self.sysctl,
                        );
                        // The port binding passes from the socket to its connection.
                        if sock.bound
                            && let Some(p) = port
                        {
                            let to = slot.conn.tuple().local.port();
                            released =
                                self.ports
                                    .hand_over(p, Holder::Sock(s), to, Holder::Conn(id));
                        }
                    }
                    self.touch(now, id);
                }
            }
        }
        // Only a socket that bound the port holds it (an accepted one does not: its
        // connection does).
        if let Some(p) = port
            && sock.bound
            && !released
        {
            self.release_port(p, Holder::Sock(s));
        }
        self.after_mutation();
        Ok(())
    }

    /// Readiness of a socket, as Linux's `tcp_poll` reports it.
    pub fn poll(&self, s: SocketId) -> Result<Readiness, Errno> {
        let sock = self.sock(s)?;
        let mut r = Readiness::default();
        match sock.kind {
            Kind::Fresh => {
                r.writable = true;
                r.hangup = true;
            }
            Kind::Listener(ref l) => r.readable = !l.accept.is_empty(),
            Kind::Stream(id, _) => {
                let Some(slot) = self.conns.get(id.index, id.generation) else {
                    r.hangup = true;
                    return Ok(r);
                };
                let st = slot.conn.state();
                let closed = st == State::Closed;
                let rcv_shut = sock.shut_rd || st.fin_received() || closed;
                let snd_shut = sock.shut_wr || closed;
                r.error = self.peek_conn_error(id).is_some();
                r.hangup = closed || (rcv_shut && snd_shut);
                r.read_hangup = rcv_shut;
                r.urgent = slot.urgent;
                r.readable = rcv_shut || r.error || slot.conn.recv_queued() > 0;
                if !matches!(st, State::SynSent | State::SynReceived) {
                    r.writable = snd_shut || slot.conn.send_capacity() > 0;
                }
            }
        }
        Ok(r)
    }

    /// The local address (`getsockname`).
    pub fn local_addr(&self, s: SocketId) -> Result<SocketAddr, Errno> {
        let sock = self.sock(s)?;
        Ok(external(
            sock.ipv6,
            sock.local
                .unwrap_or(SocketAddr::new(unspecified(sock.ipv6), 0)),
        ))
    }

    /// The peer address (`getpeername`); ENOTCONN without a connection.
    pub fn peer_addr(&self, s: SocketId) -> Result<SocketAddr, Errno> {
        let sock = self.sock(s)?;
        let id = sock.conn().ok_or(Errno::ENOTCONN)?;
        let slot = self
            .conns
            .get(id.index, id.generation)
            .ok_or(Errno::ENOTCONN)?;
        if slot.conn.state() == State::Closed {
            return Err(Errno::ENOTCONN);
        }
        Ok(external(sock.ipv6, slot.conn.tuple().remote))
    }

    /// The path MTU learnt from ICMP for a socket's connection (RFC 1191 / RFC 8201).
    pub fn path_mtu(&self, s: SocketId) -> Result<Option<u16>, Errno> {
        let id = self.sock(s)?.conn().ok_or(Errno::ENOTCONN)?;
        Ok(self.conns.get(id.index, id.generation).and_then(|c| c.pmtu))
    }

    /// The TCP state of a socket (`LISTEN` for listeners, `CLOSED` when unconnected).
    pub fn state(&self, s: SocketId) -> Result<State, Errno> {
        let sock = self.sock(s)?;
        Ok(match sock.kind {
            Kind::Fresh => State::Closed,
            Kind::Listener(_) => State::Listen,
            Kind::Stream(id, _) => self
                .conns
                .get(id.index, id.generation)
                .map_or(State::Closed, |c| c.conn.state()),
        })
    }

    /// The engine's view of a socket's connection (RFC 9293 STATUS), if it has one.
    pub fn status(&self, s: SocketId) -> Result<crate::conn::Status, Errno> {
        let id = self.sock(s)?.conn().ok_or(Errno::ENOTCONN)?;
        let slot = self
            .conns
            .get(id.index, id.generation)
            .ok_or(Errno::ENOTCONN)?;
        Ok(slot.conn.status())
    }

    /// The next engine event of a socket's connection (see [`Stack::set_events`]).
    pub fn poll_event(&mut self, s: SocketId) -> Option<crate::Event> {
        let id = self.sock(s).ok()?.conn()?;
        self.conns
            .get_mut(id.index, id.generation)?
            .conn
            .poll_event()
    }

    /// `FIONREAD` / `SIOCINQ`: bytes ready to read (listeners: EINVAL, as Linux).
    pub fn ioctl_inq(&self, s: SocketId) -> Result<usize, Errno> {
        let sock = self.sock(s)?;
        match sock.kind {
            Kind::Listener(_) => Err(Errno::EINVAL),
            Kind::Fresh => Ok(0),
            Kind::Stream(id, _) => Ok(self
                .conns
                .get(id.index, id.generation)
                .map_or(0, |c| c.conn.recv_queued())),
        }
    }

    /// `SIOCOUTQ`: bytes in the send queue not yet acknowledged (sent or not).
    pub fn ioctl_outq(&self, s: SocketId) -> Result<usize, Errno> {
        let sock = self.sock(s)?;
        match sock.kind {
            Kind::Listener(_) => Err(Errno::EINVAL),
            Kind::Fresh => Ok(0),
            Kind::Stream(id, _) => Ok(self
                .conns
                .get(id.index, id.generation)
                .map_or(0, |c| c.conn.status().send_queued)),
        }
    }

    /// `setsockopt`. Values are validated as Linux does (EINVAL); options that affect the
    /// engine apply to connections opened afterwards.
    pub fn setsockopt(&mut self, s: SocketId, opt: SockOpt) -> Result<(), Errno> {
        let now = self.now;
        self.setsockopt_at(now, s, opt)
    }

    /// [`Stack::setsockopt`] at an explicit time (keepalive timers restart from `now`).
    /// Options set on a connected socket reach its connection at once: TCP_NODELAY,
    /// TCP_CORK, SO_KEEPALIVE and TCP_KEEP*, TCP_USER_TIMEOUT, SO_OOBINLINE, SO_SNDBUF and
    /// SO_RCVBUF; TCP_MAXSEG, TCP_SYNCNT and TCP_LINGER2 apply to the next connection.
    pub fn setsockopt_at(&mut self, now: Instant, s: SocketId, opt: SockOpt) -> Result<(), Errno> {
        self.now = self.now.max(now);
        if !self.sockopt_memo_hit(s, opt) {
            self.store_sockopt(s, opt)?;
        }
        let sock = self.sock(s)?;
        let Some(id) = sock.conn() else {
            return Ok(());
        };
        let o = *sock.opts;
        let s_ = &self.sysctl;
        let secs = |v: u32| crate::Duration::from_secs(u64::from(v));
        let ka = (
            secs(o.keepidle.unwrap_or(s_.tcp_keepalive_time)),
            secs(o.keepintvl.unwrap_or(s_.tcp_keepalive_intvl)),
            o.keepcnt.unwrap_or(s_.tcp_keepalive_probes).min(255) as u8,
        );
        let Some(slot) = self.conns.get_mut(id.index, id.generation) else {
            return Ok(());
        };
        if let SockOpt::IpTtl(_) = opt {
            slot.ttl = o.ttl.unwrap_or(super::wire::DEFAULT_TTL);
        }
        let c = &mut slot.conn;
        match opt {
            SockOpt::NoDelay(v) => c.set_nodelay(v),
            SockOpt::Cork(v) => c.set_cork(v),
            SockOpt::KeepAlive(v) => c.set_keepalive(now, v),
            SockOpt::KeepIdle(_) | SockOpt::KeepIntvl(_) | SockOpt::KeepCnt(_) => {
                c.set_keepalive_params(now, ka.0, ka.1, ka.2)
            }
            SockOpt::UserTimeout(_) => c.set_user_timeout(
                (o.user_timeout > 0)
                    .then(|| crate::Duration::from_millis(u64::from(o.user_timeout))),
            ),
            SockOpt::OobInline(v) => c.set_oobinline(v),
            SockOpt::SndBuf(_) => c.set_send_buffer(o.sndbuf.unwrap_or(0) as usize),
            SockOpt::RcvBuf(_) => c.set_recv_buffer(o.rcvbuf.unwrap_or(0) as usize),
            _ => {}
        }
        self.touch(now, id);
        self.after_mutation();
        Ok(())
    }

    /// `store_sockopt` from a result seen before: when the socket's option set is one
    /// `opts_memo` names with `opt`, it gets the set the search found then, which the
    /// search would find again (the cache has not changed since; an option's effect on
    /// a set depends on the set and the option alone, `V6Only` aside, which is never
    /// kept). `false` (nothing done) otherwise.
    fn sockopt_memo_hit(&mut self, s: SocketId, opt: SockOpt) -> bool {
        let Some(sock) = self.sockets.get_mut(s.index, s.generation) else {
            return false;
        };
        let from = Arc::as_ptr(&sock.opts) as usize;
        let Some((_, _, to)) = self
            .opts_memo
            .iter()
            .find(|(f, o, _)| *f == from && *o == opt)
        else {
            return false;
        };
        if !Arc::ptr_eq(to, &sock.opts) {
            sock.opts = to.clone();
        }
        true
    }

    /// Most results `opts_memo` keeps.
    const OPTS_MEMO_MAX: usize = 4;

    fn store_sockopt(&mut self, s: SocketId, opt: SockOpt) -> Result<(), Errno> {
        let sock = self.sock(s)?;
        // The result may be remembered (`opts_memo`) when the set it starts from stays
        // alive as long as the memo: the default set, or one the cache holds.
        let from = Arc::as_ptr(&sock.opts) as usize;
        let memo = !matches!(opt, SockOpt::V6Only(_))
            && (Arc::ptr_eq(&sock.opts, &DEFAULT_OPTS)
                || self.opts_cache.iter().any(|c| Arc::ptr_eq(c, &sock.opts)));
        // Changed on a copy: the new set is usually one already in use (shared below), so
        // no allocation for it.
        let mut opts = *sock.opts;
        let o = &mut opts;
        let range = |v: i32, lo: i32, hi: i32| {
            if (lo..=hi).contains(&v) {
                Ok(v as u32)
            } else {
                Err(Errno::EINVAL)
            }
        };
        match opt {
            SockOpt::ReuseAddr(v) => o.reuseaddr = v,
            SockOpt::ReusePort(v) => o.reuseport = v,
            SockOpt::Linger(l) => o.linger = l,
            // Linux (sock_setsockopt): the value is doubled for bookkeeping overhead and
            // clamped to [SOCK_MIN_RCVBUF, 2 × rmem_max].
            SockOpt::RcvBuf(v) => {
                let v = (v.max(0) as u32).min(BUF_MAX);
                o.rcvbuf = Some((v * 2).max(MIN_RCVBUF));
            }
            SockOpt::SndBuf(v) => {
                let v = (v.max(0) as u32).min(BUF_MAX);
                o.sndbuf = Some((v * 2).max(MIN_SNDBUF));
            }
            SockOpt::KeepAlive(v) => o.keepalive = v,
            SockOpt::OobInline(v) => o.oobinline = v,
            SockOpt::NoDelay(v) => o.nodelay = v,
            SockOpt::Cork(v) => o.cork = v,
            // Linux: TCP_MIN_MSS (88) ..= MAX_TCP_WINDOW; 0 restores the default.
            SockOpt::MaxSeg(0) => o.maxseg = None,
            SockOpt::MaxSeg(v) => o.maxseg = Some(range(v, 88, 65535)? as u16),
            SockOpt::KeepIdle(v) => o.keepidle = Some(range(v, 1, 32767)?),
            SockOpt::KeepIntvl(v) => o.keepintvl = Some(range(v, 1, 32767)?),
            SockOpt::KeepCnt(v) => o.keepcnt = Some(range(v, 1, 127)?),
            SockOpt::UserTimeout(v) => o.user_timeout = range(v, 0, i32::MAX)?,
            SockOpt::SynCnt(v) => o.syncnt = Some(range(v, 1, 127)? as u8),
            SockOpt::Linger2(v) => o.linger2 = (v > 0).then_some(v as u32),
            // Linux (do_ip_setsockopt): 1..=255, or −1 for the default.
            // FreeBSD (tcp_default_ctloutput): seconds, converted to ticks.
            SockOpt::KeepInit(v) => o.keepinit = Some(range(v, 1, i32::MAX / 1000)?),
            SockOpt::IpTtl(-1) => o.ttl = None,
            SockOpt::IpTtl(v) => o.ttl = Some(range(v, 1, 255)? as u8),
            SockOpt::V6Only(v) => {
                // Linux: only on IPv6 sockets, and only before bind().
                if !sock.ipv6 {
                    return Err(Errno::ENOPROTOOPT);
                }
                if sock.bound {
                    return Err(Errno::EINVAL);
                }
                o.v6only = v;
            }
        }
        if let Some(to) = self.share_opts(s, opts)
            && memo
        {
            if self.opts_memo.len() >= Self::OPTS_MEMO_MAX {
                self.opts_memo.remove(0);
            }
            self.opts_memo.push((from, opt, to));
        }
        Ok(())
    }

    /// Gives the socket the option set `opts`: an equal one already in use if there is
    /// one, so that sockets setting the same options (every client of a server, say)
    /// share one copy as accepted sockets share their listener's; a later change makes a
    /// new one.
    ///
    /// Returns the cache entry found, `None` when the set is new (the cache then changes,
    /// and `opts_memo` is emptied).
    fn share_opts(&mut self, s: SocketId, opts: SockOpts) -> Option<Arc<SockOpts>> {
        let sock = self.sockets.get_mut(s.index, s.generation)?;
        if let Some(o) = self.opts_cache.iter().find(|o| ***o == opts) {
            if !Arc::ptr_eq(o, &sock.opts) {
                sock.opts = o.clone();
            }
            return Some(o.clone());
        }
        match Arc::get_mut(&mut sock.opts) {
            Some(o) => *o = opts,
            None => sock.opts = Arc::new(opts),
        }
        self.opts_memo.clear();
        if self.opts_cache.len() >= Self::CFG_CACHE_MAX {
            self.opts_cache.remove(0);
        }
        self.opts_cache.push(sock.opts.clone());
        None
    }

    /// `setsockopt(TCP_CONGESTION, name)`: the congestion-control algorithm of this
    /// socket's connection (at once if connected, else for the connections it opens or
    /// accepts). ENOENT for an algorithm the stack does not have (Linux
    /// `tcp_set_congestion_control()`); `newreno` is an alias of `reno`.
    pub fn set_congestion(&mut self, s: SocketId, name: &str) -> Result<(), Errno> {
        let canonical = crate::cc::by_name(name).ok_or(Errno::ENOENT)?.name();
        let mut opts = *self.sock(s)?.opts;
        opts.congestion = Some(canonical);
        self.share_opts(s, opts);
        let sock = self.sock_mut(s)?;
        let Some(id) = sock.conn() else {
            return Ok(());
        };
        if let Some(slot) = self.conns.get_mut(id.index, id.generation) {
            slot.conn
                .set_congestion_control_by_name(canonical)
                .map_err(|_| Errno::ENOENT)?;
        }
        Ok(())
    }

    /// `getsockopt(TCP_CC_INFO)` for BBR (Linux `struct tcp_bbr_info`): the model and state
    /// of the socket's connection; `None` without a connection or with another algorithm.
    pub fn bbr_info(&self, s: SocketId) -> Result<Option<crate::bbr::BbrInfo>, Errno> {
        let sock = self.sock(s)?;
        Ok(sock
            .conn()
            .and_then(|id| self.conns.get(id.index, id.generation))
            .and_then(|slot| slot.conn.info().bbr))
    }

    /// `getsockopt(TCP_CONGESTION)`: the algorithm of the socket's connection, else the one
    /// set with [`Stack::set_congestion`], else `net.ipv4.tcp_congestion_control`'s.
    pub fn congestion(&self, s: SocketId) -> Result<&'static str, Errno> {
        let sock = self.sock(s)?;
        if let Some(slot) = sock
            .conn()
            .and_then(|id| self.conns.get(id.index, id.generation))
        {
            return Ok(slot.conn.info().congestion);
        }
        if let Some(name) = sock.opts.congestion {
            return Ok(name);
        }
        let default = crate::cc::by_name(&self.sysctl.tcp_congestion_control)
            .map_or(crate::cc::DEFAULT, |c| c.name());
        Ok(default)
    }

    /// `getsockopt`. `SockOptName::Error` reads and clears the pending error.
    pub fn getsockopt(&mut self, s: SocketId, name: SockOptName) -> Result<SockOptValue, Errno> {
        let sock = self.sock(s)?;
        let o = *sock.opts;
        let conn = sock.conn();
        let listening = sock.listener().is_some();
        let int = |v: i64| {
            Ok(SockOptValue::Int(
                v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
            ))
        };
        let b = |v: bool| int(i64::from(v));
        let s_ = &self.sysctl;
        let freebsd_conn = conn
            .filter(|_| s_.profile == Profile::FreeBsd)
            .and_then(|id| self.conns.get(id.index, id.generation))
            .map(|slot| &slot.conn);
        match name {
            SockOptName::ReuseAddr => b(o.reuseaddr),
            SockOptName::ReusePort => b(o.reuseport),
            SockOptName::Linger => Ok(SockOptValue::Linger(o.linger)),
            // FreeBSD: the connection's buffers, which grow to whole segments once the
            // handshake completes (tcp_mss()); Linux reports the socket's setting.
            SockOptName::RcvBuf => match freebsd_conn {
                Some(c) => int(c.recv_buffer() as i64),
                None => int(i64::from(o.rcvbuf.unwrap_or(s_.tcp_rmem[1]))),
            },
            SockOptName::SndBuf => match freebsd_conn {
                Some(c) => int(c.send_buffer() as i64),
                None => int(i64::from(o.sndbuf.unwrap_or(s_.tcp_wmem[1]))),
            },
            SockOptName::KeepAlive => b(o.keepalive),
            SockOptName::OobInline => b(o.oobinline),
            SockOptName::Type => int(1),
            SockOptName::AcceptConn => b(listening),
            SockOptName::NoDelay => b(o.nodelay),
            SockOptName::Cork => b(o.cork),
            SockOptName::MaxSeg => {
                let live = conn
                    .and_then(|id| self.conns.get(id.index, id.generation))
                    .map(|c| c.conn.status())
                    .filter(|st| st.state.is_synchronized());
                int(i64::from(match live {
                    Some(st) => st.snd_mss,
                    None => o.maxseg.unwrap_or(TCP_MSS_DEFAULT),
                }))
            }
            SockOptName::KeepIdle => int(i64::from(o.keepidle.unwrap_or(s_.tcp_keepalive_time))),
            SockOptName::KeepIntvl => int(i64::from(o.keepintvl.unwrap_or(s_.tcp_keepalive_intvl))),
            SockOptName::KeepCnt => int(i64::from(o.keepcnt.unwrap_or(s_.tcp_keepalive_probes))),
            SockOptName::UserTimeout => int(i64::from(o.user_timeout)),
            SockOptName::SynCnt => int(i64::from(o.syncnt.unwrap_or(s_.tcp_syn_retries))),
            SockOptName::Linger2 => int(i64::from(o.linger2.unwrap_or(s_.tcp_fin_timeout))),
            SockOptName::KeepInit => int(i64::from(o.keepinit.unwrap_or(s_.tcp_keepinit))),
            SockOptName::IpTtl => int(i64::from(o.ttl.unwrap_or(super::wire::DEFAULT_TTL))),
            SockOptName::Error => {
                let e = match conn {
                    Some(id) => self.take_conn_error(id),
                    None => None,
                };
                int(i64::from(e.map_or(0, |e| e.0)))
            }
            SockOptName::Info => Ok(SockOptValue::Info(self.tcp_info(s)?)),
            SockOptName::V6Only if sock.ipv6 => b(o.v6only),
            SockOptName::V6Only => Err(Errno::ENOPROTOOPT),
        }
    }

    /// `SO_ERROR`: the pending error, cleared by reading.
    pub fn take_error(&mut self, s: SocketId) -> Result<Option<Errno>, Errno> {
        let id = self.sock(s)?.conn();
        Ok(id.and_then(|id| self.take_conn_error(id)))
    }

    /// `TCP_INFO` (see [`TcpInfo`] for the fields the engine does not expose yet).
    pub fn tcp_info(&self, s: SocketId) -> Result<TcpInfo, Errno> {
        let sock = self.sock(s)?;
        // Linux (tcp_mss_clamp / tp->advmss): the route's MSS, at most TCP_MAXSEG.
        let overhead = if sock.ipv6 { 60 } else { 40 };
        let mut advmss = u32::from(self.sysctl.tcp_mtu).saturating_sub(overhead);
        if let Some(m) = sock.opts.maxseg {
            advmss = advmss.min(u32::from(m));
        }
        let conn = sock
            .conn()
            .and_then(|id| self.conns.get(id.index, id.generation));
        let Some(slot) = conn else {
            let state = if sock.listener().is_some() {
                State::Listen
            } else {
                State::Closed
            };
            return Ok(TcpInfo {
                state,
                retransmits: 0,
                options: 0,
                snd_wscale: 0,
                rcv_wscale: 0,
                rto_us: None,
                rtt_us: None,
                rttvar_us: None,
                snd_mss: u32::from(TCP_MSS_DEFAULT),
                advmss,
                rcv_mss: None,
                snd_cwnd: None,
                snd_ssthresh: None,
                unacked: 0,
                sacked: None,
                lost: None,
                total_retrans: 0,
                bytes_acked: 0,
                bytes_received: 0,
                snd_wnd: 0,
                rcv_wnd: 0,
                segs_in: 0,
                segs_out: 0,
                min_rtt_us: None,
                probes: 0,
                backoff: 0,
                congestion: "",
                pacing_rate: 0,
                delivery_rate: 0,
            });
        };
        let st = slot.conn.status();
        let stats = slot.conn.stats();
        let synced = st.state.is_synchronized();
        let mut options = 0u8;
        if st.timestamps {
            options |= 1;
        }
        if st.sack_permitted {
            options |= 2;
        }
        if st.snd_wscale > 0 || st.rcv_wscale > 0 {
            options |= 4;
        }
        let info = slot.conn.info();
        // Linux TCPI_OPT_ECN: ECN negotiated on this connection (RFC 3168 §6.1.1).
        if info.ecn {
            options |= 8;
        }
        let mss = info.snd_mss.max(1);
        let us = |d: crate::Duration| Some(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
        Ok(TcpInfo {
            state: st.state,
            retransmits: info.retransmits,
            options,
            snd_wscale: st.snd_wscale,
            rcv_wscale: st.rcv_wscale,
            rto_us: us(info.rto),
            rtt_us: us(info.rtt),
            rttvar_us: us(info.rttvar),
            snd_mss: info.snd_mss,
            advmss,
            rcv_mss: Some(info.rcv_mss),
            // Linux reports the window in segments; ssthresh "infinite" as 0x7fffffff.
            snd_cwnd: Some(info.cwnd.div_ceil(mss)),
            snd_ssthresh: Some(if info.ssthresh == u32::MAX {
                0x7fff_ffff
            } else {
                info.ssthresh / mss
            }),
            unacked: if synced {
                info.unacked.div_ceil(mss)
            } else {
                0
            },
            sacked: None,
            lost: None,
            total_retrans: u32::try_from(info.total_retrans).unwrap_or(u32::MAX),
            bytes_acked: info.bytes_acked,
            bytes_received: info.bytes_received,
            snd_wnd: info.snd_wnd,
            rcv_wnd: info.rcv_wnd,
            segs_in: stats.segs_in,
            segs_out: stats.segs_out,
            min_rtt_us: us(info.min_rtt),
            probes: info.probes,
            backoff: info.backoff,
            congestion: info.congestion,
            pacing_rate: info.pacing_rate,
            delivery_rate: info.delivery_rate,
        })
    }
}
