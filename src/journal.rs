//! A batch's journal: one JSON record a line, appended and synced, of what
//! became of each line of a batch: `attempting` (on disk before the message
//! request leaves), then `sent`, `failed` or `unknown`. A later run reads it
//! back and resumes: the last record of a line tells what to do with it. A
//! torn last record (a run killed while writing it) is ignored. One run at a
//! time: the journal's lock file is held while it is open.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::state::{create_private_dir, open_checked_for, try_lock, StateDir};
use crate::Error;

/// The largest journal read (a line's records are under 200 bytes).
const MAX_JOURNAL: u64 = 256 << 20;

/// The last thing a journal says of one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record {
    /// The message request may have left, at this time (this machine's
    /// clock), with no answer recorded.
    Attempting {
        at: SystemTime,
    },
    Sent {
        message_id: Option<String>,
    },
    /// Failed for a reason of this class; `retry`: the reason can pass.
    Failed {
        class: String,
        retry: bool,
    },
    /// Sent, and no answer came back, at this time.
    Unknown {
        at: SystemTime,
    },
}

/// An open journal, locked for this run.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    _lock: File,
    last: HashMap<String, Record>,
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

impl Journal {
    /// Opens (or creates, 0600) the journal at `path`, reads what earlier
    /// runs recorded, and holds `<path>.lock` until dropped.
    ///
    /// # Errors
    /// [`Error::Config`] when the file cannot be used (not a private
    /// regular file, unreadable), or when another run holds its lock.
    pub fn open(path: impl Into<PathBuf>) -> Result<Journal, Error> {
        let path = path.into();
        let bad = |why: String| Error::Config(format!("journal {}: {why}", path.display()));
        let lock_path = PathBuf::from(format!("{}.lock", path.display()));
        let lock = match try_lock(&lock_path) {
            Ok(Some(lock)) => lock,
            Ok(None) => return Err(bad("another run of this batch holds it".into())),
            Err(e) => return Err(bad(format!("cannot lock {}: {e}", lock_path.display()))),
        };
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        let mut file = open_checked_for(&mut options, &path).map_err(|e| bad(e.to_string()))?;
        let mut bytes = Vec::new();
        (&mut file)
            .take(MAX_JOURNAL + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("cannot be read: {e}")))?;
        if bytes.len() as u64 > MAX_JOURNAL {
            return Err(bad(format!("is larger than {MAX_JOURNAL} bytes")));
        }
        let mut last = HashMap::new();
        let text = String::from_utf8_lossy(&bytes);
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        if complete.len() + 1 < text.len() {
            log::warn!(target: "genesys_inject::batch", "journal {}: its last record is torn (a run was stopped while writing it): ignored", path.display());
            // The next record starts on a line of its own.
            file.write_all(b"\n").map_err(|e| bad(e.to_string()))?;
        }
        for (n, line) in complete.lines().enumerate() {
            match parse(line) {
                Some((id, record)) => {
                    last.insert(id, record);
                }
                None if line.trim().is_empty() => {}
                None => {
                    log::warn!(target: "genesys_inject::batch", "journal {}: record {} is damaged: ignored", path.display(), n + 1)
                }
            }
        }
        Ok(Journal {
            path,
            file,
            _lock: lock,
            last,
        })
    }

    /// The journal of batch `batch_id` in a state directory:
    /// `<state>/journal/<hash of the id>.jsonl`.
    ///
    /// # Errors
    /// As [`open`](Self::open), and when the state directory cannot be used.
    pub fn in_state_dir(state_dir: impl AsRef<Path>, batch_id: &str) -> Result<Journal, Error> {
        let state = StateDir::open(state_dir.as_ref())?;
        let dir = state.path().join("journal");
        create_private_dir(&dir)
            .map_err(|e| Error::Config(format!("journal directory {}: {e}", dir.display())))?;
        let hash = crate::state::fnv1a_128(batch_id.as_bytes());
        Journal::open(dir.join(format!("{hash:032x}.jsonl")))
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn last(&self, line: &str) -> Option<&Record> {
        self.last.get(line)
    }

    /// Appends `record` for `line` and syncs it to disk.
    pub(crate) fn write(&mut self, line: &str, record: Record) -> io::Result<()> {
        let value = match &record {
            Record::Attempting { at } => {
                json!({"line": line, "state": "attempting", "at": millis(*at)})
            }
            Record::Sent { message_id } => {
                json!({"line": line, "state": "sent", "message_id": message_id})
            }
            Record::Failed { class, retry } => {
                json!({"line": line, "state": "failed", "class": class, "retry": retry})
            }
            Record::Unknown { at } => json!({"line": line, "state": "unknown", "at": millis(*at)}),
        };
        let mut bytes = serde_json::to_vec(&value).expect("a record serializes");
        bytes.push(b'\n');
        self.file.write_all(&bytes)?;
        self.file.sync_data()?;
        self.last.insert(line.to_owned(), record);
        Ok(())
    }
}

fn parse(line: &str) -> Option<(String, Record)> {
    let v: Value = serde_json::from_str(line).ok()?;
    let id = v.get("line")?.as_str()?.to_owned();
    let at = || v.get("at").and_then(Value::as_u64).map(from_millis);
    let record = match v.get("state")?.as_str()? {
        "attempting" => Record::Attempting { at: at()? },
        "sent" => Record::Sent {
            message_id: v
                .get("message_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
        },
        "failed" => Record::Failed {
            class: v.get("class")?.as_str()?.to_owned(),
            retry: v.get("retry")?.as_bool()?,
        },
        "unknown" => Record::Unknown { at: at()? },
        _ => return None,
    };
    Some((id, record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::scratch;

    #[test]
    fn records_come_back_and_a_torn_last_one_is_ignored() {
        let dir = scratch("journal");
        let path = dir.join("b.jsonl");
        let at = from_millis(1_800_000_000_000);
        {
            let mut j = Journal::open(&path).unwrap();
            j.write("a", Record::Attempting { at }).unwrap();
            j.write(
                "a",
                Record::Sent {
                    message_id: Some("m".into()),
                },
            )
            .unwrap();
            j.write("b", Record::Attempting { at }).unwrap();
            // A second run of the same batch is refused meanwhile.
            assert!(Journal::open(&path).is_err());
        }
        // A run killed while writing: half a record.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"line":"b","state":"se"#).unwrap();
        drop(f);
        let mut j = Journal::open(&path).unwrap();
        assert_eq!(
            j.last("a"),
            Some(&Record::Sent {
                message_id: Some("m".into())
            })
        );
        assert_eq!(j.last("b"), Some(&Record::Attempting { at }));
        j.write(
            "b",
            Record::Failed {
                class: "refused".into(),
                retry: false,
            },
        )
        .unwrap();
        drop(j);
        let j = Journal::open(&path).unwrap();
        assert_eq!(
            j.last("b"),
            Some(&Record::Failed {
                class: "refused".into(),
                retry: false
            })
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
