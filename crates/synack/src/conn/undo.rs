//! Loss detection and undo beyond the basics: F-RTO (RFC 5682) for timeouts without
//! timestamps, D-SACK-based undo (RFC 3708 detection, with Linux's count of the episode's
//! retransmissions), and RACK's reordering window and reorder timer (RFC 8985 §6.2, §6.3).

use super::{Connection, LossStats};
use crate::segment::SegmentIn;
use crate::seq::Seq;
use crate::state::State;
use crate::time::{Duration, Instant};

/// Retransmitted ranges of one episode remembered for D-SACK matching; past this the
/// episode cannot be proven spurious and is not undone.
const RTX_RANGES: usize = 32;

/// RFC 8985 §6.2: recoveries without a D-SACK before the reordering window shrinks back.
const REO_WND_PERSIST: u8 = 16;

/// RFC 5682 F-RTO progress after a timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(super) enum Frto {
    /// Not running: conventional RTO recovery, or no timeout.
    #[default]
    Off,
    /// Step 1 done (the head retransmitted): waiting for the first ACK; `head_end` is the
    /// end of that retransmission.
    First { head_end: Seq },
    /// Step 2b done (new data sent): waiting for the second ACK; `recover` is the highest
    /// sequence number sent before that new data.
    Second { recover: Seq },
}

/// State of F-RTO, the undo of a congestion episode, and RACK's reordering window.
#[derive(Debug)]
pub(super) struct LossState {
    /// RFC 3522 (Eifel) undo: cwnd and ssthresh before the reduction; an ACK covering
    /// every retransmission and echoing a TSval older than `rtx_out`'s proves the
    /// originals arrived.
    pub(super) eifel: Option<(u32, u32)>,
    /// The end of the highest retransmission and the TSval of the first one sent while
    /// any is outstanding (Linux `retrans_stamp`); stale once SND.UNA reaches the end.
    pub(super) rtx_out: Option<(Seq, u32)>,
    /// Counters ([`Connection::loss_stats`]).
    pub(super) stats: LossStats,
    /// F-RTO step.
    pub(super) frto: Frto,
    /// New segments F-RTO step 2b may still send past the congestion window.
    pub(super) frto_new: u8,
    /// cwnd and ssthresh before the episode's first reduction (what an undo restores).
    prior: Option<(u32, u32)>,
    /// SND.NXT when the episode began: it is over once SND.UNA passes this (Linux
    /// `high_seq`); an undo stays possible until the next episode.
    episode_high: Seq,
    /// Retransmissions of the episode not yet reported as duplicates by a D-SACK
    /// (merged ranges; RFC 3708 §3, Linux `undo_retrans`).
    rtx_ranges: Vec<(Seq, Seq)>,
    /// Something was retransmitted in the episode.
    rtx_any: bool,
    /// Too many ranges to track, or an ECN reduction in the episode: no D-SACK undo.
    rtx_untracked: bool,
    /// RFC 8985 §6.2 RACK.reordering_seen.
    pub(super) reordering_seen: bool,
    /// RFC 8985 §6.2 RACK.reo_wnd_mult and RACK.reo_wnd_persist.
    reo_wnd_mult: u32,
    reo_wnd_persist: u8,
    /// RFC 8985 §6.2 RACK.dsack_round: one growth of the window per round trip.
    dsack_round: Option<Seq>,
    /// RFC 8985 §6.2 RACK.xmit_ts and RACK.rtt: the latest transmission the peer has
    /// delivered, and the round trip it took.
    rack: Option<(Instant, Duration)>,
    /// RFC 8985 §6.2 RACK.end_seq (here the highest SACKed byte when RACK.xmit_ts was set).
    rack_end: Seq,
    /// RFC 8985 §6.3: the reorder timer.
    pub(super) reo_deadline: Option<Instant>,
    /// The delivery rate of window-based algorithms (`tcpi_delivery_rate`).
    pub(super) delivery: super::delivery::DeliveryRound,
    /// RFC 8985 §6.2 for retransmissions: where to look for the next lost retransmission,
    /// with the RACK.xmit_ts and reo_wnd of the ACK that found one.
    pub(super) relost: Option<(Seq, Instant, Duration)>,
    /// RFC 6937 prr_delivered, prr_out and RecoverFS of the current recovery.
    pub(super) prr_delivered: u32,
    pub(super) prr_out: u32,
    pub(super) recover_fs: u32,
    /// When the current recovery began (RACK tells retransmissions from originals by it).
    pub(super) recovery_start: Option<Instant>,
}

/// [`LossState`] out of line: idle connections (and pure receivers) read a shared default
/// and allocate nothing; the first change — made once data is sent — allocates it.
#[derive(Debug, Default)]
pub(super) struct LossBox(Option<Box<LossState>>);

/// What a connection that never sent data sees.
static IDLE: LossState = LossState::IDLE;

impl core::ops::Deref for LossBox {
    type Target = LossState;
    fn deref(&self) -> &LossState {
        self.0.as_deref().unwrap_or(&IDLE)
    }
}

impl core::ops::DerefMut for LossBox {
    fn deref_mut(&mut self) -> &mut LossState {
        self.0.get_or_insert_with(take_idle)
    }
}

impl LossBox {
    /// Allocates the state when the connection first sends data, so that nothing is
    /// allocated per segment later (the retransmitted-range list comes with the first
    /// retransmission).
    pub(super) fn allocate(&mut self) {
        if self.0.is_none() {
            self.0 = Some(take_idle());
        }
    }
}

/// Most freed [`LossState`] boxes a thread keeps for reuse (as the buffers' small-ring pool
/// does: a short connection's loss state then needs no allocator call).
const LOSS_POOL_MAX: usize = 64;

std::thread_local! {
    /// Freed loss-state boxes, each reset to [`LossState::IDLE`]. The boxes themselves are
    /// what is kept (their allocations are reused), hence `Vec<Box<_>>`.
    #[allow(clippy::vec_box)]
    static LOSS_POOL: core::cell::RefCell<Vec<Box<LossState>>> =
        const { core::cell::RefCell::new(Vec::new()) };
}

/// A box holding [`LossState::IDLE`]: a pooled one, or a new allocation.
fn take_idle() -> Box<LossState> {
    LOSS_POOL
        .try_with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.pop()))
        .ok()
        .flatten()
        .unwrap_or_else(|| Box::new(LossState::IDLE))
}

impl Drop for LossBox {
    fn drop(&mut self) {
        let Some(mut b) = self.0.take() else {
            return;
        };
        // Reset (freeing anything the state itself holds) before it is kept.
        *b = LossState::IDLE;
        // During thread teardown the pool may be gone: the box is then just freed.
        let _ = LOSS_POOL.try_with(|p| {
            if let Ok(mut p) = p.try_borrow_mut()
                && p.len() < LOSS_POOL_MAX
            {
                p.push(b);
            }
        });
    }
}

impl LossState {
    /// Nothing sent yet.
    const IDLE: LossState = LossState {
        eifel: None,
        rtx_out: None,
        stats: LossStats {
            frto_undos: 0,
            dsack_undos: 0,
            reorder_timeouts: 0,
        },
        frto: Frto::Off,
        frto_new: 0,
        prior: None,
        episode_high: Seq(0),
        rtx_ranges: Vec::new(),
        rtx_any: false,
        rtx_untracked: false,
        reordering_seen: false,
        reo_wnd_mult: 1,
        reo_wnd_persist: 0,
        dsack_round: None,
        rack: None,
        rack_end: Seq(0),
        reo_deadline: None,
        delivery: super::delivery::DeliveryRound::IDLE,
        relost: None,
        prr_delivered: 0,
        prr_out: 0,
        recover_fs: 0,
        recovery_start: None,
    };
}

impl LossState {
    /// A reduction (fast retransmit or timeout) at SND.UNA `una`, SND.NXT `nxt`: a new
    /// episode unless one is still under way (Linux `tcp_init_undo`).
    pub(super) fn begin(&mut self, cwnd: u32, ssthresh: u32, una: Seq, nxt: Seq) {
        if self.prior.is_some() && una.lt(self.episode_high) {
            return;
        }
        self.prior = Some((cwnd, ssthresh));
        self.episode_high = nxt;
        self.rtx_ranges.clear();
        self.rtx_any = false;
        self.rtx_untracked = false;
    }

    /// An ECN reduction: the window was cut for a reason no D-SACK can refute.
    pub(super) fn forget_undo(&mut self) {
        self.prior = None;
    }

    /// `[l, r)` was retransmitted during the episode.
    pub(super) fn note_rtx(&mut self, l: Seq, r: Seq) {
        if self.prior.is_none() || !l.lt(r) {
            return;
        }
        self.rtx_any = true;
        if let Some(last) = self.rtx_ranges.last_mut()
            && last.1 == l
        {
            last.1 = r;
            return;
        }
        if self.rtx_ranges.iter().any(|&(a, b)| !l.lt(a) && !b.lt(r)) {
            return;
        }
        if self.rtx_ranges.len() == RTX_RANGES {
            self.rtx_untracked = true;
            return;
        }
        if self.rtx_ranges.capacity() < RTX_RANGES {
            // Allocated with the episode's first retransmission (not with the first data
            // sent: a connection that never loses anything never holds it).
            self.rtx_ranges.reserve_exact(RTX_RANGES);
        }
        self.rtx_ranges.push((l, r));
    }

    /// RFC 3708 §3: a D-SACK for `[l, r)`. Returns whether it reported one of the
    /// episode's retransmissions, and with it whether every retransmission is now known
    /// to have been unnecessary (the episode can be undone).
    fn dsack(&mut self, l: Seq, r: Seq) -> (bool, bool) {
        let Some(i) = self
            .rtx_ranges
            .iter()
            .position(|&(a, b)| !l.lt(a) && !b.lt(r))
        else {
            return (false, false);
        };
        let (a, b) = self.rtx_ranges[i];
        match (a == l, b == r) {
            (true, true) => {
                self.rtx_ranges.remove(i);
            }
            (true, false) => self.rtx_ranges[i].0 = r,
            (false, true) => self.rtx_ranges[i].1 = l,
            (false, false) => {
                if self.rtx_ranges.len() >= self.rtx_ranges.capacity() {
                    self.rtx_untracked = true;
                } else {
                    self.rtx_ranges[i].1 = l;
                    self.rtx_ranges.insert(i + 1, (r, b));
                }
            }
        }
        let all = self.prior.is_some()
            && self.rtx_any
            && !self.rtx_untracked
            && self.rtx_ranges.is_empty();
        (true, all)
    }

    /// What an undo restores, once: the episode ends.
    pub(super) fn take_prior(&mut self) -> Option<(u32, u32)> {
        self.rtx_ranges.clear();
        self.rtx_any = false;
        self.prior.take()
    }

    /// RFC 8985 §6.2 step 4 (RACK_update_reo_wnd), the D-SACK part: the window grows by
    /// one quarter of min_RTT per round trip that sees a D-SACK, and shrinks back after
    /// 16 recoveries without one.
    fn on_dsack_round(&mut self, una: Seq, nxt: Seq, dsack: bool) {
        if self.dsack_round.is_some_and(|r| !una.lt(r)) {
            self.dsack_round = None;
        }
        if self.dsack_round.is_none() && dsack {
            self.dsack_round = Some(nxt);
            self.reo_wnd_mult = self.reo_wnd_mult.saturating_add(1);
            self.reo_wnd_persist = REO_WND_PERSIST;
        }
    }

    /// Fast recovery ended (RFC 8985 §6.2: "exiting Fast or RTO recovery").
    pub(super) fn on_recovery_exit(&mut self) {
        self.reo_wnd_persist = self.reo_wnd_persist.saturating_sub(1);
        if self.reo_wnd_persist == 0 {
            self.reo_wnd_mult = 1;
        }
    }

    /// Whether F-RTO is in step 2 or 3.
    pub(super) fn frto_active(&self) -> bool {
        self.frto != Frto::Off
    }

    /// Whether a D-SACK round (RFC 8985 §6.2 step 4) is being measured: every ACK then
    /// updates it.
    pub(super) fn dsack_round_open(&self) -> bool {
        self.dsack_round.is_some()
    }
}

impl Connection {
    /// RFC 8985 §6.2 RACK.reo_wnd: min_RTT / 4, and once reordering has been seen,
    /// min_RTT / 4 · reo_wnd_mult, capped at SRTT. (Before reordering is seen, entering
    /// recovery with DupThresh segments SACKed keeps RFC 6675's rule, which is RACK with a
    /// zero window.)
    pub(super) fn reo_wnd(&self) -> Duration {
        let srtt = self.rtt.srtt().unwrap_or(Duration::ZERO);
        let base = self.rtt.min_rtt().unwrap_or(srtt) / 4;
        if !self.loss.reordering_seen {
            return base;
        }
        (base * self.loss.reo_wnd_mult).min(srtt.max(base))
    }

    /// RFC 8985 §6.2 RACK.xmit_ts, RACK.rtt and RACK.end_seq, as of the last ACK.
    pub(super) fn rack_state(&self) -> Option<(Instant, Duration, Seq)> {
        self.loss.rack.map(|(x, r)| (x, r, self.loss.rack_end))
    }

    /// Whether RACK's time rule and the reorder timer run (SACK and `tcp_early_retrans`).
    pub(super) fn rack_on(&self) -> bool {
        self.sack_ok && self.cfg.rack_tlp
    }

    /// Whether RACK's time rule decides losses now: during recovery, with a tail probe
    /// out, or once reordering has been seen (before that, DupThresh opens recovery).
    pub(super) fn rack_active(&self) -> bool {
        self.rack_on()
            && (self.loss.reordering_seen || self.recover.is_some() || self.tlp_high.is_some())
    }

    /// Before an ACK's SACK blocks are recorded: the first hole below the highest SACKed
    /// byte that was never retransmitted (RFC 8985 §6.2 step 3 watches it).
    pub(super) fn reorder_probe(&self) -> Option<Seq> {
        if !self.rack_on() || self.loss.reordering_seen {
            return None;
        }
        let fack = self.scoreboard.highest_sacked()?;
        let mut from = self.snd_una.max(self.high_rxt);
        if let Some(n) = self.rtx_nxt {
            from = from.max(n);
        }
        for &(_, r) in &self.loss.rtx_ranges {
            from = from.max(r);
        }
        if self.tlp_high.is_some() {
            return None;
        }
        while let Some(end) = self.scoreboard.sacked_until(from) {
            from = end;
        }
        from.lt(fack).then_some(from)
    }

    /// The ACK's loss-detection bookkeeping, after its SACK blocks and cumulative ACK are
    /// recorded: RACK_detect_reordering (RFC 8985 §6.2 step 3: a hole that was never
    /// retransmitted was delivered below the highest SACKed byte), RACK_update (step 2:
    /// RACK.xmit_ts and RACK.rtt), the D-SACK round (step 4) and D-SACK-based undo
    /// (RFC 3708).
    pub(super) fn loss_on_ack(
        &mut self,
        now: Instant,
        probe: Option<Seq>,
        dsack: Option<(Seq, Seq)>,
        acked: Option<Instant>,
    ) {
        if !self.rack_on() {
            return;
        }
        if let Some(h) = probe
            && (h.lt(self.snd_una) || self.scoreboard.is_sacked(h))
        {
            self.loss.reordering_seen = true;
        }
        // RACK.xmit_ts: the latest transmission delivered, SACKed (ending at the highest
        // SACKed byte) or cumulatively acknowledged (ending at SND.UNA).
        let sacked = if self.scoreboard.is_empty() {
            // Nothing SACKed: the log is not walked.
            None
        } else {
            self.rack_clock().map(|(x, _)| {
                let fack = self.scoreboard.highest_sacked().unwrap_or(self.snd_una);
                (x, fack)
            })
        };
        for (xmit, end) in [sacked, acked.map(|x| (x, self.snd_una))]
            .into_iter()
            .flatten()
        {
            // A time later than now − min_RTT belongs to a retransmission this ACK cannot
            // be for (RFC 8985 §6.2 step 2).
            let fresh = self.rtt.min_rtt().is_none_or(|m| now - xmit >= m);
            // RACK_sent_after: a later time, or the same time and a higher sequence.
            let after = self
                .loss
                .rack
                .is_none_or(|(x, _)| xmit > x || (xmit == x && end.gt(self.loss.rack_end)));
            if fresh && after {
                self.loss.rack = Some((xmit, now - xmit));
                self.loss.rack_end = end;
            }
        }
        if dsack.is_some() || self.loss.dsack_round.is_some() {
            self.loss
                .on_dsack_round(self.snd_una, self.snd_nxt, dsack.is_some());
        }
        let Some((l, r)) = dsack else {
            return;
        };
        let (ours, all) = self.loss.dsack(l, r);
        if ours {
            // Linux (tcp_sacktag_one): a D-SACKed retransmission means the original was
            // only late — reordering.
            self.loss.reordering_seen = true;
        }
        if all && let Some((cwnd, ssthresh)) = self.loss.take_prior() {
            self.undo_reduction(cwnd, ssthresh);
            self.loss.stats.dsack_undos += 1;
        }
    }

    /// The reduction of this episode was spurious (RFC 4015, RFC 5682 §4, RFC 3708): the
    /// window and ssthresh come back (never below what they are now, as Linux's
    /// `tcp_undo_cwnd_reduction`), recovery ends and nothing more is resent.
    pub(super) fn undo_reduction(&mut self, cwnd: u32, ssthresh: u32) {
        let cwnd = cwnd.max(self.cc.cwnd());
        let ssthresh = ssthresh.max(self.cc.ssthresh());
        self.cc.restore(cwnd, ssthresh);
        self.loss.eifel = None;
        if self.recover.is_some() {
            self.loss.on_recovery_exit();
        }
        self.recover = None;
        self.rtx_nxt = None;
        self.fast_rtx_due = false;
        self.prr_budget = 0;
        self.dupack_credit = 0;
        self.reduce_hold = None;
        self.cwr_due = false;
        self.high_rxt = self.snd_una;
        self.loss.frto = Frto::Off;
        self.loss.frto_new = 0;
        self.stats.spurious_undos += 1;
    }

    /// RFC 5682 §2.1 / §3.1 step 1, on a retransmission timeout with data outstanding:
    /// F-RTO runs on connections without timestamps (Eifel, RFC 3522, covers the others)
    /// unless a recovery is already under way. Returns whether it started.
    pub(super) fn frto_on_timeout(&mut self) -> bool {
        if let Frto::First { .. } = self.loss.frto {
            // The head's retransmission timed out too: still waiting for the first ACK.
            return true;
        }
        let eligible = self.cfg.frto
            && !self.ts_ok
            && self.loss.frto == Frto::Off
            && self.recover.is_none()
            && self.rtx_nxt.is_none()
            && matches!(
                self.state,
                State::Established | State::CloseWait | State::FinWait1
            );
        self.loss.frto = Frto::Off;
        self.loss.frto_new = 0;
        if !eligible {
            return false;
        }
        let mss = u32::from(self.eff_snd_mss());
        let mut head_end = self.snd_una + mss.min(self.snd_nxt.since(self.snd_una));
        if let Some(s) = self.scoreboard.next_sacked(self.snd_una)
            && s.lt(head_end)
        {
            head_end = s;
        }
        self.loss.frto = Frto::First { head_end };
        true
    }

    /// RFC 5682 steps 2 and 3 on an ACK after the timeout. `advanced`: SND.UNA moved;
    /// `new_sack`: SACK blocks reported data not SACKed before. Conventional recovery
    /// (going back over everything from SND.UNA) resumes unless the timeout is found
    /// spurious, in which case the reduction is undone.
    pub(super) fn frto_on_ack(&mut self, seg: &SegmentIn<'_>, advanced: bool, new_sack: bool) {
        let mss = u32::from(self.eff_snd_mss());
        match self.loss.frto {
            Frto::Off => {}
            Frto::First { head_end } => {
                let unsent = self
                    .sndbuf
                    .len()
                    .saturating_sub(self.snd_nxt.since(self.snd_buf_seq) as usize);
                let room = (self.snd_una + self.snd_wnd).gt(self.snd_nxt);
                if !advanced {
                    // Step 2a: a duplicate ACK — conventional recovery. (The SACK-enhanced
                    // variant, §3.1, would wait; its ACKs are not enough to tell.)
                    if !self.sack_ok || new_sack {
                        self.frto_off();
                    }
                } else if seg.ack.lt(head_end) || self.snd_una == self.snd_nxt {
                    // Step 2a: the retransmission is not wholly acknowledged, or everything
                    // is ("recover" covered): conventional recovery.
                    self.frto_off();
                } else if unsent > 0 && room && self.fin_seq.is_none() {
                    // Step 2b: two new segments instead of retransmissions.
                    self.loss.frto = Frto::Second {
                        recover: self.snd_nxt,
                    };
                    self.loss.frto_new = 2;
                    self.rtx_nxt = None;
                } else {
                    // Nothing new to send: conventional recovery (§2.1 step 2b).
                    self.frto_off();
                }
            }
            Frto::Second { recover } => {
                let above = seg.ack.gt(recover)
                    || self
                        .scoreboard
                        .highest_sacked()
                        .is_some_and(|h| h.gt(recover));
                if above || (!advanced && !self.sack_ok) {
                    // Step 3a: the new data arrived but the old did not (or, basic
                    // F-RTO, a duplicate ACK): the timeout was real. cwnd at most 3 MSS.
                    self.frto_revert(Some(3 * mss));
                } else if advanced || new_sack {
                    // Step 3b: data sent before the timeout and never retransmitted was
                    // acknowledged — the timeout was spurious (RFC 5682 §4 response:
                    // RFC 4015's undo of the reduction).
                    if let Some((cwnd, ssthresh)) = self.loss.take_prior() {
                        self.undo_reduction(cwnd, ssthresh);
                        self.loss.stats.frto_undos += 1;
                    }
                    self.loss.frto = Frto::Off;
                    self.loss.frto_new = 0;
                }
            }
        }
    }

    /// F-RTO stops before step 2b: conventional RTO recovery simply goes on.
    fn frto_off(&mut self) {
        self.loss.frto = Frto::Off;
        self.loss.frto_new = 0;
    }

    /// F-RTO gives way to conventional RTO recovery after step 2b: go back over everything from
    /// SND.UNA, with cwnd at most `cap`.
    pub(super) fn frto_revert(&mut self, cap: Option<u32>) {
        self.loss.frto = Frto::Off;
        self.loss.frto_new = 0;
        if let Some(cap) = cap
            && self.cc.cwnd() > cap
        {
            self.cc.set_cwnd(cap);
        }
        if self.snd_una != self.snd_nxt && self.rtx_nxt.is_none() {
            self.rtx_nxt = Some(self.snd_una);
        }
    }

    /// RFC 8985 §6.3: arms the reorder timer for the earliest segment that is not yet lost
    /// but was sent before the latest delivered one: it fires at its xmit_ts + RACK.rtt +
    /// reo_wnd. Inline: with no timer armed and RACK's time rule not in force (nearly
    /// every ACK) there is nothing to do, and the call was most of the cost.
    #[inline]
    pub(super) fn arm_reorder_timer(&mut self, now: Instant) {
        if self.loss.reo_deadline.is_none() && !self.rack_active() {
            return;
        }
        self.arm_reorder_timer_general(now);
    }

    /// [`Connection::arm_reorder_timer`] out of line.
    #[inline(never)]
    fn arm_reorder_timer_general(&mut self, now: Instant) {
        if self.loss.reo_deadline.is_some() {
            self.loss.reo_deadline = None;
        }
        if !self.rack_active()
            || self.snd_una == self.snd_nxt
            || self.rtx_nxt.is_some()
            || self.loss.frto_active()
        {
            return;
        }
        let Some((rack_xmit, rack_rtt, rack_end)) = self.rack_state() else {
            return;
        };
        let boundary = self.loss_boundary(now);
        let reo_wnd = self.reo_wnd();
        let mut seg_start = self.snd_una;
        let mut first: Option<Instant> = None;
        for &(end, sent) in &self.sent_log {
            let handled = seg_start.lt(boundary)
                || seg_start.lt(self.high_rxt)
                || self.scoreboard.is_sacked(seg_start);
            seg_start = end;
            if handled {
                continue;
            }
            if sent > rack_xmit || (sent == rack_xmit && end.gt(rack_end)) {
                // Sent after the latest delivered segment, as is all that follows (new
                // data goes out in order; retransmissions lie below HighRxt).
                break;
            }
            let at = sent + rack_rtt + reo_wnd;
            // A deadline already past belongs to a segment held back by an earlier one
            // (the walk marks a prefix): it is decided with that one.
            if at > now {
                first = Some(first.map_or(at, |f| f.min(at)));
            }
        }
        if first.is_some() {
            self.loss.reo_deadline = first;
        }
    }

    /// RFC 8985 §6.3: the reorder timer fired — what is now lost is lost: recovery starts
    /// (or, in recovery, PRR may send it).
    pub(super) fn on_reorder_timeout(&mut self, now: Instant) {
        if !self.rack_active()
            || self.snd_una == self.snd_nxt
            || self.rtx_nxt.is_some()
            || self.loss.frto_active()
            || !self.state.is_synchronized()
        {
            return;
        }
        if self.loss_boundary(now).gt(self.snd_una) || self.recover.is_some() {
            self.loss.stats.reorder_timeouts += 1;
            if self.recover.is_none() {
                self.enter_recovery(now);
                self.prr_update(now, 0, true);
            } else {
                self.prr_update(now, 0, false);
            }
        }
        self.arm_reorder_timer(now);
    }
}
