//! When and whether a line goes (issue 33), from the command line:
//! `inject --batch` as a child process against a fake carrier on
//! 127.0.0.1. Its clock is the real one, so a window is chosen around the
//! hour it is now (in UTC), with hours of margin either side; the rules'
//! arithmetic on an injected clock (DST, zones, expiry during a wait) is
//! tests/sms_rules.rs.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Instant, SystemTime};

use common::batch::*;
use common::sms::SmsPlatform;
use common::*;
use serde_json::{json, Value};

/// SMS lines from `from` to `to`, one each.
fn sms_file(path: &Path, from: &str, to: &[&str]) {
    let lines: String = to
        .iter()
        .map(|to| {
            format!(
                "{}\n",
                json!({"agentless": "sms", "from": from, "to": to, "text": "Your table is ready"})
            )
        })
        .collect();
    std::fs::write(path, lines).unwrap();
}

/// The hour it is now in UTC, `plus` hours on, as `HH:00`.
fn hour(plus: u64) -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!("{:02}:00", (secs / 3600 + plus) % 24)
}

/// `inject --batch` with a state directory of its own (not --no-state).
fn with_state(url: &str, file: &Path, dir: &Scratch, extra: &[&str]) -> Command {
    let mut cmd = Command::new(cli_bin());
    cmd.env_clear()
        .env("GENESYS_CLIENT_ID", CLIENT_ID)
        .env("GENESYS_CLIENT_SECRET", CLIENT_SECRET)
        .env("GENESYS_BASE_URL", url)
        .arg("--batch")
        .arg(file)
        .arg("--state-dir")
        .arg(dir.state())
        .args(["--rate", "60000", "--json"])
        .args(extra)
        .stdin(std::process::Stdio::null());
    cmd
}

const NUMBERS: [&str; 3] = ["+13175550101", "+13175550102", "+13175550103"];

#[test]
fn a_line_outside_its_window_is_deferred_and_the_summary_says_when_it_opens() {
    let dir = Scratch::new();
    let platform = SmsPlatform::start(None);
    let file = dir.0.join("sms.jsonl");
    let journal = dir.0.join("journal.jsonl");
    let metrics = dir.0.join("inject.prom");
    sms_file(&file, "+18005550100", &NUMBERS);
    // A window that opens three hours from now, in UTC.
    let shut = format!("{}-{}", hour(3), hour(5));
    let (code, out, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &[
            "--json",
            "--send-window",
            &shut,
            "--tz",
            "UTC",
            "--metrics-file",
            metrics.to_str().unwrap(),
        ],
    ));
    assert_eq!(code, 0, "{all}");
    assert!(platform.recipients().is_empty());
    let said = summary(&out);
    assert_eq!(
        (&said["deferred"], &said["sent"]),
        (&json!(3), &json!(0)),
        "{all}"
    );
    let opens = said["first_opens"].as_str().expect("when it opens");
    assert!(opens.contains(&format!("T{}:00", hour(3))), "{opens}");
    let line = &out[0];
    assert_eq!(line["error"]["kind"], "deferred", "{all}");
    assert_eq!(line["error"]["opens"], said["first_opens"]);
    assert!(
        all.contains("3 line(s) deferred, outside their send window"),
        "{all}"
    );
    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        prom.contains("genesys_inject_lines{outcome=\"deferred\"} 3"),
        "{prom}"
    );
    // The same lines in a window open now: sent (nothing was recorded).
    let open = format!("{}-{}", hour(23), hour(2));
    let (code, out, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &["--json", "--send-window", &open, "--tz", "UTC"],
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(summary(&out)["sent"], 3, "{all}");
    assert_eq!(sorted(platform.recipients()), NUMBERS);
}

#[test]
fn a_zone_column_wins_over_tz_and_a_line_without_a_zone_says_how_to_give_one() {
    let dir = Scratch::new();
    let platform = SmsPlatform::start(None);
    let file = dir.0.join("customers.csv");
    let journal = dir.0.join("journal.jsonl");
    // Tonga is UTC+13: when UTC's window is open, Tonga's is shut (and
    // the other way round), so the column decides.
    let open = format!("{}-{}", hour(23), hour(2));
    std::fs::write(
        &file,
        "phone,zone\n+447700900001,UTC\n+447700900002,Pacific/Tongatapu\n+447700900003,\n",
    )
    .unwrap();
    let (code, out, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &[
            "--json",
            "--agentless",
            "sms",
            "--from",
            "+447700900000",
            "--to-column",
            "phone",
            "--tz-column",
            "zone",
            "--send-window",
            &open,
            "Your table is ready",
        ],
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(platform.recipients(), ["+447700900001"]);
    let kinds: Vec<&Value> = out.iter().take(3).map(|l| &l["error"]["kind"]).collect();
    assert_eq!(kinds[1], "deferred");
    let third = out
        .iter()
        .find(|l| l["line"] == 4)
        .map(|l| l["error"]["message"].as_str().unwrap().to_owned())
        .unwrap();
    assert!(third.contains("--tz-column NAME or --tz ZONE"), "{third}");
    // A zone that is none: the line is invalid, said before anything.
    std::fs::write(&file, "phone,zone\n+447700900001,Mars/Olympus\n").unwrap();
    let (code, _, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &[
            "--agentless",
            "sms",
            "--from",
            "+447700900000",
            "--to-column",
            "phone",
            "--tz-column",
            "zone",
            "--send-window",
            &open,
            "Hi",
        ],
    ));
    assert_eq!(code, 2, "{all}");
    assert!(all.contains("Mars/Olympus"), "{all}");
}

#[test]
fn expired_lines_are_never_sent_and_stay_expired() {
    let dir = Scratch::new();
    let platform = SmsPlatform::start(None);
    let file = dir.0.join("sms.jsonl");
    let journal = dir.0.join("journal.jsonl");
    let lines = format!(
        "{}\n{}\n",
        json!({"agentless": "sms", "from": "+18005550100", "to": NUMBERS[0], "text": "Your 9:00 appointment", "valid_until": "2020-01-01T09:00:00Z"}),
        json!({"agentless": "sms", "from": "+18005550100", "to": NUMBERS[1], "text": "Your 9:00 appointment"}),
    );
    std::fs::write(&file, lines).unwrap();
    let (code, out, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &["--json", "--valid-until", "2999-01-01T00:00:00+01:00"],
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(platform.recipients(), [NUMBERS[1]]);
    assert_eq!(summary(&out)["expired"], 1, "{all}");
    // Re-run with no expiry given: recorded, still expired.
    let (code, out, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &["--json"],
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(summary(&out)["expired"], 1, "{all}");
    assert_eq!(out[0]["earlier"], true, "{all}");
    assert_eq!(platform.recipients(), [NUMBERS[1]]);
}

#[test]
fn suppressed_numbers_written_three_ways_are_never_sent_and_nothing_is_recorded() {
    let dir = Scratch::new();
    let platform = SmsPlatform::start(None);
    let file = dir.0.join("sms.jsonl");
    let journal = dir.0.join("journal.jsonl");
    sms_file(
        &file,
        "+18005550100",
        &["+1 317 555 0101", "(317) 555-0102", "+13175550103"],
    );
    let list = dir.0.join("do-not-contact.txt");
    // A national number, an international one with dots, a comment.
    std::fs::write(&list, "# legal hold\n317.555.0101\n").unwrap();
    let csv = dir.0.join("complaints.csv");
    std::fs::write(&csv, "when,number\n2026-11-02,+1 (317) 555-0102\n").unwrap();
    let (code, out, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &[
            "--json",
            "--default-country",
            "US",
            "--suppress",
            list.to_str().unwrap(),
            "--suppress",
            csv.to_str().unwrap(),
            "--suppress-column",
            "number",
        ],
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(platform.recipients(), ["+13175550103"]);
    assert_eq!(summary(&out)["suppressed"], 2, "{all}");
    assert!(
        all.contains("2 line(s) suppressed (lines 1 and 2)"),
        "{all}"
    );
    // Nothing recorded: off the list, a re-run sends them.
    let (code, out, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &["--json", "--default-country", "US"],
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(summary(&out)["sent"], 2, "{all}");
    // A CSV list without its column, a national number without a
    // country: usage errors before anything is sent.
    for (extra, said) in [
        (
            vec!["--suppress", csv.to_str().unwrap()],
            "--suppress-column NAME",
        ),
        (
            vec!["--suppress", list.to_str().unwrap()],
            "--default-country",
        ),
    ] {
        let (code, _, all) = run(&mut batch_cmd(&platform.url(), &file, &journal, &extra));
        assert_eq!(code, 2, "{all}");
        assert!(all.contains(said), "{all}");
    }
}

#[test]
fn min_gap_defers_a_recipient_across_batches_and_keeps_no_number_in_clear() {
    let dir = Scratch::new();
    let platform = SmsPlatform::start(None);
    let first = dir.0.join("monday.jsonl");
    let second = dir.0.join("invoices.jsonl");
    sms_file(&first, "+18005550100", &NUMBERS[..1]);
    sms_file(&second, "+18005550100", &NUMBERS[..2]);
    let gap = ["--min-gap", "20h", "--sender-rate", "1000"];
    let (code, _, all) = run(&mut with_state(
        &platform.url(),
        &first,
        &dir,
        &[&gap[..], &["--batch-id", "monday"]].concat(),
    ));
    assert_eq!(code, 0, "{all}");
    let (code, out, all) = run(&mut with_state(
        &platform.url(),
        &second,
        &dir,
        &[&gap[..], &["--batch-id", "invoices"]].concat(),
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(summary(&out)["deferred"], 1, "{all}");
    let first = out.iter().find(|l| l["line"] == 1).expect("line 1");
    assert_eq!(first["error"]["kind"], "deferred", "{all}");
    assert!(
        all.contains("inside their recipient's --min-gap (line 1)"),
        "{all}"
    );
    assert_eq!(platform.recipients(), [NUMBERS[0], NUMBERS[1]]);
    for entry in std::fs::read_dir(dir.state()).unwrap() {
        let entry = entry.unwrap().path();
        if entry.is_file() {
            let text = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned();
            assert!(!text.contains("5550101"), "{}: {text}", entry.display());
        }
    }
    // Without a state directory it cannot be kept: said, nothing sent.
    let (code, _, all) = run(&mut batch_cmd(
        &platform.url(),
        &second,
        &dir.0.join("j.jsonl"),
        &["--min-gap", "20h"],
    ));
    assert_ne!(code, 0, "{all}");
    assert!(all.contains("needs a state directory"), "{all}");
}

#[test]
fn a_sender_number_goes_no_faster_than_its_carrier_takes() {
    // A number outside North America: 10 a second. Eleven lines take a
    // second at least, and the carrier refuses none.
    let dir = Scratch::new();
    let platform = SmsPlatform::start(None);
    let file = dir.0.join("sms.jsonl");
    let to: Vec<String> = (0..11).map(|i| format!("+4477009{i:05}")).collect();
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    sms_file(&file, "+447700900000", &to);
    let started = Instant::now();
    let (code, out, all) = run(&mut with_state(
        &platform.url(),
        &file,
        &dir,
        &["--parallel", "4"],
    ));
    let took = started.elapsed();
    assert_eq!(code, 0, "{all}");
    assert_eq!(summary(&out)["sent"], 11, "{all}");
    assert_eq!(
        platform.refused.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    assert!(took.as_secs_f64() >= 1.0, "{took:?}");
}

#[test]
fn the_rules_flags_say_their_mistakes_before_anything_is_sent() {
    let dir = Scratch::new();
    let platform = SmsPlatform::start(None);
    let file = dir.0.join("sms.jsonl");
    let journal = dir.0.join("journal.jsonl");
    sms_file(&file, "+18005550100", &NUMBERS[..1]);
    for (extra, said) in [
        (
            vec!["--wait-for-window"],
            "--wait-for-window waits for the --send-window",
        ),
        (vec!["--send-window", "8-21"], "HH:MM-HH:MM"),
        (vec!["--tz", "Mars/Olympus"], "not an IANA zone name"),
        (vec!["--valid-until", "18:00"], "give the zone it is in"),
        (vec!["--min-gap", "soon"], "--min-gap takes a duration"),
    ] {
        let (code, _, all) = run(&mut batch_cmd(&platform.url(), &file, &journal, &extra));
        assert_eq!(code, 2, "{extra:?}: {all}");
        assert!(all.contains(said), "{extra:?}: {all}");
    }
    let (code, _, all) = run(&mut with_state(
        &platform.url(),
        &file,
        &dir,
        &["--sender-rate", "0"],
    ));
    assert_eq!(code, 2, "{all}");
    assert!(
        all.contains("--sender-rate takes messages a second"),
        "{all}"
    );
    assert!(platform.recipients().is_empty());
}

#[cfg(unix)]
#[test]
fn a_signal_ends_the_wait_for_a_window_at_once_and_leaves_the_lines_deferred() {
    let dir = Scratch::new();
    let platform = SmsPlatform::start(None);
    let file = dir.0.join("sms.jsonl");
    let journal = dir.0.join("journal.jsonl");
    sms_file(&file, "+18005550100", &NUMBERS);
    // A window two hours on, waited for (within three hours).
    let later = format!("{}-{}", hour(2), hour(4));
    let flags = [
        "--json",
        "--send-window",
        &later,
        "--tz",
        "UTC",
        "--wait-for-window",
        "--deadline",
        "10800",
    ];
    let child = batch_cmd(&platform.url(), &file, &journal, &flags)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let signalled = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let took = signalled.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(143), "{all}");
    assert!(took.as_secs_f64() < 2.0, "{took:?}");
    assert!(all.contains("3 deferred; a re-run sends them"), "{all}");
    assert!(platform.recipients().is_empty());
    // Nothing was recorded: a run inside the window sends them all.
    let open = format!("{}-{}", hour(23), hour(2));
    let (code, out, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &["--json", "--send-window", &open, "--tz", "UTC"],
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(summary(&out)["sent"], 3, "{all}");
}

#[test]
fn killed_with_a_line_in_flight_its_recipient_stays_reserved_and_the_line_once() {
    use common::conversation::{FakeConversation, OnMessage};
    let dir = Scratch::new();
    // Each answer takes a second: the kill lands with the line in flight.
    let conversation =
        FakeConversation::start(|_| OnMessage::AcceptAfter(std::time::Duration::from_secs(1)));
    let file = dir.0.join("lines.jsonl");
    let lines: String = (0..3)
        .map(|i| {
            format!(
                "{}\n",
                json!({"conversation": CONV, "text": format!("Your order {i} shipped"), "id": format!("order-{i}")})
            )
        })
        .collect();
    std::fs::write(&file, lines).unwrap();
    let flags = ["--min-gap", "20h", "--settle-time", "2", "--parallel", "1"];
    let mut child = with_state(&conversation.url(), &file, &dir, &flags)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while conversation.texts().is_empty() && started.elapsed().as_secs() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
    // The re-run finds the line that was in flight, and holds the other
    // two: one message to the conversation within the gap.
    let (code, out, all) = run(&mut with_state(&conversation.url(), &file, &dir, &flags));
    assert_eq!(code, 0, "{all}");
    let said = summary(&out);
    assert_eq!(
        (&said["sent_earlier"], &said["deferred"]),
        (&json!(1), &json!(2)),
        "{all}"
    );
    // Another batch within the gap: the killed run's reservation stands.
    let (code, out, all) = run(&mut with_state(
        &conversation.url(),
        &file,
        &dir,
        &[&flags[..], &["--batch-id", "tomorrow"]].concat(),
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(summary(&out)["deferred"], 3, "{all}");
    assert_eq!(conversation.texts().len(), 1);
}
