//! Cron runs (issue 12): one state directory keeps every undelivered audit
//! event across processes, in order, and posts each once at a time. The
//! tests run the `burst` example as child processes, each on a fresh
//! temporary directory.

use crate::common::rawserver::{Action, RawServer, Received};
use crate::common::state::*;
use crate::common::*;
use mockito::ServerGuard;
use std::collections::HashMap;
use std::path::Path;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A webhook that records the events it accepted (with their
/// `Idempotency-Key`), answering 200 when `ok` is set and 500 otherwise.
struct Hook {
    server: RawServer,
    ok: Arc<AtomicBool>,
    /// Every attempt: (key, messageSize, whether it was accepted).
    attempts: Arc<Mutex<Vec<(String, u64, bool)>>>,
}

impl Hook {
    fn start(ok: bool, stall_first: bool) -> Hook {
        let ok = Arc::new(AtomicBool::new(ok));
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let (ok2, attempts2) = (ok.clone(), attempts.clone());
        let stalled = AtomicBool::new(!stall_first);
        let server = RawServer::start(move |req: &Received| {
            if !stalled.swap(true, SeqCst) {
                return Action::Stall(Duration::from_secs(30));
            }
            let accepted = ok2.load(SeqCst);
            attempts2
                .lock()
                .unwrap()
                .push((key(req), message_size(req), accepted));
            if accepted {
                Action::ok("")
            } else {
                Action::status(500, "down")
            }
        });
        Hook {
            server,
            ok,
            attempts,
        }
    }

    fn url(&self) -> String {
        format!("{}/hook", self.server.url())
    }

    /// (key, messageSize) of each accepted event, in order.
    fn accepted(&self) -> Vec<(String, u64)> {
        self.attempts
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.2)
            .map(|a| (a.0.clone(), a.1))
            .collect()
    }
}

fn key(req: &Received) -> String {
    req.headers
        .iter()
        .find(|(k, _)| k == "idempotency-key")
        .map(|(_, v)| v.clone())
        .expect("an Idempotency-Key header")
}

fn message_size(req: &Received) -> u64 {
    let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
    let entry: serde_json::Value =
        serde_json::from_str(body["auditEntry"].as_str().unwrap()).unwrap();
    entry["messageSize"].as_u64().unwrap()
}

/// Every file in the outbox, whoever wrote it.
fn outbox_files(state: &Path) -> usize {
    let Ok(dir) = std::fs::read_dir(state.join("outbox")) else {
        return 0;
    };
    dir.map(|e| e.unwrap().path())
        .map(|p| match std::fs::read_dir(&p) {
            Ok(owner) => owner.count(),
            Err(_) => 1,
        })
        .sum()
}

#[test]
fn ten_runs_against_a_failing_webhook_then_one_against_a_live_one_deliver_all_eleven_in_order() {
    let scratch = Scratch::new();
    let platform = accepting_server();
    let hook = Hook::start(false, false);
    for run in 1..=10 {
        let prefix = "x".repeat(run);
        succeeded(
            burst(
                &platform.url(),
                Some(&hook.url()),
                &scratch.state(),
                1,
                &prefix,
            )
            .output()
            .unwrap(),
        );
        // A dead webhook does not hold the run up: one attempt a run (the
        // run stops at the first failure and leaves the rest on disk).
        assert_eq!(hook.attempts.lock().unwrap().len(), run, "run {run}");
        assert_eq!(outbox_files(&scratch.state()), run);
    }
    hook.ok.store(true, SeqCst);
    succeeded(
        burst(
            &platform.url(),
            Some(&hook.url()),
            &scratch.state(),
            1,
            &"x".repeat(11),
        )
        .output()
        .unwrap(),
    );
    let accepted = hook.accepted();
    let sizes: Vec<u64> = accepted.iter().map(|a| a.1).collect();
    // "burst 0" is 7 units; run k adds k.
    assert_eq!(sizes, (1..=11).map(|k| 7 + k).collect::<Vec<u64>>());
    let mut per_key: HashMap<&str, usize> = HashMap::new();
    for (k, _) in &accepted {
        *per_key.entry(k).or_default() += 1;
    }
    assert!(per_key.values().all(|n| *n == 1), "{per_key:?}");
    // The refused attempts were all on the oldest event, with its key.
    let attempts = hook.attempts.lock().unwrap().clone();
    let refused: Vec<&(String, u64, bool)> = attempts.iter().filter(|a| !a.2).collect();
    assert!(refused.len() >= 10, "{}", refused.len());
    assert!(refused.iter().all(|a| a.0 == accepted[0].0), "{refused:?}");
    assert_eq!(outbox_files(&scratch.state()), 0, "nothing left behind");
}

#[test]
fn a_run_killed_while_posting_has_its_event_delivered_by_the_next_run() {
    let scratch = Scratch::new();
    let platform = accepting_server();
    let hook = Hook::start(true, true);
    let mut first = burst(&platform.url(), Some(&hook.url()), &scratch.state(), 1, "x")
        .spawn()
        .unwrap();
    // Wait until the first run's event has reached the (stalled) webhook.
    let deadline = Instant::now() + Duration::from_secs(10);
    while hook.server.received().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the event never reached the webhook"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    assert_eq!(outbox_files(&scratch.state()), 1);
    let stalled_key = key(&hook.server.received()[0]);

    succeeded(
        burst(
            &platform.url(),
            Some(&hook.url()),
            &scratch.state(),
            1,
            "xx",
        )
        .output()
        .unwrap(),
    );
    let accepted = hook.accepted();
    assert_eq!(
        accepted,
        [(stalled_key, 8), (accepted[1].0.clone(), 9)],
        "the killed run's event first, with the key of its first attempt"
    );
    assert_eq!(outbox_files(&scratch.state()), 0);
}

#[test]
fn a_full_queue_with_a_state_directory_drops_nothing() {
    let scratch = Scratch::new();
    let platform = accepting_server();
    // The webhook stalls, then, once `live`, accepts (the same URL: events
    // are only ever posted to the URL they were written for).
    let live = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let switch = live.clone();
    let hook = RawServer::start(move |_| {
        if switch.load(std::sync::atomic::Ordering::SeqCst) {
            Action::ok("")
        } else {
            Action::Stall(Duration::from_secs(30))
        }
    });
    let injector = builder(&platform, &FakeClock::new())
        .webhook_url(format!("{}/hook", hook.url()))
        .webhook_queue_capacity(2)
        .webhook_timeout(Duration::from_millis(300))
        .shutdown_timeout(Duration::from_millis(200))
        .state_dir(scratch.state())
        .build()
        .unwrap();
    for _ in 0..10 {
        injector.inject(&request(&["hi"])).unwrap();
    }
    let stats = injector.webhook_stats();
    assert_eq!(stats.dropped, 0, "{stats:?}");
    assert_eq!(stats.pending, 10, "{stats:?}");
    drop(injector);
    assert_eq!(outbox_files(&scratch.state()), 10);

    // The next injector on the directory posts all ten, in the background.
    live.store(true, std::sync::atomic::Ordering::SeqCst);
    let before = hook.received().len();
    let injector = builder(&platform, &FakeClock::new())
        .webhook_url(format!("{}/hook", hook.url()))
        .state_dir(scratch.state())
        .build()
        .unwrap();
    drop(injector);
    assert_eq!(hook.received().len() - before, 10);
    assert_eq!(outbox_files(&scratch.state()), 0);
}

#[test]
fn past_its_bound_the_outbox_drops_the_oldest_and_counts_them() {
    let scratch = Scratch::new();
    let platform = accepting_server();
    let hook = Hook::start(false, false);
    let build = |platform: &ServerGuard| {
        builder(platform, &FakeClock::new())
            .webhook_url(hook.url())
            .state_dir(scratch.state())
            .outbox_max_events(3)
            .shutdown_timeout(Duration::from_millis(200))
            .build()
            .unwrap()
    };
    let first = build(&platform);
    for size in 1..=5 {
        first.inject(&request(&[&"x".repeat(size)])).unwrap();
    }
    let first_dropped = first.webhook_stats().dropped;
    drop(first);
    hook.ok.store(true, SeqCst);
    let second = build(&platform);
    assert!(second.flush(Duration::from_secs(5)));
    let dropped = first_dropped + second.webhook_stats().dropped;
    assert_eq!(dropped, 2);
    let sizes: Vec<u64> = hook.accepted().iter().map(|a| a.1).collect();
    assert_eq!(sizes, [3, 4, 5], "the three newest, in order");
    drop(second);
}

#[test]
fn two_processes_on_one_directory_never_post_one_event_at_once() {
    let scratch = Scratch::new();
    let platform = accepting_server();
    let in_flight = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let (flight, overlap, seen) = (in_flight.clone(), overlaps.clone(), accepted.clone());
    let hook = RawServer::start(move |req: &Received| {
        let k = key(req);
        {
            let mut flight = flight.lock().unwrap();
            let n = flight.entry(k.clone()).or_default();
            if *n > 0 {
                overlap.fetch_add(1, SeqCst);
            }
            *n += 1;
        }
        std::thread::sleep(Duration::from_millis(5));
        *flight.lock().unwrap().get_mut(&k).unwrap() -= 1;
        seen.lock().unwrap().push(k);
        Action::ok("")
    });
    let url = format!("{}/hook", hook.url());
    let children: Vec<Child> = (0..3)
        .map(|_| {
            burst(&platform.url(), Some(&url), &scratch.state(), 15, "")
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        succeeded(child.wait_with_output().unwrap());
    }
    assert_eq!(overlaps.load(SeqCst), 0);
    let accepted = accepted.lock().unwrap();
    assert_eq!(accepted.len(), 45, "each event posted once");
    let unique: std::collections::HashSet<&String> = accepted.iter().collect();
    assert_eq!(unique.len(), 45);
    assert_eq!(outbox_files(&scratch.state()), 0);
}
