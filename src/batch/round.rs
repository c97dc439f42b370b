//! One round of a batch: the lines of `order` run in flight on worker
//! threads (each line's records written in order by the one thread that
//! sends it), reported on the caller's thread as they finish. A batch runs
//! one round, and another for the lines it keeps waiting for their send
//! window.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use crate::{Error, Injector};

use super::flight::Flight;
use super::identity::Fingerprint;
use super::rules::Rules;
use super::{BatchLine, BatchOptions, FailureClass, LineOutcome, Shared, UNREACHABLE_IN_A_ROW};

/// What a batch's rounds share.
pub(super) struct Run<'a> {
    pub lines: &'a [BatchLine],
    pub fingerprints: &'a [Result<Fingerprint, Error>],
    pub ids: &'a [Option<String>],
    pub journal: &'a Shared<'a>,
    /// The batch's id, named in each line's audit record.
    pub journal_batch: String,
    pub options: &'a BatchOptions,
    pub deadline: Option<Instant>,
    pub rules: &'a Rules,
    pub flight: Flight,
    /// Set to start no more lines.
    pub halt: AtomicBool,
    /// Lines in a row, as they finish, that could not reach the platform.
    pub unreachable: AtomicUsize,
}

impl Run<'_> {
    /// Runs the lines of `order` on `injector`, giving each outcome to
    /// `report` as it finishes. The error that stopped it, if one did (a
    /// record that cannot be written).
    #[inline]
    pub fn round(
        &self,
        injector: &Injector,
        order: &[usize],
        report: &mut dyn FnMut(usize, LineOutcome),
    ) -> Option<std::io::Error> {
        let (options, deadline, flight, halt) =
            (self.options, self.deadline, &self.flight, &self.halt);
        let clock = &*injector.settings.clock;
        // The next of `order` to start.
        let next = AtomicUsize::new(0);
        let mut failed = None;
        std::thread::scope(|scope| {
            let (done, finished) = mpsc::channel();
            for _ in 0..flight.threads(order.len()) {
                let (done, next) = (done.clone(), &next);
                scope.spawn(move || {
                    // Every wait of this thread's lines stops with the batch.
                    crate::clock::stop_with(options.stop.clone());
                    let over = || {
                        options.stopped()
                            || deadline.is_some_and(|d| clock.now() >= d)
                            || halt.load(Ordering::SeqCst)
                    };
                    loop {
                        if over() || !flight.enter(over) {
                            break;
                        }
                        let Some(&index) = order.get(next.fetch_add(1, Ordering::SeqCst)) else {
                            flight.leave(injector);
                            break;
                        };
                        let outcome = match (&self.fingerprints[index], &self.ids[index]) {
                            (Ok(fingerprint), Some(id)) => {
                                match injector.line(&self.lines[index], id, fingerprint, self) {
                                    Ok(Some(outcome)) => Ok(outcome),
                                    // Not reached: neither is any line after.
                                    Ok(None) => {
                                        halt.store(true, Ordering::SeqCst);
                                        flight.leave(injector);
                                        break;
                                    }
                                    Err(e) => Err(e),
                                }
                            }
                            // Invalid with this injector's settings: the
                            // error, again (errors are not Clone).
                            _ => Ok(LineOutcome::Failed {
                                class: FailureClass::Invalid,
                                error: injector.prepare(&self.lines[index].request).err(),
                                retry: false,
                                earlier: None,
                            }),
                        };
                        // Every later line would fail the same way; a record
                        // that cannot be written could let a line go twice.
                        let stop = match &outcome {
                            Ok(LineOutcome::Failed {
                                class,
                                error: Some(_),
                                ..
                            }) => class.stops_the_batch(),
                            Ok(_) => false,
                            Err(_) => true,
                        };
                        if stop {
                            halt.store(true, Ordering::SeqCst);
                        }
                        // Decided here, before this thread takes another
                        // line: every later line would meet the same wall.
                        if let Ok(outcome) = &outcome {
                            let streak = match outcome {
                                LineOutcome::Failed {
                                    class,
                                    error: Some(_),
                                    ..
                                } if *class == FailureClass::Unreachable => {
                                    self.unreachable.fetch_add(1, Ordering::SeqCst) + 1
                                }
                                _ => {
                                    self.unreachable.store(0, Ordering::SeqCst);
                                    0
                                }
                            };
                            if streak == UNREACHABLE_IN_A_ROW {
                                halt.store(true, Ordering::SeqCst);
                                log::info!(target: "genesys_inject::batch", "the platform could not be reached for {UNREACHABLE_IN_A_ROW} lines in a row: the batch stops here");
                            }
                        }
                        flight.leave(injector);
                        if done.send((index, outcome)).is_err() || stop {
                            break;
                        }
                    }
                });
            }
            drop(done);
            // Each line is reported here, on the caller's thread, as it
            // finishes.
            for (index, outcome) in finished {
                let outcome = match outcome {
                    Ok(outcome) => outcome,
                    Err(e) => {
                        failed.get_or_insert(e);
                        continue;
                    }
                };
                let auth = matches!(&outcome, LineOutcome::Failed { class, error: Some(_), .. } if class.stops_the_batch());
                report(index, outcome);
                if auth {
                    // A failure the caller reports itself, as the line each
                    // failed `inject` writes.
                    log::error!(target: crate::injector::FAILURE_TARGET, "authentication or permission refused: the batch stops here (every later line would fail the same way)");
                }
            }
        });
        failed
    }
}
