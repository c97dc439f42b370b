//! The audit outbox: one directory per owner (token URL, client id and
//! webhook URL), one file per webhook event in it, named so that the names
//! sort in the order the events were written (`<nanos>-<event id>.json`),
//! holding the exact body to post. A file appears whole (it is renamed into
//! place) and leaves when the event is delivered, refused, or dropped by the
//! bound. Whoever posts an owner's events holds its lock, so two processes
//! never post the same event at once; a process that dies releases it.
//!
//! Only a regular file with one link, ours and 0600, is an event; anything
//! else is skipped with one warning. An event that cannot be removed after
//! it was delivered is not posted again by this process.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{
    check_private, create_private_dir, fnv1a_128, open_lock_file, plain_file, read_private,
    readable_by_us_only, try_lock, write_atomic, StateDir, Unreadable, MAX_FILE, TARGET,
};
use crate::sync::lock as lock_mutex;
use crate::Error;

/// A temporary file older than this was left by a process that died while
/// writing it.
const STALE_TEMPORARY: Duration = Duration::from_secs(3600);

/// Whose events an outbox holds: a hash of the token URL, the client id and
/// the webhook URL, so that none of them is written to disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner(String);

impl Owner {
    pub fn new(token_url: &str, client_id: &str, webhook_url: &str) -> Owner {
        let key = fnv1a_128(format!("{token_url}\n{client_id}\n{webhook_url}").as_bytes());
        Owner(format!("{key:032x}"))
    }
}

/// The outbox of one owner in one state directory.
#[derive(Debug)]
pub(crate) struct Outbox {
    /// `<state>/outbox`, where every owner has a directory.
    root: PathBuf,
    /// `<state>/outbox/<owner>`.
    dir: PathBuf,
    owner: Owner,
    lock: PathBuf,
    /// The last name's nanoseconds: names written by this process increase
    /// even if the wall clock steps back.
    last_nanos: Mutex<u64>,
    /// Names this process does not post (again): not trusted, or handled
    /// but not removable. Each was reported once.
    /// A list: few entries are ever skipped.
    skipped: Mutex<Vec<String>>,
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

/// Creates (0700) or opens a directory of the outbox, and refuses one that
/// is not ours, not private, or that we cannot write to.
fn private_dir(dir: &Path) -> Result<(), String> {
    create_private_dir(dir).map_err(|e| format!("cannot be created: {e}"))?;
    let meta = fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
    if !meta.is_dir() {
        return Err("is not a directory".into());
    }
    check_private(&meta)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o700 != 0o700 {
            return Err(format!(
                "its mode is {mode:o}: its owner cannot list, write and remove events; run chmod 700 on it"
            ));
        }
    }
    Ok(())
}

impl Outbox {
    pub fn open(
        state: &StateDir,
        owner: Owner,
        max_events: usize,
        max_bytes: u64,
    ) -> Result<Outbox, Error> {
        let root = state.path().join("outbox");
        let dir = root.join(&owner.0);
        for d in [&root, &dir] {
            private_dir(d)
                .map_err(|why| Error::Config(format!("outbox {}: {why}", d.display())))?;
        }
        let lock = state.path().join(format!("outbox-{}.lock", owner.0));
        open_lock_file(&lock)
            .map_err(|e| Error::Config(format!("outbox lock {}: {e}", lock.display())))?;
        Ok(Outbox {
            root,
            lock,
            dir,
            owner,
            last_nanos: Mutex::new(0),
            skipped: Mutex::new(Vec::new()),
            max_events,
            max_bytes,
        })
    }

    /// This owner's directory.
    pub fn path(&self) -> &Path {
        &self.dir
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

    /// Skips `name` from now on, saying why once.
    fn skip(&self, name: &str, why: &str) {
        let first = {
            let mut skipped = lock_mutex(&self.skipped);
            let first = !skipped.iter().any(|s| s == name);
            if first {
                skipped.push(name.to_owned());
            }
            first
        };
        if first {
            log::warn!(target: TARGET, "{} in {}: {why}; skipped, left in place", name, self.dir.display());
        }
    }

    fn is_skipped(&self, name: &str) -> bool {
        lock_mutex(&self.skipped).iter().any(|s| s == name)
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
            // Not followed: the entry itself.
            let Ok(meta) = dirent.metadata() else {
                continue; // gone meanwhile: posted by another process
            };
            if name.starts_with('.') {
                let stale = meta.is_file()
                    && meta
                        .modified()
                        .ok()
                        .and_then(|m| m.elapsed().ok())
                        .is_some_and(|age| age > STALE_TEMPORARY);
                if stale {
                    let _ = fs::remove_file(dirent.path());
                }
                continue;
            }
            let Some(id) = event_id(&name) else {
                continue;
            };
            if self.is_skipped(&name) {
                continue;
            }
            let trusted = plain_file(&meta)
                .and_then(|()| readable_by_us_only(&meta))
                .and_then(|()| {
                    (meta.len() <= MAX_FILE)
                        .then_some(())
                        .ok_or_else(|| format!("it is larger than {MAX_FILE} bytes"))
                });
            if let Err(why) = trusted {
                self.skip(&name, &format!("not an audit event: {why}"));
                continue;
            }
            entries.push(Entry {
                id: id.to_owned(),
                len: meta.len(),
                name,
            });
        }
        entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// The body of `entry`; `None` when another process removed it
    /// meanwhile, or when it is not trusted (then it is skipped, with a
    /// warning).
    pub fn read(&self, entry: &Entry) -> Option<Vec<u8>> {
        match read_private(&self.dir.join(&entry.name)) {
            Ok(body) => Some(body),
            Err(Unreadable::Missing) => None,
            Err(Unreadable::Refused(why)) => {
                self.skip(
                    &entry.name,
                    &format!("audit event {} not posted: {why}", entry.id),
                );
                None
            }
        }
    }

    /// Removes `entry`. One that cannot be removed is skipped by this
    /// process from now on (reported once), so that it is not posted again.
    pub fn remove(&self, entry: &Entry) {
        match fs::remove_file(self.dir.join(&entry.name)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => self.skip(
                &entry.name,
                &format!(
                    "audit event {} cannot be removed ({e}); this process does not post it again",
                    entry.id
                ),
            ),
        }
    }

    /// The events waiting in the outbox for other owners (another client
    /// or another webhook URL), and in the layout of earlier versions:
    /// never posted by this injector.
    pub fn others(&self) -> u64 {
        let count = |dir: &Path| -> u64 {
            fs::read_dir(dir).map_or(0, |entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| {
                        e.file_name()
                            .to_str()
                            .is_some_and(|n| event_id(n).is_some())
                    })
                    .count() as u64
            })
        };
        let Ok(entries) = fs::read_dir(&self.root) else {
            return 0;
        };
        let mut others = count(&self.root);
        for entry in entries.filter_map(Result::ok) {
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir && entry.file_name().to_str() != Some(self.owner.0.as_str()) {
                others = others.saturating_add(count(&entry.path()));
            }
        }
        others
    }

    /// The lock that makes one process at a time post; `None` while
    /// another holds it.
    pub fn try_lock(&self) -> io::Result<Option<File>> {
        try_lock(&self.lock)
    }

    /// How many of the oldest `entries` must go to keep the outbox within
    /// its bound of events and bytes.
    pub fn excess(&self, entries: &[Entry]) -> usize {
        // u128: even 2^64 sparse files of 2^64 bytes cannot overflow it.
        let mut bytes: u128 = entries.iter().map(|e| u128::from(e.len)).sum();
        let mut count = entries.len();
        let mut drop = 0;
        while count > self.max_events || (bytes > u128::from(self.max_bytes) && count > 0) {
            bytes -= u128::from(entries[drop].len);
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
        let outbox = Outbox::open(&state, Owner::new("t", "c", "w"), 10, 1 << 20).unwrap();
        let ids: Vec<String> = (0..5).map(|_| crate::audit::new_event_id()).collect();
        for (i, id) in ids.iter().enumerate() {
            outbox.push(id, format!("event {i}").as_bytes()).unwrap();
        }
        // Something else in the directory is not an event.
        fs::write(outbox.dir.join("notes.txt"), b"x").unwrap();
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
        let outbox = Outbox::open(&state, Owner::new("t", "c", "w"), 3, 25).unwrap();
        let entry = |len| Entry {
            name: String::new(),
            id: String::new(),
            len,
        };
        assert_eq!(outbox.excess(&[entry(5), entry(5), entry(5)]), 0);
        assert_eq!(outbox.excess(&[entry(5), entry(5), entry(5), entry(5)]), 1);
        assert_eq!(outbox.excess(&[entry(20), entry(5), entry(5)]), 1);
        assert_eq!(outbox.excess(&[entry(30)]), 1);
        // Sparse files of 2^63 bytes do not overflow the sum.
        assert_eq!(
            outbox.excess(&[entry(1 << 63), entry(1 << 63), entry(1 << 63)]),
            3
        );
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
