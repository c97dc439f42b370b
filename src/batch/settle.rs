//! A line an earlier run left unsettled (`attempting` or `unknown`): is
//! its message in the conversation?

use crate::journal::Attempt;
use crate::request::Route;
use crate::status::{Resolution, Since, Unresolved};
use crate::Injector;

use super::BatchLine;

impl Injector {
    /// Whether `line`, attempted as `attempt` says, is in its conversation:
    /// looked for on the communication it was sent as, since the platform
    /// time recorded (this machine's clock then is not trusted: it may
    /// have been stepped since).
    #[inline]
    pub(super) fn settle(
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
}
