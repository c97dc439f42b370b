//! A batch at the platform's budget: `Injector::inject_batch`, with its
//! defaults, against a platform on 127.0.0.1 that answers each API call
//! after a delay, says its budget in `inin-ratelimit-*` headers and, as
//! Genesys does, answers 429 (with `Retry-After`) past its budget in any
//! 60 s. Prints, for the communication route (typing + message a line) and
//! for agentless SMS (one request a line) at 0, 300 and 600 ms a call, at
//! 300 and 600 requests a minute, and for a platform that raises its budget
//! (to 600 a minute) through headers that say 20 every 2 s: the batch's
//! time against the optimum (its requests divided by the budget) and the
//! 429s it met. The SMS of those rows go from four toll-free numbers (3 a
//! second each: together more than the budget).
//!
//! Then each sender number's pace (`BENCH_ONLY=sender`): SMS from one long
//! code (1 a second), one toll-free number (3) and both kinds at once, to
//! a carrier that refuses a number's message past its rate in any second:
//! the batch's time against its lines divided by the numbers' rates
//! together, and the carrier's refusals.
//!
//! ```sh
//! cargo run --release --example batch_bench             # 120 lines, lines in flight adapting
//! cargo run --release --example batch_bench -- 60 4     # 60 lines, 4 in flight, fixed
//! BENCH_ONLY=raised cargo run --release --example batch_bench   # one platform's rows
//! BENCH_ONLY=sender cargo run --release --example batch_bench   # the sender numbers' pace
//! ```
//!
//! A batch's time has a fixed part besides the budget's: the agent lookup
//! before the first line and the last line's round trips (1.8 s at 600 ms
//! a call on the communication route), so it is measured over 120 lines.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use genesys_inject::{
    AgentlessTarget, BatchLine, BatchOptions, ContentBlock, InjectRequest, Injector, Journal,
};

const CONV: &str = "ec35f2a8-289b-42d4-8893-c50eaf81a3c1";
const COMM: &str = "0b2d9a4e-6f1c-4c7e-9a55-1d3f8e2b7c90";
const WINDOW: Duration = Duration::from_secs(60);

/// The platform: its delay a call, its budget (requests in any 60 s), how
/// its headers say it (allowed in a window of so many seconds), the times
/// of the requests it took, and the 429s it answered.
struct Platform {
    delay: Duration,
    budget: usize,
    says: (usize, u64),
    started: Instant,
    taken: Mutex<VecDeque<Instant>>,
    refused: AtomicUsize,
    requests: AtomicUsize,
    /// Each sender number's messages in the last second, and the ones
    /// the carrier refused for going faster than the number's rate.
    carrier: Mutex<HashMap<String, VecDeque<Instant>>>,
    carrier_refused: AtomicUsize,
}

/// A sender number's rate, as Genesys documents it.
fn carrier_rate(from: &str) -> usize {
    let toll_free = ["800", "833", "844", "855", "866", "877", "888"];
    match (from.len() == 12 && from.starts_with("+1"), from.get(2..5)) {
        (true, Some(area)) if toll_free.contains(&area) => 3,
        (true, _) => 1,
        _ => 10,
    }
}

impl Platform {
    /// The `inin-ratelimit-*` headers now, of fixed windows of their
    /// length from the platform's start: `allowed` in each, `count` used in
    /// this one, `reset` seconds until it ends (rounded up).
    fn headers(&self) -> String {
        let (allowed, window) = self.says;
        let now = Instant::now();
        let window = Duration::from_secs(window);
        let into = now.duration_since(self.started).as_nanos() % window.as_nanos();
        let begun = now - Duration::from_nanos(into as u64);
        let taken = self.taken.lock().unwrap();
        let count = taken.iter().filter(|t| **t >= begun).count();
        let reset = (window.as_nanos() - into).div_ceil(1_000_000_000);
        format!(
            "inin-ratelimit-allowed: {allowed}\r\ninin-ratelimit-count: {count}\r\ninin-ratelimit-reset: {reset}\r\n"
        )
    }

    /// Takes a request now, or says how long until one fits the budget.
    fn admit(&self) -> Result<(), Duration> {
        let now = Instant::now();
        let mut taken = self.taken.lock().unwrap();
        while taken
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            taken.pop_front();
        }
        if taken.len() >= self.budget {
            let oldest = *taken.front().expect("full");
            return Err(WINDOW.saturating_sub(now.duration_since(oldest)));
        }
        taken.push_back(now);
        Ok(())
    }

    /// Counts an SMS of `body` at the carrier: refused when its number
    /// already sent its rate in the second before.
    fn carry(&self, body: &[u8]) {
        let body = String::from_utf8_lossy(body);
        let Some(from) = body
            .split("\"fromAddress\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        else {
            return;
        };
        let now = Instant::now();
        let mut carrier = self.carrier.lock().unwrap();
        let sent = carrier.entry(from.to_owned()).or_default();
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            sent.pop_front();
        }
        if sent.len() >= carrier_rate(from) {
            self.carrier_refused.fetch_add(1, Relaxed);
        } else {
            sent.push_back(now);
        }
    }
}

fn start(platform: Arc<Platform>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let platform = platform.clone();
            std::thread::spawn(move || serve(stream, &platform));
        }
    });
    format!("http://127.0.0.1:{port}")
}

fn serve(stream: TcpStream, platform: &Platform) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let (mut line, mut body) = (String::new(), Vec::new());
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut words = line.split_whitespace();
        let (method, path) = (
            words.next().unwrap_or_default().to_owned(),
            words.next().unwrap_or_default().to_owned(),
        );
        let mut length = 0;
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        body.resize(length, 0);
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (status, extra, answer) = if path == "/oauth/token" {
            (
                200,
                String::new(),
                r#"{"access_token":"t","expires_in":86399}"#.to_owned(),
            )
        } else {
            platform.requests.fetch_add(1, Relaxed);
            std::thread::sleep(platform.delay);
            match platform.admit() {
                Err(wait) => {
                    platform.refused.fetch_add(1, Relaxed);
                    let secs = wait.as_secs() + 1;
                    (429, format!("retry-after: {secs}\r\n"), String::new())
                }
                Ok(()) if method == "GET" => (
                    200,
                    platform.headers(),
                    format!(
                        r#"{{"id":"{CONV}","participants":[{{"purpose":"agent","state":"connected","messages":[{{"id":"{COMM}","state":"connected"}}]}}]}}"#
                    ),
                ),
                Ok(()) if path.ends_with("/typing") => (204, platform.headers(), String::new()),
                Ok(()) => {
                    if path.ends_with("/agentless") {
                        platform.carry(&body);
                    }
                    (
                        200,
                        platform.headers(),
                        format!(
                            r#"{{"id":"9f3c6a52-51f1-4d6e-a2b3-6c1d2e3f4a5b","conversationId":"{CONV}","status":"queued"}}"#
                        ),
                    )
                }
            }
        };
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n",
            answer.len()
        );
        if writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(answer.as_bytes()))
            .is_err()
        {
            return;
        }
    }
}

/// Four toll-free numbers: 12 SMS a second together.
const TOLL_FREE: [&str; 4] = [
    "+18005550100",
    "+18005550101",
    "+18005550102",
    "+18005550103",
];

/// One batch of `n` lines on `route` at `delay` a call, on a platform of
/// `budget` that says `says`, `parallel` in flight (`None`: adapting), SMS
/// from `senders` in turn: (requests, seconds, 429s, the carrier's
/// refusals).
#[allow(clippy::too_many_arguments)]
fn batch(
    route: &str,
    delay: Duration,
    n: usize,
    budget: usize,
    says: (usize, u64),
    parallel: Option<usize>,
    senders: &[&str],
) -> (usize, f64, usize, usize) {
    let platform = Arc::new(Platform {
        delay,
        budget,
        says,
        started: Instant::now(),
        taken: Mutex::default(),
        refused: AtomicUsize::new(0),
        requests: AtomicUsize::new(0),
        carrier: Mutex::default(),
        carrier_refused: AtomicUsize::new(0),
    });
    let base = start(platform.clone());
    let injector = Injector::builder()
        .base_url(&base)
        .credentials("bench-client", "bench-secret")
        .no_state_dir()
        .build()
        .expect("an injector");
    let lines: Vec<BatchLine> = (0..n)
        .map(|i| {
            let text = vec![ContentBlock::text(format!(
                "Reminder {i}: tomorrow at 10:30"
            ))];
            let request = match route {
                "communication" => InjectRequest::to_conversation(CONV, text),
                _ => InjectRequest::agentless(
                    AgentlessTarget::sms(
                        senders[i % senders.len()],
                        format!("+1317555{:04}", i % 10_000),
                    ),
                    text,
                ),
            };
            BatchLine::new(format!("{i}"), request)
        })
        .collect();
    let dir = std::env::temp_dir().join(format!(
        "genesys-inject-batch-bench-{}-{}",
        std::process::id(),
        platform.delay.as_millis()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let mut journal =
        Journal::open(dir.join(format!("{route}.jsonl")), "bench").expect("a journal");
    let options = match parallel {
        Some(lines) => BatchOptions::new().parallel(lines),
        None => BatchOptions::new(),
    };
    let started = Instant::now();
    let reports = injector
        .inject_batch(&lines, &mut journal, &options, |_| {})
        .expect("the journal is written");
    let took = started.elapsed().as_secs_f64();
    assert_eq!(reports.len(), n, "every line reported");
    drop(journal);
    let _ = std::fs::remove_dir_all(&dir);
    (
        platform.requests.load(Relaxed),
        took,
        platform.refused.load(Relaxed),
        platform.carrier_refused.load(Relaxed),
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(120, |a| a.parse().expect("lines"));
    let parallel: Option<usize> = args.next().map(|a| a.parse().expect("lines in flight"));
    let flight = parallel.map_or_else(
        || "lines in flight adapting".to_owned(),
        |p| format!("{p} in flight"),
    );
    println!(
        "{n} lines, {flight}, the library's default rate (300 a minute, following the headers)"
    );
    println!("| platform | route | delay a call | requests | time | optimum | × optimum | 429s |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let platforms = [
        ("300 a minute", 300, (300, 60), &[0, 300, 600][..]),
        ("600 a minute", 600, (600, 60), &[0, 300, 600][..]),
        ("raised: 20 every 2 s", 600, (20, 2), &[0, 300, 600][..]),
    ];
    let platforms = platforms
        .into_iter()
        .filter(|(name, ..)| only.is_empty() || name.starts_with(only.as_str()));
    for (name, budget, says, delays) in platforms {
        for route in ["communication", "agentless sms"] {
            for &delay_ms in delays {
                let (requests, took, refused, _) = batch(
                    route,
                    Duration::from_millis(delay_ms),
                    n,
                    budget,
                    says,
                    parallel,
                    &TOLL_FREE,
                );
                let optimum = requests as f64 / (budget as f64 / 60.0);
                println!(
                    "| {name} | {route} | {delay_ms} ms | {requests} | {took:.1} s | {optimum:.1} s | {:.2} | {refused} |",
                    took / optimum
                );
            }
        }
    }
    if !(only.is_empty() || only == "sender") {
        return;
    }
    println!();
    println!("Each sender number's pace (600 requests a minute, 0 ms a call):");
    println!("| senders | lines | time | lines ÷ their rates | × that | carrier refusals |");
    println!("|---|---:|---:|---:|---:|---:|");
    let long_code = "+13175550000";
    let senders: [(&str, &[&str], usize); 3] = [
        ("one long code (1/s)", &[long_code], 10),
        ("one toll-free (3/s)", &[TOLL_FREE[0]], 30),
        (
            "two long codes and a toll-free (5/s)",
            &[
                long_code,
                "+13175550001",
                TOLL_FREE[0],
                TOLL_FREE[0],
                TOLL_FREE[0],
            ],
            50,
        ),
    ];
    for (name, from, lines) in senders {
        let (_, took, _, refused) = batch(
            "agentless sms",
            Duration::ZERO,
            lines,
            600,
            (600, 60),
            parallel,
            from,
        );
        let mut numbers: Vec<&str> = from.to_vec();
        numbers.dedup();
        numbers.sort_unstable();
        numbers.dedup();
        let rate: usize = numbers.iter().map(|f| carrier_rate(f)).sum();
        let expected = lines as f64 / rate as f64;
        println!(
            "| {name} | {lines} | {took:.1} s | {expected:.1} s | {:.2} | {refused} |",
            took / expected
        );
    }
}
