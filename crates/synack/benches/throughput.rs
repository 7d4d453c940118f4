//! In-process throughput of two engines back to back: MSS 1460 (IPv4, MTU 1500, no
//! timestamps so every full segment carries 1460 bytes), with the TCP checksum computed by
//! the sender and verified by the receiver over the pseudo-header, a 20-byte header and the
//! payload (`synack_wire::checksum`), as a real stack must.
//!
//! `cargo bench -p synack --bench throughput`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::net::Ipv4Addr;
use synack::{Config, Connection, FourTuple, Instant, SegmentOut, Seq};
use synack_wire::checksum::PseudoHeader;

const TOTAL: usize = 16 << 20;

/// A 20-byte TCP header for `seg` (ports fixed), checksum field zero.
fn header(seg: &SegmentOut) -> [u8; 20] {
    let mut h = [0u8; 20];
    h[0..2].copy_from_slice(&40000u16.to_be_bytes());
    h[2..4].copy_from_slice(&80u16.to_be_bytes());
    h[4..8].copy_from_slice(&seg.seq.get().to_be_bytes());
    h[8..12].copy_from_slice(&seg.ack.get().to_be_bytes());
    h[12] = 5 << 4;
    h[13] = seg.flags.bits() as u8;
    h[14..16].copy_from_slice(&seg.wnd.to_be_bytes());
    h[18..20].copy_from_slice(&seg.up.to_be_bytes());
    h
}

/// The TCP checksum of a segment: what the sender stores, and what the receiver checks.
fn tcp_checksum(ph: &PseudoHeader, h: &[u8; 20], payload: &[u8]) -> u16 {
    let len = (h.len() + payload.len()) as u32;
    let mut c = ph.checksum(6, len);
    c.add_bytes(h).add_bytes(payload);
    c.finish()
}

/// Delivers `seg` to `to`, with the checksum computed (sender) and verified (receiver).
fn deliver(to: &mut Connection, now: Instant, ph: &PseudoHeader, seg: &SegmentOut, payload: &[u8]) {
    let mut h = header(seg);
    let sum = tcp_checksum(ph, &h, payload);
    h[16..18].copy_from_slice(&sum.to_be_bytes());
    // Receiver: the sum over everything including the field is zero.
    assert_eq!(tcp_checksum(ph, &h, payload), 0);
    to.on_segment(now, &seg.as_segment_in(payload));
}

/// Moves `TOTAL` bytes from A to B in 64 KiB writes and reads; returns the bytes read.
fn transfer(cfg: &Config) -> usize {
    let now = Instant::ZERO;
    let ta = FourTuple::new(
        "10.0.0.1:40000".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
    );
    let tb = FourTuple::new(ta.remote, ta.local);
    let ab = PseudoHeader::v4(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let ba = PseudoHeader::v4(Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1));
    let mut a = Connection::connect_with_iss(now, cfg.clone(), ta, Seq(1), 0);
    let mut b = Connection::listen_with_iss(now, cfg.clone(), tb, Seq(2), 0);
    let app = vec![0x5au8; 64 << 10];
    let mut sink = vec![0u8; 64 << 10];
    let mut seg_buf = [0u8; 2048];
    let (mut written, mut read) = (0usize, 0usize);
    while read < TOTAL {
        if written < TOTAL {
            let n = (TOTAL - written).min(app.len());
            if let Ok(k) = a.send(now, &app[..n]) {
                written += k;
            }
        }
        while let Some(s) = a.poll_transmit(now, &mut seg_buf) {
            deliver(&mut b, now, &ab, &s, &seg_buf[..s.payload_len]);
        }
        while let Ok(k) = b.recv(&mut sink) {
            if k == 0 {
                break;
            }
            read += k;
        }
        while let Some(s) = b.poll_transmit(now, &mut seg_buf) {
            deliver(&mut a, now, &ba, &s, &seg_buf[..s.payload_len]);
        }
    }
    black_box(&sink);
    read
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("two_engines");
    g.throughput(Throughput::Bytes(TOTAL as u64));
    g.sample_size(10);
    let base = Config {
        timestamps: false,
        ..Config::default()
    };
    let cases = [
        ("linux_default_buffers", base.clone()),
        (
            "1MiB_buffers",
            Config {
                send_buffer: 1 << 20,
                recv_buffer: 1 << 20,
                ..base
            },
        ),
    ];
    for (name, cfg) in cases {
        g.bench_with_input(
            BenchmarkId::new("16MiB_mss1460_checksummed", name),
            &cfg,
            |bch, cfg| bch.iter(|| assert_eq!(transfer(cfg), TOTAL)),
        );
    }
    g.finish();
}

/// The criterion group (in a private module: the macro's generated function has no docs).
mod group {
    use super::*;
    criterion_group! {
        name = benches;
        config = Criterion::default()
            .warm_up_time(std::time::Duration::from_secs(1))
            .measurement_time(std::time::Duration::from_secs(5));
        targets = bench
    }
}
criterion_main!(group::benches);
