//! What the `inject` command line takes: arguments, standard input, the
//! environment, the secret, the state directory, templates and
//! attachments.

use crate::common::cli::*;
use crate::common::*;
use mockito::Matcher;
use serde_json::{json, Value};
#[cfg(unix)]
use std::process::Command;

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
