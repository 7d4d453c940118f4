//! UDP header (RFC 768): a minimal zero-copy view and an emitter.

use core::fmt;

use crate::checksum::{Checksum, PseudoHeader};

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

/// Why a buffer is not a UDP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpError {
    /// Fewer than 8 bytes.
    Truncated,
}

impl fmt::Display for UdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("truncated UDP header")
    }
}

impl std::error::Error for UdpError {}

/// A zero-copy view of a UDP datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpPacket<'a> {
    buf: &'a [u8],
}

impl<'a> UdpPacket<'a> {
    /// Checks that the 8-byte header is present.
    pub fn new_checked(buf: &'a [u8]) -> Result<UdpPacket<'a>, UdpError> {
        if buf.len() < HEADER_LEN {
            return Err(UdpError::Truncated);
        }
        Ok(UdpPacket { buf })
    }
    /// Source port.
    pub fn src_port(&self) -> u16 {
        u16::from_be_bytes([self.buf[0], self.buf[1]])
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        u16::from_be_bytes([self.buf[2], self.buf[3]])
    }
    /// Length field (header plus data, as claimed).
    pub fn len(&self) -> u16 {
        u16::from_be_bytes([self.buf[4], self.buf[5]])
    }
    /// Whether the length field claims an empty datagram (not even a header).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Checksum field (0 means none for IPv4, RFC 768).
    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes([self.buf[6], self.buf[7]])
    }
    /// The captured data after the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[HEADER_LEN..]
    }
}

/// A UDP datagram to emit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Overrides the checksum field; `None` computes it over the pseudo-header.
    pub checksum: Option<u16>,
}

impl UdpRepr {
    /// Emits header and payload with the checksum computed over `ph` (RFC 768).
    pub fn emit(&self, ph: &PseudoHeader, payload: &[u8]) -> Vec<u8> {
        let len = (HEADER_LEN + payload.len()).min(usize::from(u16::MAX)) as u16;
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(&self.src_port.to_be_bytes());
        out.extend_from_slice(&self.dst_port.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(payload);
        let ck = self.checksum.unwrap_or_else(|| {
            let mut c: Checksum = ph.checksum(crate::checksum::PROTO_UDP, u32::from(len));
            c.add_bytes(&out);
            // RFC 768: a computed zero is transmitted as all ones.
            match c.finish() {
                0 => 0xffff,
                x => x,
            }
        });
        out[6..8].copy_from_slice(&ck.to_be_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn emit_and_verify() {
        let ph = PseudoHeader::v4(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let bytes = UdpRepr {
            src_port: 40000,
            dst_port: 40001,
            checksum: None,
        }
        .emit(&ph, b"hello");
        let u = UdpPacket::new_checked(&bytes).unwrap();
        assert_eq!((u.src_port(), u.dst_port(), u.len()), (40000, 40001, 13));
        let mut c = ph.checksum(17, 13);
        c.add_bytes(&bytes);
        assert_eq!(c.finish(), 0);
        assert_eq!(UdpPacket::new_checked(&[0; 7]), Err(UdpError::Truncated));
    }
}
