//! Transmit bursts (`Stack::poll_transmit_burst`): the same exchange through it and
//! through `Stack::poll_transmit` one datagram at a time gives the same datagrams, byte for
//! byte, and the same TCP_INFO and counters at both ends after every round, over a link
//! that drops, swaps and duplicates datagrams, with the reader sometimes stalling, under the
//! Linux and the FreeBSD profile.

mod stack_common;

use stack_common::*;
use synack::stack::{Family, SockOpt, SocketId, Stack, Sysctl};

/// Every datagram `src` has, through bursts of up to 8 or one at a time.
fn drain(src: &mut Stack, now: synack::Instant, burst: bool, bufs: &mut [Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if burst {
        let mut lens = [0usize; 8];
        loop {
            let k = src.poll_transmit_burst(now, bufs, &mut lens);
            for (b, &n) in bufs.iter().zip(&lens).take(k) {
                out.push(b[..n].to_vec());
            }
            if k < bufs.len() {
                break;
            }
        }
    } else {
        while let Some(n) = src.poll_transmit(now, &mut bufs[0]) {
            out.push(bufs[0][..n].to_vec());
        }
    }
    out
}

fn run(sysctl: Sysctl, burst: bool, seed: u64) -> Vec<String> {
    let mut net = Net::with(sysctl.clone(), sysctl);
    let l = listener(&mut net.b, B, 80, 16);
    let c = net.a.socket(Family::V4).unwrap();
    net.a.setsockopt(c, SockOpt::SndBuf(128 << 10)).unwrap();
    let _ = net.a.connect(net.now, c, addr(B, 80));
    net.pump();
    let (s, _): (SocketId, _) = net.b.accept(l).unwrap();
    let mut rng = Rng(seed);
    let mut bufs = vec![vec![0u8; 2048]; 8];
    let data: Vec<u8> = (0..40_000u32).map(|i| (i * 31 + i / 9) as u8).collect();
    let mut sink = vec![0u8; 64 << 10];
    let mut log = Vec::new();
    for round in 0..400u32 {
        let now = net.now;
        let _ = net.a.send(now, c, &data[..rng.below(40_000) as usize]);
        if rng.below(6) == 0 {
            let _ = net.b.send(now, s, &data[..rng.below(2000) as usize]);
        }
        for _ in 0..50 {
            let mut moved = false;
            for from_a in [true, false] {
                let (src, dst) = if from_a {
                    (&mut net.a, &mut net.b)
                } else {
                    (&mut net.b, &mut net.a)
                };
                let mut out = drain(src, now, burst, &mut bufs);
                for d in &out {
                    log.push(format!("{from_a} {d:?}"));
                }
                moved |= !out.is_empty();
                // The link: 2% lost, 3% swapped with the next, 1% duplicated.
                impair(&mut out, &mut rng);
                for d in &out {
                    dst.receive(now, d);
                }
            }
            if !moved {
                break;
            }
        }
        read_and_tick(&mut net, (c, s), round, &mut sink, &mut rng);
        log.push(format!(
            "{round} {:?} {:?} {:?} {:?}",
            net.a.tcp_info(c),
            net.b.tcp_info(s),
            net.a.counters(),
            net.b.counters()
        ));
    }
    log
}

fn compare(sysctl: Sysctl, what: &str) {
    for seed in [0x9e37_79b9_7f4a_7c15, 0x0123_4567_89ab_cdef, 77] {
        let one = run(sysctl.clone(), false, seed);
        let many = run(sysctl.clone(), true, seed);
        assert_eq!(one.len(), many.len(), "{what}: seed {seed}");
        for (i, (a, b)) in one.iter().zip(&many).enumerate() {
            assert_eq!(a, b, "{what}: seed {seed}, line {i} differs");
        }
    }
}

#[test]
fn bursts_give_the_same_datagrams_and_state_as_one_at_a_time() {
    compare(Sysctl::linux(), "linux");
    compare(Sysctl::freebsd(), "freebsd");
}
