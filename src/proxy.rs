//! Which proxy HTTP requests go through: none, the environment's, or one
//! URL, and only HTTP CONNECT ones. Its `Debug` hides a proxy's password.

use std::fmt;

use crate::Error;

/// Where HTTP requests go through.
#[derive(Clone, PartialEq, Eq, Default)]
pub(crate) enum ProxyChoice {
    #[default]
    Direct,
    FromEnv,
    Url(String),
}

impl fmt::Debug for ProxyChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyChoice::Direct => f.write_str("Direct"),
            ProxyChoice::FromEnv => f.write_str("FromEnv"),
            // A proxy URL may carry a user name and password.
            ProxyChoice::Url(url) => match url.split_once("://") {
                Some((scheme, rest)) if rest.contains('@') => {
                    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
                    write!(f, "Url({scheme}://[credentials]@{host})")
                }
                _ => write!(f, "Url({url})"),
            },
        }
    }
}

impl ProxyChoice {
    /// The proxy to use, checked.
    pub(crate) fn resolve(self) -> Result<Option<ureq::Proxy>, Error> {
        let proxy = match self {
            ProxyChoice::Direct => None,
            ProxyChoice::FromEnv => ureq::Proxy::try_from_env(),
            ProxyChoice::Url(url) => Some(
                ureq::Proxy::new(&url)
                    .map_err(|e| Error::Config(format!("invalid proxy URL: {e}")))?,
            ),
        };
        if let Some(proxy) = &proxy {
            check_proxy(proxy)?;
        }
        Ok(proxy)
    }
}

/// Only HTTP CONNECT proxies: this crate builds ureq without SOCKS support,
/// and ureq would panic on a SOCKS proxy given by hand (or go around one
/// given by the environment).
fn check_proxy(proxy: &ureq::Proxy) -> Result<(), Error> {
    use ureq::ProxyProtocol as P;
    match proxy.protocol() {
        P::Http | P::Https => Ok(()),
        other => Err(Error::Config(format!(
            "{other:?} proxies are not supported; use an http:// (CONNECT) proxy"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies() {
        for ok in ["http://127.0.0.1:3128", "https://proxy.example.com:443"] {
            assert!(check_proxy(&ureq::Proxy::new(ok).unwrap()).is_ok(), "{ok}");
        }
        for socks in ["socks5://127.0.0.1:1080", "socks4://h:1", "socks4a://h:1"] {
            let err = check_proxy(&ureq::Proxy::new(socks).unwrap()).unwrap_err();
            assert!(err.to_string().contains("not supported"), "{err}");
        }
        let shown = format!(
            "{:?}",
            ProxyChoice::Url("http://me:pa55w0rd@proxy.example.com:3128".into())
        );
        assert_eq!(shown, "Url(http://[credentials]@proxy.example.com:3128)");
        assert!(!shown.contains("pa55w0rd"));
    }
}
