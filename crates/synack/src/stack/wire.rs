//! Wire conversion: inbound IP/TCP validation into a [`SegmentIn`], and a [`SegmentOut`]
//! back into a whole IP datagram in the caller's buffer (no allocation).

use super::observe::DropReason;
use crate::config::OptionLayout;
use crate::segment::{SegOptions, SegmentIn, SegmentOut, Timestamps};
use crate::seq::Seq;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use synack_wire::checksum::{Checksum, PseudoHeader, checksum};
use synack_wire::ipv4::{self, Ipv4Packet};
use synack_wire::ipv6::{self, Ipv6Packet};
use synack_wire::tcp::{TcpHeader, TcpRepr, fill_checksum};
use synack_wire::tcp_options::{SynOptions, TcpOptionsSummary, established_layout};

/// The TTL / hop limit of datagrams we originate (Linux `ip_default_ttl` 64).
pub const DEFAULT_TTL: u8 = 64;

/// The largest IP plus TCP header synack writes (IPv6 40 + TCP 60 bytes).
pub const MAX_HEADERS: usize = ipv6::HEADER_LEN + synack_wire::tcp::MAX_HEADER_LEN;

/// A validated IP datagram addressed to us.
#[derive(Clone, Copy, Debug)]
pub struct IpIn<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address (one of ours).
    pub dst: IpAddr,
    /// Upper-layer protocol.
    pub protocol: u8,
    /// Upper-layer bytes, trimmed to the IP length.
    pub payload: &'a [u8],
    /// The IPv4 fragment fields `(id, offset in bytes, more)` when this is a fragment.
    pub fragment: Option<(u16, usize, bool)>,
}

/// Whether `a` may never appear as the source of a datagram (RFC 1122 §3.2.1.3, RFC 4291).
pub fn martian_source(a: IpAddr, dst: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => {
            a.is_unspecified()
                || a.is_broadcast()
                || a.is_multicast()
                || a.octets()[0] >= 240
                || (a.is_loopback() && !dst.is_loopback())
        }
        IpAddr::V6(a) => {
            a.is_unspecified() || a.is_multicast() || (a.is_loopback() && !dst.is_loopback())
        }
    }
}

/// Parses and validates an IP datagram (RFC 791 §3.1 / RFC 1122 §3.2.1, RFC 8200 §3).
pub fn parse_ip(pkt: &[u8]) -> Result<IpIn<'_>, DropReason> {
    match pkt.first().map(|b| b >> 4) {
        Some(4) => parse_v4(pkt),
        Some(6) => parse_v6(pkt),
        Some(_) => Err(DropReason::BadIpVersion),
        None => Err(DropReason::Truncated),
    }
}

fn parse_v4(pkt: &[u8]) -> Result<IpIn<'_>, DropReason> {
    let p = Ipv4Packet::new_checked(pkt).map_err(|e| match e {
        synack_wire::ipv4::Ipv4Error::BadHeaderLength(_) => DropReason::BadIpHeader,
        synack_wire::ipv4::Ipv4Error::BadVersion(_) => DropReason::BadIpVersion,
        _ => DropReason::Truncated,
    })?;
    // RFC 1122 §3.2.1.2: a datagram with a bad header checksum MUST be silently discarded.
    if !p.checksum_ok() {
        return Err(DropReason::BadIpChecksum);
    }
    let total = usize::from(p.total_len());
    if total < p.header_len() || total > pkt.len() {
        return Err(DropReason::BadIpLength);
    }
    let (src, dst) = (IpAddr::V4(p.src()), IpAddr::V4(p.dst()));
    let fragment = if p.is_fragment() {
        Some((p.id(), usize::from(p.frag_offset()) * 8, p.mf()))
    } else {
        None
    };
    Ok(IpIn {
        src,
        dst,
        protocol: p.protocol(),
        // `header_len <= total <= pkt.len()` was checked above: trimmed to the IP length.
        payload: pkt.get(p.header_len()..total).unwrap_or_default(),
        fragment,
    })
}

// Out of line: the bulk paths are IPv4.
#[inline(never)]
fn parse_v6(pkt: &[u8]) -> Result<IpIn<'_>, DropReason> {
    let p = Ipv6Packet::new_checked(pkt).map_err(|_| DropReason::Truncated)?;
    if ipv6::HEADER_LEN + usize::from(p.payload_len()) > pkt.len() {
        return Err(DropReason::BadIpLength);
    }
    let ul = p.upper_layer().map_err(|_| DropReason::BadIpHeader)?;
    if ul.fragment.is_some() {
        // IPv6 fragments are not reassembled (synack sends none: DF-like PMTU).
        return Err(DropReason::Fragment);
    }
    Ok(IpIn {
        src: IpAddr::V6(p.src()),
        dst: IpAddr::V6(p.dst()),
        protocol: ul.protocol,
        payload: ul.payload,
        fragment: None,
    })
}

/// The pseudo-header of a TCP/ICMPv6 checksum for `src → dst`.
pub fn pseudo(src: IpAddr, dst: IpAddr) -> PseudoHeader {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PseudoHeader::v4(s, d),
        (IpAddr::V6(s), IpAddr::V6(d)) => PseudoHeader::v6(s, d),
        (IpAddr::V4(s), IpAddr::V6(d)) => PseudoHeader::v6(s.to_ipv6_mapped(), d),
        (IpAddr::V6(s), IpAddr::V4(d)) => PseudoHeader::v6(s, d.to_ipv6_mapped()),
    }
}

/// A validated TCP segment with its addresses.
#[derive(Clone, Copy, Debug)]
pub struct TcpIn<'a> {
    /// Our address and port (the destination).
    pub local: SocketAddr,
    /// The peer's address and port (the source).
    pub remote: SocketAddr,
    /// The segment as the engine sees it.
    pub seg: SegmentIn<'a>,
    /// The IP header's ECN field was CE (RFC 3168 §5); [`parse_tcp_unverified`] leaves it
    /// false, the caller sets it from the datagram with [`ecn_ce`].
    pub ce: bool,
}

/// Whether the raw IP datagram `pkt` is marked Congestion Experienced (RFC 3168 §5: ECN
/// field `11`): the low two bits of the IPv4 TOS byte, or of the IPv6 Traffic Class.
/// Anything too short to hold the field is not marked.
pub fn ecn_ce(pkt: &[u8]) -> bool {
    const CE: u8 = 0b11;
    match (pkt.first().map(|b| b >> 4), pkt.get(1)) {
        (Some(4), Some(&tos)) => tos & 0b11 == CE,
        // IPv6 (RFC 8200 §3): the Traffic Class's low nibble is byte 1's high nibble, and
        // its two low bits are the ECN field.
        (Some(6), Some(&b1)) => (b1 >> 4) & 0b11 == CE,
        _ => false,
    }
}

/// Parses a TCP segment's header and options without checking the checksum: the caller
/// adds the payload to [`tcp_header_sum`] (possibly while copying it, see
/// `RecvBuffer::stage`), verifies the result (RFC 9293 §3.1, MUST-2/3) and calls
/// [`check_ports`] before acting on the segment.
pub fn parse_tcp_unverified<'a>(ip: &IpIn<'a>) -> Result<TcpIn<'a>, DropReason> {
    let h = TcpHeader::parse(ip.payload).map_err(|_| DropReason::BadTcpHeader)?;
    // Built in the returned `Result` and finished there: a `TcpIn` completed apart and
    // then wrapped in `Ok` was copied field by field (about 70 instructions a segment).
    let mut parsed = Ok(TcpIn {
        local: SocketAddr::new(ip.dst, h.dst_port()),
        remote: SocketAddr::new(ip.src, h.src_port()),
        seg: SegmentIn {
            seq: Seq(h.seq()),
            ack: Seq(h.ack()),
            flags: h.flags(),
            wnd: h.window(),
            up: h.urgent_ptr(),
            options: SegOptions::default(),
            payload: h.payload(),
        },
        ce: false,
    });
    // The options are written into the segment in place (a `SegOptions` built apart and
    // moved in cost every segment a copy of its fields); `nop,nop,TS` is the common case.
    let bytes = h.options_bytes();
    if let Ok(t) = &mut parsed {
        if let [1, 1, 8, 10, v0, v1, v2, v3, e0, e1, e2, e3] = *bytes {
            t.seg.options.timestamps = Some(Timestamps {
                tsval: u32::from_be_bytes([v0, v1, v2, v3]),
                tsecr: u32::from_be_bytes([e0, e1, e2, e3]),
            });
        } else if !bytes.is_empty() {
            t.seg.options = segment_options(bytes);
        }
    }
    parsed
}

/// The options of an arriving segment. The layout nearly every segment after the
/// handshake carries, `nop,nop,TS` alone (RFC 7323 Appendix A), and Linux's full SYN layout
/// are read in place; anything else goes through the general option parser (which gives
/// the same result for those two, `segment_options_shortcuts_match_the_parser`).
fn segment_options(bytes: &[u8]) -> SegOptions {
    if let [1, 1, 8, 10, v0, v1, v2, v3, e0, e1, e2, e3] = *bytes {
        return SegOptions {
            timestamps: Some(Timestamps {
                tsval: u32::from_be_bytes([v0, v1, v2, v3]),
                tsecr: u32::from_be_bytes([e0, e1, e2, e3]),
            }),
            ..SegOptions::default()
        };
    }
    // Linux's SYN and SYN-ACK with every option (`SynOptions::linux_layout`):
    // mss, sackOK, TS, nop, wscale.
    if let [
        2,
        4,
        m0,
        m1,
        4,
        2,
        8,
        10,
        v0,
        v1,
        v2,
        v3,
        e0,
        e1,
        e2,
        e3,
        1,
        3,
        3,
        ws,
    ] = *bytes
    {
        return SegOptions {
            mss: Some(u16::from_be_bytes([m0, m1])),
            wscale: Some(ws),
            sack_permitted: true,
            timestamps: Some(Timestamps {
                tsval: u32::from_be_bytes([v0, v1, v2, v3]),
                tsecr: u32::from_be_bytes([e0, e1, e2, e3]),
            }),
            ..SegOptions::default()
        };
    }
    parsed_options(bytes)
}

/// [`segment_options`] through the general option parser.
fn parsed_options(bytes: &[u8]) -> SegOptions {
    let sum = TcpOptionsSummary::parse(bytes);
    let mut options = SegOptions {
        mss: sum.mss,
        wscale: sum.window_scale,
        sack_permitted: sum.sack_permitted,
        timestamps: sum
            .timestamps
            .map(|(tsval, tsecr)| Timestamps { tsval, tsecr }),
        ..SegOptions::default()
    };
    for &(l, r) in sum.sack_blocks.as_slice() {
        options.sack_blocks.push(Seq(l), Seq(r));
    }
    options
}

/// The checksum of `t`'s pseudo-header, TCP header and options: adding the payload and
/// finishing gives 0 for an intact segment (RFC 9293 §3.1).
pub fn tcp_header_sum(ip: &IpIn<'_>, t: &TcpIn<'_>) -> Checksum {
    let seg_len = ip.payload.len();
    let mut c = pseudo(ip.src, ip.dst).checksum(ipv4::PROTO_TCP, seg_len as u32);
    let header = seg_len.saturating_sub(t.seg.payload.len());
    let bytes = ip.payload.get(..header).unwrap_or(&[]);
    // The TCP header is whole 32-bit words (RFC 9293 §3.1: Data Offset counts them, at
    // most 15): summed in native order into 64 bits (no overflow), folded to 32 with
    // end-around carry (2^32 ≡ 1 modulo 2^16 - 1), and added to the pseudo-header's
    // even-length sum as one word: the same sum as `add_bytes` of the header.
    let words = bytes.chunks_exact(4);
    let rest = words.remainder();
    let wide: u64 = words
        .map(|w| u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
        .sum();
    let (folded, carry) = (wide as u32).overflowing_add((wide >> 32) as u32);
    let folded = folded + u32::from(carry);
    c.add_u32(u32::from_be_bytes(folded.to_ne_bytes()));
    c.add_bytes(rest);
    c
}

/// RFC 9293 §3.1 (and Linux): port 0 is not a valid source or destination.
pub fn check_ports(t: &TcpIn<'_>) -> Result<(), DropReason> {
    if t.local.port() == 0 || t.remote.port() == 0 {
        return Err(DropReason::BadPort);
    }
    Ok(())
}

/// The encoded options of an outgoing segment in its layout.
fn encode_options(seg: &SegmentOut) -> synack_wire::tcp_options::TcpOptionBuf {
    let o = &seg.options;
    let ts = o.timestamps.map(|t| (t.tsval, t.tsecr));
    if seg.flags.syn() {
        let syn = SynOptions {
            mss: o.mss,
            window_scale: o.wscale,
            sack_permitted: o.sack_permitted,
            timestamps: ts,
        };
        match seg.layout {
            OptionLayout::Linux => syn.linux_layout(),
            OptionLayout::Bsd => syn.bsd_layout(),
        }
    } else {
        let mut blocks = [(0u32, 0u32); 4];
        let n = o.sack_blocks.as_slice().len();
        for (b, s) in blocks.iter_mut().zip(o.sack_blocks.as_slice()) {
            *b = (s.0.0, s.1.0);
        }
        established_layout(ts, &blocks[..n])
    }
}

/// The per-datagram IP fields a socket controls: TTL / hop limit (`IP_TTL`,
/// `IPV6_UNICAST_HOPS`) and the ECN codepoint (RFC 3168 §5: 0b10 is ECT(0)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpMeta {
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// The two ECN bits of the TOS / traffic class byte.
    pub ecn: u8,
}

impl Default for IpMeta {
    fn default() -> IpMeta {
        IpMeta {
            ttl: DEFAULT_TTL,
            ecn: 0,
        }
    }
}

/// ECT(0), RFC 3168 §5.
pub const ECT0: u8 = 0b10;

/// Writes an IPv4 header (RFC 791 §3.1): DF set, no options.
pub fn write_ipv4(
    buf: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    total: u16,
    id: u16,
    meta: IpMeta,
) {
    let addrs = v4_addr_sum(src, dst);
    write_ipv4_with(buf, src, dst, proto, total, id, meta, addrs);
}

/// The sum of two IPv4 addresses as numbers, carries not yet folded: the part that an
/// IPv4 header and the TCP pseudo-header (RFC 9293 §3.1) have in common, summed once for
/// both. Adding 32-bit numbers adds their 16-bit halves with the carries in the upper
/// bits, which [`fold`] adds back (RFC 1071 §2(C): 2^16 ≡ 1 modulo 2^16 − 1).
fn v4_addr_sum(src: Ipv4Addr, dst: Ipv4Addr) -> u64 {
    u64::from(src.to_bits()) + u64::from(dst.to_bits())
}

/// A sum of 16- and 32-bit numbers (below 2^48) folded to 16 bits, end-around carry
/// included (RFC 1071 §2(C)).
fn fold(sum: u64) -> u16 {
    // Each step halves the width: 48 → 33 → 17 → 16 bits plus at most one carry.
    let s = (sum & 0xffff_ffff) + (sum >> 32);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// The folded one's-complement sum of `bytes` (even length) as a number.
#[inline]
fn checksum_sum(bytes: &[u8]) -> u16 {
    Checksum::new().add_bytes(bytes).sum()
}

/// [`write_ipv4`] given `addrs`, the sum of the two addresses ([`v4_addr_sum`]): the
/// header checksum adds the other fields' words to it (RFC 1071 §2(A): the sum is
/// commutative and associative) instead of summing the 20 bytes written.
#[allow(clippy::too_many_arguments)]
fn write_ipv4_with(
    buf: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    total: u16,
    id: u16,
    meta: IpMeta,
    addrs: u64,
) {
    let h = &mut buf[..ipv4::MIN_HEADER_LEN];
    let ecn = meta.ecn & 0b11;
    let words = [
        0x4500 | u16::from(ecn),
        total,
        id,
        ipv4::FLAG_DF,
        u16::from_be_bytes([meta.ttl, proto]),
    ];
    let ck = !fold(addrs + words.iter().map(|&w| u64::from(w)).sum::<u64>());
    h[0] = 0x45;
    h[1] = ecn;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&id.to_be_bytes());
    h[6..8].copy_from_slice(&ipv4::FLAG_DF.to_be_bytes());
    h[8] = meta.ttl;
    h[9] = proto;
    h[10..12].copy_from_slice(&ck.to_be_bytes());
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
}

/// Writes an IPv6 header (RFC 8200 §3).
pub fn write_ipv6(
    buf: &mut [u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    proto: u8,
    payload_len: u16,
    meta: IpMeta,
) {
    let h = &mut buf[..ipv6::HEADER_LEN];
    // Version 6, traffic class (its low two bits are ECN, RFC 3168 §5), flow label 0.
    let tclass = meta.ecn & 0b11;
    h[0..4].copy_from_slice(&[0x60 | (tclass >> 4), tclass << 4, 0, 0]);
    h[4..6].copy_from_slice(&payload_len.to_be_bytes());
    h[6] = proto;
    h[7] = meta.ttl;
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(&dst.octets());
}

/// Length of the IP header we write for `addr`'s family.
pub fn ip_header_len(addr: IpAddr) -> usize {
    if addr.is_ipv4() {
        ipv4::MIN_HEADER_LEN
    } else {
        ipv6::HEADER_LEN
    }
}

/// Writes `local → remote` carrying `seg` into `buf`; the `seg.payload_len` payload bytes
/// must already sit at `buf[payload_at..]` (at or before their final place) and are moved
/// behind the headers. `payload_sum`, when given, is the folded sum of those bytes (taken
/// while they were copied in), so the checksum covers only the headers here. Returns the
/// datagram length, or `None` when `buf` is too small.
#[allow(clippy::too_many_arguments)]
pub fn emit_tcp(
    buf: &mut [u8],
    local: SocketAddr,
    remote: SocketAddr,
    seg: &SegmentOut,
    payload_at: usize,
    payload_sum: Option<u16>,
    ip_id: u16,
    ttl: u8,
) -> Option<usize> {
    if let (SocketAddr::V4(l), SocketAddr::V4(r)) = (local, remote) {
        return emit_tcp_v4(buf, l, r, seg, payload_at, payload_sum, ip_id, ttl);
    }
    let generic = seg.flags.syn();
    emit_tcp_with(
        buf,
        local,
        remote,
        seg,
        payload_at,
        payload_sum,
        ip_id,
        ttl,
        generic,
    )
}

/// [`emit_tcp`] from one IPv4 address to another, every segment (SYN included) written
/// directly: the fixed header as [`write_established_header`] writes it, then the options
/// (a SYN's from its layout, [`encode_options`]); the TCP checksum from the header's 32-bit
/// words, the pseudo-header's fields as numbers and the payload's sum (RFC 1071 §2(A), (C):
/// the sum is associative and 2^16 ≡ 1 modulo 2^16 − 1), the payload summed here only when
/// the caller had no sum for it. The same bytes as [`emit_tcp_with`]'s generic encoder with
/// `fill_checksum` (`v4_fast_path_matches_the_generic_encoder`).
#[allow(clippy::too_many_arguments)]
#[inline]
pub(super) fn emit_tcp_v4(
    buf: &mut [u8],
    local: SocketAddrV4,
    remote: SocketAddrV4,
    seg: &SegmentOut,
    payload_at: usize,
    payload_sum: Option<u16>,
    ip_id: u16,
    ttl: u8,
) -> Option<usize> {
    const IP: usize = ipv4::MIN_HEADER_LEN;
    let syn_options = seg.flags.syn().then(|| encode_options(seg));
    let (opts, blocks) = match &syn_options {
        Some(o) => (o.len(), 0),
        None => established_options_len(seg),
    };
    let start = IP + synack_wire::tcp::HEADER_LEN + opts;
    let end = start.checked_add(seg.payload_len)?;
    if end > buf.len() || payload_at.checked_add(seg.payload_len)? > buf.len() {
        return None;
    }
    // The IPv4 total length.
    let total = u16::try_from(end).ok()?;
    if seg.payload_len > 0 && payload_at != start {
        buf.copy_within(payload_at..payload_at + seg.payload_len, start);
    }
    // The payload starts at an even offset (TCP headers are multiples of four bytes), so
    // its sum on its own is its share of the segment's.
    let payload = match payload_sum {
        _ if seg.payload_len == 0 => 0,
        Some(p) => p,
        None => checksum_sum(&buf[start..end]),
    };
    if syn_options.is_none() && blocks == 0 {
        // Nearly every segment: no SYN, no SACK blocks, 40 or 52 bytes of headers.
        write_plain_v4_headers(buf, local, remote, seg, start, total, payload, ip_id, ttl);
        return Some(end);
    }
    let h = &mut buf[IP..start];
    match &syn_options {
        Some(o) => {
            write_fixed_header(h, local.port(), remote.port(), seg);
            h[synack_wire::tcp::HEADER_LEN..].copy_from_slice(o.as_bytes());
        }
        None => write_established_header(h, local.port(), remote.port(), seg, blocks),
    }
    let words: u64 = h
        .chunks_exact(4)
        .map(|w| u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]])))
        .sum();
    let tcp_len = u16::try_from(end - IP).ok()?;
    let (s, d) = (*local.ip(), *remote.ip());
    let addrs = v4_addr_sum(s, d);
    // RFC 9293 §3.1: the pseudo-header is the addresses, zero and the protocol, and the
    // TCP length; the checksum field is still zero.
    let ck =
        !fold(addrs + u64::from(ipv4::PROTO_TCP) + u64::from(tcp_len) + words + u64::from(payload));
    h[synack_wire::tcp::CHECKSUM_OFFSET..synack_wire::tcp::CHECKSUM_OFFSET + 2]
        .copy_from_slice(&ck.to_be_bytes());
    let meta = IpMeta {
        ttl,
        ecn: if seg.ect { ECT0 } else { 0 },
    };
    write_ipv4_with(buf, s, d, ipv4::PROTO_TCP, total, ip_id, meta, addrs);
    Some(end)
}

/// The options of a segment without SYN, in [`established_layout`]'s layout (RFC 7323
/// Appendix A): `nop,nop,TS` when timestamps are on, then `nop,nop,SACK` with as many
/// blocks as fit (3 with timestamps, 4 without; RFC 2018 §3). Returns the bytes needed and
/// the number of SACK blocks.
fn established_options_len(seg: &SegmentOut) -> (usize, usize) {
    let o = &seg.options;
    let ts = if o.timestamps.is_some() { 12 } else { 0 };
    let max_blocks = if ts > 0 { 3 } else { 4 };
    let blocks = o.sack_blocks.as_slice().len().min(max_blocks);
    let sack = if blocks > 0 { 4 + 8 * blocks } else { 0 };
    (ts + sack, blocks)
}

/// The IPv4 and TCP headers of a segment without SYN and without SACK blocks (the TCP
/// options are the timestamps or nothing: `start` is 52 or 40) at the start of `buf`
/// (at least `total` bytes, the payload already behind the headers with the folded sum
/// `payload`): built in a fixed-size array with both checksums summed from the fields as
/// numbers (RFC 1071 §2(A), (C)), then copied.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn write_plain_v4_headers(
    buf: &mut [u8],
    local: SocketAddrV4,
    remote: SocketAddrV4,
    seg: &SegmentOut,
    start: usize,
    total: u16,
    payload: u16,
    ip_id: u16,
    ttl: u8,
) {
    const IP: usize = ipv4::MIN_HEADER_LEN;
    let mut h = [0u8; IP + synack_wire::tcp::HEADER_LEN + 12];
    let ports = u32::from(local.port()) << 16 | u32::from(remote.port());
    let flags = seg.flags.bits();
    // Data offset, NS, the other flags, the window (RFC 9293 §3.1).
    let offset = (((start - IP) / 4) as u32) << 28;
    let word3 = offset | u32::from(flags & 0x1ff) << 16 | u32::from(seg.wnd);
    h[20..24].copy_from_slice(&ports.to_be_bytes());
    h[24..28].copy_from_slice(&seg.seq.0.to_be_bytes());
    h[28..32].copy_from_slice(&seg.ack.0.to_be_bytes());
    h[32..36].copy_from_slice(&word3.to_be_bytes());
    h[38..40].copy_from_slice(&seg.up.to_be_bytes());
    let mut sum = u64::from(ports)
        + u64::from(seg.seq.0)
        + u64::from(seg.ack.0)
        + u64::from(word3)
        + u64::from(seg.up);
    if let Some(t) = seg.options.timestamps {
        // NOP, NOP, kind 8, length 10, TSval, TSecr (RFC 7323 §3.2).
        const TS_HEAD: u32 = u32::from_be_bytes([1, 1, 8, 10]);
        h[40..44].copy_from_slice(&TS_HEAD.to_be_bytes());
        h[44..48].copy_from_slice(&t.tsval.to_be_bytes());
        h[48..52].copy_from_slice(&t.tsecr.to_be_bytes());
        sum += u64::from(TS_HEAD) + u64::from(t.tsval) + u64::from(t.tsecr);
    }
    let (s, d) = (*local.ip(), *remote.ip());
    let addrs = v4_addr_sum(s, d);
    // RFC 9293 §3.1: the pseudo-header (addresses, zero and the protocol, TCP length).
    let tcp_len = u64::from(total) - IP as u64;
    let ck = !fold(addrs + u64::from(ipv4::PROTO_TCP) + tcp_len + sum + u64::from(payload));
    h[36..38].copy_from_slice(&ck.to_be_bytes());
    let meta = IpMeta {
        ttl,
        ecn: if seg.ect { ECT0 } else { 0 },
    };
    write_ipv4_with(&mut h, s, d, ipv4::PROTO_TCP, total, ip_id, meta, addrs);
    if start == h.len() {
        buf[..52].copy_from_slice(&h);
    } else {
        buf[..40].copy_from_slice(&h[..40]);
    }
}

/// Writes the fixed 20 bytes of the TCP header at the start of `h`, whose length (the
/// whole header with its options) gives the data offset; the checksum field zero.
#[inline(always)]
fn write_fixed_header(h: &mut [u8], local_port: u16, remote_port: u16, seg: &SegmentOut) {
    let flags = seg.flags.bits();
    let offset = ((h.len() / 4) as u8) << 4;
    let h = &mut h[..synack_wire::tcp::HEADER_LEN];
    h[0..2].copy_from_slice(&local_port.to_be_bytes());
    h[2..4].copy_from_slice(&remote_port.to_be_bytes());
    h[4..8].copy_from_slice(&seg.seq.0.to_be_bytes());
    h[8..12].copy_from_slice(&seg.ack.0.to_be_bytes());
    h[12] = offset | ((flags >> 8) as u8 & 1);
    h[13] = flags as u8;
    h[14..16].copy_from_slice(&seg.wnd.to_be_bytes());
    h[16..18].copy_from_slice(&[0, 0]);
    h[18..20].copy_from_slice(&seg.up.to_be_bytes());
}

/// Writes the TCP header of a segment without SYN and its options straight into `h` (its
/// exact length), the checksum field zero (RFC 9293 §3.1), instead of building a
/// [`TcpRepr`] and an option list first.
fn write_established_header(
    h: &mut [u8],
    local_port: u16,
    remote_port: u16,
    seg: &SegmentOut,
    blocks: usize,
) {
    write_fixed_header(h, local_port, remote_port, seg);
    let mut at = synack_wire::tcp::HEADER_LEN;
    if let Some(t) = seg.options.timestamps {
        // NOP, NOP, kind 8, length 10, TSval, TSecr (RFC 7323 §3.2).
        h[at..at + 4].copy_from_slice(&[1, 1, 8, 10]);
        h[at + 4..at + 8].copy_from_slice(&t.tsval.to_be_bytes());
        h[at + 8..at + 12].copy_from_slice(&t.tsecr.to_be_bytes());
        at += 12;
    }
    if blocks > 0 {
        // NOP, NOP, kind 5, length 2 + 8n, then the blocks (RFC 2018 §3).
        h[at..at + 4].copy_from_slice(&[1, 1, 5, (2 + 8 * blocks) as u8]);
        at += 4;
        for &(l, r) in &seg.options.sack_blocks.as_slice()[..blocks] {
            h[at..at + 4].copy_from_slice(&l.0.to_be_bytes());
            h[at + 4..at + 8].copy_from_slice(&r.0.to_be_bytes());
            at += 8;
        }
    }
}

/// [`emit_tcp`]; `generic` builds the header through [`TcpRepr`] and the option encoder
/// (SYN segments, whose option layouts vary by profile), otherwise it is written directly.
#[allow(clippy::too_many_arguments)]
fn emit_tcp_with(
    buf: &mut [u8],
    local: SocketAddr,
    remote: SocketAddr,
    seg: &SegmentOut,
    payload_at: usize,
    payload_sum: Option<u16>,
    ip_id: u16,
    ttl: u8,
    generic: bool,
) -> Option<usize> {
    let ip_len = ip_header_len(local.ip());
    let meta = IpMeta {
        ttl,
        ecn: if seg.ect { ECT0 } else { 0 },
    };
    let (repr, header_len, blocks) = if generic {
        let repr = TcpRepr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq: seg.seq.0,
            ack: seg.ack.0,
            flags: seg.flags,
            reserved: 0,
            window: seg.wnd,
            urgent_ptr: seg.up,
            options: encode_options(seg),
        };
        let n = repr.header_len();
        (Some(repr), n, 0)
    } else {
        let (opts, blocks) = established_options_len(seg);
        (None, synack_wire::tcp::HEADER_LEN + opts, blocks)
    };
    let start = ip_len + header_len;
    let end = start.checked_add(seg.payload_len)?;
    if end > buf.len() || payload_at.checked_add(seg.payload_len)? > buf.len() {
        return None;
    }
    if seg.payload_len > 0 && payload_at != start {
        buf.copy_within(payload_at..payload_at + seg.payload_len, start);
    }
    match repr {
        Some(repr) => {
            repr.emit_header(&mut buf[ip_len..]).ok()?;
        }
        None => write_established_header(
            &mut buf[ip_len..start],
            local.port(),
            remote.port(),
            seg,
            blocks,
        ),
    }
    let tcp_len = u16::try_from(end - ip_len).ok()?;
    // IPv4: the addresses are summed once, for the pseudo-header and the IP header.
    let v4 = match (local.ip(), remote.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Some((s, d, v4_addr_sum(s, d))),
        _ => None,
    };
    match payload_sum {
        Some(payload) if seg.payload_len > 0 => {
            // RFC 1071 §2(A): the sum is associative, so the payload's sum (the payload
            // starts at an even offset: TCP headers are multiples of four bytes) joins the
            // pseudo-header's and the header's (its checksum field still zero).
            let ck = match v4 {
                // RFC 9293 §3.1: the pseudo-header is the addresses, zero and the
                // protocol, and the TCP length; the header is summed as bytes.
                Some((_, _, addrs)) => {
                    let header = checksum_sum(&buf[ip_len..start]);
                    let rest = u64::from(ipv4::PROTO_TCP) + u64::from(tcp_len);
                    !fold(addrs + rest + u64::from(header) + u64::from(payload))
                }
                None => {
                    let mut c =
                        pseudo(local.ip(), remote.ip()).checksum(ipv4::PROTO_TCP, tcp_len.into());
                    c.add_bytes(&buf[ip_len..start]);
                    c.add_u16(payload);
                    c.finish()
                }
            };
            let at = ip_len + synack_wire::tcp::CHECKSUM_OFFSET;
            buf[at..at + 2].copy_from_slice(&ck.to_be_bytes());
        }
        _ => {
            fill_checksum(&mut buf[ip_len..end], &pseudo(local.ip(), remote.ip())).ok()?;
        }
    }
    match (v4, local.ip(), remote.ip()) {
        (Some((s, d, addrs)), _, _) => write_ipv4_with(
            buf,
            s,
            d,
            ipv4::PROTO_TCP,
            u16::try_from(end).ok()?,
            ip_id,
            meta,
            addrs,
        ),
        (None, IpAddr::V6(s), IpAddr::V6(d)) => {
            write_ipv6(buf, s, d, ipv4::PROTO_TCP, tcp_len, meta)
        }
        _ => return None,
    }
    Some(end)
}

/// The headers of an IPv4 data segment just written by [`emit_tcp`], kept to write the next
/// segments of a transmit burst: those repeat every header byte but the IP identification,
/// SEG.SEQ, the flags and the two checksums (same length, ACK, window, timestamps), so
/// the headers are copied and those fields patched, the checksums from the sums of the
/// rest taken once (RFC 1071 §2(C): the sum is order independent; RFC 1624 §3 does the
/// same with one field).
#[derive(Clone, Copy, Debug)]
pub(super) struct TxTemplate {
    /// The IPv4 and TCP headers with options, `len` bytes.
    hdr: [u8; MAX_HEADERS],
    len: usize,
    /// The IPv4 header's words as numbers, the identification and checksum left out.
    ip_base: u64,
    /// The pseudo-header's and the TCP header's words, SEG.SEQ, the flags byte and the
    /// checksum left out.
    tcp_base: u64,
    /// The segment the headers were written for.
    seg: SegmentOut,
    ttl: u8,
}

impl TxTemplate {
    /// Takes the template from `datagram`, just written by [`emit_tcp`] for `seg`: IPv4, no
    /// SYN, no SACK blocks, with payload; `None` otherwise.
    pub(super) fn capture(
        datagram: &[u8],
        local: SocketAddr,
        remote: SocketAddr,
        seg: &SegmentOut,
        ttl: u8,
    ) -> Option<TxTemplate> {
        let (IpAddr::V4(s), IpAddr::V4(d)) = (local.ip(), remote.ip()) else {
            return None;
        };
        if seg.flags.syn() || seg.payload_len == 0 || !seg.options.sack_blocks.is_empty() {
            return None;
        }
        let ip_len = ipv4::MIN_HEADER_LEN;
        let (opts, _) = established_options_len(seg);
        let len = ip_len + synack_wire::tcp::HEADER_LEN + opts;
        let total = len.checked_add(seg.payload_len)?;
        if datagram.len() != total {
            return None;
        }
        let mut hdr = [0u8; MAX_HEADERS];
        hdr.get_mut(..len)?.copy_from_slice(datagram.get(..len)?);
        let addrs = v4_addr_sum(s, d);
        let words = [
            u16::from_be_bytes([hdr[0], hdr[1]]),
            u16::from_be_bytes([hdr[2], hdr[3]]),
            u16::from_be_bytes([hdr[6], hdr[7]]),
            u16::from_be_bytes([hdr[8], hdr[9]]),
        ];
        let ip_base = addrs + words.iter().map(|&w| u64::from(w)).sum::<u64>();
        let mut tcp = [0u8; MAX_HEADERS];
        let tcp = &mut tcp[..len - ip_len];
        tcp.copy_from_slice(&hdr[ip_len..len]);
        tcp[4..8].fill(0);
        tcp[13] = 0;
        tcp[16..18].fill(0);
        let tcp_len = u64::try_from(total - ip_len).ok()?;
        let tcp_base = addrs + u64::from(ipv4::PROTO_TCP) + tcp_len + u64::from(checksum_sum(tcp));
        Some(TxTemplate {
            hdr,
            len,
            ip_base,
            tcp_base,
            seg: *seg,
            ttl,
        })
    }

    /// Writes `seg` as [`emit_tcp`] would (its payload already at `buf[payload_at..]` with
    /// the folded sum `payload_sum`) when it differs from the template's segment only in
    /// SEG.SEQ and the flags; `None`, with `buf` untouched, otherwise.
    pub(super) fn emit(
        &self,
        buf: &mut [u8],
        seg: &SegmentOut,
        payload_at: usize,
        payload_sum: Option<u16>,
        ip_id: u16,
        ttl: u8,
    ) -> Option<usize> {
        let t = &self.seg;
        let payload = payload_sum?;
        // Without SYN only the timestamps and SACK blocks are written (`capture` took a
        // segment without blocks).
        let same = seg.ack == t.ack
            && seg.wnd == t.wnd
            && seg.up == t.up
            && seg.options.timestamps == t.options.timestamps
            && seg.options.sack_blocks.is_empty()
            && seg.ect == t.ect
            && seg.payload_len == t.payload_len
            && seg.flags.bits() >> 8 == t.flags.bits() >> 8
            && !seg.flags.syn()
            && ttl == self.ttl
            && payload_at == self.len;
        let end = self.len + seg.payload_len;
        if !same || end > buf.len() {
            return None;
        }
        let h = &mut buf[..self.len];
        // The usual lengths as fixed-size copies (IPv4 + TCP, with and without timestamps).
        match self.len {
            52 => h.copy_from_slice(&self.hdr[..52]),
            40 => h.copy_from_slice(&self.hdr[..40]),
            n => h.copy_from_slice(&self.hdr[..n]),
        }
        h[4..6].copy_from_slice(&ip_id.to_be_bytes());
        let ck = !fold(self.ip_base + u64::from(ip_id));
        h[10..12].copy_from_slice(&ck.to_be_bytes());
        let th = &mut h[ipv4::MIN_HEADER_LEN..];
        let seq = seg.seq.0;
        th[4..8].copy_from_slice(&seq.to_be_bytes());
        let flags = seg.flags.bits() as u8;
        th[13] = flags;
        let sum = self.tcp_base
            + u64::from(seq >> 16)
            + u64::from(seq & 0xffff)
            + u64::from(flags)
            + u64::from(payload);
        th[16..18].copy_from_slice(&(!fold(sum)).to_be_bytes());
        Some(end)
    }
}

/// Writes an ICMP (v4) or ICMPv6 message `src → dst` whose body (everything after the
/// 4-byte type/code/checksum) is `body`. Returns the datagram length.
pub fn emit_icmp(
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    msg_type: u8,
    code: u8,
    body: &[u8],
    ip_id: u16,
) -> Option<usize> {
    let ip_len = ip_header_len(src);
    let end = ip_len.checked_add(4)?.checked_add(body.len())?;
    if end > buf.len() {
        return None;
    }
    let icmp_len = end - ip_len;
    {
        let m = &mut buf[ip_len..end];
        m[0] = msg_type;
        m[1] = code;
        m[2] = 0;
        m[3] = 0;
        m[4..].copy_from_slice(body);
    }
    let ck = match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => checksum(&buf[ip_len..end]),
        (IpAddr::V6(_), IpAddr::V6(_)) => {
            let mut c: Checksum =
                pseudo(src, dst).checksum(ipv4::PROTO_ICMPV6, u32::try_from(icmp_len).ok()?);
            c.add_bytes(&buf[ip_len..end]);
            c.finish()
        }
        _ => return None,
    };
    buf[ip_len + 2..ip_len + 4].copy_from_slice(&ck.to_be_bytes());
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let meta = IpMeta::default();
            write_ipv4(
                buf,
                s,
                d,
                ipv4::PROTO_ICMP,
                u16::try_from(end).ok()?,
                ip_id,
                meta,
            )
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let len = u16::try_from(icmp_len).ok()?;
            write_ipv6(buf, s, d, ipv4::PROTO_ICMPV6, len, IpMeta::default())
        }
        _ => return None,
    }
    Some(end)
}

/// The 4-tuple (local = destination, remote = source) a datagram would carry if it is an
/// unfragmented TCP segment, read from fixed header offsets without any validation: a
/// hint for prefetching, never a basis for a decision. `None` when the bytes are too short
/// or not IPv4/IPv6 TCP.
pub fn peek_tuple(pkt: &[u8]) -> Option<crate::isn::FourTuple> {
    let be16 =
        |i: usize| -> Option<u16> { Some(u16::from_be_bytes([*pkt.get(i)?, *pkt.get(i + 1)?])) };
    match pkt.first()? >> 4 {
        4 => {
            let ihl = usize::from(pkt.first()? & 0x0f) * 4;
            if *pkt.get(9)? != ipv4::PROTO_TCP {
                return None;
            }
            let a: [u8; 8] = pkt.get(12..20)?.try_into().ok()?;
            let src = IpAddr::from([a[0], a[1], a[2], a[3]]);
            let dst = IpAddr::from([a[4], a[5], a[6], a[7]]);
            Some(crate::isn::FourTuple::new(
                SocketAddr::new(dst, be16(ihl + 2)?),
                SocketAddr::new(src, be16(ihl)?),
            ))
        }
        6 => {
            if *pkt.get(6)? != ipv4::PROTO_TCP {
                return None;
            }
            let s: [u8; 16] = pkt.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = pkt.get(24..40)?.try_into().ok()?;
            Some(crate::isn::FourTuple::new(
                SocketAddr::new(IpAddr::from(d), be16(42)?),
                SocketAddr::new(IpAddr::from(s), be16(40)?),
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TcpFlags;
    use crate::conn::testlink::Rng;

    /// The two layouts `segment_options` reads in place (`nop,nop,TS` and Linux's full SYN
    /// layout) give what the general parser gives, for random values and for every one-byte
    /// change of those layouts (which must not be mistaken for them), and for random
    /// option bytes.
    #[test]
    fn segment_options_shortcuts_match_the_parser() {
        use synack_wire::tcp_options::{SynOptions, established_layout};
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut next = move || rng.next();
        for _ in 0..20_000 {
            let r = next();
            let ts = ((r >> 7) as u32, (r >> 29) as u32);
            let syn = SynOptions {
                mss: Some(r as u16),
                window_scale: Some((r >> 50) as u8),
                sack_permitted: true,
                timestamps: Some(ts),
            }
            .linux_layout();
            let est = established_layout(Some(ts), &[]);
            assert_eq!((syn.len(), est.len()), (20, 12));
            for layout in [syn.as_bytes(), est.as_bytes()] {
                let got = segment_options(layout);
                assert_eq!(got, parsed_options(layout), "{layout:?}");
                assert_eq!(got.timestamps.map(|t| (t.tsval, t.tsecr)), Some(ts));
                let mut changed = layout.to_vec();
                let at = (next() % layout.len() as u64) as usize;
                changed[at] = changed[at].wrapping_add(1 + (next() % 255) as u8);
                assert_eq!(
                    segment_options(&changed),
                    parsed_options(&changed),
                    "{changed:?}"
                );
                changed.truncate(at);
                assert_eq!(segment_options(&changed), parsed_options(&changed));
            }
            let random: Vec<u8> = (0..(next() % 41)).map(|_| next() as u8).collect();
            assert_eq!(segment_options(&random), parsed_options(&random));
        }
    }

    /// `tcp_header_sum` (the header summed as 32-bit words) gives exactly the sum of the
    /// pseudo-header and the header bytes streamed through `add_bytes`, for both families,
    /// every data offset, random (often all-ones) header bytes and odd payload lengths;
    /// and on an intact segment header sum plus payload finishes to zero.
    #[test]
    fn header_sum_by_words_matches_the_byte_stream() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut next = move || rng.next();
        let addrs = [
            (
                IpAddr::from([10, 0, 0, 1]),
                IpAddr::from([255, 255, 255, 254]),
            ),
            (
                IpAddr::from(Ipv6Addr::new(0xfd00, 0xffff, 0, 0, 0, 0, 0xffff, 1)),
                IpAddr::from(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)),
            ),
        ];
        let mut checked = 0;
        for round in 0..3_000 {
            let (src, dst) = addrs[round % 2];
            let words = 5 + (next() % 11) as usize;
            let payload_len = (next() % 40) as usize;
            let mut seg = vec![0u8; words * 4 + payload_len];
            // Words mostly all ones, some tiny, some random: sums that carry out of 32 bits
            // and land on the folding edges.
            for w in seg.chunks_mut(4) {
                let r = next();
                let v: u32 = match r >> 60 {
                    0..=9 => u32::MAX,
                    10..=12 => (r & 3) as u32,
                    _ => r as u32,
                };
                let n = w.len();
                w.copy_from_slice(&v.to_be_bytes()[..n]);
            }
            seg[12] = (words as u8) << 4;
            // Options that always parse, so `payload` is what follows the header: NOPs, or
            // one unknown kind (254) over the whole option space with its own bytes kept.
            if words > 5 && round % 3 != 0 {
                seg[20..words * 4].fill(1);
            } else if words > 5 {
                seg[20] = 254;
                seg[21] = (words * 4 - 20) as u8;
            }
            // Every other round the urgent-pointer word makes the header's 32-bit sum end
            // in all ones, so the fold to 32 bits carries whenever the sum exceeds 2^32.
            if round % 2 == 1 {
                seg[16..20].fill(0);
                let rest: u64 = seg[..words * 4]
                    .chunks_exact(4)
                    .map(|w| u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
                    .sum();
                let w4 = u32::MAX - rest as u32;
                seg[16..20].copy_from_slice(&w4.to_ne_bytes());
            }
            let ip = IpIn {
                src,
                dst,
                protocol: ipv4::PROTO_TCP,
                payload: &seg,
                fragment: None,
            };
            let t = parse_tcp_unverified(&ip).unwrap();
            assert_eq!(t.seg.payload.len(), payload_len);
            let got = tcp_header_sum(&ip, &t);
            let mut want = pseudo(src, dst).checksum(ipv4::PROTO_TCP, seg.len() as u32);
            want.add_bytes(&seg[..words * 4]);
            assert_eq!(got.sum(), want.sum(), "round {round}");
            // With a correct checksum field the whole segment verifies.
            seg[16] = 0;
            seg[17] = 0;
            let mut c = pseudo(src, dst).checksum(ipv4::PROTO_TCP, seg.len() as u32);
            c.add_bytes(&seg);
            let ck = c.finish();
            seg[16..18].copy_from_slice(&ck.to_be_bytes());
            let ip = IpIn {
                src,
                dst,
                protocol: ipv4::PROTO_TCP,
                payload: &seg,
                fragment: None,
            };
            let t = parse_tcp_unverified(&ip).unwrap();
            let mut sum = tcp_header_sum(&ip, &t);
            sum.add_bytes(t.seg.payload);
            assert_eq!(sum.finish(), 0, "round {round}");
            checked += 1;
        }
        assert_eq!(checked, 3_000);
    }

    /// The in-place reading of `nop,nop,TS` agrees with the general parser, and near misses
    /// (other kinds, lengths, order, padding) take the general path.
    #[test]
    fn timestamp_only_options_read_in_place_match_the_parser() {
        let general = |b: &[u8]| {
            let sum = TcpOptionsSummary::parse(b);
            (sum.timestamps, sum.mss, sum.sack_blocks.as_slice().len())
        };
        let mut cases: Vec<Vec<u8>> = vec![
            vec![1, 1, 8, 10, 0, 0, 0, 1, 0xff, 0xfe, 0xfd, 0xfc],
            vec![1, 1, 8, 10, 0x80, 0, 0, 0, 0, 0, 0, 0],
            vec![1, 1, 8, 9, 0, 0, 0, 1, 0, 0, 0, 2],
            vec![1, 0, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
            vec![8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1],
            vec![
                1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2,
            ],
            vec![2, 4, 5, 180],
            vec![],
        ];
        cases.push(cases[0][..11].to_vec());
        for b in &cases {
            let fast = segment_options(b);
            let want = general(b);
            assert_eq!(fast.timestamps.map(|t| (t.tsval, t.tsecr)), want.0, "{b:?}");
            assert_eq!(fast.mss, want.1, "{b:?}");
            assert_eq!(fast.sack_blocks.as_slice().len(), want.2, "{b:?}");
        }
    }

    /// The IPv4 header summed from its fields and the shared address sum equals the header
    /// summed byte by byte (RFC 791 §3.1), and the TCP checksum from the shared address sum
    /// and the payload's sum equals the one summed over the whole segment.
    #[test]
    fn ipv4_header_and_pseudo_header_sums_from_parts_match_byte_sums() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for i in 0..5000u32 {
            let x = rng.next();
            let src = Ipv4Addr::from_bits(x as u32);
            let dst = Ipv4Addr::from_bits((x >> 32) as u32 ^ i);
            let meta = IpMeta {
                ttl: (x >> 8) as u8,
                ecn: (x >> 3) as u8,
            };
            let (total, id) = ((x >> 16) as u16, (x >> 48) as u16);
            let mut h = [0u8; 20];
            write_ipv4(&mut h, src, dst, ipv4::PROTO_TCP, total, id, meta);
            let mut want = [0u8; 20];
            want[0] = 0x45;
            want[1] = meta.ecn & 0b11;
            want[2..4].copy_from_slice(&total.to_be_bytes());
            want[4..6].copy_from_slice(&id.to_be_bytes());
            want[6..8].copy_from_slice(&ipv4::FLAG_DF.to_be_bytes());
            want[8] = meta.ttl;
            want[9] = ipv4::PROTO_TCP;
            want[12..16].copy_from_slice(&src.octets());
            want[16..20].copy_from_slice(&dst.octets());
            let ck = checksum(&want);
            want[10..12].copy_from_slice(&ck.to_be_bytes());
            assert_eq!(h, want);
            assert_eq!(checksum(&h), 0);
            // A segment with the payload's sum given and without: the same datagram.
            let local = SocketAddr::from((src, (x >> 5) as u16));
            let remote = SocketAddr::from((dst, (x >> 21) as u16));
            let mut seg = SegmentOut::bare(Seq(x as u32), Seq(i), TcpFlags::ACK, 0);
            seg.payload_len = 1 + (x >> 40) as usize % 1400;
            seg.wnd = (x >> 30) as u16;
            let payload: Vec<u8> = (0..seg.payload_len).map(|k| (k as u64 ^ x) as u8).collect();
            let at = 20 + 20;
            let mut a = vec![0u8; 1500];
            a[at..at + payload.len()].copy_from_slice(&payload);
            let mut b = a.clone();
            let psum = Checksum::new().add_bytes(&payload).sum();
            let n = emit_tcp(&mut a, local, remote, &seg, at, Some(psum), id, meta.ttl);
            let m = emit_tcp(&mut b, local, remote, &seg, at, None, id, meta.ttl);
            assert_eq!(n, m);
            assert_eq!(a, b);
        }
    }

    /// The direct header writer produces the same datagram, byte for byte, as the generic
    /// `TcpRepr` + option encoder path, for every combination of timestamps, 0 to 5 SACK
    /// blocks (beyond what fits), flags, families and payload placement.
    /// The IPv4 path of `emit_tcp` (`emit_tcp_v4`: headers written directly, SYN options
    /// from their layout, the checksum from words and numbers) writes exactly what the
    /// generic encoder (`TcpRepr`, the option encoder, `fill_checksum` over the bytes)
    /// writes: SYNs with every option combination in both layouts, segments with and
    /// without timestamps and SACK blocks, payloads of 0, 1, 2 and 301 bytes staged before
    /// their place or at it, with and without the caller's payload sum, ECT, TTLs; and
    /// both refuse a buffer one byte short.
    #[test]
    fn v4_fast_path_matches_the_generic_encoder() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let payload: Vec<u8> = (0..301u32).map(|i| (i * 7 + 1) as u8).collect();
        let mut checked = 0;
        for round in 0..4000u32 {
            let r = next();
            let local =
                SocketAddr::from((Ipv4Addr::from((r >> 32) as u32 | 1), (r >> 16) as u16 | 1));
            let r2 = next();
            let remote = SocketAddr::from((Ipv4Addr::from(r2 as u32 | 2), (r2 >> 48) as u16 | 1));
            let flags = match round % 8 {
                0 => TcpFlags::SYN,
                1 => TcpFlags::SYN | TcpFlags::ACK,
                2 => TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR,
                3 => TcpFlags::ACK | TcpFlags::PSH,
                4 => TcpFlags::ACK | TcpFlags::FIN,
                5 => TcpFlags::RST,
                6 => TcpFlags::ACK | TcpFlags::URG | TcpFlags::ECE,
                _ => TcpFlags::from_bits(next() as u16 & 0x1ff & !TcpFlags::SYN.bits()),
            };
            let mut seg =
                SegmentOut::bare(Seq(next() as u32), Seq(next() as u32), flags, next() as u16);
            seg.up = if round % 5 == 0 { next() as u16 } else { 0 };
            seg.layout = if round % 2 == 0 {
                OptionLayout::Linux
            } else {
                OptionLayout::Bsd
            };
            let bits = next();
            if bits & 1 != 0 {
                seg.options.timestamps = Some(Timestamps {
                    tsval: next() as u32,
                    tsecr: if bits & 2 != 0 { 0 } else { next() as u32 },
                });
            }
            if flags.syn() {
                seg.options.mss = (bits & 4 != 0).then_some(next() as u16);
                seg.options.wscale = (bits & 8 != 0).then_some((next() % 15) as u8);
                seg.options.sack_permitted = bits & 16 != 0;
            } else {
                for b in 0..(bits >> 5) % 6 {
                    let l = next() as u32;
                    seg.options
                        .sack_blocks
                        .push(Seq(l), Seq(l.wrapping_add(b as u32 * 9 + 1)));
                }
            }
            let plen = [0usize, 1, 2, 301][(bits >> 9) as usize % 4];
            seg.payload_len = plen;
            seg.ect = bits & (1 << 11) != 0;
            let ttl = (bits >> 12) as u8;
            let ip_id = (bits >> 20) as u16;
            let with_sum = bits & (1 << 36) != 0;
            let sum = (with_sum && plen > 0).then(|| checksum_sum(&payload[..plen]));
            // Staged where `Stack` stages it (behind 20 + 20 + 12 bytes) or further on.
            let at = if bits & (1 << 37) != 0 { 52 } else { 130 };
            let mut out = [vec![0u8; 600], vec![0u8; 600]];
            let mut lens = [None, None];
            for (k, out) in out.iter_mut().enumerate() {
                out[at..at + plen].copy_from_slice(&payload[..plen]);
                lens[k] = if k == 0 {
                    emit_tcp_with(out, local, remote, &seg, at, None, ip_id, ttl, true)
                } else {
                    emit_tcp(out, local, remote, &seg, at, sum, ip_id, ttl)
                };
            }
            let n = lens[0].expect("the generic encoder fits 600 bytes");
            assert_eq!(lens[1], Some(n), "{seg:?}");
            assert_eq!(out[0][..n], out[1][..n], "{seg:?}");
            // One byte short: both refuse.
            let mut short = vec![0u8; n - 1];
            let at = at.min(n - 1 - plen);
            assert_eq!(
                emit_tcp(&mut short, local, remote, &seg, at, sum, ip_id, ttl),
                None
            );
            assert_eq!(
                emit_tcp_with(&mut short, local, remote, &seg, at, None, ip_id, ttl, true),
                None
            );
            checked += 1;
        }
        assert_eq!(checked, 4000);
        // A datagram longer than the IPv4 total length can say: both refuse.
        let local = SocketAddr::from(([10, 0, 0, 1], 1));
        let remote = SocketAddr::from(([10, 0, 0, 2], 2));
        let mut seg = SegmentOut::bare(Seq(1), Seq(2), TcpFlags::ACK, 3);
        seg.payload_len = 65536 - 40;
        let mut big = vec![0u8; 70_000];
        assert_eq!(
            emit_tcp(&mut big, local, remote, &seg, 40, Some(0), 1, 64),
            None
        );
        let generic = emit_tcp_with(&mut big, local, remote, &seg, 40, None, 1, 64, true);
        assert_eq!(generic, None);
    }

    #[test]
    fn direct_established_header_matches_the_generic_encoder() {
        let v4 = (
            SocketAddr::from(([10, 0, 0, 1], 40000)),
            SocketAddr::from(([10, 0, 0, 2], 80)),
        );
        let v6 = (
            SocketAddr::from((Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1), 1)),
            SocketAddr::from((Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2), 65535)),
        );
        let flag_sets = [
            TcpFlags::ACK,
            TcpFlags::ACK | TcpFlags::PSH,
            TcpFlags::ACK | TcpFlags::FIN | TcpFlags::URG,
            TcpFlags::RST,
            TcpFlags::ACK | TcpFlags::ECE | TcpFlags::CWR,
        ];
        let payload: Vec<u8> = (0..301u32).map(|i| (i * 7 + 1) as u8).collect();
        for (local, remote) in [v4, v6] {
            for ts in [None, Some((0xdead_beef, 7))] {
                for nblocks in 0..=5u32 {
                    for &flags in &flag_sets {
                        for plen in [0usize, 1, 300] {
                            let mut seg = SegmentOut::bare(Seq(1), Seq(0x8000_0001), flags, 513);
                            seg.up = 9;
                            seg.ect = plen > 0;
                            seg.options.timestamps =
                                ts.map(|(tsval, tsecr)| Timestamps { tsval, tsecr });
                            for b in 0..nblocks {
                                seg.options
                                    .sack_blocks
                                    .push(Seq(100 * b), Seq(100 * b + 50));
                            }
                            seg.payload_len = plen;
                            let mut out = [vec![0u8; 2000], vec![0u8; 2000]];
                            let mut lens = [0; 2];
                            for (k, generic) in [true, false].into_iter().enumerate() {
                                // Staged at a place the payload has to move from.
                                out[k][100..100 + plen].copy_from_slice(&payload[..plen]);
                                let sum = (plen > 0 && k == 1).then(|| {
                                    let mut c = Checksum::new();
                                    c.add_bytes(&payload[..plen]);
                                    c.sum()
                                });
                                lens[k] = emit_tcp_with(
                                    &mut out[k],
                                    local,
                                    remote,
                                    &seg,
                                    100,
                                    sum,
                                    5,
                                    64,
                                    generic,
                                )
                                .unwrap();
                            }
                            assert_eq!(lens[0], lens[1]);
                            assert_eq!(
                                out[0][..lens[0]],
                                out[1][..lens[1]],
                                "ts {ts:?} blocks {nblocks} flags {flags:?} len {plen}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn rfc3168_ce_read_from_ipv4_tos_and_ipv6_traffic_class() {
        // IPv4: TOS 0x03 is CE; ECT(0) 0x02, ECT(1) 0x01 and DSCP bits alone are not.
        assert!(ecn_ce(&[0x45, 0x03]));
        assert!(ecn_ce(&[0x45, 0xb3]));
        assert!(!ecn_ce(&[0x45, 0x02]));
        assert!(!ecn_ce(&[0x45, 0x01]));
        assert!(!ecn_ce(&[0x45, 0xfc]));
        // IPv6: Traffic Class 0x03 → byte 0 0x60, byte 1 0x30.
        assert!(ecn_ce(&[0x60, 0x30]));
        assert!(ecn_ce(&[0x6b, 0xb0]));
        assert!(!ecn_ce(&[0x60, 0x20]));
        assert!(!ecn_ce(&[0x63, 0x00]));
        // Short or unknown input is never marked.
        assert!(!ecn_ce(&[]));
        assert!(!ecn_ce(&[0x45]));
        assert!(!ecn_ce(&[0x55, 0x03]));
    }
    /// `parse_tcp_unverified` (its result built in place, the options shortcuts) gives
    /// exactly the segment read field by field from the header with the general option
    /// parser: random headers over `nop,nop,TS`, Linux's SYN layout, one-byte changes of
    /// both, other option bytes and none, with payloads of 0 to 3 bytes.
    #[test]
    fn parsed_segment_equals_the_field_by_field_reading() {
        use synack_wire::tcp_options::{SynOptions, established_layout};
        let mut rng = Rng(0x51ac_c0de_2026_1122);
        let below = |rng: &mut Rng, n: u64| rng.next() % n;
        let (src, dst) = (
            IpAddr::V4([198, 18, 0, 1].into()),
            IpAddr::V4([198, 18, 0, 2].into()),
        );
        for round in 0..20_000u32 {
            let r = rng.next();
            let ts = ((r >> 7) as u32, (r >> 29) as u32);
            let mut opts: Vec<u8> = match round % 4 {
                0 => established_layout(Some(ts), &[]).as_bytes().to_vec(),
                1 => SynOptions {
                    mss: Some(r as u16),
                    window_scale: Some((r >> 50) as u8),
                    sack_permitted: true,
                    timestamps: Some(ts),
                }
                .linux_layout()
                .as_bytes()
                .to_vec(),
                2 => (0..(below(&mut rng, 11) * 4))
                    .map(|_| rng.next() as u8)
                    .collect(),
                _ => Vec::new(),
            };
            if round % 8 < 2 && !opts.is_empty() {
                let at = below(&mut rng, opts.len() as u64) as usize;
                opts[at] = opts[at].wrapping_add(1 + below(&mut rng, 255) as u8);
            }
            let mut seg = vec![0u8; 20];
            for b in seg.iter_mut() {
                *b = rng.next() as u8;
            }
            seg[12] = (((20 + opts.len()) / 4) as u8) << 4 | (seg[12] & 1);
            seg.extend_from_slice(&opts);
            for _ in 0..below(&mut rng, 4) {
                seg.push(rng.next() as u8);
            }
            let ip = IpIn {
                src,
                dst,
                protocol: ipv4::PROTO_TCP,
                payload: &seg,
                fragment: None,
            };
            let t = parse_tcp_unverified(&ip).unwrap();
            let h = TcpHeader::parse(&seg).unwrap();
            let want = SegmentIn {
                seq: Seq(h.seq()),
                ack: Seq(h.ack()),
                flags: h.flags(),
                wnd: h.window(),
                up: h.urgent_ptr(),
                options: parsed_options(h.options_bytes()),
                payload: h.payload(),
            };
            assert_eq!(t.seg, want, "round {round}: {seg:?}");
            assert_eq!(t.local, SocketAddr::new(dst, h.dst_port()));
            assert_eq!(t.remote, SocketAddr::new(src, h.src_port()));
            assert!(!t.ce);
        }
    }
}
