//! `inject`: send one bot message from cron jobs and shell scripts.
//!
//! Install it with `cargo install genesys-inject --features cli`; run
//! `inject --help` (or `cargo run --features cli --bin inject -- --help`)
//! for the whole manual. The files: `args` (the command line, on lexopt),
//! `request` (from the arguments to an `InjectRequest`), `output`
//! (everything printed, and exit statuses), `help` (the manual), `flags`
//! (the table of flags) and `generate` (`-h`, the man page and the
//! completions, from that table); this one wires them to the library.

mod args;
mod batch;
mod flags;
mod generate;
mod help;
mod journal;
mod line_flags;
mod metrics;
mod output;
mod state;

use std::ffi::OsString;
use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use genesys_inject::{
    Error, Injector, InjectorBuilder, RetryPolicy, SafetyPolicy, TypingMode,
    MESSAGING_MAX_TEXT_CHARS,
};

use args::{parse_args, Args, Parsed};
use help::HELP;
use output::{
    delivery_error, dry_run, fail, output, print, printable, receipt_json, report, usage_error,
};
use state::{state_base_variable, state_dir_for, state_dir_path};

/// A wait from this long on is announced on standard error.
const LONG_WAIT_MS: u64 = 1000;

/// A line on standard error about what the run is doing, unless `-q`.
fn note(args: &Args, text: &str) {
    if !args.quiet {
        report(text);
    }
}

/// The largest `--safety-rules` file read.
const MAX_RULES_FILE: u64 = 1 << 20;

/// The content rules: `--safety-rules FILE` (one a line: a detector's name
/// or a regular expression; blank lines and lines starting with `#`
/// skipped), none with `--no-safety-rules`, else the library's default. A
/// bad file or line is a usage error naming both.
fn safety_policy(args: &Args) -> Result<SafetyPolicy, String> {
    if args.no_safety_rules {
        return Ok(SafetyPolicy::empty());
    }
    let Some(path) = &args.safety_rules else {
        return Ok(SafetyPolicy::default());
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_RULES_FILE + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("--safety-rules {path}: cannot be read: {e}"))?;
    if bytes.len() as u64 > MAX_RULES_FILE {
        return Err(format!(
            "--safety-rules {path}: larger than {MAX_RULES_FILE} bytes"
        ));
    }
    let text =
        String::from_utf8(bytes).map_err(|_| format!("--safety-rules {path}: not UTF-8 text"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    text.lines()
        .enumerate()
        .map(|(n, line)| (n + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .try_fold(SafetyPolicy::empty(), |policy, (n, rule)| {
            policy.rule(rule).map_err(|e| {
                let why = match e {
                    Error::Config(why) => why,
                    other => other.to_string(),
                };
                format!("--safety-rules {path} line {n}: {why}")
            })
        })
}

/// The injector of the environment, with the state directory the flags,
/// `GENESYS_STATE_DIR` or the default name, and `policy`.
fn injector(args: &Args, policy: &SafetyPolicy) -> Result<Injector, Error> {
    let mut builder = InjectorBuilder::from_env()?.safety_policy(policy.clone());
    if let Some(file) = &args.ca_file {
        builder = builder.ca_file(file);
    }
    if let Some(rate) = args.rate {
        let rate = u32::try_from(rate)
            .map_err(|_| Error::Config(format!("--rate {rate} is more than any budget")))?;
        builder = builder.requests_per_minute(Some(rate));
    }
    if let Some(per_second) = args.sender_rate {
        builder = builder.sender_rate(Some(per_second));
    }
    if args.resolve || args.settle_time.is_some() {
        let mut policy = RetryPolicy::default().resolve_unknown(args.resolve);
        if let Some(secs) = args.settle_time {
            policy = policy.settle_time(Duration::from_secs(secs));
        }
        builder = builder.retry_policy(policy);
    }
    if args.no_typing {
        builder = builder.typing(TypingMode::Off);
    }
    if let Some(file) = &args.audit_log {
        builder = builder.audit_log(file);
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
    let Some(dir) = state_dir_for(std::env::consts::OS, |v| std::env::var_os(v)) else {
        if !args.quiet {
            report(&format!(
                "warning: no per-user state directory ({} unset): running without a state directory",
                state_base_variable(std::env::consts::OS)
            ));
        }
        return builder.build();
    };
    match builder.clone().state_dir(&dir).build() {
        Ok(injector) => Ok(injector),
        Err(first) => {
            let injector = builder.build()?;
            if !args.quiet {
                report(&format!(
                    "warning: {first}; running without a state directory (--no-state silences this)"
                ));
            }
            Ok(injector)
        }
    }
}

/// The logger: `RUST_LOG` when set; else warnings (and rate-limit pauses),
/// without the library's line for a failed injection, which the CLI
/// reports itself; `-q` none; `-v` the library's info lines too.
fn init_logging(args: Option<&Args>) {
    let (quiet, verbose) = args.map_or((false, false), |a| (a.quiet, a.verbose));
    let filter = if quiet {
        "off"
    } else if verbose {
        "info,genesys_inject::inject=off,ureq=warn"
    } else {
        "warn,genesys_inject::inject=off,genesys_inject::gate=info"
    };
    // Through `Stderr`, which clears a batch's progress line first; colours
    // as env_logger would choose them for standard error.
    let style = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        env_logger::WriteStyle::Always
    } else {
        env_logger::WriteStyle::Never
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(filter))
        .target(env_logger::Target::Pipe(Box::new(output::Stderr)))
        .write_style(style)
        .init();
}

fn main() -> ExitCode {
    let raw: Vec<OsString> = std::env::args_os().skip(1).collect();
    let json_out = raw.iter().any(|a| a == "--json");
    let args = match parse_args(raw) {
        Ok(Parsed::Help { long: true }) => return output(HELP),
        Ok(Parsed::Help { long: false }) => return output(&generate::short_help()),
        Ok(Parsed::Generate(kind)) => {
            return match generate::generate(&kind) {
                Ok(text) => output(&text),
                Err(msg) => usage_error(false, &msg),
            }
        }
        Ok(Parsed::Version) => return output(concat!("inject ", env!("CARGO_PKG_VERSION"), "\n")),
        Ok(Parsed::Run(args)) => args,
        Err(msg) => {
            init_logging(None);
            return usage_error(json_out, &msg);
        }
    };
    init_logging(Some(&args));
    output::set_quiet(args.quiet);
    let started = std::time::Instant::now();
    let code = run(&args, json_out);
    // A dry run is not a run: its metrics would hide a failing job.
    if let (Some(path), false) = (&args.metrics_file, args.dry_run) {
        if let Err(msg) = metrics::write(
            std::path::Path::new(path),
            started.elapsed(),
            &args.metrics_labels,
        ) {
            report(&msg);
        }
    }
    code
}

/// The run the parsed arguments ask for.
fn run(args: &Args, json_out: bool) -> ExitCode {
    let policy = match safety_policy(args) {
        Ok(policy) => policy,
        Err(msg) => return usage_error(json_out, &msg),
    };
    if args.journal_view {
        return journal::run(args, json_out, state_dir_path(args));
    }
    if args.batch.is_none() {
        if let Some(flag) = batch::batch_flags(args) {
            return usage_error(json_out, &format!("{flag} goes with --batch"));
        }
    }
    if args.batch.is_some() {
        return batch::run(args, args.json, state_dir_path(args), &policy, || {
            injector(args, &policy)
        });
    }
    let agentless = args.agentless.is_some();
    let request = match genesys_inject::lines::request(&args.line_flags()).map_err(|e| e.0) {
        Ok(request) => request,
        Err(msg) => return usage_error(json_out, &msg),
    };
    let check = || request.prepare(MESSAGING_MAX_TEXT_CHARS, &policy);

    if args.dry_run {
        let prepared = match check() {
            Ok(prepared) => prepared,
            Err(e) => return fail(args.json, agentless, &Error::Validation(e)),
        };
        return output(&dry_run(&prepared, args.json));
    }

    let injector = match injector(args, &policy) {
        Ok(injector) => injector,
        // Nothing can be sent (or audited) without a configuration; an
        // invalid request is the more useful thing to report.
        Err(config) => {
            return match check() {
                Err(invalid) => fail(args.json, agentless, &Error::Validation(invalid)),
                Ok(_) => fail(args.json, agentless, &config),
            }
        }
    };
    // Validation happens inside `inject`, so that a refused request leaves
    // the same audit record and webhook event as in any other program.
    if let Some(ms) = args.delay_ms.filter(|ms| *ms >= LONG_WAIT_MS) {
        note(
            args,
            &format!("waiting {} s before sending (--delay-ms)", ms / 1000),
        );
    }
    let receipt = match injector.inject(&request) {
        Ok(receipt) => receipt,
        Err(e) => {
            metrics::count(
                if e.is_outcome_unknown() {
                    "unknown"
                } else {
                    "failed"
                },
                1,
            );
            return fail(args.json, agentless, &e);
        }
    };
    metrics::count("sent", 1);
    let id = receipt
        .message_id
        .as_deref()
        .unwrap_or("(no id in the answer)");
    let delivery = args.wait_secs.map(|secs| {
        note(
            args,
            &format!("waiting up to {secs} s for the final delivery status (--wait)"),
        );
        injector.wait_for_delivery(&receipt, Duration::from_secs(secs))
    });
    // Sent, whatever the wait found: exit 0 (a wrapper that retries on
    // failure must not send it again), and say so plainly.
    match &delivery {
        Some(Ok(status)) if !status.is_final() => note(
            args,
            &format!("--wait ended without a final delivery status (last seen: {status})"),
        ),
        Some(Err(e)) => note(
            args,
            &format!(
                "--wait ended without a final delivery status: {}",
                delivery_error(e)
            ),
        ),
        _ => {}
    }
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
        Some(Ok(status)) if status.is_failure() => crate::metrics::exit(6),
        _ => crate::metrics::exit(0),
    }
    // Dropping the injector here posts any queued webhook events.
}
