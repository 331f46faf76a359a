//! Email delivery of reports through a persistent outbox: SMTP or a local Maildir.
//!
//! After a run the engine calls [`publish_run`], which records the run in the chain and
//! [`enqueue`]s one [`OutgoingEmail`] (subject with drill, verdict and date; text and HTML
//! bodies; report and agenda attached) in the store's outbox; the daemon calls [`deliver_due`] (or runs [`run_outbox`]) to send what is due through a
//! [`Mailer`], retrying with exponential [`Backoff`]. The outbox lives in the run store's
//! SQLite file, so a message survives restarts; each run has at most one message.
//!
//! Delivery is exactly once as far as a crash allows: a message is claimed before it is
//! sent and marked delivered right after. A daemon killed between the server's "250 OK"
//! and that mark sends it again once its claim lease (10 minutes) has expired, with the
//! same Message-ID, so mail systems can drop the duplicate; it is never lost.
//!
//! # Layout
//! - [`message`]: [`OutgoingEmail`], composed from a rendered report; conversion to MIME.
//! - [`mailer`]: the [`Mailer`] trait, [`SmtpMailer`] (lettre, STARTTLS / TLS / plain,
//!   credentials from env or file) and [`MaildirMailer`].
//! - [`outbox`]: [`enqueue`], [`deliver_due`], [`run_outbox`], [`Backoff`].
//! - [`publish`]: [`publish_run`], what the engine calls after a run: render, append to the
//!   chain, queue the email.

pub mod mailer;
pub mod message;
pub mod outbox;
pub mod publish;

pub use mailer::{
    ConfiguredMailer, MaildirMailer, Mailer, SmtpMailer, mailer_from_config, resolve_secret,
};
pub use message::{Attachment, OutgoingEmail};
pub use outbox::{Backoff, DeliveryPass, deliver_due, enqueue, run_outbox};
pub use publish::{PublishError, Published, publish_run, render_run};

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
