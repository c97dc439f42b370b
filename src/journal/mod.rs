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
//! content is a conflict, not a line sent earlier.
//!
//! A torn last record (a run killed while writing it) is ignored. One run at
//! a time: the journal's lock file is held while it is open.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::listing::Anchor;
use crate::state::{create_private_dir, fnv1a_128, open_checked_for, try_lock, StateDir};
use crate::Error;

/// The largest journal read (a line's records are under 400 bytes).
const MAX_JOURNAL: u64 = 256 << 20;

/// The batch id of a batch given none: re-runs of the same lines are one
/// batch, whatever the file's bytes.
pub const DEFAULT_BATCH_ID: &str = "default";

/// One try to send a line: what a later run needs to look for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attempt {
    /// This machine's clock when the message request was about to leave
    /// (shown, never trusted to place the message in time).
    pub at: SystemTime,
    /// A time on the platform's clock no later than the moment the request
    /// left (the last `Date` the platform sent, plus the time since):
    /// `None` when this run had seen none.
    pub platform_at: Option<SystemTime>,
    /// The communication it was sent as (`None` on the agentless route).
    pub communication: Option<String>,
    /// What the conversation listed before the send, when this run read
    /// it: a look begins there, whatever the clocks say.
    pub anchor: Option<Anchor>,
}

/// Why a line failed, as the platform said it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Reason {
    pub status: Option<u16>,
    pub code: Option<String>,
    pub correlation_id: Option<String>,
}

/// The last thing a journal says of one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record {
    /// The message request may have left, with no answer recorded.
    Attempting(Attempt),
    Sent {
        message_id: Option<String>,
    },
    /// Failed for a reason of this class; `retry`: a later run can succeed.
    Failed {
        class: String,
        retry: bool,
        reason: Reason,
    },
    /// Sent, and no answer came back.
    Unknown(Attempt),
}

/// A record and the fingerprint of the content it was written for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub record: Record,
    pub fingerprint: String,
}

/// An open journal of one batch, locked for this run.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    _lock: File,
    batch_id: String,
    /// The scope this run reads and writes (client and batch), set by
    /// [`bind`](Self::bind).
    scope: String,
    /// Every scope's last record of every line.
    last: HashMap<(String, String), Entry>,
    /// Every message id a record names, oldest first: each settles its
    /// line, and no other.
    message_ids: Vec<String>,
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn from_millis(ms: u64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_millis(ms))
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
        let mut bytes = Vec::new();
        (&mut file)
            .take(MAX_JOURNAL + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("cannot be read: {e}")))?;
        if bytes.len() as u64 > MAX_JOURNAL {
            return Err(bad(format!("is larger than {MAX_JOURNAL} bytes")));
        }
        let complete = match bytes.iter().rposition(|&b| b == b'\n') {
            Some(end) => &bytes[..end],
            None => &[][..],
        };
        if complete.len() + 1 < bytes.len() || (complete.is_empty() && !bytes.is_empty()) {
            log::warn!(target: "genesys_inject::batch", "journal {}: its last record is torn (a run was stopped while writing it): ignored", path.display());
            // The next record starts on a line of its own.
            file.write_all(b"\n").map_err(|e| bad(e.to_string()))?;
        }
        let (mut last, mut damaged, mut message_ids) = (HashMap::new(), 0usize, Vec::new());
        for line in complete.split(|&b| b == b'\n') {
            match parse(line) {
                Some((scope, id, entry)) => {
                    if let Record::Sent {
                        message_id: Some(m),
                    } = &entry.record
                    {
                        message_ids.push(m.clone());
                    }
                    last.insert((scope, id), entry);
                }
                None if line.trim_ascii().is_empty() => {}
                None => damaged += 1,
            }
        }
        if damaged > 0 {
            log::warn!(target: "genesys_inject::batch", "journal {}: {damaged} damaged record(s) ignored", path.display());
        }
        Ok(Journal {
            path,
            file,
            _lock: lock,
            batch_id: batch_id.to_owned(),
            scope: String::new(),
            last,
            message_ids,
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
        let hash = fnv1a_128(batch_id.as_bytes());
        Journal::open(dir.join(format!("{hash:032x}.jsonl")), batch_id)
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
    /// as `client` (its token URL and client id).
    pub(crate) fn bind(&mut self, client: &str) {
        let scope = fnv1a_128(format!("{client}\n{}", self.batch_id).as_bytes());
        self.scope = format!("{scope:032x}");
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
            .map(|((_, id), entry)| (id.as_str(), entry))
    }

    /// This batch's last record of the line known as `id`.
    pub(crate) fn record(&self, id: &str) -> Option<&Entry> {
        self.last(id)
    }

    pub(crate) fn last(&self, line: &str) -> Option<&Entry> {
        self.last.get(&(self.scope.clone(), line.to_owned()))
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
        let mut value = json!({"scope": self.scope, "line": line, "fp": fingerprint});
        let fields = value.as_object_mut().expect("an object");
        let mut attempt = |state: &str, a: &Attempt| {
            fields.insert("state".into(), state.into());
            fields.insert("at".into(), millis(a.at).into());
            fields.insert("platform_at".into(), a.platform_at.map(millis).into());
            fields.insert("comm".into(), a.communication.clone().into());
            fields.insert(
                "anchor".into(),
                match &a.anchor {
                    None => Value::Null,
                    Some(Anchor::Empty) => json!({"id": null, "time": null}),
                    Some(Anchor::Newest { id, time }) => json!({"id": id, "time": millis(*time)}),
                },
            );
        };
        match &record {
            Record::Attempting(a) => attempt("attempting", a),
            Record::Unknown(a) => attempt("unknown", a),
            Record::Sent { message_id } => {
                if let Some(m) = message_id {
                    self.message_ids.push(m.clone());
                }
                fields.insert("state".into(), "sent".into());
                fields.insert("message_id".into(), message_id.clone().into());
            }
            Record::Failed {
                class,
                retry,
                reason,
            } => {
                fields.insert("state".into(), "failed".into());
                fields.insert("class".into(), class.clone().into());
                fields.insert("retry".into(), (*retry).into());
                fields.insert("status".into(), reason.status.into());
                fields.insert("code".into(), reason.code.clone().into());
                fields.insert(
                    "correlation_id".into(),
                    reason.correlation_id.clone().into(),
                );
            }
        }
        let mut bytes = serde_json::to_vec(&value).expect("a record serializes");
        bytes.push(b'\n');
        self.file.write_all(&bytes)?;
        self.file.sync_data()?;
        self.last.insert(
            (self.scope.clone(), line.to_owned()),
            Entry {
                record,
                fingerprint: fingerprint.to_owned(),
            },
        );
        Ok(())
    }
}

/// One record: its scope, line and entry; `None` when it is damaged or not
/// a record of this version.
fn parse(line: &[u8]) -> Option<(String, String, Entry)> {
    let v: Value = serde_json::from_slice(line).ok()?;
    let text = |key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let attempt = || {
        Some(Attempt {
            at: from_millis(v.get("at")?.as_u64()?)?,
            platform_at: match v.get("platform_at")? {
                Value::Null => None,
                t => Some(from_millis(t.as_u64()?)?),
            },
            communication: text("comm"),
            anchor: match v.get("anchor") {
                None | Some(Value::Null) => None,
                Some(a) => match a.get("id")? {
                    Value::Null => Some(Anchor::Empty),
                    id => Some(Anchor::Newest {
                        id: id.as_str()?.to_owned(),
                        time: from_millis(a.get("time")?.as_u64()?)?,
                    }),
                },
            },
        })
    };
    let record = match v.get("state")?.as_str()? {
        "attempting" => Record::Attempting(attempt()?),
        "unknown" => Record::Unknown(attempt()?),
        "sent" => Record::Sent {
            message_id: text("message_id"),
        },
        "failed" => Record::Failed {
            class: text("class")?,
            retry: v.get("retry")?.as_bool()?,
            reason: Reason {
                status: v
                    .get("status")
                    .and_then(Value::as_u64)
                    .and_then(|s| u16::try_from(s).ok()),
                code: text("code"),
                correlation_id: text("correlation_id"),
            },
        },
        _ => return None,
    };
    Some((
        text("scope")?,
        text("line")?,
        Entry {
            record,
            fingerprint: text("fp")?,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::scratch;

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
            j.bind("client");
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
        j.bind("client");
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
        j.bind("client");
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
            j.bind("client");
            j.write("r-1", "f", Record::Sent { message_id: None })
                .unwrap();
        }
        let mut tuesday = Journal::open(&path, "tuesday").unwrap();
        tuesday.bind("client");
        assert_eq!(tuesday.last("r-1"), None);
        drop(tuesday);
        let mut other = Journal::open(&path, "monday").unwrap();
        other.bind("another client");
        assert_eq!(other.last("r-1"), None);
        other.bind("client");
        assert!(other.last("r-1").is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
