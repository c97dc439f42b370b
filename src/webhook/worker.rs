//! The worker thread: posts what waits in memory (3 attempts each) and in
//! the outbox (until the endpoint takes or refuses it), in order. Never
//! called by an injection; it only reads what the handle shares.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Event, Shared, State};
use crate::clock::{later, Clock};
use crate::http::{Answer, Http};
use crate::retry::doubled;
use crate::state::{Entry, Outbox};
use crate::sync::lock;
use crate::{Error, Outcome};

/// Attempts per event held in memory.
const ATTEMPTS: u32 = 3;
const BACKOFF: Duration = Duration::from_millis(100);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);
/// The longest pause between attempts on an event that waits on disk.
const MAX_DISK_BACKOFF: Duration = Duration::from_secs(60);
/// How often the worker looks again while another process posts.
const BUSY_POLL: Duration = Duration::from_millis(100);
/// How long the worker, woken for an event, lets more arrive before it
/// takes them: a burst of injections then costs one wake, not one each.
/// Not when a flush or the shutdown waits for it.
const LINGER: Duration = Duration::from_millis(2);

pub(super) struct Worker {
    pub shared: Arc<Shared>,
    pub outbox: Option<Arc<Outbox>>,
    pub url: String,
    pub endpoint: String,
    pub http: Http,
    pub clock: Arc<dyn Clock>,
}

/// What became of one attempt.
enum Attempt {
    Delivered,
    /// A 4xx other than 429: not retried.
    Refused,
    /// Worth another try after `wait`; `maybe_received` when the event was
    /// sent and no answer came back.
    Retry {
        wait: Duration,
        maybe_received: bool,
    },
}

/// What became of one event held in memory.
enum Delivery {
    Delivered,
    Failed,
    Unconfirmed,
}

/// How a pass over the outbox ended.
enum Pass {
    /// Nothing left: sleep until woken.
    Empty,
    /// All of one listing done: look again.
    Again,
    /// Another process is posting: look again shortly.
    Busy,
    /// The endpoint failed: the backoff is set.
    Failing,
    Shutdown,
}

impl Worker {
    pub fn run(self) {
        let mut state = lock(&self.shared.state);
        loop {
            if let Some(event) = state.queue.pop_front() {
                drop(state);
                let counter = match self.deliver(&event) {
                    Delivery::Delivered => &self.shared.delivered,
                    Delivery::Failed => &self.shared.failed,
                    Delivery::Unconfirmed => &self.shared.unconfirmed,
                };
                counter.fetch_add(1, Relaxed);
                state = lock(&self.shared.state);
                state.handled += 1;
                self.progress(&state);
                continue;
            }
            if state.shutdown {
                return;
            }
            let now = Instant::now();
            if state.disk.retry_at.is_some_and(|at| at <= now) {
                // The backoff is over: try the outbox again.
                state.disk.retry_at = None;
                state.disk.dirty = true;
            }
            let backing_off = state.disk.retry_at.is_some();
            let timeout = if self.outbox.is_some() && state.disk.dirty && !backing_off {
                drop(state);
                let pass = self.pass();
                state = lock(&self.shared.state);
                match pass {
                    Pass::Empty | Pass::Failing | Pass::Shutdown => continue,
                    Pass::Again => {
                        state.disk.dirty = true;
                        continue;
                    }
                    Pass::Busy => {
                        state.disk.dirty = true;
                        Some(BUSY_POLL)
                    }
                }
            } else {
                state
                    .disk
                    .retry_at
                    .map(|at| at.saturating_duration_since(now))
            };
            state.worker_waiting = true;
            state = match timeout {
                None => self
                    .shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(t) => {
                    self.shared
                        .wake
                        .wait_timeout(state, t)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
            state.worker_waiting = false;
            let woken_for_work = !state.queue.is_empty() || state.disk.dirty;
            if timeout.is_none() && woken_for_work && !state.shutdown && state.flushers == 0 {
                drop(state);
                std::thread::sleep(LINGER);
                state = lock(&self.shared.state);
            }
        }
    }

    fn progress(&self, state: &State) {
        if state.flushers > 0 {
            self.shared.progress.notify_all();
        }
    }

    /// Lists the outbox and, holding its lock, posts what is there in order
    /// until an attempt fails.
    fn pass(&self) -> Pass {
        let outbox = self.outbox.as_ref().expect("a pass needs an outbox");
        let written = {
            let mut state = lock(&self.shared.state);
            state.disk.dirty = false;
            state.disk.written
        };
        let listing = outbox.list();
        let mut entries = match listing {
            Ok(entries) => entries,
            Err(e) => {
                log::warn!(target: "genesys_inject::webhook", "cannot list the outbox: {e}");
                return self.failed(Duration::from_secs(1));
            }
        };
        self.listed(written, &entries, 0);
        let others = outbox.others();
        let first_look = {
            let mut state = lock(&self.shared.state);
            let first = state.disk.listings == 1;
            state.disk.others = others;
            first
        };
        if first_look && others > 0 {
            log::warn!(target: "genesys_inject::webhook", "{others} audit events in the outbox were written for another client or webhook URL: left alone (see WebhookStats::others)");
        }
        if entries.is_empty() {
            return Pass::Empty;
        }
        let _held = match outbox.try_lock() {
            Ok(Some(held)) => held,
            Ok(None) => return Pass::Busy,
            Err(e) => {
                log::warn!(target: "genesys_inject::webhook", "cannot lock the outbox: {e}");
                return self.failed(Duration::from_secs(1));
            }
        };
        let excess = outbox.excess(&entries);
        if excess > 0 {
            for entry in entries.drain(..excess) {
                outbox.remove(&entry);
            }
            self.shared.dropped.fetch_add(excess as u64, Relaxed);
            log::warn!(target: "genesys_inject::webhook", "outbox over its bound ({} events, {} bytes): the {excess} oldest audit events dropped", outbox.max_events, outbox.max_bytes);
            self.listed(written, &entries, 0);
        }
        for (i, entry) in entries.iter().enumerate() {
            if lock(&self.shared.state).shutdown {
                return Pass::Shutdown;
            }
            let Some(body) = outbox.read(entry) else {
                self.listed(written, &entries, i + 1);
                continue; // posted by another process meanwhile
            };
            match self.attempt(&entry.id, &body, None) {
                Attempt::Delivered => {
                    outbox.remove(entry);
                    self.shared.delivered.fetch_add(1, Relaxed);
                }
                Attempt::Refused => {
                    outbox.remove(entry);
                    self.shared.failed.fetch_add(1, Relaxed);
                }
                Attempt::Retry { wait, .. } => return self.failed(wait),
            }
            let mut state = lock(&self.shared.state);
            state.disk.streak = 0;
            drop(state);
            self.listed(written, &entries, i + 1);
        }
        Pass::Again
    }

    /// Records what the outbox holds: `entries` from `done` on are waiting.
    fn listed(&self, written: u64, entries: &[Entry], done: usize) {
        let mut state = lock(&self.shared.state);
        let disk = &mut state.disk;
        if done == 0 {
            disk.listings += 1;
            disk.listed_through = written;
        }
        disk.oldest = entries.get(done).map(|e| e.name.clone());
        disk.on_disk = (entries.len() - done.min(entries.len())) as u64;
        self.progress(&state);
    }

    /// Counts a failed attempt on the outbox and sets the backoff.
    fn failed(&self, wait: Duration) -> Pass {
        let mut state = lock(&self.shared.state);
        let disk = &mut state.disk;
        disk.failures += 1;
        disk.streak += 1;
        let backoff = wait
            .max(doubled(BACKOFF, disk.streak))
            .min(MAX_DISK_BACKOFF);
        disk.retry_at = Some(later(Instant::now(), backoff));
        disk.dirty = true;
        self.progress(&state);
        Pass::Failing
    }

    /// Posts one event held in memory, with up to [`ATTEMPTS`] tries.
    fn deliver(&self, event: &Event) -> Delivery {
        let (endpoint, id) = (&self.endpoint, &event.id);
        let mut maybe_received = false;
        for attempt in 1..=ATTEMPTS {
            let wait = match self.attempt(id, &event.body, Some(attempt)) {
                Attempt::Delivered => return Delivery::Delivered,
                Attempt::Refused => return Delivery::Failed,
                Attempt::Retry {
                    wait,
                    maybe_received: sent,
                } => {
                    maybe_received |= sent;
                    wait
                }
            };
            if attempt == ATTEMPTS || lock(&self.shared.state).shutdown {
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

    /// One POST of one event, with its id as the `Idempotency-Key`, logged
    /// in the words of the audit event. `attempt` numbers it when there is a
    /// fixed number of tries.
    fn attempt(&self, id: &str, body: &[u8], attempt: Option<u32>) -> Attempt {
        let endpoint = &self.endpoint;
        let nth = attempt.map_or(String::new(), |a| format!(" (attempt {a}/{ATTEMPTS})"));
        let n = attempt.unwrap_or(1);
        match self
            .http
            .post(&self.url, None, Some(id), "application/json", body, None)
        {
            Ok(answer) if answer.is_success() => {
                log::debug!(target: "genesys_inject::webhook", "webhook {endpoint} accepted audit event {id} (HTTP {}){nth}", answer.status);
                Attempt::Delivered
            }
            // Only a 4xx other than 408 and 429 refuses; a 3xx is kept (a
            // redirect is never followed: the event goes nowhere but the
            // configured URL), as a 5xx is.
            Ok(answer)
                if !matches!(answer.status, 400..=499) || matches!(answer.status, 408 | 429) =>
            {
                log::warn!(target: "genesys_inject::webhook", "webhook {endpoint} answered HTTP {} to audit event {id}{nth}: {}", answer.status, self.excerpt(&answer));
                let cap = if attempt.is_some() {
                    MAX_RETRY_AFTER
                } else {
                    MAX_DISK_BACKOFF
                };
                Attempt::Retry {
                    wait: answer
                        .retry_after()
                        .map_or(doubled(BACKOFF, n), |d| d.min(cap)),
                    maybe_received: false,
                }
            }
            Ok(answer) => {
                log::error!(target: "genesys_inject::webhook", "webhook {endpoint} refused audit event {id} with HTTP {} (not retried): {}", answer.status, self.excerpt(&answer));
                Attempt::Refused
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
                let maybe_received = outcome == Outcome::Unknown;
                if maybe_received {
                    log::warn!(target: "genesys_inject::webhook", "webhook {endpoint}: no answer to audit event {id}{nth}: {cause}; the endpoint may have received it, and a retry carries the same Idempotency-Key");
                } else {
                    log::warn!(target: "genesys_inject::webhook", "webhook {endpoint}: audit event {id} not delivered{nth}: {cause}");
                }
                Attempt::Retry {
                    wait: doubled(BACKOFF, n),
                    maybe_received,
                }
            }
        }
    }

    /// The answer's body for a log line, with the URL's path (which may hold
    /// the webhook's secret) redacted like any credential.
    fn excerpt(&self, answer: &Answer) -> String {
        let path = self
            .url
            .split_once("://")
            .map_or("", |(_, rest)| rest.find('/').map_or("", |i| &rest[i..]));
        answer.body_excerpt(200, &[&self.url, path])
    }
}
