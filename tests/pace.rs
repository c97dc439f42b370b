//! Pacing to the platform's budget (issue 21, item 3): requests spaced so
//! that no minute holds more than the budget, adapted to the platform's
//! `inin-ratelimit-*` headers, and shared by processes on one state
//! directory.

mod common;

use std::time::{Duration, Instant};

use common::*;
use genesys_inject::{InjectorBuilder, SystemClock, TypingMode};

#[test]
fn requests_are_spaced_to_the_budget_on_the_injectors_clock() {
    let server = accepting_server();
    let clock = FakeClock::new();
    let injector = builder(&server, &clock)
        .typing(TypingMode::Off)
        .requests_per_minute(Some(60))
        .build()
        .unwrap();
    for _ in 0..11 {
        injector.inject(&request(&["hi"])).unwrap();
    }
    // A burst of 1 (a second's worth of 60 a minute), then the other 59 a
    // minute: 10 more requests take 10 × 60/59 s.
    let waited: Duration = clock.sleeps().iter().sum();
    let expected = Duration::from_secs_f64(10.0 * 60.0 / 59.0);
    assert!(
        waited + Duration::from_millis(5) >= expected
            && waited <= expected + Duration::from_millis(5),
        "{waited:?} vs {expected:?}"
    );
    // No pacing: no wait at all.
    let clock = FakeClock::new();
    let unpaced = builder(&server, &clock)
        .typing(TypingMode::Off)
        .requests_per_minute(None)
        .build()
        .unwrap();
    for _ in 0..11 {
        unpaced.inject(&request(&["hi"])).unwrap();
    }
    assert!(clock.sleeps().is_empty(), "{:?}", clock.sleeps());
}

#[test]
fn a_window_the_platform_says_is_used_up_holds_requests_until_its_reset() {
    let mut server = platform_server();
    let used_up = server
        .mock("POST", message_path().as_str())
        .with_header("inin-ratelimit-allowed", "300")
        .with_header("inin-ratelimit-count", "300")
        .with_header("inin-ratelimit-reset", "7")
        .with_body(message_ok("m"))
        .expect(1)
        .create();
    server
        .mock("POST", message_path().as_str())
        .with_body(message_ok("m"))
        .create();
    let clock = FakeClock::new();
    let injector = builder(&server, &clock)
        .typing(TypingMode::Off)
        .build()
        .unwrap();
    injector.inject(&request(&["first"])).unwrap();
    assert!(clock.sleeps().is_empty());
    injector.inject(&request(&["second"])).unwrap();
    let waited: Duration = clock.sleeps().iter().sum();
    assert!(
        waited >= Duration::from_secs(7) && waited < Duration::from_secs(8),
        "{:?}",
        clock.sleeps()
    );
    used_up.assert();
}

#[test]
fn two_injectors_on_one_state_directory_share_the_budget() {
    let scratch = Scratch::new();
    let server = accepting_server();
    // 600 a minute: a burst of 10, then 590 a minute. 2 × 20 requests,
    // shared, take (40 - 10) / 590 minutes, about 3 s; each alone would
    // take about 1 s.
    let paced = || {
        InjectorBuilder::new()
            .base_url(server.url())
            .credentials(CLIENT_ID, CLIENT_SECRET)
            .clock(std::sync::Arc::new(SystemClock))
            .typing(TypingMode::Off)
            .requests_per_minute(Some(600))
            .state_dir(scratch.state())
            .build()
            .unwrap()
    };
    let (a, b) = (paced(), paced());
    // Fetch the token first: only API requests are paced.
    a.inject(&request(&["warm"])).unwrap();
    b.inject(&request(&["warm"])).unwrap();
    let started = Instant::now();
    std::thread::scope(|s| {
        for injector in [&a, &b] {
            s.spawn(move || {
                for _ in 0..20 {
                    injector.inject(&request(&["hi"])).unwrap();
                }
            });
        }
    });
    let took = started.elapsed();
    let optimum = Duration::from_secs_f64(40.0 * 60.0 / 590.0);
    // The bucket had refilled little since the two warm-up requests.
    assert!(
        took >= optimum - Duration::from_millis(1300),
        "{took:?} < {optimum:?}"
    );
}

#[test]
fn a_pacing_hold_never_stretches_a_bounded_wait() {
    let mut server = platform_server();
    // The message's answer says the window is used up for 60 s.
    server
        .mock("POST", message_path().as_str())
        .with_header("inin-ratelimit-allowed", "300")
        .with_header("inin-ratelimit-count", "300")
        .with_header("inin-ratelimit-reset", "60")
        .with_body(message_ok("m"))
        .create();
    let status = format!("/api/v2/conversations/messages/{CONV}/messages/m");
    server
        .mock("GET", status.as_str())
        .with_body(r#"{"status":"sent"}"#)
        .create();
    let clock = FakeClock::new();
    let injector = builder(&server, &clock)
        .typing(TypingMode::Off)
        .build()
        .unwrap();
    let receipt = injector.inject(&request(&["hi"])).unwrap();
    let result = injector.wait_for_delivery(&receipt, Duration::from_secs(5));
    assert!(result.is_err(), "{result:?}");
    let waited: Duration = clock.sleeps().iter().sum();
    assert!(waited <= Duration::from_secs(5), "{:?}", clock.sleeps());
}

#[test]
fn two_processes_on_one_state_directory_share_the_budget() {
    let scratch = Scratch::new();
    let server = accepting_server();
    let run = || {
        std::process::Command::new(example_bin("burst"))
            .env_clear()
            .env("GENESYS_CLIENT_ID", CLIENT_ID)
            .env("GENESYS_CLIENT_SECRET", CLIENT_SECRET)
            .env("GENESYS_BASE_URL", server.url())
            .env("GENESYS_STATE_DIR", scratch.state())
            .env("BURST_N", "6")
            .env("BURST_CONVERSATION_ID", CONV)
            .env("BURST_COMMUNICATION_ID", COMM)
            .spawn()
            .unwrap()
    };
    // Real time, on purpose: two processes share the pace file, whose
    // clock is the wall clock (an injected clock cannot cross processes).
    // One run first: the token on disk, so that both start at once.
    assert!(run().wait().unwrap().success());
    // Let the shared bucket refill (5 tokens: a second of 300 a minute).
    std::thread::sleep(Duration::from_millis(1100));
    let started = Instant::now();
    let (mut a, mut b) = (run(), run());
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    let took = started.elapsed();
    // 2 runs × 6 injections × 2 requests (typing, message) at 300 a minute
    // after a burst of 5: shared, about (24 - 5) / 295 minutes = 3.9 s;
    // each on its own, about 1.4 s.
    assert!(took >= Duration::from_millis(2800), "{took:?}");
}

/// A platform whose message answers carry these `inin-ratelimit-*` values.
fn platform_saying(allowed: &str, count: &str, reset: &str) -> mockito::ServerGuard {
    let mut server = platform_server();
    server
        .mock("POST", message_path().as_str())
        .with_header("inin-ratelimit-allowed", allowed)
        .with_header("inin-ratelimit-count", count)
        .with_header("inin-ratelimit-reset", reset)
        .with_body(message_ok("m"))
        .create();
    server
}

#[test]
fn what_the_headers_say_is_read_as_the_platform_could_mean_it() {
    let sent = |server: &mockito::ServerGuard, rate: u32, n: usize| {
        let clock = FakeClock::new();
        let injector = builder(server, &clock)
            .typing(TypingMode::Off)
            .requests_per_minute(Some(rate))
            .build()
            .unwrap();
        for _ in 0..n {
            injector.inject(&request(&["hi"])).unwrap();
        }
        clock.sleeps().iter().sum::<Duration>()
    };
    // 20 requests every 2 s is 600 a minute: 61 requests at --rate 600 take
    // about 6 s, not the 3 minutes of 20 a minute.
    let waited = sent(&platform_saying("20", "3", "2"), 600, 61);
    assert!(waited < Duration::from_secs(8), "{waited:?}");
    // --rate 30 is a ceiling: a platform allowing 300 does not raise it.
    let waited = sent(&platform_saying("300", "1", "60"), 30, 11);
    assert!(waited >= Duration::from_secs(18), "{waited:?}");
    // A reset of 136 years, a window used up: each wait at most a minute.
    let waited = sent(&platform_saying("300", "300", "4294967295"), 300, 4);
    assert!(waited <= Duration::from_secs(3 * 60), "{waited:?}");
    // allowed 0 means nothing: no hold.
    let waited = sent(&platform_saying("0", "0", "30"), 300, 4);
    assert!(waited < Duration::from_secs(1), "{waited:?}");
}
