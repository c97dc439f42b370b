//! OAuth client credentials: the token cache (in memory, and shared
//! through the state directory), the token call, and what its answers mean.

use std::fmt;
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Duration;

use base64::Engine as _;

use ureq::http::header::HeaderValue;

use crate::clock::{later, Clock};
use crate::http::{Answer, Http};
use crate::redact::redact;
use crate::retry::{with_retries, Attempt};
use crate::secret::{bearer, Secret, Token};
use crate::state::{StateDir, TokenStore, Turn};
use crate::sync::lock;
use crate::{Error, RetryPolicy};

struct Cached {
    token: Token,
    refresh_at: std::time::Instant,
}

/// The least life a token must have left to be used: it is refreshed when
/// less remains, in memory and from the state directory alike.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Fetches tokens and caches one. Reading the cached token takes a shared
/// lock; a fetch holds `fetching`, so many threads asking at once cause one
/// token call. With a state directory, the token is also kept on disk, and
/// a fetch holds the token file's lock, so processes that start together
/// make one token call between them.
pub(crate) struct Auth {
    url: String,
    /// Named in errors: the region in use, if a region chose the URL.
    region: Option<&'static str>,
    /// The client secret, kept only to redact it from error excerpts.
    secret: Secret,
    /// `Basic base64(id:secret)`, marked sensitive.
    basic: HeaderValue,
    timeout: Duration,
    cache: RwLock<Option<Cached>>,
    fetching: Mutex<()>,
    /// The token file, with a state directory.
    store: Option<TokenStore>,
    /// The last token the API refused (401): not to be read back from the
    /// token file.
    refused: Mutex<Option<HeaderValue>>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self.read().is_some();
        f.debug_struct("Auth")
            .field("token_url", &self.url)
            .field(
                "token",
                &if cached {
                    "[cached, redacted]"
                } else {
                    "[none]"
                },
            )
            .finish()
    }
}

impl Auth {
    pub fn new(
        login_base: &str,
        region: Option<&'static str>,
        client_id: &str,
        secret: &Secret,
        timeout: Duration,
    ) -> Self {
        let pair = format!("{client_id}:{}", secret.expose());
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        );
        let mut basic = HeaderValue::from_str(&basic).expect("base64 is a valid header value");
        basic.set_sensitive(true);
        Auth {
            url: format!("{login_base}/oauth/token"),
            region,
            secret: secret.clone(),
            basic,
            timeout,
            cache: RwLock::new(None),
            fetching: Mutex::new(()),
            store: None,
            refused: Mutex::new(None),
        }
    }

    /// The token endpoint's URL.
    pub fn token_url(&self) -> &str {
        &self.url
    }

    /// Keeps the token in `state` too, shared with other processes.
    pub fn with_state(mut self, state: &StateDir, client_id: &str) -> Self {
        self.store = Some(TokenStore::new(state, &self.url, client_id));
        self
    }

    /// A valid token: the cached one, or a new one fetched now.
    pub fn token(
        &self,
        http: &Http,
        policy: &RetryPolicy,
        clock: &dyn Clock,
    ) -> Result<Token, Error> {
        if let Some(token) = self.cached(clock) {
            return Ok(token);
        }
        let _one_fetch_at_a_time = lock(&self.fetching);
        // Another thread may have fetched one while this one waited.
        if let Some(token) = self.cached(clock) {
            return Ok(token);
        }
        // And another process: one fetches while the others wait for its
        // token, each for at most the token call's timeout (a holder that
        // hangs, or was stopped, blocks no one for longer).
        let turn = self
            .store
            .as_ref()
            .and_then(|s| s.turn(self.timeout, clock));
        if let Some(token) = self.stored(clock) {
            return Ok(token);
        }
        let _one_process_at_a_time = match turn {
            Some(Turn::First(held)) => Some(held),
            // The other process's fetch failed (it left no token): fetch
            // now, without making the next waiter wait for this one too.
            Some(Turn::AfterAnother) => None,
            Some(Turn::TimedOut) => {
                log::warn!(target: "genesys_inject::auth", "another process has held the token lock for {:?}: fetching a token without it", self.timeout);
                None
            }
            None => None,
        };
        log::debug!(target: "genesys_inject::auth", "fetching a token");
        let (token, expires_in) = self.fetch(http, policy, clock)?;
        if let (Some(store), Some(access)) = (&self.store, token.access_token()) {
            store.save(access, Duration::from_secs(expires_in));
        }
        self.keep(&token, refresh_after(expires_in), clock);
        Ok(token)
    }

    fn keep(&self, token: &Token, use_for: Duration, clock: &dyn Clock) {
        *self.cache.write().unwrap_or_else(PoisonError::into_inner) = Some(Cached {
            token: token.clone(),
            refresh_at: later(clock.now(), use_for),
        });
    }

    /// The token of the state directory, when it has at least
    /// [`REFRESH_MARGIN`] left and is not the one the API refused.
    fn stored(&self, clock: &dyn Clock) -> Option<Token> {
        let (access, left) = self.store.as_ref()?.load()?;
        if left < REFRESH_MARGIN {
            log::debug!(target: "genesys_inject::auth", "stored token has {} s left: not reused", left.as_secs());
            return None;
        }
        let token = bearer(&access)
            .map_err(|why| log::warn!(target: "genesys_inject::auth", "stored token ignored: it is {why}"))
            .ok()?;
        if lock(&self.refused).as_ref() == Some(token.header()) {
            return None;
        }
        log::debug!(target: "genesys_inject::auth", "token from the state directory, {} s left", left.as_secs());
        self.keep(&token, left - REFRESH_MARGIN, clock);
        Some(token)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Option<Cached>> {
        self.cache.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn cached(&self, clock: &dyn Clock) -> Option<Token> {
        let cache = self.read();
        cache
            .as_ref()
            .filter(|c| clock.now() < c.refresh_at)
            .map(|c| c.token.clone())
    }

    /// Forgets `token` (after a 401), unless another thread already replaced it.
    pub fn invalidate(&self, token: &Token) {
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        if cache.as_ref().is_some_and(|c| c.token.same_as(token)) {
            log::info!(target: "genesys_inject::auth", "token refused by the API (401): fetching a new one");
            *cache = None;
            *lock(&self.refused) = Some(token.header().clone());
        }
    }

    fn fetch(
        &self,
        http: &Http,
        policy: &RetryPolicy,
        clock: &dyn Clock,
    ) -> Result<(Token, u64), Error> {
        let mut attempts = 0;
        with_retries(policy, clock, || {
            attempts += 1;
            let answer = match http.post(
                &self.url,
                Some(&self.basic),
                None,
                "application/x-www-form-urlencoded",
                b"grant_type=client_credentials",
                Some(self.timeout),
            ) {
                Ok(answer) => answer,
                Err(e) if e.retryable => return Attempt::NotSent(e.error),
                Err(e) => return Attempt::Done(Err(e.error.before_message())),
            };
            log::debug!(target: "genesys_inject::auth", "POST {} -> HTTP {}", self.url, answer.status);
            if answer.is_success() {
                return Attempt::Done(self.parse_token(&answer));
            }
            if is_rate_limited(&answer) {
                return answer.throttled(attempts);
            }
            Attempt::Done(Err(self.token_error(&answer)))
        })
    }

    /// The error for a token answer that is neither a token nor the rate
    /// limit.
    fn token_error(&self, answer: &Answer) -> Error {
        // An OAuth error body: {"error", "error_description", "description"}.
        let parsed = serde_json::from_slice::<serde_json::Value>(&answer.body).ok();
        let field = |key: &str| {
            parsed
                .as_ref()
                .and_then(|p| p.get(key))
                .and_then(|v| v.as_str())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let oauth_error = field("error");
        let excerpt = |fallback: &str| {
            let secrets = [self.secret.expose(), basic_credential(&self.basic)];
            answer.message_or(fallback, &secrets)
        };
        let description = |fallback: &str| {
            field("error_description")
                .or_else(|| field("description"))
                .map(|d| redact(&d, &[self.secret.expose(), basic_credential(&self.basic)]))
                .unwrap_or_else(|| excerpt(fallback))
        };
        let wrong_url = |what: &str| {
            Error::Config(format!(
                "the token URL {} answered {what}: check {}",
                self.url,
                if self.region.is_some() {
                    "the region"
                } else {
                    "the base URL (the token call goes to {base_url}/oauth/token)"
                }
            ))
        };
        match answer.status {
            401 => self.auth_error(
                answer,
                oauth_error.clone(),
                description("the credentials were refused"),
            ),
            400 | 403 if oauth_error.is_some() => self.auth_error(
                answer,
                oauth_error.clone(),
                description("the credentials were refused"),
            ),
            404 => wrong_url("HTTP 404 (not found)"),
            300..=399 => wrong_url(&format!(
                "HTTP {} (a redirect, which the token call never follows)",
                answer.status
            )),
            _ => answer.not_delivered(
                oauth_error.clone(),
                format!(
                    "the token endpoint {} failed: {}",
                    self.url,
                    description("no error body")
                ),
            ),
        }
    }

    fn auth_error(&self, answer: &Answer, error: Option<String>, description: String) -> Error {
        Error::Auth {
            status: Some(answer.status),
            error,
            description,
            region: self.region.map(str::to_owned),
            correlation_id: answer.correlation_id.clone(),
        }
    }

    /// The error for a 401 from the API on a token just fetched.
    pub fn refused_token(
        &self,
        error: Option<String>,
        description: String,
        correlation_id: Option<String>,
    ) -> Error {
        Error::Auth {
            status: Some(401),
            error,
            description,
            region: self.region.map(str::to_owned),
            correlation_id,
        }
    }

    fn parse_token(&self, answer: &Answer) -> Result<(Token, u64), Error> {
        parse_token(answer).map_err(|description| self.auth_error(answer, None, description))
    }
}

/// The token endpoint's own rate limit: HTTP 429, or HTTP 400 whose text says
/// `rate limit exceeded` (as Genesys' Terraform provider checks).
fn is_rate_limited(answer: &Answer) -> bool {
    answer.status == 429
        || (answer.status == 400
            && String::from_utf8_lossy(&answer.body)
                .to_ascii_lowercase()
                .contains("rate limit exceeded"))
}

/// The base64 part of `Basic <base64>`.
fn basic_credential(basic: &HeaderValue) -> &str {
    basic
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .map_or("", |(_, credential)| credential)
}

/// How long a token is used: until 60 s before it expires, or half its life
/// when that is shorter than two minutes.
fn refresh_after(expires_in: u64) -> Duration {
    let margin = REFRESH_MARGIN.as_secs();
    if expires_in >= 2 * margin {
        Duration::from_secs(expires_in - margin)
    } else {
        Duration::from_secs(expires_in) / 2
    }
}

/// The token of a 2xx answer, or why it is not one.
fn parse_token(answer: &Answer) -> Result<(Token, u64), String> {
    // Never quote a 2xx body: it may hold a token.
    let not_a_token = |why: &str| {
        format!(
            "the token endpoint answered HTTP {} but {why}",
            answer.status
        )
    };
    let parsed = serde_json::from_slice::<serde_json::Value>(&answer.body).ok();
    let access_token = parsed
        .as_ref()
        .and_then(|p| p.get("access_token"))
        .and_then(|t| t.as_str())
        .ok_or_else(|| {
            not_a_token("its body is not a JSON token answer (is the region or base URL right?)")
        })?;
    let expires_in = match parsed
        .as_ref()
        .and_then(|p| p.get("expires_in"))
        .and_then(|e| e.as_u64())
    {
        Some(0) | None => {
            return Err(not_a_token(
                "with a token that has no lifetime (expires_in missing or 0)",
            ))
        }
        Some(n) => n,
    };
    let token = bearer(access_token)
        .map_err(|why| not_a_token(&format!("with an access_token that is {why}")))?;
    log::debug!(target: "genesys_inject::auth", "new token, expires in {expires_in} s");
    Ok((token, expires_in))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            retry_after: None,
            correlation_id: None,
            date: None,
            sent_at: std::time::SystemTime::UNIX_EPOCH,
            body: body.as_bytes().to_vec(),
            unread: None,
            limits: crate::pace::Limits::default(),
        }
    }

    fn auth(region: Option<&'static str>) -> Auth {
        Auth::new(
            "https://login.example",
            region,
            "id",
            &Secret::new("s3cr3t".into()),
            Duration::from_secs(1),
        )
    }

    #[test]
    fn refresh_schedule() {
        assert_eq!(refresh_after(86_399), Duration::from_secs(86_339));
        assert_eq!(refresh_after(120), Duration::from_secs(60));
        assert_eq!(refresh_after(119), Duration::from_millis(59_500));
        assert_eq!(refresh_after(1), Duration::from_millis(500));
    }

    #[test]
    fn token_answers() {
        let (t, e) = parse_token(&answer(
            200,
            r#"{"access_token":"abc","token_type":"bearer","expires_in":86399}"#,
        ))
        .unwrap();
        assert_eq!((t.header().as_bytes(), e), (&b"Bearer abc"[..], 86_399));
        for bad in [
            "",
            "<html>login</html>",
            "{}",
            r#"{"access_token":"abc","expires_in":0}"#,
            r#"{"access_token":"","expires_in":5}"#,
            r#"{"access_token":"a\nb","expires_in":5}"#,
        ] {
            let err = auth(None).parse_token(&answer(200, bad)).unwrap_err();
            assert!(matches!(err, Error::Auth { .. }), "{bad}");
            assert!(!err.to_string().contains("abc"), "{err}");
        }
    }

    #[test]
    fn oauth_error_body() {
        let e = auth(Some("eu-west-1")).token_error(&answer(
            401,
            r#"{"error":"invalid_client","description":"bad creds","error_description":"client not found"}"#,
        ));
        assert!(e.to_string().contains("belongs to region eu-west-1"), "{e}");
        match e {
            Error::Auth {
                status,
                error,
                description,
                region,
                ..
            } => {
                assert_eq!(status, Some(401));
                assert_eq!(error.as_deref(), Some("invalid_client"));
                assert_eq!(description, "client not found");
                assert_eq!(region.as_deref(), Some("eu-west-1"));
            }
            other => panic!("{other:?}"),
        }
        // No region in use: none named.
        let e = auth(None).token_error(&answer(401, ""));
        assert!(!e.to_string().contains("region"), "{e}");
    }

    #[test]
    fn token_failures_are_classified() {
        let a = auth(None);
        let kind = |status, body: &str| a.token_error(&answer(status, body)).kind();
        assert_eq!(kind(401, "nope"), "auth");
        assert_eq!(kind(400, r#"{"error":"invalid_client"}"#), "auth");
        assert_eq!(kind(403, r#"{"error":"unauthorized_client"}"#), "auth");
        assert_eq!(kind(400, "<html>bad request</html>"), "api");
        assert_eq!(kind(403, "forbidden by the gateway"), "api");
        assert_eq!(kind(500, "oops"), "api");
        assert_eq!(kind(503, ""), "api");
        assert_eq!(kind(404, "not found"), "config");
        assert_eq!(kind(301, ""), "config");
        let e = a.token_error(&answer(404, ""));
        assert!(
            e.to_string().contains("https://login.example/oauth/token"),
            "{e}"
        );
        assert_eq!(
            a.token_error(&answer(502, "")).outcome(),
            Outcome::NotDelivered
        );
        assert!(is_rate_limited(&answer(429, "")));
        assert!(is_rate_limited(&answer(
            400,
            r#"{"error":"invalid_request","error_description":"Rate limit exceeded; try later"}"#
        )));
        assert!(!is_rate_limited(&answer(
            400,
            r#"{"error":"invalid_client"}"#
        )));
    }

    #[test]
    fn echoed_credentials_are_redacted() {
        let a = auth(None);
        let basic = basic_credential(&a.basic).to_owned();
        assert!(!basic.is_empty());
        for body in [
            format!(
                r#"{{"error":"invalid_client","error_description":"bad header Basic {basic}"}}"#
            ),
            format!("you sent authorization: Basic {basic}"),
            format!("credential {basic} and secret s3cr3t"),
            r#"{"error":"invalid_client","error_description":"id:s3cr3t"}"#.to_owned(),
        ] {
            let e = a.token_error(&answer(401, &body));
            let shown = format!("{e} {e:?}");
            assert!(
                !shown.contains(&basic) && !shown.contains("s3cr3t"),
                "{shown}"
            );
            assert!(shown.contains("[redacted]"), "{shown}");
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let auth = auth(None);
        let shown = format!("{auth:?} {:?}", auth.basic);
        assert!(auth.basic.is_sensitive());
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("Basic"),
            "{shown}"
        );
    }
}
