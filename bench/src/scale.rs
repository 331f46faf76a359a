//! Scale: a sandbox of 50 deployments x 100 replicas (5,000 pods) on 3 zones x 100 nodes,
//! behind the counting proxy. `firedrill plan zone` (time, requests), then `firedrill run
//! zone` (a zone-a drain): time per step and the API requests of the phase by kind,
//! set against the number of pod changes and against pods x verify polls.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use chrono::{DateTime, SubsecRound, Utc};

use crate::cluster::{self, SandboxProcess};
use crate::proxy::{CountingProxy, Tally};
use crate::rto::at;
use crate::stats::{heading, secs};

/// Per plugin call; the default (2m) is too short for this drain (see BENCHMARKS.md), and
/// a longer one would only make a slow drain slower to report.
const CALL_TIMEOUT: &str = "4m";

pub fn platform(deployments: u32, nodes_per_zone: u32) -> String {
    let mut text = format!(
        "namespace: bench\nzones: [zone-a, zone-b, zone-c]\nnodesPerZone: {nodes_per_zone}\ndeployments:\n"
    );
    for i in 0..deployments {
        // A budget that never blocks: the drain's cost, not budget waits, is measured.
        text.push_str(&format!(
            "  - {{ name: svc-{i:02}, replicas: 100, pdb: {{ maxUnavailable: 40 }}, startDelay: 300ms }}\n"
        ));
    }
    text
}

fn config(dir: &Path, kubeconfig: &Path, deployments: u32) -> Result<std::path::PathBuf> {
    let mut text = format!(
        r#"version: 1
storage: {{ path: data }}
targets:
  lab: {{ kind: kubeconfig, kubeconfig: {kubeconfig} }}
default_target: lab
plugins:
  limits: {{ call_timeout: {call_timeout} }}
  grants:
    zone-failure:
      kubernetes:
        - {{ verbs: [list, patch], namespaces: [":cluster"] }}
        - {{ verbs: [list, evict], namespaces: ["*"] }}
drills:
  zone:
    phases:
      - {{ name: zone-a-down, scenario: zone-failure, params: {{ zone: zone-a }}, objectives: {{ rto: 10m }} }}
services:
"#,
        kubeconfig = kubeconfig.display(),
        call_timeout = CALL_TIMEOUT,
    );
    for i in 0..deployments {
        text.push_str(&format!(
            "  svc-{i:02}: {{ namespace: bench, selector: app.kubernetes.io/name=svc-{i:02} }}\n"
        ));
    }
    let path = dir.join("firedrill.yaml");
    std::fs::write(&path, text)?;
    Ok(path)
}

fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().unwrap_or(0) as f64 / 1e6
}

pub async fn run(deployments: u32, nodes_per_zone: u32) -> Result<()> {
    let pods = deployments * 100;
    let nodes = nodes_per_zone * 3;
    heading(&format!(
        "Scale: {pods} pods ({deployments} deployments x 100) on {nodes} nodes, plan and a zone drill"
    ));
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let sandbox = SandboxProcess::start(dir.path(), &platform(deployments, nodes_per_zone)).await?;
    println!(
        "sandbox up with the platform Ready: {}",
        secs(started.elapsed())
    );
    let proxy = CountingProxy::start(&sandbox.url).await?;
    let kubeconfig = dir.path().join("proxy.kubeconfig");
    cluster::write_kubeconfig(&kubeconfig, &proxy.url)?;
    let config = config(dir.path(), &kubeconfig, deployments)?;

    // plan: read-only, every action the drill would take.
    let plan = cluster::run_firedrill(&config, &["plan", "zone"]).await?;
    let plan_requests = Tally::of(&proxy.seen());
    let actions = plan
        .stdout
        .lines()
        .filter(|l| l.contains("evict-pod"))
        .count();
    println!(
        "plan: {} (exit {}), {} evictions planned; API requests {}",
        secs(plan.wall),
        plan.code,
        actions,
        plan_requests.describe()
    );
    for line in plan_requests.latency_lines() {
        println!("    {line}");
    }
    if plan.code != 0 {
        println!("plan stderr: {}", plan.stderr.trim());
    }

    // The drill.
    proxy.reset();
    let lost_before = sandbox.get_json("/sandbox/v1/ground-truth").await?["podsLost"]
        .as_array()
        .map_or(0, Vec::len);
    let (drill, rss) =
        cluster::run_firedrill_sampled(&config, &["run", "zone", "--output", "json"]).await?;
    let record = cluster::run_record(&drill)?;
    let seen = proxy.seen();
    let phase = &record["phases"][0];
    let started_at = at(&phase["started_at"])?;
    let finished_at = at(&phase["finished_at"])?;
    let recovered_at = at(&phase["recovered_at"]).ok();
    let Ok(injected_at) = at(&phase["injected_at"]) else {
        println!(
            "drill: {} wall; the phase injected nothing: {}",
            secs(drill.wall),
            phase["verdict"]["message"].as_str().unwrap_or("?")
        );
        let in_phase = Tally::between(&seen, started_at, finished_at);
        println!("API requests in the phase: {}", in_phase.describe());
        for line in in_phase.latency_lines() {
            println!("    {line}");
        }
        return Ok(());
    };
    println!(
        "drill: {} wall, outcome {}; phase: plan+cordon+drain {:.2} s, recovery {} ({})",
        secs(drill.wall),
        record["outcome"]["kind"].as_str().unwrap_or("?"),
        seconds_between(started_at, injected_at),
        phase["recovery_seconds"]
            .as_f64()
            .map_or("none".into(), |s| format!("{s:.2} s")),
        phase["detection"].as_str().unwrap_or("")
    );
    let ground = sandbox.get_json("/sandbox/v1/ground-truth").await?;
    let lost = ground["podsLost"].as_array().map_or(0, Vec::len) - lost_before;
    let replaced = ground["podsReady"].as_array().map_or(0, |ready| {
        ready
            .iter()
            .filter(|p| at(&p["createdAt"]).is_ok_and(|c| c >= started_at.trunc_subsecs(0)))
            .count()
    });
    // The replacements the record names (its `pods` list), else every pod created since
    // the phase started; the last one's ground-truth Ready against `recovered_at`.
    let names: Vec<&str> = phase["pods"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["replacement"].as_str())
        .map(|q| q.rsplit_once('/').map_or(q, |(_, n)| n))
        .collect();
    let replacements: Vec<DateTime<Utc>> = ground["podsReady"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| {
            if names.is_empty() {
                at(&p["createdAt"]).is_ok_and(|c| c >= started_at.trunc_subsecs(0))
            } else {
                p["pod"].as_str().is_some_and(|n| names.contains(&n))
            }
        })
        .filter_map(|p| at(&p["readyAt"]).ok())
        .collect();
    let clock = &phase["clock"];
    println!(
        "clock: started by {} at {} ({}), inject_seconds {:.2}, held_back_seconds {:.2}, stopped by {} ({}), verify calls {}; recovery_seconds {}",
        clock["started_by"].as_str().unwrap_or("?"),
        clock["started_at"].as_str().unwrap_or("?"),
        clock["first_action"].as_str().unwrap_or("-"),
        clock["inject_seconds"].as_f64().unwrap_or(f64::NAN),
        clock["held_back_seconds"].as_f64().unwrap_or(0.0),
        clock["stopped_by"].as_str().unwrap_or("?"),
        clock["event"].as_str().unwrap_or("-"),
        clock["verify_calls"],
        phase["recovery_seconds"]
            .as_f64()
            .map_or("none".into(), |s| format!("{s:.3} s")),
    );
    println!(
        "replacements: {} named in the record's pods list, {} of them Ready by the sandbox",
        names.len(),
        replacements.len()
    );
    if let (Some(recovered_at), Some(truth)) = (recovered_at, replacements.iter().max()) {
        let error = seconds_between(*truth, recovered_at) * 1e3;
        println!(
            "recovery error vs ground truth (recovered_at - last replacement Ready): {error:+.0} ms   target <= 250 ms: {}",
            if (0.0..=250.0).contains(&error) {
                "met"
            } else if error < 0.0 {
                "NOT met (early)"
            } else {
                "NOT met"
            }
        );
    }
    // Memory of the `firedrill run` process: before the phase's watch and during it.
    let before_phase = rss
        .iter()
        .filter(|(t, _)| *t < started_at)
        .map(|(_, kib)| *kib)
        .max()
        .unwrap_or(0);
    let in_phase_rss = rss
        .iter()
        .filter(|(t, _)| *t >= started_at && *t < finished_at)
        .map(|(_, kib)| *kib)
        .max()
        .unwrap_or(0);
    println!(
        "RSS of `firedrill run`: peak {:.1} MiB before the phase, {:.1} MiB during the phase (watch of {pods} pods and {nodes} nodes, plugin, evictions in flight)",
        before_phase as f64 / 1024.0,
        in_phase_rss as f64 / 1024.0
    );
    let evictions: Vec<&crate::proxy::Seen> = seen
        .iter()
        .filter(|s| s.class == "evict pods" && s.at >= started_at && s.at < finished_at)
        .collect();
    if !evictions.is_empty() {
        let total: f64 = evictions.iter().map(|s| s.latency.as_secs_f64()).sum();
        let max = evictions
            .iter()
            .map(|s| s.latency.as_secs_f64())
            .fold(0.0, f64::max);
        // In flight: the most evictions whose [sent, answered) intervals overlap.
        let mut edges: Vec<(DateTime<Utc>, i32)> = Vec::new();
        for s in &evictions {
            edges.push((s.at, 1));
            edges.push((
                s.at + chrono::Duration::from_std(s.latency).unwrap_or_default(),
                -1,
            ));
        }
        edges.sort();
        let (mut now, mut most) = (0, 0);
        for (_, d) in edges {
            now += d;
            most = most.max(now);
        }
        let first = evictions.first().map(|s| s.at).unwrap_or(started_at);
        let span = evictions
            .iter()
            .map(|s| s.at + chrono::Duration::from_std(s.latency).unwrap_or_default())
            .max()
            .map_or(0.0, |last| seconds_between(first, last));
        let mean_ms = total / evictions.len() as f64 * 1e3;
        println!(
            "evictions: {} in {:.1} s, latency mean {:.1} ms (max {:.0} ms), {:.1} in flight on average, at most {most}   target mean <= 50 ms: {}",
            evictions.len(),
            span,
            mean_ms,
            max * 1e3,
            if span > 0.0 { total / span } else { 0.0 },
            if mean_ms <= 50.0 { "met" } else { "NOT met" }
        );
    }
    let before = Tally::between(&seen, DateTime::<Utc>::MIN_UTC, started_at);
    let in_phase = Tally::between(&seen, started_at, finished_at);
    let recovering = Tally::between(&seen, injected_at, finished_at);
    let after = Tally::between(&seen, finished_at, DateTime::<Utc>::MAX_UTC);
    println!(
        "API requests before the phase (baseline): {}",
        before.describe()
    );
    println!("API requests in the phase: {}", in_phase.describe());
    for line in in_phase.latency_lines() {
        println!("    {line}");
    }
    println!(
        "  of which after inject (verify until recovered): {}",
        recovering.describe()
    );
    println!(
        "API requests after the phase (rollback, end): {}",
        after.describe()
    );
    let polls: u64 = clock["verify_calls"].as_u64().unwrap_or(0);
    println!(
        "pod changes in the phase: {lost} pods lost, {replaced} replacements Ready; verify calls {polls}; pods x calls = {}; requests in the phase per pod change: {:.2}",
        u64::from(pods) * polls,
        in_phase.total() as f64 / (lost + replaced).max(1) as f64
    );
    Ok(())
}
