//! Small accessors over objects kept as JSON: metadata fields, pod readiness, timestamps.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// `metadata.name`, or the empty string.
pub fn name(object: &Value) -> &str {
    str_at(object, "/metadata/name")
}

/// `metadata.namespace`, or the empty string for cluster-scoped objects.
pub fn namespace(object: &Value) -> &str {
    str_at(object, "/metadata/namespace")
}

/// `metadata.uid`, or the empty string.
pub fn uid(object: &Value) -> &str {
    str_at(object, "/metadata/uid")
}

/// The value at a JSON pointer (RFC 6901), as [`Value::pointer`] finds it but without
/// allocating: `Value::pointer` copies every token to unescape it, and the controllers
/// read a few dozen fields of each of thousands of pods per reconcile pass.
pub fn at<'a>(object: &'a Value, pointer: &str) -> Option<&'a Value> {
    if pointer.is_empty() {
        return Some(object);
    }
    let mut target = object;
    for token in pointer.strip_prefix('/')?.split('/') {
        let unescaped;
        let token = if token.contains('~') {
            unescaped = token.replace("~1", "/").replace("~0", "~");
            unescaped.as_str()
        } else {
            token
        };
        target = match target {
            Value::Object(map) => map.get(token)?,
            Value::Array(list) => list.get(array_index(token)?)?,
            _ => return None,
        };
    }
    Some(target)
}

/// An array index token as RFC 6901 allows it: digits, no sign, no leading zero.
fn array_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}

/// The string at a JSON pointer, or the empty string.
pub fn str_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    at(object, pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The integer at a JSON pointer, if it is one.
pub fn int_at(object: &Value, pointer: &str) -> Option<i64> {
    at(object, pointer).and_then(Value::as_i64)
}

/// `metadata.labels`, if any.
pub fn labels(object: &Value) -> Option<&Map<String, Value>> {
    at(object, "/metadata/labels").and_then(Value::as_object)
}

/// Whether the object carries a `deletionTimestamp` (it is being deleted gracefully).
pub fn is_terminating(object: &Value) -> bool {
    at(object, "/metadata/deletionTimestamp").is_some()
}

/// The uid of the controlling owner reference, if any.
pub fn controller_uid(object: &Value) -> Option<&str> {
    at(object, "/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .and_then(|r| r.get("uid"))
        .and_then(Value::as_str)
}

/// The `(kind, name)` of the controlling owner reference, if any.
pub fn controller_ref(object: &Value) -> Option<(&str, &str)> {
    let owner = at(object, "/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))?;
    Some((str_at(owner, "/kind"), str_at(owner, "/name")))
}

/// Whether a pod's `Ready` condition is `True`.
pub fn pod_is_ready(pod: &Value) -> bool {
    condition_is_true(pod, "Ready")
}

/// Whether the object's status condition of this type is `True`.
pub fn condition_is_true(object: &Value, kind: &str) -> bool {
    at(object, "/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| {
            conditions.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some(kind)
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

/// Whether a pod counts as active for its controller: not terminating, not finished.
pub fn pod_is_active(pod: &Value) -> bool {
    !is_terminating(pod) && !matches!(str_at(pod, "/status/phase"), "Succeeded" | "Failed")
}

/// A timestamp in the Kubernetes `Time` format (RFC 3339, whole seconds, `Z`).
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A timestamp in the Kubernetes `MicroTime` format.
pub fn micro_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The mutable `metadata` map, created if missing.
pub fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.is_object() {
        *object = Value::Object(Map::new());
    }
    let Value::Object(map) = object else {
        unreachable!("the object was made a map just above")
    };
    let metadata = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !metadata.is_object() {
        *metadata = Value::Object(Map::new());
    }
    match metadata {
        Value::Object(m) => m,
        _ => unreachable!("metadata was made a map just above"),
    }
}

/// Sets or replaces a pod condition, keeping `lastTransitionTime` when the status stays.
pub fn set_condition(
    object: &mut Value,
    kind: &str,
    status: bool,
    reason: Option<&str>,
    now: &str,
) {
    let status_text = if status { "True" } else { "False" };
    let Some(root) = object.as_object_mut() else {
        return;
    };
    let status_map = root
        .entry("status")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(status_map) = status_map.as_object_mut() else {
        return;
    };
    let conditions = status_map
        .entry("conditions")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Some(conditions) = conditions.as_array_mut() else {
        return;
    };
    let mut condition = serde_json::json!({
        "type": kind,
        "status": status_text,
        "lastProbeTime": null,
        "lastTransitionTime": now,
    });
    if let Some(reason) = reason {
        condition["reason"] = Value::String(reason.to_owned());
    }
    match conditions
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
    {
        Some(existing) => {
            if existing.get("status").and_then(Value::as_str) == Some(status_text) {
                return;
            }
            *existing = condition;
        }
        None => conditions.push(condition),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn at_finds_what_value_pointer_finds() {
        let object = json!({
            "metadata": {"annotations": {"a/b": "slash", "c~d": "tilde"}, "name": "web-0"},
            "spec": {"containers": [{"name": "app"}, {"name": "sidecar"}]},
        });
        for pointer in [
            "",
            "/metadata/name",
            "/metadata/annotations/a~1b",
            "/metadata/annotations/c~0d",
            "/spec/containers/1/name",
            "/spec/containers/01/name",
            "/spec/containers/+1/name",
            "/spec/containers/2",
            "/spec/missing",
            "/metadata/name/deeper",
            "metadata",
        ] {
            assert_eq!(at(&object, pointer), object.pointer(pointer), "{pointer}");
        }
    }
}
