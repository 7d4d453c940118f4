//! Output: turning the connection's intent into segments (RFC 9293 §3.7, §3.8.6.2.1,
//! §3.8.5), and the windows both ways.

use super::{CORK_TIMEOUT, Connection};
use crate::event::{Event, SegSummary};
use crate::segment::{SegOptions, SegmentOut, Timestamps};
use crate::seq::Seq;
use crate::state::State;
use crate::time::Instant;
use core::net::{Ipv4Addr, SocketAddrV4};
use std::collections::VecDeque;
use synack_wire::TcpFlags;

/// What one [`Connection::poll_transmit_burst`] call leaves for the next call of the same
/// burst: the segment just sent (the template of the next) and the Linux flavor's TSO chunk
/// size once worked out. A burst is consecutive calls at one instant with nothing else done
/// to the connection in between; start each burst with [`TxBurst::default`].
#[derive(Clone, Copy, Debug, Default)]
pub struct TxBurst {
    /// The last segment sent and when; `None` at the start of a burst.
    prev: Option<(SegmentOut, Instant)>,
    /// The TSO chunk size in segments (0: not worked out in this burst yet).
    chunk: u32,
    /// The last segment was built from its predecessor.
    continued: bool,
    /// The last segment was built from its predecessor, which had been built the same way,
    /// and left every timer as it was (see [`TxBurst::timers_unchanged`]).
    timers_unchanged: bool,
}

impl TxBurst {
    /// Whether the segment the last call returned was built from the one before it (so
    /// that, apart from SEG.SEQ, the flags and the payload, it repeats its header).
    pub fn continued(&self) -> bool {
        self.continued
    }

    /// Whether the segment the last call returned left the connection's deadlines and
    /// state exactly as the previous call had left them (so the host need not re-examine
    /// its timers).
    pub fn timers_unchanged(&self) -> bool {
        self.timers_unchanged
    }

    /// Whether the segment the last call returned is kept as the template of the next
    /// (so that the host may keep its headers too); when not, the next call is a plain
    /// [`Connection::poll_transmit`].
    pub fn keeps_template(&self) -> bool {
        self.prev.is_some()
    }
}

/// RFC 8985 §6: when each segment of new data was sent (its end, the time), oldest first
/// ([`Connection::log_sent`]). A `VecDeque` of a fixed capacity, allocated when data is first
/// sent; a small one's storage goes back to a per-thread pool when the connection is
/// dropped, so that a short connection's first send takes it instead of calling the
/// allocator (as the rings' and the loss state's pools do). A pooled log is empty and has
/// the capacity asked for, exactly as a new one: nothing else can tell them apart.
#[derive(Debug, Default)]
pub(super) struct SentLog(VecDeque<(Seq, Instant)>);

/// The largest log (in entries, 16 bytes each) whose storage is pooled: 4 KiB.
const SENT_LOG_POOL_CAP: usize = 256;
/// Most freed logs a thread keeps.
const SENT_LOG_POOL_MAX: usize = 64;

std::thread_local! {
    /// Freed sent logs: empty, each with the capacity it was allocated with.
    static SENT_LOG_POOL: core::cell::RefCell<Vec<VecDeque<(Seq, Instant)>>> =
        const { core::cell::RefCell::new(Vec::new()) };
}

impl SentLog {
    /// No log (no storage).
    pub(super) const fn new() -> SentLog {
        SentLog(VecDeque::new())
    }

    /// Gives an unallocated log storage for exactly `cap` entries: the most recently
    /// pooled one when it has that capacity, otherwise a new allocation.
    fn allocate(&mut self, cap: usize) {
        debug_assert_eq!(self.0.capacity(), 0);
        if cap <= SENT_LOG_POOL_CAP
            && let Some(log) = SENT_LOG_POOL
                .try_with(|p| {
                    let mut p = p.try_borrow_mut().ok()?;
                    if p.last()?.capacity() == cap {
                        p.pop()
                    } else {
                        None
                    }
                })
                .ok()
                .flatten()
        {
            debug_assert!(log.is_empty());
            self.0 = log;
            return;
        }
        self.0.reserve_exact(cap);
    }
}

impl Drop for SentLog {
    fn drop(&mut self) {
        let cap = self.0.capacity();
        if cap == 0 || cap > SENT_LOG_POOL_CAP {
            return;
        }
        let mut log = core::mem::take(&mut self.0);
        log.clear();
        // During thread teardown the pool may be gone: the log is then just freed.
        let _ = SENT_LOG_POOL.try_with(|p| {
            if let Ok(mut p) = p.try_borrow_mut()
                && p.len() < SENT_LOG_POOL_MAX
            {
                p.push(log);
            }
        });
    }
}

impl core::ops::Deref for SentLog {
    type Target = VecDeque<(Seq, Instant)>;
    fn deref(&self) -> &VecDeque<(Seq, Instant)> {
        &self.0
    }
}

impl core::ops::DerefMut for SentLog {
    fn deref_mut(&mut self) -> &mut VecDeque<(Seq, Instant)> {
        &mut self.0
    }
}

impl<'a> IntoIterator for &'a SentLog {
    type Item = &'a (Seq, Instant);
    type IntoIter = std::collections::vec_deque::Iter<'a, (Seq, Instant)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Linux `tcp_cwnd_restart`: `cwnd` halved once per RTO of the `idle` time (nanoseconds,
/// more than `rto` > 0), not below `restart`.
fn restart_window(cwnd: u32, restart: u32, mut idle: u64, rto: u64) -> u32 {
    let mut w = cwnd;
    while idle > rto && w > restart {
        w /= 2;
        idle -= rto;
    }
    w.max(restart)
}

impl Connection {
    // ------------------------------------------------------------------------------------
    // Output
    // ------------------------------------------------------------------------------------

    /// [`Connection::poll_transmit`] within a burst: the same segments and the same state
    /// afterwards, but when the previous call of `burst` (at the same `now`, nothing else
    /// done to the connection since) sent a segment and this one is new full-sized data,
    /// the decisions that cannot have changed are taken from that call: the segment's
    /// header fields but SEG.SEQ and the flags (the segment builder depends only on the
    /// receive side, `now`, the sequence number and the flags) and the TSO chunk size
    /// (its inputs change on ACKs and timers only). See [`crate::Config::tx_burst`].
    #[inline]
    pub fn poll_transmit_burst(
        &mut self,
        now: Instant,
        payload: &mut [u8],
        burst: &mut TxBurst,
    ) -> Option<SegmentOut> {
        if burst.prev.is_some() {
            return self.poll_transmit_burst_next(now, payload, burst);
        }
        // The first segment of a burst (or one after a segment that cannot be a template):
        // a plain poll, inlined into the caller, and the burst's state only when another
        // segment may follow from this one.
        burst.continued = false;
        burst.timers_unchanged = false;
        let seg = self.poll_transmit(now, payload);
        if let Some(s) = &seg
            && self.may_continue(s)
        {
            burst.chunk = 0;
            burst.prev = Some((*s, now));
        }
        seg
    }

    /// [`Connection::poll_transmit_burst`] after a segment kept as a template.
    #[inline(never)]
    fn poll_transmit_burst_next(
        &mut self,
        now: Instant,
        payload: &mut [u8],
        burst: &mut TxBurst,
    ) -> Option<SegmentOut> {
        let after_continued = core::mem::take(&mut burst.continued);
        burst.timers_unchanged = false;
        // The template is read in place; a continuation leaves it as it is (it differs
        // from the segment built only in SEG.SEQ, the flags and the payload, which
        // `burst_next` does not take from it), anything else replaces or drops it.
        let next = match &burst.prev {
            Some((prev, at)) if *at == now && self.cfg.tx_burst => {
                self.burst_next(now, payload, prev, &mut burst.chunk, after_continued)
            }
            _ => None,
        };
        if let Some((seg, timers_unchanged)) = next {
            burst.continued = true;
            burst.timers_unchanged = timers_unchanged;
            if !self.may_continue(&seg) {
                burst.prev = None;
            }
            return Some(seg);
        }
        burst.chunk = 0;
        let seg = self.poll_transmit(now, payload);
        burst.prev = match &seg {
            Some(s) if self.may_continue(s) => Some((*s, now)),
            _ => None,
        };
        seg
    }

    /// Whether a burst may go on after `seg`, just sent: bursts are on and `seg` carried
    /// data with more unsent data behind it (only then can the next segment be new data
    /// built from it). Keeping `seg` as a template is all this decides: `burst_next`
    /// checks every condition again, so a `false` costs a continuation, never a segment.
    #[inline(always)]
    fn may_continue(&self, seg: &SegmentOut) -> bool {
        self.cfg.tx_burst
            && seg.payload_len > 0
            && self.sndbuf.len() > self.snd_nxt.since(self.snd_buf_seq) as usize
    }

    /// The next segment of a burst when it is full-sized new data and `prev` (sent just
    /// before, at `now`) can serve as its template; `None`, having changed nothing, when
    /// the general path must decide. Mirrors [`Connection::poll_transmit`] →
    /// [`Connection::next_segment`] → [`Connection::new_data`] step by step. `after_burst`:
    /// `prev` was built here too. Also answers whether the timers were left as they were.
    fn burst_next(
        &mut self,
        now: Instant,
        payload: &mut [u8],
        prev: &SegmentOut,
        chunk: &mut u32,
        after_burst: bool,
    ) -> Option<(SegmentOut, bool)> {
        // next_segment's branches ahead of new data: none may apply (they are set only by
        // arriving segments and timers, so after the previous call of the burst this is
        // rarely false). Without a rate sampler nothing is paced (`pace_hold`).
        if self.rst_due.is_some()
            || self.rtx_due
            || self.fast_rtx_due
            || self.tlp_due
            || self.loss.frto_new > 0
            || self.rtx_nxt.is_some()
            || self.recover.is_some()
            || self.has_rate()
        {
            return None;
        }
        // The template: a segment built by `segment()` without SYN, FIN, RST or URG, with
        // no SACK blocks (a D-SACK block goes once) and no urgent data pending, so that
        // `segment()` would now give the same fields for another sequence number.
        if !prev.flags.ack()
            || prev
                .flags
                .intersects(TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST | TcpFlags::URG)
            || !prev.options.sack_blocks.as_slice().is_empty()
            || prev.options.mss.is_some()
            || self.rare.snd_urg.is_some()
            || self.rare.dsack_due.is_some()
        {
            return None;
        }
        // new_data, up to the point of no return: a full segment, no FIN.
        if !self.may_send_new_data() {
            return None;
        }
        let offset = self.snd_nxt.since(self.snd_buf_seq) as usize;
        let unsent = self.sndbuf.len().saturating_sub(offset);
        let wnd_end = self.snd_una + self.snd_wnd;
        let usable = if wnd_end.gt(self.snd_nxt) {
            wnd_end.since(self.snd_nxt) as usize
        } else {
            0
        };
        let mss = usize::from(self.eff_snd_mss());
        // RFC 3042 limited transmit, as in new_data (no recovery here).
        let limited = mss * self.dupacks.min(2) as usize;
        let flight = self.snd_nxt.since(self.snd_una) as usize;
        // When `prev` was built here at `now` with more than an MSS already in flight, the
        // timer steps below were taken in a state they cannot tell from this one: RFC
        // 6298 §5.1 arms a running timer only once, and the probe timeout (RFC 8985 §7.2)
        // depends on `now`, SRTT, the RTO and whether at most one MSS is in flight, none
        // of which a burst changes; the other deadlines were cleared then.
        let timers_unchanged = after_burst && flight > mss;
        let cwnd_room = (self.cc.cwnd() as usize + limited).saturating_sub(flight);
        let n = unsent
            .min(usable)
            .min(cwnd_room)
            .min(mss)
            .min(payload.len());
        let fin = self.fin_queued && n == unsent;
        if n != mss || fin {
            return None;
        }
        // From here on exactly new_data's steps for a full segment.
        self.cork_deadline = None;
        let n = self.sndbuf.copy_out(offset, &mut payload[..n]);
        let mut flags = TcpFlags::ACK;
        if n > 0 && n == unsent {
            flags |= TcpFlags::PSH;
        }
        let ends_chunk = self.tso_chunk_push(now, n, unsent, usable.min(cwnd_room), mss, |c| {
            // The chunk's inputs (cwnd, ssthresh, SRTT, minimum RTT, MSS) change only on
            // ACKs, timers and the idle restart, none of which runs within a burst after
            // its first segment.
            if *chunk == 0 {
                *chunk = c.tso_chunk_segs(mss);
            }
            debug_assert_eq!(*chunk, c.tso_chunk_segs(mss));
            *chunk
        });
        if ends_chunk {
            flags |= TcpFlags::PSH;
        }
        if n > 0 && self.last_data_at.is_some_and(|t| now - t < self.ato.get()) {
            self.pingpong = true;
        }
        self.idle_restart(now);
        // segment(now, SND.NXT, flags) from the template: ECE is the only flag it adds
        // (URG needs urgent data, excluded above).
        let mut seg = *prev;
        seg.seq = self.snd_nxt;
        seg.flags = flags | (prev.flags & TcpFlags::ECE);
        seg.payload_len = 0;
        seg.ect = false;
        debug_assert_eq!(seg, self.segment(now, self.snd_nxt, flags));
        seg.payload_len = n;
        seg.ect = self.ecn_ok && n > 0;
        if self.cwr_due && n > 0 {
            seg.flags |= TcpFlags::CWR;
            self.cwr_due = false;
        }
        self.snd_nxt += n;
        if n < mss {
            self.snd_sml = self.snd_nxt;
        }
        if self.rtt_timed.is_none() {
            self.rtt_timed = Some((self.snd_nxt, now));
        }
        self.log_sent(now);
        self.persist_deadline = None;
        self.persist_backoff = 0;
        self.probe_due = false;
        if timers_unchanged {
            #[cfg(debug_assertions)]
            {
                let before = (self.rtx_deadline, self.rtx_start, self.tlp_armed);
                self.arm_rtx(now);
                self.tlp_armed = false;
                self.arm_tlp(now);
                debug_assert_eq!(before, (self.rtx_deadline, self.rtx_start, self.tlp_armed));
            }
        } else {
            self.arm_rtx(now);
            self.tlp_armed = false;
            self.arm_tlp(now);
        }
        // poll_transmit's bookkeeping for a data segment with ACK (no rate sampler:
        // `rate_on_send` would do nothing).
        self.stats.segs_out += 1;
        self.last_ack_sent = seg.ack;
        self.delack_deadline = None;
        self.ack_due = false;
        self.challenge_due = false;
        let wnd = u32::from(seg.wnd) << self.rcv_wscale;
        self.last_wnd_sent = wnd;
        let edge = self.rcv_nxt + wnd;
        if edge.gt(self.rcv_adv) {
            self.rcv_adv = edge;
        }
        self.events.push(Event::Sent {
            at: now,
            seg: SegSummary::of_out(&seg),
        });
        Some((seg, timers_unchanged))
    }

    /// The connection's local and remote IPv4 socket addresses straight from its packed
    /// tuple, as [`Connection::tuple`] gives them, without building the `FourTuple` (the
    /// host writes every segment's headers from them); `None` for any other tuple.
    #[inline(always)]
    pub(crate) fn tuple_v4(&self) -> Option<(SocketAddrV4, SocketAddrV4)> {
        match &self.tuple {
            crate::isn::PackedTuple::Plain {
                v6: false,
                ports,
                ips,
            } => {
                let addr = |i: usize| {
                    let [a, b, c, d, ..] = ips[i];
                    SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), ports[i])
                };
                Some((addr(0), addr(1)))
            }
            _ => None,
        }
    }

    /// The retransmission counter of [`Connection::stats`], without assembling the rest.
    pub fn retransmits(&self) -> u64 {
        self.stats.retransmits
    }

    /// The next segment to send, if any; its payload is written to `payload`, which bounds
    /// the payload size (pass at least the MSS). Call until it returns `None`.
    pub fn poll_transmit(&mut self, now: Instant, payload: &mut [u8]) -> Option<SegmentOut> {
        let Some(seg) = self.next_segment(now, payload) else {
            self.arm_persist(now);
            self.rate_check_app_limited(now);
            return None;
        };
        if seg.payload_len > 0 {
            self.rate_on_send(now, &seg);
        }
        self.stats.segs_out += 1;
        if seg.flags.rst() {
            self.stats.rsts_out += 1;
        }
        if seg.flags.ack() {
            // RFC 7323 §4.3 Last.ACK.sent.
            self.last_ack_sent = seg.ack;
            // Any segment carrying the ACK satisfies a delayed ACK (piggybacking).
            self.delack_deadline = None;
            self.ack_due = false;
            self.challenge_due = false;
            // Taken only when set: `rare` is not allocated by every segment sent.
            if self.rare.dsack_due.is_some()
                && self.rare.dsack_due.take().is_some()
                && self.sack_ok
                && !seg.flags.syn()
            {
                self.stats.dsacks_sent += 1;
            }
        }
        if !seg.flags.rst() {
            let wnd = u32::from(seg.wnd) << if seg.flags.syn() { 0 } else { self.rcv_wscale };
            self.last_wnd_sent = wnd;
            // RFC 9293 §3.8.6.2.2: the right edge offered; it never moves back.
            let edge = self.rcv_nxt + wnd;
            if edge.gt(self.rcv_adv) {
                self.rcv_adv = edge;
            }
        }
        self.events.push(Event::Sent {
            at: now,
            seg: SegSummary::of_out(&seg),
        });
        Some(seg)
    }

    pub(super) fn next_segment(&mut self, now: Instant, payload: &mut [u8]) -> Option<SegmentOut> {
        if let Some(rst) = self.rst_due.take() {
            return Some(*rst);
        }
        match self.state {
            State::Closed | State::Listen => return None,
            State::SynSent | State::SynReceived if self.syn_due || self.rtx_due => {
                return Some(self.syn_segment(now));
            }
            _ => {}
        }
        // A retransmission timeout with our SYN still unacknowledged (FIN-WAIT-1 reached
        // from SYN-RECEIVED by CLOSE) resends the SYN-ACK.
        if self.rtx_due && self.snd_una == self.iss {
            return Some(self.syn_segment(now));
        }
        self.rtx_due = false;
        if self.pace_hold(now) {
            // Pacing: data waits for its departure time; a pure ACK may go.
            if self.ack_due && self.state != State::SynSent {
                return Some(self.segment(now, self.snd_nxt, TcpFlags::ACK));
            }
            return None;
        }
        // Retransmissions and recovery (rare in a transfer): out of line, so that the
        // common path stays short. Each branch there tests its own condition again, in the
        // same order; when none holds, none runs.
        if (self.fast_rtx_due
            || self.tlp_due
            || self.loss.frto_new > 0
            || self.rtx_nxt.is_some()
            || (self.recover.is_some() && self.sack_ok && self.prr_budget > 0))
            && let Some(seg) = self.next_segment_recovery(now, payload)
        {
            return Some(seg);
        }
        if let Some(seg) = self.new_data(now, payload, false) {
            return Some(seg);
        }
        if (self.probe_due || self.ka_probe_due)
            && let Some(seg) = self.next_segment_probe(now, payload)
        {
            return Some(seg);
        }
        if self.ack_due && self.state != State::SynSent {
            if self.cfg.flavor() == crate::config::Flavor::FreeBsd
                && matches!(self.state, State::Closing)
                && let Some(seg) = self.freebsd_closing_ack(now)
            {
                return Some(seg);
            }
            return Some(self.segment(now, self.snd_nxt, TcpFlags::ACK));
        }
        None
    }

    /// [`Connection::next_segment`]'s retransmissions and loss recovery, in its order:
    /// fast retransmit, the loss probe, F-RTO's new data, the resends after a timeout and
    /// the SACK-based recovery. `None` when none of them sends.
    #[cold]
    #[inline(never)]
    fn next_segment_recovery(&mut self, now: Instant, payload: &mut [u8]) -> Option<SegmentOut> {
        if self.fast_rtx_due {
            // RFC 5681 §3.2 / RFC 6675 §5 step 4.3: the segment at SND.UNA, now (up to the
            // first SACKed byte).
            self.fast_rtx_due = false;
            let end = self
                .scoreboard
                .next_sacked(self.snd_una)
                .unwrap_or(self.snd_nxt);
            let room = (end.since(self.snd_una) as usize).min(payload.len());
            if let Some(seg) = self.resend(now, self.snd_una, &mut payload[..room]) {
                self.recovery_sent(seg.seq, seg.seg_len());
                return Some(seg);
            }
        }
        if self.tlp_due {
            // RFC 8985 §7.3: the probe is new data if the receive window allows it, or
            // else the last segment sent again.
            self.tlp_due = false;
            self.stats.loss_probes += 1;
            let saved = self.cc.cwnd();
            let flight = self.snd_nxt.since(self.snd_una);
            let mss = u32::from(self.eff_snd_mss());
            // The probe is allowed past the congestion window (one segment).
            self.cc.set_cwnd(flight.saturating_add(mss));
            let probe = self.new_data(now, payload, true);
            self.cc.set_cwnd(saved);
            if let Some(seg) = probe {
                return Some(seg);
            }
            let data_end = self.fin_seq.unwrap_or(self.snd_nxt);
            let back = data_end.since(self.snd_una).min(mss);
            // The last segment as it was sent (Linux `tcp_send_loss_probe()` splits the
            // tail at the segment boundary): it starts where the previous logged one ended.
            let logged_start = self
                .sent_log
                .iter()
                .rev()
                .map(|&(end, _)| end)
                .find(|&end| end.lt(data_end))
                .filter(|&end| end.gt(self.snd_una) && data_end.since(end) <= mss);
            let from = if let Some(start) = logged_start {
                start
            } else if back == 0 {
                self.snd_una
            } else {
                data_end - back
            };
            if let Some(seg) = self.resend(now, from, payload) {
                return Some(seg);
            }
        }
        if self.loss.frto_new > 0 {
            // RFC 5682 step 2b: up to two new segments past the congestion window, instead
            // of retransmissions; if none can go, conventional recovery.
            let first = self.loss.frto_new == 2;
            self.loss.frto_new -= 1;
            let saved = self.cc.cwnd();
            let flight = self.snd_nxt.since(self.snd_una);
            let mss = u32::from(self.eff_snd_mss());
            self.cc.set_cwnd(flight.saturating_add(mss));
            let seg = self.new_data(now, payload, false);
            self.cc.set_cwnd(saved);
            if seg.is_some() {
                return seg;
            }
            self.loss.frto_new = 0;
            if first {
                self.frto_revert(None);
            }
        }
        if let Some(from) = self.rtx_nxt {
            // After a timeout everything outstanding is resent, oldest first, as the
            // congestion window allows (slow start from one segment, RFC 5681 §3.1) —
            // except what the peer SACKed (RFC 6675 §5.1; the head always goes).
            let mut from = from;
            while from.gt(self.snd_una)
                && let Some(end) = self.scoreboard.sacked_until(from)
            {
                from = end;
            }
            let flight = from.since(self.snd_una);
            if from.lt(self.snd_nxt) && (flight == 0 || flight < self.cc.cwnd()) {
                let end = self.scoreboard.next_sacked(from).unwrap_or(self.snd_nxt);
                let end = if end == from { self.snd_nxt } else { end };
                let room = (end.since(from) as usize).min(payload.len());
                if let Some(seg) = self.resend(now, from, &mut payload[..room]) {
                    let next = from + seg.seg_len();
                    self.rtx_nxt = if next.lt(self.snd_nxt) {
                        Some(next)
                    } else {
                        None
                    };
                    return Some(seg);
                }
                self.rtx_nxt = None;
            } else if !from.lt(self.snd_nxt) {
                self.rtx_nxt = None;
            }
        }
        if self.recover.is_some() && self.sack_ok && self.prr_budget > 0 {
            // RFC 8985 §6.2: a retransmission found lost goes again, before new holes.
            while let Some((l, end)) = self.next_lost_retransmission() {
                let r = self.scoreboard.next_sacked(l).map_or(end, |s| s.min(end));
                let room = (r.since(l) as usize).min(payload.len());
                if let Some(seg) = self.resend(now, l, &mut payload[..room]) {
                    self.stats.sack_retransmits += 1;
                    self.recovery_sent(seg.seq, seg.seg_len());
                    return Some(seg);
                }
                // Nothing could be sent from there: look past it.
                self.loss.relost = self.loss.relost.map(|(_, x, w)| (end, x, w));
            }
            // RFC 6675 §4 NextSeg rule 1: the first lost, unSACKed byte above HighRxt.
            let boundary = self.loss_boundary(now);
            if let Some((l, r)) = self
                .scoreboard
                .next_lost(self.snd_una, self.high_rxt, boundary)
            {
                let room = (r.since(l) as usize).min(payload.len());
                if let Some(seg) = self.resend(now, l, &mut payload[..room]) {
                    self.stats.sack_retransmits += 1;
                    self.recovery_sent(seg.seq, seg.seg_len());
                    return Some(seg);
                }
            }
        }
        None
    }

    /// [`Connection::next_segment`]'s window probe or keepalive probe, when one is due.
    #[cold]
    #[inline(never)]
    fn next_segment_probe(&mut self, now: Instant, payload: &mut [u8]) -> Option<SegmentOut> {
        if self.probe_due {
            self.probe_due = false;
            // The window may have opened just enough: send what fits, SWS rules overridden
            // (RFC 9293 §3.8.6.2.1 case 4) ...
            if let Some(seg) = self.new_data(now, payload, true) {
                return Some(seg);
            }
            // ... otherwise a zero-window probe. Like Linux it carries no new data: SEQ =
            // SND.UNA - 1 is below the peer's window, so the peer answers with an ACK
            // carrying its window (RFC 9293 §3.10.7.4).
            self.stats.window_probes += 1;
            return Some(self.segment(now, self.snd_una - 1u32, TcpFlags::ACK));
        }
        if self.ka_probe_due {
            self.ka_probe_due = false;
            // RFC 9293 §3.8.4 (and Linux): SEG.SEQ = SND.NXT - 1, no data; the peer ACKs.
            self.stats.keepalive_probes += 1;
            return Some(self.segment(now, self.snd_una - 1u32, TcpFlags::ACK));
        }
        None
    }

    /// [`Connection::next_segment`]'s ACK in FreeBSD's CLOSING, when it resends the FIN.
    #[cold]
    #[inline(never)]
    fn freebsd_closing_ack(&mut self, now: Instant) -> Option<SegmentOut> {
        if !self.challenge_due
            && let Some(fin) = self.fin_seq
            && self.snd_nxt == fin + 1u32
            && self.snd_una.le(fin)
        {
            // FreeBSD tcp_output(): the state's flags include FIN, and with the FIN sent
            // but unacknowledged SND.NXT is backed up over it, so the ACK resends it.
            return Some(self.segment(now, fin, TcpFlags::ACK | TcpFlags::FIN));
        }
        None
    }

    /// SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED and later) with its options.
    pub(super) fn syn_segment(&mut self, now: Instant) -> SegmentOut {
        let retransmission = !self.syn_due;
        self.syn_due = false;
        self.rtx_due = false;
        if retransmission {
            self.stats.retransmits += 1;
            // Karn's rule (RFC 6298 §3): no sample from a retransmitted SYN.
            self.rtt_timed = None;
        } else {
            self.rtt_timed = Some((self.iss + 1u32, now));
        }
        let active = self.state == State::SynSent;
        let flags = if active {
            TcpFlags::SYN
        } else {
            TcpFlags::SYN | TcpFlags::ACK
        };
        let mut seg = self.segment(now, self.iss, flags);
        // RFC 3168 §6.1.1: ECN setup — ECE|CWR on our SYN (tcp_ecn 1), ECE on a SYN-ACK
        // answering one.
        if active && self.cfg.ecn == 1 {
            seg.flags |= TcpFlags::ECE | TcpFlags::CWR;
        } else if !active && self.ecn_ok {
            seg.flags |= TcpFlags::ECE;
        }
        let mut opt = SegOptions {
            mss: Some(self.cfg.advertised_mss(self.ipv6)),
            ..SegOptions::default()
        };
        if active {
            // RFC 7323 §2.2 / RFC 2018 §2: offer everything enabled.
            if self.cfg.window_scaling {
                opt.wscale = Some(self.cfg.rcv_wscale());
            }
            opt.sack_permitted = self.cfg.sack;
            if self.cfg.timestamps {
                opt.timestamps = Some(Timestamps {
                    tsval: self.tsval(now),
                    tsecr: 0,
                });
            }
        } else {
            // A SYN-ACK only echoes what the peer offered (RFC 7323 §2.2, §3.2).
            if self.wscale_ok {
                opt.wscale = Some(self.rcv_wscale);
            }
            opt.sack_permitted = self.sack_ok;
            if self.ts_ok {
                opt.timestamps = Some(Timestamps {
                    tsval: self.tsval(now),
                    tsecr: self.ts_recent,
                });
            }
        }
        seg.options = opt;
        // RFC 7323 §2.2: the window in a SYN is not scaled.
        seg.wnd = self.rcv_wnd().min(65535) as u16;
        self.arm_rtx(now);
        seg
    }

    /// A retransmission starting at `from` (SND.UNA =< from < SND.NXT): at most one MSS of
    /// data, with our FIN if it is next.
    pub(super) fn resend(
        &mut self,
        now: Instant,
        from: Seq,
        payload: &mut [u8],
    ) -> Option<SegmentOut> {
        if !from.lt(self.snd_nxt) || from.lt(self.snd_buf_seq) {
            return None;
        }
        let offset = from.since(self.snd_buf_seq) as usize;
        let data_end = self.fin_seq.unwrap_or(self.snd_nxt);
        let outstanding = if data_end.gt(from) {
            data_end.since(from) as usize
        } else {
            0
        };
        let max = payload
            .len()
            .min(usize::from(self.eff_snd_mss()))
            .min(outstanding);
        let n = self.sndbuf.copy_out(offset, &mut payload[..max]);
        let mut flags = TcpFlags::ACK;
        if n > 0 && offset + n == self.sndbuf.len() {
            flags |= TcpFlags::PSH;
        }
        let fin_here = self.fin_seq.is_some_and(|f| f == from + n);
        if fin_here {
            flags |= TcpFlags::FIN;
        }
        if n == 0 && !fin_here {
            return None;
        }
        let mut seg = self.segment(now, from, flags);
        seg.payload_len = n;
        // RFC 8985 §6.1: a retransmission updates the segment's transmission time.
        let end = from + seg.seg_len();
        if self.recover.is_some() || self.rtx_nxt.is_some() || self.loss.frto_active() {
            // RFC 3708: the episode's retransmissions, for D-SACK-based undo.
            self.loss.note_rtx(from, end);
        }
        // RFC 3522: the first retransmission while none is outstanding sets the stamp.
        self.loss.rtx_out = match self.loss.rtx_out {
            Some((high, stamp)) if self.snd_una.lt(high) => Some((high.max(end), stamp)),
            _ => Some((end, self.tsval(now))),
        };
        for entry in self.sent_log.iter_mut() {
            if entry.0.gt(from) && entry.0.le(end) {
                entry.1 = now;
            }
        }
        // Karn's rule (RFC 6298 §3): a retransmission is never timed.
        self.rtt_timed = None;
        self.stats.retransmits += 1;
        self.arm_rtx(now);
        Some(seg)
    }

    /// Whether the state lets data segments go (RFC 9293 §3.10.2: SEND is queued before
    /// ESTABLISHED; after our FIN only what was queued ahead of it). CLOSING is reached
    /// from FIN-WAIT-1 when the peer's FIN arrives before our FIN went out (data still
    /// queued ahead of it): that data and the FIN still go.
    #[inline(always)]
    pub(super) fn state_sends_data(&self) -> bool {
        matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        )
    }

    /// Whether new data (or the FIN) may be sent at all: a state that sends data, our FIN
    /// not yet sent, and our SYN acknowledged.
    #[inline(always)]
    pub(super) fn may_send_new_data(&self) -> bool {
        self.state_sends_data() && self.fin_seq.is_none() && self.snd_una != self.iss
    }

    /// New data from SND.NXT within the peer's window and the congestion window, and the
    /// FIN after the last byte. `force` is the override of RFC 9293 §3.8.6.2.1 (persist
    /// timer): send whatever fits.
    pub(super) fn new_data(
        &mut self,
        now: Instant,
        payload: &mut [u8],
        force: bool,
    ) -> Option<SegmentOut> {
        if !self.may_send_new_data() {
            return None;
        }
        let offset = self.snd_nxt.since(self.snd_buf_seq) as usize;
        let unsent = self.sndbuf.len().saturating_sub(offset);
        if unsent == 0 && !self.fin_queued {
            // Nothing to send (the common poll after every segment): skip the windows.
            return None;
        }
        let wnd_end = self.snd_una + self.snd_wnd;
        let usable = if wnd_end.gt(self.snd_nxt) {
            wnd_end.since(self.snd_nxt) as usize
        } else {
            0
        };
        let mss = usize::from(self.eff_snd_mss());
        let cwnd_room = if self.recover.is_some() {
            // RFC 6937: during recovery PRR's sndcnt decides (NextSeg rule 2: new data).
            self.prr_budget as usize
        } else {
            // RFC 3042 limited transmit: the first two duplicate ACKs each let one new
            // segment go beyond the window (FlightSize ≤ cwnd + 2·SMSS).
            let limited = mss * self.dupacks.min(2) as usize;
            let flight = self.snd_nxt.since(self.snd_una) as usize;
            (self.cc.cwnd() as usize + limited).saturating_sub(flight)
        };
        let n = unsent
            .min(usable)
            .min(cwnd_room)
            .min(mss)
            .min(payload.len());
        // The FIN follows the last byte; like Linux it is not held back by the window.
        let fin = self.fin_queued && n == unsent;
        if n == 0 && !fin {
            return None;
        }
        if n < mss && !fin && !force {
            // RFC 9293 §3.8.6.2.1 sender SWS avoidance with Nagle (§3.7.4, RFC 896) in
            // Minshall's form as Linux has it: a partial segment goes when all queued
            // data fits and no other small segment is unacknowledged, or when it is at
            // least half the largest window the peer offered; TCP_CORK holds it (200 ms
            // at most); urgent data is pushed at once.
            let urgent = self.rare.snd_urg.is_some_and(|up| up.gt(self.snd_nxt));
            let nagle_ok = self.nodelay || !self.snd_sml.gt(self.snd_una);
            let half_window = self.max_snd_wnd > 0 && n >= (self.max_snd_wnd / 2) as usize;
            let cork_expired = self.cork_deadline.is_some_and(|d| d <= now);
            let send =
                urgent || cork_expired || (!self.cork && nagle_ok && (n == unsent || half_window));
            if !send {
                if self.cork && self.cork_deadline.is_none() {
                    self.cork_deadline = Some(now + CORK_TIMEOUT);
                }
                return None;
            }
        }
        self.cork_deadline = None;
        let n = self.sndbuf.copy_out(offset, &mut payload[..n]);
        let mut flags = TcpFlags::ACK;
        if n > 0 && n == unsent {
            flags |= TcpFlags::PSH;
        }
        if self.tso_chunk_push(now, n, unsent, usable.min(cwnd_room), mss, |c| {
            c.tso_chunk_segs(mss)
        }) {
            flags |= TcpFlags::PSH;
        }
        if fin {
            flags |= TcpFlags::FIN;
        }
        if n > 0 && self.last_data_at.is_some_and(|t| now - t < self.ato.get()) {
            // Linux: data answering data within `ato` means an interactive (ping-pong)
            // exchange; ACKs then wait for the reply instead of going at once.
            self.pingpong = true;
        }
        self.idle_restart(now);
        let mut seg = self.segment(now, self.snd_nxt, flags);
        seg.payload_len = n;
        if self.recover.is_some() {
            self.recovery_sent(self.snd_nxt, n as u32);
        }
        // RFC 3168 §6.1.2: new data is ECN-capable transport (ECT(0)).
        seg.ect = self.ecn_ok && n > 0;
        if self.cwr_due && n > 0 {
            // RFC 3168 §6.1.2: CWR on the first new data after the reduction.
            seg.flags |= TcpFlags::CWR;
            self.cwr_due = false;
        }
        self.snd_nxt += n;
        if n < mss {
            self.snd_sml = self.snd_nxt;
        }
        if fin {
            self.fin_seq = Some(self.snd_nxt);
            self.snd_nxt += 1u32;
        }
        if self.rtt_timed.is_none() && self.rtx_nxt.is_none() && self.recover.is_none() {
            self.rtt_timed = Some((self.snd_nxt, now));
        }
        self.log_sent(now);
        // Sending resets the persist timer (RFC 9293 §3.8.6.1); no probe is owed.
        self.persist_deadline = None;
        self.persist_backoff = 0;
        self.probe_due = false;
        self.arm_rtx(now);
        // RFC 8985 §7.2: the probe timeout is rescheduled after new data goes out.
        self.tlp_armed = false;
        self.arm_tlp(now);
        Some(seg)
    }

    /// The Linux flavor's PSH at the end of a TSO chunk, for `n` new bytes of `unsent` with
    /// `room` bytes of window and congestion window left: advances the segment's position
    /// in its burst and says whether the segment ends a chunk of two or more. Linux sends
    /// a burst as TSO chunks (`tcp_write_xmit()`: at most `tcp_tso_autosize()` segments
    /// and half the congestion window), and its packets carry PSH at the end of every
    /// chunk of two or more segments, whole or cut short by the windows; a one-segment
    /// chunk (a limited-transmit or PRR segment) carries none (observed in packetdrill's
    /// gtests and the kernel's selftests, e.g. `P. 1:10001(10000)` for a window-limited
    /// part of a longer write, `P. 1:5001(5000)` `P. 5001:10001(5000)` for cwnd 10).
    /// `last_send_at` is when new data last went out (set after this). `chunk` gives the
    /// chunk size, asked only from a burst's second segment on: the first is the first of
    /// its chunk whatever the size ((pos − 1) mod chunk = 0), and carries no PSH by this
    /// rule, so the size (five divisions) is not worked out for it.
    #[inline(always)]
    fn tso_chunk_push(
        &mut self,
        now: Instant,
        n: usize,
        unsent: usize,
        room: usize,
        mss: usize,
        chunk: impl FnOnce(&mut Self) -> u32,
    ) -> bool {
        if n == 0 || self.cfg.flavor() != crate::config::Flavor::Linux {
            return false;
        }
        let pos = if self.last_send_at == Some(now) {
            self.sndbuf.burst().saturating_add(1)
        } else {
            1
        };
        self.sndbuf.set_burst(pos);
        if pos < 2 {
            return false;
        }
        let chunk = chunk(self);
        let in_chunk = (u32::from(pos) - 1) % chunk + 1;
        let left = unsent.saturating_sub(n);
        let stops = left > 0 && room.saturating_sub(n) < mss.min(left);
        in_chunk >= 2 && (in_chunk == chunk || stops)
    }

    /// Segments per TSO chunk: Linux's `tcp_tso_autosize()` — about a millisecond of the
    /// pacing rate (SRTT-based: 200% of cwnd/SRTT below half the slow start threshold,
    /// 120% above), plus a bonus of up to 64 KiB when the minimum RTT is under a few
    /// milliseconds (`tcp_tso_rtt_log` 9), at most 64 KiB, at least `tcp_min_tso_segs`
    /// ([`crate::Config::min_tso_segs`], 2);
    /// unlimited before any RTT sample — and at most half the congestion window
    /// (`tcp_cwnd_test()`), at least one.
    fn tso_chunk_segs(&self, mss: usize) -> u32 {
        const GSO_MAX: u64 = 65536;
        let mss = (mss as u64).max(1);
        let cwnd = u64::from(self.cc.cwnd());
        let half_cwnd = (cwnd / mss / 2).max(1);
        let min_segs = u64::from(self.cfg.min_tso_segs.max(1));
        let Some(srtt) = self.rtt.srtt().filter(|d| !d.is_zero()) else {
            return (GSO_MAX / mss).max(min_segs).min(half_cwnd) as u32;
        };
        let ratio = if cwnd < u64::from(self.cc.ssthresh()) / 2 {
            200
        } else {
            120
        };
        let srtt_us = (srtt.as_micros() as u64).max(1);
        let rate = cwnd * ratio / 100 * 1_000_000 / srtt_us;
        let mut bytes = rate >> 10;
        let min_rtt_us = self.rtt.min_rtt().unwrap_or(srtt).as_micros() as u64;
        let shift = min_rtt_us >> 9;
        if shift < 32 {
            bytes += GSO_MAX >> shift;
        }
        (bytes.min(GSO_MAX) / mss).max(min_segs).min(half_cwnd) as u32
    }

    /// Records what recovery sent: PRR's prr_out and budget, and RFC 6675's HighRxt.
    #[cold]
    #[inline(never)]
    pub(super) fn recovery_sent(&mut self, seq: Seq, len: u32) {
        if self.recover.is_none() {
            return;
        }
        self.loss.prr_out = self.loss.prr_out.saturating_add(len);
        self.prr_budget = self.prr_budget.saturating_sub(len);
        let end = seq + len;
        if seq.lt(self.snd_nxt) && end.gt(self.high_rxt) {
            self.high_rxt = end;
        }
    }

    /// RFC 8985 §6: remembers when the data up to SND.NXT was sent (RACK's clock). The
    /// log is allocated once, when data is first sent, and never grows: past its capacity
    /// the oldest entry goes (that data then counts as sent long ago).
    #[inline(always)]
    pub(super) fn log_sent(&mut self, now: Instant) {
        self.last_send_at = Some(now);
        self.loss.allocate();
        if !self.sack_ok || !self.cfg.rack_tlp {
            return;
        }
        if self.sent_log.capacity() == 0 {
            self.allocate_sent_log();
        }
        if self.sent_log.len() == self.sent_log.capacity() {
            self.sent_log.pop_front();
        }
        self.sent_log.push_back((self.snd_nxt, now));
    }

    /// The sent log's one allocation, when data is first sent ([`Connection::log_sent`]).
    #[cold]
    #[inline(never)]
    fn allocate_sent_log(&mut self) {
        let mss = usize::from(self.eff_snd_mss()).max(1);
        let cap = (self.sndbuf.capacity().max(self.cfg.send_buffer) / mss + 16).min(4096);
        self.sent_log.allocate(cap);
    }

    /// tcp_slow_start_after_idle: nothing in flight and idle for longer than the RTO, the
    /// window is halved per RTO idle, not below the restart window min(IW, cwnd) (Linux
    /// `tcp_cwnd_restart`; RFC 7661 discusses the problem).
    #[inline(always)]
    fn idle_restart(&mut self, now: Instant) {
        if !self.cfg.slow_start_after_idle || self.snd_una != self.snd_nxt {
            return;
        }
        let Some(last) = self.last_send_at else {
            return;
        };
        // In whole nanoseconds (this runs for new data sent with nothing in flight, every
        // request of an exchange): `Duration`s are whole nanoseconds, so the comparisons
        // and subtractions are the same (`restart_window_in_nanos_matches_durations`).
        let rto = self.current_rto_nanos();
        let idle = now.as_nanos().saturating_sub(last.as_nanos());
        if idle <= rto || rto == 0 {
            return;
        }
        let mss = u32::from(self.eff_snd_mss());
        let cwnd = self.cc.cwnd();
        let restart = cwnd.min(mss.saturating_mul(10));
        let w = restart_window(cwnd, restart, idle, rto);
        self.cc.on_idle_restart(now);
        self.cc.set_cwnd(w);
    }

    /// Starts the persist timer when data waits, nothing is in flight and the window (or
    /// SWS avoidance) keeps it from going out (RFC 9293 §3.8.6.1).
    pub(super) fn arm_persist(&mut self, now: Instant) {
        let may_send = matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        );
        let unsent = self
            .sndbuf
            .len()
            .saturating_sub(self.snd_nxt.since(self.snd_buf_seq) as usize);
        if !may_send
            || unsent == 0
            || self.fin_seq.is_some()
            || self.snd_una != self.snd_nxt
            || self.rtx_deadline.is_some()
            || self.persist_deadline.is_some()
        {
            return;
        }
        let backoff = self.rtt.backed_off(self.persist_backoff);
        self.persist_deadline = Some(now + backoff);
    }

    /// A segment with the connection's ACK, window, urgent pointer and timestamps.
    #[inline(always)]
    pub(super) fn segment(&self, now: Instant, seq: Seq, flags: TcpFlags) -> SegmentOut {
        let mut seg = SegmentOut::bare(seq, Seq(0), flags, 0);
        seg.layout = self.cfg.option_layout;
        if flags.ack() {
            seg.ack = self.rcv_nxt;
        }
        let wnd = self.rcv_wnd() >> self.rcv_wscale;
        seg.wnd = wnd.min(65535) as u16;
        if let Some(up) = self.rare.snd_urg
            && up.gt(seq)
            && !flags.rst()
        {
            // RFC 9293 §3.8.5 / RFC 6093: URG with the pointer to the byte after the
            // urgent data, as far as 16 bits reach (Linux sends 0xFFFF beyond that).
            seg.flags |= TcpFlags::URG;
            seg.up = up.since(seq).min(65535) as u16;
        }
        if self.ecn_ok
            && self.ece_due
            && flags.ack()
            && !flags.intersects(TcpFlags::SYN | TcpFlags::RST)
        {
            // RFC 3168 §6.1.3: ECE on every ACK until CWR arrives.
            seg.flags |= TcpFlags::ECE;
        }
        if self.ts_ok {
            // RFC 7323 §3.2: TSopt on every segment once negotiated.
            seg.options.timestamps = Some(Timestamps {
                tsval: self.tsval(now),
                tsecr: self.ts_recent,
            });
        }
        // Called only when there is a block to send (a D-SACK due or out-of-order data
        // held): nearly every segment has none, and the call was most of the cost.
        if self.sack_ok
            && flags.ack()
            && !flags.intersects(TcpFlags::SYN | TcpFlags::RST)
            && (self.rcvbuf.has_gap() || self.rare.dsack_due.is_some())
        {
            self.sack_blocks(&mut seg.options);
        }
        seg
    }

    /// RFC 2018 §4: the out-of-order data held, as SACK blocks — first the block holding the
    /// segment that arrived last, then those of the segments before it, most recent first,
    /// then the others in sequence order; three fit beside the timestamps option (four
    /// without).
    ///
    /// RFC 2883 §4: a D-SACK block for a duplicate segment goes first.
    pub(super) fn sack_blocks(&self, opt: &mut SegOptions) {
        let mut max = if self.ts_ok { 3 } else { 4 };
        if let Some((l, r)) = self.rare.dsack_due {
            opt.sack_blocks.push(l, r);
            max -= 1;
        }
        let ranges = self.rcvbuf.ooo_ranges();
        if ranges.is_empty() {
            return;
        }
        let to_seq = |(s, e): (usize, usize)| (self.rcv_nxt + s, self.rcv_nxt + e);
        // RFC 2018 §4: the block of the latest segment first, then the most recently
        // reported ones (Linux and FreeBSD keep their blocks in that order), then the rest
        // in sequence order.
        let mut order: [Option<usize>; 4] = [None; 4];
        let mut n = 0;
        let recent = self
            .rare
            .sack_recent
            .get(..usize::from(self.rare.sack_recent_len));
        for r in recent.unwrap_or_default() {
            let found = ranges
                .iter()
                .position(|&(s, e)| r.ge(self.rcv_nxt + s) && r.lt(self.rcv_nxt + e));
            if let Some(i) = found
                && !order[..n].contains(&Some(i))
                && n < max
            {
                order[n] = Some(i);
                n += 1;
            }
        }
        for i in 0..ranges.len() {
            if n >= max {
                break;
            }
            if !order[..n].contains(&Some(i)) {
                order[n] = Some(i);
                n += 1;
            }
        }
        for i in order[..n].iter().flatten() {
            if let Some(&range) = ranges.get(*i) {
                let (l, r) = to_seq(range);
                opt.sack_blocks.push(l, r);
            }
        }
    }

    /// RFC 9293 §3.7.1 (MUST-16): the effective send MSS, the negotiated MSS less the TCP
    /// options every segment carries (12 bytes of `nop,nop,TS` once timestamps are on), as
    /// Linux's `mss_cache` (1448 with timestamps on a 1500-byte path).
    pub(super) fn eff_snd_mss(&self) -> u16 {
        let options = if self.ts_ok { 12 } else { 0 };
        self.snd_mss.saturating_sub(options).max(1)
    }

    /// The TSval clock: milliseconds plus the per-connection offset (RFC 7323 §5.4).
    pub(super) fn tsval(&self, now: Instant) -> u32 {
        (now.as_millis() as u32).wrapping_add(self.ts_offset)
    }

    /// RCV.WND (RFC 9293 §3.8.6.2.2): the window offered never moves its right edge back,
    /// and moves it forward only by at least min(half the buffer, one receive MSS) (receiver
    /// SWS avoidance); in whole units of the window scale, at most what 16 bits can say.
    pub(super) fn rcv_wnd(&self) -> u32 {
        let max = 65535u32 << self.rcv_wscale;
        let free = u32::try_from(self.rcvbuf.free())
            .unwrap_or(u32::MAX)
            .min(max);
        let free = (free >> self.rcv_wscale) << self.rcv_wscale;
        let offered = if self.rcv_adv.gt(self.rcv_nxt) {
            self.rcv_adv.since(self.rcv_nxt)
        } else {
            0
        };
        if self.cfg.flavor() == crate::config::Flavor::FreeBsd {
            // FreeBSD tcp_output(): all the free space (sbspace), zero below
            // min(buffer/4, MSS) (receiver SWS avoidance), never less than was offered.
            let quarter = u32::try_from(self.rcvbuf.capacity() / 4).unwrap_or(u32::MAX);
            let free = if free < quarter && free < self.rcv_mss {
                0
            } else {
                free
            };
            return free.max(offered);
        }
        let threshold = u32::try_from(self.rcvbuf.capacity() / 2)
            .unwrap_or(u32::MAX)
            .min(self.rcv_mss)
            .max(1);
        // What was offered stays acceptable even when the scaled field, truncated, shows
        // up to one scale unit less (RFC 7323 §2.4 and its Appendix F).
        if free >= offered.saturating_add(threshold) {
            free
        } else {
            offered
        }
    }

    /// The window a segment's sequence numbers are checked against (RFC 9293 §3.10.7.4,
    /// RFC 5961 §3.2, §4.2): RCV.WND; under the FreeBSD flavor the larger of the free
    /// buffer space and what was offered (`tcp_input()`: `imax(sbspace, rcv_adv − rcv_nxt)`),
    /// which can exceed the 16-bit window advertised.
    pub(super) fn rcv_accept_wnd(&self) -> u32 {
        let wnd = self.rcv_wnd();
        // A passive SYN-RECEIVED is FreeBSD's syncache, which checks against the window
        // it offered (a simultaneous open's is a full connection); TIME-WAIT keeps no
        // buffer.
        if self.cfg.flavor() != crate::config::Flavor::FreeBsd
            || (self.state == State::SynReceived && self.passive)
            || self.state == State::TimeWait
        {
            return wnd;
        }
        let free = u32::try_from(self.rcvbuf.free()).unwrap_or(u32::MAX);
        wnd.max(free)
    }

    /// SEG.WND << Snd.Wind.Shift (RFC 7323 §2.3); SYN windows are never scaled.
    pub(super) fn scaled_wnd(&self, wnd: u16) -> u32 {
        u32::from(wnd) << self.snd_wscale
    }
}

#[cfg(test)]
mod tests {
    use super::TxBurst;
    use crate::config::{Config, Flavor, OptionLayout};
    use crate::conn::testlink::{Rng, impair};
    use crate::isn::FourTuple;
    use crate::seq::Seq;
    use crate::time::{Duration, Instant};
    use crate::{Connection, SegmentOut};

    /// `tuple_v4` gives exactly the addresses `tuple` unpacks for IPv4 tuples (random
    /// addresses and ports, the extremes included), and nothing for IPv6 or mixed ones.
    #[test]
    fn tuple_v4_is_the_unpacked_tuple() {
        use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let cfg = std::sync::Arc::new(Config::default());
        let check = |local: SocketAddr, remote: SocketAddr| {
            let t = FourTuple::new(local, remote);
            let c = Connection::listen_with_iss(Instant::ZERO, cfg.clone(), t, Seq(1), 0);
            assert_eq!(c.tuple(), t);
            match (local, remote) {
                (SocketAddr::V4(l), SocketAddr::V4(r)) => assert_eq!(c.tuple_v4(), Some((l, r))),
                _ => assert_eq!(c.tuple_v4(), None),
            }
        };
        for i in 0..2000u64 {
            let mut v4 = || {
                let x = rng.below(u64::MAX);
                let ip = match i % 4 {
                    0 => Ipv4Addr::new(0, 0, 0, 0),
                    1 => Ipv4Addr::new(255, 255, 255, 255),
                    _ => Ipv4Addr::from(x as u32),
                };
                SocketAddr::from((ip, (x >> 32) as u16))
            };
            let (l, r) = (v4(), v4());
            check(l, r);
            let v6 = SocketAddr::from((Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, i as u16), 80));
            check(l, v6);
            check(v6, v6);
        }
    }

    /// The idle restart's window computed in nanoseconds is the one computed with
    /// `Duration`s (the form it had): random and edge idle times, RTOs and windows.
    #[test]
    fn restart_window_in_nanos_matches_durations() {
        fn by_durations(cwnd: u32, restart: u32, mut idle: Duration, rto: Duration) -> u32 {
            let mut w = cwnd;
            while idle > rto && w > restart {
                w /= 2;
                idle -= rto;
            }
            w.max(restart)
        }
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut n = 0;
        for i in 0..20_000u64 {
            let rto = match i % 4 {
                0 => 1 + rng.below(u64::MAX) % 1_000,
                1 => 200_000_000 + rng.below(u64::MAX) % 1_000_000_000,
                2 => u64::MAX / (2 + rng.below(u64::MAX) % 100),
                _ => 1 + rng.below(u64::MAX) % 3_000_000_000,
            };
            let idle = match i % 3 {
                0 => rto.saturating_add(1 + rng.below(u64::MAX) % rto.saturating_mul(40).max(1)),
                1 => rto
                    .saturating_mul(1 + rng.below(u64::MAX) % 64)
                    .saturating_add(rng.below(u64::MAX) % 3),
                _ => rto.saturating_add(1 + rng.below(u64::MAX) % (u64::MAX - rto).max(1)),
            };
            if idle <= rto {
                continue;
            }
            let cwnd = (rng.below(u64::MAX) % (1 << (rng.below(u64::MAX) % 32))) as u32;
            let restart = cwnd.min((rng.below(u64::MAX) % 20_000) as u32);
            let want = by_durations(
                cwnd,
                restart,
                Duration::from_nanos(idle),
                Duration::from_nanos(rto),
            );
            assert_eq!(super::restart_window(cwnd, restart, idle, rto), want);
            n += 1;
        }
        assert!(n > 15_000);
    }

    /// A sent log whose storage came from the pool is what a new one would be: empty,
    /// with exactly the capacity asked for (a fresh `reserve_exact` gives the same), and
    /// it fills and evicts the same way; a capacity the pooled storage does not have gets
    /// new storage; a large log is not pooled. Fails if a pooled log kept its entries or
    /// were handed out for another capacity.
    #[test]
    fn pooled_sent_logs_are_new_ones() {
        use super::{SENT_LOG_POOL, SENT_LOG_POOL_CAP, SentLog};
        let pooled = || SENT_LOG_POOL.with(|p| p.borrow().len());
        let fresh = |cap: usize| {
            let mut v = std::collections::VecDeque::<(Seq, Instant)>::new();
            v.reserve_exact(cap);
            v.capacity()
        };
        let fill = |log: &mut SentLog, n: u32| {
            for i in 0..n {
                if log.len() == log.capacity() {
                    log.pop_front();
                }
                log.push_back((Seq(i), Instant::from_nanos(u64::from(i))));
            }
        };
        for cap in [1usize, 19, 27, SENT_LOG_POOL_CAP] {
            let mut a = SentLog::new();
            a.allocate(cap);
            fill(&mut a, 3 * cap as u32 + 1);
            let before = pooled();
            drop(a);
            assert_eq!(pooled(), before + 1, "cap {cap}");
            let mut b = SentLog::new();
            b.allocate(cap);
            assert_eq!(pooled(), before, "cap {cap}: taken from the pool");
            assert!(b.is_empty());
            assert_eq!(b.capacity(), fresh(cap));
            fill(&mut b, cap as u32 + 2);
            let want: Vec<_> = (2..cap as u32 + 2)
                .map(|i| (Seq(i), Instant::from_nanos(u64::from(i))))
                .collect();
            assert_eq!(b.iter().copied().collect::<Vec<_>>(), want);
            // Another capacity does not take it.
            drop(b);
            let mut c = SentLog::new();
            c.allocate(cap + 1);
            assert_eq!(c.capacity(), fresh(cap + 1));
            assert!(c.is_empty());
            assert_eq!(pooled(), before + 1);
            SENT_LOG_POOL.with(|p| p.borrow_mut().clear());
        }
        let mut big = SentLog::new();
        big.allocate(SENT_LOG_POOL_CAP + 1);
        drop(big);
        assert_eq!(pooled(), 0);
    }

    /// Runs a two-way exchange under `cfg`, each end sending through
    /// `poll_transmit_burst` (a fresh [`TxBurst`] per round of polling, as the stack does
    /// per call) when `burst`, else through `poll_transmit`: the client streams (up to
    /// 24 KB per round into a 64 KiB buffer, so full-sized segments go back to back), the
    /// server sometimes answers, the reader sometimes stalls (the window closes, probes
    /// go), the link drops 2%, swaps 3%, duplicates 1% and marks 2% CE (recovery, RTOs,
    /// ECN reductions). Returns every segment with its payload, and after every round both
    /// ends' TCP_INFO, counters and events, as text; and how many segments were built
    /// from their predecessor.
    fn run(mut cfg: Config, burst: bool, seed: u64) -> (Vec<String>, u64) {
        cfg.tx_burst = burst;
        let tuple = FourTuple::new(
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
        );
        let peer = FourTuple::new(tuple.remote, tuple.local);
        let mut now = Instant::from_secs(1);
        let mut c = Connection::connect_with_iss(now, cfg.clone(), tuple, Seq(1000), 7);
        let mut s = Connection::listen_with_iss(now, cfg, peer, Seq(900_000), 99);
        let mut rng = Rng(seed);
        let mut log = Vec::new();
        let mut continued = 0;
        let mut buf = vec![0u8; 65536];
        let mut sink = vec![0u8; 20_000];
        let data: Vec<u8> = (0..24_000u32).map(|i| (i * 13 + i / 7) as u8).collect();
        for round in 0..600u32 {
            if round > 2 {
                let n = rng.below(24_000) as usize;
                let _ = c.send(now, &data[..n]);
                if rng.below(8) == 0 {
                    let _ = s.send(now, &data[..rng.below(3000) as usize]);
                }
            }
            for _ in 0..50 {
                let mut moved = false;
                for from_client in [true, false] {
                    let (src, dst) = if from_client {
                        (&mut c, &mut s)
                    } else {
                        (&mut s, &mut c)
                    };
                    let mut out: Vec<(SegmentOut, Vec<u8>)> = Vec::new();
                    let mut tx = TxBurst::default();
                    loop {
                        let seg = if burst {
                            src.poll_transmit_burst(now, &mut buf, &mut tx)
                        } else {
                            src.poll_transmit(now, &mut buf)
                        };
                        let Some(seg) = seg else {
                            break;
                        };
                        continued += u64::from(tx.continued());
                        let bytes = buf[..seg.payload_len].to_vec();
                        log.push(format!("{from_client} {seg:?} {bytes:?}"));
                        out.push((seg, bytes));
                    }
                    moved |= !out.is_empty();
                    // The link: 2% lost, 3% swapped with the next, 1% duplicated.
                    impair(&mut out, &mut rng);
                    for (seg, bytes) in &out {
                        let ce = seg.ect && rng.below(50) == 0;
                        dst.on_segment_ecn(now, &seg.as_segment_in(bytes), ce);
                    }
                }
                if !moved {
                    break;
                }
            }
            if round % 97 <= 80 {
                while let Ok(n) = s.recv(&mut sink) {
                    if n == 0 {
                        break;
                    }
                }
            }
            while let Ok(n) = c.recv(&mut sink) {
                if n == 0 {
                    break;
                }
            }
            now += Duration::from_micros(200 + rng.below(20_000));
            for e in [&mut c, &mut s] {
                if e.poll_timeout().is_some_and(|t| t <= now) {
                    e.on_timeout(now);
                }
            }
            let mut events = Vec::new();
            while let Some(e) = c.poll_event() {
                events.push(format!("{e:?}"));
            }
            while let Some(e) = s.poll_event() {
                events.push(format!("{e:?}"));
            }
            log.push(format!(
                "{round} {:?} {:?} {:?} {:?} {events:?}",
                c.info(),
                s.info(),
                c.stats(),
                s.stats()
            ));
        }
        (log, continued)
    }

    fn compare(cfg: Config, what: &str, min_continued: u64) {
        for seed in [0x9e37_79b9_7f4a_7c15, 0x0123_4567_89ab_cdef, 77] {
            let (one, none) = run(cfg.clone(), false, seed);
            let (many, continued) = run(cfg.clone(), true, seed);
            assert_eq!(none, 0, "{what}: bursts were built while off");
            assert!(
                continued >= min_continued,
                "{what}: only {continued} segments were built from their predecessor"
            );
            assert_eq!(one.len(), many.len(), "{what}: seed {seed}");
            for (i, (a, b)) in one.iter().zip(&many).enumerate() {
                assert_eq!(a, b, "{what}: seed {seed}, line {i} differs");
            }
        }
    }

    /// Every segment, every TCP_INFO field, every counter and every event is the same
    /// with transmit bursts on and off: Linux defaults with events recorded and ECN, without
    /// SACK and timestamps, under the FreeBSD flavor, and with BBR (paced: no burst is
    /// built, and none may change anything).
    #[test]
    fn transmit_bursts_change_no_segment_and_no_info_field() {
        let linux = Config {
            send_buffer: 64 << 10,
            recv_buffer: 32 << 10,
            ecn: 1,
            events: true,
            ..Config::default()
        };
        compare(linux.clone(), "linux", 1000);
        compare(
            Config {
                sack: false,
                timestamps: false,
                ..linux.clone()
            },
            "no options",
            1000,
        );
        compare(
            Config {
                option_layout: OptionLayout::Bsd,
                flavor: Some(Flavor::FreeBsd),
                ..linux.clone()
            },
            "freebsd",
            1000,
        );
        compare(
            Config {
                congestion_control: "bbr",
                ..linux
            },
            "bbr",
            0,
        );
    }
}
