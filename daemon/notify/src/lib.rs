//! Email delivery of reports through a persistent outbox: SMTP or a local Maildir.
