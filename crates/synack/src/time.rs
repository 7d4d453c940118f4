//! Virtual time for the sans-IO engine.
//!
//! The engine never reads a clock: every entry point takes `now: Instant`. An [`Instant`] is
//! a count of nanoseconds since an arbitrary epoch chosen by the driver (the simulator starts
//! at zero; real drivers map a monotonic clock onto it).

use core::fmt;
use core::num::NonZeroU64;
use core::ops::{Add, AddAssign, Sub};
pub use core::time::Duration;

/// A point in (virtual or real) time, in nanoseconds since the driver's epoch.
///
/// Stored as nanoseconds plus one in a `NonZeroU64`, so `Option<Instant>` (a deadline that
/// may be unset) takes 8 bytes instead of 16; the cost is that the latest instant,
/// [`Instant::MAX`], is `u64::MAX - 1` nanoseconds (about 584 years).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(NonZeroU64);

impl Default for Instant {
    fn default() -> Instant {
        Instant::ZERO
    }
}

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant(NonZeroU64::MIN);
    /// The latest representable instant (`u64::MAX - 1` ns); used as "never".
    pub const MAX: Instant = Instant(NonZeroU64::MAX);

    /// An instant `ns` nanoseconds after the epoch (saturating at [`Instant::MAX`]).
    pub const fn from_nanos(ns: u64) -> Instant {
        Instant(NonZeroU64::MIN.saturating_add(ns))
    }
    /// An instant `us` microseconds after the epoch.
    pub const fn from_micros(us: u64) -> Instant {
        Instant::from_nanos(us.saturating_mul(1_000))
    }
    /// An instant `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Instant {
        Instant::from_nanos(ms.saturating_mul(1_000_000))
    }
    /// An instant `s` seconds after the epoch.
    pub const fn from_secs(s: u64) -> Instant {
        Instant::from_nanos(s.saturating_mul(1_000_000_000))
    }
    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0.get() - 1
    }
    /// Microseconds since the epoch (truncated).
    pub const fn as_micros(self) -> u64 {
        self.as_nanos() / 1_000
    }
    /// Milliseconds since the epoch (truncated).
    pub const fn as_millis(self) -> u64 {
        self.as_nanos() / 1_000_000
    }
    /// Time elapsed since `earlier`, or zero if `earlier` is later than `self`.
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.get().saturating_sub(earlier.0.get()))
    }
    /// `self + d`, saturating at [`Instant::MAX`].
    pub fn saturating_add(self, d: Duration) -> Instant {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(ns))
    }
}

impl Instant {
    /// `self + ns` nanoseconds, saturating: the same as adding `Duration::from_nanos(ns)`
    /// without converting to and from a `Duration`.
    #[inline]
    pub(crate) fn saturating_add_nanos(self, ns: u64) -> Instant {
        Instant(self.0.saturating_add(ns))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = self.saturating_add(d);
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating: an earlier minus a later instant is zero.
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Instant {
    /// Seconds with microsecond precision, like tcpdump's `-ttt` style: `12.000345`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.as_nanos();
        write!(f, "{}.{:06}", ns / 1_000_000_000, (ns / 1_000) % 1_000_000)
    }
}

/// A duration stored in 8 bytes (`Duration` takes 16): whole nanoseconds, saturating at
/// `u64::MAX` (584 years, beyond anything an `Instant` can be offset by, since
/// `Instant + Duration` saturates there too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct Nanos(u64);

impl Nanos {
    /// Stores `d`.
    #[inline]
    pub(crate) fn new(d: Duration) -> Nanos {
        Nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    /// The stored duration.
    #[inline]
    pub(crate) fn get(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// The stored duration in whole nanoseconds.
    #[inline]
    pub(crate) fn nanos(self) -> u64 {
        self.0
    }

    /// Stores `ns` nanoseconds.
    #[inline]
    pub(crate) fn from_nanos(ns: u64) -> Nanos {
        Nanos(ns)
    }
}

/// `d` in whole nanoseconds, saturating at `u64::MAX`.
#[inline]
pub(crate) fn nanos_of(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// An optional duration stored in 8 bytes (`Option<Duration>` takes 16): as [`Nanos`],
/// with `u64::MAX` for none (a present duration saturates one nanosecond below it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OptNanos(u64);

impl Default for OptNanos {
    fn default() -> OptNanos {
        OptNanos(u64::MAX)
    }
}

impl OptNanos {
    /// Stores `d`.
    #[inline]
    pub(crate) fn new(d: Option<Duration>) -> OptNanos {
        OptNanos(d.map_or(u64::MAX, |d| {
            u64::try_from(d.as_nanos()).map_or(u64::MAX - 1, |n| n.min(u64::MAX - 1))
        }))
    }

    /// The stored duration, if any.
    #[inline]
    pub(crate) fn get(self) -> Option<Duration> {
        (self.0 != u64::MAX).then(|| Duration::from_nanos(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let a = Instant::from_millis(1500);
        assert_eq!(a + Duration::from_millis(500), Instant::from_secs(2));
        assert_eq!(Instant::ZERO - a, Duration::ZERO);
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert_eq!(a.to_string(), "1.500000");
        assert_eq!(Instant::from_nanos(u64::MAX), Instant::MAX);
        assert_eq!(Instant::MAX.as_nanos(), u64::MAX - 1);
        assert_eq!(Instant::ZERO.as_nanos(), 0);
        assert_eq!(Instant::default(), Instant::ZERO);
    }

    #[test]
    fn optional_instant_is_one_word() {
        assert_eq!(core::mem::size_of::<Option<Instant>>(), 8);
    }
}
