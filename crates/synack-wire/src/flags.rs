//! The nine TCP control flags (RFC 9293 §3.1, RFC 3168 §6.1, RFC 3540 for NS).

use core::fmt;
use core::ops::{BitAnd, BitOr, BitOrAssign, Not};

/// A set of TCP control flags.
///
/// Bits 0..=7 hold the flags of header byte 13 (`CWR ECE URG ACK PSH RST SYN FIN`, most
/// significant first); bit 8 holds NS, the low bit of header byte 12 (RFC 3540, historic).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(u16);

impl TcpFlags {
    /// No flags.
    pub const NONE: TcpFlags = TcpFlags(0);
    /// FIN: no more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x001);
    /// SYN: synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x002);
    /// RST: reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x004);
    /// PSH: push function.
    pub const PSH: TcpFlags = TcpFlags(0x008);
    /// ACK: acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x010);
    /// URG: urgent pointer field is significant.
    pub const URG: TcpFlags = TcpFlags(0x020);
    /// ECE: ECN-Echo (RFC 3168).
    pub const ECE: TcpFlags = TcpFlags(0x040);
    /// CWR: congestion window reduced (RFC 3168).
    pub const CWR: TcpFlags = TcpFlags(0x080);
    /// NS: ECN nonce sum (RFC 3540, historic).
    pub const NS: TcpFlags = TcpFlags(0x100);
    /// All nine flags.
    pub const ALL: TcpFlags = TcpFlags(0x1ff);

    /// Builds a flag set from its 9-bit representation; higher bits are ignored.
    pub const fn from_bits(bits: u16) -> TcpFlags {
        TcpFlags(bits & 0x1ff)
    }

    /// The 9-bit representation (NS in bit 8).
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Builds a flag set from header bytes 12 and 13.
    pub const fn from_header_bytes(b12: u8, b13: u8) -> TcpFlags {
        TcpFlags((((b12 & 1) as u16) << 8) | b13 as u16)
    }

    /// Whether every flag in `other` is set in `self`.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag in `other` is set in `self`.
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// `self` with the flags of `other` added.
    pub const fn with(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | other.0)
    }

    /// `self` with the flags of `other` removed.
    pub const fn without(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & !other.0)
    }

    /// FIN is set.
    pub const fn fin(self) -> bool {
        self.contains(Self::FIN)
    }
    /// SYN is set.
    pub const fn syn(self) -> bool {
        self.contains(Self::SYN)
    }
    /// RST is set.
    pub const fn rst(self) -> bool {
        self.contains(Self::RST)
    }
    /// PSH is set.
    pub const fn psh(self) -> bool {
        self.contains(Self::PSH)
    }
    /// ACK is set.
    pub const fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
    /// URG is set.
    pub const fn urg(self) -> bool {
        self.contains(Self::URG)
    }
    /// ECE is set.
    pub const fn ece(self) -> bool {
        self.contains(Self::ECE)
    }
    /// CWR is set.
    pub const fn cwr(self) -> bool {
        self.contains(Self::CWR)
    }
    /// NS is set.
    pub const fn ns(self) -> bool {
        self.contains(Self::NS)
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for TcpFlags {
    type Output = TcpFlags;
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

impl Not for TcpFlags {
    type Output = TcpFlags;
    fn not(self) -> TcpFlags {
        TcpFlags(!self.0 & 0x1ff)
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TcpFlags({:#05x})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_bytes_round_trip() {
        let f = TcpFlags::from_header_bytes(0x51, 0x12);
        assert!(f.ns() && f.syn() && f.ack() && !f.fin());
        assert_eq!(f.bits(), 0x112);
    }
}
