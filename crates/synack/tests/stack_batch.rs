//! `Stack::receive_batch` has exactly the effect of `Stack::receive` on each datagram in
//! turn, with enough connections that its read-ahead and prefetching run, and with
//! datagrams its header peek cannot read.

mod stack_common;

use stack_common::*;
use synack::stack::{Errno, Family, RecvFlags, SocketId};

/// Connections opened: above the count at which `receive_batch` starts prefetching.
const N: usize = 1100;

/// A pair of hosts with `N` established connections, and the client sockets and the
/// accepted server sockets in the same order. Deterministic: same secrets, same steps.
fn world() -> (Net, Vec<SocketId>, Vec<SocketId>) {
    let mut net = Net::new();
    let l = listener(&mut net.b, B, 80, 4096);
    let mut clients = Vec::with_capacity(N);
    let mut servers = Vec::with_capacity(N);
    for _ in 0..N {
        let c = net.a.socket(Family::V4).unwrap();
        assert_eq!(
            net.a.connect(net.now, c, addr(B, 80)),
            Err(Errno::EINPROGRESS)
        );
        clients.push(c);
    }
    net.pump();
    while let Ok((s, _)) = net.b.accept(l) {
        servers.push(s);
    }
    assert_eq!(servers.len(), N);
    (net, clients, servers)
}

/// One byte on every third connection, as datagrams from A, plus datagrams the peek cannot
/// read (empty, truncated, not TCP) and one for no connection.
fn datagrams(net: &mut Net, clients: &[SocketId]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    for (i, &c) in clients.iter().enumerate().step_by(3) {
        assert_eq!(net.a.send(net.now, c, &[i as u8]), Ok(1));
        while let Some(n) = net.a.poll_transmit(net.now, &mut buf) {
            out.push(buf[..n].to_vec());
        }
        if i % 300 == 0 {
            out.push(Vec::new());
            out.push(buf[..7].to_vec());
            let mut udp = buf[..40].to_vec();
            udp[9] = 17;
            out.push(udp);
        }
    }
    let stray = tcp_packet(
        addr(A, 1),
        addr(B, 80),
        5,
        0,
        synack::TcpFlags::ACK,
        None,
        &[],
    );
    out.push(stray);
    out
}

#[test]
fn receive_batch_equals_receive_one_by_one() {
    let mut results = Vec::new();
    for batched in [false, true] {
        let (mut net, clients, servers) = world();
        let dgrams = datagrams(&mut net, &clients);
        assert!(dgrams.len() > N / 3);
        if batched {
            net.b.receive_batch(net.now, &dgrams);
        } else {
            for d in &dgrams {
                net.b.receive(net.now, d);
            }
        }
        let mut got = Vec::new();
        let mut one = [0u8; 4];
        for &s in &servers {
            got.push(
                net.b
                    .recv(net.now, s, &mut one, RecvFlags::default())
                    .map(|n| one[..n].to_vec()),
            );
        }
        let mut buf = [0u8; 1500];
        let mut replies = Vec::new();
        while let Some(n) = net.b.poll_transmit(net.now, &mut buf) {
            replies.push(buf[..n].to_vec());
        }
        results.push((net.b.ss_text(), net.b.nstat_text(), got, replies));
    }
    let (one, batch) = (&results[0], &results[1]);
    assert_eq!(one.0, batch.0, "ss differs");
    assert_eq!(one.1, batch.1, "counters differ");
    assert_eq!(one.2, batch.2, "data read differs");
    assert_eq!(one.3, batch.3, "datagrams sent differ");
    let delivered = one.2.iter().filter(|r| r.is_ok()).count();
    assert_eq!(delivered, N.div_ceil(3));
}
