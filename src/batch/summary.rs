//! A batch's summary: its lines counted by outcome, and the exit status
//! the `inject` CLI gives such a run.

use super::{FailureClass, LineOutcome, LineReport};

/// What became of a batch's lines, counted from their reports, and the exit
/// status the `inject` CLI would give the run. Build it with
/// [`of`](Self::of) from what [`Injector::inject_batch`](crate::Injector::inject_batch)
/// returned, or with [`new`](Self::new) and [`add`](Self::add) as lines
/// finish. Every count starts at 0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchSummary {
    /// The lines given to the run.
    pub lines: usize,
    /// Sent by this run.
    pub sent: usize,
    /// Sent (or found) by an earlier run: nothing sent now.
    pub sent_earlier: usize,
    /// [`LineOutcome::Failed`].
    pub failed: usize,
    /// [`LineOutcome::Unknown`].
    pub unknown: usize,
    /// [`LineOutcome::Conflict`].
    pub conflict: usize,
    /// [`LineOutcome::Deferred`].
    pub deferred: usize,
    /// [`LineOutcome::Expired`].
    pub expired: usize,
    /// [`LineOutcome::Suppressed`].
    pub suppressed: usize,
    /// The most serious line so far, as (rank, exit status).
    worst: (u8, u8),
}

/// A line's seriousness and exit status: 5 (unknown), 3 (authentication or
/// permission: the batch stopped), 4 (rate limited), 1 (not delivered), 2
/// (invalid, or content that changed since an earlier run sent the line);
/// the rules' outcomes are not failures.
fn severity(outcome: &LineOutcome) -> (u8, u8) {
    match outcome {
        LineOutcome::Unknown { .. } => (5, 5),
        LineOutcome::Failed { class, .. } => match class {
            FailureClass::Auth | FailureClass::Forbidden => (4, 3),
            FailureClass::RateLimited => (3, 4),
            FailureClass::Invalid => (1, 2),
            _ => (2, 1),
        },
        LineOutcome::Conflict => (1, 2),
        _ => (0, 0),
    }
}

impl BatchSummary {
    /// An empty summary of a run of `lines` lines.
    pub fn new(lines: usize) -> BatchSummary {
        BatchSummary {
            lines,
            ..BatchSummary::default()
        }
    }

    /// The summary of a run of `lines` lines that returned `reports`.
    pub fn of(lines: usize, reports: &[LineReport]) -> BatchSummary {
        let mut summary = BatchSummary::new(lines);
        for report in reports {
            summary.add(&report.outcome);
        }
        summary
    }

    /// Counts one line's outcome.
    pub fn add(&mut self, outcome: &LineOutcome) {
        *match outcome {
            LineOutcome::Sent { earlier: true, .. } => &mut self.sent_earlier,
            LineOutcome::Sent { .. } => &mut self.sent,
            LineOutcome::Failed { .. } => &mut self.failed,
            LineOutcome::Unknown { .. } => &mut self.unknown,
            LineOutcome::Conflict => &mut self.conflict,
            LineOutcome::Deferred { .. } => &mut self.deferred,
            LineOutcome::Expired { .. } => &mut self.expired,
            LineOutcome::Suppressed => &mut self.suppressed,
        } += 1;
        self.worst = self.worst.max(severity(outcome));
    }

    /// The lines that finished, whatever became of them.
    pub fn done(&self) -> usize {
        self.sent
            + self.sent_earlier
            + self.failed
            + self.unknown
            + self.conflict
            + self.deferred
            + self.expired
            + self.suppressed
    }

    /// The lines the run did not reach (stopped, or past its deadline): a
    /// re-run sends them.
    pub fn not_reached(&self) -> usize {
        self.lines.saturating_sub(self.done())
    }

    /// The exit status `inject --batch` gives this run (a signal aside): 0
    /// when every line is sent (now or earlier) or held by its rules
    /// (deferred, expired, suppressed); else the most serious line's: 5
    /// (unknown), 3 (authentication or permission), 4 (rate limited), 1
    /// (not delivered), 2 (invalid, or a conflict); 1 when all that went
    /// well but lines were not reached.
    pub fn exit_status(&self) -> u8 {
        match self.worst.1 {
            0 if self.not_reached() > 0 => 1,
            code => code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Deferral, Error};

    fn failed(class: FailureClass) -> LineOutcome {
        LineOutcome::Failed {
            class,
            error: Some(Error::Config("x".into())),
            retry: false,
            earlier: None,
        }
    }

    #[test]
    fn counts_and_the_most_serious_line_decides_the_exit_status() {
        let sent = LineOutcome::Sent {
            message_id: None,
            earlier: false,
        };
        let mut s = BatchSummary::new(3);
        s.add(&sent);
        s.add(&LineOutcome::Suppressed);
        s.add(&LineOutcome::Deferred {
            why: Deferral::NoZone { zone: None },
        });
        assert_eq!(
            (s.sent, s.suppressed, s.deferred, s.not_reached()),
            (1, 1, 1, 0)
        );
        assert_eq!(s.exit_status(), 0);
        let mut short = BatchSummary::new(4);
        short.add(&sent);
        assert_eq!((short.not_reached(), short.exit_status()), (3, 1));
        for (outcomes, status) in [
            (
                vec![failed(FailureClass::Invalid), failed(FailureClass::Server)],
                1,
            ),
            (
                vec![failed(FailureClass::Invalid), LineOutcome::Conflict],
                2,
            ),
            (
                vec![
                    failed(FailureClass::Server),
                    failed(FailureClass::RateLimited),
                ],
                4,
            ),
            (
                vec![
                    failed(FailureClass::RateLimited),
                    failed(FailureClass::Auth),
                ],
                3,
            ),
            (
                vec![
                    failed(FailureClass::Forbidden),
                    LineOutcome::Unknown { why: "x".into() },
                ],
                5,
            ),
        ] {
            let mut s = BatchSummary::new(outcomes.len());
            outcomes.iter().for_each(|o| s.add(o));
            assert_eq!(s.exit_status(), status, "{outcomes:?}");
            assert_eq!(s.failed + s.unknown + s.conflict, outcomes.len());
        }
    }
}
