//! The state directory: what outlives the process, so that cron runs share
//! one token and lose no audit event.
//!
//! ```text
//! <state dir>/                  0700, ours
//!     token-<hash>.json         0600: one token per (token URL, client id)
//!     token-<hash>.lock         the lock taken while a token is fetched
//!     outbox/                   0700
//!         <owner>/              0700: one per (token URL, client id, webhook URL)
//!             <nanos>-<event id>.json   one file per webhook event
//!     outbox-<owner>.lock       the lock held while that owner's events are posted
//! ```
//!
//! An event is only ever posted to the webhook it was written for, by an
//! injector of the client that wrote it: `<owner>` is a 128-bit hash of the
//! three, so that no URL (whose path may hold a secret) is written to disk.
//!
//! Every file is written atomically (a temporary file in the same
//! directory, created 0600, synced, then renamed over the old one) and read
//! only when it is 0600 and ours. A file that cannot be read or parsed is a
//! miss with a warning, never an error. Locks are taken on separate lock
//! files, never on a file that is renamed over (a rename swaps the inode).
//!
//! The permission checks are Unix only (`cfg(unix)`); on Windows the
//! directory is protected by the user profile's ACLs.

mod outbox;
mod token;

pub(crate) use outbox::{Entry, Outbox, Owner};
pub(crate) use token::TokenStore;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Error;

/// Log target of everything this module says.
const TARGET: &str = "genesys_inject::state";

/// The largest state file read (a token file or an event is a few hundred
/// bytes).
const MAX_FILE: u64 = 1 << 20;

/// A checked, private state directory.
#[derive(Debug, Clone)]
pub(crate) struct StateDir {
    path: PathBuf,
}

impl StateDir {
    /// Creates `path` (0700, with any missing parents) or opens it, then
    /// checks that it and every entry in it is ours and writable by no one
    /// else, as ssh checks `~/.ssh`.
    pub fn open(path: &Path) -> Result<StateDir, Error> {
        let bad = |why: String| Error::Config(format!("state directory {}: {why}", path.display()));
        create_private_dir(path).map_err(|e| bad(format!("cannot be created: {e}")))?;
        let meta = fs::metadata(path).map_err(|e| bad(format!("cannot be read: {e}")))?;
        if !meta.is_dir() {
            return Err(bad("is not a directory".into()));
        }
        check_private(&meta).map_err(bad)?;
        let entries = fs::read_dir(path).map_err(|e| bad(format!("cannot be listed: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| bad(format!("cannot be listed: {e}")))?;
            let name = entry.path();
            let meta = fs::symlink_metadata(&name)
                .map_err(|e| bad(format!("{} cannot be read: {e}", name.display())))?;
            if meta.file_type().is_symlink() {
                return Err(bad(format!("{} is a symbolic link", name.display())));
            }
            check_private(&meta).map_err(|why| bad(format!("{}: {why}", name.display())))?;
        }
        Ok(StateDir {
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Creates a directory readable by its owner only.
pub(crate) fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Refuses what another user owns, or what group or others can write.
#[cfg(unix)]
fn check_private(meta: &fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    static EUID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let me = *EUID.get_or_init(|| rustix::process::geteuid().as_raw());
    if meta.uid() != me {
        return Err(format!(
            "is owned by another user (uid {}, not {me})",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "is writable by group or others (mode {:o}); run chmod go-w on it",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &fs::Metadata) -> Result<(), String> {
    Ok(())
}

/// Whether a file we are about to trust is 0600 and ours.
#[cfg(unix)]
fn readable_by_us_only(meta: &fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    check_private(meta)?;
    match meta.mode() & 0o777 {
        0o600 => Ok(()),
        mode => Err(format!("its mode is {mode:o}, not 600")),
    }
}

#[cfg(not(unix))]
fn readable_by_us_only(_: &fs::Metadata) -> Result<(), String> {
    Ok(())
}

/// `options` neither follow a symbolic link at the last component nor block
/// (opening a FIFO would wait for a writer forever).
fn no_follow_no_block(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use rustix::fs::OFlags;
        let flags = (OFlags::NOFOLLOW | OFlags::NONBLOCK).bits();
        std::os::unix::fs::OpenOptionsExt::custom_flags(
            options,
            i32::try_from(flags).expect("open flags fit an i32"),
        );
    }
    options
}

/// Whether what was opened is a regular file with one link: not a FIFO,
/// a device or a directory, and not a hard link to a file elsewhere.
fn plain_file(meta: &fs::Metadata) -> Result<(), String> {
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.nlink() != 1 {
            return Err(format!("it has {} hard links", meta.nlink()));
        }
    }
    Ok(())
}

/// Opens `path` as [`no_follow_no_block`] says, as a file we may trust.
fn open_checked(options: &mut OpenOptions, path: &Path) -> io::Result<File> {
    let file =
        no_follow_no_block(options)
            .open(path)
            .map_err(|e| match fs::symlink_metadata(path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    io::Error::new(io::ErrorKind::InvalidData, "it is a symbolic link")
                }
                _ => e,
            })?;
    let meta = file.metadata()?;
    plain_file(&meta).map_err(|why| io::Error::new(io::ErrorKind::InvalidData, why))?;
    check_private(&meta).map_err(|why| io::Error::new(io::ErrorKind::InvalidData, why))?;
    Ok(file)
}

/// Opens `path` with `options` (created 0600 when they create), without
/// following a link or blocking, as a private regular file with one link.
pub(crate) fn open_checked_for(options: &mut OpenOptions, path: &Path) -> io::Result<File> {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(options, 0o600);
    open_checked(options, path)
}

/// Creates `path` for writing, 0600, failing if it exists.
fn create_private_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Writes `bytes` to `dir/name` atomically: a temporary file in `dir`
/// (0600, named `.name.<random>.tmp`), synced, then renamed over `name`.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    write_replacing(dir, name, bytes, true)
}

/// As [`write_atomic`], but without the sync when `sync` is false: for a
/// file whose loss in a crash costs nothing (the pace file), rewritten on
/// every API request.
pub(crate) fn write_replacing(dir: &Path, name: &str, bytes: &[u8], sync: bool) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.{}.tmp", crate::audit::new_event_id()));
    let written = create_private_file(&tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        if sync {
            file.sync_all()?;
        }
        Ok(())
    });
    let renamed = written.and_then(|()| fs::rename(&tmp, dir.join(name)));
    if renamed.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    renamed
}

/// Why a state file could not be used.
#[derive(Debug)]
pub(crate) enum Unreadable {
    /// It is not there (an ordinary miss).
    Missing,
    /// It is there but not trusted or not readable: the reason.
    Refused(String),
}

/// Reads a regular file with one link that must be 0600 and ours, opened
/// without following a link or blocking, and checked on the open file (so
/// that a rename in between cannot swap it), of at most [`MAX_FILE`] bytes.
pub(crate) fn read_private(path: &Path) -> Result<Vec<u8>, Unreadable> {
    let mut file =
        open_checked(OpenOptions::new().read(true), path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Unreadable::Missing,
            _ => Unreadable::Refused(e.to_string()),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| Unreadable::Refused(e.to_string()))?;
    readable_by_us_only(&meta).map_err(Unreadable::Refused)?;
    let mut bytes = Vec::new();
    (&mut file)
        .take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Unreadable::Refused(e.to_string()))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(Unreadable::Refused(format!(
            "it is larger than {MAX_FILE} bytes"
        )));
    }
    Ok(bytes)
}

/// Whether another process held the lock of [`lock_within`] first.
#[derive(Debug)]
pub(crate) enum Turn {
    /// Taken at once: no one else held it.
    First(File),
    /// Another process held it, and has released it (the lock is not kept:
    /// the other process's work is done, or failed).
    AfterAnother,
    /// Another process still holds it after the timeout.
    TimedOut,
}

/// How often [`lock_within`] tries again.
const LOCK_POLL: Duration = Duration::from_millis(20);

/// An exclusive lock on `path` (created 0600 if missing), held until the
/// returned file is dropped, also when the process dies; waiting at most
/// `timeout` (real time: the holder is another process) for another
/// holder to release it.
pub(crate) fn lock_within(
    path: &Path,
    timeout: Duration,
    clock: &dyn crate::Clock,
) -> io::Result<Turn> {
    if let Some(file) = try_lock(path)? {
        return Ok(Turn::First(file));
    }
    let deadline = crate::clock::later(clock.now(), timeout);
    loop {
        let left = deadline.saturating_duration_since(clock.now());
        if left.is_zero() {
            return Ok(Turn::TimedOut);
        }
        clock.sleep(left.min(LOCK_POLL));
        if try_lock(path)?.is_some() {
            return Ok(Turn::AfterAnother);
        }
    }
}

/// An exclusive lock on `path`, as [`lock_within`], but `None` at once when
/// another process holds it.
pub(crate) fn try_lock(path: &Path) -> io::Result<Option<File>> {
    let file = open_lock_file(path)?;
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => Ok(Some(file)),
        Err(fs4::TryLockError::WouldBlock) => Ok(None),
        Err(fs4::TryLockError::Error(e)) => Err(e),
    }
}

/// Opens (or creates, 0600) a lock file: a regular file with one link,
/// ours, not writable by others, opened without following a link or
/// blocking.
pub(crate) fn open_lock_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    open_checked(&mut options, path)
}

/// A stable 64-bit hash (FNV-1a) for file names: unlike std's hasher, the
/// same in every process and every Rust version.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The 128-bit FNV-1a hash, for names that must not collide by chance
/// (an outbox's owner: one tenant's events must never reach another's
/// webhook).
pub(crate) fn fnv1a_128(bytes: &[u8]) -> u128 {
    bytes
        .iter()
        .fold(0x6c62_272e_07bb_0142_62b8_2175_6295_c58d, |h, &b| {
            (h ^ u128::from(b)).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b)
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh directory under the system's temporary directory.
    pub(crate) fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "genesys-inject-unit-{name}-{}",
            crate::audit::new_event_id()
        ));
        create_private_dir(&dir).unwrap();
        dir
    }

    #[test]
    fn atomic_writes_are_private_and_replace_the_old_file() {
        let dir = scratch("write");
        write_atomic(&dir, "f.json", b"one").unwrap();
        write_atomic(&dir, "f.json", b"two").unwrap();
        assert_eq!(read_private(&dir.join("f.json")).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["f.json"], "no temporary file left");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join("f.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            fs::set_permissions(dir.join("f.json"), fs::Permissions::from_mode(0o640)).unwrap();
            assert!(matches!(
                read_private(&dir.join("f.json")),
                Err(Unreadable::Refused(why)) if why.contains("640")
            ));
        }
        assert!(matches!(
            read_private(&dir.join("missing")),
            Err(Unreadable::Missing)
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("perm");
        assert!(StateDir::open(&dir).is_ok());
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o770)).unwrap();
        let err = StateDir::open(&dir).unwrap_err().to_string();
        assert!(err.contains("writable by group or others"), "{err}");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(dir.join("stray"), b"x").unwrap();
        fs::set_permissions(dir.join("stray"), fs::Permissions::from_mode(0o666)).unwrap();
        let err = StateDir::open(&dir).unwrap_err().to_string();
        assert!(err.contains("stray") && err.contains("666"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn locks_exclude_each_other_until_dropped() {
        let dir = scratch("lock");
        let path = dir.join("x.lock");
        let Turn::First(held) = lock_within(&path, Duration::ZERO, &crate::SystemClock).unwrap()
        else {
            panic!("no one else holds it")
        };
        assert!(matches!(
            lock_within(&path, Duration::from_millis(50), &crate::SystemClock).unwrap(),
            Turn::TimedOut
        ));
        assert!(try_lock(&path).unwrap().is_none());
        drop(held);
        assert!(try_lock(&path).unwrap().is_some());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_file_name_hash_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
