//! What a batch run says: each line as it finishes (a JSON object of
//! `type` `line`, or an error line), the progress line, the lines whose
//! content changed said once, and the summary that names the batch (a
//! line, or an object of `type` `summary`), its counts and exit status.

use std::time::{Duration, Instant, SystemTime};

use genesys_inject::{BatchSummary, Deferral, FailureClass, LineOutcome, LineReport};
use serde_json::{json, Value};

use crate::output::{cli_message, draw_progress, error_json, print, report};

/// Line numbers shown when many lines share one mistake.
const SHOWN: usize = 20;

/// What became of a run's lines.
#[derive(Default)]
pub(crate) struct Tally {
    /// The file's rows (records), valid or not.
    pub rows: usize,
    /// Invalid rows skipped (`--skip-invalid`): (line number, why).
    pub invalid: Vec<(usize, String)>,
    /// Lines an earlier run sent with other content (their numbers).
    pub conflicts: Vec<usize>,
    pub not_reached: usize,
    /// Lines not sent now for a rule of when they go (their numbers, and
    /// why), past their expiry, or to a suppressed recipient.
    pub deferred: Vec<(usize, Deferral)>,
    pub expired: Vec<usize>,
    pub suppressed: Vec<usize>,
    /// The library's count of each outcome: the counts shown, and the
    /// exit status.
    summary: BatchSummary,
    /// When the sending began, and the last progress line.
    started: Option<Instant>,
    last_draw: Option<Instant>,
    /// Lines in a row (as they finished) that could not reach the
    /// platform.
    unreachable: usize,
}

/// `t` as RFC 3339, in seconds.
fn stamp(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// How long from now until `t`, roughly.
fn from_now(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        .as_secs();
    match secs {
        s if s < 120 => format!("in {s} s"),
        s if s < 7200 => format!("in {} min", s / 60),
        s => format!("in {} h", s / 3600),
    }
}

/// An error object with the fields of a single send's `--json` error.
fn error_object(kind: &str, message: String, outcome: &str) -> Value {
    json!({"kind": kind, "message": message, "outcome": outcome,
        "status": null, "correlation_id": null})
}

/// `numbers` as "3, 7 and 12", at most [`SHOWN`] of them and a count.
pub(crate) fn numbered(numbers: &[usize]) -> String {
    let shown: Vec<String> = numbers.iter().take(SHOWN).map(usize::to_string).collect();
    match numbers.len() {
        0 => String::new(),
        1 => shown[0].clone(),
        n if n <= SHOWN => format!("{} and {}", shown[..n - 1].join(", "), shown[n - 1]),
        n => format!("{} and {} more", shown.join(", "), n - SHOWN),
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

impl Tally {
    /// A run of a file of `rows` rows, `invalid` of them skipped.
    pub fn new(rows: usize, invalid: Vec<(usize, String)>) -> Tally {
        Tally {
            rows,
            summary: BatchSummary::new(rows - invalid.len()),
            invalid,
            ..Tally::default()
        }
    }

    /// The lines that finished, whatever became of them.
    pub fn done(&self) -> usize {
        self.summary.done()
    }

    /// When the first deferred line could go.
    pub fn first_opens(&self) -> Option<SystemTime> {
        self.deferred
            .iter()
            .filter_map(|(_, why)| why.opens())
            .min()
    }

    /// Counts `line` (number `number` of the file, agentless or not), and
    /// returns what to print for it: a JSON object (`json_out`), or an
    /// error line (none for a line sent, nor for a conflict, said once at
    /// the end).
    pub fn line(
        &mut self,
        number: usize,
        line: &LineReport,
        agentless: bool,
        json_out: bool,
    ) -> Option<String> {
        self.started.get_or_insert_with(Instant::now);
        let (ok, message_id, error, earlier) = match &line.outcome {
            LineOutcome::Sent {
                message_id,
                earlier,
            } => (true, message_id.clone(), None, *earlier),
            LineOutcome::Failed {
                class,
                error: Some(e),
                ..
            } => {
                let mut object = error_json(e, agentless)["error"].take();
                if class.stops_the_batch() {
                    object["message"] = format!(
                        "{}; the batch stops here: every later line would fail the same way",
                        cli_message(e, agentless)
                    )
                    .into();
                }
                (false, None, Some(object), false)
            }
            LineOutcome::Failed { class, earlier, .. } => {
                let why = format!(
                    "refused earlier ({class}{}); --retry-failed sends it again",
                    earlier
                        .as_ref()
                        .map_or_else(String::new, |r| format!(": {r}"))
                );
                (
                    false,
                    None,
                    Some(error_object(class.as_str(), why, "not_delivered")),
                    false,
                )
            }
            LineOutcome::Conflict => {
                self.conflicts.push(number);
                let why = "an earlier run of this batch sent this line with other content: nothing sent for it".to_owned();
                (
                    false,
                    None,
                    Some(error_object("conflict", why, "not_delivered")),
                    false,
                )
            }
            LineOutcome::Deferred { why } => {
                self.deferred.push((number, why.clone()));
                let mut object = error_object("deferred", deferral_said(why), "not_delivered");
                object["opens"] = why.opens().map(stamp).into();
                (false, None, Some(object), false)
            }
            LineOutcome::Expired { earlier } => {
                self.expired.push(number);
                let why = if *earlier {
                    "expired: an earlier run found it past its valid_until; not sent"
                } else {
                    "expired: past its valid_until; not sent, and a re-run does not send it"
                };
                (
                    false,
                    None,
                    Some(error_object("expired", why.into(), "not_delivered")),
                    *earlier,
                )
            }
            LineOutcome::Suppressed => {
                self.suppressed.push(number);
                let why = "suppressed: its recipient is on a --suppress list; not sent".to_owned();
                (
                    false,
                    None,
                    Some(error_object("suppressed", why, "not_delivered")),
                    false,
                )
            }
            LineOutcome::Unknown { why } => {
                let why =
                    format!("outcome unknown: {why}; not sent again (--resend-unknown sends it)");
                (
                    false,
                    None,
                    Some(error_object("unknown", why, "unknown")),
                    false,
                )
            }
            _ => (
                false,
                None,
                Some(error_object("other", "?".into(), "not_delivered")),
                false,
            ),
        };
        self.summary.add(&line.outcome);
        self.unreachable = match &line.outcome {
            LineOutcome::Failed {
                class,
                error: Some(_),
                ..
            } if *class == FailureClass::Unreachable => self.unreachable + 1,
            _ => 0,
        };
        if json_out {
            let out = json!({"type": "line", "line": number, "id": line.id, "ok": ok,
                "message_id": message_id, "error": error, "earlier": earlier});
            return Some(format!("{out}\n"));
        }
        // Said once at the end, with the others of their kind.
        let said_once = matches!(
            line.outcome,
            LineOutcome::Conflict
                | LineOutcome::Deferred { .. }
                | LineOutcome::Expired { .. }
                | LineOutcome::Suppressed
        );
        error
            .filter(|_| !said_once)
            .and_then(|e| e["message"].as_str().map(|m| format!("line {number}: {m}")))
    }

    /// Draws the progress line, a few times a second at most, and always
    /// at the end (`total` lines to run).
    pub fn progress(&mut self, total: usize) {
        let done = self.done();
        let due = self
            .last_draw
            .is_none_or(|t: Instant| t.elapsed() >= Duration::from_millis(200));
        if due || done == total {
            self.last_draw = Some(Instant::now());
            let elapsed = self.started.map_or(Duration::ZERO, |s| s.elapsed());
            draw_progress(&format!(
                "inject: {done}/{total} lines: {} sent, {} failed, {} unknown; {}",
                self.summary.sent + self.summary.sent_earlier,
                self.summary.failed + self.conflicts.len(),
                self.summary.unknown,
                pace_shown(self.summary.sent, total - done, elapsed)
            ));
        }
    }

    /// Whether the batch stopped because the platform could not be reached
    /// for lines in a row.
    pub fn unreachable_stop(&self) -> bool {
        self.unreachable >= genesys_inject::UNREACHABLE_IN_A_ROW
    }

    /// The run's exit status: the most serious line's; 1 when lines were
    /// not reached. Invalid lines skipped on purpose (`--skip-invalid`)
    /// fail nothing: they are counted.
    pub fn exit_code(&self) -> u8 {
        let mut code = self.summary.exit_status();
        if code == 0 && self.not_reached > 0 {
            code = 1;
        }
        code
    }

    /// The lines whose content changed since an earlier run sent them,
    /// said once: how many, which, and what to do.
    pub fn conflicts_said(&self, batch_id: &str) -> Option<String> {
        let n = self.conflicts.len();
        let mut numbers = self.conflicts.clone();
        numbers.sort_unstable();
        (n > 0).then(|| {
            format!(
                "{n} line(s) of batch {batch_id:?} were sent by an earlier run with other content (lines {}): nothing is sent for them now. The lines not sent before went out with the new content. To send the new content to everyone again, give the batch a new --batch-id",
                numbered(&numbers)
            )
        })
    }

    /// The lines the rules held back (deferred, expired, suppressed), said
    /// once: how many of each, which, and when the first deferred one
    /// could go.
    pub fn rules_said(&self) -> Vec<String> {
        let mut said = Vec::new();
        // (how many, "line 3" or "lines 3, 7 and 12")
        let numbers = |of: &mut dyn Iterator<Item = usize>| {
            let mut n: Vec<usize> = of.collect();
            n.sort_unstable();
            let word = if n.len() == 1 { "line" } else { "lines" };
            (n.len(), format!("{word} {}", numbered(&n)))
        };
        type OfKind = fn(&Deferral) -> bool;
        let kinds: [(&str, OfKind); 3] = [
            ("outside their send window", |d| matches!(d, Deferral::Window { .. })),
            ("inside their recipient's --min-gap", |d| matches!(d, Deferral::Gap { .. })),
            (
                "without a time zone for the send window: give them a tz key, or --tz-column NAME or --tz ZONE (a NANP number's area code gives one)",
                |d| matches!(d, Deferral::NoZone { .. }),
            ),
        ];
        for (what, of_kind) in kinds {
            let (n, lines) = numbers(
                &mut self
                    .deferred
                    .iter()
                    .filter(|(_, d)| of_kind(d))
                    .map(|(n, _)| *n),
            );
            if n > 0 {
                said.push(format!("{n} line(s) deferred, {what} ({lines}): nothing recorded, a later run sends them"));
            }
        }
        if let Some(first) = self.first_opens() {
            said.push(format!(
                "the first deferred line can go at {} ({})",
                stamp(first),
                from_now(first)
            ));
        }
        let (n, lines) = numbers(&mut self.expired.iter().copied());
        if n > 0 {
            said.push(format!("{n} line(s) expired ({lines}): past their valid_until, never sent; recorded, so a re-run does not send them"));
        }
        let (n, lines) = numbers(&mut self.suppressed.iter().copied());
        if n > 0 {
            said.push(format!("{n} line(s) suppressed ({lines}): their recipient is on a --suppress list; nothing recorded"));
        }
        said
    }

    /// The summary: a line, or a JSON object; `code` the exit status.
    pub fn summary(&self, batch_id: &str, journal: &str, code: u8, json_out: bool) -> String {
        if json_out {
            let out = json!({"type": "summary", "batch_id": batch_id, "lines": self.rows,
                "sent": self.summary.sent, "sent_earlier": self.summary.sent_earlier, "failed": self.summary.failed,
                "unknown": self.summary.unknown, "conflict": self.conflicts.len(),
                "deferred": self.deferred.len(), "expired": self.expired.len(),
                "suppressed": self.suppressed.len(),
                "first_opens": self.first_opens().map(stamp),
                "invalid": self.invalid.len(), "not_reached": self.not_reached,
                "exit_code": code, "journal": journal});
            return format!("{out}\n");
        }
        let mut text = format!(
            "batch {batch_id:?}: {} line(s): {} sent now, {} sent by an earlier run, {} failed, {} unknown",
            self.rows, self.summary.sent, self.summary.sent_earlier, self.summary.failed, self.summary.unknown
        );
        for (n, what) in [
            (
                self.conflicts.len(),
                "with other content than an earlier run sent",
            ),
            (self.deferred.len(), "deferred"),
            (self.expired.len(), "expired"),
            (self.suppressed.len(), "suppressed"),
            (self.invalid.len(), "invalid (skipped)"),
            (self.not_reached, "not reached"),
        ] {
            if n > 0 {
                text.push_str(&format!(", {n} {what}"));
            }
        }
        text.push('\n');
        if self.summary.sent_earlier > 0
            && self.summary.sent_earlier + self.invalid.len() == self.rows
        {
            text.push_str(&format!(
                "every line of batch {batch_id:?} was sent by an earlier run: nothing was sent now. To send the same content again, give a new --batch-id (the date, say)\n"
            ));
        }
        text
    }

    /// Counts the run's lines for the metrics file.
    pub fn count(&self) {
        for (outcome, n) in [
            ("sent", self.summary.sent),
            ("sent_earlier", self.summary.sent_earlier),
            ("failed", self.summary.failed),
            ("unknown", self.summary.unknown),
            ("not_reached", self.not_reached),
            ("conflict", self.conflicts.len()),
            ("deferred", self.deferred.len()),
            ("expired", self.expired.len()),
            ("suppressed", self.suppressed.len()),
            ("invalid", self.invalid.len()),
        ] {
            crate::metrics::count(outcome, n as u64);
        }
    }
}

/// Why a line was deferred, in the command line's words.
fn deferral_said(why: &Deferral) -> String {
    match why {
        Deferral::NoZone { zone: None } => "deferred: no time zone to read the send window in: give the line a tz key, or --tz-column NAME or --tz ZONE".into(),
        other => format!("deferred: {other}"),
    }
}

/// Says each invalid row, at most [`SHOWN`] of them and a count; one
/// mistake that every row shares is said once.
pub(crate) fn invalid_said(invalid: &[(usize, String)], rows: usize) -> String {
    if invalid.len() == rows && rows > 1 && invalid.iter().all(|(_, why)| *why == invalid[0].1) {
        return format!("every line ({rows}): {}", invalid[0].1);
    }
    let mut lines: Vec<String> = invalid
        .iter()
        .take(SHOWN)
        .map(|(n, why)| format!("line {n}: {why}"))
        .collect();
    if invalid.len() > SHOWN {
        lines.push(format!(
            "and {} more invalid line(s)",
            invalid.len() - SHOWN
        ));
    }
    lines.join("\n")
}

/// Prints `text` on standard output, or says why it could not.
pub(crate) fn out(text: &str) -> bool {
    match print(text) {
        Ok(()) => true,
        Err(e) => {
            report(&format!("cannot write to standard output: {e}"));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_numbers_are_cut_to_twenty_and_a_count() {
        assert_eq!(numbered(&[3]), "3");
        assert_eq!(numbered(&[3, 7, 12]), "3, 7 and 12");
        let many: Vec<usize> = (1..=25).collect();
        assert!(numbered(&many).ends_with("20 and 5 more"));
        let same: Vec<(usize, String)> = (2..=31).map(|n| (n, "no phone".to_owned())).collect();
        assert_eq!(invalid_said(&same, 30), "every line (30): no phone");
        let mixed: Vec<(usize, String)> = (2..=31).map(|n| (n, format!("bad {n}"))).collect();
        let said = invalid_said(&mixed, 40);
        assert_eq!(said.lines().count(), 21);
        assert!(said.ends_with("and 10 more invalid line(s)"));
    }
}
