//! Quickstart: `cargo run --example quickstart`.
//!
//! Without `GENESYS_CLIENT_ID` it starts a mock of Genesys Cloud on 127.0.0.1
//! (token, typing, message and webhook routes), injects a two-block message
//! through the real `Injector`, and tells what happened at each step.
//!
//! With `GENESYS_REGION`, `GENESYS_CLIENT_ID`, `GENESYS_CLIENT_SECRET`,
//! `GENESYS_CONVERSATION_ID` and `GENESYS_COMMUNICATION_ID` set, it sends the
//! same message to your real organisation instead (and says so first).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use genesys_inject::{ContentBlock, InjectRequest, Injector};

const CONVERSATION: &str = "ec35f2a8-289b-42d4-8893-c50eaf81a3c1";
const COMMUNICATION: &str = "0b2d9a4e-6f1c-4c7e-9a55-1d3f8e2b7c90";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("genesys_inject=debug"),
    )
    .target(env_logger::Target::Stdout)
    .format(|buf, record| writeln!(buf, "      log [{}] {}", record.target(), record.args()))
    .init();
    let blocks = vec![
        ContentBlock::text("Hello from "),
        ContentBlock::text("genesys-inject!"),
    ];

    if std::env::var("GENESYS_CLIENT_ID").is_ok_and(|v| !v.is_empty()) {
        return real_organisation(blocks);
    }

    let mut server = mockito::Server::new();
    let base = server.url();
    println!("No GENESYS_CLIENT_ID is set, so this runs against a mock Genesys Cloud");
    println!("that this program started on {base}. Nothing leaves this machine.\n");

    let token = server
        .mock("POST", "/oauth/token")
        .expect(1)
        .with_header("content-type", "application/json")
        .with_body(r#"{"access_token":"mock-token","token_type":"bearer","expires_in":86399}"#)
        .create();
    let comm =
        format!("/api/v2/conversations/messages/{CONVERSATION}/communications/{COMMUNICATION}");
    let typing = server
        .mock("POST", format!("{comm}/typing").as_str())
        .with_status(204)
        .expect(1)
        .create();
    let answer = format!(
        r#"{{"id":"9f3c6a52-51f1-4d6e-a2b3-6c1d2e3f4a5b","status":"queued","conversationId":"{CONVERSATION}","direction":"outbound","messengerType":"webmessaging","textBody":"Hello from genesys-inject!","timestamp":"2026-11-26T12:00:00.000Z"}}"#
    );
    let message = server
        .mock("POST", format!("{comm}/messages").as_str())
        .with_header("content-type", "application/json")
        .with_header("ININ-Correlation-Id", "quickstart-correlation-id")
        .with_body(&answer)
        .expect(1)
        .create();
    let webhook_bodies = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = webhook_bodies.clone();
    let webhook = server
        .mock("POST", "/audit-webhook")
        .with_body_from_request(move |req| {
            seen.lock().unwrap().push(
                req.body()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default(),
            );
            Vec::new()
        })
        .create();

    let injector = Injector::builder()
        .base_url(&base)
        .credentials("quickstart-client", "quickstart-secret")
        .webhook_url(format!("{base}/audit-webhook"))
        .build()?;
    let request = InjectRequest::new(CONVERSATION, COMMUNICATION, blocks);
    let prepared = injector.prepare(&request)?;
    println!("Injecting the blocks [\"Hello from \", \"genesys-inject!\"] into conversation {CONVERSATION}:");
    let receipt = injector.inject(&request)?;
    let delivered = injector.flush(Duration::from_secs(5));

    println!("\nWhat happened, step by step:");
    println!("  1. Validated: 2 blocks joined into {} UTF-16 units (limit 2000), no safety rule matched.", prepared.message_size());
    println!("  2. Token:   POST /oauth/token (HTTP Basic client credentials) -> 200; cached for 24 h.{}", called(&token));
    println!(
        "  3. Typing:  POST {}/typing {{\"typing\":{{\"type\":\"On\"}}}} -> 204.{}",
        short(&comm),
        called(&typing)
    );
    println!(
        "  4. Message: POST {}/messages {}",
        short(&comm),
        prepared.body()
    );
    println!("              -> 200 {answer}{}", called(&message));
    let bodies = webhook_bodies.lock().unwrap();
    let event: serde_json::Value =
        serde_json::from_str(bodies.first().map(String::as_str).unwrap_or("{}"))?;
    println!("  5. Audit record (logged at info, target genesys_inject::audit):");
    println!(
        "              {}",
        event["auditEntry"].as_str().unwrap_or("(none)")
    );
    println!(
        "  6. Webhook: {} POST /audit-webhook in the background: {}",
        if delivered && webhook.matched() {
            "delivered"
        } else {
            "NOT delivered"
        },
        bodies.first().map(String::as_str).unwrap_or("(nothing)")
    );
    println!("\nReceipt: {receipt:#?}");
    println!("\nNext: set GENESYS_REGION, GENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET, GENESYS_CONVERSATION_ID");
    println!("and GENESYS_COMMUNICATION_ID to send this message to your own organisation.");
    if !delivered || receipt.message_id.is_none() {
        return Err("the quickstart did not complete".into());
    }
    Ok(())
}

fn called(mock: &mockito::Mock) -> &'static str {
    if mock.matched() {
        ""
    } else {
        " (the mock platform did NOT see this call)"
    }
}

fn short(path: &str) -> String {
    path.replace(CONVERSATION, "{conversationId}")
        .replace(COMMUNICATION, "{communicationId}")
}

/// Whether `url` names this machine (a mock platform, not an organisation).
fn is_local(url: &str) -> bool {
    let host = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or_default();
    host == "localhost" || host.starts_with("127.") || url.contains("://[::1]")
}

fn real_organisation(blocks: Vec<ContentBlock>) -> Result<(), Box<dyn std::error::Error>> {
    let region =
        std::env::var("GENESYS_REGION").unwrap_or_else(|_| genesys_inject::DEFAULT_REGION.into());
    let need = |name: &str| {
        std::env::var(name)
            .map_err(|_| format!("{name} must be set to send to a real organisation"))
    };
    let conversation = need("GENESYS_CONVERSATION_ID")?;
    let communication = need("GENESYS_COMMUNICATION_ID")?;
    // GENESYS_BASE_URL sends everything to one base URL instead: a gateway,
    // or a mock platform on this machine.
    match std::env::var("GENESYS_BASE_URL") {
        Ok(base) if is_local(&base) => {
            println!("GENESYS_CLIENT_ID is set and GENESYS_BASE_URL is {base}: sending to the platform at")
        }
        Ok(base) => println!("GENESYS_CLIENT_ID is set: sending through GENESYS_BASE_URL {base},"),
        Err(_) => println!(
            "GENESYS_CLIENT_ID is set: sending to your REAL Genesys Cloud organisation (region {region}),"
        ),
    }
    println!("conversation {conversation}.\n");
    let injector = Injector::from_env()?;
    let receipt = injector.inject(&InjectRequest::new(conversation, communication, blocks))?;
    println!("\nSent. Receipt: {receipt:#?}");
    Ok(())
}
