//! Internet checksum throughput: `synack_wire::checksum::checksum` (eight bytes at a time
//! into a wide accumulator) against a naive loop that adds one big-endian 16-bit word at a
//! time, at 40 B (a bare TCP/IP header), 1460 B (an Ethernet MSS) and 64 KiB (a TSO-sized
//! segment).
//!
//! Run: `cargo bench -p synack-wire --bench checksum`; figures go to `BENCHMARKS.md`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use synack_wire::checksum::{Checksum, checksum, copy_and_checksum};

/// The straightforward RFC 1071 loop: 16 bits at a time, carries folded at the end.
fn naive16(data: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        sum += u16::from_be_bytes([w[0], w[1]]) as u64;
    }
    if let [last] = words.remainder() {
        sum += (*last as u64) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn bench_checksum(c: &mut Criterion) {
    let mut group = c.benchmark_group("checksum");
    for size in [40usize, 1460, 64 * 1024] {
        let data: Vec<u8> = (0..size).map(|i| (i * 131 + 17) as u8).collect();
        assert_eq!(checksum(&data), naive16(&data));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("synack", size), &data, |b, d| {
            b.iter(|| checksum(black_box(d)))
        });
        group.bench_with_input(BenchmarkId::new("naive16", size), &data, |b, d| {
            b.iter(|| naive16(black_box(d)))
        });
    }
    // The accumulator path a TCP emitter takes: pseudo-header, then the segment.
    let seg: Vec<u8> = (0..1460).map(|i| (i * 7 + 3) as u8).collect();
    group.throughput(Throughput::Bytes(seg.len() as u64));
    group.bench_function("synack_pseudo_ipv4/1460", |b| {
        b.iter(|| {
            let mut c = Checksum::pseudo_ipv4([10, 0, 0, 1], [10, 0, 0, 2], 6, 1460);
            c.add_bytes(black_box(&seg));
            c.finish()
        })
    });
    // Copy and checksum: one fused pass against a copy followed by a checksum, as the
    // receive path (datagram -> receive ring) and the send path (send ring -> datagram) do.
    for size in [1448usize, 64 * 1024] {
        let src: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
        let mut dst = vec![0u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(
            BenchmarkId::new("copy_then_checksum", size),
            &src,
            |b, s| {
                b.iter(|| {
                    dst.copy_from_slice(black_box(s));
                    checksum(black_box(&dst))
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("copy_and_checksum", size), &src, |b, s| {
            b.iter(|| copy_and_checksum(black_box(&mut dst), black_box(s)))
        });
    }
    group.finish();
}

/// The criterion group (in a private module: the macro's generated function has no docs).
mod group {
    use super::*;
    criterion_group! {
        name = benches;
        config = Criterion::default()
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        targets = bench_checksum
    }
}
criterion_main!(group::benches);
