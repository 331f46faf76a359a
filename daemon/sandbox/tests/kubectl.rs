//! The sandbox driven by the real `kubectl`: get, selectors, forced delete, cordon,
//! drain (blocked by a PodDisruptionBudget, then succeeding), rollout restart, pdb.

use crate::common;

use std::time::Duration;

use anyhow::Result;
use common::{TestSandbox, wait_for};
use firedrill_sandbox::SandboxConfig;

fn column(output: &str, row_prefix: &str, index: usize) -> Option<String> {
    output
        .lines()
        .find(|l| l.starts_with(row_prefix))
        .and_then(|l| l.split_whitespace().nth(index))
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_gets_nodes_and_pods_wide_across_namespaces() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let out = tokio::task::block_in_place(|| {
        sandbox.kubectl_ok(&["get", "nodes,pods", "-A", "-o", "wide"])
    })?;
    assert!(out.contains("node/zone-a-node-1"), "{out}");
    assert!(out.contains("Ready"), "{out}");
    assert!(out.contains("butterfly   pod/cassandra-0"), "{out}");
    assert!(
        out.contains("NOMINATED NODE"),
        "wide columns are printed:\n{out}"
    );
    assert!(out.contains("Running"), "{out}");
    let version = tokio::task::block_in_place(|| sandbox.kubectl_ok(&["version", "-o", "json"]))?;
    assert!(version.contains("v1.33.0-firedrill-sandbox"), "{version}");
    sandbox.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_selects_pods_by_label() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let out = tokio::task::block_in_place(|| {
        sandbox.kubectl_ok(&["get", "pods", "-l", "app in (kafka,redis)", "-o", "name"])
    })?;
    let mut names: Vec<&str> = out.lines().collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "pod/kafka-0",
            "pod/kafka-1",
            "pod/kafka-2",
            "pod/redis-0",
            "pod/redis-1",
            "pod/redis-2"
        ]
    );
    let out = tokio::task::block_in_place(|| {
        sandbox.kubectl_ok(&["get", "pods", "-l", "app.kubernetes.io/name=synapse"])
    })?;
    assert_eq!(
        out.lines().filter(|l| l.starts_with("synapse-")).count(),
        3,
        "{out}"
    );
    assert_eq!(column(&out, "synapse-", 1).as_deref(), Some("1/1"), "{out}");
    sandbox.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_force_delete_removes_the_pod_at_once_and_it_is_replaced() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let out = tokio::task::block_in_place(|| {
        sandbox.kubectl_ok(&[
            "delete",
            "pod",
            "postgresql-1",
            "--grace-period=0",
            "--force",
        ])
    })?;
    assert!(out.contains("postgresql-1"), "{out}");
    let pods = wait_for(
        "postgresql-1 running again",
        Duration::from_secs(20),
        || async {
            let out = tokio::task::block_in_place(|| {
                sandbox.kubectl_ok(&["get", "pods", "-l", "app=postgresql"])
            })?;
            Ok(
                (column(&out, "postgresql-1", 2).as_deref() == Some("Running")
                    && column(&out, "postgresql-1", 1).as_deref() == Some("1/1"))
                .then_some(out),
            )
        },
    )
    .await?;
    assert!(pods.contains("postgresql-0"));
    sandbox.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_cordon_and_uncordon_toggle_scheduling() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    tokio::task::block_in_place(|| sandbox.kubectl_ok(&["cordon", "zone-b-node-2"]))?;
    let out =
        tokio::task::block_in_place(|| sandbox.kubectl_ok(&["get", "node", "zone-b-node-2"]))?;
    assert_eq!(
        column(&out, "zone-b-node-2", 1).as_deref(),
        Some("Ready,SchedulingDisabled"),
        "{out}"
    );
    tokio::task::block_in_place(|| sandbox.kubectl_ok(&["uncordon", "zone-b-node-2"]))?;
    let out =
        tokio::task::block_in_place(|| sandbox.kubectl_ok(&["get", "node", "zone-b-node-2"]))?;
    assert_eq!(
        column(&out, "zone-b-node-2", 1).as_deref(),
        Some("Ready"),
        "{out}"
    );
    sandbox.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_drain_waits_on_a_pod_disruption_budget_then_succeeds() -> Result<()> {
    let mut timing = common::fast_timing();
    // Replacements take long enough that the second drain meets a spent budget.
    timing.start_delay = Duration::from_secs(6);
    timing.jitter = 0.0;
    let sandbox = TestSandbox::with_config(SandboxConfig {
        timing,
        ..Default::default()
    })
    .await?;
    let wide = tokio::task::block_in_place(|| {
        sandbox.kubectl_ok(&[
            "get",
            "pods",
            "-l",
            "app.kubernetes.io/name=perception",
            "-o",
            "wide",
        ])
    })?;
    let nodes: Vec<String> = wide
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(6).map(str::to_owned))
        .collect();
    assert_eq!(nodes.len(), 3, "{wide}");
    tokio::task::block_in_place(|| {
        sandbox.kubectl_ok(&[
            "drain",
            &nodes[0],
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=60s",
        ])
    })?;
    let second = tokio::task::block_in_place(|| {
        sandbox.kubectl(&[
            "drain",
            &nodes[1],
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=90s",
        ])
    })?;
    assert!(
        second.success,
        "second drain succeeds once capacity returns:\n{}\n{}",
        second.stdout, second.stderr
    );
    assert!(
        second
            .stderr
            .contains("Cannot evict pod as it would violate the pod's disruption budget"),
        "the second drain was held back by the budget first:\n{}",
        second.stderr
    );
    let out = tokio::task::block_in_place(|| {
        sandbox.kubectl_ok(&[
            "get",
            "pods",
            "-A",
            "-o",
            "wide",
            "--field-selector",
            &format!("spec.nodeName={}", nodes[1]),
        ])
    })?;
    assert!(
        out.trim().is_empty() || out.contains("No resources found"),
        "{out}"
    );
    let pdb = tokio::task::block_in_place(|| sandbox.kubectl_ok(&["get", "pdb"]))?;
    assert!(pdb.contains("perception"), "{pdb}");
    sandbox.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_rollout_restart_replaces_every_pod() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let before = tokio::task::block_in_place(|| {
        sandbox.kubectl_ok(&[
            "get",
            "pods",
            "-l",
            "app.kubernetes.io/name=plato",
            "-o",
            "name",
        ])
    })?;
    tokio::task::block_in_place(|| sandbox.kubectl_ok(&["rollout", "restart", "deploy/plato"]))?;
    tokio::task::block_in_place(|| {
        sandbox.kubectl_ok(&["rollout", "status", "deploy/plato", "--timeout=60s"])
    })?;
    let after = wait_for("only new plato pods", Duration::from_secs(30), || async {
        let out = tokio::task::block_in_place(|| {
            sandbox.kubectl_ok(&[
                "get",
                "pods",
                "-l",
                "app.kubernetes.io/name=plato",
                "-o",
                "name",
            ])
        })?;
        Ok((out.lines().count() == 3 && out.lines().all(|l| !before.contains(l))).then_some(out))
    })
    .await?;
    assert_eq!(after.lines().count(), 3);
    let rs = tokio::task::block_in_place(|| {
        sandbox.kubectl_ok(&["get", "rs", "-l", "app.kubernetes.io/name=plato"])
    })?;
    assert_eq!(
        rs.lines().filter(|l| l.starts_with("plato-")).count(),
        2,
        "old and new replicasets:\n{rs}"
    );
    sandbox.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_pdb_shows_allowed_disruptions() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let out = tokio::task::block_in_place(|| sandbox.kubectl_ok(&["get", "pdb"]))?;
    assert!(out.contains("ALLOWED DISRUPTIONS"), "{out}");
    for service in [
        "perception",
        "capsule",
        "odyssey",
        "plato",
        "nexus",
        "synapse",
    ] {
        assert_eq!(
            column(&out, service, 2).as_deref(),
            Some("1"),
            "{service} max unavailable:\n{out}"
        );
        assert_eq!(
            column(&out, service, 3).as_deref(),
            Some("1"),
            "{service} allowed:\n{out}"
        );
    }
    let missing = tokio::task::block_in_place(|| sandbox.kubectl(&["get", "pod", "nope"]))?;
    assert!(!missing.success);
    assert!(
        missing.stderr.contains("pods \"nope\" not found"),
        "{}",
        missing.stderr
    );
    let logs = tokio::task::block_in_place(|| sandbox.kubectl_ok(&["logs", "cassandra-0"]))?;
    assert!(logs.contains("cassandra"), "{logs}");
    let context =
        tokio::task::block_in_place(|| sandbox.kubectl_ok(&["config", "current-context"]))?;
    assert_eq!(context.trim(), firedrill_sandbox::KUBECONFIG_NAME);
    sandbox.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_scales_and_restarts_a_statefulset() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    tokio::task::block_in_place(|| sandbox.kubectl_ok(&["scale", "deploy/nexus", "--replicas=5"]))?;
    wait_for("five nexus pods ready", Duration::from_secs(20), || async {
        let out = tokio::task::block_in_place(|| sandbox.kubectl_ok(&["get", "deploy", "nexus"]))?;
        Ok((column(&out, "nexus", 1).as_deref() == Some("5/5")).then_some(()))
    })
    .await?;
    let before = tokio::task::block_in_place(|| {
        sandbox.kubectl_ok(&["get", "pod", "redis-0", "-o", "jsonpath={.metadata.uid}"])
    })?;
    tokio::task::block_in_place(|| {
        sandbox.kubectl_ok(&["rollout", "restart", "statefulset/redis"])
    })?;
    tokio::task::block_in_place(|| {
        sandbox.kubectl_ok(&["rollout", "status", "statefulset/redis", "--timeout=60s"])
    })?;
    let after = wait_for("redis-0 replaced", Duration::from_secs(30), || async {
        let uid = tokio::task::block_in_place(|| {
            sandbox.kubectl_ok(&["get", "pod", "redis-0", "-o", "jsonpath={.metadata.uid}"])
        })?;
        Ok((uid != before && !uid.is_empty()).then_some(uid))
    })
    .await?;
    assert_ne!(after, before);
    sandbox.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_creates_and_delete_cascades_to_pods() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let manifest = sandbox.dir.path().join("web.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: butterfly}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx}]}\n",
    )?;
    let path = manifest.to_string_lossy().into_owned();
    let out = tokio::task::block_in_place(|| sandbox.kubectl_ok(&["apply", "-f", &path]))?;
    assert!(out.contains("deployment.apps/web created"), "{out}");
    wait_for("two web pods ready", Duration::from_secs(20), || async {
        let out = tokio::task::block_in_place(|| sandbox.kubectl_ok(&["get", "deploy", "web"]))?;
        Ok((column(&out, "web", 1).as_deref() == Some("2/2")).then_some(()))
    })
    .await?;
    tokio::task::block_in_place(|| sandbox.kubectl_ok(&["delete", "-f", &path]))?;
    wait_for("web pods gone", Duration::from_secs(20), || async {
        let out = tokio::task::block_in_place(|| {
            sandbox.kubectl_ok(&["get", "pods", "-l", "app=web", "-o", "name"])
        })?;
        Ok(out.trim().is_empty().then_some(()))
    })
    .await?;
    // Typed kubectl generators send protobuf, which the sandbox refuses clearly.
    let protobuf =
        tokio::task::block_in_place(|| sandbox.kubectl(&["create", "namespace", "scratch"]))?;
    assert!(!protobuf.success);
    assert!(protobuf.stderr.contains("protobuf"), "{}", protobuf.stderr);
    sandbox.stop().await
}

/// `kubectl get --chunk-size` lists in pages (`limit` + `continue`), as it does against a
/// real API server (500 by default): every pod once, the same as one unpaged list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_lists_in_pages_and_sees_every_pod_once() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let names = |chunk: &str| -> Result<Vec<String>> {
        let out = tokio::task::block_in_place(|| {
            sandbox.kubectl_ok(&["get", "pods", "-A", "-o", "name", "--chunk-size", chunk])
        })?;
        Ok(out.lines().map(str::to_owned).collect())
    };
    let whole = names("0")?;
    let paged = names("5")?;
    // kubectl says which requests it sent at -v=6: later pages carry the token.
    let logged = tokio::task::block_in_place(|| {
        sandbox.kubectl(&[
            "get",
            "pods",
            "-A",
            "-o",
            "name",
            "--chunk-size",
            "5",
            "-v=6",
        ])
    })?;
    assert!(
        logged.stderr.matches("continue=").count() >= 2,
        "pages followed by their continue token:\n{}",
        logged.stderr
    );
    assert!(whole.len() > 10, "{whole:?}");
    let mut unique = paged.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), paged.len(), "no pod twice: {paged:?}");
    let mut sorted_whole = whole.clone();
    sorted_whole.sort();
    assert_eq!(unique, sorted_whole);
    sandbox.stop().await
}
