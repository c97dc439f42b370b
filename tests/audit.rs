//! One audit record per `inject`, success or failure, with the tutorial's fields.

mod common;

use common::*;
use genesys_inject::{ContentBlock, InjectRequest};
use serde_json::json;

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

    // This test's records: another test of this binary logs on its threads.
    let records: Vec<serde_json::Value> = logged_in(&[std::thread::current().id()])
        .into_iter()
        .filter(|(target, ..)| target == genesys_inject::AUDIT_TARGET)
        .map(|(_, _, msg)| serde_json::from_str(&msg).unwrap())
        .collect();
    assert_eq!(records.len(), 3, "{records:?}");
    let expect = [("SUCCESS", 8), ("FAILURE", 3), ("FAILURE", 0)];
    // The tutorial's fields, then what this record knows besides: the
    // message id, or why it failed.
    let extra: [&[&str]; 3] = [&["messageId"], &["errorKind", "httpStatus"], &["errorKind"]];
    for ((record, (status, size)), extra) in records.iter().zip(expect).zip(extra) {
        let obj = record.as_object().unwrap();
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        let mut expected = vec![
            "eventType",
            "governanceChannel",
            "interactionId",
            "latencyMs",
            "messageSize",
            "status",
            "timestamp",
        ];
        expected.extend_from_slice(extra);
        expected.sort_unstable();
        assert_eq!(sorted, expected);
        assert_eq!(record["interactionId"], CONV);
        assert_eq!(record["status"], status);
        assert_eq!(record["messageSize"], size);
        assert!(record["latencyMs"].is_u64());
        assert_eq!(record["eventType"], "bot_message_injection");
        assert_eq!(record["governanceChannel"], "digital_chat");
        if status == "FAILURE" && size == 3 {
            assert_eq!(record["errorKind"], "api");
            assert_eq!(record["httpStatus"], 404);
        }
        let ts = record["timestamp"].as_str().unwrap();
        assert!(
            ts.len() == 24 && ts.ends_with('Z') && &ts[10..11] == "T",
            "{ts}"
        );
    }
    // Records are at info level.
    assert!(logged_in(&[std::thread::current().id()])
        .iter()
        .filter(|(t, ..)| t == genesys_inject::AUDIT_TARGET)
        .all(|(_, l, _)| *l == log::Level::Info));
}

#[test]
fn a_batch_lines_records_name_the_batch_the_line_the_channel_and_the_failure() {
    use genesys_inject::{AgentlessTarget, BatchLine, BatchOptions, Injector, Journal};
    use std::sync::{Arc, Mutex};
    let dir = Scratch::new();
    // The second message is refused: 400, with a correlation id.
    let platform = common::sms::SmsPlatform::answering(None, |n| {
        (n == 1).then(|| {
            common::rawserver::Action::status(400, r#"{"code":"bad.request","message":"no"}"#)
                .header("inin-correlation-id", "corr-400")
        })
    });
    let mut hook = mockito::Server::new();
    let bodies = Arc::new(Mutex::new(Vec::<serde_json::Value>::new()));
    let seen = bodies.clone();
    let _hook = hook
        .mock("POST", "/hook")
        .with_body_from_request(move |req| {
            seen.lock()
                .unwrap()
                .push(serde_json::from_slice(req.body().unwrap()).unwrap());
            Vec::new()
        })
        .expect(2)
        .create();
    let file = dir.0.join("audit.jsonl");
    let injector = Injector::builder()
        .base_url(platform.url())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .no_state_dir()
        .sender_rate(Some(1000.0))
        .audit_log(&file)
        .webhook_url(format!("{}/hook", hook.url()))
        .build()
        .unwrap();
    let sms = |id: &str, to: &str| {
        BatchLine::new(
            id,
            InjectRequest::agentless(
                AgentlessTarget::sms("+18005550100", to),
                vec![ContentBlock::text("Your parcel is here")],
            ),
        )
    };
    let lines = [
        sms("order-1", "+13175550101"),
        sms("order-2", "+13175550102"),
    ];
    let mut journal = Journal::open(dir.0.join("journal.jsonl"), "2026-12-05").unwrap();
    injector
        .inject_batch(
            &lines,
            &mut journal,
            &BatchOptions::new().parallel(1),
            |_| {},
        )
        .unwrap();
    assert!(injector.flush(std::time::Duration::from_secs(5)));
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    for record in &records {
        assert_eq!(record["governanceChannel"], "sms");
        assert_eq!(record["batchId"], "2026-12-05");
    }
    let (ok, failed) = (&records[0], &records[1]);
    assert_eq!(
        (&ok["lineId"], &ok["status"]),
        (&json!("order-1"), &json!("SUCCESS"))
    );
    assert_eq!(ok["messageId"], "m-1");
    assert_eq!(failed["lineId"], "order-2");
    assert_eq!(
        (
            &failed["errorKind"],
            &failed["httpStatus"],
            &failed["correlationId"]
        ),
        (&json!("api"), &json!(400), &json!("corr-400"))
    );
    // The webhook's bodies carry the same, beside the tutorial's fields.
    let mut bodies = bodies.lock().unwrap().clone();
    bodies.sort_by_key(|b| b["lineId"].as_str().unwrap_or_default().to_owned());
    assert_eq!(bodies[0]["messageId"], "m-1");
    assert_eq!(bodies[1]["httpStatus"], 400);
    assert_eq!(bodies[1]["correlationId"], "corr-400");
    assert_eq!(bodies[1]["displayRate"], 0);
}
