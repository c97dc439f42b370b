//! The state directory's record of who was sent a message when, for
//! [`BatchOptions::min_gap`](crate::BatchOptions::min_gap): a recipient
//! who got a message from this client within the gap is deferred, in any
//! batch on the directory. Each recipient is a keyed hash (HMAC-SHA-256
//! under `recipients.key`, 32 random bytes made once, 0600), never the
//! address in clear.
//!
//! `recipients`: a header line naming its generation, then one line a
//! reservation, `<recipient> <unix ms> <gap s> <line>` (a line's keyed tag,
//! so that a line sent again, after a run was killed, is not held back by
//! its own reservation), or a release, `<recipient> <unix ms> - <line>`
//! (nothing was sent after all). Read and appended under
//! `recipients.lock`, each process reading only what was added since it
//! last looked; rewritten (a new generation) when a batch opens it, without
//! the entries older than the largest gap any of them was made with. A
//! damaged line is a miss with a warning.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::hmac;

use crate::state::{open_checked_for, read_private, try_lock, write_atomic, StateDir, Unreadable};
use crate::sync::lock;

const FILE: &str = "recipients";
const KEY_FILE: &str = "recipients.key";
const LOCK_FILE: &str = "recipients.lock";
const HEADER: &str = "genesys-inject recipients 1";
/// How long a process waits for another's hold on the record (real time:
/// holders keep it for one read and one append).
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// An entry stamped further ahead than this is from a clock that cannot be
/// trusted: ignored, with a warning.
const FUTURE: Duration = Duration::from_secs(24 * 3600);

/// The record cannot be used: the batch stops (a cap that cannot be
/// checked could be broken).
#[derive(Debug)]
pub(crate) struct Unusable(pub String);

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unusable {}

/// One reservation: when (Unix ms), the gap it was made with (s), and the
/// line's tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sent {
    at: u64,
    gap: u64,
    line: u64,
}

#[derive(Debug, Default)]
struct Seen {
    /// The generation read, and how far.
    generation: String,
    offset: u64,
    /// Each recipient's reservations.
    sent: HashMap<u128, Vec<Sent>>,
    /// Whether a damaged line was said.
    warned: bool,
}

/// The record, as one batch run uses it.
pub(crate) struct Gaps {
    dir: PathBuf,
    key: hmac::Key,
    /// The client's key: a recipient's entries are per client.
    client: String,
    /// The batch: a line is known by its batch and its id.
    batch: String,
    gap: Duration,
    seen: Mutex<Seen>,
}

impl std::fmt::Debug for Gaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gaps")
            .field("dir", &self.dir)
            .field("gap", &self.gap)
            .finish_non_exhaustive()
    }
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn unusable(path: &Path, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(Unusable(format!(
        "the record of recipients {}: {e}",
        path.display()
    )))
}

/// Holds `recipients.lock` (waiting at most [`LOCK_WAIT`]).
fn hold(dir: &Path) -> io::Result<File> {
    let path = dir.join(LOCK_FILE);
    let start = std::time::Instant::now();
    loop {
        if let Some(file) = try_lock(&path).map_err(|e| unusable(&path, e))? {
            return Ok(file);
        }
        if start.elapsed() >= LOCK_WAIT {
            return Err(unusable(&path, "another process holds its lock"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The directory's key, made (32 random bytes) when missing; a damaged or
/// untrusted one is replaced, with a warning (the entries made under it no
/// longer match: a miss).
fn key(dir: &Path) -> io::Result<hmac::Key> {
    let path = dir.join(KEY_FILE);
    let parse = |bytes: &[u8]| -> Option<Vec<u8>> {
        let text = std::str::from_utf8(bytes).ok()?.trim();
        (text.len() == 64)
            .then(|| {
                (0..32)
                    .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
                    .collect::<Option<Vec<u8>>>()
            })
            .flatten()
    };
    let found = match read_private(&path) {
        Ok(bytes) => {
            let key = parse(&bytes);
            if key.is_none() {
                log::warn!(target: "genesys_inject::batch", "{}: damaged: a new key is made (who was sent what when starts again)", path.display());
            }
            key
        }
        Err(Unreadable::Missing) => None,
        Err(Unreadable::Refused(why)) => {
            log::warn!(target: "genesys_inject::batch", "{}: {why}: a new key is made (who was sent what when starts again)", path.display());
            None
        }
    };
    let bytes = match found {
        Some(bytes) => bytes,
        None => {
            let mut bytes = vec![0u8; 32];
            getrandom::getrandom(&mut bytes)
                .map_err(|e| unusable(&path, format!("no randomness for a key: {e}")))?;
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            write_atomic(dir, KEY_FILE, format!("{hex}\n").as_bytes())
                .map_err(|e| unusable(&path, e))?;
            bytes
        }
    };
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
}

impl Gaps {
    /// The record in `state`, for `client`'s batch `batch` with `gap`;
    /// the entries older than the largest gap in use are dropped now.
    pub fn open(
        state: &StateDir,
        client: &str,
        batch: &str,
        gap: Duration,
        now: SystemTime,
    ) -> io::Result<Gaps> {
        let dir = state.path().to_owned();
        let _held = hold(&dir)?;
        let gaps = Gaps {
            key: key(&dir)?,
            dir,
            client: client.to_owned(),
            batch: batch.to_owned(),
            gap,
            seen: Mutex::default(),
        };
        gaps.compact(now)?;
        Ok(gaps)
    }

    fn tag(&self, what: &str, value: &str) -> [u8; 32] {
        let message = format!("{what}\n{}\n{value}", self.client);
        let tag = hmac::sign(&self.key, message.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    fn recipient(&self, recipient: &str) -> u128 {
        u128::from_be_bytes(
            self.tag("recipient", recipient)[..16]
                .try_into()
                .expect("16"),
        )
    }

    fn line(&self, line: &str) -> u64 {
        let line = format!("{}\n{line}", self.batch);
        u64::from_be_bytes(self.tag("line", &line)[..8].try_into().expect("8"))
    }

    fn open_file(&self) -> io::Result<File> {
        let path = self.dir.join(FILE);
        open_checked_for(
            OpenOptions::new().read(true).append(true).create(true),
            &path,
        )
        .map_err(|e| unusable(&path, e))
    }

    /// Reads what was added since this run last looked (all of it, in a
    /// new generation), under the lock.
    fn catch_up(&self, file: &mut File, seen: &mut Seen) -> io::Result<()> {
        let path = self.dir.join(FILE);
        let fail = |e: io::Error| unusable(&path, e);
        let len = file.metadata().map_err(fail)?.len();
        let mut head = [0u8; 128];
        file.seek(SeekFrom::Start(0)).map_err(fail)?;
        let n = file.read(&mut head).map_err(fail)?;
        let header = head[..n]
            .split(|b| *b == b'\n')
            .next()
            .filter(|_| head[..n].contains(&b'\n'))
            .map(|h| String::from_utf8_lossy(h).into_owned())
            .unwrap_or_default();
        if header != seen.generation || len < seen.offset || seen.offset == 0 {
            let warned = seen.warned;
            *seen = Seen {
                offset: if header.is_empty() {
                    0
                } else {
                    header.len() as u64 + 1
                },
                generation: header,
                warned,
                ..Seen::default()
            };
        }
        if seen.offset == 0 {
            return Ok(());
        }
        let mut body = Vec::new();
        file.seek(SeekFrom::Start(seen.offset))
            .and_then(|_| file.read_to_end(&mut body))
            .map_err(fail)?;
        // Only whole lines: a line being written is read next time.
        let whole = body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let mut damaged = false;
        for entry in String::from_utf8_lossy(&body[..whole]).lines() {
            if !Self::apply(entry, &mut seen.sent) {
                damaged = true;
            }
        }
        if damaged && !seen.warned {
            seen.warned = true;
            log::warn!(target: "genesys_inject::batch", "{}: damaged entries: ignored", path.display());
        }
        seen.offset += whole as u64;
        Ok(())
    }

    /// Applies one entry; `false` when it is damaged.
    fn apply(entry: &str, sent: &mut HashMap<u128, Vec<Sent>>) -> bool {
        let mut fields = entry.split(' ');
        let (Some(who), Some(at), Some(gap), Some(line), None) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return false;
        };
        let (Ok(who), Ok(at), Ok(line)) = (
            u128::from_str_radix(who, 16),
            at.parse::<u64>(),
            u64::from_str_radix(line, 16),
        ) else {
            return false;
        };
        if gap == "-" {
            if let Some(list) = sent.get_mut(&who) {
                list.retain(|s| !(s.at == at && s.line == line));
            }
            return true;
        }
        let Ok(gap) = gap.parse::<u64>() else {
            return false;
        };
        sent.entry(who).or_default().push(Sent { at, gap, line });
        true
    }

    /// Rewrites the file (a new generation) without the entries older
    /// than the largest gap in use.
    fn compact(&self, now: SystemTime) -> io::Result<()> {
        let mut seen = lock(&self.seen);
        let mut file = self.open_file()?;
        self.catch_up(&mut file, &mut seen)?;
        let now = millis(now);
        let largest = seen
            .sent
            .values()
            .flatten()
            .map(|s| s.gap)
            .chain([self.gap.as_secs()])
            .max()
            .unwrap_or(0);
        let mut body = format!("{HEADER} {}\n", crate::audit::new_event_id());
        let generation = body.trim_end().to_owned();
        for (who, list) in &mut seen.sent {
            list.retain(|s| s.at.saturating_add(largest.saturating_mul(1000)) > now);
            for s in list.iter() {
                body.push_str(&format!("{who:032x} {} {} {:016x}\n", s.at, s.gap, s.line));
            }
        }
        seen.sent.retain(|_, list| !list.is_empty());
        write_atomic(&self.dir, FILE, body.as_bytes())
            .map_err(|e| unusable(&self.dir.join(FILE), e))?;
        seen.generation = generation;
        seen.offset = body.len() as u64;
        Ok(())
    }

    /// Whether `recipient` may be sent a message by the line known as
    /// `line` at `now`: `None`, and it is reserved (in the file before this
    /// returns); or when the gap since its last message ends.
    pub fn reserve(
        &self,
        recipient: &str,
        line: &str,
        now: SystemTime,
    ) -> io::Result<Option<SystemTime>> {
        let (who, tag) = (self.recipient(recipient), self.line(line));
        let _held = hold(&self.dir)?;
        let mut seen = lock(&self.seen);
        let mut file = self.open_file()?;
        self.catch_up(&mut file, &mut seen)?;
        let now_ms = millis(now);
        let future = now_ms.saturating_add(FUTURE.as_millis() as u64);
        let gap = self.gap.as_millis() as u64;
        let last = seen
            .sent
            .get(&who)
            .into_iter()
            .flatten()
            .filter(|s| s.line != tag && s.at <= future)
            .map(|s| s.at)
            .max();
        if let Some(last) = last.filter(|last| last.saturating_add(gap) > now_ms) {
            return Ok(Some(
                UNIX_EPOCH + Duration::from_millis(last.saturating_add(gap)),
            ));
        }
        let entry = Sent {
            at: now_ms,
            gap: self.gap.as_secs(),
            line: tag,
        };
        self.append(
            &mut file,
            &mut seen,
            &format!("{who:032x} {now_ms} {} {tag:016x}\n", entry.gap),
        )?;
        seen.sent.entry(who).or_default().push(entry);
        Ok(None)
    }

    /// Takes back the line's reservation of `recipient`: nothing was sent.
    pub fn release(&self, recipient: &str, line: &str) -> io::Result<()> {
        let (who, tag) = (self.recipient(recipient), self.line(line));
        let _held = hold(&self.dir)?;
        let mut seen = lock(&self.seen);
        let mut file = self.open_file()?;
        self.catch_up(&mut file, &mut seen)?;
        let mine: Vec<u64> = seen
            .sent
            .get(&who)
            .into_iter()
            .flatten()
            .filter(|s| s.line == tag)
            .map(|s| s.at)
            .collect();
        for at in mine {
            self.append(
                &mut file,
                &mut seen,
                &format!("{who:032x} {at} - {tag:016x}\n"),
            )?;
            if let Some(list) = seen.sent.get_mut(&who) {
                list.retain(|s| !(s.at == at && s.line == tag));
            }
        }
        Ok(())
    }

    fn append(&self, file: &mut File, seen: &mut Seen, entry: &str) -> io::Result<()> {
        let path = self.dir.join(FILE);
        // A file left without its header (emptied) gets one first.
        if seen.offset == 0 {
            let header = format!("{HEADER} {}\n", crate::audit::new_event_id());
            file.write_all(header.as_bytes())
                .map_err(|e| unusable(&path, e))?;
            seen.generation = header.trim_end().to_owned();
            seen.offset = header.len() as u64;
        }
        file.write_all(entry.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|e| unusable(&path, e))?;
        seen.offset += entry.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> (StateDir, PathBuf) {
        let dir = crate::state::tests::scratch("gaps");
        (StateDir::open(&dir).unwrap(), dir)
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn a_recipient_inside_the_gap_waits_and_the_file_holds_no_address() {
        let (state, dir) = state();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let gaps = Gaps::open(&state, "client", "b", 20 * HOUR, t0).unwrap();
        assert_eq!(
            gaps.reserve("sms\n+13175550100\n", "a#1", t0).unwrap(),
            None
        );
        // Another line to them, an hour later: held until 20 h after.
        assert_eq!(
            gaps.reserve("sms\n+13175550100\n", "b#1", t0 + HOUR)
                .unwrap(),
            Some(t0 + 20 * HOUR)
        );
        // The same line again (a run killed after its reservation): goes.
        assert_eq!(
            gaps.reserve("sms\n+13175550100\n", "a#1", t0 + HOUR)
                .unwrap(),
            None
        );
        // Another process's run, on the same directory: sees it.
        let other = Gaps::open(&state, "client", "b", 20 * HOUR, t0 + 2 * HOUR).unwrap();
        assert!(other
            .reserve("sms\n+13175550100\n", "c#1", t0 + 2 * HOUR)
            .unwrap()
            .is_some());
        // Another client: its own record.
        let client2 = Gaps::open(&state, "client2", "b", 20 * HOUR, t0).unwrap();
        assert_eq!(
            client2.reserve("sms\n+13175550100\n", "c#1", t0).unwrap(),
            None
        );
        // After the gap: goes.
        assert_eq!(
            gaps.reserve("sms\n+13175550100\n", "b#1", t0 + 21 * HOUR)
                .unwrap(),
            None
        );
        let file = std::fs::read_to_string(dir.join(FILE)).unwrap();
        assert!(
            !file.contains("3175550100") && !file.contains("client"),
            "{file}"
        );
    }

    #[test]
    fn a_release_gives_the_recipient_back_and_old_entries_are_dropped() {
        let (state, dir) = state();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let gaps = Gaps::open(&state, "client", "b", HOUR, t0).unwrap();
        gaps.reserve("x", "a", t0).unwrap();
        gaps.release("x", "a").unwrap();
        let other = Gaps::open(&state, "client", "b", HOUR, t0).unwrap();
        assert_eq!(other.reserve("x", "b", t0).unwrap(), None);
        // Two hours on, a run with a one-hour gap drops both entries.
        let _later = Gaps::open(&state, "client", "b", HOUR, t0 + 2 * HOUR).unwrap();
        let file = std::fs::read_to_string(dir.join(FILE)).unwrap();
        assert_eq!(file.lines().count(), 1, "{file}");
        // A damaged line is a miss.
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join(FILE))
            .unwrap()
            .write_all(b"zz 1 2\n")
            .unwrap();
        let gaps = Gaps::open(&state, "client", "b", HOUR, t0 + 2 * HOUR).unwrap();
        assert_eq!(gaps.reserve("x", "c", t0 + 2 * HOUR).unwrap(), None);
    }
}
