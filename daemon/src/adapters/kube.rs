//! `KubeCluster`: the cluster capability and the engine's baseline over the Kubernetes API (kube 5).
//!
//! The same code talks to a real cluster (kubeconfig context or in-cluster service account)
//! and to the sandbox, which serves the same HTTP API. Waits are watch-driven. kube's
//! built-in retry of 429 responses is turned off: a 429 from the Eviction API is a
//! disruption budget speaking, which the drain must see, count and retry on its deadline.
//! While a phase runs, reads of pods and nodes are answered from its watch cache
//! (`watch.rs`); writes and exec always go to the API.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use firedrill_core::selector::LabelSelector;
use firedrill_host::capabilities::BackendError;
use firedrill_host::capabilities::cluster::{Cluster, ExecOutput, Node, Pod, WorkloadKind};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Node as KubeNode, Pod as KubePod};
use kube::api::{Api, AttachParams, DeleteParams, EvictParams, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use kube::{Client, Config};
use tokio::io::AsyncReadExt;

use super::watch::{Cache, Expect, KubeWatches, WatchSlot};
use crate::engine::ports::{Baseline, ScenarioError};

/// Why a cluster connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot read kubeconfig {path}: {source}")]
    Kubeconfig {
        path: String,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("cannot configure the Kubernetes client: {0}")]
    Config(String),
    #[error("cannot create the Kubernetes client: {0}")]
    Client(#[source] kube::Error),
}

/// A client and the API server URL it talks to (part of the cluster's identity).
#[derive(Clone)]
pub struct Connected {
    pub client: Client,
    pub server: String,
}

impl std::fmt::Debug for Connected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connected")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

fn connected(mut config: Config) -> Result<Connected, ClusterError> {
    config.default_retry = false;
    let server = config.cluster_url.to_string();
    Ok(Connected {
        client: Client::try_from(config).map_err(ClusterError::Client)?,
        server: server.trim_end_matches('/').to_string(),
    })
}

/// Connects to a kubeconfig file (`None`: `$KUBECONFIG`, then `~/.kube/config`) and
/// context (`None`: its current context).
pub async fn connect_kubeconfig(
    path: Option<&Path>,
    context: Option<&str>,
) -> Result<Connected, ClusterError> {
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..KubeConfigOptions::default()
    };
    let config = match path {
        Some(path) => {
            let kubeconfig =
                Kubeconfig::read_from(path).map_err(|source| ClusterError::Kubeconfig {
                    path: path.display().to_string(),
                    source,
                })?;
            Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|err| ClusterError::Config(err.to_string()))?
        }
        None => Config::from_kubeconfig(&options)
            .await
            .map_err(|err| ClusterError::Config(err.to_string()))?,
    };
    connected(config)
}

/// Connects with the service account of the pod firedrill runs in.
pub fn connect_in_cluster() -> Result<Connected, ClusterError> {
    connected(Config::incluster().map_err(|err| ClusterError::Config(err.to_string()))?)
}

/// Connects to a plain-HTTP API server such as the sandbox.
pub fn connect_url(url: &str) -> Result<Connected, ClusterError> {
    let uri = url
        .parse()
        .map_err(|err| ClusterError::Config(format!("bad API server URL {url}: {err}")))?;
    connected(Config::new(uri))
}

/// The Kubernetes API as the `cluster` capability and the engine use it.
#[derive(Clone)]
pub struct KubeCluster {
    client: Client,
    /// The running phase's watch cache, which reads are answered from while it is synced.
    watch: Arc<WatchSlot>,
}

impl std::fmt::Debug for KubeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeCluster").finish_non_exhaustive()
    }
}

pub(super) const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

fn backend(err: kube::Error) -> BackendError {
    match err {
        kube::Error::Api(status) => match status.code {
            404 => BackendError::NotFound(status.message),
            // 429 is how the Eviction API says a disruption budget blocks it.
            403 | 409 | 422 | 429 => BackendError::Refused(status.message),
            _ => BackendError::Unavailable(format!("{} ({})", status.message, status.code)),
        },
        other => BackendError::Unavailable(other.to_string()),
    }
}

fn labels(map: Option<&BTreeMap<String, String>>) -> Vec<(String, String)> {
    map.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

pub(super) fn pod_ready(pod: &KubePod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
}

fn to_pod(pod: &KubePod) -> Pod {
    let meta = &pod.metadata;
    Pod {
        name: meta.name.clone().unwrap_or_default(),
        namespace: meta.namespace.clone().unwrap_or_default(),
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        phase: pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Unknown".into()),
        ready: pod_ready(pod),
        terminating: meta.deletion_timestamp.is_some(),
        labels: labels(meta.labels.as_ref()),
        owner: meta
            .owner_references
            .as_ref()
            .and_then(|owners| {
                owners
                    .iter()
                    .find(|o| o.controller == Some(true))
                    .or(owners.first())
            })
            .map(|o| (o.kind.clone(), o.name.clone())),
    }
}

fn to_node(node: &KubeNode) -> Node {
    let meta = &node.metadata;
    Node {
        name: meta.name.clone().unwrap_or_default(),
        zone: meta
            .labels
            .as_ref()
            .and_then(|l| l.get(ZONE_LABEL).cloned()),
        ready: node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            }),
        unschedulable: node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false),
        labels: labels(meta.labels.as_ref()),
    }
}

impl KubeCluster {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            watch: Arc::default(),
        }
    }

    /// Phase watches that fill the cache this cluster's reads are answered from.
    pub fn watches(&self) -> KubeWatches {
        KubeWatches::new(self.client.clone(), self.watch.clone())
    }

    /// The phase's cache, once it shows the scenario's own writes (`None`: no phase
    /// watch, or it has not caught up; the read then goes to the API, counted).
    async fn cached(&self) -> Option<Arc<Cache>> {
        let cache = self.watch.get()?;
        if cache.caught_up().await {
            Some(cache)
        } else {
            cache.count_direct_read();
            None
        }
    }

    /// Tells the phase's cache (if any) to show a write before it answers again.
    fn expect(&self, expect: Expect) {
        if let Some(cache) = self.watch.get() {
            cache.expect(expect);
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn pods(&self, namespace: &str) -> Api<KubePod> {
        if namespace.is_empty() {
            Api::all(self.client.clone())
        } else {
            Api::namespaced(self.client.clone(), namespace)
        }
    }

    /// The UID of the `kube-system` namespace, which tells one cluster from another behind
    /// the same URL. `None` when the credentials may not read it (a 403): the URL alone
    /// then identifies the cluster. Any other failure means the cluster is not reachable.
    pub async fn kube_system_uid(&self) -> Result<Option<String>, BackendError> {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        match namespaces.get("kube-system").await {
            Ok(namespace) => Ok(namespace.metadata.uid),
            Err(kube::Error::Api(status)) if status.code == 403 || status.code == 404 => {
                tracing::warn!(message = %status.message, "Cannot read the kube-system namespace: the cluster is identified by its URL alone");
                Ok(None)
            }
            Err(err) => Err(backend(err)),
        }
    }

    /// Ready pods (not terminating) matching `selector` in `namespace`.
    pub async fn count_ready(&self, namespace: &str, selector: &str) -> Result<u32, BackendError> {
        let pods = self
            .pods(namespace)
            .list(&ListParams::default().labels(selector))
            .await
            .map_err(backend)?;
        Ok(count(pods.items.iter()))
    }
}

fn count<'a>(pods: impl Iterator<Item = &'a KubePod>) -> u32 {
    let ready = pods
        .filter(|p| p.metadata.deletion_timestamp.is_none() && pod_ready(p))
        .count();
    u32::try_from(ready).unwrap_or(u32::MAX)
}

#[async_trait]
impl Cluster for KubeCluster {
    async fn list_pods(
        &self,
        namespace: &str,
        selector: &str,
        node: Option<&str>,
    ) -> Result<Vec<Pod>, BackendError> {
        let cache = self.cached().await;
        if let Some(cache) = &cache
            && let Ok(parsed) = LabelSelector::parse(selector)
            && let Some(pods) = cache.pods(namespace, &parsed)
        {
            return Ok(pods
                .iter()
                .filter(|p| {
                    node.is_none() || p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == node
                })
                .map(|p| to_pod(p))
                .collect());
        }
        if let Some(cache) = &cache {
            cache.count_direct_read();
        }
        let mut params = ListParams::default().labels(selector);
        let field;
        if let Some(node) = node {
            field = format!("spec.nodeName={node}");
            params = params.fields(&field);
        }
        let pods = self.pods(namespace).list(&params).await.map_err(backend)?;
        Ok(pods.items.iter().map(to_pod).collect())
    }

    async fn list_nodes(&self, selector: &str) -> Result<Vec<Node>, BackendError> {
        let cache = self.cached().await;
        if let Some(cache) = &cache
            && let Ok(parsed) = LabelSelector::parse(selector)
            && let Some(nodes) = cache.nodes(&parsed)
        {
            return Ok(nodes.iter().map(|n| to_node(n)).collect());
        }
        if let Some(cache) = &cache {
            cache.count_direct_read();
        }
        let nodes: Api<KubeNode> = Api::all(self.client.clone());
        let list = nodes
            .list(&ListParams::default().labels(selector))
            .await
            .map_err(backend)?;
        Ok(list.items.iter().map(to_node).collect())
    }

    async fn delete_pod(
        &self,
        namespace: &str,
        name: &str,
        grace_period_seconds: Option<u32>,
    ) -> Result<(), BackendError> {
        let params = DeleteParams {
            grace_period_seconds,
            ..DeleteParams::default()
        };
        let uid = self.watch.get().and_then(|c| c.pod_uid(namespace, name));
        self.pods(namespace)
            .delete(name, &params)
            .await
            .map_err(backend)?;
        self.expect(Expect::PodGone {
            namespace: namespace.to_string(),
            name: name.to_string(),
            uid,
        });
        Ok(())
    }

    async fn evict_pod(&self, namespace: &str, name: &str) -> Result<(), BackendError> {
        let uid = self.watch.get().and_then(|c| c.pod_uid(namespace, name));
        self.pods(namespace)
            .evict(name, &EvictParams::default())
            .await
            .map_err(backend)?;
        self.expect(Expect::PodGone {
            namespace: namespace.to_string(),
            name: name.to_string(),
            uid,
        });
        Ok(())
    }

    async fn set_unschedulable(&self, node: &str, unschedulable: bool) -> Result<(), BackendError> {
        let nodes: Api<KubeNode> = Api::all(self.client.clone());
        let patch = serde_json::json!({ "spec": { "unschedulable": unschedulable } });
        nodes
            .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(backend)?;
        self.expect(Expect::Cordoned {
            node: node.to_string(),
            unschedulable,
        });
        Ok(())
    }

    async fn rollout_restart(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
    ) -> Result<(), BackendError> {
        let client = self.client.clone();
        let result = match kind {
            WorkloadKind::Deployment => Api::<Deployment>::namespaced(client, namespace)
                .restart(name)
                .await
                .map(|_| ()),
            WorkloadKind::StatefulSet => Api::<StatefulSet>::namespaced(client, namespace)
                .restart(name)
                .await
                .map(|_| ()),
            WorkloadKind::DaemonSet => Api::<DaemonSet>::namespaced(client, namespace)
                .restart(name)
                .await
                .map(|_| ()),
        };
        result.map_err(backend)
    }

    async fn get_object(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<String, BackendError> {
        let cache = self.cached().await;
        if let Some(cache) = &cache {
            let cached = match (api_version, kind, namespace) {
                ("v1", "Pod", Some(namespace)) => cache
                    .pod(namespace, name)
                    .flatten()
                    .map(|p| serde_json::to_string(&*p)),
                ("v1", "Node", None) => cache
                    .node(name)
                    .flatten()
                    .map(|n| serde_json::to_string(&*n)),
                _ => None,
            };
            // An object not in the cache is read from the API: it may be newer than the watch.
            if let Some(Ok(json)) = cached {
                return Ok(json);
            }
            cache.count_direct_read();
        }
        let url = object_url(api_version, kind, namespace, name)?;
        let request = http::Request::get(url)
            .body(Vec::new())
            .map_err(|err| BackendError::Unavailable(err.to_string()))?;
        self.client.request_text(request).await.map_err(backend)
    }

    async fn patch_object(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        merge_patch: &str,
    ) -> Result<String, BackendError> {
        let url = object_url(api_version, kind, namespace, name)?;
        let request = http::Request::patch(url)
            .header("Content-Type", "application/merge-patch+json")
            .body(merge_patch.as_bytes().to_vec())
            .map_err(|err| BackendError::Unavailable(err.to_string()))?;
        self.client.request_text(request).await.map_err(backend)
    }

    async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, BackendError> {
        let mut params = AttachParams::default().stdout(true).stderr(true);
        if let Some(container) = container {
            params = params.container(container);
        }
        let run = async {
            let mut attached = self
                .pods(namespace)
                .exec(pod, command.iter().map(String::as_str), &params)
                .await
                .map_err(backend)?;
            // Both streams at once: a command that fills one while the other is still
            // open must not wait on a reader that is not reading.
            let (stdout, stderr) =
                tokio::join!(read_all(attached.stdout()), read_all(attached.stderr()));
            let (stdout, stderr) = (stdout?, stderr?);
            let status = match attached.take_status() {
                Some(status) => status.await,
                None => None,
            };
            let exit_code = match status {
                Some(status) if status.status.as_deref() == Some("Success") => 0,
                Some(status) => status
                    .details
                    .and_then(|d| d.causes)
                    .and_then(|causes| {
                        causes
                            .into_iter()
                            .find(|c| c.reason.as_deref() == Some("ExitCode"))
                            .and_then(|c| c.message)
                    })
                    .and_then(|code| code.parse().ok())
                    .unwrap_or(1),
                // The stream ended before the API server said how the command ended:
                // reporting success would be a guess.
                None => {
                    return Err(BackendError::Unavailable(format!(
                        "exec in {namespace}/{pod} ended without an exit status"
                    )));
                }
            };
            Ok(ExecOutput {
                exit_code,
                stdout,
                stderr,
            })
        };
        tokio::time::timeout(timeout, run).await.map_err(|_| {
            BackendError::Timeout(format!(
                "exec in {namespace}/{pod} took longer than {timeout:?}"
            ))
        })?
    }

    async fn wait_pods_ready(
        &self,
        namespace: &str,
        selector: &str,
        count_wanted: u32,
        timeout: Duration,
    ) -> Result<u32, BackendError> {
        // The phase's cache, when it covers the namespace: re-counted on every change.
        if let Some(cache) = self.cached().await
            && let Ok(parsed) = LabelSelector::parse(selector)
            && cache.pods(namespace, &parsed).is_some()
        {
            let mut changes = cache.changes();
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let ready = count(
                    cache
                        .pods(namespace, &parsed)
                        .unwrap_or_default()
                        .iter()
                        .map(|p| &**p),
                );
                if ready >= count_wanted {
                    return Ok(ready);
                }
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() { break },
                    () = tokio::time::sleep_until(deadline) => {
                        return Err(BackendError::Timeout(format!(
                            "{ready} of {count_wanted} pods matching {selector} Ready after {timeout:?}"
                        )));
                    }
                }
            }
        }
        // A watch keeps a local view of the matching pods and re-counts on every change:
        // API requests are proportional to changes, not to the time waited.
        let api = self.pods(namespace);
        let config = watcher::Config::default().labels(selector);
        let mut pods: BTreeMap<String, KubePod> = BTreeMap::new();
        let mut ready = 0;
        let wait = async {
            let mut stream = watcher(api, config).boxed();
            let mut initial: BTreeMap<String, KubePod> = BTreeMap::new();
            while let Some(event) = stream.try_next().await.map_err(|err| {
                BackendError::Unavailable(format!("watch of pods {selector}: {err}"))
            })? {
                match event {
                    watcher::Event::Init => initial.clear(),
                    watcher::Event::InitApply(pod) => {
                        initial.insert(key(&pod), pod);
                    }
                    watcher::Event::InitDone => pods = std::mem::take(&mut initial),
                    watcher::Event::Apply(pod) => {
                        pods.insert(key(&pod), pod);
                    }
                    watcher::Event::Delete(pod) => {
                        pods.remove(&key(&pod));
                    }
                }
                ready = count(pods.values());
                if ready >= count_wanted {
                    return Ok(ready);
                }
            }
            Err(BackendError::Unavailable("the pod watch ended".into()))
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(result) => result,
            Err(_) => Err(BackendError::Timeout(format!(
                "{ready} of {count_wanted} pods matching {selector} Ready after {timeout:?}"
            ))),
        }
    }
}

fn key(pod: &KubePod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The REST path of an object: `/api/v1/...` for the core group, `/apis/GROUP/VERSION/...`
/// otherwise; the resource is the kind's lowercase plural.
fn object_url(
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
) -> Result<String, BackendError> {
    if kind.is_empty() || name.is_empty() || name.contains('/') {
        return Err(BackendError::NotFound(format!("no object {kind}/{name}")));
    }
    let base = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    let lower = kind.to_ascii_lowercase();
    let plural = if lower == "endpoints" {
        lower.clone()
    } else if lower.ends_with('s') {
        format!("{lower}es")
    } else if let Some(stem) = lower.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    };
    Ok(match namespace {
        Some(ns) => format!("{base}/namespaces/{ns}/{plural}/{name}"),
        None => format!("{base}/{plural}/{name}"),
    })
}

#[async_trait]
impl Baseline for KubeCluster {
    async fn ready_pods(&self, namespace: &str, selector: &str) -> Result<u32, ScenarioError> {
        self.count_ready(namespace, selector)
            .await
            .map_err(|err| ScenarioError(err.to_string()))
    }
}

/// Reads an exec stream to its end (nothing when the stream was not requested).
async fn read_all(
    stream: Option<impl tokio::io::AsyncRead + Unpin>,
) -> Result<String, BackendError> {
    let mut text = String::new();
    if let Some(mut stream) = stream {
        stream
            .read_to_string(&mut text)
            .await
            .map_err(|err| BackendError::Unavailable(err.to_string()))?;
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_urls_follow_the_rest_layout() {
        assert_eq!(
            object_url("v1", "Pod", Some("butterfly"), "capsule-0").unwrap(),
            "/api/v1/namespaces/butterfly/pods/capsule-0"
        );
        assert_eq!(
            object_url("apps/v1", "Deployment", Some("b"), "web").unwrap(),
            "/apis/apps/v1/namespaces/b/deployments/web"
        );
        assert_eq!(
            object_url("policy/v1", "PodDisruptionBudget", Some("b"), "web").unwrap(),
            "/apis/policy/v1/namespaces/b/poddisruptionbudgets/web"
        );
        assert_eq!(
            object_url("v1", "Node", None, "n1").unwrap(),
            "/api/v1/nodes/n1"
        );
        assert_eq!(
            object_url("v1", "Endpoints", Some("b"), "web").unwrap(),
            "/api/v1/namespaces/b/endpoints/web"
        );
        assert!(object_url("v1", "Pod", None, "../secrets").is_err());
    }
}
