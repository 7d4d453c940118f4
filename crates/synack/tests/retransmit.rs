//! Retransmission (RFC 6298, RFC 5681 §3.2), the end of a dead connection (tcp_retries2,
//! TCP_USER_TIMEOUT) and keepalive (RFC 9293 §3.8.4).

mod common;
mod link;
use common::{A, P, S, data, drain, established_client, one, seg};
use link::{Impair, Net};
use synack::{Config, Connection, Duration, Error, Instant, Seq, State, TcpFlags};

const CLIENT_ISS: u32 = common::CLIENT_ISS;
const SERVER_ISS: u32 = common::SERVER_ISS;

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

/// Sends into silence; returns the times of segments sent and when the connection closed.
fn silent(c: &mut Connection, limit: Instant) -> (Vec<Instant>, Option<Instant>) {
    let mut sent = Vec::new();
    let mut now = Instant::ZERO;
    loop {
        for _ in drain(c, now) {
            sent.push(now);
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

/// A client whose handshake measured `rtt`.
fn client_with_rtt(cfg: Config, rtt: Duration) -> Connection {
    let mut c = Connection::connect_with_iss(
        Instant::ZERO,
        cfg,
        common::client_tuple(),
        Seq(CLIENT_ISS),
        0,
    );
    one(&mut c, Instant::ZERO);
    let t = Instant::ZERO + rtt;
    c.on_segment(t, &seg(SERVER_ISS, CLIENT_ISS + 1, S | A, 65535));
    one(&mut c, t);
    c
}

#[test]
fn rfc6298_rto_from_the_handshake_sample_then_estimates() {
    let c = client_with_rtt(common::plain(), Duration::from_millis(100));
    let i = c.info();
    // §2.2: SRTT = 100 ms, RTTVAR = 50 ms, RTO = 100 + 4*50 = 300 ms.
    assert_eq!(
        (i.rtt, i.rttvar, i.rto),
        (
            Duration::from_millis(100),
            Duration::from_millis(50),
            Duration::from_millis(300)
        )
    );
    // Timestamps give samples on a 100 ms RTT link: the estimate converges on it and the
    // RTO stays above Linux's 200 ms minimum.
    let wan = Impair {
        delay: Duration::from_millis(50),
        ..Impair::default()
    };
    let mut net = Net::connected(Config::default(), Config::default(), wan, wan, 2);
    link::transfer_both_ways(&mut net, 200_000, 5000, Duration::from_secs(600));
    let i = net.a.info();
    assert!(
        i.rtt >= Duration::from_millis(100) && i.rtt < Duration::from_millis(150),
        "{i:?}"
    );
    assert!(i.rto >= Duration::from_millis(200) && i.rto < Duration::from_secs(1));
    assert_eq!(i.min_rtt, Duration::from_millis(100));
    // Linux's default algorithm (net.ipv4.tcp_congestion_control = cubic).
    assert_eq!(i.congestion, "cubic");
    assert!(i.cwnd >= 10 * i.snd_mss);
}

#[test]
fn rfc6298_5_timeout_backs_off_and_goes_back_over_everything_outstanding() {
    let now = Instant::ZERO;
    let mut c = established_client(now); // handshake at t=0: RTO 200 ms
    let five = vec![5u8; 5 * 536];
    c.send(now, &five).unwrap();
    let first = drain(&mut c, now);
    assert_eq!(first.len(), 5);
    // RTO: only the first segment goes again (cwnd = 1 segment, RFC 5681 §3.1).
    let (_, t) = c.timer().unwrap();
    assert_eq!(t, ms(200));
    c.on_timeout(t);
    let again = drain(&mut c, t);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].seq(), CLIENT_ISS + 1);
    assert_eq!(c.info().cwnd, 536);
    // Backed off: the next timeout is 400 ms later (§5.5).
    assert_eq!(c.timer().unwrap().1, ms(600));
    // Its ACK: slow start, two more segments go back (the rest of the outstanding data).
    c.on_segment(
        ms(300),
        &seg(SERVER_ISS + 1, CLIENT_ISS + 1 + 536, A, 65535),
    );
    let next = drain(&mut c, ms(300));
    let seqs: Vec<u32> = next.iter().map(|o| o.seq()).collect();
    assert_eq!(seqs, [CLIENT_ISS + 1 + 536, CLIENT_ISS + 1 + 1072]);
    // The backoff ended with progress: RTO back to the estimate (§5.3 restart).
    assert_eq!(c.info().backoff, 0);
    assert_eq!(c.stats().timeouts, 1);
}

#[test]
fn rfc5681_3_2_fast_retransmit_on_the_third_duplicate_ack() {
    let now = Instant::ZERO;
    let mut c = established_client(now);
    c.set_congestion_control_by_name("reno").unwrap();
    let ten = vec![1u8; 10 * 536];
    c.send(now, &ten).unwrap();
    assert_eq!(drain(&mut c, now).len(), 10, "initial window: 10 segments");
    let dup = seg(SERVER_ISS + 1, CLIENT_ISS + 1, A, 65535);
    c.on_segment(ms(5), &dup);
    c.on_segment(ms(5), &dup);
    assert!(drain(&mut c, ms(5)).is_empty());
    c.on_segment(ms(5), &dup);
    let rtx = one(&mut c, ms(5));
    assert_eq!((rtx.seq(), rtx.data.len()), (CLIENT_ISS + 1, 536));
    assert_eq!(c.stats().fast_retransmits, 1);
    // ssthresh = FlightSize / 2 (Reno's rule; CUBIC would take 0.7). RFC 6937 PRR instead of
    // RFC 5681's inflation: pipe = 10 − 3 duplicate-ACKed = 7 segments; the ACK entering
    // recovery delivered one segment, so sndcnt = ⌈536·2680/5360⌉ = 268, raised to one MSS
    // for the fast retransmit (RFC 6937 §3): cwnd = pipe + sndcnt = 8 segments.
    let i = c.info();
    assert_eq!((i.ssthresh, i.cwnd), (5 * 536, 8 * 536));
    assert!(i.in_recovery);
    // A partial ACK retransmits the next hole at once (RFC 6582).
    c.on_segment(
        ms(10),
        &seg(SERVER_ISS + 1, CLIENT_ISS + 1 + 536 * 3, A, 65535),
    );
    let hole = one(&mut c, ms(10));
    assert_eq!(hole.seq(), CLIENT_ISS + 1 + 536 * 3);
    // The full ACK ends recovery: cwnd deflates to ssthresh.
    c.on_segment(
        ms(20),
        &seg(SERVER_ISS + 1, CLIENT_ISS + 1 + 5360, A, 65535),
    );
    assert_eq!(c.info().cwnd, 5 * 536);
    assert_eq!(c.info().unacked, 0);
}

#[test]
fn tcp_retries2_ends_a_dead_connection_after_924_6_seconds() {
    // Linux's documented figure: with RTO starting at 200 ms and tcp_retries2 = 15, a
    // connection whose peer vanished fails after 924.6 s.
    let mut c = established_client(Instant::ZERO);
    c.send(Instant::ZERO, b"hello?").unwrap();
    let (sent, closed) = silent(&mut c, Instant::from_secs(10_000));
    assert_eq!(sent.len(), 16, "the original and 15 retransmissions");
    assert_eq!(closed, Some(ms(924_600)));
    assert_eq!(c.take_error(), Some(Error::TimedOut));
    // The backoff stops doubling at the maximum RTO, 120 s.
    let gaps: Vec<Duration> = sent.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps[0], Duration::from_millis(200));
    assert_eq!(*gaps.last().unwrap(), Duration::from_secs(120));
}

#[test]
fn tcp_user_timeout_ends_a_dead_connection_on_time() {
    let mut c = established_client(Instant::ZERO);
    c.set_user_timeout(Some(Duration::from_secs(10)));
    c.send(Instant::ZERO, b"hello?").unwrap();
    let (_, closed) = silent(&mut c, Instant::from_secs(10_000));
    assert_eq!(closed, Some(Instant::from_secs(10)));
    assert_eq!(c.take_error(), Some(Error::TimedOut));
    assert_eq!(c.state(), State::Closed);
}

#[test]
fn rfc9293_3_8_4_keepalive_probes_an_idle_connection() {
    // Linux defaults: first probe after 7200 s idle, then every 75 s, 9 probes.
    let mut c = established_client(Instant::ZERO);
    c.set_keepalive(Instant::ZERO, true);
    assert_eq!(
        c.timer(),
        Some((synack::TimerKind::Keepalive, Instant::from_secs(7200)))
    );
    // The peer answers the first probe: the connection lives and the idle timer restarts.
    c.on_timeout(Instant::from_secs(7200));
    let probe = one(&mut c, Instant::from_secs(7200));
    assert_eq!(
        (probe.flags(), probe.seq(), probe.data.len()),
        (A, CLIENT_ISS, 0)
    );
    c.on_segment(
        Instant::from_secs(7200),
        &seg(SERVER_ISS + 1, CLIENT_ISS + 1, A, 65535),
    );
    assert_eq!(c.timer().unwrap().1, Instant::from_secs(14_400));
    // The peer vanishes: 9 probes, 75 s apart, then ETIMEDOUT.
    let mut probes = Vec::new();
    let mut resets = Vec::new();
    let mut now = Instant::from_secs(14_400);
    while !c.is_closed() {
        c.on_timeout(now);
        for s in drain(&mut c, now) {
            if s.flags().rst() {
                resets.push((now.as_millis() / 1000, s.flags(), s.seq()));
            } else {
                probes.push(now.as_millis() / 1000);
            }
        }
        match c.poll_timeout() {
            Some(t) => now = t,
            None => break,
        }
    }
    let want: Vec<u64> = (0..9).map(|k| 14_400 + 75 * k).collect();
    assert_eq!(probes, want);
    assert_eq!(now, Instant::from_secs(14_400 + 75 * 9));
    // Linux (tcp_keepalive_timer) resets the connection when it gives up: `R.` at SND.NXT.
    assert_eq!(
        resets,
        [(14_400 + 75 * 9, TcpFlags::RST | A, CLIENT_ISS + 1)]
    );
    assert_eq!(c.take_error(), Some(Error::TimedOut));
    assert_eq!(c.stats().keepalive_probes, 10);
}

#[test]
fn keepalive_params_and_answered_probes_over_a_day() {
    let mut c = established_client(Instant::ZERO);
    c.set_keepalive(Instant::ZERO, true);
    c.set_keepalive_params(
        Instant::ZERO,
        Duration::from_secs(10),
        Duration::from_secs(2),
        3,
    );
    let (sent, closed) = silent(&mut c, Instant::from_secs(1000));
    // Probes at 10, 12, 14; failure at 16, announced to the peer by a reset (Linux).
    let at: Vec<u64> = sent.iter().map(|t| t.as_millis() / 1000).collect();
    assert_eq!(at, [10, 12, 14, 16]);
    assert_eq!(closed, Some(Instant::from_secs(16)));
    // Keepalive keeps a live connection alive: a day of idle, answered probes.
    let lan = Impair {
        delay: Duration::from_millis(1),
        ..Impair::default()
    };
    let mut net = Net::connected(Config::default(), Config::default(), lan, lan, 9);
    net.a.set_keepalive(net.now, true);
    let day = net.now + Duration::from_secs(86_400);
    net.run_until(day);
    assert_eq!(net.a.state(), State::Established);
    // One probe 7200 s after each answer (each round trip adds 2 ms): 11 in a day.
    assert_eq!(net.a.stats().keepalive_probes, 11);
    // Data flows after all that.
    net.a.send(net.now, b"still here").unwrap();
    let t = net.now + Duration::from_secs(1);
    net.run_until(t);
    let mut buf = [0u8; 16];
    assert_eq!(net.b.recv(&mut buf), Ok(10));
    let _ = (P, data(0, 0, A, b""));
}

#[test]
fn rfc1191_path_mtu_lowers_the_send_mss_for_new_and_resent_segments() {
    let now = Instant::ZERO;
    let mut c = established_client(now); // MSS 536 (no option from the peer)
    c.send(now, &[7u8; 1000]).unwrap();
    let first = drain(&mut c, now);
    assert_eq!(first[0].data.len(), 536);
    // An ICMP "fragmentation needed" says the path MTU is 376: MSS 336.
    assert_eq!(c.set_path_mtu(376), 336);
    assert_eq!(
        c.set_path_mtu(1500),
        336,
        "never raised past what is in force"
    );
    let (_, t) = c.timer().unwrap();
    c.on_timeout(t);
    let again = drain(&mut c, t);
    assert_eq!((again[0].seq(), again[0].data.len()), (CLIENT_ISS + 1, 336));
    assert_eq!(c.status().snd_mss, 336);
}

/// A client on a steady 200 ms path whose peer delays every ACK by the full RTT: with
/// `flavor`, the RTO after 30 round trips.
fn rto_after_steady_path(flavor: synack::Flavor) -> synack::Duration {
    let cfg = synack::Config {
        flavor: Some(flavor),
        // FreeBSD's slop on top of the RFC 6298 value is tested on its own below.
        rexmit_slop: synack::Duration::ZERO,
        ..common::plain()
    };
    let mut c = common::client(cfg, Instant::ZERO);
    c.on_segment(
        common::ms(200),
        &common::seg(SERVER_ISS, CLIENT_ISS + 1, S | A, 65535),
    );
    common::drain(&mut c, common::ms(200));
    let mut t = 200;
    let mut acked = CLIENT_ISS + 1;
    for _ in 0..30 {
        c.send(common::ms(t), &[1u8; 100]).unwrap();
        let out = common::drain(&mut c, common::ms(t));
        assert_eq!(out.len(), 1);
        t += 200;
        acked += 100;
        c.on_segment(common::ms(t), &common::seg(SERVER_ISS + 1, acked, A, 65535));
        common::drain(&mut c, common::ms(t));
    }
    assert_eq!(c.stats().timeouts, 0);
    c.info().rto
}

#[test]
fn linux_rto_is_srtt_plus_the_floor_rfc6298_rto_is_one_rtt() {
    // Linux (tcp_rtt_estimator/__tcp_set_rto): SRTT + max(4·RTTVAR, 200 ms) = 400 ms, so a
    // delayed ACK does not fire the timer.
    let linux = rto_after_steady_path(synack::Flavor::Linux);
    assert_eq!(linux, synack::Duration::from_millis(400));
    // RFC 6298 §2.3-2.4: max(200 ms, SRTT + 4·RTTVAR), RTTVAR decayed: about one RTT.
    let rfc = rto_after_steady_path(synack::Flavor::FreeBsd);
    assert!(rfc < synack::Duration::from_millis(220), "{rfc:?}");
}

#[test]
fn freebsd_adds_rexmit_slop_to_backed_off_syn_timeouts() {
    // FreeBSD TCPT_RANGESET(): SYNs at 0, 1.0, 3.2 and 7.4 s (1 s, then 2 s + 200 ms,
    // 4 s + 200 ms); Linux doubles exactly: 0, 1, 3, 7.
    for (flavor, times) in [
        (synack::Flavor::FreeBsd, [1000, 3200, 7400]),
        (synack::Flavor::Linux, [1000, 3000, 7000]),
    ] {
        let cfg = Config {
            flavor: Some(flavor),
            ..common::plain()
        };
        let mut c = common::client(cfg, Instant::ZERO);
        for t in times {
            let (_, at) = c.timer().unwrap();
            assert_eq!(at, common::ms(t), "{flavor:?}");
            c.on_timeout(at);
            assert_eq!(one(&mut c, at).flags(), S);
        }
    }
}
