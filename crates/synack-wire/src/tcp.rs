//! The TCP header (RFC 9293 §3.1): a zero-copy view ([`TcpHeader`]) over received bytes
//! and an owned representation ([`TcpRepr`]) that emits a segment with its checksum.
//!
//! ```
//! use core::net::Ipv4Addr;
//! use synack_wire::checksum::PseudoHeader;
//! use synack_wire::tcp::{TcpHeader, TcpRepr};
//! use synack_wire::tcp_options::SynOptions;
//! use synack_wire::TcpFlags;
//!
//! let pseudo = PseudoHeader::v4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST);
//! let repr = TcpRepr {
//!     src_port: 38560,
//!     dst_port: 23,
//!     seq: 4242890062,
//!     flags: TcpFlags::SYN,
//!     window: 65495,
//!     options: SynOptions {
//!         mss: Some(65495),
//!         window_scale: Some(7),
//!         sack_permitted: true,
//!         timestamps: Some((3913303147, 0)),
//!     }
//!     .linux_layout(),
//!     ..TcpRepr::default()
//! };
//! let mut buf = [0u8; 60];
//! let n = repr.emit(&mut buf, b"", pseudo).unwrap();
//! assert_eq!(n, 40);
//! let hdr = TcpHeader::parse(&buf[..n]).unwrap();
//! assert!(hdr.verify_checksum(&pseudo));
//! assert_eq!(hdr.options_summary().mss, Some(65495));
//! assert_eq!(TcpRepr::from_header(&hdr), repr);
//! ```

use core::fmt;

use crate::TcpFlags;
use crate::checksum::{Checksum, PROTO_TCP, PseudoHeader};
use crate::tcp_options::{OptionIter, TcpOptionBuf, TcpOptionsSummary, options};

/// Length of the fixed TCP header, without options.
pub const HEADER_LEN: usize = 20;

/// Largest header length the 4-bit data offset can express (15 words).
pub const MAX_HEADER_LEN: usize = 60;

/// Offset of the checksum field in the TCP header.
pub const CHECKSUM_OFFSET: usize = 16;

/// Why a TCP header could not be parsed or emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpError {
    /// Fewer than 20 bytes: not even the fixed header is there.
    Truncated {
        /// Bytes available.
        len: usize,
    },
    /// The data offset is below 5 words (RFC 9293 §3.1: the header is at least 20 bytes).
    BadDataOffset {
        /// The data offset field (in 32-bit words).
        data_offset: u8,
    },
    /// The data offset points past the end of the bytes available.
    HeaderPastEnd {
        /// Header length the data offset announces, in bytes.
        header_len: usize,
        /// Bytes available.
        len: usize,
    },
    /// The output buffer is too small for the segment.
    BufferTooSmall {
        /// Bytes required.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}

impl fmt::Display for TcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpError::Truncated { len } => write!(f, "TCP header truncated: {len} < 20 bytes"),
            TcpError::BadDataOffset { data_offset } => {
                write!(f, "TCP data offset {data_offset} below 5 words")
            }
            TcpError::HeaderPastEnd { header_len, len } => {
                write!(
                    f,
                    "TCP header length {header_len} exceeds the {len} bytes present"
                )
            }
            TcpError::BufferTooSmall { needed, available } => {
                write!(f, "buffer too small: need {needed} bytes, have {available}")
            }
        }
    }
}

impl core::error::Error for TcpError {}

/// A zero-copy view of a TCP segment (header, options and payload).
///
/// The slice should be exactly the segment (the IP payload, trimmed to the IP length) for
/// the checksum and [`TcpHeader::payload`] to be meaningful. Every accessor is safe on any
/// view: a view from [`TcpHeader::parse_lenient`] with a bad data offset returns clamped
/// (possibly empty) options and payload.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpHeader<'a> {
    buf: &'a [u8],
}

impl<'a> TcpHeader<'a> {
    /// Parses a segment: at least 20 bytes, data offset at least 5 and within `buf`
    /// (RFC 9293 §3.1).
    pub fn parse(buf: &'a [u8]) -> Result<TcpHeader<'a>, TcpError> {
        let h = TcpHeader::parse_lenient(buf)?;
        let data_offset = h.data_offset();
        if (data_offset as usize) < HEADER_LEN / 4 {
            return Err(TcpError::BadDataOffset { data_offset });
        }
        if h.header_len() > buf.len() {
            return Err(TcpError::HeaderPastEnd {
                header_len: h.header_len(),
                len: buf.len(),
            });
        }
        Ok(h)
    }

    /// A view that only requires the 20-byte fixed header, leaving the data offset
    /// unchecked (for printers that show malformed headers, e.g. a snaplen-truncated
    /// capture whose options were cut off).
    pub fn parse_lenient(buf: &'a [u8]) -> Result<TcpHeader<'a>, TcpError> {
        if buf.len() < HEADER_LEN {
            return Err(TcpError::Truncated { len: buf.len() });
        }
        Ok(TcpHeader { buf })
    }

    fn u16_at(&self, at: usize) -> u16 {
        u16::from_be_bytes([self.buf[at], self.buf[at + 1]])
    }

    fn u32_at(&self, at: usize) -> u32 {
        u32::from_be_bytes([
            self.buf[at],
            self.buf[at + 1],
            self.buf[at + 2],
            self.buf[at + 3],
        ])
    }

    /// The whole segment.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        self.u16_at(0)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        self.u16_at(2)
    }

    /// Sequence number.
    pub fn seq(&self) -> u32 {
        self.u32_at(4)
    }

    /// Acknowledgment number (meaningful when ACK is set).
    pub fn ack(&self) -> u32 {
        self.u32_at(8)
    }

    /// Data offset: the header length in 32-bit words.
    pub fn data_offset(&self) -> u8 {
        self.buf[12] >> 4
    }

    /// Header length in bytes as the data offset announces it (may exceed the buffer in a
    /// lenient view).
    pub fn header_len(&self) -> usize {
        self.data_offset() as usize * 4
    }

    /// The nine control flags, NS included.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags::from_header_bytes(self.buf[12], self.buf[13])
    }

    /// The three reserved bits between the data offset and NS (RFC 9293 §3.1: must be zero
    /// when sent, ignored when received).
    pub fn reserved(&self) -> u8 {
        (self.buf[12] >> 1) & 0x7
    }

    /// Window field (unscaled).
    pub fn window(&self) -> u16 {
        self.u16_at(14)
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        self.u16_at(CHECKSUM_OFFSET)
    }

    /// Urgent pointer field (meaningful when URG is set).
    pub fn urgent_ptr(&self) -> u16 {
        self.u16_at(18)
    }

    /// Option bytes: from byte 20 to the data offset, clamped to the buffer.
    pub fn options_bytes(&self) -> &'a [u8] {
        let end = self.header_len().clamp(HEADER_LEN, self.buf.len());
        &self.buf[HEADER_LEN..end]
    }

    /// Iterates over the options.
    pub fn options(&self) -> OptionIter<'a> {
        options(self.options_bytes())
    }

    /// The parsed summary of the options (MSS, window scale, SACK, timestamps, malformed).
    pub fn options_summary(&self) -> TcpOptionsSummary {
        TcpOptionsSummary::parse(self.options_bytes())
    }

    /// The payload: everything after the header (after byte 20 if the data offset is below
    /// 5; empty if it points past the end).
    pub fn payload(&self) -> &'a [u8] {
        let start = self.header_len().clamp(HEADER_LEN, self.buf.len());
        &self.buf[start..]
    }

    /// The checksum this segment should carry under `pseudo` (RFC 9293 §3.1), computed with
    /// the checksum field taken as zero. Compare with [`TcpHeader::checksum`].
    pub fn compute_checksum(&self, pseudo: &PseudoHeader) -> u16 {
        let mut c = pseudo.checksum(PROTO_TCP, self.buf.len() as u32);
        c.add_bytes(&self.buf[..CHECKSUM_OFFSET]);
        c.add_bytes(&self.buf[CHECKSUM_OFFSET + 2..]);
        c.finish()
    }

    /// Whether the checksum is correct under `pseudo`: the sum over pseudo-header and
    /// segment, checksum field included, is zero once complemented.
    pub fn verify_checksum(&self, pseudo: &PseudoHeader) -> bool {
        let mut c = pseudo.checksum(PROTO_TCP, self.buf.len() as u32);
        c.add_bytes(self.buf);
        c.finish() == 0
    }
}

impl fmt::Debug for TcpHeader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpHeader")
            .field("src_port", &self.src_port())
            .field("dst_port", &self.dst_port())
            .field("seq", &self.seq())
            .field("ack", &self.ack())
            .field("data_offset", &self.data_offset())
            .field("flags", &self.flags())
            .field("window", &self.window())
            .field("checksum", &format_args!("{:#06x}", self.checksum()))
            .field("urgent_ptr", &self.urgent_ptr())
            .field("options", &self.options_bytes())
            .field("payload_len", &self.payload().len())
            .finish()
    }
}

/// An owned TCP header: every field plus the encoded options (no heap).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Control flags (NS included).
    pub flags: TcpFlags,
    /// The three reserved bits (0..=7); zero in anything but a test corpus.
    pub reserved: u8,
    /// Window field (already scaled down by the sender's shift).
    pub window: u16,
    /// Urgent pointer.
    pub urgent_ptr: u16,
    /// Options, encoded and padded to a multiple of 4 bytes.
    pub options: TcpOptionBuf,
}

/// Deliberate deviations for [`TcpRepr::emit_with`], to build malformed test segments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EmitOverrides {
    /// Write this 4-bit data offset instead of the true one (the layout of the bytes
    /// written does not change).
    pub data_offset: Option<u8>,
    /// Write this checksum instead of the computed one.
    pub checksum: Option<u16>,
}

impl TcpRepr {
    /// Copies the fields of a parsed header. Option bytes beyond 40 (impossible in a header
    /// from [`TcpHeader::parse`]) are dropped.
    pub fn from_header(h: &TcpHeader<'_>) -> TcpRepr {
        TcpRepr {
            src_port: h.src_port(),
            dst_port: h.dst_port(),
            seq: h.seq(),
            ack: h.ack(),
            flags: h.flags(),
            reserved: h.reserved(),
            window: h.window(),
            urgent_ptr: h.urgent_ptr(),
            options: TcpOptionBuf::from_bytes(h.options_bytes()).unwrap_or_default(),
        }
    }

    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.len()
    }

    /// Writes the header and options at the start of `buf` with a zero checksum, returning
    /// the header length. Use [`fill_checksum`] once the payload is in place.
    pub fn emit_header(&self, buf: &mut [u8]) -> Result<usize, TcpError> {
        let n = self.header_len();
        let Some(out) = buf.get_mut(..n) else {
            return Err(TcpError::BufferTooSmall {
                needed: n,
                available: buf.len(),
            });
        };
        let flags = self.flags.bits();
        let data_offset = (n / 4) as u8;
        out[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        out[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        out[4..8].copy_from_slice(&self.seq.to_be_bytes());
        out[8..12].copy_from_slice(&self.ack.to_be_bytes());
        out[12] = (data_offset << 4) | ((self.reserved & 0x7) << 1) | ((flags >> 8) as u8 & 1);
        out[13] = flags as u8;
        out[14..16].copy_from_slice(&self.window.to_be_bytes());
        out[16..18].copy_from_slice(&[0, 0]);
        out[18..20].copy_from_slice(&self.urgent_ptr.to_be_bytes());
        out[HEADER_LEN..].copy_from_slice(self.options.as_bytes());
        Ok(n)
    }

    /// Writes header, options and `payload` into `buf` with the checksum computed under
    /// `pseudo`, returning the segment length.
    pub fn emit(
        &self,
        buf: &mut [u8],
        payload: &[u8],
        pseudo: PseudoHeader,
    ) -> Result<usize, TcpError> {
        self.emit_with(buf, payload, pseudo, EmitOverrides::default())
    }

    /// Like [`TcpRepr::emit`], but with a forced data offset and/or checksum. A forced data
    /// offset is written before the checksum is computed, so the checksum stays correct
    /// unless it is forced too.
    pub fn emit_with(
        &self,
        buf: &mut [u8],
        payload: &[u8],
        pseudo: PseudoHeader,
        overrides: EmitOverrides,
    ) -> Result<usize, TcpError> {
        let total = self.header_len() + payload.len();
        if buf.len() < total {
            return Err(TcpError::BufferTooSmall {
                needed: total,
                available: buf.len(),
            });
        }
        let h = self.emit_header(buf)?;
        buf[h..total].copy_from_slice(payload);
        if let Some(off) = overrides.data_offset {
            buf[12] = (buf[12] & 0x0f) | ((off & 0x0f) << 4);
        }
        let segment = &mut buf[..total];
        match overrides.checksum {
            Some(c) => {
                segment[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2].copy_from_slice(&c.to_be_bytes())
            }
            None => {
                fill_checksum(segment, &pseudo)?;
            }
        }
        Ok(total)
    }
}

/// Computes and stores the checksum of the complete segment `segment` under `pseudo`
/// (RFC 9293 §3.1), returning it. The current content of the checksum field is ignored.
pub fn fill_checksum(segment: &mut [u8], pseudo: &PseudoHeader) -> Result<u16, TcpError> {
    if segment.len() < HEADER_LEN {
        return Err(TcpError::Truncated { len: segment.len() });
    }
    let mut c: Checksum = pseudo.checksum(PROTO_TCP, segment.len() as u32);
    c.add_bytes(&segment[..CHECKSUM_OFFSET]);
    c.add_bytes(&segment[CHECKSUM_OFFSET + 2..]);
    let sum = c.finish();
    segment[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2].copy_from_slice(&sum.to_be_bytes());
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp_options::{SynOptions, TcpOption};
    use core::net::{Ipv4Addr, Ipv6Addr};

    /// The TCP part of the seed's SYN (seeds/000, section 三.3).
    const SEED_SYN: [u8; 40] = [
        0x96, 0xa0, 0x00, 0x17, 0xfc, 0xe5, 0x5d, 0x4e, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xff,
        0xd7, 0xfe, 0x30, 0x00, 0x00, 0x02, 0x04, 0xff, 0xd7, 0x04, 0x02, 0x08, 0x0a, 0xe9, 0x40,
        0x44, 0x6b, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    #[test]
    fn parse_fields() {
        let h = TcpHeader::parse(&SEED_SYN).unwrap();
        assert_eq!(h.src_port(), 38560);
        assert_eq!(h.dst_port(), 23);
        assert_eq!(h.seq(), 4242890062);
        assert_eq!(h.ack(), 0);
        assert_eq!(h.data_offset(), 10);
        assert_eq!(h.flags(), TcpFlags::SYN);
        assert_eq!(h.window(), 65495);
        assert_eq!(h.urgent_ptr(), 0);
        assert_eq!(h.options_bytes().len(), 20);
        assert!(h.payload().is_empty());
        let opts: Vec<_> = h.options().map(|o| o.unwrap()).collect();
        assert_eq!(opts[0], TcpOption::Mss(65495));
        assert_eq!(opts[4], TcpOption::WindowScale(7));
    }

    #[test]
    fn emit_matches_linux_bytes() {
        let h = TcpHeader::parse(&SEED_SYN).unwrap();
        let repr = TcpRepr::from_header(&h);
        assert_eq!(
            repr.options,
            SynOptions {
                mss: Some(65495),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: Some((0xe940_446b, 0)),
            }
            .linux_layout()
        );
        let pseudo = PseudoHeader::v4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST);
        let mut out = [0u8; 40];
        let mut want = SEED_SYN;
        let n = repr.emit(&mut out, &[], pseudo).unwrap();
        let sum = fill_checksum(&mut want, &pseudo).unwrap();
        assert_eq!(n, 40);
        assert_eq!(out, want);
        assert_eq!(TcpHeader::parse(&out).unwrap().checksum(), sum);
    }

    #[test]
    fn loopback_partial_checksum() {
        // Linux offloads the checksum on loopback (CHECKSUM_PARTIAL): the captured field
        // holds only the folded pseudo-header sum, so it does not verify.
        let h = TcpHeader::parse(&SEED_SYN).unwrap();
        let pseudo = PseudoHeader::v4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST);
        assert_eq!(h.checksum(), pseudo.checksum(PROTO_TCP, 40).sum());
        assert!(!h.verify_checksum(&pseudo));
        assert_ne!(h.compute_checksum(&pseudo), h.checksum());
    }

    #[test]
    fn parse_errors() {
        assert_eq!(
            TcpHeader::parse(&SEED_SYN[..19]),
            Err(TcpError::Truncated { len: 19 })
        );
        assert_eq!(
            TcpHeader::parse(&SEED_SYN[..39]),
            Err(TcpError::HeaderPastEnd {
                header_len: 40,
                len: 39
            })
        );
        let mut bad = SEED_SYN;
        bad[12] = 0x40;
        assert_eq!(
            TcpHeader::parse(&bad),
            Err(TcpError::BadDataOffset { data_offset: 4 })
        );
        let lenient = TcpHeader::parse_lenient(&bad).unwrap();
        assert!(lenient.options_bytes().is_empty());
        assert_eq!(lenient.payload().len(), 20);
        let lenient = TcpHeader::parse_lenient(&SEED_SYN[..30]).unwrap();
        assert_eq!(lenient.options_bytes().len(), 10);
        assert!(lenient.payload().is_empty());
    }

    #[test]
    fn checksum_v6_and_overrides() {
        let pseudo = PseudoHeader::v6(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST);
        let repr = TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq: 3,
            ack: 4,
            flags: TcpFlags::ACK | TcpFlags::PSH | TcpFlags::NS,
            reserved: 5,
            window: 6,
            urgent_ptr: 7,
            options: crate::tcp_options::established_layout(Some((8, 9)), &[]),
        };
        let mut buf = [0u8; 100];
        let n = repr.emit(&mut buf, b"hello", pseudo).unwrap();
        let h = TcpHeader::parse(&buf[..n]).unwrap();
        assert!(h.verify_checksum(&pseudo));
        assert_eq!(h.compute_checksum(&pseudo), h.checksum());
        assert_eq!(h.payload(), b"hello");
        assert_eq!(h.reserved(), 5);
        assert_eq!(TcpRepr::from_header(&h), repr);
        let v4 = PseudoHeader::v4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST);
        assert!(!h.verify_checksum(&v4));

        let o = EmitOverrides {
            data_offset: Some(15),
            checksum: Some(0x1234),
        };
        let n = repr.emit_with(&mut buf, b"hello", pseudo, o).unwrap();
        assert_eq!(n, 37);
        let h = TcpHeader::parse_lenient(&buf[..n]).unwrap();
        assert_eq!(h.data_offset(), 15);
        assert_eq!(h.checksum(), 0x1234);
        assert!(TcpHeader::parse(&buf[..n]).is_err());
        assert!(matches!(
            repr.emit(&mut buf[..36], b"hello", pseudo),
            Err(TcpError::BufferTooSmall { needed: 37, .. })
        ));
    }
}
