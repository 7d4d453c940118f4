//! Interactive flow (the seed notes' 交互数据流): delayed ACK (RFC 9293 §3.8.6.3), Nagle
//! (RFC 896, RFC 9293 §3.7.4), TCP_NODELAY and TCP_CORK, in conversation tests and over a
//! link with delay.

mod common;
mod link;
use common::{A, F, P, data, drain, established_server, ms, none, one, plain};
use link::{Impair, Net};
use synack::{Config, Duration, Instant, State, TcpFlags};

const CLIENT_ISS: u32 = common::CLIENT_ISS;
const SERVER_ISS: u32 = common::SERVER_ISS;

fn flags(f: TcpFlags) -> String {
    common::flag_text(f)
}

/// The notes' telnet `ls` trace: each key goes out alone ([P.], 1 byte); the server's ACK
/// rides on its echo; the client's ACKs of the echoes are pure ACKs.
#[test]
fn telnet_ls_trace_shape_of_the_notes() {
    let lo = Impair {
        delay: Duration::from_micros(20),
        ..Impair::default()
    };
    let mut net = Net::connected(Config::default(), Config::default(), lo, lo, 1);
    let mut buf = [0u8; 4096];
    // The server answers every read after 1 ms of "processing"; the user is slow.
    let serve = |net: &mut Net, reply: &[&[u8]], buf: &mut [u8]| {
        let t = net.now + Duration::from_millis(1);
        net.run_until(t);
        let n = net.b.recv(buf).unwrap();
        assert!(n > 0);
        for (i, r) in reply.iter().enumerate() {
            if i > 0 {
                let t = net.now + Duration::from_millis(2);
                net.run_until(t);
            }
            assert_eq!(net.b.send(net.now, r).unwrap(), r.len());
        }
    };
    let typing = |net: &mut Net, key: &[u8]| {
        let t = net.now + Duration::from_millis(500);
        net.run_until(t);
        let mut sink = [0u8; 4096];
        while let Ok(n) = net.a.recv(&mut sink) {
            if n == 0 {
                break;
            }
        }
        assert_eq!(net.a.send(net.now, key).unwrap(), key.len());
    };
    // Log in: a few request/response rounds, after which the server is interactive.
    for _ in 0..3 {
        typing(&mut net, b"user\r\n");
        serve(&mut net, &[b"Password: "], &mut buf);
    }
    typing(&mut net, b"");
    net.keep_log = true;
    // `l`, `s`, return.
    typing(&mut net, b"l");
    serve(&mut net, &[b"l"], &mut buf);
    typing(&mut net, b"s");
    serve(&mut net, &[b"s"], &mut buf);
    typing(&mut net, b"\r\0");
    let listing = [b'x'; 173];
    let prompt = [b'y'; 52];
    serve(&mut net, &[&listing, &prompt], &mut buf);
    let t = net.now + Duration::from_millis(500);
    net.run_until(t);
    let shape: Vec<String> = net
        .log
        .iter()
        .map(|(_, from_a, s)| {
            let dir = if *from_a { "C>S" } else { "S>C" };
            format!("{dir} {} {}", flags(s.flags), s.payload_len)
        })
        .collect();
    assert_eq!(
        shape,
        [
            "C>S [P.] 1",   // 1. `l`
            "S>C [P.] 1",   // 2. echo, carrying the ACK of `l`
            "C>S [.] 0",    // 3. the client's pure ACK
            "C>S [P.] 1",   // 4. `s`
            "S>C [P.] 1",   // 5. echo + ACK
            "C>S [.] 0",    // 6. pure ACK
            "C>S [P.] 2",   // 7. return
            "S>C [P.] 173", // 8. the listing + ACK
            "C>S [.] 0",    // 9. pure ACK
            "S>C [P.] 52",  // 10. the prompt (Nagle held it until 8 was acknowledged)
            "C>S [.] 0",    // 11. pure ACK
        ]
    );
    // Every server segment acknowledges everything the client sent before it.
    let log = &net.log;
    for (i, (_, from_a, s)) in log.iter().enumerate() {
        if !*from_a {
            let last_c = log[..i].iter().rev().find(|(_, a, _)| *a).unwrap().2;
            assert_eq!(s.ack, last_c.seq + last_c.payload_len);
        }
    }
}

/// RFC 9293 §3.8.6.3: without quick-ACK, a lone segment is acknowledged by the delayed-ACK
/// timer (40 ms, Linux's minimum); the second full-sized segment is acknowledged at once.
#[test]
fn rfc9293_3_8_6_3_delayed_ack_timer_and_every_second_full_segment() {
    let now = ms(0);
    let cfg = Config {
        quickacks: 0,
        ..plain()
    };
    let mut s = synack::Connection::listen_with_iss(
        now,
        cfg,
        common::server_tuple(),
        synack::Seq(SERVER_ISS),
        0,
    );
    s.on_segment(now, &common::seg(CLIENT_ISS, 0, common::S, 65535));
    one(&mut s, now);
    s.on_segment(now, &common::seg(CLIENT_ISS + 1, SERVER_ISS + 1, A, 65535));
    assert_eq!(s.state(), State::Established);
    // One small segment: no ACK now; the timer fires 40 ms later.
    s.on_segment(now, &data(CLIENT_ISS + 1, SERVER_ISS + 1, P | A, b"a"));
    none(&mut s, now);
    assert_eq!(s.poll_timeout(), Some(ms(40)));
    s.on_timeout(ms(40));
    let ack = one(&mut s, ms(40));
    assert_eq!((ack.flags(), ack.ack()), (A, CLIENT_ISS + 2));
    assert_eq!(s.stats().delayed_acks, 1);
    // Two full-sized segments (536 bytes: no MSS option) : the second is ACKed at once.
    static FULL: [u8; 536] = [7; 536];
    let t = ms(1000);
    s.on_segment(t, &data(CLIENT_ISS + 2, SERVER_ISS + 1, A, &FULL));
    none(&mut s, t);
    s.on_segment(t, &data(CLIENT_ISS + 538, SERVER_ISS + 1, A, &FULL));
    let ack = one(&mut s, t);
    assert_eq!(ack.ack(), CLIENT_ISS + 2 + 1072);
    // An out-of-order segment is acknowledged at once (a duplicate ACK, RFC 5681 §4.2),
    // and so is the one filling the gap.
    s.on_segment(t, &data(CLIENT_ISS + 2000, SERVER_ISS + 1, A, b"later"));
    assert_eq!(one(&mut s, t).ack(), CLIENT_ISS + 1074);
    let mut gap = vec![1u8; 2000 - 1074];
    gap[0] = 2;
    let gap: &'static [u8] = Box::leak(gap.into_boxed_slice());
    s.on_segment(t, &data(CLIENT_ISS + 1074, SERVER_ISS + 1, A, gap));
    assert_eq!(one(&mut s, t).ack(), CLIENT_ISS + 2005);
}

/// Quick-ACK at connection start (Linux): the first data segments are acknowledged at
/// once; an ACK owed is piggybacked on data the application sends before it goes out.
#[test]
fn quick_ack_at_start_and_ack_piggybacked_on_data() {
    let now = ms(0);
    let mut s = established_server(now);
    s.on_segment(now, &data(CLIENT_ISS + 1, SERVER_ISS + 1, P | A, b"hi"));
    let ack = one(&mut s, now);
    assert_eq!(
        (ack.flags(), ack.ack(), ack.data.len()),
        (A, CLIENT_ISS + 3, 0)
    );
    // Data arrives and the application answers before the engine is polled: one segment.
    s.on_segment(now, &data(CLIENT_ISS + 3, SERVER_ISS + 1, P | A, b"q"));
    s.send(now, b"answer").unwrap();
    let out = one(&mut s, now);
    assert_eq!(
        (out.flags(), out.ack(), out.data.as_slice()),
        (P | A, CLIENT_ISS + 4, &b"answer"[..])
    );
}

/// Nagle on a 200 ms RTT link: one key every 20 ms for 1 s gives one small segment per
/// round trip, the rest coalesced; with TCP_NODELAY every key is its own segment.
#[test]
fn nagle_sends_one_small_segment_per_rtt_and_coalesces_the_rest() {
    for nodelay in [false, true] {
        let wan = Impair {
            delay: Duration::from_millis(100),
            ..Impair::default()
        };
        let mut net = Net::connected(Config::default(), Config::default(), wan, wan, 3);
        net.a.set_nodelay(nodelay);
        assert_eq!(net.a.nodelay(), nodelay);
        net.keep_log = true;
        let start = net.now;
        for k in 0..50u64 {
            let t = start + Duration::from_millis(20 * k);
            net.run_until(t);
            assert_eq!(net.a.send(net.now, b"k").unwrap(), 1);
        }
        let end = net.now + Duration::from_secs(2);
        net.run_until(end);
        let mut got = [0u8; 64];
        assert_eq!(net.b.recv(&mut got), Ok(50));
        let sent: Vec<(Instant, usize)> = net
            .log
            .iter()
            .filter(|(_, a, s)| *a && s.payload_len > 0)
            .map(|(t, _, s)| (*t, s.payload_len))
            .collect();
        if nodelay {
            assert_eq!(sent.len(), 50);
        } else {
            // 1 s of typing over a 200 ms RTT: 6 segments (t = 0, 200, ..., 1000 ms).
            assert_eq!(sent.len(), 6, "{sent:?}");
            for w in sent.windows(2) {
                assert!(w[1].0 - w[0].0 >= Duration::from_millis(200), "{sent:?}");
            }
            assert_eq!(sent[0].1, 1);
            assert!(
                sent[1].1 >= 9,
                "the keys typed during a round trip go together"
            );
        }
    }
}

/// TCP_CORK holds a partial segment until uncorked, or 200 ms at most (Linux).
#[test]
fn cork_holds_partial_segments_until_uncork_or_200ms() {
    let now = ms(0);
    let mut c = common::established_client(now);
    c.set_cork(true);
    assert!(c.cork());
    c.send(now, b"header").unwrap();
    none(&mut c, now);
    assert_eq!(c.poll_timeout(), Some(ms(200)));
    c.send(ms(10), b" and body").unwrap();
    none(&mut c, ms(10));
    c.on_timeout(ms(200));
    let out = one(&mut c, ms(200));
    assert_eq!(out.data, b"header and body");
    // Uncorking sends at once (once Nagle allows: the small segment is acknowledged).
    c.on_segment(
        ms(250),
        &common::seg(SERVER_ISS + 1, CLIENT_ISS + 16, A, 65535),
    );
    c.send(ms(300), b"tail").unwrap();
    none(&mut c, ms(300));
    c.set_cork(false);
    let out = drain(&mut c, ms(300));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].data, b"tail");
    // Closing a corked connection still sends the FIN with the last bytes (Linux).
    c.set_cork(true);
    c.send(ms(400), b"bye").unwrap();
    c.close(ms(400)).unwrap();
    let fin = one(&mut c, ms(400));
    assert_eq!((fin.flags(), fin.data.as_slice()), (F | P | A, &b"bye"[..]));
}
