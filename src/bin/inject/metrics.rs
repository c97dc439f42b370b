//! `--metrics-file FILE`: at the end of every run (a single message or a
//! batch, failed runs included), the node-exporter textfile collector's
//! format, written atomically (a temporary file in the same folder,
//! renamed over FILE). 0644, unlike the other files this tool writes: the
//! collector runs as another user, and nothing here is secret.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The outcomes counted, in the order they are written.
const OUTCOMES: [&str; 10] = [
    "sent",
    "sent_earlier",
    "failed",
    "unknown",
    "not_reached",
    "conflict",
    "deferred",
    "expired",
    "suppressed",
    "invalid",
];

/// Lines by outcome, as this run counted them.
static LINES: Mutex<[u64; OUTCOMES.len()]> = Mutex::new([0; OUTCOMES.len()]);
/// The exit status this run returns (see [`exit`]).
static STATUS: AtomicU8 = AtomicU8::new(0);

/// Counts `n` lines of `outcome` (one of [`OUTCOMES`]).
pub(crate) fn count(outcome: &str, n: u64) {
    if let Some(i) = OUTCOMES.iter().position(|o| *o == outcome) {
        LINES.lock().unwrap_or_else(|e| e.into_inner())[i] += n;
    }
}

/// The run's exit status, remembered for the metrics.
pub(crate) fn exit(code: u8) -> std::process::ExitCode {
    STATUS.store(code, Ordering::SeqCst);
    std::process::ExitCode::from(code)
}

fn seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The last fully successful run's time in the file at `path`, if any.
fn last_success(path: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find(|l| l.starts_with("genesys_inject_last_success_timestamp_seconds"))?
        .rsplit(' ')
        .next()?
        .trim()
        .parse()
        .ok()
        .filter(|t: &f64| t.is_finite() && *t > 0.0)
}

/// Whether `name` may be a label of ours: Prometheus' form
/// (`[a-zA-Z_][a-zA-Z0-9_]*`), not reserved (`__`), not `outcome`.
pub(crate) fn label_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
        && name != "outcome"
}

/// `labels` as Prometheus writes them inside braces, each value escaped
/// (`\\`, `\"`, `\n`), with a trailing comma when there are any.
fn label_text(labels: &[(String, String)]) -> String {
    labels
        .iter()
        .map(|(name, value)| {
            let value = value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{name}=\"{value}\",")
        })
        .collect()
}

/// The file's text for a run that took `took` and ended at `now`, every
/// series with `labels`.
fn render(
    lines: [u64; OUTCOMES.len()],
    status: u8,
    took: Duration,
    now: f64,
    success: Option<f64>,
    labels: &[(String, String)],
) -> String {
    let labelled = label_text(labels);
    let mut out = String::from(
        "# HELP genesys_inject_lines Lines (messages) of the last run, by outcome.\n\
         # TYPE genesys_inject_lines gauge\n",
    );
    for (outcome, n) in OUTCOMES.iter().zip(lines) {
        out.push_str(&format!(
            "genesys_inject_lines{{{labelled}outcome=\"{outcome}\"}} {n}\n"
        ));
    }
    let braces = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", labelled.trim_end_matches(','))
    };
    let mut gauge = |name: &str, help: &str, value: String| {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{braces} {value}\n"
        ));
    };
    gauge(
        "genesys_inject_exit_status",
        "The last run's exit status (0: everything sent).",
        status.to_string(),
    );
    gauge(
        "genesys_inject_run_duration_seconds",
        "How long the last run took.",
        format!("{:.3}", took.as_secs_f64()),
    );
    gauge(
        "genesys_inject_last_run_timestamp_seconds",
        "When the last run ended, in Unix time.",
        format!("{now:.3}"),
    );
    if let Some(success) = success {
        gauge(
            "genesys_inject_last_success_timestamp_seconds",
            "When the last run that exited 0 ended, in Unix time.",
            format!("{success:.3}"),
        );
    }
    out
}

/// Writes the metrics of this run, which took `took`, to `path`, every
/// series with `labels`. `Err`: what to say on standard error (a failure
/// changes nothing else).
pub(crate) fn write(
    path: &Path,
    took: Duration,
    labels: &[(String, String)],
) -> Result<(), String> {
    let status = STATUS.load(Ordering::SeqCst);
    let lines = *LINES.lock().unwrap_or_else(|e| e.into_inner());
    let now = seconds(SystemTime::now());
    let success = if status == 0 {
        Some(now)
    } else {
        last_success(path)
    };
    let text = render(lines, status, took, now, success, labels);
    replace(path, text.as_bytes())
        .map_err(|e| format!("--metrics-file {}: cannot be written: {e}", path.display()))
}

/// Writes `bytes` to a new file beside `path` and renames it over `path`.
fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?;
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o644);
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_textfile_format() {
        let text = render(
            [3, 1, 1, 0, 2, 4, 6, 7, 8, 5],
            1,
            Duration::from_millis(1500),
            2000.0,
            Some(1000.0),
            &[],
        );
        assert!(text.contains("# TYPE genesys_inject_lines gauge\n"));
        assert!(text.contains("genesys_inject_lines{outcome=\"not_reached\"} 2\n"));
        assert!(text.contains("genesys_inject_lines{outcome=\"conflict\"} 4\n"));
        assert!(text.contains("genesys_inject_lines{outcome=\"deferred\"} 6\n"));
        assert!(text.contains("genesys_inject_lines{outcome=\"suppressed\"} 8\n"));
        assert!(text.contains("genesys_inject_lines{outcome=\"invalid\"} 5\n"));
        assert!(text.contains("genesys_inject_exit_status 1\n"));
        assert!(text.contains("genesys_inject_run_duration_seconds 1.500\n"));
        assert!(text.contains("genesys_inject_last_success_timestamp_seconds 1000.000\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn labels_set_a_jobs_series_apart_and_are_escaped() {
        let labels = vec![("job_name".to_owned(), "re\"mind\\ers\n".to_owned())];
        let text = render(
            [0; OUTCOMES.len()],
            0,
            Duration::ZERO,
            2.0,
            Some(2.0),
            &labels,
        );
        assert!(text.contains(
            "genesys_inject_lines{job_name=\"re\\\"mind\\\\ers\\n\",outcome=\"sent\"} 0\n"
        ));
        assert!(text.contains("genesys_inject_exit_status{job_name=\"re\\\"mind\\\\ers\\n\"} 0\n"));
        assert!(label_name_ok("job") && label_name_ok("_x1"));
        assert!(!label_name_ok("1x") && !label_name_ok("__name") && !label_name_ok("outcome"));
        assert!(!label_name_ok("a-b") && !label_name_ok(""));
    }
}
