//! A fake messaging conversation on the raw server: the message route
//! records what it receives (then answers, or stalls, as the test says),
//! and the lookup routes list and return what was recorded, so that a test
//! can count the copies a conversation holds.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::rawserver::{platform_handler, with_date, Action, RawServer, Received};
use super::{COMM, CONV};

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
}

/// One message in the conversation.
#[derive(Clone, Debug)]
pub struct Stored {
    pub id: String,
    pub text: String,
    pub time: SystemTime,
    /// The communication it was sent as.
    pub communication: String,
}

pub struct FakeConversation {
    pub server: RawServer,
    pub messages: Arc<Mutex<Vec<Stored>>>,
    /// Every agent communication the conversation has had, the connected
    /// one last ([`COMM`] at first).
    pub agents: Arc<Mutex<Vec<String>>>,
}

impl FakeConversation {
    /// `plan(n)` decides the n-th message POST (0-based).
    pub fn start(plan: impl Fn(usize) -> OnMessage + Send + Sync + 'static) -> FakeConversation {
        Self::start_with(Lookups::Full, Duration::ZERO, plan)
    }

    /// As [`start`](Self::start), with lookups answered as `lookups` says
    /// and a message listed only `lag` after it was recorded.
    pub fn start_with(
        lookups: Lookups,
        lag: Duration,
        plan: impl Fn(usize) -> OnMessage + Send + Sync + 'static,
    ) -> FakeConversation {
        let messages: Arc<Mutex<Vec<Stored>>> = Arc::default();
        let agents = Arc::new(Mutex::new(vec![COMM.to_owned()]));
        let posts = Mutex::new(0usize);
        let store = messages.clone();
        let known = agents.clone();
        let handler = platform_handler(move |req: &Received| {
            let path = req.path.as_str();
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
                        text: text.clone(),
                        time: SystemTime::now(),
                        communication: communication.clone(),
                    })
                };
                match plan(n) {
                    OnMessage::Accept => {
                        record();
                        with_date(Action::ok(&super::message_ok(&id)))
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
                    OnMessage::AcceptAfter(delay) => {
                        record();
                        with_date(Action::ok(&super::message_ok(&id))).after(delay)
                    }
                }
            } else if path == format!("/api/v2/conversations/{CONV}")
                || path == format!("/api/v2/conversations/messages/{CONV}")
            {
                // The conversation (what resolve reads), or the messaging
                // listing, which the platform serves too: participants with
                // their messages, and no communication ids.
                let messaging = path.contains("/messages/");
                let listed = |comm: &str| -> Vec<serde_json::Value> {
                    store
                        .lock()
                        .unwrap()
                        .iter()
                        .filter(|m| m.communication == comm)
                        .filter(|m| m.time.elapsed().is_ok_and(|age| age >= lag))
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
                    serde_json::json!({"id": CONV, "participants": participants})
                };
                if lookups == Lookups::NoDate {
                    Action::ok(&answer.to_string())
                } else {
                    with_date(Action::ok(&answer.to_string()))
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
                with_date(Action::ok(
                    &serde_json::json!({"entities": entities}).to_string(),
                ))
            } else {
                Action::status(404, "")
            }
        });
        FakeConversation {
            server: RawServer::start(handler),
            messages,
            agents,
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
