//! Round-trip time estimation and the retransmission timeout (RFC 6298).
//!
//! Samples come from timestamps when negotiated (RFC 7323 §4) and otherwise from one timed
//! segment at a time, never from a retransmitted one (Karn's rule, RFC 6298 §3).

use crate::time::Duration;

/// RFC 6298 §2: clock granularity G. The engine's clock is exact; Linux's is a jiffy, and
/// its minimum RTO dominates anyway.
const GRANULARITY: Duration = Duration::from_millis(1);

/// SRTT, RTTVAR and RTO of one connection (RFC 6298 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    latest: Duration,
    min_rtt: Option<Duration>,
    rto: Duration,
    rto_min: Duration,
    rto_max: Duration,
}

impl RttEstimator {
    /// No sample yet: RTO = `initial` (RFC 6298 §2.1: 1 s), bounded by `[min, max]`.
    pub fn new(initial: Duration, min: Duration, max: Duration) -> RttEstimator {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            latest: Duration::ZERO,
            min_rtt: None,
            rto: initial.min(max),
            rto_min: min,
            rto_max: max,
        }
    }

    /// Takes one RTT measurement `r` (RFC 6298 §2.2 and §2.3).
    pub fn sample(&mut self, r: Duration) {
        self.latest = r;
        self.min_rtt = Some(self.min_rtt.map_or(r, |m| m.min(r)));
        match self.srtt {
            // §2.2: SRTT <- R, RTTVAR <- R/2.
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            // §2.3: RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|; SRTT <- 7/8 SRTT + 1/8 R'.
            Some(srtt) => {
                let delta = srtt.abs_diff(r);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + r) / 8);
            }
        }
        // RTO <- SRTT + max(G, K*RTTVAR), K = 4; §2.4 lower bound (Linux 200 ms); §2.5 max.
        let srtt = self.srtt.unwrap_or(r);
        let rto = srtt + GRANULARITY.max(self.rttvar * 4);
        self.rto = rto.clamp(self.rto_min, self.rto_max);
    }

    /// The current RTO before backoff.
    pub fn rto(&self) -> Duration {
        self.rto
    }

    /// The RTO after `backoff` doublings (RFC 6298 §5.5), at most the maximum.
    pub fn backed_off(&self, backoff: u32) -> Duration {
        let factor = 1u32.checked_shl(backoff.min(31)).unwrap_or(u32::MAX);
        self.rto.saturating_mul(factor).min(self.rto_max)
    }

    /// The upper bound on the RTO.
    pub fn rto_max(&self) -> Duration {
        self.rto_max
    }

    /// SRTT, if a sample has been taken.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// RTTVAR.
    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }

    /// The most recent sample.
    pub fn latest(&self) -> Duration {
        self.latest
    }

    /// The smallest sample seen.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
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
    fn rfc6298_2_4_minimum_and_5_5_backoff_bounded() {
        let mut e = RttEstimator::new(ms(1000), ms(200), ms(120_000));
        e.sample(ms(1));
        assert_eq!(e.rto(), ms(200));
        assert_eq!(e.backed_off(3), ms(1600));
        assert_eq!(e.backed_off(40), ms(120_000));
    }
}
