//! A CSV export taken as it comes (issue 31): a column never speaks for the
//! command line without a word, the file's mistakes are said once, phone
//! numbers as exports hold them, output that names the batch, and 20,000
//! rows read in one pass.

use crate::common::batch::*;
use crate::common::recipients::*;
use crate::common::*;
use serde_json::{json, Value};
use std::path::Path;

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
