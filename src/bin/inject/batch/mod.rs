//! `inject --batch FILE`: JSON Lines or CSV, one message a line, whose keys
//! are the command line's own flags; a thin layer over
//! `Injector::inject_batch`, in named stages: read the file (`read`), shape
//! each record and say the file's mistakes once (`shape`), make and check
//! each line (`line`, with `phone` and `sms`), validate them and the
//! rules' flags (`when`), run the batch (`send`), report each line
//! (`report`) and the run's end (`finish`). Every line is checked before
//! anything is sent; a journal makes a re-run safe.

mod finish;
mod report;
mod send;
mod when;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use genesys_inject::lines::{self, FileLine};
use genesys_inject::{
    BatchLine, BatchOptions, Injector, Journal, SafetyPolicy, DEFAULT_BATCH_ID,
    MESSAGING_MAX_TEXT_CHARS,
};
use serde_json::json;

use crate::args::Args;
use crate::output::{dry_run, report, usage_error};
use report::{invalid_said, Tally};

/// The largest batch file read.
const MAX_BATCH: u64 = 64 << 20;

/// The flags that only a batch takes.
pub(crate) fn batch_flags(args: &Args) -> Option<&'static str> {
    let given = |flag: &'static str, set: bool| set.then_some(flag);
    given("--journal", args.journal.is_some())
        .or(given("--batch-id", args.batch_id.is_some()))
        .or(given("--deadline", args.deadline.is_some()))
        .or(given("--resend-unknown", args.resend_unknown))
        .or(given("--retry-failed", args.retry_failed))
        .or(given("--skip-invalid", args.skip_invalid))
        .or(given("--parallel", args.parallel.is_some()))
        .or(given("--progress", args.progress))
        .or(given("--to-column", args.to_column.is_some()))
        .or(given(
            "--conversation-column",
            args.conversation_column.is_some(),
        ))
        .or(given("--contact-column", args.contact_column.is_some()))
        .or(given("--id-column", args.id_column.is_some()))
        .or(given("--text-column", args.text_column.is_some()))
        .or(given("--csv-delimiter", args.csv_delimiter.is_some()))
        .or(given("--default-country", args.default_country.is_some()))
        .or(given("--send-window", args.send_window.is_some()))
        .or(given("--tz", args.tz.is_some()))
        .or(given("--tz-column", args.tz_column.is_some()))
        .or(given("--wait-for-window", args.wait_for_window))
        .or(given("--valid-until", args.valid_until.is_some()))
        .or(given("--suppress", !args.suppress.is_empty()))
        .or(given("--suppress-column", args.suppress_column.is_some()))
        .or(given("--min-gap", args.min_gap.is_some()))
        .or(given("--keep-journals", args.keep_journals.is_some()))
}

/// The flags of one message that a batch cannot take as every line's
/// default (the others are: a line's own key wins).
pub(crate) fn message_flags(args: &Args) -> Option<&'static str> {
    let given = |flag: &'static str, set: bool| set.then_some(flag);
    given("--param", !args.params.is_empty()).or(given("--wait", args.wait_secs.is_some()))
}

/// The exit status of a run that a signal stopped: 128 + its number, as a
/// shell reports a process the signal killed.
pub(crate) const SIGINT_STATUS: u8 = 130;
/// See [`SIGINT_STATUS`].
pub(crate) const SIGTERM_STATUS: u8 = 143;

/// The batch file's bytes, its name and the folder its `attach` paths are
/// relative to; `Err`: a usage error's words.
fn read_source(args: &Args) -> Result<(Vec<u8>, String, PathBuf), String> {
    let source = args.batch.as_deref().unwrap_or("-");
    let mut bytes = Vec::new();
    let read = if source == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_BATCH + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(source).and_then(|f| f.take(MAX_BATCH + 1).read_to_end(&mut bytes))
    };
    read.map_err(|e| format!("cannot read the batch {source}: {e}"))?;
    if bytes.len() as u64 > MAX_BATCH {
        return Err(format!(
            "the batch {source} is larger than {MAX_BATCH} bytes"
        ));
    }
    let dir = match source {
        "-" => PathBuf::from("."),
        path => Path::new(path)
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_owned),
    };
    Ok((bytes, source.to_owned(), dir))
}

/// Read, shape and check: the file's lines, or a usage error's words (a
/// mistake of the whole file, said once).
fn stage_lines(args: &Args, policy: &SafetyPolicy) -> Result<(Vec<FileLine>, usize), String> {
    let (bytes, source, dir) = read_source(args)?;
    let csv = source.to_ascii_lowercase().ends_with(".csv");
    let lines = lines::read_lines(&bytes, csv, &dir, &args.line_flags(), policy)
        .map_err(|e| format!("the batch {source}: {e}"))?;
    Ok((lines.lines, lines.rows))
}

/// A dry run: each line's exact requests (and an SMS text's cost), as text
/// or JSON Lines ending in a summary object.
fn dry_run_output(
    parsed: &[FileLine],
    rows: usize,
    invalid: usize,
    batch_id: &str,
    policy: &SafetyPolicy,
    json_out: bool,
) -> ExitCode {
    let mut text = String::new();
    for p in parsed {
        let (Ok(line), sms) = (&p.line, &p.sms) else {
            continue;
        };
        let prepared = line
            .request
            .prepare(MESSAGING_MAX_TEXT_CHARS, policy)
            .expect("validated");
        if json_out {
            let mut object: serde_json::Value =
                serde_json::from_str(&dry_run(&prepared, true)).expect("JSON");
            object["type"] = json!("line");
            object["line"] = json!(p.number);
            object["id"] = json!(line.id);
            if let Some(sms) = sms {
                object["sms"] =
                    json!({"encoding": sms.encoding, "units": sms.units, "segments": sms.segments});
            }
            text.push_str(&format!("{object}\n"));
        } else {
            text.push_str(&format!("# line {} ({})\n", p.number, line.id));
            if let Some(sms) = sms {
                text.push_str(&format!(
                    "# SMS: {}, {} segment(s) ({} {})\n",
                    sms.encoding,
                    sms.segments,
                    sms.units,
                    if sms.encoding == "GSM-7" {
                        "characters"
                    } else {
                        "UTF-16 units"
                    }
                ));
            }
            text.push_str(&dry_run(&prepared, false));
        }
    }
    let valid = rows - invalid;
    if json_out {
        text.push_str(&format!(
            "{}\n",
            json!({"type": "summary", "dry_run": true, "batch_id": batch_id, "lines": rows,
                "valid": valid, "invalid": invalid})
        ));
    } else {
        text.push_str(&format!(
            "# batch {batch_id:?}: {rows} line(s), {valid} valid, {invalid} invalid; nothing sent (dry run)\n"
        ));
    }
    // A dry run is not a run: its exit status only.
    crate::output::output(&text)
}

/// Runs `inject --batch`, in stages: read and shape the file
/// (`stage_lines`), validate its lines and the rules' flags (`validate`),
/// open the journal and the injector (`open`), send (`send::send`), and
/// say how it ended (`finish::finish`).
pub(crate) fn run(
    args: &Args,
    json_out: bool,
    state_dir: Option<PathBuf>,
    policy: &SafetyPolicy,
    injector: impl FnOnce() -> Result<Injector, genesys_inject::Error>,
) -> ExitCode {
    if let Some(flag) = message_flags(args) {
        return usage_error(
            json_out,
            &format!("{flag} describes one message; with --batch each line gives its own (params in the line, no --wait)"),
        );
    }
    let batch_id = args.batch_id.as_deref().unwrap_or(DEFAULT_BATCH_ID);
    let (parsed, rows) = match stage_lines(args, policy) {
        Ok(lines) => lines,
        Err(msg) => return usage_error(json_out, &msg),
    };
    let (rules, invalid) = match validate(args, &parsed, rows) {
        Ok(valid) => valid,
        Err(msg) => return usage_error(json_out, &msg),
    };
    if args.dry_run {
        return dry_run_output(&parsed, rows, invalid.len(), batch_id, policy, json_out);
    }
    let (numbers, lines): (Vec<usize>, Vec<BatchLine>) = parsed
        .into_iter()
        .filter_map(|p| p.line.ok().map(|l| (p.number, l)))
        .unzip();
    let (mut journal, injector) = match open(args, state_dir, batch_id, injector, json_out) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let tally = Tally::new(rows, invalid);
    let sent = send::send(
        args,
        &injector,
        &lines,
        &numbers,
        &mut journal,
        rules,
        tally,
        json_out,
    );
    let code = match sent {
        Ok(sent) => finish::finish(args, sent, lines.len(), batch_id, &journal, json_out),
        Err(e) => crate::output::fail(json_out, false, &e),
    };
    // Dropping the injector here posts any queued webhook events.
    drop(injector);
    code
}

/// The rules' flags as options, and the invalid lines (with their
/// numbers); `Err`: a usage error's words (a mistake in a list, or invalid
/// lines without `--skip-invalid`), said before any line is sent.
fn validate(
    args: &Args,
    parsed: &[FileLine],
    rows: usize,
) -> Result<(BatchOptions, Vec<(usize, String)>), String> {
    let country = args
        .default_country
        .as_deref()
        .map(lines::Country::new)
        .transpose()
        .map_err(|e| e.0);
    let rules = country.and_then(|country| when::options(BatchOptions::new(), args, country))?;
    let invalid: Vec<(usize, String)> = parsed
        .iter()
        .filter_map(|p| p.line.as_ref().err().map(|why| (p.number, why.clone())))
        .collect();
    if !invalid.is_empty() && !args.skip_invalid {
        return Err(format!(
            "{} invalid line(s) of {rows}, nothing sent (--skip-invalid sends the others):\n{}",
            invalid.len(),
            invalid_said(&invalid, rows)
        ));
    }
    if !invalid.is_empty() {
        report(&format!("skipped: {}", invalid_said(&invalid, rows)));
    }
    Ok((rules, invalid))
}

/// The batch's journal and the injector; `Err`: the exit status of the
/// error, said.
fn open(
    args: &Args,
    state_dir: Option<PathBuf>,
    batch_id: &str,
    injector: impl FnOnce() -> Result<Injector, genesys_inject::Error>,
    json_out: bool,
) -> Result<(Journal, Injector), ExitCode> {
    let journal = match (&args.journal, state_dir) {
        (Some(path), _) => Journal::open(path, batch_id),
        (None, Some(dir)) => Journal::in_state_dir(dir, batch_id),
        (None, None) if args.no_state => {
            return Err(usage_error(
                json_out,
                "a batch needs a journal, so that a re-run sends nothing twice: give --journal FILE, or a state directory (not --no-state)",
            ))
        }
        (None, None) => {
            return Err(usage_error(
                json_out,
                &format!(
                    "a batch needs a journal, so that a re-run sends nothing twice, and no state directory can be found to keep it ({} is not set, as under cron): give --state-dir DIR or --journal FILE, or set GENESYS_STATE_DIR",
                    crate::state::state_base_variable(std::env::consts::OS)
                ),
            ))
        }
    };
    let journal = journal.map_err(|e| crate::output::fail(json_out, false, &e))?;
    let injector = injector().map_err(|e| crate::output::fail(json_out, false, &e))?;
    Ok((journal, injector))
}
