//! Congestion control behind a trait: the seam for Reno, CUBIC and friends.
//!
//! The engine reports acknowledgments, duplicate-ACK recovery and timeouts; the algorithm
//! answers with the congestion window. [`Reno`] is the baseline (RFC 5681 slow start and
//! congestion avoidance, RFC 6928 initial window of 10 segments, RFC 5681 §3.2 fast
//! retransmit with NewReno's recovery point, RFC 6582). Full loss recovery (SACK
//! scoreboard, RACK) and CUBIC are left to implementations of this trait.

use crate::time::Instant;
use core::fmt::Debug;

/// A congestion-control algorithm for one connection. Windows are in bytes.
pub trait CongestionControl: Debug + Send {
    /// The name (`ss -i` shows it: `reno`, `cubic`).
    fn name(&self) -> &'static str;
    /// The connection is established with send MSS `mss` (sets the initial window).
    fn on_established(&mut self, mss: u32);
    /// `acked` new bytes were acknowledged outside recovery.
    fn on_ack(&mut self, now: Instant, acked: u32, mss: u32);
    /// Fast retransmit (RFC 5681 §3.2 step 2): `flight` bytes were outstanding.
    fn on_fast_retransmit(&mut self, flight: u32, mss: u32);
    /// A further duplicate ACK during recovery (RFC 5681 §3.2 step 4: inflate).
    fn on_dup_ack_in_recovery(&mut self, mss: u32);
    /// A partial ACK during recovery acknowledged `acked` bytes (RFC 6582 §3.2 step 3).
    fn on_partial_ack(&mut self, acked: u32, mss: u32);
    /// Recovery ended with a full acknowledgment (RFC 5681 §3.2 step 6: deflate).
    fn on_recovery_end(&mut self);
    /// A retransmission timeout with `flight` bytes outstanding (RFC 5681 §3.1 eq. 4).
    fn on_rto(&mut self, flight: u32, mss: u32);
    /// The congestion window.
    fn cwnd(&self) -> u32;
    /// The slow-start threshold.
    fn ssthresh(&self) -> u32;
}

/// Reno (RFC 5681) with the RFC 6928 initial window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reno {
    cwnd: u32,
    ssthresh: u32,
    /// Bytes acknowledged toward the next congestion-avoidance increment.
    acked_accum: u32,
}

impl Default for Reno {
    fn default() -> Reno {
        Reno {
            cwnd: 10 * 536,
            // RFC 5681 §3.1: "arbitrarily high" initial ssthresh (Linux: infinite).
            ssthresh: u32::MAX,
            acked_accum: 0,
        }
    }
}

impl CongestionControl for Reno {
    fn name(&self) -> &'static str {
        "reno"
    }

    fn on_established(&mut self, mss: u32) {
        // RFC 6928 §2: IW = min(10*MSS, max(2*MSS, 14600)); Linux uses 10*MSS.
        self.cwnd = mss.saturating_mul(10);
    }

    fn on_ack(&mut self, _now: Instant, acked: u32, mss: u32) {
        if self.cwnd < self.ssthresh {
            // RFC 5681 §3.1 slow start: cwnd += min(N, SMSS) per ACK (RFC 3465 L = 1).
            self.cwnd = self.cwnd.saturating_add(acked.min(mss));
        } else {
            // Congestion avoidance: one SMSS per window of acknowledged data (RFC 3465).
            self.acked_accum = self.acked_accum.saturating_add(acked);
            if self.acked_accum >= self.cwnd {
                self.acked_accum -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(mss);
            }
        }
    }

    fn on_fast_retransmit(&mut self, flight: u32, mss: u32) {
        // RFC 5681 §3.2 step 2-3: ssthresh = max(FlightSize/2, 2*SMSS); cwnd = ssthresh+3.
        self.ssthresh = (flight / 2).max(2 * mss);
        self.cwnd = self.ssthresh.saturating_add(3 * mss);
        self.acked_accum = 0;
    }

    fn on_dup_ack_in_recovery(&mut self, mss: u32) {
        self.cwnd = self.cwnd.saturating_add(mss);
    }

    fn on_partial_ack(&mut self, acked: u32, mss: u32) {
        // RFC 6582 §3.2 step 3: deflate by the amount acked, add back one SMSS.
        self.cwnd = self.cwnd.saturating_sub(acked).saturating_add(mss);
    }

    fn on_recovery_end(&mut self) {
        self.cwnd = self.ssthresh;
    }

    fn on_rto(&mut self, flight: u32, mss: u32) {
        // RFC 5681 §3.1 eq. 4 and LW = 1 SMSS.
        self.ssthresh = (flight / 2).max(2 * mss);
        self.cwnd = mss;
        self.acked_accum = 0;
    }

    fn cwnd(&self) -> u32 {
        self.cwnd
    }

    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5681_slow_start_avoidance_and_recovery() {
        let mut r = Reno::default();
        r.on_established(1000);
        assert_eq!(r.cwnd(), 10_000);
        r.on_ack(Instant::ZERO, 1000, 1000);
        assert_eq!(r.cwnd(), 11_000);
        r.on_fast_retransmit(20_000, 1000);
        assert_eq!((r.ssthresh(), r.cwnd()), (10_000, 13_000));
        r.on_dup_ack_in_recovery(1000);
        assert_eq!(r.cwnd(), 14_000);
        r.on_recovery_end();
        assert_eq!(r.cwnd(), 10_000);
        // Congestion avoidance: +1 MSS per cwnd of data.
        for _ in 0..10 {
            r.on_ack(Instant::ZERO, 1000, 1000);
        }
        assert_eq!(r.cwnd(), 11_000);
        r.on_rto(11_000, 1000);
        assert_eq!((r.ssthresh(), r.cwnd()), (5_500, 1000));
    }
}
