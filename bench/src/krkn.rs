//! A krkn-lib peer: the same single-pod kill, measured by krkn-lib's pod monitor
//! (`krkn_lib.k8s.pod_monitor.select_and_monitor_by_label`, which reports
//! `pod_rescheduling_time` and `pod_readiness_time` per recovered pod), by firedrill (one
//! drill of as many pod-failure phases) and by Chaos Toolkit (`bench/chaostoolkit`),
//! against one sandbox behind one counting proxy. Each tool's error is the instant it
//! says the pod recovered minus the ground-truth Ready time of the replacement.
//!
//! krkn-lib runs from a venv at `target/bench/krkn-venv` (bench/run installs it with pip
//! when missing); the script is `bench/krkn/pod_monitor.py`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use crate::chaos;
use crate::cluster::{self, SandboxProcess};
use crate::proxy::{CountingProxy, Tally};
use crate::rto::{self, at};
use crate::stats::{Summary, heading, summarize};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("krkn/pod_monitor.py")
}

/// The venv's python with krkn-lib importable, or why not.
fn python() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("KRKN_PYTHON") {
        return Ok(PathBuf::from(path));
    }
    cluster::venv_program("krkn-venv", "python", "krkn-lib")
}

fn from_epoch(seconds: f64) -> DateTime<Utc> {
    Utc.timestamp_nanos((seconds * 1e9) as i64)
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().unwrap_or(0) as f64 / 1e6
}

fn line(tool: &str, n: usize, errors: &[f64], early: usize, requests: f64) {
    if errors.is_empty() {
        println!("{tool:<13} {n:>3} rounds, no recovery to compare");
        return;
    }
    let e: Summary = summarize(errors);
    println!(
        "{tool:<13} {:>3} compared  error median {:>+9.1}  p95 {:>+9.1}  max {:>+9.1}  min {:>+9.1} ms  early {early:>3}  requests/round {requests:>6.1}",
        e.n, e.median, e.p95, e.max, e.min
    );
}

pub async fn run(rounds: usize, chaos_runs: usize) -> Result<()> {
    heading(&format!(
        "krkn-lib's pod monitor beside firedrill and Chaos Toolkit: one pod of 3 killed per round, {rounds} rounds, one sandbox, one proxy"
    ));
    let dir = tempfile::tempdir()?;
    let sandbox = SandboxProcess::start(dir.path(), rto::PLATFORM).await?;
    let proxy = CountingProxy::start_with_list_jitter(&sandbox.url, rto::LIST_JITTER).await?;
    let kubeconfig = dir.path().join("proxy.kubeconfig");
    cluster::write_kubeconfig(&kubeconfig, &proxy.url)?;

    // firedrill: one drill of `rounds` pod-failure phases.
    let config = rto::config(dir.path(), &kubeconfig, "peer", rounds)?;
    let finished = cluster::run_firedrill(&config, &["run", "peer", "--output", "json"]).await?;
    let record = cluster::run_record(&finished)?;
    let ground = sandbox.get_json("/sandbox/v1/ground-truth").await?;
    let (ours, _) = rto::phase_errors(&record, &ground, "web", &proxy.seen())?;
    let our_errors: Vec<f64> = ours.iter().map(rto::PhaseError::error_ms).collect();
    let our_requests = Tally::of(&proxy.seen()).total() as f64 / rounds.max(1) as f64;

    // krkn-lib.
    let mut krkn: Option<(Vec<f64>, usize, f64, Vec<String>)> = None;
    match python() {
        Err(err) => println!("krkn-lib      {err}"),
        Ok(python) => {
            proxy.reset();
            let output = tokio::process::Command::new(&python)
                .arg(script())
                .arg(&kubeconfig)
                .args(["rto", "app.kubernetes.io/name=web", &rounds.to_string()])
                .env("HOME", dir.path())
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output()
                .await
                .context("run the krkn-lib script")?;
            let requests = Tally::of(&proxy.seen());
            let ground = sandbox.get_json("/sandbox/v1/ground-truth").await?;
            let ready = ground["podsReady"].as_array().cloned().unwrap_or_default();
            let mut errors = Vec::new();
            let mut notes = Vec::new();
            let mut duration_errors = Vec::new();
            let mut rescheduling = Vec::new();
            for text in String::from_utf8_lossy(&output.stdout).lines() {
                let Ok(round) = serde_json::from_str::<Value>(text) else {
                    continue;
                };
                let n = round["round"].as_u64().unwrap_or(0);
                let (Some(deletion), Some(recovered)) = (
                    round["deletion_event"].as_f64(),
                    round["recovered"].as_array().and_then(|r| r.first()),
                ) else {
                    notes.push(format!(
                        "round {n}: nothing recovered (unrecovered {}, {})",
                        round["unrecovered"], round["error"]
                    ));
                    continue;
                };
                let Some(readiness) = recovered["pod_readiness_time"].as_f64() else {
                    notes.push(format!("round {n}: no pod_readiness_time"));
                    continue;
                };
                let pod = recovered["pod"].as_str().unwrap_or("");
                let Some(truth) = ready
                    .iter()
                    .filter(|p| p["pod"] == pod)
                    .filter_map(|p| at(&p["readyAt"]).ok())
                    .max()
                else {
                    notes.push(format!(
                        "round {n}: {pod} never became Ready by the sandbox"
                    ));
                    continue;
                };
                // krkn-lib's recovery instant: the deletion event plus pod_readiness_time
                // (its READY event's arrival).
                let reported = from_epoch(deletion + readiness);
                errors.push(seconds(truth, reported) * 1e3);
                rescheduling.push(
                    recovered["pod_rescheduling_time"]
                        .as_f64()
                        .unwrap_or(f64::NAN),
                );
                if let (Some(total), Some(requested)) = (
                    recovered["total_recovery_time"].as_f64(),
                    round["delete_requested"].as_f64(),
                ) {
                    duration_errors.push((total - seconds(from_epoch(requested), truth)) * 1e3);
                }
            }
            if !output.status.success() {
                notes.push(format!(
                    "the script exited {:?}: {}",
                    output.status.code(),
                    String::from_utf8_lossy(&output.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                ));
            }
            if !duration_errors.is_empty() {
                let d = summarize(&duration_errors);
                let r = summarize(&rescheduling);
                notes.push(format!(
                    "krkn-lib's total_recovery_time (= pod_rescheduling_time + pod_readiness_time) minus the true outage from the delete request: median {:+.0} ms, min {:+.0}, max {:+.0} (pod_rescheduling_time median {:.3} s is counted twice)",
                    d.median, d.min, d.max, r.median
                ));
            }
            notes.push(format!(
                "krkn-lib's requests over all rounds: {}",
                requests.describe()
            ));
            let early = errors.iter().filter(|e| **e < 0.0).count();
            krkn = Some((
                errors,
                early,
                requests.total() as f64 / rounds.max(1) as f64,
                notes,
            ));
        }
    }

    // Chaos Toolkit.
    let mut theirs = Vec::new();
    match chaos::chaos_bin() {
        Err(err) => println!("chaostoolkit  {err}"),
        Ok(bin) => {
            for _ in 0..chaos_runs {
                match chaos::chaos_once(&bin, &sandbox, &proxy, dir.path(), &kubeconfig).await {
                    Ok(sample) => theirs.push(sample),
                    Err(err) => println!("chaostoolkit  a run failed: {err:#}"),
                }
            }
        }
    }

    println!(
        "error = the instant the tool says the pod recovered - the replacement's ground-truth Ready time"
    );
    let our_early = our_errors.iter().filter(|e| **e < 0.0).count();
    line("firedrill", rounds, &our_errors, our_early, our_requests);
    if let Some((errors, early, requests, notes)) = &krkn {
        line("krkn-lib", rounds, errors, *early, *requests);
        for note in notes {
            println!("{:<13} {note}", "");
        }
    }
    if !theirs.is_empty() {
        let errors: Vec<f64> = theirs.iter().filter_map(|s| s.error_ms).collect();
        let early = errors.iter().filter(|e| **e < 0.0).count();
        let requests = summarize(
            &theirs
                .iter()
                .map(|s| s.requests.total() as f64)
                .collect::<Vec<_>>(),
        );
        line("chaostoolkit", theirs.len(), &errors, early, requests.mean);
        let premature = theirs.iter().filter(|s| s.ended_before_recovery).count();
        println!(
            "{:<13} {premature} of {} runs ended (reported success) before the replacement was Ready",
            "",
            theirs.len()
        );
    }
    Ok(())
}
