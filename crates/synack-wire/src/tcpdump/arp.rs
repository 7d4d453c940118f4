//! ARP and RARP (RFC 826, RFC 903, RFC 2390) in tcpdump's one-line form.

use core::fmt::Write;

use super::{Ctx, R, Trunc, be16_at, u8_at};

fn hrd_name(h: u16) -> String {
    match h {
        1 => "Ethernet".to_string(),
        6 => "TokenRing".to_string(),
        7 => "ArcNet".to_string(),
        15 => "FrameRelay".to_string(),
        19 => "ATM (RFC 2225)".to_string(),
        23 => "STRIP".to_string(),
        24 => "IEEE 1394".to_string(),
        _ => format!("Unknown Hardware ({h})"),
    }
}

fn pro_name(p: u16) -> String {
    match p {
        0x0800 => "IPv4".to_string(),
        0x86dd => "IPv6".to_string(),
        0x0806 => "ARP".to_string(),
        0x8035 => "Reverse ARP".to_string(),
        0x1000 => "Trail".to_string(),
        _ => format!("Unknown Protocol (0x{p:04x})"),
    }
}

fn link_addr(b: &[u8]) -> String {
    let mut s = String::new();
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// tcpdump's `arp_print`: `length` is the length of the ARP payload on the wire.
pub(crate) fn arp_print(cx: &mut Ctx<'_>, bp: &[u8], length: u32) -> R {
    cx.proto = "arp";
    let hrd = be16_at(bp, 0)?;
    let pro = be16_at(bp, 2)?;
    let hln = usize::from(u8_at(bp, 4)?);
    let pln = usize::from(u8_at(bp, 5)?);
    let op = be16_at(bp, 6)?;
    let sha = 8;
    let spa = sha + hln;
    let tha = spa + pln;
    let tpa = tha + hln;
    if bp.len() < tpa + pln {
        return Err(Trunc);
    }
    cx.p("ARP, ");
    let ip_like = pro == 0x0800 || pro == 0x1000;
    let v = cx.opts.verbose > 0;
    if !ip_like || pln != 4 || hln == 0 || v {
        let _ = write!(
            cx.out,
            "{} (len {hln}), {} (len {pln})",
            hrd_name(hrd),
            pro_name(pro)
        );
        if !v {
            let _ = write!(cx.out, ", length {length}");
            return Ok(());
        }
    }
    let proto_addr = |cx: &mut Ctx<'_>, at: usize| -> String {
        if !ip_like {
            "<wrong proto type>".to_string()
        } else if pln != 4 {
            "<wrong len>".to_string()
        } else {
            cx.addr(&bp[at..at + 4])
        }
    };
    let name = match op {
        1 => "Request",
        2 => "Reply",
        3 => "Reverse Request",
        4 => "Reverse Reply",
        8 => "Inverse Request",
        9 => "Inverse Reply",
        10 => "NACK Reply",
        _ => "",
    };
    let opname = if name.is_empty() {
        format!("Unknown ({op})")
    } else {
        name.to_string()
    };
    let _ = write!(cx.out, "{}{opname} ", if v { ", " } else { "" });
    // Without -n tcpdump names the vendor of a MAC address; synack has no OUI table.
    let oui = if cx.opts.numeric || hln != 6 {
        ""
    } else {
        " (oui Unknown)"
    };
    let hw = |at: usize| format!("{}{oui}", link_addr(&bp[at..at + hln]));
    match op {
        1 => {
            let t = proto_addr(cx, tpa);
            let _ = write!(cx.out, "who-has {t}");
            if bp[tha..tha + hln].iter().any(|&b| b != 0) {
                let _ = write!(cx.out, " ({})", hw(tha));
            }
            let sp = proto_addr(cx, spa);
            let _ = write!(cx.out, " tell {sp}");
        }
        2 => {
            let sp = proto_addr(cx, spa);
            let _ = write!(cx.out, "{sp} is-at {}", hw(sha));
        }
        3 | 8 => {
            let _ = write!(cx.out, "who-is {} tell {}", hw(tha), hw(sha));
        }
        4 => {
            let t = proto_addr(cx, tpa);
            let _ = write!(cx.out, "{} at {t}", hw(tha));
        }
        9 => {
            let sp = proto_addr(cx, spa);
            let _ = write!(cx.out, "{} at {sp}", hw(sha));
        }
        _ => {
            super::hex_ascii_print(&mut cx.out, bp);
            return Ok(());
        }
    }
    let _ = write!(cx.out, ", length {length}");
    Ok(())
}
