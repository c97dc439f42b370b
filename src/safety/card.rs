//! The payment card detector: a number a card scheme issues, as a person
//! writes it. A run of 13 to 19 digits (of any script Unicode gives
//! decimal digits: fullwidth `４`, Arabic-Indic `٤`, …), alone or in groups
//! split by one Unicode space or dash (U+00A0, U+2009, U+2013, …), not
//! inside a word or a longer number, that passes the Luhn check and whose
//! prefix and length are those of a card scheme (the issuer identification
//! numbers of [`SCHEMES`]). Other Luhn-valid numbers pass: order numbers, a
//! SIM card's ICCID (89…, 19 or 20 digits), a phone's IMEI (15 digits).

/// One scheme's issuer prefixes: the first digits of the number from `lo`
/// to `hi` (as many digits as `lo` has), in numbers of the lengths whose
/// bits `lengths` sets.
struct Prefixes {
    lo: u32,
    hi: u32,
    lengths: u32,
}

/// The bits of lengths `from..=to`.
const fn lengths(from: u32, to: u32) -> u32 {
    (u32::MAX >> (31 - to)) & !((1 << from) - 1)
}

const fn one(length: u32) -> u32 {
    1 << length
}

const fn p(lo: u32, hi: u32, lengths: u32) -> Prefixes {
    Prefixes { lo, hi, lengths }
}

/// The schemes' issuer identification number (IIN) ranges and the lengths
/// each issues, from the table of Wikipedia's "Payment card number" (the
/// schemes' own documents it cites: Visa's, Mastercard's 2-series
/// announcement, Discover's IIN ranges with its network partners, JCB's,
/// UnionPay's), read 2026-12. Lengths below 13 (some Maestro) are not read
/// as a card at all.
const SCHEMES: &[(&str, &[Prefixes])] = &[
    ("Visa", &[p(4, 4, one(13) | one(16) | one(19))]),
    ("Mastercard", &[p(51, 55, one(16)), p(2221, 2720, one(16))]),
    (
        "American Express",
        &[p(34, 34, one(15)), p(37, 37, one(15))],
    ),
    (
        "Discover",
        &[
            p(6011, 6011, lengths(16, 19)),
            p(644, 649, lengths(16, 19)),
            p(65, 65, lengths(16, 19)),
            p(622126, 622925, lengths(16, 19)),
        ],
    ),
    ("JCB", &[p(3528, 3589, lengths(16, 19))]),
    (
        "Diners Club",
        &[
            p(36, 36, lengths(14, 19)),
            p(300, 305, one(14) | lengths(16, 19)),
            p(3095, 3095, lengths(16, 19)),
            // 14 digits too: the numbers Diners Club issued before it
            // joined Discover's network (its published test number is one).
            p(38, 39, one(14) | lengths(16, 19)),
        ],
    ),
    ("UnionPay", &[p(62, 62, lengths(16, 19))]),
    (
        "Maestro",
        &[
            p(5018, 5018, lengths(13, 19)),
            p(5020, 5020, lengths(13, 19)),
            p(5038, 5038, lengths(13, 19)),
            p(5893, 5893, lengths(13, 19)),
            p(6304, 6304, lengths(13, 19)),
            p(6759, 6759, lengths(13, 19)),
            p(6761, 6763, lengths(13, 19)),
            p(676770, 676770, lengths(13, 19)),
            p(676774, 676774, lengths(13, 19)),
        ],
    ),
    ("Mir", &[p(2200, 2204, lengths(16, 19))]),
];

/// The scheme that issues numbers of `digits`' prefix and length.
pub(super) fn scheme(digits: &[u8]) -> Option<&'static str> {
    let length = digits.len() as u32;
    SCHEMES.iter().find_map(|(name, prefixes)| {
        prefixes
            .iter()
            .any(|p| {
                let width = p.lo.ilog10() as usize + 1;
                let prefix = digits
                    .iter()
                    .take(width)
                    .fold(0u32, |n, &d| n * 10 + u32::from(d));
                p.lengths & (1 << length.min(31)) != 0 && (p.lo..=p.hi).contains(&prefix)
            })
            .then_some(*name)
    })
}

/// Whether `digits` (values 0 to 9) pass the Luhn check.
pub(super) fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            match (i % 2, d * 2) {
                (0, _) => d,
                (_, twice) if twice > 9 => twice - 9,
                (_, twice) => twice,
            }
        })
        .sum();
    sum % 10 == 0
}

/// The first code point of each run of ten decimal digits (general category
/// Nd, 0 to 9 in order) in Unicode 15.0, from its UnicodeData.txt.
const ZEROS: [u32; 68] = [
    0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66,
    0xDE6, 0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x11F50, 0x16A60, 0x16AC0,
    0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E4F0, 0x1E950,
    0x1FBF0,
];

/// A decimal digit's value, in any script.
pub(super) fn digit(c: char) -> Option<u8> {
    if c.is_ascii_digit() {
        return Some(c as u8 - b'0');
    }
    let c = c as u32;
    let zero = ZEROS[..ZEROS.partition_point(|&z| z <= c)].last()?;
    // Below ten past a zero: a digit (the runs never overlap).
    u8::try_from(c - zero).ok().filter(|&d| d < 10)
}

/// A space (general category Zs) or a dash (Pd) of Unicode 15.0, as may
/// stand between a card number's groups.
pub(super) fn separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{A0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200A}'
            | '\u{202F}'
            | '\u{205F}'
            | '\u{3000}'
            | '-'
            | '\u{58A}'
            | '\u{5BE}'
            | '\u{1400}'
            | '\u{1806}'
            | '\u{2010}'..='\u{2015}'
            | '\u{2E17}'
            | '\u{2E1A}'
            | '\u{2E3A}'
            | '\u{2E3B}'
            | '\u{2E40}'
            | '\u{2E5D}'
            | '\u{301C}'
            | '\u{3030}'
            | '\u{30A0}'
            | '\u{FE31}'
            | '\u{FE32}'
            | '\u{FE58}'
            | '\u{FE63}'
            | '\u{FF0D}'
            | '\u{10EAD}'
    )
}

/// An ASCII word character, as `\b` sees it.
fn word(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether any of these 8 bytes is an ASCII digit or not ASCII: a place
/// a number may start. (For bytes below 0x80, adding less than 0x80 never
/// carries into the next byte.)
fn worth_a_look(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    if x & HIGH != 0 {
        return true;
    }
    let from_0 = x.wrapping_add(ONES * (0x80 - u64::from(b'0'))) & HIGH;
    let past_9 = x.wrapping_add(ONES * (0x80 - u64::from(b'9') - 1)) & HIGH;
    from_0 & !past_9 != 0
}

/// The character at byte `i` of `text`, and its length in bytes.
fn char_at(text: &str, i: usize) -> (char, usize) {
    let c = text[i..].chars().next().expect("a char boundary");
    (c, c.len_utf8())
}

/// The digit at byte `i` of `text` (its value, and its length in bytes).
#[inline]
fn digit_at(text: &str, i: usize) -> Option<(u8, usize)> {
    match *text.as_bytes().get(i)? {
        b @ b'0'..=b'9' => Some((b - b'0', 1)),
        0..=0x7F => None,
        _ => {
            let (c, len) = char_at(text, i);
            digit(c).map(|d| (d, len))
        }
    }
}

/// The byte offset of the first card number in `text` (see the module).
pub(super) fn find(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // Plain ASCII words, eight bytes at a time.
        while let Some(eight) = bytes.get(i..i + 8) {
            if worth_a_look(u64::from_le_bytes(eight.try_into().expect("8 bytes"))) {
                break;
            }
            i += 8;
        }
        let Some(&b) = bytes.get(i) else { break };
        if b < 0x80 && !b.is_ascii_digit() {
            i += 1;
            continue;
        }
        if digit_at(text, i).is_none() {
            i += char_at(text, i).1;
            continue;
        }
        let start = i;
        let mut number = [0u8; 19];
        let mut count = 0usize;
        let mut end = i;
        loop {
            while let Some((d, len)) = digit_at(text, end) {
                if let Some(slot) = number.get_mut(count) {
                    *slot = d;
                }
                count += 1;
                end += len;
            }
            // One separator, then a digit: the number goes on.
            let Some(&b) = bytes.get(end) else { break };
            let len = match b {
                b' ' | b'-' => 1,
                0..=0x7F => break,
                _ => match char_at(text, end) {
                    (c, len) if separator(c) => len,
                    _ => break,
                },
            };
            if digit_at(text, end + len).is_none() {
                break;
            }
            end += len;
        }
        if (13..=19).contains(&count) {
            let number = &number[..count];
            let alone =
                !word(text[..start].chars().next_back()) && !word(text[end..].chars().next());
            if alone && luhn(number) && scheme(number).is_some() {
                return Some(start);
            }
        }
        i = end;
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn eight_bytes_are_worth_a_look_exactly_when_one_is_a_digit_or_not_ascii() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut eight = *b"abcdefgh";
                eight[at] = b;
                let expected = b.is_ascii_digit() || b >= 0x80;
                assert_eq!(
                    super::worth_a_look(u64::from_le_bytes(eight)),
                    expected,
                    "{b:#x} at {at}"
                );
            }
        }
        assert!(!super::worth_a_look(u64::from_le_bytes(*b"/:/:/:/:")));
    }
}
