//! The audit file ([`InjectorBuilder::audit_log`](crate::InjectorBuilder::audit_log)):
//! each injection's audit record, as the `log` line carries it, appended as
//! one JSON line. Opened once by `build()`: created 0600, appended to,
//! without following a link or blocking, a private regular file with one
//! link. A write that fails never fails or repeats an injection: it is
//! said once, as a warning, and the next record is tried again.

use std::fs::{File, OpenOptions};
use std::io::Write;
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
        options.append(true).create(true);
        let file: File = open_checked_for(&mut options, path)
            .map_err(|e| Error::Config(format!("audit log {}: {e}", path.display())))?;
        Ok(AuditLog::writing_to(
            path.display().to_string(),
            Box::new(file),
        ))
    }

    fn writing_to(path: String, file: Box<dyn Write + Send>) -> AuditLog {
        AuditLog {
            path,
            file: Mutex::new(file),
            told: AtomicBool::new(false),
        }
    }

    /// Appends `record` and a line break, in one write.
    pub fn append(&self, record: &str) {
        let mut line = Vec::with_capacity(record.len() + 1);
        line.extend_from_slice(record.as_bytes());
        line.push(b'\n');
        if let Err(e) = lock(&self.file).write_all(&line) {
            if !self.told.swap(true, Ordering::Relaxed) {
                log::warn!(target: "genesys_inject::audit", "audit log {}: cannot be written ({e}); the injections go on, and their records are still logged", self.path);
            }
        }
    }
}

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
