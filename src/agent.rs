//! The connected agent's communication of a conversation, as an
//! `impl Injector` block of its own: what
//! [`InjectRequest::to_conversation`](crate::InjectRequest::to_conversation)
//! sends as. Looked up once per conversation for the injector's life; the
//! same read marks where a look for a lost message would begin (`listing`'s
//! anchor).

use serde_json::Value;

use crate::injector::unreadable;
use crate::listing;
use crate::validate::is_guid;
use crate::{Error, Injector};

/// Named in [`Error::Forbidden`] when the conversation cannot be read.
pub(crate) const CONVERSATION_READ: &str =
    "permission to read the conversation (GET /api/v2/conversations/{conversationId})";

impl Injector {
    /// The communication of `conversation_id`'s connected agent: from the
    /// injector's memory, or from `GET /api/v2/conversations/{conversationId}`.
    pub(crate) fn agent_communication(
        &self,
        conversation_id: &str,
        deadline: Option<std::time::Instant>,
    ) -> Result<String, Error> {
        if let Some(known) = self.memory.known(conversation_id).agent {
            return Ok(known);
        }
        let url = format!(
            "{}/api/v2/conversations/{conversation_id}",
            self.settings.api_base
        );
        let answer = self
            .lookup_as(&url, CONVERSATION_READ, deadline)
            .map_err(Error::before_message)?;
        let conversation: Value = serde_json::from_slice(&answer.body)
            .ok()
            .filter(|c: &Value| c.get("participants").is_some_and(Value::is_array))
            .ok_or_else(|| unreadable(&answer, "a conversation with its participants"))?;
        let communication =
            connected_agent(&conversation).ok_or_else(|| Error::NoConnectedAgent {
                conversation_id: conversation_id.to_owned(),
            })?;
        // What the conversation shows before this send marks where a look
        // for it would begin.
        let anchor = listing::communications(&answer.body)
            .ok()
            .and_then(|c| listing::anchor(&c));
        self.memory
            .remember(conversation_id, Some(communication.clone()), anchor);
        Ok(communication)
    }
}

/// The first agent participant's message communication that is connected:
/// its state says `connected` (not `alerting`, `terminated`, ...), and its
/// participant is not gone (`disconnected`, `terminated`). A communication
/// whose state is not given is not known to be connected.
fn connected_agent(conversation: &Value) -> Option<String> {
    let state = |v: &Value| {
        v.get("state")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
    };
    let participant_here =
        |p: &Value| !matches!(state(p).as_deref(), Some("disconnected" | "terminated"));
    conversation
        .get("participants")?
        .as_array()?
        .iter()
        .filter(|p| {
            p.get("purpose")
                .and_then(Value::as_str)
                .is_some_and(|purpose| purpose.eq_ignore_ascii_case("agent"))
        })
        .filter(|p| participant_here(p))
        .flat_map(|p| {
            p.get("messages")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter(|c| state(c).as_deref() == Some("connected"))
        .filter_map(|c| c.get("id").and_then(Value::as_str))
        .find(|id| is_guid(id))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connected_agents_message_communication_is_chosen() {
        let conversation = serde_json::json!({"participants": [
            {"purpose": "customer", "messages": [{"id": "11111111-1111-4111-8111-111111111111"}]},
            {"purpose": "agent", "state": "disconnected",
             "messages": [{"id": "22222222-2222-4222-8222-222222222222"}]},
            {"purpose": "agent", "state": "terminated",
             "messages": [{"id": "55555555-5555-4555-8555-555555555555", "state": "connected"}]},
            {"purpose": "Agent", "messages": [
                {"id": "33333333-3333-4333-8333-333333333333", "state": "disconnected"},
                {"id": "66666666-6666-4666-8666-666666666666", "state": "alerting"},
                {"id": "77777777-7777-4777-8777-777777777777", "state": "terminated"},
                {"id": "88888888-8888-4888-8888-888888888888"},
                {"id": "../../users/me", "state": "connected"},
                {"id": "44444444-4444-4444-8444-444444444444", "state": "connected"}]},
        ]});
        assert_eq!(
            connected_agent(&conversation).as_deref(),
            Some("44444444-4444-4444-8444-444444444444")
        );
        let only_customer = serde_json::json!({"participants": [
            {"purpose": "customer", "messages": [{"id": "11111111-1111-4111-8111-111111111111"}]}]});
        assert_eq!(connected_agent(&only_customer), None);
    }
}
