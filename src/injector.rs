//! The [`Injector`]: the whole pipeline of one injection.

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use crate::audit::{self, AUDIT_TARGET};
use crate::auth::{Auth, Token};
use crate::clock::later;
use crate::config::Settings;
use crate::request::{Content, PreparedMessage, PreparedUpload, Route};
use crate::state::{Outbox, Owner};
use crate::status::{self, MessageStatus, Resolution, Unresolved};
use crate::transport::{origin, redact, with_retries, Answer, Attempt, Gate, Http};
use crate::validate::{is_guid, is_message_id};
use crate::webhook::{Webhook, WebhookStats};
use crate::{
    ApiErrorBody, Attachment, Error, InjectRequest, InjectorBuilder, Outcome, Receipt, RetryPolicy,
    TypingMode, ValidationError,
};

/// Permission named in [`Error::Forbidden`] on the communication route.
const COMMUNICATION_PERMISSION: &str =
    "conversation:message:create (or conversation:webmessaging:create)";
/// How long `inject` waits, under [`RetryPolicy::resolve_unknown`], before
/// it looks a second time for a message whose answer was lost and that the
/// first look did not find.
const RESOLVE_PAUSE: Duration = Duration::from_secs(2);

/// How long the poll of [`Injector::wait_for_delivery`] at its deadline
/// may take to be answered.
const LAST_POLL: Duration = Duration::from_secs(1);

/// The longest pause between two polls of [`Injector::wait_for_delivery`].
const MAX_POLL_PAUSE: Duration = Duration::from_secs(15);

/// Permission named in [`Error::Forbidden`] on the agentless route.
const AGENTLESS_PERMISSION: &str = "conversation:message:create";

/// Injects bot messages into Genesys Cloud messaging conversations.
///
/// Build one with [`Injector::builder`] or [`Injector::from_env`] and share it
/// (`&Injector` or `Arc<Injector>`) among all threads: it holds one connection
/// pool, one token cache, one rate-limit gate and one webhook thread.
/// Dropping it drains the webhook queue (for at most the builder's
/// `shutdown_timeout`) and joins the thread; with a state directory it
/// drains the outbox too, but stops as soon as the endpoint fails, leaving
/// the rest on disk for a later run.
pub struct Injector {
    settings: Settings,
    http: Http,
    auth: Auth,
    gate: Gate,
    webhook: Option<Webhook>,
}

/// One API call: where, how long to wait, which permission a 403 names.
struct Call<'a> {
    url: &'a str,
    /// `None`: a GET.
    body: Option<&'a [u8]>,
    /// `None`: the agent's own timeouts (the message timeout).
    timeout: Option<Duration>,
    permission: &'static str,
    /// A time the call must not wait past (the rate-limit gate, retries):
    /// `None` for none but the retry policy's.
    deadline: Option<Instant>,
}

impl Injector {
    /// A builder with every default; see [`InjectorBuilder`].
    pub fn builder() -> InjectorBuilder {
        InjectorBuilder::new()
    }

    /// An injector configured from the environment; see
    /// [`InjectorBuilder::from_env`] for the variables and their defaults.
    ///
    /// # Errors
    /// [`Error::Config`] when a required variable is missing or a value is
    /// unusable.
    pub fn from_env() -> Result<Self, Error> {
        InjectorBuilder::from_env()?.build()
    }

    pub(crate) fn from_settings(settings: Settings) -> Result<Self, Error> {
        let http = Http::new(
            settings.proxy.clone(),
            settings.message_timeout,
            settings.max_idle_connections,
        );
        let auth = Auth::new(
            &settings.login_base,
            settings.region,
            &settings.client_id,
            &settings.client_secret,
            settings.token_timeout,
        );
        let auth = match &settings.state {
            Some(state) => auth.with_state(state, &settings.client_id),
            None => auth,
        };
        let outbox = match (&settings.state, &settings.webhook_url) {
            (Some(state), Some(webhook_url)) => Some(Outbox::open(
                state,
                Owner::new(auth.token_url(), &settings.client_id, webhook_url),
                settings.outbox_max_events,
                settings.outbox_max_bytes,
            )?),
            _ => None,
        };
        let webhook = match (&settings.webhook_url, outbox) {
            (None, _) => None,
            (Some(url), outbox) => Some(
                Webhook::start(
                    url.clone(),
                    // One thread posts, one connection at a time.
                    Http::new(settings.proxy.clone(), settings.webhook_timeout, 1),
                    settings.webhook_queue_capacity,
                    settings.shutdown_timeout,
                    settings.clock.clone(),
                    outbox,
                )
                .map_err(|e| Error::Config(format!("could not start the webhook thread: {e}")))?,
            ),
        };
        let gate = Gate::new(&*settings.clock);
        Ok(Injector {
            settings,
            http,
            auth,
            gate,
            webhook,
        })
    }

    /// Validates `request` with this injector's settings and builds the exact
    /// HTTP request, without any network traffic.
    ///
    /// # Errors
    /// [`Error::Validation`], or [`Error::Config`] when the request cannot be
    /// sent with this configuration ([`TypingMode::Required`] with an
    /// agentless request).
    pub fn prepare(&self, request: &InjectRequest) -> Result<PreparedMessage, Error> {
        if request.is_agentless() && self.settings.typing == TypingMode::Required {
            return Err(Error::Config(
                "TypingMode::Required cannot be met on the agentless route: it has no \
                 communication to type on; use TypingMode::BestEffort or Off"
                    .into(),
            ));
        }
        Ok(request.prepare_with(
            self.settings.max_text_chars,
            &self.settings.safety_policy,
            &self.settings.attachment_types,
        )?)
    }

    /// Injects one message: validate, token, delay, typing, message (with
    /// 429 retries), then one audit record and one webhook event, whatever the
    /// result.
    ///
    /// Blocks the calling thread until the platform answers (or the retry
    /// policy gives up); never blocks on the webhook.
    ///
    /// # Errors
    /// See [`Error`]; [`Error::outcome`] tells whether the message may have
    /// been delivered anyway.
    pub fn inject(&self, request: &InjectRequest) -> Result<Receipt, Error> {
        let clock = &*self.settings.clock;
        let start = clock.now();
        let mut message_size = 0;
        let result = self.run(request, &mut message_size);
        let latency_ms = u64::try_from(clock.now().saturating_duration_since(start).as_millis())
            .unwrap_or(u64::MAX);
        // Only a value that passed validation goes into the record: the
        // platform's conversation id when it is a GUID, else the request's.
        let interaction_id = match &result {
            Ok(Receipt {
                conversation_id: Some(id),
                ..
            }) if is_guid(id) => id.clone(),
            _ => request.audit_id(),
        };
        let success = result.is_ok();
        let record = audit::record(&interaction_id, success, latency_ms, message_size);
        log::info!(target: AUDIT_TARGET, "{record}");
        if let Some(webhook) = &self.webhook {
            webhook.enqueue(audit::webhook_body(&record, success, latency_ms));
        }
        if let Err(e) = &result {
            log::warn!(target: "genesys_inject", "injection failed ({}): {e}", e.kind());
        }
        result
    }

    fn run(&self, request: &InjectRequest, message_size: &mut usize) -> Result<Receipt, Error> {
        let prepared = self.prepare(request)?;
        *message_size = prepared.message_size;
        let clock = &*self.settings.clock;
        // Fetch (or reuse) the token first: a refused token stops here, before
        // the delay and before any API call.
        self.auth
            .token(&self.http, &self.settings.retry_policy, clock)?;
        clock.sleep(request.delay);
        if let Some(path) = &prepared.typing_path {
            self.typing(path)?;
        }
        let permission = match request.route {
            Route::Communication { .. } => COMMUNICATION_PERMISSION,
            Route::Agentless { .. } => AGENTLESS_PERMISSION,
        };
        // An attachment: upload it, then the message carries its media id.
        let media_body;
        let body = match (&prepared.upload, &request.content) {
            (Some(upload), Content::Attachment(attachment)) => {
                let media_id = self.upload(upload, attachment)?;
                media_body = serde_json::to_vec(&serde_json::json!({ "mediaIds": [media_id] }))
                    .expect("serializable");
                &media_body
            }
            _ => &prepared.body,
        };
        let url = [self.settings.api_base.as_str(), &prepared.path].concat();
        let call = Call {
            url: &url,
            body: Some(body),
            timeout: None,
            permission,
            deadline: None,
        };
        let policy = &self.settings.retry_policy;
        let (mut attempts, mut resent) = (0, 0);
        // When the first attempt whose outcome is unknown began: every look
        // covers every attempt made since.
        let mut first_unknown: Option<SystemTime> = None;
        loop {
            let error = match self.call(&call, policy, &mut attempts) {
                Ok(answer) => {
                    return Ok(Receipt::from_answer(
                        request,
                        &answer.body,
                        attempts,
                        answer.correlation_id,
                    ))
                }
                Err(e) if policy.resolve_unknown && e.is_outcome_unknown() => e,
                // A resend that certainly did not arrive: the last look
                // proved every earlier attempt absent.
                Err(e) => return Err(e),
            };
            let Some(sent_at) = error.sent_at() else {
                log::warn!(target: "genesys_inject", "outcome unknown, and still unknown: {}", Unresolved::NoSendTime);
                return Err(error);
            };
            let since = *first_unknown.get_or_insert(sent_at);
            // Found at once, or, if not, still not there once the platform
            // has had a moment to list what it received.
            let resolution = match self.resolve_since(request, since) {
                Resolution::NotDelivered => {
                    clock.sleep(RESOLVE_PAUSE);
                    self.resolve_since(request, since)
                }
                other => other,
            };
            match resolution {
                Resolution::Delivered(receipt) => {
                    log::info!(target: "genesys_inject", "outcome unknown ({error}), but the message is in the conversation: not sent again");
                    return Ok(Receipt {
                        attempts,
                        ..receipt
                    });
                }
                Resolution::NotDelivered if resent < policy.connect_retries => {
                    resent += 1;
                    log::info!(target: "genesys_inject", "outcome unknown ({error}), and no attempt is in the conversation: sending it again");
                }
                // Known now: no attempt is there, and no tries left.
                Resolution::NotDelivered => return Err(error.before_message()),
                Resolution::Unknown(why) => {
                    log::warn!(target: "genesys_inject", "outcome unknown, and still unknown: {why}");
                    return Err(error);
                }
            }
        }
    }

    /// Uploads `attachment`: the platform's upload call, then its bytes to
    /// the URL that call answered, with the headers it answered (less those
    /// that frame or route a request) and no `Authorization`, then waits
    /// until the platform says the media is `valid`. Returns the media id.
    /// Nothing here sends the message: every error says not delivered.
    fn upload(&self, upload: &PreparedUpload, attachment: &Attachment) -> Result<String, Error> {
        let url = [self.settings.api_base.as_str(), &upload.path].concat();
        let call = Call {
            url: &url,
            body: Some(&upload.body),
            timeout: None,
            permission: COMMUNICATION_PERMISSION,
            deadline: None,
        };
        let policy = &self.settings.retry_policy;
        let answer = self
            .call(&call, policy, &mut 0)
            .map_err(Error::before_message)?;
        let answered = serde_json::from_slice::<serde_json::Value>(&answer.body).ok();
        let text = |key: &str| {
            answered
                .as_ref()
                .and_then(|a| a.get(key))
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
        };
        let (Some(media_id), Some(upload_url)) = (text("id"), text("uploadUrl")) else {
            return Err(unreadable(
                &answer,
                "an upload (id, uploadUrl, uploadHeaders)",
            ));
        };
        if !is_message_id(media_id) {
            return Err(unreadable(&answer, "an upload with a usable media id"));
        }
        let headers: Vec<(&str, &str)> = answered
            .as_ref()
            .and_then(|a| a.get("uploadHeaders"))
            .and_then(|h| h.as_object())
            .map(|h| {
                h.iter()
                    .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                    .filter(|(name, _)| !frames_or_routes(name))
                    .collect()
            })
            .unwrap_or_default();
        // Another host, which gets no token: https only (http to loopback
        // for tests), and never logged beyond its origin.
        let target = origin(upload_url);
        let failed = |status: Option<u16>, message: String| Error::Upload {
            host: target.clone(),
            status,
            message,
        };
        crate::config::check_url("the upload URL", upload_url, true)
            .map_err(|e| failed(None, format!("refused to upload there: {e}")))?;
        let query = upload_url.split_once('?').map_or("", |(_, q)| q);
        log::debug!(target: "genesys_inject", "uploading {} bytes to {target}", attachment.bytes.len());
        let clock = &*self.settings.clock;
        let mut attempts = 0;
        with_retries(policy, clock, || {
            attempts += 1;
            let answer = match self.http.put(upload_url, &headers, &attachment.bytes) {
                Ok(answer) => answer,
                Err(e) if e.retryable => return Attempt::NotSent(e.error),
                Err(e) => {
                    return Attempt::Done(Err(failed(
                        None,
                        transport_cause(&e.error, &[upload_url, query]),
                    )))
                }
            };
            log::debug!(target: "genesys_inject", "PUT {target} -> HTTP {}", answer.status);
            match answer.status {
                200..=299 => Attempt::Done(Ok(())),
                429 => answer.throttled(attempts),
                status => Attempt::Done(Err(failed(
                    Some(status),
                    format!(
                        "HTTP {status}: {}",
                        answer.message_or("no error body", &[upload_url, query])
                    ),
                ))),
            }
        })
        .map_err(|e| match e {
            // Connections refused every time: still the upload host's.
            e @ Error::Transport { .. } => failed(None, transport_cause(&e, &[upload_url, query])),
            e => e,
        })?;
        self.media_ready(upload, media_id)?;
        Ok(media_id.to_owned())
    }

    /// Waits until the platform says the uploaded media is `valid`
    /// (`GET …/messages/media/{mediaId}`), as Genesys' own tests do: at most
    /// [`MEDIA_LOOKS`] looks, 1 s apart. `invalid`, or not valid by the last
    /// look, is an [`Error::Upload`]: the message is not sent.
    fn media_ready(&self, upload: &PreparedUpload, media_id: &str) -> Result<(), Error> {
        let base = upload
            .path
            .strip_suffix("/uploads")
            .expect("an upload path ends with /uploads");
        let url = format!("{}{base}/{media_id}", self.settings.api_base);
        let not_ready = |message: String| Error::Upload {
            host: "Genesys Cloud".into(),
            status: None,
            message,
        };
        let mut last = String::from("none");
        for look in 1..=MEDIA_LOOKS {
            let answer = self
                .lookup_as(&url, COMMUNICATION_PERMISSION)
                .map_err(Error::before_message)?;
            let status = serde_json::from_slice::<serde_json::Value>(&answer.body)
                .ok()
                .and_then(|v| v.get("status")?.as_str().map(str::to_ascii_lowercase));
            match status.as_deref() {
                Some("valid") => return Ok(()),
                Some("invalid") => {
                    return Err(not_ready(format!(
                        "the platform judged media {media_id} invalid"
                    )))
                }
                other => {
                    last = other
                        .unwrap_or("none")
                        .chars()
                        .filter(|c| !c.is_control())
                        .take(40)
                        .collect()
                }
            }
            if look < MEDIA_LOOKS {
                self.settings.clock.sleep(MEDIA_POLL);
            }
        }
        Err(not_ready(format!(
            "media {media_id} was not valid after {MEDIA_LOOKS} looks, {} s apart (last status: {last})",
            MEDIA_POLL.as_secs()
        )))
    }

    /// The typing indicator, as [`TypingMode`] says.
    fn typing(&self, path: &str) -> Result<(), Error> {
        let mode = self.settings.typing;
        if mode == TypingMode::Off {
            return Ok(());
        }
        let url = [self.settings.api_base.as_str(), path].concat();
        let call = Call {
            url: &url,
            body: Some(br#"{"typing":{"type":"On"}}"#),
            timeout: Some(self.settings.typing_timeout),
            permission: COMMUNICATION_PERMISSION,
            deadline: None,
        };
        let mut attempts = 0;
        if mode == TypingMode::Required {
            return self
                .call(&call, &self.settings.retry_policy, &mut attempts)
                .map(drop)
                .map_err(Error::before_message);
        }
        if self.gate.is_closed(&*self.settings.clock) {
            log::debug!(target: "genesys_inject", "typing indicator skipped: rate-limit pause in force");
            return Ok(());
        }
        let once = RetryPolicy::none();
        if let Err(e) = self.call(&call, &once, &mut attempts) {
            log::warn!(target: "genesys_inject", "typing indicator failed, sending the message anyway: {e}");
        }
        Ok(())
    }

    /// One API call with the token, the gate, a 401 refresh and `policy`'s
    /// retries. `attempts` counts the requests made.
    fn call(
        &self,
        call: &Call<'_>,
        policy: &RetryPolicy,
        attempts: &mut u32,
    ) -> Result<Answer, Error> {
        let clock = &*self.settings.clock;
        let mut refreshed = false;
        with_retries(policy, clock, || {
            if !self.gate.wait_until(clock, call.deadline) {
                return Attempt::Done(Err(Error::RateLimited {
                    attempts: *attempts,
                    retry_after: None,
                    correlation_id: None,
                }));
            }
            let token = match self
                .auth
                .token(&self.http, &self.settings.retry_policy, clock)
            {
                Ok(token) => token,
                Err(e) => return Attempt::Done(Err(e)),
            };
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
            None => self.lookup(&url, None)?,
            Some(deadline) => {
                let clock = &*self.settings.clock;
                let left = deadline.saturating_duration_since(clock.now());
                let policy = &self.settings.retry_policy;
                let bounded = policy
                    .clone()
                    .max_wait(policy.max_wait.min(left))
                    .max_total_wait(policy.max_total_wait.min(left));
                // The poll at the deadline still gets a moment to answer.
                let timeout = self.settings.message_timeout.min(left.max(LAST_POLL));
                let call = Call {
                    url: &url,
                    body: None,
                    timeout: Some(timeout),
                    permission: status::VIEW_PERMISSION,
                    deadline: Some(deadline),
                };
                self.call(&call, &bounded, &mut 0)?
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
    /// timeout.
    pub fn wait_for_delivery(
        &self,
        receipt: &Receipt,
        timeout: Duration,
    ) -> Result<MessageStatus, Error> {
        let clock = &*self.settings.clock;
        let deadline = later(clock.now(), timeout);
        let mut pause = Duration::from_secs(1);
        loop {
            let polled = self.status_within(receipt, Some(deadline));
            let left = deadline.saturating_duration_since(clock.now());
            match polled {
                Ok(status) if status.is_final() || left.is_zero() => return Ok(status),
                Ok(_) | Err(Error::Api { status: 404, .. }) if !left.is_zero() => {}
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
    /// listed what it received; [`RetryPolicy::resolve_unknown`] does all
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
            Some(sent_at) => self.resolve_since(request, sent_at),
            None => Resolution::Unknown(Unresolved::NoSendTime),
        }
    }

    /// Whether `request`'s message was sent at or after `since` (this
    /// machine's clock).
    fn resolve_since(&self, request: &InjectRequest, since: SystemTime) -> Resolution {
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
        self.find(request, conversation_id, communication_id, since)
            .unwrap_or_else(|e| Resolution::Unknown(Unresolved::LookupFailed(Box::new(e))))
    }

    /// Looks for `request`'s message on `communication_id` in
    /// `conversation_id`, sent since `since`.
    fn find(
        &self,
        request: &InjectRequest,
        conversation_id: &str,
        communication_id: &str,
        since: SystemTime,
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
        )?;
        if let Some(why) = &listing.unread {
            return incomplete(&format!("the conversation could not be read: {why}"));
        }
        let Some(start) = status::window_start(since, listing.date.as_deref(), SystemTime::now())
        else {
            return Ok(Resolution::Unknown(Unresolved::UntrustedClock));
        };
        let ids = match status::sent_on(&listing.body, communication_id, start) {
            Ok(ids) => ids,
            Err(why) => return incomplete(&why),
        };
        let bulk = format!("/api/v2/conversations/messages/{conversation_id}/messages/bulk");
        for chunk in ids.chunks(status::BULK_MAX) {
            let body = serde_json::to_vec(chunk).expect("ids serialize");
            let mut seen = std::collections::HashSet::new();
            let mut url = format!("{api}{bulk}");
            // Every page: at most one a message asked for, and one more.
            for _ in 0..=chunk.len() {
                let answer = self.lookup(&url, Some(&body))?;
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
                        seen.insert(id.clone());
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
            if chunk.iter().any(|id| !seen.contains(id)) {
                return incomplete("a bulk answer lacks a message asked for");
            }
        }
        Ok(Resolution::NotDelivered)
    }

    /// A GET (or, with `body`, a POST) that reads: token, gate, retries.
    fn lookup(&self, url: &str, body: Option<&[u8]>) -> Result<Answer, Error> {
        let call = Call {
            url,
            body,
            timeout: None,
            permission: status::VIEW_PERMISSION,
            deadline: None,
        };
        self.call(&call, &self.settings.retry_policy, &mut 0)
    }

    /// A GET whose 403 names `permission`.
    fn lookup_as(&self, url: &str, permission: &'static str) -> Result<Answer, Error> {
        let call = Call {
            url,
            body: None,
            timeout: None,
            permission,
            deadline: None,
        };
        self.call(&call, &self.settings.retry_policy, &mut 0)
    }

    /// Waits until every webhook event queued before this call has been
    /// delivered or given up on. Returns whether that happened within
    /// `timeout`. Without a webhook, returns `true` at once.
    ///
    /// With a [state directory](InjectorBuilder::state_dir), it waits for
    /// every event that was in the outbox when it was called (earlier runs'
    /// included) to leave it, and returns `false` as soon as the endpoint
    /// fails: what is left is safe on disk, and a later injector posts it.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.webhook.as_ref().is_none_or(|w| w.flush(timeout))
    }

    /// Webhook delivery counts (all zero without a webhook).
    pub fn webhook_stats(&self) -> WebhookStats {
        self.webhook
            .as_ref()
            .map(Webhook::stats)
            .unwrap_or_default()
    }
}

impl Injector {
    /// The error for a non-2xx answer other than 429 (and a first 401).
    /// `token` was sent with the request: redacted should the body echo it.
    fn api_error(&self, answer: &Answer, permission: &'static str, token: &Token) -> Error {
        let header = token.header().to_str().unwrap_or_default();
        let secrets = [header, header.strip_prefix("Bearer ").unwrap_or(header)];
        let mut body = ApiErrorBody::parse(&answer.body);
        if let Some(body) = &mut body {
            body.redact(&secrets);
        }
        let message = body
            .as_ref()
            .and_then(|b| b.message.clone())
            .unwrap_or_else(|| answer.message_or("no error body", &secrets));
        let correlation_id = answer
            .correlation_id
            .clone()
            .or_else(|| body.as_ref().and_then(|b| b.context_id.clone()));
        match answer.status {
            401 => self.auth.refused_token(
                body.as_ref().and_then(|b| b.code.clone()),
                format!("the API refused a freshly fetched token: {message}"),
                correlation_id,
            ),
            403 => Error::Forbidden {
                message,
                permission,
                correlation_id,
            },
            status => {
                let outcome = match status {
                    500 | 503 if body.is_some() => Outcome::NotDelivered,
                    500..=599 => Outcome::Unknown,
                    _ => Outcome::NotDelivered,
                };
                Error::Api {
                    status,
                    code: body.as_ref().and_then(|b| b.code.clone()),
                    message,
                    correlation_id,
                    body: body.map(Box::new),
                    outcome,
                    sent_at: Some(answer.sent_at),
                }
            }
        }
    }
}

/// What failed in an exchange with a host other than the platform's API,
/// without the words that blame Genesys Cloud, `secrets` redacted.
fn transport_cause(error: &Error, secrets: &[&str]) -> String {
    match error {
        Error::Transport { source, .. } => redact(&source.to_string(), secrets),
        other => redact(&other.to_string(), secrets),
    }
}

/// Whether an upload header frames or routes the request: those come from
/// this crate, never from the platform's answer.
fn frames_or_routes(name: &str) -> bool {
    const HOP_BY_HOP: &[&str] = &[
        "content-length",
        "transfer-encoding",
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "upgrade",
        "expect",
    ];
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// How often, and how many times, the media's state is asked before the
/// message goes: as Genesys' own tests do.
const MEDIA_LOOKS: u32 = 11;
const MEDIA_POLL: Duration = Duration::from_secs(1);

/// The error for a 2xx answer that is not what the call returns.
fn unreadable(answer: &Answer, what: &str) -> Error {
    let excerpt = answer.message_or("empty", &[]);
    answer.not_delivered(None, format!("the answer is not {what}: {excerpt}"))
}

impl fmt::Debug for Injector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        f.debug_struct("Injector")
            .field("api_base", &s.api_base)
            .field("client_id", &s.client_id)
            .field("client_secret", &s.client_secret)
            .field("auth", &self.auth)
            .field("webhook", &self.webhook)
            .field("retry_policy", &s.retry_policy)
            .field("safety_policy", &s.safety_policy)
            .field("max_text_chars", &s.max_text_chars)
            .field("typing", &s.typing)
            .finish_non_exhaustive()
    }
}
