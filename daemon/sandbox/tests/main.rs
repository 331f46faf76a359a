//! firedrill-sandbox's integration tests, one binary (one link instead of three).

mod common;

mod api;
mod exec;
mod kubectl;
mod python;
mod rbac;
mod watch;
