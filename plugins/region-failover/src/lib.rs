//! Built-in scenario `region-failover` (the DR runbook's "Region Failover": "Activate DR
//! Region" and "Failback to Primary"), one step per phase on the phase's own cluster:
//! `outage` takes the primary region out (workloads scaled to 0, nodes cordoned and
//! drained), `activate` makes the DR region serve (traffic switch, replicas, environment,
//! replication checks), `failback` returns to the primary and switches traffic back.
//!
//! A plugin sees one cluster, and two phases of a drill keep separate state: what the
//! `failback` phase restores is therefore written on the objects themselves (the
//! annotations `firedrill.io/replicas-before-outage` on workloads and
//! `firedrill.io/cordoned-by` on nodes), where an operator reading `kubectl get -o yaml`
//! finds it too. Each phase's own `state` keeps what its rollback undoes.
//!
//! # Layout
//!
//! - this file: the constants every step shares and the `Scenario` dispatching on `step`.
//! - [`params`]: the parameters and their checks.
//! - [`outage`], [`activate`], [`failback`]: one step each (plan, inject, verify,
//!   rollback); [`replication`]: `activate`'s replication checks; [`traffic`]: the
//!   traffic switch `activate` and `failback` share.
//! - [`objects`]: Kubernetes objects (reads, merge patches, a service's workloads, noted
//!   nodes); [`selector`]: label selectors; [`steps`]: the record of steps and its times.

mod activate;
mod failback;
mod objects;
mod outage;
mod params;
mod replication;
mod selector;
mod steps;
mod traffic;

// The modules share this crate's names through `use super::*`.
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use firedrill_sdk::postgres;
use firedrill_sdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use activate::*;
use failback::*;
use objects::*;
use outage::*;
use params::*;
use replication::*;
use selector::*;
use steps::*;
use traffic::*;

/// On a workload the outage scaled to 0: its replica count before, for `failback`.
const REPLICAS_ANNOTATION: &str = "firedrill.io/replicas-before-outage";
/// On a node the outage cordoned: the run that cordoned it.
const CORDONED_ANNOTATION: &str = "firedrill.io/cordoned-by";
/// How long one `nodetool describecluster` may take.
const EXEC_TIMEOUT_MS: u32 = 60_000;
/// How long one traffic-switch request may take.
const HTTP_TIMEOUT_MS: u32 = 30_000;
/// How long a drain retries evictions a disruption budget blocks, per node, by default.
const DEFAULT_DRAIN_TIMEOUT_SECONDS: u32 = 30;
/// How long `failback` waits for the primary before switching traffic back, by default.
const DEFAULT_READY_TIMEOUT_SECONDS: u32 = 90;
/// The replay lag `replication.postgres` accepts by default.
const DEFAULT_MAX_LAG: &str = "5m";

// State keys, per phase.
const SCALED_KEY: &str = "scaled";
const CORDONED_KEY: &str = "cordoned";
const RESTORED_KEY: &str = "restored";
const TRAFFIC_KEY: &str = "traffic";
const ENV_KEY: &str = "env";
const STEPS_KEY: &str = "steps";
const REPLICATION_KEY: &str = "replication";

struct RegionFailover;

impl Scenario for RegionFailover {
    type Params = Params;

    fn describe() -> Description {
        let call = serde_json::json!({
            "type": "object",
            "required": ["method", "url"],
            "properties": {
                "method": { "type": "string" },
                "url": { "type": "string" },
                "headers": { "type": "object", "additionalProperties": { "type": "string" } },
                "body": {}
            },
            "additionalProperties": false
        });
        let mut switch = call.clone();
        switch["properties"]["rollback"] = call;
        Description::new(
            "region-failover",
            "0.1.0",
            "The DR runbook's Region Failover, one step per phase on the phase's cluster: outage (scale the primary's workloads to 0 and/or cordon and drain its nodes, noting what was there on the objects), activate (switch traffic, scale up, set env, check Cassandra and PostgreSQL replication; recovered when the DR services are Ready) and failback (restore what the outage noted, switch traffic back).",
        )
        .params_schema(serde_json::json!({
            "type": "object",
            "required": ["step"],
            "properties": {
                "step": { "enum": ["outage", "activate", "failback"] },
                "take_out": { "enum": ["scale", "drain", "both"], "default": "scale" },
                "nodes": { "type": "string" },
                "drain_timeout_seconds": { "type": "integer", "minimum": 1, "default": DEFAULT_DRAIN_TIMEOUT_SECONDS },
                "replicas": { "type": "integer", "minimum": 1 },
                "env": { "type": "object", "additionalProperties": { "type": ["string", "number", "boolean"] } },
                "traffic": {
                    "type": "object",
                    "properties": {
                        "http": switch,
                        "annotate": {
                            "type": "object",
                            "required": ["kind", "namespace", "name", "annotations"],
                            "properties": {
                                "api_version": { "type": "string" },
                                "kind": { "type": "string" },
                                "namespace": { "type": "string" },
                                "name": { "type": "string" },
                                "annotations": { "type": "object", "additionalProperties": { "type": ["string", "number", "boolean"] } }
                            },
                            "additionalProperties": false
                        }
                    },
                    "additionalProperties": false
                },
                "replication": {
                    "type": "object",
                    "properties": {
                        "cassandra": {
                            "type": "object",
                            "required": ["namespace", "pod"],
                            "properties": {
                                "namespace": { "type": "string" },
                                "pod": { "type": "string" },
                                "container": { "type": "string" }
                            },
                            "additionalProperties": false
                        },
                        "postgres": {
                            "type": "object",
                            "required": ["connection"],
                            "properties": {
                                "connection": { "type": "string" },
                                "max_lag": { "type": "string", "default": DEFAULT_MAX_LAG }
                            },
                            "additionalProperties": false
                        }
                    },
                    "additionalProperties": false
                },
                "ready_timeout_seconds": { "type": "integer", "minimum": 1, "default": DEFAULT_READY_TIMEOUT_SECONDS },
                "workloads": { "type": "object", "additionalProperties": { "type": "string" } }
            },
            "additionalProperties": false
        }))
        .needs(Capability::cluster(&[Verb::Get, Verb::List, Verb::Watch, Verb::Patch], &["*"]))
        .needs(Capability::cluster(&[Verb::Get, Verb::List, Verb::Patch], &[":cluster"]))
        .needs(Capability::cluster(&[Verb::Evict], &["*"]))
        .needs(Capability::Exec(vec!["*".into()]))
        .needs(Capability::Http(vec!["params.traffic.http.url".into()]))
        .needs(Capability::Postgres("params.replication.postgres.connection".into()))
    }

    fn plan(phase: &Phase<Params>) -> Result<Vec<Action>, Error> {
        validate(phase)?;
        match phase.params.step {
            Step::Outage => outage_plan(phase),
            Step::Activate => activate_plan(phase),
            Step::Failback => failback_plan(phase),
        }
    }

    fn inject(phase: &Phase<Params>) -> Result<(), Error> {
        validate(phase)?;
        match phase.params.step {
            Step::Outage => outage_inject(phase),
            Step::Activate => activate_inject(phase),
            Step::Failback => failback_inject(phase),
        }
    }

    fn verify(phase: &Phase<Params>) -> Result<Verdict, Error> {
        match phase.params.step {
            Step::Outage => outage_verify(phase),
            Step::Activate => activate_verify(phase),
            Step::Failback => failback_verify(phase),
        }
    }

    fn findings(phase: &Phase<Params>) -> Result<Findings, Error> {
        let mut findings = Findings::none();
        if phase.params.step == Step::Activate
            && let Some(seen) = state::get_json::<ReplicationSeen>(REPLICATION_KEY)
        {
            for follow_up in seen.follow_ups {
                findings = findings.follow_up(follow_up);
            }
        }
        Ok(findings)
    }

    fn rollback(phase: &Phase<Params>) -> Result<(), Error> {
        match phase.params.step {
            Step::Outage => outage_rollback(),
            Step::Activate => activate_rollback(),
            Step::Failback => failback_rollback(),
        }
    }
}

export_scenario!(RegionFailover);
