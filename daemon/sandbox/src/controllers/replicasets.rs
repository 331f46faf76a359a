//! The replicaset controller: creates and deletes pods to match the replicas, and
//! writes the status.

use std::collections::HashMap;

use serde_json::json;

use super::{Controllers, delete_pod, emit_event, pod_from_template, write_if_changed};
use crate::names;
use crate::object::{self, int_at, str_at};
use crate::resources::{PODS, REPLICASETS};
use crate::store::{Object, State};

impl Controllers {
    pub(super) fn replicasets(&mut self, state: &mut State, pods: &HashMap<String, Vec<Object>>) {
        let sets: Vec<Object> = state.list(&REPLICASETS, None).cloned().collect();
        for rs in sets {
            let replicas = int_at(&rs, "/spec/replicas").unwrap_or(1).max(0);
            let owned: Vec<&Object> = pods
                .get(object::uid(&rs))
                .map(|ps| ps.iter().filter(|p| object::pod_is_active(p)).collect())
                .unwrap_or_default();
            let count = owned.len() as i64;
            if count < replicas {
                for _ in count..replicas {
                    let name = format!("{}-{}", object::name(&rs), names::random_suffix(5));
                    let pod = pod_from_template(&rs, "ReplicaSet", &name, &[]);
                    if state.create(&PODS, pod).is_ok() {
                        emit_event(
                            state,
                            &rs,
                            "Normal",
                            "SuccessfulCreate",
                            &format!("Created pod: {name}"),
                            "replicaset-controller",
                        );
                    }
                }
            } else if count > replicas {
                // Like the real controller: unscheduled, then pending, then unready, then
                // the youngest pods go first.
                let mut victims = owned.clone();
                victims.sort_by_key(|p| {
                    (
                        !str_at(p, "/spec/nodeName").is_empty(),
                        str_at(p, "/status/phase") == "Running",
                        object::pod_is_ready(p),
                        std::cmp::Reverse(str_at(p, "/metadata/creationTimestamp").to_owned()),
                    )
                });
                for pod in victims.into_iter().take((count - replicas) as usize) {
                    delete_pod(state, pod, None);
                }
            }
            let ready = owned.iter().filter(|p| object::pod_is_ready(p)).count();
            let Some(current) = state
                .get(&REPLICASETS, object::namespace(&rs), object::name(&rs))
                .cloned()
            else {
                continue;
            };
            let mut updated = (*current).clone();
            updated["status"] = json!({
                "replicas": count.min(replicas.max(count)),
                "fullyLabeledReplicas": count,
                "readyReplicas": ready,
                "availableReplicas": ready,
                "observedGeneration": int_at(&current, "/metadata/generation").unwrap_or(1),
            });
            write_if_changed(state, &REPLICASETS, &current, updated);
        }
    }
}
