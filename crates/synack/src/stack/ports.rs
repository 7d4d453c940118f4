//! Ports: bind conflicts (EADDRINUSE, SO_REUSEADDR, SO_REUSEPORT) and the randomized,
//! collision-free choice of ephemeral ports from `ip_local_port_range`.

use super::{Binding, ConnId, Holder, SocketId, Stack};
use crate::isn::{FourTuple, siphash24};
use crate::state::State;
use crate::time::Duration;
use core::net::{IpAddr, SocketAddr};
use std::collections::{BTreeMap, HashMap};

/// Every port binding of the host, ordered by port and then holder: one tree for all
/// ports, so a port held by one connection costs one entry, not a map of its own.
/// The bindings of local ports: `(port, holder)` → [`Binding`], in `(port, holder)` order.
///
/// Compact, as a host holds one binding per connection (100,000 connections on one
/// listening port each hold it): a key is the port and the holder in 11 big-endian bytes
/// (so that byte order is `(port, Holder)` order) and a value the index of its binding in a
/// table of the distinct bindings (a few per address), not the 21-byte binding itself.
#[derive(Debug, Default)]
pub(super) struct PortTable {
    map: BTreeMap<PortKey, u32>,
    /// The distinct bindings ever seen (never shrinks; bounded by addresses × flags).
    bindings: Vec<Binding>,
    ids: HashMap<Binding, u32>,
}

/// A port and a holder: port, kind (0 socket, 1 connection), index, generation.
type PortKey = [u8; 11];

fn port_key(port: u16, h: Holder) -> PortKey {
    let (kind, index, generation) = match h {
        Holder::Sock(s) => (0, s.index, s.generation),
        Holder::Conn(c) => (1, c.index, c.generation),
    };
    let mut k = [0u8; 11];
    k[..2].copy_from_slice(&port.to_be_bytes());
    k[2] = kind;
    k[3..7].copy_from_slice(&index.to_be_bytes());
    k[7..].copy_from_slice(&generation.to_be_bytes());
    k
}

fn key_holder(k: &PortKey) -> Holder {
    let word = |at: usize| u32::from_be_bytes([k[at], k[at + 1], k[at + 2], k[at + 3]]);
    let (index, generation) = (word(3), word(7));
    if k[2] == 0 {
        Holder::Sock(SocketId { index, generation })
    } else {
        Holder::Conn(ConnId { index, generation })
    }
}

impl PortTable {
    /// The first and last holder in `Holder`'s order (sockets before connections).
    const LOW: Holder = Holder::Sock(SocketId {
        index: 0,
        generation: 0,
    });
    const HIGH: Holder = Holder::Conn(ConnId {
        index: u32::MAX,
        generation: u32::MAX,
    });

    /// Records (or replaces) `h`'s binding of `port`.
    pub fn insert(&mut self, port: u16, h: Holder, b: Binding) {
        // The first few distinct bindings (a host usually has no more) are found by
        // comparison, cheaper than hashing a binding; the map finds the rest.
        let first = self.bindings.iter().take(8).position(|x| *x == b);
        let id = match first
            .map(|i| i as u32)
            .or_else(|| self.ids.get(&b).copied())
        {
            Some(id) => id,
            None => {
                let id = u32::try_from(self.bindings.len()).unwrap_or(u32::MAX);
                self.bindings.push(b);
                self.ids.insert(b, id);
                id
            }
        };
        self.map.insert(port_key(port, h), id);
    }

    /// Drops `h`'s binding of `port`, if any.
    pub fn remove(&mut self, port: u16, h: Holder) {
        self.map.remove(&port_key(port, h));
    }

    /// Passes `from`'s binding of `port` to `to` (holding `to_port`), as one removal and
    /// one insertion of the same binding; whether `from` held it.
    pub fn hand_over(&mut self, port: u16, from: Holder, to_port: u16, to: Holder) -> bool {
        match self.map.remove(&port_key(port, from)) {
            Some(id) => {
                self.map.insert(port_key(to_port, to), id);
                true
            }
            None => false,
        }
    }

    /// The holders of `port` and their bindings, in holder order.
    pub fn holders(&self, port: u16) -> impl Iterator<Item = (Holder, &Binding)> {
        self.map
            .range(port_key(port, Self::LOW)..=port_key(port, Self::HIGH))
            .filter_map(|(k, &id)| Some((key_holder(k), self.bindings.get(id as usize)?)))
    }

    /// Whether anybody holds `port`.
    pub fn is_held(&self, port: u16) -> bool {
        self.holders(port).next().is_some()
    }
}

fn overlap(a: IpAddr, a_dual: bool, b: IpAddr, b_dual: bool) -> bool {
    if a.is_ipv4() != b.is_ipv4() {
        return (a_dual && b.is_ipv4()) || (b_dual && a.is_ipv4());
    }
    a == b || a.is_unspecified() || b.is_unspecified()
}

impl Stack {
    /// The state a port holder is in, or `None` when it no longer holds the port.
    fn holder_state(&self, h: Holder) -> Option<State> {
        match h {
            Holder::Sock(s) => {
                let sock = self.sockets.get(s.index, s.generation)?;
                if sock.listener().is_some() {
                    return Some(State::Listen);
                }
                match sock.conn() {
                    Some(c) => Some(
                        self.conns
                            .get(c.index, c.generation)
                            .map_or(State::Closed, |s| s.conn.state()),
                    ),
                    None => Some(State::Closed),
                }
            }
            Holder::Conn(c) => {
                let st = self.conns.get(c.index, c.generation)?.conn.state();
                (st != State::Closed).then_some(st)
            }
        }
    }

    /// Whether binding `ip:port` with these options conflicts with an existing holder.
    ///
    /// - SO_REUSEPORT on both sides never conflicts (Linux also requires the same user).
    /// - With SO_REUSEADDR, holders in TIME_WAIT do not conflict (the notes' `nc -p`
    ///   experiment), nor do non-listening holders that set SO_REUSEADDR too (Linux).
    /// - `listening`: the check made by `listen()`: only other listeners conflict.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn port_conflict(
        &self,
        me: Holder,
        ip: IpAddr,
        dual: bool,
        port: u16,
        reuseaddr: bool,
        reuseport: bool,
        listening: bool,
    ) -> bool {
        for (h, b) in self.ports.holders(port) {
            if h == me || !overlap(ip, dual, b.ip, b.dual) {
                continue;
            }
            let Some(st) = self.holder_state(h) else {
                continue;
            };
            if reuseport && b.reuseport {
                continue;
            }
            if listening {
                if st == State::Listen {
                    return true;
                }
                continue;
            }
            if reuseaddr && st == State::TimeWait {
                continue;
            }
            if reuseaddr && b.reuseaddr && st != State::Listen {
                continue;
            }
            return true;
        }
        false
    }

    /// `ip_local_port_range`, made well-formed (the fields are public, so a caller may have
    /// bypassed [`super::Sysctl::set`]'s validation).
    fn port_range(&self) -> (u16, u16) {
        let (lo, hi) = self.sysctl.ip_local_port_range;
        let lo = lo.max(1);
        (lo, hi.max(lo))
    }

    /// A keyed, per-call pseudo-random start inside the ephemeral range.
    fn port_start(&mut self, salt: &[u8]) -> (u16, u32) {
        let (lo, hi) = self.port_range();
        let n = u32::from(hi - lo) + 1;
        self.port_perturb = self.port_perturb.wrapping_add(1);
        let mut buf = [0u8; 64];
        let take = salt.len().min(60);
        buf[..take].copy_from_slice(&salt[..take]);
        buf[take..take + 4].copy_from_slice(&self.port_perturb.to_le_bytes());
        let (k0, k1) = self.port_key;
        let h = siphash24(k0, k1, &buf[..take + 4]) as u32;
        (lo, h % n)
    }

    /// An unused port for `bind(port 0)` / `listen()` without bind: one nobody holds.
    pub(super) fn ephemeral_for_bind(&mut self) -> Option<u16> {
        let (lo, start) = self.port_start(b"bind");
        let n = u32::from(self.port_range().1 - lo) + 1;
        (0..n)
            .map(|i| lo + ((start + i) % n) as u16)
            .find(|&p| !self.ports.is_held(p))
    }

    /// A port for `connect()` (RFC 6056 §3.3.4-style: a keyed offset per destination and a
    /// linear scan): one whose only holders are other connect()-chosen ports, such that the
    /// 4-tuple is unused, and the demux hash of that 4-tuple. `None` is EADDRNOTAVAIL.
    pub(super) fn ephemeral_for_connect(
        &mut self,
        local: IpAddr,
        remote: SocketAddr,
    ) -> Option<(u16, u32)> {
        let mut salt = [0u8; 36];
        let r = match remote.ip() {
            IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
            IpAddr::V6(a) => a.octets(),
        };
        let l = match local {
            IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
            IpAddr::V6(a) => a.octets(),
        };
        salt[..16].copy_from_slice(&r);
        salt[16..32].copy_from_slice(&l);
        salt[32..34].copy_from_slice(&remote.port().to_be_bytes());
        let (lo, start) = self.port_start(&salt);
        let n = u32::from(self.port_range().1 - lo) + 1;
        (0..n).map(|i| lo + ((start + i) % n) as u16).find_map(|p| {
            let all_auto = self
                .ports
                .holders(p)
                .all(|(_, b)| b.auto || !overlap(local, false, b.ip, b.dual));
            if !all_auto {
                return None;
            }
            let tuple = FourTuple::new(SocketAddr::new(local, p), remote);
            let h = self.demux.hash(&tuple);
            self.demux_get_hashed(&tuple, h).is_none().then_some((p, h))
        })
    }

    /// Linux `tcp_tw_reuse`: may connect() take over this TIME_WAIT tuple? Timestamps must
    /// have been negotiated (PAWS protects the new incarnation) and the TIME_WAIT must be
    /// at least one second old; 2 allows it on loopback only.
    pub(super) fn tw_reusable(&self, id: ConnId) -> bool {
        let Some(slot) = self.conns.get(id.index, id.generation) else {
            return false;
        };
        let st = slot.conn.status();
        let loopback = st.tuple.local.ip().is_loopback() && st.tuple.remote.ip().is_loopback();
        let allowed = match self.sysctl.tcp_tw_reuse {
            1 => true,
            2 => loopback,
            _ => false,
        };
        allowed
            && st.state == State::TimeWait
            && st.timestamps
            && slot
                .time_wait_since
                .is_some_and(|t| self.now.saturating_duration_since(t) >= Duration::from_secs(1))
    }
}
