//! CUBIC (RFC 9438), Linux's default congestion control.
//!
//! After a congestion event the window follows `W_cubic(t) = C·(t − K)³ + W_max` (§4.2),
//! concave up to the window where the loss happened and convex beyond it, with the
//! Reno-friendly estimate `W_est` (§4.3) as a floor. Windows are kept in segments as
//! floating point (the RFC's units) and reported in bytes.

use crate::cc::CongestionControl;
use crate::seq::Seq;
use crate::time::{Duration, Instant};

/// RFC 9406 §4.3 constants.
const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
const MIN_RTT_DIVISOR: u32 = 8;
const N_RTT_SAMPLE: u32 = 8;
const CSS_GROWTH_DIVISOR: f64 = 4.0;
const CSS_ROUNDS: u32 = 5;

/// HyStart++ (RFC 9406) state: slow start left on a rising RTT, through Conservative Slow
/// Start, before any loss. RTTs are whole nanoseconds in a `u64` ([`NONE`]: no value yet),
/// half the size of `Option<Duration>` and cheaper to compare.
#[derive(Clone, Debug, PartialEq)]
struct HyStart {
    /// The end of the current round (SND.NXT when it began).
    window_end: Option<Seq>,
    last_round_min_rtt: u64,
    current_round_min_rtt: u64,
    rtt_sample_count: u32,
    /// In Conservative Slow Start: the rounds spent (0 outside it).
    css_rounds: u32,
    /// In Conservative Slow Start: the baseline minimum RTT ([`NONE`] outside it).
    css_base: u64,
}

/// No RTT value (an RTT sample saturates one nanosecond below it).
const NONE: u64 = u64::MAX;

impl Default for HyStart {
    fn default() -> HyStart {
        HyStart {
            window_end: None,
            last_round_min_rtt: NONE,
            current_round_min_rtt: NONE,
            rtt_sample_count: 0,
            css_rounds: 0,
            css_base: NONE,
        }
    }
}

/// RFC 9438 §5.1: C = 0.4.
pub const C: f64 = 0.4;
/// RFC 9438 §4.6: β_cubic = 0.7.
pub const BETA: f64 = 0.7;
/// RFC 9438 §4.3: α_cubic = 3·(1 − β)/(1 + β).
pub const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// CUBIC state for one connection.
#[derive(Clone, Debug, PartialEq)]
pub struct Cubic {
    mss: f64,
    /// cwnd in segments.
    cwnd: f64,
    /// ssthresh in segments (`f64::INFINITY` until the first congestion event).
    ssthresh: f64,
    /// W_max: the window before the last reduction (segments).
    w_max: f64,
    /// The window at the start of the current congestion-avoidance epoch.
    cwnd_epoch: f64,
    /// K (seconds).
    k: f64,
    /// When the current congestion-avoidance epoch began.
    epoch_start: Option<Instant>,
    /// W_est, the Reno-friendly estimate (segments).
    w_est: f64,
    /// Smoothed RTT (seconds).
    srtt: f64,
    hystart: HyStart,
    /// W_max before the last congestion event (for an undo; negative: none).
    prior_w_max: f64,
    /// Slow start's per-ACK limit in segments (0: none).
    ss_limit: u32,
    /// `cwnd` in bytes as [`CongestionControl::cwnd`] reports it, recomputed by
    /// [`Cubic::sync`] whenever `cwnd` or `mss` changes instead of in floating point on
    /// every call (the send path asks for it several times per segment). It fills the
    /// padding after `ss_limit`.
    cwnd_bytes: u32,
}

/// Most freed CUBIC boxes a thread keeps for reuse.
const POOL_MAX: usize = 64;

std::thread_local! {
    /// Freed CUBIC boxes, each reset to [`Cubic::default`]. The boxes themselves are what is
    /// kept (their allocations are reused), hence `Vec<Box<_>>`.
    #[allow(clippy::vec_box)]
    static POOL: core::cell::RefCell<Vec<Box<Cubic>>> =
        const { core::cell::RefCell::new(Vec::new()) };
}

impl Cubic {
    /// A boxed [`Cubic::default`]: a pooled box (see [`CongestionControl::recycle`]), or a
    /// new allocation.
    pub(crate) fn boxed() -> Box<Cubic> {
        POOL.try_with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.pop()))
            .ok()
            .flatten()
            .unwrap_or_else(|| Box::new(Cubic::default()))
    }
}

impl Default for Cubic {
    fn default() -> Cubic {
        Cubic {
            mss: 536.0,
            cwnd: 10.0,
            ssthresh: f64::INFINITY,
            w_max: 0.0,
            cwnd_epoch: 0.0,
            k: 0.0,
            epoch_start: None,
            w_est: 0.0,
            srtt: 0.1,
            hystart: HyStart::default(),
            prior_w_max: -1.0,
            ss_limit: 1,
            // 10 segments of 536 bytes.
            cwnd_bytes: 5360,
        }
    }
}

impl Cubic {
    /// RFC 9438 §4.2 eq. 1: W_cubic(t) in segments, `t` seconds into the epoch.
    pub fn w_cubic(&self, t: f64) -> f64 {
        C * (t - self.k).powi(3) + self.w_max
    }

    /// K (seconds), RFC 9438 §4.2 eq. 2.
    pub fn k(&self) -> f64 {
        self.k
    }

    /// W_max (segments).
    pub fn w_max(&self) -> f64 {
        self.w_max
    }

    fn to_bytes(&self, segs: f64) -> u32 {
        let b = (segs * self.mss).round();
        if b >= f64::from(u32::MAX) {
            u32::MAX
        } else {
            b.max(self.mss) as u32
        }
    }

    fn set_mss(&mut self, mss: u32) {
        self.mss = f64::from(mss.max(1));
    }

    /// Recomputes `cwnd_bytes` from `cwnd` and `mss`; called at the end of every method
    /// that may change one of them, so the cached value is always exactly what the
    /// floating-point conversion gives.
    fn sync(&mut self) {
        self.cwnd_bytes = self.to_bytes(self.cwnd);
    }
}

impl CongestionControl for Cubic {
    fn name(&self) -> &'static str {
        "cubic"
    }

    fn recycle(mut self: Box<Self>) {
        *self = Cubic::default();
        // During thread teardown the pool may be gone: the box is then just freed.
        let _ = POOL.try_with(|p| {
            if let Ok(mut p) = p.try_borrow_mut()
                && p.len() < POOL_MAX
            {
                p.push(self);
            }
        });
    }

    fn on_established(&mut self, mss: u32) {
        self.set_mss(mss);
        // RFC 6928: initial window of 10 segments.
        self.cwnd = 10.0;
        self.sync();
    }

    fn on_rtt(&mut self, srtt: Duration) {
        self.srtt = nanos_f64(srtt) / 1e9;
    }

    fn on_rtt_nanos(&mut self, srtt_nanos: u64) {
        // `nanos_f64` of `Duration::from_nanos(srtt_nanos)` is `srtt_nanos as f64`.
        self.srtt = srtt_nanos as f64 / 1e9;
    }

    fn on_ack(&mut self, now: Instant, acked: u32, mss: u32) {
        self.set_mss(mss);
        let segs = f64::from(acked) / self.mss;
        if self.cwnd < self.ssthresh {
            // RFC 9438 §4.10 / RFC 5681 slow start: one segment per segment acknowledged
            // (at most L SMSS per ACK, RFC 3465 §2.2; Linux: no limit, up to ssthresh).
            self.cwnd += if self.hystart.css_base != NONE {
                // RFC 9406 §4.3 Conservative Slow Start: min(N, L·SMSS) / 4 per ACK, with
                // L at least 1 (Linux has no CSS: with its unlimited growth CSS would go
                // on overshooting for five rounds, W_max 106 on a lab path holding 86).
                segs.min(f64::from(self.ss_limit.max(1))) / CSS_GROWTH_DIVISOR
            } else if self.ss_limit == 0 {
                segs.min((self.ssthresh - self.cwnd).max(0.0))
            } else {
                segs.min(f64::from(self.ss_limit))
            };
            self.sync();
            return;
        }
        let start = match self.epoch_start {
            Some(t) => t,
            None => {
                // RFC 9438 §4.2: a new epoch; K from the window left after the reduction.
                self.epoch_start = Some(now);
                self.cwnd_epoch = self.cwnd;
                self.w_est = self.cwnd;
                self.k = if self.w_max > self.cwnd {
                    ((self.w_max - self.cwnd) / C).cbrt()
                } else {
                    self.w_max = self.cwnd;
                    0.0
                };
                now
            }
        };
        let t = nanos_f64(now - start) / 1e9;
        // §4.2: the target is W_cubic one RTT ahead, held within [cwnd, 1.5·cwnd].
        let target = self
            .w_cubic(t + self.srtt)
            .clamp(self.cwnd, 1.5 * self.cwnd);
        // §4.3: the Reno-friendly estimate grows by α per window acknowledged.
        self.w_est += ALPHA * segs / self.cwnd;
        if self.w_cubic(t) < self.w_est {
            // Reno-friendly region: follow W_est.
            if self.w_est > self.cwnd {
                self.cwnd += (self.w_est - self.cwnd).min(segs);
            }
        } else {
            // §4.4 / §4.5: concave and convex regions.
            self.cwnd += (target - self.cwnd) / self.cwnd * segs;
        }
        self.sync();
    }

    fn on_rtt_sample(&mut self, rtt: Duration, ack: Seq, nxt: Seq) {
        if self.cwnd >= self.ssthresh {
            return;
        }
        let rtt = u64::try_from(rtt.as_nanos()).map_or(NONE - 1, |n| n.min(NONE - 1));
        let h = &mut self.hystart;
        // RFC 9406 §4.2: a round ends when the ACK passes the SND.NXT it started with.
        if h.window_end.is_none_or(|end| ack.ge(end)) {
            h.window_end = Some(nxt);
            h.last_round_min_rtt = h.current_round_min_rtt;
            h.current_round_min_rtt = NONE;
            h.rtt_sample_count = 0;
            if h.css_base != NONE {
                h.css_rounds += 1;
                if h.css_rounds >= CSS_ROUNDS {
                    // §4.2: CSS_ROUNDS in CSS: leave slow start for congestion avoidance.
                    h.css_base = NONE;
                    h.css_rounds = 0;
                    self.ssthresh = self.cwnd;
                    return;
                }
            }
        }
        h.current_round_min_rtt = h.current_round_min_rtt.min(rtt);
        h.rtt_sample_count += 1;
        let (cur, last) = (h.current_round_min_rtt, h.last_round_min_rtt);
        if last == NONE || h.rtt_sample_count < N_RTT_SAMPLE {
            return;
        }
        if h.css_base == NONE {
            // §4.2: RttThresh = clamp(lastRoundMinRTT / 8, 4 ms, 16 ms).
            let thresh = (last / u64::from(MIN_RTT_DIVISOR)).clamp(
                MIN_RTT_THRESH.as_nanos() as u64,
                MAX_RTT_THRESH.as_nanos() as u64,
            );
            if cur >= last.saturating_add(thresh) {
                h.css_base = cur;
                h.css_rounds = 0;
            }
        } else if cur < h.css_base {
            // §4.2: the RTT increase was spurious: back to slow start.
            h.css_base = NONE;
            h.css_rounds = 0;
        }
    }

    fn set_slow_start_limit(&mut self, segs: u32) {
        self.ss_limit = segs;
    }

    fn on_congestion(&mut self, _now: Instant, _flight: u32, mss: u32) {
        self.set_mss(mss);
        self.hystart = HyStart::default();
        self.epoch_start = None;
        // §4.7 fast convergence: a flow whose W_max shrinks releases bandwidth sooner.
        self.w_max = if self.cwnd < self.w_max {
            self.cwnd * (1.0 + BETA) / 2.0
        } else {
            self.cwnd
        };
        // §4.6: ssthresh = cwnd·β (as Linux, from cwnd), at least 2 segments.
        self.ssthresh = (self.cwnd * BETA).max(2.0);
        self.sync();
    }

    fn set_cwnd(&mut self, cwnd: u32) {
        self.cwnd = (f64::from(cwnd) / self.mss).max(1.0);
        self.sync();
    }

    fn restore(&mut self, cwnd: u32, ssthresh: u32) {
        // RFC 9438 §4.9: a spurious congestion event is undone, W_max included.
        self.cwnd = (f64::from(cwnd) / self.mss).max(1.0);
        self.ssthresh = if ssthresh == u32::MAX {
            f64::INFINITY
        } else {
            f64::from(ssthresh) / self.mss
        };
        if self.prior_w_max >= 0.0 {
            self.w_max = core::mem::replace(&mut self.prior_w_max, -1.0);
        }
        self.epoch_start = None;
        self.sync();
    }

    fn on_recovery_end(&mut self) {
        // RFC 6937 §3: cwnd = ssthresh; an infinite ssthresh (no congestion event, or an
        // undo back to the initial one) would make the window infinite: it stays.
        if self.ssthresh.is_finite() {
            self.cwnd = self.ssthresh;
            self.sync();
        }
    }

    fn on_rto(&mut self, flight: u32, mss: u32) {
        // §4.8: a timeout is a congestion event, then cwnd = 1 segment (RFC 5681).
        let _ = flight;
        self.on_congestion(Instant::ZERO, flight, mss);
        self.cwnd = 1.0;
        self.sync();
    }

    fn on_idle_restart(&mut self, _now: Instant) {
        // §5.8: the epoch restarts after idle (a growth clock must not run while idle).
        self.epoch_start = None;
        self.hystart = HyStart::default();
    }

    fn cwnd(&self) -> u32 {
        self.cwnd_bytes
    }

    fn ssthresh(&self) -> u32 {
        if self.ssthresh.is_infinite() {
            u32::MAX
        } else {
            self.to_bytes(self.ssthresh)
        }
    }
}

/// `d.as_nanos() as f64`, converted from a `u64` when the count fits one (always, for
/// any duration under 584 years): the same value (both conversions round the same integer
/// to the nearest `f64`), without the `u128` conversion's library call, which cost every
/// ACK about 45 instructions.
#[inline]
fn nanos_f64(d: Duration) -> f64 {
    match d
        .as_secs()
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(u64::from(d.subsec_nanos())))
    {
        Some(n) => n as f64,
        None => nanos_f64_wide(d),
    }
}

/// [`nanos_f64`] beyond `u64` nanoseconds (out of line: the compiler would otherwise
/// compute it on every call).
#[cold]
#[inline(never)]
fn nanos_f64_wide(d: Duration) -> f64 {
    d.as_nanos() as f64
}

#[cfg(test)]
mod tests {
    /// `nanos_f64` equals the `u128` conversion, around every power of two (where
    /// rounding to 53 bits changes) and at the `u64` limit.
    #[test]
    fn nanos_f64_equals_the_u128_conversion() {
        for shift in 0..=80u32 {
            for delta in [-3i64, -1, 0, 1, 2, 1025] {
                let n = (1u128 << shift).saturating_add_signed(i128::from(delta));
                let d = Duration::new((n / 1_000_000_000) as u64, (n % 1_000_000_000) as u32);
                assert_eq!(
                    nanos_f64(d).to_bits(),
                    (d.as_nanos() as f64).to_bits(),
                    "{n}"
                );
            }
        }
        let max = Duration::new(u64::MAX, 999_999_999);
        assert_eq!(nanos_f64(max).to_bits(), (max.as_nanos() as f64).to_bits());
    }

    /// `on_rtt_nanos` leaves CUBIC exactly as `on_rtt` of the same duration does.
    #[test]
    fn on_rtt_nanos_equals_on_rtt() {
        for n in [
            0u64,
            1,
            999_999_999,
            1_000_000_000,
            123_456_789_012,
            1 << 53,
            (1 << 53) + 1,
            u64::MAX,
        ] {
            let mut a = Cubic::default();
            let mut b = Cubic::default();
            a.on_rtt(Duration::from_nanos(n));
            b.on_rtt_nanos(n);
            assert_eq!(a.srtt.to_bits(), b.srtt.to_bits(), "{n}");
        }
    }

    use super::*;

    #[test]
    fn rfc9438_window_follows_the_cubic_curve() {
        let mut c = Cubic::default();
        c.on_established(1000);
        c.on_rtt(Duration::from_millis(100));
        c.set_cwnd(100_000);
        c.on_congestion(Instant::ZERO, 100_000, 1000);
        assert_eq!((c.ssthresh(), c.w_max()), (70_000, 100.0));
        c.on_recovery_end();
        assert_eq!(c.cwnd(), 70_000);
        // K = cbrt(W_max·(1−β)/C) = cbrt(75) ≈ 4.217 s (RFC 9438 eq. 2).
        let t0 = Instant::from_secs(1);
        c.on_ack(t0, 1000, 1000);
        assert!((c.k() - 75f64.cbrt()).abs() < 1e-9);
        // Drive one ACK per segment for 10 s of 100 ms rounds and compare to W_cubic.
        let mut now = t0;
        for round in 1..=100u64 {
            let w = c.cwnd() / 1000;
            for _ in 0..w {
                c.on_ack(now, 1000, 1000);
            }
            now = t0 + Duration::from_millis(100 * round);
            let t = (100 * round) as f64 / 1000.0;
            let got = f64::from(c.cwnd()) / 1000.0;
            // The window tracks the curve within one round trip: between W_cubic one
            // RTT behind and the target one RTT ahead (§4.2).
            let behind = C * (t - 0.1 - c.k()).powi(3) + 100.0;
            let ahead = C * (t + 0.1 - c.k()).powi(3) + 100.0;
            assert!(
                got >= behind - 1.0 && got <= ahead + 1.0,
                "t={t}: cwnd {got} outside [{behind}, {ahead}]"
            );
        }
        // Near K the window plateaus at W_max; after it grows convexly past W_max.
        assert!(c.cwnd() > 100_000);
    }

    #[test]
    fn rfc9406_hystart_plus_plus_leaves_slow_start_on_rising_rtt() {
        let mut c = Cubic::default();
        c.on_established(1000);
        let ms = Duration::from_millis;
        let mut una = 0u32;
        let mut nxt = 10_000u32;
        // Round 1: 100 ms samples; round 2: 100 ms still (slow start goes on).
        for round in 0..2 {
            for i in 0..10 {
                c.on_rtt_sample(ms(100), Seq(una + 1000 * (i + 1)), Seq(nxt));
                c.on_ack(Instant::ZERO, 1000, 1000);
            }
            una = nxt;
            nxt += 20_000 << round;
        }
        let before = c.cwnd();
        assert_eq!(c.ssthresh(), u32::MAX);
        // Round 3: the RTT rises by 20 ms (more than 100/8 = 12.5 ms): after eight
        // samples, Conservative Slow Start grows a quarter as fast.
        for i in 0..16 {
            c.on_rtt_sample(ms(120), Seq(una + 1000 * (i + 1)), Seq(nxt));
            c.on_ack(Instant::ZERO, 1000, 1000);
        }
        let grown = c.cwnd() - before;
        assert!(
            (16 * 1000 / 4 - 1..16 * 1000).contains(&grown),
            "grew {grown}"
        );
        // Five CSS rounds later slow start ends: ssthresh = cwnd.
        for _ in 0..5 {
            una = nxt;
            nxt += 10_000;
            c.on_rtt_sample(ms(120), Seq(una + 1), Seq(nxt));
        }
        assert_eq!(c.ssthresh(), c.cwnd());
    }

    /// The cached window is exactly the floating-point conversion of the state after
    /// any sequence of calls (pseudo-random, MSS changes included).
    #[test]
    fn cached_windows_equal_the_conversion() {
        let mut c = Cubic::default();
        let mut rng = crate::conn::testlink::Rng(0x9e37_79b9_7f4a_7c15);
        let mut next = move || rng.next();
        let mut now = Instant::ZERO;
        let check = |c: &Cubic| {
            let ss = if c.ssthresh.is_infinite() {
                u32::MAX
            } else {
                c.to_bytes(c.ssthresh)
            };
            assert_eq!((c.cwnd(), c.ssthresh()), (c.to_bytes(c.cwnd), ss));
        };
        check(&c);
        for i in 0..200_000u32 {
            let r = next();
            let mss = [536, 1000, 1448, 1460, 8948][(r >> 8) as usize % 5];
            now += Duration::from_micros((r >> 40) & 0xfff);
            match r % 16 {
                0 => c.on_established(mss),
                1 => c.on_congestion(now, c.cwnd(), mss),
                2 => c.set_cwnd((r >> 20) as u32 % 2_000_000),
                3 => c.restore(
                    (r >> 20) as u32 % 2_000_000,
                    [u32::MAX, 70_000][i as usize % 2],
                ),
                // Also with an infinite ssthresh (after an undo to the initial one).
                4 => c.on_recovery_end(),
                5 => c.on_rto(c.cwnd(), mss),
                6 => c.on_idle_restart(now),
                7 => c.on_rtt(Duration::from_micros(r >> 44)),
                8 => c.on_rtt_sample(
                    Duration::from_micros(r >> 46),
                    Seq(i.wrapping_mul(1000)),
                    Seq(i.wrapping_mul(1000).wrapping_add(20_000)),
                ),
                9 => c.set_slow_start_limit((r >> 30) as u32 % 3),
                _ => c.on_ack(now, (r >> 24) as u32 % 3 * mss, mss),
            }
            check(&c);
        }
    }

    #[test]
    fn rfc9438_fast_convergence_and_timeout() {
        let mut c = Cubic::default();
        c.on_established(1000);
        c.set_cwnd(100_000);
        c.on_congestion(Instant::ZERO, 100_000, 1000);
        c.set_cwnd(80_000);
        c.on_congestion(Instant::ZERO, 80_000, 1000);
        // W_max = 80·(1+β)/2 = 68 segments.
        assert!((c.w_max() - 68.0).abs() < 1e-9);
        c.on_rto(50_000, 1000);
        assert_eq!(c.cwnd(), 1000);
    }
}
