//! What became of a message (issue 14): its status, waiting for delivery,
//! resolving an unknown outcome, and `inject` doing so on its own under
//! `RetryPolicy::resolve_unknown`.

mod common;

use std::time::{Duration, SystemTime};

use common::conversation::{FakeConversation, Lookups, OnMessage, CUSTOMER_COMM};
use common::*;
use genesys_inject::{
    AgentlessTarget, ContentBlock, Error, InjectRequest, MessageStatus, Receipt, Resolution,
    RetryPolicy, TypingMode, Unresolved,
};
use mockito::{Matcher, ServerGuard};
use serde_json::json;

const MSG: &str = "9f3c6a5251f14d6ea2b36c1d2e3f4a5b";

fn status_path() -> String {
    format!("/api/v2/conversations/messages/{CONV}/messages/{MSG}")
}

fn conversation_path() -> String {
    format!("/api/v2/conversations/{CONV}")
}

fn bulk_path() -> String {
    format!("/api/v2/conversations/messages/{CONV}/messages/bulk")
}

/// An injector on `server` whose look proves a message absent at once:
/// the settling time (how long the platform may take to list a message)
/// is tested on its own.
fn settled(server: &ServerGuard) -> genesys_inject::Injector {
    builder(server, &FakeClock::new())
        .retry_policy(RetryPolicy::default().settle_time(Duration::ZERO))
        .build()
        .unwrap()
}

/// A platform whose token route answers; tests add the rest.
fn platform() -> ServerGuard {
    let mut server = mockito::Server::new();
    token_mock(&mut server, 86399).create();
    typing_mock(&mut server).create();
    server
}

#[test]
fn every_status_the_platform_gives_and_one_it_does_not() {
    let mut server = platform();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    for (name, expected) in [
        ("queued", MessageStatus::Queued),
        ("sent", MessageStatus::Sent),
        ("received", MessageStatus::Received),
        ("published", MessageStatus::Published),
        ("removed", MessageStatus::Removed),
        ("delivery-success", MessageStatus::DeliverySuccess),
        ("read", MessageStatus::Read),
        (
            "delivery-failed",
            MessageStatus::DeliveryFailed { reason: None },
        ),
        ("failed", MessageStatus::Failed { reason: None }),
        ("beamed-up", MessageStatus::Other("beamed-up".into())),
    ] {
        let mock = server
            .mock("GET", status_path().as_str())
            .match_header("authorization", format!("Bearer {TOKEN}").as_str())
            .with_body(json!({"id": MSG, "status": name, "direction": "outbound"}).to_string())
            .expect(1)
            .create();
        assert_eq!(
            injector.message_status(&Receipt::of(CONV, MSG)).unwrap(),
            expected
        );
        mock.assert();
        mock.remove();
    }
}

#[test]
fn a_failed_delivery_carries_its_reason() {
    let mut server = platform();
    server
        .mock("GET", status_path().as_str())
        .with_body(
            json!({"id": MSG, "status": "delivery-failed", "normalizedReceipts": [
                {"id": MSG, "type": "Receipt", "status": "Failed", "isFinalReceipt": true,
                 "reasons": [{"code": "InvalidDestination", "message": "The number cannot receive SMS"}]}
            ]})
            .to_string(),
        )
        .create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    let status = injector.message_status(&Receipt::of(CONV, MSG)).unwrap();
    assert_eq!(
        status,
        MessageStatus::DeliveryFailed {
            reason: Some("InvalidDestination: The number cannot receive SMS".into())
        }
    );
    assert!(status.is_failure());
}

#[test]
fn a_receipt_without_usable_ids_is_a_validation_error_and_a_403_names_the_permission() {
    let mut server = platform();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    for receipt in [
        Receipt::of("not-a-guid", MSG),
        Receipt::of(CONV, "../../users/me"),
        Receipt::of(CONV, ""),
    ] {
        assert!(matches!(
            injector.message_status(&receipt),
            Err(Error::Validation(_))
        ));
    }
    server
        .mock("GET", status_path().as_str())
        .with_status(403)
        .with_body(genesys_error(403, "missing.permission", "no"))
        .create();
    match injector.message_status(&Receipt::of(CONV, MSG)) {
        Err(Error::Forbidden { permission, .. }) => {
            assert!(
                permission.contains("conversation:message:view"),
                "{permission}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn waiting_polls_with_a_growing_pause_until_a_final_status() {
    let mut server = platform();
    let queued = server
        .mock("GET", status_path().as_str())
        .with_body(json!({"status": "queued"}).to_string())
        .expect(3)
        .create();
    let delivered = server
        .mock("GET", status_path().as_str())
        .with_body(json!({"status": "delivery-success"}).to_string())
        .expect(1)
        .create();
    let clock = FakeClock::new();
    let injector = builder(&server, &clock).build().unwrap();
    let status = injector
        .wait_for_delivery(&Receipt::of(CONV, MSG), Duration::from_secs(60))
        .unwrap();
    assert_eq!(status, MessageStatus::DeliverySuccess);
    assert_eq!(clock.sleeps(), secs(&[1, 2, 4]));
    queued.assert();
    delivered.assert();
}

fn secs(s: &[u64]) -> Vec<Duration> {
    s.iter().map(|s| Duration::from_secs(*s)).collect()
}

#[test]
fn waiting_ends_at_the_timeout_with_the_last_status() {
    let mut server = platform();
    let sent = server
        .mock("GET", status_path().as_str())
        .with_body(json!({"status": "sent"}).to_string())
        .expect(5)
        .create();
    let clock = FakeClock::new();
    let injector = builder(&server, &clock).build().unwrap();
    let status = injector
        .wait_for_delivery(&Receipt::of(CONV, MSG), Duration::from_secs(10))
        .unwrap();
    assert_eq!(status, MessageStatus::Sent);
    assert!(!status.is_final());
    // 1 + 2 + 4 + 3 (what was left): 10 s, on the fake clock.
    assert_eq!(clock.sleeps(), secs(&[1, 2, 4, 3]));
    sent.assert();
}

/// An error whose outcome is unknown, from a real call: the message POST
/// answered 504.
fn unknown_error(server: &mut ServerGuard, text: &str) -> Error {
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
fn details(messages: &[(&str, SystemTime)]) -> Vec<serde_json::Value> {
    messages
        .iter()
        .map(|(id, t)| json!({"messageId": id, "messageTime": humantime::format_rfc3339_millis(*t).to_string()}))
        .collect()
}

/// A conversation whose agent communication (the one sent as) has messages
/// at these times (and ids).
fn listing(messages: &[(&str, SystemTime)]) -> String {
    json!({"id": CONV, "participants": [
        {"purpose": "customer", "messages": [{"id": CUSTOMER_COMM, "messages": []}]},
        {"purpose": "agent", "messages": [{"id": COMM, "messages": details(messages)}]},
    ]})
    .to_string()
}

/// `listing`'s answer, with the platform's `Date` now, as Genesys sends it.
fn listed(server: &mut ServerGuard, body: String) -> mockito::Mock {
    server
        .mock("GET", conversation_path().as_str())
        .with_header("date", &httpdate::fmt_http_date(SystemTime::now()))
        .with_body(body)
        .create()
}

fn bulk(entities: &[(&str, &str)]) -> String {
    let entities: Vec<_> = entities
        .iter()
        .map(|(id, text)| json!({"id": id, "textBody": text, "direction": "outbound", "status": "sent", "conversationId": CONV}))
        .collect();
    json!({"entities": entities, "pageSize": entities.len()}).to_string()
}

#[test]
fn resolve_finds_the_message_sent_after_the_attempt_began() {
    let mut server = platform();
    let err = unknown_error(&mut server, "Your parcel is here");
    let sent_at = err.sent_at().unwrap();
    listed(
        &mut server,
        listing(&[
            ("older", sent_at - Duration::from_secs(3600)),
            ("ours", sent_at + Duration::from_millis(300)),
            ("reply", sent_at + Duration::from_millis(900)),
        ]),
    );
    let fetched = server
        .mock("POST", bulk_path().as_str())
        // Only the messages since the attempt are fetched.
        .match_body(Matcher::Json(json!(["ours", "reply"])))
        .with_body(bulk(&[
            ("ours", "Your parcel is here"),
            ("reply", "thanks"),
        ]))
        .expect(1)
        .create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    match injector.resolve(&request(&["Your parcel is here"]), &err) {
        Resolution::Delivered(receipt) => {
            assert_eq!(receipt.message_id.as_deref(), Some("ours"));
            assert_eq!(receipt.conversation_id.as_deref(), Some(CONV));
            assert!(receipt.resolved);
        }
        other => panic!("{other:?}"),
    }
    fetched.assert();
}

#[test]
fn resolve_does_not_take_the_same_text_sent_before_the_attempt() {
    let mut server = platform();
    let err = unknown_error(&mut server, "Reminder: your appointment");
    let sent_at = err.sent_at().unwrap();
    // Sent on purpose 10 minutes earlier, with the same text; nothing since.
    listed(
        &mut server,
        listing(&[("earlier", sent_at - Duration::from_secs(600))]),
    );
    let bulk_call = server.mock("POST", bulk_path().as_str()).expect(0).create();
    let injector = settled(&server);
    assert!(matches!(
        injector.resolve(&request(&["Reminder: your appointment"]), &err),
        Resolution::NotDelivered
    ));
    bulk_call.assert();
}

#[test]
fn resolve_says_not_there_when_no_recent_message_has_the_text() {
    let mut server = platform();
    let err = unknown_error(&mut server, "hello");
    let sent_at = err.sent_at().unwrap();
    listed(
        &mut server,
        listing(&[("a", sent_at + Duration::from_secs(1))]),
    );
    server
        .mock("POST", bulk_path().as_str())
        .with_body(bulk(&[("a", "hello there")]))
        .create();
    let injector = settled(&server);
    assert!(matches!(
        injector.resolve(&request(&["hello"]), &err),
        Resolution::NotDelivered
    ));
}

#[test]
fn resolve_reads_the_platforms_clock_from_its_date_header() {
    let mut server = platform();
    let err = unknown_error(&mut server, "skewed");
    let sent_at = err.sent_at().unwrap();
    // The platform's clock is 5 minutes ahead of this machine's: our
    // message carries its time, 5 minutes after `sent_at` by our clock, and
    // an old one is two minutes before the attempt by the platform's (a
    // look begins one minute before it).
    let ahead = Duration::from_secs(300);
    server
        .mock("GET", conversation_path().as_str())
        .with_header("date", &httpdate::fmt_http_date(SystemTime::now() + ahead))
        .with_body(listing(&[
            ("old", sent_at + ahead - Duration::from_secs(120)),
            ("ours", sent_at + ahead + Duration::from_millis(200)),
        ]))
        .create();
    server
        .mock("POST", bulk_path().as_str())
        .match_body(Matcher::Json(json!(["ours"])))
        .with_body(bulk(&[("ours", "skewed")]))
        .create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    assert!(matches!(
        injector.resolve(&request(&["skewed"]), &err),
        Resolution::Delivered(_)
    ));
}

#[test]
fn many_recent_messages_are_fetched_in_bulk_calls_of_a_thousand() {
    let mut server = platform();
    let err = unknown_error(&mut server, "needle");
    let sent_at = err.sent_at().unwrap();
    let ids: Vec<String> = (0..1501).map(|i| format!("m{i:04}")).collect();
    let messages: Vec<(&str, SystemTime)> = ids
        .iter()
        .map(|id| (id.as_str(), sent_at + Duration::from_millis(10)))
        .collect();
    listed(&mut server, listing(&messages));
    let first = server
        .mock("POST", bulk_path().as_str())
        .match_body(Matcher::Json(json!(ids[..1000])))
        .with_body(bulk(
            &ids[..1000]
                .iter()
                .map(|id| (id.as_str(), "hay"))
                .collect::<Vec<_>>(),
        ))
        .expect(1)
        .create();
    let second = server
        .mock("POST", bulk_path().as_str())
        .match_body(Matcher::Json(json!(ids[1000..])))
        .with_body(bulk(
            &ids[1000..]
                .iter()
                .map(|id| (id.as_str(), if id == "m1499" { "needle" } else { "hay" }))
                .collect::<Vec<_>>(),
        ))
        .expect(1)
        .create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    match injector.resolve(&request(&["needle"]), &err) {
        Resolution::Delivered(receipt) => assert_eq!(receipt.message_id.as_deref(), Some("m1499")),
        other => panic!("{other:?}"),
    }
    first.assert();
    second.assert();
}

#[test]
fn a_lookup_that_fails_or_has_nowhere_to_look_is_still_unknown() {
    let mut server = platform();
    let err = unknown_error(&mut server, "hi");
    server
        .mock("GET", conversation_path().as_str())
        .with_status(500)
        .with_body("down")
        .create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    match injector.resolve(&request(&["hi"]), &err) {
        Resolution::Unknown(Unresolved::LookupFailed(e)) => {
            assert!(matches!(*e, Error::Api { status: 500, .. }), "{e:?}")
        }
        other => panic!("{other:?}"),
    }
    // The agentless route: only the lost answer named the conversation.
    let agentless = InjectRequest::agentless(
        AgentlessTarget::web_messaging(CONV, COMM),
        vec![ContentBlock::text("hi")],
    );
    assert!(matches!(
        injector.resolve(&agentless, &err),
        Resolution::Unknown(Unresolved::NoConversation)
    ));
    // An error that says it was not delivered needs no lookup.
    let refused = Error::Validation(genesys_inject::ValidationError::NoBlocks);
    assert!(matches!(
        injector.resolve(&request(&["hi"]), &refused),
        Resolution::NotDelivered
    ));
}

#[test]
fn a_429_and_a_401_during_the_lookup_are_handled_as_everywhere() {
    let mut server = platform();
    let err = unknown_error(&mut server, "hi");
    let sent_at = err.sent_at().unwrap();
    let limited = server
        .mock("GET", conversation_path().as_str())
        .with_status(429)
        .with_header("retry-after", "3")
        .expect(1)
        .create();
    listed(
        &mut server,
        listing(&[("ours", sent_at + Duration::from_secs(1))]),
    );
    let refused = server
        .mock("POST", bulk_path().as_str())
        .with_status(401)
        .expect(1)
        .create();
    server
        .mock("POST", bulk_path().as_str())
        .with_body(bulk(&[("ours", "hi")]))
        .create();
    let tokens = token_mock(&mut server, 86399).expect(2).create();
    let clock = FakeClock::new();
    let injector = builder(&server, &clock).build().unwrap();
    assert!(matches!(
        injector.resolve(&request(&["hi"]), &err),
        Resolution::Delivered(_)
    ));
    // The 429's Retry-After, through the fake clock; a new token after the 401.
    assert_eq!(clock.sleeps(), secs(&[3]));
    limited.assert();
    refused.assert();
    tokens.assert();
}

/// An injector on the fake conversation, resolving unknown outcomes, with
/// short message timeouts (real time) and a fake clock.
fn resolving(
    conversation: &FakeConversation,
    clock: &std::sync::Arc<FakeClock>,
) -> genesys_inject::Injector {
    genesys_inject::Injector::builder()
        .base_url(conversation.url())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .clock(clock.clone())
        .typing(TypingMode::Off)
        .message_timeout(Duration::from_millis(300))
        .retry_policy(RetryPolicy::default().resolve_unknown(true))
        .build()
        .unwrap()
}

#[test]
fn with_resolve_unknown_a_timeout_after_the_platform_recorded_it_is_one_post_and_success() {
    let conversation =
        FakeConversation::start(|_| OnMessage::RecordAndStall(Duration::from_secs(2)));
    let hook = common::rawserver::RawServer::start(|_| common::rawserver::Action::ok(""));
    let clock = FakeClock::new();
    let injector = genesys_inject::Injector::builder()
        .base_url(conversation.url())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .clock(clock.clone())
        .typing(TypingMode::Off)
        .message_timeout(Duration::from_millis(300))
        .retry_policy(RetryPolicy::default().resolve_unknown(true))
        .webhook_url(format!("{}/hook", hook.url()))
        .build()
        .unwrap();
    let receipt = injector.inject(&request(&["only once"])).unwrap();
    drop(injector);
    // One audit event, with the final outcome.
    let events = hook.received();
    assert_eq!(events.len(), 1);
    let body: serde_json::Value = serde_json::from_str(&events[0].body).unwrap();
    assert!(body["auditEntry"]
        .as_str()
        .unwrap()
        .contains(r#""status":"SUCCESS""#));
    assert!(receipt.resolved);
    assert_eq!(receipt.message_id.as_deref(), Some("msg-0"));
    assert_eq!(receipt.attempts, 1);
    assert_eq!(conversation.server.count("/messages"), 1);
    assert_eq!(conversation.texts(), ["only once"]);
    // Found at the first look: no pause.
    assert!(clock.sleeps().is_empty());
}

#[test]
fn with_resolve_unknown_a_timeout_before_the_platform_recorded_it_is_sent_again_once() {
    let conversation = FakeConversation::start(|n| {
        if n == 0 {
            OnMessage::LoseAndStall(Duration::from_secs(2))
        } else {
            OnMessage::Accept
        }
    });
    let clock = FakeClock::new();
    let receipt = resolving(&conversation, &clock)
        .inject(&request(&["exactly one"]))
        .unwrap();
    assert!(!receipt.resolved);
    assert_eq!(receipt.attempts, 2);
    assert_eq!(conversation.server.count("/messages"), 2);
    assert_eq!(conversation.texts(), ["exactly one"]);
    // Not there at once, nor once the settling time has passed since the
    // attempt (the fake clock's one wait): sent again.
    let waits = clock.sleeps();
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert!(
        waits[0] >= genesys_inject::DEFAULT_SETTLE_TIME && waits[0] <= secs(&[32])[0],
        "{waits:?}"
    );
}

#[test]
fn without_resolve_unknown_a_timeout_stays_unknown_and_is_not_sent_again() {
    let conversation =
        FakeConversation::start(|_| OnMessage::RecordAndStall(Duration::from_secs(2)));
    let injector = genesys_inject::Injector::builder()
        .base_url(conversation.url())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .clock(FakeClock::new())
        .typing(TypingMode::Off)
        .message_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = injector.inject(&request(&["maybe"])).unwrap_err();
    assert!(err.is_outcome_unknown());
    assert_eq!(conversation.server.count("/messages"), 1);
}

// Issue 18: a hostile platform. Absent (send again) needs proof; anything
// less is unknown.

/// What `resolve` makes of a conversation answered with `body` (and a
/// `Date` of now) and bulk answers `bulk_body`, for a message "hi".
fn resolution_with(body: String, date: Option<String>, bulk_body: Option<String>) -> Resolution {
    let mut server = platform();
    let err = unknown_error(&mut server, "hi");
    let mut mock = server.mock("GET", conversation_path().as_str());
    if let Some(date) = date {
        mock = mock.with_header("date", &date);
    }
    mock.with_body(body).create();
    if let Some(bulk_body) = bulk_body {
        server
            .mock("POST", bulk_path().as_str())
            .with_body(bulk_body)
            .create();
    }
    settled(&server).resolve(&request(&["hi"]), &err)
}

fn now_date() -> Option<String> {
    Some(httpdate::fmt_http_date(SystemTime::now()))
}

#[test]
fn a_conversation_without_the_data_is_unknown_not_absent() {
    let recent = SystemTime::now();
    for body in [
        // No participants at all.
        json!({"id": CONV}).to_string(),
        json!({"id": CONV, "participants": "none"}).to_string(),
        // Participants, but not the communication sent as.
        json!({"id": CONV, "participants": [{"purpose": "agent", "messages": [{"id": CUSTOMER_COMM, "messages": []}]}]}).to_string(),
        // The communication, without its list of messages.
        json!({"id": CONV, "participants": [{"purpose": "agent", "messages": [{"id": COMM}]}]}).to_string(),
        // A message without its id.
        json!({"id": CONV, "participants": [{"purpose": "agent", "messages": [{"id": COMM, "messages": [{"messageTime": humantime::format_rfc3339_millis(recent).to_string()}]}]}]}).to_string(),
    ] {
        match resolution_with(body.clone(), now_date(), None) {
            Resolution::Unknown(Unresolved::Incomplete(_)) => {}
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[test]
fn a_bulk_answer_without_every_id_asked_for_is_unknown_not_absent() {
    let recent = SystemTime::now() + Duration::from_millis(200);
    let conversation = listing(&[("a", recent), ("b", recent)]);
    for bulk_body in [
        json!({"entities": []}).to_string(),
        bulk(&[("a", "hello")]),
        json!({"pageSize": 25}).to_string(),
        // Returned, but without its text: nothing to compare.
        json!({"entities": [{"id": "a", "textBody": "x"}, {"id": "b", "direction": "outbound"}]})
            .to_string(),
    ] {
        match resolution_with(conversation.clone(), now_date(), Some(bulk_body.clone())) {
            Resolution::Unknown(Unresolved::Incomplete(_)) => {}
            other => panic!("{bulk_body}: {other:?}"),
        }
    }
    // Every id, with its text, and none is ours: absent.
    assert!(matches!(
        resolution_with(
            conversation,
            now_date(),
            Some(bulk(&[("a", "hello"), ("b", "bye")]))
        ),
        Resolution::NotDelivered
    ));
}

#[test]
fn a_look_sooner_than_the_settling_time_proves_nothing_absent() {
    let mut server = platform();
    let err = unknown_error(&mut server, "not yet");
    listed(&mut server, listing(&[]));
    // The default settling time (30 s): the look comes at once.
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    match injector.resolve(&request(&["not yet"]), &err) {
        Resolution::Unknown(Unresolved::NotSettled { after }) => {
            assert!(after < Duration::from_secs(5), "{after:?}")
        }
        other => panic!("{other:?}"),
    }
    // The same look once the settling time has passed: absent.
    assert!(matches!(
        settled(&server).resolve(&request(&["not yet"]), &err),
        Resolution::NotDelivered
    ));
}

#[test]
fn a_bulk_answer_that_pages_is_followed_to_its_last_page() {
    let mut server = platform();
    let err = unknown_error(&mut server, "needle");
    let recent = err.sent_at().unwrap() + Duration::from_millis(100);
    listed(&mut server, listing(&[("a", recent), ("b", recent)]));
    let next = format!("{}?pageNumber=2", bulk_path());
    let first = server
        .mock("POST", bulk_path().as_str())
        .match_body(Matcher::Json(json!(["a", "b"])))
        .with_body(
            json!({"entities": [{"id": "a", "textBody": "hay", "direction": "outbound"}],
                   "pageNumber": 1, "pageCount": 2, "nextUri": next})
            .to_string(),
        )
        .expect(1)
        .create();
    let second = server
        .mock("POST", next.as_str())
        .match_body(Matcher::Json(json!(["a", "b"])))
        .with_body(bulk(&[("b", "needle")]))
        .expect(1)
        .create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    match injector.resolve(&request(&["needle"]), &err) {
        Resolution::Delivered(receipt) => assert_eq!(receipt.message_id.as_deref(), Some("b")),
        other => panic!("{other:?}"),
    }
    first.assert();
    second.assert();

    // A page that points elsewhere proves nothing.
    let elsewhere =
        json!({"entities": [{"id": "a", "textBody": "hay"}], "nextUri": "/api/v2/users/me?x=1"})
            .to_string();
    assert!(matches!(
        resolution_with(
            listing(&[("a", SystemTime::now() + Duration::from_millis(100))]),
            now_date(),
            Some(elsewhere)
        ),
        Resolution::Unknown(Unresolved::Incomplete(_))
    ));
}

#[test]
fn a_date_that_is_missing_unreadable_or_hours_off_is_not_trusted() {
    let recent = SystemTime::now() + Duration::from_millis(100);
    let far = |d: SystemTime| Some(httpdate::fmt_http_date(d));
    for date in [
        Some("not a date".to_owned()),
        far(SystemTime::now() + Duration::from_secs(3 * 3600)),
        far(SystemTime::UNIX_EPOCH + Duration::from_secs(86400)),
    ] {
        // Ours is there: without a clock to trust, even that is not taken
        // (a 1970 Date once made an hour-old copy count as this one).
        match resolution_with(
            listing(&[("ours", recent)]),
            date.clone(),
            Some(bulk(&[("ours", "hi")])),
        ) {
            Resolution::Unknown(Unresolved::UntrustedClock) => {}
            other => panic!("{date:?}: {other:?}"),
        }
    }
}

#[test]
fn another_participants_message_with_the_same_text_is_not_ours() {
    let mut server = platform();
    let err = unknown_error(&mut server, "Thanks for waiting");
    let recent = err.sent_at().unwrap() + Duration::from_millis(300);
    // The customer (or another agent) wrote the same words since; our
    // communication sent nothing.
    let body = json!({"id": CONV, "participants": [
        {"purpose": "customer", "messages": [{"id": CUSTOMER_COMM, "messages": details(&[("theirs", recent)])}]},
        {"purpose": "agent", "messages": [{"id": COMM, "messages": []}]},
    ]})
    .to_string();
    listed(&mut server, body);
    let bulk_call = server.mock("POST", bulk_path().as_str()).expect(0).create();
    let injector = settled(&server);
    assert!(matches!(
        injector.resolve(&request(&["Thanks for waiting"]), &err),
        Resolution::NotDelivered
    ));
    bulk_call.assert();
}

#[test]
fn with_resolve_unknown_missing_data_is_one_post_and_unknown() {
    // (mockito always sends a Date: the raw fake can leave it out.)
    for lookups in [Lookups::NoParticipants, Lookups::EmptyBulk, Lookups::NoDate] {
        let conversation = FakeConversation::start_with(lookups, Duration::ZERO, |_| {
            OnMessage::RecordAndStall(Duration::from_secs(2))
        });
        let err = resolving(&conversation, &FakeClock::new())
            .inject(&request(&["just the once"]))
            .unwrap_err();
        assert!(err.is_outcome_unknown(), "{lookups:?}: {err:?}");
        assert_eq!(conversation.texts(), ["just the once"], "{lookups:?}");
    }
}

#[test]
fn after_a_resend_every_look_covers_every_attempt() {
    // The platform lists a message 4 s after it arrives, and every answer
    // is lost (3.2 s timeout: more than the window's 2 s margin and the 1 s
    // the Date header's whole seconds can add): the two looks after the
    // first attempt see nothing, so it is sent again; the look after the
    // second attempt must still cover the first, which is listed by then.
    let conversation = FakeConversation::start_with(Lookups::Full, Duration::from_secs(4), |n| {
        if n == 0 {
            OnMessage::RecordAndStall(Duration::from_secs(5))
        } else {
            OnMessage::LoseAndStall(Duration::from_secs(5))
        }
    });
    let injector = genesys_inject::Injector::builder()
        .base_url(conversation.url())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .clock(FakeClock::new())
        .typing(TypingMode::Off)
        .message_timeout(Duration::from_millis(3200))
        .retry_policy(RetryPolicy::default().resolve_unknown(true))
        .build()
        .unwrap();
    let receipt = injector.inject(&request(&["covered"])).unwrap();
    assert!(receipt.resolved);
    assert_eq!(receipt.message_id.as_deref(), Some("msg-0"));
    assert_eq!(receipt.attempts, 2);
    assert_eq!(conversation.texts(), ["covered"]);
}

#[test]
fn the_wait_is_bounded_even_when_the_status_call_is_rate_limited() {
    let mut server = platform();
    let limited = server
        .mock("GET", status_path().as_str())
        .with_status(429)
        .with_header("retry-after", "30")
        .expect_at_least(1)
        .create();
    let clock = FakeClock::new();
    let injector = builder(&server, &clock).build().unwrap();
    let result = injector.wait_for_delivery(&Receipt::of(CONV, MSG), Duration::from_secs(2));
    assert!(
        matches!(result, Err(Error::RateLimited { .. })),
        "{result:?}"
    );
    let waited: Duration = clock.sleeps().iter().sum();
    assert!(waited <= Duration::from_secs(2), "{:?}", clock.sleeps());
    limited.assert();
}

#[test]
fn a_404_inside_the_wait_is_asked_again() {
    let mut server = platform();
    let missing = server
        .mock("GET", status_path().as_str())
        .with_status(404)
        .with_body(genesys_error(404, "not.found", "no such message"))
        .expect(2)
        .create();
    let delivered = server
        .mock("GET", status_path().as_str())
        .with_body(json!({"status": "delivery-success"}).to_string())
        .create();
    let clock = FakeClock::new();
    let injector = builder(&server, &clock).build().unwrap();
    let status = injector
        .wait_for_delivery(&Receipt::of(CONV, MSG), Duration::from_secs(30))
        .unwrap();
    assert_eq!(status, MessageStatus::DeliverySuccess);
    assert_eq!(clock.sleeps(), secs(&[1, 2]));
    missing.assert();
    delivered.assert();
    // Never listed before the timeout: then the 404 is the answer.
    let mut server = platform();
    server
        .mock("GET", status_path().as_str())
        .with_status(404)
        .create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    let result = injector.wait_for_delivery(&Receipt::of(CONV, MSG), Duration::from_secs(5));
    assert!(
        matches!(result, Err(Error::Api { status: 404, .. })),
        "{result:?}"
    );
}

#[test]
fn a_conversation_listing_over_a_megabyte_is_still_read() {
    let mut server = platform();
    let err = unknown_error(&mut server, "long story");
    let recent = err.sent_at().unwrap() + Duration::from_millis(100);
    // 20,000 old messages on the customer's side: about 2 MiB.
    let old = SystemTime::now() - Duration::from_secs(86400);
    let ids: Vec<String> = (0..20_000).map(|i| format!("old-{i:05}")).collect();
    let theirs: Vec<(&str, SystemTime)> = ids.iter().map(|i| (i.as_str(), old)).collect();
    let body = json!({"id": CONV, "participants": [
        {"purpose": "customer", "messages": [{"id": CUSTOMER_COMM, "messages": details(&theirs)}]},
        {"purpose": "agent", "messages": [{"id": COMM, "messages": details(&[("ours", recent)])}]},
    ]})
    .to_string();
    assert!(body.len() > 1 << 20);
    listed(&mut server, body);
    server
        .mock("POST", bulk_path().as_str())
        .with_body(bulk(&[("ours", "long story")]))
        .create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    assert!(matches!(
        injector.resolve(&request(&["long story"]), &err),
        Resolution::Delivered(_)
    ));
}
