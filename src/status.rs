//! What became of a message: its delivery status ([`MessageStatus`]) and,
//! after an error whose outcome is unknown, whether it is in the
//! conversation ([`Resolution`]). The HTTP calls are the injector's; this
//! module reads their answers and decides.

use std::fmt;

use serde_json::Value;

use crate::{Error, Receipt};

/// The permission the status and lookup calls need (any one of the two), as
/// the SDKs document `GET …/messages/{messageId}` and `POST …/messages/bulk`.
pub(crate) const VIEW_PERMISSION: &str =
    "conversation:message:view (or conversation:webmessaging:view)";

/// Most message ids per bulk call, as the platform allows.
pub(crate) const BULK_MAX: usize = 1000;

/// The status of a message as the platform reports it
/// (`MessageData.status`), with the platform's reason for a failure when it
/// gives one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageStatus {
    /// Accepted by the platform, not yet sent on (`queued`).
    Queued,
    /// Sent on to the channel (`sent`).
    Sent,
    /// An inbound message (`received`).
    Received,
    /// Published (`published`: social channels).
    Published,
    /// Removed (`removed`).
    Removed,
    /// The channel confirmed delivery to the customer (`delivery-success`).
    DeliverySuccess,
    /// The customer read it (`read`).
    Read,
    /// The channel could not deliver it to the customer
    /// (`delivery-failed`).
    DeliveryFailed {
        /// The platform's reason (a failed receipt's reasons), if it gave one.
        reason: Option<String>,
    },
    /// The platform could not send it (`failed`).
    Failed {
        /// The platform's reason (a failed receipt's reasons), if it gave one.
        reason: Option<String>,
    },
    /// A status this crate does not know, as the platform wrote it.
    Other(String),
}

impl MessageStatus {
    /// Whether the status will not change any more: delivered, read,
    /// failed or delivery-failed.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            MessageStatus::DeliverySuccess
                | MessageStatus::Read
                | MessageStatus::DeliveryFailed { .. }
                | MessageStatus::Failed { .. }
        )
    }

    /// Whether the message did not reach the customer: failed or
    /// delivery-failed.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            MessageStatus::DeliveryFailed { .. } | MessageStatus::Failed { .. }
        )
    }

    /// The platform's name (`queued`, `delivery-success`, …).
    pub fn as_str(&self) -> &str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sent => "sent",
            MessageStatus::Received => "received",
            MessageStatus::Published => "published",
            MessageStatus::Removed => "removed",
            MessageStatus::DeliverySuccess => "delivery-success",
            MessageStatus::Read => "read",
            MessageStatus::DeliveryFailed { .. } => "delivery-failed",
            MessageStatus::Failed { .. } => "failed",
            MessageStatus::Other(other) => other,
        }
    }

    /// The platform's reason for a failure, if it gave one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            MessageStatus::DeliveryFailed { reason } | MessageStatus::Failed { reason } => {
                reason.as_deref()
            }
            _ => None,
        }
    }

    fn new(status: &str, reason: Option<String>) -> MessageStatus {
        match status.to_ascii_lowercase().as_str() {
            "queued" => MessageStatus::Queued,
            "sent" => MessageStatus::Sent,
            "received" => MessageStatus::Received,
            "published" => MessageStatus::Published,
            "removed" => MessageStatus::Removed,
            "delivery-success" => MessageStatus::DeliverySuccess,
            "read" => MessageStatus::Read,
            "delivery-failed" => MessageStatus::DeliveryFailed { reason },
            "failed" => MessageStatus::Failed { reason },
            _ => MessageStatus::Other(status.to_owned()),
        }
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        match self.reason() {
            Some(reason) => write!(f, " ({reason})"),
            None => Ok(()),
        }
    }
}

/// What [`Injector::resolve`](crate::Injector::resolve) found out about a
/// message whose outcome was unknown.
#[derive(Debug)]
#[non_exhaustive]
pub enum Resolution {
    /// The message is in the conversation: the receipt is built from what
    /// the platform holds (`resolved` is true).
    Delivered(Receipt),
    /// It is not there (or the error said it was never sent): sending it
    /// again cannot make a duplicate.
    NotDelivered,
    /// Still unknown, and why.
    Unknown(Unresolved),
}

/// Why [`Resolution::Unknown`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Unresolved {
    /// The route gives no conversation to look in: on the agentless route
    /// only the lost answer named it.
    NoConversation,
    /// The error does not say when the request was sent
    /// ([`Error::sent_at`] is `None`).
    NoSendTime,
    /// The message is an attachment or a template: there is no text to
    /// compare.
    NotText,
    /// The lookup itself failed.
    LookupFailed(Box<Error>),
    /// The platform's clock cannot be trusted to place the message in time:
    /// the lookup's answer had no `Date` header, or one that could not be
    /// read; or, with nothing listed before the send to mark the place, one
    /// more than 10 minutes away from this machine's clock (this run's own
    /// attempt) or earlier than the platform time the attempt recorded (an
    /// earlier run's).
    UntrustedClock,
    /// No message was found, but the look came sooner after the attempt
    /// than the platform may take to list a message
    /// ([`RetryPolicy::settle_time`](crate::RetryPolicy::settle_time)), and
    /// waiting longer was not allowed (a deadline, a stop, or
    /// [`Injector::resolve`](crate::Injector::resolve), which never waits):
    /// a later look can tell.
    NotSettled {
        /// How long after the attempt the last look was.
        after: std::time::Duration,
    },
    /// The run that sent it had no time from the platform (no answer with
    /// a `Date` before the message left), so no look can be sure to cover
    /// the moment it arrived: this machine's clock then is not trusted.
    NoPlatformTime,
    /// The answers lack what it takes to prove the message absent (a
    /// conversation without its participants or without the communication
    /// sent as, a bulk answer without every id asked for, a message without
    /// its text): what was missing.
    Incomplete(String),
}

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unresolved::NoConversation => f.write_str(
                "the agentless route gives no conversation to look in (only the lost answer named it)",
            ),
            Unresolved::NoSendTime => f.write_str("the error does not say when the request was sent"),
            Unresolved::NotText => f.write_str("the message is not text: there is nothing to compare"),
            Unresolved::LookupFailed(e) => write!(f, "the lookup failed: {e}"),
            Unresolved::UntrustedClock => f.write_str(
                "the platform's clock (its Date header) is missing, or disagrees with this machine's or with the time recorded for the attempt",
            ),
            Unresolved::NotSettled { after } => write!(
                f,
                "not listed {} s after it was sent, sooner than the platform may take to list it: a later run can tell",
                after.as_secs()
            ),
            Unresolved::NoPlatformTime => f.write_str(
                "the run that sent it had no time from the platform, so no look can be sure to cover it",
            ),
            Unresolved::Incomplete(what) => write!(f, "the answers cannot prove it absent: {what}"),
        }
    }
}

/// A `MessageData`, as far as this module reads it. Every answer here is
/// read through `serde_json::Value`: one JSON reader in the binary for all
/// the rarely read answers, rather than one derived parser each.
#[derive(Default)]
pub(crate) struct MessageData {
    pub id: Option<String>,
    pub status: Option<String>,
    pub text_body: Option<String>,
    pub direction: Option<String>,
    pub conversation_id: Option<String>,
    /// The platform's reasons, from its failed receipts and `errorInfo`.
    reasons: Vec<String>,
}

/// `object[key]` as a string.
fn text(object: &Value, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// `object[key]` as an array (empty when missing).
fn list<'a>(object: &'a Value, key: &str) -> &'a [Value] {
    object
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// `code: message` of a reason or an error body, without control
/// characters (a terminal must not take the platform's words for its own
/// commands), at most 500 characters.
fn reason(value: &Value) -> Option<String> {
    let reason = match (text(value, "code"), text(value, "message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => return None,
    };
    Some(
        reason
            .chars()
            .map(|c| if c.is_control() { '\u{fffd}' } else { c })
            .take(500)
            .collect(),
    )
}

impl MessageData {
    fn from_json(value: &Value) -> MessageData {
        let failed = list(value, "normalizedReceipts").iter().filter(|r| {
            r.get("status")
                .and_then(Value::as_str)
                .is_some_and(|s| s.eq_ignore_ascii_case("failed"))
        });
        let reasons = failed
            .flat_map(|r| list(r, "reasons").iter().filter_map(reason))
            .chain(value.get("errorInfo").and_then(reason))
            .collect();
        MessageData {
            id: text(value, "id"),
            status: text(value, "status"),
            text_body: text(value, "textBody"),
            direction: text(value, "direction"),
            conversation_id: text(value, "conversationId"),
            reasons,
        }
    }

    /// The status, with the reasons of its failed receipts (or its
    /// `errorInfo`) when it failed.
    pub fn status(&self) -> MessageStatus {
        let reason = (!self.reasons.is_empty()).then(|| self.reasons.join("; "));
        MessageStatus::new(self.status.as_deref().unwrap_or("unknown"), reason)
    }
}

/// Reads a `MessageData` answer.
pub(crate) fn message_data(body: &[u8]) -> Option<MessageData> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value.is_object().then(|| MessageData::from_json(&value))
}

/// One page of a bulk answer (`POST …/messages/bulk`: a listing whose
/// `entities` are `MessageData`, with a `nextUri` when it pages).
pub(crate) struct BulkPage {
    pub entities: Vec<MessageData>,
    pub next: Option<String>,
}

/// Reads one page of a bulk answer; `None` when it is not a listing.
pub(crate) fn bulk_page(body: &[u8]) -> Option<BulkPage> {
    let listing: Value = serde_json::from_slice(body).ok()?;
    let entities = listing.get("entities")?.as_array()?;
    Some(BulkPage {
        entities: entities.iter().map(MessageData::from_json).collect(),
        next: text(&listing, "nextUri").filter(|n| !n.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_statuses() {
        // Every name is read in tests/status.rs, through the platform's answer.
        assert!(MessageStatus::Read.is_final() && MessageStatus::DeliverySuccess.is_final());
        assert!(!MessageStatus::Sent.is_final() && !MessageStatus::Other("x".into()).is_final());
        assert_eq!(
            MessageStatus::new("DELIVERY-SUCCESS", None),
            MessageStatus::DeliverySuccess
        );
    }

    #[test]
    fn a_failure_carries_the_platforms_reasons() {
        let body = br#"{"status":"delivery-failed","normalizedReceipts":[
            {"status":"Sent"},
            {"status":"Failed","reasons":[{"code":"RecipientOptedOut","message":"the customer opted out"}]}]}"#;
        let status = message_data(body).unwrap().status();
        assert_eq!(
            status.reason(),
            Some("RecipientOptedOut: the customer opted out")
        );
        assert!(status.is_failure() && status.is_final());
        assert_eq!(
            status.to_string(),
            "delivery-failed (RecipientOptedOut: the customer opted out)"
        );
        // A terminal's escape sequences are not passed on.
        let body =
            br#"{"status":"failed","errorInfo":{"code":"X","message":"\u001b]0;pwned\u0007 ok"}}"#;
        let reason = message_data(body)
            .unwrap()
            .status()
            .reason()
            .unwrap()
            .to_owned();
        assert_eq!(reason, "X: \u{fffd}]0;pwned\u{fffd} ok");
    }
}
