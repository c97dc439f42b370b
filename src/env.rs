//! [`InjectorBuilder::from_env`]: the environment variables a cron job
//! sets, read strictly (set but blank or not UTF-8 is an error).

use std::path::PathBuf;

use crate::{Error, InjectorBuilder};

impl InjectorBuilder {
    /// A builder filled from the environment:
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `GENESYS_CLIENT_ID` | OAuth client id | required |
    /// | `GENESYS_CLIENT_SECRET` | OAuth client secret | required, unless… |
    /// | `GENESYS_CLIENT_SECRET_FILE` | a file holding the secret (as container and systemd secrets are given); a byte-order mark and one trailing line break are dropped | unset; not with `GENESYS_CLIENT_SECRET` |
    /// | `GENESYS_REGION` | region or domain, as [`region`](Self::region); `_` may stand for `-` | `us-east-1` |
    /// | `GENESYS_BASE_URL` | as [`base_url`](Self::base_url) | unset |
    /// | `WEBHOOK_URL` | as [`webhook_url`](Self::webhook_url) | unset |
    /// | `GENESYS_STATE_DIR` | as [`state_dir`](Self::state_dir) | unset: nothing on disk |
    /// | `SSL_CERT_FILE` | a PEM bundle of trusted roots, as [`ca_file`](Self::ca_file) | unset: the compiled-in roots |
    ///
    /// Where a `GENESYS_*` name is not set, the name Genesys' own CLI and
    /// Terraform provider read stands in for it: `GENESYSCLOUD_OAUTHCLIENT_ID`,
    /// `GENESYSCLOUD_OAUTHCLIENT_SECRET`, `GENESYSCLOUD_REGION` (its region
    /// names, `us_east_1` as well as `us-east-1`). Both names set to
    /// different values is an [`Error::Config`] naming both (never their
    /// values).
    ///
    /// A variable that is set must be usable: one that is not valid UTF-8
    /// (`GENESYS_STATE_DIR` excepted: a path need not be), or blank (empty
    /// or only white space), is an [`Error::Config`] naming it, never a
    /// silent fallback to the default. The one exception is
    /// `WEBHOOK_URL=` (set to the empty string), which means no webhook, so
    /// that one cron line can switch it off.
    ///
    /// # Errors
    /// [`Error::Config`] naming the variable that is missing or unusable.
    pub fn from_env() -> Result<Self, Error> {
        let required = |name: &str| {
            env_var(name)?
                .ok_or_else(|| Error::Config(format!("environment variable {name} is not set")))
        };
        let id = match either(
            "GENESYS_CLIENT_ID",
            "GENESYSCLOUD_OAUTHCLIENT_ID",
            str::to_owned,
        )? {
            Some(id) => id,
            None => required("GENESYS_CLIENT_ID")?,
        };
        let ours =
            match (
                env_var("GENESYS_CLIENT_SECRET")?,
                std::env::var_os("GENESYS_CLIENT_SECRET_FILE"),
            ) {
                (Some(_), Some(_)) => return Err(Error::Config(
                    "both GENESYS_CLIENT_SECRET and GENESYS_CLIENT_SECRET_FILE are set: give one"
                        .into(),
                )),
                (Some(secret), None) => Some(("GENESYS_CLIENT_SECRET", secret)),
                (None, Some(path)) => Some((
                    "GENESYS_CLIENT_SECRET_FILE",
                    secret_from_file(&PathBuf::from(path))?,
                )),
                (None, None) => None,
            };
        let secret = match (ours, env_var("GENESYSCLOUD_OAUTHCLIENT_SECRET")?) {
            (Some((name, ours)), Some(theirs)) if ours != theirs => {
                return Err(Error::Config(format!(
                    "{name} and GENESYSCLOUD_OAUTHCLIENT_SECRET are both set, to different secrets: unset one"
                )))
            }
            (Some((_, secret)), _) | (None, Some(secret)) => secret,
            (None, None) => {
                return Err(Error::Config(
                    "environment variable GENESYS_CLIENT_SECRET is not set (nor GENESYS_CLIENT_SECRET_FILE, nor GENESYSCLOUD_OAUTHCLIENT_SECRET)"
                        .into(),
                ))
            }
        };
        let mut b = InjectorBuilder::new().credentials(id, secret);
        b.region = either("GENESYS_REGION", "GENESYSCLOUD_REGION", |r| {
            r.trim().to_ascii_lowercase().replace('_', "-")
        })?;
        b.base_url = env_var("GENESYS_BASE_URL")?;
        b.webhook_url = match std::env::var_os("WEBHOOK_URL") {
            Some(v) if v.is_empty() => None,
            _ => env_var("WEBHOOK_URL")?,
        };
        b.ca_file = match std::env::var_os("SSL_CERT_FILE") {
            Some(v) if v.to_str().is_some_and(|s| s.trim().is_empty()) => {
                return Err(blank("SSL_CERT_FILE"))
            }
            v => v.map(PathBuf::from),
        };
        // A path need not be UTF-8; it must not be blank.
        b.state_dir = match std::env::var_os("GENESYS_STATE_DIR") {
            Some(v) if v.to_str().is_some_and(|s| s.trim().is_empty()) => {
                return Err(blank("GENESYS_STATE_DIR"))
            }
            v => v.map(PathBuf::from),
        };
        Ok(b)
    }
}

/// `ours`, else `theirs` (the name Genesys' own tools read), each read as
/// [`env_var`]; both set to values that differ once `normal` has made them
/// comparable is an error naming both.
fn either(
    ours: &str,
    theirs: &str,
    normal: impl Fn(&str) -> String,
) -> Result<Option<String>, Error> {
    match (env_var(ours)?, env_var(theirs)?) {
        (Some(a), Some(b)) if normal(&a) != normal(&b) => Err(Error::Config(format!(
            "{ours} and {theirs} are both set, to different values: unset one"
        ))),
        (Some(a), _) => Ok(Some(normal(&a))),
        (None, b) => Ok(b.map(|b| normal(&b))),
    }
}

/// An environment variable: `None` when unset; an error when it is set but
/// not valid UTF-8 or blank.
fn env_var(name: &str) -> Result<Option<String>, Error> {
    let Some(value) = std::env::var_os(name) else {
        return Ok(None);
    };
    let value = value.into_string().map_err(|_| {
        Error::Config(format!(
            "environment variable {name} is set but is not valid UTF-8"
        ))
    })?;
    if value.trim().is_empty() {
        return Err(blank(name));
    }
    Ok(Some(value))
}

fn blank(name: &str) -> Error {
    Error::Config(format!(
        "environment variable {name} is set but blank: unset it or give it a value"
    ))
}

/// The largest secret file read.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// The client secret held in `path`: a regular file of UTF-8 text, one
/// trailing line break dropped. Errors name the file, never its content.
fn secret_from_file(path: &std::path::Path) -> Result<String, Error> {
    use std::io::Read;
    let bad = |why: String| {
        Error::Config(format!(
            "GENESYS_CLIENT_SECRET_FILE {}: {why}",
            path.display()
        ))
    };
    if path
        .as_os_str()
        .to_str()
        .is_some_and(|p| p.trim().is_empty())
    {
        return Err(blank("GENESYS_CLIENT_SECRET_FILE"));
    }
    // Not a FIFO or a device: opening one could block.
    let meta = std::fs::metadata(path).map_err(|e| bad(format!("cannot be read: {e}")))?;
    if !meta.is_file() {
        return Err(bad("is not a regular file".into()));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_SECRET_FILE + 1).read_to_end(&mut bytes))
        .map_err(|e| bad(format!("cannot be read: {e}")))?;
    if bytes.len() as u64 > MAX_SECRET_FILE {
        return Err(bad(format!("is larger than {MAX_SECRET_FILE} bytes")));
    }
    let text = String::from_utf8(bytes).map_err(|_| bad("is not UTF-8 text".into()))?;
    // A byte-order mark (Notepad's UTF-8) is not part of the secret.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let secret = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text);
    if secret.trim().is_empty() {
        return Err(bad("is empty".into()));
    }
    Ok(secret.to_owned())
}
