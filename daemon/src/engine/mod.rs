//! The drill engine: runs a drill's phases in order through the scenario host, measures, and records the run.
//!
//! For each phase: `plan`, journal the intent, `inject`, then `verify` at a fixed cadence
//! until it reports recovery or the phase deadline passes; the recovery time is measured
//! on the monotonic clock from the end of `inject` to the start of the `verify` call that
//! saw recovery. Availability probes run concurrently for the whole drill. A failed,
//! timed-out or aborted phase is rolled back at once; at the end every phase that injected
//! a fault is rolled back (rollbacks are idempotent), so a drill always leaves the cluster
//! as it found it. Verdicts come from the pure [`firedrill_core::measure`].

mod canary;
mod checks;
mod phase;
pub mod ports;
mod probes;
pub mod recovery;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use firedrill_core::config::PhaseFailurePolicy;
use firedrill_core::config::{Config, Drill};
use firedrill_core::measure::{AvailabilityTracker, drill_outcome};
use firedrill_core::run::{
    CheckStage, CheckVerdict, Evidence, Outcome, PhaseRecord, PhaseVerdict, RunRecord,
    TimelineEvent, Trigger,
};
use firedrill_core::series::ProbeRecorder;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use self::phase::DATA_LOSS_ARTEFACT;
use self::phase::{Owed, PhaseRun, RunContext};
use self::ports::{
    AlertSource, Baseline, CanaryStore, ClusterBinding, Journal, JournalEntry, MetricsSource,
    PhaseContext, Prober, ScenarioHost, ServiceRef, Watches,
};
use self::probes::Watchers;
pub use self::probes::probe_targets;

/// The adapters a run needs, as one context (like a kube-rs controller's `Context`).
#[derive(Clone)]
pub struct Engine {
    pub host: Arc<dyn ScenarioHost>,
    pub prober: Arc<dyn Prober>,
    pub baseline: Arc<dyn Baseline>,
    pub journal: Arc<dyn Journal>,
    /// Where firing alerts are read, when the configuration names abort alerts.
    pub alerts: Option<Arc<dyn AlertSource>>,
    /// Where PromQL checks are evaluated, when the configuration names a Prometheus.
    pub metrics: Option<Arc<dyn MetricsSource>>,
    /// Where phases with canaries write them.
    pub canaries: Arc<dyn CanaryStore>,
    /// Starts each phase's cluster watch (`None`: no cluster to watch, verify on the grid).
    pub watches: Option<Arc<dyn Watches>>,
    /// How often `verify` is called while a phase without a watch recovers.
    pub verify_interval: Duration,
    /// With a watch, how long `verify` waits for a change before it is called anyway.
    pub verify_fallback: Duration,
    /// The target and cluster this engine's adapters talk to: recorded with every run.
    pub binding: ClusterBinding,
    /// The engines of the other targets a drill's phases act on (drills spanning
    /// clusters), by target name; their own `elsewhere` is empty.
    pub elsewhere: BTreeMap<String, Engine>,
}

impl Engine {
    /// The engine acting on `target` (`None`: this one's), if that target is open.
    pub fn on(&self, target: Option<&str>) -> Option<&Engine> {
        match target {
            None => Some(self),
            Some(target) if target == self.binding.target => Some(self),
            Some(target) => self.elsewhere.get(target),
        }
    }

    /// This engine and every other target's, this one first.
    fn all(&self) -> impl Iterator<Item = &Engine> {
        std::iter::once(self).chain(self.elsewhere.values())
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("verify_interval", &self.verify_interval)
            .finish_non_exhaustive()
    }
}

/// What to run, and why.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The run's id, made once here ([`RunRequest::new`]) so that whoever asked can name
    /// the run (to abort it) before it starts.
    pub run_id: String,
    pub drill: String,
    pub trigger: Trigger,
    pub scheduled_for: Option<DateTime<Utc>>,
    /// SHA-256 of the configuration file, for the record.
    pub config_sha256: String,
}

impl RunRequest {
    /// A request to run `drill` now, with a fresh run id (`{drill}-{now}-{4 hex}`).
    pub fn new(
        drill: &str,
        trigger: Trigger,
        scheduled_for: Option<DateTime<Utc>>,
        config_sha256: String,
    ) -> Self {
        Self {
            run_id: RunRecord::make_id(drill, Utc::now(), rand::random()),
            drill: drill.to_string(),
            trigger,
            scheduled_for,
            config_sha256,
        }
    }
}

/// Progress of a run, for a live display.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    PhaseStarted {
        phase: String,
        rto: Option<Duration>,
    },
    Recovering {
        phase: String,
        elapsed: Duration,
        reason: String,
    },
    PhaseFinished {
        phase: String,
        verdict: PhaseVerdict,
        recovery: Option<Duration>,
    },
}

/// Anchors the monotonic clock to wall-clock time once, so every timestamp of a run is
/// consistent with the durations measured between them.
#[derive(Debug, Clone, Copy)]
struct Clock {
    wall: DateTime<Utc>,
    mono: Instant,
}

impl Clock {
    fn now() -> Self {
        Self {
            wall: Utc::now(),
            mono: Instant::now(),
        }
    }

    fn wall_at(&self, at: Instant) -> DateTime<Utc> {
        let elapsed = at.saturating_duration_since(self.mono);
        self.wall + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }
}

/// State shared with the probe task.
#[derive(Debug, Default)]
struct Shared {
    phase: Option<String>,
    tracker: AvailabilityTracker,
    /// Every probe result with its time, for the record's per-service series.
    series: ProbeRecorder,
    abort_reason: Option<String>,
}

impl Engine {
    /// Runs `request.drill` of `config` to the end (or abort) and returns its record. Never
    /// fails: every problem becomes a phase verdict or the run's outcome.
    pub async fn run(
        &self,
        config: &Config,
        request: RunRequest,
        cancel: CancellationToken,
        progress: ProgressSender,
    ) -> RunRecord {
        let clock = Clock::now();
        let mut record = self.begin(config, &request, clock);
        let Some(drill) = config.drill(&request.drill) else {
            return errored(record, format!("unknown drill `{}`", request.drill));
        };
        record.description = drill.description.clone();
        record
            .participants
            .extend(drill.participants.iter().cloned());
        let started = JournalEntry::RunStarted {
            drill: drill.name.clone(),
            at: clock.wall,
            target: Some(self.binding.target.clone()),
            cluster: Some(self.binding.identity.clone()),
        };
        if let Err(err) = self.journal.append(&record.id, &started).await {
            let message = format!("cannot write the run journal, so the run did not start: {err}");
            return errored(record, message);
        }
        note(
            &mut record,
            clock,
            None,
            format!("Drill {} started", drill.name),
        );
        let services = match self.service_refs(config, drill).await {
            Ok(services) => services,
            Err(message) => {
                record.outcome = Outcome::Error { message };
                return self.finish(record, clock).await;
            }
        };
        // The steady-state hypothesis: nothing is injected unless it holds.
        let since = Instant::now();
        if let Some(source) = &self.metrics {
            let before = checks::named(config, &drill.checks.before);
            if !before.is_empty() {
                let results =
                    checks::once(source.as_ref(), &before, CheckStage::Before, since, clock).await;
                let shortfalls = checks::shortfalls(&results);
                record.checks.extend(results);
                if !shortfalls.is_empty() {
                    let reason = format!("steady state did not hold: {}", shortfalls.join("; "));
                    note(
                        &mut record,
                        clock,
                        None,
                        format!("Drill not started: {reason}"),
                    );
                    let at = clock.wall_at(Instant::now());
                    record
                        .phases
                        .extend(drill.phases.iter().map(|phase| skipped(phase, at)));
                    record.outcome = Outcome::NotStarted { reason };
                    return self.finish(record, clock).await;
                }
                note(&mut record, clock, None, "Steady state holds".into());
            }
        }
        let shared = Arc::new(Mutex::new(Shared::default()));
        let probers = probes::Probers {
            run_target: &self.binding.target,
            by_target: self
                .all()
                .map(|engine| (engine.binding.target.clone(), engine.prober.clone()))
                .collect(),
        };
        let watchers = Watchers::start(
            config,
            drill,
            probers,
            self.alerts.clone(),
            &shared,
            &cancel,
            clock.mono,
        );
        let run = RunContext {
            engine: self,
            config,
            clock,
            cancel: &cancel,
            shared: &shared,
            progress: &progress,
            blast_radius: &drill.blast_radius,
        };
        let mut owed = Owed::new();
        self.run_phases(&run, drill, &services, &mut record, &mut owed)
            .await;
        // Every fault injected is undone, newest first, whatever happened.
        while let Some((ctx, scenario)) = owed.pop() {
            let outcome = self.rollback(&record.id, &ctx, scenario.as_ref()).await;
            let message = format!("Final rollback of {}: {outcome}", ctx.phase);
            note(&mut record, clock, Some(&ctx.phase), message);
        }
        // The verification checklist, once everything is rolled back.
        let mut verified = true;
        if let Some(source) = &self.metrics
            && !cancel.is_cancelled()
        {
            let after = checks::named(config, &drill.checks.after);
            if !after.is_empty() {
                let results =
                    checks::until_passing(source.as_ref(), &after, None, since, clock, &cancel)
                        .await;
                let shortfalls = checks::shortfalls(&results);
                record.checks.extend(results);
                for shortfall in &shortfalls {
                    note(
                        &mut record,
                        clock,
                        None,
                        format!("After the drill: {shortfall}"),
                    );
                }
                verified = shortfalls.is_empty();
            }
        }
        watchers.stop().await;
        let (tracker, abort_reason) = {
            let shared = shared.lock();
            record.probe_series = shared.series.series(clock.wall, config.probing.interval);
            (shared.tracker.clone(), shared.abort_reason.clone())
        };
        record.availability = tracker.drill_summary();
        record.outcome = match abort_reason {
            Some(reason) if cancel.is_cancelled() => Outcome::Aborted { reason },
            None if cancel.is_cancelled() => Outcome::Aborted {
                reason: "stopped by an operator".into(),
            },
            _ => match drill_outcome(&record.phases) {
                Outcome::Passed if !verified => Outcome::Failed,
                outcome => outcome,
            },
        };
        self.finish(record, clock).await
    }

    /// The record of a run starting now: its id, target, trigger and the configuration's
    /// objectives and participants.
    fn begin(&self, config: &Config, request: &RunRequest, clock: Clock) -> RunRecord {
        let id = request.run_id.clone();
        RunRecord {
            scheduled_for: request.scheduled_for,
            participants: config.report.participants.clone(),
            overall_rto_seconds: config.objectives.rto.map(|d| d.as_secs_f64()),
            overall_rpo_seconds: config.objectives.rpo.map(|d| d.as_secs_f64()),
            config_sha256: request.config_sha256.clone(),
            // The target really used (a `--target` overrides the drill's).
            ..RunRecord::begun(
                id,
                request.drill.clone(),
                self.binding.target.clone(),
                request.trigger.clone(),
                clock.wall,
            )
        }
    }

    /// Runs the drill's phases in order; after a failed phase under `stop`, or once the
    /// run is cancelled, the rest are recorded as skipped.
    async fn run_phases(
        &self,
        run: &RunContext<'_>,
        drill: &Drill,
        services: &[ServiceRef],
        record: &mut RunRecord,
        owed: &mut Owed,
    ) {
        let mut stopping = false;
        for phase in &drill.phases {
            if stopping || run.cancel.is_cancelled() {
                let at = run.clock.wall_at(Instant::now());
                record.phases.push(skipped(phase, at));
                continue;
            }
            let ctx = phase_context(&record.id, &self.binding.target, drill, phase, services);
            run.shared.lock().phase = Some(phase.name.clone());
            let rto = phase.objectives.rto;
            let name = phase.name.clone();
            send(run.progress, Progress::PhaseStarted { phase: name, rto });
            let during = self.metrics.as_ref().map(|source| {
                let names = drill.checks.during.iter().chain(&phase.checks.during);
                checks::DuringChecks::start(
                    source.clone(),
                    checks::named(run.config, names),
                    phase.name.clone(),
                    run.clock,
                    run.shared.clone(),
                    run.cancel.clone(),
                )
            });
            let since = Instant::now();
            let mut phase_record = match self.on(phase.target.as_deref()) {
                Some(engine) => {
                    PhaseRun::new(run, engine, phase, &ctx)
                        .run(owed, &mut record.timeline)
                        .await
                }
                None => PhaseRecord {
                    verdict: PhaseVerdict::Error {
                        message: format!(
                            "target `{}` was not opened for this run",
                            phase.target.as_deref().unwrap_or_default()
                        ),
                    },
                    finished_at: Some(run.clock.wall_at(Instant::now())),
                    ..PhaseRecord::planned(phase, run.clock.wall_at(since))
                },
            };
            let mut results = match during {
                Some(during) => during.stop().await,
                None => Vec::new(),
            };
            // The phase's verification, once it has recovered.
            let recovered = matches!(
                phase_record.verdict,
                PhaseVerdict::Passed | PhaseVerdict::Failed { .. }
            );
            if let Some(source) = &self.metrics
                && recovered
                && !run.cancel.is_cancelled()
            {
                let after = checks::named(run.config, &phase.checks.after);
                results.extend(
                    checks::until_passing(
                        source.as_ref(),
                        &after,
                        Some(&phase.name),
                        since,
                        run.clock,
                        run.cancel,
                    )
                    .await,
                );
            }
            for result in results.iter().filter(|r| r.verdict != CheckVerdict::Pass) {
                let message = format!(
                    "Check {} ({}) {}: {}",
                    result.check,
                    result.stage.label(),
                    result.verdict.label(),
                    result.message
                );
                record.timeline.push(TimelineEvent {
                    at: result.at,
                    phase: Some(phase.name.clone()),
                    message,
                });
            }
            phase_record.verdict =
                checks::with_shortfalls(phase_record.verdict, checks::shortfalls(&results));
            record.checks.extend(results);
            run.shared.lock().phase = None;
            send(
                run.progress,
                Progress::PhaseFinished {
                    phase: phase.name.clone(),
                    verdict: phase_record.verdict.clone(),
                    recovery: phase_record.recovery_seconds.map(Duration::from_secs_f64),
                },
            );
            let passed = phase_record.verdict.passed();
            let message = format!("Phase {} {}", phase.name, phase_record.verdict.label());
            note(record, run.clock, Some(&phase.name), message);
            record.phases.push(phase_record);
            if !passed && drill.on_phase_failure == PhaseFailurePolicy::Stop {
                stopping = true;
            }
        }
    }

    async fn finish(&self, mut record: RunRecord, clock: Clock) -> RunRecord {
        let now = clock.wall_at(Instant::now());
        record.finished_at = Some(now);
        for scenario in record
            .phases
            .iter()
            .map(|p| p.scenario.clone())
            .collect::<Vec<_>>()
        {
            if let Some(hash) = self
                .all()
                .find_map(|engine| engine.host.plugin_sha256(&scenario))
            {
                record.plugin_sha256.insert(scenario, hash);
            }
        }
        let mut attachments = Vec::new();
        for engine in self.all() {
            attachments.extend(engine.host.evidence(&record.id).await);
        }
        attachments.sort_by_key(|attached| attached.captured_at);
        for attached in attachments {
            record.evidence.push(Evidence {
                phase: attached.phase,
                name: attached.name,
                captured_at: attached.captured_at,
                sha256: hex::encode(Sha256::digest(attached.content.as_bytes())),
                content: attached.content,
            });
        }
        if let Err(err) = self
            .journal
            .append(
                &record.id,
                &JournalEntry::RunFinished {
                    at: now,
                    record: Some(Box::new(record.clone())),
                },
            )
            .await
        {
            tracing::error!(run = %record.id, error = %err, "Could not mark the run finished in the journal; it will be rolled back again at the next start");
        }
        record
    }

    /// The services of the drill's phases with their healthy replica counts, each read
    /// on the target of the phase that names it.
    async fn service_refs(
        &self,
        config: &Config,
        drill: &Drill,
    ) -> Result<Vec<ServiceRef>, String> {
        let mut refs: Vec<ServiceRef> = Vec::new();
        let mut wanted: Vec<(&str, &String)> = drill
            .phases
            .iter()
            .flat_map(|p| {
                let target = p.target.as_deref().unwrap_or(&self.binding.target);
                p.services.iter().map(move |name| (target, name))
            })
            .collect();
        wanted.sort();
        wanted.dedup();
        for (target, name) in wanted {
            let Some(service) = config.services.get(name) else {
                continue;
            };
            let engine = self
                .on(Some(target))
                .ok_or_else(|| format!("target `{target}` was not opened for this run"))?;
            let selector = service.selector.to_string();
            let replicas = engine
                .baseline
                .ready_pods(&service.namespace, &selector)
                .await
                .map_err(|err| {
                    format!("cannot read the baseline of service {name} on target {target}: {err}")
                })?;
            refs.push(ServiceRef {
                name: name.clone(),
                namespace: service.namespace.clone(),
                selector,
                replicas,
                min_ready: service.min_ready,
                target: Some(target.to_string()),
            });
        }
        Ok(refs)
    }

    /// Rolls back the newest owed phase (the one that just failed).
    async fn rollback_owed(&self, owed: &mut Owed, run_id: &str) -> String {
        match owed.pop() {
            Some((ctx, scenario)) => self.rollback(run_id, &ctx, scenario.as_ref()).await,
            None => "nothing to roll back".into(),
        }
    }

    async fn rollback(
        &self,
        run_id: &str,
        ctx: &PhaseContext,
        scenario: &dyn ports::Scenario,
    ) -> String {
        let result = scenario.rollback(ctx).await;
        if let Err(err) = self
            .journal
            .append(
                run_id,
                &JournalEntry::RolledBack {
                    phase: ctx.phase.clone(),
                    at: Utc::now(),
                },
            )
            .await
        {
            tracing::error!(run = run_id, phase = %ctx.phase, error = %err, "Could not journal a rollback; it will run again at the next start");
        }
        match result {
            Ok(()) => "rolled back".into(),
            Err(err) => {
                tracing::error!(run = run_id, phase = %ctx.phase, error = %err, "Rollback failed; the cluster may need manual restoration");
                format!("rollback failed: {err}")
            }
        }
    }
}

/// Where progress goes, when someone displays it.
pub type ProgressSender = Option<tokio::sync::mpsc::UnboundedSender<Progress>>;

fn send(progress: &ProgressSender, event: Progress) {
    if let Some(progress) = progress {
        // A display that went away must not stop the drill.
        let _ = progress.send(event);
    }
}

/// What a scenario is told about `phase` of `drill` in run `run_id`.
fn phase_context(
    run_id: &str,
    run_target: &str,
    drill: &Drill,
    phase: &firedrill_core::config::Phase,
    services: &[ServiceRef],
) -> PhaseContext {
    PhaseContext {
        run_id: run_id.to_string(),
        drill: drill.name.clone(),
        phase: phase.name.clone(),
        scenario: phase.scenario.clone(),
        params: serde_json::Value::Object(phase.params.clone()),
        services: services
            .iter()
            .filter(|s| phase.services.contains(&s.name))
            // `service_refs` read each on the target of a phase naming it.
            .filter(|s| s.target.as_deref() == Some(phase.target.as_deref().unwrap_or(run_target)))
            .cloned()
            .collect(),
    }
}

/// What one phase would do (`firedrill plan`): its scenario's planned actions, or why
/// they could not be had.
#[derive(Debug)]
pub struct PhasePlan {
    pub phase: String,
    /// The target it acts on.
    pub target: String,
    pub scenario: String,
    pub actions: Result<Vec<ports::PlannedAction>, String>,
}

impl Engine {
    /// Asks each phase's scenario for its plan against the cluster as it is now, changing
    /// nothing (plan calls are read-only whatever the grants).
    pub async fn plan(&self, config: &Config, drill: &Drill) -> Result<Vec<PhasePlan>, String> {
        let services = self.service_refs(config, drill).await?;
        let mut plans = Vec::new();
        for phase in &drill.phases {
            let ctx = phase_context("plan", &self.binding.target, drill, phase, &services);
            let Some(engine) = self.on(phase.target.as_deref()) else {
                return Err(format!(
                    "target `{}` of phase {} was not opened",
                    phase.target.as_deref().unwrap_or_default(),
                    phase.name
                ));
            };
            let actions = match engine.host.load(&phase.scenario).await {
                Ok(scenario) => scenario
                    .plan(&ctx)
                    .await
                    .map_err(|err| format!("plan failed: {err}")),
                Err(err) => Err(format!("cannot load: {err}")),
            };
            plans.push(PhasePlan {
                phase: phase.name.clone(),
                target: engine.binding.target.clone(),
                scenario: phase.scenario.clone(),
                actions,
            });
        }
        Ok(plans)
    }
}

/// Adds one line to the run's timeline, dated now.
fn note(record: &mut RunRecord, clock: Clock, phase: Option<&str>, message: String) {
    record.timeline.push(TimelineEvent {
        at: clock.wall_at(Instant::now()),
        phase: phase.map(str::to_string),
        message,
    });
}

/// The record of a phase that did not run: planned, verdict `Skipped`, over at `at`.
fn skipped(phase: &firedrill_core::config::Phase, at: DateTime<Utc>) -> PhaseRecord {
    PhaseRecord {
        finished_at: Some(at),
        ..PhaseRecord::planned(phase, at)
    }
}

/// A run that ends before it started: `message` is why.
fn errored(mut record: RunRecord, message: String) -> RunRecord {
    record.outcome = Outcome::Error { message };
    record.finished_at = Some(Utc::now());
    record
}

#[cfg(test)]
mod tests;
