//! The [`Injector`]: the whole pipeline of one injection. One API call
//! (gate, token, pace, retries) is `call`; what a refused call means is
//! `api_error`.

mod api_error;
mod call;
mod typing;

pub(crate) use api_error::unreadable;
pub(crate) use call::{past_deadline, BeforeSend, Call, Wire};

use std::cell::Cell;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::audit::{self, AUDIT_TARGET};
use crate::auth::Auth;
use crate::clock::later;
use crate::config::Settings;
use crate::gate::Gate;
use crate::http::Http;
use crate::listing::Since;
use crate::look::Look;
use crate::memory::Memory;
use crate::pace::{Pace, Senders};
use crate::request::{Content, PreparedMessage, Route};
use crate::state::{Outbox, Owner};
use crate::status::{Resolution, Unresolved};
use crate::sync::lock;
use crate::validate::is_guid;
use crate::webhook::{Webhook, WebhookStats};
use crate::{Error, InjectRequest, InjectorBuilder, Receipt, TypingMode};

/// Permission named in [`Error::Forbidden`] on the communication route.
pub(crate) const COMMUNICATION_PERMISSION: &str =
    "conversation:message:create (or conversation:webmessaging:create)";

/// The log target of the line each failed `inject` writes (a program that
/// reports the returned error itself, as the `inject` CLI does, filters it
/// out).
pub(crate) const FAILURE_TARGET: &str = "genesys_inject::inject";

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
    pub(crate) settings: Settings,
    pub(crate) http: Http,
    auth: Auth,
    pub(crate) gate: Gate,
    webhook: Option<Webhook>,
    /// Pacing to the platform's budget (`None`: off).
    pace: Option<Pace>,
    /// Each SMS sender number's pace.
    senders: Senders,
    /// Each conversation's connected agent and what its listing showed
    /// before a send; the message ids that settle an injection; the
    /// message requests on their way.
    pub(crate) memory: Memory,
    /// The last `Date` the platform sent, and when (this process's
    /// monotonic clock): a time on the platform's clock that a later
    /// request cannot precede.
    platform_date: Mutex<Option<(SystemTime, std::time::Instant)>>,
    /// The API requests' round trip, on real time (a moving average;
    /// `None` before any answer).
    rtt: Mutex<Option<Duration>>,
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
            settings.roots.clone(),
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
                    Http::new(
                        settings.proxy.clone(),
                        settings.roots.clone(),
                        settings.webhook_timeout,
                        1,
                    ),
                    settings.webhook_queue_capacity,
                    settings.shutdown_timeout,
                    settings.clock.clone(),
                    outbox,
                )
                .map_err(|e| Error::Config(format!("could not start the webhook thread: {e}")))?,
            ),
        };
        let gate = Gate::new(&*settings.clock);
        let pace_key = client_key(&auth, &settings);
        let pace = settings.requests_per_minute.map(|budget| {
            Pace::new(
                budget,
                settings.rate_is_ceiling,
                &*settings.clock,
                settings.state.as_ref().map(|s| (s, pace_key.as_str())),
            )
        });
        let senders = Senders::new(settings.sender_rate, settings.state.clone());
        Ok(Injector {
            senders,
            settings,
            http,
            auth,
            gate,
            webhook,
            pace,
            memory: Memory::default(),
            platform_date: Mutex::default(),
            rtt: Mutex::default(),
        })
    }

    /// Notes one request's round trip (a moving average of the last few).
    pub(crate) fn round_trip_was(&self, took: Duration) {
        let mut rtt = lock(&self.rtt);
        *rtt = Some(match *rtt {
            None => took,
            Some(before) => (before * 3 + took) / 4,
        });
    }

    /// The API requests' round trip so far (`None` before any answer).
    pub(crate) fn round_trip(&self) -> Option<Duration> {
        *lock(&self.rtt)
    }

    /// The pace's budget in force, in requests a minute (`None`: no pacing).
    pub(crate) fn budget(&self) -> Option<u32> {
        self.pace.as_ref().map(Pace::budget)
    }

    /// How many 429s have closed the rate-limit gate so far.
    pub(crate) fn rate_limited_times(&self) -> u64 {
        self.gate.closings()
    }

    /// Whether the rate-limit pause in force (if any) is over by `deadline`.
    pub(crate) fn rate_limit_lifts_by(&self, deadline: Instant) -> bool {
        self.gate.open_by(deadline)
    }

    /// What identifies this injector's client: its token URL and client id.
    pub(crate) fn client_key(&self) -> String {
        client_key(&self.auth, &self.settings)
    }

    /// A time on the platform's clock that is now or earlier: the last
    /// `Date` it sent plus the time since (on the monotonic clock, never
    /// stepped). `None` before any answer with a `Date`.
    pub(crate) fn platform_now(&self) -> Option<SystemTime> {
        let (date, seen) = (*lock(&self.platform_date))?;
        date.checked_add(seen.elapsed())
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
        self.inject_with(request, None, None, None)
    }

    /// [`inject`](Self::inject), asking `before_send` just before each
    /// message request leaves, and waiting (the delay, the gate, the pace,
    /// retries) at most until `deadline`: a wait that would pass it is not
    /// begun, and the injection ends [`Error::RateLimited`] with no
    /// attempt. A message request already on its way gets its answer time.
    /// `line`: the batch and line it is sent for, named in the audit record.
    pub(crate) fn inject_with(
        &self,
        request: &InjectRequest,
        before_send: Option<BeforeSend<'_>>,
        deadline: Option<Instant>,
        line: Option<(&str, &str)>,
    ) -> Result<Receipt, Error> {
        let clock = &*self.settings.clock;
        let start = clock.now();
        let mut message_size = 0;
        let result = self.run(request, &mut message_size, before_send, deadline);
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
        let extra = audit::Extra {
            channel: match &request.route {
                Route::Agentless { target, .. } => match target.messenger {
                    crate::MessengerType::WebMessaging => "web_messaging",
                    other => other.as_str(),
                },
                Route::Communication { .. } => "",
            },
            line,
            message_id: result.as_ref().ok().and_then(|r| r.message_id.as_deref()),
            error: result.as_ref().err(),
        };
        let record = audit::record(&interaction_id, success, latency_ms, message_size, &extra);
        log::info!(target: AUDIT_TARGET, "{record}");
        if let Some(file) = &self.settings.audit_log {
            file.append(&record);
        }
        if let Some(webhook) = &self.webhook {
            webhook.enqueue(audit::webhook_body(&record, success, latency_ms));
        }
        if let Err(e) = &result {
            log::warn!(target: FAILURE_TARGET, "injection failed ({}): {e}", e.kind());
        }
        result
    }

    fn run(
        &self,
        request: &InjectRequest,
        message_size: &mut usize,
        before_send: Option<BeforeSend<'_>>,
        deadline: Option<Instant>,
    ) -> Result<Receipt, Error> {
        // Sent as the connected agent: validated first (nothing leaves
        // before), then bound to the agent's communication.
        let bound;
        let request = match &request.route {
            Route::Communication {
                conversation_id,
                communication_id: None,
            } => {
                *message_size = self.prepare(request)?.message_size;
                bound = request.sent_as(self.agent_communication(conversation_id, deadline)?);
                &bound
            }
            _ => request,
        };
        let prepared = self.prepare(request)?;
        *message_size = prepared.message_size;
        let clock = &*self.settings.clock;
        // Fetch (or reuse) the token first: a refused token stops here, before
        // the delay and before any API call.
        self.auth
            .token(&self.http, &self.settings.retry_policy, clock)?;
        if deadline.is_some_and(|d| later(clock.now(), request.delay) > d) {
            return Err(past_deadline(0));
        }
        // A stop (a batch's) cuts the delay short: nothing was sent.
        if !crate::clock::pause(clock, request.delay) {
            return Err(past_deadline(0));
        }
        // The typing indicator and its message take their budget together:
        // one is never sent without the other for want of it.
        let prepaid = Cell::new(0);
        let typing = prepared.typing_path.is_some() && self.settings.typing != TypingMode::Off;
        if let (true, Some(pace)) = (typing, &self.pace) {
            if !pace.take(clock, 2, deadline) {
                return Err(past_deadline(0));
            }
            prepaid.set(2);
        }
        if let Some(path) = &prepared.typing_path {
            self.typing(path, deadline, &prepaid)?;
        }
        let permission = match request.route {
            Route::Communication { .. } => COMMUNICATION_PERMISSION,
            Route::Agentless { .. } => AGENTLESS_PERMISSION,
        };
        // An attachment: upload it, then the message carries its media id.
        let media_body;
        let body = match (&prepared.upload, &request.content) {
            (Some(upload), Content::Attachment(attachment)) => {
                let media_id = self.upload(upload, attachment, deadline)?;
                // A typed body: a `serde_json::Value` would link serde_json's
                // float formatting (18 KiB) for one string.
                #[derive(serde::Serialize)]
                struct MediaBody<'a> {
                    #[serde(rename = "mediaIds")]
                    media_ids: [&'a str; 1],
                }
                media_body = serde_json::to_vec(&MediaBody {
                    media_ids: [&media_id],
                })
                .expect("serializable");
                &media_body
            }
            _ => &prepared.body,
        };
        // An SMS goes no faster than its sender number carries: each
        // message request that may reach the carrier takes its turn.
        let sender_turn = || match &request.route {
            Route::Agentless { target, .. } if target.messenger == crate::MessengerType::Sms => {
                self.senders.take(&target.from_address, clock, deadline)
            }
            _ => true,
        };
        if !sender_turn() {
            return Err(past_deadline(0));
        }
        let url = [self.settings.api_base.as_str(), &prepared.path].concat();
        let sent_as = match &request.route {
            Route::Communication {
                communication_id, ..
            } => communication_id.as_deref(),
            Route::Agentless { .. } => None,
        };
        let conversation = match &request.route {
            Route::Communication {
                conversation_id, ..
            } => Some(conversation_id.as_str()),
            Route::Agentless { .. } => None,
        };
        // When the last message request left, on the injector's clock.
        let left = Cell::new(None);
        let sms_from = match &request.route {
            Route::Agentless { target, .. } if target.messenger == crate::MessengerType::Sms => {
                Some(target.from_address.as_str())
            }
            _ => None,
        };
        let ask = |wire: Wire| {
            let go = before_send.is_none_or(|f| f(wire, sent_as, self.platform_now()));
            if let (Wire::Leaving, true, Some(from)) = (wire, go, sms_from) {
                self.senders.leaving(from, clock);
            }
            if wire == Wire::Leaving {
                left.set(Some(clock.now()));
            }
            go
        };
        let call = Call {
            url: &url,
            body: Some(body),
            timeout: None,
            permission,
            deadline,
            observer: Some(&ask),
            prepaid: Some(&prepaid),
        };
        let policy = &self.settings.retry_policy;
        let (mut attempts, mut resent) = (0, 0);
        // When the first attempt whose outcome is unknown left: every look
        // covers every attempt made since.
        let mut first_unknown = None;
        loop {
            // A look in another thread waits for this answer: the message
            // it names settles this injection, not that one.
            let sending = conversation.map(|c| self.memory.sending(c));
            let error = match self.call(&call, policy, &mut attempts) {
                Ok(answer) => {
                    let receipt = Receipt::from_answer(
                        request,
                        &answer.body,
                        attempts,
                        answer.correlation_id,
                    );
                    if let (Some(_), Some(id)) = (conversation, &receipt.message_id) {
                        self.memory.claim(id);
                    }
                    drop(sending);
                    return Ok(receipt);
                }
                Err(e) if policy.resolve_unknown && e.is_outcome_unknown() => e,
                // A resend that certainly did not arrive: the last look
                // proved every earlier attempt absent.
                Err(e) => return Err(e),
            };
            drop(sending);
            let (Some(sent_at), Some(matcher)) = (error.sent_at(), policy.matcher) else {
                log::warn!(target: "genesys_inject", "outcome unknown, and still unknown: {}", Unresolved::NoSendTime);
                return Err(error);
            };
            let (sent_at, left) = *first_unknown.get_or_insert((sent_at, left.get()));
            // Found at once; or, if not, still not there once the platform
            // has had the settling time to list it.
            let look = Look {
                since: Since::Local { sent_at, left },
                anchor: conversation.and_then(|c| self.memory.known(c).anchor),
                matcher,
                settle: policy.settle_time,
                deadline,
                wait: true,
            };
            let resolution = matcher.resolve(self, request, &look);
            match resolution {
                Resolution::Delivered(receipt) => {
                    log::info!(target: "genesys_inject", "outcome unknown ({error}), but the message is in the conversation: not sent again");
                    return Ok(Receipt {
                        attempts,
                        ..receipt
                    });
                }
                Resolution::NotDelivered if resent < policy.connect_retries => {
                    if !sender_turn() {
                        return Err(error.before_message());
                    }
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

fn client_key(auth: &Auth, settings: &Settings) -> String {
    format!("{}\n{}", auth.token_url(), settings.client_id)
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
