//! Packets between the script and the target: inbound script lines built into IP datagrams,
//! outbound datagrams parsed and compared with the expected line field by field, following
//! packetdrill's documented rules (sequence numbers relative to the ISNs once learnt, options
//! in order, `win` only when written, `<...>` for any options, TS val checked only with
//! `--tcp_ts_tick_usecs`).

use crate::ast::{
    Ecn, IcmpMessage, IcmpQuoted, IpField, Packet, PacketBody, SeqRange, TcpOption, TcpOptions,
    TcpSegment,
};
use core::net::{IpAddr, SocketAddr};
use std::collections::HashMap;
use synack_wire::TcpFlags;
use synack_wire::checksum::PseudoHeader;
use synack_wire::ipv4::{Ipv4Packet, Ipv4Repr, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP};
use synack_wire::ipv6::{Ipv6Packet, Ipv6Repr};
use synack_wire::tcp::{TcpHeader, TcpRepr};
use synack_wire::tcp_options::TcpOptionBuf;
use synack_wire::tcpdump;

/// The live 4-tuple and sequence-number bases of the socket under test.
#[derive(Clone, Debug)]
pub(crate) struct Flow {
    /// Our (the target's) address.
    pub local: SocketAddr,
    /// The script's (the remote peer's) address.
    pub remote: SocketAddr,
    /// Whether the local port is known (an active open learns it from the first SYN).
    pub local_known: bool,
    /// The local ISN as the script writes it (from its SYN or SYN-ACK line).
    pub script_isn: u32,
    /// The local ISN the target actually chose.
    pub live_isn: u32,
    /// TS val mapping: script value → actual value of outbound segments.
    pub ts_map: HashMap<u32, u32>,
    /// The first (script, actual) TS val pair seen.
    pub ts_first: Option<(u32, u32)>,
}

impl Flow {
    pub(crate) fn new(local: SocketAddr, remote: SocketAddr) -> Flow {
        Flow {
            local,
            remote,
            local_known: true,
            script_isn: 0,
            live_isn: 0,
            ts_map: HashMap::new(),
            ts_first: None,
        }
    }

    /// Live minus script: added to script values that refer to our sequence space.
    fn local_offset(&self) -> u32 {
        self.live_isn.wrapping_sub(self.script_isn)
    }

    /// A script TS ecr mapped to the TS val the target actually sent.
    fn live_ecr(&self, script_ecr: u32) -> u32 {
        if let Some(v) = self.ts_map.get(&script_ecr) {
            return *v;
        }
        match self.ts_first {
            Some((s, a)) => a.wrapping_add(script_ecr.wrapping_sub(s)),
            None => script_ecr,
        }
    }
}

/// Why a line cannot be turned into a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BuildError {
    /// A feature the runner does not support (named).
    Unsupported(String),
    /// The line is malformed for injection.
    Invalid(String),
}

fn ip_header(
    flow: &Flow,
    pkt: &Packet,
    protocol: u8,
    payload: &[u8],
) -> Result<Vec<u8>, BuildError> {
    let ecn = match pkt.ecn {
        None | Some(Ecn::NoEcn) => 0,
        Some(Ecn::Ect0) => 2,
        Some(Ecn::Ect1) => 1,
        Some(Ecn::Ce) => 3,
        Some(Ecn::Ect01) => {
            return Err(BuildError::Invalid(
                "[ect01] is only meaningful on outbound packets".into(),
            ));
        }
    };
    match (flow.remote.ip(), flow.local.ip()) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let mut ip = Ipv4Repr::new(src, dst, protocol);
            ip.df = false;
            ip.tos = ecn;
            for f in &pkt.ip {
                match *f {
                    IpField::Tos(t) => ip.tos = t,
                    IpField::Ttl(t) => ip.ttl = t,
                    IpField::Id(i) => ip.id = i,
                    IpField::Df => ip.df = true,
                    IpField::Mf => ip.mf = true,
                    IpField::FlowLabel(_) => {
                        return Err(BuildError::Invalid("flowlabel on an IPv4 packet".into()));
                    }
                }
            }
            Ok(ip.emit(payload))
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let mut ip = Ipv6Repr::new(src, dst, protocol);
            ip.traffic_class = ecn;
            for f in &pkt.ip {
                match *f {
                    IpField::Tos(t) => ip.traffic_class = t,
                    IpField::Ttl(t) => ip.hop_limit = t,
                    IpField::FlowLabel(l) => ip.flow_label = l,
                    IpField::Id(_) | IpField::Df | IpField::Mf => {
                        return Err(BuildError::Invalid("IPv4 field on an IPv6 packet".into()));
                    }
                }
            }
            Ok(ip.emit(payload))
        }
        _ => Err(BuildError::Invalid("mixed address families".into())),
    }
}

fn pseudo(src: IpAddr, dst: IpAddr) -> PseudoHeader {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PseudoHeader::v4(s, d),
        (IpAddr::V6(s), IpAddr::V6(d)) => PseudoHeader::v6(s, d),
        (IpAddr::V4(s), IpAddr::V6(d)) => PseudoHeader::v6(s.to_ipv6_mapped(), d),
        (IpAddr::V6(s), IpAddr::V4(d)) => PseudoHeader::v6(s, d.to_ipv6_mapped()),
    }
}

/// Encodes a script option list for an inbound segment; SACK edges and TS ecr are mapped
/// into the target's number space.
fn encode_options(opts: &[TcpOption], flow: &Flow, ack: bool) -> Result<Vec<u8>, BuildError> {
    let mut out = Vec::new();
    for o in opts {
        match o {
            TcpOption::Eol => out.push(0),
            TcpOption::Nop => out.push(1),
            TcpOption::Mss(m) => {
                out.extend_from_slice(&[2, 4]);
                out.extend_from_slice(&m.to_be_bytes());
            }
            TcpOption::WindowScale(s) => out.extend_from_slice(&[3, 3, *s]),
            TcpOption::SackPermitted => out.extend_from_slice(&[4, 2]),
            TcpOption::Sack(blocks) => {
                let len = 2 + 8 * blocks.len();
                let len = u8::try_from(len)
                    .map_err(|_| BuildError::Invalid("too many SACK blocks".into()))?;
                out.extend_from_slice(&[5, len]);
                let off = flow.local_offset();
                for (l, r) in blocks {
                    out.extend_from_slice(&l.wrapping_add(off).to_be_bytes());
                    out.extend_from_slice(&r.wrapping_add(off).to_be_bytes());
                }
            }
            TcpOption::Timestamp { val, ecr } => {
                // packetdrill maps the echo of an ACK onto the TS val we really sent.
                let ecr = if ack { flow.live_ecr(*ecr) } else { *ecr };
                out.extend_from_slice(&[8, 10]);
                out.extend_from_slice(&val.to_be_bytes());
                out.extend_from_slice(&ecr.to_be_bytes());
            }
            TcpOption::Md5(_) => return Err(BuildError::Unsupported("TCP MD5 option".into())),
            TcpOption::FastOpen(_) | TcpOption::FastOpenExp(_) => {
                return Err(BuildError::Unsupported("TCP Fast Open option".into()));
            }
        }
    }
    if out.len() > 40 {
        return Err(BuildError::Invalid(format!(
            "{} bytes of TCP options (at most 40)",
            out.len()
        )));
    }
    Ok(out)
}

/// Builds the IP datagram for an inbound TCP line.
fn build_tcp(pkt: &Packet, seg: &TcpSegment, flow: &Flow) -> Result<Vec<u8>, BuildError> {
    let Some((start, _end)) = seg.seq.bounds else {
        return Err(BuildError::Invalid(
            "an inbound segment needs a sequence number".into(),
        ));
    };
    let ack = match seg.ack {
        // The script's remote ISN is used as is, so only our side needs mapping.
        Some(a) if seg.seq.absolute => a,
        Some(a) => a.wrapping_add(flow.local_offset()),
        None => 0,
    };
    let opts = match &seg.options {
        None => Vec::new(),
        Some(TcpOptions::List(l)) => encode_options(l, flow, seg.flags.contains(TcpFlags::ACK))?,
        Some(TcpOptions::Any) => {
            return Err(BuildError::Invalid(
                "<...> options on an inbound packet".into(),
            ));
        }
    };
    let window = match seg.win {
        Some(w) => u16::try_from(w)
            .map_err(|_| BuildError::Invalid(format!("window {w} does not fit 16 bits")))?,
        None => 65535,
    };
    let urg = match seg.urg {
        Some(u) => u16::try_from(u)
            .map_err(|_| BuildError::Invalid(format!("urgent pointer {u} too large")))?,
        None => 0,
    };
    let options = TcpOptionBuf::from_bytes(&opts)
        .map_err(|e| BuildError::Invalid(format!("TCP options: {e}")))?;
    let repr = TcpRepr {
        src_port: flow.remote.port(),
        dst_port: flow.local.port(),
        seq: start,
        ack,
        flags: seg.flags,
        reserved: 0,
        window,
        urgent_ptr: urg,
        options,
    };
    // An IP datagram holds at most 65535 bytes.
    if seg.seq.len > 65_535 - 60 - 60 {
        return Err(BuildError::Invalid(format!(
            "{} bytes of payload do not fit one datagram",
            seg.seq.len
        )));
    }
    let payload = vec![0u8; seg.seq.len as usize];
    let mut buf = vec![0u8; repr.header_len() + payload.len()];
    repr.emit(
        &mut buf,
        &payload,
        pseudo(flow.remote.ip(), flow.local.ip()),
    )
    .map_err(|e| BuildError::Invalid(format!("TCP header: {e:?}")))?;
    ip_header(flow, pkt, PROTO_TCP, &buf)
}

/// Builds an inbound ICMP error quoting a segment of the flow (RFC 792: the IP header and
/// the first 8 bytes of the datagram).
fn build_icmp(pkt: &Packet, m: &IcmpMessage, flow: &Flow) -> Result<Vec<u8>, BuildError> {
    let v6 = flow.local.is_ipv6();
    if v6 {
        return Err(BuildError::Unsupported("ICMPv6 packets".into()));
    }
    let code = m.code.as_ref().map_or(0, |c| c.value);
    let mut body = vec![m.icmp_type.value, code, 0, 0, 0, 0, 0, 0];
    if let Some(mtu) = m.mtu {
        // RFC 1191 §4: next-hop MTU in the low 16 bits of the second word.
        let mtu = u16::try_from(mtu).map_err(|_| BuildError::Invalid("mtu too large".into()))?;
        body[6..8].copy_from_slice(&mtu.to_be_bytes());
    }
    match m.quoted {
        Some(IcmpQuoted::Tcp(range)) => {
            let seq = match range.bounds {
                Some((s, _)) if range.absolute => s,
                Some((s, _)) => s.wrapping_add(flow.local_offset()),
                None => flow.live_isn,
            };
            // The quoted datagram went from us to the peer.
            let mut tcp = Vec::with_capacity(8);
            tcp.extend_from_slice(&flow.local.port().to_be_bytes());
            tcp.extend_from_slice(&flow.remote.port().to_be_bytes());
            tcp.extend_from_slice(&seq.to_be_bytes());
            let IpAddr::V4(src) = flow.local.ip() else {
                return Err(BuildError::Invalid("IPv4 ICMP on an IPv6 flow".into()));
            };
            let IpAddr::V4(dst) = flow.remote.ip() else {
                return Err(BuildError::Invalid("IPv4 ICMP on an IPv6 flow".into()));
            };
            let mut inner = Ipv4Repr::new(src, dst, PROTO_TCP);
            inner.total_len = Some(40u16.saturating_add(range.len.min(60000) as u16));
            body.extend_from_slice(&inner.emit(&tcp));
        }
        Some(IcmpQuoted::Udp(_)) => {
            return Err(BuildError::Unsupported("ICMP quoting UDP".into()));
        }
        None => {}
    }
    let ck = synack_wire::checksum::checksum(&body);
    body[2..4].copy_from_slice(&ck.to_be_bytes());
    ip_header(flow, pkt, PROTO_ICMP, &body)
}

/// Builds the IP datagram for an inbound script line.
pub(crate) fn build_inbound(pkt: &Packet, flow: &Flow) -> Result<Vec<u8>, BuildError> {
    if pkt.udp_encap.is_some() {
        return Err(BuildError::Unsupported(
            "UDP encapsulation (RFC 6951)".into(),
        ));
    }
    match &pkt.body {
        PacketBody::Tcp(seg) => build_tcp(pkt, seg, flow),
        PacketBody::Icmp(m) => build_icmp(pkt, m, flow),
        PacketBody::Udp(_) => Err(BuildError::Unsupported("UDP packets".into())),
    }
}

/// One option of a sent segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LiveOpt {
    Eol,
    Nop,
    Mss(u16),
    Ws(u8),
    SackOk,
    Sack(Vec<(u32, u32)>),
    Ts(u32, u32),
    Other(u8, Vec<u8>),
    /// Bytes that do not parse as an option (length past the end, length < 2).
    Bad(Vec<u8>),
}

fn parse_options(mut b: &[u8]) -> Vec<LiveOpt> {
    let mut out = Vec::new();
    while let Some((&kind, rest)) = b.split_first() {
        match kind {
            0 => {
                out.push(LiveOpt::Eol);
                b = rest;
                continue;
            }
            1 => {
                out.push(LiveOpt::Nop);
                b = rest;
                continue;
            }
            _ => {}
        }
        let Some(&len) = rest.first() else {
            out.push(LiveOpt::Bad(b.to_vec()));
            break;
        };
        let len = usize::from(len);
        let Some(body) = b.get(2..len).filter(|_| len >= 2) else {
            out.push(LiveOpt::Bad(b.to_vec()));
            break;
        };
        let be32 = |i: usize| -> Option<u32> {
            body.get(i..i + 4)
                .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        };
        let opt = match (kind, body.len()) {
            (2, 2) => LiveOpt::Mss(u16::from_be_bytes([body[0], body[1]])),
            (3, 1) => LiveOpt::Ws(body[0]),
            (4, 0) => LiveOpt::SackOk,
            (5, n) if n % 8 == 0 => LiveOpt::Sack(
                (0..n / 8)
                    .filter_map(|i| Some((be32(i * 8)?, be32(i * 8 + 4)?)))
                    .collect(),
            ),
            (8, 8) => match (be32(0), be32(4)) {
                (Some(v), Some(e)) => LiveOpt::Ts(v, e),
                _ => LiveOpt::Other(kind, body.to_vec()),
            },
            _ => LiveOpt::Other(kind, body.to_vec()),
        };
        out.push(opt);
        b = &b[len..];
    }
    out
}

/// A TCP segment the target sent.
#[derive(Clone, Debug)]
pub(crate) struct LiveTcp {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub urg: u16,
    pub reserved: u8,
    pub options: Vec<LiveOpt>,
    pub payload: Vec<u8>,
}

/// An outbound datagram, parsed.
#[derive(Clone, Debug)]
pub(crate) struct Live {
    /// When the target sent it (µs of script time).
    pub time: u64,
    /// The datagram.
    pub bytes: Vec<u8>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub tos: u8,
    pub ttl: u8,
    pub ip_options: bool,
    pub tcp: Option<LiveTcp>,
    /// ICMP (type, code).
    pub icmp: Option<(u8, u8)>,
    /// tcpdump lines of the segments aggregated into this one after the first.
    pub parts: Vec<String>,
}

impl Live {
    /// Parses a datagram; `None` when it is not IP the runner can read.
    pub(crate) fn parse(time: u64, bytes: Vec<u8>) -> Option<Live> {
        let (src, dst, tos, ttl, ip_options, protocol, l4): (_, _, _, _, _, _, Vec<u8>) =
            match bytes.first()? >> 4 {
                4 => {
                    let p = Ipv4Packet::new_checked(&bytes).ok()?;
                    (
                        IpAddr::V4(p.src()),
                        IpAddr::V4(p.dst()),
                        p.tos(),
                        p.ttl(),
                        p.header_len() != 20,
                        p.protocol(),
                        p.payload().to_vec(),
                    )
                }
                6 => {
                    let p = Ipv6Packet::new_checked(&bytes).ok()?;
                    let ul = p.upper_layer().ok()?;
                    (
                        IpAddr::V6(p.src()),
                        IpAddr::V6(p.dst()),
                        p.traffic_class(),
                        p.hop_limit(),
                        ul.protocol != p.next_header(),
                        ul.protocol,
                        ul.payload.to_vec(),
                    )
                }
                _ => return None,
            };
        let mut live = Live {
            time,
            bytes: Vec::new(),
            src,
            dst,
            tos,
            ttl,
            ip_options,
            tcp: None,
            icmp: None,
            parts: Vec::new(),
        };
        if protocol == PROTO_TCP {
            let h = TcpHeader::parse(&l4).ok()?;
            live.tcp = Some(LiveTcp {
                src_port: h.src_port(),
                dst_port: h.dst_port(),
                seq: h.seq(),
                ack: h.ack(),
                flags: h.flags(),
                window: h.window(),
                urg: h.urgent_ptr(),
                reserved: h.reserved(),
                options: parse_options(h.options_bytes()),
                payload: h.payload().to_vec(),
            });
        } else if protocol == PROTO_ICMP || protocol == PROTO_ICMPV6 {
            live.icmp = Some((*l4.first()?, *l4.get(1)?));
        }
        live.bytes = bytes;
        Some(live)
    }

    /// The source and destination socket addresses (TCP only).
    pub(crate) fn tuple(&self) -> Option<(SocketAddr, SocketAddr)> {
        let t = self.tcp.as_ref()?;
        Some((
            SocketAddr::new(self.src, t.src_port),
            SocketAddr::new(self.dst, t.dst_port),
        ))
    }

    /// tcpdump's line for this datagram (`-n -S`), without the newline.
    pub(crate) fn tcpdump(&self) -> String {
        let mut p = tcpdump::Printer::new(tcpdump::Options {
            ts: tcpdump::TimestampFormat::None,
            absolute_seq: true,
            ..tcpdump::Options::default()
        });
        let len = u32::try_from(self.bytes.len()).unwrap_or(u32::MAX);
        p.format(tcpdump::LINKTYPE_RAW, 0, 0, &self.bytes, len)
            .trim_end()
            .to_string()
    }
}

/// Relaxations of the strict comparison (`--relax`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relax {
    /// Do not compare the window field.
    pub window: bool,
    /// Compare options as a set, ignoring order and NOP/EOL padding.
    pub options_order: bool,
    /// Ignore the PSH flag.
    pub psh: bool,
    /// Ignore timing errors.
    pub timing: bool,
}

impl Relax {
    /// Parses a comma-separated list (`window,options-order,psh,timing`).
    pub fn parse(list: &str) -> Result<Relax, String> {
        let mut r = Relax::default();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "window" | "win" => r.window = true,
                "options-order" | "options" => r.options_order = true,
                "psh" => r.psh = true,
                "timing" => r.timing = true,
                other => {
                    return Err(format!(
                        "unknown relaxation {other:?} (known: window, options-order, psh, timing)"
                    ));
                }
            }
        }
        Ok(r)
    }

    /// Whether nothing is relaxed.
    pub fn is_strict(&self) -> bool {
        *self == Relax::default()
    }
}

/// Comparison settings from the script and the run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MatchRules {
    pub relax: Relax,
    /// `--tcp_ts_tick_usecs`: when non-zero, TS val is checked.
    pub ts_tick_usecs: u64,
    pub tolerance_usecs: u64,
}

fn opt_from_live(o: &LiveOpt, remote_off: u32) -> Option<TcpOption> {
    Some(match o {
        LiveOpt::Eol => TcpOption::Eol,
        LiveOpt::Nop => TcpOption::Nop,
        LiveOpt::Mss(m) => TcpOption::Mss(*m),
        LiveOpt::Ws(s) => TcpOption::WindowScale(*s),
        LiveOpt::SackOk => TcpOption::SackPermitted,
        LiveOpt::Sack(b) => TcpOption::Sack(
            b.iter()
                .map(|(l, r)| (l.wrapping_sub(remote_off), r.wrapping_sub(remote_off)))
                .collect(),
        ),
        LiveOpt::Ts(v, e) => TcpOption::Timestamp { val: *v, ecr: *e },
        LiveOpt::Other(19, _) => TcpOption::Md5(None),
        LiveOpt::Other(34, c) => TcpOption::FastOpen(c.clone()),
        LiveOpt::Other(..) | LiveOpt::Bad(_) => return None,
    })
}

/// The live segment in script space (relative sequence numbers, mapped TS val), as a line.
pub(crate) fn script_form(t: &LiveTcp, flow: &Flow) -> String {
    let seq = t.seq.wrapping_sub(flow.local_offset());
    let len = u32::try_from(t.payload.len()).unwrap_or(u32::MAX);
    let mut opts = Vec::new();
    let mut unknown = Vec::new();
    for o in &t.options {
        match opt_from_live(o, 0) {
            Some(TcpOption::Timestamp { val, ecr }) => {
                let val = match flow.ts_first {
                    Some((s, a)) => s.wrapping_add(val.wrapping_sub(a)),
                    None => val,
                };
                opts.push(TcpOption::Timestamp { val, ecr });
            }
            Some(x) => opts.push(x),
            None => unknown.push(format!("{o:?}")),
        }
    }
    let seg = TcpSegment {
        flags: t.flags,
        seq: SeqRange {
            bounds: Some((seq, seq.wrapping_add(len))),
            len,
            absolute: false,
        },
        ack: t.flags.contains(TcpFlags::ACK).then_some(t.ack),
        win: Some(u32::from(t.window)),
        urg: (t.urg != 0 || t.flags.contains(TcpFlags::URG)).then_some(u32::from(t.urg)),
        options: (!opts.is_empty()).then_some(TcpOptions::List(opts)),
    };
    let mut s = format!("> {seg}");
    if !unknown.is_empty() {
        s.push_str(&format!(" (+ options {})", unknown.join(" ")));
    }
    s
}

fn flags_text(f: TcpFlags) -> String {
    let mut s = String::new();
    let _ = crate::ast::write_flags(&mut s, f);
    s
}

/// Compares an outbound segment with the expected line; the first difference, as
/// packetdrill words it (`field: expected X vs actual Y`).
pub(crate) fn compare_tcp(
    pkt: &Packet,
    seg: &TcpSegment,
    live: &Live,
    flow: &Flow,
    rules: &MatchRules,
) -> Result<(), String> {
    let Some(t) = &live.tcp else {
        return Err("expected a TCP segment, got another protocol".into());
    };
    // Flags: every bit is compared (PSH unless relaxed).
    let mut want = seg.flags;
    let mut got = t.flags;
    if rules.relax.psh {
        want = want.without(TcpFlags::PSH);
        got = got.without(TcpFlags::PSH);
    }
    if want != got {
        return Err(format!(
            "tcp flags: expected {} vs actual {}",
            flags_text(want),
            flags_text(got)
        ));
    }
    if t.reserved != 0 {
        return Err(format!(
            "tcp reserved bits: expected 0 vs actual {}",
            t.reserved
        ));
    }
    // Sequence number, relative to the ISN unless `!` or `...`.
    if let Some((start, _)) = seg.seq.bounds {
        let actual = if seg.seq.absolute {
            t.seq
        } else {
            t.seq.wrapping_sub(flow.local_offset())
        };
        if actual != start {
            return Err(format!("tcp seq: expected {start} vs actual {actual}"));
        }
    }
    let len = t.payload.len();
    if len != seg.seq.len as usize {
        return Err(format!(
            "tcp payload length: expected {} vs actual {len}",
            seg.seq.len
        ));
    }
    // The peer's ISN is used as is, so ACKs compare directly; a segment without ACK must
    // carry zero in the field.
    let want_ack = seg.ack.unwrap_or(0);
    if t.ack != want_ack {
        return Err(format!("tcp ack: expected {want_ack} vs actual {}", t.ack));
    }
    if let Some(w) = seg.win
        && !rules.relax.window
        && u32::from(t.window) != w
    {
        return Err(format!("tcp window: expected {w} vs actual {}", t.window));
    }
    let want_urg = seg.urg.unwrap_or(0);
    if u32::from(t.urg) != want_urg {
        return Err(format!(
            "tcp urgent pointer: expected {want_urg} vs actual {}",
            t.urg
        ));
    }
    match &seg.options {
        Some(TcpOptions::Any) => {}
        None => compare_options(&[], &t.options, flow, rules)?,
        Some(TcpOptions::List(l)) => compare_options(l, &t.options, flow, rules)?,
    }
    if t.payload.iter().any(|&b| b != 0) {
        return Err("tcp payload: expected the zero bytes the script writes".into());
    }
    compare_ip(pkt, live)
}

fn compare_ip(pkt: &Packet, live: &Live) -> Result<(), String> {
    if live.ip_options {
        return Err("ip header: unexpected IP options or extension headers".into());
    }
    for f in &pkt.ip {
        match *f {
            IpField::Tos(t) if live.tos != t => {
                return Err(format!(
                    "ip tos: expected {t:#04x} vs actual {:#04x}",
                    live.tos
                ));
            }
            IpField::Ttl(t) if live.ttl != t => {
                return Err(format!("ip ttl: expected {t} vs actual {}", live.ttl));
            }
            _ => {}
        }
    }
    let ecn = live.tos & 3;
    let ok = match pkt.ecn {
        None => true,
        Some(Ecn::NoEcn) => ecn == 0,
        Some(Ecn::Ect0) => ecn == 2,
        Some(Ecn::Ect1) => ecn == 1,
        Some(Ecn::Ce) => ecn == 3,
        Some(Ecn::Ect01) => ecn == 1 || ecn == 2,
    };
    if !ok {
        return Err(format!(
            "ip ecn: expected {} vs actual {ecn}",
            pkt.ecn.map_or(String::new(), |e| e.to_string())
        ));
    }
    Ok(())
}

fn is_padding(o: &LiveOpt) -> bool {
    matches!(o, LiveOpt::Eol | LiveOpt::Nop)
}

fn option_text(o: &LiveOpt) -> String {
    match opt_from_live(o, 0) {
        Some(x) => x.to_string(),
        None => format!("{o:?}"),
    }
}

/// Options in order (EOL/NOP included), values byte-exact except TS: its val is checked
/// only with a tick, its ecr never (as packetdrill does).
fn compare_options(
    want: &[TcpOption],
    got: &[LiveOpt],
    flow: &Flow,
    rules: &MatchRules,
) -> Result<(), String> {
    let fmt_list = |l: &[LiveOpt]| -> String {
        let parts: Vec<String> = l.iter().map(option_text).collect();
        format!("<{}>", parts.join(","))
    };
    let want_list = format!(
        "<{}>",
        want.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    let mismatch = || {
        Err(format!(
            "tcp options: expected {want_list} vs actual {}",
            fmt_list(got)
        ))
    };
    // The script's list, with implicit EOL padding to a 4-byte boundary.
    let mut want_l: Vec<TcpOption> = want.to_vec();
    let wire_len: usize = want
        .iter()
        .map(|o| match o {
            TcpOption::Eol | TcpOption::Nop => 1,
            TcpOption::Mss(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::Sack(b) => 2 + 8 * b.len(),
            TcpOption::Timestamp { .. } => 10,
            TcpOption::Md5(_) => 18,
            TcpOption::FastOpen(c) => 2 + c.len(),
            TcpOption::FastOpenExp(c) => 4 + c.len(),
        })
        .sum();
    for _ in wire_len..wire_len.next_multiple_of(4) {
        want_l.push(TcpOption::Eol);
    }
    if rules.relax.options_order {
        let mut w: Vec<&TcpOption> = want_l
            .iter()
            .filter(|o| !matches!(o, TcpOption::Eol | TcpOption::Nop))
            .collect();
        let g: Vec<&LiveOpt> = got.iter().filter(|o| !is_padding(o)).collect();
        if w.len() != g.len() {
            return mismatch();
        }
        for o in g {
            let Some(i) = w.iter().position(|x| option_matches(x, o, flow, rules)) else {
                return mismatch();
            };
            w.remove(i);
        }
        return Ok(());
    }
    if want_l.len() != got.len() {
        return mismatch();
    }
    for (w, g) in want_l.iter().zip(got) {
        if !option_matches(w, g, flow, rules) {
            return mismatch();
        }
    }
    Ok(())
}

fn option_matches(w: &TcpOption, g: &LiveOpt, flow: &Flow, rules: &MatchRules) -> bool {
    match (w, g) {
        (TcpOption::Eol, LiveOpt::Eol) | (TcpOption::Nop, LiveOpt::Nop) => true,
        (TcpOption::Mss(a), LiveOpt::Mss(b)) => a == b,
        (TcpOption::WindowScale(a), LiveOpt::Ws(b)) => a == b,
        (TcpOption::SackPermitted, LiveOpt::SackOk) => true,
        // The peer's sequence space is the script's, so SACK edges compare directly.
        (TcpOption::Sack(a), LiveOpt::Sack(b)) => a == b,
        (TcpOption::Timestamp { val, .. }, LiveOpt::Ts(v, _)) => {
            if rules.ts_tick_usecs == 0 {
                return true;
            }
            let mapped = match flow.ts_first {
                Some((s, a)) => s.wrapping_add(v.wrapping_sub(a)),
                None => *v,
            };
            let diff = u64::from(mapped.wrapping_sub(*val).min(val.wrapping_sub(mapped)));
            diff.saturating_mul(rules.ts_tick_usecs) <= rules.tolerance_usecs
        }
        (TcpOption::Md5(_), LiveOpt::Other(19, _)) => true,
        (TcpOption::FastOpen(c), LiveOpt::Other(34, d)) => c == d,
        _ => false,
    }
}

/// Records the TS val mapping of a matched outbound segment (packetdrill's rule: the first
/// pair anchors the mapping, every pair is remembered for inbound echoes).
pub(crate) fn learn_ts(seg: &TcpSegment, live: &LiveTcp, flow: &mut Flow) {
    let want = match &seg.options {
        Some(TcpOptions::List(l)) => l.iter().find_map(|o| match o {
            TcpOption::Timestamp { val, .. } => Some(*val),
            _ => None,
        }),
        _ => None,
    };
    let got = live.options.iter().find_map(|o| match o {
        LiveOpt::Ts(v, _) => Some(*v),
        _ => None,
    });
    if let (Some(s), Some(a)) = (want, got) {
        flow.ts_map.insert(s, a);
        if flow.ts_first.is_none() {
            flow.ts_first = Some((s, a));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{EventKind, PacketBody};
    use core::net::Ipv4Addr;

    fn packet(line: &str) -> Packet {
        let s = crate::parse_script(line).unwrap();
        match &s.events[0].kind {
            EventKind::Packet(p) => p.clone(),
            other => panic!("{other:?}"),
        }
    }

    fn flow() -> Flow {
        let mut f = Flow::new(
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)), 8080),
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)), 40000),
        );
        f.script_isn = 0;
        f.live_isn = 1_000_000;
        f.ts_map.insert(700, 123_456);
        f.ts_first = Some((700, 123_456));
        f
    }

    #[test]
    fn inbound_segment_maps_ack_sack_and_ecr() {
        let p = packet(
            "0 < P. 5:15(10) ack 101 win 512 <nop,nop,TS val 9 ecr 700,nop,nop,sack 201:301>\n",
        );
        let f = flow();
        let bytes = build_inbound(&p, &f).unwrap();
        let ip = Ipv4Packet::new_checked(&bytes).unwrap();
        assert!(ip.checksum_ok());
        assert_eq!(
            (ip.src(), ip.dst()),
            (Ipv4Addr::new(198, 18, 0, 2), Ipv4Addr::new(198, 18, 0, 1))
        );
        let h = TcpHeader::parse(ip.payload()).unwrap();
        assert!(h.verify_checksum(&pseudo(IpAddr::V4(ip.src()), IpAddr::V4(ip.dst()))));
        assert_eq!((h.seq(), h.ack(), h.window()), (5, 1_000_101, 512));
        assert_eq!(h.payload(), &[0u8; 10]);
        let opts = parse_options(h.options_bytes());
        assert_eq!(
            opts,
            [
                LiveOpt::Nop,
                LiveOpt::Nop,
                LiveOpt::Ts(9, 123_456),
                LiveOpt::Nop,
                LiveOpt::Nop,
                LiveOpt::Sack(vec![(1_000_201, 1_000_301)]),
            ]
        );
    }

    #[test]
    fn inbound_icmp_quotes_our_segment() {
        let p = packet("0 < icmp unreachable port_unreachable [1:101(100)]\n");
        let PacketBody::Icmp(_) = &p.body else {
            panic!()
        };
        let bytes = build_inbound(&p, &flow()).unwrap();
        let ip = Ipv4Packet::new_checked(&bytes).unwrap();
        assert_eq!(ip.protocol(), PROTO_ICMP);
        let icmp = ip.payload();
        assert_eq!((icmp[0], icmp[1]), (3, 3));
        assert_eq!(synack_wire::checksum::checksum(icmp), 0);
        // The quoted header goes from us to the peer, with our live sequence number.
        let inner = Ipv4Packet::new_checked(&icmp[8..]).unwrap();
        assert_eq!(
            (inner.src(), inner.dst()),
            (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2))
        );
        // The quoted datagram claims its full length (40 + 100) but only 8 TCP bytes follow.
        assert_eq!(inner.total_len(), 140);
        let quoted = &icmp[8 + 20..];
        assert_eq!(u16::from_be_bytes([quoted[0], quoted[1]]), 8080);
        assert_eq!(u16::from_be_bytes([quoted[2], quoted[3]]), 40000);
        assert_eq!(
            u32::from_be_bytes([quoted[4], quoted[5], quoted[6], quoted[7]]),
            1_000_001
        );
    }

    #[test]
    fn malformed_options_do_not_panic() {
        for bytes in [&[5u8][..], &[8, 1], &[8, 40, 1, 2], &[2, 4, 1], &[0, 1, 3]] {
            let _ = parse_options(bytes);
        }
        assert_eq!(parse_options(&[3, 0]), [LiveOpt::Bad(vec![3, 0])]);
    }
}
