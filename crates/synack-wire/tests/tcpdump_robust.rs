//! The tcpdump printer takes hostile bytes: it must never panic, whatever the link type,
//! flags, capture length or content, and its output must stay one line per packet (plus
//! the `-v` continuation line and `-x` dump lines).

use synack_wire::tcpdump::{
    LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP, LINKTYPE_NULL, LINKTYPE_RAW, Options, Printer, TimestampFormat,
};

const LINKS: [u32; 9] = [
    LINKTYPE_RAW,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_NULL,
    LINKTYPE_LOOP,
    999,
];

fn printers() -> Vec<Printer> {
    let mut v = Vec::new();
    for verbose in 0..3 {
        for absolute_seq in [false, true] {
            for hex in [false, true] {
                v.push(Printer::new(Options {
                    ts: TimestampFormat::Delta,
                    absolute_seq,
                    verbose,
                    hex,
                    numeric: verbose != 1,
                    utc_offset: 0,
                }));
            }
        }
    }
    v
}

/// A valid IPv4/TCP packet with options, used as a base for mutations.
fn base_packets() -> Vec<Vec<u8>> {
    let mut v4 = vec![
        0x45, 0x10, 0x00, 0x3c, 0xca, 0x49, 0x40, 0x00, 0x40, 0x06, 0x72, 0x60, 127, 0, 0, 1, 127,
        0, 0, 1, 0x96, 0xa0, 0x00, 0x17, 0xfc, 0xe5, 0x5d, 0x4e, 0, 0, 0, 0, 0xa0, 0x02, 0xff,
        0xd7, 0xfe, 0x30, 0, 0, 2, 4, 0xff, 0xd7, 4, 2, 8, 10, 0xe9, 0x40, 0x44, 0x6b, 0, 0, 0, 0,
        1, 3, 3, 7,
    ];
    let mut v6 = vec![0x60, 0, 0, 0, 0, 28, 0, 64];
    v6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    v6.extend_from_slice(&[0; 11]);
    v6.push(1);
    v6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    v6.extend_from_slice(&[0; 11]);
    v6.push(2);
    // Hop-by-hop header (PadN) then TCP with SACK.
    v6.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
    v6.extend_from_slice(&v4[20..40]);
    v6[40 + 8 + 13] = 0x10;
    v4[33] = 0x12;
    let udp = {
        let mut u = v4[..20].to_vec();
        u[9] = 17;
        u.extend_from_slice(&[0x9c, 0x40, 0x9c, 0x41, 0, 12, 0, 0, 1, 2, 3, 4]);
        u
    };
    let icmp = {
        let mut u = v4[..20].to_vec();
        u[9] = 1;
        u.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, 2, 9, 9]);
        u
    };
    // IPv4 with source-route, record-route and timestamp options.
    let mut opts = v4[..20].to_vec();
    opts[0] = 0x4f;
    opts.extend_from_slice(&[131, 11, 4, 10, 0, 0, 1, 10, 0, 0, 2, 1]);
    opts.extend_from_slice(&[7, 7, 8, 10, 0, 0, 3, 1]);
    opts.extend_from_slice(&[68, 12, 5, 0x11, 0, 0, 0, 1, 0, 0, 0, 2]);
    opts.extend_from_slice(&[1, 1, 1, 0]);
    opts.extend_from_slice(&v4[20..]);
    // IPv6 with a routing header carrying one address, then a fragment header.
    let mut rt = v6[..40].to_vec();
    rt[6] = 43;
    rt.extend_from_slice(&[44, 2, 0, 1, 0, 0, 0, 0]);
    rt.extend_from_slice(&v6[8..24]);
    rt.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 9]);
    rt.extend_from_slice(&v6[48..]);
    // A DNS response over UDP with compression pointers and an EDNS option.
    let dns = {
        let mut u = v4[..20].to_vec();
        u[9] = 17;
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 1];
        m.extend_from_slice(b"\x07example\x03com\x00\x00\x01\x00\x01");
        m.extend_from_slice(&[0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 1, 0, 0, 6]);
        m.extend_from_slice(b"\x03www\xc0\x0c");
        m.extend_from_slice(&[0xc0, 0x29, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 10, 0, 0, 1]);
        m.extend_from_slice(&[0, 0, 41, 16, 0, 0, 0, 0x80, 0, 0, 12, 0, 10, 0, 8]);
        m.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let ulen = (8 + m.len()) as u16;
        u.extend_from_slice(&[0x9c, 0x40, 0, 53]);
        u.extend_from_slice(&ulen.to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(&m);
        let total = u.len() as u16;
        u[2..4].copy_from_slice(&total.to_be_bytes());
        u
    };
    vec![v4, v6, udp, icmp, opts, rt, dns]
}

/// splitmix64.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn check(out: &str, opts: &Options) {
    assert!(out.ends_with('\n'));
    let body = &out[..out.len() - 1];
    for (i, line) in body.split('\n').enumerate() {
        let continuation = line.starts_with('\t') || line.starts_with("    ");
        assert!(
            i == 0 || continuation,
            "unexpected line break in {out:?} ({opts:?})"
        );
    }
}

#[test]
fn mutated_packets_never_panic() {
    let mut printers = printers();
    let mut rng = Rng(42);
    let bases = base_packets();
    for round in 0..40_000u32 {
        let mut pkt = bases[(rng.next() % bases.len() as u64) as usize].clone();
        let link = LINKS[(rng.next() % LINKS.len() as u64) as usize];
        let header: Vec<u8> = match link {
            LINKTYPE_ETHERNET => {
                let mut h = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
                h.extend_from_slice(if pkt[0] >> 4 == 6 {
                    &[0x86, 0xdd]
                } else {
                    &[0x08, 0x00]
                });
                h
            }
            LINKTYPE_LINUX_SLL => vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 8, 0],
            LINKTYPE_LINUX_SLL2 => vec![8, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0],
            LINKTYPE_NULL => vec![2, 0, 0, 0],
            LINKTYPE_LOOP => vec![0, 0, 0, 2],
            _ => vec![],
        };
        let mut frame = header;
        frame.append(&mut pkt);
        let flips = 1 + rng.next() % 6;
        for _ in 0..flips {
            let i = (rng.next() % frame.len() as u64) as usize;
            frame[i] = rng.next() as u8;
        }
        if rng.next() % 4 == 0 {
            let cut = (rng.next() % (frame.len() as u64 + 1)) as usize;
            frame.truncate(cut);
        }
        if rng.next() % 10 == 0 {
            let extra = (rng.next() % 40) as usize;
            frame.extend((0..extra).map(|_| rng.next() as u8));
        }
        let orig_len = match rng.next() % 5 {
            0 => (rng.next() % 70_000) as u32,
            _ => frame.len() as u32 + (rng.next() % 3) as u32 * 17,
        };
        let p = &mut printers[(round as usize) % 12];
        let out = p.format(link, i64::from(round), round % 1_000_000, &frame, orig_len);
        check(&out, p.options());
    }
}

#[test]
fn the_dns_base_packet_decodes() {
    let mut p = Printer::new(Options {
        ts: TimestampFormat::None,
        ..Options::default()
    });
    let pkt = base_packets().pop().unwrap();
    let out = p.format(LINKTYPE_RAW, 0, 0, &pkt, pkt.len() as u32);
    assert_eq!(
        out,
        "IP 127.0.0.1.40000 > 127.0.0.1.53: 4660 2/0/1 CNAME www.example.com., A 10.0.0.1 (86)\n"
    );
}

#[test]
fn random_bytes_never_panic() {
    let mut printers = printers();
    let mut rng = Rng(7);
    for round in 0..20_000u32 {
        let len = (rng.next() % 120) as usize;
        let frame: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let link = LINKS[(rng.next() % LINKS.len() as u64) as usize];
        let p = &mut printers[(round as usize) % 12];
        let out = p.format(link, -i64::from(round), 999_999, &frame, len as u32 + 1);
        check(&out, p.options());
    }
}

#[test]
fn invalid_record_headers_are_reported_like_tcpdump() {
    let mut p = Printer::new(Options::default());
    assert_eq!(
        p.format(LINKTYPE_RAW, 0, 0, &[], 0),
        "[Invalid header: caplen==0, len==0]\n"
    );
    assert_eq!(
        p.format(LINKTYPE_RAW, 0, 0, &[0x45; 30], 20),
        "[Invalid header: len(20) < caplen(30)]\n"
    );
}
