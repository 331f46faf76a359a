//! The scheduler: binds pending pods to schedulable nodes, spreading each owner's pods
//! over zones and nodes; a pod that fits nowhere gets `PodScheduled=False`.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use serde_json::{Map, Value};

use super::{Controllers, emit_event, write_if_changed};
use crate::object::{self, str_at};
use crate::resources::{NODES, PODS};
use crate::store::{Object, State};

impl Controllers {
    pub(super) fn schedule(&mut self, state: &mut State) {
        let pending: Vec<Object> = state
            .pods_on_node("")
            .filter(|p| !object::is_terminating(p))
            .cloned()
            .collect();
        if pending.is_empty() {
            return;
        }
        struct Candidate {
            name: String,
            zone: String,
            labels: Map<String, Value>,
            capacity: i64,
            schedulable: bool,
        }
        let nodes: Vec<Candidate> = state
            .list(&NODES, None)
            .map(|n| Candidate {
                name: object::name(n).to_owned(),
                zone: str_at(n, "/metadata/labels/topology.kubernetes.io~1zone").to_owned(),
                labels: object::labels(n).cloned().unwrap_or_default(),
                capacity: str_at(n, "/status/allocatable/pods").parse().unwrap_or(110),
                schedulable: object::at(n, "/spec/unschedulable").and_then(Value::as_bool)
                    != Some(true)
                    && object::condition_is_true(n, "Ready")
                    && !object::at(n, "/spec/taints")
                        .and_then(Value::as_array)
                        .is_some_and(|ts| {
                            ts.iter()
                                .any(|t| matches!(str_at(t, "/effect"), "NoSchedule" | "NoExecute"))
                        }),
            })
            .collect();
        // Counts per node, and per owner per zone and node, for spreading.
        let mut per_node: HashMap<String, i64> = HashMap::new();
        let mut per_owner_zone: HashMap<String, HashMap<String, i64>> = HashMap::new();
        let mut per_owner_node: HashMap<String, HashMap<String, i64>> = HashMap::new();
        let zone_of: HashMap<&str, &str> = nodes
            .iter()
            .map(|n| (n.name.as_str(), n.zone.as_str()))
            .collect();
        for node in &nodes {
            let active = state
                .pods_on_node(&node.name)
                .filter(|p| object::pod_is_active(p))
                .count();
            per_node.insert(node.name.clone(), active as i64);
        }
        // Spreading counts only for the owners of pending pods, from the owner index.
        let owners: HashSet<&str> = pending
            .iter()
            .filter_map(|p| object::controller_uid(p))
            .collect();
        for pod in owners
            .into_iter()
            .flat_map(|uid| state.owned_by(&PODS, uid))
        {
            let node = str_at(pod, "/spec/nodeName");
            if node.is_empty() || !object::pod_is_active(pod) {
                continue;
            }
            let owner = object::controller_uid(pod).unwrap_or_default();
            let zone = zone_of.get(node).copied().unwrap_or_default();
            *per_owner_zone
                .entry(owner.to_owned())
                .or_default()
                .entry(zone.to_owned())
                .or_default() += 1;
            *per_owner_node
                .entry(owner.to_owned())
                .or_default()
                .entry(node.to_owned())
                .or_default() += 1;
        }
        let now = object::timestamp(Utc::now());
        let empty: HashMap<String, i64> = HashMap::new();
        for pod in pending {
            let owner = object::controller_uid(&pod).unwrap_or_default().to_owned();
            let node_selector = object::at(&pod, "/spec/nodeSelector").and_then(Value::as_object);
            let best = {
                let zones = per_owner_zone.get(&owner).unwrap_or(&empty);
                let owner_nodes = per_owner_node.get(&owner).unwrap_or(&empty);
                nodes
                    .iter()
                    .filter(|n| n.schedulable)
                    .filter(|n| per_node.get(&n.name).copied().unwrap_or(0) < n.capacity)
                    .filter(|n| {
                        node_selector.is_none_or(|wanted| {
                            wanted.iter().all(|(k, v)| n.labels.get(k) == Some(v))
                        })
                    })
                    .min_by_key(|n| {
                        (
                            zones.get(&n.zone).copied().unwrap_or(0),
                            owner_nodes.get(&n.name).copied().unwrap_or(0),
                            per_node.get(&n.name).copied().unwrap_or(0),
                            n.name.as_str(),
                        )
                    })
            };
            let mut updated = (*pod).clone();
            match best {
                Some(node) => {
                    updated["spec"]["nodeName"] = Value::String(node.name.clone());
                    object::set_condition(&mut updated, "PodScheduled", true, None, &now);
                    *per_node.entry(node.name.clone()).or_default() += 1;
                    *per_owner_zone
                        .entry(owner.clone())
                        .or_default()
                        .entry(node.zone.clone())
                        .or_default() += 1;
                    *per_owner_node
                        .entry(owner)
                        .or_default()
                        .entry(node.name.clone())
                        .or_default() += 1;
                    let message = format!(
                        "Successfully assigned {}/{} to {}",
                        object::namespace(&pod),
                        object::name(&pod),
                        node.name
                    );
                    write_if_changed(state, &PODS, &pod, updated);
                    emit_event(
                        state,
                        &pod,
                        "Normal",
                        "Scheduled",
                        &message,
                        "default-scheduler",
                    );
                }
                None => {
                    let already = object::at(&pod, "/status/conditions")
                        .and_then(Value::as_array)
                        .is_some_and(|cs| {
                            cs.iter().any(|c| {
                                str_at(c, "/type") == "PodScheduled"
                                    && str_at(c, "/status") == "False"
                            })
                        });
                    if !already {
                        let unschedulable = nodes.iter().filter(|n| !n.schedulable).count();
                        let message = format!(
                            "0/{} nodes are available: {unschedulable} node(s) were unschedulable or not ready, {} node(s) were full or did not match the pod's node selector.",
                            nodes.len(),
                            nodes.len() - unschedulable
                        );
                        object::set_condition(
                            &mut updated,
                            "PodScheduled",
                            false,
                            Some("Unschedulable"),
                            &now,
                        );
                        updated["status"]["conditions"][0]["message"] =
                            Value::String(message.clone());
                        write_if_changed(state, &PODS, &pod, updated);
                        emit_event(
                            state,
                            &pod,
                            "Warning",
                            "FailedScheduling",
                            &message,
                            "default-scheduler",
                        );
                    }
                }
            }
        }
    }
}
