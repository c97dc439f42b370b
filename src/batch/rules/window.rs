//! Send windows: a daily span of local time ([`SendWindow`]) read in one
//! or more IANA zones ([`Zone`], through jiff). With several zones (an area
//! code that spans them), only the hours every zone's window allows: the
//! window is open when it is open in each, it closes when the first closes,
//! and it opens when the last opens. DST is the zone's: a window is in
//! local wall time, whatever the offset that day.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::Error;

/// Minutes in a day.
const DAY: u16 = 24 * 60;

/// How far ahead a window's opening is looked for: past it, a window that
/// never opens in every zone at once is said to be so.
const LOOK_AHEAD_DAYS: i64 = 8;

/// A daily window of local time, `HH:MM-HH:MM`, in which a batch line may
/// go: from the first minute, up to (not including) the second; `24:00`
/// is the end of the day, and a window whose end is before its start spans
/// midnight (`22:00-06:00`). In the recipient's zone
/// ([`BatchLine::time_zone`](crate::BatchLine::time_zone),
/// [`BatchOptions::time_zone`](crate::BatchOptions::time_zone), or a NANP
/// number's area code). US federal rules allow 8 a.m. to 9 p.m.
/// (`08:00-21:00`); Florida 8 a.m. to 8 p.m.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SendWindow {
    /// Minutes after midnight: `start` in `0..1440`, `end` in `1..=1440`.
    start: u16,
    end: u16,
}

impl SendWindow {
    /// The window from `start` to `end` (each `(hour, minute)`; the end may
    /// be `(24, 0)`).
    ///
    /// # Errors
    /// [`Error::Config`] when a time is not one (hour past 24, minute past
    /// 59) or the window is empty (its start is its end).
    pub fn new(start: (u8, u8), end: (u8, u8)) -> Result<SendWindow, Error> {
        let minutes = |(h, m): (u8, u8), is_end: bool| -> Option<u16> {
            let t = u16::from(h) * 60 + u16::from(m);
            (m < 60 && (t < DAY || (is_end && t == DAY))).then_some(t)
        };
        let (Some(start), Some(end)) = (minutes(start, false), minutes(end, true)) else {
            return Err(Error::Config(
                "a send window's times are HH:MM, 00:00 to 24:00".into(),
            ));
        };
        if start == end % DAY {
            return Err(Error::Config(
                "a send window's start and end are the same time: it would be empty".into(),
            ));
        }
        Ok(SendWindow { start, end })
    }

    /// Whether `minute` (after local midnight) is inside.
    fn contains(self, minute: u16) -> bool {
        if self.start < self.end {
            self.start <= minute && minute < self.end
        } else {
            minute >= self.start || minute < self.end
        }
    }
}

impl FromStr for SendWindow {
    type Err = Error;

    /// `HH:MM-HH:MM`, as [`SendWindow::new`] takes it.
    fn from_str(s: &str) -> Result<SendWindow, Error> {
        let bad = || {
            Error::Config(format!(
                "send window {s:?}: give it as HH:MM-HH:MM (08:00-21:00, say)"
            ))
        };
        let time = |t: &str| -> Option<(u8, u8)> {
            let (h, m) = t.trim().split_once(':')?;
            let two = |x: &str| {
                (x.len() == 2 && x.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| x.parse::<u8>().ok())
                    .flatten()
            };
            Some((two(h)?, two(m)?))
        };
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let (start, end) = (time(a).ok_or_else(bad)?, time(b).ok_or_else(bad)?);
        SendWindow::new(start, end)
    }
}

impl fmt::Display for SendWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hm = |t: u16| format!("{:02}:{:02}", t / 60, t % 60);
        write!(f, "{}-{}", hm(self.start), hm(self.end))
    }
}

/// An IANA time zone (`America/New_York`), from the system's database
/// (or, where the system has none, as on Windows, the one built in).
#[derive(Clone, PartialEq, Eq)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl Zone {
    /// The zone named `name` (an IANA name: `America/Chicago`, `UTC`).
    ///
    /// # Errors
    /// [`Error::Config`] when no zone has that name.
    pub fn named(name: &str) -> Result<Zone, Error> {
        let name = name.trim();
        TimeZone::get(name)
            .map(|tz| Zone {
                name: tz.iana_name().unwrap_or(name).to_owned(),
                tz,
            })
            .map_err(|_| {
                Error::Config(format!(
                    "time zone {name:?}: not an IANA zone name (America/New_York, say)"
                ))
            })
    }

    /// Its IANA name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The minute after local midnight at `t`, and the local date.
    fn local(&self, t: Timestamp) -> (u16, Date) {
        let dt = self.tz.to_datetime(t);
        let minute = dt.hour() as u16 * 60 + dt.minute() as u16;
        (minute, dt.date())
    }

    /// The instants, after `t`, at which the local time is `minute` (after
    /// midnight; 1440: the next midnight), for the days from the day
    /// before `t`'s on: the first after `t`.
    fn next_at(&self, t: Timestamp, minute: u16) -> Option<Timestamp> {
        let (_, today) = self.local(t);
        (-1..=LOOK_AHEAD_DAYS).find_map(|day| {
            let date = today.checked_add(jiff::Span::new().days(day)).ok()?;
            let (date, minute) = if minute == DAY {
                (date.tomorrow().ok()?, 0)
            } else {
                (date, minute)
            };
            let at = date.at((minute / 60) as i8, (minute % 60) as i8, 0, 0);
            self.tz.to_timestamp(at).ok().filter(|at| *at > t)
        })
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Zone").field(&self.name).finish()
    }
}

/// Where a window stands at a moment, in every zone at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Open in every zone; it closes then (the first zone's close).
    Open { closes: SystemTime },
    /// Closed in at least one; it opens then in all (`None`: not within
    /// [`LOOK_AHEAD_DAYS`]: the zones never share an open hour).
    Closed { opens: Option<SystemTime> },
}

/// Where `window` stands at `now` in each of `zones` (at least one).
pub(crate) fn standing(window: SendWindow, zones: &[Zone], now: SystemTime) -> Standing {
    let Ok(now) = Timestamp::try_from(now) else {
        return Standing::Closed { opens: None };
    };
    let inside = |t: Timestamp| zones.iter().all(|z| window.contains(z.local(t).0));
    let to_system = |t: Timestamp| SystemTime::try_from(t).ok();
    if inside(now) {
        let closes = zones
            .iter()
            .filter_map(|z| z.next_at(now, window.end))
            .min()
            .and_then(to_system);
        return match closes {
            Some(closes) => Standing::Open { closes },
            None => Standing::Closed { opens: None },
        };
    }
    // The latest of the zones' next openings, until every zone is inside
    // at once (the shared hours begin at some zone's opening).
    let limit = now
        .checked_add(jiff::SignedDuration::from_hours(24 * LOOK_AHEAD_DAYS))
        .unwrap_or(now);
    let mut t = now;
    for _ in 0..(4 * LOOK_AHEAD_DAYS as usize * zones.len().max(1)) {
        if inside(t) {
            return Standing::Closed {
                opens: to_system(t),
            };
        }
        let Some(next) = zones
            .iter()
            .filter(|z| !window.contains(z.local(t).0))
            .filter_map(|z| z.next_at(t, window.start))
            .max()
        else {
            break;
        };
        if next > limit {
            break;
        }
        t = next;
    }
    Standing::Closed { opens: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SystemTime {
        SystemTime::try_from(s.parse::<Timestamp>().unwrap()).unwrap()
    }

    fn zones(names: &[&str]) -> Vec<Zone> {
        names.iter().map(|n| Zone::named(n).unwrap()).collect()
    }

    #[test]
    fn windows_are_read_as_written_and_refused_when_they_mean_nothing() {
        let w: SendWindow = "08:00-21:00".parse().unwrap();
        assert_eq!(w.to_string(), "08:00-21:00");
        assert!(w.contains(8 * 60) && w.contains(20 * 60 + 59) && !w.contains(21 * 60));
        let night: SendWindow = "22:00-06:00".parse().unwrap();
        assert!(night.contains(23 * 60) && night.contains(60) && !night.contains(12 * 60));
        assert!("08:00-24:00".parse::<SendWindow>().is_ok());
        for bad in [
            "8-21",
            "08:00",
            "08:00-08:00",
            "25:00-26:00",
            "08:60-09:00",
            "24:00-08:00",
            "08:00-21:00:00",
            "",
        ] {
            assert!(bad.parse::<SendWindow>().is_err(), "{bad}");
        }
        assert!(Zone::named("America/Nowhere").is_err());
    }

    #[test]
    fn a_window_opens_and_closes_in_local_time_across_a_dst_change() {
        let w: SendWindow = "08:00-21:00".parse().unwrap();
        let ny = zones(&["America/New_York"]);
        // 2026-03-08 is the spring change: 07:00 EST is 12:00 UTC the day
        // before, 11:00 UTC (EDT) that day.
        assert_eq!(
            standing(w, &ny, at("2026-03-07T12:30:00Z")),
            Standing::Closed {
                opens: Some(at("2026-03-07T13:00:00Z"))
            }
        );
        assert_eq!(
            standing(w, &ny, at("2026-03-08T11:30:00Z")),
            Standing::Closed {
                opens: Some(at("2026-03-08T12:00:00Z"))
            }
        );
        // After 21:00 EDT on the 8th: tomorrow 08:00 EDT.
        assert_eq!(
            standing(w, &ny, at("2026-03-09T01:30:00Z")),
            Standing::Closed {
                opens: Some(at("2026-03-09T12:00:00Z"))
            }
        );
        assert_eq!(
            standing(w, &ny, at("2026-03-08T20:00:00Z")),
            Standing::Open {
                closes: at("2026-03-09T01:00:00Z")
            }
        );
    }

    #[test]
    fn several_zones_allow_only_the_hours_they_share() {
        let w: SendWindow = "08:00-21:00".parse().unwrap();
        // New York and Chicago (area code 423, say), in summer: 08:00 CDT
        // (13:00 UTC) to 21:00 EDT (01:00 UTC).
        let two = zones(&["America/New_York", "America/Chicago"]);
        assert_eq!(
            standing(w, &two, at("2026-07-01T12:30:00Z")),
            Standing::Closed {
                opens: Some(at("2026-07-01T13:00:00Z"))
            }
        );
        assert_eq!(
            standing(w, &two, at("2026-07-01T13:00:00Z")),
            Standing::Open {
                closes: at("2026-07-02T01:00:00Z")
            }
        );
        // Zones twelve hours apart share no hour of a short window.
        let short: SendWindow = "09:00-10:00".parse().unwrap();
        let apart = zones(&["America/New_York", "Asia/Shanghai"]);
        assert_eq!(
            standing(short, &apart, at("2026-07-01T12:00:00Z")),
            Standing::Closed { opens: None }
        );
    }
}
