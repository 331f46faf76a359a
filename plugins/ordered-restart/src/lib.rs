//! Built-in scenario `ordered-restart` (DR runbook, "Service Recovery — All Services
//! Down"): restarts the phase's services in the runbook's order, a step at a time — each
//! service's Deployment or StatefulSet (found from its pods' owners) rollout-restarted,
//! then waited on until it has rolled (every replica updated and Ready, as `kubectl
//! rollout status` waits) instead of the runbook's fixed `sleep`s — and times each step.
//! The restarts are the fault, so they run in `inject`; `verify` is the final readiness
//! check. Nothing to roll back: restarts are not reverted.

use std::collections::BTreeSet;

use firedrill_sdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Params {
    /// The steps in order, each a list of service names restarted together. Default: every
    /// service of the phase in one step.
    order: Option<Vec<Vec<String>>>,
    /// How long one step may take to roll before the procedure stops.
    #[serde(deserialize_with = "firedrill_sdk::duration::deserialize_ms")]
    step_timeout: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            order: None,
            step_timeout: 600_000,
        }
    }
}

/// Milliseconds as `30 s`, `1.5 s`.
fn seconds(ms: u64) -> String {
    let text = format!("{:.3}", ms as f64 / 1000.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} s")
}

/// How often a step's rollouts are read while it rolls.
const POLL_MS: u32 = 250;

/// `state` key: the steps as far as they got.
const STEPS: &str = "steps";

/// A workload to restart.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Workload {
    namespace: String,
    /// `Deployment` or `StatefulSet`.
    kind: String,
    name: String,
}

impl Workload {
    fn label(&self) -> String {
        format!("{}/{}", self.kind.to_lowercase(), self.name)
    }
}

/// One step and how it went, kept in `state` as the procedure goes (for `findings`, a
/// fresh instance, and for a look after a crash).
#[derive(Serialize, Deserialize, Clone, Debug)]
struct StepRecord {
    services: Vec<String>,
    workloads: Vec<Workload>,
    /// When the step's first restart was sent, milliseconds after the procedure started.
    started_ms: u64,
    /// How long until every workload of the step had rolled; none while it rolls, or if
    /// it never did.
    rolled_ms: Option<u64>,
    /// Why the step stopped without rolling.
    failure: Option<String>,
}

struct OrderedRestart;

/// The steps as services of the phase: `order` checked against the phase's services
/// (each named once, all of them), or every service in one step.
fn steps(phase: &Phase<Params>) -> Result<Vec<Vec<&Service>>, Error> {
    let Some(order) = &phase.params.order else {
        if phase.services.is_empty() {
            return Err(Error::InvalidParams(
                "the phase names no service to restart".into(),
            ));
        }
        return Ok(vec![phase.services.iter().collect()]);
    };
    let mut seen = BTreeSet::new();
    let mut steps = Vec::new();
    for (index, names) in order.iter().enumerate() {
        if names.is_empty() {
            return Err(Error::InvalidParams(format!(
                "order: step {} names no service",
                index + 1
            )));
        }
        let mut step = Vec::new();
        for name in names {
            let Some(service) = phase.services.iter().find(|s| s.name == *name) else {
                return Err(Error::InvalidParams(format!(
                    "order: step {} names {name}, which is not a service of the phase",
                    index + 1
                )));
            };
            if !seen.insert(name.as_str()) {
                return Err(Error::InvalidParams(format!(
                    "order: {name} is named twice"
                )));
            }
            step.push(service);
        }
        steps.push(step);
    }
    if let Some(missing) = phase
        .services
        .iter()
        .find(|s| !seen.contains(s.name.as_str()))
    {
        return Err(Error::InvalidParams(format!(
            "order: the phase's service {} is in no step",
            missing.name
        )));
    }
    Ok(steps)
}

fn get_json(kind: &str, namespace: &str, name: &str) -> Result<Value, Error> {
    let text = cluster::get_object("apps/v1", kind, Some(namespace), name)?;
    serde_json::from_str(&text)
        .map_err(|e| Error::failed(format!("unreadable {kind} {namespace}/{name}: {e}")))
}

/// The controller named in an object's owner references, as `(kind, name)`.
fn controller(object: &Value) -> Option<(String, String)> {
    let owner = object
        .pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r["controller"].as_bool() == Some(true))?;
    Some((
        owner["kind"].as_str()?.to_owned(),
        owner["name"].as_str()?.to_owned(),
    ))
}

/// The Deployments and StatefulSets owning a service's pods: pod → ReplicaSet →
/// Deployment, or pod → StatefulSet.
fn workloads(service: &Service) -> Result<Vec<Workload>, Error> {
    let mut found = BTreeSet::new();
    let mut sets = BTreeSet::new();
    for pod in cluster::list_pods(&service.namespace, &service.selector)? {
        match pod.owner {
            Some((kind, name)) if kind == "ReplicaSet" => {
                sets.insert(name);
            }
            Some((kind, name)) if kind == "StatefulSet" => {
                found.insert(Workload {
                    namespace: service.namespace.clone(),
                    kind,
                    name,
                });
            }
            Some((kind, name)) => {
                return Err(Error::failed(format!(
                    "pod {} of {} belongs to {kind} {name}, which ordered-restart does not restart (Deployments and StatefulSets only)",
                    pod.name, service.name
                )));
            }
            None => {}
        }
    }
    for set in sets {
        let replica_set = get_json("ReplicaSet", &service.namespace, &set)?;
        match controller(&replica_set) {
            Some((kind, name)) if kind == "Deployment" => {
                found.insert(Workload {
                    namespace: service.namespace.clone(),
                    kind,
                    name,
                });
            }
            _ => {
                return Err(Error::failed(format!(
                    "ReplicaSet {set} of {} belongs to no Deployment: nothing to rollout-restart",
                    service.name
                )));
            }
        }
    }
    if found.is_empty() {
        return Err(Error::failed(format!(
            "{} has no pods: no workload to restart",
            service.name
        )));
    }
    Ok(found.into_iter().collect())
}

/// Has the workload rolled? `None` when every replica runs the new revision and is Ready
/// (what `kubectl rollout status` waits for), else where it is.
fn not_rolled(workload: &Workload) -> Result<Option<String>, Error> {
    let object = get_json(&workload.kind, &workload.namespace, &workload.name)?;
    let int = |pointer: &str| object.pointer(pointer).and_then(Value::as_i64);
    let wanted = int("/spec/replicas").unwrap_or(1);
    let generation = int("/metadata/generation").unwrap_or(0);
    let observed = int("/status/observedGeneration").unwrap_or(0);
    let ready = int("/status/readyReplicas").unwrap_or(0);
    let updated = int("/status/updatedReplicas").unwrap_or(0);
    let label = workload.label();
    if observed < generation {
        return Ok(Some(format!("{label}: restart not observed yet")));
    }
    let rolled = if workload.kind == "StatefulSet" {
        let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
        let update = text("/status/updateRevision").unwrap_or_default();
        !update.is_empty() && text("/status/currentRevision") == Some(update) && ready >= wanted
    } else {
        // No old replica left either: `kubectl rollout status`'s "old replicas are
        // pending termination".
        let replicas = int("/status/replicas").unwrap_or(0);
        updated >= wanted && ready >= wanted && replicas <= updated
    };
    Ok((!rolled).then(|| format!("{label}: {updated}/{wanted} updated, {ready}/{wanted} Ready")))
}

/// `restart-steps.txt`.
fn report(steps: &[StepRecord]) -> String {
    let mut text = format!("ordered restart in {} steps\n\n", steps.len());
    for (index, step) in steps.iter().enumerate() {
        let workloads: Vec<String> = step.workloads.iter().map(Workload::label).collect();
        let outcome = match (&step.rolled_ms, &step.failure) {
            (Some(ms), _) => format!("rolled in {}", seconds(*ms)),
            (None, Some(why)) => format!("NOT rolled: {why}"),
            (None, None) => "rolling (the procedure stopped here)".to_owned(),
        };
        text.push_str(&format!(
            "step {}  +{:>8.3} s  {}  [{}]  {outcome}\n",
            index + 1,
            step.started_ms as f64 / 1000.0,
            step.services.join(", "),
            workloads.join(", "),
        ));
    }
    if let Some(total) = total_ms(steps) {
        text.push_str(&format!("\ntotal {}\n", seconds(total)));
    }
    text
}

/// From the first restart until the last step rolled, when every step did.
fn total_ms(steps: &[StepRecord]) -> Option<u64> {
    let last = steps.last()?;
    if steps.iter().any(|s| s.rolled_ms.is_none()) {
        return None;
    }
    Some(last.started_ms + last.rolled_ms?)
}

impl Scenario for OrderedRestart {
    type Params = Params;

    fn describe() -> Description {
        Description::new(
            "ordered-restart",
            "0.1.0",
            "Rollout-restarts the phase's services in order, a step at a time, each step waited on until its Deployments and StatefulSets have rolled (no fixed sleeps); each step's duration is reported.",
        )
        .params_schema(serde_json::json!({
            "type": "object",
            "properties": {
                "order": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "array",
                        "minItems": 1,
                        "items": { "type": "string", "minLength": 1 }
                    }
                },
                "step_timeout": {
                    "type": ["string", "integer"],
                    "pattern": "^([0-9]+(ms|s|m|h))+$",
                    "minimum": 1,
                    "default": "10m"
                }
            },
            "additionalProperties": false
        }))
        .needs(Capability::cluster(
            &[Verb::Get, Verb::List, Verb::Patch],
            &["*"],
        ))
    }

    fn plan(phase: &Phase<Params>) -> Result<Vec<Action>, Error> {
        let steps = steps(phase)?;
        let count = steps.len();
        let mut actions = Vec::new();
        for (index, services) in steps.into_iter().enumerate() {
            let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
            for service in services {
                for workload in workloads(service)? {
                    actions.push(Action::new(
                        ActionKind::RolloutRestart,
                        format!("{} in namespace {}", workload.label(), workload.namespace),
                        format!(
                            "step {} of {count} ({}): restart, then wait until every replica is updated and Ready",
                            index + 1,
                            names.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(actions)
    }

    fn inject(phase: &Phase<Params>) -> Result<(), Error> {
        // Every workload found before anything restarts: a service without one stops the
        // drill before the first step, not halfway through.
        let mut records = Vec::new();
        for services in steps(phase)? {
            let mut workloads_of_step = Vec::new();
            for service in &services {
                workloads_of_step.extend(workloads(service)?);
            }
            records.push(StepRecord {
                services: services.iter().map(|s| s.name.clone()).collect(),
                workloads: workloads_of_step,
                started_ms: 0,
                rolled_ms: None,
                failure: None,
            });
        }
        let origin = clock::monotonic_ms();
        let mut done: Vec<StepRecord> = Vec::new();
        for (index, mut step) in records.into_iter().enumerate() {
            let started = clock::monotonic_ms();
            step.started_ms = started.saturating_sub(origin);
            done.push(step.clone());
            state::set_json(STEPS, &done)?;
            for workload in &step.workloads {
                let kind = if workload.kind == "StatefulSet" {
                    cluster::WorkloadKind::StatefulSet
                } else {
                    cluster::WorkloadKind::Deployment
                };
                cluster::rollout_restart(&workload.namespace, kind, &workload.name)?;
            }
            log::info(&format!(
                "step {}: restarted {}",
                index + 1,
                step.services.join(", ")
            ));
            loop {
                let mut pending = None;
                for workload in &step.workloads {
                    if let Some(why) = not_rolled(workload)? {
                        pending = Some(why);
                        break;
                    }
                }
                let elapsed = clock::monotonic_ms().saturating_sub(started);
                let Some(why) = pending else {
                    step.rolled_ms = Some(elapsed);
                    break;
                };
                if elapsed >= phase.params.step_timeout {
                    step.failure = Some(format!(
                        "not rolled after {}: {why}",
                        seconds(phase.params.step_timeout)
                    ));
                    break;
                }
                clock::sleep_ms(POLL_MS);
            }
            if let Some(last) = done.last_mut() {
                *last = step.clone();
            }
            state::set_json(STEPS, &done)?;
            if let Some(why) = &step.failure {
                evidence::text("restart-steps.txt", &report(&done))?;
                return Err(Error::failed(format!(
                    "step {} ({}) {why}; the later steps were not restarted",
                    index + 1,
                    step.services.join(", ")
                )));
            }
            log::info(&format!(
                "step {}: {} rolled in {}",
                index + 1,
                step.services.join(", "),
                seconds(step.rolled_ms.unwrap_or_default())
            ));
        }
        evidence::text("restart-steps.txt", &report(&done))
    }

    fn verify(phase: &Phase<Params>) -> Result<Verdict, Error> {
        // The steps waited for every rollout; this is the final check that every service
        // still has its Ready pods, read from the phase's cache.
        for service in &phase.services {
            let ready = cluster::ready_pods(service)?.len();
            if ready < service.replicas as usize {
                return Ok(Verdict::Recovering(format!(
                    "{}: {ready}/{} pods Ready",
                    service.name, service.replicas
                )));
            }
        }
        Ok(Verdict::Recovered)
    }

    fn findings(_phase: &Phase<Params>) -> Result<Findings, Error> {
        let Some(steps) = state::get_json::<Vec<StepRecord>>(STEPS) else {
            return Ok(Findings::none());
        };
        let figures: Vec<String> = steps
            .iter()
            .enumerate()
            .map(|(index, step)| {
                let outcome = match (&step.rolled_ms, &step.failure) {
                    (Some(ms), _) => seconds(*ms),
                    (None, Some(_)) => "did not roll".to_owned(),
                    (None, None) => "did not finish".to_owned(),
                };
                format!(
                    "step {} ({}) {outcome}",
                    index + 1,
                    step.services.join(", ")
                )
            })
            .collect();
        let finding = match total_ms(&steps) {
            Some(total) => format!(
                "Ordered restart took {} from the first restart until the last step had rolled: {}. Wait on `kubectl rollout status` between the steps rather than fixed sleeps (the runbook's `sleep 60` after Cassandra, `sleep 30` after Kafka).",
                seconds(total),
                figures.join(", ")
            ),
            None => format!(
                "Ordered restart did not complete: {}. Find why the step did not roll before restarting the rest (restart-steps.txt).",
                figures.join(", ")
            ),
        };
        Ok(Findings::none().follow_up(finding))
    }

    fn rollback(_phase: &Phase<Params>) -> Result<(), Error> {
        // Nothing to undo: a restart replaces pods with the same template, and reverting
        // it would only restart them again. After a crash mid-procedure the workloads
        // already restarted finish rolling by themselves and the later steps were never
        // restarted; nothing here touches the cluster, so a rollback (or several) is
        // harmless. The record of the steps stays for the report.
        Ok(())
    }
}

export_scenario!(OrderedRestart);
