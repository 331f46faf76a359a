//! Shared helpers for the end-to-end tests: the built binary, a sandbox process, plain HTTP.
//!
//! Tests drive the real `firedrill` binary as an operator would. Everything started here
//! listens on 127.0.0.1 only and is killed when its guard is dropped.
//!
//! # Layout
//!
//! - this file: the binary ([`firedrill`], [`run_json`], [`firedrill_serve`]), its
//!   configuration ([`write_config`]), the sandbox ([`SandboxProcess`]), waits and HTTP.
//! - [`servers`]: real PostgreSQL and Redis servers.
//! - [`prometheus`]: a real Prometheus (and Alertmanager) and PromQL queries.
//! - [`receiver`]: a recording HTTP server on loopback (webhooks, Grafana).
//! - [`browser`]: headless Chromium (DOM, console, screenshots) and raw HTTP exchanges;
//!   [`dom`]: reading the DOM it dumps.

// Test helpers panic with a message on failure: that is how a test reports it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Headless Chromium and raw HTTP, for the web console's browser tests.
pub mod browser;
/// The DOM Chromium dumps, as a tree to query.
pub mod dom;
/// A real Prometheus scraping the daemon, and instant PromQL queries against it.
pub mod prometheus;
/// A recording HTTP server standing in for webhooks and Grafana.
pub mod receiver;
/// Real PostgreSQL and Redis servers for the database adapters' tests.
pub mod servers;
pub mod tls;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// `target/<profile>` of this build.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/<test>-<hash>
    exe.parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps")
        .to_path_buf()
}

/// The `firedrill` binary of this build.
pub fn firedrill_bin() -> PathBuf {
    let bin = target_dir().join("firedrill");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p firedrill` (cargo nextest run builds it)",
        bin.display()
    );
    bin
}

/// A `firedrill` command with a clean environment.
pub fn firedrill() -> Command {
    let mut cmd = Command::new(firedrill_bin());
    cmd.env_remove("FIREDRILL_CONFIG")
        .env_remove("RUST_LOG")
        .env_remove("FIREDRILL_PLUGIN_DIR");
    cmd
}

/// `firedrill -c <config> run <drill> --output json`: its exit code and run record.
pub fn run_json(config: &Path, drill: &str) -> (i32, Value) {
    let output = firedrill()
        .arg("-c")
        .arg(config)
        .args(["run", drill, "--output", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let record = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "no run record ({e}); stdout:\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), record)
}

/// `firedrill -c <config> serve` in its own process, with extra environment variables.
pub fn firedrill_serve(config: &Path, env: &[(&str, &str)]) -> Guard {
    let mut cmd = firedrill();
    cmd.arg("-c").arg(config).arg("serve");
    for (name, value) in env {
        cmd.env(name, value);
    }
    spawn_quiet(&mut cmd)
}

/// The run summaries `GET /api/v1/runs` lists, or none while the API does not answer.
pub fn api_runs(api: &str) -> Vec<Value> {
    http_get(api, "/api/v1/runs")
        .ok()
        .and_then(|body| serde_json::from_str::<Value>(&body).ok())
        .and_then(|runs| runs.as_array().cloned())
        .unwrap_or_default()
}

/// Writes `dir/firedrill.yaml`: storage in `data`, the sandbox as the default target
/// `lab`, then `body` (services, plugins, drills, ...).
pub fn write_config(dir: &Path, sandbox: &SandboxProcess, body: &str) -> PathBuf {
    let text = format!(
        r#"version: 1
storage: {{ path: data }}
targets:
  lab: {{ kind: kubeconfig, kubeconfig: {kubeconfig} }}
default_target: lab
{body}"#,
        kubeconfig = sandbox.kubeconfig.display()
    );
    let path = dir.join("firedrill.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Fails with a clear message when the wasm plugins were not built.
pub fn require_plugins(names: &[&str]) {
    let dir = target_dir().join("..").join("plugins");
    for name in names {
        let path = dir.join(format!("{name}.wasm"));
        assert!(
            path.exists(),
            "{} is missing: build the plugins with `plugins/build` (or `.ci/setup`)",
            path.display()
        );
    }
}

/// A free TCP port on 127.0.0.1 (the listener is closed before returning).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Spawns `command` with its output discarded; it is killed when the guard drops.
pub fn spawn_quiet(command: &mut Command) -> Guard {
    Guard(
        command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {command:?}: {e}")),
    )
}

/// A child process killed (and reaped) on drop.
#[derive(Debug)]
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `firedrill sandbox up` in its own process, with its kubeconfig.
#[derive(Debug)]
pub struct SandboxProcess {
    pub url: String,
    pub kubeconfig: PathBuf,
    _child: Guard,
}

impl SandboxProcess {
    /// Starts the sandbox with an optional platform file and waits until it answers.
    pub fn start(dir: &Path, platform: Option<&str>) -> Self {
        Self::start_files(dir, "sandbox", "platform.yaml", platform)
    }

    /// Starts one of several sandboxes sharing `dir` (two clusters, say a primary and a
    /// DR region): its files are `NAME.kubeconfig` and `NAME-platform.yaml`.
    pub fn start_named(dir: &Path, name: &str, platform: Option<&str>) -> Self {
        Self::start_files(dir, name, &format!("{name}-platform.yaml"), platform)
    }

    fn start_files(dir: &Path, name: &str, platform_file: &str, platform: Option<&str>) -> Self {
        let port = free_port();
        let kubeconfig = dir.join(format!("{name}.kubeconfig"));
        let mut cmd = firedrill();
        cmd.args(["sandbox", "up", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(platform) = platform {
            let path = dir.join(platform_file);
            std::fs::write(&path, platform).unwrap();
            cmd.arg("--platform").arg(path);
        }
        let child = Guard(cmd.spawn().expect("start firedrill sandbox up"));
        let url = format!("http://127.0.0.1:{port}");
        wait_for(Duration::from_secs(30), "the sandbox to answer", || {
            kubeconfig.exists() && http_get(&url, "/version").is_ok()
        });
        Self {
            url,
            kubeconfig,
            _child: child,
        }
    }

    /// Waits up to 60 s until `count` pods matching `selector` in `namespace` are Ready.
    pub fn wait_ready(&self, namespace: &str, selector: &str, count: usize) {
        wait_for(
            Duration::from_secs(60),
            "the sandbox pods to be Ready",
            || {
                let pods = self.get_json(&format!(
                    "/api/v1/namespaces/{namespace}/pods?labelSelector={selector}"
                ));
                pods["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|pod| {
                        pod["status"]["conditions"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
                    .count()
                    >= count
            },
        );
    }

    /// GET a path of the sandbox's API as JSON.
    pub fn get_json(&self, path: &str) -> Value {
        let body = http_get(&self.url, path).unwrap();
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }
}

/// Polls `done` every 100 ms until it holds, panicking after `limit`.
pub fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A plain HTTP/1.0 GET on loopback; the body when the status is 2xx.
pub fn http_get(base: &str, path: &str) -> Result<String, String> {
    http_request(base, "GET", path, &[])
}

/// A plain HTTP/1.0 request on loopback with extra headers; the body when the status is
/// 2xx, else `HTTP <status>: <body>`.
pub fn http_request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<String, String> {
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut request =
        format!("{method} {path} HTTP/1.0\r\nHost: {address}\r\nAccept: application/json\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Content-Length: 0\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or("malformed HTTP response")?;
    let status = head.split_whitespace().nth(1).unwrap_or("000");
    if status.starts_with('2') {
        Ok(body.to_string())
    } else {
        Err(format!("HTTP {status}: {body}"))
    }
}
