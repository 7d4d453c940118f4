//! Loss recovery and congestion control scenarios: fast retransmit (RFC 5681 §3.2), SACK
//! recovery (RFC 6675), congestion control on a bottleneck (RFC 5681, RFC 9438), the
//! retransmission timer's backoff (RFC 6298), tail loss probes (RFC 8985) and ECN
//! (RFC 3168).
//!
//! The bulk scenarios share one topology: the client sends to the server over a 10 Mbit/s
//! bottleneck with 20 ms one-way delay (40 ms round trip); the reverse path only delays.

use synack::{Duration, Instant};

use super::scenarios::{MS, any4, check_note, gap, retransmissions, secs};
use super::{Act, CLIENT_ADDR, Checks, Lab, Outcome, Peer, SERVER_ADDR, Seg, sa};
use crate::capture::Direction;
use crate::config::{ChannelConfig, EcnMarking, LinkConfig, NotEctPolicy};
use crate::host::{HostId, LinkId};

/// One-way delay of the WAN links, ms.
pub(super) const WAN_DELAY: u64 = 20;
/// The bottleneck's rate, bit/s.
const RATE: u64 = 10_000_000;

/// Sequence-space comparison (RFC 9293 §3.4): `a` before `b`.
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// The client's data segments (first transmissions and retransmissions), in order.
fn data_of<'a>(out: &'a Outcome, host: &str) -> Vec<&'a Seg> {
    out.sent_by(host)
        .into_iter()
        .filter(|s| s.len > 0)
        .collect()
}

/// The ACKs `host` sent (no SYN), in order.
fn acks_of<'a>(out: &'a Outcome, host: &str) -> Vec<&'a Seg> {
    out.sent_by(host)
        .into_iter()
        .filter(|s| s.flags.ack() && !s.flags.syn() && !s.flags.rst())
        .collect()
}

/// The first transmissions the link lost, in order.
fn lost_segs<'a>(data: &[&'a Seg]) -> Vec<&'a Seg> {
    let mut high: Option<u32> = None;
    let mut lost = Vec::new();
    for s in data {
        let new = high.is_none_or(|h| !before(s.seq, h));
        if new && s.dropped.is_some() {
            lost.push(*s);
        }
        let end = s.seq.wrapping_add(s.len);
        if high.is_none_or(|h| before(h, end)) {
            high = Some(end);
        }
    }
    lost
}

/// The retransmissions (segments starting below the highest sequence number sent).
fn retransmitted<'a>(data: &[&'a Seg]) -> Vec<&'a Seg> {
    let mut high: Option<u32> = None;
    let mut out = Vec::new();
    for s in data {
        if high.is_some_and(|h| before(s.seq, h)) {
            out.push(*s);
        }
        let end = s.seq.wrapping_add(s.len);
        if high.is_none_or(|h| before(h, end)) {
            high = Some(end);
        }
    }
    out
}

/// Bytes the receiver's SACK blocks in `ack` cover above `seq`.
fn sacked_above(ack: &Seg, seq: u32) -> u32 {
    ack.sack
        .iter()
        .map(|&(l, r)| {
            let l = if before(l, seq) { seq } else { l };
            if before(l, r) { r.wrapping_sub(l) } else { 0 }
        })
        .sum()
}

/// Whether an ACK's SACK blocks cover `[seq, seq + len)`.
fn sack_covers(ack: &Seg, seq: u32, len: u32) -> bool {
    let end = seq.wrapping_add(len);
    ack.sack
        .iter()
        .any(|&(l, r)| !before(seq, l) && !before(r, end))
}

/// The client and server on the WAN bottleneck (`a_to_b` is the client's direction), with
/// a filter that loses the first transmissions of the data segments numbered `lost`
/// (1-based, counting new data only). The server reads and checks the pattern and closes
/// at its end; the client sends `bytes` of pattern, then closes after `close_after`.
struct Transfer<'a> {
    client: &'a [(&'a str, &'a str)],
    server: &'a [(&'a str, &'a str)],
    a_to_b: ChannelConfig,
    lost: &'static [u32],
    bytes: usize,
    /// `None`: close right after the data; `Some(d)`: keep the socket `d` (to sample it).
    close_after: Option<Duration>,
    sample: bool,
}

fn build_transfer(lab: &mut Lab, t: Transfer<'_>) -> Result<(HostId, HostId, LinkId), String> {
    let c = lab.host("client", CLIENT_ADDR, t.client)?;
    let s = lab.host("server", SERVER_ADDR, t.server)?;
    let l = lab.link(
        c,
        s,
        LinkConfig {
            a_to_b: t.a_to_b,
            b_to_a: ChannelConfig::with_delay(MS(WAN_DELAY)),
        },
    );
    if !t.lost.is_empty() {
        let lost = t.lost;
        let mut n = 0u32;
        let mut high: Option<u32> = None;
        lab.sim.add_filter(l, Direction::AtoB, move |_, p| {
            let Some(s) = Seg::parse(Instant::ZERO, HostId(0), p) else {
                return false;
            };
            if s.len == 0 || high.is_some_and(|h| before(s.seq, h)) {
                return false;
            }
            high = Some(s.seq.wrapping_add(s.len));
            n += 1;
            lost.contains(&n)
        });
    }
    lab.app(
        s,
        Instant::ZERO,
        Peer::server(any4(21))
            .quiet()
            .check_pattern()
            .on_eof(Duration::ZERO, Act::Close),
    );
    let mut client = Peer::client(sa(SERVER_ADDR, 21))
        .quiet()
        .at(Duration::ZERO, Act::SendPattern(t.bytes));
    if t.sample {
        // Zero: sample after every event on the host (a line only when a value changed).
        client = client.sample_cwnd(Duration::ZERO);
    }
    client = client.at(t.close_after.unwrap_or(Duration::ZERO), Act::Close);
    lab.app(c, Instant::ZERO, client);
    lab.limit = Instant::from_secs(600);
    Ok((c, s, l))
}

// ------------------------------------------------------------------------ fast-retransmit

/// Bytes sent in `fast-retransmit` and `sack-recovery`.
const FR_BYTES: usize = 256 * 1024;
/// The data segment `fast-retransmit` loses.
const FR_LOST: &[u32] = &[30];
/// The data segments `sack-recovery` loses.
const SR_LOST: &[u32] = &[30, 32, 34];

fn bottleneck(queue: usize) -> ChannelConfig {
    ChannelConfig::bottleneck(MS(WAN_DELAY), RATE, queue)
}

/// `fast-retransmit`: one loss, SACK off (the classic mechanism of the notes).
pub(super) fn build_fast_retransmit(lab: &mut Lab) -> Result<(), String> {
    build_transfer(
        lab,
        Transfer {
            client: &[
                ("net.ipv4.tcp_wmem", "4096 1048576 4194304"),
                ("net.ipv4.tcp_sack", "0"),
            ],
            server: &[],
            a_to_b: bottleneck(1000),
            lost: FR_LOST,
            bytes: FR_BYTES,
            close_after: None,
            sample: false,
        },
    )?;
    Ok(())
}

/// The ACK arrival time at the sender of an ACK the receiver sent at `t`.
fn arrival(t: Instant) -> Instant {
    t + MS(WAN_DELAY)
}

pub(super) fn check_fast_retransmit(out: &Outcome, c: &mut Checks) {
    let data = data_of(out, "client");
    let syn = out.sent_by("client").into_iter().find(|s| s.is_syn());
    c.check(
        syn.is_some_and(|s| !s.sack_ok),
        "SACK is off: the client's SYN offers no sackOK (tcp_sack=0)",
    );
    let lost = lost_segs(&data);
    let Some(&first) = lost.first() else {
        c.check(false, "the link loses a data segment");
        return;
    };
    c.eq("data segments lost", lost.len(), 1);
    c.check(
        true,
        format!(
            "data segment {} (seq {}) is lost at {}",
            FR_LOST[0], first.seq, first.time
        ),
    );
    let dups: Vec<&Seg> = acks_of(out, "server")
        .into_iter()
        .filter(|s| s.len == 0 && s.ack == first.seq && s.time > first.time)
        .collect();
    c.check(
        dups.len() >= 4,
        format!(
            "the receiver repeats ACK {} ({} times)",
            first.seq,
            dups.len()
        ),
    );
    c.check(
        dups.iter().all(|d| d.sack.is_empty()),
        "the duplicate ACKs carry no SACK blocks",
    );
    let retx = retransmitted(&data);
    match (retx.first(), dups.get(3)) {
        (Some(r), Some(third_dup)) => {
            // dups[0] is the first ACK of that number; 1..=3 are the duplicates.
            c.eq("the retransmission is the lost segment", r.seq, first.seq);
            // RFC 5681 §3.2 step 2: on the third duplicate ACK, retransmit at once.
            c.eq(
                "retransmitted when the third duplicate ACK arrives",
                r.time,
                arrival(third_dup.time),
            );
            c.check(
                gap(first.time, r.time) < 0.2,
                format!(
                    "well before a retransmission timeout: {} s after the loss",
                    gap(first.time, r.time)
                ),
            );
        }
        _ => {
            c.check(
                false,
                "the lost segment is retransmitted after three duplicate ACKs",
            );
        }
    }
    c.eq("segments retransmitted", retransmissions(&data), 1);
    check_note(
        c,
        out,
        "server",
        &format!("read {FR_BYTES} bytes, pattern intact"),
    );
}

// -------------------------------------------------------------------------- sack-recovery

/// `sack-recovery`: three losses in one window, SACK on.
pub(super) fn build_sack_recovery(lab: &mut Lab) -> Result<(), String> {
    build_transfer(
        lab,
        Transfer {
            client: &[("net.ipv4.tcp_wmem", "4096 1048576 4194304")],
            server: &[],
            a_to_b: bottleneck(1000),
            lost: SR_LOST,
            bytes: FR_BYTES,
            close_after: None,
            sample: false,
        },
    )?;
    Ok(())
}

pub(super) fn check_sack_recovery(out: &Outcome, c: &mut Checks) {
    let data = data_of(out, "client");
    let lost = lost_segs(&data);
    c.eq(
        "data segments lost (the 30th, 32nd and 34th)",
        lost.len(),
        SR_LOST.len(),
    );
    let Some(&first) = lost.first() else {
        return;
    };
    let smss = data.iter().map(|s| s.len).max().unwrap_or(1);
    let acks = acks_of(out, "server");
    c.check(
        acks.iter()
            .filter(|a| a.ack == first.seq && a.time > first.time)
            .skip(1)
            .all(|a| !a.sack.is_empty()),
        "the duplicate ACKs carry SACK blocks (RFC 2018) for the data past the hole",
    );
    // RFC 6675 §4 IsLost(first hole): more than (DupThresh − 1) · SMSS bytes SACKed above
    // it. §5 (c): the ACK that makes it true starts loss recovery.
    let trigger = acks
        .iter()
        .find(|a| a.ack == first.seq && sacked_above(a, first.seq) > 2 * smss)
        .copied();
    let retx = retransmitted(&data);
    match (trigger, retx.first()) {
        (Some(a), Some(r)) => {
            c.eq(
                "recovery starts when the ACK arrives that SACKs more than 2 SMSS above the hole \
                 (RFC 6675 IsLost, DupThresh 3)",
                r.time,
                arrival(a.time),
            );
            c.eq(
                "the first retransmission is the first hole",
                r.seq,
                first.seq,
            );
        }
        _ => {
            c.check(
                false,
                "a retransmission after the scoreboard marks the hole lost",
            );
        }
    }
    // RFC 6675 §4 NextSeg (1): the lowest lost hole first, so the holes go in order, each
    // once.
    let got: Vec<u32> = retx.iter().map(|s| s.seq).collect();
    let want: Vec<u32> = lost.iter().map(|s| s.seq).collect();
    c.eq("holes retransmitted in order, each once", got, want);
    // Nothing the receiver had SACKed (in an ACK that reached the sender by then) is sent
    // again.
    let resent_sacked = retx.iter().find(|r| {
        acks.iter()
            .any(|a| arrival(a.time) <= r.time && sack_covers(a, r.seq, r.len))
    });
    c.check(
        resent_sacked.is_none(),
        match resent_sacked {
            None => "nothing SACKed is retransmitted".to_string(),
            Some(r) => format!(
                "a SACKed segment is retransmitted: seq {} at {}",
                r.seq, r.time
            ),
        },
    );
    let rto = retx.iter().any(|r| gap(first.time, r.time) >= 0.2);
    c.check(
        !rto,
        "every hole is repaired before a retransmission timeout",
    );
    check_note(
        c,
        out,
        "server",
        &format!("read {FR_BYTES} bytes, pattern intact"),
    );
}

// ----------------------------------------------------------------------------- congestion

/// The bottleneck's queue in `congestion`, packets.
const CC_QUEUE: usize = 50;
/// Bytes sent in `congestion`.
const CC_BYTES: usize = 4 << 20;

fn build_congestion_with(lab: &mut Lab, cc: &str) -> Result<(), String> {
    build_transfer(
        lab,
        Transfer {
            client: &[
                ("net.ipv4.tcp_wmem", "4096 4194304 4194304"),
                ("net.ipv4.tcp_congestion_control", cc),
            ],
            server: &[("net.ipv4.tcp_rmem", "4096 4194304 6291456")],
            a_to_b: bottleneck(CC_QUEUE),
            lost: &[],
            bytes: CC_BYTES,
            // Keep the socket (and the cwnd samples) until the transfer is surely over.
            close_after: Some(Duration::from_secs(5)),
            sample: true,
        },
    )?;
    Ok(())
}

/// `congestion`: Reno, the notes' picture.
pub(super) fn build_congestion(lab: &mut Lab) -> Result<(), String> {
    build_congestion_with(lab, "reno")
}

/// `congestion-cubic`: the default algorithm.
pub(super) fn build_congestion_cubic(lab: &mut Lab) -> Result<(), String> {
    build_congestion_with(lab, "cubic")
}

/// The `tcp_info` samples the client logged: (time, cwnd, ssthresh), in segments.
pub(crate) fn cwnd_samples(out: &Outcome) -> Vec<(Instant, u32, Option<u32>)> {
    out.notes_of("client")
        .into_iter()
        .filter_map(|n| {
            let rest = n.text.strip_prefix("tcp_info: cwnd ")?;
            let (cwnd, ss) = rest.split_once(" ssthresh ")?;
            Some((n.time, cwnd.parse().ok()?, ss.parse().ok()))
        })
        .collect()
}

/// Loss-recovery episodes seen on the wire, as the sender lived them: from its first
/// retransmission until the ACK of everything outstanding then (RFC 6675's RecoveryPoint,
/// RFC 6582's "recover") reaches it. Returns (start, end, flight at the start in bytes).
fn recovery_episodes(data: &[&Seg], acks: &[&Seg]) -> Vec<(Instant, Instant, u32)> {
    let mut out = Vec::new();
    let mut high: Option<u32> = None;
    let mut until: Option<Instant> = None;
    for s in data {
        let retx = high.is_some_and(|h| before(s.seq, h));
        if retx
            && until.is_none_or(|u| s.time >= u)
            && let Some(point) = high
        {
            let una = acks
                .iter()
                .filter(|a| arrival(a.time) <= s.time)
                .map(|a| a.ack)
                .fold(s.seq, |m, a| if before(m, a) { a } else { m });
            let end = acks
                .iter()
                .find(|a| arrival(a.time) > s.time && !before(a.ack, point))
                .map_or(Instant::from_secs(600), |a| arrival(a.time));
            out.push((s.time, end, point.wrapping_sub(una)));
            until = Some(end);
        }
        let end = s.seq.wrapping_add(s.len);
        if high.is_none_or(|h| before(h, end)) {
            high = Some(end);
        }
    }
    out
}

/// The cumulative ACK that had reached the sender by `t`.
fn acked_by(acks: &[&Seg], t: Instant) -> Option<u32> {
    acks.iter()
        .filter(|a| arrival(a.time) <= t)
        .map(|a| a.ack)
        .reduce(|m, a| if before(m, a) { a } else { m })
}

fn check_congestion_with(out: &Outcome, c: &mut Checks, reno: bool) {
    let data = data_of(out, "client");
    let acks = acks_of(out, "server");
    let smss = data.iter().map(|s| s.len).max().unwrap_or(1);
    let drops = data.iter().filter(|s| s.dropped.is_some()).count();
    c.check(
        drops > 0,
        format!("the bottleneck queue overflows: {drops} segments dropped"),
    );
    let samples = cwnd_samples(out);
    let episodes = recovery_episodes(&data, &acks);
    let in_recovery = |t: Instant| episodes.iter().any(|&(a, b, _)| t >= a && t < b);
    // The sawtooth in a few numbers: the start, the window before each loss, the window
    // when each recovery ends, and the last sample.
    let fmt = |s: &(Instant, u32, Option<u32>)| match s.2 {
        Some(ss) => format!("{}/{ss} at {:.3} s", s.1, secs(s.0)),
        None => format!("{} at {:.3} s", s.1, secs(s.0)),
    };
    let mut shown: Vec<String> = samples.first().map(fmt).into_iter().collect();
    for &(start, end, _) in &episodes {
        if let Some(b) = samples.iter().rev().find(|s| s.0 < start) {
            shown.push(format!("loss: {}", fmt(b)));
        }
        if let Some(a) = samples.iter().rev().find(|s| s.0 <= end) {
            shown.push(format!("recovered: {}", fmt(a)));
        }
    }
    if let Some(l) = samples.last() {
        shown.push(format!("last: {}", fmt(l)));
    }
    c.check(
        !samples.is_empty(),
        format!(
            "cwnd/ssthresh (segments; {} TCP_INFO samples): {}",
            samples.len(),
            shown.join(" -> ")
        ),
    );
    c.eq(
        "initial window (RFC 6928): 10 segments",
        samples.first().map(|s| s.1),
        Some(10),
    );
    let Some(&(t_loss, _, _)) = episodes.first() else {
        c.check(false, "a loss starts a recovery");
        return;
    };
    // RFC 5681 §3.1: slow start roughly doubles cwnd every round trip.
    let peak = samples
        .iter()
        .filter(|s| s.0 < t_loss)
        .map(|s| s.1)
        .max()
        .unwrap_or(0);
    c.check(
        peak >= 40,
        format!("slow start: cwnd grows from 10 to {peak} segments before the first loss"),
    );
    // The reduction at the start of each recovery.
    for (i, &(start, end, flight)) in episodes.iter().enumerate() {
        let before_loss = samples.iter().rev().find(|s| s.0 < start);
        let at_loss = samples.iter().rev().find(|s| s.0 <= start);
        let (Some(b), Some(a)) = (before_loss, at_loss) else {
            c.check(false, format!("cwnd samples around the loss at {start}"));
            continue;
        };
        let ss = a.2.unwrap_or(0);
        let (want, rule) = if reno {
            // RFC 5681 §3.2 (4): ssthresh = max(FlightSize / 2, 2 · SMSS).
            (
                (flight / 2).max(2 * smss) / smss,
                format!("Reno: ssthresh = FlightSize / 2 ({} bytes / 2)", flight),
            )
        } else {
            // RFC 9438 §4.6: ssthresh = cwnd · β_cubic, β_cubic = 0.7.
            (
                b.1 * 7 / 10,
                format!("CUBIC: ssthresh = 0.7 · cwnd ({})", b.1),
            )
        };
        c.check(
            ss.abs_diff(want) <= 1,
            format!(
                "loss {} at {start}: {rule} = {want} segments; TCP_INFO says {ss}",
                i + 1
            ),
        );
        // RFC 6937 §3: at the end of recovery PRR leaves cwnd at ssthresh.
        if end < Instant::from_secs(600) {
            // When the ACK that ends this recovery also starts the next one (it reports new
            // losses among the segments sent during this one), the sample taken after it
            // already shows the next reduction: PRR's window is the one just before.
            let next_at_end = episodes.get(i + 1).is_some_and(|e| e.0 == end);
            let after = samples
                .iter()
                .rev()
                .find(|s| s.0 < end || (s.0 == end && !next_at_end));
            c.check(
                after.is_some_and(|s| s.2.is_some_and(|ss| s.1.abs_diff(ss) <= 1)),
                format!(
                    "recovery {} ends at {end} with cwnd = ssthresh (PRR): {:?}",
                    i + 1,
                    after.map(|s| (s.1, s.2))
                ),
            );
        }
    }
    // Congestion avoidance (outside recovery, cwnd ≥ ssthresh).
    let ca: Vec<&(Instant, u32, Option<u32>)> = samples
        .iter()
        .filter(|s| s.0 > t_loss && !in_recovery(s.0) && s.2.is_some_and(|ss| s.1 >= ss))
        .collect();
    // Steps between consecutive samples of one congestion-avoidance stretch (no recovery
    // began between them).
    let steps: Vec<i64> = ca
        .windows(2)
        .filter(|w| !episodes.iter().any(|&(a, _, _)| a > w[0].0 && a <= w[1].0))
        .map(|w| i64::from(w[1].1) - i64::from(w[0].1))
        .collect();
    c.check(
        steps.len() >= 5 && steps.iter().all(|d| (0..=1).contains(d)),
        format!(
            "congestion avoidance: cwnd only grows, one segment at a time, outside recovery \
             ({} steps)",
            steps.len()
        ),
    );
    if !reno {
        // RFC 9438 §4.2: after a reduction the window climbs back towards W_max along the
        // concave part of the cubic curve: each +1 takes longer than the one before, on
        // the whole (the last third of the increments at least 1.5 times slower than the
        // first third).
        let mut shapes = Vec::new();
        for (i, &(_, end, _)) in episodes.iter().enumerate() {
            let next = episodes.get(i + 1).map_or(Instant::from_secs(600), |e| e.0);
            let ups: Vec<Instant> = ca
                .windows(2)
                .filter(|w| w[0].0 >= end && w[1].0 < next && w[1].1 == w[0].1 + 1)
                .map(|w| w[1].0)
                .collect();
            let gaps: Vec<f64> = ups.windows(2).map(|w| gap(w[0], w[1])).collect();
            if gaps.len() < 6 {
                continue;
            }
            let third = gaps.len() / 3;
            let mean = |g: &[f64]| g.iter().sum::<f64>() / g.len() as f64;
            let (early, late) = (mean(&gaps[..third]), mean(&gaps[gaps.len() - third..]));
            shapes.push((i + 1, early, late));
        }
        c.check(
            !shapes.is_empty() && shapes.iter().all(|&(_, e, l)| l >= 1.5 * e),
            format!(
                "concave growth after each reduction (RFC 9438 §4.2): mean time per +1 segment, \
                 first third vs last third: {}",
                shapes
                    .iter()
                    .map(|(i, e, l)| format!(
                        "after loss {i}: {:.0} ms -> {:.0} ms",
                        e * 1e3,
                        l * 1e3
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    if reno {
        // RFC 5681 §3.1 (3), with byte counting (RFC 3465): one segment per window of
        // acknowledged data, i.e. about one per round trip.
        let mut bad = Vec::new();
        let mut n = 0;
        for w in ca.windows(2) {
            let (t1, w1) = (w[0].0, w[0].1);
            let (t2, w2) = (w[1].0, w[1].1);
            if w2 != w1 + 1 || episodes.iter().any(|&(a, _, _)| a > t1 && a <= t2) {
                continue;
            }
            let (Some(a1), Some(a2)) = (acked_by(&acks, t1), acked_by(&acks, t2)) else {
                continue;
            };
            let segs = a2.wrapping_sub(a1) / smss;
            n += 1;
            if segs.abs_diff(w1) > 2 {
                bad.push(format!("{:.3}s: {segs} acked at cwnd {w1}", secs(t2)));
            }
        }
        c.check(
            n >= 5 && bad.is_empty(),
            format!(
                "congestion avoidance: +1 segment after each cwnd's worth of ACKed data \
                 ({n} increments{})",
                if bad.is_empty() {
                    String::new()
                } else {
                    format!("; off: {}", bad.join(", "))
                }
            ),
        );
    }
    check_note(
        c,
        out,
        "server",
        &format!("read {CC_BYTES} bytes, pattern intact"),
    );
    // Done: when the last byte is acknowledged, not when the client closes.
    let isn = out
        .sent_by("client")
        .into_iter()
        .find(|s| s.is_syn())
        .map(|s| s.seq);
    let last = isn.map(|i| i.wrapping_add(1).wrapping_add(CC_BYTES as u32));
    let done = last.and_then(|l| acks.iter().find(|a| !before(a.ack, l)).map(|a| a.time));
    let ideal = CC_BYTES as f64 * 8.0 / RATE as f64;
    c.check(
        done.is_some_and(|t| secs(t) < 1.5 * ideal + 1.0),
        format!(
            "the transfer keeps the bottleneck busy (ideal {ideal:.2} s): all data acknowledged \
             at {}",
            done.map_or("never".to_string(), |t| t.to_string())
        ),
    );
}

pub(super) fn check_congestion(out: &Outcome, c: &mut Checks) {
    check_congestion_with(out, c, true);
}

pub(super) fn check_congestion_cubic(out: &Outcome, c: &mut Checks) {
    check_congestion_with(out, c, false);
}

// ---------------------------------------------------------------------------- rto-backoff

/// When the link goes down and comes back in `rto-backoff`, ms.
const CUT: (u64, u64) = (400, 5000);
/// When the client writes its request in `rto-backoff`, ms.
const RTO_SEND: u64 = 500;
/// Bytes of that request (three segments).
const RTO_BYTES: usize = 4000;

/// `rto-backoff`: the link is cut while a request is in flight; SACK and TLP off.
pub(super) fn build_rto_backoff(lab: &mut Lab) -> Result<(), String> {
    let off = [
        ("net.ipv4.tcp_sack", "0"),
        ("net.ipv4.tcp_early_retrans", "0"),
    ];
    let (c, s, l) = lab.pair(MS(1), &off, &[])?;
    lab.sim
        .schedule_link_state(Instant::from_millis(CUT.0), l, false);
    lab.sim
        .schedule_link_state(Instant::from_millis(CUT.1), l, true);
    lab.app(
        s,
        Instant::ZERO,
        Peer::server(any4(80))
            .quiet()
            .check_pattern()
            .on_eof(Duration::ZERO, Act::Close),
    );
    lab.app(
        c,
        Instant::ZERO,
        Peer::client(sa(SERVER_ADDR, 80))
            .quiet()
            .at_time(Instant::from_millis(100), Act::SendPattern(1000))
            .at_time(Instant::from_millis(RTO_SEND), Act::SendPattern(RTO_BYTES))
            .at_time(Instant::from_secs(20), Act::Close),
    );
    lab.limit = Instant::from_secs(120);
    Ok(())
}

pub(super) fn check_rto_backoff(out: &Outcome, c: &mut Checks) {
    let data = data_of(out, "client");
    let send = Instant::from_millis(RTO_SEND);
    let burst: Vec<&Seg> = data.iter().filter(|s| s.time == send).copied().collect();
    c.check(
        burst.len() == 3 && burst.iter().all(|s| s.dropped.is_some()),
        format!(
            "the request leaves at {send} as {} segments, all lost (the link is down)",
            burst.len()
        ),
    );
    let Some(head) = burst.first() else {
        return;
    };
    let up = Instant::from_millis(CUT.1);
    let retx: Vec<&Seg> = data
        .iter()
        .filter(|s| s.time > send && s.seq == head.seq)
        .copied()
        .collect();
    let times: Vec<f64> = core::iter::once(send)
        .chain(retx.iter().map(|s| s.time))
        .map(secs)
        .collect();
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    c.check(
        gaps.len() >= 5,
        format!(
            "the head is retransmitted at {:?} s ({} times)",
            &times[1..],
            gaps.len()
        ),
    );
    // RFC 6298 §2.4 sets a floor on the RTO (1 s there; Linux and this stack: 200 ms).
    // On this 2 ms path SRTT + 4·RTTVAR is far below it.
    c.check(
        gaps.first().is_some_and(|g| (0.2..0.25).contains(g)),
        format!(
            "the first timeout is the 200 ms floor (RTO_min): {:?} s",
            gaps.first()
        ),
    );
    // RFC 6298 §5.5-5.6: on each timeout, RTO doubles and the timer restarts from that
    // retransmission.
    let doubling = gaps.windows(2).all(|w| (w[1] - 2.0 * w[0]).abs() < 1e-6);
    c.check(
        doubling,
        format!("each timeout doubles the previous one: {gaps:?} s"),
    );
    // RFC 5681 §3.1: after a timeout cwnd is the loss window, one segment.
    let down: Vec<&Seg> = data
        .iter()
        .filter(|s| s.time > send && s.time < up)
        .copied()
        .collect();
    c.check(
        down.iter()
            .all(|s| s.seq == head.seq && s.dropped.is_some()),
        format!(
            "while the link is down only the head goes, one segment per timeout \
             (cwnd = loss window = 1): {} segments",
            down.len()
        ),
    );
    let first_up = retx.iter().find(|s| s.time >= up);
    c.check(
        first_up.is_some_and(|s| s.dropped.is_none()),
        format!(
            "the first retransmission after the link is back ({:?}) gets through",
            first_up.map(|s| s.time)
        ),
    );
    check_note(
        c,
        out,
        "server",
        &format!("read {} bytes, pattern intact", 1000 + RTO_BYTES),
    );
}

// ------------------------------------------------------------------------ tail-loss-probe

/// Bytes of the request in `tail-loss-probe`: ten full segments (MSS 1460 less 12 bytes
/// of timestamps).
const TLP_BYTES: usize = 10 * 1448;
/// The tail the link loses: the last three data segments of the request.
const TLP_LOST: &[u32] = &[8, 9, 10];

/// `tail-loss-probe`: the last three segments of a request are lost; SACK and RACK-TLP
/// on (the defaults).
pub(super) fn build_tail_loss_probe(lab: &mut Lab) -> Result<(), String> {
    build_transfer(
        lab,
        Transfer {
            client: &[],
            server: &[],
            a_to_b: ChannelConfig::with_delay(MS(WAN_DELAY)),
            lost: TLP_LOST,
            bytes: TLP_BYTES,
            close_after: Some(Duration::from_secs(2)),
            sample: false,
        },
    )?;
    Ok(())
}

pub(super) fn check_tail_loss_probe(out: &Outcome, c: &mut Checks) {
    let data = data_of(out, "client");
    let lost = lost_segs(&data);
    let last_new = data.iter().rev().find(|s| s.dropped.is_some()).copied();
    c.eq(
        "the tail is lost: the last three data segments",
        lost.len(),
        TLP_LOST.len(),
    );
    let (Some(&first_lost), Some(tail)) = (lost.first(), last_new) else {
        return;
    };
    let acks = acks_of(out, "server");
    let retx = retransmitted(&data);
    let Some(probe) = retx.first().copied() else {
        c.check(false, "a loss probe is sent");
        return;
    };
    // RFC 8985 §7.3: with no new data to send, the probe retransmits the highest-sequence
    // segment.
    c.eq("the probe is the last segment sent", probe.seq, tail.seq);
    // RFC 8985 §7.2: PTO = 2·SRTT, armed at the last transmission or at the ACK of new
    // data, whichever was later. Every RTT sample on this path is 40 ms.
    let last_send = data
        .iter()
        .filter(|s| s.time < probe.time)
        .map(|s| s.time)
        .max();
    let last_ack = acks
        .iter()
        .filter(|a| arrival(a.time) <= probe.time)
        .map(|a| arrival(a.time))
        .max();
    let armed = last_send.max(last_ack);
    c.check(
        armed.is_some_and(|t| (gap(t, probe.time) - 0.080).abs() < 1e-6),
        format!(
            "the probe leaves PTO = 2·SRTT = 80 ms after the last send or ACK: {:?} s",
            armed.map(|t| gap(t, probe.time))
        ),
    );
    // The probe's ACK SACKs it; RACK (RFC 8985 §6) then marks the older holes lost.
    let probe_ack = acks
        .iter()
        .find(|a| a.time > probe.time && sack_covers(a, probe.seq, probe.len));
    c.check(
        probe_ack.is_some(),
        "the probe's ACK carries a SACK block for it",
    );
    let rest: Vec<u32> = retx.iter().skip(1).map(|s| s.seq).collect();
    let want: Vec<u32> = lost
        .iter()
        .filter(|s| s.seq != tail.seq)
        .map(|s| s.seq)
        .collect();
    c.eq(
        "then the other lost segments are retransmitted, in order, once",
        rest,
        want,
    );
    if let (Some(a), Some(r)) = (probe_ack, retx.get(1)) {
        c.eq(
            "on the probe's ACK (RACK: a later segment was delivered)",
            r.time,
            arrival(a.time),
        );
    }
    // No retransmission timeout: everything is repaired within 200 ms (the RTO floor) of
    // the loss.
    let last_retx = retx.last().map(|s| s.time);
    c.check(
        last_retx.is_some_and(|t| gap(first_lost.time, t) < 0.2),
        format!(
            "recovered by the probe, not by an RTO (RTO ≥ 200 ms): last retransmission {:?} s \
             after the loss",
            last_retx.map(|t| gap(first_lost.time, t))
        ),
    );
    check_note(
        c,
        out,
        "server",
        &format!("read {TLP_BYTES} bytes, pattern intact"),
    );
}

// ------------------------------------------------------------------------------------ ecn

/// Bytes sent in `ecn`.
const ECN_BYTES: usize = 2 << 20;
/// The queue length at which the bottleneck marks CE, packets.
const ECN_MARK: usize = 20;

/// `ecn`: a bottleneck that marks CE instead of dropping; both ends ECN-capable.
pub(super) fn build_ecn(lab: &mut Lab) -> Result<(), String> {
    let mut ch = bottleneck(200);
    ch.ecn = Some(EcnMarking {
        threshold_packets: ECN_MARK,
        not_ect: NotEctPolicy::Drop,
    });
    let (_, s, _) = build_transfer(
        lab,
        Transfer {
            client: &[
                ("net.ipv4.tcp_wmem", "4096 4194304 4194304"),
                ("net.ipv4.tcp_ecn", "1"),
            ],
            server: &[("net.ipv4.tcp_rmem", "4096 4194304 6291456")],
            a_to_b: ch,
            lost: &[],
            bytes: ECN_BYTES,
            close_after: Some(Duration::from_secs(5)),
            sample: true,
        },
    )?;
    // The server's tcpdump: the CE marks are set in the bottleneck, after the client.
    lab.observer = Some(s);
    Ok(())
}

pub(super) fn check_ecn(out: &Outcome, c: &mut Checks) {
    let client = out.sent_by("client");
    let server = out.sent_by("server");
    // RFC 3168 §6.1.1: the SYN carries ECE and CWR, the SYN-ACK ECE alone.
    let syn = client.iter().find(|s| s.is_syn());
    let syn_ack = server.iter().find(|s| s.is_syn_ack());
    c.check(
        syn.is_some_and(|s| s.flags.ece() && s.flags.cwr()),
        format!(
            "the SYN asks for ECN with ECE and CWR: [{}]",
            syn.map(|s| s.flag_str()).unwrap_or_default()
        ),
    );
    c.check(
        syn_ack.is_some_and(|s| s.flags.ece() && !s.flags.cwr()),
        format!(
            "the SYN-ACK agrees with ECE alone: [{}]",
            syn_ack.map(|s| s.flag_str()).unwrap_or_default()
        ),
    );
    // RFC 3168 §6.1.1, §6.1.4: data goes out ECT(0); SYNs and pure ACKs are not ECT.
    let data: Vec<&Seg> = client.iter().filter(|s| s.len > 0).copied().collect();
    let retx_seqs: Vec<u32> = retransmitted(&data).iter().map(|s| s.seq).collect();
    c.check(
        data.iter()
            .filter(|s| !retx_seqs.contains(&s.seq))
            .all(|s| s.ecn == 2),
        "the client's data segments are sent ECT(0)",
    );
    c.check(
        client
            .iter()
            .chain(server.iter())
            .filter(|s| s.len == 0)
            .all(|s| s.ecn == 0),
        "SYNs and pure ACKs are Not-ECT",
    );
    let dropped = out.segs.iter().filter(|s| s.dropped.is_some()).count();
    c.eq(
        "segments lost (the queue marks instead of dropping)",
        dropped,
        0,
    );
    // The server's view: the client's segments as they arrived (some marked CE), and the
    // server's ACKs as it sent them, in order.
    let Some(sid) = out.host_id("server") else {
        return;
    };
    let marked = out
        .view
        .iter()
        .filter(|s| s.from != sid && s.ecn == 3)
        .count();
    c.check(
        marked > 0,
        format!("the bottleneck marks {marked} segments CE (queue ≥ {ECN_MARK} packets)"),
    );
    // RFC 3168 §6.1.3: the receiver sets ECE on every ACK from a CE packet on, until a
    // segment with CWR arrives.
    let mut echo = false;
    let mut wrong = None;
    let mut eces = 0;
    for s in &out.view {
        if s.from == sid {
            if s.flags.ack() && !s.flags.syn() && s.flags.ece() != echo && wrong.is_none() {
                wrong = Some(format!(
                    "ACK {} at {} has ECE {}",
                    s.ack,
                    s.time,
                    s.flags.ece()
                ));
            }
            eces += usize::from(s.flags.ece() && !s.flags.syn());
        } else if s.len > 0 {
            if s.flags.cwr() {
                echo = false;
            }
            if s.ecn == 3 {
                echo = true;
            }
        }
    }
    c.check(
        wrong.is_none() && eces > 0,
        format!(
            "the receiver echoes CE with ECE until CWR arrives ({eces} ACKs with ECE){}",
            wrong.map(|w| format!(": {w}")).unwrap_or_default()
        ),
    );
    // RFC 3168 §6.1.2: the sender reduces cwnd at most once per window of data, and marks
    // the first new segment after a reduction with CWR. Replay: an ECE that arrives outside
    // a reduction window starts one (until everything sent so far is acknowledged).
    let acks = acks_of(out, "server");
    let mut events: Vec<(Instant, bool, &Seg)> = acks
        .iter()
        .map(|a| (arrival(a.time), false, *a))
        .chain(data.iter().map(|d| (d.time, true, *d)))
        .collect();
    events.sort_by_key(|e| (e.0, e.1));
    let mut high: Option<u32> = None;
    let mut window_until: Option<u32> = None;
    let mut pending = false;
    let mut want_cwr = Vec::new();
    for (_, is_data, s) in events {
        if is_data {
            if pending {
                want_cwr.push(s.seq);
                pending = false;
            }
            let end = s.seq.wrapping_add(s.len);
            if high.is_none_or(|h| before(h, end)) {
                high = Some(end);
            }
        } else {
            if window_until.is_some_and(|w| !before(s.ack, w)) {
                window_until = None;
            }
            if s.flags.ece() && window_until.is_none() && !pending {
                pending = true;
                window_until = high;
            }
        }
    }
    let got_cwr: Vec<u32> = data
        .iter()
        .filter(|s| s.flags.cwr())
        .map(|s| s.seq)
        .collect();
    c.check(
        !got_cwr.is_empty(),
        format!("the sender answers with CWR {} times", got_cwr.len()),
    );
    c.eq(
        "CWR on the first segment after each reduction, one reduction per window",
        got_cwr.clone(),
        want_cwr,
    );
    // Each reduction lowers ssthresh to 0.7 · cwnd (CUBIC, RFC 9438 §4.6; RFC 3168 §6.1.2:
    // the same reduction as for a loss).
    let samples = cwnd_samples(out);
    let mut cuts = Vec::new();
    for w in samples.windows(2) {
        // A reduction, not HyStart++ leaving slow start (which sets ssthresh = cwnd).
        if let Some(ss) = w[1].2
            && w[1].2 != w[0].2
            && ss * 10 < w[0].1 * 9
        {
            cuts.push((w[0].1, ss));
        }
    }
    c.eq("reductions seen in TCP_INFO", cuts.len(), got_cwr.len());
    c.check(
        cuts.iter().all(|&(w, ss)| ss.abs_diff(w * 7 / 10) <= 1),
        format!("each sets ssthresh = 0.7 · cwnd: (cwnd, ssthresh) {cuts:?}"),
    );
    c.eq("segments retransmitted", retx_seqs.len(), 0);
    check_note(
        c,
        out,
        "server",
        &format!("read {ECN_BYTES} bytes, pattern intact"),
    );
}
