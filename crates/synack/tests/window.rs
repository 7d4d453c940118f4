//! Flow control (RFC 9293 §3.8.6): the advertised window and its right edge, receiver and
//! sender silly-window-syndrome avoidance, the window update when the application reads,
//! and zero-window probing with the persist timer (§3.8.6.1).

mod common;
mod link;
use common::{A, F, P, data, established_client, none, one, seg};
use link::{Impair, Net, Rng, pattern};
use synack::{Config, Duration, Error, Instant, Seq, State};

const CLIENT_ISS: u32 = common::CLIENT_ISS;
const SERVER_ISS: u32 = common::SERVER_ISS;

fn small_receiver() -> Config {
    Config {
        recv_buffer: 32 * 1024,
        ..Config::default()
    }
}

/// Writes `total` pattern bytes from A as the send buffer allows.
fn feed(net: &mut Net, written: &mut u64, total: u64) {
    let mut buf = [0u8; 8192];
    while *written < total {
        let n = ((total - *written) as usize).min(buf.len());
        for (k, b) in buf[..n].iter_mut().enumerate() {
            *b = pattern(0, *written + k as u64);
        }
        match net.a.send(net.now, &buf[..n]) {
            Ok(m) => *written += m as u64,
            Err(Error::WouldBlock) => break,
            Err(e) => panic!("{e}"),
        }
    }
}

/// Reads everything B has, checking the bytes.
fn drain_b(net: &mut Net, read: &mut u64) {
    let mut buf = [0u8; 8192];
    while let Ok(n) = net.b.recv(&mut buf) {
        if n == 0 {
            break;
        }
        for (k, &b) in buf[..n].iter().enumerate() {
            assert_eq!(b, pattern(0, *read + k as u64));
        }
        *read += n as u64;
    }
}

/// Zero-window probes in the log: A's empty segments one below B's last acknowledgment.
fn probes(net: &Net) -> Vec<Instant> {
    let mut last_ack = None;
    let mut out = Vec::new();
    for (t, from_a, s) in &net.log {
        if !from_a {
            last_ack = Some(s.ack);
        } else if s.payload_len == 0 && Some(s.seq + 1u32) == last_ack && !s.flags.fin() {
            out.push(*t);
        }
    }
    out
}

/// RFC 9293 §3.8.6.2.2: B's advertised right edge (SEG.ACK + SEG.WND << scale) never moves
/// back — except by less than one scale unit, the truncation of the scaled field that
/// RFC 7323 §2.4 and its Appendix F describe (the receiver still accepts up to the old
/// edge).
fn assert_right_edge_never_shrinks(net: &Net, shift: u8) {
    let mut edge: Option<Seq> = None;
    for (_, from_a, s) in &net.log {
        if *from_a || s.flags.syn() {
            continue;
        }
        let e = s.ack + (u32::from(s.wnd) << shift);
        if let Some(prev) = edge {
            assert!(
                (e + ((1u32 << shift) - 1)).ge(prev),
                "right edge moved back: {prev:?} -> {e:?}"
            );
            if e.gt(prev) {
                edge = Some(e);
            }
        } else {
            edge = Some(e);
        }
    }
}

#[test]
fn rfc9293_3_8_6_1_zero_window_probes_back_off_and_reading_reopens() {
    let lan = Impair {
        delay: Duration::from_millis(10),
        ..Impair::default()
    };
    let mut net = Net::connected(Config::default(), small_receiver(), lan, lan, 5);
    net.keep_log = true;
    let total = 200_000u64;
    let (mut written, mut read) = (0u64, 0u64);
    // The reader does not read: the window closes.
    for _ in 0..2000 {
        feed(&mut net, &mut written, total);
        if !net.step(net.now + Duration::from_secs(1)) {
            break;
        }
    }
    let window_zero_at = net.now;
    // Full, to within one window-scale unit (128 bytes).
    assert!(net.b.recv_queued() > 32 * 1024 - 128, "B's buffer is full");
    let last_b = net.log.iter().rev().find(|(_, a, _)| !a).unwrap().2;
    assert_eq!(last_b.wnd, 0, "B advertises a zero window");
    assert_eq!(net.a.timer().map(|t| t.0), Some(synack::TimerKind::Persist));
    // Probes for a minute: each answered, each interval twice the one before.
    net.run_until(window_zero_at + Duration::from_secs(60));
    let p = probes(&net);
    assert!(p.len() >= 6, "{p:?}");
    let gaps: Vec<Duration> = p.windows(2).map(|w| w[1] - w[0]).collect();
    for g in gaps.windows(2) {
        assert_eq!(g[1], g[0] * 2, "exponential backoff: {gaps:?}");
    }
    assert_eq!(net.a.state(), State::Established);
    assert!(net.a.stats().window_probes >= 6);
    // Reading reopens the window (a window update) and the transfer completes.
    let reopen = net.now;
    for _ in 0..100_000 {
        drain_b(&mut net, &mut read);
        feed(&mut net, &mut written, total);
        if read == total {
            break;
        }
        assert!(net.step(reopen + Duration::from_secs(60)), "stalled");
    }
    assert_eq!(read, total);
    assert!(
        net.now - reopen < Duration::from_secs(2),
        "no wait for a probe"
    );
    assert_right_edge_never_shrinks(&net, net.b.status().rcv_wscale);
}

#[test]
fn persist_never_gives_up_while_the_peer_answers_but_does_when_it_goes_silent() {
    let lan = Impair {
        delay: Duration::from_millis(10),
        ..Impair::default()
    };
    let mut net = Net::connected(Config::default(), small_receiver(), lan, lan, 6);
    let mut written = 0;
    for _ in 0..2000 {
        feed(&mut net, &mut written, 1 << 20);
        if !net.step(net.now + Duration::from_secs(1)) {
            break;
        }
    }
    // An hour of zero window, the peer answering every probe: far more than tcp_retries2
    // (15) probes, and the connection lives.
    let t = net.now + Duration::from_secs(3600);
    net.run_until(t);
    // Backoff is capped at the maximum RTO (120 s): some 30 probes an hour.
    assert!(net.a.stats().window_probes > 20);
    assert_eq!(net.a.state(), State::Established);
    // The peer vanishes: 15 unanswered probes later, ETIMEDOUT.
    net.b_to_a.loss = 1.0;
    let t = net.now + Duration::from_secs(3600);
    net.run_until(t);
    assert_eq!(net.a.state(), State::Closed);
    assert_eq!(net.a.take_error(), Some(Error::TimedOut));
}

/// RFC 9293 §3.8.6.2.2 receiver SWS avoidance: reading a little from a full buffer does
/// not announce a tiny window; once min(half the buffer, one MSS) is free, a window
/// update goes out.
#[test]
fn rfc9293_3_8_6_2_2_receiver_sws_avoidance_and_window_update_on_read() {
    let now = Instant::ZERO;
    let cfg = Config {
        recv_buffer: 4096,
        ..common::plain()
    };
    let mut s =
        synack::Connection::listen_with_iss(now, cfg, common::server_tuple(), Seq(SERVER_ISS), 0);
    s.on_segment(now, &seg(CLIENT_ISS, 0, common::S, 65535));
    assert_eq!(one(&mut s, now).seg.wnd, 4096);
    s.on_segment(now, &seg(CLIENT_ISS + 1, SERVER_ISS + 1, A, 65535));
    assert_eq!(s.recv_buffer(), 4096);
    static CHUNK: [u8; 512] = [9; 512];
    for i in 0..8u32 {
        s.on_segment(
            now,
            &data(CLIENT_ISS + 1 + 512 * i, SERVER_ISS + 1, A, &CHUNK),
        );
    }
    let acks = common::drain(&mut s, now);
    assert_eq!(acks.last().unwrap().seg.wnd, 0, "the window is closed");
    let mut buf = [0u8; 1000];
    assert_eq!(s.recv(&mut buf[..100]), Ok(100));
    none(&mut s, now);
    assert_eq!(s.recv(&mut buf[..500]), Ok(500));
    // 600 free >= min(2048, 536): the window update.
    let upd = one(&mut s, now);
    assert_eq!((upd.flags(), upd.seg.wnd), (A, 600));
    assert_eq!(upd.ack(), CLIENT_ISS + 1 + 4096);
}

/// RFC 9293 §3.8.6.2.1 sender SWS avoidance: a window smaller than a segment and less than
/// half the largest window offered is not used at once; the persist timer's override then
/// sends what fits.
#[test]
fn rfc9293_3_8_6_2_1_sender_sws_avoidance_with_override_timer() {
    let now = Instant::ZERO;
    let mut c = established_client(now);
    let big = vec![1u8; 5000];
    c.send(now, &big).unwrap();
    let first = common::drain(&mut c, now);
    assert!(first.len() >= 9, "a full window of 536-byte segments");
    let sent: u32 = first.iter().map(|o| o.data.len() as u32).sum();
    assert_eq!(sent, 5000);
    // Everything acknowledged; more data, and the peer offers just 100 bytes.
    c.on_segment(ms(10), &seg(SERVER_ISS + 1, CLIENT_ISS + 1 + 5000, A, 100));
    c.send(ms(10), &big).unwrap();
    none(&mut c, ms(10));
    let (kind, at) = c.timer().unwrap();
    assert_eq!(kind, synack::TimerKind::Persist);
    c.on_timeout(at);
    let out = one(&mut c, at);
    assert_eq!(out.data.len(), 100, "the override sends what fits");
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

/// A peer that never shrinks the window and a reader that reads in odd sizes: the receiver's
/// right edge never moves back over a long lossy transfer.
#[test]
fn right_edge_never_moves_back_under_loss_and_odd_reads() {
    let imp = Impair {
        delay: Duration::from_millis(5),
        loss: 0.03,
        reorder: 0.1,
        jitter: Duration::from_millis(10),
        ..Impair::default()
    };
    let mut net = Net::connected(Config::default(), small_receiver(), imp, imp, 11);
    net.keep_log = true;
    let (mut written, mut read) = (0u64, 0u64);
    let total = 300_000;
    let mut rng = Rng::new(3);
    let mut buf = [0u8; 3000];
    for _ in 0..1_000_000 {
        feed(&mut net, &mut written, total);
        if rng.chance(0.3) {
            let want = rng.size(buf.len());
            if let Ok(n) = net.b.recv(&mut buf[..want]) {
                for (k, &b) in buf[..n].iter().enumerate() {
                    assert_eq!(b, pattern(0, read + k as u64));
                }
                read += n as u64;
            }
        }
        if read == total {
            break;
        }
        if !net.step(net.now + Duration::from_secs(600)) {
            drain_b(&mut net, &mut read);
        }
    }
    assert_eq!(read, total);
    assert_right_edge_never_shrinks(&net, net.b.status().rcv_wscale);
    let _ = P;
}

/// TCP_CORK does not stop zero-window probing; once the window opens the corked byte waits
/// for the cork (200 ms), not for another probe.
#[test]
fn a_corked_sender_still_probes_a_zero_window() {
    let now = Instant::ZERO;
    let mut c = established_client(now);
    c.set_cork(true);
    c.on_segment(now, &seg(SERVER_ISS + 1, CLIENT_ISS + 1, A, 0));
    c.send(now, b"x").unwrap();
    none(&mut c, now);
    let (kind, at) = c.timer().unwrap();
    assert_eq!(kind, synack::TimerKind::Persist);
    c.on_timeout(at);
    let probe = one(&mut c, at);
    assert_eq!((probe.seq(), probe.data.len()), (CLIENT_ISS, 0));
    let t = at + Duration::from_millis(10);
    c.on_segment(t, &seg(SERVER_ISS + 1, CLIENT_ISS + 1, A, 1000));
    none(&mut c, t);
    assert_eq!(c.poll_timeout(), Some(t + Duration::from_millis(200)));
    c.on_timeout(t + Duration::from_millis(200));
    assert_eq!(one(&mut c, t + Duration::from_millis(200)).data, b"x");
}

/// A FIN takes a sequence number but no buffer space: the ACK of a FIN offers the same
/// window as before it (Linux and FreeBSD do; the FreeBSD state-event scripts check
/// `ack 2 win 65535` after a FIN exchange). Keeping the old right edge would show one less.
#[test]
fn rfc9293_3_8_6_2_2_fin_moves_the_right_edge_with_it() {
    let now = Instant::ZERO;
    let mut c = established_client(now);
    let before = c.status();
    c.on_segment(now, &seg(SERVER_ISS + 1, CLIENT_ISS + 1, F | A, 65535));
    let ack = one(&mut c, now);
    assert_eq!(ack.flags(), A);
    assert_eq!(ack.ack(), SERVER_ISS + 2);
    assert_eq!(c.state(), State::CloseWait);
    let after = c.status();
    assert_eq!(
        after.rcv_wnd, before.rcv_wnd,
        "window after the FIN ({}) differs from before it ({})",
        after.rcv_wnd, before.rcv_wnd
    );
    assert_eq!(u32::from(ack.seg.wnd), before.rcv_wnd);
}

/// A server whose receive buffer is 65700 bytes (FreeBSD rounds 65536 up to whole
/// 1460-byte segments), no window scaling, `flavor`; ESTABLISHED with 99 bytes queued.
fn bsd_sized_server(flavor: synack::Flavor) -> synack::Connection {
    let now = Instant::ZERO;
    let cfg = Config {
        recv_buffer: 65700,
        recv_buffer_max: 65700,
        flavor: Some(flavor),
        ..common::plain()
    };
    let mut s =
        synack::Connection::listen_with_iss(now, cfg, common::server_tuple(), Seq(SERVER_ISS), 0);
    s.on_segment(now, &seg(CLIENT_ISS, 0, common::S, 65535));
    assert_eq!(one(&mut s, now).seg.wnd, 65535);
    s.on_segment(now, &seg(CLIENT_ISS + 1, SERVER_ISS + 1, A, 65535));
    static CHUNK: [u8; 99] = [1; 99];
    s.on_segment(now, &data(CLIENT_ISS + 1, SERVER_ISS + 1, A, &CHUNK));
    common::drain(&mut s, now + Duration::from_millis(500));
    s.on_timeout(now + Duration::from_millis(500));
    common::drain(&mut s, now + Duration::from_millis(500));
    s
}

#[test]
fn freebsd_offers_all_free_space_and_accepts_up_to_the_buffer() {
    // FreeBSD tcp_output(): the window is the free space (65601, at most 65535 unscaled),
    // not the last right edge (65535 − 99) that RFC 9293 §3.8.6.2.2's receiver SWS rule
    // keeps.
    let bsd = bsd_sized_server(synack::Flavor::FreeBsd);
    assert_eq!(bsd.status().rcv_wnd, 65535);
    let linux = bsd_sized_server(synack::Flavor::Linux);
    assert_eq!(linux.status().rcv_wnd, 65535 - 99);

    // FreeBSD tcp_input(): a RST 65550 bytes past RCV.NXT is inside the buffer space and so
    // in the window (RFC 5961 §3.2: not exact, a challenge ACK); on Linux it is outside the
    // advertised window and dropped.
    let t = Instant::from_millis(600);
    let rcv_nxt = CLIENT_ISS + 1 + 99;
    for (flavor, challenged) in [
        (synack::Flavor::FreeBsd, true),
        (synack::Flavor::Linux, false),
    ] {
        let mut s = bsd_sized_server(flavor);
        s.on_segment(t, &seg(rcv_nxt + 65550, 0, common::R, 0));
        let out = common::drain(&mut s, t);
        assert_eq!(out.len(), usize::from(challenged), "{flavor:?}: {out:?}");
        if challenged {
            assert_eq!((out[0].flags(), out[0].ack()), (A, rcv_nxt));
        }
        assert_eq!(s.state(), State::Established);
    }
}
