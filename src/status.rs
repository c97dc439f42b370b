//! What became of a message: its delivery status ([`MessageStatus`]) and,
//! after an error whose outcome is unknown, whether it is in the
//! conversation ([`Resolution`]). The HTTP calls are the injector's; this
//! module reads their answers and decides.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::{Error, Receipt};

/// The permission the status and lookup calls need (any one of the two), as
/// the SDKs document `GET …/messages/{messageId}` and `POST …/messages/bulk`.
pub(crate) const VIEW_PERMISSION: &str =
    "conversation:message:view (or conversation:webmessaging:view)";

/// How far before the attempt (on the platform's clock) a message still
/// counts as possibly ours: the `Date` header that tells the platform's
/// clock has whole seconds, and a second to spare.
pub(crate) const WINDOW_MARGIN: Duration = Duration::from_secs(2);

/// Where a look for a message begins.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Since {
    /// A time on this machine's clock, placed on the platform's through
    /// the lookup's `Date` (this run's own attempts: the clock has not
    /// been stepped since, or the `Date` check refuses it).
    Local(SystemTime),
    /// A time on the platform's clock, no later than the attempt (an
    /// earlier run's: this machine's clock then is not trusted).
    Platform(SystemTime),
}

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
    /// its answer had no `Date` header, one that could not be read, or one
    /// more than 10 minutes away from this machine's clock.
    UntrustedClock,
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
                "the platform's clock (its Date header) is missing or hours away from this machine's",
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

/// The ids of the messages sent on communication `communication_id` at or
/// after `since` (the platform's clock), from a conversation
/// (`GET /api/v2/conversations/{conversationId}`: `participants[].messages[]`
/// are the communications, each with the `messages[]` sent on it). A
/// message without a readable time counts as recent: one more text to
/// compare. `Err` says what the answer lacks to prove anything: no
/// participants, no such communication, or no list of its messages.
pub(crate) fn sent_on(
    body: &[u8],
    communication_id: &str,
    since: SystemTime,
) -> Result<Vec<String>, String> {
    let conversation: Value =
        serde_json::from_slice(body).map_err(|_| "the answer is not JSON".to_owned())?;
    let participants = conversation
        .get("participants")
        .and_then(Value::as_array)
        .ok_or("the conversation lists no participants")?;
    let mut found = false;
    let mut ids = Vec::new();
    let communications = participants.iter().flat_map(|p| list(p, "messages"));
    for communication in
        communications.filter(|c| c.get("id").and_then(Value::as_str) == Some(communication_id))
    {
        found = true;
        let messages = communication
            .get("messages")
            .and_then(Value::as_array)
            .ok_or("the communication sent as lists no messages")?;
        for message in messages {
            let recent = message
                .get("messageTime")
                .and_then(Value::as_str)
                .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
                .is_none_or(|t| t >= since);
            if recent {
                ids.push(text(message, "messageId").ok_or("a message has no messageId")?);
            }
        }
    }
    if !found {
        return Err("the conversation does not show the communication sent as".into());
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
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

/// Whether `message` is an outbound message whose text is `text`: `None`
/// when it carries no text to compare (then nothing proves it is not ours).
pub(crate) fn has_text(message: &MessageData, text: &str) -> Option<bool> {
    let body = message.text_body.as_deref()?;
    let outbound = message
        .direction
        .as_deref()
        .is_none_or(|d| d.eq_ignore_ascii_case("outbound"));
    Some(outbound && body == text)
}

/// `sent_at` (this machine's clock) on the platform's clock, minus
/// [`WINDOW_MARGIN`]: the platform's clock is the `Date` header of an
/// answer that arrived at `local_now`. `None` when the clock cannot be
/// trusted: no `Date`, one that cannot be read, or one more than
/// [`MAX_CLOCK_SKEW`] away from this machine's clock.
pub(crate) fn window_start(
    sent_at: SystemTime,
    date: Option<&str>,
    local_now: SystemTime,
) -> Option<SystemTime> {
    let platform_now = httpdate::parse_http_date(date?).ok()?;
    let on_platform = match platform_now.duration_since(local_now) {
        // The platform's clock is ahead.
        Ok(ahead) if ahead <= MAX_CLOCK_SKEW => sent_at.checked_add(ahead)?,
        Err(behind) if behind.duration() <= MAX_CLOCK_SKEW => {
            sent_at.checked_sub(behind.duration())?
        }
        _ => return None,
    };
    Some(
        on_platform
            .checked_sub(WINDOW_MARGIN)
            .unwrap_or(on_platform),
    )
}

/// Where a look begins for a message sent no earlier than `platform_at`
/// on the platform's clock: a margin before, for the platform's own
/// servers' clocks.
pub(crate) fn platform_window_start(platform_at: SystemTime) -> SystemTime {
    platform_at
        .checked_sub(WINDOW_MARGIN)
        .unwrap_or(platform_at)
}

/// A platform's `Date` further than this from this machine's clock is not
/// trusted to place a message in time: the lookup's answer is then
/// [`Unresolved::UntrustedClock`].
pub(crate) const MAX_CLOCK_SKEW: Duration = Duration::from_secs(600);

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

    #[test]
    fn the_window_follows_the_platforms_clock_when_it_can_be_trusted() {
        let local_now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let sent_at = local_now - Duration::from_secs(10);
        // The platform's clock is 300 s ahead.
        let date = httpdate::fmt_http_date(local_now + Duration::from_secs(300));
        assert_eq!(
            window_start(sent_at, Some(&date), local_now),
            Some(sent_at + Duration::from_secs(298))
        );
        let date = httpdate::fmt_http_date(local_now - Duration::from_secs(60));
        assert_eq!(
            window_start(sent_at, Some(&date), local_now),
            Some(sent_at - Duration::from_secs(62))
        );
        // No Date, an unreadable one, or one hours (or decades) away.
        for date in [
            None,
            Some("yesterday".to_owned()),
            Some(httpdate::fmt_http_date(
                local_now + Duration::from_secs(3 * 3600),
            )),
            Some(httpdate::fmt_http_date(SystemTime::UNIX_EPOCH)),
        ] {
            assert_eq!(
                window_start(sent_at, date.as_deref(), local_now),
                None,
                "{date:?}"
            );
        }
    }

    #[test]
    fn only_the_communication_sent_as_is_listed_and_missing_data_proves_nothing() {
        let body = br#"{"participants":[
            {"purpose":"customer","messages":[{"id":"cust","messages":[{"messageId":"c1"}]}]},
            {"purpose":"agent","messages":[{"id":"ours","messages":[
                {"messageId":"old","messageTime":"2026-11-27T10:00:00.000Z"},
                {"messageId":"new","messageTime":"2026-11-27T10:05:00.000Z"},
                {"messageId":"untimed"}]}]}]}"#;
        let since = humantime::parse_rfc3339("2026-11-27T10:04:00Z").unwrap();
        assert_eq!(sent_on(body, "ours", since).unwrap(), ["new", "untimed"]);
        assert!(sent_on(body, "theirs", since).is_err());
        for bad in [
            &b"<html>"[..],
            br#"{"id":"x"}"#,
            br#"{"participants":[{"messages":[{"id":"ours"}]}]}"#,
            br#"{"participants":[{"messages":[{"id":"ours","messages":[{"messageTime":"2030-01-01T00:00:00Z"}]}]}]}"#,
        ] {
            assert!(sent_on(bad, "ours", since).is_err());
        }
    }
}
