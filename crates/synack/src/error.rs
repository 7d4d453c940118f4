//! Errors as BSD sockets report them, with Linux `errno` numbers.

use core::fmt;

/// A connection error, named after the `errno` a BSD socket would report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// `ECONNREFUSED`: the peer answered our SYN with a RST (RFC 9293 §3.10.7.3).
    ConnectionRefused,
    /// `ETIMEDOUT`: retransmissions (of SYN, SYN-ACK, data or FIN) exhausted their limit.
    TimedOut,
    /// `ECONNRESET`: the connection was reset by the peer (RFC 9293 §3.10.7.4).
    ConnectionReset,
    /// `EPIPE`: sending after the sending direction was shut down.
    BrokenPipe,
    /// `ENOTCONN`: the connection does not exist or is not (yet) connected.
    NotConnected,
    /// `EISCONN`: the connection is already open.
    AlreadyConnected,
    /// `EALREADY`: the operation is already in progress (e.g. a second CLOSE).
    Already,
    /// `EAGAIN`/`EWOULDBLOCK`: nothing can be done right now; try again later.
    WouldBlock,
    /// `EINVAL`: the call is not valid in the current state.
    InvalidState,
    /// `ECONNABORTED`: the connection was aborted locally.
    ConnectionAborted,
}

impl Error {
    /// The Linux `errno` value for this error.
    pub const fn errno(self) -> i32 {
        match self {
            Error::ConnectionRefused => 111,
            Error::TimedOut => 110,
            Error::ConnectionReset => 104,
            Error::BrokenPipe => 32,
            Error::NotConnected => 107,
            Error::AlreadyConnected => 106,
            Error::Already => 114,
            Error::WouldBlock => 11,
            Error::InvalidState => 22,
            Error::ConnectionAborted => 103,
        }
    }

    /// The symbolic name of the `errno` (`"ECONNREFUSED"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Error::ConnectionRefused => "ECONNREFUSED",
            Error::TimedOut => "ETIMEDOUT",
            Error::ConnectionReset => "ECONNRESET",
            Error::BrokenPipe => "EPIPE",
            Error::NotConnected => "ENOTCONN",
            Error::AlreadyConnected => "EISCONN",
            Error::Already => "EALREADY",
            Error::WouldBlock => "EAGAIN",
            Error::InvalidState => "EINVAL",
            Error::ConnectionAborted => "ECONNABORTED",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Error::ConnectionRefused => "connection refused",
            Error::TimedOut => "connection timed out",
            Error::ConnectionReset => "connection reset by peer",
            Error::BrokenPipe => "broken pipe",
            Error::NotConnected => "transport endpoint is not connected",
            Error::AlreadyConnected => "transport endpoint is already connected",
            Error::Already => "operation already in progress",
            Error::WouldBlock => "resource temporarily unavailable",
            Error::InvalidState => "invalid argument",
            Error::ConnectionAborted => "software caused connection abort",
        };
        write!(f, "{text} ({})", self.name())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_errno_numbers() {
        assert_eq!(Error::ConnectionRefused.errno(), 111);
        assert_eq!(Error::TimedOut.errno(), 110);
        assert_eq!(Error::ConnectionReset.errno(), 104);
        assert_eq!(Error::BrokenPipe.errno(), 32);
        assert_eq!(Error::NotConnected.errno(), 107);
        assert_eq!(Error::WouldBlock.errno(), 11);
        assert_eq!(
            Error::ConnectionRefused.to_string(),
            "connection refused (ECONNREFUSED)"
        );
    }
}
