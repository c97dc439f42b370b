//! The audit record written for every `inject` call, and the webhook body
//! that carries it. Both keep the Node.js tutorial's exact field names.

use std::time::SystemTime;

use serde::Serialize;

/// The `log` target of audit records.
pub const AUDIT_TARGET: &str = "genesys_inject::audit";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditRecord<'a> {
    timestamp: String,
    interaction_id: &'a str,
    status: &'static str,
    latency_ms: u64,
    message_size: usize,
    event_type: &'static str,
    governance_channel: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookBody<'a> {
    audit_entry: &'a str,
    display_rate: u8,
    latency_ms: u64,
}

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
    let record = AuditRecord {
        timestamp: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        interaction_id,
        status: if success { "SUCCESS" } else { "FAILURE" },
        latency_ms,
        message_size,
        event_type: "bot_message_injection",
        governance_channel: "digital_chat",
    };
    serde_json::to_string(&record).expect("serializable")
}

/// The webhook POST body: `{"auditEntry": "<record as a string>",
/// "displayRate": 1 or 0, "latencyMs": n}`.
pub(crate) fn webhook_body(record: &str, success: bool, latency_ms: u64) -> Vec<u8> {
    serde_json::to_vec(&WebhookBody {
        audit_entry: record,
        display_rate: u8::from(success),
        latency_ms,
    })
    .expect("serializable")
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
