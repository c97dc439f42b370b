//! The audit file ([`InjectorBuilder::audit_log`](crate::InjectorBuilder::audit_log)):
//! each injection's audit record, as the `log` line carries it, appended as
//! one JSON line. Opened once by `build()`: created 0600, appended to,
//! without following a link or blocking, a private regular file with one
//! link. A write that fails never fails or repeats an injection: it is
//! said once, as a warning, and the next record is tried again. A file
//! whose last record is torn (a full disk, a kill mid-write) is ended with
//! a line break before the next record, which is said once: one torn
//! record never takes the next with it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::state::open_checked_for;
use crate::sync::lock;
use crate::Error;

/// An open audit file.
pub(crate) struct AuditLog {
    path: String,
    file: Mutex<Box<dyn Write + Send>>,
    /// Whether a failed write has been said.
    told: AtomicBool,
    /// Whether the file may end in a torn record: the next record starts
    /// with a line break.
    torn: AtomicBool,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .finish()
    }
}

impl AuditLog {
    /// Opens (or creates) `path` for appending.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file when it cannot be used (a link, a
    /// FIFO, another user's, not writable).
    pub fn open(path: &Path) -> Result<AuditLog, Error> {
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        let mut file: File = open_checked_for(&mut options, path)
            .map_err(|e| Error::Config(format!("audit log {}: {e}", path.display())))?;
        let torn = ends_torn(&mut file);
        let log = AuditLog::writing_to(path.display().to_string(), Box::new(file));
        log.torn.store(torn, Ordering::Relaxed);
        Ok(log)
    }

    fn writing_to(path: String, file: Box<dyn Write + Send>) -> AuditLog {
        AuditLog {
            path,
            file: Mutex::new(file),
            told: AtomicBool::new(false),
            torn: AtomicBool::new(false),
        }
    }

    /// Appends `record` and a line break, in one write (after a line
    /// break of its own when the file may end in a torn record).
    pub fn append(&self, record: &str) {
        let mut line = Vec::with_capacity(record.len() + 2);
        let mut file = lock(&self.file);
        let torn = self.torn.load(Ordering::Relaxed);
        if torn {
            line.push(b'\n');
        }
        line.extend_from_slice(record.as_bytes());
        line.push(b'\n');
        match file.write_all(&line) {
            Ok(()) if torn => {
                self.torn.store(false, Ordering::Relaxed);
                log::warn!(target: "genesys_inject::audit", "audit log {}: an earlier record was torn (a full disk, or a run stopped while writing it): it is ended there, and the records go on on lines of their own", self.path);
            }
            Ok(()) => {}
            Err(e) => {
                // Part of it may be there: the next starts on a new line.
                self.torn.store(true, Ordering::Relaxed);
                if !self.told.swap(true, Ordering::Relaxed) {
                    log::warn!(target: "genesys_inject::audit", "audit log {}: cannot be written ({e}); the injections go on, and their records are still logged", self.path);
                }
            }
        }
    }
}

/// Whether `file` is not empty and does not end with a line break.
fn ends_torn(file: &mut File) -> bool {
    let mut last = [0u8; 1];
    file.seek(SeekFrom::End(-1)).is_ok() && file.read_exact(&mut last).is_ok() && last[0] != b'\n'
}

impl AuditLog {}

#[cfg(test)]
mod tests {
    use super::*;

    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_is_told_once_and_never_panics() {
        let log = AuditLog::writing_to("x".into(), Box::new(Broken));
        log.append("{}");
        assert!(log.told.load(Ordering::Relaxed));
        log.append("{}");
    }

    #[test]
    fn a_torn_last_record_is_ended_before_the_next_and_said_once() {
        let dir = crate::state::tests::scratch("audit-torn");
        let path = dir.join("audit.jsonl");
        {
            let log = AuditLog::open(&path).unwrap();
            log.append(r#"{"a":1}"#);
        }
        // A full disk (or a kill) took the end of the next record.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"a":2,"st"#).unwrap();
        drop(f);
        let log = AuditLog::open(&path).unwrap();
        assert!(log.torn.load(Ordering::Relaxed));
        log.append(r#"{"a":3}"#);
        log.append(r#"{"a":4}"#);
        assert!(!log.torn.load(Ordering::Relaxed));
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"a\":1}\n{\"a\":2,\"st\n{\"a\":3}\n{\"a\":4}\n");
        let whole = text
            .lines()
            .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
            .count();
        assert_eq!(whole, 3, "only the torn one is lost");
        // A file that ends well, or is empty, is not torn.
        assert!(!AuditLog::open(&path).unwrap().torn.load(Ordering::Relaxed));
        let empty = dir.join("empty.jsonl");
        assert!(!AuditLog::open(&empty).unwrap().torn.load(Ordering::Relaxed));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn records_are_lines_in_a_private_file_that_is_not_a_link() {
        let dir = crate::state::tests::scratch("audit-log");
        let path = dir.join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        log.append(r#"{"a":1}"#);
        log.append(r#"{"a":2}"#);
        drop(log);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"a\":2}\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let link = dir.join("link.jsonl");
            std::os::unix::fs::symlink(&path, &link).unwrap();
            assert!(matches!(AuditLog::open(&link), Err(Error::Config(_))));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
