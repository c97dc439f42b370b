//! Help the way ripgrep gives it (issue 36): `-h` short with examples,
//! `--help` the manual, and `--generate` a man page that renders and shell
//! completions that know every flag, all from one flag table.

mod common;

use std::process::{Command, Stdio};

fn inject(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(common::cli_bin())
        .args(args)
        .env_clear()
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The long flags `--help` documents (`--name` at a line's start).
fn documented_flags() -> Vec<String> {
    let (_, long, _) = inject(&["--help"]);
    let mut flags: Vec<String> = long
        .lines()
        .flat_map(|l| l.split([' ', ',']))
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches(['.', ')', ':']).to_owned())
        .filter(|w| w[2..].chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

#[test]
fn dash_h_is_short_with_examples_and_dash_dash_help_is_the_manual() {
    let (code, short, _) = inject(&["-h"]);
    assert_eq!(code, 0);
    assert!(short.lines().count() <= 60, "{}", short.lines().count());
    for line in short.lines() {
        assert!(line.chars().count() <= 80, "{line:?}");
    }
    assert!(short.contains("EXAMPLES:"), "{short}");
    assert!(short.contains("inject --batch"), "{short}");
    let (code, long, _) = inject(&["--help"]);
    assert_eq!(code, 0);
    assert!(long.lines().count() > 150, "{}", long.lines().count());
    assert!(long.contains("EXIT STATUS"));
}

#[test]
fn the_man_page_renders_and_holds_every_flag() {
    let (code, page, _) = inject(&["--generate", "man"]);
    assert_eq!(code, 0);
    let dir = common::Scratch::new();
    let path = dir.0.join("inject.1");
    std::fs::write(&path, &page).unwrap();
    // groff's own warnings (-ww) for the page's roff, then as `man -l`
    // shows it. Both are on this project's CI machine (Debian's man-db
    // and groff-base): a machine without them fails here, never skips.
    let groff = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(&path)
        .output()
        .expect("groff (Debian: groff-base) renders the man page");
    assert!(groff.status.success());
    let warnings = String::from_utf8_lossy(&groff.stderr);
    assert!(warnings.trim().is_empty(), "{warnings}");
    let shown = Command::new("man")
        .arg("-l")
        .arg(&path)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .env("LC_ALL", "C")
        .stderr(Stdio::piped())
        .output()
        .expect("man (Debian: man-db) shows the page");
    assert!(shown.status.success(), "{shown:?}");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("NAME") && text.contains("EXAMPLES"), "{text}");
    for flag in documented_flags() {
        assert!(text.contains(&flag), "{flag} is not on the man page");
    }
}

#[test]
fn every_completion_knows_every_flag_and_bash_completes_values() {
    let flags = documented_flags();
    assert!(flags.len() > 50, "{flags:?}");
    for kind in [
        "complete-bash",
        "complete-zsh",
        "complete-fish",
        "complete-powershell",
    ] {
        let (code, script, _) = inject(&["--generate", kind]);
        assert_eq!(code, 0, "{kind}");
        for flag in &flags {
            let bare = &flag[2..];
            assert!(
                script.contains(flag.as_str()) || script.contains(&format!("-l {bare} ")),
                "{kind} lacks {flag}"
            );
        }
    }
    // bash runs its script: --agentless's routes, then the flags.
    let (_, script, _) = inject(&["--generate", "complete-bash"]);
    let dir = common::Scratch::new();
    let path = dir.0.join("inject.bash");
    std::fs::write(&path, script).unwrap();
    let complete = |words: &str, cword: usize| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; _inject; echo \"${{COMPREPLY[@]}}\"",
                path.display()
            ))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(complete("inject --agentless s", 2).trim(), "sms");
    assert!(complete("inject --send-w", 1).contains("--send-window"));
    assert_eq!(complete("inject jour", 1).trim(), "journal");
    let (code, _, err) = inject(&["--generate", "nroff"]);
    assert_eq!(code, 2);
    assert!(err.contains("complete-bash"), "{err}");
}
