//! The endpoints controller: each Service's Endpoints from the pods its selector
//! matches, Ready ones as addresses and the others as notReadyAddresses.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Controllers, is_ready, write_if_changed};
use crate::object::{self, int_at, str_at};
use crate::resources::{ENDPOINTS, PODS, SERVICES};
use crate::selector::LabelSelector;
use crate::store::{Object, State};

impl Controllers {
    pub(super) fn endpoints(&mut self, state: &mut State) {
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
            let selected: Vec<Object> = state
                .select(&PODS, Some(namespace), &selector)
                .cloned()
                .collect();
            for pod in &selected {
                if str_at(pod, "/status/podIP").is_empty() {
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
}
