//! The [`Receipt`]: what the platform answered to a successful injection,
//! read from the message call's answer (or built from a lookup).

use serde::Deserialize;

use crate::request::Route;
use crate::InjectRequest;

/// What the platform answered to a successful injection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Receipt {
    /// The message id (`MessageData.id`); `None` when the platform accepted
    /// the message but its answer had no readable id (a warning is logged).
    pub message_id: Option<String>,
    /// Message POSTs made, 1 when no retry was needed.
    pub attempts: u32,
    /// The conversation the message went into: the platform's
    /// `conversationId`, or on the communication route the request's.
    pub conversation_id: Option<String>,
    /// The message status the platform reported (`queued`, `sent`, …).
    pub status: Option<String>,
    /// The `ININ-Correlation-Id` of the answer.
    pub correlation_id: Option<String>,
    /// True when the answer to the message call was lost (outcome unknown)
    /// and the message was then found in the conversation
    /// ([`Injector::resolve`](crate::Injector::resolve), or
    /// [`RetryPolicy::resolve_unknown`](crate::RetryPolicy::resolve_unknown));
    /// the other fields are then what the platform holds.
    pub resolved: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct MessageData {
    id: Option<String>,
    status: Option<String>,
    conversation_id: Option<String>,
    message: Option<Box<MessageData>>,
}

impl Receipt {
    /// A receipt for a message sent earlier (by another run, say), to look
    /// up with [`Injector::message_status`](crate::Injector::message_status)
    /// or [`Injector::wait_for_delivery`](crate::Injector::wait_for_delivery).
    /// Its `attempts` is 0; its status and correlation id are unknown.
    pub fn of(conversation_id: impl Into<String>, message_id: impl Into<String>) -> Receipt {
        Receipt {
            message_id: Some(message_id.into()),
            attempts: 0,
            conversation_id: Some(conversation_id.into()),
            status: None,
            correlation_id: None,
            resolved: false,
        }
    }

    /// Reads a `MessageData` (communication route) or a
    /// `SendAgentlessOutboundMessageResponse` (agentless route).
    pub(crate) fn from_answer(
        request: &InjectRequest,
        body: &[u8],
        attempts: u32,
        correlation_id: Option<String>,
    ) -> Receipt {
        let data: Option<MessageData> = serde_json::from_slice(body).ok();
        let (message_id, status, conversation_id) = match (&request.route, data) {
            (_, None) => (None, None, None),
            (Route::Communication { .. }, Some(d)) => (d.id, d.status, d.conversation_id),
            (Route::Agentless { .. }, Some(d)) => {
                let message = d.message.map(|m| *m).unwrap_or_default();
                (message.id, message.status, d.conversation_id)
            }
        };
        if message_id.is_none() {
            log::warn!(target: "genesys_inject", "message accepted, but the answer carried no message id");
        }
        let conversation_id = conversation_id.or_else(|| match &request.route {
            Route::Communication {
                conversation_id, ..
            } => Some(conversation_id.clone()),
            Route::Agentless { .. } => None,
        });
        Receipt {
            message_id,
            attempts,
            conversation_id,
            status,
            correlation_id,
            resolved: false,
        }
    }
}
