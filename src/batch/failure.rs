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

/// The class of a failure to reach the platform at all (connection
/// refused, DNS, TLS): lines that meet it in a row stop the batch.
pub(super) const UNREACHABLE: &str = "unreachable";

/// The class of a failure, and whether a later run can succeed.
pub(super) fn classify(e: &Error) -> (&'static str, bool) {
    match e {
        Error::Validation(_) | Error::Config(_) => ("invalid", false),
        // A secret that is wrong today may be fixed by the next run.
        Error::Auth { .. } => ("auth", true),
        Error::Forbidden { .. } => ("forbidden", false),
        Error::RateLimited { .. } => ("rate_limited", true),
        // An agent may join the conversation before the next run.
        Error::NoConnectedAgent { .. } => ("no_agent", true),
        Error::Api {
            status: 400 | 403 | 404,
            ..
        } => ("refused", false),
        Error::Api { status, .. } if *status >= 500 => ("server", true),
        Error::Transport { .. } if e.outcome() == Outcome::NotDelivered => (UNREACHABLE, true),
        _ => ("not_delivered", true),
    }
}

/// What the platform said of a failure, to keep in the journal.
pub(super) fn reason(e: &Error) -> Reason {
    let (status, code) = match e {
        Error::Api { status, code, .. } => (Some(*status), code.clone()),
        Error::Auth { status, error, .. } => (*status, error.clone()),
        Error::Forbidden { .. } => (Some(403), None),
        Error::RateLimited { .. } => (Some(429), None),
        _ => (None, None),
    };
    Reason {
        status,
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
