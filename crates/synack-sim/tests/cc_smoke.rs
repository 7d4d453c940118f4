//! A small version of the `cc_goodput` table: every congestion-control algorithm the engine
//! offers moves data through the full host stack over 100 Mbit/s with a 50 ms RTT and a
//! BDP-sized drop-tail queue, clean and with 1 % random loss. Every byte is checked against
//! the sender's pattern (a wrong, missing or extra byte fails the run), each transfer must
//! finish within a bound, and the clean path must reach half the link rate.

#[allow(dead_code)]
#[path = "../examples/cc_goodput.rs"]
mod bench;

use bench::{RunResult, jain, median, run, scenarios};
use synack_sim::Duration;

fn row(name: &str, cc: &str, bytes: u64) -> RunResult {
    let sc = scenarios()
        .into_iter()
        .find(|s| s.name == name)
        .expect("scenario exists");
    run(&sc, cc, bytes, 7, Duration::from_secs(60))
}

#[test]
fn clean_path_reaches_half_the_link() {
    for &cc in synack::cc::AVAILABLE {
        // 10 MB: slow start from IW10 (RFC 6928) takes about 7 RTTs to fill the pipe, so a
        // shorter transfer could not average half the link even when working well.
        let r = row("clean", cc, 10_000_000);
        assert_eq!(r.failure, None, "{cc}: clean run failed");
        // No retransmission check: slow start overshoots the BDP queue (drop-tail losses
        // even without random loss), which the table reports.
        assert!(r.secs < 1.6, "{cc}: 10 MB took {:.3} s", r.secs);
        assert!(
            r.goodput_mbps > 50.0,
            "{cc}: goodput {:.1} Mbit/s, under half of 100 Mbit/s",
            r.goodput_mbps
        );
    }
}

#[test]
fn one_percent_loss_finishes_byte_exact() {
    for &cc in synack::cc::AVAILABLE {
        let r = row("loss1", cc, 2_000_000);
        assert_eq!(r.failure, None, "{cc}: lossy run failed");
        // Loss happened and was repaired by retransmission.
        assert!(
            r.retrans_bytes > 0,
            "{cc}: nothing retransmitted at 1% loss"
        );
        // The Mathis bound at 1% is 2.8 Mbit/s (2 MB in ~5.7 s); a run stuck in repeated
        // timeouts takes far longer.
        assert!(r.secs < 12.0, "{cc}: 2 MB at 1% loss took {:.2} s", r.secs);
    }
}

#[test]
fn two_flows_share_and_finish() {
    for &cc in synack::cc::AVAILABLE {
        // The table's row, with the second flow starting 100 ms after the first (instead of
        // 1 s) so that 2 MB each still overlap.
        let mut sc = scenarios()
            .into_iter()
            .find(|s| s.name == "flows2")
            .expect("scenario exists");
        sc.stagger = Duration::from_millis(100);
        let r = run(&sc, cc, 4_000_000, 7, Duration::from_secs(60));
        assert_eq!(r.failure, None, "{cc}: two-flow run failed");
        let j = r.jain.expect("the flows overlapped");
        // 0.7: the later flow got at least about a fifth of the bytes while both ran.
        assert!(j > 0.7, "{cc}: Jain index {j:.3}");
    }
}

#[test]
fn jain_and_median() {
    assert!((jain(&[1.0, 1.0, 1.0]) - 1.0).abs() < 1e-12);
    assert!((jain(&[1.0, 0.0]) - 0.5).abs() < 1e-12);
    assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
}
