//! When and how long to wait before trying a request again: the
//! [`RetryPolicy`], and the loop that applies it to any request.

use std::time::{Duration, SystemTime};

use crate::clock::Clock;
use crate::Error;

/// How the library retries a request that was refused with HTTP 429, or that
/// could not be sent at all.
///
/// The wait before retry number `n` (1-based) is the tutorial's formula:
/// `Retry-After × 2^(n-1)`, where `Retry-After` is the header's value
/// (whole seconds, or an HTTP date; `0` means no wait) or
/// [`default_retry_after`](Self::default_retry_after) when the header is
/// missing, negative, unreadable or a date in the past. Each wait is capped at
/// [`max_wait`](Self::max_wait); when the waits would add up to more than
/// [`max_total_wait`](Self::max_total_wait), the library stops and returns
/// [`Error::RateLimited`](crate::Error::RateLimited).
///
/// A message POST that was sent is never retried after a timeout or a lost
/// connection (that could post it twice); only requests that certainly did not
/// leave are retried, up to [`connect_retries`](Self::connect_retries) times.
///
/// ```
/// use std::time::Duration;
/// use genesys_inject::RetryPolicy;
/// let policy = RetryPolicy::default()
///     .max_retries(5)
///     .max_total_wait(Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) default_retry_after: Duration,
    pub(crate) max_wait: Duration,
    pub(crate) max_total_wait: Duration,
    pub(crate) connect_retries: u32,
    pub(crate) connect_backoff: Duration,
    pub(crate) retry_server_errors: bool,
    pub(crate) resolve_unknown: bool,
    /// How the look compares texts: set with `resolve_unknown`, so that a
    /// program that never looks links no normalization tables.
    pub(crate) matcher: Option<crate::look::TextMatch>,
    pub(crate) settle_time: Duration,
}

/// The default of [`RetryPolicy::settle_time`].
pub const DEFAULT_SETTLE_TIME: Duration = Duration::from_secs(30);

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            default_retry_after: Duration::from_secs(5),
            max_wait: Duration::from_secs(60),
            max_total_wait: Duration::from_secs(120),
            connect_retries: 2,
            connect_backoff: Duration::from_millis(200),
            retry_server_errors: false,
            resolve_unknown: false,
            matcher: None,
            settle_time: DEFAULT_SETTLE_TIME,
        }
    }
}

impl RetryPolicy {
    /// No retries at all: the first 429 or connection failure is returned.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            connect_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// Retries after a 429, not counting the first attempt. Default: 3 (the
    /// tutorial's), so 4 requests at most.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// The `Retry-After` assumed when the header is missing or unusable.
    /// Default: 5 s (the tutorial's).
    pub fn default_retry_after(mut self, d: Duration) -> Self {
        self.default_retry_after = d;
        self
    }

    /// The longest single wait, whatever the header says. Default: 60 s.
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.max_wait = d;
        self
    }

    /// The most time one call may spend waiting in all. Default: 120 s.
    pub fn max_total_wait(mut self, d: Duration) -> Self {
        self.max_total_wait = d;
        self
    }

    /// Retries of a request that could not be sent (DNS failure, connect
    /// timeout, a connection refused, or reset or closed before the request
    /// was completely written), each after `backoff × 2^(n-1)`.
    /// Default: 2 retries, 200 ms backoff.
    pub fn connect_retries(mut self, n: u32, backoff: Duration) -> Self {
        self.connect_retries = n;
        self.connect_backoff = backoff;
        self
    }

    /// Also retry (as after a 429) a 500 or 503 whose body is a Genesys error
    /// body, which says the platform refused the message. A 502 or 504 (or a
    /// 5xx without a Genesys body) is never retried: the message may have
    /// been delivered. Default: false.
    pub fn retry_server_errors(mut self, yes: bool) -> Self {
        self.retry_server_errors = yes;
        self
    }

    /// When the message call ends with an outcome unknown (a timeout or
    /// reset after it was sent, a 502/504), look for the message in the
    /// conversation ([`Injector::resolve`](crate::Injector::resolve)); when
    /// it is not there, look again once the
    /// [settling time](Self::settle_time) has passed since the attempt,
    /// and send it again only when that look proves it absent, at most
    /// [`connect_retries`](Self::connect_retries) times; every look after
    /// a resend covers every attempt. A message that already settles
    /// another injection of this injector (its answer named it, or a look
    /// took it) is not taken for this one. When the answers cannot prove
    /// it absent, the error stays "outcome unknown" and nothing more is
    /// sent. The [`Receipt`](crate::Receipt) of a message found says
    /// `resolved`. A platform that takes longer than the settling time to
    /// list a message gets it again, up to 1 + `connect_retries` copies in
    /// all (3 by default); no client can close that gap, as Genesys has no
    /// idempotency key on messaging routes. Communication route only: the
    /// agentless route's lost answer was the only place that named the
    /// conversation. Needs the permission `conversation:message:view` (or
    /// `conversation:webmessaging:view`). Default: false.
    pub fn resolve_unknown(mut self, yes: bool) -> Self {
        self.resolve_unknown = yes;
        self.matcher = yes.then_some(crate::look::TextMatch::NFC);
        self
    }

    /// How long the platform may take to list a message it received (on
    /// its clock): a look for a lost message proves it absent only this
    /// long after the attempt, and waits for it when it comes sooner.
    /// Shared by [`resolve_unknown`](Self::resolve_unknown), a batch's
    /// settling of a line an earlier run left
    /// ([`Injector::inject_batch`](crate::Injector::inject_batch)) and
    /// [`Injector::resolve`](crate::Injector::resolve). Default:
    /// [`DEFAULT_SETTLE_TIME`] (30 s).
    pub fn settle_time(mut self, d: Duration) -> Self {
        self.settle_time = d;
        self
    }

    /// The wait before retry number `retry` (1-based), given the parsed
    /// `Retry-After` (`None` when missing or unusable). Never more than
    /// `max_wait`.
    pub(crate) fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        doubled(retry_after.unwrap_or(self.default_retry_after), retry).min(self.max_wait)
    }

    pub(crate) fn connect_backoff(&self, retry: u32) -> Duration {
        doubled(self.connect_backoff, retry).min(self.max_wait)
    }
}

/// `base × 2^(n-1)` for the `n`th retry (1-based), saturating.
pub(crate) fn doubled(base: Duration, n: u32) -> Duration {
    let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(Duration::MAX)
}

/// Reads a `Retry-After` value: whole seconds or an HTTP date. `None` for a
/// value that is missing, negative, not a number, or a date not in the future.
pub(crate) fn parse_retry_after(value: Option<&str>, now: SystemTime) -> Option<Duration> {
    let value = value?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    date.duration_since(now).ok().filter(|d| !d.is_zero())
}

/// One try of a request, as judged by the caller of [`with_retries`].
pub(crate) enum Attempt<T> {
    /// Finished: success or a final error.
    Done(Result<T, Error>),
    /// Refused for now (429, or an error the policy retries): wait as the
    /// policy says and try again; `error` is returned when it allows no more.
    Throttled {
        retry_after: Option<Duration>,
        error: Error,
    },
    /// Did not leave this process: retry after the connect backoff.
    NotSent(Error),
    /// Try again at once (the token was refreshed after a 401).
    Again,
}

/// Runs `attempt` until it is done or the policy allows no more tries,
/// sleeping between tries through `clock`.
pub(crate) fn with_retries<T>(
    policy: &RetryPolicy,
    clock: &dyn Clock,
    mut attempt: impl FnMut() -> Attempt<T>,
) -> Result<T, Error> {
    let (mut throttled, mut not_sent, mut waited) = (0u32, 0u32, Duration::ZERO);
    loop {
        let (wait, error) = match attempt() {
            Attempt::Done(result) => return result,
            Attempt::Again => continue,
            Attempt::Throttled { retry_after, error } => {
                throttled += 1;
                if throttled > policy.max_retries {
                    return Err(error);
                }
                (policy.backoff(throttled, retry_after), error)
            }
            Attempt::NotSent(error) => {
                not_sent += 1;
                if not_sent > policy.connect_retries {
                    return Err(error);
                }
                (policy.connect_backoff(not_sent), error)
            }
        };
        if waited.saturating_add(wait) > policy.max_total_wait {
            log::warn!(target: "genesys_inject::transport", "giving up: waiting {wait:?} more would exceed the retry policy's total of {:?}", policy.max_total_wait);
            return Err(error);
        }
        waited += wait;
        log::info!(target: "genesys_inject::transport", "retrying in {} ms: {error}", wait.as_millis());
        // A stop (a batch's) cuts the wait short: the last error stands.
        if !crate::clock::pause(clock, wait) {
            return Err(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tutorial_formula() {
        let p = RetryPolicy::default();
        let ra = Some(Duration::from_secs(2));
        assert_eq!(p.backoff(1, ra), Duration::from_secs(2));
        assert_eq!(p.backoff(2, ra), Duration::from_secs(4));
        assert_eq!(p.backoff(3, ra), Duration::from_secs(8));
        assert_eq!(p.backoff(1, None), Duration::from_secs(5));
        assert_eq!(p.backoff(3, None), Duration::from_secs(20));
        assert_eq!(p.backoff(1, Some(Duration::ZERO)), Duration::ZERO);
    }

    #[test]
    fn waits_are_capped() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.backoff(1, Some(Duration::from_secs(99_999))),
            Duration::from_secs(60)
        );
        assert_eq!(
            p.backoff(40, Some(Duration::from_secs(1))),
            Duration::from_secs(60)
        );
        assert_eq!(p.connect_backoff(1), Duration::from_millis(200));
        assert_eq!(p.connect_backoff(2), Duration::from_millis(400));
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after(Some("42"), now),
            Some(Duration::from_secs(42))
        );
        assert_eq!(parse_retry_after(Some(" 0 "), now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after(None, now), None);
        assert_eq!(parse_retry_after(Some("-3"), now), None);
        assert_eq!(parse_retry_after(Some("soon"), now), None);
        assert_eq!(parse_retry_after(Some("1.5"), now), None);
        let future = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(Some(&future), now),
            Some(Duration::from_secs(30))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(Some(&past), now), None);
    }
}
