//! TCP in tcpdump's format: flags, relative sequence numbers, options, checksum verdicts.

use core::fmt::Write;

use super::ip::{Net, shouldbe};
use super::{ConnKey, Ctx, R, Trunc, be16_at, be32_at, be64_at, print_char, u8_at};

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;
const URG: u8 = 0x20;

/// How an option loop ended early.
enum OptEnd {
    /// tcpdump's `[bad opt]`.
    Bad,
    /// A length check ran past the capture (`[|tcp]` followed by `>`).
    Short,
    /// A plain read ran past the capture (`[|proto]` only).
    Trunc,
}

impl From<Trunc> for OptEnd {
    fn from(_: Trunc) -> OptEnd {
        OptEnd::Trunc
    }
}

fn option_name(opt: u8) -> Option<&'static str> {
    Some(match opt {
        0 => "eol",
        1 => "nop",
        2 => "mss",
        3 => "wscale",
        4 => "sackOK",
        5 => "sack",
        6 => "echo",
        7 => "echoreply",
        8 => "TS",
        11 => "cc",
        12 => "ccnew",
        13 => "",
        19 => "md5",
        20 => "scps",
        28 => "uto",
        29 => "tcp-ao",
        30 => "mptcp",
        34 => "tfo",
        254 => "exp",
        _ => return None,
    })
}

/// Sequence-number context for SACK blocks.
struct SeqCtx {
    rev: bool,
    thseq: u32,
    thack: u32,
}

/// tcpdump's `tcp_print`.
pub(crate) fn tcp_print(
    cx: &mut Ctx<'_>,
    bp: &[u8],
    length: u32,
    net: Net<'_>,
    fragmented: bool,
) -> R {
    cx.proto = "tcp";
    if bp.len() < 4 {
        let (s, d) = cx.addrs(net.src_bytes(), net.dst_bytes());
        let _ = write!(cx.out, "{s} > {d}:");
        return cx.local_trunc();
    }
    let sport = be16_at(bp, 0)?;
    let dport = be16_at(bp, 2)?;
    if net.first_proto() == 6 {
        let (s, d) = cx.addrs(net.src_bytes(), net.dst_bytes());
        let (sp, dp) = (cx.port(sport, "tcp"), cx.port(dport, "tcp"));
        let _ = write!(cx.out, "{s}.{sp} > {d}.{dp}: ");
    } else {
        let (sp, dp) = (cx.port(sport, "tcp"), cx.port(dport, "tcp"));
        let _ = write!(cx.out, "{sp} > {dp}: ");
    }
    if bp.len() < 20 {
        return cx.local_trunc();
    }
    let mut hlen = u32::from(bp[12] >> 4) * 4;
    if hlen < 20 {
        let _ = write!(
            cx.out,
            " tcp {} [bad hdr length {hlen} - too short, < 20]",
            length.wrapping_sub(hlen)
        );
        return Ok(());
    }
    let mut seq = be32_at(bp, 4)?;
    let mut ack = be32_at(bp, 8)?;
    let win = be16_at(bp, 14)?;
    let urp = be16_at(bp, 18)?;
    let flags = bp[13];
    cx.p("Flags [");
    let mut any = false;
    for (bit, c) in [
        (FIN, 'F'),
        (SYN, 'S'),
        (RST, 'R'),
        (0x08, 'P'),
        (ACK, '.'),
        (URG, 'U'),
        (0x40, 'E'),
        (0x80, 'W'),
    ] {
        if flags & bit != 0 {
            cx.out.push(c);
            any = true;
        }
    }
    if !any {
        cx.p("none");
    }
    cx.p("]");

    let mut sc = SeqCtx {
        rev: false,
        thseq: 0,
        thack: 0,
    };
    if !cx.opts.absolute_seq && flags & ACK != 0 {
        // One table entry per connection, keyed in a canonical direction: the side with
        // the lower port (or lower address on a tie) is "forward".
        let (src, dst) = (net.src_bytes(), net.dst_bytes());
        let rev = sport > dport || (sport == dport && src > dst);
        let key = if rev {
            ConnKey {
                src: dst.to_vec(),
                dst: src.to_vec(),
                ports: (u32::from(dport) << 16) | u32::from(sport),
            }
        } else {
            ConnKey {
                src: src.to_vec(),
                dst: dst.to_vec(),
                ports: (u32::from(sport) << 16) | u32::from(dport),
            }
        };
        let entry = match cx.conns.get(&key) {
            Some(&e) if flags & SYN == 0 => {
                if rev {
                    seq = seq.wrapping_sub(e.1);
                    ack = ack.wrapping_sub(e.0);
                } else {
                    seq = seq.wrapping_sub(e.0);
                    ack = ack.wrapping_sub(e.1);
                }
                e
            }
            _ => {
                // New conversation (or a SYN restarting it): the raw values become the base.
                let e = if rev {
                    (ack.wrapping_sub(1), seq)
                } else {
                    (seq, ack.wrapping_sub(1))
                };
                cx.conns.insert(key, e);
                e
            }
        };
        sc = SeqCtx {
            rev,
            thseq: entry.0,
            thack: entry.1,
        };
    }
    if hlen > length {
        let _ = write!(cx.out, " [bad hdr length {hlen} - too long, > {length}]");
        return Ok(());
    }
    if cx.opts.verbose > 0 && !fragmented && bp.len() >= length as usize {
        let mut c = net.pseudo(6, length);
        c.add_bytes(&bp[..length as usize]);
        let sum = c.finish();
        let field = be16_at(bp, 16)?;
        let _ = write!(cx.out, ", cksum 0x{field:04x}");
        if sum != 0 {
            let _ = write!(cx.out, " (incorrect -> 0x{:04x})", shouldbe(field, sum));
        } else {
            cx.p(" (correct)");
        }
    }
    let length = length - hlen;
    if cx.opts.verbose > 1 || length > 0 || flags & (SYN | FIN | RST) != 0 {
        let _ = write!(cx.out, ", seq {seq}");
        if length > 0 {
            let _ = write!(cx.out, ":{}", seq.wrapping_add(length));
        }
    }
    if flags & ACK != 0 {
        let _ = write!(cx.out, ", ack {ack}");
    }
    let _ = write!(cx.out, ", win {win}");
    if flags & URG != 0 {
        let _ = write!(cx.out, ", urg {urp}");
    }
    if hlen > 20 {
        hlen -= 20;
        cx.p(", options [");
        let mut ch = false;
        match options(cx, bp, hlen, flags, length, &sc, &mut ch) {
            Ok(()) => cx.p("]"),
            Err(OptEnd::Bad) => {
                cx.p("[bad opt]");
                if ch {
                    cx.p("]");
                }
                return Ok(());
            }
            Err(OptEnd::Short) => {
                let proto = cx.proto;
                let _ = write!(cx.out, " [|{proto}]");
                if ch {
                    cx.p(">");
                }
                return Ok(());
            }
            Err(OptEnd::Trunc) => return Err(Trunc),
        }
    }
    let _ = write!(cx.out, ", length {length}");
    if length == 0 {
        return Ok(());
    }
    let header_len = usize::from(bp[12] >> 4) * 4;
    if bp.len() < header_len {
        let _ = write!(
            cx.out,
            " [remaining caplen({}) < header length({header_len})]",
            bp.len()
        );
        return Err(Trunc);
    }
    if flags & RST == 0 || cx.opts.verbose == 0 {
        return super::app::tcp_payload(cx, &bp[header_len..], length, sport, dport);
    }
    // RFC 1122 §4.2.2.12: RST segments may carry diagnostic text.
    let data = &bp[header_len..];
    cx.p(if data.len() >= length as usize {
        " [RST"
    } else {
        " [!RST"
    });
    let mut n = length as usize;
    if n > 30 {
        n = 30;
        cx.p("+");
    }
    cx.p(" ");
    for &c in data.iter().take(n) {
        print_char(&mut cx.out, c);
    }
    cx.p("]");
    Ok(())
}

/// The option loop, mirroring tcpdump's accounting of the remaining header length.
fn options(
    cx: &mut Ctx<'_>,
    bp: &[u8],
    mut hlen: u32,
    flags: u8,
    length: u32,
    sc: &SeqCtx,
    ch: &mut bool,
) -> Result<(), OptEnd> {
    let mut cp = 20usize;
    // Bail if `l` bytes of data are not left or were not captured.
    let lencheck = |cp: usize, hlen: u32, l: u32| -> Result<(), OptEnd> {
        if l > hlen {
            return Err(OptEnd::Bad);
        }
        if cp + l as usize > bp.len() {
            return Err(OptEnd::Short);
        }
        Ok(())
    };
    while hlen > 0 {
        if *ch {
            cx.p(",");
        }
        let opt = u8_at(bp, cp)?;
        cp += 1;
        let len: u32;
        if opt == 0 || opt == 1 {
            len = 1;
        } else {
            len = u32::from(u8_at(bp, cp)?);
            cp += 1;
            if len < 2 || len > hlen {
                return Err(OptEnd::Bad);
            }
            hlen -= 1;
        }
        hlen -= 1;
        let mut datalen: u32 = 0;
        match option_name(opt) {
            Some(n) => cx.p(n),
            None => {
                let _ = write!(cx.out, "unknown-{opt}");
            }
        }
        match opt {
            2 => {
                datalen = 2;
                lencheck(cp, hlen, datalen)?;
                let _ = write!(cx.out, " {}", be16_at(bp, cp)?);
            }
            3 => {
                datalen = 1;
                lencheck(cp, hlen, datalen)?;
                let _ = write!(cx.out, " {}", u8_at(bp, cp)?);
            }
            5 => {
                datalen = len - 2;
                if datalen % 8 != 0 {
                    cx.p(" invalid sack");
                } else {
                    let _ = write!(cx.out, " {} ", datalen / 8);
                    let mut i = 0;
                    while i < datalen {
                        lencheck(cp, hlen, i + 4)?;
                        let mut s = be32_at(bp, cp + i as usize)?;
                        lencheck(cp, hlen, i + 8)?;
                        let mut e = be32_at(bp, cp + i as usize + 4)?;
                        let base = if sc.rev { sc.thseq } else { sc.thack };
                        s = s.wrapping_sub(base);
                        e = e.wrapping_sub(base);
                        let _ = write!(cx.out, "{{{s}:{e}}}");
                        i += 8;
                    }
                }
            }
            6 | 7 | 11 | 12 | 13 => {
                datalen = 4;
                lencheck(cp, hlen, datalen)?;
                let _ = write!(cx.out, " {}", be32_at(bp, cp)?);
            }
            8 => {
                datalen = 8;
                lencheck(cp, hlen, datalen)?;
                let _ = write!(
                    cx.out,
                    " val {} ecr {}",
                    be32_at(bp, cp)?,
                    be32_at(bp, cp + 4)?
                );
            }
            19 => {
                datalen = 16;
                lencheck(cp, hlen, datalen)?;
                cx.p(" ");
                // tcpdump cannot verify without the shared secret (-M).
                let data_start = usize::from(bp[12] >> 4) * 4;
                if data_start + length as usize > bp.len() {
                    cx.p("snaplen too short, ");
                } else {
                    cx.p("shared secret not supplied with -M, ");
                }
                cx.p("can't check - ");
                for i in 0..16 {
                    let _ = write!(cx.out, "{:02x}", u8_at(bp, cp + i)?);
                }
            }
            20 => {
                datalen = 2;
                lencheck(cp, hlen, datalen)?;
                let _ = write!(
                    cx.out,
                    " cap {:02x} id {}",
                    u8_at(bp, cp)?,
                    u8_at(bp, cp + 1)?
                );
            }
            29 => {
                datalen = len - 2;
                if datalen < 2 {
                    cx.p(" (invalid)");
                } else {
                    lencheck(cp, hlen, 1)?;
                    let _ = write!(cx.out, " keyid {}", u8_at(bp, cp)?);
                    lencheck(cp, hlen, 2)?;
                    let _ = write!(cx.out, " rnextkeyid {}", u8_at(bp, cp + 1)?);
                    if datalen > 2 {
                        cx.p(" mac 0x");
                        for i in 2..datalen {
                            lencheck(cp, hlen, i + 1)?;
                            let _ = write!(cx.out, "{:02x}", u8_at(bp, cp + i as usize)?);
                        }
                    }
                }
            }
            0 | 1 | 4 => {}
            28 => {
                datalen = 2;
                lencheck(cp, hlen, datalen)?;
                let v = u32::from(be16_at(bp, cp)?);
                let _ = write!(cx.out, " 0x{v:x}");
                let secs = if v & 1 != 0 { (v >> 1) * 60 } else { v >> 1 };
                let _ = write!(cx.out, " {secs}");
            }
            30 => {
                datalen = len - 2;
                lencheck(cp, hlen, datalen)?;
                let optb = &bp[cp - 2..cp + datalen as usize];
                // tcpdump leaves its protocol name at "mptcp" from here on.
                match mptcp(cx, optb, len, flags) {
                    Ok(true) => {}
                    Ok(false) => return Err(OptEnd::Bad),
                    Err(Trunc) => return Err(OptEnd::Trunc),
                }
            }
            34 => {
                datalen = len - 2;
                lencheck(cp, hlen, datalen)?;
                cx.p(" ");
                fastopen(cx, &bp[cp..cp + datalen as usize], false);
            }
            254 => {
                datalen = len - 2;
                lencheck(cp, hlen, datalen)?;
                if datalen < 2 {
                    return Err(OptEnd::Bad);
                }
                let magic = be16_at(bp, cp)?;
                cx.p("-");
                if magic == 0xf989 {
                    // RFC 7413 experimental-option form of TCP Fast Open.
                    fastopen(cx, &bp[cp + 2..cp + datalen as usize], true);
                } else {
                    let _ = write!(cx.out, "{magic:04x}");
                }
            }
            _ => {
                datalen = len - 2;
                if datalen > 0 {
                    cx.p(" 0x");
                }
                for i in 0..datalen {
                    lencheck(cp, hlen, i + 1)?;
                    let _ = write!(cx.out, "{:02x}", u8_at(bp, cp + i as usize)?);
                }
            }
        }
        cp += datalen as usize;
        hlen -= datalen;
        let mut spec = datalen + 1;
        if opt != 0 && opt != 1 {
            spec += 1;
        }
        if spec != len {
            let _ = write!(cx.out, "[len {len}]");
        }
        *ch = true;
        if opt == 0 {
            break;
        }
    }
    Ok(())
}

fn fastopen(cx: &mut Ctx<'_>, data: &[u8], exp: bool) {
    if exp {
        cx.p("tfo");
    }
    if data.is_empty() {
        cx.p(" cookiereq");
    } else if data.len() % 2 != 0 || data.len() < 4 || data.len() > 16 {
        cx.p(" (invalid)");
    } else {
        cx.p(" cookie ");
        for b in data {
            let _ = write!(cx.out, "{b:02x}");
        }
    }
}

/// One MPTCP DSS number (RFC 8684 §3.3: the data ACK or data sequence number), 8 bytes
/// when `wide`, else 4, printed in decimal; `false` when the option is too short for it.
fn dss_number(cx: &mut Ctx<'_>, opt: &[u8], o: &mut usize, rem: &mut u32, wide: bool) -> R<bool> {
    let n: u32 = if wide { 8 } else { 4 };
    if *rem < n {
        return Ok(false);
    }
    let v = if wide {
        be64_at(opt, *o)?
    } else {
        u64::from(be32_at(opt, *o)?)
    };
    let _ = write!(cx.out, "{v}");
    *o += n as usize;
    *rem -= n;
    Ok(true)
}

/// Multipath TCP option (RFC 8684): `Ok(false)` is tcpdump's `[bad opt]`.
fn mptcp(cx: &mut Ctx<'_>, opt: &[u8], len: u32, flags: u8) -> R<bool> {
    cx.proto = "mptcp";
    if len < 3 {
        return Ok(false);
    }
    let sub = (u8_at(opt, 2)? >> 4).min(8);
    let names = [
        "capable",
        "join",
        "dss",
        "add-addr",
        "rem-addr",
        "prio",
        "fail",
        "fast-close",
        "unknown",
    ];
    let _ = write!(cx.out, " {len} {}", names[usize::from(sub)]);
    match sub {
        0 => {
            let syn_ok = (len == 12 || len == 4) && flags & SYN != 0;
            let ack_ok = (len == 20 || len == 22) && flags & (SYN | ACK) == ACK;
            if !syn_ok && !ack_ok {
                return Ok(false);
            }
            let version = u8_at(opt, 2)? & 0xf;
            if version > 1 {
                let _ = write!(cx.out, " Unknown Version ({version})");
                return Ok(true);
            }
            let _ = write!(cx.out, " v{version}");
            if u8_at(opt, 3)? & 0x80 != 0 {
                cx.p(" csum");
            }
            if len == 12 || len >= 20 {
                let _ = write!(cx.out, " {{0x{:x}", be64_at(opt, 4)?);
                if len >= 20 {
                    let _ = write!(cx.out, ",0x{:x}", be64_at(opt, 12)?);
                }
                cx.p("}");
            }
            Ok(true)
        }
        1 => {
            let ok = (len == 12 && flags & SYN != 0)
                || (len == 16 && flags & (SYN | ACK) == (SYN | ACK))
                || (len == 24 && flags & ACK != 0);
            if !ok {
                return Ok(false);
            }
            if len != 24 {
                if u8_at(opt, 2)? & 1 != 0 {
                    cx.p(" backup");
                }
                let _ = write!(cx.out, " id {}", u8_at(opt, 3)?);
            }
            match len {
                12 => {
                    let _ = write!(
                        cx.out,
                        " token 0x{:x} nonce 0x{:x}",
                        be32_at(opt, 4)?,
                        be32_at(opt, 8)?
                    );
                }
                16 => {
                    let _ = write!(
                        cx.out,
                        " hmac 0x{:x} nonce 0x{:x}",
                        be64_at(opt, 4)?,
                        be32_at(opt, 12)?
                    );
                }
                _ => {
                    cx.p(" hmac 0x");
                    for i in 4..24 {
                        let _ = write!(cx.out, "{:02x}", u8_at(opt, i)?);
                    }
                }
            }
            Ok(true)
        }
        2 => {
            if len < 4 || flags & SYN != 0 {
                return Ok(false);
            }
            let f = u8_at(opt, 3)?;
            if f & 0x10 != 0 {
                cx.p(" fin");
            }
            let mut o = 4usize;
            let mut rem = len - 4;
            if f & 0x01 != 0 {
                cx.p(" ack ");
                if !dss_number(cx, opt, &mut o, &mut rem, f & 0x02 != 0)? {
                    return Ok(false);
                }
            }
            if f & 0x04 != 0 {
                cx.p(" seq ");
                if !dss_number(cx, opt, &mut o, &mut rem, f & 0x08 != 0)? {
                    return Ok(false);
                }
                if rem < 4 {
                    return Ok(false);
                }
                let _ = write!(cx.out, " subseq {}", be32_at(opt, o)?);
                o += 4;
                rem -= 4;
                if rem < 2 {
                    return Ok(false);
                }
                let _ = write!(cx.out, " len {}", be16_at(opt, o)?);
                o += 2;
                rem -= 2;
                if rem >= 2 {
                    let _ = write!(cx.out, " csum 0x{:x}", be16_at(opt, o)?);
                    rem -= 2;
                }
            }
            Ok(rem == 0)
        }
        4 => {
            if len < 4 {
                return Ok(false);
            }
            cx.p(" id");
            for i in 0..(len - 3) as usize {
                let _ = write!(cx.out, " {}", u8_at(opt, 3 + i)?);
            }
            Ok(true)
        }
        5 => {
            if len != 3 && len != 4 {
                return Ok(false);
            }
            if u8_at(opt, 2)? & 1 != 0 {
                cx.p(" backup");
            } else {
                cx.p(" non-backup");
            }
            if len == 4 {
                let _ = write!(cx.out, " id {}", u8_at(opt, 3)?);
            }
            Ok(true)
        }
        6 | 7 => {
            if len != 12 {
                return Ok(false);
            }
            if sub == 6 {
                let _ = write!(cx.out, " seq {}", be64_at(opt, 4)?);
            } else {
                let _ = write!(cx.out, " key 0x{:x}", be64_at(opt, 4)?);
            }
            Ok(true)
        }
        3 => {
            if ![8, 10, 16, 18, 20, 22, 28, 30].contains(&len) {
                return Ok(false);
            }
            let e = u8_at(opt, 2)? & 0xf;
            let s = match e {
                6 => "v0-ip6",
                4 => "v0-ip4",
                1 => "v1-echo",
                0 => "v1",
                _ => "[bad version/echo]",
            };
            let _ = write!(cx.out, " {s} id {}", u8_at(opt, 3)?);
            if len <= 18 {
                let a = opt.get(4..8).ok_or(Trunc)?;
                let a = cx.addr(a);
                let _ = write!(cx.out, " {a}");
                if len == 10 || len == 18 {
                    let _ = write!(cx.out, ":{}", be16_at(opt, 8)?);
                }
                if len == 16 {
                    let _ = write!(cx.out, " hmac 0x{:x}", be64_at(opt, 8)?);
                }
                if len == 18 {
                    let _ = write!(cx.out, " hmac 0x{:x}", be64_at(opt, 10)?);
                }
            } else {
                let a = opt.get(4..20).ok_or(Trunc)?;
                let a = cx.addr(a);
                let _ = write!(cx.out, " {a}");
                if len == 22 || len == 30 {
                    let _ = write!(cx.out, ":{}", be16_at(opt, 20)?);
                }
                if len == 28 {
                    let _ = write!(cx.out, " hmac 0x{:x}", be64_at(opt, 20)?);
                }
                if len == 30 {
                    let _ = write!(cx.out, " hmac 0x{:x}", be64_at(opt, 22)?);
                }
            }
            Ok(true)
        }
        _ => Ok(true),
    }
}
