//! 8 threads × 200 injections against a server answering a random mix of
//! 200, 429 (Retry-After 0), 500 and answers slower than the timeout. No
//! message may be accepted twice, and every count must add up.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::rawserver::{platform, Action, RawServer};
use common::*;
use genesys_inject::{Error, InjectorBuilder, Outcome};

const THREADS: usize = 8;
const PER_THREAD: usize = 200;

/// A deterministic pseudo-random choice per request (xorshift64*).
fn pick(state: &AtomicU64) -> u64 {
    let mut x = state.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D) % 100
}

#[test]
fn soak_no_duplicates_and_every_count_adds_up() {
    let started = Instant::now();
    // text -> how the server handled it: "ok" (in time), "late" (200 after the
    // client's timeout), or refused.
    let accepted: Arc<Mutex<HashMap<String, Vec<&'static str>>>> = Arc::default();
    let seen = accepted.clone();
    let rng = AtomicU64::new(42);
    let server = platform(move |req| {
        let text = serde_json::from_str::<serde_json::Value>(&req.body).unwrap()["textBody"]
            .as_str()
            .unwrap()
            .to_owned();
        match pick(&rng) {
            0..=64 => {
                seen.lock().unwrap().entry(text).or_default().push("ok");
                Action::ok(&message_ok("m"))
            }
            65..=79 => Action::Respond {
                status: 429,
                headers: vec![("retry-after".into(), "0".into())],
                body: String::new(),
                delay: Duration::ZERO,
            },
            80..=94 => Action::status(500, &genesys_error(500, "internal.server.error", "boom")),
            _ => {
                seen.lock().unwrap().entry(text).or_default().push("late");
                Action::Respond {
                    status: 200,
                    headers: vec![],
                    body: message_ok("late"),
                    delay: Duration::from_millis(250),
                }
            }
        }
    });
    let hook = RawServer::start(|_| Action::status(200, ""));
    let injector = InjectorBuilder::new()
        .base_url(server.url())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .clock(FakeClock::new())
        .message_timeout(Duration::from_millis(100))
        .webhook_url(hook.url())
        .build()
        .unwrap();

    let results: Vec<(String, Result<genesys_inject::Receipt, Error>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let injector = &injector;
                s.spawn(move || {
                    (0..PER_THREAD)
                        .map(|i| {
                            let text = format!("soak {t}-{i}");
                            let result = injector.inject(&request(&[&text]));
                            (text, result)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(results.len(), THREADS * PER_THREAD);

    let accepted = accepted.lock().unwrap();
    let mut ok_texts = HashSet::new();
    for (text, result) in &results {
        let handled = accepted.get(text).cloned().unwrap_or_default();
        match result {
            Ok(_) => {
                ok_texts.insert(text.clone());
                assert_eq!(
                    handled,
                    ["ok"],
                    "{text}: Ok must mean accepted exactly once"
                );
            }
            Err(e) if e.outcome() == Outcome::Unknown => {
                assert!(
                    matches!(
                        e,
                        Error::Transport {
                            timed_out: true,
                            ..
                        }
                    ),
                    "{text}: {e:?}"
                );
                assert!(handled.len() <= 1, "{text} accepted {handled:?}");
            }
            Err(e) => {
                assert!(
                    matches!(
                        e,
                        Error::RateLimited { .. } | Error::Api { status: 500, .. }
                    ),
                    "{text}: {e:?}"
                );
                assert!(
                    handled.is_empty(),
                    "{text}: refused but accepted {handled:?}"
                );
            }
        }
    }
    let in_time: HashSet<&String> = accepted
        .iter()
        .filter(|(_, h)| h.contains(&"ok"))
        .map(|(t, _)| t)
        .collect();
    assert_eq!(ok_texts.len(), in_time.len());
    assert!(
        ok_texts.len() > results.len() / 2,
        "most calls succeed: {}",
        ok_texts.len()
    );

    assert!(injector.flush(Duration::from_secs(10)));
    let stats = injector.webhook_stats();
    assert_eq!(
        stats.delivered + stats.failed + stats.dropped,
        results.len() as u64,
        "{stats:?}"
    );
    // The figure, not a bound: a loaded machine may take longer.
    eprintln!("soak: {:?}", started.elapsed());
}
