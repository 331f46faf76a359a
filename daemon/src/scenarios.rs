//! The names of the scenario plugins shipped with firedrill (built from `plugins/`).
//!
//! The host knows no scenario's logic; it only needs their names to check that a drill's
//! phases refer to something that exists. The list lives in the core, beside the
//! configuration that checks against it.

pub use firedrill_core::config::BUILTIN_SCENARIOS as BUILTIN;
