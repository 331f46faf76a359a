//! The statefulset controller: ordinal pods created in order (or in parallel), scaled
//! down from the highest ordinal, rolled one pod at a time from the highest ordinal down
//! (each replacement Ready before the next pod goes; `partition` and `OnDelete`
//! respected), and the status with its current and update revisions.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::{Controllers, delete_pod, emit_event, is_ready, pod_from_template, write_if_changed};
use crate::names;
use crate::object::{self, int_at, str_at};
use crate::resources::{PODS, STATEFULSETS};
use crate::store::{Object, State};

impl Controllers {
    pub(super) fn statefulsets(&mut self, state: &mut State, pods: &HashMap<String, Vec<Object>>) {
        let sets: Vec<Object> = state.list(&STATEFULSETS, None).cloned().collect();
        for sts in sets {
            if object::is_terminating(&sts) {
                continue;
            }
            let name = object::name(&sts).to_owned();
            let replicas = int_at(&sts, "/spec/replicas").unwrap_or(1).max(0);
            let revision = format!(
                "{name}-{}",
                names::template_hash(object::at(&sts, "/spec/template").unwrap_or(&Value::Null))
            );
            let parallel = str_at(&sts, "/spec/podManagementPolicy") == "Parallel";
            let mut by_ordinal: BTreeMap<i64, &Object> = BTreeMap::new();
            for pod in pods.get(object::uid(&sts)).into_iter().flatten() {
                if let Some(ordinal) = object::name(pod)
                    .strip_prefix(&format!("{name}-"))
                    .and_then(|o| o.parse::<i64>().ok())
                {
                    by_ordinal.insert(ordinal, pod);
                }
            }
            for ordinal in 0..replicas {
                match by_ordinal.get(&ordinal) {
                    None => {
                        let pod_name = format!("{name}-{ordinal}");
                        // A leftover pod of that name (from another owner) blocks the slot.
                        if state
                            .get(&PODS, object::namespace(&sts), &pod_name)
                            .is_none()
                        {
                            let pod = pod_from_template(
                                &sts,
                                "StatefulSet",
                                &pod_name,
                                &[
                                    ("statefulset.kubernetes.io/pod-name", pod_name.clone()),
                                    ("apps.kubernetes.io/pod-index", ordinal.to_string()),
                                    ("controller-revision-hash", revision.clone()),
                                ],
                            );
                            if state.create(&PODS, pod).is_ok() {
                                emit_event(
                                    state,
                                    &sts,
                                    "Normal",
                                    "SuccessfulCreate",
                                    &format!(
                                        "create Pod {pod_name} in StatefulSet {name} successful"
                                    ),
                                    "statefulset-controller",
                                );
                            }
                        }
                        if !parallel {
                            break;
                        }
                    }
                    Some(pod) if !parallel && !is_ready(pod) => break,
                    Some(_) => {}
                }
            }
            // Scale down from the highest ordinal, one at a time unless parallel.
            let surplus: Vec<&Object> = by_ordinal
                .range(replicas..)
                .rev()
                .map(|(_, p)| *p)
                .collect();
            if surplus.iter().all(|p| object::pod_is_active(p)) {
                for pod in surplus.iter().take(if parallel { usize::MAX } else { 1 }) {
                    delete_pod(state, pod, None);
                }
            }
            // Rolling update: once every pod is Ready, replace the highest outdated pod at
            // or above the partition (none with `OnDelete`: the user deletes them).
            let current: Vec<&Object> = by_ordinal.range(..replicas).map(|(_, p)| *p).collect();
            let all_ready = current.len() as i64 == replicas && current.iter().all(|p| is_ready(p));
            let rolling = str_at(&sts, "/spec/updateStrategy/type") != "OnDelete";
            let partition = int_at(&sts, "/spec/updateStrategy/rollingUpdate/partition")
                .unwrap_or(0)
                .max(0);
            if rolling
                && all_ready
                && let Some(outdated) = by_ordinal
                    .range(partition..replicas)
                    .rev()
                    .map(|(_, p)| *p)
                    .find(|p| revision_of(p) != revision)
            {
                delete_pod(state, outdated, None);
            }
            let Some(stored) = state
                .get(&STATEFULSETS, object::namespace(&sts), &name)
                .cloned()
            else {
                continue;
            };
            let status = rollout_status(&stored, &current, &revision);
            let mut updated = (*stored).clone();
            updated["status"] = status;
            write_if_changed(state, &STATEFULSETS, &stored, updated);
        }
    }
}

/// The revision a pod was made from: its `controller-revision-hash` label.
fn revision_of(pod: &Value) -> &str {
    str_at(pod, "/metadata/labels/controller-revision-hash")
}

/// The status the statefulset controller writes: pods counted by revision, and the
/// current revision moved to the update revision once every pod runs it and is Ready (as
/// `completeRollingUpdate` does), so `currentRevision != updateRevision` while a rollout
/// is under way: what `kubectl rollout status statefulset` waits on.
fn rollout_status(sts: &Value, pods: &[&Object], update_revision: &str) -> Value {
    let replicas = int_at(sts, "/spec/replicas").unwrap_or(1).max(0);
    let mut current_revision = str_at(sts, "/status/currentRevision");
    if current_revision.is_empty() {
        // First sync: the pods are being made from the template as it is.
        current_revision = update_revision;
    }
    let active: Vec<&&Object> = pods.iter().filter(|p| object::pod_is_active(p)).collect();
    let ready = pods.iter().filter(|p| is_ready(p)).count() as i64;
    let at_revision =
        |revision: &str| active.iter().filter(|p| revision_of(p) == revision).count() as i64;
    let updated = at_revision(update_revision);
    let mut current = at_revision(current_revision);
    let count = active.len() as i64;
    let complete = str_at(sts, "/spec/updateStrategy/type") != "OnDelete"
        && updated == replicas
        && count == replicas
        && ready == replicas;
    if complete {
        current_revision = update_revision;
        current = updated;
    }
    json!({
        "observedGeneration": int_at(sts, "/metadata/generation").unwrap_or(1),
        "replicas": count,
        "readyReplicas": ready,
        "currentReplicas": current,
        "updatedReplicas": updated,
        "availableReplicas": ready,
        "currentRevision": current_revision,
        "updateRevision": update_revision,
        "collisionCount": 0,
    })
}
