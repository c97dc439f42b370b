//! A business's own do-not-contact list: addresses, conversation ids and
//! contact ids whose lines a batch never sends.

use std::collections::HashSet;

use crate::request::Route;
use crate::{InjectRequest, MessengerType};

/// Recipients a batch never sends to ([`BatchOptions::suppression`]):
/// phone numbers (compared in E.164: spaces, dots, dashes and brackets
/// dropped; a WhatsApp id is the number without its `+`), conversation
/// ids, external contact ids and other addresses (compared without case).
/// A line to any of them is [`LineOutcome::Suppressed`]: never sent,
/// nothing recorded, so that a later run checks the list again. Its
/// `Debug` shows how many it holds, never whom.
///
/// [`BatchOptions::suppression`]: crate::BatchOptions::suppression
/// [`LineOutcome::Suppressed`]: crate::LineOutcome::Suppressed
#[derive(Clone, Default)]
pub struct Suppression {
    entries: HashSet<String>,
}

impl std::fmt::Debug for Suppression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Suppression({} entries)", self.entries.len())
    }
}

/// `entry` as it is compared: a phone number (a `+`, then digits and
/// separators) as `+` and its digits; anything else trimmed, in lower
/// case.
fn normal(entry: &str) -> String {
    let entry = entry.trim();
    let phone = entry.strip_prefix('+').is_some_and(|rest| {
        rest.chars()
            .all(|c| c.is_ascii_digit() || " .-()\u{a0}".contains(c))
            && rest.chars().any(|c| c.is_ascii_digit())
    });
    if phone {
        let digits: String = entry.chars().filter(char::is_ascii_digit).collect();
        format!("+{digits}")
    } else {
        entry.to_lowercase()
    }
}

impl Suppression {
    /// An empty list. Default: empty.
    pub fn new() -> Suppression {
        Suppression::default()
    }

    /// Adds `entry` (a phone number in international form, a
    /// conversation id, a contact id or another address); `false` when it
    /// is empty. A national number (no `+`) is compared as written: give
    /// numbers in E.164 (`inject --suppress` makes them so with
    /// `--default-country`).
    pub fn insert(&mut self, entry: &str) -> bool {
        let entry = normal(entry);
        !entry.is_empty() && {
            self.entries.insert(entry);
            true
        }
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `request`'s recipient is listed: its conversation (on the
    /// communication route), or its address or contact (agentless).
    pub fn contains(&self, request: &InjectRequest) -> bool {
        match &request.route {
            Route::Communication {
                conversation_id, ..
            } => self.entries.contains(&normal(conversation_id)),
            Route::Agentless { target, .. } => {
                let address = target.to_address.as_deref().map(|a| {
                    // A WhatsApp id is the number without its +.
                    if target.messenger == MessengerType::WhatsApp
                        && a.bytes().all(|b| b.is_ascii_digit())
                    {
                        normal(&format!("+{a}"))
                    } else {
                        normal(a)
                    }
                });
                let contact = target.external_contact_id.as_deref().map(normal);
                [address, contact]
                    .into_iter()
                    .flatten()
                    .any(|e| self.entries.contains(&e))
            }
        }
    }
}

impl<S: AsRef<str>> FromIterator<S> for Suppression {
    fn from_iter<I: IntoIterator<Item = S>>(entries: I) -> Suppression {
        let mut list = Suppression::new();
        for entry in entries {
            list.insert(entry.as_ref());
        }
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AgentlessTarget, ContentBlock};

    #[test]
    fn a_number_written_three_ways_is_one_number() {
        let list: Suppression = ["+1 (317) 555-0101", "EC35F2A8-289B-42D4-8893-C50EAF81A3C1"]
            .into_iter()
            .collect();
        assert_eq!(format!("{list:?}"), "Suppression(2 entries)");
        let sms = |to: &str| {
            InjectRequest::agentless(
                AgentlessTarget::sms("+18005550100", to),
                vec![ContentBlock::text("Hi")],
            )
        };
        assert!(list.contains(&sms("+13175550101")));
        assert!(!list.contains(&sms("+13175550102")));
        let whatsapp = InjectRequest::agentless(
            AgentlessTarget::whatsapp("a1b2c3d4-0000-4000-8000-000000000000", "13175550101"),
            vec![ContentBlock::text("Hi")],
        );
        assert!(list.contains(&whatsapp));
        let conversation = InjectRequest::to_conversation(
            "ec35f2a8-289b-42d4-8893-c50eaf81a3c1",
            vec![ContentBlock::text("Hi")],
        );
        assert!(list.contains(&conversation));
        assert!(!Suppression::new().insert("  "));
    }
}
