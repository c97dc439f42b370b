//! The one error type of the crate, and what a caller can learn from it.

use std::time::{Duration, SystemTime};

use serde::Deserialize;

/// Whether a failed call may still have put the message into the conversation.
///
/// Sending a message is not idempotent: a request that was sent and then timed
/// out may have been delivered. The library never retries such a request;
/// it tells you instead, so that you decide (for example, check the
/// conversation before sending again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The message certainly did not reach the platform (or the platform
    /// refused it): for example a connection refused, or reset before the
    /// request was completely written. Sending it again cannot produce a
    /// duplicate.
    NotDelivered,
    /// The request left this process but no usable answer came back (a timeout
    /// after sending, a connection reset while the answer was awaited, a
    /// 502/504 from a gateway). The message may or may not be in the
    /// conversation.
    Unknown,
}

/// Why an injection failed.
///
/// Every message says what to do about it. Match on the variant to decide
/// programmatically, or call [`Error::outcome`] to learn whether the message
/// may have been delivered anyway. No variant ever contains the client secret
/// or an access token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request was refused before any network traffic: fix the content or
    /// the ids. Never delivered.
    #[error("invalid request: {0}")]
    Validation(#[from] ValidationError),

    /// The injector's configuration (builder options or environment
    /// variables) is unusable; the text says which option and why.
    #[error("configuration error: {0}")]
    Config(String),

    /// The token endpoint refused the client credentials (HTTP 401, or 400
    /// or 403 with an OAuth error such as `invalid_client`), answered a 2xx
    /// that is not a token, or the API refused a freshly fetched token.
    /// Check `GENESYS_CLIENT_ID`, `GENESYS_CLIENT_SECRET` and, when a region
    /// is in use, that the OAuth client belongs to it. Never delivered.
    ///
    /// The token endpoint's other failures are not this variant: its rate
    /// limit is [`Error::RateLimited`], a 404 or a redirect (a wrong base
    /// URL) is [`Error::Config`], a 5xx or another status is [`Error::Api`].
    #[error(
        "authentication failed{}: {description}; check GENESYS_CLIENT_ID and \
         GENESYS_CLIENT_SECRET{} (the OAuth client must use the client-credentials grant){}",
        status.map(|s| format!(" (HTTP {s})")).unwrap_or_default(),
        region.as_deref().map(|r| format!(", and that the OAuth client belongs to region {r}")).unwrap_or_default(),
        correlation(correlation_id)
    )]
    Auth {
        /// HTTP status of the token endpoint, when it answered.
        status: Option<u16>,
        /// The OAuth `error` code (`invalid_client`, …), when there was one.
        error: Option<String>,
        /// What went wrong, in the server's words where it gave any (with
        /// any credential it echoed redacted).
        description: String,
        /// The region whose token endpoint was asked (its AWS name), or
        /// `None` when a base URL replaced the region.
        region: Option<String>,
        /// The `ININ-Correlation-Id` of the answer, for Genesys support.
        correlation_id: Option<String>,
    },

    /// HTTP 403: the token is valid but lacks a permission. Never delivered.
    #[error(
        "forbidden (HTTP 403): {message}; give the OAuth client's role the permission \
         {permission} and make sure the conversation is a messaging conversation of this \
         organisation{}",
        correlation(correlation_id)
    )]
    Forbidden {
        /// The platform's message.
        message: String,
        /// The permission this route needs.
        permission: &'static str,
        /// The `ININ-Correlation-Id` of the answer.
        correlation_id: Option<String>,
    },

    /// HTTP 429 on every attempt allowed by the [`RetryPolicy`](crate::RetryPolicy).
    /// Never delivered. Send less often, or share one `Injector` (one token)
    /// so that its rate-limit gate can pace all threads.
    ///
    /// With `attempts` 0, no request was made: the platform's budget (a
    /// 429's pause, or a window its `inin-ratelimit-*` headers say is used
    /// up) holds requests past a deadline the caller set
    /// ([`Injector::wait_for_delivery`](crate::Injector::wait_for_delivery)).
    #[error("{}{}", rate_limited(*attempts), correlation(correlation_id))]
    RateLimited {
        /// Requests made, the first one included.
        attempts: u32,
        /// The last `Retry-After` the platform sent, if it was readable.
        retry_after: Option<Duration>,
        /// The `ININ-Correlation-Id` of the last answer.
        correlation_id: Option<String>,
    },

    /// Any other error answer from the platform, with its error body parsed.
    #[error(
        "Genesys Cloud answered HTTP {status}{}: {message}{}{}",
        code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default(),
        hint(*status),
        correlation(correlation_id)
    )]
    Api {
        /// HTTP status.
        status: u16,
        /// The error body's `code` (`bad.request`, `not.found`, …).
        code: Option<String>,
        /// The error body's `message`, or the start of the raw body when it
        /// was not a Genesys error body.
        message: String,
        /// The `ININ-Correlation-Id` header (or the body's `contextId`).
        correlation_id: Option<String>,
        /// The whole parsed error body, when the answer had one.
        body: Option<Box<ApiErrorBody>>,
        /// Whether the message may have been delivered anyway.
        outcome: Outcome,
        /// When this machine began sending the request that got this answer
        /// (its wall clock): where [`Injector::resolve`](crate::Injector::resolve)
        /// starts looking.
        sent_at: Option<SystemTime>,
    },

    /// The conversation of an
    /// [`InjectRequest::to_conversation`](crate::InjectRequest::to_conversation)
    /// has no connected agent to send as. Not retried, never delivered: the
    /// agentless route sends without one.
    #[error(
        "conversation {conversation_id} has no connected agent to send as: send as an API \
         participant instead (the agentless route: InjectRequest::agentless, inject --agentless)"
    )]
    NoConnectedAgent {
        /// The conversation looked in.
        conversation_id: String,
    },

    /// Another run holds what this one needs for itself (a batch's
    /// journal): try again once it has ended. Nothing was sent.
    #[error("{what}: another run holds it; try again once that run has ended")]
    Busy {
        /// What is held (the journal's path).
        what: String,
    },

    /// The attachment's bytes could not be put where the platform said
    /// (its upload host, not Genesys Cloud's API), or the platform judged
    /// the uploaded media invalid, or not ready in time. The message was not
    /// sent.
    #[error("the attachment upload to {host} failed: {message}; the message was not sent")]
    Upload {
        /// The upload URL's scheme, host and port (never its path or query,
        /// which carry its signature), or `Genesys Cloud` for the media
        /// status.
        host: String,
        /// The HTTP status of the upload host's answer, if one came.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },

    /// The HTTP exchange itself failed (connection refused, timeout, reset, TLS).
    #[error("{}: {source}", transport_summary(*outcome))]
    Transport {
        /// Whether the message may have been delivered anyway.
        outcome: Outcome,
        /// True when a timeout (rather than an I/O error) ended the exchange.
        timed_out: bool,
        /// The underlying error. `ureq::Error` is not part of this crate's
        /// stable API: match on `outcome` and `timed_out` instead.
        #[source]
        source: ureq::Error,
        /// When this machine began sending the request (its wall clock):
        /// where [`Injector::resolve`](crate::Injector::resolve) starts
        /// looking.
        sent_at: Option<SystemTime>,
    },
}

fn rate_limited(attempts: u32) -> String {
    if attempts == 0 {
        return "rate limited: the platform's budget holds requests past the deadline, so none \
                was sent"
            .into();
    }
    format!(
        "rate limited (HTTP 429) after {attempts} attempts; the platform allows about 300 \
         requests a minute per token: slow down or retry later"
    )
}

fn correlation(id: &Option<String>) -> String {
    id.as_deref()
        .map(|c| format!(" [ININ-Correlation-Id: {c}]"))
        .unwrap_or_default()
}

fn hint(status: u16) -> &'static str {
    match status {
        400 => {
            "; the request was malformed: check the ids belong to an active messaging conversation"
        }
        404 => "; no such conversation or communication: is the conversation still active?",
        500..=599 => "; a platform or gateway error",
        _ => "",
    }
}

fn transport_summary(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::NotDelivered => "could not reach Genesys Cloud; the message was not sent",
        Outcome::Unknown => {
            "the request was sent but no answer came back: the message may have been \
             delivered, so check the conversation before sending it again"
        }
    }
}

impl Error {
    /// Whether the message may have been delivered despite this error.
    ///
    /// Only [`Error::Transport`] and [`Error::Api`] can be
    /// [`Outcome::Unknown`]; every other variant is [`Outcome::NotDelivered`].
    pub fn outcome(&self) -> Outcome {
        match self {
            Error::Transport { outcome, .. } | Error::Api { outcome, .. } => *outcome,
            _ => Outcome::NotDelivered,
        }
    }

    /// Shorthand for `self.outcome() == Outcome::Unknown`.
    pub fn is_outcome_unknown(&self) -> bool {
        self.outcome() == Outcome::Unknown
    }

    /// The `ININ-Correlation-Id` of the answer that caused this error, if any.
    /// Genesys support asks for it.
    pub fn correlation_id(&self) -> Option<&str> {
        match self {
            Error::Auth { correlation_id, .. }
            | Error::Forbidden { correlation_id, .. }
            | Error::RateLimited { correlation_id, .. }
            | Error::Api { correlation_id, .. } => correlation_id.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status the platform answered with, if it did: an API
    /// error's, the token endpoint's, 403 for [`Error::Forbidden`], 429 for
    /// [`Error::RateLimited`]; `None` for the others.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            Error::Auth { status, .. } => *status,
            Error::Forbidden { .. } => Some(403),
            Error::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    /// When this machine began sending the request whose outcome this error
    /// reports ([`Error::Transport`] and [`Error::Api`] only).
    pub fn sent_at(&self) -> Option<SystemTime> {
        match self {
            Error::Transport { sent_at, .. } | Error::Api { sent_at, .. } => *sent_at,
            _ => None,
        }
    }

    /// A short stable name for the variant (`validation`, `config`, `auth`,
    /// `forbidden`, `rate_limited`, `api`, `transport`), for logs and JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Validation(_) => "validation",
            Error::Config(_) => "config",
            Error::Auth { .. } => "auth",
            Error::Forbidden { .. } => "forbidden",
            Error::RateLimited { .. } => "rate_limited",
            Error::Api { .. } => "api",
            Error::Transport { .. } => "transport",
            Error::Upload { .. } => "upload",
            Error::NoConnectedAgent { .. } => "no_connected_agent",
            Error::Busy { .. } => "busy",
        }
    }

    /// The same error with its outcome forced to [`Outcome::NotDelivered`]:
    /// used for calls made before the message (token, typing).
    pub(crate) fn before_message(mut self) -> Self {
        if let Error::Transport { outcome, .. } | Error::Api { outcome, .. } = &mut self {
            *outcome = Outcome::NotDelivered;
        }
        self
    }
}

/// The error body Genesys Cloud sends with most error answers.
///
/// Every field is optional; unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct ApiErrorBody {
    /// Human-readable message.
    pub message: Option<String>,
    /// Machine-readable code, e.g. `too.many.requests.retry.after`.
    pub code: Option<String>,
    /// HTTP status repeated in the body.
    pub status: Option<u16>,
    /// The request's correlation id.
    pub context_id: Option<String>,
    /// Field-level details.
    pub details: Vec<ApiErrorDetail>,
    /// Nested errors.
    pub errors: Vec<ApiErrorBody>,
}

impl ApiErrorBody {
    /// Reads the error body of an answer: `None` when it is not JSON, or
    /// has neither `message` nor `code`. Read through `serde_json::Value`,
    /// as every rarely read answer is, so that the binary carries one JSON
    /// reader for them all.
    pub(crate) fn parse(body: &[u8]) -> Option<ApiErrorBody> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        Self::from_json(&value).filter(|b| b.message.is_some() || b.code.is_some())
    }

    fn from_json(value: &serde_json::Value) -> Option<ApiErrorBody> {
        let object = value.as_object()?;
        let text = |key: &str| object.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        let list = |key: &str| {
            object
                .get(key)
                .and_then(|v| v.as_array())
                .map(Vec::as_slice)
        };
        Some(ApiErrorBody {
            message: text("message"),
            code: text("code"),
            status: object
                .get("status")
                .and_then(|v| v.as_u64())
                .and_then(|n| u16::try_from(n).ok()),
            context_id: text("contextId"),
            details: list("details")
                .unwrap_or_default()
                .iter()
                .filter_map(|d| {
                    let d = d.as_object()?;
                    let text = |key: &str| d.get(key).and_then(|v| v.as_str()).map(str::to_owned);
                    Some(ApiErrorDetail {
                        error_code: text("errorCode"),
                        field_name: text("fieldName"),
                        entity_id: text("entityId"),
                        entity_name: text("entityName"),
                    })
                })
                .collect(),
            errors: list("errors")
                .unwrap_or_default()
                .iter()
                .filter_map(Self::from_json)
                .collect(),
        })
    }

    /// Redacts `secrets` and any echoed credential from every message.
    pub(crate) fn redact(&mut self, secrets: &[&str]) {
        if let Some(message) = &mut self.message {
            *message = crate::redact::redact(message, secrets);
        }
        for nested in &mut self.errors {
            nested.redact(secrets);
        }
    }
}

/// One entry of [`ApiErrorBody::details`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct ApiErrorDetail {
    /// Error code of this detail.
    pub error_code: Option<String>,
    /// The request field it is about.
    pub field_name: Option<String>,
    /// The entity it is about.
    pub entity_id: Option<String>,
    /// The entity's name.
    pub entity_name: Option<String>,
}

/// Why content or ids were refused before any network traffic.
///
/// No variant contains the message text, and ids or phone numbers are named
/// by field only, so a validation error is safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The list of content blocks was empty.
    #[error("the content block list is empty: give at least one text block")]
    NoBlocks,
    /// The joined text is empty or only white space.
    #[error("the message text is empty or only white space")]
    BlankText,
    /// One block is longer than the limit on its own.
    #[error("content block {index} is {len} UTF-16 units long; the limit is {max}")]
    BlockTooLong {
        /// Zero-based index of the block.
        index: usize,
        /// Its length in UTF-16 code units.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// The joined text is longer than the limit.
    #[error(
        "the joined message is {len} UTF-16 units long; the limit is {max} \
         (split it into several messages)"
    )]
    TooLong {
        /// Length of the joined text in UTF-16 code units.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// A content-safety rule matched. The text itself (a card number's
    /// digits, say) is not repeated: the rule and where it matched are.
    #[error("content safety check failed: the message matches the safety rule `{rule}` at character {at}")]
    Unsafe {
        /// The rule that matched, as it was configured: a pattern, or a
        /// detector's name (`card-number`, `us-ssn`).
        rule: String,
        /// Where the match begins in the joined text, in characters
        /// (Unicode scalar values) from 1.
        at: usize,
    },
    /// An id is not a GUID (8-4-4-4-12 hexadecimal digits).
    #[error("{field} must be a GUID like ec35f2a8-289b-42d4-8893-c50eaf81a3c1")]
    InvalidId {
        /// Which id (`conversation_id`, `communication_id`, …).
        field: &'static str,
    },
    /// A phone number is not in E.164 form (`+`, then 7 to 15 digits, the
    /// first not 0).
    #[error("{field} must be an E.164 phone number: + followed by 7 to 15 digits (no spaces)")]
    InvalidPhoneNumber {
        /// Which address (`from_address`, `to_address`).
        field: &'static str,
    },
    /// A WhatsApp id is not an E.164 number's digits without `+`.
    #[error(
        "{field} must be a WhatsApp id: the customer's E.164 number without + (7 to 15 digits)"
    )]
    InvalidWhatsAppId {
        /// Which address.
        field: &'static str,
    },
    /// A required address is empty or contains control characters.
    #[error("{field} must be a non-empty address without control characters")]
    InvalidAddress {
        /// Which address.
        field: &'static str,
    },
    /// The request asks for something its route or channel cannot carry.
    #[error("{0}")]
    Unsupported(&'static str),
    /// A messaging template parameter is not usable. Its value is not
    /// repeated.
    #[error("{kind} parameter {name:?} of the messaging template: {reason}")]
    InvalidTemplateParameter {
        /// `body`, `header` or `button URL`.
        kind: &'static str,
        /// The parameter's name (at most 64 characters of it).
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The attachment has no bytes.
    #[error("the attachment is empty")]
    EmptyAttachment,
    /// The attachment is larger than the platform takes
    /// ([`MEDIA_MAX_BYTES`](crate::MEDIA_MAX_BYTES)).
    #[error("the attachment is {len} bytes; the platform takes at most {max}")]
    AttachmentTooLarge {
        /// Its size in bytes.
        len: u64,
        /// The limit in bytes.
        max: u64,
    },
    /// The attachment's file name is one the platform refuses: empty,
    /// starting with `.`, ending with `/`, or with white space or one of
    /// ``\{^}%`]">[~<#|``. The name is not repeated.
    #[error("the attachment's file name is not one the platform takes (no leading dot, no white space, none of \\{{^}}%`]\">[~<#|)")]
    InvalidFileName,
    /// The attachment's type (its file name's extension) is not one the
    /// injector allows
    /// ([`InjectorBuilder::attachment_types`](crate::InjectorBuilder::attachment_types)).
    #[error("attachments of type {extension:?} are not allowed (see attachment_types; the platform's default content profile sends jpg, png and gif)")]
    AttachmentTypeNotAllowed {
        /// The extension, lower case (empty when there is none).
        extension: String,
    },
    /// The delivery delay is longer than
    /// [`MAX_DELAY`](crate::MAX_DELAY).
    #[error("the delivery delay of {delay_ms} ms is longer than the maximum of {max_ms} ms")]
    DelayTooLong {
        /// The delay asked for, in milliseconds.
        delay_ms: u64,
        /// The maximum, in milliseconds.
        max_ms: u64,
    },
}
