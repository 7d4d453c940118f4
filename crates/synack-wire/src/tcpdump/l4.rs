//! UDP, ICMP and ICMPv6 in tcpdump's one-line forms.

use core::fmt::Write;

use super::ip::{Net, shouldbe};
use super::{Ctx, R, Trunc, be16_at, u8_at};
use crate::checksum::checksum;

fn udpipaddr(cx: &mut Ctx<'_>, net: Net<'_>, ports: Option<(u16, u16)>) {
    if net.first_proto() == 17 {
        match ports {
            None => {
                let _ = write!(cx.out, "{} > {}: ", net.src(), net.dst());
            }
            Some((s, d)) => {
                let _ = write!(cx.out, "{}.{s} > {}.{d}: ", net.src(), net.dst());
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
    if ulen > length {
        let _ = write!(cx.out, "UDP, bad length {ulen} > {length}");
    } else {
        let _ = write!(cx.out, "UDP, length {ulen}");
    }
    Ok(())
}

/// tcpdump's `icmp_print` for echo messages and types without further detail.
pub(crate) fn icmp_print(cx: &mut Ctx<'_>, bp: &[u8], plen: u32, fragmented: bool) -> R {
    cx.proto = "icmp";
    let t = u8_at(bp, 0)?;
    let _code = u8_at(bp, 1)?;
    let s = match t {
        0 | 8 => format!(
            "echo {}, id {}, seq {}",
            if t == 8 { "request" } else { "reply" },
            be16_at(bp, 4)?,
            be16_at(bp, 6)?
        ),
        4 => "source quench".to_string(),
        10 => "router solicitation".to_string(),
        15 => "information request".to_string(),
        16 => "information reply".to_string(),
        _ => format!("type-#{t}"),
    };
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
            let _ = write!(cx.out, ", {what} {}", super::ip::addr_string(a));
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
            let _ = write!(
                cx.out,
                ", {what} {}, length {length}",
                super::ip::addr_string(a)
            );
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
