//! Connections that misbehave: each fault, the error it gives, and that a
//! sent message is never sent twice.

#[path = "faults/answers.rs"]
mod answers;
mod common;

use common::rawserver::{platform, platform_handler, Action, ConnectProxy, RawServer};
use common::*;
use genesys_inject::{Error, Injector, InjectorBuilder, Outcome, RetryPolicy, SafetyPolicy};
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

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
