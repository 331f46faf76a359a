//! Fakes for tests of the host and of code above it (feature `testing`): an in-memory cluster.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::capabilities::BackendError;
use crate::capabilities::cluster::{
    Cluster, ExecOutput, Node, Pod, WorkloadKind, selector_matches,
};

/// A small in-memory cluster for tests: pods and nodes, deletions, evictions blocked a
/// set number of times, cordons, and a log of every mutating call.
#[derive(Debug, Default)]
pub struct InMemoryCluster {
    inner: Mutex<FakeState>,
}

#[derive(Debug, Default)]
struct FakeState {
    pods: Vec<Pod>,
    nodes: Vec<Node>,
    /// Evictions of `namespace/name` to refuse before allowing one.
    blocked_evictions: BTreeMap<String, u32>,
    /// Evictions of `namespace/name` the API server's RBAC forbids.
    forbidden_evictions: Vec<String>,
    calls: Vec<String>,
}

impl InMemoryCluster {
    /// A cluster with these pods and nodes.
    pub fn new(pods: Vec<Pod>, nodes: Vec<Node>) -> Self {
        Self {
            inner: Mutex::new(FakeState {
                pods,
                nodes,
                ..FakeState::default()
            }),
        }
    }

    /// Refuses the next `times` evictions of `namespace/name`, as a disruption budget would.
    pub fn block_evictions(&self, namespace: &str, name: &str, times: u32) {
        if let Ok(mut state) = self.inner.lock() {
            state
                .blocked_evictions
                .insert(format!("{namespace}/{name}"), times);
        }
    }

    /// Forbids evictions of `namespace/name`, as the API server's RBAC would (403).
    pub fn forbid_evictions(&self, namespace: &str, name: &str) {
        if let Ok(mut state) = self.inner.lock() {
            state
                .forbidden_evictions
                .push(format!("{namespace}/{name}"));
        }
    }

    /// Every mutating call so far, e.g. `delete-pod web/api-1 grace=0`.
    pub fn calls(&self) -> Vec<String> {
        self.inner
            .lock()
            .map(|s| s.calls.clone())
            .unwrap_or_default()
    }

    /// The pods now.
    pub fn pods(&self) -> Vec<Pod> {
        self.inner
            .lock()
            .map(|s| s.pods.clone())
            .unwrap_or_default()
    }

    /// The nodes now.
    pub fn nodes(&self) -> Vec<Node> {
        self.inner
            .lock()
            .map(|s| s.nodes.clone())
            .unwrap_or_default()
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut FakeState) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        let mut state = self
            .inner
            .lock()
            .map_err(|_| BackendError::Unavailable("fake cluster lock poisoned".into()))?;
        f(&mut state)
    }
}

#[async_trait]
impl Cluster for InMemoryCluster {
    async fn list_pods(
        &self,
        namespace: &str,
        selector: &str,
        node: Option<&str>,
    ) -> Result<Vec<Pod>, BackendError> {
        self.with(|s| {
            Ok(s.pods
                .iter()
                .filter(|p| namespace.is_empty() || p.namespace == namespace)
                .filter(|p| selector_matches(selector, &p.labels))
                .filter(|p| node.is_none() || p.node.as_deref() == node)
                .cloned()
                .collect())
        })
    }

    async fn list_nodes(&self, selector: &str) -> Result<Vec<Node>, BackendError> {
        self.with(|s| {
            Ok(s.nodes
                .iter()
                .filter(|n| selector_matches(selector, &n.labels))
                .cloned()
                .collect())
        })
    }

    async fn delete_pod(
        &self,
        namespace: &str,
        name: &str,
        grace_period_seconds: Option<u32>,
    ) -> Result<(), BackendError> {
        self.with(|s| {
            let before = s.pods.len();
            s.pods
                .retain(|p| !(p.namespace == namespace && p.name == name));
            if s.pods.len() == before {
                return Err(BackendError::NotFound(format!("pod {namespace}/{name}")));
            }
            s.calls.push(format!(
                "delete-pod {namespace}/{name} grace={grace_period_seconds:?}"
            ));
            Ok(())
        })
    }

    async fn evict_pod(&self, namespace: &str, name: &str) -> Result<(), BackendError> {
        self.with(|s| {
            let key = format!("{namespace}/{name}");
            if s.forbidden_evictions.contains(&key) {
                return Err(BackendError::Refused(format!(
                    "pods \"{name}\" is forbidden: User \"system:serviceaccount:firedrill:firedrill\" \
                     cannot create resource \"pods/eviction\" in API group \"\" in the namespace \"{namespace}\""
                )));
            }
            if let Some(remaining) = s.blocked_evictions.get_mut(&key)
                && *remaining > 0
            {
                *remaining -= 1;
                return Err(BackendError::Refused(format!(
                    "eviction of {key} would violate a disruption budget"
                )));
            }
            let before = s.pods.len();
            s.pods
                .retain(|p| !(p.namespace == namespace && p.name == name));
            if s.pods.len() == before {
                return Err(BackendError::NotFound(format!("pod {key}")));
            }
            s.calls.push(format!("evict-pod {key}"));
            Ok(())
        })
    }

    async fn set_unschedulable(&self, node: &str, unschedulable: bool) -> Result<(), BackendError> {
        self.with(|s| {
            let found = s
                .nodes
                .iter_mut()
                .find(|n| n.name == node)
                .ok_or_else(|| BackendError::NotFound(format!("node {node}")))?;
            found.unschedulable = unschedulable;
            s.calls.push(format!(
                "{} {node}",
                if unschedulable { "cordon" } else { "uncordon" }
            ));
            Ok(())
        })
    }

    async fn rollout_restart(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
    ) -> Result<(), BackendError> {
        let kind = match kind {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
        };
        self.with(|s| {
            s.calls
                .push(format!("rollout-restart {kind} {namespace}/{name}"));
            Ok(())
        })
    }

    async fn get_object(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<String, BackendError> {
        let object = serde_json::json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": { "name": name, "namespace": namespace },
        });
        Ok(object.to_string())
    }

    async fn patch_object(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        merge_patch: &str,
    ) -> Result<String, BackendError> {
        let patch: serde_json::Value = serde_json::from_str(merge_patch)
            .map_err(|e| BackendError::Refused(format!("merge patch is not JSON: {e}")))?;
        self.with(|s| {
            s.calls.push(format!(
                "patch-object {kind} {}/{name}",
                namespace.unwrap_or("")
            ));
            Ok(())
        })?;
        let mut object = serde_json::json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": { "name": name, "namespace": namespace },
        });
        if let (Some(object), Some(patch)) = (object.as_object_mut(), patch.as_object()) {
            for (key, value) in patch {
                object.insert(key.clone(), value.clone());
            }
        }
        Ok(object.to_string())
    }

    async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        _container: Option<&str>,
        command: &[String],
        _timeout: Duration,
    ) -> Result<ExecOutput, BackendError> {
        self.with(|s| {
            s.calls
                .push(format!("exec {namespace}/{pod} {}", command.join(" ")));
            Ok(ExecOutput {
                exit_code: 0,
                stdout: command.join(" "),
                stderr: String::new(),
            })
        })
    }

    async fn wait_pods_ready(
        &self,
        namespace: &str,
        selector: &str,
        count: u32,
        timeout: Duration,
    ) -> Result<u32, BackendError> {
        let started = Instant::now();
        loop {
            let ready = self.with(|s| {
                Ok(s.pods
                    .iter()
                    .filter(|p| p.namespace == namespace && p.ready && !p.terminating)
                    .filter(|p| selector_matches(selector, &p.labels))
                    .count())
            })?;
            let ready = u32::try_from(ready).unwrap_or(u32::MAX);
            if ready >= count {
                return Ok(ready);
            }
            if started.elapsed() >= timeout {
                return Err(BackendError::Timeout(format!(
                    "{ready} of {count} pods matching {selector} in {namespace} are ready"
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
