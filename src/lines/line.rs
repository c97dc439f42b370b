//! One record of a batch file, shaped, as a line: its keys read as the
//! command line's flags would be, its `to` as the platform takes a phone
//! number, its identity (its own `id`, else who receives it), and its
//! request checked. Sends nothing.

use std::collections::HashMap;
use std::path::Path;

use crate::{BatchLine, SafetyPolicy, Zone, MESSAGING_MAX_TEXT_CHARS};
use serde_json::{Map, Value};

use super::read::Table;
use super::request::build_request;
use super::shape::{Shape, KEYS};
use super::{LineFlags as Args, Text};

/// A line: its number in the file (from 1), and its line (the SMS text's
/// segments, when it is one), or why it is invalid.
pub(crate) struct Parsed {
    pub number: usize,
    pub line: Result<(BatchLine, Option<super::sms::Segments>), String>,
}

/// A line's flags, as the command line would have given them; `country`:
/// the calling code and trunk prefix national numbers take.
fn line_args(
    object: &Map<String, Value>,
    dir: &Path,
    country: Option<(&str, &str)>,
) -> Result<Args, String> {
    if let Some(key) = object.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!("unknown key {key:?}"));
    }
    let text = |key: &str| -> Result<Option<String>, String> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{key} must be a string")),
        }
    };
    let agentless = text("agentless")?;
    let to = match (text("to")?, agentless.as_deref()) {
        (Some(to), Some("sms" | "apple")) => Some(super::phone::e164(&to, "to", country)?),
        // A WhatsApp id is the number without its +.
        (Some(to), Some("whatsapp")) => Some(
            super::phone::e164(&to, "to", country)?
                .trim_start_matches('+')
                .to_owned(),
        ),
        (to, _) => to,
    };
    let mut args = Args {
        conversation: text("conversation")?,
        communication: text("communication")?,
        agentless,
        from: text("from")?,
        to,
        contact: text("contact")?,
        template: text("template")?,
        attach: text("attach")?.map(|p| dir.join(p).display().to_string()),
        ..Args::default()
    };
    args.new_conversation = match object.get("new_conversation") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("new_conversation must be true or false".into()),
    };
    args.delay_ms = match object.get("delay_ms") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or("delay_ms must be a whole number of milliseconds")?,
        ),
    };
    args.texts = match object.get("text") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![Text::Literal(s.clone())],
        Some(Value::Array(blocks)) => blocks
            .iter()
            .map(|b| b.as_str().map(|s| Text::Literal(s.to_owned())))
            .collect::<Option<_>>()
            .ok_or("text must be a string or an array of strings")?,
        Some(_) => return Err("text must be a string or an array of strings".into()),
    };
    args.params = match object.get("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(params)) => params
            .iter()
            .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
            .collect::<Option<_>>()
            .ok_or("params must map names to strings")?,
        Some(_) => return Err("params must be an object".into()),
    };
    Ok(args)
}

/// The lines of `table`, shaped as the command line says. A line with an
/// `id` (or an `--id-column` cell) is known by it; any other by who
/// receives it and its rank among the lines to them, so that new wording
/// is not a new line. `zone`: the `--tz` a line's `valid_until` of `HH:MM`
/// is read in when the line gives none.
pub(crate) fn lines(
    table: Table,
    shape: &Shape,
    dir: &Path,
    policy: &SafetyPolicy,
    country: Option<(&str, &str)>,
    zone: Option<&Zone>,
) -> Vec<Parsed> {
    let csv = table.columns.is_some();
    // Explicit ids, with the line that gave each first.
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut parsed = Vec::with_capacity(table.records.len());
    for record in table.records {
        let line = (|| {
            let mut object = shape.apply(record.fields?, csv)?;
            let id = match object.remove("id") {
                None | Some(Value::Null) => None,
                Some(Value::String(id)) if !id.trim().is_empty() => Some(id),
                Some(_) => return Err("id must be a non-empty string".to_owned()),
            };
            if let Some(id) = &id {
                if let Some(first) = ids.get(id) {
                    return Err(format!(
                        "id {id:?} is given twice (line {first} has it): each line needs its own"
                    ));
                }
                ids.insert(id.clone(), record.number);
            }
            let args = line_args(&object, dir, country)?;
            let request = build_request(&args)?;
            let prepared = request
                .prepare(MESSAGING_MAX_TEXT_CHARS, policy)
                .map_err(|e| batch_words(&e.to_string()))?;
            let sms = (args.agentless.as_deref() == Some("sms"))
                .then(|| text_of(prepared.body()))
                .flatten()
                .map(|t| super::sms::segments(&t));
            let line = match id {
                Some(id) => BatchLine::new(id, request),
                None => BatchLine::by_recipient(request),
            };
            let line = super::rules::line_rules(line, &mut object, zone)?;
            Ok((line, sms))
        })();
        parsed.push(Parsed {
            number: record.number,
            line,
        });
    }
    parsed
}

/// The library's names for a line's fields, and the line's keys.
const LINE_WORDS: &[(&str, &str)] = &[
    ("conversation_id", "conversation"),
    ("communication_id", "communication"),
    ("external_contact_id", "contact"),
    ("deployment_id", "from (the deployment id)"),
    ("integration_id", "from (the integration id)"),
    ("from_address", "from"),
    ("to_address", "to"),
    ("response_id", "template"),
];

/// A library error's words as a batch line's keys say them.
fn batch_words(message: &str) -> String {
    LINE_WORDS
        .iter()
        .fold(message.to_owned(), |m, (library, line)| {
            m.replace(library, line)
        })
}

/// The `textBody` of a message body.
fn text_of(body: &str) -> Option<String> {
    let body: Value = serde_json::from_str(body).ok()?;
    body.get("textBody")?.as_str().map(str::to_owned)
}
