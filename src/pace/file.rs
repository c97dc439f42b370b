//! The pace shared by every process on a state directory that uses the
//! same token (or sender): one small file, `pace-<hash>`, read and
//! rewritten under its lock file. A missing or damaged file is a full
//! bucket; one in debt beyond a window, or stamped in the future, is a miss
//! with a warning.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::clock::Clock;
use crate::state::{lock_within, write_replacing, StateDir, Turn};

use super::bucket::Bucket;
use super::{DEFAULT_REQUESTS_PER_MINUTE, FILE_LOCK_WAIT};

#[derive(Debug)]
pub(super) struct PaceFile {
    pub dir: PathBuf,
    pub name: String,
    pub lock: PathBuf,
    /// A sender number's bucket: one at a time ([`Bucket::even`]).
    pub even: bool,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl PaceFile {
    /// Takes `n` tokens from the shared bucket (as [`Bucket::take`]);
    /// `None` when the file cannot be used (then the caller paces alone).
    pub fn take(
        &self,
        budget: u32,
        n: u32,
        clock: &dyn Clock,
    ) -> Option<Result<Duration, Duration>> {
        let mut taken = None;
        self.update(clock, |bucket, now| {
            bucket.budget = budget;
            taken = Some(bucket.take(now, n));
        })?;
        taken
    }

    /// Reads the bucket, lets `change` change it, writes it back, all under
    /// the lock. A missing or damaged file starts a full bucket.
    pub fn update(&self, clock: &dyn Clock, change: impl FnOnce(&mut Bucket, u64)) -> Option<()> {
        let _held = match lock_within(&self.lock, FILE_LOCK_WAIT, clock) {
            Ok(Turn::First(held)) => held,
            Ok(Turn::AfterAnother) => match crate::state::try_lock(&self.lock) {
                Ok(Some(held)) => held,
                _ => return None,
            },
            Ok(Turn::TimedOut) | Err(_) => return None,
        };
        let now = unix_now();
        let path = self.dir.join(&self.name);
        // Three integers: micro-tokens (negative: debt), the time (Unix
        // nanoseconds) and the budget. A missing or damaged file starts a
        // full bucket.
        let stored = crate::state::read_private(&path).ok().and_then(|bytes| {
            let text = String::from_utf8(bytes).ok()?;
            let mut fields = text.split_whitespace();
            let micro: i64 = fields.next()?.parse().ok()?;
            let at: u64 = fields.next()?.parse().ok()?;
            let budget: u32 = fields.next()?.parse().ok()?;
            (budget > 0).then_some(Bucket {
                tokens: micro as f64 / 1e6,
                at,
                budget,
                even: self.even,
            })
        });
        // In debt beyond a window, or stamped more than a second ahead (a
        // clock since stepped back): nothing the platform could mean.
        let stored = stored.filter(|bucket| {
            let sane = bucket.tokens >= -bucket.window_debt() - 1.0
                && bucket.at <= now.saturating_add(1_000_000_000);
            if !sane {
                log::warn!(target: "genesys_inject::gate", "pace file {}: in debt beyond a minute or stamped in the future: ignored", path.display());
            }
            sane
        });
        let mut bucket = stored.unwrap_or_else(|| match self.even {
            true => Bucket::even(DEFAULT_REQUESTS_PER_MINUTE, now),
            false => Bucket::full(DEFAULT_REQUESTS_PER_MINUTE, now),
        });
        change(&mut bucket, now);
        let micro = (bucket.tokens * 1e6) as i64;
        let body = format!("{micro} {} {}\n", bucket.at, bucket.budget);
        // Not synced: a pace file lost in a crash only means a full bucket.
        write_replacing(&self.dir, &self.name, body.as_bytes(), false).ok()?;
        Some(())
    }
}

impl PaceFile {
    /// The pace file of `key` (a hash of it names the file) in `state`;
    /// `even`: a sender number's.
    pub fn new(state: &StateDir, key: &str, even: bool) -> PaceFile {
        let hash = crate::state::fnv1a(key.as_bytes());
        PaceFile {
            dir: state.path().to_owned(),
            name: format!("pace-{hash:016x}"),
            lock: state.path().join(format!("pace-{hash:016x}.lock")),
            even,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pace_file_in_debt_beyond_a_window_or_from_the_future_is_a_miss() {
        let dir = crate::state::tests::scratch("pace");
        let state = StateDir::open(&dir).unwrap();
        let clock = crate::SystemClock;
        let file = &PaceFile::new(&state, "key", false);
        let now = unix_now();
        let hour = 3_600_000_000_000u64;
        for body in [
            // 136 years of debt.
            format!("{} {now} 300\n", -1_286_000_000_000_000_000i64),
            // Stamped an hour ahead.
            format!("-3000000 {} 300\n", now + hour),
        ] {
            std::fs::write(dir.join(&file.name), body).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(
                    dir.join(&file.name),
                    std::fs::Permissions::from_mode(0o600),
                )
                .unwrap();
            }
            let wait = file.take(300, 1, &clock).unwrap().unwrap();
            assert!(wait < Duration::from_secs(1), "{wait:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
