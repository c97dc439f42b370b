//! Exactly once across kills and signals (issue 24): a run killed before
//! its message left leaves nothing to settle, a signal finishes the lines
//! in flight, a failure that can pass is sent by a later run, and a run
//! with no platform time asks for one first.

use crate::common::batch::*;
use crate::common::conversation::{FakeConversation, OnMessage};
use crate::common::exactly_once::*;
use crate::common::rawserver::{with_date, Action};
use crate::common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Spawns `cmd`, with the library's pacing lines on its standard error,
/// and kills it (SIGKILL) once a line of its standard error contains
/// `line`, or once `arrived` says so.
fn kill_at(cmd: &mut Command, line: Option<&str>, arrived: impl Fn() -> bool) {
    use std::io::BufRead;
    let mut child = cmd
        .env("RUST_LOG", "genesys_inject::gate=debug")
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (seen, said) = (
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        line.map(str::to_owned),
    );
    let flag = seen.clone();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if said.as_deref().is_some_and(|s| l.contains(s)) {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    until(|| seen.load(std::sync::atomic::Ordering::SeqCst) || arrived());
    let _ = child.kill();
    let _ = child.wait();
}

/// The journal holds no record of a message that may have left.
fn nothing_to_settle(journal: &Path) {
    let text = std::fs::read_to_string(journal).unwrap_or_default();
    assert!(!text.contains(r#""state":"attempting""#), "{text}");
    assert!(!text.contains(r#""state":"unknown""#), "{text}");
}

#[test]
fn a_run_killed_before_the_message_left_leaves_nothing_to_settle() {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    // Killed in the pacing wait: two SMS lines at one request a minute, the
    // second waiting for the budget (the library says so at debug level).
    let dir = Scratch::new();
    let platform = crate::common::rawserver::platform(|req| {
        if req.path.ends_with("/agentless") {
            Action::ok(&message_ok("m"))
        } else {
            Action::status(404, "")
        }
    });
    let file = dir.0.join("sms.jsonl");
    let journal = dir.0.join("journal.jsonl");
    write_lines(
        &file,
        &[
            json!({"agentless": "sms", "from": "+18005550100", "to": "+13175551234", "text": "Your table is ready"}),
            json!({"agentless": "sms", "from": "+18005550100", "to": "+13175555678", "text": "Your table is ready"}),
        ],
    );
    // One line at a time: the second paces only after the first's answer.
    kill_at(
        &mut batch_cmd_at("1", &platform.url(), &file, &journal, &["--parallel", "1"]),
        Some("pacing: next API request"),
        || false,
    );
    assert_eq!(platform.count("/agentless"), 1);
    // The agentless route cannot be looked up: had the line been recorded
    // as attempted, it would be unknown for ever.
    let (code, _, all) = run(&mut batch_cmd(&platform.url(), &file, &journal, &[]));
    assert_eq!(code, 0, "{all}");
    assert_eq!(platform.count("/agentless"), 2, "{all}");

    // Killed in the agent lookup, then in the typing indicator: each
    // request held unanswered the first time.
    for (held, line) in [
        (
            "lookup",
            json!({"conversation": CONV, "text": "An agent will call you"}),
        ),
        (
            "typing",
            json!({"conversation": CONV, "communication": COMM, "text": "Typing first"}),
        ),
    ] {
        let dir = Scratch::new();
        let (asked, sent) = (
            std::sync::Arc::new(AtomicUsize::new(0)),
            std::sync::Arc::new(AtomicUsize::new(0)),
        );
        let (a, m) = (asked.clone(), sent.clone());
        let platform = crate::common::rawserver::RawServer::start(move |req| {
            let is_held = match held {
                "lookup" => req.path == format!("/api/v2/conversations/{CONV}"),
                _ => req.path.ends_with("/typing"),
            };
            if is_held && a.fetch_add(1, SeqCst) == 0 {
                return Action::Stall(Duration::from_secs(20));
            }
            if req.path == "/oauth/token" || req.path.ends_with("/typing") {
                return crate::common::rawserver::platform_handler(|_| Action::status(404, ""))(
                    req,
                );
            }
            if req.path == format!("/api/v2/conversations/{CONV}") {
                return with_date(Action::ok(
                    &json!({"participants": [{"purpose": "agent", "messages": [
                        {"id": COMM, "state": "connected", "messages": []}]}]})
                    .to_string(),
                ));
            }
            if req.path.ends_with("/messages") {
                m.fetch_add(1, SeqCst);
                return with_date(Action::ok(&message_ok("m")));
            }
            Action::status(404, "")
        });
        let file = dir.0.join("one.jsonl");
        let journal = dir.0.join("journal.jsonl");
        write_lines(&file, &[line]);
        kill_at(
            &mut batch_cmd(&platform.url(), &file, &journal, &[]),
            None,
            || asked.load(SeqCst) > 0,
        );
        assert_eq!(sent.load(SeqCst), 0, "{held}");
        nothing_to_settle(&journal);
        let (code, _, all) = run(&mut batch_cmd(&platform.url(), &file, &journal, &[]));
        assert_eq!(code, 0, "{held}: {all}");
        assert!(
            all.contains("1 sent now, 0 sent by an earlier run"),
            "{held}: {all}"
        );
        assert_eq!(sent.load(SeqCst), 1, "{held}");
    }
}

#[cfg(unix)]
#[test]
fn sigint_and_sigterm_finish_the_lines_in_flight_and_print_the_summary() {
    // One line at a time (SIGINT) and four (SIGTERM).
    for (signal, status, parallel) in [("-INT", 130, "1"), ("-TERM", 143, "4")] {
        let dir = Scratch::new();
        // Each answer takes 300 ms: the signal lands while some are pending.
        let conversation =
            FakeConversation::start(|_| OnMessage::AcceptAfter(Duration::from_millis(300)));
        let file = dir.0.join("polite.jsonl");
        let journal = dir.0.join("journal.jsonl");
        let texts = write_batch(&file, "Closing soon", 12);
        let child = batch_cmd(
            &conversation.url(),
            &file,
            &journal,
            &["--json", "--parallel", parallel],
        )
        .spawn()
        .unwrap();
        until(|| conversation.texts().len() >= 2);
        let killed = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(status), "{all}");
        let objects: Vec<Value> = stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let summary = summary(&objects);
        // The lines in flight were answered and recorded as sent: none is
        // unknown, and what the conversation holds is what was counted.
        assert_eq!(summary["unknown"], 0, "{all}");
        let sent = summary["sent"].as_u64().unwrap();
        assert_eq!(sent as usize, conversation.texts().len(), "{all}");
        assert_eq!(sent + summary["not_reached"].as_u64().unwrap(), 12, "{all}");
        assert!(summary["not_reached"].as_u64().unwrap() > 0, "{all}");
        if parallel == "1" {
            assert_eq!(sent, 2, "{all}");
        }
        assert!(all.contains("not reached"), "{all}");
        // A re-run sends the rest, each once, with no flag.
        let (code, _, all) = run(&mut batch_cmd(&conversation.url(), &file, &journal, &[]));
        assert_eq!(code, 0, "{all}");
        assert_eq!(sorted(conversation.texts()), sorted(texts), "{all}");
    }
}

#[test]
fn a_401_or_a_missing_agent_passes_and_a_later_run_sends_the_line() {
    let dir = Scratch::new();
    // The token call refuses any secret but the right one.
    let platform = crate::common::rawserver::strict_platform();
    let file = dir.0.join("b.jsonl");
    let journal = dir.0.join("journal.jsonl");
    write_lines(
        &file,
        &[json!({"conversation": CONV, "communication": COMM, "text": "hello"})],
    );
    let (code, _, all) = run(batch_cmd(&platform.url(), &file, &journal, &[])
        .env("GENESYS_CLIENT_SECRET", "a-wrong-secret"));
    assert_eq!(code, 3, "{all}");
    assert_eq!(platform.count("/messages"), 0);
    // The secret is fixed: the next run sends it, with no flag.
    let (code, _, all) = run(&mut batch_cmd(&platform.url(), &file, &journal, &[]));
    assert_eq!(code, 0, "{all}");
    assert_eq!(platform.count("/messages"), 1, "{all}");

    // No agent in the conversation yet; one joins before the next run.
    let conversation = FakeConversation::start(|_| OnMessage::Accept);
    conversation.no_agent();
    let file = dir.0.join("agent.jsonl");
    let journal = dir.0.join("journal2.jsonl");
    write_lines(
        &file,
        &[json!({"conversation": CONV, "text": "An agent will call you"})],
    );
    let (code, _, all) = run(&mut batch_cmd(&conversation.url(), &file, &journal, &[]));
    assert_eq!(code, 1, "{all}");
    assert!(
        all.contains(&format!(
            "line 1: conversation {CONV} has no connected agent to send as"
        )),
        "{all}"
    );
    conversation.transfer_to(COMM);
    let (code, _, all) = run(&mut batch_cmd(&conversation.url(), &file, &journal, &[]));
    assert_eq!(code, 0, "{all}");
    assert_eq!(conversation.texts(), ["An agent will call you"]);
}

#[test]
fn a_line_that_is_not_utf8_is_invalid_and_nothing_is_sent() {
    let dir = Scratch::new();
    let conversation = FakeConversation::start(|_| OnMessage::Accept);
    let file = dir.0.join("latin1.jsonl");
    let journal = dir.0.join("journal.jsonl");
    let mut bytes = format!("{}\n", json!({"conversation": CONV, "text": "fine"})).into_bytes();
    // "Café" saved as Latin-1: the é is one byte, 0xE9, not UTF-8.
    bytes.extend_from_slice(b"{\"conversation\": \"");
    bytes.extend_from_slice(CONV.as_bytes());
    bytes.extend_from_slice(b"\", \"text\": \"Caf\xe9 opens at 8\"}\n");
    std::fs::write(&file, bytes).unwrap();
    let (code, _, all) = run(&mut batch_cmd(&conversation.url(), &file, &journal, &[]));
    assert_eq!(code, 2, "{all}");
    assert!(all.contains("line 2:") && all.contains("UTF-8"), "{all}");
    assert!(conversation.texts().is_empty(), "nothing sent");
}

#[test]
fn with_no_answer_before_the_message_the_batch_asks_the_platform_its_time_first() {
    use genesys_inject::{
        BatchLine, BatchOptions, ContentBlock, InjectRequest, Journal, TypingMode,
    };
    let dir = Scratch::new();
    let conversation = FakeConversation::start(|_| OnMessage::Accept);
    // No typing indicator, the communication given: the message would be
    // the run's first call to the API.
    let injector = genesys_inject::Injector::builder()
        .base_url(conversation.url())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .typing(TypingMode::Off)
        .build()
        .unwrap();
    let path = dir.0.join("journal.jsonl");
    let mut journal = Journal::open(&path, "b").unwrap();
    let line = BatchLine::new(
        "1",
        InjectRequest::new(CONV, COMM, vec![ContentBlock::text("hi")]),
    );
    let reports = injector
        .inject_batch(&[line], &mut journal, &BatchOptions::new(), |_| {})
        .unwrap();
    assert_eq!(reports.len(), 1);
    let text = std::fs::read_to_string(&path).unwrap();
    let attempting: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["state"] == "attempting")
        .unwrap();
    assert!(attempting["platform_at"].is_u64(), "{text}");
    assert_eq!(attempting["comm"], COMM, "{text}");
    assert_eq!(
        conversation.server.count(&format!("/conversations/{CONV}")),
        1,
        "one read of the conversation"
    );
}
