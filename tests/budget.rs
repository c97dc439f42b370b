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
    let (code, _, all) = run(&mut batch_cmd(&conversation.url(), &file, &journal, &[]));
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
    let started = Instant::now();
    let (code, out, all) = run(&mut batch_cmd(
        &conversation.url(),
        &file,
        &journal,
        &["--json", "--no-typing"],
    ));
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
    let conversation =
        FakeConversation::start(|_| OnMessage::AcceptAfter(Duration::from_millis(200)));
    let file = dir.0.join("many.jsonl");
    let journal = dir.0.join("journal.jsonl");
    let texts = write_batch(&file, "Flight", 40);
    for _ in 0..3 {
        let before = conversation.texts().len();
        let mut child = batch_cmd(&conversation.url(), &file, &journal, &["--parallel", "8"])
            .spawn()
            .unwrap();
        // Several recorded, their answers (and others') on their way.
        let started = Instant::now();
        while conversation.texts().len() < before + 6 && started.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.kill();
        let _ = child.wait();
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
