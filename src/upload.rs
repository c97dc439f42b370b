//! Attachments, as an `impl Injector` block of its own: the platform's
//! upload call, the bytes to the upload host (a host that gets no token),
//! and the wait until the platform says the media is valid. Nothing here
//! sends the message.

use std::time::Duration;

use crate::http::origin;
use crate::injector::{unreadable, Call, COMMUNICATION_PERMISSION};
use crate::redact::redact;
use crate::request::PreparedUpload;
use crate::retry::{with_retries, Attempt};
use crate::validate::is_message_id;
use crate::{Attachment, Error, Injector};

impl Injector {
    /// Uploads `attachment`: the platform's upload call, then its bytes to
    /// the URL that call answered, with the headers it answered (less those
    /// that frame or route a request) and no `Authorization`, then waits
    /// until the platform says the media is `valid`. Returns the media id.
    /// Nothing here sends the message: every error says not delivered.
    pub(crate) fn upload(
        &self,
        upload: &PreparedUpload,
        attachment: &Attachment,
        deadline: Option<std::time::Instant>,
    ) -> Result<String, Error> {
        let url = [self.settings.api_base.as_str(), &upload.path].concat();
        let call = Call {
            url: &url,
            body: Some(&upload.body),
            timeout: None,
            permission: COMMUNICATION_PERMISSION,
            deadline,
            observer: None,
            prepaid: None,
        };
        let policy = &self.settings.retry_policy;
        let answer = self
            .call(&call, policy, &mut 0)
            .map_err(Error::before_message)?;
        let answered = serde_json::from_slice::<serde_json::Value>(&answer.body).ok();
        let text = |key: &str| {
            answered
                .as_ref()
                .and_then(|a| a.get(key))
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
        };
        let (Some(media_id), Some(upload_url)) = (text("id"), text("uploadUrl")) else {
            return Err(unreadable(
                &answer,
                "an upload (id, uploadUrl, uploadHeaders)",
            ));
        };
        if !is_message_id(media_id) {
            return Err(unreadable(&answer, "an upload with a usable media id"));
        }
        let headers: Vec<(&str, &str)> = answered
            .as_ref()
            .and_then(|a| a.get("uploadHeaders"))
            .and_then(|h| h.as_object())
            .map(|h| {
                h.iter()
                    .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                    .filter(|(name, _)| !frames_or_routes(name))
                    .collect()
            })
            .unwrap_or_default();
        // Another host, which gets no token: https only (http to loopback
        // for tests), and never logged beyond its origin.
        let target = origin(upload_url);
        let failed = |status: Option<u16>, message: String| Error::Upload {
            host: target.clone(),
            status,
            message,
        };
        crate::url::check_url("the upload URL", upload_url, true)
            .map_err(|e| failed(None, format!("refused to upload there: {e}")))?;
        let query = upload_url.split_once('?').map_or("", |(_, q)| q);
        log::debug!(target: "genesys_inject", "uploading {} bytes to {target}", attachment.bytes.len());
        let clock = &*self.settings.clock;
        let mut attempts = 0;
        with_retries(policy, clock, || {
            attempts += 1;
            let answer = match self.http.put(upload_url, &headers, &attachment.bytes) {
                Ok(answer) => answer,
                Err(e) if e.retryable => return Attempt::NotSent(e.error),
                Err(e) => {
                    return Attempt::Done(Err(failed(
                        None,
                        transport_cause(&e.error, &[upload_url, query]),
                    )))
                }
            };
            log::debug!(target: "genesys_inject", "PUT {target} -> HTTP {}", answer.status);
            match answer.status {
                200..=299 => Attempt::Done(Ok(())),
                429 => answer.throttled(attempts),
                status => Attempt::Done(Err(failed(
                    Some(status),
                    format!(
                        "HTTP {status}: {}",
                        answer.message_or("no error body", &[upload_url, query])
                    ),
                ))),
            }
        })
        .map_err(|e| match e {
            // Connections refused every time: still the upload host's.
            e @ Error::Transport { .. } => failed(None, transport_cause(&e, &[upload_url, query])),
            e => e,
        })?;
        self.media_ready(upload, media_id, deadline)?;
        Ok(media_id.to_owned())
    }

    /// Waits until the platform says the uploaded media is `valid`
    /// (`GET …/messages/media/{mediaId}`), as Genesys' own tests do: at most
    /// [`MEDIA_LOOKS`] looks, 1 s apart. `invalid`, or not valid by the last
    /// look, is an [`Error::Upload`]: the message is not sent.
    fn media_ready(
        &self,
        upload: &PreparedUpload,
        media_id: &str,
        deadline: Option<std::time::Instant>,
    ) -> Result<(), Error> {
        let base = upload
            .path
            .strip_suffix("/uploads")
            .expect("an upload path ends with /uploads");
        let url = format!("{}{base}/{media_id}", self.settings.api_base);
        let not_ready = |message: String| Error::Upload {
            host: "Genesys Cloud".into(),
            status: None,
            message,
        };
        let mut last = String::from("none");
        for look in 1..=MEDIA_LOOKS {
            let answer = self
                .lookup_as(&url, COMMUNICATION_PERMISSION, deadline)
                .map_err(Error::before_message)?;
            let status = serde_json::from_slice::<serde_json::Value>(&answer.body)
                .ok()
                .and_then(|v| v.get("status")?.as_str().map(str::to_ascii_lowercase));
            match status.as_deref() {
                Some("valid") => return Ok(()),
                Some("invalid") => {
                    return Err(not_ready(format!(
                        "the platform judged media {media_id} invalid"
                    )))
                }
                other => {
                    last = other
                        .unwrap_or("none")
                        .chars()
                        .filter(|c| !c.is_control())
                        .take(40)
                        .collect()
                }
            }
            let clock = &*self.settings.clock;
            if deadline.is_some_and(|d| crate::clock::later(clock.now(), MEDIA_POLL) > d) {
                break;
            }
            if look < MEDIA_LOOKS && !crate::clock::pause(clock, MEDIA_POLL) {
                // A stop (a batch's): the message was not sent.
                break;
            }
        }
        Err(not_ready(format!(
            "media {media_id} was not valid after {MEDIA_LOOKS} looks, {} s apart (last status: {last})",
            MEDIA_POLL.as_secs()
        )))
    }
}

/// What failed in an exchange with a host other than the platform's API,
/// without the words that blame Genesys Cloud, `secrets` redacted.
fn transport_cause(error: &Error, secrets: &[&str]) -> String {
    match error {
        Error::Transport { source, .. } => redact(&source.to_string(), secrets),
        other => redact(&other.to_string(), secrets),
    }
}

/// Whether an upload header frames or routes the request: those come from
/// this crate, never from the platform's answer.
fn frames_or_routes(name: &str) -> bool {
    const HOP_BY_HOP: &[&str] = &[
        "content-length",
        "transfer-encoding",
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "upgrade",
        "expect",
    ];
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// How often, and how many times, the media's state is asked before the
/// message goes: as Genesys' own tests do.
const MEDIA_LOOKS: u32 = 11;
const MEDIA_POLL: Duration = Duration::from_secs(1);
