//! The two secrets this crate holds, as types that never show them: the
//! client secret ([`Secret`]) and an access token ([`Token`], kept as the
//! ready `Authorization` value, marked sensitive).

use std::fmt;
use std::sync::Arc;

use ureq::http::header::HeaderValue;

/// A string that is never shown: its `Debug` prints a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// An access token, kept as the ready `Authorization` header value (marked
/// sensitive, so that the `http` crate hides it too).
#[derive(Clone)]
pub(crate) struct Token {
    bearer: Arc<HeaderValue>,
}

impl Token {
    pub fn header(&self) -> &HeaderValue {
        &self.bearer
    }

    /// Whether `other` is this very token (the same fetch), not just equal.
    pub(crate) fn same_as(&self, other: &Token) -> bool {
        Arc::ptr_eq(&self.bearer, &other.bearer)
    }

    /// The access token itself, without `Bearer `.
    pub(crate) fn access_token(&self) -> Option<&str> {
        self.bearer.to_str().ok()?.strip_prefix("Bearer ")
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// The `Authorization` value of an access token, or why it cannot be one.
pub(crate) fn bearer(access_token: &str) -> Result<Token, &'static str> {
    if access_token.is_empty() || access_token.chars().any(|c| c.is_control() || c == ' ') {
        return Err("empty or malformed");
    }
    let mut bearer = HeaderValue::from_str(&format!("Bearer {access_token}"))
        .map_err(|_| "not sendable in a header")?;
    bearer.set_sensitive(true);
    Ok(Token {
        bearer: Arc::new(bearer),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neither_secret_is_ever_shown() {
        let secret = Secret::new("s3cr3t".into());
        let token = bearer("tok-123").unwrap();
        let shown = format!("{secret:?} {token:?} {:?}", token.header());
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("tok-123"),
            "{shown}"
        );
        assert!(token.header().is_sensitive());
        assert_eq!(token.access_token(), Some("tok-123"));
        assert!(bearer("a b").is_err() && bearer("").is_err());
    }
}
