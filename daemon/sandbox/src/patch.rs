//! Patch application: JSON merge patch (RFC 7386), strategic merge patch for the fields
//! drills and kubectl patch, and JSON patch (RFC 6902).

use serde_json::{Map, Value};

/// The patch formats the sandbox accepts, by `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    StrategicMerge,
    /// `application/json-patch+json`.
    Json,
}

impl PatchKind {
    /// The patch kind for a request's content type; `None` for server-side apply and
    /// anything else the sandbox does not implement.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let base = content_type.split(';').next().unwrap_or_default().trim();
        match base {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::StrategicMerge),
            "application/json-patch+json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// Applies `patch` to `target` in the given format.
pub fn apply(kind: PatchKind, target: &mut Value, patch: &Value) -> Result<(), String> {
    match kind {
        PatchKind::Merge => {
            merge(target, patch);
            Ok(())
        }
        PatchKind::StrategicMerge => {
            strategic_merge(target, patch);
            Ok(())
        }
        PatchKind::Json => json_patch(target, patch),
    }
}

/// RFC 7386: objects merge recursively, `null` removes, anything else replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target_map) = target {
        for (key, value) in patch_map {
            if value.is_null() {
                target_map.remove(key);
            } else {
                merge(target_map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// The merge key of a list whose elements are objects, as the Kubernetes types declare
/// it for the lists kubectl patches (containers, env, ports, conditions, volumes...).
fn merge_key(items: &[Value]) -> Option<&'static str> {
    ["name", "type", "containerPort", "port", "ip", "mountPath"]
        .into_iter()
        .find(|key| items.iter().all(|item| item.get(key).is_some()))
}

/// Strategic merge patch: like a merge patch, but lists of keyed objects merge element
/// by element and `$`-directives (`$patch`, `$setElementOrder`, `$retainKeys`) are
/// honoured where kubectl emits them or dropped.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replaced = patch.clone();
        strip_directives(&mut replaced);
        *target = replaced;
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_map) = target else {
        return;
    };
    for (key, value) in patch_map {
        if key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            target_map.remove(key);
            continue;
        }
        match (target_map.get_mut(key), value) {
            (Some(Value::Array(existing)), Value::Array(patch_items)) => {
                merge_list(existing, patch_items);
            }
            (Some(existing), _) => strategic_merge(existing, value),
            (None, _) => {
                let mut fresh = value.clone();
                strip_directives(&mut fresh);
                target_map.insert(key.clone(), fresh);
            }
        }
    }
}

fn merge_list(existing: &mut Vec<Value>, patch_items: &[Value]) {
    let key = if !patch_items.is_empty() && patch_items.iter().all(Value::is_object) {
        merge_key(patch_items)
    } else {
        None
    };
    let Some(key) = key else {
        // Lists of scalars and unkeyed lists are replaced wholesale, as for atomic lists.
        let mut replaced = patch_items.to_vec();
        replaced.iter_mut().for_each(strip_directives);
        *existing = replaced;
        return;
    };
    for item in patch_items {
        let wanted = item.get(key);
        let position = existing.iter().position(|e| e.get(key) == wanted);
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (position, delete) {
            (Some(i), true) => {
                existing.remove(i);
            }
            (Some(i), false) => strategic_merge(&mut existing[i], item),
            (None, true) => {}
            (None, false) => {
                let mut fresh = item.clone();
                strip_directives(&mut fresh);
                existing.push(fresh);
            }
        }
    }
}

fn strip_directives(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !k.starts_with('$'));
            map.values_mut().for_each(strip_directives);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// Splits a JSON pointer into its parent pointer and last token.
fn split_pointer(path: &str) -> Result<(String, String), String> {
    let (parent, last) = path
        .rsplit_once('/')
        .ok_or_else(|| format!("invalid json pointer {path:?}"))?;
    Ok((parent.to_owned(), unescape(last)))
}

fn json_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    let operations = patch
        .as_array()
        .ok_or_else(|| "a json patch must be an array of operations".to_owned())?;
    for operation in operations {
        let op = operation
            .get("op")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let path = operation
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| "json patch operation without a path".to_owned())?;
        let value = operation.get("value").cloned().unwrap_or(Value::Null);
        match op {
            "add" | "replace" => set(target, path, value, op == "add")?,
            "remove" => {
                remove(target, path)?;
            }
            "test" => {
                if target.pointer(path) != Some(&value) {
                    return Err(format!("test operation failed at {path}"));
                }
            }
            "move" | "copy" => {
                let from = operation
                    .get("from")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{op} operation without from"))?;
                let moved = if op == "move" {
                    remove(target, from)?
                } else {
                    target
                        .pointer(from)
                        .cloned()
                        .ok_or_else(|| format!("no value at {from}"))?
                };
                set(target, path, moved, true)?;
            }
            other => return Err(format!("unsupported json patch operation {other:?}")),
        }
    }
    Ok(())
}

fn set(target: &mut Value, path: &str, value: Value, add: bool) -> Result<(), String> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (parent, last) = split_pointer(path)?;
    let container = target
        .pointer_mut(&parent)
        .ok_or_else(|| format!("no value at {parent:?}"))?;
    match container {
        Value::Object(map) => {
            if !add && !map.contains_key(&last) {
                return Err(format!("no value at {path} to replace"));
            }
            map.insert(last, value);
        }
        Value::Array(items) => {
            if last == "-" {
                items.push(value);
            } else {
                let index: usize = last
                    .parse()
                    .map_err(|_| format!("invalid array index {last:?}"))?;
                if add && index <= items.len() {
                    items.insert(index, value);
                } else if !add && index < items.len() {
                    items[index] = value;
                } else {
                    return Err(format!("array index {index} out of bounds"));
                }
            }
        }
        _ => return Err(format!("cannot set a field inside a scalar at {parent:?}")),
    }
    Ok(())
}

fn remove(target: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split_pointer(path)?;
    let container = target
        .pointer_mut(&parent)
        .ok_or_else(|| format!("no value at {parent:?}"))?;
    match container {
        Value::Object(map) => map
            .remove(&last)
            .ok_or_else(|| format!("no value at {path} to remove")),
        Value::Array(items) => {
            let index: usize = last
                .parse()
                .map_err(|_| format!("invalid array index {last:?}"))?;
            if index < items.len() {
                Ok(items.remove(index))
            } else {
                Err(format!("array index {index} out of bounds"))
            }
        }
        _ => Err(format!("no value at {path} to remove")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_sets_and_removes_fields() {
        let mut node = json!({"spec": {"unschedulable": true, "podCIDR": "10.0.0.0/24"}});
        merge(
            &mut node,
            &json!({"spec": {"unschedulable": null, "taints": []}}),
        );
        assert_eq!(
            node,
            json!({"spec": {"podCIDR": "10.0.0.0/24", "taints": []}})
        );
    }

    #[test]
    fn strategic_merge_keeps_other_containers_and_annotations() {
        let mut deployment = json!({"spec": {"template": {
            "metadata": {"annotations": {"a": "1"}},
            "spec": {"containers": [{"name": "app", "image": "v1"}, {"name": "sidecar", "image": "s1"}]}
        }}});
        strategic_merge(
            &mut deployment,
            &json!({"spec": {"template": {
                "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}},
                "spec": {"$setElementOrder/containers": [{"name": "app"}], "containers": [{"name": "app", "image": "v2"}]}
            }}}),
        );
        assert_eq!(
            deployment,
            json!({"spec": {"template": {
                "metadata": {"annotations": {"a": "1", "kubectl.kubernetes.io/restartedAt": "now"}},
                "spec": {"containers": [{"name": "app", "image": "v2"}, {"name": "sidecar", "image": "s1"}]}
            }}})
        );
    }

    #[test]
    fn json_patch_adds_replaces_and_removes() -> Result<(), String> {
        let mut pod = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"items": [1, 2]}});
        json_patch(
            &mut pod,
            &json!([
                {"op": "add", "path": "/metadata/labels/app.kubernetes.io~1name", "value": "x"},
                {"op": "replace", "path": "/metadata/labels/a", "value": "2"},
                {"op": "remove", "path": "/spec/items/0"},
                {"op": "add", "path": "/spec/items/-", "value": 3}
            ]),
        )?;
        assert_eq!(
            pod,
            json!({"metadata": {"labels": {"a": "2", "app.kubernetes.io/name": "x"}}, "spec": {"items": [2, 3]}})
        );
        assert!(
            json_patch(
                &mut pod,
                &json!([{"op": "replace", "path": "/nope/x", "value": 1}])
            )
            .is_err()
        );
        Ok(())
    }
}
