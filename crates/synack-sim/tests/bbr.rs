//! BBR v1 (draft-cardwell-iccrg-bbr-congestion-control-00) and pacing through the full host
//! stack in the simulator: one bulk flow over a 10 Mbit/s bottleneck with a 40 ms round trip.
//! The sender samples `TCP_INFO` (with `TCP_CC_INFO`'s BBR state) after every event; a capture
//! sink records when each data packet left the sender and when it reached the receiver, so
//! queueing delay and inter-departure times are measured on the wire, not taken from the
//! algorithm's own figures.

#[allow(dead_code)]
#[path = "../examples/cc_goodput.rs"]
mod bench;

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;

use synack::bbr::{BbrInfo, Mode};
use synack::stack::{Errno, Shutdown, SocketId, TcpInfo};
use synack_sim::stack_host::{AppCtx, StackHost};
use synack_sim::{
    CaptureSink, ChannelConfig, Duration, Instant, LinkConfig, PacketEvent, PacketPoint, Sim,
};

const SENDER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const RECEIVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// Bottleneck rate.
const RATE_BPS: u64 = 10_000_000;
/// One-way propagation delay (40 ms round trip).
const ONE_WAY: Duration = Duration::from_millis(20);
/// What 10 Mbit/s carries as TCP payload with 1500-byte packets (1448 payload bytes each),
/// bytes per second.
const PAYLOAD_RATE: f64 = RATE_BPS as f64 / 8.0 * 1448.0 / 1500.0;

/// One `TCP_INFO` reading of the sender.
#[derive(Clone, Copy, Debug)]
struct Sample {
    t: Instant,
    info: TcpInfo,
    bbr: Option<BbrInfo>,
}

/// A data packet on the forward link: when it left, when it arrived (if it did), its
/// sequence number and payload length.
#[derive(Clone, Copy, Debug)]
struct Pkt {
    sent: Instant,
    delivered: Option<Instant>,
    seq: u32,
    len: u32,
}

#[derive(Default)]
struct Wire {
    pkts: Vec<Pkt>,
    /// Packets in flight by IP identification.
    by_id: HashMap<u16, usize>,
}

impl CaptureSink for Wire {
    fn packet(&mut self, ev: &PacketEvent<'_>) {
        let d = ev.data;
        if d.len() < 40 || d[0] >> 4 != 4 || d[9] != 6 {
            return;
        }
        let ihl = usize::from(d[0] & 0xf) * 4;
        let Some(tcp) = d.get(ihl..) else { return };
        if tcp.len() < 20 || u16::from_be_bytes([tcp[0], tcp[1]]) != 40_000 {
            return;
        }
        let doff = usize::from(tcp[12] >> 4) * 4;
        let len = tcp.len().saturating_sub(doff) as u32;
        if len == 0 {
            return;
        }
        let id = u16::from_be_bytes([d[4], d[5]]);
        match ev.point {
            PacketPoint::Sent => {
                let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
                self.by_id.insert(id, self.pkts.len());
                self.pkts.push(Pkt {
                    sent: ev.time,
                    delivered: None,
                    seq,
                    len,
                });
            }
            PacketPoint::Delivered => {
                if let Some(&i) = self.by_id.get(&id) {
                    self.pkts[i].delivered = Some(ev.time);
                }
            }
        }
    }
}

struct Run {
    samples: Vec<Sample>,
    wire: Vec<Pkt>,
    /// When the receiver read the last byte.
    done: Option<Instant>,
}

impl Run {
    /// The time each BBR mode was first entered after `from`.
    fn entered(&self, mode: Mode, from: Instant) -> Option<Instant> {
        self.samples
            .iter()
            .find(|s| s.t >= from && s.bbr.is_some_and(|b| b.mode == mode))
            .map(|s| s.t)
    }

    /// Queueing delay of each delivered data packet, by departure time: its one-way delay
    /// less propagation and its own serialization.
    fn queue_delays(&self) -> Vec<(Instant, Duration)> {
        let ser = ChannelConfig::bottleneck(ONE_WAY, RATE_BPS, 1).serialization_time(1500);
        self.wire
            .iter()
            .filter_map(|p| {
                let d = p.delivered? - p.sent;
                Some((p.sent, d.saturating_sub(ONE_WAY).saturating_sub(ser)))
            })
            .collect()
    }
}

/// One flow of `bytes` from sender to receiver with algorithm `cc`, random loss `loss` on
/// the data direction, a drop-tail queue of `queue` packets, for at most `limit`.
fn run(cc: &str, bytes: u64, queue: usize, loss: f64, limit: Duration) -> Run {
    let host = |secret: u8, addr: Ipv4Addr| {
        let mut h = StackHost::new([secret; 16], IpAddr::V4(addr));
        h.stack.set_annotations(false);
        for (k, v) in [
            ("net.ipv4.tcp_congestion_control", cc),
            ("net.ipv4.tcp_wmem", "4096 4194304 4194304"),
            ("net.ipv4.tcp_rmem", "4096 4194304 4194304"),
        ] {
            h.sysctl_set(k, v).expect("sysctl");
        }
        h
    };
    let mut sim: Sim<StackHost> = Sim::new(1);
    let a = sim.add_host("sender", host(1, SENDER));
    let b = sim.add_host("receiver", host(2, RECEIVER));
    let mut fwd = ChannelConfig::bottleneck(ONE_WAY, RATE_BPS, queue);
    fwd.loss = loss;
    sim.add_link(
        a,
        b,
        LinkConfig {
            a_to_b: fwd,
            b_to_a: ChannelConfig::bottleneck(ONE_WAY, RATE_BPS, queue),
        },
    );
    let wire = Rc::new(RefCell::new(Wire::default()));
    sim.add_sink(wire.clone());
    let samples = Rc::new(RefCell::new(Vec::<Sample>::new()));
    let done = Rc::new(RefCell::new(None::<Instant>));

    let d = done.clone();
    sim.with_host(b, move |h, now| {
        let mut listener: Option<SocketId> = None;
        let mut conn: Option<SocketId> = None;
        let mut got = 0u64;
        let mut buf = vec![0u8; 65536];
        h.start_app(now, move |cx: &mut AppCtx<'_>| {
            cx.quiet = true;
            let l = *listener.get_or_insert_with(|| {
                let l = cx.socket().expect("socket");
                cx.bind(l, SocketAddr::new(IpAddr::V4(RECEIVER), 5001))
                    .expect("bind");
                cx.listen(l, 4).expect("listen");
                l
            });
            if conn.is_none()
                && let Ok((s, _)) = cx.accept(l)
            {
                conn = Some(s);
            }
            let Some(s) = conn else { return };
            loop {
                match cx.recv(s, &mut buf) {
                    Ok(0) | Err(Errno::EAGAIN) => break,
                    Ok(n) => {
                        got += n as u64;
                        if got >= bytes && d.borrow().is_none() {
                            *d.borrow_mut() = Some(cx.now);
                        }
                    }
                    Err(_) => break,
                }
            }
        });
    });
    let smp = samples.clone();
    sim.with_host(a, move |h, now| {
        let mut sock: Option<SocketId> = None;
        let mut written = 0u64;
        let chunk = vec![0x5au8; 65536];
        h.start_app(now, move |cx: &mut AppCtx<'_>| {
            cx.quiet = true;
            let s = *sock.get_or_insert_with(|| {
                let s = cx.socket().expect("socket");
                cx.bind(s, SocketAddr::new(IpAddr::V4(SENDER), 40_000))
                    .expect("bind");
                let _ = cx.connect(s, SocketAddr::new(IpAddr::V4(RECEIVER), 5001));
                s
            });
            while written < bytes {
                let n = ((bytes - written) as usize).min(chunk.len());
                match cx.send(s, &chunk[..n]) {
                    Ok(0) | Err(_) => break,
                    Ok(m) => written += m as u64,
                }
            }
            if written == bytes {
                let _ = cx.shutdown(s, Shutdown::Write);
            }
            if let Ok(info) = cx.stack.tcp_info(s)
                && info.state.is_synchronized()
            {
                let bbr = cx.stack.bbr_info(s).ok().flatten();
                smp.borrow_mut().push(Sample {
                    t: cx.now,
                    info,
                    bbr,
                });
            }
        });
    });
    let d = done.clone();
    sim.run_until_pred(Instant::ZERO + limit, move |_| d.borrow().is_some());
    let samples = samples.borrow().clone();
    let wire = std::mem::take(&mut wire.borrow_mut().pkts);
    let done = *done.borrow();
    Run {
        samples,
        wire,
        done,
    }
}

/// STARTUP fills the pipe and a queue; once the bandwidth stops growing (three rounds
/// under +25%) BBR leaves STARTUP, and DRAIN empties the queue it built: packets sent
/// after DRAIN see almost no queueing delay. The queue (3 BDP) is deep enough that STARTUP
/// loses nothing, so only the model acts.
#[test]
fn startup_exits_on_a_plateau_and_drain_empties_the_queue() {
    let r = run("bbr", 3_000_000, 100, 0.0, Duration::from_secs(20));
    assert!(r.done.is_some(), "transfer did not finish");
    let t0 = r.samples.first().expect("samples").t;
    let drain = r.entered(Mode::Drain, t0).expect("DRAIN entered");
    let probe_bw = r.entered(Mode::ProbeBw, drain).expect("PROBE_BW entered");
    // STARTUP doubles per round from 10 segments: the 10 Mbit/s pipe (35 segments per
    // 40 ms) is full after a few rounds; three more rounds confirm the plateau.
    assert!(
        drain - t0 < Duration::from_millis(600),
        "STARTUP lasted {:?}",
        drain - t0
    );
    let s = r.samples.iter().find(|s| s.t >= drain).unwrap();
    let bbr = s.bbr.unwrap();
    let bw = bbr.btl_bw as f64;
    assert!(
        (bw / PAYLOAD_RATE - 1.0).abs() < 0.1,
        "BtlBw {bw:.0} B/s, the link carries {PAYLOAD_RATE:.0}"
    );
    assert!(bbr.pacing_gain < 256, "DRAIN paces below the estimate");
    let q = r.queue_delays();
    let startup_max = q
        .iter()
        .filter(|(t, _)| *t < drain)
        .map(|&(_, d)| d)
        .max()
        .unwrap();
    // In STARTUP the cwnd gain of 2.89 parks well over a BDP (40 ms at 10 Mbit/s) in the
    // queue.
    assert!(
        startup_max > Duration::from_millis(25),
        "STARTUP queue delay peaked at {startup_max:?}"
    );
    // DRAIN ends when what is in flight is one BDP plus the send quanta (3 segments, 3.5 ms
    // of queue at 10 Mbit/s): the packets sent right after it found the queue almost empty.
    let after = q
        .iter()
        .filter(|(t, _)| *t >= probe_bw && *t < probe_bw + Duration::from_millis(80))
        .map(|&(_, d)| d)
        .min()
        .expect("packets after DRAIN");
    assert!(
        after < Duration::from_millis(5) && after * 5 < startup_max,
        "queue delay after DRAIN still {after:?}"
    );
}

/// PROBE_BW cycles its pacing gain 1.25, 0.75, then 1 for six phases, each about one
/// RTprop long.
#[test]
fn probe_bw_cycles_the_pacing_gain() {
    let r = run("bbr", 8_000_000, 100, 0.0, Duration::from_secs(30));
    assert!(r.done.is_some(), "transfer did not finish");
    let t0 = r.samples.first().expect("samples").t;
    let start = r.entered(Mode::ProbeBw, t0).expect("PROBE_BW entered");
    // The gains in force, one entry per change.
    let mut phases: Vec<(Instant, u32)> = Vec::new();
    for s in r.samples.iter().filter(|s| s.t >= start) {
        let Some(b) = s.bbr else { continue };
        if b.mode != Mode::ProbeBw {
            break;
        }
        if phases.last().is_none_or(|&(_, g)| g != b.pacing_gain) {
            phases.push((s.t, b.pacing_gain));
        }
    }
    let gains: Vec<u32> = phases.iter().map(|&(_, g)| g).collect();
    // 1.25 = 320/256, 0.75 = 192/256, 1 = 256/256; every probe is followed by a drain
    // phase, then by cruising at 1.
    let probes: Vec<usize> = (0..gains.len()).filter(|&i| gains[i] == 320).collect();
    assert!(probes.len() >= 4, "gains seen: {gains:?}");
    for &i in &probes {
        if i + 2 < gains.len() {
            assert_eq!(&gains[i..i + 3], &[320, 192, 256], "gains seen: {gains:?}");
        }
    }
    // A full cycle (probe to probe) is eight phases of at least RTprop (40 ms): 320 ms
    // or a little more.
    for w in probes.windows(2) {
        let cycle = phases[w[1]].0 - phases[w[0]].0;
        assert!(
            cycle >= Duration::from_millis(320) && cycle < Duration::from_millis(480),
            "cycle of {cycle:?}; gains {gains:?}"
        );
    }
}

/// With no RTT sample below RTprop for 10 s, BBR enters PROBE_RTT: the window drops to four
/// segments for at least 200 ms and a round, then the gain cycle resumes.
#[test]
fn probe_rtt_after_ten_seconds_without_a_lower_rtt() {
    let r = run("bbr", 20_000_000, 100, 0.0, Duration::from_secs(40));
    assert!(r.done.is_some(), "transfer did not finish");
    let t0 = r.samples.first().expect("samples").t;
    let probe_rtt = r.entered(Mode::ProbeRtt, t0).expect("PROBE_RTT entered");
    // RTprop was last lowered in the first round trips (the path's delay never changes).
    let since = probe_rtt - t0;
    assert!(
        since >= Duration::from_secs(10) && since < Duration::from_millis(10_500),
        "PROBE_RTT {since:?} after the start"
    );
    let during: Vec<&Sample> = r
        .samples
        .iter()
        .filter(|s| s.t >= probe_rtt && s.bbr.is_some_and(|b| b.mode == Mode::ProbeRtt))
        .collect();
    let last = during.last().unwrap().t;
    let held = last - probe_rtt;
    assert!(
        held >= Duration::from_millis(200) && held < Duration::from_millis(400),
        "PROBE_RTT lasted {held:?}"
    );
    assert!(
        during.iter().any(|s| s.info.snd_cwnd == Some(4)),
        "cwnd went down to 4 segments"
    );
    let back = r.entered(Mode::ProbeBw, last).expect("PROBE_BW again");
    let after = r.samples.iter().find(|s| s.t >= back).unwrap();
    assert!(after.info.snd_cwnd.unwrap() > 4);
    // The next one comes 10 s after this one ended, if the run lasts that long.
    if let Some(next) = r.entered(Mode::ProbeRtt, back) {
        assert!(next - back >= Duration::from_secs(10));
    }
}

/// Pacing: consecutive data segments leave at least `len / pacing_rate` apart (the pacing
/// rate in force then), so a window goes out spread over the round trip instead of in
/// ACK-clocked bursts. CUBIC, not paced, sends back-to-back pairs in slow start.
#[test]
fn pacing_spreads_segments_over_the_rtt() {
    let r = run("bbr", 3_000_000, 100, 0.0, Duration::from_secs(20));
    assert!(r.done.is_some(), "transfer did not finish");
    let rate_at = |t: Instant| {
        r.samples
            .iter()
            .rev()
            .find(|s| s.t <= t)
            .map_or(0, |s| s.info.pacing_rate)
    };
    let first: Vec<&Pkt> = {
        let mut high = 0u32;
        r.wire
            .iter()
            .filter(|p| {
                let new = p.seq.wrapping_sub(high) as i32 >= 0 || high == 0;
                if new {
                    high = p.seq.wrapping_add(p.len);
                }
                new
            })
            .collect()
    };
    assert!(first.len() > 1000);
    let mut short = 0;
    let mut ratios = Vec::new();
    for w in first.windows(2) {
        let gap = (w[1].sent - w[0].sent).as_secs_f64();
        // The rate in force when the earlier one left (sampled after that event) and the
        // later, in case it changed in between: the gap is at least len over the faster.
        let rate = rate_at(w[0].sent).max(rate_at(w[1].sent)) as f64;
        assert!(rate > 0.0, "paced from the first segment");
        let want = f64::from(w[0].len) / rate;
        if gap < want * 0.99 {
            short += 1;
        }
        ratios.push(gap / want);
    }
    assert_eq!(short, 0, "{short} segments left early");
    // In PROBE_BW (gain 1 most of the time) most gaps are the pacing interval itself: the
    // segments of a window are spread evenly, not bunched.
    let pb = r.entered(Mode::ProbeBw, Instant::ZERO).unwrap();
    let steady: Vec<f64> = first
        .windows(2)
        .zip(&ratios)
        .filter(|(w, _)| w[0].sent > pb + Duration::from_millis(200))
        .map(|(_, &x)| x)
        .collect();
    let even = steady.iter().filter(|&&x| x < 1.5).count();
    assert!(
        even * 10 >= steady.len() * 8,
        "{even} of {} gaps within 1.5x the pacing interval",
        steady.len()
    );

    // The measurement tells the difference: CUBIC's slow start sends two segments per ACK
    // back to back.
    let c = run("cubic", 1_000_000, 100, 0.0, Duration::from_secs(20));
    let pairs = c
        .wire
        .windows(2)
        .filter(|w| w[1].sent - w[0].sent < Duration::from_micros(10))
        .count();
    assert!(pairs > 50, "CUBIC sent {pairs} back-to-back pairs");
}

/// Under 1% random loss BBR keeps most of the link (it does not read loss as congestion),
/// while CUBIC stays near the Mathis bound. 100 Mbit/s, 50 ms RTT, BDP queue: the
/// `cc_goodput` table's row.
#[test]
fn bbr_keeps_goodput_under_one_percent_loss_where_cubic_does_not() {
    let sc = bench::scenarios()
        .into_iter()
        .find(|s| s.name == "loss1")
        .expect("scenario");
    let bbr = bench::run(&sc, "bbr", 10_000_000, 3, Duration::from_secs(120));
    let cubic = bench::run(&sc, "cubic", 10_000_000, 3, Duration::from_secs(120));
    assert_eq!(bbr.failure, None);
    assert_eq!(cubic.failure, None);
    let mathis = sc.mathis_mbps().unwrap();
    assert!(
        bbr.goodput_mbps > 40.0,
        "BBR at 1% loss: {:.1} Mbit/s",
        bbr.goodput_mbps
    );
    assert!(
        cubic.goodput_mbps < 2.0 * mathis,
        "CUBIC at 1% loss: {:.1} Mbit/s (Mathis {mathis:.1})",
        cubic.goodput_mbps
    );
    assert!(bbr.goodput_mbps > 5.0 * cubic.goodput_mbps);
}

/// Window-based algorithms report a measured delivery rate too (bytes acknowledged over
/// each round trip): once CUBIC keeps the 10 Mbit/s bottleneck busy, `tcpi_delivery_rate`
/// reads the bottleneck's payload rate.
#[test]
fn cubic_reports_the_measured_delivery_rate() {
    let r = run("cubic", 3_000_000, 100, 0.0, Duration::from_secs(20));
    let done = r.done.expect("transfer did not finish");
    let t0 = r.samples.first().expect("samples").t;
    // The second half of the transfer: slow start is long over, the queue keeps the link
    // busy, and no sample is paced.
    let half = t0 + (done - t0) / 2;
    let mut rates: Vec<u64> = r
        .samples
        .iter()
        .filter(|s| s.t >= half && s.t <= done)
        .map(|s| {
            assert_eq!(s.info.pacing_rate, 0, "CUBIC is not paced");
            s.info.delivery_rate
        })
        .collect();
    assert!(rates.len() > 100, "{} samples", rates.len());
    rates.sort_unstable();
    let median = rates[rates.len() / 2] as f64;
    assert!(
        (0.9 * PAYLOAD_RATE..=1.05 * PAYLOAD_RATE).contains(&median),
        "median delivery rate {median} B/s against {PAYLOAD_RATE} B/s on the wire"
    );
}
