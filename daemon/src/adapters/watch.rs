//! `KubeWatches`: each phase's cluster watch over kube-runtime's reflector — the cache the
//! scenario's reads are answered from, the changes that drive `verify`, and what the
//! watch saw (each lost pod's replacement, each service's fewest Ready pods).
//!
//! The watcher lists and then watches (resourceVersion-consistent, bookmarks asked for,
//! a re-list after `410 Gone`), so a phase costs one list and one watch per namespace
//! whatever it reads. Times are when the watch events arrived here: never before the
//! change happened on the API server.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use firedrill_core::selector::LabelSelector;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node as KubeNode, Pod as KubePod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::kube::{ZONE_LABEL, pod_ready};
use crate::engine::ports::{
    Change, PhaseWatch, PodSeen, ReadinessSeen, ScenarioError, ServiceRef, WatchScope, WatchSeen,
    Watches,
};

/// How long a phase's watch may take to list what it covers before the phase runs
/// without it.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// The cache of the phase running now, shared by every clone of `KubeCluster` (the
/// scenario's reads) and `KubeWatches` (which fills it). Empty between phases.
#[derive(Default)]
pub struct WatchSlot(RwLock<Option<Arc<Cache>>>);

impl WatchSlot {
    /// The cache, while a phase's watch is synced.
    pub fn get(&self) -> Option<Arc<Cache>> {
        self.0.read().clone()
    }
}

impl std::fmt::Debug for WatchSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchSlot")
            .field("active", &self.0.read().is_some())
            .finish()
    }
}

/// How long a read waits for the cache to show the scenario's own writes before it goes
/// to the API instead.
const CATCH_UP: Duration = Duration::from_secs(2);

/// A write the cache must show before it answers reads: a scenario that deleted a pod
/// must not read it back Ready from a watch that has not seen the delete yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// The pod (this uid, or any pod of this name when the uid was not known) is
    /// terminating or gone.
    PodGone {
        namespace: String,
        name: String,
        uid: Option<String>,
    },
    /// The node's `spec.unschedulable` is this.
    Cordoned { node: String, unschedulable: bool },
}

/// A synced phase watch's stores: pods per namespace, nodes when watched.
pub struct Cache {
    pods: BTreeMap<String, Store<KubePod>>,
    nodes: Option<Store<KubeNode>>,
    direct_reads: AtomicU64,
    changes: watch::Receiver<Option<Change>>,
    expected: Mutex<Vec<Expect>>,
}

impl Cache {
    /// Notes a write the cache must show before its next answer.
    pub fn expect(&self, expect: Expect) {
        let watched = match &expect {
            Expect::PodGone { namespace, .. } => self.pods.contains_key(namespace),
            Expect::Cordoned { .. } => self.nodes.is_some(),
        };
        if watched {
            self.expected.lock().push(expect);
        }
    }

    /// The uid of a cached pod, for [`Expect::PodGone`].
    pub fn pod_uid(&self, namespace: &str, name: &str) -> Option<String> {
        self.pod_now(namespace, name)
            .flatten()
            .and_then(|p| p.uid())
    }

    /// Waits (at most [`CATCH_UP`]) until the cache shows every write expected of it:
    /// `false` when it does not, and the read should go to the API.
    pub async fn caught_up(&self) -> bool {
        let mut changes = self.changes.clone();
        let deadline = Instant::now() + CATCH_UP;
        loop {
            if self.settle() {
                return true;
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return false },
                () = tokio::time::sleep_until(deadline) => return self.settle(),
            }
        }
    }

    /// Drops the expectations the stores now meet; `true` when none is left.
    fn settle(&self) -> bool {
        let mut expected = self.expected.lock();
        expected.retain(|expect| !self.shows(expect));
        expected.is_empty()
    }

    fn shows(&self, expect: &Expect) -> bool {
        match expect {
            Expect::PodGone {
                namespace,
                name,
                uid,
            } => match self.pod_now(namespace, name).flatten() {
                None => true,
                Some(pod) => {
                    pod.metadata.deletion_timestamp.is_some()
                        || uid
                            .as_ref()
                            .is_some_and(|uid| pod.uid().as_ref() != Some(uid))
                }
            },
            Expect::Cordoned {
                node,
                unschedulable,
            } => self.node_now(node).flatten().is_some_and(|n| {
                n.spec
                    .as_ref()
                    .and_then(|s| s.unschedulable)
                    .unwrap_or(false)
                    == *unschedulable
            }),
        }
    }

    fn pod_now(&self, namespace: &str, name: &str) -> Option<Option<Arc<KubePod>>> {
        let store = self.pods.get(namespace)?;
        Some(store.find(|pod| pod.name_any() == name))
    }

    fn node_now(&self, name: &str) -> Option<Option<Arc<KubeNode>>> {
        let store = self.nodes.as_ref()?;
        Some(store.find(|node| node.name_any() == name))
    }

    /// The pods of `namespace` matching `selector`, if the namespace is watched.
    pub fn pods(&self, namespace: &str, selector: &LabelSelector) -> Option<Vec<Arc<KubePod>>> {
        let store = self.pods.get(namespace)?;
        Some(store.state_filter(|pod| selector.matches(pod.labels())))
    }

    /// One pod of a watched namespace (`Some(None)`: watched, and not there).
    pub fn pod(&self, namespace: &str, name: &str) -> Option<Option<Arc<KubePod>>> {
        self.pod_now(namespace, name)
    }

    /// The nodes matching `selector`, if nodes are watched.
    pub fn nodes(&self, selector: &LabelSelector) -> Option<Vec<Arc<KubeNode>>> {
        let store = self.nodes.as_ref()?;
        Some(store.state_filter(|node| selector.matches(node.labels())))
    }

    /// One node, if nodes are watched.
    pub fn node(&self, name: &str) -> Option<Option<Arc<KubeNode>>> {
        self.node_now(name)
    }

    /// Counts a read the cache could not answer.
    pub fn count_direct_read(&self) {
        self.direct_reads.fetch_add(1, Ordering::Relaxed);
    }

    /// A receiver that wakes on every change the watch sees.
    pub fn changes(&self) -> watch::Receiver<Option<Change>> {
        self.changes.clone()
    }
}

/// Starts phase watches against one cluster.
#[derive(Clone)]
pub struct KubeWatches {
    client: Client,
    slot: Arc<WatchSlot>,
    /// Each node's zone label, read once per run: the per-pod breakdown of every phase
    /// names the zone its replacements went to, and a node does not change zones.
    zones: Arc<Mutex<BTreeMap<String, Option<String>>>>,
}

impl std::fmt::Debug for KubeWatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeWatches").finish_non_exhaustive()
    }
}

impl KubeWatches {
    /// Watches that fill `slot`, the one the cluster's `KubeCluster` reads from.
    pub fn new(client: Client, slot: Arc<WatchSlot>) -> Self {
        Self {
            client,
            slot,
            zones: Arc::default(),
        }
    }
}

#[async_trait]
impl Watches for KubeWatches {
    async fn watch(&self, scope: &WatchScope) -> Result<Arc<dyn PhaseWatch>, ScenarioError> {
        let namespaces: BTreeSet<&str> = scope
            .services
            .iter()
            .map(|s| s.namespace.as_str())
            .collect();
        let (sender, receiver) = watch::channel(None);
        let observer = Arc::new(Mutex::new(Observer::new(&scope.services, sender)?));
        let mut tasks = Tasks(Vec::new());
        let mut pods = BTreeMap::new();
        for namespace in &namespaces {
            let (store, writer) = reflector::store();
            let api: Api<KubePod> = Api::namespaced(self.client.clone(), namespace);
            let stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .reflect(writer);
            let observer = observer.clone();
            let watched = namespace.to_string();
            tasks.0.push(tokio::spawn(stream.for_each(move |event| {
                match event {
                    Ok(event) => observer.lock().pod_event(&event, Instant::now()),
                    Err(err) => {
                        tracing::warn!(namespace = %watched, error = %err, "Pod watch failed; retrying");
                    }
                }
                std::future::ready(())
            })));
            pods.insert(namespace.to_string(), store);
        }
        let nodes = if scope.nodes {
            let (store, writer) = reflector::store();
            let api: Api<KubeNode> = Api::all(self.client.clone());
            let stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .reflect(writer);
            let observer = observer.clone();
            tasks.0.push(tokio::spawn(stream.for_each(move |event| {
                match event {
                    Ok(event) => observer.lock().node_event(&event, Instant::now()),
                    Err(err) => tracing::warn!(error = %err, "Node watch failed; retrying"),
                }
                std::future::ready(())
            })));
            Some(store)
        } else {
            None
        };
        let synced = async {
            for store in pods.values() {
                store.wait_until_ready().await?;
            }
            if let Some(store) = &nodes {
                store.wait_until_ready().await?;
            }
            Ok::<_, reflector::store::WriterDropped>(())
        };
        match tokio::time::timeout(SYNC_TIMEOUT, synced).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(ScenarioError(format!("the cluster watch stopped: {err}"))),
            Err(_) => {
                return Err(ScenarioError(format!(
                    "the cluster watch did not list {} within {} s",
                    namespaces.into_iter().collect::<Vec<_>>().join(", "),
                    SYNC_TIMEOUT.as_secs()
                )));
            }
        }
        // The reflector is ready once its first list is in; the observer counts from
        // the same events, so it has them too.
        observer.lock().start();
        let budgets = self.budgets(&namespaces).await;
        observer.lock().budgets = budgets;
        let cache = Arc::new(Cache {
            pods,
            nodes,
            direct_reads: AtomicU64::new(0),
            changes: receiver,
            expected: Mutex::new(Vec::new()),
        });
        *self.slot.0.write() = Some(cache.clone());
        Ok(Arc::new(KubePhaseWatch {
            client: self.client.clone(),
            slot: self.slot.clone(),
            cache,
            observer,
            tasks: Mutex::new(Some(tasks)),
            zones: self.zones.clone(),
        }))
    }
}

impl KubeWatches {
    /// The disruption budgets of `namespaces` (one list each; a namespace whose budgets
    /// cannot be read has none as far as the checklist knows).
    async fn budgets(&self, namespaces: &BTreeSet<&str>) -> Vec<PodDisruptionBudget> {
        let mut all = Vec::new();
        for namespace in namespaces {
            let api: Api<PodDisruptionBudget> = Api::namespaced(self.client.clone(), namespace);
            match api.list(&ListParams::default()).await {
                Ok(list) => all.extend(list.items),
                Err(err) => {
                    tracing::warn!(%namespace, error = %err, "Cannot list disruption budgets");
                }
            }
        }
        all
    }
}

/// The watch tasks of a phase, stopped when dropped.
struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// One phase's watch as the engine holds it.
struct KubePhaseWatch {
    client: Client,
    slot: Arc<WatchSlot>,
    cache: Arc<Cache>,
    observer: Arc<Mutex<Observer>>,
    tasks: Mutex<Option<Tasks>>,
    zones: Arc<Mutex<BTreeMap<String, Option<String>>>>,
}

impl KubePhaseWatch {
    fn stop(&self) {
        let mut slot = self.slot.0.write();
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, &self.cache)) {
            *slot = None;
        }
        drop(slot);
        self.tasks.lock().take();
    }
}

impl Drop for KubePhaseWatch {
    fn drop(&mut self) {
        self.stop();
    }
}

#[async_trait]
impl PhaseWatch for KubePhaseWatch {
    fn changes(&self) -> watch::Receiver<Option<Change>> {
        self.cache.changes()
    }

    fn direct_reads(&self) -> u64 {
        self.cache.direct_reads.load(Ordering::Relaxed)
    }

    async fn finish(&self) -> WatchSeen {
        self.stop();
        let mut seen = self.observer.lock().seen();
        // The zone of each replacement's node: from the node cache when nodes were
        // watched, else what an earlier phase of the run read, else one read per node
        // (a node that cannot be read has no zone here, and is read again next time).
        for pod in &mut seen.pods {
            let Some(node) = pod.node.clone() else {
                continue;
            };
            let known = self.zones.lock().get(&node).cloned();
            let zone = match (self.cache.node(&node), known) {
                (Some(cached), _) => cached.and_then(|n| n.labels().get(ZONE_LABEL).cloned()),
                (None, Some(zone)) => zone,
                (None, None) => {
                    let read = Api::<KubeNode>::all(self.client.clone())
                        .get(&node)
                        .await
                        .ok()
                        .map(|n| n.labels().get(ZONE_LABEL).cloned());
                    if let Some(zone) = &read {
                        self.zones.lock().insert(node.clone(), zone.clone());
                    }
                    read.flatten()
                }
            };
            pod.zone = zone;
        }
        seen
    }
}

/// A service as the observer counts it.
struct Tracked {
    name: String,
    namespace: String,
    selector: LabelSelector,
    ready: u32,
    ready_at_start: u32,
    fewest: u32,
}

/// One pod as the watch saw it.
#[derive(Debug, Clone)]
struct PodTrack {
    key: String,
    owner: Option<(String, String)>,
    /// Listed before the phase's watch was synced.
    existing: bool,
    first_seen: Instant,
    lost: Option<Instant>,
    scheduled: Option<Instant>,
    node: Option<String>,
    started: Option<Instant>,
    ready_since: Option<Instant>,
    /// Counted as Ready in its services now.
    counted: bool,
    services: Vec<usize>,
    labels: BTreeMap<String, String>,
}

/// Turns watch events into changes, per-pod steps and per-service counts.
struct Observer {
    services: Vec<Tracked>,
    pods: BTreeMap<String, PodTrack>,
    nodes: BTreeMap<String, (bool, bool)>,
    /// The initial lists are in: later events are changes.
    started: bool,
    /// Pods seen in a re-list in progress (after `410 Gone`), by uid.
    relisting: Option<BTreeSet<String>>,
    seq: u64,
    events: u64,
    sender: watch::Sender<Option<Change>>,
    budgets: Vec<PodDisruptionBudget>,
}

impl Observer {
    fn new(
        services: &[ServiceRef],
        sender: watch::Sender<Option<Change>>,
    ) -> Result<Self, ScenarioError> {
        let services = services
            .iter()
            .map(|s| {
                let selector = LabelSelector::parse(&s.selector).map_err(|err| {
                    ScenarioError(format!(
                        "service {}: selector {}: {err}",
                        s.name, s.selector
                    ))
                })?;
                Ok(Tracked {
                    name: s.name.clone(),
                    namespace: s.namespace.clone(),
                    selector,
                    ready: 0,
                    ready_at_start: 0,
                    fewest: 0,
                })
            })
            .collect::<Result<_, ScenarioError>>()?;
        Ok(Self {
            services,
            pods: BTreeMap::new(),
            nodes: BTreeMap::new(),
            started: false,
            relisting: None,
            seq: 0,
            events: 0,
            sender,
            budgets: Vec::new(),
        })
    }

    /// The initial lists are in: counting starts from here.
    fn start(&mut self) {
        self.started = true;
        for service in &mut self.services {
            service.ready_at_start = service.ready;
            service.fewest = service.ready;
        }
    }

    fn pod_event(&mut self, event: &watcher::Event<KubePod>, now: Instant) {
        match event {
            watcher::Event::Init => self.relisting = Some(BTreeSet::new()),
            watcher::Event::InitApply(pod) => {
                if let Some(seen) = &mut self.relisting {
                    seen.insert(uid(pod));
                }
                self.apply(pod, now);
            }
            watcher::Event::InitDone => {
                // Pods gone during a re-list were deleted meanwhile.
                if let Some(seen) = self.relisting.take()
                    && self.started
                {
                    let gone: Vec<String> = self
                        .pods
                        .iter()
                        .filter(|(uid, track)| track.lost.is_none() && !seen.contains(*uid))
                        .map(|(uid, _)| uid.clone())
                        .collect();
                    for uid in gone {
                        self.remove(&uid, now);
                    }
                    self.publish(now, "Pod", None, "(watch)".into(), "re-listed".into());
                }
            }
            watcher::Event::Apply(pod) => self.apply(pod, now),
            watcher::Event::Delete(pod) => {
                let uid = uid(pod);
                if !self.pods.contains_key(&uid) {
                    self.apply(pod, now);
                }
                self.remove(&uid, now);
            }
        }
    }

    fn apply(&mut self, pod: &KubePod, now: Instant) {
        self.events += u64::from(self.started);
        let uid = uid(pod);
        let started = self.started;
        if !self.pods.contains_key(&uid) {
            let namespace = pod.namespace().unwrap_or_default();
            let services = self
                .services
                .iter()
                .enumerate()
                .filter(|(_, s)| s.namespace == namespace && s.selector.matches(pod.labels()))
                .map(|(i, _)| i)
                .collect();
            self.pods.insert(
                uid.clone(),
                PodTrack {
                    key: format!("{namespace}/{}", pod.name_any()),
                    owner: pod
                        .owner_references()
                        .iter()
                        .find(|o| o.controller == Some(true))
                        .or(pod.owner_references().first())
                        .map(|o| (o.kind.clone(), o.name.clone())),
                    existing: !started,
                    first_seen: now,
                    lost: None,
                    scheduled: None,
                    node: None,
                    started: None,
                    ready_since: None,
                    counted: false,
                    services,
                    labels: pod.labels().clone(),
                },
            );
            if started {
                self.note(now, pod, "created");
            }
        }
        let Some(track) = self.pods.get_mut(&uid) else {
            return;
        };
        let mut summary = None;
        if pod.metadata.deletion_timestamp.is_some() && track.lost.is_none() {
            track.lost = Some(now);
            summary = Some("terminating".to_string());
        }
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
        if track.scheduled.is_none()
            && let Some(node) = node
        {
            track.scheduled = Some(now);
            summary.get_or_insert_with(|| format!("scheduled on {node}"));
            track.node = Some(node);
        }
        if track.started.is_none() && running(pod) {
            track.started = Some(now);
            summary.get_or_insert_with(|| "started".into());
        }
        let ready = pod_ready(pod) && pod.metadata.deletion_timestamp.is_none();
        if ready && track.ready_since.is_none() {
            track.ready_since = Some(now);
        }
        let was = track.counted;
        track.counted = ready;
        let services = track.services.clone();
        if ready != was {
            summary = Some(
                if ready {
                    "became Ready"
                } else {
                    "is not Ready"
                }
                .into(),
            );
            self.count(&services, ready);
        }
        if let Some(summary) = summary
            && started
        {
            self.note(now, pod, &summary);
        }
    }

    fn remove(&mut self, uid: &str, now: Instant) {
        let Some(track) = self.pods.get_mut(uid) else {
            return;
        };
        track.lost.get_or_insert(now);
        let was = std::mem::replace(&mut track.counted, false);
        let (services, key) = (track.services.clone(), track.key.clone());
        if was {
            self.count(&services, false);
        }
        if self.started {
            let (namespace, name) = key.split_once('/').unwrap_or(("", key.as_str()));
            let (namespace, name) = (namespace.to_string(), name.to_string());
            self.publish(now, "Pod", Some(namespace), name, "deleted".into());
        }
    }

    fn count(&mut self, services: &[usize], up: bool) {
        for &i in services {
            let Some(service) = self.services.get_mut(i) else {
                continue;
            };
            if up {
                service.ready += 1;
            } else {
                service.ready = service.ready.saturating_sub(1);
                if self.started {
                    service.fewest = service.fewest.min(service.ready);
                }
            }
        }
    }

    fn node_event(&mut self, event: &watcher::Event<KubeNode>, now: Instant) {
        let node = match event {
            watcher::Event::Apply(node) | watcher::Event::InitApply(node) => node,
            watcher::Event::Delete(node) => {
                if self.started {
                    self.publish(now, "Node", None, node.name_any(), "deleted".into());
                }
                return;
            }
            watcher::Event::Init | watcher::Event::InitDone => return,
        };
        let name = node.name_any();
        let unschedulable = node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false);
        let ready = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        let before = self.nodes.insert(name.clone(), (unschedulable, ready));
        if !self.started {
            return;
        }
        self.events += 1;
        let summary = match before {
            Some((was_cordoned, _)) if was_cordoned != unschedulable => {
                if unschedulable {
                    "cordoned"
                } else {
                    "uncordoned"
                }
            }
            Some((_, was_ready)) if was_ready != ready => {
                if ready {
                    "became Ready"
                } else {
                    "is not Ready"
                }
            }
            Some(_) => "changed",
            None => "added",
        };
        self.publish(now, "Node", None, name, summary.into());
    }

    fn note(&mut self, now: Instant, pod: &KubePod, summary: &str) {
        self.publish(
            now,
            "Pod",
            pod.namespace(),
            pod.name_any(),
            summary.to_string(),
        );
    }

    fn publish(
        &mut self,
        at: Instant,
        kind: &str,
        namespace: Option<String>,
        name: String,
        summary: String,
    ) {
        self.seq += 1;
        self.sender.send_replace(Some(Change {
            seq: self.seq,
            at,
            kind: kind.to_string(),
            namespace,
            name,
            summary,
        }));
    }

    /// What the watch saw: each lost pod paired with its replacement (same owner, created
    /// after the loss, in order), each service's counts and budget.
    fn seen(&self) -> WatchSeen {
        let mut lost: Vec<&PodTrack> = self.pods.values().filter(|p| p.lost.is_some()).collect();
        lost.sort_by_key(|p| p.lost);
        let mut fresh: Vec<&PodTrack> = self.pods.values().filter(|p| !p.existing).collect();
        fresh.sort_by_key(|p| p.first_seen);
        let mut taken = BTreeSet::new();
        let mut pods = Vec::new();
        for gone in lost {
            let Some(lost_at) = gone.lost else {
                continue;
            };
            // In order: a rollout's surge creates replacements before the old pods go.
            let replacement = fresh
                .iter()
                .enumerate()
                .find(|(i, p)| {
                    !taken.contains(i)
                        && p.owner.is_some()
                        && p.owner == gone.owner
                        && !std::ptr::eq(**p, gone)
                })
                .map(|(i, p)| {
                    taken.insert(i);
                    *p
                });
            pods.push(PodSeen {
                lost: gone.key.clone(),
                lost_at,
                replacement: replacement.map(|p| p.key.clone()),
                created: replacement.map(|p| p.first_seen),
                scheduled: replacement.and_then(|p| p.scheduled),
                node: replacement.and_then(|p| p.node.clone()),
                zone: None,
                started: replacement.and_then(|p| p.started),
                ready: replacement.and_then(|p| p.ready_since),
            });
        }
        let services = self
            .services
            .iter()
            .map(|s| ReadinessSeen {
                service: s.name.clone(),
                ready_at_start: s.ready_at_start,
                min_ready: s.fewest,
                budget: self.budget_for(s),
            })
            .collect();
        WatchSeen {
            pods,
            services,
            events: self.events,
        }
    }

    /// The budget covering a service's pods and the pods it lets be unavailable at once.
    fn budget_for(&self, service: &Tracked) -> Option<(String, u32)> {
        let index = self.services.iter().position(|s| s.name == service.name)?;
        let labels = &self
            .pods
            .values()
            .find(|p| p.services.contains(&index))?
            .labels;
        let expected = service.ready_at_start;
        self.budgets.iter().find_map(|budget| {
            if budget.namespace().as_deref() != Some(service.namespace.as_str()) {
                return None;
            }
            let spec = budget.spec.as_ref()?;
            let wanted = spec.selector.as_ref()?.match_labels.as_ref()?;
            // The budget covers the service when it selects the service's pods.
            let covers = wanted.iter().all(|(k, v)| labels.get(k) == Some(v));
            if !covers {
                return None;
            }
            let allowed = match (&spec.max_unavailable, &spec.min_available) {
                (Some(max), _) => resolve(max, expected, false),
                (None, Some(min)) => expected.saturating_sub(resolve(min, expected, true)),
                (None, None) => return None,
            };
            Some((budget.name_any(), allowed))
        })
    }
}

/// An `IntOrString` of a budget against `total` pods; percentages round up for
/// `minAvailable` and down for `maxUnavailable`, as the disruption controller does.
fn resolve(value: &IntOrString, total: u32, round_up: bool) -> u32 {
    match value {
        IntOrString::Int(n) => u32::try_from(*n).unwrap_or(0),
        IntOrString::String(text) => {
            let percent: f64 = text.trim_end_matches('%').parse().unwrap_or(0.0);
            let exact = f64::from(total) * percent / 100.0;
            let n = if round_up {
                exact.ceil()
            } else {
                exact.floor()
            };
            n.clamp(0.0, f64::from(u32::MAX)) as u32
        }
    }
}

fn uid(pod: &KubePod) -> String {
    pod.uid()
        .unwrap_or_else(|| format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any()))
}

/// A container of the pod is running (or the pod is `Running`).
fn running(pod: &KubePod) -> bool {
    let Some(status) = &pod.status else {
        return false;
    };
    status.phase.as_deref() == Some("Running")
        || status.container_statuses.as_ref().is_some_and(|statuses| {
            statuses
                .iter()
                .any(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
        })
}
