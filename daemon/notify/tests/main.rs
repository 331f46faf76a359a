//! firedrill-notify's integration tests, one binary (one link instead of two).

mod publish;
mod smtp;
