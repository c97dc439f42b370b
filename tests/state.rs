//! Cron runs (issue 12): one state directory keeps the token and every
//! undelivered audit event across processes. Most tests run the `burst`
//! example as child processes, each on a fresh temporary directory.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::rawserver::{platform_handler, Action, RawServer, Received};
use common::*;
#[cfg(unix)]
use genesys_inject::Error;
use genesys_inject::Injector;
use mockito::{Matcher, ServerGuard};

/// The `burst` example sending `n` messages, with a state directory.
fn burst(platform: &str, webhook: Option<&str>, state: &Path, n: usize, prefix: &str) -> Command {
    let mut cmd = Command::new(example_bin("burst"));
    cmd.env_clear()
        .env("BURST_UNPACED", "1")
        .env("GENESYS_CLIENT_ID", CLIENT_ID)
        .env("GENESYS_CLIENT_SECRET", CLIENT_SECRET)
        .env("GENESYS_BASE_URL", platform)
        .env("GENESYS_STATE_DIR", state)
        .env("BURST_N", n.to_string())
        .env("BURST_PREFIX", prefix)
        .env("BURST_CONVERSATION_ID", CONV)
        .env("BURST_COMMUNICATION_ID", COMM)
        .env("RUST_LOG", "genesys_inject=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(url) = webhook {
        cmd.env("WEBHOOK_URL", url);
    }
    cmd
}

fn succeeded(output: Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One run of one message without a webhook; its standard error.
fn run(server: &ServerGuard, state: &Path) -> String {
    let out = burst(&server.url(), None, state, 1, "").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    succeeded(out);
    stderr
}

/// The token file of the state directory (there is one client).
fn token_file(state: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("token-") && name.ends_with(".json")
        })
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn twenty_runs_in_sequence_make_one_token_call_and_keep_no_secret() {
    let scratch = Scratch::new();
    let (server, token) = counting_platform(1);
    for _ in 0..20 {
        succeeded(
            burst(&server.url(), None, &scratch.state(), 1, "")
                .output()
                .unwrap(),
        );
    }
    token.assert();
    let file = token_file(&scratch.state());
    #[cfg(unix)]
    {
        assert_eq!(mode(&scratch.state()), 0o700);
        assert_eq!(mode(&file), 0o600);
    }
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(TOKEN), "{text}");
    // No file anywhere in the directory holds the secret or the credential.
    for entry in walk(&scratch.state()) {
        let bytes = std::fs::read(&entry).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in [CLIENT_SECRET, &BASIC[6..]] {
            assert!(!text.contains(secret), "{secret} in {}", entry.display());
        }
    }
}

/// Every file below `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn eight_runs_started_together_make_one_token_call() {
    let scratch = Scratch::new();
    // The token endpoint holds its answer until the test lets it go: all
    // eight runs are started, and none has ended, while the first waits.
    let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let held = gate.clone();
    let server = RawServer::start(move |req: &Received| {
        if req.path == "/oauth/token" {
            let (open, cond) = &*held;
            let open = open.lock().unwrap();
            let _unused = cond
                .wait_timeout_while(open, Duration::from_secs(20), |open| !*open)
                .unwrap();
        }
        platform_handler(|_| Action::ok(&message_ok("m")))(req)
    });
    let mut children: Vec<Child> = (0..8)
        .map(|_| {
            burst(&server.url(), None, &scratch.state(), 1, "")
                .spawn()
                .unwrap()
        })
        .collect();
    // The first has asked for the token; no run has ended: eight together.
    let started = Instant::now();
    while server.count("/oauth/token") == 0 {
        assert!(started.elapsed() < Duration::from_secs(20), "no token call");
        std::thread::sleep(Duration::from_millis(2));
    }
    for child in &mut children {
        assert!(child.try_wait().unwrap().is_none(), "a run ended early");
    }
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    for child in children {
        succeeded(child.wait_with_output().unwrap());
    }
    assert_eq!(server.count("/oauth/token"), 1);
    assert_eq!(server.count("/messages"), 8);
}

#[test]
fn a_corrupt_or_group_readable_token_file_is_ignored_and_replaced() {
    let scratch = Scratch::new();
    let (mut server, token) = counting_platform(1);
    run(&server, &scratch.state());
    token.assert();
    let file = token_file(&scratch.state());
    let good = std::fs::read(&file).unwrap();

    // Damaged: truncated in the middle.
    std::fs::write(&file, &good[..good.len() / 2]).unwrap();
    let token = expect_tokens(&mut server, 1, |_| {});
    let stderr = run(&server, &scratch.state());
    token.assert();
    assert!(stderr.contains("damaged"), "{stderr}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(TOKEN), "{text}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let token = expect_tokens(&mut server, 1, |_| {});
        let stderr = run(&server, &scratch.state());
        token.assert();
        assert!(stderr.contains("640"), "{stderr}");
        assert_eq!(mode(&file), 0o600, "replaced by a private file");
    }
}

/// Rewrites the token file with `access_token` expiring in `secs`.
fn store_token(file: &Path, access_token: &str, secs: u64) {
    let mut stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    stored["access_token"] = access_token.into();
    stored["expires_at"] = (now + secs).into();
    std::fs::write(file, serde_json::to_vec(&stored).unwrap()).unwrap();
}

#[test]
fn a_stored_token_is_used_only_while_a_minute_of_it_is_left() {
    let scratch = Scratch::new();
    let (mut server, token) = counting_platform(1);
    run(&server, &scratch.state());
    token.assert();
    let file = token_file(&scratch.state());

    // 59 s left: not reused; a new token replaces it.
    store_token(&file, "nearly-gone", 59);
    let token = expect_tokens(&mut server, 1, |_| {});
    run(&server, &scratch.state());
    token.assert();
    assert!(std::fs::read_to_string(&file).unwrap().contains(TOKEN));

    // 120 s left: reused, no token call, and the API sees that token.
    store_token(&file, "still-good", 120);
    let mut with_stored = None;
    let token = expect_tokens(&mut server, 0, |server| {
        with_stored = Some(
            server
                .mock("POST", message_path().as_str())
                .match_header("authorization", "Bearer still-good")
                .with_body(message_ok("m"))
                .expect(1)
                .create(),
        );
    });
    run(&server, &scratch.state());
    token.assert();
    with_stored.unwrap().assert();
}

#[test]
fn a_401_on_the_stored_token_fetches_one_new_token_and_rewrites_the_file() {
    let scratch = Scratch::new();
    let (mut server, _) = counting_platform(1);
    run(&server, &scratch.state());
    let file = token_file(&scratch.state());
    store_token(&file, "revoked", 3600);

    server.reset();
    let fresh = server
        .mock("POST", "/oauth/token")
        .with_body(r#"{"access_token":"fresh","expires_in":3600}"#)
        .expect(1)
        .create();
    server
        .mock("POST", Matcher::Regex("/typing$".into()))
        .with_status(204)
        .create();
    let refused = server
        .mock("POST", message_path().as_str())
        .match_header("authorization", "Bearer revoked")
        .with_status(401)
        .expect(1)
        .create();
    let accepted = server
        .mock("POST", message_path().as_str())
        .match_header("authorization", "Bearer fresh")
        .with_body(message_ok("m"))
        .expect(1)
        .create();
    run(&server, &scratch.state());
    fresh.assert();
    refused.assert();
    accepted.assert();
    let stored: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(stored["access_token"], "fresh");
}

#[test]
fn a_state_directory_others_can_write_or_own_is_refused_at_build() {
    let scratch = Scratch::new();
    let builder = || {
        Injector::builder()
            .credentials(CLIENT_ID, CLIENT_SECRET)
            .state_dir(scratch.state())
    };
    drop(builder().build().unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let state = scratch.state();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o775)).unwrap();
        match builder().build() {
            Err(Error::Config(msg)) => {
                assert!(msg.contains("writable by group or others"), "{msg}")
            }
            other => panic!("{other:?}"),
        }
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
        let stray = state.join("token-0000000000000000.json");
        std::fs::write(&stray, b"{}").unwrap();
        std::fs::set_permissions(&stray, std::fs::Permissions::from_mode(0o622)).unwrap();
        match builder().build() {
            Err(Error::Config(msg)) => {
                assert!(msg.contains("token-0000000000000000.json"), "{msg}")
            }
            other => panic!("{other:?}"),
        }
        std::fs::remove_file(&stray).unwrap();
        // Another user's directory: only root can make one to try.
        if std::fs::metadata(&state).unwrap().uid() == 0 {
            std::os::unix::fs::chown(&state, Some(65534), None).unwrap();
            match builder().build() {
                Err(Error::Config(msg)) => assert!(msg.contains("another user"), "{msg}"),
                other => panic!("{other:?}"),
            }
        } else {
            skip(
                "a state directory another user owns",
                "only root can give a directory to another user",
            );
        }
    }
}

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
