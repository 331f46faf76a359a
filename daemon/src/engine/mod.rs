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
pub mod ports;
pub mod recovery;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use firedrill_core::config::raw::PhaseFailurePolicy;
use firedrill_core::config::{BlastRadius, Canary, Config, Drill, Phase};
use firedrill_core::measure::{
    AbortWindow, AvailabilityTracker, BlastCount, drill_outcome, judge_phase,
};
use firedrill_core::run::{
    DataLoss, Evidence, Outcome, PhaseRecord, PhaseVerdict, RunRecord, TimelineEvent, Trigger,
};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::canary::CanaryRun;
use self::ports::{
    AlertSource, Baseline, CanaryStore, ClusterBinding, Journal, JournalEntry, PhaseContext,
    ProbeTarget, Prober, Recovery, ScenarioHost, ServiceRef,
};

/// The adapters a run needs, as one context (like a kube-rs controller's `Context`).
#[derive(Clone)]
pub struct Engine {
    pub host: Arc<dyn ScenarioHost>,
    pub prober: Arc<dyn Prober>,
    pub baseline: Arc<dyn Baseline>,
    pub journal: Arc<dyn Journal>,
    /// Where firing alerts are read, when the configuration names abort alerts.
    pub alerts: Option<Arc<dyn AlertSource>>,
    /// Where phases with canaries write them.
    pub canaries: Arc<dyn CanaryStore>,
    /// How often `verify` is called while a phase recovers.
    pub verify_interval: Duration,
    /// The target and cluster this engine's adapters talk to: recorded with every run.
    pub binding: ClusterBinding,
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
    /// The run's id; `None`: the engine makes one from the drill and start time.
    pub run_id: Option<String>,
    pub drill: String,
    pub trigger: Trigger,
    pub scheduled_for: Option<DateTime<Utc>>,
    /// SHA-256 of the configuration file, for the record.
    pub config_sha256: String,
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
        progress: Option<tokio::sync::mpsc::UnboundedSender<Progress>>,
    ) -> RunRecord {
        let clock = Clock::now();
        let nonce: u16 = rand::random();
        let mut record = RunRecord {
            id: request
                .run_id
                .clone()
                .unwrap_or_else(|| RunRecord::make_id(&request.drill, clock.wall, nonce)),
            drill: request.drill.clone(),
            description: None,
            target: self.binding.target.clone(),
            trigger: request.trigger.clone(),
            scheduled_for: request.scheduled_for,
            started_at: clock.wall,
            finished_at: None,
            outcome: Outcome::Passed,
            participants: config.report.participants.clone(),
            overall_rto_seconds: config.objectives.rto.map(|d| d.as_secs_f64()),
            overall_rpo_seconds: config.objectives.rpo.map(|d| d.as_secs_f64()),
            phases: Vec::new(),
            availability: Vec::new(),
            timeline: Vec::new(),
            evidence: Vec::new(),
            config_sha256: request.config_sha256.clone(),
            plugin_sha256: BTreeMap::new(),
        };
        let Some(drill) = config.drill(&request.drill) else {
            record.outcome = Outcome::Error {
                message: format!("unknown drill `{}`", request.drill),
            };
            record.finished_at = Some(Utc::now());
            return record;
        };
        record.description = drill.description.clone();
        // The target really used (a `--target` overrides the drill's).
        record.target = self.binding.target.clone();
        record
            .participants
            .extend(drill.participants.iter().cloned());
        let note = |record: &mut RunRecord, phase: Option<&str>, message: String| {
            record.timeline.push(TimelineEvent {
                at: clock.wall_at(Instant::now()),
                phase: phase.map(str::to_string),
                message,
            });
        };

        if let Err(err) = self
            .journal
            .append(
                &record.id,
                &JournalEntry::RunStarted {
                    drill: drill.name.clone(),
                    at: clock.wall,
                    target: Some(self.binding.target.clone()),
                    cluster: Some(self.binding.identity.clone()),
                },
            )
            .await
        {
            record.outcome = Outcome::Error {
                message: format!("cannot write the run journal, so the run did not start: {err}"),
            };
            record.finished_at = Some(Utc::now());
            return record;
        }
        note(&mut record, None, format!("Drill {} started", drill.name));

        let services = match self.service_refs(config, drill).await {
            Ok(services) => services,
            Err(message) => {
                record.outcome = Outcome::Error { message };
                return self.finish(record, clock).await;
            }
        };

        let shared = Arc::new(Mutex::new(Shared::default()));
        let stop_probes = CancellationToken::new();
        let probe_task = tokio::spawn(probe_loop(
            self.prober.clone(),
            probe_targets(config),
            config.probing.interval,
            config.probing.timeout,
            AbortWindow::new(
                config.abort.availability_window,
                config.abort.availability_floor,
            ),
            shared.clone(),
            cancel.clone(),
            stop_probes.clone(),
        ));

        let alert_task = match (&self.alerts, &config.abort.alerts) {
            (Some(source), Some(abort)) => Some(tokio::spawn(alert_loop(
                source.clone(),
                abort.names.clone(),
                abort.interval,
                shared.clone(),
                cancel.clone(),
                stop_probes.clone(),
            ))),
            _ => None,
        };

        let mut stopping = false;
        let mut owed_rollbacks: Vec<(PhaseContext, Arc<dyn ports::Scenario>)> = Vec::new();
        for phase in &drill.phases {
            if stopping || cancel.is_cancelled() {
                record
                    .phases
                    .push(skipped(phase, clock.wall_at(Instant::now())));
                continue;
            }
            let ctx = PhaseContext {
                run_id: record.id.clone(),
                drill: drill.name.clone(),
                phase: phase.name.clone(),
                scenario: phase.scenario.clone(),
                params: serde_json::Value::Object(phase.params.clone()),
                services: services
                    .iter()
                    .filter(|s| phase.services.contains(&s.name))
                    .cloned()
                    .collect(),
            };
            shared.lock().phase = Some(phase.name.clone());
            send(
                &progress,
                Progress::PhaseStarted {
                    phase: phase.name.clone(),
                    rto: phase.objectives.rto,
                },
            );
            let phase_record = self
                .run_phase(
                    phase,
                    &ctx,
                    clock,
                    &cancel,
                    &shared,
                    &progress,
                    &mut owed_rollbacks,
                    &mut record,
                    &drill.blast_radius,
                )
                .await;
            shared.lock().phase = None;
            send(
                &progress,
                Progress::PhaseFinished {
                    phase: phase.name.clone(),
                    verdict: phase_record.verdict.clone(),
                    recovery: phase_record.recovery_seconds.map(Duration::from_secs_f64),
                },
            );
            let passed = phase_record.verdict.passed();
            note(
                &mut record,
                Some(&phase.name),
                format!("Phase {} {}", phase.name, phase_record.verdict.label()),
            );
            record.phases.push(phase_record);
            if !passed && drill.on_phase_failure == PhaseFailurePolicy::Stop {
                stopping = true;
            }
        }

        // Every fault injected is undone, newest first, whatever happened.
        while let Some((ctx, scenario)) = owed_rollbacks.pop() {
            let outcome = self.rollback(&record.id, &ctx, scenario.as_ref()).await;
            note(
                &mut record,
                Some(&ctx.phase),
                format!("Final rollback of {}: {outcome}", ctx.phase),
            );
        }

        stop_probes.cancel();
        let _ = probe_task.await;
        if let Some(task) = alert_task {
            let _ = task.await;
        }
        let (tracker, abort_reason) = {
            let shared = shared.lock();
            (shared.tracker.clone(), shared.abort_reason.clone())
        };
        record.availability = tracker.drill_summary();
        record.outcome = match abort_reason {
            Some(reason) if cancel.is_cancelled() => Outcome::Aborted { reason },
            None if cancel.is_cancelled() => Outcome::Aborted {
                reason: "stopped by an operator".into(),
            },
            _ => drill_outcome(&record.phases),
        };
        self.finish(record, clock).await
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
            if let Some(hash) = self.host.plugin_sha256(&scenario) {
                record.plugin_sha256.insert(scenario, hash);
            }
        }
        for attached in self.host.evidence(&record.id).await {
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

    /// The services of the drill's phases with their healthy replica counts.
    async fn service_refs(
        &self,
        config: &Config,
        drill: &Drill,
    ) -> Result<Vec<ServiceRef>, String> {
        let mut refs = Vec::new();
        let mut names: Vec<&String> = drill.phases.iter().flat_map(|p| &p.services).collect();
        names.sort();
        names.dedup();
        for name in names {
            let Some(service) = config.services.get(name) else {
                continue;
            };
            let selector = service.selector.to_string();
            let replicas = self
                .baseline
                .ready_pods(&service.namespace, &selector)
                .await
                .map_err(|err| format!("cannot read the baseline of service {name}: {err}"))?;
            refs.push(ServiceRef {
                name: name.clone(),
                namespace: service.namespace.clone(),
                selector,
                replicas,
            });
        }
        Ok(refs)
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_phase(
        &self,
        phase: &Phase,
        ctx: &PhaseContext,
        clock: Clock,
        cancel: &CancellationToken,
        shared: &Arc<Mutex<Shared>>,
        progress: &Option<tokio::sync::mpsc::UnboundedSender<Progress>>,
        owed_rollbacks: &mut Vec<(PhaseContext, Arc<dyn ports::Scenario>)>,
        record: &mut RunRecord,
        blast_radius: &BlastRadius,
    ) -> PhaseRecord {
        let started = Instant::now();
        let mut out = PhaseRecord {
            name: phase.name.clone(),
            scenario: phase.scenario.clone(),
            started_at: clock.wall_at(started),
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
        };
        let scenario = match self.host.load(&phase.scenario).await {
            Ok(scenario) => scenario,
            Err(err) => {
                out.verdict = PhaseVerdict::Error {
                    message: format!("cannot load scenario {}: {err}", phase.scenario),
                };
                out.finished_at = Some(clock.wall_at(Instant::now()));
                return out;
            }
        };
        match scenario.plan(ctx).await {
            Ok(actions) => {
                out.actions = actions.iter().map(|a| a.describe()).collect();
                // Safe by default: a phase that would disrupt more than the drill allows
                // is refused before anything is touched.
                let count = BlastCount::of(actions.iter().map(|a| a.kind.as_str()));
                let over = count.exceeds(blast_radius);
                if !over.is_empty() {
                    out.verdict = PhaseVerdict::Error {
                        message: format!(
                            "refused: the plan exceeds the blast radius ({}); nothing was injected",
                            over.join("; ")
                        ),
                    };
                    out.finished_at = Some(clock.wall_at(Instant::now()));
                    return out;
                }
            }
            Err(err) => {
                out.verdict = PhaseVerdict::Error {
                    message: format!("plan failed: {err}"),
                };
                out.finished_at = Some(clock.wall_at(Instant::now()));
                return out;
            }
        }
        // Canaries start before the fault; a phase whose canaries are not acknowledged
        // before it would measure nothing, so it injects nothing.
        let canaries = match &phase.canary {
            Some(canary) => {
                match self
                    .start_canaries(canary, ctx, cancel, clock, &mut out)
                    .await
                {
                    Some(run) => Some(run),
                    None => return out,
                }
            }
            None => None,
        };
        let evidence_before = self.host.evidence(&ctx.run_id).await.len();
        if let Err(err) = self
            .journal
            .append(
                &ctx.run_id,
                &JournalEntry::Injecting {
                    phase: phase.name.clone(),
                    context: ctx.clone(),
                    at: clock.wall_at(Instant::now()),
                },
            )
            .await
        {
            out.verdict = PhaseVerdict::Error {
                message: format!("cannot write the run journal, so no fault was injected: {err}"),
            };
            if let Some(run) = canaries {
                run.discard().await;
            }
            out.finished_at = Some(clock.wall_at(Instant::now()));
            return out;
        }
        // From here a rollback is owed, even if inject fails half-way.
        owed_rollbacks.push((ctx.clone(), scenario.clone()));
        let fault_at = Instant::now();
        if let Err(err) = scenario.inject(ctx).await {
            out.verdict = PhaseVerdict::Error {
                message: format!("inject failed: {err}"),
            };
            // A fault may have half-happened: what the canaries saw still counts.
            if let Some(run) = canaries {
                match run.finish(fault_at, false).await {
                    Ok(loss) => out.data_loss = Some(loss),
                    Err(message) => {
                        tracing::warn!(run = %ctx.run_id, phase = %phase.name, "{message}");
                    }
                }
            }
            out.rollback = Some(self.rollback_owed(owed_rollbacks, &ctx.run_id).await);
            out.finished_at = Some(clock.wall_at(Instant::now()));
            return out;
        }
        let injected = Instant::now();
        out.injected_at = Some(clock.wall_at(injected));
        record.timeline.push(TimelineEvent {
            at: clock.wall_at(injected),
            phase: Some(phase.name.clone()),
            message: format!("Fault injected by {}", phase.scenario),
        });

        let deadline = injected + phase.deadline;
        let mut recovered: Option<Instant> = None;
        let mut failure: Option<PhaseVerdict> = None;
        let mut polls = 0u64;
        // Calls start on a fixed grid from the end of inject, whatever a call costs: the
        // delay between recovery and the call that sees it stays under one interval (a
        // call that overruns its slot is followed at once by the next one).
        let mut ticks = tokio::time::interval_at(injected, self.verify_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = cancel.cancelled() => {}
            }
            if cancel.is_cancelled() {
                let reason = shared
                    .lock()
                    .abort_reason
                    .clone()
                    .unwrap_or_else(|| "stopped by an operator".into());
                failure = Some(PhaseVerdict::Aborted { reason });
                break;
            }
            let asked = Instant::now();
            if asked >= deadline {
                break;
            }
            polls += 1;
            let verdict = tokio::select! {
                verdict = scenario.verify(ctx) => verdict,
                () = tokio::time::sleep_until(deadline) => break,
                () = cancel.cancelled() => continue,
            };
            match verdict {
                Ok(Recovery::Recovered) => {
                    // Dated when the verdict is known: a call that reads many services
                    // may see the last of them recover near its end, so its start could
                    // come before the recovery it reports.
                    recovered = Some(Instant::now());
                    break;
                }
                Ok(Recovery::Recovering(reason)) => {
                    send(
                        progress,
                        Progress::Recovering {
                            phase: phase.name.clone(),
                            elapsed: asked.duration_since(injected),
                            reason,
                        },
                    );
                }
                Ok(Recovery::Failed(reason)) => {
                    failure = Some(PhaseVerdict::Failed {
                        reasons: vec![format!("the scenario reports recovery failed: {reason}")],
                    });
                    break;
                }
                Err(err) => {
                    failure = Some(PhaseVerdict::Error {
                        message: format!("verify failed: {err}"),
                    });
                    break;
                }
            }
        }
        if let Some(run) = canaries {
            match run.finish(fault_at, recovered.is_some()).await {
                Ok(loss) => {
                    record.timeline.push(TimelineEvent {
                        at: clock.wall_at(Instant::now()),
                        phase: Some(phase.name.clone()),
                        message: format!(
                            "Canaries read back: {} written, {} acknowledged, {} acknowledged and lost",
                            loss.canaries_written, loss.canaries_acknowledged, loss.acknowledged_lost
                        ),
                    });
                    out.data_loss = Some(loss);
                }
                Err(message) if recovered.is_some() && failure.is_none() => {
                    failure = Some(PhaseVerdict::Failed {
                        reasons: vec![message],
                    });
                }
                Err(message) => {
                    tracing::warn!(run = %ctx.run_id, phase = %phase.name, "{message}");
                }
            }
        }
        if let Some(reported) = self
            .reported_data_loss(&ctx.run_id, &phase.name, evidence_before)
            .await
        {
            out.data_loss = Some(match out.data_loss.take() {
                // The host's canaries and the scenario's own writes both count.
                Some(mut measured) => {
                    measured.canaries_written += reported.canaries_written;
                    measured.canaries_acknowledged += reported.canaries_acknowledged;
                    measured.acknowledged_lost += reported.acknowledged_lost;
                    measured.loss_window_seconds = measured
                        .loss_window_seconds
                        .max(reported.loss_window_seconds);
                    measured.backup_age_seconds = reported.backup_age_seconds;
                    if !reported.method.is_empty() {
                        measured.method = format!("{}; {}", measured.method, reported.method);
                    }
                    measured
                }
                None => reported,
            });
        }
        let finished = Instant::now();
        out.availability = shared.lock().tracker.phase_summary(&phase.name);
        if let Some(at) = recovered {
            let recovery = at.duration_since(injected);
            out.recovered_at = Some(clock.wall_at(at));
            out.recovery_seconds = Some(recovery.as_secs_f64());
            out.detection = Some(format!(
                "verify reported recovery (polled every {} ms, {polls} calls)",
                self.verify_interval.as_millis()
            ));
        }
        out.verdict = match failure {
            Some(verdict) => verdict,
            None => judge_phase(
                &phase.objectives,
                recovered.map(|at| at.duration_since(injected)),
                &out.availability,
                out.data_loss.as_ref(),
            ),
        };
        if !out.verdict.passed() {
            out.rollback = Some(self.rollback_owed(owed_rollbacks, &ctx.run_id).await);
        }
        out.finished_at = Some(clock.wall_at(finished));
        out
    }

    /// Starts a phase's canaries and waits their lead time. On failure the phase is
    /// marked as an error (nothing injected) and `None` returned.
    async fn start_canaries(
        &self,
        canary: &Canary,
        ctx: &PhaseContext,
        cancel: &CancellationToken,
        clock: Clock,
        out: &mut PhaseRecord,
    ) -> Option<CanaryRun> {
        let fail = |out: &mut PhaseRecord, message: String| {
            out.verdict = PhaseVerdict::Error { message };
            out.finished_at = Some(clock.wall_at(Instant::now()));
        };
        let run =
            match CanaryRun::start(self.canaries.clone(), canary, &ctx.run_id, &ctx.phase).await {
                Ok(run) => run,
                Err(message) => {
                    fail(out, format!("{message}; nothing was injected"));
                    return None;
                }
            };
        let stopped = tokio::select! {
            () = tokio::time::sleep(canary.lead) => false,
            () = cancel.cancelled() => true,
        };
        if stopped {
            run.discard().await;
            fail(out, "stopped before the fault; nothing was injected".into());
            return None;
        }
        let (acknowledged, last_error) = run.acknowledged();
        if acknowledged == 0 {
            run.discard().await;
            fail(
                out,
                format!(
                    "no canary write to {} was acknowledged in the {} ms before the fault{}; nothing was injected",
                    canary.connection,
                    canary.lead.as_millis(),
                    last_error
                        .map(|e| format!(" (last error: {e})"))
                        .unwrap_or_default()
                ),
            );
            return None;
        }
        Some(run)
    }

    /// Data loss a scenario measured itself (e.g. a restore's backup age), from the
    /// `data-loss.json` artefact it attached during this phase.
    async fn reported_data_loss(
        &self,
        run_id: &str,
        phase: &str,
        evidence_before: usize,
    ) -> Option<DataLoss> {
        let attached = self
            .host
            .evidence(run_id)
            .await
            .into_iter()
            .skip(evidence_before)
            .rfind(|a| a.phase.as_deref() == Some(phase) && a.name == DATA_LOSS_ARTEFACT)?;
        match serde_json::from_str::<ReportedLoss>(&attached.content) {
            Ok(reported) => Some(reported.into()),
            Err(err) => {
                tracing::warn!(run = run_id, phase, error = %err, "Ignoring a malformed {DATA_LOSS_ARTEFACT}");
                None
            }
        }
    }

    /// Rolls back the newest owed phase (the one that just failed).
    async fn rollback_owed(
        &self,
        owed: &mut Vec<(PhaseContext, Arc<dyn ports::Scenario>)>,
        run_id: &str,
    ) -> String {
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

/// The artefact a scenario attaches to report data loss it measured itself (the SDK's
/// `evidence::data_loss`).
pub const DATA_LOSS_ARTEFACT: &str = "data-loss.json";

/// The `data-loss.json` a scenario attaches: every field optional.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct ReportedLoss {
    writes: u64,
    acknowledged: u64,
    acknowledged_lost: u64,
    loss_window_seconds: Option<f64>,
    backup_age_seconds: Option<f64>,
    method: String,
}

impl From<ReportedLoss> for DataLoss {
    fn from(r: ReportedLoss) -> Self {
        DataLoss {
            canaries_written: r.writes,
            canaries_acknowledged: r.acknowledged,
            acknowledged_lost: r.acknowledged_lost,
            // A backup's age is the window a restore from it loses.
            loss_window_seconds: r
                .loss_window_seconds
                .or(r.backup_age_seconds)
                .unwrap_or(0.0),
            backup_age_seconds: r.backup_age_seconds,
            method: r.method,
        }
    }
}

fn skipped(phase: &Phase, at: DateTime<Utc>) -> PhaseRecord {
    PhaseRecord {
        name: phase.name.clone(),
        scenario: phase.scenario.clone(),
        started_at: at,
        injected_at: None,
        recovered_at: None,
        finished_at: Some(at),
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
    }
}

fn send(progress: &Option<tokio::sync::mpsc::UnboundedSender<Progress>>, event: Progress) {
    if let Some(progress) = progress {
        // A display that went away must not stop the drill.
        let _ = progress.send(event);
    }
}

/// Checks the abort alerts at their interval until `stop`; the first configured alert
/// seen firing records its reason and cancels the run. A monitoring system that cannot be
/// reached is logged, not treated as an alert: the availability probes still guard the run.
async fn alert_loop(
    source: Arc<dyn AlertSource>,
    names: Vec<String>,
    interval: Duration,
    shared: Arc<Mutex<Shared>>,
    cancel: CancellationToken,
    stop: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = stop.cancelled() => return,
        }
        match source.firing().await {
            Ok(firing) => {
                if let Some(alert) = firing.iter().find(|name| names.contains(name)) {
                    let mut state = shared.lock();
                    if state.abort_reason.is_none() {
                        state.abort_reason = Some(format!("alert {alert} is firing"));
                    }
                    drop(state);
                    cancel.cancel();
                    return;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "Could not read firing alerts; the drill goes on guarded by its probes");
            }
        }
    }
}

/// Every probe of every probed service in the configuration.
pub fn probe_targets(config: &Config) -> Vec<ProbeTarget> {
    config
        .services
        .values()
        .flat_map(|service| {
            service.probes.iter().map(|probe| ProbeTarget {
                service: service.name.clone(),
                probe: probe.clone(),
            })
        })
        .collect()
}

/// Probes every target at a fixed cadence until `stop`; a breach of the abort window
/// records its reason and cancels the run.
#[allow(clippy::too_many_arguments)]
async fn probe_loop(
    prober: Arc<dyn Prober>,
    targets: Vec<ProbeTarget>,
    interval: Duration,
    timeout: Duration,
    mut window: AbortWindow,
    shared: Arc<Mutex<Shared>>,
    cancel: CancellationToken,
    stop: CancellationToken,
) {
    if targets.is_empty() {
        return;
    }
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = stop.cancelled() => return,
        }
        let phase = shared.lock().phase.clone();
        let results = futures::future::join_all(targets.iter().map(|target| {
            let prober = prober.clone();
            async move { (target, prober.probe(target, timeout).await) }
        }))
        .await;
        let mut state = shared.lock();
        for (target, outcome) in results {
            state.tracker.record(
                &target.service,
                phase.as_deref(),
                outcome.ok,
                outcome.latency,
                outcome.failure.as_deref(),
            );
            if let Some(breach) = window.record(&target.service, outcome.ok)
                && state.abort_reason.is_none()
            {
                state.abort_reason = Some(breach.describe());
                cancel.cancel();
            }
        }
    }
}

#[cfg(test)]
mod tests;
