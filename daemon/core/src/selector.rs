//! Kubernetes label selectors in kubectl syntax: parsing, validation and matching.

use std::collections::BTreeMap;
use std::fmt;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed label selector: every requirement must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    pub requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector `{selector}`: {reason}")]
pub struct SelectorError {
    pub selector: String,
    pub reason: String,
}

impl LabelSelector {
    /// Parses `a=b,c!=d,e in (f,g),h notin (i),j,!k`.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let fail = |reason: String| SelectorError {
            selector: text.to_string(),
            reason,
        };
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                return Err(fail("empty requirement".into()));
            }
            let requirement = if let Some(key) = part.strip_prefix('!') {
                Requirement::DoesNotExist(key.trim().to_string())
            } else if let Some((key, values)) = split_set(part, " notin ") {
                Requirement::NotIn(key, values.map_err(fail)?)
            } else if let Some((key, values)) = split_set(part, " in ") {
                Requirement::In(key, values.map_err(fail)?)
            } else if let Some((key, value)) = part.split_once("!=") {
                Requirement::NotEquals(key.trim().into(), value.trim().into())
            } else if let Some((key, value)) = part.split_once("==") {
                Requirement::Equals(key.trim().into(), value.trim().into())
            } else if let Some((key, value)) = part.split_once('=') {
                Requirement::Equals(key.trim().into(), value.trim().into())
            } else {
                Requirement::Exists(part.to_string())
            };
            let (key, values): (&str, Vec<&str>) = match &requirement {
                Requirement::Equals(k, v) | Requirement::NotEquals(k, v) => (k, vec![v]),
                Requirement::In(k, vs) | Requirement::NotIn(k, vs) => {
                    (k, vs.iter().map(String::as_str).collect())
                }
                Requirement::Exists(k) | Requirement::DoesNotExist(k) => (k, vec![]),
            };
            validate_key(key).map_err(fail)?;
            for value in values {
                validate_value(value).map_err(fail)?;
            }
            requirements.push(requirement);
        }
        if requirements.is_empty() {
            return Err(fail("a selector needs at least one requirement".into()));
        }
        Ok(Self { requirements })
    }

    /// Does a set of labels satisfy every requirement?
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_with(|key| labels.get(key).map(String::as_str))
    }

    /// Does an object whose label `key` is `label(key)` satisfy every requirement? For
    /// labels held in another shape (e.g. a JSON object).
    pub fn matches_with<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.requirements.iter().all(|req| req.matches_with(&label))
    }
}

impl Requirement {
    /// Does this requirement hold for the labels `label` reads?
    pub fn matches_with<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        match self {
            Requirement::Equals(k, v) => label(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            Requirement::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => label(k).is_none_or(|l| vs.iter().all(|v| v != l)),
            Requirement::Exists(k) => label(k).is_some(),
            Requirement::DoesNotExist(k) => label(k).is_none(),
        }
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|req| match req {
                Requirement::Equals(k, v) => format!("{k}={v}"),
                Requirement::NotEquals(k, v) => format!("{k}!={v}"),
                Requirement::In(k, vs) => format!("{k} in ({})", vs.join(",")),
                Requirement::NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
                Requirement::Exists(k) => k.clone(),
                Requirement::DoesNotExist(k) => format!("!{k}"),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Splits on commas that are not inside a `( ... )` value set.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

type SetValues = Result<Vec<String>, String>;

fn split_set(part: &str, operator: &str) -> Option<(String, SetValues)> {
    let (key, rest) = part.split_once(operator)?;
    let rest = rest.trim();
    let values = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .map(|inner| {
            inner
                .split(',')
                .map(|v| v.trim().to_string())
                .collect::<Vec<_>>()
        })
        .ok_or_else(|| {
            format!(
                "expected a value set like `(a,b)` after `{}`",
                operator.trim()
            )
        });
    Some((key.trim().to_string(), values))
}

fn validate_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let ok = !prefix.is_empty()
            && prefix.len() <= 253
            && prefix.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            });
        if !ok {
            return Err(format!(
                "label key prefix `{prefix}` is not a DNS subdomain"
            ));
        }
    }
    if !is_label_name(name) || name.is_empty() {
        return Err(format!(
            "label key `{key}` must be 1-63 letters, digits, '-', '_' or '.', starting and ending alphanumeric"
        ));
    }
    Ok(())
}

fn validate_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_label_name(value) {
        Ok(())
    } else {
        Err(format!(
            "label value `{value}` must be at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric"
        ))
    }
}

fn is_label_name(text: &str) -> bool {
    text.len() <= 63
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && text
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && text
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn equality_and_set_based_requirements_match_like_kubectl() {
        let selector =
            LabelSelector::parse("app.kubernetes.io/name=capsule,tier in (web, api),!canary")
                .unwrap();
        assert!(selector.matches(&labels(&[
            ("app.kubernetes.io/name", "capsule"),
            ("tier", "api")
        ])));
        assert!(!selector.matches(&labels(&[
            ("app.kubernetes.io/name", "capsule"),
            ("tier", "api"),
            ("canary", "true")
        ])));
        assert!(!selector.matches(&labels(&[("app.kubernetes.io/name", "capsule")])));
        assert_eq!(
            selector.to_string(),
            "app.kubernetes.io/name=capsule,tier in (web,api),!canary"
        );
    }

    #[test]
    fn notin_matches_missing_labels() {
        let selector = LabelSelector::parse("env notin (prod)").unwrap();
        assert!(selector.matches(&labels(&[])));
        assert!(!selector.matches(&labels(&[("env", "prod")])));
    }

    #[test]
    fn malformed_selectors_say_what_is_wrong() {
        assert!(LabelSelector::parse("").is_err());
        assert!(LabelSelector::parse("app=a,,b=c").is_err());
        let err = LabelSelector::parse("tier in web").unwrap_err();
        assert!(err.reason.contains("value set"), "{err}");
        let err = LabelSelector::parse("app=has space").unwrap_err();
        assert!(err.reason.contains("label value"), "{err}");
    }
}
