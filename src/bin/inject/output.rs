//! Everything `inject` prints: exit statuses, the receipt, the error, the
//! dry run, as text or JSON; nothing of the platform's words reaches the
//! terminal as control characters. Printing never panics.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use genesys_inject::{Error, MessageStatus, Outcome, PreparedMessage, Receipt};
use serde_json::{json, Value};

/// The exit status of a run that another run of the same batch kept out
/// (sysexits' EX_TEMPFAIL: try again later).
pub(crate) const BUSY_STATUS: u8 = 75;

pub(crate) fn exit_code(e: &Error) -> u8 {
    match e {
        Error::Validation(_) | Error::Config(_) => 2,
        Error::Auth { .. } | Error::Forbidden { .. } => 3,
        Error::RateLimited { .. } => 4,
        Error::Busy { .. } => BUSY_STATUS,
        e if e.outcome() == Outcome::Unknown => 5,
        _ => 1,
    }
}

/// The library's names for what the user typed, and the user's.
const CLI_WORDS: &[(&str, &str)] = &[
    ("conversation_id", "--conversation"),
    ("communication_id", "--communication"),
    ("external_contact_id", "--contact"),
    ("deployment_id", "--from (the deployment id)"),
    ("integration_id", "--from (the integration id)"),
    ("from_address", "--from"),
    ("to_address", "--to"),
    ("response_id", "--template"),
    ("base_url", "GENESYS_BASE_URL"),
    ("webhook_url", "WEBHOOK_URL"),
    (
        " (see attachment_types; the platform's default content profile sends jpg, png and gif)",
        ": inject sends jpg, jpeg, png and gif",
    ),
];

/// The 404 hint of the communication route, which has a conversation.
const CONVERSATION_HINT: &str =
    "; no such conversation or communication: is the conversation still active?";

/// `e` in the words of the command line: its flags and variables, not the
/// library's field names; on the agentless route, no hint about a
/// conversation it does not have.
pub(crate) fn cli_message(e: &Error, agentless: bool) -> String {
    let mut message = e.to_string();
    if agentless {
        message = message.replace(
            CONVERSATION_HINT,
            "; not found: check --from (the deployment or integration) and the recipient",
        );
    }
    for (library, cli) in CLI_WORDS {
        message = message.replace(library, cli);
    }
    message
}

pub(crate) fn error_json(e: &Error, agentless: bool) -> Value {
    let status = e.http_status();
    json!({
        "ok": false,
        "error": {
            "kind": e.kind(),
            "message": cli_message(e, agentless),
            "outcome": if e.is_outcome_unknown() { "unknown" } else { "not_delivered" },
            "status": status,
            "correlation_id": e.correlation_id(),
        },
        "exit_code": exit_code(e),
    })
}

pub(crate) fn receipt_json(r: &Receipt, delivery: Option<&Result<MessageStatus, Error>>) -> Value {
    let mut out = json!({
        "ok": true,
        "message_id": r.message_id,
        "attempts": r.attempts,
        "conversation_id": r.conversation_id,
        "status": r.status,
        "correlation_id": r.correlation_id,
    });
    if r.resolved {
        out["resolved"] = json!(true);
    }
    match delivery {
        None => {}
        Some(Ok(status)) => {
            out["delivery_status"] = json!(status.as_str());
            out["delivery_final"] = json!(status.is_final());
            out["delivery_reason"] = json!(status.reason());
        }
        Some(Err(e)) => {
            out["delivery_status"] = Value::Null;
            out["delivery_final"] = json!(false);
            out["delivery_error"] = json!(delivery_error(e));
        }
    }
    out
}

/// Writes to standard output without panicking (`println!` panics when
/// standard output is a closed pipe or a full disk).
pub(crate) fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// `text` with its control characters (but line breaks) shown as `\u{..}`:
/// the platform's words must not drive the terminal.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' => "\n".to_owned(),
            c if c.is_control() => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// Writes one line to standard error; if even that fails, there is no one
/// left to tell.
/// `-q`: the error summary a `--json` run adds on standard error is left
/// out too.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Sets [`QUIET`].
pub(crate) fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::SeqCst);
}

/// With `--json`, a run that does not exit 0 also says why on standard
/// error, in one line, for cron's mail and a person reading a log (unless
/// `-q`).
pub(crate) fn json_summary(text: &str) {
    if !QUIET.load(Ordering::SeqCst) {
        report(text.lines().next().unwrap_or_default());
    }
}

/// Whether a batch's progress line stands unfinished on standard error:
/// whatever is written there next clears it first.
static PROGRESS_SHOWN: AtomicBool = AtomicBool::new(false);

/// Draws the progress line `text` (no line break): it stays until the next
/// draw, report or log line.
pub(crate) fn draw_progress(text: &str) {
    let _ = write!(std::io::stderr().lock(), "\r\x1b[K{text}");
    PROGRESS_SHOWN.store(true, Ordering::SeqCst);
}

/// Ends the progress line where it stands, with a line break.
pub(crate) fn end_progress() {
    if PROGRESS_SHOWN.swap(false, Ordering::SeqCst) {
        let _ = writeln!(std::io::stderr().lock());
    }
}

/// Standard error for the logger and reports: a progress line standing
/// there is cleared before anything else is written.
pub(crate) struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut err = std::io::stderr().lock();
        if PROGRESS_SHOWN.swap(false, Ordering::SeqCst) {
            err.write_all(b"\r\x1b[K")?;
        }
        err.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

pub(crate) fn report(text: &str) {
    let _ = writeln!(Stderr, "inject: {}", printable(text));
}

/// What became of the delivery, in words, when the wait ended in an error.
pub(crate) fn delivery_error(e: &Error) -> String {
    match e {
        Error::Api { status: 404, .. } => {
            "the platform did not list the message before the wait ended".into()
        }
        e => e.to_string(),
    }
}

/// Prints the error as asked and returns its exit status, whether or not
/// the printing worked.
pub(crate) fn fail(json_out: bool, agentless: bool, e: &Error) -> ExitCode {
    let message = cli_message(e, agentless);
    if json_out {
        match print(&format!("{}\n", error_json(e, agentless))) {
            Err(io) => report(&format!("{message} (and printing the JSON failed: {io})")),
            Ok(()) => json_summary(&message),
        }
    } else {
        report(&message);
    }
    crate::metrics::exit(exit_code(e))
}

pub(crate) fn usage_error(json_out: bool, msg: &str) -> ExitCode {
    if json_out {
        let out = json!({"ok": false, "error": {"kind": "usage", "message": msg, "outcome": "not_delivered"}, "exit_code": 2});
        if print(&format!("{out}\n")).is_ok() {
            json_summary(msg);
            return crate::metrics::exit(2);
        }
    }
    report(&format!("{msg}\nRun with --help for usage."));
    crate::metrics::exit(2)
}

/// Prints what a command produced; a failure to print it is exit 1.
pub(crate) fn output(text: &str) -> ExitCode {
    match print(text) {
        Ok(()) => crate::metrics::exit(0),
        Err(e) => {
            report(&format!("cannot write to standard output: {e}"));
            crate::metrics::exit(1)
        }
    }
}

/// The exact requests of a dry run, as text or one JSON object.
pub(crate) fn dry_run(prepared: &PreparedMessage, json_out: bool) -> String {
    let upload = prepared.upload();
    let text = if json_out {
        let body: Value = serde_json::from_str(prepared.body()).expect("the body is JSON");
        let mut out = json!({"ok": true, "dry_run": true, "method": "POST", "path": prepared.path(),
            "typing_path": prepared.typing_path(), "body": body, "message_size": prepared.message_size()});
        if let Some((path, body)) = upload {
            let body: Value = serde_json::from_str(body).expect("the body is JSON");
            out["upload"] = json!({"method": "POST", "path": path, "body": body});
        }
        format!("{out}\n")
    } else {
        let first = upload.map_or(String::new(), |(path, body)| {
            format!("POST {path}\n{body}\nPUT (the uploadUrl it answers, with its uploadHeaders)\n")
        });
        format!("{first}POST {}\n{}\n", prepared.path(), prepared.body())
    };
    text
}
