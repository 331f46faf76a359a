//! The `firedrill` binary's library: command-line interface, commands, and adapter wiring.
//!
//! # Layout
//! - [`app`]: the application services commands and the API call: sessions on targets,
//!   recovery of interrupted runs on the cluster they ran on, publishing runs.
//! - [`adapters`]: the real ports: `KubeCluster` (Kubernetes API), `HttpProber`.
//! - [`api`]: the daemon's HTTP API (axum): health, metrics, drills, runs, reports, triggers;
//!   [`api::console`], the web console's pages and forms.
//! - [`cli`]: clap definitions of every subcommand and its help.
//! - [`commands`]: one module per subcommand; each returns an [`ExitCode`](exit::Exit).
//! - [`election`]: leader election with a Kubernetes Lease, so one replica runs drills.
//! - [`engine`]: runs a drill's phases through the ports in [`engine::ports`]
//!   (scenario host, prober, baseline, journal), measuring and recording the run.
//! - [`exit`]: the exit codes firedrill promises (0 pass, 1 objective failed, 2 error,
//!   3 aborted) and the command error type.
//! - [`metrics`]: the Prometheus metrics, updated from run records and schedules.
//! - [`scenarios`]: the names of the built-in scenario plugins.

pub mod adapters;
pub mod api;
pub mod app;
pub mod cli;
pub mod commands;
pub mod election;
pub mod engine;
pub mod exit;
pub mod metrics;
pub mod output;
pub mod present;
pub mod scenarios;

use std::path::Path;

use firedrill_core::config::{self, Config, ConfigError, ResolveContext};

/// Loads and resolves the configuration file, knowing the built-in scenarios.
pub fn load_config(path: &Path) -> Result<Config, ConfigError> {
    config::load_file(path, &resolve_context())
}

/// What configuration resolution needs from the binary.
pub fn resolve_context() -> ResolveContext {
    ResolveContext::builtin()
}
