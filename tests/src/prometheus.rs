//! A real Prometheus (Debian's package) scraping the daemon, its Alertmanager, and instant
//! and range PromQL queries read back over the HTTP API.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::{Guard, free_port, http_get, spawn_quiet, wait_for};

const PROMETHEUS: &str = "/usr/bin/prometheus";

/// Starts Prometheus scraping `target` (`host:port`) every second as job `firedrill`, its
/// files in `dir`; its URL once it is ready.
pub fn start(dir: &Path, target: &str) -> (String, Guard) {
    assert!(
        Path::new(PROMETHEUS).exists(),
        "{PROMETHEUS} is missing: `apt-get install prometheus` (.ci/setup and `bash helm/test.sh --install-only` do)"
    );
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: firedrill\n    static_configs:\n      - targets: ['{target}']\n"),
    )
    .unwrap();
    start_server(
        Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            )),
        "Prometheus",
    )
}

/// Starts a Prometheus-family server (Prometheus, Alertmanager) on a free loopback port
/// and waits up to 30 s for its `/-/ready`; its URL.
pub fn start_server(command: &mut Command, what: &str) -> (String, Guard) {
    let port = free_port();
    let child = spawn_quiet(command.arg(format!("--web.listen-address=127.0.0.1:{port}")));
    let url = format!("http://127.0.0.1:{port}");
    wait_for(
        Duration::from_secs(30),
        &format!("{what} to be ready"),
        || http_get(&url, "/-/ready").is_ok(),
    );
    (url, child)
}

/// `text` percent-encoded for a query string.
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The answer of an instant query, whatever its status.
pub fn instant_query(prometheus: &str, promql: &str) -> Result<Value, String> {
    let body = http_get(
        prometheus,
        &format!("/api/v1/query?query={}", url_encode(promql)),
    )?;
    serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))
}

/// The single value of an instant query, if it has one.
pub fn scalar(prometheus: &str, promql: &str) -> Option<f64> {
    instant_query(prometheus, promql).ok()?["data"]["result"][0]["value"][1]
        .as_str()?
        .parse()
        .ok()
}

/// A tiny metrics endpoint the test controls: `GET /metrics` answers whatever text was
/// last [`Exporter::set`], as an application's exporter would. Stopped when dropped.
pub struct Exporter {
    /// `127.0.0.1:PORT`, for a scrape config.
    pub address: String,
    text: std::sync::Arc<std::sync::Mutex<String>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Exporter {
    /// Serves `text` (Prometheus text format) on a free loopback port.
    pub fn start(text: &str) -> Self {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let shared = std::sync::Arc::new(std::sync::Mutex::new(text.to_string()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (served, stopping) = (shared.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let body = served.lock().unwrap().clone();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self {
            address,
            text: shared,
            stop,
            thread: Some(thread),
        }
    }

    /// What the next scrape sees.
    pub fn set(&self, text: &str) {
        *self.text.lock().unwrap() = text.to_string();
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = std::net::TcpStream::connect(&self.address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The answer of a range query over `[start, end]` (Unix seconds) at `step` (`1s`, `15`),
/// as Grafana sends for a time series or an annotation, whatever its status.
pub fn range_query(
    prometheus: &str,
    promql: &str,
    start: f64,
    end: f64,
    step: &str,
) -> Result<Value, String> {
    let body = http_get(
        prometheus,
        &format!(
            "/api/v1/query_range?query={}&start={start:.3}&end={end:.3}&step={}",
            url_encode(promql),
            url_encode(step)
        ),
    )?;
    serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))
}
