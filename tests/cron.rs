//! A cron job's tool (issue 27): failures that reach the person, an
//! overlapping run, a batch without `HOME`, flags that belong to a batch.
//! `inject` as a child process against fake platforms on 127.0.0.1.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::batch::*;
use common::conversation::{FakeConversation, OnMessage};
use common::rawserver::{strict_platform, Action, RawServer};
use common::*;
use serde_json::{json, Value};

/// `inject` sending one message to the test conversation on `url`, with
/// no state directory; the caller adds its flags and TEXT.
fn send_to(url: &str) -> Command {
    let mut cmd = Command::new(cli_bin());
    cmd.env_clear()
        .env("GENESYS_CLIENT_ID", CLIENT_ID)
        .env("GENESYS_CLIENT_SECRET", CLIENT_SECRET)
        .env("GENESYS_BASE_URL", url)
        .args([
            "--conversation",
            CONV,
            "--communication",
            COMM,
            "--no-state",
        ]);
    cmd
}

#[test]
fn batch_flags_on_a_single_message_are_a_usage_error() {
    for flag in [
        &["--journal", "/tmp/j"][..],
        &["--batch-id", "monday"],
        &["--deadline", "5"],
        &["--resend-unknown"],
        &["--retry-failed"],
        &["--parallel", "2"],
    ] {
        let out = Command::new(cli_bin())
            .env_clear()
            .args(["--conversation", CONV, "--communication", COMM, "--dry-run"])
            .args(flag)
            .arg("hi")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag:?}: {stderr}");
        assert!(
            stderr.contains(flag[0]) && stderr.contains("goes with --batch"),
            "{stderr}"
        );
    }
}

#[test]
fn an_overlapping_run_of_the_same_batch_exits_75() {
    let dir = Scratch::new();
    // The first run's first message is never answered: it holds the
    // journal while the second starts.
    let conversation = FakeConversation::start(|n| {
        if n == 0 {
            OnMessage::RecordAndStall(Duration::from_secs(3))
        } else {
            OnMessage::Accept
        }
    });
    let file = dir.0.join("b.jsonl");
    let journal = dir.0.join("journal.jsonl");
    write_batch(&file, "overlap", 2);
    let mut first = batch_cmd(&conversation.url(), &file, &journal, &[])
        .spawn()
        .unwrap();
    let started = Instant::now();
    while conversation.texts().is_empty() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let (code, out, all) = run(&mut batch_cmd(
        &conversation.url(),
        &file,
        &journal,
        &["--json"],
    ));
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(code, 75, "{all}");
    assert_eq!(out[0]["error"]["kind"], "busy", "{all}");
    assert!(all.contains("another run holds it"), "{all}");
}

#[test]
fn a_batch_under_cron_without_home_says_how_to_keep_its_journal() {
    let dir = Scratch::new();
    let file = dir.0.join("b.jsonl");
    write_batch(&file, "x", 1);
    let out = Command::new(cli_bin())
        .env_clear()
        .env("GENESYS_CLIENT_ID", CLIENT_ID)
        .env("GENESYS_CLIENT_SECRET", CLIENT_SECRET)
        .args(["--batch"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("HOME is not set")
            && stderr.contains("--state-dir")
            && stderr.contains("GENESYS_STATE_DIR"),
        "{stderr}"
    );
    assert!(!stderr.contains("not --no-state"), "{stderr}");
}

fn stderr_of(cmd: &mut Command) -> (i32, Vec<Value>, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let objects = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (
        out.status.code().expect("exited"),
        objects,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn with_json_a_failed_batch_says_why_on_standard_error_and_lines_carry_error_objects() {
    let dir = Scratch::new();
    let platform = strict_platform();
    let file = dir.0.join("b.jsonl");
    let journal = dir.0.join("journal.jsonl");
    std::fs::write(
        &file,
        ["fine", "refused"]
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
    let (code, out, stderr) = stderr_of(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &["--json", "--parallel", "1"],
    ));
    assert_eq!(code, 1, "{stderr}");
    // The refused line's error: the fields of a single send's --json error.
    let refused = out.iter().find(|o| o["line"] == 2).expect("line 2");
    let error = &refused["error"];
    assert_eq!(error["kind"], "api", "{refused}");
    assert_eq!(error["status"], 400, "{refused}");
    assert_eq!(error["outcome"], "not_delivered", "{refused}");
    assert_eq!(error["correlation_id"], "ctx-400", "{refused}");
    assert!(error["message"].is_string(), "{refused}");
    // One line on standard error, for cron's mail.
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("1 failed") && stderr.contains("exit 1"),
        "{stderr}"
    );
    // -q: nothing.
    let (code, _, stderr) = stderr_of(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &["--json", "-q"],
    ));
    assert_eq!(code, 1);
    assert_eq!(stderr, "");
    // A 401 stops the batch: still only that one line, no log line.
    let (code, out, stderr) = stderr_of(
        batch_cmd(&platform.url(), &file, &dir.0.join("j2.jsonl"), &["--json"])
            .env("GENESYS_CLIENT_SECRET", "a-wrong-secret"),
    );
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("inject: batch \"default\":"), "{stderr}");
    let stopped = out
        .iter()
        .find(|o| o["ok"] == false)
        .expect("a failed line");
    assert_eq!(stopped["error"]["kind"], "auth", "{stopped}");
}

#[test]
fn audit_log_appends_each_injections_record_as_a_json_line() {
    let dir = Scratch::new();
    let platform = strict_platform();
    let audit = dir.0.join("audit.jsonl");
    let send = |text: &str| {
        send_to(&platform.url())
            .arg("--audit-log")
            .arg(&audit)
            .arg(text)
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(send("hello"), Some(0));
    assert_eq!(send("refused"), Some(1));
    let text = std::fs::read_to_string(&audit).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2, "{text}");
    assert_eq!(records[0]["status"], "SUCCESS");
    assert_eq!(records[1]["status"], "FAILURE");
    for r in &records {
        assert_eq!(r["interactionId"], CONV);
        assert_eq!(r["eventType"], "bot_message_injection");
        assert!(r["timestamp"].is_string() && r["latencyMs"].is_u64());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&audit).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A link where the file should be: refused, nothing written there.
        let target = dir.0.join("elsewhere");
        std::fs::write(&target, "").unwrap();
        let link = dir.0.join("link.jsonl");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let out = send_to(&platform.url())
            .arg("--audit-log")
            .arg(&link)
            .arg("hi")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("audit log"));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "");
    }
}

/// The value of `name` (with its labels) in a textfile at `path`.
fn metric(path: &std::path::Path, name: &str) -> Option<f64> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .map(|v| v.trim().parse().unwrap())
}

#[test]
fn metrics_file_after_every_run_keeps_the_last_success() {
    let dir = Scratch::new();
    let platform = strict_platform();
    let metrics = dir.0.join("genesys_inject.prom");
    let file = dir.0.join("b.jsonl");
    let journal = dir.0.join("journal.jsonl");
    let flags = [
        "--metrics-file",
        metrics.to_str().unwrap(),
        "--parallel",
        "1",
    ];
    // A batch that succeeds.
    std::fs::write(
        &file,
        (0..3)
            .map(|i| {
                format!(
                    "{}\n",
                    json!({"conversation": CONV, "communication": COMM, "text": format!("ok {i}")})
                )
            })
            .collect::<String>(),
    )
    .unwrap();
    let (code, _, all) = run(&mut batch_cmd(&platform.url(), &file, &journal, &flags));
    assert_eq!(code, 0, "{all}");
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(text.contains("# TYPE genesys_inject_lines gauge"), "{text}");
    assert_eq!(
        metric(&metrics, "genesys_inject_lines{outcome=\"sent\"}"),
        Some(3.0)
    );
    assert_eq!(metric(&metrics, "genesys_inject_exit_status"), Some(0.0));
    let success = metric(&metrics, "genesys_inject_last_success_timestamp_seconds").unwrap();
    assert_eq!(
        metric(&metrics, "genesys_inject_last_run_timestamp_seconds"),
        Some(success)
    );
    // A single message that fails: the last success is kept.
    std::thread::sleep(Duration::from_millis(20));
    let out = send_to(&platform.url())
        .args(["--metrics-file", metrics.to_str().unwrap(), "refused"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(metric(&metrics, "genesys_inject_exit_status"), Some(1.0));
    assert_eq!(
        metric(&metrics, "genesys_inject_lines{outcome=\"failed\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric(&metrics, "genesys_inject_lines{outcome=\"sent\"}"),
        Some(0.0)
    );
    assert_eq!(
        metric(&metrics, "genesys_inject_last_success_timestamp_seconds"),
        Some(success)
    );
    assert!(metric(&metrics, "genesys_inject_last_run_timestamp_seconds").unwrap() > success);
    assert!(metric(&metrics, "genesys_inject_run_duration_seconds").unwrap() >= 0.0);
    // A usage error is a failed run too.
    let out = Command::new(cli_bin())
        .env_clear()
        .args([
            "--metrics-file",
            metrics.to_str().unwrap(),
            "--conversation",
            "nope",
            "hi",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(metric(&metrics, "genesys_inject_exit_status"), Some(2.0));
    // No temporary file is left beside it.
    let left: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A platform whose agentless route records each message's body.
fn sms_platform() -> (RawServer, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    let bodies: std::sync::Arc<std::sync::Mutex<Vec<Value>>> = Default::default();
    let seen = bodies.clone();
    let server = common::rawserver::platform(move |req| {
        if req.path.ends_with("/agentless") {
            seen.lock()
                .unwrap()
                .push(serde_json::from_str(&req.body).unwrap());
            Action::ok(&message_ok("m"))
        } else {
            Action::status(404, "")
        }
    });
    (server, bodies)
}

#[test]
fn a_csv_export_with_a_template_and_the_command_lines_defaults() {
    let dir = Scratch::new();
    let (platform, bodies) = sms_platform();
    let file = dir.0.join("customers.csv");
    // Quotes, a comma and a line break inside quotes, CRLF, a BOM; a
    // contact_id column the CRM adds (not a line key: template only).
    std::fs::write(
        &file,
        "\u{feff}phone,name,time,contact_id\r\n\
         +13175551234,\"Smith, Ada\",10:30,\r\n\
         +13175555678,\"Grace \"\"G\"\" Hopper\",\"11:00\nsharp\",c-17\r\n",
    )
    .unwrap();
    let journal = dir.0.join("journal.jsonl");
    let (code, out, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &[
            "--json",
            "--parallel",
            "1",
            "--agentless",
            "sms",
            "--from",
            "+18005550100",
            "--to-column",
            "phone",
            "Hi {name}, see you at {time}",
        ],
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(summary(&out)["sent"], 2, "{all}");
    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies[0]["toAddress"], "+13175551234");
    assert_eq!(bodies[0]["textBody"], "Hi Smith, Ada, see you at 10:30");
    assert_eq!(bodies[0]["fromAddress"], "+18005550100");
    assert_eq!(
        bodies[1]["textBody"],
        "Hi Grace \"G\" Hopper, see you at 11:00\nsharp"
    );
    assert_eq!(bodies[1]["fromAddress"], "+18005550100");
    // A re-run sends nothing again.
    let (code, out, _) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &[
            "--json",
            "--agentless",
            "sms",
            "--from",
            "+18005550100",
            "--to-column",
            "phone",
            "Hi {name}, see you at {time}",
        ],
    ));
    assert_eq!(code, 0);
    assert_eq!(summary(&out)["sent_earlier"], 2);
}

#[test]
fn a_missing_column_or_placeholder_is_said_once_and_a_header_alone_is_no_line() {
    let dir = Scratch::new();
    let (platform, bodies) = sms_platform();
    let file = dir.0.join("customers.csv");
    std::fs::write(&file, "phone,name\n+13175551234,Ada\n").unwrap();
    let journal = dir.0.join("journal.jsonl");
    let sms = ["--agentless", "sms", "--from", "+18005550100"];
    let (code, _, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &[&sms[..], &["--to-column", "mobile", "Hi {name}"]].concat(),
    ));
    assert_eq!(code, 2, "{all}");
    // A mistake of the whole file: said once, by the header, with the
    // columns that are there.
    assert!(
        all.contains(
            "column \"mobile\" (--to-column) is not in the file's header; its columns: phone, name"
        ),
        "{all}"
    );
    assert!(!all.contains("line 2:"), "{all}");
    let (code, _, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &[&sms[..], &["--to-column", "phone", "Hi {surname}"]].concat(),
    ));
    assert_eq!(code, 2, "{all}");
    assert!(
        all.contains("the template's {surname} is not a column of the file"),
        "{all}"
    );
    assert!(bodies.lock().unwrap().is_empty(), "nothing sent");
    // A header alone: no line, nothing to send.
    std::fs::write(&file, "phone,name\n").unwrap();
    let (code, out, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &[&sms[..], &["--json", "--to-column", "phone", "Hi {name}"]].concat(),
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(summary(&out)["lines"], 0, "{all}");
    // JSON Lines take the same defaults and template.
    let jsonl = dir.0.join("customers.jsonl");
    std::fs::write(
        &jsonl,
        format!("{}\n", json!({"to": "+13175550000", "name": "Lin"})),
    )
    .unwrap();
    let (code, _, all) = run(&mut batch_cmd(
        &platform.url(),
        &jsonl,
        &journal,
        &[&sms[..], &["Hello {name}"]].concat(),
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(bodies.lock().unwrap()[0]["textBody"], "Hello Lin");
}

/// `inject --batch FILE --dry-run`-ready: no credentials, no state, the
/// journal at `journal`; the caller adds its flags.
fn dry_batch(file: &std::path::Path, journal: &std::path::Path) -> Command {
    let mut cmd = Command::new(cli_bin());
    cmd.env_clear()
        .arg("--batch")
        .arg(file)
        .args(["--no-state", "--journal"])
        .arg(journal);
    cmd
}

#[test]
fn conversation_and_contact_columns() {
    let dir = Scratch::new();
    let file = dir.0.join("open.csv");
    std::fs::write(&file, format!("conv id,who\n{CONV},Ada\n")).unwrap();
    let out = dry_batch(&file, &dir.0.join("j.jsonl"))
        .args([
            "--dry-run",
            "--conversation-column",
            "conv id",
            "--communication",
            COMM,
            "Hi {who}",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&message_path()) && stdout.contains("Hi Ada"),
        "{stdout}"
    );
    let contact = "a7c3e9d1-2b4f-4a6c-8e0d-1f2a3b4c5d6e";
    std::fs::write(&file, format!("customer,who\n{contact},Lin\n")).unwrap();
    let out = dry_batch(&file, &dir.0.join("j.jsonl"))
        .args(["--dry-run", "--json", "--contact-column", "customer"])
        .args([
            "--agentless",
            "webmessaging",
            "--from",
            "5c1ba0d4-2f2e-4b0a-9a8b-0b2d9a4e6f1c",
            "Hello {who}",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(contact) && stdout.contains("Hello Lin"),
        "{stdout}"
    );
}
