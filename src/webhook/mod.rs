//! The webhook: the handle an injector holds (start, enqueue, flush,
//! stats, drain at drop) and, in `worker`, the one thread per injector that
//! posts audit events in order, so that a slow or dead endpoint never slows
//! an injection.
//!
//! Modelled on sentry-rust's transport thread: `flush` with a deadline, and
//! a `Drop` that drains with a deadline before joining the thread. Events
//! wait in one of two places:
//! - **memory** (no state directory): a bounded queue that drops (and
//!   counts) rather than blocks; each event gets 3 attempts;
//! - **the outbox** of a state directory (`state::Outbox`): each event is on
//!   disk before `inject` returns and stays there until the endpoint accepts
//!   it (2xx) or refuses it (a 4xx other than 408 and 429), however many
//!   attempts and processes that takes; only injectors of the client and
//!   webhook URL that wrote it post it. Dropping the injector stops waiting as soon
//!   as the endpoint fails: the rest is safe on disk for a later run.

mod worker;

use worker::Worker;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::audit::new_event_id;
use crate::clock::{later, Clock};
use crate::http::{origin, Http};
use crate::state::Outbox;
use crate::sync::lock;

/// Webhook delivery counts since the injector was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookStats {
    /// Events the endpoint accepted (2xx).
    pub delivered: u64,
    /// Events given up on that certainly did not reach the endpoint: in
    /// memory, every attempt failed before it was sent or was answered with
    /// an error, or the event was still queued when shutdown's deadline
    /// passed; in memory and on disk, the endpoint refused it with a 4xx
    /// other than 429.
    pub failed: u64,
    /// Events given up on (in memory) after an attempt that may have reached
    /// the endpoint (the event was sent but no answer came back in time):
    /// the receiver may hold them, once or more; their `Idempotency-Key`
    /// tells the copies apart. Counted neither delivered nor failed.
    pub unconfirmed: u64,
    /// Events dropped: the memory queue was full (without a state
    /// directory), or the outbox passed its bound (the oldest go first).
    pub dropped: u64,
    /// Events waiting: queued in memory or being posted, plus, with a state
    /// directory, those on disk.
    pub pending: u64,
    /// Events waiting in the state directory's outbox at the worker's last
    /// look, this process's and earlier runs' of the same client and
    /// webhook URL (0 without a state directory).
    pub on_disk: u64,
    /// Events in the state directory's outbox written for another client
    /// or another webhook URL, at the worker's last look: left alone, never
    /// posted by this injector (0 without a state directory).
    pub others: u64,
}

/// One audit event: its stable id (the `Idempotency-Key` of every attempt)
/// and its body.
struct Event {
    id: String,
    body: Vec<u8>,
}

struct State {
    queue: VecDeque<Event>,
    /// Events accepted into the memory queue so far.
    accepted: u64,
    /// Of those, delivered or given up on so far (they leave in order).
    handled: u64,
    /// With a state directory: what the worker knows of the outbox.
    disk: Disk,
    shutdown: bool,
    /// The worker is blocked on `wake`: only then is a notification needed
    /// (a notification is a syscall, one per `inject` otherwise).
    worker_waiting: bool,
    /// Threads blocked in `flush`: only then does the worker notify `progress`.
    flushers: usize,
}

#[derive(Default)]
struct Disk {
    /// Events this process wrote to the outbox so far.
    written: u64,
    /// The name of the last one.
    last_written: Option<String>,
    /// An event was written, or a drain asked, since the last listing.
    dirty: bool,
    /// `written` when the last listing began: every event written before
    /// then was in it.
    listed_through: u64,
    /// Listings so far.
    listings: u64,
    /// The oldest event of the last listing not yet delivered or removed;
    /// `None` once all of that listing is done.
    oldest: Option<String>,
    /// Events waiting on disk at the last look.
    on_disk: u64,
    /// Other owners' events at the last look.
    others: u64,
    /// Attempts on disk events that failed (5xx, 429, network) so far.
    failures: u64,
    /// Consecutive failures, for the backoff; the next attempt's time.
    streak: u32,
    retry_at: Option<Instant>,
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
    outbox: Option<Arc<Outbox>>,
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

impl Webhook {
    /// Starts the worker. With an outbox, it first resumes whatever earlier
    /// runs left there, in the background.
    pub fn start(
        url: String,
        http: Http,
        capacity: usize,
        shutdown_timeout: Duration,
        clock: Arc<dyn Clock>,
        outbox: Option<Outbox>,
    ) -> std::io::Result<Self> {
        let outbox = outbox.map(Arc::new);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                accepted: 0,
                handled: 0,
                disk: Disk {
                    dirty: outbox.is_some(),
                    ..Disk::default()
                },
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
            outbox: outbox.clone(),
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
            outbox,
            thread: Some(thread),
            shutdown_timeout,
        })
    }

    /// Hands one event to the worker without waiting for the endpoint: with
    /// an outbox, writes it to disk first; otherwise queues it in memory,
    /// dropping it when the queue is full.
    pub fn enqueue(&self, body: Vec<u8>) {
        let event = Event {
            id: new_event_id(),
            body,
        };
        if let Some(outbox) = &self.outbox {
            match outbox.push(&event.id, &event.body) {
                Ok(name) => {
                    let mut state = lock(&self.shared.state);
                    state.disk.written += 1;
                    state.disk.last_written = Some(name);
                    state.disk.dirty = true;
                    self.wake(state);
                    return;
                }
                Err(e) => {
                    log::error!(target: "genesys_inject::webhook", "cannot write audit event {} to the outbox: {e}; it waits in memory instead", event.id);
                }
            }
        }
        let mut state = lock(&self.shared.state);
        if state.queue.len() >= self.shared.capacity {
            drop(state);
            let dropped = self.shared.dropped.fetch_add(1, Relaxed) + 1;
            log::warn!(target: "genesys_inject::webhook", "webhook queue full ({} events): audit event {} dropped ({dropped} so far); its record is in the log", self.shared.capacity, event.id);
            return;
        }
        state.queue.push_back(event);
        state.accepted += 1;
        self.wake(state);
    }

    fn wake(&self, state: MutexGuard<'_, State>) {
        let waiting = state.worker_waiting;
        drop(state);
        if waiting {
            self.shared.wake.notify_one();
        }
    }

    /// Waits until every event handed over before this call has been
    /// delivered or given up on, and, with an outbox, until every event on
    /// disk when it was called (earlier runs' included) has left it. With an
    /// outbox, returns false as soon as the endpoint fails: the events are
    /// safe on disk.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = later(Instant::now(), timeout);
        // The newest event on disk now: looked up here, not by the worker,
        // which may be busy posting.
        let newest = self
            .outbox
            .as_ref()
            .and_then(|outbox| outbox.list().ok())
            .and_then(|entries| entries.last().map(|e| e.name.clone()));
        let mut state = lock(&self.shared.state);
        let memory_target = state.accepted;
        let disk_target = newest.max(state.disk.last_written.clone());
        let (listings, failures) = (state.disk.listings, state.disk.failures);
        let backing_off = state.disk.retry_at.is_some_and(|at| at > Instant::now());
        if backing_off && state.accepted == state.handled {
            // The endpoint is failing (the worker is backing off): what
            // waits is on disk, and waiting longer helps no one.
            return false;
        }
        if disk_target.is_some() {
            state.disk.dirty = true;
            self.shared.wake.notify_one();
        }
        state.flushers += 1;
        let done = |s: &State| {
            let disk_done = match &disk_target {
                None => true,
                // Listed since this call, and every event up to the target
                // done.
                Some(target) => {
                    s.disk.listings > listings && s.disk.oldest.as_ref().is_none_or(|o| o > target)
                }
            };
            s.handled >= memory_target && disk_done
        };
        let result = loop {
            if done(&state) {
                break true;
            }
            if state.disk.failures > failures {
                break false;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break false;
            }
            state = self
                .shared
                .progress
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        };
        state.flushers -= 1;
        result
    }

    pub fn stats(&self) -> WebhookStats {
        let state = lock(&self.shared.state);
        let disk = &state.disk;
        let unlisted = disk.written - disk.listed_through.min(disk.written);
        WebhookStats {
            delivered: self.shared.delivered.load(Relaxed),
            failed: self.shared.failed.load(Relaxed),
            unconfirmed: self.shared.unconfirmed.load(Relaxed),
            dropped: self.shared.dropped.load(Relaxed),
            pending: state.accepted - state.handled + disk.on_disk + unlisted,
            on_disk: disk.on_disk,
            others: disk.others,
        }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        // With an outbox, everything on disk, earlier runs' events included.
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
        // Counted once the worker has finished what it was posting.
        if let Some(outbox) = self.outbox.as_ref().filter(|_| !drained) {
            let waiting = outbox.list().map_or(0, |entries| entries.len());
            if waiting > 0 {
                log::warn!(target: "genesys_inject::webhook", "shutdown: {waiting} audit events wait in the outbox {}; the next injector of this client and webhook URL on this state directory posts them", outbox.path().display());
            }
        }
    }
}
