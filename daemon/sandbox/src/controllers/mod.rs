//! The simulated controllers, reconciled together on a tick: the [`Controllers`] loop and
//! the helpers they share (pods by owner, graceful pod deletion, events,
//! pods stamped from templates). One file per controller: [`gc`] (garbage collection),
//! [`deployments`], [`replicasets`], [`statefulsets`], [`scheduler`], [`kubelet`] (with
//! [`images`]: pulls that fail), [`endpoints`] and [`budgets`] (disruption budget status
//! and figures).

pub mod budgets;
pub mod deployments;
pub mod endpoints;
pub mod gc;
pub mod images;
pub mod kubelet;
pub mod processes;
pub mod replicasets;
pub mod scheduler;
pub mod statefulsets;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::config::Timing;
use crate::ground_truth::{PodLost, Recorder};
use crate::object::{self, int_at, str_at};
use crate::resources::{EVENTS, PODS, REPLICASETS, ResourceDef, STATEFULSETS};
use crate::store::{Object, State, Store};

pub use budgets::{Disruption, disruption};

/// When the kubelet will move a pod on.
#[derive(Debug, Clone, Copy)]
struct PodTimers {
    running_at: Instant,
    ready_at: Instant,
}

/// All controllers, reconciled together on a tick; a pass takes the store lock once per
/// step so that API requests interleave with it (see [`Controllers::reconcile`]).
#[derive(Debug)]
pub struct Controllers {
    store: Arc<Store>,
    timing: Timing,
    recorder: Recorder,
    /// Ready pods by uid, to notice when one goes out of service.
    serving: HashMap<String, PodLost>,
    timers: HashMap<String, PodTimers>,
    terminating: HashMap<String, Instant>,
    next_ip: u32,
    /// While warming up, pods start and become Ready without delay.
    warm: bool,
    last_seen_version: u64,
    next_due: Option<Instant>,
    /// The pods whose container is a local process (see [`processes`]).
    processes: processes::Processes,
}

/// Resolves an int-or-percent (`1`, `"25%"`) against a total, rounding as asked.
pub fn int_or_percent(value: Option<&Value>, total: i64, round_up: bool, default: i64) -> i64 {
    match value {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(default),
        Some(Value::String(s)) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(percent) => {
                let scaled = percent * total;
                if round_up {
                    (scaled + 99) / 100
                } else {
                    scaled / 100
                }
            }
            None => s.parse().unwrap_or(default),
        },
        _ => default,
    }
}

/// Pods by the uid of their controller (a replicaset or statefulset), read once per pass
/// from the store's owner index for the workload controllers.
fn pods_by_owner(state: &State) -> HashMap<String, Vec<Object>> {
    let mut owned: HashMap<String, Vec<Object>> = HashMap::new();
    for owner in state
        .list(&REPLICASETS, None)
        .chain(state.list(&STATEFULSETS, None))
    {
        let uid = object::uid(owner);
        let pods: Vec<Object> = state.owned_by(&PODS, uid).cloned().collect();
        if !pods.is_empty() {
            owned.insert(uid.to_owned(), pods);
        }
    }
    owned
}

/// Starts a pod's graceful deletion: sets `deletionTimestamp` and takes it out of
/// service at once; the kubelet removes it when its containers have exited. A grace
/// period of zero, or a pod no kubelet runs, is removed immediately.
pub fn delete_pod(state: &mut State, pod: &Value, grace_seconds: Option<i64>) -> Option<Object> {
    let grace = grace_seconds
        .or_else(|| int_at(pod, "/spec/terminationGracePeriodSeconds"))
        .unwrap_or(30)
        .max(0);
    let unscheduled = str_at(pod, "/spec/nodeName").is_empty();
    if grace == 0 || unscheduled {
        return state.remove(&PODS, object::namespace(pod), object::name(pod));
    }
    let now = Utc::now();
    if let Some(current) = int_at(pod, "/metadata/deletionGracePeriodSeconds")
        && current <= grace
    {
        return state
            .get(&PODS, object::namespace(pod), object::name(pod))
            .cloned();
    }
    let mut terminating = pod.clone();
    let metadata = object::metadata_mut(&mut terminating);
    metadata.insert(
        "deletionTimestamp".to_owned(),
        Value::String(object::timestamp(now + chrono::Duration::seconds(grace))),
    );
    metadata.insert("deletionGracePeriodSeconds".to_owned(), Value::from(grace));
    let stamp = object::timestamp(now);
    object::set_condition(&mut terminating, "Ready", false, None, &stamp);
    object::set_condition(&mut terminating, "ContainersReady", false, None, &stamp);
    if let Some(statuses) = terminating
        .pointer_mut("/status/containerStatuses")
        .and_then(Value::as_array_mut)
    {
        for status in statuses {
            status["ready"] = Value::Bool(false);
        }
    }
    let was_scheduled = !unscheduled;
    let result = state.replace(&PODS, terminating).ok();
    if was_scheduled {
        emit_event(
            state,
            pod,
            "Normal",
            "Killing",
            &format!(
                "Stopping container {}",
                str_at(pod, "/spec/containers/0/name")
            ),
            "kubelet",
        );
    }
    result
}

/// Records a core/v1 Event about an object.
pub fn emit_event(
    state: &mut State,
    involved: &Value,
    kind: &str,
    reason: &str,
    message: &str,
    component: &str,
) {
    let namespace = match object::namespace(involved) {
        "" => "default",
        ns => ns,
    };
    let now = Utc::now();
    let stamp = object::timestamp(now);
    let event = json!({
        "metadata": {
            "name": format!("{}.{:x}", object::name(involved), now.timestamp_nanos_opt().unwrap_or_default()),
            "namespace": namespace,
        },
        "involvedObject": {
            "apiVersion": str_at(involved, "/apiVersion"),
            "kind": str_at(involved, "/kind"),
            "name": object::name(involved),
            "namespace": object::namespace(involved),
            "uid": object::uid(involved),
        },
        "reason": reason,
        "message": message,
        "type": kind,
        "count": 1,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": "",
    });
    // A name clash (two events in the same nanosecond) only loses a duplicate event.
    let _ = state.create(&EVENTS, event);
}

fn write_if_changed(state: &mut State, resource: &'static ResourceDef, old: &Value, new: Value) {
    if *old != new {
        // The object was read under this same lock, so it still exists.
        let _ = state.replace(resource, new);
    }
}

fn owner_reference(owner: &Value, kind: &str, api_version: &str) -> Value {
    json!([{
        "apiVersion": api_version,
        "kind": kind,
        "name": object::name(owner),
        "uid": object::uid(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    }])
}

/// A pod stamped out of a controller's template.
fn pod_from_template(
    owner: &Value,
    owner_kind: &str,
    name: &str,
    extra_labels: &[(&str, String)],
) -> Value {
    let template = object::at(owner, "/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut labels = object::at(&template, "/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (key, value) in extra_labels {
        labels.insert((*key).to_owned(), Value::String(value.clone()));
    }
    let annotations = object::at(&template, "/metadata/annotations")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    for (field, default) in [
        ("restartPolicy", json!("Always")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("dnsPolicy", json!("ClusterFirst")),
        ("schedulerName", json!("default-scheduler")),
        ("serviceAccountName", json!("default")),
        ("enableServiceLinks", json!(true)),
        ("priority", json!(0)),
    ] {
        if spec.get(field).is_none() {
            spec[field] = default;
        }
    }
    if owner_kind == "StatefulSet" {
        spec["hostname"] = Value::String(name.to_owned());
        if let Some(service) = object::at(owner, "/spec/serviceName") {
            spec["subdomain"] = service.clone();
        }
    }
    json!({
        "metadata": {
            "name": name,
            "namespace": object::namespace(owner),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": owner_reference(owner, owner_kind, "apps/v1"),
        },
        "spec": spec,
        "status": {"phase": "Pending", "qosClass": "Burstable"},
    })
}

fn is_ready(pod: &Value) -> bool {
    object::pod_is_active(pod) && object::pod_is_ready(pod)
}

impl Controllers {
    /// Controllers over a store with this timing, recording readiness into `recorder`.
    pub fn new(store: Arc<Store>, timing: Timing, recorder: Recorder) -> Self {
        Self {
            store,
            timing,
            recorder,
            serving: HashMap::new(),
            timers: HashMap::new(),
            terminating: HashMap::new(),
            next_ip: 0,
            warm: false,
            last_seen_version: 0,
            next_due: None,
            processes: processes::Processes::default(),
        }
    }

    /// Brings the preloaded platform to a steady state at once: every pod scheduled,
    /// running and Ready without start delays.
    pub fn warm_up(&mut self) {
        self.warm = true;
        // Ordered statefulsets need one pass per ordinal; 64 passes cover any seed.
        for _ in 0..64 {
            let before = self.store.lock().resource_version();
            self.reconcile(Instant::now());
            if self.store.lock().resource_version() == before {
                break;
            }
        }
        self.warm = false;
    }

    /// Reconciles on every tick until `shutdown` resolves.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        let mut interval = tokio::time::interval(self.timing.tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = interval.tick() => self.reconcile(Instant::now()),
                () = &mut shutdown => break,
            }
        }
        self.processes.stop_all().await;
    }

    /// One reconcile pass of every controller. Skipped when nothing changed since the last
    /// pass and no kubelet timer is due, so an idle sandbox costs nothing.
    ///
    /// The pass runs in steps (garbage collection; the workload controllers; the
    /// scheduler; the kubelet; endpoints and budgets), each under one store lock and each
    /// reading what it acts on under that lock, so every step sees and writes a
    /// consistent state. Between steps the lock goes first to the API requests waiting for
    /// it ([`Store::relock`]): at thousands of pods a whole pass would otherwise stall them
    /// for its full length. A request that lands between steps moves the resourceVersion
    /// past `start_version`, so the next tick passes again, as for a write just before it.
    pub fn reconcile(&mut self, now: Instant) {
        let store = Arc::clone(&self.store);
        let mut state = store.lock();
        let due = self.next_due.is_some_and(|due| due <= now);
        if state.resource_version() == self.last_seen_version && !due {
            return;
        }
        self.next_due = None;
        // Remember the version before this pass: if the pass itself writes, the next tick
        // runs again, until a pass changes nothing.
        let start_version = state.resource_version();
        self.garbage_collect(&mut state);
        let mut state = store.relock(state);
        // The workload controllers share one view of the pods, built after garbage
        // collection: deployments write only replicasets, and replicasets and
        // statefulsets each write only the pods they own, so no controller of the three
        // changes a pod another one reads.
        let pods = pods_by_owner(&state);
        self.deployments(&mut state, &pods);
        self.replicasets(&mut state, &pods);
        self.statefulsets(&mut state, &pods);
        drop(pods);
        let mut state = store.relock(state);
        self.schedule(&mut state);
        let mut state = store.relock(state);
        self.kubelet(&mut state, now);
        let mut state = store.relock(state);
        self.process_pods(&mut state, now);
        let mut state = store.relock(state);
        self.endpoints(&mut state);
        self.disruption_budgets(&mut state);
        self.last_seen_version = start_version;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_the_way_the_deployment_controller_rounds() {
        let quarter = json!("25%");
        assert_eq!(int_or_percent(Some(&quarter), 3, true, 0), 1);
        assert_eq!(int_or_percent(Some(&quarter), 3, false, 0), 0);
        assert_eq!(int_or_percent(Some(&json!(2)), 3, false, 0), 2);
        assert_eq!(int_or_percent(None, 3, false, 7), 7);
    }
}
