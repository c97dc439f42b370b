//! How many lines are in flight at once: fixed by the caller, or enough to
//! keep the budget busy at the round trip observed (the budget a second
//! times the round trip, a quarter more), halved after each 429 and grown
//! back slowly. Each line takes a place before it starts and gives it back
//! when it finishes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::sync::lock;
#[cfg(test)]
use crate::Clock;
use crate::Injector;

use super::options::{BatchOptions, DEFAULT_PARALLEL, MAX_PARALLEL};

/// Lines finished without a 429 before the cap grows by one again.
const CALM: usize = 8;

/// The places of lines in flight.
pub(super) struct Flight {
    /// `None`: adapting.
    fixed: Option<usize>,
    state: Mutex<State>,
    freed: Condvar,
    /// The caller's count of lines in flight.
    count: Option<std::sync::Arc<AtomicUsize>>,
}

struct State {
    limit: usize,
    used: usize,
    /// What 429s allow (halved after each).
    cap: usize,
    /// The gate's closings seen so far.
    closings: u64,
    /// Lines finished since the last 429.
    calm: usize,
}

impl Flight {
    #[inline]
    pub fn new(options: &BatchOptions) -> Flight {
        let start = options.parallel.unwrap_or(DEFAULT_PARALLEL);
        Flight {
            fixed: options.parallel,
            state: Mutex::new(State {
                limit: start,
                used: 0,
                cap: MAX_PARALLEL,
                closings: 0,
                calm: 0,
            }),
            freed: Condvar::new(),
            count: options.in_flight.clone(),
        }
    }

    /// The most threads that can ever be in flight.
    #[inline]
    pub fn threads(&self, lines: usize) -> usize {
        self.fixed.unwrap_or(MAX_PARALLEL).clamp(1, lines.max(1))
    }

    /// Waits for a place; `false` when `give_up` says so meanwhile (the
    /// batch stopped).
    #[inline]
    pub fn enter(&self, give_up: impl Fn() -> bool) -> bool {
        let mut state = lock(&self.state);
        loop {
            if give_up() {
                return false;
            }
            if state.used < state.limit {
                state.used += 1;
                if let Some(count) = &self.count {
                    count.fetch_add(1, Ordering::SeqCst);
                }
                return true;
            }
            state = match self.freed.wait_timeout(state, Duration::from_millis(100)) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Gives a place back, and (adapting) sets the limit from `injector`'s
    /// budget, round trip and 429s.
    #[inline]
    pub fn leave(&self, injector: &Injector) {
        let mut state = lock(&self.state);
        state.used -= 1;
        if let Some(count) = &self.count {
            count.fetch_sub(1, Ordering::SeqCst);
        }
        if self.fixed.is_none() {
            let closings = injector.rate_limited_times();
            if closings > state.closings {
                state.closings = closings;
                state.cap = (state.limit / 2).max(1);
                state.calm = 0;
            } else {
                state.calm += 1;
                if state.calm >= CALM {
                    state.calm = 0;
                    state.cap = (state.cap + 1).min(MAX_PARALLEL);
                }
            }
            state.limit = target(injector.budget(), injector.round_trip()).min(state.cap);
        }
        drop(state);
        self.freed.notify_all();
    }
}

/// Lines in flight that keep `budget` requests a minute busy at a round
/// trip of `rtt`: each line makes its requests one after another, so the
/// budget a second times the round trip, and a quarter more; 1 to
/// [`MAX_PARALLEL`]. Without pacing or a round trip yet: where it starts.
#[inline]
pub(super) fn target(budget: Option<u32>, rtt: Option<Duration>) -> usize {
    let (Some(budget), Some(rtt)) = (budget, rtt) else {
        return DEFAULT_PARALLEL;
    };
    let lines = f64::from(budget) / 60.0 * rtt.as_secs_f64() * 1.25;
    (lines.ceil() as usize).clamp(1, MAX_PARALLEL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lines_in_flight_follow_the_budget_and_the_round_trip() {
        let ms = Duration::from_millis;
        // 300 a minute at 600 ms: 5 × 0.6 × 1.25 = 3.75.
        assert_eq!(target(Some(300), Some(ms(600))), 4);
        assert_eq!(target(Some(600), Some(ms(600))), 8);
        assert_eq!(target(Some(300), Some(ms(5))), 1);
        assert_eq!(target(Some(60_000), Some(ms(900))), MAX_PARALLEL);
        assert_eq!(target(None, Some(ms(600))), DEFAULT_PARALLEL);
        assert_eq!(target(Some(300), None), DEFAULT_PARALLEL);
    }

    #[test]
    fn a_429_halves_the_lines_in_flight_and_calm_grows_them_back() {
        let injector = Injector::builder()
            .credentials("id", "secret")
            .no_state_dir()
            .requests_per_minute(Some(6000))
            .build()
            .unwrap();
        // 100 requests a second at 300 ms: 38 lines.
        injector.round_trip_was(Duration::from_millis(300));
        let flight = Flight::new(&BatchOptions::new());
        let limit = || lock(&flight.state).limit;
        let one_line = || {
            assert!(flight.enter(|| false));
            flight.leave(&injector);
        };
        one_line();
        assert_eq!(limit(), 38);
        let clock = crate::SystemClock;
        injector
            .gate
            .close(clock.now() + Duration::from_millis(1), &clock);
        one_line();
        assert_eq!(limit(), 19);
        injector
            .gate
            .close(clock.now() + Duration::from_millis(1), &clock);
        one_line();
        assert_eq!(limit(), 9);
        for _ in 0..CALM {
            one_line();
        }
        assert_eq!(limit(), 10);
    }
}
