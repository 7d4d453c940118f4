//! Scripted faults: packet filters (the notes' iptables SYN drop), link cuts, host crashes
//! and restarts.

mod common;

use common::{A, B, numbered, pair, send_all};
use synack_sim::packet::{self, tcp_flag};
use synack_sim::toy::{self, Toy};
use synack_sim::{
    ChannelConfig, Direction, DropReason, Duration, End, IfaceId, Instant, LinkConfig, Sim, Tap,
    TextTrace,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn syn_filter_drops_exactly_syns() {
    let (mut sim, l) = pair(1, LinkConfig::default());
    sim.add_filter(l, Direction::AtoB, |_, p| packet::is_tcp_syn(p));
    let v6a = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let v6b = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    let pkts = [
        toy::ipv4_tcp(A, B, 40000, 80, tcp_flag::SYN, &[]), // dropped
        toy::ipv4_tcp(A, B, 40000, 80, tcp_flag::SYN | tcp_flag::ACK, &[]),
        toy::ipv4_tcp(A, B, 40000, 80, tcp_flag::ACK, b"x"),
        toy::ipv4_tcp(A, B, 40000, 80, tcp_flag::RST, &[]),
        toy::ipv4_tcp(A, B, 40000, 80, tcp_flag::FIN | tcp_flag::ACK, &[]),
        toy::ipv6_tcp(
            v6a,
            v6b,
            40000,
            80,
            tcp_flag::SYN | tcp_flag::ECE | tcp_flag::CWR,
            &[],
        ), // dropped
        toy::ipv6_tcp(v6a, v6b, 40000, 80, tcp_flag::SYN | tcp_flag::ACK, &[]),
        numbered(7, 100, 0),
    ];
    send_all(&mut sim, l, &pkts);
    sim.run_for(ms(1));
    let b = sim.link_end(l, End::B);
    let got: Vec<&[u8]> = sim.host(b).received.iter().map(|r| &r.data[..]).collect();
    let want: Vec<&[u8]> = [1, 2, 3, 4, 6, 7].iter().map(|&i| &pkts[i][..]).collect();
    assert_eq!(got, want);
    let st = sim.stats(l, Direction::AtoB);
    assert_eq!(st.dropped.get(DropReason::Filtered), 2);
    assert_eq!(st.dropped.total(), 2);
    // The filter only applies in the direction it was added to.
    let a = sim.link_end(l, End::A);
    let (_, ib) = sim.link_ifaces(l);
    sim.with_host(b, |h, _| h.send(ib, &pkts[0]));
    sim.run_for(ms(1));
    assert_eq!(sim.host(a).received.len(), 1);
    // And filters can be removed.
    sim.clear_filters(l, Direction::AtoB);
    send_all(&mut sim, l, &pkts[..1]);
    sim.run_for(ms(1));
    assert_eq!(sim.host(b).received.len(), 7);
}

#[test]
fn a_filter_sees_virtual_time() {
    // Drop everything between 20 and 50 ms (a time-windowed firewall rule).
    let mut sim: Sim<Toy> = Sim::new(1);
    let a = sim.add_host("a", Toy::pinger(IfaceId(0), ms(10), A, B, Some(8)));
    let b = sim.add_host("b", Toy::new());
    let l = sim.add_link(a, b, LinkConfig::with_delay(ms(1)));
    sim.add_filter(l, Direction::AtoB, |now, _| {
        (Instant::from_millis(20)..Instant::from_millis(50)).contains(&now)
    });
    sim.run_for(ms(200));
    assert_eq!(sim.host(b).received_seqs(), [0, 1, 5, 6, 7]);
}

#[test]
fn link_down_loses_in_flight_and_new_packets_until_up() {
    let mut sim: Sim<Toy> = Sim::new(1);
    let a = sim.add_host("a", Toy::pinger(IfaceId(0), ms(10), A, B, Some(10)));
    let b = sim.add_host("b", Toy::new());
    let l = sim.add_link(a, b, LinkConfig::with_delay(ms(5)));
    // Pings at 0, 10, ..., 90 ms arrive 5 ms later. Cut at 33 ms: ping 3 (sent 30 ms) is in
    // flight and lost; 4..7 are sent into a dead link; restored at 75 ms: 8 and 9 arrive.
    sim.schedule_link_state(Instant::from_millis(33), l, false);
    sim.schedule_link_state(Instant::from_millis(75), l, true);
    sim.run_until(Instant::from_millis(50));
    assert!(!sim.link_is_up(l));
    sim.run_for(ms(200));
    assert!(sim.link_is_up(l));
    assert_eq!(sim.host(b).received_seqs(), [0, 1, 2, 8, 9]);
    let st = sim.stats(l, Direction::AtoB);
    assert_eq!(st.dropped.get(DropReason::LinkDown), 5);
    assert_eq!(st.sent, 10);
}

#[test]
fn cutting_a_link_empties_its_queue() {
    // 1 Mbit/s: a 1250-byte packet takes 10 ms. Five queued at t=0, cut at 25 ms (packets 0
    // and 1 are through the wire and in flight, 2 is being serialized): all lost except the
    // ones that already arrived (delay 1 ms: 0 at 11 ms, 1 at 21 ms).
    let (mut sim, l) = pair(
        1,
        LinkConfig::symmetric(ChannelConfig::bottleneck(ms(1), 1_000_000, 10)),
    );
    let pkts: Vec<_> = (0..5).map(|i| numbered(i, 1250, 0)).collect();
    send_all(&mut sim, l, &pkts);
    sim.schedule_link_state(Instant::from_millis(25), l, false);
    sim.schedule_link_state(Instant::from_millis(26), l, true);
    sim.run_until(Instant::from_millis(30));
    // After the cut the wire is free at once: a new packet goes out immediately.
    send_all(&mut sim, l, &[numbered(9, 1250, 0)]);
    sim.run_for(ms(100));
    let b = sim.link_end(l, End::B);
    let times: Vec<u64> = sim
        .host(b)
        .received
        .iter()
        .map(|r| r.time.as_millis())
        .collect();
    assert_eq!(sim.host(b).received_seqs(), [0, 1, 9]);
    assert_eq!(times, [11, 21, 41]);
    assert_eq!(
        sim.stats(l, Direction::AtoB)
            .dropped
            .get(DropReason::LinkDown),
        3
    );
}

#[test]
fn restart_loses_host_state() {
    let mut sim: Sim<Toy> = Sim::new(1);
    let a = sim.add_host("a", Toy::pinger(IfaceId(0), ms(10), A, B, None));
    let b = sim.add_host("b", Toy::echo());
    let _l = sim.add_link(a, b, LinkConfig::with_delay(ms(1)));
    sim.schedule_restart(Instant::from_millis(45), a);
    sim.run_until(Instant::from_millis(44));
    assert_eq!(sim.host(a).received_seqs(), [0, 1, 2, 3, 4]);
    sim.run_until(Instant::from_millis(80));
    // The pinger rebooted at 45 ms: its log is gone and it counts from 0 again.
    assert_eq!(sim.host(a).received_seqs(), [0, 1, 2, 3]);
    assert_eq!(sim.host(a).received[0].time, Instant::from_millis(47));
    assert_eq!(sim.host(b).received_seqs(), [0, 1, 2, 3, 4, 0, 1, 2, 3]);
}

#[test]
fn crashed_host_drops_packets_and_timers_until_restart() {
    let mut sim: Sim<Toy> = Sim::new(1);
    let a = sim.add_host("a", Toy::pinger(IfaceId(0), ms(10), A, B, None));
    let b = sim.add_host("b", Toy::echo());
    let l = sim.add_link(a, b, LinkConfig::with_delay(ms(1)));
    // b is down from 25 to 55 ms: pings 3, 4, 5 (sent 30..50 ms) reach a dead host.
    sim.schedule_crash(Instant::from_millis(25), b);
    sim.schedule_restart(Instant::from_millis(55), b);
    // a is down from 61 to 83 ms: its pinger stops and the echo of ping 6 (sent 60 ms,
    // echoed at 61 ms, back at 62 ms) is lost. After the restart it counts from 0 again (83,
    // 93 ms) and its log only holds the echoes since.
    sim.schedule_crash(Instant::from_millis(61), a);
    sim.schedule_restart(Instant::from_millis(83), a);
    sim.run_until(Instant::from_millis(100));
    assert_eq!(sim.host(b).received_seqs(), [6, 0, 1]);
    assert_eq!(sim.host(a).received_seqs(), [0, 1]);
    assert_eq!(sim.host(a).received[0].time, Instant::from_millis(85));
    assert_eq!(
        sim.stats(l, Direction::AtoB)
            .dropped
            .get(DropReason::HostDown),
        3
    );
    assert_eq!(
        sim.stats(l, Direction::BtoA)
            .dropped
            .get(DropReason::HostDown),
        1
    );
    assert!(sim.host_is_up(a) && sim.host_is_up(b));
}

#[test]
fn faults_are_annotated_in_the_trace() {
    let mut sim: Sim<Toy> = Sim::new(1);
    let a = sim.add_host("client", Toy::pinger(IfaceId(0), ms(10), A, B, Some(3)));
    let b = sim.add_host("server", Toy::new());
    let l = sim.add_link(a, b, LinkConfig::with_delay(ms(1)));
    let trace = std::rc::Rc::new(std::cell::RefCell::new(TextTrace::new(Tap::LinkEnd(
        l,
        End::A,
    ))));
    sim.add_sink(trace.clone());
    sim.add_filter(l, Direction::AtoB, |now, _| now == Instant::from_millis(10));
    sim.schedule_link_state(Instant::from_millis(15), l, false);
    sim.schedule_link_state(Instant::from_millis(16), l, true);
    sim.schedule_restart(Instant::from_millis(25), a);
    sim.schedule(Instant::from_millis(26), move |s| {
        s.annotate(Some(b), "hello from the script")
    });
    sim.run_for(ms(27));
    let text = trace.borrow().text();
    let expected = "\
0.000000 IP 10.0.0.1.7000 > 10.0.0.2.7: udp length 36
0.010000 IP 10.0.0.1.7000 > 10.0.0.2.7: udp length 36
0.010000 IP 10.0.0.1.7000 > 10.0.0.2.7: udp length 36 [dropped: filtered]
0.015000 sim: link0 down
0.016000 sim: link0 up
0.020000 IP 10.0.0.1.7000 > 10.0.0.2.7: udp length 36
0.025000 sim: host client restarted
0.025000 client: booted
0.025000 IP 10.0.0.1.7000 > 10.0.0.2.7: udp length 36
0.026000 server: hello from the script
";
    assert_eq!(text, expected);
}
