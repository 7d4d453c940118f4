//! The engine's side of delivery-rate sampling and pacing, for congestion control driven by
//! rate samples (BBR, which owns the [`crate::rate::Rate`] state): for other algorithms
//! each hook is one call answering `None`.

use super::Connection;
use crate::cc::AckState;
use crate::segment::SegmentOut;
use crate::time::Instant;

impl Connection {
    /// Whether the congestion control keeps a rate sampler (`cc.rate().is_some()`, BBR):
    /// the flag set when the algorithm was installed, without a call through the box.
    #[inline(always)]
    pub(super) fn has_rate(&self) -> bool {
        debug_assert_eq!(self.cc_rate, self.cc.rate().is_some());
        self.cc_rate
    }

    /// Pacing: whether data waiting to go must wait for its departure time (the wake-up is
    /// then armed); `false` when nothing is waiting or the connection is not paced.
    #[inline(always)]
    pub(super) fn pace_hold(&mut self, now: Instant) -> bool {
        // Without a rate sampler (every algorithm but BBR) nothing is paced: asked first,
        // so an unpaced connection does not work out what is pending.
        if !self.has_rate() {
            return false;
        }
        self.pace_hold_rate(now)
    }

    /// [`Connection::pace_hold`] with a rate sampler, out of line.
    #[inline(never)]
    fn pace_hold_rate(&mut self, now: Instant) -> bool {
        let unsent = self
            .sndbuf
            .len()
            .saturating_sub(self.snd_nxt.since(self.snd_buf_seq) as usize);
        let pending = unsent > 0
            || self.fast_rtx_due
            || self.tlp_due
            || self.rtx_nxt.is_some()
            || (self.recover.is_some() && self.prr_budget > 0)
            || (self.fin_queued && self.fin_seq.is_none());
        match self.cc.rate_mut() {
            Some(rate) if pending => rate.hold(now),
            _ => false,
        }
    }

    /// A data segment left: record it for rate sampling and advance the pacing clock
    /// (draft-cheng-iccrg-delivery-rate-estimation §3.2).
    #[inline(always)]
    pub(super) fn rate_on_send(&mut self, now: Instant, seg: &SegmentOut) {
        if !self.has_rate() {
            return;
        }
        self.rate_on_send_rate(now, seg);
    }

    /// [`Connection::rate_on_send`] with a rate sampler, out of line.
    #[inline(never)]
    fn rate_on_send_rate(&mut self, now: Instant, seg: &SegmentOut) {
        let idle = seg.seq == self.snd_una;
        let Some(rate) = self.cc.rate_mut() else {
            return;
        };
        let len = seg.payload_len as u32;
        rate.on_transmit(now, seg.seq, seg.seq + len, idle);
        rate.paced(now, len);
        rate.pace_deadline = None;
    }

    /// Nothing went out: if the application has nothing more to send while the window has
    /// room, samples are app-limited until what is in flight is delivered (draft §3.4).
    #[inline(always)]
    pub(super) fn rate_check_app_limited(&mut self, now: Instant) {
        if !self.has_rate() {
            return;
        }
        self.rate_check_app_limited_rate(now);
    }

    /// [`Connection::rate_check_app_limited`] with a rate sampler, out of line.
    #[inline(never)]
    fn rate_check_app_limited_rate(&mut self, now: Instant) {
        if self.cc.rate().is_none_or(|r| r.pace_deadline.is_some()) {
            return;
        }
        let unsent = self
            .sndbuf
            .len()
            .saturating_sub(self.snd_nxt.since(self.snd_buf_seq) as usize);
        if unsent >= usize::from(self.eff_snd_mss()) || self.recover.is_some() {
            return;
        }
        let inflight = self.pipe(now);
        if inflight >= self.cc.cwnd() {
            return;
        }
        if let Some(rate) = self.cc.rate_mut() {
            rate.on_app_limited(inflight);
        }
    }

    /// After an ACK: the rate sample and the algorithm's update from it (window and pacing
    /// rate), and during recovery the sending budget: the algorithm's window less what is
    /// in flight, in place of PRR.
    pub(super) fn rate_on_ack(&mut self, now: Instant) {
        if !self.has_rate() {
            return;
        }
        let min_rtt = self.rtt.min_rtt();
        let Some(rate) = self.cc.rate_mut() else {
            return;
        };
        let rs = rate.on_ack(now, self.snd_una, &self.scoreboard, min_rtt);
        let delivered = rate.delivered();
        let retransmitted = rate.retransmitted();
        let inflight = self.pipe(now);
        if let Some(rs) = rs {
            let ack = AckState {
                inflight,
                mss: u32::from(self.eff_snd_mss()),
                in_recovery: self.recover.is_some() || self.rtx_nxt.is_some(),
                delivered,
                retransmitted,
            };
            self.cc.on_rate_sample(now, &rs, &ack);
        }
        if self.recover.is_some() {
            self.prr_budget = self.cc.cwnd().saturating_sub(inflight);
        }
    }

    /// The pacing wake-up, if data waits for its departure time.
    pub(super) fn pace_deadline(&self) -> Option<Instant> {
        if !self.has_rate() {
            return None;
        }
        self.cc.rate().and_then(|r| r.pace_deadline)
    }

    /// The pacing wake-up fired: the next `poll_transmit` sends.
    pub(super) fn pace_timeout(&mut self, now: Instant) {
        if self.has_rate()
            && let Some(rate) = self.cc.rate_mut()
            && rate.pace_deadline.is_some_and(|d| d <= now)
        {
            rate.pace_deadline = None;
        }
    }

    /// The pacing rate in force (bytes per second; 0 when not paced) and the latest
    /// delivery-rate sample, for TCP_INFO; `None` without rate sampling.
    pub(super) fn rates(&self) -> Option<(u64, u64)> {
        if !self.has_rate() {
            return None;
        }
        self.cc.rate().map(|r| (r.pacing_rate, r.delivery_rate()))
    }
}
