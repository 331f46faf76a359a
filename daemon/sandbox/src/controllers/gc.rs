//! Garbage collection: objects of deleted namespaces, orphaned replicasets and pods,
//! pods of vanished nodes or evicted by NoExecute taints, stale endpoints, old events.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use super::{Controllers, delete_pod};
use crate::object::{self, str_at};
use crate::resources::{
    DEPLOYMENTS, ENDPOINTS, EVENTS, NAMESPACES, NODES, PODS, REPLICASETS, RESOURCES, SERVICES,
    STATEFULSETS,
};
use crate::store::{Object, State};

/// The most events kept; older ones are dropped, as a real cluster's TTL would.
const EVENT_LIMIT: usize = 2_000;

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

impl Controllers {
    pub(super) fn garbage_collect(&mut self, state: &mut State) {
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
}
