//! The idle daemon: `firedrill serve` with the seed configuration (`firedrill init`: the
//! default schedule, weekly to quarterly, so nothing runs in the window), sampled from
//! /proc for RSS and CPU. Two daemons side by side over the same window: the seed as is
//! (target `sandbox`, embedded in the daemon's process) and the seed pointed at a sandbox
//! in its own process behind the counting proxy (the daemon alone, and its API requests).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cluster::{self, SandboxProcess, free_port, http_get};
use crate::proxy::{CountingProxy, Tally};
use crate::stats::heading;

/// Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    cpu_ticks: u64,
    rss_kib: u64,
}

fn sample(pid: u32) -> Result<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("process {pid} is gone"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0);
    Ok(Sample {
        // utime + stime: fields 14 and 15, 11 and 12 after the state field.
        cpu_ticks: field(11) + field(12),
        rss_kib,
    })
}

/// A process measured over the window.
#[derive(Debug)]
struct Watched {
    label: String,
    pid: u32,
    first: Sample,
    last: Sample,
    peak_rss_kib: u64,
}

impl Watched {
    fn new(label: &str, pid: u32) -> Result<Self> {
        let first = sample(pid)?;
        Ok(Self {
            label: label.into(),
            pid,
            first,
            last: first,
            peak_rss_kib: first.rss_kib,
        })
    }

    fn update(&mut self) -> Result<()> {
        self.last = sample(self.pid)?;
        self.peak_rss_kib = self.peak_rss_kib.max(self.last.rss_kib);
        Ok(())
    }

    fn print(&self, window: Duration) {
        let cpu = (self.last.cpu_ticks - self.first.cpu_ticks) as f64 / TICKS_PER_SECOND;
        println!(
            "{:<48} RSS {:>6.1} MiB (peak {:>6.1})  CPU {:>6.2} s in {:.0} s = {:>5.2}% of one core",
            self.label,
            self.last.rss_kib as f64 / 1024.0,
            self.peak_rss_kib as f64 / 1024.0,
            cpu,
            window.as_secs_f64(),
            cpu / window.as_secs_f64() * 100.0
        );
    }
}

/// Writes the seed configuration to `dir/firedrill.yaml` with the API on a free port,
/// pointed at `kubeconfig` when given.
async fn seed_config(dir: &Path, kubeconfig: Option<&Path>) -> Result<(PathBuf, u16)> {
    let path = dir.join("firedrill.yaml");
    let init = cluster::firedrill()?
        .arg("init")
        .arg("--out")
        .arg(&path)
        .output()
        .await?;
    if !init.status.success() {
        bail!("firedrill init: {}", String::from_utf8_lossy(&init.stderr));
    }
    let port = free_port()?;
    let mut text = std::fs::read_to_string(&path)?.replace(
        "listen: 127.0.0.1:9477",
        &format!("listen: 127.0.0.1:{port}"),
    );
    if let Some(kubeconfig) = kubeconfig {
        text = text
            .replacen(
                "targets:\n",
                &format!(
                    "targets:\n  lab:\n    kind: kubeconfig\n    kubeconfig: {}\n",
                    kubeconfig.display()
                ),
                1,
            )
            .replace("default_target: sandbox", "default_target: lab");
    }
    std::fs::write(&path, text)?;
    Ok((path, port))
}

async fn serve(config: &Path, port: u16) -> Result<tokio::process::Child> {
    let child = cluster::firedrill()?
        .arg("-c")
        .arg(config)
        .arg("serve")
        .env("FIREDRILL_API_TOKEN", "bench-token")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start firedrill serve")?;
    let started = Instant::now();
    while http_get(&format!("http://127.0.0.1:{port}/readyz"))
        .await
        .is_err()
    {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("firedrill serve was not ready within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(child)
}

pub async fn run(window: Duration) -> Result<()> {
    heading(&format!(
        "Daemon idle: `firedrill serve` with the seed configuration, {} s",
        window.as_secs()
    ));
    let embedded_dir = tempfile::tempdir()?;
    let (config, port) = seed_config(embedded_dir.path(), None).await?;
    let embedded = serve(&config, port).await?;

    let external_dir = tempfile::tempdir()?;
    let sandbox = SandboxProcess::start_with(external_dir.path(), None).await?;
    let proxy = CountingProxy::start(&sandbox.url).await?;
    let kubeconfig = external_dir.path().join("proxy.kubeconfig");
    cluster::write_kubeconfig(&kubeconfig, &proxy.url)?;
    let (config, port) = seed_config(external_dir.path(), Some(&kubeconfig)).await?;
    let external = serve(&config, port).await?;

    // Let start-up settle (sessions opened, first schedule computed) before measuring.
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.reset();
    let pid = |child: &tokio::process::Child| child.id().context("a daemon exited");
    let mut watched = vec![
        Watched::new(
            "serve, seed as is (embedded sandbox in-process)",
            pid(&embedded)?,
        )?,
        Watched::new(
            "serve, seed on an external sandbox (daemon only)",
            pid(&external)?,
        )?,
        Watched::new(
            "  the external sandbox process (for reference)",
            sandbox.child.id().context("the sandbox exited")?,
        )?,
    ];
    let started = Instant::now();
    while started.elapsed() < window {
        tokio::time::sleep(Duration::from_secs(1)).await;
        for w in &mut watched {
            w.update()?;
        }
    }
    let elapsed = started.elapsed();
    for w in &watched {
        w.print(elapsed);
    }
    println!(
        "API requests of the daemon on the external sandbox while idle: {}",
        Tally::of(&proxy.seen()).describe()
    );
    drop(embedded);
    drop(external);
    Ok(())
}
