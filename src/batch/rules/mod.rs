//! Whether and when a line goes, before anything of it is sent: not to a
//! recipient on the suppression list (`suppress`), not past its expiry,
//! only inside its send window in the recipient's zone (`window`, with a
//! NANP number's zones from `area_codes`), and not within the minimum gap
//! since the recipient's last message (`gaps`). A line that goes is bounded
//! by its expiry and its window's close: a wait (the pace, a 429) that
//! would carry it past either ends it as expired or deferred instead.

mod area_codes;
mod gaps;
mod suppress;
mod window;

pub use suppress::Suppression;
pub use window::{SendWindow, Zone};

pub(crate) use gaps::Unusable;

use std::time::{Instant, SystemTime};

use crate::clock::{later, Clock};
use crate::request::Route;
use crate::state::StateDir;
use crate::{Error, MessengerType};

use super::identity::recipient_text;
use super::{BatchLine, BatchOptions, LineOutcome};
use gaps::Gaps;
use window::Standing;

/// Why a line was deferred: not sent now, nothing recorded; a later run
/// sends it when the reason has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Deferral {
    /// Outside its send window in its recipient's zones, or the window
    /// would close before it could go.
    Window {
        /// When it opens in every zone (`None`: the zones share no open
        /// hour within a week).
        opens: Option<SystemTime>,
        /// The zones (IANA names).
        zones: Vec<String>,
    },
    /// A send window, and no zone to read it in: not given for the line
    /// ([`BatchLine::time_zone`]) nor the batch
    /// ([`BatchOptions::time_zone`]), and its recipient is no NANP number
    /// with a known area code.
    NoZone {
        /// A zone name the table gave that this system does not know.
        zone: Option<String>,
    },
    /// Its recipient got a message from this client less than
    /// [`BatchOptions::min_gap`] ago.
    Gap {
        /// When the gap ends.
        until: SystemTime,
    },
}

impl Deferral {
    /// When it could go: the window's opening or the gap's end (`None`:
    /// not by waiting).
    pub fn opens(&self) -> Option<SystemTime> {
        match self {
            Deferral::Window { opens, .. } => *opens,
            Deferral::NoZone { .. } => None,
            Deferral::Gap { until } => Some(*until),
        }
    }
}

impl std::fmt::Display for Deferral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stamp = |t: &SystemTime| humantime::format_rfc3339_seconds(*t).to_string();
        match self {
            Deferral::Window {
                opens: Some(t),
                zones,
            } => write!(
                f,
                "outside its send window in {}: it opens at {}",
                zones.join(" and "),
                stamp(t)
            ),
            Deferral::Window { opens: None, zones } => write!(
                f,
                "its send window is never open in all of {} at once",
                zones.join(", ")
            ),
            Deferral::NoZone { zone: Some(zone) } => write!(
                f,
                "no time zone to read its send window in: {zone:?} is not an IANA zone name"
            ),
            Deferral::NoZone { zone: None } => f.write_str(
                "no time zone to read its send window in: give the line or the batch one (a NANP number's area code gives one)",
            ),
            Deferral::Gap { until } => write!(
                f,
                "its recipient got a message less than the minimum gap ago: not before {}",
                stamp(until)
            ),
        }
    }
}

/// What bounds a line that goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// Its expiry: past it, expired.
    Expiry,
    /// Its window's close, at `at`: past it, deferred.
    Close { at: SystemTime },
}

/// A line's verdict.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// It goes, bounded by `bound` (on the injector's clock), if any.
    Go { bound: Option<(Instant, Limit)> },
    /// It does not go now.
    Hold(LineOutcome),
}

/// A batch run's rules.
#[derive(Debug)]
pub(crate) struct Rules {
    gaps: Option<Gaps>,
}

/// `t` (wall clock) on `clock`'s time line.
fn instant_of(t: SystemTime, clock: &dyn Clock) -> Instant {
    let now = clock.now();
    match t.duration_since(clock.wall()) {
        Ok(ahead) => later(now, ahead),
        Err(behind) => now.checked_sub(behind.duration()).unwrap_or(now),
    }
}

impl Rules {
    /// The rules of `options`, the record of recipients in `state` (for
    /// [`BatchOptions::min_gap`], of `client`'s batch `batch`).
    ///
    /// # Errors
    /// [`Error::Config`] when a minimum gap is asked for without a state
    /// directory, or its record cannot be used.
    pub fn new(
        options: &BatchOptions,
        state: Option<&StateDir>,
        client: &str,
        batch: &str,
        clock: &dyn Clock,
    ) -> Result<Rules, Error> {
        let gaps = match (options.min_gap, state) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(Error::Config(
                    "a minimum gap between a recipient's messages needs a state directory, where who was sent what when is kept".into(),
                ))
            }
            (Some(gap), Some(state)) => Some(
                Gaps::open(state, client, batch, gap, clock.wall())
                    .map_err(|e| Error::Config(e.to_string()))?,
            ),
        };
        Ok(Rules { gaps })
    }

    /// The zones `line`'s window is read in.
    fn zones(line: &BatchLine, options: &BatchOptions) -> Result<Vec<Zone>, Deferral> {
        if let Some(zone) = line.time_zone.as_ref().or(options.time_zone.as_ref()) {
            return Ok(vec![zone.clone()]);
        }
        let phone = match &line.request.route {
            Route::Agentless { target, .. }
                if matches!(
                    target.messenger,
                    MessengerType::Sms | MessengerType::WhatsApp
                ) =>
            {
                target.to_address.as_deref()
            }
            _ => None,
        };
        let names = phone
            .and_then(area_codes::zones_of)
            .ok_or(Deferral::NoZone { zone: None })?;
        names
            .iter()
            .map(|name| {
                Zone::named(name).map_err(|_| Deferral::NoZone {
                    zone: Some((*name).to_owned()),
                })
            })
            .collect()
    }

    /// Whether `line` (known as `id`) goes now: suppressed, expired,
    /// outside its window, inside its recipient's gap (then held), or it
    /// goes (its recipient reserved in the record of recipients).
    ///
    /// # Errors
    /// The record of recipients cannot be used ([`Unusable`]).
    pub fn check(
        &self,
        line: &BatchLine,
        id: &str,
        options: &BatchOptions,
        clock: &dyn Clock,
    ) -> std::io::Result<Verdict> {
        if options
            .suppression
            .as_ref()
            .is_some_and(|list| list.contains(&line.request))
        {
            return Ok(Verdict::Hold(LineOutcome::Suppressed));
        }
        let wall = clock.wall();
        let mut bound: Option<(Instant, Limit)> = None;
        let mut tighten = |t: SystemTime, limit: Limit| {
            let at = instant_of(t, clock);
            if bound.is_none_or(|(b, _)| at < b) {
                bound = Some((at, limit));
            }
        };
        if let Some(until) = line.valid_until.or(options.valid_until) {
            if wall >= until {
                return Ok(Verdict::Hold(LineOutcome::Expired { earlier: false }));
            }
            tighten(until, Limit::Expiry);
        }
        if let Some(window) = line.send_window.or(options.send_window) {
            let zones = match Self::zones(line, options) {
                Ok(zones) => zones,
                Err(why) => return Ok(Verdict::Hold(LineOutcome::Deferred { why })),
            };
            match window::standing(window, &zones, wall) {
                Standing::Open { closes } => tighten(closes, Limit::Close { at: closes }),
                Standing::Closed { opens } => {
                    let zones = zones.iter().map(|z| z.name().to_owned()).collect();
                    return Ok(Verdict::Hold(LineOutcome::Deferred {
                        why: Deferral::Window { opens, zones },
                    }));
                }
            }
        }
        if let Some(gaps) = &self.gaps {
            if let Some(until) = gaps.reserve(&recipient_text(&line.request), id, wall)? {
                return Ok(Verdict::Hold(LineOutcome::Deferred {
                    why: Deferral::Gap { until },
                }));
            }
        }
        Ok(Verdict::Go { bound })
    }

    /// When a line that `outcome` defers should be tried again in this
    /// run: with [`BatchOptions::wait_for_window`], a window that opens
    /// before `deadline` (on `clock`'s time line).
    pub fn wait_until(
        outcome: &LineOutcome,
        options: &BatchOptions,
        clock: &dyn Clock,
        deadline: Option<Instant>,
    ) -> Option<Instant> {
        let LineOutcome::Deferred {
            why: Deferral::Window {
                opens: Some(opens), ..
            },
        } = outcome
        else {
            return None;
        };
        let at = instant_of(*opens, clock);
        (options.wait_for_window && deadline.is_none_or(|d| at <= d)).then_some(at)
    }

    /// Takes back `line`'s reservation: nothing of it was sent.
    pub fn release(&self, line: &BatchLine, id: &str) -> std::io::Result<()> {
        match &self.gaps {
            Some(gaps) => gaps.release(&recipient_text(&line.request), id),
            None => Ok(()),
        }
    }

    /// What `line` becomes when `limit` stopped it before its message
    /// went: expired, or deferred to its window's next opening.
    pub fn stopped_by(limit: Limit, line: &BatchLine, options: &BatchOptions) -> LineOutcome {
        match limit {
            Limit::Expiry => LineOutcome::Expired { earlier: false },
            Limit::Close { at } => {
                // The window as it stands once closed: its next opening.
                let zones = Self::zones(line, options).unwrap_or_default();
                let window = line.send_window.or(options.send_window);
                let opens = window.and_then(|w| match window::standing(w, &zones, at) {
                    Standing::Closed { opens } => opens,
                    Standing::Open { .. } => None,
                });
                LineOutcome::Deferred {
                    why: Deferral::Window {
                        opens,
                        zones: zones.iter().map(|z| z.name().to_owned()).collect(),
                    },
                }
            }
        }
    }
}
