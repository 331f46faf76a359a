//! Label selectors (equality and set based) and field selectors, parsed from query strings
//! or from an object's `LabelSelector`.

use firedrill_core::selector::{LabelSelector as Parsed, Requirement as Term};
use serde_json::{Map, Value};

/// One requirement of a label selector: firedrill's own (kubectl syntax, shared with the
/// configuration), or one that never holds.
#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Term(Term),
    /// A selector that matches nothing (`matchExpressions` with an unknown operator).
    Never,
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses the `labelSelector` query syntax: `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
    /// `a notin (x)`, `a`, `!a`, joined by commas (the parser firedrill's configuration
    /// uses). An empty string is the empty selector.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let parsed = Parsed::parse(text).map_err(|err| err.to_string())?;
        Ok(Self {
            requirements: parsed
                .requirements
                .into_iter()
                .map(Requirement::Term)
                .collect(),
        })
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
                requirements.push(Requirement::Term(Term::Equals(
                    key.clone(),
                    value.as_str().unwrap_or_default().to_owned(),
                )));
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
                    "In" => Requirement::Term(Term::In(key, values)),
                    "NotIn" => Requirement::Term(Term::NotIn(key, values)),
                    "Exists" => Requirement::Term(Term::Exists(key)),
                    "DoesNotExist" => Requirement::Term(Term::DoesNotExist(key)),
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
                        Requirement::Term(Term::Equals(
                            k.clone(),
                            v.as_str().unwrap_or_default().to_owned(),
                        ))
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
            Requirement::Term(Term::Equals(k, v)) => Some((k.as_str(), v.as_str())),
            _ => None,
        })
    }

    /// Whether an object with these labels matches.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let get = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        self.requirements.iter().all(|r| match r {
            Requirement::Term(term) => term.matches_with(get),
            Requirement::Never => false,
        })
    }

    /// Whether an object matches, reading its `metadata.labels`.
    pub fn matches_object(&self, object: &Value) -> bool {
        self.matches(crate::object::at(object, "/metadata/labels").and_then(Value::as_object))
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
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
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

    /// The value a `field=value` term asks for (`spec.nodeName`, to read the node index).
    pub fn equals(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|(f, eq, _)| *eq && f == field)
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
