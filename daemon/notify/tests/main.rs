//! firedrill-notify's integration tests, one binary (one link instead of three).

mod publish;
mod smtp;
mod webhooks;
