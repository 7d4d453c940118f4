//! Deterministic pseudo-random numbers for the simulator.
//!
//! The generator is xoshiro256** (Blackman and Vigna, 2018), seeded through SplitMix64 as its
//! authors recommend. It is written out here (a few lines) so that the exact sequence is part
//! of this crate and cannot change under a dependency upgrade: the same seed must give
//! byte-identical runs forever.
//!
//! Every source of randomness in a simulation draws from its own *stream*, derived from the
//! simulation seed and a stream key ([`Rng::stream`]). Each link direction uses a key built
//! from its link index, so adding a link, or changing what one link does, never changes
//! the random decisions made on another.

/// One step of SplitMix64: advances `state` and returns the next output.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Mixes a seed and a stream key into one 64-bit value (distinct keys give unrelated seeds).
pub fn derive_seed(seed: u64, stream: u64) -> u64 {
    let mut s = seed;
    let a = splitmix64(&mut s);
    let mut t = a ^ stream.wrapping_mul(0xd605_bbb5_8c8a_bbf1);
    splitmix64(&mut t)
}

/// A xoshiro256** generator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose state is filled from `seed` by SplitMix64.
    pub fn new(seed: u64) -> Rng {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        // SplitMix64 never yields four zero words in a row, so the all-zero state (the one
        // state xoshiro must avoid) cannot occur.
        Rng { s }
    }

    /// The generator for stream `stream` of a simulation seeded with `seed`.
    pub fn stream(seed: u64, stream: u64) -> Rng {
        Rng::new(derive_seed(seed, stream))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A uniform float in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`. Draws nothing when `p <= 0` or `p >= 1`, so a disabled
    /// impairment does not consume randomness (and does not shift the stream).
    pub fn chance(&mut self, p: f64) -> bool {
        if p.is_nan() || p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.next_f64() < p
        }
    }

    /// A uniform integer in `[0, n)` (zero when `n` is zero), by the multiply-shift method.
    /// The bias is below `n / 2^64`, far under anything a simulation can observe.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A uniform integer in `[0, n]`, inclusive.
    pub fn up_to(&mut self, n: u64) -> u64 {
        match n.checked_add(1) {
            Some(m) => self.below(m),
            None => self.next_u64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // First outputs of SplitMix64 seeded with 0, as published with the reference code.
        let mut s = 0u64;
        assert_eq!(splitmix64(&mut s), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64(&mut s), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn same_seed_same_stream_and_streams_differ() {
        let mut a = Rng::stream(7, 1);
        let mut b = Rng::stream(7, 1);
        let mut c = Rng::stream(7, 2);
        let mut d = Rng::stream(8, 1);
        let xa: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let xb: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let xc: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        let xd: Vec<u64> = (0..8).map(|_| d.next_u64()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
        assert_ne!(xa, xd);
    }

    #[test]
    fn floats_and_ranges_are_in_bounds() {
        let mut r = Rng::new(42);
        let mut sum = 0.0;
        for _ in 0..10_000 {
            let f = r.next_f64();
            assert!((0.0..1.0).contains(&f));
            sum += f;
            assert!(r.below(10) < 10);
            assert!(r.up_to(3) <= 3);
        }
        let mean = sum / 10_000.0;
        assert!((0.48..0.52).contains(&mean), "mean {mean}");
        assert_eq!(r.below(0), 0);
        assert!(!r.chance(0.0));
        assert!(r.chance(1.0));
    }
}
