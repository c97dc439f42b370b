//! The one seam for time: every wait and every expiry check of the library
//! goes through a [`Clock`], so tests of retries and token expiry take
//! milliseconds instead of minutes. A wait that a stop must cut short (a
//! batch's lines, on threads that carry the batch's stop flag) goes
//! through [`pause`].

use std::cell::RefCell;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

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
    /// The wall-clock time: what a batch's send windows, expiry and
    /// recipient gaps are read against. A test clock moves it with its
    /// sleeps. Default: [`SystemTime::now`].
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
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

/// The longest slice of a wait that a stop may cut short: a stop is
/// noticed within it.
const STOP_SLICE: Duration = Duration::from_millis(100);

thread_local! {
    /// The stop flag of the batch whose line this thread runs, if any.
    static STOP: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
}

/// Makes the waits of this thread stop when `flag` is set (a batch's
/// worker), or never (`None`).
pub(crate) fn stop_with(flag: Option<Arc<AtomicBool>>) {
    STOP.with(|s| *s.borrow_mut() = flag);
}

/// Waits `d` on `clock`, unless this thread's batch is asked to stop
/// meanwhile: then returns `false` within [`STOP_SLICE`] (the wait is cut
/// short). On a thread with no stop flag, one sleep.
pub(crate) fn pause(clock: &dyn Clock, d: Duration) -> bool {
    let flag = STOP.with(|s| s.borrow().clone());
    let Some(flag) = flag else {
        clock.sleep(d);
        return true;
    };
    let end = later(clock.now(), d);
    loop {
        if flag.load(Ordering::SeqCst) {
            return false;
        }
        let left = end.saturating_duration_since(clock.now());
        if left.is_zero() {
            return true;
        }
        clock.sleep(left.min(STOP_SLICE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_cuts_a_wait_short_on_its_thread_only() {
        let flag = Arc::new(AtomicBool::new(false));
        let setter = flag.clone();
        let waited = std::thread::scope(|s| {
            let worker = s.spawn(move || {
                stop_with(Some(flag));
                pause(&SystemClock, Duration::from_secs(30))
            });
            std::thread::sleep(Duration::from_millis(50));
            setter.store(true, Ordering::SeqCst);
            worker.join().unwrap()
        });
        // Cut short: a 30 s wait said it did not end.
        assert!(!waited);
        // Another thread: no flag, an ordinary wait.
        assert!(pause(&SystemClock, Duration::from_millis(1)));
    }
}
