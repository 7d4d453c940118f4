//! Fuzz smoke test (bolero): the tcpdump printer never panics on arbitrary captured bytes,
//! for every link type and flag combination, and always ends its text with a newline.

use std::sync::atomic::{AtomicUsize, Ordering};

use bolero::check;
use synack_wire::tcpdump::{Options, Printer, TimestampFormat};

const ITERATIONS: usize = 100_000;

#[test]
fn fuzz_tcpdump_printer() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let links = [0u32, 1, 12, 101, 108, 113, 228, 229, 276];
    let mut printers: Vec<Printer> = (0..8u8)
        .map(|i| {
            Printer::new(Options {
                ts: [TimestampFormat::None, TimestampFormat::Delta][usize::from(i & 1)],
                absolute_seq: i & 2 != 0,
                verbose: i >> 2,
                hex: i & 4 != 0,
                numeric: true,
                utc_offset: 0,
            })
        })
        .collect();
    check!()
        .with_iterations(ITERATIONS)
        .with_max_len(160)
        .for_each(|raw: &[u8]| {
            let n = RUNS.fetch_add(1, Ordering::Relaxed);
            let Some((&sel, rest)) = raw.split_first() else {
                return;
            };
            let link = links[usize::from(sel) % links.len()];
            // Make most inputs look like IP at the network layer.
            let mut frame = rest.to_vec();
            let net = match link {
                1 => 14,
                113 => 16,
                276 => 20,
                0 | 108 => 4,
                _ => 0,
            };
            if let Some(b) = frame.get_mut(net) {
                *b = if sel & 0x80 != 0 {
                    0x45
                } else {
                    0x60 | (*b & 0x0f)
                };
            }
            let p = &mut printers[n % 8];
            let orig = frame.len() as u32 + u32::from(sel & 3) * 10;
            let out = p.format(link, n as i64, 0, &frame, orig.max(1));
            assert!(out.ends_with('\n'));
        });
    let runs = RUNS.load(Ordering::Relaxed);
    let overridden = std::env::var_os("BOLERO_RANDOM_ITERATIONS").is_some()
        || std::env::var_os("BOLERO_RANDOM_TEST_TIME_MS").is_some();
    assert!(overridden || runs >= ITERATIONS);
}
