//! Many messages from one run, as an `impl Injector` block of its own:
//! [`Injector::inject_batch`] sends each [`BatchLine`] at most once across
//! any number of runs, through a [`Journal`]. A line already sent is
//! skipped; one whose outcome is unknown is looked for in its conversation
//! (as [`Injector::resolve`] does) and sent again only when proved absent;
//! one that failed for a reason that can pass is sent again; one refused
//! for good is reported. The CLI's `--batch` is a thin layer over it.

use std::time::{Duration, SystemTime};

use crate::clock::later;
use crate::journal::Record;
use crate::status::{Resolution, Unresolved};
use crate::{Error, InjectRequest, Injector, Journal, Outcome};

/// One line of a batch: its identity (stable across runs: the journal
/// knows a line by it) and its request.
#[derive(Debug, Clone)]
pub struct BatchLine {
    /// The line's identity.
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
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct BatchOptions {
    /// Send a line whose outcome is unknown again without looking for it
    /// first (it may then be there twice). Default: false.
    pub resend_unknown: bool,
    /// Send again a line an earlier run saw refused for good (invalid, 400,
    /// 403, 404). Default: false.
    pub retry_failed: bool,
    /// Stop sending new lines after this long (the rest are reported as
    /// not sent, and a later run sends them). Default: none.
    pub deadline: Option<Duration>,
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
    /// failure of `class`, not retried. `retry`: a later run sends it again.
    Failed {
        /// The failure's class: `invalid`, `auth`, `rate_limited`,
        /// `refused`, `server`, `not_delivered`, `no_agent`, `deadline`.
        class: String,
        /// This run's error, if this run tried.
        error: Option<Error>,
        /// Whether a later run sends it again.
        retry: bool,
    },
    /// Maybe in the conversation, maybe not: never sent again blindly (see
    /// [`BatchOptions::resend_unknown`]).
    Unknown {
        /// Why it could not be settled.
        why: String,
    },
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

/// The class of a failure, and whether it can pass.
fn classify(e: &Error) -> (&'static str, bool) {
    match e {
        Error::Validation(_) | Error::Config(_) => ("invalid", false),
        Error::Auth { .. } | Error::Forbidden { .. } => ("auth", false),
        Error::RateLimited { .. } => ("rate_limited", true),
        Error::NoConnectedAgent { .. } => ("no_agent", false),
        Error::Api {
            status: 400 | 403 | 404,
            ..
        } => ("refused", false),
        Error::Api { status, .. } if *status >= 500 => ("server", true),
        _ => ("not_delivered", true),
    }
}

impl Injector {
    /// Sends `lines`, each at most once across any number of runs on
    /// `journal`, and reports each line as it finishes (to `each`, in
    /// order) and all of them at the end.
    ///
    /// For each line, by what the journal says of it:
    /// - nothing: sent. `attempting` is on disk before the message request
    ///   leaves; then `sent`, `failed` or `unknown`.
    /// - `sent`: skipped ([`LineOutcome::Sent`] with `earlier`).
    /// - `attempting` or `unknown` (a run stopped, or an answer lost): looked
    ///   for in its conversation since the attempt began; found: `sent`;
    ///   proved absent: sent now; cannot tell (the agentless route, a
    ///   lookup without the data): [`LineOutcome::Unknown`], never sent
    ///   blindly, unless [`BatchOptions::resend_unknown`].
    /// - `failed` for a reason that can pass (rate limited, not delivered,
    ///   a server error): sent again; refused for good (invalid, 400, 403,
    ///   404, no connected agent): reported, unless
    ///   [`BatchOptions::retry_failed`].
    ///
    /// A 429 is waited out as `Retry-After` says however often it comes: no
    /// line is given up for rate limiting alone before the
    /// [deadline](BatchOptions::deadline). An authentication or permission
    /// failure stops the batch at once (every later line would fail the
    /// same way); the lines not reached are not in the result.
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
        let clock = &*self.settings.clock;
        let deadline = options.deadline.map(|d| later(clock.now(), d));
        let mut reports = Vec::with_capacity(lines.len());
        let journal_error = |journal: &Journal, e: std::io::Error| {
            Error::Config(format!(
                "journal {}: cannot be written ({e}): stopping, so that nothing is sent twice",
                journal.path().display()
            ))
        };
        for (index, line) in lines.iter().enumerate() {
            let outcome = match journal.last(&line.id).cloned() {
                Some(Record::Sent { message_id }) => LineOutcome::Sent {
                    message_id,
                    earlier: true,
                },
                Some(Record::Failed {
                    class,
                    retry: false,
                }) if !options.retry_failed => LineOutcome::Failed {
                    class,
                    error: None,
                    retry: false,
                },
                Some(Record::Attempting { at } | Record::Unknown { at })
                    if !options.resend_unknown =>
                {
                    match self.settle(line, at) {
                        Resolution::Delivered(receipt) => {
                            journal
                                .write(
                                    &line.id,
                                    Record::Sent {
                                        message_id: receipt.message_id.clone(),
                                    },
                                )
                                .map_err(|e| journal_error(journal, e))?;
                            LineOutcome::Sent {
                                message_id: receipt.message_id,
                                earlier: true,
                            }
                        }
                        Resolution::NotDelivered => self
                            .send(line, journal, deadline)
                            .map_err(|e| journal_error(journal, e))?,
                        Resolution::Unknown(why) => {
                            journal
                                .write(&line.id, Record::Unknown { at })
                                .map_err(|e| journal_error(journal, e))?;
                            LineOutcome::Unknown {
                                why: why.to_string(),
                            }
                        }
                    }
                }
                _ => self
                    .send(line, journal, deadline)
                    .map_err(|e| journal_error(journal, e))?,
            };
            let stop = matches!(&outcome, LineOutcome::Failed { class, error: Some(_), .. } if class == "auth");
            let report = LineReport {
                index,
                id: line.id.clone(),
                outcome,
            };
            each(&report);
            reports.push(report);
            if stop {
                log::error!(target: "genesys_inject::batch", "authentication or permission refused: the batch stops here (every later line would fail the same way)");
                break;
            }
        }
        Ok(reports)
    }

    /// Whether `line`, attempted at `at`, is in its conversation.
    fn settle(&self, line: &BatchLine, at: SystemTime) -> Resolution {
        if line.request.is_agentless() {
            return Resolution::Unknown(Unresolved::NoConversation);
        }
        match self.resolve_since(&line.request, at) {
            // Not there at once: look again once the platform has had a
            // moment to list what it received.
            Resolution::NotDelivered => {
                self.settings.clock.sleep(crate::injector::RESOLVE_PAUSE);
                self.resolve_since(&line.request, at)
            }
            other => other,
        }
    }

    /// Sends `line` now, recording it before and after; 429s are waited out
    /// until `deadline`.
    fn send(
        &self,
        line: &BatchLine,
        journal: &mut Journal,
        deadline: Option<std::time::Instant>,
    ) -> std::io::Result<LineOutcome> {
        let clock = &*self.settings.clock;
        if deadline.is_some_and(|d| clock.now() >= d) {
            return Ok(LineOutcome::Failed {
                class: "deadline".into(),
                error: None,
                retry: true,
            });
        }
        journal.write(
            &line.id,
            Record::Attempting {
                at: SystemTime::now(),
            },
        )?;
        let at = match journal.last(&line.id) {
            Some(Record::Attempting { at }) => *at,
            _ => SystemTime::now(),
        };
        let result = loop {
            match self.inject(&line.request) {
                Err(Error::RateLimited { .. }) if deadline.is_none_or(|d| clock.now() < d) => {
                    // The gate holds every call until the Retry-After
                    // instant; the next inject waits there.
                    continue;
                }
                other => break other,
            }
        };
        Ok(match result {
            Ok(receipt) => {
                journal.write(
                    &line.id,
                    Record::Sent {
                        message_id: receipt.message_id.clone(),
                    },
                )?;
                LineOutcome::Sent {
                    message_id: receipt.message_id,
                    earlier: false,
                }
            }
            Err(e) if e.outcome() == Outcome::Unknown => {
                journal.write(&line.id, Record::Unknown { at })?;
                LineOutcome::Unknown { why: e.to_string() }
            }
            Err(e) => {
                let (class, retry) = classify(&e);
                journal.write(
                    &line.id,
                    Record::Failed {
                        class: class.into(),
                        retry,
                    },
                )?;
                LineOutcome::Failed {
                    class: class.into(),
                    error: Some(e),
                    retry,
                }
            }
        })
    }
}
