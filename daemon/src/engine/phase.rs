//! One phase of a run (`PhaseRun`): plan within the blast radius, the phase's cluster watch, canaries, journal, inject (the clock from its first effect), verify on watched changes (or a fixed grid) until recovery or the deadline, data loss, checklist, verdict.

use std::sync::Arc;

use firedrill_core::config::{BlastRadius, Canary, Config, Phase};
use firedrill_core::measure::{
    ActionKind, BlastCount, Disruption, Readiness, checklist, judge_phase,
};
use firedrill_core::report::{ANNOUNCEMENT_EVIDENCE, announced};
use firedrill_core::run::{
    ClockStart, ClockStop, DataLoss, PhaseRecord, PhaseVerdict, PodRecovery, RecoveryClock,
    TimelineEvent,
};
use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::canary::CanaryRun;
use super::ports::{
    Attached, Change, Findings, Injected, JournalEntry, PhaseContext, PhaseWatch, Recovery,
    Scenario, Verified, WatchScope, WatchSeen,
};
use super::{Clock, Engine, Progress, ProgressSender, Shared, send};

/// What every phase of one run shares.
pub(super) struct RunContext<'a> {
    pub engine: &'a Engine,
    /// The configuration the run uses (its checks).
    pub config: &'a Config,
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
    /// The engine of the phase's target (the run's own, or another cluster's).
    engine: &'a Engine,
    phase: &'a Phase,
    ctx: &'a PhaseContext,
    out: PhaseRecord,
}

/// How the wait for recovery ended.
struct Waited {
    recovered: Option<Instant>,
    /// The watched change that dated the recovery (`None`: the verify call's end did).
    event: Option<String>,
    failure: Option<PhaseVerdict>,
    polls: u64,
    /// Verify ran on the fixed grid: no watch, or it reads what the watch cannot see.
    grid: bool,
    /// The phase had a cluster watch.
    watched: bool,
}

/// When the fault was in place: the clock's start and what inject did.
struct Fault {
    /// The recovery clock's start: the first disruptive call, else inject's return.
    since: Instant,
    /// When inject returned.
    injected: Instant,
    /// When inject was called.
    called: Instant,
    report: Injected,
}

impl<'a> PhaseRun<'a> {
    pub(super) fn new(
        run: &'a RunContext<'a>,
        engine: &'a Engine,
        phase: &'a Phase,
        ctx: &'a PhaseContext,
    ) -> Self {
        let out = PhaseRecord::planned(phase, run.clock.wall_at(Instant::now()));
        Self {
            run,
            engine,
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
        let Some((scenario, nodes)) = self.load_and_plan().await else {
            return self.out;
        };
        // The watch syncs before the fault, so every change it causes is seen.
        let watch = self.start_watch(nodes).await;
        // Canaries start before the fault; a phase whose canaries are not acknowledged
        // before it would measure nothing, so it injects nothing.
        let canaries = match &self.phase.canary {
            Some(canary) => match self.start_canaries(canary).await {
                Some(run) => Some(run),
                None => return self.out,
            },
            None => None,
        };
        let engine = self.engine;
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
        let report = match scenario.inject(self.ctx).await {
            Ok(report) => report,
            Err(err) => {
                // A fault may have half-happened: what the canaries saw still counts.
                if let Some(run) = canaries {
                    let from = self.run.clock.wall_at(run.started());
                    match run.finish(fault_at, false, from).await {
                        Ok((loss, series)) => {
                            self.out.data_loss = Some(loss);
                            self.out.canary_series = Some(series);
                        }
                        Err(message) => self.warn(&message),
                    }
                }
                if let Some(watch) = &watch {
                    watch.finish().await;
                }
                self.out.rollback = Some(engine.rollback_owed(owed, &self.ctx.run_id).await);
                return self.ended(PhaseVerdict::Error {
                    message: format!("inject failed: {err}"),
                });
            }
        };
        let injected = Instant::now();
        let fault = Fault {
            // Never before the call that made it (a host's clock could disagree).
            since: report
                .first_effect
                .as_ref()
                .map_or(injected, |e| e.at.clamp(fault_at, injected)),
            injected,
            called: fault_at,
            report,
        };
        self.out.injected_at = Some(self.run.clock.wall_at(injected));
        if let Some(first) = &fault.report.first_effect {
            timeline.push(self.event(
                fault.since,
                format!("Fault's first effect: {}", first.action),
            ));
        }
        timeline.push(self.event(
            injected,
            format!("Fault injected by {}", self.phase.scenario),
        ));
        let mut waited = self
            .await_recovery(scenario.as_ref(), &fault, watch.as_deref())
            .await;
        let seen = match &watch {
            Some(watch) => Some(watch.finish().await),
            None => None,
        };
        if let Some(run) = canaries {
            self.read_canaries(run, fault_at, &mut waited, timeline)
                .await;
        }
        self.merge_reported_loss(evidence_before).await;
        self.merge_findings(scenario.as_ref()).await;
        self.announce(evidence_before, timeline).await;
        self.judge(waited, &fault, seen, owed).await
    }

    /// Starts the phase's cluster watch (its services' pods; nodes when the plan cordons
    /// or drains). Without one (no cluster, or it cannot be watched) verify runs on the
    /// fixed grid.
    async fn start_watch(&self, nodes: bool) -> Option<Arc<dyn PhaseWatch>> {
        let watches = self.engine.watches.as_ref()?;
        if self.ctx.services.is_empty() && !nodes {
            return None;
        }
        let scope = WatchScope {
            services: self.ctx.services.clone(),
            nodes,
        };
        match watches.watch(&scope).await {
            Ok(watch) => Some(watch),
            Err(err) => {
                self.warn(&format!(
                    "no cluster watch for this phase, verify runs every {} ms: {err}",
                    self.engine.verify_interval.as_millis()
                ));
                None
            }
        }
    }

    /// Adds what the scenario reported in `findings` (WIT 0.2) to the record.
    async fn merge_findings(&mut self, scenario: &dyn Scenario) {
        match scenario.findings(self.ctx).await {
            Ok(Some(Findings {
                data_loss,
                follow_ups,
            })) => {
                if let Some(reported) = data_loss {
                    self.merge_loss(reported);
                }
                self.out.follow_ups = follow_ups;
            }
            Ok(None) => {}
            Err(err) => self.warn(&format!("findings failed: {err}")),
        }
    }

    /// Loads the scenario and checks its plan against the blast radius: `None` (the
    /// phase's verdict set) when it cannot run.
    /// Also says whether the plan touches nodes (then the phase's watch covers them).
    async fn load_and_plan(&mut self) -> Option<(Arc<dyn Scenario>, bool)> {
        let scenario = match self.engine.host.load(&self.phase.scenario).await {
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
        let nodes = actions
            .iter()
            .any(|a| ActionKind::parse(&a.kind).disruption() == Disruption::Node);
        Some((scenario, nodes))
    }

    /// Journals that the fault is about to be injected (before it is).
    async fn journal_injecting(&self) -> Result<(), String> {
        let entry = JournalEntry::Injecting {
            phase: self.phase.name.clone(),
            context: self.ctx.clone(),
            at: self.run.clock.wall_at(Instant::now()),
            target: Some(self.engine.binding.target.clone()),
            cluster: Some(self.engine.binding.identity.clone()),
        };
        self.run
            .engine
            .journal
            .append(&self.ctx.run_id, &entry)
            .await
            .map_err(|err| format!("cannot write the run journal, so no fault was injected: {err}"))
    }

    /// Calls `verify` until it reports recovery or failure, the deadline passes, or the
    /// run is cancelled: with a watch, whenever a watched object changes (a burst during
    /// a call makes one more call) and on a slow fallback timer; without one, on a fixed
    /// grid from the end of inject.
    async fn await_recovery(
        &self,
        scenario: &dyn Scenario,
        fault: &Fault,
        watch: Option<&dyn PhaseWatch>,
    ) -> Waited {
        let engine = self.engine;
        let cancel = self.run.cancel;
        let deadline = fault.injected + self.phase.deadline;
        let mut waited = Waited {
            recovered: None,
            event: None,
            failure: None,
            polls: 0,
            grid: watch.is_none(),
            watched: watch.is_some(),
        };
        let mut changes = watch.map(|w| w.changes());
        let period = match watch {
            Some(_) => engine.verify_fallback,
            None => engine.verify_interval,
        };
        // Without a watch, calls start on a fixed grid from the end of inject, whatever a
        // call costs: the delay between recovery and the call that sees it stays under one
        // interval. With one, the timer is only the fallback.
        let mut ticks = tokio::time::interval_at(fault.injected, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // The system was not recovered at this instant: the fault's start, then the start
        // of each call that answered `recovering`.
        let mut not_yet = fault.since;
        loop {
            let changed = tokio::select! {
                _ = ticks.tick() => false,
                changed = next_change(&mut changes) => changed,
                () = cancel.cancelled() => false,
            };
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
            let trigger = match changes.as_mut() {
                Some(rx) => rx.borrow_and_update().clone().filter(|_| changed),
                None => None,
            };
            let direct_before = watch.map(|w| w.direct_reads());
            waited.polls += 1;
            let verdict = tokio::select! {
                verdict = scenario.verify(self.ctx, trigger.as_ref()) => verdict,
                () = tokio::time::sleep_until(deadline) => return waited,
                () = cancel.cancelled() => continue,
            };
            if let Ok(verified) = &verdict
                && watch.is_some()
            {
                // A scenario that reads outside the watch (a database, HTTP) keeps the
                // fixed cadence, as without a watch; one that reads only the cluster
                // waits for the next change, or the fallback.
                waited.grid |= verified.outside_cluster;
                let period = if waited.grid {
                    engine.verify_interval
                } else {
                    engine.verify_fallback
                };
                ticks = tokio::time::interval_at(asked + period, period);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            }
            match verdict {
                Ok(Verified {
                    recovery: Recovery::Recovered,
                    outside_cluster,
                }) => {
                    let answered = Instant::now();
                    let from_cache =
                        !outside_cluster && watch.map(|w| w.direct_reads()) == direct_before;
                    let latest = changes.as_ref().and_then(|rx| rx.borrow().clone());
                    match latest {
                        // Read from the cache, the call saw the state after the latest
                        // change it could have seen; the previous call did not see the
                        // system recovered, so that change (or an earlier one after it)
                        // made the condition true: dated by its event, never before it.
                        Some(change) if from_cache && change.at > not_yet => {
                            waited.recovered = Some(change.at.min(answered));
                            waited.event = Some(change.describe());
                        }
                        // Dated when the verdict is known: a call that reads many services
                        // may see the last of them recover near its end.
                        _ => waited.recovered = Some(answered),
                    }
                }
                Ok(Verified {
                    recovery: Recovery::Recovering(reason),
                    ..
                }) => {
                    not_yet = asked;
                    let elapsed = asked.duration_since(fault.since);
                    let phase = self.phase.name.clone();
                    let event = Progress::Recovering {
                        phase,
                        elapsed,
                        reason,
                    };
                    send(self.run.progress, event);
                    continue;
                }
                Ok(Verified {
                    recovery: Recovery::Failed(reason),
                    ..
                }) => {
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
        let from = self.run.clock.wall_at(run.started());
        match run.finish(fault_at, waited.recovered.is_some(), from).await {
            Ok((loss, series)) => {
                self.out.canary_series = Some(series);
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
        if let Some(reported) = self.reported_data_loss(evidence_before).await {
            self.merge_loss(reported);
        }
    }

    /// Adds data loss a scenario measured itself to what the canaries measured.
    fn merge_loss(&mut self, reported: DataLoss) {
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
    async fn judge(
        mut self,
        waited: Waited,
        fault: &Fault,
        seen: Option<WatchSeen>,
        owed: &mut Owed,
    ) -> PhaseRecord {
        let finished = Instant::now();
        let engine = self.engine;
        self.out.availability = self
            .run
            .shared
            .lock()
            .tracker
            .phase_summary(&self.phase.name);
        self.out.clock = Some(self.clock(&waited, fault));
        if let Some(at) = waited.recovered {
            self.out.recovered_at = Some(self.run.clock.wall_at(at));
            self.out.recovery_seconds = Some(at.duration_since(fault.since).as_secs_f64());
            self.out.detection = Some(match &waited.event {
                Some(event) => format!(
                    "watch event: {event} (verify called {} times: on watched changes, and every {} s without one)",
                    waited.polls,
                    engine.verify_fallback.as_secs_f64()
                ),
                None if waited.grid && waited.watched => format!(
                    "verify reported recovery (it reads outside the cluster watch, so it was called every {} ms as well as on watched changes; {} calls)",
                    engine.verify_interval.as_millis(),
                    waited.polls
                ),
                None if waited.grid => format!(
                    "verify reported recovery (polled every {} ms, {} calls)",
                    engine.verify_interval.as_millis(),
                    waited.polls
                ),
                None => format!(
                    "verify reported recovery with no watched change before it (called on watched changes and every {} s, {} calls)",
                    engine.verify_fallback.as_secs_f64(),
                    waited.polls
                ),
            });
        }
        if let Some(seen) = &seen {
            self.out.pods = seen.pods.iter().map(|p| self.pod_record(p)).collect();
            let readiness: Vec<Readiness<'_>> = seen
                .services
                .iter()
                .filter_map(|s| {
                    let service = self.ctx.services.iter().find(|r| r.name == s.service)?;
                    Some(Readiness {
                        service: &s.service,
                        min_ready: service.min_ready,
                        ready_at_start: s.ready_at_start,
                        fewest_ready: s.min_ready,
                        budget: s.budget.as_ref().map(|(name, n)| (name.as_str(), *n)),
                    })
                })
                .collect();
            self.out.checklist =
                checklist(&self.phase.objectives, &readiness, &self.out.availability);
        } else {
            self.out.checklist = checklist(&self.phase.objectives, &[], &self.out.availability);
        }
        self.out.verdict = waited.failure.unwrap_or_else(|| {
            judge_phase(
                &self.phase.objectives,
                waited.recovered.map(|at| at.duration_since(fault.since)),
                &self.out.availability,
                self.out.data_loss.as_ref(),
                &self.out.checklist,
            )
        });
        if !self.out.verdict.passed() {
            self.out.rollback = Some(engine.rollback_owed(owed, &self.ctx.run_id).await);
        }
        self.out.finished_at = Some(self.run.clock.wall_at(finished));
        self.out
    }

    /// Where the phase's clock started and what stopped it.
    fn clock(&self, waited: &Waited, fault: &Fault) -> RecoveryClock {
        let report = &fault.report;
        let (started_by, inject) = match (&report.first_effect, &report.last_effect) {
            (Some(first), Some(last)) => (
                ClockStart::FirstAction,
                last.at.saturating_duration_since(first.at),
            ),
            (Some(first), None) => (
                ClockStart::FirstAction,
                fault.injected.saturating_duration_since(first.at),
            ),
            _ => (
                ClockStart::InjectReturned,
                fault.injected.saturating_duration_since(fault.called),
            ),
        };
        RecoveryClock {
            started_by,
            started_at: self.run.clock.wall_at(fault.since),
            first_action: report.first_effect.as_ref().map(|e| e.action.clone()),
            last_action: report.last_effect.as_ref().map(|e| e.action.clone()),
            inject_seconds: inject.as_secs_f64(),
            held_back_seconds: report.held_back.as_secs_f64(),
            stopped_by: match waited.event {
                Some(_) => ClockStop::WatchEvent,
                None => ClockStop::VerifyCall,
            },
            event: waited.event.clone(),
            verify_calls: waited.polls,
        }
    }

    /// One pod's replacement as the record keeps it (wall-clock times).
    fn pod_record(&self, seen: &super::ports::PodSeen) -> PodRecovery {
        let wall = |at: Option<Instant>| at.map(|at| self.run.clock.wall_at(at));
        PodRecovery {
            pod: seen.lost.clone(),
            lost_at: self.run.clock.wall_at(seen.lost_at),
            replacement: seen.replacement.clone(),
            created_at: wall(seen.created),
            scheduled_at: wall(seen.scheduled),
            node: seen.node.clone(),
            zone: seen.zone.clone(),
            started_at: wall(seen.started),
            ready_at: wall(seen.ready),
        }
    }

    /// Starts the phase's canaries and waits their lead time. On failure the phase is
    /// marked as an error (nothing injected) and `None` returned.
    async fn start_canaries(&mut self, canary: &Canary) -> Option<CanaryRun> {
        let store = self.engine.canaries.clone();
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

    /// The artefacts named `name` this phase's calls attached since the host held
    /// `evidence_before` of the run's, oldest first.
    async fn attached_since(&self, evidence_before: usize, name: &str) -> Vec<Attached> {
        let phase = self.phase.name.as_str();
        self.engine
            .host
            .evidence(&self.ctx.run_id)
            .await
            .into_iter()
            .skip(evidence_before)
            .filter(|a| a.phase.as_deref() == Some(phase) && a.name == name)
            .collect()
    }

    /// Data loss a scenario measured itself (e.g. a restore's backup age), from the
    /// `data-loss.json` artefact it attached during this phase.
    async fn reported_data_loss(&self, evidence_before: usize) -> Option<DataLoss> {
        let attached = self
            .attached_since(evidence_before, DATA_LOSS_ARTEFACT)
            .await
            .pop()?;
        match serde_json::from_str::<ReportedLoss>(&attached.content) {
            Ok(reported) => Some(reported.into()),
            Err(err) => {
                let (run, phase) = (&self.ctx.run_id, &self.phase.name);
                tracing::warn!(%run, %phase, error = %err, "Ignoring a malformed {DATA_LOSS_ARTEFACT}");
                None
            }
        }
    }

    /// Puts what the scenario announced (the first line of each `announcement.txt` it
    /// attached in this phase) into the run's timeline, dated when it was attached.
    async fn announce(&self, evidence_before: usize, timeline: &mut Vec<TimelineEvent>) {
        for attached in self
            .attached_since(evidence_before, ANNOUNCEMENT_EVIDENCE)
            .await
        {
            if let Some(text) = announced(&attached.content) {
                timeline.push(TimelineEvent {
                    at: attached.captured_at,
                    phase: Some(self.phase.name.clone()),
                    message: format!("Announced: {text}"),
                });
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

/// Waits for the next watched change: `true` when one came; never resolves without a
/// watch (or once the watch has stopped), leaving the timer to wake the loop.
async fn next_change(changes: &mut Option<tokio::sync::watch::Receiver<Option<Change>>>) -> bool {
    match changes {
        Some(rx) => match rx.changed().await {
            Ok(()) => true,
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}
