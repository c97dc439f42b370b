//! A conversation's listing (`GET /api/v2/conversations/{conversationId}`),
//! as a look for a message reads it: every communication and the messages
//! listed on it; what was there before a send (the [`Anchor`]); where a look
//! begins ([`Since`], [`Window`]); and which listed messages may be the one
//! looked for. What a listing cannot prove is said, never guessed: a
//! listing that says or shows it is cut short, a communication without its
//! list, a message without an id. No I/O.

use std::time::{Duration, SystemTime};

use serde_json::Value;

/// How far before the attempt (on the platform's clock, as its `Date`
/// headers tell it) a look begins, when nothing listed before the send
/// marks the place: the clock that stamps messages need not agree with the
/// one that writes `Date` to within more than this.
pub(crate) const LOOK_BACK: Duration = Duration::from_secs(60);

/// A platform's `Date` further than this from this machine's clock is not
/// trusted to place this run's own attempt in time.
pub(crate) const MAX_CLOCK_SKEW: Duration = Duration::from_secs(600);

/// A communication listing a multiple of this many messages may be a page
/// of them (25 is the platform's usual page size, and pages come in its
/// multiples), cut short with nothing in the answer to say so: such a
/// listing proves no message absent.
pub(crate) const LISTING_PAGE: usize = 25;

/// Whether a list of `n` messages may be a page, cut short without saying so.
fn may_be_a_page(n: usize) -> bool {
    n > 0 && n % LISTING_PAGE == 0
}

/// Where a look for a message begins: when its attempt left.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Since {
    /// A time on this machine's clock (this run's own attempt), placed on
    /// the platform's through the lookup's `Date`; `left`: when it left on
    /// the injector's clock, to tell how long ago that was.
    Local {
        sent_at: SystemTime,
        left: Option<std::time::Instant>,
    },
    /// A time on the platform's clock no later than the attempt (an
    /// earlier run's: this machine's clock then is not trusted).
    Platform(SystemTime),
}

/// What a listing read before a send showed: every message listed then is
/// not the one sent after, whatever the clocks say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Anchor {
    /// No message was listed on any communication a message may be sent
    /// as: every message listed later may be the one.
    Empty,
    /// The newest message listed then, and its time on the clock that
    /// stamps messages.
    Newest { id: String, time: SystemTime },
}

/// One communication of a listing.
pub(crate) struct Communication {
    pub id: String,
    /// The customer's side: a message sent as the tool is never on it.
    pub customer: bool,
    /// Its messages (id, time), or `None` when the listing gives no list.
    pub messages: Option<Vec<(Option<String>, Option<SystemTime>)>>,
}

/// Where the messages a look considers begin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Window {
    /// Messages stamped before this are not the one looked for (`None`:
    /// every message may be).
    pub start: Option<SystemTime>,
    /// A message listed before the send: never the one, and a listing that
    /// no longer shows it is cut short.
    pub listed_before: Option<String>,
}

impl Window {
    /// The window an anchor gives: after the newest message listed before
    /// the send, on the clock that stamped it.
    pub fn after(anchor: &Anchor) -> Window {
        match anchor {
            Anchor::Empty => Window {
                start: None,
                listed_before: None,
            },
            Anchor::Newest { id, time } => Window {
                start: Some(*time),
                listed_before: Some(id.clone()),
            },
        }
    }

    /// The window that begins [`LOOK_BACK`] before `platform_at`.
    pub fn before(platform_at: SystemTime) -> Window {
        Window {
            start: Some(platform_at.checked_sub(LOOK_BACK).unwrap_or(platform_at)),
            listed_before: None,
        }
    }
}

/// `object[key]` as a string.
fn text(object: &Value, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Whether an object says its lists are cut short: a `…truncated` flag
/// that is true, or a next page.
fn says_cut(object: &Value) -> bool {
    let Some(map) = object.as_object() else {
        return false;
    };
    map.iter().any(|(key, value)| {
        (key.to_ascii_lowercase().contains("truncated") && value.as_bool() == Some(true))
            || (key == "nextUri" && value.as_str().is_some_and(|s| !s.is_empty()))
    })
}

/// Reads a conversation's communications and their messages. `Err` says
/// what the answer lacks to prove anything: it is not JSON, it has no
/// participants, or it says it is cut short.
pub(crate) fn communications(body: &[u8]) -> Result<Vec<Communication>, String> {
    let conversation: Value =
        serde_json::from_slice(body).map_err(|_| "the answer is not JSON".to_owned())?;
    let participants = conversation
        .get("participants")
        .and_then(Value::as_array)
        .ok_or("the conversation lists no participants")?;
    if says_cut(&conversation) {
        return Err("the listing says it is cut short".into());
    }
    let mut found = Vec::new();
    for participant in participants {
        if says_cut(participant) {
            return Err("the listing says it is cut short".into());
        }
        let customer = participant
            .get("purpose")
            .and_then(Value::as_str)
            .is_some_and(|p| {
                p.eq_ignore_ascii_case("customer") || p.eq_ignore_ascii_case("external")
            });
        let listed = participant.get("messages").and_then(Value::as_array);
        for communication in listed.into_iter().flatten() {
            if says_cut(communication) {
                return Err("the listing says a communication's messages are cut short".into());
            }
            let messages =
                communication
                    .get("messages")
                    .and_then(Value::as_array)
                    .map(|messages| {
                        messages
                            .iter()
                            .map(|m| {
                                let time = m
                                    .get("messageTime")
                                    .and_then(Value::as_str)
                                    .and_then(|t| humantime::parse_rfc3339_weak(t).ok());
                                (text(m, "messageId"), time)
                            })
                            .collect()
                    });
            found.push(Communication {
                id: text(communication, "id").unwrap_or_default(),
                customer,
                messages,
            });
        }
    }
    Ok(found)
}

/// What a listing read before a send shows, to mark where a later look
/// begins; `None` when it cannot mark it (a communication without its
/// list or that may be cut short, a message without an id or a time).
pub(crate) fn anchor(communications: &[Communication]) -> Option<Anchor> {
    let mut newest: Option<(&String, SystemTime)> = None;
    for communication in communications.iter().filter(|c| !c.customer) {
        let messages = communication.messages.as_ref()?;
        if may_be_a_page(messages.len()) {
            return None;
        }
        for (id, time) in messages {
            let (id, time) = (id.as_ref()?, (*time)?);
            if newest.is_none_or(|(_, t)| time > t) {
                newest = Some((id, time));
            }
        }
    }
    Some(match newest {
        None => Anchor::Empty,
        Some((id, time)) => Anchor::Newest {
            id: id.clone(),
            time,
        },
    })
}

/// The ids of the messages that may be the one looked for: on any
/// communication but the customer's, in `window`, oldest first (a message
/// without a readable time counts as in it). `sent_as`, when known, must be
/// listed. `Err` says what the listing lacks to prove anything: the
/// communication sent as, a communication's list, a message's id, or all
/// of a list (it may be cut short, or no longer shows a message listed
/// before the send).
pub(crate) fn candidates(
    communications: &[Communication],
    sent_as: Option<&str>,
    window: &Window,
) -> Result<Vec<String>, String> {
    if let Some(sent_as) = sent_as {
        if !communications.iter().any(|c| c.id == sent_as) {
            return Err("the conversation does not show the communication sent as".into());
        }
    }
    let mut listed_before_seen = false;
    let mut ids: Vec<(Option<SystemTime>, String)> = Vec::new();
    for communication in communications.iter().filter(|c| !c.customer) {
        let messages = communication
            .messages
            .as_ref()
            .ok_or("a communication of the conversation lists no messages")?;
        if may_be_a_page(messages.len()) {
            return Err(format!(
                "a communication lists {} messages: a listing of a page's size may be cut short without saying so",
                messages.len()
            ));
        }
        for (id, time) in messages {
            let id = id.as_ref().ok_or("a message has no messageId")?;
            if window.listed_before.as_ref() == Some(id) {
                listed_before_seen = true;
                continue;
            }
            let inside = match (window.start, time) {
                (Some(start), Some(time)) => *time >= start,
                _ => true,
            };
            if inside {
                ids.push((*time, id.clone()));
            }
        }
    }
    if window.listed_before.is_some() && !listed_before_seen {
        return Err(
            "the listing no longer shows a message it showed before the send: it is cut short"
                .into(),
        );
    }
    // Oldest first (untimed last); one entry an id. (Unstable sorts: the
    // stable one's code is larger, and a minimal program links this.)
    ids.sort_unstable_by(|a, b| (a.0.is_none(), a.0, &a.1).cmp(&(b.0.is_none(), b.0, &b.1)));
    ids.dedup_by(|a, b| a.1 == b.1);
    Ok(ids.into_iter().map(|(_, id)| id).collect())
}

/// `sent_at` (this machine's clock) on the platform's clock, minus
/// [`LOOK_BACK`]: the platform's clock is the `Date` header of an answer
/// that arrived at `local_now`. `None` when the clock cannot be trusted:
/// no `Date`, one that cannot be read, or one more than [`MAX_CLOCK_SKEW`]
/// away from this machine's clock.
pub(crate) fn local_window_start(
    sent_at: SystemTime,
    date: Option<SystemTime>,
    local_now: SystemTime,
) -> Option<SystemTime> {
    let platform_now = date?;
    let on_platform = match platform_now.duration_since(local_now) {
        // The platform's clock is ahead.
        Ok(ahead) if ahead <= MAX_CLOCK_SKEW => sent_at.checked_add(ahead)?,
        Err(behind) if behind.duration() <= MAX_CLOCK_SKEW => {
            sent_at.checked_sub(behind.duration())?
        }
        _ => return None,
    };
    Some(on_platform.checked_sub(LOOK_BACK).unwrap_or(on_platform))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: &str) -> SystemTime {
        humantime::parse_rfc3339(t).unwrap()
    }

    const BODY: &[u8] = br#"{"participants":[
        {"purpose":"customer","messages":[{"id":"cust","messages":[{"messageId":"c1","messageTime":"2026-11-27T10:06:00Z"}]}]},
        {"purpose":"agent","messages":[{"id":"ours","messages":[
            {"messageId":"old","messageTime":"2026-11-27T10:00:00.000Z"},
            {"messageId":"new","messageTime":"2026-11-27T10:05:00.000Z"},
            {"messageId":"untimed"}]}]},
        {"purpose":"workflow","messages":[{"id":"bot","messages":[
            {"messageId":"b1","messageTime":"2026-11-27T10:04:30Z"}]}]}]}"#;

    #[test]
    fn every_communication_but_the_customers_is_looked_in_oldest_first() {
        let comms = communications(BODY).unwrap();
        let window = Window {
            start: Some(at("2026-11-27T10:04:00Z")),
            listed_before: None,
        };
        assert_eq!(
            candidates(&comms, Some("ours"), &window).unwrap(),
            ["b1", "new", "untimed"]
        );
        // Another communication sent as: what the listing does not show
        // proves nothing.
        assert!(candidates(&comms, Some("theirs"), &window).is_err());
        assert_eq!(candidates(&comms, None, &window).unwrap().len(), 3);
    }

    #[test]
    fn an_anchor_marks_the_place_whatever_the_clocks_say() {
        let comms = communications(BODY).unwrap();
        // The anchor has no untimed message to place: none.
        assert_eq!(anchor(&comms), None);
        let before = br#"{"participants":[{"purpose":"agent","messages":[{"id":"ours","messages":[
            {"messageId":"old","messageTime":"2026-11-27T10:00:00Z"},
            {"messageId":"new","messageTime":"2026-11-27T10:05:00Z"}]}]}]}"#;
        let anchor = anchor(&communications(before).unwrap()).unwrap();
        assert_eq!(
            anchor,
            Anchor::Newest {
                id: "new".into(),
                time: at("2026-11-27T10:05:00Z")
            }
        );
        let after = br#"{"participants":[{"purpose":"agent","messages":[{"id":"ours","messages":[
            {"messageId":"old","messageTime":"2026-11-27T10:00:00Z"},
            {"messageId":"new","messageTime":"2026-11-27T10:05:00Z"},
            {"messageId":"mine","messageTime":"2026-11-27T10:05:00Z"}]}]}]}"#;
        let window = Window::after(&anchor);
        assert_eq!(
            candidates(&communications(after).unwrap(), Some("ours"), &window).unwrap(),
            ["mine"]
        );
        // The listing no longer shows the anchor: cut short.
        let cut = br#"{"participants":[{"purpose":"agent","messages":[{"id":"ours","messages":[
            {"messageId":"old","messageTime":"2026-11-27T10:00:00Z"}]}]}]}"#;
        assert!(candidates(&communications(cut).unwrap(), Some("ours"), &window).is_err());
        let empty =
            br#"{"participants":[{"purpose":"agent","messages":[{"id":"ours","messages":[]}]}]}"#;
        assert_eq!(
            super::anchor(&communications(empty).unwrap()),
            Some(Anchor::Empty)
        );
    }

    #[test]
    fn a_listing_that_says_or_may_be_cut_short_proves_nothing() {
        let window = Window::before(at("2026-11-27T10:05:00Z"));
        let page: Vec<Value> = (0..LISTING_PAGE * 2)
            .map(|i| serde_json::json!({"messageId": format!("m{i}"), "messageTime": "2026-11-27T09:00:00Z"}))
            .collect();
        let full = serde_json::json!({"participants":[{"purpose":"agent","messages":[{"id":"ours","messages":page}]}]});
        let comms = communications(full.to_string().as_bytes()).unwrap();
        assert!(candidates(&comms, Some("ours"), &window).is_err());
        assert_eq!(anchor(&comms), None);
        // One more or one fewer is not a page.
        let mut page: Vec<Value> = (0..LISTING_PAGE + 1)
            .map(|i| serde_json::json!({"messageId": format!("m{i}"), "messageTime": "2026-11-27T09:00:00Z"}))
            .collect();
        for _ in 0..2 {
            let listed = serde_json::json!({"participants":[{"purpose":"agent","messages":[{"id":"ours","messages":page}]}]});
            let comms = communications(listed.to_string().as_bytes()).unwrap();
            assert!(candidates(&comms, Some("ours"), &window)
                .unwrap()
                .is_empty());
            page.truncate(LISTING_PAGE - 1);
        }
        for said in [
            &br#"{"participants":[{"purpose":"agent","messages":[{"id":"ours","messagesTruncated":true,"messages":[]}]}]}"#[..],
            br#"{"nextUri":"/api/v2/conversations/x?page=2","participants":[]}"#,
        ] {
            assert!(communications(said).is_err());
        }
        for bad in [
            &b"<html>"[..],
            br#"{"id":"x"}"#,
            br#"{"participants":[{"messages":[{"id":"ours"}]}]}"#,
            br#"{"participants":[{"messages":[{"id":"ours","messages":[{"messageTime":"2030-01-01T00:00:00Z"}]}]}]}"#,
        ] {
            let read = communications(bad).and_then(|c| candidates(&c, Some("ours"), &window));
            assert!(read.is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn this_runs_attempt_is_placed_through_a_trusted_date_a_minute_back() {
        let local_now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let sent_at = local_now - Duration::from_secs(10);
        let ahead = local_now + Duration::from_secs(300);
        assert_eq!(
            local_window_start(sent_at, Some(ahead), local_now),
            Some(sent_at + Duration::from_secs(300) - LOOK_BACK)
        );
        let behind = local_now - Duration::from_secs(60);
        assert_eq!(
            local_window_start(sent_at, Some(behind), local_now),
            Some(sent_at - Duration::from_secs(60) - LOOK_BACK)
        );
        for date in [
            None,
            Some(local_now + Duration::from_secs(3 * 3600)),
            Some(SystemTime::UNIX_EPOCH),
        ] {
            assert_eq!(local_window_start(sent_at, date, local_now), None);
        }
    }
}
