//! Redaction: no secret, and no credential a server echoes, reaches an
//! error message or a log line. Pure text; no I/O.

const REDACTED: &str = "[redacted]";

/// `text` with every occurrence of each secret (of 4 bytes or more)
/// replaced, and with the credential that follows an HTTP authentication
/// scheme name (`Basic …`, `Bearer …`, any case) replaced: a server that
/// echoes the request's `Authorization` header must not put it into an error.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        if out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    let lower = out.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut cuts = Vec::new();
    for scheme in ["basic", "bearer"] {
        for (at, _) in lower.match_indices(scheme) {
            let word_start = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
            let mut i = at + scheme.len();
            let gap = i;
            while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
                i += 1;
            }
            let start = i;
            while i < bytes.len() && is_token68(bytes[i]) {
                i += 1;
            }
            if word_start && start > gap && looks_like_a_credential(&out[start..i]) {
                cuts.push((start, i));
            }
        }
    }
    cuts.sort_unstable();
    for (start, end) in cuts.into_iter().rev() {
        out.replace_range(start..end, REDACTED);
    }
    out
}

fn is_token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b)
}

/// Prose ("basic information") is left alone: a credential has 6 or more
/// characters with a digit, a symbol, or both letter cases.
fn looks_like_a_credential(s: &str) -> bool {
    let has = |f: fn(&u8) -> bool| s.as_bytes().iter().any(f);
    s.len() >= 6
        && (has(u8::is_ascii_digit)
            || has(|b| !b.is_ascii_alphanumeric())
            || (has(u8::is_ascii_uppercase) && has(u8::is_ascii_lowercase)))
}
