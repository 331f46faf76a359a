//! The kubelet: moves pods Pending -> Running -> Ready after their delays (with
//! jitter), follows node readiness, removes terminated pods after their shutdown delay,
//! and records into the ground truth when pods become Ready and go out of service.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Controllers, PodTimers, is_ready, write_if_changed};
use crate::ground_truth::{PodLost, PodReady};
use crate::object::{self, int_at, str_at};
use crate::platform::START_DELAY_ANNOTATION;
use crate::resources::{NODES, PODS, REPLICASETS};
use crate::store::{Object, State};

impl Controllers {
    fn jittered(&self, base: Duration) -> Duration {
        if self.warm || base.is_zero() {
            return if self.warm { Duration::ZERO } else { base };
        }
        let jitter = self.timing.jitter.clamp(0.0, 1.0);
        let factor = if jitter > 0.0 {
            rand::rng().random_range((1.0 - jitter)..=(1.0 + jitter))
        } else {
            1.0
        };
        base.mul_f64(factor)
    }

    fn note_due(&mut self, at: Instant) {
        self.next_due = Some(self.next_due.map_or(at, |due| due.min(at)));
    }

    pub(super) fn kubelet(&mut self, state: &mut State, now: Instant) {
        let nodes: HashMap<String, (bool, String, String)> = state
            .list(&NODES, None)
            .map(|n| {
                (
                    object::name(n).to_owned(),
                    (
                        object::condition_is_true(n, "Ready"),
                        str_at(n, "/status/addresses/0/address").to_owned(),
                        str_at(n, "/metadata/labels/topology.kubernetes.io~1zone").to_owned(),
                    ),
                )
            })
            .collect();
        // Only the pods with something to do are kept: terminating ones, and pending or
        // running ones whose readiness should follow their node. Timers of pods no longer
        // bound to a node are dropped now; this pass only sets timers of pods it keeps.
        let mut pods: Vec<Object> = Vec::new();
        {
            let mut alive: HashSet<&str> = HashSet::with_capacity(state.count(&PODS));
            for pod in state.list(&PODS, None) {
                let node_name = str_at(pod, "/spec/nodeName");
                if node_name.is_empty() {
                    continue;
                }
                alive.insert(object::uid(pod));
                let has_work = object::is_terminating(pod)
                    || nodes.get(node_name).is_some_and(|(node_ready, _, _)| {
                        let phase = str_at(pod, "/status/phase");
                        let pending = phase == "Pending" || phase.is_empty();
                        let running = phase == "Running";
                        pending || (running && object::pod_is_ready(pod) != *node_ready)
                    });
                if has_work {
                    pods.push(Arc::clone(pod));
                }
            }
            self.timers.retain(|uid, _| alive.contains(uid.as_str()));
            self.terminating
                .retain(|uid, _| alive.contains(uid.as_str()));
        }
        let wall_now = Utc::now();
        let stamp = object::timestamp(wall_now);
        for pod in pods {
            let uid = object::uid(&pod).to_owned();
            if object::is_terminating(&pod) {
                // A process pod's process is stopped first (`processes`), then removed.
                if self.processes.holds(&uid) {
                    continue;
                }
                let grace = int_at(&pod, "/metadata/deletionGracePeriodSeconds")
                    .unwrap_or(30)
                    .max(0);
                let shutdown = self
                    .timing
                    .shutdown_delay
                    .min(Duration::from_secs(grace as u64));
                let remove_at = *self.terminating.entry(uid).or_insert(now + shutdown);
                if now >= remove_at {
                    state.remove(&PODS, object::namespace(&pod), object::name(&pod));
                } else {
                    self.note_due(remove_at);
                }
                continue;
            }
            let node_name = str_at(&pod, "/spec/nodeName").to_owned();
            let Some((node_ready, host_ip, zone)) = nodes.get(&node_name).cloned() else {
                continue;
            };
            let phase = str_at(&pod, "/status/phase").to_owned();
            let ready = object::pod_is_ready(&pod);
            let pending = phase == "Pending" || phase.is_empty();
            let running = phase == "Running";
            let needs_work = pending || (running && ready != node_ready);
            if !needs_work {
                continue;
            }
            let start_delay = object::at(
                &pod,
                &format!(
                    "/metadata/annotations/{}",
                    START_DELAY_ANNOTATION.replace('/', "~1")
                ),
            )
            .and_then(Value::as_str)
            .and_then(|text| humantime::parse_duration(text).ok())
            .unwrap_or(self.timing.start_delay);
            let timers = match self.timers.get(&uid) {
                Some(timers) => *timers,
                None => {
                    let running_at = now + self.jittered(start_delay);
                    let timers = PodTimers {
                        running_at,
                        ready_at: running_at + self.jittered(self.timing.ready_delay),
                    };
                    self.timers.insert(uid.clone(), timers);
                    timers
                }
            };
            // An image that cannot be pulled keeps the pod Pending, never Ready (images.rs).
            if pending
                && node_ready
                && now >= timers.running_at
                && self.hold_for_image_pull(state, &pod, timers.running_at, now, &host_ip, &stamp)
            {
                continue;
            }
            let mut updated = (*pod).clone();
            let mut became_ready = false;
            if pending {
                if now >= timers.running_at && node_ready {
                    self.next_ip += 1;
                    let ip = format!(
                        "10.{}.{}.{}",
                        244 + (self.next_ip >> 16) % 8,
                        (self.next_ip >> 8) & 255,
                        self.next_ip & 255
                    );
                    updated["status"]["phase"] = json!("Running");
                    updated["status"]["hostIP"] = json!(host_ip);
                    updated["status"]["hostIPs"] = json!([{"ip": host_ip}]);
                    updated["status"]["podIP"] = json!(ip);
                    updated["status"]["podIPs"] = json!([{"ip": ip}]);
                    updated["status"]["startTime"] = json!(stamp);
                    let statuses: Vec<Value> = object::at(&pod, "/spec/containers")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|c| {
                            json!({
                                "name": str_at(c, "/name"),
                                "image": str_at(c, "/image"),
                                "imageID": format!("{}@sha256:{}", str_at(c, "/image"), "0".repeat(64)),
                                "containerID": format!("containerd://{}", uid.replace('-', "")),
                                "ready": false,
                                "started": true,
                                "restartCount": 0,
                                "state": {"running": {"startedAt": stamp}},
                                "lastState": {},
                            })
                        })
                        .collect();
                    updated["status"]["containerStatuses"] = Value::Array(statuses);
                    object::set_condition(
                        &mut updated,
                        "PodReadyToStartContainers",
                        true,
                        None,
                        &stamp,
                    );
                    object::set_condition(&mut updated, "Initialized", true, None, &stamp);
                    object::set_condition(
                        &mut updated,
                        "Ready",
                        false,
                        Some("ContainersNotReady"),
                        &stamp,
                    );
                    object::set_condition(
                        &mut updated,
                        "ContainersReady",
                        false,
                        Some("ContainersNotReady"),
                        &stamp,
                    );
                } else if now < timers.running_at {
                    self.note_due(timers.running_at);
                }
            }
            let running = str_at(&updated, "/status/phase") == "Running";
            // A process pod is Ready when its process says so (`processes`), not on a timer.
            let process_pod = self.processes.spec_for(state, &pod).is_some();
            if running && !ready && node_ready && !process_pod {
                if now >= timers.ready_at {
                    object::set_condition(&mut updated, "ContainersReady", true, None, &stamp);
                    object::set_condition(&mut updated, "Ready", true, None, &stamp);
                    if let Some(statuses) = updated
                        .pointer_mut("/status/containerStatuses")
                        .and_then(Value::as_array_mut)
                    {
                        for status in statuses {
                            status["ready"] = Value::Bool(true);
                        }
                    }
                    became_ready = true;
                } else {
                    self.note_due(timers.ready_at);
                }
            } else if ready && !node_ready {
                // A node that stops reporting takes its pods out of service.
                object::set_condition(&mut updated, "Ready", false, Some("NodeNotReady"), &stamp);
                // Readiness comes back a ready-delay after the node does.
                self.timers.insert(
                    uid.clone(),
                    PodTimers {
                        running_at: now,
                        ready_at: now + self.jittered(self.timing.ready_delay),
                    },
                );
            }
            let pod_ip = str_at(&updated, "/status/podIP").to_owned();
            write_if_changed(state, &PODS, &pod, updated);
            if became_ready {
                let (workload_kind, workload) = self.workload_of(state, &pod);
                let created_at = str_at(&pod, "/metadata/creationTimestamp")
                    .parse::<DateTime<Utc>>()
                    .unwrap_or(wall_now);
                self.recorder.record(PodReady {
                    namespace: object::namespace(&pod).to_owned(),
                    pod: object::name(&pod).to_owned(),
                    uid: uid.clone(),
                    workload_kind,
                    workload,
                    node: node_name,
                    zone,
                    pod_ip,
                    created_at,
                    ready_at: wall_now,
                });
            }
        }
        self.track_serving(state, wall_now);
    }

    /// Records Ready pods that went out of service since the last pass.
    fn track_serving(&mut self, state: &State, now: DateTime<Utc>) {
        let mut still_serving: HashSet<&str> = HashSet::new();
        for pod in state.list(&PODS, None) {
            let uid = object::uid(pod);
            if is_ready(pod) {
                still_serving.insert(uid);
                if !self.serving.contains_key(uid) {
                    let (workload_kind, workload) = self.workload_of(state, pod);
                    self.serving.insert(
                        uid.to_owned(),
                        PodLost {
                            namespace: object::namespace(pod).to_owned(),
                            pod: object::name(pod).to_owned(),
                            uid: uid.to_owned(),
                            workload_kind,
                            workload,
                            node: str_at(pod, "/spec/nodeName").to_owned(),
                            reason: String::new(),
                            lost_at: now,
                        },
                    );
                }
            }
        }
        let lost: Vec<String> = self
            .serving
            .keys()
            .filter(|uid| !still_serving.contains(uid.as_str()))
            .cloned()
            .collect();
        for uid in lost {
            let Some(mut record) = self.serving.remove(&uid) else {
                continue;
            };
            let current = state
                .get(&PODS, &record.namespace, &record.pod)
                .filter(|p| object::uid(p) == uid);
            record.reason = match current {
                None => "Deleted",
                Some(pod) if object::is_terminating(pod) => "Terminating",
                Some(_) => "NotReady",
            }
            .to_owned();
            record.lost_at = now;
            self.recorder.record_lost(record);
        }
    }

    /// The top-level workload of a pod: its deployment (through its replicaset) or
    /// statefulset.
    pub(super) fn workload_of(&self, state: &State, pod: &Value) -> (String, String) {
        match object::controller_ref(pod) {
            Some(("ReplicaSet", rs)) => {
                let deployment = state
                    .get(&REPLICASETS, object::namespace(pod), rs)
                    .and_then(|rs| object::controller_ref(rs).map(|(_, n)| n.to_owned()));
                match deployment {
                    Some(name) => ("Deployment".to_owned(), name),
                    None => ("ReplicaSet".to_owned(), rs.to_owned()),
                }
            }
            Some((kind, name)) => (kind.to_owned(), name.to_owned()),
            None => (String::new(), String::new()),
        }
    }
}
