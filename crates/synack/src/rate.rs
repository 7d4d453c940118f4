//! Delivery rate estimation (draft-cheng-iccrg-delivery-rate-estimation-02) and the pacing
//! clock of a connection whose congestion control asks for them (BBR).
//!
//! Every transmission of data records, per segment, how much had been delivered when it
//! left (`delivered`), when the last of that was delivered (`delivered_time`), when the
//! flight it belongs to began (`first_sent_time`) and whether the sender was application
//! limited. When an ACK (cumulative or SACK) reports segments delivered, the most recently
//! sent of them gives a rate sample: the data delivered since it was sent, over the longer
//! of the send and the ACK intervals (§3.3).
//!
//! The state lives in one [`Rate`], allocated only for connections that use it, so other
//! connections pay nothing per segment.

use crate::sack::Scoreboard;
use crate::seq::Seq;
use crate::time::{Duration, Instant};
use std::collections::VecDeque;

/// Most segments remembered; past this the oldest record is dropped (its delivery then
/// yields no sample), so the log never grows after its one allocation.
const MAX_RECORDS: usize = 8192;

/// One rate sample (draft-cheng-iccrg-delivery-rate-estimation §3.3 `rs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateSample {
    /// Bytes delivered over `interval` (`rs.delivered`).
    pub delivered: u64,
    /// The sample's interval: the longer of the send and ACK intervals (`rs.interval`).
    pub interval: Duration,
    /// Delivery rate in bytes per second; 0 when the interval was too short to trust
    /// (shorter than the minimum RTT, §3.3).
    pub delivery_rate: u64,
    /// `C.delivered` when the sampled segment was sent (`rs.prior_delivered`), which also
    /// marks round trips: a round ends once a segment sent after it began is delivered.
    pub prior_delivered: u64,
    /// The sampled segment was sent while the application had nothing more to send
    /// (`rs.is_app_limited`): the rate may be below what the path can do.
    pub is_app_limited: bool,
    /// RTT of the sampled segment, when it was not retransmitted (Karn's rule).
    pub rtt: Option<Duration>,
    /// Bytes this ACK newly reported delivered, cumulatively or by SACK.
    pub newly_delivered: u32,
    /// Whether `interval` and `delivery_rate` are meaningful.
    pub valid: bool,
}

/// Per-segment transmission record (the draft's per-packet `P.*`).
#[derive(Clone, Copy, Debug)]
struct TxRecord {
    start: Seq,
    end: Seq,
    sent: Instant,
    delivered: u64,
    delivered_time: Instant,
    first_sent_time: Instant,
    app_limited: bool,
    retransmitted: bool,
    sacked: bool,
}

/// Delivery-rate sampling and pacing state of one connection.
#[derive(Clone, Debug)]
pub struct Rate {
    log: VecDeque<TxRecord>,
    /// The highest sequence number recorded (new data goes above it).
    high: Seq,
    /// `C.delivered`: bytes delivered so far (cumulatively acknowledged or SACKed).
    delivered: u64,
    /// Bytes retransmitted so far (the sender's view of what was lost).
    retransmitted: u64,
    /// `C.delivered_time`.
    delivered_time: Instant,
    /// `C.first_sent_time`.
    first_sent_time: Instant,
    /// `C.app_limited`: the `delivered` mark until which samples are app-limited (0: none).
    app_limited: u64,
    /// The latest sample that was not app-limited or beat the last one (TCP_INFO
    /// `tcpi_delivery_rate`, as Linux keeps it), bytes per second.
    last_rate: u64,
    /// The pacing rate in force, bytes per second (0: not paced).
    pub(crate) pacing_rate: u64,
    /// When the next data segment may leave (the pacing clock).
    pub(crate) next_send: Instant,
    /// A wake-up for data held back by pacing.
    pub(crate) pace_deadline: Option<Instant>,
}

impl Default for Rate {
    fn default() -> Rate {
        Rate::new()
    }
}

impl Rate {
    /// Empty state (nothing allocated until the first transmission).
    pub fn new() -> Rate {
        Rate {
            log: VecDeque::new(),
            high: Seq(0),
            delivered: 0,
            retransmitted: 0,
            delivered_time: Instant::ZERO,
            first_sent_time: Instant::ZERO,
            app_limited: 0,
            last_rate: 0,
            pacing_rate: 0,
            next_send: Instant::ZERO,
            pace_deadline: None,
        }
    }

    /// `C.delivered`, bytes.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Bytes retransmitted so far.
    pub fn retransmitted(&self) -> u64 {
        self.retransmitted
    }

    /// The delivery rate TCP_INFO reports, bytes per second.
    pub fn delivery_rate(&self) -> u64 {
        self.last_rate
    }

    /// Whether the sender is application limited now (`C.app_limited` set).
    pub fn is_app_limited(&self) -> bool {
        self.app_limited != 0
    }

    /// Draft §3.2 (`OnPacketSent`): data `[start, end)` leaves at `now`; `idle` when
    /// nothing was in flight before it (a new flight starts, so the send and ACK intervals
    /// are measured from now). A retransmission re-stamps the records it covers.
    pub fn on_transmit(&mut self, now: Instant, start: Seq, end: Seq, idle: bool) {
        if !start.lt(end) {
            return;
        }
        let new = self.log.is_empty() || end.gt(self.high);
        if idle && new {
            self.first_sent_time = now;
            self.delivered_time = now;
        }
        let rec = TxRecord {
            start,
            end,
            sent: now,
            delivered: self.delivered,
            delivered_time: self.delivered_time,
            first_sent_time: self.first_sent_time,
            app_limited: self.app_limited != 0,
            retransmitted: false,
            sacked: false,
        };
        if new {
            let start = if !self.log.is_empty() && start.lt(self.high) {
                self.high
            } else {
                start
            };
            if self.log.capacity() == 0 {
                // Allocated once; bounded whatever the window.
                self.log.reserve_exact(1024);
            }
            if self.log.len() >= MAX_RECORDS {
                self.log.pop_front();
            }
            self.log.push_back(TxRecord { start, ..rec });
            self.high = end;
            return;
        }
        // A retransmission: the segments it covers carry the new transmission's state.
        self.retransmitted += u64::from(end.since(start));
        for r in self.log.iter_mut() {
            if !r.end.gt(start) {
                continue;
            }
            if !r.start.lt(end) {
                break;
            }
            if !r.sacked {
                *r = TxRecord {
                    start: r.start,
                    end: r.end,
                    retransmitted: true,
                    ..rec
                };
            }
        }
    }

    /// Draft §3.4 (`CheckIfApplicationLimited`): nothing more to send (less than a segment
    /// unsent, nothing lost waiting) while the window had room; samples taken until the
    /// data now in flight (`inflight` bytes) is delivered are app-limited.
    pub fn on_app_limited(&mut self, inflight: u32) {
        self.app_limited = (self.delivered + u64::from(inflight)).max(1);
    }

    /// Draft §3.3 (`UpdateRateSample` / `GenerateRateSample`): an ACK moved SND.UNA to
    /// `una` and the scoreboard holds what is SACKed. Returns the sample, or `None` when
    /// the ACK delivered nothing recorded.
    pub fn on_ack(
        &mut self,
        now: Instant,
        una: Seq,
        sb: &Scoreboard,
        min_rtt: Option<Duration>,
    ) -> Option<RateSample> {
        let mut newly = 0u64;
        // The most recently sent of the segments this ACK delivered.
        let mut best: Option<TxRecord> = None;
        // A retransmission acknowledged sooner than the minimum RTT after it left was not
        // what arrived (the original was, and the retransmission was spurious): its
        // record describes the wrong transmission and gives no sample.
        let floor = min_rtt.unwrap_or(Duration::ZERO);
        let pick = |r: &TxRecord, best: &mut Option<TxRecord>| {
            let newer =
                best.is_none_or(|b| r.sent > b.sent || (r.sent == b.sent && r.end.gt(b.end)));
            let plausible = !r.retransmitted || now - r.sent >= floor;
            if newer && plausible {
                *best = Some(*r);
            }
        };
        while let Some(r) = self.log.front_mut() {
            if r.end.le(una) {
                if !r.sacked {
                    newly += u64::from(r.end.since(r.start));
                    let r = *r;
                    pick(&r, &mut best);
                }
                self.log.pop_front();
            } else {
                if r.start.lt(una) && !r.sacked {
                    // Partly acknowledged: the acknowledged part is delivered.
                    newly += u64::from(una.since(r.start));
                    r.start = una;
                    let r = *r;
                    pick(&r, &mut best);
                }
                break;
            }
        }
        if let Some(high) = sb.highest_sacked() {
            for r in self.log.iter_mut() {
                if !r.start.lt(high) {
                    break;
                }
                if r.sacked {
                    continue;
                }
                if sb.sacked_until(r.start).is_some_and(|e| e.ge(r.end)) {
                    r.sacked = true;
                    newly += u64::from(r.end.since(r.start));
                    let r = *r;
                    pick(&r, &mut best);
                }
            }
        }
        if newly == 0 {
            return None;
        }
        self.delivered += newly;
        self.delivered_time = now;
        if self.app_limited != 0 && self.delivered > self.app_limited {
            self.app_limited = 0;
        }
        let Some(p) = best else {
            // Delivered, but nothing to measure from (only implausible records).
            return Some(RateSample {
                newly_delivered: newly.min(u64::from(u32::MAX)) as u32,
                ..RateSample::default()
            });
        };
        // §3.3: the next sample's send interval starts where this one's ended.
        self.first_sent_time = p.sent;
        let send_elapsed = p.sent - p.first_sent_time;
        let ack_elapsed = now - p.delivered_time;
        let interval = send_elapsed.max(ack_elapsed);
        let delivered = self.delivered - p.delivered;
        let mut rs = RateSample {
            delivered,
            interval,
            delivery_rate: 0,
            prior_delivered: p.delivered,
            is_app_limited: p.app_limited,
            rtt: (!p.retransmitted).then(|| now - p.sent),
            newly_delivered: newly.min(u64::from(u32::MAX)) as u32,
            valid: false,
        };
        // §3.3: an interval shorter than the minimum RTT comes from ACK compression or
        // a stretched ACK and would overstate the rate.
        if !interval.is_zero() && interval >= floor {
            rs.valid = true;
            let ns = interval.as_nanos().min(u128::from(u64::MAX)) as u64;
            rs.delivery_rate =
                (u128::from(delivered) * 1_000_000_000 / u128::from(ns.max(1))) as u64;
            if !rs.is_app_limited || rs.delivery_rate >= self.last_rate {
                self.last_rate = rs.delivery_rate;
            }
        }
        Some(rs)
    }

    /// Pacing: whether data must wait at `now`; when it must, the wake-up is armed.
    pub fn hold(&mut self, now: Instant) -> bool {
        if self.pacing_rate == 0 || now >= self.next_send {
            return false;
        }
        self.pace_deadline = Some(self.next_send);
        true
    }

    /// Pacing: `len` bytes left at `now`; the next may leave `len / pacing_rate` later.
    pub fn paced(&mut self, now: Instant, len: u32) {
        if self.pacing_rate == 0 {
            return;
        }
        let ns = u64::from(len) * 1_000_000_000 / self.pacing_rate;
        let from = self.next_send.max(now);
        self.next_send = from + Duration::from_nanos(ns);
    }

    /// Forgets what is in flight (the connection left the established states).
    pub fn clear(&mut self) {
        self.log.clear();
        self.pace_deadline = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn steady_flow_samples_its_rate() {
        // A window of 10 segments of 1000 bytes, one every 1 ms, each acknowledged 100 ms
        // later; every ACK releases the next segment: 10 000 bytes per 100 ms RTT.
        let mut r = Rate::new();
        let sb = Scoreboard::new();
        let min_rtt = Some(Duration::from_millis(100));
        for i in 0..10u32 {
            r.on_transmit(ms(u64::from(i)), Seq(i * 1000), Seq((i + 1) * 1000), i == 0);
        }
        let mut first = None;
        for i in 0..10u32 {
            let t = ms(100 + u64::from(i));
            first = r.on_ack(t, Seq((i + 1) * 1000), &sb, min_rtt);
            let j = i + 10;
            r.on_transmit(t, Seq(j * 1000), Seq((j + 1) * 1000), false);
        }
        // Segment 9 left at 9 ms in the flight begun at 0: 10 000 bytes over
        // max(9 ms send, 109 ms ACK interval).
        let rs = first.unwrap();
        assert!(rs.valid);
        assert_eq!(rs.rtt, Some(Duration::from_millis(100)));
        assert_eq!(
            (rs.delivered, rs.interval),
            (10_000, Duration::from_millis(109))
        );
        let mut last = None;
        for i in 10..20u32 {
            last = r.on_ack(
                ms(200 + u64::from(i - 10)),
                Seq((i + 1) * 1000),
                &sb,
                min_rtt,
            );
        }
        // Segment 19 left at 109 ms with 10 000 delivered (at 109 ms) and the previous
        // sample's segment sent at 9 ms; delivered at 209 ms with 20 000: 10 000 bytes over
        // 100 ms, the flow's real rate.
        let rs = last.unwrap();
        assert!(rs.valid);
        assert_eq!(
            (rs.delivered, rs.interval),
            (10_000, Duration::from_millis(100))
        );
        assert_eq!(rs.delivery_rate, 100_000);
        assert_eq!(r.delivery_rate(), 100_000);
        assert_eq!(r.delivered(), 20_000);
    }

    #[test]
    fn sack_delivers_and_short_intervals_are_rejected() {
        let mut r = Rate::new();
        for i in 0..4u32 {
            r.on_transmit(ms(0), Seq(i * 1000), Seq((i + 1) * 1000), i == 0);
        }
        let mut sb = Scoreboard::new();
        sb.update(Seq(0), Seq(4000), &[(Seq(1000), Seq(3000))]);
        // Two segments SACKed at 50 ms; the interval (50 ms) is below min_rtt 60 ms.
        let rs = r
            .on_ack(ms(50), Seq(0), &sb, Some(Duration::from_millis(60)))
            .unwrap();
        assert_eq!(rs.newly_delivered, 2000);
        assert!(!rs.valid);
        assert_eq!(rs.delivery_rate, 0);
        // The cumulative ACK over them does not count them again.
        let rs = r
            .on_ack(ms(70), Seq(3000), &sb, Some(Duration::from_millis(60)))
            .unwrap();
        assert_eq!(rs.newly_delivered, 1000);
        assert_eq!(r.delivered(), 3000);
        assert!(rs.valid);
        // A retransmission gives no RTT sample (Karn).
        r.on_transmit(ms(80), Seq(3000), Seq(4000), false);
        let rs = r
            .on_ack(ms(150), Seq(4000), &sb, Some(Duration::from_millis(60)))
            .unwrap();
        assert_eq!(rs.rtt, None);
        // Nothing new delivered: no sample.
        assert!(r.on_ack(ms(160), Seq(4000), &sb, None).is_none());
    }

    #[test]
    fn app_limited_marks_samples_until_the_flight_is_delivered() {
        let mut r = Rate::new();
        let sb = Scoreboard::new();
        r.on_transmit(ms(0), Seq(0), Seq(1000), true);
        r.on_app_limited(1000);
        r.on_transmit(ms(1), Seq(1000), Seq(2000), false);
        let rs = r.on_ack(ms(100), Seq(1000), &sb, None).unwrap();
        assert!(!rs.is_app_limited);
        let rs = r.on_ack(ms(101), Seq(2000), &sb, None).unwrap();
        assert!(rs.is_app_limited);
        assert!(
            !r.is_app_limited(),
            "cleared once the marked data is delivered"
        );
    }

    #[test]
    fn pacing_clock_spaces_segments() {
        let mut r = Rate::new();
        r.pacing_rate = 1_000_000; // 1 MB/s: 1000 bytes per ms
        assert!(!r.hold(ms(0)));
        r.paced(ms(0), 1000);
        assert!(r.hold(ms(0)));
        assert_eq!(r.pace_deadline, Some(ms(1)));
        assert!(!r.hold(ms(1)));
        r.paced(ms(1), 500);
        assert_eq!(r.next_send, Instant::from_micros(1500));
        // After idle, the clock restarts from now (no burst credit).
        r.paced(ms(10), 1000);
        assert_eq!(r.next_send, ms(11));
    }
}
