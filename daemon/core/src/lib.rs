//! The pure core of firedrill: configuration, schedule arithmetic and the domain model.
//!
//! Nothing in this crate touches a socket, a file or the clock (the one exception is
//! [`config::load_file`], a thin convenience that reads the file and hands the text to the
//! pure [`config::load_str`]); adapters live in the `firedrill` crate.
//!
//! # Layout
//! - [`config`]: the YAML configuration: raw serde types, the source map that locates
//!   every field, and resolution into a checked [`config::Config`] with located diagnostics.
//! - [`schedule`]: five-field cron in IANA time zones, DST rules, blackout windows.
//! - [`measure`]: availability and p95 latency per service and phase (HDR histogram), the
//!   abort window, phase verdicts and the drill outcome.
//! - [`canary`]: data loss from canary writes and what was read back after recovery.
//! - [`series`]: probe results and canary writes over time, bucketed compactly for charts.
//! - [`run`]: the record of one drill run (timeline, per-phase measurements and verdicts,
//!   availability, data loss, evidence): what the engine produces and everything after reads.
//! - [`report`]: the post-drill report, review agenda and auditor's view as typed models,
//!   rendered with tera from the templates in `reports/` (overridable), as JSON, and as
//!   JUnit XML for CI (one testsuite per run, one testcase per objective and check).
//! - [`scheduler`]: what the daemon does when it wakes: due runs, blackout and missed
//!   slots, catch-up runs (pure, DST-tested).
//! - [`selector`]: Kubernetes label selectors (kubectl syntax).
//! - [`duration`]: human-written durations (`90s`, `2m`, `1h30m`).

pub mod canary;
pub mod check;
pub mod config;
pub mod duration;
pub mod measure;
pub mod report;
pub mod run;
pub mod schedule;
pub mod scheduler;
pub mod selector;
pub mod series;
