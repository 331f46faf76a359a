//! The statefulset controller: ordinal pods created in order (or in parallel), scaled
//! down from the highest ordinal, rolled one pod at a time, and the status.

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
            // Rolling update: replace the highest outdated pod once all are Ready.
            let current: Vec<&Object> = by_ordinal.range(..replicas).map(|(_, p)| *p).collect();
            let all_ready = current.len() as i64 == replicas && current.iter().all(|p| is_ready(p));
            if all_ready
                && let Some(outdated) = current
                    .iter()
                    .rev()
                    .find(|p| str_at(p, "/metadata/labels/controller-revision-hash") != revision)
            {
                delete_pod(state, outdated, None);
            }
            let active = current.iter().filter(|p| object::pod_is_active(p)).count();
            let ready = current.iter().filter(|p| is_ready(p)).count();
            let updated_count = current
                .iter()
                .filter(|p| {
                    object::pod_is_active(p)
                        && str_at(p, "/metadata/labels/controller-revision-hash") == revision
                })
                .count();
            let Some(stored) = state
                .get(&STATEFULSETS, object::namespace(&sts), &name)
                .cloned()
            else {
                continue;
            };
            let mut updated = (*stored).clone();
            updated["status"] = json!({
                "observedGeneration": int_at(&stored, "/metadata/generation").unwrap_or(1),
                "replicas": active,
                "readyReplicas": ready,
                "currentReplicas": updated_count,
                "updatedReplicas": updated_count,
                "availableReplicas": ready,
                "currentRevision": revision,
                "updateRevision": revision,
                "collisionCount": 0,
            });
            write_if_changed(state, &STATEFULSETS, &stored, updated);
        }
    }
}
