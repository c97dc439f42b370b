//! Answers that misbehave: server errors, garbage, unusable `Retry-After`,
//! the shared rate-limit gate, a pooled connection reset, extreme settings.

use crate::common::*;
use genesys_inject::{Error, InjectorBuilder, Outcome, RetryPolicy};
use mockito::Matcher;
use std::time::Duration;

#[test]
fn server_errors_are_not_retried_and_say_whether_delivery_is_possible() {
    let cases = [
        (
            500,
            genesys_error(500, "internal.server.error", "boom"),
            Outcome::NotDelivered,
        ),
        (
            503,
            genesys_error(503, "service.unavailable", "later"),
            Outcome::NotDelivered,
        ),
        (500, "<html>proxy error</html>".to_owned(), Outcome::Unknown),
        (502, "<html>bad gateway</html>".to_owned(), Outcome::Unknown),
        (
            504,
            genesys_error(504, "gateway.timeout", "timeout"),
            Outcome::Unknown,
        ),
    ];
    for (status, body, outcome) in cases {
        let mut server = platform_server();
        let message = server
            .mock("POST", message_path().as_str())
            .with_status(status)
            .with_body(&body)
            .expect(1)
            .create();
        let injector = builder(&server, &FakeClock::new()).build().unwrap();
        let err = injector.inject(&request(&["hi"])).unwrap_err();
        assert!(
            matches!(err, Error::Api { status: s, .. } if s == status as u16),
            "{err:?}"
        );
        assert_eq!(err.outcome(), outcome, "{status} {body}");
        message.assert();
    }
}

#[test]
fn retry_server_errors_retries_only_what_was_certainly_refused() {
    let mut server = platform_server();
    let refused = server
        .mock("POST", message_path().as_str())
        .with_status(503)
        .with_body(genesys_error(503, "service.unavailable", "later"))
        .expect(1)
        .create();
    let ok = server
        .mock("POST", message_path().as_str())
        .with_body(message_ok("m"))
        .expect(1)
        .create();
    let policy = RetryPolicy::default().retry_server_errors(true);
    let injector = builder(&server, &FakeClock::new())
        .retry_policy(policy.clone())
        .build()
        .unwrap();
    assert_eq!(injector.inject(&request(&["hi"])).unwrap().attempts, 2);
    refused.assert();
    ok.assert();

    let mut server = platform_server();
    let gateway = server
        .mock("POST", message_path().as_str())
        .with_status(502)
        .expect(1)
        .create();
    let injector = builder(&server, &FakeClock::new())
        .retry_policy(policy)
        .build()
        .unwrap();
    assert!(injector
        .inject(&request(&["hi"]))
        .unwrap_err()
        .is_outcome_unknown());
    gateway.assert();
}

#[test]
fn a_200_without_json_or_id_is_ok_with_no_message_id_and_a_warning() {
    capture_logs();
    for body in ["not json at all", r#"{"status":"queued"}"#, ""] {
        let mut server = platform_server();
        server
            .mock("POST", message_path().as_str())
            .with_body(body)
            .create();
        let injector = builder(&server, &FakeClock::new()).build().unwrap();
        let warnings = || {
            logged_in(&[std::thread::current().id()])
                .iter()
                .filter(|(t, l, m)| {
                    t == "genesys_inject" && *l == log::Level::Warn && m.contains("no message id")
                })
                .count()
        };
        let before = warnings();
        let receipt = injector.inject(&request(&["hi"])).unwrap();
        assert_eq!(receipt.message_id, None, "{body}");
        assert_eq!(receipt.attempts, 1);
        // One warning for this body, on this test's thread.
        assert_eq!(warnings() - before, 1, "{body:?}");
    }
}

#[test]
fn a_token_endpoint_that_answers_garbage_is_an_error_of_its_kind_and_no_api_call() {
    // A 2xx that is not a token is an authentication failure; a redirect
    // (never followed) is a wrong URL; a 5xx is the platform's failure.
    for (status, body, kind) in [
        (200, "garbage", "auth"),
        (200, "<html><body>Sign in</body></html>", "auth"),
        (
            200,
            r#"{"access_token":"tok","token_type":"bearer","expires_in":0}"#,
            "auth",
        ),
        (200, r#"{"token_type":"bearer","expires_in":100}"#, "auth"),
        (302, "", "config"),
        (500, "<html>oops</html>", "api"),
    ] {
        let mut server = mockito::Server::new();
        server
            .mock("POST", "/oauth/token")
            .with_status(status)
            .with_body(body)
            .create();
        let api = server
            .mock("POST", Matcher::Regex("^/api/".into()))
            .expect(0)
            .create();
        let injector = builder(&server, &FakeClock::new()).build().unwrap();
        let err = injector.inject(&request(&["hi"])).unwrap_err();
        assert_eq!(err.kind(), kind, "{status} {body}: {err:?}");
        assert_eq!(err.outcome(), Outcome::NotDelivered);
        api.assert();
    }
}

#[test]
fn unusable_retry_after_values_fall_back_to_the_default_or_the_cap() {
    let past = "Wed, 21 Oct 2015 07:28:00 GMT";
    for (header, expected) in [
        (None, 5),
        (Some("-3"), 5),
        (Some("soon"), 5),
        (Some(past), 5),
        (Some("99999"), 60),
    ] {
        let mut server = platform_server();
        let mut limited = server
            .mock("POST", message_path().as_str())
            .with_status(429)
            .expect(1);
        if let Some(value) = header {
            limited = limited.with_header("retry-after", value);
        }
        limited.create();
        server
            .mock("POST", message_path().as_str())
            .with_body(message_ok("m"))
            .create();
        let clock = FakeClock::new();
        let injector = builder(&server, &clock).build().unwrap();
        injector.inject(&request(&["hi"])).unwrap();
        assert_eq!(
            clock.sleeps(),
            vec![Duration::from_secs(expected)],
            "{header:?}"
        );
    }
}

#[test]
fn the_total_wait_cap_stops_retrying() {
    let mut server = platform_server();
    let limited = server
        .mock("POST", message_path().as_str())
        .with_status(429)
        .with_header("retry-after", "30")
        .expect(2)
        .create();
    let clock = FakeClock::new();
    let policy = RetryPolicy::default().max_total_wait(Duration::from_secs(60));
    let injector = builder(&server, &clock)
        .retry_policy(policy)
        .build()
        .unwrap();
    // 30 s, then 60 s would make 90 s > 60 s: give up after the second POST.
    let err = injector.inject(&request(&["hi"])).unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { attempts: 2, .. }),
        "{err:?}"
    );
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(30)]);
    limited.assert();
}

#[test]
fn a_429_closes_the_gate_for_every_caller_and_typing_is_skipped_meanwhile() {
    capture_logs();
    let mut server = mockito::Server::new();
    token_mock(&mut server, 86399).create();
    // Typing for the first and third calls only.
    let typing = typing_mock(&mut server).expect(2).create();
    let limited = server
        .mock("POST", message_path().as_str())
        .with_status(429)
        .with_header("retry-after", "30")
        .expect(1)
        .create();
    let ok = server
        .mock("POST", message_path().as_str())
        .with_body(message_ok("m"))
        .expect(2)
        .create();
    let clock = FakeClock::new();
    let injector = builder(&server, &clock)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();

    // The first call is refused and, with no retries, returns at once.
    assert!(matches!(
        injector.inject(&request(&["first"])),
        Err(Error::RateLimited { attempts: 1, .. })
    ));
    assert!(clock.sleeps().is_empty());

    // Another thread's call now waits for the Retry-After instant before its
    // message, and skips its typing indicator.
    let other = std::thread::scope(|s| {
        s.spawn(|| {
            injector.inject(&request(&["second"])).unwrap();
            std::thread::current().id()
        })
        .join()
        .unwrap()
    });
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(30)]);
    // Once the pause is over, everything is back to normal.
    injector.inject(&request(&["third"])).unwrap();
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(30)]);
    typing.assert();
    limited.assert();
    ok.assert();
    // This test's threads' lines only: the gate closing (on the thread
    // refused) and opening (on the one that waited), once each.
    let gate: Vec<String> = logged_in(&[std::thread::current().id(), other])
        .into_iter()
        .filter(|(t, l, _)| t == "genesys_inject::gate" && *l == log::Level::Info)
        .map(|(_, _, m)| m)
        .collect();
    let closing = gate
        .iter()
        .filter(|m| m.starts_with("rate limited: holding"))
        .count();
    let opening = gate.iter().filter(|m| m.contains("pause over")).count();
    assert_eq!((closing, opening), (1, 1), "{gate:?}");
}

/// A keep-alive connection that the server resets while it sits idle in the
/// pool (as load balancers do) is a reset before the next request was sent:
/// ureq's pool notices it, the request goes out on a new connection, and
/// nothing fails or is sent twice.
#[test]
fn a_pooled_connection_reset_before_sending_is_not_a_failure() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let paths = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = paths.clone();
    std::thread::spawn(move || {
        // Each connection serves one request with keep-alive, then is reset.
        for stream in listener.incoming().take(4) {
            let stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let path = line.split_whitespace().nth(1).unwrap().to_owned();
            let mut length = 0;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            reader.read_exact(&mut vec![0; length]).unwrap();
            // Recorded before answering, so the client cannot see the answer first.
            seen.lock().unwrap().push(path.clone());
            let body = if path == "/oauth/token" {
                format!(r#"{{"access_token":"{TOKEN}","expires_in":86399}}"#)
            } else {
                message_ok("m")
            };
            let status = if path.ends_with("/typing") {
                "204 No Content"
            } else {
                "200 OK"
            };
            let mut out = stream.try_clone().unwrap();
            write!(
                out,
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\n\r\n{body}",
                if status.starts_with("204") {
                    0
                } else {
                    body.len()
                }
            )
            .unwrap();
            std::thread::sleep(Duration::from_millis(20));
            socket2::SockRef::from(&stream)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
        }
    });
    let injector = InjectorBuilder::new()
        .base_url(format!("http://127.0.0.1:{port}"))
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .typing(genesys_inject::TypingMode::Off)
        .build()
        .unwrap();
    // Real time: the delay lets each reset arrive before the next request.
    let request = request(&["hi"]).delay(Duration::from_millis(100));
    let receipt = injector.inject(&request).unwrap();
    assert_eq!(receipt.attempts, 1);
    std::thread::sleep(Duration::from_millis(100));
    let receipt = injector.inject(&request).unwrap();
    assert_eq!(receipt.attempts, 1);
    let paths = paths.lock().unwrap();
    assert_eq!(
        paths.iter().filter(|p| p.ends_with("/messages")).count(),
        2,
        "{paths:?}"
    );
}

#[test]
fn extreme_lifetimes_and_timeouts_do_not_panic() {
    // A token that claims to live for ever, a Retry-After far beyond any cap,
    // a policy without caps, and flush(Duration::MAX).
    let mut server = mockito::Server::new();
    server
        .mock("POST", "/oauth/token")
        .with_body(format!(
            r#"{{"access_token":"{TOKEN}","expires_in":{}}}"#,
            u64::MAX
        ))
        .create();
    typing_mock(&mut server).create();
    let limited = server
        .mock("POST", message_path().as_str())
        .with_status(429)
        .with_header("retry-after", &u64::MAX.to_string())
        .expect(1)
        .create();
    let ok = server
        .mock("POST", message_path().as_str())
        .with_body(message_ok("m"))
        .expect(1)
        .create();
    let clock = FakeClock::new();
    let policy = RetryPolicy::default()
        .max_wait(Duration::MAX)
        .max_total_wait(Duration::MAX);
    let injector = builder(&server, &clock)
        .retry_policy(policy)
        .build()
        .unwrap();
    injector.inject(&request(&["hi"])).unwrap();
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(u64::MAX)]);
    assert!(injector.flush(Duration::MAX));
    limited.assert();
    ok.assert();
}
