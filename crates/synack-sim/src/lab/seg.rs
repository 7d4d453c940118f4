//! TCP segments as a scenario sees them on the wire, and a sink that records them.
//!
//! Checkers and the time-sequence graph work on [`Seg`] records: the header fields of every
//! TCP segment a host put on a link (once per transmission, before any impairment), with
//! the link's verdict if it lost the packet.

use core::net::{IpAddr, SocketAddr};

use synack::Instant;
use synack_wire::TcpFlags;
use synack_wire::ipv4::Ipv4Packet;
use synack_wire::ipv6::Ipv6Packet;
use synack_wire::tcp::TcpHeader;

use crate::capture::{AnnotationEvent, CaptureSink, DropEvent, PacketEvent, PacketPoint, Tap};
use crate::host::HostId;
use crate::packet::IPPROTO_TCP;
use crate::stats::DropReason;

/// The header fields of one TCP segment, with when and by whom it was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seg {
    /// Virtual time the sender put it on the link.
    pub time: Instant,
    /// The sending host (`HostId(u32::MAX)` when parsed outside a simulation).
    pub from: HostId,
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// SEG.SEQ.
    pub seq: u32,
    /// SEG.ACK (meaningful with the ACK flag).
    pub ack: u32,
    /// Control flags.
    pub flags: TcpFlags,
    /// The raw 16-bit window field.
    pub win: u16,
    /// The urgent pointer field.
    pub urg_ptr: u16,
    /// Payload length in bytes.
    pub len: u32,
    /// MSS option, if present.
    pub mss: Option<u16>,
    /// Window-scale option (shift), if present.
    pub wscale: Option<u8>,
    /// SACK blocks, if any (RFC 2018 §3).
    pub sack: Vec<(u32, u32)>,
    /// The SACK-permitted option (RFC 2018 §2), on a SYN.
    pub sack_ok: bool,
    /// The payload bytes (segments in scenarios are small; bulk payloads are kept too).
    pub payload: Vec<u8>,
    /// Why the link lost it, if it did.
    pub dropped: Option<DropReason>,
    /// The IP header's ECN field (RFC 3168 §5): 0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE.
    pub ecn: u8,
}

impl Seg {
    /// Parses an IPv4 or IPv6 datagram carrying TCP; `None` for anything else or anything
    /// malformed (never panics).
    pub fn parse(time: Instant, from: HostId, pkt: &[u8]) -> Option<Seg> {
        let (src, dst, tcp, ecn) = match pkt.first().map(|b| b >> 4) {
            Some(4) => {
                let ip = Ipv4Packet::new_checked(pkt).ok()?;
                if ip.protocol() != IPPROTO_TCP || ip.is_fragment() {
                    return None;
                }
                (
                    IpAddr::V4(ip.src()),
                    IpAddr::V4(ip.dst()),
                    ip.payload(),
                    ip.ecn(),
                )
            }
            Some(6) => {
                let ip = Ipv6Packet::new_checked(pkt).ok()?;
                let up = ip.upper_layer().ok()?;
                if up.protocol != IPPROTO_TCP || up.fragment.is_some() {
                    return None;
                }
                (
                    IpAddr::V6(ip.src()),
                    IpAddr::V6(ip.dst()),
                    up.payload,
                    ip.traffic_class() & 3,
                )
            }
            _ => return None,
        };
        let h = TcpHeader::parse(tcp).ok()?;
        let o = h.options_summary();
        let payload = h.payload();
        Some(Seg {
            time,
            from,
            src: SocketAddr::new(src, h.src_port()),
            dst: SocketAddr::new(dst, h.dst_port()),
            seq: h.seq(),
            ack: h.ack(),
            flags: h.flags(),
            win: h.window(),
            urg_ptr: h.urgent_ptr(),
            len: u32::try_from(payload.len()).unwrap_or(u32::MAX),
            mss: o.mss,
            wscale: o.window_scale,
            sack: o.sack_blocks.as_slice().to_vec(),
            sack_ok: o.sack_permitted,
            payload: payload.to_vec(),
            dropped: None,
            ecn,
        })
    }

    /// Sequence space the segment occupies: payload plus one for SYN and one for FIN.
    pub fn seg_len(&self) -> u32 {
        self.len
            .saturating_add(u32::from(self.flags.syn()))
            .saturating_add(u32::from(self.flags.fin()))
    }

    /// Whether it carries exactly these flags (ignoring none).
    pub fn is(&self, flags: TcpFlags) -> bool {
        self.flags == flags
    }

    /// A pure SYN (no ACK): an active open or its retransmission.
    pub fn is_syn(&self) -> bool {
        self.flags.syn() && !self.flags.ack() && !self.flags.rst()
    }

    /// A SYN-ACK.
    pub fn is_syn_ack(&self) -> bool {
        self.flags.syn() && self.flags.ack() && !self.flags.rst()
    }

    /// tcpdump's flag letters: `S`, `S.`, `.`, `P.`, `F.`, `R`, `R.`, ...
    pub fn flag_str(&self) -> String {
        let f = self.flags;
        let mut s = String::new();
        for (set, c) in [
            (f.fin(), 'F'),
            (f.syn(), 'S'),
            (f.rst(), 'R'),
            (f.psh(), 'P'),
            (f.urg(), 'U'),
            (f.ece(), 'E'),
            (f.cwr(), 'W'),
        ] {
            if set {
                s.push(c);
            }
        }
        if f.ack() {
            s.push('.');
        }
        if s.is_empty() {
            s.push_str("none");
        }
        s
    }
}

/// A host's annotation (a state transition, a socket call's result) with its time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// Virtual time.
    pub time: Instant,
    /// The host's name (`"sim"` for the simulator, `"lab"` for the scenario).
    pub host: String,
    /// The text.
    pub text: String,
}

/// A capture sink that records every TCP segment put on any link (one [`Seg`] per
/// transmission, marked when the link lost it) and every annotation; and, for one
/// [`Tap`], the segments as that observer saw them (sent ones when sent, received ones
/// when they arrived), as tcpdump on that host would.
#[derive(Debug, Default)]
pub struct Recorder {
    /// The segments, in the order they were sent.
    pub segs: Vec<Seg>,
    /// The segments the observer saw, at the times it saw them.
    pub view: Vec<Seg>,
    /// The annotations, in order.
    pub notes: Vec<Note>,
    tap: Option<Tap>,
}

impl Recorder {
    /// An empty recorder (no observer view).
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// An empty recorder that also keeps what `tap` sees in [`Recorder::view`].
    pub fn with_view(tap: Tap) -> Recorder {
        Recorder {
            tap: Some(tap),
            ..Recorder::default()
        }
    }
}

/// Marks the latest matching, not yet marked transmission in `segs` as lost.
fn mark_lost(segs: &mut [Seg], d: &Seg, reason: DropReason) {
    if let Some(s) = segs.iter_mut().rev().find(|s| {
        s.dropped.is_none()
            && s.from == d.from
            && s.src == d.src
            && s.dst == d.dst
            && s.seq == d.seq
            && s.ack == d.ack
            && s.flags == d.flags
            && s.len == d.len
    }) {
        s.dropped = Some(reason);
    }
}

impl CaptureSink for Recorder {
    fn packet(&mut self, ev: &PacketEvent<'_>) {
        let seen = self.tap.is_some_and(|t| t.matches(ev));
        if ev.point != PacketPoint::Sent && !seen {
            return;
        }
        if let Some(s) = Seg::parse(ev.time, ev.from, ev.data) {
            if seen {
                self.view.push(s.clone());
            }
            if ev.point == PacketPoint::Sent {
                self.segs.push(s);
            }
        }
    }

    fn dropped(&mut self, ev: &DropEvent<'_>) {
        let Some(d) = Seg::parse(ev.time, ev.from, ev.data) else {
            return;
        };
        // The drop concerns the latest matching transmission not yet marked (a packet lost
        // in flight, when a link is cut, is reported later than it was sent).
        mark_lost(&mut self.segs, &d, ev.reason);
        if self.tap.is_some_and(|t| t.matches_drop(ev)) {
            mark_lost(&mut self.view, &d, ev.reason);
        }
    }

    fn annotation(&mut self, ev: &AnnotationEvent<'_>) {
        self.notes.push(Note {
            time: ev.time,
            host: ev.host_name.to_string(),
            text: ev.text.to_string(),
        });
    }
}
