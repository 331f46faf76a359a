//! JUnit XML for CI, end to end: the real binary runs a drill that misses an objective
//! against a sandbox in its own process and writes `--junit`; a third-party parser (PyPI
//! `junitparser`, from the venv `.ci/setup` makes at `target/python-junit`, or the python
//! named by `FIREDRILL_PYTHON_JUNIT`) reads the file as a CI server would. The stored
//! run re-rendered by `report --format junit` is the same document, and a drill that could
//! not run at all still leaves a file a CI job fails on.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use firedrill_tests::{SandboxProcess, firedrill, require_plugins, write_config};
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

/// Reads a JUnit file with junitparser and prints what a CI server sees, as JSON.
const READ_JUNIT: &str = r#"
import json, sys
from junitparser import JUnitXml

xml = JUnitXml.fromfile(sys.argv[1])
suites = []
for suite in xml:
    cases = []
    for case in suite:
        cases.append({
            "classname": case.classname,
            "name": case.name,
            "passed": case.is_passed,
            "skipped": case.is_skipped,
            "results": [
                {"kind": type(r).__name__.lower(), "type": r.type, "message": r.message}
                for r in case.result
            ],
        })
    suites.append({
        "name": suite.name,
        "tests": suite.tests,
        "failures": suite.failures,
        "errors": suite.errors,
        "skipped": suite.skipped,
        "timestamp": suite.timestamp,
        "properties": {p.name: p.value for p in suite.properties()},
        "cases": cases,
    })
print(json.dumps({"tests": xml.tests, "failures": xml.failures, "errors": xml.errors, "suites": suites}))
"#;

fn python_with_junitparser() -> PathBuf {
    let python = std::env::var_os("FIREDRILL_PYTHON_JUNIT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/python-junit/bin/python")
        });
    assert!(
        python.exists(),
        "{} is missing: run .ci/setup (it installs PyPI junitparser into target/python-junit)",
        python.display()
    );
    python
}

/// The JUnit file as junitparser reads it.
fn read_junit(path: &Path) -> Value {
    let output = std::process::Command::new(python_with_junitparser())
        .arg("-c")
        .arg(READ_JUNIT)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "junitparser could not read {}: {}\n{}",
        path.display(),
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(path).unwrap_or_default()
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The suite's declared counts are its testcases'.
fn assert_counts_match(suite: &Value) {
    let cases = suite["cases"].as_array().unwrap();
    let with = |kind: &str| {
        cases
            .iter()
            .filter(|c| {
                c["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["kind"] == kind)
            })
            .count()
    };
    assert_eq!(suite["tests"], cases.len(), "{suite:#}");
    assert_eq!(suite["failures"], with("failure"), "{suite:#}");
    assert_eq!(suite["errors"], with("error"), "{suite:#}");
    assert_eq!(suite["skipped"], with("skipped"), "{suite:#}");
}

/// `74.2`, `60`, `1.523`: how the failure message writes a figure.
fn figure(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[test]
fn a_drill_missing_its_rto_writes_a_junit_file_a_ci_parser_reads_as_that_failure() {
    require_plugins(&["pod-failure"]);
    let dir = TempDir::new().unwrap();
    let sandbox = SandboxProcess::start(dir.path(), Some(PLATFORM));
    sandbox.wait_ready("shop", "app.kubernetes.io/name=web", 2);
    let config = write_config(
        dir.path(),
        &sandbox,
        r#"services:
  web:
    namespace: shop
    selector: app.kubernetes.io/name=web
    probes: [{ service_proxy: { service: web, port: http } }]
probing: { interval: 200ms, timeout: 1s }
plugins:
  grants:
    pod-failure:
      kubernetes: [{ verbs: [list, delete], namespaces: [shop] }]
drills:
  ci-gate:
    phases:
      - name: kill
        scenario: pod-failure
        services: [web]
        objectives: { rto: 1ms, availability_floor: 0.5 }
        # Long enough to recover (the default is twice the RTO): the RTO is what fails.
        deadline: 1m
"#,
    );
    let junit = dir.path().join("results").join("firedrill.xml");
    std::fs::create_dir_all(junit.parent().unwrap()).unwrap();
    let output = firedrill()
        .arg("-c")
        .arg(&config)
        .args(["run", "ci-gate", "--output", "json", "--junit"])
        .arg(&junit)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let record: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "no run record ({e}); stdout:\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    // The exit code is the drill's, as without --junit: 1, an objective missed.
    assert_eq!(record["outcome"]["kind"], "failed", "{record:#}");
    assert_eq!(output.status.code(), Some(1));
    let recovery = record["phases"][0]["recovery_seconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("no recovery measured: {record:#}"));

    println!("{}", std::fs::read_to_string(&junit).unwrap());
    let read = read_junit(&junit);
    let suites = read["suites"].as_array().unwrap();
    assert_eq!(suites.len(), 1, "{read:#}");
    let suite = &suites[0];
    assert_eq!(suite["name"], "ci-gate");
    assert_eq!(suite["properties"]["run_id"], record["id"]);
    assert_eq!(suite["properties"]["target"], "lab");
    assert_eq!(suite["properties"]["outcome"], "failed");
    assert_counts_match(suite);
    assert_eq!(read["tests"], suite["tests"]);
    assert_eq!(read["failures"], suite["failures"]);
    assert_eq!(read["errors"], 0);

    let cases = suite["cases"].as_array().unwrap();
    let case = |name: &str| {
        cases
            .iter()
            .find(|c| c["classname"] == "firedrill.ci-gate.kill" && c["name"] == name)
            .unwrap_or_else(|| panic!("no testcase {name}: {suite:#}"))
    };
    let rto = case("RTO");
    assert_eq!(rto["passed"], false);
    assert_eq!(rto["results"][0]["kind"], "failure", "{rto:#}");
    assert_eq!(rto["results"][0]["type"], "rto");
    assert_eq!(
        rto["results"][0]["message"],
        format!("RTO {} s exceeded target 0.001 s", figure(recovery)),
        "{rto:#}"
    );
    // The phase recovered and kept web above half its probes: only the RTO failed.
    assert_eq!(case("recovery")["passed"], true);
    assert_eq!(case("availability floor: web")["passed"], true);
    assert_eq!(suite["failures"], 1, "{suite:#}");

    // The stored run, re-rendered: the same document, byte for byte.
    let report = firedrill()
        .arg("-c")
        .arg(&config)
        .args([
            "report",
            record["id"].as_str().unwrap(),
            "--format",
            "junit",
        ])
        .output()
        .unwrap();
    assert!(report.status.success(), "{report:?}");
    assert_eq!(
        String::from_utf8(report.stdout).unwrap(),
        std::fs::read_to_string(&junit).unwrap()
    );
}

#[test]
fn a_drill_that_could_not_run_still_writes_a_junit_file_with_an_error() {
    let dir = TempDir::new().unwrap();
    let junit = dir.path().join("firedrill.xml");
    let output = firedrill()
        .arg("-c")
        .arg(dir.path().join("missing.yaml"))
        .args(["run", "zone-failure", "--junit"])
        .arg(&junit)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let read = read_junit(&junit);
    let suite = &read["suites"][0];
    assert_eq!(suite["name"], "zone-failure");
    assert_counts_match(suite);
    assert_eq!(suite["errors"], 1, "{read:#}");
    let run = &suite["cases"][0];
    assert_eq!(run["classname"], "firedrill.zone-failure");
    assert_eq!(run["name"], "run");
    let message = run["results"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("the drill could not run: ") && message.contains("missing.yaml"),
        "{message}"
    );
}
