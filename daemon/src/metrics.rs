//! Prometheus metrics of drills: one place updates them from run records, the running drill's progress and the schedule.
//!
//! Base units (seconds, ratios), low-cardinality labels (drill, phase, service, result,
//! scenario; never a run id), help texts that say how each figure was measured.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use chrono::{DateTime, Utc};
use firedrill_core::config::Config;
use firedrill_core::run::{Outcome, RunRecord};
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry,
    TextEncoder,
};

use crate::engine::Progress;

/// Every firedrill metric, registered in one registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    phase_recovery: GaugeVec,
    phase_recovery_histogram: HistogramVec,
    phase_rto_target: GaugeVec,
    phase_passed: GaugeVec,
    phase_active: GaugeVec,
    phase_target: GaugeVec,
    phase_inject: GaugeVec,
    phase_clock: GaugeVec,
    phase_fewest_ready: GaugeVec,
    phase_check: GaugeVec,
    check_evaluations: IntCounterVec,
    check_passed: GaugeVec,
    rpo: GaugeVec,
    acknowledged_lost: GaugeVec,
    canary_writes: GaugeVec,
    backup_age: GaugeVec,
    availability: GaugeVec,
    latency_p95: GaugeVec,
    runs: IntCounterVec,
    last_run: GaugeVec,
    last_success: GaugeVec,
    next_run: GaugeVec,
    overdue: GaugeVec,
    plugin_errors: IntCounterVec,
    outbox: Gauge,
    push_outbox: Gauge,
    runs_owing_rollback: Gauge,
    /// The last success of each drill that has one (Unix time). Kept apart from the
    /// gauge because reading a labelled gauge creates its series: a drill that never
    /// passed would export a last success at 0 (1970).
    last_successes: Arc<Mutex<HashMap<String, f64>>>,
    /// When these metrics started counting: the last success of a drill that never passed,
    /// so a new drill is not overdue at once, and one that never passes becomes overdue.
    since: DateTime<Utc>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// A unit enum's kebab-case name as serde writes it, for a label.
fn label(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn gauge(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<GaugeVec> {
    let metric = GaugeVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let metric = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn timestamp(at: DateTime<Utc>) -> f64 {
    at.timestamp_millis() as f64 / 1000.0
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let phase_recovery_histogram = HistogramVec::new(
            HistogramOpts::new(
                "firedrill_phase_recovery_duration_seconds",
                "Measured recovery times of drill phases across runs (fault injected to recovery verified).",
            )
            // From sub-second database failovers to an hour-long zone recovery.
            .buckets(vec![
                0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0,
                900.0, 1800.0, 3600.0,
            ]),
            &["drill", "phase"],
        )?;
        registry.register(Box::new(phase_recovery_histogram.clone()))?;
        let outbox = Gauge::with_opts(Opts::new(
            "firedrill_mail_outbox_messages",
            "Report emails waiting in the outbox to be delivered.",
        ))?;
        registry.register(Box::new(outbox.clone()))?;
        let push_outbox = Gauge::with_opts(Opts::new(
            "firedrill_push_outbox_messages",
            "Webhooks and Grafana annotations waiting in the outbox to be delivered.",
        ))?;
        registry.register(Box::new(push_outbox.clone()))?;
        let runs_owing_rollback = Gauge::with_opts(Opts::new(
            "firedrill_runs_owing_rollback",
            "Interrupted runs whose rollback could not be done on the cluster they ran on (target gone, unreachable or repointed): that cluster may still be as the fault left it.",
        ))?;
        registry.register(Box::new(runs_owing_rollback.clone()))?;
        Ok(Self {
            phase_recovery: gauge(
                &registry,
                "firedrill_phase_recovery_seconds",
                "Last measured recovery time of a phase: from the fault's first effect (the first delete, cordon, eviction or stop; else the end of inject) to recovery (the watch event after which verify first reported it, else the end of that verify call). firedrill_phase_recovery_clock says which.",
                &["drill", "phase"],
            )?,
            phase_recovery_histogram,
            phase_rto_target: gauge(
                &registry,
                "firedrill_phase_rto_target_seconds",
                "Recovery time objective of a phase, from the configuration.",
                &["drill", "phase"],
            )?,
            phase_inject: gauge(
                &registry,
                "firedrill_phase_inject_seconds",
                "How long the last run of a phase took to put its fault in place: from its first to its last disruptive action (for a zone, cordon to the last eviction accepted).",
                &["drill", "phase"],
            )?,
            phase_clock: gauge(
                &registry,
                "firedrill_phase_recovery_clock",
                "1 for the instants the last recovery time of a phase ran between: start `first-action` or `inject-returned`, stop `watch-event` or `verify-call`.",
                &["drill", "phase", "start", "stop"],
            )?,
            phase_fewest_ready: gauge(
                &registry,
                "firedrill_phase_fewest_ready_pods",
                "The fewest Ready pods a service had during the last run of a phase, as the phase's watch saw them.",
                &["drill", "phase", "service"],
            )?,
            phase_check: gauge(
                &registry,
                "firedrill_phase_check_passed",
                "1 when a service passed a check of the runbook's validation checklist (`min-ready`, `pdb-respected`, `failed-probes`) in the last run of a phase, 0 when it did not.",
                &["drill", "phase", "service", "check"],
            )?,
            check_evaluations: counter(
                &registry,
                "firedrill_check_evaluations_total",
                "Evaluations of PromQL checks in recorded runs, by verdict: `pass`, `fail`, `no-data` (the query returned no series) or `error` (Prometheus did not answer).",
                &["drill", "check", "stage", "verdict"],
            )?,
            check_passed: gauge(
                &registry,
                "firedrill_check_passed",
                "1 when a PromQL check's last evaluation in the last run of a drill passed, 0 when it did not (stage `before`, `during` or `after`).",
                &["drill", "check", "stage"],
            )?,
            phase_passed: gauge(
                &registry,
                "firedrill_phase_passed",
                "1 when the phase met every objective in its last run, 0 when it did not.",
                &["drill", "phase"],
            )?,
            phase_target: gauge(
                &registry,
                "firedrill_phase_target_info",
                "1 for the target (cluster) a phase of a drill acted on in its last run: join on drill and phase to see where a drill spanning clusters (a region failover) ran each phase.",
                &["drill", "phase", "target"],
            )?,
            phase_active: gauge(
                &registry,
                "firedrill_drill_phase_active",
                "1 while a phase of a drill runs (from its start to its verdict, a failed phase's rollback included), 0 otherwise: the dashboard's drill-phase annotations.",
                &["drill", "phase"],
            )?,
            rpo: gauge(
                &registry,
                "firedrill_rpo_seconds",
                "Last measured data-loss window of a phase that ran canaries.",
                &["drill", "phase"],
            )?,
            acknowledged_lost: gauge(
                &registry,
                "firedrill_phase_acknowledged_writes_lost",
                "Canary writes the server acknowledged that were missing after recovery, in the last run of a phase that wrote canaries.",
                &["drill", "phase"],
            )?,
            canary_writes: gauge(
                &registry,
                "firedrill_phase_canary_writes",
                "Canary writes attempted during the last run of a phase that wrote canaries.",
                &["drill", "phase"],
            )?,
            backup_age: gauge(
                &registry,
                "firedrill_backup_age_seconds",
                "Age of the newest backup a phase checked or restored, in its last run.",
                &["drill", "phase"],
            )?,
            availability: gauge(
                &registry,
                "firedrill_service_availability_ratio",
                "Share of a service's probes that succeeded during the last run of a drill.",
                &["drill", "service"],
            )?,
            latency_p95: gauge(
                &registry,
                "firedrill_service_latency_p95_seconds",
                "95th percentile of a service's probe latency during the last run of a drill.",
                &["drill", "service"],
            )?,
            runs: counter(
                &registry,
                "firedrill_drill_runs_total",
                "Runs of a drill by result (passed, failed, aborted, interrupted, error).",
                &["drill", "result"],
            )?,
            last_run: gauge(
                &registry,
                "firedrill_drill_last_run_timestamp_seconds",
                "When the last run of a drill finished (Unix time).",
                &["drill"],
            )?,
            last_success: gauge(
                &registry,
                "firedrill_drill_last_success_timestamp_seconds",
                "When the last passing run of a drill finished (Unix time).",
                &["drill"],
            )?,
            next_run: gauge(
                &registry,
                "firedrill_drill_next_run_timestamp_seconds",
                "When the drill is next scheduled (Unix time), blackouts honoured.",
                &["drill"],
            )?,
            overdue: gauge(
                &registry,
                "firedrill_drill_overdue",
                "1 when the drill's last success is older than its schedule period plus grace.",
                &["drill"],
            )?,
            plugin_errors: counter(
                &registry,
                "firedrill_plugin_errors_total",
                "Phase calls that failed inside a scenario plugin (trap, limit, denied capability).",
                &["scenario"],
            )?,
            outbox,
            push_outbox,
            runs_owing_rollback,
            last_successes: Arc::default(),
            registry,
            since: Utc::now(),
        })
    }

    /// Starts every drill's run counters, every phase's recovery histogram and every
    /// scenario's error counter at zero, so that the first run, failure, abort or plugin
    /// error is an increase that `increase()` in alert rules and dashboards can see (a
    /// series born at 1 shows no increase).
    pub fn register_drills(&self, config: &Config) {
        for drill in &config.drills {
            let name = drill.name.as_str();
            for result in [
                "passed",
                "failed",
                "aborted",
                "interrupted",
                "error",
                "not-started",
            ] {
                self.runs.with_label_values(&[name, result]).inc_by(0);
            }
            for phase in &drill.phases {
                // Creating the labelled histogram exports its zero buckets.
                self.phase_recovery_histogram
                    .with_label_values(&[name, phase.name.as_str()]);
                self.plugin_errors
                    .with_label_values(&[phase.scenario.as_str()])
                    .inc_by(0);
                // Every phase's series exists, at 0, before it first runs.
                self.phase_active
                    .with_label_values(&[name, phase.name.as_str()])
                    .set(0.0);
            }
        }
    }

    /// Follows a running drill's phases (`firedrill_drill_phase_active`) from the
    /// engine's progress events.
    pub fn observe_progress(&self, drill: &str, event: &Progress) {
        match event {
            Progress::PhaseStarted { phase, .. } => {
                self.phase_active
                    .with_label_values(&[drill, phase])
                    .set(1.0);
            }
            Progress::PhaseFinished { phase, .. } => {
                self.phase_active
                    .with_label_values(&[drill, phase])
                    .set(0.0);
            }
            _ => {}
        }
    }

    /// Updates every figure a finished run carries.
    pub fn observe_run(&self, run: &RunRecord) {
        let drill = run.drill.as_str();
        self.runs
            .with_label_values(&[drill, run.outcome.label()])
            .inc();
        if let Some(finished) = run.finished_at {
            self.last_run
                .with_label_values(&[drill])
                .set(timestamp(finished));
            if run.outcome == Outcome::Passed {
                self.last_success
                    .with_label_values(&[drill])
                    .set(timestamp(finished));
                self.last_successes
                    .lock()
                    .insert(drill.to_string(), timestamp(finished));
            }
        }
        for check in &run.checks {
            let stage = check.stage.label();
            self.check_evaluations
                .with_label_values(&[drill, &check.check, stage, check.verdict.label()])
                .inc();
            // Runs are observed in order: the last evaluation seen is the latest.
            let passed = check.verdict == firedrill_core::run::CheckVerdict::Pass;
            self.check_passed
                .with_label_values(&[drill, &check.check, stage])
                .set(if passed { 1.0 } else { 0.0 });
        }
        for phase in &run.phases {
            let labels = [drill, phase.name.as_str()];
            let target = phase.target.as_deref().unwrap_or(&run.target);
            self.phase_target
                .with_label_values(&[drill, &phase.name, target])
                .set(1.0);
            // The run is over: none of its phases runs any more.
            self.phase_active.with_label_values(&labels).set(0.0);
            if let Some(seconds) = phase.recovery_seconds {
                self.phase_recovery.with_label_values(&labels).set(seconds);
                self.phase_recovery_histogram
                    .with_label_values(&labels)
                    .observe(seconds);
            }
            if let Some(clock) = &phase.clock {
                self.phase_inject
                    .with_label_values(&labels)
                    .set(clock.inject_seconds);
                let start = label(&clock.started_by);
                let stop = label(&clock.stopped_by);
                for s in ["first-action", "inject-returned"] {
                    for t in ["watch-event", "verify-call"] {
                        let _ = self
                            .phase_clock
                            .remove_label_values(&[drill, &phase.name, s, t]);
                    }
                }
                self.phase_clock
                    .with_label_values(&[drill, &phase.name, &start, &stop])
                    .set(1.0);
            }
            for row in &phase.checklist {
                let check = label(&row.check);
                let service = row.service.as_str();
                self.phase_check
                    .with_label_values(&[drill, &phase.name, service, &check])
                    .set(if row.passed { 1.0 } else { 0.0 });
                if row.check == firedrill_core::run::Check::MinReady {
                    self.phase_fewest_ready
                        .with_label_values(&[drill, &phase.name, service])
                        .set(row.observed as f64);
                }
            }
            if let Some(target) = phase.rto_target_seconds {
                self.phase_rto_target.with_label_values(&labels).set(target);
            }
            if phase.verdict != firedrill_core::run::PhaseVerdict::Skipped {
                let passed = if phase.verdict.passed() { 1.0 } else { 0.0 };
                self.phase_passed.with_label_values(&labels).set(passed);
            }
            if let Some(loss) = &phase.data_loss {
                self.rpo
                    .with_label_values(&labels)
                    .set(loss.loss_window_seconds);
                // A phase that wrote no canaries (a restore) says nothing about lost
                // writes: no `0 lost` that would read as a measurement.
                if loss.canaries_written > 0 {
                    self.canary_writes
                        .with_label_values(&labels)
                        .set(loss.canaries_written as f64);
                    self.acknowledged_lost
                        .with_label_values(&labels)
                        .set(loss.acknowledged_lost as f64);
                }
                if let Some(age) = loss.backup_age_seconds {
                    self.backup_age.with_label_values(&labels).set(age);
                }
            }
            if let firedrill_core::run::PhaseVerdict::Error { .. } = phase.verdict {
                self.plugin_errors
                    .with_label_values(&[phase.scenario.as_str()])
                    .inc();
            }
        }
        for service in &run.availability {
            let labels = [drill, service.service.as_str()];
            self.availability
                .with_label_values(&labels)
                .set(service.ratio());
            if let Some(p95) = service.latency_p95_seconds {
                self.latency_p95.with_label_values(&labels).set(p95);
            }
        }
    }

    /// Next runs and overdue flags at `now`.
    pub fn refresh_schedule(&self, config: &Config, now: DateTime<Utc>) {
        for drill in &config.drills {
            let Some(schedule) = &drill.schedule else {
                continue;
            };
            let name = drill.name.as_str();
            if let Some(next) = schedule.schedule.next_runs(now, 1).first() {
                self.next_run
                    .with_label_values(&[name])
                    .set(timestamp(*next));
            }
            let overdue = self.is_overdue(drill, now).unwrap_or(false);
            self.overdue
                .with_label_values(&[name])
                .set(if overdue { 1.0 } else { 0.0 });
        }
    }

    /// Whether `drill` is overdue at `now` (`firedrill_drill_overdue`): no success within
    /// its period plus grace, counted from its last success (or from when these metrics
    /// started, for a drill that never passed). `None` for a drill without a schedule.
    pub fn is_overdue(
        &self,
        drill: &firedrill_core::config::Drill,
        now: DateTime<Utc>,
    ) -> Option<bool> {
        let schedule = drill.schedule.as_ref()?;
        let baseline = self
            .last_successes
            .lock()
            .get(&drill.name)
            .copied()
            .unwrap_or_else(|| timestamp(self.since));
        let allowed = schedule
            .schedule
            .period(now)
            .map(|p| p.num_seconds() as f64 + schedule.grace.as_secs_f64());
        Some(allowed.is_some_and(|allowed| timestamp(now) - baseline > allowed))
    }

    /// Interrupted runs left owing their rollback after the last recovery pass.
    pub fn set_runs_owing_rollback(&self, runs: usize) {
        self.runs_owing_rollback.set(runs as f64);
    }

    pub fn set_outbox_depth(&self, messages: usize) {
        self.outbox.set(messages as f64);
    }

    pub fn set_push_outbox_depth(&self, messages: usize) {
        self.push_outbox.set(messages as f64);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8_lossy(&buffer).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firedrill_core::report::fixtures;

    #[test]
    fn a_run_sets_recovery_targets_verdicts_and_availability_without_run_ids() {
        let metrics = Metrics::new().unwrap();
        let run = fixtures::failing_run();
        metrics.observe_run(&run);
        let text = metrics.render();
        assert!(
            text.contains("firedrill_drill_runs_total{drill=\"full-dr\",result=\"failed\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("# HELP firedrill_phase_recovery_seconds Last measured recovery time")
        );
        assert!(
            text.contains(
                "firedrill_phase_rto_target_seconds{drill=\"full-dr\",phase=\"zone-failure\"} 300"
            ),
            "{text}"
        );
        assert!(
            text.contains("firedrill_phase_passed{drill=\"full-dr\",phase=\"zone-failure\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("firedrill_service_availability_ratio{"),
            "{text}"
        );
        assert!(!text.contains(&run.id), "no run id in any label");
    }

    #[test]
    fn a_watched_phase_exports_its_clock_inject_time_and_checklist_per_service() {
        let metrics = Metrics::new().unwrap();
        metrics.observe_run(&fixtures::watched_run());
        let text = metrics.render();
        for line in [
            "firedrill_phase_inject_seconds{drill=\"full-dr\",phase=\"zone-failure\"} 23.6",
            "firedrill_phase_recovery_clock{drill=\"full-dr\",phase=\"zone-failure\",start=\"first-action\",stop=\"watch-event\"} 1",
            "firedrill_phase_fewest_ready_pods{drill=\"full-dr\",phase=\"zone-failure\",service=\"capsule\"} 1",
            "firedrill_phase_check_passed{check=\"pdb-respected\",drill=\"full-dr\",phase=\"zone-failure\",service=\"capsule\"} 0",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        // A later run dated another way replaces the series, not adds one.
        let mut run = fixtures::watched_run();
        if let Some(clock) = run.phases[1].clock.as_mut() {
            clock.stopped_by = firedrill_core::run::ClockStop::VerifyCall;
        }
        metrics.observe_run(&run);
        let text = metrics.render();
        assert_eq!(
            text.matches("firedrill_phase_recovery_clock{").count(),
            1,
            "{text}"
        );
    }

    #[test]
    fn a_phase_is_active_from_its_start_to_its_verdict_and_every_phase_has_a_series() {
        let config = firedrill_core::config::load_str(
            "t.yaml",
            "version: 1\ndrills:\n  two:\n    phases: [{ name: kill, scenario: pod-failure }, { name: again, scenario: pod-failure }]\n",
            std::path::Path::new("."),
            &crate::resolve_context(),
        )
        .unwrap();
        let metrics = Metrics::new().unwrap();
        metrics.register_drills(&config);
        let active = |phase: &str, value: u8| {
            format!("firedrill_drill_phase_active{{drill=\"two\",phase=\"{phase}\"}} {value}")
        };
        let text = metrics.render();
        assert!(text.contains(&active("kill", 0)), "{text}");
        assert!(text.contains(&active("again", 0)), "{text}");
        metrics.observe_progress(
            "two",
            &Progress::PhaseStarted {
                phase: "kill".into(),
                rto: None,
            },
        );
        let text = metrics.render();
        assert!(text.contains(&active("kill", 1)), "{text}");
        assert!(text.contains(&active("again", 0)), "{text}");
        metrics.observe_progress(
            "two",
            &Progress::PhaseFinished {
                phase: "kill".into(),
                verdict: firedrill_core::run::PhaseVerdict::Passed,
                recovery: None,
            },
        );
        assert!(metrics.render().contains(&active("kill", 0)));
        // A recorded run leaves none of its phases active, whatever progress said.
        let mut run = fixtures::passing_run();
        run.drill = "two".into();
        run.phases.truncate(1);
        run.phases[0].name = "kill".into();
        metrics.observe_progress(
            "two",
            &Progress::PhaseStarted {
                phase: "kill".into(),
                rto: None,
            },
        );
        metrics.observe_run(&run);
        assert!(metrics.render().contains(&active("kill", 0)));
    }

    #[test]
    fn a_phase_with_canaries_exports_its_loss_window_lost_writes_canaries_and_backup_age() {
        let metrics = Metrics::new().unwrap();
        let mut run = fixtures::failing_run();
        for phase in &mut run.phases {
            if let Some(loss) = phase.data_loss.as_mut() {
                loss.backup_age_seconds = Some(1800.0);
            }
        }
        metrics.observe_run(&run);
        let text = metrics.render();
        let labels = "{drill=\"full-dr\",phase=\"db-failover\"}";
        for line in [
            format!("firedrill_rpo_seconds{labels} 4.2"),
            format!("firedrill_phase_acknowledged_writes_lost{labels} 3"),
            format!("firedrill_phase_canary_writes{labels} 600"),
            format!("firedrill_backup_age_seconds{labels} 1800"),
        ] {
            assert!(text.contains(&line), "{line} in\n{text}");
        }
        // Only the phase that measured data loss has data-loss series.
        assert_eq!(
            text.matches("firedrill_phase_acknowledged_writes_lost{")
                .count(),
            1,
            "{text}"
        );
    }

    #[test]
    fn a_phase_without_canaries_exports_no_lost_writes_but_its_backup_age() {
        let metrics = Metrics::new().unwrap();
        let mut run = fixtures::passing_run();
        if let Some(loss) = run.phases[2].data_loss.as_mut() {
            loss.canaries_written = 0;
            loss.canaries_acknowledged = 0;
            loss.backup_age_seconds = Some(1800.0);
        }
        metrics.observe_run(&run);
        let text = metrics.render();
        assert!(
            !text.contains("firedrill_phase_acknowledged_writes_lost{"),
            "{text}"
        );
        assert!(!text.contains("firedrill_phase_canary_writes{"), "{text}");
        assert!(
            text.contains(
                "firedrill_backup_age_seconds{drill=\"full-dr\",phase=\"db-failover\"} 1800"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_scheduled_drill_that_never_passed_has_no_last_success_and_becomes_overdue() {
        let config = firedrill_core::config::load_str(
            "t.yaml",
            "version: 1\ndrills:\n  minutely:\n    schedule: { cron: \"* * * * *\", grace: 1s }\n    phases: [{ name: kill, scenario: pod-failure }]\n",
            std::path::Path::new("."),
            &crate::resolve_context(),
        )
        .unwrap();
        let metrics = Metrics::new().unwrap();
        metrics.refresh_schedule(&config, metrics.since + chrono::Duration::seconds(30));
        let text = metrics.render();
        assert!(
            text.contains("firedrill_drill_overdue{drill=\"minutely\"} 0"),
            "{text}"
        );
        metrics.refresh_schedule(&config, metrics.since + chrono::Duration::seconds(62));
        let text = metrics.render();
        assert!(
            text.contains("firedrill_drill_overdue{drill=\"minutely\"} 1"),
            "{text}"
        );
        assert!(
            !text.contains("firedrill_drill_last_success_timestamp_seconds{"),
            "no last success at 1970 for a drill that never passed:\n{text}"
        );
    }

    #[test]
    fn registered_drills_start_runs_recovery_histograms_and_plugin_errors_at_zero() {
        let config = firedrill_core::config::load_str(
            "t.yaml",
            "version: 1\ndrills:\n  single-pod:\n    phases: [{ name: kill, scenario: pod-failure }]\n",
            std::path::Path::new("."),
            &crate::resolve_context(),
        )
        .unwrap();
        let metrics = Metrics::new().unwrap();
        metrics.register_drills(&config);
        let text = metrics.render();
        for line in [
            "firedrill_drill_runs_total{drill=\"single-pod\",result=\"failed\"} 0",
            "firedrill_phase_recovery_duration_seconds_count{drill=\"single-pod\",phase=\"kill\"} 0",
            "firedrill_plugin_errors_total{scenario=\"pod-failure\"} 0",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }
}
