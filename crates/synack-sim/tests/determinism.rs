//! Same seed, same bytes: two runs of an impaired network give identical captures, traces
//! and statistics; a different seed gives different ones; adding a link leaves the others'
//! randomness alone.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::{A, B};
use synack_sim::toy::Toy;
use synack_sim::{
    ChannelConfig, ChannelStats, Direction, Duration, End, GilbertElliott, IfaceId, LinkConfig,
    LinkId, PacketPoint, PcapSink, Sim, Tap, TextTrace,
};

/// Everything but the kitchen sink, in both directions.
fn nasty() -> ChannelConfig {
    ChannelConfig {
        delay: Duration::from_millis(20),
        jitter: Duration::from_millis(5),
        jitter_reorders: true,
        bandwidth_bps: Some(1_000_000),
        queue_packets: Some(8),
        loss: 0.05,
        burst_loss: Some(GilbertElliott::gilbert(0.02, 0.3)),
        reorder: 0.05,
        reorder_delay: Duration::from_millis(30),
        duplicate: 0.05,
        corrupt: 0.05,
        ..ChannelConfig::default()
    }
}

struct Run {
    pcap: Vec<u8>,
    trace: String,
    stats: Vec<ChannelStats>,
}

/// Pinger a and echo b over a nasty link; optionally a third host c pinging b over a second
/// link added afterwards. Captures link 0 at a's end.
fn run(seed: u64, extra_link: bool) -> Run {
    let mut sim: Sim<Toy> = Sim::new(seed);
    let a = sim.add_host(
        "a",
        Toy::pinger(IfaceId(0), Duration::from_millis(3), A, B, None),
    );
    let b = sim.add_host("b", Toy::echo());
    let l0 = sim.add_link(a, b, LinkConfig::symmetric(nasty()));
    let pcap = Rc::new(RefCell::new(
        PcapSink::new(Vec::new(), Tap::LinkEnd(l0, End::A)).unwrap(),
    ));
    let trace = Rc::new(RefCell::new(TextTrace::new(Tap::Channel(
        l0,
        Direction::BtoA,
        PacketPoint::Delivered,
    ))));
    sim.add_sink(pcap.clone());
    sim.add_sink(trace.clone());
    if extra_link {
        let c = sim.add_host(
            "c",
            Toy::pinger(IfaceId(0), Duration::from_millis(1), [10, 0, 1, 1], B, None),
        );
        sim.add_link(c, b, LinkConfig::symmetric(nasty()));
    }
    sim.schedule_link_state(synack_sim::Instant::from_secs(5), l0, false);
    sim.schedule_link_state(synack_sim::Instant::from_millis(5500), l0, true);
    sim.run_for(Duration::from_secs(10));
    let stats = (0..sim.link_count() as u32)
        .flat_map(|l| Direction::BOTH.map(|d| *sim.stats(LinkId(l), d)))
        .collect();
    let pcap = pcap.borrow().get_ref().clone();
    let trace = trace.borrow().text();
    Run { pcap, trace, stats }
}

#[test]
fn same_seed_gives_identical_bytes() {
    let r1 = run(42, false);
    let r2 = run(42, false);
    assert!(
        r1.pcap.len() > 100_000,
        "capture too small: {}",
        r1.pcap.len()
    );
    assert_eq!(r1.pcap, r2.pcap);
    assert_eq!(r1.trace, r2.trace);
    assert_eq!(r1.stats, r2.stats);
    // Every impairment actually fired, so the comparison covers them all.
    let s = r1.stats[0];
    assert!(s.dropped.total() > 0 && s.duplicated > 0 && s.corrupted > 0);
    assert!(s.reordered > 0 && s.held_back > 0 && s.queue_high_water > 0);
}

#[test]
fn different_seed_gives_different_bytes() {
    let r1 = run(42, false);
    let r3 = run(43, false);
    assert_ne!(r1.pcap, r3.pcap);
    assert_ne!(r1.stats, r3.stats);
}

#[test]
fn adding_a_link_does_not_change_another_links_randomness() {
    let alone = run(7, false);
    let crowded = run(7, true);
    assert_eq!(alone.pcap, crowded.pcap);
    assert_eq!(alone.stats[..2], crowded.stats[..2]);
    assert!(crowded.stats[2].sent > 0);
}

#[test]
fn counters_balance_once_idle() {
    let r = run(9, true);
    for s in &r.stats {
        // Everything sent (and every copy) was delivered or dropped, except what is still in
        // flight at the 10 s mark.
        assert_eq!(
            s.sent + s.duplicated,
            s.delivered + s.dropped.total() + s.in_flight()
        );
        assert!(s.in_flight() < 50);
    }
}
