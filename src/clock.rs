//! The one seam for time: every wait and every expiry check of the library
//! goes through a [`Clock`], so tests of retries and token expiry take
//! milliseconds instead of minutes.

use std::fmt::Debug;
use std::time::{Duration, Instant};

/// A source of monotonic time that can also sleep.
///
/// The default is [`SystemClock`]. Tests substitute a clock whose `sleep`
/// only advances its `now`, through
/// [`InjectorBuilder::clock`](crate::InjectorBuilder::clock).
/// HTTP timeouts are not affected: they always run on real time.
pub trait Clock: Debug + Send + Sync {
    /// The current instant.
    fn now(&self) -> Instant;
    /// Blocks the calling thread for `duration`.
    fn sleep(&self, duration: Duration);
}

/// Real time: [`Instant::now`] and [`std::thread::sleep`]. The default clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, duration: Duration) {
        if !duration.is_zero() {
            std::thread::sleep(duration);
        }
    }
}

/// `now + d`, or a far-off instant when that would overflow (an
/// `expires_in` or a timeout of centuries must not panic).
pub(crate) fn later(now: Instant, d: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(d)
        .or_else(|| now.checked_add(CENTURY))
        .unwrap_or(now)
}
