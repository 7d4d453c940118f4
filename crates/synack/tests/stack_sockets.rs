//! Ports, SO_REUSEADDR / SO_REUSEPORT, ephemeral exhaustion, socket options on the wire,
//! orphans and the FreeBSD profile.

mod stack_common;

use stack_common::*;
use std::net::SocketAddr;
use synack::stack::{
    Errno, Family, Linger, RecvFlags, SockOpt, SockOptName, SockOptValue, Stack, Sysctl,
};
use synack::{Duration, State, TcpFlags};
use synack_wire::ipv4::Ipv4Packet;
use synack_wire::tcp::TcpHeader;

/// Records every datagram moved between the hosts.
/// Captured datagrams: (sent by a, bytes).
type Log = std::rc::Rc<std::cell::RefCell<Vec<(bool, Vec<u8>)>>>;

fn capture(net: &mut Net) -> Log {
    let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let l2 = log.clone();
    net.tap = Some(Box::new(move |from_a, pkt| {
        l2.borrow_mut().push((from_a, pkt.to_vec()));
        true
    }));
    log
}

fn tcp_of(pkt: &[u8]) -> TcpHeader<'_> {
    let ip = Ipv4Packet::new_checked(pkt).unwrap();
    TcpHeader::parse(ip.payload()).unwrap()
}

fn connect_pair(net: &mut Net, port: u16) -> (synack::stack::SocketId, synack::stack::SocketId) {
    let l = listener(&mut net.b, B, port, 16);
    let c = net.a.socket(Family::V4).unwrap();
    let _ = net.a.connect(net.now, c, addr(B, port));
    net.pump();
    let (s, _) = net.b.accept(l).unwrap();
    (c, s)
}

/// The notes' `nc -p 12345` experiment: the old connection from port 12345 sits in
/// TIME_WAIT, so binding 12345 again fails with EADDRINUSE; with SO_REUSEADDR it works.
#[test]
fn reuseaddr_rebinds_a_port_held_by_time_wait() {
    let mut net = Net::new();
    let l = listener(&mut net.b, B, 80, 16);
    let c = net.a.socket(Family::V4).unwrap();
    net.a.bind(c, addr(A, 12345)).unwrap();
    let _ = net.a.connect(net.now, c, addr(B, 80));
    net.pump();
    let (s, _) = net.b.accept(l).unwrap();
    // ctrl+c: the client closes first and keeps TIME_WAIT.
    net.a.close(net.now, c).unwrap();
    net.pump();
    net.b.close(net.now, s).unwrap();
    net.pump();
    assert!(net.a.ss_text().contains("TIME-WAIT"));

    let again = net.a.socket(Family::V4).unwrap();
    assert_eq!(net.a.bind(again, addr(A, 12345)), Err(Errno::EADDRINUSE));
    net.a.setsockopt(again, SockOpt::ReuseAddr(true)).unwrap();
    assert_eq!(
        net.a.getsockopt(again, SockOptName::ReuseAddr),
        Ok(SockOptValue::Int(1))
    );
    assert_eq!(net.a.bind(again, addr(A, 12345)), Ok(()));
    // The same 4-tuple is still in TIME_WAIT: without tcp_tw_reuse for this (non-loopback)
    // path, connect() cannot take it (Linux: EADDRNOTAVAIL).
    assert_eq!(
        net.a.connect(net.now, again, addr(B, 80)),
        Err(Errno::EADDRNOTAVAIL)
    );
    // With tcp_tw_reuse = 1 (timestamps negotiated, TIME_WAIT older than 1 s) it can.
    net.a.sysctl_set("net.ipv4.tcp_tw_reuse", "1").unwrap();
    net.advance(Duration::from_secs(2));
    assert_eq!(
        net.a.connect(net.now, again, addr(B, 80)),
        Err(Errno::EINPROGRESS)
    );
    net.pump();
    assert_eq!(net.a.state(again), Ok(State::Established));
    assert_eq!(net.a.counters().tcp_time_wait_reuse, 1);
    // A server's port: a listener conflicts even with SO_REUSEADDR on both.
    let l2 = net.b.socket(Family::V4).unwrap();
    net.b.setsockopt(l2, SockOpt::ReuseAddr(true)).unwrap();
    assert_eq!(net.b.bind(l2, addr(B, 80)), Err(Errno::EADDRINUSE));
}

#[test]
fn server_restart_needs_reuseaddr_while_children_are_in_time_wait() {
    let mut net = Net::new();
    let l = listener(&mut net.b, B, 8080, 16);
    let c = net.a.socket(Family::V4).unwrap();
    let _ = net.a.connect(net.now, c, addr(B, 8080));
    net.pump();
    let (s, _) = net.b.accept(l).unwrap();
    // The server exits first: listener and child closed; the child keeps TIME_WAIT.
    net.b.close(net.now, l).unwrap();
    net.b.close(net.now, s).unwrap();
    net.pump();
    net.a.close(net.now, c).unwrap();
    net.pump();
    assert!(net.b.ss_text().contains("TIME-WAIT"), "{}", net.b.ss_text());
    let l = net.b.socket(Family::V4).unwrap();
    assert_eq!(net.b.bind(l, addr(B, 8080)), Err(Errno::EADDRINUSE));
    net.b.setsockopt(l, SockOpt::ReuseAddr(true)).unwrap();
    net.b.bind(l, addr(B, 8080)).unwrap();
    net.b.listen(l, 16).unwrap();
    let c = net.a.socket(Family::V4).unwrap();
    let _ = net.a.connect(net.now, c, addr(B, 8080));
    net.pump();
    assert!(net.b.accept(l).is_ok());
    // Once TIME_WAIT is over, no option is needed.
    net.advance(Duration::from_secs(61));
    let m = net.b.socket(Family::V4).unwrap();
    net.b.bind(m, addr(B, 8081)).unwrap();
}

#[test]
fn reuseport_lets_two_listeners_share_a_port() {
    let mut net = Net::new();
    let mk = |s: &mut Stack, reuse: bool| {
        let l = s.socket(Family::V4).unwrap();
        s.setsockopt(l, SockOpt::ReusePort(reuse)).unwrap();
        l
    };
    let l1 = mk(&mut net.b, true);
    net.b.bind(l1, addr(B, 443)).unwrap();
    net.b.listen(l1, 64).unwrap();
    let l2 = mk(&mut net.b, true);
    net.b.bind(l2, addr(B, 443)).unwrap();
    net.b.listen(l2, 64).unwrap();
    let l3 = mk(&mut net.b, false);
    assert_eq!(net.b.bind(l3, addr(B, 443)), Err(Errno::EADDRINUSE));
    for _ in 0..40 {
        let c = net.a.socket(Family::V4).unwrap();
        let _ = net.a.connect(net.now, c, addr(B, 443));
    }
    net.pump();
    let mut n1 = 0;
    while net.b.accept(l1).is_ok() {
        n1 += 1;
    }
    let mut n2 = 0;
    while net.b.accept(l2).is_ok() {
        n2 += 1;
    }
    assert_eq!(n1 + n2, 40);
    assert!(
        n1 > 0 && n2 > 0,
        "load spread over both listeners: {n1}/{n2}"
    );
}

#[test]
fn bind_errors() {
    let mut net = Net::new();
    let s = net.a.socket(Family::V4).unwrap();
    assert_eq!(
        net.a.bind(s, "10.9.9.9:80".parse().unwrap()),
        Err(Errno::EADDRNOTAVAIL)
    );
    assert_eq!(
        net.a.bind(s, "[::1]:80".parse().unwrap()),
        Err(Errno::EAFNOSUPPORT)
    );
    net.a.bind(s, "0.0.0.0:0".parse().unwrap()).unwrap();
    let port = net.a.local_addr(s).unwrap().port();
    assert!((32768..=60999).contains(&port));
    assert_eq!(net.a.bind(s, addr(A, 1)), Err(Errno::EINVAL));
    // A wildcard binding conflicts with a specific one on the same port.
    let t = net.a.socket(Family::V4).unwrap();
    assert_eq!(net.a.bind(t, addr(A, port)), Err(Errno::EADDRINUSE));
    let bogus = net.a.socket(Family::V4).unwrap();
    net.a.close(net.now, bogus).unwrap();
    assert_eq!(net.a.bind(bogus, addr(A, 5)), Err(Errno::EBADF));
    assert_eq!(net.a.listen(t, 5), Ok(()));
    // listen() without bind picked an ephemeral port.
    assert_ne!(net.a.local_addr(t).unwrap().port(), 0);
}

#[test]
fn ephemeral_port_exhaustion_gives_eaddrnotavail() {
    let mut net = Net::new();
    net.a
        .sysctl_set("net.ipv4.ip_local_port_range", "40000 40009")
        .unwrap();
    let _l = listener(&mut net.b, B, 80, 64);
    let mut ports = Vec::new();
    for _ in 0..10 {
        let c = net.a.socket(Family::V4).unwrap();
        assert_eq!(
            net.a.connect(net.now, c, addr(B, 80)),
            Err(Errno::EINPROGRESS)
        );
        ports.push(net.a.local_addr(c).unwrap().port());
    }
    ports.sort_unstable();
    assert_eq!(ports, (40000..40010).collect::<Vec<_>>());
    let c = net.a.socket(Family::V4).unwrap();
    assert_eq!(
        net.a.connect(net.now, c, addr(B, 80)),
        Err(Errno::EADDRNOTAVAIL)
    );
    // Another destination port makes new 4-tuples: the same local ports serve again.
    let _l2 = listener(&mut net.b, B, 81, 64);
    assert_eq!(
        net.a.connect(net.now, c, addr(B, 81)),
        Err(Errno::EINPROGRESS)
    );
    net.pump();
    assert_eq!(net.a.state(c), Ok(State::Established));
}

#[test]
fn ephemeral_ports_are_randomized_and_deterministic() {
    let run = |secret: u8| {
        let mut s = Stack::new([secret; 16], Sysctl::linux());
        s.add_address(A);
        (0..5)
            .map(|_| {
                let c = s.socket(Family::V4).unwrap();
                let _ = s.connect(synack::Instant::from_secs(1), c, addr(B, 80));
                s.local_addr(c).unwrap().port()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
    let p = run(1);
    assert!(p.windows(2).any(|w| w[1] != w[0].wrapping_add(1)), "{p:?}");
}

#[test]
fn socket_options_read_back_and_change_the_wire() {
    let mut net = Net::new();
    let log = capture(&mut net);
    let _l = listener(&mut net.b, B, 80, 16);
    let c = net.a.socket(Family::V4).unwrap();
    let a = &mut net.a;
    a.setsockopt(c, SockOpt::MaxSeg(1000)).unwrap();
    a.setsockopt(c, SockOpt::RcvBuf(8192)).unwrap();
    a.setsockopt(c, SockOpt::NoDelay(true)).unwrap();
    a.setsockopt(c, SockOpt::KeepAlive(true)).unwrap();
    a.setsockopt(c, SockOpt::KeepIdle(30)).unwrap();
    a.setsockopt(c, SockOpt::KeepIntvl(5)).unwrap();
    a.setsockopt(c, SockOpt::KeepCnt(3)).unwrap();
    a.setsockopt(c, SockOpt::UserTimeout(5000)).unwrap();
    a.setsockopt(c, SockOpt::Cork(true)).unwrap();
    a.setsockopt(c, SockOpt::OobInline(true)).unwrap();
    a.setsockopt(c, SockOpt::SndBuf(10000)).unwrap();
    assert_eq!(a.setsockopt(c, SockOpt::MaxSeg(10)), Err(Errno::EINVAL));
    assert_eq!(a.setsockopt(c, SockOpt::KeepCnt(0)), Err(Errno::EINVAL));
    assert_eq!(
        a.setsockopt(c, SockOpt::KeepIdle(40000)),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        a.setsockopt(c, SockOpt::UserTimeout(-1)),
        Err(Errno::EINVAL)
    );
    let get = |a: &mut Stack, n| a.getsockopt(c, n).unwrap().as_int().unwrap();
    assert_eq!(get(a, SockOptName::MaxSeg), 1000);
    assert_eq!(
        get(a, SockOptName::RcvBuf),
        16384,
        "Linux doubles SO_RCVBUF"
    );
    assert_eq!(get(a, SockOptName::SndBuf), 20000);
    assert_eq!(get(a, SockOptName::NoDelay), 1);
    assert_eq!(get(a, SockOptName::KeepAlive), 1);
    assert_eq!(get(a, SockOptName::KeepIdle), 30);
    assert_eq!(get(a, SockOptName::KeepIntvl), 5);
    assert_eq!(get(a, SockOptName::KeepCnt), 3);
    assert_eq!(get(a, SockOptName::UserTimeout), 5000);
    assert_eq!(get(a, SockOptName::Cork), 1);
    assert_eq!(get(a, SockOptName::OobInline), 1);
    assert_eq!(get(a, SockOptName::Error), 0);
    assert_eq!(get(a, SockOptName::Type), 1);
    assert_eq!(
        SockOptName::from_linux(6, 2).and_then(|n| n.with_int(1200)),
        Some(SockOpt::MaxSeg(1200))
    );
    let _ = a.connect(net.now, c, addr(B, 80));
    net.pump();
    // On the wire: the SYN advertises MSS 1000, and the window follows SO_RCVBUF
    // (16384 bytes, window scale 0 since the buffer is locked).
    let syn = log.borrow()[0].1.clone();
    let h = tcp_of(&syn);
    assert_eq!(h.flags(), TcpFlags::SYN);
    let o = h.options_summary();
    assert_eq!(o.mss, Some(1000));
    assert_eq!(o.window_scale, Some(0));
    assert_eq!(h.window(), 16384);
    let info = net.a.tcp_info(c).unwrap();
    assert_eq!(info.state, State::Established);
    assert_eq!(info.snd_mss, 1000 - 12, "MSS less the timestamp option");
    assert_eq!(info.options & 1, 1);
    assert_eq!(get(&mut net.a, SockOptName::MaxSeg), 988);
    // TCP_SYNCNT changes the SYN retries: 2 retries → failure after 1 + 2 + 4 s.
    let d = net.a.socket(Family::V4).unwrap();
    net.a.setsockopt(d, SockOpt::SynCnt(2)).unwrap();
    let t0 = net.now;
    let _ = net.a.connect(net.now, d, addr(B, 9));
    net.tap = Some(Box::new(|from_a, _| !from_a)); // SYNs vanish
    while net.a.state(d) == Ok(State::SynSent) {
        assert!(net.step(t0 + Duration::from_secs(100)));
    }
    assert_eq!(net.now - t0, Duration::from_secs(7));
    assert_eq!(net.a.take_error(d), Ok(Some(Errno::ETIMEDOUT)));
}

#[test]
fn so_linger_zero_closes_with_rst() {
    let mut net = Net::new();
    let (c, s) = connect_pair(&mut net, 80);
    net.a
        .setsockopt(c, SockOpt::Linger(Linger { on: true, secs: 0 }))
        .unwrap();
    assert_eq!(
        net.a.getsockopt(c, SockOptName::Linger),
        Ok(SockOptValue::Linger(Linger { on: true, secs: 0 }))
    );
    let before = net.a.counters().out_rsts;
    net.a.close(net.now, c).unwrap();
    net.pump();
    assert_eq!(net.a.counters().out_rsts, before + 1);
    assert_eq!(net.a.connection_count(), 0, "no TIME_WAIT after an abort");
    let mut buf = [0u8; 8];
    assert_eq!(
        net.b.recv(net.now, s, &mut buf, RecvFlags::default()),
        Err(Errno::ECONNRESET)
    );
    assert_eq!(
        net.b.recv(net.now, s, &mut buf, RecvFlags::default()),
        Ok(0)
    );
    assert_eq!(net.b.send(net.now, s, b"x"), Err(Errno::EPIPE));
    assert!(net.b.poll(s).unwrap().hangup);
}

#[test]
fn close_with_unread_data_sends_rst() {
    let mut net = Net::new();
    let (c, s) = connect_pair(&mut net, 80);
    net.a.send(net.now, c, b"unread").unwrap();
    net.pump();
    net.b.close(net.now, s).unwrap();
    net.pump();
    assert_eq!(net.b.counters().tcp_abort_on_close, 1);
    assert_eq!(net.a.take_error(c), Ok(Some(Errno::ECONNRESET)));
}

#[test]
fn tcp_max_orphans_resets_the_oldest() {
    let mut net = Net::new();
    net.a.sysctl_set("net.ipv4.tcp_max_orphans", "3").unwrap();
    let l = listener(&mut net.b, B, 80, 64);
    let mut cs = Vec::new();
    for _ in 0..5 {
        let c = net.a.socket(Family::V4).unwrap();
        let _ = net.a.connect(net.now, c, addr(B, 80));
        cs.push(c);
    }
    net.pump();
    let mut ss = Vec::new();
    while let Ok((s, _)) = net.b.accept(l) {
        ss.push(s);
    }
    // The peer never closes, so the clients' orphans wait in FIN_WAIT_2.
    for &c in &cs {
        net.a.close(net.now, c).unwrap();
        net.pump();
    }
    assert_eq!(net.a.counters().tcp_orphans, 3);
    assert_eq!(net.a.counters().tcp_abort_on_memory, 2);
    // The two oldest were reset: their peers see ECONNRESET.
    let mut buf = [0u8; 4];
    let errs: Vec<_> = ss
        .iter()
        .map(|&s| net.b.recv(net.now, s, &mut buf, RecvFlags::default()))
        .collect();
    assert_eq!(
        errs.iter()
            .filter(|e| **e == Err(Errno::ECONNRESET))
            .count(),
        2
    );
    // tcp_fin_timeout ends the rest.
    net.advance(Duration::from_secs(61));
    assert_eq!(net.a.connection_count(), 0);
}

#[test]
fn freebsd_profile_lays_out_options_bsd_style_with_65535_window() {
    let mut net = Net::with(Sysctl::freebsd(), Sysctl::freebsd());
    let log = capture(&mut net);
    let (_c, _s) = connect_pair(&mut net, 80);
    let syn = log.borrow()[0].1.clone();
    let h = tcp_of(&syn);
    // mss, nop, wscale, sackOK, TS
    assert_eq!(&h.options_bytes()[..8], &[2, 4, 5, 180, 1, 3, 3, 6]);
    assert_eq!(h.options_bytes()[8..10], [4, 2]);
    assert_eq!(h.window(), 65535);
    let linux = Sysctl::linux();
    assert_eq!(
        linux.get("net.ipv4.tcp_rmem").unwrap(),
        "4096\t131072\t6291456"
    );
    let _: SocketAddr = addr(A, 1);
}

/// FreeBSD's tcp_mss(): once connected, both socket buffers grow to a whole number of
/// MSS-sized segments (65536 → 65700 and 32768 → 33580 with a 1460-byte MSS); the Linux
/// profile leaves them alone.
#[test]
fn freebsd_profile_rounds_buffers_up_to_whole_segments_once_connected() {
    let mut net = Net::with(Sysctl::freebsd(), Sysctl::freebsd());
    let l = listener(&mut net.b, B, 80, 16);
    let c = net.a.socket(Family::V4).unwrap();
    let get = |s: &mut Stack, id, n| s.getsockopt(id, n).unwrap().as_int().unwrap();
    assert_eq!(get(&mut net.a, c, SockOptName::RcvBuf), 65536);
    let _ = net.a.connect(net.now, c, addr(B, 80));
    net.pump();
    let (s, _) = net.b.accept(l).unwrap();
    for (stack, id) in [(&mut net.a, c), (&mut net.b, s)] {
        assert_eq!(get(stack, id, SockOptName::RcvBuf), 65700);
        assert_eq!(get(stack, id, SockOptName::SndBuf), 33580);
    }
    let mut net = Net::new();
    let (c, _s) = connect_pair(&mut net, 80);
    assert_eq!(get(&mut net.a, c, SockOptName::RcvBuf), 131072);
}

/// `Stack::drop_connection` (FreeBSD's tcpdrop): an established connection is reset with
/// `R.` at SND.NXT; the peer reads ECONNRESET, the owner ECONNABORTED.
#[test]
fn drop_connection_resets_an_established_connection() {
    let mut net = Net::new();
    let log = capture(&mut net);
    let (c, s) = connect_pair(&mut net, 80);
    let (me, peer) = (net.b.local_addr(s).unwrap(), net.b.peer_addr(s).unwrap());
    let before = log.borrow().len();
    assert_eq!(
        net.b.drop_connection(net.now, me, peer),
        Ok(State::Established)
    );
    net.pump();
    let rst = log.borrow()[before].1.clone();
    assert_eq!(tcp_of(&rst).flags(), TcpFlags::RST | TcpFlags::ACK);
    assert_eq!(net.b.take_error(s), Ok(Some(Errno::ECONNABORTED)));
    assert_eq!(net.a.take_error(c), Ok(Some(Errno::ECONNRESET)));
    assert_eq!(net.a.state(c), Ok(State::Closed));
}

/// IP_TTL sets the TTL of a socket's datagrams, on a live connection too; 0 is EINVAL and
/// −1 restores the default 64.
#[test]
fn ip_ttl_sets_the_ttl_of_the_connection() {
    let mut net = Net::new();
    let log = capture(&mut net);
    let c = net.a.socket(Family::V4).unwrap();
    assert_eq!(net.a.setsockopt(c, SockOpt::IpTtl(0)), Err(Errno::EINVAL));
    net.a.setsockopt(c, SockOpt::IpTtl(4)).unwrap();
    let get = |s: &mut Stack| {
        s.getsockopt(c, SockOptName::IpTtl)
            .unwrap()
            .as_int()
            .unwrap()
    };
    assert_eq!(get(&mut net.a), 4);
    let _l = listener(&mut net.b, B, 80, 4);
    let _ = net.a.connect(net.now, c, addr(B, 80));
    net.pump();
    let ttl = |pkt: &[u8]| Ipv4Packet::new_checked(pkt).unwrap().ttl();
    let first = log.borrow()[0].1.clone();
    assert_eq!(ttl(&first), 4, "the SYN");
    net.a.setsockopt(c, SockOpt::IpTtl(-1)).unwrap();
    assert_eq!(get(&mut net.a), 64);
    net.a.send(net.now, c, b"x").unwrap();
    let before = log.borrow().len();
    net.pump();
    let data = log.borrow()[before].1.clone();
    assert_eq!(ttl(&data), 64);
}

/// The smallest IPv4 MTU (68, RFC 791) still carries a connection: MSS 28, data arrives.
#[test]
fn a_68_byte_mtu_still_carries_data() {
    let mut sa = Sysctl::linux();
    sa.set("net.ipv4.tcp_mtu", "68").unwrap();
    assert!(sa.clone().set("net.ipv4.tcp_mtu", "67").is_err());
    let mut net = Net::with(sa.clone(), sa);
    let (c, s) = connect_pair(&mut net, 80);
    net.a.send(net.now, c, &[7u8; 100]).unwrap();
    for _ in 0..50 {
        net.pump();
        net.advance(Duration::from_millis(50));
    }
    let mut buf = [0u8; 200];
    assert_eq!(
        net.b.recv(net.now, s, &mut buf, RecvFlags::default()),
        Ok(100)
    );
}

#[test]
fn full_sized_segments_fill_the_mtu() {
    let mut net = Net::new();
    let log = capture(&mut net);
    let (c, s) = connect_pair(&mut net, 80);
    let data = vec![0x5au8; 10_000];
    assert_eq!(net.a.send(net.now, c, &data), Ok(10_000));
    net.pump();
    let max = log
        .borrow()
        .iter()
        .filter(|(from_a, _)| *from_a)
        .map(|(_, p)| p.len())
        .max()
        .unwrap();
    // 20 (IP) + 32 (TCP with timestamps) + 1448.
    assert_eq!(max, 1500);
    let mut buf = vec![0u8; 20_000];
    let mut got = 0;
    while let Ok(n) = net
        .b
        .recv(net.now, s, &mut buf[got..], RecvFlags::default())
    {
        got += n;
        net.pump();
    }
    assert_eq!(&buf[..got], &data[..]);
}

#[test]
fn a_host_connects_to_itself_over_loopback() {
    let mut s = Stack::new([5; 16], Sysctl::linux());
    let lo: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    s.add_address(lo);
    let now = synack::Instant::from_secs(1);
    let l = s.socket(Family::V4).unwrap();
    s.bind(l, addr(lo, 80)).unwrap();
    s.listen(l, 4).unwrap();
    let c = s.socket(Family::V4).unwrap();
    assert_eq!(s.connect(now, c, addr(lo, 80)), Err(Errno::EINPROGRESS));
    let mut buf = [0u8; 1500];
    assert_eq!(
        s.poll_transmit(now, &mut buf),
        None,
        "nothing leaves the host"
    );
    let (srv, _) = s.accept(l).unwrap();
    s.send(now, c, b"self").unwrap();
    assert_eq!(s.poll_transmit(now, &mut buf), None);
    let mut r = [0u8; 8];
    assert_eq!(s.recv(now, srv, &mut r, RecvFlags::default()), Ok(4));
    assert_eq!(&r[..4], b"self");
}

#[test]
fn keepalive_options_probe_a_silent_peer_and_time_out() {
    let mut net = Net::new();
    let log = capture(&mut net);
    let (c, _s) = connect_pair(&mut net, 80);
    for o in [
        SockOpt::KeepIdle(10),
        SockOpt::KeepIntvl(5),
        SockOpt::KeepCnt(3),
        SockOpt::KeepAlive(true),
    ] {
        net.a.setsockopt_at(net.now, c, o).unwrap();
    }
    let t0 = net.now;
    let seen = log.borrow().len();
    // The peer goes silent: everything from b is lost from now on.
    let l2 = log.clone();
    net.tap = Some(Box::new(move |from_a, p| {
        l2.borrow_mut().push((from_a, p.to_vec()));
        from_a
    }));
    while net.a.state(c) == Ok(State::Established) {
        assert!(net.step(t0 + Duration::from_secs(100)));
    }
    // Idle 10 s, then 3 probes 5 s apart, then the connection fails.
    assert_eq!(net.now - t0, Duration::from_secs(25));
    let probes = log.borrow()[seen..]
        .iter()
        .filter(|(from_a, p)| *from_a && tcp_of(p).payload().len() <= 1)
        .count();
    assert!(probes >= 3, "{probes} keepalive probes");
    assert_eq!(net.a.take_error(c), Ok(Some(Errno::ETIMEDOUT)));
    assert_eq!(net.a.tcp_info(c).unwrap().state, State::Closed);
}

#[test]
fn urgent_data_is_signalled_and_read_out_of_band() {
    let mut net = Net::new();
    let (c, s) = connect_pair(&mut net, 80);
    net.a.send(net.now, c, b"abc").unwrap();
    assert_eq!(net.a.send_urgent(net.now, c, b"!"), Ok(1));
    net.pump();
    assert!(net.b.poll(s).unwrap().urgent);
    let oob = RecvFlags {
        oob: true,
        ..RecvFlags::default()
    };
    let mut buf = [0u8; 8];
    assert_eq!(net.b.recv(net.now, s, &mut buf, oob), Ok(1));
    assert_eq!(buf[0], b'!');
    assert!(!net.b.poll(s).unwrap().urgent);
    assert_eq!(net.b.recv(net.now, s, &mut buf, oob), Err(Errno::EINVAL));
    assert_eq!(
        net.b.recv(net.now, s, &mut buf, RecvFlags::default()),
        Ok(3)
    );
    assert_eq!(&buf[..3], b"abc");
}

#[test]
fn tcp_info_and_ss_show_rtt_and_cwnd() {
    let mut net = Net::new();
    let (c, s) = connect_pair(&mut net, 80);
    net.a.send(net.now, c, &[1u8; 5000]).unwrap();
    net.pump();
    let mut buf = [0u8; 8192];
    let _ = net.b.recv(net.now, s, &mut buf, RecvFlags::default());
    let i = net.a.tcp_info(c).unwrap();
    assert!(i.rto_us.is_some_and(|r| r >= 200_000), "{i:?}");
    assert!(i.snd_cwnd.is_some_and(|w| w >= 10), "{i:?}");
    assert_eq!(i.bytes_acked, 5000);
    assert_eq!(net.b.tcp_info(s).unwrap().bytes_received, 5000);
    assert_eq!(i.advmss, 1460);
    let d = net.a.socket(Family::V4).unwrap();
    net.a.setsockopt(d, SockOpt::MaxSeg(1100)).unwrap();
    assert_eq!(
        net.a.tcp_info(d).unwrap().advmss,
        1100,
        "TCP_MAXSEG clamps it"
    );
    let ss = net.a.ss_text();
    assert!(ss.contains("ESTAB") && ss.contains("cwnd:"), "{ss}");
}

#[test]
fn closing_a_listener_resets_its_queued_connections() {
    let mut net = Net::new();
    let l = listener(&mut net.b, B, 80, 16);
    let mut cs = Vec::new();
    for _ in 0..3 {
        let c = net.a.socket(Family::V4).unwrap();
        let _ = net.a.connect(net.now, c, addr(B, 80));
        cs.push(c);
    }
    net.pump();
    // A half-open one too: a SYN whose SYN-ACK goes nowhere.
    let syn = tcp_packet(
        addr("10.0.0.9".parse().unwrap(), 5555),
        addr(B, 80),
        1,
        0,
        TcpFlags::SYN,
        None,
        &[],
    );
    net.b.receive(net.now, &syn);
    assert_eq!(net.b.connection_count(), 4);
    net.b.close(net.now, l).unwrap();
    net.pump();
    assert_eq!(net.b.connection_count(), 0);
    assert_eq!(net.b.counters().tcp_orphans, 0);
    for c in cs {
        assert_eq!(net.a.take_error(c), Ok(Some(Errno::ECONNRESET)));
    }
    // The port is free again.
    let l2 = net.b.socket(Family::V4).unwrap();
    net.b.bind(l2, addr(B, 80)).unwrap();
}

/// Data segments `a` would send now, without delivering them.
fn pending_data(net: &mut Net) -> Vec<Vec<u8>> {
    let mut buf = [0u8; 2048];
    let mut out = Vec::new();
    while let Some(n) = net.a.poll_transmit(net.now, &mut buf) {
        let p = buf[..n].to_vec();
        if !tcp_of(&p).payload().is_empty() {
            out.push(tcp_of(&p).payload().to_vec());
        }
    }
    out
}

#[test]
fn nodelay_and_cork_change_segmentation() {
    // Nagle (default): a small write waits while an earlier one is unacknowledged.
    let mut net = Net::new();
    let (c, _s) = connect_pair(&mut net, 80);
    net.a.send(net.now, c, b"a").unwrap();
    assert_eq!(pending_data(&mut net), vec![b"a".to_vec()]);
    net.a.send(net.now, c, b"b").unwrap();
    assert!(
        pending_data(&mut net).is_empty(),
        "Nagle holds the second write"
    );
    // TCP_NODELAY: it leaves at once.
    let mut net = Net::new();
    let (c, _s) = connect_pair(&mut net, 80);
    net.a.setsockopt(c, SockOpt::NoDelay(true)).unwrap();
    net.a.send(net.now, c, b"a").unwrap();
    assert_eq!(pending_data(&mut net), vec![b"a".to_vec()]);
    net.a.send(net.now, c, b"b").unwrap();
    assert_eq!(pending_data(&mut net), vec![b"b".to_vec()]);
    // TCP_CORK: nothing leaves until the cork is pulled, then one segment.
    let mut net = Net::new();
    let (c, _s) = connect_pair(&mut net, 80);
    net.a.setsockopt(c, SockOpt::Cork(true)).unwrap();
    net.a.send(net.now, c, b"a").unwrap();
    net.a.send(net.now, c, b"b").unwrap();
    assert!(pending_data(&mut net).is_empty());
    net.a.setsockopt(c, SockOpt::Cork(false)).unwrap();
    assert_eq!(pending_data(&mut net), vec![b"ab".to_vec()]);
}

#[test]
fn sndbuf_oobinline_and_user_timeout_take_effect() {
    let mut net = Net::new();
    let (c, s) = connect_pair(&mut net, 80);
    net.a.setsockopt(c, SockOpt::SndBuf(4096)).unwrap();
    let big = vec![0u8; 100_000];
    assert_eq!(
        net.a.send(net.now, c, &big),
        Ok(8192),
        "SO_SNDBUF 4096 doubled"
    );
    net.pump();
    let mut buf = vec![0u8; 100_000];
    let _ = net.b.recv(net.now, s, &mut buf, RecvFlags::default());
    // SO_OOBINLINE: the urgent byte stays in the stream.
    net.b.setsockopt(s, SockOpt::OobInline(true)).unwrap();
    net.a.send(net.now, c, b"ab").unwrap();
    net.a.send_urgent(net.now, c, b"!").unwrap();
    net.pump();
    let oob = RecvFlags {
        oob: true,
        ..RecvFlags::default()
    };
    assert_eq!(net.b.recv(net.now, s, &mut buf, oob), Err(Errno::EINVAL));
    // Reading stops at the urgent mark (Linux), which SIOCATMARK then reports.
    let n = net
        .b
        .recv(net.now, s, &mut buf, RecvFlags::default())
        .unwrap();
    assert_eq!(&buf[..n], b"ab");
    assert_eq!(net.b.ioctl_atmark(s), Ok(true));
    let n = net
        .b
        .recv(net.now, s, &mut buf, RecvFlags::default())
        .unwrap();
    assert_eq!(&buf[..n], b"!");
    // TCP_USER_TIMEOUT 3 s: unacknowledged data fails the connection after about 3 s,
    // long before tcp_retries2 would.
    net.a
        .setsockopt_at(net.now, c, SockOpt::UserTimeout(3000))
        .unwrap();
    net.tap = Some(Box::new(|from_a, _| !from_a));
    let t0 = net.now;
    net.a.send(net.now, c, b"lost").unwrap();
    while net.a.state(c) == Ok(State::Established) {
        assert!(net.step(t0 + Duration::from_secs(60)));
    }
    assert!(net.now - t0 <= Duration::from_secs(8), "{:?}", net.now - t0);
    assert_eq!(net.a.take_error(c), Ok(Some(Errno::ETIMEDOUT)));
}

#[test]
fn syn_reopens_a_server_time_wait_tuple() {
    let mut net = Net::new();
    let l = listener(&mut net.b, B, 80, 16);
    let c = net.a.socket(Family::V4).unwrap();
    net.a.bind(c, addr(A, 23456)).unwrap();
    let _ = net.a.connect(net.now, c, addr(B, 80));
    net.pump();
    let (s, _) = net.b.accept(l).unwrap();
    // The server closes first and holds TIME_WAIT; the client's side is gone.
    net.b.close(net.now, s).unwrap();
    net.pump();
    net.a.close(net.now, c).unwrap();
    net.pump();
    assert!(net.b.ss_text().contains("TIME-WAIT"));
    assert_eq!(net.a.connection_count(), 0);
    net.advance(Duration::from_secs(1));
    // RFC 6191: the same 4-tuple with a newer timestamp reopens it.
    let c = net.a.socket(Family::V4).unwrap();
    net.a.bind(c, addr(A, 23456)).unwrap();
    let _ = net.a.connect(net.now, c, addr(B, 80));
    net.pump();
    assert_eq!(net.a.state(c), Ok(State::Established));
    assert!(net.b.accept(l).is_ok());
    assert_eq!(net.b.counters().tcp_time_wait_reuse, 1);
}

#[test]
fn ipv6_sockets_are_dual_stack_unless_v6only() {
    let mut net = Net::new();
    let l = net.b.socket(Family::V6).unwrap();
    net.b.bind(l, "[::]:80".parse().unwrap()).unwrap();
    net.b.listen(l, 8).unwrap();
    // An IPv4 wildcard on the same port conflicts with the dual-stack listener.
    let v4 = net.b.socket(Family::V4).unwrap();
    assert_eq!(net.b.bind(v4, addr(B, 80)), Err(Errno::EADDRINUSE));
    // An IPv6 client socket talks to an IPv4 peer through a v4-mapped address.
    let c = net.a.socket(Family::V6).unwrap();
    let mapped: SocketAddr = "[::ffff:10.0.0.2]:80".parse().unwrap();
    assert_eq!(net.a.connect(net.now, c, mapped), Err(Errno::EINPROGRESS));
    net.pump();
    assert_eq!(net.a.state(c), Ok(State::Established));
    assert_eq!(net.a.peer_addr(c), Ok(mapped));
    assert_eq!(
        net.a.local_addr(c).unwrap().ip(),
        "::ffff:10.0.0.1".parse::<std::net::IpAddr>().unwrap()
    );
    let (s, peer) = net.b.accept(l).unwrap();
    assert_eq!(peer, net.a.local_addr(c).unwrap());
    net.a.send(net.now, c, b"mapped").unwrap();
    net.pump();
    let mut buf = [0u8; 8];
    assert_eq!(
        net.b.recv(net.now, s, &mut buf, RecvFlags::default()),
        Ok(6)
    );
    // IPV6_V6ONLY: an IPv6-only listener does not take IPv4.
    let only = net.b.socket(Family::V6).unwrap();
    net.b.setsockopt(only, SockOpt::V6Only(true)).unwrap();
    assert_eq!(
        net.b.getsockopt(only, SockOptName::V6Only),
        Ok(SockOptValue::Int(1))
    );
    net.b.bind(only, "[::]:81".parse().unwrap()).unwrap();
    assert_eq!(
        net.b.setsockopt(only, SockOpt::V6Only(false)),
        Err(Errno::EINVAL)
    );
    net.b.listen(only, 8).unwrap();
    let v4l = listener(&mut net.b, B, 81, 8);
    let c2 = net.a.socket(Family::V4).unwrap();
    let _ = net.a.connect(net.now, c2, addr(B, 81));
    net.pump();
    assert!(net.b.accept(v4l).is_ok(), "the IPv4 listener takes it");
    assert_eq!(net.b.accept(only), Err(Errno::EAGAIN));
}

/// `send(MSG_OOB)` reports a reset connection exactly as `send` does: the error once
/// (ECONNRESET), then EPIPE (Linux tcp_sendmsg; `sk_err` is read and cleared once).
#[test]
fn urgent_send_reports_a_reset_like_send() {
    for urgent in [false, true] {
        let mut net = Net::new();
        let (c, s) = connect_pair(&mut net, 80);
        net.a
            .setsockopt(c, SockOpt::Linger(Linger { on: true, secs: 0 }))
            .unwrap();
        net.a.close(net.now, c).unwrap();
        net.pump();
        let send = |net: &mut Net| {
            if urgent {
                net.b.send_urgent(net.now, s, b"!")
            } else {
                net.b.send(net.now, s, b"!")
            }
        };
        assert_eq!(send(&mut net), Err(Errno::ECONNRESET), "urgent: {urgent}");
        assert_eq!(send(&mut net), Err(Errno::EPIPE), "urgent: {urgent}");
    }
}
