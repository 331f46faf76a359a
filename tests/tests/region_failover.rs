//! The DR runbook's region failover across two clusters: two sandbox processes (the
//! primary region and the DR region), a real PostgreSQL primary and streaming replica for
//! the canaries and the replication check, the real binary. The drill passes with phases
//! on both targets and leaves both regions as they were; killed mid-failover, `recover`
//! rolls each phase back on its own cluster.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use firedrill_tests::servers::{PostgresPair, Replication};
use firedrill_tests::{
    SandboxProcess, firedrill, require_plugins, run_json, spawn_quiet, wait_for,
};
use serde_json::{Value, json};
use tempfile::TempDir;

/// The primary region: two zones, `web` at two replicas.
const PRIMARY: &str = r#"
namespace: shop
zones: [eu-a, eu-b]
nodesPerZone: 1
deployments:
  - name: web
    replicas: 2
    startDelay: 1s
"#;

/// The DR region: `web` standing by at one replica, and the Cassandra ring that
/// replicates from the primary (its `nodetool` is the sandbox's simulation).
const DR: &str = r#"
namespace: shop
zones: [dr-a, dr-b]
nodesPerZone: 1
deployments:
  - name: web
    replicas: 1
    startDelay: START_DELAY
statefulsets:
  - name: cassandra
    replicas: 3
    port: 9042
"#;

/// A test directory the `postgres` user can traverse (the harness runs PostgreSQL as
/// that user when the tests run as root).
fn tempdir() -> TempDir {
    tempfile::Builder::new()
        .prefix("firedrill-region-")
        .tempdir()
        .unwrap()
}

/// The two regions, each a sandbox process of its own.
struct Regions {
    primary: SandboxProcess,
    dr: SandboxProcess,
}

impl Regions {
    fn start(dir: &Path, dr_start_delay: &str) -> Self {
        let regions = Self {
            primary: SandboxProcess::start_named(dir, "primary", Some(PRIMARY)),
            dr: SandboxProcess::start_named(
                dir,
                "dr",
                Some(&DR.replace("START_DELAY", dr_start_delay)),
            ),
        };
        regions
            .primary
            .wait_ready("shop", "app.kubernetes.io/name=web", 2);
        regions
            .dr
            .wait_ready("shop", "app.kubernetes.io/name=web", 1);
        regions.dr.wait_ready("shop", "app=cassandra", 3);
        regions
    }
}

/// What a region failover may change, as a comparable value: each workload's replicas,
/// annotations and containers' env, each Service's annotations, each node's
/// schedulability and annotations. (Absent and empty are the same.)
fn baseline(sandbox: &SandboxProcess) -> Value {
    let annotations = |object: &Value| {
        let mut kept = serde_json::Map::new();
        if let Some(map) = object["metadata"]["annotations"].as_object() {
            for (key, value) in map {
                // The Deployment controller's revision counter moves with every rollout.
                if key != "deployment.kubernetes.io/revision" {
                    kept.insert(key.clone(), value.clone());
                }
            }
        }
        Value::Object(kept)
    };
    let items = |path: &str| sandbox.get_json(path)["items"].as_array().unwrap().clone();
    let workloads: Vec<Value> = ["deployments", "statefulsets"]
        .iter()
        .flat_map(|kind| items(&format!("/apis/apps/v1/namespaces/shop/{kind}")))
        .map(|w| {
            let env: Vec<Value> = w["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| match &c["env"] {
                    Value::Array(list) if !list.is_empty() => c["env"].clone(),
                    _ => json!([]),
                })
                .collect();
            json!({
                "name": w["metadata"]["name"],
                "replicas": w["spec"]["replicas"],
                "annotations": annotations(&w),
                "env": env,
            })
        })
        .collect();
    let services: Vec<Value> = items("/api/v1/namespaces/shop/services")
        .iter()
        .map(|s| json!({ "name": s["metadata"]["name"], "annotations": annotations(s) }))
        .collect();
    let nodes: Vec<Value> = items("/api/v1/nodes")
        .iter()
        .map(|n| {
            json!({
                "name": n["metadata"]["name"],
                "unschedulable": n["spec"]["unschedulable"].as_bool().unwrap_or(false),
                "annotations": annotations(n),
            })
        })
        .collect();
    json!({ "workloads": workloads, "services": services, "nodes": nodes })
}

/// The drill: the primary taken out (scaled to zero, its nodes cordoned and drained), the
/// DR region activated (traffic annotation, two replicas, `REGION=dr`, replication
/// checked), then the failback. `canary` is the activation's canary block, if any;
/// `postgres` the replication check's, if any.
fn config(
    dir: &Path,
    regions: &Regions,
    connections: &str,
    canary: &str,
    postgres: &str,
) -> PathBuf {
    let text = format!(
        r#"version: 1
storage: {{ path: data }}
targets:
  primary: {{ kind: kubeconfig, kubeconfig: {primary} }}
  dr: {{ kind: kubeconfig, kubeconfig: {dr} }}
default_target: primary
services:
  web:
    namespace: shop
    selector: app.kubernetes.io/name=web
    probes: [{{ service_proxy: {{ service: web, port: http, path: /healthz }} }}]
  web-dr:
    target: dr
    namespace: shop
    selector: app.kubernetes.io/name=web
    probes: [{{ service_proxy: {{ service: web, port: http, path: /healthz }} }}]
{connections}
probing: {{ interval: 200ms, timeout: 1s }}
plugins:
  grants:
    region-failover:
      kubernetes:
        - {{ verbs: [get, list, watch, patch], namespaces: [shop] }}
        - {{ verbs: [get, list, patch], namespaces: [":cluster"] }}
        - {{ verbs: [list, evict], namespaces: ["*"] }}
      exec: [shop]
{granted}
drills:
  region-failover:
    description: The primary region is lost; the DR region serves; then back.
    expect_down: [web]
    phases:
      - name: primary-outage
        scenario: region-failover
        services: [web]
        params: {{ step: outage, take_out: both, drain_timeout_seconds: 5 }}
        deadline: 2m
      - name: activate-dr
        scenario: region-failover
        target: dr
        services: [web-dr]
        params:
          step: activate
          replicas: 2
          env: {{ REGION: dr }}
          traffic:
            annotate:
              kind: Service
              namespace: shop
              name: web
              annotations: {{ external-dns.alpha.kubernetes.io/hostname: web.example.com }}
          replication:
            cassandra: {{ namespace: shop, pod: cassandra-0 }}
{postgres}
{canary}
        objectives: {{ rto: 4h, rpo: 1h }}
      - name: failback
        scenario: region-failover
        services: [web]
        params: {{ step: failback }}
        objectives: {{ rto: 4h }}
"#,
        primary = regions.primary.kubeconfig.display(),
        dr = regions.dr.kubeconfig.display(),
        granted = if connections.is_empty() {
            ""
        } else {
            "      connections: [orders-dr]"
        },
    );
    let path = dir.join("firedrill.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_region_failover_runs_on_both_clusters_measures_rto_and_data_loss_and_leaves_both_as_they_were()
{
    require_plugins(&["region-failover"]);
    let dir = tempdir();
    let pg = PostgresPair::start(dir.path(), Replication::Async);
    let regions = Regions::start(dir.path(), "1s");
    let connections = format!(
        "connections:\n  orders: {{ kind: postgres, url: \"{}\" }}\n  orders-dr: {{ kind: postgres, url: \"{}\" }}",
        pg.primary_url(),
        pg.replica_url()
    );
    let config = config(
        dir.path(),
        &regions,
        &connections,
        "        canary: { connection: orders, read_from: orders-dr }",
        "            postgres: { connection: orders-dr, max_lag: 1h }",
    );
    let primary_before = baseline(&regions.primary);
    let dr_before = baseline(&regions.dr);

    let plan = firedrill()
        .arg("-c")
        .arg(&config)
        .args(["plan", "region-failover"])
        .output()
        .unwrap();
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan.contains("Phase primary-outage (region-failover) on target primary")
            && plan.contains("Phase activate-dr (region-failover) on target dr")
            && plan.contains("Phase failback (region-failover) on target primary"),
        "{plan}"
    );

    let (code, record) = run_json(&config, "region-failover");
    assert_eq!(code, 0, "{record:#}");
    assert_eq!(record["outcome"]["kind"], "passed", "{record:#}");
    assert_eq!(record["target"], "primary");
    let phases = record["phases"].as_array().unwrap();
    let names: Vec<&str> = phases.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["primary-outage", "activate-dr", "failback"]);
    // Phases without a target act on the run's; the activation on the DR cluster.
    assert!(phases[0].get("target").is_none(), "{:#}", phases[0]);
    assert_eq!(phases[1]["target"], "dr");
    assert!(phases[2].get("target").is_none(), "{:#}", phases[2]);
    for phase in phases {
        assert_eq!(phase["verdict"]["kind"], "passed", "{phase:#}");
    }
    // The RTO of the failover (the DR region serving) and of the failback, measured.
    let activate = &phases[1];
    let rto = activate["recovery_seconds"].as_f64().unwrap();
    assert_eq!(activate["rto_target_seconds"], 4.0 * 3600.0);
    assert!(
        phases[2]["recovery_seconds"].as_f64().is_some(),
        "{:#}",
        phases[2]
    );
    // Canaries written to the primary before the failure, read back in the DR region.
    let loss = &activate["data_loss"];
    let acknowledged = loss["canaries_acknowledged"].as_u64().unwrap();
    assert!(acknowledged > 0, "{loss:#}");
    assert!(loss["loss_window_seconds"].as_f64().is_some(), "{loss:#}");
    println!(
        "region failover: DR serving after {rto:.3} s; canaries {acknowledged} acknowledged, {} lost",
        loss["acknowledged_lost"]
    );
    // The failover is announced in the evidence the report carries.
    let evidence: Vec<&Value> = record["evidence"].as_array().unwrap().iter().collect();
    let failover = evidence
        .iter()
        .find(|e| e["name"] == "failover.txt")
        .unwrap_or_else(|| panic!("no failover.txt: {evidence:#?}"));
    assert!(
        failover["content"]
            .as_str()
            .unwrap()
            .contains("Region failover complete"),
        "{failover:#}"
    );
    assert!(
        evidence
            .iter()
            .any(|e| e["name"] == "cassandra-describecluster.txt" && e["phase"] == "activate-dr"),
        "{evidence:#?}"
    );
    // The primary's probes failed while it was out, and did not abort the run; the DR
    // region's answered.
    let availability = record["availability"].as_array().unwrap();
    let web = availability.iter().find(|a| a["service"] == "web").unwrap();
    assert!(
        web["successes"].as_u64() < web["probes"].as_u64(),
        "{web:#}"
    );
    let web_dr = availability
        .iter()
        .find(|a| a["service"] == "web-dr")
        .unwrap();
    assert!(web_dr["probes"].as_u64().unwrap() > 0, "{web_dr:#}");

    // Both regions as they were: the primary serving, the DR region standing by.
    regions
        .primary
        .wait_ready("shop", "app.kubernetes.io/name=web", 2);
    assert_eq!(baseline(&regions.primary), primary_before);
    assert_eq!(baseline(&regions.dr), dr_before);

    // The report shows where each phase ran.
    let run_id = record["id"].as_str().unwrap();
    let report = firedrill()
        .arg("-c")
        .arg(&config)
        .args(["report", run_id, "--format", "md"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&report.stdout);
    assert!(report.contains("activate-dr (on dr)"), "{report}");
    // The failover is announced: in the timeline, the report and the email.
    let timeline = record["timeline"].to_string();
    assert!(
        timeline.contains("Announced: Region failover complete: the DR region is now serving"),
        "{timeline}"
    );
    assert!(
        report.contains("### Announcements")
            && report.contains("(activate-dr): Region failover complete"),
        "{report}"
    );
}

#[test]
fn a_region_failover_killed_mid_activation_is_rolled_back_on_both_clusters() {
    require_plugins(&["region-failover"]);
    let dir = tempdir();
    // The DR region's new pods take three seconds to start: the activation waits for
    // them when the process is killed, with the primary out and the DR region switched.
    let regions = Regions::start(dir.path(), "3s");
    let config = config(dir.path(), &regions, "", "", "");
    let primary_before = baseline(&regions.primary);
    let dr_before = baseline(&regions.dr);

    let child = spawn_quiet(
        firedrill()
            .arg("-c")
            .arg(&config)
            .args(["run", "region-failover"]),
    );
    let dr_env_set = || {
        regions.dr.get_json("/apis/apps/v1/namespaces/shop/deployments/web")["spec"]["template"]
            ["spec"]["containers"][0]["env"]
            .as_array()
            .is_some_and(|env| env.iter().any(|v| v["name"] == "REGION"))
    };
    wait_for(
        Duration::from_secs(90),
        "the DR region to be switched",
        dr_env_set,
    );
    std::thread::sleep(Duration::from_millis(500));
    drop(child); // SIGKILL, then reap
    assert_ne!(
        baseline(&regions.primary),
        primary_before,
        "the primary is out when the process is killed"
    );
    assert!(dr_env_set(), "the kill happened before any rollback");

    let output = firedrill()
        .arg("-c")
        .arg(&config)
        .arg("recover")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("Recovered interrupted run region-failover-"),
        "{stderr}"
    );
    assert_eq!(baseline(&regions.primary), primary_before);
    assert_eq!(baseline(&regions.dr), dr_before);

    // The record says each phase was rolled back on its own target.
    let listed = firedrill()
        .arg("-c")
        .arg(&config)
        .args(["runs", "--output", "json"])
        .output()
        .unwrap();
    let runs: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let run = &runs.as_array().unwrap()[0];
    assert_eq!(run["outcome"], "interrupted", "{run:#}");
    let report = firedrill()
        .arg("-c")
        .arg(&config)
        .args([
            "report",
            run["run_id"].as_str().unwrap(),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&report.stdout);
    assert!(
        report.contains("Rollback of activate-dr on target dr after interruption: rolled back")
            && report.contains("Rollback of primary-outage after interruption: rolled back"),
        "{report}"
    );
}
