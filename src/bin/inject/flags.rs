//! The one table of `inject`'s flags: the short help (`-h`), the shell
//! completions and the man page (`--generate`) are written from it, and a
//! test holds it to what `args` parses.

/// Where a flag belongs (the man page's sections).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Route,
    Content,
    Batch,
    Rules,
    State,
    Delivery,
    Output,
}

impl Section {
    pub(crate) const ALL: [Section; 7] = [
        Section::Route,
        Section::Content,
        Section::Batch,
        Section::Rules,
        Section::State,
        Section::Delivery,
        Section::Output,
    ];

    pub(crate) fn title(self) -> &'static str {
        match self {
            Section::Route => "ROUTES",
            Section::Content => "CONTENT",
            Section::Batch => "BATCH",
            Section::Rules => "WHEN AND WHETHER A LINE GOES",
            Section::State => "STATE",
            Section::Delivery => "DELIVERY",
            Section::Output => "OUTPUT AND OTHER OPTIONS",
        }
    }
}

/// What a flag's value is, for completion.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value {
    /// A switch: no value.
    None,
    /// A file's path.
    File,
    /// A directory's path.
    Dir,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// Anything else (an id, a number, a name).
    Other,
}

/// One flag: its long name, its short one, its value's name and kind, one
/// line about it (at most 48 columns), its section, and whether `-h`
/// shows it.
pub(crate) struct Flag {
    pub long: &'static str,
    pub short: Option<char>,
    pub value_name: &'static str,
    pub value: Value,
    pub about: &'static str,
    pub section: Section,
    pub common: bool,
}

const fn f(
    long: &'static str,
    value_name: &'static str,
    value: Value,
    section: Section,
    common: bool,
    about: &'static str,
) -> Flag {
    Flag {
        long,
        short: None,
        value_name,
        value,
        about,
        section,
        common,
    }
}

/// The routes `--agentless` takes.
pub(crate) const MESSENGERS: &[&str] = &["webmessaging", "sms", "open", "apple", "whatsapp"];

/// What `--generate` writes.
pub(crate) const GENERATED: &[&str] = &[
    "man",
    "complete-bash",
    "complete-zsh",
    "complete-fish",
    "complete-powershell",
];

use Section::*;
use Value::{Dir, File, None as Switch, OneOf, Other};

/// Every flag `inject` takes.
#[rustfmt::skip]
pub(crate) const FLAGS: &[Flag] = &[
    f("conversation", "ID", Other, Route, true, "conversation to send into (GUID)"),
    f("communication", "ID", Other, Route, true, "communication to send as (default: the agent's)"),
    f("agentless", "TYPE", OneOf(MESSENGERS), Route, true, "send as an API participant: sms, whatsapp, ..."),
    f("from", "ADDRESS", Other, Route, true, "agentless sender: number or integration id"),
    f("to", "ADDRESS", Other, Route, true, "agentless recipient"),
    f("contact", "ID", Other, Route, false, "agentless recipient by external contact id"),
    f("new-conversation", "", Switch, Route, false, "agentless: always a new conversation"),
    f("template", "ID", Other, Content, false, "a WhatsApp messaging template's id"),
    f("param", "NAME=VALUE", Other, Content, false, "a template parameter (repeatable)"),
    f("attach", "FILE", File, Content, false, "send FILE as an attachment"),
    f("delay-ms", "N", Other, Content, false, "wait N ms before typing and sending"),
    f("safety-rules", "FILE", File, Content, false, "content rules, one a line, for the default"),
    f("no-safety-rules", "", Switch, Content, false, "no content rules at all"),
    f("no-typing", "", Switch, Content, false, "no typing indicator before the message"),
    f("batch", "FILE", File, Batch, true, "send every line of FILE (JSON Lines or CSV)"),
    f("batch-id", "ID", Other, Batch, true, "the batch's identity: a line goes once per ID"),
    f("journal", "FILE", File, Batch, false, "the batch's journal (default: the state dir's)"),
    f("skip-invalid", "", Switch, Batch, false, "send the valid lines; count the invalid"),
    f("resend-unknown", "", Switch, Batch, false, "send unknown lines again (may duplicate)"),
    f("retry-failed", "", Switch, Batch, false, "send again lines refused for good"),
    f("parallel", "N", Other, Batch, false, "lines in flight at once, 1 to 64"),
    f("deadline", "SECS", Other, Batch, true, "start no wait that would end past SECS"),
    f("progress", "", Switch, Batch, false, "the progress line even off a terminal"),
    f("to-column", "NAME", Other, Batch, false, "the CSV column (or key) of each line's --to"),
    f("conversation-column", "NAME", Other, Batch, false, "the column of each line's --conversation"),
    f("contact-column", "NAME", Other, Batch, false, "the column of each line's --contact"),
    f("id-column", "NAME", Other, Batch, false, "the column of each line's id"),
    f("text-column", "NAME", Other, Batch, false, "the column of each line's text"),
    f("csv-delimiter", "C", Other, Batch, false, "the CSV delimiter (default: from the header)"),
    f("default-country", "CC", Other, Batch, false, "the country of national phone numbers"),
    f("keep-journals", "DAYS", Other, Batch, false, "remember a line DAYS (default 30)"),
    f("sender-rate", "N", Other, Rules, false, "SMS a second from each sender number"),
    f("send-window", "HH:MM-HH:MM", Other, Rules, true, "send only inside, in the recipient's time"),
    f("tz", "ZONE", Other, Rules, false, "the recipients' IANA time zone"),
    f("tz-column", "NAME", Other, Rules, false, "the column of each recipient's zone"),
    f("wait-for-window", "", Switch, Rules, false, "wait for deferred lines' window to open"),
    f("valid-until", "TIME", Other, Rules, false, "a line past TIME expires, never sent"),
    f("suppress", "FILE", File, Rules, false, "recipients never sent to (repeatable)"),
    f("suppress-column", "NAME", Other, Rules, false, "the column of a CSV suppression list"),
    f("min-gap", "DURATION", Other, Rules, false, "least time between messages to one recipient"),
    f("state-dir", "DIR", Dir, State, false, "the state directory (token, outbox, journals)"),
    f("no-state", "", Switch, State, false, "write nothing to disk"),
    f("wait", "SECS", Other, Delivery, false, "wait up to SECS for the delivery status"),
    f("resolve", "", Switch, Delivery, false, "look for a message whose answer was lost"),
    f("settle-time", "SECS", Other, Delivery, false, "how long a message may take to be listed"),
    f("rate", "N", Other, Output, false, "pace API requests to N a minute"),
    f("ca-file", "FILE", File, Output, false, "trust this PEM file's root certificates"),
    f("dry-run", "", Switch, Output, true, "validate and print the requests; send nothing"),
    f("json", "", Switch, Output, true, "print results as JSON"),
    f("audit-log", "FILE", File, Output, false, "append each audit record to FILE"),
    f("metrics-file", "FILE", File, Output, true, "node-exporter textfile after every run"),
    f("metrics-label", "NAME=VALUE", Other, Output, false, "a label on every series (repeatable)"),
    f("generate", "KIND", OneOf(GENERATED), Output, false, "print a man page or a shell completion"),
    Flag { short: Some('q'), ..f("quiet", "", Switch, Output, true, "only the result or the error") },
    Flag { short: Some('v'), ..f("verbose", "", Switch, Output, true, "each retry and pause too") },
    Flag { short: Some('h'), ..f("help", "", Switch, Output, true, "-h this short help, --help the manual") },
    Flag { short: Some('V'), ..f("version", "", Switch, Output, true, "print the version") },
];

/// `--long VALUE` or `-s, --long`, as the help and the man page show it.
pub(crate) fn shown(flag: &Flag) -> String {
    let mut out = match flag.short {
        Some(s) => format!("-{s}, --{}", flag.long),
        None => format!("--{}", flag.long),
    };
    if !flag.value_name.is_empty() {
        out.push(' ');
        out.push_str(flag.value_name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The long flags `args` parses: its `"name" =>` arms.
    fn parsed() -> Vec<&'static str> {
        let source = include_str!("args.rs");
        let mut names: Vec<&str> = source
            .lines()
            .filter_map(|l| l.trim().strip_prefix('"')?.split_once("\" =>"))
            .map(|(name, _)| name)
            .filter(|n| !n.starts_with('-'))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    #[test]
    fn the_table_is_what_the_parser_takes() {
        let mut table: Vec<&str> = FLAGS.iter().map(|f| f.long).collect();
        table.sort_unstable();
        assert_eq!(table, parsed());
        for flag in FLAGS {
            assert!(flag.about.chars().count() <= 48, "{}", flag.long);
            // A flag that takes a value has its name, and the other way.
            assert_eq!(
                flag.value_name.is_empty(),
                flag.value == Value::None,
                "{}",
                flag.long
            );
        }
    }

    #[test]
    fn the_help_documents_every_flag_of_the_table() {
        for flag in FLAGS {
            assert!(
                crate::help::HELP.contains(&format!("--{}", flag.long)),
                "--{} is not in --help",
                flag.long
            );
        }
    }
}
