//! A keyed, seeded hasher for the stack's tables: SipHash-1-3 under a key derived from the
//! stack secret, so bucket placement resists hash flooding from peers yet is deterministic
//! (no process-random state).
//!
//! Why SipHash-1-3 and not the 2-4 of the ISN generator: a table hash never leaves the
//! process and a peer sees it only through timing, so what it needs is that a peer who does
//! not know the 128-bit key cannot choose 4-tuples that collide. SipHash-1-3 (one
//! compression round per word, three finalisation rounds) is the keyed PRF Rust's standard
//! `HashMap` relies on for exactly this (HashDoS resistance); no key-recovery or
//! collision-finding attack on it without the key is known. The key still comes from the
//! stack secret, one per table, so placement is reproducible for a given secret.
//!
//! The hasher streams: words are compressed as they are written (the `Hash` impls of the
//! tables' keys write a few integers and short byte strings), with no block buffer.

use crate::isn::FourTuple;
use core::hash::{BuildHasher, Hasher};
use core::net::IpAddr;

/// Builds [`SeededHasher`]s under one key.
#[derive(Clone, Copy, Debug)]
pub struct SeededState {
    k0: u64,
    k1: u64,
}

impl SeededState {
    /// A builder keyed with `(k0, k1)`.
    pub const fn new(k0: u64, k1: u64) -> SeededState {
        SeededState { k0, k1 }
    }
}

impl SeededState {
    /// The keyed hash of a 4-tuple for the demux table: SipHash-1-3 under this key of a
    /// 13-byte message (both IPv4 addresses as little-endian `u32`s, both ports as
    /// little-endian `u16`s, the byte 4) or a 37-byte one (both addresses as
    /// little-endian `u128`s, an IPv4 one with 4 in its top byte; the ports; the byte 6),
    /// compressed word by word instead of streamed through [`Hasher`] calls (which write
    /// each `SocketAddr` piece by piece, enum tags included). Equal tuples hash equal;
    /// the flow label and scope id of an IPv6 address are left out (tuples that differ
    /// only there share a hash, and the table confirms every candidate).
    #[inline]
    pub fn hash_tuple(&self, t: &FourTuple) -> u64 {
        let mut h = self.build_hasher();
        let ports = u64::from(t.local.port()) | u64::from(t.remote.port()) << 16;
        match (t.local.ip(), t.remote.ip()) {
            (IpAddr::V4(l), IpAddr::V4(r)) => {
                h.compress(u64::from(l.to_bits()) | u64::from(r.to_bits()) << 32);
                // The last block: the rest of the message and its length on top.
                h.compress(ports | 4 << 32 | 13 << 56);
            }
            (l, r) => {
                for ip in [l, r] {
                    let bits = match ip {
                        IpAddr::V4(a) => u128::from(a.to_bits()) | 4 << 120,
                        IpAddr::V6(a) => a.to_bits(),
                    };
                    h.compress(bits as u64);
                    h.compress((bits >> 64) as u64);
                }
                h.compress(ports | 6 << 32 | 37 << 56);
            }
        }
        h.v2 ^= 0xff;
        // d = 3 finalisation rounds.
        h.round();
        h.round();
        h.round();
        h.v0 ^ h.v1 ^ h.v2 ^ h.v3
    }
}

impl BuildHasher for SeededState {
    type Hasher = SeededHasher;
    #[inline]
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher {
            v0: self.k0 ^ 0x736f_6d65_7073_6575,
            v1: self.k1 ^ 0x646f_7261_6e64_6f6d,
            v2: self.k0 ^ 0x6c79_6765_6e65_7261,
            v3: self.k1 ^ 0x7465_6462_7974_6573,
            tail: 0,
            ntail: 0,
            length: 0,
        }
    }
}

/// SipHash-1-3 over the bytes written (little-endian words), streamed.
#[derive(Clone, Debug)]
pub struct SeededHasher {
    v0: u64,
    v1: u64,
    v2: u64,
    v3: u64,
    /// Bytes of the word in progress, little-endian, `ntail` of them.
    tail: u64,
    ntail: usize,
    /// Bytes written in all (its low byte goes into the last block).
    length: usize,
}

impl SeededHasher {
    #[inline(always)]
    fn round(&mut self) {
        self.v0 = self.v0.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(13);
        self.v1 ^= self.v0;
        self.v0 = self.v0.rotate_left(32);
        self.v2 = self.v2.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(16);
        self.v3 ^= self.v2;
        self.v0 = self.v0.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(21);
        self.v3 ^= self.v0;
        self.v2 = self.v2.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(17);
        self.v1 ^= self.v2;
        self.v2 = self.v2.rotate_left(32);
    }

    /// One compression: c = 1 round per 8-byte word.
    #[inline(always)]
    fn compress(&mut self, m: u64) {
        self.v3 ^= m;
        self.round();
        self.v0 ^= m;
    }

    /// Feeds `n` (at most 8) bytes held little-endian in the low bytes of `x` (the bytes
    /// above them zero).
    #[inline(always)]
    fn feed(&mut self, x: u64, n: usize) {
        self.length += n;
        let have = self.ntail;
        // The word in progress takes the low 8 - have bytes of `x`.
        let word = self.tail | (x << (8 * have));
        if have + n < 8 {
            self.tail = word;
            self.ntail = have + n;
            return;
        }
        self.compress(word);
        let used = 8 - have;
        self.ntail = n - used;
        self.tail = if used == 8 { 0 } else { x >> (8 * used) };
    }
}

impl Hasher for SeededHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.feed(u64::from_le_bytes(w), 8);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.feed(u64::from_le_bytes(w), rest.len());
        }
    }

    #[inline]
    fn write_u8(&mut self, x: u8) {
        self.feed(u64::from(x), 1);
    }

    #[inline]
    fn write_u16(&mut self, x: u16) {
        self.feed(u64::from(x), 2);
    }

    #[inline]
    fn write_u32(&mut self, x: u32) {
        self.feed(u64::from(x), 4);
    }

    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.feed(x, 8);
    }

    #[inline]
    fn write_usize(&mut self, x: usize) {
        self.feed(x as u64, 8);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let mut s = self.clone();
        let b = s.tail | ((s.length as u64 & 0xff) << 56);
        s.compress(b);
        s.v2 ^= 0xff;
        // d = 3 finalisation rounds.
        s.round();
        s.round();
        s.round();
        s.v0 ^ s.v1 ^ s.v2 ^ s.v3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_keyed() {
        let a = SeededState::new(1, 2);
        let b = SeededState::new(1, 3);
        let h = |s: &SeededState, d: &[u8]| {
            let mut x = s.build_hasher();
            x.write(d);
            x.finish()
        };
        let long = [7u8; 100];
        assert_eq!(h(&a, b"tuple"), h(&a, b"tuple"));
        assert_ne!(h(&a, b"tuple"), h(&b, b"tuple"));
        assert_eq!(h(&a, &long), h(&a, &long));
        assert_ne!(h(&a, &long), h(&a, &long[..99]));
    }

    /// SipHash-c-d over `data` in one piece, straight from the paper's description.
    fn reference(k0: u64, k1: u64, data: &[u8], c: usize, d: usize) -> u64 {
        let mut h = SeededState::new(k0, k1).build_hasher();
        let rounds = |h: &mut SeededHasher, n: usize| (0..n).for_each(|_| h.round());
        let mut blocks: Vec<u64> = data
            .chunks(8)
            .filter(|c| c.len() == 8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let rest = &data[data.len() / 8 * 8..];
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        last[7] = data.len() as u8;
        blocks.push(u64::from_le_bytes(last));
        for m in blocks {
            h.v3 ^= m;
            rounds(&mut h, c);
            h.v0 ^= m;
        }
        h.v2 ^= 0xff;
        rounds(&mut h, d);
        h.v0 ^ h.v1 ^ h.v2 ^ h.v3
    }

    /// `hash_tuple` is SipHash-1-3 of the message its documentation describes, and moves
    /// with every address, port and the family.
    #[test]
    fn tuple_hash_is_siphash13_of_the_packed_tuple() {
        let st = SeededState::new(0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);
        let message = |t: &FourTuple| {
            let mut m = Vec::new();
            match (t.local.ip(), t.remote.ip()) {
                (IpAddr::V4(l), IpAddr::V4(r)) => {
                    m.extend(l.to_bits().to_le_bytes());
                    m.extend(r.to_bits().to_le_bytes());
                    m.extend(t.local.port().to_le_bytes());
                    m.extend(t.remote.port().to_le_bytes());
                    m.push(4);
                }
                (l, r) => {
                    for ip in [l, r] {
                        m.extend(match ip {
                            IpAddr::V4(a) => (u128::from(a.to_bits()) | 4 << 120).to_le_bytes(),
                            IpAddr::V6(a) => a.to_bits().to_le_bytes(),
                        });
                    }
                    m.extend(t.local.port().to_le_bytes());
                    m.extend(t.remote.port().to_le_bytes());
                    m.push(6);
                }
            }
            m
        };
        let tuples = [
            ("198.18.0.1:80", "198.18.0.2:40000"),
            ("198.18.0.1:80", "198.18.0.2:40001"),
            ("198.18.0.1:81", "198.18.0.2:40000"),
            ("198.18.0.3:80", "198.18.0.2:40000"),
            ("198.18.0.1:80", "198.18.0.3:40000"),
            ("198.18.0.2:40000", "198.18.0.1:80"),
            ("[fd00::1]:80", "[fd00::2]:40000"),
            ("[fd00::1]:80", "[fd00::3]:40000"),
            ("[fd00::1]:80", "[fd00::2]:40001"),
            ("198.18.0.1:80", "[fd00::2]:40000"),
        ];
        let mut seen = Vec::new();
        for (l, r) in tuples {
            let t = FourTuple::new(l.parse().unwrap(), r.parse().unwrap());
            let h = st.hash_tuple(&t);
            assert_eq!(h, reference(st.k0, st.k1, &message(&t), 1, 3), "{l} {r}");
            assert_eq!(h, st.hash_tuple(&t));
            assert_ne!(h, SeededState::new(st.k0, st.k1 ^ 1).hash_tuple(&t));
            assert!(!seen.contains(&h), "{l} {r}");
            seen.push(h);
        }
    }

    /// The streamed hasher is SipHash-1-3 (the reference above), whatever the bytes are
    /// split into writes.
    #[test]
    fn siphash13_reference_and_split_invariance() {
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        let st = SeededState::new(k0, k1);
        let msg: Vec<u8> = (0u8..64).collect();
        let whole = |d: &[u8]| {
            let mut x = st.build_hasher();
            x.write(d);
            x.finish()
        };
        for len in 0..msg.len() {
            let d = &msg[..len];
            let want = whole(d);
            // The one-shot reference: with c=2, d=4 it is the ISN generator's SipHash-2-4
            // (itself checked against the paper's vectors), with c=1, d=3 our hasher.
            assert_eq!(reference(k0, k1, d, 2, 4), crate::isn::siphash24(k0, k1, d));
            assert_eq!(want, reference(k0, k1, d, 1, 3), "len {len}");
            for split in 0..=len {
                let mut x = st.build_hasher();
                x.write(&d[..split]);
                for &b in &d[split..] {
                    x.write_u8(b);
                }
                assert_eq!(x.finish(), want, "len {len} split {split}");
            }
            let mut x = st.build_hasher();
            for w in d.chunks(2) {
                if w.len() == 2 {
                    x.write_u16(u16::from_le_bytes([w[0], w[1]]));
                } else {
                    x.write_u8(w[0]);
                }
            }
            assert_eq!(x.finish(), want, "len {len} in u16 writes");
        }
    }
}
