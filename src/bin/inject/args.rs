//! The command line, parsed with lexopt: `OsString`s in, so that an
//! argument that is not UTF-8 is reported by its position, not mangled.
//! One place decides each flag's policy: a repeated flag (but `--param`),
//! an unknown one, a flag of the other route or a value that is really the
//! next flag are usage errors, never last-wins or swallowed.

use std::collections::HashSet;
use std::ffi::OsString;

use lexopt::Arg;

/// What was asked for on the command line.
#[derive(Default)]
pub(crate) struct Args {
    pub conversation: Option<String>,
    pub communication: Option<String>,
    pub agentless: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub contact: Option<String>,
    pub new_conversation: bool,
    pub delay_ms: Option<u64>,
    pub dry_run: bool,
    pub json: bool,
    pub state_dir: Option<String>,
    pub no_state: bool,
    pub wait_secs: Option<u64>,
    pub resolve: bool,
    pub template: Option<String>,
    pub params: Vec<(String, String)>,
    pub attach: Option<String>,
    pub ca_file: Option<String>,
    /// `--rate N`: API requests a minute.
    pub rate: Option<u64>,
    /// `--batch FILE`: JSON Lines, one message a line (`-`: standard input).
    pub batch: Option<String>,
    pub batch_id: Option<String>,
    pub journal: Option<String>,
    pub skip_invalid: bool,
    pub resend_unknown: bool,
    pub retry_failed: bool,
    /// `--parallel N`: a batch's lines in flight at once.
    pub parallel: Option<u64>,
    /// `--deadline SECS`: a batch sends no new line after this long.
    pub deadline: Option<u64>,
    /// `--settle-time SECS`: how long the platform may take to list a
    /// message (a look proves it absent only after this).
    pub settle_time: Option<u64>,
    /// `--progress`: the progress line even when standard error is not a
    /// terminal.
    pub progress: bool,
    pub texts: Vec<Text>,
    /// Whether two TEXT blocks that meet with no white space on either
    /// side get a space between them: the command line's words (as a shell
    /// user typed them), not a batch line's blocks (joined as given).
    pub spaced_texts: bool,
    /// `--safety-rules FILE`: the content rules, one a line.
    pub safety_rules: Option<String>,
    /// `--no-safety-rules`: no content rules at all.
    pub no_safety_rules: bool,
    /// `--to-column NAME` (and the conversation's and contact's): the CSV
    /// column that holds a line's `to`.
    pub to_column: Option<String>,
    pub conversation_column: Option<String>,
    pub contact_column: Option<String>,
    /// `--id-column NAME`: the CSV column (or JSON key) that holds each
    /// line's id.
    pub id_column: Option<String>,
    /// `--text-column NAME`: the CSV column that holds each line's text.
    pub text_column: Option<String>,
    /// `--csv-delimiter C`: the CSV file's delimiter (else found from its
    /// header).
    pub csv_delimiter: Option<String>,
    /// `--default-country CC`: the country of national phone numbers.
    pub default_country: Option<String>,
    /// `--metrics-file FILE`: the run's metrics, node-exporter's textfile
    /// format.
    pub metrics_file: Option<String>,
    /// `--metrics-label NAME=VALUE` (repeatable): labels on every series.
    pub metrics_labels: Vec<(String, String)>,
    /// `--audit-log FILE`: each audit record appended as a JSON line.
    pub audit_log: Option<String>,
    /// `--no-typing`: no typing indicator before the message.
    pub no_typing: bool,
    /// `--sender-rate N`: SMS a second from each sender number.
    pub sender_rate: Option<f64>,
    /// `--send-window HH:MM-HH:MM`: a batch line goes only inside it, in
    /// its recipient's local time.
    pub send_window: Option<String>,
    /// `--tz ZONE`: the zone of lines without their own.
    pub tz: Option<String>,
    /// `--tz-column NAME`: the column that holds each line's zone.
    pub tz_column: Option<String>,
    /// `--wait-for-window`: keep the run until deferred lines' window
    /// opens (within `--deadline`).
    pub wait_for_window: bool,
    /// `--valid-until TIME`: lines past it expire.
    pub valid_until: Option<String>,
    /// `--suppress FILE` (repeatable): recipients never sent to.
    pub suppress: Vec<String>,
    /// `--suppress-column NAME`: the column of a CSV suppression list.
    pub suppress_column: Option<String>,
    /// `--min-gap DURATION`: the least time between two messages to one
    /// recipient, in seconds.
    pub min_gap: Option<u64>,
    /// `inject journal`: what the state directory's journals say.
    pub journal_view: bool,
    /// `--keep-journals DAYS`: how long a batch's journal remembers a line.
    pub keep_journals: Option<u64>,
    /// `-q`: no log lines and no notes, only the result or the error.
    pub quiet: bool,
    /// `-v`: the library's info lines too (each retry, each pause).
    pub verbose: bool,
}

pub(crate) use genesys_inject::lines::Text;

/// What the command line asks for.
pub(crate) enum Parsed {
    /// `-h` (`long`: false), `--help` (true).
    Help {
        long: bool,
    },
    /// `--generate KIND`: a man page or a shell completion.
    Generate(String),
    /// `-V`, `--version`.
    Version,
    Run(Box<Args>),
}

/// Sets `slot` once: a repeated flag is a usage error, not last-wins.
fn once<T>(slot: &mut Option<T>, flag: &str, value: T) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("{flag} is given twice"));
    }
    *slot = Some(value);
    Ok(())
}

/// A flag's whole-number value.
fn number(flag: &str, value: String, unit: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} takes {unit}, not {value:?}"))
}

/// lexopt's parser, and how many raw arguments it has read: messages name
/// an argument by its position, and quote it whole.
struct Cursor {
    parser: lexopt::Parser,
    read: usize,
}

impl Cursor {
    /// The next raw argument, not yet read; an error if it is not UTF-8.
    fn peek(&mut self) -> Result<Option<String>, String> {
        let position = self.read + 1;
        let Some(raw) = self.parser.try_raw_args() else {
            return Ok(None);
        };
        match raw.peek() {
            None => Ok(None),
            Some(arg) => arg
                .to_str()
                .map(|s| Some(s.to_owned()))
                .ok_or_else(|| format!("argument {position} is not valid UTF-8")),
        }
    }

    /// Every raw argument left, as texts (after `--`).
    fn rest(&mut self) -> Result<Vec<String>, String> {
        let mut texts = Vec::new();
        let raw: Vec<OsString> = self.parser.raw_args().map_err(|e| e.to_string())?.collect();
        for arg in raw {
            self.read += 1;
            let position = self.read;
            texts.push(
                arg.into_string()
                    .map_err(|_| format!("argument {position} is not valid UTF-8"))?,
            );
        }
        Ok(texts)
    }

    /// The value of `--batch`: a file, or `-` (standard input).
    fn batch_value(&mut self, flag: &str) -> Result<String, String> {
        if self.peek()?.as_deref() == Some("-") {
            self.read += 1;
            return self
                .parser
                .value()
                .map(|_| "-".to_owned())
                .map_err(|e| e.to_string());
        }
        self.value(flag)
    }

    /// The value of `flag`: the next argument, which must not look like a
    /// flag.
    fn value(&mut self, flag: &str) -> Result<String, String> {
        match self.peek()? {
            None => return Err(format!("{flag} needs a value")),
            Some(next) if next.starts_with('-') => {
                return Err(format!(
                    "{flag} needs a value, but the next argument is {next:?}"
                ))
            }
            Some(_) => self.read += 1,
        }
        let value = self.parser.value().map_err(|e| e.to_string())?;
        value
            .into_string()
            .map_err(|_| format!("argument {} is not valid UTF-8", self.read))
    }
}

/// Parses the arguments (without the program's name). A first argument
/// `journal` is the `inject journal` command (a TEXT `journal` goes after
/// `--`, or after the flags).
pub(crate) fn parse_args(mut raw: Vec<OsString>) -> Result<Parsed, String> {
    let mut args = Args::default();
    if raw.first().is_some_and(|a| a == "journal") {
        raw.remove(0);
        args.journal_view = true;
    }
    let mut cursor = Cursor {
        parser: lexopt::Parser::from_args(raw),
        read: 0,
    };
    let mut seen = HashSet::new();
    let mut stdin_seen = false;
    let unknown =
        |raw: &str| format!("unknown option {raw} (a TEXT that starts with - goes after --)");
    loop {
        let raw = cursor.peek()?;
        if raw.as_deref() == Some("--") {
            // Taken raw: lexopt's own `--` handling would read on.
            cursor.read += 1;
            if let Some(mut raw) = cursor.parser.try_raw_args() {
                raw.next();
            }
            args.texts
                .extend(cursor.rest()?.into_iter().map(Text::Literal));
            break;
        }
        let Some(arg) = cursor.parser.next().map_err(|e| e.to_string())? else {
            break;
        };
        cursor.read += 1;
        let raw = raw.unwrap_or_default();
        let name = match arg {
            Arg::Value(value) => {
                let text = value
                    .into_string()
                    .map_err(|_| format!("argument {} is not valid UTF-8", cursor.read))?;
                if text == "-" {
                    if stdin_seen {
                        return Err("- is given twice: standard input is read once".into());
                    }
                    stdin_seen = true;
                    args.texts.push(Text::Stdin);
                } else {
                    args.texts.push(Text::Literal(text));
                }
                continue;
            }
            // Only `-h` and `-V` are short, and never in a cluster.
            Arg::Short('h') if raw == "-h" => return Ok(Parsed::Help { long: false }),
            Arg::Short('V') if raw == "-V" => return Ok(Parsed::Version),
            Arg::Short('q') if raw == "-q" => "quiet".to_owned(),
            Arg::Short('v') if raw == "-v" => "verbose".to_owned(),
            Arg::Short(_) => return Err(unknown(&raw)),
            Arg::Long(name) => name.to_owned(),
        };
        let flag = format!("--{name}");
        // `--flag=VALUE` is not a form this command takes (as before lexopt).
        if raw.contains('=') {
            return Err(unknown(&raw));
        }
        // --param, --suppress and --metrics-label are given once each.
        let repeatable = ["param", "suppress", "metrics-label"].contains(&name.as_str());
        if !repeatable && !seen.insert(flag.clone()) {
            return Err(format!("{flag} is given twice"));
        }
        let switch = |on: &mut bool| -> Result<(), String> {
            *on = true;
            Ok(())
        };
        match name.as_str() {
            "help" => return Ok(Parsed::Help { long: true }),
            "generate" => return Ok(Parsed::Generate(cursor.value(&flag)?)),
            "version" => return Ok(Parsed::Version),
            "conversation" => once(&mut args.conversation, &flag, cursor.value(&flag)?)?,
            "communication" => once(&mut args.communication, &flag, cursor.value(&flag)?)?,
            "agentless" => once(&mut args.agentless, &flag, cursor.value(&flag)?)?,
            "from" => once(&mut args.from, &flag, cursor.value(&flag)?)?,
            "to" => once(&mut args.to, &flag, cursor.value(&flag)?)?,
            "contact" => once(&mut args.contact, &flag, cursor.value(&flag)?)?,
            "new-conversation" => switch(&mut args.new_conversation)?,
            "delay-ms" => {
                let ms = number(&flag, cursor.value(&flag)?, "milliseconds")?;
                once(&mut args.delay_ms, &flag, ms)?
            }
            "state-dir" => once(&mut args.state_dir, &flag, cursor.value(&flag)?)?,
            "wait" => {
                let secs = number(&flag, cursor.value(&flag)?, "seconds")?;
                once(&mut args.wait_secs, &flag, secs)?
            }
            "resolve" => switch(&mut args.resolve)?,
            "template" => once(&mut args.template, &flag, cursor.value(&flag)?)?,
            "param" => {
                let v = cursor.value(&flag)?;
                let (name, value) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--param takes NAME=VALUE, not {v:?}"))?;
                args.params.push((name.to_owned(), value.to_owned()));
            }
            "attach" => once(&mut args.attach, &flag, cursor.value(&flag)?)?,
            "ca-file" => once(&mut args.ca_file, &flag, cursor.value(&flag)?)?,
            "safety-rules" => once(&mut args.safety_rules, &flag, cursor.value(&flag)?)?,
            "no-safety-rules" => switch(&mut args.no_safety_rules)?,
            "no-typing" => switch(&mut args.no_typing)?,
            "audit-log" => once(&mut args.audit_log, &flag, cursor.value(&flag)?)?,
            "metrics-file" => once(&mut args.metrics_file, &flag, cursor.value(&flag)?)?,
            "to-column" => once(&mut args.to_column, &flag, cursor.value(&flag)?)?,
            "conversation-column" => {
                once(&mut args.conversation_column, &flag, cursor.value(&flag)?)?
            }
            "contact-column" => once(&mut args.contact_column, &flag, cursor.value(&flag)?)?,
            "id-column" => once(&mut args.id_column, &flag, cursor.value(&flag)?)?,
            "text-column" => once(&mut args.text_column, &flag, cursor.value(&flag)?)?,
            "csv-delimiter" => once(&mut args.csv_delimiter, &flag, cursor.value(&flag)?)?,
            "default-country" => once(&mut args.default_country, &flag, cursor.value(&flag)?)?,
            "rate" => {
                let n = number(&flag, cursor.value(&flag)?, "requests a minute")?;
                once(&mut args.rate, &flag, n)?
            }
            "no-state" => switch(&mut args.no_state)?,
            "dry-run" => switch(&mut args.dry_run)?,
            "json" => switch(&mut args.json)?,
            "quiet" => switch(&mut args.quiet)?,
            "batch" => once(&mut args.batch, &flag, cursor.batch_value(&flag)?)?,
            "batch-id" => once(&mut args.batch_id, &flag, cursor.value(&flag)?)?,
            "journal" => once(&mut args.journal, &flag, cursor.value(&flag)?)?,
            "skip-invalid" => switch(&mut args.skip_invalid)?,
            "resend-unknown" => switch(&mut args.resend_unknown)?,
            "retry-failed" => switch(&mut args.retry_failed)?,
            "progress" => switch(&mut args.progress)?,
            "parallel" => {
                let n = number(&flag, cursor.value(&flag)?, "lines")?;
                if !(1..=64).contains(&n) {
                    return Err(format!("--parallel takes 1 to 64 lines, not {n}"));
                }
                once(&mut args.parallel, &flag, n)?
            }
            "deadline" => {
                let secs = number(&flag, cursor.value(&flag)?, "seconds")?;
                once(&mut args.deadline, &flag, secs)?
            }
            "settle-time" => {
                let secs = number(&flag, cursor.value(&flag)?, "seconds")?;
                if secs > 3600 {
                    return Err(format!(
                        "--settle-time takes at most 3600 seconds, not {secs}"
                    ));
                }
                once(&mut args.settle_time, &flag, secs)?
            }
            "verbose" => switch(&mut args.verbose)?,
            "keep-journals" => {
                let days = number(&flag, cursor.value(&flag)?, "days")?;
                if days == 0 {
                    return Err("--keep-journals takes at least 1 day".into());
                }
                once(&mut args.keep_journals, &flag, days)?
            }
            "sender-rate" => {
                let v = cursor.value(&flag)?;
                let rate: f64 = v
                    .parse()
                    .ok()
                    .filter(|r: &f64| r.is_finite() && *r >= 1.0 / 60.0)
                    .ok_or_else(|| {
                        format!("--sender-rate takes messages a second (at least 1/60: 0.017), not {v:?}")
                    })?;
                once(&mut args.sender_rate, &flag, rate)?
            }
            "send-window" => {
                let v = cursor.value(&flag)?;
                v.parse::<genesys_inject::SendWindow>()
                    .map_err(|e| format!("--send-window: {e}"))?;
                once(&mut args.send_window, &flag, v)?
            }
            "tz" => {
                let v = cursor.value(&flag)?;
                genesys_inject::Zone::named(&v).map_err(|e| format!("--tz: {e}"))?;
                once(&mut args.tz, &flag, v)?
            }
            "tz-column" => once(&mut args.tz_column, &flag, cursor.value(&flag)?)?,
            "wait-for-window" => switch(&mut args.wait_for_window)?,
            "valid-until" => once(&mut args.valid_until, &flag, cursor.value(&flag)?)?,
            "suppress" => args.suppress.push(cursor.value(&flag)?),
            "metrics-label" => {
                let v = cursor.value(&flag)?;
                let (label, value) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--metrics-label takes NAME=VALUE, not {v:?}"))?;
                if !crate::metrics::label_name_ok(label) {
                    return Err(format!(
                        "--metrics-label {label:?}: a label name is letters, digits and _, not first a digit, not __... nor outcome"
                    ));
                }
                if args.metrics_labels.iter().any(|(l, _)| l == label) {
                    return Err(format!("--metrics-label {label} is given twice"));
                }
                args.metrics_labels
                    .push((label.to_owned(), value.to_owned()));
            }
            "suppress-column" => once(&mut args.suppress_column, &flag, cursor.value(&flag)?)?,
            "min-gap" => {
                let v = cursor.value(&flag)?;
                let gap = humantime::parse_duration(&v)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| {
                        format!("--min-gap takes a duration (20h, 90m, 2d), not {v:?}")
                    })?;
                once(&mut args.min_gap, &flag, gap.as_secs().max(1))?
            }
            _ => return Err(unknown(&raw)),
        }
    }
    if !args.metrics_labels.is_empty() && args.metrics_file.is_none() {
        return Err("--metrics-label labels the --metrics-file's series: give one".into());
    }
    if args.quiet && args.verbose {
        return Err("--quiet and --verbose cannot be used together".into());
    }
    if args.no_state && args.state_dir.is_some() {
        return Err("--state-dir and --no-state cannot be used together".into());
    }
    if args.wait_for_window && args.send_window.is_none() {
        return Err("--wait-for-window waits for the --send-window: give one".into());
    }
    if args.tz_column.is_some() && args.send_window.is_none() {
        return Err("--tz-column gives the zone a --send-window is read in: give one".into());
    }
    if args.suppress_column.is_some() && args.suppress.is_empty() {
        return Err("--suppress-column names a column of a --suppress FILE.csv: give one".into());
    }
    if args.no_safety_rules && args.safety_rules.is_some() {
        return Err("--safety-rules and --no-safety-rules cannot be used together".into());
    }
    args.spaced_texts = true;
    Ok(Parsed::Run(Box::new(args)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Parsed, String> {
        parse_args(args.iter().map(OsString::from).collect())
    }

    fn err(args: &[&str]) -> String {
        match parse(args) {
            Err(e) => e,
            Ok(_) => panic!("{args:?} parsed"),
        }
    }

    #[test]
    fn the_tokenizers_rules_hold() {
        assert!(matches!(parse(&["-h"]), Ok(Parsed::Help { long: false })));
        assert!(matches!(
            parse(&["--help"]),
            Ok(Parsed::Help { long: true })
        ));
        assert!(matches!(parse(&["--version"]), Ok(Parsed::Version)));
        assert!(matches!(parse(&["-V"]), Ok(Parsed::Version)));
        assert_eq!(
            err(&["-hx"]),
            "unknown option -hx (a TEXT that starts with - goes after --)"
        );
        assert_eq!(
            err(&["-5 degrees"]),
            "unknown option -5 degrees (a TEXT that starts with - goes after --)"
        );
        assert_eq!(err(&["--json", "--json"]), "--json is given twice");
        assert_eq!(
            err(&["--json=yes"]),
            "unknown option --json=yes (a TEXT that starts with - goes after --)"
        );
        assert_eq!(
            err(&["--from=+1800"]),
            "unknown option --from=+1800 (a TEXT that starts with - goes after --)"
        );
        assert_eq!(
            err(&["--from", "--to", "x"]),
            "--from needs a value, but the next argument is \"--to\""
        );
        assert_eq!(err(&["--from"]), "--from needs a value");
        assert_eq!(
            err(&["--wait", "soon"]),
            "--wait takes seconds, not \"soon\""
        );
        assert_eq!(
            err(&["-", "-"]),
            "- is given twice: standard input is read once"
        );
        let Ok(Parsed::Run(args)) = parse(&[
            "--from", "+1800", "--param", "a=b", "--param", "c=d", "--", "-", "-x",
        ]) else {
            panic!()
        };
        assert_eq!(args.from.as_deref(), Some("+1800"));
        assert_eq!(args.params.len(), 2);
        let texts: Vec<_> = args
            .texts
            .iter()
            .map(|t| match t {
                Text::Literal(s) => s.as_str(),
                Text::Stdin => "<stdin>",
            })
            .collect();
        assert_eq!(texts, ["-", "-x"]);
    }
}
