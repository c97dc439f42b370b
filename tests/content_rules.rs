//! Content rules that catch secrets, not surnames (issue 26): the default
//! rules, `--safety-rules FILE`, `--no-safety-rules`, and the command
//! line's words, through `inject --dry-run` (no traffic) and a batch.

mod common;

use std::process::{Command, Stdio};

use common::batch::{batch_cmd, run, sorted};
use common::conversation::{FakeConversation, OnMessage};
use common::*;
use serde_json::{json, Value};

/// `inject --dry-run --json` to the test conversation with `extra` flags
/// and `texts`: exit status, the body's text (when valid), everything
/// printed.
fn dry_run(extra: &[&str], texts: &[&str]) -> (i32, Option<String>, String) {
    let out = Command::new(cli_bin())
        .env_clear()
        .args([
            "--conversation",
            CONV,
            "--communication",
            COMM,
            "--dry-run",
            "--json",
        ])
        .args(extra)
        .args(texts)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let body = serde_json::from_str::<Value>(stdout.trim())
        .ok()
        .and_then(|v| v["body"]["textBody"].as_str().map(str::to_owned));
    (
        out.status.code().expect("exited"),
        body,
        format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn surnames_and_ordinary_words_pass_the_default_rules() {
    for text in [
        "Dear Mr Kassner, your appointment is tomorrow at 10:30",
        "Hassna, your table is ready",
        "Ms Jessner and Mr Glassner: see you at six",
        "Grossness aside, the parcel arrived",
        "Reset your passwords in the app",
        "Order 4111 1111 1111 1112 has shipped",
        "Call us on +1 317 555 1234",
    ] {
        let (code, body, all) = dry_run(&[], &[text]);
        assert_eq!(code, 0, "{text}: {all}");
        assert_eq!(body.as_deref(), Some(text));
    }
}

#[test]
fn card_numbers_ssns_and_the_words_are_refused_without_echoing_the_digits() {
    for (text, rule) in [
        ("Your card 4111 1111 1111 1111 is on file", "card-number"),
        ("Card 5555555555554444 charged", "card-number"),
        ("SSN on file: 123-45-6789", r"\bssn\b"),
        ("Your number 123-45-6789 is on file", "us-ssn"),
        ("Tell me your password", r"\bpassword\b"),
        ("Your credit card expires", r"\bcredit.card\b"),
    ] {
        let (code, _, all) = dry_run(&[], &[text]);
        assert_eq!(code, 2, "{text}: {all}");
        // As JSON writes it.
        let rule = rule.replace('\\', r"\\");
        assert!(
            all.contains(&rule) && all.contains("at character"),
            "{text}: {all}"
        );
        for digits in ["4111", "5555", "6789"] {
            assert!(!all.contains(digits), "{digits} echoed: {all}");
        }
    }
}

#[test]
fn safety_rules_from_a_file_replace_the_defaults_and_no_safety_rules_turns_them_off() {
    let dir = Scratch::new();
    let rules = dir.0.join("rules.txt");
    std::fs::write(&rules, "# our bot's rules\n\ncard-number\n  \\bIBAN\\b  \n").unwrap();
    let rules_flag = ["--safety-rules", rules.to_str().unwrap()];
    // The file's rules, and only them.
    let (code, _, all) = dry_run(&rules_flag, &["your password"]);
    assert_eq!(code, 0, "{all}");
    let (code, _, all) = dry_run(&rules_flag, &["send your IBAN"]);
    assert_eq!(code, 2, "{all}");
    assert!(all.contains(r"\\bIBAN\\b"), "{all}");
    let (code, _, all) = dry_run(&rules_flag, &["4111111111111111"]);
    assert_eq!(code, 2, "{all}");
    let (code, _, all) = dry_run(&rules_flag, &["123-45-6789"]);
    assert_eq!(code, 0, "{all}");
    // Off.
    let (code, _, all) = dry_run(&["--no-safety-rules"], &["your password, 123-45-6789"]);
    assert_eq!(code, 0, "{all}");
    // A bad line is a usage error naming the file and the line.
    std::fs::write(&rules, "card-number\n# fine\n(unclosed\n").unwrap();
    let (code, _, all) = dry_run(&rules_flag, &["hi"]);
    assert_eq!(code, 2, "{all}");
    assert!(
        all.contains(rules.to_str().unwrap()) && all.contains("line 3"),
        "{all}"
    );
    let (code, _, all) = dry_run(&["--safety-rules", "/nonexistent/rules"], &["hi"]);
    assert_eq!(code, 2, "{all}");
    assert!(all.contains("/nonexistent/rules"), "{all}");
    let (code, _, all) = dry_run(&["--no-safety-rules", "--safety-rules", "x"], &["hi"]);
    assert_eq!(code, 2, "{all}");
}

#[test]
fn command_line_words_meet_with_a_space() {
    let (code, body, all) = dry_run(&[], &["hello", "world"]);
    assert_eq!(code, 0, "{all}");
    assert_eq!(body.as_deref(), Some("hello world"));
    // White space already there: nothing added.
    let (_, body, _) = dry_run(&[], &["Your parcel ", "is here"]);
    assert_eq!(body.as_deref(), Some("Your parcel is here"));
}

#[test]
fn a_batch_is_checked_with_the_same_rules() {
    let dir = Scratch::new();
    let conversation = FakeConversation::start(|_| OnMessage::Accept);
    let file = dir.0.join("reminders.jsonl");
    let journal = dir.0.join("journal.jsonl");
    std::fs::write(
        &file,
        format!(
            "{}\n{}\n",
            json!({"conversation": CONV, "text": "Mr Kassner, see you at 10:30"}),
            // A batch line's blocks are joined as given.
            json!({"conversation": CONV, "text": ["Hassna, ", "your table", "is ready"]}),
        ),
    )
    .unwrap();
    let (code, _, all) = run(&mut batch_cmd(&conversation.url(), &file, &journal, &[]));
    assert_eq!(code, 0, "{all}");
    assert_eq!(
        sorted(conversation.texts()),
        ["Hassna, your tableis ready", "Mr Kassner, see you at 10:30"]
    );
    std::fs::write(
        &file,
        format!(
            "{}\n",
            json!({"conversation": CONV, "text": "Your password is hunter2"})
        ),
    )
    .unwrap();
    // Another batch (its lines go to the same conversation: under one
    // batch id they would be the first line with other content).
    let other = ["--batch-id", "other"];
    let (code, _, all) = run(&mut batch_cmd(&conversation.url(), &file, &journal, &other));
    assert_eq!(code, 2, "{all}");
    let (code, _, all) = run(&mut batch_cmd(
        &conversation.url(),
        &file,
        &journal,
        &["--no-safety-rules", "--batch-id", "other"],
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(conversation.texts().len(), 3);
}
