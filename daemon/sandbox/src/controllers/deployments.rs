//! The deployment controller: a replicaset per pod template, rolling updates within
//! maxSurge and maxUnavailable (or Recreate), and the status `kubectl rollout status` reads.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use serde_json::{Value, json};

use super::{Controllers, emit_event, int_or_percent, is_ready, owner_reference, write_if_changed};
use crate::names;
use crate::object::{self, int_at, str_at};
use crate::resources::{DEPLOYMENTS, REPLICASETS};
use crate::store::{Object, State};

impl Controllers {
    pub(super) fn deployments(&mut self, state: &mut State, pods: &HashMap<String, Vec<Object>>) {
        let deployments: Vec<Object> = state.list(&DEPLOYMENTS, None).cloned().collect();
        let mut sets_by_owner: HashMap<String, Vec<Object>> = HashMap::new();
        for rs in state.list(&REPLICASETS, None) {
            if let Some(uid) = object::controller_uid(rs) {
                sets_by_owner
                    .entry(uid.to_owned())
                    .or_default()
                    .push(Arc::clone(rs));
            }
        }
        for deployment in deployments {
            if object::is_terminating(&deployment) {
                continue;
            }
            self.reconcile_deployment(
                state,
                &deployment,
                sets_by_owner
                    .remove(object::uid(&deployment))
                    .unwrap_or_default(),
                pods,
            );
        }
    }

    fn reconcile_deployment(
        &mut self,
        state: &mut State,
        deployment: &Value,
        mut sets: Vec<Object>,
        pods: &HashMap<String, Vec<Object>>,
    ) {
        let namespace = object::namespace(deployment);
        let replicas = int_at(deployment, "/spec/replicas").unwrap_or(1).max(0);
        let template = object::at(deployment, "/spec/template")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let hash = names::template_hash(&template);
        let revision_of = |rs: &Value| {
            str_at(
                rs,
                "/metadata/annotations/deployment.kubernetes.io~1revision",
            )
            .parse::<i64>()
            .unwrap_or(0)
        };
        let max_revision = sets.iter().map(|rs| revision_of(rs)).max().unwrap_or(0);
        let new_position = sets
            .iter()
            .position(|rs| str_at(rs, "/metadata/labels/pod-template-hash") == hash);
        let new_set = match new_position {
            Some(i) => {
                let found = sets.remove(i);
                // An old replicaset whose template is back (a rollback, `kubectl rollout
                // undo`) becomes the newest revision again, as the real controller does.
                let newest_other = sets.iter().map(|rs| revision_of(rs)).max().unwrap_or(0);
                if revision_of(&found) <= newest_other {
                    let mut renumbered = (*found).clone();
                    renumbered["metadata"]["annotations"]["deployment.kubernetes.io/revision"] =
                        Value::String((newest_other + 1).to_string());
                    match state.replace(&REPLICASETS, renumbered) {
                        Ok(stored) => stored,
                        Err(_) => found,
                    }
                } else {
                    found
                }
            }
            None => {
                let mut rs_template = template.clone();
                rs_template["metadata"]["labels"]["pod-template-hash"] =
                    Value::String(hash.clone());
                let mut selector = object::at(deployment, "/spec/selector")
                    .cloned()
                    .unwrap_or_else(|| json!({}));
                selector["matchLabels"]["pod-template-hash"] = Value::String(hash.clone());
                let labels = rs_template["metadata"]["labels"].clone();
                let rs = json!({
                    "metadata": {
                        "name": format!("{}-{hash}", object::name(deployment)),
                        "namespace": namespace,
                        "labels": labels,
                        "annotations": {
                            "deployment.kubernetes.io/revision": (max_revision + 1).to_string(),
                            "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                        },
                        "ownerReferences": owner_reference(deployment, "Deployment", "apps/v1"),
                    },
                    "spec": {"replicas": 0, "selector": selector, "template": rs_template},
                });
                let Ok(created) = state.create(&REPLICASETS, rs) else {
                    return;
                };
                emit_event(
                    state,
                    deployment,
                    "Normal",
                    "ScalingReplicaSet",
                    &format!(
                        "Scaled up replica set {} from 0 to {replicas}",
                        object::name(&created)
                    ),
                    "deployment-controller",
                );
                created
            }
        };
        let spec_replicas = |rs: &Value| int_at(rs, "/spec/replicas").unwrap_or(0);
        let active = |rs: &Value| {
            pods.get(object::uid(rs)).map_or(0, |ps| {
                ps.iter().filter(|p| object::pod_is_active(p)).count() as i64
            })
        };
        let ready = |rs: &Value| {
            pods.get(object::uid(rs))
                .map_or(0, |ps| ps.iter().filter(|p| is_ready(p)).count() as i64)
        };
        let recreate = str_at(deployment, "/spec/strategy/type") == "Recreate";
        let mut new_replicas = spec_replicas(&new_set);
        let mut old_targets: Vec<(Object, i64)> = sets
            .iter()
            .map(|rs| (Arc::clone(rs), spec_replicas(rs)))
            .collect();
        if recreate {
            for (_, target) in &mut old_targets {
                *target = 0;
            }
            // New pods only once every old pod is gone, terminating ones included (the
            // real controller's `oldPodsRunning`: only Succeeded and Failed pods do not
            // count), so the old and new versions never run side by side.
            let old_pods_running = sets.iter().any(|rs| {
                pods.get(object::uid(rs)).is_some_and(|ps| {
                    ps.iter()
                        .any(|p| !matches!(str_at(p, "/status/phase"), "Succeeded" | "Failed"))
                })
            });
            if !old_pods_running {
                new_replicas = replicas;
            }
        } else {
            let surge = int_or_percent(
                object::at(deployment, "/spec/strategy/rollingUpdate/maxSurge"),
                replicas,
                true,
                1,
            );
            let mut unavailable = int_or_percent(
                object::at(deployment, "/spec/strategy/rollingUpdate/maxUnavailable"),
                replicas,
                false,
                0,
            );
            if surge == 0 && unavailable == 0 {
                unavailable = 1;
            }
            let old_total: i64 = old_targets.iter().map(|(_, t)| t).sum();
            if new_replicas > replicas {
                new_replicas = replicas;
            } else if new_replicas < replicas {
                let room = replicas + surge - old_total - new_replicas;
                new_replicas += room.clamp(0, replicas - new_replicas);
            }
            // Old pods go only while enough pods stay ready: unready old pods first.
            let ready_total: i64 = ready(&new_set) + sets.iter().map(|rs| ready(rs)).sum::<i64>();
            let mut removable = ready_total - (replicas - unavailable);
            for (rs, target) in &mut old_targets {
                let unready = (*target - ready(rs)).max(0);
                *target -= unready;
                let cut = removable.clamp(0, *target);
                *target -= cut;
                removable -= cut;
            }
        }
        if new_replicas != spec_replicas(&new_set) {
            let mut updated = (*new_set).clone();
            updated["spec"]["replicas"] = Value::from(new_replicas);
            updated["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
                Value::String(replicas.to_string());
            write_if_changed(state, &REPLICASETS, &new_set, updated);
        }
        for (rs, target) in &old_targets {
            if *target != spec_replicas(rs) {
                let mut updated = (**rs).clone();
                updated["spec"]["replicas"] = Value::from(*target);
                write_if_changed(state, &REPLICASETS, rs, updated);
                emit_event(
                    state,
                    deployment,
                    "Normal",
                    "ScalingReplicaSet",
                    &format!(
                        "Scaled down replica set {} from {} to {target}",
                        object::name(rs),
                        spec_replicas(rs)
                    ),
                    "deployment-controller",
                );
            }
        }
        // Status, as `kubectl rollout status` reads it.
        let total_active = active(&new_set) + sets.iter().map(|rs| active(rs)).sum::<i64>();
        let total_ready = ready(&new_set) + sets.iter().map(|rs| ready(rs)).sum::<i64>();
        let updated_active = active(&new_set);
        let Some(current) = state
            .get(&DEPLOYMENTS, namespace, object::name(deployment))
            .cloned()
        else {
            return;
        };
        let now = object::timestamp(Utc::now());
        let complete =
            updated_active == replicas && total_active == replicas && total_ready == replicas;
        let available = total_ready
            >= replicas
                - int_or_percent(
                    object::at(deployment, "/spec/strategy/rollingUpdate/maxUnavailable"),
                    replicas,
                    false,
                    0,
                );
        let mut status = json!({
            "observedGeneration": int_at(&current, "/metadata/generation").unwrap_or(1),
            "replicas": total_active,
            "updatedReplicas": updated_active,
            "readyReplicas": total_ready,
            "availableReplicas": total_ready,
            "unavailableReplicas": (replicas - total_ready).max(0),
        });
        let keep_time = |kind: &str, status_value: &str, reason: &str| {
            object::at(&current, "/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| {
                    cs.iter().find(|c| {
                        c.get("type").and_then(Value::as_str) == Some(kind)
                            && c.get("status").and_then(Value::as_str) == Some(status_value)
                            && c.get("reason").and_then(Value::as_str) == Some(reason)
                    })
                })
                .and_then(|c| c.get("lastTransitionTime").cloned())
                .unwrap_or_else(|| Value::String(now.clone()))
        };
        let (available_status, available_reason) = if available {
            ("True", "MinimumReplicasAvailable")
        } else {
            ("False", "MinimumReplicasUnavailable")
        };
        let progressing_reason = if complete {
            "NewReplicaSetAvailable"
        } else {
            "ReplicaSetUpdated"
        };
        status["conditions"] = json!([
            {"type": "Available", "status": available_status, "reason": available_reason,
             "message": if available { "Deployment has minimum availability." } else { "Deployment does not have minimum availability." },
             "lastTransitionTime": keep_time("Available", available_status, available_reason),
             "lastUpdateTime": keep_time("Available", available_status, available_reason)},
            {"type": "Progressing", "status": "True", "reason": progressing_reason,
             "message": format!("ReplicaSet \"{}\" {}", object::name(&new_set), if complete { "has successfully progressed." } else { "is progressing." }),
             "lastTransitionTime": keep_time("Progressing", "True", progressing_reason),
             "lastUpdateTime": keep_time("Progressing", "True", progressing_reason)},
        ]);
        let mut updated = (*current).clone();
        updated["status"] = status;
        let revision = str_at(
            &new_set,
            "/metadata/annotations/deployment.kubernetes.io~1revision",
        )
        .to_owned();
        if !revision.is_empty() {
            object::metadata_mut(&mut updated)
                .entry("annotations")
                .or_insert_with(|| json!({}))["deployment.kubernetes.io/revision"] =
                Value::String(revision);
        }
        write_if_changed(state, &DEPLOYMENTS, &current, updated);
    }
}
