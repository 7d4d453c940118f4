//! Link configuration: what each direction of a link does to the packets it carries.

use synack::Duration;

/// Bursty loss by the Gilbert–Elliott model: a two-state Markov chain, evaluated once per
/// packet, with a loss probability in each state.
///
/// Each packet is first lost or not according to the current state, then the chain moves:
/// from Good to Bad with probability `p`, from Bad to Good with probability `r`. The mean
/// burst (stay in Bad) lasts `1/r` packets, and the long-run share of packets that see the Bad
/// state is `p / (p + r)`. The simple Gilbert model is `loss_good = 0`, `loss_bad = 1`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GilbertElliott {
    /// Probability of moving from Good to Bad after a packet.
    pub p: f64,
    /// Probability of moving from Bad to Good after a packet.
    pub r: f64,
    /// Loss probability while Good (often 0).
    pub loss_good: f64,
    /// Loss probability while Bad (often 1).
    pub loss_bad: f64,
}

impl GilbertElliott {
    /// The simple Gilbert model: no loss while Good, every packet lost while Bad.
    pub fn gilbert(p: f64, r: f64) -> GilbertElliott {
        GilbertElliott {
            p,
            r,
            loss_good: 0.0,
            loss_bad: 1.0,
        }
    }

    /// The long-run loss rate this chain produces: `π_B · loss_bad + π_G · loss_good`, with
    /// `π_B = p / (p + r)`.
    pub fn mean_loss(&self) -> f64 {
        let total = self.p + self.r;
        if total <= 0.0 {
            return self.loss_good;
        }
        let bad = self.p / total;
        bad * self.loss_bad + (1.0 - bad) * self.loss_good
    }
}

/// What happens to a packet that is not ECN-capable when the queue is above the marking
/// threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NotEctPolicy {
    /// Drop it: RFC 3168 §5, where the queue would mark an ECN-capable packet it drops a
    /// Not-ECT one. This is the default.
    #[default]
    Drop,
    /// Queue it normally (only the drop-tail limit applies).
    Enqueue,
}

/// ECN marking at a queue-length threshold (a step-marking AQM, as DCTCP uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EcnMarking {
    /// A packet that arrives to find at least this many packets waiting is a congestion
    /// signal: ECT(0)/ECT(1) packets are marked CE (RFC 3168 §5).
    pub threshold_packets: usize,
    /// What to do with Not-ECT packets at or above the threshold.
    pub not_ect: NotEctPolicy,
}

/// One direction of a link: the impairments, in the order a packet meets them.
///
/// When a host puts a packet on the link, in order: the link must be up, then the scripted
/// filters, the MTU check, random loss, Gilbert–Elliott loss, corruption, duplication (the
/// copy continues through the queue after the original), the queue (drop-tail limit, ECN
/// marking), serialization at `bandwidth_bps`, then propagation: `delay`, plus a uniform
/// `jitter`, plus `reorder_delay` for the packets picked for reordering.
///
/// `ChannelConfig::default()` is an ideal wire: no delay, infinite bandwidth, no loss.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelConfig {
    /// One-way propagation delay.
    pub delay: Duration,
    /// Extra delay drawn uniformly from `[0, jitter]` for each packet.
    pub jitter: Duration,
    /// If false (the default), jitter never reorders packets: a packet is never delivered
    /// before one sent ahead of it (like a FIFO link with variable delay). If true, each
    /// packet's jitter is independent and packets may overtake each other.
    pub jitter_reorders: bool,
    /// Link rate in bits per second; `None` is infinitely fast (no serialization delay and no
    /// queue). A packet of `n` bytes occupies the wire for `ceil(8 n / rate)` seconds, and
    /// packets are serialized one at a time.
    pub bandwidth_bps: Option<u64>,
    /// Drop-tail limit on the number of packets waiting behind the one being serialized.
    /// `None` is unbounded. Only meaningful with a finite `bandwidth_bps`.
    pub queue_packets: Option<usize>,
    /// Drop-tail limit on the bytes waiting behind the one being serialized.
    pub queue_bytes: Option<usize>,
    /// ECN marking above a queue threshold.
    pub ecn: Option<EcnMarking>,
    /// Largest IP datagram the link carries; larger ones are dropped and counted.
    pub mtu: Option<usize>,
    /// Probability that a packet is lost (independently of every other packet).
    pub loss: f64,
    /// Bursty loss, in addition to `loss`. The chain moves on every packet that passes the
    /// filters and the MTU check, whether or not random loss took it; a packet lost both
    /// ways counts as [`crate::DropReason::Loss`].
    pub burst_loss: Option<GilbertElliott>,
    /// Probability that a packet is held back by `reorder_delay`, letting later packets
    /// overtake it.
    pub reorder: f64,
    /// The extra delay of a held-back packet.
    pub reorder_delay: Duration,
    /// Probability that a packet is duplicated (the copy follows it onto the queue).
    pub duplicate: f64,
    /// Probability that a packet is corrupted.
    pub corrupt: f64,
    /// How many bits a corruption flips, at independent random positions (default 1). The
    /// same position may be drawn twice, flipping a bit back.
    pub corrupt_bits: u32,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            jitter_reorders: false,
            bandwidth_bps: None,
            queue_packets: None,
            queue_bytes: None,
            ecn: None,
            mtu: None,
            loss: 0.0,
            burst_loss: None,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            duplicate: 0.0,
            corrupt: 0.0,
            corrupt_bits: 1,
        }
    }
}

impl ChannelConfig {
    /// An ideal wire with the given one-way propagation delay.
    pub fn with_delay(delay: Duration) -> ChannelConfig {
        ChannelConfig {
            delay,
            ..ChannelConfig::default()
        }
    }

    /// A bottleneck: propagation `delay`, rate `bandwidth_bps`, and a drop-tail queue of
    /// `queue_packets` packets.
    pub fn bottleneck(delay: Duration, bandwidth_bps: u64, queue_packets: usize) -> ChannelConfig {
        ChannelConfig {
            delay,
            bandwidth_bps: Some(bandwidth_bps),
            queue_packets: Some(queue_packets),
            ..ChannelConfig::default()
        }
    }

    /// The time a packet of `len` bytes occupies the wire: `ceil(8 · len / rate)` seconds,
    /// in nanoseconds; zero for an infinitely fast link.
    pub fn serialization_time(&self, len: usize) -> Duration {
        match self.bandwidth_bps {
            None => Duration::ZERO,
            // A zero rate would never finish; treat it as the slowest representable link.
            Some(0) => Duration::from_nanos(u64::MAX),
            Some(bps) => {
                let bits = (len as u128) * 8 * 1_000_000_000;
                let ns = bits.div_ceil(u128::from(bps));
                Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
            }
        }
    }
}

/// Both directions of a point-to-point link between host A and host B.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LinkConfig {
    /// What the link does to packets sent by A towards B.
    pub a_to_b: ChannelConfig,
    /// What the link does to packets sent by B towards A.
    pub b_to_a: ChannelConfig,
}

impl LinkConfig {
    /// The same configuration in both directions.
    pub fn symmetric(channel: ChannelConfig) -> LinkConfig {
        LinkConfig {
            a_to_b: channel.clone(),
            b_to_a: channel,
        }
    }

    /// An ideal link with the same one-way delay in both directions.
    pub fn with_delay(delay: Duration) -> LinkConfig {
        LinkConfig::symmetric(ChannelConfig::with_delay(delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialization_is_exact() {
        let c = ChannelConfig::bottleneck(Duration::ZERO, 10_000_000, 10);
        assert_eq!(c.serialization_time(1500), Duration::from_micros(1200));
        assert_eq!(c.serialization_time(0), Duration::ZERO);
        // 1 byte at 3 bit/s: 8/3 s, rounded up to the next nanosecond.
        let slow = ChannelConfig {
            bandwidth_bps: Some(3),
            ..ChannelConfig::default()
        };
        assert_eq!(
            slow.serialization_time(1),
            Duration::from_nanos(2_666_666_667)
        );
        assert_eq!(
            ChannelConfig::default().serialization_time(1500),
            Duration::ZERO
        );
    }

    #[test]
    fn gilbert_mean_loss() {
        let g = GilbertElliott::gilbert(0.01, 0.24);
        assert!((g.mean_loss() - 0.04).abs() < 1e-12);
    }
}
