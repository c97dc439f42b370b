//! The `inject` command line as a child process: exit codes and `--json`
//! output.

mod common;
#[path = "cli/delivery.rs"]
mod delivery;
#[path = "cli/input.rs"]
mod input;

use common::cli::*;
use common::*;
use serde_json::json;
use std::process::{Command, Stdio};

/// Runs the CLI with standard output (and error) sent where `out` says.
fn inject_to(env: &[(&str, String)], args: &[&str], out: Stdio, err: Stdio) -> (i32, String) {
    let output = Command::new(cli_bin())
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .output()
        .unwrap();
    (
        output
            .status
            .code()
            .expect("exited, not killed by a signal"),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn dev_full() -> Stdio {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap()
        .into()
}

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

#[test]
fn a_sent_message_exits_0_whatever_happens_to_printing_the_receipt() {
    for json in [false, true] {
        let args: Vec<&str> = ROUTE
            .iter()
            .copied()
            .chain(json.then_some("--json"))
            .chain(["hi"])
            .collect();
        // Standard output is a pipe whose reader is gone: EPIPE.
        let (server, message) = platform_expecting(1);
        let mut child = Command::new(cli_bin())
            .env_clear()
            .envs(env(&server))
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(
            stderr.contains("was sent (message msg-1), but printing the receipt failed"),
            "{stderr}"
        );
        message.assert();

        // Standard output is full: ENOSPC.
        let (server, message) = platform_expecting(1);
        let (code, stderr) = inject_to(&env(&server), &args, dev_full(), Stdio::piped());
        assert_eq!(code, 0, "{stderr}");
        assert!(stderr.contains("printing the receipt failed"), "{stderr}");
        message.assert();

        // Both full: nothing can be said, and it is still exit 0.
        let (server, message) = platform_expecting(1);
        let (code, _) = inject_to(&env(&server), &args, dev_full(), dev_full());
        assert_eq!(code, 0);
        message.assert();
    }
}

#[test]
fn printing_failures_keep_the_documented_exit_statuses() {
    // An error keeps its own status even when it cannot be printed.
    let args = [&ROUTE[..], &["--json", "my password"]].concat();
    let (code, stderr) = inject_to(&[], &args, dev_full(), Stdio::piped());
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("content safety"), "{stderr}");
    let (code, _) = inject_to(&[], &args, dev_full(), dev_full());
    assert_eq!(code, 2);
    // A dry run or the help that cannot be printed is a failure (1), not a panic.
    let (code, stderr) = inject_to(
        &[],
        &[&ROUTE[..], &["--dry-run", "hi"]].concat(),
        dev_full(),
        Stdio::piped(),
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("cannot write to standard output"),
        "{stderr}"
    );
    let (code, _) = inject_to(&[], &["--help"], dev_full(), dev_full());
    assert_eq!(code, 1);
}

#[test]
fn token_endpoint_failures_have_their_own_exit_statuses() {
    for (status, body, code, kind) in [
        (429, "", 4, "rate_limited"),
        (
            400,
            r#"{"error":"invalid_request","error_description":"rate limit exceeded"}"#,
            4,
            "rate_limited",
        ),
        (503, "down", 1, "api"),
        (404, "not found", 2, "config"),
        (401, r#"{"error":"invalid_client"}"#, 3, "auth"),
    ] {
        let mut server = mockito::Server::new();
        server
            .mock("POST", "/oauth/token")
            .with_status(status)
            .with_header("retry-after", "0")
            .with_body(body)
            .create();
        let (got, out, all) = inject(
            &env(&server),
            &[&ROUTE[..], &["--json", "hi"]].concat(),
            None,
        );
        assert_eq!(
            (got, out["error"]["kind"].as_str()),
            (code, Some(kind)),
            "{status}: {all}"
        );
    }
}

#[test]
fn version_prints_the_version() {
    for flag in ["--version", "-V"] {
        let (code, _, all) = inject(&[], &[flag], None);
        assert_eq!(code, 0, "{all}");
        assert_eq!(all.trim(), format!("inject {}", env!("CARGO_PKG_VERSION")));
    }
}

#[test]
fn the_quickstart_does_not_call_a_local_mock_a_real_organisation() {
    let (server, message) = platform_expecting(1);
    let out = Command::new(example_bin("quickstart"))
        .env_clear()
        .envs(env(&server))
        .env("GENESYS_CONVERSATION_ID", CONV)
        .env("GENESYS_COMMUNICATION_ID", COMM)
        .output()
        .unwrap();
    let stdout = successful_stdout(&out);
    assert!(
        stdout.contains("GENESYS_BASE_URL is http://127.0.0.1"),
        "{stdout}"
    );
    assert!(!stdout.contains("REAL"), "{stdout}");
    message.assert();
}

#[test]
fn a_conversation_id_is_enough_on_the_command_line() {
    let (mut server, message) = platform_expecting(1);
    let lookup = server
        .mock("GET", format!("/api/v2/conversations/{CONV}").as_str())
        .with_body(
            json!({"participants": [{"purpose": "agent", "messages": [{"id": COMM, "state": "connected"}]}]}).to_string(),
        )
        .expect(1)
        .create();
    let args = ["--conversation", CONV, "--no-state", "--json", "hi"];
    let (code, out, all) = inject(&env(&server), &args, None);
    assert_eq!(code, 0, "{all}");
    assert_eq!(out["message_id"], "msg-1");
    message.assert();
    lookup.assert();
    let (code, out, _) = inject(
        &[],
        &["--conversation", CONV, "--dry-run", "--json", "hi"],
        None,
    );
    assert_eq!(code, 0);
    assert!(
        out["path"].as_str().unwrap().contains("{communicationId}"),
        "{out}"
    );
    let (code, _, all) = inject(
        &[],
        &["--conversation", CONV, "--attach", "x.png", "--dry-run"],
        None,
    );
    assert_eq!(code, 2, "{all}");
    assert!(all.contains("--attach needs --communication"), "{all}");
}
