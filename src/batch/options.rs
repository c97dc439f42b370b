//! The batch's public types: a line, the options, what became of a line.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::rules::{Deferral, SendWindow, Suppression, Zone};
use super::FailureClass;
#[cfg(doc)]
use crate::Injector;
use crate::{Error, InjectRequest};

/// One line of a batch: its identity (stable across runs: the journal
/// knows a line by it) and its request.
#[derive(Debug, Clone)]
pub struct BatchLine {
    /// The line's identity: unique in its batch. The journal records the
    /// line's content beside it, and refuses the same id with other
    /// content ([`LineOutcome::Conflict`]). For a line known by its
    /// recipient ([`by_recipient`](Self::by_recipient)), the recipient's
    /// key; its report gives the whole identity (the key and its rank).
    pub id: String,
    /// What to send.
    pub request: InjectRequest,
    /// Known by its recipient: the recipient's key.
    pub(crate) recipient: Option<u128>,
    /// Its own send window, zone and expiry (the batch's otherwise).
    pub(crate) send_window: Option<SendWindow>,
    pub(crate) time_zone: Option<Zone>,
    pub(crate) valid_until: Option<SystemTime>,
}

impl BatchLine {
    /// A line known as `id`: an id of the caller's (a CRM's row id, say),
    /// unique in its batch.
    pub fn new(id: impl Into<String>, request: InjectRequest) -> BatchLine {
        BatchLine {
            id: id.into(),
            request,
            recipient: None,
            send_window: None,
            time_zone: None,
            valid_until: None,
        }
    }

    /// A line known by who receives it: the conversation (on the
    /// communication route, whoever it is sent as), or the messenger and
    /// the address or contact (agentless), and its rank among the batch's
    /// lines to that recipient. Its wording is not its identity: a line
    /// whose text changed between runs is that line with other content
    /// ([`LineOutcome::Conflict`], nothing sent for it), not a new line;
    /// the same lines in another order are the same lines (matched by
    /// content first).
    pub fn by_recipient(request: InjectRequest) -> BatchLine {
        let key = super::identity::recipient_key(&request);
        BatchLine {
            recipient: Some(key),
            ..BatchLine::new(format!("r:{key:032x}"), request)
        }
    }

    /// This line's send window, over the batch's
    /// ([`BatchOptions::send_window`]). Default: the batch's.
    pub fn send_window(mut self, window: SendWindow) -> BatchLine {
        self.send_window = Some(window);
        self
    }

    /// The zone its recipient lives in, over the batch's
    /// ([`BatchOptions::time_zone`]) and the one a NANP number's area code
    /// gives. Default: the batch's.
    pub fn time_zone(mut self, zone: Zone) -> BatchLine {
        self.time_zone = Some(zone);
        self
    }

    /// When it stops being true, over the batch's
    /// ([`BatchOptions::valid_until`]). Default: the batch's.
    pub fn valid_until(mut self, until: SystemTime) -> BatchLine {
        self.valid_until = Some(until);
        self
    }
}

/// How [`Injector::inject_batch`] treats what earlier runs left.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct BatchOptions {
    /// Send a line whose outcome is unknown again without looking for it
    /// first (it may then be there twice). Default: false.
    pub resend_unknown: bool,
    /// Send again a line an earlier run saw refused for good (400, 403,
    /// 404) or expired (if it is valid now). Default: false.
    pub retry_failed: bool,
    /// A bound on the whole run: no wait (a 429's pause, the pace, a
    /// line's delay, typing, lookups) goes past it, a line whose message
    /// would have to wait past it is not started, and no line starts after
    /// it; those are not reached (not in the result; a later run sends
    /// them). A message already on its way gets its answer. Default: none.
    pub deadline: Option<Duration>,
    /// Once this is set (by a signal handler, say), start no more lines,
    /// and cut every wait short within a tenth of a second (a 429's pause,
    /// the pace, retries, a line's delay, a look's wait): a line whose
    /// message has not left is not reached (a later run sends it with no
    /// flag); a message request already on its way gets its answer (at
    /// most the message timeout) and is recorded. Default: none.
    pub stop: Option<Arc<AtomicBool>>,
    /// How many lines are in flight at once, sharing the injector (its
    /// token, pace and rate-limit gate). `None`: as many as keep the
    /// budget busy at the round trip observed (the pace's budget a second
    /// times the round trip, a quarter more, 1 to 64), starting at
    /// [`DEFAULT_PARALLEL`], halved after each 429. `Some(1)` sends them one
    /// after another, in order. Default: `None`.
    pub parallel: Option<usize>,
    /// Kept up to date with the number of lines in flight (started, not
    /// yet finished), for a caller's progress or stop message. Default:
    /// none.
    pub in_flight: Option<Arc<AtomicUsize>>,
    /// A line goes only while its recipient's local time is inside this
    /// window (a line's own wins): else it is [`LineOutcome::Deferred`],
    /// nothing recorded, for a later run inside its window. Its zone: the
    /// line's, else [`time_zone`](Self::time_zone), else a NANP number's
    /// area code's (every zone of an area code that spans several: only the
    /// hours they share); with none, the line is deferred and says so. A
    /// line that would still be waiting (the pace, a 429) when its window
    /// closes is deferred then instead. Default: none (any time).
    pub send_window: Option<SendWindow>,
    /// The zone send windows are read in for a line without its own.
    /// Default: none (a NANP number's area code's).
    pub time_zone: Option<Zone>,
    /// Keep the run, when lines are deferred to a window that opens before
    /// the [`deadline`](Self::deadline), until it opens, then send them
    /// (a stop cuts the wait short). Default: false (they are deferred).
    pub wait_for_window: bool,
    /// A line past this time is [`LineOutcome::Expired`]: never sent, and
    /// recorded so that a later run does not send it either; one whose
    /// wait (the pace, a 429) would carry it past expires instead of
    /// waiting (a line's own wins). Default: none.
    pub valid_until: Option<SystemTime>,
    /// Recipients never sent to: a line to one is
    /// [`LineOutcome::Suppressed`], nothing recorded (a later run checks
    /// the list again). Default: none.
    pub suppression: Option<Arc<Suppression>>,
    /// A recipient who got a message from this client less than this long
    /// ago, in any batch on the injector's state directory, is
    /// [`LineOutcome::Deferred`]. The directory keeps a keyed hash of each
    /// recipient and the time, never the address; entries older than the
    /// largest gap in use are dropped. Needs a state directory. Default:
    /// none.
    pub min_gap: Option<Duration>,
    /// How long the journal remembers a line after its last record (a
    /// line sent, failed for good or expired is forgotten then, and a
    /// re-run would send it again; one attempting or unknown, never), and
    /// how long another batch's journal in the same state directory may
    /// stay untouched before a run removes it (unless a line in it is to
    /// settle). The journal is compacted when lines are forgotten or most
    /// of its records are superseded. Default: `None`,
    /// [`DEFAULT_KEEP_JOURNALS`](crate::DEFAULT_KEEP_JOURNALS) (30 days).
    pub keep_journals: Option<Duration>,
}

/// Where the number of lines in flight starts when
/// [`BatchOptions::parallel`] is `None`, until a round trip is observed.
pub const DEFAULT_PARALLEL: usize = 4;

/// The most lines in flight at once.
pub const MAX_PARALLEL: usize = 64;

impl BatchOptions {
    /// Every default.
    pub fn new() -> BatchOptions {
        BatchOptions::default()
    }

    /// See [`resend_unknown`](Self::resend_unknown). Default: false.
    pub fn resend_unknown(mut self, yes: bool) -> Self {
        self.resend_unknown = yes;
        self
    }

    /// See [`retry_failed`](Self::retry_failed). Default: false.
    pub fn retry_failed(mut self, yes: bool) -> Self {
        self.retry_failed = yes;
        self
    }

    /// See [`deadline`](Self::deadline). Default: none.
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = Some(d);
        self
    }

    /// See [`parallel`](Self::parallel): `lines` in flight, fixed (0
    /// counts as 1, more than [`MAX_PARALLEL`] as that). Default: `None`
    /// (adapting to the budget and the round trip).
    pub fn parallel(mut self, lines: usize) -> Self {
        self.parallel = Some(lines.clamp(1, MAX_PARALLEL));
        self
    }

    /// See [`in_flight`](Self::in_flight). Default: none.
    pub fn count_in_flight(mut self, counter: Arc<AtomicUsize>) -> Self {
        self.in_flight = Some(counter);
        self
    }

    /// See [`stop`](Self::stop). Default: none.
    pub fn stop_when(mut self, flag: Arc<AtomicBool>) -> Self {
        self.stop = Some(flag);
        self
    }

    /// See [`send_window`](Self::send_window). Default: none.
    pub fn send_window(mut self, window: SendWindow) -> Self {
        self.send_window = Some(window);
        self
    }

    /// See [`time_zone`](Self::time_zone). Default: none.
    pub fn time_zone(mut self, zone: Zone) -> Self {
        self.time_zone = Some(zone);
        self
    }

    /// See [`wait_for_window`](Self::wait_for_window). Default: false.
    pub fn wait_for_window(mut self, yes: bool) -> Self {
        self.wait_for_window = yes;
        self
    }

    /// See [`valid_until`](Self::valid_until). Default: none.
    pub fn valid_until(mut self, until: SystemTime) -> Self {
        self.valid_until = Some(until);
        self
    }

    /// See [`suppression`](Self::suppression). Default: none.
    pub fn suppress(mut self, list: Suppression) -> Self {
        self.suppression = Some(Arc::new(list));
        self
    }

    /// See [`min_gap`](Self::min_gap). Default: none.
    pub fn min_gap(mut self, gap: Duration) -> Self {
        self.min_gap = Some(gap);
        self
    }

    /// See [`keep_journals`](Self::keep_journals). Default: 30 days.
    pub fn keep_journals(mut self, keep: Duration) -> Self {
        self.keep_journals = Some(keep);
        self
    }

    pub(crate) fn stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(|f| f.load(Ordering::SeqCst))
    }
}

/// What became of one line.
#[derive(Debug)]
#[non_exhaustive]
pub enum LineOutcome {
    /// In the conversation: sent now, or by an earlier run (`earlier`).
    Sent {
        /// The message id, when the platform gave one.
        message_id: Option<String>,
        /// Sent (or found) by an earlier run: nothing was sent now.
        earlier: bool,
    },
    /// Not delivered: `error` now, or (`error` `None`) an earlier run's
    /// failure of `class`, not retried. `retry`: a later run sends it again
    /// without being asked.
    Failed {
        /// The failure's class (see [`FailureClass`]).
        class: FailureClass,
        /// This run's error, if this run tried.
        error: Option<Error>,
        /// Whether a later run sends it again.
        retry: bool,
        /// An earlier run's reason, as the platform gave it (status, code,
        /// correlation id), when this run did not try.
        earlier: Option<String>,
    },
    /// Maybe in the conversation, maybe not: never sent again blindly (see
    /// [`BatchOptions::resend_unknown`]).
    Unknown {
        /// Why it could not be settled.
        why: String,
    },
    /// An earlier run of this batch recorded this line's id with other
    /// content: nothing is sent for it (give the new content a new id, or
    /// the batch a new id).
    Conflict,
    /// Not now: outside its send window, or its recipient's minimum gap
    /// has not passed. Nothing recorded: a later run sends it.
    Deferred {
        /// Why, and when it could go.
        why: Deferral,
    },
    /// Past its [`valid_until`](BatchOptions::valid_until): never sent,
    /// recorded, so that a later run does not send it either (unless
    /// [`BatchOptions::retry_failed`], and it is valid then).
    Expired {
        /// An earlier run found it so.
        earlier: bool,
    },
    /// Its recipient is on the [suppression list](BatchOptions::suppression):
    /// never sent, nothing recorded.
    Suppressed,
}

/// One line's report.
#[derive(Debug)]
#[non_exhaustive]
pub struct LineReport {
    /// The line's place in the batch, from 0.
    pub index: usize,
    /// Its identity.
    pub id: String,
    /// What became of it.
    pub outcome: LineOutcome,
}
