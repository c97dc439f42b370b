//! The audit record written for every `inject` call, and the webhook body
//! that carries it. Both keep the Node.js tutorial's exact field names.

use std::time::SystemTime;

/// The `log` target of audit records.
pub const AUDIT_TARGET: &str = "genesys_inject::audit";

/// The audit record as one line of JSON, fields in the tutorial's order:
/// `timestamp` (`toISOString()` form), `interactionId`, `status`
/// (`SUCCESS`/`FAILURE`), `latencyMs`, `messageSize`, `eventType`,
/// `governanceChannel`.
pub(crate) fn record(
    interaction_id: &str,
    success: bool,
    latency_ms: u64,
    message_size: usize,
) -> String {
    // Written by hand rather than through a serde struct: this runs on every
    // `inject`, and only the id needs escaping.
    let id = serde_json::to_string(interaction_id).expect("a string serializes");
    format!(
        r#"{{"timestamp":"{}","interactionId":{id},"status":"{}","latencyMs":{latency_ms},"messageSize":{message_size},"eventType":"bot_message_injection","governanceChannel":"digital_chat"}}"#,
        humantime::format_rfc3339_millis(SystemTime::now()),
        if success { "SUCCESS" } else { "FAILURE" },
    )
}

/// The webhook POST body: `{"auditEntry": "<record as a string>",
/// "displayRate": 1 or 0, "latencyMs": n}`.
pub(crate) fn webhook_body(record: &str, success: bool, latency_ms: u64) -> Vec<u8> {
    let mut body = Vec::with_capacity(record.len() + 80);
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
    body.push(b'}');
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_shape() {
        let line = record("conv-1", true, 42, 11);
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
        let line = record(id, true, 1, 2);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["interactionId"], id);
        let body: serde_json::Value =
            serde_json::from_slice(&webhook_body(&line, true, 1)).unwrap();
        assert_eq!(body["auditEntry"], line);
    }

    #[test]
    fn webhook_shape() {
        let line = record("c", false, 7, 0);
        let body: serde_json::Value =
            serde_json::from_slice(&webhook_body(&line, false, 7)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"auditEntry": line, "displayRate": 0, "latencyMs": 7})
        );
    }
}
