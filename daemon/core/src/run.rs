//! The record of one drill run: what happened, when, what was measured, and the verdicts.
//!
//! A [`RunRecord`] is what the engine produces, what the run store appends to the evidence
//! chain, and what reports, metrics and the audit are computed from. It is plain data with
//! a stable serde form (the chain hashes its JSON), so fields are only ever added.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::series::{CanarySeries, ProbeSeries};

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// Every phase met its objectives.
    Passed,
    /// At least one phase missed an objective (RTO, RPO, availability floor) or did not
    /// recover before its deadline.
    Failed,
    /// An abort condition or an operator stopped the drill; the current phase was rolled back.
    Aborted { reason: String },
    /// The daemon died mid-run; on restart it rolled back what had been injected.
    Interrupted,
    /// The drill could not run (unreachable cluster, missing plugin, blast radius exceeded).
    Error { message: String },
    /// The steady-state hypothesis did not hold (a `before` check failed or had no data),
    /// so nothing was injected.
    NotStarted { reason: String },
}

impl Outcome {
    /// The short label used in metrics (`result`), subjects and tables.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Aborted { .. } => "aborted",
            Outcome::Interrupted => "interrupted",
            Outcome::Error { .. } => "error",
            Outcome::NotStarted { .. } => "not-started",
        }
    }
}

/// What started a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Trigger {
    /// The scheduler, for the slot at `slot`.
    Schedule { slot: DateTime<Utc> },
    /// A catch-up run for slots missed while the daemon was down (missed-run policy).
    CatchUp { missed_slots: Vec<DateTime<Utc>> },
    /// `firedrill run` on a terminal.
    Cli { user: String },
    /// `POST /api/v1/drills/{name}/run`.
    Api { client: String },
}

/// The verdict of one phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PhaseVerdict {
    Passed,
    /// Recovered, but missed at least one objective; `reasons` says which, with figures.
    Failed {
        reasons: Vec<String>,
    },
    /// Not recovered before the phase deadline.
    TimedOut,
    /// Stopped by an abort condition or an operator.
    Aborted {
        reason: String,
    },
    /// The plugin or the cluster failed (trap, denied capability, API error).
    Error {
        message: String,
    },
    /// Not run because an earlier phase failed and the drill stops on failure.
    Skipped,
    /// Was running when the daemon died.
    Interrupted,
}

impl PhaseVerdict {
    pub fn label(&self) -> &'static str {
        match self {
            PhaseVerdict::Passed => "passed",
            PhaseVerdict::Failed { .. } => "failed",
            PhaseVerdict::TimedOut => "timed-out",
            PhaseVerdict::Aborted { .. } => "aborted",
            PhaseVerdict::Error { .. } => "error",
            PhaseVerdict::Skipped => "skipped",
            PhaseVerdict::Interrupted => "interrupted",
        }
    }

    pub fn passed(&self) -> bool {
        matches!(self, PhaseVerdict::Passed)
    }
}

/// Availability of one service over an interval (a phase, or the whole drill), from
/// probes sent at a fixed cadence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceAvailability {
    pub service: String,
    pub probes: u64,
    pub successes: u64,
    /// Latency percentile 95 of all probes (failed ones included, at their timeout), in
    /// seconds; `None` when no probe was sent.
    pub latency_p95_seconds: Option<f64>,
    pub latency_max_seconds: Option<f64>,
    /// Why the last failed probe failed (`HTTP 403 Forbidden: services "web" is
    /// forbidden: ...`, a timeout, a refused connection), when one failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
}

impl ServiceAvailability {
    /// Success ratio in 0..=1; 1 when nothing was probed (nothing was observed failing).
    pub fn ratio(&self) -> f64 {
        if self.probes == 0 {
            1.0
        } else {
            self.successes as f64 / self.probes as f64
        }
    }
}

/// Data-loss measurement of a phase that ran canaries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataLoss {
    /// Canary writes attempted.
    pub canaries_written: u64,
    /// Writes the server acknowledged.
    pub canaries_acknowledged: u64,
    /// Acknowledged writes missing after recovery: the headline figure.
    pub acknowledged_lost: u64,
    /// From the last surviving acknowledged write to the fault, in seconds: the measured
    /// recovery point.
    pub loss_window_seconds: f64,
    /// Age of the newest backup, where the scenario checks backups.
    pub backup_age_seconds: Option<f64>,
    /// How the scenario measured it, in a sentence.
    pub method: String,
}

/// A named text artefact attached to a run (e.g. `nodetool status` before the fault).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub phase: Option<String>,
    pub name: String,
    pub captured_at: DateTime<Utc>,
    /// SHA-256 of `content`, hex.
    pub sha256: String,
    pub content: String,
}

/// One line of the run's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub at: DateTime<Utc>,
    pub phase: Option<String>,
    pub message: String,
}

/// Everything measured and decided about one phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseRecord {
    pub name: String,
    pub scenario: String,
    /// The target the phase acted on, when the drill named one for it (drills spanning
    /// clusters); absent: the run's target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub started_at: DateTime<Utc>,
    /// When `inject` returned: the fault is in place from here.
    pub injected_at: Option<DateTime<Utc>>,
    /// When `verify` first reported recovery.
    pub recovered_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Target RTO in seconds.
    pub rto_target_seconds: Option<f64>,
    /// Measured recovery time (recovered_at - injected_at) in seconds.
    pub recovery_seconds: Option<f64>,
    /// Target RPO in seconds.
    pub rpo_target_seconds: Option<f64>,
    pub availability_floor: Option<f64>,
    /// How recovery was detected, e.g. "watch: 3/3 pods Ready for app=capsule".
    pub detection: Option<String>,
    pub verdict: PhaseVerdict,
    /// Whether `rollback` ran, and what it reported.
    pub rollback: Option<String>,
    pub availability: Vec<ServiceAvailability>,
    pub data_loss: Option<DataLoss>,
    /// The actions the scenario planned (from `plan`).
    pub actions: Vec<String>,
    /// Where the recovery clock started and what stopped it (absent in records written
    /// before the clock started at the fault's first effect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<RecoveryClock>,
    /// Each pod lost and its replacement's steps, as the phase's watch saw them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<PodRecovery>,
    /// The runbook's validation checklist, per service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checklist: Vec<ChecklistRow>,
    /// Work the scenario found for the review meeting.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub follow_ups: Vec<String>,
    /// The phase's canary writes over time, by what became of them (absent without
    /// canaries, and in records written before they were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_series: Option<CanarySeries>,
}

/// What started a phase's recovery clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockStart {
    /// The first disruptive call of `inject` (a delete, cordon, eviction, stop).
    FirstAction,
    /// `inject` returning: the host saw no disruptive call.
    InjectReturned,
}

/// What dated a phase's recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockStop {
    /// The watch event after which `verify` first answered `recovered`.
    WatchEvent,
    /// The end of the `verify` call that first answered `recovered` (it read something no
    /// watch covers, or the phase had no watch).
    VerifyCall,
}

/// Where a phase's recovery clock started and stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryClock {
    pub started_by: ClockStart,
    pub started_at: DateTime<Utc>,
    /// The action that started it, e.g. `cordon node zone-a-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_action: Option<String>,
    /// `inject`'s last disruptive call, e.g. the last eviction accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action: Option<String>,
    /// How long the fault took to put in place: first to last disruptive call (for a zone:
    /// cordon to the last eviction accepted), or the `inject` call when it made none.
    pub inject_seconds: f64,
    /// How long evictions waited on disruption budgets that refused them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub held_back_seconds: f64,
    pub stopped_by: ClockStop,
    /// The watch event that dated recovery, e.g. `Pod shop/web-7c9f became Ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// `verify` calls made while waiting.
    pub verify_calls: u64,
}

fn is_zero(value: &f64) -> bool {
    *value == 0.0
}

/// One pod the phase lost and its replacement, as the phase's watch saw them (times are
/// when the watch events arrived).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRecovery {
    /// `namespace/name` of the pod lost.
    pub pod: String,
    /// When it began terminating or was deleted.
    pub lost_at: DateTime<Utc>,
    /// `namespace/name` of its replacement (same owner, created after the loss).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// When its containers were seen running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_at: Option<DateTime<Utc>>,
}

/// A row of the runbook's validation checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// "All services maintained minimum replicas": the fewest Ready pods seen against
    /// the service's `min_ready`.
    MinReady,
    /// "PDB respected": the most pods unavailable at once against the budget's allowance.
    PdbRespected,
    /// "No 5xx errors during failover": failed probes against the allowed count.
    FailedProbes,
}

/// One service's figure for one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistRow {
    pub check: Check,
    pub service: String,
    /// The figure measured: fewest Ready pods, most unavailable at once, failed probes.
    pub observed: u64,
    /// The bound it is held to: `min_ready` (a floor), the budget's allowance or the
    /// allowed failures (ceilings).
    pub limit: u64,
    pub passed: bool,
    /// The phase's objectives include this check: a failed row fails the phase.
    pub objective: bool,
    /// Where the bound comes from, e.g. the budget's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// A run of a drill, start to finish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Unique, sortable: `{drill}-{started_at:%Y%m%dT%H%M%SZ}-{4 hex}`.
    pub id: String,
    pub drill: String,
    pub description: Option<String>,
    pub target: String,
    pub trigger: Trigger,
    /// The scheduled slot this run serves, if any (for lateness in the audit).
    pub scheduled_for: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: Outcome,
    pub participants: Vec<String>,
    /// The platform's overall objectives at the time of the run, in seconds.
    pub overall_rto_seconds: Option<f64>,
    pub overall_rpo_seconds: Option<f64>,
    pub phases: Vec<PhaseRecord>,
    /// Per service over the whole drill.
    pub availability: Vec<ServiceAvailability>,
    pub timeline: Vec<TimelineEvent>,
    pub evidence: Vec<Evidence>,
    /// SHA-256 of the configuration file the run used.
    pub config_sha256: String,
    /// SHA-256 of each scenario plugin used, by scenario name.
    pub plugin_sha256: BTreeMap<String, String>,
    /// Every evaluation of a PromQL check, in order (none when the drill has no checks;
    /// left out of the stored form then, so records written before checks verify alike).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckResult>,
    /// Each probed service's results over the run, bucketed (none when nothing was probed;
    /// left out of the stored form then, so records written before verify alike).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probe_series: Vec<ProbeSeries>,
}

/// When a PromQL check is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStage {
    /// Before anything is injected: the steady-state hypothesis.
    Before,
    /// While a phase runs, at the check's cadence.
    During,
    /// After recovery: the runbook's verification checklist.
    After,
}

impl CheckStage {
    pub fn label(self) -> &'static str {
        match self {
            CheckStage::Before => "before",
            CheckStage::During => "during",
            CheckStage::After => "after",
        }
    }
}

/// What one evaluation of a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckVerdict {
    /// Every series returned met the expectation.
    Pass,
    /// A series broke it (its value is the one recorded).
    Fail,
    /// The query returned no series: never a pass.
    NoData,
    /// Prometheus could not be asked or refused the query.
    Error,
}

impl CheckVerdict {
    pub fn label(self) -> &'static str {
        match self {
            CheckVerdict::Pass => "pass",
            CheckVerdict::Fail => "fail",
            CheckVerdict::NoData => "no-data",
            CheckVerdict::Error => "error",
        }
    }
}

/// One evaluation of a PromQL check, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check's name under `checks:`.
    pub check: String,
    pub stage: CheckStage,
    /// The phase it was evaluated for; none for the drill's own `before`/`after` checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The query as sent (`$__range` replaced).
    pub query: String,
    /// The expectation, as written: `< 0.01`, `present`.
    pub expect: String,
    /// The value that decided: the worst series' (none without data, or when it was NaN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// That series' labels, `{job="web",status="500"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    /// When it was evaluated (the query's evaluation time).
    pub at: DateTime<Utc>,
    pub verdict: CheckVerdict,
    /// What a reader needs: `error ratio 0.031 is not < 0.01 ({job="web"})`.
    pub message: String,
}

impl PhaseRecord {
    /// A phase about to run (or skipped): its name, scenario and objectives, nothing
    /// measured yet, verdict `Skipped` until decided.
    pub fn planned(phase: &crate::config::Phase, started_at: DateTime<Utc>) -> Self {
        Self {
            name: phase.name.clone(),
            scenario: phase.scenario.clone(),
            target: phase.target.clone(),
            started_at,
            injected_at: None,
            recovered_at: None,
            finished_at: None,
            rto_target_seconds: phase.objectives.rto.map(|d| d.as_secs_f64()),
            recovery_seconds: None,
            rpo_target_seconds: phase.objectives.rpo.map(|d| d.as_secs_f64()),
            availability_floor: phase.objectives.availability_floor,
            detection: None,
            verdict: PhaseVerdict::Skipped,
            rollback: None,
            availability: Vec::new(),
            data_loss: None,
            actions: Vec::new(),
            clock: None,
            pods: Vec::new(),
            checklist: Vec::new(),
            follow_ups: Vec::new(),
            canary_series: None,
        }
    }
}

impl RunRecord {
    /// A run that has just begun: identity, target, trigger and start; nothing else
    /// recorded yet (outcome `Passed` until decided).
    pub fn begun(
        id: String,
        drill: String,
        target: String,
        trigger: Trigger,
        started_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            drill,
            description: None,
            target,
            trigger,
            scheduled_for: None,
            started_at,
            finished_at: None,
            outcome: Outcome::Passed,
            participants: Vec::new(),
            overall_rto_seconds: None,
            overall_rpo_seconds: None,
            phases: Vec::new(),
            availability: Vec::new(),
            timeline: Vec::new(),
            evidence: Vec::new(),
            config_sha256: String::new(),
            plugin_sha256: BTreeMap::new(),
            checks: Vec::new(),
            probe_series: Vec::new(),
        }
    }

    /// Wall-clock duration of the run in seconds, once finished.
    pub fn duration_seconds(&self) -> Option<f64> {
        self.finished_at
            .map(|end| (end - self.started_at).num_milliseconds() as f64 / 1000.0)
    }

    /// A run id from its drill and start: sortable by time within a drill.
    pub fn make_id(drill: &str, started_at: DateTime<Utc>, nonce: u16) -> String {
        format!(
            "{drill}-{}-{nonce:04x}",
            started_at.format("%Y%m%dT%H%M%SZ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_sort_by_start_time() {
        let a = RunRecord::make_id(
            "zone-failure",
            DateTime::parse_from_rfc3339("2026-11-08T09:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            0xab,
        );
        assert_eq!(a, "zone-failure-20261108T090000Z-00ab");
    }

    #[test]
    fn availability_ratio_of_nothing_probed_is_one() {
        let none = ServiceAvailability {
            service: "capsule".into(),
            probes: 0,
            successes: 0,
            latency_p95_seconds: None,
            latency_max_seconds: None,
            last_failure: None,
        };
        assert_eq!(none.ratio(), 1.0);
        let some = ServiceAvailability {
            probes: 200,
            successes: 199,
            ..none
        };
        assert!((some.ratio() - 0.995).abs() < 1e-12);
    }

    #[test]
    fn outcome_serialises_with_a_kind_tag() {
        let json = serde_json::to_value(Outcome::Aborted {
            reason: "capsule below floor".into(),
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "aborted", "reason": "capsule below floor"})
        );
    }
}
