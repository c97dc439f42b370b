//! The content-safety rules ([`SafetyPolicy`]): words and regular
//! expressions a message must not match, and built-in detectors that find
//! data by its shape and checksum (payment card numbers, US social security
//! numbers), as contact centres' data-loss-prevention tools do. Pure text.

use std::fmt;

use regex_lite::{Regex, RegexBuilder};

use crate::{Error, ValidationError};

mod card;

/// The content-safety rules: what a message must not contain. A refusal
/// ([`ValidationError::Unsafe`]) names the rule and where it matched, never
/// the matched text.
///
/// [`SafetyPolicy::default`] holds five rules:
/// - `\bpassword\b`, `\bssn\b` and `\bcredit.card\b`: the tutorial's three
///   words as words, case-insensitive (`.` is any one character but `\n`:
///   "credit card", "Credit-Card"). At word boundaries: "Kassner",
///   "Hassna", "passwords" and "grossness" pass.
/// - [`card-number`](Self::CARD_NUMBER): a payment card number.
/// - [`us-ssn`](Self::US_SSN): a US social security number.
///
/// Add rules with [`deny`](Self::deny) (a regular expression),
/// [`detect`](Self::detect) (a built-in detector) or [`rule`](Self::rule)
/// (either, by name); start from [`SafetyPolicy::empty`] to replace them.
///
/// Patterns use the syntax of the [`regex-lite`](https://docs.rs/regex-lite)
/// crate, which is the `regex` crate's without its Unicode tables: case
/// folding is ASCII only (`(?i)é` does not match `É`), `\d`, `\s`, `\w` and
/// `\b` are ASCII, and there are no `\p{…}` classes nor class set
/// operations. A pattern of ASCII letters, digits, spaces, `_`, `-` and `.`
/// only, with or without `\b` at both ends (the three default words are),
/// is matched without the regex engine, with the same meaning; a pattern
/// that needs the engine costs tens of microseconds a message (see the
/// guide's performance page, docs/performance.md).
#[derive(Clone)]
pub struct SafetyPolicy {
    rules: Vec<(String, Rule)>,
}

/// How one rule is matched.
#[derive(Clone)]
enum Rule {
    /// Lower-case ASCII bytes, `.` standing for any character but `\n`;
    /// `bounded`: `\b` at both ends.
    Word {
        word: Box<[u8]>,
        bounded: bool,
    },
    Regex(Regex),
    CardNumber,
    UsSsn,
}

/// An ASCII word byte, as `\b` sees it (`None`: the text's edge).
fn is_word(b: Option<&u8>) -> bool {
    b.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// Whether `\b` holds at byte `i` of `bytes`.
fn boundary(bytes: &[u8], i: usize) -> bool {
    is_word(i.checked_sub(1).and_then(|j| bytes.get(j))) != is_word(bytes.get(i))
}

impl Rule {
    /// A rule of words (see [`Rule::Word`]), when `pattern` is one: ASCII
    /// letters, digits, spaces, `_`, `-` and `.`, with or without `\b` at
    /// both ends.
    fn word(pattern: &str) -> Option<Rule> {
        let (inner, bounded) = match pattern
            .strip_prefix(r"\b")
            .and_then(|p| p.strip_suffix(r"\b"))
        {
            Some(inner) => (inner, true),
            None => (pattern, false),
        };
        let word = !inner.is_empty()
            && inner
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b" _-.".contains(&b));
        word.then(|| Rule::Word {
            word: inner.to_ascii_lowercase().into_bytes().into(),
            bounded,
        })
    }

    fn new(pattern: &str) -> Result<Rule, regex_lite::Error> {
        // Compiled in every case, so that an invalid pattern is refused the
        // same way whichever matcher runs it.
        let regex = RegexBuilder::new(pattern)
            .case_insensitive(true)
            .size_limit(1 << 22)
            .build()?;
        Ok(Rule::word(pattern).unwrap_or(Rule::Regex(regex)))
    }

    /// The byte offset of the rule's first match in `text`.
    fn find(&self, text: &str) -> Option<usize> {
        match self {
            Rule::Word { word, bounded } => word_in(text, word, *bounded),
            Rule::Regex(regex) => regex.find(text).map(|m| m.start()),
            Rule::CardNumber => card::find(text),
            Rule::UsSsn => us_ssn(text.as_bytes()),
        }
    }
}

/// Where `word` (see [`Rule::Word`]) first occurs in `text`, as the regular
/// expression would find it: ASCII letters in any case, `.` any character
/// but `\n`, and with `bounded` a word boundary at both ends.
fn word_in(text: &str, word: &[u8], bounded: bool) -> Option<usize> {
    let bytes = text.as_bytes();
    // Starting at a char boundary, every step moves to the next one; the
    // end of the match.
    let at = |mut i: usize| {
        word.iter()
            .all(|&w| {
                let Some(&b) = bytes.get(i) else {
                    return false;
                };
                i += match b {
                    0x00..=0x7F => 1,
                    0xC0..=0xDF => 2,
                    0xE0..=0xEF => 3,
                    _ => 4,
                };
                if w == b'.' {
                    b != b'\n'
                } else {
                    b.to_ascii_lowercase() == w
                }
            })
            .then_some(i)
    };
    let hit = |start: usize| {
        at(start).is_some_and(|end| !bounded || (boundary(bytes, start) && boundary(bytes, end)))
    };
    match word[0] {
        // Any start: every char boundary.
        b'.' => text.char_indices().map(|(i, _)| i).find(|&i| hit(i)),
        // Only where the first byte matches (found with SIMD): an ASCII
        // byte is always a char boundary.
        first => memchr::memchr2_iter(first, first.to_ascii_uppercase(), bytes).find(|&i| hit(i)),
    }
}

/// The first US social security number in `text`: `AAA-GG-SSSS`, not
/// inside a word or a longer number, with an area that can be issued (not
/// 000, 666 or 900 to 999), a group other than 00 and a serial other than
/// 0000.
fn us_ssn(text: &[u8]) -> Option<usize> {
    let shape = |w: &[u8]| {
        w.iter().enumerate().all(|(k, &b)| match k {
            3 | 6 => b == b'-',
            _ => b.is_ascii_digit(),
        })
    };
    text.windows(11).enumerate().find_map(|(i, w)| {
        let fits = shape(w)
            && !is_word(i.checked_sub(1).and_then(|k| text.get(k)))
            && !is_word(text.get(i + 11));
        let (area, group, serial) = (&w[0..3], &w[4..6], &w[7..11]);
        let issued = area != b"000" && area != b"666" && area[0] != b'9';
        (fits && issued && group != b"00" && serial != b"0000").then_some(i)
    })
}

impl SafetyPolicy {
    /// The name of the payment card detector, for [`detect`](Self::detect)
    /// and [`rule`](Self::rule): a run of 13 to 19 digits, alone or in
    /// groups separated by one space or dash of any kind (`4111 1111 1111
    /// 1111`, `5555-5555-5555-4444`, no-break and thin spaces, en dashes),
    /// in digits of any script (fullwidth `４１１１…`, Arabic-Indic), not
    /// inside a word or a longer number, that passes the Luhn check and
    /// begins as a card scheme's numbers of its length begin (Visa,
    /// Mastercard, American Express, Discover, JCB, Diners Club, UnionPay,
    /// Maestro, Mir). Phone numbers, order numbers of no scheme's prefix,
    /// ICCIDs and IMEIs pass; so does a card number written with other
    /// separators (dots, two spaces).
    pub const CARD_NUMBER: &'static str = "card-number";

    /// The name of the US social security number detector: `AAA-GG-SSSS`
    /// (dashes required), not inside a word or a longer number, whose area
    /// can be issued (not 000, 666 or 900 to 999), whose group is not 00 and
    /// whose serial is not 0000.
    pub const US_SSN: &'static str = "us-ssn";

    /// A policy with no rules: every text passes.
    pub fn empty() -> Self {
        SafetyPolicy { rules: Vec::new() }
    }

    /// Adds a rule: `pattern` is a regular expression (syntax of the
    /// `regex-lite` crate, see above), matched case-insensitively anywhere
    /// in the joined text.
    ///
    /// # Errors
    /// [`Error::Config`] when the pattern is not a valid expression.
    pub fn deny(mut self, pattern: &str) -> Result<Self, Error> {
        let rule = Rule::new(pattern)
            .map_err(|e| Error::Config(format!("invalid safety pattern {pattern:?}: {e}")))?;
        self.rules.push((pattern.to_owned(), rule));
        Ok(self)
    }

    /// Adds a built-in detector by name: [`CARD_NUMBER`](Self::CARD_NUMBER)
    /// (`card-number`) or [`US_SSN`](Self::US_SSN) (`us-ssn`).
    ///
    /// # Errors
    /// [`Error::Config`] for any other name, listing the detectors.
    pub fn detect(mut self, name: &str) -> Result<Self, Error> {
        let rule = match name {
            Self::CARD_NUMBER => Rule::CardNumber,
            Self::US_SSN => Rule::UsSsn,
            _ => {
                return Err(Error::Config(format!(
                    "no built-in detector is called {name:?}: there are {} and {}",
                    Self::CARD_NUMBER,
                    Self::US_SSN
                )))
            }
        };
        self.rules.push((name.to_owned(), rule));
        Ok(self)
    }

    /// Adds `rule`: a detector when it is a detector's name (see
    /// [`detect`](Self::detect)), else a regular expression (see
    /// [`deny`](Self::deny)). The form of `inject --safety-rules` lines.
    ///
    /// # Errors
    /// As [`deny`](Self::deny).
    pub fn rule(self, rule: &str) -> Result<Self, Error> {
        match rule {
            Self::CARD_NUMBER | Self::US_SSN => self.detect(rule),
            pattern => self.deny(pattern),
        }
    }

    /// The rules (patterns and detectors' names), in the order they are
    /// checked.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|(p, _)| p.as_str())
    }

    pub(crate) fn check(&self, text: &str) -> Result<(), ValidationError> {
        for (name, rule) in &self.rules {
            if let Some(at) = rule.find(text) {
                return Err(ValidationError::Unsafe {
                    rule: name.clone(),
                    at: text[..at].chars().count() + 1,
                });
            }
        }
        Ok(())
    }
}

impl Default for SafetyPolicy {
    /// `\bpassword\b`, `\bssn\b`, `\bcredit.card\b` (case-insensitive),
    /// `card-number` and `us-ssn`: see [`SafetyPolicy`].
    fn default() -> Self {
        // Built directly, without the regex compiler (a program that sets
        // no pattern of its own then links none of it); the test below
        // shows each is the rule `deny` would make.
        let word = |p: &str| (p.to_owned(), Rule::word(p).expect("a word rule"));
        SafetyPolicy {
            rules: vec![
                word(r"\bpassword\b"),
                word(r"\bssn\b"),
                word(r"\bcredit.card\b"),
                (Self::CARD_NUMBER.to_owned(), Rule::CardNumber),
                (Self::US_SSN.to_owned(), Rule::UsSsn),
            ],
        }
    }
}

impl fmt::Debug for SafetyPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.patterns()).finish()
    }
}

#[cfg(test)]
mod tests;
