//! IPv6 header (RFC 8200): a zero-copy view that walks the extension-header chain to the
//! upper-layer protocol, and an emitter that can produce extension headers.

use core::fmt;
use std::net::Ipv6Addr;

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = 40;

/// Next-header value: hop-by-hop options (RFC 8200 §4.3).
pub const NH_HOP_BY_HOP: u8 = 0;
/// Next-header value: routing header (RFC 8200 §4.4).
pub const NH_ROUTING: u8 = 43;
/// Next-header value: fragment header (RFC 8200 §4.5).
pub const NH_FRAGMENT: u8 = 44;
/// Next-header value: destination options (RFC 8200 §4.6).
pub const NH_DEST_OPTS: u8 = 60;
/// Next-header value: no next header (RFC 8200 §4.7).
pub const NH_NONE: u8 = 59;

/// Why a buffer is not a usable IPv6 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ipv6Error {
    /// Fewer bytes than the fixed header, or an extension header runs past the data.
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        have: usize,
    },
    /// The version nibble is not 6.
    BadVersion(u8),
}

impl fmt::Display for Ipv6Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ipv6Error::Truncated { needed, have } => {
                write!(f, "truncated IPv6 packet: need {needed} bytes, have {have}")
            }
            Ipv6Error::BadVersion(v) => write!(f, "IP version {v}, expected 6"),
        }
    }
}

impl std::error::Error for Ipv6Error {}

/// A validated zero-copy view of an IPv6 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Packet<'a> {
    buf: &'a [u8],
}

/// One extension header found while walking the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtHeader<'a> {
    /// This header's type (the next-header value that announced it).
    pub kind: u8,
    /// The next-header value it carries.
    pub next_header: u8,
    /// Offset of this header from the start of the IPv6 packet.
    pub offset: usize,
    /// The whole extension header (including its next-header and length bytes).
    pub bytes: &'a [u8],
}

/// Fragment header fields (RFC 8200 §4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// Fragment offset in 8-byte units.
    pub offset: u16,
    /// More-fragments flag.
    pub more: bool,
    /// Identification.
    pub id: u32,
}

/// Where the chain of extension headers ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpperLayer<'a> {
    /// The upper-layer protocol number (59 if there is no next header).
    pub protocol: u8,
    /// Offset of the upper-layer header from the start of the IPv6 packet.
    pub offset: usize,
    /// The upper-layer bytes: bounded by the payload length when captured beyond it.
    pub payload: &'a [u8],
    /// The fragment header, if one was crossed.
    pub fragment: Option<Fragment>,
}

/// Whether `nh` is an extension header this module walks.
pub fn is_extension(nh: u8) -> bool {
    matches!(nh, NH_HOP_BY_HOP | NH_ROUTING | NH_FRAGMENT | NH_DEST_OPTS)
}

impl<'a> Ipv6Packet<'a> {
    /// Checks the version and that the fixed header is present.
    pub fn new_checked(buf: &'a [u8]) -> Result<Ipv6Packet<'a>, Ipv6Error> {
        if buf.len() < HEADER_LEN {
            return Err(Ipv6Error::Truncated {
                needed: HEADER_LEN,
                have: buf.len(),
            });
        }
        let v = buf[0] >> 4;
        if v != 6 {
            return Err(Ipv6Error::BadVersion(v));
        }
        Ok(Ipv6Packet { buf })
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
    /// Traffic class (DSCP and ECN).
    pub fn traffic_class(&self) -> u8 {
        (self.buf[0] << 4) | (self.buf[1] >> 4)
    }
    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        (u32::from(self.buf[1] & 0x0f) << 16)
            | (u32::from(self.buf[2]) << 8)
            | u32::from(self.buf[3])
    }
    /// Payload length field.
    pub fn payload_len(&self) -> u16 {
        u16::from_be_bytes([self.buf[4], self.buf[5]])
    }
    /// Next-header field of the fixed header.
    pub fn next_header(&self) -> u8 {
        self.buf[6]
    }
    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buf[7]
    }
    /// Source address.
    pub fn src(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buf[8..24]);
        Ipv6Addr::from(a)
    }
    /// Destination address.
    pub fn dst(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buf[24..40]);
        Ipv6Addr::from(a)
    }
    /// Bytes after the fixed header, bounded by the payload length when more was captured.
    pub fn payload(&self) -> &'a [u8] {
        let end = (HEADER_LEN + usize::from(self.payload_len())).min(self.buf.len());
        &self.buf[HEADER_LEN..end]
    }

    /// Iterates over the extension headers (hop-by-hop, routing, fragment, destination
    /// options) in order. The iterator ends at the first non-extension next header; a
    /// header that runs past the captured data yields an error and ends the walk.
    pub fn ext_headers(&self) -> ExtHeaders<'a> {
        ExtHeaders {
            buf: self.buf,
            next: self.next_header(),
            offset: HEADER_LEN,
            done: false,
        }
    }

    /// Walks the chain to the upper-layer header (RFC 8200 §4.1).
    pub fn upper_layer(&self) -> Result<UpperLayer<'a>, Ipv6Error> {
        let mut fragment = None;
        let mut protocol = self.next_header();
        let mut offset = HEADER_LEN;
        for h in self.ext_headers() {
            let h = h?;
            if h.kind == NH_FRAGMENT && h.bytes.len() >= 8 {
                let fo = u16::from_be_bytes([h.bytes[2], h.bytes[3]]);
                fragment = Some(Fragment {
                    offset: fo >> 3,
                    more: fo & 1 != 0,
                    id: u32::from_be_bytes([h.bytes[4], h.bytes[5], h.bytes[6], h.bytes[7]]),
                });
            }
            protocol = h.next_header;
            offset = h.offset + h.bytes.len();
        }
        let end = (HEADER_LEN + usize::from(self.payload_len())).min(self.buf.len());
        let payload = self.buf.get(offset..end.max(offset)).unwrap_or(&[]);
        Ok(UpperLayer {
            protocol,
            offset,
            payload,
            fragment,
        })
    }
}

/// Iterator over IPv6 extension headers; see [`Ipv6Packet::ext_headers`].
#[derive(Clone, Debug)]
pub struct ExtHeaders<'a> {
    buf: &'a [u8],
    next: u8,
    offset: usize,
    done: bool,
}

impl<'a> Iterator for ExtHeaders<'a> {
    type Item = Result<ExtHeader<'a>, Ipv6Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || !is_extension(self.next) {
            return None;
        }
        let have = self.buf.len();
        if self.offset + 2 > have {
            self.done = true;
            return Some(Err(Ipv6Error::Truncated {
                needed: self.offset + 2,
                have,
            }));
        }
        // RFC 8200 §4.5: the fragment header has a fixed length of 8; the others carry
        // their length in 8-octet units, not counting the first 8 octets.
        let len = if self.next == NH_FRAGMENT {
            8
        } else {
            (usize::from(self.buf[self.offset + 1]) + 1) * 8
        };
        if self.offset + len > have {
            self.done = true;
            return Some(Err(Ipv6Error::Truncated {
                needed: self.offset + len,
                have,
            }));
        }
        let bytes = &self.buf[self.offset..self.offset + len];
        let h = ExtHeader {
            kind: self.next,
            next_header: bytes[0],
            offset: self.offset,
            bytes,
        };
        self.next = bytes[0];
        self.offset += len;
        Some(Ok(h))
    }
}

/// An extension header to emit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtRepr {
    /// Hop-by-hop options: the option bytes, padded with PadN to a multiple of 8 with
    /// the two leading bytes.
    HopByHop(Vec<u8>),
    /// Destination options, padded like hop-by-hop.
    DestOpts(Vec<u8>),
    /// Routing header (RFC 8200 §4.4) with its type-specific data padded to 8 octets.
    Routing {
        /// Routing type.
        routing_type: u8,
        /// Segments left.
        segments_left: u8,
        /// Type-specific data (after the 4 fixed bytes).
        data: Vec<u8>,
    },
    /// Fragment header.
    Fragment(Fragment),
}

fn pad_options(opts: &[u8]) -> Vec<u8> {
    // RFC 8200 §4.2: Pad1 is a single zero byte, PadN is type 1 with a length.
    let mut v = opts.to_vec();
    let rem = (2 + v.len()) % 8;
    if rem != 0 {
        let pad = 8 - rem;
        if pad == 1 {
            v.push(0);
        } else {
            v.push(1);
            v.push((pad - 2) as u8);
            v.extend(std::iter::repeat_n(0, pad - 2));
        }
    }
    v
}

impl ExtRepr {
    /// The header type number.
    pub fn kind(&self) -> u8 {
        match self {
            ExtRepr::HopByHop(_) => NH_HOP_BY_HOP,
            ExtRepr::DestOpts(_) => NH_DEST_OPTS,
            ExtRepr::Routing { .. } => NH_ROUTING,
            ExtRepr::Fragment(_) => NH_FRAGMENT,
        }
    }

    /// Emits the header with `next` as its next-header value.
    pub fn emit(&self, next: u8) -> Vec<u8> {
        let body: Vec<u8> = match self {
            ExtRepr::HopByHop(o) | ExtRepr::DestOpts(o) => pad_options(o),
            ExtRepr::Routing {
                routing_type,
                segments_left,
                data,
            } => {
                let mut v = vec![*routing_type, *segments_left];
                v.extend_from_slice(data);
                while (v.len() + 2) % 8 != 0 {
                    v.push(0);
                }
                v
            }
            ExtRepr::Fragment(f) => {
                let fo = ((f.offset & 0x1fff) << 3) | u16::from(f.more);
                let mut v = vec![0];
                v.extend_from_slice(&fo.to_be_bytes());
                v.extend_from_slice(&f.id.to_be_bytes());
                // The fragment header's second byte is reserved, not a length.
                let mut out = vec![next];
                out.extend_from_slice(&v);
                return out;
            }
        };
        let units = (body.len() + 2) / 8 - 1;
        let mut out = vec![next, units.min(255) as u8];
        out.extend_from_slice(&body);
        out
    }
}

/// A high-level IPv6 header with extension headers, for emitting packets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv6Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Upper-layer protocol (the last next-header value of the chain).
    pub protocol: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// Extension headers, in order.
    pub ext: Vec<ExtRepr>,
    /// Overrides the payload-length field; `None` computes it.
    pub payload_len: Option<u16>,
}

impl Ipv6Repr {
    /// A plain header: hop limit 64, no extension headers.
    pub fn new(src: Ipv6Addr, dst: Ipv6Addr, protocol: u8) -> Ipv6Repr {
        Ipv6Repr {
            src,
            dst,
            protocol,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
            ext: Vec::new(),
            payload_len: None,
        }
    }

    /// Emits the fixed header, the extension headers, then `payload`.
    pub fn emit(&self, payload: &[u8]) -> Vec<u8> {
        let mut exts = Vec::new();
        for (i, e) in self.ext.iter().enumerate() {
            let next = self.ext.get(i + 1).map_or(self.protocol, ExtRepr::kind);
            exts.extend_from_slice(&e.emit(next));
        }
        let first = self.ext.first().map_or(self.protocol, ExtRepr::kind);
        let plen = self
            .payload_len
            .unwrap_or_else(|| (exts.len() + payload.len()).min(usize::from(u16::MAX)) as u16);
        let mut out = Vec::with_capacity(HEADER_LEN + exts.len() + payload.len());
        let fl = self.flow_label & 0xf_ffff;
        let word = (6u32 << 28) | (u32::from(self.traffic_class) << 20) | fl;
        out.extend_from_slice(&word.to_be_bytes());
        out.extend_from_slice(&plen.to_be_bytes());
        out.push(first);
        out.push(self.hop_limit);
        out.extend_from_slice(&self.src.octets());
        out.extend_from_slice(&self.dst.octets());
        out.extend_from_slice(&exts);
        out.extend_from_slice(payload);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_walk_reaches_tcp() {
        let mut r = Ipv6Repr::new(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, 6);
        r.ext = vec![
            ExtRepr::HopByHop(vec![]),
            ExtRepr::Routing {
                routing_type: 0,
                segments_left: 0,
                data: vec![0; 4],
            },
            ExtRepr::Fragment(Fragment {
                offset: 0,
                more: true,
                id: 7,
            }),
            ExtRepr::DestOpts(vec![1, 4, 0, 0, 0, 0]),
        ];
        r.flow_label = 0x12345;
        r.traffic_class = 0xb8;
        let bytes = r.emit(&[9; 20]);
        let p = Ipv6Packet::new_checked(&bytes).unwrap();
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.traffic_class(), 0xb8);
        let kinds: Vec<u8> = p.ext_headers().map(|h| h.unwrap().kind).collect();
        assert_eq!(kinds, vec![0, 43, 44, 60]);
        let up = p.upper_layer().unwrap();
        assert_eq!(up.protocol, 6);
        assert_eq!(up.payload, &[9; 20]);
        assert_eq!(
            up.fragment,
            Some(Fragment {
                offset: 0,
                more: true,
                id: 7
            })
        );
    }

    #[test]
    fn truncated_chain_is_an_error() {
        let mut r = Ipv6Repr::new(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, 6);
        r.ext = vec![ExtRepr::HopByHop(vec![1, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])];
        let bytes = r.emit(&[]);
        let p = Ipv6Packet::new_checked(&bytes[..44]).unwrap();
        assert!(matches!(p.upper_layer(), Err(Ipv6Error::Truncated { .. })));
        assert_eq!(
            Ipv6Packet::new_checked(&[0x45; 40]),
            Err(Ipv6Error::BadVersion(4))
        );
    }
}
