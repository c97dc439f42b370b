//! The webhook worker: one thread per injector that posts audit events in
//! order, so that a slow or dead endpoint never slows an injection.
//!
//! Modelled on sentry-rust's transport thread: a bounded queue that drops
//! (and counts) rather than blocks, `flush` with a deadline, and a `Drop`
//! that drains with a deadline before joining the thread.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::clock::{later, Clock};
use crate::retry::doubled;
use crate::transport::{lock, Http};
use crate::{Error, Outcome};

/// Webhook delivery counts since the injector was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookStats {
    /// Events the endpoint accepted (2xx).
    pub delivered: u64,
    /// Events given up on that certainly did not reach the endpoint (every
    /// attempt was refused or failed before it was sent, the endpoint
    /// answered an error, or a 4xx other than 429), or that were still queued
    /// when shutdown's deadline passed.
    pub failed: u64,
    /// Events given up on after an attempt that may have reached the
    /// endpoint (the event was sent but no answer came back in time): the
    /// receiver may hold them, once or more; their `Idempotency-Key` tells
    /// the copies apart. Counted neither delivered nor failed.
    pub unconfirmed: u64,
    /// Events dropped because the queue was full.
    pub dropped: u64,
    /// Events queued or being posted now.
    pub pending: u64,
}

const ATTEMPTS: u32 = 3;
const BACKOFF: Duration = Duration::from_millis(100);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

/// One audit event: its stable id (the `Idempotency-Key` of every attempt)
/// and its body.
struct Event {
    id: String,
    body: Vec<u8>,
}

/// A new random event id in the UUID version 4 form.
fn new_event_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::getrandom(&mut b).is_err() {
        // No OS randomness (never seen on a supported OS): time and a
        // counter still tell this process's events apart.
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        b[..8].copy_from_slice(&nanos.to_le_bytes());
        b[8..].copy_from_slice(&COUNTER.fetch_add(1, Relaxed).to_le_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

struct State {
    queue: VecDeque<Event>,
    /// Events accepted into the queue so far.
    accepted: u64,
    /// Events delivered or given up on so far (they leave in order).
    handled: u64,
    shutdown: bool,
    /// The worker is blocked on `wake`: only then is a notification needed
    /// (a notification is a syscall, one per `inject` otherwise).
    worker_waiting: bool,
    /// Threads blocked in `flush`: only then does the worker notify `progress`.
    flushers: usize,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the worker: an event or shutdown.
    wake: Condvar,
    /// Wakes flushers: an event was handled.
    progress: Condvar,
    capacity: usize,
    delivered: AtomicU64,
    failed: AtomicU64,
    unconfirmed: AtomicU64,
    dropped: AtomicU64,
}

pub(crate) struct Webhook {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    shutdown_timeout: Duration,
    endpoint: String,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("endpoint", &self.endpoint)
            .field("stats", &self.stats())
            .finish()
    }
}

/// The URL's scheme, host and port, for logs: its path and query may hold a
/// secret (Slack-style webhooks keep theirs in the path).
fn origin(url: &str) -> String {
    let Ok(uri) = url.parse::<ureq::http::Uri>() else {
        return "[webhook]".into();
    };
    let scheme = uri.scheme_str().unwrap_or("https");
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "http" { 80 } else { 443 });
    format!("{scheme}://{}:{port}", uri.host().unwrap_or_default())
}

impl Webhook {
    pub fn start(
        url: String,
        http: Http,
        capacity: usize,
        shutdown_timeout: Duration,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                accepted: 0,
                handled: 0,
                shutdown: false,
                worker_waiting: false,
                flushers: 0,
            }),
            wake: Condvar::new(),
            progress: Condvar::new(),
            capacity,
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            unconfirmed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        let endpoint = origin(&url);
        let worker = Worker {
            shared: shared.clone(),
            endpoint: endpoint.clone(),
            url,
            http,
            clock,
        };
        let thread = std::thread::Builder::new()
            .name("genesys-inject-webhook".into())
            .spawn(move || worker.run())?;
        Ok(Webhook {
            endpoint,
            shared,
            thread: Some(thread),
            shutdown_timeout,
        })
    }

    /// Queues one event without blocking; drops it when the queue is full.
    pub fn enqueue(&self, body: Vec<u8>) {
        let event = Event {
            id: new_event_id(),
            body,
        };
        let mut state = lock(&self.shared.state);
        if state.queue.len() >= self.shared.capacity {
            drop(state);
            let dropped = self.shared.dropped.fetch_add(1, Relaxed) + 1;
            log::warn!(target: "genesys_inject::webhook", "webhook queue full ({} events): event dropped ({dropped} so far); the audit record is in the log", self.shared.capacity);
            return;
        }
        state.queue.push_back(event);
        state.accepted += 1;
        let wake = state.worker_waiting;
        drop(state);
        if wake {
            self.shared.wake.notify_one();
        }
    }

    /// Waits until every event queued before this call was handled.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = later(Instant::now(), timeout);
        let mut state = lock(&self.shared.state);
        let target = state.accepted;
        state.flushers += 1;
        while state.handled < target {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self
                .shared
                .progress
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        state.flushers -= 1;
        state.handled >= target
    }

    pub fn stats(&self) -> WebhookStats {
        let state = lock(&self.shared.state);
        WebhookStats {
            delivered: self.shared.delivered.load(Relaxed),
            failed: self.shared.failed.load(Relaxed),
            unconfirmed: self.shared.unconfirmed.load(Relaxed),
            dropped: self.shared.dropped.load(Relaxed),
            pending: state.accepted - state.handled,
        }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let drained = self.flush(self.shutdown_timeout);
        {
            let mut state = lock(&self.shared.state);
            state.shutdown = true;
            let abandoned = state.queue.len() as u64;
            if !drained && abandoned > 0 {
                state.queue.clear();
                state.handled += abandoned;
                self.shared.failed.fetch_add(abandoned, Relaxed);
                log::error!(target: "genesys_inject::webhook", "shutdown: {abandoned} webhook events not delivered within {:?}; their audit records are in the log", self.shutdown_timeout);
            }
        }
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Worker {
    shared: Arc<Shared>,
    url: String,
    endpoint: String,
    http: Http,
    clock: Arc<dyn Clock>,
}

impl Worker {
    fn run(self) {
        let mut state = lock(&self.shared.state);
        loop {
            let event = loop {
                if let Some(event) = state.queue.pop_front() {
                    break event;
                }
                if state.shutdown {
                    return;
                }
                state.worker_waiting = true;
                state = self
                    .shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(|e| e.into_inner());
                state.worker_waiting = false;
            };
            drop(state);
            let counter = match self.deliver(&event) {
                Delivery::Delivered => &self.shared.delivered,
                Delivery::Failed => &self.shared.failed,
                Delivery::Unconfirmed => &self.shared.unconfirmed,
            };
            counter.fetch_add(1, Relaxed);
            state = lock(&self.shared.state);
            state.handled += 1;
            if state.flushers > 0 {
                self.shared.progress.notify_all();
            }
        }
    }

    fn shutting_down(&self) -> bool {
        lock(&self.shared.state).shutdown
    }

    /// Posts one event, with up to [`ATTEMPTS`] tries, each carrying the
    /// event's id as its `Idempotency-Key`.
    fn deliver(&self, event: &Event) -> Delivery {
        let (endpoint, id) = (&self.endpoint, &event.id);
        let mut maybe_received = false;
        for attempt in 1..=ATTEMPTS {
            let wait = match self.http.post(
                &self.url,
                None,
                Some(id),
                "application/json",
                &event.body,
                None,
            ) {
                Ok(answer) if answer.is_success() => {
                    log::debug!(target: "genesys_inject::webhook", "webhook {endpoint} accepted audit event {id} (HTTP {}, attempt {attempt})", answer.status);
                    return Delivery::Delivered;
                }
                Ok(answer) if answer.status == 429 || answer.status >= 500 => {
                    log::warn!(target: "genesys_inject::webhook", "webhook {endpoint} answered HTTP {} to audit event {id} (attempt {attempt}/{ATTEMPTS}): {}", answer.status, self.excerpt(&answer));
                    answer
                        .retry_after()
                        .map_or(doubled(BACKOFF, attempt), |d| d.min(MAX_RETRY_AFTER))
                }
                Ok(answer) => {
                    log::error!(target: "genesys_inject::webhook", "webhook {endpoint} refused audit event {id} with HTTP {} (not retried): {}", answer.status, self.excerpt(&answer));
                    return Delivery::Failed;
                }
                Err(e) => {
                    let (outcome, cause) = match &e.error {
                        Error::Transport {
                            outcome, source, ..
                        } => (*outcome, source.to_string()),
                        other => (other.outcome(), other.kind().to_owned()),
                    };
                    // The cause never shows more of the URL than the origin.
                    let cause = cause.replace(&self.url, endpoint);
                    if outcome == Outcome::Unknown {
                        maybe_received = true;
                        log::warn!(target: "genesys_inject::webhook", "webhook {endpoint}: no answer to audit event {id} (attempt {attempt}/{ATTEMPTS}): {cause}; the endpoint may have received it, and a retry carries the same Idempotency-Key");
                    } else {
                        log::warn!(target: "genesys_inject::webhook", "webhook {endpoint}: audit event {id} not delivered (attempt {attempt}/{ATTEMPTS}): {cause}");
                    }
                    doubled(BACKOFF, attempt)
                }
            };
            if attempt == ATTEMPTS || self.shutting_down() {
                break;
            }
            self.clock.sleep(wait);
        }
        if maybe_received {
            log::error!(target: "genesys_inject::webhook", "webhook {endpoint}: gave up on audit event {id}, unconfirmed: the endpoint may have received it but never answered; its audit record is in the log");
            Delivery::Unconfirmed
        } else {
            log::error!(target: "genesys_inject::webhook", "webhook {endpoint}: gave up on audit event {id}, not delivered; its audit record is in the log");
            Delivery::Failed
        }
    }

    /// The answer's body for a log line, with the URL's path (which may hold
    /// the webhook's secret) redacted like any credential.
    fn excerpt(&self, answer: &crate::transport::Answer) -> String {
        let path = self
            .url
            .split_once("://")
            .map_or("", |(_, rest)| rest.find('/').map_or("", |i| &rest[i..]));
        answer.body_excerpt(200, &[&self.url, path])
    }
}

/// What became of one event.
enum Delivery {
    Delivered,
    Failed,
    Unconfirmed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_random_uuids() {
        let a = new_event_id();
        let b = new_event_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4", "{a}");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
        assert!(crate::validate::is_guid(&a), "{a}");
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
}
