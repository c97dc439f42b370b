//! A cron binary of one's own: today's CSV export as SMS reminders, read
//! exactly as `inject --batch` reads it (the same lines, so the same
//! journal and identities), sent once each whatever the re-runs, and an
//! exit status as the CLI gives it.
//!
//! ```sh
//! cargo run --features lines --example daily_sms -- today.csv
//! ```
//!
//! `today.csv` has a `phone` and a `name` column. Without
//! `GENESYS_CLIENT_ID` it only shows the lines it would send (and why any
//! is invalid); with it (and `GENESYS_CLIENT_SECRET`, `GENESYS_REGION`) it
//! sends, from a state directory under the system's temporary folder.

use std::process::ExitCode;

use genesys_inject::lines::{read_lines, LineFlags, Text};
use genesys_inject::{
    BatchLine, BatchOptions, BatchSummary, InjectorBuilder, Journal, SafetyPolicy,
};

const SAMPLE: &str = "phone,name\n+13175550101,Ada\n(317) 555-0102,Grace\n";

fn main() -> ExitCode {
    let path = std::env::args().nth(1);
    let bytes = match &path {
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("{path}: {e}");
                return ExitCode::from(2);
            }
        },
        None => SAMPLE.as_bytes().to_vec(),
    };
    // What `inject --batch today.csv --agentless sms --from +18005550100
    // --to-column phone --default-country US 'Hi {name}, …'` says.
    let mut flags = LineFlags::default();
    flags.agentless = Some("sms".into());
    flags.from = Some("+18005550100".into());
    flags.to_column = Some("phone".into());
    flags.default_country = Some("US".into());
    flags.texts = vec![Text::Literal(
        "Hi {name}, your appointment is tomorrow at 10:00".into(),
    )];
    let lines = match read_lines(&bytes, true, ".".as_ref(), &flags, &SafetyPolicy::default()) {
        Ok(lines) => lines,
        Err(e) => {
            eprintln!("the file: {e}");
            return ExitCode::from(2);
        }
    };
    let mut valid = Vec::new();
    for line in lines.lines {
        match line.line {
            Ok(l) => {
                println!("line {}: {} ({:?})", line.number, l.id, line.sms);
                valid.push(l);
            }
            Err(why) => eprintln!("line {}: invalid: {why}", line.number),
        }
    }
    if std::env::var_os("GENESYS_CLIENT_ID").is_none() {
        println!(
            "{} line(s) ready; set GENESYS_CLIENT_ID to send them",
            valid.len()
        );
        return ExitCode::SUCCESS;
    }
    match send(&valid) {
        Ok(summary) => {
            println!(
                "{} sent, {} earlier, {} failed, {} unknown, {} deferred",
                summary.sent,
                summary.sent_earlier,
                summary.failed,
                summary.unknown,
                summary.deferred
            );
            ExitCode::from(summary.exit_status())
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

/// Sends `lines` once each, inside 08:00-21:00 in each recipient's zone.
fn send(lines: &[BatchLine]) -> Result<BatchSummary, Box<dyn std::error::Error>> {
    let state = std::env::temp_dir().join("genesys-inject-daily-sms");
    let injector = InjectorBuilder::from_env()?.state_dir(&state).build()?;
    let mut journal = Journal::in_state_dir(&state, "daily-sms")?;
    let options = BatchOptions::new().send_window("08:00-21:00".parse()?);
    let reports = injector.inject_batch(lines, &mut journal, &options, |report| {
        println!("{}: {:?}", report.id, report.outcome);
    })?;
    Ok(BatchSummary::of(lines.len(), &reports))
}
