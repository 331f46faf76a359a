//! The kill -9 sweep: drills SIGKILLed at distinct points, picked by watching the run
//! journal and the cluster from outside (no crash hooks in firedrill), then recovered
//! (`firedrill recover`, a later `run`, or a restarted `serve`); after each, the drilled
//! cluster must match its pre-drill baseline and the run be recorded `interrupted`.
//!
//! Points: the zone drill (pre-drill silence, pod failure, cordon, drain, verify, full
//! recovery's restarts, final rollbacks), a PostgreSQL failover with canaries on a real
//! primary and replica, `serve` killed mid-drill and restarted, and a kill on one target
//! recovered by a run on another. Prints `restored N of N`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use firedrill_tests::servers::{PostgresPair, Replication, start_alertmanager};
use firedrill_tests::{
    Guard, SandboxProcess, firedrill, firedrill_serve, free_port, http_get, http_request,
    require_plugins, spawn_quiet, wait_for, write_config,
};
use serde_json::Value;
use tempfile::TempDir;

/// Two zones of one node; web and batch behind disruption budgets, replacements Ready
/// after a second, so each step of the drill lasts long enough to be seen.
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
    replicas: 2
    pdb: { maxUnavailable: 1 }
    startDelay: 1s
"#;

/// The runbook's zone drill: pre-drill (silence), pod failure, zone failure, full recovery.
fn zone_config(dir: &Path, sandbox: &SandboxProcess, alertmanager: &str, extra: &str) -> PathBuf {
    let host = alertmanager.trim_start_matches("http://");
    let text = format!(
        r#"version: 1
storage: {{ path: data }}
targets:
  lab: {{ kind: kubeconfig, kubeconfig: {kubeconfig} }}
default_target: lab
services:
  web: {{ namespace: shop, selector: app.kubernetes.io/name=web, workload: deployment/web }}
  batch: {{ namespace: shop, selector: app.kubernetes.io/name=batch, workload: deployment/batch }}
plugins:
  grants:
    pre-drill:
      kubernetes: [{{ verbs: [get, list], namespaces: ["*", ":cluster"] }}]
      hosts: ["{host}"]
    pod-failure:
      kubernetes: [{{ verbs: [list, delete], namespaces: [shop] }}]
    zone-failure:
      kubernetes:
        - {{ verbs: [list, patch], namespaces: [":cluster"] }}
        - {{ verbs: [list, evict], namespaces: ["*"] }}
    full-recovery:
      kubernetes: [{{ verbs: [get, list, watch, patch], namespaces: ["*", ":cluster"] }}]
drills:
  zone:
    phases:
      - {{ name: pre-drill, scenario: pre-drill, params: {{ alertmanager: "{alertmanager}", silence_minutes: 90 }} }}
      - {{ name: pod-failure, scenario: pod-failure, services: [web], objectives: {{ rto: 1m }} }}
      - {{ name: zone-failure, scenario: zone-failure, params: {{ zone: zone-a }}, objectives: {{ rto: 2m }} }}
      - {{ name: full-recovery, scenario: full-recovery, objectives: {{ rto: 2m }} }}
{extra}"#,
        kubeconfig = sandbox.kubeconfig.display()
    );
    let path = dir.join("firedrill.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The journal's entries, oldest first (empty before the first run).
fn journal(dir: &Path) -> Vec<Value> {
    let path = dir.join("data/firedrill.db");
    if !path.exists() {
        return Vec::new();
    }
    let Ok(db) = rusqlite::Connection::open_with_flags(
        &path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) else {
        return Vec::new();
    };
    let Ok(mut statement) = db.prepare("SELECT entry FROM journal ORDER BY seq") else {
        return Vec::new(); // not created yet
    };
    statement
        .query_map([], |row| row.get::<_, String>(0))
        .map(|rows| {
            rows.filter_map(Result::ok)
                .filter_map(|text| serde_json::from_str(&text).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn has(entries: &[Value], kind: &str, phase: &str) -> bool {
    entries.iter().any(|e| {
        e["kind"] == kind
            && (phase.is_empty() || e["context"]["phase"] == phase || e["phase"] == phase)
    })
}

fn finished(entries: &[Value]) -> bool {
    has(entries, "run-finished", "")
}

/// What the kill-point predicates see.
struct Watch<'a> {
    journal: Vec<Value>,
    sandbox: &'a SandboxProcess,
    alertmanager: &'a str,
}

impl Watch<'_> {
    fn injecting(&self, phase: &str) -> bool {
        has(&self.journal, "injecting", phase)
    }

    fn nodes(&self) -> Vec<Value> {
        self.sandbox.get_json("/api/v1/nodes")["items"]
            .as_array()
            .unwrap()
            .clone()
    }

    fn cordoned(&self) -> usize {
        self.nodes()
            .iter()
            .filter(|n| n["spec"]["unschedulable"] == Value::Bool(true))
            .count()
    }

    fn pods(&self) -> Vec<Value> {
        self.sandbox.get_json("/api/v1/namespaces/shop/pods")["items"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Pods on zone-a's node that are not being deleted.
    fn pods_on_zone_a(&self) -> usize {
        self.pods()
            .iter()
            .filter(|p| {
                p["spec"]["nodeName"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("zone-a-"))
            })
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .count()
    }

    fn any_pod_deleting(&self) -> bool {
        self.pods()
            .iter()
            .any(|p| !p["metadata"]["deletionTimestamp"].is_null())
    }

    /// A rollout restart stamps the pod template (`kube.kubernetes.io/restartedAt` from
    /// kube-rs, `kubectl.kubernetes.io/restartedAt` from kubectl).
    fn restarted(&self) -> bool {
        let deployments = self
            .sandbox
            .get_json("/apis/apps/v1/namespaces/shop/deployments");
        deployments["items"].as_array().unwrap().iter().any(|d| {
            d["spec"]["template"]["metadata"]["annotations"]
                .as_object()
                .is_some_and(|a| a.keys().any(|k| k.ends_with("/restartedAt")))
        })
    }

    /// A pod that is neither Ready nor being deleted: a replacement still starting.
    fn replacement_starting(&self) -> bool {
        self.pods().iter().any(|p| {
            p["metadata"]["deletionTimestamp"].is_null()
                && !p["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    }

    fn silenced(&self) -> bool {
        active_silences(self.alertmanager) > 0
    }
}

fn active_silences(alertmanager: &str) -> usize {
    let Ok(body) = http_get(alertmanager, "/api/v2/silences") else {
        return 0;
    };
    let silences: Value = serde_json::from_str(&body).unwrap();
    silences
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["createdBy"] == "firedrill" && s["status"]["state"] == "active")
        .count()
}

/// Each point's name and, when the cluster was not restored, why.
type Results = Vec<(String, Option<String>)>;

/// Runs one point's kill and checks; a failed check is recorded and the sweep goes on
/// (every process the point started is stopped as its guards unwind).
fn run_point(results: &mut Results, name: String, body: impl FnOnce()) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
    let failure = outcome.err().map(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
            .unwrap_or_else(|| "panicked".into())
    });
    println!(
        "{} {name}",
        if failure.is_none() {
            "restored    "
        } else {
            "NOT RESTORED"
        }
    );
    results.push((name, failure));
}

/// A kill point: where, and the predicate that says it has been reached.
struct Point {
    name: &'static str,
    reached: fn(&Watch<'_>) -> bool,
}

fn zone_points() -> Vec<Point> {
    vec![
        Point {
            name: "run started, before any fault",
            reached: |w| has(&w.journal, "run-started", ""),
        },
        Point {
            name: "pre-drill journaled as injecting",
            reached: |w| w.injecting("pre-drill"),
        },
        Point {
            name: "alert silence created",
            reached: |w| w.silenced(),
        },
        Point {
            name: "the silence's id saved in pre-drill's state",
            reached: |w| has(&w.journal, "state", "pre-drill"),
        },
        Point {
            name: "pod-failure journaled as injecting",
            reached: |w| w.injecting("pod-failure"),
        },
        Point {
            name: "a web pod deleted, pod-failure verifying",
            reached: |w| w.injecting("pod-failure") && w.any_pod_deleting(),
        },
        Point {
            name: "pod-failure's replacement pod starting",
            reached: |w| {
                w.injecting("pod-failure")
                    && !w.injecting("zone-failure")
                    && w.replacement_starting()
            },
        },
        Point {
            name: "zone-failure journaled as injecting",
            reached: |w| w.injecting("zone-failure"),
        },
        Point {
            name: "zone-failure's nodes saved in its state",
            reached: |w| has(&w.journal, "state", "zone-failure"),
        },
        Point {
            name: "zone-a cordoned (before or at the drain's start)",
            reached: |w| w.cordoned() == 1,
        },
        Point {
            name: "mid-drain: zone-a's first pod evicted",
            reached: |w| w.cordoned() == 1 && w.any_pod_deleting(),
        },
        Point {
            name: "zone-a drained, zone-failure verifying",
            reached: |w| w.cordoned() == 1 && w.pods_on_zone_a() == 0,
        },
        Point {
            name: "full-recovery journaled as injecting",
            reached: |w| w.injecting("full-recovery"),
        },
        Point {
            name: "full recovery's rollout restarts under way",
            reached: |w| w.restarted(),
        },
        Point {
            name: "full recovery waiting on the restarted pods",
            reached: |w| w.restarted() && w.any_pod_deleting(),
        },
        Point {
            name: "final rollbacks: the first one journaled",
            reached: |w| has(&w.journal, "rolled-back", ""),
        },
    ]
}

/// Polls `reached` every 2 ms for up to a minute; false when the run finished first.
fn reach(dir: &Path, sandbox: &SandboxProcess, alertmanager: &str, point: &Point) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        let watch = Watch {
            journal: journal(dir),
            sandbox,
            alertmanager,
        };
        if (point.reached)(&watch) {
            return true;
        }
        if finished(&watch.journal) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("{}: not reached within a minute", point.name);
}

/// The pre-drill baseline, checked after recovery: every node schedulable, every
/// deployment at its replicas Ready (waiting for replacements to start), no silence of
/// firedrill active, no run unfinished in the journal, the last run recorded
/// `interrupted` with its rollbacks in the timeline.
fn assert_baseline(
    point: &str,
    dir: &Path,
    config: &Path,
    sandbox: &SandboxProcess,
    alertmanager: Option<&str>,
    at_kill: &[Value],
) {
    let watch = Watch {
        journal: journal(dir),
        sandbox,
        alertmanager: alertmanager.unwrap_or(""),
    };
    assert_eq!(watch.cordoned(), 0, "{point}: a node is still cordoned");
    wait_for(
        Duration::from_secs(30),
        &format!("{point}: every deployment Ready"),
        || {
            let deployments = sandbox.get_json("/apis/apps/v1/namespaces/shop/deployments");
            deployments["items"].as_array().unwrap().iter().all(|d| {
                d["status"]["readyReplicas"] == d["spec"]["replicas"]
                    && d["status"]["updatedReplicas"] == d["spec"]["replicas"]
            })
        },
    );
    if let Some(alertmanager) = alertmanager {
        assert_eq!(
            active_silences(alertmanager),
            0,
            "{point}: a silence of the run is still active"
        );
    }
    assert_interrupted(point, dir, config, at_kill);
}

/// Nothing unfinished in the journal; the newest stored run is `interrupted` and says
/// what was rolled back.
fn assert_interrupted(point: &str, dir: &Path, config: &Path, at_kill: &[Value]) {
    let entries = journal(dir);
    let started = entries
        .iter()
        .filter(|e| e["kind"] == "run-started")
        .count();
    let done = entries
        .iter()
        .filter(|e| e["kind"] == "run-finished")
        .count();
    assert_eq!(
        started, done,
        "{point}: a run is left unfinished in the journal"
    );
    let listed = firedrill()
        .arg("-c")
        .arg(config)
        .args(["runs", "--output", "json"])
        .output()
        .unwrap();
    let runs: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let interrupted: Vec<&Value> = runs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "interrupted")
        .collect();
    assert!(
        !interrupted.is_empty(),
        "{point}: no run recorded interrupted: {runs:#}"
    );
    let id = interrupted.last().unwrap()["run_id"].as_str().unwrap();
    let report = firedrill()
        .arg("-c")
        .arg(config)
        .args(["report", id])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&report.stdout);
    // The evidence chain the crash and the recovery wrote verifies intact.
    let verified = firedrill()
        .arg("-c")
        .arg(config)
        .arg("verify")
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{point}: verify: {}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    // Every phase journaled as injecting and not rolled back before the kill was rolled
    // back after it, and the record says so.
    let owed: Vec<&str> = at_kill
        .iter()
        .filter(|e| e["kind"] == "injecting")
        .filter_map(|e| e["context"]["phase"].as_str())
        .filter(|phase| {
            !at_kill
                .iter()
                .any(|e| e["kind"] == "rolled-back" && e["phase"] == *phase)
        })
        .collect();
    for phase in owed {
        assert!(
            text.contains(&format!("Rollback of {phase} after interruption")),
            "{point}: the record of {id} does not say {phase} was rolled back: {text}"
        );
    }
    assert!(
        text.contains("interrupt"),
        "{point}: the record of {id} does not say it was interrupted: {text}"
    );
}

fn recover(point: &str, config: &Path) {
    let output = firedrill()
        .arg("-c")
        .arg(config)
        .arg("recover")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{point}: recover failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Kill `firedrill run zone` at each zone point, then `firedrill recover`.
fn sweep_zone_drill(results: &mut Results, alertmanager: &str) {
    for point in zone_points() {
        run_point(results, format!("zone drill: {}", point.name), || {
            let dir = TempDir::new().unwrap();
            let sandbox = SandboxProcess::start(dir.path(), Some(PLATFORM));
            sandbox.wait_ready("shop", "app.kubernetes.io/name=batch", 2);
            let config = zone_config(dir.path(), &sandbox, alertmanager, "");
            let child = spawn_quiet(firedrill().arg("-c").arg(&config).args(["run", "zone"]));
            let reached = reach(dir.path(), &sandbox, alertmanager, &point);
            drop(child); // SIGKILL, then reap
            assert!(
                reached,
                "{}: the drill finished before the point was reached",
                point.name
            );
            let at_kill = journal(dir.path());
            assert!(
                !finished(&at_kill),
                "{}: the run finished before the kill",
                point.name
            );
            recover(point.name, &config);
            assert_baseline(
                point.name,
                dir.path(),
                &config,
                &sandbox,
                Some(alertmanager),
                &at_kill,
            );
        });
    }
}

/// `serve` killed mid-drill at six points, then started again: its start-up recovery
/// restores the cluster.
fn sweep_serve(results: &mut Results, alertmanager: &str) {
    let points: Vec<Point> = zone_points()
        .into_iter()
        .filter(|p| {
            [
                "alert silence created",
                "pod-failure journaled as injecting",
                "zone-a cordoned (before or at the drain's start)",
                "mid-drain: zone-a's first pod evicted",
                "zone-a drained, zone-failure verifying",
                "full recovery's rollout restarts under way",
            ]
            .contains(&p.name)
        })
        .collect();
    assert_eq!(points.len(), 6);
    for point in points {
        run_point(results, format!("serve: {}", point.name), || {
            let dir = TempDir::new().unwrap();
            let sandbox = SandboxProcess::start(dir.path(), Some(PLATFORM));
            sandbox.wait_ready("shop", "app.kubernetes.io/name=batch", 2);
            let port = free_port();
            let api = format!("http://127.0.0.1:{port}");
            let extra = format!(
                "api:\n  listen: 127.0.0.1:{port}\n  token: {{ env: FIREDRILL_SWEEP_TOKEN }}\n"
            );
            let config = zone_config(dir.path(), &sandbox, alertmanager, &extra);
            let serve = || -> Guard {
                let guard = firedrill_serve(&config, &[("FIREDRILL_SWEEP_TOKEN", "sweep")]);
                wait_for(Duration::from_secs(60), "serve ready", || {
                    http_get(&api, "/readyz").is_ok()
                });
                guard
            };
            let daemon = serve();
            http_request(
                &api,
                "POST",
                "/api/v1/drills/zone/run",
                &[("Authorization", "Bearer sweep")],
            )
            .unwrap();
            let reached = reach(dir.path(), &sandbox, alertmanager, &point);
            drop(daemon); // SIGKILL, then reap
            let name = format!("serve: {}", point.name);
            let at_kill = journal(dir.path());
            assert!(
                reached && !finished(&at_kill),
                "{name}: the run finished before the kill"
            );
            let daemon = serve();
            wait_for(
                Duration::from_secs(60),
                &format!("{name}: serve's start-up recovery to store the run"),
                || has(&journal(dir.path()), "recorded", ""),
            );
            drop(daemon);
            assert_baseline(
                &name,
                dir.path(),
                &config,
                &sandbox,
                Some(alertmanager),
                &at_kill,
            );
        });
    }
}

/// A PostgreSQL failover with canaries, killed at four points; after `recover` the
/// database is writable where the scenario documents it (the primary if it was never
/// stopped, else the promoted replica) and no canary row of the run is left.
fn sweep_postgres(results: &mut Results) {
    type PgPoint = (&'static str, fn(&[Value], &PostgresPair) -> bool);
    let points: [PgPoint; 4] = [
        ("postgres: canaries written, nothing injected", |j, pg| {
            !has(j, "injecting", "")
                && pg
                    .psql(pg.primary_port, "SELECT count(*) FROM firedrill_canary")
                    .ok()
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
        }),
        ("postgres: failover journaled as injecting", |j, _| {
            has(j, "injecting", "postgres-failover")
        }),
        ("postgres: primary stopped, not promoted yet", |j, pg| {
            has(j, "injecting", "postgres-failover")
                && pg.psql(pg.primary_port, "SELECT 1").is_err()
        }),
        (
            "postgres: replica promoted, verify and canaries running",
            |_, pg| {
                pg.psql(pg.replica_port, "SELECT pg_is_in_recovery()")
                    .is_ok_and(|v| v.trim() == "f")
            },
        ),
    ];
    for (name, reached) in points {
        run_point(results, name.to_string(), || {
            let dir = tempfile::Builder::new()
                .prefix("firedrill-sweep-")
                .tempdir()
                .unwrap();
            let pg = PostgresPair::start(dir.path(), Replication::Sync);
            let sandbox = pg.sandbox(dir.path());
            let config = write_config(
                dir.path(),
                &sandbox,
                &pg.failover_drill(&pg.stop_primary_command_json()),
            );
            let child = spawn_quiet(firedrill().arg("-c").arg(&config).args(["run", "failover"]));
            let start = Instant::now();
            let mut seen = false;
            while start.elapsed() < Duration::from_secs(60) {
                let entries = journal(dir.path());
                if reached(&entries, &pg) {
                    seen = true;
                    break;
                }
                assert!(
                    !finished(&entries),
                    "{name}: the drill finished before the point was reached"
                );
                std::thread::sleep(Duration::from_millis(2));
            }
            drop(child);
            assert!(
                seen && !finished(&journal(dir.path())),
                "{name}: not reached before the run ended"
            );
            let at_kill = journal(dir.path());
            recover(name, &config);
            // Writable where the scenario documents it.
            let primary_up = pg
                .psql(pg.primary_port, "SELECT pg_is_in_recovery()")
                .is_ok_and(|v| v.trim() == "f");
            let writable = if primary_up {
                pg.primary_port
            } else {
                pg.replica_port
            };
            assert_eq!(
                pg.psql_ok(writable, "SELECT pg_is_in_recovery()").trim(),
                "f",
                "{name}: no writable PostgreSQL after recovery"
            );
            pg.psql_ok(writable, "CREATE TABLE IF NOT EXISTS sweep_probe (x int); INSERT INTO sweep_probe VALUES (1)");
            for port in [pg.primary_port, pg.replica_port] {
                if let Ok(count) = pg.psql(port, "SELECT count(*) FROM firedrill_canary") {
                    assert_eq!(count.trim(), "0", "{name}: canary rows left on port {port}");
                }
            }
            assert_interrupted(name, dir.path(), &config, &at_kill);
        });
    }
}

/// Killed on `lab` with zone-a cordoned; a run on `other` rolls `lab` back, on `lab`.
fn sweep_cross_target(results: &mut Results, alertmanager: &str) {
    let name = "cross-target: killed on lab mid-drain, recovered by a run on other";
    run_point(results, name.to_string(), || {
        let dir = TempDir::new().unwrap();
        let other_dir = TempDir::new().unwrap();
        let lab = SandboxProcess::start(dir.path(), Some(PLATFORM));
        let other = SandboxProcess::start(other_dir.path(), Some(PLATFORM));
        lab.wait_ready("shop", "app.kubernetes.io/name=batch", 2);
        let extra = "  quick:\n    target: other\n    phases:\n      - { name: pod-failure, scenario: pod-failure, services: [web], objectives: { rto: 1m } }\n";
        let config = zone_config(dir.path(), &lab, alertmanager, extra);
        let text = std::fs::read_to_string(&config).unwrap().replace(
            "default_target: lab",
            &format!(
                "  other: {{ kind: kubeconfig, kubeconfig: {} }}\ndefault_target: lab",
                other.kubeconfig.display()
            ),
        );
        std::fs::write(&config, text).unwrap();
        let child = spawn_quiet(firedrill().arg("-c").arg(&config).args(["run", "zone"]));
        let point = Point {
            name,
            reached: |w| w.cordoned() == 1 && w.any_pod_deleting(),
        };
        let reached = reach(dir.path(), &lab, alertmanager, &point);
        drop(child);
        let at_kill = journal(dir.path());
        assert!(
            reached && !finished(&at_kill),
            "{name}: the run finished before the kill"
        );
        let output = firedrill()
            .arg("-c")
            .arg(&config)
            .args(["run", "quick"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let watch = Watch {
            journal: journal(dir.path()),
            sandbox: &other,
            alertmanager,
        };
        assert_eq!(watch.cordoned(), 0, "{name}: other was cordoned");
        assert_baseline(
            name,
            dir.path(),
            &config,
            &lab,
            Some(alertmanager),
            &at_kill,
        );
    });
}

#[test]
fn kill_sweep_restores_the_cluster_after_every_kill() {
    require_plugins(&[
        "pre-drill",
        "pod-failure",
        "zone-failure",
        "full-recovery",
        "postgres-failover",
    ]);
    let am_dir = TempDir::new().unwrap();
    let (alertmanager, _am) = start_alertmanager(am_dir.path());
    let started = Instant::now();
    let mut results = Results::new();
    sweep_zone_drill(&mut results, &alertmanager);
    sweep_serve(&mut results, &alertmanager);
    sweep_postgres(&mut results);
    sweep_cross_target(&mut results, &alertmanager);
    let total = results.len();
    let restored = results
        .iter()
        .filter(|(_, failure)| failure.is_none())
        .count();
    for (name, failure) in &results {
        if let Some(failure) = failure {
            println!("NOT RESTORED {name}: {failure}");
        }
    }
    println!(
        "kill sweep: restored {restored} of {total} in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    assert!(total >= 25, "only {total} kill points");
    assert_eq!(restored, total, "restored {restored} of {total}");
}
