//! `inject --batch FILE`: JSON Lines, one message a line, whose keys are the
//! command line's own flags; a thin layer over `Injector::inject_batch`.
//! Every line is validated before anything is sent; a journal makes a
//! re-run safe.

use std::collections::HashMap;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use genesys_inject::{
    BatchLine, BatchOptions, Injector, Journal, LineOutcome, LineReport, SafetyPolicy,
    DEFAULT_BATCH_ID, MESSAGING_MAX_TEXT_CHARS,
};
use serde_json::{json, Value};

use crate::args::{Args, Text};
use crate::output::{
    cli_message, draw_progress, dry_run, end_progress, error_json, json_summary, output, print,
    report, usage_error,
};
use crate::request::build_request;
use crate::table::Shape;

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
}

/// The flags of one message that a batch cannot take as every line's
/// default (the others are: a line's own key wins).
pub(crate) fn message_flags(args: &Args) -> Option<&'static str> {
    let given = |flag: &'static str, set: bool| set.then_some(flag);
    given("--param", !args.params.is_empty()).or(given("--wait", args.wait_secs.is_some()))
}

/// A line's flags, as the command line would have given them.
fn line_args(object: &serde_json::Map<String, Value>, dir: &Path) -> Result<Args, String> {
    if let Some(key) = object
        .keys()
        .find(|k| !crate::table::KEYS.contains(&k.as_str()))
    {
        return Err(format!("unknown key {key:?}"));
    }
    let text = |key: &str| -> Result<Option<String>, String> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{key} must be a string")),
        }
    };
    let mut args = Args {
        conversation: text("conversation")?,
        communication: text("communication")?,
        agentless: text("agentless")?,
        from: text("from")?,
        to: text("to")?,
        contact: text("contact")?,
        template: text("template")?,
        attach: text("attach")?.map(|p| dir.join(p).display().to_string()),
        ..Args::default()
    };
    args.new_conversation = match object.get("new_conversation") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("new_conversation must be true or false".into()),
    };
    args.delay_ms = match object.get("delay_ms") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or("delay_ms must be a whole number of milliseconds")?,
        ),
    };
    args.texts = match object.get("text") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![Text::Literal(s.clone())],
        Some(Value::Array(blocks)) => blocks
            .iter()
            .map(|b| b.as_str().map(|s| Text::Literal(s.to_owned())))
            .collect::<Option<_>>()
            .ok_or("text must be a string or an array of strings")?,
        Some(_) => return Err("text must be a string or an array of strings".into()),
    };
    args.params = match object.get("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(params)) => params
            .iter()
            .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
            .collect::<Option<_>>()
            .ok_or("params must map names to strings")?,
        Some(_) => return Err("params must be an object".into()),
    };
    Ok(args)
}

/// A line: its number in the file (from 1), identity and request; or why
/// it is invalid.
struct Parsed {
    number: usize,
    line: Result<BatchLine, String>,
}

/// The lines of the batch file `bytes` (CSV when `csv`, else JSON
/// Lines), shaped as the command line says. A line's identity is its
/// `id`, else a hash of its content and its rank among identical lines:
/// the same lines give the same identities however they are ordered,
/// encoded or cut short.
fn parse(bytes: &[u8], csv: bool, shape: &Shape, dir: &Path, policy: &SafetyPolicy) -> Vec<Parsed> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    // Explicit ids, with the line that gave each first.
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut parsed = Vec::new();
    for record in crate::table::records(bytes, csv) {
        let line = (|| {
            let mut object = shape.apply(record.fields?, csv)?;
            let id = match object.remove("id") {
                None | Some(Value::Null) => None,
                Some(Value::String(id)) if !id.trim().is_empty() => Some(id),
                Some(_) => return Err("id must be a non-empty string".to_owned()),
            };
            if let Some(id) = &id {
                if let Some(first) = ids.get(id) {
                    return Err(format!(
                        "id {id:?} is given twice (line {first} has it): each line needs its own"
                    ));
                }
                ids.insert(id.clone(), record.number);
            }
            let args = line_args(&object, dir)?;
            let request = build_request(&args)?;
            request
                .prepare(MESSAGING_MAX_TEXT_CHARS, policy)
                .map_err(|e| e.to_string())?;
            let id = id.unwrap_or_else(|| {
                // serde_json's maps keep their keys sorted: one canonical form.
                let canonical = Value::Object(object).to_string();
                let rank = seen.entry(canonical.clone()).or_default();
                *rank += 1;
                let hash = fnv1a_128(canonical.as_bytes());
                format!("{hash:032x}#{rank}")
            });
            Ok(BatchLine::new(id, request))
        })();
        parsed.push(Parsed {
            number: record.number,
            line,
        });
    }
    parsed
}

/// The stable 128-bit FNV-1a hash, as the library names its files.
fn fnv1a_128(bytes: &[u8]) -> u128 {
    bytes
        .iter()
        .fold(0x6c62_272e_07bb_0142_62b8_2175_6295_c58d, |h, &b| {
            (h ^ u128::from(b)).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b)
        })
}

/// The exit status of a line, by seriousness: 5 (unknown), 3
/// (authentication or permission), 4 (rate limited), 1, 2 (invalid, or an
/// id reused with other content).
fn severity(outcome: &LineOutcome) -> (u8, u8) {
    match outcome {
        LineOutcome::Sent { .. } => (0, 0),
        LineOutcome::Unknown { .. } => (5, 5),
        LineOutcome::Failed { class, .. } => match class.as_str() {
            "auth" | "forbidden" => (4, 3),
            "rate_limited" => (3, 4),
            "invalid" => (1, 2),
            _ => (2, 1),
        },
        LineOutcome::Conflict => (1, 2),
        _ => (2, 1),
    }
}

/// The progress line's pace and time left, from this run's sends only
/// (`sent`, in `elapsed`; lines sent by an earlier run take no time), once
/// there is something to measure: a second and one send.
fn pace_shown(sent: usize, left: usize, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if sent == 0 || secs < 1.0 {
        return "measuring the pace".into();
    }
    let per_second = sent as f64 / secs;
    format!(
        "{:.0} lines a minute, about {:.0} s left",
        per_second * 60.0,
        left as f64 / per_second
    )
}

/// The exit status of a run that a signal stopped: 128 + its number, as a
/// shell reports a process the signal killed.
pub(crate) const SIGINT_STATUS: u8 = 130;
/// See [`SIGINT_STATUS`].
pub(crate) const SIGTERM_STATUS: u8 = 143;

/// Makes SIGINT and SIGTERM stop the batch between lines: the first sets
/// the returned flag (and records which signal in the second); a second
/// signal ends the process at once, with the same status a kill would have.
fn stop_on_signals() -> (Arc<AtomicBool>, Arc<AtomicUsize>) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::flag;
    let (stop, which) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    for (signal, status) in [(SIGINT, SIGINT_STATUS), (SIGTERM, SIGTERM_STATUS)] {
        // The order matters: the conditional exit sees the flag as the
        // signal before this one left it.
        let registered =
            flag::register_conditional_shutdown(signal, i32::from(status), stop.clone())
                .and_then(|_| flag::register_usize(signal, which.clone(), usize::from(status)))
                .and_then(|_| flag::register(signal, stop.clone()));
        if let Err(e) = registered {
            report(&format!(
                "warning: a signal will stop the batch at once, mid-line: {e}"
            ));
        }
    }
    (stop, which)
}

/// Runs `inject --batch`.
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
    if let Err(e) = read {
        return usage_error(json_out, &format!("cannot read the batch {source}: {e}"));
    }
    if bytes.len() as u64 > MAX_BATCH {
        return usage_error(
            json_out,
            &format!("the batch {source} is larger than {MAX_BATCH} bytes"),
        );
    }
    let dir = match source {
        "-" => PathBuf::from("."),
        path => Path::new(path)
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_owned),
    };
    let shape = match Shape::from_args(args) {
        Ok(shape) => shape,
        Err(msg) => return usage_error(json_out, &msg),
    };
    let csv = source.to_ascii_lowercase().ends_with(".csv");
    let parsed = parse(&bytes, csv, &shape, &dir, policy);
    let invalid: Vec<String> = parsed
        .iter()
        .filter_map(|p| {
            p.line
                .as_ref()
                .err()
                .map(|why| format!("line {}: {why}", p.number))
        })
        .collect();
    if !invalid.is_empty() && !args.skip_invalid {
        let msg = format!(
            "{} invalid line(s), nothing sent (--skip-invalid sends the others):\n{}",
            invalid.len(),
            invalid.join("\n")
        );
        return usage_error(json_out, &msg);
    }
    for why in &invalid {
        report(&format!("skipped: {why}"));
    }
    let (numbers, lines): (Vec<usize>, Vec<BatchLine>) = parsed
        .into_iter()
        .filter_map(|p| p.line.ok().map(|l| (p.number, l)))
        .unzip();
    if args.dry_run {
        let mut text = String::new();
        for (number, line) in numbers.iter().zip(&lines) {
            let prepared = line
                .request
                .prepare(MESSAGING_MAX_TEXT_CHARS, policy)
                .expect("validated");
            text.push_str(&format!("# line {number} ({})\n", line.id));
            text.push_str(&dry_run(&prepared, json_out));
        }
        return output(&text);
    }
    let batch_id = args.batch_id.as_deref().unwrap_or(DEFAULT_BATCH_ID);
    let journal = match (&args.journal, state_dir) {
        (Some(path), _) => Journal::open(path, batch_id),
        (None, Some(dir)) => Journal::in_state_dir(dir, batch_id),
        (None, None) if args.no_state => {
            return usage_error(
                json_out,
                "a batch needs a journal, so that a re-run sends nothing twice: give --journal FILE, or a state directory (not --no-state)",
            )
        }
        (None, None) => {
            return usage_error(
                json_out,
                &format!(
                    "a batch needs a journal, so that a re-run sends nothing twice, and no state directory can be found to keep it ({} is not set, as under cron): give --state-dir DIR or --journal FILE, or set GENESYS_STATE_DIR",
                    crate::state_base_variable(std::env::consts::OS)
                ),
            )
        }
    };
    let mut journal = match journal {
        Ok(journal) => journal,
        Err(e) => return crate::output::fail(json_out, false, &e),
    };
    let injector = match injector() {
        Ok(injector) => injector,
        Err(e) => return crate::output::fail(json_out, false, &e),
    };
    let (stop, signalled) = stop_on_signals();
    let mut options = BatchOptions::new()
        .resend_unknown(args.resend_unknown)
        .retry_failed(args.retry_failed)
        .stop_when(stop);
    if let Some(secs) = args.deadline {
        options = options.deadline(Duration::from_secs(secs));
    }
    if let Some(n) = args.parallel {
        options = options.parallel(n as usize);
    }
    let progress = !args.quiet && (args.progress || std::io::stderr().is_terminal());
    let started = Instant::now();
    let total = lines.len();
    let mut counts = [0usize; 4]; // sent, earlier, failed, unknown
    let mut worst = (0u8, 0u8);
    let mut print_failed = None;
    let mut last_draw = None;
    let result = injector.inject_batch(&lines, &mut journal, &options, |line: &LineReport| {
        let number = numbers[line.index];
        // An error has the fields of a single send's `--json` error.
        let error_object = |kind: &str, message: String, outcome: &str| {
            json!({"kind": kind, "message": message, "outcome": outcome,
                "status": null, "correlation_id": null})
        };
        let (ok, message_id, error, earlier) = match &line.outcome {
            LineOutcome::Sent { message_id, earlier } => {
                counts[if *earlier { 1 } else { 0 }] += 1;
                (true, message_id.clone(), None, *earlier)
            }
            LineOutcome::Failed { class, error: Some(e), .. } => {
                counts[2] += 1;
                let agentless = lines[line.index].request.is_agentless();
                let mut object = error_json(e, agentless)["error"].take();
                if class == "auth" || class == "forbidden" {
                    object["message"] = format!(
                        "{}; the batch stops here: every later line would fail the same way",
                        cli_message(e, agentless)
                    )
                    .into();
                }
                (false, None, Some(object), false)
            }
            LineOutcome::Failed { class, earlier, .. } => {
                counts[2] += 1;
                let why = format!(
                    "refused earlier ({class}{}); --retry-failed sends it again",
                    earlier.as_ref().map_or_else(String::new, |r| format!(": {r}"))
                );
                (false, None, Some(error_object(class, why, "not_delivered")), false)
            }
            LineOutcome::Conflict => {
                counts[2] += 1;
                let why = format!(
                    "id {:?} was recorded by an earlier run of this batch with other content: nothing sent (give the new content a new id, or the batch a new --batch-id)",
                    line.id
                );
                (false, None, Some(error_object("conflict", why, "not_delivered")), false)
            }
            LineOutcome::Unknown { why } => {
                counts[3] += 1;
                let why = format!("outcome unknown: {why}; not sent again (--resend-unknown sends it)");
                (false, None, Some(error_object("unknown", why, "unknown")), false)
            }
            _ => (false, None, Some(error_object("other", "?".into(), "not_delivered")), false),
        };
        worst = worst.max(severity(&line.outcome));
        if json_out {
            let out = json!({"line": number, "id": line.id, "ok": ok, "message_id": message_id,
                "error": error, "earlier": earlier});
            if let Err(e) = print(&format!("{out}\n")) {
                print_failed.get_or_insert(e);
            }
        } else if let Some(why) = error.as_ref().and_then(|e| e["message"].as_str()) {
            report(&format!("line {number}: {why}"));
        }
        let done = counts.iter().sum::<usize>();
        // A few times a second at most, and always at the end.
        let due = last_draw.is_none_or(|t: Instant| t.elapsed() >= Duration::from_millis(200));
        if progress && (due || done == total) {
            last_draw = Some(Instant::now());
            draw_progress(&format!(
                "inject: {done}/{total} lines: {} sent, {} failed, {} unknown; {}",
                counts[0] + counts[1],
                counts[2],
                counts[3],
                pace_shown(counts[0], total - done, started.elapsed())
            ));
        }
    });
    end_progress();
    let reports = match result {
        Ok(reports) => reports,
        Err(e) => return crate::output::fail(json_out, false, &e),
    };
    let not_reached = total - reports.len();
    let mut code = worst.1;
    if code == 0 && (!invalid.is_empty() || not_reached > 0) {
        code = if not_reached > 0 { 1 } else { 2 };
    }
    let signal = signalled.load(Ordering::SeqCst);
    if signal != 0 {
        report(&format!(
            "stopped by {}: {not_reached} line(s) not reached; a re-run sends them",
            if signal == usize::from(SIGINT_STATUS) {
                "SIGINT"
            } else {
                "SIGTERM"
            }
        ));
        code = u8::try_from(signal).unwrap_or(SIGTERM_STATUS);
    }
    let summary = json!({"summary": true, "lines": total, "sent": counts[0],
        "sent_earlier": counts[1], "failed": counts[2], "unknown": counts[3],
        "invalid": invalid.len(), "not_reached": not_reached, "exit_code": code,
        "journal": journal.path().display().to_string()});
    let text = if json_out {
        format!("{summary}\n")
    } else {
        format!(
            "batch: {total} line(s): {} sent now, {} sent by an earlier run, {} failed, {} unknown{}{}\n",
            counts[0],
            counts[1],
            counts[2],
            counts[3],
            if invalid.is_empty() { String::new() } else { format!(", {} invalid (skipped)", invalid.len()) },
            if not_reached > 0 { format!(", {not_reached} not reached") } else { String::new() },
        )
    };
    for (outcome, n) in [
        ("sent", counts[0]),
        ("sent_earlier", counts[1]),
        ("failed", counts[2]),
        ("unknown", counts[3]),
        ("not_reached", not_reached),
    ] {
        crate::metrics::count(outcome, n as u64);
    }
    if json_out && code != 0 {
        json_summary(&format!(
            "batch: {total} line(s): {} sent now, {} sent by an earlier run, {} failed, {} unknown, {} invalid, {not_reached} not reached (exit {code})",
            counts[0],
            counts[1],
            counts[2],
            counts[3],
            invalid.len()
        ));
    }
    if let Err(e) = print(&text)
        .map_err(Some)
        .and(print_failed.map_or(Ok(()), |e| Err(Some(e))))
    {
        report(&format!(
            "cannot write to standard output: {}",
            e.map_or_else(String::new, |e| e.to_string())
        ));
    }
    // Dropping the injector here posts any queued webhook events.
    crate::metrics::exit(code)
}
