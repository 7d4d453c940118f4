//! UDP, ICMP and ICMPv6 in tcpdump's one-line forms.

use core::fmt::Write;

use super::ip::{Net, shouldbe};
use super::{Ctx, R, Trunc, be16_at, be32_at, u8_at};
use crate::checksum::checksum;

fn udpipaddr(cx: &mut Ctx<'_>, net: Net<'_>, ports: Option<(u16, u16)>) {
    let ports = ports.map(|(s, d)| (cx.port(s, "udp"), cx.port(d, "udp")));
    if net.first_proto() == 17 {
        let (a, b) = cx.addrs(net.src_bytes(), net.dst_bytes());
        match ports {
            None => {
                let _ = write!(cx.out, "{a} > {b}: ");
            }
            Some((s, d)) => {
                let _ = write!(cx.out, "{a}.{s} > {b}.{d}: ");
            }
        }
    } else if let Some((s, d)) = ports {
        let _ = write!(cx.out, "{s} > {d}: ");
    }
}

/// tcpdump's `udp_print` for ports without an application decoder.
pub(crate) fn udp_print(
    cx: &mut Ctx<'_>,
    bp: &[u8],
    length: u32,
    net: Net<'_>,
    fragmented: bool,
) -> R {
    cx.proto = "udp";
    if bp.len() < 4 {
        udpipaddr(cx, net, None);
        return cx.local_trunc();
    }
    let sport = be16_at(bp, 0)?;
    let dport = be16_at(bp, 2)?;
    if length < 8 {
        udpipaddr(cx, net, Some((sport, dport)));
        let _ = write!(cx.out, "truncated-udp {length}");
        return Ok(());
    }
    if bp.len() < 6 {
        udpipaddr(cx, net, Some((sport, dport)));
        return cx.local_trunc();
    }
    let mut ulen = u32::from(be16_at(bp, 4)?);
    // RFC 2675: a zero length with more than 65535 bytes is a jumbogram.
    if ulen == 0 && length > 65535 {
        ulen = length;
    }
    if ulen < 8 {
        udpipaddr(cx, net, Some((sport, dport)));
        let _ = write!(cx.out, "truncated-udplength {ulen}");
        return Ok(());
    }
    ulen -= 8;
    let mut length = length - 8;
    if ulen < length {
        length = ulen;
    }
    if bp.len() < 8 {
        udpipaddr(cx, net, Some((sport, dport)));
        return cx.local_trunc();
    }
    udpipaddr(cx, net, Some((sport, dport)));
    if cx.opts.verbose > 0 && !fragmented {
        let field = be16_at(bp, 6)?;
        let covered = length as usize + 8;
        if !net.is_v6() {
            // tcpdump checks IPv4 UDP checksums only from -vv on.
            if cx.opts.verbose > 1 {
                if field == 0 {
                    cx.p("[no cksum] ");
                } else if bp.len() >= covered {
                    let mut c = net.pseudo(17, covered as u32);
                    c.add_bytes(&bp[..covered]);
                    let sum = c.finish();
                    if sum != 0 {
                        let _ = write!(
                            cx.out,
                            "[bad udp cksum 0x{field:04x} -> 0x{:04x}!] ",
                            shouldbe(field, sum)
                        );
                    } else {
                        cx.p("[udp sum ok] ");
                    }
                }
            }
        } else if bp.len() >= covered {
            let mut c = net.pseudo(17, covered as u32);
            c.add_bytes(&bp[..covered]);
            let sum = c.finish();
            if sum != 0 {
                let _ = write!(
                    cx.out,
                    "[bad udp cksum 0x{field:04x} -> 0x{:04x}!] ",
                    shouldbe(field, sum)
                );
            } else {
                cx.p("[udp sum ok] ");
            }
        }
    }
    if sport == 53 || dport == 53 {
        let p = bp.get(8..).unwrap_or(&[]);
        return super::dns::domain_print(cx, p, length, false, false);
    }
    if sport == 5353 || dport == 5353 {
        let p = bp.get(8..).unwrap_or(&[]);
        return super::dns::domain_print(cx, p, length, false, true);
    }
    // A fragment's UDP length covers data in later fragments.
    if ulen > length && !fragmented {
        let _ = write!(cx.out, "UDP, bad length {ulen} > {length}");
    } else {
        let _ = write!(cx.out, "UDP, length {ulen}");
    }
    Ok(())
}

/// tcpdump's `icmp_print` for echo messages and types without further detail.
fn ip4_at(cx: &mut Ctx<'_>, bp: &[u8], at: usize) -> R<String> {
    let a = bp.get(at..at + 4).ok_or(Trunc)?;
    Ok(cx.addr(a))
}

/// tcpdump's `icmp_tstamp_print`: milliseconds since midnight as `hh:mm:ss.mmm`.
fn tstamp(t: u32) -> String {
    let msec = t % 1000;
    let mut sec = t / 1000;
    let mut min = sec / 60;
    sec -= min * 60;
    let hrs = min / 60;
    min -= hrs * 60;
    format!("{hrs:02}:{min:02}:{sec:02}.{msec:03}")
}

/// The one-line text of an ICMP message (RFC 792), as tcpdump builds it.
fn icmp_text(cx: &mut Ctx<'_>, bp: &[u8], t: u8, code: u8) -> R<String> {
    // Offsets: the quoted IP header starts at 8; its destination at 8 + 16.
    const QDST: usize = 24;
    Ok(match t {
        0 | 8 => format!(
            "echo {}, id {}, seq {}",
            if t == 8 { "request" } else { "reply" },
            be16_at(bp, 4)?,
            be16_at(bp, 6)?
        ),
        3 => match code {
            0 => format!("net {} unreachable", ip4_at(cx, bp, QDST)?),
            1 => format!("host {} unreachable", ip4_at(cx, bp, QDST)?),
            2 => {
                let d = ip4_at(cx, bp, QDST)?;
                format!("{d} protocol {} unreachable", u8_at(bp, 17)?)
            }
            3 => {
                u8_at(bp, 17)?;
                let hlen = usize::from(u8_at(bp, 8)? & 0x0f) * 4;
                let dport = be16_at(bp, 8 + hlen + 2)?;
                let proto = u8_at(bp, 17)?;
                let d = ip4_at(cx, bp, QDST)?;
                match proto {
                    6 => format!("{d} tcp port {} unreachable", cx.port(dport, "tcp")),
                    17 => format!("{d} udp port {} unreachable", cx.port(dport, "udp")),
                    _ => format!("{d} protocol {proto} port {dport} unreachable"),
                }
            }
            4 => {
                // RFC 1191: the next-hop MTU is in the low half of the second word.
                let mtu = be16_at(bp, 6)?;
                let d = ip4_at(cx, bp, QDST)?;
                if mtu != 0 {
                    format!("{d} unreachable - need to frag (mtu {mtu})")
                } else {
                    format!("{d} unreachable - need to frag")
                }
            }
            5 => format!(
                "{} unreachable - source route failed",
                ip4_at(cx, bp, QDST)?
            ),
            6 => format!("net {} unreachable - unknown", ip4_at(cx, bp, QDST)?),
            7 => format!("host {} unreachable - unknown", ip4_at(cx, bp, QDST)?),
            8 => format!(
                "{} unreachable - source host isolated",
                ip4_at(cx, bp, QDST)?
            ),
            9 => format!(
                "net {} unreachable - admin prohibited",
                ip4_at(cx, bp, QDST)?
            ),
            10 => format!(
                "host {} unreachable - admin prohibited",
                ip4_at(cx, bp, QDST)?
            ),
            11 => format!("net {} unreachable - tos prohibited", ip4_at(cx, bp, QDST)?),
            12 => format!(
                "host {} unreachable - tos prohibited",
                ip4_at(cx, bp, QDST)?
            ),
            13 => format!(
                "host {} unreachable - admin prohibited filter",
                ip4_at(cx, bp, QDST)?
            ),
            14 => format!(
                "host {} unreachable - host precedence violation",
                ip4_at(cx, bp, QDST)?
            ),
            15 => format!(
                "host {} unreachable - precedence cutoff",
                ip4_at(cx, bp, QDST)?
            ),
            c => format!("{} unreachable - #{c}", ip4_at(cx, bp, QDST)?),
        },
        5 => {
            let d = ip4_at(cx, bp, QDST)?;
            let g = ip4_at(cx, bp, 4)?;
            match code {
                0 => format!("redirect {d} to net {g}"),
                1 => format!("redirect {d} to host {g}"),
                2 => format!("redirect-tos {d} to net {g}"),
                3 => format!("redirect-tos {d} to host {g}"),
                c => format!("redirect-#{c} {d} to {g}"),
            }
        }
        9 => {
            let mut s = "router advertisement".to_string();
            if bp.len() < 8 {
                return Err(Trunc);
            }
            s.push_str(" lifetime ");
            let lt = be16_at(bp, 6)?;
            if lt < 60 {
                let _ = write!(s, "{lt}");
            } else if lt < 3600 {
                let _ = write!(s, "{}:{:02}", lt / 60, lt % 60);
            } else {
                let _ = write!(s, "{}:{:02}:{:02}", lt / 3600, (lt % 3600) / 60, lt % 60);
            }
            let num = u8_at(bp, 4)?;
            let _ = write!(s, " {num}:");
            let size = u8_at(bp, 5)?;
            if size != 2 {
                let _ = write!(s, " [size {size}]");
            } else {
                for i in 0..usize::from(num) {
                    let at = 8 + i * 8;
                    if bp.len() < at + 8 {
                        return Err(Trunc);
                    }
                    let _ = write!(s, " {{{} {}}}", ip4_at(cx, bp, at)?, be32_at(bp, at + 4)?);
                }
            }
            s
        }
        11 => {
            bp.get(QDST..QDST + 4).ok_or(Trunc)?;
            match code {
                0 => "time exceeded in-transit".to_string(),
                1 => "ip reassembly time exceeded".to_string(),
                c => format!("time exceeded-#{c}"),
            }
        }
        12 => {
            if code != 0 {
                format!("parameter problem - code {code}")
            } else {
                format!("parameter problem - octet {}", u8_at(bp, 4)?)
            }
        }
        18 => format!("address mask is 0x{:08x}", be32_at(bp, 8)?),
        13 => format!(
            "time stamp query id {} seq {}",
            be16_at(bp, 4)?,
            be16_at(bp, 6)?
        ),
        14 => {
            be32_at(bp, 16)?;
            format!(
                "time stamp reply id {} seq {}: org {}, recv {}, xmit {}",
                be16_at(bp, 4)?,
                be16_at(bp, 6)?,
                tstamp(be32_at(bp, 8)?),
                tstamp(be32_at(bp, 12)?),
                tstamp(be32_at(bp, 16)?)
            )
        }
        4 => "source quench".to_string(),
        10 => "router solicitation".to_string(),
        15 => "information request".to_string(),
        16 => "information reply".to_string(),
        17 => "address mask request".to_string(),
        _ => format!("type-#{t}"),
    })
}

/// tcpdump's `icmp_print` (RFC 792): the message summary, the checksum verdict with
/// `-v`, and with `-v` the quoted datagram of an error message.
pub(crate) fn icmp_print(cx: &mut Ctx<'_>, bp: &[u8], plen: u32, fragmented: bool) -> R {
    cx.proto = "icmp";
    let t = u8_at(bp, 0)?;
    let code = u8_at(bp, 1)?;
    let s = icmp_text(cx, bp, t, code)?;
    let _ = write!(cx.out, "ICMP {s}, length {plen}");
    if cx.opts.verbose > 0 && !fragmented && bp.len() >= plen as usize {
        let sum = checksum(&bp[..plen as usize]);
        if sum != 0 {
            let f = be16_at(bp, 2)?;
            let _ = write!(
                cx.out,
                " (wrong icmp cksum {f:x} (->{:x})!)",
                shouldbe(f, sum)
            );
        }
    }
    if cx.opts.verbose > 0 && matches!(t, 3 | 4 | 5 | 11 | 12) {
        cx.p("\n\t");
        let inner_len = be16_at(bp, 8 + 2)?;
        let inner = bp.get(8..).unwrap_or(&[]);
        let inner = &inner[..inner.len().min(usize::from(inner_len))];
        super::ip::ip_print(cx, inner, u32::from(inner_len))?;
        cx.proto = "icmp";
        // RFC 4884 extensions: tcpdump looks for them only in long messages and stays
        // silent when the checksum over the would-be extension does not verify.
        const EXTD_MINLEN: usize = 136;
        let plen = plen as usize;
        if matches!(t, 3 | 11 | 12) && plen > EXTD_MINLEN {
            if bp.len() < 8 {
                return Err(Trunc);
            }
            if u8_at(bp, 5)? == 0 && bp.len() >= plen && checksum(&bp[EXTD_MINLEN..plen]) != 0 {
                return Ok(());
            }
            let version = u8_at(bp, EXTD_MINLEN)? >> 4;
            let _ = write!(cx.out, "\n\tICMP Multi-Part extension v{version}");
            if version != 2 {
                cx.p(" packet not supported");
            }
        }
    }
    Ok(())
}

/// tcpdump's `icmp6_print` for echo messages.
pub(crate) fn icmp6_print(
    cx: &mut Ctx<'_>,
    bp: &[u8],
    length: u32,
    net: Net<'_>,
    fragmented: bool,
) -> R {
    cx.proto = "icmp6";
    let t = u8_at(bp, 0)?;
    if cx.opts.verbose > 0 && !fragmented && bp.len() >= length as usize {
        let field = be16_at(bp, 2)?;
        let mut c = net.pseudo(58, length);
        c.add_bytes(&bp[..length as usize]);
        let sum = c.finish();
        if sum != 0 {
            let _ = write!(
                cx.out,
                "[bad icmp6 cksum 0x{field:04x} -> 0x{:04x}!] ",
                shouldbe(field, sum)
            );
        } else {
            cx.p("[icmp6 sum ok] ");
        }
    }
    let v = cx.opts.verbose > 0;
    match t {
        128 | 129 => {
            let _ = write!(
                cx.out,
                "ICMP6, echo {}",
                if t == 128 { "request" } else { "reply" }
            );
            let id = be16_at(bp, 4)?;
            let seq = be16_at(bp, 6)?;
            let _ = write!(cx.out, ", id {id}, seq {seq}");
            if !v {
                let _ = write!(cx.out, ", length {length}");
            }
        }
        // RFC 4861 neighbor discovery, without its options.
        133 | 134 if !v => {
            let name = if t == 133 {
                "router solicitation"
            } else {
                "router advertisement"
            };
            let _ = write!(cx.out, "ICMP6, {name}, length {length}");
        }
        135 | 136 if v => {
            let (name, what) = if t == 135 {
                ("neighbor solicitation", "who has")
            } else {
                ("neighbor advertisement", "tgt is")
            };
            let _ = write!(cx.out, "ICMP6, {name}, length {length}");
            let a = bp.get(8..24).ok_or(Trunc)?;
            let a = cx.addr(a);
            let _ = write!(cx.out, ", {what} {a}");
            if t == 136 {
                // RFC 4861 §4.4: Router, Solicited, Override.
                let f = u8_at(bp, 4)?;
                let mut names = Vec::new();
                for (bit, n) in [(0x80, "router"), (0x40, "solicited"), (0x20, "override")] {
                    if f & bit != 0 {
                        names.push(n);
                    }
                }
                let s = if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                };
                let _ = write!(cx.out, ", Flags [{s}]");
            }
        }
        135 | 136 => {
            let (name, what) = if t == 135 {
                ("neighbor solicitation", "who has")
            } else {
                ("neighbor advertisement", "tgt is")
            };
            let _ = write!(cx.out, "ICMP6, {name}");
            let a = bp.get(8..24).ok_or(Trunc)?;
            let a = cx.addr(a);
            let _ = write!(cx.out, ", {what} {a}, length {length}");
        }
        // Types tcpdump decodes further: named here, body not decoded.
        1 | 2 | 3 | 4 | 130 | 131 | 132 | 133 | 134 | 137 | 143 => {
            let name = match t {
                1 => "destination unreachable",
                2 => "packet too big",
                3 => "time exceeded",
                4 => "parameter problem",
                130 => "multicast listener query",
                131 => "multicast listener report",
                132 => "multicast listener done",
                133 => "router solicitation",
                134 => "router advertisement",
                137 => "redirect",
                _ => "multicast listener report v2",
            };
            let _ = write!(cx.out, "ICMP6, {name}, length {length}");
        }
        _ => {
            let _ = write!(cx.out, "ICMP6, unknown icmp6 type ({t}), length {length}");
            if cx.opts.verbose <= 1 {
                let n = (length as usize).min(bp.len());
                super::hex_print(&mut cx.out, &bp[..n]);
            }
        }
    }
    Ok(())
}
