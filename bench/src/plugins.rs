//! Plugin costs in-process, through `firedrill-host` as the daemon uses it: first load
//! (Cranelift compile into an empty cache), load from the precompiled cache (a new host, as
//! after a restart), one call (fresh `Store` and instance, then `verify`), and the overhead
//! of one host call (`verify` over ten services, each one `cluster.list-pods`, against an
//! in-memory cluster).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use firedrill_host::capabilities::cluster::Pod;
use firedrill_host::testing::InMemoryCluster;
use firedrill_host::{
    Backends, ClusterGrant, Grants, Limits, Phase, Plugin, Service, WasmtimeHost,
};

use crate::cluster::plugin_dir;
use crate::stats::{heading, ms};

const SERVICES: usize = 10;

fn grants() -> Grants {
    Grants {
        cluster: vec![ClusterGrant {
            verbs: vec!["list".into()],
            namespaces: vec!["bench".into()],
        }],
        ..Grants::default()
    }
}

/// One Ready pod per service, so `verify` asks about every service.
fn cluster() -> InMemoryCluster {
    let pods = (0..SERVICES)
        .map(|i| Pod {
            name: format!("svc-{i}-0"),
            namespace: "bench".into(),
            node: Some("node-1".into()),
            phase: "Running".into(),
            ready: true,
            terminating: false,
            labels: vec![("app".into(), format!("svc-{i}"))],
            owner: Some(("ReplicaSet".into(), format!("svc-{i}-7c9f"))),
        })
        .collect();
    InMemoryCluster::new(pods, Vec::new())
}

fn phase(services: usize) -> Phase {
    Phase {
        run_id: "bench".into(),
        name: "bench".into(),
        params: "{}".into(),
        services: (0..services)
            .map(|i| Service {
                name: format!("svc-{i}"),
                namespace: "bench".into(),
                selector: format!("app=svc-{i}"),
                replicas: 1,
            })
            .collect(),
    }
}

/// Mean time of one `verify` over `phase`, after a warm-up.
async fn per_call(plugin: &Plugin, phase: &Phase, calls: u32) -> Result<Duration> {
    for _ in 0..5 {
        plugin.verify(phase, None).await.context("warm-up call")?;
    }
    let started = Instant::now();
    for _ in 0..calls {
        plugin.verify(phase, None).await.context("call")?;
    }
    Ok(started.elapsed() / calls)
}

pub async fn run(calls: u32) -> Result<()> {
    heading("Plugin costs (in-process, wasmtime 48, one call = fresh Store + instance + verify)");
    let dir = plugin_dir()?;
    let plugins = [
        ("rust", "rust-pod-killer"),
        ("rust (built-in)", "pod-failure"),
        ("c", "c-pod-counter"),
        ("python", "python-pod-counter"),
        ("javascript", "js-pod-counter"),
    ];
    println!(
        "{:<16} {:>8} {:>12} {:>12} {:>12} {:>14} {:>12}",
        "language", "size", "first load", "cached load", "call", "call+10 host", "host call"
    );
    for (language, name) in plugins {
        let path = dir.join(format!("{name}.wasm"));
        if !path.is_file() {
            println!(
                "{language:<16} missing: {} (run plugins/build)",
                path.display()
            );
            continue;
        }
        let size = std::fs::metadata(&path).map_or(0, |m| m.len());
        let cache = tempfile::tempdir()?;
        let backends = || Backends {
            cluster: Arc::new(cluster()),
            ..Backends::default()
        };

        // First load: compiles with Cranelift and fills the cache.
        let cold = WasmtimeHost::new(Some(cache.path().to_path_buf()), backends())?;
        let started = Instant::now();
        cold.load_file(&path, grants(), Limits::default())
            .await
            .with_context(|| format!("first load of {name}"))?;
        let first = started.elapsed();
        drop(cold);

        // A new host, as after a daemon restart, loads the precompiled component.
        let warm = WasmtimeHost::new(Some(cache.path().to_path_buf()), backends())?;
        let started = Instant::now();
        let plugin = warm
            .load_file(&path, grants(), Limits::default())
            .await
            .with_context(|| format!("cached load of {name}"))?;
        let cached = started.elapsed();

        let bare = per_call(&plugin, &phase(0), calls).await?;
        let with_calls = per_call(&plugin, &phase(SERVICES), calls).await?;
        let host_call = with_calls.saturating_sub(bare) / SERVICES as u32;
        println!(
            "{language:<16} {:>5} KB {:>12} {:>12} {:>12} {:>14} {:>12}",
            size / 1024,
            ms(first),
            ms(cached),
            ms(bare),
            ms(with_calls),
            format!("{:.1} us", host_call.as_secs_f64() * 1e6),
        );
    }
    println!(
        "(host call: (call+10 host - call) / 10, each a granted cluster.list-pods answered by an in-memory cluster)"
    );
    Ok(())
}
