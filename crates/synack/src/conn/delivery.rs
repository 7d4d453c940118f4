//! The delivery rate of window-based congestion control (Reno, NewReno, CUBIC), for
//! TCP_INFO's `tcpi_delivery_rate`: bytes cumulatively acknowledged during one round trip,
//! divided by that round trip's length. Algorithms driven by rate samples (BBR) keep the
//! per-segment sampler of draft-cheng-iccrg-delivery-rate-estimation instead
//! ([`crate::rate`]); this coarser measure costs one comparison per ACK.

use crate::seq::Seq;
use crate::time::Instant;

/// One round trip being measured and the last completed measurement.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct DeliveryRound {
    /// The round ends when SND.UNA reaches this (SND.NXT when it began), with the
    /// acknowledged-byte count and the time at its start.
    open: Option<(Seq, u64, Instant)>,
    /// Bytes per second over the last completed round (0: none yet).
    last: u64,
    /// The largest flight an ACK found outstanding before it, in the open round and in
    /// the last completed one (Linux `max_packets_out`, for `tcp_is_cwnd_limited()`).
    flight_max: (u32, u32),
}

impl DeliveryRound {
    /// No round measured yet.
    pub(super) const IDLE: DeliveryRound = DeliveryRound {
        open: None,
        last: 0,
        flight_max: (0, 0),
    };

    /// The largest flight of the open and the last completed round.
    pub(super) fn max_flight(&self) -> u32 {
        self.flight_max.0.max(self.flight_max.1)
    }

    /// An ACK moved SND.UNA to `una`, with `bytes_acked` acknowledged in all so far,
    /// SND.NXT at `nxt` and `flight` bytes outstanding before it: close the round if `una`
    /// passed its end, then open the next.
    pub(super) fn on_ack(
        &mut self,
        now: Instant,
        una: Seq,
        nxt: Seq,
        bytes_acked: u64,
        flight: u32,
    ) {
        self.flight_max.0 = self.flight_max.0.max(flight);
        match self.open {
            Some((end, _, _)) if una.lt(end) => {}
            Some((_, start_bytes, start)) => {
                let nanos = (now - start).as_nanos();
                let bytes = u128::from(bytes_acked.saturating_sub(start_bytes));
                if let Some(rate) = (bytes * 1_000_000_000).checked_div(nanos) {
                    self.last = u64::try_from(rate).unwrap_or(u64::MAX);
                }
                self.open = (una != nxt).then_some((nxt, bytes_acked, now));
                self.flight_max = (0, self.flight_max.0);
            }
            None => self.open = (una != nxt).then_some((nxt, bytes_acked, now)),
        }
    }

    /// Bytes per second over the last completed round trip (0 before the first).
    pub(super) fn rate(&self) -> u64 {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    #[test]
    fn a_round_of_10_kb_in_10_ms_is_1_mb_per_second() {
        let t0 = Instant::ZERO + Duration::from_secs(1);
        let mut d = DeliveryRound::default();
        // The first ACK opens a round ending at SND.NXT = 10,000.
        d.on_ack(t0, Seq(0), Seq(10_000), 0, 0);
        assert_eq!(d.rate(), 0);
        // Part of the round: nothing measured yet.
        d.on_ack(
            t0 + Duration::from_millis(5),
            Seq(5_000),
            Seq(15_000),
            5_000,
            0,
        );
        assert_eq!(d.rate(), 0);
        // SND.UNA reaches the round's end 10 ms after it began.
        d.on_ack(
            t0 + Duration::from_millis(10),
            Seq(10_000),
            Seq(20_000),
            10_000,
            0,
        );
        assert_eq!(d.rate(), 1_000_000);
        // The next round (10,000..20,000) takes 20 ms.
        d.on_ack(
            t0 + Duration::from_millis(30),
            Seq(20_000),
            Seq(20_000),
            20_000,
            0,
        );
        assert_eq!(d.rate(), 500_000);
        // Everything acknowledged: no round is open until data is in flight again.
        d.on_ack(
            t0 + Duration::from_secs(5),
            Seq(20_000),
            Seq(30_000),
            20_000,
            0,
        );
        d.on_ack(
            t0 + Duration::from_millis(5_010),
            Seq(30_000),
            Seq(30_000),
            30_000,
            0,
        );
        assert_eq!(d.rate(), 1_000_000);
    }

    #[test]
    fn the_largest_flight_is_kept_for_a_round_after_its_own() {
        let t0 = Instant::ZERO;
        let mut d = DeliveryRound::default();
        d.on_ack(t0, Seq(0), Seq(10_000), 0, 10_000);
        d.on_ack(t0, Seq(6_000), Seq(10_000), 6_000, 4_000);
        assert_eq!(d.max_flight(), 10_000);
        // The round ends; its largest flight stays through the next round.
        d.on_ack(t0, Seq(10_000), Seq(12_000), 10_000, 2_000);
        assert_eq!(d.max_flight(), 10_000);
        d.on_ack(t0, Seq(12_000), Seq(13_000), 12_000, 2_000);
        assert_eq!(d.max_flight(), 2_000);
    }
}
