//! RTO measurement error: one drill of N pod-failure phases run by `firedrill run` against
//! a sandbox process; each phase's `recovered_at` is compared with the sandbox's ground
//! truth (when the replacement pod the record names really became Ready; both wall
//! clock), with the clock (`clock.verify_calls`, `clock.stopped_by`) and the API requests
//! of each phase by kind.

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
    /// Ground truth: the replacement's Ready time minus the clock's start (`clock.started_at`,
    /// else `injected_at`).
    pub truth: f64,
    /// firedrill's `recovered_at` minus the replacement's ground-truth Ready time, in ms
    /// (both wall clock).
    pub error_ms: f64,
    /// `clock.verify_calls` (or the count in `detection` for older records).
    pub verify_calls: Option<u64>,
    /// `clock.stopped_by`: `watch-event` or `verify-call`.
    pub stopped_by: String,
    /// Whether the replacement was found by name from the record's `pods` list (else by
    /// the phase's time window).
    pub by_name: bool,
    pub requests: Tally,
}

impl PhaseError {
    pub fn error_ms(&self) -> f64 {
        self.error_ms
    }
}

/// `rto/web-abc12` -> `web-abc12`.
fn pod_name(qualified: &str) -> &str {
    qualified
        .rsplit_once('/')
        .map_or(qualified, |(_, name)| name)
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().unwrap_or(0) as f64 / 1e6
}

/// Compares every phase of `record` with the sandbox's ground truth for `workload`: the
/// phase's `recovered_at` against the ground-truth Ready time of the replacement its
/// `pods` list names (the last one when several), or, for a record without one, the last
/// `workload` pod that became Ready within the phase.
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
        let (Some(seconds_measured), Ok(recovered), Ok(injected)) = (
            phase["recovery_seconds"].as_f64(),
            at(&phase["recovered_at"]),
            at(&phase["injected_at"]),
        ) else {
            problems.push(format!(
                "{name}: no recovery measured ({})",
                phase["verdict"]
            ));
            continue;
        };
        let clock = &phase["clock"];
        let started = at(&clock["started_at"]).unwrap_or(injected);
        let until = match phases.get(i + 1) {
            Some(next) => at(&next["started_at"])?,
            None => finished,
        };
        let replacements: Vec<&str> = phase["pods"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["replacement"].as_str())
            .map(pod_name)
            .collect();
        let by_name = !replacements.is_empty();
        let truth = if by_name {
            ready
                .iter()
                .filter(|p| p["pod"].as_str().is_some_and(|n| replacements.contains(&n)))
                .filter_map(|p| at(&p["readyAt"]).ok())
                .max()
        } else {
            ready
                .iter()
                .filter(|p| p["workload"] == workload)
                .filter_map(|p| at(&p["readyAt"]).ok())
                .filter(|ready| *ready >= started.min(injected) && *ready < until)
                .max()
        };
        let Some(truth) = truth else {
            problems.push(format!(
                "{name}: no replacement became Ready in the phase (record names {replacements:?})"
            ));
            continue;
        };
        let verify_calls = clock["verify_calls"].as_u64().or_else(|| {
            phase["detection"].as_str().and_then(|d| {
                d.rsplit_once(", ")
                    .and_then(|(_, calls)| calls.trim_end_matches(" calls)").parse().ok())
            })
        });
        let phase_start = at(&phase["started_at"])?;
        let phase_end = at(&phase["finished_at"]).unwrap_or(until);
        measured.push(PhaseError {
            name,
            measured: seconds_measured,
            truth: seconds(started, truth),
            error_ms: seconds(truth, recovered) * 1e3,
            verify_calls,
            stopped_by: clock["stopped_by"]
                .as_str()
                .unwrap_or("(no clock)")
                .to_string(),
            by_name,
            requests: Tally::between(seen, phase_start, phase_end),
        });
    }
    Ok((measured, problems))
}

/// Up to this much delay is added, uniformly at random, to each `list pods` request the
/// proxy forwards in `rto` (a phase's plan reads the pods before the fault): the sandbox's
/// controllers reconcile on a 100 ms tick and each phase starts from the previous one's
/// recovery, so without it every fault would keep the same offset to that tick, and a
/// grid counted from the fault would always be equally lucky.
pub const LIST_JITTER: std::time::Duration = std::time::Duration::from_millis(100);

pub async fn run(phases: usize) -> Result<()> {
    heading(&format!(
        "RTO measurement error: {phases} pod-failure phases, firedrill vs the sandbox's ground truth"
    ));
    let dir = tempfile::tempdir()?;
    let sandbox = SandboxProcess::start(dir.path(), PLATFORM).await?;
    let proxy = CountingProxy::start_with_list_jitter(&sandbox.url, LIST_JITTER).await?;
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
    print_errors(&measured, phases, &finished, &record);
    Ok(())
}

/// Prints the error, clock and request figures of `measured` (firedrill's phases).
pub fn print_errors(
    measured: &[PhaseError],
    phases: usize,
    finished: &cluster::Finished,
    record: &Value,
) {
    let errors: Vec<f64> = measured.iter().map(PhaseError::error_ms).collect();
    let error = summarize(&errors);
    let truth = summarize(&measured.iter().map(|p| p.truth).collect::<Vec<_>>());
    println!(
        "drill: {} phases in {} (outcome {}), {} compared ({} by the replacement's name from the record's pods list)",
        phases,
        stats::secs(finished.wall),
        record["outcome"]["kind"].as_str().unwrap_or("?"),
        error.n,
        measured.iter().filter(|p| p.by_name).count()
    );
    println!(
        "true recovery (replacement Ready - clock start): median {:.3} s, min {:.3} s, max {:.3} s",
        truth.median, truth.min, truth.max
    );
    // Where the Ready instants fall against a 100 ms grid counted from each clock start:
    // spread over 0-100 when nothing aligns them.
    let phase_ms: Vec<f64> = measured
        .iter()
        .map(|p| (p.truth * 1e3).rem_euclid(100.0))
        .collect();
    let offsets = summarize(&phase_ms);
    let spread = offsets.p95 - offsets.min;
    println!(
        "replacement Ready - clock start, mod 100 ms: min {:.0}, median {:.0}, p95 {:.0}, max {:.0} ({})",
        offsets.min,
        offsets.median,
        offsets.p95,
        offsets.max,
        if spread >= 50.0 {
            "spread over a 100 ms grid from the clock start: a poll on it would err by up to 100 ms"
        } else {
            "bunched: the sandbox's Ready times keep the same offset to a 100 ms grid from the clock start"
        }
    );
    println!(
        "error (recovered_at - replacement Ready), ms: median {:+.1}, p95 {:+.1}, max {:+.1}, min {:+.1}, mean {:+.1}   target p95 <= 20 ms: {}",
        error.median,
        error.p95,
        error.max,
        error.min,
        error.mean,
        if error.p95 <= 20.0 { "met" } else { "NOT met" }
    );
    if let Some(worst) = measured
        .iter()
        .max_by(|a, b| a.error_ms().abs().total_cmp(&b.error_ms().abs()))
    {
        println!(
            "largest error: {} ({:+.1} ms; measured {:.3} s, true {:.3} s, stopped by {})",
            worst.name,
            worst.error_ms(),
            worst.measured,
            worst.truth,
            worst.stopped_by
        );
    }
    let early = errors.iter().filter(|e| **e < 0.0).count();
    println!(
        "phases measured early (recovered_at before the replacement was Ready): {early}   target 0: {}",
        if early == 0 { "met" } else { "NOT met" }
    );
    let calls: Vec<f64> = measured
        .iter()
        .filter_map(|p| p.verify_calls.map(|c| c as f64))
        .collect();
    if !calls.is_empty() {
        let calls = summarize(&calls);
        println!(
            "verify calls per phase (clock.verify_calls): median {:.0}, min {:.0}, max {:.0}, mean {:.1}",
            calls.median, calls.min, calls.max, calls.mean
        );
    }
    let mut stopped: std::collections::BTreeMap<&str, (usize, Vec<f64>)> = Default::default();
    for p in measured {
        let entry = stopped.entry(p.stopped_by.as_str()).or_default();
        entry.0 += 1;
        entry.1.push(p.error_ms);
    }
    for (by, (n, errors)) in &stopped {
        let e = summarize(errors);
        println!(
            "stopped_by {by}: {n} phases; error median {:+.1}, p95 {:+.1}, max {:+.1}, min {:+.1} ms",
            e.median, e.p95, e.max, e.min
        );
    }
    let mut all = Tally::default();
    for phase in measured {
        all.add(&phase.requests);
    }
    let n = measured.len() as f64;
    println!(
        "API requests per phase, by kind (mean over {} phases; one service per phase):",
        measured.len()
    );
    for (class, count) in &all.by_class {
        println!("    {class:<24} {:>6.2}", *count as f64 / n);
    }
    let is_probe = |class: &str| class.starts_with("probe");
    // One watch is its initial list and its stream (a reflector cannot have one without
    // the other).
    let is_watch = |class: &str| class.starts_with("watch ") || class.ends_with("initial list)");
    let per_phase = |keep: &dyn Fn(&str) -> bool| -> Vec<f64> {
        measured
            .iter()
            .map(|p| {
                p.requests
                    .by_class
                    .iter()
                    .filter(|(c, _)| keep(c))
                    .map(|(_, n)| *n as f64)
                    .sum()
            })
            .collect()
    };
    let api = summarize(&per_phase(&|c| !is_probe(c) && !is_watch(c)));
    let watches = summarize(&per_phase(&|c| is_watch(c)));
    let probes = summarize(&per_phase(&|c| is_probe(c)));
    println!(
        "requests per service-phase: {:.2} in all; API requests other than the watch mean {:.2}, max {:.0}; the watch (initial list + stream) mean {:.2}, max {:.0}; availability probes (service proxy) mean {:.2}",
        all.total() as f64 / n,
        api.mean,
        api.max,
        watches.mean,
        watches.max,
        probes.mean
    );
    let over = per_phase(&|c| !is_probe(c) && !is_watch(c))
        .iter()
        .filter(|n| **n > 3.0)
        .count();
    println!(
        "   target <= 3 requests plus one watch per pod-failure service-phase: {} (mean; {over} of {} phases above 3: the first phase to meet a node reads its zone, once per run)",
        if api.mean <= 3.05 && watches.max <= 2.0 {
            "met"
        } else {
            "NOT met"
        },
        measured.len()
    );
}
