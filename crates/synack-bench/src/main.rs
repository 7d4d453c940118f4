//! `synack-bench`: synack side by side with smoltcp and Linux, one table with ratios.
//!
//! ```text
//! cargo run --release -p synack-bench -- [bulk] [rr] [churn] [many] [scale] [OPTIONS]
//! cargo run --release -p synack-bench -- callgrind [--check | --update] [--threshold PCT]
//! ```
//! Options: `--runs N` (5), `--bytes SIZE` (1G; K/M/G suffixes, bulk bytes per run),
//! `--rr N` (50000 round trips), `--churn N` (30000 cycles), `--conns N` (100000),
//! `--mtus 1500,65535` (bulk link MTUs), `--bulk-api copy,lend` (bulk applications copy
//! slices in and out, and/or use the stacks' lending calls), `--churn-buffers
//! default,4608` (churn socket buffers: the defaults and/or sizes as the socket holds
//! them), `--demux-packets N`
//! (100000 timed receives per scale run), `--many-conns N` (10000 connections),
//! `--many-bytes SIZE` (64K per connection each way), `--many-round SIZE` (16K per
//! socket and round), `--many-buffer SIZE` (16K per socket), `--impls
//! synack,smoltcp,linux`, `--after-traffic` (scale also measures memory per endpoint once
//! every connection moved 4 KiB each way and went idle, ring data storage excluded),
//! `--no-coalesce` (synack's hosts process each received datagram on its own instead of
//! coalescing runs, `Stack::set_receive_coalescing`).

use std::path::PathBuf;
use synack_bench::{Bulk, BulkApi, Many, Run, callgrind, linux, smol, synack_pair};

#[global_allocator]
static ALLOC: synack_bench::counting::Counting = synack_bench::counting::Counting;

const IMPLS: [&str; 3] = ["synack", "smoltcp", "linux"];

#[derive(Debug)]
struct Opts {
    workloads: Vec<String>,
    runs: usize,
    bytes: u64,
    rr: u64,
    churn: u64,
    conns: usize,
    impls: Vec<String>,
    check: bool,
    update: bool,
    threshold: f64,
    baseline: PathBuf,
    iters: u64,
    mtus: Vec<u16>,
    bulk_apis: Vec<BulkApi>,
    churn_buffers: Vec<Option<usize>>,
    demux_packets: usize,
    many: Many,
    /// `scale --after-traffic`: also measure memory after each connection moved data.
    after_traffic: bool,
}

fn size(s: &str) -> Result<u64, String> {
    let (num, mult) = match s.as_bytes().last() {
        Some(b'K' | b'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 1 << 20),
        Some(b'G' | b'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("bad size {s:?}"))
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        workloads: Vec::new(),
        runs: 5,
        bytes: 1 << 30,
        rr: 50_000,
        churn: 30_000,
        conns: 100_000,
        impls: IMPLS.iter().map(|s| s.to_string()).collect(),
        check: false,
        update: false,
        threshold: 10.0,
        baseline: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/callgrind-baseline.txt"
        )),
        iters: 2000,
        mtus: vec![1500, 65535],
        bulk_apis: vec![BulkApi::Copy, BulkApi::Lend],
        churn_buffers: vec![None, Some(4608)],
        demux_packets: 100_000,
        after_traffic: false,
        many: Many {
            conns: 10_000,
            bytes: 64 << 10,
            round: 16 << 10,
            buffer: 16 << 10,
        },
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--runs" => o.runs = val()?.parse().map_err(|_| "bad --runs")?,
            "--bytes" => o.bytes = size(&val()?)?,
            "--rr" => o.rr = size(&val()?)?,
            "--churn" => o.churn = size(&val()?)?,
            "--conns" => o.conns = size(&val()?)? as usize,
            "--impls" => o.impls = val()?.split(',').map(str::to_string).collect(),
            "--check" => o.check = true,
            "--update" => o.update = true,
            "--threshold" => o.threshold = val()?.parse().map_err(|_| "bad --threshold")?,
            "--baseline" => o.baseline = PathBuf::from(val()?),
            "--iters" => o.iters = size(&val()?)?,
            "--churn-buffers" => {
                o.churn_buffers = val()?
                    .split(',')
                    .map(|b| match b {
                        "default" => Ok(None),
                        b => size(b).map(|n| Some(n as usize)),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--bulk-api" => {
                o.bulk_apis = val()?
                    .split(',')
                    .map(|a| match a {
                        "copy" => Ok(BulkApi::Copy),
                        "lend" => Ok(BulkApi::Lend),
                        a => Err(format!("bad --bulk-api {a:?} (copy, lend)")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--demux-packets" => o.demux_packets = size(&val()?)? as usize,
            "--after-traffic" => o.after_traffic = true,
            "--no-coalesce" => {
                synack_pair::COALESCE.store(false, std::sync::atomic::Ordering::Relaxed)
            }
            "--many-conns" => o.many.conns = size(&val()?)? as usize,
            "--many-bytes" => o.many.bytes = size(&val()?)?,
            "--many-round" => o.many.round = size(&val()?)? as usize,
            "--many-buffer" => o.many.buffer = size(&val()?)? as usize,
            "--mtus" => {
                o.mtus = val()?
                    .split(',')
                    .map(|m| m.parse::<u16>().ok().filter(|&m| m >= 576))
                    .collect::<Option<_>>()
                    .ok_or("bad --mtus (576..=65535)")?
            }
            "-h" | "--help" => return Err(String::new()),
            w @ ("bulk" | "rr" | "churn" | "many" | "scale" | "callgrind") => {
                o.workloads.push(w.into())
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if o.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    for i in &o.impls {
        if !IMPLS.contains(&i.as_str()) {
            return Err(format!("unknown implementation {i:?}"));
        }
    }
    if o.workloads.is_empty() {
        o.workloads = ["bulk", "rr", "churn", "scale"].map(String::from).to_vec();
    }
    Ok(o)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One table row: a median per implementation, or why there is none.
struct Row {
    name: String,
    unit: &'static str,
    cells: Vec<Result<f64, String>>,
    note: String,
}

fn fmt_num(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Runs `f(impl)` `runs` times for each selected implementation, interleaved (run 1 of
/// each, then run 2 of each...), and turns each run into a figure with `metric`.
fn measure(
    o: &Opts,
    name: String,
    unit: &'static str,
    metric: impl Fn(&Run) -> f64,
    f: impl Fn(&str) -> Result<Run, String>,
) -> Row {
    let mut figures: Vec<Result<Vec<f64>, String>> = IMPLS.iter().map(|_| Ok(Vec::new())).collect();
    let mut stalls = vec![0u64; IMPLS.len()];
    for (k, imp) in IMPLS.iter().enumerate() {
        if !o.impls.iter().any(|i| i == imp) {
            figures[k] = Err("not selected".into());
        } else if *imp == "linux" && !linux::available() {
            figures[k] = Err("skipped: not root (network namespaces need root)".into());
        }
    }
    for _ in 0..o.runs {
        for (k, imp) in IMPLS.iter().enumerate() {
            let Ok(v) = &mut figures[k] else { continue };
            match f(imp) {
                Ok(r) => {
                    v.push(metric(&r));
                    stalls[k] += r.stalls;
                }
                Err(e) => figures[k] = Err(e),
            }
        }
    }
    let mut note = String::new();
    for (k, imp) in IMPLS.iter().enumerate() {
        if stalls[k] > 0 {
            note.push_str(&format!("{imp}: {} timer stalls; ", stalls[k]));
        }
    }
    let cells = figures
        .into_iter()
        .map(|f| f.map(|mut v| median(&mut v)))
        .collect();
    eprintln!("  done: {name} (load {})", loadavg());
    Row {
        name,
        unit,
        cells,
        note,
    }
}

fn bulk_rows(o: &Opts, rows: &mut Vec<Row>) {
    for &mtu in &o.mtus {
        for &api in &o.bulk_apis {
            bulk_row(o, rows, mtu, api);
        }
    }
}

fn bulk_row(o: &Opts, rows: &mut Vec<Row>, mtu: u16, api: BulkApi) {
    let w = Bulk {
        bytes: o.bytes,
        mtu,
        buffer: 256 << 10,
        api,
    };
    let how = match api {
        BulkApi::Copy => "copied in and out",
        BulkApi::Lend => "lent rings",
    };
    let name = format!(
        "bulk {} MiB, MSS {}, 256 KiB buffers, {how}",
        o.bytes >> 20,
        mtu - 40
    );
    rows.push(measure(
        o,
        name,
        "Gbit/s",
        |r| o.bytes as f64 * 8.0 / r.secs / 1e9,
        |imp| match imp {
            "synack" => synack_pair::bulk(w),
            "smoltcp" => smol::bulk(w),
            _ if api == BulkApi::Lend => Err("sockets copy (the copy row)".into()),
            _ => linux::bulk(w),
        },
    ));
}

fn print_table(rows: &[Row]) {
    println!("| workload | unit | synack | smoltcp | linux | synack/smoltcp | synack/linux |");
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        let cell = |c: &Result<f64, String>| match c {
            Ok(x) => fmt_num(*x),
            Err(e) => format!("n/a: {e}"),
        };
        let ratio = |k: usize| match (&r.cells[0], &r.cells[k]) {
            (Ok(a), Ok(b)) if *b > 0.0 => {
                // For costs (lower is better) the ratio is inverted so >1 means synack wins.
                let x = if r.unit.starts_with("ns/") || r.unit.starts_with("B/") {
                    b / a
                } else {
                    a / b
                };
                format!("{x:.2}×")
            }
            _ => "–".into(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.unit,
            cell(&r.cells[0]),
            cell(&r.cells[1]),
            cell(&r.cells[2]),
            ratio(1),
            ratio(2)
        );
    }
    for r in rows {
        if !r.note.is_empty() {
            println!("note: {}: {}", r.name, r.note.trim_end_matches("; "));
        }
    }
}

/// Bytes each connection moves each way before `scale --after-traffic` measures it.
const AFTER_TRAFFIC_BYTES: usize = 4096;

fn scale_rows(o: &Opts, rows: &mut Vec<Row>) {
    let not = |why: &str| Err::<f64, String>(why.to_string());
    let other = || {
        vec![
            not("not measured (scale runs synack only)"),
            not("not measured (scale runs synack only)"),
        ]
    };
    let mut setup = Vec::new();
    let mut mem = Vec::new();
    // Per-packet figures, one vector of per-run values per row: (name, unit, values).
    let n = o.conns;
    let names: Vec<(String, &str)> = vec![
        (
            "lookup, uniform: demux (has_connection)".into(),
            "ns/lookup",
        ),
        (
            "lookup, uniform: oracle (slot by index)".into(),
            "ns/lookup",
        ),
        (
            "lookup, uniform: demux excess over oracle".into(),
            "ns/lookup",
        ),
        (
            format!("lookup, hot {}: demux", synack_pair::HOT),
            "ns/lookup",
        ),
        (
            format!("lookup, hot {}: oracle", synack_pair::HOT),
            "ns/lookup",
        ),
        (
            format!("lookup, hot {}: demux excess", synack_pair::HOT),
            "ns/lookup",
        ),
        ("receive, uniform: with demux".into(), "ns/packet"),
        ("receive, uniform: oracle".into(), "ns/packet"),
        ("receive, uniform: demux excess".into(), "ns/packet"),
        ("receive_batch (256), uniform".into(), "ns/packet"),
        (
            format!("receive, hot {}: with demux", synack_pair::HOT),
            "ns/packet",
        ),
        (
            format!("receive, hot {}: oracle", synack_pair::HOT),
            "ns/packet",
        ),
        (
            format!("receive, hot {}: demux excess", synack_pair::HOT),
            "ns/packet",
        ),
    ];
    let figures = |s: &synack_pair::Scale| {
        let q = &s.oracle;
        [
            s.lookup_ns,
            q.lookup_ns,
            s.lookup_ns - q.lookup_ns,
            q.hot_lookup_ns,
            q.hot_lookup_oracle_ns,
            q.hot_lookup_ns - q.hot_lookup_oracle_ns,
            s.demux_ns,
            q.receive_ns,
            s.demux_ns - q.receive_ns,
            s.demux_batch_ns,
            q.hot_receive_ns,
            q.hot_receive_oracle_ns,
            q.hot_receive_ns - q.hot_receive_oracle_ns,
        ]
    };
    let mut big: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut small: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut failure = None;
    for _ in 0..o.runs {
        let packets = o.demux_packets;
        match (
            synack_pair::scale(o.conns, packets),
            synack_pair::scale(10, packets),
        ) {
            (Ok(b), Ok(s)) => {
                setup.push(b.conns as f64 / b.setup_secs);
                if let Some(m) = b.bytes_per_endpoint {
                    mem.push(m);
                }
                for (v, x) in big.iter_mut().zip(figures(&b)) {
                    v.push(x);
                }
                for (v, x) in small.iter_mut().zip(figures(&s)) {
                    v.push(x);
                }
            }
            (Err(e), _) | (_, Err(e)) => {
                failure = Some(e);
                break;
            }
        }
        eprintln!("  scale run done (load {})", loadavg());
    }
    let mut after = Vec::new();
    if o.after_traffic && failure.is_none() {
        for _ in 0..o.runs {
            match synack_pair::scale_after_traffic(o.conns, AFTER_TRAFFIC_BYTES) {
                Ok(Some(m)) => after.push(m),
                Ok(None) => {}
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
            eprintln!("  scale after-traffic run done (load {})", loadavg());
        }
    }
    let mut push = |name: String, unit, v: &mut Vec<f64>| {
        let first = match (&failure, v.is_empty()) {
            (Some(e), _) => Err(e.clone()),
            (None, true) => not("counting allocator not installed"),
            (None, false) => Ok(median(v)),
        };
        let mut cells = vec![first];
        cells.extend(other());
        rows.push(Row {
            name,
            unit,
            cells,
            note: String::new(),
        });
    };
    push(
        format!("scale: open {n} idle connections"),
        "conn/s",
        &mut setup,
    );
    push(
        format!("scale: heap per endpoint at {n} (no data buffers)"),
        "B/endpoint",
        &mut mem,
    );
    if o.after_traffic {
        push(
            format!(
                "scale: heap per endpoint at {n}, idle after {} B each way (no ring storage)",
                AFTER_TRAFFIC_BYTES
            ),
            "B/endpoint",
            &mut after,
        );
    }
    for (((name, unit), s), b) in names.iter().zip(&mut small).zip(&mut big) {
        push(format!("scale: {name}, 10 conns"), unit, s);
        push(format!("scale: {name}, {n} conns"), unit, b);
    }
}

fn run_callgrind(o: &Opts) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let measured = callgrind::measure(&exe, o.iters)?;
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_default();
    if o.update {
        let note = format!("{rustc}; {} segments per run", o.iters);
        std::fs::write(&o.baseline, callgrind::format_baseline(&measured, &note))
            .map_err(|e| format!("{}: {e}", o.baseline.display()))?;
        println!("wrote {}", o.baseline.display());
    }
    let text = std::fs::read_to_string(&o.baseline)
        .map_err(|e| format!("{}: {e}", o.baseline.display()))?;
    let base = callgrind::parse_baseline(&text)?;
    match callgrind::check(&measured, &base, o.threshold / 100.0) {
        Ok(report) => {
            print!("{report}");
            println!("callgrind check: ok (threshold +{}%)", o.threshold);
            Ok(())
        }
        Err(report) if o.check => Err(report),
        Err(report) => {
            print!("{report}");
            println!("(not failing: pass --check to fail on a regression)");
            Ok(())
        }
    }
}

use std::process::Command;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("callgrind-target") {
        let iters = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2000);
        match callgrind::target(iters) {
            Ok(c) => println!("calls tx={} rx={} ack={}", c.tx, c.rx, c.ack),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let o = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("synack-bench: {e}");
            }
            eprintln!(
                "usage: synack-bench [bulk] [rr] [churn] [many] [scale] [--runs N] [--bytes SIZE] \
                 [--rr N] [--churn N] [--conns N] [--many-conns N] [--many-bytes SIZE] [--many-round SIZE] [--many-buffer SIZE] [--mtus 1500,65535] [--bulk-api copy,lend] [--churn-buffers default,4608] [--demux-packets N] [--after-traffic] [--no-coalesce] [--impls synack,smoltcp,linux]\n       \
                 synack-bench callgrind [--check] [--update] [--threshold PCT] [--iters N] \
                 [--baseline FILE]"
            );
            std::process::exit(2);
        }
    };
    if o.workloads.iter().any(|w| w == "callgrind") {
        if let Err(e) = run_callgrind(&o) {
            eprintln!("synack-bench: {e}");
            std::process::exit(1);
        }
        if o.workloads.len() == 1 {
            return;
        }
    }
    println!(
        "synack-bench: medians of {} runs; load average at start {}; {} CPUs",
        o.runs,
        loadavg(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if !linux::available() {
        println!("linux baseline: skipped (not root: network namespaces need root)");
    } else {
        for name in linux::remove_stale() {
            println!("removed network namespace {name} left by a killed run");
        }
    }
    let mut rows = Vec::new();
    for w in &o.workloads {
        match w.as_str() {
            "bulk" => bulk_rows(&o, &mut rows),
            "rr" => rows.push(measure(
                &o,
                format!("request/response 1 KiB, TCP_NODELAY ({} round trips)", o.rr),
                "round trips/s",
                |r| o.rr as f64 / r.secs,
                |imp| match imp {
                    "synack" => synack_pair::request_response(o.rr),
                    "smoltcp" => smol::request_response(o.rr),
                    _ => linux::request_response(o.rr),
                },
            )),
            "churn" => {
                for &buffer in &o.churn_buffers {
                    let label = match buffer {
                        None => "default buffers".to_string(),
                        Some(b) => format!("{b} B buffers"),
                    };
                    rows.push(measure(
                        &o,
                        format!(
                            "churn: connect, 1 B each way, close, {label} ({} cycles)",
                            o.churn
                        ),
                        "cycles/s",
                        |r| o.churn as f64 / r.secs,
                        |imp| match imp {
                            "synack" => synack_pair::churn(o.churn, buffer),
                            "smoltcp" => smol::churn(o.churn, buffer),
                            _ => linux::churn(o.churn, buffer),
                        },
                    ))
                }
            }
            "many" => {
                let w = o.many;
                rows.push(measure(
                    &o,
                    format!(
                        "many active: {} connections, {} KiB each way, {} KiB buffers",
                        w.conns,
                        w.bytes >> 10,
                        w.buffer >> 10
                    ),
                    "Gbit/s",
                    |r| w.total() as f64 * 8.0 / r.secs / 1e9,
                    |imp| match imp {
                        "synack" => synack_pair::many(w),
                        "smoltcp" => smol::many(w),
                        _ => linux::many(w),
                    },
                ))
            }
            "scale" => scale_rows(&o, &mut rows),
            _ => {}
        }
    }
    print_table(&rows);
    println!("load average at end {}", loadavg());
}
