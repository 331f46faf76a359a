//! The availability prober on one core: `HttpProber` (the daemon's adapter) on a
//! single-threaded runtime, probing a local HTTP endpoint (served from another thread) as
//! fast as it can, every latency recorded into the engine's `LatencyHistogram`. Prints
//! probes per second, the p95 the histogram reports (what a run record says) and the exact
//! p95 over every sample.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use firedrill::adapters::prober::HttpProber;
use firedrill::engine::ports::{ProbeTarget, Prober};
use firedrill_core::config::Probe;
use firedrill_core::measure::LatencyHistogram;
use http_body_util::Full;
use hyper::Response;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use crate::stats::{heading, quantile};

/// Serves `200 ok` on a free loopback port from its own thread and runtime.
fn endpoint() -> Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let url = format!("http://{}/healthz", listener.local_addr()?);
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let service = service_fn(|_| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    Ok(url)
}

struct Measured {
    probes: usize,
    failed: usize,
    elapsed: Duration,
    histogram_p95: f64,
    exact_p95: f64,
    exact_median: f64,
    cpu: Duration,
}

/// Thread CPU time (user + system) of the calling thread.
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 (1-based), 11 and 12 after the state field.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Probes with `concurrency` probes in flight for `duration`, on one thread.
fn measure(url: &str, concurrency: usize, duration: Duration) -> Result<Measured> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let kube = kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse()?))?;
        let prober = Arc::new(HttpProber::new(kube)?);
        let target = Arc::new(ProbeTarget {
            service: "bench".into(),
            probe: Probe::Url(url.to_string()),
        });
        let cpu_before = thread_cpu();
        let started = Instant::now();
        let deadline = started + duration;
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let (prober, target) = (prober.clone(), target.clone());
            workers.spawn(async move {
                let mut samples = Vec::new();
                while Instant::now() < deadline {
                    let outcome = prober.probe(&target, Duration::from_secs(1)).await;
                    samples.push((outcome.ok, outcome.latency));
                }
                samples
            });
        }
        let mut samples = Vec::new();
        while let Some(done) = workers.join_next().await {
            samples.extend(done.context("probe worker")?);
        }
        let elapsed = started.elapsed();
        let cpu = thread_cpu().saturating_sub(cpu_before);
        let mut histogram = LatencyHistogram::default();
        let mut exact: Vec<f64> = Vec::with_capacity(samples.len());
        for (_, latency) in &samples {
            histogram.record(*latency);
            exact.push(latency.as_secs_f64());
        }
        exact.sort_by(f64::total_cmp);
        Ok(Measured {
            probes: samples.len(),
            failed: samples.iter().filter(|(ok, _)| !ok).count(),
            elapsed,
            histogram_p95: histogram.quantile_seconds(0.95).unwrap_or(f64::NAN),
            exact_p95: quantile(&exact, 0.95),
            exact_median: quantile(&exact, 0.5),
            cpu,
        })
    })
}

pub async fn run(duration: Duration) -> Result<()> {
    heading("Probe engine: HttpProber on one thread against a local endpoint");
    let url = endpoint()?;
    println!(
        "{:>11} {:>9} {:>10} {:>11} {:>14} {:>12} {:>10} {:>8}",
        "in flight", "probes", "failed", "probes/s", "reported p95", "exact p95", "median", "CPU"
    );
    for concurrency in [1, 16] {
        let url = url.clone();
        let m = tokio::task::spawn_blocking(move || measure(&url, concurrency, duration))
            .await
            .context("probe thread")??;
        println!(
            "{concurrency:>11} {:>9} {:>10} {:>11.0} {:>11.3} ms {:>9.3} ms {:>7.3} ms {:>7.0}%",
            m.probes,
            m.failed,
            m.probes as f64 / m.elapsed.as_secs_f64(),
            m.histogram_p95 * 1e3,
            m.exact_p95 * 1e3,
            m.exact_median * 1e3,
            m.cpu.as_secs_f64() / m.elapsed.as_secs_f64() * 100.0,
        );
    }
    println!(
        "(reported p95: the engine's HDR histogram, 3 significant digits, as in run records; exact: nearest rank over every sample)"
    );
    Ok(())
}
