//! Instruction counts of the per-segment paths under valgrind's callgrind.
//!
//! The `synack-bench callgrind-target ITERS` mode ([`target`]) runs two synack stacks back
//! to back (virtual clock, MSS 1460, timestamps on, so 1448 bytes per segment) and sends
//! ITERS full segments one way. Three `#[inline(never)]` functions wrap the paths:
//!
//! - `tx`: `Stack::send` of one MSS of application bytes and the `Stack::poll_transmit`
//!   that emits it as an IPv4 datagram (header, options, checksums);
//! - `rx`: `Stack::receive` of that datagram (IPv4 and TCP parsing, checksum verification,
//!   demux, the engine's in-order receive path, the copy into the receive ring);
//! - `ack`: `Stack::receive` of the receiver's pure ACK by the sender.
//!
//! [`measure`] runs the target under `valgrind --tool=callgrind --toggle-collect=...` once
//! per path, so only instructions inside that wrapper (and what it calls) count, reads the
//! total from the output file and divides by the number of calls the target reports.
//! [`check`] compares with a committed baseline file and fails beyond a threshold.

use crate::synack_pair::{Clock, Pair};
use std::path::Path;
use std::process::Command;
use synack::stack::{RecvFlags, SocketId, Stack};
use synack::{Duration, Instant};

/// The measured paths, in report order.
pub const PATHS: [&str; 3] = ["tx", "rx", "ack"];

#[inline(never)]
fn callgrind_path_tx(
    a: &mut Stack,
    now: Instant,
    c: SocketId,
    data: &[u8],
    frame: &mut [u8],
) -> Option<usize> {
    a.send(now, c, data).ok()?;
    a.poll_transmit(now, frame)
}

#[inline(never)]
fn callgrind_path_rx(b: &mut Stack, now: Instant, frame: &[u8]) {
    b.receive(now, frame);
}

/// Distinct from `callgrind_path_rx` in its body, so the two are never merged into one
/// symbol (which would hide one of them from `--toggle-collect`).
#[inline(never)]
fn callgrind_path_ack(a: &mut Stack, now: Instant, frame: &[u8]) -> u64 {
    a.receive(now, frame);
    std::hint::black_box(0xacu64)
}

/// Per-path call counts of one target run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Calls {
    /// Segments sent through `tx`.
    pub tx: u64,
    /// Segments received through `rx`.
    pub rx: u64,
    /// ACKs received through `ack`.
    pub ack: u64,
}

/// Runs the workload that [`measure`] observes: `iters` full segments one way, after a
/// warm-up outside the measured functions.
pub fn target(iters: u64) -> Result<Calls, String> {
    let mut p = Pair::new(1500, Clock::Virtual);
    let l = p.listen(5001, 16, &[])?;
    let (c, s) = p.establish(l, 5001, &[])?;
    let mss = 1448;
    let data = vec![0x5au8; mss];
    let mut frame = vec![0u8; 2048];
    let mut ackf = vec![0u8; 2048];
    let mut sink = vec![0u8; 64 << 10];
    let mut calls = Calls::default();
    let warmup = 256;
    let mut i = 0u64;
    while calls.tx < iters {
        let now = p.now();
        let counted = i >= warmup;
        i += 1;
        let len = if counted {
            callgrind_path_tx(&mut p.a, now, c, &data, &mut frame)
        } else {
            p.a.send(now, c, &data).ok();
            p.a.poll_transmit(now, &mut frame)
        };
        let Some(len) = len else {
            // Held by the window: let time pass and the ACKs in.
            if !p.jump_to_timer() {
                return Err("callgrind target: stalled".into());
            }
            continue;
        };
        if counted {
            calls.tx += 1;
            callgrind_path_rx(&mut p.b, now, &frame[..len]);
            calls.rx += 1;
        } else {
            p.b.receive(now, &frame[..len]);
        }
        while let Ok(k) = p.b.recv(now, s, &mut sink, RecvFlags::default()) {
            if k == 0 {
                return Err("callgrind target: end of stream".into());
            }
        }
        while let Some(n) = p.b.poll_transmit(now, &mut ackf) {
            if counted {
                std::hint::black_box(callgrind_path_ack(&mut p.a, now, &ackf[..n]));
                calls.ack += 1;
            } else {
                p.a.receive(now, &ackf[..n]);
            }
        }
        // A little time between segments, as on a real link (10 µs).
        p.advance(Duration::from_micros(10));
    }
    Ok(calls)
}

/// Parses `calls tx=N rx=N ack=N` as the target prints it.
pub fn parse_calls(line: &str) -> Option<Calls> {
    let mut c = Calls::default();
    let rest = line.trim().strip_prefix("calls ")?;
    for kv in rest.split_whitespace() {
        let (k, v) = kv.split_once('=')?;
        let v: u64 = v.parse().ok()?;
        match k {
            "tx" => c.tx = v,
            "rx" => c.rx = v,
            "ack" => c.ack = v,
            _ => return None,
        }
    }
    Some(c)
}

/// The total of the first event (Ir) in a callgrind output file (`summary:` or `totals:`).
pub fn parse_total(out: &str) -> Option<u64> {
    out.lines()
        .filter_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .next_back()
}

/// Instructions per call of each path in [`PATHS`], measured with valgrind on `exe`
/// (this binary) running `callgrind-target iters`.
pub fn measure(exe: &Path, iters: u64) -> Result<Vec<(String, f64)>, String> {
    let dir = std::env::temp_dir().join(format!("synack-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut result = Vec::new();
    for path in PATHS {
        let file = dir.join(format!("callgrind.out.{path}"));
        let out = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", file.display()))
            .arg(format!("--toggle-collect=*callgrind_path_{path}*"))
            .arg(exe)
            .arg("callgrind-target")
            .arg(iters.to_string())
            .output()
            .map_err(|e| format!("valgrind: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "valgrind failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let calls = stdout
            .lines()
            .find_map(parse_calls)
            .ok_or("callgrind target printed no call counts")?;
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let total = parse_total(&text).ok_or("no total in the callgrind output")?;
        let n = match path {
            "tx" => calls.tx,
            "rx" => calls.rx,
            _ => calls.ack,
        };
        if n == 0 || total == 0 {
            return Err(format!("path {path}: {n} calls, {total} instructions"));
        }
        result.push((path.to_string(), total as f64 / n as f64));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(result)
}

/// Reads a baseline file: `path instructions` per line; `#` starts a comment.
pub fn parse_baseline(text: &str) -> Result<Vec<(String, f64)>, String> {
    let mut v = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut it = line.split_whitespace();
        let (Some(name), Some(n), None) = (it.next(), it.next(), it.next()) else {
            return Err(format!("baseline: bad line {line:?}"));
        };
        let n: f64 = n
            .parse()
            .map_err(|_| format!("baseline: bad number in {line:?}"))?;
        v.push((name.to_string(), n));
    }
    Ok(v)
}

/// Writes a baseline file for `measured`.
pub fn format_baseline(measured: &[(String, f64)], note: &str) -> String {
    let mut s = String::from(
        "# Instructions (callgrind Ir) per call of each per-segment path; see\n\
         # crates/synack-bench/src/callgrind.rs. Regenerate with\n\
         # cargo run --release -p synack-bench -- callgrind --update\n",
    );
    s.push_str(&format!("# {note}\n"));
    for (name, n) in measured {
        s.push_str(&format!("{name} {n:.1}\n"));
    }
    s
}

/// One line per path comparing `measured` with `baseline`; `Err` lists the paths more than
/// `threshold` (a fraction: 0.10 is +10%) above their baseline or missing from it.
pub fn check(
    measured: &[(String, f64)],
    baseline: &[(String, f64)],
    threshold: f64,
) -> Result<String, String> {
    let mut report = String::new();
    let mut bad = Vec::new();
    for (name, n) in measured {
        match baseline.iter().find(|(b, _)| b == name) {
            Some((_, base)) => {
                let change = n / base - 1.0;
                report.push_str(&format!(
                    "{name:>4}: {n:>9.1} instructions/call, baseline {base:>9.1} ({:+.1}%)\n",
                    change * 100.0
                ));
                if change > threshold {
                    bad.push(format!("{name} {:+.1}%", change * 100.0));
                }
            }
            None => bad.push(format!("{name} missing from the baseline")),
        }
    }
    if bad.is_empty() {
        Ok(report)
    } else {
        Err(format!(
            "{report}regression beyond {:.0}%: {}",
            threshold * 100.0,
            bad.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_and_calls_parse() {
        assert_eq!(
            parse_total("events: Ir\nfoo\nsummary: 12345\n"),
            Some(12345)
        );
        assert_eq!(parse_total("totals: 77 1\n"), Some(77));
        assert_eq!(parse_total("events: Ir\n"), None);
        assert_eq!(
            parse_calls("calls tx=3 rx=2 ack=1"),
            Some(Calls {
                tx: 3,
                rx: 2,
                ack: 1
            })
        );
        assert_eq!(parse_calls("calls tx=x"), None);
    }

    #[test]
    fn check_flags_regressions_only() {
        let base = parse_baseline("# c\ntx 1000\nrx 2000.5\n").unwrap();
        let ok = vec![("tx".to_string(), 1050.0), ("rx".to_string(), 1500.0)];
        assert!(check(&ok, &base, 0.10).is_ok());
        let worse = vec![("tx".to_string(), 1101.0)];
        assert!(check(&worse, &base, 0.10).is_err());
        let missing = vec![("ack".to_string(), 1.0)];
        assert!(check(&missing, &base, 0.10).is_err());
        assert!(parse_baseline("tx 1 2\n").is_err());
        let round = parse_baseline(&format_baseline(&ok, "note")).unwrap();
        assert_eq!(round, ok);
    }

    #[test]
    fn target_sends_and_acks() {
        let calls = target(64).unwrap();
        assert_eq!(calls.tx, 64);
        assert_eq!(calls.rx, 64);
        assert!(calls.ack >= 16, "{calls:?}");
    }
}
