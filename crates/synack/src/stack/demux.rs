//! The TCP demultiplexing table: 4-tuple → connection slot, in O(1), small per entry.
//!
//! An entry is 8 bytes: 32 bits of the tuple's keyed hash and the slab index of the
//! connection. The tuple itself is not copied into the table: a candidate whose hash bits
//! match is confirmed by comparing the tuple the connection holds (the receive path reads
//! that connection next anyway). Open addressing with linear probing, at most 7/8 full
//! (a lookup that hits probes about 4.5 entries there, fewer in the common case: the
//! table is between 7/16 and 7/8 full), deletion by backward shift (no tombstones), so a
//! probe sequence never grows with churn. The hash is the stack's keyed SipHash-1-3
//! ([`super::hash`]), so peers cannot aim tuples at one run of the table.
//!
//! A table of [`HUGE_MIN_BYTES`] or more (about 250,000 connections and up) asks Linux
//! for transparent huge pages (`madvise(MADV_HUGEPAGE)`, which works when THP is in
//! `madvise` or `always` mode): with 4 KiB pages every lookup at random in a table of
//! many megabytes also misses the TLB; a 16 MiB table on 2 MiB pages needs 8 TLB
//! entries. Elsewhere, or if the kernel refuses, nothing changes.
//!
//! In front of the table sits a one-behind cache (4.4BSD's `tcp_last_inpcb`): the key of
//! the last IPv4 tuple a segment was demultiplexed to and the connection found, so a run of
//! segments for one connection skips the hash and the probe. Every change to the table
//! (insert, remove, growth) empties it, so it never names a connection the table would
//! not return for that key.

use super::hash::SeededState;
use crate::isn::FourTuple;
use core::net::IpAddr;

/// Marks an empty entry.
const EMPTY: u32 = u32::MAX;

/// Tables of at least this many bytes ask for transparent huge pages (4 MiB: any range
/// this long holds a whole aligned 2 MiB page whatever the allocator's alignment).
pub(super) const HUGE_MIN_BYTES: usize = 4 << 20;

/// One entry: hash bits and a slab index (`EMPTY` when unused).
#[derive(Clone, Copy, Debug)]
struct Entry {
    tag: u32,
    index: u32,
}

impl Entry {
    const VACANT: Entry = Entry {
        tag: 0,
        index: EMPTY,
    };
}

/// An arriving IPv4 segment's 4-tuple as the one-behind cache compares it, built from the
/// header fields without `SocketAddr` values: both addresses in one `u64`, both ports in
/// one `u32` (12 bytes, compared in two instructions). IPv6 tuples are not cached (a
/// 36-byte key made every miss dearer than the hits it could save).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct TupleKey {
    addrs: u64,
    ports: u32,
}

impl TupleKey {
    /// The key of `local_ip:local_port ↔ remote_ip:remote_port`; `None` unless both
    /// addresses are IPv4.
    #[inline]
    pub fn new(
        local_ip: IpAddr,
        local_port: u16,
        remote_ip: IpAddr,
        remote_port: u16,
    ) -> Option<Self> {
        match (local_ip, remote_ip) {
            (IpAddr::V4(l), IpAddr::V4(r)) => Some(TupleKey {
                addrs: u64::from(l.to_bits()) | u64::from(r.to_bits()) << 32,
                ports: u32::from(local_port) | u32::from(remote_port) << 16,
            }),
            _ => None,
        }
    }
}

/// The one-behind cache's entry: a key and the slot (index, generation) found for it.
#[derive(Clone, Copy, Debug)]
struct Last {
    key: TupleKey,
    index: u32,
    generation: u32,
}

/// The demux table (see the module documentation).
#[derive(Debug)]
pub(super) struct DemuxTable {
    entries: Vec<Entry>,
    len: usize,
    state: SeededState,
    /// The one-behind cache; `None` after any change to the table.
    last: Option<Last>,
}

impl DemuxTable {
    /// An empty table hashing under `state`.
    pub fn new(state: SeededState) -> DemuxTable {
        DemuxTable {
            entries: Vec::new(),
            len: 0,
            state,
            last: None,
        }
    }

    /// The slot `(index, generation)` last [`remember`](Self::remember)ed for `key`, if
    /// the table has not changed since.
    #[inline]
    pub fn last(&self, key: &TupleKey) -> Option<(u32, u32)> {
        match self.last {
            Some(l) if l.key == *key => Some((l.index, l.generation)),
            _ => None,
        }
    }

    /// Caches that `key` was found at slot `(index, generation)` (the caller's lookup
    /// confirmed the connection holds that tuple).
    #[inline]
    pub fn remember(&mut self, key: TupleKey, index: u32, generation: u32) {
        self.last = Some(Last {
            key,
            index,
            generation,
        });
    }

    /// The keyed hash of a tuple, as the table uses it.
    #[inline]
    pub fn hash(&self, t: &FourTuple) -> u32 {
        self.state.hash_tuple(t) as u32
    }

    fn mask(&self) -> usize {
        self.entries.len().wrapping_sub(1)
    }

    /// The slab index stored for hash `h` whose connection `is_key` confirms, if any.
    #[inline]
    pub fn find(&self, h: u32, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        if self.entries.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = h as usize & mask;
        loop {
            let e = self.entries.get(i)?;
            if e.index == EMPTY {
                return None;
            }
            if e.tag == h && is_key(e.index) {
                return Some(e.index);
            }
            i = (i + 1) & mask;
        }
    }

    /// Hints the processor to load the entry where a lookup of hash `h` starts (a batch
    /// of lookups overlaps its cache misses this way). Changes nothing.
    #[inline]
    pub fn prefetch(&self, h: u32) {
        if let Some(e) = self.entries.get(h as usize & self.mask()) {
            prefetch_lines(e, 1);
        }
    }

    /// The first slab index stored under hash `h`, unconfirmed (a prefetch target: the
    /// lookup proper still compares the tuple).
    #[inline]
    pub fn candidate(&self, h: u32) -> Option<u32> {
        self.find(h, |_| true)
    }

    /// Maps hash `h` to `index`, replacing the entry of an equal key (`is_key` confirms
    /// it), as a map insert does.
    pub fn insert(&mut self, h: u32, index: u32, mut is_key: impl FnMut(u32) -> bool) {
        // A new connection may take over a cached tuple (TIME-WAIT reuse).
        self.last = None;
        if (self.len + 1) * 8 > self.entries.len() * 7 {
            self.grow();
        }
        let mask = self.mask();
        let mut i = h as usize & mask;
        while let Some(e) = self.entries.get_mut(i) {
            if e.index == EMPTY {
                *e = Entry { tag: h, index };
                self.len += 1;
                return;
            }
            if e.tag == h && is_key(e.index) {
                e.index = index;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// Removes the entry of hash `h` that points at `index`; whether there was one.
    pub fn remove(&mut self, h: u32, index: u32) -> bool {
        self.last = None;
        if self.entries.is_empty() {
            return false;
        }
        let mask = self.mask();
        let mut i = h as usize & mask;
        loop {
            match self.entries.get(i) {
                Some(e) if e.index == EMPTY => return false,
                Some(e) if e.tag == h && e.index == index => break,
                Some(_) => i = (i + 1) & mask,
                None => return false,
            }
        }
        // Backward shift: pull later entries of the run into the hole when their home
        // position is not after the hole, so every entry stays reachable from its home.
        let mut hole = i;
        let mut j = (i + 1) & mask;
        while let Some(&e) = self.entries.get(j)
            && e.index != EMPTY
        {
            let home = e.tag as usize & mask;
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.entries[hole] = e;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.entries[hole] = Entry::VACANT;
        self.len -= 1;
        true
    }

    /// Doubles the table (16 entries at first), re-placing entries by their stored hash.
    fn grow(&mut self) {
        let cap = (self.entries.len() * 2).max(16);
        let mut fresh = Vec::with_capacity(cap);
        // Advised before the first write, so the pages are faulted in huge.
        if cap * core::mem::size_of::<Entry>() >= HUGE_MIN_BYTES {
            advise_huge(fresh.as_ptr(), cap);
        }
        fresh.resize(cap, Entry::VACANT);
        let old = core::mem::replace(&mut self.entries, fresh);
        let mask = cap - 1;
        for e in old.into_iter().filter(|e| e.index != EMPTY) {
            let mut i = e.tag as usize & mask;
            while self.entries[i].index != EMPTY {
                i = (i + 1) & mask;
            }
            self.entries[i] = e;
        }
    }
}

/// Asks Linux to back the whole 2 MiB pages inside the `len` elements at `p` with
/// transparent huge pages (`madvise(MADV_HUGEPAGE)` on the page-aligned part of the
/// range); whether it did. Failure (THP disabled, an old kernel) changes nothing; so does
/// this call on other systems. The memory's contents are never affected.
pub(super) fn advise_huge<T>(p: *const T, len: usize) -> bool {
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let start = (p as usize).next_multiple_of(PAGE);
        let end = (p as usize).saturating_add(len.saturating_mul(core::mem::size_of::<T>()));
        let end = end - end % PAGE;
        if end <= start {
            return false;
        }
        // SAFETY: madvise only changes how the kernel backs pages of our own allocation
        // (`start..end` lies inside the `len` elements at `p`, page-aligned); with
        // MADV_HUGEPAGE the contents stay as they are, and a failure is only a return
        // value.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (p, len);
        false
    }
}

/// Asks the processor to start loading the cache lines holding the first `lines` × 64
/// bytes of `*p` (x86-64 `PREFETCHT0`); nothing elsewhere. A prefetch never faults and
/// changes no state the program can observe; `lines` is capped at the size of `T`.
#[inline]
pub(super) fn prefetch_lines<T>(p: &T, lines: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let base = (p as *const T).cast::<i8>();
        let n = lines.min(core::mem::size_of::<T>().div_ceil(64)).max(1);
        for k in 0..n {
            // SAFETY: `_mm_prefetch` is only a hint: it never faults, even for an invalid
            // address, and has no architectural effect. `wrapping_add` keeps the pointer
            // arithmetic defined; every address is inside (or one line past) `*p`. SSE is
            // part of the x86-64 baseline.
            unsafe {
                core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                    base.wrapping_add(k * 64),
                );
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, lines);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn tuple(i: u32) -> FourTuple {
        FourTuple::new(
            format!(
                "10.0.{}.{}:{}",
                i >> 16 & 255,
                i >> 8 & 255,
                1000 + (i & 255)
            )
            .parse()
            .unwrap(),
            "10.9.9.9:80".parse().unwrap(),
        )
    }

    /// The table agrees with a `HashMap` through inserts, replacements and removals (with
    /// a tiny hash space, so runs collide and backward shifts happen often).
    #[test]
    fn agrees_with_a_map_under_churn() {
        let mut t = DemuxTable::new(SeededState::new(1, 2));
        let mut keys: Vec<Option<FourTuple>> = Vec::new();
        let mut model: HashMap<FourTuple, u32> = HashMap::new();
        let mut x = 12345u64;
        for step in 0..6_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = tuple((x % 3000) as u32);
            // Force collisions: only 6 bits of hash.
            let h = t.hash(&k) & 63;
            let remove = x >> 40 & 3 == 0;
            if remove {
                if let Some(&i) = model.get(&k) {
                    assert!(t.remove(h, i));
                    model.remove(&k);
                    keys[i as usize] = None;
                }
            } else {
                let i = keys.len() as u32;
                keys.push(Some(k));
                t.insert(h, i, |j| keys[j as usize] == Some(k));
                if let Some(old) = model.insert(k, i) {
                    keys[old as usize] = None;
                }
            }
            if step % 97 == 0 {
                for (k, &i) in &model {
                    let h = t.hash(k) & 63;
                    assert_eq!(t.find(h, |j| keys[j as usize] == Some(*k)), Some(i));
                }
                assert_eq!(t.len, model.len());
            }
        }
        let absent = tuple(999_999);
        let h = t.hash(&absent) & 63;
        assert_eq!(t.find(h, |j| keys[j as usize] == Some(absent)), None);
    }

    /// A candidate whose stored hash bits differ is skipped without asking the
    /// connection (the tuple check never touches it); equal bits with a different key
    /// (a full 32-bit collision) are told apart by the key check.
    #[test]
    fn tag_mismatch_never_consults_the_connection() {
        let mut t = DemuxTable::new(SeededState::new(3, 4));
        let keys = [10u32, 20, 30];
        // Same home entry (low bits), different tags; then a full collision with h1.
        let (h0, h1) = (0x0000_0005u32, 0x0100_0005u32);
        t.insert(h0, 0, |_| false);
        t.insert(h1, 1, |_| false);
        t.insert(h1, 2, |j| keys[j as usize] == 30);
        assert_eq!(t.len, 3);
        let mut asked = Vec::new();
        let found = t.find(h1, |j| {
            asked.push(j);
            keys[j as usize] == 30
        });
        assert_eq!(found, Some(2));
        // Entry 0 (other tag) was never asked about; entry 1 (same tag) was, and refused.
        assert_eq!(asked, vec![1, 2]);
        asked.clear();
        let absent = t.find(0x0200_0005, |j| {
            asked.push(j);
            true
        });
        assert_eq!(absent, None);
        assert!(asked.is_empty(), "asked about {asked:?}");
        // Removal names the index: the colliding entry 1 stays.
        assert!(t.remove(h1, 2));
        assert!(!t.remove(h1, 2));
        assert_eq!(t.find(h1, |j| keys[j as usize] == 20), Some(1));
        assert_eq!(t.find(h0, |j| keys[j as usize] == 10), Some(0));
    }

    /// Growth past the huge-page size (the table is re-placed on fresh, advised memory)
    /// keeps every entry, and removals after it leave the others reachable.
    #[test]
    fn grows_past_the_huge_page_threshold() {
        let mut t = DemuxTable::new(SeededState::new(5, 6));
        // 600,000 entries: the table ends at 2^20 entries, 8 MiB.
        let n = 600_000u32;
        let h = |i: u32| i.wrapping_mul(0x9e37_79b1) ^ (i >> 7);
        for i in 0..n {
            t.insert(h(i), i, |j| j == i);
        }
        assert!(t.entries.len() * core::mem::size_of::<Entry>() >= HUGE_MIN_BYTES);
        assert_eq!(t.len, n as usize);
        for i in (0..n).step_by(3) {
            assert!(t.remove(h(i), i));
        }
        for i in 0..n {
            let want = (i % 3 != 0).then_some(i);
            assert_eq!(t.find(h(i), |j| j == i), want, "entry {i}");
        }
    }

    /// Advising huge pages changes no byte of the memory; a range without a whole page
    /// is not advised.
    #[test]
    fn advise_huge_keeps_contents() {
        let v: Vec<u64> = (0..(HUGE_MIN_BYTES as u64 / 8)).collect();
        advise_huge(v.as_ptr(), v.len());
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64));
        let small = [0u8; 16];
        assert!(!advise_huge(small.as_ptr(), small.len()));
    }

    /// The one-behind cache answers only its own key, with the slot and generation it was
    /// given, and is emptied by every change to the table: a removal (the connection
    /// closed: a stale entry must not outlive it), an insert (a new connection may take
    /// the tuple over, under another slot or generation) and growth.
    #[test]
    fn last_found_cache_is_emptied_by_every_change() {
        let mut t = DemuxTable::new(SeededState::new(7, 8));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let k = TupleKey::new(ip("10.9.9.9"), 80, ip("10.0.0.1"), 1000).unwrap();
        let h = t.hash(&tuple(0));
        t.insert(h, 3, |_| false);
        assert_eq!(t.last(&k), None);
        t.remember(k, 3, 7);
        assert_eq!(t.last(&k), Some((3, 7)));
        // Other keys: another port, ports swapped, addresses swapped; IPv6 has none.
        for other in [
            TupleKey::new(ip("10.9.9.9"), 80, ip("10.0.0.1"), 1001),
            TupleKey::new(ip("10.9.9.9"), 1000, ip("10.0.0.1"), 80),
            TupleKey::new(ip("10.0.0.1"), 80, ip("10.9.9.9"), 1000),
        ] {
            let other = other.unwrap();
            assert_eq!(t.last(&other), None, "{other:?}");
        }
        assert_eq!(
            TupleKey::new(ip("::a09:909"), 80, ip("::a00:1"), 1000),
            None
        );
        assert_eq!(TupleKey::new(ip("10.9.9.9"), 80, ip("::a00:1"), 1000), None);
        // Closed: removed from the table, so no longer cached.
        assert!(t.remove(h, 3));
        assert_eq!(t.last(&k), None);
        // Reused: a new connection (slot 5) inserted under the same tuple empties a cache
        // that still named the old slot; the lookup then finds and caches the new one.
        t.insert(h, 3, |_| false);
        t.remember(k, 3, 7);
        t.insert(h, 5, |i| i == 3);
        assert_eq!(t.last(&k), None);
        t.remember(k, 5, 8);
        assert_eq!(t.last(&k), Some((5, 8)));
        // A removal that finds nothing still empties it (the caller's state changed).
        assert!(!t.remove(h ^ 1, 99));
        assert_eq!(t.last(&k), None);
        // Growth (any insert) empties it too.
        t.remember(k, 5, 8);
        for i in 0..40u32 {
            t.insert(i.wrapping_mul(0x9e37_79b1), 100 + i, |_| false);
            assert_eq!(t.last(&k), None);
            t.remember(k, 5, 8);
        }
    }

    #[test]
    fn entries_are_eight_bytes() {
        assert_eq!(core::mem::size_of::<Entry>(), 8);
    }
}
