//! `inject journal`: what the state directory's journals say, for a
//! person ("who did not get yesterday's SMS?"): the batches (id, lines,
//! last record, lines by state), or with `--batch-id ID` each line of one
//! (its id, state, time, message id, recipient masked); `--json` as JSON
//! Lines. Reads only; a journal a run is writing may lack its last record.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use genesys_inject::Journal;
use serde_json::json;

use crate::args::Args;
use crate::output::{output, usage_error};

fn stamp(t: Option<SystemTime>) -> Option<String> {
    t.map(|t| humantime::format_rfc3339_seconds(t).to_string())
}

/// A flag `inject journal` does not take, if one was given.
fn foreign(args: &Args) -> Option<&'static str> {
    let given = |flag: &'static str, set: bool| set.then_some(flag);
    given("TEXT", !args.texts.is_empty())
        .or(given("--batch", args.batch.is_some()))
        .or(given("--dry-run", args.dry_run))
        .or(given("--conversation", args.conversation.is_some()))
        .or(given("--agentless", args.agentless.is_some()))
        .or(given("--to", args.to.is_some()))
        .or(given("--metrics-file", args.metrics_file.is_some()))
        .or(given("--journal", args.journal.is_some()))
        .or(crate::batch::batch_flags(args).filter(|f| *f != "--batch-id"))
}

/// Runs `inject journal`.
pub(crate) fn run(args: &Args, json_out: bool, state_dir: Option<PathBuf>) -> ExitCode {
    if let Some(flag) = foreign(args) {
        return usage_error(
            json_out,
            &format!("inject journal takes --batch-id ID, --state-dir DIR and --json, not {flag}"),
        );
    }
    let Some(dir) = state_dir else {
        return usage_error(
            json_out,
            "inject journal reads the state directory's journals: give --state-dir DIR (or set GENESYS_STATE_DIR)",
        );
    };
    let mut text = String::new();
    match &args.batch_id {
        None => {
            let batches = match Journal::list(&dir) {
                Ok(batches) => batches,
                Err(e) => return crate::output::fail(json_out, false, &e),
            };
            for b in &batches {
                let id = b.batch_id.clone();
                if json_out {
                    text.push_str(&format!(
                        "{}\n",
                        json!({"type": "batch", "batch_id": id, "lines": b.lines,
                            "last_record": stamp(b.last_record), "states": b.states,
                            "file": b.file.display().to_string()})
                    ));
                } else {
                    let states: Vec<String> =
                        b.states.iter().map(|(s, n)| format!("{n} {s}")).collect();
                    text.push_str(&format!(
                        "{}  {} line(s): {}; last record {}\n",
                        id.map_or_else(
                            || "(batch id not recorded: an older release's journal)".to_owned(),
                            |id| format!("{id:?}")
                        ),
                        b.lines,
                        states.join(", "),
                        stamp(b.last_record).unwrap_or_else(|| "unknown".into()),
                    ));
                }
            }
            if batches.is_empty() && !json_out {
                text.push_str(&format!("no journal in {}\n", dir.display()));
            }
        }
        Some(batch_id) => {
            let lines = match Journal::lines_of(&dir, batch_id) {
                Ok(lines) => lines,
                Err(e) => return crate::output::fail(json_out, false, &e),
            };
            for l in &lines {
                if json_out {
                    text.push_str(&format!(
                        "{}\n",
                        json!({"type": "line", "id": l.id, "state": l.state, "class": l.class,
                            "at": stamp(l.at), "message_id": l.message_id,
                            "recipient": l.recipient})
                    ));
                } else {
                    let state = match &l.class {
                        Some(class) => format!("{} ({class})", l.state),
                        None => l.state.clone(),
                    };
                    text.push_str(&format!(
                        "{}  {state}  {}  {}  {}\n",
                        l.id,
                        stamp(l.at).unwrap_or_else(|| "-".into()),
                        l.message_id.as_deref().unwrap_or("-"),
                        l.recipient.as_deref().unwrap_or("-"),
                    ));
                }
            }
        }
    }
    output(&text)
}
