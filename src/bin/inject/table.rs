//! A batch file's records, and what the command line adds to each: JSON
//! Lines or CSV (RFC 4180, a header row, when the file ends in `.csv`) in;
//! one line object each out, with its columns renamed (`--to-column`
//! ...), its text made from a template (a TEXT beside `--batch`, with
//! `{column}` placeholders) and the route and content flags beside
//! `--batch` as defaults (a line's own key wins). Reads and shapes; sends
//! nothing.

use serde_json::{Map, Value};

use crate::args::{Args, Text};

/// One record of the batch file: the line it starts on (from 1) and its
/// fields, or why it cannot be read.
pub(crate) struct Record {
    pub number: usize,
    pub fields: Result<Map<String, Value>, String>,
}

/// The records of `bytes`: CSV when `csv`, else JSON Lines (a UTF-8
/// byte-order mark at the start skipped either way; blank JSON lines
/// skipped; LF or CRLF).
pub(crate) fn records(bytes: &[u8], csv: bool) -> Vec<Record> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if csv {
        return csv_records(bytes);
    }
    let mut records = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.trim_ascii().is_empty() {
            continue;
        }
        let fields = std::str::from_utf8(raw)
            .map_err(|e| {
                format!(
                    "not valid UTF-8 (at byte {} of the line): nothing of it is sent",
                    e.valid_up_to() + 1
                )
            })
            .and_then(|raw| {
                match serde_json::from_str(raw).map_err(|e| format!("not a JSON object: {e}"))? {
                    Value::Object(object) => Ok(object),
                    _ => Err("not a JSON object".to_owned()),
                }
            });
        records.push(Record {
            number: i + 1,
            fields,
        });
    }
    records
}

/// CSV rows as records of their non-empty cells, keyed by the header.
fn csv_records(bytes: &[u8]) -> Vec<Record> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes);
    let headers = match reader.byte_headers() {
        Ok(headers) => headers.clone(),
        Err(e) => {
            return vec![Record {
                number: 1,
                fields: Err(format!("the header row cannot be read: {e}")),
            }]
        }
    };
    let names: Vec<Result<String, usize>> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| String::from_utf8(h.to_vec()).map_err(|_| i + 1))
        .collect();
    // The line (from 1) a byte offset is on: csv's own line count differs
    // between LF and CRLF files.
    // (After a CR, csv may place a record at the LF that ends its line.)
    let line_at = |byte: u64| {
        let mut end = usize::try_from(byte).unwrap_or(usize::MAX).min(bytes.len());
        while matches!(bytes.get(end), Some(b'\r' | b'\n')) {
            end += 1;
        }
        bytes[..end].iter().filter(|&&b| b == b'\n').count() + 1
    };
    let mut records = Vec::new();
    for row in reader.byte_records() {
        let (number, fields) = match row {
            Err(e) => (
                line_at(e.position().map_or(0, |p| p.byte())),
                Err(format!("not a CSV row: {e}")),
            ),
            Ok(row) => {
                let number = line_at(row.position().map_or(0, |p| p.byte()));
                let fields = names
                    .iter()
                    .zip(row.iter())
                    .filter(|(_, cell)| !cell.is_empty())
                    .map(|(name, cell)| {
                        let name = name
                            .clone()
                            .map_err(|n| format!("header {n} is not valid UTF-8"))?;
                        let cell = std::str::from_utf8(cell)
                            .map_err(|_| format!("column {name:?} is not valid UTF-8"))?;
                        Ok((name, Value::String(cell.to_owned())))
                    })
                    .collect::<Result<Map<_, _>, String>>();
                (number, fields)
            }
        };
        records.push(Record { number, fields });
    }
    records
}

/// The keys a line may have.
pub(crate) const KEYS: &[&str] = &[
    "conversation",
    "communication",
    "agentless",
    "from",
    "to",
    "contact",
    "new_conversation",
    "text",
    "template",
    "params",
    "attach",
    "delay_ms",
    "id",
];

/// What the command line adds to every record.
#[derive(Default)]
pub(crate) struct Shape {
    /// (line key, column): the column that holds the key.
    columns: Vec<(&'static str, String)>,
    /// The TEXT beside `--batch`: `{column}` placeholders.
    template: Option<String>,
    /// The route and content flags beside `--batch`.
    defaults: Map<String, Value>,
}

impl Shape {
    /// The shape `args` give; an error is a usage error.
    pub fn from_args(args: &Args) -> Result<Shape, String> {
        let mut shape = Shape::default();
        for (key, column) in [
            ("to", &args.to_column),
            ("conversation", &args.conversation_column),
            ("contact", &args.contact_column),
        ] {
            if let Some(column) = column {
                shape.columns.push((key, column.clone()));
            }
        }
        let mut template = String::new();
        for text in &args.texts {
            let Text::Literal(text) = text else {
                return Err("a batch's template cannot come from standard input".into());
            };
            // As the command line's words meet: with a space.
            let glued = template
                .chars()
                .next_back()
                .is_some_and(|c| !c.is_whitespace())
                && text.chars().next().is_some_and(|c| !c.is_whitespace());
            if glued {
                template.push(' ');
            }
            template.push_str(text);
        }
        if !args.texts.is_empty() {
            render(&template, &Map::new(), true)?;
            shape.template = Some(template);
        }
        let string = |v: &Option<String>| v.clone().map(Value::String);
        let attach = args.attach.as_ref().map(|p| {
            let path = std::path::Path::new(p);
            let path = std::env::current_dir().map_or_else(|_| path.to_owned(), |d| d.join(path));
            Value::String(path.display().to_string())
        });
        for (key, value) in [
            ("conversation", string(&args.conversation)),
            ("communication", string(&args.communication)),
            ("agentless", string(&args.agentless)),
            ("from", string(&args.from)),
            ("to", string(&args.to)),
            ("contact", string(&args.contact)),
            ("template", string(&args.template)),
            ("attach", attach),
            ("delay_ms", args.delay_ms.map(Value::from)),
            (
                "new_conversation",
                args.new_conversation.then_some(Value::Bool(true)),
            ),
        ] {
            if let Some(value) = value {
                shape.defaults.insert(key.into(), value);
            }
        }
        Ok(shape)
    }

    /// The line object of `fields`: columns renamed, the template filled,
    /// the defaults under it. From CSV (`csv`), cells are text: the
    /// columns that are not line keys serve the template only, and
    /// `new_conversation` and `delay_ms` are read from their text.
    pub fn apply(
        &self,
        mut fields: Map<String, Value>,
        csv: bool,
    ) -> Result<Map<String, Value>, String> {
        for (key, column) in &self.columns {
            let value = fields
                .get(column)
                .cloned()
                .ok_or_else(|| format!("column {column:?} (--{key}-column) is missing"))?;
            fields.insert((*key).to_owned(), value);
        }
        let mut line = Map::new();
        if let Some(template) = &self.template {
            if !fields.contains_key("text") {
                line.insert(
                    "text".into(),
                    Value::String(render(template, &fields, false)?),
                );
            }
        }
        for (key, value) in fields {
            let known = KEYS.contains(&key.as_str());
            // A template's variables are not line keys; without a template
            // an unknown key stays, for the line's own check to name.
            if known || (!csv && self.template.is_none()) {
                line.insert(key, value);
            }
        }
        if csv {
            if let Some(Value::String(b)) = line.get("new_conversation") {
                let b = match b.trim().to_ascii_lowercase().as_str() {
                    "true" | "yes" | "1" => true,
                    "false" | "no" | "0" => false,
                    _ => return Err(format!("new_conversation must be true or false, not {b:?}")),
                };
                line.insert("new_conversation".into(), Value::Bool(b));
            }
            if let Some(Value::String(ms)) = line.get("delay_ms") {
                let ms: u64 = ms.trim().parse().map_err(|_| {
                    format!("delay_ms must be a whole number of milliseconds, not {ms:?}")
                })?;
                line.insert("delay_ms".into(), Value::from(ms));
            }
        }
        for (key, value) in &self.defaults {
            line.entry(key.clone()).or_insert_with(|| value.clone());
        }
        Ok(line)
    }
}

/// `template` with each `{name}` replaced by `fields[name]` (`{{` and `}}`
/// are braces); `check`: only its syntax is checked.
fn render(template: &str, fields: &Map<String, Value>, check: bool) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{") {
            out.push('{');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            out.push('}');
            rest = after;
        } else if let Some(after) = tail.strip_prefix('{') {
            let end = after
                .find('}')
                .ok_or("the template has a { with no } (write {{ for a brace)")?;
            let name = &after[..end];
            if name.is_empty() || name.contains('{') {
                return Err(format!(
                    "the template's placeholder {{{name}}} is not a column name"
                ));
            }
            if !check {
                match fields.get(name) {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(v @ (Value::Number(_) | Value::Bool(_))) => out.push_str(&v.to_string()),
                    _ => {
                        return Err(format!(
                        "the template's placeholder {{{name}}} has no value: no column {name:?}"
                    ))
                    }
                }
            }
            rest = &after[end + 1..];
        } else {
            return Err("the template has a } with no { (write }} for a brace)".into());
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_commas_and_line_breaks_and_a_header_only() {
        let csv = b"\xEF\xBB\xBFphone,name,note\r\n+13175551234,\"Smith, Ada\",\"two\nlines\"\r\n+13175555678,\"Say \"\"hi\"\"\",\r\n";
        let rows = records(csv, true);
        assert_eq!(rows.len(), 2);
        let first = rows[0].fields.as_ref().unwrap();
        assert_eq!(first["name"], "Smith, Ada");
        assert_eq!(first["note"], "two\nlines");
        assert_eq!(rows[0].number, 2);
        let second = rows[1].fields.as_ref().unwrap();
        assert_eq!(second["name"], "Say \"hi\"");
        assert!(!second.contains_key("note"), "an empty cell is absent");
        assert_eq!(rows[1].number, 4, "the row after a quoted line break");
        assert!(records(b"phone,name\n", true).is_empty());
        // LF, as CRLF: the line a row starts on.
        let rows = records(b"phone,name\n+1,Ada\n+2,Lin\n", true);
        assert_eq!(rows.iter().map(|r| r.number).collect::<Vec<_>>(), [2, 3]);
        // A row with more cells than the header: named by its line.
        let rows = records(b"a,b\n1,2\n1,2,3\n", true);
        assert!(rows[1].fields.is_err());
        assert_eq!(rows[1].number, 3);
    }

    #[test]
    fn templates() {
        let mut fields = Map::new();
        fields.insert("name".into(), "Ada".into());
        fields.insert("n".into(), 3.into());
        assert_eq!(
            render("Hi {name}, {n} {{items}}", &fields, false).unwrap(),
            "Hi Ada, 3 {items}"
        );
        assert!(render("Hi {nobody}", &fields, false)
            .unwrap_err()
            .contains("nobody"));
        assert!(render("Hi {name", &fields, true).is_err());
        assert!(render("Hi }", &fields, true).is_err());
        assert!(render("{}", &fields, true).is_err());
    }
}
