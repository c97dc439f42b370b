//! `inject`: send one bot message from cron jobs and shell scripts.
//!
//! Install it with `cargo install genesys-inject --features cli`; run
//! `inject --help` (or `cargo run --features cli --bin inject -- --help`)
//! for the whole manual.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use genesys_inject::{
    AgentlessTarget, Attachment, ContentBlock, Error, InjectRequest, Injector, InjectorBuilder,
    MessageStatus, MessagingTemplate, Outcome, Receipt, RetryPolicy, SafetyPolicy,
    MESSAGING_MAX_TEXT_CHARS,
};
use serde_json::{json, Value};

const HELP: &str = "\
inject: put one bot message into a live Genesys Cloud messaging conversation

USAGE:
    inject --conversation ID --communication ID [OPTIONS] (TEXT... | --attach FILE)
    inject --agentless TYPE --from ADDRESS (--to ADDRESS | --contact ID) [OPTIONS] TEXT...
    inject --agentless whatsapp --from ID --to WHATSAPP_ID --template ID [--param NAME=VALUE]...

Each TEXT is one content block; the blocks are joined with no separator.
A TEXT of - reads one block from standard input (once; one trailing line
break is dropped). A TEXT that starts with - goes after --, which ends the
options: inject ... -- '-5 degrees tonight'.

ROUTES:
    --conversation ID       conversation to send into (GUID)
    --communication ID      communication to send as, usually the agent's (GUID)
    --agentless TYPE        send as an API participant instead: webmessaging, sms,
                            open, apple or whatsapp (whatsapp takes --template)
    --from ADDRESS          agentless sender: deployment id (webmessaging), E.164
                            number (sms), integration id (open, apple, whatsapp)
    --to ADDRESS            agentless recipient: E.164 number (sms, apple), WhatsApp
                            id (the number without +), or the open messaging address
    --contact ID            agentless external contact id (GUID; required for
                            webmessaging)
    --new-conversation      agentless: start a new conversation instead of joining
                            the active one
Flags of one route cannot be used with the other; no flag but --param may be
repeated.

CONTENT (one per message: TEXT, a template or a file):
    --template ID           agentless, WhatsApp: the Response Management response
                            whose messaging template is sent
    --param NAME=VALUE      a body parameter of the template (once per parameter)
    --attach FILE           communication route: upload FILE and send it (jpg,
                            png or gif, at most 25 MB)

STATE:
    --state-dir DIR         keep the token and undelivered audit events in DIR
                            (created 0700; refused if others can write to it)
    --no-state              write nothing to disk
    Default: GENESYS_STATE_DIR if set, else $XDG_STATE_HOME/genesys-inject,
    else ~/.local/state/genesys-inject; if that default cannot be used, a
    warning, and the run goes on without state.
    A run posts only the waiting audit events of its own client id and
    WEBHOOK_URL; others' are left alone. An event leaves the outbox when
    the webhook answers 2xx (delivered) or a 4xx other than 408 and 429
    (refused); redirects are not followed. A run waits at most 10 s (the
    token call's timeout) for another run fetching the token.

DELIVERY:
    --wait SECS             after sending, wait up to SECS seconds for the final
                            delivery status (delivered, read, failed) and print it;
                            SECS bounds the whole wait, rate-limit pauses included
                            (the last poll may take 1 s more)
    --resolve               when the answer to the message is lost (outcome
                            unknown), look for it in the conversation and send it
                            again only if the platform proves it is not there; if
                            it cannot tell, exit 5 and send nothing more (needs
                            conversation:message:view; communication route).
                            Worst case: a platform that lists a message more than
                            2 s after it arrives can get 3 copies (1 + 2 resends)

OPTIONS:
    --delay-ms N            wait N milliseconds before typing and sending
                            (at most 600000: ten minutes)
    --dry-run               validate and print the exact request; no network traffic
    --json                  print the receipt, the dry run or the error as one JSON object
    -h, --help              print this help

ENVIRONMENT:
    GENESYS_CLIENT_ID       OAuth client-credentials client id (required to send)
    GENESYS_CLIENT_SECRET   its secret (required to send)
    GENESYS_REGION          AWS region name or domain (default us-east-1)
    GENESYS_BASE_URL        one base URL for token and API calls (mock platforms, gateways)
    WEBHOOK_URL             post each audit event here (set but empty: no webhook)
    GENESYS_STATE_DIR       the state directory (see STATE)
    RUST_LOG                log filter, e.g. genesys_inject=debug (logs go to stderr;
                            never ureq=trace in production: it prints the token)

EXIT STATUS:
    0   sent (or dry run valid), even if printing the receipt then failed
        (that failure is reported on standard error)
    1   other failure (printing a dry run or this help included)
    2   invalid input or configuration
    3   authentication or permission refused
    4   rate limited (retries used up)
    5   outcome unknown: sent, but no answer came back; check the conversation
        before sending again (or use --resolve)
    6   --wait: delivered to the platform, but delivery to the customer failed
";

/// What was asked for on the command line.
#[derive(Default)]
struct Args {
    conversation: Option<String>,
    communication: Option<String>,
    agentless: Option<String>,
    from: Option<String>,
    to: Option<String>,
    contact: Option<String>,
    new_conversation: bool,
    delay_ms: Option<u64>,
    dry_run: bool,
    json: bool,
    state_dir: Option<String>,
    no_state: bool,
    wait_secs: Option<u64>,
    resolve: bool,
    template: Option<String>,
    params: Vec<(String, String)>,
    attach: Option<String>,
    texts: Vec<Text>,
}

enum Text {
    Literal(String),
    Stdin,
}

/// Sets `slot` once: a repeated flag is a usage error, not last-wins.
fn once<T>(slot: &mut Option<T>, flag: &str, value: T) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("{flag} is given twice"));
    }
    *slot = Some(value);
    Ok(())
}

/// A flag's whole-number value.
fn number(flag: &str, value: String, unit: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} takes {unit}, not {value:?}"))
}

/// The arguments, or `None` when help was asked for.
fn parse_args(raw: Vec<OsString>) -> Result<Option<Args>, String> {
    let mut args = Args::default();
    let mut it = raw.into_iter().enumerate();
    let utf8 = |(i, arg): (usize, OsString)| {
        arg.into_string()
            .map_err(|_| format!("argument {} is not valid UTF-8", i + 1))
    };
    let mut switches = std::collections::HashSet::new();
    let mut stdin_seen = false;
    while let Some(next) = it.next() {
        let arg = utf8(next)?;
        // --param is the one flag given once per parameter.
        if arg.starts_with("--")
            && arg.len() > 2
            && arg != "--param"
            && !switches.insert(arg.clone())
        {
            return Err(format!("{arg} is given twice"));
        }
        let mut value = || -> Result<String, String> {
            match it.next().map(utf8).transpose()? {
                Some(v) if v.starts_with('-') => Err(format!(
                    "{arg} needs a value, but the next argument is {v:?}"
                )),
                Some(v) => Ok(v),
                None => Err(format!("{arg} needs a value")),
            }
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--conversation" => once(&mut args.conversation, &arg, value()?)?,
            "--communication" => once(&mut args.communication, &arg, value()?)?,
            "--agentless" => once(&mut args.agentless, &arg, value()?)?,
            "--from" => once(&mut args.from, &arg, value()?)?,
            "--to" => once(&mut args.to, &arg, value()?)?,
            "--contact" => once(&mut args.contact, &arg, value()?)?,
            "--new-conversation" => args.new_conversation = true,
            "--delay-ms" => once(
                &mut args.delay_ms,
                &arg,
                number(&arg, value()?, "milliseconds")?,
            )?,
            "--state-dir" => once(&mut args.state_dir, &arg, value()?)?,
            "--wait" => once(
                &mut args.wait_secs,
                &arg,
                number(&arg, value()?, "seconds")?,
            )?,
            "--resolve" => args.resolve = true,
            "--template" => once(&mut args.template, &arg, value()?)?,
            "--param" => {
                let v = value()?;
                let (name, value) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--param takes NAME=VALUE, not {v:?}"))?;
                args.params.push((name.to_owned(), value.to_owned()));
            }
            "--attach" => once(&mut args.attach, &arg, value()?)?,
            "--no-state" => args.no_state = true,
            "--dry-run" => args.dry_run = true,
            "--json" => args.json = true,
            "--" => {
                for next in it.by_ref() {
                    args.texts.push(Text::Literal(utf8(next)?));
                }
            }
            "-" if stdin_seen => return Err("- is given twice: standard input is read once".into()),
            "-" => {
                stdin_seen = true;
                args.texts.push(Text::Stdin);
            }
            flag if flag.starts_with('-') => {
                return Err(format!(
                    "unknown option {flag} (a TEXT that starts with - goes after --)"
                ))
            }
            _ => args.texts.push(Text::Literal(arg)),
        }
    }
    if args.no_state && args.state_dir.is_some() {
        return Err("--state-dir and --no-state cannot be used together".into());
    }
    Ok(Some(args))
}

/// Reads one block from standard input: at most what the longest message
/// can hold (3 UTF-8 bytes a UTF-16 unit, and a line break), then refuses.
fn read_stdin() -> Result<String, String> {
    let cap = MESSAGING_MAX_TEXT_CHARS * 3 + 2;
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(cap as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    if bytes.len() > cap {
        return Err(format!(
            "standard input is longer than a message can be ({MESSAGING_MAX_TEXT_CHARS} UTF-16 units)"
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| "standard input is not valid UTF-8")?;
    let text = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    Ok(text.to_owned())
}

/// The flags of the route not taken, if any was given.
fn stray_flags(args: &Args, agentless: bool) -> Option<&'static str> {
    let given = |flag: &'static str, set: bool| set.then_some(flag);
    if agentless {
        given("--conversation", args.conversation.is_some())
            .or(given("--communication", args.communication.is_some()))
            .or(given("--attach", args.attach.is_some()))
    } else {
        given("--from", args.from.is_some())
            .or(given("--to", args.to.is_some()))
            .or(given("--contact", args.contact.is_some()))
            .or(given("--new-conversation", args.new_conversation))
            .or(given("--template", args.template.is_some()))
    }
}

fn build_request(args: &Args) -> Result<InjectRequest, String> {
    let agentless = args.agentless.is_some();
    if let Some(flag) = stray_flags(args, agentless) {
        return Err(if agentless {
            format!("{flag} belongs to the communication route; it cannot be used with --agentless")
        } else {
            format!("{flag} belongs to the agentless route; use it with --agentless")
        });
    }
    let bodies = [
        !args.texts.is_empty(),
        args.template.is_some(),
        args.attach.is_some(),
    ];
    match bodies.iter().filter(|b| **b).count() {
        0 => {
            return Err(
                "give the message as one or more TEXT arguments (or --template, or --attach)"
                    .into(),
            )
        }
        1 => {}
        _ => {
            return Err("a message carries one of TEXT, --template or --attach, not several".into())
        }
    }
    if !args.params.is_empty() && args.template.is_none() {
        return Err("--param goes with --template".into());
    }
    let mut blocks = Vec::new();
    for text in &args.texts {
        blocks.push(ContentBlock::text(match text {
            Text::Literal(text) => text.clone(),
            Text::Stdin => read_stdin()?,
        }));
    }
    let template = args.template.as_ref().map(|id| {
        args.params
            .iter()
            .fold(MessagingTemplate::new(id), |t, (name, value)| {
                t.body_parameter(name, value)
            })
    });
    let attachment = match &args.attach {
        Some(path) => {
            Some(Attachment::from_path(path).map_err(|e| format!("cannot read {path}: {e}"))?)
        }
        None => None,
    };
    let request = match &args.agentless {
        Some(kind) => {
            let from = args.from.clone().ok_or("--agentless needs --from")?;
            let target = match (kind.as_str(), &args.to, &args.contact) {
                ("webmessaging", None, Some(contact)) => {
                    AgentlessTarget::web_messaging(from, contact)
                }
                ("webmessaging", _, _) => {
                    return Err("--agentless webmessaging needs --contact and no --to".into())
                }
                (kind, Some(to), contact) => {
                    let target = match kind {
                        "sms" => AgentlessTarget::sms(from, to),
                        "open" => AgentlessTarget::open(from, to),
                        "apple" => AgentlessTarget::apple(from, to),
                        "whatsapp" => AgentlessTarget::whatsapp(from, to),
                        other => return Err(format!("unknown --agentless type {other:?}")),
                    };
                    // The library checks that this channel takes one.
                    match contact {
                        Some(c) => target.external_contact_id(c),
                        None => target,
                    }
                }
                (kind, None, _) => return Err(format!("--agentless {kind} needs --to")),
            };
            match template {
                Some(template) => InjectRequest::template(target, template),
                None => InjectRequest::agentless(target, blocks),
            }
            .use_existing_conversation(!args.new_conversation)
        }
        None => match (&args.conversation, &args.communication) {
            (Some(conversation), Some(communication)) => match attachment {
                Some(attachment) => {
                    InjectRequest::attachment(conversation, communication, attachment)
                }
                None => InjectRequest::new(conversation, communication, blocks),
            },
            _ => return Err("give --conversation and --communication, or --agentless".into()),
        },
    };
    // The library refuses more than MAX_DELAY, with an audit record.
    Ok(request.delay(Duration::from_millis(args.delay_ms.unwrap_or(0))))
}

fn exit_code(e: &Error) -> u8 {
    match e {
        Error::Validation(_) | Error::Config(_) => 2,
        Error::Auth { .. } | Error::Forbidden { .. } => 3,
        Error::RateLimited { .. } => 4,
        e if e.outcome() == Outcome::Unknown => 5,
        _ => 1,
    }
}

fn error_json(e: &Error) -> Value {
    let status = match e {
        Error::Api { status, .. } => Some(*status),
        Error::Auth { status, .. } => *status,
        Error::Forbidden { .. } => Some(403),
        Error::RateLimited { .. } => Some(429),
        _ => None,
    };
    json!({
        "ok": false,
        "error": {
            "kind": e.kind(),
            "message": e.to_string(),
            "outcome": if e.is_outcome_unknown() { "unknown" } else { "not_delivered" },
            "status": status,
            "correlation_id": e.correlation_id(),
        },
        "exit_code": exit_code(e),
    })
}

fn receipt_json(r: &Receipt, delivery: Option<&Result<MessageStatus, Error>>) -> Value {
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
            out["delivery_error"] = json!(delivery_error(e));
        }
    }
    out
}

/// Writes to standard output without panicking (`println!` panics when
/// standard output is a closed pipe or a full disk).
fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// `text` with its control characters (but line breaks) shown as `\u{..}`:
/// the platform's words must not drive the terminal.
fn printable(text: &str) -> String {
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
fn report(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "inject: {}", printable(text));
}

/// What became of the delivery, in words, when the wait ended in an error.
fn delivery_error(e: &Error) -> String {
    match e {
        Error::Api { status: 404, .. } => {
            "the platform did not list the message before the wait ended".into()
        }
        e => e.to_string(),
    }
}

/// Prints the error as asked and returns its exit status, whether or not
/// the printing worked.
fn fail(json_out: bool, e: &Error) -> ExitCode {
    if json_out {
        if let Err(io) = print(&format!("{}\n", error_json(e))) {
            report(&format!("{e} (and printing the JSON failed: {io})"));
        }
    } else {
        report(&e.to_string());
    }
    ExitCode::from(exit_code(e))
}

fn usage_error(json_out: bool, msg: &str) -> ExitCode {
    if json_out {
        let out = json!({"ok": false, "error": {"kind": "usage", "message": msg, "outcome": "not_delivered"}, "exit_code": 2});
        if print(&format!("{out}\n")).is_ok() {
            return ExitCode::from(2);
        }
    }
    report(&format!("{msg}\nRun with --help for usage."));
    ExitCode::from(2)
}

/// The injector of the environment, with the state directory the flags,
/// `GENESYS_STATE_DIR` or the default name.
fn injector(args: &Args) -> Result<Injector, Error> {
    let mut builder = InjectorBuilder::from_env()?;
    if args.resolve {
        builder = builder.retry_policy(RetryPolicy::default().resolve_unknown(true));
    }
    if args.no_state {
        return builder.no_state_dir().build();
    }
    if let Some(dir) = &args.state_dir {
        return builder.state_dir(dir).build();
    }
    if std::env::var_os("GENESYS_STATE_DIR").is_some() {
        return builder.build();
    }
    let Some(dir) = default_state_dir() else {
        report("warning: no home directory (HOME unset): running without a state directory");
        return builder.build();
    };
    match builder.clone().state_dir(&dir).build() {
        Ok(injector) => Ok(injector),
        Err(first) => {
            let injector = builder.build()?;
            report(&format!(
                "warning: {first}; running without a state directory (--no-state silences this)"
            ));
            Ok(injector)
        }
    }
}

/// `$XDG_STATE_HOME/genesys-inject`, else `~/.local/state/genesys-inject`.
fn default_state_dir() -> Option<PathBuf> {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let base = absolute("XDG_STATE_HOME")
        .or_else(|| absolute("HOME").map(|home| home.join(".local").join("state")))?;
    Some(base.join("genesys-inject"))
}

/// Prints what a command produced; a failure to print it is exit 1.
fn output(text: &str) -> ExitCode {
    match print(text) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&format!("cannot write to standard output: {e}"));
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let raw: Vec<OsString> = std::env::args_os().skip(1).collect();
    let json_out = raw.iter().any(|a| a == "--json");
    let args = match parse_args(raw) {
        Ok(None) => return output(HELP),
        Ok(Some(args)) => args,
        Err(msg) => return usage_error(json_out, &msg),
    };
    let request = match build_request(&args) {
        Ok(request) => request,
        Err(msg) => return usage_error(json_out, &msg),
    };
    let check = || request.prepare(MESSAGING_MAX_TEXT_CHARS, &SafetyPolicy::default());

    if args.dry_run {
        let prepared = match check() {
            Ok(prepared) => prepared,
            Err(e) => return fail(args.json, &Error::Validation(e)),
        };
        let upload = prepared.upload();
        let text = if args.json {
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
                format!(
                    "POST {path}\n{body}\nPUT (the uploadUrl it answers, with its uploadHeaders)\n"
                )
            });
            format!("{first}POST {}\n{}\n", prepared.path(), prepared.body())
        };
        return output(&text);
    }

    let injector = match injector(&args) {
        Ok(injector) => injector,
        // Nothing can be sent (or audited) without a configuration; an
        // invalid request is the more useful thing to report.
        Err(config) => {
            return match check() {
                Err(invalid) => fail(args.json, &Error::Validation(invalid)),
                Ok(_) => fail(args.json, &config),
            }
        }
    };
    // Validation happens inside `inject`, so that a refused request leaves
    // the same audit record and webhook event as in any other program.
    let receipt = match injector.inject(&request) {
        Ok(receipt) => receipt,
        Err(e) => return fail(args.json, &e),
    };
    let id = receipt
        .message_id
        .as_deref()
        .unwrap_or("(no id in the answer)");
    let delivery = args
        .wait_secs
        .map(|secs| injector.wait_for_delivery(&receipt, Duration::from_secs(secs)));
    let text = if args.json {
        format!("{}\n", receipt_json(&receipt, delivery.as_ref()))
    } else {
        let resolved = if receipt.resolved {
            ", found in the conversation after its answer was lost"
        } else {
            ""
        };
        let delivered = match &delivery {
            None => String::new(),
            Some(Ok(status)) if status.is_final() => format!("; delivery: {status}"),
            Some(Ok(status)) => format!("; delivery: {status} (not final yet)"),
            Some(Err(e)) => format!("; delivery status unknown: {}", delivery_error(e)),
        };
        format!(
            "sent: message {id} ({} attempt(s){resolved}){delivered}\n",
            receipt.attempts
        )
    };
    let text = if args.json { text } else { printable(&text) };
    if let Err(e) = print(&text) {
        // The message is in the conversation: exit 0, so that a wrapper
        // that retries on failure does not send it twice.
        report(&format!(
            "the message was sent (message {id}), but printing the receipt failed: {e}"
        ));
    }
    match delivery {
        Some(Ok(status)) if status.is_failure() => ExitCode::from(6),
        _ => ExitCode::SUCCESS,
    }
    // Dropping the injector here posts any queued webhook events.
}
