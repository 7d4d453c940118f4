//! ICMP (RFC 792) and ICMPv6 (RFC 4443): a minimal view (type, code, checksum, and the
//! identifier/sequence of echo messages) and an echo emitter.

use core::fmt;

use crate::checksum::{Checksum, PseudoHeader, checksum};

/// Length of the ICMP header including the 4-byte rest-of-header word.
pub const HEADER_LEN: usize = 8;

/// ICMP echo reply type.
pub const ECHO_REPLY: u8 = 0;
/// ICMP echo request type.
pub const ECHO_REQUEST: u8 = 8;
/// ICMPv6 echo request type (RFC 4443 §4.1).
pub const ECHO6_REQUEST: u8 = 128;
/// ICMPv6 echo reply type (RFC 4443 §4.2).
pub const ECHO6_REPLY: u8 = 129;

/// Why a buffer is not an ICMP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpError {
    /// Fewer than the 4 bytes of type, code and checksum.
    Truncated,
}

impl fmt::Display for IcmpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("truncated ICMP header")
    }
}

impl std::error::Error for IcmpError {}

/// A zero-copy view of an ICMP or ICMPv6 message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpPacket<'a> {
    buf: &'a [u8],
}

impl<'a> IcmpPacket<'a> {
    /// Checks that type, code and checksum are present.
    pub fn new_checked(buf: &'a [u8]) -> Result<IcmpPacket<'a>, IcmpError> {
        if buf.len() < 4 {
            return Err(IcmpError::Truncated);
        }
        Ok(IcmpPacket { buf })
    }
    /// Message type.
    pub fn msg_type(&self) -> u8 {
        self.buf[0]
    }
    /// Message code.
    pub fn code(&self) -> u8 {
        self.buf[1]
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes([self.buf[2], self.buf[3]])
    }
    /// Echo identifier, if captured.
    pub fn echo_id(&self) -> Option<u16> {
        self.buf.get(4..6).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    /// Echo sequence number, if captured.
    pub fn echo_seq(&self) -> Option<u16> {
        self.buf.get(6..8).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    /// The bytes after the 8-byte header (empty if fewer were captured).
    pub fn payload(&self) -> &'a [u8] {
        self.buf.get(HEADER_LEN..).unwrap_or(&[])
    }
}

/// An echo request or reply to emit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EchoRepr {
    /// Message type (8/0 for ICMP, 128/129 for ICMPv6).
    pub msg_type: u8,
    /// Identifier.
    pub id: u16,
    /// Sequence number.
    pub seq: u16,
}

impl EchoRepr {
    fn bytes(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![self.msg_type, 0, 0, 0];
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// Emits an ICMPv4 echo message (checksum over the message only, RFC 792).
    pub fn emit_v4(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = self.bytes(payload);
        let ck = checksum(&out);
        out[2..4].copy_from_slice(&ck.to_be_bytes());
        out
    }

    /// Emits an ICMPv6 echo message (checksum includes the pseudo-header, RFC 4443 §2.3).
    pub fn emit_v6(&self, ph: &PseudoHeader, payload: &[u8]) -> Vec<u8> {
        let mut out = self.bytes(payload);
        let mut c: Checksum = ph.checksum(crate::checksum::PROTO_ICMPV6, out.len() as u32);
        c.add_bytes(&out);
        out[2..4].copy_from_slice(&c.finish().to_be_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_round_trip() {
        let b = EchoRepr {
            msg_type: ECHO_REQUEST,
            id: 7,
            seq: 9,
        }
        .emit_v4(&[1, 2, 3]);
        let p = IcmpPacket::new_checked(&b).unwrap();
        assert_eq!(
            (p.msg_type(), p.echo_id(), p.echo_seq()),
            (8, Some(7), Some(9))
        );
        assert_eq!(checksum(&b), 0);
        assert_eq!(IcmpPacket::new_checked(&[0; 3]), Err(IcmpError::Truncated));
    }
}
