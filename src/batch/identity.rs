//! Who a line is, as the journal knows it. A line with its own id is known
//! by it. A line known by its recipient ([`BatchLine::by_recipient`]) is
//! known by the recipient (the conversation; the address or contact on the
//! agentless route) and its rank among the batch's lines to that
//! recipient, and matched to the journal by content first: the same lines
//! reordered are the same lines, and a recipient's line whose wording
//! changed is that line, with other content (a conflict), not a new line.
//! What a line's content is: a hash of its exact request (its text in
//! Unicode NFC), beside the hash the last release wrote, so that a journal
//! of the last release is read as its lines.

use std::collections::{HashMap, HashSet};

use unicode_normalization::UnicodeNormalization;

use crate::journal::Journal;
use crate::request::{Content, Route};
use crate::state::fnv1a_128;
use crate::{Error, InjectRequest, Injector};

use super::BatchLine;

/// A line's content, as the journal compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    /// The hash records are written with: the request with its text in NFC.
    pub now: String,
    /// The last release's hash (the request's bytes as given): a record
    /// with it is this content too.
    pub legacy: String,
}

impl Fingerprint {
    /// Whether a record written with `recorded` is of this content.
    pub fn is(&self, recorded: &str) -> bool {
        recorded == self.now || recorded == self.legacy
    }
}

/// The prefix of the journal ids of lines known by their recipient.
const BY_RECIPIENT: &str = "r:";

/// Who receives `request`, as text: the conversation on the communication
/// route (whoever it is sent as), the messenger and the address or contact
/// on the agentless route.
pub(crate) fn recipient_text(request: &InjectRequest) -> String {
    match &request.route {
        Route::Communication {
            conversation_id, ..
        } => format!("conversation\n{}", conversation_id.to_ascii_lowercase()),
        Route::Agentless { target, .. } => format!(
            "{}\n{}\n{}",
            target.messenger.as_str(),
            target.to_address.as_deref().unwrap_or_default().trim(),
            target
                .external_contact_id
                .as_deref()
                .unwrap_or_default()
                .to_ascii_lowercase()
        ),
    }
}

/// Whom `request` is to, masked for a person to read (`inject journal`):
/// all but the last four characters of the address, contact or
/// conversation hidden.
pub(crate) fn recipient_shown(request: &InjectRequest) -> String {
    match &request.route {
        Route::Communication {
            conversation_id, ..
        } => format!("conversation {}", crate::agentless::mask(conversation_id)),
        Route::Agentless { target, .. } => {
            let who = match (&target.to_address, &target.external_contact_id) {
                (Some(to), _) => crate::agentless::mask(to),
                (None, Some(contact)) => format!("contact {}", crate::agentless::mask(contact)),
                (None, None) => String::new(),
            };
            format!("{} {who}", target.messenger.as_str())
        }
    }
}

/// The key of `request`'s recipient: a hash of [`recipient_text`].
pub(crate) fn recipient_key(request: &InjectRequest) -> u128 {
    fnv1a_128(recipient_text(request).as_bytes())
}

/// The id of a line known by the recipient `key`, of that rank (from 1).
pub(crate) fn ranked(key: u128, rank: usize) -> String {
    format!("{BY_RECIPIENT}{key:032x}#{rank}")
}

impl Injector {
    /// What `request`'s content is: a hash of the exact request (route,
    /// body with its text in NFC, attachment), and the last release's.
    #[inline]
    pub(super) fn fingerprint(&self, request: &InjectRequest) -> Result<Fingerprint, Error> {
        let prepared = self.prepare(request)?;
        let hash = |body: &[u8]| {
            let mut bytes = Vec::with_capacity(prepared.path.len() + body.len() + 2);
            bytes.extend_from_slice(prepared.path.as_bytes());
            bytes.push(b'\n');
            bytes.extend_from_slice(body);
            if let (Some(upload), Content::Attachment(attachment)) =
                (&prepared.upload, &request.content)
            {
                bytes.push(b'\n');
                bytes.extend_from_slice(&upload.body);
                bytes.extend_from_slice(&fnv1a_128(&attachment.bytes).to_le_bytes());
            }
            format!("{:032x}", fnv1a_128(&bytes))
        };
        let legacy = hash(&prepared.body);
        let body = String::from_utf8_lossy(&prepared.body);
        let nfc: String = body.nfc().collect();
        Ok(Fingerprint {
            now: hash(nfc.as_bytes()),
            legacy,
        })
    }
}

/// The journal id of each line (`None` where its fingerprint is not
/// known: an invalid line, which no record names): its own id; or, known by
/// its recipient, the id of the journal's record of that recipient with the
/// same content (its own rank first), else the record of the last release
/// with the same content, else its own rank (when no other line of that
/// recipient took it), else another record of that recipient that no line
/// took (its content changed), else a rank no record has.
#[inline]
pub(super) fn journal_ids(
    lines: &[BatchLine],
    fingerprints: &[Option<Fingerprint>],
    journal: &Journal,
) -> Vec<Option<String>> {
    let mut ids: Vec<Option<String>> = vec![None; lines.len()];
    let mut taken: HashSet<String> = HashSet::new();
    // Each recipient's natural ids, in the lines' order.
    let mut ranks: HashMap<u128, usize> = HashMap::new();
    let natural: Vec<Option<String>> = lines
        .iter()
        .map(|line| {
            line.recipient.map(|key| {
                let rank = ranks.entry(key).or_default();
                *rank += 1;
                ranked(key, *rank)
            })
        })
        .collect();
    for (i, line) in lines.iter().enumerate() {
        if line.recipient.is_none() && fingerprints[i].is_some() {
            taken.insert(line.id.clone());
            ids[i] = Some(line.id.clone());
        }
    }
    // This batch's records: by content, and by recipient.
    let mut by_content: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut by_recipient: HashMap<&str, Vec<(usize, &str)>> = HashMap::new();
    for (id, entry) in journal.entries() {
        by_content.entry(&entry.fingerprint).or_default().push(id);
        if let Some((key, rank)) = id
            .strip_prefix(BY_RECIPIENT)
            .and_then(|rest| rest.split_once('#'))
        {
            if let Ok(rank) = rank.parse::<usize>() {
                by_recipient.entry(key).or_default().push((rank, id));
            }
        }
    }
    for records in by_content.values_mut() {
        records.sort_unstable();
    }
    for records in by_recipient.values_mut() {
        records.sort_unstable();
    }
    let pending = |ids: &Vec<Option<String>>| {
        (0..lines.len())
            .filter(|&i| ids[i].is_none() && natural[i].is_some() && fingerprints[i].is_some())
            .collect::<Vec<_>>()
    };
    // Its own rank, with its content.
    for i in pending(&ids) {
        let (id, fp) = (
            natural[i].as_ref().unwrap(),
            fingerprints[i].as_ref().unwrap(),
        );
        if journal.record(id).is_some_and(|e| fp.is(&e.fingerprint)) && taken.insert(id.clone()) {
            ids[i] = Some(id.clone());
        }
    }
    // Another record of its recipient with its content (reordered), or a
    // record of the last release with its content.
    for i in pending(&ids) {
        let (id, fp) = (
            natural[i].as_ref().unwrap(),
            fingerprints[i].as_ref().unwrap(),
        );
        let group = &id[..id.find('#').unwrap()];
        let same = [&fp.now, &fp.legacy]
            .into_iter()
            .flat_map(|f| by_content.get(f.as_str()).into_iter().flatten())
            .filter(|r| r.starts_with(group) || !r.starts_with(BY_RECIPIENT))
            .find(|r| !taken.contains(**r));
        if let Some(record) = same {
            taken.insert((*record).to_owned());
            ids[i] = Some((*record).to_owned());
        }
    }
    // Its own rank (new, or a conflict); else a record of its recipient no
    // line took (a conflict); else a new rank.
    for i in pending(&ids) {
        let id = natural[i].clone().unwrap();
        let key = &id[BY_RECIPIENT.len()..id.find('#').unwrap()];
        let chosen = if !taken.contains(&id) {
            id
        } else if let Some((_, record)) = by_recipient
            .get(key)
            .into_iter()
            .flatten()
            .find(|(_, r)| !taken.contains(*r))
        {
            (*record).to_owned()
        } else {
            let key = u128::from_str_radix(key, 16).unwrap_or_default();
            (1..)
                .map(|rank| ranked(key, rank))
                .find(|r| !taken.contains(r) && journal.record(r).is_none())
                .expect("a free rank")
        };
        taken.insert(chosen.clone());
        ids[i] = Some(chosen);
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Record;
    use crate::state::tests::scratch;
    use crate::{ContentBlock, InjectRequest};

    const CONV: [&str; 2] = [
        "ec35f2a8-289b-42d4-8893-c50eaf81a3c1",
        "0b2d9a4e-6f1c-4c7e-9a55-1d3f8e2b7c90",
    ];

    fn line(conv: usize, text: &str) -> BatchLine {
        BatchLine::by_recipient(InjectRequest::to_conversation(
            CONV[conv],
            vec![ContentBlock::text(text)],
        ))
    }

    fn fp(text: &str) -> Fingerprint {
        Fingerprint {
            now: format!("now-{text}"),
            legacy: format!("old-{text}"),
        }
    }

    /// The ids of `lines` (texts to conversations) against a journal that
    /// recorded `recorded` (ids and texts), and the records they name.
    fn ids(recorded: &[(&str, &str)], lines: &[(usize, &str)]) -> Vec<String> {
        let dir = scratch("identity");
        let mut journal = Journal::open(dir.join("j.jsonl"), "b").unwrap();
        journal.bind("client", std::sync::Arc::new(crate::SystemClock));
        for (id, text) in recorded {
            journal
                .write(id, &fp(text).now, Record::Sent { message_id: None })
                .unwrap();
        }
        let batch: Vec<BatchLine> = lines.iter().map(|(c, t)| line(*c, t)).collect();
        let fps: Vec<Option<Fingerprint>> = lines.iter().map(|(_, t)| Some(fp(t))).collect();
        let ids = journal_ids(&batch, &fps, &journal);
        std::fs::remove_dir_all(&dir).unwrap();
        ids.into_iter().map(Option::unwrap).collect()
    }

    fn r(conv: usize, rank: usize) -> String {
        let request = InjectRequest::to_conversation(CONV[conv], vec![ContentBlock::text("x")]);
        ranked(recipient_key(&request), rank)
    }

    #[test]
    fn a_line_is_its_recipient_and_rank_matched_by_content_first() {
        // First run: ranks in order.
        assert_eq!(
            ids(&[], &[(0, "a"), (1, "b"), (0, "c")]),
            [r(0, 1), r(1, 1), r(0, 2)]
        );
        let (a1, c2, b1) = (r(0, 1), r(0, 2), r(1, 1));
        let recorded = [(a1.as_str(), "a"), (c2.as_str(), "c"), (b1.as_str(), "b")];
        // Reordered, the two lines to one conversation swapped: the same.
        assert_eq!(
            ids(&recorded, &[(0, "c"), (1, "b"), (0, "a")]),
            [r(0, 2), r(1, 1), r(0, 1)]
        );
        // New wording for "a": that line (a conflict), not a new one.
        assert_eq!(
            ids(&recorded, &[(0, "A!"), (1, "b"), (0, "c")]),
            [r(0, 1), r(1, 1), r(0, 2)]
        );
        // A third line to conversation 0: a new rank.
        assert_eq!(
            ids(&recorded, &[(0, "c"), (0, "new"), (0, "a")]),
            [r(0, 2), r(0, 3), r(0, 1)]
        );
        // A record of the last release (its own id) with this content.
        assert_eq!(
            ids(&[("1f3e#1", "a")], &[(0, "a"), (0, "z")]),
            ["1f3e#1".to_owned(), r(0, 2)]
        );
    }
}
