//! Stack basics: listen/accept/connect/echo, RST to closed ports, malformed input, ports
//! and SO_REUSEADDR, sysctls, socket options, ICMP.

mod stack_common;

use stack_common::*;
use synack::stack::{Errno, Family, RecvFlags, Shutdown};
use synack::{Duration, State};

#[test]
fn listen_accept_connect_echo_close() {
    let mut net = Net::new();
    let l = listener(&mut net.b, B, 80, 16);
    let c = net.a.socket(Family::V4).unwrap();
    assert_eq!(
        net.a.connect(net.now, c, addr(B, 80)),
        Err(Errno::EINPROGRESS)
    );
    assert_eq!(net.a.connect(net.now, c, addr(B, 80)), Err(Errno::EALREADY));
    net.pump();
    assert_eq!(net.a.state(c).unwrap(), State::Established);
    // Linux: the first connect() after completion returns 0, then EISCONN.
    assert_eq!(net.a.connect(net.now, c, addr(B, 80)), Ok(()));
    assert_eq!(net.a.connect(net.now, c, addr(B, 80)), Err(Errno::EISCONN));
    assert!(net.b.poll(l).unwrap().readable);
    let (s, peer) = net.b.accept(l).unwrap();
    assert_eq!(peer, net.a.local_addr(c).unwrap());
    let port = peer.port();
    assert!((32768..=60999).contains(&port), "ephemeral port {port}");
    assert_eq!(net.b.accept(l), Err(Errno::EAGAIN));

    assert_eq!(net.a.send(net.now, c, b"hello, world"), Ok(12));
    net.pump();
    assert_eq!(net.b.ioctl_inq(s), Ok(12));
    let mut buf = [0u8; 64];
    // MSG_PEEK leaves the bytes in place.
    let peek = RecvFlags {
        peek: true,
        ..RecvFlags::default()
    };
    assert_eq!(net.b.recv(net.now, s, &mut buf[..5], peek), Ok(5));
    assert_eq!(&buf[..5], b"hello");
    let n = net
        .b
        .recv(net.now, s, &mut buf, RecvFlags::default())
        .unwrap();
    // The peeked bytes come first, then the rest.
    let mut got = buf[..n].to_vec();
    if n < 12 {
        let m = net
            .b
            .recv(net.now, s, &mut buf, RecvFlags::default())
            .unwrap();
        got.extend_from_slice(&buf[..m]);
    }
    assert_eq!(got, b"hello, world");
    assert_eq!(
        net.b.recv(net.now, s, &mut buf, RecvFlags::default()),
        Err(Errno::EAGAIN)
    );
    net.b.send(net.now, s, &got).unwrap();
    net.pump();
    let n = net
        .a
        .recv(net.now, c, &mut buf, RecvFlags::default())
        .unwrap();
    assert_eq!(&buf[..n], b"hello, world");

    // Client closes first: FIN_WAIT_2 → TIME_WAIT; server reads EOF and closes.
    net.a.shutdown(net.now, c, Shutdown::Write).unwrap();
    net.pump();
    assert_eq!(
        net.b.recv(net.now, s, &mut buf, RecvFlags::default()),
        Ok(0)
    );
    assert!(net.b.poll(s).unwrap().read_hangup);
    // Linux acknowledges the FIN on the delayed-ACK timer (CLOSE-WAIT is ping-pong mode).
    assert_eq!(net.a.state(c).unwrap(), State::FinWait1);
    net.advance(Duration::from_millis(50));
    assert_eq!(net.a.state(c).unwrap(), State::FinWait2);
    net.b.close(net.now, s).unwrap();
    net.pump();
    assert_eq!(net.a.state(c).unwrap(), State::TimeWait);
    net.a.close(net.now, c).unwrap();
    assert_eq!(net.a.connection_count(), 1, "TIME_WAIT orphan stays");
    net.advance(Duration::from_secs(61));
    assert_eq!(net.a.connection_count(), 0);
    assert_eq!(net.b.connection_count(), 0);
    let ca = net.a.counters();
    assert_eq!(ca.active_opens, 1);
    assert_eq!(net.b.counters().passive_opens, 1);
    assert_eq!(ca.curr_estab, 0);
}

#[test]
fn rst_for_closed_port_gives_econnrefused() {
    let mut net = Net::new();
    let c = net.a.socket(Family::V4).unwrap();
    let _ = net.a.connect(net.now, c, addr(B, 54321));
    net.pump();
    assert_eq!(net.b.counters().out_rsts, 1);
    assert!(net.a.poll(c).unwrap().error);
    assert_eq!(
        net.a.connect(net.now, c, addr(B, 54321)),
        Err(Errno::ECONNREFUSED)
    );
    assert_eq!(net.a.counters().attempt_fails, 1);
}

#[test]
fn orphans_finish_teardown_and_are_reaped() {
    let mut net = Net::new();
    let l = listener(&mut net.b, B, 80, 16);
    let c = net.a.socket(Family::V4).unwrap();
    let _ = net.a.connect(net.now, c, addr(B, 80));
    net.pump();
    let (s, _) = net.b.accept(l).unwrap();
    net.a.send(net.now, c, b"last words").unwrap();
    net.a.close(net.now, c).unwrap();
    assert_eq!(net.a.socket_count(), 0);
    assert_eq!(net.a.counters().tcp_orphans, 1);
    net.pump();
    let mut buf = [0u8; 32];
    let n = net
        .b
        .recv(net.now, s, &mut buf, RecvFlags::default())
        .unwrap();
    assert_eq!(&buf[..n], b"last words");
    assert_eq!(
        net.b.recv(net.now, s, &mut buf, RecvFlags::default()),
        Ok(0)
    );
    net.b.close(net.now, s).unwrap();
    net.pump();
    assert!(net.a.ss_text().contains("TIME-WAIT"), "{}", net.a.ss_text());
    assert_eq!(net.b.connection_count(), 0);
    net.advance(Duration::from_secs(61));
    assert_eq!(net.a.connection_count(), 0);
    assert_eq!(net.a.counters().tcp_orphans, 0);
}

#[test]
fn ss_and_nstat_views() {
    let mut net = Net::new();
    let l = listener(&mut net.b, B, 80, 16);
    let c = net.a.socket(Family::V4).unwrap();
    let _ = net.a.connect(net.now, c, addr(B, 80));
    net.pump();
    let _ = net.b.accept(l).unwrap();
    net.a.send(net.now, c, b"abc").unwrap();
    net.pump();
    let rows = net.b.ss();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].state, State::Listen);
    assert_eq!(rows[1].state, State::Established);
    assert_eq!(rows[1].recv_q, 3);
    let text = net.b.ss_text();
    assert!(text.starts_with("State"), "{text}");
    assert!(
        text.contains("LISTEN") && text.contains("10.0.0.2:80"),
        "{text}"
    );
    assert!(
        text.contains("ESTAB") && text.contains("ts sack wscale:7,7"),
        "{text}"
    );
    let nstat = net.b.nstat_text();
    for name in [
        "TcpPassiveOpens",
        "TcpCurrEstab",
        "TcpInSegs",
        "TcpOutSegs",
        "TcpRetransSegs",
        "TcpOutRsts",
        "TcpExtSyncookiesSent",
        "TcpExtListenOverflows",
    ] {
        assert!(nstat.contains(name), "{name} missing:\n{nstat}");
    }
    let c = net.b.counters();
    assert_eq!((c.passive_opens, c.curr_estab), (1, 1));
    assert!(c.in_segs >= 3 && c.out_segs >= 2);
}
