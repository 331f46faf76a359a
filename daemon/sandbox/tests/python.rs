//! The sandbox answers the real Python `kubernetes` client (PyPI `kubernetes` 37): paged
//! lists followed through `_continue`, `watch.Watch().stream` with its `watch=True`, the
//! service proxy with a percent-encoded `service:port`, label selectors. The client comes
//! from the venv `.ci/setup` makes at `target/python-kubernetes` (or the python named by
//! `FIREDRILL_PYTHON_KUBERNETES`); the test is skipped only when there is no python3 at
//! all, and fails when the venv or its package is missing.

use crate::common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use common::TestSandbox;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

const NS: &str = "butterfly";

fn python_with_kubernetes() -> PathBuf {
    std::env::var_os("FIREDRILL_PYTHON_KUBERNETES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/python-kubernetes/bin/python")
        })
}

fn python3_exists() -> bool {
    std::process::Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn the_python_kubernetes_client_pages_watches_proxies_and_selects() -> Result<()> {
    if !python3_exists() {
        println!("SKIPPED: python3 is not installed, so the Python kubernetes client cannot run");
        return Ok(());
    }
    let python = python_with_kubernetes();
    if !python.exists() {
        bail!(
            "{} is missing: run .ci/setup (it installs PyPI kubernetes 37.x there)",
            python.display()
        );
    }
    let sandbox = TestSandbox::start().await?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/client.py");
    let mut child = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(&sandbox.kubeconfig)
        .args([NS, "app=redis", "odyssey", "8080"])
        .env("HOME", sandbox.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the Python client")?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let pods: Api<Pod> = Api::namespaced(sandbox.client()?, NS);
    let mut checks = std::collections::HashMap::new();
    let run = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            let value: Value =
                serde_json::from_str(&line).with_context(|| format!("not JSON: {line}"))?;
            let check = value["check"].as_str().unwrap_or_default().to_owned();
            if check == "watch-ready" {
                let victim = value["victim"].as_str().context("victim")?;
                pods.delete(victim, &DeleteParams::default().grace_period(0))
                    .await?;
            }
            checks.insert(check, value);
        }
        Ok::<_, anyhow::Error>(())
    })
    .await;
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = tokio::time::timeout(Duration::from_secs(5), err.read_to_string(&mut stderr)).await;
    }
    if status.is_err() {
        child.kill().await?;
    }
    run.with_context(|| format!("the Python client timed out; stderr:\n{stderr}"))??;
    let succeeded = matches!(status, Ok(Ok(s)) if s.success());
    if !succeeded {
        bail!("the Python client failed ({status:?}); stderr:\n{stderr}\nchecks: {checks:?}");
    }

    let paged = &checks["paged"];
    assert!(paged["pages"].as_u64() > Some(1), "{paged}");
    assert_eq!(paged["paged"], paged["unpaged"], "{paged}");
    assert_eq!(paged["distinct"], paged["unpaged"], "{paged}");
    assert_eq!(paged["same"], true, "{paged}");
    let selected = &checks["selected"];
    assert_eq!(selected["count"], 3, "{selected}");
    assert_eq!(selected["all_match"], true, "{selected}");
    let proxy = &checks["proxy"];
    assert!(
        proxy["body"]
            .as_str()
            .is_some_and(|b| b.contains("odyssey")),
        "{proxy}"
    );
    let watched = &checks["watch"];
    let events: Vec<&str> = watched["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(events.first(), Some(&"ADDED"), "{watched}");
    assert_eq!(events.last(), Some(&"DELETED"), "{watched}");
    sandbox.stop().await
}
