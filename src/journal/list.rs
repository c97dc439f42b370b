//! What the journals of a state directory say, for a person (`inject
//! journal`): the batches, and each line of one. Read only, without the
//! journals' locks (a run may be writing: its last record may be missing).

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::state::{open_checked_for, StateDir};
use crate::Error;

use super::record::{from_millis, Record, Stamped};
use super::{file_name, read, Journal};

/// One batch's journal in a state directory.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JournalSummary {
    /// The batch id, as its records say it (`None`: written by a release
    /// before records named it).
    pub batch_id: Option<String>,
    /// The file.
    pub file: PathBuf,
    /// Lines it remembers (every client's).
    pub lines: usize,
    /// When its last record was written (`None`: no record says).
    pub last_record: Option<SystemTime>,
    /// Lines by state: `sent`, `failed`, `expired`, `not_sent`,
    /// `attempting`, `unknown`.
    pub states: BTreeMap<String, usize>,
}

/// One line of a batch's journal.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JournalLine {
    /// Its identity in the batch (its own id, or `r:` and its recipient's
    /// key and rank).
    pub id: String,
    /// `sent`, `failed`, `expired`, `not_sent`, `attempting` or `unknown`.
    pub state: String,
    /// For `failed`: its class (`refused`, `rate_limited`, ...).
    pub class: Option<String>,
    /// When its last record was written, if the record says.
    pub at: Option<SystemTime>,
    /// The message id, when it was sent and the platform gave one.
    pub message_id: Option<String>,
    /// Whom it is to, masked (`sms +*******0101`), if the record says.
    pub recipient: Option<String>,
}

/// A line's state and, for a failure, its class.
fn state(record: &Record) -> (&'static str, Option<String>) {
    match record {
        Record::Sent { .. } => ("sent", None),
        Record::Attempting(_) => ("attempting", None),
        Record::Unknown(_) => ("unknown", None),
        Record::Failed { class, .. } if class == "expired" => ("expired", None),
        Record::Failed { class, .. } if class == "not_sent" => ("not_sent", None),
        Record::Failed { class, .. } => ("failed", Some(class.clone())),
    }
}

fn at(stamped: &Stamped) -> Option<SystemTime> {
    stamped.t.and_then(from_millis)
}

/// The journal files of `state_dir`'s `journal/`, and what each holds.
fn journals(state_dir: &Path) -> Result<Vec<(PathBuf, super::Read)>, Error> {
    let state = StateDir::open(state_dir)?;
    let dir = state.path().join("journal");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        let mut options = OpenOptions::new();
        options.read(true);
        let read = open_checked_for(&mut options, &path).and_then(|mut f| read(&mut f, &path));
        match read {
            Ok(read) => found.push((path, read)),
            Err(e) => {
                log::warn!(target: "genesys_inject::batch", "journal {}: cannot be read: {e}", path.display())
            }
        }
    }
    Ok(found)
}

impl Journal {
    /// The batches whose journals are in `state_dir` (as
    /// [`Journal::in_state_dir`] keeps them), newest first.
    ///
    /// # Errors
    /// [`Error::Config`] when the state directory cannot be used.
    pub fn list(state_dir: impl AsRef<Path>) -> Result<Vec<JournalSummary>, Error> {
        let mut summaries: Vec<JournalSummary> = journals(state_dir.as_ref())?
            .into_iter()
            .map(|(file, read)| {
                let mut states = BTreeMap::new();
                for stamped in read.last.values() {
                    *states
                        .entry(state(&stamped.entry.record).0.to_owned())
                        .or_insert(0) += 1;
                }
                JournalSummary {
                    batch_id: read.batch,
                    file,
                    lines: read.last.len(),
                    last_record: read.last.values().filter_map(at).max(),
                    states,
                }
            })
            .collect();
        summaries.sort_by_key(|s| std::cmp::Reverse(s.last_record));
        Ok(summaries)
    }

    /// Each line of batch `batch_id`'s journal in `state_dir` (every
    /// client's), oldest record first.
    ///
    /// # Errors
    /// [`Error::Config`] when the state directory cannot be used, or no
    /// journal of that batch is there.
    pub fn lines_of(
        state_dir: impl AsRef<Path>,
        batch_id: &str,
    ) -> Result<Vec<JournalLine>, Error> {
        let name = file_name(batch_id);
        let Some((_, read)) = journals(state_dir.as_ref())?
            .into_iter()
            .find(|(path, _)| path.file_name().is_some_and(|n| *n == *name))
        else {
            return Err(Error::Config(format!(
                "no journal of batch {batch_id:?} in the state directory"
            )));
        };
        let mut lines: Vec<JournalLine> = read
            .last
            .into_iter()
            .map(|((_, id), stamped)| {
                let (state, class) = state(&stamped.entry.record);
                JournalLine {
                    at: at(&stamped),
                    message_id: match &stamped.entry.record {
                        Record::Sent { message_id } => message_id.clone(),
                        _ => None,
                    },
                    id,
                    state: state.to_owned(),
                    class,
                    recipient: stamped.to,
                }
            })
            .collect();
        lines.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
        Ok(lines)
    }
}
