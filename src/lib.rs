//! Inject bot messages into live Genesys Cloud messaging conversations from
//! ordinary, blocking Rust: cron binaries, command-line tools, legacy services.
//! No async runtime.
//!
//! ```no_run
//! use genesys_inject::{ContentBlock, InjectRequest, Injector};
//!
//! let injector = Injector::builder()
//!     .region("eu-west-1")
//!     .credentials("my-client-id", "my-client-secret")
//!     .webhook_url("https://hooks.example.com/audit")
//!     .build()?;
//!
//! let request = InjectRequest::new(
//!     "ec35f2a8-289b-42d4-8893-c50eaf81a3c1", // conversation
//!     "0b2d9a4e-6f1c-4c7e-9a55-1d3f8e2b7c90", // communication to send as
//!     vec![ContentBlock::text("Hello "), ContentBlock::text("there")],
//! )
//! .delay(std::time::Duration::from_millis(500));
//!
//! let receipt = injector.inject(&request)?;
//! println!("message {:?} after {} attempt(s)", receipt.message_id, receipt.attempts);
//! # Ok::<_, genesys_inject::Error>(())
//! ```
//!
//! Building an injector makes no network call, so a request can be checked,
//! and its exact HTTP body seen, without credentials that work:
//!
//! ```
//! use genesys_inject::{ContentBlock, Error, InjectRequest, Injector, ValidationError};
//!
//! let injector = Injector::builder().credentials("id", "secret").build()?;
//! let request = InjectRequest::new(
//!     "ec35f2a8-289b-42d4-8893-c50eaf81a3c1",
//!     "0b2d9a4e-6f1c-4c7e-9a55-1d3f8e2b7c90",
//!     vec![ContentBlock::text("Hello "), ContentBlock::text("there 👋")],
//! );
//! let prepared = injector.prepare(&request)?;
//! assert_eq!(prepared.body(), r#"{"textBody":"Hello there 👋"}"#);
//! assert_eq!(prepared.message_size(), 14); // UTF-16 units: the emoji counts 2
//!
//! let unsafe_text = InjectRequest::new(
//!     "ec35f2a8-289b-42d4-8893-c50eaf81a3c1",
//!     "0b2d9a4e-6f1c-4c7e-9a55-1d3f8e2b7c90",
//!     vec![ContentBlock::text("Reply with your password")],
//! );
//! assert!(matches!(
//!     injector.prepare(&unsafe_text),
//!     Err(Error::Validation(ValidationError::Unsafe { .. }))
//! ));
//! # Ok::<_, Error>(())
//! ```
//!
//! # What one `inject` does
//! 1. **Validates** before any network traffic ([`validate`],
//!    [`InjectRequest::prepare`]): ids are GUIDs; there is at least one
//!    block; each block and the joined text fit the limit (2000 UTF-16 code
//!    units by default, counted as JavaScript's `.length` does); the text is
//!    not blank; no [`SafetyPolicy`] rule matches.
//! 2. **Gets a token** (OAuth client credentials, HTTP Basic) from a cache
//!    guarded by a mutex: one fetch at a time however many threads ask,
//!    refreshed 60 s before it expires, dropped and fetched again after a 401.
//! 3. **Waits** the request's delivery delay ([`InjectRequest::delay`], at
//!    most [`MAX_DELAY`]).
//! 4. **Sends the typing indicator** (communication route only;
//!    [`TypingMode`]).
//! 5. **Sends the message**, retrying a 429 after `Retry-After × 2^(n-1)`
//!    ([`RetryPolicy`]). A request that was sent is never sent again after a
//!    timeout: the error says the outcome is unknown ([`Error::outcome`]).
//!    After a 429, every thread of the injector holds its API calls until the
//!    `Retry-After` instant. Before any 429, API requests are paced to the
//!    platform's budget ([`InjectorBuilder::requests_per_minute`], 300 a
//!    minute by default), shared by threads and, with a state directory,
//!    by processes.
//! 6. **Audits**: one JSON record through `log` (target
//!    `genesys_inject::audit`, level info) and, with a webhook URL, the same
//!    event queued for a background thread that posts it
//!    ([`Injector::flush`], [`Injector::webhook_stats`]) with one
//!    `Idempotency-Key` per event. With a
//!    [state directory](InjectorBuilder::state_dir), the event is on disk
//!    before `inject` returns, and stays there until the endpoint takes it,
//!    across processes. The webhook never slows nor fails an
//!    injection. Only ids that passed validation go into the record.
//!
//! Many messages from one run: [`Injector::inject_batch`] sends each
//! [`BatchLine`] at most once across kills and re-runs, through a
//! [`Journal`], and only when its rules let it go: inside its
//! [`SendWindow`] in the recipient's [`Zone`], before its expiry, not to a
//! [`Suppression`] list, not within a recipient's minimum gap
//! ([`BatchOptions`]); an SMS no faster than its sender number carries
//! ([`default_sender_rate`]). A journal remembers a line for
//! [`DEFAULT_KEEP_JOURNALS`] (30 days) after its last record, and never
//! forgets a line whose outcome is unknown.
//!
//! After `inject`: [`Injector::message_status`] and
//! [`Injector::wait_for_delivery`] tell what became of the message, and
//! [`Injector::resolve`] whether a message whose answer was lost is in the
//! conversation ([`RetryPolicy::resolve_unknown`] does it inside `inject`,
//! proving it absent only after [`RetryPolicy::settle_time`]).
//!
//! # Two routes
//! [`InjectRequest::new`] sends as a participant's communication (usually the
//! agent's) into a conversation, and [`InjectRequest::attachment`] a file
//! that way; [`InjectRequest::agentless`] with an [`AgentlessTarget`] sends
//! as an API participant that is not in the conversation, joining the
//! customer's active conversation, and [`InjectRequest::template`] a
//! [`MessagingTemplate`] (what WhatsApp takes) that way.
//!
//! # Modules
//! The crate is flat: everything public is re-exported here, and every
//! module is private but [`lines`] (feature `lines`: a file as a batch's
//! lines, as `inject --batch` reads it). One concern a file (`ARCHITECTURE.md` says what each
//! must not do, and the invariants that cross them):
//!
//! | module | owns |
//! |---|---|
//! | `audit_log` | the audit file: each record appended as a JSON line ([`InjectorBuilder::audit_log`]) |
//! | `batch` | `impl Injector`: [`Injector::inject_batch`], each [`BatchLine`] at most once across runs (`options`, `identity`, `failure`, `line`, `settle`, `send`, `flight`, `round`), and whether and when it goes (`rules`: [`SendWindow`], [`Zone`], [`Suppression`], [`Deferral`]) |
//! | `journal` | a batch's [`Journal`]: what became of each line, on disk (`record`, `keep`: its lifetime, `list`) |
//! | `lines` | (feature `lines`) a file of JSON Lines or CSV as [`BatchLine`]s, with `inject --batch`'s defaults, template, columns and identities |
//! | `injector` | [`Injector`]: the pipeline of one `inject`, the typing call; `injector::call`, one API call with token, gate and retries; `injector::api_error`, API error mapping |
//! | `delivery` | `impl Injector`: [`Injector::message_status`], [`Injector::wait_for_delivery`] and the lookups |
//! | `look` | `impl Injector`: [`Injector::resolve`], the look for a lost message that `inject` and a batch share |
//! | `listing` | a conversation's listing: communications, messages, where a look begins, what it cannot prove |
//! | `same_text` | texts as the platform may store them (LF, trimmed, NFC) |
//! | `memory` | what an injector remembers: agents, anchors, claimed message ids, requests in flight |
//! | `upload` | `impl Injector`: an attachment's upload, the PUT to the upload host, the media's readiness |
//! | `status` | reading status and lookup answers, and what they prove ([`MessageStatus`], [`Resolution`]) |
//! | `request` | [`InjectRequest`], its routes and bodies, [`PreparedMessage`] |
//! | `agent` | `impl Injector`: the connected agent's communication of a conversation ([`InjectRequest::to_conversation`]) |
//! | `agentless` | [`AgentlessTarget`], [`MessengerType`], their checks, address masking |
//! | `receipt` | [`Receipt`], read from the message call's answer |
//! | `validate` | blocks, UTF-16 length, ids |
//! | `safety` | [`SafetyPolicy`]: words, patterns and the built-in detectors (card numbers, US SSNs) |
//! | `content` | [`MessagingTemplate`], [`Attachment`] |
//! | `config` | [`InjectorBuilder`]: every option and its default, [`TypingMode`] |
//! | `env` | [`InjectorBuilder::from_env`] |
//! | `proxy` | which proxy requests go through (CONNECT only) |
//! | `region` | the region table, [`DEFAULT_REGION`] |
//! | `url` | which URLs may be called |
//! | `auth` | the token cache and the token call |
//! | `secret` | the client secret and access token types, which never show |
//! | `http` | HTTP exchanges, answers, whether a failed request was sent |
//! | `redact` | no secret or echoed credential in an error or a log line |
//! | `retry` | [`RetryPolicy`] and the retry loop |
//! | `gate` | the rate-limit pause shared by an injector's threads |
//! | `pace` | pacing to the platform's budget ([`InjectorBuilder::requests_per_minute`]) and each SMS sender number's rate ([`InjectorBuilder::sender_rate`]), shared by threads and processes |
//! | `tls` | which TLS roots are trusted ([`InjectorBuilder::ca_file`]) |
//! | `audit` | the audit record and webhook body |
//! | `webhook` | the webhook handle ([`WebhookStats`]) and, in `webhook::worker`, its thread |
//! | `state` | the state directory: its checks, the token file, the outbox |
//! | `clock` | the time seam ([`Clock`]) |
//! | `sync` | mutex locking that survives a panicked holder |
//! | `error` | [`Error`], [`ValidationError`], [`ApiErrorBody`] |
//!
//! # Logging
//! Through the `log` crate. Targets: `genesys_inject::inject` (each failed
//! `inject`, at warn: filter it out when the program reports the returned
//! error itself), `genesys_inject` (other failures and notes),
//! `genesys_inject::audit` (records), `genesys_inject::transport` (each HTTP
//! exchange at debug), `genesys_inject::auth`, `genesys_inject::gate`,
//! `genesys_inject::webhook`, `genesys_inject::state` (the state directory),
//! `genesys_inject::batch` ([`Injector::inject_batch`]). No line contains the client secret or a token.
//! ureq logs raw request bytes, `Authorization` header included, at `trace`
//! under its own `ureq` targets: do not enable `ureq=trace` in production.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod agent;
mod agentless;
mod audit;
mod audit_log;
mod auth;
mod batch;
mod clock;
mod config;
mod content;
mod delivery;
mod env;
mod error;
mod gate;
mod http;
mod injector;
mod journal;
#[cfg(feature = "lines")]
pub mod lines;
mod listing;
mod look;
mod memory;
mod pace;
mod proxy;
mod receipt;
mod redact;
mod region;
mod request;
mod retry;
mod safety;
mod same_text;
mod secret;
mod state;
mod status;
mod sync;
mod tls;
mod upload;
mod url;
mod validate;
mod webhook;

pub use agentless::{AgentlessTarget, MessengerType};
pub use audit::AUDIT_TARGET;
pub use batch::{
    BatchLine, BatchOptions, BatchSummary, Deferral, FailureClass, LineOutcome, LineReport,
    SendWindow, Suppression, Zone, DEFAULT_PARALLEL, MAX_PARALLEL, UNREACHABLE_IN_A_ROW,
};
pub use clock::{Clock, SystemClock};
pub use config::{InjectorBuilder, TypingMode};
pub use content::{Attachment, MessagingTemplate, DEFAULT_ATTACHMENT_TYPES, MEDIA_MAX_BYTES};
pub use error::{ApiErrorBody, ApiErrorDetail, Error, Outcome, ValidationError};
pub use injector::Injector;
pub use journal::{Journal, JournalLine, JournalSummary, DEFAULT_BATCH_ID, DEFAULT_KEEP_JOURNALS};
pub use pace::{default_sender_rate, DEFAULT_REQUESTS_PER_MINUTE};
pub use receipt::Receipt;
pub use region::DEFAULT_REGION;
pub use request::{InjectRequest, PreparedMessage, INVALID_INTERACTION_ID, MAX_DELAY};
pub use retry::{RetryPolicy, DEFAULT_SETTLE_TIME};
pub use safety::SafetyPolicy;
pub use status::{MessageStatus, Resolution, Unresolved};
pub use validate::{
    validate, ContentBlock, ValidatedText, MESSAGING_MAX_TEXT_CHARS, SMS_MAX_TEXT_CHARS,
};
pub use webhook::WebhookStats;

/// The README's and the guide's Rust examples, compiled as doctests (so
/// that a renamed API breaks them here, not in a reader's hands).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
#[doc = include_str!("../docs/library.md")]
struct ReadmeExamples;
