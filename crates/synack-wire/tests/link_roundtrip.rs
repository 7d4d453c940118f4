//! Link layers: encapsulate then decapsulate every supported link type, check header
//! fields against hand-written bytes, and check short frames are errors at every length.

use synack_wire::link::{
    ARPHRD_ETHER, ARPHRD_LOOPBACK, BSD_AF_INET6_BSD, BSD_AF_INET6_DARWIN, BSD_AF_INET6_FREEBSD,
    Decapsulated, Encapsulation, LinkError, LinkHeader, LinkType, NetworkProtocol, PACKET_HOST,
    PACKET_OUTGOING, Sll2Header, SllHeader, VlanTag, decapsulate,
};
use synack_wire::pcap::ByteOrder;

const V4: &[u8] = &[
    0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
];
const V6: &[u8] = &[0x60, 0, 0, 0, 0, 0, 6, 64];

fn all_encapsulations<'a>(tags: &'a [VlanTag], addr: &'a [u8]) -> Vec<Encapsulation<'a>> {
    vec![
        Encapsulation::Raw(LinkType::RAW),
        Encapsulation::Raw(LinkType::DLT_RAW_12),
        Encapsulation::Raw(LinkType::DLT_RAW_14),
        Encapsulation::Ethernet {
            dst: [2, 0, 0, 0, 0, 1],
            src: [2, 0, 0, 0, 0, 2],
            vlan_tags: &[],
        },
        Encapsulation::Ethernet {
            dst: [0xff; 6],
            src: [2, 0, 0, 0, 0, 2],
            vlan_tags: tags,
        },
        Encapsulation::Sll {
            packet_type: PACKET_OUTGOING,
            arphrd_type: ARPHRD_ETHER,
            addr,
            vlan_tags: &[],
        },
        Encapsulation::Sll {
            packet_type: PACKET_HOST,
            arphrd_type: ARPHRD_ETHER,
            addr: &[],
            vlan_tags: tags,
        },
        Encapsulation::Sll2 {
            packet_type: 4,
            arphrd_type: ARPHRD_LOOPBACK,
            ifindex: 7,
            addr,
            vlan_tags: &[],
        },
        Encapsulation::Sll2 {
            packet_type: 0,
            arphrd_type: ARPHRD_ETHER,
            ifindex: 0xdead_beef,
            addr: &[1, 2, 3, 4, 5, 6, 7, 8],
            vlan_tags: tags,
        },
        Encapsulation::Null {
            byte_order: ByteOrder::Little,
            inet6_family: BSD_AF_INET6_DARWIN,
        },
        Encapsulation::Null {
            byte_order: ByteOrder::Big,
            inet6_family: BSD_AF_INET6_FREEBSD,
        },
        Encapsulation::Loop {
            inet6_family: BSD_AF_INET6_BSD,
        },
    ]
}

#[test]
fn encapsulate_then_decapsulate_every_link_type() {
    let tags = [
        VlanTag::dot1ad(3, 100),
        VlanTag::dot1q(5, 4095),
        VlanTag::dot1q(0, 1),
    ];
    let addr = [0x02, 0x42, 0xac, 0x11, 0x00, 0x02];
    for enc in all_encapsulations(&tags, &addr) {
        for (proto, payload) in [(NetworkProtocol::Ipv4, V4), (NetworkProtocol::Ipv6, V6)] {
            let mut frame = vec![0xee]; // existing content is kept
            enc.encapsulate(proto, payload, &mut frame).unwrap();
            let frame = &frame[1..];
            assert_eq!(frame.len(), enc.header_len() + payload.len(), "{enc:?}");
            let d = decapsulate(enc.link_type(), frame).unwrap();
            assert_eq!(d.protocol, proto, "{enc:?}");
            assert_eq!(d.offset, enc.header_len(), "{enc:?}");
            assert_eq!(d.payload, payload, "{enc:?}");
            let want_tags: &[VlanTag] = match enc {
                Encapsulation::Ethernet { vlan_tags, .. }
                | Encapsulation::Sll { vlan_tags, .. }
                | Encapsulation::Sll2 { vlan_tags, .. } => vlan_tags,
                _ => &[],
            };
            assert_eq!(d.vlan_tags.iter().collect::<Vec<_>>(), want_tags, "{enc:?}");
            assert_eq!(d.vlan_tags.len(), want_tags.len());
            match (enc, d.header) {
                (Encapsulation::Raw(_), LinkHeader::Raw) => {}
                (
                    Encapsulation::Ethernet { dst, src, .. },
                    LinkHeader::Ethernet {
                        dst: d2, src: s2, ..
                    },
                ) => assert_eq!((dst, src), (d2, s2)),
                (
                    Encapsulation::Sll {
                        packet_type,
                        arphrd_type,
                        addr,
                        ..
                    },
                    LinkHeader::Sll(h),
                ) => {
                    assert_eq!(h.packet_type, packet_type);
                    assert_eq!(h.arphrd_type, arphrd_type);
                    assert_eq!(h.addr, addr);
                    assert_eq!(usize::from(h.addr_len), addr.len());
                }
                (
                    Encapsulation::Sll2 {
                        packet_type,
                        arphrd_type,
                        ifindex,
                        addr,
                        ..
                    },
                    LinkHeader::Sll2(h),
                ) => {
                    assert_eq!(h.packet_type, packet_type);
                    assert_eq!(h.arphrd_type, arphrd_type);
                    assert_eq!(h.ifindex, ifindex);
                    assert_eq!(h.addr, addr);
                }
                (
                    Encapsulation::Null { byte_order, .. },
                    LinkHeader::Null { byte_order: b, .. },
                ) => {
                    assert_eq!(byte_order, b)
                }
                (Encapsulation::Loop { .. }, LinkHeader::Loop { .. }) => {}
                (e, h) => panic!("{e:?} decapsulated as {h:?}"),
            }
            // Every shorter prefix of the link header is an error, never a panic.
            for cut in 0..enc.header_len() {
                let r = decapsulate(enc.link_type(), &frame[..cut]);
                assert!(
                    matches!(r, Err(LinkError::Truncated { .. })),
                    "{enc:?} cut at {cut}: {r:?}"
                );
            }
        }
    }
}

#[test]
fn ethernet_bytes_match_the_wire_format() {
    let tags = [VlanTag::dot1ad(0, 10), VlanTag::dot1q(7, 20)];
    let mut f = Vec::new();
    Encapsulation::Ethernet {
        dst: [1, 2, 3, 4, 5, 6],
        src: [7, 8, 9, 10, 11, 12],
        vlan_tags: &tags,
    }
    .encapsulate(NetworkProtocol::Ipv6, &[0x60], &mut f)
    .unwrap();
    assert_eq!(
        f,
        [
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x88, 0xa8, 0x00, 10, 0x81, 0x00, 0xe0, 20,
            0x86, 0xdd, 0x60
        ]
    );
    let d = decapsulate(LinkType::ETHERNET, &f).unwrap();
    let t: Vec<_> = d.vlan_tags.iter().collect();
    assert_eq!((t[1].pcp(), t[1].vid(), t[1].dei()), (7, 20, false));
    assert_eq!(d.vlan_tags.as_bytes(), &f[14..22]);
    assert!(matches!(
        d.header,
        LinkHeader::Ethernet {
            ethertype: 0x86dd,
            ..
        }
    ));
}

#[test]
fn sll_and_sll2_bytes_match_the_wire_format() {
    // A Linux SLL header as tcpdump -i any writes it for an outgoing loopback packet.
    let mut f = vec![0, 4, 3, 4, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0];
    f.extend_from_slice(V4);
    let d = decapsulate(LinkType::LINUX_SLL, &f).unwrap();
    assert_eq!(
        d.header,
        LinkHeader::Sll(SllHeader {
            packet_type: 4,
            arphrd_type: 772,
            addr_len: 6,
            addr: &[0; 6],
            protocol: 0x0800,
        })
    );
    assert_eq!((d.protocol, d.offset), (NetworkProtocol::Ipv4, 16));
    // SLL2: protocol, reserved, ifindex, hatype, pkttype, halen, addr.
    let mut f = vec![
        0x86, 0xdd, 0, 0, 0, 0, 0, 3, 0, 1, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8,
    ];
    f.extend_from_slice(V6);
    let d = decapsulate(LinkType::LINUX_SLL2, &f).unwrap();
    assert_eq!(
        d.header,
        LinkHeader::Sll2(Sll2Header {
            protocol: 0x86dd,
            ifindex: 3,
            arphrd_type: 1,
            packet_type: 0,
            addr_len: 12, // longer than the field: only 8 bytes shown
            addr: &[1, 2, 3, 4, 5, 6, 7, 8],
        })
    );
    assert_eq!(d.payload, V6);
    // Addresses longer than 8 bytes cannot be written.
    let r = Encapsulation::Sll {
        packet_type: 0,
        arphrd_type: 1,
        addr: &[0; 9],
        vlan_tags: &[],
    }
    .encapsulate(NetworkProtocol::Ipv4, V4, &mut Vec::new());
    assert_eq!(r, Err(LinkError::AddressTooLong(9)));
}

#[test]
fn null_detects_either_byte_order_and_every_inet6_family() {
    for fam in [24u32, 28, 30] {
        for bytes in [fam.to_le_bytes(), fam.to_be_bytes()] {
            let mut f = bytes.to_vec();
            f.extend_from_slice(V6);
            let d = decapsulate(LinkType::NULL, &f).unwrap();
            assert_eq!(d.protocol, NetworkProtocol::Ipv6);
            assert!(matches!(d.header, LinkHeader::Null { family, .. } if family == fam));
        }
    }
    let d = decapsulate(LinkType::NULL, &[2, 0, 0, 0, 0x45]).unwrap();
    assert_eq!(
        d.header,
        LinkHeader::Null {
            family: 2,
            byte_order: ByteOrder::Little
        }
    );
    assert_eq!(d.protocol, NetworkProtocol::Ipv4);
    // LOOP is always network byte order: a little-endian 2 is some other family.
    let d = decapsulate(LinkType::LOOP, &[2, 0, 0, 0, 0x45]).unwrap();
    assert_eq!(d.protocol, NetworkProtocol::Other(0x0200_0000));
    let d = decapsulate(LinkType::LOOP, &[0, 0, 0, 2, 0x45]).unwrap();
    assert_eq!(d.protocol, NetworkProtocol::Ipv4);
    // Other families pass through.
    let mut f = Vec::new();
    Encapsulation::Null {
        byte_order: ByteOrder::Little,
        inet6_family: 30,
    }
    .encapsulate(NetworkProtocol::Other(7), &[1], &mut f)
    .unwrap();
    assert_eq!(f, [7, 0, 0, 0, 1]);
}

#[test]
fn raw_link_types() {
    let d = decapsulate(LinkType::RAW, V6).unwrap();
    assert_eq!((d.protocol, d.offset), (NetworkProtocol::Ipv6, 0));
    assert_eq!(
        decapsulate(LinkType::RAW, &[0x10]).unwrap().protocol,
        NetworkProtocol::Other(1)
    );
    assert!(decapsulate(LinkType::RAW, &[]).is_err());
    // 228/229 fix the version whatever the first nibble says, even for empty frames.
    assert_eq!(
        decapsulate(LinkType::IPV4, V6).unwrap().protocol,
        NetworkProtocol::Ipv4
    );
    let d: Decapsulated<'_> = decapsulate(LinkType::IPV6, &[]).unwrap();
    assert_eq!((d.protocol, d.payload), (NetworkProtocol::Ipv6, &[][..]));
    let mut f = Vec::new();
    Encapsulation::Raw(LinkType::IPV6)
        .encapsulate(NetworkProtocol::Ipv6, V6, &mut f)
        .unwrap();
    assert_eq!(f, V6);
    assert_eq!(
        Encapsulation::Raw(LinkType::ETHERNET).encapsulate(NetworkProtocol::Ipv4, V4, &mut f),
        Err(LinkError::Unsupported(LinkType::ETHERNET))
    );
}

#[test]
fn other_ethertypes_and_lengths() {
    // ARP.
    let mut f = vec![0xff; 12];
    f.extend_from_slice(&[0x08, 0x06, 0, 1]);
    let d = decapsulate(LinkType::ETHERNET, &f).unwrap();
    assert_eq!(d.protocol, NetworkProtocol::Other(0x0806));
    assert_eq!(d.payload, &[0, 1]);
    // An ethertype that does not fit 16 bits cannot be written.
    let r = Encapsulation::Ethernet {
        dst: [0; 6],
        src: [0; 6],
        vlan_tags: &[],
    }
    .encapsulate(NetworkProtocol::Other(0x1_0000), &[], &mut Vec::new());
    assert_eq!(r, Err(LinkError::ProtocolOutOfRange(0x1_0000)));
    // Unknown link types are reported as such.
    assert_eq!(
        decapsulate(LinkType(147), &[0; 40]),
        Err(LinkError::Unsupported(LinkType(147)))
    );
    assert!(!LinkType(147).is_supported());
    assert!(LinkType::LINUX_SLL2.is_supported());
    assert_eq!(LinkType::ETHERNET.name(), Some(("EN10MB", "Ethernet")));
    assert_eq!(NetworkProtocol::of_ip_packet(V4), NetworkProtocol::Ipv4);
    assert_eq!(
        NetworkProtocol::of_ip_packet(&[]),
        NetworkProtocol::Other(0)
    );
}

#[test]
fn many_vlan_tags_and_a_tag_cut_short() {
    let tags: Vec<VlanTag> = (0..20).map(|i| VlanTag::dot1q(0, i)).collect();
    let mut f = Vec::new();
    Encapsulation::Ethernet {
        dst: [0; 6],
        src: [0; 6],
        vlan_tags: &tags,
    }
    .encapsulate(NetworkProtocol::Ipv4, V4, &mut f)
    .unwrap();
    let d = decapsulate(LinkType::ETHERNET, &f).unwrap();
    assert_eq!(d.vlan_tags.len(), 20);
    assert_eq!(
        d.vlan_tags.iter().map(|t| t.vid()).collect::<Vec<_>>(),
        (0..20).collect::<Vec<_>>()
    );
    assert_eq!(d.payload, V4);
    // Cut in the middle of the tenth tag.
    assert!(matches!(
        decapsulate(LinkType::ETHERNET, &f[..14 + 9 * 4 + 2]),
        Err(LinkError::Truncated { needed: 54, .. })
    ));
}
