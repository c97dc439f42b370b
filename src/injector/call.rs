//! One API call: the rate-limit gate, the token, the pace, one HTTP
//! exchange, a 401 refresh and the retry policy's 429 retries. Every API
//! request of the crate goes through [`Injector::call`]. Knows no route's
//! body and reads no answer beyond its status and headers.

use std::time::{Duration, Instant};

use crate::clock::later;
use crate::http::Answer;
use crate::retry::{with_retries, Attempt};
use crate::sync::lock;
use crate::{Error, Injector, Outcome, RetryPolicy};

/// Called just before a message request leaves, with the communication it
/// is sent as (`None`: agentless) and the platform's time; `false` stops
/// the request (it is then not sent).
pub(crate) type BeforeSend<'a> = &'a dyn Fn(Option<&str>, Option<std::time::SystemTime>) -> bool;

/// One API call: where, how long to wait, which permission a 403 names.
pub(crate) struct Call<'a> {
    pub url: &'a str,
    /// `None`: a GET.
    pub body: Option<&'a [u8]>,
    /// `None`: the agent's own timeouts (the message timeout).
    pub timeout: Option<Duration>,
    pub permission: &'static str,
    /// A time the call must not wait past (the rate-limit gate, retries):
    /// `None` for none but the retry policy's.
    pub deadline: Option<Instant>,
    /// Asked just before each request leaves (after the gate and the
    /// pace): `false` stops it, unsent.
    pub before_send: Option<&'a dyn Fn() -> bool>,
}

impl Injector {
    /// One API call with the token, the gate, a 401 refresh and `policy`'s
    /// retries. `attempts` counts the requests made.
    pub(crate) fn call(
        &self,
        call: &Call<'_>,
        policy: &RetryPolicy,
        attempts: &mut u32,
    ) -> Result<Answer, Error> {
        let clock = &*self.settings.clock;
        // With a deadline, no retry waits past it.
        let bounded;
        let policy = match call.deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(clock.now());
                bounded = policy
                    .clone()
                    .max_wait(policy.max_wait.min(left))
                    .max_total_wait(policy.max_total_wait.min(left));
                &bounded
            }
            None => policy,
        };
        let mut refreshed = false;
        with_retries(policy, clock, || {
            if !self.gate.wait_until(clock, call.deadline) {
                return Attempt::Done(Err(past_deadline(*attempts)));
            }
            let token = match self
                .auth
                .token(&self.http, &self.settings.retry_policy, clock)
            {
                Ok(token) => token,
                Err(e) => return Attempt::Done(Err(e)),
            };
            if let Some(pace) = &self.pace {
                if !pace.take(clock, call.deadline) {
                    return Attempt::Done(Err(past_deadline(*attempts)));
                }
            }
            if call.before_send.is_some_and(|f| !f()) {
                return Attempt::Done(Err(Error::Config(
                    "the batch's journal could not be written: the message was not sent".into(),
                )));
            }
            *attempts += 1;
            let sent = match call.body {
                Some(body) => self.http.post(
                    call.url,
                    Some(token.header()),
                    None,
                    "application/json",
                    body,
                    call.timeout,
                ),
                None => self.http.get(call.url, Some(token.header()), call.timeout),
            };
            let answer = match sent {
                Ok(answer) => answer,
                Err(e) if e.retryable => return Attempt::NotSent(e.error),
                Err(e) => return Attempt::Done(Err(e.error)),
            };
            log::debug!(target: "genesys_inject::transport", "{} {} -> HTTP {}", if call.body.is_some() { "POST" } else { "GET" }, call.url, answer.status);
            if let Some(date) = answer
                .date
                .as_deref()
                .and_then(|d| httpdate::parse_http_date(d).ok())
            {
                *lock(&self.platform_date) = Some((date, std::time::Instant::now()));
            }
            if let Some(pace) = &self.pace {
                pace.observe(answer.limits, clock);
            }
            match answer.status {
                200..=299 => Attempt::Done(Ok(answer)),
                401 if !refreshed => {
                    refreshed = true;
                    self.auth.invalidate(&token);
                    Attempt::Again
                }
                429 => {
                    let retry_after = answer.retry_after();
                    let pause = retry_after
                        .unwrap_or(policy.default_retry_after)
                        .min(policy.max_wait);
                    if !pause.is_zero() {
                        self.gate.close(later(clock.now(), pause), clock);
                    }
                    answer.throttled(*attempts)
                }
                status => {
                    let error = self.api_error(&answer, call.permission, &token);
                    if policy.retry_server_errors
                        && matches!(status, 500 | 503)
                        && error.outcome() == Outcome::NotDelivered
                    {
                        Attempt::Throttled {
                            retry_after: answer.retry_after(),
                            error,
                        }
                    } else {
                        Attempt::Done(Err(error))
                    }
                }
            }
        })
    }
}

/// A wait that would pass the deadline was not begun: rate limited, with
/// `attempts` made.
pub(crate) fn past_deadline(attempts: u32) -> Error {
    Error::RateLimited {
        attempts,
        retry_after: None,
        correlation_id: None,
    }
}
