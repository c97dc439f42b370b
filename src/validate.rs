//! Checks made before any network traffic: content blocks, length, content
//! safety, ids and phone numbers.

use crate::{SafetyPolicy, ValidationError};

/// Text limit of a messaging conversation, in UTF-16 code units (the default
/// of [`InjectorBuilder::max_text_chars`](crate::InjectorBuilder::max_text_chars)).
///
/// The Node.js tutorial used 4000: that was the limit of the retired ACD web
/// chat, which current messaging conversations do not have.
pub const MESSAGING_MAX_TEXT_CHARS: usize = 2000;

/// Text limit of an SMS message, in UTF-16 code units.
pub const SMS_MAX_TEXT_CHARS: usize = 765;

/// One piece of a message. The blocks of a request are joined with no
/// separator into the single `textBody` the platform receives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContentBlock {
    text: String,
}

impl ContentBlock {
    /// A text block. An empty block is allowed; an all-blank message is not.
    pub fn text(text: impl Into<String>) -> Self {
        ContentBlock { text: text.into() }
    }

    /// The block's text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl From<&str> for ContentBlock {
    fn from(text: &str) -> Self {
        ContentBlock::text(text)
    }
}

impl From<String> for ContentBlock {
    fn from(text: String) -> Self {
        ContentBlock { text }
    }
}

/// Text that passed [`validate`]: the joined blocks and their length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedText {
    text: String,
    utf16_len: usize,
}

impl ValidatedText {
    /// The joined text, as it will be sent.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Its length in UTF-16 code units (JavaScript's `.length`, the unit the
    /// platform counts in; an emoji outside the BMP counts 2).
    pub fn utf16_len(&self) -> usize {
        self.utf16_len
    }

    /// The joined text.
    pub fn into_string(self) -> String {
        self.text
    }
}

/// Checks content blocks as the tutorial's Step 1 does, without any network
/// traffic.
///
/// Each block must be at most `max_chars` UTF-16 units on its own, and so must
/// the blocks joined with no separator; the joined text must not be blank and
/// must not match any rule of `policy`.
///
/// ```
/// use genesys_inject::{validate, ContentBlock, SafetyPolicy, ValidationError};
/// let blocks = [ContentBlock::text("Hello "), ContentBlock::text("there 👋")];
/// let text = validate(&blocks, 2000, &SafetyPolicy::default())?;
/// assert_eq!(text.as_str(), "Hello there 👋");
/// assert_eq!(text.utf16_len(), 14);
/// # Ok::<_, ValidationError>(())
/// ```
pub fn validate(
    blocks: &[ContentBlock],
    max_chars: usize,
    policy: &SafetyPolicy,
) -> Result<ValidatedText, ValidationError> {
    if blocks.is_empty() {
        return Err(ValidationError::NoBlocks);
    }
    let mut total = 0;
    for (index, block) in blocks.iter().enumerate() {
        let len = utf16_len(&block.text);
        if len > max_chars {
            return Err(ValidationError::BlockTooLong {
                index,
                len,
                max: max_chars,
            });
        }
        total += len;
    }
    if total > max_chars {
        return Err(ValidationError::TooLong {
            len: total,
            max: max_chars,
        });
    }
    let text = blocks.iter().map(|b| b.text.as_str()).collect::<String>();
    if is_blank(&text) {
        return Err(ValidationError::BlankText);
    }
    policy.check(&text)?;
    Ok(ValidatedText {
        text,
        utf16_len: total,
    })
}

/// Whether `text` is empty or only white space: what Rust's `char::is_whitespace`
/// or JavaScript's `.trim()` removes (JavaScript also trims U+FEFF, the byte
/// order mark).
pub(crate) fn is_blank(text: &str) -> bool {
    text.chars().all(|c| c.is_whitespace() || c == '\u{FEFF}')
}

/// Length in UTF-16 code units, counted from the UTF-8 bytes.
pub(crate) fn utf16_len(s: &str) -> usize {
    // A UTF-8 sequence of 4 bytes is one supplementary character, 2 UTF-16
    // units; every other character is one unit. Counting lead bytes this way
    // is what `encode_utf16().count()` computes, without decoding.
    s.bytes()
        .map(|b| match b {
            0x80..=0xBF => 0,
            0xF0..=0xFF => 2,
            _ => 1,
        })
        .sum()
}

/// Whether `s` is a GUID in 8-4-4-4-12 hexadecimal form (any case).
pub(crate) fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Whether `s` can be a message id in a URL path: 1 to 64 ASCII letters,
/// digits and `-` (the platform's are 32 hexadecimal digits).
pub(crate) fn is_message_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Whether `s` is an E.164 number: `+`, a country code (which never starts
/// with 0), then the rest, 7 to 15 digits in all. The shortest numbers in use
/// have 7 (Niue and Tokelau: a 3-digit country code and 4 digits).
pub(crate) fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|d| {
        (7..=15).contains(&d.len()) && !d.starts_with('0') && d.bytes().all(|c| c.is_ascii_digit())
    })
}

pub(crate) fn check_guid(s: &str, field: &'static str) -> Result<(), ValidationError> {
    if is_guid(s) {
        Ok(())
    } else {
        Err(ValidationError::InvalidId { field })
    }
}

pub(crate) fn check_e164(s: &str, field: &'static str) -> Result<(), ValidationError> {
    if is_e164(s) {
        Ok(())
    } else {
        Err(ValidationError::InvalidPhoneNumber { field })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(texts: &[&str]) -> Vec<ContentBlock> {
        texts.iter().map(|t| ContentBlock::text(*t)).collect()
    }

    #[test]
    fn utf16_length_matches_std() {
        for s in [
            "",
            "abc",
            "é",
            "€",
            "👋",
            "a👋b€é\u{10FFFF}",
            "\u{7FF}\u{800}\u{FFFF}",
        ] {
            assert_eq!(utf16_len(s), s.encode_utf16().count(), "{s:?}");
        }
    }

    #[test]
    fn limit_is_inclusive_and_counts_emoji_as_two() {
        let policy = SafetyPolicy::empty();
        let at_limit = format!("{}{}", "a".repeat(1998), "👋");
        assert_eq!(
            validate(&blocks(&[&at_limit]), 2000, &policy)
                .unwrap()
                .utf16_len(),
            2000
        );
        let over = format!("{}{}", "a".repeat(1999), "👋");
        assert_eq!(
            validate(&blocks(&[&over]), 2000, &policy),
            Err(ValidationError::BlockTooLong {
                index: 0,
                len: 2001,
                max: 2000
            })
        );
        let halves = [&"a".repeat(1000)[..], &format!("{}👋", "b".repeat(999))];
        assert_eq!(
            validate(&blocks(&halves), 2000, &policy),
            Err(ValidationError::TooLong {
                len: 2001,
                max: 2000
            })
        );
    }

    #[test]
    fn empty_and_blank_are_refused() {
        let p = SafetyPolicy::default();
        assert_eq!(validate(&[], 10, &p), Err(ValidationError::NoBlocks));
        assert_eq!(
            validate(&blocks(&[" ", "\n\t"]), 10, &p),
            Err(ValidationError::BlankText)
        );
        // What JavaScript's .trim() removes: the BOM and every space separator.
        for blank in ["\u{FEFF}", " \u{FEFF}\u{3000}", "\u{00A0}\u{2028}\u{202F}"] {
            assert_eq!(
                validate(&blocks(&[blank]), 10, &p),
                Err(ValidationError::BlankText),
                "{blank:?}"
            );
        }
        assert!(validate(&blocks(&["\u{FEFF}x"]), 10, &p).is_ok());
        assert_eq!(validate(&blocks(&["", "x"]), 10, &p).unwrap().as_str(), "x");
    }

    #[test]
    fn guid_and_e164() {
        assert!(is_guid("ec35f2a8-289b-42d4-8893-c50eaf81a3c1"));
        assert!(is_guid("EC35F2A8-289B-42D4-8893-C50EAF81A3C1"));
        for bad in [
            "",
            "ec35f2a8289b42d48893c50eaf81a3c1",
            "ec35f2a8-289b-42d4-8893-c50eaf81a3c",
            "ec35f2a8-289b-42d4-8893-c50eaf81a3cg",
            "../../users/me-8893-c50eaf81a3c1xxxx",
            "ec35f2a8-289b-42d4-8893-c50eaf81a3c1/",
        ] {
            assert!(!is_guid(bad), "{bad}");
        }
        assert!(is_e164("+13175555555"));
        assert!(is_e164("+12345678"));
        // Niue: +683 and four digits.
        assert!(is_e164("+6834001"));
        assert!(!is_e164("+683400"));
        assert!(!is_e164("+01234567"));
        assert!(!is_e164("+1234567890123456"));
        assert!(!is_e164("13175555555"));
        assert!(!is_e164("+1 317 555"));
        assert!(!is_e164("+１２３４５６７８"));
    }
}
