//! The message sent after a run, composed from its rendered report, and its MIME form.

use firedrill_core::config::Email;
use firedrill_core::report::Rendered;
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use serde::{Deserialize, Serialize};

use crate::NotifyError;

/// A file attached to the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub content: String,
}

/// One run's email, as queued in the outbox (serialised) and later sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingEmail {
    pub run_id: String,
    /// Stable per run, so a message sent twice after a crash can be recognised.
    pub message_id: String,
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub attachments: Vec<Attachment>,
}

impl OutgoingEmail {
    /// The message for `run_id` from its rendered report: to the configured recipients
    /// plus the drill's own, the report (Markdown and HTML) and the agenda attached.
    pub fn compose(
        run_id: &str,
        rendered: &Rendered,
        email: &Email,
        drill_recipients: &[String],
    ) -> OutgoingEmail {
        let mut to: Vec<String> = Vec::new();
        for address in email.to.iter().chain(drill_recipients) {
            if !to.contains(address) {
                to.push(address.clone());
            }
        }
        let cc = email
            .cc
            .iter()
            .filter(|address| !to.contains(address))
            .cloned()
            .collect();
        let attachment = |suffix: &str, content_type: &str, content: &str| Attachment {
            filename: format!("{run_id}-{suffix}"),
            content_type: content_type.to_string(),
            content: content.to_string(),
        };
        OutgoingEmail {
            run_id: run_id.to_string(),
            message_id: format!("<{run_id}@firedrill.invalid>"),
            from: email.from.clone(),
            to,
            cc,
            subject: rendered.subject.clone(),
            text: rendered.email_text.clone(),
            html: rendered.email_html.clone(),
            attachments: vec![
                attachment(
                    "report.md",
                    "text/markdown; charset=utf-8",
                    &rendered.report_markdown,
                ),
                attachment(
                    "report.html",
                    "text/html; charset=utf-8",
                    &rendered.report_html,
                ),
                attachment(
                    "agenda.md",
                    "text/markdown; charset=utf-8",
                    &rendered.agenda_markdown,
                ),
            ],
        }
    }

    /// The MIME message: multipart/mixed of (text | html alternative) and the attachments.
    pub fn to_message(&self) -> Result<Message, NotifyError> {
        if self.to.is_empty() && self.cc.is_empty() {
            return Err(NotifyError::NoRecipient);
        }
        let mailbox = |address: &str| -> Result<Mailbox, NotifyError> {
            address.parse().map_err(|source| NotifyError::Address {
                address: address.to_string(),
                source,
            })
        };
        let mut builder = Message::builder()
            .from(mailbox(&self.from)?)
            .subject(self.subject.clone())
            .message_id(Some(self.message_id.clone()));
        for address in &self.to {
            builder = builder.to(mailbox(address)?);
        }
        for address in &self.cc {
            builder = builder.cc(mailbox(address)?);
        }
        let mut body = MultiPart::mixed().multipart(MultiPart::alternative_plain_html(
            self.text.clone(),
            self.html.clone(),
        ));
        for attachment in &self.attachments {
            let content_type = ContentType::parse(&attachment.content_type)
                .map_err(|_| NotifyError::ContentType(attachment.content_type.clone()))?;
            let part: SinglePart = lettre::message::Attachment::new(attachment.filename.clone())
                .body(attachment.content.clone(), content_type);
            body = body.singlepart(part);
        }
        builder.multipart(body).map_err(NotifyError::Build)
    }
}
