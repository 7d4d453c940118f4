//! `bbr`: BBR v1 (draft-cardwell-iccrg-bbr-congestion-control-00) with pacing on a
//! 5 Mbit/s bottleneck, long enough (12 s) to show every mode: STARTUP, DRAIN, the PROBE_BW
//! gain cycle and one PROBE_RTT.

use synack::{Duration, Instant};

use super::scenarios::{MS, any4, check_note, secs};
use super::{Act, CLIENT_ADDR, Checks, Lab, Outcome, Peer, SERVER_ADDR, sa};
use crate::config::{ChannelConfig, LinkConfig};

/// The bottleneck's rate, bit/s.
const RATE: u64 = 5_000_000;
/// One-way delay, ms (40 ms round trip).
const DELAY: u64 = 20;
/// The bottleneck's queue, packets: 3.6 BDP (a BDP is 25 kB, 17 packets), so STARTUP's
/// excess (1.9 BDP) fits and the modes show without loss.
const QUEUE: usize = 60;
/// Bytes sent: about 12 s at 5 Mbit/s.
const BYTES: usize = 7 << 20;

/// Builds the scenario.
pub(super) fn build_bbr(lab: &mut Lab) -> Result<(), String> {
    let c = lab.host(
        "client",
        CLIENT_ADDR,
        &[
            ("net.ipv4.tcp_wmem", "4096 4194304 8388608"),
            ("net.ipv4.tcp_congestion_control", "bbr"),
        ],
    )?;
    let s = lab.host(
        "server",
        SERVER_ADDR,
        &[("net.ipv4.tcp_rmem", "4096 4194304 6291456")],
    )?;
    lab.link(
        c,
        s,
        LinkConfig {
            a_to_b: ChannelConfig::bottleneck(MS(DELAY), RATE, QUEUE),
            b_to_a: ChannelConfig::with_delay(MS(DELAY)),
        },
    );
    lab.app(
        s,
        Instant::ZERO,
        Peer::server(any4(21))
            .quiet()
            .check_pattern()
            .on_eof(Duration::ZERO, Act::Close),
    );
    lab.app(
        c,
        Instant::ZERO,
        Peer::client(sa(SERVER_ADDR, 21))
            .quiet()
            .at(Duration::ZERO, Act::SendPattern(BYTES))
            .sample_cwnd(Duration::ZERO)
            .at(Duration::from_secs(15), Act::Close),
    );
    lab.limit = Instant::from_secs(60);
    Ok(())
}

/// One `bbr:` line of the client: time, mode, pacing gain, BtlBw and pacing rate (B/s).
struct BbrNote {
    t: Instant,
    mode: String,
    gain: f64,
    btl_bw: f64,
    pacing_rate: f64,
}

/// The pacing rate the client's `bbr:` lines logged: (time, bytes per second).
pub(crate) fn pacing_samples(out: &Outcome) -> Vec<(Instant, f64)> {
    bbr_notes(out)
        .iter()
        .map(|n| (n.t, n.pacing_rate))
        .collect()
}

fn bbr_notes(out: &Outcome) -> Vec<BbrNote> {
    out.notes_of("client")
        .into_iter()
        .filter_map(|n| {
            let rest = n.text.strip_prefix("bbr: ")?;
            let w: Vec<&str> = rest.split_whitespace().collect();
            let num = |k: &str| {
                let i = w.iter().position(|x| *x == k)?;
                w.get(i + 1)?.parse::<f64>().ok()
            };
            Some(BbrNote {
                t: n.time,
                mode: (*w.first()?).to_string(),
                gain: num("pacing_gain")?,
                btl_bw: num("btl_bw")?,
                pacing_rate: num("pacing_rate")?,
            })
        })
        .collect()
}

/// Checks the scenario.
pub(super) fn check_bbr(out: &Outcome, c: &mut Checks) {
    let notes = bbr_notes(out);
    // The modes in order, each once per visit.
    let mut modes: Vec<&str> = Vec::new();
    for n in &notes {
        if modes.last() != Some(&n.mode.as_str()) {
            modes.push(&n.mode);
        }
    }
    c.check(
        modes.starts_with(&["Startup", "Drain", "ProbeBw", "ProbeRtt", "ProbeBw"]),
        format!("modes: {}", modes.join(" -> ")),
    );
    let at = |m: &str| notes.iter().find(|n| n.mode == m);
    let t0 = notes.first().map_or(Instant::ZERO, |n| n.t);
    if let Some(d) = at("Drain") {
        // TCP payload per second over 1500-byte packets with 1448 bytes of payload.
        let link = RATE as f64 / 8.0 * 1448.0 / 1500.0;
        c.check(
            (d.btl_bw / link - 1.0).abs() < 0.1,
            format!(
                "STARTUP ends at {:.3} s with BtlBw {:.0} B/s ({:.2} Mbit/s of payload; the link \
                 carries {link:.0})",
                secs(d.t),
                d.btl_bw,
                d.btl_bw * 8.0 / 1e6
            ),
        );
        c.check(
            d.gain < 0.4,
            format!("DRAIN paces at gain {:.2} (1/2.89)", d.gain),
        );
    }
    // PROBE_BW's cycle: 1.25, then 0.75, then 1.
    let cycle: Vec<f64> = notes
        .iter()
        .skip_while(|n| n.mode != "ProbeBw")
        .take_while(|n| n.mode == "ProbeBw")
        .map(|n| n.gain)
        .collect();
    let probes = cycle
        .windows(3)
        .filter(|w| w[0] == 1.25 && w[1] == 0.75 && w[2] == 1.0)
        .count();
    c.check(
        probes >= 10,
        format!(
            "PROBE_BW cycles its pacing gain 1.25 -> 0.75 -> 1 ({probes} probes before PROBE_RTT)"
        ),
    );
    if let Some(p) = at("ProbeRtt") {
        let after = secs(p.t) - secs(t0);
        c.check(
            (10.0..10.6).contains(&after),
            format!("PROBE_RTT {after:.3} s after the first sample: RTprop not lowered in 10 s"),
        );
        let low = super::recovery::cwnd_samples(out)
            .iter()
            .any(|s| s.0 >= p.t && s.1 == 4);
        c.check(low, "in PROBE_RTT cwnd is 4 segments");
    }
    // Pacing: in PROBE_BW the client's segments leave at least len / pacing rate apart.
    let data: Vec<_> = out
        .sent_by("client")
        .into_iter()
        .filter(|s| s.len > 0)
        .collect();
    let start = at("ProbeBw").map_or(Instant::MAX, |n| n.t) + Duration::from_secs(1);
    let end = at("ProbeRtt").map_or(Instant::MAX, |n| n.t);
    let rate_at = |t: Instant| {
        notes
            .iter()
            .rev()
            .find(|n| n.t <= t)
            .map_or(0.0, |n| n.pacing_rate)
    };
    let mut gaps = 0;
    let mut early = 0;
    for w in data.windows(2) {
        if w[0].time < start || w[1].time > end {
            continue;
        }
        gaps += 1;
        // The gain changes the rate; allow the faster of 1.25 x the rate noted.
        let want = f64::from(w[0].len) / (rate_at(w[0].time) * 1.25);
        if (w[1].time - w[0].time).as_secs_f64() < want {
            early += 1;
        }
    }
    c.check(
        gaps > 1000 && early == 0,
        format!(
            "paced: {gaps} departures in PROBE_BW, {early} closer than len / (1.25 x pacing rate)"
        ),
    );
    check_note(
        c,
        out,
        "server",
        &format!("read {BYTES} bytes, pattern intact"),
    );
}
