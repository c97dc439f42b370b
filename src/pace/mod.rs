//! Pacing to the platform's budget: API requests are spaced so that no
//! 60-second window holds more than the budget (by default the platform's
//! 300 a minute per client-credentials token), instead of meeting the limit
//! as 429s. Shared by every thread of an injector and, with a state
//! directory, by every process on the host that uses the same token
//! (`pace-<hash>`, under `pace-<hash>.lock`).
//!
//! A token bucket: a burst of one second's worth (at least 1), refilled
//! evenly with the rest of the budget, so that any 60 s holds at most the
//! budget. A request takes a token, running into debt when there is none:
//! the debt, divided by the refill rate, is how long it waits. No debt
//! goes past a window's refill: a request that would take it further takes
//! nothing, waits until it could, and tries again, so that the budget is a
//! ceiling however many threads wait (they never all go when a window
//! ends). A line's typing indicator and message take their tokens
//! together, so that one is never sent without the other.
//!
//! The platform's `inin-ratelimit-*` headers describe its window, which
//! ends in `reset` seconds: `allowed` requests in it, `count` used. The
//! window's length is taken as the longest `reset` seen (at most a minute),
//! so `allowed` over a 2 s window is thirty times `allowed` a minute. A
//! budget the caller set is a ceiling the headers may lower, never raise;
//! the default one is a start the headers move up as well as down. A
//! window used up holds every request until its reset (at most a minute).
//! Whatever is read (headers, the pace file) is bounded by what the
//! platform could mean: a pace file in debt beyond one window, or stamped
//! in the future, is a miss with a warning. Knows nothing of HTTP but those
//! headers' values.

mod bucket;
mod file;
mod sender;

pub use sender::default_sender_rate;
pub(crate) use sender::Senders;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::state::StateDir;
use crate::sync::lock;
use bucket::Bucket;
use file::PaceFile;

/// The platform's default: `client.credentials.token.rate.per.minute`.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 300;

const WINDOW: Duration = Duration::from_secs(60);
/// How long a process waits for another's hold on the pace file before it
/// paces on its own.
const FILE_LOCK_WAIT: Duration = Duration::from_secs(2);

/// The `inin-ratelimit-*` headers of an answer, as far as they were given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    pub allowed: Option<u32>,
    pub count: Option<u32>,
    pub reset: Option<Duration>,
}

/// One injector's pacing.
#[derive(Debug)]
pub(crate) struct Pace {
    /// This process's bucket, on the injector's clock (nanoseconds after
    /// `origin`).
    local: Mutex<Bucket>,
    origin: Instant,
    /// With a state directory: the bucket every process of this token
    /// shares, on the wall clock (Unix nanoseconds).
    shared: Option<PaceFile>,
    /// The budget to start at.
    start: u32,
    /// Whether it is a ceiling (the caller set it): the headers may lower
    /// it, never raise it. Else they move it both ways.
    ceiling: bool,
    /// The platform's window, as long as the longest `reset` seen (at
    /// most a minute; zero before any).
    window: Mutex<Duration>,
    /// Where the platform's current window ends, as its answers narrow it
    /// down: after the first, before the second (nanoseconds on the
    /// injector's clock). `reset` is whole seconds, rounded up: each answer
    /// says the end is within the second before `now + reset`.
    window_end: Mutex<Option<(u64, u64)>>,
    /// Whether the platform's figures slowing the run has been said.
    told: std::sync::atomic::AtomicBool,
}

impl Pace {
    /// Pacing at `budget` requests a minute (a ceiling when `ceiling`,
    /// else a start the platform's headers move); shared through `state`
    /// under `key` (the token URL and client id) when given.
    pub fn new(
        budget: u32,
        ceiling: bool,
        clock: &dyn Clock,
        state: Option<(&StateDir, &str)>,
    ) -> Pace {
        Self::with(Bucket::full(budget, 0), ceiling, clock, state)
    }

    /// Pacing one request at a time, `per_minute / 60` a second evenly (a
    /// sender number's carrier): no burst.
    pub fn even(per_minute: u32, clock: &dyn Clock, state: Option<(&StateDir, &str)>) -> Pace {
        Self::with(Bucket::even(per_minute, 0), true, clock, state)
    }

    fn with(
        bucket: Bucket,
        ceiling: bool,
        clock: &dyn Clock,
        state: Option<(&StateDir, &str)>,
    ) -> Pace {
        let shared = state.map(|(state, key)| PaceFile::new(state, key, bucket.even));
        let budget = bucket.budget;
        Pace {
            local: Mutex::new(bucket),
            origin: clock.now(),
            shared,
            start: budget,
            ceiling,
            window: Mutex::new(Duration::ZERO),
            window_end: Mutex::new(None),
            told: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn local_now(&self, clock: &dyn Clock) -> u64 {
        u64::try_from(
            clock
                .now()
                .saturating_duration_since(self.origin)
                .as_nanos(),
        )
        .unwrap_or(u64::MAX)
    }

    /// The budget in force, in requests a minute.
    pub fn budget(&self) -> u32 {
        lock(&self.local).budget
    }

    /// Waits (on `clock`) until `n` more requests fit the budget (a line's
    /// typing indicator and message take theirs together). When that would
    /// be after `deadline`, or a stop cuts the wait short, gives the tokens
    /// back and returns false.
    pub fn take(&self, clock: &dyn Clock, n: u32, deadline: Option<Instant>) -> bool {
        let past = |wait: Duration| {
            !wait.is_zero() && deadline.is_some_and(|d| crate::clock::later(clock.now(), wait) > d)
        };
        loop {
            let mut shared = false;
            let taken = match &self.shared {
                Some(file) => {
                    let budget = lock(&self.local).budget;
                    match file.take(budget, n, clock) {
                        Some(taken) => {
                            shared = true;
                            taken
                        }
                        // The file cannot be used: pace this process alone.
                        None => lock(&self.local).take(self.local_now(clock), n),
                    }
                }
                None => lock(&self.local).take(self.local_now(clock), n),
            };
            let give_back = || match (&self.shared, shared) {
                (Some(file), true) => {
                    file.update(clock, |bucket, _| bucket.tokens += f64::from(n));
                }
                _ => lock(&self.local).tokens += f64::from(n),
            };
            match taken {
                Ok(wait) if past(wait) => {
                    give_back();
                    return false;
                }
                Ok(wait) => {
                    if wait.is_zero() {
                        return true;
                    }
                    log::debug!(target: "genesys_inject::gate", "pacing: next API request in {} ms", wait.as_millis());
                    if crate::clock::pause(clock, wait) {
                        return true;
                    }
                    give_back();
                    return false;
                }
                // More than a window of debt already: wait, then try again.
                Err(retry) => {
                    if past(retry) {
                        return false;
                    }
                    log::debug!(target: "genesys_inject::gate", "pacing: the window is spoken for; trying again in {} ms", retry.as_millis());
                    if !crate::clock::pause(clock, retry) {
                        return false;
                    }
                }
            }
        }
    }

    /// Adapts to the platform's `inin-ratelimit-*` headers: `allowed` and
    /// `count` describe the window that ends in `reset` seconds. An
    /// `allowed` of 0 or a `reset` past a minute mean nothing the platform
    /// could mean: the first is ignored, the second taken as a minute.
    pub fn observe(&self, limits: Limits, clock: &dyn Clock) {
        let Some(allowed) = limits.allowed.filter(|a| *a > 0) else {
            return;
        };
        let reset = limits.reset.map(|r| r.min(WINDOW));
        let window = {
            let mut window = lock(&self.window);
            *window = (*window)
                .max(reset.unwrap_or(WINDOW))
                .max(Duration::from_secs(1));
            *window
        };
        // `allowed` a window, as a budget a minute; a ceiling holds.
        let per_minute = (u64::from(allowed) * WINDOW.as_secs() / window.as_secs().max(1))
            .clamp(1, u64::from(u32::MAX)) as u32;
        let budget = if self.ceiling {
            self.start.min(per_minute)
        } else {
            per_minute
        };
        if budget < self.start && !self.told.swap(true, std::sync::atomic::Ordering::Relaxed) {
            log::warn!(target: "genesys_inject::gate", "the platform allows {allowed} requests every {} s: pacing at {budget} a minute, below the {} configured", window.as_secs(), self.start);
        }
        let left = limits.count.map(|count| allowed.saturating_sub(count));
        let now = self.local_now(clock);
        // How long until the window ends, from every answer that told of
        // it: a used-up window holds requests that long, not a whole
        // rounded-up second more.
        let reset = match reset {
            None => Duration::ZERO,
            Some(reset) => {
                let said = u64::try_from(reset.as_nanos()).unwrap_or(u64::MAX);
                let (a, b) = (
                    now.saturating_add(said).saturating_sub(1_000_000_000),
                    now.saturating_add(said),
                );
                let mut end = lock(&self.window_end);
                let (lo, hi) = match *end {
                    Some((lo, hi)) if a < hi && b > lo => (lo.max(a), hi.min(b)),
                    _ => (a, b),
                };
                *end = Some((lo, hi));
                Duration::from_nanos(hi.saturating_sub(now))
            }
        };
        lock(&self.local).observe(budget, left, reset, now);
        if let Some(file) = &self.shared {
            file.update(clock, |bucket, now| {
                bucket.observe(budget, left, reset, now)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(allowed: u32, count: u32, reset: u64) -> Limits {
        Limits {
            allowed: Some(allowed),
            count: Some(count),
            reset: Some(Duration::from_secs(reset)),
        }
    }

    fn budget(pace: &Pace) -> u32 {
        lock(&pace.local).budget
    }

    #[test]
    fn a_used_up_window_holds_until_its_reset() {
        let clock = crate::SystemClock;
        let pace = Pace::new(600, true, &clock, None);
        pace.observe(limits(600, 600, 7), &clock);
        let wait = lock(&pace.local).take(pace.local_now(&clock), 1).unwrap();
        assert!(wait >= Duration::from_millis(6900), "{wait:?}");
        assert!(wait < Duration::from_secs(8), "{wait:?}");
    }

    #[test]
    fn allowed_counts_in_its_window_and_the_configured_rate_is_a_ceiling() {
        let clock = crate::SystemClock;
        // 20 requests every 2 s is 600 a minute: not 20.
        let pace = Pace::new(600, true, &clock, None);
        for (count, reset) in [(3, 1), (9, 2), (12, 1)] {
            pace.observe(limits(20, count, reset), &clock);
        }
        assert_eq!(budget(&pace), 600);
        // --rate 30: a platform allowing 300 does not raise it.
        let pace = Pace::new(30, true, &clock, None);
        pace.observe(limits(300, 1, 60), &clock);
        assert_eq!(budget(&pace), 30);
        // A platform allowing fewer lowers it.
        let pace = Pace::new(300, true, &clock, None);
        pace.observe(limits(100, 1, 60), &clock);
        assert_eq!(budget(&pace), 100);
        // A used-up window holds requests until its end, as the answers
        // pin it down (reset is whole seconds, rounded up): said 2 s, then
        // 1 s half a second later, it ends within 1 s of the first.
        let pace = Pace::new(600, true, &clock, None);
        pace.observe(limits(20, 5, 2), &clock);
        std::thread::sleep(Duration::from_millis(50));
        let end = *lock(&pace.window_end);
        pace.observe(limits(20, 20, 1), &clock);
        let narrowed = *lock(&pace.window_end);
        assert!(
            narrowed.unwrap().1 <= end.unwrap().1 - 900_000_000,
            "{end:?} {narrowed:?}"
        );
        let wait = lock(&pace.local).take(pace.local_now(&clock), 1).unwrap();
        assert!(wait <= Duration::from_millis(1200), "{wait:?}");
        // The default budget is a start: the headers raise it too.
        let pace = Pace::new(300, false, &clock, None);
        pace.observe(limits(20, 3, 2), &clock);
        assert_eq!(budget(&pace), 600);
        pace.observe(limits(100, 1, 60), &clock);
        assert_eq!(budget(&pace), 100);
    }

    #[test]
    fn what_the_platform_could_not_mean_never_holds_a_request_past_a_minute() {
        let clock = crate::SystemClock;
        // allowed 0: ignored.
        let pace = Pace::new(300, true, &clock, None);
        pace.observe(limits(0, 0, 30), &clock);
        assert_eq!(
            lock(&pace.local).take(pace.local_now(&clock), 1),
            Ok(Duration::ZERO)
        );
        // A reset of 136 years: a minute at most, however often it comes.
        let pace = Pace::new(300, true, &clock, None);
        for _ in 0..5 {
            pace.observe(limits(300, 300, u64::from(u32::MAX)), &clock);
        }
        for _ in 0..50 {
            let (Ok(wait) | Err(wait)) = lock(&pace.local).take(pace.local_now(&clock), 1);
            assert!(wait <= WINDOW, "{wait:?}");
        }
    }
}
