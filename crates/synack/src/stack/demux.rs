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

use super::hash::SeededState;
use crate::isn::FourTuple;

/// Marks an empty entry.
const EMPTY: u32 = u32::MAX;

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

/// The demux table (see the module documentation).
#[derive(Debug)]
pub(super) struct DemuxTable {
    entries: Vec<Entry>,
    len: usize,
    state: SeededState,
}

impl DemuxTable {
    /// An empty table hashing under `state`.
    pub fn new(state: SeededState) -> DemuxTable {
        DemuxTable {
            entries: Vec::new(),
            len: 0,
            state,
        }
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
        let mask = self.mask();
        let mut i = h as usize & mask;
        loop {
            let e = self.entries.get(i)?;
            if e.index == EMPTY {
                return None;
            }
            if e.tag == h {
                return Some(e.index);
            }
            i = (i + 1) & mask;
        }
    }

    /// Maps hash `h` to `index`, replacing the entry of an equal key (`is_key` confirms
    /// it), as a map insert does.
    pub fn insert(&mut self, h: u32, index: u32, mut is_key: impl FnMut(u32) -> bool) {
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
        let old = core::mem::replace(&mut self.entries, vec![Entry::VACANT; cap]);
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

    #[test]
    fn entries_are_eight_bytes() {
        assert_eq!(core::mem::size_of::<Entry>(), 8);
    }
}
