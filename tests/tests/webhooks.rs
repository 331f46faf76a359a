//! Webhooks and Grafana annotations end to end: the real binary runs a drill against a
//! sandbox process and a recording HTTP receiver on loopback gets the `started` and
//! `finished` summaries (figures as recorded, headers from env and file secrets), the
//! Slack message and one annotation per phase; no secret reaches the output or the store.
//! Then `firedrill serve` with its receiver down: the pushes wait in the outbox and arrive
//! exactly once after the receiver comes back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use firedrill_tests::receiver::Receiver;
use firedrill_tests::{
    SandboxProcess, api_runs, firedrill, firedrill_serve, free_port, http_get, http_request,
    require_plugins, wait_for, write_config,
};
use serde_json::Value;
use tempfile::TempDir;

/// One deployment, two replicas across two zones.
const PLATFORM: &str = r#"
namespace: shop
zones: [zone-a, zone-b]
nodesPerZone: 1
deployments:
  - name: web
    replicas: 2
    startDelay: 1s
"#;

/// Services, probing and the pod-failure grant, then `extra`.
fn body(extra: &str) -> String {
    format!(
        r#"services:
  web:
    namespace: shop
    selector: app.kubernetes.io/name=web
    probes: [{{ service_proxy: {{ service: web, port: http }} }}]
probing: {{ interval: 250ms }}
plugins:
  grants:
    pod-failure:
      kubernetes: [{{ verbs: [list, delete], namespaces: [shop] }}]
drills:
  single-pod:
    phases:
      - {{ name: kill, scenario: pod-failure, objectives: {{ rto: 2m }} }}
{extra}"#
    )
}

const HOOK_TOKEN: &str = "Bearer env-secret-7f3a";
const TRACE_SECRET: &str = "file-secret-91c2";
const GRAFANA_TOKEN: &str = "glsa_secret_5d0e";

fn file_contains(path: &Path, needle: &str) -> bool {
    std::fs::read(path)
        .map(|bytes| {
            bytes
                .windows(needle.len())
                .any(|window| window == needle.as_bytes())
        })
        .unwrap_or(false)
}

#[test]
fn a_run_s_webhooks_and_annotations_arrive_with_its_figures_and_no_secret_leaks() {
    require_plugins(&["pod-failure"]);
    let dir = TempDir::new().unwrap();
    let sandbox = SandboxProcess::start(dir.path(), Some(PLATFORM));
    sandbox.wait_ready("shop", "app.kubernetes.io/name=web", 2);
    let receiver = Receiver::start();
    std::fs::write(dir.path().join("trace-secret"), format!("{TRACE_SECRET}\n")).unwrap();
    let config = write_config(
        dir.path(),
        &sandbox,
        &body(&format!(
            r#"api:
  public_url: https://firedrill.example.com
notifications:
  webhooks:
    - name: ci
      url: {url}/hooks/ci
      events: [started, finished]
      headers:
        Authorization: {{ env: FIREDRILL_TEST_HOOK_TOKEN }}
        X-Trace: {{ file: trace-secret }}
    - name: chat
      format: slack
      url: {{ env: FIREDRILL_TEST_SLACK_URL }}
  grafana:
    url: {url}/grafana
    token: {{ env: FIREDRILL_TEST_GRAFANA_TOKEN }}
    tags: [firedrill, e2e]
"#,
            url = receiver.url()
        )),
    );
    let slack_url = format!("{}/services/T000/B000/slack-secret-path", receiver.url());
    let output = firedrill()
        .arg("-c")
        .arg(&config)
        .args(["run", "single-pod", "--output", "json"])
        .env("FIREDRILL_TEST_HOOK_TOKEN", HOOK_TOKEN)
        .env("FIREDRILL_TEST_SLACK_URL", &slack_url)
        .env("FIREDRILL_TEST_GRAFANA_TOKEN", GRAFANA_TOKEN)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let record: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("no record ({e}): {stdout}\n{stderr}"));
    assert_eq!(record["outcome"]["kind"], "passed", "{record:#}\n{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");

    // started (ci), finished (ci, chat), one annotation for the one phase.
    receiver.wait_for(4, Duration::from_secs(10));
    // Nothing more arrives (each push once).
    std::thread::sleep(Duration::from_millis(300));
    let requests = receiver.requests();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    let on = |path: &str| -> Vec<&firedrill_tests::receiver::Received> {
        requests.iter().filter(|r| r.path == path).collect()
    };
    let ci = on("/hooks/ci");
    assert_eq!(ci.len(), 2);
    for request in &ci {
        assert_eq!(request.method, "POST");
        assert_eq!(request.header("authorization"), Some(HOOK_TOKEN));
        assert_eq!(request.header("x-trace"), Some(TRACE_SECRET));
        assert_eq!(request.header("content-type"), Some("application/json"));
    }
    let bodies: Vec<Value> = ci.iter().map(|r| r.json()).collect();
    let started = bodies.iter().find(|b| b["event"] == "started").unwrap();
    let finished = bodies.iter().find(|b| b["event"] == "finished").unwrap();
    assert_eq!(started["run_id"], record["id"]);
    assert_eq!(started["outcome"], Value::Null);
    assert_eq!(started["phases"][0]["name"], "kill");
    assert_eq!(started["phases"][0]["rto_target_seconds"], 120.0);

    assert_eq!(finished["version"], 1);
    assert_eq!(finished["drill"], "single-pod");
    assert_eq!(finished["run_id"], record["id"]);
    assert_eq!(finished["target"], record["target"]);
    assert_eq!(finished["trigger"], record["trigger"]);
    assert_eq!(finished["started_at"], record["started_at"]);
    assert_eq!(finished["finished_at"], record["finished_at"]);
    assert_eq!(finished["outcome"]["label"], "passed");
    assert_eq!(finished["outcome"]["reason"], Value::Null);
    let phase = &finished["phases"][0];
    assert_eq!(phase["name"], "kill");
    assert_eq!(phase["verdict"], "passed");
    assert_eq!(phase["rto_target_seconds"], 120.0);
    assert_eq!(
        phase["recovery_seconds"],
        record["phases"][0]["recovery_seconds"]
    );
    assert!(phase["recovery_seconds"].as_f64().unwrap() > 0.0, "{phase}");
    assert_eq!(phase["rto_met"], true);
    assert_eq!(
        finished["report_url"],
        format!(
            "https://firedrill.example.com/api/v1/runs/{}/report",
            record["id"].as_str().unwrap()
        )
        .as_str()
    );

    let slack = on("/services/T000/B000/slack-secret-path");
    assert_eq!(slack.len(), 1);
    let message = slack[0].json();
    assert_eq!(message["blocks"][0]["text"]["text"], "single-pod: PASSED");
    assert!(
        message["text"]
            .as_str()
            .unwrap()
            .contains("single-pod PASSED")
    );

    let grafana = on("/grafana/api/annotations");
    assert_eq!(grafana.len(), 1);
    assert_eq!(
        grafana[0].header("authorization"),
        Some(format!("Bearer {GRAFANA_TOKEN}").as_str())
    );
    let annotation = grafana[0].json();
    let phase_record = &record["phases"][0];
    let millis = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(phase_record[field].as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    assert_eq!(annotation["time"], millis("started_at"));
    assert_eq!(annotation["timeEnd"], millis("finished_at"));
    let tags: Vec<&str> = annotation["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(
        tags,
        [
            "firedrill",
            "e2e",
            "drill:single-pod",
            "phase:kill",
            "outcome:passed",
            "verdict:passed"
        ]
    );
    assert!(
        annotation["text"]
            .as_str()
            .unwrap()
            .starts_with("firedrill single-pod / kill: RTO "),
        "{annotation}"
    );

    // Each push delivered once, listed by `runs`; no secret in any output or the store.
    let runs = firedrill()
        .arg("-c")
        .arg(&config)
        .args(["runs", "--output", "json"])
        .output()
        .unwrap();
    let listed: Value = serde_json::from_slice(&runs.stdout).unwrap();
    let channels: Vec<(&str, &str)> = listed[0]["pushes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["channel"].as_str().unwrap(),
                p["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        channels,
        [
            ("webhook:ci:started", "delivered"),
            ("webhook:ci:finished", "delivered"),
            ("webhook:chat:finished", "delivered"),
            ("grafana:kill", "delivered"),
        ]
    );
    assert_eq!(listed[0]["email"], Value::Null, "no email configured");
    let runs_text = String::from_utf8_lossy(&runs.stdout);
    for secret in [HOOK_TOKEN, TRACE_SECRET, GRAFANA_TOKEN, "slack-secret-path"] {
        assert!(!stdout.contains(secret), "{secret} in the run's output");
        assert!(
            !stderr.contains(secret),
            "{secret} in the run's log: {stderr}"
        );
        assert!(!runs_text.contains(secret), "{secret} in `runs`");
        let store = dir.path().join("data/firedrill.db");
        assert!(!file_contains(&store, secret), "{secret} in the store");
        assert!(
            !file_contains(&dir.path().join("data/firedrill.db-wal"), secret),
            "{secret} in the store's WAL"
        );
    }
}

#[test]
fn serve_keeps_webhooks_for_a_receiver_that_is_down_and_delivers_them_once_it_is_back() {
    require_plugins(&["pod-failure"]);
    let dir = TempDir::new().unwrap();
    let sandbox = SandboxProcess::start(dir.path(), Some(PLATFORM));
    sandbox.wait_ready("shop", "app.kubernetes.io/name=web", 2);
    let hook_port = free_port();
    let api_port = free_port();
    let config = write_config(
        dir.path(),
        &sandbox,
        &body(&format!(
            r#"api:
  listen: 127.0.0.1:{api_port}
  token: {{ env: FIREDRILL_TEST_TOKEN }}
notifications:
  webhooks:
    - {{ name: ci, url: "http://127.0.0.1:{hook_port}/hook", events: [started, finished] }}
"#
        )),
    );
    let _serve = firedrill_serve(&config, &[("FIREDRILL_TEST_TOKEN", "t0ken")]);
    let api = format!("http://127.0.0.1:{api_port}");
    wait_for(
        Duration::from_secs(60),
        "firedrill serve to be ready",
        || http_get(&api, "/readyz").is_ok(),
    );
    http_request(
        &api,
        "POST",
        "/api/v1/drills/single-pod/run",
        &[("Authorization", "Bearer t0ken")],
    )
    .unwrap();
    wait_for(Duration::from_secs(90), "the run to be recorded", || {
        api_runs(&api).len() == 1
    });
    let run_id = api_runs(&api)[0]["id"].as_str().unwrap().to_string();
    // Both pushes were tried and refused (nothing listens): they wait in the outbox.
    let depth = || -> Option<f64> {
        http_get(&api, "/metrics")
            .ok()?
            .lines()
            .find_map(|line| line.strip_prefix("firedrill_push_outbox_messages "))
            .and_then(|value| value.trim().parse().ok())
    };
    wait_for(
        Duration::from_secs(40),
        "both pushes to wait in the outbox",
        || depth() == Some(2.0),
    );

    // The receiver comes back: each push arrives once, at its next attempt.
    let receiver = Receiver::on(hook_port);
    let requests = receiver.wait_for(2, Duration::from_secs(100));
    wait_for(Duration::from_secs(40), "the outbox to be empty", || {
        depth() == Some(0.0)
    });
    std::thread::sleep(Duration::from_secs(1));
    let requests = {
        let later = receiver.requests();
        assert_eq!(later.len(), requests.len(), "no second delivery");
        later
    };
    let mut events: Vec<String> = requests
        .iter()
        .map(|r| {
            let body = r.json();
            assert_eq!(body["run_id"], run_id.as_str());
            body["event"].as_str().unwrap().to_string()
        })
        .collect();
    events.sort();
    assert_eq!(events, ["finished", "started"]);
    let finished = requests
        .iter()
        .map(|r| r.json())
        .find(|b| b["event"] == "finished")
        .unwrap();
    assert_eq!(finished["outcome"]["label"], "passed");
    assert_eq!(finished["trigger"]["kind"], "api");
    assert_eq!(finished["report_url"], Value::Null, "no api.public_url");
}
