//! `inject`: send one bot message from cron jobs and shell scripts.
//!
//! Run `cargo run --example inject -- --help` for the whole manual.

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use genesys_inject::{
    AgentlessTarget, ContentBlock, Error, InjectRequest, Injector, Outcome, Receipt, SafetyPolicy,
    MESSAGING_MAX_TEXT_CHARS,
};
use serde_json::{json, Value};

const HELP: &str = "\
inject: put one bot message into a live Genesys Cloud messaging conversation

USAGE:
    inject --conversation ID --communication ID [OPTIONS] TEXT...
    inject --agentless TYPE --from ADDRESS (--to ADDRESS | --contact ID) [OPTIONS] TEXT...

Each TEXT is one content block; the blocks are joined with no separator.
A TEXT of - reads one block from standard input.

ROUTES:
    --conversation ID       conversation to send into (GUID)
    --communication ID      communication to send as, usually the agent's (GUID)
    --agentless TYPE        send as an API participant instead: webmessaging, sms,
                            open or apple (whatsapp needs a template: refused)
    --from ADDRESS          agentless sender: deployment id (webmessaging), E.164
                            number (sms), integration id (open, apple)
    --to ADDRESS            agentless recipient: E.164 number (sms, apple), or the
                            open messaging address
    --contact ID            agentless external contact id (GUID; required for
                            webmessaging)
    --new-conversation      agentless: start a new conversation instead of joining
                            the active one

OPTIONS:
    --delay-ms N            wait N milliseconds before typing and sending
    --dry-run               validate and print the exact request; no network traffic
    --json                  print the receipt, the dry run or the error as one JSON object
    -h, --help              print this help

ENVIRONMENT:
    GENESYS_CLIENT_ID       OAuth client-credentials client id (required to send)
    GENESYS_CLIENT_SECRET   its secret (required to send)
    GENESYS_REGION          AWS region name or domain (default us-east-1)
    GENESYS_BASE_URL        one base URL for token and API calls (mock platforms, gateways)
    WEBHOOK_URL             post each audit event here
    RUST_LOG                log filter, e.g. genesys_inject=debug (logs go to stderr;
                            never ureq=trace in production: it prints the token)

EXIT STATUS:
    0   sent (or dry run valid)
    1   other failure
    2   invalid input or configuration
    3   authentication or permission refused
    4   rate limited (retries used up)
    5   outcome unknown: sent, but no answer came back; check the conversation
        before sending again
";

#[derive(Default)]
struct Args {
    conversation: Option<String>,
    communication: Option<String>,
    agentless: Option<String>,
    from: Option<String>,
    to: Option<String>,
    contact: Option<String>,
    new_conversation: bool,
    delay_ms: u64,
    dry_run: bool,
    json: bool,
    texts: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            "--conversation" => args.conversation = Some(value("--conversation")?),
            "--communication" => args.communication = Some(value("--communication")?),
            "--agentless" => args.agentless = Some(value("--agentless")?),
            "--from" => args.from = Some(value("--from")?),
            "--to" => args.to = Some(value("--to")?),
            "--contact" => args.contact = Some(value("--contact")?),
            "--new-conversation" => args.new_conversation = true,
            "--delay-ms" => {
                let v = value("--delay-ms")?;
                args.delay_ms = v
                    .parse()
                    .map_err(|_| format!("--delay-ms takes milliseconds, not {v:?}"))?;
            }
            "--dry-run" => args.dry_run = true,
            "--json" => args.json = true,
            "--" => args.texts.extend(it.by_ref()),
            "-" => args.texts.push(arg),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ => args.texts.push(arg),
        }
    }
    Ok(args)
}

fn build_request(args: &Args) -> Result<InjectRequest, String> {
    let mut blocks = Vec::new();
    for text in &args.texts {
        if text == "-" {
            let mut block = String::new();
            std::io::stdin()
                .read_to_string(&mut block)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
            blocks.push(ContentBlock::text(
                block.strip_suffix('\n').unwrap_or(&block),
            ));
        } else {
            blocks.push(ContentBlock::text(text.as_str()));
        }
    }
    if blocks.is_empty() {
        return Err("give the message as one or more TEXT arguments".into());
    }
    let request = match (&args.agentless, &args.conversation, &args.communication) {
        (Some(kind), None, None) => {
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
                    match contact {
                        Some(c) => target.external_contact_id(c),
                        None => target,
                    }
                }
                (kind, None, _) => return Err(format!("--agentless {kind} needs --to")),
            };
            InjectRequest::agentless(target, blocks)
                .use_existing_conversation(!args.new_conversation)
        }
        (None, Some(conversation), Some(communication)) => {
            InjectRequest::new(conversation, communication, blocks)
        }
        (None, _, _) => {
            return Err("give --conversation and --communication, or --agentless".into())
        }
        (Some(_), _, _) => {
            return Err("--agentless cannot be combined with --conversation/--communication".into())
        }
    };
    Ok(request.delay(Duration::from_millis(args.delay_ms)))
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

fn receipt_json(r: &Receipt) -> Value {
    json!({
        "ok": true,
        "message_id": r.message_id,
        "attempts": r.attempts,
        "conversation_id": r.conversation_id,
        "status": r.status,
        "correlation_id": r.correlation_id,
    })
}

fn fail(json_out: bool, e: &Error) -> ExitCode {
    if json_out {
        println!("{}", error_json(e));
    } else {
        eprintln!("inject: {e}");
    }
    ExitCode::from(exit_code(e))
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => return usage_error(&msg),
    };
    let request = match build_request(&args) {
        Ok(request) => request,
        Err(msg) => return usage_error(&msg),
    };

    // Check the input first, so that it is reported even without credentials.
    let prepared = match request.prepare(MESSAGING_MAX_TEXT_CHARS, &SafetyPolicy::default()) {
        Ok(prepared) => prepared,
        Err(e) => return fail(args.json, &Error::Validation(e)),
    };
    if args.dry_run {
        if args.json {
            let body: Value = serde_json::from_str(prepared.body()).expect("the body is JSON");
            let out = json!({"ok": true, "dry_run": true, "method": "POST", "path": prepared.path(),
                "typing_path": prepared.typing_path(), "body": body, "message_size": prepared.message_size()});
            println!("{out}");
        } else {
            println!("POST {}", prepared.path());
            println!("{}", prepared.body());
        }
        return ExitCode::SUCCESS;
    }

    let injector = match Injector::from_env() {
        Ok(injector) => injector,
        Err(e) => return fail(args.json, &e),
    };
    match injector.inject(&request) {
        Ok(receipt) => {
            if args.json {
                println!("{}", receipt_json(&receipt));
            } else {
                println!(
                    "sent: message {} ({} attempt(s))",
                    receipt
                        .message_id
                        .as_deref()
                        .unwrap_or("(no id in the answer)"),
                    receipt.attempts
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(args.json, &e),
    }
    // Dropping the injector here posts any queued webhook events.
}

fn usage_error(msg: &str) -> ExitCode {
    if std::env::args().any(|a| a == "--json") {
        let out = json!({"ok": false, "error": {"kind": "usage", "message": msg, "outcome": "not_delivered"}, "exit_code": 2});
        println!("{out}");
    } else {
        eprintln!("inject: {msg}\nRun with --help for usage.");
    }
    ExitCode::from(2)
}
