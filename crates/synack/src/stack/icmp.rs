//! ICMP and ICMPv6 (echo reply; destination unreachable and packet-too-big delivered to the
//! matching connection after the RFC 5927 sequence check) and bounded IPv4 reassembly.

use super::observe::DropReason;
use super::{Ctrl, Errno, Profile, Stack, wire};
use crate::isn::FourTuple;
use crate::state::State;
use crate::time::{Duration, Instant};
use core::net::{IpAddr, SocketAddr};
use synack_wire::checksum::checksum;
use synack_wire::icmp;
use synack_wire::ipv4::{self, Ipv4Packet};
use synack_wire::ipv6::Ipv6Packet;

/// ICMPv4 destination unreachable (RFC 792).
const DEST_UNREACH: u8 = 3;
/// ICMPv4 code "fragmentation needed and DF set" (RFC 1191).
const FRAG_NEEDED: u8 = 4;
/// ICMPv4 time exceeded (RFC 792).
const TIME_EXCEEDED: u8 = 11;
/// ICMPv6 destination unreachable (RFC 4443 §3.1).
const DEST_UNREACH6: u8 = 1;
/// ICMPv6 packet too big (RFC 4443 §3.2).
const PACKET_TOO_BIG6: u8 = 2;

/// How long a partial datagram waits for its missing fragments (Linux `ipfrag_time`, 30 s).
const REASM_TIMEOUT: Duration = Duration::from_secs(30);
/// Most datagrams reassembled at once; a new one beyond this evicts the oldest.
const REASM_MAX: usize = 64;
/// Largest reassembled payload (65535 − 20).
const REASM_MAX_LEN: usize = 65515;

/// The outcome of adding a fragment.
#[derive(Debug)]
pub enum FragResult {
    /// More fragments are needed.
    Pending,
    /// The fragment was invalid or the datagram was abandoned.
    Dropped,
    /// The whole payload.
    Complete(Vec<u8>),
}

type FragKey = (IpAddr, IpAddr, u8, u16);

#[derive(Debug)]
struct Partial {
    key: FragKey,
    deadline: Instant,
    data: Vec<u8>,
    /// Received byte ranges `[start, end)`, sorted and merged.
    have: Vec<(usize, usize)>,
    total: Option<usize>,
}

/// Bounded IPv4 reassembly (RFC 791 §3.2, RFC 815's hole list in its simplest form).
#[derive(Debug, Default)]
pub struct Reassembly {
    partial: Vec<Partial>,
    spare: Vec<Vec<u8>>,
}

impl Reassembly {
    /// Adds one fragment of `key` at byte `offset`.
    pub fn add(
        &mut self,
        now: Instant,
        key: FragKey,
        offset: usize,
        more: bool,
        data: &[u8],
    ) -> FragResult {
        let end = offset.saturating_add(data.len());
        // RFC 791: every fragment but the last carries a multiple of 8 bytes.
        if end > REASM_MAX_LEN || (more && data.len() % 8 != 0) || (more && data.is_empty()) {
            self.abandon(key);
            return FragResult::Dropped;
        }
        let i = match self.partial.iter().position(|p| p.key == key) {
            Some(i) => i,
            None => {
                if self.partial.len() >= REASM_MAX {
                    let old = self.partial.remove(0);
                    self.spare.push(old.data);
                }
                let mut buf = self.spare.pop().unwrap_or_default();
                buf.clear();
                self.partial.push(Partial {
                    key,
                    deadline: now + REASM_TIMEOUT,
                    data: buf,
                    have: Vec::new(),
                    total: None,
                });
                self.partial.len() - 1
            }
        };
        let p = &mut self.partial[i];
        if !more {
            if p.total.is_some_and(|t| t != end) || p.have.iter().any(|r| r.1 > end) {
                self.abandon(key);
                return FragResult::Dropped;
            }
            p.total = Some(end);
        } else if p.total.is_some_and(|t| end > t) {
            self.abandon(key);
            return FragResult::Dropped;
        }
        if p.data.len() < end {
            p.data.resize(end, 0);
        }
        p.data[offset..end].copy_from_slice(data);
        p.have.push((offset, end));
        p.have.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(p.have.len());
        for &(s, e) in &p.have {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        p.have = merged;
        if let Some(total) = p.total
            && p.have.len() == 1
            && p.have[0] == (0, total)
        {
            let done = self.partial.remove(i);
            return FragResult::Complete(done.data);
        }
        FragResult::Pending
    }

    fn abandon(&mut self, key: FragKey) {
        if let Some(i) = self.partial.iter().position(|p| p.key == key) {
            let p = self.partial.remove(i);
            self.spare.push(p.data);
        }
    }

    /// Returns a buffer for reuse.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if self.spare.len() < 8 {
            self.spare.push(buf);
        }
    }

    /// The earliest reassembly deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.partial.iter().map(|p| p.deadline).min()
    }

    /// Drops every partial datagram whose time is up; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let before = self.partial.len();
        let mut i = 0;
        while i < self.partial.len() {
            if self.partial[i].deadline <= now {
                let p = self.partial.remove(i);
                self.spare.push(p.data);
            } else {
                i += 1;
            }
        }
        self.spare.truncate(8);
        before - self.partial.len()
    }
}

/// FreeBSD (`icmp_input` → `tcp_ctlinput` with `inetctlerrmap`): protocol and port
/// unreachable and the administratively prohibited codes (net 9, host 10, filtered 13)
/// refuse a connection being opened (ECONNREFUSED, `tcp_drop_syn_sent` when
/// `net.inet.tcp.icmp_may_rst`); every other code is a soft error.
fn unreach_freebsd(code: u8) -> (Errno, bool) {
    match code {
        2 | 3 | 9 | 10 | 13 => (Errno::ECONNREFUSED, true),
        0 | 6 => (Errno::ENETUNREACH, false),
        4 => (Errno::EMSGSIZE, false),
        _ => (Errno::EHOSTUNREACH, false),
    }
}

/// Linux's `icmp_err_convert`: (errno, fatal) for an ICMPv4 unreachable code.
fn unreach_v4(code: u8) -> (Errno, bool) {
    match code {
        0 => (Errno::ENETUNREACH, false),
        1 => (Errno::EHOSTUNREACH, false),
        2 => (Errno::ENOPROTOOPT, true),
        3 => (Errno::ECONNREFUSED, true),
        4 => (Errno::EMSGSIZE, false),
        5 => (Errno::EOPNOTSUPP, false),
        6 => (Errno::ENETUNREACH, true),
        9 | 10 | 13 => (Errno::EHOSTUNREACH, true),
        _ => (Errno::EHOSTUNREACH, false),
    }
}

/// Linux's `icmpv6_err_convert` for destination unreachable codes.
fn unreach_v6(code: u8) -> (Errno, bool) {
    match code {
        0 => (Errno::ENETUNREACH, false),
        1 => (Errno::EACCES, true),
        3 => (Errno::EHOSTUNREACH, false),
        4 => (Errno::ECONNREFUSED, true),
        _ => (Errno::EHOSTUNREACH, false),
    }
}

impl Stack {
    pub(super) fn icmp_input(&mut self, now: Instant, ip: &wire::IpIn<'_>) {
        self.counters.icmp_in_msgs += 1;
        let v6 = ip.src.is_ipv6();
        let Ok(p) = icmp::IcmpPacket::new_checked(ip.payload) else {
            return self.counters.drop(DropReason::BadIcmp);
        };
        let ok = if v6 {
            let mut c =
                wire::pseudo(ip.src, ip.dst).checksum(ipv4::PROTO_ICMPV6, ip.payload.len() as u32);
            c.add_bytes(ip.payload);
            c.finish() == 0
        } else {
            checksum(ip.payload) == 0
        };
        if !ok {
            return self.counters.drop(DropReason::BadIcmp);
        }
        let body = ip.payload.get(4..).unwrap_or(&[]);
        let freebsd = self.sysctl.profile == Profile::FreeBsd;
        match (v6, p.msg_type(), p.code()) {
            (false, icmp::ECHO_REQUEST, 0) | (true, icmp::ECHO6_REQUEST, 0) => {
                self.counters.icmp_in_echos += 1;
                if self.sysctl.icmp_echo_ignore_all {
                    return self.counters.drop(DropReason::BadIcmp);
                }
                // RFC 792 / RFC 4443 §4.2: the reply echoes identifier, sequence and data.
                self.counters.icmp_out_echo_reps += 1;
                self.push_ctrl(Ctrl::Icmp {
                    src: ip.dst,
                    dst: ip.src,
                    msg_type: if v6 {
                        icmp::ECHO6_REPLY
                    } else {
                        icmp::ECHO_REPLY
                    },
                    code: 0,
                    body: body.to_vec(),
                });
            }
            (false, DEST_UNREACH, code) => {
                self.counters.icmp_in_dest_unreachs += 1;
                let mtu = body
                    .get(2..4)
                    .filter(|_| code == FRAG_NEEDED)
                    .map(|b| u16::from_be_bytes([b[0], b[1]]))
                    .filter(|m| *m >= 68);
                let (err, fatal) = if freebsd {
                    unreach_freebsd(code)
                } else {
                    unreach_v4(code)
                };
                self.icmp_error(now, body.get(4..).unwrap_or(&[]), false, err, fatal, mtu);
            }
            (false, TIME_EXCEEDED, code) => {
                // Linux (icmp_err): a soft EHOSTUNREACH. FreeBSD: "TTL exceeded in transit"
                // (PRC_TIMXCEED_INTRANS) also drops a connection in SYN-SENT.
                let fatal = freebsd && code == 0;
                let quoted = body.get(4..).unwrap_or(&[]);
                self.icmp_error(now, quoted, false, Errno::EHOSTUNREACH, fatal, None);
            }
            (true, DEST_UNREACH6, code) => {
                self.counters.icmp_in_dest_unreachs += 1;
                let (err, fatal) = unreach_v6(code);
                self.icmp_error(now, body.get(4..).unwrap_or(&[]), true, err, fatal, None);
            }
            (true, PACKET_TOO_BIG6, _) => {
                self.counters.icmp_in_dest_unreachs += 1;
                let Some(m) = body.get(..4) else {
                    return self.counters.drop(DropReason::BadIcmp);
                };
                let mtu = u32::from_be_bytes([m[0], m[1], m[2], m[3]]);
                let mtu = u16::try_from(mtu.max(1280)).unwrap_or(u16::MAX);
                self.icmp_error(
                    now,
                    body.get(4..).unwrap_or(&[]),
                    true,
                    Errno::EMSGSIZE,
                    false,
                    Some(mtu),
                );
            }
            _ => self.counters.drop(DropReason::BadIcmp),
        }
    }

    /// An ICMP error quoting one of our segments (`quoted` = the original IP header and
    /// at least 8 bytes of TCP).
    fn icmp_error(
        &mut self,
        now: Instant,
        quoted: &[u8],
        v6: bool,
        err: Errno,
        fatal: bool,
        mtu: Option<u16>,
    ) {
        let parsed = if v6 {
            Ipv6Packet::new_checked(quoted).ok().and_then(|p| {
                let ul = p.upper_layer().ok()?;
                let tcp = quoted.get(ul.offset..)?;
                Some((IpAddr::V6(p.src()), IpAddr::V6(p.dst()), ul.protocol, tcp))
            })
        } else {
            Ipv4Packet::new_checked(quoted).ok().and_then(|p| {
                let tcp = quoted.get(p.header_len()..)?;
                Some((IpAddr::V4(p.src()), IpAddr::V4(p.dst()), p.protocol(), tcp))
            })
        };
        let Some((src, dst, proto, tcp)) = parsed else {
            return self.counters.drop(DropReason::BadIcmp);
        };
        if proto != ipv4::PROTO_TCP || tcp.len() < 8 {
            return self.counters.drop(DropReason::BadIcmp);
        }
        let sport = u16::from_be_bytes([tcp[0], tcp[1]]);
        let dport = u16::from_be_bytes([tcp[2], tcp[3]]);
        let seq = crate::Seq(u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]));
        let tuple = FourTuple::new(SocketAddr::new(src, sport), SocketAddr::new(dst, dport));
        let Some(id) = self.demux_get(&tuple) else {
            return self.counters.drop(DropReason::BadIcmp);
        };
        let Some(slot) = self.conns.get_mut(id.index, id.generation) else {
            return;
        };
        let st = slot.conn.status();
        // RFC 5927 §4.1: act only if SND.UNA <= SEG.SEQ < SND.NXT of the quoted segment.
        if !(st.snd_una.le(seq) && seq.lt(st.snd_nxt)) {
            return self.counters.drop(DropReason::IcmpOutOfWindow);
        }
        if let Some(mtu) = mtu {
            // RFC 1191 / RFC 8201 (RFC 9293 §3.7.3): the path MTU lowers the send MSS.
            let mtu = slot.pmtu.map_or(mtu, |m| m.min(mtu));
            slot.pmtu = Some(mtu);
            slot.conn.set_path_mtu(mtu);
            return self.touch(now, id);
        }
        // RFC 1122 §4.2.3.9 / RFC 5461: hard errors abort a connection being opened; other
        // errors are soft (reported only if the connection times out). FreeBSD
        // (tcp_drop_syn_sent) does so only in SYN-SENT and only with icmp_may_rst.
        let opening = if self.sysctl.profile == Profile::FreeBsd {
            st.state == State::SynSent && self.sysctl.tcp_icmp_may_rst
        } else {
            matches!(st.state, State::SynSent | State::SynReceived)
        };
        if fatal && opening {
            slot.hard_error = Some(err);
            slot.conn.abort(now);
            self.touch(now, id);
        } else {
            slot.soft_error = Some(err);
        }
    }
}
