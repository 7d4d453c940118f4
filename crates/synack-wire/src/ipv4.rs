//! IPv4 header (RFC 791): a zero-copy view with validation, and an emitter.
//!
//! The view validates what a receiver needs before touching any field (version, IHL,
//! enough captured bytes for the header); everything else — checksum, total length versus
//! captured length, fragmentation — is reported, not enforced, so that a printer such as
//! the tcpdump module can show malformed packets the way tcpdump does.

use core::fmt;
use std::net::Ipv4Addr;

use crate::checksum::checksum;

/// Minimum IPv4 header length in bytes (RFC 791 §3.1: IHL ≥ 5).
pub const MIN_HEADER_LEN: usize = 20;

/// IP protocol number of ICMP.
pub const PROTO_ICMP: u8 = 1;
/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;
/// IP protocol number of ICMPv6.
pub const PROTO_ICMPV6: u8 = 58;

/// Why a buffer is not a usable IPv4 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ipv4Error {
    /// Fewer bytes than the fixed header or than the header length the IHL announces.
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        have: usize,
    },
    /// The version nibble is not 4.
    BadVersion(u8),
    /// The IHL is below 5 (RFC 791 §3.1).
    BadHeaderLength(u8),
}

impl fmt::Display for Ipv4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ipv4Error::Truncated { needed, have } => {
                write!(f, "truncated IPv4 header: need {needed} bytes, have {have}")
            }
            Ipv4Error::BadVersion(v) => write!(f, "IP version {v}, expected 4"),
            Ipv4Error::BadHeaderLength(ihl) => write!(f, "IPv4 IHL {ihl} below 5"),
        }
    }
}

impl std::error::Error for Ipv4Error {}

/// Bit of the flags/offset word: reserved ("evil bit", RFC 3514).
pub const FLAG_RESERVED: u16 = 0x8000;
/// Bit of the flags/offset word: don't fragment.
pub const FLAG_DF: u16 = 0x4000;
/// Bit of the flags/offset word: more fragments.
pub const FLAG_MF: u16 = 0x2000;
/// Mask of the fragment offset (in 8-byte units) in the flags/offset word.
pub const OFFSET_MASK: u16 = 0x1fff;

/// A validated, zero-copy view of an IPv4 packet (header and whatever was captured after it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Packet<'a> {
    buf: &'a [u8],
}

fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(s) => u16::from_be_bytes([s[0], s[1]]),
        None => 0,
    }
}

impl<'a> Ipv4Packet<'a> {
    /// Checks version, IHL and that the whole header (with options) is present.
    pub fn new_checked(buf: &'a [u8]) -> Result<Ipv4Packet<'a>, Ipv4Error> {
        if buf.len() < MIN_HEADER_LEN {
            return Err(Ipv4Error::Truncated {
                needed: MIN_HEADER_LEN,
                have: buf.len(),
            });
        }
        let version = buf[0] >> 4;
        if version != 4 {
            return Err(Ipv4Error::BadVersion(version));
        }
        let ihl = buf[0] & 0x0f;
        if ihl < 5 {
            return Err(Ipv4Error::BadHeaderLength(ihl));
        }
        let hlen = usize::from(ihl) * 4;
        if buf.len() < hlen {
            return Err(Ipv4Error::Truncated {
                needed: hlen,
                have: buf.len(),
            });
        }
        Ok(Ipv4Packet { buf })
    }

    /// The underlying bytes (header and everything captured after it).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
    /// Internet header length in 32-bit words.
    pub fn ihl(&self) -> u8 {
        self.buf[0] & 0x0f
    }
    /// Header length in bytes (IHL × 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.ihl()) * 4
    }
    /// The type-of-service byte (DSCP and ECN, RFC 2474 / RFC 3168).
    pub fn tos(&self) -> u8 {
        self.buf[1]
    }
    /// The DSCP (upper six bits of the TOS byte).
    pub fn dscp(&self) -> u8 {
        self.buf[1] >> 2
    }
    /// The ECN codepoint (RFC 3168 §5): 0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE.
    pub fn ecn(&self) -> u8 {
        self.buf[1] & 0x03
    }
    /// The total length field (header plus payload, as claimed by the sender).
    pub fn total_len(&self) -> u16 {
        be16(self.buf, 2)
    }
    /// The identification field.
    pub fn id(&self) -> u16 {
        be16(self.buf, 4)
    }
    /// The raw flags-and-fragment-offset word.
    pub fn flags_offset(&self) -> u16 {
        be16(self.buf, 6)
    }
    /// Don't-fragment flag.
    pub fn df(&self) -> bool {
        self.flags_offset() & FLAG_DF != 0
    }
    /// More-fragments flag.
    pub fn mf(&self) -> bool {
        self.flags_offset() & FLAG_MF != 0
    }
    /// The reserved flag bit.
    pub fn reserved_flag(&self) -> bool {
        self.flags_offset() & FLAG_RESERVED != 0
    }
    /// Fragment offset in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        self.flags_offset() & OFFSET_MASK
    }
    /// Whether this is a fragment (MF set or non-zero offset).
    pub fn is_fragment(&self) -> bool {
        self.mf() || self.frag_offset() != 0
    }
    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buf[8]
    }
    /// The protocol of the payload.
    pub fn protocol(&self) -> u8 {
        self.buf[9]
    }
    /// The header checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buf, 10)
    }
    /// Source address.
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.buf[12], self.buf[13], self.buf[14], self.buf[15])
    }
    /// Destination address.
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.buf[16], self.buf[17], self.buf[18], self.buf[19])
    }
    /// The header, options included.
    pub fn header(&self) -> &'a [u8] {
        &self.buf[..self.header_len()]
    }
    /// The options bytes (skipped by the stack, kept here for printers).
    pub fn options(&self) -> &'a [u8] {
        &self.buf[MIN_HEADER_LEN..self.header_len()]
    }
    /// Whether the header checksum verifies (RFC 791 §3.1, RFC 1071).
    #[inline]
    pub fn checksum_ok(&self) -> bool {
        // The 20-byte header without options (IHL 5, nearly every datagram): five 32-bit
        // words summed in native order, folded with end-around carry (RFC 1071 §2(B): the
        // order of bytes does not matter for an all-ones result), no loop.
        if let Some(h) = self.buf.first_chunk::<MIN_HEADER_LEN>()
            && self.ihl() == 5
        {
            let w = |i: usize| u64::from(u32::from_ne_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]));
            // At most 5 × (2^32 - 1): no overflow.
            let s = w(0) + w(4) + w(8) + w(12) + w(16);
            let s = (s & 0xffff_ffff) + (s >> 32);
            let s = (s & 0xffff) + (s >> 16);
            let s = (s & 0xffff) + (s >> 16);
            let s = (s & 0xffff) + (s >> 16);
            return s == 0xffff;
        }
        checksum(self.header()) == 0
    }
    /// The checksum the header should carry (computed with the field taken as zero).
    pub fn expected_checksum(&self) -> u16 {
        let h = self.header();
        let mut copy = h.to_vec();
        copy[10] = 0;
        copy[11] = 0;
        checksum(&copy)
    }
    /// The payload: the bytes after the header, bounded by the total length when that is
    /// shorter than what was captured (link-layer padding is not payload).
    pub fn payload(&self) -> &'a [u8] {
        let hlen = self.header_len();
        let total = usize::from(self.total_len());
        let end = if total >= hlen && total <= self.buf.len() {
            total
        } else {
            self.buf.len()
        };
        &self.buf[hlen..end]
    }
}

/// A high-level IPv4 header, for emitting packets (RFC 791 §3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Payload protocol.
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// Type of service byte (DSCP << 2 | ECN).
    pub tos: u8,
    /// Identification.
    pub id: u16,
    /// Don't fragment.
    pub df: bool,
    /// More fragments.
    pub mf: bool,
    /// The reserved flag bit.
    pub reserved_flag: bool,
    /// Fragment offset in 8-byte units (only the low 13 bits are used).
    pub frag_offset: u16,
    /// Option bytes, emitted verbatim and padded with zeros (EOL) to a multiple of 4.
    pub options: Vec<u8>,
    /// Overrides the total-length field (for malformed packets); `None` computes it.
    pub total_len: Option<u16>,
    /// Overrides the checksum field (for wrong checksums); `None` computes it.
    pub checksum: Option<u16>,
}

impl Ipv4Repr {
    /// A plain header: TTL 64, DF set, no options.
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> Ipv4Repr {
        Ipv4Repr {
            src,
            dst,
            protocol,
            ttl: 64,
            tos: 0,
            id: 0,
            df: true,
            mf: false,
            reserved_flag: false,
            frag_offset: 0,
            options: Vec::new(),
            total_len: None,
            checksum: None,
        }
    }

    /// Header length in bytes, options padded to a multiple of 4 (at most 60 is meaningful;
    /// longer options are truncated to fit IHL's 4 bits).
    pub fn header_len(&self) -> usize {
        let opt = self.options.len().min(40);
        MIN_HEADER_LEN + opt.div_ceil(4) * 4
    }

    /// Emits the header followed by `payload`.
    pub fn emit(&self, payload: &[u8]) -> Vec<u8> {
        let hlen = self.header_len();
        let mut out = vec![0u8; hlen];
        out[0] = 0x40 | (hlen / 4) as u8;
        out[1] = self.tos;
        let total = self
            .total_len
            .unwrap_or_else(|| (hlen + payload.len()).min(usize::from(u16::MAX)) as u16);
        out[2..4].copy_from_slice(&total.to_be_bytes());
        out[4..6].copy_from_slice(&self.id.to_be_bytes());
        let mut fo = self.frag_offset & OFFSET_MASK;
        if self.df {
            fo |= FLAG_DF;
        }
        if self.mf {
            fo |= FLAG_MF;
        }
        if self.reserved_flag {
            fo |= FLAG_RESERVED;
        }
        out[6..8].copy_from_slice(&fo.to_be_bytes());
        out[8] = self.ttl;
        out[9] = self.protocol;
        out[12..16].copy_from_slice(&self.src.octets());
        out[16..20].copy_from_slice(&self.dst.octets());
        let opt = &self.options[..self.options.len().min(40)];
        out[MIN_HEADER_LEN..MIN_HEADER_LEN + opt.len()].copy_from_slice(opt);
        let ck = self.checksum.unwrap_or_else(|| checksum(&out));
        out[10..12].copy_from_slice(&ck.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// Reads the fields of a parsed header back into a representation.
    pub fn parse(p: &Ipv4Packet<'_>) -> Ipv4Repr {
        Ipv4Repr {
            src: p.src(),
            dst: p.dst(),
            protocol: p.protocol(),
            ttl: p.ttl(),
            tos: p.tos(),
            id: p.id(),
            df: p.df(),
            mf: p.mf(),
            reserved_flag: p.reserved_flag(),
            frag_offset: p.frag_offset(),
            options: p.options().to_vec(),
            total_len: Some(p.total_len()),
            checksum: Some(p.checksum()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_header_parses_and_verifies() {
        let h = [
            0x45, 0x10, 0x00, 0x3c, 0xca, 0x49, 0x40, 0x00, 0x40, 0x06, 0x72, 0x60, 127, 0, 0, 1,
            127, 0, 0, 1,
        ];
        let p = Ipv4Packet::new_checked(&h).unwrap();
        assert_eq!(p.total_len(), 60);
        assert_eq!(p.id(), 0xca49);
        assert!(p.df() && !p.mf());
        assert_eq!(p.protocol(), PROTO_TCP);
        assert!(p.checksum_ok());
        assert_eq!(p.expected_checksum(), 0x7260);
    }

    #[test]
    fn emit_round_trip_with_options() {
        let mut r = Ipv4Repr::new(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            PROTO_UDP,
        );
        r.options = vec![1, 1, 1]; // three NOPs, padded with one EOL
        r.mf = true;
        r.frag_offset = 3;
        let bytes = r.emit(&[1, 2, 3]);
        let p = Ipv4Packet::new_checked(&bytes).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert!(p.checksum_ok());
        assert_eq!(p.payload(), &[1, 2, 3]);
        assert_eq!(p.frag_offset(), 3);
        assert!(p.mf() && p.df());
    }

    /// The straight 20-byte sum agrees with the general checksum on any header bytes
    /// (IHL 5), including all-zero and all-ones words and headers whose sum carries.
    #[test]
    fn short_header_sum_agrees_with_the_general_checksum() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut cases: Vec<[u8; 20]> = vec![[0; 20], [0xff; 20]];
        for _ in 0..20_000 {
            let mut h = [0u8; 20];
            for b in &mut h {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Mostly 0x00/0xff bytes, so sums land on the folding edges often.
                *b = match x >> 60 {
                    0..=5 => 0xff,
                    6..=9 => 0,
                    _ => x as u8,
                };
            }
            cases.push(h);
        }
        let mut oks = 0;
        for mut h in cases {
            h[0] = 0x45;
            // Half the cases carry their correct checksum, so `true` is exercised.
            if h[1] & 1 == 0 {
                h[10] = 0;
                h[11] = 0;
                let c = checksum(&h);
                h[10..12].copy_from_slice(&c.to_be_bytes());
            }
            let p = Ipv4Packet { buf: &h[..] };
            let want = checksum(&h) == 0;
            assert_eq!(p.checksum_ok(), want, "{h:02x?}");
            oks += usize::from(want);
        }
        assert!(oks > 5_000, "{oks}");
    }

    #[test]
    fn errors_not_panics() {
        assert!(matches!(
            Ipv4Packet::new_checked(&[0x45; 10]),
            Err(Ipv4Error::Truncated { .. })
        ));
        assert_eq!(
            Ipv4Packet::new_checked(&[0x65; 20]),
            Err(Ipv4Error::BadVersion(6))
        );
        assert_eq!(
            Ipv4Packet::new_checked(&[0x44; 20]),
            Err(Ipv4Error::BadHeaderLength(4))
        );
        assert!(matches!(
            Ipv4Packet::new_checked(&[0x46; 20]),
            Err(Ipv4Error::Truncated { needed: 24, .. })
        ));
    }
}
