//! The system under test, as the runner sees it: a small non-blocking socket API with
//! `errno` errors, sysctl-style configuration, and a sans-IO packet interface under virtual
//! time.
//!
//! The runner emulates blocking calls and `fcntl(O_NONBLOCK)` itself on top of this API, so
//! a target only ever answers "now": `EAGAIN` (would block) or `EINPROGRESS` (connect
//! started) are ordinary results.

use core::fmt;
use core::net::SocketAddr;
use synack::{Instant, State};

/// A socket handle in the target (its own numbering; the runner maps script fds onto it).
pub type Fd = u32;

/// An `errno` value, with Linux numbers (the scripts' symbols are looked up by name, so
/// FreeBSD scripts compare correctly too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

/// `(name, Linux number)` of every errno the runner can name.
const ERRNOS: &[(&str, i32)] = &[
    ("EPERM", 1),
    ("ENOENT", 2),
    ("EINTR", 4),
    ("EBADF", 9),
    ("EAGAIN", 11),
    ("ENOMEM", 12),
    ("EACCES", 13),
    ("EFAULT", 14),
    ("EINVAL", 22),
    ("EMFILE", 24),
    ("ENOTTY", 25),
    ("EPIPE", 32),
    ("ENOTSOCK", 88),
    ("EDESTADDRREQ", 89),
    ("EMSGSIZE", 90),
    ("EPROTOTYPE", 91),
    ("ENOPROTOOPT", 92),
    ("EPROTONOSUPPORT", 93),
    ("EOPNOTSUPP", 95),
    ("EAFNOSUPPORT", 97),
    ("EADDRINUSE", 98),
    ("EADDRNOTAVAIL", 99),
    ("ENETDOWN", 100),
    ("ENETUNREACH", 101),
    ("ECONNABORTED", 103),
    ("ECONNRESET", 104),
    ("ENOBUFS", 105),
    ("EISCONN", 106),
    ("ENOTCONN", 107),
    ("ETIMEDOUT", 110),
    ("ECONNREFUSED", 111),
    ("EHOSTDOWN", 112),
    ("EHOSTUNREACH", 113),
    ("EALREADY", 114),
    ("EINPROGRESS", 115),
];

impl Errno {
    /// `EAGAIN`: the call would block.
    pub const EAGAIN: Errno = Errno(11);
    /// `EBADF`: no such descriptor.
    pub const EBADF: Errno = Errno(9);
    /// `EINVAL`: invalid argument.
    pub const EINVAL: Errno = Errno(22);
    /// `ENOPROTOOPT`: unknown socket option.
    pub const ENOPROTOOPT: Errno = Errno(92);
    /// `EINPROGRESS`: a non-blocking connect has started.
    pub const EINPROGRESS: Errno = Errno(115);
    /// `EALREADY`: a connect is already in progress.
    pub const EALREADY: Errno = Errno(114);
    /// `EISCONN`: already connected.
    pub const EISCONN: Errno = Errno(106);

    /// Looks a symbol up (`EWOULDBLOCK` is `EAGAIN`, `ENOTSUP` is `EOPNOTSUPP`).
    pub fn from_name(name: &str) -> Option<Errno> {
        let name = match name {
            "EWOULDBLOCK" => "EAGAIN",
            "ENOTSUP" => "EOPNOTSUPP",
            other => other,
        };
        ERRNOS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| Errno(*v))
    }

    /// The symbolic name, or `E<number>` for one not in the table.
    pub fn name(self) -> String {
        ERRNOS
            .iter()
            .find(|(_, v)| *v == self.0)
            .map_or_else(|| format!("E{}", self.0), |(n, _)| (*n).to_string())
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Why a target call did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The call failed with this errno (a result the script can expect).
    Errno(Errno),
    /// The target does not implement this (the script is reported UNSUPPORTED, naming it).
    Unsupported(String),
}

impl From<Errno> for CallError {
    fn from(e: Errno) -> CallError {
        CallError::Errno(e)
    }
}

/// The result of a target call.
pub type CallResult<T> = Result<T, CallError>;

/// An address family for `socket()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `AF_INET`.
    Inet,
    /// `AF_INET6`.
    Inet6,
}

/// `shutdown()`'s `how`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    /// `SHUT_RD`.
    Read,
    /// `SHUT_WR`.
    Write,
    /// `SHUT_RDWR`.
    Both,
}

/// A socket option the runner knows how to pass on (`level`, `name` resolved).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SockOpt {
    /// `SOL_SOCKET SO_REUSEADDR`.
    ReuseAddr,
    /// `SOL_SOCKET SO_REUSEPORT`.
    ReusePort,
    /// `SOL_SOCKET SO_RCVBUF`.
    RcvBuf,
    /// `SOL_SOCKET SO_SNDBUF`.
    SndBuf,
    /// `SOL_SOCKET SO_ERROR` (get only; reading clears it).
    Error,
    /// `SOL_SOCKET SO_KEEPALIVE`.
    KeepAlive,
    /// `SOL_SOCKET SO_OOBINLINE`.
    OobInline,
    /// `IPPROTO_IP IP_TTL` / `IPPROTO_IPV6 IPV6_UNICAST_HOPS`.
    IpTtl,
    /// `IPPROTO_IP IP_TOS` / `IPPROTO_IPV6 IPV6_TCLASS`.
    IpTos,
    /// `IPPROTO_TCP TCP_NODELAY`.
    NoDelay,
    /// `IPPROTO_TCP TCP_MAXSEG`.
    MaxSeg,
    /// `IPPROTO_TCP TCP_KEEPIDLE` (seconds).
    KeepIdle,
    /// `IPPROTO_TCP TCP_KEEPINTVL` (seconds).
    KeepIntvl,
    /// `IPPROTO_TCP TCP_KEEPCNT`.
    KeepCnt,
    /// `IPPROTO_TCP TCP_KEEPINIT` (FreeBSD, seconds).
    KeepInit,
    /// `IPPROTO_TCP TCP_USER_TIMEOUT` (milliseconds).
    UserTimeout,
    /// `IPPROTO_TCP TCP_NOOPT` (FreeBSD: send no options).
    NoOpt,
    /// `IPPROTO_TCP TCP_CORK` / `TCP_NOPUSH`.
    Cork,
    /// `IPPROTO_TCP TCP_QUICKACK`.
    QuickAck,
}

impl SockOpt {
    /// Resolves a script's `(level, name)` symbols.
    pub fn from_names(level: &str, name: &str) -> Option<SockOpt> {
        let tcp = matches!(level, "IPPROTO_TCP" | "SOL_TCP");
        let ip = matches!(level, "IPPROTO_IP" | "SOL_IP" | "IPPROTO_IPV6" | "SOL_IPV6");
        let sock = level == "SOL_SOCKET";
        Some(match name {
            "SO_REUSEADDR" if sock => SockOpt::ReuseAddr,
            "SO_REUSEPORT" if sock => SockOpt::ReusePort,
            "SO_RCVBUF" if sock => SockOpt::RcvBuf,
            "SO_SNDBUF" if sock => SockOpt::SndBuf,
            "SO_ERROR" if sock => SockOpt::Error,
            "SO_KEEPALIVE" if sock => SockOpt::KeepAlive,
            "SO_OOBINLINE" if sock => SockOpt::OobInline,
            "IP_TTL" | "IPV6_UNICAST_HOPS" if ip => SockOpt::IpTtl,
            "IP_TOS" | "IPV6_TCLASS" if ip => SockOpt::IpTos,
            "TCP_NODELAY" if tcp => SockOpt::NoDelay,
            "TCP_MAXSEG" if tcp => SockOpt::MaxSeg,
            "TCP_KEEPIDLE" if tcp => SockOpt::KeepIdle,
            "TCP_KEEPINTVL" if tcp => SockOpt::KeepIntvl,
            "TCP_KEEPCNT" if tcp => SockOpt::KeepCnt,
            "TCP_KEEPINIT" if tcp => SockOpt::KeepInit,
            "TCP_USER_TIMEOUT" if tcp => SockOpt::UserTimeout,
            "TCP_NOOPT" if tcp => SockOpt::NoOpt,
            "TCP_CORK" | "TCP_NOPUSH" if tcp => SockOpt::Cork,
            "TCP_QUICKACK" if tcp => SockOpt::QuickAck,
            _ => return None,
        })
    }
}

/// `MSG_*` flags of `send`/`recv`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsgFlags {
    /// `MSG_PEEK`: leave the data queued.
    pub peek: bool,
    /// `MSG_OOB`: urgent data.
    pub oob: bool,
}

/// The `TCP_INFO` fields the runner evaluates in `%{ }%` blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpInfo {
    /// The connection state.
    pub state: State,
    /// The congestion window in bytes, when the target exposes it.
    pub snd_cwnd_bytes: Option<u32>,
    /// The send MSS.
    pub snd_mss: u32,
    /// The MSS we advertised, when the target exposes it.
    pub advmss: Option<u32>,
    /// `TCPI_OPT_*` bits: timestamps 1, SACK 2, window scale 4, ECN 8.
    pub options: u8,
}

/// One row of the target's socket table, for `sockstat`-style checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketRow {
    /// Local address.
    pub local: Option<SocketAddr>,
    /// Remote address.
    pub remote: Option<SocketAddr>,
    /// TCP state (`Closed` for a socket whose connection has gone).
    pub state: State,
}

/// Why a sysctl could not be set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SysctlError {
    /// The target has no such knob.
    Unknown,
    /// The knob exists but the value is refused.
    Invalid(String),
}

/// The system under test. All calls are non-blocking and take the virtual time `now`.
pub trait Target {
    /// Sets a sysctl by its Linux (`net.ipv4.tcp_sack`) or FreeBSD
    /// (`net.inet.tcp.sack.enable`) name.
    fn sysctl(&mut self, key: &str, value: &str) -> Result<(), SysctlError>;
    /// `socket(family, SOCK_STREAM, IPPROTO_TCP)`.
    fn socket(&mut self, now: Instant, family: Family) -> CallResult<Fd>;
    /// `bind`.
    fn bind(&mut self, now: Instant, fd: Fd, addr: SocketAddr) -> CallResult<()>;
    /// `listen`.
    fn listen(&mut self, now: Instant, fd: Fd, backlog: i32) -> CallResult<()>;
    /// `accept`: `EAGAIN` while nothing is ready.
    fn accept(&mut self, now: Instant, fd: Fd) -> CallResult<Fd>;
    /// `connect`: `EINPROGRESS` when the handshake starts.
    fn connect(&mut self, now: Instant, fd: Fd, addr: SocketAddr) -> CallResult<()>;
    /// The state of a connect in progress: `Ok(true)` connected, `Ok(false)` still in
    /// progress, `Err` failed (the error is consumed, as a blocking `connect` returns it).
    fn connect_status(&mut self, now: Instant, fd: Fd) -> CallResult<bool>;
    /// `send`/`write`: bytes accepted, or `EAGAIN` when none fit.
    fn send(&mut self, now: Instant, fd: Fd, data: &[u8], flags: MsgFlags) -> CallResult<usize>;
    /// `recv`/`read`: bytes read (0 at end of stream), or `EAGAIN` when none are ready.
    fn recv(&mut self, now: Instant, fd: Fd, buf: &mut [u8], flags: MsgFlags) -> CallResult<usize>;
    /// `shutdown`.
    fn shutdown(&mut self, now: Instant, fd: Fd, how: How) -> CallResult<()>;
    /// `close`.
    fn close(&mut self, now: Instant, fd: Fd) -> CallResult<()>;
    /// `setsockopt` with an integer value.
    fn setsockopt(&mut self, now: Instant, fd: Fd, opt: SockOpt, value: i64) -> CallResult<()>;
    /// `getsockopt` of an integer value (`SO_ERROR` clears the pending error).
    fn getsockopt(&mut self, now: Instant, fd: Fd, opt: SockOpt) -> CallResult<i64>;
    /// `ioctl(SIOCINQ/FIONREAD)`: bytes ready to read.
    fn bytes_readable(&mut self, fd: Fd) -> CallResult<usize>;
    /// `TCP_INFO`.
    fn tcp_info(&mut self, fd: Fd) -> CallResult<TcpInfo>;
    /// Every TCP socket and connection, for `sockstat`.
    fn sockets(&mut self) -> Vec<SocketRow>;
    /// Drops (aborts without a RST, like FreeBSD's `tcpdrop`) every connection in `state`;
    /// returns how many.
    fn drop_connections(&mut self, now: Instant, state: State) -> CallResult<usize>;
    /// Delivers an IP datagram from the network.
    fn inject(&mut self, now: Instant, datagram: &[u8]);
    /// Writes the next IP datagram to send into `buf`, returning its length.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize>;
    /// When the target next wants [`Target::handle_timeout`].
    fn poll_timeout(&mut self) -> Option<Instant>;
    /// Runs the timers due at `now`.
    fn handle_timeout(&mut self, now: Instant);
}
