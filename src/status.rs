//! What became of a message: its delivery status ([`MessageStatus`]) and,
//! after an error whose outcome is unknown, whether it is in the
//! conversation ([`Resolution`]). The HTTP calls are the injector's; this
//! module reads their answers and decides.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::{Error, Receipt};

/// The permission the status and lookup calls need (any one of the two), as
/// the SDKs document `GET …/messages/{messageId}` and `POST …/messages/bulk`
/// (`GET /api/v2/conversations/messages/{conversationId}` documents none).
pub(crate) const VIEW_PERMISSION: &str =
    "conversation:message:view (or conversation:webmessaging:view)";

/// How far before the attempt (on the platform's clock) a message still
/// counts as possibly ours: the `Date` header that tells the platform's
/// clock has whole seconds, and a second to spare.
pub(crate) const WINDOW_MARGIN: Duration = Duration::from_secs(2);

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

/// `code: message` of a reason or an error body.
fn reason(value: &Value) -> Option<String> {
    match (text(value, "code"), text(value, "message")) {
        (Some(code), Some(message)) => Some(format!("{code}: {message}")),
        (Some(one), None) | (None, Some(one)) => Some(one),
        (None, None) => None,
    }
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

/// The ids of a conversation's messages (`GET …/messages/{conversationId}`:
/// `participants[].messages[]`) sent at or after `since` (the platform's
/// clock). A message without a readable time counts as recent: better one
/// more text to compare than a duplicate.
pub(crate) fn messages_since(body: &[u8], since: SystemTime) -> Option<Vec<String>> {
    let conversation: Value = serde_json::from_slice(body).ok()?;
    conversation.as_object()?;
    let mut ids: Vec<String> = list(&conversation, "participants")
        .iter()
        .flat_map(|p| list(p, "messages"))
        .filter(|m| {
            m.get("messageTime")
                .and_then(Value::as_str)
                .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
                .is_none_or(|t| t >= since)
        })
        .filter_map(|m| text(m, "messageId"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    Some(ids)
}

/// The outbound messages of a bulk answer (`entities`) whose text is `text`.
pub(crate) fn with_text(body: &[u8], text: &str) -> Option<Vec<MessageData>> {
    let listing: Value = serde_json::from_slice(body).ok()?;
    listing.as_object()?;
    Some(
        list(&listing, "entities")
            .iter()
            .map(MessageData::from_json)
            .filter(|m| m.text_body.as_deref() == Some(text))
            .filter(|m| {
                m.direction
                    .as_deref()
                    .is_none_or(|d| d.eq_ignore_ascii_case("outbound"))
            })
            .collect(),
    )
}

/// `sent_at` (this machine's clock) on the platform's clock, minus
/// [`WINDOW_MARGIN`]: the platform's clock is the `Date` header of an
/// answer that arrived at `local_now`. Without a `Date`, the clocks are
/// taken to agree.
pub(crate) fn window_start(
    sent_at: SystemTime,
    date: Option<&str>,
    local_now: SystemTime,
) -> SystemTime {
    let platform_now = date.and_then(|d| httpdate::parse_http_date(d).ok());
    let on_platform = match platform_now {
        Some(platform_now) => match platform_now.duration_since(local_now) {
            // The platform's clock is ahead.
            Ok(ahead) => sent_at.checked_add(ahead),
            Err(behind) => sent_at.checked_sub(behind.duration()),
        },
        None => Some(sent_at),
    }
    .unwrap_or(sent_at);
    on_platform
        .checked_sub(WINDOW_MARGIN)
        .unwrap_or(on_platform)
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
    }

    #[test]
    fn the_window_follows_the_platforms_clock() {
        let local_now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let sent_at = local_now - Duration::from_secs(10);
        // The platform's clock is 300 s ahead.
        let date = httpdate::fmt_http_date(local_now + Duration::from_secs(300));
        assert_eq!(
            window_start(sent_at, Some(&date), local_now),
            sent_at + Duration::from_secs(298)
        );
        let date = httpdate::fmt_http_date(local_now - Duration::from_secs(60));
        assert_eq!(
            window_start(sent_at, Some(&date), local_now),
            sent_at - Duration::from_secs(62)
        );
        assert_eq!(
            window_start(sent_at, None, local_now),
            sent_at - WINDOW_MARGIN
        );
    }

    #[test]
    fn messages_are_kept_from_the_window_on() {
        let body = br#"{"participants":[
            {"messages":[{"messageId":"old","messageTime":"2026-11-27T10:00:00.000Z"}]},
            {"messages":[{"messageId":"new","messageTime":"2026-11-27T10:05:00.000Z"},
                         {"messageId":"untimed"}]}]}"#;
        let since = humantime::parse_rfc3339("2026-11-27T10:04:00Z").unwrap();
        assert_eq!(messages_since(body, since).unwrap(), ["new", "untimed"]);
        assert!(messages_since(b"<html>", since).is_none());
    }
}
