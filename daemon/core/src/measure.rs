//! Measurements of a drill: availability and latency per service and phase, the abort window, and verdicts.
//!
//! The engine feeds probe results and phase timestamps in; this module turns them into the
//! figures of a [`RunRecord`](crate::run::RunRecord) and decides pass or fail, naming the
//! figure that failed.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::config::PhaseObjectives;
use crate::run::{
    Check, ChecklistRow, DataLoss, Outcome, PhaseRecord, PhaseVerdict, ServiceAvailability,
};

/// Probe latencies in microseconds, up to an hour, three significant digits: a p95 read
/// back is within 0.1% of the true value.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    histogram: Option<Histogram<u64>>,
}

const MAX_LATENCY_MICROS: u64 = 3_600_000_000;

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            histogram: Histogram::new_with_bounds(1, MAX_LATENCY_MICROS, 3).ok(),
        }
    }
}

impl LatencyHistogram {
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(MAX_LATENCY_MICROS)
            .clamp(1, MAX_LATENCY_MICROS);
        if let Some(histogram) = &mut self.histogram {
            // Values are clamped into the histogram's bounds, so recording cannot fail.
            let _ = histogram.record(micros);
        }
    }

    pub fn count(&self) -> u64 {
        self.histogram.as_ref().map_or(0, Histogram::len)
    }

    /// The latency below which `quantile` (0..=1) of the recorded probes fall, in seconds.
    pub fn quantile_seconds(&self, quantile: f64) -> Option<f64> {
        let histogram = self.histogram.as_ref().filter(|h| !h.is_empty())?;
        Some(histogram.value_at_quantile(quantile) as f64 / 1e6)
    }

    pub fn max_seconds(&self) -> Option<f64> {
        let histogram = self.histogram.as_ref().filter(|h| !h.is_empty())?;
        Some(histogram.max() as f64 / 1e6)
    }
}

#[derive(Debug, Clone, Default)]
struct Tally {
    probes: u64,
    successes: u64,
    latency: LatencyHistogram,
    last_failure: Option<String>,
}

impl Tally {
    fn record(&mut self, ok: bool, latency: Duration, failure: Option<&str>) {
        self.probes += 1;
        if ok {
            self.successes += 1;
        } else if let Some(failure) = failure {
            self.last_failure = Some(failure.to_string());
        }
        self.latency.record(latency);
    }

    fn summary(&self, service: &str) -> ServiceAvailability {
        ServiceAvailability {
            service: service.to_string(),
            probes: self.probes,
            successes: self.successes,
            latency_p95_seconds: self.latency.quantile_seconds(0.95),
            latency_max_seconds: self.latency.max_seconds(),
            last_failure: self.last_failure.clone(),
        }
    }
}

/// Availability of every service, over the whole drill and per phase.
#[derive(Debug, Clone, Default)]
pub struct AvailabilityTracker {
    drill: BTreeMap<String, Tally>,
    phases: BTreeMap<(String, String), Tally>,
}

impl AvailabilityTracker {
    /// Records one probe of `service`, sent while `phase` was running (if any). A failed
    /// probe's latency is the time it took to fail (its timeout when it timed out);
    /// `failure` says why it failed.
    pub fn record(
        &mut self,
        service: &str,
        phase: Option<&str>,
        ok: bool,
        latency: Duration,
        failure: Option<&str>,
    ) {
        self.drill
            .entry(service.to_string())
            .or_default()
            .record(ok, latency, failure);
        if let Some(phase) = phase {
            self.phases
                .entry((phase.to_string(), service.to_string()))
                .or_default()
                .record(ok, latency, failure);
        }
    }

    /// Per-service figures over the whole drill, by service name.
    pub fn drill_summary(&self) -> Vec<ServiceAvailability> {
        self.drill
            .iter()
            .map(|(service, tally)| tally.summary(service))
            .collect()
    }

    /// Per-service figures while `phase` ran, by service name.
    pub fn phase_summary(&self, phase: &str) -> Vec<ServiceAvailability> {
        self.phases
            .iter()
            .filter(|((p, _), _)| p == phase)
            .map(|((_, service), tally)| tally.summary(service))
            .collect()
    }
}

/// The abort check: a service whose success ratio over its last `window` probes falls
/// below `floor` stops the drill.
#[derive(Debug, Clone)]
pub struct AbortWindow {
    window: usize,
    floor: f64,
    recent: BTreeMap<String, VecDeque<bool>>,
}

/// Why the abort window fired.
#[derive(Debug, Clone, PartialEq)]
pub struct AvailabilityBreach {
    pub service: String,
    pub ratio: f64,
    pub window: usize,
    pub floor: f64,
}

impl AvailabilityBreach {
    pub fn describe(&self) -> String {
        format!(
            "{} answered {:.0}% of its last {} probes, below the abort floor of {:.0}%",
            self.service,
            self.ratio * 100.0,
            self.window,
            self.floor * 100.0
        )
    }
}

impl AbortWindow {
    pub fn new(window: u32, floor: f64) -> Self {
        Self {
            window: usize::try_from(window.max(1)).unwrap_or(1),
            floor,
            recent: BTreeMap::new(),
        }
    }

    /// Records a probe result; returns the breach once the window is full and below floor.
    /// A window that is not yet full never fires, so one early failure cannot abort.
    pub fn record(&mut self, service: &str, ok: bool) -> Option<AvailabilityBreach> {
        let recent = self.recent.entry(service.to_string()).or_default();
        recent.push_back(ok);
        while recent.len() > self.window {
            recent.pop_front();
        }
        if recent.len() < self.window {
            return None;
        }
        let successes = recent.iter().filter(|ok| **ok).count();
        let ratio = successes as f64 / self.window as f64;
        (ratio < self.floor).then(|| AvailabilityBreach {
            service: service.to_string(),
            ratio,
            window: self.window,
            floor: self.floor,
        })
    }
}

/// One service's readiness over a phase as its watch saw it: the checklist's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness<'a> {
    pub service: &'a str,
    /// The service's configured `min_ready`.
    pub min_ready: u32,
    /// Ready pods when the phase's watch synced, before the fault.
    pub ready_at_start: u32,
    /// The fewest Ready pods at any moment of the phase.
    pub fewest_ready: u32,
    /// The budget covering the service's pods: its name and how many pods it lets be
    /// unavailable at once.
    pub budget: Option<(&'a str, u32)>,
}

/// The runbook's validation checklist for one phase (seed 000): per service the fewest
/// Ready pods against `min_ready`, the most unavailable at once against the disruption
/// budget, and the failed probes. Rows the objectives name fail the phase (see
/// [`judge_phase`]); the others are shown only.
pub fn checklist(
    objectives: &PhaseObjectives,
    readiness: &[Readiness<'_>],
    availability: &[ServiceAvailability],
) -> Vec<ChecklistRow> {
    let mut rows = Vec::new();
    for seen in readiness {
        rows.push(ChecklistRow {
            check: Check::MinReady,
            service: seen.service.to_string(),
            observed: u64::from(seen.fewest_ready),
            limit: u64::from(seen.min_ready),
            passed: seen.fewest_ready >= seen.min_ready,
            objective: objectives.min_ready,
            source: None,
        });
        if let Some((budget, allowed)) = seen.budget {
            let unavailable = seen.ready_at_start.saturating_sub(seen.fewest_ready);
            rows.push(ChecklistRow {
                check: Check::PdbRespected,
                service: seen.service.to_string(),
                observed: u64::from(unavailable),
                limit: u64::from(allowed),
                passed: unavailable <= allowed,
                objective: objectives.pdb_respected,
                source: Some(budget.to_string()),
            });
        }
    }
    let allowed = objectives.max_failed_probes.unwrap_or(0);
    for service in availability.iter().filter(|s| s.probes > 0) {
        let failed = service.probes - service.successes;
        rows.push(ChecklistRow {
            check: Check::FailedProbes,
            service: service.service.clone(),
            observed: failed,
            limit: allowed,
            passed: failed <= allowed,
            objective: objectives.max_failed_probes.is_some(),
            source: service.last_failure.clone(),
        });
    }
    rows
}

/// A failed checklist row as a verdict's reason.
pub fn checklist_miss(row: &ChecklistRow) -> String {
    match row.check {
        Check::MinReady => format!(
            "{} fell to {} Ready pods, below its min_ready of {}",
            row.service, row.observed, row.limit
        ),
        Check::PdbRespected => format!(
            "{} had {} pods unavailable at once; its disruption budget {} allows {}",
            row.service,
            row.observed,
            row.source.as_deref().unwrap_or("(unnamed)"),
            row.limit
        ),
        Check::FailedProbes => format!(
            "{} had {} failed probes, more than the {} allowed{}",
            row.service,
            row.observed,
            row.limit,
            row.source
                .as_deref()
                .map(|why| format!(" (the last: {why})"))
                .unwrap_or_default()
        ),
    }
}

/// Judges a phase that recovered (or not) against its objectives, naming each missed one
/// with its figures.
pub fn judge_phase(
    objectives: &PhaseObjectives,
    recovery: Option<Duration>,
    availability: &[ServiceAvailability],
    data_loss: Option<&DataLoss>,
    checklist: &[ChecklistRow],
) -> PhaseVerdict {
    let Some(recovery) = recovery else {
        return PhaseVerdict::TimedOut;
    };
    let mut reasons: Vec<String> = checklist
        .iter()
        .filter(|row| row.objective && !row.passed)
        .map(checklist_miss)
        .collect();
    if let Some(rto) = objectives.rto
        && recovery > rto
    {
        reasons.push(format!(
            "recovered in {:.1} s, over the {} s RTO",
            recovery.as_secs_f64(),
            rto.as_secs()
        ));
    }
    if let Some(floor) = objectives.availability_floor {
        for service in availability {
            if service.probes > 0 && service.ratio() < floor {
                reasons.push(format!(
                    "{} availability {:.2}% below the {:.2}% floor ({} of {} probes failed{})",
                    service.service,
                    service.ratio() * 100.0,
                    floor * 100.0,
                    service.probes - service.successes,
                    service.probes,
                    service
                        .last_failure
                        .as_deref()
                        .map(|why| format!("; the last: {why}"))
                        .unwrap_or_default()
                ));
            }
        }
    }
    if let (Some(rpo), Some(loss)) = (objectives.rpo, data_loss) {
        reasons.extend(rpo_misses(rpo, loss));
    }
    if reasons.is_empty() {
        PhaseVerdict::Passed
    } else {
        PhaseVerdict::Failed { reasons }
    }
}

/// How `loss` misses an RPO of `rpo` (empty: within it): acknowledged writes lost over
/// a window longer than the RPO (any, for an RPO of zero), or a backup older than it. The
/// verdict and the report's data-loss table both judge by this.
pub fn rpo_misses(rpo: Duration, loss: &DataLoss) -> Vec<String> {
    let mut misses = Vec::new();
    // Any acknowledged loss misses an RPO of zero, whatever its window.
    if loss.acknowledged_lost > 0 && (rpo.is_zero() || loss.loss_window_seconds > rpo.as_secs_f64())
    {
        misses.push(format!(
            "{} acknowledged writes lost over {:.1} s, beyond the {} s RPO",
            loss.acknowledged_lost,
            loss.loss_window_seconds,
            rpo.as_secs()
        ));
    }
    if let Some(age) = loss.backup_age_seconds
        && age > rpo.as_secs_f64()
    {
        misses.push(format!(
            "the newest backup was {:.0} s old, beyond the {} s RPO",
            age,
            rpo.as_secs()
        ));
    }
    misses
}

/// The run's outcome from its phases (when it was neither aborted nor interrupted).
pub fn drill_outcome(phases: &[PhaseRecord]) -> Outcome {
    for phase in phases {
        match &phase.verdict {
            PhaseVerdict::Aborted { reason } => {
                return Outcome::Aborted {
                    reason: reason.clone(),
                };
            }
            PhaseVerdict::Interrupted => return Outcome::Interrupted,
            _ => {}
        }
    }
    if phases
        .iter()
        .all(|phase| matches!(phase.verdict, PhaseVerdict::Passed))
    {
        Outcome::Passed
    } else {
        Outcome::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn p95_is_read_from_the_histogram_within_a_tenth_of_a_percent() {
        let mut histogram = LatencyHistogram::default();
        for i in 1..=1000 {
            histogram.record(ms(i));
        }
        let p95 = histogram.quantile_seconds(0.95).unwrap();
        assert!((p95 - 0.950).abs() <= 0.950 * 0.001, "{p95}");
        assert!((histogram.max_seconds().unwrap() - 1.0).abs() <= 0.001);
        assert_eq!(histogram.count(), 1000);
        assert_eq!(LatencyHistogram::default().quantile_seconds(0.95), None);
    }

    #[test]
    fn availability_is_tallied_per_service_for_the_drill_and_per_phase() {
        let mut tracker = AvailabilityTracker::default();
        for i in 0..10 {
            let failure = (i == 3).then_some("HTTP 503 Service Unavailable");
            tracker.record("capsule", Some("pod-failure"), i != 3, ms(5), failure);
        }
        tracker.record(
            "capsule",
            None,
            false,
            ms(2000),
            Some("no answer within 2000 ms"),
        );
        tracker.record("plato", Some("pod-failure"), true, ms(7), None);
        let drill = tracker.drill_summary();
        assert_eq!(drill[0].service, "capsule");
        assert_eq!((drill[0].probes, drill[0].successes), (11, 9));
        assert_eq!(
            drill[0].last_failure.as_deref(),
            Some("no answer within 2000 ms")
        );
        let phase = tracker.phase_summary("pod-failure");
        assert_eq!((phase[0].probes, phase[0].successes), (10, 9));
        assert_eq!(
            phase[0].last_failure.as_deref(),
            Some("HTTP 503 Service Unavailable"),
            "why the phase's last failed probe failed"
        );
        assert_eq!(phase[1].last_failure, None);
        assert_eq!(phase[1].service, "plato");
        assert!(tracker.phase_summary("zone-failure").is_empty());
    }

    #[test]
    fn abort_window_fires_only_when_full_and_below_the_floor() {
        let mut window = AbortWindow::new(4, 0.5);
        assert_eq!(window.record("capsule", false), None);
        assert_eq!(window.record("capsule", false), None);
        assert_eq!(window.record("capsule", true), None);
        let breach = window.record("capsule", false).unwrap();
        assert_eq!(breach.ratio, 0.25);
        assert!(
            breach
                .describe()
                .starts_with("capsule answered 25% of its last 4 probes")
        );
        // Another service has its own window.
        assert_eq!(window.record("plato", false), None);
        // Recovery slides the window back above the floor.
        window.record("capsule", true);
        assert_eq!(window.record("capsule", true), None);
    }

    fn availability(service: &str, probes: u64, successes: u64) -> ServiceAvailability {
        ServiceAvailability {
            service: service.into(),
            probes,
            successes,
            latency_p95_seconds: Some(0.01),
            latency_max_seconds: Some(0.02),
            last_failure: None,
        }
    }

    #[test]
    fn a_phase_passes_within_its_objectives() {
        let objectives = PhaseObjectives {
            rto: Some(Duration::from_secs(120)),
            rpo: None,
            availability_floor: Some(0.99),
            ..PhaseObjectives::default()
        };
        let verdict = judge_phase(
            &objectives,
            Some(Duration::from_secs(42)),
            &[availability("capsule", 100, 100)],
            None,
            &[],
        );
        assert_eq!(verdict, PhaseVerdict::Passed);
    }

    #[test]
    fn a_slow_recovery_and_an_availability_dip_are_both_named_with_figures() {
        let objectives = PhaseObjectives {
            rto: Some(Duration::from_secs(120)),
            rpo: None,
            availability_floor: Some(0.99),
            ..PhaseObjectives::default()
        };
        let verdict = judge_phase(
            &objectives,
            Some(Duration::from_millis(131_250)),
            &[
                availability("capsule", 200, 190),
                availability("plato", 200, 200),
            ],
            None,
            &[],
        );
        let PhaseVerdict::Failed { reasons } = verdict else {
            panic!("expected a failure, got {verdict:?}");
        };
        assert_eq!(
            reasons,
            [
                "recovered in 131.2 s, over the 120 s RTO",
                "capsule availability 95.00% below the 99.00% floor (10 of 200 probes failed)"
            ]
        );
    }

    #[test]
    fn lost_acknowledged_writes_beyond_the_rpo_fail_the_phase() {
        let objectives = PhaseObjectives {
            rto: None,
            rpo: Some(Duration::from_secs(1)),
            availability_floor: None,
            ..PhaseObjectives::default()
        };
        let loss = DataLoss {
            canaries_written: 100,
            canaries_acknowledged: 100,
            acknowledged_lost: 12,
            loss_window_seconds: 1.3,
            backup_age_seconds: None,
            method: "canary rows".into(),
        };
        let verdict = judge_phase(&objectives, Some(ms(900)), &[], Some(&loss), &[]);
        assert!(
            matches!(verdict, PhaseVerdict::Failed { .. }),
            "{verdict:?}"
        );
        assert_eq!(
            judge_phase(&objectives, None, &[], None, &[]),
            PhaseVerdict::TimedOut
        );
    }

    #[test]
    fn any_acknowledged_loss_misses_an_rpo_of_zero() {
        let objectives = PhaseObjectives {
            rto: None,
            rpo: Some(Duration::ZERO),
            availability_floor: None,
            ..PhaseObjectives::default()
        };
        let loss = DataLoss {
            canaries_written: 20,
            canaries_acknowledged: 20,
            acknowledged_lost: 1,
            loss_window_seconds: 0.0,
            backup_age_seconds: None,
            method: "one batch".into(),
        };
        assert!(matches!(
            judge_phase(&objectives, Some(ms(900)), &[], Some(&loss), &[]),
            PhaseVerdict::Failed { .. }
        ));
    }

    #[test]
    fn a_backup_older_than_the_rpo_fails_a_restore() {
        let objectives = PhaseObjectives {
            rto: None,
            rpo: Some(Duration::from_secs(3600)),
            availability_floor: None,
            ..PhaseObjectives::default()
        };
        let restore = |age: f64| DataLoss {
            canaries_written: 0,
            canaries_acknowledged: 0,
            acknowledged_lost: 0,
            loss_window_seconds: age,
            backup_age_seconds: Some(age),
            method: "age of the newest backup".into(),
        };
        assert_eq!(
            judge_phase(&objectives, Some(ms(900)), &[], Some(&restore(1800.0)), &[]),
            PhaseVerdict::Passed
        );
        assert_eq!(
            judge_phase(&objectives, Some(ms(900)), &[], Some(&restore(7200.0)), &[]),
            PhaseVerdict::Failed {
                reasons: vec!["the newest backup was 7200 s old, beyond the 3600 s RPO".into()]
            }
        );
    }
}

/// What a planned action does, read from its kind: the kinds firedrill's scenarios and
/// SDK use, and anything else a plugin names (`Other`, counted as no disruption).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionKind {
    DeletePod,
    EvictPod,
    Cordon,
    Uncordon,
    Drain,
    RolloutRestart,
    Exec,
    Stop,
    Promote,
    Sql,
    Redis,
    Silence,
    Snapshot,
    HealthCheck,
    Other(String),
}

/// What one action takes away, for the blast radius.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disruption {
    /// One pod goes (deleted or evicted).
    Pod,
    /// One node stops taking pods (cordon, drain).
    Node,
    /// Every pod of one workload is replaced (rollout restart).
    Workload,
    /// A command runs inside a pod or a server changes role (exec, stop, promote).
    Process,
    /// Reads, writes of firedrill's own data, silences, restorations.
    None,
}

impl ActionKind {
    const KNOWN: [(&'static str, ActionKind); 14] = [
        ("delete-pod", ActionKind::DeletePod),
        ("evict-pod", ActionKind::EvictPod),
        ("cordon", ActionKind::Cordon),
        ("uncordon", ActionKind::Uncordon),
        ("drain", ActionKind::Drain),
        ("rollout-restart", ActionKind::RolloutRestart),
        ("exec", ActionKind::Exec),
        ("stop", ActionKind::Stop),
        ("promote", ActionKind::Promote),
        ("sql", ActionKind::Sql),
        ("redis", ActionKind::Redis),
        ("silence", ActionKind::Silence),
        ("snapshot", ActionKind::Snapshot),
        ("health-check", ActionKind::HealthCheck),
    ];

    /// The kind a plugin wrote (`delete-pod`, ...); unknown ones are kept as `Other`.
    pub fn parse(kind: &str) -> Self {
        Self::KNOWN
            .iter()
            .find(|(name, _)| *name == kind)
            .map_or_else(|| ActionKind::Other(kind.to_string()), |(_, k)| k.clone())
    }

    pub fn as_str(&self) -> &str {
        match self {
            ActionKind::Other(kind) => kind,
            known => Self::KNOWN
                .iter()
                .find(|(_, k)| k == known)
                .map_or("other", |(name, _)| name),
        }
    }

    pub fn disruption(&self) -> Disruption {
        match self {
            ActionKind::DeletePod | ActionKind::EvictPod => Disruption::Pod,
            ActionKind::Cordon | ActionKind::Drain => Disruption::Node,
            ActionKind::RolloutRestart => Disruption::Workload,
            ActionKind::Exec | ActionKind::Stop | ActionKind::Promote => Disruption::Process,
            ActionKind::Uncordon
            | ActionKind::Sql
            | ActionKind::Redis
            | ActionKind::Silence
            | ActionKind::Snapshot
            | ActionKind::HealthCheck
            | ActionKind::Other(_) => Disruption::None,
        }
    }
}

/// What one phase would disrupt, counted from its planned actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlastCount {
    pub pods: u32,
    pub nodes: u32,
    /// Workloads whose every pod is replaced (`rollout-restart`).
    pub workloads: u32,
    /// Commands in pods and role changes of servers (`exec`, `stop`, `promote`).
    pub processes: u32,
}

impl BlastCount {
    /// Counts planned actions by [`ActionKind::disruption`]: `delete-pod` and `evict-pod`
    /// disrupt a pod, `cordon` and `drain` take a node (a drain's evictions are listed as
    /// `evict-pod`), `rollout-restart` a workload, `exec`/`stop`/`promote` a process.
    pub fn of<'a>(kinds: impl IntoIterator<Item = &'a str>) -> Self {
        let mut count = Self::default();
        for kind in kinds {
            match ActionKind::parse(kind).disruption() {
                Disruption::Pod => count.pods += 1,
                Disruption::Node => count.nodes += 1,
                Disruption::Workload => count.workloads += 1,
                Disruption::Process => count.processes += 1,
                Disruption::None => {}
            }
        }
        count
    }

    /// The larger of each figure (limits apply per phase: the plan reports the largest).
    pub fn max(self, other: BlastCount) -> BlastCount {
        BlastCount {
            pods: self.pods.max(other.pods),
            nodes: self.nodes.max(other.nodes),
            workloads: self.workloads.max(other.workloads),
            processes: self.processes.max(other.processes),
        }
    }

    /// The limits this count exceeds, as sentences; empty when within them.
    pub fn exceeds(&self, limits: &crate::config::BlastRadius) -> Vec<String> {
        let mut over = Vec::new();
        if let Some(max) = limits.max_pods
            && self.pods > max
        {
            over.push(format!(
                "{} over the limit of {max}",
                count_of(self.pods, "pod")
            ));
        }
        if let Some(max) = limits.max_nodes
            && self.nodes > max
        {
            over.push(format!(
                "{} over the limit of {max}",
                count_of(self.nodes, "node")
            ));
        }
        over
    }
}

/// `1 pod is`, `3 pods are`.
fn count_of(n: u32, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun} is")
    } else {
        format!("{n} {noun}s are")
    }
}

#[cfg(test)]
mod blast_tests {
    use super::*;
    use crate::config::BlastRadius;

    #[test]
    fn blast_radius_counts_pods_and_nodes_and_names_each_limit_exceeded() {
        let count = BlastCount::of(["cordon", "evict-pod", "evict-pod", "snapshot", "delete-pod"]);
        assert_eq!(
            count,
            BlastCount {
                pods: 3,
                nodes: 1,
                ..BlastCount::default()
            }
        );
        let limits = BlastRadius {
            max_pods: Some(2),
            max_nodes: Some(1),
            max_service_fraction: None,
        };
        assert_eq!(count.exceeds(&limits), ["3 pods are over the limit of 2"]);
        assert!(count.exceeds(&BlastRadius::default()).is_empty());
    }

    /// `rollout-restart` (full-recovery) counted nothing before the kinds were a known set.
    #[test]
    fn every_disruptive_kind_the_scenarios_plan_is_counted() {
        let count = BlastCount::of([
            "rollout-restart",
            "exec",
            "stop",
            "uncordon",
            "sql",
            "my-own-kind",
        ]);
        assert_eq!(
            count,
            BlastCount {
                workloads: 1,
                processes: 2,
                ..BlastCount::default()
            }
        );
        for (name, _) in ActionKind::KNOWN {
            assert_eq!(ActionKind::parse(name).as_str(), name);
        }
        assert_eq!(
            ActionKind::parse("my-own-kind"),
            ActionKind::Other("my-own-kind".into())
        );
    }
}
