//! The file-to-lines step as a library (issue 36, feature `lines`): an
//! embedding program that reads a file with `lines::read_lines` gets the
//! lines `inject --batch` gets from the same file and flags, so the same
//! identities: what the program sent, the command line finds sent, and
//! sends nothing again (and the other way round).
#![cfg(feature = "cli")]

mod common;

use std::process::Command;

use common::batch::{run as run_cli, summary};
use common::sms::SmsPlatform;
use common::*;
use genesys_inject::lines::{read_lines, LineFlags, Text};
use genesys_inject::{BatchLine, BatchOptions, BatchSummary, Injector, Journal, SafetyPolicy};

/// A CRM export: national numbers, a notes column, a name for the
/// template; the third row lacks its phone.
const CSV: &str =
    "phone;name;notes\n(317) 555-0101;Ada;VIP\n317.555.0102;Grace;\n;Linus;no phone\n";
const TEMPLATE: &str = "Hi {name}, your parcel is here";

fn flags() -> LineFlags {
    let mut flags = LineFlags::default();
    flags.agentless = Some("sms".into());
    flags.from = Some("+18005550100".into());
    flags.to_column = Some("phone".into());
    flags.default_country = Some("US".into());
    flags.texts = vec![Text::Literal(TEMPLATE.into())];
    flags
}

/// `inject --batch FILE` with the same flags, on `dir`'s state directory.
fn cli(platform: &SmsPlatform, file: &std::path::Path, dir: &Scratch) -> Command {
    let mut cmd = Command::new(cli_bin());
    cmd.env_clear()
        .env("GENESYS_CLIENT_ID", CLIENT_ID)
        .env("GENESYS_CLIENT_SECRET", CLIENT_SECRET)
        .env("GENESYS_BASE_URL", platform.url())
        .arg("--batch")
        .arg(file)
        .arg("--state-dir")
        .arg(dir.state())
        .args([
            "--agentless",
            "sms",
            "--from",
            "+18005550100",
            "--to-column",
            "phone",
        ])
        .args(["--default-country", "US", "--skip-invalid", "--json"])
        .args(["--rate", "60000", "--sender-rate", "1000", TEMPLATE])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}

/// The program sends `lines` on `dir`'s state directory, batch "default"
/// (as `inject --batch` without `--batch-id`).
fn program_sends(platform: &SmsPlatform, dir: &Scratch, lines: &[BatchLine]) -> BatchSummary {
    let injector = Injector::builder()
        .base_url(platform.url())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .requests_per_minute(None)
        .sender_rate(Some(1000.0))
        .state_dir(dir.state())
        .build()
        .unwrap();
    let mut journal = Journal::in_state_dir(dir.state(), "default").unwrap();
    let reports = injector
        .inject_batch(lines, &mut journal, &BatchOptions::new(), |_| {})
        .unwrap();
    BatchSummary::of(lines.len(), &reports)
}

#[test]
fn what_a_program_sent_from_a_file_the_command_line_finds_sent() {
    let dir = Scratch::new();
    let platform = SmsPlatform::start(None);
    let file = dir.0.join("export.csv");
    std::fs::write(&file, CSV).unwrap();
    // The program: the file's lines, the invalid one said, the rest sent.
    let lines = read_lines(
        CSV.as_bytes(),
        true,
        &dir.0,
        &flags(),
        &SafetyPolicy::default(),
    )
    .unwrap();
    assert_eq!(lines.rows, 3);
    let invalid: Vec<usize> = lines
        .lines
        .iter()
        .filter(|l| l.line.is_err())
        .map(|l| l.number)
        .collect();
    assert_eq!(invalid, [4]);
    let valid: Vec<_> = lines
        .lines
        .into_iter()
        .filter_map(|l| l.line.ok())
        .collect();
    let summary_of_program = program_sends(&platform, &dir, &valid);
    assert_eq!(
        (summary_of_program.sent, summary_of_program.exit_status()),
        (2, 0)
    );
    let mut to = platform.recipients();
    to.sort();
    assert_eq!(to, ["+13175550101", "+13175550102"]);
    // The command line, same file and flags: every line sent earlier.
    let (code, objects, all) = run_cli(&mut cli(&platform, &file, &dir));
    assert_eq!(code, 0, "{all}");
    assert_eq!(summary(&objects)["sent_earlier"], 2, "{all}");
    assert_eq!(summary(&objects)["sent"], 0, "{all}");
    assert_eq!(platform.recipients().len(), 2);
}

#[test]
fn what_the_command_line_sent_a_program_reading_the_file_finds_sent() {
    let dir = Scratch::new();
    let platform = SmsPlatform::start(None);
    let file = dir.0.join("export.csv");
    std::fs::write(&file, CSV).unwrap();
    let (code, objects, all) = run_cli(&mut cli(&platform, &file, &dir));
    assert_eq!(code, 0, "{all}");
    assert_eq!(summary(&objects)["sent"], 2, "{all}");
    let lines = read_lines(
        CSV.as_bytes(),
        true,
        &dir.0,
        &flags(),
        &SafetyPolicy::default(),
    );
    let valid: Vec<_> = lines
        .unwrap()
        .lines
        .into_iter()
        .filter_map(|l| l.line.ok())
        .collect();
    let summary = program_sends(&platform, &dir, &valid);
    assert_eq!((summary.sent, summary.sent_earlier), (0, 2));
    assert_eq!(platform.recipients().len(), 2);
}
