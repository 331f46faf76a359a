//! A real Prometheus (Debian's package) scraping the daemon, its Alertmanager, and instant
//! PromQL queries read back over the HTTP API.

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
