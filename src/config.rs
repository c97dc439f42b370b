//! The builder: regions, base URLs, credentials, environment variables and
//! every tunable default.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::Secret;
use crate::clock::{Clock, SystemClock};
use crate::content::DEFAULT_ATTACHMENT_TYPES;
use crate::state::StateDir;
use crate::validate::MESSAGING_MAX_TEXT_CHARS;
use crate::{Error, Injector, RetryPolicy, SafetyPolicy};

/// Genesys Cloud regions by AWS name, with their domain.
const REGIONS: &[(&str, &str)] = &[
    ("us-east-1", "mypurecloud.com"),
    ("us-east-2", "use2.us-gov-pure.cloud"),
    ("us-west-2", "usw2.pure.cloud"),
    ("ca-central-1", "cac1.pure.cloud"),
    ("sa-east-1", "sae1.pure.cloud"),
    ("mx-central-1", "mxc1.pure.cloud"),
    ("eu-west-1", "mypurecloud.ie"),
    ("eu-west-2", "euw2.pure.cloud"),
    ("eu-central-1", "mypurecloud.de"),
    ("eu-central-2", "euc2.pure.cloud"),
    ("eusc-de-east-1", "edee1.eusc-pure.cloud"),
    ("me-central-1", "mec1.pure.cloud"),
    ("ap-south-1", "aps1.pure.cloud"),
    ("ap-southeast-1", "apse1.pure.cloud"),
    ("ap-southeast-2", "mypurecloud.com.au"),
    ("ap-northeast-1", "mypurecloud.jp"),
    ("ap-northeast-2", "apne2.pure.cloud"),
    ("ap-northeast-3", "apne3.pure.cloud"),
];

/// Default of [`InjectorBuilder::max_idle_connections`].
const DEFAULT_MAX_IDLE_CONNECTIONS: usize = 64;

/// The region used when none is given, as in the official SDKs.
pub const DEFAULT_REGION: &str = "us-east-1";

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

/// Where HTTP requests go through.
#[derive(Clone, PartialEq, Eq, Default)]
enum ProxyChoice {
    #[default]
    Direct,
    FromEnv,
    Url(String),
}

impl fmt::Debug for ProxyChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyChoice::Direct => f.write_str("Direct"),
            ProxyChoice::FromEnv => f.write_str("FromEnv"),
            // A proxy URL may carry a user name and password.
            ProxyChoice::Url(url) => match url.split_once("://") {
                Some((scheme, rest)) if rest.contains('@') => {
                    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
                    write!(f, "Url({scheme}://[credentials]@{host})")
                }
                _ => write!(f, "Url({url})"),
            },
        }
    }
}

/// Builds an [`Injector`]. Start with [`Injector::builder`] or
/// [`InjectorBuilder::from_env`]; every setter states its default.
///
/// `build` checks everything it is given and makes no network call.
#[derive(Clone)]
pub struct InjectorBuilder {
    region: Option<String>,
    base_url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<Secret>,
    webhook_url: Option<String>,
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
    state_dir: Option<PathBuf>,
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

    /// A builder filled from the environment:
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `GENESYS_CLIENT_ID` | OAuth client id | required |
    /// | `GENESYS_CLIENT_SECRET` | OAuth client secret | required |
    /// | `GENESYS_REGION` | region or domain, as [`region`](Self::region) | `us-east-1` |
    /// | `GENESYS_BASE_URL` | as [`base_url`](Self::base_url) | unset |
    /// | `WEBHOOK_URL` | as [`webhook_url`](Self::webhook_url) | unset |
    /// | `GENESYS_STATE_DIR` | as [`state_dir`](Self::state_dir) | unset: nothing on disk |
    ///
    /// A variable that is set must be usable: one that is not valid UTF-8
    /// (`GENESYS_STATE_DIR` excepted: a path need not be), or blank (empty
    /// or only white space), is an [`Error::Config`] naming it, never a
    /// silent fallback to the default. The one exception is
    /// `WEBHOOK_URL=` (set to the empty string), which means no webhook, so
    /// that one cron line can switch it off.
    ///
    /// # Errors
    /// [`Error::Config`] naming the variable that is missing or unusable.
    pub fn from_env() -> Result<Self, Error> {
        let required = |name: &str| {
            env_var(name)?
                .ok_or_else(|| Error::Config(format!("environment variable {name} is not set")))
        };
        let mut b = InjectorBuilder::new().credentials(
            required("GENESYS_CLIENT_ID")?,
            required("GENESYS_CLIENT_SECRET")?,
        );
        b.region = env_var("GENESYS_REGION")?;
        b.base_url = env_var("GENESYS_BASE_URL")?;
        b.webhook_url = match std::env::var_os("WEBHOOK_URL") {
            Some(v) if v.is_empty() => None,
            _ => env_var("WEBHOOK_URL")?,
        };
        // A path need not be UTF-8; it must not be blank.
        b.state_dir = match std::env::var_os("GENESYS_STATE_DIR") {
            Some(v) if v.to_str().is_some_and(|s| s.trim().is_empty()) => {
                return Err(blank("GENESYS_STATE_DIR"))
            }
            v => v.map(PathBuf::from),
        };
        Ok(b)
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
    /// directory; keep one directory per host (see the README's "Running
    /// from cron"). Default: none, nothing is written to disk.
    pub fn state_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(path.into());
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
        let proxy = match self.proxy {
            ProxyChoice::Direct => None,
            ProxyChoice::FromEnv => ureq::Proxy::try_from_env(),
            ProxyChoice::Url(url) => Some(
                ureq::Proxy::new(&url)
                    .map_err(|e| Error::Config(format!("invalid proxy URL: {e}")))?,
            ),
        };
        if let Some(proxy) = &proxy {
            check_proxy(proxy)?;
        }
        if self.outbox_max_events == 0 || self.outbox_max_bytes == 0 {
            return Err(Error::Config(
                "outbox_max_events and outbox_max_bytes must be at least 1".into(),
            ));
        }
        let state = self.state_dir.as_deref().map(StateDir::open).transpose()?;
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
            webhook_queue_capacity: self.webhook_queue_capacity,
            webhook_timeout: self.webhook_timeout,
            shutdown_timeout: self.shutdown_timeout,
            token_timeout: self.token_timeout,
            typing_timeout: self.typing_timeout,
            message_timeout: self.message_timeout,
            max_idle_connections: self.max_idle_connections,
            state,
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
    pub webhook_queue_capacity: usize,
    pub webhook_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub token_timeout: Duration,
    pub typing_timeout: Duration,
    pub message_timeout: Duration,
    pub max_idle_connections: usize,
    pub state: Option<StateDir>,
    pub attachment_types: Vec<String>,
    pub outbox_max_events: usize,
    pub outbox_max_bytes: u64,
    pub clock: Arc<dyn Clock>,
}

/// An environment variable: `None` when unset; an error when it is set but
/// not valid UTF-8 or blank.
fn env_var(name: &str) -> Result<Option<String>, Error> {
    let Some(value) = std::env::var_os(name) else {
        return Ok(None);
    };
    let value = value.into_string().map_err(|_| {
        Error::Config(format!(
            "environment variable {name} is set but is not valid UTF-8"
        ))
    })?;
    if value.trim().is_empty() {
        return Err(blank(name));
    }
    Ok(Some(value))
}

fn blank(name: &str) -> Error {
    Error::Config(format!(
        "environment variable {name} is set but blank: unset it or give it a value"
    ))
}

/// Only HTTP CONNECT proxies: this crate builds ureq without SOCKS support,
/// and ureq would panic on a SOCKS proxy given by hand (or go around one
/// given by the environment).
fn check_proxy(proxy: &ureq::Proxy) -> Result<(), Error> {
    use ureq::ProxyProtocol as P;
    match proxy.protocol() {
        P::Http | P::Https => Ok(()),
        other => Err(Error::Config(format!(
            "{other:?} proxies are not supported; use an http:// (CONNECT) proxy"
        ))),
    }
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

/// The domain of a region given as an AWS name or as a known domain.
#[cfg(test)]
pub(crate) fn region_domain(input: &str) -> Result<&'static str, Error> {
    region(input).map(|(_, domain)| domain)
}

/// The AWS name and the domain of a region given as either.
pub(crate) fn region(input: &str) -> Result<(&'static str, &'static str), Error> {
    let s = input.trim().to_ascii_lowercase();
    let host = s.strip_prefix("https://").unwrap_or(&s);
    let host = host.strip_suffix('/').unwrap_or(host);
    let host = host.strip_prefix("api.").unwrap_or(host);
    REGIONS
        .iter()
        .find(|(name, domain)| *name == s || *domain == host)
        .copied()
        .ok_or_else(|| {
            Error::Config(format!(
                "unknown region {input:?}: use an AWS region name such as eu-west-1 or a \
                 Genesys Cloud domain such as mypurecloud.ie (for anything else, base_url)"
            ))
        })
}

/// Checks an absolute URL: https, or http to a loopback host; no user info,
/// fragment, white space or control characters; a port, if any, from 1 to
/// 65535; a query only where allowed.
pub(crate) fn check_url(what: &str, url: &str, allow_query: bool) -> Result<(), Error> {
    let bad = |why: &str| Error::Config(format!("{what} {why}"));
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("contains white space or a control character"));
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("must be an absolute URL such as https://host"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(bad("must use https (or http to a loopback host)"));
    }
    if url.contains('#') || (!allow_query && url.contains('?')) {
        return Err(bad("must not have a query or fragment"));
    }
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(bad("must name a host (and no user name or password)"));
    }
    // What follows the host: nothing, or `:` and a port. (ureq would send a
    // port above 65535 to the scheme's default port instead.)
    let after_host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("?", |(_, after)| after),
        None => authority.find(':').map_or("", |i| &authority[i..]),
    };
    if !after_host.is_empty() {
        let port = after_host.strip_prefix(':').unwrap_or("?");
        if !port.bytes().all(|b| b.is_ascii_digit()) || !matches!(port.parse::<u16>(), Ok(1..)) {
            return Err(bad(&format!(
                "has an impossible port {port:?}: a port is a number from 1 to 65535"
            )));
        }
    }
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|e| bad(&format!("is not a valid URL: {e}")))?;
    let host = uri.host().ok_or_else(|| bad("must name a host"))?;
    if scheme == "http" && !is_loopback(host) {
        return Err(bad(
            "must use https; plain http is accepted only for 127.0.0.1, ::1 or localhost",
        ));
    }
    Ok(())
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_in_every_accepted_form() {
        for input in [
            "eu-west-1",
            "EU-WEST-1",
            " eu-west-1 ",
            "mypurecloud.ie",
            "api.mypurecloud.ie",
            "https://api.mypurecloud.ie",
            "https://api.mypurecloud.ie/",
        ] {
            assert_eq!(region_domain(input).unwrap(), "mypurecloud.ie", "{input}");
        }
        assert_eq!(region_domain(DEFAULT_REGION).unwrap(), "mypurecloud.com");
        for bad in [
            "",
            "eu-west-9",
            "evil.example.com",
            "http://api.mypurecloud.ie",
            "mypurecloud.ie/x",
            "login.mypurecloud.ie",
        ] {
            assert!(matches!(region_domain(bad), Err(Error::Config(_))), "{bad}");
        }
    }

    #[test]
    fn proxies() {
        for ok in ["http://127.0.0.1:3128", "https://proxy.example.com:443"] {
            assert!(check_proxy(&ureq::Proxy::new(ok).unwrap()).is_ok(), "{ok}");
        }
        for socks in ["socks5://127.0.0.1:1080", "socks4://h:1", "socks4a://h:1"] {
            let err = check_proxy(&ureq::Proxy::new(socks).unwrap()).unwrap_err();
            assert!(err.to_string().contains("not supported"), "{err}");
        }
        let shown = format!(
            "{:?}",
            ProxyChoice::Url("http://me:pa55w0rd@proxy.example.com:3128".into())
        );
        assert_eq!(shown, "Url(http://[credentials]@proxy.example.com:3128)");
        assert!(!shown.contains("pa55w0rd"));
    }

    #[test]
    fn urls() {
        assert!(check_url("u", "http://127.0.0.1:8080/", false).is_ok());
        assert!(check_url("u", "http://127.0.0.1:65535", false).is_ok());
        assert!(check_url("u", "https://[::1]:443/x", false).is_ok());
        assert!(check_url("u", "http://localhost:1/x", false).is_ok());
        assert!(check_url("u", "http://[::1]:1", false).is_ok());
        assert!(check_url("u", "https://gw.example.com/genesys", false).is_ok());
        assert!(check_url("u", "https://hooks.example.com/a?key=1", true).is_ok());
        for bad in [
            "http://example.com",
            "http://10.0.0.1",
            "file:///etc/passwd",
            "ftp://127.0.0.1",
            "https://hooks.example.com/a b",
            "https://a.example.com/\n",
            "https://user:pw@example.com",
            "https://example.com/#x",
            "https://example.com/?q",
            "127.0.0.1:80",
            "https://",
            "",
            // Impossible ports.
            "http://127.0.0.1:65536",
            "http://127.0.0.1:99999/x",
            "https://example.com:0",
            "https://example.com:",
            "https://example.com:+443",
            "https://example.com:44a",
            "https://example.com:1:2",
            "http://[::1]:70000",
            "http://[::1]x",
            "http://[::1",
        ] {
            assert!(
                matches!(check_url("u", bad, false), Err(Error::Config(_))),
                "{bad:?}"
            );
        }
    }
}
