//! The property test: many seeds of random link impairments (loss up to 30%,
//! reordering, duplication, corruption, jitter, queues) and random application behaviour
//! (sizes, half-closes, aborts), each run as the `random` lab scenario. No panic, no byte
//! wrong, every run ends, and connections fail only with the errors their situation calls
//! for. A failing seed prints the command that replays it.
//!
//! `SYNACK_LAB_SEEDS` sets the number of seeds (default 10,000); `SYNACK_LAB_SEED0` the
//! first one.

use std::panic::{AssertUnwindSafe, catch_unwind};

use synack_sim::lab::{self, RunOptions};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs one seed; `Some(reason)` if it failed.
fn run_seed(seed: u64) -> Option<String> {
    let sc = lab::find("random").expect("the random scenario exists");
    let opts = RunOptions {
        seed,
        sets: Vec::new(),
    };
    match catch_unwind(AssertUnwindSafe(|| lab::run(sc, &opts))) {
        Err(_) => Some(String::from("panicked")),
        Ok(Err(e)) => Some(format!("cannot run: {e}")),
        Ok(Ok(out)) if out.passed() => None,
        Ok(Ok(out)) => Some(
            out.checks
                .failures()
                .map(|c| c.text.clone())
                .collect::<Vec<_>>()
                .join("; "),
        ),
    }
}

#[test]
fn random_impairments_and_applications() {
    let n = env_u64("SYNACK_LAB_SEEDS", 10_000);
    let first = env_u64("SYNACK_LAB_SEED0", 0);
    let threads = std::thread::available_parallelism().map_or(1, |p| p.get().min(4)) as u64;
    let failures: Vec<(u64, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (first + t..first + n)
                        .step_by(threads as usize)
                        .filter_map(|seed| run_seed(seed).map(|why| (seed, why)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker thread"))
            .collect()
    });
    for (seed, why) in failures.iter().take(20) {
        eprintln!("seed {seed} failed: {why}\n  reproduce: synack lab run random --seed {seed}");
    }
    assert!(
        failures.is_empty(),
        "{} of {n} seeds failed (first: {:?})",
        failures.len(),
        failures.first().map(|f| f.0)
    );
}
