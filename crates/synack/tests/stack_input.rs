//! Inbound processing: malformed datagrams dropped and counted (never a panic), RST to a
//! closed port, ICMP (echo, unreachable, packet too big), IPv4 reassembly, IPv6, SYN
//! cookies in detail, sysctl validation, determinism and restart.

mod stack_common;

use stack_common::*;
use std::net::{IpAddr, Ipv6Addr};
use synack::stack::{
    DropReason, Errno, Family, RecvFlags, SockOpt, SockOptName, Stack, Sysctl, SysctlError,
};
use synack::{Duration, Instant, State, TcpFlags};
use synack_wire::checksum::PseudoHeader;
use synack_wire::icmp::{EchoRepr, IcmpPacket};
use synack_wire::ipv4::{Ipv4Packet, Ipv4Repr};
use synack_wire::ipv6::{Ipv6Packet, Ipv6Repr};
use synack_wire::tcp::TcpHeader;
use synack_wire::tcp_options::SynOptions;

fn drain(s: &mut Stack, now: Instant) -> Vec<Vec<u8>> {
    let mut buf = [0u8; 2048];
    let mut out = Vec::new();
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

fn host() -> Stack {
    let mut s = Stack::new([9; 16], Sysctl::linux());
    s.add_address(B);
    s
}

fn syn_to(port: u16) -> Vec<u8> {
    tcp_packet(
        addr(A, 42001),
        addr(B, port),
        21621375,
        0,
        TcpFlags::SYN,
        None,
        &[],
    )
}

#[test]
fn rst_to_closed_port_matches_the_notes() {
    let mut b = host();
    let now = Instant::from_secs(1);
    b.receive(now, &syn_to(54321));
    let out = drain(&mut b, now);
    assert_eq!(out.len(), 1);
    let ip = Ipv4Packet::new_checked(&out[0]).unwrap();
    assert!(ip.checksum_ok());
    let h = TcpHeader::parse(ip.payload()).unwrap();
    // `Flags [R.], seq 0, ack 21621376, win 0, length 0`
    assert_eq!(h.flags(), TcpFlags::RST | TcpFlags::ACK);
    assert_eq!((h.seq(), h.ack(), h.window()), (0, 21621376, 0));
    assert!(h.verify_checksum(&PseudoHeader::v4(
        std::net::Ipv4Addr::new(10, 0, 0, 2),
        std::net::Ipv4Addr::new(10, 0, 0, 1)
    )));
    assert_eq!(b.counters().dropped(DropReason::NoSocket), 1);
    assert_eq!(b.counters().out_rsts, 1);
    // A RST is never answered.
    b.receive(
        now,
        &tcp_packet(addr(A, 1), addr(B, 2), 5, 0, TcpFlags::RST, None, &[]),
    );
    assert!(drain(&mut b, now).is_empty());
}

#[test]
fn malformed_datagrams_are_dropped_and_counted() {
    let mut b = host();
    let now = Instant::from_secs(1);
    let good = syn_to(80);
    let mut cases: Vec<(Vec<u8>, DropReason)> = Vec::new();
    cases.push((vec![], DropReason::Truncated));
    cases.push((good[..10].to_vec(), DropReason::Truncated));
    let mut v = good.clone();
    v[0] = 0x55;
    cases.push((v, DropReason::BadIpVersion));
    let mut v = good.clone();
    v[0] = 0x44; // IHL 4
    cases.push((v, DropReason::BadIpHeader));
    let mut v = good.clone();
    v[8] ^= 1; // TTL changed, checksum now wrong
    cases.push((v, DropReason::BadIpChecksum));
    let mut v = good.clone();
    v[10] ^= 0xff; // the checksum field itself (the 20-byte header's straight sum)
    cases.push((v, DropReason::BadIpChecksum));
    // A header with options (IHL 6) takes the general checksum: good, then damaged.
    let mut r = Ipv4Repr::new([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 6);
    r.options = vec![1, 1, 1, 1];
    let mut v = r.emit(&good[20..]);
    assert!(Ipv4Packet::new_checked(&v).unwrap().checksum_ok());
    v[8] ^= 0x40;
    cases.push((v, DropReason::BadIpChecksum));
    let mut r = Ipv4Repr::new([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 6);
    r.total_len = Some(500);
    cases.push((r.emit(&good[20..]), DropReason::BadIpLength));
    let r = Ipv4Repr::new([224, 0, 0, 1].into(), [10, 0, 0, 2].into(), 6);
    cases.push((r.emit(&good[20..]), DropReason::Martian));
    let r = Ipv4Repr::new([10, 0, 0, 1].into(), [10, 0, 0, 3].into(), 6);
    cases.push((r.emit(&good[20..]), DropReason::NotLocal));
    let r = Ipv4Repr::new([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 17);
    cases.push((r.emit(&[0; 8]), DropReason::UnknownProtocol));
    let r = Ipv4Repr::new([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 6);
    cases.push((r.emit(&good[20..30]), DropReason::BadTcpHeader));
    let mut seg = good[20..].to_vec();
    seg[12] = 0xf0; // data offset 60 > length
    cases.push((r.emit(&seg), DropReason::BadTcpHeader));
    let mut v = good.clone();
    v[30] ^= 0xff; // sequence number changed: TCP checksum wrong
    cases.push((v, DropReason::BadTcpChecksum));
    cases.push((
        tcp_packet(addr(A, 0), addr(B, 80), 1, 0, TcpFlags::SYN, None, &[]),
        DropReason::BadPort,
    ));
    for (pkt, reason) in &cases {
        let before = b.counters().dropped(*reason);
        b.receive(now, pkt);
        assert_eq!(b.counters().dropped(*reason), before + 1, "{reason:?}");
        assert!(drain(&mut b, now).is_empty(), "{reason:?} answered");
    }
    assert_eq!(b.counters().in_csum_errors, 1);
    assert!(b.nstat_text().contains("SynackDropBadTcpChecksum"));
    // Intact with options (IHL 6): processed (a SYN to a closed port gets its RST).
    let mut r = Ipv4Repr::new([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 6);
    r.options = vec![1, 1, 1, 1];
    b.receive(now, &r.emit(&good[20..]));
    let out = drain(&mut b, now);
    assert_eq!(out.len(), 1);
    assert!(tcp_of(&out[0]).0.rst());
}

/// A deterministic xorshift generator for the mutation loop.
fn rng(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn random_mutations_never_panic() {
    let mut b = host();
    let l = b.socket(Family::V4).unwrap();
    b.bind(l, addr(B, 80)).unwrap();
    b.listen(l, 8).unwrap();
    let seeds = [
        syn_to(80),
        tcp_packet(
            addr(A, 5),
            addr(B, 80),
            7,
            9,
            TcpFlags::ACK | TcpFlags::PSH,
            Some(SynOptions {
                mss: Some(1460),
                window_scale: Some(14),
                sack_permitted: true,
                timestamps: Some((5, 6)),
            }),
            b"payload",
        ),
        Ipv4Repr::new([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 1).emit(
            &EchoRepr {
                msg_type: 8,
                id: 1,
                seq: 1,
            }
            .emit_v4(b"ping"),
        ),
    ];
    let mut st = 0x9e37_79b9_7f4a_7c15u64;
    let mut now = Instant::from_secs(1);
    for i in 0..30_000u64 {
        let mut p = seeds[(i % 3) as usize].clone();
        let flips = 1 + rng(&mut st) % 4;
        for _ in 0..flips {
            let at = (rng(&mut st) as usize) % p.len();
            p[at] ^= 1 << (rng(&mut st) % 8);
        }
        if rng(&mut st) % 8 == 0 {
            let cut = (rng(&mut st) as usize) % (p.len() + 1);
            p.truncate(cut);
        }
        b.receive(now, &p);
        let _ = drain(&mut b, now);
        now += Duration::from_millis(1);
        if let Some(t) = b.poll_timeout()
            && t <= now
        {
            b.handle_timeout(now);
        }
    }
    let c = b.counters();
    let drops: u64 = c.drops.iter().sum();
    assert!(drops > 10_000, "{drops}");
}

#[test]
fn icmp_echo_reply_v4_and_v6() {
    let mut b = host();
    let v6 = IpAddr::V6("fd00::2".parse().unwrap());
    b.add_address(v6);
    let now = Instant::from_secs(1);
    let req = Ipv4Repr::new([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 1).emit(
        &EchoRepr {
            msg_type: 8,
            id: 0x1234,
            seq: 7,
        }
        .emit_v4(b"abcdefgh"),
    );
    b.receive(now, &req);
    let out = drain(&mut b, now);
    assert_eq!(out.len(), 1);
    let ip = Ipv4Packet::new_checked(&out[0]).unwrap();
    assert_eq!(ip.dst(), std::net::Ipv4Addr::new(10, 0, 0, 1));
    let icmp = IcmpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!(
        (icmp.msg_type(), icmp.echo_id(), icmp.echo_seq()),
        (0, Some(0x1234), Some(7))
    );
    assert_eq!(icmp.payload(), b"abcdefgh");
    assert_eq!(synack_wire::checksum::checksum(ip.payload()), 0);

    let (s6, d6): (Ipv6Addr, Ipv6Addr) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
    let msg = EchoRepr {
        msg_type: 128,
        id: 9,
        seq: 1,
    }
    .emit_v6(&PseudoHeader::v6(s6, d6), b"v6");
    b.receive(now, &Ipv6Repr::new(s6, d6, 58).emit(&msg));
    let out = drain(&mut b, now);
    assert_eq!(out.len(), 1);
    let p = Ipv6Packet::new_checked(&out[0]).unwrap();
    assert_eq!(p.dst(), s6);
    let icmp = IcmpPacket::new_checked(p.payload()).unwrap();
    assert_eq!((icmp.msg_type(), icmp.echo_id()), (129, Some(9)));
    assert_eq!(b.counters().icmp_out_echo_reps, 2);
    b.sysctl_set("net.ipv4.icmp_echo_ignore_all", "1").unwrap();
    b.receive(now, &req);
    assert!(drain(&mut b, now).is_empty());
}

/// An ICMP error from `from` quoting `quoted` (our datagram).
fn icmp_error(
    from: [u8; 4],
    to: [u8; 4],
    ty: u8,
    code: u8,
    rest: [u8; 4],
    quoted: &[u8],
) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(&quoted[..quoted.len().min(28)]);
    let ck = synack_wire::checksum::checksum(&m);
    m[2..4].copy_from_slice(&ck.to_be_bytes());
    Ipv4Repr::new(from.into(), to.into(), 1).emit(&m)
}

#[test]
fn icmp_port_unreachable_refuses_a_connect_after_the_rfc5927_check() {
    let mut a = Stack::new([1; 16], Sysctl::linux());
    a.add_address(A);
    let now = Instant::from_secs(1);
    let c = a.socket(Family::V4).unwrap();
    let _ = a.connect(now, c, addr(B, 80));
    let syn = drain(&mut a, now).remove(0);
    // Quoting a sequence number outside SND.UNA..SND.NXT: ignored (RFC 5927 §4.1).
    let mut forged = syn.clone();
    forged[24] ^= 0x80;
    a.receive(
        now,
        &icmp_error([10, 0, 0, 2], [10, 0, 0, 1], 3, 3, [0; 4], &forged),
    );
    assert_eq!(a.counters().dropped(DropReason::IcmpOutOfWindow), 1);
    assert_eq!(a.state(c), Ok(State::SynSent));
    // The real one: a hard error while opening aborts with ECONNREFUSED.
    a.receive(
        now,
        &icmp_error([10, 0, 0, 2], [10, 0, 0, 1], 3, 3, [0; 4], &syn),
    );
    assert_eq!(a.state(c), Ok(State::Closed));
    assert_eq!(a.connect(now, c, addr(B, 80)), Err(Errno::ECONNREFUSED));
}

#[test]
fn icmp_host_unreachable_is_soft_and_explains_the_timeout() {
    let mut a = Stack::new([1; 16], Sysctl::linux());
    a.add_address(A);
    a.sysctl_set("net.ipv4.tcp_syn_retries", "2").unwrap();
    let mut now = Instant::from_secs(1);
    let c = a.socket(Family::V4).unwrap();
    let _ = a.connect(now, c, addr(B, 80));
    let syn = drain(&mut a, now).remove(0);
    a.receive(
        now,
        &icmp_error([10, 0, 0, 254], [10, 0, 0, 1], 3, 1, [0; 4], &syn),
    );
    assert_eq!(a.state(c), Ok(State::SynSent), "soft error: still trying");
    while let Some(t) = a.poll_timeout() {
        now = t;
        a.handle_timeout(now);
        let _ = drain(&mut a, now);
    }
    assert_eq!(now, Instant::from_secs(8));
    assert_eq!(a.take_error(c), Ok(Some(Errno::EHOSTUNREACH)));
    // Frag-needed records the path MTU.
    let d = a.socket(Family::V4).unwrap();
    let _ = a.connect(now, d, addr(B, 81));
    let syn = drain(&mut a, now).remove(0);
    a.receive(
        now,
        &icmp_error(
            [10, 0, 0, 254],
            [10, 0, 0, 1],
            3,
            4,
            [0, 0, 0x05, 0x78],
            &syn,
        ),
    );
    assert_eq!(a.path_mtu(d), Ok(Some(1400)));
}

/// FreeBSD (tcp_ctlinput → tcp_drop_syn_sent): "host prohibited" refuses a connect with
/// ECONNREFUSED and "TTL exceeded in transit" drops it with EHOSTUNREACH, unless
/// `net.inet.tcp.icmp_may_rst` is 0; host unreachable stays soft.
#[test]
fn freebsd_icmp_errors_drop_a_syn_sent_connection_when_icmp_may_rst() {
    let mut a = Stack::new([1; 16], Sysctl::freebsd());
    a.add_address(A);
    let now = Instant::from_secs(1);
    let attempt = |a: &mut Stack, port: u16, ty: u8, code: u8| {
        let c = a.socket(Family::V4).unwrap();
        let _ = a.connect(now, c, addr(B, port));
        let syn = drain(a, now).remove(0);
        a.receive(
            now,
            &icmp_error([10, 0, 0, 2], [10, 0, 0, 1], ty, code, [0; 4], &syn),
        );
        (a.state(c).unwrap(), a.take_error(c).unwrap())
    };
    assert_eq!(
        attempt(&mut a, 80, 3, 10),
        (State::Closed, Some(Errno::ECONNREFUSED))
    );
    assert_eq!(
        attempt(&mut a, 81, 11, 0),
        (State::Closed, Some(Errno::EHOSTUNREACH))
    );
    assert_eq!(attempt(&mut a, 82, 3, 1), (State::SynSent, None));
    a.sysctl_set("net.inet.tcp.icmp_may_rst", "0").unwrap();
    assert_eq!(attempt(&mut a, 83, 3, 10), (State::SynSent, None));
}

fn tcp_of(pkt: &[u8]) -> (TcpFlags, u32, u32) {
    let ip = Ipv4Packet::new_checked(pkt).unwrap();
    let h = TcpHeader::parse(ip.payload()).unwrap();
    (h.flags(), h.seq(), h.ack())
}

/// FreeBSD profile host rules: a listener drops SYN+ACK silently; a SYN+FIN opens a
/// connection like a SYN (syncache) unless
/// `net.inet.tcp.drop_synfin`; in TIME_WAIT a RST or a segment without ACK gets no answer
/// (tcp_twcheck); `tcpdrop` removes a TIME_WAIT connection silently.
#[test]
fn freebsd_synfin_time_wait_and_tcpdrop() {
    let mut b = Stack::new([9; 16], Sysctl::freebsd());
    b.add_address(B);
    let now = Instant::from_secs(1);
    let l = listener(&mut b, B, 80, 4);
    let (peer, me) = (addr(A, 40000), addr(B, 80));
    let pkt =
        |seq: u32, ack: u32, flags: TcpFlags| tcp_packet(peer, me, seq, ack, flags, None, &[]);
    // "(SYN|ACK) is bogus on a listen socket": dropped, no RST.
    b.receive(now, &pkt(17, 34, TcpFlags::SYN | TcpFlags::ACK));
    assert!(drain(&mut b, now).is_empty());
    let synfin = pkt(100, 0, TcpFlags::SYN | TcpFlags::FIN);
    b.sysctl_set("net.inet.tcp.drop_synfin", "1").unwrap();
    b.receive(now, &synfin);
    assert!(drain(&mut b, now).is_empty());
    assert_eq!(b.counters().dropped(DropReason::SynFin), 1);
    b.sysctl_set("net.inet.tcp.drop_synfin", "0").unwrap();
    b.receive(now, &synfin);
    let out = drain(&mut b, now);
    let (flags, iss, ack) = tcp_of(&out[0]);
    assert_eq!(
        (flags, ack),
        (TcpFlags::SYN | TcpFlags::ACK, 101),
        "the FIN is ignored"
    );
    b.receive(now, &pkt(101, iss + 1, TcpFlags::ACK));
    let (s, _) = b.accept(l).unwrap();
    b.shutdown(now, s, synack::stack::Shutdown::Write).unwrap();
    assert_eq!(
        tcp_of(&drain(&mut b, now)[0]).0,
        TcpFlags::FIN | TcpFlags::ACK
    );
    b.receive(now, &pkt(101, iss + 2, TcpFlags::FIN | TcpFlags::ACK));
    assert_eq!(drain(&mut b, now).len(), 1);
    assert_eq!(b.state(s), Ok(State::TimeWait));
    for (seq, flags) in [
        (102, TcpFlags::RST),
        (102, TcpFlags::SYN),
        (50, TcpFlags::FIN),
        (102, TcpFlags::RST | TcpFlags::ACK),
    ] {
        b.receive(now, &pkt(seq, iss + 2, flags));
        assert!(drain(&mut b, now).is_empty(), "{flags:?} answered");
    }
    assert_eq!(b.counters().dropped(DropReason::TimeWaitNoAck), 3);
    assert_eq!(b.state(s), Ok(State::TimeWait));
    // An old ACK is answered with the current ACK.
    b.receive(now, &pkt(101, iss + 2, TcpFlags::ACK));
    assert_eq!(
        tcp_of(&drain(&mut b, now)[0]),
        (TcpFlags::ACK, iss + 2, 102)
    );
    assert_eq!(b.drop_connection(now, me, peer), Ok(State::TimeWait));
    assert!(drain(&mut b, now).is_empty(), "no RST from TIME_WAIT");
    assert_eq!(b.drop_connection(now, me, peer), Err(Errno::ENOENT));
}

/// `net.ipv4.tcp_ecn` (FreeBSD `net.inet.tcp.ecn.enable`) reaches the engine: 1 asks
/// for ECN in the SYN (ECE and CWR, RFC 3168 §6.1.1), the default 2 does not.
#[test]
fn tcp_ecn_sysctl_requests_ecn_in_the_syn() {
    let mut a = Stack::new([1; 16], Sysctl::freebsd());
    a.add_address(A);
    let now = Instant::from_secs(1);
    let ecn_syn = TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR;
    let c = a.socket(Family::V4).unwrap();
    let _ = a.connect(now, c, addr(B, 80));
    assert_eq!(tcp_of(&drain(&mut a, now)[0]).0, TcpFlags::SYN);
    a.sysctl_set("net.inet.tcp.ecn.enable", "1").unwrap();
    let d = a.socket(Family::V4).unwrap();
    let _ = a.connect(now, d, addr(B, 81));
    assert_eq!(tcp_of(&drain(&mut a, now)[0]).0, ecn_syn);
}

/// FreeBSD's TCP_KEEPINIT (default `net.inet.tcp.keepinit`, 75 s): a connection not
/// established in time is dropped with ETIMEDOUT, before the SYN retries run out.
#[test]
fn freebsd_keepinit_limits_the_handshake() {
    let mut a = Stack::new([1; 16], Sysctl::freebsd());
    a.add_address(A);
    let start = Instant::from_secs(1);
    let c = a.socket(Family::V4).unwrap();
    let get = |a: &mut Stack| a.getsockopt(c, SockOptName::KeepInit).unwrap().as_int();
    assert_eq!(get(&mut a), Some(75));
    assert_eq!(a.setsockopt(c, SockOpt::KeepInit(0)), Err(Errno::EINVAL));
    a.setsockopt(c, SockOpt::KeepInit(3)).unwrap();
    assert_eq!(get(&mut a), Some(3));
    let _ = a.connect(start, c, addr(B, 80));
    let mut now = start;
    let mut syns = drain(&mut a, now).len();
    while a.state(c) == Ok(State::SynSent) {
        now = a.poll_timeout().unwrap();
        a.handle_timeout(now);
        syns += drain(&mut a, now).len();
    }
    assert_eq!(now, start + Duration::from_secs(3));
    assert_eq!(a.take_error(c), Ok(Some(Errno::ETIMEDOUT)));
    assert!(syns >= 2, "{syns} SYNs");
    a.sysctl_set("net.inet.tcp.keepinit", "15000").unwrap();
    let d = a.socket(Family::V4).unwrap();
    assert_eq!(
        a.getsockopt(d, SockOptName::KeepInit).unwrap().as_int(),
        Some(15)
    );
}

/// Sends a SYN from a fresh socket at 1 s and runs the timers until the connection fails;
/// returns when each SYN left (ms since the connect) and when the connection failed.
fn syn_schedule(a: &mut Stack, keepinit: Option<i32>) -> (Vec<u64>, u64) {
    let start = Instant::from_secs(1);
    let c = a.socket(Family::V4).unwrap();
    if let Some(k) = keepinit {
        a.setsockopt(c, SockOpt::KeepInit(k)).unwrap();
    }
    let _ = a.connect(start, c, addr(B, 80));
    let ms = |t: Instant| (t - start).as_millis() as u64;
    let mut times = Vec::new();
    let mut now = start;
    loop {
        for p in drain(a, now) {
            assert_eq!(tcp_of(&p).0, TcpFlags::SYN);
            times.push(ms(now));
        }
        if a.state(c) != Ok(State::SynSent) {
            break;
        }
        now = a.poll_timeout().unwrap();
        a.handle_timeout(now);
    }
    assert_eq!(a.take_error(c), Ok(Some(Errno::ETIMEDOUT)));
    (times, ms(now))
}

/// FreeBSD's SYN retransmission schedule (tcp_timer_rexmt()): TCP_MAXRXTSHIFT (12)
/// retransmissions, the n-th timeout net.inet.tcp.rexmit_initial (1 s) × tcp_backoff[n]
/// plus rexmit_slop (200 ms), capped at TCPTV_REXMTMAX (64 s); the first one is the
/// initial 1 s. Linux (tcp_syn_retries 6, 1 s doubling) is unchanged.
#[test]
fn freebsd_syn_retransmission_schedule() {
    let mut a = Stack::new([1; 16], Sysctl::freebsd());
    a.add_address(A);
    let (times, failed) = syn_schedule(&mut a, Some(3600));
    assert_eq!(
        times,
        [
            0, 1000, 3200, 7400, 15_600, 31_800, 64_000, 128_000, 192_000, 256_000, 320_000,
            384_000, 448_000
        ]
    );
    assert_eq!(failed, 512_000);
    // With the default keepinit (75 s) the handshake gives up first.
    let (times, failed) = syn_schedule(&mut a, None);
    assert_eq!(times.len(), 7);
    assert_eq!(failed, 75_000);

    let mut l = Stack::new([1; 16], Sysctl::linux());
    l.add_address(A);
    let (times, failed) = syn_schedule(&mut l, None);
    assert_eq!(times, [0, 1000, 3000, 7000, 15_000, 31_000, 63_000]);
    assert_eq!(failed, 127_000);
}

#[test]
fn fragmented_syn_is_reassembled() {
    let mut b = host();
    let l = b.socket(Family::V4).unwrap();
    b.bind(l, addr(B, 80)).unwrap();
    b.listen(l, 8).unwrap();
    let now = Instant::from_secs(1);
    let whole = tcp_packet(
        addr(A, 4000),
        addr(B, 80),
        1000,
        0,
        TcpFlags::SYN,
        Some(SynOptions {
            mss: Some(1460),
            ..SynOptions::default()
        }),
        &[],
    );
    let seg = &whole[20..];
    let mut r = Ipv4Repr::new([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 6);
    r.id = 77;
    r.df = false;
    r.mf = true;
    let first = r.emit(&seg[..8]);
    r.mf = false;
    r.frag_offset = 1;
    let second = r.emit(&seg[8..]);
    b.receive(now, &second);
    assert!(drain(&mut b, now).is_empty());
    b.receive(now, &first);
    let out = drain(&mut b, now);
    assert_eq!(out.len(), 1);
    let ip = Ipv4Packet::new_checked(&out[0]).unwrap();
    let h = TcpHeader::parse(ip.payload()).unwrap();
    assert_eq!(h.flags(), TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(b.counters().ip_reasm_oks, 1);
    // A lone fragment times out after 30 s.
    r.id = 78;
    b.receive(now, &r.emit(&seg[8..]));
    assert_eq!(
        b.poll_timeout().map(|t| t <= now + Duration::from_secs(30)),
        Some(true)
    );
    b.handle_timeout(now + Duration::from_secs(31));
    assert_eq!(b.counters().ip_reasm_fails, 1);
}

#[test]
fn ipv6_connection_end_to_end() {
    let (a6, b6): (IpAddr, IpAddr) = (
        "fd00::1".parse::<Ipv6Addr>().unwrap().into(),
        "fd00::2".parse::<Ipv6Addr>().unwrap().into(),
    );
    let mut a = Stack::with_address([1; 16], a6);
    let mut b = Stack::with_address([2; 16], b6);
    let now = Instant::from_secs(1);
    let l = b.socket(Family::V6).unwrap();
    b.bind(l, addr(b6, 80)).unwrap();
    b.listen(l, 8).unwrap();
    let c = a.socket(Family::V6).unwrap();
    assert_eq!(a.connect(now, c, addr(b6, 80)), Err(Errno::EINPROGRESS));
    let pump = |a: &mut Stack, b: &mut Stack| {
        for _ in 0..10 {
            for p in drain(a, now) {
                b.receive(now, &p);
            }
            for p in drain(b, now) {
                a.receive(now, &p);
            }
        }
    };
    pump(&mut a, &mut b);
    let (s, peer) = b.accept(l).unwrap();
    assert_eq!(peer.ip(), a6);
    assert_eq!(b.status(s).unwrap().snd_mss, 1440 - 12);
    a.send(now, c, b"over v6").unwrap();
    pump(&mut a, &mut b);
    let mut buf = [0u8; 16];
    let n = b.recv(now, s, &mut buf, RecvFlags::default()).unwrap();
    assert_eq!(&buf[..n], b"over v6");
}

#[test]
fn syn_cookies_keep_window_scale_sack_and_timestamps() {
    let mut sb = Sysctl::linux();
    sb.tcp_syncookies = 2; // always
    let mut net = Net::with(Sysctl::linux(), sb);
    let l = listener(&mut net.b, B, 80, 16);
    let c = net.a.socket(Family::V4).unwrap();
    let _ = net.a.connect(net.now, c, addr(B, 80));
    net.pump();
    assert_eq!(net.b.counters().syncookies_sent, 1);
    assert_eq!(net.b.counters().syncookies_recv, 1);
    let (s, _) = net.b.accept(l).unwrap();
    let st = net.b.status(s).unwrap();
    assert!(st.timestamps && st.sack_permitted);
    assert_eq!((st.snd_wscale, st.rcv_wscale), (7, 7));
    assert_eq!(st.snd_mss, 1460 - 12, "MSS 1460 from the cookie table");
    let data = vec![7u8; 100_000];
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    while got.len() < data.len() {
        if sent < data.len()
            && let Ok(n) = net.a.send(net.now, c, &data[sent..])
        {
            sent += n;
        }
        net.pump();
        while let Ok(n) = net.b.recv(net.now, s, &mut buf, RecvFlags::default()) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        net.pump();
    }
    assert_eq!(got, data);
    // A forged ACK with a wrong cookie is answered with RST and counted.
    let bogus = tcp_packet(
        addr(A, 999),
        addr(B, 80),
        5,
        12345,
        TcpFlags::ACK,
        None,
        &[],
    );
    net.b.receive(net.now, &bogus);
    assert_eq!(net.b.counters().syncookies_failed, 1);
    assert_eq!(net.b.counters().dropped(DropReason::BadCookie), 1);
}

#[test]
fn sysctl_validation_errors_and_effects() {
    let mut s = host();
    assert_eq!(s.sysctl_get("net.ipv4.tcp_syn_retries").unwrap(), "6");
    assert!(matches!(
        s.sysctl_set("net.ipv4.tcp_syn_retries", "0"),
        Err(SysctlError::InvalidValue { .. })
    ));
    assert!(matches!(
        s.sysctl_set("net.ipv4.tcp_syn_retries", "abc"),
        Err(SysctlError::InvalidValue { .. })
    ));
    assert!(matches!(
        s.sysctl_set("net.ipv4.tcp_no_such_thing", "1"),
        Err(SysctlError::UnknownKey(_))
    ));
    let e = s
        .sysctl_set("net.ipv4.ip_local_port_range", "60000 1000")
        .unwrap_err();
    assert!(e.to_string().contains("ip_local_port_range"), "{e}");
    assert!(s.sysctl_set("net.ipv4.tcp_rmem", "4096 100 200").is_err());
    assert!(
        s.sysctl_set("net.ipv4.tcp_congestion_control", "vegas")
            .is_err()
    );
    assert!(s.sysctl_set("net.ipv4.tcp_sack", "2").is_err());
    assert_eq!(
        s.sysctl_get("net.ipv4.tcp_syn_retries").unwrap(),
        "6",
        "unchanged"
    );
    s.sysctl_set("net/ipv4/tcp_syn_retries", "5").unwrap();
    s.sysctl_set("net.ipv4.tcp_congestion_control", "reno")
        .unwrap();
    assert_eq!(s.sysctl_get("tcp_congestion_control").unwrap(), "reno");
    // tcp_syn_retries = 5: SYNs at 0, 1, 3, 7, 15, 31 s and ETIMEDOUT at 63 s.
    let c = s.socket(Family::V4).unwrap();
    let t0 = Instant::from_secs(100);
    let _ = s.connect(t0, c, addr(A, 80));
    let mut times = Vec::new();
    let mut now = t0;
    loop {
        for _ in drain(&mut s, now) {
            times.push((now - t0).as_secs());
        }
        let Some(t) = s.poll_timeout() else { break };
        now = t;
        s.handle_timeout(now);
    }
    assert_eq!(times, [0, 1, 3, 7, 15, 31]);
    assert_eq!(now - t0, Duration::from_secs(63));
    assert_eq!(s.take_error(c), Ok(Some(Errno::ETIMEDOUT)));
}

#[test]
fn same_seed_same_bytes() {
    let run = || {
        let mut net = Net::new();
        let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let l2 = log.clone();
        net.tap = Some(Box::new(move |_, p| {
            l2.borrow_mut().push(p.to_vec());
            true
        }));
        let l = listener(&mut net.b, B, 80, 16);
        for i in 0..20u8 {
            let c = net.a.socket(Family::V4).unwrap();
            let _ = net.a.connect(net.now, c, addr(B, 80));
            net.pump();
            net.a.send(net.now, c, &[i; 10]).unwrap();
            net.a.close(net.now, c).unwrap();
            net.pump();
            let (s, _) = net.b.accept(l).unwrap();
            net.b.close(net.now, s).unwrap();
            net.advance(Duration::from_millis(7));
        }
        net.run_until(net.now + Duration::from_secs(100));
        log.take()
    };
    let (x, y) = (run(), run());
    assert!(x.len() > 100);
    assert_eq!(x, y);
}

#[test]
fn restart_loses_state_and_the_peer_gets_rst() {
    let mut net = Net::new();
    let l = listener(&mut net.b, B, 80, 16);
    let c = net.a.socket(Family::V4).unwrap();
    let _ = net.a.connect(net.now, c, addr(B, 80));
    net.pump();
    let _ = net.b.accept(l).unwrap();
    net.b.restart(net.now);
    assert_eq!(net.b.connection_count(), 0);
    assert!(net.b.is_local(B));
    // Half-open: the client's data is answered with RST (the notes' `[R]` case).
    net.a.send(net.now, c, b"ls\n").unwrap();
    net.pump();
    assert_eq!(net.a.take_error(c), Ok(Some(Errno::ECONNRESET)));
}

#[test]
fn packet_too_big_lowers_the_mss_of_a_live_connection() {
    let mut net = Net::new();
    let l = listener(&mut net.b, B, 80, 4);
    let c = net.a.socket(Family::V4).unwrap();
    let _ = net.a.connect(net.now, c, addr(B, 80));
    net.pump();
    let _ = net.b.accept(l).unwrap();
    assert_eq!(net.a.tcp_info(c).unwrap().snd_mss, 1448);
    net.a.send(net.now, c, &[0u8; 3000]).unwrap();
    let mut buf = [0u8; 2048];
    let n = net.a.poll_transmit(net.now, &mut buf).unwrap();
    let quoted = buf[..n].to_vec();
    net.a.receive(
        net.now,
        &icmp_error(
            [10, 0, 0, 254],
            [10, 0, 0, 1],
            3,
            4,
            [0, 0, 0x05, 0x78],
            &quoted,
        ),
    );
    assert_eq!(net.a.path_mtu(c), Ok(Some(1400)));
    assert_eq!(net.a.tcp_info(c).unwrap().snd_mss, 1400 - 40 - 12);
}

/// The receive path copies an in-order payload into the receive ring while it verifies the
/// checksum (RFC 9293 §3.1); a segment that fails must leave no trace: nothing readable, no
/// ACK, held out-of-order bytes intact, and the good copy delivered afterwards.
#[test]
fn bad_checksum_in_order_data_changes_nothing() {
    let mut b = host();
    let now = Instant::from_secs(1);
    let l = listener(&mut b, B, 80, 4);
    let (peer, me) = (addr(A, 40001), addr(B, 80));
    b.receive(now, &tcp_packet(peer, me, 100, 0, TcpFlags::SYN, None, &[]));
    let (_, iss, _) = tcp_of(&drain(&mut b, now)[0]);
    let ack = iss + 1;
    b.receive(
        now,
        &tcp_packet(peer, me, 101, ack, TcpFlags::ACK, None, &[]),
    );
    let (s, _) = b.accept(l).unwrap();
    let data =
        |seq: u32, payload: &[u8]| tcp_packet(peer, me, seq, ack, TcpFlags::ACK, None, payload);
    // The last payload byte flipped after the checksum was computed.
    let corrupt = |seq: u32, payload: &[u8]| {
        let mut p = data(seq, payload);
        let last = p.len() - 1;
        p[last] ^= 0x5a;
        p
    };
    let a = [b'a'; 200];
    let mut buf = [0u8; 512];
    let errs = b.counters().in_csum_errors;

    b.receive(now, &corrupt(101, &a));
    assert_eq!(b.counters().in_csum_errors, errs + 1);
    assert!(
        drain(&mut b, now).is_empty(),
        "a bad segment is not answered"
    );
    assert_eq!(
        b.recv(now, s, &mut buf, RecvFlags::default()),
        Err(Errno::EAGAIN)
    );

    // Out-of-order bytes beyond a gap, then bad in-order segments: one that stops at the
    // held bytes (copied into free space before the verdict) and one that would overlap
    // them (verified before any copy). Neither may disturb what is held.
    let held = [b'h'; 100];
    b.receive(now, &data(301, &held));
    assert_eq!(drain(&mut b, now).len(), 1, "duplicate ACK for the gap");
    b.receive(now, &corrupt(101, &a));
    b.receive(now, &corrupt(101, &[b'x'; 250]));
    assert_eq!(b.counters().in_csum_errors, errs + 3);
    assert!(drain(&mut b, now).is_empty());
    assert_eq!(
        b.recv(now, s, &mut buf, RecvFlags::default()),
        Err(Errno::EAGAIN)
    );

    // The good copy fills the gap: every byte as sent.
    b.receive(now, &data(101, &a));
    let n = b.recv(now, s, &mut buf, RecvFlags::default()).unwrap();
    assert_eq!(n, 300);
    assert_eq!(&buf[..200], &a[..]);
    assert_eq!(&buf[200..300], &held[..]);
    // And once more with nothing held: bad then good, in order.
    b.receive(now, &corrupt(401, b"0123456789"));
    b.receive(now, &data(401, b"abcdefghij"));
    let n = b.recv(now, s, &mut buf, RecvFlags::default()).unwrap();
    assert_eq!(&buf[..n], b"abcdefghij");
    assert_eq!(b.counters().in_csum_errors, errs + 4);
}

/// The demux's one-behind cache (the last tuple found and its connection) never sends a
/// segment where the table would not: segments alternating between two connections, a
/// stale entry after the connection closes (its tuple is answered as no connection's),
/// the same tuple reused by a new connection while the old one's slot is still held, and
/// again after that slot is freed and reused under a new generation.
#[test]
fn demux_cache_follows_close_and_tuple_reuse() {
    let mut b = host();
    let now = Instant::from_secs(1);
    let l = listener(&mut b, B, 80, 8);
    let me = addr(B, 80);
    // Handshake from `peer` with ISN `isn`: the accepted socket and the ACK to send with.
    let open = |b: &mut Stack, peer, isn: u32| {
        b.receive(now, &tcp_packet(peer, me, isn, 0, TcpFlags::SYN, None, &[]));
        let out = drain(b, now);
        assert_eq!(out.len(), 1);
        let (flags, iss, ack) = tcp_of(&out[0]);
        assert_eq!(flags, TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!(ack, isn.wrapping_add(1));
        let ack = iss.wrapping_add(1);
        b.receive(
            now,
            &tcp_packet(peer, me, isn.wrapping_add(1), ack, TcpFlags::ACK, None, &[]),
        );
        (b.accept(l).unwrap().0, ack)
    };
    let data = |peer, seq: u32, ack: u32, payload: &[u8]| {
        tcp_packet(peer, me, seq, ack, TcpFlags::ACK, None, payload)
    };
    let read = |b: &mut Stack, s| {
        let mut buf = [0u8; 64];
        match b.recv(now, s, &mut buf, RecvFlags::default()) {
            Ok(n) => buf[..n].to_vec(),
            Err(e) => format!("{e:?}").into_bytes(),
        }
    };
    let no_rst = |out: Vec<Vec<u8>>| out.iter().all(|p| !tcp_of(p).0.rst());
    let (p1, p2) = (addr(A, 40001), addr(A, 40002));

    // Two connections, segments alternating (each lookup replaces the cached tuple), and
    // runs of two for one connection (the second is a cache hit).
    let (s1, ack1) = open(&mut b, p1, 1000);
    let (s2, ack2) = open(&mut b, p2, 5000);
    for k in 0..4u32 {
        b.receive(now, &data(p1, 1001 + k, ack1, b"a"));
        b.receive(now, &data(p2, 5001 + 2 * k, ack2, b"b"));
        b.receive(now, &data(p2, 5002 + 2 * k, ack2, b"c"));
        assert!(no_rst(drain(&mut b, now)));
    }
    assert_eq!(read(&mut b, s1), b"aaaa");
    assert_eq!(read(&mut b, s2), b"bcbcbcbc");

    // p1's connection is reset by the peer right after a hit cached it: closed and out of
    // the table, its slot still held by s1. The next segment on its tuple belongs to no
    // connection and is answered with RST (RFC 9293 §3.10.7.1), not fed to the old TCB.
    b.receive(now, &data(p1, 1005, ack1, b"d"));
    b.receive(now, &tcp_packet(p1, me, 1006, 0, TcpFlags::RST, None, &[]));
    let _ = drain(&mut b, now);
    assert_eq!(b.take_error(s1), Ok(Some(Errno::ECONNRESET)));
    assert!(!b.has_connection(me, p1));
    b.receive(now, &data(p1, 1006, ack1, b"e"));
    let out = drain(&mut b, now);
    assert_eq!(out.len(), 1);
    assert!(tcp_of(&out[0]).0.rst(), "stale tuple answered with RST");

    // The same tuple reused by a new connection while s1 still holds the old slot: the
    // SYN reaches the listener, and data the new connection.
    let (s3, ack3) = open(&mut b, p1, 90_000);
    b.receive(now, &data(p1, 90_001, ack3, b"new"));
    assert!(no_rst(drain(&mut b, now)));
    assert_eq!(read(&mut b, s3), b"new");
    assert_ne!(read(&mut b, s1), b"new");

    // Freed and reused: s1 and s3 closed, p1 cached again through p2's connection in
    // between, then a third connection on p1's tuple (a slot freed above may come back
    // under a new generation).
    b.receive(now, &data(p1, 90_004, ack3, b"x"));
    b.close(now, s3).unwrap();
    b.receive(
        now,
        &tcp_packet(p1, me, 90_005, 0, TcpFlags::RST, None, &[]),
    );
    b.close(now, s1).unwrap();
    let _ = drain(&mut b, now);
    assert!(!b.has_connection(me, p1));
    b.receive(now, &data(p2, 5009, ack2, b"z"));
    assert!(no_rst(drain(&mut b, now)));
    let (s4, ack4) = open(&mut b, p1, 300_000);
    b.receive(now, &data(p1, 300_001, ack4, b"4"));
    b.receive(now, &data(p1, 300_002, ack4, b"44"));
    assert!(no_rst(drain(&mut b, now)));
    assert_eq!(read(&mut b, s4), b"444");
    assert_eq!(read(&mut b, s2), b"z");
}
