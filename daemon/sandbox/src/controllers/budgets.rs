//! Disruption budgets: the figures of a PodDisruptionBudget (expected, healthy, desired
//! pods) that eviction checks, and the controller that writes them into its status.

use std::collections::HashSet;

use chrono::Utc;
use serde_json::{Value, json};

use super::{Controllers, int_or_percent, write_if_changed};
use crate::object::{self, int_at, str_at};
use crate::resources::{DEPLOYMENTS, PODDISRUPTIONBUDGETS, PODS, REPLICASETS, STATEFULSETS};
use crate::selector::LabelSelector;
use crate::store::{Object, State};

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
/// Computes a disruption budget's figures from the live pods and their controllers.
/// The pods come from the store's label index, so an eviction reads only the budget's pods.
pub fn disruption(state: &State, pdb: &Value) -> Disruption {
    let namespace = object::namespace(pdb);
    let selector = LabelSelector::from_json(object::at(pdb, "/spec/selector"));
    let pods: Vec<&Object> = state
        .select(&PODS, Some(namespace), &selector)
        .filter(|p| object::pod_is_active(p))
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

impl Controllers {
    pub(super) fn disruption_budgets(&mut self, state: &mut State) {
        let budgets: Vec<Object> = state.list(&PODDISRUPTIONBUDGETS, None).cloned().collect();
        for pdb in budgets {
            let figures = disruption(state, &pdb);
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
