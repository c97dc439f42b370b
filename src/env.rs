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
    /// | `GENESYS_CLIENT_SECRET` | OAuth client secret | required |
    /// | `GENESYS_REGION` | region or domain, as [`region`](Self::region) | `us-east-1` |
    /// | `GENESYS_BASE_URL` | as [`base_url`](Self::base_url) | unset |
    /// | `WEBHOOK_URL` | as [`webhook_url`](Self::webhook_url) | unset |
    /// | `GENESYS_STATE_DIR` | as [`state_dir`](Self::state_dir) | unset: nothing on disk |
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
        let mut b = InjectorBuilder::new().credentials(
            required("GENESYS_CLIENT_ID")?,
            required("GENESYS_CLIENT_SECRET")?,
        );
        b.region = env_var("GENESYS_REGION")?;
        b.base_url = env_var("GENESYS_BASE_URL")?;
        b.webhook_url = match std::env::var_os("WEBHOOK_URL") {
            Some(v) if v.is_empty() => None,
            _ => env_var("WEBHOOK_URL")?,
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
