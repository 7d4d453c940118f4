//! `synack lab`: the notes' experiments on the simulated network.
//!
//! ```text
//! synack lab list
//! synack lab run NAME [--seed N] [--pcap FILE] [--svg FILE] [--set sysctl=value ...]
//! synack lab tour [--seed N]
//! ```
//!
//! `run` prints the tcpdump-style trace (virtual time stamps, state transitions and socket
//! calls interleaved), what to look at, and the checks against the notes; it exits 0 when
//! the scenario behaved as the notes describe, 1 when it did not, 2 on a usage error.

use std::process::ExitCode;

use synack_sim::lab::{self, Outcome, RunOptions, SCENARIOS, Scenario};

const USAGE: &str = "usage: synack lab list
       synack lab run NAME [--seed N] [--pcap FILE] [--svg FILE] [--set sysctl=value ...]
       synack lab tour [--seed N]";

/// Runs `synack lab` with its arguments (after the subcommand name).
pub fn main(args: &[String]) -> ExitCode {
    match args.first().map(String::as_str) {
        Some("list") if args.len() == 1 => {
            list();
            ExitCode::SUCCESS
        }
        Some("run") => run_cmd(&args[1..]),
        Some("tour") => tour(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => usage("expected list, run NAME or tour"),
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("synack lab: {msg}\n{USAGE}");
    ExitCode::from(2)
}

fn list() {
    let width = SCENARIOS.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for s in SCENARIOS {
        println!("{:width$}  {}", s.name, s.title);
    }
}

struct RunArgs {
    name: Option<String>,
    opts: RunOptions,
    pcap: Option<String>,
    svg: Option<String>,
}

fn parse(args: &[String], allow_name: bool) -> Result<RunArgs, String> {
    let mut r = RunArgs {
        name: None,
        opts: RunOptions::default(),
        pcap: None,
        svg: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match a.as_str() {
            "--seed" => {
                let v = value("--seed")?;
                r.opts.seed = v
                    .parse()
                    .map_err(|_| format!("--seed: not a number: {v}"))?;
            }
            "--pcap" if allow_name => r.pcap = Some(value("--pcap")?),
            "--svg" if allow_name => r.svg = Some(value("--svg")?),
            "--set" if allow_name => {
                let v = value("--set")?;
                let (k, val) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--set: expected sysctl=value, got {v}"))?;
                r.opts
                    .sets
                    .push((k.trim().to_string(), val.trim().to_string()));
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s if allow_name && r.name.is_none() => r.name = Some(s.to_string()),
            s => return Err(format!("unexpected argument {s}")),
        }
    }
    Ok(r)
}

fn run_cmd(args: &[String]) -> ExitCode {
    let r = match parse(args, true) {
        Ok(r) => r,
        Err(e) => return usage(&e),
    };
    let Some(name) = r.name.as_deref() else {
        return usage("run: which scenario? (synack lab list)");
    };
    let Some(sc) = lab::find(name) else {
        eprintln!("synack lab: no scenario named {name}; these exist:");
        list();
        return ExitCode::from(2);
    };
    let out = match lab::run(sc, &r.opts) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("synack lab: {name}: {e}");
            return ExitCode::from(2);
        }
    };
    if lab::is_pending(name) {
        println!(
            "note: {name} is not in `synack lab list`: the engine does not behave as the \
             notes describe yet, and the checks below say where"
        );
    }
    print_outcome(sc, &out, true);
    if let Some(path) = &r.pcap {
        if let Err(e) = std::fs::write(path, &out.pcap) {
            eprintln!("synack lab: {path}: {e}");
            return ExitCode::from(2);
        }
        println!("pcap written to {path} (tcpdump -r {path}, or Wireshark)");
    }
    if let Some(path) = &r.svg {
        let Some(svg) = out.svg() else {
            eprintln!("synack lab: {name}: no TCP segments to graph");
            return ExitCode::from(2);
        };
        if let Err(e) = std::fs::write(path, svg) {
            eprintln!("synack lab: {path}: {e}");
            return ExitCode::from(2);
        }
        println!("time-sequence graph written to {path}");
    }
    if out.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// In the tour, traces longer than this are shortened to their beginning and end.
const TOUR_TRACE_LINES: usize = 80;

fn print_outcome(sc: &Scenario, out: &Outcome, header: bool) {
    let full = header;
    if header {
        println!("== {}: {} (seed {}) ==", sc.name, sc.title, out.seed);
        if let Some(h) = out.observer {
            println!(
                "-- trace as seen on {} (virtual time, seconds) --",
                out.sim.host_name(h)
            );
        }
    }
    if full || out.trace.len() <= TOUR_TRACE_LINES {
        for l in &out.trace {
            println!("  {l}");
        }
    } else {
        let mut shown = 0;
        for part in excerpt(out) {
            if part.start > shown {
                println!(
                    "  ... {} lines (synack lab run {} shows them) ...",
                    part.start - shown,
                    sc.name
                );
            }
            for l in &out.trace[part.clone()] {
                println!("  {l}");
            }
            shown = part.end;
        }
    }
    println!("-- what to look at --");
    for l in sc.explain.lines() {
        println!("  {}", l.trim());
    }
    if full {
        println!("-- checks --");
        for c in &out.checks.list {
            println!("  [{}] {}", if c.ok { "ok" } else { "FAIL" }, c.text);
        }
    } else {
        let ok = out.checks.list.iter().filter(|c| c.ok).count();
        println!("-- checks: {ok} of {} hold --", out.checks.list.len());
        for c in out.checks.failures() {
            println!("  [FAIL] {}", c.text);
        }
    }
    println!(
        "verdict: {} ({})",
        if out.passed() { "PASS" } else { "FAIL" },
        if out.passed() {
            "behaves as the notes describe"
        } else {
            "does not behave as the notes describe"
        }
    );
}

/// The parts of a long trace the tour shows: its beginning, the lines leading up to the
/// first retransmission (where the loss-recovery scenarios have their story: duplicate
/// ACKs, SACK blocks, the retransmission), and its end.
fn excerpt(out: &Outcome) -> Vec<core::ops::Range<usize>> {
    let n = out.trace.len();
    let (head, tail) = (30, 15);
    let mut parts: Vec<core::ops::Range<usize>> = Vec::new();
    parts.push(0..head.min(n));
    let first_retx = out.graph().and_then(|g| {
        g.data
            .iter()
            .find(|d| d.kind == synack_sim::svg::SegKind::Retransmission)
            .map(|d| d.t)
    });
    if let Some(t) = first_retx {
        // The first trace line at or after that time (lines start with the seconds).
        let at = out.trace.iter().position(|l| {
            l.split(' ')
                .next()
                .and_then(|w| w.parse::<f64>().ok())
                .is_some_and(|v| v >= t - 1e-7)
        });
        if let Some(i) = at {
            let lo = i.saturating_sub(24).max(head);
            let hi = (i + 6).min(n);
            if lo < hi {
                parts.push(lo..hi);
            }
        }
    }
    let last_end = parts.last().map_or(0, |p| p.end);
    parts.push(n.saturating_sub(tail).max(last_end)..n);
    parts.retain(|p| !p.is_empty());
    parts
}

fn tour(args: &[String]) -> ExitCode {
    let r = match parse(args, false) {
        Ok(r) => r,
        Err(e) => return usage(&e),
    };
    let tour: Vec<&Scenario> = SCENARIOS.iter().filter(|s| s.tour).collect();
    println!(
        "synack lab tour: {} experiments from the TCP notes, replayed on a simulated network \
         (virtual time: minutes of TCP timers take milliseconds).\n",
        tour.len()
    );
    let mut failed = Vec::new();
    for (i, sc) in tour.iter().enumerate() {
        println!("[{}/{}] {}: {}", i + 1, tour.len(), sc.name, sc.title);
        match lab::run(sc, &r.opts) {
            Ok(out) => {
                print_outcome(sc, &out, false);
                if !out.passed() {
                    failed.push(sc.name);
                }
            }
            Err(e) => {
                println!("  cannot run: {e}");
                failed.push(sc.name);
            }
        }
        println!();
    }
    println!(
        "Replay one with `synack lab run NAME --pcap out.pcap --svg out.svg`; \
         `synack lab list` shows all {}.",
        SCENARIOS.len()
    );
    if failed.is_empty() {
        println!(
            "tour: all {} experiments behaved as the notes describe",
            tour.len()
        );
        ExitCode::SUCCESS
    } else {
        println!("tour: FAILED: {}", failed.join(", "));
        ExitCode::from(1)
    }
}
