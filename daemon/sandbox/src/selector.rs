//! Label selectors (equality and set based) and field selectors, parsed from query strings
//! or from an object's `LabelSelector`.

use serde_json::{Map, Value};

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
    /// A selector that matches nothing (`matchExpressions` with an unknown operator).
    Never,
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

/// Splits on commas that are not inside parentheses (`a in (x,y),b=c`).
fn split_terms(text: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut depth = 0usize;
    let mut start = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&text[start..]);
    terms
        .into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

fn parse_set(text: &str) -> Result<Vec<String>, String> {
    let inner = text
        .trim()
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesised set of values, found {text:?}"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect())
}

fn valid_key(key: &str) -> Result<String, String> {
    let ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if ok {
        Ok(key.to_owned())
    } else {
        Err(format!("invalid label key {key:?}"))
    }
}

impl LabelSelector {
    /// Parses the `labelSelector` query syntax: `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
    /// `a notin (x)`, `a`, `!a`, joined by commas.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for term in split_terms(text) {
            let requirement = if let Some(key) = term.strip_prefix('!') {
                Requirement::DoesNotExist(valid_key(key.trim())?)
            } else if let Some((key, value)) = term.split_once("!=") {
                Requirement::NotEquals(valid_key(key.trim())?, value.trim().to_owned())
            } else if let Some((key, value)) = term.split_once("==") {
                Requirement::Equals(valid_key(key.trim())?, value.trim().to_owned())
            } else if let Some((key, value)) = term.split_once('=') {
                Requirement::Equals(valid_key(key.trim())?, value.trim().to_owned())
            } else if let Some((key, set)) = term.split_once(" notin ") {
                Requirement::NotIn(valid_key(key.trim())?, parse_set(set)?)
            } else if let Some((key, set)) = term.split_once(" in ") {
                Requirement::In(valid_key(key.trim())?, parse_set(set)?)
            } else {
                Requirement::Exists(valid_key(term)?)
            };
            requirements.push(requirement);
        }
        Ok(Self { requirements })
    }

    /// Builds a selector from a `metav1.LabelSelector` JSON value (`matchLabels`,
    /// `matchExpressions`). A missing selector matches nothing, as for workloads.
    pub fn from_json(selector: Option<&Value>) -> Self {
        let Some(selector) = selector else {
            return Self {
                requirements: vec![Requirement::Never],
            };
        };
        let mut requirements = Vec::new();
        if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
            for (key, value) in labels {
                requirements.push(Requirement::Equals(
                    key.clone(),
                    value.as_str().unwrap_or_default().to_owned(),
                ));
            }
        }
        if let Some(expressions) = selector.get("matchExpressions").and_then(Value::as_array) {
            for expression in expressions {
                let key = expression
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let values: Vec<String> = expression
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|vs| {
                        vs.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let operator = expression
                    .get("operator")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                requirements.push(match operator {
                    "In" => Requirement::In(key, values),
                    "NotIn" => Requirement::NotIn(key, values),
                    "Exists" => Requirement::Exists(key),
                    "DoesNotExist" => Requirement::DoesNotExist(key),
                    _ => Requirement::Never,
                });
            }
        }
        Self { requirements }
    }

    /// A selector matching exactly these labels (a Service's `spec.selector`). An empty
    /// map matches nothing, as the endpoints controller treats selector-less services.
    pub fn from_map(labels: Option<&Map<String, Value>>) -> Self {
        match labels {
            Some(labels) if !labels.is_empty() => Self {
                requirements: labels
                    .iter()
                    .map(|(k, v)| {
                        Requirement::Equals(k.clone(), v.as_str().unwrap_or_default().to_owned())
                    })
                    .collect(),
            },
            _ => Self {
                requirements: vec![Requirement::Never],
            },
        }
    }

    /// Whether the selector has no requirements (matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The `key=value` requirements, used to narrow a scan through the label index.
    pub fn equality_terms(&self) -> impl Iterator<Item = (&str, &str)> {
        self.requirements.iter().filter_map(|r| match r {
            Requirement::Equals(k, v) => Some((k.as_str(), v.as_str())),
            _ => None,
        })
    }

    /// Whether an object with these labels matches.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let get = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|l| vs.iter().all(|v| v != l)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
            Requirement::Never => false,
        })
    }

    /// Whether an object matches, reading its `metadata.labels`.
    pub fn matches_object(&self, object: &Value) -> bool {
        self.matches(
            object
                .pointer("/metadata/labels")
                .and_then(Value::as_object),
        )
    }
}

/// A parsed field selector: `field=value`, `field==value`, `field!=value`, joined by commas.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

/// The fields the sandbox can select on, as the real API server allows for these kinds.
const SUPPORTED_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "status.phase",
    "spec.unschedulable",
    "involvedObject.kind",
    "involvedObject.name",
    "involvedObject.namespace",
    "involvedObject.uid",
    "reason",
    "type",
];

impl FieldSelector {
    /// Parses a `fieldSelector` query value; unknown fields are an error, as on a real
    /// server.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in split_terms(text) {
            let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v)
            } else {
                return Err(format!("invalid field selector term {term:?}"));
            };
            let field = field.trim();
            if !SUPPORTED_FIELDS.contains(&field) {
                return Err(format!("field label not supported: {field}"));
            }
            terms.push((field.to_owned(), equal, value.trim().to_owned()));
        }
        Ok(Self { terms })
    }

    /// Whether the selector has no terms.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The value a `metadata.name=...` term asks for, used to skip a scan.
    pub fn name(&self) -> Option<&str> {
        self.terms
            .iter()
            .find(|(f, eq, _)| *eq && f == "metadata.name")
            .map(|(_, _, v)| v.as_str())
    }

    /// Whether an object matches; a missing field reads as the empty string, so
    /// `spec.nodeName=` selects unscheduled pods.
    pub fn matches(&self, object: &Value) -> bool {
        self.terms.iter().all(|(field, equal, value)| {
            let pointer = format!("/{}", field.replace('.', "/"));
            let actual = match object.pointer(&pointer) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            (actual == *value) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn equality_and_set_based_terms_combine() {
        let selector = LabelSelector::parse("app in (kafka, redis),tier!=cache,!legacy,zone")
            .unwrap_or_default();
        assert!(selector.matches(Some(&labels(json!({"app":"kafka","zone":"a"})))));
        assert!(!selector.matches(Some(&labels(json!({"app":"kafka"})))));
        assert!(!selector.matches(Some(&labels(
            json!({"app":"redis","zone":"a","tier":"cache"})
        ))));
        assert!(!selector.matches(Some(&labels(
            json!({"app":"redis","zone":"a","legacy":"1"})
        ))));
        assert!(!selector.matches(Some(&labels(json!({"app":"pg","zone":"a"})))));
    }

    #[test]
    fn notin_matches_objects_without_the_label() {
        let selector = LabelSelector::parse("app notin (kafka)").unwrap_or_default();
        assert!(selector.matches(None));
        assert!(!selector.matches(Some(&labels(json!({"app":"kafka"})))));
    }

    #[test]
    fn malformed_selectors_are_rejected() {
        assert!(LabelSelector::parse("app in kafka").is_err());
        assert!(LabelSelector::parse("a b=c").is_err());
    }

    #[test]
    fn match_expressions_from_a_workload_selector_are_honoured() {
        let selector = LabelSelector::from_json(Some(&json!({
            "matchLabels": {"app": "cassandra"},
            "matchExpressions": [{"key": "role", "operator": "NotIn", "values": ["seed"]}]
        })));
        assert!(selector.matches(Some(&labels(json!({"app":"cassandra"})))));
        assert!(!selector.matches(Some(&labels(json!({"app":"cassandra","role":"seed"})))));
        assert!(!LabelSelector::from_json(None).matches(None));
    }

    #[test]
    fn field_selectors_read_nested_fields_and_reject_unknown_ones() {
        let pod =
            json!({"metadata":{"name":"a"},"spec":{"nodeName":"n1"},"status":{"phase":"Running"}});
        let selector =
            FieldSelector::parse("spec.nodeName=n1,status.phase!=Pending").unwrap_or_default();
        assert!(selector.matches(&pod));
        assert!(
            FieldSelector::parse("spec.nodeName=")
                .unwrap_or_default()
                .matches(&json!({}))
        );
        assert!(FieldSelector::parse("spec.containers=x").is_err());
    }
}
