//! The event loop: virtual time, ordering, the run methods, host polling, capture output.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::{A, B, numbered};
use synack_sim::toy::Toy;
use synack_sim::{
    ChannelConfig, Direction, Duration, End, FnSink, Host, HostId, IfaceId, Instant, LinkConfig,
    PacketPoint, PcapSink, Sim, Tap, TsPrecision,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn simulated_minutes_take_few_events() {
    let mut sim: Sim<Toy> = Sim::new(1);
    let a = sim.add_host(
        "a",
        Toy::pinger(IfaceId(0), Duration::from_secs(1), A, B, None),
    );
    let b = sim.add_host("b", Toy::echo());
    sim.add_link(a, b, LinkConfig::with_delay(ms(50)));
    sim.run_for(Duration::from_secs(600));
    assert_eq!(sim.now(), Instant::from_secs(600));
    // 600 pings (0..599 s) and their echoes; the loop only visits events.
    assert_eq!(sim.host(a).received.len(), 600);
    assert_eq!(
        sim.host(a).received[599].time,
        Instant::from_millis(599_100)
    );
    // Ping 0 leaves at the first poll; then per second a timer (1..=600 s, sending pings
    // 1..=600), and per ping 0..599 a delivery to b and one back.
    assert_eq!(sim.sim_stats().events, 600 + 600 + 600);
}

#[test]
fn step_jumps_to_each_event_in_order() {
    let mut sim: Sim<Toy> = Sim::new(1);
    let a = sim.add_host("a", Toy::pinger(IfaceId(0), ms(10), A, B, Some(2)));
    let b = sim.add_host("b", Toy::echo());
    sim.add_link(a, b, LinkConfig::with_delay(ms(3)));
    let mut times = Vec::new();
    while let Some(t) = sim.step() {
        times.push(t.as_millis());
    }
    // 0: ping 0 sent by the first poll; 3: arrives at b; 6: echo at a; 10: timer, ping 1; ...
    assert_eq!(times, [3, 6, 10, 13, 16]);
    assert!(sim.is_idle());
    assert_eq!(sim.step(), None);
    assert_eq!(sim.now(), Instant::from_millis(16));
}

#[test]
fn run_until_pred_stops_at_the_event_or_the_limit() {
    let mut sim: Sim<Toy> = Sim::new(1);
    let a = sim.add_host("a", Toy::pinger(IfaceId(0), ms(10), A, B, None));
    let b = sim.add_host("b", Toy::echo());
    sim.add_link(a, b, LinkConfig::with_delay(ms(3)));
    let done = sim.run_until_pred(Instant::from_secs(1), |s| s.host(a).received.len() == 3);
    assert!(done);
    assert_eq!(sim.now(), Instant::from_millis(26));
    let done = sim.run_until_pred(Instant::from_millis(100), |s| {
        s.host(a).received.len() == 1000
    });
    assert!(!done);
    assert_eq!(sim.now(), Instant::from_millis(100));
    // Already true: no time passes.
    assert!(sim.run_until_pred(Instant::from_secs(5), |_| true));
    assert_eq!(sim.now(), Instant::from_millis(100));
}

#[test]
fn run_until_idle_and_run_until() {
    let mut sim: Sim<Toy> = Sim::new(1);
    let a = sim.add_host("a", Toy::pinger(IfaceId(0), ms(10), A, B, Some(5)));
    let b = sim.add_host("b", Toy::echo());
    sim.add_link(a, b, LinkConfig::with_delay(ms(1)));
    sim.run_until(Instant::from_millis(25));
    assert_eq!(sim.now(), Instant::from_millis(25));
    assert_eq!(sim.host(a).received.len(), 3);
    assert!(sim.run_until_idle(Instant::from_secs(10)));
    assert_eq!(sim.now(), Instant::from_millis(42));
    assert_eq!(sim.host(a).received.len(), 5);
    // The clock never goes back.
    sim.run_until(Instant::from_millis(1));
    assert_eq!(sim.now(), Instant::from_millis(42));
}

#[test]
fn host_mut_and_schedule_send_at_the_right_time() {
    let mut sim: Sim<Toy> = Sim::new(1);
    let a = sim.add_host("a", Toy::new());
    let b = sim.add_host("b", Toy::new());
    sim.add_link(a, b, LinkConfig::with_delay(ms(5)));
    sim.run_until(Instant::from_millis(7));
    sim.host_mut(a).send(IfaceId(0), &numbered(1, 100, 0));
    sim.schedule(Instant::from_millis(20), move |s| {
        s.host_mut(a).send(IfaceId(0), &numbered(2, 100, 0))
    });
    // In the past: runs at once (at the current time).
    sim.schedule(Instant::ZERO, move |s| {
        s.host_mut(a).send(IfaceId(0), &numbered(3, 100, 0))
    });
    sim.run_for(ms(100));
    let times: Vec<u64> = sim
        .host(b)
        .received
        .iter()
        .map(|r| r.time.as_millis())
        .collect();
    assert_eq!(sim.host(b).received_seqs(), [1, 3, 2]);
    assert_eq!(times, [12, 12, 25]);
}

#[test]
fn simultaneous_events_run_in_scheduling_order() {
    // Two senders 5 ms from one receiver send at the same instant; delivery follows the
    // order in which the packets were sent, every time.
    let mut sim: Sim<Toy> = Sim::new(1);
    let a = sim.add_host("a", Toy::new());
    let c = sim.add_host("c", Toy::new());
    let b = sim.add_host("b", Toy::new());
    sim.add_link(a, b, LinkConfig::with_delay(ms(5)));
    sim.add_link(c, b, LinkConfig::with_delay(ms(5)));
    sim.with_host(c, |h, _| h.send(IfaceId(0), &numbered(1, 100, 0)));
    sim.with_host(a, |h, _| h.send(IfaceId(0), &numbered(2, 100, 0)));
    sim.with_host(c, |h, _| h.send(IfaceId(0), &numbered(3, 100, 0)));
    sim.run_for(ms(10));
    assert_eq!(sim.host(b).received_seqs(), [1, 2, 3]);
    let ifaces: Vec<u16> = sim.host(b).received.iter().map(|r| r.iface.0).collect();
    assert_eq!(ifaces, [1, 0, 1]);
}

#[test]
fn packets_on_an_unattached_interface_are_counted() {
    let mut sim: Sim<Toy> = Sim::new(1);
    let a = sim.add_host("a", Toy::new());
    sim.with_host(a, |h, _| h.send(IfaceId(3), &numbered(1, 100, 0)));
    assert_eq!(sim.sim_stats().unroutable, 1);
}

/// A broken host that always wants to be woken at time zero.
struct Clingy;

impl Host for Clingy {
    fn receive(&mut self, _: Instant, _: IfaceId, _: &[u8]) {}
    fn poll_transmit(&mut self, _: Instant, _: &mut dyn FnMut(IfaceId, &[u8])) {}
    fn poll_timeout(&self) -> Option<Instant> {
        Some(Instant::ZERO)
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn restart(&mut self, _: Instant) {}
}

#[test]
#[should_panic(expected = "livelock")]
fn a_livelock_panics_instead_of_hanging() {
    let mut sim: Sim<Clingy> = Sim::new(1);
    sim.set_max_events_per_instant(1000);
    sim.add_host("clingy", Clingy);
    sim.run_for(ms(1));
}

#[test]
fn sinks_see_both_points_with_hosts_and_directions() {
    let mut sim: Sim<Toy> = Sim::new(1);
    let a = sim.add_host("a", Toy::new());
    let b = sim.add_host("b", Toy::echo());
    let l = sim.add_link(a, b, LinkConfig::with_delay(ms(2)));
    let log = Rc::new(RefCell::new(Vec::new()));
    let log2 = log.clone();
    sim.add_sink(FnSink(move |ev: &synack_sim::PacketEvent<'_>| {
        log2.borrow_mut().push((
            ev.time.as_millis(),
            ev.link,
            ev.dir,
            ev.point,
            ev.from,
            ev.to,
        ));
    }));
    sim.with_host(a, |h, _| h.send(IfaceId(0), &numbered(1, 100, 0)));
    sim.run_for(ms(10));
    use Direction::*;
    use PacketPoint::*;
    assert_eq!(
        *log.borrow(),
        [
            (0, l, AtoB, Sent, HostId(0), HostId(1)),
            (2, l, AtoB, Delivered, HostId(0), HostId(1)),
            (2, l, BtoA, Sent, HostId(1), HostId(0)),
            (4, l, BtoA, Delivered, HostId(1), HostId(0)),
        ]
    );
}

#[test]
fn pcap_file_layout() {
    let mut sim: Sim<Toy> = Sim::new(1);
    let a = sim.add_host("a", Toy::new());
    let b = sim.add_host("b", Toy::echo());
    let l = sim.add_link(
        a,
        b,
        LinkConfig::with_delay(Duration::from_micros(1_234_567)),
    );
    let us = Rc::new(RefCell::new(
        PcapSink::new(Vec::new(), Tap::LinkEnd(l, End::A)).unwrap(),
    ));
    let ns = Rc::new(RefCell::new(
        PcapSink::with_options(Vec::new(), Tap::Host(b), TsPrecision::Nano, 40).unwrap(),
    ));
    sim.add_sink(us.clone());
    sim.add_sink(ns.clone());
    let pkt = numbered(5, 100, 0);
    sim.with_host(a, |h, _| h.send(IfaceId(0), &pkt));
    sim.run_for(Duration::from_secs(5));

    let f = us.borrow().get_ref().clone();
    assert_eq!(us.borrow().packets(), 2);
    // Global header: magic (µs), version 2.4, zone 0, sigfigs 0, snaplen 262144, LINKTYPE_RAW.
    assert_eq!(&f[..4], &0xa1b2c3d4u32.to_le_bytes());
    assert_eq!(&f[4..8], &[2, 0, 4, 0]);
    assert_eq!(&f[8..16], &[0; 8]);
    assert_eq!(&f[16..20], &262_144u32.to_le_bytes());
    assert_eq!(&f[20..24], &101u32.to_le_bytes());
    // First record: sent at 0; second: the echo back at 2.469134 s.
    let rec = |off: usize| {
        let w = |i: usize| u32::from_le_bytes(f[off + i..off + i + 4].try_into().unwrap());
        (w(0), w(4), w(8), w(12))
    };
    assert_eq!(rec(24), (0, 0, 100, 100));
    assert_eq!(&f[40..140], &pkt[..]);
    assert_eq!(rec(140), (2, 469_134, 100, 100));
    assert_eq!(f.len(), 24 + 2 * (16 + 100));

    // Nanosecond variant with a 40-byte snap length, seen from b: received at 1.234567 s,
    // echoed at the same instant.
    let g = ns.borrow().get_ref().clone();
    assert_eq!(&g[..4], &0xa1b23c4du32.to_le_bytes());
    assert_eq!(&g[16..20], &40u32.to_le_bytes());
    let w = |i: usize| u32::from_le_bytes(g[i..i + 4].try_into().unwrap());
    assert_eq!((w(24), w(28), w(32), w(36)), (1, 234_567_000, 40, 100));
    assert_eq!(g.len(), 24 + 2 * (16 + 40));
    drop(sim); // releases its handles on the sinks
    let done = Rc::try_unwrap(us)
        .ok()
        .unwrap()
        .into_inner()
        .finish()
        .unwrap();
    assert_eq!(done, f);
}

#[test]
fn channel_config_can_change_mid_run() {
    let (mut sim, l) = common::pair(1, LinkConfig::with_delay(ms(5)));
    common::send_all(&mut sim, l, &[numbered(0, 100, 0)]);
    sim.run_for(ms(10));
    *sim.channel_config_mut(l, Direction::AtoB) = ChannelConfig::with_delay(ms(50));
    common::send_all(&mut sim, l, &[numbered(1, 100, 0)]);
    sim.run_for(ms(100));
    let b = sim.link_end(l, End::B);
    let times: Vec<u64> = sim
        .host(b)
        .received
        .iter()
        .map(|r| r.time.as_millis())
        .collect();
    assert_eq!(times, [5, 60]);
    assert_eq!(sim.channel_config(l, Direction::AtoB).delay, ms(50));
}

#[test]
fn text_trace_formatters_and_time_format() {
    use synack_sim::TextTrace;
    use synack_sim::packet::tcp_flag;
    let mut sim: Sim<Toy> = Sim::new(1);
    let a = sim.add_host("a", Toy::new());
    let b = sim.add_host("b", Toy::echo());
    let l = sim.add_link(a, b, LinkConfig::with_delay(Duration::from_micros(1500)));
    let custom = Rc::new(RefCell::new(TextTrace::with_formatter(
        Tap::All,
        Box::new(|ev: &synack_sim::PacketEvent<'_>| {
            format!(
                "{:?} {:?} {}>{} {}",
                ev.point,
                ev.dir,
                ev.from,
                ev.to,
                ev.data.len()
            )
        }),
    )));
    custom.borrow_mut().time_format = |t| format!("{}ms", t.as_micros() as f64 / 1000.0);
    let tcpdump = Rc::new(RefCell::new(TextTrace::tcpdump(
        Tap::LinkEnd(l, End::A),
        synack_wire::tcpdump::Options::default(),
    )));
    sim.add_sink(custom.clone());
    sim.add_sink(tcpdump.clone());
    let syn = synack_sim::toy::ipv4_tcp(A, B, 40000, 80, tcp_flag::SYN, &[]);
    sim.with_host(a, |h, _| h.send(IfaceId(0), &syn));
    sim.run_for(ms(10));
    assert_eq!(
        custom.borrow().text(),
        "0ms Sent AtoB host0>host1 40\n\
         1.5ms Delivered AtoB host0>host1 40\n\
         1.5ms Sent BtoA host1>host0 40\n\
         3ms Delivered BtoA host1>host0 40\n"
    );
    assert_eq!(
        tcpdump.borrow().text(),
        "0.000000 IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 1000, win 65535, length 0\n\
         0.003000 IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [S], seq 1000, win 65535, length 0\n"
    );
}

/// A host of another kind, to mix with toys through `Box<dyn Host>`: counts what it gets.
struct Counter(Rc<RefCell<u32>>);

impl Host for Counter {
    fn receive(&mut self, _: Instant, _: IfaceId, _: &[u8]) {
        *self.0.borrow_mut() += 1;
    }
    fn poll_transmit(&mut self, _: Instant, _: &mut dyn FnMut(IfaceId, &[u8])) {}
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn restart(&mut self, _: Instant) {
        *self.0.borrow_mut() = 0;
    }
}

#[test]
fn different_host_kinds_mix_through_box_dyn_host() {
    let count = Rc::new(RefCell::new(0));
    let mut sim: Sim<Box<dyn Host>> = Sim::new(1);
    let a = sim.add_host(
        "pinger",
        Box::new(Toy::pinger(IfaceId(0), ms(10), A, B, Some(4))),
    );
    let b = sim.add_host("counter", Box::new(Counter(count.clone())));
    sim.add_link(a, b, LinkConfig::with_delay(ms(1)));
    sim.schedule_restart(Instant::from_millis(25), b);
    assert!(sim.run_until_idle(Instant::from_secs(1)));
    // Pings at 0, 10, 20 arrive, the count is reset at 25, ping 30 arrives.
    assert_eq!(*count.borrow(), 1);
}
