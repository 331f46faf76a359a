//! Built-in scenario `full-recovery` (the runbook's phase 5): uncordon every cordoned node,
//! rollout-restart the workloads of every service to rebalance them, and report recovery
//! once every rollout is complete (like `kubectl rollout status`); the pod spread per zone
//! is attached as evidence.

use std::collections::BTreeMap;

use firedrill_sdk::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct Params {
    /// Skip the rollout restart (only uncordon and wait for every service to be Ready).
    no_restart: bool,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Workload {
    namespace: String,
    kind: String,
    name: String,
}

struct FullRecovery;

/// The workloads that own each service's pods, from the pods' controllers.
fn workloads(phase: &Phase<Params>) -> Result<Vec<Workload>, Error> {
    let mut found = Vec::new();
    for service in &phase.services {
        for pod in cluster::list_pods(&service.namespace, &service.selector)? {
            let Some((kind, owner)) = pod.owner else {
                continue;
            };
            let workload = match kind.as_str() {
                // A ReplicaSet is named `<deployment>-<pod-template-hash>`.
                "ReplicaSet" => owner
                    .rsplit_once('-')
                    .map(|(deployment, _)| ("Deployment", deployment.to_owned())),
                "StatefulSet" => Some(("StatefulSet", owner)),
                _ => None,
            };
            if let Some((kind, name)) = workload {
                found.push(Workload {
                    namespace: pod.namespace.clone(),
                    kind: kind.into(),
                    name,
                });
            }
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

fn cordoned() -> Result<Vec<String>, Error> {
    Ok(cluster::list_nodes("")?
        .into_iter()
        .filter(|n| n.unschedulable)
        .map(|n| n.name)
        .collect())
}

/// Is the rollout of `workload` complete? `None` when it is, else why not.
fn rollout_pending(workload: &Workload) -> Result<Option<String>, Error> {
    let text = cluster::get_object(
        "apps/v1",
        &workload.kind,
        Some(&workload.namespace),
        &workload.name,
    )?;
    let object: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::failed(format!("unreadable {}: {e}", workload.name)))?;
    let int = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0)
    };
    let wanted = object
        .pointer("/spec/replicas")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(1);
    let (generation, observed) = (
        int("/metadata/generation"),
        int("/status/observedGeneration"),
    );
    let (replicas, updated, ready) = (
        int("/status/replicas"),
        int("/status/updatedReplicas"),
        int("/status/readyReplicas"),
    );
    Ok(if observed < generation {
        Some(format!(
            "{} {}: restart not observed yet",
            workload.kind, workload.name
        ))
    } else if updated < wanted || ready < wanted || replicas > wanted {
        Some(format!(
            "{} {}: {updated}/{wanted} updated, {ready}/{wanted} Ready, {replicas} running",
            workload.kind, workload.name
        ))
    } else {
        None
    })
}

impl Scenario for FullRecovery {
    type Params = Params;

    fn describe() -> Description {
        Description::new(
            "full-recovery",
            "0.1.0",
            "Uncordons every node and rollout-restarts every service; recovered when every rollout is complete.",
        )
        .params_schema(serde_json::json!({
            "type": "object",
            "properties": { "no_restart": { "type": "boolean", "default": false } },
            "additionalProperties": false
        }))
        .needs(Capability::cluster(&[Verb::List, Verb::Patch], &[":cluster"]))
        .needs(Capability::cluster(&[Verb::List, Verb::Get, Verb::Patch], &["*"]))
    }

    fn plan(phase: &Phase<Params>) -> Result<Vec<Action>, Error> {
        let mut actions: Vec<Action> = cordoned()?
            .into_iter()
            .map(|node| {
                Action::new(
                    ActionKind::Uncordon,
                    format!("node/{node}"),
                    "make it schedulable again",
                )
            })
            .collect();
        if !phase.params.no_restart {
            for w in workloads(phase)? {
                actions.push(Action::new(
                    ActionKind::RolloutRestart,
                    format!(
                        "{}/{} in namespace {}",
                        w.kind.to_lowercase(),
                        w.name,
                        w.namespace
                    ),
                    "replace every pod, respecting maxUnavailable, to rebalance across zones",
                ));
            }
        }
        Ok(actions)
    }

    fn inject(phase: &Phase<Params>) -> Result<(), Error> {
        for node in cordoned()? {
            cluster::uncordon(&node)?;
            log::info(&format!("uncordoned node {node}"));
        }
        let restarted = if phase.params.no_restart {
            Vec::new()
        } else {
            workloads(phase)?
        };
        for w in &restarted {
            let kind = if w.kind == "Deployment" {
                cluster::WorkloadKind::Deployment
            } else {
                cluster::WorkloadKind::StatefulSet
            };
            cluster::rollout_restart(&w.namespace, kind, &w.name)?;
            log::info(&format!("restarted {} {}/{}", w.kind, w.namespace, w.name));
        }
        state::set_json("restarted", &restarted)
    }

    fn verify(phase: &Phase<Params>) -> Result<Verdict, Error> {
        let restarted: Vec<Workload> = state::get_json("restarted").unwrap_or_default();
        for workload in &restarted {
            if let Some(reason) = rollout_pending(workload)? {
                return Ok(Verdict::Recovering(reason));
            }
        }
        let mut zones: BTreeMap<String, String> = BTreeMap::new();
        for node in cluster::list_nodes("")? {
            zones.insert(
                node.name.clone(),
                node.zone.unwrap_or_else(|| "(no zone)".into()),
            );
        }
        let mut spread: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for service in &phase.services {
            let pods = cluster::list_pods(&service.namespace, &service.selector)?;
            let ready: Vec<_> = pods.iter().filter(|p| p.ready && !p.terminating).collect();
            if ready.len() < service.replicas as usize {
                return Ok(Verdict::Recovering(format!(
                    "{}: {}/{} pods Ready",
                    service.name,
                    ready.len(),
                    service.replicas
                )));
            }
            for pod in ready {
                let zone = pod
                    .node
                    .as_ref()
                    .and_then(|n| zones.get(n))
                    .cloned()
                    .unwrap_or_else(|| "(unscheduled)".into());
                *spread
                    .entry(service.name.clone())
                    .or_default()
                    .entry(zone)
                    .or_default() += 1;
            }
        }
        let lines: Vec<String> = spread
            .iter()
            .map(|(service, zones)| {
                let per_zone: Vec<String> = zones
                    .iter()
                    .map(|(zone, n)| format!("{zone}={n}"))
                    .collect();
                format!("{service}: {}", per_zone.join(" "))
            })
            .collect();
        evidence::text("pod-spread-per-zone.txt", &lines.join("\n"))?;
        Ok(Verdict::Recovered)
    }

    fn rollback(_phase: &Phase<Params>) -> Result<(), Error> {
        // Full recovery is itself the undo of the drill; rolling it back means making sure
        // no node is left cordoned.
        for node in cordoned()? {
            cluster::uncordon(&node)?;
        }
        Ok(())
    }
}

export_scenario!(FullRecovery);
