//! A journal from the command line (issue 34): `inject journal` reads the
//! state directory's journals, and a run killed while it compacts one
//! leaves it whole. Child processes, in a test binary of their own: a
//! child forked while an in-process test holds a journal's lock shares
//! that lock until it execs (tests/journal_life.rs runs in process).

mod common;

use std::process::Command;

use common::sms::SmsPlatform;
use common::*;

#[test]
fn inject_journal_lists_the_batches_and_a_batchs_lines() {
    let dir = Scratch::new();
    let platform = SmsPlatform::start(None);
    let file = dir.0.join("sms.jsonl");
    std::fs::write(
        &file,
        "{\"agentless\":\"sms\",\"from\":\"+18005550100\",\"to\":\"+13175550101\",\"text\":\"Hi\",\"id\":\"ada\"}\n",
    )
    .unwrap();
    let state = dir.state();
    let inject = |args: &[&str]| {
        let out = Command::new(cli_bin())
            .env_clear()
            .env("GENESYS_CLIENT_ID", CLIENT_ID)
            .env("GENESYS_CLIENT_SECRET", CLIENT_SECRET)
            .env("GENESYS_BASE_URL", platform.url())
            .args(args)
            .arg("--state-dir")
            .arg(&state)
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = inject(&[
        "--batch",
        file.to_str().unwrap(),
        "--batch-id",
        "2026-12-05",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = inject(&["journal"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("\"2026-12-05\"  1 line(s): 1 sent; last record "),
        "{out}"
    );
    let (code, out, _) = inject(&["journal", "--json"]);
    assert_eq!(code, 0);
    let batch: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(batch["batch_id"], "2026-12-05");
    assert_eq!(batch["states"]["sent"], 1);
    let (code, out, _) = inject(&["journal", "--batch-id", "2026-12-05", "--json"]);
    assert_eq!(code, 0);
    let line: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(line["id"], "ada");
    assert_eq!(line["state"], "sent");
    assert_eq!(line["message_id"], "m-1");
    assert_eq!(line["recipient"], "sms +*******0101");
    assert!(line["at"].as_str().unwrap().ends_with('Z'));
    let (code, out, _) = inject(&["journal", "--batch-id", "2026-12-05"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("ada  sent  20") && out.contains("m-1  sms +*******0101"),
        "{out}"
    );
    // No such batch; a flag that is not the journal's.
    let (code, _, err) = inject(&["journal", "--batch-id", "never"]);
    assert_ne!(code, 0);
    assert!(err.contains("no journal of batch \"never\""), "{err}");
    let (code, _, err) = inject(&["journal", "--dry-run"]);
    assert_eq!(code, 2);
    assert!(err.contains("inject journal takes"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_run_killed_while_it_compacts_the_journal_leaves_it_whole() {
    use common::batch::{batch_cmd, run as run_cli, summary, write_batch};
    use common::conversation::{FakeConversation, OnMessage};
    use std::time::Duration;
    let dir = Scratch::new();
    let conversation = FakeConversation::start(|_| OnMessage::Accept);
    let file = dir.0.join("lines.jsonl");
    let journal = dir.0.join("journal.jsonl");
    write_batch(&file, "Compacted", 200);
    let (code, _, all) = run_cli(&mut batch_cmd(
        &conversation.url(),
        &file,
        &journal,
        &["--json"],
    ));
    assert_eq!(code, 0, "{all}");
    // Two records a line, half of them superseded, past 64 KiB: the next
    // run compacts it first thing.
    let before = std::fs::read(&journal).unwrap();
    assert!(before.len() > 64 << 10, "{}", before.len());
    let mut killed_mid_run = 0;
    for ms in [0u64, 1, 2, 3, 5, 8, 12, 20, 30, 50, 80] {
        std::fs::write(&journal, &before).unwrap();
        let mut child = batch_cmd(&conversation.url(), &file, &journal, &["--json"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill();
        let status = child.wait().unwrap();
        killed_mid_run += usize::from(status.code().is_none());
        // The old file or the new one, whole: every line sent once, by an
        // earlier run, and nothing sent now.
        let (code, objects, all) = run_cli(&mut batch_cmd(
            &conversation.url(),
            &file,
            &journal,
            &["--json"],
        ));
        assert_eq!(code, 0, "killed after {ms} ms: {all}");
        assert_eq!(summary(&objects)["sent_earlier"], 200, "{all}");
        assert_eq!(conversation.texts().len(), 200, "killed after {ms} ms");
        assert!(std::fs::read(&journal).unwrap().len() < before.len());
    }
    println!("killed mid-run {killed_mid_run} times of 11");
    assert!(killed_mid_run > 0);
}
