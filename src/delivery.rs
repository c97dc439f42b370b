//! What became of a message, as an `impl Injector` block of its own: its
//! status, waiting for delivery, and the lookups (`lookup`, `lookup_as`)
//! that `look` and `agent` make too. The answers are read in `status`.

use std::time::{Duration, Instant};

use crate::clock::later;
use crate::http::Answer;
use crate::injector::{unreadable, Call};
use crate::status::{self, MessageStatus};
use crate::validate::{is_guid, is_message_id};
use crate::{Error, Injector, Receipt, ValidationError};

/// How long the poll of [`Injector::wait_for_delivery`] at its deadline
/// may take to be answered.
const LAST_POLL: Duration = Duration::from_secs(1);

/// The longest pause between two polls of [`Injector::wait_for_delivery`].
const MAX_POLL_PAUSE: Duration = Duration::from_secs(15);

impl Injector {
    /// The status of the message `receipt` stands for, as the platform
    /// reports it now (`GET /api/v2/conversations/messages/{conversationId}/messages/{messageId}`),
    /// through the token cache, rate-limit gate and retry policy of
    /// [`inject`](Self::inject).
    ///
    /// # Errors
    /// [`Error::Validation`] when the receipt has no usable conversation or
    /// message id; otherwise as [`inject`](Self::inject), a 403 naming the
    /// permission `conversation:message:view` (or
    /// `conversation:webmessaging:view`).
    pub fn message_status(&self, receipt: &Receipt) -> Result<MessageStatus, Error> {
        self.status_within(receipt, None)
    }

    /// [`message_status`](Self::message_status), waiting (for the gate,
    /// retries, the answer) at most until `deadline`.
    fn status_within(
        &self,
        receipt: &Receipt,
        deadline: Option<Instant>,
    ) -> Result<MessageStatus, Error> {
        let conversation = receipt
            .conversation_id
            .as_deref()
            .filter(|id| is_guid(id))
            .ok_or(ValidationError::InvalidId {
                field: "conversation_id",
            })?;
        let message = receipt
            .message_id
            .as_deref()
            .filter(|id| is_message_id(id))
            .ok_or(ValidationError::InvalidId {
                field: "message_id",
            })?;
        let url = format!(
            "{}/api/v2/conversations/messages/{conversation}/messages/{message}",
            self.settings.api_base
        );
        let answer = match deadline {
            None => self.lookup(&url, None, None)?,
            Some(deadline) => {
                let clock = &*self.settings.clock;
                let left = deadline.saturating_duration_since(clock.now());
                // The poll at the deadline still gets a moment to answer.
                let timeout = self.settings.message_timeout.min(left.max(LAST_POLL));
                let call = Call {
                    url: &url,
                    body: None,
                    timeout: Some(timeout),
                    permission: status::VIEW_PERMISSION,
                    deadline: Some(deadline),
                    observer: None,
                    prepaid: None,
                };
                // `call` holds the retries within the deadline.
                self.call(&call, &self.settings.retry_policy, &mut 0)?
            }
        };
        status::message_data(&answer.body)
            .map(|data| data.status())
            .ok_or_else(|| unreadable(&answer, "a message"))
    }

    /// Polls [`message_status`](Self::message_status) until the status is
    /// final (delivered, read, failed, delivery-failed) or `timeout` has
    /// passed, waiting 1 s, then 2, 4, 8 and at most 15 s between polls
    /// (through the injector's clock). Returns the last status seen: check
    /// [`MessageStatus::is_final`] to tell a timeout.
    ///
    /// `timeout` bounds the whole wait: the polls' own rate-limit pauses,
    /// retries and HTTP timeouts included, but for the last poll, at the
    /// deadline, which may take 1 s more to be answered. A 404 (the
    /// platform has not listed the message yet) is asked again like any
    /// status that is not final.
    ///
    /// # Errors
    /// As [`message_status`](Self::message_status), from any poll; a 404
    /// only when no poll before the timeout found the message; a
    /// [`Error::RateLimited`] when the platform's rate limit outlasts the
    /// timeout before any status was seen (after one, that status).
    pub fn wait_for_delivery(
        &self,
        receipt: &Receipt,
        timeout: Duration,
    ) -> Result<MessageStatus, Error> {
        let clock = &*self.settings.clock;
        let deadline = later(clock.now(), timeout);
        let mut pause = Duration::from_secs(1);
        // The last answer the platform gave.
        let mut last = None;
        loop {
            let polled = self.status_within(receipt, Some(deadline));
            let left = deadline.saturating_duration_since(clock.now());
            match polled {
                Ok(status) if status.is_final() || left.is_zero() => return Ok(status),
                // The budget held the last poll past the deadline: the
                // answer before is the answer.
                Err(Error::RateLimited { attempts: 0, .. }) if last.is_some() => {
                    return last.expect("an answer was seen")
                }
                polled @ (Ok(_) | Err(Error::Api { status: 404, .. })) if !left.is_zero() => {
                    last = Some(polled)
                }
                other => return other,
            }
            clock.sleep(pause.min(left));
            pause = (pause * 2).min(MAX_POLL_PAUSE);
        }
    }

    /// A GET (or, with `body`, a POST) that reads: token, gate, retries,
    /// waiting at most until `deadline`.
    pub(crate) fn lookup(
        &self,
        url: &str,
        body: Option<&[u8]>,
        deadline: Option<Instant>,
    ) -> Result<Answer, Error> {
        let call = Call {
            url,
            body,
            timeout: None,
            permission: status::VIEW_PERMISSION,
            deadline,
            observer: None,
            prepaid: None,
        };
        self.call(&call, &self.settings.retry_policy, &mut 0)
    }

    /// A GET whose 403 names `permission`, waiting at most until
    /// `deadline`.
    pub(crate) fn lookup_as(
        &self,
        url: &str,
        permission: &'static str,
        deadline: Option<Instant>,
    ) -> Result<Answer, Error> {
        let call = Call {
            url,
            body: None,
            timeout: None,
            permission,
            deadline,
            observer: None,
            prepaid: None,
        };
        self.call(&call, &self.settings.retry_policy, &mut 0)
    }
}
