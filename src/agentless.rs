//! The agentless route's sender and recipient: [`MessengerType`] and
//! [`AgentlessTarget`], their checks, and the masking of addresses in logs
//! and `Debug`. Knows nothing of HTTP.

use std::fmt;

use crate::validate::{
    check_e164, check_guid, is_e164, is_guid, MESSAGING_MAX_TEXT_CHARS, SMS_MAX_TEXT_CHARS,
};
use crate::{ValidationError, INVALID_INTERACTION_ID};

/// The channel of an agentless message (`toAddressMessengerType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessengerType {
    /// SMS: from a provisioned number to an E.164 number; 765 UTF-16 units.
    Sms,
    /// WhatsApp: takes a messaging template ([`InjectRequest::template`](crate::InjectRequest::template)).
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
    pub(crate) messenger: MessengerType,
    pub(crate) from_address: String,
    pub(crate) to_address: Option<String>,
    pub(crate) external_contact_id: Option<String>,
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
    /// [`InjectRequest::template`](crate::InjectRequest::template); a text request to it is refused by
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

    pub(crate) fn check(&self) -> Result<(), ValidationError> {
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
    pub(crate) fn audit_id(&self) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InjectRequest, SafetyPolicy};

    const G1: &str = "ec35f2a8-289b-42d4-8893-c50eaf81a3c1";

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
