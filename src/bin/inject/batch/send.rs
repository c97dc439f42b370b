//! The run stage of `inject --batch`: the options the flags give, signals
//! that stop it between lines (said at once, from a thread of its own),
//! each line reported as it finishes, and the progress line.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use genesys_inject::{BatchLine, BatchOptions, Injector, Journal, LineReport};

use super::report::{out, Tally};
use super::{SIGINT_STATUS, SIGTERM_STATUS};
use crate::args::Args;
use crate::output::{end_progress, report};

/// What the run stage leaves for the report: the tally, the signal that
/// stopped it (0: none), and whether every line's output was printed.
pub(crate) struct Sent {
    pub tally: Tally,
    pub signal: usize,
    pub printed: bool,
}

/// Makes SIGINT and SIGTERM stop the batch between lines: the first sets
/// the returned flag (and records which signal in the second); a second
/// signal ends the process at once, with the same status a kill would have.
fn stop_on_signals() -> (Arc<AtomicBool>, Arc<AtomicUsize>) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::flag;
    let (stop, which) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    for (signal, status) in [(SIGINT, SIGINT_STATUS), (SIGTERM, SIGTERM_STATUS)] {
        // The order matters: the conditional exit sees the flag as the
        // signal before this one left it.
        let registered =
            flag::register_conditional_shutdown(signal, i32::from(status), stop.clone())
                .and_then(|_| flag::register_usize(signal, which.clone(), usize::from(status)))
                .and_then(|_| flag::register(signal, stop.clone()));
        if let Err(e) = registered {
            report(&format!(
                "warning: a signal will stop the batch at once, mid-line: {e}"
            ));
        }
    }
    (stop, which)
}

/// Says, once and at once, that a signal is stopping the run: how many
/// lines are in flight, and that a second signal ends it now. Ends when
/// `finished` is set (saying a stop set before it, still).
fn watch_stop(
    stop: Arc<AtomicBool>,
    in_flight: Arc<AtomicUsize>,
    finished: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        loop {
            // The stop first: a run that a signal ends before this thread
            // wakes is still told it (the caller joins before its summary).
            if stop.load(Ordering::SeqCst) {
                report(&format!(
                    "stopping: {} line(s) in flight finish (a message already sent gets its answer; the others are not reached); a second signal ends now",
                    in_flight.load(Ordering::SeqCst)
                ));
                return;
            }
            if finished.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

/// Sends `lines` (the file's line `numbers[i]` each) through `journal`
/// under `rules` and the run's flags, reporting each as it finishes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn send(
    args: &Args,
    injector: &Injector,
    lines: &[BatchLine],
    numbers: &[usize],
    journal: &mut Journal,
    rules: BatchOptions,
    mut tally: Tally,
    json_out: bool,
) -> Result<Sent, genesys_inject::Error> {
    let (stop, signalled) = stop_on_signals();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut options = rules
        .resend_unknown(args.resend_unknown)
        .retry_failed(args.retry_failed)
        .stop_when(stop.clone())
        .count_in_flight(in_flight.clone());
    if let Some(secs) = args.deadline {
        options = options.deadline(Duration::from_secs(secs));
    }
    if let Some(days) = args.keep_journals {
        options = options.keep_journals(Duration::from_secs(days.saturating_mul(24 * 3600)));
    }
    // Fixed when given; else following the budget and the round trip.
    if let Some(n) = args.parallel {
        options = options.parallel(n as usize);
    }
    let finished = Arc::new(AtomicBool::new(false));
    let watcher = watch_stop(stop, in_flight, finished.clone());
    let progress = !args.quiet && (args.progress || std::io::stderr().is_terminal());
    let mut printed = true;
    let result = injector.inject_batch(lines, journal, &options, |line: &LineReport| {
        let agentless = lines[line.index].request.is_agentless();
        match tally.line(numbers[line.index], line, agentless, json_out) {
            Some(text) if json_out => printed &= out(&text),
            Some(text) => report(&text),
            None => {}
        }
        if progress {
            tally.progress(lines.len());
        }
    });
    finished.store(true, Ordering::SeqCst);
    let _ = watcher.join();
    end_progress();
    result?;
    Ok(Sent {
        tally,
        signal: signalled.load(Ordering::SeqCst),
        printed,
    })
}
