//! What became of a message, as an `impl Injector` block of its own: its
//! status, waiting for delivery, and after a lost answer whether the message
//! is in the conversation (`resolve`, and the lookups it makes). The
//! answers are read, and the decisions made, in `status`.

use std::time::{Duration, Instant, SystemTime};

use crate::clock::later;
use crate::http::Answer;
use crate::injector::{unreadable, Call};
use crate::request::{Content, Route};
use crate::status::{self, MessageStatus, Resolution, Since, Unresolved};
use crate::validate::{is_guid, is_message_id};
use crate::{Error, InjectRequest, Injector, Receipt, ValidationError};

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
                    before_send: None,
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

    /// After `error`, whose outcome is unknown, tells whether `request`'s
    /// message is in the conversation. It reads the conversation
    /// (`GET /api/v2/conversations/{conversationId}`), takes the messages
    /// sent on the very communication the request sends as since just
    /// before the failed attempt began (on the platform's clock, read from
    /// its `Date` header, so that this machine's clock may be off by up to
    /// 10 minutes), fetches their text in bulk calls of up to 1000 ids
    /// (following every page), and looks for an outbound message with
    /// exactly the text sent. A message with the same text sent earlier than
    /// 2 s before the attempt, or by another participant, is not taken for
    /// it.
    ///
    /// [`Resolution::NotDelivered`] needs proof: the communication's list of
    /// messages, every id asked for in the bulk answers with its text, and a
    /// `Date` within 10 minutes of this machine's clock. Anything less is
    /// [`Resolution::Unknown`] ([`Unresolved::Incomplete`],
    /// [`Unresolved::UntrustedClock`]).
    ///
    /// Call it a few seconds after the error, so that the platform has
    /// listed what it received; [`RetryPolicy::resolve_unknown`](crate::RetryPolicy::resolve_unknown) does all
    /// this inside [`inject`](Self::inject). An error whose outcome is not
    /// unknown is [`Resolution::NotDelivered`] at once, with no call.
    pub fn resolve(&self, request: &InjectRequest, error: &Error) -> Resolution {
        if !error.is_outcome_unknown() {
            return Resolution::NotDelivered;
        }
        if !matches!(request.route, Route::Communication { .. }) {
            return Resolution::Unknown(Unresolved::NoConversation);
        }
        match error.sent_at() {
            Some(sent_at) => self.resolve_since(request, Since::Local(sent_at), None),
            None => Resolution::Unknown(Unresolved::NoSendTime),
        }
    }

    /// Whether `request`'s message was sent at or after `since`; its
    /// lookups wait at most until `deadline`.
    pub(crate) fn resolve_since(
        &self,
        request: &InjectRequest,
        since: Since,
        deadline: Option<Instant>,
    ) -> Resolution {
        let Route::Communication {
            conversation_id,
            communication_id,
        } = &request.route
        else {
            return Resolution::Unknown(Unresolved::NoConversation);
        };
        if !matches!(request.content, Content::Text(_)) {
            return Resolution::Unknown(Unresolved::NotText);
        }
        let communication_id = match communication_id {
            Some(id) => id.clone(),
            None => match self.agent_communication(conversation_id, deadline) {
                Ok(id) => id,
                Err(e) => return Resolution::Unknown(Unresolved::LookupFailed(Box::new(e))),
            },
        };
        self.find(request, conversation_id, &communication_id, since, deadline)
            .unwrap_or_else(|e| Resolution::Unknown(Unresolved::LookupFailed(Box::new(e))))
    }

    /// Looks for `request`'s message on `communication_id` in
    /// `conversation_id`, sent since `since`.
    fn find(
        &self,
        request: &InjectRequest,
        conversation_id: &str,
        communication_id: &str,
        since: Since,
        deadline: Option<Instant>,
    ) -> Result<Resolution, Error> {
        let incomplete = |what: &str| Ok(Resolution::Unknown(Unresolved::Incomplete(what.into())));
        let text = crate::validate(
            request.blocks(),
            self.settings.max_text_chars,
            &self.settings.safety_policy,
        )?;
        let api = &self.settings.api_base;
        let listing = self.lookup(
            &format!("{api}/api/v2/conversations/{conversation_id}"),
            None,
            deadline,
        )?;
        if let Some(why) = &listing.unread {
            return incomplete(&format!("the conversation could not be read: {why}"));
        }
        let start = match since {
            Since::Local(at) => {
                status::window_start(at, listing.date.as_deref(), SystemTime::now())
            }
            Since::Platform(at) => Some(status::platform_window_start(at)),
        };
        let Some(start) = start else {
            return Ok(Resolution::Unknown(Unresolved::UntrustedClock));
        };
        let ids = match status::sent_on(&listing.body, communication_id, start) {
            Ok(ids) => ids,
            Err(why) => return incomplete(&why),
        };
        let bulk = format!("/api/v2/conversations/messages/{conversation_id}/messages/bulk");
        for chunk in ids.chunks(status::BULK_MAX) {
            let body = serde_json::to_vec(chunk).expect("ids serialize");
            let mut seen = Vec::with_capacity(chunk.len());
            let mut url = format!("{api}{bulk}");
            // Every page: at most one a message asked for, and one more.
            for _ in 0..=chunk.len() {
                let answer = self.lookup(&url, Some(&body), deadline)?;
                if let Some(why) = &answer.unread {
                    return incomplete(&format!("a bulk answer could not be read: {why}"));
                }
                let Some(page) = status::bulk_page(&answer.body) else {
                    return incomplete("a bulk answer is not a message listing");
                };
                for message in &page.entities {
                    match status::has_text(message, text.as_str()) {
                        Some(true) => {
                            return Ok(Resolution::Delivered(Receipt {
                                message_id: message.id.clone(),
                                attempts: 0,
                                conversation_id: message
                                    .conversation_id
                                    .clone()
                                    .or_else(|| Some(conversation_id.to_owned())),
                                status: message.status.clone(),
                                correlation_id: answer.correlation_id.clone(),
                                resolved: true,
                            }))
                        }
                        Some(false) => {}
                        None => return incomplete("a message in the bulk answer has no text"),
                    }
                    if let Some(id) = &message.id {
                        seen.push(id.as_str().to_owned());
                    }
                }
                match page.next {
                    // Only a page of the same call, on the same host.
                    Some(next)
                        if next.starts_with(&bulk)
                            && next[bulk.len()..].starts_with('?')
                            && next.bytes().all(|b| b.is_ascii_graphic()) =>
                    {
                        url = format!("{api}{next}");
                    }
                    Some(_) => return incomplete("a bulk answer pages to another route"),
                    None => break,
                }
            }
            seen.sort_unstable();
            if chunk.iter().any(|id| seen.binary_search(id).is_err()) {
                return incomplete("a bulk answer lacks a message asked for");
            }
        }
        Ok(Resolution::NotDelivered)
    }

    /// A GET (or, with `body`, a POST) that reads: token, gate, retries,
    /// waiting at most until `deadline`.
    fn lookup(
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
            before_send: None,
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
            before_send: None,
        };
        self.call(&call, &self.settings.retry_policy, &mut 0)
    }
}
