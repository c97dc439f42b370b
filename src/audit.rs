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
        let line = record("c", false, 7, 0);
        let body: serde_json::Value =
            serde_json::from_slice(&webhook_body(&line, false, 7)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"auditEntry": line, "displayRate": 0, "latencyMs": 7})
        );
    }
}
