//! Exactly once between runs (issue 24): a batch line reaches its customer
//! once, whatever changed between a killed run and its re-run: the agent,
//! the file's bytes, the clock, the journal. `inject --batch` runs as a
//! child process against a fake platform on 127.0.0.1; each test counts the
//! copies the conversation holds.

mod common;
#[path = "exactly_once/kills.rs"]
mod kills;

use common::batch::*;
use common::conversation::{FakeConversation, OnMessage};
use common::exactly_once::*;
use common::*;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The second agent's communication, after a transfer.
const COMM_B: &str = "b2b2b2b2-2222-4b2b-8b2b-b2b2b2b2b2b2";

/// Runs `cmd` until `conversation` holds `n` messages, then kills it
/// (SIGKILL: nothing more is written).
fn kill_when(cmd: &mut Command, mut recorded: impl FnMut() -> bool) {
    let mut child = cmd.spawn().unwrap();
    until(&mut recorded);
    let _ = child.kill();
    let _ = child.wait();
}

/// A conversation whose first message is recorded and never answered
/// (the run is killed meanwhile); the others are accepted.
fn first_answer_lost() -> FakeConversation {
    FakeConversation::start(|n| {
        if n == 0 {
            OnMessage::RecordAndStall(Duration::from_secs(4))
        } else {
            OnMessage::Accept
        }
    })
}

/// Rewrites every record of `journal` through `edit`.
fn edit_journal(journal: &Path, edit: impl Fn(&mut Value)) {
    let text = std::fs::read_to_string(journal).unwrap();
    let edited: String = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            edit(&mut v);
            format!("{v}\n")
        })
        .collect();
    std::fs::write(journal, edited).unwrap();
}

/// `inject --batch FILE` (or `-`, reading `stdin`) with the state
/// directory `state` and no `--journal`: the default identities.
fn state_batch(url: &str, file: &str, state: &Path, stdin: Option<&[u8]>) -> (i32, String) {
    let mut cmd = Command::new(cli_bin());
    cmd.env_clear()
        .env("GENESYS_CLIENT_ID", CLIENT_ID)
        .env("GENESYS_CLIENT_SECRET", CLIENT_SECRET)
        .env("GENESYS_BASE_URL", url)
        .args(["--batch", file, "--rate", "60000", "--state-dir"])
        .arg(state)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(bytes) = stdin {
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().expect("exited"),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_agent_changed_between_the_runs_the_line_is_found_on_the_first_agents_communication() {
    let dir = Scratch::new();
    let conversation = first_answer_lost();
    let file = dir.0.join("parcel.jsonl");
    let journal = dir.0.join("journal.jsonl");
    write_lines(
        &file,
        &[json!({"conversation": CONV, "text": "Your parcel arrives today"})],
    );
    kill_when(
        &mut batch_cmd(&conversation.url(), &file, &journal, &[]),
        || conversation.texts().len() == 1,
    );
    // Agent A leaves, agent B takes the conversation.
    conversation.transfer_to(COMM_B);
    let (code, _, all) = run(&mut batch_cmd(&conversation.url(), &file, &journal, &[]));
    assert_eq!(code, 0, "{all}");
    assert_eq!(conversation.texts(), ["Your parcel arrives today"], "{all}");
    assert!(all.contains("sent by an earlier run"), "{all}");
}

#[test]
fn a_clock_that_was_fast_in_the_killed_run_cannot_prove_the_line_absent() {
    let dir = Scratch::new();
    let conversation = first_answer_lost();
    let file = dir.0.join("fast.jsonl");
    let journal = dir.0.join("journal.jsonl");
    write_lines(
        &file,
        &[json!({"conversation": CONV, "text": "Doors open at nine"})],
    );
    kill_when(
        &mut batch_cmd(&conversation.url(), &file, &journal, &[]),
        || conversation.texts().len() == 1,
    );
    // The killed run's clock was 30 s fast (NTP has since stepped it back):
    // its record says the attempt began after the message was stored.
    edit_journal(&journal, |r| {
        if r["state"] == "attempting" {
            r["at"] = json!(r["at"].as_u64().unwrap() + 30_000);
        }
    });
    let (code, _, all) = run(&mut batch_cmd(&conversation.url(), &file, &journal, &[]));
    assert_eq!(code, 0, "{all}");
    assert_eq!(conversation.texts(), ["Doors open at nine"], "{all}");

    // A record without the platform's time (no answer had given one):
    // nothing can be proved, so nothing is sent.
    let conversation =
        FakeConversation::start(|_| OnMessage::RecordAndStall(Duration::from_secs(4)));
    let journal = dir.0.join("journal2.jsonl");
    kill_when(
        &mut batch_cmd(&conversation.url(), &file, &journal, &[]),
        || conversation.texts().len() == 1,
    );
    edit_journal(&journal, |r| {
        if r["state"] == "attempting" {
            r["platform_at"] = Value::Null;
        }
    });
    for _ in 0..2 {
        let (code, _, all) = run(&mut batch_cmd(&conversation.url(), &file, &journal, &[]));
        assert_eq!(code, 5, "{all}");
        assert!(all.contains("no time from the platform"), "{all}");
    }
    assert_eq!(conversation.texts().len(), 1);
}

#[test]
fn the_same_lines_cut_short_reordered_or_re_encoded_are_one_batch() {
    let dir = Scratch::new();
    let state = dir.0.join("state");
    let conversation = FakeConversation::start(|_| OnMessage::Accept);
    let url = conversation.url();
    let lines: Vec<String> = (0..8)
        .map(|i| json!({"conversation": CONV, "text": format!("Reminder {i}")}).to_string())
        .collect();
    let joined = |lines: &[String], end: &str| {
        lines
            .iter()
            .map(|l| format!("{l}{end}"))
            .collect::<String>()
    };
    // A producer that died after 3 lines: the run exits 0 on what it got.
    let (code, all) = state_batch(
        &url,
        "-",
        &state,
        Some(joined(&lines[..3], "\n").as_bytes()),
    );
    assert_eq!(code, 0, "{all}");
    assert_eq!(conversation.texts().len(), 3);
    // The whole list: only the other 5.
    let file = dir.0.join("all.jsonl");
    std::fs::write(&file, joined(&lines, "\n")).unwrap();
    let (code, all) = state_batch(&url, file.to_str().unwrap(), &state, None);
    assert_eq!(code, 0, "{all}");
    assert_eq!(conversation.texts().len(), 8, "{all}");
    // Reordered, saved with CRLF, with a byte-order mark: nothing again.
    let mut reversed = lines.clone();
    reversed.reverse();
    std::fs::write(&file, joined(&reversed, "\n")).unwrap();
    let (code, all) = state_batch(&url, file.to_str().unwrap(), &state, None);
    assert_eq!(code, 0, "{all}");
    std::fs::write(&file, joined(&lines, "\r\n")).unwrap();
    let (code, all) = state_batch(&url, file.to_str().unwrap(), &state, None);
    assert_eq!(code, 0, "{all}");
    std::fs::write(&file, format!("\u{feff}{}", joined(&lines, "\n"))).unwrap();
    let (code, all) = state_batch(&url, file.to_str().unwrap(), &state, None);
    assert_eq!(code, 0, "{all}");
    let mut texts = conversation.texts();
    texts.sort();
    let mut expected: Vec<String> = (0..8).map(|i| format!("Reminder {i}")).collect();
    expected.sort();
    assert_eq!(texts, expected, "every line once");
}

#[test]
fn a_journal_holds_batches_and_clients_apart() {
    let dir = Scratch::new();
    let conversation = FakeConversation::start(|_| OnMessage::Accept);
    let journal = dir.0.join("shared.jsonl");
    let monday = dir.0.join("monday.jsonl");
    let tuesday = dir.0.join("tuesday.jsonl");
    write_lines(
        &monday,
        &[json!({"id": "r-1", "conversation": CONV, "text": "Monday: your order shipped"})],
    );
    write_lines(
        &tuesday,
        &[json!({"id": "r-1", "conversation": CONV, "text": "Tuesday: your order arrives"})],
    );
    let url = conversation.url();
    let (code, _, all) = run(&mut batch_cmd(
        &url,
        &monday,
        &journal,
        &["--batch-id", "monday"],
    ));
    assert_eq!(code, 0, "{all}");
    // Another batch id in the same journal: monday's r-1 is not tuesday's.
    let (code, out, all) = run(&mut batch_cmd(
        &url,
        &tuesday,
        &journal,
        &["--batch-id", "tuesday", "--json"],
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(summary(&out)["sent"], 1, "{all}");
    assert_eq!(
        conversation.texts(),
        ["Monday: your order shipped", "Tuesday: your order arrives"]
    );
    // The same journal used by another client (copied from its state
    // directory): its records are not this client's.
    let (code, out, all) = run(batch_cmd(
        &url,
        &tuesday,
        &journal,
        &["--batch-id", "tuesday", "--json"],
    )
    .env("GENESYS_CLIENT_ID", "another-client-id"));
    assert_eq!(code, 0, "{all}");
    assert_eq!(summary(&out)["sent"], 1, "{all}");
    assert_eq!(summary(&out)["sent_earlier"], 0, "{all}");
}

#[test]
fn a_line_edited_under_the_same_id_is_refused_and_nothing_is_sent_for_it() {
    let dir = Scratch::new();
    let conversation = FakeConversation::start(|_| OnMessage::Accept);
    let file = dir.0.join("edited.jsonl");
    let journal = dir.0.join("journal.jsonl");
    write_lines(
        &file,
        &[
            json!({"id": "appointment-17", "conversation": CONV, "text": "See you at 10:00"}),
            json!({"id": "appointment-18", "conversation": CONV, "text": "See you at 11:00"}),
        ],
    );
    assert_eq!(
        run(&mut batch_cmd(&conversation.url(), &file, &journal, &[])).0,
        0
    );
    write_lines(
        &file,
        &[
            json!({"id": "appointment-17", "conversation": CONV, "text": "See you at 14:00"}),
            json!({"id": "appointment-18", "conversation": CONV, "text": "See you at 11:00"}),
            json!({"id": "appointment-19", "conversation": CONV, "text": "See you at 12:00"}),
        ],
    );
    let (code, _, all) = run(&mut batch_cmd(&conversation.url(), &file, &journal, &[]));
    assert_eq!(code, 2, "{all}");
    // Said once: how many, which line, and what to do.
    assert!(
        all.contains("1 line(s) of batch \"default\" were sent by an earlier run with other content (lines 1)")
            && all.contains("new --batch-id"),
        "{all}"
    );
    assert_eq!(
        sorted(conversation.texts()),
        ["See you at 10:00", "See you at 11:00", "See you at 12:00"]
    );
}
