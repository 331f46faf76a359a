//! The store's integration tests, one binary: the contract of every trait run on both backends (a SQLite file, a real PostgreSQL server), PostgreSQL under concurrent replicas, and the migration of an old SQLite storage directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod backends;
mod postgres_server;

mod bundle;
mod chain;
mod floats;
mod journal;
mod migrate;
mod outbox;
mod replicas;
mod schedule;
