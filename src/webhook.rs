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

/// Webhook delivery counts since the injector was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookStats {
    /// Events the endpoint accepted (2xx).
    pub delivered: u64,
    /// Events given up on: every attempt failed, a 4xx other than 429, or
    /// still queued when shutdown's deadline passed.
    pub failed: u64,
    /// Events dropped because the queue was full.
    pub dropped: u64,
    /// Events queued or being posted now.
    pub pending: u64,
}

const ATTEMPTS: u32 = 3;
const BACKOFF: Duration = Duration::from_millis(100);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

struct State {
    queue: VecDeque<Vec<u8>>,
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

/// The URL without its query (which may hold a key), for logs.
fn endpoint_for_logs(url: &str) -> String {
    url.split('?').next().unwrap_or_default().to_owned()
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
            dropped: AtomicU64::new(0),
        });
        let endpoint = endpoint_for_logs(&url);
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
        let mut state = lock(&self.shared.state);
        if state.queue.len() >= self.shared.capacity {
            drop(state);
            let dropped = self.shared.dropped.fetch_add(1, Relaxed) + 1;
            log::warn!(target: "genesys_inject::webhook", "webhook queue full ({} events): event dropped ({dropped} so far); the audit record is in the log", self.shared.capacity);
            return;
        }
        state.queue.push_back(body);
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
            let body = loop {
                if let Some(body) = state.queue.pop_front() {
                    break body;
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
            let counter = if self.deliver(&body) {
                &self.shared.delivered
            } else {
                &self.shared.failed
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

    /// Posts one event, with up to [`ATTEMPTS`] tries. True when delivered.
    fn deliver(&self, body: &[u8]) -> bool {
        for attempt in 1..=ATTEMPTS {
            let wait = match self
                .http
                .post(&self.url, None, "application/json", body, None)
            {
                Ok(answer) if answer.is_success() => {
                    log::debug!(target: "genesys_inject::webhook", "event delivered to {} (HTTP {}, attempt {attempt})", self.endpoint, answer.status);
                    return true;
                }
                Ok(answer) if answer.status == 429 || answer.status >= 500 => {
                    log::warn!(target: "genesys_inject::webhook", "webhook {} answered HTTP {} (attempt {attempt}/{ATTEMPTS}): {}", self.endpoint, answer.status, answer.body_excerpt(200));
                    answer
                        .retry_after()
                        .map_or(doubled(BACKOFF, attempt), |d| d.min(MAX_RETRY_AFTER))
                }
                Ok(answer) => {
                    log::error!(target: "genesys_inject::webhook", "webhook {} refused the event with HTTP {} (not retried): {}", self.endpoint, answer.status, answer.body_excerpt(200));
                    return false;
                }
                Err(e) => {
                    log::warn!(target: "genesys_inject::webhook", "webhook {} failed (attempt {attempt}/{ATTEMPTS}): {}", self.endpoint, e.error);
                    doubled(BACKOFF, attempt)
                }
            };
            if attempt == ATTEMPTS || self.shutting_down() {
                break;
            }
            self.clock.sleep(wait);
        }
        log::error!(target: "genesys_inject::webhook", "giving up on a webhook event for {}", self.endpoint);
        false
    }
}
