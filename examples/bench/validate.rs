//! `--validate`: the safety rules' cost a message, on 2,000 UTF-16 units
//! of a notification's words, with and without numbers.

use super::*;

/// 2000 bytes of a notification's words; with `digits`, every third word a
/// number (times, order numbers, phone numbers) for the card and SSN
/// detectors to look at.
pub(crate) fn notification_text(digits: bool) -> String {
    let words = [
        "order", "shipped", "arrive", "tomorrow", "between", "nine", "noon", "track", "reply",
        "delivery", "change", "help",
    ];
    let numbers = ["10:30", "4111-2222", "+1 317 555 1234", "#20261202", "42"];
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 2000 {
        if digits && i % 3 == 2 {
            text.push_str(numbers[i % numbers.len()]);
        } else {
            text.push_str(words[i % words.len()]);
        }
        text.push(' ');
        i += 1;
    }
    text.truncate(2000);
    text
}

/// Nanoseconds a `validate` call of `text` takes under `policy`.
pub(crate) fn validate_ns_with(policy: &SafetyPolicy, text: &str) -> f64 {
    let blocks = [ContentBlock::text(text)];
    assert_eq!(
        validate(&blocks, 2000, policy).expect("valid").utf16_len(),
        2000
    );
    let iterations = 20_000;
    let start = Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(validate(std::hint::black_box(&blocks), 2000, policy).expect("valid"));
    }
    start.elapsed().as_nanos() as f64 / iterations as f64
}

pub(crate) fn validate_ns() -> f64 {
    validate_ns_with(&SafetyPolicy::default(), &notification_text(false))
}

/// `--validate`: the safety rules' cost a message, the tutorial's three
/// words (the default before 0.1's content rules) against today's default
/// (the words at word boundaries, and the card number and SSN detectors),
/// on text without and with numbers; the median of five runs each.
pub(crate) fn print_validate_figures() {
    let tutorial = ["password", "ssn", "credit.card"]
        .iter()
        .try_fold(SafetyPolicy::empty(), |p, r| p.deny(r))
        .expect("valid rules");
    let current = SafetyPolicy::default();
    for digits in [false, true] {
        let text = notification_text(digits);
        let median = |policy: &SafetyPolicy| {
            let mut runs: Vec<f64> = (0..5).map(|_| validate_ns_with(policy, &text)).collect();
            runs.sort_by(f64::total_cmp);
            runs[2]
        };
        let (before, after) = (median(&tutorial), median(&current));
        println!(
            "validate, 2000 UTF-16 units {}: tutorial rules {before:.0} ns, default rules {after:.0} ns ({:+.0} ns a message)",
            if digits { "with numbers" } else { "of words" },
            after - before
        );
    }
}
