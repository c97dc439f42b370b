//! One line, by what the journal says of it: sent, settled, sent again,
//! refused, or a conflict.

use crate::journal::{Entry, Record};
use crate::request::Content;
use crate::state::fnv1a_128;
use crate::status::Resolution;
use crate::sync::lock;
use crate::{Error, InjectRequest, Injector};

use super::{sent, BatchLine, BatchOptions, LineOutcome, Shared};

impl Injector {
    /// What a line's content is, as the journal compares it: a hash of the
    /// exact request (route, body, attachment).
    #[inline]
    pub(super) fn fingerprint(&self, request: &InjectRequest) -> Result<String, Error> {
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
    pub(super) fn line(
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
}
