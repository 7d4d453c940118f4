//! Scale: many concurrent connections on one listener, and a SYN flood against the
//! backlog with SYN cookies on and off.

mod stack_common;

use stack_common::*;
use std::net::{IpAddr, Ipv4Addr};
use synack::stack::{DropReason, Errno, Family, RecvFlags, SocketId, Sysctl};
use synack::{Duration, State, TcpFlags};
use synack_wire::tcp_options::SynOptions;

/// Every client sends a distinct message; the server echoes; every client gets its own
/// bytes back, byte-exact.
#[test]
fn ten_thousand_clients_echo_byte_exact() {
    const N: usize = 10_000;
    let mut net = Net::new();
    let l = listener(&mut net.b, B, 7, 4096);
    let mut clients: Vec<SocketId> = Vec::with_capacity(N);
    let mut servers: Vec<SocketId> = Vec::with_capacity(N);
    let mut buf = [0u8; 256];
    let msg = |i: usize| format!("client {i:05} says {}", "x".repeat(i % 50)).into_bytes();
    // Connect in waves, accepting as connections complete (like an event loop).
    for wave in 0..(N / 1000) {
        for _ in 0..1000 {
            let c = net.a.socket(Family::V4).unwrap();
            assert_eq!(
                net.a.connect(net.now, c, addr(B, 7)),
                Err(Errno::EINPROGRESS)
            );
            clients.push(c);
        }
        net.pump();
        while let Ok((s, _)) = net.b.accept(l) {
            servers.push(s);
        }
        assert_eq!(servers.len(), (wave + 1) * 1000);
    }
    assert_eq!(net.b.counters().curr_estab, N as u64);
    for (i, &c) in clients.iter().enumerate() {
        let m = msg(i);
        assert_eq!(net.a.send(net.now, c, &m), Ok(m.len()));
    }
    net.pump();
    for &s in &servers {
        let n = net
            .b
            .recv(net.now, s, &mut buf, RecvFlags::default())
            .unwrap();
        let echo = buf[..n].to_vec();
        assert_eq!(net.b.send(net.now, s, &echo), Ok(n));
    }
    net.pump();
    for (i, &c) in clients.iter().enumerate() {
        let n = net
            .a
            .recv(net.now, c, &mut buf, RecvFlags::default())
            .unwrap();
        assert_eq!(&buf[..n], msg(i).as_slice(), "client {i}");
    }
    // Distinct ephemeral ports, all in range.
    let mut ports: Vec<u16> = clients
        .iter()
        .map(|&c| net.a.local_addr(c).unwrap().port())
        .collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), N);
    assert!(ports.iter().all(|p| (32768..=60999).contains(p)));
    // Clients close first (they keep TIME_WAIT), then the servers.
    for &c in &clients {
        net.a.close(net.now, c).unwrap();
    }
    net.pump();
    for &s in &servers {
        assert_eq!(
            net.b.recv(net.now, s, &mut buf, RecvFlags::default()),
            Ok(0)
        );
        net.b.close(net.now, s).unwrap();
    }
    net.pump();
    assert_eq!(net.b.connection_count(), 0);
    net.run_until(net.now + Duration::from_secs(120));
    assert_eq!(net.a.connection_count(), 0);
    assert_eq!(net.b.connection_count(), 0);
}

/// The seed of a spoofed source address (198.18.0.0/15, RFC 2544 benchmarking space).
fn spoofed(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0xc612_0000u32 + (i % 0x1_0000)))
}

fn flood(cookies: u8) -> (usize, Net, usize) {
    const FLOOD: u32 = 100_000;
    const REAL: usize = 100;
    let mut sb = Sysctl::linux();
    sb.tcp_syncookies = cookies;
    let mut net = Net::with(Sysctl::linux(), sb);
    net.b.add_address(B);
    let l = listener(&mut net.b, B, 80, 128);
    let mut clients = Vec::new();
    let mut accepted = 0;
    let mut max_conns = 0;
    let syn = SynOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some((1, 0)),
    };
    // 100,000 spoofed SYNs over 10 s (10 per ms), real clients connecting meanwhile.
    for ms in 0..FLOOD / 10 {
        for k in 0..10 {
            let i = ms * 10 + k;
            let pkt = tcp_packet(
                addr(spoofed(i), 1024 + (i % 60000) as u16),
                addr(B, 80),
                i.wrapping_mul(2654435761),
                0,
                TcpFlags::SYN,
                Some(syn),
                &[],
            );
            net.b.receive(net.now, &pkt);
        }
        if ms % 100 == 0 && clients.len() < REAL {
            let c = net.a.socket(Family::V4).unwrap();
            let _ = net.a.connect(net.now, c, addr(B, 80));
            clients.push(c);
        }
        net.run_until(net.now + Duration::from_millis(1));
        while net.b.accept(l).is_ok() {
            accepted += 1;
        }
        max_conns = max_conns.max(net.b.connection_count());
    }
    // Give the real clients a further minute without flood.
    for _ in 0..60 {
        net.run_until(net.now + Duration::from_secs(1));
        while net.b.accept(l).is_ok() {
            accepted += 1;
        }
    }
    let established = clients
        .iter()
        .filter(|&&c| net.a.state(c) == Ok(State::Established))
        .count();
    assert!(accepted >= established);
    (established, net, max_conns)
}

#[test]
fn syn_flood_with_cookies_every_real_client_connects() {
    let (established, net, max_conns) = flood(1);
    assert_eq!(established, 100);
    let c = net.b.counters();
    assert!(c.syncookies_sent > 90_000, "{}", c.syncookies_sent);
    assert!(c.syncookies_recv > 0);
    // Memory stays bounded: the SYN queue never grows past the backlog (plus the
    // established real clients).
    assert!(max_conns <= 128 + 100 + 1, "max connections {max_conns}");
}

#[test]
fn syn_flood_without_cookies_real_clients_starve() {
    let (established, net, max_conns) = flood(0);
    let c = net.b.counters();
    assert_eq!(c.syncookies_sent, 0);
    assert!(c.dropped(DropReason::SynQueueFull) > 90_000);
    assert!(max_conns <= 128 + 100 + 1, "max connections {max_conns}");
    assert!(
        established < 100,
        "without cookies some real clients must lose their SYNs ({established})"
    );
}

/// Linux semantics of `listen(backlog)`: at most backlog + 1 connections wait for
/// accept(); further handshakes stall (SYNs dropped, counted as ListenOverflows) and the
/// clients' SYN retransmissions get through once the application accepts.
#[test]
fn accept_queue_bounded_by_backlog_then_drains() {
    for cookies in [0u8, 1] {
        let mut sb = Sysctl::linux();
        sb.tcp_syncookies = cookies;
        let mut net = Net::with(Sysctl::linux(), sb);
        let l = listener(&mut net.b, B, 80, 2);
        let clients: Vec<SocketId> = (0..10)
            .map(|_| {
                let c = net.a.socket(Family::V4).unwrap();
                let _ = net.a.connect(net.now, c, addr(B, 80));
                c
            })
            .collect();
        net.run_until(net.now + Duration::from_secs(5));
        assert_eq!(
            net.b.ss()[0].recv_q,
            3,
            "cookies={cookies}: backlog 2 queues 3"
        );
        assert!(net.b.counters().listen_overflows > 0);
        // Each client speaks first once connected (with cookies, a client may believe it
        // is connected while its final ACK was dropped: its data carries the cookie again
        // and completes the handshake once the queue has room, as on Linux).
        let mut sent = [false; 10];
        let mut accepted = 0;
        let t0 = net.now;
        while accepted < 10 && net.now < t0 + Duration::from_secs(120) {
            for (i, &c) in clients.iter().enumerate() {
                if !sent[i] && net.a.state(c) == Ok(State::Established) {
                    sent[i] = net.a.send(net.now, c, b"x") == Ok(1);
                }
            }
            net.pump();
            while net.b.accept(l).is_ok() {
                accepted += 1;
            }
            if !net.step(t0 + Duration::from_secs(120)) {
                break;
            }
        }
        while net.b.accept(l).is_ok() {
            accepted += 1;
        }
        assert_eq!(accepted, 10, "cookies={cookies}");
        assert!(
            clients
                .iter()
                .all(|&c| net.a.state(c) == Ok(State::Established))
        );
    }
}
