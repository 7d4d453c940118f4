//! A deterministic network simulator with virtual time for synack hosts.
//!
//! Any number of sans-IO hosts (anything implementing [`Host`]: the synack stack, or toys
//! for tests) run in one process, joined by point-to-point links that carry raw IP datagrams
//! under one virtual clock. The simulator is event-driven: it jumps from one event to the
//! next, so minutes of simulated time pass in milliseconds.
//!
//! Each direction of a link ([`ChannelConfig`]) can have propagation delay, jitter (with or
//! without reordering), a bandwidth (serialization delay, one packet on the wire at a time),
//! a bounded drop-tail queue with optional ECN marking, an MTU, random and bursty
//! (Gilbert–Elliott) loss, reordering, duplication and corruption; scripted faults add packet
//! filters, link cuts and host crashes/restarts at chosen times. Every random decision comes
//! from a seeded generator with one stream per link direction, so the same seed gives
//! byte-identical runs.
//!
//! Observers ([`CaptureSink`]) see every packet as it is put on and taken off a link, every
//! drop, and annotations (hosts' state transitions, scripted faults): [`PcapSink`] writes a
//! pcap file, [`TextTrace`] a time-stamped text trace.
//!
//! ```
//! use synack::{Duration, Instant};
//! use synack_sim::toy::{self, Toy};
//! use synack_sim::{ChannelConfig, Direction, LinkConfig, Sim};
//!
//! let mut sim: Sim<Toy> = Sim::new(1);
//! let a = sim.add_host("a", Toy::new());
//! let b = sim.add_host("b", Toy::echo());
//! // 10 ms each way, 10 Mbit/s.
//! let link = sim.add_link(a, b, LinkConfig::symmetric(ChannelConfig {
//!     bandwidth_bps: Some(10_000_000),
//!     ..ChannelConfig::with_delay(Duration::from_millis(10))
//! }));
//! let (iface, _) = sim.link_ifaces(link);
//! let pkt = toy::ipv4_udp([10, 0, 0, 1], [10, 0, 0, 2], 0, &[0; 1472]);
//! sim.with_host(a, |h, _| h.send(iface, &pkt));
//! sim.run_for(Duration::from_secs(1));
//! // Out: 1.2 ms on the wire + 10 ms; back: the same.
//! assert_eq!(sim.host(a).received[0].time, Instant::from_micros(22_400));
//! assert_eq!(sim.stats(link, Direction::AtoB).delivered, 1);
//! ```

mod capture;
mod config;
mod host;
pub mod lab;
pub mod packet;
mod pcap;
pub mod rng;
mod sim;
pub mod stack_host;
mod stats;
pub mod svg;
pub mod toy;

pub use capture::{
    AnnotationEvent, CaptureSink, Direction, DropEvent, End, FnSink, PacketEvent, PacketFormatter,
    PacketPoint, Tap, TextTrace, format_time,
};
pub use config::{ChannelConfig, EcnMarking, GilbertElliott, LinkConfig, NotEctPolicy};
pub use host::{Host, HostId, IfaceId, LinkId};
pub use pcap::PcapSink;
pub use sim::{Filter, MAX_EVENTS_PER_INSTANT, Sim, SimStats};
pub use stats::{ChannelStats, DropCounts, DropReason};
pub use synack::{Duration, Instant};
pub use synack_wire::pcap::TsPrecision;
