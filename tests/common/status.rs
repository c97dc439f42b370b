//! Helpers the status tests share.

use super::*;
use crate::common::conversation::CUSTOMER_COMM;
use genesys_inject::{Error, RetryPolicy};
use mockito::ServerGuard;
use serde_json::json;
use std::time::{Duration, SystemTime};

pub fn conversation_path() -> String {
    format!("/api/v2/conversations/{CONV}")
}

pub fn bulk_path() -> String {
    format!("/api/v2/conversations/messages/{CONV}/messages/bulk")
}

/// An injector on `server` whose look proves a message absent at once:
/// the settling time (how long the platform may take to list a message)
/// is tested on its own.
pub fn settled(server: &ServerGuard) -> genesys_inject::Injector {
    builder(server, &FakeClock::new())
        .retry_policy(RetryPolicy::default().settle_time(Duration::ZERO))
        .build()
        .unwrap()
}

/// A platform whose token route answers; tests add the rest.
pub fn platform() -> ServerGuard {
    let mut server = mockito::Server::new();
    token_mock(&mut server, 86399).create();
    typing_mock(&mut server).create();
    server
}

pub fn secs(s: &[u64]) -> Vec<Duration> {
    s.iter().map(|s| Duration::from_secs(*s)).collect()
}

/// An error whose outcome is unknown, from a real call: the message POST
/// answered 504.
pub fn unknown_error(server: &mut ServerGuard, text: &str) -> Error {
    let gateway = server
        .mock("POST", message_path().as_str())
        .with_status(504)
        .expect(1)
        .create();
    let injector = builder(server, &FakeClock::new()).build().unwrap();
    let err = injector.inject(&request(&[text])).unwrap_err();
    assert!(err.is_outcome_unknown(), "{err:?}");
    gateway.assert();
    gateway.remove();
    err
}

/// The messages of one communication, at these times (and ids).
pub fn details(messages: &[(&str, SystemTime)]) -> Vec<serde_json::Value> {
    messages
        .iter()
        .map(|(id, t)| json!({"messageId": id, "messageTime": humantime::format_rfc3339_millis(*t).to_string()}))
        .collect()
}

/// A conversation whose agent communication (the one sent as) has messages
/// at these times (and ids).
pub fn listing(messages: &[(&str, SystemTime)]) -> String {
    json!({"id": CONV, "participants": [
        {"purpose": "customer", "messages": [{"id": CUSTOMER_COMM, "messages": []}]},
        {"purpose": "agent", "messages": [{"id": COMM, "messages": details(messages)}]},
    ]})
    .to_string()
}

/// `listing`'s answer, with the platform's `Date` now, as Genesys sends it.
pub fn listed(server: &mut ServerGuard, body: String) -> mockito::Mock {
    server
        .mock("GET", conversation_path().as_str())
        .with_header("date", &httpdate::fmt_http_date(SystemTime::now()))
        .with_body(body)
        .create()
}

pub fn bulk(entities: &[(&str, &str)]) -> String {
    let entities: Vec<_> = entities
        .iter()
        .map(|(id, text)| json!({"id": id, "textBody": text, "direction": "outbound", "status": "sent", "conversationId": CONV}))
        .collect();
    json!({"entities": entities, "pageSize": entities.len()}).to_string()
}
