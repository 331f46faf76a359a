//! Canonical JSON and per-field digests: what the chain hashes, and how a change is traced to its field.
//!
//! A record's hash is not the hash of its JSON text but of the sorted list of its fields'
//! digests (one per leaf, keyed by its path, e.g. `run.phases[1].recovery_seconds`). The
//! digests are stored next to the record, so `verify` can name the field that no longer
//! matches, and the record hash over them makes rewriting a digest as visible as rewriting
//! the field.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The JSON text of `value` with object keys sorted at every level and no whitespace.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*key).clone()).to_string());
                out.push(':');
                if let Some(inner) = map.get(*key) {
                    write_canonical(inner, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Every leaf of `value` (scalars, empty arrays and objects) with its path, in document
/// order (object keys sorted).
pub fn leaves(value: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    walk(value, String::new(), &mut out);
    out
}

fn walk(value: &Value, path: String, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for key in keys {
                if let Some(inner) = map.get(key) {
                    walk(inner, child_path(&path, key), out);
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                walk(item, format!("{path}[{i}]"), out);
            }
        }
        leaf => out.push((path, leaf.clone())),
    }
}

/// `a.b` for plain keys, `a["report.md"]` for keys that would be ambiguous after a dot.
pub fn child_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (parent.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{}]", Value::String(key.to_string())),
    }
}

/// The digest of each leaf: SHA-256 over its path and canonical value, so moving a value
/// to another field changes the digest too.
pub fn field_digests(value: &Value) -> BTreeMap<String, String> {
    leaves(value)
        .into_iter()
        .map(|(path, leaf)| {
            let digest = sha256_hex(format!("{path}\n{}", canonical_json(&leaf)).as_bytes());
            (path, digest)
        })
        .collect()
}

/// The record hash: SHA-256 of the canonical JSON of the field digests.
pub fn record_hash(digests: &BTreeMap<String, String>) -> String {
    let map: serde_json::Map<String, Value> = digests
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    sha256_hex(canonical_json(&Value::Object(map)).as_bytes())
}

/// The path of the value being read at byte `offset` of `text`, for JSON that no longer
/// parses: a best-effort scan that tracks keys and array indices up to the offset.
pub fn path_at_offset(text: &str, offset: usize) -> String {
    #[derive(Debug)]
    enum Frame {
        Object { key: Option<String> },
        Array { index: usize },
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    let mut string_start = 0;
    let mut expecting_key = false;
    let bytes = text.as_bytes();
    let end = offset.min(bytes.len());
    let mut i = 0;
    while i < end {
        let b = bytes[i];
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
                if expecting_key {
                    let raw = &text[string_start..=i];
                    let key =
                        serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.to_string());
                    if let Some(Frame::Object { key: slot }) = stack.last_mut() {
                        *slot = Some(key);
                    }
                    expecting_key = false;
                }
            }
        } else {
            match b {
                b'"' => {
                    in_string = true;
                    string_start = i;
                }
                b'{' => {
                    stack.push(Frame::Object { key: None });
                    expecting_key = true;
                }
                b'[' => stack.push(Frame::Array { index: 0 }),
                b'}' | b']' => {
                    stack.pop();
                }
                b',' => match stack.last_mut() {
                    Some(Frame::Array { index }) => *index += 1,
                    Some(Frame::Object { .. }) => expecting_key = true,
                    None => {}
                },
                _ => {}
            }
        }
        i += 1;
    }
    let mut path = String::new();
    for frame in &stack {
        match frame {
            Frame::Object { key: Some(key) } => path = child_path(&path, key),
            Frame::Object { key: None } => {}
            Frame::Array { index } => path = format!("{path}[{index}]"),
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let value: Value = serde_json::from_str(r#"{"b":1,"a":{"d":[1,{"y":2,"x":1}],"c":null}}"#)
            .unwrap_or(Value::Null);
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}"#
        );
    }

    #[test]
    fn leaves_are_named_by_path() {
        let value: Value = serde_json::from_str(
            r#"{"run":{"phases":[{"name":"a"}],"x":{}},"report_sha256":{"report.md":"h"}}"#,
        )
        .unwrap_or(Value::Null);
        let paths: Vec<String> = leaves(&value).into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                "report_sha256[\"report.md\"]",
                "run.phases[0].name",
                "run.x"
            ]
        );
    }

    #[test]
    fn a_parse_error_is_traced_to_the_field_being_read() {
        let text = r#"{"run":{"phases":[{"ok":true},{"ok":trUe}]}}"#;
        let offset = text.find("trUe").unwrap_or(0) + 2;
        assert_eq!(path_at_offset(text, offset), "run.phases[1].ok");
    }
}
