//! `inject`: send one bot message from cron jobs and shell scripts.
//!
//! Install it with `cargo install genesys-inject --features cli`; run
//! `inject --help` (or `cargo run --features cli --bin inject -- --help`)
//! for the whole manual. The files: `args` (the command line, on lexopt),
//! `request` (from the arguments to an `InjectRequest`), `output`
//! (everything printed, and exit statuses), `help` (the manual); this one
//! wires them to the library.

mod args;
mod help;
mod output;
mod request;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use genesys_inject::{
    Error, Injector, InjectorBuilder, RetryPolicy, SafetyPolicy, MESSAGING_MAX_TEXT_CHARS,
};

use args::{parse_args, Args, Parsed};
use help::HELP;
use output::{
    delivery_error, dry_run, fail, output, print, printable, receipt_json, report, usage_error,
};
use request::build_request;

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

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let raw: Vec<OsString> = std::env::args_os().skip(1).collect();
    let json_out = raw.iter().any(|a| a == "--json");
    let args = match parse_args(raw) {
        Ok(Parsed::Help) => return output(HELP),
        Ok(Parsed::Version) => return output(concat!("inject ", env!("CARGO_PKG_VERSION"), "\n")),
        Ok(Parsed::Run(args)) => args,
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
        return output(&dry_run(&prepared, args.json));
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
