//! Per-direction link statistics.

use core::fmt;

/// Why a packet did not arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// The link was down when the packet was sent, or went down before it arrived.
    LinkDown,
    /// A scripted filter rejected it.
    Filtered,
    /// It was larger than the link MTU.
    Mtu,
    /// Random (independent) loss.
    Loss,
    /// Gilbert–Elliott bursty loss.
    BurstLoss,
    /// The drop-tail queue was full.
    QueueFull,
    /// A Not-ECT packet above the ECN marking threshold (RFC 3168 §5: drop instead of mark).
    Aqm,
    /// The receiving host was down (crashed and not yet restarted).
    HostDown,
}

impl DropReason {
    /// Every reason, in a fixed order.
    pub const ALL: [DropReason; 8] = [
        DropReason::LinkDown,
        DropReason::Filtered,
        DropReason::Mtu,
        DropReason::Loss,
        DropReason::BurstLoss,
        DropReason::QueueFull,
        DropReason::Aqm,
        DropReason::HostDown,
    ];

    /// A short lowercase name, for traces: `link-down`, `filtered`, `mtu`, ...
    pub fn name(self) -> &'static str {
        match self {
            DropReason::LinkDown => "link-down",
            DropReason::Filtered => "filtered",
            DropReason::Mtu => "mtu",
            DropReason::Loss => "loss",
            DropReason::BurstLoss => "burst-loss",
            DropReason::QueueFull => "queue-full",
            DropReason::Aqm => "aqm",
            DropReason::HostDown => "host-down",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Drop counters, one per [`DropReason`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DropCounts([u64; 8]);

impl DropCounts {
    /// Packets dropped for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason.index()]
    }

    /// Packets dropped for any reason.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    pub(crate) fn add(&mut self, reason: DropReason) {
        self.0[reason.index()] += 1;
    }
}

/// What happened to the packets sent in one direction of a link.
///
/// Once no packet is in flight, `sent + duplicated == delivered + dropped.total()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ChannelStats {
    /// Packets the sending host put on the link.
    pub sent: u64,
    /// Bytes the sending host put on the link.
    pub sent_bytes: u64,
    /// Packets handed to the receiving host (duplicates included).
    pub delivered: u64,
    /// Bytes handed to the receiving host.
    pub delivered_bytes: u64,
    /// Packets dropped, by reason.
    pub dropped: DropCounts,
    /// Extra copies made by duplication.
    pub duplicated: u64,
    /// Packets whose bits were flipped.
    pub corrupted: u64,
    /// Packets picked to be held back by the reordering delay.
    pub held_back: u64,
    /// Packets delivered after a packet that was sent later than them (from any cause:
    /// reordering delay or reordering jitter).
    pub reordered: u64,
    /// Packets changed from ECT to CE.
    pub ecn_marked: u64,
    /// The most packets ever waiting in the queue (behind the one being serialized).
    pub queue_high_water: usize,
    /// The most bytes ever waiting in the queue.
    pub queue_high_water_bytes: usize,
}

impl ChannelStats {
    /// Packets still on their way: sent (plus copies) and neither delivered nor dropped.
    pub fn in_flight(&self) -> u64 {
        (self.sent + self.duplicated).saturating_sub(self.delivered + self.dropped.total())
    }
}

impl fmt::Display for ChannelStats {
    /// One line: `sent 10 delivered 9 dropped 1 (loss 1) dup 0 corrupt 0 reordered 0 ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent {} delivered {} dropped {}",
            self.sent,
            self.delivered,
            self.dropped.total()
        )?;
        let mut first = true;
        for r in DropReason::ALL {
            let n = self.dropped.get(r);
            if n > 0 {
                f.write_str(if first { " (" } else { ", " })?;
                write!(f, "{r} {n}")?;
                first = false;
            }
        }
        if !first {
            f.write_str(")")?;
        }
        write!(
            f,
            " duplicated {} corrupted {} reordered {} ecn-marked {} queue-max {}",
            self.duplicated, self.corrupted, self.reordered, self.ecn_marked, self.queue_high_water
        )
    }
}
