//! The DR runbook's drills as `firedrill init` writes them, run by the real binary on the
//! embedded sandboxes (`sandbox` and `sandbox-dr`): each passes, and its report shows each
//! procedure against the row of the runbook's RTO table it is held to.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use firedrill_tests::{firedrill, require_plugins, run_json};
use serde_json::Value;
use tempfile::TempDir;

/// The seed configuration in `dir`, as `firedrill init` writes it.
fn seed(dir: &Path) -> PathBuf {
    let config = dir.join("firedrill.yaml");
    let output = firedrill()
        .arg("init")
        .arg("--out")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    config
}

/// Runs `drill` of the seed; it must pass. Returns the record and its Markdown report.
fn passes(dir: &Path, config: &Path, drill: &str) -> (Value, String) {
    let (code, record) = run_json(config, drill);
    assert_eq!(code, 0, "{drill}: {record:#}");
    assert_eq!(record["outcome"]["kind"], "passed", "{drill}: {record:#}");
    let id = record["id"].as_str().unwrap();
    let report =
        std::fs::read_to_string(dir.join(format!("firedrill-data/reports/{id}/report.md")))
            .unwrap();
    (record, report)
}

/// The report's "Recovery Times" row of `phase`: its target RTO and status.
fn recovery_row<'a>(report: &'a str, phase: &str) -> Vec<&'a str> {
    let row = report
        .lines()
        .find(|line| line.starts_with(&format!("| {phase} ")))
        .unwrap_or_else(|| panic!("no row for {phase} in:\n{report}"));
    row.trim_matches('|').split('|').map(str::trim).collect()
}

#[test]
fn the_seeds_region_failover_restores_and_replays_pass_against_the_rto_table() {
    require_plugins(&[
        "region-failover",
        "cassandra-restore",
        "kafka-cluster-recovery",
    ]);
    let dir = TempDir::new().unwrap();
    let config = seed(dir.path());

    // "Complete region failure: 4 hours", across the two embedded clusters.
    let (record, report) = passes(dir.path(), &config, "region-failover");
    let phases = record["phases"].as_array().unwrap();
    assert_eq!(phases[2]["name"], "activate-dr");
    assert_eq!(phases[2]["target"], "sandbox-dr");
    let row = recovery_row(&report, "activate-dr (on sandbox-dr)");
    assert_eq!((row[1], row[3]), ("4h", "Pass"), "{row:?}");
    assert_eq!(recovery_row(&report, "failback")[1], "4h");
    assert!(report.contains("Region failover complete"), "{report}");

    // "Database failure: 1 hour" and "Data corruption: 2 hours", on simulated tools.
    let (_, report) = passes(dir.path(), &config, "data-restoration");
    let row = recovery_row(&report, "cassandra-restore");
    assert_eq!((row[1], row[3]), ("1h", "Pass"), "{row:?}");
    let row = recovery_row(&report, "kafka-replay");
    assert_eq!((row[1], row[3]), ("2h", "Pass"), "{row:?}");
    assert!(report.contains("simulated"), "{report}");

    // "Kafka cluster failure: 30 min".
    let (_, report) = passes(dir.path(), &config, "kafka-cluster-recovery");
    let row = recovery_row(&report, "recreate-topics");
    assert_eq!((row[1], row[3]), ("30m", "Pass"), "{row:?}");
}

#[test]
fn the_seeds_service_recovery_and_ordered_restart_pass_against_the_rto_table() {
    require_plugins(&["service-recovery", "ordered-restart"]);
    let dir = TempDir::new().unwrap();
    let config = seed(dir.path());

    // "Single service failure: 15 min": restart, then undo, through the probes.
    let (_, report) = passes(dir.path(), &config, "service-recovery");
    let row = recovery_row(&report, "plato-down");
    assert_eq!((row[1], row[3]), ("15m", "Pass"), "{row:?}");

    // "All Services Down": Cassandra, Kafka, then the applications, each waited for.
    let (record, report) = passes(dir.path(), &config, "all-services-restart");
    let row = recovery_row(&report, "ordered-restart");
    assert_eq!((row[1], row[3]), ("1h", "Pass"), "{row:?}");
    let steps = record["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "restart-steps.txt")
        .unwrap_or_else(|| panic!("no restart-steps.txt: {record:#}"));
    let text = steps["content"].as_str().unwrap();
    let at = |name: &str| {
        text.find(name)
            .unwrap_or_else(|| panic!("{name} not in {text}"))
    };
    assert!(
        at("cassandra") < at("kafka") && at("kafka") < at("perception"),
        "{text}"
    );
}
