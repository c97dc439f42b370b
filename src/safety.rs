//! The content-safety rules ([`SafetyPolicy`]): words and regular
//! expressions a message must not match, and built-in detectors that find
//! data by its shape and checksum (payment card numbers, US social security
//! numbers), as contact centres' data-loss-prevention tools do. Pure text.

use std::fmt;

use regex_lite::{Regex, RegexBuilder};

use crate::{Error, ValidationError};

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
/// README's performance section).
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
            Rule::CardNumber => card_number(text.as_bytes()),
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

/// Whether `digits` (ASCII) pass the Luhn check.
fn luhn(digits: impl DoubleEndedIterator<Item = u8>) -> bool {
    let sum: u32 = digits
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            match (i % 2, d * 2) {
                (0, _) => d,
                (_, twice) if twice > 9 => twice - 9,
                (_, twice) => twice,
            }
        })
        .sum();
    sum % 10 == 0
}

/// The first payment card number in `text`: a run of 13 to 19 digits,
/// alone or in groups separated by single spaces or dashes, not inside a
/// word or a longer number, that passes the Luhn check. The whole run is
/// the number: `12 4111 1111 1111 1111` is 18 digits, not a card.
fn card_number(text: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < text.len() {
        if !text[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        let (mut digits, mut end) = (0usize, i);
        loop {
            while end < text.len() && text[end].is_ascii_digit() {
                end += 1;
                digits += 1;
            }
            match (text.get(end), text.get(end + 1)) {
                (Some(b' ' | b'-'), Some(d)) if d.is_ascii_digit() => end += 1,
                _ => break,
            }
        }
        let alone =
            !is_word(start.checked_sub(1).and_then(|k| text.get(k))) && !is_word(text.get(end));
        let run = text[start..end].iter().copied().filter(u8::is_ascii_digit);
        if alone && (13..=19).contains(&digits) && luhn(run) {
            return Some(start);
        }
        i = end;
    }
    None
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
    /// groups separated by single spaces or dashes (`4111 1111 1111 1111`,
    /// `5555-5555-5555-4444`, `378282246310005`), not inside a word or a
    /// longer number, that passes the Luhn check (as every issued card
    /// number does). Phone numbers (at most 15 digits) and order numbers
    /// that fail the check pass; so does a card number written with other
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn refused(text: &str) -> Option<String> {
        match SafetyPolicy::default().check(text) {
            Ok(()) => None,
            Err(ValidationError::Unsafe { rule, .. }) => Some(rule),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn surnames_pass_and_the_words_are_refused_as_words() {
        for text in [
            "Dear Mr Kassner, your appointment is at 10:30",
            "Hassna, your table is ready",
            "Jessner, Glassner: see you soon",
            "Such grossness",
            "Reset your passwords from the app",
            "lessons",
            "creditcard",
            "credit\ncard",
        ] {
            assert_eq!(refused(text), None, "{text:?}");
        }
        for (text, rule) in [
            ("your PassWord is", r"\bpassword\b"),
            ("SSN: 1", r"\bssn\b"),
            ("your ssn?", r"\bssn\b"),
            ("credit-card", r"\bcredit.card\b"),
            ("CREDIT CARD", r"\bcredit.card\b"),
            ("credit_card", r"\bcredit.card\b"),
            ("(password)", r"\bpassword\b"),
        ] {
            assert_eq!(refused(text).as_deref(), Some(rule), "{text:?}");
        }
    }

    #[test]
    fn card_numbers_and_ssns_are_found_by_shape_and_checksum() {
        for text in [
            "Your card 4111 1111 1111 1111 was charged",
            "card: 5555555555554444.",
            "4111-1111-1111-1111",
            "Amex 378282246310005",
            "Ref 12, 4111 1111 1111 1111",
        ] {
            assert_eq!(refused(text).as_deref(), Some("card-number"), "{text:?}");
        }
        for text in [
            "Order 4111 1111 1111 1112",
            "Call +1 317 555 1234 today",
            "Tracking 1Z999AA10123456784",
            "id4111111111111111",
            "4111  1111 1111 1111",
            "4111111111111111111111",
        ] {
            assert_eq!(refused(text), None, "{text:?}");
        }
        assert_eq!(
            refused("Your number 123-45-6789 is on file").as_deref(),
            Some("us-ssn")
        );
        for text in [
            "000-12-3456",
            "666-12-3456",
            "912-12-3456",
            "123-00-4567",
            "123-45-0000",
            "1123-45-6789",
            "123-45-67890",
            "123456789",
        ] {
            assert_eq!(refused(text), None, "{text:?}");
        }
    }

    #[test]
    fn a_refusal_says_where_and_never_echoes_the_digits() {
        let e = SafetyPolicy::default()
            .check("Hi é, card 4111 1111 1111 1111")
            .unwrap_err();
        assert_eq!(
            e,
            ValidationError::Unsafe {
                rule: "card-number".into(),
                at: 12
            }
        );
        let shown = e.to_string();
        assert!(
            shown.contains("card-number") && shown.contains("12"),
            "{shown}"
        );
        assert!(
            !shown.contains("4111") && !shown.contains("1111"),
            "{shown}"
        );
    }

    #[test]
    fn the_default_is_what_its_rules_would_make() {
        let built = SafetyPolicy::default()
            .patterns()
            .try_fold(SafetyPolicy::empty(), |p, r| p.rule(r))
            .unwrap();
        assert_eq!(
            format!("{built:?}"),
            format!("{:?}", SafetyPolicy::default())
        );
        for text in ["my password", "4111 1111 1111 1111", "hi"] {
            assert_eq!(
                built.check(text),
                SafetyPolicy::default().check(text),
                "{text}"
            );
        }
        assert!(SafetyPolicy::default()
            .rules
            .iter()
            .take(3)
            .all(|(_, r)| matches!(r, Rule::Word { bounded: true, .. })));
    }

    #[test]
    fn detectors_by_name_and_bad_names() {
        let p = SafetyPolicy::empty().rule("us-ssn").unwrap();
        assert!(p.check("123-45-6789").is_err());
        assert!(p.check("4111111111111111").is_ok());
        assert!(matches!(
            SafetyPolicy::empty().detect("iban"),
            Err(Error::Config(_))
        ));
        let p = SafetyPolicy::empty().rule(r"\bIBAN\b").unwrap();
        assert!(p.check("an iban here").is_err());
        assert!(p.check("password").is_ok());
        assert!(matches!(
            SafetyPolicy::empty().deny("("),
            Err(Error::Config(_))
        ));
    }

    /// A Luhn-valid number of `len` digits from `seed` digits.
    fn luhn_valid(mut digits: Vec<u8>) -> Vec<u8> {
        for check in b'0'..=b'9' {
            digits.push(check);
            if luhn(digits.iter().copied()) {
                return digits;
            }
            digits.pop();
        }
        unreachable!("one check digit fits")
    }

    /// `digits` grouped as `sizes` says (the rest in one group), joined by
    /// `sep`.
    fn grouped(digits: &[u8], sizes: &[usize], sep: &str) -> String {
        let mut out = String::new();
        let mut rest = digits;
        for &n in sizes {
            if n >= rest.len() {
                break;
            }
            out.push_str(std::str::from_utf8(&rest[..n]).unwrap());
            out.push_str(sep);
            rest = &rest[n..];
        }
        out.push_str(std::str::from_utf8(rest).unwrap());
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        #[test]
        fn luhn_valid_numbers_are_refused_and_invalid_ones_pass(
            body in proptest::collection::vec(b'0'..=b'9', 12..=18),
            sizes in prop_oneof![Just(vec![]), Just(vec![4, 4, 4]), Just(vec![4, 6]), Just(vec![4, 4, 4, 4])],
            sep in prop_oneof![Just(" "), Just("-")],
            bump in 1u8..=9,
        ) {
            let valid = luhn_valid(body);
            let text = format!("Paid with {} today", grouped(&valid, &sizes, sep));
            let rule = refused(&text);
            prop_assert_eq!(rule.as_deref(), Some("card-number"), "{}", text);
            // Change the last digit: the check fails.
            let mut invalid = valid.clone();
            let last = invalid.len() - 1;
            invalid[last] = b'0' + (invalid[last] - b'0' + bump) % 10;
            let text = format!("Paid with {} today", grouped(&invalid, &sizes, sep));
            prop_assert_eq!(refused(&text), None, "{}", text);
        }

        #[test]
        fn word_rules_match_as_the_regex_would(
            pattern in "[a-zA-Z0-9 _.-]{1,6}",
            bounded in any::<bool>(),
            text in "(?s)[a-zA-Z0-9 _.\\n\\-éſK\u{212A}👋]{0,24}",
        ) {
            let pattern = if bounded { format!(r"\b{pattern}\b") } else { pattern };
            let fast = Rule::new(&pattern).unwrap();
            let is_word_rule = matches!(fast, Rule::Word { .. });
            prop_assert!(is_word_rule);
            let slow = RegexBuilder::new(&pattern).case_insensitive(true).build().unwrap();
            prop_assert_eq!(fast.find(&text), slow.find(&text).map(|m| m.start()), "{:?} in {:?}", pattern, text);
        }
    }

    #[test]
    fn word_rules_in_longer_texts() {
        for (text, hit) in [
            ("xx PaSsWoRd xx", true),
            ("xxPaSsWoRdxx", false),
            ("credit\ncard", false),
            ("credit👋card", true),
            ("pa\u{17F}\u{17F}word", false),
        ] {
            let policy = SafetyPolicy::default();
            assert_eq!(policy.check(text).is_err(), hit, "{text:?}");
        }
    }
}
