//! IPv4 and IPv6 layers of the tcpdump format.

use core::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Ctx, R, Trunc, be16_at, be32_at, l4, tcp, u8_at};
use crate::checksum::{Checksum, checksum};

/// What the transport printers need from the network layer.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Net<'a> {
    /// IPv4: the header bytes as captured (at least 20).
    V4 { hdr: &'a [u8] },
    /// IPv6: the fixed header and the pseudo-header destination.
    V6 { hdr: &'a [u8], final_dst: [u8; 16] },
}

impl Net<'_> {
    pub(crate) fn src_bytes(&self) -> &[u8] {
        match self {
            Net::V4 { hdr } => &hdr[12..16],
            Net::V6 { hdr, .. } => &hdr[8..24],
        }
    }
    pub(crate) fn dst_bytes(&self) -> &[u8] {
        match self {
            Net::V4 { hdr } => &hdr[16..20],
            Net::V6 { hdr, .. } => &hdr[24..40],
        }
    }
    /// The protocol field of the IP header itself (for v6, of the fixed header): tcpdump
    /// prints addresses with ports only when it equals the transport's protocol.
    pub(crate) fn first_proto(&self) -> u8 {
        match self {
            Net::V4 { hdr } => hdr[9],
            Net::V6 { hdr, .. } => hdr[6],
        }
    }
    pub(crate) fn is_v6(&self) -> bool {
        matches!(self, Net::V6 { .. })
    }
    /// The pseudo-header sum for `proto` over `len` bytes (RFC 9293 §3.1, RFC 8200 §8.1).
    pub(crate) fn pseudo(&self, proto: u8, len: u32) -> Checksum {
        match self {
            Net::V4 { hdr } => {
                let src = Ipv4Addr::new(hdr[12], hdr[13], hdr[14], hdr[15]);
                let d = ip_finddst(hdr);
                Checksum::pseudo_ipv4(src, Ipv4Addr::from(d), proto, len as u16)
            }
            Net::V6 { hdr, final_dst } => {
                let mut s = [0u8; 16];
                s.copy_from_slice(&hdr[8..24]);
                Checksum::pseudo_ipv6(Ipv6Addr::from(s), Ipv6Addr::from(*final_dst), proto, len)
            }
        }
    }
}

/// An address as tcpdump prints it with `-n`.
pub(crate) fn addr_string(b: &[u8]) -> String {
    if b.len() == 4 {
        Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()
    } else {
        ip6_string(b)
    }
}

/// IPv6 text form as tcpdump's `addrtostr6` writes it (the BIND `inet_ntop` algorithm):
/// the first longest run of two or more zero words becomes `::`, and an address whose
/// first six words are zero, or five zero words then `ffff`, ends in dotted IPv4
/// (RFC 4291 §2.2 forms 2 and 3). It differs from RFC 5952 for `::a.b.c.d`.
fn ip6_string(b: &[u8]) -> String {
    let mut w = [0u16; 8];
    for (i, x) in w.iter_mut().enumerate() {
        *x = u16::from_be_bytes([b[2 * i], b[2 * i + 1]]);
    }
    let (mut best, mut cur): ((usize, usize), Option<(usize, usize)>) = ((8, 0), None);
    for (i, &x) in w.iter().enumerate() {
        if x == 0 {
            cur = Some(match cur {
                Some((base, len)) => (base, len + 1),
                None => (i, 1),
            });
        } else if let Some(c) = cur.take()
            && (best.0 == 8 || c.1 > best.1)
        {
            best = c;
        }
    }
    if let Some(c) = cur
        && (best.0 == 8 || c.1 > best.1)
    {
        best = c;
    }
    if best.1 < 2 {
        best = (8, 0);
    }
    let mut s = String::new();
    let mut i = 0;
    while i < 8 {
        if best.0 != 8 && i >= best.0 && i < best.0 + best.1 {
            if i == best.0 {
                s.push(':');
            }
            i += 1;
            continue;
        }
        if i != 0 {
            s.push(':');
        }
        if i == 6 && best.0 == 0 && (best.1 == 6 || (best.1 == 5 && w[5] == 0xffff)) {
            let _ = write!(s, "{}.{}.{}.{}", b[12], b[13], b[14], b[15]);
            return s;
        }
        let _ = write!(s, "{:x}", w[i]);
        i += 1;
    }
    if best.0 != 8 && best.0 + best.1 == 8 {
        s.push(':');
    }
    s
}

/// tcpdump's `in_cksum_shouldbe`: the checksum field value that would have been correct,
/// from the field and the sum computed over data including it.
pub(crate) fn shouldbe(field: u16, computed: u16) -> u16 {
    let mut s = u32::from(field) + u32::from(computed);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// Names of IP protocol numbers in `-v` output.
pub(crate) fn proto_name(p: u8) -> &'static str {
    match p {
        0 => "Options",
        1 => "ICMP",
        2 => "IGMP",
        4 => "IPIP",
        6 => "TCP",
        8 => "EGP",
        9 => "IGRP",
        17 => "UDP",
        33 => "DCCP",
        41 => "IPv6",
        43 => "Routing",
        44 => "Fragment",
        46 => "RSVP",
        47 => "GRE",
        50 => "ESP",
        51 => "AH",
        55 => "Mobile IP",
        58 => "ICMPv6",
        62 => "Mobile IP (old)",
        88 => "EIGRP",
        89 => "OSPF",
        103 => "PIM",
        108 => "Compressed IP",
        112 => "VRRP",
        113 => "PGM",
        132 => "SCTP",
        135 => "Mobility",
        143 => "Ethernet",
        _ => "unknown",
    }
}

/// Raw IP link: dispatch on the version nibble.
pub(crate) fn ipn_print(cx: &mut Ctx<'_>, bp: &[u8], length: u32) -> R {
    cx.proto = "ipn";
    if length < 1 {
        let _ = write!(cx.out, "truncated-ip {length}");
        return Ok(());
    }
    let v = u8_at(bp, 0)?;
    match v & 0xf0 {
        0x40 => ip_print(cx, bp, length),
        0x60 => ip6_print(cx, bp, length),
        _ => {
            let _ = write!(cx.out, "unknown ip {}", v >> 4);
            Ok(())
        }
    }
}

/// The final destination for the IPv4 pseudo-header: the last hop of a source route.
fn ip_finddst(hdr: &[u8]) -> [u8; 4] {
    let dst = [hdr[16], hdr[17], hdr[18], hdr[19]];
    let hlen = usize::from(hdr[0] & 0x0f) * 4;
    let Some(opts) = hdr.get(20..hlen) else {
        return dst;
    };
    let mut i = 0;
    while i < opts.len() {
        let t = opts[i];
        if t == 0 {
            break;
        }
        let len = if t == 1 {
            1
        } else {
            match opts.get(i + 1) {
                Some(&l) if l >= 2 => usize::from(l),
                _ => break,
            }
        };
        if opts.len() - i < len {
            return dst;
        }
        // RFC 791 §3.1: LSRR (131) and SSRR (137) carry the route; the last entry is the
        // final destination.
        if (t == 131 || t == 137) && len >= 7 {
            let e = i + len;
            return [opts[e - 4], opts[e - 3], opts[e - 2], opts[e - 1]];
        }
        i += len;
    }
    dst
}

fn ip_printroute(cx: &mut Ctx<'_>, cp: &[u8], length: usize) -> R {
    if length < 3 {
        let _ = write!(cx.out, " [bad length {length}]");
        return Ok(());
    }
    if (length + 1) & 3 != 0 {
        let _ = write!(cx.out, " [bad length {length}]");
    }
    let p = u8_at(cp, 2)?;
    // tcpdump's unsigned arithmetic: a zero pointer wraps to a huge value.
    let ptr = u32::from(p).wrapping_sub(1);
    let length32 = length as u32;
    if ptr < 3 || (ptr.wrapping_add(1) & 3) != 0 || ptr > length32 + 1 {
        let _ = write!(cx.out, " [bad ptr {p}]");
    }
    let mut len = 3;
    while len < length {
        let a = cp.get(len..len + 4).ok_or(Trunc)?;
        let a = cx.addr(a);
        let _ = write!(cx.out, " {a}");
        if ptr > len as u32 {
            cx.p(",");
        }
        len += 4;
    }
    Ok(())
}

fn ip_printts(cx: &mut Ctx<'_>, cp: &[u8], length: usize) -> R {
    if length < 4 {
        let _ = write!(cx.out, "[bad length {length}]");
        return Ok(());
    }
    cx.p(" TS{");
    let flg = u8_at(cp, 3)?;
    let hoplen = if flg & 0xf != 0 { 8 } else { 4 };
    if (length - 4) & (hoplen - 1) != 0 {
        let _ = write!(cx.out, "[bad length {length}]");
    }
    let p = u8_at(cp, 2)?;
    let ptr = u32::from(p).wrapping_sub(1);
    let mut len = 0;
    if ptr < 4 || (ptr.wrapping_sub(4) & (hoplen as u32 - 1)) != 0 || ptr > length as u32 + 1 {
        let _ = write!(cx.out, "[bad ptr {p}]");
    }
    let ok = match flg & 0xf {
        0 => {
            cx.p("TSONLY");
            true
        }
        1 => {
            cx.p("TS+ADDR");
            true
        }
        3 => {
            cx.p("PRESPEC");
            true
        }
        t => {
            let _ = write!(cx.out, "[bad ts type {t}]");
            false
        }
    };
    if ok {
        let mut ty = " ";
        len = 4;
        while len < length {
            if ptr == len as u32 {
                ty = " ^ ";
            }
            let hop = cp.get(len..len + hoplen).ok_or(Trunc)?;
            let ts = be32_at(hop, hoplen - 4)?;
            let a = if hoplen == 8 {
                cx.addr(&hop[..4])
            } else {
                String::new()
            };
            let _ = write!(cx.out, "{ty}{ts}@{a}");
            ty = " ";
            len += hoplen;
        }
    }
    if ptr == len as u32 {
        cx.p(" ^ ");
    }
    if flg >> 4 != 0 {
        let _ = write!(cx.out, " [{} hops not recorded]}} ", flg >> 4);
    } else {
        cx.p("}");
    }
    Ok(())
}

/// IPv4 options in `-v` output. `cp` runs from the first option to the end of the
/// capture; `Ok(false)` is tcpdump's `[truncated-option]` (an option not wholly captured),
/// `Err` a read past the capture elsewhere.
fn ip_optprint(cx: &mut Ctx<'_>, cp: &[u8], length: usize) -> R<bool> {
    let mut i = 0;
    let mut sep = "";
    while i < length {
        cx.p(sep);
        sep = ",";
        let code = u8_at(cp, i)?;
        let name = match code {
            0 => "EOL".to_string(),
            1 => "NOP".to_string(),
            68 => "timestamp".to_string(),
            130 => "security".to_string(),
            7 => "RR".to_string(),
            137 => "SSRR".to_string(),
            131 => "LSRR".to_string(),
            148 => "RA".to_string(),
            82 => "traceroute".to_string(),
            c => format!("unknown {c}"),
        };
        cx.p(&name);
        let olen = if code == 0 || code == 1 {
            1
        } else {
            let l = usize::from(u8_at(cp, i + 1)?);
            if l < 2 {
                let _ = write!(cx.out, " [bad length {l}]");
                return Ok(true);
            }
            l
        };
        if olen > length - i {
            let _ = write!(cx.out, " [bad length {olen}]");
            return Ok(true);
        }
        if cp.len() < i + olen {
            return Ok(false);
        }
        // Sub-printers may read past the option (tcpdump checks only the capture).
        let opt = &cp[i..];
        match code {
            0 => return Ok(true),
            68 => ip_printts(cx, opt, olen)?,
            7 | 137 | 131 => ip_printroute(cx, opt, olen)?,
            148 => {
                if olen < 4 {
                    let _ = write!(cx.out, " [bad length {olen}]");
                } else {
                    let v = be16_at(opt, 2)?;
                    if v != 0 {
                        let _ = write!(cx.out, " value {v}");
                    }
                }
            }
            _ => {}
        }
        i += olen;
    }
    Ok(true)
}

/// tcpdump's `ip_print`.
pub(crate) fn ip_print(cx: &mut Ctx<'_>, bp: &[u8], length: u32) -> R {
    cx.proto = "ip";
    let vhl = u8_at(bp, 0)?;
    let v = vhl >> 4;
    if v != 4 {
        if v == 6 {
            cx.p("IP6, wrong link-layer encapsulation");
        } else {
            let _ = write!(cx.out, "IP{v}");
        }
        cx.p(" (invalid)");
        return Ok(());
    }
    cx.p("IP ");
    if bp.len() < 20 {
        return cx.local_trunc();
    }
    if length < 20 {
        let _ = write!(cx.out, "truncated-ip {length}");
        return Ok(());
    }
    let hlen = u32::from(vhl & 0x0f) * 4;
    if hlen < 20 {
        let _ = write!(cx.out, "bad-hlen {hlen}");
        return Ok(());
    }
    let len = u32::from(be16_at(bp, 2)?);
    if length < len {
        let _ = write!(cx.out, "truncated-ip - {} bytes missing! ", len - length);
    }
    if len < hlen {
        let _ = write!(cx.out, "bad-len {len}");
        return Ok(());
    }
    // Cut the capture to the end of the IP datagram (link padding is not payload).
    let bp = &bp[..bp.len().min(len as usize)];
    let plen = len - hlen;
    let off = be16_at(bp, 6)?;
    let proto = bp[9];
    let net = Net::V4 { hdr: bp };
    if cx.opts.verbose > 0 {
        let tos = bp[1];
        let _ = write!(cx.out, "(tos 0x{tos:x}");
        match tos & 3 {
            1 => cx.p(",ECT(1)"),
            2 => cx.p(",ECT(0)"),
            3 => cx.p(",CE"),
            _ => {}
        }
        let ttl = bp[8];
        if ttl >= 1 {
            let _ = write!(cx.out, ", ttl {ttl}");
        }
        let mut fl = String::new();
        for (bit, s) in [(0x2000u16, "+"), (0x4000, "DF"), (0x8000, "rsvd")] {
            if off & bit != 0 {
                if !fl.is_empty() {
                    fl.push_str(", ");
                }
                fl.push_str(s);
            }
        }
        if fl.is_empty() {
            fl.push_str("none");
        }
        let _ = write!(
            cx.out,
            ", id {}, offset {}, flags [{fl}], proto {} ({proto}), length {len}",
            be16_at(bp, 4)?,
            u32::from(off & 0x1fff) * 8,
            proto_name(proto)
        );
        let mut truncated = false;
        if hlen > 20 {
            cx.p(", options (");
            if !ip_optprint(cx, &bp[20..], hlen as usize - 20)? {
                cx.p(" [truncated-option]");
                truncated = true;
            }
            cx.p(")");
        }
        if bp.len() >= hlen as usize {
            let sum = checksum(&bp[..hlen as usize]);
            if sum != 0 {
                let f = be16_at(bp, 10)?;
                let _ = write!(cx.out, ", bad cksum {f:x} (->{:x})!", shouldbe(f, sum));
            }
        }
        cx.p(")\n    ");
        if truncated {
            let (s, d) = cx.addrs(net.src_bytes(), net.dst_bytes());
            let _ = write!(cx.out, "{s} > {d}: ");
            return cx.local_trunc();
        }
    }
    if off & 0x1fff == 0 {
        if !matches!(proto, 6 | 17 | 33 | 132) {
            let (s, d) = cx.addrs(net.src_bytes(), net.dst_bytes());
            let _ = write!(cx.out, "{s} > {d}: ");
        }
        if bp.len() < hlen as usize {
            let _ = write!(
                cx.out,
                " [remaining caplen({}) < header length({hlen})]",
                bp.len()
            );
            return Err(Trunc);
        }
        let payload = &bp[hlen as usize..];
        let fragmented = off & 0x3fff != 0;
        demux(cx, net, proto, payload, plen, fragmented)
    } else {
        let (s, d) = cx.addrs(net.src_bytes(), net.dst_bytes());
        let _ = write!(cx.out, "{s} > {d}:");
        match cx.proto_name(proto) {
            Some(n) => {
                let _ = write!(cx.out, " {n}");
            }
            None => {
                let _ = write!(cx.out, " ip-proto-{proto}");
            }
        }
        Ok(())
    }
}

/// tcpdump's `ip_demux_print`, for the protocols synack decodes.
fn demux(cx: &mut Ctx<'_>, net: Net<'_>, nh: u8, bp: &[u8], len: u32, fragmented: bool) -> R {
    match nh {
        6 => tcp::tcp_print(cx, bp, len, net, fragmented),
        17 => l4::udp_print(cx, bp, len, net, fragmented),
        1 if !net.is_v6() => l4::icmp_print(cx, bp, len, fragmented),
        58 if net.is_v6() => l4::icmp6_print(cx, bp, len, net, fragmented),
        1 => {
            cx.p("[ICMP requires IPv4] (invalid)");
            Ok(())
        }
        2 if net.is_v6() => {
            cx.p("[IGMP requires IPv4] (invalid)");
            Ok(())
        }
        58 => {
            cx.p("[ICMPv6 requires IPv6] (invalid)");
            Ok(())
        }
        59 => {
            cx.p("no next header");
            Ok(())
        }
        // IP in IP (RFC 2003) and IPv6 in IP (RFC 4213).
        4 => ip_print(cx, bp, len),
        41 => ip6_print(cx, bp, len),
        77 => {
            let _ = write!(cx.out, " nd {len}");
            Ok(())
        }
        // RFC 8986 Ethernet payload (next header 143).
        143 if net.is_v6() => super::ether_payload(cx, bp, len),
        _ => {
            match cx.proto_name(nh) {
                Some(n) => {
                    let _ = write!(cx.out, " {n}");
                }
                None => {
                    let _ = write!(cx.out, " ip-proto-{nh}");
                }
            }
            let _ = write!(cx.out, " {len}");
            Ok(())
        }
    }
}

/// The IPv6 pseudo-header destination: the last address of a type 0/2 routing header.
fn ip6_finddst(bp: &[u8]) -> [u8; 16] {
    let mut dst = [0u8; 16];
    dst.copy_from_slice(&bp[24..40]);
    let mut nh = bp[6];
    let mut cp = 40usize;
    while cp < bp.len() {
        match nh {
            0 | 60 | 135 | 62 => {
                let (Some(&n), Some(&l)) = (bp.get(cp), bp.get(cp + 1)) else {
                    return dst;
                };
                nh = n;
                cp += (usize::from(l) + 1) * 8;
            }
            44 => {
                let Some(&n) = bp.get(cp) else {
                    return dst;
                };
                nh = n;
                cp += 8;
            }
            43 => {
                let (Some(&l), Some(&t)) = (bp.get(cp + 1), bp.get(cp + 2)) else {
                    return dst;
                };
                if (t == 0 || t == 2) && l % 2 == 0 {
                    for i in 0..usize::from(l / 2) {
                        let s = cp + 8 + i * 16;
                        match bp.get(s..s + 16) {
                            Some(a) => dst.copy_from_slice(a),
                            None => return dst,
                        }
                    }
                } else if t == 4 {
                    // RFC 8754 §4.1: segment 0 is the final destination.
                    if let Some(a) = bp.get(cp + 8..cp + 24) {
                        dst.copy_from_slice(a);
                    }
                }
                return dst;
            }
            _ => return dst,
        }
    }
    dst
}

/// IPv6 hop-by-hop/destination options: `Ok(false)` stops the packet (malformed).
fn ip6_opt_process(
    cx: &mut Ctx<'_>,
    bp: &[u8],
    len: usize,
    hop_by_hop: bool,
    payload_len: u32,
) -> R<bool> {
    if len == 0 {
        return Ok(true);
    }
    let v = cx.opts.verbose > 0;
    let mut jumbo_seen = false;
    let mut i = 0;
    while i < len {
        let t = u8_at(bp, i)?;
        let optlen = if t == 0 {
            1
        } else if i + 1 < len {
            usize::from(u8_at(bp, i + 1)?) + 2
        } else {
            return Ok(false);
        };
        if i + optlen > len {
            return Ok(false);
        }
        match t {
            0 => {
                if v {
                    cx.p("(pad1)");
                }
            }
            1 => {
                if len - i < 2 {
                    cx.p("(padn: trunc)");
                    return Ok(false);
                }
                if v {
                    cx.p("(padn)");
                }
            }
            5 => {
                if len - i < 4 {
                    cx.p("(rtalert: trunc)");
                    return Ok(false);
                }
                let l = u8_at(bp, i + 1)?;
                if l != 2 {
                    let _ = write!(cx.out, "(rtalert: invalid len {l})");
                    return Ok(false);
                }
                if v {
                    let _ = write!(cx.out, "(rtalert: 0x{:04x}) ", be16_at(bp, i + 2)?);
                }
            }
            0xc2 => {
                // RFC 2675 Jumbo Payload: valid only as a hop-by-hop option with a zero
                // payload length in the IPv6 header.
                if len - i < 6 {
                    cx.p("(jumbo: trunc)");
                    return Ok(false);
                }
                let l = u8_at(bp, i + 1)?;
                if l != 4 {
                    let _ = write!(cx.out, "(jumbo: invalid len {l})");
                    return Ok(false);
                }
                let jl = be32_at(bp, i + 2)?;
                if v {
                    if jumbo_seen {
                        let _ = write!(cx.out, "(jumbo: {jl} - already seen) ");
                    } else if !hop_by_hop {
                        let _ = write!(cx.out, "(jumbo: {jl} - not a hop-by-hop option) ");
                    } else if payload_len != 0 {
                        let _ = write!(cx.out, "(jumbo: {jl} - payload len != 0) ");
                    } else if jl < 65536 {
                        let _ = write!(cx.out, "(jumbo: {jl} - < 65536) ");
                    } else {
                        let _ = write!(cx.out, "(jumbo: {jl}) ");
                    }
                }
                jumbo_seen = true;
            }
            _ => {
                if len - i < 2 {
                    let _ = write!(cx.out, "(type {t}: trunc)");
                    return Ok(false);
                }
                if v {
                    let _ = write!(cx.out, "(opt_type 0x{t:02x}: len={})", u8_at(bp, i + 1)?);
                }
            }
        }
        i += optlen;
    }
    if v {
        cx.p(" ");
    }
    Ok(true)
}

/// tcpdump's `ip6_print`.
pub(crate) fn ip6_print(cx: &mut Ctx<'_>, bp: &[u8], length: u32) -> R {
    cx.proto = "ip6";
    if bp.len() < 40 {
        return cx.local_trunc();
    }
    if length < 40 {
        let _ = write!(cx.out, "truncated-ip6 {length}");
        return Ok(());
    }
    cx.p("IP6 ");
    let v = bp[0] >> 4;
    if v != 6 {
        let _ = write!(cx.out, "version error: {v} != 6");
        return Ok(());
    }
    let payload_len = u32::from(be16_at(bp, 4)?);
    let mut len = if payload_len != 0 {
        let l = payload_len + 40;
        if length < l {
            let _ = write!(cx.out, "truncated-ip6 - {} bytes missing!", l - length);
        }
        l
    } else {
        length.saturating_add(40)
    };
    let mut nh = bp[6];
    if cx.opts.verbose > 0 {
        let flow = be32_at(bp, 0)?;
        cx.p("(");
        if flow & 0x0ff0_0000 != 0 {
            let _ = write!(cx.out, "class 0x{:02x}, ", (flow & 0x0ff0_0000) >> 20);
        }
        if flow & 0x000f_ffff != 0 {
            let _ = write!(cx.out, "flowlabel 0x{:05x}, ", flow & 0x000f_ffff);
        }
        let _ = write!(
            cx.out,
            "hlim {}, next-header {} ({nh}) payload length: {payload_len}) ",
            bp[7],
            proto_name(nh)
        );
    }
    let mut bp = &bp[..bp.len().min(len as usize)];
    let net = Net::V6 {
        hdr: &bp[..40],
        final_dst: ip6_finddst(bp),
    };
    let mut cp = 0usize;
    let mut advance = 40usize;
    let mut total_advance = 0usize;
    let mut fragmented = false;
    let mut found_ext = false;
    let mut found_hbh = false;
    let mut ph: u16 = 255;
    while cp < bp.len() && advance > 0 {
        if (len as usize) < advance {
            return cx.local_trunc();
        }
        cp += advance;
        len -= advance as u32;
        total_advance += advance;
        if cp == 40 && !matches!(nh, 6 | 17 | 33 | 132) {
            let (s, d) = cx.addrs(net.src_bytes(), net.dst_bytes());
            let _ = write!(cx.out, "{s} > {d}: ");
        }
        match nh {
            0 => {
                // RFC 8200 §4.3: hop-by-hop options come first.
                if found_hbh {
                    cx.p("[The Hop-by-Hop Options header was already found] (invalid)");
                    return Ok(());
                }
                if ph != 255 {
                    cx.p("[The Hop-by-Hop Options header don't follow the IPv6 header] (invalid)");
                    return Ok(());
                }
                cx.proto = "hbhopt";
                let hl = (usize::from(u8_at(bp, cp + 1)?) + 1) * 8;
                let ok = if bp.len() < cp + hl {
                    false
                } else {
                    cx.p("HBH ");
                    ip6_opt_process(cx, &bp[cp + 2..cp + hl], hl - 2, true, payload_len)?
                };
                if !ok {
                    cx.local_trunc()?;
                }
                // RFC 2675: a zero payload length needs a Jumbo Payload option.
                if payload_len == 0 {
                    cx.p("[No valid Jumbo Payload Hop-by-Hop option found] (invalid)");
                    return Ok(());
                }
                if !ok {
                    return Ok(());
                }
                advance = hl;
                found_ext = true;
                found_hbh = true;
                nh = bp[cp];
            }
            60 => {
                cx.proto = "dstopt";
                let hl = (usize::from(u8_at(bp, cp + 1)?) + 1) * 8;
                if bp.len() < cp + hl {
                    return cx.local_trunc();
                }
                cx.p("DSTOPT ");
                if cx.opts.verbose > 0
                    && !ip6_opt_process(cx, &bp[cp + 2..cp + hl], hl - 2, false, payload_len)?
                {
                    return cx.local_trunc();
                }
                advance = hl;
                found_ext = true;
                nh = bp[cp];
            }
            44 => {
                cx.proto = "frag6";
                let offlg = be16_at(bp, cp + 2)?;
                // tcpdump computes this in size_t: it wraps on a short payload length.
                let flen = (40 + u64::from(payload_len))
                    .wrapping_sub(cp as u64)
                    .wrapping_sub(8);
                if cx.opts.verbose > 0 {
                    let id = be32_at(bp, cp + 4)?;
                    let _ = write!(cx.out, "frag (0x{id:08x}:{}|{flen})", offlg & 0xfff8);
                } else {
                    let _ = write!(cx.out, "frag ({}|{flen})", offlg & 0xfff8);
                }
                // RFC 8200 §4.5: only the first fragment carries the upper-layer header.
                if offlg & 0xfff8 != 0 {
                    return Ok(());
                }
                cx.p(" ");
                advance = 8;
                if bp.len() <= cp + advance {
                    return Ok(());
                }
                found_ext = true;
                nh = bp[cp];
                fragmented = true;
            }
            43 => {
                if bp.len() <= cp {
                    return cx.local_trunc();
                }
                cx.proto = "rt6";
                cx.p("RT6");
                let l = u8_at(bp, cp + 1)?;
                let _ = write!(cx.out, " (len={l}");
                let t = u8_at(bp, cp + 2)?;
                let _ = write!(cx.out, ", type={t}");
                if t == 0 {
                    cx.p(" [Deprecated]");
                }
                let _ = write!(cx.out, ", segleft={}", u8_at(bp, cp + 3)?);
                match t {
                    0 | 2 => {
                        let rsv = be32_at(bp, cp + 4)?;
                        if cx.opts.verbose > 0 || rsv != 0 {
                            let _ = write!(cx.out, ", rsv=0x{rsv:x}");
                        }
                        if l % 2 == 1 {
                            let _ = write!(cx.out, " (invalid length {l}) (invalid)");
                            return Ok(());
                        }
                        for i in 0..usize::from(l / 2) {
                            let s = cp + 8 + i * 16;
                            let a = bp.get(s..s + 16).ok_or(Trunc)?;
                            let a = cx.addr(a);
                            let _ = write!(cx.out, ", [{i}]{a}");
                        }
                        cx.p(") ");
                        advance = (usize::from(l) + 1) * 8;
                    }
                    4 => {
                        // RFC 8754 segment routing header.
                        let last = u8_at(bp, cp + 4)?;
                        let _ = write!(cx.out, ", last-entry={last}");
                        let fl = u8_at(bp, cp + 5)?;
                        if fl != 0 || cx.opts.verbose > 0 {
                            let _ = write!(cx.out, ", flags=0x{fl:x}");
                        }
                        let _ = write!(cx.out, ", tag={:x}", be16_at(bp, cp + 6)?);
                        for i in 0..=usize::from(last) {
                            let s = cp + 8 + i * 16;
                            let a = bp.get(s..s + 16).ok_or(Trunc)?;
                            let a = cx.addr(a);
                            let _ = write!(cx.out, ", [{i}]{a}");
                        }
                        cx.p(") ");
                        advance = (usize::from(l) + 1) * 8;
                    }
                    _ => {
                        cx.p(" (unknown type) (invalid)");
                        return Ok(());
                    }
                }
                found_ext = true;
                nh = bp[cp];
            }
            _ => {
                if payload_len == 0 {
                    if found_ext {
                        return cx.local_trunc();
                    }
                    len = 0;
                    bp = &bp[..bp.len().min(40)];
                }
                let payload = bp.get(cp..).unwrap_or(&[]);
                return demux(cx, net, nh, payload, len, fragmented);
            }
        }
        ph = u16::from(nh);
        cx.proto = "ip6";
    }
    let _ = total_advance;
    Ok(())
}
