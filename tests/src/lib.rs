//! Shared helpers for the end-to-end tests: the built binary, a sandbox process, plain HTTP.
//!
//! Tests drive the real `firedrill` binary as an operator would. Everything started here
//! listens on 127.0.0.1 only and is killed when its guard is dropped.

// Test helpers panic with a message on failure: that is how a test reports it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Real PostgreSQL and Redis servers for the database adapters' tests.
pub mod servers;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
        let port = free_port();
        let kubeconfig = dir.join("sandbox.kubeconfig");
        let mut cmd = firedrill();
        cmd.args(["sandbox", "up", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(platform) = platform {
            let path = dir.join("platform.yaml");
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

    /// GET a path of the sandbox's API as JSON.
    pub fn get_json(&self, path: &str) -> serde_json::Value {
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
