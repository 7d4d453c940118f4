//! The tcpdump text format: prints packets exactly as tcpdump 4.99 prints them for the
//! flags `-n`, `-t`/`-tt`/`-ttt`/`-tttt`, `-S`, `-v` and `-x`.
//!
//! The rules here were established by experiment against the real tcpdump binary and by
//! reading its documentation: which fields appear, in what order, how malformed and
//! truncated packets are marked (`[|tcp]`, `[bad opt]`, `truncated-ip - N bytes missing!`),
//! and the per-connection state behind relative sequence numbers.
//!
//! Decoding works on the captured bytes only; every read that would go past them ends the
//! packet with tcpdump's truncation marker ` [|proto]` instead of panicking.
//!
//! Decoded as tcpdump does: link types raw IP (101, 228, 229, 12, 14), Ethernet with
//! 802.1Q/802.1ad tags, Linux cooked v1/v2 and BSD/OpenBSD loopback; ARP; IPv4 with its
//! options and fragments; IPv6 with hop-by-hop, destination, routing (types 0 and 2) and
//! fragment headers; IP-in-IP; TCP with every option tcpdump knows (MPTCP, TFO, MD5, AO,
//! UTO, SCPS, experimental); UDP; ICMP; ICMPv6 echo and neighbor discovery (without its
//! options); and the text protocols HTTP, FTP, SMTP, RTSP, SSH and Telnet on their ports.
//! Other payloads (DNS, NTP, BGP, OSPF, GRE, IGMP, ... which tcpdump decodes) are shown in
//! the generic forms above, so those lines differ from tcpdump's.
//!
//! ```
//! use synack_wire::tcpdump::{Options, Printer, TimestampFormat};
//!
//! let mut p = Printer::new(Options { ts: TimestampFormat::None, ..Options::default() });
//! // A 20-byte IPv4 header claiming 40 bytes, with nothing after it.
//! let pkt = [0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
//! let line = p.format(synack_wire::tcpdump::LINKTYPE_RAW, 0, 0, &pkt, 20);
//! assert_eq!(line, "IP truncated-ip - 20 bytes missing! 10.0.0.1 > 10.0.0.2: [|tcp]\n");
//! ```

mod app;
mod arp;
mod dns;
mod ip;
mod l4;
mod tcp;
mod time;

use core::fmt::Write;
use std::collections::HashMap;

/// pcap link type: BSD loopback (`DLT_NULL`), host-order address family header.
pub const LINKTYPE_NULL: u32 = 0;
/// pcap link type: Ethernet.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// pcap link type: raw IP (version taken from the first nibble).
pub const LINKTYPE_RAW: u32 = 101;
/// pcap link type: OpenBSD loopback (network-order address family header).
pub const LINKTYPE_LOOP: u32 = 108;
/// pcap link type: Linux cooked capture v1.
pub const LINKTYPE_LINUX_SLL: u32 = 113;
/// pcap link type: raw IPv4.
pub const LINKTYPE_IPV4: u32 = 228;
/// pcap link type: raw IPv6.
pub const LINKTYPE_IPV6: u32 = 229;
/// pcap link type: Linux cooked capture v2.
pub const LINKTYPE_LINUX_SLL2: u32 = 276;

/// Which timestamp tcpdump prints before each packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimestampFormat {
    /// No flag: local time of day, `HH:MM:SS.ffffff`.
    #[default]
    TimeOfDay,
    /// `-t`: no timestamp.
    None,
    /// `-tt`: seconds since the epoch, `S.ffffff`.
    Unix,
    /// `-ttt`: delta from the previous packet.
    Delta,
    /// `-tttt`: local date and time, `YYYY-MM-DD HH:MM:SS.ffffff`.
    Date,
}

/// Output options, mirroring tcpdump's flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Timestamp form (`-t` family).
    pub ts: TimestampFormat,
    /// `-S`: absolute sequence numbers.
    pub absolute_seq: bool,
    /// `-v` count.
    pub verbose: u8,
    /// `-x`: hex dump of each packet (without the link-layer header).
    pub hex: bool,
    /// `-n`: numeric output. Without it, and with a [`Resolver`] set on the printer,
    /// addresses, ports and protocol numbers are printed by name as tcpdump does.
    pub numeric: bool,
    /// Offset of local time from UTC in seconds, used by the time-of-day forms.
    pub utc_offset: i64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            ts: TimestampFormat::TimeOfDay,
            absolute_seq: false,
            verbose: 0,
            hex: false,
            numeric: true,
            utc_offset: 0,
        }
    }
}

/// The end of the captured bytes was reached: tcpdump prints ` [|proto]` and moves on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Trunc;

/// Result of a decoding step.
pub(crate) type R<T = ()> = Result<T, Trunc>;

pub(crate) fn u8_at(b: &[u8], i: usize) -> R<u8> {
    b.get(i).copied().ok_or(Trunc)
}

pub(crate) fn be16_at(b: &[u8], i: usize) -> R<u16> {
    match b.get(i..i.checked_add(2).ok_or(Trunc)?) {
        Some(s) => Ok(u16::from_be_bytes([s[0], s[1]])),
        None => Err(Trunc),
    }
}

pub(crate) fn be32_at(b: &[u8], i: usize) -> R<u32> {
    match b.get(i..i.checked_add(4).ok_or(Trunc)?) {
        Some(s) => Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]])),
        None => Err(Trunc),
    }
}

pub(crate) fn be64_at(b: &[u8], i: usize) -> R<u64> {
    match b.get(i..i.checked_add(8).ok_or(Trunc)?) {
        Some(s) => {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            Ok(u64::from_be_bytes(a))
        }
        None => Err(Trunc),
    }
}

/// Key of tcpdump's per-connection table for relative sequence numbers: the two addresses
/// and ports in a canonical order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ConnKey {
    pub src: Vec<u8>,
    pub dst: Vec<u8>,
    pub ports: u32,
}

/// Name lookups tcpdump does without `-n`: host names for addresses, service names for
/// ports, protocol names for protocol numbers. The library does no lookups itself; the
/// caller (the `synack dump` command) supplies these from the system databases.
#[derive(Clone, Copy, Debug)]
pub struct Resolver {
    /// Host name of a 4- or 16-byte address (reverse lookup), `None` when it has none.
    pub host: fn(&[u8]) -> Option<String>,
    /// Service name of a port for `"tcp"` or `"udp"`.
    pub service: fn(u16, &str) -> Option<String>,
    /// Name of an IP protocol number.
    pub protocol: fn(u8) -> Option<String>,
}

/// Decoding state of one packet.
pub(crate) struct Ctx<'p> {
    pub out: String,
    /// Name used in the truncation marker.
    pub proto: &'static str,
    pub opts: &'p Options,
    /// Relative-sequence base per connection: (seq, ack) as tcpdump stores them.
    pub conns: &'p mut HashMap<ConnKey, (u32, u32)>,
    /// Lookups for output without `-n`.
    pub names: Option<Resolver>,
    /// Host names already looked up (tcpdump caches them too).
    pub host_cache: &'p mut HashMap<Vec<u8>, String>,
}

impl Ctx<'_> {
    pub(crate) fn p(&mut self, s: &str) {
        self.out.push_str(s);
    }

    /// An address as tcpdump prints it: numeric with `-n`, else its host name if any.
    pub(crate) fn addr(&mut self, b: &[u8]) -> String {
        match self.names {
            Some(r) if !self.opts.numeric => {
                if let Some(n) = self.host_cache.get(b) {
                    return n.clone();
                }
                let n = (r.host)(b).unwrap_or_else(|| ip::addr_string(b));
                self.host_cache.insert(b.to_vec(), n.clone());
                n
            }
            _ => ip::addr_string(b),
        }
    }

    /// Source and destination of a network header, as [`Ctx::addr`] prints them.
    pub(crate) fn addrs(&mut self, src: &[u8], dst: &[u8]) -> (String, String) {
        (self.addr(src), self.addr(dst))
    }

    /// A port as tcpdump prints it for `proto` (`"tcp"` or `"udp"`).
    pub(crate) fn port(&self, p: u16, proto: &str) -> String {
        match self.names {
            Some(r) if !self.opts.numeric => (r.service)(p, proto).unwrap_or_else(|| p.to_string()),
            _ => p.to_string(),
        }
    }

    /// The name of an IP protocol for non-first fragments and undecoded protocols.
    pub(crate) fn proto_name(&self, p: u8) -> Option<String> {
        match self.names {
            Some(r) if !self.opts.numeric => (r.protocol)(p),
            _ => None,
        }
    }

    /// A truncation tcpdump handles inside the printer (its `ND_TCHECK` macros): the
    /// marker is printed and the packet ends without unwinding to the link layer.
    pub(crate) fn local_trunc(&mut self) -> R {
        let proto = self.proto;
        let _ = write!(self.out, " [|{proto}]");
        Ok(())
    }
}

/// A tcpdump-compatible printer. It keeps the state tcpdump keeps across packets: the
/// per-connection sequence-number bases and the previous timestamp (for `-ttt`).
#[derive(Debug)]
pub struct Printer {
    opts: Options,
    conns: HashMap<ConnKey, (u32, u32)>,
    prev_ts: Option<(i64, u32)>,
    sll2_ifname: fn(u32) -> Option<String>,
    names: Option<Resolver>,
    host_cache: HashMap<Vec<u8>, String>,
}

fn no_ifname(_: u32) -> Option<String> {
    None
}

impl Printer {
    /// A printer with fresh state.
    pub fn new(opts: Options) -> Printer {
        Printer {
            opts,
            conns: HashMap::new(),
            prev_ts: None,
            sll2_ifname: no_ifname,
            names: None,
            host_cache: HashMap::new(),
        }
    }

    /// Sets the lookups used without `-n` (`Options::numeric` false). Without a resolver
    /// every address and port is printed numerically.
    pub fn set_resolver(&mut self, r: Resolver) {
        self.names = Some(r);
    }

    /// Sets the function that names an interface index for SLL2 captures (tcpdump uses the
    /// reading machine's interface names; without one, it prints `?`).
    pub fn set_ifname_resolver(&mut self, f: fn(u32) -> Option<String>) {
        self.sll2_ifname = f;
    }

    /// Changes the local-time offset from UTC (seconds) used by the time-of-day forms.
    pub fn set_utc_offset(&mut self, secs: i64) {
        self.opts.utc_offset = secs;
    }

    /// The options in use.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Formats one captured packet: timestamp, decoded text and (with `-x`) the hex dump,
    /// ending in a newline. `data` are the captured bytes, `orig_len` the length on the
    /// wire; `ts_usec` is the fraction in microseconds.
    pub fn format(
        &mut self,
        linktype: u32,
        ts_sec: i64,
        ts_usec: u32,
        data: &[u8],
        orig_len: u32,
    ) -> String {
        // tcpdump's sanity checks on the record header come before anything else.
        const MAXIMUM_SNAPLEN: usize = 262_144;
        let caplen = data.len();
        let mut bad = Vec::new();
        if caplen == 0 {
            bad.push(" caplen==0".to_string());
        }
        if orig_len == 0 {
            bad.push(" len==0".to_string());
        } else if (orig_len as usize) < caplen {
            bad.push(format!(" len({orig_len}) < caplen({caplen})"));
        }
        if caplen > MAXIMUM_SNAPLEN {
            bad.push(format!(" caplen({caplen}) > {MAXIMUM_SNAPLEN}"));
        }
        if orig_len as usize > MAXIMUM_SNAPLEN {
            bad.push(format!(" len({orig_len}) > {MAXIMUM_SNAPLEN}"));
        }
        if !bad.is_empty() {
            return format!("[Invalid header:{}]\n", bad.join(","));
        }
        let opts = self.opts;
        let mut cx = Ctx {
            out: String::new(),
            proto: "",
            opts: &opts,
            conns: &mut self.conns,
            names: self.names,
            host_cache: &mut self.host_cache,
        };
        // Timestamp.
        match opts.ts {
            TimestampFormat::None => {}
            TimestampFormat::TimeOfDay => {
                time::hms(&mut cx.out, ts_sec.saturating_add(opts.utc_offset), ts_usec);
                cx.out.push(' ');
            }
            TimestampFormat::Date => {
                time::date_hms(&mut cx.out, ts_sec.saturating_add(opts.utc_offset), ts_usec);
                cx.out.push(' ');
            }
            TimestampFormat::Unix => {
                let _ = write!(cx.out, "{ts_sec}.{ts_usec:06} ");
            }
            TimestampFormat::Delta => {
                let (ps, pu) = self.prev_ts.unwrap_or((ts_sec, ts_usec));
                let mut d: i128 = (i128::from(ts_sec) - i128::from(ps)) * 1_000_000
                    + i128::from(ts_usec)
                    - i128::from(pu);
                let neg = d < 0;
                d = d.abs();
                time::delta(
                    &mut cx.out,
                    neg,
                    (d / 1_000_000) as u64,
                    (d % 1_000_000) as u32,
                );
                cx.out.push(' ');
            }
        }
        self.prev_ts = Some((ts_sec, ts_usec));
        let ifname = self.sll2_ifname;
        // Like tcpdump, a truncation anywhere unwinds to here; the hex dump then starts
        // at the link-layer header.
        let hdrlen = match link_print(&mut cx, linktype, data, orig_len, ifname) {
            Ok(h) => h,
            Err(Trunc) => {
                let proto = cx.proto;
                let _ = write!(cx.out, " [|{proto}]");
                0
            }
        };
        if opts.hex {
            hex_print(&mut cx.out, data.get(hdrlen..).unwrap_or(&[]));
        }
        cx.out.push('\n');
        cx.out
    }
}

/// `-x`: lines of eight 16-bit groups, `\n\t0xOOOO:  hhhh hhhh ...`.
pub(crate) fn hex_print(out: &mut String, data: &[u8]) {
    for (i, chunk) in data.chunks(16).enumerate() {
        let _ = write!(out, "\n\t0x{:04x}: ", i * 16);
        for pair in chunk.chunks(2) {
            out.push(' ');
            for b in pair {
                let _ = write!(out, "{b:02x}");
            }
        }
    }
}

/// tcpdump's hex-and-ASCII form, used for payloads it cannot decode.
pub(crate) fn hex_ascii_print(out: &mut String, data: &[u8]) {
    for (i, chunk) in data.chunks(16).enumerate() {
        let _ = write!(out, "\n\t0x{:04x}: ", i * 16);
        let mut hex = String::new();
        for pair in chunk.chunks(2) {
            hex.push(' ');
            for b in pair {
                let _ = write!(hex, "{b:02x}");
            }
        }
        let _ = write!(out, "{hex:<40}");
        out.push_str("  ");
        for &b in chunk {
            out.push(if (0x21..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            });
        }
    }
}

type LinkResult = Result<usize, Trunc>;

/// A MAC address; without `-n` tcpdump appends the vendor from its OUI table, of which
/// synack knows none (`oui Unknown`).
fn ether_addr(opts: &Options, b: &[u8]) -> String {
    let mut s = String::new();
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{x:02x}");
    }
    if !opts.numeric {
        s.push_str(" (oui Unknown)");
    }
    s
}

/// Link-layer decoding without `-e`: returns the link header length (for `-x`).
fn link_print(
    cx: &mut Ctx<'_>,
    linktype: u32,
    data: &[u8],
    orig_len: u32,
    ifname: fn(u32) -> Option<String>,
) -> LinkResult {
    match linktype {
        LINKTYPE_RAW | LINKTYPE_IPV4 | LINKTYPE_IPV6 | 12 | 14 => {
            cx.proto = "raw";
            ip::ipn_print(cx, data, orig_len)?;
            Ok(0)
        }
        LINKTYPE_ETHERNET => ether_print(cx, data, orig_len),
        LINKTYPE_NULL | LINKTYPE_LOOP => {
            cx.proto = "null";
            if data.len() < 4 {
                return Err(Trunc);
            }
            let raw = [data[0], data[1], data[2], data[3]];
            // DLT_NULL's family is in the capturing host's byte order (read here as
            // little-endian, byte-swapped when the upper half is set, as tcpdump does);
            // DLT_LOOP's is in network order.
            let mut fam = if linktype == LINKTYPE_NULL {
                u32::from_le_bytes(raw)
            } else {
                u32::from_be_bytes(raw)
            };
            if linktype == LINKTYPE_NULL && fam & 0xffff_0000 != 0 {
                fam = fam.swap_bytes();
            }
            let rest = &data[4..];
            let len = orig_len.saturating_sub(4);
            let r = match fam {
                2 => ip::ip_print(cx, rest, len),
                24 | 28 | 30 => ip::ip6_print(cx, rest, len),
                _ => {
                    let _ = write!(cx.out, "AF Unknown ({fam}), length {orig_len}: ");
                    if !cx.opts.hex {
                        hex_ascii_print(&mut cx.out, rest);
                    }
                    Ok(())
                }
            };
            r?;
            Ok(4)
        }
        LINKTYPE_LINUX_SLL => {
            cx.proto = "sll";
            if data.len() < 16 {
                return Err(Trunc);
            }
            let proto = u16::from_be_bytes([data[14], data[15]]);
            let rest = &data[16..];
            let len = orig_len.saturating_sub(16);
            if proto <= 1500 {
                // Linux's pseudo-protocols for non-Ethernet-II frames: printed raw.
                if !cx.opts.hex {
                    hex_ascii_print(&mut cx.out, rest);
                }
                return Ok(16);
            }
            ethertype_print(cx, proto, rest, len, data, orig_len, true)?;
            Ok(16)
        }
        LINKTYPE_LINUX_SLL2 => {
            cx.proto = "sll2";
            if data.len() < 20 {
                return Err(Trunc);
            }
            let ifindex = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
            let name = ifname(ifindex).unwrap_or_else(|| "?".to_string());
            let _ = write!(cx.out, "{name:<5} ");
            let dir = match data[10] {
                0 => "In",
                1 => "B",
                2 => "M",
                3 => "P",
                4 => "Out",
                _ => "?",
            };
            let _ = write!(cx.out, "{dir:<3} ");
            let proto = u16::from_be_bytes([data[0], data[1]]);
            let rest = &data[20..];
            let len = orig_len.saturating_sub(20);
            if proto <= 1500 {
                if !cx.opts.hex {
                    hex_ascii_print(&mut cx.out, rest);
                }
                return Ok(20);
            }
            ethertype_print(cx, proto, rest, len, data, orig_len, false)?;
            Ok(20)
        }
        _ => {
            let _ = write!(cx.out, "[unsupported link type {linktype}]");
            Ok(0)
        }
    }
}

/// An Ethernet frame carried inside IPv6 (next header 143).
pub(crate) fn ether_payload(cx: &mut Ctx<'_>, data: &[u8], len: u32) -> R {
    ether_print(cx, data, len).map(|_| ())
}

fn ether_print(cx: &mut Ctx<'_>, data: &[u8], orig_len: u32) -> LinkResult {
    cx.proto = "ether";
    if data.len() < 14 || orig_len < 14 {
        // tcpdump marks a short Ethernet header without unwinding.
        cx.p(" [|ether]");
        return Ok(data.len());
    }
    let mut et = u16::from_be_bytes([data[12], data[13]]);
    let mut off = 14usize;
    // IEEE 802.1Q / 802.1ad tags: skipped without -e.
    while matches!(et, 0x8100 | 0x9100 | 0x9200 | 0x88a8) {
        if data.len() < off + 4 {
            cx.p(" [|vlan]");
            return Ok(data.len());
        }
        et = u16::from_be_bytes([data[off + 2], data[off + 3]]);
        off += 4;
    }
    let rest = &data[off..];
    let len = orig_len.saturating_sub(off as u32);
    if et <= 1500 {
        // 802.3 length field with LLC: not decoded; summarize like an unknown type.
        let _ = write!(
            cx.out,
            "{} > {}, 802.3, length {}: ",
            ether_addr(cx.opts, &data[6..12]),
            ether_addr(cx.opts, &data[0..6]),
            et
        );
        if !cx.opts.hex {
            hex_ascii_print(&mut cx.out, rest);
        }
        return Ok(off);
    }
    match et {
        0x0800 => ip::ip_print(cx, rest, len)?,
        0x86dd => ip::ip6_print(cx, rest, len)?,
        0x0806 | 0x8035 => arp::arp_print(cx, rest, len)?,
        _ => {
            let _ = write!(
                cx.out,
                "{} > {}, ethertype {} (0x{:04x}), length {}: ",
                ether_addr(cx.opts, &data[6..12]),
                ether_addr(cx.opts, &data[0..6]),
                ethertype_name(et),
                et,
                orig_len
            );
            if !cx.opts.hex {
                hex_ascii_print(&mut cx.out, rest);
            }
        }
    }
    Ok(off)
}

fn ethertype_name(et: u16) -> &'static str {
    match et {
        0x0800 => "IPv4",
        0x0806 => "ARP",
        0x86dd => "IPv6",
        0x8100 => "802.1Q",
        0x88a8 => "802.1Q-QinQ",
        0x8847 => "MPLS unicast",
        0x88cc => "LLDP",
        _ => "Unknown",
    }
}

fn ethertype_print(
    cx: &mut Ctx<'_>,
    et: u16,
    rest: &[u8],
    len: u32,
    link: &[u8],
    orig_len: u32,
    sll1: bool,
) -> R {
    match et {
        0x0800 => ip::ip_print(cx, rest, len),
        0x86dd => ip::ip6_print(cx, rest, len),
        0x0806 | 0x8035 => arp::arp_print(cx, rest, len),
        _ => {
            if sll1 {
                let dir = match be16_at(link, 0).unwrap_or(0xffff) {
                    0 => "In",
                    1 => "B",
                    2 => "M",
                    3 => "P",
                    4 => "Out",
                    _ => "?",
                };
                let _ = write!(cx.out, "{dir:>3} ");
                if be16_at(link, 4).unwrap_or(0) == 6 {
                    let _ = write!(cx.out, "{} ", ether_addr(cx.opts, &link[6..12]));
                }
            } else {
                let _ = write!(cx.out, "ifindex {} ", be32_at(link, 4).unwrap_or(0));
                if link.get(11) == Some(&6) {
                    let _ = write!(cx.out, "{} ", ether_addr(cx.opts, &link[12..18]));
                }
            }
            let _ = write!(
                cx.out,
                "ethertype {} (0x{et:04x}), length {orig_len}: ",
                ethertype_name(et)
            );
            if !cx.opts.hex {
                hex_ascii_print(&mut cx.out, rest);
            }
            Ok(())
        }
    }
}

/// tcpdump's `fn_print_char`: printable ASCII as is, high bit as `M-`, controls as `^X`.
pub(crate) fn print_char(out: &mut String, c: u8) {
    let mut c = c;
    if c >= 0x80 {
        c &= 0x7f;
        out.push_str("M-");
    }
    if !(0x20..0x7f).contains(&c) {
        c ^= 0x40;
        out.push('^');
    }
    out.push(c as char);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_lines() {
        let mut s = String::new();
        hex_print(&mut s, &[0x45, 0x10, 0, 0x3c, 1]);
        assert_eq!(s, "\n\t0x0000:  4510 003c 01");
    }

    #[test]
    fn chars() {
        let mut s = String::new();
        for c in [b'a', 1, 0xff, b' '] {
            print_char(&mut s, c);
        }
        assert_eq!(s, "a^AM-^? ");
    }
}
