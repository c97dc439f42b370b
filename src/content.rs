//! What a message carries besides text: a WhatsApp messaging template, or
//! one attached file. The platform takes one body field per request: text,
//! or media, or a template.

use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::Serialize;

use crate::validate::{check_guid, utf16_len};
use crate::ValidationError;

/// The largest attachment the platform takes: 25 MB.
pub const MEDIA_MAX_BYTES: u64 = 25 * 1024 * 1024;

/// The file types of the platform's default outbound content profile:
/// `jpg`, `jpeg`, `png`, `gif`. An organisation's content profile may allow
/// more: [`InjectorBuilder::attachment_types`](crate::InjectorBuilder::attachment_types).
pub const DEFAULT_ATTACHMENT_TYPES: &[&str] = &["jpg", "jpeg", "png", "gif"];

/// A Response Management messaging template with its parameters: what the
/// agentless route sends to WhatsApp instead of free text.
///
/// ```
/// use genesys_inject::MessagingTemplate;
/// let reminder = MessagingTemplate::new("3e1f7c2a-9b4d-4e6f-8a1b-2c3d4e5f6a7b")
///     .body_parameter("name", "Ada")
///     .body_parameter("time", "10:30");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct MessagingTemplate {
    pub(crate) response_id: String,
    pub(crate) body: Vec<(String, String)>,
    pub(crate) header: Vec<(String, String)>,
    pub(crate) button_url: Vec<(String, String)>,
}

impl MessagingTemplate {
    /// The template of the Response Management response `response_id` (a
    /// GUID), with no parameters yet.
    pub fn new(response_id: impl Into<String>) -> Self {
        MessagingTemplate {
            response_id: response_id.into(),
            body: Vec::new(),
            header: Vec::new(),
            button_url: Vec::new(),
        }
    }

    /// Substitutes `value` for the body parameter `name`. Default: none.
    pub fn body_parameter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.body.push((name.into(), value.into()));
        self
    }

    /// Substitutes `value` for the header parameter `name`. Default: none.
    pub fn header_parameter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.header.push((name.into(), value.into()));
        self
    }

    /// Substitutes `value` for the button URL parameter `name`. Default:
    /// none.
    pub fn button_url_parameter(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.button_url.push((name.into(), value.into()));
        self
    }

    /// Checks the response id and every parameter: a name of 1 to 64 ASCII
    /// letters, digits, `_`, `-` or `.`, given once per kind; a value that
    /// is not blank, has no control characters and is at most
    /// [`MESSAGING_MAX_TEXT_CHARS`](crate::MESSAGING_MAX_TEXT_CHARS) UTF-16
    /// units long. Returns the values joined, for the safety policy, and
    /// their UTF-16 length.
    pub(crate) fn check(&self) -> Result<(String, usize), ValidationError> {
        check_guid(&self.response_id, "response_id")?;
        let mut joined = String::new();
        for (kind, params) in [
            ("body", &self.body),
            ("header", &self.header),
            ("button URL", &self.button_url),
        ] {
            for (i, (name, value)) in params.iter().enumerate() {
                let bad = |reason| ValidationError::InvalidTemplateParameter {
                    kind,
                    name: name.chars().take(64).collect(),
                    reason,
                };
                let name_ok = (1..=64).contains(&name.len())
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
                if !name_ok {
                    return Err(bad("a name is 1 to 64 ASCII letters, digits, _, - or ."));
                }
                if params[..i].iter().any(|(earlier, _)| earlier == name) {
                    return Err(bad("the name is given twice"));
                }
                if crate::validate::is_blank(value) || value.chars().any(char::is_control) {
                    return Err(bad("the value is blank or has a control character"));
                }
                if utf16_len(value) > crate::MESSAGING_MAX_TEXT_CHARS {
                    return Err(bad("the value is longer than 2000 UTF-16 units"));
                }
                joined.push_str(value);
                joined.push('\n');
            }
        }
        let len = utf16_len(&joined) - self.param_count();
        Ok((joined, len))
    }

    fn param_count(&self) -> usize {
        self.body.len() + self.header.len() + self.button_url.len()
    }

    pub(crate) fn body(&self) -> TemplateBody<'_> {
        let params = |p: &'_ [(String, String)]| {
            p.iter()
                .map(|(id, value)| Param {
                    id: id.clone(),
                    value: value.clone(),
                })
                .collect::<Vec<_>>()
        };
        TemplateBody {
            response_id: &self.response_id,
            body_parameters: params(&self.body),
            header_parameters: params(&self.header),
            button_url_parameters: params(&self.button_url),
        }
    }
}

impl fmt::Debug for MessagingTemplate {
    /// The parameters' names only: their values may be personal data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |p: &[(String, String)]| p.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        f.debug_struct("MessagingTemplate")
            .field("response_id", &self.response_id)
            .field("body_parameters", &names(&self.body))
            .field("header_parameters", &names(&self.header))
            .field("button_url_parameters", &names(&self.button_url))
            .finish()
    }
}

/// The `messagingTemplate` field (`SendMessagingTemplateRequest`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TemplateBody<'a> {
    response_id: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    body_parameters: Vec<Param>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    header_parameters: Vec<Param>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    button_url_parameters: Vec<Param>,
}

#[derive(Serialize)]
struct Param {
    id: String,
    value: String,
}

/// One file to attach to a message on the communication route.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    pub(crate) file_name: String,
    pub(crate) bytes: Vec<u8>,
    /// The file's length when it is larger than what was read.
    pub(crate) len: u64,
}

impl Attachment {
    /// A file named `file_name` (its extension tells its type) with these
    /// bytes.
    pub fn new(file_name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        let bytes = bytes.into();
        Attachment {
            file_name: file_name.into(),
            len: bytes.len() as u64,
            bytes,
        }
    }

    /// The file at `path`, read now; a file over [`MEDIA_MAX_BYTES`] is not
    /// read whole (validation refuses it).
    ///
    /// # Errors
    /// When the file cannot be opened or read, is not a regular file, its
    /// name is not UTF-8, or it read more or fewer bytes than its size when
    /// opened (it changed meanwhile).
    pub fn from_path(path: impl AsRef<Path>) -> std::io::Result<Self> {
        let path = path.as_ref();
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the file name is not UTF-8",
                )
            })?
            .to_owned();
        let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
        // Not a FIFO or a device: opening one could block, reading it never ends.
        if !std::fs::metadata(path)?.is_file() {
            return Err(invalid("it is not a regular file".into()));
        }
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        let mut bytes = Vec::new();
        file.take(MEDIA_MAX_BYTES + 1).read_to_end(&mut bytes)?;
        let read = bytes.len() as u64;
        // The length declared and checked is that of the bytes read: a file
        // that changed while it was read is refused, not uploaded short.
        if read != len && len <= MEDIA_MAX_BYTES {
            return Err(invalid(format!(
                "it changed while it was read: {len} bytes when opened, {read} read"
            )));
        }
        Ok(Attachment {
            file_name,
            len: len.max(read),
            bytes,
        })
    }

    /// The file's name.
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// Its size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it has no bytes (validation refuses it).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Checks what the platform would refuse: an empty file, one over
    /// [`MEDIA_MAX_BYTES`], a name it does not take, a type not in `types`.
    pub(crate) fn check(&self, types: &[String]) -> Result<(), ValidationError> {
        if self.is_empty() {
            return Err(ValidationError::EmptyAttachment);
        }
        if self.len > MEDIA_MAX_BYTES {
            return Err(ValidationError::AttachmentTooLarge {
                len: self.len,
                max: MEDIA_MAX_BYTES,
            });
        }
        // The platform's rule (UploadMediaRequest.fileName).
        let name = &self.file_name;
        let name_ok = !name.is_empty()
            && name.len() <= 255
            && !name.starts_with('.')
            && !name.ends_with('/')
            && !name
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "\\{^}%`]\">[~<#|".contains(c));
        if !name_ok {
            return Err(ValidationError::InvalidFileName);
        }
        let extension = name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        if !types.iter().any(|t| t.eq_ignore_ascii_case(&extension)) {
            return Err(ValidationError::AttachmentTypeNotAllowed { extension });
        }
        Ok(())
    }
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("file_name", &self.file_name)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESPONSE: &str = "3e1f7c2a-9b4d-4e6f-8a1b-2c3d4e5f6a7b";

    fn types() -> Vec<String> {
        DEFAULT_ATTACHMENT_TYPES
            .iter()
            .map(|t| t.to_string())
            .collect()
    }

    #[test]
    fn template_checks() {
        let ok = MessagingTemplate::new(RESPONSE)
            .body_parameter("name", "Ada")
            .header_parameter("name", "Ada")
            .button_url_parameter("order", "A-42");
        let (_, len) = ok.check().unwrap();
        assert_eq!(len, 3 + 3 + 4);
        for (bad, what) in [
            (MessagingTemplate::new("nope"), "response id"),
            (
                MessagingTemplate::new(RESPONSE).body_parameter("", "x"),
                "empty name",
            ),
            (
                MessagingTemplate::new(RESPONSE).body_parameter("a b", "x"),
                "a space",
            ),
            (
                MessagingTemplate::new(RESPONSE).body_parameter("a", " "),
                "blank value",
            ),
            (
                MessagingTemplate::new(RESPONSE).body_parameter("a", "x\ny"),
                "a newline",
            ),
            (
                MessagingTemplate::new(RESPONSE)
                    .body_parameter("a", "x")
                    .body_parameter("a", "y"),
                "twice",
            ),
        ] {
            assert!(bad.check().is_err(), "{what}");
        }
        let shown = format!("{:?}", ok.clone().body_parameter("phone", "+13175550199"));
        assert!(
            !shown.contains("3175550199") && shown.contains("phone"),
            "{shown}"
        );
    }

    #[test]
    fn attachment_checks() {
        assert!(Attachment::new("parcel.JPG", vec![1])
            .check(&types())
            .is_ok());
        for (bad, expected) in [
            (
                Attachment::new("empty.png", vec![]),
                ValidationError::EmptyAttachment,
            ),
            (
                Attachment::new("receipt.pdf", vec![1]),
                ValidationError::AttachmentTypeNotAllowed {
                    extension: "pdf".into(),
                },
            ),
            (
                Attachment::new("noextension", vec![1]),
                ValidationError::AttachmentTypeNotAllowed {
                    extension: String::new(),
                },
            ),
            (
                Attachment::new(".hidden.png", vec![1]),
                ValidationError::InvalidFileName,
            ),
            (
                Attachment::new("my parcel.png", vec![1]),
                ValidationError::InvalidFileName,
            ),
            (
                Attachment::new("a#b.png", vec![1]),
                ValidationError::InvalidFileName,
            ),
        ] {
            assert_eq!(bad.check(&types()), Err(expected));
        }
        let big = Attachment {
            file_name: "big.png".into(),
            bytes: Vec::new(),
            len: MEDIA_MAX_BYTES + 1,
        };
        assert!(matches!(
            big.check(&types()),
            Err(ValidationError::AttachmentTooLarge { .. })
        ));
        let mut with_pdf = types();
        with_pdf.push("pdf".into());
        assert!(Attachment::new("receipt.pdf", vec![1])
            .check(&with_pdf)
            .is_ok());
    }
}
