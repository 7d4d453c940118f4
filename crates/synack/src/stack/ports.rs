//! Ports: bind conflicts (EADDRINUSE, SO_REUSEADDR, SO_REUSEPORT) and the randomized,
//! collision-free choice of ephemeral ports from `ip_local_port_range`.

use super::{Binding, ConnId, Holder, Stack};
use crate::isn::{FourTuple, Sip24, siphash24};
use crate::state::State;
use crate::time::Duration;
use core::net::{IpAddr, SocketAddr};
use std::collections::HashMap;

/// Every port binding of the host: `(port, holder)` → [`Binding`], with every operation
/// O(1) (a bind, a connect, a close each make a few).
///
/// - An entry per binding, in a vector with a free list (entries are reused, never
///   returned to the allocator), holding the index of its binding in a table of the
///   distinct bindings (a few per address), not the 21-byte binding itself: a host holds
///   one binding per connection (100,000 connections on one listening port each hold it).
/// - The entries of one port form a doubly linked list, its head found through a table
///   indexed by port (pages of 256 ports, made on first use), so a port's holders are
///   listed without a search and an entry leaves its list in O(1).
/// - An entry is found from its holder through a table indexed by the holder's slab index
///   (one for sockets, one for connections): a socket or a connection holds one port, so
///   this finds it. A second binding under the same slab index (another port, or another
///   generation still listed) is found through a small map instead, so that the table
///   means exactly a map keyed by `(port, holder)`.
///
/// The order of a port's holders is not kept (they are listed newest first): every use
/// (`port_conflict`, the ephemeral port choices) asks whether any or all of them pass a
/// test, so the answers do not depend on it.
#[derive(Debug, Default)]
pub(super) struct PortTable {
    entries: Vec<Entry>,
    /// Entries not in use.
    free: Vec<u32>,
    /// Port → 1 + its first entry (0: no holder), 256 ports a page.
    heads: Vec<Option<Box<[u32; 256]>>>,
    /// Socket slab index → 1 + the entry of its binding (0: none found this way).
    by_sock: Vec<u32>,
    /// Connection slab index → 1 + the entry of its binding (0: none found this way).
    by_conn: Vec<u32>,
    /// The entries the two tables above do not name, by `(port, holder)`.
    overflow: HashMap<(u16, Holder), u32>,
    /// The distinct bindings ever seen (never shrinks; bounded by addresses × flags).
    bindings: Vec<Binding>,
    ids: HashMap<Binding, u32>,
}

/// Grows a holder table to `len` slots (new ones empty).
#[cold]
fn grow(table: &mut Vec<u32>, len: usize) {
    table.resize(len, 0);
}

/// A page of `PortTable::heads`: 256 ports without holders.
#[cold]
fn new_page() -> Box<[u32; 256]> {
    Box::new([0; 256])
}

/// No entry (in [`Entry::prev`] and [`Entry::next`]).
const NIL: u32 = u32::MAX;

/// One binding: its holder, port, binding index and neighbours in the port's list.
#[derive(Clone, Copy, Debug)]
struct Entry {
    holder: Holder,
    port: u16,
    id: u32,
    prev: u32,
    next: u32,
}

impl PortTable {
    /// The binding index of `b` (added to the table of distinct bindings if new).
    #[inline(always)]
    fn binding_id(&mut self, b: Binding) -> u32 {
        // The first few distinct bindings (a host usually has no more) are found by
        // comparison, cheaper than hashing a binding; the map finds the rest.
        match self.bindings.iter().take(8).position(|x| *x == b) {
            Some(i) => i as u32,
            None => self.binding_id_slow(b),
        }
    }

    /// [`PortTable::binding_id`] beyond the first eight distinct bindings.
    #[cold]
    #[inline(never)]
    fn binding_id_slow(&mut self, b: Binding) -> u32 {
        match self.ids.get(&b).copied() {
            Some(id) => id,
            None => {
                let id = u32::try_from(self.bindings.len()).unwrap_or(u32::MAX);
                self.bindings.push(b);
                self.ids.insert(b, id);
                id
            }
        }
    }

    /// The holder's slot in `by_sock` or `by_conn`, if the table reaches it.
    #[inline(always)]
    fn direct(&self, h: Holder) -> Option<u32> {
        let (table, index) = match h {
            Holder::Sock(s) => (&self.by_sock, s.index),
            Holder::Conn(c) => (&self.by_conn, c.index),
        };
        table.get(index as usize).copied()
    }

    /// The holder's slot in `by_sock` or `by_conn`, grown to reach it.
    #[inline(always)]
    fn direct_mut(&mut self, h: Holder) -> &mut u32 {
        let (table, index) = match h {
            Holder::Sock(s) => (&mut self.by_sock, s.index),
            Holder::Conn(c) => (&mut self.by_conn, c.index),
        };
        let i = index as usize;
        if i >= table.len() {
            grow(table, i + 1);
        }
        &mut table[i]
    }

    /// The entry of `h`'s binding of `port`.
    #[inline(always)]
    fn find(&self, port: u16, h: Holder) -> Option<u32> {
        if let Some(e) = self.direct(h).and_then(|d| d.checked_sub(1))
            && let Some(x) = self.entries.get(e as usize)
            && x.holder == h
            && x.port == port
        {
            return Some(e);
        }
        if self.overflow.is_empty() {
            return None;
        }
        self.overflow.get(&(port, h)).copied()
    }

    /// 1 + the first entry of `port`'s list (0: none).
    #[inline(always)]
    fn head(&self, port: u16) -> u32 {
        match self.heads.get(usize::from(port >> 8)) {
            Some(Some(page)) => page[usize::from(port & 0xff)],
            _ => 0,
        }
    }

    #[inline(always)]
    fn head_mut(&mut self, port: u16) -> &mut u32 {
        if self.heads.is_empty() {
            self.heads.resize_with(256, || None);
        }
        let page = self.heads[usize::from(port >> 8)].get_or_insert_with(new_page);
        &mut page[usize::from(port & 0xff)]
    }

    /// Records (or replaces) `h`'s binding of `port`.
    #[inline(always)]
    pub fn insert(&mut self, port: u16, h: Holder, b: Binding) {
        let id = self.binding_id(b);
        self.insert_id(port, h, id);
    }

    #[inline(always)]
    fn insert_id(&mut self, port: u16, h: Holder, id: u32) {
        if let Some(e) = self.find(port, h) {
            self.entries[e as usize].id = id;
            return;
        }
        let next = self.head(port).wrapping_sub(1);
        let entry = Entry {
            holder: h,
            port,
            id,
            prev: NIL,
            next,
        };
        let e = match self.free.pop() {
            Some(e) => {
                self.entries[e as usize] = entry;
                e
            }
            None => {
                self.entries.push(entry);
                u32::try_from(self.entries.len() - 1).unwrap_or(NIL)
            }
        };
        if let Some(n) = self.entries.get_mut(next as usize) {
            n.prev = e;
        }
        *self.head_mut(port) = e + 1;
        let d = self.direct_mut(h);
        if *d == 0 {
            *d = e + 1;
        } else {
            self.overflow.insert((port, h), e);
        }
    }

    /// Takes entry `e` out of its port's list and its holder's index, and frees it.
    #[inline(always)]
    fn remove_entry(&mut self, e: u32) {
        let Entry {
            holder,
            port,
            prev,
            next,
            ..
        } = self.entries[e as usize];
        if self.direct(holder) == Some(e + 1) {
            *self.direct_mut(holder) = 0;
        } else {
            self.overflow.remove(&(port, holder));
        }
        match self.entries.get_mut(prev as usize) {
            Some(p) => p.next = next,
            None => *self.head_mut(port) = next.wrapping_add(1),
        }
        if let Some(n) = self.entries.get_mut(next as usize) {
            n.prev = prev;
        }
        self.free.push(e);
    }

    /// Drops `h`'s binding of `port`, if any.
    #[inline(always)]
    pub fn remove(&mut self, port: u16, h: Holder) {
        if let Some(e) = self.find(port, h) {
            self.remove_entry(e);
        }
    }

    /// Passes `from`'s binding of `port` to `to` (holding `to_port`), as one removal and
    /// one insertion of the same binding; whether `from` held it.
    #[inline(always)]
    pub fn hand_over(&mut self, port: u16, from: Holder, to_port: u16, to: Holder) -> bool {
        match self.find(port, from) {
            Some(e) => {
                let id = self.entries[e as usize].id;
                self.remove_entry(e);
                self.insert_id(to_port, to, id);
                true
            }
            None => false,
        }
    }

    /// The holders of `port` and their bindings (in no particular order).
    pub fn holders(&self, port: u16) -> impl Iterator<Item = (Holder, &Binding)> {
        let mut e = self.head(port).wrapping_sub(1);
        core::iter::from_fn(move || {
            loop {
                let x = self.entries.get(e as usize)?;
                e = x.next;
                if let Some(b) = self.bindings.get(x.id as usize) {
                    return Some((x.holder, b));
                }
            }
        })
    }

    /// Whether anybody holds `port`.
    pub fn is_held(&self, port: u16) -> bool {
        self.head(port) != 0
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

    /// [`Stack::port_start`] salted with the addresses, the remote port and two zero
    /// bytes (36 bytes, 40 with the perturbation): the hash state after the 32 bytes of
    /// addresses (four of its five blocks) is kept for the last pair of addresses, so a
    /// host connecting to one peer again and again hashes one block and the last.
    fn connect_port_start(&mut self, addrs: &[u8; 32], remote_port: u16) -> (u16, u32) {
        let (lo, hi) = self.port_range();
        let n = u32::from(hi - lo) + 1;
        self.port_perturb = self.port_perturb.wrapping_add(1);
        let prefix = match &self.port_prefix {
            Some((a, h)) if a == addrs => *h,
            _ => {
                let (k0, k1) = self.port_key;
                let mut h = Sip24::new(k0, k1);
                for w in addrs.chunks_exact(8) {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(w);
                    h.block(u64::from_le_bytes(word));
                }
                self.port_prefix = Some((*addrs, h));
                h
            }
        };
        // Bytes 32..40: the remote port, two zero bytes, the perturbation.
        let mut last = [0u8; 8];
        last[..2].copy_from_slice(&remote_port.to_be_bytes());
        last[4..].copy_from_slice(&self.port_perturb.to_le_bytes());
        let mut h = prefix;
        h.block(u64::from_le_bytes(last));
        let h = h.finish(&[], 40) as u32;
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
        let mut addrs = [0u8; 32];
        let r = match remote.ip() {
            IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
            IpAddr::V6(a) => a.octets(),
        };
        let l = match local {
            IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
            IpAddr::V6(a) => a.octets(),
        };
        addrs[..16].copy_from_slice(&r);
        addrs[16..].copy_from_slice(&l);
        let (lo, start) = self.connect_port_start(&addrs, remote.port());
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

#[cfg(test)]
mod tests {
    use super::super::{Binding, ConnId, Holder, SocketId};
    use super::PortTable;
    use core::net::{IpAddr, Ipv4Addr};
    use std::collections::BTreeMap;

    /// The connect port choice with its kept hash state starts where the plain salted
    /// hash does (the ports chosen are the same), for changing and repeated addresses.
    #[test]
    fn connect_port_start_is_the_salted_hash() {
        use super::super::{Stack, Sysctl};
        let mut kept = Stack::new([9; 16], Sysctl::linux());
        let mut plain = Stack::new([9; 16], Sysctl::linux());
        for i in 0..300u32 {
            let mut addrs = [0u8; 32];
            addrs[15] = (i % 3) as u8;
            addrs[31] = (i % 7 / 3) as u8;
            if i % 11 == 0 {
                addrs[0] = 0xfd;
            }
            let rport = (i * 7919) as u16;
            let mut salt = [0u8; 36];
            salt[..32].copy_from_slice(&addrs);
            salt[32..34].copy_from_slice(&rport.to_be_bytes());
            assert_eq!(
                kept.connect_port_start(&addrs, rport),
                plain.port_start(&salt),
                "call {i}"
            );
        }
    }

    /// A holder as an ordered key: kind, index, generation.
    type HolderKey = (u8, u32, u32);

    fn key(h: Holder) -> HolderKey {
        match h {
            Holder::Sock(s) => (0, s.index, s.generation),
            Holder::Conn(c) => (1, c.index, c.generation),
        }
    }

    /// The table answers exactly as a map keyed by `(port, holder)` (what it replaced),
    /// through random insertions, replacements, removals and hand-overs that reuse slab
    /// indices under several generations and ports (so the overflow map is exercised).
    #[test]
    fn port_table_is_a_map_keyed_by_port_and_holder() {
        let mut t = PortTable::default();
        let mut model: BTreeMap<(u16, HolderKey), (Holder, Binding)> = BTreeMap::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let ports = [80u16, 81, 443, 1024, 40000, 40001, 65535, 0];
        let mut overflowed = false;
        for step in 0..20_000 {
            let port = ports[rnd(ports.len() as u64) as usize];
            let (index, generation) = (rnd(6) as u32, rnd(3) as u32);
            let h = if rnd(2) == 0 {
                Holder::Sock(SocketId { index, generation })
            } else {
                Holder::Conn(ConnId { index, generation })
            };
            let b = Binding {
                ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, rnd(12) as u8)),
                reuseaddr: rnd(2) == 0,
                reuseport: rnd(2) == 0,
                auto: rnd(2) == 0,
                dual: false,
            };
            match rnd(4) {
                0 | 1 => {
                    t.insert(port, h, b);
                    model.insert((port, key(h)), (h, b));
                }
                2 => {
                    t.remove(port, h);
                    model.remove(&(port, key(h)));
                }
                _ => {
                    let to_port = ports[rnd(ports.len() as u64) as usize];
                    let to = Holder::Conn(ConnId {
                        index: rnd(6) as u32,
                        generation: rnd(3) as u32,
                    });
                    let got = t.hand_over(port, h, to_port, to);
                    let had = model.remove(&(port, key(h)));
                    assert_eq!(got, had.is_some(), "step {step}");
                    if let Some((_, b)) = had {
                        model.insert((to_port, key(to)), (to, b));
                    }
                }
            }
            overflowed |= !t.overflow.is_empty();
            for p in ports {
                let mut got: Vec<_> = t.holders(p).map(|(h, b)| (key(h), *b)).collect();
                got.sort_by_key(|g| g.0);
                let want: Vec<_> = model
                    .range((p, (0, 0, 0))..=(p, (1, u32::MAX, u32::MAX)))
                    .map(|(k, (_, b))| (k.1, *b))
                    .collect();
                assert_eq!(got, want, "step {step}, port {p}");
                assert_eq!(t.is_held(p), !want.is_empty());
            }
        }
        assert!(overflowed, "the overflow map was never used");
    }
}
