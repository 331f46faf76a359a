//! Grants from the drill configuration and the pure `Granter` that checks every request.
//!
//! Namespace patterns: an exact namespace, `*` for every namespace, or `:cluster` for
//! cluster-scoped objects (nodes). `*` deliberately does not cover `:cluster`: being
//! allowed to delete pods everywhere is not being allowed to cordon nodes.
//! Host patterns: `host`, `host:port`, or `*.suffix` (any subdomain, not the suffix itself).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::bindings::types::{Capability, Verb};
use crate::text::shown;

/// The namespace pattern that matches cluster-scoped objects.
pub const CLUSTER_SCOPE: &str = ":cluster";

/// What the drill configuration grants one scenario.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Grants {
    /// Kubernetes verbs x namespaces.
    pub cluster: Vec<ClusterGrant>,
    /// Namespaces (patterns) where the scenario may `exec` into pods.
    pub exec: Vec<String>,
    /// Outbound HTTP hosts (patterns).
    pub http: Vec<String>,
    /// Named PostgreSQL connections.
    pub postgres: Vec<String>,
    /// Named Redis connections.
    pub redis: Vec<String>,
}

/// Verbs granted in namespaces.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterGrant {
    /// Verbs by their Kubernetes names: `get`, `list`, `watch`, `patch`, `delete`, `evict`.
    pub verbs: Vec<String>,
    /// Namespace patterns.
    pub namespaces: Vec<String>,
}

/// Where a cluster request acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope<'a> {
    /// A namespaced object.
    Namespace(&'a str),
    /// A cluster-scoped object (a node).
    Cluster,
}

/// One capability request, as an import makes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// A cluster function (`operation` is its WIT name) needing `verb` in `scope`.
    Cluster {
        operation: &'static str,
        verb: Verb,
        scope: Scope<'a>,
    },
    /// `cluster.exec` in a namespace.
    Exec { namespace: &'a str },
    /// `http.send` to a host and port.
    Http { host: &'a str, port: u16 },
    /// A `postgres` function on a named connection.
    Postgres {
        operation: &'static str,
        connection: &'a str,
    },
    /// `redis.command` on a named connection.
    Redis { connection: &'a str },
}

/// A request that the grants do not cover. Its message names the capability, where it
/// acts and the scenario, e.g. `cluster.delete-pod in namespace kube-system is not
/// granted to scenario zoo-ungranted`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{capability} {target} is not granted to scenario {scenario}")]
pub struct Denied {
    /// The scenario that asked.
    pub scenario: String,
    /// The WIT function, e.g. `cluster.delete-pod`.
    pub capability: String,
    /// Where it would act, e.g. `in namespace kube-system`.
    pub target: String,
}

/// The verb's Kubernetes name.
pub fn verb_name(verb: Verb) -> &'static str {
    match verb {
        Verb::Get => "get",
        Verb::List => "list",
        Verb::Watch => "watch",
        Verb::Patch => "patch",
        Verb::Delete => "delete",
        Verb::Evict => "evict",
    }
}

impl fmt::Display for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // An empty namespace is the Kubernetes API's "every namespace" (a list across
            // the cluster): say so rather than print an empty name.
            Scope::Namespace("") => f.write_str("in all namespaces"),
            Scope::Namespace(namespace) => write!(f, "in namespace {}", shown(namespace)),
            Scope::Cluster => f.write_str("on cluster-scoped objects"),
        }
    }
}

/// Checks requests of one scenario against its grants. Pure: no I/O, no clock.
#[derive(Clone, Debug)]
pub struct Granter {
    scenario: String,
    grants: Grants,
    /// Set for `plan`: only reads are allowed, whatever the grants say.
    read_only: bool,
}

impl Granter {
    /// A granter for `scenario` (the name used in denial messages).
    pub fn new(scenario: impl Into<String>, grants: Grants) -> Self {
        Self {
            scenario: scenario.into(),
            grants,
            read_only: false,
        }
    }

    /// The same grants restricted to reads, for `plan` (a dry run must not change
    /// anything): cluster `get`/`list`/`watch` and HTTP stay; cluster writes, `exec` and
    /// database statements (which may write) are denied.
    pub fn read_only(&self) -> Self {
        Self {
            read_only: true,
            ..self.clone()
        }
    }

    /// Is this request a possible write?
    fn writes(request: &Request<'_>) -> bool {
        match request {
            Request::Cluster { verb, .. } => !matches!(verb, Verb::Get | Verb::List | Verb::Watch),
            Request::Exec { .. } | Request::Postgres { .. } | Request::Redis { .. } => true,
            Request::Http { .. } => false,
        }
    }

    /// The scenario this granter speaks for.
    pub fn scenario(&self) -> &str {
        &self.scenario
    }

    /// Allows the request or says exactly what is not granted.
    pub fn check(&self, request: &Request<'_>) -> Result<(), Denied> {
        let (allowed, capability, target) = match *request {
            Request::Cluster {
                operation,
                verb,
                scope,
            } => (
                self.grants.cluster.iter().any(|grant| {
                    grant.verbs.iter().any(|v| v == verb_name(verb))
                        && grant.namespaces.iter().any(|p| scope_matches(p, scope))
                }),
                format!("cluster.{operation}"),
                scope.to_string(),
            ),
            Request::Exec { namespace } => (
                self.grants
                    .exec
                    .iter()
                    .any(|p| scope_matches(p, Scope::Namespace(namespace))),
                "cluster.exec".to_owned(),
                format!("in namespace {namespace}"),
            ),
            Request::Http { host, port } => (
                self.grants.http.iter().any(|p| host_matches(p, host, port)),
                "http.send".to_owned(),
                format!("to {host}:{port}"),
            ),
            Request::Postgres {
                operation,
                connection,
            } => (
                self.grants.postgres.iter().any(|c| c == connection),
                format!("postgres.{operation}"),
                format!("on connection {connection}"),
            ),
            Request::Redis { connection } => (
                self.grants.redis.iter().any(|c| c == connection),
                "redis.command".to_owned(),
                format!("on connection {connection}"),
            ),
        };
        if allowed && self.read_only && Self::writes(request) {
            return Err(Denied {
                scenario: self.scenario.clone(),
                capability,
                target: format!("{target} during plan, which is read-only,"),
            });
        }
        if allowed {
            Ok(())
        } else {
            Err(Denied {
                scenario: self.scenario.clone(),
                capability,
                target,
            })
        }
    }

    /// The capabilities a scenario declares in `describe` that its grants do not cover,
    /// as sentences; empty when everything is covered. Lets the engine refuse a drill
    /// before it starts instead of failing in the middle of a phase.
    pub fn uncovered(&self, declared: &[Capability]) -> Vec<String> {
        let mut missing = Vec::new();
        for capability in declared {
            match capability {
                Capability::Cluster(access) => {
                    for verb in &access.verbs {
                        for namespace in &access.namespaces {
                            let scope = if namespace == CLUSTER_SCOPE {
                                Scope::Cluster
                            } else {
                                Scope::Namespace(namespace)
                            };
                            let covered = self.grants.cluster.iter().any(|grant| {
                                grant.verbs.iter().any(|v| v == verb_name(*verb))
                                    && grant
                                        .namespaces
                                        .iter()
                                        .any(|p| pattern_covers(p, namespace, scope))
                            });
                            if !covered {
                                missing.push(format!("cluster {} {scope}", verb_name(*verb)));
                            }
                        }
                    }
                }
                Capability::Exec(namespaces) => {
                    for namespace in namespaces {
                        let scope = Scope::Namespace(namespace);
                        if !self
                            .grants
                            .exec
                            .iter()
                            .any(|p| pattern_covers(p, namespace, scope))
                        {
                            missing.push(format!("exec {scope}"));
                        }
                    }
                }
                Capability::Http(hosts) => {
                    for host in hosts {
                        if !self.grants.http.iter().any(|p| p == host || p == "*") {
                            missing.push(format!("http to {}", shown(host)));
                        }
                    }
                }
                Capability::Postgres(connection) => {
                    if !self.grants.postgres.contains(connection) {
                        missing.push(format!("postgres connection {}", shown(connection)));
                    }
                }
                Capability::Redis(connection) => {
                    if !self.grants.redis.contains(connection) {
                        missing.push(format!("redis connection {}", shown(connection)));
                    }
                }
            }
        }
        missing
    }
}

/// Does a namespace pattern match a concrete scope?
fn scope_matches(pattern: &str, scope: Scope<'_>) -> bool {
    match scope {
        Scope::Cluster => pattern == CLUSTER_SCOPE,
        Scope::Namespace(namespace) => {
            // An empty namespace would mean "all namespaces" to the Kubernetes API;
            // only `*` may grant that.
            if namespace.is_empty() {
                pattern == "*"
            } else {
                pattern == "*" || pattern == namespace
            }
        }
    }
}

/// Does a granted pattern cover a declared pattern (which may itself be `*`)?
fn pattern_covers(granted: &str, declared: &str, scope: Scope<'_>) -> bool {
    if declared == "*" {
        granted == "*"
    } else {
        scope_matches(granted, scope)
    }
}

/// Does a host pattern match a concrete host and port?
fn host_matches(pattern: &str, host: &str, port: u16) -> bool {
    let host = host.to_ascii_lowercase();
    let pattern = pattern.to_ascii_lowercase();
    let (pattern_host, pattern_port) = match pattern.rsplit_once(':') {
        Some((h, p)) => match p.parse::<u16>() {
            Ok(p) => (h.to_owned(), Some(p)),
            Err(_) => return false,
        },
        None => (pattern.clone(), None),
    };
    if pattern_port.is_some_and(|p| p != port) {
        return false;
    }
    if pattern_host == "*" {
        return true;
    }
    match pattern_host.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
        None => host == pattern_host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::types::ClusterAccess;

    fn pod_killer_grants() -> Grants {
        Grants {
            cluster: vec![
                ClusterGrant {
                    verbs: vec!["list".into(), "delete".into(), "watch".into()],
                    namespaces: vec!["web".into(), "api".into()],
                },
                ClusterGrant {
                    verbs: vec!["list".into(), "patch".into()],
                    namespaces: vec![CLUSTER_SCOPE.into()],
                },
            ],
            exec: vec!["db".into()],
            http: vec!["status.example.com".into(), "*.svc.local:8080".into()],
            postgres: vec!["orders".into()],
            redis: vec!["sessions".into()],
        }
    }

    fn granter() -> Granter {
        Granter::new("pod-killer", pod_killer_grants())
    }

    fn delete_in(namespace: &str) -> Request<'_> {
        Request::Cluster {
            operation: "delete-pod",
            verb: Verb::Delete,
            scope: Scope::Namespace(namespace),
        }
    }

    #[test]
    fn granted_verb_in_granted_namespace_is_allowed() {
        assert_eq!(granter().check(&delete_in("web")), Ok(()));
        assert_eq!(granter().check(&delete_in("api")), Ok(()));
    }

    #[test]
    fn granted_verb_in_other_namespace_is_denied_with_a_message_naming_it() {
        let denied = granter()
            .check(&delete_in("kube-system"))
            .expect_err("kube-system is not granted");
        assert_eq!(
            denied.to_string(),
            "cluster.delete-pod in namespace kube-system is not granted to scenario pod-killer"
        );
    }

    #[test]
    fn a_list_across_all_namespaces_is_denied_naming_all_namespaces() {
        let request = Request::Cluster {
            operation: "list-pods",
            verb: Verb::List,
            scope: Scope::Namespace(""),
        };
        let denied = granter()
            .check(&request)
            .expect_err("only `*` grants every namespace");
        assert_eq!(
            denied.to_string(),
            "cluster.list-pods in all namespaces is not granted to scenario pod-killer"
        );
        let wide = Granter::new(
            "zone-failure",
            Grants {
                cluster: vec![ClusterGrant {
                    verbs: vec!["list".into()],
                    namespaces: vec!["*".into()],
                }],
                ..Grants::default()
            },
        );
        assert_eq!(wide.check(&request), Ok(()));
    }

    #[test]
    fn verb_not_granted_in_a_granted_namespace_is_denied() {
        let request = Request::Cluster {
            operation: "evict-pod",
            verb: Verb::Evict,
            scope: Scope::Namespace("web"),
        };
        assert!(granter().check(&request).is_err());
    }

    #[test]
    fn star_grants_every_namespace_but_not_cluster_scoped_objects() {
        let granter = Granter::new(
            "wide",
            Grants {
                cluster: vec![ClusterGrant {
                    verbs: vec!["patch".into()],
                    namespaces: vec!["*".into()],
                }],
                ..Grants::default()
            },
        );
        let patch = |scope| Request::Cluster {
            operation: "cordon",
            verb: Verb::Patch,
            scope,
        };
        assert_eq!(granter.check(&patch(Scope::Namespace("anything"))), Ok(()));
        let denied = granter
            .check(&patch(Scope::Cluster))
            .expect_err("nodes need :cluster");
        assert!(denied.to_string().contains("on cluster-scoped objects"));
    }

    #[test]
    fn cluster_scope_grant_allows_node_operations_only() {
        let cordon = Request::Cluster {
            operation: "cordon",
            verb: Verb::Patch,
            scope: Scope::Cluster,
        };
        assert_eq!(granter().check(&cordon), Ok(()));
        let patch_in_ns = Request::Cluster {
            operation: "patch-object",
            verb: Verb::Patch,
            scope: Scope::Namespace("web"),
        };
        assert!(granter().check(&patch_in_ns).is_err());
    }

    #[test]
    fn empty_namespace_means_all_namespaces_and_needs_star() {
        assert!(granter().check(&delete_in("")).is_err());
    }

    #[test]
    fn exec_is_granted_per_namespace_apart_from_verbs() {
        assert_eq!(granter().check(&Request::Exec { namespace: "db" }), Ok(()));
        let denied = granter()
            .check(&Request::Exec { namespace: "web" })
            .expect_err("exec in web is not granted");
        assert_eq!(
            denied.to_string(),
            "cluster.exec in namespace web is not granted to scenario pod-killer"
        );
    }

    #[test]
    fn http_hosts_match_exactly_by_wildcard_suffix_and_by_port() {
        let g = granter();
        let http = |host, port| Request::Http { host, port };
        assert_eq!(g.check(&http("status.example.com", 443)), Ok(()));
        assert_eq!(g.check(&http("STATUS.example.com", 80)), Ok(()));
        assert_eq!(g.check(&http("web.svc.local", 8080)), Ok(()));
        assert!(g.check(&http("web.svc.local", 80)).is_err());
        assert!(g.check(&http("svc.local", 8080)).is_err());
        assert!(g.check(&http("evilsvc.local", 8080)).is_err());
        assert!(g.check(&http("status.example.com.evil.io", 443)).is_err());
        assert_eq!(
            g.check(&http("evil.io", 443))
                .expect_err("not granted")
                .to_string(),
            "http.send to evil.io:443 is not granted to scenario pod-killer"
        );
    }

    #[test]
    fn named_connections_must_be_granted_by_name() {
        let g = granter();
        let pg = |connection| Request::Postgres {
            operation: "query",
            connection,
        };
        assert_eq!(g.check(&pg("orders")), Ok(()));
        assert_eq!(
            g.check(&pg("billing")).expect_err("billing").to_string(),
            "postgres.query on connection billing is not granted to scenario pod-killer"
        );
        assert_eq!(
            g.check(&Request::Redis {
                connection: "sessions"
            }),
            Ok(())
        );
        assert!(
            g.check(&Request::Redis {
                connection: "cache"
            })
            .is_err()
        );
    }

    #[test]
    fn read_only_granter_allows_reads_and_denies_granted_writes() {
        let g = granter().read_only();
        let list = Request::Cluster {
            operation: "list-pods",
            verb: Verb::List,
            scope: Scope::Namespace("web"),
        };
        assert_eq!(g.check(&list), Ok(()));
        assert_eq!(
            g.check(&Request::Http {
                host: "status.example.com",
                port: 443
            }),
            Ok(())
        );
        assert_eq!(
            g.check(&delete_in("web"))
                .expect_err("writes are denied")
                .to_string(),
            "cluster.delete-pod in namespace web during plan, which is read-only, is not granted to scenario pod-killer"
        );
        assert!(g.check(&Request::Exec { namespace: "db" }).is_err());
        assert!(
            g.check(&Request::Redis {
                connection: "sessions"
            })
            .is_err()
        );
    }

    #[test]
    fn no_grants_deny_everything() {
        let g = Granter::new("nothing", Grants::default());
        assert!(g.check(&delete_in("web")).is_err());
        assert!(g.check(&Request::Exec { namespace: "web" }).is_err());
        assert!(
            g.check(&Request::Http {
                host: "a",
                port: 80
            })
            .is_err()
        );
    }

    #[test]
    fn uncovered_lists_declared_capabilities_missing_from_grants() {
        let declared = vec![
            Capability::Cluster(ClusterAccess {
                verbs: vec![Verb::List, Verb::Delete],
                namespaces: vec!["web".into(), "*".into()],
            }),
            Capability::Exec(vec!["db".into()]),
            Capability::Postgres("orders".into()),
            Capability::Redis("cache".into()),
        ];
        assert_eq!(
            granter().uncovered(&declared),
            vec![
                "cluster list in namespace *".to_owned(),
                "cluster delete in namespace *".to_owned(),
                "redis connection cache".to_owned(),
            ]
        );
    }

    #[test]
    fn grants_parse_from_configuration_json_and_reject_unknown_fields() {
        let grants: Grants = serde_json::from_str(
            r#"{"cluster":[{"verbs":["list"],"namespaces":["web"]}],"http":["a.example"]}"#,
        )
        .expect("valid grants");
        assert_eq!(grants.cluster[0].verbs, vec!["list".to_owned()]);
        assert!(serde_json::from_str::<Grants>(r#"{"clusters":[]}"#).is_err());
    }
}
