//! Two engines back to back (RFC 9293 §3.5 and §3.6 figures): handshake, simultaneous
//! open, both close orders, simultaneous close, half-close, TIME_WAIT expiry — with the
//! state sequences of the seed notes asserted from the event stream.

mod common;
use common::*;
use synack::{Duration, Error, State};

fn connected_pair() -> Pair {
    let now = secs(0);
    let s = listener(plain(), now);
    let c = synack::Connection::connect_with_iss(
        now,
        plain(),
        client_tuple(),
        synack::Seq(CLIENT_ISS),
        0,
    );
    let mut p = Pair::new(c, s, now);
    p.exchange();
    assert_eq!(p.a.state(), State::Established);
    assert_eq!(p.b.state(), State::Established);
    p
}

#[test]
fn rfc9293_3_5_three_way_handshake_matches_seed_trace() {
    let p = connected_pair();
    // Seed trace lines 1-3 (absolute numbers, tcpdump -S).
    assert_eq!(
        p.trace(),
        [
            "A > B: [S] seq 535734930 ack 0 len 0",
            "B > A: [S.] seq 2159701207 ack 535734931 len 0",
            "A > B: [.] seq 535734931 ack 2159701208 len 0",
        ]
    );
}

#[test]
fn rfc9293_3_6_active_close_by_client_state_sequences_of_the_notes() {
    let mut p = connected_pair();
    p.log.clear();
    // Client: close → FIN; server's TCP ACKs it; the server app sees EOF and closes.
    p.a.close(p.now).unwrap();
    p.exchange();
    assert_eq!(p.a.state(), State::FinWait2);
    assert_eq!(p.b.state(), State::CloseWait);
    let mut buf = [0u8; 16];
    assert_eq!(
        p.b.recv(&mut buf),
        Ok(0),
        "read returns 0 after the peer's FIN"
    );
    p.b.close(p.now).unwrap();
    p.exchange();
    assert_eq!(p.a.state(), State::TimeWait);
    assert_eq!(p.b.state(), State::Closed);
    // Seed trace lines 4-7.
    assert_eq!(
        p.trace(),
        [
            "A > B: [F.] seq 535734931 ack 2159701208 len 0",
            "B > A: [.] seq 2159701208 ack 535734932 len 0",
            "B > A: [F.] seq 2159701208 ack 535734932 len 0",
            "A > B: [.] seq 535734932 ack 2159701209 len 0",
        ]
    );
    // TIME_WAIT lasts 2 MSL (60 s by default), then CLOSED.
    let tw_start = p.now;
    p.advance(Duration::from_secs(59));
    assert_eq!(p.a.state(), State::TimeWait);
    p.advance(Duration::from_secs(1));
    assert_eq!(p.a.state(), State::Closed);
    assert_eq!(p.now - tw_start, Duration::from_secs(60));
    assert_eq!(
        trail_text(&mut p.a),
        "CLOSED→SYN_SENT→ESTABLISHED→FIN_WAIT_1→FIN_WAIT_2→TIME_WAIT→CLOSED"
    );
    assert_eq!(
        trail_text(&mut p.b),
        "CLOSED→LISTEN→SYN_RCVD→ESTABLISHED→CLOSE_WAIT→LAST_ACK→CLOSED"
    );
}

#[test]
fn rfc9293_3_6_active_close_by_server() {
    let mut p = connected_pair();
    p.b.close(p.now).unwrap();
    p.exchange();
    assert_eq!(
        (p.a.state(), p.b.state()),
        (State::CloseWait, State::FinWait2)
    );
    p.a.close(p.now).unwrap();
    p.exchange();
    assert_eq!((p.a.state(), p.b.state()), (State::Closed, State::TimeWait));
    p.advance(Duration::from_secs(60));
    assert_eq!(p.b.state(), State::Closed);
    assert_eq!(
        trail_text(&mut p.a),
        "CLOSED→SYN_SENT→ESTABLISHED→CLOSE_WAIT→LAST_ACK→CLOSED"
    );
    assert_eq!(
        trail_text(&mut p.b),
        "CLOSED→LISTEN→SYN_RCVD→ESTABLISHED→FIN_WAIT_1→FIN_WAIT_2→TIME_WAIT→CLOSED"
    );
}

#[test]
fn rfc9293_3_6_simultaneous_close_through_closing() {
    let mut p = connected_pair();
    // Both close before either FIN arrives.
    p.a.close(p.now).unwrap();
    p.b.close(p.now).unwrap();
    p.exchange();
    assert_eq!(
        (p.a.state(), p.b.state()),
        (State::TimeWait, State::TimeWait)
    );
    assert_eq!(
        trail_text(&mut p.a),
        "CLOSED→SYN_SENT→ESTABLISHED→FIN_WAIT_1→CLOSING→TIME_WAIT"
    );
    assert_eq!(
        trail_text(&mut p.b),
        "CLOSED→LISTEN→SYN_RCVD→ESTABLISHED→FIN_WAIT_1→CLOSING→TIME_WAIT"
    );
    p.advance(Duration::from_secs(60));
    assert_eq!((p.a.state(), p.b.state()), (State::Closed, State::Closed));
}

#[test]
fn rfc9293_3_10_7_4_fin_wait_1_to_time_wait_on_fin_ack() {
    let mut p = connected_pair();
    p.a.close(p.now).unwrap();
    // The server's TCP does not ACK separately: deliver the client FIN, and have the
    // server close before it transmits, so its FIN carries the ACK of ours.
    let fin = one(&mut p.a, p.now);
    p.b.on_segment(p.now, &fin.as_in());
    p.b.close(p.now).unwrap();
    let fin_ack = one(&mut p.b, p.now);
    assert_eq!(fin_ack.flags(), F | A);
    assert_eq!(fin_ack.ack(), CLIENT_ISS + 2);
    p.a.on_segment(p.now, &fin_ack.as_in());
    assert_eq!(p.a.state(), State::TimeWait);
    assert_eq!(
        trail_text(&mut p.a),
        "CLOSED→SYN_SENT→ESTABLISHED→FIN_WAIT_1→TIME_WAIT"
    );
}

#[test]
fn rfc9293_3_5_simultaneous_open_four_segments() {
    let now = secs(0);
    let ta = client_tuple();
    let tb = server_tuple();
    let mut a = synack::Connection::connect_with_iss(now, plain(), ta, synack::Seq(100), 0);
    let mut b = synack::Connection::connect_with_iss(now, plain(), tb, synack::Seq(300), 0);
    let syn_a = one(&mut a, now);
    let syn_b = one(&mut b, now);
    // The SYNs cross.
    a.on_segment(now, &syn_b.as_in());
    b.on_segment(now, &syn_a.as_in());
    assert_eq!(
        (a.state(), b.state()),
        (State::SynReceived, State::SynReceived)
    );
    let synack_a = one(&mut a, now);
    let synack_b = one(&mut b, now);
    assert_eq!(
        (synack_a.flags(), synack_a.seq(), synack_a.ack()),
        (S | A, 100, 301)
    );
    assert_eq!(
        (synack_b.flags(), synack_b.seq(), synack_b.ack()),
        (S | A, 300, 101)
    );
    a.on_segment(now, &synack_b.as_in());
    b.on_segment(now, &synack_a.as_in());
    assert_eq!(
        (a.state(), b.state()),
        (State::Established, State::Established)
    );
    assert_eq!(trail_text(&mut a), "CLOSED→SYN_SENT→SYN_RCVD→ESTABLISHED");
    assert_eq!(trail_text(&mut b), "CLOSED→SYN_SENT→SYN_RCVD→ESTABLISHED");
    // Four segments in all: nothing further is owed.
    none(&mut a, now);
    none(&mut b, now);
}

#[test]
fn half_close_with_data_flowing_the_other_way() {
    let mut p = connected_pair();
    // The client sends a request and shuts down its sending side.
    assert_eq!(p.a.send(p.now, b"GET / HTTP/1.0\r\n\r\n"), Ok(18));
    p.a.shutdown_write(p.now).unwrap();
    assert_eq!(p.a.send(p.now, b"x"), Err(Error::BrokenPipe));
    p.exchange();
    // FIN with data: one segment carries the request and the FIN.
    let first = &p.log[3].2;
    assert_eq!((first.flags(), first.data.len()), (F | P | A, 18));
    assert_eq!(
        (p.a.state(), p.b.state()),
        (State::FinWait2, State::CloseWait)
    );
    let mut buf = [0u8; 64];
    assert_eq!(p.b.recv(&mut buf), Ok(18));
    assert_eq!(&buf[..18], b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(p.b.recv(&mut buf), Ok(0));
    // The server answers in several writes over the half-closed connection.
    for chunk in [&b"HTTP/1.0 200 OK\r\n"[..], b"\r\n", b"hello"] {
        p.b.send(p.now, chunk).unwrap();
        p.exchange();
    }
    assert_eq!(
        p.a.state(),
        State::FinWait2,
        "the half-closed side keeps receiving"
    );
    let mut got = Vec::new();
    loop {
        match p.a.recv(&mut buf) {
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(Error::WouldBlock) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got, b"HTTP/1.0 200 OK\r\n\r\nhello");
    p.b.close(p.now).unwrap();
    p.exchange();
    assert_eq!(
        p.a.recv(&mut buf),
        Ok(0),
        "end of stream after the server's FIN"
    );
    assert_eq!((p.a.state(), p.b.state()), (State::TimeWait, State::Closed));
}

#[test]
fn data_both_ways_then_close_with_fin_piggybacked_on_data() {
    let mut p = connected_pair();
    let msg = [7u8; 3000];
    assert_eq!(p.a.send(p.now, &msg), Ok(3000));
    p.exchange();
    let mut buf = [0u8; 4000];
    assert_eq!(p.b.recv(&mut buf), Ok(3000));
    // Segments were at most the MSS (536 without an MSS option... both sent MSS 1460).
    assert!(p.log.iter().all(|(_, _, o)| o.data.len() <= 1460));
    p.b.send(p.now, b"bye").unwrap();
    p.b.close(p.now).unwrap();
    p.exchange();
    let last_b = p.log.iter().rev().find(|(_, s, _)| *s == Side::B).unwrap();
    assert_eq!(last_b.2.flags(), F | P | A);
    assert_eq!(p.a.recv(&mut buf), Ok(3));
    assert_eq!(p.a.recv(&mut buf), Ok(0));
}

#[test]
fn rfc9293_3_10_8_time_wait_reacks_retransmitted_fin_and_restarts_timer() {
    let mut p = connected_pair();
    p.a.close(p.now).unwrap();
    p.exchange();
    p.b.close(p.now).unwrap();
    // The client's final ACK is lost.
    let fin = one(&mut p.b, p.now);
    p.a.on_segment(p.now, &fin.as_in());
    assert_eq!(p.a.state(), State::TimeWait);
    let _lost_ack = one(&mut p.a, p.now);
    // The server retransmits its FIN after its RTO: 200 ms, RFC 6298 §2.4's minimum as
    // Linux has it, since the handshake measured a zero RTT.
    p.advance(Duration::from_millis(199));
    assert_eq!(p.b.state(), State::LastAck);
    p.drop_from_a = true; // lose the re-ACK too, once
    p.advance(Duration::from_millis(1));
    let refin = p
        .log
        .iter()
        .rev()
        .find(|(_, s, _)| *s == Side::B)
        .unwrap()
        .2
        .clone();
    assert_eq!((refin.flags(), refin.seq()), (F | A, SERVER_ISS + 1));
    let reack = p.log.last().unwrap();
    assert_eq!(
        (reack.1, reack.2.flags(), reack.2.ack()),
        (Side::A, A, SERVER_ISS + 2)
    );
    // The server's second retransmission (t = 0.6 s, RTO doubled) is re-ACKed and restarts
    // TIME_WAIT once more: still there at 60.5 s, gone at 60.6 s (not at 60 s).
    p.drop_from_a = false;
    p.run_until(ms(600));
    assert_eq!(
        p.b.state(),
        State::Closed,
        "the server got the re-ACK and closed"
    );
    p.run_until(ms(60_500));
    assert_eq!(p.a.state(), State::TimeWait);
    p.run_until(ms(60_600));
    assert_eq!(p.a.state(), State::Closed);
}
