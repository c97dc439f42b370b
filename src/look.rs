//! After a lost answer: is the message in the conversation? As an
//! `impl Injector` block of its own: [`Injector::resolve`] and the look
//! that `inject` (under `RetryPolicy::resolve_unknown`) and a batch's
//! settling share. What the listing proves is read in `listing`; texts are
//! compared in `same_text`; which message settles what is `memory`'s.
//!
//! A look proves the message there when an outbound message with its text,
//! in the window, settles nothing else yet (it then settles this). It
//! proves it absent only when, besides, the listing is complete (every
//! communication listed, none cut short, every id's text given) and the
//! look came at least the settling time after the attempt; sooner, it
//! waits (within the deadline) or says "not settled".

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use crate::clock::later;
use crate::listing::{self, Anchor, Since, Window};
use crate::request::{Content, Route};
use crate::status::{self, Resolution, Unresolved};
use crate::{Error, InjectRequest, Injector, Receipt};

/// How many looks one settling makes at most (the first, and one after
/// each wait for the listing to catch up).
const MAX_LOOKS: usize = 4;

/// The `Date` header has whole seconds: a wait for the settling time adds
/// one.
const DATE_ROUNDING: Duration = Duration::from_secs(1);

/// How one look for a message is made.
pub(crate) struct Look {
    /// When its attempt left.
    pub since: Since,
    /// What the listing showed before the send, if it was read then.
    pub anchor: Option<Anchor>,
    pub matcher: TextMatch,
    /// How long the platform may take to list a message.
    pub settle: Duration,
    /// No wait goes past it.
    pub deadline: Option<Instant>,
    /// Whether to wait for the settling time when the look comes sooner.
    pub wait: bool,
}

/// What one look saw: the messages with the text (oldest first), and how
/// long after the attempt the look was (`None`: the clocks cannot say).
struct Seen {
    found: Vec<Receipt>,
    after: Option<Duration>,
}

impl Injector {
    /// After `error`, whose outcome is unknown, tells whether `request`'s
    /// message is in the conversation, with one look and no wait. It reads
    /// the conversation (`GET /api/v2/conversations/{conversationId}`),
    /// takes the messages on every communication but the customer's since
    /// the attempt (from the newest message listed before it, when this
    /// injector read the conversation then; else from a minute before the
    /// attempt, placed on the platform's clock through the answer's `Date`),
    /// fetches their text in bulk calls of up to 1000 ids (following every
    /// page), and looks for an outbound message with the text sent, as the
    /// platform may store it (line ends as LF, trimmed, Unicode NFC). A
    /// message that settles another injection of this injector (its answer
    /// named it, or an earlier look took it) is not taken for this one.
    ///
    /// [`Resolution::NotDelivered`] needs proof: a complete listing (no
    /// communication without its list, none that says or may be cut short,
    /// every id asked for in the bulk answers with its text), a `Date`
    /// within 10 minutes of this machine's clock, and the look at least
    /// [`RetryPolicy::settle_time`](crate::RetryPolicy::settle_time) after
    /// the attempt. Anything less is [`Resolution::Unknown`]
    /// ([`Unresolved::Incomplete`], [`Unresolved::UntrustedClock`],
    /// [`Unresolved::NotSettled`]: call again later).
    ///
    /// [`RetryPolicy::resolve_unknown`](crate::RetryPolicy::resolve_unknown)
    /// does all this inside [`inject`](Self::inject), waiting for the
    /// settling time. An error whose outcome is not unknown is
    /// [`Resolution::NotDelivered`] at once, with no call.
    pub fn resolve(&self, request: &InjectRequest, error: &Error) -> Resolution {
        if !error.is_outcome_unknown() {
            return Resolution::NotDelivered;
        }
        let Route::Communication {
            conversation_id, ..
        } = &request.route
        else {
            return Resolution::Unknown(Unresolved::NoConversation);
        };
        let Some(sent_at) = error.sent_at() else {
            return Resolution::Unknown(Unresolved::NoSendTime);
        };
        let look = Look {
            since: Since::Local {
                sent_at,
                left: None,
            },
            anchor: self.memory.known(conversation_id).anchor,
            matcher: TextMatch::NFC,
            settle: self.settings.retry_policy.settle_time,
            deadline: None,
            // One look.
            wait: false,
        };
        self.resolve_since(request, &look)
    }

    /// Whether `request`'s message is in its conversation, as `look` says
    /// to look: found and settling nothing else, proved absent, or unknown.
    pub(crate) fn resolve_since(&self, request: &InjectRequest, look: &Look) -> Resolution {
        let Route::Communication {
            conversation_id,
            communication_id,
        } = &request.route
        else {
            return Resolution::Unknown(Unresolved::NoConversation);
        };
        if !matches!(request.content, Content::Text(_)) {
            return Resolution::Unknown(Unresolved::NotText);
        }
        let text = match crate::validate(
            request.blocks(),
            self.settings.max_text_chars,
            &self.settings.safety_policy,
        ) {
            Ok(text) => text,
            Err(e) => return Resolution::Unknown(Unresolved::LookupFailed(Box::new(e.into()))),
        };
        let clock = &*self.settings.clock;
        let sent_as = communication_id
            .clone()
            .or_else(|| self.memory.known(conversation_id).agent);
        let mut after = Duration::ZERO;
        for _ in 0..MAX_LOOKS {
            self.wait_for_sends(conversation_id, look.deadline);
            let seen =
                match self.look_once(conversation_id, sent_as.as_deref(), text.as_str(), look) {
                    Ok(seen) => seen,
                    Err(unknown) => return unknown,
                };
            // The oldest that settles nothing else yet is this one.
            if let Some(receipt) = seen.found.into_iter().find(|r| {
                r.message_id
                    .as_deref()
                    .is_some_and(|id| self.memory.claim(id))
            }) {
                return Resolution::Delivered(receipt);
            }
            let Some(seen_after) = seen.after else {
                return Resolution::Unknown(Unresolved::UntrustedClock);
            };
            if seen_after >= look.settle {
                return Resolution::NotDelivered;
            }
            after = seen_after;
            // Not listed yet, maybe: look again once it would be.
            let wait = look.settle - seen_after + DATE_ROUNDING;
            if !look.wait || look.deadline.is_some_and(|d| later(clock.now(), wait) > d) {
                break;
            }
            log::info!(target: "genesys_inject", "not listed {} s after it was sent: looking again in {} s", seen_after.as_secs(), wait.as_secs());
            // A stop (a batch's) cuts the wait short: a later run settles it.
            if !crate::clock::pause(clock, wait) {
                break;
            }
        }
        Resolution::Unknown(Unresolved::NotSettled { after })
    }

    /// Waits (within `deadline`, and at most the message timeout and a
    /// second, on real time: the answers come on it) while a message
    /// request to `conversation` is on its way: its answer names the
    /// message it made, which then settles nothing else.
    fn wait_for_sends(&self, conversation: &str, deadline: Option<Instant>) {
        let clock = &*self.settings.clock;
        let mut bound = self.settings.message_timeout + Duration::from_secs(1);
        if let Some(d) = deadline {
            bound = bound.min(d.saturating_duration_since(clock.now()));
        }
        if !self.memory.wait_for_answers(conversation, bound) {
            log::debug!(target: "genesys_inject", "a message request to the conversation is still on its way: looking anyway");
        }
    }

    /// One look: the listing, the window, the texts of its candidates.
    /// `Err`: what it cannot tell, as the resolution to give.
    fn look_once(
        &self,
        conversation_id: &str,
        sent_as: Option<&str>,
        text: &str,
        look: &Look,
    ) -> Result<Seen, Resolution> {
        let unknown = |why: Unresolved| Resolution::Unknown(why);
        let incomplete = |what: String| unknown(Unresolved::Incomplete(what));
        let failed = |e: Error| unknown(Unresolved::LookupFailed(Box::new(e)));
        let api = &self.settings.api_base;
        let answer = self
            .lookup(
                &format!("{api}/api/v2/conversations/{conversation_id}"),
                None,
                look.deadline,
            )
            .map_err(failed)?;
        if let Some(why) = &answer.unread {
            return Err(incomplete(format!(
                "the conversation could not be read: {why}"
            )));
        }
        let date = answer
            .date
            .as_deref()
            .and_then(|d| httpdate::parse_http_date(d).ok());
        let window = match (&look.anchor, look.since) {
            (Some(anchor), _) => Window::after(anchor),
            (None, Since::Platform(at)) => Window::before(at),
            (None, Since::Local { sent_at, .. }) => {
                match listing::local_window_start(sent_at, date, SystemTime::now()) {
                    Some(start) => Window {
                        start: Some(start),
                        listed_before: None,
                    },
                    None => return Err(unknown(Unresolved::UntrustedClock)),
                }
            }
        };
        let after = match look.since {
            // A recorded platform time later than this look's Date: the
            // clocks cannot say how long ago the attempt was.
            Since::Platform(at) => date.and_then(|d| d.duration_since(at).ok()),
            Since::Local {
                left: Some(left), ..
            } => Some(self.settings.clock.now().saturating_duration_since(left)),
            Since::Local {
                sent_at,
                left: None,
            } => SystemTime::now().duration_since(sent_at).ok(),
        };
        let communications = listing::communications(&answer.body).map_err(incomplete)?;
        let ids = listing::candidates(&communications, sent_as, &window).map_err(incomplete)?;
        let mut found = self.texts(conversation_id, &ids, text, look)?;
        // Oldest first, as listed.
        found.sort_by_key(|r| ids.iter().position(|id| r.message_id.as_ref() == Some(id)));
        Ok(Seen { found, after })
    }

    /// The messages among `ids` whose text is `text`, read in bulk calls of
    /// up to 1000 ids, every page. `Err` when an answer lacks what it
    /// takes to tell.
    fn texts(
        &self,
        conversation_id: &str,
        ids: &[String],
        text: &str,
        look: &Look,
    ) -> Result<Vec<Receipt>, Resolution> {
        let incomplete = |what: &str| Resolution::Unknown(Unresolved::Incomplete(what.into()));
        let failed = |e: Error| Resolution::Unknown(Unresolved::LookupFailed(Box::new(e)));
        let api = &self.settings.api_base;
        let bulk = format!("/api/v2/conversations/messages/{conversation_id}/messages/bulk");
        let mut found = Vec::new();
        for chunk in ids.chunks(status::BULK_MAX) {
            let body = serde_json::to_vec(chunk).expect("ids serialize");
            let mut seen = Vec::with_capacity(chunk.len());
            let mut url = format!("{api}{bulk}");
            // Every page: at most one a message asked for, and one more.
            for _ in 0..=chunk.len() {
                let answer = self
                    .lookup(&url, Some(&body), look.deadline)
                    .map_err(failed)?;
                if answer.unread.is_some() {
                    return Err(incomplete("a bulk answer could not be read"));
                }
                let Some(page) = status::bulk_page(&answer.body) else {
                    return Err(incomplete("a bulk answer is not a message listing"));
                };
                for message in &page.entities {
                    match has_text(message, text, look.matcher) {
                        Some(true) => found.push(Receipt {
                            message_id: message.id.clone(),
                            attempts: 0,
                            conversation_id: message
                                .conversation_id
                                .clone()
                                .or_else(|| Some(conversation_id.to_owned())),
                            status: message.status.clone(),
                            correlation_id: answer.correlation_id.clone(),
                            resolved: true,
                        }),
                        Some(false) => {}
                        None => return Err(incomplete("a message in the bulk answer has no text")),
                    }
                    if let Some(id) = &message.id {
                        seen.push(id.as_str().to_owned());
                    }
                }
                match page.next {
                    // Only a page of the same call, on the same host.
                    Some(next)
                        if next.starts_with(&bulk)
                            && next[bulk.len()..].starts_with('?')
                            && next.bytes().all(|b| b.is_ascii_graphic()) =>
                    {
                        url = format!("{api}{next}");
                    }
                    Some(_) => return Err(incomplete("a bulk answer pages to another route")),
                    None => break,
                }
            }
            seen.sort_unstable();
            if chunk.iter().any(|id| seen.binary_search(id).is_err()) {
                return Err(incomplete("a bulk answer lacks a message asked for"));
            }
        }
        Ok(found)
    }
}

/// Whether `message` is an outbound message whose text is `text`, as
/// `matcher` compares them: `None` when it carries no text to compare
/// (then nothing proves it is not ours).
fn has_text(message: &status::MessageData, text: &str, matcher: TextMatch) -> Option<bool> {
    let body = message.text_body.as_deref()?;
    let outbound = message
        .direction
        .as_deref()
        .is_none_or(|d| d.eq_ignore_ascii_case("outbound"));
    Some(outbound && matcher.matches(body, text))
}

/// How a look compares the text it holds with the text it looks for, and
/// the look `inject` runs after a lost answer.
#[derive(Clone, Copy)]
pub(crate) struct TextMatch(
    fn(&str, &str) -> bool,
    fn(&crate::Injector, &crate::InjectRequest, &Look) -> crate::Resolution,
);

impl TextMatch {
    /// As the platform may store it: LF line ends, trimmed, NFC.
    pub const NFC: TextMatch =
        TextMatch(crate::same_text::same_text, crate::Injector::resolve_since);

    /// Whether `stored` is `sent`, as the platform may have stored it.
    pub fn matches(&self, stored: &str, sent: &str) -> bool {
        (self.0)(stored, sent)
    }

    /// `injector`'s look for `request` (`Injector::resolve_since`), through
    /// this value: a program whose policy never looks does not link it.
    pub fn resolve(
        &self,
        injector: &crate::Injector,
        request: &crate::InjectRequest,
        look: &Look,
    ) -> crate::Resolution {
        (self.1)(injector, request, look)
    }
}

impl PartialEq for TextMatch {
    /// There is one comparison: every `TextMatch` is it.
    fn eq(&self, _: &TextMatch) -> bool {
        true
    }
}

impl Eq for TextMatch {}

impl fmt::Debug for TextMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TextMatch(NFC)")
    }
}
