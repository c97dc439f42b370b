//! What to send and where: [`InjectRequest`], its two routes, and the
//! [`Receipt`] that comes back.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::content::{TemplateBody, DEFAULT_ATTACHMENT_TYPES};
use crate::validate::{
    check_e164, check_guid, is_e164, is_guid, validate, MESSAGING_MAX_TEXT_CHARS,
    SMS_MAX_TEXT_CHARS,
};
use crate::{Attachment, ContentBlock, MessagingTemplate, SafetyPolicy, ValidationError};

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
/// Two routes exist (see the README's "Which route?"):
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
        communication_id: String,
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
                communication_id: communication_id.into(),
            },
            content: Content::Text(blocks.into()),
            delay: Duration::ZERO,
        }
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
                communication_id: communication_id.into(),
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
                check_guid(communication_id, "communication_id")?;
                let base = [
                    "/api/v2/conversations/messages/",
                    conversation_id,
                    "/communications/",
                    communication_id,
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

/// The channel of an agentless message (`toAddressMessengerType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessengerType {
    /// SMS: from a provisioned number to an E.164 number; 765 UTF-16 units.
    Sms,
    /// WhatsApp: takes a messaging template ([`InjectRequest::template`]).
    WhatsApp,
    /// Open messaging: from an integration to that integration's address.
    Open,
    /// Web messaging: from a deployment to an external contact.
    WebMessaging,
    /// Apple Messages for Business: from an integration to an address.
    Apple,
}

impl MessengerType {
    /// The platform's name (`sms`, `whatsapp`, `open`, `webmessaging`, `apple`).
    pub fn as_str(self) -> &'static str {
        match self {
            MessengerType::Sms => "sms",
            MessengerType::WhatsApp => "whatsapp",
            MessengerType::Open => "open",
            MessengerType::WebMessaging => "webmessaging",
            MessengerType::Apple => "apple",
        }
    }

    /// The text limit of this channel in UTF-16 code units: 765 for SMS,
    /// 2000 otherwise.
    pub fn max_text_chars(self) -> usize {
        match self {
            MessengerType::Sms => SMS_MAX_TEXT_CHARS,
            _ => MESSAGING_MAX_TEXT_CHARS,
        }
    }
}

/// The sender and recipient of an agentless message.
///
/// Its `Debug` masks the recipient address, which may be a phone number.
#[derive(Clone, PartialEq, Eq)]
pub struct AgentlessTarget {
    messenger: MessengerType,
    from_address: String,
    to_address: Option<String>,
    external_contact_id: Option<String>,
}

impl AgentlessTarget {
    /// Web messaging: from a Messenger deployment (GUID) to an external
    /// contact (GUID).
    pub fn web_messaging(
        deployment_id: impl Into<String>,
        external_contact_id: impl Into<String>,
    ) -> Self {
        AgentlessTarget {
            messenger: MessengerType::WebMessaging,
            from_address: deployment_id.into(),
            to_address: None,
            external_contact_id: Some(external_contact_id.into()),
        }
    }

    /// SMS: from a provisioned number to a customer's number, both E.164
    /// (`+13175555555`).
    pub fn sms(from_number: impl Into<String>, to_number: impl Into<String>) -> Self {
        Self::addressed(MessengerType::Sms, from_number.into(), to_number.into())
    }

    /// Open messaging: from an integration (GUID) to an address of that
    /// integration.
    pub fn open(integration_id: impl Into<String>, to_address: impl Into<String>) -> Self {
        Self::addressed(
            MessengerType::Open,
            integration_id.into(),
            to_address.into(),
        )
    }

    /// Apple Messages for Business: from an integration (GUID) to an E.164
    /// number.
    pub fn apple(integration_id: impl Into<String>, to_address: impl Into<String>) -> Self {
        Self::addressed(
            MessengerType::Apple,
            integration_id.into(),
            to_address.into(),
        )
    }

    /// WhatsApp: from an integration (GUID) to a WhatsApp id, the
    /// customer's E.164 number without `+` (`13175555555`). WhatsApp takes a
    /// messaging template, not free text: send it with
    /// [`InjectRequest::template`]; a text request to it is refused by
    /// validation.
    pub fn whatsapp(integration_id: impl Into<String>, to_address: impl Into<String>) -> Self {
        Self::addressed(
            MessengerType::WhatsApp,
            integration_id.into(),
            to_address.into(),
        )
    }

    fn addressed(messenger: MessengerType, from: String, to: String) -> Self {
        AgentlessTarget {
            messenger,
            from_address: from,
            to_address: Some(to),
            external_contact_id: None,
        }
    }

    /// Also names the external contact, a GUID (SMS and Open accept it beside
    /// the address; on any other channel validation refuses it). Default:
    /// none.
    pub fn external_contact_id(mut self, id: impl Into<String>) -> Self {
        self.external_contact_id = Some(id.into());
        self
    }

    /// The channel.
    pub fn messenger(&self) -> MessengerType {
        self.messenger
    }

    fn check(&self) -> Result<(), ValidationError> {
        use MessengerType as M;
        let to = self.to_address.as_deref();
        match self.messenger {
            M::WhatsApp => {
                check_guid(&self.from_address, "integration_id")?;
                if !is_whatsapp_id(to.unwrap_or_default()) {
                    return Err(ValidationError::InvalidWhatsAppId {
                        field: "to_address",
                    });
                }
                if self.external_contact_id.is_some() {
                    return Err(ValidationError::Unsupported(
                        "WhatsApp takes a to address, not an external contact id",
                    ));
                }
            }
            M::WebMessaging => {
                check_guid(&self.from_address, "deployment_id")?;
                if to.is_some() {
                    return Err(ValidationError::Unsupported(
                        "web messaging takes an external contact id, not a to address",
                    ));
                }
                match &self.external_contact_id {
                    Some(id) => check_guid(id, "external_contact_id")?,
                    None => {
                        return Err(ValidationError::InvalidId {
                            field: "external_contact_id",
                        })
                    }
                }
            }
            M::Sms => {
                check_e164(&self.from_address, "from_address")?;
                check_e164(to.unwrap_or_default(), "to_address")?;
            }
            M::Apple => {
                check_guid(&self.from_address, "integration_id")?;
                check_e164(to.unwrap_or_default(), "to_address")?;
                if self.external_contact_id.is_some() {
                    return Err(ValidationError::Unsupported(
                        "Apple Messages for Business takes a to address, not an external contact id",
                    ));
                }
            }
            M::Open => {
                check_guid(&self.from_address, "integration_id")?;
                if !is_open_address(to.unwrap_or_default()) {
                    return Err(ValidationError::InvalidAddress {
                        field: "to_address",
                    });
                }
            }
        }
        if let (Some(id), M::Sms | M::Open) = (&self.external_contact_id, self.messenger) {
            check_guid(id, "external_contact_id")?;
        }
        Ok(())
    }

    /// See [`InjectRequest::audit_id`]: each value is checked as validation
    /// checks it, whatever else in the request failed.
    fn audit_id(&self) -> String {
        use MessengerType as M;
        if let Some(contact) = self.external_contact_id.as_deref().filter(|c| is_guid(c)) {
            return contact.to_owned();
        }
        let to = self.to_address.as_deref().unwrap_or_default();
        let valid = match self.messenger {
            M::Sms | M::Apple => is_e164(to),
            M::Open => is_open_address(to),
            M::WhatsApp => is_whatsapp_id(to),
            M::WebMessaging => false,
        };
        if valid {
            mask(to)
        } else {
            INVALID_INTERACTION_ID.to_owned()
        }
    }
}

/// A WhatsApp id: an E.164 number's digits without `+` (13175555555).
fn is_whatsapp_id(to: &str) -> bool {
    (7..=15).contains(&to.len()) && !to.starts_with('0') && to.bytes().all(|b| b.is_ascii_digit())
}

/// An open messaging address: not blank, no control characters, at most 256
/// bytes.
fn is_open_address(to: &str) -> bool {
    !to.trim().is_empty() && !to.chars().any(char::is_control) && to.len() <= 256
}

impl fmt::Debug for AgentlessTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentlessTarget")
            .field("messenger", &self.messenger)
            .field("from_address", &self.from_address)
            .field("to_address", &self.to_address.as_deref().map(mask))
            .field("external_contact_id", &self.external_contact_id)
            .finish()
    }
}

/// `+13175555555` → `+*******5555`: all but the last four characters (and a
/// leading `+`) replaced with `*`.
pub(crate) fn mask(address: &str) -> String {
    let n = address.chars().count();
    address
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i + 4 >= n || (i == 0 && c == '+') {
                c
            } else {
                '*'
            }
        })
        .collect()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    const G1: &str = "ec35f2a8-289b-42d4-8893-c50eaf81a3c1";
    const G2: &str = "0b2d9a4e-6f1c-4c7e-9a55-1d3f8e2b7c90";

    #[test]
    fn masking() {
        assert_eq!(mask("+13175555555"), "+*******5555");
        assert_eq!(mask("123"), "123");
        assert_eq!(mask("user@example.com"), "************.com");
        let shown = format!("{:?}", AgentlessTarget::sms("+18005550000", "+13175551234"));
        assert!(
            !shown.contains("+13175551234") && shown.contains("1234"),
            "{shown}"
        );
    }

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

    #[test]
    fn agentless_checks() {
        let p = SafetyPolicy::empty();
        let send = |t: AgentlessTarget, text: &str| {
            InjectRequest::agentless(t, vec![text.into()])
                .prepare(2000, &p)
                .map(|_| ())
        };
        assert!(send(AgentlessTarget::sms("+18005550000", "+13175551234"), "x").is_ok());
        assert_eq!(
            send(AgentlessTarget::sms("+18005550000", "3175551234"), "x"),
            Err(ValidationError::InvalidPhoneNumber {
                field: "to_address"
            })
        );
        assert_eq!(
            send(
                AgentlessTarget::sms("+18005550000", "+13175551234"),
                &"a".repeat(766)
            ),
            Err(ValidationError::BlockTooLong {
                index: 0,
                len: 766,
                max: 765
            })
        );
        assert!(send(
            AgentlessTarget::sms("+18005550000", "+13175551234"),
            &"a".repeat(765)
        )
        .is_ok());
        assert_eq!(
            send(AgentlessTarget::web_messaging(G1, ""), "x"),
            Err(ValidationError::InvalidId {
                field: "external_contact_id"
            })
        );
        assert!(matches!(
            send(AgentlessTarget::whatsapp(G1, "13175551234"), "x"),
            Err(ValidationError::Unsupported(_))
        ));
        assert!(send(AgentlessTarget::open(G1, "customer-42"), "x").is_ok());
        assert_eq!(
            send(AgentlessTarget::open(G1, " "), "x"),
            Err(ValidationError::InvalidAddress {
                field: "to_address"
            })
        );
        assert!(send(AgentlessTarget::apple(G1, "+13175551234"), "x").is_ok());
        assert_eq!(
            send(AgentlessTarget::apple("nope", "+13175551234"), "x"),
            Err(ValidationError::InvalidId {
                field: "integration_id"
            })
        );
    }
}
