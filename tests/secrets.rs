//! No secret in any library log line (at trace), error or `Debug` output.

mod common;

use common::*;
use genesys_inject::Error;

const SECOND_TOKEN: &str = "tok-BBBB2222";

#[test]
fn secrets_never_appear_in_logs_errors_or_debug() {
    capture_logs();
    let mut server = mockito::Server::new();
    let first_token = token_mock(&mut server, 86399).expect(1).create();
    server
        .mock("POST", "/oauth/token")
        .with_body(format!(
            r#"{{"access_token":"{SECOND_TOKEN}","expires_in":86399}}"#
        ))
        .create();
    server
        .mock("POST", mockito::Matcher::Regex("/typing$".into()))
        .with_status(204)
        .create();
    let refused = server
        .mock("POST", message_path().as_str())
        .with_status(401)
        .expect(1)
        .create();
    let sent = server
        .mock("POST", message_path().as_str())
        .with_body(message_ok("m"))
        .expect(1)
        .create();

    let builder = builder(&server, &FakeClock::new());
    let mut shown = vec![format!("{builder:?}")];
    let injector = builder.build().unwrap();
    shown.push(format!("{injector:?}"));

    // A full injection with a 401 and a token refresh.
    injector.inject(&request(&["hello"])).unwrap();
    refused.assert();
    first_token.assert();
    sent.assert();
    shown.push(format!("{injector:?}"));

    // Failures: a 403, and a token endpoint whose answer holds a token but no lifetime.
    server.reset();
    server
        .mock("POST", "/oauth/token")
        .with_body(format!(
            r#"{{"access_token":"{SECOND_TOKEN}","expires_in":0}}"#
        ))
        .create();
    let fresh = common::builder(&server, &FakeClock::new()).build().unwrap();
    let errors: Vec<Error> = vec![fresh.inject(&request(&["x"])).unwrap_err(), {
        let mut server = mockito::Server::new();
        token_mock(&mut server, 86399).create();
        server
            .mock("POST", mockito::Matcher::Any)
            .with_status(403)
            .with_body("{}")
            .create();
        common::builder(&server, &FakeClock::new())
            .build()
            .unwrap()
            .inject(&request(&["x"]))
            .unwrap_err()
    }];
    for e in &errors {
        shown.push(e.to_string());
        shown.push(format!("{e:?}"));
    }

    let lines = logged();
    assert!(
        lines
            .iter()
            .any(|(t, l, _)| t.starts_with("genesys_inject") && *l == log::Level::Debug),
        "debug lines were captured"
    );
    let ours: Vec<&String> = lines
        .iter()
        .filter(|(t, ..)| t.starts_with("genesys_inject"))
        .map(|(.., m)| m)
        .collect();
    for secret in [CLIENT_SECRET, BASIC, &BASIC[6..], TOKEN, SECOND_TOKEN] {
        for line in &ours {
            assert!(!line.contains(secret), "{secret:?} in log line {line:?}");
        }
        for text in &shown {
            assert!(!text.contains(secret), "{secret:?} in {text:?}");
        }
    }
}

#[test]
fn a_proxy_password_is_not_shown_by_debug() {
    let builder = genesys_inject::Injector::builder()
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .proxy("http://proxyuser:PROXY-PA55@127.0.0.1:3128");
    let builder_shown = format!("{builder:?}");
    let injector = builder.build().unwrap();
    for shown in [builder_shown, format!("{injector:?}")] {
        assert!(!shown.contains("PROXY-PA55"), "{shown}");
        assert!(!shown.contains(CLIENT_SECRET), "{shown}");
    }
}
