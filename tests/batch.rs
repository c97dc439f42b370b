//! Many messages from one cron run (issue 21): `inject --batch FILE` as a
//! child process against a fake conversation on 127.0.0.1. Each line
//! reaches the conversation at most once across kills and re-runs, and
//! exactly once when the runs finish with exit 0.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::conversation::{FakeConversation, OnMessage};
use common::*;
use serde_json::{json, Value};

/// `inject --batch FILE --journal JOURNAL` (and `extra`) against `url`.
fn batch_cmd(url: &str, file: &Path, journal: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(cli_bin());
    cmd.env_clear()
        .env("GENESYS_CLIENT_ID", CLIENT_ID)
        .env("GENESYS_CLIENT_SECRET", CLIENT_SECRET)
        .env("GENESYS_BASE_URL", url)
        .args(["--batch"])
        .arg(file)
        .arg("--journal")
        .arg(journal)
        .args(["--no-state", "--rate", "60000"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn run(cmd: &mut Command) -> (i32, Vec<Value>, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    let stdout = String::from_utf8(stdout).unwrap();
    let objects = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (
        status.code().expect("exited"),
        objects,
        format!("{stdout}{}", String::from_utf8_lossy(&stderr)),
    )
}

/// A batch of `n` lines to the conversation (sent as its agent), texts
/// `"<prefix> <i>"`.
fn write_batch(path: &Path, prefix: &str, n: usize) -> Vec<String> {
    let texts: Vec<String> = (0..n).map(|i| format!("{prefix} {i}")).collect();
    let mut file = std::fs::File::create(path).unwrap();
    for text in &texts {
        writeln!(file, "{}", json!({"conversation": CONV, "text": text})).unwrap();
    }
    texts
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn summary(objects: &[Value]) -> &Value {
    objects
        .iter()
        .find(|o| o["summary"] == true)
        .expect("a summary")
}

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
    assert_eq!(conversation.texts(), texts);
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

#[cfg(unix)]
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
        // SIGKILL: no chance to write anything more.
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
    // The same lines reordered, one removed, two new ones.
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
    assert_eq!(code, 0, "{all}");
    assert_eq!(
        conversation.texts(),
        ["first 0", "first 1", "first 2", "new a", "new b"]
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
    let (code, _, all) = run(&mut batch_cmd(&conversation.url(), &file, &journal, &[]));
    assert_eq!(code, 2, "{all}");
    assert!(all.contains("line 3:") && all.contains("password"), "{all}");
    assert!(
        all.contains("line 4:") && all.contains("unknown key"),
        "{all}"
    );
    assert!(conversation.texts().is_empty(), "nothing sent");
    // --skip-invalid sends the rest, and still says the batch was not whole.
    let (code, _, all) = run(&mut batch_cmd(
        &conversation.url(),
        &file,
        &journal,
        &["--skip-invalid"],
    ));
    assert_eq!(code, 2, "{all}");
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
        .args(["--no-state", "--journal", "/tmp/x", "--conversation", CONV])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--conversation describes one message"));
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
    assert!(all.contains("batch: 3 line(s): 3 sent now"), "{all}");
}
