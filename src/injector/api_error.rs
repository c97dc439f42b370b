//! What a refused API call means: the [`Error`] for an answer that is not
//! a success, with the platform's error body (redacted), its correlation id
//! and whether the message may have been delivered.

use crate::http::Answer;
use crate::secret::Token;
use crate::{ApiErrorBody, Error, Injector, Outcome};

impl Injector {
    /// The error for a non-2xx answer other than 429 (and a first 401).
    /// `token` was sent with the request: redacted should the body echo it.
    pub(super) fn api_error(
        &self,
        answer: &Answer,
        permission: &'static str,
        token: &Token,
    ) -> Error {
        let header = token.header().to_str().unwrap_or_default();
        let secrets = [header, header.strip_prefix("Bearer ").unwrap_or(header)];
        let mut body = ApiErrorBody::parse(&answer.body);
        if let Some(body) = &mut body {
            body.redact(&secrets);
        }
        let message = body
            .as_ref()
            .and_then(|b| b.message.clone())
            .unwrap_or_else(|| answer.message_or("no error body", &secrets));
        let correlation_id = answer
            .correlation_id
            .clone()
            .or_else(|| body.as_ref().and_then(|b| b.context_id.clone()));
        match answer.status {
            401 => self.auth.refused_token(
                body.as_ref().and_then(|b| b.code.clone()),
                format!("the API refused a freshly fetched token: {message}"),
                correlation_id,
            ),
            403 => Error::Forbidden {
                message,
                permission,
                correlation_id,
            },
            status => {
                let outcome = match status {
                    500 | 503 if body.is_some() => Outcome::NotDelivered,
                    500..=599 => Outcome::Unknown,
                    _ => Outcome::NotDelivered,
                };
                Error::Api {
                    status,
                    code: body.as_ref().and_then(|b| b.code.clone()),
                    message,
                    correlation_id,
                    body: body.map(Box::new),
                    outcome,
                    sent_at: Some(answer.sent_at),
                }
            }
        }
    }
}

/// The error for a 2xx answer that is not what the call returns.
pub(crate) fn unreadable(answer: &Answer, what: &str) -> Error {
    let excerpt = answer.message_or("empty", &[]);
    answer.not_delivered(None, format!("the answer is not {what}: {excerpt}"))
}
