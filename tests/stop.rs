//! Stop means stop, and every wait serves the budget (issue 32): a signal
//! cuts every wait short, a refused attempt leaves nothing unknown, a
//! typing indicator goes with its message, an unreachable platform stops
//! the batch, lines in flight follow the round trip, and the default rate
//! follows the platform's budget.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
#[cfg(unix)]
use std::sync::Mutex;
use std::time::Duration;
#[cfg(unix)]
use std::time::Instant;

use common::batch::*;
use common::rawserver::{Action, RawServer};
use common::*;
use genesys_inject::{BatchLine, BatchOptions, ContentBlock, InjectRequest, Injector, Journal};
use serde_json::json;

/// SMS lines, one a recipient.
fn sms_lines(path: &Path, n: usize) {
    let lines: String = (0..n)
        .map(|i| {
            format!(
                "{}\n",
                json!({"agentless": "sms", "from": "+18005550100", "to": format!("+1317555{i:04}"), "text": "Your table is ready"})
            )
        })
        .collect();
    std::fs::write(path, lines).unwrap();
}

/// An agentless platform whose answers `answer` decides; counts messages.
fn agentless(answer: impl Fn() -> Action + Send + Sync + 'static) -> (RawServer, Arc<AtomicUsize>) {
    let sent = Arc::new(AtomicUsize::new(0));
    let count = sent.clone();
    let server = common::rawserver::platform(move |req| {
        if req.path.ends_with("/agentless") {
            count.fetch_add(1, SeqCst);
            answer()
        } else {
            Action::status(404, "")
        }
    });
    (server, sent)
}

fn accepted() -> Action {
    Action::ok(&json!({"id": "o", "message": {"id": "m", "status": "queued"}}).to_string())
}

/// The journal holds nothing to settle: no line's last record is
/// `attempting` or `unknown`.
fn nothing_to_settle(journal: &Path) {
    let text = std::fs::read_to_string(journal).unwrap_or_default();
    let mut last = std::collections::HashMap::new();
    for record in text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
    {
        last.insert(record["line"].to_string(), record["state"].to_string());
    }
    assert!(
        last.values()
            .all(|s| s != "\"attempting\"" && s != "\"unknown\""),
        "{text}"
    );
}

#[cfg(unix)]
#[test]
fn a_signal_cuts_every_wait_short() {
    // Real processes and real time, on purpose: a signal to a child. The
    // old behaviour waited each of these out: an hour's 429, two lines a
    // minute, a minute's delay.
    for (case, extra, rate) in [
        ("a 429 pause", &["--parallel", "2"][..], "60000"),
        ("the pace", &["--parallel", "4"][..], "2"),
        ("a line's delay", &["--delay-ms", "60000"][..], "60000"),
    ] {
        let dir = Scratch::new();
        // The same platform for the re-run (the journal's records are its
        // client's), healed by then.
        let limited = Arc::new(AtomicBool::new(case == "a 429 pause"));
        let refusing = limited.clone();
        let (platform, sent) = agentless(move || {
            if refusing.load(SeqCst) {
                Action::status(429, "").header("retry-after", "3600")
            } else {
                accepted()
            }
        });
        let file = dir.0.join("sms.jsonl");
        let journal = dir.0.join("journal.jsonl");
        sms_lines(&file, 8);
        let mut child = batch_cmd_at(rate, &platform.url(), &file, &journal, extra)
            .env("RUST_LOG", "genesys_inject::gate=debug")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Until it waits: a 429 answered, a pacing line, the token fetched.
        let stderr = child.stderr.take().unwrap();
        let said = Arc::new(Mutex::new(String::new()));
        let reader = {
            let said = said.clone();
            std::thread::spawn(move || {
                use std::io::Read;
                let mut stderr = stderr;
                let mut buf = [0u8; 256];
                while let Ok(n) = stderr.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    said.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            })
        };
        let started = Instant::now();
        loop {
            let waiting = match case {
                "a 429 pause" => sent.load(SeqCst) > 0,
                "the pace" => said.lock().unwrap().contains("pacing: "),
                _ => platform.count("/oauth/token") > 0,
            };
            if waiting {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{case}: never waited"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        let signalled = Instant::now();
        assert!(std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success());
        let status = child.wait().unwrap();
        let took = signalled.elapsed();
        reader.join().unwrap();
        let said = said.lock().unwrap().clone();
        assert_eq!(status.code(), Some(143), "{case}: {said}");
        // Out promptly: each wait cut within a tenth of a second (the
        // bound here leaves room for a loaded machine; the waits were an
        // hour and minutes).
        assert!(took < Duration::from_secs(10), "{case}: {took:?}");
        assert!(said.contains("stopping: "), "{case}: {said}");
        assert!(said.contains("a second signal ends now"), "{case}: {said}");
        assert!(
            said.contains("not reached; a re-run sends them"),
            "{case}: {said}"
        );
        nothing_to_settle(&journal);
        // The rest goes out with the next run, each line once.
        let refused = if limited.swap(false, SeqCst) {
            sent.swap(0, SeqCst)
        } else {
            0
        };
        let (code, _, all) = run(&mut batch_cmd(&platform.url(), &file, &journal, &[]));
        assert_eq!(code, 0, "{case}: {all}");
        assert!(!all.contains("unknown:"), "{case}: {all}");
        assert!(refused == 0 || case == "a 429 pause");
        assert_eq!(sent.load(SeqCst), 8, "{case}: {all}");
    }
}

#[test]
fn a_kill_after_a_429_leaves_nothing_unknown() {
    let dir = Scratch::new();
    // Every message refused for two seconds at a time, until healed.
    let healed = Arc::new(AtomicBool::new(false));
    let h = healed.clone();
    let (platform, refused) = agentless(move || {
        if h.load(SeqCst) {
            accepted()
        } else {
            Action::status(429, "").header("retry-after", "2")
        }
    });
    let file = dir.0.join("sms.jsonl");
    let journal = dir.0.join("journal.jsonl");
    sms_lines(&file, 6);
    // One line at a time: once the run says it holds its calls, no
    // request of it is on its way (an answer in flight at a kill is a lost
    // answer: unknown, rightly).
    let mut child = batch_cmd(&platform.url(), &file, &journal, &["--parallel", "1"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut holds = 0;
    let mut line = String::new();
    while holds < 2 {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0);
        if line.contains("rate limited: holding API calls") {
            holds += 1;
        }
    }
    assert!(refused.load(SeqCst) >= 2);
    // systemd's stop after its timeout: SIGKILL, mid-pause.
    child.kill().unwrap();
    child.wait().unwrap();
    nothing_to_settle(&journal);
    healed.store(true, SeqCst);
    refused.store(0, SeqCst);
    let (code, _, all) = run(&mut batch_cmd(&platform.url(), &file, &journal, &[]));
    assert_eq!(code, 0, "{all}");
    assert_eq!(
        refused.load(SeqCst),
        6,
        "each line once, none unknown: {all}"
    );
}

/// A platform on `clock`'s time: typing and messages counted, each request
/// taking `rtt` of the injected clock (and `hold` of real time, so that
/// lines in flight overlap), the headers saying `allowed` a `reset`.
struct Paced {
    server: RawServer,
    typing: Arc<AtomicUsize>,
    messages: Arc<AtomicUsize>,
}

fn paced(
    clock: &Arc<FakeClock>,
    rtt: Duration,
    hold: Duration,
    limits: Option<(u32, u32)>,
) -> Paced {
    let (typing, messages) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (t, m, clock) = (typing.clone(), messages.clone(), clock.clone());
    let server = RawServer::start(move |req| {
        if req.path == "/oauth/token" {
            return Action::ok(&format!(
                r#"{{"access_token":"{TOKEN}","expires_in":86399}}"#
            ));
        }
        clock.advance(rtt);
        std::thread::sleep(hold);
        let mut answer = if req.path.ends_with("/typing") {
            t.fetch_add(1, SeqCst);
            Action::status(204, "")
        } else if req.path.ends_with("/messages") {
            m.fetch_add(1, SeqCst);
            Action::ok(&message_ok("m"))
        } else {
            Action::ok(&json!({"participants": []}).to_string())
        };
        if let Some((allowed, reset)) = limits {
            answer = answer
                .header("inin-ratelimit-allowed", &allowed.to_string())
                .header("inin-ratelimit-count", "1")
                .header("inin-ratelimit-reset", &reset.to_string());
        }
        answer
    });
    Paced {
        server,
        typing,
        messages,
    }
}

fn lines(n: usize) -> Vec<BatchLine> {
    (0..n)
        .map(|i| BatchLine::new(format!("l{i}"), request(&[&format!("line {i}")])))
        .collect()
}

#[test]
fn a_typing_indicator_always_has_its_message() {
    // 12 requests a minute (one every 5.45 s after the first second's
    // one), a deadline of 117 s: the 11th line's indicator could go at
    // 114.5 s, its message only at 120 s. A line that cannot have both
    // its requests by then sends neither.
    let clock = FakeClock::new();
    let platform = paced(&clock, Duration::ZERO, Duration::ZERO, None);
    let dir = Scratch::new();
    let mut journal = Journal::open(dir.0.join("j.jsonl"), "b").unwrap();
    let injector = Injector::builder()
        .base_url(platform.server.url())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .clock(clock.clone())
        .no_state_dir()
        .requests_per_minute(Some(12))
        .build()
        .unwrap();
    let options = BatchOptions::new()
        .parallel(1)
        .deadline(Duration::from_secs(117));
    injector
        .inject_batch(&lines(32), &mut journal, &options, |_| {})
        .unwrap();
    let (typing, messages) = (platform.typing.load(SeqCst), platform.messages.load(SeqCst));
    assert!(messages > 0 && messages < 32, "{messages}");
    assert_eq!(typing, messages, "an indicator without its message");
}

#[test]
fn an_unreachable_platform_stops_the_batch_after_three_lines() {
    let dir = Scratch::new();
    let closed = ClosedPort::new();
    let file = dir.0.join("sms.jsonl");
    let journal = dir.0.join("journal.jsonl");
    sms_lines(&file, 30);
    let url = format!("http://127.0.0.1:{}", closed.port);
    let (code, out, all) = run(&mut batch_cmd(
        &url,
        &file,
        &journal,
        &["--json", "--parallel", "1"],
    ));
    assert_eq!(code, 1, "{all}");
    let summary = summary(&out);
    assert_eq!(
        (&summary["failed"], &summary["not_reached"]),
        (&json!(3), &json!(27)),
        "{all}"
    );
    assert_eq!(
        all.matches("could not be reached for 3 lines in a row")
            .count(),
        1,
        "{all}"
    );
}

/// The most lines in flight a batch of `n` lines had, sampled as they
/// finished, on `platform`.
fn most_in_flight(platform: &Paced, clock: &Arc<FakeClock>, budget: u32, n: usize) -> usize {
    let dir = Scratch::new();
    let mut journal = Journal::open(dir.0.join("j.jsonl"), "b").unwrap();
    let injector = Injector::builder()
        .base_url(platform.server.url())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .clock(clock.clone())
        .no_state_dir()
        .typing(genesys_inject::TypingMode::Off)
        .requests_per_minute(Some(budget))
        .build()
        .unwrap();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let options = BatchOptions::new().count_in_flight(in_flight.clone());
    let most = Arc::new(AtomicUsize::new(0));
    let (sampling, done) = (most.clone(), Arc::new(AtomicBool::new(false)));
    let finished = done.clone();
    let sampler = std::thread::spawn(move || {
        while !finished.load(SeqCst) {
            sampling.fetch_max(in_flight.load(SeqCst), SeqCst);
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let reports = injector
        .inject_batch(&lines(n), &mut journal, &options, |_| {})
        .unwrap();
    done.store(true, SeqCst);
    sampler.join().unwrap();
    assert_eq!(reports.len(), n);
    most.load(SeqCst)
}

#[test]
fn lines_in_flight_follow_the_budget_and_the_round_trip() {
    // Real time for the round trip (a property of the network: the
    // platform holds each request 300 ms), the injected clock for the
    // pace. 5 or 10 requests a second × 0.3 s × 1.25, rounded up: 2 and 4
    // lines in flight (the count starts at 4 until a round trip is seen).
    for (budget, expected) in [(300, 2), (600, 4), (2400, 15)] {
        let clock = FakeClock::new();
        let platform = paced(&clock, Duration::ZERO, Duration::from_millis(300), None);
        let most = most_in_flight(&platform, &clock, budget, 24);
        // (The round trip measured is the hold and a little more.)
        assert!(
            most <= (expected + 2).max(genesys_inject::DEFAULT_PARALLEL) && most >= expected,
            "{budget} a minute: {most} in flight, not {expected}"
        );
    }
}

#[test]
fn the_default_rate_follows_a_raised_budget_and_a_set_one_holds() {
    // The platform allows 20 requests every 2 s: 600 a minute.
    let ran = |set: Option<u32>| {
        let clock = FakeClock::new();
        let platform = paced(&clock, Duration::ZERO, Duration::ZERO, Some((20, 2)));
        let mut builder = Injector::builder()
            .base_url(platform.server.url())
            .credentials(CLIENT_ID, CLIENT_SECRET)
            .clock(clock.clone())
            .no_state_dir()
            .typing(genesys_inject::TypingMode::Off);
        if let Some(rate) = set {
            builder = builder.requests_per_minute(Some(rate));
        }
        let injector = builder.build().unwrap();
        for _ in 0..61 {
            injector
                .inject(&InjectRequest::new(
                    CONV,
                    COMM,
                    vec![ContentBlock::text("hi")],
                ))
                .unwrap();
        }
        clock.sleeps().iter().sum::<Duration>()
    };
    // Default: 60 requests at 600 a minute, after the first second's
    // burst of 5: about 5.6 s (at 300 a minute it would be 11.2 s).
    let followed = ran(None);
    assert!(followed < Duration::from_secs(7), "{followed:?}");
    // --rate 300 (set): a ceiling the headers cannot raise.
    let held = ran(Some(300));
    assert!(held > Duration::from_secs(10), "{held:?}");
}
