//! Many messages from one run, as an `impl Injector` block of its own:
//! [`Injector::inject_batch`] sends each [`BatchLine`] at most once across
//! any number of runs, through a [`Journal`]. A line already sent is
//! skipped; one whose outcome is unknown is looked for in its conversation,
//! on the communication it was sent as and since a time on the platform's
//! clock that it cannot precede, and sent again only when proved absent;
//! one that failed for a reason that can pass is sent again; one refused
//! for good is reported; one whose id an earlier run used for other content
//! is refused. The CLI's `--batch` is a thin layer over it.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::clock::later;
use crate::delivery::Since;
use crate::journal::{Attempt, Entry, Reason, Record};
use crate::request::{Content, Route};
use crate::state::fnv1a_128;
use crate::status::{Resolution, Unresolved};
use crate::sync::lock;
use crate::{Error, InjectRequest, Injector, Journal, Outcome, TypingMode};

/// The journal as the lines in flight share it: each takes the lock for
/// one read or one record, never across a request.
type Shared<'a> = Mutex<&'a mut Journal>;

/// One line of a batch: its identity (stable across runs: the journal
/// knows a line by it) and its request.
#[derive(Debug, Clone)]
pub struct BatchLine {
    /// The line's identity: unique in its batch. The journal records the
    /// line's content beside it, and refuses the same id with other
    /// content ([`LineOutcome::Conflict`]).
    pub id: String,
    /// What to send.
    pub request: InjectRequest,
}

impl BatchLine {
    /// A line known as `id`.
    pub fn new(id: impl Into<String>, request: InjectRequest) -> BatchLine {
        BatchLine {
            id: id.into(),
            request,
        }
    }
}

/// How [`Injector::inject_batch`] treats what earlier runs left.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BatchOptions {
    /// Send a line whose outcome is unknown again without looking for it
    /// first (it may then be there twice). Default: false.
    pub resend_unknown: bool,
    /// Send again a line an earlier run saw refused for good (400, 403,
    /// 404). Default: false.
    pub retry_failed: bool,
    /// A bound on the whole run: no wait (a 429's pause, the pace, a
    /// line's delay, typing, lookups) goes past it, a line whose message
    /// would have to wait past it is not started, and no line starts after
    /// it; those are not reached (not in the result; a later run sends
    /// them). A message already on its way gets its answer. Default: none.
    pub deadline: Option<Duration>,
    /// Once this is set (by a signal handler, say), start no more lines:
    /// the line in flight finishes and is recorded, the rest are not
    /// reached. Default: none.
    pub stop: Option<Arc<AtomicBool>>,
    /// How many lines are in flight at once, sharing the injector (its
    /// token, pace and rate-limit gate): enough to keep the budget busy
    /// whatever the round trip. 1 sends them one after another, in order.
    /// Default: [`DEFAULT_PARALLEL`] (4: 300 requests a minute at a 600 ms
    /// round trip need 3).
    pub parallel: usize,
}

/// The default of [`BatchOptions::parallel`].
pub const DEFAULT_PARALLEL: usize = 4;

impl Default for BatchOptions {
    fn default() -> BatchOptions {
        BatchOptions {
            resend_unknown: false,
            retry_failed: false,
            deadline: None,
            stop: None,
            parallel: DEFAULT_PARALLEL,
        }
    }
}

impl BatchOptions {
    /// Every default.
    pub fn new() -> BatchOptions {
        BatchOptions::default()
    }

    /// See [`resend_unknown`](Self::resend_unknown). Default: false.
    pub fn resend_unknown(mut self, yes: bool) -> Self {
        self.resend_unknown = yes;
        self
    }

    /// See [`retry_failed`](Self::retry_failed). Default: false.
    pub fn retry_failed(mut self, yes: bool) -> Self {
        self.retry_failed = yes;
        self
    }

    /// See [`deadline`](Self::deadline). Default: none.
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = Some(d);
        self
    }

    /// See [`parallel`](Self::parallel) (0 counts as 1). Default:
    /// [`DEFAULT_PARALLEL`].
    pub fn parallel(mut self, lines: usize) -> Self {
        self.parallel = lines.max(1);
        self
    }

    /// See [`stop`](Self::stop). Default: none.
    pub fn stop_when(mut self, flag: Arc<AtomicBool>) -> Self {
        self.stop = Some(flag);
        self
    }

    fn stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(|f| f.load(Ordering::SeqCst))
    }
}

/// What became of one line.
#[derive(Debug)]
#[non_exhaustive]
pub enum LineOutcome {
    /// In the conversation: sent now, or by an earlier run (`earlier`).
    Sent {
        /// The message id, when the platform gave one.
        message_id: Option<String>,
        /// Sent (or found) by an earlier run: nothing was sent now.
        earlier: bool,
    },
    /// Not delivered: `error` now, or (`error` `None`) an earlier run's
    /// failure of `class`, not retried. `retry`: a later run sends it again
    /// without being asked.
    Failed {
        /// The failure's class: refused for good: `invalid`, `refused`
        /// (400, 404), `forbidden` (403); can pass: `auth` (401),
        /// `no_agent`, `rate_limited`, `server`, `not_delivered`.
        class: String,
        /// This run's error, if this run tried.
        error: Option<Error>,
        /// Whether a later run sends it again.
        retry: bool,
        /// An earlier run's reason, as the platform gave it (status, code,
        /// correlation id), when this run did not try.
        earlier: Option<String>,
    },
    /// Maybe in the conversation, maybe not: never sent again blindly (see
    /// [`BatchOptions::resend_unknown`]).
    Unknown {
        /// Why it could not be settled.
        why: String,
    },
    /// An earlier run of this batch recorded this line's id with other
    /// content: nothing is sent for it (give the new content a new id, or
    /// the batch a new id).
    Conflict,
}

/// One line's report.
#[derive(Debug)]
#[non_exhaustive]
pub struct LineReport {
    /// The line's place in the batch, from 0.
    pub index: usize,
    /// Its identity.
    pub id: String,
    /// What became of it.
    pub outcome: LineOutcome,
}

/// The class of a failure, and whether a later run can succeed.
fn classify(e: &Error) -> (&'static str, bool) {
    match e {
        Error::Validation(_) | Error::Config(_) => ("invalid", false),
        // A secret that is wrong today may be fixed by the next run.
        Error::Auth { .. } => ("auth", true),
        Error::Forbidden { .. } => ("forbidden", false),
        Error::RateLimited { .. } => ("rate_limited", true),
        // An agent may join the conversation before the next run.
        Error::NoConnectedAgent { .. } => ("no_agent", true),
        Error::Api {
            status: 400 | 403 | 404,
            ..
        } => ("refused", false),
        Error::Api { status, .. } if *status >= 500 => ("server", true),
        _ => ("not_delivered", true),
    }
}

/// What the platform said of a failure, to keep in the journal.
fn reason(e: &Error) -> Reason {
    let (status, code) = match e {
        Error::Api { status, code, .. } => (Some(*status), code.clone()),
        Error::Auth { status, error, .. } => (*status, error.clone()),
        Error::Forbidden { .. } => (Some(403), None),
        Error::RateLimited { .. } => (Some(429), None),
        _ => (None, None),
    };
    Reason {
        status,
        code,
        correlation_id: e.correlation_id().map(str::to_owned),
    }
}

impl Reason {
    /// "HTTP 400, bad.request, correlation id X", or `None` when empty.
    fn shown(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(status) = self.status {
            parts.push(format!("HTTP {status}"));
        }
        if let Some(code) = &self.code {
            parts.push(code.clone());
        }
        if let Some(id) = &self.correlation_id {
            parts.push(format!("correlation id {id}"));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// Records `line` as sent (`earlier`: found, not sent now).
#[inline]
fn sent(
    journal: &Shared<'_>,
    line: &BatchLine,
    fingerprint: &str,
    message_id: Option<String>,
    earlier: bool,
) -> std::io::Result<LineOutcome> {
    let record = Record::Sent {
        message_id: message_id.clone(),
    };
    lock(journal).write(&line.id, fingerprint, record)?;
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
    pub fn inject_batch(
        &self,
        lines: &[BatchLine],
        journal: &mut Journal,
        options: &BatchOptions,
        mut each: impl FnMut(&LineReport),
    ) -> Result<Vec<LineReport>, Error> {
        journal.bind(&self.client_key());
        let path = journal.path().to_owned();
        let clock = &*self.settings.clock;
        let deadline = options.deadline.map(|d| later(clock.now(), d));
        let shared: Shared<'_> = Mutex::new(journal);
        // The next line to start; set `halt` to start no more.
        let (next, halt) = (AtomicUsize::new(0), AtomicBool::new(false));
        let mut reports = Vec::with_capacity(lines.len());
        let mut failed = None;
        std::thread::scope(|scope| {
            let (done, finished) = mpsc::channel();
            for _ in 0..options.parallel.clamp(1, lines.len().max(1)) {
                let done = done.clone();
                let (shared, next, halt) = (&shared, &next, &halt);
                scope.spawn(move || loop {
                    let stopped = options.stopped() || deadline.is_some_and(|d| clock.now() >= d);
                    if stopped || halt.load(Ordering::SeqCst) {
                        break;
                    }
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(line) = lines.get(index) else {
                        break;
                    };
                    let outcome = match self.fingerprint(&line.request) {
                        Err(e) => Ok(LineOutcome::Failed {
                            class: "invalid".into(),
                            error: Some(e),
                            retry: false,
                            earlier: None,
                        }),
                        Ok(fingerprint) => {
                            match self.line(line, &fingerprint, shared, options, deadline) {
                                Ok(Some(outcome)) => Ok(outcome),
                                // Not reached: neither is any line after.
                                Ok(None) => {
                                    halt.store(true, Ordering::SeqCst);
                                    break;
                                }
                                Err(e) => Err(e),
                            }
                        }
                    };
                    // Every later line would fail the same way; a journal
                    // that cannot be written could let a line go twice.
                    let stop = match &outcome {
                        Ok(LineOutcome::Failed {
                            class,
                            error: Some(_),
                            ..
                        }) => class == "auth" || class == "forbidden",
                        Ok(_) => false,
                        Err(_) => true,
                    };
                    if stop {
                        halt.store(true, Ordering::SeqCst);
                    }
                    if done.send((index, outcome)).is_err() || stop {
                        break;
                    }
                });
            }
            drop(done);
            // Each line is reported here, on the caller's thread, as it
            // finishes.
            for (index, outcome) in finished {
                match outcome {
                    Ok(outcome) => {
                        let auth = matches!(&outcome, LineOutcome::Failed { class, error: Some(_), .. } if class == "auth" || class == "forbidden");
                        let report = LineReport {
                            index,
                            id: lines[index].id.clone(),
                            outcome,
                        };
                        each(&report);
                        reports.push(report);
                        if auth {
                            // A failure the caller reports itself, as the
                            // line each failed `inject` writes.
                            log::error!(target: crate::injector::FAILURE_TARGET, "authentication or permission refused: the batch stops here (every later line would fail the same way)");
                        }
                    }
                    Err(e) => {
                        failed.get_or_insert(e);
                    }
                }
            }
        });
        if let Some(e) = failed {
            return Err(Error::Config(format!(
                "journal {}: cannot be written ({e}): stopping, so that nothing is sent twice",
                path.display()
            )));
        }
        reports.sort_by_key(|r| r.index);
        Ok(reports)
    }

    /// What a line's content is, as the journal compares it: a hash of the
    /// exact request (route, body, attachment).
    #[inline]
    fn fingerprint(&self, request: &InjectRequest) -> Result<String, Error> {
        let prepared = self.prepare(request)?;
        let mut bytes = Vec::with_capacity(prepared.path.len() + prepared.body.len() + 2);
        bytes.extend_from_slice(prepared.path.as_bytes());
        bytes.push(b'\n');
        bytes.extend_from_slice(&prepared.body);
        if let (Some(upload), Content::Attachment(attachment)) =
            (&prepared.upload, &request.content)
        {
            bytes.push(b'\n');
            bytes.extend_from_slice(&upload.body);
            bytes.extend_from_slice(&fnv1a_128(&attachment.bytes).to_le_bytes());
        }
        Ok(format!("{:032x}", fnv1a_128(&bytes)))
    }

    /// One line, by what the journal says of it; `None`: not reached (the
    /// deadline or a stop came before its message left).
    #[inline]
    fn line(
        &self,
        line: &BatchLine,
        fingerprint: &str,
        journal: &Shared<'_>,
        options: &BatchOptions,
        deadline: Option<std::time::Instant>,
    ) -> std::io::Result<Option<LineOutcome>> {
        let last = lock(journal).last(&line.id).cloned();
        let Some(Entry {
            record,
            fingerprint: recorded,
        }) = last
        else {
            return self.send(line, fingerprint, journal, options, deadline);
        };
        if recorded != fingerprint {
            return Ok(Some(LineOutcome::Conflict));
        }
        Ok(Some(match record {
            Record::Sent { message_id } => LineOutcome::Sent {
                message_id,
                earlier: true,
            },
            Record::Failed {
                class,
                retry: false,
                reason,
            } if !options.retry_failed => LineOutcome::Failed {
                class,
                error: None,
                retry: false,
                earlier: reason.shown(),
            },
            Record::Attempting(attempt) | Record::Unknown(attempt) if !options.resend_unknown => {
                match self.settle(line, &attempt, deadline) {
                    Resolution::Delivered(receipt) => {
                        sent(journal, line, fingerprint, receipt.message_id, true)?
                    }
                    Resolution::NotDelivered => {
                        return self.send(line, fingerprint, journal, options, deadline)
                    }
                    Resolution::Unknown(why) => {
                        lock(journal).write(&line.id, fingerprint, Record::Unknown(attempt))?;
                        LineOutcome::Unknown {
                            why: why.to_string(),
                        }
                    }
                }
            }
            _ => return self.send(line, fingerprint, journal, options, deadline),
        }))
    }

    /// Whether `line`, attempted as `attempt` says, is in its conversation:
    /// looked for on the communication it was sent as, since the platform
    /// time recorded (this machine's clock then is not trusted: it may
    /// have been stepped since).
    #[inline]
    fn settle(
        &self,
        line: &BatchLine,
        attempt: &Attempt,
        deadline: Option<std::time::Instant>,
    ) -> Resolution {
        let Route::Communication {
            communication_id, ..
        } = &line.request.route
        else {
            return Resolution::Unknown(Unresolved::NoConversation);
        };
        let request = match (communication_id, &attempt.communication) {
            (Some(_), _) => line.request.clone(),
            (None, Some(sent_as)) => line.request.sent_as(sent_as.clone()),
            (None, None) => {
                return Resolution::Unknown(Unresolved::Incomplete(
                    "the journal does not say which communication it was sent as".into(),
                ))
            }
        };
        let Some(platform_at) = attempt.platform_at else {
            return Resolution::Unknown(Unresolved::NoPlatformTime);
        };
        let since = Since::Platform(platform_at);
        match self.resolve_since(&request, since, deadline) {
            // Not there at once: look again once the platform has had a
            // moment to list what it received.
            Resolution::NotDelivered => {
                self.settings.clock.sleep(crate::injector::RESOLVE_PAUSE);
                self.resolve_since(&request, since, deadline)
            }
            other => other,
        }
    }

    /// Sends `line` now, recording `attempting` just before the message
    /// request leaves and the outcome after; 429s are waited out until
    /// `deadline` (or a stop).
    #[inline]
    fn send(
        &self,
        line: &BatchLine,
        fingerprint: &str,
        journal: &Shared<'_>,
        options: &BatchOptions,
        deadline: Option<std::time::Instant>,
    ) -> std::io::Result<Option<LineOutcome>> {
        let clock = &*self.settings.clock;
        self.learn_platform_time(&line.request, deadline);
        let (written, write_failed) = (Cell::new(false), RefCell::new(None));
        // Message requests about to leave, in this line's injections.
        let sends = Cell::new(0u32);
        let before_send = |communication: Option<&str>, platform_at: Option<SystemTime>| {
            sends.set(sends.get() + 1);
            if written.get() {
                // The first attempt's record covers every later one.
                return true;
            }
            let attempt = Attempt {
                at: SystemTime::now(),
                platform_at,
                communication: communication.map(str::to_owned),
            };
            let wrote = lock(journal).write(&line.id, fingerprint, Record::Attempting(attempt));
            match wrote {
                Ok(()) => written.set(true),
                Err(e) => *write_failed.borrow_mut() = Some(e),
            }
            written.get()
        };
        let result = loop {
            let tried = sends.get();
            match self.inject_with(&line.request, Some(&before_send), deadline) {
                // The gate holds every call until the Retry-After instant;
                // the next inject waits there. With a deadline, only after
                // a 429 to the message itself, and a pause over by then: a
                // wait that would pass it was not begun, and is not begun
                // again.
                Err(Error::RateLimited { .. })
                    if !options.stopped()
                        && deadline.is_none_or(|d| {
                            sends.get() > tried && clock.now() < d && self.rate_limit_lifts_by(d)
                        }) =>
                {
                    continue
                }
                other => break other,
            }
        };
        if let Some(e) = write_failed.into_inner() {
            return Err(e);
        }
        // Stopped (by the deadline or a stop) before its message left:
        // not reached, nothing recorded; the next run sends it.
        if !written.get()
            && (deadline.is_some() || options.stopped())
            && matches!(result, Err(Error::RateLimited { .. }))
        {
            return Ok(None);
        }
        Ok(Some(match result {
            Ok(receipt) => sent(journal, line, fingerprint, receipt.message_id, false)?,
            Err(e) if e.outcome() == Outcome::Unknown => {
                let recorded = lock(journal).last(&line.id).map(|e| e.record.clone());
                let attempt = match recorded {
                    Some(Record::Attempting(attempt)) if written.get() => attempt,
                    _ => Attempt {
                        at: SystemTime::now(),
                        platform_at: None,
                        communication: None,
                    },
                };
                lock(journal).write(&line.id, fingerprint, Record::Unknown(attempt))?;
                LineOutcome::Unknown { why: e.to_string() }
            }
            Err(e) => {
                let (class, retry) = classify(&e);
                if class != "invalid" {
                    lock(journal).write(
                        &line.id,
                        fingerprint,
                        Record::Failed {
                            class: class.into(),
                            retry,
                            reason: reason(&e),
                        },
                    )?;
                }
                LineOutcome::Failed {
                    class: class.into(),
                    error: Some(e),
                    retry,
                    earlier: None,
                }
            }
        }))
    }

    /// Makes sure this run has a time from the platform before a message
    /// on the communication route leaves, so that a later run can look for
    /// it: when no answer has given one yet and none will come before the
    /// message (the agent lookup and the typing indicator give one), one
    /// read of the conversation. Its failure is not this line's: the line's
    /// own calls say what is wrong.
    #[inline]
    fn learn_platform_time(&self, request: &InjectRequest, deadline: Option<std::time::Instant>) {
        let Route::Communication {
            conversation_id,
            communication_id: Some(_),
        } = &request.route
        else {
            return;
        };
        if self.platform_now().is_some() || self.settings.typing != TypingMode::Off {
            return;
        }
        let url = format!(
            "{}/api/v2/conversations/{conversation_id}",
            self.settings.api_base
        );
        if let Err(e) = self.lookup_as(&url, crate::agent::CONVERSATION_READ, deadline) {
            log::debug!(target: "genesys_inject::batch", "no time from the platform yet: {e}");
        }
    }
}
