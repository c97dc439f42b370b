//! Running `inject --batch` as a child process, and reading what it said.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

use super::{cli_bin, CLIENT_ID, CLIENT_SECRET, CONV};

/// `inject --batch FILE --journal JOURNAL` (and `extra`) against `url`,
/// paced far above what these tests send, with a settling time of 2 s (the
/// fake platform lists a message at once; tests/platform_clocks.rs tests
/// the settling on an injected clock).
pub fn batch_cmd(url: &str, file: &Path, journal: &Path, extra: &[&str]) -> Command {
    batch_cmd_at("60000", url, file, journal, extra)
}

/// As [`batch_cmd`], paced to `rate` requests a minute.
pub fn batch_cmd_at(rate: &str, url: &str, file: &Path, journal: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(cli_bin());
    cmd.env_clear()
        .env("GENESYS_CLIENT_ID", CLIENT_ID)
        .env("GENESYS_CLIENT_SECRET", CLIENT_SECRET)
        .env("GENESYS_BASE_URL", url)
        .args(["--batch"])
        .arg(file)
        .arg("--journal")
        .arg(journal)
        // Unpaced but where a test says: the token's budget and each SMS
        // number's carrier rate out of the way.
        .args([
            "--no-state",
            "--rate",
            rate,
            "--sender-rate",
            "1000",
            "--settle-time",
            "2",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

pub fn run(cmd: &mut Command) -> (i32, Vec<Value>, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    let stdout = String::from_utf8(stdout).unwrap();
    let objects = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (
        status.code().expect("exited"),
        objects,
        format!("{stdout}{}", String::from_utf8_lossy(&stderr)),
    )
}

/// A batch of `n` lines to the conversation (sent as its agent), texts
/// `"<prefix> <i>"`.
pub fn write_batch(path: &Path, prefix: &str, n: usize) -> Vec<String> {
    let texts: Vec<String> = (0..n).map(|i| format!("{prefix} {i}")).collect();
    let mut file = std::fs::File::create(path).unwrap();
    for text in &texts {
        writeln!(file, "{}", json!({"conversation": CONV, "text": text})).unwrap();
    }
    texts
}

pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

pub fn summary(objects: &[Value]) -> &Value {
    objects
        .iter()
        .find(|o| o["type"] == "summary")
        .expect("a summary")
}
