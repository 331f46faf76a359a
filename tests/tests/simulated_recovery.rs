//! The runbook's Kafka full cluster recovery, point-in-time replay and Cassandra full
//! restore, run by the real binary against a sandbox process whose Kafka and Cassandra
//! tools are simulated (`kafka-topics.sh`, `kafka-consumer-groups.sh`, `cqlsh`,
//! `sstableloader`, `nodetool repair`): each drill passes, its record shows what moved
//! (partitions and replication factor, offsets to the datetime, rows restored), the report
//! says the tools were simulated, and after the run the sandbox is as before (the group's
//! offsets back, the scratch keyspace gone). The sandbox's state is read with `kubectl
//! exec`, as an operator would read a cluster's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use firedrill_tests::{SandboxProcess, firedrill, require_plugins, run_json, write_config};
use serde_json::Value;
use tempfile::TempDir;

/// Three Kafka brokers holding `rim.fast-path` (12 partitions, two hours of messages, one
/// a minute per partition) and the group `perception` caught up on it; three Cassandra
/// nodes that can read a 45-minute-old backup of keyspace `butterfly`.
const PLATFORM: &str = r#"
namespace: butterfly
zones: [zone-a, zone-b, zone-c]
nodesPerZone: 1
statefulsets:
  - name: kafka
    replicas: 3
    port: 9092
    image: apache/kafka:3.7.0
    startDelay: 300ms
    topics:
      - { name: rim.fast-path, partitions: 12, replicationFactor: 3,
          configs: { min.insync.replicas: 2 }, messages: 120, messageInterval: 1m }
    consumerGroups:
      - { name: perception, topic: rim.fast-path }
  - name: cassandra
    replicas: 3
    port: 9042
    image: cassandra:4.1
    startDelay: 300ms
    backups:
      - path: /tmp/cassandra-backup
        keyspace: butterfly
        age: 45m
        tables:
          - { name: events, rows: 5000 }
          - { name: capsules, rows: 1200, columns: "id uuid PRIMARY KEY, owner text" }
"#;

const CONFIG: &str = r#"
services:
  kafka: { namespace: butterfly, selector: app=kafka }
  cassandra: { namespace: butterfly, selector: app=cassandra }
plugins:
  grants:
    kafka-cluster-recovery:
      kubernetes: [{ verbs: [list], namespaces: [butterfly] }]
      exec: [butterfly]
    cassandra-restore:
      kubernetes: [{ verbs: [list], namespaces: [butterfly] }]
      exec: [butterfly]
drills:
  kafka-replay:
    phases:
      - { name: point-in-time, scenario: kafka-cluster-recovery, services: [kafka],
          params: { mode: replay, replay: { group: perception, topic: rim.fast-path, minutes_ago: 30 } },
          objectives: { rto: 2h } }
  kafka-recreate-guarded:
    phases:
      - { name: full-cluster, scenario: kafka-cluster-recovery, services: [kafka],
          params: { topics: [{ name: rim.fast-path, partitions: 12, replication_factor: 3 }] },
          objectives: { rto: 30m } }
  kafka-recreate:
    phases:
      - { name: full-cluster, scenario: kafka-cluster-recovery, services: [kafka],
          params: { allow_data_loss: true,
                    topics: [{ name: rim.fast-path, partitions: 12, replication_factor: 3,
                               configs: { min.insync.replicas: 2 } }] },
          objectives: { rto: 30m } }
  cassandra-restore:
    phases:
      - { name: full-restore, scenario: cassandra-restore, services: [cassandra],
          params: { backup: /tmp/cassandra-backup,
                    tables: [{ name: events, min_rows: 5000 }, { name: capsules, min_rows: 1200 }] },
          objectives: { rto: 1h, rpo: 1h } }
"#;

struct Lab {
    dir: TempDir,
    sandbox: SandboxProcess,
    config: PathBuf,
}

fn lab() -> Lab {
    require_plugins(&["kafka-cluster-recovery", "cassandra-restore"]);
    let dir = TempDir::new().unwrap();
    let sandbox = SandboxProcess::start(dir.path(), Some(PLATFORM));
    sandbox.wait_ready("butterfly", "app=kafka", 3);
    sandbox.wait_ready("butterfly", "app=cassandra", 3);
    let config = write_config(dir.path(), &sandbox, CONFIG);
    Lab {
        dir,
        sandbox,
        config,
    }
}

/// `kubectl exec POD -- COMMAND` in namespace butterfly: its stdout (it must succeed).
fn kubectl_exec(kubeconfig: &Path, pod: &str, command: &[&str]) -> String {
    let output = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["exec", "-n", "butterfly", pod, "--"])
        .args(command)
        .output()
        .expect("run kubectl");
    assert!(
        output.status.success(),
        "kubectl exec {pod} -- {command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The group's committed offsets on `rim.fast-path`, by partition, as
/// `kafka-consumer-groups.sh --describe` prints them.
fn committed_offsets(lab: &Lab) -> Vec<(u32, String)> {
    let text = kubectl_exec(
        &lab.sandbox.kubeconfig,
        "kafka-0",
        &[
            "kafka-consumer-groups.sh",
            "--bootstrap-server",
            "localhost:9092",
            "--describe",
            "--group",
            "perception",
        ],
    );
    text.lines()
        .filter(|l| l.starts_with("perception "))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (words[2].parse().unwrap(), words[3].to_owned())
        })
        .collect()
}

fn evidence(record: &Value, name: &str) -> String {
    record["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no {name} evidence in {record:#}"))["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn report(lab: &Lab, record: &Value) -> String {
    let id = record["id"].as_str().unwrap();
    std::fs::read_to_string(lab.dir.path().join(format!("data/reports/{id}/report.md"))).unwrap()
}

#[test]
fn a_point_in_time_replay_moves_the_group_to_the_datetime_and_back_on_rollback() {
    let lab = lab();
    let before = committed_offsets(&lab);
    assert_eq!(before.len(), 12);
    assert!(before.iter().all(|(_, o)| o == "120"), "{before:?}");

    let (code, record) = run_json(&lab.config, "kafka-replay");
    assert_eq!(code, 0, "{record:#}");
    assert_eq!(record["outcome"]["kind"], "passed", "{record:#}");
    // Thirty minutes back from the newest of messages a minute apart: offset 90 of 120
    // on every partition, 30 messages a partition to read again.
    let offsets = evidence(&record, "offsets.txt");
    let rows: Vec<Vec<&str>> = offsets
        .lines()
        .skip(2)
        .take(12)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 12, "{offsets}");
    for row in &rows {
        assert_eq!(&row[1..], ["120", "90", "120", "30"], "{offsets}");
    }
    assert!(
        offsets.contains("messages read again: 360; lag after the reset: 360"),
        "{offsets}"
    );
    let after = evidence(&record, "group-after.txt");
    assert!(
        after
            .lines()
            .filter(|l| l.starts_with("perception "))
            .all(|l| l.split_whitespace().nth(3) == Some("90")),
        "{after}"
    );
    assert!(evidence(&record, "tools.txt").contains("simulated by the firedrill sandbox"));
    let report = report(&lab, &record);
    assert!(report.contains("simulated Kafka tools"), "{report}");

    // Rolled back at the end of the run: the committed offsets are as before.
    assert_eq!(committed_offsets(&lab), before);
}

#[test]
fn a_full_cluster_recovery_recreates_the_topic_only_when_data_loss_is_allowed() {
    let lab = lab();
    let kubeconfig = &lab.sandbox.kubeconfig;
    let describe = || {
        kubectl_exec(
            kubeconfig,
            "kafka-1",
            &[
                "kafka-topics.sh",
                "--bootstrap-server",
                "localhost:9092",
                "--describe",
                "--topic",
                "rim.fast-path",
            ],
        )
    };
    let topic_id = |text: &str| {
        text.split('\t')
            .find_map(|f| f.strip_prefix("TopicId: "))
            .unwrap()
            .to_owned()
    };
    let original = topic_id(&describe());

    // The plan says the guard; inject refuses and deletes nothing.
    let plan = firedrill()
        .arg("-c")
        .arg(&lab.config)
        .args(["plan", "kafka-recreate-guarded"])
        .output()
        .unwrap();
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan.contains("REFUSED unless allow_data_loss: true"),
        "{plan}"
    );
    let (code, refused) = run_json(&lab.config, "kafka-recreate-guarded");
    assert_ne!(code, 0, "{refused:#}");
    assert_ne!(refused["outcome"]["kind"], "passed", "{refused:#}");
    assert!(
        refused.to_string().contains("allow_data_loss"),
        "{refused:#}"
    );
    assert_eq!(topic_id(&describe()), original, "nothing was deleted");

    let (code, record) = run_json(&lab.config, "kafka-recreate");
    assert_eq!(code, 0, "{record:#}");
    assert_eq!(record["outcome"]["kind"], "passed", "{record:#}");
    let after = evidence(&record, "topics-after.txt");
    assert!(
        after.contains("PartitionCount: 12\tReplicationFactor: 3\tConfigs: min.insync.replicas=2"),
        "{after}"
    );
    assert_eq!(after.matches("\tPartition: ").count(), 12, "{after}");
    assert!(!after.contains("Leader: none"), "{after}");
    let follow_ups = record["phases"][0]["follow_ups"].to_string();
    assert!(
        follow_ups.contains("Topic rim.fast-path was deleted and recreated empty"),
        "{follow_ups}"
    );
    assert!(follow_ups.contains("simulated Kafka tools"), "{follow_ups}");
    let report = report(&lab, &record);
    assert!(report.contains("simulated Kafka tools"), "{report}");

    // A new topic, empty: its messages and the group's offsets on it are gone.
    assert_ne!(topic_id(&describe()), original);
    assert!(committed_offsets(&lab).is_empty());
    let consumed = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["exec", "-n", "butterfly", "kafka-0", "--"])
        .args([
            "kafka-console-consumer.sh",
            "--bootstrap-server",
            "localhost:9092",
            "--topic",
            "rim.fast-path",
            "--from-beginning",
            "--timeout-ms",
            "1000",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&consumed.stdout), "");
    assert!(String::from_utf8_lossy(&consumed.stderr).contains("Processed a total of 0 messages"));
}

#[test]
fn a_cassandra_restore_loads_the_backup_into_a_scratch_keyspace_and_drops_it() {
    let lab = lab();
    let (code, record) = run_json(&lab.config, "cassandra-restore");
    assert_eq!(code, 0, "{record:#}");
    assert_eq!(record["outcome"]["kind"], "passed", "{record:#}");
    let verification = evidence(&record, "restore-verification.txt");
    let scratch = verification.split_whitespace().nth(3).unwrap().to_owned();
    assert!(scratch.starts_with("firedrill_restore_"), "{verification}");
    assert!(
        verification.contains(&format!("{scratch}.events: 5000 rows")),
        "{verification}"
    );
    assert!(
        verification.contains(&format!("{scratch}.capsules: 1200 rows")),
        "{verification}"
    );
    assert!(verification.contains("simulated"), "{verification}");
    assert!(
        evidence(&record, "repair.txt").contains("Repair completed successfully"),
        "{record:#}"
    );
    // The backup's age is the RPO exposure: 45 minutes, within the 1 h objective.
    let phase = &record["phases"][0];
    let age = phase["data_loss"]["backup_age_seconds"].as_f64().unwrap();
    assert!((2700.0..2760.0).contains(&age), "{phase:#}");
    let report = report(&lab, &record);
    assert!(report.contains("simulated Cassandra tools"), "{report}");

    // Rolled back: the scratch keyspace is gone, production untouched.
    let kubeconfig = &lab.sandbox.kubeconfig;
    let keyspaces = kubectl_exec(
        kubeconfig,
        "cassandra-1",
        &["cqlsh", "-e", "DESCRIBE KEYSPACES"],
    );
    assert!(keyspaces.contains("butterfly"), "{keyspaces}");
    assert!(!keyspaces.contains("firedrill_restore_"), "{keyspaces}");
    let count = kubectl_exec(
        kubeconfig,
        "cassandra-1",
        &["cqlsh", "-e", "SELECT COUNT(*) FROM butterfly.events"],
    );
    assert!(count.contains("\n  5000\n"), "{count}");
}
