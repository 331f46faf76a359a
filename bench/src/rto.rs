//! RTO measurement error: one drill of N pod-failure phases run by `firedrill run` against
//! a sandbox process; each phase's `recovery_seconds` is compared with the sandbox's ground
//! truth (when the replacement pod really became Ready, minus `injected_at`).

use std::path::Path;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::cluster::{self, SandboxProcess};
use crate::proxy::{CountingProxy, Tally};
use crate::stats::{self, heading, summarize};

/// One deployment of three replicas over two zones; replacements start after 300 ms
/// (plus the kubelet's 1 s readiness delay, both with +/-20% jitter).
pub const PLATFORM: &str = r#"
namespace: rto
zones: [zone-a, zone-b]
nodesPerZone: 1
deployments:
  - name: web
    replicas: 3
    startDelay: 300ms
"#;

/// The configuration of the RTO drills: the `web` service, probed once a second through
/// the service proxy, and a drill `name` of `phases` pod-failure phases.
pub fn config(
    dir: &Path,
    kubeconfig: &Path,
    name: &str,
    phases: usize,
) -> Result<std::path::PathBuf> {
    let mut text = format!(
        r#"version: 1
storage: {{ path: data }}
targets:
  lab: {{ kind: kubeconfig, kubeconfig: {kubeconfig} }}
default_target: lab
services:
  web:
    namespace: rto
    selector: app.kubernetes.io/name=web
    probes: [{{ service_proxy: {{ service: web, port: http, path: /healthz }} }}]
probing: {{ interval: 1s, timeout: 1s }}
plugins:
  grants:
    pod-failure:
      kubernetes: [{{ verbs: [list, delete], namespaces: [rto] }}]
drills:
  {name}:
    phases:
"#,
        kubeconfig = kubeconfig.display()
    );
    for i in 1..=phases {
        text.push_str(&format!(
            "      - {{ name: kill-{i:03}, scenario: pod-failure, objectives: {{ rto: 2m }} }}\n"
        ));
    }
    let path = dir.join("firedrill.yaml");
    std::fs::write(&path, text)?;
    Ok(path)
}

pub fn at(value: &Value) -> Result<DateTime<Utc>> {
    value
        .as_str()
        .with_context(|| format!("not a timestamp: {value}"))?
        .parse()
        .with_context(|| format!("not a timestamp: {value}"))
}

/// One measured phase.
#[derive(Debug, Clone)]
pub struct PhaseError {
    pub name: String,
    /// firedrill's `recovery_seconds`.
    pub measured: f64,
    /// Ground truth: the last replacement's Ready time minus `injected_at`.
    pub truth: f64,
    pub verify_calls: Option<u64>,
    pub requests: Tally,
}

impl PhaseError {
    pub fn error_ms(&self) -> f64 {
        (self.measured - self.truth) * 1e3
    }
}

/// Compares every phase of `record` with the sandbox's ground truth for `workload`.
pub fn phase_errors(
    record: &Value,
    ground: &Value,
    workload: &str,
    seen: &[crate::proxy::Seen],
) -> Result<(Vec<PhaseError>, Vec<String>)> {
    let phases = record["phases"]
        .as_array()
        .context("no phases in the run record")?;
    let ready = ground["podsReady"]
        .as_array()
        .context("no podsReady in the ground truth")?;
    let finished = at(&record["finished_at"])?;
    let mut measured = Vec::new();
    let mut problems = Vec::new();
    for (i, phase) in phases.iter().enumerate() {
        let name = phase["name"].as_str().unwrap_or("?").to_string();
        let (Some(seconds), Ok(injected)) = (
            phase["recovery_seconds"].as_f64(),
            at(&phase["injected_at"]),
        ) else {
            problems.push(format!(
                "{name}: no recovery measured ({})",
                phase["verdict"]
            ));
            continue;
        };
        let until = match phases.get(i + 1) {
            Some(next) => at(&next["started_at"])?,
            None => finished,
        };
        let truth = ready
            .iter()
            .filter(|p| p["workload"] == workload)
            .filter_map(|p| at(&p["readyAt"]).ok())
            .filter(|ready| *ready >= injected && *ready < until)
            .max();
        let Some(truth) = truth else {
            problems.push(format!("{name}: no replacement became Ready in the phase"));
            continue;
        };
        let verify_calls = phase["detection"].as_str().and_then(|d| {
            d.rsplit_once(", ")
                .and_then(|(_, calls)| calls.trim_end_matches(" calls)").parse().ok())
        });
        let started = at(&phase["started_at"])?;
        let phase_end = at(&phase["finished_at"]).unwrap_or(until);
        measured.push(PhaseError {
            name,
            measured: seconds,
            truth: (truth - injected).num_microseconds().unwrap_or(0) as f64 / 1e6,
            verify_calls,
            requests: Tally::between(seen, started, phase_end),
        });
    }
    Ok((measured, problems))
}

pub async fn run(phases: usize) -> Result<()> {
    heading(&format!(
        "RTO measurement error: {phases} pod-failure phases, firedrill vs the sandbox's ground truth"
    ));
    let dir = tempfile::tempdir()?;
    let sandbox = SandboxProcess::start(dir.path(), PLATFORM).await?;
    let proxy = CountingProxy::start(&sandbox.url).await?;
    let kubeconfig = dir.path().join("proxy.kubeconfig");
    cluster::write_kubeconfig(&kubeconfig, &proxy.url)?;
    let config = config(dir.path(), &kubeconfig, "rto", phases)?;
    let finished = cluster::run_firedrill(&config, &["run", "rto", "--output", "json"]).await?;
    let record = cluster::run_record(&finished)?;
    let ground = sandbox.get_json("/sandbox/v1/ground-truth").await?;
    let (measured, problems) = phase_errors(&record, &ground, "web", &proxy.seen())?;
    for problem in &problems {
        println!("  skipped {problem}");
    }
    if measured.is_empty() {
        bail!("no phase could be compared with the ground truth");
    }
    let errors: Vec<f64> = measured.iter().map(PhaseError::error_ms).collect();
    let error = summarize(&errors);
    let truth = summarize(&measured.iter().map(|p| p.truth).collect::<Vec<_>>());
    println!(
        "drill: {} phases in {} (outcome {}), {} compared",
        phases,
        stats::secs(finished.wall),
        record["outcome"]["kind"].as_str().unwrap_or("?"),
        error.n
    );
    println!(
        "true recovery (Ready - injected_at): median {:.3} s, min {:.3} s, max {:.3} s",
        truth.median, truth.min, truth.max
    );
    println!(
        "error (measured - true), ms: median {:.1}, p95 {:.1}, max {:.1}, min {:.1}, mean {:.1}   target p95 < 100 ms: {}",
        error.median,
        error.p95,
        error.max,
        error.min,
        error.mean,
        if error.p95.abs() < 100.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    if let Some(worst) = measured
        .iter()
        .max_by(|a, b| a.error_ms().abs().total_cmp(&b.error_ms().abs()))
    {
        println!(
            "largest error: {} ({:+.1} ms; measured {:.3} s, true {:.3} s)",
            worst.name,
            worst.error_ms(),
            worst.measured,
            worst.truth
        );
    }
    let early = errors.iter().filter(|e| **e < 0.0).count();
    println!("phases measured before the true recovery (negative error): {early}");
    let calls: Vec<f64> = measured
        .iter()
        .filter_map(|p| p.verify_calls.map(|c| c as f64))
        .collect();
    if !calls.is_empty() {
        let calls = summarize(&calls);
        println!(
            "verify calls per phase: median {:.0}, max {:.0}",
            calls.median, calls.max
        );
    }
    let mut all = Tally::default();
    for phase in &measured {
        all.add(&phase.requests);
    }
    println!(
        "API requests per phase (mean over phases): {:.1}; by kind over all phases: {}",
        all.total() as f64 / measured.len() as f64,
        all.describe()
    );
    Ok(())
}
