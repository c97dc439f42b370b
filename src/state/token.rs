//! The token file: one access token per (token URL, client id), shared by
//! every process that uses the state directory. Never the client secret.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::{fnv1a, lock_within, read_private, write_atomic, StateDir, Turn, Unreadable, TARGET};

/// Where one client's token is kept.
#[derive(Debug)]
pub(crate) struct TokenStore {
    dir: PathBuf,
    name: String,
    lock: PathBuf,
    token_url: String,
    client_id: String,
}

/// The file's content. The URL and client id are kept to tell a hash
/// collision from a match; the client secret is never written.
#[derive(Serialize)]
struct TokenFile {
    token_url: String,
    client_id: String,
    access_token: String,
    /// Seconds since the Unix epoch (wall clock: shared across processes).
    expires_at: u64,
}

impl TokenStore {
    pub fn new(state: &StateDir, token_url: &str, client_id: &str) -> TokenStore {
        let key = fnv1a(format!("{token_url}\n{client_id}").as_bytes());
        TokenStore {
            dir: state.path().to_owned(),
            name: format!("token-{key:016x}.json"),
            lock: state.path().join(format!("token-{key:016x}.lock")),
            token_url: token_url.to_owned(),
            client_id: client_id.to_owned(),
        }
    }

    /// The lock that makes processes fetch one at a time, waiting at most
    /// `timeout` for another process's fetch; `None` (and a warning) when
    /// the lock file cannot be used.
    pub fn turn(&self, timeout: Duration, clock: &dyn crate::Clock) -> Option<Turn> {
        lock_within(&self.lock, timeout, clock)
            .map_err(|e| {
                log::warn!(target: TARGET, "cannot lock {}: {e}; fetching without it", self.lock.display());
            })
            .ok()
    }

    /// The stored access token and the time it has left, if there is one
    /// for this client that has not expired. A missing file is a quiet
    /// miss; a damaged or untrusted one is a miss with a warning.
    pub fn load(&self) -> Option<(String, Duration)> {
        let path = self.dir.join(&self.name);
        let bytes = match read_private(&path) {
            Ok(bytes) => bytes,
            Err(Unreadable::Missing) => return None,
            Err(Unreadable::Refused(why)) => {
                log::warn!(target: TARGET, "token file {} ignored: {why}; a new token will replace it", path.display());
                return None;
            }
        };
        // Read through serde_json::Value, like every rarely read answer.
        let file = serde_json::from_slice::<serde_json::Value>(&bytes).ok();
        let text = |key: &str| file.as_ref()?.get(key)?.as_str();
        let (Some(token_url), Some(client_id), Some(access_token), Some(expires_at)) = (
            text("token_url"),
            text("client_id"),
            text("access_token"),
            file.as_ref()
                .and_then(|f| f.get("expires_at"))
                .and_then(|e| e.as_u64()),
        ) else {
            log::warn!(target: TARGET, "token file {} ignored: it is damaged; a new token will replace it", path.display());
            return None;
        };
        if token_url != self.token_url || client_id != self.client_id {
            return None;
        }
        let expires_at = UNIX_EPOCH.checked_add(Duration::from_secs(expires_at))?;
        let left = expires_at.duration_since(SystemTime::now()).ok()?;
        Some((access_token.to_owned(), left))
    }

    /// Stores `access_token`, which expires in `expires_in`. A failure is
    /// logged, never returned: the token works in this process anyway.
    pub fn save(&self, access_token: &str, expires_in: Duration) {
        let expires_at = SystemTime::now()
            .checked_add(expires_in)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(u64::MAX, |d| d.as_secs());
        let file = TokenFile {
            token_url: self.token_url.clone(),
            client_id: self.client_id.clone(),
            access_token: access_token.to_owned(),
            expires_at,
        };
        let bytes = serde_json::to_vec(&file).expect("a token file serializes");
        match write_atomic(&self.dir, &self.name, &bytes) {
            Ok(()) => {
                log::debug!(target: TARGET, "token stored in {}", self.dir.join(&self.name).display())
            }
            Err(e) => {
                log::warn!(target: TARGET, "cannot store the token in {}: {e}", self.dir.display())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::scratch;

    #[test]
    fn a_token_round_trips_and_a_damaged_file_is_a_miss() {
        let dir = scratch("token");
        let state = StateDir::open(&dir).unwrap();
        let store = TokenStore::new(&state, "https://login.example/oauth/token", "id");
        assert!(store.load().is_none());
        store.save("tok", Duration::from_secs(3600));
        let (token, left) = store.load().unwrap();
        assert_eq!(token, "tok");
        assert!(left > Duration::from_secs(3590) && left <= Duration::from_secs(3600));
        // Another client's store does not see it.
        let other = TokenStore::new(&state, "https://login.example/oauth/token", "id2");
        assert!(other.load().is_none());
        // Truncated: a miss.
        let path = dir.join(&store.name);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(store.load().is_none());
        // Expired: a miss.
        store.save("old", Duration::ZERO);
        assert!(store.load().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
