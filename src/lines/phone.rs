//! Phone numbers as exports hold them: `+1 317 555 0103`, `(317) 555-0101`,
//! `06 12 34 56 78`. Spaces, dots, dashes and brackets are dropped; `00`
//! is the international prefix; a national number takes the country
//! `--default-country` names (its calling code, its trunk prefix dropped).
//! The result is checked for E.164's shape (`+`, a country code, at most 15
//! digits), not against each country's numbering plan: libphonenumber's
//! metadata would cost the CLI about 1 MiB for a check the platform makes
//! anyway (an SMS to a number that cannot receive one fails with a reason).

/// (ISO 3166 alpha-2 code, calling code, trunk prefix dropped from a
/// national number). The North American Numbering Plan's countries share
/// +1; Italy keeps its 0.
const COUNTRIES: &[(&str, &str, &str)] = &[
    ("US", "1", "1"),
    ("CA", "1", "1"),
    ("PR", "1", "1"),
    ("GB", "44", "0"),
    ("IE", "353", "0"),
    ("FR", "33", "0"),
    ("DE", "49", "0"),
    ("AT", "43", "0"),
    ("CH", "41", "0"),
    ("NL", "31", "0"),
    ("BE", "32", "0"),
    ("LU", "352", ""),
    ("IT", "39", ""),
    ("ES", "34", ""),
    ("PT", "351", ""),
    ("DK", "45", ""),
    ("NO", "47", ""),
    ("SE", "46", "0"),
    ("FI", "358", "0"),
    ("IS", "354", ""),
    ("PL", "48", ""),
    ("CZ", "420", ""),
    ("SK", "421", "0"),
    ("HU", "36", "06"),
    ("RO", "40", "0"),
    ("BG", "359", "0"),
    ("GR", "30", ""),
    ("HR", "385", "0"),
    ("SI", "386", "0"),
    ("EE", "372", ""),
    ("LV", "371", ""),
    ("LT", "370", "8"),
    ("UA", "380", "0"),
    ("TR", "90", "0"),
    ("IL", "972", "0"),
    ("AE", "971", "0"),
    ("SA", "966", "0"),
    ("EG", "20", "0"),
    ("ZA", "27", "0"),
    ("NG", "234", "0"),
    ("KE", "254", "0"),
    ("MA", "212", "0"),
    ("IN", "91", "0"),
    ("PK", "92", "0"),
    ("BD", "880", "0"),
    ("SG", "65", ""),
    ("MY", "60", "0"),
    ("ID", "62", "0"),
    ("PH", "63", "0"),
    ("TH", "66", "0"),
    ("VN", "84", "0"),
    ("CN", "86", "0"),
    ("HK", "852", ""),
    ("TW", "886", "0"),
    ("JP", "81", "0"),
    ("KR", "82", "0"),
    ("AU", "61", "0"),
    ("NZ", "64", "0"),
    ("MX", "52", ""),
    ("BR", "55", "0"),
    ("AR", "54", "0"),
    ("CL", "56", ""),
    ("CO", "57", ""),
    ("PE", "51", "0"),
];

/// The calling code and trunk prefix of `country` (ISO 3166 alpha-2, any
/// case); `Err` names the ones known.
pub(crate) fn country(code: &str) -> Result<(&'static str, &'static str), String> {
    let upper = code.trim().to_ascii_uppercase();
    COUNTRIES
        .iter()
        .find(|(iso, ..)| *iso == upper)
        .map(|(_, calling, trunk)| (*calling, *trunk))
        .ok_or_else(|| {
            let known: Vec<&str> = COUNTRIES.iter().map(|(iso, ..)| *iso).collect();
            format!(
                "--default-country {code:?} is not a country this tool knows (ISO 3166 codes: {}); write the numbers with their + and country code instead",
                known.join(" ")
            )
        })
}

/// `number` in E.164 (`+13175550103`), as the column or key `what` holds
/// it; `default`: the `--default-country` for national numbers.
pub(crate) fn e164(
    number: &str,
    what: &str,
    default: Option<(&str, &str)>,
) -> Result<String, String> {
    let mut digits = String::with_capacity(number.len());
    let mut plus = false;
    for (i, c) in number.trim().chars().enumerate() {
        match c {
            '+' if i == 0 => plus = true,
            '0'..='9' => digits.push(c),
            ' ' | '.' | '-' | '(' | ')' | '/' | '\u{a0}' => {}
            _ => return Err(format!("{what} {number:?} is not a phone number")),
        }
    }
    let international = if plus {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_owned()
    } else {
        let Some((calling, trunk)) = default else {
            return Err(format!(
                "{what} {number:?} is a national number: give --default-country (US, FR...) or write it with its + and country code"
            ));
        };
        let national = if calling == "1" && digits.len() == 11 {
            // NANP: 1 and ten digits.
            digits.strip_prefix('1').unwrap_or(&digits)
        } else if !trunk.is_empty() {
            digits.strip_prefix(trunk).unwrap_or(&digits)
        } else {
            &digits
        };
        if calling == "1" && national.len() != 10 {
            return Err(format!(
                "{what} {number:?} is not a North American number (ten digits)"
            ));
        }
        format!("{calling}{national}")
    };
    if !(8..=15).contains(&international.len()) || international.starts_with('0') {
        return Err(format!(
            "{what} {number:?} is not a phone number: E.164 has a country code and 8 to 15 digits"
        ));
    }
    Ok(format!("+{international}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_exports_hold_them() {
        let us = country("us").ok();
        let fr = country("FR").ok();
        assert_eq!(e164("+1 317 555 0103", "to", None).unwrap(), "+13175550103");
        assert_eq!(e164("(317) 555-0101", "to", us).unwrap(), "+13175550101");
        assert_eq!(e164("1-317-555-0101", "to", us).unwrap(), "+13175550101");
        assert_eq!(e164("317.555.0101", "to", us).unwrap(), "+13175550101");
        assert_eq!(e164("06 12 34 56 78", "to", fr).unwrap(), "+33612345678");
        assert_eq!(
            e164("0033 6 12 34 56 78", "to", None).unwrap(),
            "+33612345678"
        );
        assert!(e164("06 12 34 56 78", "to", None)
            .unwrap_err()
            .contains("--default-country"));
        assert!(e164("555-0101", "to", us)
            .unwrap_err()
            .contains("ten digits"));
        assert!(e164("call me", "to", us)
            .unwrap_err()
            .contains("not a phone number"));
        assert!(e164("+1234", "to", None).is_err());
        assert!(country("XX").unwrap_err().contains("FR"));
    }
}
