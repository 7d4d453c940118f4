//! Random link configurations and random (also malformed) packets over many seeds: the
//! simulator never panics, every packet is accounted for, and time never runs backwards.

mod common;

use synack_sim::rng::Rng;
use synack_sim::toy::Toy;
use synack_sim::{
    ChannelConfig, Direction, Duration, EcnMarking, GilbertElliott, Host, IfaceId, Instant,
    LinkConfig, NotEctPolicy, Sim,
};

fn random_channel(r: &mut Rng) -> ChannelConfig {
    let maybe = |r: &mut Rng, p: f64| r.chance(p);
    ChannelConfig {
        delay: Duration::from_micros(r.below(50_000)),
        jitter: Duration::from_micros(if maybe(r, 0.5) { r.below(20_000) } else { 0 }),
        jitter_reorders: maybe(r, 0.5),
        bandwidth_bps: maybe(r, 0.7).then(|| 10_000 + r.below(100_000_000)),
        queue_packets: maybe(r, 0.5).then(|| r.below(20) as usize),
        queue_bytes: maybe(r, 0.3).then(|| r.below(30_000) as usize),
        ecn: maybe(r, 0.3).then(|| EcnMarking {
            threshold_packets: r.below(10) as usize,
            not_ect: if maybe(r, 0.5) {
                NotEctPolicy::Drop
            } else {
                NotEctPolicy::Enqueue
            },
        }),
        mtu: maybe(r, 0.3).then(|| r.below(1600) as usize),
        loss: r.next_f64() * 0.3,
        burst_loss: maybe(r, 0.3).then(|| GilbertElliott {
            p: r.next_f64() * 0.1,
            r: r.next_f64(),
            loss_good: r.next_f64() * 0.05,
            loss_bad: r.next_f64(),
        }),
        reorder: r.next_f64() * 0.3,
        reorder_delay: Duration::from_micros(r.below(100_000)),
        duplicate: r.next_f64() * 0.2,
        corrupt: r.next_f64() * 0.2,
        corrupt_bits: r.below(5) as u32,
    }
}

fn random_packet(r: &mut Rng) -> Vec<u8> {
    let len = match r.below(4) {
        0 => r.below(4) as usize,
        1 => 20 + r.below(60) as usize,
        _ => r.below(1700) as usize,
    };
    let mut p: Vec<u8> = (0..len).map(|_| r.next_u64() as u8).collect();
    if let Some(b) = p.first_mut() {
        // Mostly IPv4/IPv6-looking, sometimes garbage.
        *b = match r.below(3) {
            0 => 0x45,
            1 => 0x60 | (*b & 0x0f),
            _ => *b,
        };
    }
    p
}

#[test]
fn random_networks_account_for_every_packet() {
    for seed in 0..120u64 {
        let mut r = Rng::new(seed ^ 0x5eed);
        let mut sim: Sim<Toy> = Sim::new(seed);
        let a = sim.add_host("a", Toy::echo());
        let b = sim.add_host("b", Toy::echo());
        let c = sim.add_host("c", Toy::new());
        let l0 = sim.add_link(
            a,
            b,
            LinkConfig {
                a_to_b: random_channel(&mut r),
                b_to_a: random_channel(&mut r),
            },
        );
        let l1 = sim.add_link(c, a, LinkConfig::symmetric(random_channel(&mut r)));
        if r.chance(0.3) {
            sim.schedule_link_state(Instant::from_millis(r.below(500)), l0, false);
            sim.schedule_link_state(Instant::from_millis(r.below(1000)), l0, true);
        }
        if r.chance(0.3) {
            sim.schedule_crash(Instant::from_millis(r.below(500)), b);
            sim.schedule_restart(Instant::from_millis(r.below(1000)), b);
        }
        // c sends random packets to a, which echoes them back; a also gets some injected
        // as if they came from b, so its echoes ping-pong with b over link 0 until lost (the
        // run is bounded).
        for _ in 0..40 {
            let at = Instant::from_micros(r.below(1_000_000));
            let p = random_packet(&mut r);
            if r.chance(0.5) {
                sim.schedule(at, move |s| s.host_mut(c).send(IfaceId(0), &p));
            } else {
                sim.schedule(at, move |s| {
                    s.with_host(a, |h, now| h.receive(now, IfaceId(0), &p));
                });
            }
        }
        let mut last = Instant::ZERO;
        for _ in 0..40 {
            let at = Instant::from_micros(r.below(1_000_000));
            let p = random_packet(&mut r);
            sim.schedule(at, move |s| {
                s.with_host(c, |h, _| {
                    // Box<dyn Host> has no `send`: deliver through the trait instead, as if
                    // the packet arrived on c's loopback; Toy echoes nothing without echo
                    // mode, so emulate: receive on a instead.
                    let _ = h;
                });
                s.with_host(a, |h, now| h.receive(now, IfaceId(0), &p));
            });
        }
        while let Some(t) = sim.step() {
            assert!(t >= last, "time went backwards");
            last = t;
            if t > Instant::from_secs(3) {
                break;
            }
        }
        sim.run_until(Instant::from_secs(3));
        // Stop the echo ping-pong and drain what is in flight.
        sim.set_link_up(l0, false);
        sim.set_link_up(l1, false);
        sim.run_until(Instant::from_secs(10));
        for l in [l0, l1] {
            for d in Direction::BOTH {
                let s = sim.stats(l, d);
                assert_eq!(
                    s.sent + s.duplicated,
                    s.delivered + s.dropped.total(),
                    "seed {seed} {l:?} {d:?}: {s}"
                );
            }
        }
    }
}
