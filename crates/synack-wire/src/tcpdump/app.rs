//! The application-layer decoders tcpdump runs on TCP payloads by port, for the text
//! protocols (HTTP, FTP, SMTP, RTSP) and the SSH version string.

use core::fmt::Write;

use super::{Ctx, R, u8_at};

const HTTP_CMDS: &[&str] = &[
    "GET",
    "PUT",
    "COPY",
    "HEAD",
    "LOCK",
    "MOVE",
    "POLL",
    "POST",
    "BCOPY",
    "BMOVE",
    "MKCOL",
    "TRACE",
    "LABEL",
    "MERGE",
    "DELETE",
    "SEARCH",
    "UNLOCK",
    "REPORT",
    "UPDATE",
    "NOTIFY",
    "BDELETE",
    "CONNECT",
    "OPTIONS",
    "CHECKIN",
    "PROPFIND",
    "CHECKOUT",
    "CCM_POST",
    "SUBSCRIBE",
    "PROPPATCH",
    "BPROPFIND",
    "BPROPPATCH",
    "UNCHECKOUT",
    "MKACTIVITY",
    "MKWORKSPACE",
    "UNSUBSCRIBE",
    "RPC_IN_DATA",
    "RPC_OUT_DATA",
    "VERSION-CONTROL",
    "BASELINE-CONTROL",
];

const RTSP_CMDS: &[&str] = &[
    "OPTIONS",
    "DESCRIBE",
    "ANNOUNCE",
    "SETUP",
    "PLAY",
    "PAUSE",
    "TEARDOWN",
    "GET_PARAMETER",
    "SET_PARAMETER",
    "REDIRECT",
    "RECORD",
    "FLUSH",
];

fn printable(c: u8) -> bool {
    (0x20..0x7f).contains(&c)
}

/// The next whitespace-delimited token at `idx`, and the index after the blanks that
/// follow it; `None` for binary data or a token longer than 128 bytes.
fn fetch_token(p: &[u8], mut idx: usize, len: usize) -> Option<(usize, Vec<u8>)> {
    let mut tok = Vec::new();
    while idx < len {
        let c = *p.get(idx)?;
        if c >= 0x80 {
            return None;
        }
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            break;
        }
        if !printable(c) || tok.len() + 2 > 129 {
            return None;
        }
        tok.push(c);
        idx += 1;
    }
    if tok.is_empty() {
        return None;
    }
    while idx < len {
        let Some(&c) = p.get(idx) else { break };
        if c == b'\r' || c == b'\n' || !printable(c) || (c != b' ' && c != b'\t') {
            break;
        }
        idx += 1;
    }
    Some((idx, tok))
}

/// Prints one text line starting at `idx` after `prefix`; returns the index after its
/// line ending, or `None` when the text stops (binary data, or no line ending: then the
/// partial line is printed with the truncation marker).
fn print_txt_line(cx: &mut Ctx<'_>, prefix: &str, p: &[u8], idx: usize, len: usize) -> R<usize> {
    let start = idx;
    let mut i = idx;
    while i < len {
        let c = u8_at(p, i)?;
        if c == b'\n' {
            print_slice(cx, prefix, &p[start..i]);
            return Ok(i + 1);
        } else if c == b'\r' {
            if i + 1 >= len {
                return Ok(0);
            }
            if u8_at(p, i + 1)? == b'\n' {
                print_slice(cx, prefix, &p[start..i]);
                return Ok(i + 2);
            }
            return Ok(0);
        } else if !printable(c) && c != b'\t' {
            return Ok(0);
        }
        i += 1;
    }
    print_slice(cx, prefix, &p[start..i]);
    cx.local_trunc()?;
    Ok(0)
}

fn print_slice(cx: &mut Ctx<'_>, prefix: &str, b: &[u8]) {
    cx.p(prefix);
    // Only printable ASCII and tabs get here.
    cx.out.extend(b.iter().map(|&c| c as char));
}

/// tcpdump's `txtproto_print`: the protocol name, then (for a request or response) the
/// first line, or with `-v` every line.
fn txtproto(cx: &mut Ctx<'_>, p: &[u8], len: usize, cmds: Option<&[&str]>, name: &str) -> R {
    let mut print_this = false;
    if let Some(cmds) = cmds {
        if let Some((idx, tok)) = fetch_token(p, 0, len) {
            if cmds.iter().any(|c| c.as_bytes().eq_ignore_ascii_case(&tok)) {
                print_this = true;
            }
            // The response code is the second token ("HTTP/1.1 200 OK").
            if let Some((_, code)) = fetch_token(p, idx, len)
                && code.len() == 3
                && code.iter().all(u8::is_ascii_digit)
            {
                print_this = true;
            }
        }
    } else {
        print_this = true;
    }
    cx.p(name);
    if print_this {
        if cx.opts.verbose > 0 {
            let _ = write!(cx.out, ", length: {len}");
            let mut idx = 0;
            while idx < len {
                let eol = print_txt_line(cx, "\n\t", p, idx, len)?;
                if eol == 0 {
                    break;
                }
                idx = eol;
            }
        } else {
            print_txt_line(cx, ": ", p, 0, len)?;
        }
    }
    Ok(())
}

/// The SSH identification string (RFC 4253 §4.2), printed when it is a complete line.
fn ssh(cx: &mut Ctx<'_>, p: &[u8], len: usize) -> R {
    // Compared byte by byte: the capture may end inside a matching prefix.
    for (i, &want) in b"SSH-".iter().enumerate() {
        if u8_at(p, i)? != want {
            return Ok(());
        }
    }
    let mut i = 0;
    while i < len {
        let c = u8_at(p, i)?;
        if c == b'\n' || (c == b'\r' && i + 1 < len && u8_at(p, i + 1)? == b'\n') {
            cx.p(": SSH: ");
            cx.out.extend(p[..i].iter().map(|&c| c as char));
            return Ok(());
        }
        if !printable(c) {
            return Ok(());
        }
        i += 1;
    }
    Ok(())
}

const TELCMDS: [&str; 20] = [
    "EOF", "SUSP", "ABORT", "EOR", "SE", "NOP", "DMARK", "BRK", "IP", "AO", "AYT", "EC", "EL",
    "GA", "SB", "WILL", "WONT", "DO", "DONT", "IAC",
];

const TELOPTS: [&str; 40] = [
    "BINARY",
    "ECHO",
    "RCP",
    "SUPPRESS GO AHEAD",
    "NAME",
    "STATUS",
    "TIMING MARK",
    "RCTE",
    "NAOL",
    "NAOP",
    "NAOCRD",
    "NAOHTS",
    "NAOHTD",
    "NAOFFD",
    "NAOVTS",
    "NAOVTD",
    "NAOLFD",
    "EXTEND ASCII",
    "LOGOUT",
    "BYTE MACRO",
    "DATA ENTRY TERMINAL",
    "SUPDUP",
    "SUPDUP OUTPUT",
    "SEND LOCATION",
    "TERMINAL TYPE",
    "END OF RECORD",
    "TACACS UID",
    "OUTPUT MARKING",
    "TTYLOC",
    "3270 REGIME",
    "X.3 PAD",
    "NAWS",
    "TSPEED",
    "LFLOW",
    "LINEMODE",
    "XDISPLOC",
    "OLD-ENVIRON",
    "AUTHENTICATION",
    "ENCRYPT",
    "NEW-ENVIRON",
];

/// One Telnet command (RFC 854) at the start of `p`: its text and length; `None` when it
/// is not a command synack decodes (subnegotiations included).
fn telnet_cmd(p: &[u8]) -> Option<(String, usize)> {
    const IAC: u8 = 255;
    if *p.first()? != IAC {
        return None;
    }
    let c = *p.get(1)?;
    if c == IAC {
        return Some(("IAC IAC".to_string(), 2));
    }
    let i = usize::from(c.checked_sub(236)?);
    match c {
        251..=254 => {
            let x = *p.get(2)?;
            let text = match TELOPTS.get(usize::from(x)) {
                Some(o) => format!("{} {o}", TELCMDS[i]),
                None => format!("{} {x:#x}", TELCMDS[i]),
            };
            Some((text, 3))
        }
        250 => None,
        _ => Some((TELCMDS[i].to_string(), 2)),
    }
}

/// tcpdump's `telnet_print`: the commands at the start of the payload, `[telnet ...]`.
fn telnet(cx: &mut Ctx<'_>, p: &[u8], len: usize) -> R {
    let p = &p[..p.len().min(len)];
    let mut at = 0;
    let mut first = true;
    while at < p.len() {
        let Some((text, l)) = telnet_cmd(&p[at..]) else {
            break;
        };
        cx.p(if first { " [telnet " } else { ", " });
        cx.p(&text);
        first = false;
        at += l;
    }
    if !first {
        cx.p("]");
    }
    Ok(())
}

/// Dispatches a TCP payload on its ports in tcpdump's order. Protocols synack does not
/// decode print nothing, as tcpdump prints nothing for unknown ports.
pub(crate) fn tcp_payload(cx: &mut Ctx<'_>, p: &[u8], len: u32, sport: u16, dport: u16) -> R {
    let is = |port: u16| sport == port || dport == port;
    let len = len as usize;
    if is(23) {
        cx.proto = "telnet";
        return telnet(cx, p, len);
    }
    if is(25) {
        cx.p(": ");
        cx.proto = "smtp";
        return txtproto(cx, p, len, None, "SMTP");
    }
    if is(43) || is(179) || is(1723) || is(6379) {
        return Ok(());
    }
    if is(22) {
        cx.proto = "ssh";
        return ssh(cx, p, len);
    }
    if is(139) || is(445) || is(10288) || is(6633) || is(6653) {
        return Ok(());
    }
    if is(21) {
        cx.p(": ");
        cx.proto = "ftp";
        return txtproto(cx, p, len, None, "FTP");
    }
    if is(80) || is(8080) {
        cx.p(": ");
        cx.proto = "http";
        return txtproto(cx, p, len, Some(HTTP_CMDS), "HTTP");
    }
    if is(554) || is(8554) {
        cx.p(": ");
        cx.proto = "rtsp";
        return txtproto(cx, p, len, Some(RTSP_CMDS), "RTSP");
    }
    if is(53) {
        return super::dns::domain_print(cx, p, len as u32, true, false);
    }
    Ok(())
}
