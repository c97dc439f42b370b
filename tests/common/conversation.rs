//! A fake messaging conversation on the raw server: the message route
//! records what it receives (then answers, or stalls, as the test says),
//! and the lookup routes list and return what was recorded, so that a test
//! can count the copies a conversation holds.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::rawserver::{Action, RawServer, Received};
use super::{FakeClock, COMM, CONV};

/// The customer's communication in the fake conversation.
pub const CUSTOMER_COMM: &str = "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a";

/// How the fake conversation answers lookups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookups {
    /// Truthfully.
    Full,
    /// The conversation without its participants.
    NoParticipants,
    /// Bulk answers without the messages asked for.
    EmptyBulk,
    /// Truthfully, but without the platform's `Date` header.
    NoDate,
}

/// What the message route does with one POST.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnMessage {
    /// Record the message and answer 200.
    Accept,
    /// Record the message, then send no answer (for this long).
    RecordAndStall(Duration),
    /// Do not record it; send no answer.
    LoseAndStall(Duration),
    /// Record the message, then answer this status (a 504: the gateway
    /// lost the platform's answer).
    RecordAndAnswer(u16),
    /// Record the message, then answer 200 after this long.
    AcceptAfter(Duration),
    /// Do not record it; answer this status (a 502: a gateway lost it).
    LoseAndAnswer(u16),
}

/// One message in the conversation.
#[derive(Clone, Debug)]
pub struct Stored {
    pub id: String,
    /// As the platform stores it ([`Platform::store`]).
    pub text: String,
    /// On the clock that stamps messages.
    pub time: SystemTime,
    /// The communication it is listed on.
    pub communication: String,
}

/// The bot's communication, where a platform that stores messages
/// [`elsewhere`](Platform::elsewhere) lists them.
pub const BOT_COMM: &str = "b0b0b0b0-0000-4000-8000-b0b0b0b0b0b0";

/// How the fake platform behaves, beyond each message's [`OnMessage`].
#[derive(Clone)]
pub struct Platform {
    /// How lookups are answered.
    pub lookups: Lookups,
    /// A message is listed only this long after it was stored.
    pub lag: Duration,
    /// The `Date` headers run this many milliseconds ahead of the clock
    /// that stamps messages (negative: behind).
    pub date_ahead_ms: i64,
    /// Each communication lists only its first N messages, saying nothing.
    pub page: Option<usize>,
    /// How a text is stored.
    pub store: fn(&str) -> String,
    /// Messages are stored on the bot's communication, not the one sent as.
    pub elsewhere: bool,
    /// A fake clock whose sleeps move the platform's time too (its Date,
    /// its stamps, its lag): a wait for the listing takes no real time.
    pub clock: Option<Arc<FakeClock>>,
}

impl Default for Platform {
    fn default() -> Platform {
        Platform {
            lookups: Lookups::Full,
            lag: Duration::ZERO,
            date_ahead_ms: 0,
            page: None,
            store: |t| t.to_owned(),
            elsewhere: false,
            clock: None,
        }
    }
}

impl Platform {
    /// The time on the clock that stamps messages.
    pub fn now(&self) -> SystemTime {
        let moved = self.clock.as_ref().map_or(Duration::ZERO, |c| c.elapsed());
        SystemTime::now() + moved
    }

    /// The time its `Date` headers say, `ahead_ms` ahead of its stamps.
    fn date(&self, ahead_ms: i64) -> SystemTime {
        let now = self.now();
        let skew = Duration::from_millis(ahead_ms.unsigned_abs());
        if ahead_ms >= 0 {
            now + skew
        } else {
            now - skew
        }
    }
}

pub struct FakeConversation {
    pub server: RawServer,
    pub messages: Arc<Mutex<Vec<Stored>>>,
    /// Every agent communication the conversation has had, the connected
    /// one last ([`COMM`] at first).
    pub agents: Arc<Mutex<Vec<String>>>,
    /// How far its `Date` runs ahead of its stamps, in milliseconds.
    date_ahead_ms: Arc<std::sync::atomic::AtomicI64>,
}

impl FakeConversation {
    /// From now on, the `Date` runs `ms` milliseconds ahead of the clock
    /// that stamps messages (a proxy taken away, say).
    pub fn set_date_ahead_ms(&self, ms: i64) {
        self.date_ahead_ms
            .store(ms, std::sync::atomic::Ordering::SeqCst);
    }

    /// `plan(n)` decides the n-th message POST (0-based).
    pub fn start(plan: impl Fn(usize) -> OnMessage + Send + Sync + 'static) -> FakeConversation {
        Self::on(Platform::default(), plan)
    }

    /// As [`start`](Self::start), with lookups answered as `lookups` says
    /// and a message listed only `lag` after it was recorded.
    pub fn start_with(
        lookups: Lookups,
        lag: Duration,
        plan: impl Fn(usize) -> OnMessage + Send + Sync + 'static,
    ) -> FakeConversation {
        Self::on(
            Platform {
                lookups,
                lag,
                ..Platform::default()
            },
            plan,
        )
    }

    /// As [`start`](Self::start), on a platform that behaves as `platform`
    /// says.
    pub fn on(
        platform: Platform,
        plan: impl Fn(usize) -> OnMessage + Send + Sync + 'static,
    ) -> FakeConversation {
        let messages: Arc<Mutex<Vec<Stored>>> = Arc::default();
        let agents = Arc::new(Mutex::new(vec![COMM.to_owned()]));
        let posts = Mutex::new(0usize);
        let store = messages.clone();
        let known = agents.clone();
        let lookups = platform.lookups;
        let date_ahead_ms = Arc::new(std::sync::atomic::AtomicI64::new(platform.date_ahead_ms));
        let ahead = date_ahead_ms.clone();
        let dated_by = platform.clone();
        let dated = move |action: Action| {
            let ms = ahead.load(std::sync::atomic::Ordering::SeqCst);
            action.header("date", &httpdate::fmt_http_date(dated_by.date(ms)))
        };
        let handler = move |req: &Received| {
            let path = req.path.as_str();
            if path == "/oauth/token" {
                return Action::ok(&format!(
                    r#"{{"access_token":"{}","expires_in":86399}}"#,
                    super::TOKEN
                ));
            }
            if path.ends_with("/typing") {
                return dated(Action::status(204, ""));
            }
            let prefix = format!("/api/v2/conversations/messages/{CONV}/communications/");
            // A message to the connected agent's communication.
            let sent_as = path
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix("/messages"))
                .filter(|comm| known.lock().unwrap().last().map(String::as_str) == Some(comm))
                .map(str::to_owned);
            if let Some(communication) = sent_as {
                let n = {
                    let mut posts = posts.lock().unwrap();
                    *posts += 1;
                    *posts - 1
                };
                let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
                let text = body["textBody"].as_str().unwrap().to_owned();
                let id = format!("msg-{n}");
                let record = || {
                    store.lock().unwrap().push(Stored {
                        id: id.clone(),
                        text: (platform.store)(&text),
                        time: platform.now(),
                        communication: if platform.elsewhere {
                            BOT_COMM.to_owned()
                        } else {
                            communication.clone()
                        },
                    })
                };
                match plan(n) {
                    OnMessage::Accept => {
                        record();
                        dated(Action::ok(&super::message_ok(&id)))
                    }
                    OnMessage::RecordAndStall(d) => {
                        record();
                        Action::Stall(d)
                    }
                    OnMessage::LoseAndStall(d) => Action::Stall(d),
                    OnMessage::RecordAndAnswer(status) => {
                        record();
                        Action::status(status, "")
                    }
                    OnMessage::LoseAndAnswer(status) => Action::status(status, ""),
                    OnMessage::AcceptAfter(delay) => {
                        record();
                        dated(Action::ok(&super::message_ok(&id))).after(delay)
                    }
                }
            } else if path == format!("/api/v2/conversations/{CONV}")
                || path == format!("/api/v2/conversations/messages/{CONV}")
            {
                // The conversation (what resolve reads), or the messaging
                // listing, which the platform serves too: participants with
                // their messages, and no communication ids.
                let messaging = path.contains("/messages/");
                let now = platform.now();
                let listed =
                    |comm: &str| -> Vec<serde_json::Value> {
                        store
                        .lock()
                        .unwrap()
                        .iter()
                        .filter(|m| m.communication == comm)
                        .filter(|m| now.duration_since(m.time).is_ok_and(|age| age >= platform.lag))
                        .take(platform.page.unwrap_or(usize::MAX))
                        .map(|m| {
                            serde_json::json!({
                                "messageId": m.id,
                                "messageStatus": "sent",
                                "messageTime": humantime::format_rfc3339_millis(m.time).to_string(),
                            })
                        })
                        .collect()
                    };
                let agents = known.lock().unwrap().clone();
                let connected = |i: usize| {
                    if i + 1 == agents.len() {
                        "connected"
                    } else {
                        "disconnected"
                    }
                };
                let answer = if lookups == Lookups::NoParticipants {
                    serde_json::json!({"id": CONV})
                } else if messaging {
                    let mut participants =
                        vec![serde_json::json!({"purpose": "customer", "messages": []})];
                    participants.extend(agents.iter().enumerate().map(|(i, comm)| {
                        serde_json::json!({"purpose": "agent", "state": connected(i), "messages": listed(comm)})
                    }));
                    serde_json::json!({"id": CONV, "participants": participants})
                } else {
                    let mut participants = vec![serde_json::json!(
                        {"purpose": "customer", "messages": [{"id": CUSTOMER_COMM, "state": "connected", "messages": []}]})];
                    participants.extend(agents.iter().enumerate().map(|(i, comm)| {
                        serde_json::json!({"purpose": "agent", "state": connected(i), "messages": [
                            {"id": comm, "state": connected(i), "messages": listed(comm)}]})
                    }));
                    participants.push(serde_json::json!({"purpose": "workflow", "state": "connected", "messages": [
                        {"id": BOT_COMM, "state": "connected", "messages": listed(BOT_COMM)}]}));
                    serde_json::json!({"id": CONV, "participants": participants})
                };
                if lookups == Lookups::NoDate {
                    Action::ok(&answer.to_string())
                } else {
                    dated(Action::ok(&answer.to_string()))
                }
            } else if path == format!("/api/v2/conversations/messages/{CONV}/messages/bulk") {
                let ids: Vec<String> = serde_json::from_str(&req.body).unwrap();
                let entities: Vec<serde_json::Value> = store
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|m| lookups != Lookups::EmptyBulk && ids.contains(&m.id))
                    .map(|m| {
                        serde_json::json!({
                            "id": m.id, "textBody": m.text, "direction": "outbound",
                            "status": "sent", "conversationId": CONV,
                        })
                    })
                    .collect();
                dated(Action::ok(
                    &serde_json::json!({"entities": entities}).to_string(),
                ))
            } else {
                Action::status(404, "")
            }
        };
        FakeConversation {
            server: RawServer::start(handler),
            messages,
            agents,
            date_ahead_ms,
        }
    }

    /// Every agent leaves: no communication is connected.
    pub fn no_agent(&self) {
        self.agents.lock().unwrap().push(String::new());
    }

    /// The conversation is transferred: `communication` is its connected
    /// agent's from now on, the one before is disconnected.
    pub fn transfer_to(&self, communication: &str) {
        self.agents.lock().unwrap().push(communication.to_owned());
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The texts the conversation holds, in order.
    pub fn texts(&self) -> Vec<String> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.text.clone())
            .collect()
    }
}
