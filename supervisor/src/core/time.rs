//! Time as the core sees it: a value handed in by the caller, never read from a clock.

use std::ops::Add;
use std::time::Duration;

/// A point on a monotonic clock, as the time since an origin the daemon picks
/// (CLOCK_BOOTTIME, so that time spent suspended counts toward backoff).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(Duration);

impl Instant {
    pub const fn from_millis(ms: u64) -> Instant {
        Instant(Duration::from_millis(ms))
    }

    pub const fn from_duration(since_origin: Duration) -> Instant {
        Instant(since_origin)
    }

    pub const fn since_origin(self) -> Duration {
        self.0
    }

    /// Time from `earlier` to self; zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    fn add(self, later: Duration) -> Instant {
        Instant(self.0.saturating_add(later))
    }
}
