//! The core's time: CLOCK_BOOTTIME, so time spent suspended counts toward backoff and
//! grace periods. Its origin is the clock's own, so timerfd deadlines are absolute.

use std::time::Duration;

use nix::time::{ClockId, clock_gettime};

use crate::core::Instant;

pub(super) fn now() -> Instant {
    let now = clock_gettime(ClockId::CLOCK_BOOTTIME).expect("CLOCK_BOOTTIME is readable on Linux");
    Instant::from_duration(Duration::from(now))
}
