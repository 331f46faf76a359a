//! `firedrill serve` as an operator runs it: a drill triggered over the API, its figures
//! scraped by a real Prometheus (Debian's package) and read back with PromQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use firedrill_tests::prometheus::{self, scalar};
use firedrill_tests::{
    SandboxProcess, api_runs, firedrill_serve, free_port, http_get, http_request, require_plugins,
    wait_for, write_config,
};
use serde_json::Value;
use tempfile::TempDir;

const PLATFORM: &str = r#"
namespace: shop
zones: [zone-a, zone-b]
nodesPerZone: 1
deployments:
  - name: web
    replicas: 2
    pdb: { maxUnavailable: 1 }
    startDelay: 1s
"#;

#[test]
fn a_drill_triggered_over_the_api_is_scraped_by_prometheus_and_queried_with_promql() {
    require_plugins(&["pod-failure"]);
    let dir = TempDir::new().unwrap();
    let sandbox = SandboxProcess::start(dir.path(), Some(PLATFORM));
    let api_port = free_port();
    let config = write_config(
        dir.path(),
        &sandbox,
        &format!(
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
      - {{ name: kill, scenario: pod-failure, objectives: {{ rto: 2m, availability_floor: 0.5 }} }}
  weekly:
    schedule: {{ cron: "0 10 * * TUE", timezone: Europe/Berlin }}
    phases:
      - {{ name: kill, scenario: pod-failure }}
api:
  listen: 127.0.0.1:{api_port}
  token: {{ env: FIREDRILL_TEST_TOKEN }}
"#
        ),
    );
    let mut serve = firedrill_serve(&config, &[("FIREDRILL_TEST_TOKEN", "t0ken")]);
    let api = format!("http://127.0.0.1:{api_port}");
    wait_for(
        Duration::from_secs(60),
        "firedrill serve to be ready",
        || http_get(&api, "/readyz").is_ok(),
    );

    // Triggering needs the token.
    let refused = http_request(&api, "POST", "/api/v1/drills/single-pod/run", &[]).unwrap_err();
    assert!(refused.starts_with("HTTP 401"), "{refused}");
    http_request(
        &api,
        "POST",
        "/api/v1/drills/single-pod/run",
        &[("Authorization", "Bearer t0ken")],
    )
    .unwrap();
    wait_for(
        Duration::from_secs(90),
        "the triggered run to be recorded",
        || api_runs(&api).len() == 1,
    );
    let runs: Value = serde_json::from_str(&http_get(&api, "/api/v1/runs").unwrap()).unwrap();
    assert_eq!(runs[0]["outcome"], "passed", "{runs}");

    let (prometheus, _prometheus) = prometheus::start(dir.path(), &format!("127.0.0.1:{api_port}"));
    let recovery = r#"firedrill_phase_recovery_seconds{drill="single-pod",phase="kill"}"#;
    wait_for(
        Duration::from_secs(60),
        "Prometheus to have scraped the daemon",
        || scalar(&prometheus, recovery).is_some(),
    );
    let seconds = scalar(&prometheus, recovery).unwrap();
    assert!(seconds > 0.0 && seconds < 120.0, "{seconds}");
    assert_eq!(
        scalar(
            &prometheus,
            r#"firedrill_phase_passed{drill="single-pod",phase="kill"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        scalar(
            &prometheus,
            r#"firedrill_phase_rto_target_seconds{drill="single-pod",phase="kill"}"#
        ),
        Some(120.0)
    );
    let availability = scalar(
        &prometheus,
        r#"firedrill_service_availability_ratio{drill="single-pod",service="web"}"#,
    )
    .unwrap();
    assert!((0.5..=1.0).contains(&availability), "{availability}");
    assert_eq!(
        scalar(
            &prometheus,
            r#"firedrill_drill_runs_total{drill="single-pod",result="passed"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        scalar(
            &prometheus,
            r#"firedrill_drill_runs_total{drill="single-pod",result="aborted"}"#
        ),
        Some(0.0)
    );
    let next = scalar(
        &prometheus,
        r#"firedrill_drill_next_run_timestamp_seconds{drill="weekly"}"#,
    )
    .unwrap();
    assert!(next > chrono::Utc::now().timestamp() as f64, "{next}");
    assert_eq!(
        scalar(&prometheus, r#"firedrill_drill_overdue{drill="weekly"}"#),
        Some(0.0)
    );

    // SIGTERM: a graceful stop.
    let pid = serve.0.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let mut stopped = None;
    wait_for(Duration::from_secs(30), "serve to stop", || {
        stopped = serve.0.try_wait().unwrap();
        stopped.is_some()
    });
    assert!(stopped.unwrap().success());
}

#[test]
fn sighup_reloads_a_valid_configuration_and_rejects_an_invalid_one() {
    require_plugins(&["pod-failure"]);
    let dir = TempDir::new().unwrap();
    let port = free_port();
    let config = dir.path().join("firedrill.yaml");
    let text = |extra: &str| {
        format!(
            "version: 1\nstorage: {{ path: data }}\napi: {{ listen: 127.0.0.1:{port} }}\ndrills:\n  weekly:\n    schedule: {{ cron: \"0 10 * * TUE\" }}\n    phases: [{{ name: kill, scenario: pod-failure }}]\n{extra}"
        )
    };
    std::fs::write(&config, text("")).unwrap();
    let mut serve = firedrill_serve(&config, &[]);
    let api = format!("http://127.0.0.1:{port}");
    wait_for(Duration::from_secs(60), "serve to be ready", || {
        http_get(&api, "/readyz").is_ok()
    });
    let drills = || -> Vec<String> {
        let body = http_get(&api, "/api/v1/drills").unwrap();
        let list: Value = serde_json::from_str(&body).unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(drills(), ["weekly"]);
    let hup = |pid: u32| {
        std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap();
    };
    let pid = serve.0.id();

    std::fs::write(
        &config,
        text("  monthly:\n    schedule: { cron: \"0 10 8 * *\" }\n    phases: [{ name: kill, scenario: pod-failure }]\n"),
    )
    .unwrap();
    hup(pid);
    wait_for(Duration::from_secs(20), "the new drill to appear", || {
        drills().len() == 2
    });

    // An invalid file is rejected: the running configuration stays, the daemon lives.
    std::fs::write(
        &config,
        text("  broken:\n    schedule: { cron: \"61 * * * *\" }\n    phases: [{ name: kill, scenario: pod-failure }]\n"),
    )
    .unwrap();
    hup(pid);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(drills(), ["weekly", "monthly"]);
    assert!(
        serve.0.try_wait().unwrap().is_none(),
        "serve is still running"
    );
}
