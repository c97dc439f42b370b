//! Metrics a monitor can trust (issue 34): a dry run writes none, two
//! jobs' textfiles are told apart by their labels as a Prometheus parser
//! reads them, and invalid lines skipped on purpose fail nothing. `inject`
//! as a child process against fake platforms on 127.0.0.1.

mod common;

use std::collections::HashSet;
use std::path::Path;

use common::batch::*;
use common::rawserver::strict_platform;
use common::*;
use serde_json::json;

/// Three lines to the conversation, the third `bad` when asked (an unknown
/// key: invalid).
fn lines(path: &Path, bad: bool) {
    let mut text: String = (0..2)
        .map(|i| {
            format!(
                "{}\n",
                json!({"conversation": CONV, "communication": COMM, "text": format!("ok {i}")})
            )
        })
        .collect();
    if bad {
        text.push_str(&format!(
            "{}\n",
            json!({"conversation": CONV, "txet": "typo"})
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// Every series of `path`, as (name, sorted labels), by prometheus-parse.
fn series(path: &Path) -> Vec<(String, Vec<(String, String)>)> {
    let text = std::fs::read_to_string(path).unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    scrape
        .samples
        .into_iter()
        .map(|s| {
            let mut labels: Vec<(String, String)> = s
                .labels
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            labels.sort();
            (s.metric, labels)
        })
        .collect()
}

#[test]
fn a_dry_run_writes_no_metrics() {
    let dir = Scratch::new();
    let platform = strict_platform();
    let metrics = dir.0.join("job.prom");
    let file = dir.0.join("b.jsonl");
    lines(&file, false);
    let journal = dir.0.join("journal.jsonl");
    let flags = ["--metrics-file", metrics.to_str().unwrap()];
    // A real run that fails (the platform refuses the secret): exit 3.
    let (code, _, all) =
        run(batch_cmd(&platform.url(), &file, &journal, &flags)
            .env("GENESYS_CLIENT_SECRET", "wrong"));
    assert_eq!(code, 3, "{all}");
    let before = std::fs::read(&metrics).unwrap();
    // A dry run of tomorrow's file: the failure stays for the monitor.
    let (code, _, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &[&flags[..], &["--dry-run"]].concat(),
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(std::fs::read(&metrics).unwrap(), before);
}

#[test]
fn two_labelled_jobs_textfiles_hold_no_identical_series() {
    let dir = Scratch::new();
    let platform = strict_platform();
    let file = dir.0.join("b.jsonl");
    lines(&file, false);
    let mut all_series = Vec::new();
    for job in ["reminders", "invoices"] {
        let metrics = dir.0.join(format!("{job}.prom"));
        let journal = dir.0.join(format!("{job}.jsonl"));
        let (code, _, all) = run(&mut batch_cmd(
            &platform.url(),
            &file,
            &journal,
            &[
                "--metrics-file",
                metrics.to_str().unwrap(),
                "--metrics-label",
                &format!("job={job}"),
                "--metrics-label",
                "team=care \"desk\"",
            ],
        ));
        assert_eq!(code, 0, "{all}");
        let read = series(&metrics);
        assert!(read.len() >= 14, "{read:?}");
        assert!(read
            .iter()
            .all(|(_, labels)| labels.contains(&("job".to_owned(), job.to_owned()))));
        all_series.extend(read);
    }
    // As node-exporter reads both files at once: no series twice.
    let unique: HashSet<_> = all_series.iter().collect();
    assert_eq!(unique.len(), all_series.len());
    // A label name Prometheus would refuse is a usage error.
    let (code, _, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &dir.0.join("x.jsonl"),
        &["--metrics-file", "m.prom", "--metrics-label", "outcome=x"],
    ));
    assert_eq!(code, 2, "{all}");
}

#[test]
fn invalid_lines_skipped_on_purpose_fail_nothing_and_are_counted() {
    let dir = Scratch::new();
    let platform = strict_platform();
    let metrics = dir.0.join("job.prom");
    let file = dir.0.join("b.jsonl");
    lines(&file, true);
    let journal = dir.0.join("journal.jsonl");
    let (code, _, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &[
            "--skip-invalid",
            "--metrics-file",
            metrics.to_str().unwrap(),
        ],
    ));
    assert_eq!(code, 0, "{all}");
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        text.contains("genesys_inject_lines{outcome=\"invalid\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("genesys_inject_lines{outcome=\"sent\"} 2\n"),
        "{text}"
    );
    assert!(
        text.contains("genesys_inject_last_success_timestamp_seconds "),
        "{text}"
    );
}
