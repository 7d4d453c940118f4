//! RFC 9293 §3.10.7 SEGMENT ARRIVES, row by row: each test is named after the section and
//! the rule it checks, feeds one engine a segment and asserts the segments that come out
//! and the state that results.
//!
//! Numbers: our ISS is `CLIENT_ISS` (client) or `SERVER_ISS` (server); the peer's ISS is the
//! other one. An established client has SND.NXT = CLIENT_ISS+1 and RCV.NXT = SERVER_ISS+1.

mod common;
use common::*;
use synack::{Config, Connection, Error, Instant, Seq, State};

const T0: Instant = Instant::ZERO;
const C1: u32 = CLIENT_ISS + 1;
const S1: u32 = SERVER_ISS + 1;

/// An established client with a given config (no options on the wire).
fn est(cfg: Config) -> Connection {
    let mut c = Connection::connect_with_iss(T0, cfg, client_tuple(), Seq(CLIENT_ISS), 0);
    one(&mut c, T0);
    c.on_segment(T0, &seg(SERVER_ISS, C1, S | A, 65535));
    one(&mut c, T0);
    assert_eq!(c.state(), State::Established);
    c
}

fn read_all(c: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n @ 1..) = c.recv(&mut buf) {
        out.extend_from_slice(&buf[..n]);
    }
    out
}

// ---- §3.10.7.1 CLOSED ------------------------------------------------------------------

#[test]
fn s3_10_7_1_closed_tcb_answers_without_ack_with_rst_ack() {
    let mut c = est(plain());
    c.abort(T0);
    one(&mut c, T0);
    c.on_segment(T0, &data(77, 0, P, b"abc"));
    let r = one(&mut c, T0);
    assert_eq!((r.flags(), r.seq(), r.ack()), (R | A, 0, 80));
}

#[test]
fn s3_10_7_1_closed_tcb_answers_with_ack_with_rst_at_seg_ack() {
    let mut c = est(plain());
    c.abort(T0);
    one(&mut c, T0);
    c.on_segment(T0, &seg(77, 4242, A, 100));
    let r = one(&mut c, T0);
    assert_eq!((r.flags(), r.seq()), (R, 4242));
    c.on_segment(T0, &seg(77, 4242, R | A, 0));
    none(&mut c, T0);
}

// ---- §3.10.7.2 LISTEN ------------------------------------------------------------------

#[test]
fn s3_10_7_2_listen_first_rst_is_ignored() {
    let mut s = listener(plain(), T0);
    s.on_segment(T0, &seg(1, 2, R, 0));
    s.on_segment(T0, &seg(1, 2, R | A, 0));
    none(&mut s, T0);
    assert_eq!(s.state(), State::Listen);
}

#[test]
fn s3_10_7_2_listen_second_ack_gets_rst_at_seg_ack() {
    let mut s = listener(plain(), T0);
    s.on_segment(T0, &seg(1, 5000, A, 100));
    let r = one(&mut s, T0);
    assert_eq!((r.flags(), r.seq(), r.seg.wnd), (R, 5000, 0));
    assert_eq!(s.state(), State::Listen);
}

#[test]
fn s3_10_7_2_listen_third_syn_moves_to_syn_received_and_sends_syn_ack() {
    let mut s = listener(plain(), T0);
    s.on_segment(T0, &seg(CLIENT_ISS, 0, S, 5840));
    assert_eq!(s.state(), State::SynReceived);
    let sa = one(&mut s, T0);
    assert_eq!((sa.flags(), sa.seq(), sa.ack()), (S | A, SERVER_ISS, C1));
    let st = s.status();
    assert_eq!(
        (st.irs, st.rcv_nxt, st.snd_una, st.snd_nxt),
        (Seq(CLIENT_ISS), Seq(C1), Seq(SERVER_ISS), Seq(S1))
    );
    assert_eq!(st.snd_wnd, 5840);
}

#[test]
fn s3_10_7_2_listen_fourth_other_segments_are_dropped() {
    let mut s = listener(plain(), T0);
    s.on_segment(T0, &seg(1, 0, F, 100));
    s.on_segment(T0, &data(1, 0, P, b"hi"));
    none(&mut s, T0);
    assert_eq!(s.state(), State::Listen);
    assert_eq!(s.stats().drops, 2);
}

// ---- §3.10.7.3 SYN-SENT ----------------------------------------------------------------

#[test]
fn s3_10_7_3_syn_sent_unacceptable_ack_gets_rst_at_seg_ack() {
    for bad_ack in [CLIENT_ISS, CLIENT_ISS - 1, CLIENT_ISS + 2] {
        let mut c = client(plain(), T0);
        c.on_segment(T0, &seg(SERVER_ISS, bad_ack, S | A, 65535));
        let r = one(&mut c, T0);
        assert_eq!((r.flags(), r.seq()), (R, bad_ack));
        assert_eq!(c.state(), State::SynSent);
    }
    // ... unless the segment is itself a RST: then just drop it.
    let mut c = client(plain(), T0);
    c.on_segment(T0, &seg(0, CLIENT_ISS + 5, R | A, 0));
    none(&mut c, T0);
    assert_eq!(c.state(), State::SynSent);
}

#[test]
fn s3_10_7_3_syn_sent_rst_with_acceptable_ack_is_connection_refused() {
    let mut c = client(plain(), T0);
    c.on_segment(T0, &seg(0, C1, R | A, 0));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.take_error(), Some(Error::ConnectionRefused));
    none(&mut c, T0);
}

#[test]
fn s3_10_7_3_syn_sent_rst_without_ack_is_dropped() {
    let mut c = client(plain(), T0);
    c.on_segment(T0, &seg(0, 0, R, 0));
    assert_eq!(c.state(), State::SynSent);
    none(&mut c, T0);
}

#[test]
fn s3_10_7_3_syn_sent_syn_ack_establishes_and_acks() {
    let mut c = client(plain(), T0);
    c.on_segment(T0, &seg(SERVER_ISS, C1, S | A, 5792));
    assert_eq!(c.state(), State::Established);
    let a = one(&mut c, T0);
    assert_eq!((a.flags(), a.seq(), a.ack()), (A, C1, S1));
    let st = c.status();
    assert_eq!((st.snd_una, st.snd_wnd, st.snd_mss), (Seq(C1), 5792, 536));
}

#[test]
fn s3_10_7_3_syn_sent_syn_ack_with_data_continues_at_step_six() {
    let mut c = client(plain(), T0);
    let mut sa = data(SERVER_ISS, C1, S | A | F, b"banner");
    sa.wnd = 1000;
    c.on_segment(T0, &sa);
    assert_eq!(c.state(), State::CloseWait);
    let a = one(&mut c, T0);
    assert_eq!((a.flags(), a.ack()), (A, S1 + 6 + 1));
    assert_eq!(read_all(&mut c), b"banner");
}

#[test]
fn s3_10_7_3_syn_sent_syn_alone_is_simultaneous_open() {
    let mut c = client(plain(), T0);
    c.on_segment(T0, &seg(SERVER_ISS, 0, S, 65535));
    assert_eq!(c.state(), State::SynReceived);
    let sa = one(&mut c, T0);
    assert_eq!((sa.flags(), sa.seq(), sa.ack()), (S | A, CLIENT_ISS, S1));
}

#[test]
fn s3_10_7_3_syn_sent_fifth_neither_syn_nor_rst_is_dropped() {
    let mut c = client(plain(), T0);
    c.on_segment(T0, &seg(SERVER_ISS, C1, A, 65535));
    c.on_segment(T0, &data(SERVER_ISS, 0, P, b"x"));
    none(&mut c, T0);
    assert_eq!(c.state(), State::SynSent);
}

// ---- §3.10.7.4 first: sequence number check (the four cases) ---------------------------

#[test]
fn s3_10_7_4_first_len0_wnd_positive_accepts_inside_the_window_only() {
    let mut c = est(plain());
    // In window: a window update is processed, nothing sent.
    c.on_segment(T0, &seg(S1 + 100, C1, A, 1234));
    none(&mut c, T0);
    // Before RCV.NXT: not acceptable → <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
    c.on_segment(T0, &seg(S1 - 1, C1, A, 1234));
    let a = one(&mut c, T0);
    assert_eq!((a.flags(), a.seq(), a.ack()), (A, C1, S1));
    // Beyond RCV.NXT+RCV.WND: not acceptable.
    let wnd = c.status().rcv_wnd;
    c.on_segment(T0, &seg(S1 + wnd, C1, A, 1234));
    assert_eq!(one(&mut c, T0).ack(), S1);
}

#[test]
fn s3_10_7_4_first_len_positive_accepts_overlap_and_trims_old_bytes() {
    let mut c = est(plain());
    c.on_segment(T0, &data(S1, C1, P | A, b"hello"));
    assert_eq!(one(&mut c, T0).ack(), S1 + 5);
    // A retransmission overlapping the start: only the new bytes are delivered.
    c.on_segment(T0, &data(S1 + 3, C1, P | A, b"lo world"));
    assert_eq!(one(&mut c, T0).ack(), S1 + 11);
    assert_eq!(read_all(&mut c), b"hello world");
    // Entirely old: not acceptable, re-ACK.
    c.on_segment(T0, &data(S1, C1, P | A, b"hello"));
    assert_eq!(one(&mut c, T0).ack(), S1 + 11);
    assert_eq!(read_all(&mut c), b"");
}

#[test]
fn s3_10_7_4_first_zero_window_accepts_only_rcv_nxt_and_still_processes_the_ack() {
    let mut c = est(Config {
        recv_buffer: 4,
        ..plain()
    });
    c.send(T0, b"req").unwrap();
    one(&mut c, T0);
    c.on_segment(T0, &data(S1, C1, A, b"full"));
    let a = one(&mut c, T0);
    assert_eq!((a.ack(), a.seg.wnd), (S1 + 4, 0));
    assert_eq!(c.status().rcv_wnd, 0);
    // len 0, wnd 0: SEG.SEQ = RCV.NXT is acceptable (the ACK of our 3 bytes counts).
    c.on_segment(T0, &seg(S1 + 4, C1 + 3, A, 1000));
    none(&mut c, T0);
    assert_eq!(c.status().snd_una, Seq(C1 + 3));
    // len > 0, wnd 0: text is not accepted, the ACK is answered.
    c.on_segment(T0, &data(S1 + 4, C1 + 3, A, b"more"));
    assert_eq!(one(&mut c, T0).ack(), S1 + 4);
    // len 0, wnd 0, SEG.SEQ != RCV.NXT: not acceptable.
    c.on_segment(T0, &seg(S1 + 5, C1 + 3, A, 1000));
    assert_eq!(one(&mut c, T0).ack(), S1 + 4);
    assert_eq!(read_all(&mut c), b"full");
}

// ---- §3.10.7.4 second: RST in the later states -----------------------------------------

#[test]
fn s3_10_7_4_second_rst_in_closing_and_last_ack_closes_with_econnreset() {
    // RFC 9293 only deletes the TCB here; Linux (tcp_reset()) and FreeBSD (tcp_input())
    // also report ECONNRESET to an application still holding the socket.
    // LAST-ACK: the peer closed first, we closed; a RST at RCV.NXT ends it.
    let mut c = est(plain());
    c.on_segment(T0, &seg(S1, C1, F | A, 65535));
    one(&mut c, T0);
    c.close(T0).unwrap();
    one(&mut c, T0);
    assert_eq!(c.state(), State::LastAck);
    c.on_segment(T0, &seg(S1 + 1, 0, R, 0));
    assert_eq!(
        (c.state(), c.take_error()),
        (State::Closed, Some(Error::ConnectionReset))
    );
    // CLOSING.
    let mut c = est(plain());
    c.close(T0).unwrap();
    one(&mut c, T0);
    c.on_segment(T0, &seg(S1, C1, F | A, 65535));
    assert_eq!(c.state(), State::Closing);
    // Linux acknowledges the FIN with a bare ACK.
    let ack = one(&mut c, T0);
    assert_eq!((ack.flags(), ack.seq(), ack.ack()), (A, C1 + 1, S1 + 1));
    c.on_segment(T0, &seg(S1 + 1, 0, R, 0));
    assert_eq!(
        (c.state(), c.take_error()),
        (State::Closed, Some(Error::ConnectionReset))
    );
}

#[test]
fn freebsd_closing_resends_the_fin_with_the_ack_but_not_with_a_challenge_ack() {
    let cfg = Config {
        flavor: Some(synack::Flavor::FreeBsd),
        ..plain()
    };
    let mut c = est(cfg);
    c.close(T0).unwrap();
    let fin = one(&mut c, T0);
    assert_eq!((fin.flags(), fin.seq()), (F | A, C1));
    // The peer's FIN crosses ours: FreeBSD's ACK of it carries the FIN again, at its
    // sequence number (tcp_output() backs SND.NXT up over the unacknowledged FIN).
    c.on_segment(T0, &seg(S1, C1, F | A, 65535));
    assert_eq!(c.state(), State::Closing);
    let ack = one(&mut c, T0);
    assert_eq!((ack.flags(), ack.seq(), ack.ack()), (F | A, C1, S1 + 1));
    // A SYN gets tcp_respond()'s bare challenge ACK at SND.NXT.
    c.on_segment(T0, &seg(S1 + 1000, 0, S, 65535));
    let ch = one(&mut c, T0);
    assert_eq!((ch.flags(), ch.seq(), ch.ack()), (A, C1 + 1, S1 + 1));
    // Our FIN acknowledged: TIME-WAIT.
    c.on_segment(T0, &seg(S1 + 1, C1 + 1, A, 65535));
    assert_eq!(c.state(), State::TimeWait);
}

// ---- §3.10.7.4 fourth: SYN ---------------------------------------------------------------

#[test]
fn s3_10_7_4_fourth_syn_in_syn_received_of_passive_open_returns_to_listen() {
    let mut s = listener(plain(), T0);
    s.on_segment(T0, &seg(CLIENT_ISS, 0, S, 65535));
    one(&mut s, T0);
    // A different SYN inside the window (e.g. the client restarted).
    s.on_segment(T0, &seg(C1 + 10, 0, S, 65535));
    assert_eq!(s.state(), State::Listen);
    none(&mut s, T0);
}

// ---- §3.10.7.4 fifth: ACK ----------------------------------------------------------------

#[test]
fn s3_10_7_4_fifth_segment_without_ack_is_dropped() {
    let mut c = est(plain());
    c.on_segment(T0, &data(S1, 0, P, b"no ack"));
    none(&mut c, T0);
    assert_eq!(c.recv_queued(), 0);
}

#[test]
fn s3_10_7_4_fifth_syn_received_acceptable_ack_establishes() {
    let mut s = listener(plain(), T0);
    s.on_segment(T0, &seg(CLIENT_ISS, 0, S, 65535));
    one(&mut s, T0);
    s.on_segment(T0, &seg(C1, S1, A, 700));
    assert_eq!(s.state(), State::Established);
    assert_eq!(s.status().snd_wnd, 700);
    none(&mut s, T0);
}

#[test]
fn s3_10_7_4_fifth_syn_received_unacceptable_ack_gets_rst() {
    let mut s = listener(plain(), T0);
    s.on_segment(T0, &seg(CLIENT_ISS, 0, S, 65535));
    one(&mut s, T0);
    s.on_segment(T0, &seg(C1, SERVER_ISS + 7, A, 700));
    let r = one(&mut s, T0);
    assert_eq!((r.flags(), r.seq()), (R, SERVER_ISS + 7));
    assert_eq!(s.state(), State::SynReceived);
}

#[test]
fn s3_10_7_4_fifth_established_ack_of_unsent_data_is_acked_and_dropped() {
    let mut c = est(plain());
    c.on_segment(T0, &data(S1, C1 + 10, P | A, b"data"));
    let a = one(&mut c, T0);
    assert_eq!((a.flags(), a.ack()), (A, S1));
    assert_eq!(
        c.recv_queued(),
        0,
        "the text of the dropped segment is not delivered"
    );
}

#[test]
fn s3_10_7_4_fifth_established_new_ack_advances_snd_una_and_window() {
    let mut c = est(plain());
    c.send(T0, b"0123456789").unwrap();
    one(&mut c, T0);
    assert!(c.poll_timeout().is_some());
    c.on_segment(T0, &seg(S1, C1 + 4, A, 3000));
    let st = c.status();
    assert_eq!(
        (st.snd_una, st.snd_wnd, st.send_queued),
        (Seq(C1 + 4), 3000, 6)
    );
    // A duplicate ACK is ignored (no window change from an older SND.WL2).
    c.on_segment(T0, &seg(S1, C1 + 2, A, 10));
    assert_eq!(c.status().snd_una, Seq(C1 + 4));
    assert_eq!(c.status().snd_wnd, 3000);
    c.on_segment(T0, &seg(S1, C1 + 10, A, 3000));
    assert_eq!(c.status().send_queued, 0);
    assert_eq!(
        c.poll_timeout(),
        None,
        "everything acknowledged: the timer stops"
    );
    none(&mut c, T0);
}

#[test]
fn s3_10_7_4_fifth_fin_wait_1_partial_ack_stays_full_ack_moves_to_fin_wait_2() {
    let mut c = est(plain());
    c.send(T0, b"abc").unwrap();
    c.close(T0).unwrap();
    let fin = one(&mut c, T0);
    assert_eq!((fin.flags(), fin.data.len()), (F | P | A, 3));
    c.on_segment(T0, &seg(S1, C1 + 3, A, 65535));
    assert_eq!(c.state(), State::FinWait1);
    c.on_segment(T0, &seg(S1, C1 + 4, A, 65535));
    assert_eq!(c.state(), State::FinWait2);
}

#[test]
fn s3_10_7_4_fifth_closing_ack_of_fin_enters_time_wait() {
    let mut c = est(plain());
    c.close(T0).unwrap();
    one(&mut c, T0);
    c.on_segment(T0, &seg(S1, C1, F | A, 65535));
    assert_eq!(c.state(), State::Closing);
    assert_eq!(one(&mut c, T0).ack(), S1 + 1);
    c.on_segment(T0, &seg(S1 + 1, C1, A, 65535)); // our FIN (at C1) not acked: ignored
    assert_eq!(c.state(), State::Closing);
    c.on_segment(T0, &seg(S1 + 1, C1 + 1, A, 65535));
    assert_eq!(c.state(), State::TimeWait);
}

#[test]
fn s3_10_7_4_fifth_last_ack_ack_of_fin_closes() {
    let mut s = est(plain());
    s.on_segment(T0, &seg(S1, C1, F | A, 65535));
    one(&mut s, T0);
    s.close(T0).unwrap();
    let fin = one(&mut s, T0);
    assert_eq!((fin.flags(), fin.seq()), (F | A, C1));
    s.on_segment(T0, &seg(S1 + 1, C1, A, 65535));
    assert_eq!(s.state(), State::LastAck);
    s.on_segment(T0, &seg(S1 + 1, C1 + 1, A, 65535));
    assert_eq!(s.state(), State::Closed);
    assert_eq!(s.poll_timeout(), None);
}

// ---- §3.10.7.4 seventh: segment text -----------------------------------------------------

#[test]
fn s3_10_7_4_seventh_established_text_is_delivered_and_acked() {
    let mut c = est(plain());
    c.on_segment(T0, &data(S1, C1, P | A, b"0123456789"));
    let a = one(&mut c, T0);
    assert_eq!((a.flags(), a.seq(), a.ack()), (A, C1, S1 + 10));
    assert_eq!(read_all(&mut c), b"0123456789");
}

#[test]
fn s3_10_7_4_seventh_out_of_order_text_gets_a_duplicate_ack() {
    let mut c = est(plain());
    c.on_segment(T0, &data(S1 + 5, C1, P | A, b"later"));
    assert_eq!(one(&mut c, T0).ack(), S1);
    assert_eq!(c.recv_queued(), 0);
}

#[test]
fn s3_10_7_4_seventh_text_after_fin_is_ignored() {
    let mut c = est(plain());
    c.on_segment(T0, &seg(S1, C1, F | A, 65535));
    one(&mut c, T0);
    assert_eq!(c.state(), State::CloseWait);
    c.on_segment(T0, &data(S1 + 1, C1, P | A, b"ghost"));
    assert_eq!(c.recv_queued(), 0);
}

// ---- §3.10.7.4 eighth: FIN ---------------------------------------------------------------

#[test]
fn s3_10_7_4_eighth_established_fin_enters_close_wait_and_reads_return_zero() {
    let mut c = est(plain());
    c.on_segment(T0, &data(S1, C1, F | P | A, b"last"));
    assert_eq!(c.state(), State::CloseWait);
    assert_eq!(one(&mut c, T0).ack(), S1 + 5);
    let mut buf = [0u8; 8];
    assert_eq!(c.recv(&mut buf), Ok(4));
    assert_eq!(c.recv(&mut buf), Ok(0));
    // Sending still works in CLOSE-WAIT.
    assert_eq!(c.send(T0, b"reply"), Ok(5));
}

#[test]
fn s3_10_7_4_eighth_fin_wait_1_fin_without_ack_of_ours_enters_closing() {
    let mut c = est(plain());
    c.close(T0).unwrap();
    one(&mut c, T0);
    c.on_segment(T0, &seg(S1, C1, F | A, 65535));
    assert_eq!(c.state(), State::Closing);
}

#[test]
fn s3_10_7_4_eighth_fin_wait_2_fin_enters_time_wait() {
    let mut c = est(plain());
    c.close(T0).unwrap();
    one(&mut c, T0);
    c.on_segment(T0, &seg(S1, C1 + 1, A, 65535));
    c.on_segment(T0, &seg(S1, C1 + 1, F | A, 65535));
    assert_eq!(c.state(), State::TimeWait);
    assert_eq!(one(&mut c, T0).ack(), S1 + 1);
}

#[test]
fn s3_10_7_4_eighth_fin_out_of_order_is_not_processed() {
    let mut c = est(plain());
    c.on_segment(T0, &seg(S1 + 3, C1, F | A, 65535));
    assert_eq!(c.state(), State::Established);
    assert_eq!(one(&mut c, T0).ack(), S1);
}

#[test]
fn s3_10_7_4_eighth_syn_received_fin_with_ack_enters_close_wait() {
    let mut s = listener(plain(), T0);
    s.on_segment(T0, &seg(CLIENT_ISS, 0, S, 65535));
    one(&mut s, T0);
    s.on_segment(T0, &seg(C1, S1, F | A, 65535));
    assert_eq!(s.state(), State::CloseWait);
    assert_eq!(one(&mut s, T0).ack(), C1 + 1);
}

#[test]
fn s3_10_7_4_eighth_time_wait_fin_is_reacked_and_restarts_the_timer() {
    let mut c = est(plain());
    c.close(T0).unwrap();
    one(&mut c, T0);
    c.on_segment(T0, &seg(S1, C1 + 1, F | A, 65535));
    one(&mut c, T0);
    assert_eq!(c.poll_timeout(), Some(secs(60)));
    c.on_segment(secs(10), &seg(S1, C1 + 1, F | A, 65535));
    let a = one(&mut c, secs(10));
    assert_eq!((a.flags(), a.ack()), (A, S1 + 1));
    assert_eq!(c.poll_timeout(), Some(secs(70)));
}

// ---- §3.10.2-§3.10.4 user calls in each state --------------------------------------------

#[test]
fn s3_10_2_send_and_s3_10_3_receive_errors_by_state() {
    let mut l = listener(plain(), T0);
    let mut buf = [0u8; 4];
    assert_eq!(l.send(T0, b"x"), Err(Error::NotConnected));
    assert_eq!(l.recv(&mut buf), Err(Error::NotConnected));
    let mut c = client(plain(), T0);
    assert_eq!(c.send(T0, b"early"), Ok(5), "queued in SYN-SENT");
    assert_eq!(c.recv(&mut buf), Err(Error::WouldBlock));
    c.on_segment(T0, &seg(SERVER_ISS, C1, S | A, 65535));
    // The queued data leaves right after the handshake, carrying the ACK.
    let d = one(&mut c, T0);
    assert_eq!(
        (d.flags(), d.seq(), d.ack(), d.data.as_slice()),
        (P | A, C1, S1, &b"early"[..])
    );
    c.shutdown_write(T0).unwrap();
    assert_eq!(c.send(T0, b"x"), Err(Error::BrokenPipe));
    assert_eq!(Error::BrokenPipe.errno(), 32);
}

#[test]
fn s3_10_4_close_in_syn_sent_and_listen_deletes_the_tcb() {
    let mut c = client(plain(), T0);
    c.close(T0).unwrap();
    assert_eq!(c.state(), State::Closed);
    none(&mut c, T0);
    let mut l = listener(plain(), T0);
    l.close(T0).unwrap();
    assert_eq!(l.state(), State::Closed);
}

#[test]
fn s3_10_4_close_in_syn_received_sends_fin_after_the_handshake() {
    let mut s = listener(plain(), T0);
    s.on_segment(T0, &seg(CLIENT_ISS, 0, S, 65535));
    one(&mut s, T0);
    s.close(T0).unwrap();
    assert_eq!(s.state(), State::FinWait1);
    none(&mut s, T0);
    s.on_segment(T0, &seg(C1, S1, A, 65535));
    let fin = one(&mut s, T0);
    assert_eq!((fin.flags(), fin.seq()), (F | A, S1));
    s.on_segment(T0, &seg(C1, S1 + 1, A, 65535));
    assert_eq!(s.state(), State::FinWait2);
}

#[test]
fn s3_10_5_abort_in_listen_syn_sent_and_time_wait_sends_nothing() {
    let mut l = listener(plain(), T0);
    l.abort(T0);
    none(&mut l, T0);
    let mut c = client(plain(), T0);
    c.abort(T0);
    none(&mut c, T0);
    assert!(l.is_closed() && c.is_closed());
}

#[test]
fn s3_10_7_2_listen_syn_with_fin_is_discarded_like_linux() {
    let mut s = listener(plain(), T0);
    s.on_segment(T0, &seg(CLIENT_ISS, 0, S | F, 65535));
    none(&mut s, T0);
    assert_eq!(s.state(), State::Listen);
}

#[test]
fn s3_8_6_2_2_reading_a_full_buffer_sends_a_window_update() {
    let mut c = est(Config {
        recv_buffer: 1000,
        ..plain()
    });
    c.on_segment(T0, &data(S1, C1, A, &[1u8; 1000]));
    let a = one(&mut c, T0);
    assert_eq!((a.ack(), a.seg.wnd), (S1 + 1000, 0));
    let mut buf = [0u8; 100];
    assert_eq!(c.recv(&mut buf), Ok(100));
    none(&mut c, T0); // 100 bytes is less than min(buffer/2, MSS) = 500
    let mut big = [0u8; 900];
    assert_eq!(c.recv(&mut big), Ok(900));
    let upd = one(&mut c, T0);
    assert_eq!((upd.flags(), upd.ack(), upd.seg.wnd), (A, S1 + 1000, 1000));
}

#[test]
fn timer_query_names_the_running_timer() {
    use synack::TimerKind;
    let mut c = client(plain(), T0);
    assert_eq!(c.timer(), Some((TimerKind::Retransmit, secs(1))));
    c.on_segment(T0, &seg(SERVER_ISS, C1, S | A, 65535));
    one(&mut c, T0);
    assert_eq!(c.timer(), None);
    c.close(T0).unwrap();
    one(&mut c, T0);
    c.on_segment(T0, &seg(S1, C1 + 1, F | A, 65535));
    assert_eq!(c.timer(), Some((TimerKind::TimeWait, secs(60))));
}

#[test]
fn s3_10_4_close_in_syn_received_with_queued_data_waits_for_established() {
    let mut s = listener(plain(), T0);
    s.on_segment(T0, &seg(CLIENT_ISS, 0, S, 65535));
    one(&mut s, T0);
    assert_eq!(s.send(T0, b"hello"), Ok(5));
    s.shutdown_write(T0).unwrap();
    assert_eq!(s.state(), State::SynReceived);
    none(&mut s, T0);
    s.on_segment(T0, &seg(C1, S1, A, 65535));
    assert_eq!(s.state(), State::FinWait1);
    let d = one(&mut s, T0);
    assert_eq!(
        (d.flags(), d.seq(), d.data.as_slice()),
        (F | P | A, S1, &b"hello"[..])
    );
    assert_eq!(
        trail_text(&mut s),
        "CLOSED→LISTEN→SYN_RCVD→ESTABLISHED→FIN_WAIT_1"
    );
}

#[test]
fn s3_5_2_rst_carrying_data_is_accepted() {
    // SHLD-2: a RST may carry data (a diagnostic); it still resets at RCV.NXT.
    let mut c = est(plain());
    c.on_segment(T0, &data(S1, 0, R, b"diagnostic"));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.take_error(), Some(Error::ConnectionReset));
}

#[test]
fn s3_10_7_4_fourth_syn_in_time_wait_gets_a_challenge_ack() {
    let mut c = est(plain());
    c.close(T0).unwrap();
    one(&mut c, T0);
    c.on_segment(T0, &seg(S1, C1 + 1, F | A, 65535));
    one(&mut c, T0);
    assert_eq!(c.state(), State::TimeWait);
    // The host asks time_wait_accepts_syn first; a SYN it does not take over gets a
    // challenge ACK (RFC 5961 §4) and TIME_WAIT goes on.
    c.on_segment(secs(1), &seg(S1 + 5, 0, S, 65535));
    let a = one(&mut c, secs(1));
    assert_eq!((a.flags(), a.seq(), a.ack()), (A, C1 + 1, S1 + 1));
    assert_eq!(c.state(), State::TimeWait);
}

#[test]
fn s3_10_7_4_fifth_close_wait_processes_acks_like_established() {
    let mut c = est(plain());
    c.on_segment(T0, &seg(S1, C1, F | A, 65535));
    one(&mut c, T0);
    c.send(T0, b"answer").unwrap();
    one(&mut c, T0);
    c.on_segment(T0, &seg(S1 + 1, C1 + 6, A, 4000));
    let st = c.status();
    assert_eq!(
        (st.state, st.snd_una, st.snd_wnd),
        (State::CloseWait, Seq(C1 + 6), 4000)
    );
}

#[test]
fn freebsd_acks_every_second_segment_whatever_its_size() {
    for (flavor, acked_at_once) in [
        (synack::Flavor::FreeBsd, true),
        (synack::Flavor::Linux, false),
    ] {
        let cfg = Config {
            flavor: Some(flavor),
            quickacks: 0,
            ..plain()
        };
        let mut c = est(cfg);
        // Two small in-order segments: FreeBSD's DELAY_ACK() delays only the first;
        // RFC 1122 §4.2.3.2 (Linux) waits for two full-sized ones or the timer.
        c.on_segment(T0, &data(S1, C1, A, b"a"));
        none(&mut c, T0);
        c.on_segment(T0, &data(S1 + 1, C1, A, b"bc"));
        let out = drain(&mut c, T0);
        if acked_at_once {
            assert_eq!(out.len(), 1, "{flavor:?}");
            assert_eq!(out[0].ack(), S1 + 3);
        } else {
            assert!(out.is_empty(), "{flavor:?}: {out:?}");
        }
    }
}

#[test]
fn retransmitted_syn_in_syn_received_gets_the_syn_ack_again() {
    // Linux tcp_check_req(): the peer's SYN again means our SYN-ACK was lost.
    let mut s = listener(plain(), T0);
    s.on_segment(T0, &seg(CLIENT_ISS, 0, S, 65535));
    let first = one(&mut s, T0);
    assert_eq!(first.flags(), S | A);
    let t = Instant::from_millis(300);
    s.on_segment(t, &seg(CLIENT_ISS, 0, S, 65535));
    let again = one(&mut s, t);
    assert_eq!(
        (again.flags(), again.seq(), again.ack()),
        (S | A, SERVER_ISS, C1)
    );
    assert_eq!(s.state(), State::SynReceived);
    // A SYN with another sequence number is not a retransmission: no SYN-ACK for it.
    s.on_segment(t, &seg(CLIENT_ISS + 7, 0, S, 65535));
    assert!(drain(&mut s, t).iter().all(|o| o.flags() != (S | A)));
    // The handshake still completes.
    let mut s = listener(plain(), T0);
    s.on_segment(T0, &seg(CLIENT_ISS, 0, S, 65535));
    one(&mut s, T0);
    s.on_segment(t, &seg(CLIENT_ISS, 0, S, 65535));
    one(&mut s, t);
    s.on_segment(t, &seg(C1, S1, A, 65535));
    assert_eq!(s.state(), State::Established);
}

#[test]
fn linux_delays_the_ack_of_a_fin_after_data_but_not_on_a_fresh_connection() {
    // tcp_basic_server.pkt: data, then FIN → the FIN's ACK 40 ms later (ato).
    let cfg = Config { ..plain() };
    let mut c = est(cfg.clone());
    c.on_segment(T0, &data(S1, C1, A | P, b"data"));
    assert_eq!(one(&mut c, T0).ack(), S1 + 4);
    c.on_segment(T0, &seg(S1 + 4, C1, F | A, 65535));
    assert_eq!(c.state(), State::CloseWait);
    none(&mut c, T0);
    let at = c.poll_timeout().unwrap();
    assert_eq!(at, Instant::from_millis(40));
    c.on_timeout(at);
    assert_eq!(one(&mut c, at).ack(), S1 + 5);
    // close-remote-fin-then-close.pkt: no data ever arrived (ato still 0) → at once.
    let mut c = est(cfg);
    c.on_segment(T0, &seg(S1, C1, F | A, 65535));
    assert_eq!(one(&mut c, T0).ack(), S1 + 1);
    // FreeBSD acknowledges the FIN at once.
    let mut c = est(Config {
        flavor: Some(synack::Flavor::FreeBsd),
        ..plain()
    });
    c.on_segment(T0, &data(S1, C1, A | P, b"data"));
    common::drain(&mut c, T0);
    c.on_segment(T0, &seg(S1 + 4, C1, F | A, 65535));
    assert_eq!(one(&mut c, T0).ack(), S1 + 5);
}

#[test]
fn freebsd_keeps_a_simultaneous_open_syns_text_until_established() {
    for (flavor, kept) in [
        (synack::Flavor::FreeBsd, true),
        (synack::Flavor::Linux, false),
    ] {
        let cfg = Config {
            flavor: Some(flavor),
            ..plain()
        };
        let mut c = Connection::connect_with_iss(T0, cfg, client_tuple(), Seq(CLIENT_ISS), 0);
        one(&mut c, T0);
        // SYN+FIN with three bytes: SYN-RECEIVED, the SYN-ACK acknowledges only the SYN.
        c.on_segment(T0, &data(SERVER_ISS, 0, S | F, b"abc"));
        assert_eq!(c.state(), State::SynReceived);
        let synack = one(&mut c, T0);
        assert_eq!((synack.flags(), synack.ack()), (S | A, S1));
        let mut buf = [0u8; 8];
        assert_eq!(c.recv(&mut buf), Err(Error::WouldBlock));
        // The handshake completes: FreeBSD delivers the text (the FIN is forgotten).
        c.on_segment(T0, &seg(S1 + 3, C1, A, 65535));
        assert_eq!(c.state(), State::Established, "{flavor:?}");
        if kept {
            assert_eq!(c.recv(&mut buf), Ok(3));
            assert_eq!(&buf[..3], b"abc");
            assert_eq!(c.status().rcv_nxt, Seq(S1 + 3));
        } else {
            assert_eq!(c.recv(&mut buf), Err(Error::WouldBlock));
        }
    }
}
