//! From a file to a batch's lines, as `inject --batch` makes them (feature
//! `lines`, off by default; the `cli` feature turns it on): JSON Lines or
//! CSV, a template, every line's defaults, the columns that give a line's
//! `to`, `id` or `text`, national phone numbers, and each line's identity
//! (its `id`, else who receives it). An embedding program that reads the
//! same file gets the same [`BatchLine`]s, so the same journal, as the
//! command line.
//!
//! ```
//! use genesys_inject::lines::{read_lines, LineFlags, Text};
//! use genesys_inject::SafetyPolicy;
//!
//! let csv = "phone,name\n+13175550101,Ada\n(317) 555-0102,Grace\n";
//! let mut flags = LineFlags::default();
//! flags.agentless = Some("sms".into());
//! flags.from = Some("+18005550100".into());
//! flags.to_column = Some("phone".into());
//! flags.default_country = Some("US".into());
//! flags.texts = vec![Text::Literal("Hi {name}, your parcel is here".into())];
//! let lines = read_lines(csv.as_bytes(), true, ".".as_ref(), &flags, &SafetyPolicy::default())?;
//! assert_eq!(lines.rows, 2);
//! assert!(lines.lines.iter().all(|l| l.line.is_ok()));
//! # Ok::<_, genesys_inject::lines::LinesError>(())
//! ```
//!
//! The rooms: `read` (the file's records: JSON Lines, or CSV in one pass),
//! `shape` (the flags' defaults, columns and template over each record; a
//! mistake of the whole file said once), `line` (a record as a line, its
//! identity), `request` (a line's flags as an [`InjectRequest`]), `phone`
//! (numbers as exports hold them), `sms` (an SMS text's segments), `rules`
//! (a line's own window, zone and expiry). Errors are in the command
//! line's words (`--to-column`, a line's keys).

mod line;
mod phone;
mod read;
mod request;
mod rules;
mod shape;
mod sms;

use std::fmt;
use std::path::Path;

use crate::{BatchLine, InjectRequest, SafetyPolicy};

pub use rules::time;

/// One content block as the command line gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text {
    /// This text (with a batch: a template, `{column}` a column's value).
    Literal(String),
    /// Read from standard input, once, when the request is made.
    Stdin,
}

/// What `inject`'s flags say of every line, and how a file's columns are
/// read: the defaults a line's own keys override, the columns that give
/// its `to`, `conversation`, `contact`, `id`, `text` and `tz`, the
/// template, the CSV delimiter and the country of national numbers. Every
/// field is `None`, empty or `false` by default (build it with
/// `LineFlags::default()` and set what you need).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct LineFlags {
    /// `--conversation`: the conversation (GUID).
    pub conversation: Option<String>,
    /// `--communication`: the communication to send as (GUID).
    pub communication: Option<String>,
    /// `--agentless`: `webmessaging`, `sms`, `open`, `apple` or `whatsapp`.
    pub agentless: Option<String>,
    /// `--from`: the agentless sender.
    pub from: Option<String>,
    /// `--to`: the agentless recipient.
    pub to: Option<String>,
    /// `--contact`: the external contact id.
    pub contact: Option<String>,
    /// `--new-conversation`: always a new agentless conversation.
    pub new_conversation: bool,
    /// `--template`: a messaging template's id.
    pub template: Option<String>,
    /// `--param NAME=VALUE`: the template's parameters.
    pub params: Vec<(String, String)>,
    /// `--attach`: a file to send.
    pub attach: Option<String>,
    /// `--delay-ms`: the wait before typing and sending.
    pub delay_ms: Option<u64>,
    /// The TEXT blocks (with a batch: the template of every line's text).
    pub texts: Vec<Text>,
    /// Whether two blocks that meet with no white space get a space
    /// between them (the command line's words; a file's blocks: no).
    pub spaced_texts: bool,
    /// `--to-column`: the column (or JSON key) of each line's `to`.
    pub to_column: Option<String>,
    /// `--conversation-column`.
    pub conversation_column: Option<String>,
    /// `--contact-column`.
    pub contact_column: Option<String>,
    /// `--id-column`: the column of each line's id.
    pub id_column: Option<String>,
    /// `--text-column`: the column of each line's text.
    pub text_column: Option<String>,
    /// `--tz-column`: the column of each recipient's IANA zone.
    pub tz_column: Option<String>,
    /// `--tz`: the zone a line's `valid_until` of `HH:MM` is read in.
    pub tz: Option<String>,
    /// `--csv-delimiter`: `,`, `;` or `\t` (default: found from the header).
    pub csv_delimiter: Option<String>,
    /// `--default-country`: the ISO 3166 country of national numbers
    /// (`US`, `FR`, …; default: none, a national number is invalid).
    pub default_country: Option<String>,
}

/// A mistake of the whole file or of the flags, in the command line's
/// words: nothing can be read from the file as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinesError(pub String);

impl fmt::Display for LinesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LinesError {}

impl From<String> for LinesError {
    fn from(message: String) -> Self {
        LinesError(message)
    }
}

/// An SMS text's cost: its encoding and segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SmsCost {
    /// `GSM-7` or `UCS-2`.
    pub encoding: &'static str,
    /// Its length in that encoding's units.
    pub units: usize,
    /// How many messages the carrier sends it as (160/153 GSM-7, 70/67
    /// UCS-2).
    pub segments: usize,
}

/// One record of the file as a line.
#[derive(Debug)]
#[non_exhaustive]
pub struct FileLine {
    /// Its number in the file, from 1 (a CSV's header is not one).
    pub number: usize,
    /// The line, or why it is invalid (in the line's words).
    pub line: Result<BatchLine, String>,
    /// An SMS text's cost, on the SMS route.
    pub sms: Option<SmsCost>,
}

/// A file's lines.
#[derive(Debug)]
#[non_exhaustive]
pub struct Lines {
    /// The file's records, valid or not.
    pub rows: usize,
    /// Each record as a line, in the file's order.
    pub lines: Vec<FileLine>,
}

/// The lines of a file's `bytes` (CSV when `csv`, else JSON Lines; UTF-8,
/// LF or CRLF, a byte-order mark skipped) under `flags`, each request
/// checked with `policy`; `dir`: the folder a line's `attach` path is
/// relative to. Sends nothing.
///
/// # Errors
/// [`LinesError`] for a mistake of the whole file or of the flags (a
/// column the flags name that the header lacks, a placeholder no column
/// fills, a bad delimiter or country), said once; a line's own mistake is
/// its [`FileLine::line`]'s `Err`.
pub fn read_lines(
    bytes: &[u8],
    csv: bool,
    dir: &Path,
    flags: &LineFlags,
    policy: &SafetyPolicy,
) -> Result<Lines, LinesError> {
    let delimiter = match &flags.csv_delimiter {
        Some(_) if !csv => {
            return Err("--csv-delimiter goes with a CSV batch (FILE.csv)"
                .to_owned()
                .into())
        }
        Some(given) => Some(read::delimiter(given)?),
        None => None,
    };
    let table = read::read(bytes, csv, delimiter)?;
    let shape = shape::Shape::from_args(flags)?;
    shape.check(table.columns.as_deref())?;
    let country = flags
        .default_country
        .as_deref()
        .map(phone::country)
        .transpose()?;
    let zone = flags
        .tz
        .as_deref()
        .map(crate::Zone::named)
        .transpose()
        .map_err(|e| format!("--tz: {e}"))?;
    let rows = table.records.len();
    let lines = line::lines(table, &shape, dir, policy, country, zone.as_ref())
        .into_iter()
        .map(|p| {
            let (line, sms) = match p.line {
                Ok((line, sms)) => (Ok(line), sms),
                Err(why) => (Err(why), None),
            };
            FileLine {
                number: p.number,
                line,
                sms: sms.map(|s| SmsCost {
                    encoding: s.encoding,
                    units: s.units,
                    segments: s.segments,
                }),
            }
        })
        .collect();
    Ok(Lines { rows, lines })
}

/// One message's request from `flags`, as `inject` makes it from its
/// command line (a [`Text::Stdin`] block is read now).
///
/// # Errors
/// [`LinesError`] when the flags do not make one request: a flag of the
/// other route, no content or two kinds, an attachment that cannot be read.
pub fn request(flags: &LineFlags) -> Result<InjectRequest, LinesError> {
    Ok(request::build_request(flags)?)
}

/// A country for national numbers: its calling code and trunk prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country(&'static str, &'static str);

impl Country {
    /// The country of ISO 3166 `code` (`US`, `GB`, `FR`, …).
    ///
    /// # Errors
    /// [`LinesError`] for a code the table does not know, listing them.
    pub fn new(code: &str) -> Result<Country, LinesError> {
        let (calling, trunk) = phone::country(code)?;
        Ok(Country(calling, trunk))
    }
}

/// `raw` as an E.164 phone number, as exports write them (spaces, dots,
/// dashes, brackets; a national number in `country`); `what` names it in
/// the error.
///
/// # Errors
/// [`LinesError`] when it is not a phone number.
pub fn phone_number(raw: &str, what: &str, country: Option<Country>) -> Result<String, LinesError> {
    Ok(phone::e164(raw, what, country.map(|c| (c.0, c.1)))?)
}
