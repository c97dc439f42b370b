//! Beyond plain text (issue 15): WhatsApp messaging templates on the
//! agentless route, and attachments on the communication route (the upload
//! call, the bytes to the URL it answers, then the message).

mod common;

use std::time::Duration;

use common::*;
use genesys_inject::{
    AgentlessTarget, Attachment, Error, InjectRequest, MessagingTemplate, Outcome, ValidationError,
    MEDIA_MAX_BYTES,
};
use mockito::{Matcher, ServerGuard};
use serde_json::json;

const INTEGRATION: &str = "5e1b1f4c-8f0a-4d7e-9a1e-2b3c4d5e6f70";
const RESPONSE: &str = "3e1f7c2a-9b4d-4e6f-8a1b-2c3d4e5f6a7b";
const AGENTLESS: &str = "/api/v2/conversations/messages/agentless";

fn uploads_path() -> String {
    format!("/api/v2/conversations/messages/{CONV}/communications/{COMM}/messages/media/uploads")
}

fn reminder() -> MessagingTemplate {
    MessagingTemplate::new(RESPONSE)
        .body_parameter("name", "Ada")
        .body_parameter("time", "10:30")
        .header_parameter("clinic", "North")
        .button_url_parameter("booking", "B-42")
}

fn agentless_answer() -> String {
    json!({"id": "a-1", "conversationId": CONV, "message": {"id": "m-wa", "status": "queued"}})
        .to_string()
}

#[test]
fn a_whatsapp_template_is_sent_with_exactly_the_platforms_body() {
    capture_logs();
    let mut server = mockito::Server::new();
    token_mock(&mut server, 86399).create();
    let hook = server.mock("POST", "/hook").create();
    let sent = server
        .mock("POST", AGENTLESS)
        .match_body(Matcher::Exact(format!(
            r#"{{"fromAddress":"{INTEGRATION}","toAddressMessengerType":"whatsapp","toAddress":"13175550199","messagingTemplate":{{"responseId":"{RESPONSE}","bodyParameters":[{{"id":"name","value":"Ada"}},{{"id":"time","value":"10:30"}}],"headerParameters":[{{"id":"clinic","value":"North"}}],"buttonUrlParameters":[{{"id":"booking","value":"B-42"}}]}},"useExistingActiveConversation":true}}"#
        )))
        .with_body(agentless_answer())
        .expect(1)
        .create();
    let injector = builder(&server, &FakeClock::new())
        .webhook_url(format!("{}/hook", server.url()))
        .build()
        .unwrap();
    let request = InjectRequest::template(
        AgentlessTarget::whatsapp(INTEGRATION, "13175550199"),
        reminder(),
    );
    let receipt = injector.inject(&request).unwrap();
    assert_eq!(receipt.message_id.as_deref(), Some("m-wa"));
    sent.assert();
    drop(injector);
    hook.assert();
    // messageSize: the parameter values' UTF-16 length, 3 + 5 + 5 + 4.
    assert!(audit_records()
        .iter()
        .any(|r| r["interactionId"] == CONV && r["messageSize"] == 17));
}

#[test]
fn invalid_templates_send_nothing() {
    let mut server = mockito::Server::new();
    let any = server.mock("POST", Matcher::Any).expect(0).create();
    let injector = builder(&server, &FakeClock::new()).build().unwrap();
    let whatsapp = || AgentlessTarget::whatsapp(INTEGRATION, "13175550199");
    for (request, what) in [
        (
            InjectRequest::template(whatsapp(), MessagingTemplate::new("nope")),
            "response id",
        ),
        (
            InjectRequest::template(whatsapp(), reminder().body_parameter("empty", " ")),
            "blank value",
        ),
        (
            InjectRequest::template(whatsapp(), reminder().body_parameter("bad name", "x")),
            "parameter name",
        ),
        (
            InjectRequest::template(whatsapp(), reminder().body_parameter("name", "again")),
            "a name twice",
        ),
        (
            InjectRequest::template(
                whatsapp(),
                reminder().body_parameter("long", "x".repeat(100_000)),
            ),
            "a value of 100,000 characters",
        ),
        (
            InjectRequest::template(
                whatsapp(),
                reminder().body_parameter("note", "your password"),
            ),
            "a safety rule",
        ),
        (
            InjectRequest::template(
                AgentlessTarget::whatsapp(INTEGRATION, "+13175550199"),
                reminder(),
            ),
            "a + in the WhatsApp id",
        ),
        (
            InjectRequest::template(
                AgentlessTarget::sms("+18005550100", "+13175550199"),
                reminder(),
            ),
            "a template to SMS",
        ),
        (
            InjectRequest::agentless(whatsapp(), vec!["free text".into()]),
            "free text to WhatsApp",
        ),
    ] {
        assert!(
            matches!(injector.inject(&request), Err(Error::Validation(_))),
            "{what}"
        );
    }
    any.assert();
}

/// Injects `parcel.png` through `api` with a fake clock.
fn send_png(api: &ServerGuard) -> Result<genesys_inject::Receipt, Error> {
    builder(api, &FakeClock::new())
        .build()
        .unwrap()
        .inject(&InjectRequest::attachment(
            CONV,
            COMM,
            Attachment::new("parcel.png", PNG),
        ))
}

fn media_path() -> String {
    format!("/api/v2/conversations/messages/{CONV}/communications/{COMM}/messages/media/media-1")
}

/// The platform's answer about the uploaded media: `valid`.
fn media_valid(api: &mut ServerGuard) -> mockito::Mock {
    api.mock("GET", media_path().as_str())
        .with_body(json!({"id": "media-1", "status": "valid"}).to_string())
        .create()
}

fn upload_answer(upload_url: &str) -> String {
    json!({
        "id": "media-1",
        "uploadUrl": upload_url,
        "uploadHeaders": {"Content-Type": "image/png", "x-amz-meta-organizationid": "org-7"},
    })
    .to_string()
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\nfake";
const SIGNATURE: &str = "X-Amz-Signature=0123456789abcdef";

#[test]
fn an_attachment_is_uploaded_to_the_returned_url_then_sent_by_media_id() {
    capture_logs();
    let mut api = platform_server();
    let mut storage = mockito::Server::new();
    let upload_url = format!("{}/bucket/key-1?{SIGNATURE}", storage.url());
    let asked = api
        .mock("POST", uploads_path().as_str())
        .match_header("authorization", format!("Bearer {TOKEN}").as_str())
        .match_body(Matcher::Exact(format!(
            r#"{{"fileName":"parcel.png","contentLengthBytes":{}}}"#,
            PNG.len()
        )))
        .with_body(upload_answer(&upload_url))
        .expect(1)
        .create();
    let put = storage
        .mock("PUT", "/bucket/key-1")
        .match_query(Matcher::Exact(SIGNATURE.into()))
        .match_header("content-type", "image/png")
        .match_header("x-amz-meta-organizationid", "org-7")
        .match_header("authorization", Matcher::Missing)
        .match_body(PNG.to_vec())
        .expect(1)
        .create();
    media_valid(&mut api);
    let message = api
        .mock("POST", message_path().as_str())
        .match_body(Matcher::Exact(r#"{"mediaIds":["media-1"]}"#.into()))
        .with_body(message_ok("m-media"))
        .expect(1)
        .create();
    let receipt = send_png(&api).unwrap();
    assert_eq!(receipt.message_id.as_deref(), Some("m-media"));
    asked.assert();
    put.assert();
    message.assert();
    for (target, _, line) in logged() {
        if target.starts_with("genesys_inject") {
            assert!(!line.contains("0123456789abcdef"), "{line}");
        }
    }
}

#[test]
fn a_failed_upload_never_sends_the_message() {
    let mut api = platform_server();
    let mut storage = mockito::Server::new();
    let upload_url = format!("{}/bucket/key-2?{SIGNATURE}", storage.url());
    api.mock("POST", uploads_path().as_str())
        .with_body(upload_answer(&upload_url))
        .create();
    storage
        .mock("PUT", "/bucket/key-2")
        .match_query(Matcher::Any)
        .with_status(403)
        .with_body(format!("<Error><Code>SignatureDoesNotMatch</Code><StringToSign>{SIGNATURE}</StringToSign></Error>"))
        .create();
    let message = api.mock("POST", message_path().as_str()).expect(0).create();
    let err = send_png(&api).unwrap_err();
    match &err {
        Error::Upload { host, status, .. } => {
            assert_eq!(*status, Some(403));
            assert_eq!(*host, storage.url());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.outcome(), Outcome::NotDelivered);
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("upload"), "{shown}");
    assert!(!shown.contains("Genesys Cloud"), "{shown}");
    assert!(!shown.contains("0123456789abcdef"), "{shown}");
    message.assert();
}

#[test]
fn an_upload_url_that_is_not_https_is_refused_before_any_byte_is_sent() {
    let mut api = platform_server();
    api.mock("POST", uploads_path().as_str())
        .with_body(upload_answer(&format!(
            "http://uploads.example.com/bucket/key?{SIGNATURE}"
        )))
        .create();
    let message = api.mock("POST", message_path().as_str()).expect(0).create();
    let err = send_png(&api).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("refused to upload") && shown.contains("https"),
        "{shown}"
    );
    assert!(!shown.contains("0123456789abcdef"), "{shown}");
    assert_eq!(err.outcome(), Outcome::NotDelivered);
    message.assert();
}

#[test]
fn attachments_the_platform_would_refuse_send_nothing() {
    let mut api = mockito::Server::new();
    let any = api.mock("POST", Matcher::Any).expect(0).create();
    let injector = builder(&api, &FakeClock::new()).build().unwrap();
    let too_large = vec![0u8; MEDIA_MAX_BYTES as usize + 1];
    for (attachment, expected) in [
        (Attachment::new("receipt.pdf", PNG), "not allowed"),
        (Attachment::new("empty.png", Vec::new()), "empty"),
        (Attachment::new("big.png", too_large), "at most"),
        (Attachment::new("my parcel.png", PNG), "file name"),
    ] {
        let err = injector
            .inject(&InjectRequest::attachment(CONV, COMM, attachment))
            .unwrap_err();
        assert!(matches!(err, Error::Validation(_)), "{err:?}");
        assert!(err.to_string().contains(expected), "{err}");
    }
    // An attachment on the agentless route, a template on the communication one.
    assert!(matches!(
        injector.inject(&InjectRequest::attachment(
            "not-a-guid",
            COMM,
            Attachment::new("a.png", PNG)
        )),
        Err(Error::Validation(ValidationError::InvalidId { .. }))
    ));
    any.assert();
    // The organisation's content profile can allow more.
    let pdf = builder(&api, &FakeClock::new())
        .attachment_types(["jpg", "png", ".PDF"])
        .build()
        .unwrap();
    assert!(pdf
        .prepare(&InjectRequest::attachment(
            CONV,
            COMM,
            Attachment::new("receipt.pdf", PNG)
        ))
        .is_ok());
}

#[test]
fn a_429_on_each_step_is_waited_out_as_everywhere() {
    let mut api = platform_server();
    let mut storage = mockito::Server::new();
    let upload_url = format!("{}/bucket/key-3", storage.url());
    let limited_ask = api
        .mock("POST", uploads_path().as_str())
        .with_status(429)
        .with_header("retry-after", "1")
        .expect(1)
        .create();
    let ask = api
        .mock("POST", uploads_path().as_str())
        .with_body(upload_answer(&upload_url))
        .expect(1)
        .create();
    let limited_put = storage
        .mock("PUT", "/bucket/key-3")
        .with_status(429)
        .with_header("retry-after", "2")
        .expect(1)
        .create();
    let put = storage.mock("PUT", "/bucket/key-3").expect(1).create();
    media_valid(&mut api);
    let limited_message = api
        .mock("POST", message_path().as_str())
        .with_status(429)
        .with_header("retry-after", "3")
        .expect(1)
        .create();
    let message = api
        .mock("POST", message_path().as_str())
        .with_body(message_ok("m"))
        .expect(1)
        .create();
    let clock = FakeClock::new();
    let injector = builder(&api, &clock).build().unwrap();
    injector
        .inject(&InjectRequest::attachment(
            CONV,
            COMM,
            Attachment::new("parcel.png", PNG),
        ))
        .unwrap();
    let sleeps: Vec<u64> = clock.sleeps().iter().map(Duration::as_secs).collect();
    assert_eq!(sleeps, [1, 2, 3]);
    for mock in [limited_ask, ask, limited_put, put, limited_message, message] {
        mock.assert();
    }
}

#[test]
fn an_attachment_is_read_from_a_file_and_a_huge_file_is_not_read_whole() {
    let dir = Scratch::new();
    let path = dir.0.join("parcel.png");
    std::fs::write(&path, PNG).unwrap();
    let attachment = Attachment::from_path(&path).unwrap();
    assert_eq!(
        (attachment.file_name(), attachment.len()),
        ("parcel.png", PNG.len() as u64)
    );
    // A sparse file of 1 GiB: refused by its size, without reading it all.
    let huge = dir.0.join("huge.png");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let attachment = Attachment::from_path(&huge).unwrap();
    assert_eq!(attachment.len(), 1 << 30);
    let injector = genesys_inject::Injector::builder()
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .build()
        .unwrap();
    assert!(matches!(
        injector.prepare(&InjectRequest::attachment(CONV, COMM, attachment)),
        Err(Error::Validation(
            ValidationError::AttachmentTooLarge { .. }
        ))
    ));
}

// Issue 18: uploads under a hostile platform and a changing file.

#[test]
fn a_file_that_changes_while_it_is_read_is_refused() {
    // A file another thread keeps growing: read while it grows, it is
    // refused (what was opened is not what was read), never sent short.
    let dir = Scratch::new();
    let growing = dir.0.join("growing.png");
    std::fs::write(&growing, PNG).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, path) = (stop.clone(), growing.clone());
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                f.write_all(&[0u8; 64]).unwrap();
            }
        })
    };
    let refused = (0..100_000).find_map(|_| match Attachment::from_path(&growing) {
        Err(e) if e.to_string().contains("changed while it was read") => Some(e),
        _ => None,
    });
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.join().unwrap();
    let refused = refused.expect("a growing file was read whole 100,000 times");
    assert_eq!(refused.kind(), std::io::ErrorKind::InvalidData);
    // /proc files (Linux) say 0 bytes and read more; a directory is no
    // attachment either.
    #[cfg(target_os = "linux")]
    assert!(Attachment::from_path("/proc/self/status").is_err());
    let err = Attachment::from_path(std::env::temp_dir()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
    let dir = Scratch::new();
    let path = dir.0.join("parcel.png");
    std::fs::write(&path, PNG).unwrap();
    let attachment = Attachment::from_path(&path).unwrap();
    assert_eq!(attachment.len(), PNG.len() as u64);
}

/// A platform whose upload call answers `headers` and media states
/// `states` (the last repeated), and storage on the raw server.
fn hostile_upload(
    headers: serde_json::Value,
    states: &'static [&'static str],
) -> (ServerGuard, common::rawserver::RawServer) {
    let storage = common::rawserver::RawServer::start(|_| common::rawserver::Action::ok(""));
    let mut api = platform_server();
    api.mock("POST", uploads_path().as_str())
        .with_body(
            json!({"id": "media-1", "uploadUrl": format!("{}/bucket/k", storage.url()), "uploadHeaders": headers})
                .to_string(),
        )
        .create();
    for (i, state) in states.iter().enumerate() {
        let mock = api
            .mock("GET", media_path().as_str())
            .with_body(json!({"id": "media-1", "status": state}).to_string());
        if i + 1 < states.len() {
            mock.expect(1).create();
        } else {
            mock.create();
        }
    }
    (api, storage)
}

#[test]
fn upload_headers_never_frame_or_route_the_request() {
    let (mut api, storage) = hostile_upload(
        json!({"Transfer-Encoding": "chunked", "Content-Length": "1", "Host": "evil.example",
               "Connection": "close", "Content-Type": "image/png"}),
        &["valid"],
    );
    let message = api
        .mock("POST", message_path().as_str())
        .with_body(message_ok("m"))
        .expect(1)
        .create();
    send_png(&api).unwrap();
    message.assert();
    let put = &storage.received()[0];
    let header = |name: &str| {
        put.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    assert!(header("transfer-encoding").is_empty(), "{put:?}");
    assert_eq!(header("content-length"), [PNG.len().to_string()]);
    assert!(!header("host")[0].contains("evil"), "{put:?}");
    assert_eq!(header("content-type"), ["image/png"]);
    assert!(put.body.ends_with("PNG\r\n\u{1a}\nfake"), "{put:?}");
}

#[test]
fn an_unreachable_upload_host_is_named_and_the_message_is_not_sent() {
    let mut api = platform_server();
    // A port that refuses every connection while the test holds it.
    let closed = ClosedPort::new();
    let host = format!("http://127.0.0.1:{}", closed.port);
    api.mock("POST", uploads_path().as_str())
        .with_body(upload_answer(&format!("{host}/bucket/k")))
        .create();
    let message = api.mock("POST", message_path().as_str()).expect(0).create();
    let err = send_png(&api).unwrap_err();
    match &err {
        Error::Upload { host: named, .. } => assert_eq!(named, &host),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.outcome(), Outcome::NotDelivered);
    assert!(!err.to_string().contains("Genesys Cloud"), "{err}");
    message.assert();
}

#[test]
fn the_message_waits_until_the_media_is_valid() {
    let (mut api, _storage) = hostile_upload(json!({}), &["uploading", "uploading", "valid"]);
    let message = api
        .mock("POST", message_path().as_str())
        .match_body(Matcher::Exact(r#"{"mediaIds":["media-1"]}"#.into()))
        .with_body(message_ok("m"))
        .expect(1)
        .create();
    let clock = FakeClock::new();
    builder(&api, &clock)
        .build()
        .unwrap()
        .inject(&InjectRequest::attachment(
            CONV,
            COMM,
            Attachment::new("parcel.png", PNG),
        ))
        .unwrap();
    assert_eq!(clock.sleeps(), [Duration::from_secs(1); 2]);
    message.assert();
}

#[test]
fn invalid_or_never_ready_media_sends_no_message() {
    for (states, looks) in [(&["invalid"][..], 1), (&["uploading"][..], 11)] {
        let (mut api, _storage) = hostile_upload(json!({}), states);
        let message = api.mock("POST", message_path().as_str()).expect(0).create();
        let clock = FakeClock::new();
        let err = builder(&api, &clock)
            .build()
            .unwrap()
            .inject(&InjectRequest::attachment(
                CONV,
                COMM,
                Attachment::new("parcel.png", PNG),
            ))
            .unwrap_err();
        assert!(matches!(err, Error::Upload { .. }), "{err:?}");
        assert_eq!(err.outcome(), Outcome::NotDelivered);
        assert_eq!(clock.sleeps().len(), looks - 1, "{states:?}");
        message.assert();
    }
}
