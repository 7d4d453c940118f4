//! The event stream: state transitions and segments, each with its (virtual) time.
//!
//! Recording is off unless [`crate::Config::events`] is set; when off, nothing is stored
//! and the cost is one branch. The queue is bounded: the oldest events are dropped first.

use crate::error::Error;
use crate::segment::{SegmentIn, SegmentOut};
use crate::seq::Seq;
use crate::state::State;
use crate::time::Instant;
use std::collections::VecDeque;
use synack_wire::TcpFlags;

/// The header fields of a segment, enough to print a tcpdump-like line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegSummary {
    /// SEG.SEQ.
    pub seq: Seq,
    /// SEG.ACK.
    pub ack: Seq,
    /// Control flags.
    pub flags: TcpFlags,
    /// Raw window field.
    pub wnd: u16,
    /// Payload length.
    pub len: usize,
}

impl SegSummary {
    /// Summary of an arriving segment.
    pub fn of_in(seg: &SegmentIn<'_>) -> SegSummary {
        SegSummary {
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            wnd: seg.wnd,
            len: seg.payload.len(),
        }
    }
    /// Summary of an outgoing segment.
    pub fn of_out(seg: &SegmentOut) -> SegSummary {
        SegSummary {
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            wnd: seg.wnd,
            len: seg.payload_len,
        }
    }
}

impl core::fmt::Display for SegSummary {
    /// tcpdump's absolute-sequence (`-S`) style without options:
    /// `Flags [P.], seq 1:4, ack 1, win 229, length 3`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // tcpdump's flag order (F S R P . U E W).
        let letters = [
            (TcpFlags::FIN, 'F'),
            (TcpFlags::SYN, 'S'),
            (TcpFlags::RST, 'R'),
            (TcpFlags::PSH, 'P'),
            (TcpFlags::ACK, '.'),
            (TcpFlags::URG, 'U'),
            (TcpFlags::ECE, 'E'),
            (TcpFlags::CWR, 'W'),
        ];
        f.write_str("Flags [")?;
        for (flag, letter) in letters {
            if self.flags.contains(flag) {
                write!(f, "{letter}")?;
            }
        }
        f.write_str("]")?;
        let has_seq = self.len > 0
            || self
                .flags
                .intersects(TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST);
        if self.len > 0 {
            write!(f, ", seq {}:{}", self.seq, self.seq + self.len)?;
        } else if has_seq {
            write!(f, ", seq {}", self.seq)?;
        }
        if self.flags.ack() {
            write!(f, ", ack {}", self.ack)?;
        }
        write!(f, ", win {}, length {}", self.wnd, self.len)
    }
}

/// Why an arriving segment was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Failed the RFC 9293 §3.10.7.4 acceptability test.
    OutOfWindow,
    /// Failed PAWS (RFC 7323 §5).
    Paws,
    /// Timestamps negotiated but missing (RFC 7323 §3.2).
    MissingTimestamp,
    /// RST not matching (RFC 5961 §3 or RFC 9293 §3.10.7).
    BadRst,
    /// RST ignored in TIME_WAIT (RFC 1337).
    RstInTimeWait,
    /// ACK outside the acceptable range (RFC 9293 §3.10.7.4, RFC 5961 §5).
    BadAck,
    /// No ACK bit where one is required.
    NoAck,
    /// SYN in a synchronized state (RFC 5961 §4).
    UnexpectedSyn,
    /// Not meaningful in the current state.
    Ignored,
}

/// One entry of the event stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The connection moved from one state to another.
    StateChange {
        /// When.
        at: Instant,
        /// Previous state.
        from: State,
        /// New state.
        to: State,
    },
    /// A segment arrived (before processing).
    Received {
        /// When.
        at: Instant,
        /// The segment.
        seg: SegSummary,
    },
    /// A segment left.
    Sent {
        /// When.
        at: Instant,
        /// The segment.
        seg: SegSummary,
    },
    /// An arriving segment was dropped.
    Dropped {
        /// When.
        at: Instant,
        /// Why.
        reason: DropReason,
    },
    /// The peer signalled urgent data (RFC 9293 §3.8.5): the urgent byte is `seq`
    /// (SIGURG for the application).
    Urgent {
        /// When.
        at: Instant,
        /// Sequence number of the urgent byte (the byte before the urgent pointer).
        seq: Seq,
    },
    /// The connection failed with an error for the application.
    Failed {
        /// When.
        at: Instant,
        /// The error.
        error: Error,
    },
}

/// A bounded queue of [`Event`]s. Disabled (the default), it is one null pointer: a
/// connection that records nothing carries no queue.
#[derive(Debug, Default)]
pub struct EventQueue {
    inner: Option<Box<Recording>>,
}

/// The state of an enabled [`EventQueue`].
#[derive(Debug)]
struct Recording {
    capacity: usize,
    events: VecDeque<Event>,
    lost: u64,
}

impl EventQueue {
    /// A queue; `enabled = false` makes every push a no-op.
    pub fn new(enabled: bool, capacity: usize) -> EventQueue {
        EventQueue {
            inner: enabled.then(|| {
                Box::new(Recording {
                    capacity,
                    events: VecDeque::new(),
                    lost: 0,
                })
            }),
        }
    }

    /// Records an event (dropping the oldest beyond capacity).
    pub fn push(&mut self, ev: Event) {
        let Some(r) = self.inner.as_deref_mut() else {
            return;
        };
        if r.events.len() >= r.capacity {
            if r.events.pop_front().is_none() {
                r.lost += 1;
                return;
            }
            r.lost += 1;
        }
        r.events.push_back(ev);
    }

    /// Removes and returns the oldest event.
    pub fn pop(&mut self) -> Option<Event> {
        self.inner.as_deref_mut()?.events.pop_front()
    }

    /// Number of events dropped because the queue was full.
    pub fn lost(&self) -> u64 {
        self.inner.as_deref().map_or(0, |r| r.lost)
    }

    /// Whether recording is on.
    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(seq: u32, ack: u32, flags: TcpFlags, wnd: u16, len: usize) -> String {
        SegSummary {
            seq: Seq(seq),
            ack: Seq(ack),
            flags,
            wnd,
            len,
        }
        .to_string()
    }

    #[test]
    fn tcpdump_style_lines_of_the_seed_traces() {
        assert_eq!(
            summary(21621375, 0, TcpFlags::SYN, 14600, 0),
            "Flags [S], seq 21621375, win 14600, length 0"
        );
        assert_eq!(
            summary(0, 21621376, TcpFlags::RST | TcpFlags::ACK, 0, 0),
            "Flags [R.], seq 0, ack 21621376, win 0, length 0"
        );
        assert_eq!(
            summary(
                3093809366,
                1495337792,
                TcpFlags::PSH | TcpFlags::ACK,
                229,
                3
            ),
            "Flags [P.], seq 3093809366:3093809369, ack 1495337792, win 229, length 3"
        );
        assert_eq!(
            summary(7, 9, TcpFlags::ACK, 92, 0),
            "Flags [.], ack 9, win 92, length 0"
        );
    }

    #[test]
    fn disabled_queue_records_nothing_and_full_queue_drops_oldest() {
        let ev = |s| Event::Dropped {
            at: Instant::from_secs(s),
            reason: DropReason::Ignored,
        };
        let mut off = EventQueue::new(false, 10);
        off.push(ev(1));
        assert_eq!(off.pop(), None);
        let mut q = EventQueue::new(true, 2);
        q.push(ev(1));
        q.push(ev(2));
        q.push(ev(3));
        assert_eq!(
            (q.pop(), q.pop(), q.pop(), q.lost()),
            (Some(ev(2)), Some(ev(3)), None, 1)
        );
        assert_eq!(core::mem::size_of::<EventQueue>(), 8);
    }
}
