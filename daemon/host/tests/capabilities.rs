//! Every capability module driven through a real component (the `capability-probe`
//! fixture), with its grant allowed and denied.

// Tests may panic on setup failures; that is how a test fails.
#![allow(clippy::expect_used)]

use crate::common;

use common::{Fixture, fixture, host, phase};
use firedrill_host::{ClusterGrant, Grants, Limits, PluginError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn grant(verbs: &[&str], namespaces: &[&str]) -> ClusterGrant {
    ClusterGrant {
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        namespaces: namespaces.iter().map(|n| (*n).to_owned()).collect(),
    }
}

/// Runs the probe's `inject` with `params` and returns what it recorded.
async fn probe(
    f: &Fixture,
    grants: Grants,
    params: serde_json::Value,
) -> Result<String, PluginError> {
    let plugin = f
        .host
        .load_file(&fixture("capability-probe"), grants, Limits::default())
        .await
        .expect("load");
    plugin.inject(&phase(&params.to_string())).await?;
    Ok(f.evidence
        .artefacts()
        .last()
        .expect("the probe records its answer")
        .content
        .clone())
}

#[tokio::test]
async fn drain_cordons_and_retries_evictions_blocked_by_a_disruption_budget() {
    let f = host();
    f.cluster.block_evictions("web", "web-1", 2);
    let grants = Grants {
        cluster: vec![
            grant(&["patch"], &[":cluster"]),
            grant(&["evict"], &["web"]),
        ],
        ..Grants::default()
    };
    let answer = probe(
        &f,
        grants,
        serde_json::json!({"op": "drain", "name": "node-a"}),
    )
    .await
    .expect("drain");
    assert_eq!(answer, "evicted web/web-2,web/web-1 after 2 retries");
    assert!(
        f.cluster
            .nodes()
            .iter()
            .any(|n| n.name == "node-a" && n.unschedulable)
    );
    assert_eq!(f.cluster.pods().len(), 1, "only the pod on node-b is left");
}

#[tokio::test]
async fn drain_fails_at_once_when_the_api_server_forbids_an_eviction() {
    let f = host();
    f.cluster.forbid_evictions("web", "web-1");
    let grants = Grants {
        cluster: vec![
            grant(&["patch"], &[":cluster"]),
            grant(&["evict"], &["web"]),
        ],
        ..Grants::default()
    };
    let answer = probe(
        &f,
        grants,
        serde_json::json!({"op": "drain", "name": "node-a"}),
    )
    .await
    .expect("the probe records the drain's error");
    assert!(
        // The probe records the error's debug form (quotes escaped).
        answer.contains("is forbidden: ")
            && answer.contains("cannot create resource")
            && answer.contains("pods/eviction")
            && answer.contains("in the namespace"),
        "{answer}"
    );
    // Not retried until the drain's timeout, whose error blames disruption budgets.
    assert!(
        !answer.contains("disruption budget"),
        "a 403 is no disruption budget: {answer}"
    );
}

#[tokio::test]
async fn drain_is_denied_before_anything_changes_when_a_namespace_is_not_granted() {
    let f = host();
    let grants = Grants {
        cluster: vec![
            grant(&["patch"], &[":cluster"]),
            grant(&["evict"], &["api"]),
        ],
        ..Grants::default()
    };
    let error = probe(
        &f,
        grants,
        serde_json::json!({"op": "drain", "name": "node-a"}),
    )
    .await
    .expect_err("web is not granted");
    assert_eq!(
        error.to_string(),
        "cluster.drain in namespace web is not granted to scenario capability-probe"
    );
    assert!(
        f.cluster.calls().is_empty(),
        "no cordon, no eviction: {:?}",
        f.cluster.calls()
    );
}

#[tokio::test]
async fn node_operations_need_the_cluster_scope() {
    let f = host();
    let everywhere = Grants {
        cluster: vec![grant(
            &["get", "list", "watch", "patch", "delete", "evict"],
            &["*"],
        )],
        ..Grants::default()
    };
    let error = probe(
        &f,
        everywhere,
        serde_json::json!({"op": "uncordon", "name": "node-a"}),
    )
    .await
    .expect_err("nodes are cluster-scoped");
    assert_eq!(
        error.to_string(),
        "cluster.uncordon on cluster-scoped objects is not granted to scenario capability-probe"
    );
    let nodes = Grants {
        cluster: vec![grant(&["list"], &[":cluster"])],
        ..Grants::default()
    };
    assert_eq!(
        probe(&f, nodes, serde_json::json!({"op": "nodes"}))
            .await
            .expect("list nodes"),
        "node-a"
    );
}

#[tokio::test]
async fn wait_rollout_and_patch_reach_the_cluster_when_granted() {
    let f = host();
    let grants = Grants {
        cluster: vec![grant(&["watch", "patch"], &["web"])],
        ..Grants::default()
    };
    assert_eq!(
        probe(
            &f,
            grants.clone(),
            serde_json::json!({"op": "wait", "namespace": "web"})
        )
        .await
        .expect("wait"),
        "3 ready"
    );
    assert_eq!(
        probe(
            &f,
            grants.clone(),
            serde_json::json!({"op": "restart", "namespace": "web", "name": "web"})
        )
        .await
        .expect("restart"),
        "restarted"
    );
    let patched = probe(
        &f,
        grants,
        serde_json::json!({"op": "patch", "namespace": "web", "name": "web"}),
    )
    .await
    .expect("patch");
    let patched: serde_json::Value =
        serde_json::from_str(&patched).expect("patched object is JSON");
    assert_eq!(patched["spec"]["replicas"], 2);
    assert_eq!(
        f.cluster.calls(),
        vec![
            "rollout-restart Deployment web/web".to_owned(),
            "patch-object Deployment web/web".to_owned()
        ]
    );
}

/// A one-shot HTTP server on loopback answering `hello`.
async fn hello_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        if let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = [0u8; 4096];
            let _ = socket.read(&mut buffer).await;
            let _ = socket
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
                )
                .await;
        }
    });
    port
}

#[tokio::test]
async fn http_reaches_a_granted_host_and_names_an_ungranted_one() {
    let f = host();
    let port = hello_server().await;
    let grants = Grants {
        http: vec![format!("127.0.0.1:{port}")],
        ..Grants::default()
    };
    let url = format!("http://127.0.0.1:{port}/health");
    assert_eq!(
        probe(
            &f,
            grants.clone(),
            serde_json::json!({"op": "http", "url": url})
        )
        .await
        .expect("http"),
        "200 hello"
    );
    let other = format!("http://localhost:{port}/");
    let error = probe(&f, grants, serde_json::json!({"op": "http", "url": other}))
        .await
        .expect_err("localhost is not granted");
    assert_eq!(
        error.to_string(),
        format!("http.send to localhost:{port} is not granted to scenario capability-probe")
    );
}

#[tokio::test]
async fn database_connections_are_granted_by_name() {
    let f = host();
    let grants = Grants {
        postgres: vec!["orders".into()],
        redis: vec!["sessions".into()],
        ..Grants::default()
    };
    let answer = probe(
        &f,
        grants.clone(),
        serde_json::json!({"op": "postgres", "connection": "orders"}),
    )
    .await
    .expect("granted");
    assert!(
        answer.contains("no postgres connection orders is configured"),
        "{answer}"
    );
    let error = probe(
        &f,
        grants.clone(),
        serde_json::json!({"op": "postgres", "connection": "billing"}),
    )
    .await
    .expect_err("denied");
    assert_eq!(
        error.to_string(),
        "postgres.execute on connection billing is not granted to scenario capability-probe"
    );
    let error = probe(
        &f,
        grants,
        serde_json::json!({"op": "redis", "connection": "cache"}),
    )
    .await
    .expect_err("denied");
    assert_eq!(
        error.to_string(),
        "redis.command on connection cache is not granted to scenario capability-probe"
    );
}

#[tokio::test]
async fn clock_and_state_are_always_available() {
    let f = host();
    assert_eq!(
        probe(&f, Grants::default(), serde_json::json!({"op": "clock"}))
            .await
            .expect("clock"),
        "slept true"
    );
    assert_eq!(
        probe(&f, Grants::default(), serde_json::json!({"op": "state"}))
            .await
            .expect("state"),
        "Some([1, 2, 3])"
    );
}

#[tokio::test]
async fn plan_is_read_only_even_with_write_grants() {
    let f = host();
    let grants = Grants {
        cluster: vec![grant(&["list", "delete"], &["web"])],
        ..Grants::default()
    };
    let plugin = f
        .host
        .load_file(&fixture("capability-probe"), grants, Limits::default())
        .await
        .expect("load");
    let params =
        serde_json::json!({"op": "delete", "namespace": "web", "name": "web-1"}).to_string();
    let error = plugin
        .plan(&phase(&params))
        .await
        .expect_err("plan must not delete");
    assert_eq!(
        error.to_string(),
        "cluster.delete-pod in namespace web during plan, which is read-only, is not granted to scenario capability-probe"
    );
    assert!(f.cluster.calls().is_empty(), "{:?}", f.cluster.calls());
}

#[tokio::test]
async fn wasi_gives_plugins_no_environment_files_or_sockets() {
    let f = host();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("addr").to_string();
    // Even with every HTTP host granted, raw sockets stay closed: grants cover only
    // the `http` capability, never WASI networking.
    let answer = probe(
        &f,
        Grants {
            http: vec!["*".into()],
            ..Grants::default()
        },
        serde_json::json!({"op": "wasi", "url": address}),
    )
    .await
    .expect("probe");
    assert_eq!(answer, "env=0 fs=false net=false");
}
