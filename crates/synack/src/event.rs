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
    /// The connection failed with an error for the application.
    Failed {
        /// When.
        at: Instant,
        /// The error.
        error: Error,
    },
}

/// A bounded queue of [`Event`]s.
#[derive(Debug, Default)]
pub struct EventQueue {
    enabled: bool,
    capacity: usize,
    events: VecDeque<Event>,
    lost: u64,
}

impl EventQueue {
    /// A queue; `enabled = false` makes every push a no-op.
    pub fn new(enabled: bool, capacity: usize) -> EventQueue {
        EventQueue {
            enabled,
            capacity,
            events: VecDeque::new(),
            lost: 0,
        }
    }

    /// Records an event (dropping the oldest beyond capacity).
    pub fn push(&mut self, ev: Event) {
        if !self.enabled {
            return;
        }
        if self.events.len() >= self.capacity {
            if self.events.pop_front().is_none() {
                self.lost += 1;
                return;
            }
            self.lost += 1;
        }
        self.events.push_back(ev);
    }

    /// Removes and returns the oldest event.
    pub fn pop(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Number of events dropped because the queue was full.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Whether recording is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }
}
