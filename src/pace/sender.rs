//! The sender number's pace: SMS from one number go no faster than it can
//! carry. Genesys documents the throughput per sender number (help page
//! "Regulations for long codes in outbound messaging campaigns"): a
//! US/Canada long code 1 message a second, a US/Canada toll-free number 3,
//! a number outside North America 10; past it, "your messages will fail to
//! send". One pace a number, beside the token's, shared by every process
//! on the state directory (whatever the client: the carrier's limit is the
//! number's).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::state::StateDir;
use crate::sync::lock;

use super::Pace;

/// How much under the number's rate the pace goes: messages leave evenly
/// spaced, and the network's jitter must not bring two closer than the
/// carrier counts.
const MARGIN: f64 = 1.02;

/// The NANP's toll-free area codes.
const TOLL_FREE: [&str; 7] = ["800", "833", "844", "855", "866", "877", "888"];

/// Messages a second an SMS sender number carries, by its type: a NANP
/// toll-free number 3, any other NANP number 1, any other number 10.
pub fn default_sender_rate(from: &str) -> f64 {
    let digits: String = from.chars().filter(char::is_ascii_digit).collect();
    let nanp = from.trim().starts_with("+1") && digits.len() == 11;
    match (nanp, digits.get(1..4)) {
        (true, Some(area)) if TOLL_FREE.contains(&area) => 3.0,
        (true, _) => 1.0,
        _ => 10.0,
    }
}

/// One sender number: its pace, the spacing it keeps, and when this
/// process's last message from it left.
#[derive(Debug)]
struct Number {
    address: String,
    pace: Arc<Pace>,
    spacing: Duration,
    left: Arc<Mutex<Option<Instant>>>,
}

/// The paces of the sender numbers an injector sends SMS from: one message
/// at a time, evenly spaced, 2 % under the number's rate. A number's turn
/// is taken before a line's records are written; as its request leaves,
/// it is held again, if need be, until the spacing since this process's
/// last message from that number has passed: a turn taken on time whose
/// request was slowed (a journal's sync, say) never brings two messages
/// closer than the carrier counts.
#[derive(Debug)]
pub(crate) struct Senders {
    /// Messages a second for every number (`None`: by its type).
    rate: Option<f64>,
    state: Option<StateDir>,
    /// Each number (a batch sends from a few: a list, not a map).
    numbers: Mutex<Vec<Number>>,
}

impl Senders {
    pub fn new(rate: Option<f64>, state: Option<StateDir>) -> Senders {
        Senders {
            rate,
            state,
            numbers: Mutex::default(),
        }
    }

    /// The pace of `from` and when its last message left (made on first
    /// use).
    fn number(
        &self,
        from: &str,
        clock: &dyn Clock,
    ) -> (Arc<Pace>, Duration, Arc<Mutex<Option<Instant>>>) {
        let mut numbers = lock(&self.numbers);
        if let Some(n) = numbers.iter().find(|n| n.address == from) {
            return (n.pace.clone(), n.spacing, n.left.clone());
        }
        let per_second = self.rate.unwrap_or_else(|| default_sender_rate(from));
        let per_minute = (per_second * 60.0 / MARGIN)
            .floor()
            .clamp(1.0, f64::from(u32::MAX));
        let key = format!("sms sender\n{}", from.trim());
        let number = Number {
            address: from.to_owned(),
            pace: Arc::new(Pace::even(
                per_minute as u32,
                clock,
                self.state.as_ref().map(|s| (s, key.as_str())),
            )),
            spacing: Duration::from_secs_f64(60.0 / per_minute),
            left: Arc::default(),
        };
        let found = (number.pace.clone(), number.spacing, number.left.clone());
        numbers.push(number);
        found
    }

    /// Waits (on `clock`) until `from` may send one more message; `false`
    /// when that would be after `deadline` or a stop cut the wait short.
    // Out of line: one copy, however many places wait for a number's turn.
    #[inline(never)]
    pub fn take(&self, from: &str, clock: &dyn Clock, deadline: Option<Instant>) -> bool {
        let (pace, ..) = self.number(from, clock);
        pace.take(clock, 1, deadline)
    }

    /// Holds a message from `from` about to leave until the spacing since
    /// this process's last one from it has passed (a stop cuts the hold
    /// short: then it goes, its turn taken), and marks it gone.
    #[inline(never)]
    pub fn leaving(&self, from: &str, clock: &dyn Clock) {
        let (_, spacing, left) = self.number(from, clock);
        let mut left = lock(&left);
        if let Some(last) = *left {
            let since = clock.now().saturating_duration_since(last);
            if since < spacing {
                crate::clock::pause(clock, spacing - since);
            }
        }
        *left = Some(clock.now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_numbers_type_sets_its_pace() {
        assert_eq!(default_sender_rate("+13175550100"), 1.0);
        assert_eq!(default_sender_rate("+1 800 555 0100"), 3.0);
        assert_eq!(default_sender_rate("+18885550100"), 3.0);
        assert_eq!(default_sender_rate("+447700900123"), 10.0);
        assert_eq!(default_sender_rate("12345"), 10.0);
    }
}
