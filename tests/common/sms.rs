//! A fake platform for agentless SMS on the raw server: it records each
//! message with the time it arrived (on a fake clock when given, so that
//! the pace's waits take no real time) and, as a carrier does, refuses a
//! message from a sender number that already sent as many as its rate
//! allows in the second before (a long code 1, a toll-free number 3,
//! another 10: Genesys' figures), answering 202 all the same (the refusal
//! comes later, at the carrier).
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::rawserver::{platform, Action, RawServer};
use super::FakeClock;

pub const AGENTLESS: &str = "/api/v2/conversations/messages/agentless";

/// One SMS as the carrier saw it.
#[derive(Clone, Debug)]
pub struct Sms {
    pub from: String,
    pub to: String,
    pub text: String,
    /// When it arrived: on the fake clock (its elapsed time), else since
    /// the platform started.
    pub at: Duration,
}

pub struct SmsPlatform {
    pub server: RawServer,
    /// Messages the carrier took.
    pub sent: Arc<Mutex<Vec<Sms>>>,
    /// Messages refused for going faster than their number's rate.
    pub refused: Arc<AtomicUsize>,
}

/// A sender number's rate as Genesys documents it.
pub fn carrier_rate(from: &str) -> usize {
    let digits: String = from.chars().filter(char::is_ascii_digit).collect();
    let toll_free = ["800", "833", "844", "855", "866", "877", "888"];
    match (
        from.starts_with("+1") && digits.len() == 11,
        digits.get(1..4),
    ) {
        (true, Some(area)) if toll_free.contains(&area) => 3,
        (true, _) => 1,
        _ => 10,
    }
}

impl SmsPlatform {
    /// The platform, its time the fake `clock`'s (or real time).
    pub fn start(clock: Option<Arc<FakeClock>>) -> SmsPlatform {
        Self::answering(clock, |_| None)
    }

    /// As [`start`](Self::start), but `answer(n)` may answer the n-th
    /// message itself (a 429, say: then it is not taken).
    pub fn answering(
        clock: Option<Arc<FakeClock>>,
        answer: impl Fn(usize) -> Option<Action> + Send + Sync + 'static,
    ) -> SmsPlatform {
        let sent: Arc<Mutex<Vec<Sms>>> = Arc::default();
        let refused = Arc::new(AtomicUsize::new(0));
        let (taken, refusals) = (sent.clone(), refused.clone());
        let started = Instant::now();
        let posts = AtomicUsize::new(0);
        let server = platform(move |req| {
            if req.path != AGENTLESS {
                return Action::status(404, "");
            }
            let post = posts.fetch_add(1, Ordering::SeqCst);
            if let Some(action) = answer(post) {
                return action;
            }
            let at = clock
                .as_ref()
                .map_or_else(|| started.elapsed(), |c| c.elapsed());
            let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
            let field = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
            let sms = Sms {
                from: field("fromAddress"),
                to: field("toAddress"),
                text: field("textBody"),
                at,
            };
            let mut taken = taken.lock().unwrap();
            let second_before = taken
                .iter()
                .filter(|s| s.from == sms.from && at.saturating_sub(s.at) < Duration::from_secs(1))
                .count();
            if second_before >= carrier_rate(&sms.from) {
                refusals.fetch_add(1, Ordering::SeqCst);
            } else {
                taken.push(sms.clone());
            }
            let n = post + 1;
            Action::status(
                202,
                &serde_json::json!({
                    "id": format!("outbound-{n}"), "conversationId": format!("c0000000-0000-4000-8000-{n:012}"),
                    "fromAddress": sms.from, "toAddress": sms.to, "messengerType": "sms",
                    "message": {"id": format!("m-{n}"), "status": "queued"},
                })
                .to_string(),
            )
        });
        SmsPlatform {
            server,
            sent,
            refused,
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The recipients the carrier took messages to, in order.
    pub fn recipients(&self) -> Vec<String> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.to.clone())
            .collect()
    }
}
