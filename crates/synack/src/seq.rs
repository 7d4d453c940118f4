//! Sequence-number arithmetic (RFC 9293 §3.4).
//!
//! Sequence numbers live in a 2^32 space and wrap. Two numbers are compared through their
//! signed 32-bit difference, which is correct as long as they are less than 2^31 apart (RFC
//! 9293 §3.4, RFC 1982). Every operation here wraps; none can panic.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A 32-bit TCP sequence (or acknowledgment) number with modular comparisons.
///
/// `Seq` deliberately does not implement `Ord`: the order is only meaningful between numbers
/// less than 2^31 apart, so comparisons are explicit methods.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Seq(pub u32);

impl Seq {
    /// The raw 32-bit value.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The signed distance `self - other` (positive when `self` is after `other`).
    pub const fn diff(self, other: Seq) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// `self < other` in sequence space.
    pub const fn lt(self, other: Seq) -> bool {
        self.diff(other) < 0
    }

    /// `self <= other` in sequence space.
    pub const fn le(self, other: Seq) -> bool {
        self.diff(other) <= 0
    }

    /// `self > other` in sequence space.
    pub const fn gt(self, other: Seq) -> bool {
        self.diff(other) > 0
    }

    /// `self >= other` in sequence space.
    pub const fn ge(self, other: Seq) -> bool {
        self.diff(other) >= 0
    }

    /// `lo <= self < hi`: membership in the half-open range `[lo, hi)`, computed as an
    /// unsigned offset so that it also holds for ranges up to 2^32 - 1 long.
    pub const fn in_range(self, lo: Seq, hi: Seq) -> bool {
        self.0.wrapping_sub(lo.0) < hi.0.wrapping_sub(lo.0)
    }

    /// `lo <= self <= hi` (closed range, unsigned offsets as in [`Seq::in_range`]).
    pub const fn in_closed_range(self, lo: Seq, hi: Seq) -> bool {
        self.0.wrapping_sub(lo.0) <= hi.0.wrapping_sub(lo.0)
    }

    /// The later of two sequence numbers.
    pub const fn max(self, other: Seq) -> Seq {
        if self.lt(other) { other } else { self }
    }

    /// The earlier of two sequence numbers.
    pub const fn min(self, other: Seq) -> Seq {
        if self.gt(other) { other } else { self }
    }

    /// The unsigned forward distance from `earlier` to `self` (`self - earlier` mod 2^32).
    pub const fn since(self, earlier: Seq) -> u32 {
        self.0.wrapping_sub(earlier.0)
    }
}

impl Add<u32> for Seq {
    type Output = Seq;
    fn add(self, n: u32) -> Seq {
        Seq(self.0.wrapping_add(n))
    }
}

impl Add<usize> for Seq {
    type Output = Seq;
    /// Adds a length; only the low 32 bits of `n` matter in a modular space.
    fn add(self, n: usize) -> Seq {
        Seq(self.0.wrapping_add(n as u32))
    }
}

impl AddAssign<u32> for Seq {
    fn add_assign(&mut self, n: u32) {
        self.0 = self.0.wrapping_add(n);
    }
}

impl AddAssign<usize> for Seq {
    fn add_assign(&mut self, n: usize) {
        self.0 = self.0.wrapping_add(n as u32);
    }
}

impl Sub<u32> for Seq {
    type Output = Seq;
    fn sub(self, n: u32) -> Seq {
        Seq(self.0.wrapping_sub(n))
    }
}

impl Sub<Seq> for Seq {
    type Output = i32;
    /// The signed distance, as [`Seq::diff`].
    fn sub(self, other: Seq) -> i32 {
        self.diff(other)
    }
}

impl fmt::Debug for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Seq({})", self.0)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9293_3_4_comparisons_across_wrap() {
        let a = Seq(u32::MAX - 1);
        let b = a + 4u32; // wraps to 2
        assert_eq!(b, Seq(2));
        assert!(a.lt(b) && a.le(b) && b.gt(a) && b.ge(a));
        assert!(!b.lt(a) && !a.gt(b));
        assert!(a.le(a) && a.ge(a) && !a.lt(a));
        assert_eq!(b - a, 4);
        assert_eq!(a - b, -4);
        assert_eq!(b.since(a), 4);
        assert_eq!(a.max(b), b);
        assert_eq!(a.min(b), a);
    }

    #[test]
    fn ranges_wrap() {
        let lo = Seq(u32::MAX - 10);
        let hi = lo + 20u32;
        assert!(lo.in_range(lo, hi));
        assert!(Seq(5).in_range(lo, hi));
        assert!(!hi.in_range(lo, hi));
        assert!(hi.in_closed_range(lo, hi));
        assert!(!Seq(100).in_range(lo, hi));
        // An empty range holds nothing.
        assert!(!lo.in_range(lo, lo));
    }

    #[test]
    fn arithmetic_never_panics() {
        for &x in &[0u32, 1, 0x7fff_ffff, 0x8000_0000, u32::MAX] {
            for &y in &[0u32, 1, 0x7fff_ffff, 0x8000_0000, u32::MAX] {
                let (s, t) = (Seq(x), Seq(y));
                let _ = (
                    s + y,
                    s - y,
                    s - t,
                    s.lt(t),
                    s.in_range(s, t),
                    s + usize::MAX,
                );
            }
        }
    }
}
