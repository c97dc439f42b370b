//! `from_env`: the variables it reads and their defaults. One test in its own
//! binary, because the environment is shared by the whole process.

mod common;

use common::*;
use genesys_inject::{Error, Injector, InjectorBuilder};

/// Every variable `from_env` reads: a developer's own (a real state
/// directory, say) must not reach the test.
const READ: [&str; 11] = [
    "GENESYS_CLIENT_ID",
    "GENESYSCLOUD_OAUTHCLIENT_ID",
    "GENESYS_CLIENT_SECRET",
    "GENESYS_CLIENT_SECRET_FILE",
    "GENESYSCLOUD_OAUTHCLIENT_SECRET",
    "GENESYS_REGION",
    "GENESYSCLOUD_REGION",
    "GENESYS_BASE_URL",
    "WEBHOOK_URL",
    "SSL_CERT_FILE",
    "GENESYS_STATE_DIR",
];

#[test]
fn from_env_reads_the_documented_variables() {
    for var in READ {
        std::env::remove_var(var);
    }
    // And no other: every variable name src/env.rs quotes is in the list.
    let source = include_str!("../src/env.rs");
    let named: Vec<&str> = source
        .split('"')
        .filter(|s| s.len() > 3 && s.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect();
    for var in &named {
        assert!(
            READ.contains(var),
            "src/env.rs reads {var}, which this test does not clear"
        );
    }
    match Injector::from_env() {
        Err(Error::Config(msg)) => assert!(msg.contains("GENESYS_CLIENT_ID"), "{msg}"),
        other => panic!("{other:?}"),
    }
    std::env::set_var("GENESYS_CLIENT_ID", CLIENT_ID);
    match Injector::from_env() {
        Err(Error::Config(msg)) => assert!(msg.contains("GENESYS_CLIENT_SECRET"), "{msg}"),
        other => panic!("{other:?}"),
    }
    std::env::set_var("GENESYS_CLIENT_SECRET", CLIENT_SECRET);
    // Default region us-east-1; no network call at build.
    let shown = format!("{:?}", Injector::from_env().unwrap());
    assert!(shown.contains("https://api.mypurecloud.com"), "{shown}");
    std::env::set_var("GENESYS_REGION", "eu-central-1");
    assert!(format!("{:?}", Injector::from_env().unwrap()).contains("https://api.mypurecloud.de"));
    std::env::set_var("GENESYS_REGION", "nowhere-1");
    assert!(matches!(Injector::from_env(), Err(Error::Config(_))));
    std::env::remove_var("GENESYS_REGION");

    // A value that is set but unusable is an error naming it, never a
    // fallback: not valid UTF-8 (every variable), or blank.
    let config_error = || match Injector::from_env() {
        Err(Error::Config(msg)) => msg,
        other => panic!("{other:?}"),
    };
    #[cfg(unix)]
    for var in [
        "GENESYS_CLIENT_ID",
        "GENESYS_CLIENT_SECRET",
        "GENESYS_REGION",
        "GENESYS_BASE_URL",
        "WEBHOOK_URL",
    ] {
        use std::os::unix::ffi::OsStringExt;
        let before = std::env::var_os(var);
        std::env::set_var(var, std::ffi::OsString::from_vec(b"caf\xe9".to_vec()));
        let msg = config_error();
        assert!(msg.contains(var) && msg.contains("UTF-8"), "{msg}");
        match before {
            Some(v) => std::env::set_var(var, v),
            None => std::env::remove_var(var),
        }
    }
    for (var, blank) in [
        ("GENESYS_BASE_URL", ""),
        ("GENESYS_BASE_URL", "   "),
        ("GENESYS_REGION", " "),
        ("GENESYS_CLIENT_SECRET", " "),
        ("WEBHOOK_URL", " "),
    ] {
        let before = std::env::var_os(var);
        std::env::set_var(var, blank);
        let msg = config_error();
        assert!(
            msg.contains(var) && msg.contains("blank"),
            "{var}={blank:?}: {msg}"
        );
        assert!(!msg.contains("not set"), "{msg}");
        match before {
            Some(v) => std::env::set_var(var, v),
            None => std::env::remove_var(var),
        }
    }
    // WEBHOOK_URL= (empty) is the documented way to switch the webhook off.
    std::env::set_var("WEBHOOK_URL", "");
    let shown = format!("{:?}", Injector::from_env().unwrap());
    assert!(shown.contains("webhook: None"), "{shown}");
    std::env::remove_var("WEBHOOK_URL");

    // GENESYS_BASE_URL and WEBHOOK_URL send everything to the mock.
    let mut server = mockito::Server::new();
    let token = token_mock(&mut server, 86399).expect(1).create();
    typing_mock(&mut server).create();
    server
        .mock("POST", message_path().as_str())
        .with_body(message_ok("m"))
        .create();
    let hook = server.mock("POST", "/hook").expect(1).create();
    std::env::set_var("GENESYS_BASE_URL", server.url());
    std::env::set_var("WEBHOOK_URL", format!("{}/hook", server.url()));
    let injector = InjectorBuilder::from_env()
        .unwrap()
        .clock(FakeClock::new())
        .build()
        .unwrap();
    injector.inject(&request(&["hi"])).unwrap();
    drop(injector);
    token.assert();
    hook.assert();

    // The secret from a file (container and systemd secrets): one trailing
    // line break dropped; the token call carries exactly the secret.
    let dir = Scratch::new();
    let file = dir.0.join("client-secret");
    std::fs::write(&file, format!("{CLIENT_SECRET}\n")).unwrap();
    std::env::set_var("GENESYS_CLIENT_SECRET_FILE", &file);
    let msg = config_error();
    assert!(msg.contains("both"), "{msg}");
    std::env::remove_var("GENESYS_CLIENT_SECRET");
    let token = token_mock(&mut server, 86399).expect(1).create();
    let injector = InjectorBuilder::from_env()
        .unwrap()
        .clock(FakeClock::new())
        .build()
        .unwrap();
    injector.inject(&request(&["from a file"])).unwrap();
    token.assert();
    drop(injector);
    for (content, says) in [
        (&b""[..], "empty"),
        (&b"\n"[..], "empty"),
        (&b"\xff"[..], "UTF-8"),
    ] {
        std::fs::write(&file, content).unwrap();
        let msg = config_error();
        assert!(
            msg.contains("GENESYS_CLIENT_SECRET_FILE") && msg.contains(says),
            "{msg}"
        );
    }
    std::env::set_var("GENESYS_CLIENT_SECRET_FILE", dir.0.join("missing"));
    let msg = config_error();
    assert!(
        msg.contains("missing") && msg.contains("cannot be read"),
        "{msg}"
    );
    std::env::set_var("GENESYS_CLIENT_SECRET_FILE", &dir.0);
    assert!(config_error().contains("not a regular file"));
    // A byte-order mark (Notepad's UTF-8) is not part of the secret.
    std::fs::write(&file, format!("\u{feff}{CLIENT_SECRET}\r\n")).unwrap();
    std::env::set_var("GENESYS_CLIENT_SECRET_FILE", &file);
    let token = token_mock(&mut server, 86399).expect(1).create();
    let injector = InjectorBuilder::from_env()
        .unwrap()
        .clock(FakeClock::new())
        .build()
        .unwrap();
    injector.inject(&request(&["a BOM"])).unwrap();
    token.assert();
    drop(injector);
    std::env::remove_var("GENESYS_CLIENT_SECRET_FILE");

    // The names Genesys' own CLI and Terraform provider read stand in for
    // ours; both set to different values is an error naming both.
    std::env::remove_var("GENESYS_CLIENT_ID");
    std::env::set_var("GENESYSCLOUD_OAUTHCLIENT_ID", CLIENT_ID);
    std::env::set_var("GENESYSCLOUD_OAUTHCLIENT_SECRET", CLIENT_SECRET);
    let token = token_mock(&mut server, 86399).expect(1).create();
    let injector = InjectorBuilder::from_env()
        .unwrap()
        .clock(FakeClock::new())
        .build()
        .unwrap();
    injector.inject(&request(&["their names"])).unwrap();
    token.assert();
    drop(injector);
    std::env::remove_var("GENESYS_BASE_URL");
    std::env::set_var("GENESYSCLOUD_REGION", "eu_central_1");
    let shown = format!("{:?}", Injector::from_env().unwrap());
    assert!(shown.contains("https://api.mypurecloud.de"), "{shown}");
    std::env::set_var("GENESYS_REGION", "eu-central-1");
    assert!(Injector::from_env().is_ok(), "the same region, named twice");
    std::env::set_var("GENESYS_REGION", "eu-west-1");
    let msg = config_error();
    assert!(
        msg.contains("GENESYS_REGION") && msg.contains("GENESYSCLOUD_REGION"),
        "{msg}"
    );
    std::env::remove_var("GENESYS_REGION");
    std::env::set_var("GENESYS_CLIENT_ID", "another-id");
    let msg = config_error();
    assert!(
        msg.contains("GENESYS_CLIENT_ID") && msg.contains("GENESYSCLOUD_OAUTHCLIENT_ID"),
        "{msg}"
    );
    std::env::remove_var("GENESYS_CLIENT_ID");
    std::env::set_var("GENESYS_CLIENT_SECRET", "another-secret");
    let msg = config_error();
    assert!(
        msg.contains("GENESYS_CLIENT_SECRET") && msg.contains("GENESYSCLOUD_OAUTHCLIENT_SECRET"),
        "{msg}"
    );
    assert!(
        !msg.contains("another-secret") && !msg.contains(CLIENT_SECRET),
        "{msg}"
    );
    for var in [
        "GENESYS_CLIENT_SECRET",
        "GENESYSCLOUD_OAUTHCLIENT_ID",
        "GENESYSCLOUD_OAUTHCLIENT_SECRET",
        "GENESYSCLOUD_REGION",
    ] {
        std::env::remove_var(var);
    }
}
