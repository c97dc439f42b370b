//! Lines known by who receives them, and a CSV export taken as it comes
//! (issue 31): a fixed typo does not send everyone the message again, a
//! column never speaks for the command line without a word, the file's
//! mistakes are said once, phone numbers as exports hold them, and output
//! that names the batch. `inject --batch` runs as a child process against
//! a fake platform on 127.0.0.1.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use common::batch::*;
use common::conversation::{FakeConversation, OnMessage};
use common::rawserver::{Action, RawServer};
use common::*;
use serde_json::{json, Value};

/// A platform whose agentless route records each message's body.
fn sms_platform() -> (RawServer, Arc<Mutex<Vec<Value>>>) {
    let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
    let seen = bodies.clone();
    let server = common::rawserver::platform(move |req| {
        if req.path.ends_with("/agentless") {
            let mut bodies = seen.lock().unwrap();
            bodies.push(serde_json::from_str(&req.body).unwrap());
            let id = format!("m{}", bodies.len());
            Action::ok(
                &json!({"id": "outbound", "message": {"id": id, "status": "queued"}}).to_string(),
            )
        } else {
            Action::status(404, "")
        }
    });
    (server, bodies)
}

const SMS: [&str; 4] = ["--agentless", "sms", "--from", "+18005550100"];

/// A CRM export of `n` customers: phone, name, time, notes.
fn export(path: &Path, n: usize) {
    let mut csv = String::from("phone,name,time,notes\n");
    for i in 0..n {
        csv.push_str(&format!(
            "+1317555{i:04},Customer {i},10:{:02},VIP\n",
            i % 60
        ));
    }
    std::fs::write(path, csv).unwrap();
}

fn texts(bodies: &Arc<Mutex<Vec<Value>>>) -> Vec<String> {
    bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| b["textBody"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_typo_fixed_in_the_template_sends_nobody_the_message_again() {
    let dir = Scratch::new();
    let (platform, bodies) = sms_platform();
    let file = dir.0.join("customers.csv");
    let journal = dir.0.join("journal.jsonl");
    export(&file, 30);
    // The first run is cut short by its deadline's twin: 20 rows of 30.
    let first: String = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .take(21)
        .map(|l| format!("{l}\n"))
        .collect();
    let short = dir.0.join("short.csv");
    std::fs::write(&short, first).unwrap();
    let with = |template: &'static str| [&SMS[..], &["--to-column", "phone", template]].concat();
    let (code, _, all) = run(&mut batch_cmd(
        &platform.url(),
        &short,
        &journal,
        &with("Hi {name}, your appointmnet is at {time}"),
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(bodies.lock().unwrap().len(), 20);
    // The typo fixed, the whole file: the 20 sent are that content changed
    // (said once), the 10 others go out with the new wording.
    let (code, _, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &with("Hi {name}, your appointment is at {time}"),
    ));
    assert_eq!(code, 2, "{all}");
    assert_eq!(bodies.lock().unwrap().len(), 30, "{all}");
    assert_eq!(
        all.matches("other content").count(),
        2,
        "said once, and in the summary: {all}"
    );
    assert!(
        all.contains("20 line(s) of batch \"default\" were sent by an earlier run with other content (lines 2, 3, 4"),
        "{all}"
    );
    assert!(all.contains("20 and 21)"), "{all}");
    assert!(all.contains("new --batch-id"), "{all}");
    assert!(
        all.contains("batch \"default\": 30 line(s): 10 sent now, 0 sent by an earlier run"),
        "{all}"
    );
    let sent = texts(&bodies);
    assert!(sent[..20].iter().all(|t| t.contains("appointmnet")));
    assert!(sent[20..].iter().all(|t| t.contains("appointment ")));
}

#[test]
fn lines_are_their_recipients_reordered_re_encoded_cut_short_or_killed() {
    let dir = Scratch::new();
    let (platform, bodies) = sms_platform();
    let file = dir.0.join("list.csv");
    let journal = dir.0.join("journal.jsonl");
    // Two lines to one customer, and others.
    let rows = [
        "+13175550001,Ada,first",
        "+13175550002,Lin,first",
        "+13175550001,Ada,second",
        "+13175550003,Sam,first",
    ];
    let write = |rows: &[&str], end: &str| {
        let mut csv = format!("phone,name,which{end}");
        for r in rows {
            csv.push_str(&format!("{r}{end}"));
        }
        std::fs::write(&file, csv).unwrap();
    };
    let args = [
        &SMS[..],
        &["--to-column", "phone", "{which} note for {name}"],
    ]
    .concat();
    write(&rows[..2], "\n");
    assert_eq!(
        run(&mut batch_cmd(&platform.url(), &file, &journal, &args)).0,
        0
    );
    // Whole, reversed, with CRLF: the two sent are the same lines.
    let mut reversed = rows.to_vec();
    reversed.reverse();
    write(&reversed, "\r\n");
    let (code, _, all) = run(&mut batch_cmd(&platform.url(), &file, &journal, &args));
    assert_eq!(code, 0, "{all}");
    assert!(
        all.contains("2 sent now, 2 sent by an earlier run"),
        "{all}"
    );
    let mut sent = texts(&bodies);
    sent.sort();
    assert_eq!(
        sent,
        [
            "first note for Ada",
            "first note for Lin",
            "first note for Sam",
            "second note for Ada"
        ]
    );
    // Run again: nothing, and the run says which batch and what to do.
    let (code, _, all) = run(&mut batch_cmd(&platform.url(), &file, &journal, &args));
    assert_eq!(code, 0, "{all}");
    assert!(
        all.contains("every line of batch \"default\" was sent by an earlier run")
            && all.contains("new --batch-id"),
        "{all}"
    );
    assert_eq!(bodies.lock().unwrap().len(), 4);
}

#[test]
fn killed_with_lines_in_flight_a_rerun_sends_each_recipients_line_once() {
    let dir = Scratch::new();
    let conversation =
        FakeConversation::start(|_| OnMessage::AcceptAfter(std::time::Duration::from_millis(300)));
    let file = dir.0.join("many.jsonl");
    let journal = dir.0.join("journal.jsonl");
    let texts = write_batch(&file, "Line", 12);
    let mut child = batch_cmd(&conversation.url(), &file, &journal, &["--parallel", "4"])
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while conversation.texts().len() < 5 {
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Reordered for the re-run: each of the one conversation's twelve
    // lines is matched by its content first.
    let mut lines: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.reverse();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let (code, _, all) = run(&mut batch_cmd(&conversation.url(), &file, &journal, &[]));
    assert_eq!(code, 0, "{all}");
    assert_eq!(sorted(conversation.texts()), sorted(texts), "{all}");
}

/// The records the last release (0.1, before identity by recipient) wrote
/// for `lines` (JSON objects sent by `url`'s client as batch `default`):
/// each line known by a hash of its canonical JSON and its rank among
/// identical lines, with the hash of its exact request. (These formulas
/// were checked against that release's binary.)
fn last_release_journal(journal: &Path, url: &str, lines: &[Value], sent: usize) {
    fn fnv(bytes: &[u8]) -> String {
        let hash = bytes
            .iter()
            .fold(0x6c62_272e_07bb_0142_62b8_2175_6295_c58d_u128, |h, &b| {
                (h ^ u128::from(b)).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b)
            });
        format!("{hash:032x}")
    }
    let scope = fnv(format!("{url}/oauth/token\n{CLIENT_ID}\ndefault").as_bytes());
    let mut ranks = std::collections::HashMap::new();
    let mut out = String::new();
    for line in &lines[..sent] {
        let canonical = line.to_string();
        let rank = ranks.entry(canonical.clone()).or_insert(0);
        *rank += 1;
        let id = format!("{}#{rank}", fnv(canonical.as_bytes()));
        let path = format!(
            "/api/v2/conversations/messages/{}/communications/{}/messages",
            line["conversation"].as_str().unwrap(),
            line["communication"].as_str().unwrap()
        );
        let body = json!({"textBody": line["text"]}).to_string();
        let fp = fnv(format!("{path}\n{body}").as_bytes());
        out.push_str(&format!(
            "{}\n",
            json!({"scope": scope, "line": id, "fp": fp, "state": "sent", "message_id": format!("old-{rank}")})
        ));
    }
    std::fs::write(journal, out).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(journal, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

#[test]
fn a_journal_of_the_last_release_is_resumed_without_sending_a_line_twice() {
    let dir = Scratch::new();
    let conversation = FakeConversation::start(|_| OnMessage::Accept);
    let file = dir.0.join("upgrade.jsonl");
    let journal = dir.0.join("journal.jsonl");
    let lines: Vec<Value> = ["Hello Ada", "Hello Ada", "Your code is 7", "Bye"]
        .iter()
        .map(|t| json!({"communication": COMM, "conversation": CONV, "text": t}))
        .collect();
    std::fs::write(
        &file,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    // The last release sent the first three, then stopped.
    last_release_journal(&journal, &conversation.url(), &lines, 3);
    let (code, _, all) = run(&mut batch_cmd(&conversation.url(), &file, &journal, &[]));
    assert_eq!(code, 0, "{all}");
    assert!(
        all.contains("1 sent now, 3 sent by an earlier run"),
        "{all}"
    );
    assert_eq!(conversation.texts(), ["Bye"]);
    // And from then on, under the new identity.
    let (code, _, all) = run(&mut batch_cmd(&conversation.url(), &file, &journal, &[]));
    assert_eq!(code, 0, "{all}");
    assert_eq!(conversation.texts(), ["Bye"]);
}

#[test]
fn a_column_or_key_never_speaks_for_the_command_line_without_a_word() {
    let dir = Scratch::new();
    let (platform, bodies) = sms_platform();
    let journal = dir.0.join("journal.jsonl");
    // A CRM notes column named text, beside a template.
    let file = dir.0.join("crm.csv");
    std::fs::write(
        &file,
        "phone,name,text\n+13175550001,Ada,VIP - rude on the phone last time\n",
    )
    .unwrap();
    let args = [
        &SMS[..],
        &["--to-column", "phone", "Hi {name}, see you tomorrow"],
    ]
    .concat();
    for extra in [&[][..], &["--dry-run"][..]] {
        let (code, _, all) = run(&mut batch_cmd(
            &platform.url(),
            &file,
            &journal,
            &[&args[..], extra].concat(),
        ));
        assert_eq!(code, 2, "{all}");
        assert!(!all.contains("rude"), "{all}");
        assert!(
            all.contains("column \"text\" is named like the line key text")
                && all.contains("--text-column text"),
            "{all}"
        );
    }
    // Taken from the column on purpose: then it is the text.
    let (code, _, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &[&SMS[..], &["--to-column", "phone", "--text-column", "text"]].concat(),
    ));
    assert_eq!(code, 0, "{all}");
    // A misspelt key beside a template: refused, not sent to the default.
    let jsonl = dir.0.join("typo.jsonl");
    std::fs::write(
        &jsonl,
        format!(
            "{}\n",
            json!({"conversaton": "ec35f2a8-289b-42d4-8893-c50eaf81a3c2", "communication": COMM, "name": "Ada"})
        ),
    )
    .unwrap();
    let (code, _, all) = run(&mut batch_cmd(
        &platform.url(),
        &jsonl,
        &journal,
        &["--conversation", CONV, "Hi {name}"],
    ));
    assert_eq!(code, 2, "{all}");
    assert!(all.contains("unknown key \"conversaton\""), "{all}");
    // Two columns of one name.
    std::fs::write(&file, "phone,name,phone\n+13175550001,Ada,+13175550002\n").unwrap();
    let (code, _, all) = run(&mut batch_cmd(&platform.url(), &file, &journal, &args));
    assert_eq!(code, 2, "{all}");
    assert!(all.contains("two columns named \"phone\""), "{all}");
    assert_eq!(bodies.lock().unwrap().len(), 1, "only the one on purpose");
}

#[test]
fn a_semicolon_export_with_national_numbers_and_an_empty_cell() {
    let dir = Scratch::new();
    let (platform, bodies) = sms_platform();
    let journal = dir.0.join("journal.jsonl");
    let file = dir.0.join("export.csv");
    // Excel in much of Europe: ; between cells.
    std::fs::write(
        &file,
        "Telefon;Name\n(317) 555-0101;Ada\n317.555.0102;Lin\n+1 317 555 0103;Sam\n;Nobody\n",
    )
    .unwrap();
    let args = [
        &SMS[..],
        &[
            "--to-column",
            "Telefon",
            "--default-country",
            "US",
            "Hi {Name}",
        ],
    ]
    .concat();
    let (code, _, all) = run(&mut batch_cmd(&platform.url(), &file, &journal, &args));
    // The empty cell is said to be empty, not a missing column.
    assert_eq!(code, 2, "{all}");
    assert!(
        all.contains("line 5: column \"Telefon\" (--to-column) is empty"),
        "{all}"
    );
    let (code, _, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &[&args[..], &["--skip-invalid"]].concat(),
    ));
    assert_eq!(code, 0, "{all}");
    let mut to: Vec<String> = bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| b["toAddress"].as_str().unwrap().to_owned())
        .collect();
    to.sort();
    assert_eq!(to, ["+13175550101", "+13175550102", "+13175550103"]);
    // A national number without --default-country: said in the CLI's
    // words.
    std::fs::write(&file, "phone;name\n06 12 34 56 78;Ada\n").unwrap();
    let (code, _, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &[
            &SMS[..],
            &["--to-column", "phone", "--dry-run", "Salut {name}"],
        ]
        .concat(),
    ));
    assert_eq!(code, 2, "{all}");
    assert!(
        all.contains("to \"06 12 34 56 78\" is a national number: give --default-country"),
        "{all}"
    );
    let (code, _, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &[
            &SMS[..],
            &[
                "--to-column",
                "phone",
                "--default-country",
                "FR",
                "--dry-run",
                "Salut {name}",
            ],
        ]
        .concat(),
    ));
    assert_eq!(code, 0, "{all}");
    assert!(all.contains("\"toAddress\":\"+33612345678\""), "{all}");
}

#[test]
fn a_mistake_of_the_whole_file_is_said_once() {
    let dir = Scratch::new();
    let (platform, _) = sms_platform();
    let journal = dir.0.join("journal.jsonl");
    let file = dir.0.join("customers.csv");
    export(&file, 30);
    for (flags, said) in [
        (
            &["--to-column", "Phone", "Hi {name}"][..],
            "\"Phone\" (--to-column) is not in the file's header",
        ),
        (&["--to-column", "phone"][..], "the lines have no text"),
    ] {
        let (code, _, all) = run(&mut batch_cmd(
            &platform.url(),
            &file,
            &journal,
            &[&SMS[..], flags].concat(),
        ));
        assert_eq!(code, 2, "{all}");
        assert_eq!(all.matches(said).count(), 1, "{all}");
        assert!(!all.contains("line 2"), "{all}");
    }
    // JSON Lines with no text anywhere: every line's one mistake, once.
    let jsonl = dir.0.join("notext.jsonl");
    let lines: String = (0..30)
        .map(|i| format!("{}\n", json!({"to": format!("+1317555{i:04}")})))
        .collect();
    std::fs::write(&jsonl, lines).unwrap();
    let (code, _, all) = run(&mut batch_cmd(&platform.url(), &jsonl, &journal, &SMS));
    assert_eq!(code, 2, "{all}");
    assert!(all.contains("every line (30): give the message"), "{all}");
    assert_eq!(all.matches("give the message").count(), 1, "{all}");
}

#[test]
fn a_dry_run_in_json_is_json_lines_with_a_summary_and_an_sms_texts_cost() {
    let dir = Scratch::new();
    let journal = dir.0.join("journal.jsonl");
    let file = dir.0.join("names.csv");
    std::fs::write(
        &file,
        "phone,name\n+13175550001,Sean\n+13175550002,Seán\nnot a number,Zoë\n",
    )
    .unwrap();
    let out = batch_cmd(
        "http://127.0.0.1:1",
        &file,
        &journal,
        &[
            &SMS[..],
            &[
                "--to-column",
                "phone",
                "--dry-run",
                "--json",
                "--skip-invalid",
                "--batch-id",
                "reminders",
                "Hi {name}, your appointment is tomorrow at 10:00. Reply C to confirm or R to reschedule it please.",
            ],
        ]
        .concat(),
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let objects: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(
        objects
            .iter()
            .all(|o| o["type"] == "line" || o["type"] == "summary"),
        "{stdout}"
    );
    let summary = objects.last().unwrap();
    assert_eq!(summary["type"], "summary", "{stdout}");
    assert_eq!(
        (
            &summary["batch_id"],
            &summary["lines"],
            &summary["valid"],
            &summary["invalid"]
        ),
        (&json!("reminders"), &json!(3), &json!(2), &json!(1))
    );
    // 96 characters: one GSM-7 segment; with á, two UCS-2 segments.
    assert_eq!(
        objects[0]["sms"],
        json!({"encoding": "GSM-7", "units": 96, "segments": 1})
    );
    assert_eq!(
        objects[1]["sms"],
        json!({"encoding": "UCS-2", "units": 96, "segments": 2})
    );
}

#[test]
fn twenty_thousand_csv_rows_are_read_and_timed() {
    // The same 20,000 rows as CSV and as JSON Lines, dry runs. The figures
    // are printed, not asserted (src/bin/inject/batch/read.rs's unit test
    // counts the bytes the line numbering scans: once each).
    let dir = Scratch::new();
    let journal = dir.0.join("journal.jsonl");
    let (csv, jsonl) = (dir.0.join("big.csv"), dir.0.join("big.jsonl"));
    export(&csv, 20_000);
    let lines: String = (0..20_000)
        .map(|i| format!("{}\n", json!({"to": format!("+1317555{i:04}"), "name": format!("Customer {i}"), "time": "10:00"})))
        .collect();
    std::fs::write(&jsonl, lines).unwrap();
    let timed = |file: &Path, extra: &[&str]| {
        let started = std::time::Instant::now();
        let out = batch_cmd(
            "http://127.0.0.1:1",
            file,
            &journal,
            &[&SMS[..], extra, &["--dry-run", "-q", "Hi {name} at {time}"]].concat(),
        )
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed()
    };
    let csv_took = timed(&csv, &["--to-column", "phone"]);
    let jsonl_took = timed(&jsonl, &[]);
    eprintln!("BENCH 20,000 rows: CSV {csv_took:?}, JSON Lines {jsonl_took:?}");
}

#[test]
fn key_order_nulls_a_default_flag_and_nfd_do_not_make_a_line_another_line() {
    let dir = Scratch::new();
    let conversation = FakeConversation::start(|_| OnMessage::Accept);
    let file = dir.0.join("names.jsonl");
    let journal = dir.0.join("journal.jsonl");
    std::fs::write(
        &file,
        format!(
            "{}\n",
            json!({"conversation": CONV, "text": "Hello Zo\u{eb}"})
        ),
    )
    .unwrap();
    let (code, _, all) = run(&mut batch_cmd(&conversation.url(), &file, &journal, &[]));
    assert_eq!(code, 0, "{all}");
    // Keys in another order, a null and a default value, the text in NFD,
    // and a default flag on the command line: the same line, sent.
    std::fs::write(
        &file,
        format!(
            "{}\n",
            json!({"text": "Hello Zoe\u{308}", "new_conversation": null, "delay_ms": 0, "conversation": CONV})
        ),
    )
    .unwrap();
    let (code, _, all) = run(&mut batch_cmd(
        &conversation.url(),
        &file,
        &journal,
        &["--delay-ms", "0"],
    ));
    assert_eq!(code, 0, "{all}");
    assert!(
        all.contains("0 sent now, 1 sent by an earlier run"),
        "{all}"
    );
    assert_eq!(conversation.texts().len(), 1);
}
