//! Servers that misbehave: each fault, the error it gives, and that a sent
//! message is never sent twice. Also the shared rate-limit gate.

mod common;

use std::time::Duration;

use std::sync::atomic::Ordering::SeqCst;

use common::rawserver::{platform, platform_handler, Action, ConnectProxy, RawServer};
use common::*;
use genesys_inject::{Error, Injector, InjectorBuilder, Outcome, RetryPolicy, SafetyPolicy};
use mockito::Matcher;

fn raw_builder(url: &str, clock: &std::sync::Arc<FakeClock>) -> InjectorBuilder {
    InjectorBuilder::new()
        .base_url(url)
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .clock(clock.clone())
}

/// How a request that never arrived ends under the default policy: tried, then
/// retried twice after 200 ms and 400 ms (fake clock), then `NotDelivered`.
fn assert_not_delivered_after_two_connect_retries(err: &Error, clock: &FakeClock) {
    assert!(
        matches!(
            err,
            Error::Transport {
                outcome: Outcome::NotDelivered,
                timed_out: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        clock.sleeps(),
        vec![Duration::from_millis(200), Duration::from_millis(400)]
    );
}

#[test]
fn a_message_answer_slower_than_the_timeout_is_outcome_unknown_and_sent_once() {
    let server = platform(|_| Action::Respond {
        status: 200,
        headers: vec![],
        body: message_ok("late"),
        delay: Duration::from_millis(600),
    });
    let injector = raw_builder(&server.url(), &FakeClock::new())
        .message_timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    let err = injector.inject(&request(&["slow"])).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                outcome: Outcome::Unknown,
                timed_out: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_outcome_unknown());
    assert!(err.to_string().contains("may have been delivered"), "{err}");
    assert_eq!(server.count("/messages"), 1);
}

#[test]
fn a_reset_after_sending_is_outcome_unknown_and_not_retried() {
    let server = platform(|_| Action::Reset);
    let injector = raw_builder(&server.url(), &FakeClock::new())
        .build()
        .unwrap();
    let err = injector.inject(&request(&["reset"])).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                outcome: Outcome::Unknown,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.count("/messages"), 1);
}

/// A body larger than this machine's TCP send buffer can ever grow, plus the
/// server's small receive window: its write cannot finish before the server
/// resets the connection, so the reset lands while the request is written.
fn unsendable_text() -> String {
    let wmem_max = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2)?.parse::<usize>().ok())
        .unwrap_or(4 << 20);
    "x".repeat(wmem_max * 2)
}

/// An injector that accepts texts of `max` characters, with no safety rules.
fn large_text_injector(url: &str, clock: &std::sync::Arc<FakeClock>, max: usize) -> Injector {
    raw_builder(url, clock)
        .max_text_chars(max)
        .safety_policy(SafetyPolicy::empty())
        .build()
        .unwrap()
}

#[test]
fn a_reset_while_the_request_is_written_is_retried_and_delivered_once() {
    let text = unsendable_text();
    let resets_left = std::sync::atomic::AtomicUsize::new(1);
    let server = RawServer::start_resetting_unread(
        move |head| {
            head.path.ends_with("/messages")
                && resets_left
                    .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
                    .is_ok()
        },
        platform_handler(|_| Action::ok(&message_ok("m-1"))),
    );
    let clock = FakeClock::new();
    let injector = large_text_injector(&server.url(), &clock, text.len());
    let receipt = injector.inject(&request(&[&text])).unwrap();
    assert_eq!(receipt.message_id.as_deref(), Some("m-1"));
    assert_eq!(receipt.attempts, 2);
    // The policy's connect backoff, through the fake clock.
    assert_eq!(clock.sleeps(), vec![Duration::from_millis(200)]);
    assert_eq!(server.heads_count("/messages"), 2);
    let delivered: Vec<_> = server
        .received()
        .into_iter()
        .filter(|r| r.path.ends_with("/messages"))
        .collect();
    assert_eq!(delivered.len(), 1);
    assert!(delivered[0].body.contains(&text));
}

#[test]
fn a_reset_while_the_request_is_written_every_time_is_not_delivered() {
    let text = unsendable_text();
    let server = RawServer::start_resetting_unread(
        |head| head.path.ends_with("/messages"),
        platform_handler(|_| Action::ok(&message_ok("never"))),
    );
    let clock = FakeClock::new();
    let injector = large_text_injector(&server.url(), &clock, text.len());
    let err = injector.inject(&request(&[&text])).unwrap_err();
    assert_not_delivered_after_two_connect_retries(&err, &clock);
    assert!(!err.is_outcome_unknown());
    assert!(
        err.to_string()
            .contains("before the request was completely sent"),
        "{err}"
    );
    // The first try and 2 retries; no body read whole.
    assert_eq!(server.count("/messages"), 0);
    assert_eq!(server.heads_count("/messages"), 3);
}

#[test]
fn a_reset_during_the_tls_handshake_is_retried_then_a_transport_error() {
    // Takes the TLS ClientHello, then resets: no HTTP byte has been sent.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hellos = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hellos.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 512];
            if matches!(std::io::Read::read(&mut stream, &mut buf), Ok(n) if n > 0) {
                // 0x16: a TLS handshake record.
                assert_eq!(buf[0], 0x16);
                counted.fetch_add(1, SeqCst);
            }
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
        }
    });
    let clock = FakeClock::new();
    let injector = raw_builder(&format!("https://127.0.0.1:{port}"), &clock)
        .build()
        .unwrap();
    let err = injector.inject(&request(&["hi"])).unwrap_err();
    assert_not_delivered_after_two_connect_retries(&err, &clock);
    assert_eq!(hellos.load(SeqCst), 3);
}

#[test]
fn through_a_connect_proxy_injections_work_and_a_reset_after_sending_stays_unknown() {
    let proxy = ConnectProxy::start();
    let server = platform(|req| {
        if req.body.contains("reset me") {
            Action::Reset
        } else {
            Action::ok(&message_ok("via-proxy"))
        }
    });
    let injector = raw_builder(&server.url(), &FakeClock::new())
        .proxy(proxy.url())
        .build()
        .unwrap();
    let receipt = injector.inject(&request(&["hello"])).unwrap();
    assert_eq!(receipt.message_id.as_deref(), Some("via-proxy"));
    let target = format!("CONNECT 127.0.0.1:{} HTTP/1.1", server.port);
    let connects = proxy.connects.lock().unwrap().clone();
    assert!(!connects.is_empty(), "no CONNECT seen");
    assert!(connects.iter().all(|c| *c == target), "{connects:?}");

    // The tunnel is a marked connection inside the marked connection: the
    // answer's failure must still count as after sending.
    let err = injector.inject(&request(&["reset me"])).unwrap_err();
    assert!(err.is_outcome_unknown(), "{err:?}");
    assert_eq!(server.count("/messages"), 2);
}

#[test]
fn a_refused_connection_is_retried_under_the_policy_then_a_transport_error() {
    let closed = ClosedPort::new();
    let port = closed.port;
    let clock = FakeClock::new();
    let injector = raw_builder(&format!("http://127.0.0.1:{port}"), &clock)
        .build()
        .unwrap();
    let err = injector.inject(&request(&["hi"])).unwrap_err();
    assert_not_delivered_after_two_connect_retries(&err, &clock);

    let clock = FakeClock::new();
    let injector = raw_builder(&format!("http://127.0.0.1:{port}"), &clock)
        .retry_policy(RetryPolicy::default().connect_retries(4, Duration::from_millis(10)))
        .build()
        .unwrap();
    injector.inject(&request(&["hi"])).unwrap_err();
    assert_eq!(clock.sleeps().len(), 4);
}

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
