//! One line, by what the journal says of it: sent, settled, sent again,
//! refused, expired, or a conflict.

use crate::journal::{Entry, Record};
use crate::status::Resolution;
use crate::sync::lock;
use crate::Injector;

use super::failure::{FailureClass, EXPIRED};
use super::identity::Fingerprint;
use super::round::Run;
use super::{sent, BatchLine, LineOutcome};

impl Injector {
    /// One line, by what the journal says of it; `None`: not reached (the
    /// deadline or a stop came before its message left).
    #[inline]
    pub(super) fn line(
        &self,
        line: &BatchLine,
        id: &str,
        fingerprint: &Fingerprint,
        run: &Run<'_>,
    ) -> std::io::Result<Option<LineOutcome>> {
        let (journal, options, deadline) = (run.journal, run.options, run.deadline);
        let last = lock(journal).last(id).cloned();
        let Some(Entry {
            record,
            fingerprint: recorded,
        }) = last
        else {
            return self.send(line, id, &fingerprint.now, run);
        };
        if !fingerprint.is(&recorded) {
            return Ok(Some(LineOutcome::Conflict));
        }
        Ok(Some(match record {
            Record::Sent { message_id } => LineOutcome::Sent {
                message_id,
                earlier: true,
            },
            Record::Failed { class, .. } if class == EXPIRED && !options.retry_failed => {
                LineOutcome::Expired { earlier: true }
            }
            Record::Failed {
                class,
                retry: false,
                reason,
            } if !options.retry_failed => LineOutcome::Failed {
                class: FailureClass::from_name(&class),
                error: None,
                retry: false,
                earlier: reason.shown(),
            },
            Record::Attempting(attempt) | Record::Unknown(attempt) if !options.resend_unknown => {
                match self.settle(line, &attempt, deadline) {
                    Resolution::Delivered(receipt) => {
                        sent(journal, id, &recorded, receipt.message_id, true)?
                    }
                    Resolution::NotDelivered => return self.send(line, id, &recorded, run),
                    Resolution::Unknown(why) => {
                        lock(journal).write(id, &recorded, Record::Unknown(attempt))?;
                        LineOutcome::Unknown {
                            why: why.to_string(),
                        }
                    }
                }
            }
            _ => return self.send(line, id, &recorded, run),
        }))
    }
}
