//! Bad input, round two (issue 11): impossible ports, audit records that
//! carry only validated ids, the token endpoint's failures told apart, the
//! webhook posted to exactly its URL and logged in its own words, pooled
//! connections reused by many threads, echoed credentials redacted, and the
//! delivery delay capped.

mod common;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::rawserver::{platform_handler, Action, RawServer};
use common::*;
use genesys_inject::{
    AgentlessTarget, ContentBlock, Error, InjectRequest, Injector, Outcome, TypingMode,
    ValidationError, INVALID_INTERACTION_ID, MAX_DELAY,
};
use mockito::Matcher;

#[test]
fn a_port_above_65535_or_zero_is_a_config_error() {
    for url in [
        "http://127.0.0.1:65536",
        "http://127.0.0.1:99999/",
        "http://localhost:0",
    ] {
        let base = Injector::builder()
            .credentials(CLIENT_ID, CLIENT_SECRET)
            .base_url(url)
            .build();
        assert!(
            matches!(&base, Err(Error::Config(m)) if m.contains("port")),
            "{url}: {base:?}"
        );
        let hook = Injector::builder()
            .credentials(CLIENT_ID, CLIENT_SECRET)
            .webhook_url(format!("{url}/hook"))
            .build();
        assert!(
            matches!(&hook, Err(Error::Config(m)) if m.contains("port")),
            "{url}: {hook:?}"
        );
    }
}

/// The `interactionId` of every webhook event `hook` received.
fn interaction_ids(hook: &RawServer) -> Vec<String> {
    hook.received()
        .iter()
        .map(|r| {
            let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            let entry: serde_json::Value =
                serde_json::from_str(body["auditEntry"].as_str().unwrap()).unwrap();
            entry["interactionId"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn audit_records_carry_only_ids_that_passed_validation() {
    capture_logs();
    let hook = RawServer::start(|_| Action::ok(""));
    let server = mockito::Server::new();
    let injector = builder(&server, &FakeClock::new())
        .webhook_url(format!("{}/hook", hook.url()))
        .build()
        .unwrap();
    let phone = "+13175550199";
    let g = "a7c3e9d1-2b4f-4a6c-8e0d-1f2a3b4c5d6e";
    let cases: Vec<(InjectRequest, String)> = vec![
        // A phone number typed where the conversation id goes.
        (
            InjectRequest::new(phone, COMM, vec![ContentBlock::text("hi")]),
            INVALID_INTERACTION_ID.into(),
        ),
        // A valid conversation with an invalid communication: the GUID stays.
        (
            InjectRequest::new(CONV, phone, vec![ContentBlock::text("hi")]),
            CONV.into(),
        ),
        // Apple does not take an external contact id: refused, and the raw
        // contact never reaches the record; the valid address is masked.
        (
            InjectRequest::agentless(
                AgentlessTarget::apple(g, phone).external_contact_id("../../x?y"),
                vec![ContentBlock::text("hi")],
            ),
            "+*******0199".into(),
        ),
        (
            InjectRequest::agentless(
                AgentlessTarget::apple(g, "+1 317 555 0199").external_contact_id(phone),
                vec![ContentBlock::text("hi")],
            ),
            INVALID_INTERACTION_ID.into(),
        ),
        // SMS with an invalid contact id and a valid number: masked number.
        (
            InjectRequest::agentless(
                AgentlessTarget::sms("+18005550100", phone).external_contact_id(phone),
                vec![ContentBlock::text("hi")],
            ),
            "+*******0199".into(),
        ),
        // A valid contact id is used as it is (the text fails validation).
        (
            InjectRequest::agentless(
                AgentlessTarget::web_messaging(g, g),
                vec![ContentBlock::text("my password")],
            ),
            g.into(),
        ),
    ];
    for (request, _) in &cases {
        assert!(
            matches!(injector.inject(request), Err(Error::Validation(_))),
            "{request:?}"
        );
    }
    assert!(injector.flush(Duration::from_secs(5)));
    let expected: Vec<String> = cases.into_iter().map(|(_, id)| id).collect();
    assert_eq!(interaction_ids(&hook), expected);
    for (_, _, line) in logged() {
        assert!(!line.contains(phone) && !line.contains("../../x"), "{line}");
    }
}

#[test]
fn apple_refuses_an_external_contact_id() {
    let request = InjectRequest::agentless(
        AgentlessTarget::apple("a7c3e9d1-2b4f-4a6c-8e0d-1f2a3b4c5d6e", "+13175550199")
            .external_contact_id("a7c3e9d1-2b4f-4a6c-8e0d-1f2a3b4c5d6e"),
        vec![ContentBlock::text("hi")],
    );
    let injector = Injector::builder()
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .build()
        .unwrap();
    assert!(matches!(
        injector.prepare(&request),
        Err(Error::Validation(ValidationError::Unsupported(_)))
    ));
}

/// Injects once against a token endpoint that answers `status` and `body`
/// every time; the API must never be called.
fn token_failure(status: usize, body: &str, header: Option<(&str, &str)>) -> Error {
    let mut server = mockito::Server::new();
    let mut token = server
        .mock("POST", "/oauth/token")
        .with_status(status)
        .with_body(body);
    if let Some((name, value)) = header {
        token = token.with_header(name, value);
    }
    let token = token.expect_at_least(1).create();
    let api = server
        .mock("POST", Matcher::Regex("^/api/".into()))
        .expect(0)
        .create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    let err = injector.inject(&request(&["hi"])).unwrap_err();
    token.assert();
    api.assert();
    err
}

#[test]
fn token_endpoint_failures_are_told_apart() {
    // Its rate limit, after the retries: RateLimited, 4 calls.
    for (status, body) in [
        (429, ""),
        (
            400,
            r#"{"error":"invalid_request","error_description":"rate limit exceeded; retry later"}"#,
        ),
    ] {
        let err = token_failure(status, body, Some(("retry-after", "0")));
        match &err {
            Error::RateLimited { attempts, .. } => assert_eq!(*attempts, 4, "{status}"),
            other => panic!("{status}: {other:?}"),
        }
    }
    // A server error: not delivered, not an authentication failure.
    for status in [500, 502, 503] {
        let err = token_failure(status, "upstream trouble", None);
        assert!(
            matches!(err, Error::Api { status: s, outcome: Outcome::NotDelivered, .. } if s == status as u16),
            "{status}: {err:?}"
        );
    }
    // A wrong URL: Config, naming the URL that answered 404.
    let err = token_failure(404, "no such route", None);
    match &err {
        Error::Config(msg) => assert!(msg.contains("/oauth/token") && msg.contains("404"), "{msg}"),
        other => panic!("{other:?}"),
    }
    // Refused credentials: Auth; with a base URL, no region is named.
    let err = token_failure(
        401,
        r#"{"error":"invalid_client","error_description":"client not found"}"#,
        None,
    );
    assert!(matches!(&err, Error::Auth { region: None, .. }), "{err:?}");
    assert!(!err.to_string().contains("region"), "{err}");
    let err = token_failure(400, r#"{"error":"invalid_client"}"#, None);
    assert_eq!(err.kind(), "auth", "{err:?}");
}

#[test]
fn echoed_credentials_are_redacted_from_errors_and_logs() {
    capture_logs();
    // The token endpoint echoes the Basic credential.
    let mut server = mockito::Server::new();
    server
        .mock("POST", "/oauth/token")
        .with_status(401)
        .with_body(format!(
            r#"{{"error":"invalid_client","error_description":"bad header: Authorization: {BASIC}"}}"#
        ))
        .create();
    let err = builder(&server, &FakeClock::new())
        .build()
        .unwrap()
        .inject(&request(&["hi"]))
        .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(&BASIC[6..]), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");

    // The API echoes the bearer token, in its error body and nested errors.
    let mut server = platform_server();
    server
        .mock("POST", message_path().as_str())
        .with_status(400)
        .with_body(format!(
            r#"{{"message":"bad request with Bearer {TOKEN}","code":"bad.request","errors":[{{"message":"token {TOKEN}"}}]}}"#
        ))
        .create();
    let err = builder(&server, &FakeClock::new())
        .build()
        .unwrap()
        .inject(&request(&["hi"]))
        .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    for (target, _, line) in logged() {
        if target.starts_with("genesys_inject") {
            assert!(
                !line.contains(TOKEN) && !line.contains(&BASIC[6..]),
                "{line}"
            );
        }
    }
}

#[test]
fn the_webhook_is_posted_to_exactly_the_configured_url() {
    let hook = RawServer::start(|_| Action::ok(""));
    let server = accepting_server();
    let injector = builder(&server, &FakeClock::new())
        .webhook_url(format!("{}/hook/?key=a/", hook.url()))
        .build()
        .unwrap();
    injector.inject(&request(&["hi"])).unwrap();
    assert!(injector.flush(Duration::from_secs(5)));
    let paths: Vec<String> = hook.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/hook/?key=a/"]);
}

#[test]
fn webhook_logs_speak_of_the_audit_event_show_the_origin_and_count_honestly() {
    capture_logs();
    // Every attempt is read whole, then left without an answer.
    let stalled = RawServer::start(|_| Action::Stall(Duration::from_secs(2)));
    let secret_path = "/services/T0/B0/XOXB-SECRET-PATH";
    let counts = one_event_through(&format!("{}{secret_path}?token=QUERYSECRET", stalled.url()));
    assert_eq!(counts, (0, 0, 1));
    // The endpoint received the event 3 times, each with one stable key.
    let keys = idempotency_keys(&stalled);
    assert_eq!(keys.len(), 3);
    assert!(
        keys.iter().all(|k| *k == keys[0] && k.len() == 36),
        "{keys:?}"
    );
    let origin = format!("http://127.0.0.1:{}", stalled.port);
    let lines: Vec<String> = logged()
        .into_iter()
        .filter(|(t, _, m)| t == "genesys_inject::webhook" && m.contains(&keys[0]))
        .map(|(.., m)| m)
        .collect();
    assert!(lines.len() >= 4, "{lines:?}");
    for line in &lines {
        assert!(line.contains(&origin), "{line}");
        for wrong in [
            "Genesys Cloud",
            "the message",
            "XOXB-SECRET-PATH",
            "QUERYSECRET",
            "/services",
        ] {
            assert!(!line.contains(wrong), "{wrong:?} in {line}");
        }
    }
    assert!(
        lines.iter().any(|l| l.contains("may have received")),
        "{lines:?}"
    );
}

/// Injects one message with a webhook at `url` (300 ms a phase), waits for
/// the event to be handled, and returns (delivered, failed, unconfirmed).
fn one_event_through(url: &str) -> (u64, u64, u64) {
    let server = accepting_server();
    let injector = builder(&server, &FakeClock::new())
        .webhook_url(url)
        .webhook_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    injector.inject(&request(&["hi"])).unwrap();
    assert!(injector.flush(Duration::from_secs(10)));
    let stats = injector.webhook_stats();
    (stats.delivered, stats.failed, stats.unconfirmed)
}

/// The `Idempotency-Key` of every request `server` received.
fn idempotency_keys(server: &RawServer) -> Vec<String> {
    server
        .received()
        .iter()
        .map(|r| {
            r.headers
                .iter()
                .find(|(k, _)| k == "idempotency-key")
                .map(|(_, v)| v.clone())
                .expect("an Idempotency-Key header")
        })
        .collect()
}

#[test]
fn a_webhook_retry_after_a_lost_answer_carries_the_same_key_and_counts_once() {
    let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = attempts.clone();
    let hook = RawServer::start(move |_| {
        if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            Action::Stall(Duration::from_secs(2))
        } else {
            Action::ok("")
        }
    });
    assert_eq!(
        one_event_through(&format!("{}/hook", hook.url())),
        (1, 0, 0)
    );
    let keys = idempotency_keys(&hook);
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1]);
}

#[test]
fn thirty_two_threads_that_pause_together_reuse_their_connections() {
    // Each answer takes 20 ms, so that the 32 threads' calls overlap; between
    // rounds every thread waits at a barrier, as they do at the rate-limit
    // gate, with its connection back in the pool. Unpaced: pacing would
    // spread the calls out and hide a pool that reopens connections.
    let server = RawServer::start_keep_alive(platform_handler(|_| Action::Respond {
        status: 200,
        headers: vec![],
        body: message_ok("m"),
        delay: Duration::from_millis(20),
    }));
    let injector = Injector::builder()
        .base_url(server.url())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .typing(TypingMode::Off)
        .requests_per_minute(None)
        .build()
        .unwrap();
    const THREADS: usize = 32;
    const ROUNDS: usize = 4;
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..ROUNDS {
                    barrier.wait();
                    injector.inject(&request(&["hi"])).unwrap();
                }
            });
        }
    });
    assert_eq!(server.count("/messages"), THREADS * ROUNDS);
    // One for the token, at most one per thread for the API; and the
    // rounds did overlap (more than a few connections were needed).
    let opened = server.connections();
    assert!(
        opened <= THREADS + 1,
        "{opened} connections for {THREADS} threads"
    );
    assert!(opened > THREADS / 2, "{opened}: the calls did not overlap");
}

#[test]
fn a_delay_over_the_maximum_is_refused_before_any_traffic() {
    let mut server = mockito::Server::new();
    let posts = server
        .mock("POST", mockito::Matcher::Any)
        .expect(0)
        .create();
    let gets = server.mock("GET", mockito::Matcher::Any).expect(0).create();
    let clock = FakeClock::new();
    let injector = builder(&server, &clock).build().unwrap();
    for delay in [MAX_DELAY + Duration::from_millis(1), Duration::MAX] {
        let err = injector.inject(&request(&["hi"]).delay(delay)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Validation(ValidationError::DelayTooLong {
                    max_ms: 600_000,
                    ..
                })
            ),
            "{err:?}"
        );
    }
    assert!(clock.sleeps().is_empty());
    posts.assert();
    gets.assert();
    // The maximum itself is allowed.
    assert!(injector.prepare(&request(&["hi"]).delay(MAX_DELAY)).is_ok());
}
