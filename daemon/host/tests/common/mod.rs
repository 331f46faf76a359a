//! Shared helpers for the host's integration tests: built plugins, a fake cluster, hosts.

#![allow(dead_code, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use firedrill_host::capabilities::cluster::{Node, Pod};
use firedrill_host::capabilities::evidence::InMemoryEvidence;
use firedrill_host::capabilities::state::InMemoryState;
use firedrill_host::testing::InMemoryCluster;
use firedrill_host::{Backends, ClusterGrant, Grants, Limits, Phase, Service, WasmtimeHost};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A built plugin: `target/plugins/NAME.wasm`. Panics with instructions when missing,
/// so a test never passes without the plugin it claims to run.
pub fn plugin(name: &str) -> PathBuf {
    built(&root().join("target/plugins"), name)
}

/// A built zoo fixture: `target/plugin-fixtures/NAME.wasm`.
pub fn fixture(name: &str) -> PathBuf {
    built(&root().join("target/plugin-fixtures"), name)
}

fn built(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: run `plugins/build` at the repository root first (it builds every plugin and test fixture)",
        path.display()
    );
    path
}

pub fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub fn pod(namespace: &str, name: &str, app: &str, node: &str, ready: bool) -> Pod {
    Pod {
        name: name.into(),
        namespace: namespace.into(),
        node: Some(node.into()),
        phase: "Running".into(),
        ready,
        terminating: false,
        labels: labels(&[("app", app)]),
        owner: Some(("ReplicaSet".into(), format!("{app}-7c9f"))),
    }
}

pub fn node(name: &str, zone: &str) -> Node {
    Node {
        name: name.into(),
        zone: Some(zone.into()),
        ready: true,
        unschedulable: false,
        labels: labels(&[("topology.kubernetes.io/zone", zone)]),
    }
}

/// Three `web` pods in namespace `web` and two nodes.
pub fn cluster() -> Arc<InMemoryCluster> {
    Arc::new(InMemoryCluster::new(
        vec![
            pod("web", "web-1", "web", "node-a", true),
            pod("web", "web-2", "web", "node-a", true),
            pod("web", "web-3", "web", "node-b", true),
        ],
        vec![node("node-a", "zone-a"), node("node-b", "zone-b")],
    ))
}

pub struct Fixture {
    pub host: WasmtimeHost,
    pub cluster: Arc<InMemoryCluster>,
    pub state: Arc<InMemoryState>,
    pub evidence: Arc<InMemoryEvidence>,
    pub cache: tempfile::TempDir,
}

/// A host over the fake cluster, with its own cache directory.
pub fn host() -> Fixture {
    let cluster = cluster();
    let state = Arc::new(InMemoryState::default());
    let evidence = Arc::new(InMemoryEvidence::default());
    let backends = Backends {
        cluster: cluster.clone(),
        state: state.clone(),
        evidence: evidence.clone(),
        ..Backends::default()
    };
    let cache = tempfile::tempdir().expect("cache dir");
    let host = WasmtimeHost::new(Some(cache.path().to_path_buf()), backends).expect("host");
    Fixture {
        host,
        cluster,
        state,
        evidence,
        cache,
    }
}

/// List, delete and watch in namespace `web`.
pub fn web_grants() -> Grants {
    Grants {
        cluster: vec![ClusterGrant {
            verbs: vec!["list".into(), "delete".into(), "watch".into()],
            namespaces: vec!["web".into()],
        }],
        ..Grants::default()
    }
}

/// Limits small enough to make the zoo fail fast.
pub fn tight_limits() -> Limits {
    Limits {
        fuel: 200_000_000,
        memory_bytes: 64 * 1024 * 1024,
        deadline: Duration::from_secs(20),
        log_lines: 100,
        log_bytes: 16 * 1024,
    }
}

pub fn phase(params: &str) -> Phase {
    Phase {
        run_id: "run-1".into(),
        name: "pod-failure".into(),
        params: params.into(),
        services: vec![Service {
            name: "web".into(),
            namespace: "web".into(),
            selector: "app=web".into(),
            replicas: 3,
        }],
    }
}
