//! The webhook worker: never slows `inject`, retries, drops when full,
//! flushes, and delivers everything at drop.

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::rawserver::{Action, RawServer};
use common::*;
use genesys_inject::InjectorBuilder;
use mockito::{Matcher, ServerGuard};

fn with_webhook(platform: &ServerGuard, webhook_url: &str) -> InjectorBuilder {
    builder(platform, &FakeClock::new()).webhook_url(webhook_url)
}

#[test]
fn a_slow_webhook_does_not_slow_inject() {
    // The webhook holds its answer until the test lets it go: `inject`
    // returning meanwhile proves it never waits for the webhook (no clock
    // needed, and no bound a loaded machine could miss).
    let platform = accepting_server();
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let answered = Arc::new(AtomicBool::new(false));
    let (held, told) = (gate.clone(), answered.clone());
    let hook = RawServer::start(move |_| {
        let (open, cond) = &*held;
        let open = open.lock().unwrap();
        // At most 10 s: an inject that waited for it fails, not hangs.
        let _unused = cond
            .wait_timeout_while(open, Duration::from_secs(10), |open| !*open)
            .unwrap();
        told.store(true, SeqCst);
        Action::ok("")
    });
    let injector = with_webhook(&platform, &hook.url()).build().unwrap();
    injector.inject(&request(&["hi"])).unwrap();
    // inject is back, and the webhook has not answered.
    assert!(!answered.load(SeqCst), "inject waited for the webhook");
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    assert!(injector.flush(Duration::from_secs(10)));
    assert!(answered.load(SeqCst));
    assert_eq!(injector.webhook_stats().delivered, 1);
}

#[test]
fn a_refused_webhook_never_fails_inject() {
    let platform = accepting_server();
    let closed = ClosedPort::new();
    let port = closed.port;
    let injector = with_webhook(&platform, &format!("http://127.0.0.1:{port}/hook"))
        .build()
        .unwrap();
    let receipt = injector.inject(&request(&["hi"])).unwrap();
    assert_eq!(receipt.message_id.as_deref(), Some("m"));
    assert!(injector.flush(Duration::from_secs(5)));
    let stats = injector.webhook_stats();
    assert_eq!(
        (stats.delivered, stats.failed, stats.dropped, stats.pending),
        (0, 1, 0, 0)
    );
}

#[test]
fn a_500_then_200_is_delivered_once_after_two_attempts() {
    let platform = accepting_server();
    let mut hook = mockito::Server::new();
    let failed = hook
        .mock("POST", "/hook")
        .with_status(500)
        .with_body("busy")
        .expect(1)
        .create();
    let ok = hook
        .mock("POST", "/hook")
        .with_status(200)
        .expect(1)
        .create();
    let injector = with_webhook(&platform, &format!("{}/hook", hook.url()))
        .build()
        .unwrap();
    injector.inject(&request(&["hi"])).unwrap();
    assert!(injector.flush(Duration::from_secs(5)));
    failed.assert();
    ok.assert();
    assert_eq!(injector.webhook_stats().delivered, 1);
    assert_eq!(injector.webhook_stats().failed, 0);
}

#[test]
fn a_4xx_is_not_retried() {
    let platform = accepting_server();
    let mut hook = mockito::Server::new();
    let refused = hook
        .mock("POST", "/hook")
        .with_status(400)
        .expect(1)
        .create();
    let injector = with_webhook(&platform, &format!("{}/hook", hook.url()))
        .build()
        .unwrap();
    injector.inject(&request(&["hi"])).unwrap();
    assert!(injector.flush(Duration::from_secs(5)));
    refused.assert();
    assert_eq!(injector.webhook_stats().failed, 1);
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let platform = accepting_server();
    let hook = RawServer::start(|_| Action::Stall(Duration::from_secs(3)));
    let injector = with_webhook(&platform, &hook.url())
        .webhook_queue_capacity(2)
        .webhook_timeout(Duration::from_millis(300))
        .shutdown_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let start = Instant::now();
    for i in 0..10 {
        injector.inject(&request(&[&format!("m{i}")])).unwrap();
    }
    let took = start.elapsed();
    assert!(took < Duration::from_secs(1), "10 injects took {took:?}");
    let stats = injector.webhook_stats();
    // One event in flight at most, two queued: the rest dropped.
    assert!(stats.dropped >= 7, "{stats:?}");
    assert_eq!(
        stats.delivered + stats.failed + stats.dropped + stats.pending,
        10,
        "{stats:?}"
    );
}

#[test]
fn flush_says_whether_events_were_handled_in_time() {
    let platform = accepting_server();
    let mut hook = mockito::Server::new();
    let ok = hook.mock("POST", "/hook").expect(3).create();
    let injector = with_webhook(&platform, &format!("{}/hook", hook.url()))
        .build()
        .unwrap();
    for _ in 0..3 {
        injector.inject(&request(&["hi"])).unwrap();
    }
    assert!(injector.flush(Duration::from_secs(5)));
    assert_eq!(injector.webhook_stats().delivered, 3);
    ok.assert();

    let stalled = RawServer::start(|_| Action::Stall(Duration::from_secs(2)));
    let injector = with_webhook(&platform, &stalled.url())
        .webhook_timeout(Duration::from_secs(1))
        .shutdown_timeout(Duration::ZERO)
        .build()
        .unwrap();
    injector.inject(&request(&["hi"])).unwrap();
    let start = Instant::now();
    assert!(!injector.flush(Duration::from_millis(200)));
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_millis(900),
        "{waited:?}"
    );
    assert_eq!(injector.webhook_stats().pending, 1);
}

#[test]
fn dropping_the_injector_delivers_pending_events() {
    let platform = accepting_server();
    let mut hook = mockito::Server::new();
    let ok = hook.mock("POST", "/hook").expect(20).create();
    let injector = with_webhook(&platform, &format!("{}/hook", hook.url()))
        .build()
        .unwrap();
    for i in 0..20 {
        injector.inject(&request(&[&format!("m{i}")])).unwrap();
    }
    drop(injector);
    ok.assert();
}

#[test]
fn webhook_body_has_the_tutorials_fields_and_types() {
    let platform = accepting_server();
    let mut hook = mockito::Server::new();
    let bodies = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = bodies.clone();
    let ok = hook
        .mock("POST", "/hook")
        .match_header("content-type", "application/json")
        .match_body(Matcher::AllOf(vec![
            Matcher::PartialJson(serde_json::json!({"displayRate": 1})),
            Matcher::Regex(r#""auditEntry":"\{\\"timestamp\\":"#.into()),
        ]))
        .with_body_from_request(move |req| {
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(req.body().unwrap()).into_owned());
            Vec::new()
        })
        .expect(1)
        .create();
    let failure = hook
        .mock("POST", "/hook")
        .match_body(Matcher::PartialJson(serde_json::json!({"displayRate": 0})))
        .expect(1)
        .create();
    let injector = with_webhook(&platform, &format!("{}/hook", hook.url()))
        .build()
        .unwrap();
    injector.inject(&request(&["hi"])).unwrap();
    injector.inject(&request(&["my password"])).unwrap_err();
    assert!(injector.flush(Duration::from_secs(5)));
    ok.assert();
    failure.assert();

    let body: serde_json::Value = serde_json::from_str(&bodies.lock().unwrap()[0]).unwrap();
    let obj = body.as_object().unwrap();
    // The tutorial's three, and the record's message id beside them.
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["auditEntry", "displayRate", "latencyMs", "messageId"],
        "{body}"
    );
    assert!(body["latencyMs"].is_u64());
    let entry: serde_json::Value =
        serde_json::from_str(body["auditEntry"].as_str().unwrap()).unwrap();
    assert_eq!(entry["status"], "SUCCESS");
    assert_eq!(entry["interactionId"], CONV);
    assert_eq!(entry["messageSize"], 2);
    assert_eq!(entry["latencyMs"], body["latencyMs"]);
    assert_eq!(entry["eventType"], "bot_message_injection");
    assert_eq!(entry["messageId"], body["messageId"]);
}

#[test]
fn no_webhook_url_means_no_events_and_zero_stats() {
    let platform = accepting_server();
    let injector = builder(&platform, &FakeClock::new()).build().unwrap();
    injector.inject(&request(&["hi"])).unwrap();
    assert!(injector.flush(Duration::ZERO));
    assert_eq!(injector.webhook_stats(), Default::default());
}

/// The `burst` example as a child process: it returns from `main` without
/// calling `flush`, and every event still arrives.
#[test]
fn a_program_that_returns_from_main_delivers_every_event() {
    const N: usize = 25;
    let platform = accepting_server();
    let mut hook = mockito::Server::new();
    let events = hook
        .mock("POST", "/hook")
        .match_body(Matcher::PartialJson(serde_json::json!({"displayRate": 1})))
        .expect(N)
        .create();
    let status = Command::new(example_bin("burst"))
        .env_clear()
        .env("BURST_UNPACED", "1")
        .env("GENESYS_CLIENT_ID", CLIENT_ID)
        .env("GENESYS_CLIENT_SECRET", CLIENT_SECRET)
        .env("GENESYS_BASE_URL", platform.url())
        .env("WEBHOOK_URL", format!("{}/hook", hook.url()))
        .env("BURST_N", N.to_string())
        .env("BURST_CONVERSATION_ID", CONV)
        .env("BURST_COMMUNICATION_ID", COMM)
        .status()
        .unwrap();
    assert!(status.success());
    events.assert();
}
