//! What to send and where: [`InjectRequest`], its two routes, the request
//! bodies, and the [`PreparedMessage`] that validation builds. Makes no
//! HTTP call.

use std::time::Duration;

use serde::Serialize;

use crate::content::{TemplateBody, DEFAULT_ATTACHMENT_TYPES};
use crate::validate::{check_guid, is_guid, validate};
use crate::{
    AgentlessTarget, Attachment, ContentBlock, MessagingTemplate, MessengerType, SafetyPolicy,
    ValidationError,
};

/// The longest delivery delay [`InjectRequest::delay`] accepts: 10 minutes.
/// A bot message is for a live conversation; anything later is scheduling,
/// which belongs to the caller (cron), not to a blocked thread.
pub const MAX_DELAY: Duration = Duration::from_secs(600);

/// The `interactionId` of an audit record whose request named no id that
/// passed validation.
pub const INVALID_INTERACTION_ID: &str = "invalid";

/// One message to inject: where it goes, what it carries, and an optional
/// delivery delay.
///
/// Two routes exist (see docs/library.md, "Which route?"):
/// [`InjectRequest::new`] sends text as a participant of the conversation
/// (its communication), with a typing indicator first, and
/// [`InjectRequest::attachment`] a file the same way;
/// [`InjectRequest::agentless`] sends text as an API participant that is not
/// in the conversation, and [`InjectRequest::template`] a messaging template
/// (what WhatsApp needs). The platform takes one of text, media or a
/// template per message.
#[derive(Debug, Clone)]
pub struct InjectRequest {
    pub(crate) route: Route,
    pub(crate) content: Content,
    pub(crate) delay: Duration,
}

/// What a message carries: one body field, as the platform takes it.
#[derive(Debug, Clone)]
pub(crate) enum Content {
    Text(Vec<ContentBlock>),
    Template(MessagingTemplate),
    Attachment(Attachment),
}

#[derive(Debug, Clone)]
pub(crate) enum Route {
    Communication {
        conversation_id: String,
        /// `None`: the connected agent's, looked up when sent
        /// ([`InjectRequest::to_conversation`]).
        communication_id: Option<String>,
    },
    Agentless {
        target: AgentlessTarget,
        use_existing: bool,
    },
}

impl InjectRequest {
    /// A message sent as the participant whose communication is
    /// `communication_id` (in practice the connected agent) into the messaging
    /// conversation `conversation_id`. Both ids must be GUIDs.
    ///
    /// ```
    /// use genesys_inject::{ContentBlock, InjectRequest};
    /// let conversation = String::from("ec35f2a8-289b-42d4-8893-c50eaf81a3c1");
    /// let request = InjectRequest::new(&conversation, "0b2d9a4e-6f1c-4c7e-9a55-1d3f8e2b7c90",
    ///     vec![ContentBlock::text("Hello "), ContentBlock::text("there")]);
    /// ```
    pub fn new(
        conversation_id: impl Into<String>,
        communication_id: impl Into<String>,
        blocks: impl Into<Vec<ContentBlock>>,
    ) -> Self {
        InjectRequest {
            route: Route::Communication {
                conversation_id: conversation_id.into(),
                communication_id: Some(communication_id.into()),
            },
            content: Content::Text(blocks.into()),
            delay: Duration::ZERO,
        }
    }

    /// One text, sent as the communication `communication_id` into the
    /// conversation `conversation_id`: [`new`](Self::new) with one
    /// [`ContentBlock::text`].
    ///
    /// ```
    /// use genesys_inject::InjectRequest;
    /// let request = InjectRequest::text(
    ///     "ec35f2a8-289b-42d4-8893-c50eaf81a3c1",
    ///     "0b2d9a4e-6f1c-4c7e-9a55-1d3f8e2b7c90",
    ///     "Your parcel is on its way",
    /// );
    /// assert_eq!(request.blocks()[0].as_str(), "Your parcel is on its way");
    /// ```
    pub fn text(
        conversation_id: impl Into<String>,
        communication_id: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        Self::new(
            conversation_id,
            communication_id,
            vec![ContentBlock::text(text)],
        )
    }

    /// A text message sent as the conversation's connected agent, whose
    /// communication the injector looks up when it sends
    /// (`GET /api/v2/conversations/{conversationId}`: the participant whose
    /// `purpose` is `agent`, its message communication that is not
    /// disconnected), once per conversation for the injector's life.
    /// `conversation_id` must be a GUID. Without a connected agent,
    /// [`inject`](crate::Injector::inject) returns
    /// [`Error::NoConnectedAgent`](crate::Error::NoConnectedAgent) (not
    /// retried): the agentless route ([`InjectRequest::agentless`]) sends
    /// without one. [`prepare`](Self::prepare) shows the path with
    /// `{communicationId}` in place of the id.
    ///
    /// ```
    /// use genesys_inject::{ContentBlock, InjectRequest};
    /// let request = InjectRequest::to_conversation(
    ///     "ec35f2a8-289b-42d4-8893-c50eaf81a3c1",
    ///     vec![ContentBlock::text("The office closes at six")],
    /// );
    /// ```
    pub fn to_conversation(
        conversation_id: impl Into<String>,
        blocks: impl Into<Vec<ContentBlock>>,
    ) -> Self {
        InjectRequest {
            route: Route::Communication {
                conversation_id: conversation_id.into(),
                communication_id: None,
            },
            ..InjectRequest::new("", "", blocks)
        }
    }

    /// This request, sent as `communication_id`.
    pub(crate) fn sent_as(&self, communication_id: String) -> InjectRequest {
        let mut bound = self.clone();
        if let Route::Communication {
            communication_id: id,
            ..
        } = &mut bound.route
        {
            *id = Some(communication_id);
        }
        bound
    }

    /// A file sent as the participant whose communication is
    /// `communication_id` into the conversation `conversation_id`, as
    /// [`new`](Self::new) sends text: the file is uploaded first (the
    /// platform's upload call, then its bytes to the URL that call answers),
    /// then the message carries its media id. A file the platform would
    /// refuse (over [`MEDIA_MAX_BYTES`](crate::MEDIA_MAX_BYTES), or of a
    /// type not in [`InjectorBuilder::attachment_types`](crate::InjectorBuilder::attachment_types))
    /// is refused by validation, before any upload.
    pub fn attachment(
        conversation_id: impl Into<String>,
        communication_id: impl Into<String>,
        attachment: Attachment,
    ) -> Self {
        InjectRequest {
            route: Route::Communication {
                conversation_id: conversation_id.into(),
                communication_id: Some(communication_id.into()),
            },
            content: Content::Attachment(attachment),
            delay: Duration::ZERO,
        }
    }

    /// A message sent through the agentless route to `target`: by default it
    /// joins the customer's active conversation with that sender
    /// ([`use_existing_conversation`](Self::use_existing_conversation)).
    pub fn agentless(target: AgentlessTarget, blocks: impl Into<Vec<ContentBlock>>) -> Self {
        InjectRequest {
            route: Route::Agentless {
                target,
                use_existing: true,
            },
            content: Content::Text(blocks.into()),
            delay: Duration::ZERO,
        }
    }

    /// A messaging template sent through the agentless route to `target`:
    /// what WhatsApp takes instead of free text (the platform documents
    /// templates for WhatsApp only, so validation refuses other channels).
    /// The audit record's `messageSize` is the UTF-16 length of the
    /// parameter values: the template's own text lives in Response
    /// Management and is not known here.
    pub fn template(target: AgentlessTarget, template: MessagingTemplate) -> Self {
        InjectRequest {
            route: Route::Agentless {
                target,
                use_existing: true,
            },
            content: Content::Template(template),
            delay: Duration::ZERO,
        }
    }

    /// Waits this long (after validation, before the typing indicator and the
    /// message). At most [`MAX_DELAY`] (10 minutes): a longer delay is refused
    /// by validation with [`ValidationError::DelayTooLong`]. Default: no delay.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Agentless route only: `true` (the default) sends into the active
    /// conversation between sender and recipient if there is one; `false`
    /// always starts a new conversation. Ignored on the communication route.
    pub fn use_existing_conversation(mut self, yes: bool) -> Self {
        if let Route::Agentless { use_existing, .. } = &mut self.route {
            *use_existing = yes;
        }
        self
    }

    /// The content blocks (none for an attachment or a template).
    pub fn blocks(&self) -> &[ContentBlock] {
        match &self.content {
            Content::Text(blocks) => blocks,
            _ => &[],
        }
    }

    /// Whether this request uses the agentless route.
    pub fn is_agentless(&self) -> bool {
        matches!(self.route, Route::Agentless { .. })
    }

    /// Validates the request and builds the exact HTTP request that would be
    /// sent, without any network traffic (for dry runs and tests).
    /// `max_text_chars` and `policy` are the injector's settings; the
    /// agentless route also applies its channel's limit; an attachment is
    /// held to [`DEFAULT_ATTACHMENT_TYPES`](crate::DEFAULT_ATTACHMENT_TYPES)
    /// ([`Injector::prepare`](crate::Injector::prepare) uses the injector's).
    ///
    /// # Errors
    /// The first [`ValidationError`] found.
    pub fn prepare(
        &self,
        max_text_chars: usize,
        policy: &SafetyPolicy,
    ) -> Result<PreparedMessage, ValidationError> {
        let types: Vec<String> = DEFAULT_ATTACHMENT_TYPES
            .iter()
            .map(|t| t.to_string())
            .collect();
        self.prepare_with(max_text_chars, policy, &types)
    }

    pub(crate) fn prepare_with(
        &self,
        max_text_chars: usize,
        policy: &SafetyPolicy,
        attachment_types: &[String],
    ) -> Result<PreparedMessage, ValidationError> {
        if self.delay > MAX_DELAY {
            return Err(ValidationError::DelayTooLong {
                delay_ms: u64::try_from(self.delay.as_millis()).unwrap_or(u64::MAX),
                max_ms: MAX_DELAY.as_millis() as u64,
            });
        }
        match &self.route {
            Route::Communication {
                conversation_id,
                communication_id,
            } => {
                check_guid(conversation_id, "conversation_id")?;
                if let Some(id) = communication_id {
                    check_guid(id, "communication_id")?;
                }
                let base = [
                    "/api/v2/conversations/messages/",
                    conversation_id,
                    "/communications/",
                    communication_id.as_deref().unwrap_or("{communicationId}"),
                ]
                .concat();
                let (body, message_size, upload) = match &self.content {
                    Content::Text(blocks) => {
                        let text = validate(blocks, max_text_chars, policy)?;
                        let body = serde_json::to_vec(&TextBody {
                            text_body: text.as_str(),
                        })
                        .expect("serializable");
                        (body, text.utf16_len(), None)
                    }
                    Content::Attachment(attachment) => {
                        attachment.check(attachment_types)?;
                        let upload = UploadBody {
                            file_name: &attachment.file_name,
                            content_length_bytes: attachment.bytes.len() as u64,
                        };
                        let upload = PreparedUpload {
                            path: [&base, "/messages/media/uploads"].concat(),
                            body: serde_json::to_vec(&upload).expect("serializable"),
                        };
                        (MEDIA_BODY_SHOWN.as_bytes().to_vec(), 0, Some(upload))
                    }
                    Content::Template(_) => {
                        return Err(ValidationError::Unsupported(
                            "a messaging template is sent on the agentless route (InjectRequest::template)",
                        ))
                    }
                };
                Ok(PreparedMessage {
                    path: [&base, "/messages"].concat(),
                    typing_path: Some(base + "/typing"),
                    body,
                    message_size,
                    upload,
                })
            }
            Route::Agentless {
                target,
                use_existing,
            } => {
                target.check()?;
                let whatsapp = target.messenger == MessengerType::WhatsApp;
                let (text, template, message_size) = match &self.content {
                    Content::Text(_) if whatsapp => {
                        return Err(ValidationError::Unsupported(
                            "WhatsApp takes a messaging template, not free text (InjectRequest::template)",
                        ))
                    }
                    Content::Text(blocks) => {
                        let limit = max_text_chars.min(target.messenger.max_text_chars());
                        let text = validate(blocks, limit, policy)?;
                        let len = text.utf16_len();
                        (Some(text.into_string()), None, len)
                    }
                    Content::Template(_) if !whatsapp => {
                        return Err(ValidationError::Unsupported(
                            "the platform takes a messaging template on WhatsApp only",
                        ))
                    }
                    Content::Template(template) => {
                        let (values, len) = template.check()?;
                        policy.check(&values)?;
                        (None, Some(template.body()), len)
                    }
                    Content::Attachment(_) => {
                        return Err(ValidationError::Unsupported(
                            "attachments are sent on the communication route (InjectRequest::attachment)",
                        ))
                    }
                };
                let body = AgentlessBody {
                    from_address: &target.from_address,
                    to_address_messenger_type: target.messenger.as_str(),
                    to_address: target.to_address.as_deref(),
                    external_contact_id: target.external_contact_id.as_deref(),
                    text_body: text.as_deref(),
                    messaging_template: template,
                    use_existing_active_conversation: *use_existing,
                };
                Ok(PreparedMessage {
                    path: "/api/v2/conversations/messages/agentless".to_owned(),
                    typing_path: None,
                    body: serde_json::to_vec(&body).expect("serializable"),
                    message_size,
                    upload: None,
                })
            }
        }
    }

    /// The `interactionId` of an audit record when the platform gave no
    /// conversation id. Only a value that passes validation goes into the
    /// record: the conversation id (a GUID), else the external contact id (a
    /// GUID), else the recipient address, valid for its channel, with all but
    /// its last four characters masked; else [`INVALID_INTERACTION_ID`]. Raw
    /// input that failed validation (a phone number typed where a GUID was
    /// wanted) never reaches the log or the webhook.
    pub(crate) fn audit_id(&self) -> String {
        match &self.route {
            Route::Communication {
                conversation_id, ..
            } if is_guid(conversation_id) => conversation_id.clone(),
            Route::Communication { .. } => INVALID_INTERACTION_ID.to_owned(),
            Route::Agentless { target, .. } => target.audit_id(),
        }
    }
}

#[derive(Serialize)]
struct TextBody<'a> {
    #[serde(rename = "textBody")]
    text_body: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AgentlessBody<'a> {
    from_address: &'a str,
    to_address_messenger_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_contact_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text_body: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    messaging_template: Option<TemplateBody<'a>>,
    use_existing_active_conversation: bool,
}

/// The upload call's body (`UploadMediaRequest`). `contentMd5` is optional
/// and left out.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UploadBody<'a> {
    file_name: &'a str,
    content_length_bytes: u64,
}

/// How [`PreparedMessage::body`] shows an attachment's message body: the
/// media id comes from the upload call's answer.
const MEDIA_BODY_SHOWN: &str = r#"{"mediaIds":["{mediaId}"]}"#;

/// The upload call that comes before an attachment's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PreparedUpload {
    pub path: String,
    pub body: Vec<u8>,
}

/// A validated request, ready to send: its path and exact JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedMessage {
    pub(crate) path: String,
    pub(crate) typing_path: Option<String>,
    pub(crate) body: Vec<u8>,
    pub(crate) message_size: usize,
    pub(crate) upload: Option<PreparedUpload>,
}

impl PreparedMessage {
    /// The path the message is POSTed to, below the API base URL.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path of the typing indicator, on the communication route.
    pub fn typing_path(&self) -> Option<&str> {
        self.typing_path.as_deref()
    }

    /// The exact JSON body (compact, as the official SDKs send it). For an
    /// attachment it is `{"mediaIds":["{mediaId}"]}`: the media id is the
    /// upload call's answer.
    pub fn body(&self) -> &str {
        std::str::from_utf8(&self.body).expect("serde_json writes UTF-8")
    }

    /// For an attachment, the upload call that comes first: its path below
    /// the API base URL and its exact JSON body (`fileName`,
    /// `contentLengthBytes`). `None` otherwise.
    pub fn upload(&self) -> Option<(&str, &str)> {
        self.upload.as_ref().map(|u| {
            (
                u.path.as_str(),
                std::str::from_utf8(&u.body).expect("serde_json writes UTF-8"),
            )
        })
    }

    /// Length of the joined text in UTF-16 code units (the audit record's
    /// `messageSize`); for a template, of its parameter values; 0 for an
    /// attachment.
    pub fn message_size(&self) -> usize {
        self.message_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AgentlessTarget;

    const G1: &str = "ec35f2a8-289b-42d4-8893-c50eaf81a3c1";
    const G2: &str = "0b2d9a4e-6f1c-4c7e-9a55-1d3f8e2b7c90";

    #[test]
    fn prepared_bodies() {
        let p = SafetyPolicy::default();
        let r = InjectRequest::new(G1, G2, vec!["Hi ".into(), "there".into()]);
        let prepared = r.prepare(2000, &p).unwrap();
        assert_eq!(prepared.body(), r#"{"textBody":"Hi there"}"#);
        assert!(prepared
            .path()
            .ends_with(&format!("{G1}/communications/{G2}/messages")));
        let r = InjectRequest::agentless(AgentlessTarget::web_messaging(G1, G2), vec!["x".into()])
            .use_existing_conversation(false);
        assert_eq!(
            r.prepare(2000, &p).unwrap().body(),
            format!(
                r#"{{"fromAddress":"{G1}","toAddressMessengerType":"webmessaging","externalContactId":"{G2}","textBody":"x","useExistingActiveConversation":false}}"#
            )
        );
    }
}
