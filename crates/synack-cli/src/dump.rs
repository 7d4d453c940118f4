//! `synack dump`: prints the packets of a pcap or pcapng file exactly as tcpdump 4.99 does.
//!
//! Usage: `synack dump [-n] [-t|-tt|-ttt|-tttt] [-S] [-v] [-x] -r FILE`, with tcpdump's
//! option syntax (combined flags such as `-ntS`, `-r FILE` or `-rFILE`). Like tcpdump, it
//! writes `reading from file F, link-type NAME (DESC), snapshot length N` to stderr and the
//! packets to stdout.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use synack_wire::pcap::{CaptureReader, PcapError};
use synack_wire::tcpdump::{Options, Printer, Resolver, TimestampFormat};

const USAGE: &str = "usage: synack dump [-n] [-t|-tt|-ttt|-tttt] [-S] [-v] [-x] -r FILE";

/// Parsed command line.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    opts: Options,
    file: String,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut opts = Options {
        numeric: false,
        ..Options::default()
    };
    let mut t_count = 0;
    let mut file = None;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        let Some(flags) = a.strip_prefix('-').filter(|f| !f.is_empty()) else {
            return Err(format!(
                "unexpected argument '{a}' (filter expressions are not supported)"
            ));
        };
        for (pos, c) in flags.char_indices() {
            match c {
                'n' => opts.numeric = true,
                't' => t_count += 1,
                'S' => opts.absolute_seq = true,
                'v' => opts.verbose = opts.verbose.saturating_add(1),
                'x' => opts.hex = true,
                'r' => {
                    let rest = &flags[pos + 1..];
                    if !rest.is_empty() {
                        file = Some(rest.to_string());
                    } else if let Some(f) = args.get(i) {
                        file = Some(f.clone());
                        i += 1;
                    } else {
                        return Err("option requires an argument -- 'r'".to_string());
                    }
                    break;
                }
                other => return Err(format!("invalid option -- '{other}'")),
            }
        }
    }
    opts.ts = match t_count {
        0 => TimestampFormat::TimeOfDay,
        1 => TimestampFormat::None,
        2 => TimestampFormat::Unix,
        3 => TimestampFormat::Delta,
        _ => TimestampFormat::Date,
    };
    let file = file.ok_or_else(|| "no capture file given (-r FILE)".to_string())?;
    Ok(Args { opts, file })
}

/// Offset of local time from UTC at `t`, as the C library computes it (TZ, /etc/localtime).
fn utc_offset(t: i64) -> i64 {
    let tt = t as libc::time_t;
    // SAFETY: `tm` is plain data that localtime_r fills in; both pointers are valid for
    // the duration of the call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&tt, &mut tm).is_null() };
    if ok { tm.tm_gmtoff } else { 0 }
}

/// The name of interface `index` on this machine, as `if_indextoname` gives it: tcpdump
/// prints the reading machine's names for SLL2 captures.
fn ifname(index: u32) -> Option<String> {
    let dir = std::fs::read_dir("/sys/class/net").ok()?;
    for e in dir.flatten() {
        let p = e.path().join("ifindex");
        if let Ok(s) = std::fs::read_to_string(p)
            && s.trim().parse::<u32>().ok() == Some(index)
        {
            return Some(e.file_name().to_string_lossy().into_owned());
        }
    }
    None
}

/// Reverse lookup of an IPv4 or IPv6 address through the C library (hosts file, DNS), as
/// tcpdump does without `-n`.
fn host_name(addr: &[u8]) -> Option<String> {
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: the sockaddr is fully initialised for its family and length; `host` is a
    // writable buffer of the length passed; getnameinfo NUL-terminates on success.
    let rc = unsafe {
        match addr.len() {
            4 => {
                let mut sa: libc::sockaddr_in = std::mem::zeroed();
                sa.sin_family = libc::AF_INET as libc::sa_family_t;
                sa.sin_addr.s_addr = u32::from_ne_bytes([addr[0], addr[1], addr[2], addr[3]]);
                libc::getnameinfo(
                    (&raw const sa).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                    host.as_mut_ptr(),
                    host.len() as libc::socklen_t,
                    std::ptr::null_mut(),
                    0,
                    libc::NI_NAMEREQD,
                )
            }
            16 => {
                let mut sa: libc::sockaddr_in6 = std::mem::zeroed();
                sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sa.sin6_addr.s6_addr.copy_from_slice(addr);
                libc::getnameinfo(
                    (&raw const sa).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                    host.as_mut_ptr(),
                    host.len() as libc::socklen_t,
                    std::ptr::null_mut(),
                    0,
                    libc::NI_NAMEREQD,
                )
            }
            _ => return None,
        }
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getnameinfo succeeded, so `host` holds a NUL-terminated string.
    let name = unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// The services database name of a TCP or UDP port (`/etc/services`).
fn service_name(port: u16, proto: &str) -> Option<String> {
    let proto = std::ffi::CString::new(proto).ok()?;
    // SAFETY: getservbyport takes the port in network byte order and a NUL-terminated
    // protocol; the returned entry is read before any other netdb call.
    unsafe {
        let e = libc::getservbyport(i32::from(port.to_be()), proto.as_ptr());
        if e.is_null() || (*e).s_name.is_null() {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr((*e).s_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// The protocols database name of an IP protocol number (`/etc/protocols`).
fn protocol_name(p: u8) -> Option<String> {
    // SAFETY: the returned entry is read before any other netdb call.
    unsafe {
        let e = libc::getprotobynumber(i32::from(p));
        if e.is_null() || (*e).p_name.is_null() {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr((*e).p_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// Runs `synack dump` with its arguments (after the subcommand name).
pub fn main(args: &[String]) -> ExitCode {
    let args = match parse_args(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("synack dump: {e}\n{USAGE}");
            return ExitCode::from(1);
        }
    };
    // Like tcpdump, `-r -` reads the standard input.
    let input: Box<dyn std::io::Read> = if args.file == "-" {
        Box::new(io::stdin().lock())
    } else {
        match std::fs::File::open(&args.file) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("synack dump: {}: {e}", args.file);
                return ExitCode::from(1);
            }
        }
    };
    let mut reader = match CaptureReader::new(io::BufReader::with_capacity(1 << 16, input)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("synack dump: {}: {e}", args.file);
            return ExitCode::from(1);
        }
    };
    let link = reader.link_type().map_or(0, |l| l.0);
    let snaplen = reader.snaplen().unwrap_or(0);
    let ltname = match reader.link_type().and_then(|l| l.name()) {
        Some((n, d)) => format!("{n} ({d})"),
        None => format!("{link}"),
    };
    eprintln!(
        "reading from file {}, link-type {ltname}, snapshot length {snaplen}",
        args.file
    );
    if link == 276 {
        eprintln!("Warning: interface names might be incorrect");
    }
    let mut opts = args.opts;
    let needs_local = matches!(opts.ts, TimestampFormat::TimeOfDay | TimestampFormat::Date);
    let mut printer = Printer::new(opts);
    printer.set_ifname_resolver(ifname);
    printer.set_resolver(Resolver {
        host: host_name,
        service: service_name,
        protocol: protocol_name,
    });
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    loop {
        let pkt = match reader.next_packet() {
            None => break,
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                let _ = out.flush();
                eprintln!("synack dump: {}: {}", args.file, describe(&e));
                return ExitCode::from(1);
            }
        };
        if needs_local {
            let off = utc_offset(pkt.timestamp.secs);
            if off != opts.utc_offset {
                opts.utc_offset = off;
                printer.set_utc_offset(off);
            }
        }
        let text = printer.format(
            pkt.link_type.0,
            pkt.timestamp.secs,
            pkt.timestamp.micros(),
            pkt.data,
            pkt.orig_len,
        );
        if out.write_all(text.as_bytes()).is_err() {
            // Closed pipe (e.g. `| head`): stop quietly, as tcpdump does.
            return ExitCode::SUCCESS;
        }
    }
    if out.flush().is_err() {
        return ExitCode::SUCCESS;
    }
    ExitCode::SUCCESS
}

fn describe(e: &PcapError) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn combined_flags_and_attached_file() {
        let a = parse_args(&v(&["-ntS", "-rfoo.pcap"])).unwrap();
        assert_eq!(a.file, "foo.pcap");
        assert!(a.opts.numeric && a.opts.absolute_seq);
        assert_eq!(a.opts.ts, TimestampFormat::None);
        let a = parse_args(&v(&["-n", "-tttt", "-vv", "-x", "-r", "f"])).unwrap();
        assert_eq!(a.opts.ts, TimestampFormat::Date);
        assert_eq!(a.opts.verbose, 2);
        assert!(a.opts.hex);
        let a = parse_args(&v(&["-ntr", "f"])).unwrap();
        assert_eq!((a.file.as_str(), a.opts.ts), ("f", TimestampFormat::None));
    }

    #[test]
    fn errors() {
        assert!(parse_args(&v(&["-n"])).is_err());
        assert!(parse_args(&v(&["-q", "-r", "f"])).is_err());
        assert!(parse_args(&v(&["-r"])).is_err());
        assert!(parse_args(&v(&["-r", "f", "tcp"])).is_err());
    }
}
