//! The receive fast path and the host's fused copy-and-checksum hooks.
//!
//! Header prediction (Van Jacobson's, as in 4.4BSD's and Linux's `tcp_rcv_established`):
//! in ESTABLISHED, a segment carrying nothing but ACK (and PSH), the next expected
//! sequence number, an acceptable timestamp and no SACK blocks is either (a) a pure ACK for
//! new data, (b) in-order data that fits the window, at a receiver with nothing in
//! flight and no reassembly, recovery, F-RTO or D-SACK round under way, or (c) such data
//! (no reassembly) that also acknowledges new data, as a reply does. For those, most of
//! RFC 9293 §3.10.7.4's checks are known to pass or to do nothing, and
//! [`Connection::fast_path`] does only what they would have done: the same bookkeeping
//! (RTT, RACK, delivery rate, congestion control, timers, window) in the same order, so the
//! outcome is identical; `Config::header_prediction = false` forces the general path and
//! `tests/fast_path.rs` compares the two segment by segment.
//!
//! The copy hooks: the payload of an in-order segment is copied into the receive ring while
//! its checksum is verified, and the payload of an outgoing segment is summed while it is
//! copied out of the send ring.

use super::Connection;
use crate::segment::SegmentIn;
use crate::seq::Seq;
use crate::state::State;
use crate::time::Instant;
use synack_wire::checksum::Checksum;
use synack_wire::flags::TcpFlags;

impl Connection {
    /// Header prediction: processes `seg` and returns `true` when it is one of the two
    /// predicted kinds (see the module documentation); otherwise changes nothing and
    /// returns `false` (the general path then runs). Called from the general path's start
    /// in a synchronized state, after `on_segment`'s common steps.
    pub(super) fn fast_path(&mut self, now: Instant, seg: &SegmentIn<'_>) -> bool {
        // The prediction. Not predicted: other states, SYN/FIN/RST/URG/ECE/CWR, anything
        // but the next sequence number, SACK blocks, and (RFC 7323 §5.3 R1) a missing
        // timestamp or one PAWS would look at.
        if self.state != State::Established
            || seg.flags.without(TcpFlags::PSH) != TcpFlags::ACK
            || seg.seq != self.rcv_nxt
            || !seg.options.sack_blocks.is_empty()
        {
            return false;
        }
        let ts = seg.options.timestamps;
        if self.ts_ok && !ts.is_some_and(|ts| Seq(ts.tsval).ge(Seq(self.ts_recent))) {
            return false;
        }
        let data = !seg.payload.is_empty();
        // (c) In-order text as in (b) that also acknowledges new data (a reply in a
        // request/response exchange): the whole ACK processing, then the text as in (b).
        let mut full_ack = false;
        if data {
            // (b) In-order text that fits the window, acknowledging nothing new, with
            // nothing in flight: the ACK processing has no loss, SACK, recovery, F-RTO or
            // D-SACK state to update, and the text goes straight to the ring's end.
            if seg.payload.len() > self.rcv_accept_wnd() as usize
                || self.orphaned
                || self.rare.fin_pending.is_some()
                || self.rcvbuf.has_gap()
            {
                return false;
            }
            if seg.ack != self.snd_una
                || self.snd_una != self.snd_nxt
                || !self.scoreboard.is_empty()
                || self.recover.is_some()
                || self.loss.frto_active()
                || self.loss.dsack_round_open()
            {
                // Not (b); (c) when it acknowledges new data. The ACK processing reads
                // and changes only the sending side, so the text checks above still hold
                // after it, as they do for the general path's text step.
                if !(seg.ack.gt(self.snd_una) && seg.ack.le(self.snd_nxt)) {
                    return false;
                }
                full_ack = true;
            }
        } else if !(seg.ack.gt(self.snd_una) && seg.ack.le(self.snd_nxt))
            || self.rare.fin_pending.is_some()
        {
            // (a) A pure ACK that acknowledges new data (duplicate ACKs and window updates
            // take the general path).
            return false;
        }
        // RFC 9293 §3.10.7.4 "First": SEG.SEQ = RCV.NXT is acceptable for a segment without
        // text whatever the window, and for text when the window holds it all.
        debug_assert!(self.acceptable(seg));
        #[cfg(test)]
        tests::FAST_HITS.with(|h| h.set(h.get() + 1));
        // Predicted. RFC 7323 §4.3 (§5.3 R3): TS.Recent.
        if self.ts_ok
            && let Some(ts) = ts
            && seg.seq.le(self.last_ack_sent)
        {
            self.ts_recent = ts.tsval;
            self.ts_recent_at = now;
        }
        // "Second" to "Fourth" (RST, security, SYN) do not apply; "Fifth", the ACK field:
        if !data {
            // (a) The whole ACK processing. With no text and no FIN (none pending either),
            // "Sixth" to "Eighth" have nothing to do in ESTABLISHED.
            self.process_ack(now, seg);
            return true;
        }
        if full_ack {
            // (c) The whole ACK processing; SND.UNA < SEG.ACK =< SND.NXT, so it keeps the
            // segment (returns true) and the state stays ESTABLISHED.
            #[cfg(test)]
            tests::FAST_TEXT_ACK_HITS.with(|h| h.set(h.get() + 1));
            self.process_ack(now, seg);
        } else {
            // (b) What `process_ack` does for an ACK of nothing new with nothing in flight
            // and no SACK, loss, F-RTO or D-SACK state: the rate sample, the reorder timer,
            // the persist count and the window update (RFC 9293 §3.10.7.4 SND.WL1/SND.WL2).
            self.rate_on_ack(now);
            if self.rack_on() {
                self.arm_reorder_timer(now);
            }
            self.persist_unanswered = 0;
            self.fast_window_update(seg);
        }
        // "Seventh", the text: in order, within the window, no gap (so no D-SACK).
        self.fast_text(now, seg);
        // An urgent byte is pending only after an urgent pointer arrived (rare).
        if self.rare.urg_pending.is_some() {
            self.capture_urgent(now);
        }
        true
    }

    /// Receive coalescing (`Stack::receive_batch`): processes `seg`, whose IP header's CE
    /// mark is `ce`, exactly as [`Connection::on_segment_ecn`] would, when header
    /// prediction takes it as case (b) of the module documentation (in-order text within
    /// the window, acknowledging nothing new, at a receiver with nothing in flight);
    /// otherwise changes nothing and returns `false` (the caller then calls
    /// `on_segment_ecn`).
    ///
    /// `cont`: the caller vouches that the last thing that happened to this connection
    /// was an accepted call of this function at the same `now` (a run of segments of one
    /// flow in one receive batch). Such a segment cannot change the connection-wide
    /// conditions of case (b) (state, nothing in flight, no gap, no FIN, no urgent data),
    /// so they are not checked again, and the steps whose effect the previous segment
    /// already had at the same `now` are not repeated: the keepalive restart
    /// (RFC 9293 §3.8.4; `last_rcv_at` is already `now`), the RACK reorder timer (nothing
    /// in flight: it stays off) and the persist count (already 0). Everything RFC 9293
    /// §3.10.7.4 and RFC 7323 make per segment stays per segment: the segment counter and
    /// event, the sequence, timestamp (§5.3 R1) and window checks, TS.Recent (§4.3, which
    /// only a segment at or before Last.ACK.sent updates), the send window update
    /// (SND.WL1/SND.WL2), the rate sample, the text and its delayed-ACK accounting (the ato
    /// estimate, quick ACKs, an ACK every second full-sized segment) and the CE mark
    /// (RFC 3168 §6.1.3).
    pub(crate) fn on_segment_in_run(
        &mut self,
        now: Instant,
        seg: &SegmentIn<'_>,
        ce: bool,
        cont: bool,
    ) -> bool {
        if cont {
            debug_assert!(self.run_ready() && self.last_rcv_at == now);
        } else if !self.run_ready() {
            return false;
        }
        // The per-segment half of the prediction (see `fast_path`), for case (b) only.
        if seg.flags.without(TcpFlags::PSH) != TcpFlags::ACK
            || seg.seq != self.rcv_nxt
            || seg.ack != self.snd_una
            || seg.payload.is_empty()
            || !seg.options.sack_blocks.is_empty()
        {
            return false;
        }
        let ts = seg.options.timestamps;
        // RFC 7323 §5.3 R1 (PAWS): only a segment PAWS accepts outright is taken here.
        if self.ts_ok && !ts.is_some_and(|ts| Seq(ts.tsval).ge(Seq(self.ts_recent))) {
            return false;
        }
        // RFC 9293 §3.10.7.4, first check: the whole text within the receive window.
        if seg.payload.len() > self.rcv_accept_wnd() as usize {
            return false;
        }
        debug_assert!(self.acceptable(seg));
        // `on_segment`'s common steps.
        self.stats.segs_in += 1;
        self.events.push(crate::event::Event::Received {
            at: now,
            seg: crate::event::SegSummary::of_in(seg),
        });
        if !cont {
            self.last_rcv_at = now;
            if self.keepalive {
                self.ka_unanswered = 0;
                self.ka_probe_due = false;
                self.ka_deadline = None;
                self.rearm_keepalive(now);
            }
        }
        // `fast_path` case (b). RFC 7323 §4.3 (§5.3 R3): TS.Recent.
        if self.ts_ok
            && let Some(ts) = ts
            && seg.seq.le(self.last_ack_sent)
        {
            self.ts_recent = ts.tsval;
            self.ts_recent_at = now;
        }
        self.rate_on_ack(now);
        if !cont {
            if self.rack_on() {
                self.arm_reorder_timer(now);
            }
            self.persist_unanswered = 0;
        }
        self.fast_window_update(seg);
        // "Seventh", the text.
        self.fast_text(now, seg);
        // `on_segment_ecn`: RFC 3168 §6.1.3, a CE mark is echoed (and acknowledged at once).
        if ce && self.ecn_ok {
            self.stats.ecn_ce_received += 1;
            self.ece_due = true;
            self.ack_due = true;
        }
        true
    }

    /// RFC 9293 §3.10.7.4: the send window from a segment that SND.WL1/SND.WL2 say is
    /// newer (header prediction's case (b) and run continuations).
    #[inline(always)]
    fn fast_window_update(&mut self, seg: &SegmentIn<'_>) {
        if self.snd_wl1.lt(seg.seq) || (self.snd_wl1 == seg.seq && self.snd_wl2.le(seg.ack)) {
            self.snd_wnd = self.scaled_wnd(seg.wnd);
            self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
        }
    }

    /// "Seventh, process the segment text" (RFC 9293 §3.10.7.4) for text at RCV.NXT that
    /// fits the window: into the ring, RCV.NXT advanced, the delayed-ACK accounting.
    #[inline(always)]
    fn fast_text(&mut self, now: Instant, seg: &SegmentIn<'_>) {
        let len = u32::try_from(seg.payload.len()).unwrap_or(u32::MAX);
        self.rcv_mss = self.rcv_mss.max(len.min(65535));
        match self.rcvbuf.insert(0, seg.payload) {
            Some(advance) => {
                self.rcv_nxt += advance;
                self.bytes_received += advance as u64;
                if seg.flags.psh() {
                    self.push_seen = true;
                }
                self.data_ack(now);
            }
            None => self.ack_due = true,
        }
    }

    /// The connection-wide conditions of header prediction's case (b) (see
    /// [`Connection::on_segment_in_run`]), which a segment taken that way leaves as they
    /// were.
    fn run_ready(&self) -> bool {
        self.state == State::Established
            && self.cfg.header_prediction
            && !self.orphaned
            && self.rare.fin_pending.is_none()
            && self.rare.urg_pending.is_none()
            && !self.rcvbuf.has_gap()
            && self.snd_una == self.snd_nxt
            && self.scoreboard.is_empty()
            && self.recover.is_none()
            && !self.loss.frto_active()
            && !self.loss.dsack_round_open()
    }

    /// Copies the payload of a segment starting at `seq` into the receive ring's free space
    /// while adding it to `sum`, before the segment's checksum is known to be good; the
    /// connection's state does not change. Only a segment at RCV.NXT in a state that
    /// receives text qualifies; `false` means nothing was copied or summed (the caller
    /// sums the payload itself). When the segment is then processed, the engine's insert of
    /// that payload finds it in place; the caller calls
    /// [`Connection::unstage_payload`] afterwards either way.
    pub fn stage_payload(&mut self, seq: Seq, payload: &[u8], sum: &mut Checksum) -> bool {
        // RFC 9293 §3.10.7.4 "Seventh": text is processed in ESTABLISHED, FIN-WAIT-1 and
        // FIN-WAIT-2 only; elsewhere (or out of order) the plain path verifies.
        matches!(
            self.state,
            State::Established | State::FinWait1 | State::FinWait2
        ) && !self.orphaned
            && seq == self.rcv_nxt
            && self.rcvbuf.stage(payload, sum)
    }

    /// Forgets a payload staged by [`Connection::stage_payload`].
    pub fn unstage_payload(&mut self) {
        self.rcvbuf.unstage();
    }

    /// The folded one's-complement sum (RFC 1071, uncomplemented) of the payload the last
    /// [`Connection::poll_transmit`] copied out of the send ring, when it copied exactly
    /// `len` bytes; call [`Connection::forget_payload_sum`] before polling so that a
    /// segment whose payload did not come from that copy cannot pick up an old sum.
    pub fn payload_sum(&self, len: usize) -> Option<u16> {
        self.sndbuf.last_copy_sum(len)
    }

    /// Forgets the sum of the last payload copied out (see [`Connection::payload_sum`]).
    pub fn forget_payload_sum(&mut self) {
        self.sndbuf.forget_copy_sum();
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Flavor, OptionLayout};
    use crate::conn::testlink::{Rng, impair};
    use crate::isn::FourTuple;
    use crate::seq::Seq;
    use crate::time::{Duration, Instant};
    use crate::{Connection, SegmentOut};
    use std::cell::Cell;

    thread_local! {
        /// Segments the fast path took on this thread.
        pub(super) static FAST_HITS: Cell<u64> = const { Cell::new(0) };
        /// Of those, text segments that also acknowledged new data (case (c)).
        pub(super) static FAST_TEXT_ACK_HITS: Cell<u64> = const { Cell::new(0) };
    }

    /// Runs a two-way exchange under `cfg` (with header prediction as `fast` says): the
    /// client streams, the server sometimes answers, the reader sometimes stalls (so the
    /// window closes and zero-window probes go), and the link drops, reorders and
    /// duplicates segments (so reassembly, SACK, recovery and RTOs take turns with the
    /// predicted segments). Returns every segment sent and, after every round, both ends'
    /// TCP_INFO and counters, as text; and how many segments the fast path took.
    fn run(mut cfg: Config, fast: bool, seed: u64) -> (Vec<String>, u64) {
        cfg.header_prediction = fast;
        FAST_HITS.with(|h| h.set(0));
        FAST_TEXT_ACK_HITS.with(|h| h.set(0));
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
        let mut buf = vec![0u8; 65536];
        let mut sink = vec![0u8; 20_000];
        let data: Vec<u8> = (0..8000u32).map(|i| (i * 13) as u8).collect();
        for round in 0..1000u32 {
            if round > 2 {
                let n = rng.below(8000) as usize;
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
                    while let Some(seg) = src.poll_transmit(now, &mut buf) {
                        let bytes = buf[..seg.payload_len].to_vec();
                        log.push(format!("{from_client} {seg:?} {bytes:?}"));
                        out.push((seg, bytes));
                    }
                    moved |= !out.is_empty();
                    // The link: 2% lost, 3% swapped with the next, 1% duplicated.
                    impair(&mut out, &mut rng);
                    for (seg, bytes) in &out {
                        dst.on_segment(now, &seg.as_segment_in(bytes));
                    }
                }
                if !moved {
                    break;
                }
            }
            // The readers: the server usually drains, sometimes stalls for a while.
            if round % 97 > 80 {
                // stalled
            } else {
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
            log.push(format!(
                "{round} {:?} {:?} {:?} {:?}",
                c.info(),
                s.info(),
                c.stats(),
                s.stats()
            ));
        }
        (log, FAST_HITS.with(|h| h.get()))
    }

    fn compare(cfg: Config, what: &str) {
        for seed in [0x9e37_79b9_7f4a_7c15, 0x0123_4567_89ab_cdef, 77] {
            let (slow, none) = run(cfg.clone(), false, seed);
            let (fast, hits) = run(cfg.clone(), true, seed);
            let text_ack = FAST_TEXT_ACK_HITS.with(|h| h.get());
            assert_eq!(none, 0, "{what}: the fast path ran while off");
            assert!(
                text_ack > 100,
                "{what}: text with a new ACK predicted only {text_ack} times"
            );
            assert!(hits > 500, "{what}: the fast path ran only {hits} times");
            assert_eq!(slow.len(), fast.len(), "{what}: seed {seed}");
            for (i, (a, b)) in slow.iter().zip(&fast).enumerate() {
                assert_eq!(a, b, "{what}: seed {seed}, line {i} differs");
            }
        }
    }

    /// Every segment and every TCP_INFO field is the same with and without header
    /// prediction, with all options (Linux flavor), without SACK and timestamps, with BBR
    /// (whose rate sampler sees every ACK) and under the FreeBSD flavor.
    #[test]
    fn header_prediction_changes_no_segment_and_no_info_field() {
        let linux = Config {
            send_buffer: 64 << 10,
            recv_buffer: 32 << 10,
            ..Config::default()
        };
        compare(linux.clone(), "linux");
        compare(
            Config {
                sack: false,
                timestamps: false,
                ..linux.clone()
            },
            "no options",
        );
        compare(
            Config {
                congestion_control: "bbr",
                ..linux.clone()
            },
            "bbr",
        );
        compare(
            Config {
                option_layout: OptionLayout::Bsd,
                flavor: Some(Flavor::FreeBsd),
                ..linux
            },
            "freebsd",
        );
    }
}
