//! The token bucket the pace keeps: a burst of one second's worth, refilled
//! evenly with the rest of the budget (or, `even`, no burst: one at a time,
//! evenly spaced, as a sender number's carrier counts); debt for requests
//! that wait, never past a window's refill. Pure arithmetic on a time line
//! of nanoseconds.

use std::time::Duration;

use super::WINDOW;

/// The bucket: tokens (negative: debt) at a moment.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bucket {
    pub tokens: f64,
    /// Nanoseconds on the bucket's time line (see [`Pace`]).
    pub at: u64,
    /// The budget per 60 s in force (the platform's `allowed` replaces the
    /// configured one).
    pub budget: u32,
    /// No burst: one request at a time, `budget / 60` a second evenly.
    pub even: bool,
}

impl Bucket {
    pub fn burst(&self) -> f64 {
        if self.even {
            1.0
        } else {
            f64::from((self.budget / 60).max(1))
        }
    }

    /// Tokens per nanosecond.
    pub fn refill(&self) -> f64 {
        let rest = if self.even {
            f64::from(self.budget)
        } else {
            (f64::from(self.budget) - self.burst()).max(1.0)
        };
        rest / WINDOW.as_nanos() as f64
    }

    pub fn full(budget: u32, now: u64) -> Bucket {
        let mut bucket = Bucket {
            tokens: 0.0,
            at: now,
            budget,
            even: false,
        };
        bucket.tokens = bucket.burst();
        bucket
    }

    /// As [`full`](Self::full), one at a time (`even`).
    pub fn even(budget: u32, now: u64) -> Bucket {
        Bucket {
            tokens: 1.0,
            at: now,
            budget,
            even: true,
        }
    }

    /// Takes `n` tokens at `now`: `Ok` how long to wait before the
    /// requests go (at most a window); `Err` how long until they could be
    /// taken without more than a window of debt (nothing taken).
    pub fn take(&mut self, now: u64, n: u32) -> Result<Duration, Duration> {
        self.refill_to(now);
        let after = self.tokens - f64::from(n);
        let floor = -self.window_debt();
        let refill = self.refill();
        if after < floor - 1e-9 {
            let short = floor - after;
            let wait = Duration::from_nanos((short / refill) as u64);
            return Err(wait.clamp(Duration::from_millis(1), WINDOW));
        }
        self.tokens = after;
        Ok(if after >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_nanos((-after / refill).ceil() as u64).min(WINDOW)
        })
    }

    /// The most debt that means anything: a whole window's refill.
    pub fn window_debt(&self) -> f64 {
        WINDOW.as_nanos() as f64 * self.refill()
    }

    /// Adds the tokens refilled since `at`, up to the burst, and moves `at`
    /// to `now` (never back).
    fn refill_to(&mut self, now: u64) {
        let elapsed = now.saturating_sub(self.at) as f64;
        self.tokens = (self.tokens + elapsed * self.refill()).min(self.burst());
        self.at = self.at.max(now);
    }

    /// The platform's figures, as [`Pace::observe`] read them: `budget`
    /// is in force from now; `left` requests remain in the window, which
    /// ends in `reset`.
    pub fn observe(&mut self, budget: u32, left: Option<u32>, reset: Duration, now: u64) {
        self.refill_to(now);
        self.budget = budget;
        match left {
            // Used up: nothing more until the reset (room left for the
            // one request that waits for it: no wait is longer than a
            // window).
            Some(0) => {
                let hold = reset.as_nanos() as f64 * self.refill();
                self.tokens = (self.tokens.min(0.0) - hold).max(1.0 - self.window_debt());
            }
            // Never more at once than the window has left.
            Some(left) => self.tokens = self.tokens.min(f64::from(left)),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    /// Requests at the times the bucket lets them go, one after another,
    /// from 0 on.
    fn schedule(bucket: &mut Bucket, n: usize) -> Vec<u64> {
        let mut at = 0;
        (0..n)
            .map(|_| loop {
                match bucket.take(at, 1) {
                    Ok(wait) => {
                        at += wait.as_nanos() as u64;
                        break at;
                    }
                    Err(retry) => at += retry.as_nanos() as u64,
                }
            })
            .collect()
    }

    /// Requests of `waiters` threads that all ask at 0 (as lines in flight
    /// do), each trying again when told to: when each goes.
    fn together(bucket: &mut Bucket, waiters: usize) -> Vec<u64> {
        // (when it asks next, who)
        let mut asking: Vec<u64> = vec![0; waiters];
        let mut sent = Vec::new();
        while !asking.is_empty() {
            asking.sort_unstable();
            let at = asking.remove(0);
            match bucket.take(at, 1) {
                Ok(wait) => sent.push(at + wait.as_nanos() as u64),
                Err(retry) => asking.push(at + retry.as_nanos() as u64),
            }
        }
        sent.sort_unstable();
        sent
    }

    fn most_in_a_window(times: &[u64]) -> usize {
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|t| **t < times[i] + 60 * SEC)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn the_rate_is_a_ceiling_however_many_lines_wait_together() {
        // --rate 12 with 32 in flight, --rate 20 with 64: each used to be
        // told "a minute" once the window was spoken for, and all went
        // together when it ended.
        for (budget, waiters) in [(12, 32), (20, 64), (300, 64), (1, 8)] {
            let mut bucket = Bucket::full(budget, 0);
            let times = together(&mut bucket, waiters);
            assert_eq!(times.len(), waiters);
            let most = most_in_a_window(&times);
            assert!(
                most <= budget as usize,
                "budget {budget}, {waiters} waiting: {most} in a minute"
            );
        }
        // Two tokens at once (typing and message): never more either.
        let mut bucket = Bucket::full(12, 0);
        let mut at = 0;
        let mut times = Vec::new();
        for _ in 0..20 {
            loop {
                match bucket.take(at, 2) {
                    Ok(wait) => {
                        at += wait.as_nanos() as u64;
                        times.extend([at, at]);
                        break;
                    }
                    Err(retry) => at += retry.as_nanos() as u64,
                }
            }
        }
        assert!(most_in_a_window(&times) <= 12);
    }

    #[test]
    fn no_sixty_seconds_hold_more_than_the_budget() {
        for budget in [1, 60, 300, 1000] {
            let mut bucket = Bucket::full(budget, 0);
            let times = schedule(&mut bucket, budget as usize * 3);
            for (i, start) in times.iter().enumerate() {
                let in_window = times[i..]
                    .iter()
                    .take_while(|t| **t < start + 60 * SEC)
                    .count();
                assert!(
                    in_window <= budget as usize,
                    "budget {budget}: {in_window} from {start}"
                );
            }
            // And it is used: after the burst, the rest of the budget goes
            // out evenly, (budget - burst) a minute.
            let burst = Bucket::full(budget, 0).burst();
            let rate = (f64::from(budget) - burst).max(1.0);
            let expected = (f64::from(budget) * 3.0 - burst) / rate * 60.0;
            let took = *times.last().unwrap() as f64 / SEC as f64;
            assert!(
                took <= expected + 0.001,
                "budget {budget}: {took} s, not {expected}"
            );
        }
    }

    #[test]
    fn an_even_bucket_never_sends_two_within_its_spacing() {
        // A sender number's pace: 1, 3 and 10 a second, however many wait.
        for per_second in [1u32, 3, 10] {
            let spacing = SEC / u64::from(per_second);
            for waiters in [1, 8] {
                let mut bucket = Bucket::even(per_second * 60, 0);
                let times = together(&mut bucket, waiters * 5);
                for pair in times.windows(2) {
                    assert!(
                        pair[1] - pair[0] >= spacing,
                        "{per_second}/s: {} ns apart",
                        pair[1] - pair[0]
                    );
                }
                // And no slower than the rate: n messages in (n - 1) spacings.
                let span = times.last().unwrap() - times[0];
                assert!(span <= (times.len() as u64 - 1) * spacing + 1000, "{span}");
            }
        }
    }
}
