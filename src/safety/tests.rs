//! The content rules' tests: words as the regex would match them, the
//! detectors by shape and checksum.

use super::card::{digit, luhn, scheme, separator};
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

/// `digits` (ASCII) with the check digit that makes them Luhn-valid.
fn luhn_valid(mut digits: Vec<u8>) -> Vec<u8> {
    for check in b'0'..=b'9' {
        digits.push(check);
        if luhn(&values(&digits)) {
            return digits;
        }
        digits.pop();
    }
    unreachable!("one check digit fits")
}

/// ASCII digits' values.
fn values(ascii: &[u8]) -> Vec<u8> {
    ascii.iter().map(|d| d - b'0').collect()
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
        // A scheme's prefix and a length it issues (Visa 16, Mastercard
        // 16, Amex 15, Discover 16 to 19, UnionPay 19).
        (prefix, length) in prop_oneof![
            Just(("4", 16)), Just(("5", 16)), Just(("2720", 16)), Just(("37", 15)),
            Just(("65", 17)), Just(("6011", 19)), Just(("62", 19))
        ],
        rest in proptest::collection::vec(b'0'..=b'9', 18),
        sizes in prop_oneof![Just(vec![]), Just(vec![4, 4, 4]), Just(vec![4, 6]), Just(vec![4, 4, 4, 4])],
        sep in prop_oneof![Just(" "), Just("-")],
        bump in 1u8..=9,
    ) {
        let mut body = prefix.as_bytes().to_vec();
        body.extend_from_slice(&rest[..length - 1 - prefix.len()]);
        // Mastercard's 5 is 51 to 55.
        if prefix == "5" {
            body[1] = b'1' + rest[0] % 5;
        }
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

/// Published test card numbers (Stripe's, PayPal's and Braintree's test
/// lists): none may pass.
pub(super) const TEST_CARDS: &[&str] = &[
    "4111111111111111",
    "4242424242424242",
    "4012888888881881",
    "4222222222222",
    "4000056655665556",
    "5555555555554444",
    "5105105105105100",
    "5200828282828210",
    "2223003122003222",
    "378282246310005",
    "371449635398431",
    "6011111111111117",
    "6011000990139424",
    "6011981111111113",
    "3566002020360505",
    "3530111333300000",
    "30569309025904",
    "38520000023237",
    "36227206271667",
    "3056930009020004",
    "6200000000000005",
    "6205500000000000004",
    "6304000000000000",
];

#[test]
fn every_schemes_test_numbers_are_refused() {
    for card in TEST_CARDS {
        assert!(luhn(&values(card.as_bytes())), "{card} fails Luhn");
        assert!(scheme(&values(card.as_bytes())).is_some(), "{card}");
        assert_eq!(
            refused(&format!("card {card}")).as_deref(),
            Some("card-number"),
            "{card}"
        );
    }
    // One per prefix family of the table, at a length the scheme issues.
    for (prefix, length, name) in [
        ("4", 13, "Visa"),
        ("4", 19, "Visa"),
        ("51", 16, "Mastercard"),
        ("55", 16, "Mastercard"),
        ("2221", 16, "Mastercard"),
        ("2720", 16, "Mastercard"),
        ("34", 15, "American Express"),
        ("37", 15, "American Express"),
        ("6011", 16, "Discover"),
        ("644", 16, "Discover"),
        ("649", 19, "Discover"),
        ("65", 16, "Discover"),
        ("3528", 16, "JCB"),
        ("3589", 19, "JCB"),
        ("36", 14, "Diners Club"),
        ("300", 14, "Diners Club"),
        ("305", 16, "Diners Club"),
        ("3095", 16, "Diners Club"),
        ("38", 16, "Diners Club"),
        ("39", 19, "Diners Club"),
        ("62", 16, "UnionPay"),
        ("62", 19, "UnionPay"),
        ("5018", 13, "Maestro"),
        ("5893", 19, "Maestro"),
        ("6304", 16, "Maestro"),
        ("6759", 16, "Maestro"),
        ("6763", 18, "Maestro"),
        ("676770", 16, "Maestro"),
        ("2200", 16, "Mir"),
        ("2204", 19, "Mir"),
    ] {
        let mut digits = prefix.as_bytes().to_vec();
        digits.resize(length - 1, b'7');
        let card = luhn_valid(digits);
        assert_eq!(scheme(&values(&card)), Some(name), "{prefix} {length}");
        let text = format!("card {}", std::str::from_utf8(&card).unwrap());
        assert_eq!(refused(&text).as_deref(), Some("card-number"), "{text}");
    }
}

#[test]
fn numbers_no_scheme_issues_pass_luhn_or_not() {
    for (prefix, length) in [
        // Lengths a scheme does not issue with that prefix.
        ("4", 15),
        ("4", 17),
        ("51", 15),
        ("51", 19),
        ("34", 16),
        ("2221", 19),
        ("38", 15),
        ("3095", 14),
        ("36", 13),
        // Prefixes no scheme issues.
        ("1", 16),
        ("7", 16),
        ("89", 19),
        ("56", 16),
        ("2721", 16),
        ("2199", 16),
        ("3527", 16),
        ("3590", 16),
        ("306", 14),
        ("640", 16),
    ] {
        let mut digits = prefix.as_bytes().to_vec();
        digits.resize(length - 1, b'3');
        let number = luhn_valid(digits);
        let text = format!("Order {}", std::str::from_utf8(&number).unwrap());
        assert_eq!(refused(&text), None, "{text}");
    }
    // A SIM card's ICCID (89, Luhn by design) and phones' IMEIs (15
    // digits, Luhn by design: the GSMA's example and TACs of reporting
    // bodies 01, 35, 86, 99).
    for id in [
        "8991101200003204510",
        "89014103211118510720",
        "490154203237518",
        "352099001761481",
        "013890004558916",
        "866123456789017",
        "990000862471854",
    ] {
        let text = format!("SIM {id} ok");
        assert_eq!(refused(&text), None, "{text}");
    }
}

#[test]
fn separators_and_digits_as_people_type_them() {
    for sep in [
        '\u{A0}', '\u{2009}', '\u{202F}', '\u{3000}', '\u{2013}', '\u{2014}', '\u{2011}',
        '\u{FF0D}', ' ', '-',
    ] {
        let text = format!("Card 4111{sep}1111{sep}1111{sep}1111 on file");
        let e = SafetyPolicy::default().check(&text).unwrap_err();
        assert_eq!(
            e,
            ValidationError::Unsafe {
                rule: "card-number".into(),
                at: 6
            },
            "{sep:?}"
        );
        assert!(!e.to_string().contains("1111"), "{e}");
    }
    // Two separators, or one that is neither a space nor a dash: not one
    // number.
    for text in [
        "4111\u{A0}\u{A0}1111 1111 1111",
        "4111.1111.1111.1111",
        "4111/1111/1111/1111",
    ] {
        assert_eq!(refused(text), None, "{text:?}");
    }
    // Fullwidth, Arabic-Indic, Extended Arabic-Indic (Persian), Devanagari
    // and mixed with ASCII: the same number.
    let scripts = [0xFF10u32, 0x660, 0x6F0, 0x966];
    for zero in scripts {
        let shown: String = "4111 1111 1111 1111"
            .chars()
            .map(|c| match c.to_digit(10) {
                Some(d) => char::from_u32(zero + d).unwrap(),
                None => c,
            })
            .collect();
        let text = format!("Card: {shown}");
        let e = SafetyPolicy::default().check(&text).unwrap_err();
        assert_eq!(
            e,
            ValidationError::Unsafe {
                rule: "card-number".into(),
                at: 7
            },
            "{text}"
        );
        assert!(!e.to_string().contains(&shown[..6]), "{e}");
    }
    assert_eq!(
        refused("４１１１1111 1111 １１１１").as_deref(),
        Some("card-number")
    );
    // Another script's digit beside the number makes it a longer number.
    assert_eq!(refused("٣4111111111111111"), None);
    assert_eq!(digit('٣'), Some(3));
    assert_eq!(digit('\u{1D7D8}'), Some(0));
    assert_eq!(digit('²'), None);
    assert_eq!(digit('٪'), None);
    assert!(separator('\u{2009}') && !separator('.') && !separator('\t'));
}

/// The refusal rates docs/cli.md (content rules) gives: 10,000 random order numbers of 13
/// to 19 digits (a fixed seed: the same numbers each run), and the schemes'
/// published test numbers. `cargo test --lib refusal_rates -- --nocapture`
/// prints them.
#[test]
fn refusal_rates() {
    // splitmix64: a fixed, dependency-free sequence.
    let mut state = 0x5EED_u64;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let total = 10_000;
    let (mut refused_now, mut luhn_only) = (0, 0);
    for _ in 0..total {
        let length = 13 + (next() % 7) as usize;
        let mut digits = vec![b'1' + (next() % 9) as u8];
        digits.extend((1..length).map(|_| b'0' + (next() % 10) as u8));
        let number = std::str::from_utf8(&digits).unwrap();
        luhn_only += usize::from(luhn(&values(&digits)));
        refused_now += usize::from(refused(&format!("Order {number} shipped")).is_some());
    }
    let cards = TEST_CARDS
        .iter()
        .filter(|c| refused(&format!("card {c}")).is_some())
        .count();
    let rate = |n: usize, of: usize| 100.0 * n as f64 / of as f64;
    println!(
        "random order numbers, 13 to 19 digits: {refused_now} of {total} refused ({:.2} %; Luhn alone: {luhn_only}, {:.2} %); published test cards: {cards} of {} ({:.0} %)",
        rate(refused_now, total),
        rate(luhn_only, total),
        TEST_CARDS.len(),
        rate(cards, TEST_CARDS.len())
    );
    assert!(rate(refused_now, total) <= 1.5);
    assert_eq!(cards, TEST_CARDS.len());
}
