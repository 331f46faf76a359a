//! Scale benchmark: 5,000 pods on 300 nodes. Prints list-with-selector, full-list and
//! watch latency and the process's memory (RSS). Run with `cargo bench -p firedrill-sandbox`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use firedrill_sandbox::platform::{Budget, ExecMode};
use firedrill_sandbox::{Platform, Sandbox, SandboxConfig, Timing, Workload, WorkloadKind};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, WatchEvent, WatchParams};

const NODES_PER_ZONE: u32 = 100;
const DEPLOYMENTS: u32 = 50;
const REPLICAS: u32 = 100;

fn platform() -> Platform {
    let workloads = (0..DEPLOYMENTS)
        .map(|i| {
            let name = format!("svc-{i:02}");
            Workload {
                kind: WorkloadKind::Deployment,
                labels: BTreeMap::from([("app.kubernetes.io/name".to_owned(), name.clone())]),
                image: format!("registry.example.com/bench/{name}:1.0.0"),
                name,
                namespace: "bench".to_owned(),
                replicas: REPLICAS,
                port: 8080,
                service: true,
                budget: Some(Budget::MaxUnavailable(1)),
                start_delay: None,
                exec: ExecMode::Simulated,
                topics: None,
                catch_up_delay: None,
                consumer_groups: Vec::new(),
                backups: Vec::new(),
                process: None,
            }
        })
        .collect();
    Platform {
        zones: vec!["zone-a".into(), "zone-b".into(), "zone-c".into()],
        nodes_per_zone: NODES_PER_ZONE,
        workloads,
    }
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<40} n={:<4} p50={:>9.2?} p95={:>9.2?} max={:>9.2?}",
        samples.len(),
        pick(0.5),
        pick(0.95),
        pick(1.0)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let rss_before = rss_mib();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let config = SandboxConfig {
        platform: platform(),
        timing: Timing {
            start_delay: Duration::from_millis(200),
            ready_delay: Duration::from_millis(50),
            ..Timing::default()
        },
        ..SandboxConfig::default()
    };
    let started = Instant::now();
    let sandbox = Sandbox::start(listener, config, std::future::pending()).await?;
    println!(
        "sandbox with {} nodes and {} pods ready in {:.2?}",
        3 * NODES_PER_ZONE,
        DEPLOYMENTS * REPLICAS,
        started.elapsed()
    );
    // The workspace enables two rustls providers; pick kube's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut kube_config = kube::Config::new(sandbox.base_url().parse()?);
    kube_config.default_retry = false;
    let client = kube::Client::try_from(kube_config)?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "bench");
    let all = pods.list(&ListParams::default()).await?;
    if all.items.len() != (DEPLOYMENTS * REPLICAS) as usize {
        bail!(
            "expected {} pods, found {}",
            DEPLOYMENTS * REPLICAS,
            all.items.len()
        );
    }

    let mut selected = Vec::new();
    for i in 0..100 {
        let selector = format!("app.kubernetes.io/name=svc-{:02}", i % DEPLOYMENTS);
        let t = Instant::now();
        let list = pods.list(&ListParams::default().labels(&selector)).await?;
        selected.push(t.elapsed());
        if list.items.len() != REPLICAS as usize {
            bail!("selector {selector} found {} pods", list.items.len());
        }
    }
    summary("list 100 pods by label selector", selected);

    let mut set_based = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        pods.list(&ListParams::default().labels("app.kubernetes.io/name in (svc-01,svc-02)"))
            .await?;
        set_based.push(t.elapsed());
    }
    summary("list 200 pods by set-based selector", set_based);

    let mut by_node = Vec::new();
    for i in 0..50 {
        let t = Instant::now();
        pods.list(&ListParams::default().fields(&format!("spec.nodeName=zone-b-node-{}", i + 1)))
            .await?;
        by_node.push(t.elapsed());
    }
    summary("list pods by field selector spec.nodeName", by_node);

    let mut full = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        pods.list(&ListParams::default()).await?;
        full.push(t.elapsed());
    }
    summary("list all 5000 pods", full);

    // Watch latency: from a forced delete returning to the DELETED event arriving, and to
    // the replacement's ADDED event.
    let mut deleted_latency = Vec::new();
    let mut added_latency = Vec::new();
    for i in 0..20 {
        let selector = format!("app.kubernetes.io/name=svc-{:02}", i % DEPLOYMENTS);
        let list = pods.list(&ListParams::default().labels(&selector)).await?;
        let version = list.metadata.resource_version.context("version")?;
        let victim = list.items[0].metadata.name.clone().context("named")?;
        let mut stream = pods
            .watch(
                &WatchParams::default().labels(&selector).timeout(30),
                &version,
            )
            .await?
            .boxed();
        let t = Instant::now();
        pods.delete(&victim, &DeleteParams::default().grace_period(0))
            .await?;
        let mut seen_deleted = false;
        while let Some(event) =
            tokio::time::timeout(Duration::from_secs(10), stream.try_next()).await??
        {
            match event {
                WatchEvent::Deleted(_) if !seen_deleted => {
                    deleted_latency.push(t.elapsed());
                    seen_deleted = true;
                }
                WatchEvent::Added(_) => {
                    added_latency.push(t.elapsed());
                    break;
                }
                _ => {}
            }
        }
    }
    summary("watch: forced delete -> DELETED event", deleted_latency);
    summary("watch: forced delete -> replacement ADDED", added_latency);

    let probe = "/api/v1/namespaces/bench/services/svc-03:8080/proxy/healthz";
    let mut probes = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        client
            .request_text(http::Request::get(probe).body(Vec::new())?)
            .await?;
        probes.push(t.elapsed());
    }
    summary("service proxy probe", probes);

    println!(
        "memory: RSS {:.1} MiB (before start {:.1} MiB)",
        rss_mib(),
        rss_before
    );
    sandbox.shutdown().await?;
    Ok(())
}
