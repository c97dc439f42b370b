//! The rate-limit gate: after a 429, every API call of the injector waits
//! until the platform's `Retry-After` instant. Knows nothing of HTTP.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::clock::Clock;

/// Shared by every thread of one injector: after a 429, every API call waits
/// until the platform's `Retry-After` instant instead of finding the limit on
/// its own. Counts its closings (a batch's lines in flight shrink after
/// one).
///
/// The instant is kept as nanoseconds after `origin` in one atomic (0: open),
/// so the check every call makes is a single load.
#[derive(Debug)]
pub(crate) struct Gate {
    origin: Instant,
    closed_until: AtomicU64,
    /// How many 429s closed it (or kept it closed).
    closings: AtomicU64,
}

impl Gate {
    pub fn new(clock: &dyn Clock) -> Self {
        Gate {
            origin: clock.now(),
            closed_until: AtomicU64::new(0),
            closings: AtomicU64::new(0),
        }
    }

    /// Nanoseconds after `origin`, plus 1 so that no instant encodes as 0
    /// (which means open).
    fn offset(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.origin).as_nanos())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    /// Closes the gate until `until` (or later, if it is already closed longer).
    pub fn close(&self, until: Instant, clock: &dyn Clock) {
        let until = self.offset(until);
        self.closings.fetch_add(1, Ordering::Relaxed);
        let before = self.closed_until.fetch_max(until, Ordering::AcqRel);
        if before == 0 {
            log::info!(target: "genesys_inject::gate", "rate limited: holding API calls for {} ms", Duration::from_nanos(until.saturating_sub(self.offset(clock.now()))).as_millis());
        }
    }

    /// How many 429s have closed the gate so far.
    pub fn closings(&self) -> u64 {
        self.closings.load(Ordering::Relaxed)
    }

    /// Whether the pause (if any) is over by `deadline`.
    pub fn open_by(&self, deadline: Instant) -> bool {
        let until = self.closed_until.load(Ordering::Acquire);
        until == 0 || self.offset(deadline) >= until
    }

    pub fn is_closed(&self, clock: &dyn Clock) -> bool {
        let until = self.closed_until.load(Ordering::Acquire);
        until != 0 && self.offset(clock.now()) < until
    }

    /// Blocks until the gate is open, unless it stays closed past
    /// `deadline`: then returns false at once, without waiting.
    pub fn wait_until(&self, clock: &dyn Clock, deadline: Option<Instant>) -> bool {
        if let Some(deadline) = deadline {
            let until = self.closed_until.load(Ordering::Acquire);
            if until != 0 && self.offset(deadline) < until {
                return false;
            }
        }
        self.wait(clock)
    }

    /// Blocks until the gate is open; `false` when a stop cut the wait
    /// short (`clock::pause`).
    pub fn wait(&self, clock: &dyn Clock) -> bool {
        loop {
            let until = self.closed_until.load(Ordering::Acquire);
            if until == 0 {
                return true;
            }
            let now = self.offset(clock.now());
            if now >= until {
                // Whoever reopens it says so, once.
                if self
                    .closed_until
                    .compare_exchange(until, 0, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    log::info!(target: "genesys_inject::gate", "rate-limit pause over: API calls resume");
                }
                return true;
            }
            if !crate::clock::pause(clock, Duration::from_nanos(until - now)) {
                return false;
            }
        }
    }
}
