//! The report stage of `inject --batch`: what a run says at its end (the
//! lines whose content changed, the rules' lines, an unreachable
//! platform's stop, a signal) and its summary, and its exit status.

use std::process::ExitCode;

use genesys_inject::Journal;

use super::send::Sent;
use super::{SIGINT_STATUS, SIGTERM_STATUS};
use crate::args::Args;
use crate::output::{json_summary, report};

/// Says how the run of `lines` lines ended, and gives its exit status.
pub(crate) fn finish(
    args: &Args,
    sent: Sent,
    lines: usize,
    batch_id: &str,
    journal: &Journal,
    json_out: bool,
) -> ExitCode {
    let Sent {
        mut tally,
        signal,
        mut printed,
    } = sent;
    tally.not_reached = lines - tally.done();
    let mut code = tally.exit_code();
    if let Some(said) = tally.conflicts_said(batch_id) {
        report(&said);
    }
    for said in tally.rules_said() {
        report(&said);
    }
    if tally.unreachable_stop() && tally.not_reached > 0 {
        report(&format!(
            "the platform could not be reached for {} lines in a row: stopped there; {} line(s) not reached, a re-run sends them",
            genesys_inject::UNREACHABLE_IN_A_ROW,
            tally.not_reached
        ));
    }
    if signal != 0 {
        let name = if signal == usize::from(SIGINT_STATUS) {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        // Lines kept waiting for their window are left too.
        let waiting = if args.wait_for_window {
            tally.deferred.len()
        } else {
            0
        };
        if tally.not_reached + waiting > 0 {
            let deferred = if waiting > 0 {
                format!(", {waiting} deferred")
            } else {
                String::new()
            };
            report(&format!(
                "stopped by {name}: {} line(s) not reached{deferred}; a re-run sends them",
                tally.not_reached
            ));
            code = u8::try_from(signal).unwrap_or(SIGTERM_STATUS);
        } else {
            // Every line had started: what happened to them is the status.
            report(&format!(
                "{name} came after the last line started: nothing is left"
            ));
        }
    }
    tally.count();
    let summary = tally.summary(
        batch_id,
        &journal.path().display().to_string(),
        code,
        json_out,
    );
    if json_out && code != 0 {
        let said = tally.summary(batch_id, "", code, false);
        json_summary(&format!(
            "{} (exit {code})",
            said.lines().next().unwrap_or_default()
        ));
    }
    printed &= super::report::out(&summary);
    if !printed && code == 0 {
        code = 1;
    }
    crate::metrics::exit(code)
}
