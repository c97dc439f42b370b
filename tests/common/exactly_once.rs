//! Helpers the exactly_once tests share.

use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// Waits (at most 20 s) until `done`.
pub fn until(mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "waited 20 s in vain"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

pub fn write_lines(path: &Path, lines: &[Value]) {
    std::fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
}
