//! What an SMS text costs: its encoding and segments. A text of GSM-7's
//! characters (3GPP TS 23.038's default alphabet, whose extension table's
//! characters count two) goes in 160 a message, 153 a segment when it is
//! split; one character outside it makes the whole text UCS-2: 70 UTF-16
//! units a message, 67 a segment.

/// GSM-7's default alphabet (but for the extension table's characters).
const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The extension table: two septets each.
const EXTENDED: &str = "^{}\\[~]|€\u{c}";

/// A text's encoding and the SMS segments it takes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Segments {
    /// `GSM-7` or `UCS-2`.
    pub encoding: &'static str,
    /// Septets (GSM-7) or UTF-16 units (UCS-2).
    pub units: usize,
    pub segments: usize,
}

pub(crate) fn segments(text: &str) -> Segments {
    let mut septets = 0;
    for c in text.chars() {
        if BASIC.contains(c) {
            septets += 1;
        } else if EXTENDED.contains(c) {
            septets += 2;
        } else {
            let units = text.encode_utf16().count();
            return Segments {
                encoding: "UCS-2",
                units,
                segments: if units <= 70 { 1 } else { units.div_ceil(67) },
            };
        }
    }
    Segments {
        encoding: "GSM-7",
        units: septets,
        segments: if septets <= 160 {
            1
        } else {
            septets.div_ceil(153)
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accent_outside_gsm7_doubles_a_short_text() {
        let plain = format!(
            "Hi Sean, your appointment is tomorrow at 10:00. {}",
            "x".repeat(48)
        );
        assert_eq!(plain.len(), 96);
        assert_eq!(
            segments(&plain),
            Segments {
                encoding: "GSM-7",
                units: 96,
                segments: 1
            }
        );
        // á is not GSM-7: the whole text is UCS-2, two segments.
        let accented = plain.replacen("Sean", "Seán", 1);
        assert_eq!(
            segments(&accented),
            Segments {
                encoding: "UCS-2",
                units: 96,
                segments: 2
            }
        );
        // ë is not either; é is.
        assert_eq!(segments("Zoë").encoding, "UCS-2");
        assert_eq!(segments("café").encoding, "GSM-7");
        // The boundaries, and the extension table's two septets.
        assert_eq!(segments(&"a".repeat(160)).segments, 1);
        assert_eq!(segments(&"a".repeat(161)).segments, 2);
        assert_eq!(segments(&"a".repeat(306)).segments, 2);
        assert_eq!(segments(&"a".repeat(307)).segments, 3);
        assert_eq!(segments("€").units, 2);
        assert_eq!(segments(&"€".repeat(80)).segments, 1);
        assert_eq!(segments(&"ü😀".repeat(35)).segments, 2);
    }
}
