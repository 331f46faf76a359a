//! firedrill-sandbox's integration tests, one binary (one link instead of three).

mod common;

mod api;
mod exec;
mod kubectl;
mod processes;
mod python;
mod rbac;
mod rollouts;
mod watch;
