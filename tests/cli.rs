//! The `inject` example as a child process: exit codes and `--json` output.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::*;
use serde_json::{json, Value};

fn inject(env: &[(&str, String)], args: &[&str], stdin: Option<&str>) -> (i32, Value, String) {
    let mut cmd = Command::new(example_bin("inject"));
    cmd.env_clear()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(stdout).unwrap();
    let json = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    (
        status.code().unwrap(),
        json,
        format!("{stdout}{}", String::from_utf8_lossy(&stderr)),
    )
}

fn env(server: &mockito::ServerGuard) -> Vec<(&'static str, String)> {
    vec![
        ("GENESYS_CLIENT_ID", CLIENT_ID.into()),
        ("GENESYS_CLIENT_SECRET", CLIENT_SECRET.into()),
        ("GENESYS_BASE_URL", server.url()),
    ]
}

const ROUTE: [&str; 4] = ["--conversation", CONV, "--communication", COMM];

#[test]
fn dry_run_prints_the_exact_body_without_credentials_or_traffic() {
    let args = [&ROUTE[..], &["--dry-run", "--json", "Hello ", "-"]].concat();
    let (code, out, all) = inject(&[], &args, Some("there\n"));
    assert_eq!(code, 0, "{all}");
    assert_eq!(out["body"], json!({"textBody": "Hello there"}));
    assert_eq!(out["path"], message_path());
    assert_eq!(out["message_size"], 11);

    let (code, _, all) = inject(&[], &[&ROUTE[..], &["--dry-run", "hi"]].concat(), None);
    assert_eq!(code, 0);
    assert!(all.contains(r#"{"textBody":"hi"}"#), "{all}");
}

#[test]
fn agentless_dry_run_shows_the_body() {
    let contact = "a7c3e9d1-2b4f-4a6c-8e0d-1f2a3b4c5d6e";
    let deployment = "5e1b1f4c-8f0a-4d7e-9a1e-2b3c4d5e6f70";
    let args = [
        "--agentless",
        "webmessaging",
        "--from",
        deployment,
        "--contact",
        contact,
        "--dry-run",
        "--json",
        "hi",
    ];
    let (code, out, all) = inject(&[], &args, None);
    assert_eq!(code, 0, "{all}");
    assert_eq!(
        out["body"],
        json!({"fromAddress": deployment, "toAddressMessengerType": "webmessaging", "externalContactId": contact, "textBody": "hi", "useExistingActiveConversation": true})
    );
    let args = [
        "--agentless",
        "sms",
        "--from",
        "+18005550100",
        "--to",
        "+13175551234",
        "--new-conversation",
        "--dry-run",
        "--json",
        "hi",
    ];
    let (code, out, _) = inject(&[], &args, None);
    assert_eq!(code, 0);
    assert_eq!(out["body"]["toAddress"], "+13175551234");
    assert_eq!(out["body"]["useExistingActiveConversation"], false);
}

#[test]
fn invalid_input_and_configuration_exit_2() {
    let (code, out, _) = inject(
        &[],
        &[
            "--conversation",
            "nope",
            "--communication",
            COMM,
            "--json",
            "hi",
        ],
        None,
    );
    assert_eq!(code, 2);
    assert_eq!(out["error"]["kind"], "validation");
    let (code, out, _) = inject(
        &[],
        &[&ROUTE[..], &["--json", "my password"]].concat(),
        None,
    );
    assert_eq!(
        (code, out["error"]["kind"].as_str()),
        (2, Some("validation"))
    );
    let (code, out, _) = inject(&[], &[&ROUTE[..], &["--json", "hi"]].concat(), None);
    assert_eq!((code, out["error"]["kind"].as_str()), (2, Some("config")));
    let (code, out, _) = inject(&[], &["--json", "--bogus"], None);
    assert_eq!((code, out["error"]["kind"].as_str()), (2, Some("usage")));
}

#[test]
fn a_send_against_a_mock_platform_exits_0_with_the_receipt() {
    let mut server = platform_server();
    let message = server
        .mock("POST", message_path().as_str())
        .match_body(mockito::Matcher::Json(json!({"textBody": "from cron"})))
        .with_body(message_ok("msg-cli"))
        .expect(1)
        .create();
    let (code, out, all) = inject(
        &env(&server),
        &[&ROUTE[..], &["--json", "--delay-ms", "1", "from ", "cron"]].concat(),
        None,
    );
    assert_eq!(code, 0, "{all}");
    assert_eq!(
        out,
        json!({"ok": true, "message_id": "msg-cli", "attempts": 1, "conversation_id": CONV, "status": "queued", "correlation_id": null})
    );
    message.assert();
}

#[test]
fn rate_limited_until_retries_run_out_exits_4() {
    let mut server = platform_server();
    let limited = server
        .mock("POST", message_path().as_str())
        .with_status(429)
        .with_header("retry-after", "0")
        .expect(4)
        .create();
    let (code, out, all) = inject(
        &env(&server),
        &[&ROUTE[..], &["--json", "hi"]].concat(),
        None,
    );
    assert_eq!(code, 4, "{all}");
    assert_eq!(out["error"]["kind"], "rate_limited");
    assert_eq!(out["error"]["status"], 429);
    limited.assert();
}

#[test]
fn auth_refused_exits_3_and_unknown_outcome_exits_5() {
    let mut server = mockito::Server::new();
    server
        .mock("POST", "/oauth/token")
        .with_status(401)
        .with_body(r#"{"error":"invalid_client"}"#)
        .create();
    let (code, out, _) = inject(
        &env(&server),
        &[&ROUTE[..], &["--json", "hi"]].concat(),
        None,
    );
    assert_eq!((code, out["error"]["kind"].as_str()), (3, Some("auth")));

    let mut server = platform_server();
    server
        .mock("POST", message_path().as_str())
        .with_status(504)
        .create();
    let (code, out, _) = inject(
        &env(&server),
        &[&ROUTE[..], &["--json", "hi"]].concat(),
        None,
    );
    assert_eq!(code, 5);
    assert_eq!(out["error"]["outcome"], "unknown");
}

#[test]
fn help_documents_exit_codes_and_environment() {
    let (code, _, all) = inject(&[], &["--help"], None);
    assert_eq!(code, 0);
    for needle in [
        "EXIT STATUS",
        "GENESYS_CLIENT_ID",
        "--dry-run",
        "--agentless",
        "--json",
    ] {
        assert!(all.contains(needle), "{needle}");
    }
}

#[test]
fn the_quickstart_runs_without_credentials_and_prints_the_receipt() {
    let out = Command::new(example_bin("quickstart"))
        .env_clear()
        .output()
        .unwrap();
    let stdout = successful_stdout(&out);
    for needle in [
        "mock Genesys Cloud",
        "Token:",
        "Typing:",
        "Message:",
        "Audit record",
        "Webhook: delivered",
        "Receipt:",
        "message_id: Some(",
    ] {
        assert!(stdout.contains(needle), "{needle} missing from:\n{stdout}");
    }
}
