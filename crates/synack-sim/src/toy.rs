//! Toy hosts and packet builders, for testing the simulator (and for examples) without a
//! TCP stack.
//!
//! [`Toy`] records every packet it receives, sends whatever scenario code hands it, can echo
//! packets back, and can ping: send a numbered UDP datagram at a fixed interval.

use std::collections::VecDeque;

use synack::{Duration, Instant};

use crate::host::{Host, IfaceId};
use crate::packet::{IPPROTO_TCP, IPPROTO_UDP, internet_checksum};

/// The UDP source port of [`ipv4_udp`] datagrams.
pub const TOY_SRC_PORT: u16 = 7000;
/// The UDP destination port of [`ipv4_udp`] datagrams (echo).
pub const TOY_DST_PORT: u16 = 7;

/// A packet a [`Toy`] received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// When it arrived.
    pub time: Instant,
    /// On which interface.
    pub iface: IfaceId,
    /// The datagram.
    pub data: Vec<u8>,
}

#[derive(Clone, Debug)]
struct Ping {
    iface: IfaceId,
    interval: Duration,
    src: [u8; 4],
    dst: [u8; 4],
    /// How many to send in all (per boot); `None` is forever.
    limit: Option<u64>,
    next_at: Instant,
    next_seq: u64,
}

/// A toy host: a recorder, optionally an echo server and/or a pinger.
///
/// Its *state* (lost on [`Host::restart`]) is the received log, the outbox and the ping
/// counter; its *configuration* (kept) is whether it echoes and how it pings.
#[derive(Clone, Debug, Default)]
pub struct Toy {
    /// Every packet received since the last restart, in order.
    pub received: Vec<Received>,
    echo: bool,
    ping: Option<Ping>,
    outbox: VecDeque<(IfaceId, Vec<u8>)>,
    notes: Vec<String>,
}

impl Toy {
    /// A host that records what it receives and sends only what it is given.
    pub fn new() -> Toy {
        Toy::default()
    }

    /// A host that also sends every packet it receives back out of the same interface, with
    /// the IP source and destination swapped (and the UDP/TCP ports, if any). Swapping keeps
    /// every checksum valid (the one's complement sum does not depend on order).
    pub fn echo() -> Toy {
        Toy {
            echo: true,
            ..Toy::default()
        }
    }

    /// A host that sends [`ipv4_udp`] datagrams from `src` to `dst` on `iface` every
    /// `interval`, starting at its first poll (and again from 0 after a restart), carrying
    /// their sequence number (u64, big-endian) as payload; `limit` of them per boot.
    pub fn pinger(
        iface: IfaceId,
        interval: Duration,
        src: [u8; 4],
        dst: [u8; 4],
        limit: Option<u64>,
    ) -> Toy {
        Toy {
            ping: Some(Ping {
                iface,
                interval,
                src,
                dst,
                limit,
                next_at: Instant::ZERO,
                next_seq: 0,
            }),
            ..Toy::default()
        }
    }

    /// Queues a packet to send at the next poll.
    pub fn send(&mut self, iface: IfaceId, packet: &[u8]) {
        self.outbox.push_back((iface, packet.to_vec()));
    }

    /// Queues an annotation for the trace.
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    /// The sequence numbers carried by the received pings/echoes (payload read as u64).
    pub fn received_seqs(&self) -> Vec<u64> {
        self.received
            .iter()
            .filter_map(|r| udp_payload(&r.data))
            .filter_map(|p| p.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()))
            .map(u64::from_be_bytes)
            .collect()
    }
}

impl Host for Toy {
    fn receive(&mut self, now: Instant, iface: IfaceId, packet: &[u8]) {
        self.received.push(Received {
            time: now,
            iface,
            data: packet.to_vec(),
        });
        if self.echo {
            let mut reply = packet.to_vec();
            swap_endpoints(&mut reply);
            self.outbox.push_back((iface, reply));
        }
    }

    fn poll_transmit(&mut self, now: Instant, emit: &mut dyn FnMut(IfaceId, &[u8])) {
        while let Some((iface, p)) = self.outbox.pop_front() {
            emit(iface, &p);
        }
        if let Some(ping) = &mut self.ping {
            while ping.next_at <= now && ping.limit.is_none_or(|l| ping.next_seq < l) {
                let pkt = ipv4_udp(ping.src, ping.dst, 0, &ping.next_seq.to_be_bytes());
                emit(ping.iface, &pkt);
                ping.next_seq += 1;
                ping.next_at += ping.interval;
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match &self.ping {
            Some(p) if p.limit.is_none_or(|l| p.next_seq < l) => Some(p.next_at),
            _ => None,
        }
    }

    fn handle_timeout(&mut self, _now: Instant) {
        // Pings are emitted by poll_transmit, which the simulator calls right after this.
    }

    fn restart(&mut self, now: Instant) {
        self.received.clear();
        self.outbox.clear();
        self.notes.clear();
        if let Some(p) = &mut self.ping {
            p.next_seq = 0;
            p.next_at = now;
        }
        self.notes.push(String::from("booted"));
    }

    fn poll_annotations(&mut self, emit: &mut dyn FnMut(&str)) {
        for n in self.notes.drain(..) {
            emit(&n);
        }
    }
}

/// Swaps source and destination addresses (IPv4/IPv6) and ports (TCP/UDP) in place.
fn swap_endpoints(p: &mut [u8]) {
    let (a, b, n) = match p.first().map(|b| b >> 4) {
        Some(4) if p.len() >= 20 => (12, 16, 4),
        Some(6) if p.len() >= 40 => (8, 24, 16),
        _ => return,
    };
    for i in 0..n {
        p.swap(a + i, b + i);
    }
    if let Some((proto, off)) = crate::packet::transport(p) {
        if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) && p.len() >= off + 4 {
            p.swap(off, off + 2);
            p.swap(off + 1, off + 3);
        }
    }
}

/// Builds an IPv4 header (no options, DF, TTL 64) for `payload_len` bytes of `proto`.
fn ipv4_header(src: [u8; 4], dst: [u8; 4], tos: u8, proto: u8, payload_len: usize) -> Vec<u8> {
    let total = u16::try_from(20 + payload_len).expect("toy packet over 64 KiB");
    let mut h = Vec::with_capacity(20 + payload_len);
    h.extend_from_slice(&[0x45, tos]);
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = internet_checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

/// The transport checksum over the IPv4 pseudo-header (RFC 768, RFC 9293 §3.1) and `seg`.
fn v4_transport_checksum(src: [u8; 4], dst: [u8; 4], proto: u8, seg: &[u8]) -> u16 {
    let mut buf = Vec::with_capacity(12 + seg.len());
    buf.extend_from_slice(&src);
    buf.extend_from_slice(&dst);
    buf.extend_from_slice(&[0, proto]);
    buf.extend_from_slice(&u16::try_from(seg.len()).unwrap_or(u16::MAX).to_be_bytes());
    buf.extend_from_slice(seg);
    internet_checksum(&buf)
}

/// A valid IPv4/UDP datagram from `src`:7000 to `dst`:7 with the given TOS byte (its low
/// two bits are the ECN field) and payload; both checksums are filled in.
pub fn ipv4_udp(src: [u8; 4], dst: [u8; 4], tos: u8, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let mut udp = Vec::with_capacity(udp_len);
    udp.extend_from_slice(&TOY_SRC_PORT.to_be_bytes());
    udp.extend_from_slice(&TOY_DST_PORT.to_be_bytes());
    udp.extend_from_slice(
        &u16::try_from(udp_len)
            .expect("toy packet over 64 KiB")
            .to_be_bytes(),
    );
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let mut c = v4_transport_checksum(src, dst, IPPROTO_UDP, &udp);
    if c == 0 {
        c = 0xffff; // RFC 768: a computed zero is sent as all ones
    }
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    let mut p = ipv4_header(src, dst, tos, IPPROTO_UDP, udp_len);
    p.extend_from_slice(&udp);
    p
}

/// A valid IPv4/TCP segment (20-byte header, no options) with the given flags and payload.
pub fn ipv4_tcp(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let tcp = tcp_segment(sport, dport, flags, payload, |seg| {
        v4_transport_checksum(src, dst, IPPROTO_TCP, seg)
    });
    let mut p = ipv4_header(src, dst, 0, IPPROTO_TCP, tcp.len());
    p.extend_from_slice(&tcp);
    p
}

/// A valid IPv6/TCP segment (no extension headers) with the given flags and payload.
pub fn ipv6_tcp(
    src: [u8; 16],
    dst: [u8; 16],
    sport: u16,
    dport: u16,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let tcp = tcp_segment(sport, dport, flags, payload, |seg| {
        // RFC 8200 §8.1 pseudo-header.
        let mut buf = Vec::with_capacity(40 + seg.len());
        buf.extend_from_slice(&src);
        buf.extend_from_slice(&dst);
        buf.extend_from_slice(&(seg.len() as u32).to_be_bytes());
        buf.extend_from_slice(&[0, 0, 0, IPPROTO_TCP]);
        buf.extend_from_slice(seg);
        internet_checksum(&buf)
    });
    let mut p = Vec::with_capacity(40 + tcp.len());
    p.extend_from_slice(&[0x60, 0, 0, 0]);
    p.extend_from_slice(
        &u16::try_from(tcp.len())
            .expect("toy packet over 64 KiB")
            .to_be_bytes(),
    );
    p.extend_from_slice(&[IPPROTO_TCP, 64]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&tcp);
    p
}

fn tcp_segment(
    sport: u16,
    dport: u16,
    flags: u8,
    payload: &[u8],
    checksum: impl FnOnce(&[u8]) -> u16,
) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&1000u32.to_be_bytes()); // sequence number
    let ack = if flags & crate::packet::tcp_flag::ACK != 0 {
        1u32
    } else {
        0
    };
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[5 << 4, flags]);
    t.extend_from_slice(&65535u16.to_be_bytes()); // window
    t.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    t.extend_from_slice(payload);
    let c = checksum(&t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    t
}

/// The UDP payload of a well-formed IPv4/UDP datagram (see [`ipv4_udp_valid`]).
pub fn udp_payload(p: &[u8]) -> Option<&[u8]> {
    if !ipv4_udp_valid(p) {
        return None;
    }
    p.get(28..)
}

/// Whether `p` is an IPv4/UDP datagram that a receiver would accept: a 20-byte IPv4 header
/// with a valid header checksum, total length matching, and a UDP header whose length
/// matches and whose checksum verifies. A zero UDP checksum ("none", RFC 768) is rejected
/// here, since toys always send one: a bit flip that zeroes it must not slip through.
pub fn ipv4_udp_valid(p: &[u8]) -> bool {
    let Some(h) = p.get(..20) else { return false };
    if h[0] != 0x45 || h[9] != IPPROTO_UDP || internet_checksum(h) != 0 {
        return false;
    }
    if usize::from(u16::from_be_bytes([h[2], h[3]])) != p.len() {
        return false;
    }
    let Some(udp) = p.get(20..) else { return false };
    if udp.len() < 8 || usize::from(u16::from_be_bytes([udp[4], udp[5]])) != udp.len() {
        return false;
    }
    if udp[6] == 0 && udp[7] == 0 {
        return false;
    }
    let src = [h[12], h[13], h[14], h[15]];
    let dst = [h[16], h[17], h[18], h[19]];
    v4_transport_checksum(src, dst, IPPROTO_UDP, udp) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{self, tcp_flag};

    #[test]
    fn builders_make_valid_packets() {
        let p = ipv4_udp([10, 0, 0, 1], [10, 0, 0, 2], 2, b"hello");
        assert!(ipv4_udp_valid(&p));
        assert!(packet::ipv4_header_checksum_ok(&p));
        assert_eq!(udp_payload(&p), Some(&b"hello"[..]));
        let mut e = p.clone();
        swap_endpoints(&mut e);
        assert!(ipv4_udp_valid(&e));
        assert_eq!(&e[12..16], &[10, 0, 0, 2]);
        assert_eq!(packet::ports(&e), Some((TOY_DST_PORT, TOY_SRC_PORT)));
        let t = ipv4_tcp([1, 2, 3, 4], [5, 6, 7, 8], 1, 2, tcp_flag::SYN, &[]);
        assert!(packet::is_tcp_syn(&t));
        assert!(packet::ipv4_header_checksum_ok(&t));
        let t6 = ipv6_tcp([1; 16], [2; 16], 1, 2, tcp_flag::SYN | tcp_flag::ACK, &[]);
        assert_eq!(packet::tcp_flags(&t6), Some(tcp_flag::SYN | tcp_flag::ACK));
        assert!(!packet::is_tcp_syn(&t6));
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        let p = ipv4_udp([10, 0, 0, 1], [10, 0, 0, 2], 0, b"some payload bytes");
        for bit in 0..p.len() * 8 {
            let mut q = p.clone();
            q[bit / 8] ^= 1 << (bit % 8);
            assert!(!ipv4_udp_valid(&q), "bit {bit} slipped through");
        }
    }
}
