//! A batch at the platform's budget (issue 25): what it sends, how many
//! lines are in flight, and what bounds it. `inject --batch` as a child
//! process against a fake conversation on 127.0.0.1.

mod common;

use common::batch::*;
use common::conversation::{FakeConversation, OnMessage};
use common::*;

use std::time::{Duration, Instant};

#[test]
fn no_typing_sends_no_typing_indicator() {
    let dir = Scratch::new();
    let conversation = FakeConversation::start(|_| OnMessage::Accept);
    let file = dir.0.join("proactive.jsonl");
    let journal = dir.0.join("journal.jsonl");
    let texts = write_batch(&file, "Your order shipped", 5);
    let (code, _, all) = run(&mut batch_cmd(
        &conversation.url(),
        &file,
        &journal,
        &["--no-typing"],
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(sorted(conversation.texts()), sorted(texts));
    assert_eq!(conversation.server.count("/typing"), 0);
    // Without it, one indicator a line.
    let file = dir.0.join("typed.jsonl");
    write_batch(&file, "Typed", 3);
    let (code, _, all) = run(&mut batch_cmd(
        &conversation.url(),
        &file,
        &journal,
        &["--batch-id", "typed"],
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(conversation.server.count("/typing"), 3);
}

#[test]
fn lines_in_flight_keep_the_budget_busy_whatever_the_round_trip() {
    let dir = Scratch::new();
    // Every message answer takes 300 ms.
    let conversation =
        FakeConversation::start(|_| OnMessage::AcceptAfter(Duration::from_millis(300)));
    let file = dir.0.join("slow.jsonl");
    let journal = dir.0.join("journal.jsonl");
    let texts = write_batch(&file, "Your appointment", 20);
    // Built before the clock starts.
    let mut cmd = batch_cmd(
        &conversation.url(),
        &file,
        &journal,
        &["--json", "--no-typing"],
    );
    let started = Instant::now();
    let (code, out, all) = run(&mut cmd);
    let took = started.elapsed();
    assert_eq!(code, 0, "{all}");
    assert_eq!(sorted(conversation.texts()), sorted(texts));
    assert_eq!(summary(&out)["sent"], 20);
    // One after another: 20 × 300 ms = 6 s. Four in flight: about 1.5 s.
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[test]
fn killed_with_eight_lines_in_flight_then_run_to_the_end_every_line_is_there_once() {
    let dir = Scratch::new();
    // Each answer takes a second: a line's thread sends nothing else
    // meanwhile (long enough that a loaded CI machine starting the eighth
    // thread late does not look like seven in flight).
    let answer = Duration::from_millis(1000);
    let conversation = FakeConversation::start(move |_| OnMessage::AcceptAfter(answer));
    let file = dir.0.join("many.jsonl");
    let journal = dir.0.join("journal.jsonl");
    // 24 lines: no look lists 25 or more messages, a page's size the
    // library rightly cannot prove complete (it would say `unknown`).
    let texts = write_batch(&file, "Flight", 24);
    for run in 0..2 {
        let before = conversation.texts().len();
        let mut child = batch_cmd(&conversation.url(), &file, &journal, &["--parallel", "8"])
            .spawn()
            .unwrap();
        // A thread sends one message an answer's time at most: eight
        // messages within less than that were eight lines in flight
        // together. (Lines a rerun resolves first may wait for the answers
        // of messages in flight before they look, so not necessarily the
        // first eight.)
        let eight_together = || {
            let messages = conversation.messages.lock().unwrap();
            let times: Vec<_> = messages[before..].iter().map(|m| m.time).collect();
            times.windows(8).any(|w| {
                let (min, max) = (w.iter().min().unwrap(), w.iter().max().unwrap());
                max.duration_since(*min).unwrap() < answer
            })
        };
        let started = Instant::now();
        while !eight_together() && started.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(eight_together(), "run {run}: never eight in flight");
    }
    let (code, _, all) = run(&mut batch_cmd(
        &conversation.url(),
        &file,
        &journal,
        &["--parallel", "8"],
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(sorted(conversation.texts()), sorted(texts), "{all}");
    assert!(all.contains("sent by an earlier run"), "{all}");
}

#[test]
fn the_deadline_bounds_every_wait_and_leaves_the_rest_not_reached() {
    use common::rawserver::Action;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::Arc;
    let dir = Scratch::new();
    let healed = Arc::new(AtomicBool::new(false));
    let h = healed.clone();
    // Every message is answered 429, come back in an hour.
    let platform = common::rawserver::platform(move |req| {
        if req.path != message_path() {
            return Action::status(404, "");
        }
        if h.load(SeqCst) {
            return Action::ok(&message_ok("m"));
        }
        Action::status(429, "").header("retry-after", "3600")
    });
    let file = dir.0.join("limited.jsonl");
    let journal = dir.0.join("journal.jsonl");
    std::fs::write(
        &file,
        (0..5)
            .map(|i| {
                format!(
                    "{}\n",
                    serde_json::json!({"conversation": CONV, "communication": COMM, "text": format!("line {i}")})
                )
            })
            .collect::<String>(),
    )
    .unwrap();
    let mut cmd = batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &["--json", "--deadline", "2", "--parallel", "1"],
    );
    let started = Instant::now();
    let (code, out, all) = run(&mut cmd);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "{took:?}: {all}");
    assert_eq!(code, 4, "{all}");
    let first = summary(&out);
    // The line whose message met the 429 failed (rate limited: the next
    // run sends it); the others were never started.
    assert_eq!(first["failed"], 1, "{all}");
    assert_eq!(first["not_reached"], 4, "{all}");
    assert_eq!(platform.count("/messages"), 1, "{all}");
    // The next run sends them all, with no flag.
    healed.store(true, SeqCst);
    let (code, out, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &["--json"],
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(summary(&out)["sent"], 5, "{all}");
}

#[test]
fn the_deadline_bounds_a_lines_delay_and_the_pace() {
    let dir = Scratch::new();
    let conversation = FakeConversation::start(|_| OnMessage::Accept);
    let journal = dir.0.join("journal.jsonl");
    // A line that asks to wait 10 minutes before it is sent.
    let file = dir.0.join("delayed.jsonl");
    std::fs::write(
        &file,
        format!(
            "{}\n",
            serde_json::json!({"conversation": CONV, "text": "later", "delay_ms": 600000})
        ),
    )
    .unwrap();
    let mut cmd = batch_cmd(
        &conversation.url(),
        &file,
        &journal,
        &["--json", "--deadline", "2"],
    );
    let started = Instant::now();
    let (code, out, all) = run(&mut cmd);
    assert!(started.elapsed() < Duration::from_secs(6), "{all}");
    assert_eq!(code, 1, "{all}");
    assert_eq!(summary(&out)["not_reached"], 1, "{all}");
    assert!(conversation.texts().is_empty());
    // One request a minute: the agent lookup takes it, and the message
    // would wait for the budget past the deadline, so no line is started.
    let file = dir.0.join("paced.jsonl");
    write_batch(&file, "paced", 3);
    let mut cmd = batch_cmd_at(
        "1",
        &conversation.url(),
        &file,
        &journal,
        &[
            "--json",
            "--deadline",
            "2",
            "--no-typing",
            "--parallel",
            "1",
        ],
    );
    let started = Instant::now();
    let (code, out, all) = run(&mut cmd);
    assert!(started.elapsed() < Duration::from_secs(6), "{all}");
    assert_eq!(code, 1, "{all}");
    assert_eq!(summary(&out)["sent"], 0, "{all}");
    assert_eq!(summary(&out)["not_reached"], 3, "{all}");
    assert!(conversation.texts().is_empty());
}

#[test]
fn the_progress_line_stays_readable() {
    use common::rawserver::{Action, RawServer};
    let dir = Scratch::new();
    // Typing fails (a warning each line); each message answer takes 150 ms;
    // the text "refused" is refused (an error line).
    let platform = RawServer::start(|req| {
        if req.path == "/oauth/token" {
            Action::ok(&format!(
                r#"{{"access_token":"{TOKEN}","expires_in":86399}}"#
            ))
        } else if req.path.ends_with("/typing") {
            Action::status(503, "")
        } else if req.path == message_path() && req.body.contains("refused") {
            Action::status(400, &genesys_error(400, "bad.request", "no"))
        } else if req.path == message_path() {
            Action::ok(&message_ok("m")).after(Duration::from_millis(150))
        } else {
            Action::status(404, "")
        }
    });
    let line = |text: &str| {
        format!(
            "{}\n",
            serde_json::json!({"conversation": CONV, "communication": COMM, "text": text})
        )
    };
    let file = dir.0.join("progress.jsonl");
    let journal = dir.0.join("journal.jsonl");
    let earlier: String = (0..6).map(|i| line(&format!("earlier {i}"))).collect();
    std::fs::write(&file, &earlier).unwrap();
    assert_eq!(
        run(&mut batch_cmd(&platform.url(), &file, &journal, &[])).0,
        0
    );
    // The same six (sent earlier: no time), then twelve new, one refused.
    let new: String = (0..12)
        .map(|i| {
            line(&if i == 2 {
                "refused".to_owned()
            } else {
                format!("new {i}")
            })
        })
        .collect();
    std::fs::write(&file, format!("{earlier}{new}")).unwrap();
    let (code, _, all) = run(&mut batch_cmd(
        &platform.url(),
        &file,
        &journal,
        &["--progress", "--parallel", "1"],
    ));
    assert_eq!(code, 1, "{all:?}");
    // Every warning and every line's error starts a line of its own: the
    // progress line was cleared before it.
    let (mut warnings, mut errors) = (0, 0);
    for segment in all.split('\n') {
        let last = segment.rsplit("\x1b[K").next().unwrap();
        if segment.contains("typing indicator failed") {
            warnings += 1;
            assert!(
                last.starts_with('[') && last.contains("typing"),
                "{segment:?}"
            );
        }
        if segment.contains("inject: line ") {
            errors += 1;
            assert!(last.starts_with("inject: line "), "{segment:?}");
        }
    }
    assert!(warnings >= 12 && errors == 1, "{all:?}");
    // The pace counts this run's sends only: lines at 150 ms or more each
    // are at most 400 a minute, whatever the lines sent earlier.
    let rates: Vec<f64> = all
        .split(" lines a minute")
        .filter_map(|before| before.rsplit(' ').next()?.parse().ok())
        .collect();
    assert!(!rates.is_empty(), "{all:?}");
    assert!(rates.iter().all(|r| *r <= 450.0), "{rates:?}: {all:?}");
}

#[test]
fn the_platforms_figures_slowing_the_run_are_said_once() {
    use common::rawserver::Action;
    let dir = Scratch::new();
    // 100 a minute, below the 300 the run would use.
    let platform = common::rawserver::platform(|req| {
        if req.path != message_path() {
            return Action::status(404, "");
        }
        Action::ok(&message_ok("m"))
            .header("inin-ratelimit-allowed", "100")
            .header("inin-ratelimit-count", "1")
            .header("inin-ratelimit-reset", "60")
    });
    let file = dir.0.join("slowed.jsonl");
    let journal = dir.0.join("journal.jsonl");
    std::fs::write(
        &file,
        (0..3)
            .map(|i| {
                format!(
                    "{}\n",
                    serde_json::json!({"conversation": CONV, "communication": COMM, "text": format!("n {i}")})
                )
            })
            .collect::<String>(),
    )
    .unwrap();
    let (code, _, all) = run(&mut batch_cmd_at(
        "300",
        &platform.url(),
        &file,
        &journal,
        &["--no-typing"],
    ));
    assert_eq!(code, 0, "{all}");
    assert_eq!(
        all.matches("the platform allows 100 requests").count(),
        1,
        "{all}"
    );
}
