//! One audit record per `inject`, success or failure, with the tutorial's fields.

mod common;

use common::*;
use genesys_inject::{ContentBlock, InjectRequest};

#[test]
fn every_inject_writes_one_audit_record() {
    capture_logs();
    let mut server = platform_server();
    let ok = server
        .mock("POST", message_path().as_str())
        .with_body(message_ok("m"))
        .expect(1)
        .create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();

    // Success: messageSize in UTF-16 units (the emoji counts 2).
    injector.inject(&request(&["Hello ", "👋"])).unwrap();
    ok.assert();
    ok.remove();
    // Failure after validation: the size is known.
    server
        .mock("POST", message_path().as_str())
        .with_status(404)
        .create();
    injector.inject(&request(&["abc"])).unwrap_err();
    // Validation failure: size 0.
    injector
        .inject(&InjectRequest::new(CONV, COMM, Vec::<ContentBlock>::new()))
        .unwrap_err();

    let records = audit_records();
    assert_eq!(records.len(), 3, "{records:?}");
    let expect = [("SUCCESS", 8), ("FAILURE", 3), ("FAILURE", 0)];
    for (record, (status, size)) in records.iter().zip(expect) {
        let obj = record.as_object().unwrap();
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            [
                "eventType",
                "governanceChannel",
                "interactionId",
                "latencyMs",
                "messageSize",
                "status",
                "timestamp"
            ]
        );
        assert_eq!(record["interactionId"], CONV);
        assert_eq!(record["status"], status);
        assert_eq!(record["messageSize"], size);
        assert!(record["latencyMs"].is_u64());
        assert_eq!(record["eventType"], "bot_message_injection");
        assert_eq!(record["governanceChannel"], "digital_chat");
        let ts = record["timestamp"].as_str().unwrap();
        assert!(
            ts.len() == 24 && ts.ends_with('Z') && &ts[10..11] == "T",
            "{ts}"
        );
    }
    // Records are at info level.
    assert!(logged()
        .iter()
        .filter(|(t, ..)| t == genesys_inject::AUDIT_TARGET)
        .all(|(_, l, _)| *l == log::Level::Info));
}
