//! Round-trip time estimation and the retransmission timeout (RFC 6298).
//!
//! Samples come from timestamps when negotiated (RFC 7323 §4) and otherwise from one timed
//! segment at a time, never from a retransmitted one (Karn's rule, RFC 6298 §3).

use crate::time::Duration;

/// RFC 6298 §2: clock granularity G. The engine's clock is exact; Linux's is a jiffy, and
/// its minimum RTO dominates anyway.
const GRANULARITY_NS: u128 = 1_000_000;

/// How the RTO is computed from SRTT and RTTVAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum RtoRule {
    /// Linux (`tcp_rtt_estimator()`'s mdev floor, `__tcp_set_rto()`): RTO = SRTT +
    /// max(4·RTTVAR, RTO_min), so the floor is added to the RTT and a delayed ACK on a
    /// long, steady path does not fire the timer.
    #[default]
    Linux,
    /// RFC 6298 §2.3-2.4: RTO = max(RTO_min, SRTT + max(G, 4·RTTVAR)).
    Rfc6298,
}

/// A duration as stored in the estimator: whole nanoseconds in a `u64` (half the size of a
/// `Duration`; 584 years at most), with `u64::MAX` reserved for "none". Arithmetic is done
/// on whole nanoseconds in `u128`, which gives exactly the figures of `Duration` arithmetic
/// (see [`RttEstimator::sample_nanos`]) for a fraction of the instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Nanos(u64);

impl Nanos {
    const NONE: Nanos = Nanos(u64::MAX);

    fn of(d: Duration) -> Nanos {
        Nanos(u64::try_from(d.as_nanos()).map_or(u64::MAX - 1, |n| n.min(u64::MAX - 1)))
    }

    /// A result of the `u128` arithmetic, saturated below `NONE`.
    fn wide(n: u128) -> Nanos {
        Nanos(n.min(u128::from(u64::MAX - 1)) as u64)
    }

    fn get(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    fn opt(self) -> Option<Duration> {
        (self != Nanos::NONE).then(|| self.get())
    }
}

/// An RTO bound as stored in the estimator: whole microseconds in a `u32` (at most about
/// 71 minutes, far above any RTO bound; larger ones saturate), so that both bounds take
/// the room of one [`Nanos`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Micros32(u32);

impl Micros32 {
    fn of(d: Duration) -> Micros32 {
        Micros32(u32::try_from(d.as_micros()).unwrap_or(u32::MAX))
    }

    fn get(self) -> Duration {
        Duration::from_micros(u64::from(self.0))
    }

    #[inline]
    fn nanos(self) -> u64 {
        u64::from(self.0) * 1000
    }
}

/// SRTT, RTTVAR and RTO of one connection (RFC 6298 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RttEstimator {
    srtt: Nanos,
    rttvar: Nanos,
    latest: Nanos,
    min_rtt: Nanos,
    rto: Nanos,
    rto_min: Micros32,
    rto_max: Micros32,
    rule: RtoRule,
}

impl RttEstimator {
    /// No sample yet: RTO = `initial` (RFC 6298 §2.1: 1 s), bounded by `[min, max]`.
    pub fn new(initial: Duration, min: Duration, max: Duration) -> RttEstimator {
        RttEstimator {
            srtt: Nanos::NONE,
            rttvar: Nanos(0),
            latest: Nanos(0),
            min_rtt: Nanos::NONE,
            rto: Nanos::of(initial.min(max)),
            rto_min: Micros32::of(min),
            rto_max: Micros32::of(max),
            rule: RtoRule::Rfc6298,
        }
    }

    /// The same estimator computing the RTO by `rule` (the default is RFC 6298's).
    pub fn with_rule(mut self, rule: RtoRule) -> RttEstimator {
        self.rule = rule;
        self
    }

    /// Takes one RTT measurement `r` (RFC 6298 §2.2 and §2.3).
    pub fn sample(&mut self, r: Duration) {
        self.sample_nanos(Nanos::of(r).0);
    }

    /// [`RttEstimator::sample`] of `r` nanoseconds. The figures are computed on whole
    /// nanoseconds in `u128` (no overflow), so they are exactly those of `Duration`
    /// arithmetic: the divisors 2, 4 and 8 divide 10^9, so `Duration`'s division floors the
    /// total nanoseconds just as integer division does.
    pub(crate) fn sample_nanos(&mut self, r: u64) {
        let r = r.min(u64::MAX - 1);
        self.latest = Nanos(r);
        self.min_rtt = Nanos(self.min_rtt.0.min(r));
        let r = u128::from(r);
        let srtt = match self.srtt {
            // §2.2: SRTT <- R, RTTVAR <- R/2.
            Nanos::NONE => {
                self.rttvar = Nanos::wide(r / 2);
                r
            }
            // §2.3: RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|; SRTT <- 7/8 SRTT + 1/8 R'.
            Nanos(srtt) => {
                let srtt = u128::from(srtt);
                let delta = srtt.abs_diff(r);
                self.rttvar = Nanos::wide((u128::from(self.rttvar.0) * 3 + delta) / 4);
                (srtt * 7 + r) / 8
            }
        };
        self.srtt = Nanos::wide(srtt);
        let srtt = u128::from(self.srtt.0);
        let rttvar4 = u128::from(self.rttvar.0) * 4;
        let rto = match self.rule {
            // RTO <- SRTT + max(G, K*RTTVAR), K = 4; §2.4 lower bound.
            RtoRule::Rfc6298 => srtt + GRANULARITY_NS.max(rttvar4),
            // Linux: the variance term is never below RTO_min.
            RtoRule::Linux => srtt + u128::from(self.rto_min.nanos()).max(rttvar4),
        };
        // §2.5: an upper bound (Linux TCP_RTO_MAX, 120 s); never below the minimum.
        self.rto = Nanos::wide(
            rto.min(u128::from(self.rto_max.nanos()))
                .max(u128::from(self.rto_min.nanos())),
        );
    }

    /// The current RTO before backoff.
    pub fn rto(&self) -> Duration {
        self.rto.get()
    }

    /// The RTO after `backoff` doublings (RFC 6298 §5.5), at most the maximum.
    pub fn backed_off(&self, backoff: u32) -> Duration {
        Duration::from_nanos(self.backed_off_nanos(backoff))
    }

    /// [`RttEstimator::backed_off`] in nanoseconds.
    pub(crate) fn backed_off_nanos(&self, backoff: u32) -> u64 {
        let factor = 1u32.checked_shl(backoff.min(31)).unwrap_or(u32::MAX);
        (u128::from(self.rto.0) * u128::from(factor)).min(u128::from(self.rto_max.nanos())) as u64
    }

    /// The upper bound on the RTO in nanoseconds.
    pub(crate) fn rto_max_nanos(&self) -> u64 {
        self.rto_max.nanos()
    }

    /// SRTT in nanoseconds, if a sample has been taken.
    pub(crate) fn srtt_nanos(&self) -> Option<u64> {
        (self.srtt != Nanos::NONE).then_some(self.srtt.0)
    }

    /// The upper bound on the RTO.
    pub fn rto_max(&self) -> Duration {
        self.rto_max.get()
    }

    /// SRTT, if a sample has been taken.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt.opt()
    }

    /// RTTVAR.
    pub fn rttvar(&self) -> Duration {
        self.rttvar.get()
    }

    /// The most recent sample.
    pub fn latest(&self) -> Duration {
        self.latest.get()
    }

    /// The smallest sample seen.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt.opt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn rfc6298_2_initial_first_and_later_samples() {
        let mut e = RttEstimator::new(ms(1000), ms(200), ms(120_000));
        assert_eq!(e.rto(), ms(1000));
        e.sample(ms(100));
        // SRTT 100, RTTVAR 50, RTO = 100 + 200 = 300.
        assert_eq!(
            (e.srtt(), e.rttvar(), e.rto()),
            (Some(ms(100)), ms(50), ms(300))
        );
        e.sample(ms(300));
        // RTTVAR = 3/4*50 + 1/4*200 = 87.5; SRTT = 7/8*100 + 300/8 = 125; RTO = 475.
        assert_eq!(e.srtt(), Some(ms(125)));
        assert_eq!(e.rttvar(), Duration::from_micros(87_500));
        assert_eq!(e.rto(), ms(475));
    }

    #[test]
    fn linux_rule_adds_the_floor_to_the_smoothed_rtt() {
        let mut e = RttEstimator::new(ms(1000), ms(200), ms(120_000)).with_rule(RtoRule::Linux);
        // A steady 200 ms path: RTTVAR decays towards 0, so RFC 6298 would give about
        // 200 ms (one RTT); Linux keeps SRTT + 200 ms.
        for _ in 0..50 {
            e.sample(ms(200));
        }
        assert_eq!(e.rto(), ms(400));
        // A large variance dominates the floor: 100 + 4·50.
        let mut e = RttEstimator::new(ms(1000), ms(10), ms(120_000)).with_rule(RtoRule::Linux);
        e.sample(ms(100));
        assert_eq!(e.rto(), ms(300));
        // Capped at the maximum.
        let mut e = RttEstimator::new(ms(1000), ms(200), ms(1000)).with_rule(RtoRule::Linux);
        e.sample(ms(900));
        assert_eq!(e.rto(), ms(1000));
        // The RFC rule on the same steady path: one RTT.
        let mut e = RttEstimator::new(ms(1000), ms(200), ms(120_000));
        for _ in 0..50 {
            e.sample(ms(200));
        }
        assert!(e.rto() < ms(210), "{:?}", e.rto());
    }

    #[test]
    fn rfc6298_2_4_minimum_and_5_5_backoff_bounded() {
        let mut e = RttEstimator::new(ms(1000), ms(200), ms(120_000));
        e.sample(ms(1));
        assert_eq!(e.rto(), ms(200));
        assert_eq!(e.backed_off(3), ms(1600));
        assert_eq!(e.backed_off(40), ms(120_000));
    }

    /// The figures of the integer arithmetic against the `Duration` arithmetic the
    /// estimator used before (kept here as the reference), for both rules, over samples
    /// from a nanosecond to beyond the maximum RTO, including `Duration::MAX`.
    #[test]
    fn integer_arithmetic_matches_duration_arithmetic() {
        struct Reference {
            srtt: Option<Duration>,
            rttvar: Duration,
            min_rtt: Option<Duration>,
            rto: Duration,
        }
        let clamp = |d: Duration| Nanos::of(d).get();
        let (min, max) = (ms(200), ms(120_000));
        for rule in [RtoRule::Rfc6298, RtoRule::Linux] {
            let mut e = RttEstimator::new(ms(1000), min, max).with_rule(rule);
            let mut r = Reference {
                srtt: None,
                rttvar: Duration::ZERO,
                min_rtt: None,
                rto: ms(1000),
            };
            // A deterministic xorshift over wide magnitudes.
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            for i in 0..20_000u32 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let sample = match i % 5 {
                    0 => Duration::from_nanos(x % 1_000),
                    1 => Duration::from_nanos(x % 1_000_000_000),
                    2 => Duration::from_nanos(x % 400_000_000_000),
                    3 => Duration::from_nanos(x),
                    _ if i % 1000 == 4 => Duration::MAX,
                    _ => Duration::from_micros(x % 300_000),
                };
                e.sample(sample);
                let s = clamp(sample);
                r.min_rtt = Some(r.min_rtt.map_or(s, |m| m.min(s)));
                let srtt = match r.srtt {
                    None => {
                        r.rttvar = clamp(s / 2);
                        s
                    }
                    Some(srtt) => {
                        r.rttvar = clamp((r.rttvar * 3 + srtt.abs_diff(s)) / 4);
                        (srtt * 7 + s) / 8
                    }
                };
                r.srtt = Some(clamp(srtt));
                let (srtt, var) = (r.srtt.unwrap_or_default(), r.rttvar);
                let rto = match rule {
                    RtoRule::Rfc6298 => srtt + ms(1).max(var * 4),
                    RtoRule::Linux => srtt + min.max(var * 4),
                };
                r.rto = clamp(rto.min(max).max(min));
                assert_eq!(
                    (e.srtt(), e.rttvar(), e.min_rtt(), e.rto(), e.latest()),
                    (r.srtt, r.rttvar, r.min_rtt, r.rto, s),
                    "sample {i} of {sample:?} ({rule:?})"
                );
                for b in [0, 1, 5, 31, 40] {
                    let factor = 1u32.checked_shl(b.min(31)).unwrap_or(u32::MAX);
                    assert_eq!(e.backed_off(b), r.rto.saturating_mul(factor).min(max));
                }
            }
        }
    }

    #[test]
    fn stored_in_one_word_per_figure() {
        assert!(core::mem::size_of::<RttEstimator>() <= 64);
        // The largest durations saturate instead of wrapping.
        let e = RttEstimator::new(Duration::MAX, ms(200), Duration::MAX);
        assert_eq!(e.rto(), Duration::from_nanos(u64::MAX - 1));
    }
}
