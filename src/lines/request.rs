//! From the parsed arguments to the library's [`InjectRequest`]: which
//! route, which content, standard input. Says "usage error" in words; sends
//! nothing.

use std::io::Read;
use std::time::Duration;

use crate::{
    AgentlessTarget, Attachment, ContentBlock, InjectRequest, MessagingTemplate,
    MESSAGING_MAX_TEXT_CHARS,
};

use super::{LineFlags as Args, Text};

/// Reads one block from standard input: at most what the longest message
/// can hold (3 UTF-8 bytes a UTF-16 unit, and a line break), then refuses.
fn read_stdin() -> Result<String, String> {
    let cap = MESSAGING_MAX_TEXT_CHARS * 3 + 2;
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(cap as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    if bytes.len() > cap {
        return Err(format!(
            "standard input is longer than a message can be ({MESSAGING_MAX_TEXT_CHARS} UTF-16 units)"
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| "standard input is not valid UTF-8")?;
    let text = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    Ok(text.to_owned())
}

/// The flags of the route not taken, if any was given.
fn stray_flags(args: &Args, agentless: bool) -> Option<&'static str> {
    let given = |flag: &'static str, set: bool| set.then_some(flag);
    if agentless {
        given("--conversation", args.conversation.is_some())
            .or(given("--communication", args.communication.is_some()))
            .or(given("--attach", args.attach.is_some()))
    } else {
        given("--from", args.from.is_some())
            .or(given("--to", args.to.is_some()))
            .or(given("--contact", args.contact.is_some()))
            .or(given("--new-conversation", args.new_conversation))
            .or(given("--template", args.template.is_some()))
    }
}

pub(crate) fn build_request(args: &Args) -> Result<InjectRequest, String> {
    let agentless = args.agentless.is_some();
    if let Some(flag) = stray_flags(args, agentless) {
        return Err(if agentless {
            format!("{flag} belongs to the communication route; it cannot be used with --agentless")
        } else {
            format!("{flag} belongs to the agentless route; use it with --agentless")
        });
    }
    let bodies = [
        !args.texts.is_empty(),
        args.template.is_some(),
        args.attach.is_some(),
    ];
    match bodies.iter().filter(|b| **b).count() {
        0 => {
            return Err(
                "give the message as one or more TEXT arguments (or --template, or --attach)"
                    .into(),
            )
        }
        1 => {}
        _ => {
            return Err("a message carries one of TEXT, --template or --attach, not several".into())
        }
    }
    if args.attach.is_some() && args.communication.is_none() && !agentless {
        return Err(
            "--attach needs --communication: an attachment is sent as a given communication".into(),
        );
    }
    if !args.params.is_empty() && args.template.is_none() {
        return Err("--param goes with --template".into());
    }
    let mut blocks: Vec<ContentBlock> = Vec::new();
    for text in &args.texts {
        let text = match text {
            Text::Literal(text) => text.clone(),
            Text::Stdin => read_stdin()?,
        };
        // `inject ... hello world` sends "hello world", not "helloworld".
        let glued = blocks.last().is_some_and(|b| {
            b.as_str()
                .chars()
                .next_back()
                .is_some_and(|c| !c.is_whitespace())
        }) && text.chars().next().is_some_and(|c| !c.is_whitespace());
        if args.spaced_texts && glued {
            blocks.push(ContentBlock::text(" "));
        }
        blocks.push(ContentBlock::text(text));
    }
    let template = args.template.as_ref().map(|id| {
        args.params
            .iter()
            .fold(MessagingTemplate::new(id), |t, (name, value)| {
                t.body_parameter(name, value)
            })
    });
    let attachment = match &args.attach {
        Some(path) => {
            Some(Attachment::from_path(path).map_err(|e| format!("cannot read {path}: {e}"))?)
        }
        None => None,
    };
    let request = match &args.agentless {
        Some(kind) => {
            let from = args.from.clone().ok_or("--agentless needs --from")?;
            let target = match (kind.as_str(), &args.to, &args.contact) {
                ("webmessaging", None, Some(contact)) => {
                    AgentlessTarget::web_messaging(from, contact)
                }
                ("webmessaging", _, _) => {
                    return Err("--agentless webmessaging needs --contact and no --to".into())
                }
                (kind, Some(to), contact) => {
                    let target = match kind {
                        "sms" => AgentlessTarget::sms(from, to),
                        "open" => AgentlessTarget::open(from, to),
                        "apple" => AgentlessTarget::apple(from, to),
                        "whatsapp" => AgentlessTarget::whatsapp(from, to),
                        other => return Err(format!("unknown --agentless type {other:?}")),
                    };
                    // The library checks that this channel takes one.
                    match contact {
                        Some(c) => target.external_contact_id(c),
                        None => target,
                    }
                }
                (kind, None, _) => return Err(format!("--agentless {kind} needs --to")),
            };
            match template {
                Some(template) => InjectRequest::template(target, template),
                None => InjectRequest::agentless(target, blocks),
            }
            .use_existing_conversation(!args.new_conversation)
        }
        None => match (&args.conversation, &args.communication) {
            (Some(conversation), Some(communication)) => match attachment {
                Some(attachment) => {
                    InjectRequest::attachment(conversation, communication, attachment)
                }
                None => InjectRequest::new(conversation, communication, blocks),
            },
            // Sent as the connected agent, looked up when sent.
            (Some(conversation), None) => InjectRequest::to_conversation(conversation, blocks),
            _ => return Err("give --conversation (and --communication), or --agentless".into()),
        },
    };
    // The library refuses more than MAX_DELAY, with an audit record.
    Ok(request.delay(Duration::from_millis(args.delay_ms.unwrap_or(0))))
}
