//! A batch at the platform's budget (issue 25): what it sends, how many
//! lines are in flight, and what bounds it. `inject --batch` as a child
//! process against a fake conversation on 127.0.0.1.

mod common;

use common::batch::*;
use common::conversation::{FakeConversation, OnMessage};
use common::*;

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
    assert_eq!(conversation.texts(), texts);
    assert_eq!(conversation.server.count("/typing"), 0);
    // Without it, one indicator a line.
    let file = dir.0.join("typed.jsonl");
    write_batch(&file, "Typed", 3);
    let (code, _, all) = run(&mut batch_cmd(&conversation.url(), &file, &journal, &[]));
    assert_eq!(code, 0, "{all}");
    assert_eq!(conversation.server.count("/typing"), 3);
}
