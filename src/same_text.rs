//! Whether a text the platform holds is the text that was sent, as the
//! platform may store it: line ends as LF, surrounding white space
//! trimmed, Unicode NFC. Reached only through `look::TextMatch::NFC`,
//! which the look for a lost message names: a program that never looks for
//! one links none of the normalization tables (benches/size measures it).

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;

/// `text` as compared: CRLF and CR as LF, trimmed, NFC.
fn folded(text: &str) -> Cow<'_, str> {
    let trimmed = text.trim();
    if trimmed.is_ascii() && !trimmed.contains('\r') {
        // ASCII is its own NFC.
        return Cow::Borrowed(trimmed);
    }
    let lf = trimmed.replace("\r\n", "\n").replace('\r', "\n");
    Cow::Owned(lf.nfc().collect())
}

pub(crate) fn same_text(stored: &str, sent: &str) -> bool {
    stored == sent || folded(stored) == folded(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platforms_ways_of_storing_a_text_are_the_same_text() {
        assert!(same_text("Hi Zoë", "Hi Zoe\u{308}"));
        assert!(same_text("Hi Zoe\u{308}", "Hi Zoë"));
        assert!(same_text("two\nlines", "two\r\nlines"));
        assert!(same_text("two\nlines", "two\rlines"));
        assert!(same_text("  padded \n", "padded"));
        assert!(same_text("5 \u{212a}", "5 K"), "KELVIN SIGN is K in NFC");
        assert!(!same_text("Hi Zoe", "Hi Zoë"));
        assert!(!same_text("two\n\nlines", "two\nlines"));
        assert!(!same_text("a b", "a  b"));
    }
}
