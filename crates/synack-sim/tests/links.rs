//! Link behaviour: delay, bandwidth, queueing, loss, reordering, duplication, corruption,
//! MTU, ECN, with exact arithmetic where it is deterministic and statistical bounds (for a
//! fixed set of seeds, so the tests cannot flake) where it is random.

mod common;

use common::{numbered, pair, send_all};
use synack_sim::toy::{self, Toy};
use synack_sim::{
    ChannelConfig, Direction, DropReason, Duration, EcnMarking, GilbertElliott, Instant,
    LinkConfig, NotEctPolicy, Sim, packet,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn one_way(cfg: ChannelConfig) -> LinkConfig {
    LinkConfig {
        a_to_b: cfg,
        b_to_a: ChannelConfig::default(),
    }
}

fn arrival_times_us(sim: &Sim<Toy>) -> Vec<u64> {
    let b = sim.link_end(synack_sim::LinkId(0), synack_sim::End::B);
    sim.host(b)
        .received
        .iter()
        .map(|r| r.time.as_micros())
        .collect()
}

#[test]
fn serialization_and_propagation_are_exact() {
    // 1500-byte packets at 10 Mbit/s take 1.2 ms each; 10 ms propagation.
    let (mut sim, l) = pair(
        1,
        one_way(ChannelConfig::bottleneck(ms(10), 10_000_000, 100)),
    );
    let pkts: Vec<_> = (0..5).map(|i| numbered(i, 1500, 0)).collect();
    send_all(&mut sim, l, &pkts);
    sim.run_for(ms(100));
    assert_eq!(
        arrival_times_us(&sim),
        [11_200, 12_400, 13_600, 14_800, 16_000]
    );
    let b = sim.link_end(l, synack_sim::End::B);
    assert_eq!(sim.host(b).received_seqs(), [0, 1, 2, 3, 4]);
    let st = sim.stats(l, Direction::AtoB);
    assert_eq!((st.sent, st.delivered, st.dropped.total()), (5, 5, 0));
    // Packet 0 goes straight onto the wire; 1..4 wait.
    assert_eq!(st.queue_high_water, 4);
    assert_eq!(st.queue_high_water_bytes, 6000);
    assert_eq!(st.sent_bytes, 7500);
}

#[test]
fn queueing_delay_adds_up_for_later_arrivals() {
    let (mut sim, l) = pair(
        1,
        one_way(ChannelConfig::bottleneck(ms(10), 10_000_000, 100)),
    );
    send_all(&mut sim, l, &[numbered(0, 1500, 0), numbered(1, 1500, 0)]);
    // At 1.0 ms packet 0 is still on the wire (until 1.2) and packet 1 waits (until 2.4):
    // a third packet starts at 2.4 ms and arrives at 2.4 + 1.2 + 10 ms.
    sim.run_until(Instant::from_micros(1000));
    send_all(&mut sim, l, &[numbered(2, 1500, 0)]);
    // A packet sent once the wire is idle pays only its own serialization.
    sim.run_until(Instant::from_millis(50));
    send_all(&mut sim, l, &[numbered(3, 1500, 0)]);
    sim.run_for(ms(100));
    assert_eq!(arrival_times_us(&sim), [11_200, 12_400, 13_600, 61_200]);
}

#[test]
fn drop_tail_drops_exactly_the_overflowing_packets() {
    let (mut sim, l) = pair(1, one_way(ChannelConfig::bottleneck(ms(1), 10_000_000, 2)));
    let pkts: Vec<_> = (0..6).map(|i| numbered(i, 1500, 0)).collect();
    // 0 on the wire, 1 and 2 queued, 3, 4, 5 dropped.
    send_all(&mut sim, l, &pkts);
    // At 1.2 ms packet 1 starts serializing (leaving the queue), so one slot frees up.
    sim.run_until(Instant::from_micros(1200));
    send_all(&mut sim, l, &[numbered(6, 1500, 0), numbered(7, 1500, 0)]);
    sim.run_for(ms(100));
    let b = sim.link_end(l, synack_sim::End::B);
    assert_eq!(sim.host(b).received_seqs(), [0, 1, 2, 6]);
    let st = sim.stats(l, Direction::AtoB);
    assert_eq!(st.dropped.get(DropReason::QueueFull), 4);
    assert_eq!(st.queue_high_water, 2);
    assert_eq!(st.sent, st.delivered + st.dropped.total());
}

#[test]
fn byte_limited_queue() {
    let cfg = ChannelConfig {
        queue_bytes: Some(2500),
        ..ChannelConfig::bottleneck(ms(1), 1_000_000, 1000)
    };
    let (mut sim, l) = pair(1, one_way(cfg));
    // 1000 on the wire; then 1000 + 1000 fit (2000), the next 1000 would make 3000: dropped;
    // a 500-byte one still fits (2500).
    let pkts = [
        numbered(0, 1000, 0),
        numbered(1, 1000, 0),
        numbered(2, 1000, 0),
        numbered(3, 1000, 0),
        numbered(4, 500, 0),
    ];
    send_all(&mut sim, l, &pkts);
    sim.run_for(ms(100));
    let b = sim.link_end(l, synack_sim::End::B);
    assert_eq!(sim.host(b).received_seqs(), [0, 1, 2, 4]);
    assert_eq!(sim.stats(l, Direction::AtoB).queue_high_water_bytes, 2500);
}

/// Sends `n` numbered packets 1 ms apart and runs until all are settled.
fn stream(sim: &mut Sim<Toy>, n: u64, len: usize) {
    let l = synack_sim::LinkId(0);
    for i in 0..n {
        sim.run_until(Instant::from_millis(i));
        send_all(sim, l, &[numbered(i, len, 0)]);
    }
    sim.run_for(Duration::from_secs(10));
}

#[test]
fn random_loss_rate_is_within_binomial_bounds() {
    let mut total_lost = 0;
    for seed in 1..=20 {
        let cfg = ChannelConfig {
            loss: 0.1,
            ..ChannelConfig::with_delay(ms(5))
        };
        let (mut sim, l) = pair(seed, one_way(cfg));
        stream(&mut sim, 1000, 100);
        let st = *sim.stats(l, Direction::AtoB);
        let lost = st.dropped.get(DropReason::Loss);
        assert_eq!(st.delivered + lost, 1000);
        // Mean 100, sd 9.5: five standard deviations.
        assert!((52..=148).contains(&lost), "seed {seed}: lost {lost}");
        total_lost += lost;
    }
    // 20,000 packets: mean 2,000, sd 42.
    assert!((1790..=2210).contains(&total_lost), "total {total_lost}");
}

/// Lengths of the runs of consecutive losses among packets numbered 0..n.
fn loss_runs(received: &[u64], n: u64) -> Vec<u64> {
    let got: std::collections::HashSet<u64> = received.iter().copied().collect();
    let mut runs = Vec::new();
    let mut cur = 0;
    for i in 0..n {
        if got.contains(&i) {
            if cur > 0 {
                runs.push(cur);
            }
            cur = 0;
        } else {
            cur += 1;
        }
    }
    if cur > 0 {
        runs.push(cur);
    }
    runs
}

#[test]
fn gilbert_elliott_loss_comes_in_bursts() {
    // Mean loss p/(p+r) = 0.01/0.26 ≈ 3.8%; mean burst 1/r = 4 packets.
    let ge = GilbertElliott::gilbert(0.01, 0.25);
    let n = 20_000;
    let mut lost = 0;
    let mut runs = Vec::new();
    for seed in 1..=3 {
        let cfg = ChannelConfig {
            burst_loss: Some(ge),
            ..ChannelConfig::default()
        };
        let (mut sim, l) = pair(seed, one_way(cfg));
        stream(&mut sim, n, 40);
        let b = sim.link_end(l, synack_sim::End::B);
        lost += sim
            .stats(l, Direction::AtoB)
            .dropped
            .get(DropReason::BurstLoss);
        runs.extend(loss_runs(&sim.host(b).received_seqs(), n));
    }
    let rate = lost as f64 / (3 * n) as f64;
    assert!((0.030..0.047).contains(&rate), "loss rate {rate}");
    let mean_run = runs.iter().sum::<u64>() as f64 / runs.len() as f64;
    assert!((3.3..4.7).contains(&mean_run), "mean burst {mean_run}");

    // Independent loss at the same rate has bursts of about 1/(1 - 0.038) ≈ 1.04.
    let cfg = ChannelConfig {
        loss: ge.mean_loss(),
        ..ChannelConfig::default()
    };
    let (mut sim, l) = pair(1, one_way(cfg));
    stream(&mut sim, n, 40);
    let b = sim.link_end(l, synack_sim::End::B);
    let runs = loss_runs(&sim.host(b).received_seqs(), n);
    let mean_run = runs.iter().sum::<u64>() as f64 / runs.len() as f64;
    assert!(mean_run < 1.2, "independent loss mean run {mean_run}");
}

/// How many packets arrive after one numbered higher than them.
fn out_of_order(seqs: &[u64]) -> u64 {
    let mut max = None;
    let mut n = 0;
    for &s in seqs {
        match max {
            Some(m) if s < m => n += 1,
            _ => max = Some(s),
        }
    }
    n
}

#[test]
fn reordering_holds_packets_back_and_is_counted() {
    let cfg = ChannelConfig {
        reorder: 0.1,
        reorder_delay: ms(5),
        ..ChannelConfig::with_delay(ms(10))
    };
    let (mut sim, l) = pair(7, one_way(cfg));
    stream(&mut sim, 2000, 100);
    let b = sim.link_end(l, synack_sim::End::B);
    let mut seqs = sim.host(b).received_seqs();
    let st = *sim.stats(l, Direction::AtoB);
    assert!(
        (140..=260).contains(&st.held_back),
        "held back {}",
        st.held_back
    );
    assert_eq!(st.reordered, out_of_order(&seqs));
    assert!(st.reordered >= st.held_back * 9 / 10);
    // Nothing lost or duplicated: a permutation of everything sent.
    seqs.sort_unstable();
    assert_eq!(seqs, (0..2000).collect::<Vec<_>>());
    // A held-back packet arrives exactly 5 ms late, the others on time.
    for r in &sim.host(b).received {
        let seq = u64::from_be_bytes(toy::udp_payload(&r.data).unwrap()[..8].try_into().unwrap());
        let late = r.time.as_micros() - seq * 1000 - 10_000;
        assert!(late == 0 || late == 5000, "seq {seq} late {late} µs");
    }
}

#[test]
fn jitter_keeps_order_unless_allowed_to_reorder() {
    for reorders in [false, true] {
        let cfg = ChannelConfig {
            jitter: ms(3),
            jitter_reorders: reorders,
            ..ChannelConfig::with_delay(ms(10))
        };
        let (mut sim, l) = pair(3, one_way(cfg));
        stream(&mut sim, 1000, 100);
        let b = sim.link_end(l, synack_sim::End::B);
        let seqs = sim.host(b).received_seqs();
        assert_eq!(seqs.len(), 1000);
        let st = sim.stats(l, Direction::AtoB);
        assert_eq!(st.reordered, out_of_order(&seqs));
        if reorders {
            assert!(st.reordered > 50, "only {} reordered", st.reordered);
        } else {
            assert_eq!(st.reordered, 0);
        }
        for (r, &seq) in sim.host(b).received.iter().zip(&seqs) {
            let d = r.time.as_micros() - seq * 1000;
            assert!((10_000..=13_000).contains(&d), "delay {d}");
        }
    }
}

#[test]
fn duplication_delivers_extra_copies() {
    let cfg = ChannelConfig {
        duplicate: 0.2,
        ..ChannelConfig::with_delay(ms(1))
    };
    let (mut sim, l) = pair(11, one_way(cfg));
    stream(&mut sim, 1000, 100);
    let b = sim.link_end(l, synack_sim::End::B);
    let seqs = sim.host(b).received_seqs();
    let st = *sim.stats(l, Direction::AtoB);
    assert!(
        (140..=260).contains(&st.duplicated),
        "dup {}",
        st.duplicated
    );
    assert_eq!(seqs.len() as u64, 1000 + st.duplicated);
    assert_eq!(st.delivered, 1000 + st.duplicated);
    let dups = seqs.windows(2).filter(|w| w[0] == w[1]).count() as u64;
    assert_eq!(dups, st.duplicated);
}

#[test]
fn corruption_flips_bits_that_checksums_catch() {
    let cfg = ChannelConfig {
        corrupt: 0.25,
        ..ChannelConfig::with_delay(ms(1))
    };
    let (mut sim, l) = pair(5, one_way(cfg));
    let mut sent = Vec::new();
    for i in 0..1000 {
        sim.run_until(Instant::from_millis(i));
        let p = numbered(i, 200, 0);
        send_all(&mut sim, l, std::slice::from_ref(&p));
        sent.push(p);
    }
    sim.run_for(ms(100));
    let b = sim.link_end(l, synack_sim::End::B);
    let st = *sim.stats(l, Direction::AtoB);
    assert!(
        (190..=310).contains(&st.corrupted),
        "corrupted {}",
        st.corrupted
    );
    let mut bad = 0;
    for (r, orig) in sim.host(b).received.iter().zip(&sent) {
        let flipped: u32 = r
            .data
            .iter()
            .zip(orig)
            .map(|(x, y)| (x ^ y).count_ones())
            .sum();
        if toy::ipv4_udp_valid(&r.data) {
            assert_eq!(flipped, 0);
        } else {
            assert_eq!(flipped, 1, "one bit per corruption");
            bad += 1;
        }
    }
    assert_eq!(bad, st.corrupted);
}

#[test]
fn mtu_drops_larger_packets() {
    let cfg = ChannelConfig {
        mtu: Some(1280),
        ..ChannelConfig::default()
    };
    let (mut sim, l) = pair(1, one_way(cfg));
    let pkts = [
        numbered(0, 1280, 0),
        numbered(1, 1281, 0),
        numbered(2, 576, 0),
    ];
    send_all(&mut sim, l, &pkts);
    sim.run_for(ms(1));
    let b = sim.link_end(l, synack_sim::End::B);
    assert_eq!(sim.host(b).received_seqs(), [0, 2]);
    assert_eq!(
        sim.stats(l, Direction::AtoB).dropped.get(DropReason::Mtu),
        1
    );
}

#[test]
fn ecn_marks_ect_packets_above_threshold_with_valid_checksum() {
    let ecn_cfg = |not_ect| ChannelConfig {
        ecn: Some(EcnMarking {
            threshold_packets: 2,
            not_ect,
        }),
        ..ChannelConfig::bottleneck(ms(1), 10_000_000, 100)
    };
    // ECT(0) and ECT(1): packets 3, 4, 5 arrive to find 2, 3, 4 waiting.
    for ecn_bits in [0b10u8, 0b01] {
        let (mut sim, l) = pair(1, one_way(ecn_cfg(NotEctPolicy::Drop)));
        let pkts: Vec<_> = (0..6).map(|i| numbered(i, 1500, 0xb8 | ecn_bits)).collect();
        send_all(&mut sim, l, &pkts);
        sim.run_for(ms(100));
        let b = sim.link_end(l, synack_sim::End::B);
        let got = &sim.host(b).received;
        assert_eq!(got.len(), 6);
        for (i, r) in got.iter().enumerate() {
            assert!(packet::ipv4_header_checksum_ok(&r.data), "packet {i}");
            assert!(toy::ipv4_udp_valid(&r.data));
            let want = if i >= 3 {
                packet::Ecn::Ce
            } else {
                packet::ecn(&pkts[i]).unwrap()
            };
            assert_eq!(packet::ecn(&r.data), Some(want), "packet {i}");
            // The DSCP bits are untouched.
            assert_eq!(r.data[1] & 0xfc, 0xb8);
        }
        assert_eq!(sim.stats(l, Direction::AtoB).ecn_marked, 3);
    }
    // Not-ECT above the threshold: dropped (RFC 3168 §5) or queued, by policy; never marked.
    for (policy, want) in [
        (NotEctPolicy::Drop, vec![0, 1, 2]),
        (NotEctPolicy::Enqueue, vec![0, 1, 2, 3, 4, 5]),
    ] {
        let (mut sim, l) = pair(1, one_way(ecn_cfg(policy)));
        let pkts: Vec<_> = (0..6).map(|i| numbered(i, 1500, 0)).collect();
        send_all(&mut sim, l, &pkts);
        sim.run_for(ms(100));
        let b = sim.link_end(l, synack_sim::End::B);
        assert_eq!(sim.host(b).received_seqs(), want);
        assert!(
            sim.host(b)
                .received
                .iter()
                .all(|r| packet::ecn(&r.data) == Some(packet::Ecn::NotEct))
        );
        let st = sim.stats(l, Direction::AtoB);
        assert_eq!(st.ecn_marked, 0);
        assert_eq!(st.dropped.get(DropReason::Aqm), 6 - want.len() as u64);
    }
}

#[test]
fn ecn_marks_ipv6_traffic_class() {
    let cfg = ChannelConfig {
        ecn: Some(EcnMarking {
            threshold_packets: 0,
            not_ect: NotEctPolicy::Drop,
        }),
        ..ChannelConfig::default()
    };
    let (mut sim, l) = pair(1, one_way(cfg));
    let mut p = toy::ipv6_tcp([1; 16], [2; 16], 1000, 80, packet::tcp_flag::ACK, b"data");
    p[1] |= 0x10; // ECT(1)
    send_all(&mut sim, l, &[p]);
    sim.run_for(ms(1));
    let b = sim.link_end(l, synack_sim::End::B);
    let got = &sim.host(b).received[0].data;
    assert_eq!(packet::ecn(got), Some(packet::Ecn::Ce));
    assert_eq!(sim.stats(l, Direction::AtoB).ecn_marked, 1);
}

#[test]
fn directions_are_independent() {
    let cfg = LinkConfig {
        a_to_b: ChannelConfig::with_delay(ms(10)),
        b_to_a: ChannelConfig::with_delay(ms(30)),
    };
    let mut sim: Sim<Toy> = Sim::new(1);
    let a = sim.add_host("a", Toy::new());
    let b = sim.add_host("b", Toy::echo());
    let l = sim.add_link(a, b, cfg);
    let (ia, _) = sim.link_ifaces(l);
    sim.with_host(a, |h, _| h.send(ia, &numbered(0, 100, 0)));
    sim.run_for(ms(100));
    assert_eq!(sim.host(b).received[0].time, Instant::from_millis(10));
    assert_eq!(sim.host(a).received[0].time, Instant::from_millis(40));
    assert_eq!(sim.stats(l, Direction::BtoA).delivered, 1);
}
