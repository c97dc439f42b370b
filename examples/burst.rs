//! Injects `BURST_N` messages (default 5) and returns from `main` without
//! calling `flush`: dropping the injector must still deliver every webhook
//! event. Used by `tests/webhook.rs` as a child process; configure it with the
//! usual environment variables (`GENESYS_BASE_URL`, `WEBHOOK_URL`,
//! `GENESYS_STATE_DIR`, …) and `BURST_CONVERSATION_ID`,
//! `BURST_COMMUNICATION_ID`; `BURST_PREFIX` (default empty) starts every
//! text, so that each run's audit events differ in `messageSize`;
//! `BURST_UNPACED` turns pacing off.

use genesys_inject::{ContentBlock, InjectRequest, InjectorBuilder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::init();
    let n: usize = std::env::var("BURST_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let prefix = std::env::var("BURST_PREFIX").unwrap_or_default();
    let conversation = std::env::var("BURST_CONVERSATION_ID")?;
    let communication = std::env::var("BURST_COMMUNICATION_ID")?;
    // BURST_UNPACED: tests of tokens and outboxes, not of the budget.
    let builder = InjectorBuilder::from_env()?;
    let injector = if std::env::var_os("BURST_UNPACED").is_some() {
        builder.requests_per_minute(None)
    } else {
        builder
    }
    .build()?;
    for i in 0..n {
        let request = InjectRequest::new(
            &conversation,
            &communication,
            vec![ContentBlock::text(format!("{prefix}burst {i}"))],
        );
        injector.inject(&request)?;
    }
    Ok(())
}
