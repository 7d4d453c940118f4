//! A keyed, seeded hasher for the stack's tables: SipHash-2-4 under a key derived from the
//! stack secret, so bucket placement resists hash flooding from peers yet is deterministic
//! (no process-random state).

use crate::isn::siphash24;
use core::hash::{BuildHasher, Hasher};

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

impl BuildHasher for SeededState {
    type Hasher = SeededHasher;
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher {
            k0: self.k0,
            k1: self.k1,
            buf: [0; 48],
            len: 0,
            acc: 0,
        }
    }
}

/// SipHash-2-4 over the bytes written, buffered in 48-byte blocks (a 4-tuple key fits one).
#[derive(Clone, Debug)]
pub struct SeededHasher {
    k0: u64,
    k1: u64,
    buf: [u8; 48],
    len: usize,
    acc: u64,
}

impl Hasher for SeededHasher {
    fn write(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = self.buf.len() - self.len;
            let n = room.min(bytes.len());
            self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
            if self.len == self.buf.len() {
                self.acc = siphash24(self.k0 ^ self.acc, self.k1, &self.buf);
                self.len = 0;
            }
        }
    }

    fn finish(&self) -> u64 {
        siphash24(self.k0 ^ self.acc, self.k1, &self.buf[..self.len])
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
}
