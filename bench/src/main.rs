//! `firedrill-bench`: the benchmark suite of BENCHMARKS.md, one subcommand per benchmark.
//!
//! Every figure is printed, never asserted. The benchmarks drive the real `firedrill`
//! binary (built beside this one) against sandboxes in their own processes, behind a
//! counting reverse proxy, so request counts are what crossed the wire.
//!
//! # Layout
//! - [`cluster`]: the `firedrill` binary, sandbox processes, kubeconfigs, plain HTTP.
//! - [`proxy`]: `CountingProxy`, a reverse proxy that records every API request.
//! - [`stats`]: quantiles and formatting.
//! - [`rto`]: RTO measurement error against the sandbox's ground truth.
//! - [`chaos`]: the same pod-failure drill by Chaos Toolkit, side by side.
//! - [`krkn`]: krkn-lib's pod monitor beside firedrill and Chaos Toolkit.
//! - [`cache`]: memory of a phase's cluster watch (`KubeWatches`) per 1,000 pods.
//! - [`plugins`]: plugin compile, cached instantiate and host-call costs.
//! - [`probe`]: the availability prober's throughput on one core and its p95.
//! - [`scale`]: `plan` and a zone drill over 5,000 pods and 300 nodes.
//! - [`idle`]: RSS and CPU of an idle `serve`.

mod cache;
mod chaos;
mod cluster;
mod idle;
mod krkn;
mod plugins;
mod probe;
mod proxy;
mod rto;
mod scale;
mod stats;

use std::time::{Duration, Instant};

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Benchmarks of firedrill; see BENCHMARKS.md. Build with `--release` (bench/run does).
#[derive(Debug, Parser)]
#[command(name = "firedrill-bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// RTO measurement error over pod-failure phases against the sandbox's ground truth.
    Rto {
        /// Pod-failure phases (one drill).
        #[arg(long, default_value_t = 100)]
        phases: usize,
    },
    /// The same single-pod drill by firedrill and by Chaos Toolkit: wall time, requests.
    Chaostoolkit {
        /// Runs of each tool.
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// krkn-lib's pod monitor, firedrill and Chaos Toolkit on the same kill: error vs truth.
    Krkn {
        /// Rounds of krkn-lib and phases of firedrill.
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        /// Chaos Toolkit runs (each starts a Python process).
        #[arg(long, default_value_t = 5)]
        chaos_runs: usize,
    },
    /// Memory of a phase's cluster watch (firedrill's `KubeWatches`) at several sizes.
    Cache {
        /// Deployments of 100 pods per size (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "10,50")]
        deployments: Vec<u32>,
    },
    /// (internal) The child process of `cache`.
    #[command(hide = true)]
    CacheProbe {
        #[arg(long)]
        url: String,
        #[arg(long)]
        deployments: u32,
    },
    /// Plugin costs: first-load compile, instantiate from the cache, host-call overhead.
    Plugins {
        /// Calls per measurement.
        #[arg(long, default_value_t = 200)]
        calls: u32,
    },
    /// Probes per second on one core against a local endpoint, and the reported p95.
    Probe {
        /// Seconds of probing.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// `plan` and a zone drill over 5,000 pods / 300 nodes: time and API requests.
    Scale {
        /// Deployments of 100 replicas each (50 gives 5,000 pods).
        #[arg(long, default_value_t = 50)]
        deployments: u32,
        /// Nodes per zone (three zones; 100 gives 300 nodes).
        #[arg(long, default_value_t = 100)]
        nodes_per_zone: u32,
    },
    /// RSS and CPU of `firedrill serve` with the seed's schedule.
    Idle {
        /// Seconds measured.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// Every benchmark with its default size, one after the other.
    All,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let started = Instant::now();
    match cli.command {
        Command::Rto { phases } => rto::run(phases).await?,
        Command::Chaostoolkit { runs } => chaos::run(runs).await?,
        Command::Krkn { rounds, chaos_runs } => krkn::run(rounds, chaos_runs).await?,
        Command::Cache { deployments } => cache::run(&deployments).await?,
        Command::CacheProbe { url, deployments } => {
            cache::probe(&url, deployments).await?;
            return Ok(());
        }
        Command::Plugins { calls } => plugins::run(calls).await?,
        Command::Probe { seconds } => probe::run(Duration::from_secs(seconds)).await?,
        Command::Scale {
            deployments,
            nodes_per_zone,
        } => scale::run(deployments, nodes_per_zone).await?,
        Command::Idle { seconds } => idle::run(Duration::from_secs(seconds)).await?,
        Command::All => all().await,
    }
    println!(
        "\nTotal time: {:.0} s",
        started.elapsed().as_secs_f64().round()
    );
    Ok(())
}

/// Runs every benchmark; one failing is reported and the others still run.
async fn all() {
    cluster::print_machine();
    report("plugins", plugins::run(200).await);
    report("probe", probe::run(Duration::from_secs(5)).await);
    report("rto", rto::run(100).await);
    report("chaostoolkit", chaos::run(5).await);
    report("krkn", krkn::run(20, 5).await);
    report("scale", scale::run(50, 100).await);
    // The 1,000-pod size is the one the first run could complete (BENCHMARKS.md, "Found
    // slow"); it is kept so that its recovery and per-change figures stay comparable.
    report("scale (small)", scale::run(10, 20).await);
    report("cache", cache::run(&[10, 50]).await);
    report("idle", idle::run(Duration::from_secs(60)).await);
}

fn report(name: &str, result: Result<()>) {
    if let Err(err) = result {
        println!("\n{name}: FAILED: {err:#}");
    }
}
