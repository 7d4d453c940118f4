//! The host's fused copy-and-checksum hooks: the payload of an in-order segment is copied
//! into the receive ring while its checksum is verified, and the payload of an outgoing
//! segment is summed while it is copied out of the send ring.

use super::Connection;
use crate::seq::Seq;
use crate::state::State;
use synack_wire::checksum::Checksum;

impl Connection {
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
