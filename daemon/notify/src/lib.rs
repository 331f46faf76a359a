//! Telling people about runs through a persistent outbox: the report by email (SMTP or a
//! local Maildir), webhooks (firedrill's JSON summary or a Slack message) and Grafana
//! annotations over HTTP.
//!
//! After a run the engine calls [`publish_run`], which records the run in the chain and
//! [`enqueue`]s one [`OutgoingEmail`] (subject with drill, verdict and date; text and HTML
//! bodies, the report's charts as inline PNG images; report and agenda attached) in the
//! store's outbox, and one message per webhook
//! and per phase annotation ([`enqueue_finished`]); a run's start queues its `started`
//! webhooks ([`enqueue_started`]). The daemon calls [`deliver_due`] (or runs
//! [`run_outbox`]) to send the email through a [`Mailer`], and [`deliver_pushes`] to POST
//! the rest through a [`Pusher`], each retrying with exponential [`Backoff`]. The outbox
//! lives in the store, so a message survives restarts; each run has at most one email and
//! one message per push channel.
//!
//! Delivery is exactly once as far as a crash allows: a message is claimed before it is
//! sent and marked delivered right after. A daemon killed between the server's "250 OK"
//! (or a webhook's 2xx) and that mark sends it again once its claim lease (10 minutes) has
//! expired — an email with the same Message-ID, so mail systems can drop the duplicate; it
//! is never lost.
//!
//! # Layout
//! - [`message`]: [`OutgoingEmail`], composed from a rendered report; conversion to MIME.
//! - [`charts`]: the report's charts as PNG ([`InlineImage`]s the HTML body shows by
//!   `cid:`), rasterised with resvg without fonts.
//! - [`mailer`]: the [`Mailer`] trait, [`SmtpMailer`] (lettre, STARTTLS / TLS / plain,
//!   credentials from env or file) and [`MaildirMailer`].
//! - [`outbox`]: [`enqueue`], [`deliver_due`], [`run_outbox`], [`Backoff`].
//! - [`webhook`]: [`RunSummary`], the versioned JSON a webhook receives, and its Slack form.
//! - [`grafana`]: a run's region annotations, one per phase.
//! - [`push`]: [`Push`], the queued webhooks and annotations, [`enqueue_finished`],
//!   [`enqueue_started`], [`deliver_pushes`] and the [`Pusher`] trait.
//! - [`http`](mod@http): [`HttpPusher`], pushes over HTTP(S) with hyper.
//! - [`publish`]: [`publish_run`], what the engine calls after a run: render, append to the
//!   chain, queue the email and the pushes.

pub mod charts;
pub mod grafana;
pub mod http;
pub mod mailer;
pub mod message;
pub mod outbox;
pub mod publish;
pub mod push;
pub mod webhook;

pub use charts::{ChartError, InlineImage};
pub use http::HttpPusher;
pub use mailer::{
    ConfiguredMailer, MaildirMailer, Mailer, SmtpMailer, mailer_from_config, resolve_secret,
};
pub use message::{Attachment, OutgoingEmail};
pub use outbox::{Backoff, DeliveryPass, deliver_due, enqueue, run_outbox};
pub use publish::{PublishError, Published, Queued, publish_run, queue_notifications, render_run};
pub use push::{
    Push, PushPass, PushRequest, Pusher, deliver_pushes, enqueue_finished, enqueue_started,
    pushes_configured,
};
pub use webhook::{RunSummary, SUMMARY_VERSION};

/// Why a message could not be composed, queued or sent.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("invalid email address `{address}`")]
    Address {
        address: String,
        #[source]
        source: lettre::address::AddressError,
    },
    #[error("cannot build the message")]
    Build(#[source] lettre::error::Error),
    #[error("invalid content type `{0}`")]
    ContentType(String),
    #[error("the message has no recipient")]
    NoRecipient,
    #[error("smtp delivery to {server} failed")]
    Smtp {
        server: String,
        #[source]
        source: lettre::transport::smtp::Error,
    },
    #[error("cannot write to the maildir {path}")]
    Maildir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The SMTP password could not be read; the field is named here, not in [`SecretError`].
    #[error("smtp password: {0}")]
    SmtpPassword(SecretError),
    /// A webhook or Grafana refused a push or could not be reached. `target` names it
    /// (`webhook `chat``, `grafana`); `problem` never quotes its URL or headers.
    #[error("{target}: {problem}")]
    Push { target: String, problem: String },
    /// A secret of a push (its URL, a header, the token) could not be read.
    #[error("{target}: {field}")]
    PushSecret {
        target: String,
        field: String,
        #[source]
        source: SecretError,
    },
    #[error("cannot load the platform's root certificates for HTTPS")]
    TlsRoots(#[source] std::io::Error),
    #[error("outbox storage failed")]
    Store(#[from] firedrill_store::StoreError),
    #[error("cannot encode or decode a queued message")]
    Json(#[from] serde_json::Error),
}

/// Why a secret (`env:` or `file:`) could not be read. The message does not name the field:
/// every caller (SMTP password, API token, connection passwords) prefixes its own.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    #[error("cannot read {path}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
}
