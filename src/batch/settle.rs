//! A line an earlier run left unsettled (`attempting` or `unknown`): is
//! its message in the conversation? Looked for as `look` looks, from what
//! the conversation listed before the send (else a minute before the
//! recorded platform time), once the platform has had the settling time to
//! list it; a message that settles another line is not this one's.

use std::time::Instant;

use crate::journal::Attempt;
use crate::listing::Since;
use crate::look::Look;
use crate::look::TextMatch;
use crate::request::Route;
use crate::status::{Resolution, Unresolved};
use crate::Injector;

use super::BatchLine;

impl Injector {
    /// Whether `line`, attempted as `attempt` says, is in its conversation:
    /// looked for on every communication but the customer's (the one it
    /// was sent as must be listed), from what the conversation listed
    /// before the send, or a minute before the platform time recorded
    /// (this machine's clock then is not trusted: it may have been stepped
    /// since). Without a platform time, nothing can say when the platform
    /// has had time to list it: unknown.
    #[inline]
    pub(super) fn settle(
        &self,
        line: &BatchLine,
        attempt: &Attempt,
        deadline: Option<Instant>,
    ) -> Resolution {
        let Route::Communication {
            communication_id, ..
        } = &line.request.route
        else {
            return Resolution::Unknown(Unresolved::NoConversation);
        };
        let Some(platform_at) = attempt.platform_at else {
            return Resolution::Unknown(Unresolved::NoPlatformTime);
        };
        let request = match (communication_id, &attempt.communication) {
            (None, Some(sent_as)) => line.request.sent_as(sent_as.clone()),
            _ => line.request.clone(),
        };
        let look = Look {
            since: Since::Platform(platform_at),
            anchor: attempt.anchor.clone(),
            matcher: TextMatch::NFC,
            settle: self.settings.retry_policy.settle_time,
            deadline,
            wait: true,
        };
        self.resolve_since(&request, &look)
    }
}
