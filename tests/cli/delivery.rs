//! What the `inject` command line says while and after it sends: `--wait`,
//! `--resolve`, a failure told once, the notes of a long wait.

use crate::common::cli::*;
use crate::common::*;
use serde_json::{json, Value};
use std::process::Command;

#[test]
fn wait_prints_the_final_delivery_status_and_a_failed_delivery_exits_6() {
    let status_path = format!("/api/v2/conversations/messages/{CONV}/messages/msg-1");
    for (status, code) in [("read", 0), ("delivery-failed", 6)] {
        let (mut server, message) = platform_expecting(1);
        let polled = server
            .mock("GET", status_path.as_str())
            .with_body(
                json!({"status": status, "normalizedReceipts": [{"status": "Failed",
                    "reasons": [{"code": "InvalidDestination", "message": "not a mobile"}]}]})
                .to_string(),
            )
            .expect(1)
            .create();
        let args = [&ROUTE[..], &["--json", "--no-state", "--wait", "30", "hi"]].concat();
        let (got, out, all) = inject(&env(&server), &args, None);
        assert_eq!(got, code, "{all}");
        assert_eq!(out["ok"], true);
        assert_eq!(out["delivery_status"], status);
        assert_eq!(out["delivery_final"], true);
        if code == 6 {
            assert_eq!(out["delivery_reason"], "InvalidDestination: not a mobile");
        }
        message.assert();
        polled.assert();
    }
    let (code, _, all) = inject(&[], &["--help"], None);
    assert_eq!(code, 0);
    assert!(
        all.contains("    6   --wait: delivered to the platform"),
        "{all}"
    );
}

#[test]
fn resolve_finds_a_message_whose_answer_was_lost_and_does_not_send_it_again() {
    use crate::common::conversation::{FakeConversation, OnMessage};
    let conversation = FakeConversation::start(|_| OnMessage::RecordAndAnswer(504));
    let env = vec![
        ("GENESYS_CLIENT_ID", CLIENT_ID.to_string()),
        ("GENESYS_CLIENT_SECRET", CLIENT_SECRET.to_string()),
        ("GENESYS_BASE_URL", conversation.url()),
    ];
    let args = [&ROUTE[..], &["--json", "--no-state", "--resolve", "hi"]].concat();
    let (code, out, all) = inject(&env, &args, None);
    assert_eq!(code, 0, "{all}");
    assert_eq!(out["resolved"], true);
    assert_eq!(out["message_id"], "msg-0");
    assert_eq!(conversation.texts(), ["hi"]);
    // Without --resolve: outcome unknown, exit 5, still one copy.
    let conversation = FakeConversation::start(|_| OnMessage::RecordAndAnswer(504));
    let env = [
        (env[0].0, env[0].1.clone()),
        (env[1].0, env[1].1.clone()),
        ("GENESYS_BASE_URL", conversation.url()),
    ];
    let args = [&ROUTE[..], &["--json", "--no-state", "hi"]].concat();
    let (code, _, all) = inject(&env, &args, None);
    assert_eq!(code, 5, "{all}");
    assert_eq!(conversation.texts(), ["hi"]);
}

// Issue 18: the promises as a cron user meets them.

#[test]
fn resolve_with_a_listing_that_lacks_the_data_exits_5_and_sends_once() {
    use crate::common::conversation::{FakeConversation, Lookups, OnMessage};
    for lookups in [Lookups::NoParticipants, Lookups::EmptyBulk, Lookups::NoDate] {
        let conversation = FakeConversation::start_with(lookups, std::time::Duration::ZERO, |_| {
            OnMessage::RecordAndAnswer(504)
        });
        let env = vec![
            ("GENESYS_CLIENT_ID", CLIENT_ID.to_string()),
            ("GENESYS_CLIENT_SECRET", CLIENT_SECRET.to_string()),
            ("GENESYS_BASE_URL", conversation.url()),
        ];
        let args = [&ROUTE[..], &["--json", "--no-state", "--resolve", "hi"]].concat();
        let (code, out, all) = inject(&env, &args, None);
        assert_eq!(code, 5, "{lookups:?}: {all}");
        assert_eq!(out["error"]["outcome"], "unknown");
        assert_eq!(conversation.texts(), ["hi"], "{lookups:?}");
    }
}

#[test]
fn wait_is_a_bound_even_under_a_rate_limit() {
    let (mut server, message) = platform_expecting(1);
    let status_path = format!("/api/v2/conversations/messages/{CONV}/messages/msg-1");
    server
        .mock("GET", status_path.as_str())
        .with_status(429)
        .with_header("retry-after", "30")
        .create();
    let args = [&ROUTE[..], &["--json", "--no-state", "--wait", "2", "hi"]].concat();
    let started = std::time::Instant::now();
    let (code, out, all) = inject(&env(&server), &args, None);
    let took = started.elapsed();
    // Sent: exit 0, whatever the wait found.
    assert_eq!(code, 0, "{all}");
    assert_eq!(out["delivery_status"], Value::Null);
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    message.assert();
}

#[test]
fn wait_asks_again_after_a_404_and_never_blames_the_conversation() {
    let status_path = format!("/api/v2/conversations/messages/{CONV}/messages/msg-1");
    let (mut server, message) = platform_expecting(1);
    let not_yet = server
        .mock("GET", status_path.as_str())
        .with_status(404)
        .with_body(genesys_error(404, "not.found", "not found"))
        .expect(1)
        .create();
    server
        .mock("GET", status_path.as_str())
        .with_body(json!({"status": "read"}).to_string())
        .create();
    let args = [&ROUTE[..], &["--json", "--no-state", "--wait", "30", "hi"]].concat();
    let (code, out, all) = inject(&env(&server), &args, None);
    assert_eq!(code, 0, "{all}");
    assert_eq!(out["delivery_status"], "read");
    not_yet.assert();
    message.assert();
    // Never listed within the wait: said so, without the 404's hint.
    let (mut server, _message) = platform_expecting(1);
    server
        .mock("GET", status_path.as_str())
        .with_status(404)
        .create();
    let args = [&ROUTE[..], &["--no-state", "--wait", "1", "hi"]].concat();
    let (code, _, all) = inject(&env(&server), &args, None);
    assert_eq!(code, 0, "{all}");
    assert!(all.contains("did not list the message"), "{all}");
    assert!(!all.contains("still active"), "{all}");
}

#[test]
fn the_platforms_words_never_drive_the_terminal() {
    let status_path = format!("/api/v2/conversations/messages/{CONV}/messages/msg-1");
    let (mut server, _message) = platform_expecting(1);
    server
        .mock("GET", status_path.as_str())
        .with_body(
            json!({"status": "failed", "errorInfo": {"code": "X", "message": "\u{1b}]0;owned\u{7}"}})
                .to_string(),
        )
        .create();
    let args = [&ROUTE[..], &["--no-state", "--wait", "5", "hi"]].concat();
    let (code, _, all) = inject(&env(&server), &args, None);
    assert_eq!(code, 6, "{all}");
    assert!(all.contains("owned"), "{all}");
    assert!(!all.contains('\u{1b}') && !all.contains('\u{7}'), "{all:?}");
    // An error body, on standard error.
    let mut server = platform_server();
    server
        .mock("POST", message_path().as_str())
        .with_status(400)
        .with_body(genesys_error(400, "bad.request", "\u{1b}[2Jcleared"))
        .create();
    let args = [&ROUTE[..], &["--no-state", "hi"]].concat();
    let (code, _, all) = inject(&env(&server), &args, None);
    assert_eq!(code, 1, "{all}");
    assert!(!all.contains('\u{1b}'), "{all:?}");
}

// Issue 20: a CLI that speaks its own language.

#[test]
fn a_failure_is_told_once_in_the_words_of_the_command_line() {
    let mut server = platform_server();
    server
        .mock("POST", message_path().as_str())
        .with_status(400)
        .with_body(genesys_error(400, "bad.request", "refused"))
        .create();
    let args = [&ROUTE[..], &["--no-state", "hi"]].concat();
    let (code, _, all) = inject(&env(&server), &args, None);
    assert_eq!(code, 1, "{all}");
    assert_eq!(all.matches("refused").count(), 1, "once: {all}");
    // With --json, the object says it all, and standard error one line
    // (for cron's mail); with -q, nothing.
    let mut cmd = Command::new(cli_bin());
    cmd.env_clear()
        .envs(env(&server))
        .args([&ROUTE[..], &["--no-state", "--json", "hi"]].concat());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("refused"), "{stderr}");
    let out = cmd.arg("-q").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    // Flags and variables, not the library's field names.
    let (code, out, all) = inject(
        &[],
        &[
            "--conversation",
            "nope",
            "--communication",
            COMM,
            "--json",
            "--dry-run",
            "hi",
        ],
        None,
    );
    assert_eq!(code, 2, "{all}");
    let message = out["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("--conversation must be a GUID"),
        "{message}"
    );
    assert!(!message.contains("conversation_id"), "{message}");
    let bad_base = [
        ("GENESYS_CLIENT_ID", CLIENT_ID.to_string()),
        ("GENESYS_CLIENT_SECRET", CLIENT_SECRET.to_string()),
        ("GENESYS_BASE_URL", "http://example.com".to_string()),
    ];
    let (code, _, all) = inject(
        &bad_base,
        &[&ROUTE[..], &["--no-state", "hi"]].concat(),
        None,
    );
    assert_eq!(code, 2, "{all}");
    assert!(
        all.contains("GENESYS_BASE_URL") && !all.contains("base_url"),
        "{all}"
    );
    let sms = [
        "--agentless",
        "sms",
        "--from",
        "+18005550100",
        "--to",
        "3175551234",
        "--dry-run",
        "hi",
    ];
    let (_, _, all) = inject(&[], &sms, None);
    assert!(
        all.contains("--to must be an E.164") && !all.contains("to_address"),
        "{all}"
    );
}

#[test]
fn a_404_on_the_agentless_route_does_not_speak_of_a_conversation() {
    let mut server = platform_server();
    server
        .mock("POST", "/api/v2/conversations/messages/agentless")
        .with_status(404)
        .with_body(genesys_error(404, "not.found", "no such integration"))
        .create();
    let args = [
        "--agentless",
        "sms",
        "--from",
        "+18005550100",
        "--to",
        "+13175551234",
        "--no-state",
        "hi",
    ];
    let (code, _, all) = inject(&env(&server), &args, None);
    assert_eq!(code, 1, "{all}");
    assert!(!all.contains("conversation still active"), "{all}");
    assert!(all.contains("check --from"), "{all}");
}

#[test]
fn quiet_and_verbose_and_the_notes_of_a_long_wait() {
    let status_path = format!("/api/v2/conversations/messages/{CONV}/messages/msg-1");
    let (mut server, _message) = platform_expecting(3);
    server
        .mock("GET", status_path.as_str())
        .with_body(json!({"status": "sent"}).to_string())
        .create();
    // --delay-ms of a second and --wait are announced; a wait that ends
    // without a final status says so, and still exits 0.
    let args = [
        &ROUTE[..],
        &[
            "--no-state",
            "--delay-ms",
            "1000",
            "--wait",
            "1",
            "--json",
            "hi",
        ],
    ]
    .concat();
    let (code, out, all) = inject(&env(&server), &args, None);
    assert_eq!(code, 0, "{all}");
    assert!(
        all.contains("waiting 1 s before sending (--delay-ms)"),
        "{all}"
    );
    assert!(
        all.contains("waiting up to 1 s for the final delivery status"),
        "{all}"
    );
    assert!(
        all.contains("--wait ended without a final delivery status (last seen: sent)"),
        "{all}"
    );
    assert_eq!(out["delivery_final"], false);
    // -q: none of it.
    let quiet = [
        &ROUTE[..],
        &[
            "-q",
            "--no-state",
            "--delay-ms",
            "1000",
            "--wait",
            "1",
            "hi",
        ],
    ]
    .concat();
    let (code, _, all) = inject(&env(&server), &quiet, None);
    assert_eq!(code, 0, "{all}");
    assert!(
        !all.contains("waiting") && !all.contains("--wait ended"),
        "{all}"
    );
    // -v: the library's info lines too.
    let verbose = [&ROUTE[..], &["-v", "--no-state", "hi"]].concat();
    let (code, _, all) = inject(&env(&server), &verbose, None);
    assert_eq!(code, 0, "{all}");
    assert!(
        all.contains("INFO") && all.contains("genesys_inject::audit"),
        "{all}"
    );
}

#[test]
fn a_rate_limit_pause_is_announced() {
    let mut server = platform_server();
    let limited = server
        .mock("POST", message_path().as_str())
        .with_status(429)
        .with_header("retry-after", "1")
        .expect(1)
        .create();
    let ok = server
        .mock("POST", message_path().as_str())
        .with_body(message_ok("m"))
        .expect(1)
        .create();
    let (code, _, all) = inject(
        &env(&server),
        &[&ROUTE[..], &["--no-state", "hi"]].concat(),
        None,
    );
    assert_eq!(code, 0, "{all}");
    assert!(all.contains("rate limited: holding API calls"), "{all}");
    limited.assert();
    ok.assert();
}
