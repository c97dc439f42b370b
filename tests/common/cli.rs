//! Helpers the cli tests share.

use super::*;
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Output, Stdio};

pub fn inject(env: &[(&str, String)], args: &[&str], stdin: Option<&str>) -> (i32, Value, String) {
    inject_os(env, args, stdin.map(str::as_bytes))
}

/// Runs the CLI with any arguments (`OsString`s too) and standard input.
pub fn inject_os(
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

pub fn env(server: &mockito::ServerGuard) -> Vec<(&'static str, String)> {
    vec![
        ("GENESYS_CLIENT_ID", CLIENT_ID.into()),
        ("GENESYS_CLIENT_SECRET", CLIENT_SECRET.into()),
        ("GENESYS_BASE_URL", server.url()),
    ]
}

pub const ROUTE: [&str; 4] = ["--conversation", CONV, "--communication", COMM];

/// A mock platform, and its message route, which must be called `n` times.
pub fn platform_expecting(n: usize) -> (mockito::ServerGuard, mockito::Mock) {
    let mut server = platform_server();
    let message = server
        .mock("POST", message_path().as_str())
        .with_body(message_ok("msg-1"))
        .expect(n)
        .create();
    (server, message)
}
