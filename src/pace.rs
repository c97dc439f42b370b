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

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::clock::Clock;
use crate::state::{lock_within, write_replacing, StateDir, Turn};
use crate::sync::lock;

/// The platform's default: `client.credentials.token.rate.per.minute`.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 300;

const WINDOW: Duration = Duration::from_secs(60);
/// How long a process waits for another's hold on the pace file before it
/// paces on its own.
const FILE_LOCK_WAIT: Duration = Duration::from_secs(2);

/// The bucket: tokens (negative: debt) at a moment.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    /// Nanoseconds on the bucket's time line (see [`Pace`]).
    at: u64,
    /// The budget per 60 s in force (the platform's `allowed` replaces the
    /// configured one).
    budget: u32,
}

impl Bucket {
    fn burst(budget: u32) -> f64 {
        f64::from((budget / 60).max(1))
    }

    /// Tokens per nanosecond.
    fn refill(budget: u32) -> f64 {
        let rest = (f64::from(budget) - Self::burst(budget)).max(1.0);
        rest / WINDOW.as_nanos() as f64
    }

    fn full(budget: u32, now: u64) -> Bucket {
        Bucket {
            tokens: Self::burst(budget),
            at: now,
            budget,
        }
    }

    /// Takes `n` tokens at `now`: `Ok` how long to wait before the
    /// requests go (at most a window); `Err` how long until they could be
    /// taken without more than a window of debt (nothing taken).
    fn take(&mut self, now: u64, n: u32) -> Result<Duration, Duration> {
        self.refill_to(now);
        let after = self.tokens - f64::from(n);
        let floor = -self.window_debt();
        let refill = Self::refill(self.budget);
        if after < floor - 1e-9 {
            let short = floor - after;
            let wait = Duration::from_nanos((short / refill) as u64);
            return Err(wait.clamp(Duration::from_millis(1), WINDOW));
        }
        self.tokens = after;
        Ok(if after >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_nanos((-after / refill) as u64).min(WINDOW)
        })
    }

    /// The most debt that means anything: a whole window's refill.
    fn window_debt(&self) -> f64 {
        WINDOW.as_nanos() as f64 * Self::refill(self.budget)
    }

    /// Adds the tokens refilled since `at`, up to the burst, and moves `at`
    /// to `now` (never back).
    fn refill_to(&mut self, now: u64) {
        let elapsed = now.saturating_sub(self.at) as f64;
        self.tokens =
            (self.tokens + elapsed * Self::refill(self.budget)).min(Self::burst(self.budget));
        self.at = self.at.max(now);
    }

    /// The platform's figures, as [`Pace::observe`] read them: `budget`
    /// is in force from now; `left` requests remain in the window, which
    /// ends in `reset`.
    fn observe(&mut self, budget: u32, left: Option<u32>, reset: Duration, now: u64) {
        self.refill_to(now);
        self.budget = budget;
        match left {
            // Used up: nothing more until the reset (room left for the
            // one request that waits for it: no wait is longer than a
            // window).
            Some(0) => {
                let hold = reset.as_nanos() as f64 * Self::refill(budget);
                self.tokens = (self.tokens.min(0.0) - hold).max(1.0 - self.window_debt());
            }
            // Never more at once than the window has left.
            Some(left) => self.tokens = self.tokens.min(f64::from(left)),
            None => {}
        }
    }
}

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

#[derive(Debug)]
struct PaceFile {
    dir: PathBuf,
    name: String,
    lock: PathBuf,
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
        let shared = state.map(|(state, key)| {
            let hash = crate::state::fnv1a(key.as_bytes());
            PaceFile {
                dir: state.path().to_owned(),
                name: format!("pace-{hash:016x}"),
                lock: state.path().join(format!("pace-{hash:016x}.lock")),
            }
        });
        Pace {
            local: Mutex::new(Bucket::full(budget, 0)),
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl PaceFile {
    /// Takes `n` tokens from the shared bucket (as [`Bucket::take`]);
    /// `None` when the file cannot be used (then the caller paces alone).
    fn take(&self, budget: u32, n: u32, clock: &dyn Clock) -> Option<Result<Duration, Duration>> {
        let mut taken = None;
        self.update(clock, |bucket, now| {
            bucket.budget = budget;
            taken = Some(bucket.take(now, n));
        })?;
        taken
    }

    /// Reads the bucket, lets `change` change it, writes it back, all under
    /// the lock. A missing or damaged file starts a full bucket.
    fn update(&self, clock: &dyn Clock, change: impl FnOnce(&mut Bucket, u64)) -> Option<()> {
        let _held = match lock_within(&self.lock, FILE_LOCK_WAIT, clock) {
            Ok(Turn::First(held)) => held,
            Ok(Turn::AfterAnother) => match crate::state::try_lock(&self.lock) {
                Ok(Some(held)) => held,
                _ => return None,
            },
            Ok(Turn::TimedOut) | Err(_) => return None,
        };
        let now = unix_now();
        let path = self.dir.join(&self.name);
        // Three integers: micro-tokens (negative: debt), the time (Unix
        // nanoseconds) and the budget. A missing or damaged file starts a
        // full bucket.
        let stored = crate::state::read_private(&path).ok().and_then(|bytes| {
            let text = String::from_utf8(bytes).ok()?;
            let mut fields = text.split_whitespace();
            let micro: i64 = fields.next()?.parse().ok()?;
            let at: u64 = fields.next()?.parse().ok()?;
            let budget: u32 = fields.next()?.parse().ok()?;
            (budget > 0).then_some(Bucket {
                tokens: micro as f64 / 1e6,
                at,
                budget,
            })
        });
        // In debt beyond a window, or stamped more than a second ahead (a
        // clock since stepped back): nothing the platform could mean.
        let stored = stored.filter(|bucket| {
            let sane = bucket.tokens >= -bucket.window_debt() - 1.0
                && bucket.at <= now.saturating_add(1_000_000_000);
            if !sane {
                log::warn!(target: "genesys_inject::gate", "pace file {}: in debt beyond a minute or stamped in the future: ignored", path.display());
            }
            sane
        });
        let mut bucket = stored.unwrap_or_else(|| Bucket::full(DEFAULT_REQUESTS_PER_MINUTE, now));
        change(&mut bucket, now);
        let micro = (bucket.tokens * 1e6) as i64;
        let body = format!("{micro} {} {}\n", bucket.at, bucket.budget);
        // Not synced: a pace file lost in a crash only means a full bucket.
        write_replacing(&self.dir, &self.name, body.as_bytes(), false).ok()?;
        Some(())
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
            let rate = (f64::from(budget) - Bucket::burst(budget)).max(1.0);
            let expected = (f64::from(budget) * 3.0 - Bucket::burst(budget)) / rate * 60.0;
            let took = *times.last().unwrap() as f64 / SEC as f64;
            assert!(
                took <= expected + 0.001,
                "budget {budget}: {took} s, not {expected}"
            );
        }
    }

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

    #[test]
    fn a_pace_file_in_debt_beyond_a_window_or_from_the_future_is_a_miss() {
        let dir = crate::state::tests::scratch("pace");
        let state = StateDir::open(&dir).unwrap();
        let clock = crate::SystemClock;
        let pace = Pace::new(300, true, &clock, Some((&state, "key")));
        let file = pace.shared.as_ref().unwrap();
        let now = unix_now();
        let hour = 3_600_000_000_000u64;
        for body in [
            // 136 years of debt.
            format!("{} {now} 300\n", -1_286_000_000_000_000_000i64),
            // Stamped an hour ahead.
            format!("-3000000 {} 300\n", now + hour),
        ] {
            std::fs::write(dir.join(&file.name), body).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(
                    dir.join(&file.name),
                    std::fs::Permissions::from_mode(0o600),
                )
                .unwrap();
            }
            let wait = file.take(300, 1, &clock).unwrap().unwrap();
            assert!(wait < Duration::from_secs(1), "{wait:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
