//! The URLs this crate will send to: https, or http to a loopback host,
//! with nothing that could carry a credential elsewhere.

use std::net::IpAddr;

use crate::Error;

/// Checks an absolute URL: https, or http to a loopback host; no user info,
/// fragment, white space or control characters; a port, if any, from 1 to
/// 65535; a query only where allowed.
pub(crate) fn check_url(what: &str, url: &str, allow_query: bool) -> Result<(), Error> {
    let bad = |why: &str| Error::Config(format!("{what} {why}"));
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("contains white space or a control character"));
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("must be an absolute URL such as https://host"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(bad("must use https (or http to a loopback host)"));
    }
    if url.contains('#') || (!allow_query && url.contains('?')) {
        return Err(bad("must not have a query or fragment"));
    }
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(bad("must name a host (and no user name or password)"));
    }
    // What follows the host: nothing, or `:` and a port. (ureq would send a
    // port above 65535 to the scheme's default port instead.)
    let after_host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("?", |(_, after)| after),
        None => authority.find(':').map_or("", |i| &authority[i..]),
    };
    if !after_host.is_empty() {
        let port = after_host.strip_prefix(':').unwrap_or("?");
        if !port.bytes().all(|b| b.is_ascii_digit()) || !matches!(port.parse::<u16>(), Ok(1..)) {
            return Err(bad(&format!(
                "has an impossible port {port:?}: a port is a number from 1 to 65535"
            )));
        }
    }
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|e| bad(&format!("is not a valid URL: {e}")))?;
    let host = uri.host().ok_or_else(|| bad("must name a host"))?;
    if scheme == "http" && !is_loopback(host) {
        return Err(bad(
            "must use https; plain http is accepted only for 127.0.0.1, ::1 or localhost",
        ));
    }
    Ok(())
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(check_url("u", "http://127.0.0.1:8080/", false).is_ok());
        assert!(check_url("u", "http://127.0.0.1:65535", false).is_ok());
        assert!(check_url("u", "https://[::1]:443/x", false).is_ok());
        assert!(check_url("u", "http://localhost:1/x", false).is_ok());
        assert!(check_url("u", "http://[::1]:1", false).is_ok());
        assert!(check_url("u", "https://gw.example.com/genesys", false).is_ok());
        assert!(check_url("u", "https://hooks.example.com/a?key=1", true).is_ok());
        for bad in [
            "http://example.com",
            "http://10.0.0.1",
            "file:///etc/passwd",
            "ftp://127.0.0.1",
            "https://hooks.example.com/a b",
            "https://a.example.com/\n",
            "https://user:pw@example.com",
            "https://example.com/#x",
            "https://example.com/?q",
            "127.0.0.1:80",
            "https://",
            "",
            // Impossible ports.
            "http://127.0.0.1:65536",
            "http://127.0.0.1:99999/x",
            "https://example.com:0",
            "https://example.com:",
            "https://example.com:+443",
            "https://example.com:44a",
            "https://example.com:1:2",
            "http://[::1]:70000",
            "http://[::1]x",
            "http://[::1",
        ] {
            assert!(
                matches!(check_url("u", bad, false), Err(Error::Config(_))),
                "{bad:?}"
            );
        }
    }
}
