//! Timers (RFC 9293 §3.10.8, RFC 6298 §5 backoff, Linux retry limits): SYN and SYN-ACK
//! retransmission, FIN retransmission, FIN_WAIT_2 and TIME_WAIT.

mod common;
use common::*;
use synack::{Config, Connection, Duration, Error, Event, Instant, Seq, State};

/// Runs one connection alone against a silent network; returns the send times (seconds) of
/// every segment and the time it closed.
fn run_silent(c: &mut Connection, limit: Instant) -> (Vec<f64>, Option<Instant>) {
    let mut sent = Vec::new();
    let mut now = Instant::ZERO;
    loop {
        for _ in drain(c, now) {
            sent.push(now.as_millis() as f64 / 1000.0);
        }
        if c.is_closed() {
            return (sent, Some(now));
        }
        match c.poll_timeout() {
            Some(t) if t <= limit => {
                now = t;
                c.on_timeout(now);
            }
            _ => return (sent, None),
        }
    }
}

#[test]
fn syn_backoff_with_tcp_syn_retries_5_fails_at_63s_like_the_notes() {
    let cfg = Config {
        syn_retries: 5,
        ..plain()
    };
    let mut c =
        Connection::connect_with_iss(Instant::ZERO, cfg, client_tuple(), Seq(1355982096), 0);
    let (sent, closed) = run_silent(&mut c, secs(1000));
    // SYNs at 0, 1, 3, 7, 15, 31 s (intervals 1, 2, 4, 8, 16 s; then 32 s of waiting).
    assert_eq!(sent, [0.0, 1.0, 3.0, 7.0, 15.0, 31.0]);
    assert_eq!(closed, Some(secs(63)));
    assert_eq!(c.take_error(), Some(Error::TimedOut));
    assert_eq!(Error::TimedOut.errno(), 110);
    assert_eq!(c.stats().retransmits, 5);
}

#[test]
fn syn_backoff_with_linux_default_6_fails_at_127s() {
    let mut c = Connection::connect_with_iss(Instant::ZERO, plain(), client_tuple(), Seq(7), 0);
    let (sent, closed) = run_silent(&mut c, secs(1000));
    assert_eq!(sent, [0.0, 1.0, 3.0, 7.0, 15.0, 31.0, 63.0]);
    assert_eq!(closed, Some(secs(127)));
    let mut buf = [0u8; 4];
    assert_eq!(c.recv(&mut buf), Err(Error::TimedOut));
    assert_eq!(trail_text(&mut c), "CLOSED→SYN_SENT→CLOSED");
}

#[test]
fn every_retransmitted_syn_is_identical_to_the_first() {
    let mut c =
        Connection::connect_with_iss(Instant::ZERO, plain(), client_tuple(), Seq(1355982096), 0);
    let first = one(&mut c, Instant::ZERO);
    c.on_timeout(secs(1));
    let again = one(&mut c, secs(1));
    assert_eq!(first.seg, again.seg);
    assert_eq!(again.seq(), 1355982096);
}

#[test]
fn synack_retries_5_then_the_half_open_connection_returns_to_listen() {
    let mut s = listener(plain(), Instant::ZERO);
    s.on_segment(Instant::ZERO, &seg(CLIENT_ISS, 0, S, 65535));
    let (sent, closed) = run_silent(&mut s, secs(1000));
    assert_eq!(sent, [0.0, 1.0, 3.0, 7.0, 15.0, 31.0]);
    assert_eq!(closed, None);
    assert_eq!(s.state(), State::Listen);
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(trail_text(&mut s), "CLOSED→LISTEN→SYN_RCVD→LISTEN");
}

#[test]
fn syn_answered_late_after_retransmission_still_connects() {
    let mut c =
        Connection::connect_with_iss(Instant::ZERO, plain(), client_tuple(), Seq(CLIENT_ISS), 0);
    none_after_first(&mut c);
    c.on_timeout(secs(1));
    assert_eq!(one(&mut c, secs(1)).flags(), S);
    c.on_segment(ms(1500), &seg(SERVER_ISS, CLIENT_ISS + 1, S | A, 65535));
    assert_eq!(c.state(), State::Established);
    assert_eq!(one(&mut c, ms(1500)).flags(), A);
    assert_eq!(
        c.poll_timeout(),
        None,
        "no timer runs on an idle established connection"
    );
}

fn none_after_first(c: &mut Connection) {
    assert_eq!(one(c, Instant::ZERO).flags(), S);
    none(c, Instant::ZERO);
}

#[test]
fn fin_is_retransmitted_with_backoff_and_gives_up_after_retries2() {
    let now = Instant::ZERO;
    let mut c = established_client(now);
    c.close(now).unwrap();
    let fin = one(&mut c, now);
    assert_eq!((fin.flags(), fin.seq()), (F | A, CLIENT_ISS + 1));
    // Linux's tcp_retries2 would take ~15 minutes; check the pattern with a small limit.
    let mut c2 = {
        let cfg = Config {
            retries2: 3,
            ..plain()
        };
        let mut c = Connection::connect_with_iss(now, cfg, client_tuple(), Seq(CLIENT_ISS), 0);
        one(&mut c, now);
        c.on_segment(now, &seg(SERVER_ISS, CLIENT_ISS + 1, S | A, 65535));
        one(&mut c, now);
        c.shutdown_write(now).unwrap();
        c
    };
    let (sent, closed) = run_silent(&mut c2, secs(1000));
    // The SYN-ACK came back at once: RFC 6298 §2.2 takes that RTT sample and §2.4's
    // minimum (Linux's 200 ms) sets the RTO, which then doubles (§5.5).
    assert_eq!(sent, [0.0, 0.2, 0.6, 1.4]);
    assert_eq!(closed, Some(ms(3000)));
    assert_eq!(c2.take_error(), Some(Error::TimedOut));
    // The retransmitted FIN is the same segment.
    c.on_timeout(secs(1));
    let refin = one(&mut c, secs(1));
    assert_eq!(
        (refin.flags(), refin.seq(), refin.ack()),
        (F | A, CLIENT_ISS + 1, SERVER_ISS + 1)
    );
}

#[test]
fn tcp_fin_timeout_closes_an_orphan_in_fin_wait_2() {
    let now = Instant::ZERO;
    let mut c = established_client(now);
    c.close(now).unwrap();
    one(&mut c, now);
    c.on_segment(ms(10), &seg(SERVER_ISS + 1, CLIENT_ISS + 2, A, 65535));
    assert_eq!(c.state(), State::FinWait2);
    assert_eq!(c.poll_timeout(), Some(ms(10) + Duration::from_secs(60)));
    c.on_timeout(ms(60_009));
    assert_eq!(c.state(), State::FinWait2);
    c.on_timeout(ms(60_010));
    assert_eq!(c.state(), State::Closed);
    none(&mut c, ms(60_010));
}

#[test]
fn half_closed_fin_wait_2_without_orphaning_waits_forever() {
    let now = Instant::ZERO;
    let mut c = established_client(now);
    c.shutdown_write(now).unwrap();
    one(&mut c, now);
    c.on_segment(now, &seg(SERVER_ISS + 1, CLIENT_ISS + 2, A, 65535));
    assert_eq!(c.state(), State::FinWait2);
    assert_eq!(c.poll_timeout(), None);
    // Closing later starts tcp_fin_timeout from then.
    c.close(secs(100)).unwrap();
    assert_eq!(c.poll_timeout(), Some(secs(160)));
}

#[test]
fn time_wait_length_is_two_msl_and_configurable() {
    let cfg = Config {
        msl: Duration::from_secs(5),
        ..plain()
    };
    let now = Instant::ZERO;
    let mut c = Connection::connect_with_iss(now, cfg, client_tuple(), Seq(CLIENT_ISS), 0);
    one(&mut c, now);
    c.on_segment(now, &seg(SERVER_ISS, CLIENT_ISS + 1, S | A, 65535));
    one(&mut c, now);
    c.close(now).unwrap();
    one(&mut c, now);
    c.on_segment(now, &seg(SERVER_ISS + 1, CLIENT_ISS + 2, F | A, 65535));
    assert_eq!(c.state(), State::TimeWait);
    assert_eq!(one(&mut c, now).ack(), SERVER_ISS + 2);
    assert_eq!(c.poll_timeout(), Some(secs(10)));
    c.on_timeout(secs(10));
    assert!(c.is_closed());
}

#[test]
fn events_carry_virtual_time() {
    let cfg = Config {
        syn_retries: 1,
        ..plain()
    };
    let mut c = Connection::connect_with_iss(Instant::ZERO, cfg, client_tuple(), Seq(1), 0);
    let (_, closed) = run_silent(&mut c, secs(10));
    assert_eq!(closed, Some(secs(3)));
    let mut events = Vec::new();
    while let Some(e) = c.poll_event() {
        events.push(e);
    }
    let sent: Vec<Instant> = events
        .iter()
        .filter_map(|e| {
            if let Event::Sent { at, .. } = e {
                Some(*at)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(sent, [secs(0), secs(1)]);
    assert!(events.contains(&Event::Failed {
        at: secs(3),
        error: Error::TimedOut
    }));
    assert!(matches!(
        events.last(),
        Some(Event::StateChange { at, from: State::SynSent, to: State::Closed }) if *at == secs(3)
    ));
}

#[test]
fn events_off_by_default_record_nothing() {
    let mut c =
        Connection::connect_with_iss(Instant::ZERO, Config::default(), client_tuple(), Seq(1), 0);
    one(&mut c, Instant::ZERO);
    assert_eq!(c.poll_event(), None);
}

#[test]
fn an_orphan_gives_up_after_tcp_orphan_retries() {
    let now = Instant::ZERO;
    let cfg = Config {
        orphan_retries: 2,
        ..plain()
    };
    let mut c = Connection::connect_with_iss(now, cfg, client_tuple(), Seq(CLIENT_ISS), 0);
    one(&mut c, now);
    c.on_segment(now, &seg(SERVER_ISS, CLIENT_ISS + 1, S | A, 65535));
    one(&mut c, now);
    c.close(now).unwrap(); // orphaned: the FIN is retried twice, not 15 times
    let (sent, closed) = run_silent(&mut c, secs(1000));
    // RTO 200 ms from the handshake's RTT sample, doubling (RFC 6298 §2.4, §5.5).
    assert_eq!(sent, [0.0, 0.2, 0.6]);
    assert_eq!(closed, Some(ms(1400)));
}
