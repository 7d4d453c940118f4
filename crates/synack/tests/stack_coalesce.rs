//! Receive coalescing (`Stack::receive_batch`): the same exchange with every transmit
//! burst handed over in one batch (coalescing on) and one datagram at a time through
//! `Stack::receive` gives the same datagrams, byte for byte, and the same TCP_INFO,
//! counters and engine events at both ends after every round, over a link that drops,
//! swaps, duplicates, corrupts, CE-marks and shrinks the window of datagrams, with the
//! reader sometimes stalling (so the window fills), urgent data now and then, under the
//! Linux and the FreeBSD profile, with and without timestamps and SACK, with ECN, and
//! with BBR.

mod stack_common;

use stack_common::*;
use synack::stack::{Family, SockOpt, SocketId, Stack, Sysctl};

/// Every datagram `src` has, in transmit bursts of up to 16.
fn drain(src: &mut Stack, now: synack::Instant, bufs: &mut [Vec<u8>]) -> Vec<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut lens = [0usize; 16];
    loop {
        let k = src.poll_transmit_burst(now, bufs, &mut lens);
        if k > 0 {
            out.push(
                bufs.iter()
                    .zip(&lens)
                    .take(k)
                    .map(|(b, &n)| b[..n].to_vec())
                    .collect(),
            );
        }
        if k < bufs.len() {
            break;
        }
    }
    out
}

/// The RFC 1071 sum of `b` (even length), folded and complemented.
fn ip_checksum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// The link: 2% lost, 3% swapped with the next, 1% duplicated; then 1% of the rest get a
/// payload byte flipped (the TCP checksum fails), 3% a CE mark (RFC 3168 §5, with the
/// IPv4 header checksum fixed) and 4% a window cut to a quarter or to zero (with the TCP
/// checksum fixed, RFC 1624), so that the window changes within a run and a sender's
/// wish to transmit comes and goes.
fn link(burst: &mut Vec<Vec<u8>>, rng: &mut Rng) {
    impair(burst, rng);
    for d in burst.iter_mut() {
        let r = rng.below(100);
        if r < 1 && d.len() > 60 {
            let last = d.len() - 1;
            d[last] ^= 0x5a;
        } else if r < 4 && d[0] >> 4 == 4 {
            d[1] |= 0b11;
            let ihl = usize::from(d[0] & 0x0f) * 4;
            d[10] = 0;
            d[11] = 0;
            let c = ip_checksum(&d[..ihl]);
            d[10..12].copy_from_slice(&c.to_be_bytes());
        } else if r < 8 && d[0] >> 4 == 4 && d.len() >= 40 {
            let t = usize::from(d[0] & 0x0f) * 4;
            let old = u16::from_be_bytes([d[t + 14], d[t + 15]]);
            let new = if r < 6 { old / 4 } else { 0 };
            d[t + 14..t + 16].copy_from_slice(&new.to_be_bytes());
            // RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
            let hc = u16::from_be_bytes([d[t + 16], d[t + 17]]);
            let mut sum = u32::from(!hc) + u32::from(!old) + u32::from(new);
            while sum > 0xffff {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            d[t + 16..t + 18].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        }
    }
}

fn run(sa: Sysctl, sb: Sysctl, coalesce: bool, seed: u64) -> (Vec<String>, u64) {
    let mut net = Net::with(sa, sb);
    net.a.set_events(true);
    net.b.set_events(true);
    let l = listener(&mut net.b, B, 80, 16);
    let c = net.a.socket(Family::V4).unwrap();
    net.a.setsockopt(c, SockOpt::SndBuf(256 << 10)).unwrap();
    net.a.setsockopt(c, SockOpt::KeepAlive(true)).unwrap();
    let _ = net.a.connect(net.now, c, addr(B, 80));
    net.pump();
    let (s, _): (SocketId, _) = net.b.accept(l).unwrap();
    net.b.setsockopt(s, SockOpt::KeepAlive(true)).unwrap();
    let mut rng = Rng(seed);
    let mut bufs = vec![vec![0u8; 2048]; 16];
    let data: Vec<u8> = (0..60_000u32).map(|i| (i * 31 + i / 9) as u8).collect();
    let mut sink = vec![0u8; 64 << 10];
    let mut log = Vec::new();
    for round in 0..300u32 {
        let now = net.now;
        let _ = net.a.send(now, c, &data[..rng.below(60_000) as usize]);
        if rng.below(40) == 0 {
            let _ = net
                .a
                .send_urgent(now, c, &data[..1 + rng.below(3) as usize]);
        }
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
                for mut burst in drain(src, now, &mut bufs) {
                    for d in &burst {
                        log.push(format!("{from_a} {d:?}"));
                    }
                    moved = true;
                    link(&mut burst, &mut rng);
                    if coalesce {
                        dst.receive_batch(now, &burst);
                    } else {
                        for d in &burst {
                            dst.receive(now, d);
                        }
                    }
                    log.push(format!("pending {}", dst.has_pending_transmit()));
                }
            }
            if !moved {
                break;
            }
        }
        read_and_tick(&mut net, (c, s), round, &mut sink, &mut rng);
        log.push(format!(
            "{round} {:?} {:?} {:?} {:?} {:?} {:?}",
            net.a.tcp_info(c),
            net.b.tcp_info(s),
            net.a.counters(),
            net.b.counters(),
            net.a.poll_timeout(),
            net.b.poll_timeout(),
        ));
        while let Some(e) = net.a.poll_event(c) {
            log.push(format!("a {e:?}"));
        }
        while let Some(e) = net.b.poll_event(s) {
            log.push(format!("b {e:?}"));
        }
    }
    let coalesced = net.a.coalesced_segments() + net.b.coalesced_segments();
    (log, coalesced)
}

/// Runs the exchange with client `a` and server `b` configured by `sa` and `sb`, one
/// datagram at a time and in coalesced batches, three seeds; at least `min` segments a run
/// must have been coalesced (so that the comparison covers the coalesced path).
fn compare(sa: Sysctl, sb: Sysctl, min: u64, what: &str) {
    for seed in [0x9e37_79b9_7f4a_7c15, 0x0123_4567_89ab_cdef, 77] {
        let (one, none) = run(sa.clone(), sb.clone(), false, seed);
        let (many, coalesced) = run(sa.clone(), sb.clone(), true, seed);
        assert_eq!(none, 0, "{what}: coalesced without a batch");
        assert!(
            coalesced >= min,
            "{what}: seed {seed}: only {coalesced} segments coalesced"
        );
        assert_eq!(one.len(), many.len(), "{what}: seed {seed}");
        for (i, (a, b)) in one.iter().zip(&many).enumerate() {
            assert_eq!(a, b, "{what}: seed {seed}, line {i} differs");
        }
    }
}

#[test]
fn coalesced_batches_give_the_same_datagrams_and_state_as_one_at_a_time() {
    let linux = Sysctl {
        tcp_ecn: 1,
        ..Sysctl::linux()
    };
    compare(linux.clone(), linux.clone(), 500, "linux, ecn");
    let plain = Sysctl {
        tcp_timestamps: 0,
        tcp_sack: false,
        ..linux.clone()
    };
    compare(plain.clone(), plain, 50, "linux, no timestamps or sack");
    // A BBR receiver: its rate sampler sees every segment (a paced BBR sender's bursts
    // are single datagrams here, so the sender keeps CUBIC).
    let bbr = Sysctl {
        tcp_congestion_control: "bbr".into(),
        ..linux.clone()
    };
    compare(linux, bbr, 500, "linux, bbr receiver");
    let freebsd = Sysctl {
        tcp_ecn: 1,
        ..Sysctl::freebsd()
    };
    compare(freebsd.clone(), freebsd, 200, "freebsd, ecn");
}
