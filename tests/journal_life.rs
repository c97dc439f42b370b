//! A journal a cron job can live with for years (issue 34): a daily job
//! under one batch id stays small for a year (lines forgotten after their
//! keeping time, the file compacted), a line sent is never sent again
//! while it is remembered, nothing is forgotten while a line is
//! `attempting` or `unknown`, another batch's journal untouched past its
//! keeping time is removed (`inject journal` and kills: journal_cli.rs).
//! In this process, on an injected clock whose wall time moves day by day.

mod common;

use std::time::{Duration, SystemTime};

use common::rawserver::Action;
use common::sms::SmsPlatform;
use common::*;
use genesys_inject::{
    AgentlessTarget, BatchLine, BatchOptions, ContentBlock, InjectRequest, Injector, Journal,
    LineOutcome,
};

const DAY: Duration = Duration::from_secs(24 * 3600);

fn injector(platform: &SmsPlatform, clock: &std::sync::Arc<FakeClock>, dir: &Scratch) -> Injector {
    builder(platform, clock, dir).build().unwrap()
}

/// Unpaced, on `clock`, with `dir`'s state directory.
fn builder(
    platform: &SmsPlatform,
    clock: &std::sync::Arc<FakeClock>,
    dir: &Scratch,
) -> genesys_inject::InjectorBuilder {
    Injector::builder()
        .base_url(platform.url())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .clock(clock.clone())
        .requests_per_minute(None)
        .sender_rate(Some(1000.0))
        .state_dir(dir.state())
}

/// As [`injector`], with answers lost after 300 ms: the agentless route
/// cannot look for them, so such a line stays unknown.
fn losing_answers(
    platform: &SmsPlatform,
    clock: &std::sync::Arc<FakeClock>,
    dir: &Scratch,
) -> Injector {
    builder(platform, clock, dir)
        .message_timeout(Duration::from_millis(300))
        .build()
        .unwrap()
}

/// Day `day`'s lines: `n` orders, each its own id.
fn orders(day: usize, n: usize) -> Vec<BatchLine> {
    (0..n)
        .map(|i| {
            BatchLine::new(
                format!("order-{day}-{i}"),
                InjectRequest::agentless(
                    AgentlessTarget::sms("+18005550100", format!("+1317555{:04}", i)),
                    vec![ContentBlock::text(format!("Order {day}-{i} shipped"))],
                ),
            )
        })
        .collect()
}

fn run(injector: &Injector, dir: &Scratch, batch: &str, lines: &[BatchLine]) -> Vec<LineOutcome> {
    let mut journal = Journal::in_state_dir(dir.state(), batch).unwrap();
    injector
        .inject_batch(
            lines,
            &mut journal,
            &BatchOptions::new().parallel(1),
            |_| {},
        )
        .unwrap()
        .into_iter()
        .map(|r| r.outcome)
        .collect()
}

fn sent_now(outcomes: &[LineOutcome]) -> usize {
    outcomes
        .iter()
        .filter(|o| matches!(o, LineOutcome::Sent { earlier: false, .. }))
        .count()
}

fn journal_size(dir: &Scratch, batch: &str) -> u64 {
    let path = Journal::in_state_dir(dir.state(), batch)
        .unwrap()
        .path()
        .to_owned();
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn a_daily_job_under_one_batch_id_for_a_year_stays_small() {
    let dir = Scratch::new();
    let clock = FakeClock::at_wall(humantime::parse_rfc3339("2026-01-01T08:00:00Z").unwrap());
    let platform = SmsPlatform::start(Some(clock.clone()));
    let injector = injector(&platform, &clock, &dir);
    let per_day = 6;
    let mut largest = 0;
    for day in 0..365 {
        let outcomes = run(&injector, &dir, "default", &orders(day, per_day));
        assert_eq!(sent_now(&outcomes), per_day, "day {day}");
        // Within its keeping time, a line sent is never sent again.
        if day == 20 {
            let again = run(&injector, &dir, "default", &orders(0, per_day));
            assert_eq!(sent_now(&again), 0, "day 0's lines again on day 20");
        }
        largest = largest.max(journal_size(&dir, "default"));
        clock.advance(DAY);
    }
    // Every record ever written would be 365 × 6 lines × 2 records: about
    // 1.4 MB. Kept: the last 30 days' lines, compacted past 64 KiB.
    let size = journal_size(&dir, "default");
    println!("a year of {per_day} lines a day: {size} bytes now, {largest} at most");
    assert!(largest < 256 << 10, "{largest}");
    // Past its keeping time, a line is forgotten: the same line, sent again
    // (as docs/cron.md says of a re-run after that).
    let again = run(&injector, &dir, "default", &orders(0, 1));
    assert_eq!(sent_now(&again), 1);
}

#[test]
fn records_from_before_stamps_are_stamped_once_and_then_age() {
    let dir = Scratch::new();
    let clock = FakeClock::at_wall(humantime::parse_rfc3339("2026-01-01T08:00:00Z").unwrap());
    let platform = SmsPlatform::start(Some(clock.clone()));
    let injector = injector(&platform, &clock, &dir);
    assert_eq!(sent_now(&run(&injector, &dir, "default", &orders(0, 2))), 2);
    // As the release before stamps wrote it: no `t`.
    let path = Journal::in_state_dir(dir.state(), "default")
        .unwrap()
        .path()
        .to_owned();
    let old: String = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut record: serde_json::Value = serde_json::from_str(l).unwrap();
            record.as_object_mut().unwrap().remove("t");
            format!("{record}\n")
        })
        .collect();
    std::fs::write(&path, old).unwrap();
    // The first run after the upgrade stamps them (the day it reads them),
    // in the file; a keeping time later they are forgotten like any line.
    clock.advance(31 * DAY);
    assert_eq!(sent_now(&run(&injector, &dir, "default", &orders(0, 2))), 0);
    assert!(std::fs::read_to_string(&path).unwrap().contains("\"t\":"));
    clock.advance(31 * DAY);
    assert_eq!(sent_now(&run(&injector, &dir, "default", &orders(0, 2))), 2);
}

#[test]
fn nothing_is_forgotten_while_a_line_is_attempting_or_unknown() {
    let dir = Scratch::new();
    let clock = FakeClock::at_wall(humantime::parse_rfc3339("2026-01-01T08:00:00Z").unwrap());
    // The first message's answer is lost (the agentless route cannot look
    // for it: it stays unknown).
    let platform = SmsPlatform::answering(Some(clock.clone()), |n| {
        (n == 0).then(|| Action::Stall(Duration::from_secs(3)))
    });
    let injector = losing_answers(&platform, &clock, &dir);
    let lines = orders(0, 40);
    let outcomes = run(&injector, &dir, "default", &lines);
    assert!(
        matches!(outcomes[0], LineOutcome::Unknown { .. }),
        "{outcomes:?}"
    );
    // A hundred days on, with every other line long forgotten: the unknown
    // line is still there, still unknown, never sent again blindly.
    clock.advance(100 * DAY);
    let outcomes = run(&injector, &dir, "default", &lines[..1]);
    assert!(
        matches!(outcomes[0], LineOutcome::Unknown { .. }),
        "{outcomes:?}"
    );
    let lines_left = Journal::lines_of(dir.state(), "default").unwrap();
    assert_eq!(lines_left.len(), 1, "{lines_left:?}");
    assert_eq!(lines_left[0].state, "unknown");
}

#[test]
fn another_batchs_journal_untouched_past_its_keeping_time_is_removed() {
    let dir = Scratch::new();
    let clock = FakeClock::at_wall(SystemTime::now());
    let platform = SmsPlatform::answering(Some(clock.clone()), |n| {
        (n == 1).then(|| Action::Stall(Duration::from_secs(3)))
    });
    let injector = losing_answers(&platform, &clock, &dir);
    // Day 0: a dated batch, all sent; another whose line is unknown.
    run(&injector, &dir, "2026-01-01", &orders(1, 1));
    run(&injector, &dir, "monday", &orders(2, 1));
    let batches = Journal::list(dir.state()).unwrap();
    assert_eq!(batches.len(), 2);
    // 31 days on (the files' own times are today's: 31 days before the
    // clock's), any run on the directory removes the finished one.
    clock.advance(31 * DAY);
    run(&injector, &dir, "tuesday", &orders(3, 1));
    let mut left: Vec<Option<String>> = Journal::list(dir.state())
        .unwrap()
        .into_iter()
        .map(|b| b.batch_id)
        .collect();
    left.sort();
    assert_eq!(
        left,
        [Some("monday".to_owned()), Some("tuesday".to_owned())]
    );
    // Within its keeping time, nothing is removed.
    let dir = Scratch::new();
    let clock = FakeClock::at_wall(SystemTime::now());
    let injector = self::injector(&platform, &clock, &dir);
    run(&injector, &dir, "a", &orders(4, 1));
    clock.advance(29 * DAY);
    run(&injector, &dir, "b", &orders(5, 1));
    assert_eq!(Journal::list(dir.state()).unwrap().len(), 2);
}

#[test]
fn a_journal_a_run_holds_is_never_swept_and_a_killed_compactions_leftover_is() {
    let dir = Scratch::new();
    let clock = FakeClock::at_wall(SystemTime::now());
    let platform = SmsPlatform::start(Some(clock.clone()));
    let injector = injector(&platform, &clock, &dir);
    run(&injector, &dir, "held", &orders(1, 1));
    run(&injector, &dir, "idle", &orders(2, 1));
    // What a compaction killed before its rename leaves beside the journal.
    let journals = dir.state().join("journal");
    let leftover = journals.join(format!(".{}.jsonl.0123.tmp", "0".repeat(32)));
    std::fs::write(&leftover, b"{}\n").unwrap();
    clock.advance(31 * DAY);
    // Another run holds "held": its journal is open, its lock taken.
    let holder = Journal::in_state_dir(dir.state(), "held").unwrap();
    run(&injector, &dir, "today", &orders(3, 1));
    let mut left: Vec<Option<String>> = Journal::list(dir.state())
        .unwrap()
        .into_iter()
        .map(|b| b.batch_id)
        .collect();
    left.sort();
    assert_eq!(left, [Some("held".to_owned()), Some("today".to_owned())]);
    assert!(!leftover.exists());
    drop(holder);
}
