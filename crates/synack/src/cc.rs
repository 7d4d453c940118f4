//! Congestion control behind a trait: Reno (RFC 5681), CUBIC (RFC 9438, the default as on
//! Linux) and BBR v1 ([`crate::bbr`], paced, driven by delivery-rate samples), selectable by name ([`by_name`], `net.ipv4.tcp_congestion_control`).
//!
//! The engine owns loss detection and recovery (SACK scoreboard per RFC 6675, NewReno per
//! RFC 6582, Proportional Rate Reduction per RFC 6937): it tells the algorithm about
//! acknowledgments outside recovery, about congestion events (a loss, an ECN echo), and
//! about timeouts; the algorithm answers with ssthresh and the window. During recovery PRR
//! writes the window through [`CongestionControl::set_cwnd`]; at its end the window is
//! ssthresh (RFC 6937 §3).

use crate::rate::{Rate, RateSample};
use crate::seq::Seq;
use crate::time::{Duration, Instant};
use core::fmt::Debug;

/// The algorithms [`by_name`] knows (`net.ipv4.tcp_available_congestion_control`).
pub const AVAILABLE: &[&str] = &["reno", "cubic", "bbr"];

/// The default algorithm, as on Linux.
pub const DEFAULT: &str = "cubic";

/// The algorithm called `name` (`reno`, `cubic`, `bbr`), as `net.ipv4.tcp_congestion_control` and
/// `TCP_CONGESTION` name them (FreeBSD's `newreno` is Reno with RFC 6582 recovery, which the
/// engine always does); `None` for an unknown name.
pub fn by_name(name: &str) -> Option<Box<dyn CongestionControl>> {
    match name {
        "reno" | "newreno" => Some(Box::new(Reno::default())),
        "cubic" => Some(crate::cubic::Cubic::boxed()),
        "bbr" => Some(Box::new(crate::bbr::Bbr::default())),
        _ => None,
    }
}

/// A congestion-control algorithm for one connection. Windows are in bytes.
pub trait CongestionControl: Debug + Send {
    /// The name (`ss -i` shows it: `reno`, `cubic`).
    fn name(&self) -> &'static str;
    /// The connection is established with send MSS `mss` (sets the initial window).
    fn on_established(&mut self, mss: u32);
    /// The connection lets the algorithm go: an algorithm may keep its allocation for the
    /// next connection (CUBIC does, in a bounded per-thread pool); by default it is freed.
    fn recycle(self: Box<Self>) {}
    /// `acked` new bytes were acknowledged outside recovery.
    fn on_ack(&mut self, now: Instant, acked: u32, mss: u32);
    /// RFC 3465 §2.2: the most one ACK may grow the window in slow start, in segments (L;
    /// 1 by default, FreeBSD's `net.inet.tcp.abc_l_var` is 2); 0 for no limit, where the
    /// window grows by every segment acknowledged up to ssthresh (Linux's
    /// `tcp_slow_start()`; CUBIC's RFC 9406 Conservative Slow Start keeps at most one
    /// SMSS per ACK). Algorithms without RFC 5681 slow start (BBR) ignore it.
    fn set_slow_start_limit(&mut self, segs: u32) {
        let _ = segs;
    }
    /// A new smoothed RTT estimate (CUBIC's clock looks one RTT ahead).
    fn on_rtt(&mut self, srtt: Duration) {
        let _ = srtt;
    }
    /// [`CongestionControl::on_rtt`] of `srtt_nanos` nanoseconds, as the engine's estimator
    /// keeps it (an algorithm may take it without building a `Duration`; the effect must
    /// be that of `on_rtt`).
    fn on_rtt_nanos(&mut self, srtt_nanos: u64) {
        self.on_rtt(Duration::from_nanos(srtt_nanos));
    }
    /// One RTT sample from the ACK for `ack`, with `nxt` = SND.NXT (HyStart++ tracks rounds
    /// and the minimum RTT of each).
    fn on_rtt_sample(&mut self, rtt: Duration, ack: Seq, nxt: Seq) {
        let _ = (rtt, ack, nxt);
    }
    /// A congestion event (loss detected by fast retransmit / SACK / RACK, or an ECN echo)
    /// with `flight` bytes outstanding: set ssthresh (multiplicative decrease). The window
    /// itself is then driven by the engine's recovery (PRR) through `set_cwnd`.
    fn on_congestion(&mut self, now: Instant, flight: u32, mss: u32);
    /// Recovery (PRR) or an undo sets the window.
    fn set_cwnd(&mut self, cwnd: u32);
    /// The reduction was spurious (RFC 3522 / RFC 4015 undo): put back the window and
    /// ssthresh from before it.
    fn restore(&mut self, cwnd: u32, ssthresh: u32);
    /// Recovery ended with a full acknowledgment (RFC 6937 §3: cwnd = ssthresh). With no
    /// ssthresh set (`u32::MAX`, no congestion event yet) the window stays as it is.
    fn on_recovery_end(&mut self);
    /// A retransmission timeout with `flight` bytes outstanding (RFC 5681 §3.1 eq. 4).
    fn on_rto(&mut self, flight: u32, mss: u32);
    /// The connection restarts after idle (RFC 7661 / tcp_slow_start_after_idle): the
    /// algorithm forgets its growth epoch.
    fn on_idle_restart(&mut self, now: Instant) {
        let _ = now;
    }
    /// The congestion window.
    fn cwnd(&self) -> u32;
    /// The slow-start threshold.
    fn ssthresh(&self) -> u32;
    /// The delivery-rate sampler and pacing clock of an algorithm driven by rate samples
    /// (BBR keeps one; `None` for the others, which then cost nothing per segment but
    /// this call). With one, the engine samples rates ([`crate::rate`]), calls
    /// [`CongestionControl::on_rate_sample`] on every ACK that delivers data, leaves the
    /// window in recovery to the algorithm instead of PRR, and paces at the rate the
    /// algorithm writes into it. Whether there is one must not change while the algorithm
    /// is installed: the engine reads it once, when the algorithm is set.
    fn rate(&self) -> Option<&Rate> {
        None
    }
    /// The same, to update.
    fn rate_mut(&mut self) -> Option<&mut Rate> {
        None
    }
    /// BBR's model and state (`TCP_CC_INFO`); `None` for other algorithms.
    fn bbr_info(&self) -> Option<crate::bbr::BbrInfo> {
        None
    }
    /// A delivery-rate sample from an ACK, with the connection's state after it.
    fn on_rate_sample(&mut self, now: Instant, rs: &RateSample, ack: &AckState) {
        let _ = (now, rs, ack);
    }
}

/// The connection's state after an ACK, as [`CongestionControl::on_rate_sample`] sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AckState {
    /// Bytes in flight (RFC 6675 SetPipe).
    pub inflight: u32,
    /// The send MSS.
    pub mss: u32,
    /// In loss recovery (fast recovery, or going back over the window after a timeout).
    pub in_recovery: bool,
    /// Bytes delivered over the connection's life (`C.delivered`).
    pub delivered: u64,
    /// Bytes retransmitted over the connection's life.
    pub retransmitted: u64,
}

/// Reno (RFC 5681) with the RFC 6928 initial window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reno {
    cwnd: u32,
    ssthresh: u32,
    /// Bytes acknowledged toward the next congestion-avoidance increment.
    acked_accum: u32,
    /// Slow start's per-ACK limit in segments (0: none).
    ss_limit: u32,
}

impl Default for Reno {
    fn default() -> Reno {
        Reno {
            cwnd: 10 * 536,
            // RFC 5681 §3.1: "arbitrarily high" initial ssthresh (Linux: infinite).
            ssthresh: u32::MAX,
            acked_accum: 0,
            ss_limit: 1,
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
            // RFC 5681 §3.1 slow start: cwnd += min(N, L·SMSS) per ACK (RFC 3465 §2.2).
            self.cwnd = if self.ss_limit == 0 {
                // Linux (tcp_slow_start()): every segment acknowledged, up to ssthresh.
                self.cwnd
                    .saturating_add(acked)
                    .min(self.ssthresh.max(self.cwnd))
            } else {
                self.cwnd
                    .saturating_add(acked.min(mss.saturating_mul(self.ss_limit)))
            };
        } else {
            // Congestion avoidance: one SMSS per window of acknowledged data (RFC 3465).
            self.acked_accum = self.acked_accum.saturating_add(acked);
            if self.acked_accum >= self.cwnd {
                self.acked_accum -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(mss);
            }
        }
    }

    fn set_slow_start_limit(&mut self, segs: u32) {
        self.ss_limit = segs;
    }

    fn on_congestion(&mut self, _now: Instant, flight: u32, mss: u32) {
        // RFC 5681 §3.2 step 2: ssthresh = max(FlightSize/2, 2*SMSS).
        self.ssthresh = (flight / 2).max(2 * mss);
        self.acked_accum = 0;
    }

    fn set_cwnd(&mut self, cwnd: u32) {
        self.cwnd = cwnd;
    }

    fn restore(&mut self, cwnd: u32, ssthresh: u32) {
        self.cwnd = cwnd;
        self.ssthresh = ssthresh;
        self.acked_accum = 0;
    }

    fn on_recovery_end(&mut self) {
        // RFC 6937 §3: cwnd = ssthresh, which exists only after a congestion event (an
        // infinite one, after an undo to the initial ssthresh, leaves cwnd as it is).
        if self.ssthresh != u32::MAX {
            self.cwnd = self.ssthresh;
        }
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
        r.on_congestion(Instant::ZERO, 20_000, 1000);
        assert_eq!((r.ssthresh(), r.cwnd()), (10_000, 11_000));
        r.set_cwnd(9_000);
        r.on_recovery_end();
        assert_eq!(r.cwnd(), 10_000);
        assert_eq!(by_name("reno").unwrap().name(), "reno");
        assert_eq!(by_name("cubic").unwrap().name(), "cubic");
        assert_eq!(by_name("newreno").unwrap().name(), "reno");
        assert_eq!(by_name("bbr").unwrap().name(), "bbr");
        assert!(by_name("bbr").unwrap().rate().is_some());
        assert!(by_name("cubic").unwrap().rate().is_none());
        assert!(by_name("vegas").is_none());
        // Congestion avoidance: +1 MSS per cwnd of data.
        for _ in 0..10 {
            r.on_ack(Instant::ZERO, 1000, 1000);
        }
        assert_eq!(r.cwnd(), 11_000);
        r.on_rto(11_000, 1000);
        assert_eq!((r.ssthresh(), r.cwnd()), (5_500, 1000));
    }

    /// RFC 6937 §3's cwnd = ssthresh at the end of recovery needs an ssthresh: after an
    /// undo back to the initial (infinite) one, no algorithm may take it as the window.
    #[test]
    fn recovery_end_without_ssthresh_keeps_the_window() {
        for name in ["reno", "cubic"] {
            let mut c = by_name(name).unwrap();
            c.on_established(1000);
            c.on_congestion(Instant::ZERO, 20_000, 1000);
            c.restore(12_000, u32::MAX);
            let before = c.cwnd();
            c.on_recovery_end();
            assert_eq!(c.ssthresh(), u32::MAX, "{name}");
            assert_eq!(c.cwnd(), before, "{name}");
            assert!(c.cwnd() < 1 << 20, "{name}: {}", c.cwnd());
        }
    }

    /// RFC 3465 §2.2's L: one ACK for 4 segments grows slow start by 1 (the default), 2
    /// (FreeBSD's abc_l_var) or all 4 (Linux, up to ssthresh).
    #[test]
    fn rfc3465_slow_start_limit_per_ack() {
        for (limit, reno, cubic) in [
            (1, 11_000, 11_000),
            (2, 12_000, 12_000),
            (0, 14_000, 14_000),
        ] {
            let mut algs: [Box<dyn CongestionControl>; 2] =
                [Box::new(Reno::default()), by_name("cubic").unwrap()];
            for (cc, want) in algs.iter_mut().zip([reno, cubic]) {
                cc.set_slow_start_limit(limit);
                cc.on_established(1000);
                cc.on_ack(Instant::ZERO, 4000, 1000);
                assert_eq!(cc.cwnd(), want, "{} L={limit}", cc.name());
            }
        }
        // Without a limit, growth stops at ssthresh.
        let mut r = Reno::default();
        r.set_slow_start_limit(0);
        r.on_established(1000);
        r.on_congestion(Instant::ZERO, 24_000, 1000);
        r.set_cwnd(10_000);
        r.on_ack(Instant::ZERO, 5000, 1000);
        assert_eq!(r.cwnd(), 12_000);
    }
}

/// A connection's algorithm: a box handed back through [`CongestionControl::recycle`] when
/// the connection drops it, so that its allocation can serve the next connection.
#[derive(Debug)]
pub(crate) struct CcBox(core::mem::ManuallyDrop<Box<dyn CongestionControl>>);

impl CcBox {
    /// Holds `cc`.
    pub(crate) fn new(cc: Box<dyn CongestionControl>) -> CcBox {
        CcBox(core::mem::ManuallyDrop::new(cc))
    }
}

impl core::ops::Deref for CcBox {
    type Target = dyn CongestionControl;
    #[inline(always)]
    fn deref(&self) -> &(dyn CongestionControl + 'static) {
        &**self.0
    }
}

impl core::ops::DerefMut for CcBox {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut (dyn CongestionControl + 'static) {
        &mut **self.0
    }
}

impl Drop for CcBox {
    fn drop(&mut self) {
        // SAFETY: the box is taken once, here, and the field is never used again.
        let cc = unsafe { core::mem::ManuallyDrop::take(&mut self.0) };
        cc.recycle();
    }
}
