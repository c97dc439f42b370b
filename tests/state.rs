//! Cron runs (issue 12): one state directory keeps the token across
//! processes. Most tests run the `burst` example as child processes, each
//! on a fresh temporary directory.

mod common;
#[path = "state/outbox.rs"]
mod outbox;

use common::rawserver::{platform_handler, Action, RawServer, Received};
use common::state::*;
use common::*;
#[cfg(unix)]
use genesys_inject::Error;
use genesys_inject::Injector;
use mockito::Matcher;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
