//! Whether a text the platform holds is the text that was sent, as the
//! platform may store it: line ends as LF, surrounding white space
//! trimmed, Unicode NFC. Reached only through [`TextMatch::NFC`], which
//! the look for a lost message names: a program that never looks for one
//! links none of the normalization tables, nor the look itself, which
//! `inject` reaches through it too (benches/size measures it).

use std::borrow::Cow;
use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// How a look compares the text it holds with the text it looks for, and
/// the look `inject` runs after a lost answer.
#[derive(Clone, Copy)]
pub(crate) struct TextMatch(
    fn(&str, &str) -> bool,
    fn(&crate::Injector, &crate::InjectRequest, &crate::look::Look) -> crate::Resolution,
);

impl TextMatch {
    /// As the platform may store it: LF line ends, trimmed, NFC.
    pub const NFC: TextMatch = TextMatch(same_text, crate::Injector::resolve_since);

    /// Whether `stored` is `sent`, as the platform may have stored it.
    pub fn matches(&self, stored: &str, sent: &str) -> bool {
        (self.0)(stored, sent)
    }

    /// `injector`'s look for `request` (`Injector::resolve_since`), through
    /// this value: a program whose policy never looks does not link it.
    pub fn resolve(
        &self,
        injector: &crate::Injector,
        request: &crate::InjectRequest,
        look: &crate::look::Look,
    ) -> crate::Resolution {
        (self.1)(injector, request, look)
    }
}

impl PartialEq for TextMatch {
    /// There is one comparison: every `TextMatch` is it.
    fn eq(&self, _: &TextMatch) -> bool {
        true
    }
}

impl Eq for TextMatch {}

impl fmt::Debug for TextMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TextMatch(NFC)")
    }
}

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

fn same_text(stored: &str, sent: &str) -> bool {
    stored == sent || folded(stored) == folded(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platforms_ways_of_storing_a_text_are_the_same_text() {
        let m = TextMatch::NFC;
        assert!(m.matches("Hi Zoë", "Hi Zoe\u{308}"));
        assert!(m.matches("Hi Zoe\u{308}", "Hi Zoë"));
        assert!(m.matches("two\nlines", "two\r\nlines"));
        assert!(m.matches("two\nlines", "two\rlines"));
        assert!(m.matches("  padded \n", "padded"));
        assert!(m.matches("5 \u{212a}", "5 K"), "KELVIN SIGN is K in NFC");
        assert!(!m.matches("Hi Zoe", "Hi Zoë"));
        assert!(!m.matches("two\n\nlines", "two\nlines"));
        assert!(!m.matches("a b", "a  b"));
    }
}
