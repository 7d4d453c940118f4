//! An impairment bridge: a [`PacketHandler`] wrapper that applies a link model (one-way
//! delay, random loss, reordering) to real packets between the device and the wrapped
//! handler, in both directions. The model follows the simulator's channel
//! (`synack_sim::ChannelConfig`: independent loss, a fraction of packets held back by an
//! extra delay so later ones overtake them); the random draws come from a seeded
//! generator, so a run's decisions depend only on the seed and the packet order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use synack::Instant;

use crate::driver::PacketHandler;

/// The link model, applied to each direction on its own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Impairment {
    /// One-way delay added to every packet.
    pub delay: Duration,
    /// Probability that a packet is lost.
    pub loss: f64,
    /// Probability that a packet is held back by `reorder_delay` (reordering).
    pub reorder: f64,
    /// The extra delay of a held-back packet.
    pub reorder_delay: Duration,
    /// Seed of the random draws.
    pub seed: u64,
}

impl Default for Impairment {
    /// No impairment at all.
    fn default() -> Impairment {
        Impairment {
            delay: Duration::ZERO,
            loss: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            seed: 1,
        }
    }
}

/// What the bridge did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImpairStats {
    /// Packets from the device handed on (after their delay).
    pub delivered_in: u64,
    /// Packets from the handler sent on (after their delay).
    pub delivered_out: u64,
    /// Packets lost on the way in.
    pub lost_in: u64,
    /// Packets lost on the way out.
    pub lost_out: u64,
    /// Packets held back for reordering (both directions).
    pub reordered: u64,
}

/// Packets in flight in one direction, ordered by due time, then by arrival.
#[derive(Debug, Default)]
struct Queue {
    heap: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>,
    seq: u64,
}

impl Queue {
    fn push(&mut self, due: Instant, pkt: Vec<u8>) {
        self.seq += 1;
        self.heap.push(Reverse((due, self.seq, pkt)));
    }

    fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _, _))| *t)
    }

    fn pop_due(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.next_due()? <= now {
            self.heap.pop().map(|Reverse((_, _, p))| p)
        } else {
            None
        }
    }
}

/// A handler seen through an impaired link.
#[derive(Debug)]
pub struct Impaired<H> {
    inner: H,
    cfg: Impairment,
    rng: u64,
    inbound: Queue,
    outbound: Queue,
    scratch: Vec<u8>,
    stats: ImpairStats,
}

impl<H> Impaired<H> {
    /// Wraps `inner` behind the link model `cfg`.
    pub fn new(inner: H, cfg: Impairment) -> Impaired<H> {
        Impaired {
            inner,
            cfg,
            // A zero state would stay zero; any seed maps to a non-zero one.
            rng: cfg.seed ^ 0x9e37_79b9_7f4a_7c15 | 1,
            inbound: Queue::default(),
            outbound: Queue::default(),
            scratch: Vec::new(),
            stats: ImpairStats::default(),
        }
    }

    /// The wrapped handler.
    pub fn inner(&self) -> &H {
        &self.inner
    }

    /// The wrapped handler, mutably (socket calls).
    pub fn inner_mut(&mut self) -> &mut H {
        &mut self.inner
    }

    /// The counters so far.
    pub fn stats(&self) -> &ImpairStats {
        &self.stats
    }

    /// A uniform draw in [0, 1) (xorshift64*).
    fn uniform(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The due time of a packet entering the link at `now`, or `None` if it is lost.
    fn admit(&mut self, now: Instant) -> Option<Instant> {
        if self.cfg.loss > 0.0 && self.uniform() < self.cfg.loss {
            return None;
        }
        let mut due = now + self.cfg.delay;
        if self.cfg.reorder > 0.0 && self.uniform() < self.cfg.reorder {
            due += self.cfg.reorder_delay;
            self.stats.reordered += 1;
        }
        Some(due)
    }
}

impl<H: PacketHandler> Impaired<H> {
    /// Moves everything the handler queued onto the outbound link.
    fn drain_inner(&mut self, now: Instant, mtu: usize) {
        if self.scratch.len() < mtu {
            self.scratch.resize(mtu, 0);
        }
        // Bounded: at most this many packets per call (the handler is asked again later).
        for _ in 0..4096 {
            let Some(n) = self.inner.poll_transmit(now, &mut self.scratch[..mtu]) else {
                return;
            };
            let Some(pkt) = self.scratch.get(..n) else {
                return;
            };
            let pkt = pkt.to_vec();
            match self.admit(now) {
                Some(due) => self.outbound.push(due, pkt),
                None => self.stats.lost_out += 1,
            }
        }
    }
}

impl<H: PacketHandler> PacketHandler for Impaired<H> {
    fn receive(&mut self, now: Instant, packet: &[u8]) {
        match self.admit(now) {
            Some(due) if due <= now => {
                self.stats.delivered_in += 1;
                self.inner.receive(now, packet);
            }
            Some(due) => self.inbound.push(due, packet.to_vec()),
            None => self.stats.lost_in += 1,
        }
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.drain_inner(now, buf.len());
        let pkt = self.outbound.pop_due(now)?;
        let n = pkt.len().min(buf.len());
        buf[..n].copy_from_slice(&pkt[..n]);
        self.stats.delivered_out += 1;
        Some(n)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        [
            self.inner.poll_timeout(),
            self.inbound.next_due(),
            self.outbound.next_due(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(pkt) = self.inbound.pop_due(now) {
            self.stats.delivered_in += 1;
            self.inner.receive(now, &pkt);
        }
        if self.inner.poll_timeout().is_some_and(|t| t <= now) {
            self.inner.handle_timeout(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends one numbered packet per call until `n`; records what it receives.
    struct Counter {
        next: u8,
        n: u8,
        got: Vec<u8>,
    }

    impl PacketHandler for Counter {
        fn receive(&mut self, _now: Instant, p: &[u8]) {
            self.got.extend_from_slice(p);
        }
        fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
            if self.next >= self.n {
                return None;
            }
            buf[0] = self.next;
            self.next += 1;
            Some(1)
        }
        fn poll_timeout(&mut self) -> Option<Instant> {
            None
        }
        fn handle_timeout(&mut self, _now: Instant) {}
    }

    #[test]
    fn delay_loss_and_reordering_are_applied_both_ways() {
        let cfg = Impairment {
            delay: Duration::from_millis(20),
            loss: 0.2,
            reorder: 0.2,
            reorder_delay: Duration::from_millis(5),
            seed: 42,
        };
        let mut h = Impaired::new(
            Counter {
                next: 0,
                n: 200,
                got: Vec::new(),
            },
            cfg,
        );
        let t0 = Instant::ZERO;
        let mut buf = [0u8; 64];
        // Nothing leaves before the delay.
        assert_eq!(h.poll_transmit(t0, &mut buf), None);
        assert_eq!(h.poll_timeout(), Some(t0 + Duration::from_millis(20)));
        let mut out = Vec::new();
        let t1 = t0 + Duration::from_millis(30);
        while let Some(n) = h.poll_transmit(t1, &mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
        let s = h.stats().clone();
        assert_eq!(out.len() as u64, s.delivered_out);
        assert_eq!(s.delivered_out + s.lost_out, 200);
        assert!((20..=60).contains(&s.lost_out), "{s:?}");
        assert!(s.reordered > 10, "{s:?}");
        assert!(
            out.windows(2).any(|w| w[0] > w[1]),
            "some packets overtaken"
        );

        // Inbound: held until due, then handed on.
        for i in 0..100u8 {
            h.receive(t1, &[i]);
        }
        assert!(h.inner().got.is_empty());
        h.handle_timeout(t1 + Duration::from_millis(30));
        let s = h.stats().clone();
        assert_eq!(h.inner().got.len() as u64, s.delivered_in);
        assert_eq!(s.delivered_in + s.lost_in, 100);
        assert!(s.lost_in > 5, "{s:?}");
    }
}
