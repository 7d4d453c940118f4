//! `Connection::wants_transmit` is exact when it says no: whenever it answers `false`,
//! `poll_transmit` returns `None`. Checked before every poll of two engines talking over a
//! link that loses segments on a fixed pattern, through handshake, data both ways,
//! retransmissions, keepalive, zero windows, close and abort, with each congestion control
//! (the host skips the poll of a connection that says no).

mod common;
use common::*;
use synack::{Config, Connection, Duration, Instant, State};

/// Polls `c` until it has nothing, checking the claim before each poll; the segments.
fn checked_drain(c: &mut Connection, now: Instant, polls: &mut (u32, u32)) -> Vec<Out> {
    let mut v = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let wants = c.wants_transmit();
        let seg = c.poll_transmit(now, &mut buf);
        polls.0 += 1;
        match seg {
            Some(seg) => {
                assert!(
                    wants,
                    "wants_transmit() said no in {:?}, poll_transmit sent {seg:?}",
                    c.state()
                );
                v.push(Out {
                    seg,
                    data: buf[..seg.payload_len].to_vec(),
                });
            }
            None => {
                if !wants {
                    polls.1 += 1;
                }
                return v;
            }
        }
        assert!(v.len() < 10_000, "runaway poll_transmit");
    }
}

/// Runs one conversation; `lose(n)` says whether the n-th segment on the link is lost.
/// Returns (polls, polls that `wants_transmit` predicted empty).
fn conversation(cfg: Config, lose: impl Fn(u32) -> bool, rwnd_app_reads: bool) -> (u32, u32) {
    let mut now = secs(0);
    let mut a = Connection::connect_with_iss(now, cfg.clone(), client_tuple(), synack::Seq(1), 0);
    let mut b = Connection::listen_with_iss(now, cfg, server_tuple(), synack::Seq(9), 0);
    let mut polls = (0, 0);
    let mut n = 0u32;
    let mut sent_a = 0usize;
    let mut sent_b = 0usize;
    let payload = vec![7u8; 200_000];
    let mut buf = vec![0u8; 1 << 20];
    for step in 0..4000u32 {
        // The applications: A streams, B answers a little, both close late; B's reader
        // stalls for a while (a zero window), then reads everything.
        if a.state() == State::Established && sent_a < payload.len() {
            sent_a += a.send(now, &payload[sent_a..]).unwrap_or(0);
        }
        if b.state() == State::Established && sent_b < 3000 && step % 7 == 0 {
            sent_b += b.send(now, &payload[..100]).unwrap_or(0);
        }
        if !rwnd_app_reads || !(200..900).contains(&step) {
            while matches!(b.recv(&mut buf), Ok(k) if k > 0) {}
        }
        while matches!(a.recv(&mut buf), Ok(k) if k > 0) {}
        if step == 1500 {
            a.set_keepalive(now, true);
        }
        if step == 2500 {
            let _ = a.close(now);
        }
        if step == 2600 {
            let _ = b.close(now);
        }
        if step == 3500 {
            a.abort(now);
        }
        let from_a = checked_drain(&mut a, now, &mut polls);
        let from_b = checked_drain(&mut b, now, &mut polls);
        for o in &from_a {
            n += 1;
            if !lose(n) {
                b.on_segment(now, &o.as_in());
            }
        }
        for o in &from_b {
            n += 1;
            if !lose(n) {
                a.on_segment(now, &o.as_in());
            }
        }
        if from_a.is_empty() && from_b.is_empty() {
            // Quiet: advance to the next timer (or a little).
            let next = [a.poll_timeout(), b.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(now + Duration::from_millis(50));
            now = now.max(next);
            a.on_timeout(now);
            b.on_timeout(now);
        } else {
            now += Duration::from_micros(300);
        }
    }
    polls
}

/// Whether the n-th segment on the link is lost.
type Loss = fn(u32) -> bool;

#[test]
fn says_no_only_when_the_poll_returns_none() {
    let patterns: [(&str, Loss); 4] = [
        ("lossless", |_| false),
        ("every 13th", |n| n % 13 == 0),
        ("bursts", |n| n % 50 < 4),
        ("every 3rd", |n| n % 3 == 1),
    ];
    for cc in ["cubic", "reno", "bbr"] {
        for (name, lose) in patterns {
            for reads in [false, true] {
                let cfg = Config {
                    congestion_control: cc,
                    ..linux()
                };
                let (polls, predicted) = conversation(cfg, lose, reads);
                // The check above ran on every poll; it must also have had work to do.
                assert!(polls > 100, "{cc} {name}: only {polls} polls");
                // BBR's empty polls do work (the app-limited check): never skipped.
                if cc != "bbr" {
                    assert!(predicted > 10, "{cc} {name}: no poll predicted empty");
                }
            }
        }
    }
}

#[test]
fn says_yes_for_each_kind_of_pending_segment() {
    let now = secs(0);
    // A SYN to send.
    let mut c = Connection::connect_with_iss(now, plain(), client_tuple(), synack::Seq(1), 0);
    assert!(c.wants_transmit());
    let _ = one(&mut c, now);
    assert!(!c.wants_transmit());
    // Established: idle, then data queued, then an ACK owed for data received.
    let mut c = established_client(now);
    assert!(!c.wants_transmit());
    c.send(now, b"x").unwrap();
    assert!(c.wants_transmit());
    let _ = one(&mut c, now);
    assert!(!c.wants_transmit());
    c.on_segment(now, &data(SERVER_ISS + 1, 2, A, b"hello"));
    assert!(c.wants_transmit());
    drain(&mut c, now);
    assert!(!c.wants_transmit());
    // A FIN to send, then a RST after an abort.
    c.close(now).unwrap();
    assert!(c.wants_transmit());
    drain(&mut c, now);
    assert!(!c.wants_transmit());
    c.abort(now);
    assert!(c.wants_transmit());
    drain(&mut c, now);
    assert!(!c.wants_transmit());
    assert_eq!(c.state(), State::Closed);
}
