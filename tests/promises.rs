#![cfg(unix)]
//! Issue 18: the state directory's promises under a hostile platform, a
//! careless user and a second tenant. Each test keeps a library injector
//! alive, as a service would, on a fresh temporary directory.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::rawserver::{Action, RawServer};
use common::*;
use genesys_inject::{Error, Injector, InjectorBuilder};

/// A webhook on the raw server answering `status` (changeable).
struct Hook {
    server: RawServer,
    status: Arc<AtomicU16>,
}

impl Hook {
    fn start(status: u16) -> Hook {
        let shared = Arc::new(AtomicU16::new(status));
        let answer = shared.clone();
        let server = RawServer::start(move |_| {
            let status = answer.load(SeqCst);
            let mut action = Action::status(status, "");
            if let Action::Respond { headers, .. } = &mut action {
                headers.push(("location".into(), "http://127.0.0.1:9/elsewhere".into()));
            }
            action
        });
        Hook {
            server,
            status: shared,
        }
    }

    fn url(&self) -> String {
        format!("{}/hook", self.server.url())
    }

    fn posts(&self) -> usize {
        self.server.count("/hook")
    }
}

/// An injector of `client` on `platform`, posting to `hook`, with `state`.
fn injector(platform: &str, client: &str, hook: &str, state: &Path) -> InjectorBuilder {
    InjectorBuilder::new()
        .base_url(platform)
        .credentials(client, CLIENT_SECRET)
        .clock(FakeClock::new())
        .webhook_url(hook)
        .webhook_timeout(Duration::from_millis(500))
        .shutdown_timeout(Duration::from_millis(300))
        .state_dir(state)
}

/// A platform that accepts every message from any client.
fn platform() -> RawServer {
    common::rawserver::platform(|_| Action::ok(&message_ok("m")))
}

/// The event files of every owner's outbox.
fn events(state: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for owner in std::fs::read_dir(state.join("outbox")).unwrap() {
        let owner = owner.unwrap().path();
        if owner.is_dir() {
            for e in std::fs::read_dir(&owner).unwrap() {
                files.push(e.unwrap().path());
            }
        }
    }
    files
}

/// The one owner directory in the outbox.
fn owner_dir(state: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(state.join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

/// Warnings logged so far that name `what`.
fn warnings_naming(what: &str) -> Vec<String> {
    logged()
        .into_iter()
        .filter(|(_, level, line)| *level == log::Level::Warn && line.contains(what))
        .map(|(_, _, line)| line)
        .collect()
}

/// Makes a FIFO at `path`.
fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// Waits (real time, at most 5 s) until `done`.
fn eventually(done: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

#[test]
fn one_clients_events_never_reach_another_clients_webhook() {
    let scratch = Scratch::new();
    let platform = platform();
    let (hook_x, hook_y) = (Hook::start(503), Hook::start(200));
    // Client X: its webhook fails, its two events wait on disk.
    let x = injector(&platform.url(), "client-x", &hook_x.url(), &scratch.state())
        .build()
        .unwrap();
    for _ in 0..2 {
        x.inject(&request(&["for x"])).unwrap();
    }
    drop(x);
    assert_eq!(events(&scratch.state()).len(), 2);
    // Client Y, on the same directory: posts its own event only.
    let y = injector(&platform.url(), "client-y", &hook_y.url(), &scratch.state())
        .build()
        .unwrap();
    y.inject(&request(&["for y"])).unwrap();
    assert!(y.flush(Duration::from_secs(5)));
    let stats = y.webhook_stats();
    assert_eq!((stats.delivered, stats.others), (1, 2), "{stats:?}");
    drop(y);
    assert_eq!(hook_y.posts(), 1, "only Y's own event reached Y's webhook");
    // The same client with another webhook URL does not take them either.
    let moved = injector(&platform.url(), "client-x", &hook_y.url(), &scratch.state())
        .build()
        .unwrap();
    assert!(moved.flush(Duration::from_secs(2)));
    assert!(eventually(|| moved.webhook_stats().others == 2));
    drop(moved);
    assert_eq!(hook_y.posts(), 1);
    // X's next run, its webhook back: both events, to X's webhook.
    hook_x.status.store(200, SeqCst);
    let before = hook_x.posts();
    let x = injector(&platform.url(), "client-x", &hook_x.url(), &scratch.state())
        .build()
        .unwrap();
    assert!(x.flush(Duration::from_secs(5)));
    drop(x);
    assert_eq!(hook_x.posts() - before, 2);
    assert!(events(&scratch.state()).is_empty());
}

#[test]
fn a_redirect_from_the_webhook_keeps_the_event_and_is_not_followed() {
    let scratch = Scratch::new();
    let platform = platform();
    let hook = Hook::start(302);
    let injector = injector(&platform.url(), CLIENT_ID, &hook.url(), &scratch.state())
        .build()
        .unwrap();
    injector.inject(&request(&["hi"])).unwrap();
    assert!(!injector.flush(Duration::from_secs(2)));
    let stats = injector.webhook_stats();
    assert_eq!((stats.delivered, stats.failed), (0, 0), "{stats:?}");
    assert_eq!(events(&scratch.state()).len(), 1, "kept on disk");
    // Still there when the endpoint takes it (the backoff is short).
    hook.status.store(200, SeqCst);
    assert!(eventually(|| injector.webhook_stats().delivered == 1));
    drop(injector);
    assert!(events(&scratch.state()).is_empty());
}

#[test]
fn an_outbox_its_owner_cannot_use_is_refused_by_build() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::new();
    let platform = platform();
    let hook = Hook::start(200);
    let build = || injector(&platform.url(), CLIENT_ID, &hook.url(), &scratch.state()).build();
    drop(build().unwrap());
    let owner = owner_dir(&scratch.state());
    std::fs::set_permissions(&owner, std::fs::Permissions::from_mode(0o500)).unwrap();
    match build() {
        Err(Error::Config(why)) => assert!(why.contains("500"), "{why}"),
        other => panic!("{other:?}"),
    }
    std::fs::set_permissions(&owner, std::fs::Permissions::from_mode(0o700)).unwrap();
    // A lock file that is a FIFO (opening it must not block), or a link.
    let lock = std::fs::read_dir(scratch.state())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("outbox-"))
        .unwrap();
    std::fs::remove_file(&lock).unwrap();
    mkfifo(&lock);
    assert!(matches!(build(), Err(Error::Config(_))));
    std::fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink(scratch.0.join("elsewhere"), &lock).unwrap();
    assert!(matches!(build(), Err(Error::Config(_))));
}

#[test]
fn an_event_that_cannot_be_removed_is_posted_once_and_reported_once() {
    capture_logs();
    let scratch = Scratch::new();
    let platform = platform();
    let hook = Hook::start(503);
    let build = || {
        injector(&platform.url(), CLIENT_ID, &hook.url(), &scratch.state())
            .build()
            .unwrap()
    };
    let first = build();
    first.inject(&request(&["hi"])).unwrap();
    drop(first);
    let event = events(&scratch.state()).pop().unwrap();
    // Root removes whatever the mode bits say: make the file immutable.
    if !Command::new("chattr")
        .arg("+i")
        .arg(&event)
        .status()
        .is_ok_and(|s| s.success())
    {
        skip(
            "an event that cannot be removed",
            "chattr +i is not available here (not root, or a filesystem without it)",
        );
        return;
    }
    hook.status.store(200, SeqCst);
    let before = hook.posts();
    let injector = build();
    assert!(eventually(|| injector.webhook_stats().delivered == 1));
    // A while longer: a tight loop would post it thousands of times.
    std::thread::sleep(Duration::from_millis(300));
    let stats = injector.webhook_stats();
    drop(injector);
    let _ = Command::new("chattr").arg("-i").arg(&event).status();
    assert_eq!(hook.posts() - before, 1);
    assert_eq!(stats.delivered, 1, "{stats:?}");
    let name = event.file_name().unwrap().to_string_lossy().into_owned();
    let warnings = warnings_naming(&name);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn only_a_private_regular_file_of_ours_is_posted() {
    use std::os::unix::fs::PermissionsExt;
    capture_logs();
    let scratch = Scratch::new();
    let platform = platform();
    let hook = Hook::start(200);
    let build = || {
        injector(&platform.url(), CLIENT_ID, &hook.url(), &scratch.state())
            .build()
            .unwrap()
    };
    drop(build());
    let owner = owner_dir(&scratch.state());
    let name = |n: u32| format!("{n:020}-ec35f2a8-289b-42d4-8893-c50eaf81a3c{n}.json");
    // A private file of the user's, elsewhere.
    let private = scratch.0.join("private.json");
    std::fs::write(&private, br#"{"secret":"the user's own"}"#).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(&private, owner.join(name(1))).unwrap();
    std::fs::hard_link(&private, owner.join(name(2))).unwrap();
    mkfifo(&owner.join(name(3)));
    std::fs::create_dir(owner.join(name(4))).unwrap();
    let sparse = std::fs::File::create(owner.join(name(5))).unwrap();
    sparse.set_len(1 << 40).unwrap();
    std::fs::set_permissions(owner.join(name(5)), std::fs::Permissions::from_mode(0o600)).unwrap();
    let started = Instant::now();
    let injector = build();
    injector.inject(&request(&["mine"])).unwrap();
    assert!(injector.flush(Duration::from_secs(5)));
    let stats = injector.webhook_stats();
    drop(injector);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no hang on a FIFO"
    );
    assert_eq!(hook.posts(), 1, "only the real event");
    assert_eq!(stats.delivered, 1, "{stats:?}");
    for n in 1..=5 {
        let warned = warnings_naming(&name(n));
        assert_eq!(warned.len(), 1, "entry {n}: one warning: {warned:?}");
        assert!(
            std::fs::symlink_metadata(owner.join(name(n))).is_ok(),
            "left in place"
        );
    }
    assert!(private.exists());
}

#[test]
fn a_fifo_for_a_token_file_does_not_hang_the_run() {
    let scratch = Scratch::new();
    let platform = platform();
    let build = || {
        InjectorBuilder::new()
            .base_url(platform.url())
            .credentials(CLIENT_ID, CLIENT_SECRET)
            .clock(FakeClock::new())
            .state_dir(scratch.state())
            .build()
            .unwrap()
    };
    build().inject(&request(&["one"])).unwrap();
    let token = std::fs::read_dir(scratch.state())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    std::fs::remove_file(&token).unwrap();
    mkfifo(&token);
    let started = Instant::now();
    build().inject(&request(&["two"])).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The token lock file of the state directory, once a run made it.
fn token_lock(state: &Path) -> PathBuf {
    std::fs::read_dir(state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("token-") && name.ends_with(".lock")
        })
        .unwrap()
}

#[test]
fn a_stopped_holder_of_the_token_lock_blocks_no_one_for_long() {
    let scratch = Scratch::new();
    let platform = platform();
    let clock = FakeClock::new();
    let build = || {
        InjectorBuilder::new()
            .base_url(platform.url())
            .credentials(CLIENT_ID, CLIENT_SECRET)
            .clock(clock.clone())
            .token_timeout(Duration::from_millis(500))
            .state_dir(scratch.state())
            .requests_per_minute(None)
            .build()
            .unwrap()
    };
    // A first run makes the lock file; the token file is then removed, so
    // the next run must fetch.
    build().inject(&request(&["one"])).unwrap();
    let lock = token_lock(&scratch.state());
    for p in std::fs::read_dir(scratch.state()).unwrap() {
        let p = p.unwrap().path();
        if p.extension().is_some_and(|e| e == "json") {
            std::fs::remove_file(p).unwrap();
        }
    }
    // Another process takes the lock and never lets go (as if stopped).
    let mut holder = Command::new("flock")
        .arg(&lock)
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    // Until it holds it: a lock this process cannot take.
    let started = Instant::now();
    while flock_free(&lock) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "flock never took it"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let before: Duration = clock.sleeps().iter().sum();
    let result = build().inject(&request(&["two"]));
    let waited = clock.sleeps().iter().sum::<Duration>() - before;
    let _ = holder.kill();
    let _ = holder.wait();
    result.unwrap();
    // On the injected clock: its turn, then no more than the token timeout
    // (and one poll of the lock past it).
    assert!(
        waited >= Duration::from_millis(500) && waited <= Duration::from_millis(520),
        "waited {waited:?} for a token timeout of 500 ms"
    );
}

/// Whether `path` can be locked now (and is let go at once).
fn flock_free(path: &Path) -> bool {
    Command::new("flock")
        .args(["--nonblock", "--conflict-exit-code", "9"])
        .arg(path)
        .arg("true")
        .status()
        .unwrap()
        .code()
        != Some(9)
}

#[test]
fn after_a_failed_token_fetch_the_waiters_fetch_at_once_not_in_turn() {
    use std::sync::atomic::AtomicUsize;
    let scratch = Scratch::new();
    // Every token call fails after 500 ms (a refused client: not retried);
    // the platform counts how many it holds at once.
    let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (n, m) = (now.clone(), most.clone());
    let platform = RawServer::start(move |req| {
        if req.path == "/oauth/token" {
            let held = n.fetch_add(1, SeqCst) + 1;
            m.fetch_max(held, SeqCst);
            std::thread::sleep(Duration::from_millis(500));
            n.fetch_sub(1, SeqCst);
            Action::status(401, r#"{"error":"invalid_client"}"#)
        } else {
            Action::ok(&message_ok("m"))
        }
    });
    // Five runs on one state directory, on real time: the lock's wait is
    // what is tested (a fake clock would end it at once).
    let runs: Vec<Injector> = (0..5)
        .map(|_| {
            InjectorBuilder::new()
                .base_url(platform.url())
                .credentials(CLIENT_ID, CLIENT_SECRET)
                .state_dir(scratch.state())
                .build()
                .unwrap()
        })
        .collect();
    std::thread::scope(|s| {
        for run in &runs {
            s.spawn(move || assert!(run.inject(&request(&["x"])).is_err()));
        }
    });
    // The first fetches alone (the others wait for its token); it fails,
    // and the other four then fetch together, not one after another.
    assert_eq!(platform.count("/oauth/token"), 5);
    assert_eq!(most.load(SeqCst), 4);
}

#[test]
fn the_shutdown_warning_counts_what_is_left_once_the_worker_is_done() {
    capture_logs();
    let scratch = Scratch::new();
    let platform = platform();
    // The webhook takes 600 ms to answer 200: longer than the shutdown's
    // flush, shorter than the worker's post.
    let hook = RawServer::start(|_| Action::Respond {
        status: 200,
        headers: vec![],
        body: String::new(),
        delay: Duration::from_millis(600),
    });
    let url = format!("{}/hook", hook.url());
    let injector = injector(&platform.url(), CLIENT_ID, &url, &scratch.state())
        .shutdown_timeout(Duration::from_millis(100))
        .webhook_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    injector.inject(&request(&["hi"])).unwrap();
    // Until the worker is posting it.
    assert!(eventually(|| !hook.heads().is_empty()));
    drop(injector);
    assert!(events(&scratch.state()).is_empty());
    // Drop logs on this thread: none of the other tests' lines.
    let warned: Vec<_> = logged_here()
        .into_iter()
        .filter(|line| line.contains("wait in the outbox"))
        .collect();
    assert!(warned.is_empty(), "{warned:?}");
}
