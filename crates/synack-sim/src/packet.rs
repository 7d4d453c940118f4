//! Small, bounds-checked looks into raw IP datagrams.
//!
//! The simulator moves opaque byte strings, but a few impairments and scripted faults need to
//! look inside them: ECN marking rewrites the ECN field of the IPv4 TOS byte or the IPv6
//! traffic class, and the "drop all SYNs" filter needs the TCP flags. Every function here takes
//! untrusted bytes and answers `None` / `false` for anything it cannot read; none of them can
//! panic. (The full header parsers live in `synack-wire`; these helpers only read the few
//! fields the simulator needs.)

use core::fmt::Write as _;

/// The IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// The IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;

/// TCP header flag bits (byte 13 of the TCP header, RFC 9293 §3.1).
pub mod tcp_flag {
    /// FIN: no more data from sender.
    pub const FIN: u8 = 0x01;
    /// SYN: synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// RST: reset the connection.
    pub const RST: u8 = 0x04;
    /// PSH: push function.
    pub const PSH: u8 = 0x08;
    /// ACK: acknowledgment field is significant.
    pub const ACK: u8 = 0x10;
    /// URG: urgent pointer field is significant.
    pub const URG: u8 = 0x20;
    /// ECE: ECN-Echo (RFC 3168 §6.1).
    pub const ECE: u8 = 0x40;
    /// CWR: congestion window reduced (RFC 3168 §6.1).
    pub const CWR: u8 = 0x80;
}

/// The two-bit ECN field of an IP header (RFC 3168 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ecn {
    /// `00`: the transport is not ECN-capable.
    NotEct,
    /// `01`: ECN-capable transport, codepoint 1.
    Ect1,
    /// `10`: ECN-capable transport, codepoint 0.
    Ect0,
    /// `11`: congestion experienced.
    Ce,
}

impl Ecn {
    fn from_bits(bits: u8) -> Ecn {
        match bits & 0b11 {
            0b00 => Ecn::NotEct,
            0b01 => Ecn::Ect1,
            0b10 => Ecn::Ect0,
            _ => Ecn::Ce,
        }
    }
}

/// The IP version nibble of a datagram (4 or 6 for the packets the simulator understands).
pub fn ip_version(pkt: &[u8]) -> Option<u8> {
    pkt.first().map(|b| b >> 4)
}

/// The ECN field of an IPv4 or IPv6 datagram.
pub fn ecn(pkt: &[u8]) -> Option<Ecn> {
    match ip_version(pkt)? {
        // RFC 3168 §5: the two low bits of the IPv4 TOS octet (byte 1).
        4 if pkt.len() >= 20 => pkt.get(1).map(|tos| Ecn::from_bits(*tos)),
        // RFC 3168 §5 / RFC 8200 §7: the two low bits of the traffic class, which spans the
        // low nibble of byte 0 and the high nibble of byte 1; the ECN bits are bits 4-5 of
        // byte 1.
        6 if pkt.len() >= 40 => pkt.get(1).map(|b| Ecn::from_bits(b >> 4)),
        _ => None,
    }
}

/// Marks an ECN-capable datagram "congestion experienced" in place (RFC 3168 §5), keeping the
/// IPv4 header checksum valid by the incremental update of RFC 1624.
///
/// Returns `true` if the packet was changed from ECT(0) or ECT(1) to CE. A Not-ECT packet, a
/// packet already marked CE, and anything that is not a well-formed-enough IPv4/IPv6 header
/// are left untouched (`false`): RFC 3168 §5 forbids setting CE on a Not-ECT packet.
pub fn mark_ce(pkt: &mut [u8]) -> bool {
    match ecn(pkt) {
        Some(Ecn::Ect0) | Some(Ecn::Ect1) => {}
        _ => return false,
    }
    match ip_version(pkt) {
        Some(4) => {
            let (Some(&b0), Some(&b1), Some(&c0), Some(&c1)) =
                (pkt.first(), pkt.get(1), pkt.get(10), pkt.get(11))
            else {
                return false;
            };
            let old_word = u16::from_be_bytes([b0, b1]);
            let new_tos = b1 | 0b11;
            let new_word = u16::from_be_bytes([b0, new_tos]);
            let old_sum = u16::from_be_bytes([c0, c1]);
            let new_sum = incremental_checksum(old_sum, old_word, new_word);
            let [s0, s1] = new_sum.to_be_bytes();
            // The lengths were checked by `ecn` (at least 20 bytes); `get_mut` keeps it so.
            if let Some(b) = pkt.get_mut(1) {
                *b = new_tos;
            }
            if let Some(c) = pkt.get_mut(10..12) {
                c.copy_from_slice(&[s0, s1]);
            }
            true
        }
        Some(6) => {
            if let Some(b) = pkt.get_mut(1) {
                *b |= 0b0011_0000;
                true
            } else {
                false
            }
        }
        _ => false,
    }
}

/// RFC 1624 eqn. 3: the new checksum `HC' = ~(~HC + ~m + m')` after a 16-bit word of the
/// checksummed data changes from `old` to `new`, in one's complement arithmetic.
pub fn incremental_checksum(sum: u16, old: u16, new: u16) -> u16 {
    let mut acc = u32::from(!sum) + u32::from(!old) + u32::from(new);
    // Fold the carries back in (end-around carry); two folds always suffice for three terms.
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    !(acc as u16)
}

/// The Internet checksum (RFC 1071) of `data`: the one's complement of the one's complement
/// sum of its 16-bit big-endian words (an odd final byte is padded with zero).
pub fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u64::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// True if `pkt` starts with an IPv4 header whose header checksum verifies.
pub fn ipv4_header_checksum_ok(pkt: &[u8]) -> bool {
    let Some(&b0) = pkt.first() else { return false };
    if b0 >> 4 != 4 {
        return false;
    }
    let ihl = usize::from(b0 & 0x0f) * 4;
    match pkt.get(..ihl) {
        Some(h) if ihl >= 20 => internet_checksum(h) == 0,
        _ => false,
    }
}

/// Where the transport header of a datagram starts and which protocol it is.
///
/// For IPv4 the header length comes from the IHL field; a non-first fragment has no transport
/// header and yields `None`. For IPv6 the common extension headers (hop-by-hop options,
/// routing, destination options, fragment; RFC 8200 §4) are skipped with bounds checks.
pub fn transport(pkt: &[u8]) -> Option<(u8, usize)> {
    match ip_version(pkt)? {
        4 => {
            let ihl = usize::from(pkt.first()? & 0x0f) * 4;
            if ihl < 20 || pkt.len() < ihl {
                return None;
            }
            // Fragment offset (13 bits of bytes 6-7) must be zero for a transport header.
            let frag = u16::from_be_bytes([*pkt.get(6)?, *pkt.get(7)?]) & 0x1fff;
            if frag != 0 {
                return None;
            }
            Some((*pkt.get(9)?, ihl))
        }
        6 => {
            let mut next = *pkt.get(6)?;
            let mut off = 40usize;
            if pkt.len() < off {
                return None;
            }
            // A bounded walk: a hostile chain of extension headers cannot loop forever.
            for _ in 0..16 {
                match next {
                    // Hop-by-hop, routing, destination options: length in 8-octet units,
                    // not counting the first 8 octets (RFC 8200 §4.3, §4.4, §4.6).
                    0 | 43 | 60 => {
                        let nh = *pkt.get(off)?;
                        let len = (usize::from(*pkt.get(off + 1)?) + 1) * 8;
                        next = nh;
                        off = off.checked_add(len)?;
                    }
                    // Fragment header, 8 octets (RFC 8200 §4.5); only the first fragment
                    // carries the transport header.
                    44 => {
                        let nh = *pkt.get(off)?;
                        let frag =
                            u16::from_be_bytes([*pkt.get(off + 2)?, *pkt.get(off + 3)?]) >> 3;
                        if frag != 0 {
                            return None;
                        }
                        next = nh;
                        off = off.checked_add(8)?;
                    }
                    _ => {
                        return if off <= pkt.len() {
                            Some((next, off))
                        } else {
                            None
                        };
                    }
                }
            }
            None
        }
        _ => None,
    }
}

/// The TCP flags byte of a TCP segment carried in `pkt`, if it has one.
pub fn tcp_flags(pkt: &[u8]) -> Option<u8> {
    let (proto, off) = transport(pkt)?;
    if proto != IPPROTO_TCP {
        return None;
    }
    // The flags are byte 13 of the TCP header (RFC 9293 §3.1); require the whole fixed
    // 20-byte header to be present.
    pkt.get(off..off.checked_add(20)?)?;
    pkt.get(off + 13).copied()
}

/// The (source, destination) ports of a TCP or UDP datagram.
pub fn ports(pkt: &[u8]) -> Option<(u16, u16)> {
    let (proto, off) = transport(pkt)?;
    if proto != IPPROTO_TCP && proto != IPPROTO_UDP {
        return None;
    }
    let p = pkt.get(off..off.checked_add(4)?)?;
    Some((
        u16::from_be_bytes([p[0], p[1]]),
        u16::from_be_bytes([p[2], p[3]]),
    ))
}

/// True for a TCP connection request: SYN set and ACK, RST and FIN clear. This is what
/// `iptables -p tcp --syn` matches, so `Sim::add_filter(.., |_, p| is_tcp_syn(p))` behaves
/// like the notes' `iptables ... --syn -j DROP` rule (a SYN-ACK is not matched).
pub fn is_tcp_syn(pkt: &[u8]) -> bool {
    use tcp_flag::{ACK, FIN, RST, SYN};
    matches!(tcp_flags(pkt), Some(f) if f & (SYN | ACK | RST | FIN) == SYN)
}

/// A one-line description of a datagram, for traces and debugging:
/// `IP 10.0.0.1.1234 > 10.0.0.2.80: tcp [S] length 40`. This is deliberately plain; the
/// tcpdump-identical formatter lives in `synack-wire` and can be plugged into
/// [`crate::TextTrace`] instead.
pub fn summary(pkt: &[u8]) -> String {
    let mut out = String::new();
    let (src, dst) = match ip_version(pkt) {
        Some(4) if pkt.len() >= 20 => (
            fmt_v4(pkt.get(12..16).unwrap_or_default()),
            fmt_v4(pkt.get(16..20).unwrap_or_default()),
        ),
        Some(6) if pkt.len() >= 40 => (
            fmt_v6(pkt.get(8..24).unwrap_or_default()),
            fmt_v6(pkt.get(24..40).unwrap_or_default()),
        ),
        _ => {
            let _ = write!(out, "unknown packet, length {}", pkt.len());
            return out;
        }
    };
    let family = if ip_version(pkt) == Some(6) {
        "IP6"
    } else {
        "IP"
    };
    match (transport(pkt), ports(pkt)) {
        (Some((proto, _)), Some((sp, dp))) => {
            let _ = write!(out, "{family} {src}.{sp} > {dst}.{dp}: ");
            if proto == IPPROTO_TCP {
                let f = tcp_flags(pkt).unwrap_or(0);
                out.push_str("tcp [");
                for (bit, c) in [
                    (tcp_flag::SYN, 'S'),
                    (tcp_flag::FIN, 'F'),
                    (tcp_flag::RST, 'R'),
                    (tcp_flag::PSH, 'P'),
                    (tcp_flag::URG, 'U'),
                    (tcp_flag::ECE, 'E'),
                    (tcp_flag::CWR, 'W'),
                    (tcp_flag::ACK, '.'),
                ] {
                    if f & bit != 0 {
                        out.push(c);
                    }
                }
                out.push(']');
            } else {
                out.push_str("udp");
            }
        }
        (Some((proto, _)), None) => {
            let _ = write!(out, "{family} {src} > {dst}: proto {proto}");
        }
        (None, _) => {
            let _ = write!(out, "{family} {src} > {dst}:");
        }
    }
    let _ = write!(out, " length {}", pkt.len());
    out
}

fn fmt_v4(b: &[u8]) -> String {
    match b {
        [a, b, c, d] => format!("{a}.{b}.{c}.{d}"),
        _ => String::from("?"),
    }
}

fn fmt_v6(b: &[u8]) -> String {
    match <[u8; 16]>::try_from(b) {
        Ok(a) => core::net::Ipv6Addr::from(a).to_string(),
        Err(_) => String::from("?"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(tos: u8, proto: u8, transport: &[u8]) -> Vec<u8> {
        let total = 20 + transport.len();
        let mut p = vec![
            0x45,
            tos,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0x40,
            0,
            64,
            proto,
            0,
            0,
            10,
            0,
            0,
            1,
            10,
            0,
            0,
            2,
        ];
        let c = internet_checksum(&p);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p.extend_from_slice(transport);
        p
    }

    fn tcp(flags: u8) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&1234u16.to_be_bytes());
        t[2..4].copy_from_slice(&80u16.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = flags;
        t
    }

    #[test]
    fn rfc1624_matches_full_recompute() {
        for tos in [0x01u8, 0x02, 0x5e, 0xfa, 0xb9] {
            let mut p = v4(tos, IPPROTO_TCP, &tcp(tcp_flag::ACK));
            assert!(ipv4_header_checksum_ok(&p));
            assert!(mark_ce(&mut p));
            assert_eq!(p[1], tos | 3);
            assert!(ipv4_header_checksum_ok(&p), "tos {tos:#x}");
            let mut copy = p[..20].to_vec();
            copy[10] = 0;
            copy[11] = 0;
            assert_eq!(internet_checksum(&copy), u16::from_be_bytes([p[10], p[11]]));
        }
    }

    #[test]
    fn not_ect_and_ce_are_left_alone() {
        let mut p = v4(0x00, IPPROTO_TCP, &tcp(0));
        let before = p.clone();
        assert!(!mark_ce(&mut p));
        assert_eq!(p, before);
        let mut p = v4(0x03, IPPROTO_TCP, &tcp(0));
        assert!(!mark_ce(&mut p));
        assert!(!mark_ce(&mut []));
        assert!(!mark_ce(&mut [0x45, 0x02]));
    }

    #[test]
    fn ipv6_traffic_class_ecn() {
        let mut p = vec![0u8; 60];
        p[0] = 0x60 | 0x0b; // traffic class high nibble 0xb
        p[1] = 0x20; // ECN bits 10 = ECT(0), flow label high nibble 0
        p[6] = IPPROTO_TCP;
        p[40 + 13] = tcp_flag::SYN;
        assert_eq!(ecn(&p), Some(Ecn::Ect0));
        assert!(mark_ce(&mut p));
        assert_eq!(ecn(&p), Some(Ecn::Ce));
        assert_eq!(p[0], 0x6b);
        assert_eq!(p[1], 0x30);
        assert!(is_tcp_syn(&p));
    }

    #[test]
    fn syn_recognition() {
        assert!(is_tcp_syn(&v4(0, IPPROTO_TCP, &tcp(tcp_flag::SYN))));
        assert!(is_tcp_syn(&v4(
            0,
            IPPROTO_TCP,
            &tcp(tcp_flag::SYN | tcp_flag::ECE | tcp_flag::CWR)
        )));
        assert!(!is_tcp_syn(&v4(
            0,
            IPPROTO_TCP,
            &tcp(tcp_flag::SYN | tcp_flag::ACK)
        )));
        assert!(!is_tcp_syn(&v4(0, IPPROTO_TCP, &tcp(tcp_flag::ACK))));
        assert!(!is_tcp_syn(&v4(0, IPPROTO_UDP, &tcp(tcp_flag::SYN))));
        // Truncated TCP header.
        assert!(!is_tcp_syn(&v4(0, IPPROTO_TCP, &tcp(tcp_flag::SYN)[..13])));
        // Non-first fragment.
        let mut frag = v4(0, IPPROTO_TCP, &tcp(tcp_flag::SYN));
        frag[7] = 1;
        assert!(!is_tcp_syn(&frag));
    }

    #[test]
    fn ipv6_extension_headers_are_walked() {
        let mut p = vec![0u8; 40 + 8 + 8 + 20];
        p[0] = 0x60;
        p[6] = 0; // hop-by-hop
        p[40] = 44; // next: fragment
        p[41] = 0; // 8 bytes
        p[48] = IPPROTO_TCP; // fragment header: next TCP, offset 0
        p[56 + 13] = tcp_flag::SYN;
        assert_eq!(transport(&p), Some((IPPROTO_TCP, 56)));
        assert!(is_tcp_syn(&p));
        p[51] = 0x08; // fragment offset 1
        assert_eq!(transport(&p), None);
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let mut seed = 1u64;
        for len in 0..80 {
            for _ in 0..50 {
                let mut p: Vec<u8> = (0..len)
                    .map(|_| {
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                        (seed >> 56) as u8
                    })
                    .collect();
                if let Some(b) = p.first_mut() {
                    *b = if seed & 1 == 0 { 0x45 } else { 0x60 } | (*b & 0x0f);
                }
                let _ = (is_tcp_syn(&p), ports(&p), ecn(&p), summary(&p));
                let _ = mark_ce(&mut p);
            }
        }
    }

    #[test]
    fn summary_reads_ports_and_flags() {
        let p = v4(0, IPPROTO_TCP, &tcp(tcp_flag::SYN | tcp_flag::ACK));
        assert_eq!(
            summary(&p),
            "IP 10.0.0.1.1234 > 10.0.0.2.80: tcp [S.] length 40"
        );
    }
}
