//! What an injector remembers of the platform for its life: each
//! conversation's connected agent and what its listing showed before a send
//! (the [`Anchor`] a later look begins at), the message ids that already
//! settle a line or an injection (one message settles one), and the
//! message requests on their way, per conversation. No I/O.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::listing::Anchor;
use crate::sync::lock;

/// The most message ids remembered as claimed: the oldest are forgotten
/// first (a look covers a minute or two, not the injector's whole life).
const MAX_CLAIMS: usize = 1 << 16;

/// What one conversation's listing told.
#[derive(Debug, Clone, Default)]
pub(crate) struct Known {
    /// Its connected agent's communication, once looked up.
    pub agent: Option<String>,
    /// What its listing showed, when it could mark the place.
    pub anchor: Option<Anchor>,
    /// Whether the listing was read (an anchor may still be `None`).
    pub read: bool,
}

#[derive(Debug, Default)]
struct Claims {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Memory {
    conversations: Mutex<HashMap<String, Known>>,
    claims: Mutex<Claims>,
    /// (conversation, requests on their way): few at a time, a list.
    in_flight: Mutex<Vec<(String, usize)>>,
    /// Told whenever a message request's answer came.
    answered: Condvar,
}

impl Memory {
    /// What is known of `conversation`.
    pub fn known(&self, conversation: &str) -> Known {
        lock(&self.conversations)
            .get(conversation)
            .cloned()
            .unwrap_or_default()
    }

    /// Remembers a read of `conversation`'s listing: its agent (when
    /// looked for) and its anchor. An anchor already known is kept: the
    /// earlier one marks a place no later message can precede.
    pub fn remember(&self, conversation: &str, agent: Option<String>, anchor: Option<Anchor>) {
        let mut conversations = lock(&self.conversations);
        let known = conversations.entry(conversation.to_owned()).or_default();
        if agent.is_some() {
            known.agent = agent;
        }
        if !known.read || known.anchor.is_none() {
            known.anchor = anchor;
        }
        known.read = true;
    }

    /// Claims `message_id` for the caller: `false` when it settles
    /// something else already.
    pub fn claim(&self, message_id: &str) -> bool {
        let mut claims = lock(&self.claims);
        if !claims.ids.insert(message_id.to_owned()) {
            return false;
        }
        claims.order.push_back(message_id.to_owned());
        if claims.order.len() > MAX_CLAIMS {
            if let Some(oldest) = claims.order.pop_front() {
                claims.ids.remove(&oldest);
            }
        }
        true
    }

    /// Marks a message request to `conversation` as on its way until the
    /// returned guard is dropped.
    pub fn sending<'a>(&'a self, conversation: &str) -> Sending<'a> {
        let mut in_flight = lock(&self.in_flight);
        match in_flight.iter_mut().find(|(c, _)| c == conversation) {
            Some((_, n)) => *n += 1,
            None => in_flight.push((conversation.to_owned(), 1)),
        }
        drop(in_flight);
        Sending {
            memory: self,
            conversation: conversation.to_owned(),
        }
    }

    /// Waits, at most `bound` (real time: the answers come on it), until
    /// no message request to `conversation` is on its way; whether none is.
    pub fn wait_for_answers(&self, conversation: &str, bound: Duration) -> bool {
        let until = Instant::now() + bound;
        let mut in_flight = lock(&self.in_flight);
        while in_flight.iter().any(|(c, _)| c == conversation) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            in_flight = match self.answered.wait_timeout(in_flight, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }
}

/// A message request on its way (see [`Memory::sending`]).
pub(crate) struct Sending<'a> {
    memory: &'a Memory,
    conversation: String,
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        let mut in_flight = lock(&self.memory.in_flight);
        if let Some(at) = in_flight.iter().position(|(c, _)| *c == self.conversation) {
            in_flight[at].1 -= 1;
            if in_flight[at].1 == 0 {
                in_flight.swap_remove(at);
            }
        }
        self.memory.answered.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_settles_one_claim_and_requests_in_flight_are_counted() {
        let memory = Memory::default();
        assert!(memory.claim("m1"));
        assert!(!memory.claim("m1"));
        assert!(memory.claim("m2"));
        let first = memory.sending("c");
        let second = memory.sending("c");
        assert!(!memory.wait_for_answers("c", Duration::from_millis(1)));
        drop(first);
        assert!(!memory.wait_for_answers("c", Duration::from_millis(1)));
        std::thread::scope(|s| {
            s.spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                drop(second);
            });
            assert!(memory.wait_for_answers("c", Duration::from_secs(5)));
        });
        assert!(memory.wait_for_answers("other", Duration::ZERO));
        // The first anchor read stays.
        let first = Anchor::Empty;
        memory.remember("c", None, Some(first.clone()));
        memory.remember("c", Some("agent".into()), None);
        let known = memory.known("c");
        assert_eq!(
            (known.agent.as_deref(), known.anchor),
            (Some("agent"), Some(first))
        );
    }
}
