//! Timers: retransmission (RFC 6298), persist (RFC 9293 §3.8.6.1), keepalive (§3.8.4),
//! delayed ACK (§3.8.6.3), TCP_CORK, FIN_WAIT_2 and TIME_WAIT.

use super::{Connection, TimerKind};
use crate::error::Error;
use crate::state::State;
use crate::time::{Instant, Nanos};
use synack_wire::TcpFlags;

impl Connection {
    // ------------------------------------------------------------------------------------
    // Timers
    // ------------------------------------------------------------------------------------

    /// The running timer as `ss -o` shows it: which kind, and when it fires.
    pub fn timer(&self) -> Option<(TimerKind, Instant)> {
        let timers = [
            (TimerKind::Retransmit, self.rtx_deadline),
            (TimerKind::TimeWait, self.time_wait_deadline),
            (TimerKind::FinWait2, self.fin_wait_2_deadline),
            (TimerKind::Persist, self.persist_deadline),
            (TimerKind::Keepalive, self.ka_deadline),
        ];
        timers
            .into_iter()
            .filter_map(|(k, d)| d.map(|d| (k, d)))
            .min_by_key(|&(_, d)| d)
    }

    /// The earliest instant at which [`Connection::on_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // The pacing deadline first: it is behind a call (the congestion control's rate
        // sampler), so the other deadlines are loaded after it instead of being kept on the
        // stack across it.
        let pace = self.pace_deadline();
        [
            self.rtx_deadline,
            self.time_wait_deadline,
            self.fin_wait_2_deadline,
            self.persist_deadline,
            self.ka_deadline,
            self.delack_deadline,
            self.cork_deadline,
            self.loss.reo_deadline,
            pace,
        ]
        .into_iter()
        // The minimum over plain integers (an unarmed timer as u64::MAX, above any
        // instant's nanoseconds) compiles to a branch-free chain, where `flatten().min()`
        // branched on every timer; the stack asks after every segment.
        .map(|d| d.map_or(u64::MAX, Instant::as_nanos))
        .min()
        .filter(|&ns| ns != u64::MAX)
        .map(Instant::from_nanos)
    }

    /// Handles every timer due at `now`.
    pub fn on_timeout(&mut self, now: Instant) {
        if self.time_wait_deadline.is_some_and(|d| d <= now) {
            // RFC 9293 §3.10.8: time-wait timeout — delete the TCB, CLOSED.
            self.time_wait_deadline = None;
            return self.enter_closed(now);
        }
        if self.fin_wait_2_deadline.is_some_and(|d| d <= now) {
            // tcp_fin_timeout: an orphan may not wait in FIN-WAIT-2 forever.
            self.fin_wait_2_deadline = None;
            return self.enter_closed(now);
        }
        if self.rtx_deadline.is_some_and(|d| d <= now) {
            self.rtx_deadline = None;
            self.on_rtx_timeout(now);
            if self.state == State::Closed {
                return;
            }
        }
        if self.loss.reo_deadline.is_some_and(|d| d <= now) {
            // RFC 8985 §6.3: the reorder timer.
            self.loss.reo_deadline = None;
            self.on_reorder_timeout(now);
        }
        if self.persist_deadline.is_some_and(|d| d <= now) {
            self.persist_deadline = None;
            self.on_persist_timeout(now);
            if self.state == State::Closed {
                return;
            }
        }
        if self.ka_deadline.is_some_and(|d| d <= now) {
            self.ka_deadline = None;
            self.on_keepalive_timeout(now);
            if self.state == State::Closed {
                return;
            }
        }
        if self.delack_deadline.is_some_and(|d| d <= now) {
            self.delack_deadline = None;
            self.ack_due = true;
            self.stats.delayed_acks += 1;
            if self.pingpong {
                // Linux: the reply did not come in time; leave interactive mode.
                self.pingpong = false;
                self.ato = Nanos::new(self.cfg.delack_min);
            } else {
                self.ato = Nanos::new((self.ato.get() * 2).min(self.cfg.delack_max));
            }
        }
        self.pace_timeout(now);
        if self.cork_deadline.is_some_and(|d| d <= now) {
            // Left set: `new_data` sees the expired cork deadline and sends the partial
            // segment, then clears it.
            if !self.cork || self.sndbuf.is_empty() {
                self.cork_deadline = None;
            } else {
                self.cork_deadline = Some(now);
            }
        }
    }

    /// Whether TCP_USER_TIMEOUT has run out for data or probes outstanding since `since`.
    pub(super) fn user_timeout_expired(&self, now: Instant, since: Option<Instant>) -> bool {
        match (self.user_timeout(), since) {
            (Some(ut), Some(t)) => now - t >= ut,
            _ => false,
        }
    }

    /// RFC 9293 §3.10.8 retransmission timeout, with exponential backoff (RFC 6298 §5.5)
    /// and Linux's retry limits (tcp_syn_retries, tcp_synack_retries, tcp_retries2) or
    /// TCP_USER_TIMEOUT.
    pub(super) fn on_rtx_timeout(&mut self, now: Instant) {
        if self.tlp_armed {
            // RFC 8985 §7.3: the probe timeout fired — send a probe, no backoff and no
            // window change, and run the RTO behind it.
            self.tlp_armed = false;
            if self.snd_una != self.snd_nxt && self.state.is_synchronized() {
                self.tlp_due = true;
                self.tlp_high = Some(self.snd_nxt);
                self.rtx_deadline = Some(now + self.current_rto());
                return;
            }
        }
        let syn_unacked = self.snd_una == self.iss;
        let limit = if syn_unacked {
            if self.state == State::SynSent {
                self.cfg.syn_retries
            } else {
                self.cfg.synack_retries
            }
        } else if self.orphaned {
            // Linux tcp_orphan_retries: an orphan gives up sooner.
            self.cfg.retries2.min(self.cfg.orphan_retries)
        } else {
            self.cfg.retries2
        };
        let zero_window = !syn_unacked && self.snd_wnd == 0 && !self.orphaned;
        let timed_out = if zero_window && self.user_timeout().is_none() {
            // Linux: retransmissions into a zero window are window probes; they time the
            // connection out only when the peer has been silent for longer than the
            // maximum RTO, never while it keeps answering (RFC 9293 §3.8.6.1).
            now - self.last_rcv_at > self.rtt.rto_max()
        } else if self.user_timeout().is_some() && !syn_unacked {
            self.user_timeout_expired(now, self.rtx_start)
        } else {
            self.rtx_count >= limit
        };
        if timed_out {
            if self.state == State::SynReceived && self.passive {
                // The half-open connection is abandoned; the listener keeps listening.
                return self.return_to_listen(now);
            }
            return self.fail(now, Error::TimedOut);
        }
        self.rtx_count = self.rtx_count.saturating_add(1);
        self.stats.timeouts += 1;
        self.rtx_due = true;
        if !syn_unacked && self.snd_una != self.snd_nxt {
            // RFC 5681 §3.1: cwnd to one segment; RFC 6298 §5.4: retransmit the earliest
            // unacknowledged segment — and, going back, everything after it.
            let flight = self.snd_nxt.since(self.snd_una);
            let mss = u32::from(self.eff_snd_mss());
            // RFC 5682 step 1: F-RTO (the head goes first either way).
            self.frto_on_timeout();
            // RFC 3522: what an undo would restore (kept from an earlier reduction of the
            // same episode).
            self.save_undo();
            self.cc.on_rto(flight, mss);
            self.rtx_nxt = Some(self.snd_una);
            self.recover = None;
            self.prr_budget = 0;
            self.dupack_credit = 0;
            self.high_rxt = self.snd_una;
            self.tlp_due = false;
            self.tlp_high = None;
            // RFC 3168 §6.1.2: the timeout is this window's reduction.
            self.reduce_hold = Some(self.snd_nxt);
            self.cwr_due = self.ecn_ok;
            self.fast_rtx_due = false;
            self.dupacks = 0;
            self.rtt_timed = None;
            self.loss.reo_deadline = None;
        }
        // RFC 6298 §5.6: restart the timer with the backed-off RTO.
        let mut deadline = now + self.current_rto();
        if let (Some(ut), Some(start)) = (self.user_timeout(), self.rtx_start)
            && !syn_unacked
        {
            deadline = deadline.min(start + ut);
        }
        self.rtx_deadline = Some(deadline);
    }

    /// RFC 9293 §3.8.6.1 persist timer: probe the zero window, backing off exponentially;
    /// give up only when the peer stops answering (tcp_retries2 unanswered probes, or
    /// TCP_USER_TIMEOUT since the last segment from the peer).
    pub(super) fn on_persist_timeout(&mut self, now: Instant) {
        let unsent = self
            .sndbuf
            .len()
            .saturating_sub(self.snd_nxt.since(self.snd_buf_seq) as usize);
        if unsent == 0 || self.snd_una != self.snd_nxt {
            self.persist_backoff = 0;
            return;
        }
        let gave_up = match self.user_timeout() {
            Some(ut) => self.persist_unanswered > 0 && now - self.last_rcv_at >= ut,
            None => self.persist_unanswered >= self.cfg.retries2,
        };
        if gave_up {
            return self.fail(now, Error::TimedOut);
        }
        self.probe_due = true;
        self.persist_unanswered = self.persist_unanswered.saturating_add(1);
        self.persist_backoff = self.persist_backoff.saturating_add(1).min(31);
        self.persist_deadline = Some(now + self.rtt.backed_off(self.persist_backoff));
    }

    /// RFC 9293 §3.8.4 keepalive: after `idle` without a segment from the peer, probe every
    /// `intvl`; after `cnt` unanswered probes the connection fails with ETIMEDOUT.
    pub(super) fn on_keepalive_timeout(&mut self, now: Instant) {
        if !self.keepalive {
            return;
        }
        let unsent = !self.sndbuf.is_empty() || self.snd_una != self.snd_nxt;
        if unsent && self.ka_unanswered == 0 {
            // Linux: data in flight is watched by the retransmission timer instead.
            self.ka_deadline = Some(now + self.ka_idle());
            return;
        }
        let expired = match self.user_timeout() {
            Some(ut) => self.ka_unanswered > 0 && now - self.last_rcv_at >= ut,
            None => self.ka_unanswered >= self.ka_cnt(),
        };
        if expired {
            // Linux (tcp_keepalive_timer): the peer is told with a reset, `R.` at SND.NXT,
            // before the connection fails with ETIMEDOUT.
            self.queue_rst(self.segment(now, self.snd_nxt, TcpFlags::RST | TcpFlags::ACK));
            return self.fail(now, Error::TimedOut);
        }
        self.ka_probe_due = true;
        self.ka_unanswered = self.ka_unanswered.saturating_add(1);
        self.ka_deadline = Some(now + self.ka_intvl());
    }

    /// Starts the retransmission timer if it is not running (RFC 6298 §5.1).
    pub(super) fn arm_rtx(&mut self, now: Instant) {
        if self.rtx_deadline.is_none() {
            self.rtx_deadline = Some(now.saturating_add_nanos(self.current_rto_nanos()));
        }
        if self.rtx_start.is_none() {
            self.rtx_start = Some(now);
        }
    }

    /// Stops the retransmission timer after forward progress.
    pub(super) fn rtx_done(&mut self) {
        self.rtx_deadline = None;
        self.tlp_armed = false;
        self.rtx_due = false;
        self.rtx_count = 0;
        self.rtx_start = None;
    }

    /// Stops every timer but TIME-WAIT's and forgets owed output.
    pub(super) fn stop_timers(&mut self) {
        self.rtx_deadline = None;
        self.rtx_due = false;
        self.fin_wait_2_deadline = None;
        self.persist_deadline = None;
        self.probe_due = false;
        self.ka_deadline = None;
        self.ka_probe_due = false;
        self.delack_deadline = None;
        self.cork_deadline = None;
        self.fast_rtx_due = false;
        self.rtx_nxt = None;
        self.tlp_armed = false;
        self.tlp_due = false;
        if self.loss.reo_deadline.is_some() || self.loss.frto_new > 0 {
            self.loss.reo_deadline = None;
            self.loss.frto_new = 0;
        }
    }
}
