//! The builder: every option with its default, and the checks that turn
//! them into the injector's settings. The environment is read in `env`,
//! regions in `region`, URLs checked in `url`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::content::DEFAULT_ATTACHMENT_TYPES;
use crate::proxy::ProxyChoice;
use crate::region::{region, DEFAULT_REGION};
use crate::secret::Secret;
use crate::state::StateDir;
use crate::url::check_url;
use crate::validate::MESSAGING_MAX_TEXT_CHARS;
use crate::{Error, Injector, RetryPolicy, SafetyPolicy};

/// Default of [`InjectorBuilder::max_idle_connections`].
const DEFAULT_MAX_IDLE_CONNECTIONS: usize = 64;

/// Whether the typing indicator is sent before each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TypingMode {
    /// Send it; if it fails or is rate limited, log a warning and send the
    /// message anyway, without waiting. The default.
    #[default]
    BestEffort,
    /// Send it, retrying under the [`RetryPolicy`]; if it fails, the message
    /// is not sent and the error is returned.
    Required,
    /// Do not send it.
    Off,
}

/// Builds an [`Injector`]. Start with [`Injector::builder`] or
/// [`InjectorBuilder::from_env`]; every setter states its default.
///
/// `build` checks everything it is given and makes no network call.
#[derive(Clone)]
pub struct InjectorBuilder {
    pub(crate) region: Option<String>,
    pub(crate) base_url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<Secret>,
    pub(crate) webhook_url: Option<String>,
    retry_policy: RetryPolicy,
    safety_policy: SafetyPolicy,
    max_text_chars: usize,
    typing: TypingMode,
    proxy: ProxyChoice,
    webhook_queue_capacity: usize,
    webhook_timeout: Duration,
    shutdown_timeout: Duration,
    token_timeout: Duration,
    typing_timeout: Duration,
    message_timeout: Duration,
    max_idle_connections: usize,
    pub(crate) state_dir: Option<PathBuf>,
    pub(crate) ca_file: Option<PathBuf>,
    audit_log: Option<PathBuf>,
    requests_per_minute: Option<u32>,
    /// Whether the caller set the budget (then a ceiling).
    rate_set: bool,
    sender_rate: Option<f64>,
    attachment_types: Vec<String>,
    outbox_max_events: usize,
    outbox_max_bytes: u64,
    clock: Arc<dyn Clock>,
}

impl Default for InjectorBuilder {
    fn default() -> Self {
        InjectorBuilder {
            region: None,
            base_url: None,
            client_id: None,
            client_secret: None,
            webhook_url: None,
            retry_policy: RetryPolicy::default(),
            safety_policy: SafetyPolicy::default(),
            max_text_chars: MESSAGING_MAX_TEXT_CHARS,
            typing: TypingMode::default(),
            proxy: ProxyChoice::default(),
            webhook_queue_capacity: 1024,
            webhook_timeout: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(5),
            token_timeout: Duration::from_secs(10),
            typing_timeout: Duration::from_secs(5),
            message_timeout: Duration::from_secs(10),
            max_idle_connections: DEFAULT_MAX_IDLE_CONNECTIONS,
            state_dir: None,
            ca_file: None,
            audit_log: None,
            requests_per_minute: Some(crate::pace::DEFAULT_REQUESTS_PER_MINUTE),
            rate_set: false,
            sender_rate: None,
            attachment_types: DEFAULT_ATTACHMENT_TYPES
                .iter()
                .map(|t| t.to_string())
                .collect(),
            outbox_max_events: 10_000,
            outbox_max_bytes: 16 << 20,
            clock: Arc::new(SystemClock),
        }
    }
}

impl InjectorBuilder {
    /// A builder with every default and no credentials.
    pub fn new() -> Self {
        Self::default()
    }

    /// The organisation's region: an AWS name (`eu-west-1`) or its domain
    /// (`mypurecloud.ie`, `api.mypurecloud.ie`, `https://api.mypurecloud.ie`).
    /// Default: `us-east-1` (`mypurecloud.com`), as the official SDKs.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sends both the token call (`{base_url}/oauth/token`) and the API calls
    /// (`{base_url}/api/v2/...`) to one server: for tests, mock platforms and
    /// API gateways. Takes precedence over [`region`](Self::region). Must be
    /// `https://`, or `http://` to a loopback host. Default: unset.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The OAuth client-credentials client. Required. The secret is never
    /// logged nor shown by `Debug`.
    pub fn credentials(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.client_id = Some(client_id.into());
        self.client_secret = Some(Secret::new(client_secret.into()));
        self
    }

    /// Posts every injection's audit event to this URL from a background
    /// thread (see the crate docs). Must be `https://`, or `http://` to a
    /// loopback host. Default: unset (no webhook, no thread).
    pub fn webhook_url(mut self, url: impl Into<String>) -> Self {
        self.webhook_url = Some(url.into());
        self
    }

    /// How 429 answers and connection failures are retried.
    /// Default: [`RetryPolicy::default`] (3 retries, the tutorial's formula).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }

    /// The content-safety rules. Default: [`SafetyPolicy::default`], the
    /// tutorial's `password`, `ssn`, `credit.card`.
    pub fn safety_policy(mut self, policy: SafetyPolicy) -> Self {
        self.safety_policy = policy;
        self
    }

    /// The text limit in UTF-16 code units, for each block and for the joined
    /// message. Default: 2000, the messaging limit
    /// ([`MESSAGING_MAX_TEXT_CHARS`](crate::MESSAGING_MAX_TEXT_CHARS)). An
    /// agentless SMS is held to 765 whatever this says.
    pub fn max_text_chars(mut self, n: usize) -> Self {
        self.max_text_chars = n;
        self
    }

    /// Whether the typing indicator goes out before each message.
    /// Default: [`TypingMode::BestEffort`].
    pub fn typing(mut self, mode: TypingMode) -> Self {
        self.typing = mode;
        self
    }

    /// Sends every request through this HTTP CONNECT proxy
    /// (`http://host:port`, `http://user:password@host:port`; `https://` for
    /// TLS to the proxy). SOCKS proxies are refused with [`Error::Config`].
    /// Default: no proxy; `HTTPS_PROXY` and friends are ignored unless
    /// [`proxy_from_env`](Self::proxy_from_env) is called.
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = ProxyChoice::Url(url.into());
        self
    }

    /// Uses the proxy named by `ALL_PROXY`/`HTTPS_PROXY`/`HTTP_PROXY` (and
    /// honours `NO_PROXY`); a SOCKS proxy there makes
    /// [`build`](Self::build) fail with [`Error::Config`]. Default: off.
    pub fn proxy_from_env(mut self) -> Self {
        self.proxy = ProxyChoice::FromEnv;
        self
    }

    /// Most webhook events waiting to be posted; when full, new events are
    /// dropped (and counted) rather than blocking `inject`. Default: 1024.
    pub fn webhook_queue_capacity(mut self, n: usize) -> Self {
        self.webhook_queue_capacity = n;
        self
    }

    /// Time limit of each phase (connect, send, answer) of one webhook POST.
    /// Default: 5 s, the tutorial's.
    pub fn webhook_timeout(mut self, d: Duration) -> Self {
        self.webhook_timeout = d;
        self
    }

    /// How long dropping the `Injector` waits for queued webhook events to be
    /// posted before it gives up on them. Default: 5 s.
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.shutdown_timeout = d;
        self
    }

    /// Time limit of each phase of the token call. Default: 10 s.
    pub fn token_timeout(mut self, d: Duration) -> Self {
        self.token_timeout = d;
        self
    }

    /// Time limit of each phase of the typing call. Default: 5 s.
    pub fn typing_timeout(mut self, d: Duration) -> Self {
        self.typing_timeout = d;
        self
    }

    /// Time limit of each phase (connect, send, answer) of the message call.
    /// Default: 10 s. When the answer does not come in time the error's
    /// outcome is [`Outcome::Unknown`](crate::Outcome::Unknown).
    pub fn message_timeout(mut self, d: Duration) -> Self {
        self.message_timeout = d;
        self
    }

    /// Idle connections kept open per host for reuse. Threads sharing one
    /// injector each hold one connection while they call the platform, and
    /// give it back for the next call: keep this at least the number of
    /// threads that call [`inject`](Injector::inject) at the same time, or
    /// connections (each a TLS handshake) are closed and opened again. Idle
    /// connections close after 15 s, so a large value costs nothing when
    /// fewer threads are used. Default: 64.
    pub fn max_idle_connections(mut self, n: usize) -> Self {
        self.max_idle_connections = n;
        self
    }

    /// Keeps what must outlive the process in this directory, so that cron
    /// runs share one token and lose no audit event:
    /// - the access token (never the client secret), one file per token
    ///   URL and client id, reused by every process while at least 60 s of
    ///   its life remain;
    /// - with a webhook, every audit event, written before
    ///   [`inject`](Injector::inject) returns and removed once the endpoint
    ///   accepted (or refused) it; an injector built later on the same
    ///   directory, in any process, posts what is left, in order.
    ///
    /// The directory is created 0700 if missing. `build` refuses, with
    /// [`Error::Config`], a directory (or a file in it) that another user
    /// owns or that group or others can write, as ssh does (Unix; on Windows
    /// the user profile's ACLs protect it). Many processes may share one
    /// directory; keep one directory per host (see docs/cron.md, "Running
    /// from cron"). Default: none, nothing is written to disk.
    pub fn state_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(path.into());
        self
    }

    /// Trusts the root certificates of this PEM file (one or more
    /// `BEGIN CERTIFICATE` blocks) instead of the compiled-in Mozilla roots,
    /// for every call: token, API, upload and webhook. For a network whose
    /// proxy re-signs outbound TLS with a corporate CA; to trust the public
    /// roots too, put them in the same file (a system bundle such as
    /// `/etc/ssl/certs/ca-certificates.crt` holds them). The file is read by
    /// `build`: a missing, unreadable or empty file, or one that holds no
    /// certificate, is an [`Error::Config`] naming it. `from_env` reads
    /// `SSL_CERT_FILE` into it. Default: none: the compiled-in Mozilla
    /// roots, or with the `platform-verifier` feature the system's store.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Appends each injection's audit record (the one logged under
    /// [`AUDIT_TARGET`](crate::AUDIT_TARGET)) to this file as one JSON
    /// line, whether or not a logger or a webhook is set. Opened by `build`:
    /// created 0600, never through a link, a private regular file; one that
    /// cannot be used is an [`Error::Config`] naming it. A write that fails
    /// never fails or repeats an injection: it is logged once as a warning.
    /// Not synced: the log line and the webhook carry the same record.
    /// Default: none.
    pub fn audit_log(mut self, path: impl Into<PathBuf>) -> Self {
        self.audit_log = Some(path.into());
        self
    }

    /// Paces API requests (typing, message, status, lookups) to this
    /// budget a minute, so that no 60 s holds more: a burst of one second's
    /// worth, then evenly spaced. Every thread of the injector shares it;
    /// with a [state directory](Self::state_dir), so does every process on
    /// the host that uses the same token. A budget set here is a ceiling:
    /// the platform's `inin-ratelimit-*` headers may lower it (`allowed` in
    /// the window that ends in `reset`, whose length is the longest `reset`
    /// seen), never raise it, and a used-up window holds requests until its
    /// reset (at most a minute). `None`: no pacing, only the platform's
    /// 429s. Default: 300 a minute (the platform's
    /// `client.credentials.token.rate.per.minute`) as a start, not a
    /// ceiling: the headers move it up (an organisation whose budget
    /// Genesys raised) as well as down.
    pub fn requests_per_minute(mut self, budget: Option<u32>) -> Self {
        self.requests_per_minute = budget;
        self.rate_set = true;
        self
    }

    /// Messages a second each SMS sender number may send (the agentless
    /// route's `from`), shared by every process on the state directory,
    /// beside the token's budget: the number's carrier refuses more.
    /// Default: `None`, by the number's type, as Genesys documents it
    /// ([`default_sender_rate`](crate::default_sender_rate)): a NANP
    /// toll-free number 3, any other NANP number 1, any other 10.
    pub fn sender_rate(mut self, per_second: Option<f64>) -> Self {
        self.sender_rate = per_second;
        self
    }

    /// The file types (extensions, any case) an attachment may have; others
    /// are refused by validation before any upload. Make it match the
    /// content profile of your messaging integration. Default:
    /// [`DEFAULT_ATTACHMENT_TYPES`](crate::DEFAULT_ATTACHMENT_TYPES) (`jpg`,
    /// `jpeg`, `png`, `gif`: the platform's default outbound profile).
    pub fn attachment_types<T: Into<String>>(mut self, types: impl IntoIterator<Item = T>) -> Self {
        self.attachment_types = types
            .into_iter()
            .map(|t| t.into().trim_start_matches('.').to_ascii_lowercase())
            .collect();
        self
    }

    /// Writes nothing to disk, whatever `GENESYS_STATE_DIR` said. The default.
    pub fn no_state_dir(mut self) -> Self {
        self.state_dir = None;
        self
    }

    /// With a state directory, the most audit events kept in its outbox;
    /// past it, the oldest are dropped (and counted in
    /// [`WebhookStats::dropped`](crate::WebhookStats::dropped)). Default:
    /// 10 000.
    pub fn outbox_max_events(mut self, n: usize) -> Self {
        self.outbox_max_events = n;
        self
    }

    /// With a state directory, the most bytes of audit events kept in its
    /// outbox (an event is about 400 bytes); past it, the oldest are
    /// dropped. Default: 16 MiB.
    pub fn outbox_max_bytes(mut self, n: u64) -> Self {
        self.outbox_max_bytes = n;
        self
    }

    /// The clock used for every wait (delivery delay, `Retry-After`, backoff)
    /// and for token expiry. Default: [`SystemClock`]. Tests use a fake.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the configuration and builds the injector. No network call is
    /// made: the first token is fetched by the first `inject`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the option that is missing or unusable.
    pub fn build(self) -> Result<Injector, Error> {
        Injector::from_settings(self.into_settings()?)
    }

    fn into_settings(self) -> Result<Settings, Error> {
        let client_id = self.client_id.ok_or_else(|| {
            Error::Config("credentials are required: call .credentials(id, secret)".into())
        })?;
        let client_secret = self.client_secret.expect("set together with client_id");
        check_credential("client id", &client_id)?;
        check_credential("client secret", client_secret.expose())?;
        if client_id.contains(':') {
            return Err(Error::Config(
                "the client id contains ':', which HTTP Basic authentication cannot carry".into(),
            ));
        }
        let (api_base, login_base, region) = match &self.base_url {
            Some(url) => {
                check_url("base_url", url, false)?;
                let url = url.trim_end_matches('/');
                (url.to_owned(), url.to_owned(), None)
            }
            None => {
                let (name, domain) = region(self.region.as_deref().unwrap_or(DEFAULT_REGION))?;
                (
                    format!("https://api.{domain}"),
                    format!("https://login.{domain}"),
                    Some(name),
                )
            }
        };
        // Posted to exactly as given.
        if let Some(url) = &self.webhook_url {
            check_url("webhook_url", url, true)?;
        }
        if self.max_text_chars == 0 {
            return Err(Error::Config("max_text_chars must be at least 1".into()));
        }
        if self.webhook_queue_capacity == 0 {
            return Err(Error::Config(
                "webhook_queue_capacity must be at least 1".into(),
            ));
        }
        let proxy = self.proxy.resolve()?;
        if self.outbox_max_events == 0 || self.outbox_max_bytes == 0 {
            return Err(Error::Config(
                "outbox_max_events and outbox_max_bytes must be at least 1".into(),
            ));
        }
        let state = self.state_dir.as_deref().map(StateDir::open).transpose()?;
        let roots = crate::tls::roots(self.ca_file.as_deref())?;
        let audit_log = self
            .audit_log
            .as_deref()
            .map(crate::audit_log::AuditLog::open)
            .transpose()?;
        if self
            .sender_rate
            .is_some_and(|r| !(r.is_finite() && r >= 1.0 / 60.0))
        {
            return Err(Error::Config(
                "sender_rate must be at least one message a minute (1/60 a second)".into(),
            ));
        }
        if self.requests_per_minute == Some(0) {
            return Err(Error::Config(
                "requests_per_minute must be at least 1 (None: no pacing)".into(),
            ));
        }
        Ok(Settings {
            api_base,
            login_base,
            client_id,
            client_secret,
            region,
            webhook_url: self.webhook_url,
            retry_policy: self.retry_policy,
            safety_policy: self.safety_policy,
            max_text_chars: self.max_text_chars,
            typing: self.typing,
            proxy,
            roots,
            requests_per_minute: self.requests_per_minute,
            rate_is_ceiling: self.rate_set,
            sender_rate: self.sender_rate,
            webhook_queue_capacity: self.webhook_queue_capacity,
            webhook_timeout: self.webhook_timeout,
            shutdown_timeout: self.shutdown_timeout,
            token_timeout: self.token_timeout,
            typing_timeout: self.typing_timeout,
            message_timeout: self.message_timeout,
            max_idle_connections: self.max_idle_connections,
            state,
            audit_log,
            attachment_types: self.attachment_types,
            outbox_max_events: self.outbox_max_events,
            outbox_max_bytes: self.outbox_max_bytes,
            clock: self.clock,
        })
    }
}

impl fmt::Debug for InjectorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InjectorBuilder")
            .field("region", &self.region)
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("webhook_url", &self.webhook_url.as_ref().map(|_| "[set]"))
            .field("retry_policy", &self.retry_policy)
            .field("safety_policy", &self.safety_policy)
            .field("max_text_chars", &self.max_text_chars)
            .field("typing", &self.typing)
            .field("proxy", &self.proxy)
            .field("state_dir", &self.state_dir)
            .field("ca_file", &self.ca_file)
            .field("audit_log", &self.audit_log)
            .finish_non_exhaustive()
    }
}

/// A checked configuration, as the injector uses it.
pub(crate) struct Settings {
    pub api_base: String,
    pub login_base: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// The AWS name of the region, unless a base URL replaced it.
    pub region: Option<&'static str>,
    pub webhook_url: Option<String>,
    pub retry_policy: RetryPolicy,
    pub safety_policy: SafetyPolicy,
    pub max_text_chars: usize,
    pub typing: TypingMode,
    pub proxy: Option<ureq::Proxy>,
    /// The TLS roots every call trusts.
    pub roots: ureq::tls::RootCerts,
    pub requests_per_minute: Option<u32>,
    /// Whether the budget is a ceiling (the caller set it).
    pub rate_is_ceiling: bool,
    /// Messages a second an SMS sender number may send (`None`: by type).
    pub sender_rate: Option<f64>,
    pub webhook_queue_capacity: usize,
    pub webhook_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub token_timeout: Duration,
    pub typing_timeout: Duration,
    pub message_timeout: Duration,
    pub max_idle_connections: usize,
    pub state: Option<StateDir>,
    /// The audit file, if any.
    pub audit_log: Option<crate::audit_log::AuditLog>,
    pub attachment_types: Vec<String>,
    pub outbox_max_events: usize,
    pub outbox_max_bytes: u64,
    pub clock: Arc<dyn Clock>,
}

fn check_credential(what: &str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::Config(format!("the {what} is empty")));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::Config(format!(
            "the {what} contains a control character (a stray newline?)"
        )));
    }
    Ok(())
}
