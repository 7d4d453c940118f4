//! The byte stream (RFC 9293 §3.8, §3.10.7.4): two engines exchange data in both directions
//! with reads and writes of random sizes that never line up with segments, over a lossless
//! link and over one that drops, duplicates and reorders segments.
//!
//! Sizes: `SYNACK_BULK_BYTES` sets the bytes per direction of the lossless test (default
//! 2 MiB so the debug-mode CI run takes seconds; the 1 GiB is
//! `SYNACK_BULK_BYTES=1073741824 cargo test -p synack --release --test stream bulk`,
//! which passed in 111 s on the shared 2-vCPU machine), and
//! `SYNACK_LOSSY_SEEDS` the number of seeds of the lossy test (default 1000).

mod link;
use link::*;
use synack::{Config, Duration};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn linux() -> Config {
    Config::default()
}

fn no_options() -> Config {
    Config {
        window_scaling: false,
        timestamps: false,
        sack: false,
        ..Config::default()
    }
}

#[test]
fn bulk_both_directions_at_once_byte_exact_lossless() {
    let bytes = env_u64("SYNACK_BULK_BYTES", 2 << 20);
    let mut net = Net::connected(linux(), linux(), Impair::default(), Impair::default(), 7);
    let took = transfer_both_ways(&mut net, bytes, 1 << 20, Duration::from_secs(100_000));
    // Let the last ACKs arrive.
    let quiet = net.now + Duration::from_secs(1);
    net.run_until(quiet);
    let (ia, ib) = (net.a.info(), net.b.info());
    assert_eq!((ia.bytes_acked, ib.bytes_acked), (bytes, bytes));
    assert_eq!((ia.bytes_received, ib.bytes_received), (bytes, bytes));
    // Nothing was lost, so nothing was retransmitted.
    assert_eq!((ia.total_retrans, ib.total_retrans), (0, 0));
    // Zero-delay link: it never waits on a timer for long.
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn lossy_link_drop_duplicate_reorder_byte_exact_for_1000_seeds() {
    let seeds = env_u64("SYNACK_LOSSY_SEEDS", 1000);
    let imp = Impair {
        delay: Duration::from_millis(10),
        loss: 0.05,
        dup: 0.03,
        reorder: 0.15,
        jitter: Duration::from_millis(25),
    };
    let (mut ooo, mut fast, mut rto) = (0, 0, 0);
    for seed in 0..seeds {
        // Half the seeds without options: RTT samples then come from Karn's timed segment
        // instead of timestamps, and windows are unscaled.
        let cfg = if seed % 2 == 0 { linux() } else { no_options() };
        let mut net = Net::connected(cfg.clone(), cfg, imp, imp, seed);
        let mut rng = Rng::new(seed ^ 0xABCD);
        let bytes = rng.range(1, 12_000);
        transfer_both_ways(&mut net, bytes, 3000, Duration::from_secs(3600));
        for c in [&net.a, &net.b] {
            let st = c.stats();
            ooo += st.ooo_queued;
            fast += st.fast_retransmits;
            rto += st.timeouts;
        }
    }
    // The mechanisms under test all took part: reassembly of out-of-order segments, fast
    // retransmit, and retransmission timeouts.
    assert!(
        ooo > 0 && fast > 0 && rto > 0,
        "ooo {ooo} fast {fast} rto {rto}"
    );
}
