//! The DR runbook's service-recovery procedures run end to end by the real binary against
//! a sandbox in its own process: a service broken with an image that cannot be pulled and
//! brought back by the runbook's restart-then-undo (`service-recovery`), and every service
//! restarted in the runbook's order, each step waited on until it has rolled
//! (`ordered-restart`); and each killed mid-procedure, then recovered.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use chrono::{DateTime, Utc};
use firedrill_tests::{
    SandboxProcess, firedrill, require_plugins, run_json, spawn_quiet, wait_for, write_config,
};
use serde_json::Value;
use tempfile::TempDir;

/// Two Deployments and two StatefulSets of two replicas each in `shop`.
const PLATFORM: &str = r#"
namespace: shop
zones: [zone-a, zone-b]
nodesPerZone: 2
deployments:
  - { name: web, replicas: 2, startDelay: 1s }
  - { name: api, replicas: 2, startDelay: 1s }
statefulsets:
  - { name: cassandra, replicas: 2, startDelay: 1s }
  - { name: kafka, replicas: 2, startDelay: 1s }
"#;

const SERVICES: &str = r#"services:
  web:
    namespace: shop
    selector: app.kubernetes.io/name=web
    probes: [{ service_proxy: { service: web, port: http, path: /healthz } }]
  api:
    namespace: shop
    selector: app.kubernetes.io/name=api
    probes: [{ service_proxy: { service: api, port: http, path: /healthz } }]
  cassandra: { namespace: shop, selector: app=cassandra }
  kafka: { namespace: shop, selector: app=kafka }
probing: { interval: 200ms, timeout: 1s }
plugins:
  grants:
    service-recovery:
      kubernetes: [{ verbs: [get, list, patch], namespaces: [shop] }]
    ordered-restart:
      kubernetes: [{ verbs: [get, list, patch], namespaces: [shop] }]
"#;

fn evidence<'a>(record: &'a Value, name: &str) -> &'a str {
    record["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no {name} evidence: {record:#}"))["content"]
        .as_str()
        .unwrap()
}

fn follow_ups(phase: &Value) -> Vec<&str> {
    phase["follow_ups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn created(pod: &Value) -> DateTime<Utc> {
    pod["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn service_recovery_restarts_then_undoes_and_leaves_the_deployment_as_it_was() {
    require_plugins(&["service-recovery"]);
    let dir = TempDir::new().unwrap();
    let sandbox = SandboxProcess::start(dir.path(), Some(PLATFORM));
    sandbox.wait_ready("shop", "app.kubernetes.io/name=web", 2);
    let before = sandbox.get_json("/apis/apps/v1/namespaces/shop/deployments/web");
    let config = write_config(
        dir.path(),
        &sandbox,
        &format!(
            r#"{SERVICES}drills:
  web-down:
    expect_down: [web]
    phases:
      - name: web-down
        scenario: service-recovery
        services: [web]
        params: {{ restart_wait: 3s }}
        objectives: {{ rto: 5m }}
"#
        ),
    );
    let (code, record) = run_json(&config, "web-down");
    assert_eq!(record["outcome"]["kind"], "passed", "{record:#}");
    assert_eq!(code, 0);
    let phase = &record["phases"][0];
    assert!(
        phase["recovery_seconds"].as_f64().unwrap() > 0.0,
        "{phase:#}"
    );
    // Read from the watch alone: dated at the pod event that completed the recovery.
    assert_eq!(phase["clock"]["stopped_by"], "watch-event", "{phase:#}");
    // The record names the step that recovered it: a broken image survives a restart,
    // so the undo did.
    let findings = follow_ups(phase);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(
        findings[0].contains("did not bring it back within 3 s")
            && findings[0].contains("`kubectl rollout undo` (step 4"),
        "{findings:?}"
    );
    let procedure = evidence(&record, "procedure.txt");
    let steps: Vec<&str> = [
        "inject:",
        "down:",
        "restart:",
        "describe pod",
        "undo:",
        "recovered by undo",
    ]
    .into_iter()
    .filter(|step| procedure.contains(step))
    .collect();
    assert_eq!(
        steps,
        [
            "inject:",
            "down:",
            "restart:",
            "describe pod",
            "undo:",
            "recovered by undo"
        ],
        "{procedure}"
    );
    let position = |step: &str| procedure.find(step).unwrap();
    assert!(position("down:") < position("restart:"), "{procedure}");
    assert!(position("restart:") < position("undo:"), "{procedure}");
    assert!(
        procedure.contains("ErrImagePull") || procedure.contains("ImagePullBackOff"),
        "the broken pod's state as kubectl describe shows it:\n{procedure}"
    );
    // Back as it was: the image and the strategy, every pod Ready on the old image.
    let after = sandbox.get_json("/apis/apps/v1/namespaces/shop/deployments/web");
    let containers = |d: &Value| d["spec"]["template"]["spec"]["containers"].clone();
    assert_eq!(containers(&after), containers(&before));
    assert_eq!(after["spec"]["strategy"], before["spec"]["strategy"]);
    assert_eq!(after["spec"]["strategy"]["type"], "RollingUpdate");
    let image = before["spec"]["template"]["spec"]["containers"][0]["image"].clone();
    sandbox.wait_ready("shop", "app.kubernetes.io/name=web", 2);
    let pods =
        sandbox.get_json("/api/v1/namespaces/shop/pods?labelSelector=app.kubernetes.io/name=web");
    for pod in pods["items"].as_array().unwrap() {
        assert_eq!(pod["spec"]["containers"][0]["image"], image, "{pod:#}");
    }
}

#[test]
fn ordered_restart_rolls_each_step_before_the_next_and_times_every_step() {
    require_plugins(&["ordered-restart"]);
    let dir = TempDir::new().unwrap();
    let sandbox = SandboxProcess::start(dir.path(), Some(PLATFORM));
    for (selector, count) in [
        ("app=cassandra", 2),
        ("app=kafka", 2),
        ("app.kubernetes.io/name=web", 2),
        ("app.kubernetes.io/name=api", 2),
    ] {
        sandbox.wait_ready("shop", selector, count);
    }
    // The pods in service: old ones may still be terminating when a rollout is done.
    let pods_of = |selector: &str| -> Vec<Value> {
        sandbox.get_json(&format!(
            "/api/v1/namespaces/shop/pods?labelSelector={selector}"
        ))["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .cloned()
            .collect()
    };
    let uids = |pods: &[Value]| -> Vec<String> {
        pods.iter()
            .map(|p| p["metadata"]["uid"].as_str().unwrap().to_owned())
            .collect()
    };
    let before: Vec<String> = ["app=cassandra", "app=kafka", "app.kubernetes.io/name=web"]
        .into_iter()
        .flat_map(|s| uids(&pods_of(s)))
        .collect();
    let config = write_config(
        dir.path(),
        &sandbox,
        &format!(
            r#"{SERVICES}drills:
  all-down:
    phases:
      - name: restart-all
        scenario: ordered-restart
        services: [cassandra, kafka, web, api]
        params: {{ order: [[cassandra], [kafka], [web, api]] }}
        objectives: {{ rto: 5m }}
"#
        ),
    );
    let (code, record) = run_json(&config, "all-down");
    assert_eq!(record["outcome"]["kind"], "passed", "{record:#}");
    assert_eq!(code, 0);
    // Every step's figure is in the findings, in order, and in the evidence with the total.
    let phase = &record["phases"][0];
    let findings = follow_ups(phase);
    assert_eq!(findings.len(), 1, "{findings:?}");
    let finding = findings[0];
    let at = |text: &str| {
        finding
            .find(text)
            .unwrap_or_else(|| panic!("{text} in {finding}"))
    };
    assert!(
        at("step 1 (cassandra) ") < at("step 2 (kafka) "),
        "{finding}"
    );
    assert!(
        at("step 2 (kafka) ") < at("step 3 (web, api) "),
        "{finding}"
    );
    let steps = evidence(&record, "restart-steps.txt");
    for line in ["step 1", "step 2", "step 3"] {
        let row = steps
            .lines()
            .find(|l| l.starts_with(line))
            .unwrap_or_else(|| panic!("{line} in {steps}"));
        assert!(row.contains("rolled in "), "{steps}");
    }
    assert!(steps.contains("statefulset/cassandra"), "{steps}");
    assert!(steps.contains("deployment/web"), "{steps}");
    assert!(steps.lines().any(|l| l.starts_with("total ")), "{steps}");
    // Every pod was replaced, and in order: every Cassandra pod before the first Kafka
    // pod, every Kafka pod before the first of the applications'.
    let cassandra = pods_of("app=cassandra");
    let kafka = pods_of("app=kafka");
    let apps = [
        pods_of("app.kubernetes.io/name=web"),
        pods_of("app.kubernetes.io/name=api"),
    ]
    .concat();
    let now: Vec<String> = [&cassandra, &kafka, &pods_of("app.kubernetes.io/name=web")]
        .into_iter()
        .flat_map(|p| uids(p))
        .collect();
    assert!(
        now.iter().all(|uid| !before.contains(uid)),
        "every pod replaced"
    );
    let last = |pods: &[Value]| pods.iter().map(created).max().unwrap();
    let first = |pods: &[Value]| pods.iter().map(created).min().unwrap();
    assert!(last(&cassandra) <= first(&kafka), "cassandra before kafka");
    assert!(
        last(&kafka) <= first(&apps),
        "kafka before the applications"
    );
}

/// With `recreate: false` the rolling update keeps the old pods: the service is degraded,
/// not down, and Ready counts alone would call the restart a recovery once the broken pod
/// is scaled away; the restarted template never becomes Ready, so the undo still decides.
#[test]
fn service_recovery_of_a_degraded_rolling_update_still_needs_the_undo() {
    require_plugins(&["service-recovery"]);
    let dir = TempDir::new().unwrap();
    let sandbox = SandboxProcess::start(dir.path(), Some(PLATFORM));
    sandbox.wait_ready("shop", "app.kubernetes.io/name=web", 2);
    let before = sandbox.get_json("/apis/apps/v1/namespaces/shop/deployments/web");
    let config = write_config(
        dir.path(),
        &sandbox,
        &format!(
            r#"{SERVICES}drills:
  web-degraded:
    phases:
      - {{ name: web-degraded, scenario: service-recovery, services: [web], params: {{ restart_wait: 3s, recreate: false }}, objectives: {{ rto: 5m }} }}
"#
        ),
    );
    let (code, record) = run_json(&config, "web-degraded");
    assert_eq!(record["outcome"]["kind"], "passed", "{record:#}");
    assert_eq!(code, 0);
    let procedure = evidence(&record, "procedure.txt");
    assert!(procedure.contains("degraded:"), "{procedure}");
    assert!(!procedure.contains("strategy Recreate"), "{procedure}");
    assert!(procedure.contains("recovered by undo"), "{procedure}");
    let after = sandbox.get_json("/apis/apps/v1/namespaces/shop/deployments/web");
    assert_eq!(after["spec"]["strategy"], before["spec"]["strategy"]);
    assert_eq!(
        after["spec"]["template"]["spec"]["containers"],
        before["spec"]["template"]["spec"]["containers"]
    );
}

/// Killed after the restart, while waiting to undo: `recover` (a fresh plugin instance,
/// reading what inject saved) puts the images and strategy back.
#[test]
fn service_recovery_killed_mid_procedure_is_put_back_by_recover() {
    require_plugins(&["service-recovery"]);
    let dir = TempDir::new().unwrap();
    let sandbox = SandboxProcess::start(dir.path(), Some(PLATFORM));
    sandbox.wait_ready("shop", "app.kubernetes.io/name=web", 2);
    let deployment = || sandbox.get_json("/apis/apps/v1/namespaces/shop/deployments/web");
    let before = deployment();
    let config = write_config(
        dir.path(),
        &sandbox,
        &format!(
            r#"{SERVICES}drills:
  web-down:
    expect_down: [web]
    phases:
      - {{ name: web-down, scenario: service-recovery, services: [web], params: {{ restart_wait: 10m }}, objectives: {{ rto: 15m }} }}
"#
        ),
    );
    let child = spawn_quiet(firedrill().arg("-c").arg(&config).args(["run", "web-down"]));
    wait_for(Duration::from_secs(60), "the runbook's restart", || {
        deployment()["spec"]["template"]["metadata"]["annotations"]
            .as_object()
            .is_some_and(|a| a.keys().any(|k| k.ends_with("/restartedAt")))
    });
    drop(child); // SIGKILL, then reap
    let broken = deployment();
    assert_eq!(
        broken["spec"]["template"]["spec"]["containers"][0]["image"],
        "firedrill.invalid/never-ready:0"
    );
    assert_eq!(broken["spec"]["strategy"]["type"], "Recreate");
    let output = firedrill()
        .arg("-c")
        .arg(&config)
        .arg("recover")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let after = deployment();
    assert_eq!(
        after["spec"]["template"]["spec"]["containers"],
        before["spec"]["template"]["spec"]["containers"]
    );
    assert_eq!(after["spec"]["strategy"], before["spec"]["strategy"]);
    sandbox.wait_ready("shop", "app.kubernetes.io/name=web", 2);
}

/// Killed while the first step rolls: `recover` changes nothing (no later step is
/// restarted, nothing is reverted) and the restarted StatefulSet finishes by itself.
#[test]
fn ordered_restart_killed_mid_procedure_recovers_without_touching_anything() {
    require_plugins(&["ordered-restart"]);
    let dir = TempDir::new().unwrap();
    let platform = PLATFORM.replace(
        "{ name: cassandra, replicas: 2, startDelay: 1s }",
        "{ name: cassandra, replicas: 2, startDelay: 4s }",
    );
    let sandbox = SandboxProcess::start(dir.path(), Some(&platform));
    sandbox.wait_ready("shop", "app=cassandra", 2);
    sandbox.wait_ready("shop", "app=kafka", 2);
    sandbox.wait_ready("shop", "app.kubernetes.io/name=web", 2);
    let uids = |selector: &str| -> Vec<Value> {
        sandbox.get_json(&format!(
            "/api/v1/namespaces/shop/pods?labelSelector={selector}"
        ))["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["metadata"]["uid"].clone())
            .collect()
    };
    let kafka = uids("app=kafka");
    let web = uids("app.kubernetes.io/name=web");
    let config = write_config(
        dir.path(),
        &sandbox,
        &format!(
            r#"{SERVICES}drills:
  all-down:
    phases:
      - name: restart-all
        scenario: ordered-restart
        services: [cassandra, kafka, web]
        params: {{ order: [[cassandra], [kafka], [web]] }}
        objectives: {{ rto: 15m }}
"#
        ),
    );
    let cassandra = || sandbox.get_json("/apis/apps/v1/namespaces/shop/statefulsets/cassandra");
    let child = spawn_quiet(firedrill().arg("-c").arg(&config).args(["run", "all-down"]));
    wait_for(Duration::from_secs(60), "cassandra rolling", || {
        let sts = cassandra();
        sts["status"]["updateRevision"] != sts["status"]["currentRevision"]
    });
    drop(child); // SIGKILL, then reap
    let output = firedrill()
        .arg("-c")
        .arg(&config)
        .arg("recover")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    wait_for(
        Duration::from_secs(60),
        "cassandra rolled by itself",
        || {
            let sts = cassandra();
            sts["status"]["updateRevision"] == sts["status"]["currentRevision"]
                && sts["status"]["readyReplicas"] == 2
        },
    );
    assert_eq!(
        uids("app=kafka"),
        kafka,
        "the later steps were not restarted"
    );
    assert_eq!(uids("app.kubernetes.io/name=web"), web);
}
