//! Where the state directory is: `--state-dir`, `GENESYS_STATE_DIR`, or the
//! system's place for per-user state.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::args::Args;

/// The state directory this run uses, if any: `--state-dir`,
/// `GENESYS_STATE_DIR`, or the system's default (`--no-state`: none).
pub(crate) fn state_dir_path(args: &Args) -> Option<PathBuf> {
    if args.no_state {
        return None;
    }
    args.state_dir
        .as_ref()
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("GENESYS_STATE_DIR").map(PathBuf::from))
        .or_else(|| state_dir_for(std::env::consts::OS, |v| std::env::var_os(v)))
}

/// The variable the per-user state directory comes from on `os`.
pub(crate) fn state_base_variable(os: &str) -> &'static str {
    match os {
        "windows" => "LOCALAPPDATA",
        _ => "HOME",
    }
}

/// The default state directory on `os` (`std::env::consts::OS`), from the
/// environment `var` reads: `%LOCALAPPDATA%\genesys-inject` on Windows;
/// `$XDG_STATE_HOME/genesys-inject` where that is set, else
/// `~/Library/Application Support/genesys-inject` on macOS and
/// `~/.local/state/genesys-inject` elsewhere. Only absolute paths count.
pub(crate) fn state_dir_for(os: &str, var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let absolute = |name: &str| var(name).map(PathBuf::from).filter(|p| p.is_absolute());
    let home = |under: &[&str]| {
        absolute("HOME").map(|home| under.iter().fold(home, |path, part| path.join(part)))
    };
    let base = match os {
        "windows" => absolute("LOCALAPPDATA"),
        "macos" => absolute("XDG_STATE_HOME").or_else(|| home(&["Library", "Application Support"])),
        _ => absolute("XDG_STATE_HOME").or_else(|| home(&[".local", "state"])),
    }?;
    Some(base.join("genesys-inject"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_system_has_its_own_default_state_directory() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let home = &[("HOME", "/home/ada")][..];
        let all = &[
            ("HOME", "/home/ada"),
            ("XDG_STATE_HOME", "/xdg/state"),
            ("LOCALAPPDATA", "/appdata/local"),
        ][..];
        let path = |p: &str| Some(PathBuf::from(p));
        assert_eq!(
            state_dir_for("linux", env(home)),
            path("/home/ada/.local/state/genesys-inject")
        );
        assert_eq!(
            state_dir_for("linux", env(all)),
            path("/xdg/state/genesys-inject")
        );
        assert_eq!(
            state_dir_for("macos", env(home)),
            path("/home/ada/Library/Application Support/genesys-inject")
        );
        assert_eq!(
            state_dir_for("macos", env(all)),
            path("/xdg/state/genesys-inject")
        );
        assert_eq!(
            state_dir_for("windows", env(all)),
            path("/appdata/local/genesys-inject")
        );
        // Windows does not use HOME; nothing, or a relative path, is no default.
        assert_eq!(state_dir_for("windows", env(home)), None);
        assert_eq!(state_dir_for("linux", env(&[("HOME", "relative")])), None);
        assert_eq!(state_dir_for("linux", env(&[])), None);
        assert_eq!(state_base_variable("windows"), "LOCALAPPDATA");
    }
}
