//! What the command line adds to every record of a batch file: columns
//! renamed to line keys (`--to-column` ...), the text made from a template
//! (a TEXT beside `--batch`, with `{column}` placeholders) or taken from a
//! column (`--text-column`), and the route and content flags beside
//! `--batch` as defaults (a line's own key wins). And the mistakes of the
//! whole file, said once before any row: a column the flags name that the
//! header lacks, a placeholder no column fills, no text at all, and a
//! column that would speak for the command line without a word (a `text`
//! column beside a template, a `from` column beside `--from`). Shapes;
//! sends nothing.

use serde_json::{Map, Value};

use super::{LineFlags as Args, Text};

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
    "send_window",
    "tz",
    "valid_until",
];

/// What the command line adds to every record.
#[derive(Default)]
pub(crate) struct Shape {
    /// (line key, column, flag): the column that holds the key.
    columns: Vec<(&'static str, String, &'static str)>,
    /// The TEXT beside `--batch`: `{column}` placeholders.
    template: Option<String>,
    /// The template's placeholders.
    placeholders: Vec<String>,
    /// The route and content flags beside `--batch`.
    defaults: Map<String, Value>,
    /// The line keys the command line gives, and how.
    given: Vec<(&'static str, &'static str)>,
}

impl Shape {
    /// The shape `args` give; an error is a usage error.
    pub fn from_args(args: &Args) -> Result<Shape, String> {
        let mut shape = Shape::default();
        for (key, column, flag) in [
            ("to", &args.to_column, "--to-column"),
            (
                "conversation",
                &args.conversation_column,
                "--conversation-column",
            ),
            ("contact", &args.contact_column, "--contact-column"),
            ("id", &args.id_column, "--id-column"),
            ("text", &args.text_column, "--text-column"),
            ("tz", &args.tz_column, "--tz-column"),
        ] {
            if let Some(column) = column {
                shape.columns.push((key, column.clone(), flag));
                shape.given.push((key, flag));
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
            if args.text_column.is_some() {
                return Err(
                    "--text-column takes the text from a column: give no TEXT template beside it"
                        .into(),
                );
            }
            shape.placeholders = placeholders(&template)?;
            shape.template = Some(template);
            shape.given.push(("text", "the TEXT template"));
        }
        let string = |v: &Option<String>| v.clone().map(Value::String);
        let attach = args.attach.as_ref().map(|p| {
            let path = std::path::Path::new(p);
            let path = std::env::current_dir().map_or_else(|_| path.to_owned(), |d| d.join(path));
            Value::String(path.display().to_string())
        });
        for (key, flag, value) in [
            ("conversation", "--conversation", string(&args.conversation)),
            (
                "communication",
                "--communication",
                string(&args.communication),
            ),
            ("agentless", "--agentless", string(&args.agentless)),
            ("from", "--from", string(&args.from)),
            ("to", "--to", string(&args.to)),
            ("contact", "--contact", string(&args.contact)),
            ("template", "--template", string(&args.template)),
            ("attach", "--attach", attach),
            ("delay_ms", "--delay-ms", args.delay_ms.map(Value::from)),
            (
                "new_conversation",
                "--new-conversation",
                args.new_conversation.then_some(Value::Bool(true)),
            ),
        ] {
            if let Some(value) = value {
                shape.defaults.insert(key.into(), value);
                shape.given.push((key, flag));
            }
        }
        Ok(shape)
    }

    /// The mistakes of the whole file, said once, before any row: a CSV
    /// header (`columns`) without a column the flags name or a placeholder
    /// needs, with a column named like a key the command line gives, or
    /// with nowhere for the text to come from. (JSON Lines: none to check.)
    pub fn check(&self, columns: Option<&[String]>) -> Result<(), String> {
        let Some(columns) = columns else {
            return Ok(());
        };
        let listed = columns.join(", ");
        let near = |name: &str| {
            columns
                .iter()
                .find(|c| c.eq_ignore_ascii_case(name))
                .map_or_else(String::new, |c| {
                    format!(" (a column {c:?} differs only in case)")
                })
        };
        for (_, column, flag) in &self.columns {
            if !columns.contains(column) {
                return Err(format!(
                    "column {column:?} ({flag}) is not in the file's header{}; its columns: {listed}",
                    near(column)
                ));
            }
        }
        for column in columns {
            let Some((key, how)) = self.given.iter().find(|(key, _)| *key == column) else {
                continue;
            };
            let named = self.columns.iter().any(|(k, c, _)| k == key && c == column);
            if !named {
                let column_flag =
                    ["to", "conversation", "contact", "id", "text", "tz"].contains(key);
                let way_out = if column_flag {
                    format!("take the {key} from it on purpose with --{key}-column {column}")
                } else {
                    format!("give no {how}, and the column gives each line's {key}")
                };
                return Err(format!(
                    "column {column:?} is named like the line key {key}, which {how} gives: it would speak for the command line without a word. Rename the column, or {way_out}"
                ));
            }
        }
        for name in &self.placeholders {
            if !columns.contains(name) {
                return Err(format!(
                    "the template's {{{name}}} is not a column of the file{}; its columns: {listed}",
                    near(name)
                ));
            }
        }
        let has = |key: &str| {
            columns.iter().any(|c| c == key)
                || self.defaults.contains_key(key)
                || self.columns.iter().any(|(k, ..)| *k == key)
        };
        if self.template.is_none() && !has("text") && !has("template") && !has("attach") {
            return Err(format!(
                "the lines have no text: give the message as a TEXT template ({{column}} placeholders), or --text-column NAME; the file's columns: {listed}"
            ));
        }
        Ok(())
    }

    /// The line object of `fields`: columns renamed, the template filled,
    /// the defaults under it. From CSV (`csv`), cells are text: the
    /// columns that are not line keys serve the template only, an empty
    /// cell is no value, and `new_conversation` and `delay_ms` are read
    /// from their text. From JSON with a template, a key that is neither a
    /// line key nor one of its placeholders is refused.
    pub fn apply(
        &self,
        fields: Map<String, Value>,
        csv: bool,
    ) -> Result<Map<String, Value>, String> {
        let mut line = Map::new();
        for (key, column, flag) in &self.columns {
            match fields.get(column) {
                None => return Err(format!("column {column:?} ({flag}) is missing")),
                // No zone: the batch's, or the number's area code's.
                Some(Value::String(s)) if s.trim().is_empty() && *key == "tz" => {}
                Some(Value::String(s)) if s.trim().is_empty() => {
                    return Err(format!("column {column:?} ({flag}) is empty"))
                }
                Some(value) => {
                    line.insert((*key).to_owned(), value.clone());
                }
            }
        }
        if let Some(template) = &self.template {
            if !fields.contains_key("text") || csv {
                line.insert("text".into(), Value::String(render(template, &fields)?));
            }
        }
        let named = |name: &str| self.columns.iter().any(|(_, c, _)| c == name);
        for (key, value) in fields {
            let known = KEYS.contains(&key.as_str());
            if named(&key) || line.contains_key(&key) {
                continue;
            }
            if csv {
                // Columns that are not line keys serve the template; an
                // empty cell is no value.
                let empty = matches!(&value, Value::String(s) if s.trim().is_empty());
                if known && !empty {
                    line.insert(key, value);
                }
            } else if known || self.template.is_none() {
                // Without a template an unknown key stays, for the line's
                // own check to name.
                line.insert(key, value);
            } else if !self.placeholders.contains(&key) {
                return Err(format!(
                    "unknown key {key:?}: neither a line key nor a placeholder of the template"
                ));
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

/// The placeholders of `template` (`{{` and `}}` are braces); `Err` when
/// its syntax is wrong.
fn placeholders(template: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    each_part(template, |part| {
        if let Part::Placeholder(name) = part {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
        Ok(())
    })?;
    Ok(names)
}

enum Part<'a> {
    Literal(&'a str),
    Placeholder(&'a str),
}

/// Calls `each` with the template's parts in order.
fn each_part<'a>(
    template: &'a str,
    mut each: impl FnMut(Part<'a>) -> Result<(), String>,
) -> Result<(), String> {
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        each(Part::Literal(&rest[..i]))?;
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{") {
            each(Part::Literal("{"))?;
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            each(Part::Literal("}"))?;
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
            each(Part::Placeholder(name))?;
            rest = &after[end + 1..];
        } else {
            return Err("the template has a } with no { (write }} for a brace)".into());
        }
    }
    each(Part::Literal(rest))
}

/// `template` with each `{name}` replaced by `fields[name]`.
fn render(template: &str, fields: &Map<String, Value>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 32);
    each_part(template, |part| {
        match part {
            Part::Literal(text) => out.push_str(text),
            Part::Placeholder(name) => match fields.get(name) {
                Some(Value::String(s)) if s.trim().is_empty() => {
                    return Err(format!(
                        "column {name:?} (the template's {{{name}}}) is empty"
                    ))
                }
                Some(Value::String(s)) => out.push_str(s),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => out.push_str(&v.to_string()),
                _ => {
                    return Err(format!(
                        "the template's placeholder {{{name}}} has no value: no column {name:?}"
                    ))
                }
            },
        }
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let mut fields = Map::new();
        fields.insert("name".into(), "Ada".into());
        fields.insert("n".into(), 3.into());
        fields.insert("blank".into(), "".into());
        assert_eq!(
            render("Hi {name}, {n} {{items}}", &fields).unwrap(),
            "Hi Ada, 3 {items}"
        );
        assert!(render("Hi {nobody}", &fields)
            .unwrap_err()
            .contains("nobody"));
        assert!(render("Hi {blank}", &fields)
            .unwrap_err()
            .contains("is empty"));
        assert_eq!(placeholders("{a} {b} {a} {{c}}").unwrap(), ["a", "b"]);
        assert!(placeholders("Hi {name").is_err());
        assert!(placeholders("Hi }").is_err());
        assert!(placeholders("{}").is_err());
    }

    /// The flags `args` give, as `inject` reads them: `--name VALUE`
    /// pairs, and bare words as TEXT blocks.
    fn shape(args: &[&str]) -> Result<Shape, String> {
        let mut flags = Args::default();
        let mut words = args.iter();
        while let Some(word) = words.next() {
            let Some(name) = word.strip_prefix("--") else {
                flags.texts.push(Text::Literal((*word).to_owned()));
                continue;
            };
            let value = words.next().map(|v| (*v).to_owned());
            match name {
                "agentless" => flags.agentless = value,
                "from" => flags.from = value,
                "to" => flags.to = value,
                "conversation" => flags.conversation = value,
                "to-column" => flags.to_column = value,
                "text-column" => flags.text_column = value,
                "id-column" => flags.id_column = value,
                "tz-column" => flags.tz_column = value,
                other => panic!("--{other}: not a flag these tests give"),
            }
        }
        Shape::from_args(&flags)
    }

    fn columns(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn a_mistake_of_the_whole_file_is_said_once_by_the_header() {
        let with = |extra: &[&'static str]| -> Vec<&'static str> {
            [&["--agentless", "sms", "--from", "+18005550100"][..], extra].concat()
        };
        // A column the flags name is not there: the columns, and the near one.
        let s = shape(&with(&["--to-column", "Phone", "Hi {name}"])).unwrap();
        let err = s.check(Some(&columns(&["phone", "name"]))).unwrap_err();
        assert!(
            err.contains("\"Phone\" (--to-column)")
                && err.contains("\"phone\" differs only in case"),
            "{err}"
        );
        // A notes column named text beside a template; from beside --from.
        for (header, word) in [(["phone", "text"], "text"), (["phone", "from"], "from")] {
            let s = shape(&with(&["--to-column", "phone", "Hi"])).unwrap();
            let err = s.check(Some(&columns(&header))).unwrap_err();
            assert!(
                err.contains(&format!(
                    "column {word:?} is named like the line key {word}"
                )),
                "{err}"
            );
            let way_out = if word == "text" {
                "--text-column text"
            } else {
                "give no --from"
            };
            assert!(err.contains(way_out), "{err}");
        }
        // The text from a column on purpose: fine.
        let s = shape(&with(&["--to-column", "phone", "--text-column", "text"])).unwrap();
        s.check(Some(&columns(&["phone", "text"]))).unwrap();
        // A placeholder no column fills; no text at all.
        let s = shape(&with(&["--to-column", "phone", "Hi {nmae}"])).unwrap();
        assert!(s
            .check(Some(&columns(&["phone", "name"])))
            .unwrap_err()
            .contains("{nmae}"));
        let s = shape(&with(&["--to-column", "phone"])).unwrap();
        assert!(s
            .check(Some(&columns(&["phone", "name"])))
            .unwrap_err()
            .contains("no text"));
        // JSON Lines: nothing to check by a header.
        assert!(s.check(None).is_ok());
    }

    #[test]
    fn with_a_template_a_json_key_that_is_no_placeholder_is_refused() {
        let s = shape(&[
            "--conversation",
            "ec35f2a8-289b-42d4-8893-c50eaf81a3c1",
            "Hi {name}",
        ])
        .unwrap();
        let line: Map<String, Value> =
            serde_json::from_str(r#"{"conversaton": "x", "name": "Ada"}"#).unwrap();
        let err = s.apply(line, false).unwrap_err();
        assert!(err.contains("unknown key \"conversaton\""), "{err}");
        let line: Map<String, Value> = serde_json::from_str(r#"{"name": "Ada"}"#).unwrap();
        assert_eq!(s.apply(line, false).unwrap()["text"], "Hi Ada");
    }
}
