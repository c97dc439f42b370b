//! What a failure means for the journal and a later run: its class, whether
//! a later run sends the line again, and the platform's words kept for it.

use crate::journal::Reason;
use crate::{Error, Outcome};

/// The class the journal gives a line whose attempt was refused while the
/// run went on (a 429, say): nothing of it is on the platform, and a later
/// run sends it.
pub(super) const NOT_SENT: &str = "not_sent";

/// The class the journal gives a line found past its expiry: never sent,
/// and a later run does not send it either.
pub(super) const EXPIRED: &str = "expired";

/// What kind of failure a [`LineOutcome::Failed`](crate::LineOutcome::Failed)
/// line met, and so whether a later run sends it again. Refused for good
/// (a later run does not send it unless
/// [`retry_failed`](crate::BatchOptions::retry_failed)): `Invalid`,
/// `Refused`, `Forbidden`; can pass (any later run sends it): the others.
/// Its [`as_str`](Self::as_str) is the name the journal, `--json` and the
/// metrics use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureClass {
    /// The line is not a valid request with this injector's settings.
    Invalid,
    /// The platform refused it: HTTP 400, 403 or 404 from the API.
    Refused,
    /// The client may not do this ([`Error::Forbidden`]): the batch stops.
    Forbidden,
    /// The token was refused (401): the batch stops; a fixed secret passes.
    Auth,
    /// The conversation has no connected agent to send as.
    NoAgent,
    /// HTTP 429 past the retries or the bounds.
    RateLimited,
    /// HTTP 5xx.
    Server,
    /// The platform could not be reached at all (connection refused, DNS,
    /// TLS): [`UNREACHABLE_IN_A_ROW`](crate::UNREACHABLE_IN_A_ROW) in a row
    /// stop the batch.
    Unreachable,
    /// Not delivered for another reason the platform gave.
    NotDelivered,
    /// A class this release does not know: an earlier failure recorded by
    /// a later release.
    Other,
}

impl FailureClass {
    /// Its name: `invalid`, `refused`, `forbidden`, `auth`, `no_agent`,
    /// `rate_limited`, `server`, `unreachable`, `not_delivered`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Invalid => "invalid",
            FailureClass::Refused => "refused",
            FailureClass::Forbidden => "forbidden",
            FailureClass::Auth => "auth",
            FailureClass::NoAgent => "no_agent",
            FailureClass::RateLimited => "rate_limited",
            FailureClass::Server => "server",
            FailureClass::Unreachable => "unreachable",
            FailureClass::NotDelivered => "not_delivered",
            FailureClass::Other => "other",
        }
    }

    /// The class of this name (as the journal records it); `Other` for a
    /// name this release does not know.
    pub(crate) fn from_name(name: &str) -> FailureClass {
        [
            FailureClass::Invalid,
            FailureClass::Refused,
            FailureClass::Forbidden,
            FailureClass::Auth,
            FailureClass::NoAgent,
            FailureClass::RateLimited,
            FailureClass::Server,
            FailureClass::Unreachable,
            FailureClass::NotDelivered,
        ]
        .into_iter()
        .find(|c| c.as_str() == name)
        .unwrap_or(FailureClass::Other)
    }

    /// Whether the batch stops at once: every later line would fail the
    /// same way (`Auth`, `Forbidden`).
    pub fn stops_the_batch(self) -> bool {
        matches!(self, FailureClass::Auth | FailureClass::Forbidden)
    }
}

impl std::fmt::Display for FailureClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The class of a failure, and whether a later run can succeed.
pub(super) fn classify(e: &Error) -> (FailureClass, bool) {
    match e {
        Error::Validation(_) | Error::Config(_) => (FailureClass::Invalid, false),
        // A secret that is wrong today may be fixed by the next run.
        Error::Auth { .. } => (FailureClass::Auth, true),
        Error::Forbidden { .. } => (FailureClass::Forbidden, false),
        Error::RateLimited { .. } => (FailureClass::RateLimited, true),
        // An agent may join the conversation before the next run.
        Error::NoConnectedAgent { .. } => (FailureClass::NoAgent, true),
        Error::Api {
            status: 400 | 403 | 404,
            ..
        } => (FailureClass::Refused, false),
        Error::Api { status, .. } if *status >= 500 => (FailureClass::Server, true),
        Error::Transport { .. } if e.outcome() == Outcome::NotDelivered => {
            (FailureClass::Unreachable, true)
        }
        _ => (FailureClass::NotDelivered, true),
    }
}

/// What the platform said of a failure, to keep in the journal.
pub(super) fn reason(e: &Error) -> Reason {
    let code = match e {
        Error::Api { code, .. } => code.clone(),
        Error::Auth { error, .. } => error.clone(),
        _ => None,
    };
    Reason {
        status: e.http_status(),
        code,
        correlation_id: e.correlation_id().map(str::to_owned),
    }
}

impl Reason {
    /// "HTTP 400, bad.request, correlation id X", or `None` when empty.
    pub(super) fn shown(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(status) = self.status {
            parts.push(format!("HTTP {status}"));
        }
        if let Some(code) = &self.code {
            parts.push(code.clone());
        }
        if let Some(id) = &self.correlation_id {
            parts.push(format!("correlation id {id}"));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}
