//! The same single-pod drill by firedrill (`firedrill run`) and by Chaos Toolkit
//! (`chaos run bench/chaostoolkit/experiment.json`), against one sandbox behind one counting
//! proxy: wall time, API requests, and the recovery-time error each can report.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::cluster::{self, SandboxProcess};
use crate::proxy::{CountingProxy, Tally};
use crate::rto::{self, at};
use crate::stats::{heading, ratio, summarize};

/// The experiment file, in the source tree.
fn experiment() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("chaostoolkit/experiment.json")
}

/// `target/bench/chaostoolkit-venv/bin/chaos` (bench/run installs it), or `$CHAOS_BIN`.
pub(crate) fn chaos_bin() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("CHAOS_BIN") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("skipped: CHAOS_BIN={} is not a file", path.display());
        }
        return Ok(path);
    }
    cluster::venv_program("chaostoolkit-venv", "chaos", "Chaos Toolkit")
}

/// One drill by one tool.
#[derive(Debug)]
pub(crate) struct Sample {
    pub(crate) wall: Duration,
    pub(crate) requests: Tally,
    /// Reported recovery minus the true one, in ms, when the tool reports a recovery.
    pub(crate) error_ms: Option<f64>,
    /// The tool's reported recovery time, in seconds.
    pub(crate) reported: Option<f64>,
    pub(crate) ok: bool,
    /// The tool reported success before the replacement pod was really Ready.
    pub(crate) ended_before_recovery: bool,
}

/// The last Ready time of a `web` pod in `[from, to)`.
fn truth(ground: &Value, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<DateTime<Utc>> {
    ground["podsReady"]
        .as_array()?
        .iter()
        .filter(|p| p["workload"] == "web")
        .filter_map(|p| at(&p["readyAt"]).ok())
        .filter(|ready| *ready >= from && *ready < to)
        .max()
}

async fn firedrill_once(
    sandbox: &SandboxProcess,
    proxy: &CountingProxy,
    config: &Path,
) -> Result<Sample> {
    proxy.reset();
    let finished =
        cluster::run_firedrill(config, &["run", "single-pod", "--output", "json"]).await?;
    let record = cluster::run_record(&finished)?;
    let requests = Tally::of(&proxy.seen());
    let ground = sandbox.get_json("/sandbox/v1/ground-truth").await?;
    let (phases, _) = rto::phase_errors(&record, &ground, "web", &proxy.seen())?;
    let phase = phases.first();
    Ok(Sample {
        wall: finished.wall,
        requests,
        error_ms: phase.map(rto::PhaseError::error_ms),
        reported: phase.map(|p| p.measured),
        ok: record["outcome"]["kind"] == "passed",
        ended_before_recovery: false,
    })
}

pub(crate) async fn chaos_once(
    chaos: &Path,
    sandbox: &SandboxProcess,
    proxy: &CountingProxy,
    dir: &Path,
    kubeconfig: &Path,
) -> Result<Sample> {
    proxy.reset();
    let journal = dir.join("journal.json");
    let _ = std::fs::remove_file(&journal);
    let started = Instant::now();
    let output = tokio::process::Command::new(chaos)
        .args(["--no-version-check", "--settings"])
        .arg(dir.join("settings.yaml"))
        .args(["run", "--journal-path"])
        .arg(&journal)
        .arg(experiment())
        .current_dir(dir)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", dir)
        .stdin(Stdio::null())
        .output()
        .await
        .context("run chaos")?;
    let wall = started.elapsed();
    let requests = Tally::of(&proxy.seen());
    let journal: Value =
        serde_json::from_str(&std::fs::read_to_string(&journal).with_context(|| {
            format!(
                "no journal (exit {:?}); stderr:\n{}",
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            )
        })?)?;
    let run = |name: &str| {
        journal["run"]
            .as_array()
            .and_then(|runs| runs.iter().find(|r| r["activity"]["name"] == name))
            .cloned()
    };
    // What Chaos Toolkit can say about recovery: the journal's end of the terminating
    // action and end of the probe that watched the deployment until fully available.
    let killed = run("terminate-one-web-pod").and_then(|r| at(&r["end"]).ok());
    let recovered = run("web-recovered")
        .filter(|r| r["status"] == "succeeded")
        .and_then(|r| at(&r["end"]).ok());
    // The replacement may become Ready after the experiment ended: wait for it.
    let mut true_ready = None;
    if let Some(killed) = killed {
        let waited = Instant::now();
        while true_ready.is_none() && waited.elapsed() < Duration::from_secs(30) {
            let ground = sandbox.get_json("/sandbox/v1/ground-truth").await?;
            true_ready = truth(&ground, killed, DateTime::<Utc>::MAX_UTC);
            if true_ready.is_none() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let ended = at(&journal["end"]).ok();
    let (reported, error_ms) = match (killed, recovered) {
        (Some(killed), Some(recovered)) => (
            Some((recovered - killed).num_microseconds().unwrap_or(0) as f64 / 1e6),
            true_ready
                .map(|truth| (recovered - truth).num_microseconds().unwrap_or(0) as f64 / 1e3),
        ),
        _ => (None, None),
    };
    let ended_before_recovery = matches!((ended, true_ready), (Some(e), Some(t)) if e < t);
    Ok(Sample {
        wall,
        requests,
        error_ms,
        reported,
        ok: journal["status"] == "completed" && !journal["deviated"].as_bool().unwrap_or(true),
        ended_before_recovery,
    })
}

fn describe(tool: &str, samples: &[Sample]) -> (f64, f64) {
    let walls: Vec<f64> = samples.iter().map(|s| s.wall.as_secs_f64()).collect();
    let requests: Vec<f64> = samples.iter().map(|s| s.requests.total() as f64).collect();
    let errors: Vec<f64> = samples.iter().filter_map(|s| s.error_ms).collect();
    let reported: Vec<f64> = samples.iter().filter_map(|s| s.reported).collect();
    let wall = summarize(&walls);
    let req = summarize(&requests);
    println!(
        "{tool:<13} runs {} ({} passed)  wall median {:.2} s (max {:.2} s)  API requests median {:.0}  reported recovery median {}  error vs truth {}",
        samples.len(),
        samples.iter().filter(|s| s.ok).count(),
        wall.median,
        wall.max,
        req.median,
        if reported.is_empty() {
            "none".into()
        } else {
            format!("{:.3} s", summarize(&reported).median)
        },
        if errors.is_empty() {
            "not measurable".into()
        } else {
            let e = summarize(&errors);
            format!(
                "median {:+.0} ms, min {:+.0} ms, max {:+.0} ms",
                e.median, e.min, e.max
            )
        }
    );
    let premature = samples.iter().filter(|s| s.ended_before_recovery).count();
    if premature > 0 {
        println!(
            "{:<13} {premature} of {} runs reported success and ended before the replacement pod was Ready",
            "",
            samples.len()
        );
    }
    if let Some(last) = samples.last() {
        println!(
            "{:<13} requests of the last run: {}",
            "",
            last.requests.describe()
        );
    }
    (wall.median, req.median)
}

pub async fn run(runs: usize) -> Result<()> {
    heading(&format!(
        "Chaos Toolkit side by side: the single-pod drill, {runs} runs each, one sandbox, counted by one proxy"
    ));
    let dir = tempfile::tempdir()?;
    let sandbox = SandboxProcess::start(dir.path(), rto::PLATFORM).await?;
    let proxy = CountingProxy::start(&sandbox.url).await?;
    let kubeconfig = dir.path().join("proxy.kubeconfig");
    cluster::write_kubeconfig(&kubeconfig, &proxy.url)?;
    let config = rto::config(dir.path(), &kubeconfig, "single-pod", 1)?;

    let mut ours = Vec::new();
    for _ in 0..runs {
        ours.push(firedrill_once(&sandbox, &proxy, &config).await?);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (our_wall, our_requests) = describe("firedrill", &ours);

    let chaos = match chaos_bin() {
        Ok(chaos) => chaos,
        Err(err) => {
            println!("chaostoolkit  {err}");
            return Ok(());
        }
    };
    let mut theirs = Vec::new();
    for _ in 0..runs {
        match chaos_once(&chaos, &sandbox, &proxy, dir.path(), &kubeconfig).await {
            Ok(sample) => theirs.push(sample),
            Err(err) => println!("chaostoolkit  a run failed: {err:#}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    if theirs.is_empty() {
        bail!("every Chaos Toolkit run failed");
    }
    let (their_wall, their_requests) = describe("chaostoolkit", &theirs);
    println!(
        "Chaos Toolkit / firedrill: wall time {}, API requests {}",
        ratio(our_wall, their_wall),
        ratio(our_requests, their_requests)
    );
    println!(
        "(firedrill's wall time covers the whole run: journal, plugin load from the cache, availability probes, evidence chain and report)"
    );
    Ok(())
}
