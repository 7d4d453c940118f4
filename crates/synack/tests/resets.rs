//! Resets: generated (RFC 9293 §3.10.7.1, §3.10.5 ABORT, RFC 2525 §2.17) and received
//! (RFC 9293 §3.10.7.4 second check, RFC 5961 §3, RFC 1337), with the seed notes' traces.

mod common;
use common::*;
use std::sync::Arc;
use synack::{
    ChallengeAckLimiter, Config, Connection, Error, Instant, Seq, State, reset_for_no_connection,
};

#[test]
fn rst_to_a_closed_port_is_r_dot_seq_0_ack_isn_plus_1_win_0_and_refuses_the_connect() {
    // Seed trace: `Flags [S], seq 21621375, win 14600` → `Flags [R.], seq 0, ack 21621376, win 0`.
    let now = Instant::ZERO;
    let mut c = Connection::connect_with_iss(now, plain(), client_tuple(), Seq(21621375), 0);
    let syn = one(&mut c, now);
    let rst = reset_for_no_connection(&syn.as_in()).unwrap();
    assert_eq!(flag_text(rst.flags), "[R.]");
    assert_eq!(
        (rst.seq, rst.ack, rst.wnd, rst.payload_len),
        (Seq(0), Seq(21621376), 0, 0)
    );
    assert!(rst.options.timestamps.is_none() && rst.options.mss.is_none());
    c.on_segment(ms(1), &rst.as_segment_in(&[]));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.take_error(), Some(Error::ConnectionRefused));
    assert_eq!(Error::ConnectionRefused.errno(), 111);
    none(&mut c, ms(1));
}

#[test]
fn half_open_connection_detected_by_rst_gives_econnreset() {
    // Seed trace: the server lost its state; the client's 3 bytes get `Flags [R], seq ISS+1`.
    let now = Instant::ZERO;
    let mut c = Connection::connect_with_iss(now, plain(), client_tuple(), Seq(3093809365), 0);
    one(&mut c, now);
    c.on_segment(now, &seg(1495337791, 3093809366, S | A, 65535));
    one(&mut c, now);
    assert_eq!(c.send(now, b"a\r\n"), Ok(3));
    let psh = one(&mut c, now);
    assert_eq!(
        (flag_text(psh.flags()), psh.seq(), psh.data.len()),
        ("[P.]".into(), 3093809366, 3)
    );
    // The rebooted server has no connection: RFC 9293 §3.10.7.1 with ACK on.
    let rst = reset_for_no_connection(&psh.as_in()).unwrap();
    assert_eq!(
        (flag_text(rst.flags), rst.seq),
        ("[R]".into(), Seq(1495337792))
    );
    c.on_segment(ms(1), &rst.as_segment_in(&[]));
    assert_eq!(c.state(), State::Closed);
    let mut buf = [0u8; 8];
    assert_eq!(c.recv(&mut buf), Err(Error::ConnectionReset));
    assert_eq!(c.send(ms(2), b"x"), Err(Error::ConnectionReset));
    assert_eq!(Error::ConnectionReset.errno(), 104);
}

#[test]
fn rfc9293_3_10_5_abort_sends_rst_and_discards_queued_data() {
    let now = Instant::ZERO;
    let mut c = established_client(now);
    // Data queued but the peer's window is zero, so it is still unsent.
    c.on_segment(now, &seg(SERVER_ISS + 1, CLIENT_ISS + 1, A, 0));
    c.send(now, b"queued").unwrap();
    none(&mut c, now);
    c.abort(now); // SO_LINGER {on, 0} + close() does the same
    let rst = one(&mut c, now);
    assert_eq!(
        (flag_text(rst.flags()), rst.seq(), rst.ack(), rst.data.len()),
        ("[R.]".into(), CLIENT_ISS + 1, SERVER_ISS + 1, 0)
    );
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.status().send_queued, 0);
    none(&mut c, now);
}

#[test]
fn rfc2525_2_17_close_with_unread_data_sends_rst_not_fin() {
    let now = Instant::ZERO;
    let mut s = established_server(now);
    s.on_segment(now, &data(CLIENT_ISS + 1, SERVER_ISS + 1, P | A, b"unread"));
    one(&mut s, now); // ACK
    s.close(now).unwrap();
    let rst = one(&mut s, now);
    // Linux's active reset: `[R.]` at SND.NXT acknowledging what was received.
    assert_eq!(
        (rst.flags(), rst.seq(), rst.ack()),
        (R | A, SERVER_ISS + 1, CLIENT_ISS + 7)
    );
    assert_eq!(s.state(), State::Closed);
}

#[test]
fn data_for_an_orphaned_connection_is_answered_with_rst() {
    let now = Instant::ZERO;
    let mut s = established_server(now);
    s.close(now).unwrap();
    let fin = one(&mut s, now);
    assert_eq!(fin.flags(), F | A);
    // The peer keeps sending: nobody can read it.
    s.on_segment(now, &data(CLIENT_ISS + 1, SERVER_ISS + 2, P | A, b"late"));
    let rst = one(&mut s, now);
    assert_eq!((rst.flags(), rst.seq()), (R, SERVER_ISS + 2));
    assert_eq!(s.state(), State::Closed);
}

#[test]
fn peer_receives_abort_rst_as_econnreset() {
    let now = Instant::ZERO;
    let s = listener(plain(), now);
    let c = Connection::connect_with_iss(now, plain(), client_tuple(), Seq(CLIENT_ISS), 0);
    let mut p = Pair::new(c, s, now);
    p.exchange();
    p.b.abort(p.now);
    p.exchange();
    assert_eq!(p.a.state(), State::Closed);
    assert_eq!(p.a.take_error(), Some(Error::ConnectionReset));
    assert_eq!(trail_text(&mut p.a), "CLOSED→SYN_SENT→ESTABLISHED→CLOSED");
}

#[test]
fn rfc5961_3_2_rst_exactly_at_rcv_nxt_resets() {
    let now = Instant::ZERO;
    let mut c = established_client(now);
    c.on_segment(now, &seg(SERVER_ISS + 1, 0, R, 0));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.take_error(), Some(Error::ConnectionReset));
    none(&mut c, now);
}

#[test]
fn rfc5961_3_2_in_window_rst_gets_a_challenge_ack() {
    let now = Instant::ZERO;
    let mut c = established_client(now);
    c.on_segment(now, &seg(SERVER_ISS + 1000, 0, R, 0));
    assert_eq!(c.state(), State::Established);
    let ack = one(&mut c, now);
    assert_eq!(
        (ack.flags(), ack.seq(), ack.ack()),
        (A, CLIENT_ISS + 1, SERVER_ISS + 1)
    );
    assert_eq!(c.stats().challenge_acks, 1);
}

#[test]
fn rfc9293_3_10_7_4_out_of_window_rst_is_silently_dropped() {
    let now = Instant::ZERO;
    let mut c = established_client(now);
    c.on_segment(now, &seg(SERVER_ISS.wrapping_sub(5000), 0, R, 0));
    c.on_segment(now, &seg(SERVER_ISS + 10_000_000, 0, R, 0));
    assert_eq!(c.state(), State::Established);
    none(&mut c, now);
}

#[test]
fn rfc793_mode_in_window_rst_resets() {
    let now = Instant::ZERO;
    let cfg = Config {
        rfc5961: false,
        ..plain()
    };
    let mut c = Connection::connect_with_iss(now, cfg, client_tuple(), Seq(CLIENT_ISS), 0);
    one(&mut c, now);
    c.on_segment(now, &seg(SERVER_ISS, CLIENT_ISS + 1, S | A, 65535));
    one(&mut c, now);
    c.on_segment(now, &seg(SERVER_ISS + 1000, 0, R, 0));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.take_error(), Some(Error::ConnectionReset));
}

#[test]
fn rfc5961_4_2_syn_in_established_gets_a_challenge_ack() {
    let now = Instant::ZERO;
    let mut c = established_client(now);
    // In window and out of window alike.
    c.on_segment(now, &seg(SERVER_ISS + 1, 0, S, 65535));
    assert_eq!(c.state(), State::Established);
    let ack = one(&mut c, now);
    assert_eq!(
        (ack.flags(), ack.seq(), ack.ack()),
        (A, CLIENT_ISS + 1, SERVER_ISS + 1)
    );
}

#[test]
fn rfc793_mode_syn_in_window_resets_the_connection() {
    let now = Instant::ZERO;
    let cfg = Config {
        rfc5961: false,
        ..plain()
    };
    let mut c = Connection::connect_with_iss(now, cfg, client_tuple(), Seq(CLIENT_ISS), 0);
    one(&mut c, now);
    c.on_segment(now, &seg(SERVER_ISS, CLIENT_ISS + 1, S | A, 65535));
    one(&mut c, now);
    c.on_segment(now, &seg(SERVER_ISS + 1, 0, S, 65535));
    let rst = one(&mut c, now);
    assert!(rst.flags().rst());
    assert_eq!(c.take_error(), Some(Error::ConnectionReset));
}

#[test]
fn freebsd_insecure_syn_in_window_resets_from_the_connection_sequence_numbers() {
    let now = Instant::ZERO;
    for (flavor, expect) in [
        // FreeBSD tcp_drop(): `R.` SND.NXT, ack RCV.NXT.
        (
            synack::Flavor::FreeBsd,
            (R | A, CLIENT_ISS + 1, SERVER_ISS + 1),
        ),
        // RFC 9293 §3.10.7.1's form for a SYN without ACK: `R.` 0, ack SEG.SEQ + 1.
        (synack::Flavor::Linux, (R | A, 0, SERVER_ISS + 6)),
    ] {
        let cfg = Config {
            rfc5961: false,
            flavor: Some(flavor),
            ..plain()
        };
        let mut c = Connection::connect_with_iss(now, cfg, client_tuple(), Seq(CLIENT_ISS), 0);
        one(&mut c, now);
        c.on_segment(now, &seg(SERVER_ISS, CLIENT_ISS + 1, S | A, 65535));
        one(&mut c, now);
        c.on_segment(now, &seg(SERVER_ISS + 5, 0, S, 65535));
        let rst = one(&mut c, now);
        assert_eq!((rst.flags(), rst.seq(), rst.ack()), expect, "{flavor:?}");
        assert_eq!(c.take_error(), Some(Error::ConnectionReset));
    }
}

#[test]
fn rfc5961_7_challenge_acks_are_rate_limited_and_the_limiter_is_shared() {
    let now = Instant::ZERO;
    let limiter = Arc::new(ChallengeAckLimiter::new(2));
    let cfg = Config {
        challenge_ack_limiter: limiter.clone(),
        ..plain()
    };
    let mut a = Connection::connect_with_iss(now, cfg.clone(), client_tuple(), Seq(CLIENT_ISS), 0);
    let mut b = Connection::connect_with_iss(now, cfg, client_tuple(), Seq(CLIENT_ISS), 0);
    for c in [&mut a, &mut b] {
        one(c, now);
        c.on_segment(now, &seg(SERVER_ISS, CLIENT_ISS + 1, S | A, 65535));
        one(c, now);
    }
    a.on_segment(now, &seg(SERVER_ISS + 1, 0, S, 65535));
    one(&mut a, now);
    b.on_segment(now, &seg(SERVER_ISS + 1, 0, S, 65535));
    one(&mut b, now);
    // The third challenge within the same second, on either connection, is suppressed.
    a.on_segment(ms(500), &seg(SERVER_ISS + 1, 0, S, 65535));
    none(&mut a, ms(500));
    assert_eq!(a.stats().challenge_acks_limited, 1);
    // A new second brings new budget.
    a.on_segment(ms(1000), &seg(SERVER_ISS + 1, 0, S, 65535));
    one(&mut a, ms(1000));
}

/// A client in TIME_WAIT after an active close.
fn time_wait_client(cfg: Config) -> Connection {
    let now = Instant::ZERO;
    let mut c = Connection::connect_with_iss(now, cfg, client_tuple(), Seq(CLIENT_ISS), 0);
    one(&mut c, now);
    c.on_segment(now, &seg(SERVER_ISS, CLIENT_ISS + 1, S | A, 65535));
    one(&mut c, now);
    c.close(now).unwrap();
    one(&mut c, now);
    c.on_segment(now, &seg(SERVER_ISS + 1, CLIENT_ISS + 2, F | A, 65535));
    one(&mut c, now);
    assert_eq!(c.state(), State::TimeWait);
    c
}

#[test]
fn rfc1337_rst_in_time_wait_is_ignored_when_tcp_rfc1337_is_on() {
    let mut c = time_wait_client(Config {
        rfc1337: true,
        ..plain()
    });
    c.on_segment(secs(1), &seg(SERVER_ISS + 2, 0, R, 0));
    assert_eq!(c.state(), State::TimeWait);
    none(&mut c, secs(1));
}

#[test]
fn linux_default_rst_in_time_wait_closes_it() {
    let mut c = time_wait_client(plain());
    c.on_segment(secs(1), &seg(SERVER_ISS + 2, 0, R, 0));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(
        c.take_error(),
        None,
        "no error: the application already closed"
    );
}

#[test]
fn rfc6191_time_wait_accepts_a_syn_with_a_higher_sequence_number() {
    let c = time_wait_client(plain());
    assert!(c.time_wait_accepts_syn(&seg(SERVER_ISS + 100_000, 0, S, 65535)));
    assert!(!c.time_wait_accepts_syn(&seg(SERVER_ISS - 100_000, 0, S, 65535)));
    assert!(!c.time_wait_accepts_syn(&seg(SERVER_ISS + 100_000, 0, S | A, 65535)));
}

#[test]
fn rfc6191_time_wait_with_timestamps_compares_tsval() {
    let now = Instant::ZERO;
    let mut c = Connection::connect_with_iss(now, linux(), client_tuple(), Seq(CLIENT_ISS), 0);
    one(&mut c, now);
    let mut synack = seg(SERVER_ISS, CLIENT_ISS + 1, S | A, 65535);
    synack.options = linux_syn_options(5000);
    c.on_segment(now, &synack);
    one(&mut c, now);
    c.close(now).unwrap();
    one(&mut c, now);
    c.on_segment(
        now,
        &with_ts(seg(SERVER_ISS + 1, CLIENT_ISS + 2, F | A, 500), 5001, 0),
    );
    one(&mut c, now);
    assert_eq!(c.state(), State::TimeWait);
    // A lower sequence number but a higher timestamp is a new incarnation ...
    let mut syn = seg(SERVER_ISS - 1_000_000, 0, S, 65535);
    syn.options = linux_syn_options(6000);
    assert!(c.time_wait_accepts_syn(&syn));
    // ... a higher sequence number with an older timestamp is not.
    let mut old = seg(SERVER_ISS + 1_000_000, 0, S, 65535);
    old.options = linux_syn_options(4000);
    assert!(!c.time_wait_accepts_syn(&old));
}

#[test]
fn rfc9293_3_10_7_4_syn_received_rst_of_passive_open_returns_to_listen() {
    let now = Instant::ZERO;
    let mut s = listener(plain(), now);
    s.on_segment(now, &seg(CLIENT_ISS, 0, S, 65535));
    one(&mut s, now);
    s.on_segment(now, &seg(CLIENT_ISS + 1, 0, R, 0));
    assert_eq!(s.state(), State::Listen);
    assert_eq!(s.take_error(), None);
    assert_eq!(s.poll_timeout(), None);
    // And it can take the next SYN.
    s.on_segment(ms(5), &seg(9, 0, S, 65535));
    assert_eq!(one(&mut s, ms(5)).ack(), 10);
}

#[test]
fn rfc9293_3_10_7_4_syn_received_rst_of_active_open_is_refused() {
    let now = Instant::ZERO;
    let mut a = Connection::connect_with_iss(now, plain(), client_tuple(), Seq(100), 0);
    one(&mut a, now);
    a.on_segment(now, &seg(300, 0, S, 65535));
    assert_eq!(a.state(), State::SynReceived);
    one(&mut a, now);
    a.on_segment(now, &seg(301, 0, R, 0));
    assert_eq!(a.state(), State::Closed);
    assert_eq!(a.take_error(), Some(Error::ConnectionRefused));
}

#[test]
fn freebsd_time_wait_answers_a_syn_ack_with_an_ack_and_ignores_a_duplicate_ack() {
    let cfg = Config {
        rfc5961: false,
        flavor: Some(synack::Flavor::FreeBsd),
        ..plain()
    };
    let mut c = time_wait_client(cfg);
    // tcp_twcheck(): a SYN+ACK in the window is not a reset (RFC 793) but an ACK.
    c.on_segment(secs(1), &seg(SERVER_ISS + 2, CLIENT_ISS + 2, S | A, 65535));
    let ack = one(&mut c, secs(1));
    assert_eq!(
        (ack.flags(), ack.seq(), ack.ack()),
        (A, CLIENT_ISS + 2, SERVER_ISS + 2)
    );
    assert_eq!(c.state(), State::TimeWait);
    // A pure duplicate ACK gets nothing.
    c.on_segment(secs(2), &seg(SERVER_ISS + 2, CLIENT_ISS + 2, A, 65535));
    none(&mut c, secs(2));
    assert_eq!(c.state(), State::TimeWait);
}

#[test]
fn freebsd_simultaneous_open_syn_received_accepts_a_rst_up_to_the_buffer() {
    // A simultaneous open's SYN-RECEIVED is a full FreeBSD connection: its acceptance
    // window is the buffer space (65700), beyond the 65535 it could advertise.
    for (flavor, reset) in [
        (synack::Flavor::FreeBsd, true),
        (synack::Flavor::Linux, false),
    ] {
        let now = Instant::ZERO;
        let cfg = Config {
            rfc5961: false,
            recv_buffer: 65700,
            recv_buffer_max: 65700,
            flavor: Some(flavor),
            ..plain()
        };
        let mut c = Connection::connect_with_iss(now, cfg, client_tuple(), Seq(CLIENT_ISS), 0);
        one(&mut c, now);
        c.on_segment(now, &seg(SERVER_ISS, 0, S, 65535));
        assert_eq!(c.state(), State::SynReceived);
        common::drain(&mut c, now);
        c.on_segment(now, &seg(SERVER_ISS + 1 + 65600, 0, R, 0));
        if reset {
            assert_eq!(c.state(), State::Closed, "{flavor:?}");
            assert_eq!(c.take_error(), Some(Error::ConnectionRefused));
        } else {
            assert_eq!(c.state(), State::SynReceived, "{flavor:?}");
        }
    }
}
