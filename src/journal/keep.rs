//! A journal's lifetime. A line is remembered for `keep` after its last
//! record: past that, a line sent (or failed for good, or expired) is
//! forgotten, as a payment API forgets an idempotency key, and a re-run
//! would send it again; a line `attempting` or `unknown` is never
//! forgotten (it must be settled first). The file is compacted (rewritten
//! to each line's last record: a temporary file, synced, renamed over it,
//! under the journal's lock) when lines are forgotten, or when it is past
//! 64 KiB and most of its records are superseded. In a state directory, a batch's journal
//! untouched for `keep` with no line `attempting` or `unknown` is removed
//! by a later run of any batch there.

use std::fs::OpenOptions;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::state::{open_checked_for, try_lock, write_atomic};

use super::record::{self, Record};
use super::Journal;

/// How long a journal remembers a line after its last record, and keeps a
/// batch's file untouched before removing it:
/// [`BatchOptions::keep_journals`](crate::BatchOptions::keep_journals)'s
/// default, 30 days.
pub const DEFAULT_KEEP_JOURNALS: Duration = Duration::from_secs(30 * 24 * 3600);

/// A journal smaller than this is never compacted (it costs nothing).
const COMPACT_FROM: u64 = 64 << 10;

/// Whether a line's last record is `attempting` or `unknown`: it must be
/// settled, never forgotten.
fn unsettled(record: &Record) -> bool {
    matches!(record, Record::Attempting(_) | Record::Unknown(_))
}

impl Journal {
    /// Forgets the lines whose last record is final and older than `keep`
    /// (records from before records were stamped are stamped now), and
    /// compacts the file when that, or superseded records, make it worth
    /// it.
    pub(crate) fn keep(&mut self, keep: Duration) -> io::Result<()> {
        let now = self.now_ms();
        let keep = u64::try_from(keep.as_millis()).unwrap_or(u64::MAX);
        let (mut forgotten, mut unstamped) = (0usize, 0usize);
        self.last.retain(|_, stamped| {
            unstamped += usize::from(stamped.t.is_none());
            let t = *stamped.t.get_or_insert(now);
            let old = !unsettled(&stamped.entry.record) && t.saturating_add(keep) < now;
            forgotten += usize::from(old);
            !old
        });
        let live = self.last.len() + self.others.len();
        let superseded = self.records.saturating_sub(live);
        // Forgotten lines leave the file at once (what the file says and
        // what the run does must agree), and records stamped now are
        // written with their stamp (once, or they would never age);
        // superseded records only once the file is worth compacting.
        if forgotten == 0
            && unstamped == 0
            && (self.bytes < COMPACT_FROM || superseded * 2 < self.records)
        {
            return Ok(());
        }
        self.compact()?;
        if forgotten > 0 {
            log::info!(target: "genesys_inject::batch", "journal {}: {forgotten} line(s) older than their keeping time forgotten", self.path.display());
        }
        Ok(())
    }

    /// Rewrites the file to each line's last record (and the records this
    /// release does not read), atomically, and appends to it from now on.
    fn compact(&mut self) -> io::Result<()> {
        let mut keys: Vec<&(String, String)> = self.last.keys().collect();
        keys.sort();
        let mut bytes = Vec::with_capacity(keys.len() * 300);
        for key in keys {
            let stamped = &self.last[key];
            bytes.extend_from_slice(&record::to_json(
                &key.0,
                stamped.batch.as_deref(),
                &key.1,
                &stamped.entry.fingerprint,
                &stamped.entry.record,
                stamped.t.unwrap_or_default(),
                stamped.to.as_deref(),
            ));
        }
        for other in &self.others {
            bytes.extend_from_slice(other);
            bytes.push(b'\n');
        }
        let (dir, name) = match (self.path.parent(), self.path.file_name()) {
            (Some(dir), Some(name)) => (dir, name.to_string_lossy().into_owned()),
            _ => return Err(io::Error::other("a journal's path has a folder and a name")),
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        write_atomic(dir, &name, &bytes)?;
        let mut options = OpenOptions::new();
        options.read(true).append(true);
        self.file = open_checked_for(&mut options, &self.path)?;
        self.records = self.last.len() + self.others.len();
        self.bytes = bytes.len() as u64;
        self.message_ids = self
            .last
            .values()
            .filter_map(|s| match &s.entry.record {
                Record::Sent { message_id } => message_id.clone(),
                _ => None,
            })
            .collect();
        Ok(())
    }

    /// In a state directory's `journal/`: removes the other batches'
    /// journals untouched for `keep` with no line to settle. One that
    /// another run holds, or that cannot be read, is left alone.
    pub(crate) fn sweep(&self, keep: Duration) {
        let Some(dir) = self.path.parent() else {
            return;
        };
        if dir.file_name().is_none_or(|n| n != "journal") {
            return;
        }
        let now = self
            .clock
            .as_ref()
            .map_or_else(SystemTime::now, |c| c.wall());
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        // A regular file whose last change is more than `keep` ago.
        let untouched = |path: &Path| {
            std::fs::symlink_metadata(path)
                .ok()
                .filter(|m| m.is_file())
                .and_then(|m| m.modified().ok())
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|idle| idle > keep)
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            // A compaction's temporary file that a kill left behind (the
            // journal itself is the old file or the new one, whole).
            if name.starts_with('.') && name.ends_with(".tmp") && untouched(&path) {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let ours = path == self.path;
            let journal_name = name.len() == 38
                && name.ends_with(".jsonl")
                && name[..32].bytes().all(|b| b.is_ascii_hexdigit());
            if ours || !journal_name || !untouched(&path) {
                continue;
            }
            let lock_path = dir.join(format!("{name}.lock"));
            let Ok(Some(lock)) = try_lock(&lock_path) else {
                continue;
            };
            // Again under its lock: a run may have written to it between
            // the look above and the lock.
            if !untouched(&path) {
                continue;
            }
            let mut options = OpenOptions::new();
            options.read(true);
            let settled = open_checked_for(&mut options, &path)
                .and_then(|mut file| super::read(&mut file, &path))
                .is_ok_and(|read| !read.last.values().any(|s| unsettled(&s.entry.record)));
            if !settled {
                log::info!(target: "genesys_inject::batch", "journal {}: untouched past its keeping time, but a line is still to settle: kept", path.display());
                continue;
            }
            if std::fs::remove_file(&path).is_ok() {
                log::info!(target: "genesys_inject::batch", "journal {}: untouched past its keeping time: removed", path.display());
            }
            drop(lock);
            let _ = std::fs::remove_file(&lock_path);
        }
    }
}
