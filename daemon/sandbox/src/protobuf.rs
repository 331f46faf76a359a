//! The few protobuf bodies typed kubectl commands send that the sandbox reads:
//! `ServiceAccount` (`kubectl create serviceaccount`), `TokenRequest` (`kubectl create
//! token`), `SelfSubjectAccessReview` (`kubectl auth can-i`), `Role`, `ClusterRole`,
//! `RoleBinding` and `ClusterRoleBinding` (`kubectl create role` and friends), decoded
//! to their JSON form. Everything else stays refused (415).
//!
//! A body is the `k8s\0` magic, then a `runtime.Unknown` (1: typeMeta {1: apiVersion,
//! 2: kind}, 2: raw, the object's own message), field numbers as in `k8s.io/api`'s
//! `generated.proto`.

use serde_json::{Map, Value, json};

/// The magic prefix of Kubernetes protobuf bodies.
pub const MAGIC: &[u8] = b"k8s\0";

/// One decoded field: its number and value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The fields of one message, in order; `None` if it is not well formed.
fn fields(bytes: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < bytes.len() {
        let key = varint(bytes, &mut at)?;
        let (number, wire) = (key >> 3, key & 7);
        let field = match wire {
            0 => Field::Varint(varint(bytes, &mut at)?),
            2 => {
                let length = usize::try_from(varint(bytes, &mut at)?).ok()?;
                let end = at.checked_add(length).filter(|end| *end <= bytes.len())?;
                let slice = &bytes[at..end];
                at = end;
                Field::Bytes(slice)
            }
            1 => {
                at = at.checked_add(8).filter(|end| *end <= bytes.len())?;
                continue;
            }
            5 => {
                at = at.checked_add(4).filter(|end| *end <= bytes.len())?;
                continue;
            }
            _ => return None,
        };
        out.push((number, field));
    }
    Some(out)
}

fn text(bytes: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(bytes).into_owned())
}

/// Decodes a message whose fields are all strings (or nested string-only messages
/// described by `nested`) into an object, with `names[i]` naming field `i + 1`.
fn strings(bytes: &[u8], names: &[&str]) -> Option<Value> {
    let mut object = Map::new();
    for (number, field) in fields(bytes)? {
        let Some(name) = usize::try_from(number)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| names.get(i))
            .filter(|n| !n.is_empty())
        else {
            continue;
        };
        if let Field::Bytes(value) = field {
            object.insert((*name).to_owned(), text(value));
        }
    }
    Some(Value::Object(object))
}

/// `ObjectMeta`: name (1), generateName (2), namespace (3), labels (11), annotations (12).
fn object_meta(bytes: &[u8]) -> Option<Value> {
    let mut meta = Map::new();
    for (number, field) in fields(bytes)? {
        let Field::Bytes(value) = field else { continue };
        match number {
            1 => {
                meta.insert("name".to_owned(), text(value));
            }
            2 => {
                meta.insert("generateName".to_owned(), text(value));
            }
            3 => {
                meta.insert("namespace".to_owned(), text(value));
            }
            11 | 12 => {
                let entry = strings(value, &["key", "value"])?;
                let key = if number == 11 {
                    "labels"
                } else {
                    "annotations"
                };
                let map = meta
                    .entry(key.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let (Some(map), Some(k)) = (map.as_object_mut(), entry["key"].as_str()) {
                    map.insert(
                        k.to_owned(),
                        entry.get("value").cloned().unwrap_or(json!("")),
                    );
                }
            }
            _ => {}
        }
    }
    Some(Value::Object(meta))
}

fn service_account(raw: &[u8]) -> Option<Value> {
    let mut account = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {}});
    for (number, field) in fields(raw)? {
        match (number, field) {
            (1, Field::Bytes(meta)) => account["metadata"] = object_meta(meta)?,
            (4, Field::Varint(automount)) => {
                account["automountServiceAccountToken"] = json!(automount != 0);
            }
            _ => {}
        }
    }
    Some(account)
}

fn token_request(raw: &[u8]) -> Option<Value> {
    let mut request = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": {}, "spec": {}});
    for (number, field) in fields(raw)? {
        match (number, field) {
            (1, Field::Bytes(meta)) => request["metadata"] = object_meta(meta)?,
            (2, Field::Bytes(spec)) => {
                let mut audiences = Vec::new();
                for (number, field) in fields(spec)? {
                    match (number, field) {
                        (1, Field::Bytes(audience)) => audiences.push(text(audience)),
                        (3, Field::Bytes(bound)) => {
                            request["spec"]["boundObjectRef"] =
                                strings(bound, &["kind", "apiVersion", "name", "uid"])?;
                        }
                        (4, Field::Varint(seconds)) => {
                            request["spec"]["expirationSeconds"] = json!(seconds);
                        }
                        _ => {}
                    }
                }
                if !audiences.is_empty() {
                    request["spec"]["audiences"] = Value::Array(audiences);
                }
            }
            _ => {}
        }
    }
    Some(request)
}

fn self_subject_access_review(raw: &[u8]) -> Option<Value> {
    let mut review = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "metadata": {}, "spec": {}});
    for (number, field) in fields(raw)? {
        let (2, Field::Bytes(spec)) = (number, field) else {
            continue;
        };
        for (number, field) in fields(spec)? {
            match (number, field) {
                (1, Field::Bytes(resource)) => {
                    review["spec"]["resourceAttributes"] = strings(
                        resource,
                        &[
                            "namespace",
                            "verb",
                            "group",
                            "version",
                            "resource",
                            "subresource",
                            "name",
                        ],
                    )?;
                }
                (2, Field::Bytes(non_resource)) => {
                    review["spec"]["nonResourceAttributes"] =
                        strings(non_resource, &["path", "verb"])?;
                }
                _ => {}
            }
        }
    }
    Some(review)
}

/// `Role` and `ClusterRole`: metadata (1), rules (2), each a `PolicyRule` of repeated
/// strings: verbs (1), apiGroups (2), resources (3), resourceNames (4),
/// nonResourceURLs (5).
fn role(raw: &[u8], kind: &str) -> Option<Value> {
    let mut role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {}, "rules": []});
    let mut rules = Vec::new();
    for (number, field) in fields(raw)? {
        match (number, field) {
            (1, Field::Bytes(meta)) => role["metadata"] = object_meta(meta)?,
            (2, Field::Bytes(rule)) => {
                let names = [
                    "verbs",
                    "apiGroups",
                    "resources",
                    "resourceNames",
                    "nonResourceURLs",
                ];
                let mut lists: Vec<Vec<Value>> = vec![Vec::new(); names.len()];
                for (number, field) in fields(rule)? {
                    let (Field::Bytes(value), Some(list)) = (
                        field,
                        usize::try_from(number)
                            .ok()
                            .and_then(|n| n.checked_sub(1))
                            .and_then(|i| lists.get_mut(i)),
                    ) else {
                        continue;
                    };
                    list.push(text(value));
                }
                let mut object = Map::new();
                for (name, list) in names.iter().zip(lists) {
                    // The API server keeps apiGroups [""] and drops empty lists.
                    if !list.is_empty() {
                        object.insert((*name).to_owned(), Value::Array(list));
                    }
                }
                rules.push(Value::Object(object));
            }
            _ => {}
        }
    }
    role["rules"] = Value::Array(rules);
    Some(role)
}

/// `RoleBinding` and `ClusterRoleBinding`: metadata (1), subjects (2: kind, apiGroup,
/// name, namespace), roleRef (3: apiGroup, kind, name).
fn binding(raw: &[u8], kind: &str) -> Option<Value> {
    let mut binding =
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {}});
    let mut subjects = Vec::new();
    for (number, field) in fields(raw)? {
        match (number, field) {
            (1, Field::Bytes(meta)) => binding["metadata"] = object_meta(meta)?,
            (2, Field::Bytes(subject)) => {
                subjects.push(strings(
                    subject,
                    &["kind", "apiGroup", "name", "namespace"],
                )?);
            }
            (3, Field::Bytes(role_ref)) => {
                binding["roleRef"] = strings(role_ref, &["apiGroup", "kind", "name"])?;
            }
            _ => {}
        }
    }
    if !subjects.is_empty() {
        binding["subjects"] = Value::Array(subjects);
    }
    Some(binding)
}

/// The JSON form of a protobuf body of one of the kinds above; `None` for other kinds
/// or a malformed body.
pub fn decode(body: &[u8]) -> Option<Value> {
    let envelope = body.strip_prefix(MAGIC)?;
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (number, field) in fields(envelope)? {
        match (number, field) {
            (1, Field::Bytes(type_meta)) => {
                kind = str_field(&strings(type_meta, &["apiVersion", "kind"])?, "kind");
            }
            (2, Field::Bytes(bytes)) => raw = bytes,
            _ => {}
        }
    }
    match kind.as_str() {
        "ServiceAccount" => service_account(raw),
        "TokenRequest" => token_request(raw),
        "SelfSubjectAccessReview" => self_subject_access_review(raw),
        "Role" | "ClusterRole" => role(raw, &kind),
        "RoleBinding" | "ClusterRoleBinding" => binding(raw, &kind),
        _ => None,
    }
}

fn str_field(object: &Value, key: &str) -> String {
    object
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_field(number: u64, value: &[u8]) -> Vec<u8> {
        let mut out = vec![u8::try_from(number << 3 | 2).unwrap_or(0)];
        out.push(u8::try_from(value.len()).unwrap_or(0));
        out.extend_from_slice(value);
        out
    }

    #[test]
    fn a_token_request_decodes_to_its_json_form() {
        let meta = bytes_field(1, b"drill");
        let mut spec = bytes_field(1, b"api");
        spec.extend([4 << 3, 0x90, 0x1c]); // expirationSeconds 3600
        let mut raw = bytes_field(1, &meta);
        raw.extend(bytes_field(2, &spec));
        let mut type_meta = bytes_field(1, b"authentication.k8s.io/v1");
        type_meta.extend(bytes_field(2, b"TokenRequest"));
        let mut body = MAGIC.to_vec();
        body.extend(bytes_field(1, &type_meta));
        body.extend(bytes_field(2, &raw));
        let decoded = decode(&body);
        assert_eq!(
            decoded
                .as_ref()
                .and_then(|d| d.pointer("/spec/expirationSeconds")),
            Some(&json!(3600))
        );
        assert_eq!(
            decoded
                .as_ref()
                .and_then(|d| d.pointer("/spec/audiences/0")),
            Some(&json!("api"))
        );
        assert_eq!(
            decoded.as_ref().and_then(|d| d.pointer("/metadata/name")),
            Some(&json!("drill"))
        );
    }

    fn envelope(api_version: &[u8], kind: &[u8], raw: &[u8]) -> Vec<u8> {
        let mut type_meta = bytes_field(1, api_version);
        type_meta.extend(bytes_field(2, kind));
        let mut body = MAGIC.to_vec();
        body.extend(bytes_field(1, &type_meta));
        body.extend(bytes_field(2, raw));
        body
    }

    #[test]
    fn roles_and_bindings_decode_to_their_json_form() {
        // `kubectl create role r --verb=get,list --resource=pods --resource-name=a`.
        let mut meta = bytes_field(1, b"r");
        meta.extend(bytes_field(3, b"shop"));
        let mut rule = bytes_field(1, b"get");
        rule.extend(bytes_field(1, b"list"));
        rule.extend(bytes_field(2, b""));
        rule.extend(bytes_field(3, b"pods"));
        rule.extend(bytes_field(4, b"a"));
        let mut raw = bytes_field(1, &meta);
        raw.extend(bytes_field(2, &rule));
        let role = decode(&envelope(b"rbac.authorization.k8s.io/v1", b"Role", &raw));
        assert_eq!(
            role,
            Some(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "r", "namespace": "shop"},
                "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]}],
            }))
        );
        // `kubectl create clusterrolebinding b --clusterrole=c --serviceaccount=shop:drill`.
        let mut subject = bytes_field(1, b"ServiceAccount");
        subject.extend(bytes_field(3, b"drill"));
        subject.extend(bytes_field(4, b"shop"));
        let mut role_ref = bytes_field(1, b"rbac.authorization.k8s.io");
        role_ref.extend(bytes_field(2, b"ClusterRole"));
        role_ref.extend(bytes_field(3, b"c"));
        let mut raw = bytes_field(1, &bytes_field(1, b"b"));
        raw.extend(bytes_field(2, &subject));
        raw.extend(bytes_field(3, &role_ref));
        let binding = decode(&envelope(
            b"rbac.authorization.k8s.io/v1",
            b"ClusterRoleBinding",
            &raw,
        ));
        assert_eq!(
            binding,
            Some(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "b"},
                "subjects": [{"kind": "ServiceAccount", "name": "drill", "namespace": "shop"}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "c"},
            }))
        );
    }

    #[test]
    fn other_kinds_and_garbage_are_not_decoded() {
        let mut type_meta = bytes_field(1, b"v1");
        type_meta.extend(bytes_field(2, b"Namespace"));
        let mut body = MAGIC.to_vec();
        body.extend(bytes_field(1, &type_meta));
        assert_eq!(decode(&body), None);
        assert_eq!(decode(b"k8s\0\xff\xff"), None);
        assert_eq!(decode(b"{}"), None);
    }
}
