//! Property tests: what the IPv4, IPv6, UDP and ICMP emitters write, the views read back.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use synack_wire::checksum::{PseudoHeader, checksum};
use synack_wire::icmp::{EchoRepr, IcmpPacket};
use synack_wire::ipv4::{Ipv4Packet, Ipv4Repr};
use synack_wire::ipv6::{ExtRepr, Fragment, Ipv6Packet, Ipv6Repr};
use synack_wire::udp::{UdpPacket, UdpRepr};

fn v4_repr() -> impl Strategy<Value = Ipv4Repr> {
    (
        any::<[u8; 4]>(),
        any::<[u8; 4]>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u16>(),
        any::<(bool, bool, bool)>(),
        0u16..0x2000,
        (0usize..=10).prop_flat_map(|w| proptest::collection::vec(any::<u8>(), w * 4)),
    )
        .prop_map(
            |(s, d, protocol, ttl, tos, id, (df, mf, rsvd), frag_offset, options)| Ipv4Repr {
                src: Ipv4Addr::from(s),
                dst: Ipv4Addr::from(d),
                protocol,
                ttl,
                tos,
                id,
                df,
                mf,
                reserved_flag: rsvd,
                frag_offset,
                options,
                total_len: None,
                checksum: None,
            },
        )
}

fn ext_repr() -> impl Strategy<Value = ExtRepr> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..30).prop_map(ExtRepr::HopByHop),
        proptest::collection::vec(any::<u8>(), 0..30).prop_map(ExtRepr::DestOpts),
        (
            any::<u8>(),
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(routing_type, segments_left, data)| ExtRepr::Routing {
                routing_type,
                segments_left,
                data,
            }),
        (0u16..0x2000, any::<bool>(), any::<u32>())
            .prop_map(|(offset, more, id)| ExtRepr::Fragment(Fragment { offset, more, id })),
    ]
}

proptest! {
    #[test]
    fn ipv4_emit_then_parse(repr in v4_repr(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let bytes = repr.emit(&payload);
        let p = Ipv4Packet::new_checked(&bytes).unwrap();
        prop_assert!(p.checksum_ok());
        prop_assert_eq!(p.payload(), &payload[..]);
        let back = Ipv4Repr::parse(&p);
        let mut want = repr.clone();
        want.total_len = Some((bytes.len()) as u16);
        want.checksum = Some(p.checksum());
        prop_assert_eq!(back, want);
        // And the parsed form re-emits the same bytes.
        prop_assert_eq!(Ipv4Repr::parse(&p).emit(&payload), bytes);
    }

    #[test]
    fn ipv4_forced_fields_are_written(repr in v4_repr(), ck in any::<u16>(), tl in any::<u16>()) {
        let mut r = repr;
        r.checksum = Some(ck);
        r.total_len = Some(tl);
        let bytes = r.emit(&[]);
        let p = Ipv4Packet::new_checked(&bytes).unwrap();
        prop_assert_eq!(p.checksum(), ck);
        prop_assert_eq!(p.total_len(), tl);
        prop_assert_eq!(p.checksum_ok(), checksum(p.header()) == 0);
    }

    #[test]
    fn ipv6_chain_emit_then_walk(
        src in any::<[u8; 16]>(),
        dst in any::<[u8; 16]>(),
        ext in proptest::collection::vec(ext_repr(), 0..5),
        protocol in prop_oneof![Just(6u8), Just(17), Just(58), Just(59), Just(99)],
        tc in any::<u8>(),
        flow in 0u32..0x10_0000,
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut r = Ipv6Repr::new(Ipv6Addr::from(src), Ipv6Addr::from(dst), protocol);
        r.ext = ext.clone();
        r.traffic_class = tc;
        r.flow_label = flow;
        let bytes = r.emit(&payload);
        let p = Ipv6Packet::new_checked(&bytes).unwrap();
        prop_assert_eq!(p.src(), Ipv6Addr::from(src));
        prop_assert_eq!(p.dst(), Ipv6Addr::from(dst));
        prop_assert_eq!(p.traffic_class(), tc);
        prop_assert_eq!(p.flow_label(), flow);
        prop_assert_eq!(usize::from(p.payload_len()) + 40, bytes.len());
        let kinds: Vec<u8> = p.ext_headers().map(|h| h.unwrap().kind).collect();
        let want: Vec<u8> = ext.iter().map(ExtRepr::kind).collect();
        prop_assert_eq!(kinds, want);
        let up = p.upper_layer().unwrap();
        prop_assert_eq!(up.protocol, protocol);
        prop_assert_eq!(up.payload, &payload[..]);
        let frag = ext.iter().rev().find_map(|e| match e {
            ExtRepr::Fragment(f) => Some(*f),
            _ => None,
        });
        prop_assert_eq!(up.fragment, frag);
    }

    #[test]
    fn udp_and_icmp_emit_then_parse(
        sp in any::<u16>(),
        dp in any::<u16>(),
        id in any::<u16>(),
        seq in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let ph = PseudoHeader::v4(a, b);
        let d = UdpRepr { src_port: sp, dst_port: dp, checksum: None }.emit(&ph, &payload);
        let u = UdpPacket::new_checked(&d).unwrap();
        prop_assert_eq!((u.src_port(), u.dst_port()), (sp, dp));
        prop_assert_eq!(usize::from(u.len()), d.len());
        prop_assert_eq!(u.payload(), &payload[..]);
        let mut c = ph.checksum(17, d.len() as u32);
        c.add_bytes(&d);
        prop_assert_eq!(c.finish(), 0);
        let m = EchoRepr { msg_type: 8, id, seq }.emit_v4(&payload);
        let i = IcmpPacket::new_checked(&m).unwrap();
        prop_assert_eq!((i.msg_type(), i.code(), i.echo_id(), i.echo_seq()), (8, 0, Some(id), Some(seq)));
        prop_assert_eq!(checksum(&m), 0);
        let ph6 = PseudoHeader::v6(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST);
        let m6 = EchoRepr { msg_type: 128, id, seq }.emit_v6(&ph6, &payload);
        let mut c6 = ph6.checksum(58, m6.len() as u32);
        c6.add_bytes(&m6);
        prop_assert_eq!(c6.finish(), 0);
    }
}
