//! The names of the scenario plugins shipped with firedrill (built from `plugins/`).
//!
//! The host knows no scenario's logic; it only needs their names to check that a drill's
//! phases refer to something that exists.

/// Built-in scenario names, in the order of the runbook's drill procedure.
pub const BUILTIN: &[&str] = &[
    "pre-drill",
    "pod-failure",
    "zone-failure",
    "cassandra-node",
    "postgres-failover",
    "redis-sentinel-failover",
    "kafka-broker",
    "postgres-restore",
    "full-recovery",
];
