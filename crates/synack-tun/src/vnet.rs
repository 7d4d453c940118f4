//! The virtio-net header a TUN device opened with `IFF_VNET_HDR` puts before every packet
//! (virtio 1.x §5.1.6, `struct virtio_net_hdr`; Linux `include/uapi/linux/virtio_net.h`),
//! and the work it hands to us: completing partial checksums (`NEEDS_CSUM`) and cutting
//! TCP super-packets (`gso_type` TCPV4/TCPV6) into MSS-sized segments, as the kernel's
//! software GSO would.
//!
//! Everything here takes bytes from the kernel and is still written not to panic on any
//! input: malformed packets are refused with a [`VnetError`].

use std::fmt;

use synack_wire::checksum::{Checksum, PseudoHeader};
use synack_wire::ipv4::{self, Ipv4Packet};
use synack_wire::ipv6::{self, Ipv6Packet};

/// Size of `struct virtio_net_hdr` (without `num_buffers`), the TUN default.
pub const HDR_LEN: usize = 10;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start + csum_offset` holds only
/// the pseudo-header sum; sum from `csum_start` to the end and store the complement there.
pub const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_F_DATA_VALID`: the checksum was already verified.
pub const F_DATA_VALID: u8 = 2;
/// `VIRTIO_NET_HDR_GSO_NONE`.
pub const GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
pub const GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_UDP` (UFO; never requested here).
pub const GSO_UDP: u8 = 3;
/// `VIRTIO_NET_HDR_GSO_TCPV6`.
pub const GSO_TCPV6: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_ECN`: the super-packet carries CWR (RFC 3168 §6.1.2), which
/// belongs on the first segment only.
pub const GSO_ECN: u8 = 0x80;

/// A parsed `struct virtio_net_hdr` (little-endian, as a TUN device on a little-endian
/// host, or with `TUNSETVNETLE`, writes it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr {
    /// `F_NEEDS_CSUM` / `F_DATA_VALID`.
    pub flags: u8,
    /// `GSO_*`, possibly with `GSO_ECN`.
    pub gso_type: u8,
    /// Length of the headers (a hint; not trusted here).
    pub hdr_len: u16,
    /// Payload bytes per segment (the MSS) for GSO packets.
    pub gso_size: u16,
    /// Where checksumming starts (the transport header).
    pub csum_start: u16,
    /// Offset of the checksum field from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHdr {
    /// Reads a header from the first [`HDR_LEN`] bytes.
    pub fn parse(b: &[u8]) -> Result<VnetHdr, VnetError> {
        let b: &[u8; HDR_LEN] = b
            .get(..HDR_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(VnetError::Truncated)?;
        let u = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        Ok(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
        })
    }

    /// The header's bytes.
    pub fn emit(&self) -> [u8; HDR_LEN] {
        let mut b = [0u8; HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        b
    }

    /// The GSO kind without the ECN bit.
    pub fn gso_kind(&self) -> u8 {
        self.gso_type & !GSO_ECN
    }
}

/// Why a packet from the device could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VnetError {
    /// Shorter than its headers say.
    Truncated,
    /// A checksum position outside the packet.
    BadChecksumPosition,
    /// A GSO kind this module does not segment (UDP, unknown).
    UnsupportedGso(u8),
    /// A GSO packet that is not TCP over IPv4/IPv6 as its header says, or has size 0.
    BadGsoPacket,
    /// The caller's buffer cannot hold a segment.
    BufferTooSmall,
}

impl fmt::Display for VnetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VnetError::Truncated => f.write_str("truncated packet"),
            VnetError::BadChecksumPosition => f.write_str("checksum position outside packet"),
            VnetError::UnsupportedGso(t) => write!(f, "unsupported GSO type {t}"),
            VnetError::BadGsoPacket => f.write_str("malformed GSO packet"),
            VnetError::BufferTooSmall => f.write_str("buffer too small for a segment"),
        }
    }
}

impl std::error::Error for VnetError {}

/// Completes a partial checksum (`F_NEEDS_CSUM`): the one's-complement sum from `start`
/// to the end (the field already holds the pseudo-header sum) is complemented into the
/// field at `start + offset`.
pub fn complete_checksum(pkt: &mut [u8], start: usize, offset: usize) -> Result<(), VnetError> {
    let field = start
        .checked_add(offset)
        .filter(|f| f.checked_add(2).is_some_and(|e| e <= pkt.len()))
        .ok_or(VnetError::BadChecksumPosition)?;
    let region = pkt.get(start..).ok_or(VnetError::BadChecksumPosition)?;
    let mut c = Checksum::new();
    c.add_bytes(region);
    let v = c.finish();
    pkt[field..field + 2].copy_from_slice(&v.to_be_bytes());
    Ok(())
}

/// Where the parts of a TCP super-packet are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpLayout {
    /// IPv6 (else IPv4).
    pub ipv6: bool,
    /// Offset of the TCP header.
    pub l4: usize,
    /// Offset of the payload (end of the TCP header).
    pub payload: usize,
    /// Payload bytes per segment.
    pub mss: usize,
    /// Number of segments.
    pub segments: usize,
}

/// Checks a TCP super-packet against its header and says how it divides.
pub fn tcp_layout(hdr: &VnetHdr, pkt: &[u8]) -> Result<TcpLayout, VnetError> {
    let kind = hdr.gso_kind();
    let (ipv6, l4) = match kind {
        GSO_TCPV4 => {
            let ip = Ipv4Packet::new_checked(pkt).map_err(|_| VnetError::BadGsoPacket)?;
            if ip.protocol() != ipv4::PROTO_TCP || ip.is_fragment() {
                return Err(VnetError::BadGsoPacket);
            }
            (false, ip.header_len())
        }
        GSO_TCPV6 => {
            let ip = Ipv6Packet::new_checked(pkt).map_err(|_| VnetError::BadGsoPacket)?;
            let up = ip.upper_layer().map_err(|_| VnetError::BadGsoPacket)?;
            if up.protocol != ipv4::PROTO_TCP || up.fragment.is_some() {
                return Err(VnetError::BadGsoPacket);
            }
            (true, up.offset)
        }
        other => return Err(VnetError::UnsupportedGso(other)),
    };
    let doff = pkt.get(l4 + 12).ok_or(VnetError::Truncated)? >> 4;
    let payload = l4 + usize::from(doff) * 4;
    if doff < 5 || payload > pkt.len() {
        return Err(VnetError::Truncated);
    }
    let mss = usize::from(hdr.gso_size);
    if mss == 0 {
        return Err(VnetError::BadGsoPacket);
    }
    let segments = (pkt.len() - payload).div_ceil(mss).max(1);
    Ok(TcpLayout {
        ipv6,
        l4,
        payload,
        mss,
        segments,
    })
}

/// Writes segment `index` of the super-packet `pkt` into `out` and returns its length:
/// the headers copied, lengths fixed, the IPv4 ID advanced by `index` (as Linux's TCP GSO
/// does), the sequence number advanced, FIN and PSH only on the last segment, CWR only
/// on the first, and both checksums computed in full.
pub fn tcp_segment(
    pkt: &[u8],
    lay: &TcpLayout,
    index: usize,
    out: &mut [u8],
) -> Result<usize, VnetError> {
    // A layout not made by `tcp_layout` for this packet is refused, not trusted.
    let min_l4 = if lay.ipv6 {
        ipv6::HEADER_LEN
    } else {
        ipv4::MIN_HEADER_LEN
    };
    if lay.l4 < min_l4 || lay.l4.saturating_add(20) > lay.payload || lay.mss == 0 {
        return Err(VnetError::BadGsoPacket);
    }
    let headers = pkt.get(..lay.payload).ok_or(VnetError::Truncated)?;
    let body = &pkt[lay.payload..];
    let from = index.checked_mul(lay.mss).ok_or(VnetError::BadGsoPacket)?;
    if index >= lay.segments || (from > body.len()) {
        return Err(VnetError::BadGsoPacket);
    }
    let to = from.saturating_add(lay.mss).min(body.len());
    let chunk = &body[from..to];
    let total = lay.payload + chunk.len();
    let seg = out.get_mut(..total).ok_or(VnetError::BufferTooSmall)?;
    seg[..lay.payload].copy_from_slice(headers);
    seg[lay.payload..].copy_from_slice(chunk);
    let last = index + 1 == lay.segments;
    let tcp_len = total - lay.l4;
    let ph = if lay.ipv6 {
        let plen = u16::try_from(total - ipv6::HEADER_LEN).map_err(|_| VnetError::BadGsoPacket)?;
        seg[4..6].copy_from_slice(&plen.to_be_bytes());
        let ip = Ipv6Packet::new_checked(&seg[..]).map_err(|_| VnetError::BadGsoPacket)?;
        PseudoHeader::v6(ip.src(), ip.dst())
    } else {
        let tl = u16::try_from(total).map_err(|_| VnetError::BadGsoPacket)?;
        seg[2..4].copy_from_slice(&tl.to_be_bytes());
        let id = u16::from_be_bytes([seg[4], seg[5]]).wrapping_add(index as u16);
        seg[4..6].copy_from_slice(&id.to_be_bytes());
        seg[10..12].copy_from_slice(&[0, 0]);
        let hl = lay.l4;
        let ck = synack_wire::checksum::checksum(&seg[..hl]);
        seg[10..12].copy_from_slice(&ck.to_be_bytes());
        let ip = Ipv4Packet::new_checked(&seg[..]).map_err(|_| VnetError::BadGsoPacket)?;
        PseudoHeader::v4(ip.src(), ip.dst())
    };
    let t = lay.l4;
    let seq = u32::from_be_bytes([seg[t + 4], seg[t + 5], seg[t + 6], seg[t + 7]])
        .wrapping_add(from as u32);
    seg[t + 4..t + 8].copy_from_slice(&seq.to_be_bytes());
    // Flags byte 13: CWR 0x80, PSH 0x08, FIN 0x01.
    if !last {
        seg[t + 13] &= !(0x08 | 0x01);
    }
    if index != 0 {
        seg[t + 13] &= !0x80;
    }
    seg[t + 16..t + 18].copy_from_slice(&[0, 0]);
    let mut c = ph.checksum(ipv4::PROTO_TCP, tcp_len as u32);
    c.add_bytes(&seg[t..]);
    let ck = c.finish();
    seg[t + 16..t + 18].copy_from_slice(&ck.to_be_bytes());
    Ok(total)
}

/// TCP flags that end a run of coalesced segments or keep a segment out of one: SYN, FIN,
/// RST, URG and CWR (CWR belongs on the first segment of a window only).
const NO_COALESCE_FLAGS: u8 = 0x02 | 0x01 | 0x04 | 0x20 | 0x80;
/// PSH: allowed on the last segment of a run, which it closes.
const PSH: u8 = 0x08;
/// Most segments in one super-packet.
const MAX_SEGMENTS: usize = 64;

/// The run being built by a [`Coalescer`].
#[derive(Clone, Copy, Debug)]
struct Run {
    ipv6: bool,
    /// Offset of the TCP header and of the payload (equal for every member).
    l4: usize,
    payload: usize,
    /// Payload bytes of the first segment; all but the last have exactly this many.
    mss: usize,
    segments: usize,
    next_seq: u32,
    /// No further segment may join (a short or PSH segment closed the run).
    closed: bool,
}

/// Joins consecutive TCP segments of one connection, as our stack emits them, into one
/// super-packet for a device with offloads: the kernel takes it as a GSO packet (as if
/// its own GRO had merged them), so a window of data costs one write. The reverse of
/// [`tcp_segment`].
///
/// Segments join a run when their IP and TCP headers are the same as the first's except
/// for lengths, IPv4 ID, checksums and the sequence number, which must continue the run;
/// every segment but the last carries exactly the first one's payload size, and a short
/// segment or one with PSH ends the run.
#[derive(Debug)]
pub struct Coalescer {
    buf: Vec<u8>,
    len: usize,
    run: Option<Run>,
}

impl Default for Coalescer {
    fn default() -> Coalescer {
        Coalescer::new()
    }
}

impl Coalescer {
    /// An empty coalescer with room for a 64 KiB super-packet.
    pub fn new() -> Coalescer {
        Coalescer {
            buf: vec![0; usize::from(u16::MAX) + ipv6::HEADER_LEN],
            len: 0,
            run: None,
        }
    }

    /// Whether no segment is held.
    pub fn is_empty(&self) -> bool {
        self.run.is_none()
    }

    /// Whether the run can take no more segments and should be written now.
    pub fn is_closed(&self) -> bool {
        self.run.is_some_and(|r| r.closed)
    }

    /// Segments held.
    pub fn segments(&self) -> usize {
        self.run.map_or(0, |r| r.segments)
    }

    /// Offers `pkt`; true if it was taken. False means it cannot join the run held (write
    /// that with [`Coalescer::finish`] and offer again) or, when nothing is held, that it
    /// is not a TCP data segment that can start a run (write it as it is).
    pub fn push(&mut self, pkt: &[u8]) -> bool {
        let Some(seg) = parse_segment(pkt) else {
            return false;
        };
        match self.run {
            None => {
                let Some(dst) = self.buf.get_mut(..pkt.len()) else {
                    return false;
                };
                dst.copy_from_slice(pkt);
                self.len = pkt.len();
                let plen = pkt.len() - seg.payload;
                self.run = Some(Run {
                    ipv6: seg.ipv6,
                    l4: seg.l4,
                    payload: seg.payload,
                    mss: plen,
                    segments: 1,
                    next_seq: seg.seq.wrapping_add(plen as u32),
                    closed: seg.flags & PSH != 0,
                });
                true
            }
            Some(run) => {
                let plen = pkt.len() - seg.payload;
                let first = &self.buf[..run.payload];
                if run.closed
                    || run.segments >= MAX_SEGMENTS
                    || seg.ipv6 != run.ipv6
                    || seg.l4 != run.l4
                    || seg.payload != run.payload
                    || seg.seq != run.next_seq
                    || plen > run.mss
                    || self.len + plen > usize::from(u16::MAX)
                    || !same_headers(first, &pkt[..seg.payload], &run)
                {
                    return false;
                }
                let Some(dst) = self.buf.get_mut(self.len..self.len + plen) else {
                    return false;
                };
                dst.copy_from_slice(&pkt[seg.payload..]);
                self.len += plen;
                self.run = Some(Run {
                    segments: run.segments + 1,
                    next_seq: run.next_seq.wrapping_add(plen as u32),
                    closed: plen < run.mss || seg.flags & PSH != 0,
                    ..run
                });
                if seg.flags & PSH != 0 {
                    // The last segment's PSH goes on the super-packet (the kernel's GSO
                    // puts it back on the last segment).
                    let f = run.l4 + 13;
                    self.buf[f] |= PSH;
                }
                true
            }
        }
    }

    /// Ends the run: the virtio-net header and the packet to write (a lone segment as it
    /// came, with a header saying "no GSO"), or `None` when nothing is held.
    pub fn finish(&mut self) -> Option<(VnetHdr, &[u8])> {
        let run = self.run.take()?;
        let len = std::mem::take(&mut self.len);
        let pkt = &mut self.buf[..len];
        if run.segments == 1 {
            return Some((VnetHdr::default(), pkt));
        }
        let t = run.l4;
        let tcp_len = len - t;
        let ph = if run.ipv6 {
            // `len` is at most 65535 + 40, checked in push.
            let plen = (len - ipv6::HEADER_LEN) as u16;
            pkt[4..6].copy_from_slice(&plen.to_be_bytes());
            let mut src = [0u8; 16];
            let mut dst = [0u8; 16];
            src.copy_from_slice(&pkt[8..24]);
            dst.copy_from_slice(&pkt[24..40]);
            PseudoHeader::v6(src, dst)
        } else {
            pkt[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            pkt[10..12].copy_from_slice(&[0, 0]);
            let ck = synack_wire::checksum::checksum(&pkt[..t]);
            pkt[10..12].copy_from_slice(&ck.to_be_bytes());
            let mut src = [0u8; 4];
            let mut dst = [0u8; 4];
            src.copy_from_slice(&pkt[12..16]);
            dst.copy_from_slice(&pkt[16..20]);
            PseudoHeader::v4(src, dst)
        };
        // NEEDS_CSUM: the field holds the folded pseudo-header sum, not complemented
        // (virtio 1.x §5.1.6.2); the kernel completes it per segment.
        let partial = ph.checksum(ipv4::PROTO_TCP, tcp_len as u32).sum();
        pkt[t + 16..t + 18].copy_from_slice(&partial.to_be_bytes());
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: if run.ipv6 { GSO_TCPV6 } else { GSO_TCPV4 },
            hdr_len: run.payload as u16,
            gso_size: run.mss as u16,
            csum_start: t as u16,
            csum_offset: 16,
        };
        Some((hdr, pkt))
    }
}

/// A TCP data segment that may take part in a run.
struct SegInfo {
    ipv6: bool,
    l4: usize,
    payload: usize,
    seq: u32,
    flags: u8,
}

fn parse_segment(pkt: &[u8]) -> Option<SegInfo> {
    let (ipv6, l4) = match pkt.first()? >> 4 {
        4 => {
            let ip = Ipv4Packet::new_checked(pkt).ok()?;
            let whole = usize::from(ip.total_len()) == pkt.len();
            if ip.protocol() != ipv4::PROTO_TCP || ip.is_fragment() || !whole {
                return None;
            }
            (false, ip.header_len())
        }
        6 => {
            let ip = Ipv6Packet::new_checked(pkt).ok()?;
            let whole = ipv6::HEADER_LEN + usize::from(ip.payload_len()) == pkt.len();
            if ip.next_header() != ipv4::PROTO_TCP || !whole {
                return None;
            }
            (true, ipv6::HEADER_LEN)
        }
        _ => return None,
    };
    let tcp = pkt.get(l4..)?;
    let doff = usize::from(*tcp.get(12)? >> 4) * 4;
    let flags = *tcp.get(13)?;
    if doff < 20 || l4 + doff >= pkt.len() || flags & NO_COALESCE_FLAGS != 0 {
        return None;
    }
    let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
    Some(SegInfo {
        ipv6,
        l4,
        payload: l4 + doff,
        seq,
        flags,
    })
}

/// Whether the headers `b` match the run's first headers `a` in everything but lengths,
/// IPv4 ID and checksum, sequence number, TCP checksum and PSH.
fn same_headers(a: &[u8], b: &[u8], run: &Run) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let t = run.l4;
    a.iter().zip(b).enumerate().all(|(i, (x, y))| {
        let skip = if run.ipv6 {
            (4..6).contains(&i)
        } else {
            (2..6).contains(&i) || (10..12).contains(&i)
        } || (t + 4..t + 8).contains(&i)
            || (t + 16..t + 18).contains(&i);
        skip || (i == t + 13 && (x & !PSH) == (y & !PSH)) || x == y
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use synack_wire::ipv4::Ipv4Repr;
    use synack_wire::ipv6::Ipv6Repr;
    use synack_wire::tcp::TcpHeader;

    /// A TCP header (with a timestamp option) and payload, checksum left as `partial`.
    fn tcp(seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut t = vec![0u8; 32];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&7u16.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&99u32.to_be_bytes());
        t[12] = 8 << 4;
        t[13] = flags;
        t[14..16].copy_from_slice(&512u16.to_be_bytes());
        t[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        t.extend_from_slice(payload);
        t
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 13 % 251) as u8).collect()
    }

    fn check_tcp(ph: PseudoHeader, seg: &[u8]) {
        let mut c = ph.checksum(6, seg.len() as u32);
        c.add_bytes(seg);
        assert_eq!(c.finish(), 0, "TCP checksum");
    }

    #[test]
    fn header_round_trip() {
        let h = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV4 | GSO_ECN,
            hdr_len: 66,
            gso_size: 1448,
            csum_start: 20,
            csum_offset: 16,
        };
        assert_eq!(VnetHdr::parse(&h.emit()).unwrap(), h);
        assert_eq!(h.gso_kind(), GSO_TCPV4);
        assert_eq!(VnetHdr::parse(&[0; 9]), Err(VnetError::Truncated));
    }

    #[test]
    fn completes_partial_checksum() {
        let src = Ipv4Addr::new(198, 18, 0, 1);
        let dst = Ipv4Addr::new(198, 18, 0, 2);
        let mut seg = tcp(1, 0x18, b"hello world");
        let partial = PseudoHeader::v4(src, dst)
            .checksum(6, seg.len() as u32)
            .sum();
        seg[16..18].copy_from_slice(&partial.to_be_bytes());
        let mut pkt = Ipv4Repr::new(src, dst, 6).emit(&seg);
        complete_checksum(&mut pkt, 20, 16).unwrap();
        check_tcp(PseudoHeader::v4(src, dst), &pkt[20..]);
        assert_eq!(
            complete_checksum(&mut pkt, 20, 60),
            Err(VnetError::BadChecksumPosition)
        );
        assert_eq!(
            complete_checksum(&mut pkt, usize::MAX, 2),
            Err(VnetError::BadChecksumPosition)
        );
    }

    #[test]
    fn segments_ipv4_super_packet() {
        let src = Ipv4Addr::new(198, 18, 0, 1);
        let dst = Ipv4Addr::new(198, 18, 0, 2);
        let payload = data(3000);
        // CWR|PSH|ACK|FIN on the super-packet.
        let mut r = Ipv4Repr::new(src, dst, 6);
        r.id = 0xfffe;
        let pkt = r.emit(&tcp(0xffff_fff0, 0x80 | 0x18 | 0x01, &payload));
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV4 | GSO_ECN,
            hdr_len: 52,
            gso_size: 1448,
            csum_start: 20,
            csum_offset: 16,
        };
        let lay = tcp_layout(&hdr, &pkt).unwrap();
        assert_eq!((lay.l4, lay.payload, lay.segments), (20, 52, 3));
        let mut out = vec![0u8; 1500];
        let mut joined = Vec::new();
        for i in 0..3 {
            let n = tcp_segment(&pkt, &lay, i, &mut out).unwrap();
            let ip = Ipv4Packet::new_checked(&out[..n]).unwrap();
            assert!(ip.checksum_ok());
            assert_eq!(usize::from(ip.total_len()), n);
            assert_eq!(ip.id(), 0xfffeu16.wrapping_add(i as u16));
            check_tcp(PseudoHeader::v4(src, dst), ip.payload());
            let t = TcpHeader::parse(ip.payload()).unwrap();
            assert_eq!(t.seq(), 0xffff_fff0u32.wrapping_add((i * 1448) as u32));
            let f = ip.payload()[13];
            assert_eq!(f & 0x80 != 0, i == 0, "CWR on the first only");
            assert_eq!(f & 0x09 != 0, i == 2, "PSH/FIN on the last only");
            assert_eq!(f & 0x10, 0x10, "ACK on all");
            joined.extend_from_slice(t.payload());
        }
        assert_eq!(joined, payload);
        assert_eq!(
            tcp_segment(&pkt, &lay, 3, &mut out),
            Err(VnetError::BadGsoPacket)
        );
        assert_eq!(
            tcp_segment(&pkt, &lay, 0, &mut out[..100]),
            Err(VnetError::BufferTooSmall)
        );
    }

    #[test]
    fn segments_ipv6_super_packet() {
        let src = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
        let dst = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
        let payload = data(2000);
        let pkt = Ipv6Repr::new(src, dst, 6).emit(&tcp(5, 0x10, &payload));
        let hdr = VnetHdr {
            gso_type: GSO_TCPV6,
            gso_size: 1000,
            ..VnetHdr::default()
        };
        let lay = tcp_layout(&hdr, &pkt).unwrap();
        assert_eq!((lay.ipv6, lay.l4, lay.segments), (true, 40, 2));
        let mut out = vec![0u8; 1500];
        for i in 0..2 {
            let n = tcp_segment(&pkt, &lay, i, &mut out).unwrap();
            let ip = Ipv6Packet::new_checked(&out[..n]).unwrap();
            assert_eq!(usize::from(ip.payload_len()) + 40, n);
            check_tcp(PseudoHeader::v6(src, dst), ip.payload());
            let t = TcpHeader::parse(ip.payload()).unwrap();
            assert_eq!(t.seq(), 5 + (i as u32) * 1000);
            assert_eq!(t.payload(), &payload[i * 1000..(i + 1) * 1000]);
        }
    }

    #[test]
    fn refuses_bad_gso_without_panicking() {
        let src = Ipv4Addr::new(198, 18, 0, 1);
        let dst = Ipv4Addr::new(198, 18, 0, 2);
        let pkt = Ipv4Repr::new(src, dst, 6).emit(&tcp(1, 0x10, &data(500)));
        let mut hdr = VnetHdr {
            gso_type: GSO_TCPV4,
            gso_size: 0,
            ..VnetHdr::default()
        };
        assert_eq!(tcp_layout(&hdr, &pkt), Err(VnetError::BadGsoPacket));
        hdr.gso_type = GSO_UDP;
        assert_eq!(
            tcp_layout(&hdr, &pkt),
            Err(VnetError::UnsupportedGso(GSO_UDP))
        );
        hdr.gso_type = GSO_TCPV6;
        hdr.gso_size = 100;
        assert_eq!(tcp_layout(&hdr, &pkt), Err(VnetError::BadGsoPacket));
        hdr.gso_type = GSO_TCPV4;
        let mut out = vec![0u8; 2000];
        for cut in 0..pkt.len() {
            if let Ok(lay) = tcp_layout(&hdr, &pkt[..cut]) {
                for i in 0..lay.segments + 1 {
                    let _ = tcp_segment(&pkt[..cut], &lay, i, &mut out);
                }
            }
        }
        for i in 0..pkt.len() {
            for bit in 0..8 {
                let mut p = pkt.clone();
                p[i] ^= 1 << bit;
                if let Ok(lay) = tcp_layout(&hdr, &p) {
                    for s in 0..lay.segments.min(64) {
                        let _ = tcp_segment(&p, &lay, s, &mut out);
                    }
                }
                let _ = complete_checksum(&mut p, i, 16);
            }
        }
    }

    fn stream_v4(n: usize, mss: usize, last_psh: bool) -> Vec<Vec<u8>> {
        let src = Ipv4Addr::new(198, 18, 0, 2);
        let dst = Ipv4Addr::new(198, 18, 0, 1);
        let body = data(n);
        body.chunks(mss)
            .enumerate()
            .map(|(i, c)| {
                let last = (i + 1) * mss >= n;
                let flags = if last && last_psh { 0x18 } else { 0x10 };
                let mut seg = tcp(1000 + (i * mss) as u32, flags, c);
                let mut sum = PseudoHeader::v4(src, dst).checksum(6, seg.len() as u32);
                sum.add_bytes(&seg);
                let ck = sum.finish();
                seg[16..18].copy_from_slice(&ck.to_be_bytes());
                let mut r = Ipv4Repr::new(src, dst, 6);
                r.id = 100 + i as u16;
                r.emit(&seg)
            })
            .collect()
    }

    #[test]
    fn coalesced_run_segments_back_into_the_originals() {
        let segs = stream_v4(10_000, 1448, true);
        let mut c = Coalescer::new();
        for s in &segs {
            assert!(c.push(s));
        }
        assert_eq!(c.segments(), segs.len());
        assert!(c.is_closed(), "short PSH segment closes the run");
        let extra = stream_v4(100, 100, false);
        assert!(!c.push(&extra[0]), "closed run takes nothing");
        let (hdr, pkt) = c.finish().unwrap();
        let pkt = pkt.to_vec();
        assert_eq!(hdr.gso_type, GSO_TCPV4);
        assert_eq!(hdr.flags, F_NEEDS_CSUM);
        assert_eq!(
            (hdr.gso_size, hdr.csum_start, hdr.csum_offset),
            (1448, 20, 16)
        );
        assert!(c.is_empty());
        let ip = Ipv4Packet::new_checked(&pkt).unwrap();
        assert!(ip.checksum_ok());
        assert_eq!(usize::from(ip.total_len()), pkt.len());
        // Completing the partial checksum gives a valid one for the whole super-packet.
        let mut whole = pkt.clone();
        complete_checksum(&mut whole, 20, 16).unwrap();
        check_tcp(
            PseudoHeader::v4(Ipv4Addr::new(198, 18, 0, 2), Ipv4Addr::new(198, 18, 0, 1)),
            &whole[20..],
        );
        // And the kernel's segmentation (ours, here) gives back the segments sent.
        let lay = tcp_layout(&hdr, &pkt).unwrap();
        assert_eq!(lay.segments, segs.len());
        let mut out = vec![0u8; 1500];
        for (i, s) in segs.iter().enumerate() {
            let n = tcp_segment(&pkt, &lay, i, &mut out).unwrap();
            assert_eq!(&out[..n], &s[..], "segment {i}");
        }
    }

    #[test]
    fn runs_break_where_segments_differ() {
        let segs = stream_v4(5000, 1000, false);
        let mut c = Coalescer::new();
        assert!(c.push(&segs[0]));
        assert!(!c.push(&segs[2]), "sequence gap");
        let mut other_ack = segs[1].clone();
        other_ack[20 + 8] ^= 1;
        assert!(!c.push(&other_ack), "different ACK number");
        let mut fin = segs[1].clone();
        fin[20 + 13] |= 0x01;
        assert!(!c.push(&fin), "FIN never joins");
        assert!(c.push(&segs[1]));
        assert_eq!(c.segments(), 2);
        let (hdr, _) = c.finish().unwrap();
        assert_eq!(hdr.gso_size, 1000);
        // A lone segment is written as it came.
        assert!(c.push(&segs[3]));
        let (hdr, pkt) = c.finish().unwrap();
        assert_eq!(hdr, VnetHdr::default());
        assert_eq!(pkt, &segs[3][..]);
        // Pure ACKs and non-TCP packets never start a run.
        let ack =
            Ipv4Repr::new(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 6).emit(&tcp(1, 0x10, b""));
        assert!(!c.push(&ack));
        assert!(!c.push(&[0x45, 0, 0]));
        assert!(c.finish().is_none());
    }

    #[test]
    fn coalescer_survives_hostile_packets() {
        let segs = stream_v4(3000, 1000, false);
        let mut c = Coalescer::new();
        for s in &segs {
            for i in 0..s.len() {
                for bit in 0..8 {
                    let mut p = s.clone();
                    p[i] ^= 1 << bit;
                    let _ = c.push(&p);
                    if c.segments() > 8 || c.is_closed() {
                        let _ = c.finish();
                    }
                }
                let _ = c.push(&s[..i]);
            }
        }
        let _ = c.finish();
    }
}
