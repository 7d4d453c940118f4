//! A minimal [`PacketHandler`] that answers ICMP and ICMPv6 echo requests sent to its own
//! addresses and ignores everything else. It proves a device path end to end before (and
//! independently of) the TCP stack.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr};

use synack::Instant;
use synack_wire::checksum::{PseudoHeader, checksum};
use synack_wire::icmp::{self, EchoRepr, IcmpPacket};
use synack_wire::ipv4::{self, Ipv4Packet, Ipv4Repr};
use synack_wire::ipv6::{self, Ipv6Packet, Ipv6Repr};

use crate::driver::PacketHandler;

/// Most replies waiting to be sent; requests beyond it are dropped (and counted).
const MAX_QUEUE: usize = 64;

/// Counters kept by an [`EchoResponder`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EchoStats {
    /// ICMP echo requests answered.
    pub replies_v4: u64,
    /// ICMPv6 echo requests answered.
    pub replies_v6: u64,
    /// Packets that were not an echo request for us (or were malformed).
    pub ignored: u64,
    /// Requests dropped because the reply queue was full.
    pub dropped: u64,
}

/// Answers echo requests addressed to the configured addresses.
#[derive(Clone, Debug, Default)]
pub struct EchoResponder {
    v4: Vec<Ipv4Addr>,
    v6: Vec<Ipv6Addr>,
    queue: VecDeque<Vec<u8>>,
    stats: EchoStats,
}

impl EchoResponder {
    /// A responder owning the given unicast addresses.
    pub fn new(v4: &[Ipv4Addr], v6: &[Ipv6Addr]) -> EchoResponder {
        EchoResponder {
            v4: v4.to_vec(),
            v6: v6.to_vec(),
            queue: VecDeque::new(),
            stats: EchoStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> &EchoStats {
        &self.stats
    }

    /// The reply to `packet` if it is a well-formed echo request to one of our addresses.
    pub fn answer(&self, packet: &[u8]) -> Option<Vec<u8>> {
        match packet.first().map(|b| b >> 4) {
            Some(4) => self.answer_v4(packet),
            Some(6) => self.answer_v6(packet),
            _ => None,
        }
    }

    fn answer_v4(&self, packet: &[u8]) -> Option<Vec<u8>> {
        let ip = Ipv4Packet::new_checked(packet).ok()?;
        let src = ip.src();
        let dst = ip.dst();
        // A fragment would need reassembly first (RFC 791 §3.2); a truncated packet or a
        // bad header checksum is dropped (RFC 1122 §3.2.1.2).
        if !ip.checksum_ok()
            || ip.is_fragment()
            || usize::from(ip.total_len()) > packet.len()
            || ip.protocol() != ipv4::PROTO_ICMP
            || !self.v4.contains(&dst)
            || src.is_unspecified()
            || src.is_multicast()
            || src.is_broadcast()
        {
            return None;
        }
        let msg = ip.payload();
        let icmp = IcmpPacket::new_checked(msg).ok()?;
        // RFC 792: the checksum covers the whole ICMP message; a correct one sums to zero.
        if icmp.msg_type() != icmp::ECHO_REQUEST || icmp.code() != 0 || checksum(msg) != 0 {
            return None;
        }
        let reply = EchoRepr {
            msg_type: icmp::ECHO_REPLY,
            id: icmp.echo_id()?,
            seq: icmp.echo_seq()?,
        };
        // RFC 1122 §3.2.2.6: the reply's source is the request's specific destination, and
        // its data is the request's data.
        let body = reply.emit_v4(icmp.payload());
        Some(Ipv4Repr::new(dst, src, ipv4::PROTO_ICMP).emit(&body))
    }

    fn answer_v6(&self, packet: &[u8]) -> Option<Vec<u8>> {
        let ip = Ipv6Packet::new_checked(packet).ok()?;
        let src = ip.src();
        let dst = ip.dst();
        if ipv6::HEADER_LEN + usize::from(ip.payload_len()) > packet.len()
            || !self.v6.contains(&dst)
            || src.is_unspecified()
            || src.is_multicast()
        {
            return None;
        }
        let upper = ip.upper_layer().ok()?;
        if upper.protocol != ipv4::PROTO_ICMPV6 || upper.fragment.is_some() {
            return None;
        }
        let msg = upper.payload;
        let icmp = IcmpPacket::new_checked(msg).ok()?;
        // RFC 4443 §2.3: the checksum includes the IPv6 pseudo-header.
        let len = u32::try_from(msg.len()).ok()?;
        let mut sum = PseudoHeader::v6(src, dst).checksum(ipv4::PROTO_ICMPV6, len);
        sum.add_bytes(msg);
        if icmp.msg_type() != icmp::ECHO6_REQUEST || icmp.code() != 0 || sum.finish() != 0 {
            return None;
        }
        let reply = EchoRepr {
            msg_type: icmp::ECHO6_REPLY,
            id: icmp.echo_id()?,
            seq: icmp.echo_seq()?,
        };
        // RFC 4443 §4.2: a reply to a unicast request comes from that address and carries
        // the request's identifier, sequence number and data.
        let body = reply.emit_v6(&PseudoHeader::v6(dst, src), icmp.payload());
        Some(Ipv6Repr::new(dst, src, ipv4::PROTO_ICMPV6).emit(&body))
    }
}

impl PacketHandler for EchoResponder {
    fn receive(&mut self, _now: Instant, packet: &[u8]) {
        match self.answer(packet) {
            None => self.stats.ignored += 1,
            Some(_) if self.queue.len() >= MAX_QUEUE => self.stats.dropped += 1,
            Some(reply) => {
                if packet.first().map(|b| b >> 4) == Some(4) {
                    self.stats.replies_v4 += 1;
                } else {
                    self.stats.replies_v6 += 1;
                }
                self.queue.push_back(reply);
            }
        }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
        loop {
            let pkt = self.queue.pop_front()?;
            if let Some(dst) = buf.get_mut(..pkt.len()) {
                dst.copy_from_slice(&pkt);
                return Some(pkt.len());
            }
            // Longer than the device allows: dropped (we do not fragment replies).
            self.stats.dropped += 1;
        }
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }

    fn handle_timeout(&mut self, _now: Instant) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const PEER4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const ME6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
    const PEER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);

    fn request_v4(dst: Ipv4Addr, data: &[u8]) -> Vec<u8> {
        let e = EchoRepr {
            msg_type: icmp::ECHO_REQUEST,
            id: 0x1234,
            seq: 7,
        };
        Ipv4Repr::new(PEER4, dst, ipv4::PROTO_ICMP).emit(&e.emit_v4(data))
    }

    fn request_v6(dst: Ipv6Addr, data: &[u8]) -> Vec<u8> {
        let e = EchoRepr {
            msg_type: icmp::ECHO6_REQUEST,
            id: 0x4321,
            seq: 9,
        };
        let body = e.emit_v6(&PseudoHeader::v6(PEER6, dst), data);
        Ipv6Repr::new(PEER6, dst, ipv4::PROTO_ICMPV6).emit(&body)
    }

    #[test]
    fn answers_v4_echo_with_same_id_seq_data() {
        let r = EchoResponder::new(&[ME4], &[]);
        let reply = r.answer(&request_v4(ME4, b"hello")).unwrap();
        let ip = Ipv4Packet::new_checked(&reply).unwrap();
        assert!(ip.checksum_ok());
        assert_eq!((ip.src(), ip.dst()), (ME4, PEER4));
        let m = IcmpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!(m.msg_type(), icmp::ECHO_REPLY);
        assert_eq!((m.echo_id(), m.echo_seq()), (Some(0x1234), Some(7)));
        assert_eq!(m.payload(), b"hello");
        assert_eq!(checksum(ip.payload()), 0);
    }

    #[test]
    fn answers_v6_echo_with_valid_checksum() {
        let r = EchoResponder::new(&[], &[ME6]);
        let reply = r.answer(&request_v6(ME6, b"abc")).unwrap();
        let ip = Ipv6Packet::new_checked(&reply).unwrap();
        assert_eq!((ip.src(), ip.dst()), (ME6, PEER6));
        let up = ip.upper_layer().unwrap();
        let m = IcmpPacket::new_checked(up.payload).unwrap();
        assert_eq!(m.msg_type(), icmp::ECHO6_REPLY);
        assert_eq!((m.echo_id(), m.echo_seq()), (Some(0x4321), Some(9)));
        assert_eq!(m.payload(), b"abc");
        let mut s = PseudoHeader::v6(ME6, PEER6).checksum(58, up.payload.len() as u32);
        s.add_bytes(up.payload);
        assert_eq!(s.finish(), 0);
    }

    #[test]
    fn ignores_others_and_bad_checksums() {
        let r = EchoResponder::new(&[ME4], &[ME6]);
        assert!(
            r.answer(&request_v4(Ipv4Addr::new(198, 18, 0, 3), b"x"))
                .is_none()
        );
        assert!(r.answer(&request_v6(PEER6, b"x")).is_none());
        let mut bad = request_v4(ME4, b"xy");
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(r.answer(&bad).is_none());
        let mut bad6 = request_v6(ME6, b"xy");
        let last = bad6.len() - 1;
        bad6[last] ^= 1;
        assert!(r.answer(&bad6).is_none());
    }

    #[test]
    fn every_truncation_and_byte_flip_is_handled_without_panic() {
        let mut r = EchoResponder::new(&[ME4], &[ME6]);
        for pkt in [
            request_v4(ME4, b"0123456789"),
            request_v6(ME6, b"0123456789"),
        ] {
            for cut in 0..pkt.len() {
                // A cut packet never yields a reply: lengths or checksums no longer agree.
                assert!(r.answer(&pkt[..cut]).is_none(), "cut at {cut}");
            }
            for i in 0..pkt.len() {
                for bit in 0..8 {
                    let mut p = pkt.clone();
                    p[i] ^= 1 << bit;
                    r.receive(Instant::ZERO, &p);
                }
            }
        }
        let mut buf = [0u8; 1500];
        let mut n = 0;
        while r.poll_transmit(Instant::ZERO, &mut buf).is_some() {
            n += 1;
            assert!(n <= MAX_QUEUE);
        }
    }

    #[test]
    fn driver_surface_queues_replies() {
        let mut r = EchoResponder::new(&[ME4], &[ME6]);
        r.receive(Instant::ZERO, &request_v4(ME4, b"a"));
        r.receive(Instant::ZERO, &request_v6(ME6, b"b"));
        r.receive(Instant::ZERO, b"\x45garbage");
        assert_eq!(r.stats().replies_v4, 1);
        assert_eq!(r.stats().replies_v6, 1);
        assert_eq!(r.stats().ignored, 1);
        let mut buf = [0u8; 1500];
        assert!(r.poll_transmit(Instant::ZERO, &mut buf).is_some());
        let mut tiny = [0u8; 10];
        assert_eq!(r.poll_transmit(Instant::ZERO, &mut tiny), None);
        assert_eq!(r.stats().dropped, 1);
        assert_eq!(r.poll_timeout(), None);
    }
}
