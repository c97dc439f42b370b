//! Many messages from one run, as an `impl Injector` block of its own:
//! [`Injector::inject_batch`] sends each [`BatchLine`] at most once across
//! any number of runs, through a [`Journal`]. A line already sent is
//! skipped; one whose outcome is unknown is looked for in its conversation,
//! on the communication it was sent as and since a time on the platform's
//! clock that it cannot precede, and sent again only when proved absent;
//! one that failed for a reason that can pass is sent again; one refused
//! for good is reported; one whose id an earlier run used for other content
//! is refused. The CLI's `--batch` is a thin layer over it.
//!
//! The rooms: `options` (the public types), `failure` (what a failure
//! means for a later run), `line` (what the journal says of a line, and
//! what to do), `settle` (a line a run left unsettled), `send` (a line sent
//! now, its records around the message request); this file runs the lines
//! in flight and reports them.

mod failure;
pub use failure::FailureClass;
mod flight;
mod identity;
mod line;
mod options;
mod round;
mod rules;
mod send;
mod settle;
mod summary;
pub use summary::BatchSummary;

pub use options::{
    BatchLine, BatchOptions, LineOutcome, LineReport, DEFAULT_PARALLEL, MAX_PARALLEL,
};
pub use rules::{Deferral, SendWindow, Suppression, Zone};

/// Lines in a row that cannot reach the platform (connection refused, DNS,
/// TLS, the token call) before a batch stops.
pub const UNREACHABLE_IN_A_ROW: usize = 3;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::clock::later;
use crate::journal::Record;
use crate::sync::lock;
use crate::{Error, Injector, Journal};

/// The journal as the lines in flight share it: each takes the lock for
/// one read or one record, never across a request.
type Shared<'a> = Mutex<&'a mut Journal>;

/// Records the line known as `id` as sent (`earlier`: found, not sent now).
#[inline]
pub(super) fn sent(
    journal: &Shared<'_>,
    id: &str,
    fingerprint: &str,
    message_id: Option<String>,
    earlier: bool,
) -> std::io::Result<LineOutcome> {
    let record = Record::Sent {
        message_id: message_id.clone(),
    };
    lock(journal).write(id, fingerprint, record)?;
    Ok(LineOutcome::Sent {
        message_id,
        earlier,
    })
}

// The functions below are `#[inline]`, and called only from the generic
// `inject_batch`: they are compiled in the program that sends a batch, and
// a program that never does links none of them (nor the journal they
// write), which the size guard (benches/size) measures.
impl Injector {
    /// Sends `lines`, each at most once across any number of runs on
    /// `journal`, [`BatchOptions::parallel`] lines in flight at once, and
    /// reports each line as it finishes (to `each`, on the calling thread)
    /// and all of them at the end (in the lines' order). Each line's
    /// records are written in order by the one thread that sends it.
    ///
    /// The journal's records are this batch's ([`Journal::batch_id`]) and
    /// this injector's client's (its token URL and client id): another
    /// batch's or another client's records in the same file are not taken
    /// for them. For each line, by what the journal says of it:
    /// - nothing: sent. `attempting` is on disk just before the message
    ///   request leaves (after the agent lookup, the typing indicator and
    ///   the pacing wait), with the communication it is sent as and a time
    ///   on the platform's clock that the message cannot precede; then
    ///   `sent`, `failed` or `unknown`.
    /// - the same id with other content: [`LineOutcome::Conflict`], nothing
    ///   sent.
    /// - `sent`: skipped ([`LineOutcome::Sent`] with `earlier`).
    /// - `attempting` or `unknown` (a run stopped, or an answer lost): looked
    ///   for on the communication it was sent as (whoever the agent is
    ///   now), since the recorded platform time; found: `sent`; proved
    ///   absent: sent now; cannot tell (the agentless route, a lookup
    ///   without the data, no platform time recorded):
    ///   [`LineOutcome::Unknown`], never sent blindly, unless
    ///   [`BatchOptions::resend_unknown`].
    /// - `failed` for a reason a later run can overcome (401, no connected
    ///   agent, rate limited, a server error, not delivered): sent again;
    ///   refused for good (400, 403, 404): reported with the earlier run's
    ///   reason, unless [`BatchOptions::retry_failed`].
    /// - invalid (it fails validation with this injector's settings):
    ///   reported, nothing written (each run checks it again).
    ///
    /// A 429 is waited out as `Retry-After` says however often it comes: no
    /// line is given up for rate limiting alone before the
    /// [deadline](BatchOptions::deadline). An authentication or permission
    /// failure stops the batch at once (every later line would fail the
    /// same way). The lines not reached (after such a failure, the
    /// deadline or [`BatchOptions::stop`]) are not in the result.
    ///
    /// # Errors
    /// [`Error::Config`] when the journal cannot be written: nothing more is
    /// sent, since a send that cannot be recorded could be repeated.
    ///
    /// # Example
    /// A daily job of SMS reminders, each line known by its order id; a
    /// re-run the same day sends nothing twice:
    /// ```no_run
    /// use genesys_inject::{
    ///     AgentlessTarget, BatchLine, BatchOptions, BatchSummary, ContentBlock, InjectRequest,
    ///     Injector, Journal,
    /// };
    ///
    /// let injector = Injector::from_env()?;
    /// let orders = [("order-1041", "+13175550101"), ("order-1042", "+13175550102")];
    /// let lines: Vec<BatchLine> = orders
    ///     .iter()
    ///     .map(|(id, to)| {
    ///         let sms = AgentlessTarget::sms("+18005550100", *to);
    ///         let text = vec![ContentBlock::text("Your parcel arrives today")];
    ///         BatchLine::new(*id, InjectRequest::agentless(sms, text))
    ///     })
    ///     .collect();
    /// let mut journal = Journal::in_state_dir("/var/lib/genesys-inject", "2026-12-05")?;
    /// let options = BatchOptions::new().send_window("08:00-21:00".parse()?);
    /// let reports = injector.inject_batch(&lines, &mut journal, &options, |line| {
    ///     eprintln!("{}: {:?}", line.id, line.outcome);
    /// })?;
    /// let summary = BatchSummary::of(lines.len(), &reports);
    /// println!("{} sent, {} failed", summary.sent, summary.failed);
    /// std::process::exit(summary.exit_status().into());
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn inject_batch(
        &self,
        lines: &[BatchLine],
        journal: &mut Journal,
        options: &BatchOptions,
        mut each: impl FnMut(&LineReport),
    ) -> Result<Vec<LineReport>, Error> {
        journal.bind(&self.client_key(), self.settings.clock.clone());
        // The journal's lifetime: lines past their keeping time forgotten,
        // the file compacted when worth it, and other batches' journals
        // untouched that long removed.
        let keep = options
            .keep_journals
            .unwrap_or(crate::journal::DEFAULT_KEEP_JOURNALS);
        journal.keep(keep).map_err(|e| {
            Error::Config(format!(
                "journal {}: cannot be compacted ({e})",
                journal.path().display()
            ))
        })?;
        journal.sweep(keep);
        // A message a record names settles its line, and no other.
        for id in journal.message_ids() {
            self.memory.claim(id);
        }
        let path = journal.path().to_owned();
        // Each line's content and who it is in the journal, before any is
        // sent: a recipient's lines are matched to its records by content.
        let fingerprints: Vec<Result<identity::Fingerprint, Error>> = lines
            .iter()
            .map(|line| self.fingerprint(&line.request))
            .collect();
        let known: Vec<Option<identity::Fingerprint>> = fingerprints
            .iter()
            .map(|f| f.as_ref().ok().cloned())
            .collect();
        let ids = identity::journal_ids(lines, &known, journal);
        // Whom each line is to, masked: written with its records.
        for (line, id) in lines.iter().zip(&ids) {
            if let Some(id) = id {
                journal.describe(id, identity::recipient_shown(&line.request));
            }
        }
        let (fingerprints, ids) = (&fingerprints, &ids);
        let clock = &*self.settings.clock;
        let deadline = options.deadline.map(|d| later(clock.now(), d));
        let rules = rules::Rules::new(
            options,
            self.settings.state.as_ref(),
            &self.client_key(),
            journal.batch_id(),
            clock,
        )?;
        let journal_batch = journal.batch_id().to_owned();
        let shared: Shared<'_> = Mutex::new(journal);
        let run = round::Run {
            lines,
            fingerprints,
            ids,
            journal: &shared,
            journal_batch,
            options,
            deadline,
            rules: &rules,
            flight: flight::Flight::new(options),
            halt: AtomicBool::new(false),
            unreachable: AtomicUsize::new(0),
        };
        let mut reports = Vec::with_capacity(lines.len());
        let mut emit = |index: usize, outcome: LineOutcome| {
            let report = LineReport {
                index,
                id: ids[index]
                    .clone()
                    .unwrap_or_else(|| lines[index].id.clone()),
                outcome,
            };
            each(&report);
            reports.push(report);
        };
        let mut failed;
        let mut order: Vec<usize> = (0..lines.len()).collect();
        loop {
            // Lines deferred to a window that opens before the deadline,
            // kept back (`wait_for_window`) for another round.
            let mut waiting = Vec::new();
            failed = run.round(
                self,
                &order,
                &mut |index, outcome| match rules::Rules::wait_until(
                    &outcome, options, clock, deadline,
                ) {
                    Some(at) => waiting.push((index, at, outcome)),
                    None => emit(index, outcome),
                },
            );
            let Some(opens) = waiting.iter().map(|(_, at, _)| *at).min() else {
                break;
            };
            let wait = opens.saturating_duration_since(clock.now());
            log::info!(target: "genesys_inject::batch", "{} line(s) wait {} s for their send window", waiting.len(), wait.as_secs());
            crate::clock::stop_with(options.stop.clone());
            let waited = failed.is_none()
                && !run.halt.load(Ordering::SeqCst)
                && crate::clock::pause(clock, wait);
            crate::clock::stop_with(None);
            if !waited {
                // Stopped meanwhile: they stay deferred.
                for (index, _, outcome) in waiting {
                    emit(index, outcome);
                }
                break;
            }
            order = waiting.iter().map(|(index, ..)| *index).collect();
            order.sort_unstable();
        }
        if let Some(e) = failed {
            if let Some(record) = e
                .get_ref()
                .and_then(|e| e.downcast_ref::<rules::Unusable>())
            {
                return Err(Error::Config(format!(
                    "{record}: stopping, so that no recipient's minimum gap is broken"
                )));
            }
            return Err(Error::Config(format!(
                "journal {}: cannot be written ({e}): stopping, so that nothing is sent twice",
                path.display()
            )));
        }
        reports.sort_by_key(|r| r.index);
        Ok(reports)
    }
}
