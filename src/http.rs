//! HTTP exchanges: one ureq agent, the [`Answer`] read to the end, what a
//! failed exchange says about whether the request was sent
//! ([`SendError`]); what it shows of an answer goes through `redact`.
//! Knows nothing of routes, retries or tokens.

use std::time::{Duration, SystemTime};

use std::io::Read;

use ureq::http::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use ureq::SendBody;

use crate::pace::Limits;
use crate::redact::redact;
use crate::retry::Attempt;
use crate::{Error, Outcome};

const USER_AGENT: &str = concat!("genesys-inject/", env!("CARGO_PKG_VERSION"));
/// Largest answer body read. Most of the platform's answers are a few
/// hundred bytes; a long conversation's listing can pass a megabyte.
const MAX_BODY: u64 = 16 << 20;

/// One agent (one connection pool) per injector.
#[derive(Debug)]
pub(crate) struct Http {
    agent: ureq::Agent,
}

/// An HTTP answer, read to the end so that the connection can be reused.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub correlation_id: Option<String>,
    /// The `Date` header: the platform's clock.
    pub date: Option<String>,
    /// When this machine began sending the request.
    pub sent_at: SystemTime,
    pub body: Vec<u8>,
    /// Why the body could not be read (then `body` is empty): too large, or
    /// the connection failed while it was read.
    pub unread: Option<String>,
    /// The `inin-ratelimit-*` headers, as far as given.
    pub limits: Limits,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The `Retry-After` header, parsed (`None` when missing or unusable).
    pub fn retry_after(&self) -> Option<Duration> {
        crate::retry::parse_retry_after(self.retry_after.as_deref(), std::time::SystemTime::now())
    }

    /// An error saying this answer refused the request and nothing was
    /// delivered, in `message`'s words: for answers that carry no Genesys
    /// error body (the token endpoint, the upload host, an unreadable 2xx).
    pub fn not_delivered(&self, code: Option<String>, message: String) -> Error {
        Error::Api {
            status: self.status,
            code,
            message,
            correlation_id: self.correlation_id.clone(),
            body: None,
            outcome: Outcome::NotDelivered,
            sent_at: Some(self.sent_at),
        }
    }

    /// A 429 (or the token endpoint's limit) as an [`Attempt`]: wait as
    /// `Retry-After` says, or end in [`Error::RateLimited`] after `attempts`.
    pub fn throttled<T>(&self, attempts: u32) -> Attempt<T> {
        let retry_after = self.retry_after();
        Attempt::Throttled {
            retry_after,
            error: Error::RateLimited {
                attempts,
                retry_after,
                correlation_id: self.correlation_id.clone(),
            },
        }
    }

    /// The start of the body (as [`body_excerpt`](Self::body_excerpt)), or
    /// `fallback` when the body is empty.
    pub fn message_or(&self, fallback: &str, secrets: &[&str]) -> String {
        match self.body_excerpt(200, secrets) {
            s if s.is_empty() => fallback.to_owned(),
            s => s,
        }
    }

    /// The body as text, with `secrets` and any credential after `Basic` or
    /// `Bearer` redacted, cut to `max` bytes (on a character boundary), for
    /// error messages and logs. Redacted before it is cut, so that no part
    /// of a secret is left at the cut.
    pub fn body_excerpt(&self, max: usize, secrets: &[&str]) -> String {
        let text = redact(&String::from_utf8_lossy(&self.body), secrets);
        let text = text.trim();
        let mut end = text.len().min(max);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text[..end].to_owned()
    }
}

/// The URL's scheme, host and port, for logs: its path and query may hold a
/// secret (Slack-style webhooks keep theirs in the path, upload URLs their signature in the query).
pub(crate) fn origin(url: &str) -> String {
    let Ok(uri) = url.parse::<ureq::http::Uri>() else {
        return "[webhook]".into();
    };
    let scheme = uri.scheme_str().unwrap_or("https");
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "http" { 80 } else { 443 });
    format!("{scheme}://{}:{port}", uri.host().unwrap_or_default())
}

/// A failed exchange: the error, and whether retrying it is safe and useful.
#[derive(Debug)]
pub(crate) struct SendError {
    pub error: Error,
    /// The request certainly did not arrive whole and trying again may help
    /// (DNS failure, connect timeout, connection refused or reset before the
    /// request was completely written).
    pub retryable: bool,
}

impl Http {
    /// `timeouts` applies to each phase of an exchange. The global, per-call
    /// and resolve timeouts are left unset on purpose: setting any of them
    /// makes ureq spawn a thread per request to resolve the host.
    /// `idle_per_host` connections are kept for reuse per host (ureq's
    /// default is 3; idle ones close after ureq's 15 s).
    pub fn new(
        proxy: Option<ureq::Proxy>,
        roots: ureq::tls::RootCerts,
        timeout: Duration,
        idle_per_host: usize,
    ) -> Self {
        let config = ureq::Agent::config_builder()
            .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(USER_AGENT)
            .proxy(proxy)
            // Enough idle connections for many threads sharing one injector.
            .max_idle_connections(idle_per_host.saturating_mul(2))
            .max_idle_connections_per_host(idle_per_host)
            .timeout_connect(Some(timeout))
            .timeout_send_request(Some(timeout))
            .timeout_send_body(Some(timeout))
            .timeout_recv_response(Some(timeout))
            .timeout_recv_body(Some(timeout))
            .build();
        Http {
            agent: config.new_agent(),
        }
    }

    /// POSTs `body` and reads the whole answer. `timeout` overrides the
    /// agent's per-phase timeouts for this request when given.
    /// `idempotency_key` goes out as the `Idempotency-Key` header.
    pub fn post(
        &self,
        url: &str,
        authorization: Option<&HeaderValue>,
        idempotency_key: Option<&str>,
        content_type: &'static str,
        body: &[u8],
        timeout: Option<Duration>,
    ) -> Result<Answer, SendError> {
        // Ready-made names and values: parsing them costs more than the
        // rest of building the request.
        let mut request = self
            .agent
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value.clone());
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        // ureq takes the body from this reader after it has written the
        // head, and only as it sends it: see `Counted`.
        request = request.header(CONTENT_LENGTH, HeaderValue::from(body.len()));
        let mut counted = Counted { body, taken: 0 };
        let sent = SendBody::from_reader(&mut counted);
        let sent_at = SystemTime::now();
        let result = timed(request, timeout).send(sent);
        let incomplete = counted.taken < body.len();
        let response = result.map_err(|e| classify(e, incomplete, sent_at))?;
        Ok(read_answer(response, sent_at))
    }

    /// PUTs `body` to `url` with exactly `headers` (and ureq's own:
    /// `Host`, `Content-Length`, `User-Agent`, `Accept`), no
    /// `Authorization`; as [`post`](Self::post).
    pub fn put(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Answer, SendError> {
        let mut request = self.agent.put(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request = request.header(CONTENT_LENGTH, HeaderValue::from(body.len()));
        let mut counted = Counted { body, taken: 0 };
        let sent = SendBody::from_reader(&mut counted);
        let sent_at = SystemTime::now();
        let result = request.send(sent);
        let incomplete = counted.taken < body.len();
        let response = result.map_err(|e| classify(e, incomplete, sent_at))?;
        Ok(read_answer(response, sent_at))
    }

    /// GETs `url` and reads the whole answer; as [`post`](Self::post). A
    /// GET changes nothing, so every I/O failure counts as "not sent".
    pub fn get(
        &self,
        url: &str,
        authorization: Option<&HeaderValue>,
        timeout: Option<Duration>,
    ) -> Result<Answer, SendError> {
        let mut request = self.agent.get(url);
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value.clone());
        }
        let sent_at = SystemTime::now();
        let result = timed(request, timeout).call();
        let response = result.map_err(|e| classify(e, true, sent_at))?;
        Ok(read_answer(response, sent_at))
    }
}

/// `request` with `timeout` for each phase instead of the agent's, if given.
fn timed<B>(
    request: ureq::RequestBuilder<B>,
    timeout: Option<Duration>,
) -> ureq::RequestBuilder<B> {
    match timeout {
        None => request,
        Some(t) => request
            .config()
            .timeout_connect(Some(t))
            .timeout_send_request(Some(t))
            .timeout_send_body(Some(t))
            .timeout_recv_response(Some(t))
            .timeout_recv_body(Some(t))
            .build(),
    }
}

/// The status, the headers this crate reads, and the whole body (so that
/// the connection can be reused).
fn read_answer(mut response: ureq::http::Response<ureq::Body>, sent_at: SystemTime) -> Answer {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let retry_after = header("retry-after");
    let correlation_id = header("inin-correlation-id");
    let date = header("date");
    let number = |name: &str| header(name).and_then(|v| v.trim().parse::<u32>().ok());
    let limits = Limits {
        allowed: number("inin-ratelimit-allowed"),
        count: number("inin-ratelimit-count"),
        reset: number("inin-ratelimit-reset").map(|s| Duration::from_secs(u64::from(s))),
    };
    let status = response.status().as_u16();
    let (body, unread) = match response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
    {
        Ok(body) => (body, None),
        Err(e) => {
            log::warn!(target: "genesys_inject::transport", "could not read the answer body (HTTP {status}): {e}");
            (Vec::new(), Some(e.to_string()))
        }
    };
    Answer {
        status,
        retry_after,
        correlation_id,
        date,
        sent_at,
        body,
        unread,
        limits,
    }
}

/// The request body as ureq reads it: it counts what ureq took.
///
/// ureq writes the request head, then takes the body from its reader as it
/// sends it, at most one output buffer (128 KiB) ahead of the socket. So
/// while any byte of the body is still here, the server cannot have read
/// the whole request (the head announces its `Content-Length`), and an I/O
/// failure proves it was not sent: connecting, the TLS handshake, writing
/// the head, or writing a body larger than the buffer. Once ureq has taken
/// it all, a failure may come after the server read it: the outcome is
/// unknown. This uses ureq's public API only.
struct Counted<'a> {
    body: &'a [u8],
    taken: usize,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = &self.body[self.taken..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.taken += n;
        Ok(n)
    }
}

/// What a ureq error says about the request: did it leave, may it be
/// retried. `incomplete`: ureq had not taken the whole body (see
/// [`Counted`]).
fn classify(e: ureq::Error, incomplete: bool, sent_at: SystemTime) -> SendError {
    use ureq::Error as E;
    use ureq::Timeout as T;
    let (outcome, retryable) = match &e {
        E::ConnectionFailed | E::HostNotFound | E::Timeout(T::Connect | T::Resolve) => {
            (Outcome::NotDelivered, true)
        }
        // Refused, reset, broken pipe... before ureq took the whole body:
        // the request never arrived whole. The same error after may follow
        // a request the server read, so it is not here.
        E::Io(_) if incomplete => (Outcome::NotDelivered, true),
        // The request was not completely written: the server cannot act on it.
        E::Timeout(T::SendRequest | T::SendBody) => (Outcome::NotDelivered, false),
        E::Tls(_)
        | E::Rustls(_)
        | E::BadUri(_)
        | E::Http(_)
        | E::InvalidProxyUrl
        | E::ConnectProxyFailed(_)
        | E::RequireHttpsOnly(_)
        | E::TlsRequired => (Outcome::NotDelivered, false),
        // Sent, and then the answer did not come (timeout, reset, garbage).
        _ => (Outcome::Unknown, false),
    };
    let timed_out = matches!(e, E::Timeout(_));
    let source = match e {
        // Said in the message too; the kind is kept.
        E::Io(io) if incomplete => E::Io(std::io::Error::new(io.kind(), NotSent(io))),
        e => e,
    };
    SendError {
        retryable,
        error: Error::Transport {
            outcome,
            timed_out,
            source,
            sent_at: Some(sent_at),
        },
    }
}

/// An I/O error raised before the request was completely sent.
#[derive(Debug)]
struct NotSent(std::io::Error);

impl std::fmt::Display for NotSent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, before the request was completely sent", self.0)
    }
}

impl std::error::Error for NotSent {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error as IoError, ErrorKind};

    /// How `e` is judged after ureq took the whole body (`incomplete` false)
    /// or not.
    fn judged_after(e: ureq::Error, incomplete: bool) -> (Outcome, bool, bool) {
        let SendError { error, retryable } = classify(e, incomplete, SystemTime::UNIX_EPOCH);
        match error {
            Error::Transport {
                outcome, timed_out, ..
            } => (outcome, retryable, timed_out),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn credentials_are_redacted_from_excerpts() {
        let answer = |body: &str| Answer {
            status: 400,
            retry_after: None,
            correlation_id: None,
            date: None,
            sent_at: SystemTime::UNIX_EPOCH,
            body: body.as_bytes().to_vec(),
            unread: None,
            limits: Limits::default(),
        };
        for (body, secrets, shown) in [
            (
                "Authorization: Basic dGVzdDpzM2NyZXQ=",
                &[][..],
                "Authorization: Basic [redacted]",
            ),
            (
                r#"{"h":"bearer tok-AAAA1111"}"#,
                &[],
                r#"{"h":"bearer [redacted]"}"#,
            ),
            ("BEARER\tabcDEF", &[], "BEARER\t[redacted]"),
            (
                "token tok-AAAA1111 here",
                &["Bearer tok-AAAA1111", "tok-AAAA1111"],
                "token [redacted] here",
            ),
            (
                "basic information is missing",
                &[],
                "basic information is missing",
            ),
            ("bearer-token required", &[], "bearer-token required"),
            ("Basic Authentication", &[], "Basic [redacted]"),
        ] {
            assert_eq!(answer(body).body_excerpt(200, secrets), shown, "{body}");
        }
        // Redacted before the cut: no prefix of the credential survives.
        let long = format!("{} Basic dGVzdDpzM2NyZXQ=", "x".repeat(190));
        let cut = answer(&long).body_excerpt(200, &[]);
        assert!(!cut.contains("dGVz"), "{cut}");
    }

    fn judged(e: ureq::Error) -> (Outcome, bool, bool) {
        judged_after(e, false)
    }

    #[test]
    fn logs_show_the_origin_only() {
        assert_eq!(
            origin("https://hooks.slack.com/services/T0/B0/SECRET?x=1"),
            "https://hooks.slack.com:443"
        );
        assert_eq!(
            origin("http://127.0.0.1:8080/hook/"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(origin("http://[::1]/h"), "http://[::1]:80");
    }

    #[test]
    fn the_reader_counts_what_was_taken() {
        let mut counted = Counted {
            body: b"0123456789",
            taken: 0,
        };
        let mut buf = [0; 4];
        assert_eq!(counted.read(&mut buf).unwrap(), 4);
        assert_eq!(&buf, b"0123");
        assert_eq!(counted.read(&mut [0; 100]).unwrap(), 6);
        assert_eq!(counted.read(&mut buf).unwrap(), 0);
        assert_eq!(counted.taken, 10);
    }

    #[test]
    fn what_each_failure_says_about_the_request() {
        use ureq::Timeout as T;
        let not_sent = (Outcome::NotDelivered, true, false);
        assert_eq!(judged(ureq::Error::ConnectionFailed), not_sent);
        assert_eq!(judged(ureq::Error::HostNotFound), not_sent);
        // Any I/O error before ureq took the whole body: the request is
        // incomplete.
        for kind in [
            ErrorKind::ConnectionRefused,
            ErrorKind::ConnectionReset,
            ErrorKind::BrokenPipe,
            ErrorKind::UnexpectedEof,
        ] {
            let before = judged_after(ureq::Error::Io(IoError::from(kind)), true);
            assert_eq!(before, not_sent, "{kind:?}");
            // The same error after: maybe delivered.
            assert_eq!(
                judged(ureq::Error::Io(IoError::from(kind))),
                (Outcome::Unknown, false, false),
                "{kind:?}"
            );
        }
        assert_eq!(
            judged(ureq::Error::Timeout(T::Connect)),
            (Outcome::NotDelivered, true, true)
        );
        assert_eq!(
            judged(ureq::Error::Timeout(T::SendBody)),
            (Outcome::NotDelivered, false, true)
        );
        assert_eq!(
            judged(ureq::Error::Timeout(T::RecvResponse)),
            (Outcome::Unknown, false, true)
        );
        assert_eq!(
            judged(ureq::Error::Timeout(T::RecvBody)),
            (Outcome::Unknown, false, true)
        );
    }
}
