//! Which TLS roots every call trusts: the compiled-in Mozilla roots (ureq's
//! default), the system's store (the `platform-verifier` feature), or the
//! certificates of a PEM file ([`InjectorBuilder::ca_file`](crate::InjectorBuilder::ca_file),
//! `SSL_CERT_FILE`). No network.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use ureq::tls::{PemItem, RootCerts};

use crate::Error;

/// The largest CA file read (a system bundle is about 200 KiB).
const MAX_CA_FILE: u64 = 16 << 20;

/// The roots for `ca_file`, or the default ones without it.
pub(crate) fn roots(ca_file: Option<&Path>) -> Result<RootCerts, Error> {
    let Some(path) = ca_file else {
        return Ok(if cfg!(feature = "platform-verifier") {
            RootCerts::PlatformVerifier
        } else {
            RootCerts::WebPki
        });
    };
    let bad = |why: String| Error::Config(format!("CA file {}: {why}", path.display()));
    // Not a FIFO or a device: opening one could block.
    let meta = std::fs::metadata(path).map_err(|e| bad(format!("cannot be read: {e}")))?;
    if !meta.is_file() {
        return Err(bad("is not a regular file".into()));
    }
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CA_FILE + 1).read_to_end(&mut pem))
        .map_err(|e| bad(format!("cannot be read: {e}")))?;
    if pem.len() as u64 > MAX_CA_FILE {
        return Err(bad(format!("is larger than {MAX_CA_FILE} bytes")));
    }
    if let Some(line) = truncated_block(&pem) {
        return Err(bad(format!(
            "is truncated: the PEM block that begins on line {line} has no -----END line (a partial copy?)"
        )));
    }
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item.map_err(|e| bad(format!("is not valid PEM: {e}")))? {
            // A certificate is a DER SEQUENCE.
            PemItem::Certificate(cert) if cert.der().first() == Some(&0x30) => certs.push(cert),
            PemItem::Certificate(_) => {
                return Err(bad("holds a certificate that is not DER".into()))
            }
            _ => {}
        }
    }
    if certs.is_empty() {
        return Err(bad(
            "holds no certificate (a PEM block that begins -----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    log::debug!(target: "genesys_inject::transport", "trusting the {} root certificates of {}", certs.len(), path.display());
    Ok(RootCerts::Specific(Arc::new(certs)))
}

/// The line (from 1) of a `-----BEGIN` whose block never ends, if any.
fn truncated_block(pem: &[u8]) -> Option<usize> {
    let mut open = None;
    for (n, line) in pem.split(|&b| b == b'\n').enumerate() {
        if line.starts_with(b"-----BEGIN ") {
            open = Some(n + 1);
        } else if line.starts_with(b"-----END ") {
            open = None;
        }
    }
    open
}
