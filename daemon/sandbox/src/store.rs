//! The object store: every object as JSON, one global resourceVersion, a bounded change
//! history for watch resumption, a broadcast of changes to live watches, and indexes kept
//! with every write (objects by label `key=value`, by controller uid, pods by node) so
//! that selector lists, controllers and evictions touch only the objects they concern.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Map, Value};
use tokio::sync::broadcast;

use crate::object;
use crate::resources::{PODS, RESOURCES, ResourceDef};
use crate::selector::LabelSelector;

/// A stored object; shared so lists, watches and history do not copy it.
pub type Object = Arc<Value>;

/// A receiver of live changes.
pub type Subscription = broadcast::Receiver<Arc<Change>>;

/// What happened to an object, as a watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// The object was created.
    Added,
    /// The object was updated.
    Modified,
    /// The object was removed.
    Deleted,
}

impl ChangeKind {
    /// The watch event `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change to one object, stamped with the resourceVersion it produced.
#[derive(Debug)]
pub struct Change {
    /// The resourceVersion after the change.
    pub resource_version: u64,
    /// The kind of object that changed.
    pub resource: &'static ResourceDef,
    /// What happened.
    pub kind: ChangeKind,
    /// The object after the change (before removal for `Deleted`).
    pub object: Object,
}

/// Why a store operation was refused; the API maps each to a Kubernetes `Status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// No such object (or no such namespace for a namespaced create).
    NotFound { resource: String, name: String },
    /// An object of that name exists.
    AlreadyExists { resource: String, name: String },
    /// The caller's resourceVersion is stale.
    Conflict { resource: String, name: String },
    /// The object is malformed.
    Invalid {
        resource: String,
        name: String,
        message: String,
    },
}

/// Asked to resume a watch from a resourceVersion the history no longer covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooOld {
    /// The oldest resourceVersion a watch can still resume from.
    pub oldest: u64,
}

/// How long [`Store::relock`] lets waiting callers go first before it takes the lock
/// back regardless, so a steady stream of requests cannot starve the controllers.
const RELOCK_PATIENCE: Duration = Duration::from_millis(20);

/// The store; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    state: Mutex<State>,
    /// Callers blocked in [`Store::lock`], so [`Store::relock`] can let them go first.
    waiting: AtomicUsize,
}

/// The store's contents, reached through [`Store::lock`]. Controllers hold the lock for a
/// whole step of a reconcile pass so that they see and write a consistent snapshot.
#[derive(Debug)]
pub struct State {
    resource_version: u64,
    tables: HashMap<&'static str, BTreeMap<(String, String), Object>>,
    history: VecDeque<Arc<Change>>,
    history_capacity: usize,
    /// The newest resourceVersion dropped from the history; watches must start after it.
    compacted: u64,
    sender: broadcast::Sender<Arc<Change>>,
    uid_counter: u64,
    indexes: Indexes,
}

/// The keys `(namespace, name)` of the objects an index entry names, in list order.
type Keys = BTreeSet<(String, String)>;

/// Secondary indexes over the tables, updated by every create, replace and remove.
#[derive(Debug, Default)]
struct Indexes {
    /// Objects by `(kind plural, label key, label value)`.
    labels: HashMap<(&'static str, String, String), Keys>,
    /// Objects by `(kind plural, uid of their controller)`.
    owners: HashMap<(&'static str, String), Keys>,
    /// Pods by `spec.nodeName`; unscheduled pods under `""`.
    nodes: HashMap<String, Keys>,
}

/// The index entries one object belongs to.
struct Entries<'a> {
    labels: Vec<(&'a str, &'a str)>,
    owner: Option<&'a str>,
    node: Option<&'a str>,
}

impl<'a> Entries<'a> {
    fn of(resource: &ResourceDef, object: &'a Value) -> Self {
        let labels = object::labels(object)
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default()))
            .collect();
        let node =
            (resource.plural == PODS.plural).then(|| object::str_at(object, "/spec/nodeName"));
        Self {
            labels,
            owner: object::controller_uid(object),
            node,
        }
    }

    fn same(&self, other: &Self) -> bool {
        self.labels == other.labels && self.owner == other.owner && self.node == other.node
    }
}

fn unlink<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Keys>, entry: K, key: &(String, String)) {
    if let Some(keys) = map.get_mut(&entry) {
        keys.remove(key);
        if keys.is_empty() {
            map.remove(&entry);
        }
    }
}

impl Indexes {
    /// Moves one object's entries from what `old` carried to what `new` carries.
    fn update(
        &mut self,
        resource: &'static ResourceDef,
        key: &(String, String),
        old: Option<&Value>,
        new: Option<&Value>,
    ) {
        let old = old.map(|o| Entries::of(resource, o));
        let new = new.map(|o| Entries::of(resource, o));
        if let (Some(old), Some(new)) = (&old, &new)
            && old.same(new)
        {
            return;
        }
        let plural = resource.plural;
        if let Some(old) = old {
            for (k, v) in old.labels {
                unlink(&mut self.labels, (plural, k.to_owned(), v.to_owned()), key);
            }
            if let Some(uid) = old.owner {
                unlink(&mut self.owners, (plural, uid.to_owned()), key);
            }
            if let Some(node) = old.node {
                unlink(&mut self.nodes, node.to_owned(), key);
            }
        }
        if let Some(new) = new {
            for (k, v) in new.labels {
                self.labels
                    .entry((plural, k.to_owned(), v.to_owned()))
                    .or_default()
                    .insert(key.clone());
            }
            if let Some(uid) = new.owner {
                self.owners
                    .entry((plural, uid.to_owned()))
                    .or_default()
                    .insert(key.clone());
            }
            if let Some(node) = new.node {
                self.nodes
                    .entry(node.to_owned())
                    .or_default()
                    .insert(key.clone());
            }
        }
    }
}

/// The keys of one namespace (or all, with `None`) in an index entry, in order.
fn in_namespace<'a>(
    keys: Option<&'a Keys>,
    namespace: Option<&str>,
) -> Box<dyn Iterator<Item = &'a (String, String)> + 'a> {
    let Some(keys) = keys else {
        return Box::new(std::iter::empty());
    };
    match namespace {
        None => Box::new(keys.iter()),
        Some(namespace) => {
            let namespace = namespace.to_owned();
            let start = (namespace.clone(), String::new());
            Box::new(
                keys.range(start..)
                    .take_while(move |(ns, _)| *ns == namespace),
            )
        }
    }
}

impl Store {
    /// An empty store keeping `history_capacity` changes for watch resumption.
    pub fn new(history_capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(history_capacity.max(1024));
        let tables = RESOURCES
            .iter()
            .map(|r| (r.plural, BTreeMap::new()))
            .collect();
        Self {
            state: Mutex::new(State {
                resource_version: 1,
                tables,
                history: VecDeque::new(),
                history_capacity: history_capacity.max(1),
                compacted: 0,
                sender,
                uid_counter: 0,
                indexes: Indexes::default(),
            }),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Locks the store. A panic while holding the lock cannot leave a half-written object
    /// (every write replaces a whole `Arc`), so a poisoned lock is still usable.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let guard = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        guard
    }

    /// Releases the lock, lets the callers already waiting for it take their turn, then
    /// locks again. A long job under the lock (a reconcile pass) calls this between its
    /// steps so that API requests wait for one step, not for all of it. The mutex is not
    /// fair: unlocking and locking at once would usually win it back before a waiter
    /// wakes. After [`RELOCK_PATIENCE`] the lock is taken back whoever still waits.
    pub fn relock<'a>(&'a self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        drop(guard);
        let started = Instant::now();
        while self.waiting.load(Ordering::SeqCst) > 0 && started.elapsed() < RELOCK_PATIENCE {
            std::thread::yield_now();
        }
        self.lock()
    }
}

fn key(namespace: &str, name: &str) -> (String, String) {
    (namespace.to_owned(), name.to_owned())
}

impl State {
    /// The current (newest) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    /// One object.
    pub fn get(&self, resource: &ResourceDef, namespace: &str, name: &str) -> Option<&Object> {
        self.tables.get(resource.plural)?.get(&key(namespace, name))
    }

    /// All objects of a kind, in one namespace or (with `None`) everywhere, by name.
    pub fn list<'a>(
        &'a self,
        resource: &ResourceDef,
        namespace: Option<&str>,
    ) -> Box<dyn Iterator<Item = &'a Object> + 'a> {
        let Some(table) = self.tables.get(resource.plural) else {
            return Box::new(std::iter::empty());
        };
        match namespace {
            None => Box::new(table.values()),
            Some(namespace) => {
                let namespace = namespace.to_owned();
                let start = (namespace.clone(), String::new());
                Box::new(
                    table
                        .range(start..)
                        .take_while(move |((ns, _), _)| *ns == namespace)
                        .map(|(_, o)| o),
                )
            }
        }
    }

    /// The objects of a kind matching a label selector, in list order. With an equality
    /// term (`app=web`) only the objects carrying the rarest such label are read.
    pub fn select<'a>(
        &'a self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        selector: &'a LabelSelector,
    ) -> Box<dyn Iterator<Item = &'a Object> + 'a> {
        let narrowest = selector
            .equality_terms()
            .map(|(k, v)| {
                self.indexes
                    .labels
                    .get(&(resource.plural, k.to_owned(), v.to_owned()))
            })
            .min_by_key(|keys| keys.map_or(0, BTreeSet::len));
        match narrowest {
            Some(keys) => Box::new(
                self.by_keys(resource, in_namespace(keys, namespace))
                    .filter(move |o| selector.matches_object(o)),
            ),
            None => Box::new(
                self.list(resource, namespace)
                    .filter(move |o| selector.matches_object(o)),
            ),
        }
    }

    /// The objects of a kind whose controller has this uid, in list order.
    pub fn owned_by<'a>(
        &'a self,
        resource: &ResourceDef,
        uid: &str,
    ) -> impl Iterator<Item = &'a Object> + 'a {
        let keys = self.indexes.owners.get(&(resource.plural, uid.to_owned()));
        self.by_keys(resource, in_namespace(keys, None))
    }

    /// The pods bound to a node (with `""`, the unscheduled ones), in list order.
    pub fn pods_on_node<'a>(&'a self, node: &str) -> impl Iterator<Item = &'a Object> + 'a {
        self.by_keys(&PODS, in_namespace(self.indexes.nodes.get(node), None))
    }

    fn by_keys<'a>(
        &'a self,
        resource: &ResourceDef,
        keys: impl Iterator<Item = &'a (String, String)> + 'a,
    ) -> impl Iterator<Item = &'a Object> + 'a {
        let table = self.tables.get(resource.plural);
        keys.filter_map(move |key| table?.get(key))
    }

    /// How many objects of a kind are stored.
    pub fn count(&self, resource: &ResourceDef) -> usize {
        self.tables.get(resource.plural).map_or(0, BTreeMap::len)
    }

    fn next_uid(&mut self) -> String {
        self.uid_counter += 1;
        let random: u64 = rand::random();
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (random >> 32) as u32,
            (random >> 16) as u16,
            (random & 0xfff) as u16,
            (self.uid_counter >> 48) as u16 & 0xfff,
            self.uid_counter & 0xffff_ffff_ffff
        )
    }

    fn record(&mut self, resource: &'static ResourceDef, kind: ChangeKind, object: Object) {
        let change = Arc::new(Change {
            resource_version: self.resource_version,
            resource,
            kind,
            object,
        });
        if self.history.len() >= self.history_capacity
            && let Some(dropped) = self.history.pop_front()
        {
            self.compacted = dropped.resource_version;
        }
        self.history.push_back(Arc::clone(&change));
        // Nobody listening is fine: the history still serves later watches.
        let _ = self.sender.send(change);
    }

    /// Stores a new object, filling in the metadata the server owns (uid, timestamps,
    /// resourceVersion, generation, a name from `generateName`).
    pub fn create(
        &mut self,
        resource: &'static ResourceDef,
        mut object: Value,
    ) -> Result<Object, StoreError> {
        let qualified = resource.qualified_name();
        if !object.is_object() {
            return Err(StoreError::Invalid {
                resource: qualified,
                name: String::new(),
                message: "the body must be a json object".to_owned(),
            });
        }
        object["apiVersion"] = Value::String(resource.api_version());
        object["kind"] = Value::String(resource.kind.to_owned());
        let namespace = object::namespace(&object).to_owned();
        if resource.namespaced {
            if namespace.is_empty() {
                return Err(StoreError::Invalid {
                    resource: qualified,
                    name: object::name(&object).to_owned(),
                    message: "metadata.namespace: Required value".to_owned(),
                });
            }
            let namespaces = Some(&crate::resources::NAMESPACES);
            if namespaces.is_some_and(|ns| self.get(ns, "", &namespace).is_none()) {
                return Err(StoreError::NotFound {
                    resource: "namespaces".to_owned(),
                    name: namespace,
                });
            }
        } else {
            object::metadata_mut(&mut object).remove("namespace");
        }
        let mut name = object::name(&object).to_owned();
        if name.is_empty() {
            let prefix = object::str_at(&object, "/metadata/generateName").to_owned();
            if prefix.is_empty() {
                return Err(StoreError::Invalid {
                    resource: qualified,
                    name,
                    message: "metadata.name: Required value: name or generateName is required"
                        .to_owned(),
                });
            }
            name = loop {
                let candidate = format!("{prefix}{}", crate::names::random_suffix(5));
                if self.get(resource, &namespace, &candidate).is_none() {
                    break candidate;
                }
            };
        }
        if !crate::resources::name_is_valid(resource, &name) {
            return Err(StoreError::Invalid {
                resource: qualified,
                name: name.clone(),
                message: format!(
                    "metadata.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"
                ),
            });
        }
        if self.get(resource, &namespace, &name).is_some() {
            return Err(StoreError::AlreadyExists {
                resource: qualified,
                name,
            });
        }
        self.resource_version += 1;
        let uid = self.next_uid();
        let metadata = object::metadata_mut(&mut object);
        metadata.insert("name".to_owned(), Value::String(name.clone()));
        metadata.insert("uid".to_owned(), Value::String(uid));
        metadata.insert(
            "resourceVersion".to_owned(),
            Value::String(self.resource_version.to_string()),
        );
        metadata.insert(
            "creationTimestamp".to_owned(),
            Value::String(object::timestamp(Utc::now())),
        );
        metadata.remove("deletionTimestamp");
        if resource.has_generation() {
            metadata.insert("generation".to_owned(), Value::from(1));
        }
        let stored = Arc::new(object);
        let key = key(&namespace, &name);
        self.indexes.update(resource, &key, None, Some(&stored));
        if let Some(table) = self.tables.get_mut(resource.plural) {
            table.insert(key, Arc::clone(&stored));
        }
        self.record(resource, ChangeKind::Added, Arc::clone(&stored));
        Ok(stored)
    }

    /// Writes a new version of an existing object, bumping its resourceVersion. The caller
    /// has done any precondition checks; the server-owned metadata is kept.
    pub fn replace(
        &mut self,
        resource: &'static ResourceDef,
        mut object: Value,
    ) -> Result<Object, StoreError> {
        let namespace = object::namespace(&object).to_owned();
        let name = object::name(&object).to_owned();
        let Some(existing) = self.get(resource, &namespace, &name).cloned() else {
            return Err(StoreError::NotFound {
                resource: resource.qualified_name(),
                name,
            });
        };
        if *existing == object {
            return Ok(existing);
        }
        self.resource_version += 1;
        object["apiVersion"] = Value::String(resource.api_version());
        object["kind"] = Value::String(resource.kind.to_owned());
        let metadata = object::metadata_mut(&mut object);
        for owned in ["uid", "creationTimestamp"] {
            if let Some(value) = existing.pointer(&format!("/metadata/{owned}")) {
                metadata.insert(owned.to_owned(), value.clone());
            }
        }
        metadata.insert(
            "resourceVersion".to_owned(),
            Value::String(self.resource_version.to_string()),
        );
        let stored = Arc::new(object);
        let key = key(&namespace, &name);
        self.indexes
            .update(resource, &key, Some(&existing), Some(&stored));
        if let Some(table) = self.tables.get_mut(resource.plural) {
            table.insert(key, Arc::clone(&stored));
        }
        self.record(resource, ChangeKind::Modified, Arc::clone(&stored));
        Ok(stored)
    }

    /// Removes an object for good, announcing it with a fresh resourceVersion.
    pub fn remove(
        &mut self,
        resource: &'static ResourceDef,
        namespace: &str,
        name: &str,
    ) -> Option<Object> {
        let key = key(namespace, name);
        let removed = self.tables.get_mut(resource.plural)?.remove(&key)?;
        self.indexes.update(resource, &key, Some(&removed), None);
        self.resource_version += 1;
        let mut last = (*removed).clone();
        object::metadata_mut(&mut last).insert(
            "resourceVersion".to_owned(),
            Value::String(self.resource_version.to_string()),
        );
        let last = Arc::new(last);
        self.record(resource, ChangeKind::Deleted, Arc::clone(&last));
        Some(last)
    }

    /// The changes after `resource_version` and a receiver for the ones to come, taken
    /// together under the lock so that a watch sees every change exactly once.
    pub fn watch_from(
        &self,
        resource_version: u64,
    ) -> Result<(Vec<Arc<Change>>, Subscription), TooOld> {
        if resource_version < self.compacted {
            return Err(TooOld {
                oldest: self.compacted,
            });
        }
        let backlog = self
            .history
            .iter()
            .filter(|c| c.resource_version > resource_version)
            .cloned()
            .collect();
        Ok((backlog, self.sender.subscribe()))
    }

    /// A receiver of changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.sender.subscribe()
    }
}

/// An empty JSON map, for building objects.
pub fn empty_map() -> Value {
    Value::Object(Map::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::by_plural;
    use serde_json::json;

    fn resource(plural: &str) -> Result<&'static ResourceDef, String> {
        by_plural(plural).ok_or_else(|| format!("no resource {plural}"))
    }

    #[test]
    fn relock_lets_a_waiting_caller_write_first() -> Result<(), String> {
        let store = Arc::new(Store::new(100));
        let namespaces = resource("namespaces")?;
        let guard = store.lock();
        let version = guard.resource_version();
        let waiter = {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let mut state = store.lock();
                state
                    .create(
                        namespaces,
                        serde_json::json!({"metadata": {"name": "late"}}),
                    )
                    .map(|_| ())
            })
        };
        while store.waiting.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        let guard = store.relock(guard);
        assert!(guard.get(namespaces, "", "late").is_some());
        assert!(guard.resource_version() > version);
        drop(guard);
        waiter
            .join()
            .map_err(|_| "the waiting thread panicked".to_owned())?
            .map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn created_objects_get_server_metadata_and_increasing_versions() -> Result<(), String> {
        let store = Store::new(100);
        let mut state = store.lock();
        let ns = state
            .create(resource("namespaces")?, json!({"metadata": {"name": "a"}}))
            .map_err(|e| format!("{e:?}"))?;
        let pod = state
            .create(
                resource("pods")?,
                json!({"metadata": {"generateName": "web-", "namespace": "a"}}),
            )
            .map_err(|e| format!("{e:?}"))?;
        assert!(object::name(&pod).starts_with("web-"));
        assert!(!object::uid(&pod).is_empty());
        let rv = |o: &Value| {
            object::str_at(o, "/metadata/resourceVersion")
                .parse::<u64>()
                .ok()
        };
        assert!(rv(&pod) > rv(&ns));
        Ok(())
    }

    #[test]
    fn namespaced_objects_need_an_existing_namespace() -> Result<(), String> {
        let store = Store::new(100);
        let result = store.lock().create(
            resource("pods")?,
            json!({"metadata": {"name": "p", "namespace": "missing"}}),
        );
        assert_eq!(
            result.err(),
            Some(StoreError::NotFound {
                resource: "namespaces".to_owned(),
                name: "missing".to_owned()
            })
        );
        Ok(())
    }

    #[test]
    fn watches_cannot_resume_from_compacted_history() -> Result<(), String> {
        let store = Store::new(2);
        let mut state = store.lock();
        for name in ["a", "b", "c", "d"] {
            state
                .create(resource("namespaces")?, json!({"metadata": {"name": name}}))
                .map_err(|e| format!("{e:?}"))?;
        }
        assert!(state.watch_from(1).is_err());
        let current = state.resource_version();
        let (backlog, _) = state
            .watch_from(current - 1)
            .map_err(|e| format!("{e:?}"))?;
        assert_eq!(backlog.len(), 1);
        Ok(())
    }

    #[test]
    fn indexes_follow_labels_owners_and_nodes_through_every_write() -> Result<(), String> {
        let store = Store::new(100);
        let mut state = store.lock();
        let (namespaces, pods) = (resource("namespaces")?, resource("pods")?);
        for ns in ["a", "b"] {
            state
                .create(namespaces, json!({"metadata": {"name": ns}}))
                .map_err(|e| format!("{e:?}"))?;
        }
        let pod = |ns: &str, name: &str, app: &str, node: &str| {
            json!({
                "metadata": {"name": name, "namespace": ns, "labels": {"app": app},
                    "ownerReferences": [{"uid": format!("rs-{app}"), "controller": true}]},
                "spec": {"nodeName": node},
            })
        };
        for (ns, name, app, node) in [
            ("a", "web-1", "web", "n1"),
            ("a", "web-2", "web", ""),
            ("b", "web-3", "web", "n1"),
            ("a", "db-1", "db", "n2"),
        ] {
            state
                .create(pods, pod(ns, name, app, node))
                .map_err(|e| format!("{e:?}"))?;
        }
        let names = |it: Box<dyn Iterator<Item = &Object> + '_>| -> Vec<String> {
            it.map(|o| object::name(o).to_owned()).collect()
        };
        let web = LabelSelector::parse("app=web,tier!=x")?;
        assert_eq!(
            names(state.select(pods, Some("a"), &web)),
            ["web-1", "web-2"]
        );
        assert_eq!(
            names(state.select(pods, None, &web)),
            ["web-1", "web-2", "web-3"]
        );
        assert_eq!(names(Box::new(state.owned_by(pods, "rs-db"))), ["db-1"]);
        assert_eq!(names(Box::new(state.pods_on_node(""))), ["web-2"]);

        // Scheduling and relabelling move the pod between entries.
        state
            .replace(pods, pod("a", "web-2", "db", "n2"))
            .map_err(|e| format!("{e:?}"))?;
        assert_eq!(names(state.select(pods, Some("a"), &web)), ["web-1"]);
        assert_eq!(
            names(Box::new(state.owned_by(pods, "rs-db"))),
            ["db-1", "web-2"]
        );
        assert_eq!(names(Box::new(state.pods_on_node("n2"))), ["db-1", "web-2"]);
        assert!(state.pods_on_node("").next().is_none());

        state.remove(pods, "a", "db-1");
        assert_eq!(names(Box::new(state.pods_on_node("n2"))), ["web-2"]);
        let db = LabelSelector::parse("app=db")?;
        assert_eq!(names(state.select(pods, None, &db)), ["web-2"]);
        let none = LabelSelector::parse("app=nothing")?;
        assert!(state.select(pods, None, &none).next().is_none());
        Ok(())
    }
}
