//! Goodput of each congestion-control algorithm through the full host stack
//! ([`synack::stack::Stack`] in a [`StackHost`]), over a simulated 100 Mbit/s path with a
//! 50 ms RTT and a BDP-sized drop-tail queue: clean, with 0.1 %, 1 % and 5 % random loss,
//! bursty (Gilbert–Elliott) loss, reordering, ECN marking at the queue, and two and eight
//! flows sharing the bottleneck (Jain fairness index of their goodputs).
//!
//! ```text
//! cargo run --release -p synack-sim --example cc_goodput -- [--bytes N] [--runs K]
//!     [--cc reno,cubic] [--rows clean,loss0.1,...] [--seed S]
//! ```
//!
//! The algorithm is chosen by name through the stack's `net.ipv4.tcp_congestion_control`
//! sysctl on both hosts; the names default to [`synack::cc::AVAILABLE`]. Every byte the
//! receiver reads is compared with the sender's pattern: a run that delivers a wrong byte,
//! delivers too much, or does not finish within the virtual-time limit is reported as FAILED
//! and never as a figure. Retransmitted bytes are counted on the sender's wire: payload bytes
//! of a segment that lie below the highest sequence number that flow had already sent.
//! Figures are medians over `--runs` seeds (`seed`, `seed + 1`, ...).
//!
//! The file is also the harness of `tests/cc_smoke.rs`, which includes it as a module.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;

use synack::stack::{Errno, Shutdown, SocketId};
use synack_sim::stack_host::{AppCtx, StackHost};
use synack_sim::{
    ChannelConfig, Duration, EcnMarking, GilbertElliott, Host, IfaceId, Instant, LinkConfig,
    NotEctPolicy, Sim,
};

/// Bottleneck rate (bit/s).
pub const RATE_BPS: u64 = 100_000_000;
/// Round-trip propagation delay.
pub const RTT: Duration = Duration::from_millis(50);
/// The sender's MSS on a 1500-byte path with timestamps (1500 − 20 − 20 − 12).
pub const MSS: f64 = 1448.0;
/// One bandwidth-delay product in 1500-byte packets: 100 Mbit/s · 50 ms = 625 kB.
pub const BDP_PACKETS: usize = 417;

const SENDER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const RECEIVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 5001;
const CLIENT_PORT: u16 = 40_000;

/// One path condition of the table.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Short name (`--rows`).
    pub name: &'static str,
    /// What the row shows, for the table.
    pub label: &'static str,
    /// Independent random loss on the data direction.
    pub loss: f64,
    /// Bursty loss on the data direction.
    pub burst: Option<GilbertElliott>,
    /// Share of data packets held back by `reorder_delay`.
    pub reorder: f64,
    /// Extra delay of a held-back packet.
    pub reorder_delay: Duration,
    /// Flows sharing the bottleneck (each carries `bytes / flows`).
    pub flows: usize,
    /// ECN: both hosts ask for it (`net.ipv4.tcp_ecn = 1`) and the bottleneck queue marks
    /// CE on ECT packets that find at least this many packets waiting (RFC 3168 §5).
    pub ecn_threshold: Option<usize>,
    /// Flow `k` starts `k · stagger` after the first, so later flows must take their share
    /// from flows already running.
    pub stagger: Duration,
}

impl Scenario {
    fn base(name: &'static str, label: &'static str) -> Scenario {
        Scenario {
            name,
            label,
            loss: 0.0,
            burst: None,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            flows: 1,
            ecn_threshold: None,
            stagger: Duration::ZERO,
        }
    }

    /// The mean loss rate of the data direction (random plus bursty).
    pub fn mean_loss(&self) -> f64 {
        let b = self.burst.map_or(0.0, |g| g.mean_loss());
        1.0 - (1.0 - self.loss) * (1.0 - b)
    }

    /// The Mathis et al. bound for Reno at this row's loss rate, in Mbit/s:
    /// MSS/RTT · C/√p with C = √(3/2) ≈ 1.22; `None` without loss.
    pub fn mathis_mbps(&self) -> Option<f64> {
        let p = self.mean_loss();
        (p > 0.0).then(|| MSS * 8.0 / RTT.as_secs_f64() * 1.22 / p.sqrt() / 1e6)
    }
}

/// The rows of the table, in order.
pub fn scenarios() -> Vec<Scenario> {
    let mut v = vec![Scenario::base("clean", "no loss")];
    for (name, label, p) in [
        ("loss0.1", "0.1% random loss", 0.001),
        ("loss1", "1% random loss", 0.01),
        ("loss5", "5% random loss", 0.05),
    ] {
        let mut s = Scenario::base(name, label);
        s.loss = p;
        v.push(s);
    }
    let mut s = Scenario::base(
        "bursty",
        "bursty loss (Gilbert: p 0.0025, r 0.25; mean 1%, bursts of 4)",
    );
    s.burst = Some(GilbertElliott::gilbert(0.0025, 0.25));
    v.push(s);
    let mut s = Scenario::base("reorder", "reordering (1% of packets 5 ms late)");
    s.reorder = 0.01;
    s.reorder_delay = Duration::from_millis(5);
    v.push(s);
    let mut s = Scenario::base("ecn", "no loss, ECN (CE above 83 packets)");
    s.ecn_threshold = Some(BDP_PACKETS / 5);
    v.push(s);
    let mut s = Scenario::base("flows2", "2 competing flows (2nd starts 1 s later)");
    s.flows = 2;
    s.stagger = Duration::from_secs(1);
    v.push(s);
    let mut s = Scenario::base("flows8", "8 competing flows (one starts every 250 ms)");
    s.flows = 8;
    s.stagger = Duration::from_millis(250);
    v.push(s);
    v
}

/// The byte at `offset` of flow `flow`'s stream: a hash, so a shifted, repeated or lost
/// stretch shows up at once.
pub fn pattern(flow: usize, offset: u64) -> u8 {
    let x = (offset ^ ((flow as u64) << 48)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 56) as u8
}

/// What one run measured.
#[derive(Clone, Debug, Default)]
pub struct RunResult {
    /// Aggregate goodput (all bytes over the time until the last flow finished), Mbit/s.
    pub goodput_mbps: f64,
    /// Payload bytes the sender put on the wire again.
    pub retrans_bytes: u64,
    /// Time from the first connect to the last byte delivered (s).
    pub secs: f64,
    /// Jain index of the bytes each flow delivered while all of them were running (1 flow:
    /// 1; `None` if the first flow finished before the last one started).
    pub jain: Option<f64>,
    /// Data-direction packets that arrived ECT(0)/ECT(1), and CE-marked.
    pub ect_ce: (u64, u64),
    /// The failure, if the run failed (wrong byte, too many bytes, did not finish).
    pub failure: Option<String>,
}

/// Per-flow state shared by the applications and the harness.
#[derive(Default)]
struct Flow {
    received: u64,
    done_at: Option<Instant>,
    error: Option<String>,
}

#[derive(Default)]
struct Shared {
    flows: Vec<Flow>,
    /// Bytes each flow had received when the last flow was accepted.
    at_all_started: Option<(Instant, Vec<u64>)>,
    /// Bytes each flow had received when the first flow finished.
    at_first_done: Option<(Instant, Vec<u64>)>,
}

/// A [`StackHost`] that counts retransmitted payload bytes as its packets leave.
struct Counted {
    host: StackHost,
    /// Per source port: the first sequence number seen and the highest end sent (relative).
    high: HashMap<u16, (u32, u64)>,
    retrans: u64,
    /// Packets received with ECT(0)/ECT(1), and with CE (RFC 3168 §5 codepoints).
    ect_in: u64,
    ce_in: u64,
}

impl Counted {
    fn count(&mut self, pkt: &[u8]) {
        // IPv4 only (the lab addresses are IPv4); a short packet is not counted.
        let Some(&vihl) = pkt.first() else { return };
        if vihl >> 4 != 4 || pkt.get(9) != Some(&6) {
            return;
        }
        let ihl = usize::from(vihl & 0xf) * 4;
        let Some(tcp) = pkt.get(ihl..) else { return };
        if tcp.len() < 20 {
            return;
        }
        let port = u16::from_be_bytes([tcp[0], tcp[1]]);
        let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
        let doff = usize::from(tcp[12] >> 4) * 4;
        let syn = tcp[13] & 0x02 != 0;
        let len = tcp.len().saturating_sub(doff) as u64;
        let e = self.high.entry(port).or_insert((seq, 0));
        if syn {
            // The SYN's sequence number; data starts one later.
            *e = (seq.wrapping_add(1), 0);
            return;
        }
        if len == 0 {
            return;
        }
        let start = u64::from(seq.wrapping_sub(e.0));
        let end = start + len;
        self.retrans += e.1.min(end).saturating_sub(start);
        e.1 = e.1.max(end);
    }
}

impl Host for Counted {
    fn receive(&mut self, now: Instant, iface: IfaceId, packet: &[u8]) {
        if packet.first().is_some_and(|v| v >> 4 == 4) {
            match packet.get(1).map(|tos| tos & 0b11) {
                Some(0b11) => self.ce_in += 1,
                Some(0b01 | 0b10) => self.ect_in += 1,
                _ => {}
            }
        }
        self.host.receive(now, iface, packet);
    }

    fn poll_transmit(&mut self, now: Instant, emit: &mut dyn FnMut(IfaceId, &[u8])) {
        let mut out: Vec<Vec<u8>> = Vec::new();
        self.host.poll_transmit(now, &mut |i, p| {
            debug_assert_eq!(i, IfaceId(0));
            out.push(p.to_vec());
        });
        for p in out {
            self.count(&p);
            emit(IfaceId(0), &p);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.host.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.host.handle_timeout(now);
    }

    fn restart(&mut self, now: Instant) {
        self.host.restart(now);
    }

    fn poll_annotations(&mut self, emit: &mut dyn FnMut(&str)) {
        self.host.poll_annotations(emit);
    }
}

fn stack_host(secret: u8, addr: Ipv4Addr, cc: &str, ecn: bool) -> Result<StackHost, String> {
    let mut h = StackHost::new([secret; 16], IpAddr::V4(addr));
    h.stack.set_annotations(false);
    let set = |h: &mut StackHost, k: &str, v: &str| {
        h.sysctl_set(k, v)
            .map_err(|e| format!("sysctl {k}={v}: {e:?}"))
    };
    set(&mut h, "net.ipv4.tcp_congestion_control", cc)?;
    // Buffers well above BDP + queue (1.25 MB), so the window never limits the sender.
    set(&mut h, "net.ipv4.tcp_wmem", "4096 8388608 8388608")?;
    set(&mut h, "net.ipv4.tcp_rmem", "4096 8388608 8388608")?;
    if ecn {
        set(&mut h, "net.ipv4.tcp_ecn", "1")?;
    }
    Ok(h)
}

/// The sender application of flow `k`: at `start`, connects, writes `bytes` of the
/// pattern, and shuts down its sending side.
fn sender_app(k: usize, bytes: u64, start: Instant) -> impl FnMut(&mut AppCtx<'_>) + 'static {
    let mut sock: Option<SocketId> = None;
    let mut written = 0u64;
    let mut closed = false;
    let mut chunk = vec![0u8; 64 * 1024];
    move |cx| {
        cx.quiet = true;
        let s = match sock {
            Some(s) => s,
            None if cx.now < start => {
                cx.wake_at(start);
                return;
            }
            None => {
                let Ok(s) = cx.socket() else { return };
                let _ = cx.bind(
                    s,
                    SocketAddr::new(IpAddr::V4(SENDER), CLIENT_PORT + k as u16),
                );
                let _ = cx.connect(s, SocketAddr::new(IpAddr::V4(RECEIVER), PORT));
                sock = Some(s);
                s
            }
        };
        while written < bytes {
            let n = ((bytes - written) as usize).min(chunk.len());
            for (i, b) in chunk[..n].iter_mut().enumerate() {
                *b = pattern(k, written + i as u64);
            }
            match cx.send(s, &chunk[..n]) {
                Ok(0) => break,
                Ok(m) => written += m as u64,
                Err(_) => break,
            }
        }
        if written == bytes && !closed {
            closed = cx.shutdown(s, Shutdown::Write).is_ok();
        }
    }
}

/// The receiver application: accepts `flows` connections and checks every byte.
fn receiver_app(
    flows: usize,
    per_flow: u64,
    shared: Rc<RefCell<Shared>>,
) -> impl FnMut(&mut AppCtx<'_>) + 'static {
    let mut listener: Option<SocketId> = None;
    let mut conns: Vec<(SocketId, usize)> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    move |cx| {
        cx.quiet = true;
        let l = match listener {
            Some(l) => l,
            None => {
                let Ok(l) = cx.socket() else { return };
                let _ = cx.bind(l, SocketAddr::new(IpAddr::V4(RECEIVER), PORT));
                let _ = cx.listen(l, 64);
                listener = Some(l);
                l
            }
        };
        while let Ok((s, peer)) = cx.accept(l) {
            let k = usize::from(peer.port().wrapping_sub(CLIENT_PORT));
            if k < flows {
                conns.push((s, k));
            }
        }
        let mut sh = shared.borrow_mut();
        if sh.at_all_started.is_none() && conns.len() == flows {
            let snap = sh.flows.iter().map(|f| f.received).collect();
            sh.at_all_started = Some((cx.now, snap));
        }
        for &(s, k) in &conns {
            loop {
                match cx.recv(s, &mut buf) {
                    Ok(0) | Err(Errno::EAGAIN) => break,
                    Ok(n) => {
                        let f = &mut sh.flows[k];
                        let base = f.received;
                        if f.error.is_none() {
                            if base + n as u64 > per_flow {
                                f.error = Some(format!(
                                    "flow {k}: {} bytes delivered, {per_flow} sent",
                                    base + n as u64
                                ));
                            } else if let Some(i) = buf[..n]
                                .iter()
                                .enumerate()
                                .position(|(i, &b)| b != pattern(k, base + i as u64))
                            {
                                f.error = Some(format!(
                                    "flow {k}: wrong byte at offset {}",
                                    base + i as u64
                                ));
                            }
                        }
                        f.received += n as u64;
                        if f.received >= per_flow && f.done_at.is_none() {
                            f.done_at = Some(cx.now);
                        }
                    }
                    Err(e) => {
                        let f = &mut sh.flows[k];
                        if f.error.is_none() && f.done_at.is_none() {
                            f.error = Some(format!("flow {k}: recv failed: {e}"));
                        }
                        break;
                    }
                }
            }
        }
        if sh.at_first_done.is_none() && sh.flows.iter().any(|f| f.done_at.is_some()) {
            let snap = sh.flows.iter().map(|f| f.received).collect();
            sh.at_first_done = Some((cx.now, snap));
        }
    }
}

/// Jain's fairness index (Σx)² / (n · Σx²); 1 when all equal, 1/n when one takes all.
pub fn jain(xs: &[f64]) -> f64 {
    let s: f64 = xs.iter().sum();
    let q: f64 = xs.iter().map(|x| x * x).sum();
    if q == 0.0 {
        return 0.0;
    }
    s * s / (xs.len() as f64 * q)
}

/// Runs one transfer of `bytes` (split over the scenario's flows) with algorithm `cc`.
pub fn run(sc: &Scenario, cc: &str, bytes: u64, seed: u64, limit: Duration) -> RunResult {
    let fail = |m: String| RunResult {
        failure: Some(m),
        ..RunResult::default()
    };
    let per_flow = bytes / sc.flows as u64;
    let shared = Rc::new(RefCell::new(Shared {
        flows: (0..sc.flows).map(|_| Flow::default()).collect(),
        at_all_started: None,
        at_first_done: None,
    }));
    let (a, b) = match (
        stack_host(1, SENDER, cc, sc.ecn_threshold.is_some()),
        stack_host(2, RECEIVER, cc, sc.ecn_threshold.is_some()),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return fail(e),
    };
    let mut sim: Sim<Counted> = Sim::new(seed);
    let ha = sim.add_host(
        "sender",
        Counted {
            host: a,
            high: HashMap::new(),
            retrans: 0,
            ect_in: 0,
            ce_in: 0,
        },
    );
    let hb = sim.add_host(
        "receiver",
        Counted {
            host: b,
            high: HashMap::new(),
            retrans: 0,
            ect_in: 0,
            ce_in: 0,
        },
    );
    let half = RTT / 2;
    let mut fwd = ChannelConfig::bottleneck(half, RATE_BPS, BDP_PACKETS);
    fwd.loss = sc.loss;
    fwd.burst_loss = sc.burst;
    fwd.reorder = sc.reorder;
    fwd.reorder_delay = sc.reorder_delay;
    fwd.ecn = sc.ecn_threshold.map(|threshold_packets| EcnMarking {
        threshold_packets,
        not_ect: NotEctPolicy::Drop,
    });
    let back = ChannelConfig::bottleneck(half, RATE_BPS, BDP_PACKETS);
    sim.add_link(
        ha,
        hb,
        LinkConfig {
            a_to_b: fwd,
            b_to_a: back,
        },
    );
    let t0 = sim.now();
    let sh = shared.clone();
    sim.with_host(hb, |h, now| {
        h.host.start_app(now, receiver_app(sc.flows, per_flow, sh));
    });
    sim.with_host(ha, |h, now| {
        for k in 0..sc.flows {
            let start = now + sc.stagger * k as u32;
            h.host.start_app(now, sender_app(k, per_flow, start));
        }
    });
    let end = t0 + limit;
    let sh = shared.clone();
    sim.run_until_pred(end, move |_| {
        let s = sh.borrow();
        s.flows.iter().any(|f| f.error.is_some()) || s.flows.iter().all(|f| f.done_at.is_some())
    });
    let s = shared.borrow();
    if let Some(e) = s.flows.iter().find_map(|f| f.error.clone()) {
        return fail(e);
    }
    let Some(last) = s
        .flows
        .iter()
        .map(|f| f.done_at)
        .collect::<Option<Vec<_>>>()
    else {
        let got: u64 = s.flows.iter().map(|f| f.received).sum();
        return fail(format!(
            "not finished after {} s of virtual time ({got} of {bytes} bytes)",
            limit.as_secs_f64()
        ));
    };
    let last = last.into_iter().max().unwrap_or(t0);
    let secs = (last - t0).as_secs_f64();
    // Fairness over the interval in which every flow was running: from the last accept to
    // the first flow's last byte.
    let jain_idx = match (&s.at_all_started, &s.at_first_done) {
        (Some((ta, a)), Some((tb, b))) if sc.flows > 1 && ta < tb => Some(jain(
            &a.iter()
                .zip(b)
                .map(|(&x, &y)| y.saturating_sub(x) as f64)
                .collect::<Vec<_>>(),
        )),
        _ if sc.flows > 1 => None,
        _ => Some(1.0),
    };
    RunResult {
        goodput_mbps: (per_flow * sc.flows as u64) as f64 * 8.0 / secs / 1e6,
        retrans_bytes: sim.host(ha).retrans,
        secs,
        jain: jain_idx,
        ect_ce: (sim.host(hb).ect_in, sim.host(hb).ce_in),
        failure: None,
    }
}

/// The median of `xs` (mean of the middle two for an even count); 0 for none.
pub fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(|a, b| a.total_cmp(b));
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

struct Args {
    bytes: u64,
    runs: u64,
    seed: u64,
    ccs: Vec<String>,
    rows: Option<Vec<String>>,
    limit_s: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        bytes: 100_000_000,
        runs: 3,
        seed: 1,
        ccs: synack::cc::AVAILABLE
            .iter()
            .map(|s| s.to_string())
            .collect(),
        rows: None,
        limit_s: 3600,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or_else(|| format!("{k} needs a value"));
        match k.as_str() {
            "--bytes" => a.bytes = v()?.parse().map_err(|e| format!("--bytes: {e}"))?,
            "--runs" => a.runs = v()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--seed" => a.seed = v()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--limit" => a.limit_s = v()?.parse().map_err(|e| format!("--limit: {e}"))?,
            "--cc" => a.ccs = v()?.split(',').map(str::to_string).collect(),
            "--rows" => a.rows = Some(v()?.split(',').map(str::to_string).collect()),
            _ => return Err(format!("unknown argument {k}")),
        }
    }
    if a.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    Ok(a)
}

#[allow(dead_code)]
fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cc_goodput: {e}");
            std::process::exit(2);
        }
    };
    let seeds: Vec<u64> = (a.seed..a.seed + a.runs).collect();
    println!(
        "{} bytes per row (split evenly over the flows); 100 Mbit/s, 50 ms RTT, drop-tail \
         queue of {BDP_PACKETS} packets (1 BDP); seeds {seeds:?}; medians\n",
        a.bytes
    );
    println!(
        "| path | CC | goodput (Mbit/s) | retransmitted (bytes) | time (s) | Jain index | Mathis bound for Reno (Mbit/s) | runs |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let wall = std::time::Instant::now();
    for sc in scenarios() {
        if let Some(rows) = &a.rows
            && !rows.iter().any(|r| r == sc.name)
        {
            continue;
        }
        for cc in &a.ccs {
            let t = std::time::Instant::now();
            let rs: Vec<RunResult> = seeds
                .iter()
                .map(|&s| run(&sc, cc, a.bytes, s, Duration::from_secs(a.limit_s)))
                .collect();
            let mathis = sc
                .mathis_mbps()
                .map_or("—".to_string(), |m| format!("{m:.1}"));
            let jain_s = match rs.iter().map(|r| r.jain).collect::<Option<Vec<_>>>() {
                _ if sc.flows == 1 => "—".to_string(),
                Some(j) => format!("{:.3}", median(j)),
                None => "n/a (no overlap)".to_string(),
            };
            let failed: Vec<String> = rs
                .iter()
                .zip(&seeds)
                .filter_map(|(r, s)| r.failure.as_ref().map(|f| format!("seed {s}: {f}")))
                .collect();
            if failed.is_empty() {
                println!(
                    "| {} | {cc} | {:.1} | {:.0} | {:.2} | {jain_s} | {mathis} | {} |",
                    sc.label,
                    median(rs.iter().map(|r| r.goodput_mbps).collect()),
                    median(rs.iter().map(|r| r.retrans_bytes as f64).collect()),
                    median(rs.iter().map(|r| r.secs).collect()),
                    rs.len()
                );
            } else {
                println!(
                    "| {} | {cc} | FAILED ({}) | | | | {mathis} | {} |",
                    sc.label,
                    failed.join("; "),
                    rs.len()
                );
            }
            eprintln!(
                "  {} / {cc}: {:.1} s wall; ECT/CE packets received per run: {:?}",
                sc.name,
                t.elapsed().as_secs_f64(),
                rs.iter().map(|r| r.ect_ce).collect::<Vec<_>>()
            );
        }
    }
    eprintln!("total {:.1} s wall", wall.elapsed().as_secs_f64());
}
