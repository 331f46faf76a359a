//! The store's integration tests, one binary: the chain on a real SQLite file, and floats that must verify.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chain;
mod floats;
