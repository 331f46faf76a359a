//! Drills run end to end by the real binary against a sandbox in its own process: measured
//! recovery against the sandbox's ground truth, PDB-blocked drains, a daemon killed
//! mid-phase, an availability abort, and a plan that changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use firedrill_tests::{
    SandboxProcess, firedrill, firedrill_bin, require_plugins, run_json, spawn_quiet, wait_for,
};
use serde_json::Value;
use tempfile::TempDir;

/// Two zones of one node; `web` (2 replicas, one per zone) and `batch` (4 replicas, two
/// per node) behind disruption budgets of maxUnavailable 1.
const PLATFORM: &str = r#"
namespace: shop
zones: [zone-a, zone-b]
nodesPerZone: 1
deployments:
  - name: web
    replicas: 2
    pdb: { maxUnavailable: 1 }
    startDelay: 1s
  - name: batch
    replicas: 4
    pdb: { maxUnavailable: 1 }
    startDelay: 1s
"#;

/// A zone-a failure with an RTO of five minutes.
const ZONE_DRILL: &str = r#"drills:
  zone:
    phases:
      - { name: zone-failure, scenario: zone-failure, params: { zone: zone-a }, objectives: { rto: 5m } }
"#;

fn config(dir: &Path, sandbox: &SandboxProcess, extra: &str) -> std::path::PathBuf {
    let text = format!(
        r#"version: 1
storage: {{ path: data, signing_key: signing.key }}
targets:
  lab: {{ kind: kubeconfig, kubeconfig: {kubeconfig} }}
default_target: lab
services:
  web:
    namespace: shop
    selector: app.kubernetes.io/name=web
    probes: [{{ service_proxy: {{ service: web, port: http, path: /healthz }} }}]
  batch:
    namespace: shop
    selector: app.kubernetes.io/name=batch
    probes: [{{ service_proxy: {{ service: batch, port: http }} }}]
probing: {{ interval: 200ms, timeout: 1s }}
plugins:
  grants:
    pod-failure:
      kubernetes: [{{ verbs: [list, delete], namespaces: [shop] }}]
    zone-failure:
      kubernetes:
        - {{ verbs: [list, patch], namespaces: [":cluster"] }}
        - {{ verbs: [list, evict], namespaces: ["*"] }}
{extra}"#,
        kubeconfig = sandbox.kubeconfig.display()
    );
    let path = dir.join("firedrill.yaml");
    std::fs::write(&path, text).unwrap();
    // 32 bytes of key as 64 hex digits; every run record is signed with it.
    std::fs::write(dir.join("signing.key"), "42".repeat(32)).unwrap();
    path
}

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

/// The instant the last pod created during `phase` became Ready: when the platform had
/// really recovered, by the sandbox's own clock.
fn truth(sandbox: &SandboxProcess, phase: &Value, until: DateTime<Utc>) -> Option<DateTime<Utc>> {
    // Kubernetes creation timestamps have whole seconds.
    let started = at(&phase["started_at"]).trunc_subsecs(0);
    let ground = sandbox.get_json("/sandbox/v1/ground-truth");
    ground["podsReady"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| at(&p["createdAt"]) >= started && at(&p["createdAt"]) < until)
        .map(|p| at(&p["readyAt"]))
        .max()
}

/// Measured recovery is within 0.5 s of the ground truth (never before the fault).
fn assert_close_to_truth(sandbox: &SandboxProcess, record: &Value, index: usize) {
    let phase = &record["phases"][index];
    let injected = at(&phase["injected_at"]);
    let recovered = at(&phase["recovered_at"]);
    let until = record["phases"].get(index + 1).map_or_else(
        || at(&record["finished_at"]),
        |next| at(&next["started_at"]),
    );
    let truth = truth(sandbox, phase, until)
        .expect("replacement pods became Ready")
        .max(injected);
    let error = (recovered - truth).num_milliseconds().abs();
    assert!(
        error <= 500,
        "phase {}: measured recovery at {recovered}, ground truth {truth}: off by {error} ms",
        phase["name"]
    );
    // Never before the platform recovered (the ground truth has whole milliseconds).
    assert!(
        recovered >= truth - chrono::Duration::milliseconds(1),
        "phase {}: recovery dated {recovered}, before the ground truth {truth}",
        phase["name"]
    );
    // The recovery time runs from where the record says the clock started.
    let started = at(&phase["clock"]["started_at"]);
    assert!(started <= injected, "{phase:#}");
    let seconds = phase["recovery_seconds"].as_f64().unwrap();
    let expected = (recovered - started).num_milliseconds() as f64 / 1000.0;
    assert!(
        (seconds - expected).abs() < 0.002,
        "{seconds} vs {expected}"
    );
}

#[test]
fn single_pod_drill_measures_recovery_within_half_a_second_of_ground_truth() {
    require_plugins(&["pod-failure"]);
    let dir = TempDir::new().unwrap();
    let sandbox = SandboxProcess::start(dir.path(), Some(PLATFORM));
    let config = config(
        dir.path(),
        &sandbox,
        r#"drills:
  single-pod:
    phases:
      - { name: pod-failure, scenario: pod-failure, objectives: { rto: 2m, availability_floor: 0.9 } }
"#,
    );
    let (code, record) = run_json(&config, "single-pod");
    assert_eq!(record["outcome"]["kind"], "passed", "{record:#}");
    assert_eq!(code, 0);
    assert_close_to_truth(&sandbox, &record, 0);
    // Availability was measured for every probed service, for the drill and the phase.
    let services: Vec<&str> = record["availability"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["batch", "web"]);
    for service in record["phases"][0]["availability"].as_array().unwrap() {
        assert!(service["probes"].as_u64().unwrap() > 0, "{service}");
        assert!(service["latency_p95_seconds"].as_f64().unwrap() > 0.0);
    }
    // Dated at the watch event in which the replacement became Ready, after a handful of
    // verify calls (on changes), not one every 100 ms.
    let phase = &record["phases"][0];
    let clock = &phase["clock"];
    // One pod per service was killed: the last replacement Ready ends the recovery.
    let pod = phase["pods"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|p| at(&p["ready_at"]))
        .expect("pods lost");
    let replacement = pod["replacement"].as_str().expect("replacement seen");
    assert_eq!(clock["stopped_by"], "watch-event", "{phase:#}");
    assert_eq!(
        clock["event"].as_str().unwrap(),
        format!("Pod {replacement} became Ready"),
        "{phase:#}"
    );
    assert!(clock["verify_calls"].as_u64().unwrap() <= 10, "{clock:#}");
    assert_eq!(at(&pod["ready_at"]), at(&phase["recovered_at"]), "{pod:#}");
    for step in ["created_at", "scheduled_at", "started_at"] {
        assert!(at(&pod[step]) <= at(&pod["ready_at"]), "{step}: {pod:#}");
    }
    assert!(
        pod["zone"].as_str().unwrap().starts_with("zone-"),
        "{pod:#}"
    );
    // The deleted pods are evidence; the plugin's hash is recorded.
    let evidence = record["evidence"].as_array().unwrap();
    assert!(evidence.iter().any(|e| e["name"] == "deleted-pods.txt"));
    assert!(
        record["plugin_sha256"]["pod-failure"]
            .as_str()
            .unwrap()
            .len()
            == 64
    );
}

#[test]
fn zone_drill_drains_through_a_blocking_disruption_budget_and_measures_recovery() {
    require_plugins(&["zone-failure"]);
    let dir = TempDir::new().unwrap();
    let sandbox = SandboxProcess::start(dir.path(), Some(PLATFORM));
    let config = config(dir.path(), &sandbox, ZONE_DRILL);
    let (code, record) = run_json(&config, "zone");
    assert_eq!(record["outcome"]["kind"], "passed", "{record:#}");
    assert_eq!(code, 0);
    assert_close_to_truth(&sandbox, &record, 0);
    // batch has two pods in zone-a and a budget of one: the second eviction was refused
    // (429) and retried until the first replacement was Ready.
    let drained = record["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "drained-nodes.txt")
        .expect("drain report attached")["content"]
        .as_str()
        .unwrap()
        .to_string();
    let retries: u32 = drained
        .lines()
        .filter_map(|l| {
            l.rsplit_once("(retries ")
                .map(|(_, r)| r.trim_end_matches(')'))
        })
        .map(|r| r.parse::<u32>().unwrap())
        .sum();
    assert!(retries > 0, "no eviction was retried: {drained}");
    // The clock started at the cordon, not when the drain held back by the budget ended:
    // the recovery time includes the drain.
    let phase = &record["phases"][0];
    let clock = &phase["clock"];
    assert_eq!(clock["started_by"], "first-action", "{phase:#}");
    assert!(
        clock["first_action"]
            .as_str()
            .unwrap()
            .starts_with("cordon node zone-a"),
        "{clock:#}"
    );
    assert!(
        clock["held_back_seconds"].as_f64().unwrap() > 0.0,
        "{clock:#}"
    );
    let inject = clock["inject_seconds"].as_f64().unwrap();
    assert!(
        inject >= 1.0,
        "the budget held the drain for a replacement's start: {clock:#}"
    );
    assert!(
        phase["recovery_seconds"].as_f64().unwrap() >= inject,
        "{phase:#}"
    );
    // Every service runs its replicas outside zone-a, and the drill's final rollback
    // uncordoned the zone.
    let nodes = sandbox.get_json("/api/v1/nodes");
    for node in nodes["items"].as_array().unwrap() {
        assert_ne!(
            node["spec"]["unschedulable"],
            Value::Bool(true),
            "{}",
            node["metadata"]["name"]
        );
    }
}

#[test]
fn the_checklist_fails_a_phase_that_takes_a_service_below_min_ready_and_over_its_budget() {
    require_plugins(&["pod-failure"]);
    let dir = TempDir::new().unwrap();
    let sandbox = SandboxProcess::start(dir.path(), Some(PLATFORM));
    // Both web pods at once: web (min_ready 1, budget maxUnavailable 1) has none Ready
    // for a while. No abort: the phase runs to its checklist.
    let config = config(
        dir.path(),
        &sandbox,
        r#"abort: { availability_window: 1000, availability_floor: 0.01 }
drills:
  both-web:
    phases:
      - name: kill-both
        scenario: pod-failure
        services: [web]
        params: { pods_per_service: 2 }
        objectives: { rto: 2m, min_ready: true, pdb_respected: true }
"#,
    );
    let (code, record) = run_json(&config, "both-web");
    assert_eq!(code, 1, "{record:#}");
    let phase = &record["phases"][0];
    assert_eq!(phase["verdict"]["kind"], "failed", "{phase:#}");
    let reasons: Vec<&str> = phase["verdict"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        reasons.contains(&"web fell to 0 Ready pods, below its min_ready of 1"),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"web had 2 pods unavailable at once; its disruption budget web allows 1"),
        "{reasons:?}"
    );
    let rows: Vec<(&str, u64, bool)> = phase["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["service"] == "web")
        .map(|r| {
            (
                r["check"].as_str().unwrap(),
                r["observed"].as_u64().unwrap(),
                r["passed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        &rows[..2],
        &[("min-ready", 0, false), ("pdb-respected", 2, false)],
        "{rows:?}"
    );
    // Both pods lost, each with its replacement's steps.
    let pods = phase["pods"].as_array().unwrap();
    assert_eq!(pods.len(), 2, "{pods:#?}");
    assert!(pods.iter().all(|p| p["ready_at"].is_string()), "{pods:#?}");
}

#[test]
fn a_run_killed_mid_zone_phase_is_rolled_back_and_recorded_as_interrupted() {
    require_plugins(&["zone-failure"]);
    let dir = TempDir::new().unwrap();
    // Replacements take 60 s to start: the drain waits on batch's disruption budget, with
    // the zone cordoned, when the process is killed.
    let sandbox = SandboxProcess::start(
        dir.path(),
        Some(&PLATFORM.replace("startDelay: 1s", "startDelay: 60s")),
    );
    let config = config(dir.path(), &sandbox, ZONE_DRILL);
    let child = spawn_quiet(firedrill().arg("-c").arg(&config).args(["run", "zone"]));
    let cordoned = || {
        sandbox.get_json("/api/v1/nodes")["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["spec"]["unschedulable"] == Value::Bool(true))
            .count()
    };
    wait_for(Duration::from_secs(60), "zone-a to be cordoned", || {
        cordoned() == 1
    });
    std::thread::sleep(Duration::from_millis(500));
    drop(child); // SIGKILL, then reap
    assert_eq!(cordoned(), 1, "the kill happened before any rollback");

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
    assert!(String::from_utf8_lossy(&output.stderr).contains("Recovered interrupted run zone-"));
    assert_eq!(cordoned(), 0, "every node is uncordoned after recovery");
    let listed = firedrill()
        .arg("-c")
        .arg(&config)
        .args(["runs", "--output", "json"])
        .output()
        .unwrap();
    let runs: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["outcome"], "interrupted", "{runs:?}");
    // Nothing is owed any more.
    let again = firedrill()
        .arg("-c")
        .arg(&config)
        .arg("recover")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stderr).contains("No interrupted run"));
}

#[test]
fn an_availability_floor_breach_aborts_the_drill_and_rolls_back() {
    require_plugins(&["pod-failure"]);
    let dir = TempDir::new().unwrap();
    // Killing every web pod with slow replacements takes web down.
    let sandbox = SandboxProcess::start(
        dir.path(),
        Some(&PLATFORM.replace("startDelay: 1s", "startDelay: 30s")),
    );
    let config = config(
        dir.path(),
        &sandbox,
        r#"abort: { availability_window: 3, availability_floor: 0.5 }
drills:
  outage:
    phases:
      - name: kill-all-web
        scenario: pod-failure
        services: [web]
        params: { pods_per_service: 2 }
        objectives: { rto: 2m }
"#,
    );
    let (code, record) = run_json(&config, "outage");
    assert_eq!(code, 3, "{record:#}");
    assert_eq!(record["outcome"]["kind"], "aborted");
    let reason = record["outcome"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("web answered")
            && reason.ends_with("of its last 3 probes, below the abort floor of 50%"),
        "{reason}"
    );
    let phase = &record["phases"][0];
    assert_eq!(phase["verdict"]["kind"], "aborted");
    assert_eq!(phase["rollback"], "rolled back");
    let web = record["availability"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "web")
        .unwrap();
    assert!(web["successes"].as_u64().unwrap() < web["probes"].as_u64().unwrap());
}

#[test]
fn plan_lists_the_zone_nodes_and_pods_and_changes_nothing() {
    require_plugins(&["zone-failure"]);
    let dir = TempDir::new().unwrap();
    let sandbox = SandboxProcess::start(dir.path(), Some(PLATFORM));
    let config = config(
        dir.path(),
        &sandbox,
        r#"drills:
  zone:
    phases:
      - { name: zone-failure, scenario: zone-failure, params: { zone: zone-a } }
"#,
    );
    let pods_before = sandbox.get_json("/api/v1/namespaces/shop/pods");
    let output = firedrill()
        .arg("-c")
        .arg(&config)
        .args(["plan", "zone"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("cordon           node/zone-a-node-1"),
        "{text}"
    );
    assert!(!text.contains("node/zone-b"), "{text}");
    let in_zone_a: Vec<String> = pods_before["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["spec"]["nodeName"]
                .as_str()
                .unwrap_or("")
                .starts_with("zone-a")
        })
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(in_zone_a.len(), 3, "one web and two batch pods in zone-a");
    for pod in &in_zone_a {
        assert!(
            text.contains(&format!("evict-pod        pod/{pod} in namespace shop")),
            "{pod}: {text}"
        );
    }
    assert!(
        text.contains("Blast radius: 3 pods disrupted, 1 node cordoned (largest phase)"),
        "{text}"
    );
    // Nothing changed: same pods, no node cordoned.
    let pods_after = sandbox.get_json("/api/v1/namespaces/shop/pods");
    let names = |list: &Value| {
        let mut names: Vec<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&pods_before), names(&pods_after));
    let nodes = sandbox.get_json("/api/v1/nodes");
    assert!(
        nodes["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["spec"]["unschedulable"] != Value::Bool(true))
    );
}

#[test]
fn a_binary_copied_alone_into_an_empty_directory_runs_the_demo_to_a_passed_report() {
    // Only the binary: no plugins directory beside it, none configured, no checkout.
    let dir = TempDir::new().unwrap();
    let bin = dir.path().join("bin").join("firedrill");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(firedrill_bin(), &bin).unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let output = std::process::Command::new(&bin)
        .current_dir(&work)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &work)
        .arg("demo")
        .output()
        .unwrap();
    assert!(!dir.path().join("plugins").exists());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report_line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("report (Markdown):"))
        .expect("the demo says where the report is");
    let report_path = work.join(report_line.split_whitespace().last().unwrap());
    let report = std::fs::read_to_string(&report_path).unwrap();
    assert!(
        report.starts_with("# DR Drill Report: zone-failure-"),
        "{report}"
    );
    assert!(report.contains("| zone-failure | 5m |"), "{report}");
    let mailbox = work.join("firedrill-demo/firedrill-data/mailbox/new");
    let messages: Vec<_> = std::fs::read_dir(&mailbox).unwrap().collect();
    assert_eq!(
        messages.len(),
        1,
        "one report email in {}",
        mailbox.display()
    );
}

/// Three zones of one node, so a second zone phase has somewhere to move pods to.
const THREE_ZONES: &str = r#"
namespace: shop
zones: [zone-a, zone-b, zone-c]
nodesPerZone: 1
deployments:
  - name: web
    replicas: 3
    pdb: { maxUnavailable: 1 }
    startDelay: 1s
  - name: batch
    replicas: 3
    pdb: { maxUnavailable: 1 }
    startDelay: 1s
"#;

/// Two phases of one scenario: zone-a, then zone-b. Rollbacks are owed to the end of
/// the drill, so both zones are cordoned at once while zone-b runs.
const TWO_ZONE_DRILL: &str = r#"drills:
  two-zones:
    phases:
      - { name: zone-a, scenario: zone-failure, params: { zone: zone-a }, objectives: { rto: 5m } }
      - { name: zone-b, scenario: zone-failure, params: { zone: zone-b }, objectives: { rto: 5m } }
"#;

fn cordoned_nodes(sandbox: &SandboxProcess) -> Vec<String> {
    sandbox.get_json("/api/v1/nodes")["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["spec"]["unschedulable"] == Value::Bool(true))
        .map(|n| n["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Each phase keeps its own state (which nodes it cordoned) and its own evidence: both
/// zones are uncordoned at the end, and each phase reports its own drained nodes.
#[test]
fn two_phases_of_one_scenario_roll_back_and_report_independently() {
    require_plugins(&["zone-failure"]);
    let dir = TempDir::new().unwrap();
    let sandbox = SandboxProcess::start(dir.path(), Some(THREE_ZONES));
    let config = config(dir.path(), &sandbox, TWO_ZONE_DRILL);
    let (code, record) = run_json(&config, "two-zones");
    assert_eq!(code, 0, "{record:#}");
    assert_eq!(
        cordoned_nodes(&sandbox),
        Vec::<String>::new(),
        "both zones uncordoned"
    );
    for (index, zone) in ["zone-a", "zone-b"].iter().enumerate() {
        let phase = &record["phases"][index];
        assert_eq!(phase["name"], *zone);
        let rolled_back = format!("Final rollback of {zone}: rolled back");
        assert!(
            record["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["phase"] == *zone && e["message"] == rolled_back.as_str()),
            "{:#}",
            record["timeline"]
        );
        let drained: Vec<&Value> = record["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["phase"] == *zone && e["name"] == "drained-nodes.txt")
            .collect();
        assert_eq!(drained.len(), 1, "{zone}: {:#}", record["evidence"]);
        let content = drained[0]["content"].as_str().unwrap();
        assert!(
            content.contains(zone),
            "{zone}'s evidence names its own nodes: {content}"
        );
        // Stamped when the phase attached it, inside the phase, not at the run's end.
        let captured = at(&drained[0]["captured_at"]);
        assert!(captured >= at(&phase["started_at"]), "{:#}", drained[0]);
        assert!(captured <= at(&phase["finished_at"]), "{:#}", drained[0]);
    }
}

/// Killed while zone-b runs (zone-a and zone-b both cordoned): recovery rolls back each
/// phase with what that phase saved, and no node stays cordoned.
#[test]
fn a_crash_between_two_phases_of_one_scenario_restores_both_zones() {
    require_plugins(&["zone-failure"]);
    let dir = TempDir::new().unwrap();
    // zone-a acts on web, whose replacements start at once: it recovers and passes (its
    // rollback is owed to the end of the drill). zone-b acts on batch, whose replacements
    // take a minute: it waits for them, both zones cordoned, when the process is killed.
    let platform = format!(
        "{}startDelay: 60s\n",
        THREE_ZONES
            .trim_end()
            .strip_suffix("startDelay: 1s")
            .unwrap()
    );
    let sandbox = SandboxProcess::start(dir.path(), Some(&platform));
    let drill = TWO_ZONE_DRILL
        .replace(
            "params: { zone: zone-a },",
            "params: { zone: zone-a }, services: [web],",
        )
        .replace(
            "params: { zone: zone-b },",
            "params: { zone: zone-b }, services: [batch],",
        );
    let config = config(dir.path(), &sandbox, &drill);
    let child = spawn_quiet(
        firedrill()
            .arg("-c")
            .arg(&config)
            .args(["run", "two-zones"]),
    );
    wait_for(
        Duration::from_secs(120),
        "zone-a and zone-b cordoned",
        || cordoned_nodes(&sandbox).len() == 2,
    );
    drop(child); // SIGKILL, then reap
    assert_eq!(
        cordoned_nodes(&sandbox).len(),
        2,
        "killed before any rollback"
    );
    let output = firedrill()
        .arg("-c")
        .arg(&config)
        .arg("recover")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        cordoned_nodes(&sandbox),
        Vec::<String>::new(),
        "both zones uncordoned after recovery: {stderr}"
    );
}

/// The sequence of the safety issue, on two sandboxes: a zone drill on `a` killed with
/// zone-a cordoned, then a run on `b`. The run on `b` rolls `a`'s run back on `a` (never on
/// `b`); with `a` gone from the configuration a second interrupted run stays owed:
/// `recover` exits 2 naming it, and the cluster keeps its cordon until `a` is back.
#[test]
fn a_run_killed_on_one_cluster_is_rolled_back_there_not_on_the_next_runs_cluster() {
    require_plugins(&["zone-failure"]);
    let dir_a = TempDir::new().unwrap();
    let dir_b = TempDir::new().unwrap();
    let slow = PLATFORM.replace("startDelay: 1s", "startDelay: 60s");
    let a = SandboxProcess::start(dir_a.path(), Some(&slow));
    let b = SandboxProcess::start(dir_b.path(), Some(PLATFORM));
    let lab = format!(
        "  lab: {{ kind: kubeconfig, kubeconfig: {} }}\n",
        a.kubeconfig.display()
    );
    let two_targets = |with_a: bool| {
        let text = std::fs::read_to_string(config(dir_a.path(), &a, ZONE_DRILL)).unwrap();
        let other = format!(
            "  other: {{ kind: kubeconfig, kubeconfig: {} }}\n",
            b.kubeconfig.display()
        );
        let text = if with_a {
            text.replace(&lab, &format!("{lab}{other}"))
        } else {
            text.replace(&lab, &other)
                .replace("default_target: lab", "default_target: other")
        };
        std::fs::write(dir_a.path().join("firedrill.yaml"), text).unwrap();
        dir_a.path().join("firedrill.yaml")
    };
    let config = two_targets(true);
    let kill_mid_zone = || {
        let child = spawn_quiet(
            firedrill()
                .arg("-c")
                .arg(&config)
                .args(["run", "zone", "--target", "lab"]),
        );
        wait_for(Duration::from_secs(60), "zone-a of `lab` cordoned", || {
            cordoned_nodes(&a).len() == 1
        });
        drop(child); // SIGKILL, then reap
    };

    kill_mid_zone();
    let output = firedrill()
        .arg("-c")
        .arg(&config)
        .args(["run", "zone", "--target", "other", "--output", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Recovered interrupted run zone-") && stderr.contains("on target lab"),
        "{stderr}"
    );
    let record: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(record["target"], "other", "the new run used its own target");
    assert_eq!(cordoned_nodes(&a), Vec::<String>::new(), "`lab` restored");
    assert_eq!(
        cordoned_nodes(&b),
        Vec::<String>::new(),
        "`other` untouched"
    );

    // The same kill, then `lab` leaves the configuration: nothing can roll it back.
    kill_mid_zone();
    let config = two_targets(false);
    let output = firedrill()
        .arg("-c")
        .arg(&config)
        .arg("recover")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("NOT recovered: run zone-")
            && stderr.contains("target lab")
            && stderr.contains("owes the rollback of zone-failure")
            && stderr.contains("`lab` is no longer in the configuration"),
        "{stderr}"
    );
    assert_eq!(cordoned_nodes(&a).len(), 1, "nothing touched `lab`");
    assert_eq!(cordoned_nodes(&b), Vec::<String>::new(), "nor `other`");

    // `lab` back: the owed run is rolled back there.
    let config = two_targets(true);
    let output = firedrill()
        .arg("-c")
        .arg(&config)
        .arg("recover")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("on target lab"), "{stderr}");
    assert_eq!(cordoned_nodes(&a), Vec::<String>::new(), "`lab` restored");
}

/// `firedrill sandbox up --tls`: kubectl verifies the sandbox's certificate from the
/// written kubeconfig, and a ServiceAccount's token (which kubectl sends only over https)
/// reaches RBAC: without a binding, listing pods is Forbidden for it.
#[test]
fn sandbox_up_with_tls_lets_kubectl_act_as_a_service_account() {
    let dir = TempDir::new().unwrap();
    let port = firedrill_tests::free_port();
    let kubeconfig = dir.path().join("tls.kubeconfig");
    let _sandbox = spawn_quiet(
        firedrill()
            .args(["sandbox", "up", "--tls", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--kubeconfig")
            .arg(&kubeconfig),
    );
    let kubectl = |args: &[&str]| {
        std::process::Command::new("kubectl")
            .arg("--request-timeout=10s")
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .args(args)
            .env("KUBECACHEDIR", dir.path().join("cache"))
            .output()
            .unwrap()
    };
    wait_for(
        Duration::from_secs(30),
        "the https sandbox to answer kubectl",
        || kubeconfig.exists() && kubectl(&["get", "nodes"]).status.success(),
    );
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(
        text.contains(&format!("server: https://127.0.0.1:{port}")),
        "{text}"
    );
    assert!(text.contains("certificate-authority-data: "), "{text}");

    let created = kubectl(&["create", "serviceaccount", "reader", "-n", "butterfly"]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let token = kubectl(&["create", "token", "reader", "-n", "butterfly"]);
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let token = String::from_utf8(token.stdout).unwrap();
    let listed = kubectl(&["--token", token.trim(), "get", "pods", "-n", "butterfly"]);
    let stderr = String::from_utf8_lossy(&listed.stderr);
    assert!(
        !listed.status.success(),
        "the token has no binding: {stderr}"
    );
    assert!(
        stderr.contains(
            r#"User "system:serviceaccount:butterfly:reader" cannot list resource "pods" in API group "" in the namespace "butterfly""#
        ),
        "{stderr}"
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// `tests/fixtures/storage-0.1` is what firedrill 0.1 left: the seed configuration on the
/// embedded sandbox, a finished `single-pod` run whose email was never delivered, and a
/// `zone-failure` run killed with `kill -9` after it cordoned zone-a, in `journal.db`,
/// `firedrill.db` and `scheduler.json`. This version finds the killed run, records it,
/// and keeps everything in one file.
#[test]
fn a_storage_directory_written_by_0_1_is_recovered_and_kept_in_one_file() {
    let dir = TempDir::new().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/storage-0.1");
    copy_tree(&fixture, dir.path());
    let config = dir.path().join("firedrill.yaml");
    let firedrill_in = |args: &[&str]| {
        let output = firedrill()
            .current_dir(dir.path())
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code(), text)
    };

    let (code, text) = firedrill_in(&["recover"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("Recovered interrupted run zone-failure-20261203T143243Z-02d1"),
        "{text}"
    );
    let (code, text) = firedrill_in(&["runs"]);
    assert_eq!(code, Some(0), "{text}");
    let outcome = |run: &str| {
        text.lines()
            .find(|line| line.starts_with(run))
            .map(|line| line.split_whitespace().collect::<Vec<_>>())
            .unwrap_or_else(|| panic!("{run} in {text}"))
    };
    assert!(outcome("single-pod-20261203T143230Z-c00c").contains(&"passed"));
    assert!(outcome("zone-failure-20261203T143243Z-02d1").contains(&"interrupted"));
    let (code, text) = firedrill_in(&["verify"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("Chain intact: 2 records"), "{text}");
    let (_, text) = firedrill_in(&["recover"]);
    assert!(text.contains("No interrupted run"), "{text}");

    let mut files: Vec<String> = std::fs::read_dir(dir.path().join("firedrill-data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with("-wal") && !name.ends_with("-shm"))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "firedrill.db",
            "journal.db.migrated",
            "reports",
            "scheduler.json.migrated"
        ]
    );
}
