//! The audit outbox: one file per webhook event, named so that the names
//! sort in the order the events were written (`<nanos>-<event id>.json`),
//! holding the exact body to post. A file appears whole (it is renamed into
//! place) and leaves when the event is delivered, refused, or dropped by the
//! bound. Whoever posts holds `outbox.lock`, so two processes never post
//! the same event at once; a process that dies releases it.

use std::fs::{self, File};
use std::io;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{
    check_private, create_private_dir, read_private, try_lock, write_atomic, StateDir, Unreadable,
    TARGET,
};
use crate::transport::lock as lock_mutex;
use crate::Error;

/// A temporary file older than this was left by a process that died while
/// writing it.
const STALE_TEMPORARY: Duration = Duration::from_secs(3600);

/// The outbox of one state directory.
#[derive(Debug)]
pub(crate) struct Outbox {
    dir: PathBuf,
    lock: PathBuf,
    /// The last name's nanoseconds: names written by this process increase
    /// even if the wall clock steps back.
    last_nanos: Mutex<u64>,
    pub max_events: usize,
    pub max_bytes: u64,
}

/// One event waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub name: String,
    /// The event's id: its `Idempotency-Key`.
    pub id: String,
    pub len: u64,
}

impl Outbox {
    pub fn open(state: &StateDir, max_events: usize, max_bytes: u64) -> Result<Outbox, Error> {
        let dir = state.path().join("outbox");
        let bad = |why: String| Error::Config(format!("outbox {}: {why}", dir.display()));
        create_private_dir(&dir).map_err(|e| bad(format!("cannot be created: {e}")))?;
        let meta = fs::symlink_metadata(&dir).map_err(|e| bad(e.to_string()))?;
        if !meta.is_dir() {
            return Err(bad("is not a directory".into()));
        }
        check_private(&meta).map_err(bad)?;
        Ok(Outbox {
            lock: state.path().join("outbox.lock"),
            dir,
            last_nanos: Mutex::new(0),
            max_events,
            max_bytes,
        })
    }

    /// Writes one event; when this returns, it is on disk.
    pub fn push(&self, id: &str, body: &[u8]) -> io::Result<String> {
        let nanos = {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
            let mut last = lock_mutex(&self.last_nanos);
            *last = now.max(last.saturating_add(1));
            *last
        };
        let name = format!("{nanos:020}-{id}.json");
        write_atomic(&self.dir, &name, body)?;
        Ok(name)
    }

    /// The events waiting, oldest first. Removes temporary files left by a
    /// process that died while writing.
    pub fn list(&self) -> io::Result<Vec<Entry>> {
        let mut entries = Vec::new();
        for dirent in fs::read_dir(&self.dir)? {
            let dirent = dirent?;
            let Ok(name) = dirent.file_name().into_string() else {
                continue;
            };
            let Ok(meta) = dirent.metadata() else {
                continue; // gone meanwhile: posted by another process
            };
            if name.starts_with('.') {
                let stale = meta
                    .modified()
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .is_some_and(|age| age > STALE_TEMPORARY);
                if stale {
                    let _ = fs::remove_file(dirent.path());
                }
                continue;
            }
            if let Some(id) = event_id(&name) {
                entries.push(Entry {
                    id: id.to_owned(),
                    name,
                    len: meta.len(),
                });
            }
        }
        entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// The body of `entry`; `None` when another process removed it
    /// meanwhile, or when it is not trusted (then it is removed, with a
    /// warning).
    pub fn read(&self, entry: &Entry) -> Option<Vec<u8>> {
        let path = self.dir.join(&entry.name);
        match read_private(&path) {
            Ok(body) => Some(body),
            Err(Unreadable::Missing) => None,
            Err(Unreadable::Refused(why)) => {
                log::warn!(target: TARGET, "audit event {} in {} not posted: {why}; removed", entry.id, self.dir.display());
                self.remove(entry);
                None
            }
        }
    }

    pub fn remove(&self, entry: &Entry) {
        match fs::remove_file(self.dir.join(&entry.name)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                log::warn!(target: TARGET, "cannot remove audit event {} from {}: {e}", entry.id, self.dir.display())
            }
        }
    }

    /// The lock that makes one process at a time post; `None` while
    /// another holds it.
    pub fn try_lock(&self) -> io::Result<Option<File>> {
        try_lock(&self.lock)
    }

    /// How many of the oldest `entries` must go to keep the outbox within
    /// its bound of events and bytes.
    pub fn excess(&self, entries: &[Entry]) -> usize {
        let mut bytes: u64 = entries.iter().map(|e| e.len).sum();
        let mut count = entries.len();
        let mut drop = 0;
        while count > self.max_events || (bytes > self.max_bytes && count > 0) {
            bytes -= entries[drop].len;
            count -= 1;
            drop += 1;
        }
        drop
    }
}

/// The event id of an outbox file name (`<20 digits>-<36 chars>.json`).
fn event_id(name: &str) -> Option<&str> {
    let (nanos, rest) = name.split_at_checked(20)?;
    let id = rest.strip_prefix('-')?.strip_suffix(".json")?;
    (nanos.bytes().all(|b| b.is_ascii_digit()) && crate::validate::is_guid(id)).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::scratch;

    #[test]
    fn events_come_back_oldest_first_and_leave_when_removed() {
        let dir = scratch("outbox");
        let state = StateDir::open(&dir).unwrap();
        let outbox = Outbox::open(&state, 10, 1 << 20).unwrap();
        let ids: Vec<String> = (0..5).map(|_| crate::audit::new_event_id()).collect();
        for (i, id) in ids.iter().enumerate() {
            outbox.push(id, format!("event {i}").as_bytes()).unwrap();
        }
        // Something else in the directory is not an event.
        fs::write(dir.join("outbox").join("notes.txt"), b"x").unwrap();
        let entries = outbox.list().unwrap();
        let listed: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(listed, ids.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(outbox.read(&entries[0]).unwrap(), b"event 0");
        outbox.remove(&entries[0]);
        assert_eq!(outbox.read(&entries[0]), None);
        assert_eq!(outbox.list().unwrap().len(), 4);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_bound_counts_events_and_bytes() {
        let dir = scratch("bound");
        let state = StateDir::open(&dir).unwrap();
        let outbox = Outbox::open(&state, 3, 25).unwrap();
        let entry = |len| Entry {
            name: String::new(),
            id: String::new(),
            len,
        };
        assert_eq!(outbox.excess(&[entry(5), entry(5), entry(5)]), 0);
        assert_eq!(outbox.excess(&[entry(5), entry(5), entry(5), entry(5)]), 1);
        assert_eq!(outbox.excess(&[entry(20), entry(5), entry(5)]), 1);
        assert_eq!(outbox.excess(&[entry(30)]), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_event_names_are_events() {
        let id = "ec35f2a8-289b-42d4-8893-c50eaf81a3c1";
        assert_eq!(event_id(&format!("{:020}-{id}.json", 5)), Some(id));
        for bad in [
            format!("{:019}-{id}.json", 5),
            format!("{:020}-{id}.tmp", 5),
            format!(".{:020}-{id}.json", 5),
            "x".into(),
        ] {
            assert_eq!(event_id(&bad), None, "{bad}");
        }
    }
}
