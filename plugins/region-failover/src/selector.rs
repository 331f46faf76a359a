//! Label selectors in kubectl syntax, parsed and matched against labels: which
//! workload's pod template a service selects, which pods a scale-down takes away.

use super::*;

/// One requirement of a label selector (kubectl syntax).
pub(crate) enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    Absent(String),
}

pub(crate) fn parse_selector(selector: &str) -> Vec<Requirement> {
    // Terms are separated by commas outside the parentheses of `in (a, b)`.
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&selector[start..]);
    let values = |list: &str| -> Vec<String> {
        list.trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .split(',')
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect()
    };
    let mut requirements = Vec::new();
    for term in terms.into_iter().map(str::trim).filter(|t| !t.is_empty()) {
        let requirement = if let Some(key) = term.strip_prefix('!') {
            Requirement::Absent(key.trim().to_owned())
        } else if let Some((key, value)) = term.split_once("!=") {
            Requirement::NotEquals(key.trim().to_owned(), value.trim().to_owned())
        } else if let Some((key, value)) = term.split_once("==").or_else(|| term.split_once('=')) {
            Requirement::Equals(key.trim().to_owned(), value.trim().to_owned())
        } else if let Some((key, list)) = term.split_once(" notin ") {
            Requirement::NotIn(key.trim().to_owned(), values(list))
        } else if let Some((key, list)) = term.split_once(" in ") {
            Requirement::In(key.trim().to_owned(), values(list))
        } else {
            Requirement::Exists(term.to_owned())
        };
        requirements.push(requirement);
    }
    requirements
}

pub(crate) fn selector_matches(selector: &str, labels: &BTreeMap<String, String>) -> bool {
    parse_selector(selector).iter().all(|r| match r {
        Requirement::Equals(k, v) => labels.get(k) == Some(v),
        Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
        Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
        Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
        Requirement::Exists(k) => labels.contains_key(k),
        Requirement::Absent(k) => !labels.contains_key(k),
    })
}

/// The values a selector pins a label to (`app=api` gives `api`): names a workload
/// usually has.
pub(crate) fn pinned_values(selector: &str) -> Vec<String> {
    parse_selector(selector)
        .into_iter()
        .filter_map(|r| match r {
            Requirement::Equals(_, v) => Some(v),
            Requirement::In(_, mut vs) if vs.len() == 1 => vs.pop(),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn selectors_match_like_kubectl() {
        let api = labels(&[("app", "api"), ("tier", "web")]);
        assert!(selector_matches("app=api", &api));
        assert!(selector_matches("app==api,tier!=db", &api));
        assert!(selector_matches("tier in (web, edge),!canary", &api));
        assert!(selector_matches("app,tier notin (db)", &api));
        assert!(!selector_matches("app=nexus", &api));
        assert!(!selector_matches("tier in (db,cache)", &api));
        assert!(!selector_matches("!app", &api));
        assert!(selector_matches("", &api));
    }

    #[test]
    fn pinned_values_are_the_names_a_workload_usually_has() {
        assert_eq!(
            pinned_values("app.kubernetes.io/name=api,tier in (web),env notin (dev)"),
            ["api", "web"]
        );
    }
}
