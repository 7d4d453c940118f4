//! `errno`-style errors for the socket API, with Linux numbers.

use crate::error::Error;
use core::fmt;

/// A Linux `errno` value returned by a socket call.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($name:ident = $num:expr, $text:expr;)*) => {
        impl Errno {
            $(
                #[doc = concat!("`", stringify!($name), "` (", stringify!($num), "): ", $text, ".")]
                pub const $name: Errno = Errno($num);
            )*

            /// The symbolic name (`"EADDRINUSE"`), or `"E?"` for a number not listed here.
            pub const fn name(self) -> &'static str {
                match self.0 {
                    $($num => stringify!($name),)*
                    _ => "E?",
                }
            }

            /// The `strerror` text (`"Address already in use"`).
            pub const fn text(self) -> &'static str {
                match self.0 {
                    $($num => $text,)*
                    _ => "Unknown error",
                }
            }

            /// Looks a symbolic name up (`"EAGAIN"` → 11); `EWOULDBLOCK` is an alias of
            /// `EAGAIN` and `ENOTSUP` of `EOPNOTSUPP`, as on Linux.
            pub fn from_name(name: &str) -> Option<Errno> {
                match name {
                    "EWOULDBLOCK" => Some(Errno::EAGAIN),
                    "ENOTSUP" => Some(Errno::EOPNOTSUPP),
                    $(stringify!($name) => Some(Errno::$name),)*
                    _ => None,
                }
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted";
    ENOENT = 2, "No such file or directory";
    EINTR = 4, "Interrupted system call";
    EBADF = 9, "Bad file descriptor";
    EAGAIN = 11, "Resource temporarily unavailable";
    ENOMEM = 12, "Cannot allocate memory";
    EACCES = 13, "Permission denied";
    EFAULT = 14, "Bad address";
    EINVAL = 22, "Invalid argument";
    ENFILE = 23, "Too many open files in system";
    EMFILE = 24, "Too many open files";
    ENOTTY = 25, "Inappropriate ioctl for device";
    EPIPE = 32, "Broken pipe";
    ENOTSOCK = 88, "Socket operation on non-socket";
    EDESTADDRREQ = 89, "Destination address required";
    EMSGSIZE = 90, "Message too long";
    EPROTOTYPE = 91, "Protocol wrong type for socket";
    ENOPROTOOPT = 92, "Protocol not available";
    EPROTONOSUPPORT = 93, "Protocol not supported";
    EOPNOTSUPP = 95, "Operation not supported";
    EAFNOSUPPORT = 97, "Address family not supported by protocol";
    EADDRINUSE = 98, "Address already in use";
    EADDRNOTAVAIL = 99, "Cannot assign requested address";
    ENETUNREACH = 101, "Network is unreachable";
    ECONNABORTED = 103, "Software caused connection abort";
    ECONNRESET = 104, "Connection reset by peer";
    ENOBUFS = 105, "No buffer space available";
    EISCONN = 106, "Transport endpoint is already connected";
    ENOTCONN = 107, "Transport endpoint is not connected";
    ETIMEDOUT = 110, "Connection timed out";
    ECONNREFUSED = 111, "Connection refused";
    EHOSTUNREACH = 113, "No route to host";
    EALREADY = 114, "Operation already in progress";
    EINPROGRESS = 115, "Operation now in progress";
}

impl From<Error> for Errno {
    fn from(e: Error) -> Errno {
        Errno(e.errno())
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.text())
    }
}

impl std::error::Error for Errno {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_numbers_and_names() {
        assert_eq!(Errno::EADDRINUSE.0, 98);
        assert_eq!(Errno::EADDRNOTAVAIL.name(), "EADDRNOTAVAIL");
        assert_eq!(Errno::EINPROGRESS.0, 115);
        assert_eq!(Errno::from(Error::ConnectionRefused), Errno::ECONNREFUSED);
        assert_eq!(Errno::from_name("EWOULDBLOCK"), Some(Errno::EAGAIN));
        assert_eq!(
            Errno::ECONNRESET.to_string(),
            "ECONNRESET (Connection reset by peer)"
        );
    }
}
