//! A line sent now: `attempting` on disk just before its message request
//! leaves; `not sent` when an attempt is refused (a 429, a 401, a refusal
//! that says nothing was delivered, a request that never arrived whole),
//! so that a kill then leaves nothing to settle; then what became of it.

use std::cell::{Cell, RefCell};
use std::time::{Instant, SystemTime};

use crate::injector::Wire;
use crate::journal::{Attempt, Record};
use crate::listing;
use crate::request::Route;
use crate::sync::lock;
use crate::{Error, InjectRequest, Injector, Outcome};

use super::failure::{classify, reason, FailureClass, EXPIRED, NOT_SENT};
use super::round::Run;
use super::rules::{Rules, Verdict};
use super::{sent, BatchLine, LineOutcome};

impl Injector {
    /// Sends `line` now, if the batch's rules let it go, recording
    /// `attempting` just before the message request leaves and the outcome
    /// after; 429s are waited out until the deadline, the line's expiry or
    /// its window's close (or a stop).
    #[inline]
    pub(super) fn send(
        &self,
        line: &BatchLine,
        id: &str,
        fingerprint: &str,
        run: &Run<'_>,
    ) -> std::io::Result<Option<LineOutcome>> {
        let (journal, options) = (run.journal, run.options);
        let clock = &*self.settings.clock;
        let bound = match run.rules.check(line, id, options, clock)? {
            Verdict::Go { bound } => bound,
            Verdict::Hold(outcome) => {
                if matches!(outcome, LineOutcome::Expired { .. }) {
                    lock(journal).write(id, fingerprint, expired())?;
                }
                return Ok(Some(outcome));
            }
        };
        // The line's own bound (its expiry, its window's close), when it
        // comes before the batch's deadline.
        let limit = bound.filter(|(at, _)| run.deadline.is_none_or(|d| *at < d));
        let deadline = limit.map(|(at, _)| at).or(run.deadline);
        let outcome = self.send_bounded(line, id, fingerprint, run, deadline)?;
        let stopped_by_limit = || {
            limit
                .filter(|_| !options.stopped())
                .map(|(_, limit)| Rules::stopped_by(limit, line, options))
        };
        let outcome = match outcome {
            // Not reached for its own bound: expired, or deferred.
            None => stopped_by_limit(),
            Some(LineOutcome::Failed {
                error: Some(Error::RateLimited { .. }),
                ..
            }) if stopped_by_limit().is_some() => stopped_by_limit(),
            other => other,
        };
        match &outcome {
            Some(LineOutcome::Expired { .. }) => {
                lock(journal).write(id, fingerprint, expired())?;
                run.rules.release(line, id)?;
            }
            Some(LineOutcome::Sent { .. } | LineOutcome::Unknown { .. }) => {}
            _ => run.rules.release(line, id)?,
        }
        Ok(outcome)
    }

    /// [`send`](Self::send), once the rules let it go, bounded by
    /// `deadline`.
    #[inline]
    fn send_bounded(
        &self,
        line: &BatchLine,
        id: &str,
        fingerprint: &str,
        run: &Run<'_>,
        deadline: Option<Instant>,
    ) -> std::io::Result<Option<LineOutcome>> {
        let (journal, options) = (run.journal, run.options);
        let clock = &*self.settings.clock;
        self.read_anchor(&line.request, deadline);
        // Whether the journal's last record of the line is `attempting`
        // (written by this run).
        let attempting = Cell::new(false);
        let write_failed = RefCell::new(None);
        // Message requests about to leave, in this line's injections.
        let sends = Cell::new(0u32);
        let before_send =
            |wire: Wire, communication: Option<&str>, platform_at: Option<SystemTime>| {
                if wire == Wire::Refused {
                    if attempting.get() {
                        // Nothing of the line is on the platform (every
                        // earlier attempt was refused, or proved absent).
                        let not_sent = Record::Failed {
                            class: NOT_SENT.into(),
                            retry: true,
                            reason: Default::default(),
                        };
                        match lock(journal).write(id, fingerprint, not_sent) {
                            Ok(()) => attempting.set(false),
                            Err(e) => *write_failed.borrow_mut() = Some(e),
                        }
                    }
                    return true;
                }
                sends.set(sends.get() + 1);
                if attempting.get() {
                    // The first attempt's record covers every later one.
                    return true;
                }
                let attempt = Attempt {
                    at: SystemTime::now(),
                    platform_at,
                    communication: communication.map(str::to_owned),
                    anchor: match &line.request.route {
                        Route::Communication {
                            conversation_id, ..
                        } => self.memory.known(conversation_id).anchor,
                        Route::Agentless { .. } => None,
                    },
                };
                let wrote = lock(journal).write(id, fingerprint, Record::Attempting(attempt));
                match wrote {
                    Ok(()) => attempting.set(true),
                    Err(e) => *write_failed.borrow_mut() = Some(e),
                }
                attempting.get()
            };
        let result = loop {
            let tried = sends.get();
            match self.inject_with(
                &line.request,
                Some(&before_send),
                deadline,
                Some((run.journal_batch.as_str(), id)),
            ) {
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
        // Stopped (by the deadline or a stop) before any of its requests
        // left: not reached, nothing recorded; the next run sends it. (One
        // that was refused is rate limited, below; `not sent` on disk
        // meanwhile.)
        if sends.get() == 0
            && (deadline.is_some() || options.stopped())
            && matches!(result, Err(Error::RateLimited { .. }))
        {
            return Ok(None);
        }
        Ok(Some(match result {
            Ok(receipt) => sent(journal, id, fingerprint, receipt.message_id, false)?,
            Err(e) if e.outcome() == Outcome::Unknown => {
                let recorded = lock(journal).last(id).map(|e| e.record.clone());
                let attempt = match recorded {
                    Some(Record::Attempting(attempt)) if attempting.get() => attempt,
                    _ => Attempt {
                        at: SystemTime::now(),
                        platform_at: None,
                        communication: None,
                        anchor: None,
                    },
                };
                lock(journal).write(id, fingerprint, Record::Unknown(attempt))?;
                LineOutcome::Unknown { why: e.to_string() }
            }
            Err(e) => {
                let (class, retry) = classify(&e);
                if class != FailureClass::Invalid {
                    lock(journal).write(
                        id,
                        fingerprint,
                        Record::Failed {
                            class: class.as_str().into(),
                            retry,
                            reason: reason(&e),
                        },
                    )?;
                }
                LineOutcome::Failed {
                    class,
                    error: Some(e),
                    retry,
                    earlier: None,
                }
            }
        }))
    }

    /// Reads the conversation once before the first message this
    /// injector sends to it, when nothing has read it yet (the agent
    /// lookup does, for a line sent as the connected agent): what it lists
    /// then marks where a later look for the line begins, whatever the
    /// clocks say, and its `Date` gives the platform's time. Its failure is
    /// not this line's: the line's own calls say what is wrong, and a look
    /// then begins a minute before the platform time.
    #[inline]
    pub(super) fn read_anchor(&self, request: &InjectRequest, deadline: Option<Instant>) {
        let Route::Communication {
            conversation_id,
            communication_id: Some(_),
        } = &request.route
        else {
            return;
        };
        if self.memory.known(conversation_id).read {
            return;
        }
        let url = format!(
            "{}/api/v2/conversations/{conversation_id}",
            self.settings.api_base
        );
        match self.lookup_as(&url, crate::agent::CONVERSATION_READ, deadline) {
            Ok(answer) => {
                let anchor = listing::communications(&answer.body)
                    .ok()
                    .and_then(|c| listing::anchor(&c));
                self.memory.remember(conversation_id, None, anchor);
            }
            Err(e) => {
                // Once a run: a look falls back on the platform time.
                self.memory.remember(conversation_id, None, None);
                log::debug!(target: "genesys_inject::batch", "the conversation could not be read before the send: {e}")
            }
        }
    }
}

/// The record of a line found past its expiry.
fn expired() -> Record {
    Record::Failed {
        class: EXPIRED.into(),
        retry: false,
        reason: Default::default(),
    }
}
