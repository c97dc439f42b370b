//! Behind a TLS-inspecting proxy (issue 20): a platform whose certificate a
//! corporate CA signed is refused with the compiled-in roots and accepted
//! with that CA (`ca_file`, `SSL_CERT_FILE`, `inject --ca-file`). The server
//! is a rustls server on 127.0.0.1 with the test CA's certificate
//! (`tests/tls/`).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use common::*;
use genesys_inject::{Error, InjectorBuilder, TypingMode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("tls")
        .join(name)
}

/// A platform over TLS on 127.0.0.1 that answers the token call and
/// accepts every message (one request per connection). Returns its base URL.
fn tls_platform() -> String {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let mut reader = BufReader::new(&mut tls);
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    return; // the client refused our certificate
                }
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let answer = if first.contains("/oauth/token") {
                    format!(r#"{{"access_token":"{TOKEN}","expires_in":86399}}"#)
                } else {
                    message_ok("m-tls")
                };
                let _ = write!(
                    tls,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = tls.flush();
            });
        }
    });
    url
}

fn builder(url: &str) -> InjectorBuilder {
    InjectorBuilder::new()
        .base_url(url)
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .clock(FakeClock::new())
        .typing(TypingMode::Off)
}

#[test]
fn a_platform_signed_by_a_corporate_ca_is_refused_without_it_and_accepted_with_it() {
    let url = tls_platform();
    // The compiled-in roots do not know the test CA: no token, nothing sent.
    let err = builder(&url)
        .build()
        .unwrap()
        .inject(&request(&["hi"]))
        .unwrap_err();
    assert!(!err.is_outcome_unknown(), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(
        shown.to_lowercase().contains("certificate") || shown.contains("UnknownIssuer"),
        "{shown}"
    );
    // With the CA: delivered.
    let receipt = builder(&url)
        .ca_file(fixture("ca.pem"))
        .build()
        .unwrap()
        .inject(&request(&["hi"]))
        .unwrap();
    assert_eq!(receipt.message_id.as_deref(), Some("m-tls"));
}

#[test]
fn a_ca_file_that_is_not_usable_is_a_config_error_naming_it() {
    let dir = Scratch::new();
    let cases: [(&str, &[u8]); 4] = [
        ("empty.pem", b""),
        ("text.pem", b"not a certificate\n"),
        (
            "broken.pem",
            b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        ),
        (
            "key-only.pem",
            b"-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n",
        ),
    ];
    for (name, content) in cases {
        let path = dir.0.join(name);
        std::fs::write(&path, content).unwrap();
        match builder("https://127.0.0.1:1").ca_file(&path).build() {
            Err(Error::Config(why)) => assert!(why.contains(name), "{name}: {why}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    // A bundle cut short (a partial copy): said as such.
    let ca = std::fs::read(fixture("ca.pem")).unwrap();
    let cut = dir.0.join("cut.pem");
    std::fs::write(&cut, &ca[..ca.len() / 2]).unwrap();
    match builder("https://127.0.0.1:1").ca_file(&cut).build() {
        Err(Error::Config(why)) => {
            assert!(
                why.contains("cut.pem") && why.contains("truncated"),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
    match builder("https://127.0.0.1:1")
        .ca_file(dir.0.join("missing.pem"))
        .build()
    {
        Err(Error::Config(why)) => assert!(why.contains("missing.pem"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_cli_trusts_ssl_cert_file_and_ca_file() {
    let url = tls_platform();
    let run = |extra_env: &[(&str, String)], args: &[&str]| {
        let out = Command::new(cli_bin())
            .env_clear()
            .env("GENESYS_CLIENT_ID", CLIENT_ID)
            .env("GENESYS_CLIENT_SECRET", CLIENT_SECRET)
            .env("GENESYS_BASE_URL", &url)
            .envs(extra_env.iter().map(|(k, v)| (k, v)))
            .args([
                "--conversation",
                CONV,
                "--communication",
                COMM,
                "--no-state",
            ])
            .args(args)
            .arg("hi")
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let ca = fixture("ca.pem").display().to_string();
    let (code, stderr) = run(&[], &[]);
    assert_ne!(code, 0, "refused without the CA: {stderr}");
    let (code, stderr) = run(&[("SSL_CERT_FILE", ca.clone())], &[]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stderr) = run(&[], &["--ca-file", &ca]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stderr) = run(&[], &["--ca-file", "/nonexistent/ca.pem"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("/nonexistent/ca.pem"), "{stderr}");
}
