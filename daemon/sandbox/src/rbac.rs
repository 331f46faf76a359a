//! RBAC authorization as the API server does it: request attributes from a request's
//! method, path and query, rule matching over the stored Roles, ClusterRoles and their
//! bindings, the `Forbidden` message, and the bootstrap ClusterRoles every cluster has.
//!
//! Everything here is pure over a [`State`] snapshot.

use axum::http::Method;
use serde_json::{Value, json};

use crate::object::{self, str_at};
use crate::resources::{CLUSTERROLEBINDINGS, CLUSTERROLES, RBAC_GROUP, ROLEBINDINGS, ROLES};
use crate::store::State;

/// Who is asking: a user name and the groups it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// `system:serviceaccount:NS:NAME`, or `kubernetes-admin`.
    pub name: String,
    /// `system:serviceaccounts`, `system:authenticated`...
    pub groups: Vec<String>,
}

impl UserInfo {
    /// The user a ServiceAccount's token authenticates as.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Self {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".to_owned(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".to_owned(),
            ],
        }
    }
}

/// The authorizer's view of a request (the API server's `authorizer.Attributes`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`
    /// for resource requests; the lowercase HTTP method for the others.
    pub verb: String,
    /// Whether the path names a resource (`/api/v1/...`, `/apis/G/V/...`).
    pub resource_request: bool,
    /// The request path, for non-resource requests.
    pub path: String,
    /// The API group, empty for core.
    pub api_group: String,
    /// The plural resource name.
    pub resource: String,
    /// `eviction`, `exec`, `status`..., or empty.
    pub subresource: String,
    /// The namespace, empty at the cluster scope.
    pub namespace: String,
    /// The object's name, empty for collections and creates.
    pub name: String,
}

impl Attributes {
    /// Maps a request as the API server's `RequestInfoFactory` does: `/api/v1/...` and
    /// `/apis/G/V/...` with something after the version are resource requests (the
    /// discovery paths themselves are not); `GET` without a name is `list`, or `watch`
    /// with `watch=true` or under `/watch/`; `DELETE` without a name is
    /// `deletecollection`; a list or watch selecting `metadata.name=X` names `X`.
    pub fn from_request(method: &Method, path: &str, query: &[(String, String)]) -> Self {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let non_resource = || Self {
            verb: method.as_str().to_ascii_lowercase(),
            path: path.to_owned(),
            ..Self::default()
        };
        let (api_group, mut rest) = match parts.as_slice() {
            ["api", _version, rest @ ..] if !rest.is_empty() => ("", rest),
            ["apis", group, _version, rest @ ..] if !rest.is_empty() => (*group, rest),
            _ => return non_resource(),
        };
        let mut verb = match *method {
            Method::POST => "create",
            Method::GET | Method::HEAD => "get",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE => "delete",
            _ => "",
        }
        .to_owned();
        if rest.first() == Some(&"watch") {
            verb = "watch".to_owned();
            rest = &rest[1..];
        }
        let mut namespace = String::new();
        if rest.first() == Some(&"namespaces") && rest.len() > 1 {
            namespace = rest[1].to_owned();
            // `namespaces/NS/status` and `/finalize` are the namespace's subresources.
            if rest.len() >= 3 && !matches!(rest[2], "status" | "finalize") {
                rest = &rest[2..];
            }
        }
        let resource = rest.first().map(|s| (*s).to_owned()).unwrap_or_default();
        let mut name = rest.get(1).map(|s| (*s).to_owned()).unwrap_or_default();
        let subresource = rest.get(2).map(|s| (*s).to_owned()).unwrap_or_default();
        let value = |key: &str| {
            query
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        if name.is_empty() && verb == "get" {
            verb = if matches!(value("watch"), Some("true" | "1")) {
                "watch"
            } else {
                "list"
            }
            .to_owned();
        }
        if name.is_empty() && matches!(verb.as_str(), "list" | "watch") {
            let selected = value("fieldSelector").and_then(|fields| {
                fields.split(',').find_map(|term| {
                    term.trim()
                        .strip_prefix("metadata.name=")
                        .map(|n| n.trim_start_matches('=').to_owned())
                })
            });
            if let Some(selected) = selected {
                name = selected;
            }
        }
        if name.is_empty() && verb == "delete" {
            verb = "deletecollection".to_owned();
        }
        Self {
            verb,
            resource_request: true,
            path: path.to_owned(),
            api_group: api_group.to_owned(),
            resource,
            subresource,
            namespace,
            name,
        }
    }

    /// `pods` or `pods/eviction`: the resource as rules and messages name it.
    pub fn qualified_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

/// What the authorizer decided, with the API server's reason text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed: `RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y" to Group "z"`.
    Allow(String),
    /// Denied: empty, or `RBAC: role.rbac.authorization.k8s.io "x" not found` when a
    /// binding names a missing role.
    Deny(String),
}

impl Decision {
    /// Whether the request may go on.
    pub fn allowed(&self) -> bool {
        matches!(self, Self::Allow(_))
    }
}

/// Authorizes `attributes` for `user` against the RBAC objects in `state`: the
/// ClusterRoles bound by ClusterRoleBindings, then the Roles and ClusterRoles bound by
/// RoleBindings in the request's namespace. Deny by default.
pub fn authorize(state: &State, user: &UserInfo, attributes: &Attributes) -> Decision {
    let mut errors: Vec<String> = Vec::new();
    for binding in state.list(&CLUSTERROLEBINDINGS, None) {
        let Some(subject) = applies_to(binding, user, "") else {
            continue;
        };
        let role_name = str_at(binding, "/roleRef/name");
        if str_at(binding, "/roleRef/kind") != "ClusterRole" {
            continue;
        }
        match state.get(&CLUSTERROLES, "", role_name) {
            Some(role) if rules_allow(role, attributes) => {
                return Decision::Allow(format!(
                    "RBAC: allowed by ClusterRoleBinding {:?} of ClusterRole {role_name:?} to {subject}",
                    object::name(binding)
                ));
            }
            Some(_) => {}
            None => errors.push(format!("clusterrole.{RBAC_GROUP} {role_name:?} not found")),
        }
    }
    if !attributes.namespace.is_empty() {
        let namespace = attributes.namespace.as_str();
        for binding in state.list(&ROLEBINDINGS, Some(namespace)) {
            let Some(subject) = applies_to(binding, user, namespace) else {
                continue;
            };
            let role_name = str_at(binding, "/roleRef/name");
            let (role, kind, missing) = match str_at(binding, "/roleRef/kind") {
                "Role" => (state.get(&ROLES, namespace, role_name), "Role", "role"),
                "ClusterRole" => (
                    state.get(&CLUSTERROLES, "", role_name),
                    "ClusterRole",
                    "clusterrole",
                ),
                _ => continue,
            };
            match role {
                Some(role) if rules_allow(role, attributes) => {
                    return Decision::Allow(format!(
                        "RBAC: allowed by RoleBinding \"{}/{namespace}\" of {kind} {role_name:?} to {subject}",
                        object::name(binding)
                    ));
                }
                Some(_) => {}
                None => errors.push(format!("{missing}.{RBAC_GROUP} {role_name:?} not found")),
            }
        }
    }
    Decision::Deny(match errors.len() {
        0 => String::new(),
        1 => format!("RBAC: {}", errors[0]),
        _ => format!("RBAC: [{}]", errors.join(", ")),
    })
}

/// The subject of `binding` that names `user`, described as in the API server's allow
/// reasons (`ServiceAccount "sa/ns"`, `User "u"`, `Group "g"`). A ServiceAccount subject
/// without a namespace means the binding's namespace.
fn applies_to(binding: &Value, user: &UserInfo, binding_namespace: &str) -> Option<String> {
    let subjects = binding.get("subjects").and_then(Value::as_array)?;
    subjects.iter().find_map(|subject| {
        let name = str_at(subject, "/name");
        match str_at(subject, "/kind") {
            "User" if name == user.name => Some(format!("User {name:?}")),
            "Group" if user.groups.iter().any(|g| g == name) => Some(format!("Group {name:?}")),
            "ServiceAccount" => {
                let namespace = match str_at(subject, "/namespace") {
                    "" => binding_namespace,
                    namespace => namespace,
                };
                (user.name == format!("system:serviceaccount:{namespace}:{name}"))
                    .then(|| format!("ServiceAccount \"{name}/{namespace}\""))
            }
            _ => None,
        }
    })
}

fn strings(rule: &Value, field: &str) -> Vec<String> {
    rule.get(field)
        .and_then(Value::as_array)
        .map(|values| {
            values
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn rules_allow(role: &Value, attributes: &Attributes) -> bool {
    role.get("rules")
        .and_then(Value::as_array)
        .is_some_and(|rules| rules.iter().any(|rule| rule_allows(rule, attributes)))
}

/// One `PolicyRule` against the attributes, as the RBAC authorizer's `RuleAllows`.
pub fn rule_allows(rule: &Value, attributes: &Attributes) -> bool {
    let any_or = |values: &[String], wanted: &str| values.iter().any(|v| v == "*" || v == wanted);
    if !any_or(&strings(rule, "verbs"), &attributes.verb) {
        return false;
    }
    if !attributes.resource_request {
        return strings(rule, "nonResourceURLs").iter().any(|url| {
            url == "*"
                || *url == attributes.path
                || url
                    .strip_suffix('*')
                    .is_some_and(|prefix| attributes.path.starts_with(prefix))
        });
    }
    if !any_or(&strings(rule, "apiGroups"), &attributes.api_group) {
        return false;
    }
    let combined = attributes.qualified_resource();
    let resource_matches = strings(rule, "resources").iter().any(|resource| {
        resource == "*"
            || *resource == combined
            || (!attributes.subresource.is_empty()
                && resource.strip_prefix("*/") == Some(attributes.subresource.as_str()))
    });
    if !resource_matches {
        return false;
    }
    let names = strings(rule, "resourceNames");
    names.is_empty() || names.contains(&attributes.name)
}

/// The 403 message and `details` the API server answers with when RBAC denies (its
/// `ForbiddenStatusError`): `pods "web-1" is forbidden: User "..." cannot delete
/// resource "pods" in API group "" in the namespace "shop"`.
pub fn forbidden(user: &UserInfo, attributes: &Attributes, reason: &str) -> (String, Value) {
    let mut why = format!("User {:?} cannot {}", user.name, attributes.verb);
    if !attributes.resource_request {
        why.push_str(&format!(" path {:?}", attributes.path));
        if !reason.is_empty() {
            why.push_str(&format!(": {reason}"));
        }
        return (format!("forbidden: {why}"), json!({}));
    }
    let resource = attributes.qualified_resource();
    if attributes.namespace.is_empty() {
        why.push_str(&format!(
            " resource {resource:?} in API group {:?} at the cluster scope",
            attributes.api_group
        ));
    } else {
        why.push_str(&format!(
            " resource {resource:?} in API group {:?} in the namespace {:?}",
            attributes.api_group, attributes.namespace
        ));
    }
    if !reason.is_empty() {
        why.push_str(&format!(": {reason}"));
    }
    let qualified = if attributes.api_group.is_empty() {
        attributes.resource.clone()
    } else {
        format!("{}.{}", attributes.resource, attributes.api_group)
    };
    let message = if attributes.name.is_empty() {
        format!("{qualified} is forbidden: {why}")
    } else {
        format!("{qualified} {:?} is forbidden: {why}", attributes.name)
    };
    let mut details = serde_json::Map::new();
    if !attributes.name.is_empty() {
        details.insert("name".to_owned(), json!(attributes.name));
    }
    if !attributes.api_group.is_empty() {
        details.insert("group".to_owned(), json!(attributes.api_group));
    }
    details.insert("kind".to_owned(), json!(attributes.resource));
    (message, Value::Object(details))
}

/// The bootstrap policy every cluster starts with (a subset): `cluster-admin` for
/// `system:masters`, discovery and `/version` for every authenticated user
/// (`system:discovery`, `system:public-info-viewer`), self access reviews
/// (`system:basic-user`). As `(plural, object)` pairs to seed the store with.
pub fn bootstrap_objects() -> Vec<(&'static str, Value)> {
    let metadata = |name: &str| {
        json!({
            "name": name,
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        })
    };
    let role = |name: &str, rules: Value| {
        (
            "clusterroles",
            json!({"apiVersion": format!("{RBAC_GROUP}/v1"), "kind": "ClusterRole", "metadata": metadata(name), "rules": rules}),
        )
    };
    let binding = |name: &str, groups: &[&str]| {
        let subjects: Vec<Value> = groups
            .iter()
            .map(|g| json!({"apiGroup": RBAC_GROUP, "kind": "Group", "name": g}))
            .collect();
        (
            "clusterrolebindings",
            json!({
                "apiVersion": format!("{RBAC_GROUP}/v1"),
                "kind": "ClusterRoleBinding",
                "metadata": metadata(name),
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": name},
                "subjects": subjects,
            }),
        )
    };
    vec![
        role(
            "cluster-admin",
            json!([
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["*"]},
            ]),
        ),
        role(
            "system:discovery",
            json!([{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
        ),
        role(
            "system:public-info-viewer",
            json!([{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
        ),
        role(
            "system:basic-user",
            json!([
                {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
                {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
            ]),
        ),
        binding("cluster-admin", &["system:masters"]),
        binding("system:discovery", &["system:authenticated"]),
        binding(
            "system:public-info-viewer",
            &["system:authenticated", "system:unauthenticated"],
        ),
        binding("system:basic-user", &["system:authenticated"]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(method: Method, path: &str, query: &str) -> Attributes {
        Attributes::from_request(
            &method,
            path,
            &crate::http::common::decode_query_pairs(query),
        )
    }

    #[test]
    fn requests_map_to_the_api_servers_attributes() {
        let a = attributes(Method::GET, "/api/v1/namespaces/shop/pods", "");
        assert_eq!(
            (a.verb.as_str(), a.namespace.as_str(), a.resource.as_str()),
            ("list", "shop", "pods")
        );
        let a = attributes(Method::GET, "/api/v1/namespaces/shop/pods", "watch=true");
        assert_eq!(a.verb, "watch");
        let a = attributes(Method::GET, "/api/v1/watch/namespaces/shop/pods/web-1", "");
        assert_eq!((a.verb.as_str(), a.name.as_str()), ("watch", "web-1"));
        let a = attributes(
            Method::GET,
            "/api/v1/namespaces/shop/pods",
            "fieldSelector=metadata.name%3Dweb-1&watch=1",
        );
        assert_eq!((a.verb.as_str(), a.name.as_str()), ("watch", "web-1"));
        let a = attributes(
            Method::POST,
            "/api/v1/namespaces/shop/pods/web-1/eviction",
            "",
        );
        assert_eq!(
            (
                a.verb.as_str(),
                a.qualified_resource().as_str(),
                a.name.as_str()
            ),
            ("create", "pods/eviction", "web-1")
        );
        let a = attributes(
            Method::DELETE,
            "/apis/apps/v1/namespaces/shop/deployments",
            "",
        );
        assert_eq!(
            (a.verb.as_str(), a.api_group.as_str()),
            ("deletecollection", "apps")
        );
        let a = attributes(Method::GET, "/api/v1/namespaces/shop", "");
        assert_eq!(
            (a.resource.as_str(), a.namespace.as_str(), a.name.as_str()),
            ("namespaces", "shop", "shop")
        );
        let a = attributes(Method::PUT, "/api/v1/namespaces/shop/status", "");
        assert_eq!(
            (a.resource.as_str(), a.subresource.as_str()),
            ("namespaces", "status")
        );
        let a = attributes(Method::GET, "/api/v1/nodes", "");
        assert_eq!((a.verb.as_str(), a.namespace.as_str()), ("list", ""));
        for discovery in [
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps",
            "/apis/apps/v1",
            "/version",
        ] {
            let a = attributes(Method::GET, discovery, "");
            assert!(!a.resource_request, "{discovery}");
            assert_eq!(a.verb, "get");
        }
    }

    #[test]
    fn rules_match_wildcards_subresources_and_resource_names() {
        let evict = attributes(
            Method::POST,
            "/api/v1/namespaces/shop/pods/web-1/eviction",
            "",
        );
        assert!(!rule_allows(
            &json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}),
            &evict
        ));
        assert!(rule_allows(
            &json!({"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]}),
            &evict
        ));
        assert!(rule_allows(
            &json!({"apiGroups": ["*"], "resources": ["*/eviction"], "verbs": ["create"]}),
            &evict
        ));
        assert!(rule_allows(
            &json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}),
            &evict
        ));
        let named = json!({"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["lock"], "verbs": ["get", "list", "create"]});
        assert!(rule_allows(
            &named,
            &attributes(Method::GET, "/api/v1/namespaces/shop/configmaps/lock", "")
        ));
        assert!(!rule_allows(
            &named,
            &attributes(Method::GET, "/api/v1/namespaces/shop/configmaps/other", "")
        ));
        assert!(!rule_allows(
            &named,
            &attributes(Method::GET, "/api/v1/namespaces/shop/configmaps", "")
        ));
        assert!(!rule_allows(
            &named,
            &attributes(Method::POST, "/api/v1/namespaces/shop/configmaps", "")
        ));
        let urls = json!({"nonResourceURLs": ["/apis/*", "/version"], "verbs": ["get"]});
        assert!(rule_allows(
            &urls,
            &attributes(Method::GET, "/apis/apps/v1", "")
        ));
        assert!(rule_allows(&urls, &attributes(Method::GET, "/version", "")));
        assert!(!rule_allows(
            &urls,
            &attributes(Method::GET, "/healthz", "")
        ));
    }

    #[test]
    fn forbidden_messages_have_the_api_servers_wording() {
        let user = UserInfo::service_account("firedrill", "firedrill");
        let (message, details) = forbidden(
            &user,
            &attributes(Method::DELETE, "/api/v1/namespaces/shop/pods/web-1", ""),
            "",
        );
        assert_eq!(
            message,
            r#"pods "web-1" is forbidden: User "system:serviceaccount:firedrill:firedrill" cannot delete resource "pods" in API group "" in the namespace "shop""#
        );
        assert_eq!(details, json!({"name": "web-1", "kind": "pods"}));
        let (message, _) = forbidden(&user, &attributes(Method::GET, "/api/v1/nodes", ""), "");
        assert_eq!(
            message,
            r#"nodes is forbidden: User "system:serviceaccount:firedrill:firedrill" cannot list resource "nodes" in API group "" at the cluster scope"#
        );
        let (message, details) = forbidden(
            &user,
            &attributes(
                Method::PATCH,
                "/apis/apps/v1/namespaces/shop/deployments/web",
                "",
            ),
            r#"RBAC: role.rbac.authorization.k8s.io "gone" not found"#,
        );
        assert!(
            message.starts_with(r#"deployments.apps "web" is forbidden: "#),
            "{message}"
        );
        assert!(
            message.ends_with(
                r#"in the namespace "shop": RBAC: role.rbac.authorization.k8s.io "gone" not found"#
            ),
            "{message}"
        );
        assert_eq!(
            details,
            json!({"name": "web", "group": "apps", "kind": "deployments"})
        );
        let (message, _) = forbidden(
            &user,
            &attributes(Method::GET, "/sandbox/v1/ground-truth", ""),
            "",
        );
        assert_eq!(
            message,
            r#"forbidden: User "system:serviceaccount:firedrill:firedrill" cannot get path "/sandbox/v1/ground-truth""#
        );
    }
}
