//! What became of a message (issue 14): its status, and waiting for
//! delivery; resolving an unknown outcome with a lookup.

mod common;
#[path = "status/resolve.rs"]
mod resolve;

use common::status::*;
use common::*;
use genesys_inject::{
    AgentlessTarget, ContentBlock, Error, InjectRequest, MessageStatus, Receipt, Resolution,
    Unresolved,
};
use mockito::Matcher;
use serde_json::json;
use std::time::{Duration, SystemTime};

const MSG: &str = "9f3c6a5251f14d6ea2b36c1d2e3f4a5b";

fn status_path() -> String {
    format!("/api/v2/conversations/messages/{CONV}/messages/{MSG}")
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
