//! A line's own rules, from its keys: `send_window`, `tz` and
//! `valid_until`. A time is RFC 3339, or `HH:MM` today in the line's or the
//! batch's zone.

use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::{BatchLine, SendWindow, Zone};

/// `value` as a time, as a line's `valid_until` and `--valid-until` take
/// it: RFC 3339 (`2026-12-05T18:00:00-05:00`), or `HH:MM`
/// today in `zone`; `what` names it in the error.
pub fn time(value: &str, zone: Option<&Zone>, what: &str) -> Result<SystemTime, String> {
    let value = value.trim();
    if let Ok(at) = value.parse::<jiff::Timestamp>() {
        return SystemTime::try_from(at).map_err(|e| format!("{what} {value:?}: {e}"));
    }
    let hm = value
        .split_once(':')
        .filter(|(h, m)| h.len() == 2 && m.len() == 2)
        .and_then(|(h, m)| Some((h.parse::<i8>().ok()?, m.parse::<i8>().ok()?)))
        .filter(|(h, m)| (0..24).contains(h) && (0..60).contains(m));
    let Some((hour, minute)) = hm else {
        return Err(format!(
            "{what} {value:?}: give an RFC 3339 time (2026-12-05T18:00:00-05:00) or HH:MM"
        ));
    };
    let Some(zone) = zone else {
        return Err(format!(
            "{what} {value:?} is a time of day: give the zone it is in (--tz ZONE, or the line's tz), or an RFC 3339 time"
        ));
    };
    let tz = jiff::tz::TimeZone::get(zone.name()).map_err(|e| format!("{what}: {e}"))?;
    let today = tz.to_datetime(jiff::Timestamp::now()).date();
    tz.to_timestamp(today.at(hour, minute, 0, 0))
        .ok()
        .and_then(|t| SystemTime::try_from(t).ok())
        .ok_or_else(|| format!("{what} {value:?}: not a time today in {}", zone.name()))
}

/// `line` with its own `send_window`, `tz` and `valid_until` (taken out of
/// `object`); `batch_zone`: the `--tz` an `HH:MM` is read in when the
/// line gives no zone.
pub(crate) fn line_rules(
    mut line: BatchLine,
    object: &mut Map<String, Value>,
    batch_zone: Option<&Zone>,
) -> Result<BatchLine, String> {
    let mut text = |key: &str| -> Result<Option<String>, String> {
        match object.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("{key} must be a string")),
        }
    };
    let (window, tz, until) = (text("send_window")?, text("tz")?, text("valid_until")?);
    if let Some(window) = window {
        let window: SendWindow = window.parse().map_err(|e| format!("send_window: {e}"))?;
        line = line.send_window(window);
    }
    let zone = tz
        .map(|tz| Zone::named(&tz).map_err(|e| format!("tz: {e}")))
        .transpose()?;
    if let Some(until) = until {
        let zone = zone.as_ref().or(batch_zone);
        line = line.valid_until(time(&until, zone, "valid_until")?);
    }
    if let Some(zone) = zone {
        line = line.time_zone(zone);
    }
    Ok(line)
}
