//! The `inject` command line as a child process: exit codes and `--json`
//! output.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::*;
use mockito::Matcher;
use serde_json::{json, Value};

fn inject(env: &[(&str, String)], args: &[&str], stdin: Option<&str>) -> (i32, Value, String) {
    inject_os(env, args, stdin.map(str::as_bytes))
}

/// Runs the CLI with any arguments (`OsString`s too) and standard input.
fn inject_os(
    env: &[(&str, String)],
    args: &[impl AsRef<std::ffi::OsStr>],
    stdin: Option<&[u8]>,
) -> (i32, Value, String) {
    let mut cmd = Command::new(cli_bin());
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
    let writer = match stdin {
        // The CLI may stop reading early (and close the pipe): not an error here.
        Some(bytes) => {
            let bytes = bytes.to_vec();
            Some(std::thread::spawn(move || {
                let _ = input.write_all(&bytes);
            }))
        }
        None => {
            drop(input);
            None
        }
    };
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    if let Some(writer) = writer {
        writer.join().unwrap();
    }
    let stdout = String::from_utf8(stdout).unwrap();
    let json = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    (
        status.code().expect("exited, not killed by a signal"),
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

/// A mock platform, and its message route, which must be called `n` times.
fn platform_expecting(n: usize) -> (mockito::ServerGuard, mockito::Mock) {
    let mut server = platform_server();
    let message = server
        .mock("POST", message_path().as_str())
        .with_body(message_ok("msg-1"))
        .expect(n)
        .create();
    (server, message)
}

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

#[cfg(unix)]
#[test]
fn non_utf8_arguments_and_environment_values_are_exit_2() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let bad = OsString::from_vec(b"caf\xe9".to_vec());
    let mut args: Vec<OsString> = ROUTE.iter().map(OsString::from).collect();
    args.extend([OsString::from("--json"), bad.clone()]);
    let (code, out, all) = inject_os(&[], &args, None);
    assert_eq!(
        (code, out["error"]["kind"].as_str()),
        (2, Some("usage")),
        "{all}"
    );
    assert!(all.contains("argument 6 is not valid UTF-8"), "{all}");
    // As a flag's value too.
    let args = [
        OsString::from("--conversation"),
        bad.clone(),
        OsString::from("hi"),
    ];
    let (code, _, all) = inject_os(&[], &args, None);
    assert_eq!(code, 2, "{all}");

    // The environment: a secret that is not UTF-8 is not "not set".
    let (server, message) = platform_expecting(0);
    let output = Command::new(cli_bin())
        .env_clear()
        .env("GENESYS_CLIENT_ID", CLIENT_ID)
        .env("GENESYS_CLIENT_SECRET", &bad)
        .env("GENESYS_BASE_URL", server.url())
        .args(ROUTE)
        .args(["--json", "hi"])
        .output()
        .unwrap();
    let out: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(out["error"]["kind"], "config");
    let msg = out["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("GENESYS_CLIENT_SECRET") && msg.contains("UTF-8"),
        "{msg}"
    );
    message.assert();
}

#[test]
fn nonsense_arguments_are_usage_errors() {
    let sms = [
        "--agentless",
        "sms",
        "--from",
        "+18005550100",
        "--to",
        "+13175551234",
    ];
    for (args, says) in [
        (
            vec!["--from", "+18005550100"],
            "belongs to the agentless route",
        ),
        (
            vec!["--to", "+13175551234"],
            "belongs to the agentless route",
        ),
        (vec!["--contact", CONV], "belongs to the agentless route"),
        (vec!["--new-conversation"], "belongs to the agentless route"),
        (vec!["--conversation", CONV], "given twice"),
        (vec!["--json"], "given twice"),
        (vec!["--delay-ms", "1", "--delay-ms", "2"], "given twice"),
        (vec!["-x"], "unknown option -x"),
        (vec!["-", "-"], "- is given twice"),
    ] {
        let all_args = [&ROUTE[..], &["--json"], &args, &["hi"]].concat();
        let (code, out, all) = inject(&[], &all_args, Some("x"));
        assert_eq!(code, 2, "{args:?}: {all}");
        assert_eq!(out["error"]["kind"], "usage", "{args:?}");
        let msg = out["error"]["message"].as_str().unwrap();
        assert!(msg.contains(says), "{args:?}: {msg}");
    }
    // The agentless route refuses the communication route's flags.
    for extra in [["--conversation", CONV], ["--communication", COMM]] {
        let args = [&sms[..], &extra, &["--json", "hi"]].concat();
        let (code, out, _) = inject(&[], &args, None);
        assert_eq!(code, 2);
        let msg = out["error"]["message"].as_str().unwrap();
        assert!(msg.contains("cannot be used with --agentless"), "{msg}");
    }
    // A flag that takes a value does not swallow the next flag.
    let args = [
        "--agentless",
        "sms",
        "--from",
        "--to",
        "+13175551234",
        "--json",
        "hi",
    ];
    let (code, out, _) = inject(&[], &args, None);
    assert_eq!(code, 2);
    let msg = out["error"]["message"].as_str().unwrap();
    assert!(msg.contains("--from needs a value"), "{msg}");
    // A text that starts with - goes after --.
    let args = [&ROUTE[..], &["--dry-run", "--json", "--", "-5 degrees"]].concat();
    let (code, out, all) = inject(&[], &args, None);
    assert_eq!(code, 0, "{all}");
    assert_eq!(out["body"]["textBody"], "-5 degrees");
}

#[test]
fn standard_input_loses_its_line_break_and_is_read_only_up_to_the_limit() {
    let args = [&ROUTE[..], &["--dry-run", "--json", "-"]].concat();
    for input in ["hello\r\n", "hello\n", "hello"] {
        let (code, out, all) = inject(&[], &args, Some(input));
        assert_eq!(code, 0, "{all}");
        assert_eq!(out["body"]["textBody"], "hello", "{input:?}");
    }
    // 8 MiB on standard input: refused after reading what a message can hold.
    let huge = vec![b'a'; 8 << 20];
    let (code, out, all) = inject_os(&[], &args, Some(&huge));
    assert_eq!(code, 2, "{all}");
    assert_eq!(out["error"]["kind"], "usage");
    assert!(all.contains("longer than a message can be"), "{all}");
}

#[test]
fn a_text_javascript_finds_blank_is_refused() {
    for blank in ["\u{FEFF}", " \u{FEFF} ", "\u{3000}\u{2028}"] {
        let args = [&ROUTE[..], &["--dry-run", "--json", blank]].concat();
        let (code, out, all) = inject(&[], &args, None);
        assert_eq!(code, 2, "{blank:?}: {all}");
        assert_eq!(out["error"]["kind"], "validation");
    }
}

#[test]
fn a_cli_validation_failure_is_audited_like_a_library_one() {
    let (mut server, message) = platform_expecting(0);
    let hook = server
        .mock("POST", "/hook")
        .match_body(Matcher::PartialJson(json!({"displayRate": 0})))
        .expect(2)
        .create();
    let mut env = env(&server);
    env.push(("WEBHOOK_URL", format!("{}/hook", server.url())));
    env.push(("RUST_LOG", "genesys_inject::audit=info".into()));
    for args in [
        vec![
            "--conversation",
            "+13175550199",
            "--communication",
            COMM,
            "hi",
        ],
        vec![
            "--conversation",
            CONV,
            "--communication",
            COMM,
            "--delay-ms",
            "600001",
            "hi",
        ],
    ] {
        let (code, out, all) = inject(&env, &[&["--json"], &args[..]].concat(), None);
        assert_eq!(
            (code, out["error"]["kind"].as_str()),
            (2, Some("validation")),
            "{all}"
        );
        assert!(
            all.contains(r#""status":"FAILURE""#),
            "no audit record: {all}"
        );
        assert!(!all.contains("+13175550199"), "{all}");
    }
    hook.assert();
    message.assert();
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

/// Runs the CLI once against `server` with `HOME` (and `extra`) set.
fn inject_at_home(
    server: &mockito::ServerGuard,
    home: &std::path::Path,
    extra: &[(&'static str, String)],
    args: &[&str],
) -> (i32, Value, String) {
    let mut env = env(server);
    env.push(("HOME", home.display().to_string()));
    env.extend(extra.iter().cloned());
    inject(
        &env,
        &[&ROUTE[..], &["--json"], args, &["hi"]].concat(),
        None,
    )
}

#[test]
fn cli_runs_share_one_token_through_the_default_state_directory() {
    let home = Scratch::new();
    let (server, token) = counting_platform(1);
    for _ in 0..3 {
        let (code, _, all) = inject_at_home(&server, &home.0, &[], &[]);
        assert_eq!(code, 0, "{all}");
        assert!(!all.contains("warning"), "{all}");
    }
    token.assert();
    let dir = home.0.join(".local/state/genesys-inject");
    assert!(dir.is_dir());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    // XDG_STATE_HOME wins over HOME.
    let xdg = home.0.join("xdg");
    let (code, _, all) = inject_at_home(
        &server,
        &home.0,
        &[("XDG_STATE_HOME", xdg.display().to_string())],
        &[],
    );
    assert_eq!(code, 0, "{all}");
    assert!(xdg.join("genesys-inject").is_dir());
}

#[test]
fn no_state_writes_nothing_and_an_unusable_state_directory_is_told() {
    let home = Scratch::new();
    let server = accepting_server();
    let (code, _, all) = inject_at_home(&server, &home.0, &[], &["--no-state"]);
    assert_eq!(code, 0, "{all}");
    assert_eq!(
        std::fs::read_dir(&home.0).unwrap().count(),
        0,
        "nothing written"
    );

    // The default cannot be created (HOME is a file): a warning, and a send.
    let file = home.0.join("not-a-directory");
    std::fs::write(&file, b"").unwrap();
    let (code, _, all) = inject_at_home(&server, &file, &[], &[]);
    assert_eq!(code, 0, "{all}");
    assert_eq!(
        all.matches("running without a state directory").count(),
        1,
        "{all}"
    );
    // No home at all: the same.
    let (code, _, all) = inject(&env(&server), &[&ROUTE[..], &["hi"]].concat(), None);
    assert_eq!(code, 0, "{all}");
    assert!(all.contains("running without a state directory"), "{all}");

    // A directory the user chose that cannot be used is an error.
    let chosen = file.display().to_string();
    for (args, extra) in [
        (vec!["--state-dir", chosen.as_str()], vec![]),
        (vec![], vec![("GENESYS_STATE_DIR", chosen.clone())]),
    ] {
        let (code, out, all) = inject_at_home(&server, &home.0, &extra, &args);
        assert_eq!(
            (code, out["error"]["kind"].as_str()),
            (2, Some("config")),
            "{all}"
        );
        assert!(all.contains("state directory"), "{all}");
    }
    let (code, out, _) = inject_at_home(
        &server,
        &home.0,
        &[],
        &["--state-dir", "/tmp", "--no-state"],
    );
    assert_eq!((code, out["error"]["kind"].as_str()), (2, Some("usage")));
}

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
    use common::conversation::{FakeConversation, OnMessage};
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

#[test]
fn templates_and_attachments_from_the_command_line() {
    let response = "3e1f7c2a-9b4d-4e6f-8a1b-2c3d4e5f6a7b";
    let integration = "5e1b1f4c-8f0a-4d7e-9a1e-2b3c4d5e6f70";
    let whatsapp = [
        "--agentless",
        "whatsapp",
        "--from",
        integration,
        "--to",
        "13175550199",
    ];
    let args = [
        &whatsapp[..],
        &[
            "--template",
            response,
            "--param",
            "name=Ada",
            "--param",
            "time=10:30",
            "--dry-run",
            "--json",
        ],
    ]
    .concat();
    let (code, out, all) = inject(&[], &args, None);
    assert_eq!(code, 0, "{all}");
    assert_eq!(
        out["body"]["messagingTemplate"],
        json!({"responseId": response, "bodyParameters": [{"id": "name", "value": "Ada"}, {"id": "time", "value": "10:30"}]})
    );
    assert_eq!(out["message_size"], 8);

    let dir = Scratch::new();
    let file = dir.0.join("parcel.png");
    std::fs::write(&file, b"png bytes").unwrap();
    let file = file.display().to_string();
    let args = [
        &ROUTE[..],
        &["--attach", file.as_str(), "--dry-run", "--json"],
    ]
    .concat();
    let (code, out, all) = inject(&[], &args, None);
    assert_eq!(code, 0, "{all}");
    assert_eq!(
        out["upload"]["body"],
        json!({"fileName": "parcel.png", "contentLengthBytes": 9})
    );
    assert!(out["upload"]["path"]
        .as_str()
        .unwrap()
        .ends_with("/messages/media/uploads"));

    // A real send: the upload call, the bytes, then the message.
    let (mut api, message) = platform_expecting(1);
    let mut storage = mockito::Server::new();
    api.mock("POST", Matcher::Regex("/media/uploads$".into()))
        .with_body(json!({"id": "media-9", "uploadUrl": format!("{}/put-here", storage.url()), "uploadHeaders": {"Content-Type": "image/png"}}).to_string())
        .create();
    let put = storage
        .mock("PUT", "/put-here")
        .match_body("png bytes")
        .expect(1)
        .create();
    api.mock("GET", Matcher::Regex("/messages/media/media-9$".into()))
        .with_body(json!({"id": "media-9", "status": "valid"}).to_string())
        .create();
    let args = [
        &ROUTE[..],
        &["--attach", file.as_str(), "--json", "--no-state"],
    ]
    .concat();
    let (code, out, all) = inject(&env(&api), &args, None);
    assert_eq!(code, 0, "{all}");
    assert_eq!(out["message_id"], "msg-1");
    put.assert();
    message.assert();

    // Usage: one body per message; flags in their place.
    for (args, says) in [
        (
            [&ROUTE[..], &["--attach", file.as_str(), "hi"]].concat(),
            "not several",
        ),
        (
            [&ROUTE[..], &["--template", response]].concat(),
            "belongs to the agentless route",
        ),
        (
            [&whatsapp[..], &["--attach", file.as_str()]].concat(),
            "cannot be used with --agentless",
        ),
        (
            [&whatsapp[..], &["--param", "a=b", "hi"]].concat(),
            "--param goes with --template",
        ),
        (
            [
                &whatsapp[..],
                &["--template", response, "--param", "nameAda"],
            ]
            .concat(),
            "NAME=VALUE",
        ),
        (
            [&ROUTE[..], &["--attach", "/no/such/file.png"]].concat(),
            "cannot read",
        ),
    ] {
        let (code, out, all) = inject(&[], &[&args[..], &["--json"]].concat(), None);
        assert_eq!(code, 2, "{args:?}: {all}");
        let msg = out["error"]["message"].as_str().unwrap();
        assert!(msg.contains(says), "{args:?}: {msg}");
    }
}

// Issue 18: the promises as a cron user meets them.

#[test]
fn resolve_with_a_listing_that_lacks_the_data_exits_5_and_sends_once() {
    use common::conversation::{FakeConversation, Lookups, OnMessage};
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

#[cfg(target_os = "linux")]
#[test]
fn an_attachment_that_changes_while_it_is_read_is_refused_before_any_traffic() {
    // /proc/self/status says 0 bytes when opened and reads more.
    let mut server = mockito::Server::new();
    let any = server.mock("POST", Matcher::Any).expect(0).create();
    let args = [&ROUTE[..], &["--no-state", "--attach", "/proc/self/status"]].concat();
    let (code, _, all) = inject(&env(&server), &args, None);
    assert_eq!(code, 2, "{all}");
    assert!(all.contains("changed while it was read"), "{all}");
    any.assert();
}

#[test]
fn version_prints_the_version() {
    for flag in ["--version", "-V"] {
        let (code, _, all) = inject(&[], &[flag], None);
        assert_eq!(code, 0, "{all}");
        assert_eq!(all.trim(), format!("inject {}", env!("CARGO_PKG_VERSION")));
    }
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
fn the_secret_can_come_from_a_file() {
    let (server, message) = platform_expecting(1);
    let dir = Scratch::new();
    let file = dir.0.join("secret");
    std::fs::write(&file, format!("{CLIENT_SECRET}\n")).unwrap();
    let env = [
        ("GENESYS_CLIENT_ID", CLIENT_ID.to_string()),
        ("GENESYS_CLIENT_SECRET_FILE", file.display().to_string()),
        ("GENESYS_BASE_URL", server.url()),
    ];
    let (code, out, all) = inject(
        &env,
        &[&ROUTE[..], &["--no-state", "--json", "hi"]].concat(),
        None,
    );
    assert_eq!(code, 0, "{all}");
    assert_eq!(out["message_id"], "msg-1");
    message.assert();
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
