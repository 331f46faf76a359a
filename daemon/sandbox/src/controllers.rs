//! The simulated controllers: deployments, replicasets, statefulsets, the scheduler, the
//! kubelet, endpoints, disruption budgets and garbage collection, reconciled on a tick.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::config::Timing;
use crate::ground_truth::{PodLost, PodReady, Recorder};
use crate::names;
use crate::object::{self, int_at, str_at};
use crate::platform::START_DELAY_ANNOTATION;
use crate::resources::{
    DEPLOYMENTS, ENDPOINTS, EVENTS, NAMESPACES, NODES, PODDISRUPTIONBUDGETS, PODS, REPLICASETS,
    RESOURCES, ResourceDef, SERVICES, STATEFULSETS,
};
use crate::selector::LabelSelector;
use crate::store::{Object, State, Store};

/// The most events kept; older ones are dropped, as a real cluster's TTL would.
const EVENT_LIMIT: usize = 2_000;

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

/// The health of the pods a disruption budget covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disruption {
    /// Pods the budget expects (its controllers' replicas).
    pub expected: i64,
    /// Ready, non-terminating pods.
    pub healthy: i64,
    /// How many must stay healthy.
    pub desired: i64,
}

impl Disruption {
    /// How many more pods may be disrupted now.
    pub fn allowed(&self) -> i64 {
        (self.healthy - self.desired).max(0)
    }
}

/// Pods by the uid of their controller, built once per pass for the workload controllers.
fn pods_by_owner(state: &State) -> HashMap<String, Vec<Object>> {
    let mut owned: HashMap<String, Vec<Object>> = HashMap::new();
    for pod in state.list(&PODS, None) {
        if let Some(uid) = object::controller_uid(pod) {
            owned
                .entry(uid.to_owned())
                .or_default()
                .push(Arc::clone(pod));
        }
    }
    owned
}

/// Computes a disruption budget's figures from the live pods and their controllers.
pub fn disruption(state: &State, pdb: &Value) -> Disruption {
    disruption_among(state, pdb, state.list(&PODS, Some(object::namespace(pdb))))
}

/// Pods of one reconcile pass indexed by namespace and label, so that the controllers
/// matching selectors (endpoints, disruption budgets) do not scan every pod per object.
struct PodIndex {
    by_label: HashMap<(String, String, String), Vec<Object>>,
    by_namespace: HashMap<String, Vec<Object>>,
}

impl PodIndex {
    fn build(state: &State) -> Self {
        let mut by_label: HashMap<(String, String, String), Vec<Object>> = HashMap::new();
        let mut by_namespace: HashMap<String, Vec<Object>> = HashMap::new();
        for pod in state.list(&PODS, None) {
            let namespace = object::namespace(pod);
            by_namespace
                .entry(namespace.to_owned())
                .or_default()
                .push(Arc::clone(pod));
            for (key, value) in object::labels(pod).into_iter().flatten() {
                by_label
                    .entry((
                        namespace.to_owned(),
                        key.clone(),
                        value.as_str().unwrap_or_default().to_owned(),
                    ))
                    .or_default()
                    .push(Arc::clone(pod));
            }
        }
        Self {
            by_label,
            by_namespace,
        }
    }

    /// The pods that may match: those carrying the selector's first `key=value`, or
    /// every pod of the namespace when the selector has no equality term.
    fn candidates(&self, namespace: &str, selector: &LabelSelector) -> &[Object] {
        let found = match selector.equality_terms().next() {
            Some((key, value)) => {
                self.by_label
                    .get(&(namespace.to_owned(), key.to_owned(), value.to_owned()))
            }
            None => self.by_namespace.get(namespace),
        };
        found.map_or(&[], Vec::as_slice)
    }
}

fn disruption_among<'a>(
    state: &State,
    pdb: &Value,
    candidates: impl Iterator<Item = &'a Object>,
) -> Disruption {
    let namespace = object::namespace(pdb);
    let selector = LabelSelector::from_json(object::at(pdb, "/spec/selector"));
    let pods: Vec<&Object> = candidates
        .filter(|p| object::pod_is_active(p) && selector.matches_object(p))
        .collect();
    let healthy = pods.iter().filter(|p| object::pod_is_ready(p)).count() as i64;
    // Expected pods come from the controllers' scale, so a lost pod still counts.
    let mut controllers: HashSet<(String, String)> = HashSet::new();
    let mut expected = 0i64;
    let mut uncontrolled = 0i64;
    for pod in &pods {
        match object::controller_ref(pod) {
            Some(("ReplicaSet", rs_name)) => {
                let owner = state.get(&REPLICASETS, namespace, rs_name).and_then(|rs| {
                    object::controller_ref(rs).map(|(k, n)| (k.to_owned(), n.to_owned()))
                });
                match owner {
                    Some((kind, name)) if kind == "Deployment" => {
                        if controllers.insert((kind, name.clone())) {
                            expected += state
                                .get(&DEPLOYMENTS, namespace, &name)
                                .and_then(|d| int_at(d, "/spec/replicas"))
                                .unwrap_or(1);
                        }
                    }
                    _ => {
                        if controllers.insert(("ReplicaSet".to_owned(), rs_name.to_owned())) {
                            expected += state
                                .get(&REPLICASETS, namespace, rs_name)
                                .and_then(|rs| int_at(rs, "/spec/replicas"))
                                .unwrap_or(1);
                        }
                    }
                }
            }
            Some(("StatefulSet", name)) => {
                if controllers.insert(("StatefulSet".to_owned(), name.to_owned())) {
                    expected += state
                        .get(&STATEFULSETS, namespace, name)
                        .and_then(|s| int_at(s, "/spec/replicas"))
                        .unwrap_or(1);
                }
            }
            _ => uncontrolled += 1,
        }
    }
    let expected = expected + uncontrolled;
    let desired = if let Some(max_unavailable) = object::at(pdb, "/spec/maxUnavailable") {
        (expected - int_or_percent(Some(max_unavailable), expected, true, 0)).max(0)
    } else {
        int_or_percent(object::at(pdb, "/spec/minAvailable"), expected, true, 0)
    };
    Disruption {
        expected,
        healthy,
        desired,
    }
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

/// Whether a pod tolerates a node taint (key and effect match, `Exists` or equal value).
fn tolerates(pod: &Value, taint: &Value) -> bool {
    object::at(pod, "/spec/tolerations")
        .and_then(Value::as_array)
        .is_some_and(|tolerations| {
            tolerations.iter().any(|t| {
                let key_matches =
                    str_at(t, "/key").is_empty() || str_at(t, "/key") == str_at(taint, "/key");
                let effect_matches = str_at(t, "/effect").is_empty()
                    || str_at(t, "/effect") == str_at(taint, "/effect");
                let value_matches = str_at(t, "/operator") == "Exists"
                    || str_at(t, "/value") == str_at(taint, "/value");
                key_matches && effect_matches && value_matches
            })
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
        let index = PodIndex::build(&state);
        self.endpoints(&mut state, &index);
        self.disruption_budgets(&mut state, &index);
        self.last_seen_version = start_version;
    }

    fn garbage_collect(&mut self, state: &mut State) {
        let namespaces: HashSet<String> = state
            .list(&NAMESPACES, None)
            .map(|n| object::name(n).to_owned())
            .collect();
        // Objects in a deleted namespace go with it.
        for resource in RESOURCES.iter().filter(|r| r.namespaced) {
            let orphans: Vec<(String, String)> = state
                .list(resource, None)
                .filter(|o| !namespaces.contains(object::namespace(o)))
                .map(|o| (object::namespace(o).to_owned(), object::name(o).to_owned()))
                .collect();
            for (namespace, name) in orphans {
                state.remove(resource, &namespace, &name);
            }
        }
        let owners: HashSet<String> = [&DEPLOYMENTS, &REPLICASETS, &STATEFULSETS]
            .into_iter()
            .flat_map(|r| state.list(r, None).map(|o| object::uid(o).to_owned()))
            .collect();
        let orphaned_sets: Vec<Object> = state
            .list(&REPLICASETS, None)
            .filter(|rs| object::controller_uid(rs).is_some_and(|uid| !owners.contains(uid)))
            .cloned()
            .collect();
        for rs in orphaned_sets {
            state.remove(&REPLICASETS, object::namespace(&rs), object::name(&rs));
        }
        let nodes: HashSet<String> = state
            .list(&NODES, None)
            .map(|n| object::name(n).to_owned())
            .collect();
        // Nodes tainted NoExecute evict the pods that do not tolerate the taint, as the
        // taint manager does (a common way to fail a zone).
        let no_execute: HashMap<String, Vec<Value>> = state
            .list(&NODES, None)
            .filter_map(|n| {
                let taints: Vec<Value> = object::at(n, "/spec/taints")
                    .and_then(Value::as_array)?
                    .iter()
                    .filter(|t| str_at(t, "/effect") == "NoExecute")
                    .cloned()
                    .collect();
                (!taints.is_empty()).then(|| (object::name(n).to_owned(), taints))
            })
            .collect();
        // Decided on the pods as they are, then acted on: acting on one pod changes no
        // other pod's verdict, and only the few pods acted on are kept.
        let doomed: Vec<(Object, bool)> = state
            .list(&PODS, None)
            .filter_map(|pod| {
                let node = str_at(pod, "/spec/nodeName");
                let evicted_by_taint = !object::is_terminating(pod)
                    && no_execute
                        .get(node)
                        .is_some_and(|taints| taints.iter().any(|t| !tolerates(pod, t)));
                if !node.is_empty() && !nodes.contains(node) {
                    Some((Arc::clone(pod), true))
                } else if evicted_by_taint
                    || (!object::is_terminating(pod)
                        && object::controller_uid(pod).is_some_and(|uid| !owners.contains(uid)))
                {
                    Some((Arc::clone(pod), false))
                } else {
                    None
                }
            })
            .collect();
        for (pod, node_gone) in doomed {
            if node_gone {
                // The pod garbage collector removes pods bound to nodes that are gone.
                state.remove(&PODS, object::namespace(&pod), object::name(&pod));
            } else {
                // Tainted away, or orphaned by a deleted owner: terminate gracefully.
                delete_pod(state, &pod, None);
            }
        }
        let stale_endpoints: Vec<Object> = state
            .list(&ENDPOINTS, None)
            .filter(|e| {
                state
                    .get(&SERVICES, object::namespace(e), object::name(e))
                    .is_none()
            })
            .cloned()
            .collect();
        for endpoints in stale_endpoints {
            state.remove(
                &ENDPOINTS,
                object::namespace(&endpoints),
                object::name(&endpoints),
            );
        }
        let excess = state.count(&EVENTS).saturating_sub(EVENT_LIMIT);
        if excess > 0 {
            let mut events: Vec<(u64, String, String)> = state
                .list(&EVENTS, None)
                .map(|e| {
                    (
                        str_at(e, "/metadata/resourceVersion").parse().unwrap_or(0),
                        object::namespace(e).to_owned(),
                        object::name(e).to_owned(),
                    )
                })
                .collect();
            events.sort();
            for (_, namespace, name) in events.into_iter().take(excess) {
                state.remove(&EVENTS, &namespace, &name);
            }
        }
    }

    fn deployments(&mut self, state: &mut State, pods: &HashMap<String, Vec<Object>>) {
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
            Some(i) => sets.remove(i),
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
            if sets.iter().all(|rs| active(rs) == 0) {
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

    fn replicasets(&mut self, state: &mut State, pods: &HashMap<String, Vec<Object>>) {
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

    fn statefulsets(&mut self, state: &mut State, pods: &HashMap<String, Vec<Object>>) {
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

    fn schedule(&mut self, state: &mut State) {
        let pending: Vec<Object> = state
            .list(&PODS, None)
            .filter(|p| str_at(p, "/spec/nodeName").is_empty() && !object::is_terminating(p))
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
        for pod in state.list(&PODS, None) {
            let node = str_at(pod, "/spec/nodeName");
            if node.is_empty() || !object::pod_is_active(pod) {
                continue;
            }
            *per_node.entry(node.to_owned()).or_default() += 1;
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

    fn kubelet(&mut self, state: &mut State, now: Instant) {
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
            if running && !ready && node_ready {
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
    fn workload_of(&self, state: &State, pod: &Value) -> (String, String) {
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

    fn endpoints(&mut self, state: &mut State, index: &PodIndex) {
        let services: Vec<Object> = state.list(&SERVICES, None).cloned().collect();
        for service in services {
            let selector = LabelSelector::from_map(
                object::at(&service, "/spec/selector").and_then(Value::as_object),
            );
            if object::at(&service, "/spec/selector").is_none() {
                continue;
            }
            let namespace = object::namespace(&service);
            let mut ready = Vec::new();
            let mut not_ready = Vec::new();
            let mut first_pod: Option<Object> = None;
            for pod in index.candidates(namespace, &selector) {
                if !selector.matches_object(pod) || str_at(pod, "/status/podIP").is_empty() {
                    continue;
                }
                let address = json!({
                    "ip": str_at(pod, "/status/podIP"),
                    "nodeName": str_at(pod, "/spec/nodeName"),
                    "targetRef": {"kind": "Pod", "namespace": namespace, "name": object::name(pod), "uid": object::uid(pod)},
                });
                if is_ready(pod) {
                    ready.push(address);
                } else if object::pod_is_active(pod) {
                    not_ready.push(address);
                }
                if first_pod.is_none() {
                    first_pod = Some(Arc::clone(pod));
                }
            }
            let ports: Vec<Value> = object::at(&service, "/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|p| {
                    let port = match p.get("targetPort") {
                        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
                        Some(Value::String(port_name)) => first_pod
                            .as_ref()
                            .and_then(|pod| {
                                object::at(pod, "/spec/containers")
                                    .and_then(Value::as_array)
                                    .into_iter()
                                    .flatten()
                                    .flat_map(|c| {
                                        c.get("ports")
                                            .and_then(Value::as_array)
                                            .into_iter()
                                            .flatten()
                                    })
                                    .find(|cp| str_at(cp, "/name") == port_name)
                                    .and_then(|cp| int_at(cp, "/containerPort"))
                            })
                            .unwrap_or(0),
                        _ => int_at(p, "/port").unwrap_or(0),
                    };
                    let mut entry = json!({"port": port, "protocol": str_at(p, "/protocol")});
                    if let Some(name) = p.get("name") {
                        entry["name"] = name.clone();
                    }
                    entry
                })
                .collect();
            let subsets = if ready.is_empty() && not_ready.is_empty() {
                json!([])
            } else {
                let mut subset = json!({"ports": ports});
                if !ready.is_empty() {
                    subset["addresses"] = Value::Array(ready);
                }
                if !not_ready.is_empty() {
                    subset["notReadyAddresses"] = Value::Array(not_ready);
                }
                json!([subset])
            };
            match state
                .get(&ENDPOINTS, namespace, object::name(&service))
                .cloned()
            {
                Some(existing) => {
                    let current = existing
                        .get("subsets")
                        .cloned()
                        .unwrap_or_else(|| json!([]));
                    if current != subsets {
                        let mut updated = (*existing).clone();
                        updated["subsets"] = subsets;
                        write_if_changed(state, &ENDPOINTS, &existing, updated);
                    }
                }
                None => {
                    let endpoints = json!({
                        "metadata": {
                            "name": object::name(&service),
                            "namespace": namespace,
                            "labels": object::at(&service, "/metadata/labels").cloned().unwrap_or_else(|| json!({})),
                        },
                        "subsets": subsets,
                    });
                    let _ = state.create(&ENDPOINTS, endpoints);
                }
            }
        }
    }

    fn disruption_budgets(&mut self, state: &mut State, index: &PodIndex) {
        let budgets: Vec<Object> = state.list(&PODDISRUPTIONBUDGETS, None).cloned().collect();
        for pdb in budgets {
            let selector = LabelSelector::from_json(object::at(&pdb, "/spec/selector"));
            let figures = disruption_among(
                state,
                &pdb,
                index.candidates(object::namespace(&pdb), &selector).iter(),
            );
            let allowed = figures.allowed();
            let reason = if allowed > 0 {
                "SufficientPods"
            } else {
                "InsufficientPods"
            };
            let status_text = if allowed > 0 { "True" } else { "False" };
            let transition = object::at(&pdb, "/status/conditions/0")
                .filter(|c| str_at(c, "/status") == status_text)
                .and_then(|c| c.get("lastTransitionTime").cloned())
                .unwrap_or_else(|| Value::String(object::timestamp(Utc::now())));
            let mut updated = (*pdb).clone();
            updated["status"] = json!({
                "observedGeneration": int_at(&pdb, "/metadata/generation").unwrap_or(1),
                "disruptionsAllowed": allowed,
                "currentHealthy": figures.healthy,
                "desiredHealthy": figures.desired,
                "expectedPods": figures.expected,
                "conditions": [{
                    "type": "DisruptionAllowed",
                    "status": status_text,
                    "reason": reason,
                    "message": "",
                    "observedGeneration": int_at(&pdb, "/metadata/generation").unwrap_or(1),
                    "lastTransitionTime": transition,
                }],
            });
            write_if_changed(state, &PODDISRUPTIONBUDGETS, &pdb, updated);
        }
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
