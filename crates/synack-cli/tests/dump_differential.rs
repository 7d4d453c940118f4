//! Differential test: `synack dump` against the real tcpdump on a generated corpus.
//!
//! The corpus is built with synack's own emitters (TCP header and options, IPv4/IPv6 with
//! options, fragments and extension headers, UDP, ICMP, link encapsulations, the pcap and
//! pcapng writers) from a fixed seed: every TCP flag combination, every option kind with
//! well-formed and malformed lengths, interleaved connections (relative sequence numbers),
//! each link type, snaplen-truncated captures and wrong checksums. For each file and each
//! of `-nt`, `-ntS`, `-ntv`, `-n`, `-ntt` (and `-nttt`, `-ntttt`, `-ntx`, `-ntvv`, `-nvSx`),
//! the two programs must print identical stdout.
//!
//! Without tcpdump the test is skipped, unless `CI` is set: CI installs tcpdump, so its
//! absence there is a failure.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use synack_wire::TcpFlags;
use synack_wire::checksum::PseudoHeader;
use synack_wire::icmp::EchoRepr;
use synack_wire::ipv4::Ipv4Repr;
use synack_wire::ipv6::{ExtRepr, Fragment, Ipv6Repr};
use synack_wire::link::{
    ARPHRD_ETHER, ARPHRD_LOOPBACK, Encapsulation, LinkType, NetworkProtocol, PACKET_HOST,
    PACKET_OUTGOING, VlanTag,
};
use synack_wire::pcap::{ByteOrder, PcapWriter, PcapngWriter, Timestamp, TsPrecision};
use synack_wire::tcp::{EmitOverrides, TcpRepr};
use synack_wire::tcp_options::{SynOptions, TcpOption, TcpOptionBuf};
use synack_wire::udp::UdpRepr;

/// The issue's five flag sets, then the other forms `synack dump` supports.
const FLAG_SETS: [&str; 10] = [
    "-nt", "-ntS", "-ntv", "-n", "-ntt", "-nttt", "-ntttt", "-ntx", "-ntvv", "-nvSx",
];

/// splitmix64: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn u32(&mut self) -> u32 {
        self.next() as u32
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Server ports tcpdump has no application decoder for.
const SERVER_PORTS: [u16; 6] = [5001, 9000, 12345, 33333, 40404, 8888];

#[derive(Clone, Copy, Debug)]
enum Addrs {
    V4(Ipv4Addr, Ipv4Addr),
    V6(Ipv6Addr, Ipv6Addr),
}

impl Addrs {
    fn rev(self) -> Addrs {
        match self {
            Addrs::V4(a, b) => Addrs::V4(b, a),
            Addrs::V6(a, b) => Addrs::V6(b, a),
        }
    }
    fn is_v6(self) -> bool {
        matches!(self, Addrs::V6(..))
    }
}

fn v4(rng: &mut Rng) -> Ipv4Addr {
    Ipv4Addr::new(
        rng.pick(&[10, 192, 172, 127]),
        rng.below(4) as u8,
        rng.below(3) as u8,
        rng.range(1, 254) as u8,
    )
}

fn v6(rng: &mut Rng) -> Ipv6Addr {
    let a = rng.below(3) as u16;
    let b = rng.range(1, 300) as u16;
    match rng.below(8) {
        0 | 1 => Ipv6Addr::new(0x2001, 0xdb8, 0, a, 0, 0, 0, b),
        2 | 3 => Ipv6Addr::new(0xfe80, 0, 0, 0, 0x1234, 0x56ff, 0xfe00, b),
        4 | 5 => Ipv6Addr::new(0x2001, 0xdb8, 0xaaaa, 0xbbbb, 0xcccc, a, 0xeeee, b),
        // Text forms with embedded IPv4 and competing zero runs.
        6 => Ipv6Addr::new(0, 0, 0, 0, 0, rng.pick(&[0, 0xffff]), b, a),
        _ => {
            let mut w = [0u16; 8];
            for x in &mut w {
                if rng.chance(40) {
                    *x = rng.next() as u16;
                }
            }
            Ipv6Addr::from(w)
        }
    }
}

fn addrs(rng: &mut Rng, want_v6: bool) -> Addrs {
    if want_v6 {
        Addrs::V6(v6(rng), v6(rng))
    } else {
        Addrs::V4(v4(rng), v4(rng))
    }
}

/// IP-level variations applied when a transport segment is wrapped.
#[derive(Clone, Debug, Default)]
struct IpTweak {
    v4_options: Vec<u8>,
    tos: u8,
    ttl: Option<u8>,
    id: u16,
    df: bool,
    reserved: bool,
    bad_ip_checksum: bool,
    total_len_delta: i32,
    v6_ext: Vec<ExtRepr>,
    flow: u32,
    class: u8,
    /// Split the IPv4 payload into fragments of this many 8-byte units.
    fragment_units: Option<u16>,
}

/// Wraps a transport payload into one or more IP packets.
fn ip_wrap(a: Addrs, proto: u8, l4: &[u8], t: &IpTweak) -> Vec<Vec<u8>> {
    match a {
        Addrs::V4(s, d) => {
            let mut r = Ipv4Repr::new(s, d, proto);
            r.tos = t.tos;
            r.ttl = t.ttl.unwrap_or(64);
            r.id = t.id;
            r.df = t.df;
            r.reserved_flag = t.reserved;
            r.options = t.v4_options.clone();
            if let Some(units) = t.fragment_units {
                let chunk = usize::from(units) * 8;
                let mut out = Vec::new();
                let mut off = 0usize;
                while off < l4.len() || off == 0 {
                    let end = (off + chunk).min(l4.len());
                    let mut f = r.clone();
                    f.df = false;
                    f.frag_offset = (off / 8) as u16;
                    f.mf = end < l4.len();
                    out.push(f.emit(&l4[off..end]));
                    off = end;
                    if off >= l4.len() {
                        break;
                    }
                }
                return out;
            }
            let hlen = r.header_len();
            if t.total_len_delta != 0 {
                let n = (hlen + l4.len()) as i32 + t.total_len_delta;
                r.total_len = Some(n.clamp(0, 65535) as u16);
            }
            let mut pkt = r.emit(l4);
            if t.bad_ip_checksum {
                pkt[10] ^= 0x5a;
                pkt[11] ^= 0xa5;
            }
            vec![pkt]
        }
        Addrs::V6(s, d) => {
            let mut r = Ipv6Repr::new(s, d, proto);
            r.traffic_class = t.class;
            r.flow_label = t.flow;
            r.hop_limit = t.ttl.unwrap_or(64);
            r.ext = t.v6_ext.clone();
            if t.total_len_delta != 0 {
                let ext: usize = r.ext.iter().map(|e| e.emit(0).len()).sum::<usize>();
                let n = (ext + l4.len()) as i32 + t.total_len_delta;
                r.payload_len = Some(n.clamp(0, 65535) as u16);
            }
            vec![r.emit(l4)]
        }
    }
}

/// The pseudo-header a correct checksum uses: the final destination of a source route.
fn pseudo_for(a: Addrs, t: &IpTweak) -> PseudoHeader {
    match a {
        Addrs::V4(s, d) => {
            let o = &t.v4_options;
            let mut i = 0;
            let mut dst = d;
            while i < o.len() {
                match o[i] {
                    0 => break,
                    1 => i += 1,
                    k => {
                        let Some(&l) = o.get(i + 1) else { break };
                        let l = usize::from(l);
                        if l < 2 || i + l > o.len() {
                            break;
                        }
                        if (k == 131 || k == 137) && l >= 7 {
                            let e = i + l;
                            dst = Ipv4Addr::new(o[e - 4], o[e - 3], o[e - 2], o[e - 1]);
                            break;
                        }
                        i += l;
                    }
                }
            }
            PseudoHeader::v4(s, dst)
        }
        Addrs::V6(s, d) => {
            let mut dst = d;
            for e in &t.v6_ext {
                if let ExtRepr::Routing {
                    routing_type: 0,
                    data,
                    ..
                } = e
                {
                    // Type 0 data: 4 reserved bytes, then the addresses.
                    let addrs = &data[4.min(data.len())..];
                    if let Some(last) = addrs.chunks_exact(16).last() {
                        let mut b = [0u8; 16];
                        b.copy_from_slice(last);
                        dst = Ipv6Addr::from(b);
                    }
                }
            }
            PseudoHeader::v6(s, dst)
        }
    }
}

fn tcp_bytes(repr: &TcpRepr, payload: &[u8], ph: PseudoHeader, ov: EmitOverrides) -> Vec<u8> {
    let mut buf = vec![0u8; repr.header_len() + payload.len()];
    let n = repr.emit_with(&mut buf, payload, ph, ov).unwrap();
    buf.truncate(n);
    buf
}

/// Changes a few bytes of an IP/TCP packet, leaving the version, protocol and ports
/// alone (tcpdump decodes some ports as applications, which synack does not).
fn mutate(rng: &mut Rng, ip: &mut [u8]) {
    let v6 = ip[0] >> 4 == 6;
    let l4 = if v6 {
        40
    } else {
        usize::from(ip[0] & 0x0f) * 4
    };
    let tcp_hlen = ip
        .get(l4 + 12)
        .map_or(20, |b| usize::from(b >> 4) * 4)
        .max(20);
    for _ in 0..rng.range(1, 3) {
        let pos = if rng.chance(25) {
            // IP header, skipping version/IHL, protocol/next header and addresses.
            let cands: &[usize] = if v6 {
                &[1, 2, 3, 4, 5, 7]
            } else {
                &[1, 2, 3, 4, 5, 6, 7, 8, 10, 11]
            };
            rng.pick(cands)
        } else {
            // TCP header after the ports, options included.
            l4 + 4 + rng.below(tcp_hlen as u64 - 4) as usize
        };
        if let Some(b) = ip.get_mut(pos) {
            *b = if rng.chance(50) {
                rng.next() as u8
            } else {
                *b ^ (1 << rng.below(8))
            };
        }
    }
}

/// One packet of the corpus: network-layer bytes, time, and how much of it to capture.
#[derive(Clone, Debug)]
struct Pkt {
    ip: Vec<u8>,
    ts: Timestamp,
    /// Capture only this many bytes of the frame (a per-packet snaplen).
    cut: Option<usize>,
}

/// A capture file to write.
struct CapFile {
    name: String,
    link: usize,
    snaplen: u32,
    nano: bool,
    pcapng: bool,
    pkts: Vec<Pkt>,
}

/// The link encapsulations cycled through the files.
const LINKS: usize = 11;

fn encapsulate(link: usize, i: usize, ip: &[u8]) -> (LinkType, Vec<u8>) {
    static TAG1: [VlanTag; 1] = [VlanTag {
        tpid: 0x8100,
        tci: 0x2064,
    }];
    static TAGS2: [VlanTag; 2] = [
        VlanTag {
            tpid: 0x88a8,
            tci: 10,
        },
        VlanTag {
            tpid: 0x8100,
            tci: 0x0014,
        },
    ];
    // ARP (RFC 826) frames start with hardware type 1, so a zero version nibble.
    let proto = match ip.first() {
        Some(b) if b >> 4 == 0 => NetworkProtocol::Other(0x0806),
        _ => NetworkProtocol::of_ip_packet(ip),
    };
    let mac1 = [0x02, 0, 0, 0, 0, 1];
    let mac2 = [0x02, 0, 0, 0, 0, 2];
    let inet6 = [24u32, 28, 30][i % 3];
    let enc = match link {
        0 => Encapsulation::Raw(LinkType::RAW),
        1 => Encapsulation::Raw(LinkType::IPV4),
        2 => Encapsulation::Raw(LinkType::IPV6),
        3 => Encapsulation::Ethernet {
            dst: mac2,
            src: mac1,
            vlan_tags: &[],
        },
        4 => Encapsulation::Ethernet {
            dst: mac1,
            src: mac2,
            vlan_tags: &TAG1,
        },
        5 => Encapsulation::Ethernet {
            dst: mac1,
            src: mac2,
            vlan_tags: &TAGS2,
        },
        6 => Encapsulation::Sll {
            packet_type: if i % 2 == 0 {
                PACKET_HOST
            } else {
                PACKET_OUTGOING
            },
            arphrd_type: ARPHRD_ETHER,
            addr: &mac1,
            vlan_tags: &[],
        },
        7 => Encapsulation::Sll2 {
            packet_type: if i % 2 == 0 { 0 } else { 4 },
            arphrd_type: ARPHRD_LOOPBACK,
            ifindex: 1,
            addr: &mac1,
            vlan_tags: &[],
        },
        8 => Encapsulation::Null {
            byte_order: ByteOrder::Little,
            inet6_family: inet6,
        },
        9 => Encapsulation::Loop {
            inet6_family: inet6,
        },
        _ => Encapsulation::Raw(LinkType::RAW),
    };
    let mut out = Vec::new();
    enc.encapsulate(proto, ip, &mut out).unwrap();
    (enc.link_type(), out)
}

fn write_file(dir: &Path, f: &CapFile) -> PathBuf {
    let path = dir.join(&f.name);
    let prec = if f.nano {
        TsPrecision::Nano
    } else {
        TsPrecision::Micro
    };
    let frames: Vec<(Timestamp, Vec<u8>, Option<usize>)> = f
        .pkts
        .iter()
        .enumerate()
        .map(|(i, p)| (p.ts, encapsulate(f.link, i, &p.ip).1, p.cut))
        .collect();
    let lt = encapsulate(f.link, 0, &f.pkts[0].ip).0;
    let bytes = if f.pcapng {
        let mut w = PcapngWriter::new(Vec::new()).unwrap();
        let id = w.add_interface(lt, f.snaplen, prec).unwrap();
        for (ts, fr, cut) in &frames {
            let n = fr
                .len()
                .min(f.snaplen as usize)
                .min(cut.unwrap_or(usize::MAX));
            w.write_packet(id, *ts, &fr[..n], fr.len() as u32).unwrap();
        }
        w.into_inner()
    } else {
        let mut w = PcapWriter::new(Vec::new(), lt, f.snaplen, prec).unwrap();
        for (ts, fr, cut) in &frames {
            let n = fr.len().min(cut.unwrap_or(usize::MAX));
            w.write_packet(*ts, &fr[..n], fr.len() as u32).unwrap();
        }
        w.into_inner()
    };
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Timestamps: mostly increasing, with a few equal or backwards steps.
struct Clock {
    secs: i64,
    nanos: u32,
}

impl Clock {
    fn tick(&mut self, rng: &mut Rng) -> Timestamp {
        match rng.below(20) {
            0 => {}
            1 => self.secs += rng.range(1, 100) as i64,
            _ => {
                let step = rng.range(1, 900_000_000) as u32;
                let n = self.nanos + step;
                self.secs += i64::from(n / 1_000_000_000);
                self.nanos = n % 1_000_000_000;
            }
        }
        Timestamp::new(self.secs, self.nanos)
    }
}

/// TCP options as raw bytes: every kind tcpdump knows, unknown ones, and malformed lengths.
fn option_catalog(rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = vec![
        vec![2, 4, 0x05, 0xb4],
        vec![3, 3, rng.below(15) as u8],
        vec![4, 2],
        vec![1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0],
        vec![1],
        vec![0],
        vec![1, 0],
        vec![34, 2],
        vec![34, 10, 1, 2, 3, 4, 5, 6, 7, 8],
        vec![34, 5, 1, 2, 3],
        vec![34, 3, 1],
        vec![
            34, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
        ],
        vec![253, 4, 0x12, 0x34],
        vec![254, 4, 0xf9, 0x89],
        vec![254, 6, 0xf9, 0x89, 1, 2],
        vec![254, 12, 0xf9, 0x89, 1, 2, 3, 4, 5, 6, 7, 8],
        vec![254, 2],
        vec![254, 3, 1],
        vec![254, 6, 0xab, 0xcd, 1, 2],
        vec![99, 4, 0xab, 0xcd],
        vec![99, 2],
        vec![14, 3, 1],
        vec![2, 3, 5],
        vec![2, 5, 5, 0xb4, 0],
        vec![2, 6, 5, 0xb4, 0, 0],
        vec![3, 4, 7, 0],
        vec![3, 2],
        vec![4, 3, 0],
        vec![5, 6, 0, 0, 0, 0],
        vec![5, 1],
        vec![5, 2],
        vec![8, 11, 0, 0, 0, 1, 0, 0, 0, 2, 9],
        vec![8, 9, 0, 0, 0, 1, 0, 0, 0],
        vec![8, 2],
        vec![2, 40],
        vec![2, 0],
        vec![2, 1],
        vec![7],
        vec![28, 4, 0x01, 0x02],
        vec![28, 4, 0x01, 0x03],
        vec![28, 3, 1],
        vec![29, 4, 1, 2],
        vec![29, 8, 1, 2, 0xde, 0xad, 0xbe, 0xef],
        vec![29, 2],
        vec![29, 3, 1],
        vec![6, 6, 0, 0, 0, 1],
        vec![7, 6, 0, 0, 0, 2],
        vec![11, 6, 0, 0, 0, 3],
        vec![12, 6, 0, 0, 0, 4],
        vec![13, 6, 0, 0, 0, 5],
        vec![6, 4, 0, 0],
        vec![20, 4, 0x81, 7],
        vec![20, 3, 1],
        vec![
            19, 18, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
        ],
        vec![19, 10, 1, 2, 3, 4, 5, 6, 7, 8],
        vec![30, 3, 0x00],
        vec![30, 4, 0x00, 0x81],
        vec![30, 12, 0x00, 0x81, 1, 2, 3, 4, 5, 6, 7, 8],
        vec![30, 12, 0x01, 0x01, 1, 2, 3, 4, 5, 6, 7, 8],
        vec![
            30, 20, 0x00, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
        ],
        vec![
            30, 20, 0x10, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 4, 0, 0,
        ],
        vec![30, 8, 0x20, 0x01, 0, 0, 0, 9],
        vec![30, 12, 0x20, 0x03, 0, 0, 0, 0, 0, 0, 0, 9],
        vec![30, 18, 0x20, 0x05, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 2, 0, 7],
        vec![
            30, 20, 0x20, 0x1d, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 2, 0, 7, 0xaa, 0xbb,
        ],
        vec![30, 8, 0x30, 7, 10, 0, 0, 1],
        vec![30, 10, 0x30, 7, 10, 0, 0, 1, 0x1f, 0x90],
        vec![30, 16, 0x31, 7, 10, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8],
        vec![30, 9, 0x30, 7, 10, 0, 0, 1, 0],
        vec![30, 5, 0x40, 1, 2],
        vec![30, 3, 0x40],
        vec![30, 4, 0x51, 3],
        vec![30, 3, 0x50],
        vec![30, 12, 0x60, 0, 0, 0, 0, 0, 0, 0, 0, 5],
        vec![30, 12, 0x70, 0, 1, 2, 3, 4, 5, 6, 7, 8],
        vec![30, 6, 0x90, 1, 2, 3],
        vec![30, 6, 0xf0, 1, 2, 3],
    ];
    // SACK with 1..=4 blocks.
    for n in 1..=4usize {
        let mut o = vec![5, (2 + 8 * n) as u8];
        for _ in 0..2 * n {
            o.extend_from_slice(&rng.u32().to_be_bytes());
        }
        v.push(o);
    }
    v
}

fn dns_name(n: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for l in n.split('.').filter(|l| !l.is_empty()) {
        v.push(l.len() as u8);
        v.extend_from_slice(l.as_bytes());
    }
    v.push(0);
    v
}

/// A DNS message (RFC 1035 §4.1): questions, answers of common types with compression
/// pointers, EDNS(0) options; sometimes damaged or cut.
fn dns_msg(rng: &mut Rng) -> Vec<u8> {
    let names = [
        "example.com",
        "a.b.c.d.e",
        "x",
        "www.example.org",
        "_sip._udp.example.net",
    ];
    let flags = rng.pick(&[
        0x0100u16, 0x8180, 0x8580, 0x8183, 0x8182, 0x0120, 0x8100, 0x2800, 0x8400, 0x0110, 0x81a0,
        0x8380,
    ]);
    let qtype = rng.pick(&[1u16, 28, 5, 15, 16, 33, 12, 2, 6, 255, 99, 1000]);
    let mut q = dns_name(rng.pick(&names));
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&rng.pick(&[1u16, 1, 1, 3, 255]).to_be_bytes());
    let nan = rng.pick(&[0u16, 0, 1, 2, 3]);
    let mut body = Vec::new();
    for _ in 0..nan {
        let t = rng.pick(&[1u16, 28, 5, 15, 16, 33, 12, 2, 99, 13]);
        let rd: Vec<u8> = match t {
            1 => rng.bytes(4),
            28 => rng.bytes(16),
            5 | 12 | 2 => match rng.below(3) {
                0 => vec![0xc0, 0x0c],
                1 => dns_name(rng.pick(&names)),
                _ => vec![3, b'a', b'b', b'c', 0xc0, 0x0c],
            },
            15 => vec![0, 5, 0xc0, 0x0c],
            16 => b"\x05hello\x03a b".to_vec(),
            33 => vec![0, 1, 0, 2, 0x13, 0xc4, 0xc0, 0x0c],
            _ => vec![1, 2, 3],
        };
        body.extend_from_slice(&[0xc0, 0x0c]);
        body.extend_from_slice(&t.to_be_bytes());
        body.extend_from_slice(&1u16.to_be_bytes());
        body.extend_from_slice(&(rng.u32() >> 8).to_be_bytes());
        body.extend_from_slice(&(rd.len() as u16).to_be_bytes());
        body.extend_from_slice(&rd);
    }
    let mut nar = 0u16;
    if rng.chance(40) {
        let opts: [&[u8]; 8] = [
            &[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8],
            &[0, 3, 0, 2, b'a', b'b'],
            &[0, 12, 0, 3, 0, 0, 0],
            &[0, 9, 0, 4, 0, 0, 0, 5],
            &[0, 8, 0, 7, 0, 1, 24, 0, 10, 1, 2],
            &[0, 11, 0, 2, 0, 100],
            &[0, 5, 0, 2, 8, 13],
            &[0, 14, 0, 4, 0, 1, 0, 2],
        ];
        let mut o = Vec::new();
        for _ in 0..rng.below(3) {
            o.extend_from_slice(rng.pick(&opts));
        }
        body.push(0);
        body.extend_from_slice(&41u16.to_be_bytes());
        body.extend_from_slice(&rng.pick(&[512u16, 1232, 4096]).to_be_bytes());
        body.extend_from_slice(&rng.pick(&[0u32, 0x8000, 0x0100_8000]).to_be_bytes());
        body.extend_from_slice(&(o.len() as u16).to_be_bytes());
        body.extend_from_slice(&o);
        nar = 1;
    }
    let qd = rng.pick(&[1u16, 1, 1, 0, 2]);
    let mut m = Vec::new();
    m.extend_from_slice(&(rng.next() as u16).to_be_bytes());
    m.extend_from_slice(&flags.to_be_bytes());
    for c in [qd, nan, 0, nar] {
        m.extend_from_slice(&c.to_be_bytes());
    }
    m.extend_from_slice(&q);
    m.extend_from_slice(&body);
    if rng.chance(30) {
        for _ in 0..rng.range(1, 2) {
            let i = rng.below(m.len() as u64) as usize;
            m[i] = rng.next() as u8;
        }
    }
    if rng.chance(10) {
        let n = rng.below(m.len() as u64) as usize;
        m.truncate(n);
    }
    m
}

/// Flags for a segment carrying an option from the catalog (MPTCP cares).
fn flags_for(rng: &mut Rng) -> TcpFlags {
    TcpFlags::from_bits(rng.pick(&[0x002, 0x012, 0x010, 0x018, 0x011, 0x004, 0x014]))
}

/// A conversation: a sequence of (direction, repr, payload) built like a real transfer.
struct Conv {
    a: Addrs,
    sport: u16,
    dport: u16,
    cseq: u32,
    sseq: u32,
    ts: u32,
    step: usize,
    mid_stream: bool,
    syn_style: u8,
}

impl Conv {
    fn new(rng: &mut Rng, v6: bool) -> Conv {
        let a = addrs(rng, v6);
        let (sport, dport) = if rng.chance(5) {
            let p = rng.pick(&SERVER_PORTS);
            (p, p)
        } else if rng.chance(20) {
            // server port above the client's: exercises the other canonical direction
            (rng.pick(&SERVER_PORTS), rng.range(41000, 65000) as u16)
        } else {
            (rng.range(32768, 60999) as u16, rng.pick(&SERVER_PORTS))
        };
        Conv {
            a,
            sport,
            dport,
            cseq: rng.u32(),
            sseq: rng.u32(),
            ts: rng.u32(),
            step: 0,
            mid_stream: rng.chance(15),
            syn_style: rng.below(3) as u8,
        }
    }

    /// The next segment; `None` when the conversation is over.
    fn next(&mut self, rng: &mut Rng) -> Option<(bool, TcpRepr, Vec<u8>)> {
        let step = self.step;
        self.step += 1;
        if self.mid_stream && step < 3 {
            self.step = 3;
            return self.next(rng);
        }
        self.ts = self.ts.wrapping_add(rng.range(1, 50) as u32);
        let tsopt = |ts: u32, ecr: u32| {
            TcpOptionBuf::from_options(&[
                TcpOption::Nop,
                TcpOption::Nop,
                TcpOption::Timestamps {
                    tsval: ts,
                    tsecr: ecr,
                },
            ])
            .unwrap()
        };
        let base = |from_client: bool, c: &Conv| TcpRepr {
            src_port: if from_client { c.sport } else { c.dport },
            dst_port: if from_client { c.dport } else { c.sport },
            seq: if from_client { c.cseq } else { c.sseq },
            ack: if from_client { c.sseq } else { c.cseq },
            flags: TcpFlags::ACK,
            reserved: 0,
            window: rng_window(step),
            urgent_ptr: 0,
            options: TcpOptionBuf::new(),
        };
        let syn = SynOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((self.ts, 0)),
        };
        match step {
            0 => {
                let mut r = base(true, self);
                r.flags = TcpFlags::SYN;
                r.ack = 0;
                r.options = match self.syn_style {
                    0 => syn.linux_layout(),
                    1 => syn.bsd_layout(),
                    _ => SynOptions {
                        timestamps: None,
                        ..syn
                    }
                    .linux_layout(),
                };
                if rng.chance(20) {
                    r.flags = r.flags | TcpFlags::ECE | TcpFlags::CWR;
                }
                self.cseq = self.cseq.wrapping_add(1);
                Some((true, r, Vec::new()))
            }
            1 => {
                let mut r = base(false, self);
                r.flags = TcpFlags::SYN | TcpFlags::ACK;
                r.options = syn.linux_layout();
                self.sseq = self.sseq.wrapping_add(1);
                Some((false, r, Vec::new()))
            }
            2 => Some((true, base(true, self), Vec::new())),
            3..=14 => {
                let from_client = rng.chance(55);
                let mut r = base(from_client, self);
                let n = if rng.chance(30) {
                    0
                } else {
                    rng.range(1, 600) as usize
                };
                let payload = rng.bytes(n);
                if n > 0 && rng.chance(60) {
                    r.flags |= TcpFlags::PSH;
                }
                if rng.chance(10) {
                    r.flags |= TcpFlags::URG;
                    r.urgent_ptr = rng.range(1, 100) as u16;
                }
                if rng.chance(10) {
                    r.flags |= TcpFlags::ECE;
                }
                if rng.chance(5) {
                    r.flags |= TcpFlags::CWR;
                }
                if rng.chance(70) {
                    r.options = tsopt(self.ts, self.ts.wrapping_sub(3));
                }
                if rng.chance(20) {
                    // SACK blocks above the peer's next sequence number.
                    let peer = if from_client { self.sseq } else { self.cseq };
                    let mut opts = vec![TcpOption::Nop, TcpOption::Nop];
                    let mut blocks = synack_wire::tcp_options::SackBlocks::default();
                    let nb = rng.range(1, 3);
                    let mut s = peer.wrapping_add(rng.range(100, 2000) as u32);
                    for _ in 0..nb {
                        let e = s.wrapping_add(rng.range(1, 1400) as u32);
                        blocks.push((s, e));
                        s = e.wrapping_add(rng.range(1, 3000) as u32);
                    }
                    opts.push(TcpOption::Sack(blocks));
                    r.options = TcpOptionBuf::from_options(&opts).unwrap();
                }
                if from_client {
                    self.cseq = self.cseq.wrapping_add(n as u32);
                } else {
                    self.sseq = self.sseq.wrapping_add(n as u32);
                }
                Some((from_client, r, payload))
            }
            15 => {
                let from_client = rng.chance(50);
                let mut r = base(from_client, self);
                if rng.chance(20) {
                    r.flags = TcpFlags::RST | TcpFlags::ACK;
                    let text = b"connection reset by peer: \x01\xff ok";
                    let n = rng.below(text.len() as u64 + 1) as usize;
                    self.step = 99;
                    return Some((from_client, r, text[..n].to_vec()));
                }
                r.flags = TcpFlags::FIN | TcpFlags::ACK;
                if from_client {
                    self.cseq = self.cseq.wrapping_add(1);
                } else {
                    self.sseq = self.sseq.wrapping_add(1);
                }
                Some((from_client, r, Vec::new()))
            }
            16 => {
                let from_client = rng.chance(50);
                let mut r = base(from_client, self);
                r.flags = TcpFlags::FIN | TcpFlags::ACK;
                if from_client {
                    self.cseq = self.cseq.wrapping_add(1);
                } else {
                    self.sseq = self.sseq.wrapping_add(1);
                }
                Some((from_client, r, Vec::new()))
            }
            17 => Some((true, base(true, self), Vec::new())),
            _ => None,
        }
    }
}

fn rng_window(step: usize) -> u16 {
    [65535u16, 502, 8192, 0, 29200, 1024][step % 6]
}

/// Builds one file's packets from a theme.
fn build_file(rng: &mut Rng, idx: usize) -> CapFile {
    let theme = idx % 14;
    let link = match (theme, idx % LINKS) {
        (7, 2) => 1,
        (8, 1) => 2,
        (_, l) => l,
    };
    let want_v6 = |rng: &mut Rng| match link {
        1 => false,
        2 => true,
        _ => rng.chance(35),
    };
    let mut clock = Clock {
        secs: 1_600_000_000 + rng.below(200_000_000) as i64,
        nanos: rng.below(1_000_000_000) as u32,
    };
    let mut pkts = Vec::new();
    let push_segment = |pkts: &mut Vec<Pkt>,
                        clock: &mut Clock,
                        rng: &mut Rng,
                        a: Addrs,
                        r: &TcpRepr,
                        payload: &[u8],
                        ov: EmitOverrides,
                        t: &IpTweak| {
        let seg = tcp_bytes(r, payload, pseudo_for(a, t), ov);
        for ip in ip_wrap(a, 6, &seg, t) {
            pkts.push(Pkt {
                ip,
                ts: clock.tick(rng),
                cut: None,
            });
        }
    };
    match theme {
        // Interleaved conversations, the staple of relative sequence numbers.
        0..=3 => {
            let mut convs: Vec<Conv> = (0..rng.range(2, 6))
                .map(|_| {
                    let v = want_v6(rng);
                    Conv::new(rng, v)
                })
                .collect();
            while !convs.is_empty() {
                let i = rng.below(convs.len() as u64) as usize;
                match convs[i].next(rng) {
                    None => {
                        convs.swap_remove(i);
                    }
                    Some((from_client, r, payload)) => {
                        let a = if from_client {
                            convs[i].a
                        } else {
                            convs[i].a.rev()
                        };
                        let mut ov = EmitOverrides::default();
                        if rng.chance(4) {
                            ov.checksum = Some(rng.next() as u16);
                        }
                        let t = IpTweak {
                            df: rng.chance(80),
                            id: rng.next() as u16,
                            ..IpTweak::default()
                        };
                        push_segment(&mut pkts, &mut clock, rng, a, &r, &payload, ov, &t);
                    }
                }
            }
        }
        // Every value of the flags byte, with and without NS, over a few connections.
        4 => {
            let start = (idx / 12 % 4) * 64;
            let convs: Vec<Conv> = (0..3)
                .map(|_| {
                    let v = want_v6(rng);
                    Conv::new(rng, v)
                })
                .collect();
            for f in start..start + 64 {
                let c = &convs[f % 3];
                let from_client = rng.chance(50);
                let a = if from_client { c.a } else { c.a.rev() };
                let mut bits = f as u16;
                if rng.chance(25) {
                    bits |= 0x100;
                }
                let r = TcpRepr {
                    src_port: if from_client { c.sport } else { c.dport },
                    dst_port: if from_client { c.dport } else { c.sport },
                    seq: c.cseq.wrapping_add(rng.below(5000) as u32),
                    ack: c.sseq.wrapping_add(rng.below(5000) as u32),
                    flags: TcpFlags::from_bits(bits),
                    reserved: if rng.chance(10) { 5 } else { 0 },
                    window: rng.next() as u16,
                    urgent_ptr: rng.next() as u16,
                    options: TcpOptionBuf::new(),
                };
                let payload = if rng.chance(40) {
                    {
                        let n = rng.range(1, 80) as usize;
                        rng.bytes(n)
                    }
                } else {
                    Vec::new()
                };
                let t = IpTweak {
                    df: true,
                    ..IpTweak::default()
                };
                push_segment(
                    &mut pkts,
                    &mut clock,
                    rng,
                    a,
                    &r,
                    &payload,
                    EmitOverrides::default(),
                    &t,
                );
            }
        }
        // Every option from the catalog, alone and in combination.
        5 | 6 => {
            let cat = option_catalog(rng);
            let c = {
                let v = want_v6(rng);
                Conv::new(rng, v)
            };
            let n = cat.len();
            for k in 0..n.max(60) {
                let mut bytes = cat[k % n].clone();
                if theme == 6 {
                    // Prefix a well-formed option, then append another catalog entry.
                    let mut pre = cat[rng.below(6) as usize].clone();
                    pre.extend_from_slice(&bytes);
                    pre.extend_from_slice(&cat[rng.below(n as u64) as usize]);
                    bytes = pre;
                }
                bytes.truncate(40);
                let from_client = rng.chance(50);
                let a = if from_client { c.a } else { c.a.rev() };
                let r = TcpRepr {
                    src_port: if from_client { c.sport } else { c.dport },
                    dst_port: if from_client { c.dport } else { c.sport },
                    seq: c.cseq.wrapping_add(rng.below(100) as u32),
                    ack: c.sseq.wrapping_add(rng.below(100) as u32),
                    flags: flags_for(rng),
                    reserved: 0,
                    window: 1000,
                    urgent_ptr: 0,
                    options: TcpOptionBuf::from_options(&[TcpOption::Raw(&bytes)]).unwrap(),
                };
                let payload = if rng.chance(30) {
                    {
                        let n = rng.range(1, 40) as usize;
                        rng.bytes(n)
                    }
                } else {
                    Vec::new()
                };
                push_segment(
                    &mut pkts,
                    &mut clock,
                    rng,
                    a,
                    &r,
                    &payload,
                    EmitOverrides::default(),
                    &IpTweak::default(),
                );
            }
        }
        // IPv4 options, fragments, TOS/ECN, TTL, reserved bit, bad header checksums.
        7 => {
            let ip_opts: Vec<Vec<u8>> = vec![
                vec![1, 1, 1, 0],
                vec![148, 4, 0, 0],
                vec![148, 4, 0, 1],
                vec![7, 7, 4, 10, 0, 0, 9],
                vec![7, 11, 8, 10, 0, 0, 9, 10, 0, 0, 10],
                vec![131, 7, 4, 10, 9, 9, 9],
                vec![137, 11, 4, 10, 9, 9, 9, 10, 8, 8, 8],
                vec![68, 12, 5, 0, 0, 0, 0, 1, 0, 0, 0, 2],
                vec![68, 12, 13, 1, 10, 0, 0, 1, 0, 0, 0, 2],
                vec![136, 4, 0x12, 0x34],
                vec![130, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                vec![7, 1, 0, 0],
                vec![7, 9, 0, 0],
                vec![1, 0],
                vec![82, 12, 0, 1, 0, 2, 0, 3, 10, 0, 0, 1],
            ];
            let mut c = Conv::new(rng, false);
            for k in 0..70usize {
                let Some((from_client, r, payload)) = c.next(rng).or_else(|| {
                    c = Conv::new(rng, false);
                    c.next(rng)
                }) else {
                    continue;
                };
                let a = if from_client { c.a } else { c.a.rev() };
                let mut t = IpTweak {
                    id: rng.next() as u16,
                    df: rng.chance(50),
                    tos: rng.pick(&[0, 1, 2, 3, 0x10, 0xb8, 0xb9, 0x2a]),
                    ttl: Some(rng.pick(&[64, 1, 0, 255, 128])),
                    reserved: rng.chance(10),
                    bad_ip_checksum: rng.chance(10),
                    ..IpTweak::default()
                };
                match k % 5 {
                    0 | 1 => t.v4_options = ip_opts[k % ip_opts.len()].clone(),
                    2 => t.fragment_units = Some(rng.range(1, 8) as u16),
                    _ => {}
                }
                push_segment(
                    &mut pkts,
                    &mut clock,
                    rng,
                    a,
                    &r,
                    &payload,
                    EmitOverrides::default(),
                    &t,
                );
            }
        }
        // IPv6 extension headers, traffic class and flow labels.
        8 => {
            let mut c = Conv::new(rng, true);
            if !c.a.is_v6() {
                c.a = addrs(rng, true);
            }
            for k in 0..60usize {
                let Some((from_client, r, payload)) = c.next(rng).or_else(|| {
                    c = Conv::new(rng, true);
                    c.next(rng)
                }) else {
                    continue;
                };
                let a = if from_client { c.a } else { c.a.rev() };
                let hop_addr = v6(rng).octets();
                let mut rt_data = vec![0u8; 4];
                if k % 2 == 0 {
                    rt_data.extend_from_slice(&hop_addr);
                }
                let ext = match k % 8 {
                    0 => vec![ExtRepr::HopByHop(vec![])],
                    1 => vec![ExtRepr::DestOpts(vec![])],
                    2 => vec![ExtRepr::Routing {
                        routing_type: 0,
                        segments_left: (k % 3) as u8,
                        data: rt_data,
                    }],
                    3 => vec![ExtRepr::Fragment(Fragment {
                        offset: 0,
                        more: true,
                        id: rng.u32(),
                    })],
                    4 => vec![
                        ExtRepr::HopByHop(vec![5, 2, 0, 0]),
                        ExtRepr::DestOpts(vec![0, 0, 0x1e, 2, 1, 2]),
                        ExtRepr::Routing {
                            routing_type: 0,
                            segments_left: 0,
                            data: rt_data,
                        },
                        ExtRepr::DestOpts(vec![]),
                    ],
                    5 => vec![
                        ExtRepr::HopByHop(vec![0xc2, 0]),
                        ExtRepr::Fragment(Fragment {
                            offset: 0,
                            more: false,
                            id: 77,
                        }),
                    ],
                    6 => vec![ExtRepr::DestOpts(vec![0x1e, 4, 1, 2, 3, 4])],
                    _ => vec![],
                };
                let t = IpTweak {
                    v6_ext: ext,
                    class: rng.pick(&[0, 0, 0xb8, 3, 1, 2]),
                    flow: if rng.chance(50) {
                        rng.u32() & 0xfffff
                    } else {
                        0
                    },
                    ttl: Some(rng.pick(&[64, 255, 1, 0])),
                    ..IpTweak::default()
                };
                push_segment(
                    &mut pkts,
                    &mut clock,
                    rng,
                    a,
                    &r,
                    &payload,
                    EmitOverrides::default(),
                    &t,
                );
                if k % 10 == 9 {
                    // A non-first fragment: only its offset can be shown.
                    let t = IpTweak {
                        v6_ext: vec![ExtRepr::Fragment(Fragment {
                            offset: rng.range(1, 100) as u16,
                            more: rng.chance(50),
                            id: rng.u32(),
                        })],
                        ..IpTweak::default()
                    };
                    for ip in ip_wrap(a, 6, &rng.bytes(24), &t) {
                        pkts.push(Pkt {
                            ip,
                            ts: clock.tick(rng),
                            cut: None,
                        });
                    }
                }
            }
        }
        // UDP and ICMP/ICMPv6 mixed with TCP.
        9 => {
            for k in 0..60usize {
                let a = {
                    let v = want_v6(rng);
                    addrs(rng, v)
                };
                let t = IpTweak {
                    df: rng.chance(50),
                    ..IpTweak::default()
                };
                let ph = pseudo_for(a, &t);
                match k % 4 {
                    // ICMP errors quoting a TCP or UDP datagram (RFC 792, RFC 1191).
                    3 if !a.is_v6() => {
                        let quoted_a = a.rev();
                        let seg = if rng.chance(50) {
                            let r = TcpRepr {
                                src_port: rng.range(32768, 60999) as u16,
                                dst_port: rng.pick(&SERVER_PORTS),
                                seq: rng.u32(),
                                ack: rng.u32(),
                                flags: TcpFlags::SYN,
                                reserved: 0,
                                window: 64240,
                                urgent_ptr: 0,
                                options: TcpOptionBuf::new(),
                            };
                            let n = rng.below(300) as usize;
                            let body = rng.bytes(n);
                            let ph = pseudo_for(quoted_a, &IpTweak::default());
                            let seg = tcp_bytes(&r, &body, ph, EmitOverrides::default());
                            (6, seg)
                        } else {
                            let u = UdpRepr {
                                src_port: rng.range(40000, 40999) as u16,
                                dst_port: rng.range(50000, 50999) as u16,
                                checksum: None,
                            };
                            let n = rng.below(100) as usize;
                            let body = rng.bytes(n);
                            let ph = pseudo_for(quoted_a, &IpTweak::default());
                            (17, u.emit(&ph, &body))
                        };
                        let mut quoted =
                            ip_wrap(quoted_a, seg.0, &seg.1, &IpTweak::default()).remove(0);
                        if rng.chance(60) {
                            quoted.truncate(28);
                        }
                        let (ty, code) = rng.pick(&[
                            (3u8, 3u8),
                            (3, 1),
                            (3, 0),
                            (3, 2),
                            (3, 4),
                            (3, 10),
                            (3, 13),
                            (11, 0),
                            (11, 1),
                            (12, 0),
                            (5, 1),
                            (4, 0),
                        ]);
                        let mut m = vec![ty, code, 0, 0];
                        match (ty, code) {
                            (3, 4) => m.extend_from_slice(&[0, 0, 0x05, 0xdc]),
                            (5, _) => m.extend_from_slice(&[10, 0, 0, 254]),
                            (12, _) => m.extend_from_slice(&[8, 0, 0, 0]),
                            _ => m.extend_from_slice(&[0, 0, 0, 0]),
                        }
                        m.extend_from_slice(&quoted);
                        let ck = synack_wire::checksum::checksum(&m);
                        m[2..4].copy_from_slice(&ck.to_be_bytes());
                        for ip in ip_wrap(a, 1, &m, &t) {
                            pkts.push(Pkt {
                                ip,
                                ts: clock.tick(rng),
                                cut: None,
                            });
                        }
                    }
                    0 | 1 => {
                        let payload = {
                            let n = rng.below(120) as usize;
                            rng.bytes(n)
                        };
                        let dns = rng.chance(35);
                        let payload = if dns { dns_msg(rng) } else { payload };
                        let (sp, dp) = if dns {
                            rng.pick(&[(40001u16, 53u16), (53, 40002), (5353, 5353)])
                        } else {
                            (
                                rng.range(40000, 40999) as u16,
                                rng.range(50000, 50999) as u16,
                            )
                        };
                        let u = UdpRepr {
                            src_port: sp,
                            dst_port: dp,
                            checksum: if rng.chance(15) {
                                Some(rng.next() as u16)
                            } else if !a.is_v6() && rng.chance(15) {
                                Some(0)
                            } else {
                                None
                            },
                        };
                        let mut d = u.emit(&ph, &payload);
                        if rng.chance(8) && d.len() > 8 {
                            // A UDP length field shorter than the datagram.
                            let l =
                                (d.len() - rng.range(1, 4).min(d.len() as u64 - 8) as usize) as u16;
                            d[4..6].copy_from_slice(&l.to_be_bytes());
                        }
                        let mut t = t.clone();
                        if !a.is_v6() && rng.chance(15) {
                            t.fragment_units = Some(rng.range(1, 4) as u16);
                        }
                        for ip in ip_wrap(a, 17, &d, &t) {
                            pkts.push(Pkt {
                                ip,
                                ts: clock.tick(rng),
                                cut: None,
                            });
                        }
                    }
                    _ => {
                        let e = EchoRepr {
                            msg_type: match (a.is_v6(), rng.chance(50)) {
                                (false, true) => 8,
                                (false, false) => 0,
                                (true, true) => 128,
                                (true, false) => 129,
                            },
                            id: rng.next() as u16,
                            seq: rng.next() as u16,
                        };
                        let payload = {
                            let n = rng.below(64) as usize;
                            rng.bytes(n)
                        };
                        let mut m = if a.is_v6() {
                            e.emit_v6(&ph, &payload)
                        } else {
                            e.emit_v4(&payload)
                        };
                        if rng.chance(15) {
                            m[2] ^= 0x11;
                        }
                        let proto = if a.is_v6() { 58 } else { 1 };
                        for ip in ip_wrap(a, proto, &m, &t) {
                            pkts.push(Pkt {
                                ip,
                                ts: clock.tick(rng),
                                cut: None,
                            });
                        }
                    }
                }
            }
        }
        // Malformed TCP headers and IP lengths.
        10 => {
            let mut c = {
                let v = want_v6(rng);
                Conv::new(rng, v)
            };
            for k in 0..50usize {
                let Some((from_client, r, payload)) = c.next(rng).or_else(|| {
                    c = {
                        let v = want_v6(rng);
                        Conv::new(rng, v)
                    };
                    c.next(rng)
                }) else {
                    continue;
                };
                let a = if from_client { c.a } else { c.a.rev() };
                let mut ov = EmitOverrides::default();
                let mut t = IpTweak::default();
                match k % 6 {
                    0 => ov.data_offset = Some(rng.below(5) as u8),
                    1 => ov.data_offset = Some(rng.range(6, 15) as u8),
                    2 => t.total_len_delta = rng.range(1, 40) as i32,
                    3 => t.total_len_delta = -(rng.range(1, 10) as i32),
                    4 => ov.checksum = Some(rng.next() as u16),
                    _ => {}
                }
                push_segment(&mut pkts, &mut clock, rng, a, &r, &payload, ov, &t);
            }
        }
        // Conversations whose IP and TCP headers (never ports or protocol) are mutated at
        // random, some captured short: tcpdump's handling of garbage, byte for byte.
        12 => {
            let mut convs: Vec<Conv> = (0..3)
                .map(|_| {
                    let v = want_v6(rng);
                    Conv::new(rng, v)
                })
                .collect();
            let cat = option_catalog(rng);
            while !convs.is_empty() {
                let i = rng.below(convs.len() as u64) as usize;
                let Some((from_client, mut r, payload)) = convs[i].next(rng) else {
                    convs.swap_remove(i);
                    continue;
                };
                if rng.chance(40) {
                    let o = &cat[rng.below(cat.len() as u64) as usize];
                    r.options = TcpOptionBuf::from_options(&[TcpOption::Raw(o)]).unwrap();
                }
                let a = if from_client {
                    convs[i].a
                } else {
                    convs[i].a.rev()
                };
                let t = IpTweak {
                    df: true,
                    v4_options: if rng.chance(20) {
                        vec![131, 7, 4, 10, 9, 9, 9, 1]
                    } else {
                        vec![]
                    },
                    ..IpTweak::default()
                };
                let seg = tcp_bytes(&r, &payload, pseudo_for(a, &t), EmitOverrides::default());
                for mut ip in ip_wrap(a, 6, &seg, &t) {
                    mutate(rng, &mut ip);
                    let cut = if rng.chance(25) {
                        Some(rng.below(ip.len() as u64 + 20) as usize)
                    } else {
                        None
                    };
                    pkts.push(Pkt {
                        ip,
                        ts: clock.tick(rng),
                        cut,
                    });
                }
            }
        }
        // Text protocols on their well-known ports (HTTP, FTP, SMTP, RTSP, SSH, Telnet):
        // tcpdump prints their first line, or every line with -v.
        13 => {
            let texts: [&[u8]; 14] = [
                b"GET /index.html HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                b"HTTP/1.1 404 Not Found\r\n\r\n",
                b"post /form HTTP/1.0\r\n",
                b"GET / HTTP/1.1",
                b"USER anonymous\r\n",
                b"220 smtp.example ESMTP\r\n",
                b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n",
                b"SSH-2.0-OpenSSH_9.2p1\r\n",
                b"SSH-2.0-x",
                b"\xff\xfb\x01\xff\xfd\x03\xff\xfc\x1flogin: ",
                b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1",
                b"line one\nline two\n",
                b"GET /\rbroken\r\n",
            ];
            for _ in 0..60 {
                let a = {
                    let v = want_v6(rng);
                    addrs(rng, v)
                };
                let mut port = rng.pick(&[80u16, 8080, 21, 25, 554, 8554, 22, 23]);
                let mut payload = rng.pick(&texts).to_vec();
                if rng.chance(20) {
                    // DNS over TCP (RFC 1035 §4.2.2), sometimes with a wrong prefix.
                    let m = dns_msg(rng);
                    let mut p = (m.len() as u16).to_be_bytes().to_vec();
                    if rng.chance(10) {
                        p[1] ^= 1;
                    }
                    p.extend_from_slice(&m);
                    port = 53;
                    payload = p;
                }
                let to_server = rng.chance(50);
                let eph = rng.range(32768, 60999) as u16;
                let mut flags = TcpFlags::ACK | TcpFlags::PSH;
                if rng.chance(10) {
                    flags = TcpFlags::RST | TcpFlags::ACK;
                }
                let r = TcpRepr {
                    src_port: if to_server { eph } else { port },
                    dst_port: if to_server { port } else { eph },
                    seq: rng.u32(),
                    ack: rng.u32(),
                    flags,
                    reserved: 0,
                    window: 502,
                    urgent_ptr: 0,
                    options: TcpOptionBuf::new(),
                };
                if rng.chance(15) {
                    let n = rng.below(payload.len() as u64) as usize;
                    payload.truncate(n.max(1));
                }
                push_segment(
                    &mut pkts,
                    &mut clock,
                    rng,
                    a,
                    &r,
                    &payload,
                    EmitOverrides::default(),
                    &IpTweak::default(),
                );
            }
        }
        // Conversations again, captured with short snaplens (set below).
        _ => {
            let mut convs: Vec<Conv> = (0..3)
                .map(|_| {
                    let v = want_v6(rng);
                    Conv::new(rng, v)
                })
                .collect();
            let cat = option_catalog(rng);
            while !convs.is_empty() {
                let i = rng.below(convs.len() as u64) as usize;
                match convs[i].next(rng) {
                    None => {
                        convs.swap_remove(i);
                    }
                    Some((from_client, mut r, payload)) => {
                        if rng.chance(25) {
                            let o = &cat[rng.below(cat.len() as u64) as usize];
                            r.options = TcpOptionBuf::from_options(&[TcpOption::Raw(o)]).unwrap();
                        }
                        let a = if from_client {
                            convs[i].a
                        } else {
                            convs[i].a.rev()
                        };
                        push_segment(
                            &mut pkts,
                            &mut clock,
                            rng,
                            a,
                            &r,
                            &payload,
                            EmitOverrides::default(),
                            &IpTweak::default(),
                        );
                    }
                }
            }
        }
    }
    // ARP requests and replies between the hosts, on link types with an ethertype.
    if theme == 9 && (3..=7).contains(&link) {
        for _ in 0..12 {
            let op = rng.pick(&[1u16, 1, 2, 2, 3, 4]);
            let mut a = vec![0, 1, 8, 0, 6, 4];
            a.extend_from_slice(&op.to_be_bytes());
            let sha = [2, 0, 0, 0, rng.below(4) as u8, rng.range(1, 9) as u8];
            let tha = if op == 1 && rng.chance(70) {
                [0u8; 6]
            } else {
                [2, 0, 0, 0, 0, rng.range(1, 9) as u8]
            };
            a.extend_from_slice(&sha);
            a.extend_from_slice(&v4(rng).octets());
            a.extend_from_slice(&tha);
            a.extend_from_slice(&v4(rng).octets());
            if rng.chance(30) {
                a.extend_from_slice(&[0; 18]);
            }
            let at = rng.below(pkts.len() as u64 + 1) as usize;
            pkts.insert(
                at,
                Pkt {
                    ip: a,
                    ts: clock.tick(rng),
                    cut: None,
                },
            );
        }
    }
    // Raw IPv4/IPv6 link types carry only their own version.
    match link {
        1 => pkts.retain(|p| p.ip[0] >> 4 == 4),
        2 => pkts.retain(|p| p.ip[0] >> 4 == 6),
        _ => {}
    }
    assert!(!pkts.is_empty(), "file {idx} has no packets");
    let snaplen = if theme == 11 || idx % 7 == 3 {
        rng.pick(&[20u32, 34, 40, 54, 58, 60, 64, 68, 74, 80, 96, 128])
    } else {
        262_144
    };
    CapFile {
        name: format!("c{idx:03}_t{theme}_l{link}.pcap"),
        link,
        snaplen,
        nano: idx % 5 == 2,
        pcapng: idx % 6 == 5,
        pkts,
    }
}

fn tcpdump_available() -> bool {
    Command::new("tcpdump")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n  tcpdump: {x}\n  synack:  {y}", i + 1);
        }
    }
    format!(
        "line counts differ: tcpdump {} lines, synack {} lines",
        a.lines().count(),
        b.lines().count()
    )
}

#[test]
fn dump_matches_tcpdump_on_generated_corpus() {
    if !tcpdump_available() {
        if std::env::var_os("CI").is_some() {
            panic!("tcpdump is not installed, but CI is set: CI must install tcpdump");
        }
        println!("SKIP: tcpdump not installed");
        return;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dump_corpus");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(0x005e_ed0f_7cbd_u64);
    let files: Vec<CapFile> = (0..84).map(|i| build_file(&mut rng, i)).collect();
    let total: usize = files.iter().map(|f| f.pkts.len()).sum();
    assert!(files.len() >= 50, "{} files", files.len());
    assert!(total >= 2000, "only {total} packets");
    let paths: Vec<PathBuf> = files.iter().map(|f| write_file(&dir, f)).collect();
    let synack = env!("CARGO_BIN_EXE_synack");
    let failures = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(p) = paths.get(i) else { break };
                    for flags in FLAG_SETS {
                        let want = run(Command::new("tcpdump").arg(flags).arg("-r").arg(p));
                        let got = run(Command::new(synack).arg("dump").arg(flags).arg("-r").arg(p));
                        if want != got {
                            failures.lock().unwrap().push(format!(
                                "{} {flags}: {}",
                                p.display(),
                                first_difference(&want, &got)
                            ));
                        }
                    }
                }
            });
        }
    });
    // Local time: the time-of-day forms in other time zones (when tzdata is installed).
    if Path::new("/usr/share/zoneinfo/Asia/Kolkata").exists() {
        for tz in ["Asia/Kolkata", "America/New_York"] {
            for p in paths.iter().step_by(7) {
                for flags in ["-n", "-ntttt"] {
                    let want = run(Command::new("tcpdump")
                        .env("TZ", tz)
                        .arg(flags)
                        .arg("-r")
                        .arg(p));
                    let got = run(Command::new(synack)
                        .env("TZ", tz)
                        .arg("dump")
                        .arg(flags)
                        .arg("-r")
                        .arg(p));
                    if want != got {
                        failures.lock().unwrap().push(format!(
                            "{} TZ={tz} {flags}: {}",
                            p.display(),
                            first_difference(&want, &got)
                        ));
                    }
                }
            }
        }
    }
    let failures = failures.into_inner().unwrap();
    if !failures.is_empty() {
        let shown: Vec<&String> = failures.iter().take(15).collect();
        panic!(
            "{} of {} (file, flags) runs differ from tcpdump:\n{}",
            failures.len(),
            paths.len() * FLAG_SETS.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    println!(
        "{} files, {total} packets, {} flag sets: identical",
        paths.len(),
        FLAG_SETS.len()
    );
}

/// Without `-n`, tcpdump names hosts, ports and protocols from the system databases; on
/// loopback addresses (named by the hosts file, no DNS involved) synack must agree.
#[test]
fn dump_matches_tcpdump_without_n_on_loopback() {
    if !tcpdump_available() {
        if std::env::var_os("CI").is_some() {
            panic!("tcpdump is not installed, but CI is set: CI must install tcpdump");
        }
        println!("SKIP: tcpdump not installed");
        return;
    }
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let has = |a: &str| {
        hosts
            .lines()
            .any(|l| l.split_whitespace().next() == Some(a))
    };
    let mut pairs = Vec::new();
    if has("127.0.0.1") {
        pairs.push(Addrs::V4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST));
    }
    if has("::1") {
        pairs.push(Addrs::V6(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST));
    }
    if pairs.is_empty() {
        println!("SKIP: no loopback names in /etc/hosts");
        return;
    }
    let mut rng = Rng(99);
    let mut w = PcapWriter::new(Vec::new(), LinkType::RAW, 262_144, TsPrecision::Micro).unwrap();
    let mut secs = 1_700_000_000;
    for a in pairs {
        for port in [
            22u16, 443, 25, 80, 3306, 5432, 8080, 7, 1, 40000, 5001, 65535,
        ] {
            for (flags, ack) in [(TcpFlags::SYN, 0), (TcpFlags::SYN | TcpFlags::ACK, 1)] {
                let r = TcpRepr {
                    src_port: if ack == 0 { 41000 } else { port },
                    dst_port: if ack == 0 { port } else { 41000 },
                    seq: rng.u32(),
                    ack: if ack == 0 { 0 } else { rng.u32() },
                    flags,
                    reserved: 0,
                    window: 65495,
                    urgent_ptr: 0,
                    options: TcpOptionBuf::new(),
                };
                let t = IpTweak::default();
                let seg = tcp_bytes(&r, &[], pseudo_for(a, &t), EmitOverrides::default());
                let (src, dst) = (a, a.rev());
                let _ = dst;
                for ip in ip_wrap(src, 6, &seg, &t) {
                    secs += 1;
                    w.write_packet(Timestamp::new(secs, 0), &ip, ip.len() as u32)
                        .unwrap();
                }
            }
        }
        // ICMP echo and a non-first fragment (protocol name from the protocols file).
        let e = EchoRepr {
            msg_type: 8,
            id: 1,
            seq: 2,
        };
        if let Addrs::V4(..) = a {
            let m = e.emit_v4(b"ping");
            for ip in ip_wrap(a, 1, &m, &IpTweak::default()) {
                secs += 1;
                w.write_packet(Timestamp::new(secs, 0), &ip, ip.len() as u32)
                    .unwrap();
            }
            let t = IpTweak {
                fragment_units: Some(2),
                ..IpTweak::default()
            };
            for ip in ip_wrap(a, 17, &[7u8; 40], &t) {
                secs += 1;
                w.write_packet(Timestamp::new(secs, 0), &ip, ip.len() as u32)
                    .unwrap();
            }
        }
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("names_loopback.pcap");
    std::fs::write(&path, w.into_inner()).unwrap();
    let synack = env!("CARGO_BIN_EXE_synack");
    for flags in ["-t", "-tv", "-tS", "-tt"] {
        let want = run(Command::new("tcpdump").arg(flags).arg("-r").arg(&path));
        let got = run(Command::new(synack)
            .arg("dump")
            .arg(flags)
            .arg("-r")
            .arg(&path));
        assert_eq!(want, got, "{flags}: {}", first_difference(&want, &got));
    }
}
