//! Hostile input never panics and never breaks the TCB's invariants: random segments,
//! user calls and timer expiries against connections in every state (a deterministic
//! xorshift generator, so a failure reproduces from its seed).

mod common;
use common::*;
use synack::{
    Config, Connection, Duration, Instant, SegOptions, SegmentIn, Seq, State, TcpFlags, Timestamps,
};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A sequence number near one the connection cares about, or anywhere.
fn near(rng: &mut Rng, anchor: Seq) -> Seq {
    match rng.below(4) {
        0 => Seq(rng.next() as u32),
        1 => anchor,
        _ => anchor + (rng.below(4000) as u32).wrapping_sub(2000),
    }
}

fn random_segment<'a>(rng: &mut Rng, c: &Connection, payload: &'a [u8]) -> SegmentIn<'a> {
    let st = c.status();
    let mut seg = SegmentIn::new(
        near(rng, st.rcv_nxt),
        near(rng, st.snd_nxt),
        TcpFlags::from_bits(rng.next() as u16),
        rng.next() as u16,
    );
    seg.up = rng.next() as u16;
    let n = rng.below(payload.len() as u64 + 1) as usize;
    seg.payload = &payload[..n];
    if rng.below(2) == 0 {
        seg.options = SegOptions {
            mss: if rng.below(2) == 0 {
                Some(rng.next() as u16)
            } else {
                None
            },
            wscale: if rng.below(2) == 0 {
                Some(rng.next() as u8)
            } else {
                None
            },
            sack_permitted: rng.below(2) == 0,
            timestamps: if rng.below(2) == 0 {
                Some(Timestamps {
                    tsval: rng.next() as u32,
                    tsecr: rng.next() as u32,
                })
            } else {
                None
            },
            ..SegOptions::default()
        };
    }
    seg
}

fn check_invariants(c: &Connection) {
    let st = c.status();
    if !matches!(st.state, State::Closed | State::Listen) {
        assert!(st.snd_una.le(st.snd_nxt), "SND.UNA <= SND.NXT: {st:?}");
    }
    if st.state == State::Closed {
        assert_eq!(c.poll_timeout(), None, "no timers once CLOSED");
    }
}

#[test]
fn random_segments_calls_and_timeouts_never_panic() {
    let payload = [0xabu8; 3000];
    let mut buf = vec![0u8; 70_000];
    for seed in 1..=600u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let cfg = Config {
            recv_buffer: 1 + rng.below(5000) as usize,
            rfc5961: rng.below(2) == 0,
            rfc1337: rng.below(2) == 0,
            ..if rng.below(2) == 0 { plain() } else { linux() }
        };
        let mut now = Instant::ZERO;
        let mut c = match rng.below(4) {
            0 => listener(cfg, now),
            1 => Connection::connect_with_iss(now, cfg, client_tuple(), Seq(rng.next() as u32), 7),
            2 => established_client(now),
            _ => established_server(now),
        };
        for _ in 0..400 {
            now += Duration::from_millis(rng.below(3000));
            match rng.below(15) {
                0 => {
                    let _ = c.send(now, &payload[..rng.below(3000) as usize]);
                }
                1 => {
                    let _ = c.recv(&mut buf[..rng.below(5000) as usize]);
                }
                2 => {
                    let _ = c.shutdown_write(now);
                }
                3 if rng.below(4) == 0 => {
                    let _ = c.close(now);
                }
                4 if rng.below(8) == 0 => c.abort(now),
                5 => c.on_timeout(now),
                // The byte-stream knobs of part 2.
                12 => {
                    let _ = c.send_urgent(now, &payload[..rng.below(100) as usize]);
                    let _ = c.recv_urgent(&mut buf[..rng.below(2) as usize]);
                    let _ = c.at_mark();
                    let _ = c.take_urgent_signal();
                }
                13 => match rng.below(7) {
                    0 => c.set_nodelay(rng.below(2) == 0),
                    1 => c.set_cork(rng.below(2) == 0),
                    2 => c.set_keepalive(now, rng.below(2) == 0),
                    3 => c.set_keepalive_params(
                        now,
                        Duration::from_millis(rng.below(10_000)),
                        Duration::from_millis(rng.below(10_000)),
                        rng.next() as u8,
                    ),
                    4 => c.set_oobinline(rng.below(2) == 0),
                    5 => c.set_user_timeout(Some(Duration::from_millis(rng.below(20_000)))),
                    _ => {
                        let _ = c.set_path_mtu(rng.next() as u16);
                    }
                },
                14 => {
                    c.set_recv_buffer(rng.below(10_000) as usize);
                    c.set_send_buffer(rng.below(10_000) as usize);
                    let _ = c.info();
                }
                _ => {
                    let seg = random_segment(&mut rng, &c, &payload);
                    let _ = c.time_wait_accepts_syn(&seg);
                    c.on_segment(now, &seg);
                }
            }
            let n = rng.below(buf.len() as u64) as usize;
            while let Some(out) = c.poll_transmit(now, &mut buf[..n]) {
                assert!(out.payload_len <= n);
            }
            check_invariants(&c);
        }
    }
}
