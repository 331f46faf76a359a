//! Server-side printing: the `meta.k8s.io/v1` Table kubectl asks for, with the columns
//! `kubectl get` shows for each kind (and the `-o wide` ones at priority 1).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::object::{self, int_at, str_at};
use crate::resources::ResourceDef;

/// Whether the client asked for a Table (kubectl's `Accept: ...;as=Table;...`).
pub fn wanted(accept: &str) -> bool {
    accept.contains("as=Table")
}

/// A duration as kubectl prints ages: `42s`, `5m3s`, `17m`, `3h12m`, `5d`.
pub fn human_age(created: &str, now: DateTime<Utc>) -> String {
    let Ok(created) = created.parse::<DateTime<Utc>>() else {
        return "<unknown>".to_owned();
    };
    let seconds = (now - created).num_seconds().max(0);
    let (minutes, hours, days) = (seconds / 60, seconds / 3600, seconds / 86_400);
    if seconds < 120 {
        format!("{seconds}s")
    } else if minutes < 10 {
        format!("{minutes}m{}s", seconds % 60)
    } else if hours < 3 {
        format!("{minutes}m")
    } else if hours < 8 {
        format!("{hours}h{}m", minutes % 60)
    } else if hours < 48 {
        format!("{hours}h")
    } else if days < 8 {
        format!("{days}d{}h", hours % 24)
    } else {
        format!("{days}d")
    }
}

type Column = (&'static str, &'static str, i64);

fn columns(resource: &ResourceDef) -> Vec<Column> {
    let mut columns: Vec<Column> = match resource.plural {
        "pods" => vec![
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            ("Age", "string", 0),
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ],
        "nodes" => vec![
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Roles", "string", 0),
            ("Age", "string", 0),
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("External-IP", "string", 1),
            ("OS-Image", "string", 1),
            ("Kernel-Version", "string", 1),
            ("Container-Runtime", "string", 1),
        ],
        "deployments" => vec![
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        "replicasets" => vec![
            ("Name", "string", 0),
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        "statefulsets" => vec![
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
        ],
        "services" => vec![
            ("Name", "string", 0),
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            ("Age", "string", 0),
            ("Selector", "string", 1),
        ],
        "endpoints" => vec![
            ("Name", "string", 0),
            ("Endpoints", "string", 0),
            ("Age", "string", 0),
        ],
        "poddisruptionbudgets" => vec![
            ("Name", "string", 0),
            ("Min Available", "string", 0),
            ("Max Unavailable", "string", 0),
            ("Allowed Disruptions", "integer", 0),
            ("Age", "string", 0),
        ],
        "namespaces" => vec![
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Age", "string", 0),
        ],
        "events" => vec![
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Message", "string", 0),
        ],
        "leases" => vec![
            ("Name", "string", 0),
            ("Holder", "string", 0),
            ("Age", "string", 0),
        ],
        "configmaps" => vec![
            ("Name", "string", 0),
            ("Data", "integer", 0),
            ("Age", "string", 0),
        ],
        _ => vec![("Name", "string", 0), ("Age", "string", 0)],
    };
    columns.shrink_to_fit();
    columns
}

fn containers(object: &Value) -> (String, String) {
    let list = object
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = list.iter().map(|c| str_at(c, "/name")).collect();
    let images: Vec<&str> = list.iter().map(|c| str_at(c, "/image")).collect();
    (names.join(","), images.join(","))
}

fn selector_text(selector: Option<&Value>) -> String {
    selector
        .and_then(|s| s.get("matchLabels").or(Some(s)))
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "<none>".to_owned())
}

fn or_none(text: &str) -> String {
    if text.is_empty() {
        "<none>".to_owned()
    } else {
        text.to_owned()
    }
}

/// The status kubectl shows for a pod.
pub fn pod_status(pod: &Value) -> String {
    if object::is_terminating(pod) {
        return "Terminating".to_owned();
    }
    // A container waiting for a reason (`ErrImagePull`, `ImagePullBackOff`) names it, the
    // last such container winning, as kubectl's printer does.
    if let Some(reason) = object::at(pod, "/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .rev()
        .find_map(|s| object::at(s, "/state/waiting/reason").and_then(Value::as_str))
        .filter(|reason| !reason.is_empty())
    {
        return reason.to_owned();
    }
    let phase = str_at(pod, "/status/phase");
    if phase == "Pending" && !str_at(pod, "/spec/nodeName").is_empty() {
        return "ContainerCreating".to_owned();
    }
    or_none(phase)
}

fn cells(resource: &ResourceDef, object: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let name = json!(object::name(object));
    let age = json!(human_age(
        str_at(object, "/metadata/creationTimestamp"),
        now
    ));
    let int = |pointer: &str| json!(int_at(object, pointer).unwrap_or(0));
    match resource.plural {
        "pods" => {
            let statuses = object
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let total = object
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let ready = statuses
                .iter()
                .filter(|s| s.get("ready").and_then(Value::as_bool) == Some(true))
                .count();
            let restarts: i64 = statuses
                .iter()
                .filter_map(|s| int_at(s, "/restartCount"))
                .sum();
            vec![
                name,
                json!(format!("{ready}/{total}")),
                json!(pod_status(object)),
                json!(restarts.to_string()),
                age,
                json!(or_none(str_at(object, "/status/podIP"))),
                json!(or_none(str_at(object, "/spec/nodeName"))),
                json!("<none>"),
                json!("<none>"),
            ]
        }
        "nodes" => {
            let mut status = if object::condition_is_true(object, "Ready") {
                "Ready".to_owned()
            } else {
                "NotReady".to_owned()
            };
            if object
                .pointer("/spec/unschedulable")
                .and_then(Value::as_bool)
                == Some(true)
            {
                status.push_str(",SchedulingDisabled");
            }
            let address = |kind: &str| {
                object
                    .pointer("/status/addresses")
                    .and_then(Value::as_array)
                    .and_then(|a| a.iter().find(|x| str_at(x, "/type") == kind))
                    .map_or_else(|| "<none>".to_owned(), |x| str_at(x, "/address").to_owned())
            };
            vec![
                name,
                json!(status),
                json!("<none>"),
                age,
                json!(str_at(object, "/status/nodeInfo/kubeletVersion")),
                json!(address("InternalIP")),
                json!(address("ExternalIP")),
                json!(str_at(object, "/status/nodeInfo/osImage")),
                json!(str_at(object, "/status/nodeInfo/kernelVersion")),
                json!(str_at(object, "/status/nodeInfo/containerRuntimeVersion")),
            ]
        }
        "deployments" => {
            let (names, images) = containers(object);
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    int_at(object, "/status/readyReplicas").unwrap_or(0),
                    int_at(object, "/spec/replicas").unwrap_or(0)
                )),
                int("/status/updatedReplicas"),
                int("/status/availableReplicas"),
                age,
                json!(names),
                json!(images),
                json!(selector_text(object.pointer("/spec/selector"))),
            ]
        }
        "replicasets" => {
            let (names, images) = containers(object);
            vec![
                name,
                int("/spec/replicas"),
                int("/status/replicas"),
                int("/status/readyReplicas"),
                age,
                json!(names),
                json!(images),
                json!(selector_text(object.pointer("/spec/selector"))),
            ]
        }
        "statefulsets" => {
            let (names, images) = containers(object);
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    int_at(object, "/status/readyReplicas").unwrap_or(0),
                    int_at(object, "/spec/replicas").unwrap_or(0)
                )),
                age,
                json!(names),
                json!(images),
            ]
        }
        "services" => {
            let ports: Vec<String> = object
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|p| {
                    format!(
                        "{}/{}",
                        int_at(p, "/port").unwrap_or(0),
                        str_at(p, "/protocol")
                    )
                })
                .collect();
            vec![
                name,
                json!(str_at(object, "/spec/type")),
                json!(or_none(str_at(object, "/spec/clusterIP"))),
                json!("<none>"),
                json!(or_none(&ports.join(","))),
                age,
                json!(selector_text(object.pointer("/spec/selector"))),
            ]
        }
        "endpoints" => {
            let mut endpoints = Vec::new();
            for subset in object
                .get("subsets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let ports: Vec<i64> = subset
                    .get("ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|p| int_at(p, "/port"))
                    .collect();
                for address in subset
                    .get("addresses")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    for port in &ports {
                        endpoints.push(format!("{}:{port}", str_at(address, "/ip")));
                    }
                }
            }
            let shown = if endpoints.len() > 3 {
                format!(
                    "{} + {} more...",
                    endpoints[..3].join(","),
                    endpoints.len() - 3
                )
            } else {
                or_none(&endpoints.join(","))
            };
            vec![name, json!(shown), age]
        }
        "poddisruptionbudgets" => {
            let text = |pointer: &str| match object.pointer(pointer) {
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::String(s)) => s.clone(),
                _ => "N/A".to_owned(),
            };
            vec![
                name,
                json!(text("/spec/minAvailable")),
                json!(text("/spec/maxUnavailable")),
                int("/status/disruptionsAllowed"),
                age,
            ]
        }
        "namespaces" => vec![name, json!(or_none(str_at(object, "/status/phase"))), age],
        "events" => vec![
            json!(human_age(str_at(object, "/lastTimestamp"), now)),
            json!(str_at(object, "/type")),
            json!(str_at(object, "/reason")),
            json!(format!(
                "{}/{}",
                str_at(object, "/involvedObject/kind").to_lowercase(),
                str_at(object, "/involvedObject/name")
            )),
            json!(str_at(object, "/message")),
        ],
        "leases" => vec![name, json!(str_at(object, "/spec/holderIdentity")), age],
        "configmaps" => vec![
            name,
            json!(
                object
                    .get("data")
                    .and_then(Value::as_object)
                    .map_or(0, |d| d.len())
            ),
            age,
        ],
        _ => vec![name, age],
    }
}

/// A Table of these objects; rows carry the object's metadata (or the whole object when
/// `include_object` is `Object`), which kubectl reads for the NAMESPACE column.
pub fn table<'a>(
    resource: &ResourceDef,
    objects: impl Iterator<Item = &'a Value>,
    resource_version: u64,
    include_object: &str,
) -> Value {
    let now = Utc::now();
    let column_definitions: Vec<Value> = columns(resource)
        .into_iter()
        .map(|(name, kind, priority)| {
            json!({
                "name": name,
                "type": kind,
                "format": if name == "Name" { "name" } else { "" },
                "description": "",
                "priority": priority,
            })
        })
        .collect();
    let rows: Vec<Value> = objects
        .map(|object| {
            let embedded = match include_object {
                "Object" => object.clone(),
                "None" => Value::Null,
                _ => json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
                }),
            };
            json!({"cells": cells(resource, object, now), "object": embedded})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version.to_string()},
        "columnDefinitions": column_definitions,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        let now: DateTime<Utc> = "2026-01-02T00:00:00Z".parse().unwrap_or_default();
        assert_eq!(human_age("2026-01-01T23:59:18Z", now), "42s");
        assert_eq!(human_age("2026-01-01T23:54:57Z", now), "5m3s");
        assert_eq!(human_age("2026-01-01T20:48:00Z", now), "3h12m");
        assert_eq!(human_age("2025-12-28T00:00:00Z", now), "5d0h");
    }
}
