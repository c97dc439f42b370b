//! One API call: the rate-limit gate, the token, the pace, one HTTP
//! exchange, a 401 refresh and the retry policy's 429 retries. Every API
//! request of the crate goes through [`Injector::call`]. Knows no route's
//! body and reads no answer beyond its status and headers.

use std::cell::Cell;
use std::time::{Duration, Instant};

use crate::clock::later;
use crate::http::Answer;
use crate::retry::{with_retries, Attempt};
use crate::sync::lock;
use crate::{Error, Injector, Outcome, RetryPolicy};

/// What became of one request of a call, as its observer hears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// It is about to leave (after the gate, the token and the pace): the
    /// observer's `false` stops it, unsent.
    Leaving,
    /// It did not arrive whole, or was answered without being accepted (a
    /// 429, a 401, a refusal that says nothing was delivered): nothing of
    /// it is on the platform.
    Refused,
}

/// Told of each message request, with the communication it is sent as
/// (`None`: agentless) and the platform's time; for [`Wire::Leaving`],
/// `false` stops the request (it is then not sent).
pub(crate) type BeforeSend<'a> =
    &'a dyn Fn(Wire, Option<&str>, Option<std::time::SystemTime>) -> bool;

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
    /// Told of each request: asked just before it leaves (after the gate
    /// and the pace; `false` stops it, unsent), and told when it was
    /// refused.
    pub observer: Option<&'a dyn Fn(Wire) -> bool>,
    /// Pace tokens already taken for this call's first request (a line's
    /// typing indicator and message take theirs together).
    pub prepaid: Option<&'a Cell<u32>>,
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
        // With a deadline, no retry waits past it: a wait that would is not
        // begun (never shortened, so that no retry goes before the
        // platform's Retry-After).
        let bounded;
        let policy = match call.deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(clock.now());
                bounded = policy
                    .clone()
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
            let prepaid = call.prepaid.is_some_and(|p| {
                let left = p.get();
                p.set(left.saturating_sub(1));
                left > 0
            });
            if let (Some(pace), false) = (&self.pace, prepaid) {
                if !pace.take(clock, 1, call.deadline) {
                    return Attempt::Done(Err(past_deadline(*attempts)));
                }
            }
            if call.observer.is_some_and(|f| !f(Wire::Leaving)) {
                return Attempt::Done(Err(Error::Config(
                    "the batch's journal could not be written: the message was not sent".into(),
                )));
            }
            let refused = || {
                if let Some(f) = call.observer {
                    f(Wire::Refused);
                }
            };
            *attempts += 1;
            // The round trip on real time: a property of the network.
            let left_at = Instant::now();
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
                Err(e) if e.retryable => {
                    refused();
                    return Attempt::NotSent(e.error);
                }
                Err(e) => {
                    if e.error.outcome() == Outcome::NotDelivered {
                        refused();
                    }
                    return Attempt::Done(Err(e.error));
                }
            };
            self.round_trip_was(left_at.elapsed());
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
                    refused();
                    self.auth.invalidate(&token);
                    Attempt::Again
                }
                429 => {
                    refused();
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
                    if error.outcome() == Outcome::NotDelivered {
                        refused();
                    }
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
