//! Helpers the state tests share.

use super::*;
use mockito::ServerGuard;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The `burst` example sending `n` messages, with a state directory.
pub fn burst(
    platform: &str,
    webhook: Option<&str>,
    state: &Path,
    n: usize,
    prefix: &str,
) -> Command {
    let mut cmd = Command::new(example_bin("burst"));
    cmd.env_clear()
        .env("BURST_UNPACED", "1")
        .env("GENESYS_CLIENT_ID", CLIENT_ID)
        .env("GENESYS_CLIENT_SECRET", CLIENT_SECRET)
        .env("GENESYS_BASE_URL", platform)
        .env("GENESYS_STATE_DIR", state)
        .env("BURST_N", n.to_string())
        .env("BURST_PREFIX", prefix)
        .env("BURST_CONVERSATION_ID", CONV)
        .env("BURST_COMMUNICATION_ID", COMM)
        .env("RUST_LOG", "genesys_inject=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(url) = webhook {
        cmd.env("WEBHOOK_URL", url);
    }
    cmd
}

pub fn succeeded(output: Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One run of one message without a webhook; its standard error.
pub fn run(server: &ServerGuard, state: &Path) -> String {
    let out = burst(&server.url(), None, state, 1, "").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    succeeded(out);
    stderr
}
