//! One phase of a run (`PhaseRun`): plan within the blast radius, canaries, journal, inject, verify on a fixed grid until recovery or the deadline, data loss, verdict.

use std::sync::Arc;

use firedrill_core::config::{BlastRadius, Canary, Phase};
use firedrill_core::measure::{BlastCount, judge_phase};
use firedrill_core::run::{DataLoss, PhaseRecord, PhaseVerdict, TimelineEvent};
use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::canary::CanaryRun;
use super::ports::{JournalEntry, PhaseContext, Recovery, Scenario};
use super::{Clock, Engine, Progress, ProgressSender, Shared, send};

/// What every phase of one run shares.
pub(super) struct RunContext<'a> {
    pub engine: &'a Engine,
    pub clock: Clock,
    pub cancel: &'a CancellationToken,
    pub shared: &'a Arc<Mutex<Shared>>,
    pub progress: &'a ProgressSender,
    pub blast_radius: &'a BlastRadius,
}

/// Faults injected and not rolled back yet, oldest first.
pub(super) type Owed = Vec<(PhaseContext, Arc<dyn Scenario>)>;

/// One phase being run: its configuration, its context and its record so far.
pub(super) struct PhaseRun<'a> {
    run: &'a RunContext<'a>,
    phase: &'a Phase,
    ctx: &'a PhaseContext,
    out: PhaseRecord,
}

/// How the wait for recovery ended.
struct Waited {
    recovered: Option<Instant>,
    failure: Option<PhaseVerdict>,
    polls: u64,
}

impl<'a> PhaseRun<'a> {
    pub(super) fn new(run: &'a RunContext<'a>, phase: &'a Phase, ctx: &'a PhaseContext) -> Self {
        let out = PhaseRecord::planned(phase, run.clock.wall_at(Instant::now()));
        Self {
            run,
            phase,
            ctx,
            out,
        }
    }

    /// Runs the phase to its verdict. A phase that fails after its fault is rolled back
    /// at once (taken off `owed`); one that passes stays owed until the end of the drill.
    pub(super) async fn run(
        mut self,
        owed: &mut Owed,
        timeline: &mut Vec<TimelineEvent>,
    ) -> PhaseRecord {
        let Some(scenario) = self.load_and_plan().await else {
            return self.out;
        };
        // Canaries start before the fault; a phase whose canaries are not acknowledged
        // before it would measure nothing, so it injects nothing.
        let canaries = match &self.phase.canary {
            Some(canary) => match self.start_canaries(canary).await {
                Some(run) => Some(run),
                None => return self.out,
            },
            None => None,
        };
        let engine = self.run.engine;
        let evidence_before = engine.host.evidence(&self.ctx.run_id).await.len();
        if let Err(message) = self.journal_injecting().await {
            if let Some(run) = canaries {
                run.discard().await;
            }
            return self.ended(PhaseVerdict::Error { message });
        }
        // From here a rollback is owed, even if inject fails half-way.
        owed.push((self.ctx.clone(), scenario.clone()));
        let fault_at = Instant::now();
        if let Err(err) = scenario.inject(self.ctx).await {
            // A fault may have half-happened: what the canaries saw still counts.
            if let Some(run) = canaries {
                match run.finish(fault_at, false).await {
                    Ok(loss) => self.out.data_loss = Some(loss),
                    Err(message) => self.warn(&message),
                }
            }
            self.out.rollback = Some(engine.rollback_owed(owed, &self.ctx.run_id).await);
            return self.ended(PhaseVerdict::Error {
                message: format!("inject failed: {err}"),
            });
        }
        let injected = Instant::now();
        self.out.injected_at = Some(self.run.clock.wall_at(injected));
        timeline.push(self.event(
            injected,
            format!("Fault injected by {}", self.phase.scenario),
        ));
        let mut waited = self.await_recovery(scenario.as_ref(), injected).await;
        if let Some(run) = canaries {
            self.read_canaries(run, fault_at, &mut waited, timeline)
                .await;
        }
        self.merge_reported_loss(evidence_before).await;
        self.judge(waited, injected, owed).await
    }

    /// Loads the scenario and checks its plan against the blast radius: `None` (the
    /// phase's verdict set) when it cannot run.
    async fn load_and_plan(&mut self) -> Option<Arc<dyn Scenario>> {
        let scenario = match self.run.engine.host.load(&self.phase.scenario).await {
            Ok(scenario) => scenario,
            Err(err) => {
                self.end(PhaseVerdict::Error {
                    message: format!("cannot load scenario {}: {err}", self.phase.scenario),
                });
                return None;
            }
        };
        let actions = match scenario.plan(self.ctx).await {
            Ok(actions) => actions,
            Err(err) => {
                self.end(PhaseVerdict::Error {
                    message: format!("plan failed: {err}"),
                });
                return None;
            }
        };
        self.out.actions = actions.iter().map(|a| a.describe()).collect();
        // Safe by default: a phase that would disrupt more than the drill allows is
        // refused before anything is touched.
        let over =
            BlastCount::of(actions.iter().map(|a| a.kind.as_str())).exceeds(self.run.blast_radius);
        if !over.is_empty() {
            self.end(PhaseVerdict::Error {
                message: format!(
                    "refused: the plan exceeds the blast radius ({}); nothing was injected",
                    over.join("; ")
                ),
            });
            return None;
        }
        Some(scenario)
    }

    /// Journals that the fault is about to be injected (before it is).
    async fn journal_injecting(&self) -> Result<(), String> {
        let entry = JournalEntry::Injecting {
            phase: self.phase.name.clone(),
            context: self.ctx.clone(),
            at: self.run.clock.wall_at(Instant::now()),
        };
        self.run
            .engine
            .journal
            .append(&self.ctx.run_id, &entry)
            .await
            .map_err(|err| format!("cannot write the run journal, so no fault was injected: {err}"))
    }

    /// Calls `verify` on a fixed grid from the end of inject until it reports recovery
    /// or failure, the deadline passes, or the run is cancelled.
    async fn await_recovery(&self, scenario: &dyn Scenario, injected: Instant) -> Waited {
        let engine = self.run.engine;
        let cancel = self.run.cancel;
        let deadline = injected + self.phase.deadline;
        let mut waited = Waited {
            recovered: None,
            failure: None,
            polls: 0,
        };
        // Calls start on a fixed grid from the end of inject, whatever a call costs: the
        // delay between recovery and the call that sees it stays under one interval (a
        // call that overruns its slot is followed at once by the next one).
        let mut ticks = tokio::time::interval_at(injected, engine.verify_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = cancel.cancelled() => {}
            }
            if cancel.is_cancelled() {
                let reason = self.run.shared.lock().abort_reason.clone();
                let reason = reason.unwrap_or_else(|| "stopped by an operator".into());
                waited.failure = Some(PhaseVerdict::Aborted { reason });
                return waited;
            }
            let asked = Instant::now();
            if asked >= deadline {
                return waited;
            }
            waited.polls += 1;
            let verdict = tokio::select! {
                verdict = scenario.verify(self.ctx) => verdict,
                () = tokio::time::sleep_until(deadline) => return waited,
                () = cancel.cancelled() => continue,
            };
            match verdict {
                // Dated when the verdict is known: a call that reads many services may
                // see the last of them recover near its end, so its start could come
                // before the recovery it reports.
                Ok(Recovery::Recovered) => waited.recovered = Some(Instant::now()),
                Ok(Recovery::Recovering(reason)) => {
                    let elapsed = asked.duration_since(injected);
                    let phase = self.phase.name.clone();
                    let event = Progress::Recovering {
                        phase,
                        elapsed,
                        reason,
                    };
                    send(self.run.progress, event);
                    continue;
                }
                Ok(Recovery::Failed(reason)) => {
                    waited.failure = Some(PhaseVerdict::Failed {
                        reasons: vec![format!("the scenario reports recovery failed: {reason}")],
                    });
                }
                Err(err) => {
                    waited.failure = Some(PhaseVerdict::Error {
                        message: format!("verify failed: {err}"),
                    });
                }
            }
            return waited;
        }
    }

    /// Stops the canaries and reads them back: their data loss, or (after a recovery
    /// that otherwise passed) a failure when they cannot be read.
    async fn read_canaries(
        &mut self,
        run: CanaryRun,
        fault_at: Instant,
        waited: &mut Waited,
        timeline: &mut Vec<TimelineEvent>,
    ) {
        match run.finish(fault_at, waited.recovered.is_some()).await {
            Ok(loss) => {
                timeline.push(self.event(
                    Instant::now(),
                    format!(
                        "Canaries read back: {} written, {} acknowledged, {} acknowledged and lost",
                        loss.canaries_written, loss.canaries_acknowledged, loss.acknowledged_lost
                    ),
                ));
                self.out.data_loss = Some(loss);
            }
            Err(message) if waited.recovered.is_some() && waited.failure.is_none() => {
                waited.failure = Some(PhaseVerdict::Failed {
                    reasons: vec![message],
                });
            }
            Err(message) => self.warn(&message),
        }
    }

    /// Adds what the scenario reported itself (`data-loss.json`) to what was measured.
    async fn merge_reported_loss(&mut self, evidence_before: usize) {
        let Some(reported) = self.reported_data_loss(evidence_before).await else {
            return;
        };
        self.out.data_loss = Some(match self.out.data_loss.take() {
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

    /// The verdict from what was measured; a phase that did not pass is rolled back now.
    async fn judge(mut self, waited: Waited, injected: Instant, owed: &mut Owed) -> PhaseRecord {
        let finished = Instant::now();
        let engine = self.run.engine;
        self.out.availability = self
            .run
            .shared
            .lock()
            .tracker
            .phase_summary(&self.phase.name);
        if let Some(at) = waited.recovered {
            self.out.recovered_at = Some(self.run.clock.wall_at(at));
            self.out.recovery_seconds = Some(at.duration_since(injected).as_secs_f64());
            self.out.detection = Some(format!(
                "verify reported recovery (polled every {} ms, {} calls)",
                engine.verify_interval.as_millis(),
                waited.polls
            ));
        }
        self.out.verdict = waited.failure.unwrap_or_else(|| {
            judge_phase(
                &self.phase.objectives,
                waited.recovered.map(|at| at.duration_since(injected)),
                &self.out.availability,
                self.out.data_loss.as_ref(),
            )
        });
        if !self.out.verdict.passed() {
            self.out.rollback = Some(engine.rollback_owed(owed, &self.ctx.run_id).await);
        }
        self.out.finished_at = Some(self.run.clock.wall_at(finished));
        self.out
    }

    /// Starts the phase's canaries and waits their lead time. On failure the phase is
    /// marked as an error (nothing injected) and `None` returned.
    async fn start_canaries(&mut self, canary: &Canary) -> Option<CanaryRun> {
        let store = self.run.engine.canaries.clone();
        let run = match CanaryRun::start(store, canary, &self.ctx.run_id, &self.ctx.phase).await {
            Ok(run) => run,
            Err(message) => {
                self.end(PhaseVerdict::Error {
                    message: format!("{message}; nothing was injected"),
                });
                return None;
            }
        };
        let stopped = tokio::select! {
            () = tokio::time::sleep(canary.lead) => false,
            () = self.run.cancel.cancelled() => true,
        };
        if stopped {
            run.discard().await;
            self.end(PhaseVerdict::Error {
                message: "stopped before the fault; nothing was injected".into(),
            });
            return None;
        }
        let (acknowledged, last_error) = run.acknowledged();
        if acknowledged == 0 {
            run.discard().await;
            self.end(PhaseVerdict::Error {
                message: format!(
                    "no canary write to {} was acknowledged in the {} ms before the fault{}; nothing was injected",
                    canary.connection,
                    canary.lead.as_millis(),
                    last_error
                        .map(|e| format!(" (last error: {e})"))
                        .unwrap_or_default()
                ),
            });
            return None;
        }
        Some(run)
    }

    /// Data loss a scenario measured itself (e.g. a restore's backup age), from the
    /// `data-loss.json` artefact it attached during this phase.
    async fn reported_data_loss(&self, evidence_before: usize) -> Option<DataLoss> {
        let phase = self.phase.name.as_str();
        let attached = self
            .run
            .engine
            .host
            .evidence(&self.ctx.run_id)
            .await
            .into_iter()
            .skip(evidence_before)
            .rfind(|a| a.phase.as_deref() == Some(phase) && a.name == DATA_LOSS_ARTEFACT)?;
        match serde_json::from_str::<ReportedLoss>(&attached.content) {
            Ok(reported) => Some(reported.into()),
            Err(err) => {
                let run = &self.ctx.run_id;
                tracing::warn!(%run, phase, error = %err, "Ignoring a malformed {DATA_LOSS_ARTEFACT}");
                None
            }
        }
    }

    /// Sets the verdict and the end of a phase that stops here.
    fn end(&mut self, verdict: PhaseVerdict) {
        self.out.verdict = verdict;
        self.out.finished_at = Some(self.run.clock.wall_at(Instant::now()));
    }

    /// [`PhaseRun::end`], returning the record.
    fn ended(mut self, verdict: PhaseVerdict) -> PhaseRecord {
        self.end(verdict);
        self.out
    }

    fn event(&self, at: Instant, message: String) -> TimelineEvent {
        TimelineEvent {
            at: self.run.clock.wall_at(at),
            phase: Some(self.phase.name.clone()),
            message,
        }
    }

    fn warn(&self, message: &str) {
        tracing::warn!(run = %self.ctx.run_id, phase = %self.phase.name, "{message}");
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
