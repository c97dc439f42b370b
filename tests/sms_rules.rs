//! When and whether a line goes (issue 33), in this process on an injected
//! clock whose wall time the test sets: send windows in the recipient's
//! zone (a window opening during a run, the March DST change, two zones in
//! one batch, an area code across two zones), expiry (a line past it, a
//! line whose 429 wait would pass it), a suppression list, a minimum gap
//! between a recipient's messages, and each sender number's pace against a
//! carrier that refuses more than the number's rate.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::rawserver::Action;
use common::sms::SmsPlatform;
use common::*;
use genesys_inject::{
    AgentlessTarget, BatchLine, BatchOptions, ContentBlock, Deferral, InjectRequest, Injector,
    Journal, LineOutcome, SendWindow, Suppression, Zone,
};

const FROM: &str = "+18005550100";
const NY: &str = "+13175550101";
const LA: &str = "+14155550102";
/// Area code 423: Chicago and New York.
const SPLIT: &str = "+14235550103";

fn at(s: &str) -> SystemTime {
    humantime::parse_rfc3339(s).unwrap()
}

fn window() -> SendWindow {
    "08:00-21:00".parse().unwrap()
}

fn injector(platform: &SmsPlatform, clock: &Arc<FakeClock>, state: Option<&Scratch>) -> Injector {
    let builder = Injector::builder()
        .base_url(platform.url())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .clock(clock.clone())
        .requests_per_minute(None);
    match state {
        Some(dir) => builder.state_dir(dir.state()),
        None => builder.no_state_dir(),
    }
    .build()
    .unwrap()
}

fn sms(from: &str, to: &str, text: &str) -> InjectRequest {
    InjectRequest::agentless(
        AgentlessTarget::sms(from, to),
        vec![ContentBlock::text(text)],
    )
}

fn line(to: &str) -> BatchLine {
    BatchLine::by_recipient(sms(FROM, to, "Your parcel arrives today"))
}

/// Runs `lines` (journal `dir/journal.jsonl`, batch `batch`), one line at
/// a time; what became of each, in order.
fn run(
    injector: &Injector,
    dir: &Scratch,
    batch: &str,
    lines: &[BatchLine],
    options: &BatchOptions,
) -> Vec<LineOutcome> {
    let mut journal = Journal::open(dir.0.join("journal.jsonl"), batch).unwrap();
    injector
        .inject_batch(lines, &mut journal, &options.clone().parallel(1), |_| {})
        .unwrap()
        .into_iter()
        .map(|r| r.outcome)
        .collect()
}

fn opens(outcome: &LineOutcome) -> Option<SystemTime> {
    match outcome {
        LineOutcome::Deferred { why } => why.opens(),
        _ => None,
    }
}

fn sent(outcome: &LineOutcome) -> bool {
    matches!(outcome, LineOutcome::Sent { earlier: false, .. })
}

#[test]
fn a_window_that_opens_during_the_run_sends_its_lines_then() {
    let dir = Scratch::new();
    // 07:59 in New York (EDT), 04:59 in Los Angeles.
    let clock = FakeClock::at_wall(at("2026-07-01T11:59:00Z"));
    let platform = SmsPlatform::start(Some(clock.clone()));
    let injector = injector(&platform, &clock, None);
    let lines = [line(NY), line(LA)];
    let options = BatchOptions::new().send_window(window());
    // Without waiting: both deferred, each to its own zone's 08:00.
    let outcomes = run(&injector, &dir, "b", &lines, &options);
    assert_eq!(opens(&outcomes[0]), Some(at("2026-07-01T12:00:00Z")));
    assert_eq!(opens(&outcomes[1]), Some(at("2026-07-01T15:00:00Z")));
    assert!(platform.recipients().is_empty());
    // Waiting, within two hours: New York's line goes at 08:00 there; Los
    // Angeles' window opens after the deadline: deferred still.
    let options = options
        .wait_for_window(true)
        .deadline(Duration::from_secs(2 * 3600));
    let outcomes = run(&injector, &dir, "b", &lines, &options);
    assert!(sent(&outcomes[0]), "{outcomes:?}");
    assert_eq!(opens(&outcomes[1]), Some(at("2026-07-01T15:00:00Z")));
    let sent = platform.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, NY);
    // It went at 08:00 New York time: 60 s after the run began, no sooner.
    assert!(
        sent[0].at >= Duration::from_secs(60) && sent[0].at < Duration::from_secs(62),
        "{:?}",
        sent[0].at
    );
}

#[test]
fn the_window_is_local_time_across_the_march_dst_change() {
    // 2026-03-08: New York moves from EST (UTC-5) to EDT (UTC-4).
    for (now, expect_opens) in [
        // 07:30 EST the day before: opens 08:00 EST, 13:00 UTC.
        ("2026-03-07T12:30:00Z", Some("2026-03-07T13:00:00Z")),
        // 07:30 EDT on the day: opens 08:00 EDT, 12:00 UTC.
        ("2026-03-08T11:30:00Z", Some("2026-03-08T12:00:00Z")),
        // 08:30 EDT (07:30 had the change been ignored): it goes.
        ("2026-03-08T12:30:00Z", None),
    ] {
        let dir = Scratch::new();
        let clock = FakeClock::at_wall(at(now));
        let platform = SmsPlatform::start(Some(clock.clone()));
        let outcomes = run(
            &injector(&platform, &clock, None),
            &dir,
            "b",
            &[line(NY)],
            &BatchOptions::new().send_window(window()),
        );
        match expect_opens {
            Some(t) => assert_eq!(opens(&outcomes[0]), Some(at(t)), "{now}"),
            None => assert!(sent(&outcomes[0]), "{now}: {outcomes:?}"),
        }
    }
}

#[test]
fn two_zones_in_one_batch_each_by_its_own_clock() {
    let dir = Scratch::new();
    // 09:30 in New York, 06:30 in Los Angeles, 15:30 in Paris.
    let clock = FakeClock::at_wall(at("2026-07-01T13:30:00Z"));
    let platform = SmsPlatform::start(Some(clock.clone()));
    let lines = [
        // By its area code.
        line(NY),
        // Its own zone, over its area code's (New York's).
        line("+13175550104").time_zone(Zone::named("America/Los_Angeles").unwrap()),
        // No NANP number: the batch's zone.
        line("+33612345678"),
    ];
    let options = BatchOptions::new()
        .send_window(window())
        .time_zone(Zone::named("Europe/Paris").unwrap());
    // The batch's zone is given: it is every line's that has none of its
    // own, NANP or not.
    let outcomes = run(
        &injector(&platform, &clock, None),
        &dir,
        "b",
        &lines,
        &options,
    );
    assert!(sent(&outcomes[0]), "{outcomes:?}");
    assert_eq!(opens(&outcomes[1]), Some(at("2026-07-01T15:00:00Z")));
    assert!(sent(&outcomes[2]), "{outcomes:?}");
    // Without a batch zone, the number outside North America has none:
    // held, saying so.
    let dir = Scratch::new();
    let outcomes = run(
        &injector(&platform, &clock, None),
        &dir,
        "b",
        &[line("+33612345679")],
        &BatchOptions::new().send_window(window()),
    );
    match &outcomes[0] {
        LineOutcome::Deferred {
            why: why @ Deferral::NoZone { zone: None },
        } => assert!(why.to_string().contains("give the line or the batch one")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_area_code_across_two_zones_goes_only_in_their_shared_hours() {
    for (now, goes, expect_opens) in [
        // 08:30 in New York, 07:30 in Chicago: Chicago's window is shut.
        ("2026-07-01T12:30:00Z", false, Some("2026-07-01T13:00:00Z")),
        // 20:30 in New York, 19:30 in Chicago: both open.
        ("2026-07-02T00:30:00Z", true, None),
        // 21:30 in New York, 20:30 in Chicago: New York's is shut.
        ("2026-07-02T01:30:00Z", false, Some("2026-07-02T13:00:00Z")),
    ] {
        let dir = Scratch::new();
        let clock = FakeClock::at_wall(at(now));
        let platform = SmsPlatform::start(Some(clock.clone()));
        let outcomes = run(
            &injector(&platform, &clock, None),
            &dir,
            "b",
            &[line(SPLIT)],
            &BatchOptions::new().send_window(window()),
        );
        assert_eq!(sent(&outcomes[0]), goes, "{now}: {outcomes:?}");
        assert_eq!(opens(&outcomes[0]), expect_opens.map(at), "{now}");
        if let LineOutcome::Deferred {
            why: Deferral::Window { zones, .. },
        } = &outcomes[0]
        {
            assert_eq!(zones, &["America/Chicago", "America/New_York"]);
        }
    }
}

#[test]
fn an_expired_line_is_never_sent_and_stays_expired() {
    let dir = Scratch::new();
    let clock = FakeClock::at_wall(at("2026-07-01T15:00:00Z"));
    let platform = SmsPlatform::start(Some(clock.clone()));
    let injector = injector(&platform, &clock, None);
    let lines = [
        line(NY).valid_until(at("2026-07-01T14:59:00Z")),
        line(LA).valid_until(at("2026-07-01T16:00:00Z")),
    ];
    let outcomes = run(&injector, &dir, "b", &lines, &BatchOptions::new());
    assert!(
        matches!(outcomes[0], LineOutcome::Expired { earlier: false }),
        "{outcomes:?}"
    );
    assert!(sent(&outcomes[1]));
    assert_eq!(platform.recipients(), [LA]);
    // A later run, the expiry no longer given: it was recorded, and stays.
    let lines = [line(NY), line(LA)];
    let outcomes = run(&injector, &dir, "b", &lines, &BatchOptions::new());
    assert!(
        matches!(outcomes[0], LineOutcome::Expired { earlier: true }),
        "{outcomes:?}"
    );
    assert_eq!(platform.recipients(), [LA]);
    // The batch's expiry, when the line has none.
    let dir = Scratch::new();
    let outcomes = run(
        &injector,
        &dir,
        "b",
        &[line(SPLIT)],
        &BatchOptions::new().valid_until(at("2026-07-01T14:00:00Z")),
    );
    assert!(matches!(outcomes[0], LineOutcome::Expired { .. }));
    assert_eq!(platform.recipients(), [LA]);
}

#[test]
fn a_line_whose_429_wait_would_pass_its_expiry_expires_instead() {
    for (valid_for, expired) in [(30, true), (600, false)] {
        let dir = Scratch::new();
        let clock = FakeClock::at_wall(at("2026-07-01T15:00:00Z"));
        // The first message is answered 429: come back in 45 s.
        let platform = SmsPlatform::answering(Some(clock.clone()), |n| {
            (n == 0).then(|| Action::status(429, "").header("retry-after", "45"))
        });
        let until = at("2026-07-01T15:00:00Z") + Duration::from_secs(valid_for);
        let outcomes = run(
            &injector(&platform, &clock, None),
            &dir,
            "b",
            &[line(NY).valid_until(until)],
            &BatchOptions::new(),
        );
        if expired {
            assert!(
                matches!(outcomes[0], LineOutcome::Expired { earlier: false }),
                "{outcomes:?}"
            );
            assert!(platform.recipients().is_empty());
            // It did not wait the 45 s out, nor send before them.
            assert!(
                clock.elapsed() < Duration::from_secs(30),
                "{:?}",
                clock.elapsed()
            );
            // Recorded: a later run does not send it.
            let again = run(
                &injector(&platform, &clock, None),
                &dir,
                "b",
                &[line(NY)],
                &BatchOptions::new(),
            );
            assert!(matches!(again[0], LineOutcome::Expired { earlier: true }));
        } else {
            assert!(sent(&outcomes[0]), "{outcomes:?}");
            assert!(clock.elapsed() >= Duration::from_secs(45));
        }
    }
}

#[test]
fn a_suppressed_recipient_is_never_sent_and_nothing_is_recorded() {
    let dir = Scratch::new();
    let clock = FakeClock::new();
    let platform = SmsPlatform::start(Some(clock.clone()));
    let injector = injector(&platform, &clock, None);
    // One number, written three ways in the list.
    let list: Suppression = ["+1 317 555 0101", "+1-317-555-0101", "+1 (317) 555.0101"]
        .into_iter()
        .collect();
    assert_eq!(list.len(), 1);
    let lines = [line(NY), line(LA)];
    let outcomes = run(
        &injector,
        &dir,
        "b",
        &lines,
        &BatchOptions::new().suppress(list),
    );
    assert!(
        matches!(outcomes[0], LineOutcome::Suppressed),
        "{outcomes:?}"
    );
    assert!(sent(&outcomes[1]));
    assert_eq!(platform.recipients(), [LA]);
    // Nothing recorded: taken off the list, a later run sends it.
    let outcomes = run(&injector, &dir, "b", &lines, &BatchOptions::new());
    assert!(sent(&outcomes[0]), "{outcomes:?}");
    assert_eq!(platform.recipients(), [LA, NY]);
}

#[test]
fn a_recipient_inside_the_min_gap_is_deferred_in_any_batch_on_the_state_dir() {
    let dir = Scratch::new();
    let t0 = at("2026-07-01T15:00:00Z");
    let clock = FakeClock::at_wall(t0);
    let platform = SmsPlatform::start(Some(clock.clone()));
    let gap = BatchOptions::new().min_gap(Duration::from_secs(20 * 3600));
    let injector = injector(&platform, &clock, Some(&dir));
    let outcomes = run(&injector, &dir, "monday", &[line(NY)], &gap);
    assert!(sent(&outcomes[0]));
    // An hour later, another batch, another text, to the same number.
    clock.advance(Duration::from_secs(3600));
    let other = [
        BatchLine::by_recipient(sms(FROM, NY, "Your invoice is ready")),
        line(LA),
    ];
    let outcomes = run(&injector, &dir, "invoices", &other, &gap);
    assert_eq!(
        outcomes[0].clone_deferral(),
        Some(Deferral::Gap {
            until: t0 + Duration::from_secs(20 * 3600)
        }),
        "{outcomes:?}"
    );
    assert!(sent(&outcomes[1]));
    // Another process on the same directory sees it too.
    let second = self::injector(&platform, &clock, Some(&dir));
    let outcomes = run(&second, &dir, "invoices", &other[..1], &gap);
    assert!(matches!(outcomes[0], LineOutcome::Deferred { .. }));
    // Past the gap: it goes.
    clock.advance(Duration::from_secs(20 * 3600));
    let outcomes = run(&injector, &dir, "invoices", &other[..1], &gap);
    assert!(sent(&outcomes[0]), "{outcomes:?}");
    assert_eq!(platform.recipients(), [NY, LA, NY]);
    // The directory holds no address in clear.
    for entry in std::fs::read_dir(dir.state()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("5550101") && !text.contains("5550102"));
    }
    // Without a state directory it cannot be kept: refused before a send.
    let stateless = self::injector(&platform, &clock, None);
    let mut journal = Journal::open(dir.0.join("other.jsonl"), "b").unwrap();
    let err = stateless
        .inject_batch(&[line(NY)], &mut journal, &gap, |_| {})
        .unwrap_err();
    assert!(err.to_string().contains("state directory"), "{err}");
}

/// The deferral of a deferred outcome.
trait DeferralOf {
    fn clone_deferral(&self) -> Option<Deferral>;
}

impl DeferralOf for LineOutcome {
    fn clone_deferral(&self) -> Option<Deferral> {
        match self {
            LineOutcome::Deferred { why } => Some(why.clone()),
            _ => None,
        }
    }
}

#[test]
fn each_sender_number_goes_at_its_carriers_pace() {
    // 30 lines from a long code (1 a second) and 30 from a toll-free
    // number (3), interleaved; the token's pace off.
    let clock = FakeClock::new();
    let platform = SmsPlatform::start(Some(clock.clone()));
    let long_code = "+13175550000";
    let lines: Vec<BatchLine> = (0..60)
        .map(|i| {
            let from = if i % 2 == 0 { long_code } else { FROM };
            BatchLine::new(
                format!("l{i}"),
                sms(
                    from,
                    &format!("+1415555{i:04}"),
                    "Your parcel arrives today",
                ),
            )
        })
        .collect();
    let dir = Scratch::new();
    let outcomes = run(
        &injector(&platform, &clock, None),
        &dir,
        "b",
        &lines,
        &BatchOptions::new(),
    );
    assert!(outcomes.iter().all(sent));
    assert_eq!(
        platform.refused.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    // The long code's 30 messages take 30 s at 1 a second: within 10 %.
    let took = clock.elapsed().as_secs_f64();
    assert!((27.0..=33.0).contains(&took), "{took} s");
    println!("60 lines, a long code and a toll-free number: {took:.1} s (30 expected)");

    // The carrier does refuse: at 100 a second, most are.
    let clock = FakeClock::new();
    let platform = SmsPlatform::start(Some(clock.clone()));
    let fast = Injector::builder()
        .base_url(platform.url())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .clock(clock.clone())
        .requests_per_minute(None)
        .sender_rate(Some(100.0))
        .no_state_dir()
        .build()
        .unwrap();
    let dir = Scratch::new();
    run(&fast, &dir, "b", &lines[..10], &BatchOptions::new());
    assert!(platform.refused.load(std::sync::atomic::Ordering::SeqCst) >= 4);
}

#[test]
fn a_line_whose_wait_would_outlast_its_window_is_deferred_to_the_next_opening() {
    let dir = Scratch::new();
    // 20:59:30 in New York: the window closes in 30 s, and the platform
    // says come back in 45.
    let clock = FakeClock::at_wall(at("2026-07-02T00:59:30Z"));
    let platform = SmsPlatform::answering(Some(clock.clone()), |n| {
        (n == 0).then(|| Action::status(429, "").header("retry-after", "45"))
    });
    let outcomes = run(
        &injector(&platform, &clock, None),
        &dir,
        "b",
        &[line(NY)],
        &BatchOptions::new().send_window(window()),
    );
    assert_eq!(
        opens(&outcomes[0]),
        Some(at("2026-07-02T12:00:00Z")),
        "{outcomes:?}"
    );
    assert!(platform.recipients().is_empty());
    assert!(clock.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_line_refused_gives_its_recipient_back_to_the_gap() {
    let dir = Scratch::new();
    let clock = FakeClock::at_wall(at("2026-07-01T15:00:00Z"));
    // The first message is refused for good: nothing reached them.
    let platform = SmsPlatform::answering(Some(clock.clone()), |n| {
        (n == 0).then(|| Action::status(400, r#"{"code":"bad.request"}"#))
    });
    let gap = BatchOptions::new().min_gap(Duration::from_secs(20 * 3600));
    let injector = injector(&platform, &clock, Some(&dir));
    let outcomes = run(&injector, &dir, "monday", &[line(NY)], &gap);
    assert!(
        matches!(outcomes[0], LineOutcome::Failed { .. }),
        "{outcomes:?}"
    );
    let other = [BatchLine::by_recipient(sms(
        FROM,
        NY,
        "Your invoice is ready",
    ))];
    let outcomes = run(&injector, &dir, "invoices", &other, &gap);
    assert!(sent(&outcomes[0]), "{outcomes:?}");
}
