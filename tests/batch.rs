//! Many messages from one cron run (issue 21): `inject --batch FILE` as a
//! child process against a fake conversation on 127.0.0.1. Each line
//! reaches the conversation at most once across kills and re-runs, and
//! exactly once when the runs finish with exit 0.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::batch::*;
use common::conversation::{FakeConversation, OnMessage};
use common::*;
use genesys_inject::{BatchLine, BatchOptions, Injector, Journal, LineOutcome};
use serde_json::{json, Value};

#[test]
fn a_batch_delivers_every_line_once_and_a_rerun_sends_nothing() {
    let dir = Scratch::new();
    let conversation = FakeConversation::start(|_| OnMessage::Accept);
    let file = dir.0.join("reminders.jsonl");
    let journal = dir.0.join("journal.jsonl");
    let texts = write_batch(&file, "Your appointment is tomorrow", 20);
    let (code, out, all) = run(&mut batch_cmd(
        &conversation.url(),
        &file,
        &journal,
        &["--json"],
    ));
    assert_eq!(code, 0, "{all}");
    // Lines in flight together arrive in any order.
    assert_eq!(sorted(conversation.texts()), sorted(texts));
    assert_eq!(summary(&out)["sent"], 20);
    assert_eq!(out.iter().filter(|o| o["ok"] == true).count(), 20);
    // A re-run of the finished batch sends nothing.
    let (code, out, all) = run(&mut batch_cmd(
        &conversation.url(),
        &file,
        &journal,
        &["--json"],
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(summary(&out)["sent_earlier"], 20);
    assert_eq!(conversation.texts().len(), 20);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&journal).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn killed_three_times_then_run_to_the_end_every_line_is_there_exactly_once() {
    let dir = Scratch::new();
    // Each answer takes 100 ms: a run killed just after the platform
    // recorded a message never learns that it was delivered.
    let conversation =
        FakeConversation::start(|_| OnMessage::AcceptAfter(Duration::from_millis(100)));
    let file = dir.0.join("closing.jsonl");
    let journal = dir.0.join("journal.jsonl");
    let texts = write_batch(&file, "The office closes at six", 24);
    for _ in 0..3 {
        let before = conversation.texts().len();
        let mut child = batch_cmd(&conversation.url(), &file, &journal, &[])
            .spawn()
            .unwrap();
        // Two more messages recorded: the second one's answer is on its way.
        let started = std::time::Instant::now();
        while conversation.texts().len() < before + 2 && started.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        // SIGKILL (TerminateProcess on Windows): no chance to write
        // anything more.
        let _ = child.kill();
        let _ = child.wait();
    }
    let killed_with = conversation.texts().len();
    assert!((6..24).contains(&killed_with), "{killed_with}");
    let (code, _, all) = run(&mut batch_cmd(&conversation.url(), &file, &journal, &[]));
    assert_eq!(code, 0, "{all}");
    assert_eq!(sorted(conversation.texts()), sorted(texts), "{all}");
    // The lines in flight at the kills were found, not sent again.
    assert!(all.contains("sent by an earlier run"), "{all}");
}

#[test]
fn an_edited_file_under_the_same_batch_id_sends_only_its_new_lines() {
    // Lines are known by their recipient (here all one conversation) and
    // their rank among its lines, matched by content first.
    let dir = Scratch::new();
    let conversation = FakeConversation::start(|_| OnMessage::Accept);
    let file = dir.0.join("daily.jsonl");
    let journal = dir.0.join("journal.jsonl");
    write_batch(&file, "first", 3);
    let id = ["--batch-id", "2026-12-01"];
    assert_eq!(
        run(&mut batch_cmd(&conversation.url(), &file, &journal, &id)).0,
        0
    );
    // The same lines reordered, the second reworded, one more.
    let lines = [
        json!({"conversation": CONV, "text": "first 2"}),
        json!({"conversation": CONV, "text": "new a"}),
        json!({"conversation": CONV, "text": "first 0"}),
        json!({"conversation": CONV, "text": "new b"}),
    ];
    std::fs::write(
        &file,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    let (code, _, all) = run(&mut batch_cmd(&conversation.url(), &file, &journal, &id));
    // "new a" is the conversation's second line, sent as "first 1": said
    // once, not sent; "new b" is a fourth line: sent.
    assert_eq!(code, 2, "{all}");
    assert!(all.contains("with other content (lines 2)"), "{all}");
    assert!(
        all.contains("1 sent now, 2 sent by an earlier run"),
        "{all}"
    );
    assert_eq!(
        sorted(conversation.texts()),
        ["first 0", "first 1", "first 2", "new b"]
    );
}

#[test]
fn an_invalid_line_refuses_the_whole_batch_with_its_number() {
    let dir = Scratch::new();
    let conversation = FakeConversation::start(|_| OnMessage::Accept);
    let file = dir.0.join("bad.jsonl");
    let journal = dir.0.join("journal.jsonl");
    std::fs::write(
        &file,
        format!(
            "{}\n\n{}\n{}\n",
            json!({"conversation": CONV, "text": "fine"}),
            json!({"conversation": CONV, "text": "Reply with your password"}),
            json!({"conversation": CONV, "txet": "typo"}),
        ),
    )
    .unwrap();
    // (Two lines with one id would be one line to the journal.)
    let twice = dir.0.join("twice.jsonl");
    std::fs::write(
        &twice,
        format!(
            "{}\n{}\n",
            json!({"conversation": CONV, "text": "a", "id": "x"}),
            json!({"conversation": CONV, "text": "b", "id": "x"}),
        ),
    )
    .unwrap();
    let (code, _, all) = run(&mut batch_cmd(&conversation.url(), &twice, &journal, &[]));
    assert_eq!(code, 2, "{all}");
    assert!(
        all.contains("line 2:") && all.contains("given twice"),
        "{all}"
    );
    let (code, _, all) = run(&mut batch_cmd(&conversation.url(), &file, &journal, &[]));
    assert_eq!(code, 2, "{all}");
    assert!(all.contains("line 3:") && all.contains("password"), "{all}");
    assert!(
        all.contains("line 4:") && all.contains("unknown key"),
        "{all}"
    );
    assert!(conversation.texts().is_empty(), "nothing sent");
    // --skip-invalid sends the rest: the lines skipped on purpose fail
    // nothing (exit 0, so a monitor's last success is written), and are
    // counted.
    let (code, out, all) = run(&mut batch_cmd(
        &conversation.url(),
        &file,
        &journal,
        &["--skip-invalid", "--json"],
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(summary(&out)["invalid"], 2, "{all}");
    assert_eq!(conversation.texts(), ["fine"]);
}

#[test]
fn an_agentless_line_whose_answer_was_lost_is_unknown_and_never_sent_again() {
    let dir = Scratch::new();
    let platform = common::rawserver::platform(|req| {
        if req.path.ends_with("/agentless") {
            common::rawserver::Action::status(504, "")
        } else {
            common::rawserver::Action::status(404, "")
        }
    });
    let file = dir.0.join("sms.jsonl");
    let journal = dir.0.join("journal.jsonl");
    std::fs::write(
        &file,
        format!(
            "{}\n",
            json!({"agentless": "sms", "from": "+18005550100", "to": "+13175551234", "text": "hi"})
        ),
    )
    .unwrap();
    for _ in 0..2 {
        let (code, _, all) = run(&mut batch_cmd(&platform.url(), &file, &journal, &[]));
        assert_eq!(code, 5, "{all}");
        assert!(all.contains("outcome unknown"), "{all}");
    }
    assert_eq!(platform.count("/agentless"), 1, "sent once, never again");
}

#[test]
fn a_batch_needs_a_journal_and_takes_no_message_flags() {
    let dir = Scratch::new();
    let file = dir.0.join("b.jsonl");
    write_batch(&file, "x", 1);
    let mut cmd = Command::new(cli_bin());
    let out = cmd
        .env_clear()
        .args(["--batch"])
        .arg(&file)
        .arg("--no-state")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("journal"));
    let out = Command::new(cli_bin())
        .env_clear()
        .args(["--batch"])
        .arg(&file)
        .args(["--no-state", "--journal", "/tmp/x", "--wait", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // (The route and content flags are every line's defaults: see
    // tests/cron.rs.)
    assert!(String::from_utf8_lossy(&out.stderr).contains("--wait describes one message"));
}

#[test]
fn the_progress_line_and_a_dry_run() {
    let dir = Scratch::new();
    let conversation = FakeConversation::start(|_| OnMessage::Accept);
    let file = dir.0.join("b.jsonl");
    let journal: PathBuf = dir.0.join("journal.jsonl");
    write_batch(&file, "p", 3);
    let (code, _, all) = run(&mut batch_cmd(
        &conversation.url(),
        &file,
        &journal,
        &["--dry-run"],
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(all.matches("# line").count(), 3, "{all}");
    assert!(conversation.texts().is_empty());
    let (code, _, all) = run(&mut batch_cmd(
        &conversation.url(),
        &file,
        &journal,
        &["--progress"],
    ));
    assert_eq!(code, 0, "{all}");
    assert!(
        all.contains("\r\x1b[Kinject: 3/3 lines: 3 sent, 0 failed, 0 unknown"),
        "{all:?}"
    );
    assert!(
        all.contains("batch \"default\": 3 line(s): 3 sent now"),
        "{all}"
    );
}

/// A platform that keeps the budget as Genesys does: past `budget` API
/// requests in any 60 s, a 429 with `Retry-After`. Its time is the fake
/// clock's; it records every API request's time, the ones it refuses too,
/// and each message's text.
struct LimitedPlatform {
    server: common::rawserver::RawServer,
    texts: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    times: std::sync::Arc<std::sync::Mutex<Vec<Duration>>>,
    refused: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl LimitedPlatform {
    fn start(budget: usize, clock: &std::sync::Arc<FakeClock>) -> LimitedPlatform {
        use common::rawserver::Action;
        use std::sync::{atomic::AtomicUsize, Arc, Mutex};
        let texts: Arc<Mutex<Vec<String>>> = Arc::default();
        let times: Arc<Mutex<Vec<Duration>>> = Arc::default();
        let refused = Arc::new(AtomicUsize::new(0));
        let (t, ts, r, clock) = (texts.clone(), times.clone(), refused.clone(), clock.clone());
        let server = common::rawserver::RawServer::start(move |req| {
            if req.path == "/oauth/token" {
                return Action::ok(&format!(
                    r#"{{"access_token":"{TOKEN}","expires_in":86399}}"#
                ));
            }
            let now = clock.elapsed();
            {
                let mut times = ts.lock().unwrap();
                let recent = times
                    .iter()
                    .filter(|t| now.saturating_sub(**t) < Duration::from_secs(60))
                    .count();
                times.push(now);
                if recent >= budget {
                    r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    return Action::status(
                        429,
                        r#"{"message":"Rate limit exceeded","code":"too.many.requests.retry.after"}"#,
                    )
                    .header("retry-after", "1");
                }
            }
            if req.path.ends_with("/typing") {
                Action::status(204, "")
            } else if req.path == message_path() {
                let body: Value = serde_json::from_str(&req.body).unwrap();
                let mut texts = t.lock().unwrap();
                texts.push(body["textBody"].as_str().unwrap().to_owned());
                Action::ok(&message_ok(&format!("m-{}", texts.len())))
            } else if req.path == format!("/api/v2/conversations/{CONV}") {
                Action::ok(
                    &json!({"participants": [{"purpose": "agent", "messages": [{"id": COMM, "messages": []}]}]})
                        .to_string(),
                )
            } else {
                Action::status(404, "")
            }
        });
        LimitedPlatform {
            server,
            texts,
            times,
            refused,
        }
    }
}

#[test]
fn a_200_line_batch_keeps_the_budget_and_delivers_every_line_once() {
    // On the injected clock: the pace's waits take no real time, and the
    // platform counts its 60 s windows on the same clock.
    let dir = Scratch::new();
    let clock = FakeClock::new();
    let platform = LimitedPlatform::start(300, &clock);
    let texts: Vec<String> = (0..200).map(|i| format!("Reminder {i}")).collect();
    let lines: Vec<BatchLine> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| BatchLine::new(format!("r{i}"), request(&[t])))
        .collect();
    let injector = Injector::builder()
        .base_url(platform.server.url())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .clock(clock.clone())
        .no_state_dir()
        // The platform's budget, the default: paced to it.
        .requests_per_minute(Some(300))
        .build()
        .unwrap();
    let mut journal = Journal::open(dir.0.join("journal.jsonl"), "b").unwrap();
    let reports = injector
        .inject_batch(
            &lines,
            &mut journal,
            &BatchOptions::new().parallel(1),
            |_| {},
        )
        .unwrap();
    assert!(reports
        .iter()
        .all(|r| matches!(r.outcome, LineOutcome::Sent { earlier: false, .. })));
    assert_eq!(
        sorted(platform.texts.lock().unwrap().clone()),
        sorted(texts)
    );
    // No 60 s over the budget, and the platform never had to say so.
    let times = platform.times.lock().unwrap().clone();
    let most = (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|u| u.saturating_sub(times[i]) < Duration::from_secs(60))
                .count()
        })
        .max()
        .unwrap();
    let refused = platform.refused.load(std::sync::atomic::Ordering::SeqCst);
    assert!(most <= 300, "{most} requests in one 60 s");
    assert_eq!(refused, 0, "answered 429");
    // The figures (not asserted): the run on the injected clock against
    // the optimum, the requests divided by the budget.
    let took = clock.elapsed();
    let optimum = times.len() as f64 / 300.0 * 60.0;
    eprintln!(
        "BENCH batch: 200 lines, {} API requests in {:.1} s of the injected clock; optimum {optimum:.1} s; most in one 60 s: {most}",
        times.len(),
        took.as_secs_f64(),
    );
}

#[test]
fn what_can_pass_is_sent_again_what_was_refused_for_good_only_when_asked() {
    use common::rawserver::Action;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    let dir = Scratch::new();
    let healed = Arc::new(AtomicBool::new(false));
    let limited = Arc::new(AtomicUsize::new(0));
    let (h, l) = (healed.clone(), limited.clone());
    let platform = common::rawserver::platform(move |req| {
        if req.path != message_path() {
            return Action::status(404, "");
        }
        let text = serde_json::from_str::<Value>(&req.body).unwrap()["textBody"]
            .as_str()
            .unwrap()
            .to_owned();
        match text.as_str() {
            // Refused for good: the platform never takes it.
            "refused" if !h.load(SeqCst) => {
                Action::status(400, &genesys_error(400, "bad.request", "no"))
            }
            // A server error that says the platform refused it: can pass.
            "server" if !h.load(SeqCst) => Action::status(
                500,
                &genesys_error(500, "internal.server.error", "try again"),
            ),
            // Six 429s in a row (Retry-After 0): more than one inject's
            // retries, never a reason to give the line up.
            "limited" if l.fetch_add(1, SeqCst) < 6 => {
                let mut action = Action::status(429, "");
                if let Action::Respond { headers, .. } = &mut action {
                    headers.push(("retry-after".into(), "0".into()));
                }
                action
            }
            _ => Action::ok(&message_ok("m")),
        }
    });
    let file = dir.0.join("mixed.jsonl");
    let journal = dir.0.join("journal.jsonl");
    std::fs::write(
        &file,
        ["refused", "server", "limited"]
            .iter()
            .map(|t| {
                format!(
                    "{}\n",
                    json!({"conversation": CONV, "communication": COMM, "text": t})
                )
            })
            .collect::<String>(),
    )
    .unwrap();
    let batch = |extra: &[&str]| run(&mut batch_cmd(&platform.url(), &file, &journal, extra));
    let (code, out, all) = batch(&["--json"]);
    assert_eq!(code, 1, "{all}");
    let ok: Vec<bool> = out
        .iter()
        .filter(|o| o["line"].is_number())
        .map(|o| o["ok"] == true)
        .collect();
    assert_eq!(
        ok,
        [false, false, true],
        "the rate-limited line went through: {all}"
    );
    // The platform is well again: the server error is sent again, the
    // refused line is not (still exit 1)...
    healed.store(true, SeqCst);
    let before = platform.count("/messages");
    let (code, _, all) = batch(&[]);
    assert_eq!(code, 1, "{all}");
    assert_eq!(platform.count("/messages") - before, 1, "{all}");
    assert!(all.contains("--retry-failed"), "{all}");
    // The earlier run's reason, as the platform gave it, is kept.
    assert!(
        all.contains("HTTP 400, bad.request, correlation id ctx-400"),
        "{all}"
    );
    // ...unless asked.
    let (code, _, all) = batch(&["--retry-failed"]);
    assert_eq!(code, 0, "{all}");
    assert_eq!(platform.count("/messages") - before, 2, "{all}");
}
