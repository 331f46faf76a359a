//! Zone-drain benchmark: the scale platform (5,000 pods on 300 nodes, 50 deployments with
//! a `maxUnavailable: 1` budget each), one zone cordoned and its pods evicted with 16
//! evictions in flight, as firedrill's zone drill drains, each refused eviction (429)
//! retried after a pause. Prints eviction latency (every request, refused ones too),
//! the drain's length and list latency during it. Run with
//! `cargo bench -p firedrill-sandbox --bench drain`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use firedrill_sandbox::platform::{Budget, ExecMode};
use firedrill_sandbox::{Platform, Sandbox, SandboxConfig, Timing, Workload, WorkloadKind};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, EvictParams, ListParams, Patch, PatchParams};

const NODES_PER_ZONE: u32 = 100;
const DEPLOYMENTS: u32 = 50;
const REPLICAS: u32 = 100;
const IN_FLIGHT: usize = 16;
const RETRY_PAUSE: Duration = Duration::from_millis(250);

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

fn summary(name: &str, mut samples: Vec<Duration>) {
    if samples.is_empty() {
        println!("{name:<40} n=0");
        return;
    }
    samples.sort();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{name:<40} n={:<5} mean={:>9.2?} p50={:>9.2?} p95={:>9.2?} max={:>9.2?}",
        samples.len(),
        mean,
        pick(0.5),
        pick(0.95),
        pick(1.0)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
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
    println!("sandbox ready in {:.2?}", started.elapsed());
    // The workspace enables two rustls providers; pick kube's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut kube_config = kube::Config::new(sandbox.base_url().parse()?);
    kube_config.default_retry = false;
    let client = kube::Client::try_from(kube_config)?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "bench");
    let nodes: Api<Node> = Api::all(client.clone());

    let drain_started = Instant::now();
    let zone = nodes
        .list(&ListParams::default().labels("topology.kubernetes.io/zone=zone-a"))
        .await?;
    let cordon = Patch::Merge(serde_json::json!({"spec": {"unschedulable": true}}));
    let mut victims = Vec::new();
    let mut lists = Vec::new();
    for node in &zone.items {
        let name = node.metadata.name.clone().unwrap_or_default();
        nodes.patch(&name, &PatchParams::default(), &cordon).await?;
        let t = Instant::now();
        let on_node = pods
            .list(&ListParams::default().fields(&format!("spec.nodeName={name}")))
            .await?;
        lists.push(t.elapsed());
        victims.extend(on_node.items.into_iter().filter_map(|p| p.metadata.name));
    }
    println!(
        "cordoned {} nodes, {} pods to evict, in {:.2?}",
        zone.items.len(),
        victims.len(),
        drain_started.elapsed()
    );
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(Mutex::new(0usize));
    let evictions_started = Instant::now();
    let drain = futures::stream::iter(victims.clone())
        .map(|name| {
            let pods = pods.clone();
            let latencies = Arc::clone(&latencies);
            let refused = Arc::clone(&refused);
            async move {
                loop {
                    let t = Instant::now();
                    let result = pods.evict(&name, &EvictParams::default()).await;
                    latencies.lock().map(|mut l| l.push(t.elapsed())).ok();
                    match result {
                        Err(kube::Error::Api(status)) if status.code == 429 => {
                            refused.lock().map(|mut r| *r += 1).ok();
                            tokio::time::sleep(RETRY_PAUSE).await;
                        }
                        _ => break,
                    }
                }
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<()>>();
    if tokio::time::timeout(Duration::from_secs(300), drain)
        .await
        .is_err()
    {
        println!("the drain did not finish within 5 minutes");
    }
    let evictions = evictions_started.elapsed();
    let latencies = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    println!(
        "evicted {} pods in {:.2?} ({:.1}/s), {} requests refused (429)",
        victims.len(),
        evictions,
        victims.len() as f64 / evictions.as_secs_f64(),
        refused.lock().map(|r| *r).unwrap_or_default()
    );
    summary("eviction request latency", latencies);
    summary("list pods by spec.nodeName (cordon)", lists);
    sandbox.shutdown().await?;
    Ok(())
}
