//! The processes the benchmarks drive: the `firedrill` binary, `firedrill sandbox up` with
//! a platform file, kubeconfigs, and plain HTTP GETs on loopback.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::process::{Child, Command};

/// The `firedrill` binary: `$FIREDRILL_BIN`, else the one beside this executable
/// (`target/release/firedrill` when built by `bench/run`).
pub fn firedrill_bin() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("FIREDRILL_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().context("the running executable's path")?;
    let bin = exe.with_file_name("firedrill");
    if !bin.is_file() {
        bail!(
            "{} is missing: build it with `cargo build --release -p firedrill` (bench/run does)",
            bin.display()
        );
    }
    Ok(bin)
}

/// `target/plugins`, where `plugins/build` puts the built-in and example plugins.
pub fn plugin_dir() -> Result<PathBuf> {
    let bin = firedrill_bin()?;
    let dir = firedrill_host::paths::plugin_dir_for(&bin)
        .with_context(|| format!("no plugin directory for {}", bin.display()))?;
    if !dir.join("pod-failure.wasm").is_file() {
        bail!(
            "{} has no pod-failure.wasm: run `plugins/build` first",
            dir.display()
        );
    }
    Ok(dir)
}

/// A `firedrill` command with a clean environment.
pub fn firedrill() -> Result<Command> {
    let mut cmd = Command::new(firedrill_bin()?);
    cmd.env_remove("FIREDRILL_CONFIG")
        .env_remove("RUST_LOG")
        .env_remove("FIREDRILL_PLUGIN_DIR")
        .kill_on_drop(true);
    Ok(cmd)
}

/// A free TCP port on 127.0.0.1 (the listener is closed before returning).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A kubeconfig for `server` (plain http, no credentials), written to `path`.
pub fn write_kubeconfig(path: &Path, server: &str) -> Result<()> {
    std::fs::write(path, firedrill_sandbox::kubeconfig(server))
        .with_context(|| format!("write {}", path.display()))
}

/// `firedrill sandbox up` in its own process; killed when dropped.
#[derive(Debug)]
pub struct SandboxProcess {
    pub url: String,
    pub child: Child,
}

impl SandboxProcess {
    /// Starts a sandbox with the platform file `platform` and waits until it answers.
    pub async fn start(dir: &Path, platform: &str) -> Result<Self> {
        Self::start_with(dir, Some(platform)).await
    }

    /// Starts a sandbox with a platform file, or the seed platform, and waits until it
    /// answers.
    pub async fn start_with(dir: &Path, platform: Option<&str>) -> Result<Self> {
        let port = free_port()?;
        let mut cmd = firedrill()?;
        cmd.args(["sandbox", "up", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--kubeconfig")
            .arg(dir.join("sandbox-direct.kubeconfig"));
        if let Some(platform) = platform {
            let platform_path = dir.join("platform.yaml");
            std::fs::write(&platform_path, platform)?;
            cmd.arg("--platform").arg(&platform_path);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start `firedrill sandbox up`")?;
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while http_get(&format!("{url}/version")).await.is_err() {
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the sandbox did not answer within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Self { url, child })
    }

    /// GET a path of the sandbox (directly, not through a proxy) as JSON.
    pub async fn get_json(&self, path: &str) -> Result<serde_json::Value> {
        let body = http_get(&format!("{}{path}", self.url)).await?;
        serde_json::from_str(&body).with_context(|| format!("GET {path}: not JSON"))
    }
}

/// A plain HTTP GET; the body when the status is 2xx.
pub async fn http_get(url: &str) -> Result<String> {
    let client: Client<_, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let response = client.get(url.parse()?).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    let body = String::from_utf8_lossy(&body).into_owned();
    if !status.is_success() {
        bail!("GET {url}: {status}: {body}");
    }
    Ok(body)
}

/// Prints what the figures were measured on.
pub fn print_machine() {
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "Machine: {cpus} CPUs ({model}), load average at start {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}

/// The wall time and output of a finished `firedrill` command.
#[derive(Debug)]
pub struct Finished {
    pub wall: Duration,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `firedrill -c config ARGS...` to the end.
pub async fn run_firedrill(config: &Path, args: &[&str]) -> Result<Finished> {
    let started = Instant::now();
    let output = firedrill()?
        .arg("-c")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("run firedrill {}", args.join(" ")))?;
    Ok(Finished {
        wall: started.elapsed(),
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Parses `run --output json`'s run record, with stderr in the error when it is not one.
pub fn run_record(finished: &Finished) -> Result<serde_json::Value> {
    serde_json::from_str(&finished.stdout).with_context(|| {
        format!(
            "no run record (exit {}); stderr:\n{}",
            finished.code, finished.stderr
        )
    })
}

/// RSS of process `pid` in KiB (0 when it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0)
}

/// Runs `firedrill -c config ARGS...` to the end, sampling its RSS every 100 ms: the
/// samples are (wall time, KiB).
pub async fn run_firedrill_sampled(
    config: &Path,
    args: &[&str],
) -> Result<(Finished, Vec<(chrono::DateTime<chrono::Utc>, u64)>)> {
    let started = Instant::now();
    let child = firedrill()?
        .arg("-c")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("run firedrill {}", args.join(" ")))?;
    let pid = child.id().context("firedrill exited at once")?;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let rss = rss_kib(pid);
                if rss > 0 {
                    samples.push((chrono::Utc::now(), rss));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            samples
        })
    };
    let output = child.wait_with_output().await?;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let samples = sampler.await.unwrap_or_default();
    Ok((
        Finished {
            wall: started.elapsed(),
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        },
        samples,
    ))
}

/// `target/bench/<venv>/bin/<program>`, installed by `bench/run` (its log beside the venv
/// says why when it is not there), for the peer named `peer` in the message.
pub fn venv_program(venv: &str, program: &str, peer: &str) -> Result<PathBuf> {
    let bench = firedrill_bin()?
        .parent()
        .and_then(Path::parent)
        .context("no target directory")?
        .join("bench");
    let path = bench.join(venv).join("bin").join(program);
    if path.is_file() {
        return Ok(path);
    }
    let log = bench.join(format!("{}-install.log", venv.trim_end_matches("-venv")));
    let why = std::fs::read_to_string(log)
        .ok()
        .and_then(|log| {
            log.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "bench/run was not used, or the install was not attempted".into());
    bail!(
        "skipped: {peer} is not installed at {} ({why}); `bench/run` installs it into a venv",
        path.display()
    )
}
