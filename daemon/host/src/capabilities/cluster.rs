//! The `cluster` capability: Kubernetes operations, each checked against verbs x namespaces.
//!
//! The engine implements [`Cluster`] with the kube client (against a real cluster or the
//! sandbox); `testing::InMemoryCluster` is a small fake for tests. `drain` is
//! composed here from the port's primitives, so that every eviction is checked against
//! the grants of the namespace it touches.

use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::BackendError;
use super::View;
use crate::bindings::cluster::Host;
use crate::bindings::types::{Error as WitError, Verb};
use crate::grants::{Request, Scope};
use crate::text::shown;

/// Evictions a drain keeps in flight at once.
const DRAIN_CONCURRENCY: usize = 16;

pub use crate::bindings::cluster::{
    DrainOptions, DrainReport, ExecOutput, Node, Pod, WorkloadKind,
};

/// The Kubernetes API as scenarios use it (the port).
#[async_trait]
pub trait Cluster: Send + Sync {
    /// Pods in `namespace` (empty: all namespaces) matching `selector`, optionally only
    /// those on `node`.
    async fn list_pods(
        &self,
        namespace: &str,
        selector: &str,
        node: Option<&str>,
    ) -> Result<Vec<Pod>, BackendError>;
    async fn list_nodes(&self, selector: &str) -> Result<Vec<Node>, BackendError>;
    async fn delete_pod(
        &self,
        namespace: &str,
        name: &str,
        grace_period_seconds: Option<u32>,
    ) -> Result<(), BackendError>;
    /// Evicts a pod; a disruption budget that blocks it is `BackendError::Refused`.
    async fn evict_pod(&self, namespace: &str, name: &str) -> Result<(), BackendError>;
    async fn set_unschedulable(&self, node: &str, unschedulable: bool) -> Result<(), BackendError>;
    async fn rollout_restart(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
    ) -> Result<(), BackendError>;
    async fn get_object(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<String, BackendError>;
    async fn patch_object(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        merge_patch: &str,
    ) -> Result<String, BackendError>;
    async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, BackendError>;
    /// Waits (a watch, not a poll, in the real adapter) until `count` matching pods are Ready.
    async fn wait_pods_ready(
        &self,
        namespace: &str,
        selector: &str,
        count: u32,
        timeout: Duration,
    ) -> Result<u32, BackendError>;
}

/// The backend when no cluster is configured: every call is unavailable.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCluster;

fn no_cluster<T>() -> Result<T, BackendError> {
    Err(BackendError::Unavailable(
        "no cluster is configured for this host".into(),
    ))
}

#[async_trait]
impl Cluster for NoCluster {
    async fn list_pods(&self, _: &str, _: &str, _: Option<&str>) -> Result<Vec<Pod>, BackendError> {
        no_cluster()
    }
    async fn list_nodes(&self, _: &str) -> Result<Vec<Node>, BackendError> {
        no_cluster()
    }
    async fn delete_pod(&self, _: &str, _: &str, _: Option<u32>) -> Result<(), BackendError> {
        no_cluster()
    }
    async fn evict_pod(&self, _: &str, _: &str) -> Result<(), BackendError> {
        no_cluster()
    }
    async fn set_unschedulable(&self, _: &str, _: bool) -> Result<(), BackendError> {
        no_cluster()
    }
    async fn rollout_restart(&self, _: &str, _: WorkloadKind, _: &str) -> Result<(), BackendError> {
        no_cluster()
    }
    async fn get_object(
        &self,
        _: &str,
        _: &str,
        _: Option<&str>,
        _: &str,
    ) -> Result<String, BackendError> {
        no_cluster()
    }
    async fn patch_object(
        &self,
        _: &str,
        _: &str,
        _: Option<&str>,
        _: &str,
        _: &str,
    ) -> Result<String, BackendError> {
        no_cluster()
    }
    async fn exec(
        &self,
        _: &str,
        _: &str,
        _: Option<&str>,
        _: &[String],
        _: Duration,
    ) -> Result<ExecOutput, BackendError> {
        no_cluster()
    }
    async fn wait_pods_ready(
        &self,
        _: &str,
        _: &str,
        _: u32,
        _: Duration,
    ) -> Result<u32, BackendError> {
        no_cluster()
    }
}

/// Does a pod's label set match a selector of `k=v`, `k!=v` and bare `k` terms?
pub fn selector_matches(selector: &str, labels: &[(String, String)]) -> bool {
    selector
        .split(',')
        .map(str::trim)
        .filter(|term| !term.is_empty())
        .all(|term| {
            let value_of = |key: &str| {
                labels
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.as_str())
            };
            if let Some((key, value)) = term.split_once("!=") {
                value_of(key.trim()) != Some(value.trim())
            } else if let Some((key, value)) = term.split_once('=') {
                let value = value.trim_start_matches('=');
                value_of(key.trim()) == Some(value.trim())
            } else {
                value_of(term).is_some()
            }
        })
}

fn check(
    state: &mut View<'_, dyn Cluster>,
    operation: &'static str,
    verb: Verb,
    scope: Scope<'_>,
) -> wasmtime::Result<()> {
    state.guard.check(&Request::Cluster {
        operation,
        verb,
        scope,
    })
}

type WitResult<T> = wasmtime::Result<Result<T, WitError>>;

impl View<'_, dyn Cluster> {
    /// A disruptive call's result for the plugin; a success is recorded as an effect
    /// dated `at`, when the call started.
    fn marked<T>(
        &mut self,
        at: Instant,
        result: Result<T, BackendError>,
        action: impl FnOnce() -> String,
    ) -> Result<T, WitError> {
        if result.is_ok() {
            self.guard.disrupted(at, action());
        }
        result.map_err(WitError::from)
    }
}

/// A workload kind as `kubectl` names it.
fn workload_name(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::Deployment => "deployment",
        WorkloadKind::StatefulSet => "statefulset",
        WorkloadKind::DaemonSet => "daemonset",
    }
}

impl Host for View<'_, dyn Cluster> {
    async fn list_pods(&mut self, namespace: String, selector: String) -> WitResult<Vec<Pod>> {
        check(self, "list-pods", Verb::List, Scope::Namespace(&namespace))?;
        let cluster = self.backend.clone();
        Ok(cluster
            .list_pods(&namespace, &selector, None)
            .await
            .map_err(WitError::from))
    }

    async fn list_nodes(&mut self, selector: String) -> WitResult<Vec<Node>> {
        check(self, "list-nodes", Verb::List, Scope::Cluster)?;
        let cluster = self.backend.clone();
        Ok(cluster.list_nodes(&selector).await.map_err(WitError::from))
    }

    async fn delete_pod(
        &mut self,
        namespace: String,
        name: String,
        grace_period_seconds: Option<u32>,
    ) -> WitResult<()> {
        check(
            self,
            "delete-pod",
            Verb::Delete,
            Scope::Namespace(&namespace),
        )?;
        let cluster = self.backend.clone();
        let at = Instant::now();
        let result = cluster
            .delete_pod(&namespace, &name, grace_period_seconds)
            .await;
        Ok(self.marked(at, result, || format!("delete pod {namespace}/{name}")))
    }

    async fn evict_pod(&mut self, namespace: String, name: String) -> WitResult<()> {
        check(self, "evict-pod", Verb::Evict, Scope::Namespace(&namespace))?;
        let cluster = self.backend.clone();
        let at = Instant::now();
        let result = cluster.evict_pod(&namespace, &name).await;
        Ok(self.marked(at, result, || format!("evict pod {namespace}/{name}")))
    }

    async fn cordon(&mut self, node: String) -> WitResult<()> {
        check(self, "cordon", Verb::Patch, Scope::Cluster)?;
        let cluster = self.backend.clone();
        let at = Instant::now();
        let result = cluster.set_unschedulable(&node, true).await;
        Ok(self.marked(at, result, || format!("cordon node {node}")))
    }

    async fn uncordon(&mut self, node: String) -> WitResult<()> {
        check(self, "uncordon", Verb::Patch, Scope::Cluster)?;
        let cluster = self.backend.clone();
        Ok(cluster
            .set_unschedulable(&node, false)
            .await
            .map_err(WitError::from))
    }

    async fn drain(&mut self, node: String, options: DrainOptions) -> WitResult<DrainReport> {
        use futures::StreamExt;
        check(self, "drain", Verb::Patch, Scope::Cluster)?;
        let cluster = self.backend.clone();
        let pods = match cluster.list_pods("", "", Some(&node)).await {
            Ok(pods) => pods,
            Err(error) => return Ok(Err(error.into())),
        };
        let mut pending: Vec<Pod> = pods
            .into_iter()
            .filter(|p| {
                !(options.ignore_daemon_sets
                    && p.owner
                        .as_ref()
                        .is_some_and(|(kind, _)| kind == "DaemonSet"))
            })
            .collect();
        // Check every namespace before touching anything: a drain that is partly
        // allowed must not leave the node cordoned or half-drained.
        for pod in &pending {
            check(self, "drain", Verb::Evict, Scope::Namespace(&pod.namespace))?;
        }
        let cordoned_at = Instant::now();
        if let Err(error) = cluster.set_unschedulable(&node, true).await {
            return Ok(Err(error.into()));
        }
        self.guard
            .disrupted(cordoned_at, format!("cordon node {node}"));
        let deadline = Instant::now() + Duration::from_millis(u64::from(options.timeout_ms));
        let retry_interval = Duration::from_millis(u64::from(options.retry_interval_ms.max(10)));
        let mut report = DrainReport {
            evicted: Vec::new(),
            retries: 0,
        };
        loop {
            // Several evictions in flight, as `kubectl drain` does: the API server checks
            // each against its disruption budget, so concurrency cannot overrun one.
            let results: Vec<(Pod, Instant, Result<(), BackendError>)> =
                futures::stream::iter(pending.into_iter().map(|pod| {
                    let cluster = cluster.clone();
                    async move {
                        let at = Instant::now();
                        let result = cluster.evict_pod(&pod.namespace, &pod.name).await;
                        (pod, at, result)
                    }
                }))
                .buffered(DRAIN_CONCURRENCY)
                .collect()
                .await;
            let mut blocked = Vec::new();
            let mut failure = None;
            for (pod, at, result) in results {
                match result {
                    Ok(()) => {
                        let evicted = format!("{}/{}", pod.namespace, pod.name);
                        self.guard.disrupted(at, format!("evict pod {evicted}"));
                        report.evicted.push(evicted);
                    }
                    // Gone already: nothing to evict, and nothing this drain disrupted.
                    Err(BackendError::NotFound(_)) => {
                        report
                            .evicted
                            .push(format!("{}/{}", pod.namespace, pod.name));
                    }
                    // The API server's RBAC refusing the eviction is no disruption
                    // budget: retrying cannot help, and the error must say so.
                    Err(BackendError::Refused(message)) if is_forbidden(&message) => {
                        failure = failure.or(Some(BackendError::Refused(message)));
                    }
                    Err(BackendError::Refused(_)) => blocked.push(pod),
                    Err(error) => failure = failure.or(Some(error)),
                }
            }
            if let Some(error) = failure {
                return Ok(Err(error.into()));
            }
            if blocked.is_empty() {
                return Ok(Ok(report));
            }
            if Instant::now() + retry_interval > deadline {
                let names: Vec<String> = blocked
                    .iter()
                    .map(|p| format!("{}/{}", p.namespace, p.name))
                    .collect();
                return Ok(Err(WitError::Timeout(format!(
                    "draining {node}: evictions of {} still blocked by disruption budgets after {} retries",
                    names.join(", "),
                    report.retries
                ))));
            }
            report.retries = report
                .retries
                .saturating_add(u32::try_from(blocked.len()).unwrap_or(u32::MAX));
            let waiting = Instant::now();
            tokio::time::sleep(retry_interval).await;
            self.guard.held_back(waiting.elapsed());
            pending = blocked;
        }
    }

    async fn rollout_restart(
        &mut self,
        namespace: String,
        kind: WorkloadKind,
        name: String,
    ) -> WitResult<()> {
        check(
            self,
            "rollout-restart",
            Verb::Patch,
            Scope::Namespace(&namespace),
        )?;
        let cluster = self.backend.clone();
        let at = Instant::now();
        let result = cluster.rollout_restart(&namespace, kind, &name).await;
        Ok(self.marked(at, result, || {
            format!("rollout-restart {} {namespace}/{name}", workload_name(kind))
        }))
    }

    async fn get_object(
        &mut self,
        api_version: String,
        kind: String,
        namespace: Option<String>,
        name: String,
    ) -> WitResult<String> {
        let scope = namespace
            .as_deref()
            .map_or(Scope::Cluster, Scope::Namespace);
        check(self, "get-object", Verb::Get, scope)?;
        let cluster = self.backend.clone();
        Ok(cluster
            .get_object(&api_version, &kind, namespace.as_deref(), &name)
            .await
            .map_err(WitError::from))
    }

    async fn patch_object(
        &mut self,
        api_version: String,
        kind: String,
        namespace: Option<String>,
        name: String,
        merge_patch: String,
    ) -> WitResult<String> {
        let scope = namespace
            .as_deref()
            .map_or(Scope::Cluster, Scope::Namespace);
        check(self, "patch-object", Verb::Patch, scope)?;
        let cluster = self.backend.clone();
        let at = Instant::now();
        let result = cluster
            .patch_object(
                &api_version,
                &kind,
                namespace.as_deref(),
                &name,
                &merge_patch,
            )
            .await;
        Ok(self.marked(at, result, || match &namespace {
            Some(namespace) => format!("patch {kind} {namespace}/{name}"),
            None => format!("patch {kind} {name}"),
        }))
    }

    async fn exec(
        &mut self,
        namespace: String,
        pod: String,
        container: Option<String>,
        command: Vec<String>,
        timeout_ms: u32,
    ) -> WitResult<ExecOutput> {
        self.guard.check(&Request::Exec {
            namespace: &namespace,
        })?;
        // What a command reads or does in a container, the cluster watch cannot see.
        self.guard.outside_cluster();
        let cluster = self.backend.clone();
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        let at = Instant::now();
        let result = cluster
            .exec(&namespace, &pod, container.as_deref(), &command, timeout)
            .await;
        Ok(self.marked(at, result, || {
            format!(
                "exec in pod {namespace}/{pod}: {}",
                shown(&command.join(" "))
            )
        }))
    }

    async fn wait_pods_ready(
        &mut self,
        namespace: String,
        selector: String,
        count: u32,
        timeout_ms: u32,
    ) -> WitResult<u32> {
        check(
            self,
            "wait-pods-ready",
            Verb::Watch,
            Scope::Namespace(&namespace),
        )?;
        let cluster = self.backend.clone();
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        Ok(cluster
            .wait_pods_ready(&namespace, &selector, count, timeout)
            .await
            .map_err(WitError::from))
    }
}

/// Is a refusal the API server's authorization denying the request (403 `Forbidden`,
/// `... is forbidden: User "..." cannot VERB resource ...`) rather than a disruption
/// budget (429) or a conflict? Backends map both to `Refused`; a drain retries only the
/// second.
fn is_forbidden(message: &str) -> bool {
    message.contains(" is forbidden: ")
}

#[cfg(test)]
mod tests {
    use super::selector_matches;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn selectors_match_equality_inequality_and_existence_terms() {
        let pod = labels(&[("app", "web"), ("tier", "front")]);
        assert!(selector_matches("", &pod));
        assert!(selector_matches("app=web", &pod));
        assert!(selector_matches("app==web,tier", &pod));
        assert!(selector_matches("app=web,tier!=db", &pod));
        assert!(!selector_matches("app=api", &pod));
        assert!(!selector_matches("zone", &pod));
        assert!(!selector_matches("tier!=front", &pod));
    }
}
