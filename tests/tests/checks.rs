//! PromQL checks against a real Prometheus (Debian's package) scraping an exporter the test
//! controls, with drills run by `firedrill serve` on a sandbox: a steady state without data
//! keeps a drill from starting; a healthy drill passes its before, during and after checks;
//! an error ratio that rises mid-phase aborts the drill through an `abort` check and the
//! fault is rolled back. Each shows in the run's record, its report and `/metrics`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use firedrill_tests::prometheus::{self, Exporter, scalar};
use firedrill_tests::{
    SandboxProcess, api_runs, firedrill, firedrill_serve, free_port, http_get, http_request,
    require_plugins, wait_for, write_config,
};
use serde_json::Value;
use tempfile::TempDir;

/// Replacements are Ready 6 s after they start: a pod-failure phase lasts long enough for
/// the test to raise the error ratio while it runs.
const PLATFORM: &str = r#"
namespace: shop
zones: [zone-a, zone-b]
nodesPerZone: 1
deployments:
  - name: web
    replicas: 2
    startDelay: 6s
"#;

/// What a Spring Boot service and a Kafka exporter would expose, reduced to the series
/// the checks read.
fn exposition(error_ratio: f64) -> String {
    format!(
        "# TYPE shop_http_error_ratio gauge\nshop_http_error_ratio{{service=\"web\"}} {error_ratio}\n\
         # TYPE kafka_consumergroup_lag gauge\nkafka_consumergroup_lag{{consumergroup=\"orders\"}} 3\n"
    )
}

const TOKEN: &str = "checks-token";

fn trigger(api: &str, drill: &str) {
    http_request(
        api,
        "POST",
        &format!("/api/v1/drills/{drill}/run"),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    )
    .unwrap_or_else(|e| panic!("trigger {drill}: {e}"));
}

/// Triggers `drill` and waits for its record (the `count`th run).
fn run(api: &str, drill: &str, count: usize) -> Value {
    trigger(api, drill);
    wait_for(
        Duration::from_secs(120),
        &format!("drill {drill} to be recorded"),
        || api_runs(api).len() >= count,
    );
    let listed = api_runs(api);
    let summary = listed
        .iter()
        .find(|run| run["drill"] == drill)
        .unwrap_or_else(|| panic!("no run of {drill}: {listed:?}"));
    let id = summary["id"].as_str().unwrap();
    serde_json::from_str(&http_get(api, &format!("/api/v1/runs/{id}")).unwrap()).unwrap()
}

/// (check, stage, verdict) of every evaluation in `record`.
fn evaluations(record: &Value) -> Vec<(String, String, String)> {
    record["checks"]
        .as_array()
        .map(|checks| {
            checks
                .iter()
                .map(|c| {
                    (
                        c["check"].as_str().unwrap().to_string(),
                        c["stage"].as_str().unwrap().to_string(),
                        c["verdict"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn report(config: &std::path::Path, run: &str) -> String {
    let output = firedrill()
        .arg("-c")
        .arg(config)
        .args(["report", run])
        .output()
        .unwrap();
    assert!(output.status.success(), "report {run}: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The names of the web pods the sandbox lists now.
fn web_pods(sandbox: &SandboxProcess) -> Vec<String> {
    let pods = sandbox
        .get_json("/api/v1/namespaces/shop/pods?labelSelector=app.kubernetes.io%2Fname%3Dweb");
    let mut names: Vec<String> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|pod| pod["metadata"]["deletionTimestamp"].is_null())
        .map(|pod| pod["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn promql_checks_gate_guard_and_verify_drills_against_a_real_prometheus() {
    require_plugins(&["pod-failure"]);
    let started = Instant::now();
    let dir = TempDir::new().unwrap();
    let exporter = Exporter::start(&exposition(0.001));
    let (prometheus, _prometheus) = prometheus::start(dir.path(), &exporter.address);
    wait_for(
        Duration::from_secs(60),
        "Prometheus to have scraped the exporter",
        || scalar(&prometheus, "shop_http_error_ratio").is_some(),
    );
    let sandbox = SandboxProcess::start(dir.path(), Some(PLATFORM));
    sandbox.wait_ready("shop", "app.kubernetes.io/name=web", 2);
    let api_port = free_port();
    let config = write_config(
        dir.path(),
        &sandbox,
        &format!(
            r#"services:
  web:
    namespace: shop
    selector: app.kubernetes.io/name=web
    workload: deployment/web
plugins:
  grants:
    pod-failure:
      kubernetes: [{{ verbs: [list, delete], namespaces: [shop] }}]
prometheus:
  url: {prometheus}
checks:
  metrics-flowing:
    description: Metrics flowing to Prometheus
    query: shop_http_error_ratio{{service="web"}}
    expect: present
  no-errors:
    description: No 5xx errors during failover
    query: max(shop_http_error_ratio{{service="web"}})
    expect: "< 0.05"
    every: 1s
  errors-abort:
    query: max(shop_http_error_ratio{{service="web"}})
    expect: "< 0.05"
    every: 1s
    abort: true
  lag-not-increasing:
    description: Consumer lag not increasing
    query: max(deriv(kafka_consumergroup_lag{{consumergroup="orders"}}[$__range]))
    expect: "<= 0"
    within: 30s
    every: 2s
  payments-flowing:
    query: payments_processed_total
    expect: present
drills:
  blocked:
    checks: {{ before: [payments-flowing] }}
    phases:
      - {{ name: kill, scenario: pod-failure, services: [web], objectives: {{ rto: 2m }} }}
  healthy:
    checks: {{ before: [metrics-flowing], during: [no-errors], after: [lag-not-increasing] }}
    phases:
      - {{ name: kill, scenario: pod-failure, services: [web], objectives: {{ rto: 2m }} }}
  guarded:
    checks: {{ before: [metrics-flowing] }}
    phases:
      - name: kill
        scenario: pod-failure
        services: [web]
        objectives: {{ rto: 2m }}
        checks: {{ during: [errors-abort] }}
api:
  listen: 127.0.0.1:{api_port}
  token: {{ env: FIREDRILL_TEST_TOKEN }}
"#
        ),
    );
    // `firedrill check` accepts the checks' PromQL.
    let checked = firedrill()
        .arg("-c")
        .arg(&config)
        .arg("check")
        .output()
        .unwrap();
    assert!(checked.status.success(), "check: {checked:?}");

    let _serve = firedrill_serve(&config, &[("FIREDRILL_TEST_TOKEN", TOKEN)]);
    let api = format!("http://127.0.0.1:{api_port}");
    wait_for(
        Duration::from_secs(60),
        "firedrill serve to be ready",
        || http_get(&api, "/readyz").is_ok(),
    );

    // 1. A steady state whose series does not exist: no data, so the drill does not start.
    let pods_before = web_pods(&sandbox);
    let blocked = run(&api, "blocked", 1);
    assert_eq!(blocked["outcome"]["kind"], "not-started", "{blocked:#}");
    let reason = blocked["outcome"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("check payments-flowing (before) no-data"),
        "{reason}"
    );
    assert_eq!(
        evaluations(&blocked),
        [("payments-flowing".into(), "before".into(), "no-data".into())]
    );
    assert_eq!(web_pods(&sandbox), pods_before, "nothing was injected");
    assert_eq!(blocked["phases"][0]["verdict"]["kind"], "skipped");

    // 2. A healthy drill: the steady state holds, errors stay low while the pod is
    // replaced, and the lag is flat afterwards.
    let healthy = run(&api, "healthy", 2);
    assert_eq!(healthy["outcome"]["kind"], "passed", "{healthy:#}");
    let seen = evaluations(&healthy);
    for (check, stage) in [
        ("metrics-flowing", "before"),
        ("no-errors", "during"),
        ("lag-not-increasing", "after"),
    ] {
        assert!(
            seen.iter()
                .any(|(c, s, v)| c == check && s == stage && v == "pass"),
            "{check} ({stage}) passed: {seen:?}"
        );
    }
    assert!(
        seen.iter().all(|(_, _, v)| v == "pass"),
        "every evaluation passed: {seen:?}"
    );
    // The query as sent carries the phase's `$__range` in seconds, and the value.
    let lag = healthy["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "lag-not-increasing")
        .unwrap();
    assert!(
        lag["query"]
            .as_str()
            .unwrap()
            .starts_with("max(deriv(kafka_consumergroup_lag{consumergroup=\"orders\"}["),
        "{lag}"
    );
    assert!(
        !lag["query"].as_str().unwrap().contains("$__range"),
        "{lag}"
    );
    assert_eq!(lag["value"], 0.0, "{lag}");

    // 3. The error ratio rises once the pod is gone: the abort check stops the drill and
    // the fault is rolled back.
    sandbox.wait_ready("shop", "app.kubernetes.io/name=web", 2);
    let before_guarded = web_pods(&sandbox);
    trigger(&api, "guarded");
    wait_for(
        Duration::from_secs(60),
        "the guarded drill to kill a web pod",
        || web_pods(&sandbox) != before_guarded,
    );
    exporter.set(&exposition(0.4));
    wait_for(
        Duration::from_secs(90),
        "the guarded drill to be recorded",
        || api_runs(&api).len() >= 3,
    );
    exporter.set(&exposition(0.001));
    let listed = api_runs(&api);
    let id = listed.iter().find(|run| run["drill"] == "guarded").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let guarded: Value =
        serde_json::from_str(&http_get(&api, &format!("/api/v1/runs/{id}")).unwrap()).unwrap();
    assert_eq!(guarded["outcome"]["kind"], "aborted", "{guarded:#}");
    assert_eq!(
        guarded["outcome"]["reason"], "check errors-abort failed: 0.4 is not < 0.05",
        "{guarded:#}"
    );
    // The aborted phase was rolled back at once.
    let rollback = guarded["phases"][0]["rollback"]
        .as_str()
        .unwrap_or_default();
    assert!(
        !rollback.is_empty(),
        "the fault was rolled back: {guarded:#}"
    );
    let during = evaluations(&guarded);
    assert!(
        during
            .iter()
            .any(|(c, s, v)| c == "errors-abort" && s == "during" && v == "fail"),
        "{during:?}"
    );
    sandbox.wait_ready("shop", "app.kubernetes.io/name=web", 2);

    // The report carries every check; /metrics counts every verdict.
    let text = report(&config, &id);
    assert!(text.contains("### PromQL Checks"), "{text}");
    assert!(
        text.contains("| errors-abort | during | kill | < 0.05 | 0.4 |"),
        "{text}"
    );
    let blocked_report = report(&config, blocked["id"].as_str().unwrap());
    assert!(
        blocked_report
            .contains("| payments-flowing | before | - | present | - | 1 of 1 | No data |"),
        "{blocked_report}"
    );
    assert!(blocked_report.contains("NOT STARTED"), "{blocked_report}");
    let metrics = http_get(&api, "/metrics").unwrap();
    for series in [
        r#"firedrill_check_evaluations_total{check="payments-flowing",drill="blocked",stage="before",verdict="no-data"} 1"#,
        r#"firedrill_check_passed{check="lag-not-increasing",drill="healthy",stage="after"} 1"#,
        r#"firedrill_check_passed{check="errors-abort",drill="guarded",stage="during"} 0"#,
        r#"firedrill_drill_runs_total{drill="blocked",result="not-started"} 1"#,
    ] {
        assert!(metrics.contains(series), "{series} in /metrics:\n{metrics}");
    }
    println!(
        "checks against a real Prometheus: 3 drills in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

/// bcrypt of `PROMETHEUS_PASSWORD` (cost 4), as Prometheus's web configuration wants it.
const PROMETHEUS_PASSWORD_BCRYPT: &str =
    "$2b$04$xpJvz10KkFB6M/m/s1SBdOv7Y0ACCVkN2WQyE3NmofAmi6gYNV4R6";
const PROMETHEUS_PASSWORD: &str = "prom-s3cret";

#[test]
fn checks_reach_a_prometheus_behind_tls_and_basic_auth_and_a_wrong_password_is_named() {
    require_plugins(&["pod-failure"]);
    let dir = TempDir::new().unwrap();
    let (ca, cert, key) = firedrill_tests::tls::certificates(dir.path());
    let exporter = Exporter::start(&exposition(0.001));
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  firedrill: {PROMETHEUS_PASSWORD_BCRYPT}\n",
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: shop\n    static_configs:\n      - targets: ['{}']\n",
            exporter.address
        ),
    )
    .unwrap();
    let port = free_port();
    let _prometheus = firedrill_tests::spawn_quiet(
        std::process::Command::new("/usr/bin/prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!("--web.config.file={}", web.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}")),
    );
    let sandbox = SandboxProcess::start(dir.path(), Some(PLATFORM));
    sandbox.wait_ready("shop", "app.kubernetes.io/name=web", 2);
    let config = |password_file: &str| {
        write_config(
            dir.path(),
            &sandbox,
            &format!(
                r#"services:
  web: {{ namespace: shop, selector: app.kubernetes.io/name=web, workload: deployment/web }}
plugins:
  grants:
    pod-failure:
      kubernetes: [{{ verbs: [list, delete], namespaces: [shop] }}]
prometheus:
  url: https://127.0.0.1:{port}
  ca_file: {ca}
  basic_auth: {{ username: firedrill, password: {{ file: {password_file} }} }}
checks:
  scraped:
    query: up{{job="shop"}} == 1
    expect: present
drills:
  gated:
    checks: {{ before: [scraped] }}
    phases:
      - {{ name: kill, scenario: pod-failure, services: [web], objectives: {{ rto: 2m }} }}
"#,
                ca = ca.display(),
            ),
        )
    };
    std::fs::write(dir.path().join("right"), format!("{PROMETHEUS_PASSWORD}\n")).unwrap();
    std::fs::write(dir.path().join("wrong"), "guess\n").unwrap();

    // Prometheus takes a moment to listen and scrape: until then the steady state is an
    // error or no data. Bounded retries of the whole drill.
    let right = config("right");
    let mut record = Value::Null;
    for _ in 0..30 {
        let (_, run) = firedrill_tests::run_json(&right, "gated");
        record = run;
        if record["outcome"]["kind"] != "not-started" {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    assert_eq!(record["outcome"]["kind"], "passed", "{record:#}");
    assert_eq!(record["checks"][0]["verdict"], "pass", "{record:#}");

    // With the wrong password Prometheus answers 401: the check is an error that says so,
    // and the drill does not start.
    let (code, record) = firedrill_tests::run_json(&config("wrong"), "gated");
    assert_eq!(code, 3, "{record:#}");
    assert_eq!(record["outcome"]["kind"], "not-started", "{record:#}");
    let message = record["checks"][0]["message"].as_str().unwrap();
    assert_eq!(record["checks"][0]["verdict"], "error", "{record:#}");
    assert!(message.contains("401"), "{message}");
    assert!(
        !message.contains("guess"),
        "the password is never shown: {message}"
    );
}
