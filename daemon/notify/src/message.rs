//! The message sent after a run, composed from its rendered report, and its MIME form.

use firedrill_core::config::Email;
use firedrill_core::report::Rendered;
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use serde::{Deserialize, Serialize};

use crate::NotifyError;
use crate::charts::{InlineImage, png};

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
    /// The report's charts as PNG, shown in `html` by their `cid:` (none for runs queued
    /// before charts were sent; left out of the queued form then).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inline_images: Vec<InlineImage>,
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
            inline_images: chart_images(run_id, rendered),
        }
    }

    /// The MIME message: multipart/mixed of (text | html alternative) and the attachments;
    /// with inline images, the html is multipart/related to them.
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
        let alternative = if self.inline_images.is_empty() {
            MultiPart::alternative_plain_html(self.text.clone(), self.html.clone())
        } else {
            let mut related = MultiPart::related().singlepart(SinglePart::html(self.html.clone()));
            for image in &self.inline_images {
                let content_type = ContentType::parse(&image.content_type)
                    .map_err(|_| NotifyError::ContentType(image.content_type.clone()))?;
                related = related.singlepart(
                    lettre::message::Attachment::new_inline_with_name(
                        image.content_id.clone(),
                        image.filename.clone(),
                    )
                    .body(image.content.clone(), content_type),
                );
            }
            MultiPart::alternative()
                .singlepart(SinglePart::plain(self.text.clone()))
                .multipart(related)
        };
        let mut body = MultiPart::mixed().multipart(alternative);
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

/// The report's charts as PNG. A chart that cannot be rasterised (a bug, never the run's
/// data: the SVG is ours) is left out with a warning in the log; the email still goes, the
/// chart's title, notes and alt text with it, and the attached HTML report has the SVG.
fn chart_images(run_id: &str, rendered: &Rendered) -> Vec<InlineImage> {
    rendered
        .charts
        .all()
        .filter_map(|chart| match png(chart) {
            Ok(image) => Some(image),
            Err(err) => {
                tracing::warn!(run = run_id, chart = %chart.id, error = %err, "Could not rasterise a chart for the email; it is sent without that image");
                None
            }
        })
        .collect()
}
