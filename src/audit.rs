//! The audit record written for every `inject` call, and the webhook body
//! that carries it. Both keep the Node.js tutorial's exact field names.

use std::time::SystemTime;

/// The `log` target of audit records.
pub const AUDIT_TARGET: &str = "genesys_inject::audit";

/// What an audit record says besides the tutorial's fields: the route's
/// channel, the batch line it was sent for, the message id, and why it
/// failed.
#[derive(Debug, Default)]
pub(crate) struct Extra<'a> {
    /// `governanceChannel`: the agentless route's messenger
    /// (`sms`, `whatsapp`, `open`, `web_messaging`, `apple`), else the
    /// tutorial's `digital_chat`.
    pub channel: &'static str,
    /// `batchId` and `lineId`: the batch line it was sent for.
    pub line: Option<(&'a str, &'a str)>,
    /// `messageId`, when the platform gave one.
    pub message_id: Option<&'a str>,
    /// On failure: `errorKind`, `httpStatus`, `correlationId`.
    pub error: Option<&'a crate::Error>,
}

/// Appends `,"key":<value as a JSON string>` to `out`.
fn push_text(out: &mut String, key: &str, value: &str) {
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":");
    out.push_str(&serde_json::to_string(value).expect("a string serializes"));
}

/// The audit record as one line of JSON, the tutorial's fields first and
/// in its order: `timestamp` (`toISOString()` form), `interactionId`,
/// `status` (`SUCCESS`/`FAILURE`), `latencyMs`, `messageSize`,
/// `eventType`, `governanceChannel`; then, when known, `batchId`,
/// `lineId`, `messageId`, and on failure `errorKind`, `httpStatus`,
/// `correlationId`.
pub(crate) fn record(
    interaction_id: &str,
    success: bool,
    latency_ms: u64,
    message_size: usize,
    extra: &Extra<'_>,
) -> String {
    // Written by hand rather than through a serde struct: this runs on every
    // `inject`, and only the ids need escaping.
    let id = serde_json::to_string(interaction_id).expect("a string serializes");
    let mut out = format!(
        r#"{{"timestamp":"{}","interactionId":{id},"status":"{}","latencyMs":{latency_ms},"messageSize":{message_size},"eventType":"bot_message_injection","governanceChannel":"{}""#,
        humantime::format_rfc3339_millis(SystemTime::now()),
        if success { "SUCCESS" } else { "FAILURE" },
        if extra.channel.is_empty() {
            "digital_chat"
        } else {
            extra.channel
        },
    );
    if let Some((batch, line)) = extra.line {
        push_text(&mut out, "batchId", batch);
        push_text(&mut out, "lineId", line);
    }
    if let Some(message) = extra.message_id {
        push_text(&mut out, "messageId", message);
    }
    if let Some(e) = extra.error {
        push_text(&mut out, "errorKind", e.kind());
        if let Some(status) = e.http_status() {
            out.push_str(&format!(",\"httpStatus\":{status}"));
        }
        if let Some(id) = e.correlation_id() {
            push_text(&mut out, "correlationId", id);
        }
    }
    out.push('}');
    out
}

/// The webhook POST body: `{"auditEntry": "<record as a string>",
/// "displayRate": 1 or 0, "latencyMs": n}`, then the record's fields past
/// the tutorial's (`batchId`, `lineId`, `messageId`, `errorKind`,
/// `httpStatus`, `correlationId`), as they are in it.
pub(crate) fn webhook_body(record: &str, success: bool, latency_ms: u64) -> Vec<u8> {
    let mut body = Vec::with_capacity(record.len() * 2 + 80);
    body.extend_from_slice(br#"{"auditEntry":""#);
    // `record` is JSON written by `record`: it has no control characters, so
    // as a JSON string it only needs `"` and `\` escaped (both ASCII, so
    // working on bytes keeps the UTF-8 intact).
    for &byte in record.as_bytes() {
        if byte == b'"' || byte == b'\\' {
            body.push(b'\\');
        }
        body.push(byte);
    }
    body.extend_from_slice(if success {
        br#"","displayRate":1,"latencyMs":"#
    } else {
        br#"","displayRate":0,"latencyMs":"#
    });
    body.extend_from_slice(latency_ms.to_string().as_bytes());
    // The record's own fields past the tutorial's, as they are written
    // there (already JSON): everything after `governanceChannel`'s value.
    let tail = record
        .find(r#""governanceChannel":""#)
        .and_then(|at| {
            let rest = &record[at + r#""governanceChannel":""#.len()..];
            rest.find('"').map(|end| &rest[end + 1..])
        })
        .unwrap_or("}");
    body.extend_from_slice(tail.as_bytes());
    body
}

/// A new random event id in the UUID version 4 form.
pub(crate) fn new_event_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::getrandom(&mut b).is_err() {
        // No OS randomness (never seen on a supported OS): time and a
        // counter still tell this process's events apart.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        b[..8].copy_from_slice(&nanos.to_le_bytes());
        b[8..].copy_from_slice(
            &COUNTER
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                .to_le_bytes(),
        );
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_shape() {
        let line = record("conv-1", true, 42, 11, &Extra::default());
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let keys: Vec<_> = line
            .split("\":")
            .map(|s| s.rsplit('"').next().unwrap())
            .collect();
        assert_eq!(
            &keys[..7],
            [
                "timestamp",
                "interactionId",
                "status",
                "latencyMs",
                "messageSize",
                "eventType",
                "governanceChannel"
            ]
        );
        assert_eq!(v["status"], "SUCCESS");
        assert_eq!(v["latencyMs"], 42);
        assert_eq!(v["messageSize"], 11);
        assert_eq!(v["eventType"], "bot_message_injection");
        assert_eq!(v["governanceChannel"], "digital_chat");
        let ts = v["timestamp"].as_str().unwrap();
        // 2026-11-26T12:56:33.123Z
        assert_eq!(ts.len(), 24, "{ts}");
        assert!(ts.ends_with('Z') && ts.as_bytes()[19] == b'.', "{ts}");
    }

    #[test]
    fn record_escapes_the_id_and_the_webhook_escapes_the_record() {
        let id = "a\"b\\c\nd\u{1}é";
        let line = record(id, true, 1, 2, &Extra::default());
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["interactionId"], id);
        let body: serde_json::Value =
            serde_json::from_slice(&webhook_body(&line, true, 1)).unwrap();
        assert_eq!(body["auditEntry"], line);
    }

    #[test]
    fn event_ids_are_random_uuids() {
        let a = new_event_id();
        let b = new_event_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4", "{a}");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
        assert!(crate::validate::is_guid(&a), "{a}");
    }

    #[test]
    fn webhook_shape() {
        let line = record("c", false, 7, 0, &Extra::default());
        let body: serde_json::Value =
            serde_json::from_slice(&webhook_body(&line, false, 7)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"auditEntry": line, "displayRate": 0, "latencyMs": 7})
        );
    }

    #[test]
    fn a_record_names_its_channel_line_message_and_failure() {
        let error = crate::Error::Api {
            status: 400,
            code: Some("bad.request".into()),
            message: "no".into(),
            correlation_id: Some("corr-1".into()),
            outcome: crate::Outcome::NotDelivered,
            sent_at: None,
            body: None,
        };
        let extra = Extra {
            channel: "sms",
            line: Some(("2026-12-05", "order-7")),
            message_id: None,
            error: Some(&error),
        };
        let line = record("c", false, 7, 12, &extra);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["governanceChannel"], "sms");
        assert_eq!(v["batchId"], "2026-12-05");
        assert_eq!(v["lineId"], "order-7");
        assert_eq!(v["errorKind"], "api");
        assert_eq!(v["httpStatus"], 400);
        assert_eq!(v["correlationId"], "corr-1");
        assert!(v.get("messageId").is_none());
        let body: serde_json::Value =
            serde_json::from_slice(&webhook_body(&line, false, 7)).unwrap();
        assert_eq!(body["auditEntry"], line);
        assert_eq!(body["httpStatus"], 400);
        assert_eq!(body["lineId"], "order-7");
        // A quote in an id is escaped in both.
        let extra = Extra {
            channel: "",
            line: Some(("b\"1", "l")),
            message_id: Some("m-1"),
            error: None,
        };
        let line = record("c", true, 1, 1, &extra);
        let body: serde_json::Value =
            serde_json::from_slice(&webhook_body(&line, true, 1)).unwrap();
        assert_eq!(body["batchId"], "b\"1");
        assert_eq!(body["messageId"], "m-1");
        assert_eq!(body["auditEntry"], line);
    }
}
