//! Shared helpers for the simulator's integration tests.
#![allow(dead_code)]

use synack_sim::toy::{self, Toy};
use synack_sim::{LinkConfig, LinkId, Sim};

pub const A: [u8; 4] = [10, 0, 0, 1];
pub const B: [u8; 4] = [10, 0, 0, 2];

/// A numbered IPv4/UDP datagram of exactly `len` bytes (at least 36) with ECN bits `ecn`.
pub fn numbered(seq: u64, len: usize, ecn: u8) -> Vec<u8> {
    assert!(len >= 36);
    let mut payload = vec![0u8; len - 28];
    payload[..8].copy_from_slice(&seq.to_be_bytes());
    toy::ipv4_udp(A, B, ecn, &payload)
}

/// Two toy hosts `a` (plain) and `b` (plain) joined by one link.
pub fn pair(seed: u64, cfg: LinkConfig) -> (Sim<Toy>, LinkId) {
    let mut sim = Sim::new(seed);
    let a = sim.add_host("a", Toy::new());
    let b = sim.add_host("b", Toy::new());
    let l = sim.add_link(a, b, cfg);
    (sim, l)
}

/// Sends `pkts` from host A of `link` at the current time.
pub fn send_all(sim: &mut Sim<Toy>, link: LinkId, pkts: &[Vec<u8>]) {
    let (a, _) = sim.link_hosts(link);
    let (iface, _) = sim.link_ifaces(link);
    sim.with_host(a, |h, _| {
        for p in pkts {
            h.send(iface, p);
        }
    });
}
