//! Exactly once whatever the platform's clocks and listings say (issue
//! 30): a line whose answer was lost is settled by a look that needs no
//! agreement between the clock that writes `Date` and the one that stamps
//! messages, waits for a listing that lags, proves nothing from a listing
//! cut short, finds the message on any communication and as the platform
//! stores it, and takes one message for one line only.
//!
//! Each test runs `inject_batch` in this process against a fake platform
//! whose time moves with the injected clock: the settling waits take no
//! real time. A "killed" run is one whose message answer never came
//! (outcome unknown, recorded as such); the last test kills a real
//! `inject --batch` process, as tests/exactly_once.rs does.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::conversation::{FakeConversation, OnMessage, Platform};
use common::*;
use genesys_inject::{
    BatchLine, BatchOptions, ContentBlock, InjectRequest, Injector, Journal, LineOutcome,
    RetryPolicy,
};

/// A new process's injector on `conversation`'s platform, on `clock`.
fn injector(conversation: &FakeConversation, clock: &Arc<FakeClock>, resolve: bool) -> Injector {
    Injector::builder()
        .base_url(conversation.url())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .clock(clock.clone())
        .no_state_dir()
        .requests_per_minute(None)
        .message_timeout(Duration::from_millis(400))
        .retry_policy(RetryPolicy::default().resolve_unknown(resolve))
        .build()
        .unwrap()
}

/// Lines to the conversation, sent as its agent.
fn lines(texts: &[&str]) -> Vec<BatchLine> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            BatchLine::new(
                format!("line-{i}"),
                InjectRequest::to_conversation(CONV, vec![ContentBlock::text(*t)]),
            )
        })
        .collect()
}

/// Runs `lines` as a new process would, one line at a time, and returns
/// what became of each.
fn run(
    conversation: &FakeConversation,
    clock: &Arc<FakeClock>,
    journal: &std::path::Path,
    lines: &[BatchLine],
    resolve: bool,
) -> Vec<String> {
    let mut journal = Journal::open(journal, "b").unwrap();
    let reports = injector(conversation, clock, resolve)
        .inject_batch(
            lines,
            &mut journal,
            &BatchOptions::new().parallel(1),
            |_| {},
        )
        .unwrap();
    reports
        .iter()
        .map(|r| match &r.outcome {
            LineOutcome::Sent { earlier: true, .. } => "found".to_owned(),
            LineOutcome::Sent { .. } => "sent".to_owned(),
            LineOutcome::Unknown { why } => format!("unknown: {why}"),
            other => format!("{other:?}"),
        })
        .collect()
}

/// The first message's answer is lost (it is stored); the others are
/// accepted.
fn first_answer_lost(platform: Platform) -> FakeConversation {
    FakeConversation::on(platform, |n| {
        if n == 0 {
            OnMessage::RecordAndStall(Duration::from_secs(2))
        } else {
            OnMessage::Accept
        }
    })
}

/// One line whose answer was lost on `platform`, then a new run: the
/// outcomes of both runs and the texts the conversation holds.
fn lost_then_rerun(platform: Platform, text: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let clock = platform
        .clock
        .clone()
        .expect("a platform on the fake clock");
    let conversation = first_answer_lost(platform);
    let dir = Scratch::new();
    let journal = dir.0.join("journal.jsonl");
    let first = run(&conversation, &clock, &journal, &lines(&[text]), false);
    let second = run(&conversation, &clock, &journal, &lines(&[text]), false);
    (first, second, conversation.texts())
}

fn on_clock(clock: &Arc<FakeClock>) -> Platform {
    Platform {
        clock: Some(clock.clone()),
        ..Platform::default()
    }
}

#[test]
fn a_date_ahead_of_or_behind_the_message_clock_never_sends_a_line_twice() {
    // Ahead by 3 s (a second server stamping messages), 30 s (an edge
    // whose clock runs ahead), an hour and a thousand days (a proxy that
    // writes its own Date); behind by 3 s.
    for ahead_ms in [3_000, 30_000, 3_600_000, 86_400_000 * 1000, -3_000] {
        let clock = FakeClock::new();
        let platform = Platform {
            date_ahead_ms: ahead_ms,
            ..on_clock(&clock)
        };
        let (first, second, texts) = lost_then_rerun(platform, "Doors open at nine");
        assert!(first[0].starts_with("unknown"), "{ahead_ms}: {first:?}");
        assert_eq!(second, ["found"], "Date {ahead_ms} ms ahead");
        assert_eq!(texts, ["Doors open at nine"], "Date {ahead_ms} ms ahead");
    }
}

#[test]
fn a_listing_that_lags_is_waited_for_not_taken_for_absence() {
    for lag in [3, 6] {
        let clock = FakeClock::new();
        let platform = Platform {
            lag: Duration::from_secs(lag),
            ..on_clock(&clock)
        };
        let (_, second, texts) = lost_then_rerun(platform, "Your parcel arrives today");
        assert_eq!(second, ["found"], "lag {lag} s");
        assert_eq!(texts, ["Your parcel arrives today"], "lag {lag} s");
        // The re-run waited, on the injected clock, for the settling time.
        let waited: Duration = clock.sleeps().iter().sum();
        assert!(waited >= Duration::from_secs(lag), "{:?}", clock.sleeps());
    }
    // A listing that lags past the settling time is the documented worst
    // case: with it set below the lag, the line goes again.
    let clock = FakeClock::new();
    let conversation = first_answer_lost(Platform {
        lag: Duration::from_secs(6),
        ..on_clock(&clock)
    });
    let dir = Scratch::new();
    let journal = dir.0.join("journal.jsonl");
    let quick = |conversation: &FakeConversation| {
        let mut journal = Journal::open(&journal, "b").unwrap();
        Injector::builder()
            .base_url(conversation.url())
            .credentials(CLIENT_ID, CLIENT_SECRET)
            .clock(clock.clone())
            .no_state_dir()
            .requests_per_minute(None)
            .message_timeout(Duration::from_millis(400))
            .retry_policy(RetryPolicy::default().settle_time(Duration::from_secs(2)))
            .build()
            .unwrap()
            .inject_batch(
                &lines(&["late"]),
                &mut journal,
                &BatchOptions::new(),
                |_| {},
            )
            .unwrap()
    };
    quick(&conversation);
    quick(&conversation);
    assert_eq!(conversation.texts(), ["late", "late"]);
}

#[test]
fn a_listing_cut_short_to_a_page_proves_nothing_absent() {
    let clock = FakeClock::new();
    // A busy communication: 25 earlier messages, and the listing shows only
    // the first 25 of any communication, saying nothing.
    let conversation = FakeConversation::on(
        Platform {
            page: Some(25),
            ..on_clock(&clock)
        },
        |n| {
            if n == 25 {
                OnMessage::RecordAndStall(Duration::from_secs(2))
            } else {
                OnMessage::Accept
            }
        },
    );
    let dir = Scratch::new();
    let journal = dir.0.join("journal.jsonl");
    let busy: Vec<String> = (0..25).map(|i| format!("earlier {i}")).collect();
    let busy: Vec<&str> = busy.iter().map(String::as_str).collect();
    let mut all = busy.clone();
    all.push("the 26th");
    let first = run(&conversation, &clock, &journal, &lines(&all), false);
    assert!(first[25].starts_with("unknown"), "{first:?}");
    for _ in 0..2 {
        let again = run(&conversation, &clock, &journal, &lines(&all), false);
        assert!(again[25].contains("cut short"), "{again:?}");
    }
    let copies = conversation
        .texts()
        .iter()
        .filter(|t| *t == "the 26th")
        .count();
    assert_eq!(copies, 1);
}

#[test]
fn a_message_on_another_communication_or_stored_otherwise_is_found() {
    type Store = fn(&str) -> String;
    let stores: [(&str, Store, &str); 4] = [
        (
            "on the bot's communication",
            |t| t.to_owned(),
            "See you at nine",
        ),
        (
            "CRLF stored as LF",
            |t| t.replace("\r\n", "\n"),
            "Line one\r\nLine two",
        ),
        ("trimmed", |t| t.trim().to_owned(), "  Padded reminder \n"),
        (
            "NFD stored as NFC",
            |t| t.replace("e\u{308}", "\u{eb}"),
            "Hello Zoe\u{308}, your table is ready",
        ),
    ];
    for (how, store, text) in stores {
        let clock = FakeClock::new();
        let platform = Platform {
            store,
            elsewhere: how.contains("bot"),
            ..on_clock(&clock)
        };
        let (_, second, texts) = lost_then_rerun(platform, text);
        assert_eq!(second, ["found"], "{how}");
        assert_eq!(texts.len(), 1, "{how}: {texts:?}");
    }
}

#[test]
fn one_message_settles_one_line_across_runs() {
    // [X, Y, X]: the second X's answer is lost and the message not stored.
    let clock = FakeClock::new();
    let conversation = FakeConversation::on(on_clock(&clock), |n| {
        if n == 2 {
            OnMessage::LoseAndAnswer(502)
        } else {
            OnMessage::Accept
        }
    });
    let dir = Scratch::new();
    let journal = dir.0.join("journal.jsonl");
    let batch = lines(&[
        "Your code is 1234",
        "Reply STOP to end",
        "Your code is 1234",
    ]);
    let first = run(&conversation, &clock, &journal, &batch, false);
    assert!(first[2].starts_with("unknown"), "{first:?}");
    let second = run(&conversation, &clock, &journal, &batch, false);
    assert_eq!(second, ["found", "found", "sent"]);
    assert_eq!(
        conversation.texts(),
        [
            "Your code is 1234",
            "Reply STOP to end",
            "Your code is 1234"
        ]
    );
}

#[test]
fn one_message_settles_one_line_within_a_run_that_resolves() {
    // [X, X] with resolve_unknown: the second's answer lost, not stored.
    for parallel in [1, 2] {
        let clock = FakeClock::new();
        let conversation = FakeConversation::on(on_clock(&clock), |n| match n {
            // The first's answer comes late: the second's look waits for it.
            0 => OnMessage::AcceptAfter(Duration::from_millis(300)),
            1 => OnMessage::LoseAndAnswer(502),
            _ => OnMessage::Accept,
        });
        let dir = Scratch::new();
        let mut journal = Journal::open(dir.0.join("j.jsonl"), "b").unwrap();
        let batch = lines(&["Table for two at eight", "Table for two at eight"]);
        let reports = injector(&conversation, &clock, true)
            .inject_batch(
                &batch,
                &mut journal,
                &BatchOptions::new().parallel(parallel),
                |_| {},
            )
            .unwrap();
        assert!(
            reports
                .iter()
                .all(|r| matches!(r.outcome, LineOutcome::Sent { earlier: false, .. })),
            "{reports:?}"
        );
        assert_eq!(conversation.texts().len(), 2, "parallel {parallel}");
    }
}

#[test]
fn a_recorded_platform_time_after_the_looks_own_date_is_not_trusted() {
    // The killed run went through a proxy whose Date ran an hour ahead;
    // the re-run does not, and its journal has no anchor (an old record).
    // The message is there, but an hour before the window: only the clocks'
    // disagreement, seen, keeps it from being sent again.
    let clock = FakeClock::new();
    let conversation = first_answer_lost(Platform {
        date_ahead_ms: 3_600_000,
        ..on_clock(&clock)
    });
    let dir = Scratch::new();
    let journal = dir.0.join("journal.jsonl");
    run(&conversation, &clock, &journal, &lines(&["Hi"]), false);
    let text = std::fs::read_to_string(&journal).unwrap();
    let edited: String = text
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("anchor");
            format!("{v}\n")
        })
        .collect();
    std::fs::write(&journal, edited).unwrap();
    conversation.set_date_ahead_ms(0);
    let again = run(&conversation, &clock, &journal, &lines(&["Hi"]), false);
    assert!(again[0].contains("Date"), "{again:?}");
    assert_eq!(conversation.texts(), ["Hi"]);
}

#[test]
fn without_an_anchor_the_look_begins_a_minute_before_the_platform_time() {
    // An attempting record of the last release (no anchor), a Date 30 s
    // ahead of the message clock: found.
    let clock = FakeClock::new();
    let conversation = first_answer_lost(Platform {
        date_ahead_ms: 30_000,
        ..on_clock(&clock)
    });
    let dir = Scratch::new();
    let journal = dir.0.join("journal.jsonl");
    run(
        &conversation,
        &clock,
        &journal,
        &lines(&["Hi there"]),
        false,
    );
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.contains(r#""anchor":{"#), "{text}");
    let edited: String = text
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("anchor");
            format!("{v}\n")
        })
        .collect();
    std::fs::write(&journal, edited).unwrap();
    let again = run(
        &conversation,
        &clock,
        &journal,
        &lines(&["Hi there"]),
        false,
    );
    assert_eq!(again, ["found"]);
    assert_eq!(conversation.texts(), ["Hi there"]);
}

#[test]
fn killed_behind_a_proxy_an_hour_ahead_with_a_lagging_listing_the_rerun_finds_it() {
    // Real processes on real time: the listing lags 2 s, the settling time
    // is 2 s (batch_cmd's; the re-run's one real wait, about 3 s), the Date
    // an hour ahead.
    use common::batch::{batch_cmd, run as run_cli};
    let conversation = FakeConversation::on(
        Platform {
            date_ahead_ms: 3_600_000,
            lag: Duration::from_secs(2),
            ..Platform::default()
        },
        |n| {
            if n == 0 {
                OnMessage::RecordAndStall(Duration::from_secs(10))
            } else {
                OnMessage::Accept
            }
        },
    );
    let dir = Scratch::new();
    let file = dir.0.join("one.jsonl");
    let journal = dir.0.join("journal.jsonl");
    std::fs::write(
        &file,
        format!(
            "{}\n",
            serde_json::json!({"conversation": CONV, "text": "Gate B12 is open"})
        ),
    )
    .unwrap();
    let mut child = batch_cmd(&conversation.url(), &file, &journal, &[])
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while conversation.texts().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (code, _, all) = run_cli(&mut batch_cmd(&conversation.url(), &file, &journal, &[]));
    assert_eq!(code, 0, "{all}");
    assert!(all.contains("sent by an earlier run"), "{all}");
    assert_eq!(conversation.texts(), ["Gate B12 is open"]);
}
