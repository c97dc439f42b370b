//! The command line's flags as the library's `lines` module takes them:
//! one message's route and content, or every line's defaults and the
//! file's columns.

use crate::args::Args;

impl Args {
    /// What the flags say of a message (or of every line of a batch), as
    /// the library's `lines` module takes it.
    pub(crate) fn line_flags(&self) -> genesys_inject::lines::LineFlags {
        let mut flags = genesys_inject::lines::LineFlags::default();
        flags.conversation = self.conversation.clone();
        flags.communication = self.communication.clone();
        flags.agentless = self.agentless.clone();
        flags.from = self.from.clone();
        flags.to = self.to.clone();
        flags.contact = self.contact.clone();
        flags.new_conversation = self.new_conversation;
        flags.template = self.template.clone();
        flags.params = self.params.clone();
        flags.attach = self.attach.clone();
        flags.delay_ms = self.delay_ms;
        flags.texts = self.texts.clone();
        flags.spaced_texts = self.spaced_texts;
        flags.to_column = self.to_column.clone();
        flags.conversation_column = self.conversation_column.clone();
        flags.contact_column = self.contact_column.clone();
        flags.id_column = self.id_column.clone();
        flags.text_column = self.text_column.clone();
        flags.tz_column = self.tz_column.clone();
        flags.tz = self.tz.clone();
        flags.csv_delimiter = self.csv_delimiter.clone();
        flags.default_country = self.default_country.clone();
        flags
    }
}
