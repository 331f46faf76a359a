//! The store's integration tests, one binary: the chain on a real SQLite file, floats that must verify, and the migration of an old storage directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chain;
mod floats;
mod migrate;
