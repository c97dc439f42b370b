//! A batch's journal: one JSON record a line, appended and synced, of what
//! became of each line of a batch: `attempting` (on disk just before the
//! message request leaves, with the communication it is sent as and the
//! platform's time), then `sent`, `failed` or `unknown`. A later run reads
//! it back and resumes: the last record of a line tells what to do with it.
//!
//! Every record names its scope, a hash of the client (token URL and client
//! id) and the batch id: one file may hold many batches, and a record of
//! another batch or another client (a journal copied from elsewhere) is
//! never taken for one of this batch. Every record of a line carries the
//! fingerprint of the content it was written for: the same id with other
//! content is a conflict, not a line sent earlier. It names its batch id,
//! when it was written and whom the line is to (masked), for `inject
//! journal` and for the journal's lifetime (`keep`).
//!
//! A torn last record (a run killed while writing it) is ignored. One run at
//! a time: the journal's lock file is held while it is open. Read as a
//! stream: a journal of any size opens (and `keep` compacts it).

mod keep;
mod list;
mod record;

pub use keep::DEFAULT_KEEP_JOURNALS;
pub use list::{JournalLine, JournalSummary};
pub(crate) use record::{Attempt, Entry, Reason, Record};

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::clock::Clock;
use crate::state::{create_private_dir, fnv1a_128, open_checked_for, try_lock, StateDir};
use crate::Error;
use record::Stamped;

/// The batch id of a batch given none: re-runs of the same lines are one
/// batch, whatever the file's bytes.
pub const DEFAULT_BATCH_ID: &str = "default";

/// An open journal of one batch, locked for this run.
pub struct Journal {
    path: PathBuf,
    file: File,
    _lock: File,
    batch_id: String,
    /// The scope this run reads and writes (client and batch), set by
    /// [`bind`](Self::bind).
    scope: String,
    /// Every scope's last record of every line.
    last: HashMap<(String, String), Stamped>,
    /// Records this release does not read (a later one's): kept as they are
    /// when the journal is compacted.
    others: Vec<Vec<u8>>,
    /// Records in the file, and its size: whether compacting is worth it.
    records: usize,
    bytes: u64,
    /// Every message id a record names, oldest first: each settles its
    /// line, and no other.
    message_ids: Vec<String>,
    /// Whom each line of this run is to (masked), written with its records.
    recipients: HashMap<String, String>,
    /// The clock records are stamped with (the injector's, once bound).
    clock: Option<Arc<dyn Clock>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("batch_id", &self.batch_id)
            .field("lines", &self.last.len())
            .finish_non_exhaustive()
    }
}

/// What a journal file holds, read as a stream: each scope's last record of
/// each line, the records this release does not read, how many records
/// (and bytes), and whether its last one is torn.
pub(crate) struct Read {
    pub last: HashMap<(String, String), Stamped>,
    pub others: Vec<Vec<u8>>,
    pub message_ids: Vec<String>,
    pub records: usize,
    pub bytes: u64,
    pub torn: bool,
    pub batch: Option<String>,
}

/// Reads a journal's records from `file`; damaged ones are counted in the
/// warning, never fatal.
pub(crate) fn read(file: &mut File, path: &Path) -> io::Result<Read> {
    let mut reader = BufReader::new(file);
    let mut read = Read {
        last: HashMap::new(),
        others: Vec::new(),
        message_ids: Vec::new(),
        records: 0,
        bytes: 0,
        torn: false,
        batch: None,
    };
    let (mut damaged, mut line) = (0usize, Vec::new());
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        read.bytes += n as u64;
        if line.last() != Some(&b'\n') {
            // The last record, torn: a run was stopped while writing it.
            read.torn = true;
            break;
        }
        let record = &line[..line.len() - 1];
        if record.trim_ascii().is_empty() {
            continue;
        }
        read.records += 1;
        match record::parse(record) {
            Some((scope, id, stamped)) => {
                if let Record::Sent {
                    message_id: Some(m),
                } = &stamped.entry.record
                {
                    read.message_ids.push(m.clone());
                }
                if stamped.batch.is_some() {
                    read.batch.clone_from(&stamped.batch);
                }
                read.last.insert((scope, id), stamped);
            }
            // A record of a later release: kept, not read.
            None if serde_json::from_slice::<serde_json::Value>(record)
                .is_ok_and(|v| v.is_object()) =>
            {
                read.others.push(record.to_vec());
            }
            None => damaged += 1,
        }
    }
    if damaged > 0 {
        log::warn!(target: "genesys_inject::batch", "journal {}: {damaged} damaged record(s) ignored", path.display());
    }
    Ok(read)
}

impl Journal {
    /// Opens (or creates, 0600) the journal at `path` for the batch
    /// `batch_id`, reads what earlier runs recorded, and holds
    /// `<path>.lock` until dropped. One file may hold many batches: only
    /// the records of `batch_id` (and of the injector that runs it) are
    /// this batch's.
    ///
    /// # Errors
    /// [`Error::Config`] when the file cannot be used (not a private
    /// regular file, unreadable); [`Error::Busy`] when another run holds
    /// its lock.
    pub fn open(path: impl Into<PathBuf>, batch_id: &str) -> Result<Journal, Error> {
        let path = path.into();
        let bad = |why: String| Error::Config(format!("journal {}: {why}", path.display()));
        let lock_path = PathBuf::from(format!("{}.lock", path.display()));
        let lock = match try_lock(&lock_path) {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                return Err(Error::Busy {
                    what: format!("journal {}", path.display()),
                })
            }
            Err(e) => return Err(bad(format!("cannot lock {}: {e}", lock_path.display()))),
        };
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        let mut file = open_checked_for(&mut options, &path).map_err(|e| bad(e.to_string()))?;
        let read = read(&mut file, &path).map_err(|e| bad(format!("cannot be read: {e}")))?;
        if read.torn {
            log::warn!(target: "genesys_inject::batch", "journal {}: its last record is torn (a run was stopped while writing it): ignored", path.display());
            // The next record starts on a line of its own.
            file.write_all(b"\n").map_err(|e| bad(e.to_string()))?;
        }
        Ok(Journal {
            path,
            file,
            _lock: lock,
            batch_id: batch_id.to_owned(),
            scope: String::new(),
            last: read.last,
            others: read.others,
            records: read.records,
            bytes: read.bytes,
            message_ids: read.message_ids,
            recipients: HashMap::new(),
            clock: None,
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
        Journal::open(dir.join(file_name(batch_id)), batch_id)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The batch it is the journal of.
    pub fn batch_id(&self) -> &str {
        &self.batch_id
    }

    /// Reads and writes the records of this batch sent by the client known
    /// as `client` (its token URL and client id), stamped on `clock`.
    pub(crate) fn bind(&mut self, client: &str, clock: Arc<dyn Clock>) {
        let scope = fnv1a_128(format!("{client}\n{}", self.batch_id).as_bytes());
        self.scope = format!("{scope:032x}");
        self.clock = Some(clock);
    }

    /// Now on the bound clock, in Unix ms.
    fn now_ms(&self) -> u64 {
        let now = self
            .clock
            .as_ref()
            .map_or_else(std::time::SystemTime::now, |c| c.wall());
        record::millis(now)
    }

    /// Whom the line known as `line` is to (masked): written with its
    /// records.
    pub(crate) fn describe(&mut self, line: &str, recipient: String) {
        self.recipients.insert(line.to_owned(), recipient);
    }

    /// Every message id the journal's records name (any batch, any
    /// client), oldest first.
    pub(crate) fn message_ids(&self) -> &[String] {
        &self.message_ids
    }

    /// This batch's (and client's) last record of each line.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.last
            .iter()
            .filter(|((scope, _), _)| *scope == self.scope)
            .map(|((_, id), stamped)| (id.as_str(), &stamped.entry))
    }

    /// This batch's last record of the line known as `id`.
    pub(crate) fn record(&self, id: &str) -> Option<&Entry> {
        self.last(id)
    }

    pub(crate) fn last(&self, line: &str) -> Option<&Entry> {
        self.last
            .get(&(self.scope.clone(), line.to_owned()))
            .map(|s| &s.entry)
    }

    /// Appends `record` for `line` (whose content has `fingerprint`) and
    /// syncs it to disk.
    pub(crate) fn write(
        &mut self,
        line: &str,
        fingerprint: &str,
        record: Record,
    ) -> io::Result<()> {
        debug_assert!(!self.scope.is_empty(), "bound before use");
        let key = (self.scope.clone(), line.to_owned());
        let to = self
            .recipients
            .get(line)
            .cloned()
            .or_else(|| self.last.get(&key).and_then(|s| s.to.clone()));
        let t = self.now_ms();
        let bytes = record::to_json(
            &self.scope,
            Some(&self.batch_id),
            line,
            fingerprint,
            &record,
            t,
            to.as_deref(),
        );
        self.file.write_all(&bytes)?;
        self.file.sync_data()?;
        if let Record::Sent {
            message_id: Some(m),
        } = &record
        {
            self.message_ids.push(m.clone());
        }
        self.records += 1;
        self.bytes += bytes.len() as u64;
        self.last.insert(
            key,
            Stamped {
                entry: Entry {
                    record,
                    fingerprint: fingerprint.to_owned(),
                },
                t: Some(t),
                to,
                batch: Some(self.batch_id.clone()),
            },
        );
        Ok(())
    }
}

/// The file name of batch `batch_id`'s journal in a state directory.
pub(crate) fn file_name(batch_id: &str) -> String {
    format!("{:032x}.jsonl", fnv1a_128(batch_id.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::Anchor;
    use crate::state::tests::scratch;
    use record::from_millis;
    use std::fs::OpenOptions;

    fn attempt(ms: u64) -> Attempt {
        Attempt {
            at: from_millis(ms).unwrap(),
            platform_at: from_millis(ms - 5000),
            communication: Some("c".into()),
            anchor: Some(Anchor::Newest {
                id: "m0".into(),
                time: from_millis(ms - 9000).unwrap(),
            }),
        }
    }

    #[test]
    fn records_come_back_and_a_torn_last_one_is_ignored() {
        let dir = scratch("journal");
        let path = dir.join("b.jsonl");
        let at = attempt(1_800_000_000_000);
        {
            let mut j = Journal::open(&path, "monday").unwrap();
            j.bind("client", Arc::new(crate::SystemClock));
            j.write("a", "f1", Record::Attempting(at.clone())).unwrap();
            j.write(
                "a",
                "f1",
                Record::Sent {
                    message_id: Some("m".into()),
                },
            )
            .unwrap();
            j.write("b", "f2", Record::Attempting(at.clone())).unwrap();
            // A second run of the same batch is refused meanwhile.
            assert!(matches!(
                Journal::open(&path, "monday"),
                Err(Error::Busy { .. })
            ));
        }
        // A run killed while writing: half a record.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"line":"b","state":"se"#).unwrap();
        drop(f);
        let mut j = Journal::open(&path, "monday").unwrap();
        j.bind("client", Arc::new(crate::SystemClock));
        assert_eq!(
            j.last("a").map(|e| &e.record),
            Some(&Record::Sent {
                message_id: Some("m".into())
            })
        );
        assert_eq!(j.last("b").unwrap().record, Record::Attempting(at));
        assert_eq!(j.last("b").unwrap().fingerprint, "f2");
        let failed = Record::Failed {
            class: "refused".into(),
            retry: false,
            reason: Reason {
                status: Some(400),
                code: Some("bad.request".into()),
                correlation_id: Some("corr".into()),
            },
        };
        j.write("b", "f2", failed.clone()).unwrap();
        drop(j);
        let mut j = Journal::open(&path, "monday").unwrap();
        j.bind("client", Arc::new(crate::SystemClock));
        assert_eq!(j.last("b").unwrap().record, failed);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn another_batch_or_another_client_sees_none_of_it() {
        let dir = scratch("journal-scope");
        let path = dir.join("b.jsonl");
        {
            let mut j = Journal::open(&path, "monday").unwrap();
            j.bind("client", Arc::new(crate::SystemClock));
            j.write("r-1", "f", Record::Sent { message_id: None })
                .unwrap();
        }
        let mut tuesday = Journal::open(&path, "tuesday").unwrap();
        tuesday.bind("client", Arc::new(crate::SystemClock));
        assert_eq!(tuesday.last("r-1"), None);
        drop(tuesday);
        let mut other = Journal::open(&path, "monday").unwrap();
        other.bind("another client", Arc::new(crate::SystemClock));
        assert_eq!(other.last("r-1"), None);
        other.bind("client", Arc::new(crate::SystemClock));
        assert!(other.last("r-1").is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
