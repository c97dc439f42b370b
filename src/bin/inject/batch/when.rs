//! When and whether a line goes, as the command line gives it: the batch's
//! `--send-window`, `--tz`, `--valid-until`, `--suppress` lists and
//! `--min-gap` as `BatchOptions`, and a line's own `send_window`, `tz` and
//! `valid_until` keys on its `BatchLine`. A time is RFC 3339, or `HH:MM`
//! today in the line's or the batch's zone. Sends nothing.

use std::path::Path;
use std::time::Duration;

use genesys_inject::{BatchOptions, SendWindow, Suppression, Zone};

use genesys_inject::lines::{time, Country};

use crate::args::Args;

/// The largest suppression list read.
const MAX_LIST: u64 = 64 << 20;

/// The batch's options for these rules; an error is a usage error.
pub(crate) fn options(
    mut options: BatchOptions,
    args: &Args,
    country: Option<Country>,
) -> Result<BatchOptions, String> {
    let zone = args.tz.as_deref().map(Zone::named).transpose();
    let zone = zone.map_err(|e| format!("--tz: {e}"))?;
    if let Some(window) = &args.send_window {
        let window: SendWindow = window.parse().map_err(|e| format!("--send-window: {e}"))?;
        options = options
            .send_window(window)
            .wait_for_window(args.wait_for_window);
    }
    if let Some(until) = &args.valid_until {
        options = options.valid_until(time(until, zone.as_ref(), "--valid-until")?);
    }
    if let Some(zone) = zone {
        options = options.time_zone(zone);
    }
    if !args.suppress.is_empty() {
        options = options.suppress(suppression(args, country)?);
    }
    if let Some(secs) = args.min_gap {
        options = options.min_gap(Duration::from_secs(secs));
    }
    Ok(options)
}

/// An entry of a suppression list as it is compared: a phone number in
/// E.164 (national ones in `--default-country`), anything else as given.
fn entry(raw: &str, country: Option<Country>, at: &str) -> Result<String, String> {
    let raw = raw.trim();
    let phone_like = raw
        .chars()
        .all(|c| c.is_ascii_digit() || " +.-()/\u{a0}".contains(c))
        && raw.chars().filter(char::is_ascii_digit).count() >= 7;
    if phone_like {
        genesys_inject::lines::phone_number(raw, at, country).map_err(|e| e.0)
    } else {
        Ok(raw.to_owned())
    }
}

/// The recipients of the `--suppress` lists: one a line (`#` comments),
/// or a CSV's `--suppress-column`.
fn suppression(args: &Args, country: Option<Country>) -> Result<Suppression, String> {
    let mut list = Suppression::new();
    let mut csv_seen = false;
    for file in &args.suppress {
        let bytes = read(file)?;
        let is_csv = file.to_ascii_lowercase().ends_with(".csv");
        if is_csv {
            csv_seen = true;
            let Some(column) = &args.suppress_column else {
                return Err(format!(
                    "--suppress {file}: a CSV list needs --suppress-column NAME (the column that holds each recipient)"
                ));
            };
            let mut reader = csv::ReaderBuilder::new()
                .flexible(true)
                .from_reader(bytes.as_slice());
            let header = reader
                .headers()
                .map_err(|e| format!("--suppress {file}: {e}"))?
                .clone();
            let Some(at) = header.iter().position(|h| h.trim() == column) else {
                return Err(format!(
                    "--suppress {file}: no column {column:?}; its columns: {}",
                    header.iter().collect::<Vec<_>>().join(", ")
                ));
            };
            for (n, record) in reader.records().enumerate() {
                let record = record.map_err(|e| format!("--suppress {file}: {e}"))?;
                let value = record.get(at).unwrap_or_default();
                if !value.trim().is_empty() {
                    let at = format!("--suppress {file} row {}:", n + 2);
                    list.insert(&entry(value, country, &at)?);
                }
            }
        } else {
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("--suppress {file}: not UTF-8 text"))?;
            for (n, raw) in text.lines().enumerate() {
                let value = raw.trim();
                if value.is_empty() || value.starts_with('#') {
                    continue;
                }
                let at = format!("--suppress {file} line {}:", n + 1);
                list.insert(&entry(value, country, &at)?);
            }
        }
    }
    if args.suppress_column.is_some() && !csv_seen {
        return Err(
            "--suppress-column names a column of a CSV list: no --suppress FILE.csv is given"
                .into(),
        );
    }
    Ok(list)
}

/// The bytes of a list.
fn read(file: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(Path::new(file))
        .and_then(|f| f.take(MAX_LIST + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read --suppress {file}: {e}"))?;
    if bytes.len() as u64 > MAX_LIST {
        return Err(format!("--suppress {file} is larger than {MAX_LIST} bytes"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc_3339_or_a_time_of_day_in_a_zone() {
        let t = time("2026-12-05T18:00:00-05:00", None, "x").unwrap();
        assert_eq!(t, humantime::parse_rfc3339("2026-12-05T23:00:00Z").unwrap());
        assert!(time("18:00", None, "x").unwrap_err().contains("--tz"));
        let ny = Zone::named("America/New_York").unwrap();
        assert!(time("18:00", Some(&ny), "x").is_ok());
        for bad in ["25:00", "6pm", "tomorrow", "18:0"] {
            assert!(time(bad, Some(&ny), "x").is_err(), "{bad}");
        }
    }

    #[test]
    fn list_entries_are_numbers_in_e164_or_ids_as_given() {
        let us = Some(Country::new("US").unwrap());
        assert_eq!(entry("(317) 555-0101", us, "l").unwrap(), "+13175550101");
        assert_eq!(entry("+1 317 555 0101", None, "l").unwrap(), "+13175550101");
        assert_eq!(
            entry("ec35f2a8-289b-42d4-8893-c50eaf81a3c1", None, "l").unwrap(),
            "ec35f2a8-289b-42d4-8893-c50eaf81a3c1"
        );
        assert!(entry("317 555 0101", None, "l")
            .unwrap_err()
            .contains("--default-country"));
    }
}
