//! Link-layer types of capture files, and decapsulation to (and encapsulation from) the
//! network layer.
//!
//! Link-type numbers are the `LINKTYPE_*` values of the tcpdump.org registry (also in
//! draft-ietf-opsawg-pcaplinktype). Supported headers:
//!
//! | link type | header |
//! |---|---|
//! | `NULL` (0) | 4-byte address family in the *capturing host's* byte order |
//! | `ETHERNET` (1) | DIX Ethernet II, with any number of 802.1Q / 802.1ad tags |
//! | `RAW` (101), `DLT_RAW_12` (12), `DLT_RAW_14` (14) | none; IP version from the first nibble |
//! | `LOOP` (108) | 4-byte address family in network byte order |
//! | `LINUX_SLL` (113) | Linux "cooked" header v1, 16 bytes |
//! | `IPV4` (228), `IPV6` (229) | none; the version is fixed by the link type |
//! | `LINUX_SLL2` (276) | Linux "cooked" header v2, 20 bytes |
//!
//! On Linux, libpcap reads link type 12 as `DLT_RAW`, but 14 is not raw IP there: tcpdump
//! 4.99.3 stops with `unknown data link type 14` (only OpenBSD numbers `DLT_RAW` 14). We
//! decapsulate both as raw IP, as asked; test corpora compared with tcpdump should avoid 14.
//!
//! Without `-e`, tcpdump 4.99.3 prints nothing of the link header for these types except
//! SLL2: each line starts with the interface *name* of the ifindex as looked up on the
//! reading host (`if_indextoname`: ifindex 1 is `lo` on Linux, an unknown one is `?`;
//! stderr warns `interface names might be incorrect`), left-aligned in 5 columns and a
//! space, then the direction (`In  `, `Out `, `B   `, `M   `, `P   `), e.g.
//! `lo    In  IP ...` and `?     Out IP ...` (checked by hand).
//!
//! [`decapsulate`] never panics: a frame shorter than its link header is an error value.

use core::fmt;

use crate::pcap::ByteOrder;

/// A capture link-layer type (`LINKTYPE_*` value), as found in a pcap file header or a
/// pcapng Interface Description Block.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct LinkType(pub u32);

impl LinkType {
    /// `LINKTYPE_NULL`: BSD loopback, address family in host byte order.
    pub const NULL: LinkType = LinkType(0);
    /// `LINKTYPE_ETHERNET`: IEEE 802.3 / DIX Ethernet.
    pub const ETHERNET: LinkType = LinkType(1);
    /// `DLT_RAW` as numbered on most systems (12); libpcap reads it as raw IP.
    pub const DLT_RAW_12: LinkType = LinkType(12);
    /// `DLT_RAW` as numbered on OpenBSD (14); decapsulated here as raw IP.
    pub const DLT_RAW_14: LinkType = LinkType(14);
    /// `LINKTYPE_RAW`: raw IPv4 or IPv6, version from the first nibble.
    pub const RAW: LinkType = LinkType(101);
    /// `LINKTYPE_LOOP`: OpenBSD loopback, address family in network byte order.
    pub const LOOP: LinkType = LinkType(108);
    /// `LINKTYPE_LINUX_SLL`: Linux cooked capture, version 1.
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// `LINKTYPE_IPV4`: raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// `LINKTYPE_IPV6`: raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// `LINKTYPE_LINUX_SLL2`: Linux cooked capture, version 2.
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// tcpdump's short name and description for this link type (as in
    /// `link-type EN10MB (Ethernet)`), for the supported types.
    pub fn name(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            LinkType::NULL => ("NULL", "BSD loopback"),
            LinkType::ETHERNET => ("EN10MB", "Ethernet"),
            LinkType::DLT_RAW_12 | LinkType::RAW => ("RAW", "Raw IP"),
            LinkType::LOOP => ("LOOP", "OpenBSD loopback"),
            LinkType::LINUX_SLL => ("LINUX_SLL", "Linux cooked v1"),
            LinkType::IPV4 => ("IPV4", "Raw IPv4"),
            LinkType::IPV6 => ("IPV6", "Raw IPv6"),
            LinkType::LINUX_SLL2 => ("LINUX_SLL2", "Linux cooked v2"),
            _ => return None,
        })
    }

    /// Whether [`decapsulate`] understands this link type.
    pub fn is_supported(self) -> bool {
        matches!(
            self,
            LinkType::NULL
                | LinkType::ETHERNET
                | LinkType::DLT_RAW_12
                | LinkType::DLT_RAW_14
                | LinkType::RAW
                | LinkType::LOOP
                | LinkType::LINUX_SLL
                | LinkType::IPV4
                | LinkType::IPV6
                | LinkType::LINUX_SLL2
        )
    }
}

impl fmt::Debug for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some((name, _)) => write!(f, "LinkType({}, {name})", self.0),
            None => write!(f, "LinkType({})", self.0),
        }
    }
}

/// Ethertype of IPv4 (IEEE registry).
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// Ethertype of IPv6 (RFC 8200 uses 0x86DD on Ethernet, RFC 2464).
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// Ethertype of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// IEEE 802.1Q customer VLAN tag protocol identifier.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// IEEE 802.1ad service VLAN tag protocol identifier (QinQ outer tag).
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
/// Pre-standard QinQ tag protocol identifier.
pub const ETHERTYPE_QINQ_9100: u16 = 0x9100;
/// Pre-standard QinQ tag protocol identifier.
pub const ETHERTYPE_QINQ_9200: u16 = 0x9200;

/// BSD `AF_INET`, the same on every BSD-derived system.
pub const BSD_AF_INET: u32 = 2;
/// `AF_INET6` on NetBSD, OpenBSD and BSD/OS.
pub const BSD_AF_INET6_BSD: u32 = 24;
/// `AF_INET6` on FreeBSD.
pub const BSD_AF_INET6_FREEBSD: u32 = 28;
/// `AF_INET6` on macOS (Darwin).
pub const BSD_AF_INET6_DARWIN: u32 = 30;

/// Linux `PACKET_HOST`: addressed to this host (SLL packet type).
pub const PACKET_HOST: u16 = 0;
/// Linux `PACKET_BROADCAST`: link-layer broadcast.
pub const PACKET_BROADCAST: u16 = 1;
/// Linux `PACKET_MULTICAST`: link-layer multicast.
pub const PACKET_MULTICAST: u16 = 2;
/// Linux `PACKET_OTHERHOST`: addressed to another host (promiscuous capture).
pub const PACKET_OTHERHOST: u16 = 3;
/// Linux `PACKET_OUTGOING`: sent by this host.
pub const PACKET_OUTGOING: u16 = 4;

/// Linux `ARPHRD_ETHER`, the hardware type of Ethernet devices.
pub const ARPHRD_ETHER: u16 = 1;
/// Linux `ARPHRD_LOOPBACK`, the hardware type of the loopback device.
pub const ARPHRD_LOOPBACK: u16 = 772;
/// Linux `ARPHRD_NONE`, the hardware type of TUN devices.
pub const ARPHRD_NONE: u16 = 0xfffe;

/// Length of an Ethernet II header without tags.
pub const ETHERNET_HEADER_LEN: usize = 14;
/// Length of a Linux cooked v1 header.
pub const SLL_HEADER_LEN: usize = 16;
/// Length of a Linux cooked v2 header.
pub const SLL2_HEADER_LEN: usize = 20;
/// Length of a BSD NULL / LOOP header.
pub const NULL_HEADER_LEN: usize = 4;

/// The network-layer protocol a link header announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetworkProtocol {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
    /// Anything else: the ethertype (Ethernet, SLL, SLL2; below 0x0600 it is an 802.3
    /// length), the address family (NULL, LOOP) or the version nibble (raw IP).
    Other(u32),
}

impl NetworkProtocol {
    /// The protocol of a raw IP packet, from its version nibble (`Other(nibble)` for
    /// neither 4 nor 6, `Other(0)` for an empty packet).
    pub fn of_ip_packet(packet: &[u8]) -> NetworkProtocol {
        match packet.first().map(|b| b >> 4) {
            Some(4) => NetworkProtocol::Ipv4,
            Some(6) => NetworkProtocol::Ipv6,
            Some(v) => NetworkProtocol::Other(u32::from(v)),
            None => NetworkProtocol::Other(0),
        }
    }

    fn from_ethertype(ethertype: u16) -> NetworkProtocol {
        match ethertype {
            ETHERTYPE_IPV4 => NetworkProtocol::Ipv4,
            ETHERTYPE_IPV6 => NetworkProtocol::Ipv6,
            other => NetworkProtocol::Other(u32::from(other)),
        }
    }

    fn from_bsd_family(family: u32) -> NetworkProtocol {
        match family {
            BSD_AF_INET => NetworkProtocol::Ipv4,
            BSD_AF_INET6_BSD | BSD_AF_INET6_FREEBSD | BSD_AF_INET6_DARWIN => NetworkProtocol::Ipv6,
            other => NetworkProtocol::Other(other),
        }
    }

    fn ethertype(self) -> Result<u16, LinkError> {
        match self {
            NetworkProtocol::Ipv4 => Ok(ETHERTYPE_IPV4),
            NetworkProtocol::Ipv6 => Ok(ETHERTYPE_IPV6),
            NetworkProtocol::Other(v) => {
                u16::try_from(v).map_err(|_| LinkError::ProtocolOutOfRange(v))
            }
        }
    }
}

/// One 802.1Q / 802.1ad tag: the tag protocol identifier and the tag control information.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VlanTag {
    /// Tag protocol identifier (0x8100, 0x88a8, 0x9100 or 0x9200).
    pub tpid: u16,
    /// Tag control information: PCP (3 bits), DEI (1 bit), VLAN id (12 bits).
    pub tci: u16,
}

impl VlanTag {
    /// An 802.1Q tag with the given priority (0..=7) and VLAN id (0..=4095); out-of-range
    /// bits are masked off.
    pub fn dot1q(pcp: u8, vid: u16) -> VlanTag {
        VlanTag {
            tpid: ETHERTYPE_VLAN,
            tci: (u16::from(pcp & 7) << 13) | (vid & 0x0fff),
        }
    }

    /// An 802.1ad service tag with the given priority and VLAN id.
    pub fn dot1ad(pcp: u8, vid: u16) -> VlanTag {
        VlanTag {
            tpid: ETHERTYPE_QINQ,
            ..VlanTag::dot1q(pcp, vid)
        }
    }

    /// The 12-bit VLAN identifier.
    pub fn vid(self) -> u16 {
        self.tci & 0x0fff
    }

    /// The 3-bit priority code point.
    pub fn pcp(self) -> u8 {
        // The shift leaves 3 bits, so the value fits in a u8.
        (self.tci >> 13) as u8
    }

    /// The drop-eligible indicator (formerly CFI).
    pub fn dei(self) -> bool {
        self.tci & 0x1000 != 0
    }
}

/// Whether an ethertype is a VLAN tag protocol identifier tcpdump unwraps.
pub fn is_vlan_tpid(ethertype: u16) -> bool {
    matches!(
        ethertype,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_9100 | ETHERTYPE_QINQ_9200
    )
}

/// The VLAN tags of a frame, outermost first: a zero-copy view.
///
/// The first tag's TPID sits in the link header's type field (for SLL2 at the start of
/// the header); then each tag contributes 4 bytes after the header: its TCI and the type
/// that follows it (the next tag's TPID, or the innermost ethertype).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct VlanTags<'a> {
    first_tpid: u16,
    bytes: &'a [u8],
}

impl<'a> VlanTags<'a> {
    /// Number of tags.
    pub fn len(&self) -> usize {
        self.bytes.len() / 4
    }

    /// Whether the frame had no tags.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The tags, outermost first.
    pub fn iter(&self) -> impl Iterator<Item = VlanTag> + 'a {
        let mut tpid = self.first_tpid;
        self.bytes.chunks_exact(4).map(move |c| {
            let tag = VlanTag {
                tpid,
                tci: u16::from_be_bytes([c[0], c[1]]),
            };
            tpid = u16::from_be_bytes([c[2], c[3]]);
            tag
        })
    }

    /// The bytes the tags occupy after the link header: TCI and following type, 4 per tag.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

impl fmt::Debug for VlanTags<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A Linux cooked v1 header (`LINKTYPE_LINUX_SLL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SllHeader<'a> {
    /// Packet type / direction ([`PACKET_HOST`], [`PACKET_OUTGOING`], ...).
    pub packet_type: u16,
    /// Linux `ARPHRD_*` hardware type of the capturing device.
    pub arphrd_type: u16,
    /// Link-layer address length as recorded (may exceed 8).
    pub addr_len: u16,
    /// The link-layer address: the first `min(addr_len, 8)` bytes of the address field.
    pub addr: &'a [u8],
    /// Protocol field (an ethertype for most devices).
    pub protocol: u16,
}

/// A Linux cooked v2 header (`LINKTYPE_LINUX_SLL2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sll2Header<'a> {
    /// Protocol field (an ethertype for most devices).
    pub protocol: u16,
    /// Interface index of the capturing device.
    pub ifindex: u32,
    /// Linux `ARPHRD_*` hardware type.
    pub arphrd_type: u16,
    /// Packet type / direction ([`PACKET_HOST`], [`PACKET_OUTGOING`], ...).
    pub packet_type: u8,
    /// Link-layer address length as recorded (may exceed 8).
    pub addr_len: u8,
    /// The link-layer address: the first `min(addr_len, 8)` bytes of the address field.
    pub addr: &'a [u8],
}

/// The link header found in front of the network-layer packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkHeader<'a> {
    /// No link header (raw IP link types).
    Raw,
    /// Ethernet II; `ethertype` is the innermost one (after any VLAN tags).
    Ethernet {
        /// Destination MAC address.
        dst: [u8; 6],
        /// Source MAC address.
        src: [u8; 6],
        /// The innermost ethertype (or 802.3 length when below 0x0600).
        ethertype: u16,
    },
    /// Linux cooked v1.
    Sll(SllHeader<'a>),
    /// Linux cooked v2.
    Sll2(Sll2Header<'a>),
    /// BSD loopback: the address family and the byte order it was written in.
    Null {
        /// Address family as the capturing host numbers it.
        family: u32,
        /// The byte order the family was found in.
        byte_order: ByteOrder,
    },
    /// OpenBSD loopback: the address family, in network byte order.
    Loop {
        /// Address family.
        family: u32,
    },
}

/// A frame split into its link header and network-layer payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decapsulated<'a> {
    /// The link header.
    pub header: LinkHeader<'a>,
    /// VLAN tags between the link header and the payload (Ethernet, SLL, SLL2).
    pub vlan_tags: VlanTags<'a>,
    /// The network protocol announced by the link layer.
    pub protocol: NetworkProtocol,
    /// Offset of the network-layer payload within the frame.
    pub offset: usize,
    /// The network-layer payload (the rest of the frame, possibly empty).
    pub payload: &'a [u8],
}

/// Why a frame could not be decapsulated or encapsulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkError {
    /// The frame is shorter than its link header.
    Truncated {
        /// The link type being parsed.
        link_type: LinkType,
        /// Bytes needed for the header parsed so far.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// A link type this module does not handle.
    Unsupported(LinkType),
    /// A protocol value too large for the header field (an ethertype above 0xffff).
    ProtocolOutOfRange(u32),
    /// An SLL link-layer address longer than the 8-byte field.
    AddressTooLong(usize),
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Truncated {
                link_type,
                needed,
                available,
            } => write!(
                f,
                "frame too short for link type {}: need {needed} bytes, have {available}",
                link_type.0
            ),
            LinkError::Unsupported(lt) => write!(f, "unsupported link type {}", lt.0),
            LinkError::ProtocolOutOfRange(v) => {
                write!(f, "protocol value {v:#x} does not fit the link header")
            }
            LinkError::AddressTooLong(n) => {
                write!(f, "link-layer address of {n} bytes exceeds 8")
            }
        }
    }
}

impl std::error::Error for LinkError {}

fn need(link_type: LinkType, frame: &[u8], needed: usize) -> Result<(), LinkError> {
    if frame.len() < needed {
        Err(LinkError::Truncated {
            link_type,
            needed,
            available: frame.len(),
        })
    } else {
        Ok(())
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(s) => u16::from_be_bytes([s[0], s[1]]),
        None => 0,
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(s) => u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

/// Walks VLAN tags starting at `start`, where `ethertype` is the type field of the link
/// header. Returns (tags, innermost ethertype, payload offset).
fn walk_vlan_tags(
    link_type: LinkType,
    frame: &[u8],
    start: usize,
    first: u16,
) -> Result<(VlanTags<'_>, u16, usize), LinkError> {
    let mut off = start;
    let mut ethertype = first;
    // IEEE 802.1Q §9.5: a tag is TPID + TCI; the TPID takes the place of the ethertype
    // and the real ethertype follows the TCI.
    while is_vlan_tpid(ethertype) {
        need(link_type, frame, off + 4)?;
        ethertype = be16(frame, off + 2);
        off += 4;
    }
    let tags = VlanTags {
        first_tpid: first,
        bytes: frame.get(start..off).unwrap_or(&[]),
    };
    Ok((tags, ethertype, off))
}

/// Splits a captured frame of the given link type into link header and network payload.
///
/// Raw-IP link types never fail on a non-empty frame; others fail when the frame is
/// shorter than the link header (including each VLAN tag). Never panics.
pub fn decapsulate(link_type: LinkType, frame: &[u8]) -> Result<Decapsulated<'_>, LinkError> {
    let simple = |header, protocol, offset: usize| {
        Ok(Decapsulated {
            header,
            vlan_tags: VlanTags::default(),
            protocol,
            offset,
            payload: frame.get(offset..).unwrap_or(&[]),
        })
    };
    match link_type {
        LinkType::RAW | LinkType::DLT_RAW_12 | LinkType::DLT_RAW_14 => {
            need(link_type, frame, 1)?;
            simple(LinkHeader::Raw, NetworkProtocol::of_ip_packet(frame), 0)
        }
        LinkType::IPV4 => simple(LinkHeader::Raw, NetworkProtocol::Ipv4, 0),
        LinkType::IPV6 => simple(LinkHeader::Raw, NetworkProtocol::Ipv6, 0),
        LinkType::ETHERNET => {
            need(link_type, frame, ETHERNET_HEADER_LEN)?;
            let mut dst = [0u8; 6];
            let mut src = [0u8; 6];
            dst.copy_from_slice(&frame[0..6]);
            src.copy_from_slice(&frame[6..12]);
            let (tags, ethertype, offset) =
                walk_vlan_tags(link_type, frame, ETHERNET_HEADER_LEN, be16(frame, 12))?;
            Ok(Decapsulated {
                header: LinkHeader::Ethernet {
                    dst,
                    src,
                    ethertype,
                },
                vlan_tags: tags,
                protocol: NetworkProtocol::from_ethertype(ethertype),
                offset,
                payload: frame.get(offset..).unwrap_or(&[]),
            })
        }
        LinkType::LINUX_SLL => {
            need(link_type, frame, SLL_HEADER_LEN)?;
            let addr_len = be16(frame, 4);
            let shown = usize::from(addr_len.min(8));
            let protocol = be16(frame, 14);
            let (tags, ethertype, offset) =
                walk_vlan_tags(link_type, frame, SLL_HEADER_LEN, protocol)?;
            Ok(Decapsulated {
                header: LinkHeader::Sll(SllHeader {
                    packet_type: be16(frame, 0),
                    arphrd_type: be16(frame, 2),
                    addr_len,
                    addr: &frame[6..6 + shown],
                    protocol,
                }),
                vlan_tags: tags,
                protocol: NetworkProtocol::from_ethertype(ethertype),
                offset,
                payload: frame.get(offset..).unwrap_or(&[]),
            })
        }
        LinkType::LINUX_SLL2 => {
            need(link_type, frame, SLL2_HEADER_LEN)?;
            let protocol = be16(frame, 0);
            let addr_len = frame[11];
            let shown = usize::from(addr_len.min(8));
            let (tags, ethertype, offset) =
                walk_vlan_tags(link_type, frame, SLL2_HEADER_LEN, protocol)?;
            Ok(Decapsulated {
                header: LinkHeader::Sll2(Sll2Header {
                    protocol,
                    ifindex: be32(frame, 4),
                    arphrd_type: be16(frame, 8),
                    packet_type: frame[10],
                    addr_len,
                    addr: &frame[12..12 + shown],
                }),
                vlan_tags: tags,
                protocol: NetworkProtocol::from_ethertype(ethertype),
                offset,
                payload: frame.get(offset..).unwrap_or(&[]),
            })
        }
        LinkType::NULL => {
            need(link_type, frame, NULL_HEADER_LEN)?;
            let be = be32(frame, 0);
            // The family is in the capturing host's byte order; families are small, so a
            // value with any of the upper 16 bits set was written little-endian (tcpdump
            // uses the same test).
            let (family, byte_order) = if be & 0xffff_0000 != 0 {
                (be.swap_bytes(), ByteOrder::Little)
            } else {
                (be, ByteOrder::Big)
            };
            simple(
                LinkHeader::Null { family, byte_order },
                NetworkProtocol::from_bsd_family(family),
                NULL_HEADER_LEN,
            )
        }
        LinkType::LOOP => {
            need(link_type, frame, NULL_HEADER_LEN)?;
            let family = be32(frame, 0);
            simple(
                LinkHeader::Loop { family },
                NetworkProtocol::from_bsd_family(family),
                NULL_HEADER_LEN,
            )
        }
        other => Err(LinkError::Unsupported(other)),
    }
}

/// How to wrap a network-layer packet in a link header (the inverse of [`decapsulate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encapsulation<'a> {
    /// No header; the link type must be one of the raw-IP types (12, 14, 101, 228, 229).
    Raw(LinkType),
    /// Ethernet II with the given addresses and VLAN tags (outermost first).
    Ethernet {
        /// Destination MAC address.
        dst: [u8; 6],
        /// Source MAC address.
        src: [u8; 6],
        /// Tags written between the source address and the ethertype.
        vlan_tags: &'a [VlanTag],
    },
    /// Linux cooked v1.
    Sll {
        /// Packet type ([`PACKET_HOST`], [`PACKET_OUTGOING`], ...).
        packet_type: u16,
        /// `ARPHRD_*` hardware type.
        arphrd_type: u16,
        /// Link-layer address, at most 8 bytes (its length is written as `addr_len`).
        addr: &'a [u8],
        /// VLAN tags written after the header (the protocol field then holds the TPID).
        vlan_tags: &'a [VlanTag],
    },
    /// Linux cooked v2.
    Sll2 {
        /// Packet type ([`PACKET_HOST`], [`PACKET_OUTGOING`], ...).
        packet_type: u8,
        /// `ARPHRD_*` hardware type.
        arphrd_type: u16,
        /// Interface index.
        ifindex: u32,
        /// Link-layer address, at most 8 bytes.
        addr: &'a [u8],
        /// VLAN tags written after the header.
        vlan_tags: &'a [VlanTag],
    },
    /// BSD loopback, family written in `byte_order`; IPv6 uses `inet6_family` (24, 28 or 30).
    Null {
        /// Byte order of the capturing host.
        byte_order: ByteOrder,
        /// The `AF_INET6` value to write for IPv6.
        inet6_family: u32,
    },
    /// OpenBSD loopback (network byte order); IPv6 uses `inet6_family`.
    Loop {
        /// The `AF_INET6` value to write for IPv6.
        inet6_family: u32,
    },
}

impl Encapsulation<'_> {
    /// The link type of frames this produces.
    pub fn link_type(&self) -> LinkType {
        match self {
            Encapsulation::Raw(lt) => *lt,
            Encapsulation::Ethernet { .. } => LinkType::ETHERNET,
            Encapsulation::Sll { .. } => LinkType::LINUX_SLL,
            Encapsulation::Sll2 { .. } => LinkType::LINUX_SLL2,
            Encapsulation::Null { .. } => LinkType::NULL,
            Encapsulation::Loop { .. } => LinkType::LOOP,
        }
    }

    /// Length of the link header (including VLAN tags) this writes.
    pub fn header_len(&self) -> usize {
        match self {
            Encapsulation::Raw(_) => 0,
            Encapsulation::Ethernet { vlan_tags, .. } => ETHERNET_HEADER_LEN + 4 * vlan_tags.len(),
            Encapsulation::Sll { vlan_tags, .. } => SLL_HEADER_LEN + 4 * vlan_tags.len(),
            Encapsulation::Sll2 { vlan_tags, .. } => SLL2_HEADER_LEN + 4 * vlan_tags.len(),
            Encapsulation::Null { .. } | Encapsulation::Loop { .. } => NULL_HEADER_LEN,
        }
    }

    /// Appends the link header announcing `protocol`, then `payload`, to `out`.
    ///
    /// For raw link types `protocol` is not written anywhere. For NULL/LOOP, `Ipv4` is
    /// family 2, `Ipv6` is `inet6_family`, `Other(f)` is family `f`. For the others,
    /// `Other(t)` is ethertype `t` and must fit in 16 bits.
    pub fn encapsulate(
        &self,
        protocol: NetworkProtocol,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), LinkError> {
        // IEEE 802.1Q §9.5: the type field holds the outermost TPID when tagged; each tag
        // is followed by the next TPID or, after the last tag, the real ethertype.
        fn type_then_tags(out: &mut Vec<u8>, tags: &[VlanTag], ethertype: u16) {
            match tags.split_first() {
                None => out.extend_from_slice(&ethertype.to_be_bytes()),
                Some((first, rest)) => {
                    out.extend_from_slice(&first.tpid.to_be_bytes());
                    out.extend_from_slice(&first.tci.to_be_bytes());
                    type_then_tags(out, rest, ethertype);
                }
            }
        }
        let bsd_family = |inet6: u32| match protocol {
            NetworkProtocol::Ipv4 => BSD_AF_INET,
            NetworkProtocol::Ipv6 => inet6,
            NetworkProtocol::Other(f) => f,
        };
        out.reserve(self.header_len() + payload.len());
        match *self {
            Encapsulation::Raw(lt) => {
                if !matches!(
                    lt,
                    LinkType::RAW
                        | LinkType::DLT_RAW_12
                        | LinkType::DLT_RAW_14
                        | LinkType::IPV4
                        | LinkType::IPV6
                ) {
                    return Err(LinkError::Unsupported(lt));
                }
            }
            Encapsulation::Ethernet {
                dst,
                src,
                vlan_tags,
            } => {
                let ethertype = protocol.ethertype()?;
                out.extend_from_slice(&dst);
                out.extend_from_slice(&src);
                type_then_tags(out, vlan_tags, ethertype);
            }
            Encapsulation::Sll {
                packet_type,
                arphrd_type,
                addr,
                vlan_tags,
            } => {
                let ethertype = protocol.ethertype()?;
                if addr.len() > 8 {
                    return Err(LinkError::AddressTooLong(addr.len()));
                }
                out.extend_from_slice(&packet_type.to_be_bytes());
                out.extend_from_slice(&arphrd_type.to_be_bytes());
                // addr.len() <= 8 was checked above.
                out.extend_from_slice(&(addr.len() as u16).to_be_bytes());
                let mut field = [0u8; 8];
                field[..addr.len()].copy_from_slice(addr);
                out.extend_from_slice(&field);
                type_then_tags(out, vlan_tags, ethertype);
            }
            Encapsulation::Sll2 {
                packet_type,
                arphrd_type,
                ifindex,
                addr,
                vlan_tags,
            } => {
                let ethertype = protocol.ethertype()?;
                if addr.len() > 8 {
                    return Err(LinkError::AddressTooLong(addr.len()));
                }
                let first_type = vlan_tags.first().map_or(ethertype, |t| t.tpid);
                out.extend_from_slice(&first_type.to_be_bytes());
                out.extend_from_slice(&[0, 0]); // reserved
                out.extend_from_slice(&ifindex.to_be_bytes());
                out.extend_from_slice(&arphrd_type.to_be_bytes());
                out.push(packet_type);
                // addr.len() <= 8 was checked above.
                out.push(addr.len() as u8);
                let mut field = [0u8; 8];
                field[..addr.len()].copy_from_slice(addr);
                out.extend_from_slice(&field);
                if let Some((first, rest)) = vlan_tags.split_first() {
                    out.extend_from_slice(&first.tci.to_be_bytes());
                    type_then_tags(out, rest, ethertype);
                }
            }
            Encapsulation::Null {
                byte_order,
                inet6_family,
            } => {
                let family = bsd_family(inet6_family);
                match byte_order {
                    ByteOrder::Big => out.extend_from_slice(&family.to_be_bytes()),
                    ByteOrder::Little => out.extend_from_slice(&family.to_le_bytes()),
                }
            }
            Encapsulation::Loop { inet6_family } => {
                out.extend_from_slice(&bsd_family(inet6_family).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        Ok(())
    }
}
