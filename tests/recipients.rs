//! Lines known by who receives them (issue 31): a fixed typo does not send
//! everyone the message again, reordered, re-encoded, cut short or killed,
//! and a journal of the last release resumed. `inject --batch` runs as a
//! child process against a fake platform on 127.0.0.1.

mod common;
#[path = "recipients/csv.rs"]
mod csv;

use common::batch::*;
use common::conversation::{FakeConversation, OnMessage};
use common::recipients::*;
use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::{Arc, Mutex};

fn texts(bodies: &Arc<Mutex<Vec<Value>>>) -> Vec<String> {
    bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| b["textBody"].as_str().unwrap().to_owned())
        .collect()
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
