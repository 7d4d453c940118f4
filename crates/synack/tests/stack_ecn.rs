//! ECN through the host (RFC 3168): data leaves marked ECT(0), a CE mark a router puts on
//! the IP header reaches the receiving connection, which echoes ECE until the sender
//! answers with CWR (§6.1.2, §6.1.3).

mod stack_common;

use stack_common::*;
use synack::stack::{Family, Sysctl};
use synack::{Duration, TcpFlags};
use synack_wire::checksum::update_u16;
use synack_wire::ipv4::Ipv4Packet;
use synack_wire::tcp::TcpHeader;

fn ecn_host() -> Sysctl {
    let mut s = Sysctl::linux();
    // Request ECN on outgoing connections and accept it on incoming ones.
    s.set("net.ipv4.tcp_ecn", "1").unwrap();
    s
}

/// Marks an IPv4 datagram Congestion Experienced as a router would (RFC 3168 §5), fixing
/// the header checksum incrementally (RFC 1624).
fn mark_ce(pkt: &mut [u8]) {
    let old = u16::from_be_bytes([pkt[0], pkt[1]]);
    pkt[1] |= 0b11;
    let new = u16::from_be_bytes([pkt[0], pkt[1]]);
    let ck = u16::from_be_bytes([pkt[10], pkt[11]]);
    let ck = update_u16(ck, old, new);
    pkt[10..12].copy_from_slice(&ck.to_be_bytes());
}

/// Moves every datagram A has for B, passing each through `f` first; returns what moved.
fn a_to_b(net: &mut Net, mut f: impl FnMut(&mut Vec<u8>)) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 2048];
    let mut moved = Vec::new();
    while let Some(n) = net.a.poll_transmit(net.now, &mut buf) {
        let mut p = buf[..n].to_vec();
        f(&mut p);
        net.b.receive(net.now, &p);
        moved.push(p);
    }
    moved
}

/// Moves every datagram B has for A and returns them.
fn b_to_a(net: &mut Net) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 2048];
    let mut moved = Vec::new();
    while let Some(n) = net.b.poll_transmit(net.now, &mut buf) {
        net.a.receive(net.now, &buf[..n]);
        moved.push(buf[..n].to_vec());
    }
    moved
}

fn tcp_flags(pkt: &[u8]) -> TcpFlags {
    let ip = Ipv4Packet::new_checked(pkt).unwrap();
    TcpHeader::parse(ip.payload()).unwrap().flags()
}

fn payload_len(pkt: &[u8]) -> usize {
    let ip = Ipv4Packet::new_checked(pkt).unwrap();
    TcpHeader::parse(ip.payload()).unwrap().payload().len()
}

#[test]
fn rfc3168_ce_on_the_wire_reaches_the_connection_and_is_echoed_until_cwr() {
    let mut net = Net::with(ecn_host(), ecn_host());
    let l = listener(&mut net.b, B, 80, 8);
    let c = net.a.socket(Family::V4).unwrap();
    let _ = net.a.connect(net.now, c, addr(B, 80));
    // The handshake: SYN with ECE|CWR, SYN-ACK with ECE (RFC 3168 §6.1.1).
    let syn = a_to_b(&mut net, |_| {});
    assert!(tcp_flags(&syn[0]).contains(TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR));
    let synack = b_to_a(&mut net);
    assert!(tcp_flags(&synack[0]).contains(TcpFlags::SYN | TcpFlags::ACK | TcpFlags::ECE));
    net.pump();
    let (s, _) = net.b.accept(l).expect("accepted");
    assert!(ecn_negotiated(&net, c), "ECN was not negotiated");

    // Data leaves ECT(0); a router marks the first datagram CE on the way.
    net.a.send(net.now, c, &[7u8; 1000]).unwrap();
    let mut first = true;
    let data = a_to_b(&mut net, |p| {
        assert_eq!(p[1] & 0b11, 0b10, "data is sent ECT(0)");
        if first {
            mark_ce(p);
            first = false;
        }
    });
    assert!(!first && data.iter().any(|p| payload_len(p) > 0));
    // B's acknowledgment of the marked data carries ECE (§6.1.3), whether it goes at once
    // (quick-ACK) or when the delayed-ACK timer fires.
    let mut acks = b_to_a(&mut net);
    let deadline = net.now + Duration::from_millis(500);
    while acks.is_empty() && net.now < deadline {
        net.now = net.b.poll_timeout().unwrap_or(deadline).min(deadline);
        net.b.handle_timeout(net.now);
        acks = b_to_a(&mut net);
    }
    assert!(!acks.is_empty(), "B never acknowledged the data");
    assert!(
        acks.iter().all(|p| tcp_flags(p).ece()),
        "B's acknowledgment of CE-marked data lacks ECE"
    );
    let mut buf = [0u8; 4096];
    assert_eq!(
        net.b.recv(net.now, s, &mut buf, Default::default()),
        Ok(1000)
    );
    // A reduces its window and says so with CWR on its next new data (§6.1.2).
    net.a.send(net.now, c, &[9u8; 100]).unwrap();
    let next = a_to_b(&mut net, |_| {});
    let data: Vec<_> = next.iter().filter(|p| payload_len(p) > 0).collect();
    assert!(!data.is_empty(), "A sent no new data");
    assert!(tcp_flags(data[0]).cwr(), "A did not send CWR after ECE");
}

/// ECN negotiation as the socket reports it (`tcpi_options` has TCPI_OPT_ECN = 8).
fn ecn_negotiated(net: &Net, c: synack::stack::SocketId) -> bool {
    net.a
        .tcp_info(c)
        .map(|i| i.options & 8 != 0)
        .unwrap_or(false)
}
