//! Two `firedrill serve` replicas against one sandbox: one Lease, one leader, every
//! scheduled slot run exactly once, and a takeover when the leader dies.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use firedrill_tests::{
    Guard, SandboxProcess, api_runs, firedrill_serve, free_port, http_get, require_plugins,
    wait_for,
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
    startDelay: 1s
"#;

fn config(dir: &Path, sandbox: &SandboxProcess, name: &str, port: u16) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &path,
        format!(
            r#"version: 1
storage: {{ path: {storage} }}
targets:
  lab: {{ kind: kubeconfig, kubeconfig: {kubeconfig} }}
default_target: lab
services:
  web: {{ namespace: shop, selector: app.kubernetes.io/name=web }}
plugins:
  grants:
    pod-failure:
      kubernetes: [{{ verbs: [list, delete], namespaces: [shop] }}]
drills:
  every-minute:
    schedule: {{ cron: "* * * * *", grace: 30s }}
    phases:
      - {{ name: kill, scenario: pod-failure, objectives: {{ rto: 2m }} }}
leader_election: {{ enabled: true, namespace: shop, lease: firedrill, duration: 3s }}
api: {{ listen: "127.0.0.1:{port}" }}
"#,
            storage = dir.join("shared-data").display(),
            kubeconfig = sandbox.kubeconfig.display()
        ),
    )
    .unwrap();
    path
}

/// `firedrill serve` as the replica `identity`.
fn serve(config: &Path, identity: &str) -> Guard {
    firedrill_serve(config, &[("FIREDRILL_POD_NAME", identity)])
}

fn holder(sandbox: &SandboxProcess) -> Option<String> {
    http_get(
        &sandbox.url,
        "/apis/coordination.k8s.io/v1/namespaces/shop/leases/firedrill",
    )
    .ok()
    .and_then(|body| serde_json::from_str::<Value>(&body).ok())
    .and_then(|lease| lease["spec"]["holderIdentity"].as_str().map(str::to_string))
}

#[test]
fn two_daemons_run_each_scheduled_slot_once_and_the_standby_takes_over() {
    require_plugins(&["pod-failure"]);
    let dir = TempDir::new().unwrap();
    let sandbox = SandboxProcess::start(dir.path(), Some(PLATFORM));
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = Some(serve(
        &config(dir.path(), &sandbox, "a", port_a),
        "replica-a",
    ));
    let mut b = Some(serve(
        &config(dir.path(), &sandbox, "b", port_b),
        "replica-b",
    ));
    let (api_a, api_b) = (
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    );
    wait_for(Duration::from_secs(60), "both replicas to be ready", || {
        http_get(&api_a, "/readyz").is_ok() && http_get(&api_b, "/readyz").is_ok()
    });
    wait_for(Duration::from_secs(30), "a leader", || {
        holder(&sandbox).is_some()
    });
    let leader = holder(&sandbox).unwrap();

    // Two minute ticks: each slot runs exactly once, whichever replica leads.
    wait_for(Duration::from_secs(200), "two scheduled runs", || {
        api_runs(&api_a).len() >= 2
    });
    std::thread::sleep(Duration::from_secs(5));
    let recorded = api_runs(&api_a);
    let mut slots: Vec<String> = recorded
        .iter()
        .map(|run| {
            let id = run["id"].as_str().unwrap();
            let record: Value =
                serde_json::from_str(&http_get(&api_a, &format!("/api/v1/runs/{id}")).unwrap())
                    .unwrap();
            assert_eq!(record["trigger"]["kind"], "schedule", "{record:#}");
            record["scheduled_for"].as_str().unwrap().to_string()
        })
        .collect();
    let count = slots.len();
    slots.sort();
    slots.dedup();
    assert_eq!(slots.len(), count, "a slot ran twice: {recorded:?}");

    // The leader dies; the standby takes the Lease over once it expires.
    if leader == "replica-a" {
        a.take()
    } else {
        b.take()
    };
    let standby = if leader == "replica-a" {
        "replica-b"
    } else {
        "replica-a"
    };
    wait_for(
        Duration::from_secs(10),
        "the standby to take the Lease over",
        || holder(&sandbox).as_deref() == Some(standby),
    );
    drop((a, b));
}
