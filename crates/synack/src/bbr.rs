//! BBR v1 (draft-cardwell-iccrg-bbr-congestion-control-00; Cardwell et al., "BBR:
//! Congestion-Based Congestion Control", ACM Queue 2016), as Linux's `tcp_bbr.c` runs it.
//!
//! BBR models the path by two numbers measured from delivery-rate samples
//! ([`crate::rate`]): the bottleneck bandwidth `BtlBw` (a windowed maximum over 10 round
//! trips) and the round-trip propagation time `RTprop` (a minimum over 10 s). It paces at
//! `pacing_gain · BtlBw` and caps data in flight at `cwnd_gain · BDP` plus a few segments.
//! Four modes: STARTUP doubles the rate each round (gain 2/ln 2) until the bandwidth stops
//! growing by 25% for three rounds; DRAIN empties the queue STARTUP built (gain ln 2 / 2)
//! until in-flight data is down to one BDP; PROBE_BW cycles the pacing gain through
//! 1.25, 0.75 and six rounds of 1; PROBE_RTT drops to four segments for 200 ms and a round
//! once RTprop has not been refreshed for 10 s. Losses do not reduce the model; during
//! recovery the window follows packet conservation (draft §4.2.3.4).
//!
//! Windows and rates are in bytes (rates in bytes per second).

use crate::cc::{AckState, CongestionControl};
use crate::rate::{Rate, RateSample};
use crate::time::{Duration, Instant};

/// Draft §4.2.1: the STARTUP gain 2/ln 2, the smallest that doubles the rate each round.
pub const HIGH_GAIN: f64 = 2.885;
/// Draft §4.3.2: DRAIN's pacing gain, the inverse of STARTUP's.
pub const DRAIN_GAIN: f64 = 1.0 / HIGH_GAIN;
/// Draft §4.3.3.4: the cwnd gain in PROBE_BW.
pub const CWND_GAIN: f64 = 2.0;
/// Draft §4.3.3.6: the PROBE_BW pacing-gain cycle.
pub const PACING_GAIN_CYCLE: [f64; 8] = [1.25, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
/// Draft §4.1.1.4: the BtlBw filter spans 10 round trips.
const BTLBW_FILTER_LEN: u64 = 10;
/// Draft §4.1.2.3: RTprop expires after 10 s without a lower sample.
pub const RTPROP_FILTER_LEN: Duration = Duration::from_secs(10);
/// Draft §4.3.4: PROBE_RTT lasts at least 200 ms (and one round trip).
pub const PROBE_RTT_DURATION: Duration = Duration::from_millis(200);
/// Draft §4.3.4: the window in PROBE_RTT, in segments (also the smallest window).
const MIN_CWND_SEGS: u32 = 4;
/// Draft §4.3.2: full bandwidth is reached when three rounds grow it by less than 25%.
const FULL_BW_THRESH: f64 = 1.25;
const FULL_BW_COUNT: u32 = 3;
/// BBRv2's `bbr_loss_thresh`: a round losing more than 2% of what it delivered is lossy.
const LOSS_THRESH: f64 = 0.02;
/// Linux `bbr_pacing_margin_percent`: pace 1% below the estimate so queues drain.
const PACING_MARGIN: f64 = 0.99;

/// BBR's model and state, as Linux's `TCP_CC_INFO` (`struct tcp_bbr_info`) reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BbrInfo {
    /// The mode.
    pub mode: Mode,
    /// BtlBw, bytes per second.
    pub btl_bw: u64,
    /// RTprop (`bbr_min_rtt`).
    pub min_rtt: Option<Duration>,
    /// The pacing gain in units of 1/256 (`bbr_pacing_gain`, `BBR_UNIT` = 256).
    pub pacing_gain: u32,
    /// The cwnd gain in units of 1/256 (`bbr_cwnd_gain`).
    pub cwnd_gain: u32,
    /// Round trips counted.
    pub round_count: u64,
    /// Times PROBE_RTT was entered.
    pub probe_rtt_count: u64,
}

/// BBR's state machine (draft §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Exponential search for the bottleneck bandwidth.
    Startup,
    /// Draining the queue STARTUP built.
    Drain,
    /// Steady state, probing for more bandwidth with a gain cycle.
    ProbeBw,
    /// Draining the path to measure RTprop.
    ProbeRtt,
}

/// BBR v1 state for one connection.
#[derive(Clone, Debug)]
pub struct Bbr {
    mss: u32,
    cwnd: u32,
    mode: Mode,
    /// The BtlBw max filter: per round-trip maxima `(round, bytes/s)` of the last rounds.
    bw_filter: [(u64, u64); BTLBW_FILTER_LEN as usize],
    round_count: u64,
    next_round_delivered: u64,
    round_start: bool,
    rtprop: Option<Duration>,
    rtprop_stamp: Instant,
    probe_rtt_done: Option<Instant>,
    probe_rtt_round_done: bool,
    /// Restarting after idle (no PROBE_RTT until data is delivered again).
    idle_restart: bool,
    packet_conservation: bool,
    in_recovery: bool,
    prior_cwnd: u32,
    full_bw: u64,
    full_bw_count: u32,
    full_bw_reached: bool,
    pacing_gain: f64,
    cwnd_gain: f64,
    cycle_index: usize,
    cycle_stamp: Instant,
    pacing_rate: u64,
    /// The pacing rate was set from a real RTT (not the 1 ms default).
    has_seen_rtt: bool,
    srtt: Option<Duration>,
    /// Times PROBE_RTT was entered.
    probe_rtt_count: u64,
    /// Delivered and retransmitted bytes when the current round began.
    round_base: (u64, u64),
    /// The last round lost more than [`LOSS_THRESH`] of what it delivered.
    lossy_round: bool,
    /// The connection's rate sampler and pacing clock (the engine drives them).
    rate: Rate,
}

impl Default for Bbr {
    fn default() -> Bbr {
        Bbr {
            mss: 536,
            cwnd: 10 * 536,
            mode: Mode::Startup,
            bw_filter: [(0, 0); BTLBW_FILTER_LEN as usize],
            round_count: 0,
            next_round_delivered: 0,
            round_start: false,
            rtprop: None,
            rtprop_stamp: Instant::ZERO,
            probe_rtt_done: None,
            probe_rtt_round_done: false,
            idle_restart: false,
            packet_conservation: false,
            in_recovery: false,
            prior_cwnd: 0,
            full_bw: 0,
            full_bw_count: 0,
            full_bw_reached: false,
            pacing_gain: HIGH_GAIN,
            cwnd_gain: HIGH_GAIN,
            cycle_index: 0,
            cycle_stamp: Instant::ZERO,
            pacing_rate: 0,
            has_seen_rtt: false,
            srtt: None,
            probe_rtt_count: 0,
            round_base: (0, 0),
            lossy_round: false,
            rate: Rate::new(),
        }
    }
}

impl Bbr {
    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// BtlBw, bytes per second (0 before the first sample).
    pub fn btl_bw(&self) -> u64 {
        let oldest = self.round_count.saturating_sub(BTLBW_FILTER_LEN - 1);
        self.bw_filter
            .iter()
            .filter(|&&(r, _)| r >= oldest)
            .map(|&(_, b)| b)
            .max()
            .unwrap_or(0)
    }

    /// RTprop, the minimum RTT of the last 10 s.
    pub fn rtprop(&self) -> Option<Duration> {
        self.rtprop
    }

    /// The pacing gain in force.
    pub fn pacing_gain(&self) -> f64 {
        self.pacing_gain
    }

    /// Round trips counted so far.
    pub fn round_count(&self) -> u64 {
        self.round_count
    }

    /// How many times PROBE_RTT was entered.
    pub fn probe_rtt_count(&self) -> u64 {
        self.probe_rtt_count
    }

    /// Whether STARTUP found the bottleneck bandwidth.
    pub fn full_bw_reached(&self) -> bool {
        self.full_bw_reached
    }

    fn update_bw_filter(&mut self, bw: u64) {
        let slot = (self.round_count % BTLBW_FILTER_LEN) as usize;
        let e = &mut self.bw_filter[slot];
        if e.0 != self.round_count {
            *e = (self.round_count, bw);
        } else if bw > e.1 {
            e.1 = bw;
        }
    }

    /// Draft §4.2.3.2: the BDP at `gain`, plus the send quanta; the initial window before
    /// RTprop is known.
    fn inflight(&self, bw: u64, gain: f64) -> u32 {
        let Some(rtprop) = self.rtprop else {
            return 10 * self.mss;
        };
        let bdp = bw as f64 * rtprop.as_secs_f64();
        let w = (gain * bdp).ceil() + f64::from(3 * self.mss);
        let mut w = if w >= f64::from(u32::MAX) {
            u32::MAX
        } else {
            w as u32
        };
        // Linux: in the 1.25 phase two more segments, so the probe can send beyond BDP.
        if self.mode == Mode::ProbeBw && self.cycle_index == 0 {
            w = w.saturating_add(2 * self.mss);
        }
        w
    }

    fn min_cwnd(&self) -> u32 {
        MIN_CWND_SEGS * self.mss
    }

    fn enter_startup(&mut self) {
        self.mode = Mode::Startup;
        self.pacing_gain = HIGH_GAIN;
        self.cwnd_gain = HIGH_GAIN;
    }

    fn enter_probe_bw(&mut self, now: Instant) {
        self.mode = Mode::ProbeBw;
        self.cwnd_gain = CWND_GAIN;
        // Draft §4.3.3.6: start at a random phase other than the 0.75 one, so flows do
        // not cycle in step. The engine is deterministic: the "random" choice comes from
        // the clock, which differs between flows.
        let r = (now.as_nanos() / 1000 % 7) as usize;
        self.cycle_index = (PACING_GAIN_CYCLE.len() - 1 - r) % PACING_GAIN_CYCLE.len();
        self.advance_cycle(now);
    }

    fn advance_cycle(&mut self, now: Instant) {
        self.cycle_index = (self.cycle_index + 1) % PACING_GAIN_CYCLE.len();
        self.cycle_stamp = now;
        self.pacing_gain = PACING_GAIN_CYCLE[self.cycle_index];
    }

    /// Draft §4.3.3.6 `BBRIsNextCyclePhase`.
    fn is_next_cycle_phase(&self, now: Instant, prior_inflight: u32) -> bool {
        let full_length = self.rtprop.is_some_and(|r| now - self.cycle_stamp > r);
        if self.pacing_gain == 1.0 {
            return full_length;
        }
        let bw = self.btl_bw();
        if self.pacing_gain > 1.0 {
            full_length && prior_inflight >= self.inflight(bw, self.pacing_gain)
        } else {
            full_length || prior_inflight <= self.inflight(bw, 1.0)
        }
    }

    /// Draft §4.3.2 `BBRCheckFullPipe`.
    fn check_full_pipe(&mut self, rs: &RateSample) {
        if self.full_bw_reached || !self.round_start || rs.is_app_limited {
            return;
        }
        let bw = self.btl_bw();
        if bw as f64 >= self.full_bw as f64 * FULL_BW_THRESH {
            self.full_bw = bw;
            self.full_bw_count = 0;
            return;
        }
        self.full_bw_count += 1;
        // Beyond draft -00 (after BBRv2's STARTUP exit): a round that neither grew the
        // bandwidth nor kept its losses under 2% ends STARTUP at once. With a queue
        // shallower than STARTUP's 1.9 BDP excess, waiting two more rounds at gain 2.89
        // only overflows it further; random loss alone does not trigger this (the bandwidth
        // still grows, and 1% is under the threshold).
        self.full_bw_reached = self.full_bw_count >= FULL_BW_COUNT || self.lossy_round;
    }

    /// Draft §4.3.2 / §4.3.3: STARTUP → DRAIN → PROBE_BW.
    fn check_drain(&mut self, now: Instant, inflight: u32) {
        if self.mode == Mode::Startup && self.full_bw_reached {
            self.mode = Mode::Drain;
            self.pacing_gain = DRAIN_GAIN;
            self.cwnd_gain = HIGH_GAIN;
        }
        if self.mode == Mode::Drain && inflight <= self.inflight(self.btl_bw(), 1.0) {
            self.enter_probe_bw(now);
        }
    }

    /// Draft §4.1.2.3 and §4.3.4: RTprop and PROBE_RTT.
    fn update_rtprop(&mut self, now: Instant, rs: &RateSample, ack: &AckState) {
        let expired = now > self.rtprop_stamp + RTPROP_FILTER_LEN;
        if let Some(rtt) = rs.rtt
            && (self.rtprop.is_none_or(|m| rtt < m) || expired)
        {
            self.rtprop = Some(rtt);
            self.rtprop_stamp = now;
        }
        if expired && !self.idle_restart && self.mode != Mode::ProbeRtt {
            self.mode = Mode::ProbeRtt;
            self.pacing_gain = 1.0;
            self.cwnd_gain = 1.0;
            self.save_cwnd();
            self.probe_rtt_done = None;
            self.probe_rtt_count += 1;
        }
        if self.mode == Mode::ProbeRtt {
            match self.probe_rtt_done {
                None if ack.inflight <= self.min_cwnd() => {
                    self.probe_rtt_done = Some(now + PROBE_RTT_DURATION);
                    self.probe_rtt_round_done = false;
                    self.next_round_delivered = ack.delivered;
                }
                None => {}
                Some(done) => {
                    if self.round_start {
                        self.probe_rtt_round_done = true;
                    }
                    if self.probe_rtt_round_done && now > done {
                        // Draft §4.3.4.2 `BBRExitProbeRTT`.
                        self.rtprop_stamp = now;
                        self.cwnd = self.cwnd.max(self.prior_cwnd);
                        if self.full_bw_reached {
                            self.enter_probe_bw(now);
                        } else {
                            self.enter_startup();
                        }
                    }
                }
            }
        }
        if rs.delivered > 0 {
            self.idle_restart = false;
        }
    }

    /// Draft §4.2.3.4 `BBRSaveCwnd`.
    fn save_cwnd(&mut self) {
        self.prior_cwnd = if !self.in_recovery && self.mode != Mode::ProbeRtt {
            self.cwnd
        } else {
            self.prior_cwnd.max(self.cwnd)
        };
    }

    /// Draft §4.2.2 `BBRSetPacingRate`: never lowered in STARTUP before the pipe is full.
    fn set_pacing_rate(&mut self) {
        let bw = self.btl_bw();
        if bw == 0 {
            return;
        }
        let rate = (self.pacing_gain * bw as f64 * PACING_MARGIN) as u64;
        if self.full_bw_reached || rate > self.pacing_rate {
            self.pacing_rate = rate.max(1);
        }
    }

    /// Draft §4.2.2 `BBRInitPacingRate`: the initial window over the RTT (1 ms until one
    /// is measured), at the STARTUP gain.
    fn init_pacing_rate(&mut self) {
        let rtt = self.srtt.unwrap_or(Duration::from_millis(1));
        let ns = rtt.as_nanos().max(1) as f64;
        let bw = f64::from(self.cwnd) * 1e9 / ns;
        self.pacing_rate = (HIGH_GAIN * bw) as u64;
    }

    /// Draft §4.2.3 `BBRSetCwnd`, with §4.2.3.4 recovery (packet conservation on entry,
    /// the saved window restored on exit).
    fn set_cwnd(&mut self, rs: &RateSample, ack: &AckState) {
        let acked = rs.newly_delivered;
        if acked > 0 {
            let conservation = self.recovery_window(ack, acked);
            if !conservation {
                let target = self.inflight(self.btl_bw(), self.cwnd_gain);
                if self.full_bw_reached {
                    self.cwnd = self.cwnd.saturating_add(acked).min(target);
                } else if self.cwnd < target || ack.delivered < u64::from(10 * self.mss) {
                    self.cwnd = self.cwnd.saturating_add(acked);
                }
                self.cwnd = self.cwnd.max(self.min_cwnd());
            }
        }
        if self.mode == Mode::ProbeRtt {
            self.cwnd = self.cwnd.min(self.min_cwnd());
        }
    }

    /// Returns `true` while packet conservation sets the window.
    fn recovery_window(&mut self, ack: &AckState, acked: u32) -> bool {
        if ack.in_recovery && !self.in_recovery {
            // Entering recovery: one round of packet conservation.
            self.packet_conservation = true;
            self.next_round_delivered = ack.delivered;
            self.cwnd = ack.inflight.saturating_add(acked);
        } else if !ack.in_recovery && self.in_recovery {
            self.cwnd = self.cwnd.max(self.prior_cwnd);
            self.packet_conservation = false;
        }
        self.in_recovery = ack.in_recovery;
        if self.packet_conservation {
            self.cwnd = self.cwnd.max(ack.inflight.saturating_add(acked));
            return true;
        }
        false
    }
}

impl CongestionControl for Bbr {
    fn name(&self) -> &'static str {
        "bbr"
    }

    fn on_established(&mut self, mss: u32) {
        self.mss = mss.max(1);
        // RFC 6928 initial window.
        self.cwnd = 10 * self.mss;
        self.init_pacing_rate();
        self.rate.pacing_rate = self.pacing_rate;
    }

    fn on_ack(&mut self, _now: Instant, _acked: u32, _mss: u32) {
        // Everything happens in `on_rate_sample`.
    }

    fn on_rtt(&mut self, srtt: Duration) {
        self.srtt = Some(srtt);
        if !self.has_seen_rtt && !srtt.is_zero() {
            self.has_seen_rtt = true;
            self.init_pacing_rate();
            self.rate.pacing_rate = self.pacing_rate;
        }
    }

    fn on_congestion(&mut self, _now: Instant, _flight: u32, _mss: u32) {
        // BBR v1 keeps its model on loss (and ignores ECN): only the window to return to
        // after recovery is remembered.
        self.save_cwnd();
    }

    fn set_cwnd(&mut self, cwnd: u32) {
        self.cwnd = cwnd;
    }

    fn restore(&mut self, cwnd: u32, _ssthresh: u32) {
        self.cwnd = cwnd;
    }

    fn on_recovery_end(&mut self) {
        // The next rate sample sees recovery over and restores the saved window.
    }

    fn on_rto(&mut self, _flight: u32, mss: u32) {
        // Linux `tcp_enter_loss` with BBR: one segment, the saved window restored when
        // the loss is repaired; the full-bandwidth search restarts its count.
        self.save_cwnd();
        self.in_recovery = true;
        self.packet_conservation = false;
        self.full_bw = 0;
        self.round_start = true;
        self.cwnd = mss.max(1);
    }

    fn on_idle_restart(&mut self, _now: Instant) {
        // Draft §4.3.3.5 (Linux `bbr_cwnd_event`): restarting from idle paces at BtlBw.
        self.idle_restart = true;
        if self.mode == Mode::ProbeBw {
            let bw = self.btl_bw();
            if bw > 0 {
                self.pacing_rate = (bw as f64 * PACING_MARGIN) as u64;
                self.rate.pacing_rate = self.pacing_rate;
            }
        }
    }

    fn cwnd(&self) -> u32 {
        self.cwnd
    }

    fn ssthresh(&self) -> u32 {
        // BBR has no slow-start threshold; reporting the window makes the engine's
        // "reduce to ssthresh" (an ECN echo) a no-op.
        self.cwnd
    }

    fn on_rate_sample(&mut self, now: Instant, rs: &RateSample, ack: &AckState) {
        self.mss = ack.mss.max(1);
        // Draft §4.1.1.3 `BBRUpdateBtlBw` with round counting (§4.1.1.2).
        self.round_start = false;
        if rs.valid && rs.prior_delivered >= self.next_round_delivered {
            let (d0, r0) = self.round_base;
            let delivered = ack.delivered.saturating_sub(d0) as f64;
            let lost = ack.retransmitted.saturating_sub(r0) as f64;
            self.lossy_round = lost > LOSS_THRESH * delivered && lost >= 8.0 * f64::from(self.mss);
            self.round_base = (ack.delivered, ack.retransmitted);
            self.next_round_delivered = ack.delivered;
            self.round_count += 1;
            self.round_start = true;
            self.packet_conservation = false;
        }
        if rs.valid && (!rs.is_app_limited || rs.delivery_rate >= self.btl_bw()) {
            self.update_bw_filter(rs.delivery_rate);
        }
        let prior_inflight = ack.inflight.saturating_add(rs.newly_delivered);
        if self.mode == Mode::ProbeBw && self.is_next_cycle_phase(now, prior_inflight) {
            self.advance_cycle(now);
        }
        self.check_full_pipe(rs);
        self.check_drain(now, ack.inflight);
        self.update_rtprop(now, rs, ack);
        self.set_pacing_rate();
        self.set_cwnd(rs, ack);
        self.rate.pacing_rate = self.pacing_rate;
    }

    fn rate(&self) -> Option<&Rate> {
        Some(&self.rate)
    }

    fn bbr_info(&self) -> Option<BbrInfo> {
        let unit = |g: f64| (g * 256.0).round() as u32;
        Some(BbrInfo {
            mode: self.mode,
            btl_bw: self.btl_bw(),
            min_rtt: self.rtprop,
            pacing_gain: unit(self.pacing_gain),
            cwnd_gain: unit(self.cwnd_gain),
            round_count: self.round_count,
            probe_rtt_count: self.probe_rtt_count,
        })
    }

    fn rate_mut(&mut self) -> Option<&mut Rate> {
        Some(&mut self.rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;

    fn sample(prior: u64, rate: u64, newly: u32, rtt_ms: u64) -> RateSample {
        RateSample {
            delivered: u64::from(newly),
            interval: Duration::from_millis(rtt_ms),
            delivery_rate: rate,
            prior_delivered: prior,
            is_app_limited: false,
            rtt: Some(Duration::from_millis(rtt_ms)),
            newly_delivered: newly,
            valid: true,
        }
    }

    /// One round per call: a sample at `rate` whose segment was sent at the round's start.
    fn round(b: &mut Bbr, now: Instant, delivered: &mut u64, rate: u64, inflight: u32) {
        let prior = *delivered;
        *delivered += 10_000;
        let rs = sample(prior, rate, 10_000, 100);
        let ack = AckState {
            inflight,
            mss: MSS,
            in_recovery: false,
            delivered: *delivered,
            retransmitted: 0,
        };
        b.on_rate_sample(now, &rs, &ack);
    }

    #[test]
    fn startup_exits_on_plateau_then_drains_to_probe_bw() {
        let mut b = Bbr::default();
        b.on_established(MSS);
        let mut d = 0;
        let mut t = Instant::ZERO;
        let mut rate = 100_000;
        for _ in 0..5 {
            t += Duration::from_millis(100);
            round(&mut b, t, &mut d, rate, 50_000);
            rate *= 2;
            assert_eq!(b.mode(), Mode::Startup);
        }
        rate /= 2;
        // Rate plateaus: three rounds without 25% growth leave STARTUP.
        for _ in 0..3 {
            t += Duration::from_millis(100);
            round(&mut b, t, &mut d, rate, 500_000);
        }
        assert!(b.full_bw_reached());
        assert_eq!(b.mode(), Mode::Drain);
        assert!(b.pacing_gain() < 1.0);
        // In flight down to one BDP (1.6 MB/s · 100 ms = 160 kB): PROBE_BW.
        t += Duration::from_millis(100);
        round(&mut b, t, &mut d, rate, 150_000);
        assert_eq!(b.mode(), Mode::ProbeBw);
        // cwnd = 2·BDP + 3 MSS (the 1.25 phase adds 2 more).
        let bdp = rate as f64 * 0.1;
        assert!(f64::from(b.cwnd()) <= 2.0 * bdp + 5.0 * f64::from(MSS) + 1.0);
    }

    #[test]
    fn probe_rtt_after_ten_seconds_without_a_lower_rtt() {
        let mut b = Bbr::default();
        b.on_established(MSS);
        let mut d = 0;
        let mut t = Instant::ZERO;
        for _ in 0..30 {
            t += Duration::from_millis(100);
            round(&mut b, t, &mut d, 1_000_000, 100_000);
        }
        assert_eq!(b.mode(), Mode::ProbeBw);
        while t < Instant::from_secs(10) {
            t += Duration::from_millis(100);
            round(&mut b, t, &mut d, 1_000_000, 100_000);
            assert_ne!(b.mode(), Mode::ProbeRtt);
        }
        t += Duration::from_millis(200);
        round(&mut b, t, &mut d, 1_000_000, 100_000);
        assert_eq!(b.mode(), Mode::ProbeRtt);
        assert_eq!(b.cwnd(), 4 * MSS);
        // Inflight drains to 4 segments, then 200 ms and a round later it ends.
        for _ in 0..4 {
            t += Duration::from_millis(100);
            round(&mut b, t, &mut d, 1_000_000, 4 * MSS);
        }
        assert_eq!(b.mode(), Mode::ProbeBw);
        assert!(b.cwnd() > 4 * MSS);
        assert_eq!(b.probe_rtt_count(), 1);
    }
}
