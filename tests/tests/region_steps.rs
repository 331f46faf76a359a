//! The `region-failover` scenario's steps, each a phase on the one target of a drill run by
//! the real binary against one sandbox process: an outage (workloads scaled to 0, a zone's
//! nodes cordoned and drained) followed by a failback, then a DR activation (a traffic
//! switch by annotation, replicas, env, Cassandra's `nodetool describecluster`). After each
//! run the cluster is back at its baseline: replica counts, pod templates, annotations and
//! schedulable nodes. Parameters that do not fit the step are refused by `plan`. A second
//! test switches traffic over HTTP (a recording server standing in for the DNS provider)
//! and reads a real PostgreSQL replica's replay lag.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use firedrill_tests::receiver::Receiver;
use firedrill_tests::servers::{PostgresPair, Replication};
use firedrill_tests::{
    SandboxProcess, firedrill, require_plugins, run_json, wait_for, write_config,
};
use serde_json::Value;
use tempfile::TempDir;

/// Two zones of two nodes; `api` and `nexus` (two replicas each, behind disruption
/// budgets) and a three-node Cassandra whose `nodetool` the sandbox simulates.
const PLATFORM: &str = r#"
namespace: butterfly
zones: [zone-a, zone-b]
nodesPerZone: 2
deployments:
  - name: api
    replicas: 2
    pdb: { maxUnavailable: 1 }
    startDelay: 500ms
  - name: nexus
    replicas: 2
    pdb: { maxUnavailable: 1 }
    startDelay: 500ms
statefulsets:
  - name: cassandra
    replicas: 3
    port: 9042
    startDelay: 500ms
"#;

const DNS_ANNOTATION: &str = "external-dns.alpha.kubernetes.io/hostname";

const CONFIG: &str = r#"
services:
  api: { namespace: butterfly, selector: app.kubernetes.io/name=api }
  nexus: { namespace: butterfly, selector: app.kubernetes.io/name=nexus }
plugins:
  grants:
    region-failover:
      kubernetes:
        - { verbs: [get, list, watch, patch], namespaces: [butterfly] }
        - { verbs: [get, list, patch], namespaces: [":cluster"] }
        - { verbs: [list, evict], namespaces: ["*"] }
      exec: [butterfly]
drills:
  outage-failback:
    phases:
      - { name: primary-outage, scenario: region-failover, services: [api, nexus],
          params: { step: outage, take_out: both, nodes: topology.kubernetes.io/zone=zone-a },
          objectives: { rto: 2m } }
      - { name: failback, scenario: region-failover, services: [api, nexus],
          params: { step: failback }, objectives: { rto: 2m } }
  activate:
    phases:
      - { name: activate-dr, scenario: region-failover, services: [api, nexus],
          params: { step: activate, replicas: 3, env: { REGION: dr },
                    traffic: { annotate: { kind: Service, namespace: butterfly, name: api,
                               annotations: { external-dns.alpha.kubernetes.io/hostname: api.example.com } } },
                    replication: { cassandra: { namespace: butterfly, pod: cassandra-0 } } },
          objectives: { rto: 2m } }
  misfit:
    phases:
      - { name: outage, scenario: region-failover, services: [api],
          params: { step: outage, replicas: 3 } }
"#;

fn deployment(sandbox: &SandboxProcess, name: &str) -> Value {
    sandbox.get_json(&format!(
        "/apis/apps/v1/namespaces/butterfly/deployments/{name}"
    ))
}

fn evidence(record: &Value, name: &str) -> String {
    record["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in the record's evidence: {record:#}"))["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Every phase of the run was rolled back without an error: at once when it failed, else
/// at the end of the run (an outage's rollback after the failback restored everything
/// finds nothing left to do).
fn assert_rolled_back(record: &Value) {
    let timeline = record["timeline"].as_array().unwrap();
    for phase in record["phases"].as_array().unwrap() {
        let name = phase["name"].as_str().unwrap();
        let finally = format!("Final rollback of {name}: rolled back");
        assert!(
            phase["rollback"] == "rolled back" || timeline.iter().any(|e| e["message"] == finally),
            "{name} not rolled back: {record:#}"
        );
    }
}

/// The pods of a deployment that are Ready.
fn ready_pods(sandbox: &SandboxProcess, name: &str) -> Vec<Value> {
    sandbox.get_json(&format!(
        "/api/v1/namespaces/butterfly/pods?labelSelector=app.kubernetes.io/name={name}"
    ))["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|pod| {
            pod["metadata"]["deletionTimestamp"].is_null()
                && pod["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .cloned()
        .collect()
}

/// The baseline every run must leave: two replicas of each deployment, Ready, with the
/// platform's pod template (no env), no note of an outage, every node schedulable and
/// unannotated, and the `api` Service without the traffic switch's annotation.
fn assert_baseline(sandbox: &SandboxProcess) {
    for name in ["api", "nexus"] {
        let object = deployment(sandbox, name);
        assert_eq!(object["spec"]["replicas"], 2, "{name}: {object:#}");
        assert!(
            object["metadata"]["annotations"]["firedrill.io/replicas-before-outage"].is_null(),
            "{name}: {object:#}"
        );
        let containers = object["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(containers.len(), 1, "{object:#}");
        assert!(containers[0]["env"].is_null(), "{name}: {object:#}");
        // The rollout back to the old template ends with two Ready pods without the
        // variable.
        wait_for(
            Duration::from_secs(60),
            &format!("{name} back to two Ready pods of its template"),
            || {
                let pods = ready_pods(sandbox, name);
                let all: usize = sandbox.get_json(&format!(
                    "/api/v1/namespaces/butterfly/pods?labelSelector=app.kubernetes.io/name={name}"
                ))["items"]
                    .as_array()
                    .unwrap()
                    .len();
                pods.len() == 2
                    && all == 2
                    && pods
                        .iter()
                        .all(|p| p["spec"]["containers"][0]["env"].is_null())
            },
        );
    }
    for node in sandbox.get_json("/api/v1/nodes")["items"]
        .as_array()
        .unwrap()
    {
        assert!(
            node["spec"]["unschedulable"].is_null() || node["spec"]["unschedulable"] == false,
            "{node:#}"
        );
        assert!(
            node["metadata"]["annotations"]["firedrill.io/cordoned-by"].is_null(),
            "{node:#}"
        );
    }
    let service = sandbox.get_json("/api/v1/namespaces/butterfly/services/api");
    assert!(
        service["metadata"]["annotations"][DNS_ANNOTATION].is_null(),
        "{service:#}"
    );
}

fn plan(config: &Path, drill: &str) -> (bool, String) {
    let output = firedrill()
        .arg("-c")
        .arg(config)
        .args(["plan", drill])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn region_failover_steps_take_the_region_out_fail_back_and_activate_leaving_the_baseline() {
    require_plugins(&["region-failover"]);
    let dir = TempDir::new().unwrap();
    let sandbox = SandboxProcess::start(dir.path(), Some(PLATFORM));
    sandbox.wait_ready("butterfly", "app.kubernetes.io/name=api", 2);
    sandbox.wait_ready("butterfly", "app.kubernetes.io/name=nexus", 2);
    sandbox.wait_ready("butterfly", "app=cassandra", 3);
    let config = write_config(dir.path(), &sandbox, CONFIG);

    // The plan names typed actions and changes nothing.
    let (ok, text) = plan(&config, "outage-failback");
    assert!(ok, "{text}");
    for (kind, target) in [
        ("scale-down", "deployment/api in namespace butterfly"),
        ("scale-down", "deployment/nexus in namespace butterfly"),
        ("cordon", "node/zone-a-node-1"),
        ("cordon", "node/zone-a-node-2"),
        ("uncordon", "nodes noted firedrill.io/cordoned-by"),
    ] {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(kind) && l.contains(&format!(" {target}  ("))),
            "{kind} {target} in:\n{text}"
        );
    }
    assert_baseline(&sandbox);

    // A parameter of another step is refused by name before anything happens.
    let (_, text) = plan(&config, "misfit");
    assert!(
        text.contains("`replicas` does not apply to step: outage"),
        "{text}"
    );

    // Outage then failback on the one target.
    let (code, record) = run_json(&config, "outage-failback");
    assert_eq!(record["outcome"]["kind"], "passed", "{record:#}");
    assert_eq!(code, 0);
    assert_rolled_back(&record);
    let outage = evidence(&record, "outage.txt");
    for expected in [
        "service api: scaled deployment/api in namespace butterfly from 2 to 0 (firedrill.io/replicas-before-outage=2)",
        "service nexus: scaled deployment/nexus in namespace butterfly from 2 to 0",
        "cordoned node zone-a-node-1 (firedrill.io/cordoned-by=",
        "cordoned node zone-a-node-2",
        "drained node zone-a-node-1: ",
    ] {
        assert!(outage.contains(expected), "{expected:?} in:\n{outage}");
    }
    println!(
        "recovery: outage in {} s, failback in {} s\n{outage}",
        record["phases"][0]["recovery_seconds"], record["phases"][1]["recovery_seconds"]
    );
    let failback = evidence(&record, "failback.txt");
    println!("{failback}");
    for expected in [
        "service api: scaled deployment/api in namespace butterfly from 0 back to 2 (firedrill.io/replicas-before-outage)",
        "service nexus: scaled deployment/nexus in namespace butterfly from 0 back to 2",
        "uncordoned node zone-a-node-1 (cordoned by run ",
        "uncordoned node zone-a-node-2",
    ] {
        assert!(failback.contains(expected), "{expected:?} in:\n{failback}");
    }
    assert_baseline(&sandbox);

    // The DR activation: annotation, replicas, env, then Cassandra's schema agreement
    // (the drain moved a Cassandra pod: it is back before the check).
    sandbox.wait_ready("butterfly", "app=cassandra", 3);
    let (code, record) = run_json(&config, "activate");
    assert_eq!(record["outcome"]["kind"], "passed", "{record:#}");
    assert_eq!(code, 0);
    assert_rolled_back(&record);
    let failover = evidence(&record, "failover.txt");
    assert!(
        failover.starts_with("Region failover complete: DR region (this cluster) is now serving\n"),
        "{failover}"
    );
    for expected in [
        "switched traffic: annotated service/api in namespace butterfly: external-dns.alpha.kubernetes.io/hostname=api.example.com (was: unset)",
        "service api: scaled deployment/api in namespace butterfly from 2 to 3",
        "service nexus: scaled deployment/nexus in namespace butterfly from 2 to 3",
        "service api: set REGION=dr on container(s) api of deployment/api in namespace butterfly",
        "Cassandra schema versions agree: one version (",
        "on all 3 node(s), seen from butterfly/cassandra-0",
        "every phase service has its Ready pods: api ",
        "; every env rollout complete\n",
    ] {
        assert!(failover.contains(expected), "{expected:?} in:\n{failover}");
    }
    println!("{failover}");
    let replication = evidence(&record, "replication.txt");
    assert!(
        replication.contains("Cassandra schema versions agree: one version ("),
        "{replication}"
    );
    let describe = evidence(&record, "cassandra-describecluster.txt");
    println!("{describe}");
    assert!(describe.starts_with("Cluster Information:\n"), "{describe}");
    assert!(describe.contains("\tSchema versions:\n"), "{describe}");
    assert!(!describe.contains("UNREACHABLE"), "{describe}");
    // The steps are in the runbook's order: traffic, replicas, env, replication.
    let position = |needle: &str| failover.find(needle).unwrap();
    assert!(position("switched traffic") < position("from 2 to 3"));
    assert!(position("from 2 to 3") < position("set REGION=dr"));
    assert!(position("set REGION=dr") < position("Cassandra schema"));
    assert_baseline(&sandbox);
}

#[test]
fn activation_switches_traffic_over_http_and_judges_a_real_replicas_replay_lag() {
    require_plugins(&["region-failover"]);
    let dir = tempfile::Builder::new()
        .prefix("firedrill-region-")
        .tempdir()
        .unwrap();
    let pg = PostgresPair::start(dir.path(), Replication::Async);
    // A transaction replayed on the replica: its replay timestamp is set.
    pg.psql_ok(
        pg.primary_port,
        "CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1)",
    );
    wait_for(Duration::from_secs(30), "the replica to replay", || {
        pg.psql(pg.replica_port, "SELECT count(*) FROM orders")
            .is_ok_and(|count| count.trim() == "1")
    });
    let dns = Receiver::start();
    let sandbox = SandboxProcess::start(dir.path(), Some(PLATFORM));
    sandbox.wait_ready("butterfly", "app.kubernetes.io/name=api", 2);
    let records = format!("{}/zones/example/records", dns.url());
    let config = write_config(
        dir.path(),
        &sandbox,
        &format!(
            r#"
services:
  api: {{ namespace: butterfly, selector: app.kubernetes.io/name=api }}
connections:
  dr-replica: {{ kind: postgres, url: "{replica}" }}
plugins:
  grants:
    region-failover:
      kubernetes:
        - {{ verbs: [get, list, watch, patch], namespaces: [butterfly] }}
        - {{ verbs: [get, list, patch], namespaces: [":cluster"] }}
      hosts: ["127.0.0.1:{port}"]
      connections: [dr-replica]
drills:
  activate-http:
    phases:
      - {{ name: activate-dr, scenario: region-failover, services: [api],
          params: {{ step: activate,
                    traffic: {{ http: {{ method: post, url: "{records}", headers: {{ X-Api-Key: k }},
                                       body: {{ name: api.example.com, target: dr }},
                                       rollback: {{ method: POST, url: "{records}",
                                                   body: {{ name: api.example.com, target: primary }} }} }} }},
                    replication: {{ postgres: {{ connection: dr-replica, max_lag: 1h }} }} }} }}
  lagging:
    phases:
      - {{ name: activate-dr, scenario: region-failover, services: [api],
          params: {{ step: activate, replication: {{ postgres: {{ connection: dr-replica, max_lag: 0s }} }} }} }}
  failback-http:
    phases:
      - {{ name: failback, scenario: region-failover, services: [api],
          params: {{ step: failback, traffic: {{ http: {{ method: POST, url: "{records}",
                                                       body: {{ name: api.example.com, target: primary }} }} }} }} }}
"#,
            replica = pg.replica_url(),
            port = dns.port,
        ),
    );

    // The switch, then its rollback request at the end of the run.
    let (code, record) = run_json(&config, "activate-http");
    assert_eq!(record["outcome"]["kind"], "passed", "{record:#}");
    assert_eq!(code, 0);
    assert_rolled_back(&record);
    let requests = dns.wait_for(2, Duration::from_secs(10));
    assert_eq!(requests.len(), 2, "{requests:?}");
    for (request, target) in requests.iter().zip(["dr", "primary"]) {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/zones/example/records");
        assert_eq!(request.json()["target"], target, "{request:?}");
        assert_eq!(request.header("content-type"), Some("application/json"));
    }
    assert_eq!(requests[0].header("x-api-key"), Some("k"));
    let failover = evidence(&record, "failover.txt");
    for expected in [
        &format!("switched traffic: POST {records} answered 200"),
        "PostgreSQL dr-replica: replay lag ",
        "(max_lag 1h)",
    ] {
        assert!(failover.contains(expected), "{expected:?} in:\n{failover}");
    }
    println!("{failover}");

    // A replica further behind than max_lag fails the phase, saying so.
    let (code, record) = run_json(&config, "lagging");
    assert_ne!(code, 0);
    assert_eq!(record["outcome"]["kind"], "failed", "{record:#}");
    assert_rolled_back(&record);
    let verdict = record["phases"][0]["verdict"].to_string();
    assert!(
        evidence(&record, "replication.txt").contains("PostgreSQL dr-replica: replay lag "),
        "{record:#}"
    );
    assert!(
        verdict.contains("replication.postgres: the DR replica dr-replica replays ")
            && verdict.contains("behind the primary, above max_lag 0s"),
        "{verdict}"
    );

    // A switch back without a rollback request: the operator is left a follow-up.
    let (code, record) = run_json(&config, "failback-http");
    assert_eq!(record["outcome"]["kind"], "passed", "{record:#}");
    assert_eq!(code, 0);
    assert_rolled_back(&record);
    let requests = dns.wait_for(3, Duration::from_secs(10));
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert_eq!(requests[2].json()["target"], "primary");
    let follow_up = evidence(&record, "follow-up.txt");
    assert_eq!(
        follow_up,
        format!(
            "Switch traffic back by hand: the drill sent POST {records} (traffic.http) and has no traffic.http.rollback request to undo it.\n"
        )
    );
    let failback = evidence(&record, "failback.txt");
    assert!(
        failback.contains("service api: 2/2 pods Ready")
            && failback.contains(&format!("switched traffic: POST {records} answered 200")),
        "{failback}"
    );
    assert_eq!(dns.requests().len(), 3);
}
