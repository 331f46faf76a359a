//! Hand-made run records (passing, failing, aborted, interrupted) for tests of everything downstream of the engine.
//!
//! Compiled only for tests and with the `fixtures` feature, so other crates' tests share
//! one set of runs instead of each inventing its own.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::run::{
    DataLoss, Evidence, Outcome, PhaseRecord, PhaseVerdict, RunRecord, ServiceAvailability,
    TimelineEvent, Trigger,
};

const SERVICES: [&str; 6] = [
    "perception",
    "capsule",
    "odyssey",
    "plato",
    "nexus",
    "synapse",
];

fn at(start: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
    start + Duration::seconds(seconds)
}

fn healthy(service: &str, probes: u64, p95: f64) -> ServiceAvailability {
    ServiceAvailability {
        service: service.to_string(),
        probes,
        successes: probes,
        latency_p95_seconds: Some(p95),
        latency_max_seconds: Some(p95 * 2.0),
        last_failure: None,
    }
}

/// A phase that recovered in `recovery` seconds against `target`.
fn phase(
    name: &str,
    scenario: &str,
    start: DateTime<Utc>,
    offset: i64,
    target: f64,
    recovery: f64,
) -> PhaseRecord {
    let started = at(start, offset);
    let injected = at(started, 5);
    let recovered = injected + Duration::milliseconds((recovery * 1000.0) as i64);
    PhaseRecord {
        name: name.to_string(),
        scenario: scenario.to_string(),
        target: None,
        started_at: started,
        injected_at: Some(injected),
        recovered_at: Some(recovered),
        finished_at: Some(recovered + Duration::seconds(10)),
        rto_target_seconds: Some(target),
        recovery_seconds: Some(recovery),
        rpo_target_seconds: None,
        availability_floor: Some(0.99),
        detection: Some(format!("watch: replacement Ready for {name}")),
        verdict: if recovery <= target {
            PhaseVerdict::Passed
        } else {
            PhaseVerdict::Failed {
                reasons: vec![format!(
                    "recovery took {recovery}s, over the {target}s RTO target"
                )],
            }
        },
        rollback: Some("rolled back".to_string()),
        availability: SERVICES.iter().map(|s| healthy(s, 120, 0.08)).collect(),
        data_loss: None,
        actions: vec![format!("{scenario}: inject the fault")],
        clock: None,
        pods: Vec::new(),
        checklist: Vec::new(),
        follow_ups: Vec::new(),
        canary_series: None,
    }
}

fn base(drill: &str, start: DateTime<Utc>) -> RunRecord {
    RunRecord {
        id: RunRecord::make_id(drill, start, 0x1f2e),
        drill: drill.to_string(),
        description: Some("Pod, zone, database and broker failures".to_string()),
        target: "sandbox".to_string(),
        trigger: Trigger::Schedule { slot: start },
        scheduled_for: Some(start),
        started_at: at(start, 20),
        finished_at: Some(at(start, 20 + 2460)),
        outcome: Outcome::Passed,
        participants: vec![
            "alice@example.com".to_string(),
            "bob@example.com".to_string(),
        ],
        overall_rto_seconds: Some(4.0 * 3600.0),
        overall_rpo_seconds: Some(3600.0),
        phases: Vec::new(),
        availability: SERVICES.iter().map(|s| healthy(s, 2460, 0.09)).collect(),
        timeline: vec![
            TimelineEvent {
                at: at(start, 20),
                phase: None,
                message: "Drill started".to_string(),
            },
            TimelineEvent {
                at: at(start, 2480),
                phase: None,
                message: "Drill finished".to_string(),
            },
        ],
        evidence: vec![Evidence {
            phase: Some("db-failover".to_string()),
            name: "nodetool status (before)".to_string(),
            captured_at: at(start, 1200),
            sha256: "4f1c2b8a9d3e6f7a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a".to_string(),
            content: "UN  10.0.0.1  1.2 GiB  256  33.3%  rack1\n".to_string(),
        }],
        config_sha256: "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b"
            .to_string(),
        plugin_sha256: BTreeMap::from([
            (
                "pod-failure".to_string(),
                "1111111111111111111111111111111111111111111111111111111111111111".to_string(),
            ),
            (
                "zone-failure".to_string(),
                "2222222222222222222222222222222222222222222222222222222222222222".to_string(),
            ),
        ]),
        checks: Vec::new(),
        probe_series: Vec::new(),
    }
}

/// Monday 2026-11-02 09:00 UTC: the slot the fixtures serve.
pub fn slot() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// Every phase within its RTO, every service fully available, no data lost.
pub fn passing_run() -> RunRecord {
    passing_run_at(slot())
}

/// [`passing_run`] serving the slot `start`.
pub fn passing_run_at(start: DateTime<Utc>) -> RunRecord {
    let mut run = base("full-dr", start);
    let mut db = phase("db-failover", "postgres-failover", start, 1200, 300.0, 41.5);
    db.rpo_target_seconds = Some(60.0);
    db.data_loss = Some(DataLoss {
        canaries_written: 600,
        canaries_acknowledged: 600,
        acknowledged_lost: 0,
        loss_window_seconds: 0.0,
        backup_age_seconds: None,
        method: "canary rows every 100 ms, read back from the new primary".to_string(),
    });
    run.phases = vec![
        phase("pod-failure", "pod-failure", start, 30, 120.0, 38.0),
        phase("zone-failure", "zone-failure", start, 400, 300.0, 187.0),
        db,
        phase(
            "kafka-failover",
            "kafka-broker-failure",
            start,
            1800,
            180.0,
            22.0,
        ),
    ];
    run
}

/// The zone phase recovers over its RTO, capsule dips below its floor, a write is lost.
pub fn failing_run() -> RunRecord {
    failing_run_at(slot())
}

/// [`failing_run`] serving the slot `start`.
pub fn failing_run_at(start: DateTime<Utc>) -> RunRecord {
    let mut run = passing_run_at(start);
    run.outcome = Outcome::Failed;
    let zone = &mut run.phases[1];
    *zone = phase("zone-failure", "zone-failure", start, 400, 300.0, 432.0);
    zone.availability[1] = ServiceAvailability {
        service: "capsule".to_string(),
        probes: 200,
        successes: 191,
        latency_p95_seconds: Some(1.25),
        latency_max_seconds: Some(2.0),
        last_failure: None,
    };
    run.availability[1].successes = 2451;
    if let Some(loss) = run.phases[2].data_loss.as_mut() {
        loss.acknowledged_lost = 3;
        loss.loss_window_seconds = 4.2;
    }
    run.phases[2].verdict = PhaseVerdict::Failed {
        reasons: vec!["3 acknowledged writes lost".to_string()],
    };
    run
}

/// [`failing_run`] whose zone phase was watched: its clock started at the cordon, budgets
/// held the drain back, one pod's replacement is broken down, and `capsule` fell below
/// its `min_ready` and its budget.
pub fn watched_run() -> RunRecord {
    use crate::run::{Check, ChecklistRow, ClockStart, ClockStop, PodRecovery, RecoveryClock};
    let mut run = failing_run();
    let zone = &mut run.phases[1];
    let injected = zone.injected_at.unwrap_or(zone.started_at);
    let lost = injected - Duration::seconds(20);
    zone.clock = Some(RecoveryClock {
        started_by: ClockStart::FirstAction,
        started_at: lost,
        first_action: Some("cordon node zone-a-1".into()),
        last_action: Some("evict pod butterfly/capsule-2".into()),
        inject_seconds: 23.6,
        held_back_seconds: 20.1,
        stopped_by: ClockStop::WatchEvent,
        event: Some("Pod butterfly/capsule-9 became Ready".into()),
        verify_calls: 12,
    });
    zone.pods = vec![PodRecovery {
        pod: "butterfly/capsule-2".into(),
        lost_at: lost,
        replacement: Some("butterfly/capsule-9".into()),
        created_at: Some(lost + Duration::milliseconds(120)),
        scheduled_at: Some(lost + Duration::milliseconds(250)),
        node: Some("zone-b-1".into()),
        zone: Some("zone-b".into()),
        started_at: Some(lost + Duration::milliseconds(1_250)),
        ready_at: Some(lost + Duration::milliseconds(31_500)),
    }];
    let row = |check, observed, limit, passed, source: Option<&str>| ChecklistRow {
        check,
        service: "capsule".into(),
        observed,
        limit,
        passed,
        objective: true,
        source: source.map(str::to_string),
    };
    zone.checklist = vec![
        row(Check::MinReady, 1, 2, false, None),
        row(Check::PdbRespected, 2, 1, false, Some("capsule-pdb")),
        row(Check::FailedProbes, 9, 0, false, None),
    ];
    run
}

/// Aborted during the zone phase by the availability floor; later phases skipped.
pub fn aborted_run() -> RunRecord {
    let start = slot();
    let mut run = passing_run_at(start);
    let reason = "capsule availability 91.00% below the 95.00% abort floor".to_string();
    run.outcome = Outcome::Aborted {
        reason: reason.clone(),
    };
    run.finished_at = Some(at(start, 700));
    let zone = &mut run.phases[1];
    zone.recovered_at = None;
    zone.recovery_seconds = None;
    zone.verdict = PhaseVerdict::Aborted { reason };
    zone.availability[1].successes = 91;
    zone.availability[1].probes = 100;
    for skipped in &mut run.phases[2..] {
        skipped.injected_at = None;
        skipped.recovered_at = None;
        skipped.finished_at = None;
        skipped.recovery_seconds = None;
        skipped.verdict = PhaseVerdict::Skipped;
        skipped.availability.clear();
        skipped.data_loss = None;
    }
    run
}

/// The daemon died in the middle of the first phase.
pub fn interrupted_run() -> RunRecord {
    let start = slot();
    let mut run = passing_run_at(start);
    run.outcome = Outcome::Interrupted;
    run.finished_at = None;
    run.phases.truncate(1);
    run.phases[0].verdict = PhaseVerdict::Interrupted;
    run.phases[0].recovered_at = None;
    run.phases[0].recovery_seconds = None;
    run
}

/// [`failing_run`] with what charts are drawn from: every service's probes in 15 s buckets
/// (`capsule` failing and slow while the zone phase recovers) and the database phase's
/// canary writes in 1 s buckets (three acknowledged writes lost at the fault, a few refused
/// while it failed over).
pub fn charted_run() -> RunRecord {
    use crate::series::{CanaryBucket, CanarySeries, ProbeBucket, ProbeSeries};
    let mut run = failing_run();
    let from = run.started_at;
    let span = run.duration_seconds().unwrap_or(0.0);
    let buckets = (span / 15.0).ceil() as i64;
    let zone = &run.phases[1];
    let dip = (
        zone.injected_at.unwrap_or(zone.started_at),
        zone.recovered_at.unwrap_or(zone.started_at),
    );
    run.probe_series = SERVICES
        .iter()
        .map(|service| ProbeSeries {
            service: service.to_string(),
            from,
            bucket_ms: 15_000,
            buckets: (0..buckets)
                .map(|i| {
                    let at = from + Duration::seconds(i * 15);
                    if *service == "capsule" && at >= dip.0 && at < dip.1 {
                        ProbeBucket {
                            successes: 3,
                            failures: 2,
                            p95_micros: Some(1_250_000),
                        }
                    } else {
                        ProbeBucket {
                            successes: 5,
                            failures: 0,
                            p95_micros: Some(80_000 + (i as u32 % 7) * 1_000),
                        }
                    }
                })
                .collect(),
        })
        .collect();
    let db = &mut run.phases[2];
    let fault = db.injected_at.unwrap_or(db.started_at);
    let canaries_from = fault - Duration::seconds(2);
    db.canary_series = Some(CanarySeries {
        from: canaries_from,
        bucket_ms: 1_000,
        buckets: (0..60)
            .map(|i| match i {
                2 => CanaryBucket {
                    kept: 7,
                    lost: 3,
                    unacknowledged: 0,
                },
                3..=6 => CanaryBucket {
                    kept: 0,
                    lost: 0,
                    unacknowledged: 10,
                },
                _ => CanaryBucket {
                    kept: 10,
                    lost: 0,
                    unacknowledged: 0,
                },
            })
            .collect(),
    });
    run
}
