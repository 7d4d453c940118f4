//! Whether a transmit poll can produce anything: the host queues a connection for output
//! only when it can, instead of polling every connection it touched until it answers
//! `None` (most touches, a pure ACK received say, leave nothing to send).

use super::{Connection, State};

impl Connection {
    /// Whether [`Connection::poll_transmit`] may return a segment now. `false` is exact:
    /// then `poll_transmit` returns `None` and changes nothing, so a host may skip the
    /// call. `true` may still be followed by `None` (Nagle, the windows, pacing, an
    /// expired cork decide at the poll).
    ///
    /// This mirrors the order of the checks in `next_segment` (conn/output.rs): each
    /// branch there that can produce a segment, or change state on the way to `None`, is
    /// reached only under one of the conditions below. Keep the two in step.
    pub fn wants_transmit(&self) -> bool {
        self.wants_transmit_inline()
    }

    /// [`Connection::wants_transmit`], inlined into the host's `touch` (which asks it
    /// after every call into a connection); elsewhere the call stays a call, so the
    /// streaming paths' code does not grow.
    #[inline(always)]
    pub(crate) fn wants_transmit_inline(&self) -> bool {
        // Any of these may produce a segment (checked first: the cheap loads; in CLOSED or
        // LISTEN, where only a RST goes, a stale flag merely costs an empty poll).
        if (self.ack_due && self.state != State::SynSent)
            || self.syn_due
            || self.rtx_due
            || self.fast_rtx_due
            || self.tlp_due
            || self.probe_due
            || self.ka_probe_due
            || self.rst_due.is_some()
            || self.rtx_nxt.is_some()
            || self.recover.is_some()
            || self.loss.frto_new > 0
        {
            return true;
        }
        // New data or a FIN: `new_data`'s own early exits, which also make the persist
        // check of an empty poll a no-op.
        if self.may_send_new_data() {
            let unsent = self
                .sndbuf
                .len()
                .saturating_sub(self.snd_nxt.since(self.snd_buf_seq) as usize);
            if unsent > 0 || self.fin_queued {
                return true;
            }
        }
        // An empty poll of a rate-sampled (BBR) connection runs the app-limited check
        // (draft-cheng-iccrg-delivery-rate-estimation §3.4): it must not be skipped.
        self.has_rate() && self.cc.rate().is_some_and(|r| r.pace_deadline.is_none())
    }
}
