//! Stateful drills end to end: the real binary fails over a real PostgreSQL primary and
//! streaming replica and a real Redis master watched by three Sentinels, measuring recovery
//! and the canaries written and lost; restores a real pg_dump; and drills the sandbox's
//! Cassandra and Kafka pods with `nodetool status` / `kafka-topics.sh` evidence.
//!
//! The database pods are sandbox pods with `exec: local`: the scenario runs its commands
//! (`pg_ctl stop -m immediate`, `pg_restore`) through the Kubernetes exec API exactly as on
//! a cluster, and the sandbox runs them on this machine, where the servers are.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use firedrill_tests::servers::{PostgresPair, RedisSentinel, Replication};
use firedrill_tests::{SandboxProcess, firedrill, require_plugins, run_json, write_config};
use serde_json::Value;
use tempfile::TempDir;

/// A test directory the `postgres` user can traverse (the harness runs PostgreSQL as
/// that user when the tests run as root).
fn tempdir() -> TempDir {
    tempfile::Builder::new()
        .prefix("firedrill-stateful-")
        .tempdir()
        .unwrap()
}

fn evidence_names(record: &Value) -> Vec<String> {
    record["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

fn postgres_failover_config(dir: &Path, sandbox: &SandboxProcess, pg: &PostgresPair) -> PathBuf {
    postgres_failover_config_stopping(dir, sandbox, pg, &pg.stop_primary_command_json())
}

/// The failover drill with `stop` (a JSON list) as the command that stops the primary.
fn postgres_failover_config_stopping(
    dir: &Path,
    sandbox: &SandboxProcess,
    pg: &PostgresPair,
    stop: &str,
) -> PathBuf {
    write_config(dir, sandbox, &pg.failover_drill(stop))
}

#[test]
fn postgres_failover_with_synchronous_replication_loses_no_acknowledged_write() {
    require_plugins(&["postgres-failover"]);
    let dir = tempdir();
    let pg = PostgresPair::start(dir.path(), Replication::Sync);
    let sandbox = pg.sandbox(dir.path());
    let config = postgres_failover_config(dir.path(), &sandbox, &pg);

    // The plan names the stop, the promotion and the canaries, and changes nothing.
    let plan = firedrill()
        .arg("-c")
        .arg(&config)
        .args(["plan", "failover"])
        .output()
        .unwrap();
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan.contains("exec") && plan.contains("pod/postgresql-0"),
        "{plan}"
    );
    assert!(plan.contains("pg_promote"), "{plan}");
    assert!(
        plan.contains("canary") && plan.contains("read back from replica"),
        "{plan}"
    );
    assert_eq!(
        pg.psql_ok(pg.replica_port, "SELECT pg_is_in_recovery()")
            .trim(),
        "t"
    );

    let (_, record) = run_json(&config, "failover");
    let phase = &record["phases"][0];
    assert_eq!(phase["verdict"]["kind"], "passed", "{phase:#}");
    let recovery = phase["recovery_seconds"].as_f64().unwrap();
    assert!(recovery > 0.0, "{phase:#}");
    let loss = &phase["data_loss"];
    let written = loss["canaries_written"].as_u64().unwrap();
    let acknowledged = loss["canaries_acknowledged"].as_u64().unwrap();
    // 1 s of canaries every 100 ms before the fault, more during it.
    assert!(acknowledged >= 5 && written >= acknowledged, "{loss:#}");
    assert_eq!(loss["acknowledged_lost"], 0, "{loss:#}");
    println!(
        "postgres failover (sync): recovered in {recovery:.3} s; canaries {written} written, {acknowledged} acknowledged, 0 lost"
    );

    // What an operator checks by hand: the replica is the primary now, the old one is down.
    assert_eq!(
        pg.psql_ok(pg.replica_port, "SELECT pg_is_in_recovery()")
            .trim(),
        "f"
    );
    assert!(pg.psql(pg.primary_port, "SELECT 1").is_err());
    let names = evidence_names(&record);
    for expected in [
        "replication-before.txt",
        "primary-stop.txt",
        "promoted.txt",
        "follow-up.txt",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    // The canaries were removed from the new primary.
    assert_eq!(
        pg.psql_ok(pg.replica_port, "SELECT count(*) FROM firedrill_canary")
            .trim(),
        "0"
    );
    // Rebuilding the old primary is the operator's: the report lists it.
    let id = record["id"].as_str().unwrap();
    let report =
        std::fs::read_to_string(dir.path().join(format!("data/reports/{id}/report.md"))).unwrap();
    assert!(
        report.contains("Rebuild the old PostgreSQL primary data/postgresql-0"),
        "{report}"
    );
}

#[test]
fn postgres_failover_whose_stop_fails_promotes_nothing_and_asks_to_check_the_primary() {
    require_plugins(&["postgres-failover"]);
    let dir = tempdir();
    let pg = PostgresPair::start(dir.path(), Replication::Async);
    let sandbox = pg.sandbox(dir.path());
    let stop = r#"["sh", "-c", "echo 'pg_ctl: permission denied' >&2; exit 4"]"#;
    let config = postgres_failover_config_stopping(dir.path(), &sandbox, &pg, stop);

    let record = run_json(&config, "failover").1;
    let phase = &record["phases"][0];
    assert_eq!(phase["verdict"]["kind"], "error", "{phase:#}");
    let message = phase["verdict"]["message"].as_str().unwrap();
    assert!(
        message.contains("exited with 4") && message.contains("permission denied"),
        "{message}"
    );
    assert_eq!(phase["rollback"], "rolled back", "{phase:#}");
    // Nothing was promoted: the primary still takes writes, the replica still follows it.
    assert_eq!(
        pg.psql_ok(pg.primary_port, "SELECT pg_is_in_recovery()")
            .trim(),
        "f"
    );
    assert_eq!(
        pg.psql_ok(pg.replica_port, "SELECT pg_is_in_recovery()")
            .trim(),
        "t"
    );
    let follow_up = record["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "follow-up.txt")
        .expect("a follow-up step");
    assert!(
        follow_up["content"]
            .as_str()
            .unwrap()
            .contains("did not finish successfully"),
        "{follow_up:#}"
    );
    // The canaries written before the failed inject were measured and removed.
    assert!(
        phase["data_loss"]["canaries_acknowledged"]
            .as_u64()
            .unwrap()
            >= 5,
        "{phase:#}"
    );
    assert_eq!(
        pg.psql_ok(pg.primary_port, "SELECT count(*) FROM firedrill_canary")
            .trim(),
        "0"
    );
}

#[test]
fn postgres_failover_with_lagging_asynchronous_replica_shows_the_lost_writes() {
    require_plugins(&["postgres-failover"]);
    let dir = tempdir();
    let pg = PostgresPair::start(dir.path(), Replication::Async);
    // The canary table exists from an earlier drill (so the rows are what is lost, not
    // the table), and has reached the replica.
    pg.psql_ok(
        pg.primary_port,
        "CREATE TABLE firedrill_canary (run_id text NOT NULL, phase text NOT NULL, \
         seq bigint NOT NULL, written_at timestamptz NOT NULL DEFAULT now(), \
         PRIMARY KEY (run_id, phase, seq))",
    );
    firedrill_tests::wait_for(
        std::time::Duration::from_secs(30),
        "the canary table on the replica",
        || {
            pg.psql(pg.replica_port, "SELECT 1 FROM firedrill_canary")
                .is_ok()
        },
    );
    // The replica stops receiving WAL: the primary keeps acknowledging commits that will
    // not survive the failover, as with any asynchronous replica that falls behind.
    pg.break_replication();
    let sandbox = pg.sandbox(dir.path());
    let config = postgres_failover_config(dir.path(), &sandbox, &pg);

    let (_, record) = run_json(&config, "failover");
    let phase = &record["phases"][0];
    let loss = &phase["data_loss"];
    assert!(loss.is_object(), "{phase:#}");
    let acknowledged = loss["canaries_acknowledged"].as_u64().unwrap();
    let lost = loss["acknowledged_lost"].as_u64().unwrap();
    assert!(acknowledged >= 5, "{loss:#}");
    // Everything acknowledged before the fault went to the primary alone.
    assert!(lost >= 5 && lost <= acknowledged, "{loss:#}");
    let window = loss["loss_window_seconds"].as_f64().unwrap();
    assert!(window >= 0.5, "{loss:#}");
    assert_eq!(phase["verdict"]["kind"], "failed", "{phase:#}");
    let reasons = phase["verdict"]["reasons"].to_string();
    assert!(reasons.contains("acknowledged writes lost"), "{reasons}");
    println!(
        "postgres failover (async, lagging): {lost} of {acknowledged} acknowledged canaries lost over {window:.3} s"
    );
    assert_eq!(record["outcome"]["kind"], "failed");
}

#[test]
fn redis_sentinel_failover_moves_the_master_and_counts_the_canaries() {
    require_plugins(&["redis-sentinel-failover"]);
    let dir = tempdir();
    let redis = RedisSentinel::start(dir.path());
    let sandbox = SandboxProcess::start(dir.path(), None);
    let nodes: Vec<String> = redis.sentinel_nodes();
    let config = write_config(
        dir.path(),
        &sandbox,
        &format!(
            r#"
connections:
  sessions:
    kind: redis
    url: "redis://127.0.0.1:{master}"
    sentinel: {{ master: mymaster, nodes: {nodes} }}
  sentinel: {{ kind: redis, url: "redis://127.0.0.1:{sentinel}" }}
plugins:
  grants:
    redis-sentinel-failover:
      connections: [sessions, sentinel]
drills:
  failover:
    phases:
      - name: redis-failover
        scenario: redis-sentinel-failover
        params: {{ connection: sessions, sentinel: sentinel }}
        canary: {{ connection: sessions }}
        objectives: {{ rto: 1m, rpo: 5s }}
"#,
            master = redis.master_port,
            nodes = serde_json::to_string(&nodes).unwrap(),
            sentinel = redis.sentinel_ports[0],
        ),
    );

    let (_, record) = run_json(&config, "failover");
    let phase = &record["phases"][0];
    assert_eq!(phase["verdict"]["kind"], "passed", "{phase:#}");
    assert_eq!(redis.current_master_port(), Some(redis.replica_port));
    let loss = &phase["data_loss"];
    let written = loss["canaries_written"].as_u64().unwrap();
    let acknowledged = loss["canaries_acknowledged"].as_u64().unwrap();
    let lost = loss["acknowledged_lost"].as_u64().unwrap();
    assert!(
        acknowledged >= 5 && written >= acknowledged && lost <= acknowledged,
        "{loss:#}"
    );
    println!(
        "redis sentinel failover: recovered in {:.3} s; canaries {written} written, {acknowledged} acknowledged, {lost} lost",
        phase["recovery_seconds"].as_f64().unwrap()
    );
    let names = evidence_names(&record);
    assert!(
        names.iter().any(|n| n == "sentinel-before.txt"),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n == "sentinel-after.txt"), "{names:?}");
}

#[test]
fn postgres_restore_restores_the_newest_dump_and_reports_its_age() {
    require_plugins(&["postgres-restore"]);
    let dir = tempdir();
    let pg = PostgresPair::start(dir.path(), Replication::Async);
    pg.psql_ok(
        pg.primary_port,
        "CREATE TABLE orders (id int PRIMARY KEY, item text); \
         INSERT INTO orders SELECT g, 'item ' || g FROM generate_series(1, 250) g",
    );
    let checksum = pg
        .psql_ok(
            pg.primary_port,
            "SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM orders t",
        )
        .trim()
        .to_string();
    let backups = dir.path().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    let dump = |name: &str, age: &str| pg.dump_primary(&backups.join(name), age);
    // An older backup with fewer rows, and the newest one, 30 minutes old.
    dump("newest.dump", "30 minutes ago");
    pg.psql_ok(pg.primary_port, "DELETE FROM orders WHERE id > 100");
    dump("older.dump", "3 hours ago");
    pg.psql_ok(pg.primary_port, "DROP TABLE orders");

    let sandbox = pg.sandbox(dir.path());
    let config = write_config(
        dir.path(),
        &sandbox,
        &format!(
            r#"
services:
  postgresql: {{ namespace: data, selector: app=postgresql }}
connections:
  primary: {{ kind: postgres, url: "{primary}" }}
plugins:
  grants:
    postgres-restore:
      kubernetes: [{{ verbs: [list], namespaces: [data] }}]
      exec: [data]
      connections: [primary]
drills:
  restore:
    phases:
      - name: restore
        scenario: postgres-restore
        services: [postgresql]
        params:
          connection: primary
          pod: postgresql-0
          backups: {backups}
          work_dir: {work}
          tables: [{{ name: orders, min_rows: 250, checksum: "{checksum}" }}]
        objectives: {{ rto: 2m, rpo: 1h }}
"#,
            primary = pg.primary_url(),
            backups = backups.display(),
            work = dir.path().display(),
        ),
    );

    let (_, record) = run_json(&config, "restore");
    let phase = &record["phases"][0];
    assert_eq!(phase["verdict"]["kind"], "passed", "{phase:#}");
    let duration = phase["recovery_seconds"].as_f64().unwrap();
    let age = phase["data_loss"]["backup_age_seconds"].as_f64().unwrap();
    assert!((1800.0..1800.0 + 300.0).contains(&age), "backup age {age}");
    println!("postgres restore: restored in {duration:.3} s; newest backup {age:.0} s old");
    let evidence = record["evidence"].as_array().unwrap();
    let verification = evidence
        .iter()
        .find(|e| e["name"] == "restore-verification.txt")
        .expect("restore verification evidence");
    let text = verification["content"].as_str().unwrap();
    assert!(text.contains("newest.dump"), "{text}");
    assert!(
        text.contains(&format!("orders: 250 rows, md5 {checksum}")),
        "{text}"
    );
    // The scratch database is gone afterwards.
    assert_eq!(
        pg.psql_ok(
            pg.primary_port,
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'firedrill_restore_%'"
        )
        .trim(),
        "0"
    );
}

/// Cassandra and Kafka as the sandbox simulates them: three nodes each. The canary topic
/// needs two in-sync replicas of three, so writes are still acknowledged with one broker
/// gone.
const STATEFUL_PLATFORM: &str = r#"
namespace: data
zones: [zone-a, zone-b, zone-c]
nodesPerZone: 1
statefulsets:
  - name: cassandra
    replicas: 3
    port: 9042
    startDelay: 1s
  - name: kafka
    replicas: 3
    port: 9092
    startDelay: 1s
    catchUpDelay: 2s
    topics:
      - {name: firedrill-canary, partitions: 3, replicationFactor: 3, configs: {min.insync.replicas: 2}}
      - {name: orders, partitions: 6, replicationFactor: 3, configs: {min.insync.replicas: 2}}
"#;

#[test]
fn cassandra_node_and_kafka_broker_recover_on_the_sandbox_with_evidence() {
    require_plugins(&["cassandra-node", "kafka-broker"]);
    let dir = tempdir();
    let sandbox = SandboxProcess::start(dir.path(), Some(STATEFUL_PLATFORM));
    sandbox.wait_ready("data", "app=cassandra", 3);
    sandbox.wait_ready("data", "app=kafka", 3);
    let config = write_config(
        dir.path(),
        &sandbox,
        r#"
services:
  cassandra: { namespace: data, selector: app=cassandra }
  kafka: { namespace: data, selector: app=kafka }
plugins:
  grants:
    cassandra-node:
      kubernetes: [{ verbs: [list, delete], namespaces: [data] }]
      exec: [data]
    kafka-broker:
      kubernetes: [{ verbs: [list, delete], namespaces: [data] }]
      exec: [data]
drills:
  stateful:
    phases:
      - { name: cassandra-node, scenario: cassandra-node, services: [cassandra], objectives: { rto: 1m } }
      - { name: kafka-broker, scenario: kafka-broker, services: [kafka], objectives: { rto: 1m } }
"#,
    );
    let (_, record) = run_json(&config, "stateful");
    assert_eq!(record["outcome"]["kind"], "passed", "{record:#}");
    let evidence = record["evidence"].as_array().unwrap();
    let content = |name: &str| {
        evidence
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {:?}", evidence_names(&record)))["content"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        // The first look comes right after the delete, while the replacement starts (1 s).
        content("quorum.txt").contains(
            "fewest nodes UN seen while recovering: 2 of 3; quorum (2 of replication factor 3) held"
        ),
        "{}",
        content("quorum.txt")
    );
    for name in ["nodetool-status-before.txt", "nodetool-status-after.txt"] {
        let status = content(name);
        assert_eq!(status.matches("\nUN ").count(), 3, "{name}:\n{status}");
    }
    for name in ["topics-before.txt", "topics-after.txt"] {
        let topics = content(name);
        assert!(topics.contains("Partition: 0"), "{name}:\n{topics}");
        assert!(!topics.contains("Leader: none"), "{name}:\n{topics}");
    }
    // The broker rejoins the ISRs a catch-up delay after its pod is Ready again: the
    // measured recovery includes it.
    let kafka = &record["phases"][1];
    let recovery = kafka["recovery_seconds"].as_f64().unwrap();
    assert!(recovery >= 2.0, "{kafka:#}");
    // The canary: written before and during the fault with acks=all, read back after;
    // min.insync.replicas=2 of 3 keeps acknowledging with one broker gone, and nothing
    // acknowledged is lost.
    let loss = &kafka["data_loss"];
    let writes = loss["canaries_written"].as_u64().unwrap_or_default();
    let acknowledged = loss["canaries_acknowledged"].as_u64().unwrap_or_default();
    assert!(
        writes > 20,
        "the batches during the fault add to the 20: {kafka:#}"
    );
    assert!(acknowledged > 20, "{kafka:#}");
    assert_eq!(loss["acknowledged_lost"], 0, "{kafka:#}");
    let canary = content("canary.txt");
    assert!(
        canary.contains(&format!(
            "produced {writes}, acknowledged {acknowledged}, consumed {acknowledged} of them"
        )),
        "{canary}"
    );
    assert!(canary.contains("acknowledged and lost: 0\n"), "{canary}");
    assert!(canary.lines().any(|l| l.starts_with("verify ")), "{canary}");
    println!("kafka canary:\n{canary}");
    println!(
        "cassandra-node recovered in {:.3} s, kafka-broker in {recovery:.3} s",
        record["phases"][0]["recovery_seconds"].as_f64().unwrap()
    );
}
