//! Fuzz smoke tests (bolero): arbitrary bytes never panic the TCP header parser, the option
//! iterator, checksum verification or the options summary, and whatever parses re-emits to
//! the same bytes.
//!
//! Under plain `cargo test`, bolero's test engine draws random inputs; `with_iterations`
//! fixes the count (the `BOLERO_RANDOM_ITERATIONS` environment variable overrides it, and
//! `cargo bolero test` runs the same targets under a real fuzzer).

use core::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};

use bolero::check;
use synack_wire::checksum::{Checksum, PseudoHeader, checksum};
use synack_wire::tcp::{EmitOverrides, TcpHeader, TcpRepr};
use synack_wire::tcp_options::{TcpOptionsSummary, options};

/// Inputs per target in a plain `cargo test` run.
const ITERATIONS: usize = 100_000;

/// The number of inputs a target must have seen: `ITERATIONS`, unless the environment
/// overrides bolero's count.
fn expected_runs() -> usize {
    if std::env::var_os("BOLERO_RANDOM_ITERATIONS").is_some()
        || std::env::var_os("BOLERO_RANDOM_TEST_TIME_MS").is_some()
    {
        1
    } else {
        ITERATIONS
    }
}

/// Returns whether `bytes` parsed as a valid segment.
fn exercise_segment(bytes: &[u8]) -> bool {
    let pseudo = PseudoHeader::v4(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    if let Ok(h) = TcpHeader::parse_lenient(bytes) {
        // Every accessor of a lenient view is total.
        let _ = (h.src_port(), h.dst_port(), h.seq(), h.ack(), h.flags());
        let _ = (h.reserved(), h.window(), h.urgent_ptr(), h.data_offset());
        assert!(h.options_bytes().len() + h.payload().len() + 20 <= bytes.len());
        for _ in h.options() {}
        let _ = h.options_summary();
        // Verifying agrees with comparing against the computed checksum, up to the two
        // representations of zero in one's complement (0x0000 and 0xffff).
        let ok = h.verify_checksum(&pseudo);
        let (want, got) = (h.compute_checksum(&pseudo), h.checksum());
        assert!(ok == (want == got) || (ok && want == 0 && got == 0xffff));
    }
    match TcpHeader::parse(bytes) {
        Ok(h) => {
            assert!(h.data_offset() >= 5 && h.header_len() <= bytes.len());
            assert_eq!(20 + h.options_bytes().len(), h.header_len());
            assert_eq!(h.header_len() + h.payload().len(), bytes.len());
            // The owned form re-emits exactly the bytes it was parsed from.
            let repr = TcpRepr::from_header(&h);
            let mut out = vec![0u8; bytes.len()];
            let overrides = EmitOverrides {
                data_offset: None,
                checksum: Some(h.checksum()),
            };
            let n = repr
                .emit_with(&mut out, h.payload(), pseudo, overrides)
                .unwrap();
            assert_eq!(&out[..n], bytes);
            // And with the computed checksum it verifies.
            repr.emit(&mut out, h.payload(), pseudo).unwrap();
            assert!(TcpHeader::parse(&out).unwrap().verify_checksum(&pseudo));
            true
        }
        Err(_) => {
            assert!(
                bytes.len() < 20
                    || bytes[12] >> 4 < 5
                    || usize::from(bytes[12] >> 4) * 4 > bytes.len()
            );
            false
        }
    }
}

#[test]
fn fuzz_tcp_header() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    static PARSED: AtomicUsize = AtomicUsize::new(0);
    check!()
        .with_iterations(ITERATIONS)
        .with_max_len(100)
        .for_each(|bytes: &[u8]| {
            RUNS.fetch_add(1, Ordering::Relaxed);
            if exercise_segment(bytes) {
                PARSED.fetch_add(1, Ordering::Relaxed);
            }
        });
    let (runs, parsed) = (RUNS.load(Ordering::Relaxed), PARSED.load(Ordering::Relaxed));
    eprintln!("fuzz_tcp_header: {runs} inputs, {parsed} parsed as segments");
    assert!(runs >= expected_runs());
    // The deep path (parse, re-emit, verify) must be exercised, not just rejections.
    assert!(runs < 1000 || parsed * 20 >= runs);
}

#[test]
fn fuzz_tcp_options_and_checksum() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    check!()
        .with_iterations(ITERATIONS)
        .with_max_len(48)
        .for_each(|bytes: &[u8]| {
            RUNS.fetch_add(1, Ordering::Relaxed);
            let mut it = options(bytes);
            let mut n = 0;
            while let Some(item) = it.next() {
                n += 1;
                assert!(it.offset() <= bytes.len());
                if let Err(e) = item {
                    assert!(e.offset < bytes.len());
                }
            }
            // Each option consumes at least one byte, so the count is bounded.
            assert!(n <= bytes.len());
            let s = TcpOptionsSummary::parse(bytes);
            assert!(s.sack_blocks.len() <= 4);
            // The accumulator over any split equals the one-shot checksum.
            let mid = bytes.len() / 3;
            let mut c = Checksum::new();
            c.add_bytes(&bytes[..mid]).add_bytes(&bytes[mid..]);
            assert_eq!(c.finish(), checksum(bytes));
        });
    assert!(RUNS.load(Ordering::Relaxed) >= expected_runs());
}

/// The fused copy-and-checksum equals a copy followed by the plain checksum for any bytes,
/// split point (an odd one continues mid-word) and destination offset.
#[test]
fn fuzz_copy_and_checksum() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    check!()
        .with_iterations(ITERATIONS / 10)
        .with_max_len(4200)
        .for_each(|bytes: &[u8]| {
            RUNS.fetch_add(1, Ordering::Relaxed);
            let (split, dst_off) = match bytes {
                [a, b, ..] => (usize::from(*a) * 13, usize::from(*b) % 32),
                _ => (0, 0),
            };
            let split = split.min(bytes.len());
            let mut dst = vec![0u8; bytes.len() + dst_off];
            let mut c = Checksum::new();
            c.add_bytes(&bytes[..split]);
            let n = c.add_copy(&mut dst[dst_off + split..], &bytes[split..]);
            assert_eq!(n, bytes.len() - split);
            assert_eq!(c.finish(), checksum(bytes));
            assert_eq!(&dst[dst_off + split..], &bytes[split..]);
        });
    let runs = RUNS.load(Ordering::Relaxed);
    eprintln!("fuzz_copy_and_checksum: {runs} inputs");
    assert!(runs >= expected_runs() / 10);
}
