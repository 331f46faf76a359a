//! The cost of a phase's cluster watch: firedrill's own `KubeWatches` (the kube-runtime
//! reflector a phase starts before inject) run alone in a child process (`firedrill-bench
//! cache-probe`) against sandboxes of several sizes, its RSS sampled before the watch and
//! once the cache is synced. The difference, per 1,000 pods watched, is what a phase's
//! cache costs in memory; the requests it made are counted by the proxy.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use firedrill::adapters::watch::{KubeWatches, WatchSlot};
use firedrill::engine::ports::{ServiceRef, WatchScope, Watches};

use crate::cluster::SandboxProcess;
use crate::proxy::{CountingProxy, Tally};
use crate::scale;
use crate::stats::{heading, secs};

fn rss_kib() -> u64 {
    crate::cluster::rss_kib(std::process::id())
}

/// The child: watches the `deployments` services of the scale platform (and nodes, as a
/// zone phase does) through `url`, then prints `rss_before rss_synced sync_seconds` (KiB).
pub async fn probe(url: &str, deployments: u32) -> Result<()> {
    let config = kube::Config::new(url.parse().context("the proxy's URL")?);
    let client = kube::Client::try_from(config)?;
    let services = (0..deployments)
        .map(|i| ServiceRef {
            name: format!("svc-{i:02}"),
            namespace: "bench".into(),
            selector: format!("app.kubernetes.io/name=svc-{i:02}"),
            replicas: 100,
            min_ready: 0,
        })
        .collect();
    let scope = WatchScope {
        services,
        nodes: true,
    };
    // Let the runtime and the client settle before the first sample.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib();
    let started = Instant::now();
    let watches = KubeWatches::new(client, Arc::new(WatchSlot::default()));
    let watch = watches
        .watch(&scope)
        .await
        .map_err(|err| anyhow::anyhow!("watch: {err:?}"))?;
    let synced = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib();
    println!("{before} {after} {:.3}", synced.as_secs_f64());
    drop(watch);
    Ok(())
}

pub async fn run(sizes: &[u32]) -> Result<()> {
    heading(&format!(
        "Cost of the cache: firedrill's KubeWatches alone in a process, RSS before the watch and once synced, at {} pods",
        sizes
            .iter()
            .map(|d| (d * 100).to_string())
            .collect::<Vec<_>>()
            .join(" / ")
    ));
    let exe = std::env::current_exe()?;
    let mut points = Vec::new();
    for &deployments in sizes {
        let dir = tempfile::tempdir()?;
        let nodes_per_zone = (deployments * 2).max(1);
        let sandbox =
            SandboxProcess::start(dir.path(), &scale::platform(deployments, nodes_per_zone))
                .await?;
        let proxy = CountingProxy::start(&sandbox.url).await?;
        let output = tokio::process::Command::new(&exe)
            .args(["cache-probe", "--url", &proxy.url, "--deployments"])
            .arg(deployments.to_string())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await?;
        if !output.status.success() {
            bail!(
                "cache-probe at {} pods failed: {}",
                deployments * 100,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let fields: Vec<f64> = text
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        let [before, after, sync] = fields[..] else {
            bail!("cache-probe printed {text:?}");
        };
        let pods = deployments * 100;
        println!(
            "{pods:>6} pods, {:>4} nodes: RSS {:.1} MiB before the watch, {:.1} MiB synced (+{:.1} MiB); synced in {}; requests {}",
            nodes_per_zone * 3,
            before / 1024.0,
            after / 1024.0,
            (after - before) / 1024.0,
            secs(Duration::from_secs_f64(sync)),
            Tally::of(&proxy.seen()).describe()
        );
        points.push((f64::from(pods), after - before));
    }
    if let (Some(first), Some(last)) = (points.first(), points.last())
        && last.0 > first.0
    {
        println!(
            "memory per 1,000 watched pods (slope between {} and {} pods): {:.2} MiB",
            first.0,
            last.0,
            (last.1 - first.1) / 1024.0 / (last.0 - first.0) * 1000.0
        );
    }
    Ok(())
}
