//! A journal's records: what each says of a line, and their JSON form
//! (one object a line: `scope`, `line`, `fp`, `state`, its fields, and
//! `batch`, `t` (when it was written, Unix ms) and `to` (its recipient,
//! masked) since they were added; a record without them is read as
//! before).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::listing::Anchor;

/// One try to send a line: what a later run needs to look for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attempt {
    /// This machine's clock when the message request was about to leave
    /// (shown, never trusted to place the message in time).
    pub at: SystemTime,
    /// A time on the platform's clock no later than the moment the request
    /// left (the last `Date` the platform sent, plus the time since):
    /// `None` when this run had seen none.
    pub platform_at: Option<SystemTime>,
    /// The communication it was sent as (`None` on the agentless route).
    pub communication: Option<String>,
    /// What the conversation listed before the send, when this run read
    /// it: a look begins there, whatever the clocks say.
    pub anchor: Option<Anchor>,
}

/// Why a line failed, as the platform said it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Reason {
    pub status: Option<u16>,
    pub code: Option<String>,
    pub correlation_id: Option<String>,
}

/// The last thing a journal says of one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record {
    /// The message request may have left, with no answer recorded.
    Attempting(Attempt),
    Sent {
        message_id: Option<String>,
    },
    /// Failed for a reason of this class; `retry`: a later run can succeed.
    Failed {
        class: String,
        retry: bool,
        reason: Reason,
    },
    /// Sent, and no answer came back.
    Unknown(Attempt),
}

/// A record and the fingerprint of the content it was written for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub record: Record,
    pub fingerprint: String,
}

/// A record, and what is kept beside it: when it was written and whom the
/// line is to (masked), when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamped {
    pub entry: Entry,
    /// Unix ms, when the record says.
    pub t: Option<u64>,
    pub to: Option<String>,
    /// The batch id, when the record says.
    pub batch: Option<String>,
}

pub(crate) fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub(crate) fn from_millis(ms: u64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}

/// The JSON of `record` for `line` of `scope` (batch `batch`, when known),
/// written at `t` (Unix ms) to `to`.
pub(crate) fn to_json(
    scope: &str,
    batch: Option<&str>,
    line: &str,
    fingerprint: &str,
    record: &Record,
    t: u64,
    to: Option<&str>,
) -> Vec<u8> {
    let mut value = json!({"scope": scope, "line": line, "fp": fingerprint});
    let fields = value.as_object_mut().expect("an object");
    let mut attempt = |state: &str, a: &Attempt| {
        fields.insert("state".into(), state.into());
        fields.insert("at".into(), millis(a.at).into());
        fields.insert("platform_at".into(), a.platform_at.map(millis).into());
        fields.insert("comm".into(), a.communication.clone().into());
        fields.insert(
            "anchor".into(),
            match &a.anchor {
                None => Value::Null,
                Some(Anchor::Empty) => json!({"id": null, "time": null}),
                Some(Anchor::Newest { id, time }) => json!({"id": id, "time": millis(*time)}),
            },
        );
    };
    match record {
        Record::Attempting(a) => attempt("attempting", a),
        Record::Unknown(a) => attempt("unknown", a),
        Record::Sent { message_id } => {
            fields.insert("state".into(), "sent".into());
            fields.insert("message_id".into(), message_id.clone().into());
        }
        Record::Failed {
            class,
            retry,
            reason,
        } => {
            fields.insert("state".into(), "failed".into());
            fields.insert("class".into(), class.clone().into());
            fields.insert("retry".into(), (*retry).into());
            fields.insert("status".into(), reason.status.into());
            fields.insert("code".into(), reason.code.clone().into());
            fields.insert(
                "correlation_id".into(),
                reason.correlation_id.clone().into(),
            );
        }
    }
    if let Some(batch) = batch {
        fields.insert("batch".into(), batch.into());
    }
    fields.insert("t".into(), t.into());
    if let Some(to) = to {
        fields.insert("to".into(), to.into());
    }
    let mut bytes = serde_json::to_vec(&value).expect("a record serializes");
    bytes.push(b'\n');
    bytes
}

/// One record: its scope, line and entry (with its time, recipient and
/// batch id, when it says them); `None` when it is damaged or not a record
/// of this version.
pub(crate) fn parse(line: &[u8]) -> Option<(String, String, Stamped)> {
    let v: Value = serde_json::from_slice(line).ok()?;
    let text = |key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let attempt = || {
        Some(Attempt {
            at: from_millis(v.get("at")?.as_u64()?)?,
            platform_at: match v.get("platform_at")? {
                Value::Null => None,
                t => Some(from_millis(t.as_u64()?)?),
            },
            communication: text("comm"),
            anchor: match v.get("anchor") {
                None | Some(Value::Null) => None,
                Some(a) => match a.get("id")? {
                    Value::Null => Some(Anchor::Empty),
                    id => Some(Anchor::Newest {
                        id: id.as_str()?.to_owned(),
                        time: from_millis(a.get("time")?.as_u64()?)?,
                    }),
                },
            },
        })
    };
    let record = match v.get("state")?.as_str()? {
        "attempting" => Record::Attempting(attempt()?),
        "unknown" => Record::Unknown(attempt()?),
        "sent" => Record::Sent {
            message_id: text("message_id"),
        },
        "failed" => Record::Failed {
            class: text("class")?,
            retry: v.get("retry")?.as_bool()?,
            reason: Reason {
                status: v
                    .get("status")
                    .and_then(Value::as_u64)
                    .and_then(|s| u16::try_from(s).ok()),
                code: text("code"),
                correlation_id: text("correlation_id"),
            },
        },
        _ => return None,
    };
    Some((
        text("scope")?,
        text("line")?,
        Stamped {
            entry: Entry {
                record,
                fingerprint: text("fp")?,
            },
            t: v.get("t").and_then(Value::as_u64),
            to: text("to"),
            batch: text("batch"),
        },
    ))
}
