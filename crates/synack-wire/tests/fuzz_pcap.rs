//! Fuzz smoke test: arbitrary bytes never panic the capture readers or the link
//! decapsulator, and the `Read` and slice sources agree on every input.
//!
//! Plain `cargo test` runs 100,000 generated inputs (bolero's random engine), shaped so
//! that a good share get past the file headers (checked at the end).

use std::sync::atomic::{AtomicUsize, Ordering};

use synack_wire::link::{LinkType, decapsulate};
use synack_wire::pcap::{
    CaptureReader, PcapError, PcapWriter, PcapngWriter, Timestamp, TsPrecision,
};

const ITERATIONS: usize = 100_000;
static RUNS: AtomicUsize = AtomicUsize::new(0);
/// Inputs that yielded at least one packet / that decapsulated as some link type.
static WITH_PACKETS: AtomicUsize = AtomicUsize::new(0);
static DECAPSULATED: AtomicUsize = AtomicUsize::new(0);

const LINK_TYPES: [LinkType; 11] = [
    LinkType::NULL,
    LinkType::ETHERNET,
    LinkType::DLT_RAW_12,
    LinkType::DLT_RAW_14,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
    LinkType(147),
];

/// A small valid capture of each format, for mutation.
fn seeds() -> [Vec<u8>; 2] {
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET, 0, TsPrecision::Nano).unwrap();
    w.write_packet(Timestamp::new(1, 2), &[0x11; 30], 30)
        .unwrap();
    w.write_packet(Timestamp::new(3, 4), &[0x22; 7], 70)
        .unwrap();
    let classic = w.into_inner();
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    let a = w
        .add_interface(LinkType::LINUX_SLL2, 0, TsPrecision::Micro)
        .unwrap();
    let b = w
        .add_interface(LinkType::NULL, 9, TsPrecision::Nano)
        .unwrap();
    w.write_packet(a, Timestamp::new(1, 2), &[0x33; 25], 25)
        .unwrap();
    w.write_packet(b, Timestamp::new(3, 4), &[0x44; 17], 17)
        .unwrap();
    let ng = w.into_inner();
    [classic, ng]
}

/// Builds a capture from fuzz input: raw, behind a valid header, with well-framed
/// records or blocks of fuzzed content, or as a lightly mutated valid file.
fn shape(input: &[u8], seeds: &[Vec<u8>; 2]) -> Vec<u8> {
    let Some((&mode, rest)) = input.split_first() else {
        return Vec::new();
    };
    let big = mode & 0x80 != 0;
    let put = |out: &mut Vec<u8>, v: u32| {
        if big {
            out.extend_from_slice(&v.to_be_bytes())
        } else {
            out.extend_from_slice(&v.to_le_bytes())
        }
    };
    let mut out = Vec::new();
    match mode % 6 {
        0 => out.extend_from_slice(rest),
        1 | 2 => {
            // A classic header (either byte order and magic) with any link type.
            let magic: u32 = if mode & 0x10 != 0 {
                0xa1b2_3c4d
            } else {
                0xa1b2_c3d4
            };
            let link = u32::from(rest.first().copied().unwrap_or(1));
            put(&mut out, magic);
            out.extend_from_slice(if big { &[0, 2, 0, 4] } else { &[2, 0, 4, 0] });
            for f in [0, 0, u32::from(mode & 0x60), link] {
                put(&mut out, f);
            }
            if mode % 6 == 1 {
                out.extend_from_slice(rest);
            } else {
                // Records with sane lengths: [len, ts, orig, data...]*.
                let mut r = rest.get(1..).unwrap_or(&[]);
                while let [len, ts, orig, tail @ ..] = r {
                    let n = usize::from(*len % 48).min(tail.len());
                    put(&mut out, u32::from(*ts));
                    put(&mut out, u32::from(*ts) * 4099);
                    put(&mut out, n as u32);
                    put(&mut out, u32::from(*orig));
                    out.extend_from_slice(&tail[..n]);
                    r = &tail[n..];
                }
            }
        }
        3 => {
            // The seed's SHB + first IDB, then anything.
            out.extend_from_slice(&seeds[1][..60]);
            out.extend_from_slice(rest);
        }
        4 => {
            // A valid SHB + 2 IDBs, then well-framed blocks of fuzzed type and body.
            out.extend_from_slice(&seeds[1][..92]);
            let mut r = rest;
            while let [kind, words, tail @ ..] = r {
                let block_type = match kind % 10 {
                    0 => 1,
                    1 => 2,
                    2 => 3,
                    3..=5 => 6,
                    6 => 0x0a0d_0d0a,
                    7 => 5,
                    8 => 0x0bad,
                    _ => u32::from(*kind),
                };
                let n = (usize::from(*words % 16) * 4).min(tail.len() / 4 * 4);
                let total = 12 + n as u32;
                let mut b = Vec::new();
                b.extend_from_slice(&block_type.to_le_bytes());
                b.extend_from_slice(&total.to_le_bytes());
                b.extend_from_slice(&tail[..n]);
                b.extend_from_slice(&total.to_le_bytes());
                if block_type == 0x0a0d_0d0a && n >= 4 {
                    // Keep the SHB readable most of the time.
                    b[8..12].copy_from_slice(&0x1a2b_3c4du32.to_le_bytes());
                }
                out.extend(b);
                r = &tail[n..];
            }
        }
        _ => {
            // A few (position, value) overwrites of a valid file, maybe truncated.
            let seed = &seeds[usize::from(mode & 0x20 != 0)];
            out.extend_from_slice(seed);
            let count = usize::from(rest.first().copied().unwrap_or(0) % 4) + 1;
            for pair in rest.get(1..).unwrap_or(&[]).chunks_exact(2).take(count) {
                let at = usize::from(pair[0]) % out.len();
                out[at] = pair[1];
            }
            if mode & 0x40 != 0 {
                let keep = usize::from(rest.last().copied().unwrap_or(0)) % (out.len() + 1);
                out.truncate(keep);
            }
        }
    }
    out
}

type Summary = (Vec<(Timestamp, u32, u32, u32, Vec<u8>)>, Option<String>);

fn read_all<S: synack_wire::pcap::Source>(r: Result<CaptureReader<S>, PcapError>) -> Summary {
    let mut r = match r {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Some(format!("{e:?}"))),
    };
    let _ = (
        r.format(),
        r.link_type(),
        r.snaplen(),
        r.precision(),
        r.interfaces(),
    );
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        match p {
            Ok(p) => {
                assert!(p.data.len() <= 262_144);
                // Whatever the reader hands out, the decapsulator must survive.
                let _ = decapsulate(p.link_type, p.data);
                out.push((
                    p.timestamp,
                    p.link_type.0,
                    p.interface_id,
                    p.orig_len,
                    p.data.to_vec(),
                ));
            }
            Err(e) => {
                // Display must not panic either.
                let _ = e.to_string();
                return (out, Some(format!("{e:?}")));
            }
        }
    }
    (out, None)
}

/// Both sources must agree exactly: same packets, same error (offsets included).
#[test]
fn fuzz_readers() {
    let seeds = seeds();
    bolero::check!()
        .with_iterations(ITERATIONS)
        .with_max_len(256)
        .for_each(|input: &[u8]| {
            RUNS.fetch_add(1, Ordering::Relaxed);
            let file = shape(input, &seeds);
            let a = read_all(CaptureReader::from_slice(&file));
            let b = read_all(CaptureReader::new(&file[..]));
            assert_eq!(a, b);
            if !a.0.is_empty() {
                WITH_PACKETS.fetch_add(1, Ordering::Relaxed);
            }
            // Decapsulate the raw input as every link type, too.
            for lt in LINK_TYPES {
                if let Ok(d) = decapsulate(lt, input) {
                    DECAPSULATED.fetch_add(1, Ordering::Relaxed);
                    assert!(d.offset <= input.len());
                    assert_eq!(d.payload, &input[d.offset..]);
                    assert!(d.vlan_tags.iter().count() == d.vlan_tags.len());
                }
            }
        });
    let runs = RUNS.load(Ordering::Relaxed);
    // Under a fuzzing engine the count is unbounded; under `cargo test` it is exact.
    assert!(runs >= ITERATIONS, "only {runs} inputs were run");
    // The shaping must reach past the file headers: a good share of inputs yield packets.
    let with_packets = WITH_PACKETS.load(Ordering::Relaxed);
    let decapsulated = DECAPSULATED.load(Ordering::Relaxed);
    eprintln!("{runs} inputs, {with_packets} with packets, {decapsulated} decapsulations");
    assert!(
        with_packets >= runs / 10,
        "{with_packets} of {runs} inputs gave packets"
    );
}
