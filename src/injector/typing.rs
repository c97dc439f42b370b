//! The typing indicator before a message, as [`TypingMode`] says: one
//! call, its pace tokens taken with the message's.

use std::cell::Cell;
use std::time::Instant;

use crate::{Error, Injector, RetryPolicy, TypingMode};

use super::{Call, COMMUNICATION_PERMISSION};

impl Injector {
    /// The typing indicator, as [`TypingMode`] says, waiting at most until
    /// `deadline`.
    /// `prepaid`: pace tokens the line took for its indicator and message.
    pub(super) fn typing(
        &self,
        path: &str,
        deadline: Option<Instant>,
        prepaid: &Cell<u32>,
    ) -> Result<(), Error> {
        let mode = self.settings.typing;
        if mode == TypingMode::Off {
            return Ok(());
        }
        let url = [self.settings.api_base.as_str(), path].concat();
        let call = Call {
            url: &url,
            body: Some(br#"{"typing":{"type":"On"}}"#),
            timeout: Some(self.settings.typing_timeout),
            permission: COMMUNICATION_PERMISSION,
            deadline,
            observer: None,
            prepaid: Some(prepaid),
        };
        let mut attempts = 0;
        if mode == TypingMode::Required {
            return self
                .call(&call, &self.settings.retry_policy, &mut attempts)
                .map(drop)
                .map_err(Error::before_message);
        }
        if self.gate.is_closed(&*self.settings.clock) {
            log::debug!(target: "genesys_inject", "typing indicator skipped: rate-limit pause in force");
            return Ok(());
        }
        let once = RetryPolicy::none();
        if let Err(e) = self.call(&call, &once, &mut attempts) {
            log::warn!(target: "genesys_inject", "typing indicator failed, sending the message anyway: {e}");
        }
        Ok(())
    }
}
