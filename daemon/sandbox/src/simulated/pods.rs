//! The simulated view of a pod's workload, read from the store and the ground truth: its
//! members' states, addresses and racks ([`Ring`]), the context a command runs in, and
//! the messages each Kafka workload's topics hold between execs ([`KafkaLogs`]).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;

use crate::ground_truth::GroundTruth;
use crate::object::{self, int_at, str_at};
use crate::platform::{Topic, Workload, WorkloadKind};
use crate::resources::{NODES, PODS, REPLICASETS, STATEFULSETS};
use crate::simulated::{self, Member, MemberState, Ring, Software};
use crate::store::State;

/// The messages each simulated Kafka workload's topics hold, by `(namespace, workload)`:
/// kept in memory for the sandbox's lifetime so a consumer reads what an earlier
/// producer exec wrote.
#[derive(Debug, Default)]
pub struct KafkaLogs {
    workloads: Mutex<BTreeMap<(String, String), simulated::Logs>>,
}

impl KafkaLogs {
    /// Runs `f` on one workload's logs.
    pub(crate) fn with<T>(
        &self,
        namespace: &str,
        workload: &str,
        f: impl FnOnce(&mut simulated::Logs) -> T,
    ) -> T {
        // A panic while the lock was held leaves at worst a half-appended batch of
        // simulated messages: keep serving rather than poison every later exec.
        let mut workloads = self
            .workloads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let logs = workloads
            .entry((namespace.to_owned(), workload.to_owned()))
            .or_default();
        f(logs)
    }
}

/// What a simulated command run in `pod` sees: its software (from its labels and
/// images), its workload's members (a Kafka broker back in service catches up after the
/// workload's `catchUpDelay`, or `isr_catch_up`), the workload's topics (declared, or the
/// defaults) and the time.
pub fn context(
    state: &State,
    pod: &Value,
    workload: Option<&(WorkloadKind, String)>,
    declared: Option<&Workload>,
    isr_catch_up: Duration,
    truth: &GroundTruth,
) -> simulated::Context {
    let labels = object::labels(pod);
    let software = Software::detect(
        labels
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default())),
        pod.pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| str_at(c, "/image")),
    );
    let catch_up = declared
        .and_then(|w| w.catch_up_delay)
        .unwrap_or(isr_catch_up);
    let ring = ring(state, pod, workload, truth, catch_up);
    simulated::Context {
        software,
        ring,
        topics: declared
            .and_then(|w| w.topics.clone())
            .unwrap_or_else(Topic::defaults),
        consumer_groups: declared
            .map(|w| w.consumer_groups.clone())
            .unwrap_or_default(),
        backups: declared.map(|w| w.backups.clone()).unwrap_or_default(),
        now_ms: Utc::now().timestamp_millis(),
    }
}

/// The `(kind, name)` of a pod's statefulset or deployment (through its replicaset).
pub(crate) fn owner_workload(state: &State, pod: &Value) -> Option<(WorkloadKind, String)> {
    match object::controller_ref(pod)? {
        ("StatefulSet", name) => Some((WorkloadKind::StatefulSet, name.to_owned())),
        ("ReplicaSet", replicaset) => {
            let replicaset = state.get(&REPLICASETS, object::namespace(pod), replicaset)?;
            match object::controller_ref(replicaset)? {
                ("Deployment", name) => Some((WorkloadKind::Deployment, name.to_owned())),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The members of the pod's workload: a statefulset's ordinals `0..replicas` (and any
/// higher one still present); otherwise the pods of the same controller, by name.
fn ring(
    state: &State,
    pod: &Value,
    workload: Option<&(WorkloadKind, String)>,
    truth: &GroundTruth,
    catch_up: Duration,
) -> Ring {
    let namespace = object::namespace(pod).to_owned();
    let mut pods: Vec<(String, Option<&Value>)> = Vec::new();
    let workload_name = match workload {
        Some((WorkloadKind::StatefulSet, name)) => {
            let replicas = state
                .get(&STATEFULSETS, &namespace, name)
                .and_then(|s| int_at(s, "/spec/replicas"))
                .unwrap_or(1)
                .max(0) as u32;
            let prefix = format!("{name}-");
            let highest = state
                .list(&PODS, Some(&namespace))
                .filter(|p| object::controller_ref(p).is_some_and(|(_, n)| n == name))
                .filter_map(|p| object::name(p).strip_prefix(&prefix)?.parse::<u32>().ok())
                .max();
            let count = highest.map_or(replicas, |h| replicas.max(h + 1));
            for ordinal in 0..count {
                let pod_name = format!("{name}-{ordinal}");
                let current = state
                    .get(&PODS, &namespace, &pod_name)
                    .map(|p| &**p)
                    .filter(|p| object::controller_ref(p).is_some_and(|(_, n)| n == name));
                pods.push((pod_name, current));
            }
            name.clone()
        }
        _ => {
            let owner = object::controller_uid(pod);
            let mut peers: Vec<&Value> = match owner {
                Some(uid) => state
                    .list(&PODS, Some(&namespace))
                    .filter(|p| object::controller_uid(p) == Some(uid))
                    .map(|p| &**p)
                    .collect(),
                None => vec![pod],
            };
            peers.sort_by(|a, b| object::name(a).cmp(object::name(b)));
            pods.extend(
                peers
                    .into_iter()
                    .map(|p| (object::name(p).to_owned(), Some(p))),
            );
            workload
                .map(|(_, name)| name.clone())
                .unwrap_or_else(|| object::name(pod).to_owned())
        }
    };
    let now = Utc::now();
    let members = pods
        .into_iter()
        .enumerate()
        .map(|(ordinal, (pod_name, current))| {
            let ordinal = ordinal as u32;
            let last_ready = truth
                .pods_ready
                .iter()
                .rev()
                .find(|r| r.namespace == namespace && r.pod == pod_name);
            let state_of = current.map_or(MemberState::Missing, member_state);
            let address = current
                .map(|p| str_at(p, "/status/podIP"))
                .filter(|ip| !ip.is_empty())
                .or(last_ready
                    .map(|r| r.pod_ip.as_str())
                    .filter(|ip| !ip.is_empty()))
                .map_or_else(|| simulated::stand_in_address(ordinal), str::to_owned);
            let rack = current
                .and_then(|p| state.get(&NODES, "", str_at(p, "/spec/nodeName")))
                .map(|n| str_at(n, "/metadata/labels/topology.kubernetes.io~1zone"))
                .filter(|zone| !zone.is_empty())
                .or(last_ready.map(|r| r.zone.as_str()))
                .unwrap_or("rack1")
                .to_owned();
            let caught_up = current.is_none_or(|p| {
                let uid = object::uid(p);
                let Some(index) = truth.pods_ready.iter().rposition(|r| r.uid == uid) else {
                    return true;
                };
                let returning = truth.pods_ready[..index]
                    .iter()
                    .any(|r| r.namespace == namespace && r.pod == pod_name);
                let since = (now - truth.pods_ready[index].ready_at)
                    .to_std()
                    .unwrap_or_default();
                !returning || since >= catch_up
            });
            Member {
                ordinal,
                pod: pod_name,
                state: state_of,
                address,
                rack,
                caught_up,
            }
        })
        .collect();
    Ring {
        namespace,
        workload: workload_name,
        members,
    }
}

fn member_state(pod: &Value) -> MemberState {
    if object::is_terminating(pod) {
        return MemberState::Terminating;
    }
    match str_at(pod, "/status/phase") {
        "" | "Pending" => MemberState::Pending,
        "Running" if object::pod_is_ready(pod) => MemberState::Ready,
        "Running" => {
            let node_down = pod
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|c| str_at(c, "/type") == "Ready" && str_at(c, "/reason") == "NodeNotReady");
            if node_down {
                MemberState::Unreachable
            } else {
                MemberState::Starting
            }
        }
        _ => MemberState::Unreachable,
    }
}
