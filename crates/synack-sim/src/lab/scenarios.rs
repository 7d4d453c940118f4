//! The scenarios: one per experiment in the notes, each with the checks that say whether
//! the run behaved as the notes describe.
//!
//! Every scenario runs a `client` (192.168.1.108) and a `server` (192.168.1.109) on a link
//! with 1 ms one-way delay unless said otherwise; the trace is what tcpdump on the client
//! would print, unless the experiment was observed on the server.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use synack::stack::{Linger, SockOpt};
use synack::{Duration, Instant};

use super::{Act, CLIENT_ADDR, Checks, Lab, Outcome, Peer, SERVER_ADDR, Scenario, Seg, sa};
use crate::capture::Direction;
use crate::packet;

/// Every scenario, in the order of the notes.
pub static SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "handshake",
        title: "three-way handshake (telnet to port 80)",
        explain: "The client's SYN carries its ISN and options (mss 1460, sackOK, TS, wscale 7);
            the server answers SYN-ACK with its own ISN and ack = client ISN + 1; the client's
            ACK completes the handshake. tcpdump shows relative sequence numbers after the
            SYNs (ack 1). Both ends go to ESTABLISHED: the client on the SYN-ACK, the server
            on the final ACK.",
        tour: true,
        build: build_handshake,
        check: check_handshake,
    },
    Scenario {
        name: "close",
        title: "four-way close: FIN, ACK, FIN, ACK (server closes 1 s after EOF)",
        explain: "The client closes first (active close): FIN_WAIT_1, then FIN_WAIT_2 when its FIN
            is acknowledged. The server's TCP ACKs the FIN at once (CLOSE_WAIT) and its
            application closes a second later: FIN, LAST_ACK. The client ACKs that FIN and
            waits in TIME_WAIT for 2 MSL (60 s on Linux) before CLOSED.",
        tour: true,
        build: build_close,
        check: check_close,
    },
    Scenario {
        name: "close-piggyback",
        title: "three-segment close: the server closes at once, its FIN carries the ACK",
        explain: "When the server's application closes as soon as it reads end-of-stream, the ACK
            of the client's FIN and the server's own FIN leave in one segment (F.): the
            four-way close takes three segments, as in most real traces.",
        tour: false,
        build: build_close_piggyback,
        check: check_close_piggyback,
    },
    Scenario {
        name: "half-close",
        title: "half-close: shutdown(SHUT_WR), then the server still sends",
        explain: "The client sends a request and shuts down its sending direction: its FIN goes
            out and it sits in FIN_WAIT_2. The connection is half-closed: the server
            (CLOSE_WAIT) keeps sending its reply, which the client still reads, and only
            then closes.",
        tour: true,
        build: build_half_close,
        check: check_half_close,
    },
    Scenario {
        name: "rst-closed-port",
        title: "RST from a closed port (telnet to port 54321)",
        explain: "Nothing listens on 54321, so the server's TCP answers the SYN with a reset:
            flags [R.], seq 0, ack = the SYN's seq + 1, win 0 (RFC 9293 §3.10.7.1). The
            client's connect() fails with ECONNREFUSED.",
        tour: true,
        build: build_rst_closed_port,
        check: check_rst_closed_port,
    },
    Scenario {
        name: "connect-timeout",
        title: "connect timeout: every SYN dropped (iptables --syn -j DROP), syn_retries 5",
        explain: "A filter drops every SYN the client sends, like the notes' iptables rule. The
            client retransmits the SYN with the same sequence number, doubling the timeout
            each time (RFC 6298 §5.5): 0, 1, 3, 7, 15, 31 s, then gives up 32 s after the
            last one: connect() fails with ETIMEDOUT at 63 s.",
        tour: true,
        build: build_connect_timeout,
        check: check_connect_timeout,
    },
    Scenario {
        name: "synack-retries",
        title: "SYN-ACK retries to a client that vanished (tcp_synack_retries 5)",
        explain: "The client crashes right after sending its SYN. The server (this trace is its
            tcpdump) answers SYN-ACK and retransmits it after 1, 2, 4, 8 and 16 s (each
            copy is lost: the host is down), then drops the half-open connection.",
        tour: true,
        build: build_synack_retries,
        check: check_synack_retries,
    },
    Scenario {
        name: "time-wait-reuseaddr",
        title: "TIME_WAIT holds the port: bind fails with EADDRINUSE, SO_REUSEADDR allows it",
        explain: "The client (like `nc -p 12345`) closes first and its connection stays in
            TIME_WAIT. Binding a new socket to port 12345 fails with EADDRINUSE; with
            SO_REUSEADDR set, bind succeeds, and the new socket connects (to the server's
            port 8080: the old 4-tuple itself stays reserved until TIME_WAIT ends).",
        tour: true,
        build: build_time_wait,
        check: check_time_wait_reuse,
    },
    Scenario {
        name: "linger-abort",
        title: "abortive close with SO_LINGER 0: RST instead of FIN",
        explain: "With SO_LINGER {on, 0}, close() aborts the connection (RFC 9293 §3.10.5): the
            client sends a reset instead of a FIN and keeps no TIME_WAIT. The server's next
            read fails with ECONNRESET.",
        tour: true,
        build: build_linger_abort,
        check: check_linger_abort,
    },
    Scenario {
        name: "half-open",
        title: "half-open connection: the server restarts, the client's data draws a RST",
        explain: "After the server reboots it knows nothing of the connection; the client still
            thinks it is ESTABLISHED (half-open). When the client writes 3 bytes, the server
            answers with a reset whose seq is the segment's ack, no ACK flag (RFC 9293
            §3.10.7.1), and the client's connection dies with ECONNRESET.",
        tour: true,
        build: build_half_open,
        check: check_half_open,
    },
    Scenario {
        name: "simultaneous-open",
        title: "simultaneous open: both ends connect, the SYNs cross",
        explain: "Each end sends a SYN from a fixed port to the other's. Each SYN arrives in
            SYN_SENT, so each end goes to SYN_RCVD and answers SYN-ACK (RFC 9293 §3.5,
            figure 8); each SYN-ACK completes the other end's open: four segments, both
            ESTABLISHED, with no listener at all.",
        tour: true,
        build: build_simultaneous_open,
        check: check_simultaneous_open,
    },
    Scenario {
        name: "simultaneous-close",
        title: "simultaneous close: both FINs cross, CLOSING on both ends",
        explain: "Both applications close at the same moment. Each FIN arrives in FIN_WAIT_1, so
            both ends go to CLOSING, then to TIME_WAIT when their own FIN is acknowledged
            (RFC 9293 §3.6, figure 13); both wait 2 MSL.",
        tour: true,
        build: build_simultaneous_close,
        check: check_simultaneous_close,
    },
];

// ------------------------------------------------------------------------------- helpers

const MS: fn(u64) -> Duration = Duration::from_millis;

/// Seconds since time zero, to the microsecond.
fn secs(t: Instant) -> f64 {
    t.as_micros() as f64 / 1e6
}

/// Seconds from `a` to `b`, to the microsecond (negative if `b` is earlier).
fn gap(a: Instant, b: Instant) -> f64 {
    (b.as_micros() as f64 - a.as_micros() as f64) / 1e6
}

/// Interval checks on times, to the microsecond.
fn close_to(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

fn any4(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)
}

fn flags(segs: &[&Seg]) -> Vec<String> {
    segs.iter().map(|s| s.flag_str()).collect()
}

/// The segments after the three of the handshake.
fn after_handshake<'a>(segs: &[&'a Seg]) -> Vec<&'a Seg> {
    segs.iter().skip(3).copied().collect()
}

fn all(out: &Outcome) -> Vec<&Seg> {
    out.segs.iter().collect()
}

fn check_states(c: &mut Checks, out: &Outcome, host: &str, expected: &[&str]) {
    let got = out.states(host);
    c.eq(
        &format!("{host} states"),
        got,
        expected.iter().map(|s| s.to_string()).collect(),
    );
}

/// A note of `host` containing `text` exists.
fn check_note(c: &mut Checks, out: &Outcome, host: &str, text: &str) -> Option<Instant> {
    let n = out.note(host, text);
    c.check(
        n.is_some(),
        match n {
            Some(n) => format!("{host}: `{}` at {}", n.text, n.time),
            None => format!("{host}: expected a line containing `{text}`, found none"),
        },
    );
    n.map(|n| n.time)
}

fn check_handshake_segs(c: &mut Checks, segs: &[&Seg]) {
    let hs: Vec<&Seg> = segs.iter().take(3).copied().collect();
    c.eq(
        "handshake flags",
        flags(&hs),
        vec!["S".into(), "S.".into(), ".".into()],
    );
    if let [syn, synack, ack] = hs[..] {
        c.eq(
            "SYN-ACK acknowledges ISN + 1",
            synack.ack,
            syn.seq.wrapping_add(1),
        );
        c.eq(
            "final ACK acknowledges server ISN + 1",
            ack.ack,
            synack.seq.wrapping_add(1),
        );
        c.eq(
            "final ACK's seq is client ISN + 1",
            ack.seq,
            syn.seq.wrapping_add(1),
        );
    }
}

// ----------------------------------------------------------------------------- handshake

fn build_handshake(lab: &mut Lab) -> Result<(), String> {
    let (c, s, _) = lab.pair(MS(1), &[], &[])?;
    lab.app(s, Instant::ZERO, Peer::server(any4(80)));
    lab.app(
        c,
        Instant::from_millis(10),
        Peer::client(sa(SERVER_ADDR, 80)),
    );
    lab.limit = Instant::from_secs(10);
    Ok(())
}

fn check_handshake(out: &Outcome, c: &mut Checks) {
    let segs = all(out);
    c.eq("segments on the wire", segs.len(), 3);
    check_handshake_segs(c, &segs);
    if let Some(syn) = segs.first() {
        c.eq("SYN options: mss", syn.mss, Some(1460));
        c.eq("SYN options: wscale", syn.wscale, Some(7));
    }
    check_states(c, out, "client", &["CLOSED", "SYN_SENT", "ESTABLISHED"]);
    let server: Vec<String> = out
        .transitions("server")
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    c.check(
        server.iter().any(|t| t.ends_with("-> SYN_RCVD"))
            && server.iter().any(|t| t == "SYN_RCVD -> ESTABLISHED"),
        format!("server passes SYN_RCVD to ESTABLISHED: {server:?}"),
    );
    check_note(c, out, "client", "connect(3, 192.168.1.109:80) = 0");
    check_note(c, out, "server", "accept(3) = 4");
}

// --------------------------------------------------------------------------------- close

fn build_close_with(lab: &mut Lab, server_delay: Duration) -> Result<(), String> {
    let (c, s, _) = lab.pair(MS(1), &[], &[])?;
    lab.app(
        s,
        Instant::ZERO,
        Peer::server(any4(80)).on_eof(server_delay, Act::Close),
    );
    lab.app(
        c,
        Instant::from_millis(10),
        Peer::client(sa(SERVER_ADDR, 80)).at(Duration::from_secs(1), Act::Close),
    );
    lab.limit = Instant::from_secs(300);
    Ok(())
}

fn build_close(lab: &mut Lab) -> Result<(), String> {
    build_close_with(lab, Duration::from_secs(1))
}

fn build_close_piggyback(lab: &mut Lab) -> Result<(), String> {
    build_close_with(lab, Duration::ZERO)
}

fn check_time_wait(c: &mut Checks, out: &Outcome, host: &str) {
    let tr = out.transitions(host);
    let enter = tr
        .iter()
        .find(|(_, t)| t.ends_with("-> TIME_WAIT"))
        .map(|(t, _)| *t);
    let leave = tr
        .iter()
        .find(|(_, t)| t == "TIME_WAIT -> CLOSED")
        .map(|(t, _)| *t);
    match (enter, leave) {
        (Some(a), Some(b)) => {
            c.eq(
                &format!("{host}: TIME_WAIT lasts 2 MSL (s)"),
                gap(a, b),
                60.0,
            );
        }
        _ => {
            c.check(false, format!("{host}: TIME_WAIT entered and left: {tr:?}"));
        }
    }
}

fn check_close(out: &Outcome, c: &mut Checks) {
    let segs = all(out);
    check_handshake_segs(c, &segs);
    let rest = after_handshake(&segs);
    c.eq(
        "teardown flags",
        flags(&rest),
        vec!["F.".into(), ".".into(), "F.".into(), ".".into()],
    );
    if let [fin1, ack1, fin2, ack2] = rest[..] {
        c.eq(
            "client sends the first FIN",
            fin1.src.ip(),
            IpAddr::V4(CLIENT_ADDR),
        );
        c.eq(
            "server ACKs the FIN (seq + 1)",
            ack1.ack,
            fin1.seq.wrapping_add(1),
        );
        c.eq(
            "server's FIN is 1 s later (s)",
            gap(ack1.time, fin2.time),
            1.0,
        );
        c.eq(
            "client ACKs the server's FIN",
            ack2.ack,
            fin2.seq.wrapping_add(1),
        );
    }
    check_states(
        c,
        out,
        "client",
        &[
            "CLOSED",
            "SYN_SENT",
            "ESTABLISHED",
            "FIN_WAIT_1",
            "FIN_WAIT_2",
            "TIME_WAIT",
            "CLOSED",
        ],
    );
    let server = out.states("server");
    c.check(
        server.ends_with(&[
            "ESTABLISHED".to_string(),
            "CLOSE_WAIT".to_string(),
            "LAST_ACK".to_string(),
            "CLOSED".to_string(),
        ]),
        format!("server: ESTABLISHED, CLOSE_WAIT, LAST_ACK, CLOSED: {server:?}"),
    );
    check_time_wait(c, out, "client");
}

fn check_close_piggyback(out: &Outcome, c: &mut Checks) {
    let segs = all(out);
    check_handshake_segs(c, &segs);
    let rest = after_handshake(&segs);
    c.eq(
        "teardown flags",
        flags(&rest),
        vec!["F.".into(), "F.".into(), ".".into()],
    );
    if let [fin1, fin2, _] = rest[..] {
        c.eq(
            "server's FIN acknowledges the client's",
            fin2.ack,
            fin1.seq.wrapping_add(1),
        );
    }
    check_states(
        c,
        out,
        "client",
        &[
            "CLOSED",
            "SYN_SENT",
            "ESTABLISHED",
            "FIN_WAIT_1",
            "TIME_WAIT",
            "CLOSED",
        ],
    );
    check_time_wait(c, out, "client");
}

// ---------------------------------------------------------------------------- half-close

const REPLY: &[&[u8]] = &[b"reply part 1\n", b"reply part 2\n", b"reply part 3\n"];

fn build_half_close(lab: &mut Lab) -> Result<(), String> {
    let (c, s, _) = lab.pair(MS(1), &[], &[])?;
    let mut server = Peer::server(any4(80));
    for (i, r) in REPLY.iter().enumerate() {
        server = server.on_eof(MS(500 * (i as u64 + 1)), Act::Send(r.to_vec()));
    }
    server = server.on_eof(Duration::from_secs(2), Act::Close);
    lab.app(s, Instant::ZERO, server);
    lab.app(
        c,
        Instant::from_millis(10),
        Peer::client(sa(SERVER_ADDR, 80))
            .at(MS(100), Act::Send(b"GET / HTTP/1.0\r\n\r\n".to_vec()))
            .at(MS(100), Act::ShutdownWrite)
            .on_eof(Duration::ZERO, Act::Close),
    );
    lab.limit = Instant::from_secs(300);
    Ok(())
}

fn check_half_close(out: &Outcome, c: &mut Checks) {
    let client_fin = out
        .sent_by("client")
        .into_iter()
        .find(|s| s.flags.fin())
        .cloned();
    let server_fin = out
        .sent_by("server")
        .into_iter()
        .find(|s| s.flags.fin())
        .cloned();
    let (Some(cf), Some(sf)) = (client_fin, server_fin) else {
        c.check(false, "both ends send a FIN");
        return;
    };
    let data_after: Vec<&Seg> = out
        .sent_by("server")
        .into_iter()
        .filter(|s| s.len > 0 && s.time > cf.time && s.time <= sf.time)
        .collect();
    let bytes: Vec<u8> = data_after.iter().flat_map(|s| s.payload.clone()).collect();
    c.eq(
        "server data sent after the client's FIN",
        String::from_utf8_lossy(&bytes).into_owned(),
        REPLY
            .concat()
            .iter()
            .map(|&b| char::from(b))
            .collect::<String>(),
    );
    c.check(
        data_after
            .iter()
            .all(|s| s.ack == cf.seq.wrapping_add(cf.len + 1)),
        "each reply segment acknowledges the client's FIN",
    );
    for r in REPLY {
        let text = String::from_utf8_lossy(r).replace('\n', "\\n");
        check_note(c, out, "client", &format!("recv(3, \"{text}\""));
    }
    check_note(c, out, "client", "shutdown(3, SHUT_WR) = 0");
    check_states(
        c,
        out,
        "client",
        &[
            "CLOSED",
            "SYN_SENT",
            "ESTABLISHED",
            "FIN_WAIT_1",
            "FIN_WAIT_2",
            "TIME_WAIT",
            "CLOSED",
        ],
    );
}

// ----------------------------------------------------------------------- rst-closed-port

fn build_rst_closed_port(lab: &mut Lab) -> Result<(), String> {
    let (c, _, _) = lab.pair(MS(1), &[], &[])?;
    lab.app(
        c,
        Instant::from_millis(10),
        Peer::client(sa(SERVER_ADDR, 54321)),
    );
    lab.limit = Instant::from_secs(10);
    Ok(())
}

fn check_rst_closed_port(out: &Outcome, c: &mut Checks) {
    let segs = all(out);
    c.eq("segments", flags(&segs), vec!["S".into(), "R.".into()]);
    if let [syn, rst] = segs[..] {
        c.eq("RST seq", rst.seq, 0);
        c.eq("RST ack = SYN seq + 1", rst.ack, syn.seq.wrapping_add(1));
        c.eq("RST window", rst.win, 0);
        c.eq("RST length", rst.len, 0);
        c.eq("RST from port 54321", rst.src.port(), 54321);
    }
    check_note(c, out, "client", "= -1 ECONNREFUSED");
    check_states(c, out, "client", &["CLOSED", "SYN_SENT", "CLOSED"]);
}

// ----------------------------------------------------------------------- connect-timeout

fn build_connect_timeout(lab: &mut Lab) -> Result<(), String> {
    let (c, s, l) = lab.pair(MS(1), &[("net.ipv4.tcp_syn_retries", "5")], &[])?;
    lab.app(s, Instant::ZERO, Peer::server(any4(23)));
    // The notes' `iptables -I INPUT -p tcp --syn -j DROP` on the server.
    lab.sim
        .add_filter(l, Direction::AtoB, |_, p| packet::is_tcp_syn(p));
    lab.app(c, Instant::ZERO, Peer::client(sa(SERVER_ADDR, 23)));
    lab.limit = Instant::from_secs(200);
    Ok(())
}

fn check_connect_timeout(out: &Outcome, c: &mut Checks) {
    let syns: Vec<&Seg> = out
        .sent_by("client")
        .into_iter()
        .filter(|s| s.is_syn())
        .collect();
    let t0 = syns.first().map_or(0.0, |s| secs(s.time));
    let times: Vec<f64> = syns.iter().map(|s| secs(s.time) - t0).collect();
    let expected = [0.0, 1.0, 3.0, 7.0, 15.0, 31.0];
    c.check(
        times.len() == expected.len() && times.iter().zip(expected).all(|(a, b)| close_to(*a, b)),
        format!("SYNs at {expected:?} s: got {times:?}"),
    );
    c.check(
        syns.windows(2).all(|w| w[0].seq == w[1].seq),
        "every retransmitted SYN has the same sequence number",
    );
    c.check(
        syns.iter().all(|s| s.dropped.is_some()),
        "every SYN was dropped by the filter",
    );
    c.eq("segments other than SYNs", out.segs.len() - syns.len(), 0);
    let failed = out
        .note("client", "= -1 ETIMEDOUT")
        .map(|n| secs(n.time) - t0);
    c.check(
        failed.is_some_and(|t| close_to(t, 63.0)),
        format!("connect() fails with ETIMEDOUT at 63 s: {failed:?}"),
    );
}

// ------------------------------------------------------------------------ synack-retries

fn build_synack_retries(lab: &mut Lab) -> Result<(), String> {
    let (c, s, _) = lab.pair(MS(1), &[], &[("net.ipv4.tcp_synack_retries", "5")])?;
    lab.observer = Some(s);
    lab.app(s, Instant::ZERO, Peer::server(any4(80)));
    lab.app(
        c,
        Instant::from_millis(10),
        Peer::client(sa(SERVER_ADDR, 80)),
    );
    // The client vanishes just after its SYN left.
    lab.sim.schedule_crash(Instant::from_micros(10_100), c);
    lab.limit = Instant::from_secs(200);
    Ok(())
}

fn check_synack_retries(out: &Outcome, c: &mut Checks) {
    let sa: Vec<&Seg> = out
        .sent_by("server")
        .into_iter()
        .filter(|s| s.is_syn_ack())
        .collect();
    let gaps: Vec<f64> = sa.windows(2).map(|w| gap(w[0].time, w[1].time)).collect();
    let expected = [1.0, 2.0, 4.0, 8.0, 16.0];
    c.check(
        gaps.len() == expected.len() && gaps.iter().zip(expected).all(|(a, b)| close_to(*a, b)),
        format!("SYN-ACK retransmitted after {expected:?} s: got {gaps:?}"),
    );
    c.check(
        sa.windows(2).all(|w| w[0].seq == w[1].seq),
        "every SYN-ACK carries the same ISN",
    );
    let client_sent = out.sent_by("client");
    c.eq(
        "client sent only its SYN",
        flags(&client_sent),
        vec!["S".to_string()],
    );
    let tr: Vec<String> = out
        .transitions("server")
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    c.check(
        tr.iter().any(|t| t.starts_with("SYN_RCVD -> ")),
        format!("server gives the half-open connection up: {tr:?}"),
    );
    if let Some(s) = out.host_id("server") {
        c.eq(
            "server connections left",
            out.sim.host(s).stack.connection_count(),
            0,
        );
    }
}

// ------------------------------------------------------------------- time-wait-reuseaddr

fn build_time_wait(lab: &mut Lab) -> Result<(), String> {
    let (c, s, _) = lab.pair(MS(1), &[], &[])?;
    lab.app(
        s,
        Instant::ZERO,
        Peer::server(any4(80)).on_eof(Duration::ZERO, Act::Close),
    );
    lab.app(s, Instant::ZERO, Peer::server(any4(8080)));
    // `nc -p 12345 server 80`, then ctrl+c: the client closes first.
    let first = Peer::client(sa(SERVER_ADDR, 80))
        .bind(sa(CLIENT_ADDR, 12345))
        .at(MS(500), Act::Close);
    lab.app(c, Instant::from_millis(10), first);
    // At 2 s, still in TIME_WAIT: `nc -p 12345` again.
    lab.at(c, Instant::from_secs(2), |cx| {
        if let Ok(s) = cx.socket() {
            let _ = cx.bind(s, sa(CLIENT_ADDR, 12345));
            let _ = cx.close(s);
        }
    });
    // At 3 s, with SO_REUSEADDR.
    lab.app(
        c,
        Instant::from_secs(3),
        Peer::client(sa(SERVER_ADDR, 8080))
            .opt(SockOpt::ReuseAddr(true))
            .bind(sa(CLIENT_ADDR, 12345)),
    );
    lab.limit = Instant::from_secs(300);
    Ok(())
}

fn check_time_wait_reuse(out: &Outcome, c: &mut Checks) {
    let tr = out.transitions("client");
    let tw_in = tr
        .iter()
        .find(|(_, t)| t.ends_with("-> TIME_WAIT"))
        .map(|(t, _)| *t);
    let tw_out = tr
        .iter()
        .find(|(_, t)| t == "TIME_WAIT -> CLOSED")
        .map(|(t, _)| *t);
    let refused = check_note(c, out, "client", "192.168.1.108:12345) = -1 EADDRINUSE");
    c.check(
        match (tw_in, refused, tw_out) {
            (Some(a), Some(r), Some(b)) => a < r && r < b,
            _ => false,
        },
        format!("bind fails while the old connection is in TIME_WAIT ({tw_in:?} .. {tw_out:?})"),
    );
    check_note(c, out, "client", "ReuseAddr(true)) = 0");
    let bound = out
        .notes_of("client")
        .into_iter()
        .filter(|n| n.text.contains("192.168.1.108:12345) = 0") && n.text.starts_with("bind("))
        .map(|n| n.time)
        .collect::<Vec<_>>();
    c.check(
        bound.len() == 2 && bound.get(1).is_some_and(|t| tw_out.is_some_and(|o| *t < o)),
        format!("with SO_REUSEADDR the bind succeeds during TIME_WAIT: {bound:?}"),
    );
    check_note(c, out, "client", "192.168.1.109:8080) = 0");
    let syn2 = out
        .sent_by("client")
        .into_iter()
        .find(|s| s.is_syn() && s.dst.port() == 8080)
        .cloned();
    c.check(
        syn2.is_some_and(|s| s.src.port() == 12345),
        "the new connection comes from port 12345",
    );
    check_time_wait(c, out, "client");
}

// -------------------------------------------------------------------------- linger-abort

fn build_linger_abort(lab: &mut Lab) -> Result<(), String> {
    let (c, s, _) = lab.pair(MS(1), &[], &[])?;
    lab.app(s, Instant::ZERO, Peer::server(any4(80)));
    lab.app(
        c,
        Instant::from_millis(10),
        Peer::client(sa(SERVER_ADDR, 80))
            .opt(SockOpt::Linger(Linger { on: true, secs: 0 }))
            .at(MS(100), Act::Send(b"hello\n".to_vec()))
            .at(MS(200), Act::Close),
    );
    lab.limit = Instant::from_secs(100);
    Ok(())
}

fn check_linger_abort(out: &Outcome, c: &mut Checks) {
    let client = out.sent_by("client");
    c.check(
        !client.iter().any(|s| s.flags.fin()),
        "the client sends no FIN",
    );
    let rst = client.iter().find(|s| s.flags.rst());
    c.check(rst.is_some(), "the client sends a RST on close()");
    let data = client.iter().find(|s| s.len > 0);
    if let (Some(rst), Some(data)) = (rst, data) {
        c.eq(
            "RST seq = next sequence number",
            rst.seq,
            data.seq.wrapping_add(data.len),
        );
        c.eq(
            "RST 100 ms after the data (s)",
            gap(data.time, rst.time),
            0.1,
        );
    }
    let tr: Vec<String> = out
        .transitions("client")
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    c.check(
        !tr.iter().any(|t| t.contains("TIME_WAIT")),
        format!("no TIME_WAIT on the client: {tr:?}"),
    );
    check_note(c, out, "server", "recv(4, \"hello\\n\", 6) = 6");
    check_note(c, out, "server", "= -1 ECONNRESET");
}

// ----------------------------------------------------------------------------- half-open

fn build_half_open(lab: &mut Lab) -> Result<(), String> {
    let (c, s, _) = lab.pair(MS(1), &[], &[])?;
    lab.app(s, Instant::ZERO, Peer::server(any4(12345)));
    lab.app(
        c,
        Instant::from_millis(10),
        Peer::client(sa(SERVER_ADDR, 12345))
            .at(Duration::from_secs(5), Act::Send(b"a\r\n".to_vec())),
    );
    lab.sim.schedule_restart(Instant::from_secs(2), s);
    lab.limit = Instant::from_secs(100);
    Ok(())
}

fn check_half_open(out: &Outcome, c: &mut Checks) {
    let data = out
        .sent_by("client")
        .into_iter()
        .find(|s| s.len > 0)
        .cloned();
    let rst = out
        .sent_by("server")
        .into_iter()
        .find(|s| s.flags.rst())
        .cloned();
    check_note(c, out, "sim", "host server restarted");
    let (Some(d), Some(r)) = (data, rst) else {
        c.check(false, "the client's data draws a RST from the server");
        return;
    };
    c.eq("data length", d.len, 3);
    c.eq("RST flags", r.flag_str(), "R".to_string());
    c.eq("RST seq = the data segment's ack", r.seq, d.ack);
    c.check(r.time >= d.time, "the RST answers the data");
    check_note(c, out, "client", "ESTABLISHED -> CLOSED");
}

// --------------------------------------------------------------------- simultaneous-open

fn build_simultaneous_open(lab: &mut Lab) -> Result<(), String> {
    let (c, s, _) = lab.pair(MS(5), &[], &[])?;
    lab.app(
        c,
        Instant::from_millis(10),
        Peer::client(sa(SERVER_ADDR, 7001)).bind(sa(CLIENT_ADDR, 7000)),
    );
    lab.app(
        s,
        Instant::from_millis(10),
        Peer::client(sa(CLIENT_ADDR, 7000)).bind(sa(SERVER_ADDR, 7001)),
    );
    lab.limit = Instant::from_secs(10);
    Ok(())
}

fn check_simultaneous_open(out: &Outcome, c: &mut Checks) {
    let segs = all(out);
    c.eq(
        "segments",
        flags(&segs),
        vec!["S".into(), "S".into(), "S.".into(), "S.".into()],
    );
    for h in ["client", "server"] {
        check_states(
            c,
            out,
            h,
            &["CLOSED", "SYN_SENT", "SYN_RCVD", "ESTABLISHED"],
        );
        check_note(c, out, h, "connect(3, ");
    }
    check_note(c, out, "client", "connect(3, 192.168.1.109:7001) = 0");
    check_note(c, out, "server", "connect(3, 192.168.1.108:7000) = 0");
}

// -------------------------------------------------------------------- simultaneous-close

fn build_simultaneous_close(lab: &mut Lab) -> Result<(), String> {
    let (c, s, _) = lab.pair(MS(5), &[], &[])?;
    let at = Instant::from_secs(1);
    lab.app(
        s,
        Instant::ZERO,
        Peer::server(any4(80)).at_time(at, Act::Close),
    );
    lab.app(
        c,
        Instant::from_millis(10),
        Peer::client(sa(SERVER_ADDR, 80)).at_time(at, Act::Close),
    );
    lab.limit = Instant::from_secs(300);
    Ok(())
}

fn check_simultaneous_close(out: &Outcome, c: &mut Checks) {
    let cf = out
        .sent_by("client")
        .into_iter()
        .find(|s| s.flags.fin())
        .cloned();
    let sf = out
        .sent_by("server")
        .into_iter()
        .find(|s| s.flags.fin())
        .cloned();
    match (cf, sf) {
        (Some(a), Some(b)) => {
            c.eq(
                "both FINs leave at 1 s",
                (secs(a.time), secs(b.time)),
                (1.0, 1.0),
            );
            c.eq(
                "the client's FIN does not acknowledge the server's",
                a.ack,
                b.seq,
            );
            c.eq(
                "the server's FIN does not acknowledge the client's",
                b.ack,
                a.seq,
            );
        }
        _ => {
            c.check(false, "both ends send a FIN");
        }
    }
    let tail = [
        "ESTABLISHED",
        "FIN_WAIT_1",
        "CLOSING",
        "TIME_WAIT",
        "CLOSED",
    ];
    for h in ["client", "server"] {
        let st = out.states(h);
        c.check(
            st.ends_with(&tail.map(String::from)),
            format!("{h}: {tail:?} at the end of {st:?}"),
        );
        check_time_wait(c, out, h);
    }
}
