//! The host's bookkeeping shortcuts change nothing observable:
//! - `Stack::has_pending_transmit` saying no means a poll would return `None` and leave
//!   every observable state (sockets, timers, counters) as it is; a driver that skips
//!   those polls sees the same datagrams and states as one that polls every time;
//! - ephemeral ports are chosen in the same order whatever bindings come and go (the port
//!   table is a map keyed by port and holder; its own test checks it against one).

mod stack_common;

use stack_common::*;
use synack::Duration;
use synack::stack::{Family, RecvFlags, SockOpt, SocketId, Stack, Sysctl};

/// Everything a user can see of a host without changing it.
fn observe(s: &Stack) -> String {
    format!("{:?} {} {}", s.poll_timeout(), s.ss_text(), s.nstat_text())
}

/// Moves every datagram `src` has into `dst` over an impaired link, logging them. With
/// `skip`, a host that says it has nothing pending is not polled; without, every such
/// poll is checked to return `None` and change nothing.
fn drain(
    src: &mut Stack,
    dst: &mut Stack,
    now: synack::Instant,
    skip: bool,
    rng: &mut Rng,
) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 2048];
    let mut out = Vec::new();
    loop {
        if !src.has_pending_transmit() {
            if skip {
                break;
            }
            let before = observe(src);
            assert_eq!(src.poll_transmit(now, &mut buf), None);
            assert_eq!(observe(src), before, "an empty poll changed the host");
            break;
        }
        match src.poll_transmit(now, &mut buf) {
            Some(n) => out.push(buf[..n].to_vec()),
            None => break,
        }
    }
    let log = out.clone();
    impair(&mut out, rng);
    for d in &out {
        dst.receive(now, d);
    }
    log
}

/// Short connections (handshake, a few bytes each way, close by either side, some
/// aborted), with a listener on B and ephemeral ports on A; the log of every datagram,
/// every socket's state and the counters after every round.
fn run(skip: bool, seed: u64) -> Vec<String> {
    let mut net = Net::new();
    let l = listener(&mut net.b, B, 80, 64);
    let mut rng = Rng(seed);
    let mut log = Vec::new();
    let mut open: Vec<(SocketId, Option<SocketId>)> = Vec::new();
    let mut sink = [0u8; 256];
    for round in 0..300u32 {
        let now = net.now;
        if rng.below(3) == 0 {
            let c = net.a.socket(Family::V4).unwrap();
            if rng.below(4) == 0 {
                net.a.setsockopt(c, SockOpt::ReuseAddr(true)).unwrap();
            }
            let r = net.a.connect(now, c, addr(B, 80));
            log.push(format!("connect {r:?} {:?}", net.a.local_addr(c)));
            open.push((c, None));
        }
        while let Ok((s, _)) = net.b.accept(l) {
            if let Some(e) = open.iter_mut().find(|e| e.1.is_none()) {
                e.1 = Some(s);
            } else {
                let _ = net.b.close(now, s);
            }
        }
        for &(c, s) in &open {
            if rng.below(2) == 0 {
                let _ = net.a.send(now, c, &[round as u8; 3]);
            }
            if let Some(s) = s
                && rng.below(2) == 0
            {
                let _ = net.b.send(now, s, &[round as u8; 5]);
                let _ = net.b.recv(now, s, &mut sink, RecvFlags::default());
            }
            let _ = net.a.recv(now, c, &mut sink, RecvFlags::default());
        }
        if !open.is_empty() && rng.below(3) == 0 {
            let (c, s) = open.remove(rng.below(open.len() as u64) as usize);
            let _ = net.a.close(now, c);
            if let Some(s) = s {
                let _ = net.b.close(now, s);
            }
        }
        if rng.below(5) == 0 {
            // A connection refused: B answers with a RST of its own (no connection).
            let c = net.a.socket(Family::V4).unwrap();
            let _ = net.a.connect(now, c, addr(B, 81));
            let _ = net.a.close(now, c);
        }
        if round == 150 {
            // Fewer orphans allowed than there are, just before the transmit polls: the
            // first poll (or other entry point) resets the oldest.
            log.push(format!("{:?}", net.a.counters().tcp_orphans));
            net.b.sysctl_set("net.ipv4.tcp_max_orphans", "1").unwrap();
            net.a.sysctl_set("net.ipv4.tcp_max_orphans", "0").unwrap();
        }
        for _ in 0..20 {
            let x = drain(&mut net.a, &mut net.b, now, skip, &mut rng);
            let y = drain(&mut net.b, &mut net.a, now, skip, &mut rng);
            for d in &x {
                log.push(format!("a {d:?}"));
            }
            for d in &y {
                log.push(format!("b {d:?}"));
            }
            if x.is_empty() && y.is_empty() {
                break;
            }
        }
        net.now = now + Duration::from_millis(1 + rng.below(900));
        if net.next_deadline().is_some_and(|t| t <= net.now) {
            net.a.handle_timeout(net.now);
            net.b.handle_timeout(net.now);
        }
        log.push(format!("{round} {} {}", observe(&net.a), observe(&net.b)));
    }
    log
}

#[test]
fn skipping_hosts_without_pending_transmit_changes_nothing() {
    for seed in [0x9e37_79b9_7f4a_7c15, 0x0123_4567_89ab_cdef, 5] {
        let all = run(false, seed);
        let skipped = run(true, seed);
        assert_eq!(all.len(), skipped.len(), "seed {seed}");
        for (i, (a, b)) in all.iter().zip(&skipped).enumerate() {
            assert_eq!(a, b, "seed {seed}, line {i} differs");
        }
    }
}

/// With bindings coming and going (sockets bound by hand with and without SO_REUSEADDR,
/// connections in TIME_WAIT on chosen ports), `connect` and `bind(port 0)` choose the
/// ports that a plain scan of the rules gives: a port is taken by `bind(0)` only when
/// nobody holds it, and never twice at once by `connect` to the same destination.
#[test]
fn ephemeral_ports_follow_the_binding_rules() {
    let mut sysctl = Sysctl::linux();
    // A small range, so that ports are reused and skipped.
    sysctl.ip_local_port_range = (40000, 40015);
    let mut net = Net::with(sysctl, Sysctl::linux());
    let l = listener(&mut net.b, B, 80, 64);
    let mut rng = Rng(11);
    let mut live: Vec<SocketId> = Vec::new();
    for _ in 0..200 {
        let now = net.now;
        let c = net.a.socket(Family::V4).unwrap();
        if rng.below(3) == 0 {
            // bind(0): a port nobody holds, or EADDRINUSE when all are held.
            match net.a.bind(c, addr(A, 0)) {
                Ok(()) => {
                    let p = net.a.local_addr(c).unwrap().port();
                    assert!((40000..=40015).contains(&p));
                    for &o in &live {
                        assert_ne!(net.a.local_addr(o).map(|a| a.port()), Ok(p));
                    }
                }
                Err(e) => assert_eq!(e.name(), "EADDRINUSE"),
            }
        }
        match net.a.connect(now, c, addr(B, 80)) {
            Err(e) if e.name() == "EINPROGRESS" => live.push(c),
            Err(e) => {
                assert!(["EADDRNOTAVAIL", "EADDRINUSE"].contains(&e.name()), "{e:?}");
                let _ = net.a.close(now, c);
            }
            Ok(()) => live.push(c),
        }
        net.pump();
        while let Ok((s, _)) = net.b.accept(l) {
            let _ = net.b.close(now, s);
        }
        if live.len() > 6 || rng.below(2) == 0 {
            let c = live.remove(rng.below(live.len() as u64) as usize);
            let _ = net.a.close(now, c);
        }
        net.pump();
        net.advance(Duration::from_millis(rng.below(40_000)));
        // No two live sockets to the same destination share a local port.
        let mut ports: Vec<_> = live
            .iter()
            .filter_map(|&c| net.a.local_addr(c).ok().map(|a| a.port()))
            .collect();
        let n = ports.len();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), n);
    }
}
