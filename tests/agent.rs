//! A conversation id is enough (issue 21, item 4):
//! `InjectRequest::to_conversation` sends as the connected agent's
//! communication, looked up once per conversation.

mod common;

use std::time::Duration;

use common::conversation::{FakeConversation, OnMessage};
use common::*;
use genesys_inject::{ContentBlock, Error, InjectRequest, RetryPolicy, TypingMode};
use mockito::Matcher;
use serde_json::json;

fn conversation_path() -> String {
    format!("/api/v2/conversations/{CONV}")
}

fn to_conversation(text: &str) -> InjectRequest {
    InjectRequest::to_conversation(CONV, vec![ContentBlock::text(text)])
}

#[test]
fn the_connected_agents_communication_is_looked_up_once_and_sent_as() {
    let mut server = platform_server();
    let looked_up = server
        .mock("GET", conversation_path().as_str())
        .with_body(
            json!({"id": CONV, "participants": [
                {"purpose": "customer", "messages": [{"id": "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a", "state": "connected"}]},
                {"purpose": "agent", "state": "disconnected", "messages": [{"id": "99999999-9999-4999-8999-999999999999"}]},
                {"purpose": "agent", "messages": [{"id": COMM, "state": "connected"}]},
            ]})
            .to_string(),
        )
        .expect(1)
        .create();
    let sent = server
        .mock("POST", message_path().as_str())
        .match_body(Matcher::Json(json!({"textBody": "closing at six"})))
        .with_body(message_ok("m-1"))
        .expect(2)
        .create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    for _ in 0..2 {
        let receipt = injector.inject(&to_conversation("closing at six")).unwrap();
        assert_eq!(receipt.message_id.as_deref(), Some("m-1"));
    }
    looked_up.assert();
    sent.assert();
    // Without traffic, prepare shows where it will go.
    let prepared = injector.prepare(&to_conversation("x")).unwrap();
    assert!(prepared
        .path()
        .ends_with("/communications/{communicationId}/messages"));
}

#[test]
fn no_connected_agent_is_a_clear_error_naming_the_agentless_route_and_not_retried() {
    for participants in [
        json!([{"purpose": "customer", "messages": [{"id": COMM}]}]),
        json!([{"purpose": "agent", "messages": [{"id": COMM, "state": "disconnected"}]}]),
        json!([{"purpose": "agent", "messages": []}]),
    ] {
        let mut server = platform_server();
        let looked_up = server
            .mock("GET", conversation_path().as_str())
            .with_body(json!({"id": CONV, "participants": participants}).to_string())
            .expect(1)
            .create();
        let nothing = server
            .mock("POST", Matcher::Regex("/messages$".into()))
            .expect(0)
            .create();
        let injector = builder(&server, &FakeClock::new()).build().unwrap();
        let err = injector.inject(&to_conversation("hi")).unwrap_err();
        assert!(matches!(err, Error::NoConnectedAgent { .. }), "{err:?}");
        assert!(!err.is_outcome_unknown());
        assert!(err.to_string().contains("agentless"), "{err}");
        looked_up.assert();
        nothing.assert();
    }
    // An answer without participants proves nothing either way: an error,
    // nothing sent.
    let mut server = platform_server();
    server
        .mock("GET", conversation_path().as_str())
        .with_body(json!({"id": CONV}).to_string())
        .create();
    let nothing = server
        .mock("POST", Matcher::Regex("/messages$".into()))
        .expect(0)
        .create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    assert!(injector.inject(&to_conversation("hi")).is_err());
    nothing.assert();
}

#[test]
fn an_invalid_conversation_id_sends_nothing() {
    let mut server = mockito::Server::new();
    let any = server.mock("POST", Matcher::Any).expect(0).create();
    let get = server.mock("GET", Matcher::Any).expect(0).create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    let err = injector
        .inject(&InjectRequest::to_conversation(
            "../../users/me",
            vec![ContentBlock::text("hi")],
        ))
        .unwrap_err();
    assert!(matches!(err, Error::Validation(_)), "{err:?}");
    any.assert();
    get.assert();
}

#[test]
fn an_unknown_outcome_is_resolved_on_the_agents_communication() {
    let conversation =
        FakeConversation::start(|_| OnMessage::RecordAndStall(Duration::from_secs(2)));
    let injector = genesys_inject::Injector::builder()
        .base_url(conversation.url())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .clock(FakeClock::new())
        .typing(TypingMode::Off)
        .message_timeout(Duration::from_millis(300))
        .retry_policy(RetryPolicy::default().resolve_unknown(true))
        .build()
        .unwrap();
    let receipt = injector.inject(&to_conversation("once")).unwrap();
    assert!(receipt.resolved);
    assert_eq!(conversation.texts(), ["once"]);
}
