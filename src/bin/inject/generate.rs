//! `inject -h` and `inject --generate man|complete-…`: the short help, a
//! man page and shell completions, all written from [`FLAGS`].

use crate::flags::{shown, Flag, Section, Value, FLAGS, GENERATED};

/// The examples `-h` and the man page give: (what it does, the command).
const EXAMPLES: &[(&str, &str)] = &[
    (
        "Check a message, then send it as the conversation's agent:",
        "inject --conversation $CONV --dry-run \"Your table is ready\"\n\
         inject --conversation $CONV \"Your table is ready\"",
    ),
    (
        "An SMS from a toll-free number, its text from standard input:",
        "echo \"Parcel on its way\" | inject --agentless sms \\\n    \
         --from +18005550100 --to +13175551234 -",
    ),
    (
        "Today's CSV export, one SMS a row, from cron:",
        "inject --batch today.csv --to-column phone --batch-id \"$(date +%F)\" \\\n    \
         --send-window 08:00-21:00 --json 'Hi {name}, see you at {time}'",
    ),
    (
        "Who did not get yesterday's SMS:",
        "inject journal --batch-id 2026-12-04 | grep -v ' sent '",
    ),
];

/// The short help: usage, the common flags, examples (at most 60 lines of
/// at most 80 columns; `--help` has the rest).
pub(crate) fn short_help() -> String {
    let mut out = String::from(
        "inject: put bot messages into live Genesys Cloud conversations\n\n\
         USAGE:\n    \
         inject --conversation ID [--communication ID] [OPTIONS] TEXT...\n    \
         inject --agentless sms --from NUMBER --to NUMBER [OPTIONS] TEXT...\n    \
         inject --batch FILE [--batch-id ID] [OPTIONS] [TEMPLATE...]\n    \
         inject journal [--batch-id ID] [--json]\n\n\
         COMMON OPTIONS (inject --help: all of them, and what each does):\n",
    );
    for flag in FLAGS.iter().filter(|f| f.common) {
        let name = shown(flag);
        let pad = if name.len() < 26 { 26 - name.len() } else { 1 };
        out.push_str(&format!("    {name}{}{}\n", " ".repeat(pad), flag.about));
    }
    out.push_str("\nEXAMPLES:\n");
    for (what, command) in EXAMPLES {
        out.push_str(&format!("    {what}\n"));
        for line in command.lines() {
            out.push_str(&format!("        {line}\n"));
        }
    }
    out.push_str(
        "\nGENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET (or GENESYS_CLIENT_SECRET_FILE)\n\
         and GENESYS_REGION (default us-east-1) say who sends. Exit status: 0\n\
         sent; 1 not delivered; 2 invalid; 3 refused access; 4 rate limited;\n\
         5 outcome unknown (see --help).\n",
    );
    out
}

/// `text` as roff: backslashes and leading dots and quotes escaped.
fn roff(text: &str) -> String {
    text.lines()
        .map(|line| {
            let line = line.replace('\\', "\\e").replace('-', "\\-");
            if line.starts_with('.') || line.starts_with('\'') {
                format!("\\&{line}")
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The man page, section 1: the flags by section, the examples, and the
/// whole `--help` as its last section.
fn man() -> String {
    let mut out = format!(
        ".TH INJECT 1 \"\" \"genesys-inject {}\" \"User Commands\"\n\
         .SH NAME\ninject \\- put bot messages into live Genesys Cloud conversations\n\
         .SH SYNOPSIS\n.nf\n{}\n.fi\n.SH DESCRIPTION\n{}\n",
        env!("CARGO_PKG_VERSION"),
        roff(
            "inject --conversation ID [--communication ID] [OPTIONS] TEXT...\n\
             inject --agentless TYPE --from ADDRESS --to ADDRESS [OPTIONS] TEXT...\n\
             inject --batch FILE [--batch-id ID] [OPTIONS] [TEMPLATE...]\n\
             inject journal [--batch-id ID] [--json]"
        ),
        roff(
            "Validates a message and every id, then sends it (a typing indicator first) \
             through the Genesys Cloud API, waiting out rate limits, and writes one audit \
             record; with --batch, every line of a file, each at most once across kills \
             and re-runs."
        ),
    );
    for section in Section::ALL {
        out.push_str(&format!(".SH {}\n", section.title()));
        for flag in FLAGS.iter().filter(|f| f.section == section) {
            out.push_str(&format!(
                ".TP\n.B {}\n{}\n",
                roff(&shown(flag)),
                roff(flag.about)
            ));
        }
    }
    out.push_str(".SH EXAMPLES\n");
    for (what, command) in EXAMPLES {
        out.push_str(&format!(
            ".PP\n{}\n.nf\n.RS 4\n{}\n.RE\n.fi\n",
            roff(what),
            roff(command)
        ));
    }
    out.push_str(&format!(
        ".SH THE WHOLE MANUAL (inject \\-\\-help)\n.nf\n{}\n.fi\n",
        roff(crate::help::HELP)
    ));
    out
}

/// Every long flag, `--` and all.
fn longs() -> Vec<String> {
    FLAGS.iter().map(|f| format!("--{}", f.long)).collect()
}

fn bash() -> String {
    let mut cases = String::new();
    for flag in FLAGS {
        let words = match flag.value {
            Value::None | Value::Other => continue,
            Value::File => "-f".to_owned(),
            Value::Dir => "-d".to_owned(),
            Value::OneOf(words) => format!("-W '{}'", words.join(" ")),
        };
        cases.push_str(&format!(
            "        --{}) COMPREPLY=($(compgen {words} -- \"$cur\")); return ;;\n",
            flag.long
        ));
    }
    format!(
        "# bash completion for inject (inject --generate complete-bash)\n\
         _inject() {{\n    \
         local cur=\"${{COMP_WORDS[COMP_CWORD]}}\" prev=\"${{COMP_WORDS[COMP_CWORD-1]}}\"\n    \
         case \"$prev\" in\n{cases}    esac\n    \
         if [[ \"$cur\" == -* ]]; then\n        \
         COMPREPLY=($(compgen -W '{} -h -q -v -V' -- \"$cur\"))\n    \
         elif [[ $COMP_CWORD == 1 ]]; then\n        \
         COMPREPLY=($(compgen -W 'journal' -- \"$cur\"))\n    \
         fi\n}}\ncomplete -F _inject inject\n",
        longs().join(" ")
    )
}

/// `'` inside a single-quoted shell word.
fn quoted(text: &str) -> String {
    text.replace('\'', "'\\''")
}

fn zsh() -> String {
    let mut specs = String::new();
    for flag in FLAGS {
        let action = match flag.value {
            Value::None => String::new(),
            Value::File => ":file:_files".into(),
            Value::Dir => ":directory:_files -/".into(),
            Value::OneOf(words) => format!(":{}:({})", flag.value_name, words.join(" ")),
            Value::Other => format!(":{}: ", flag.value_name),
        };
        let about = quoted(&flag.about.replace([':', '[', ']'], " "));
        let name = match flag.short {
            Some(s) => format!("'(-{s} --{0})'{{-{s},--{0}}}'", flag.long),
            None => format!("'--{}", flag.long),
        };
        let repeat = if ["param", "suppress", "metrics-label"].contains(&flag.long) {
            "*"
        } else {
            ""
        };
        specs.push_str(&format!("    {repeat}{name}[{about}]{action}' \\\n"));
    }
    format!(
        "#compdef inject\n# zsh completion for inject (inject --generate complete-zsh)\n\
         _arguments -s \\\n{specs}    '*:text: '\n"
    )
}

fn fish() -> String {
    let mut out = String::from("# fish completion for inject (inject --generate complete-fish)\n");
    for flag in FLAGS {
        let mut line = format!("complete -c inject -l {}", flag.long);
        if let Some(s) = flag.short {
            line.push_str(&format!(" -s {s}"));
        }
        match flag.value {
            Value::None => {}
            Value::File | Value::Dir => line.push_str(" -r -F"),
            Value::OneOf(words) => line.push_str(&format!(" -x -a '{}'", words.join(" "))),
            Value::Other => line.push_str(" -x"),
        }
        line.push_str(&format!(" -d '{}'\n", quoted(flag.about)));
        out.push_str(&line);
    }
    out.push_str(
        "complete -c inject -n '__fish_use_subcommand' -a journal -d 'what the journals say'\n",
    );
    out
}

fn powershell() -> String {
    let items: Vec<String> = FLAGS
        .iter()
        .map(|f: &Flag| {
            format!(
                "        [CompletionResult]::new('--{0}', '{0}', [CompletionResultType]::ParameterName, '{1}')",
                f.long,
                f.about.replace('\'', "''")
            )
        })
        .collect();
    format!(
        "# PowerShell completion for inject (inject --generate complete-powershell)\n\
         using namespace System.Management.Automation\n\
         Register-ArgumentCompleter -Native -CommandName inject -ScriptBlock {{\n    \
         param($wordToComplete, $commandAst, $cursorPosition)\n    @(\n{}\n    ) | \
         Where-Object {{ $_.CompletionText -like \"$wordToComplete*\" }}\n}}\n",
        items.join("\n")
    )
}

/// What `--generate KIND` prints, or the usage error.
pub(crate) fn generate(kind: &str) -> Result<String, String> {
    Ok(match kind {
        "man" => man(),
        "complete-bash" => bash(),
        "complete-zsh" => zsh(),
        "complete-fish" => fish(),
        "complete-powershell" => powershell(),
        _ => {
            return Err(format!(
                "--generate takes {}, not {kind:?}",
                GENERATED.join(", ")
            ))
        }
    })
}
