//! The core pipeline against a mock platform: exact requests, retries, token
//! cache, errors, validation.

mod common;

use std::time::Duration;

use common::*;
use genesys_inject::{
    ContentBlock, Error, InjectRequest, Injector, Outcome, TypingMode, ValidationError,
};
use mockito::Matcher;

#[test]
fn sends_the_exact_requests_the_platform_expects() {
    let mut server = mockito::Server::new();
    let clock = FakeClock::new();
    let token = token_mock(&mut server, 86399).expect(1).create();
    let typing = typing_mock(&mut server).expect(1).create();
    let message = server
        .mock("POST", message_path().as_str())
        .match_header("authorization", format!("Bearer {TOKEN}").as_str())
        .match_header("content-type", "application/json")
        .match_header(
            "user-agent",
            Matcher::Regex(r"^genesys-inject/\d+\.\d+\.\d+".into()),
        )
        // Compact JSON, exactly as the official SDKs send it.
        .match_body(Matcher::Exact(r#"{"textBody":"Hello there"}"#.into()))
        .with_status(200)
        .with_header("ININ-Correlation-Id", "corr-1")
        .with_body(message_ok("msg-1"))
        .expect(1)
        .create();
    let injector = builder(&server, &clock).build().unwrap();
    let receipt = injector.inject(&request(&["Hello ", "there"])).unwrap();
    assert_eq!(receipt.message_id.as_deref(), Some("msg-1"));
    assert_eq!(receipt.attempts, 1);
    assert_eq!(receipt.status.as_deref(), Some("queued"));
    assert_eq!(receipt.conversation_id.as_deref(), Some(CONV));
    assert_eq!(receipt.correlation_id.as_deref(), Some("corr-1"));
    token.assert();
    typing.assert();
    message.assert();
    assert!(
        clock.sleeps().is_empty(),
        "no wait without delay or 429: {:?}",
        clock.sleeps()
    );
}

#[test]
fn build_makes_no_network_call() {
    let mut server = mockito::Server::new();
    let any = server.mock("POST", Matcher::Any).expect(0).create();
    let _injector = builder(&server, &FakeClock::new()).build().unwrap();
    any.assert();
}

#[test]
fn a_429_then_200_waits_retry_after_and_counts_two_attempts() {
    let mut server = platform_server();
    let clock = FakeClock::new();
    let limited = server
        .mock("POST", message_path().as_str())
        .with_status(429)
        .with_header("Retry-After", "2")
        .with_body(genesys_error(
            429,
            "too.many.requests.retry.after",
            "Rate limit exceeded the maximum. Retry the request in [2] seconds",
        ))
        .expect(1)
        .create();
    let ok = server
        .mock("POST", message_path().as_str())
        .with_status(200)
        .with_body(message_ok("m2"))
        .expect(1)
        .create();
    let injector = builder(&server, &clock).build().unwrap();
    let receipt = injector.inject(&request(&["hi"])).unwrap();
    assert_eq!(receipt.attempts, 2);
    assert_eq!(receipt.message_id.as_deref(), Some("m2"));
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(2)]);
    limited.assert();
    ok.assert();
}

#[test]
fn a_429_on_every_try_gives_rate_limited_after_four_posts() {
    let mut server = platform_server();
    let clock = FakeClock::new();
    // No Retry-After header: the tutorial's 5 s default, doubled each time.
    let limited = server
        .mock("POST", message_path().as_str())
        .with_status(429)
        .with_header("ININ-Correlation-Id", "corr-429")
        .expect(4)
        .create();
    let injector = builder(&server, &clock).build().unwrap();
    let err = injector.inject(&request(&["hi"])).unwrap_err();
    match &err {
        Error::RateLimited {
            attempts,
            correlation_id,
            ..
        } => {
            assert_eq!(*attempts, 4);
            assert_eq!(correlation_id.as_deref(), Some("corr-429"));
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert_eq!(err.outcome(), Outcome::NotDelivered);
    let secs: Vec<u64> = clock.sleeps().iter().map(Duration::as_secs).collect();
    assert_eq!(secs, [5, 10, 20]);
    limited.assert();
}

#[test]
fn a_401_on_the_message_fetches_one_new_token_and_retries_once() {
    let mut server = mockito::Server::new();
    let clock = FakeClock::new();
    let token = token_mock(&mut server, 86399).expect(2).create();
    typing_mock(&mut server).create();
    let refused = server
        .mock("POST", message_path().as_str())
        .with_status(401)
        .expect(1)
        .create();
    let ok = server
        .mock("POST", message_path().as_str())
        .with_status(200)
        .with_body(message_ok("m3"))
        .expect(1)
        .create();
    let injector = builder(&server, &clock).build().unwrap();
    let receipt = injector.inject(&request(&["hi"])).unwrap();
    assert_eq!(receipt.attempts, 2);
    token.assert();
    refused.assert();
    ok.assert();
}

#[test]
fn a_second_401_is_an_auth_error() {
    let mut server = mockito::Server::new();
    let clock = FakeClock::new();
    let token = token_mock(&mut server, 86399).expect(2).create();
    typing_mock(&mut server).create();
    let refused = server
        .mock("POST", message_path().as_str())
        .with_status(401)
        .expect(2)
        .create();
    let injector = builder(&server, &clock).build().unwrap();
    let err = injector.inject(&request(&["hi"])).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Auth {
                status: Some(401),
                ..
            }
        ),
        "{err:?}"
    );
    token.assert();
    refused.assert();
}

#[test]
fn a_403_is_forbidden_and_names_the_permission() {
    let mut server = platform_server();
    server
        .mock("POST", message_path().as_str())
        .with_status(403)
        .with_header("inin-correlation-id", "corr-403")
        .with_body(genesys_error(
            403,
            "missing.permissions",
            "Missing permissions",
        ))
        .create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    let err = injector.inject(&request(&["hi"])).unwrap_err();
    assert!(
        matches!(&err, Error::Forbidden { correlation_id: Some(c), .. } if c == "corr-403"),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("conversation:message:create"), "{text}");
    assert!(text.contains("Missing permissions"), "{text}");
}

#[test]
fn a_400_with_a_genesys_body_is_an_api_error_with_code_and_correlation_id() {
    let mut server = platform_server();
    server
        .mock("POST", message_path().as_str())
        .with_status(400)
        .with_header("ININ-Correlation-Id", "corr-400")
        .with_body(genesys_error(
            400,
            "bad.request",
            "The conversation is not active",
        ))
        .create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    let err = injector.inject(&request(&["hi"])).unwrap_err();
    match &err {
        Error::Api {
            status,
            code,
            message,
            correlation_id,
            body,
            outcome,
            sent_at,
        } => {
            assert!(sent_at.is_some());
            assert_eq!(*status, 400);
            assert_eq!(code.as_deref(), Some("bad.request"));
            assert_eq!(message, "The conversation is not active");
            assert_eq!(correlation_id.as_deref(), Some("corr-400"));
            assert_eq!(
                body.as_ref().unwrap().context_id.as_deref(),
                Some("ctx-400")
            );
            assert_eq!(*outcome, Outcome::NotDelivered);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.correlation_id(), Some("corr-400"));
}

#[test]
fn refused_credentials_give_auth_and_no_api_call() {
    let mut server = mockito::Server::new();
    let token = server
        .mock("POST", "/oauth/token")
        .with_status(401)
        .with_body(r#"{"error":"invalid_client","description":"client not found","error_description":"client not found"}"#)
        .expect(1)
        .create();
    let api = server
        .mock("POST", Matcher::Regex("^/api/".into()))
        .expect(0)
        .create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    let err = injector.inject(&request(&["hi"])).unwrap_err();
    match &err {
        Error::Auth {
            status,
            error,
            description,
            ..
        } => {
            assert_eq!(*status, Some(401));
            assert_eq!(error.as_deref(), Some("invalid_client"));
            assert_eq!(description, "client not found");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("GENESYS_CLIENT_ID"), "{err}");
    token.assert();
    api.assert();
}

#[test]
fn a_rate_limited_token_call_is_retried() {
    let mut server = mockito::Server::new();
    let clock = FakeClock::new();
    let limited = server
        .mock("POST", "/oauth/token")
        .with_status(400)
        .with_body(r#"{"error":"invalid_request","description":"rate limit exceeded","error_description":"rate limit exceeded"}"#)
        .expect(1)
        .create();
    let token = token_mock(&mut server, 86399).expect(1).create();
    typing_mock(&mut server).create();
    server
        .mock("POST", message_path().as_str())
        .with_body(message_ok("m"))
        .create();
    let injector = builder(&server, &clock).build().unwrap();
    injector.inject(&request(&["hi"])).unwrap();
    limited.assert();
    token.assert();
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(5)]);
}

#[test]
fn invalid_input_sends_nothing() {
    let mut server = mockito::Server::new();
    let any = server.mock("POST", Matcher::Any).expect(0).create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    let at_limit = format!("{}👋", "a".repeat(1998));
    let over = format!("{}👋", "a".repeat(1999));
    let cases: Vec<(InjectRequest, ValidationError)> = vec![
        (
            InjectRequest::new("not-a-guid", COMM, vec![ContentBlock::text("hi")]),
            ValidationError::InvalidId {
                field: "conversation_id",
            },
        ),
        (
            InjectRequest::new(
                CONV,
                format!("{COMM}/../../x"),
                vec![ContentBlock::text("hi")],
            ),
            ValidationError::InvalidId {
                field: "communication_id",
            },
        ),
        (
            InjectRequest::new(CONV, COMM, vec![]),
            ValidationError::NoBlocks,
        ),
        (request(&["  ", "\n"]), ValidationError::BlankText),
        (
            request(&[&over]),
            ValidationError::BlockTooLong {
                index: 0,
                len: 2001,
                max: 2000,
            },
        ),
        (
            request(&[&at_limit, "b"]),
            ValidationError::TooLong {
                len: 2001,
                max: 2000,
            },
        ),
        (
            request(&["what is your ", "Password?"]),
            ValidationError::Unsafe {
                rule: r"\bpassword\b".into(),
                at: 14,
            },
        ),
        (
            request(&["my SSN"]),
            ValidationError::Unsafe {
                rule: r"\bssn\b".into(),
                at: 4,
            },
        ),
        (
            request(&["credit_card"]),
            ValidationError::Unsafe {
                rule: r"\bcredit.card\b".into(),
                at: 1,
            },
        ),
    ];
    for (req, expected) in cases {
        match injector.inject(&req) {
            Err(Error::Validation(e)) => assert_eq!(e, expected),
            other => panic!("expected {expected:?}, got {other:?}"),
        }
    }
    any.assert();
}

#[test]
fn the_limit_is_2000_utf16_units_inclusive() {
    let mut server = platform_server();
    let at_limit = format!("{}👋", "a".repeat(1998));
    let message = server
        .mock("POST", message_path().as_str())
        .match_body(Matcher::Json(serde_json::json!({ "textBody": at_limit })))
        .with_body(message_ok("m"))
        .expect(1)
        .create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    injector.inject(&request(&[&at_limit])).unwrap();
    message.assert();
}

#[test]
fn sixteen_threads_share_one_token() {
    let mut server = mockito::Server::new();
    let token = token_mock(&mut server, 86399).expect(1).create();
    typing_mock(&mut server).create();
    let message = server
        .mock("POST", message_path().as_str())
        .with_body(message_ok("m"))
        .expect(16)
        .create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    std::thread::scope(|s| {
        for i in 0..16 {
            let injector = &injector;
            s.spawn(move || injector.inject(&request(&[&format!("hello {i}")])).unwrap());
        }
    });
    token.assert();
    message.assert();
}

#[test]
fn the_token_is_refreshed_60_seconds_before_it_expires() {
    let mut server = mockito::Server::new();
    let clock = FakeClock::new();
    let token = token_mock(&mut server, 300).expect(2).create();
    typing_mock(&mut server).create();
    let messages = server
        .mock("POST", message_path().as_str())
        .with_body(message_ok("m"))
        .expect(3)
        .create();
    let injector = builder(&server, &clock).build().unwrap();
    injector.inject(&request(&["1"])).unwrap();
    clock.advance(Duration::from_secs(239));
    injector.inject(&request(&["2"])).unwrap(); // still cached
    clock.advance(Duration::from_secs(2));
    injector.inject(&request(&["3"])).unwrap(); // 241 s: refreshed
    token.assert();
    messages.assert();
}

#[test]
fn the_delay_is_slept_before_typing_and_message() {
    // Each API request notes how far the injected clock had moved when it
    // arrived: typing, then the message, both after the whole delay.
    use common::rawserver::{Action, RawServer};
    use std::sync::{Arc, Mutex};
    let clock = FakeClock::new();
    let arrivals: Arc<Mutex<Vec<(String, Duration)>>> = Arc::default();
    let (seen, at) = (arrivals.clone(), clock.clone());
    let server = RawServer::start(move |req| {
        if req.path == "/oauth/token" {
            return Action::ok(&format!(
                r#"{{"access_token":"{TOKEN}","expires_in":86399}}"#
            ));
        }
        let kind = if req.path.ends_with("/typing") {
            "typing"
        } else {
            "message"
        };
        seen.lock().unwrap().push((kind.to_owned(), at.elapsed()));
        Action::ok(&message_ok("m"))
    });
    let injector = genesys_inject::Injector::builder()
        .base_url(server.url())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .clock(clock.clone())
        .build()
        .unwrap();
    injector
        .inject(&request(&["hi"]).delay(Duration::from_millis(500)))
        .unwrap();
    assert_eq!(clock.sleeps(), vec![Duration::from_millis(500)]);
    let half = Duration::from_millis(500);
    assert_eq!(
        *arrivals.lock().unwrap(),
        [("typing".to_owned(), half), ("message".to_owned(), half)]
    );
}

#[test]
fn typing_modes() {
    let mut server = mockito::Server::new();
    token_mock(&mut server, 86399).create();
    let typing = server
        .mock("POST", typing_path().as_str())
        .with_status(500)
        .expect(2)
        .create();
    let message = server
        .mock("POST", message_path().as_str())
        .with_body(message_ok("m"))
        .expect(2)
        .create();

    // BestEffort (default): a failed typing call is only a warning.
    let best_effort = builder(&server, &FakeClock::new()).build().unwrap();
    best_effort.inject(&request(&["hi"])).unwrap();

    // Off: no typing call at all.
    let off = builder(&server, &FakeClock::new())
        .typing(TypingMode::Off)
        .build()
        .unwrap();
    off.inject(&request(&["hi"])).unwrap();

    // Required: the failure is returned and the message is not sent.
    let required = builder(&server, &FakeClock::new())
        .typing(TypingMode::Required)
        .build()
        .unwrap();
    let err = required.inject(&request(&["hi"])).unwrap_err();
    assert!(matches!(err, Error::Api { status: 500, .. }), "{err:?}");
    assert_eq!(
        err.outcome(),
        Outcome::NotDelivered,
        "the message was never sent"
    );
    typing.assert();
    message.assert();
}

#[test]
fn injector_is_send_sync_and_debug_hides_secrets() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Injector>();
    let server = mockito::Server::new();
    let b =
        builder(&server, &FakeClock::new()).webhook_url("https://hooks.example.com/x?key=hook-key");
    let shown_builder = format!("{b:?}");
    let injector = b.build().unwrap();
    let shown = format!("{shown_builder} {injector:?}");
    for secret in [CLIENT_SECRET, BASIC, "dGVzdC1jbGllbnQtaWQ6", "hook-key"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("[redacted]"), "{shown}");
    drop(injector);
}
