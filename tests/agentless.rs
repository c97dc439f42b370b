//! The agentless route: exact bodies per messenger type, retries, receipts,
//! masking of customer numbers, validation.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use genesys_inject::{
    AgentlessTarget, ContentBlock, Error, InjectRequest, TypingMode, ValidationError,
};
use mockito::{Matcher, ServerGuard};
use serde_json::json;

const PATH: &str = "/api/v2/conversations/messages/agentless";
const DEPLOYMENT: &str = "5e1b1f4c-8f0a-4d7e-9a1e-2b3c4d5e6f70";
const CONTACT: &str = "a7c3e9d1-2b4f-4a6c-8e0d-1f2a3b4c5d6e";
const INTEGRATION: &str = "c0ffee00-1234-4abc-9def-0123456789ab";
const FROM: &str = "+18005550100";
const TO: &str = "+13175551234";

fn answer(conversation: &str, message: &str) -> String {
    json!({
        "id": "outbound-1", "conversationId": conversation, "fromAddress": FROM, "toAddress": TO,
        "messengerType": "sms", "useExistingActiveConversation": true,
        "message": {"id": message, "status": "queued"}, "timestamp": "2026-11-26T12:00:00.000Z"
    })
    .to_string()
}

fn platform() -> ServerGuard {
    let mut server = mockito::Server::new();
    token_mock(&mut server, 86399).create();
    server
}

fn blocks(texts: &[&str]) -> Vec<ContentBlock> {
    texts.iter().map(|t| ContentBlock::text(*t)).collect()
}

/// No typing call on this route, whatever happens.
fn no_typing(server: &mut ServerGuard) -> mockito::Mock {
    server
        .mock("POST", Matcher::Regex("/typing$".into()))
        .expect(0)
        .create()
}

#[test]
fn web_messaging_exact_body_receipt_and_audit() {
    capture_logs();
    let mut server = platform();
    let typing = no_typing(&mut server);
    let sent = server
        .mock("POST", PATH)
        .match_header("authorization", format!("Bearer {TOKEN}").as_str())
        .match_body(Matcher::Json(json!({
            "fromAddress": DEPLOYMENT,
            "toAddressMessengerType": "webmessaging",
            "externalContactId": CONTACT,
            "textBody": "Your order shipped",
            "useExistingActiveConversation": true
        })))
        .with_body(answer("11111111-2222-4333-8444-555555555555", "msg-web"))
        .expect(1)
        .create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    let target = AgentlessTarget::web_messaging(DEPLOYMENT, CONTACT);
    let receipt = injector
        .inject(&InjectRequest::agentless(
            target,
            blocks(&["Your order ", "shipped"]),
        ))
        .unwrap();
    assert_eq!(receipt.message_id.as_deref(), Some("msg-web"));
    assert_eq!(
        receipt.conversation_id.as_deref(),
        Some("11111111-2222-4333-8444-555555555555")
    );
    assert_eq!(receipt.attempts, 1);
    sent.assert();
    typing.assert();
    assert!(audit_records().iter().any(|r| r["interactionId"]
        == "11111111-2222-4333-8444-555555555555"
        && r["status"] == "SUCCESS"));
}

#[test]
fn sms_body_and_a_429_then_200() {
    let mut server = platform();
    let clock = FakeClock::new();
    let typing = no_typing(&mut server);
    let body = Matcher::Json(json!({
        "fromAddress": FROM, "toAddressMessengerType": "sms", "toAddress": TO,
        "textBody": "hi", "useExistingActiveConversation": false
    }));
    let limited = server
        .mock("POST", PATH)
        .match_body(body.clone())
        .with_status(429)
        .with_header("retry-after", "1")
        .expect(1)
        .create();
    let ok = server
        .mock("POST", PATH)
        .match_body(body)
        .with_body(answer("conv-sms", "msg-sms"))
        .expect(1)
        .create();
    let injector = builder(&server, &clock).build().unwrap();
    let request = InjectRequest::agentless(AgentlessTarget::sms(FROM, TO), blocks(&["hi"]))
        .use_existing_conversation(false);
    let receipt = injector.inject(&request).unwrap();
    assert_eq!(receipt.attempts, 2);
    assert_eq!(receipt.message_id.as_deref(), Some("msg-sms"));
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(1)]);
    limited.assert();
    ok.assert();
    typing.assert();
}

#[test]
fn open_messaging_body() {
    let mut server = platform();
    let sent = server
        .mock("POST", PATH)
        .match_body(Matcher::Json(json!({
            "fromAddress": INTEGRATION, "toAddressMessengerType": "open", "toAddress": "customer-42",
            "textBody": "hello", "useExistingActiveConversation": true
        })))
        .with_body(answer("conv-open", "msg-open"))
        .expect(1)
        .create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    let receipt = injector
        .inject(&InjectRequest::agentless(
            AgentlessTarget::open(INTEGRATION, "customer-42"),
            blocks(&["hello"]),
        ))
        .unwrap();
    assert_eq!(receipt.conversation_id.as_deref(), Some("conv-open"));
    sent.assert();
}

#[test]
fn a_403_names_the_permission_and_numbers_are_masked_in_audit_and_webhook() {
    capture_logs();
    let mut server = platform();
    server
        .mock("POST", PATH)
        .with_status(403)
        .with_body(genesys_error(
            403,
            "missing.permissions",
            "Missing permission",
        ))
        .create();
    let mut hook = mockito::Server::new();
    let bodies = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = bodies.clone();
    hook.mock("POST", "/hook")
        .with_body_from_request(move |req| {
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(req.body().unwrap()).into_owned());
            Vec::new()
        })
        .create();
    let to = "+13175559876";
    let injector = builder(&server, &FakeClock::new())
        .webhook_url(format!("{}/hook", hook.url()))
        .build()
        .unwrap();
    let err = injector
        .inject(&InjectRequest::agentless(
            AgentlessTarget::sms(FROM, to),
            blocks(&["hi"]),
        ))
        .unwrap_err();
    match &err {
        Error::Forbidden { permission, .. } => {
            assert_eq!(*permission, "conversation:message:create")
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("conversation:message:create"));
    assert!(injector.flush(Duration::from_secs(5)));

    let masked = "+*******9876";
    let record = audit_records()
        .into_iter()
        .find(|r| r["interactionId"] == masked)
        .expect("masked audit record");
    assert_eq!(record["status"], "FAILURE");
    let webhook = bodies.lock().unwrap().join("\n");
    assert!(webhook.contains(masked), "{webhook}");
    assert!(
        !webhook.contains(to),
        "number in clear in the webhook: {webhook}"
    );
    for (target, _, line) in logged() {
        if target.starts_with("genesys_inject") {
            assert!(!line.contains(to), "number in clear in a log line: {line}");
        }
    }
}

#[test]
fn invalid_agentless_requests_send_nothing() {
    let mut server = mockito::Server::new();
    let any = server.mock("POST", Matcher::Any).expect(0).create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    let long_sms = "a".repeat(766);
    let cases: Vec<(AgentlessTarget, &str, ValidationError)> = vec![
        (
            AgentlessTarget::sms(FROM, "3175551234"),
            "hi",
            ValidationError::InvalidPhoneNumber {
                field: "to_address",
            },
        ),
        (
            AgentlessTarget::sms("+1800", TO),
            "hi",
            ValidationError::InvalidPhoneNumber {
                field: "from_address",
            },
        ),
        (
            AgentlessTarget::web_messaging(DEPLOYMENT, ""),
            "hi",
            ValidationError::InvalidId {
                field: "external_contact_id",
            },
        ),
        (
            AgentlessTarget::web_messaging("deployment", CONTACT),
            "hi",
            ValidationError::InvalidId {
                field: "deployment_id",
            },
        ),
        (
            AgentlessTarget::sms(FROM, TO),
            &long_sms,
            ValidationError::BlockTooLong {
                index: 0,
                len: 766,
                max: 765,
            },
        ),
        (
            AgentlessTarget::open("x", "customer"),
            "hi",
            ValidationError::InvalidId {
                field: "integration_id",
            },
        ),
    ];
    for (target, text, expected) in cases {
        match injector.inject(&InjectRequest::agentless(target, blocks(&[text]))) {
            Err(Error::Validation(e)) => assert_eq!(e, expected),
            other => panic!("expected {expected:?}, got {other:?}"),
        }
    }
    let whatsapp = injector.inject(&InjectRequest::agentless(
        AgentlessTarget::whatsapp(INTEGRATION, "13175551234"),
        blocks(&["hi"]),
    ));
    assert!(
        matches!(&whatsapp, Err(Error::Validation(ValidationError::Unsupported(m))) if m.contains("template")),
        "{whatsapp:?}"
    );
    // max_text_chars lower than the channel's limit wins.
    let strict = builder(&server, &FakeClock::new())
        .max_text_chars(10)
        .build()
        .unwrap();
    let err = strict
        .inject(&InjectRequest::agentless(
            AgentlessTarget::web_messaging(DEPLOYMENT, CONTACT),
            blocks(&["12345678901"]),
        ))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Validation(ValidationError::BlockTooLong { max: 10, .. })
        ),
        "{err:?}"
    );
    any.assert();
}

#[test]
fn typing_required_with_an_agentless_target_is_a_config_error() {
    let mut server = mockito::Server::new();
    let any = server.mock("POST", Matcher::Any).expect(0).create();
    let injector = builder(&server, &FakeClock::new())
        .typing(TypingMode::Required)
        .build()
        .unwrap();
    let err = injector
        .inject(&InjectRequest::agentless(
            AgentlessTarget::web_messaging(DEPLOYMENT, CONTACT),
            blocks(&["hi"]),
        ))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("agentless")),
        "{err:?}"
    );
    any.assert();
}
