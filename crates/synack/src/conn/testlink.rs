//! Test support shared by the engine's equivalence tests (header prediction, transmit
//! bursts): a deterministic random source and the impaired link they run over. The random
//! source also serves the crate's other randomised unit tests.

/// A deterministic xorshift.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// The next state (xorshift64: 13, 7, 17).
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The link of the equivalence tests, applied to one round's segments in order: 2% lost,
/// 3% swapped with the next, 1% duplicated.
pub(super) fn impair<T: Clone>(out: &mut Vec<T>, rng: &mut Rng) {
    let mut i = 0;
    while i < out.len() {
        let r = rng.below(100);
        if r < 2 {
            out.remove(i);
            continue;
        }
        if r < 5 && i + 1 < out.len() {
            out.swap(i, i + 1);
        } else if r < 6 {
            let d = out[i].clone();
            out.insert(i, d);
            i += 1;
        }
        i += 1;
    }
}
