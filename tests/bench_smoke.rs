//! The benchmark's library path, small, against its own server: it must
//! deliver exactly N messages and N webhook events (no timing checked).

mod common;

use std::process::Command;

#[test]
fn bench_library_path_runs_and_counts_match() {
    let out = Command::new(common::example_bin("bench"))
        .args([
            "--n",
            "60",
            "--threads",
            "3",
            "--repeat",
            "1",
            "--only",
            "library",
            "--json",
        ])
        .output()
        .unwrap();
    let stdout = common::successful_stdout(&out);
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["checks"], "ok", "{report}");
    assert_eq!(report["runs"][0]["side"], "library");
    assert_eq!(report["runs"][0]["threads"], 3);
    assert!(report["validate_2000_units_ns"].as_f64().unwrap() > 0.0);
}
