//! Resolving an unknown outcome under `RetryPolicy::resolve_unknown`
//! (issues 14 and 18): one post when the platform has the message, one
//! resend when it proves it absent, unknown whenever an answer lacks the
//! data or the clock cannot be trusted.

use crate::common::conversation::{FakeConversation, Lookups, OnMessage, CUSTOMER_COMM};
use crate::common::status::*;
use crate::common::*;
use genesys_inject::{Resolution, RetryPolicy, TypingMode, Unresolved};
use mockito::Matcher;
use serde_json::json;
use std::time::{Duration, SystemTime};

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
fn with_resolve_unknown_a_timeout_after_the_platform_recorded_it_is_one_post_and_success() {
    let conversation =
        FakeConversation::start(|_| OnMessage::RecordAndStall(Duration::from_secs(2)));
    let hook =
        crate::common::rawserver::RawServer::start(|_| crate::common::rawserver::Action::ok(""));
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
