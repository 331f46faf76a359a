//! Runs a killed process left unfinished: reading them from the journal, and rolling one back with this engine's cluster.
//!
//! Which engine (which cluster) may roll a run back is decided above the engine
//! (`app::recovery`): a run is rolled back only on the cluster it ran on, and the engine
//! refuses one recorded on another cluster (see [`Engine::recover`]).

use chrono::{DateTime, Utc};
use firedrill_core::config::Drill;
use firedrill_core::run::{Outcome, RunRecord, TimelineEvent, Trigger};

use super::Engine;
use super::ports::{ClusterIdentity, Journal, JournalEntry, PhaseContext, ScenarioError};

/// A run with a `RunStarted` and no `RunFinished` in the journal.
#[derive(Debug, Clone, PartialEq)]
pub struct InterruptedRun {
    pub id: String,
    pub drill: String,
    pub started_at: DateTime<Utc>,
    /// The target the run used; `None` in journals written before runs were bound.
    pub target: Option<String>,
    /// The cluster that target reached then.
    pub cluster: Option<ClusterIdentity>,
    /// Phases that injected a fault and were not rolled back, in the order injected.
    pub owed: Vec<OwedPhase>,
}

/// A phase owing its rollback, and where it injected its fault.
#[derive(Debug, Clone, PartialEq)]
pub struct OwedPhase {
    pub context: PhaseContext,
    /// The target the phase acted on; `None` (journals written before drills could span
    /// targets): the run's.
    pub target: Option<String>,
    /// The cluster that target reached then.
    pub cluster: Option<ClusterIdentity>,
}

impl InterruptedRun {
    /// Reads one run's journal entries (in order).
    pub fn from_entries(id: String, entries: &[JournalEntry]) -> Self {
        let mut run = Self {
            id,
            drill: String::new(),
            started_at: Utc::now(),
            target: None,
            cluster: None,
            owed: Vec::new(),
        };
        for entry in entries {
            match entry {
                JournalEntry::RunStarted {
                    drill,
                    at,
                    target,
                    cluster,
                } => {
                    run.drill = drill.clone();
                    run.started_at = *at;
                    run.target = target.clone();
                    run.cluster = cluster.clone();
                }
                JournalEntry::Injecting {
                    context,
                    target,
                    cluster,
                    ..
                } => run.owed.push(OwedPhase {
                    context: context.clone(),
                    target: target.clone(),
                    cluster: cluster.clone(),
                }),
                JournalEntry::RolledBack { phase, .. } => {
                    if let Some(index) = run
                        .owed
                        .iter()
                        .rposition(|owed| &owed.context.phase == phase)
                    {
                        run.owed.remove(index);
                    }
                }
                JournalEntry::RunFinished { .. }
                | JournalEntry::Recorded { .. }
                | JournalEntry::State { .. } => {}
            }
        }
        run
    }

    /// The phases still owing a rollback, by name.
    pub fn owed_phases(&self) -> Vec<&str> {
        self.owed
            .iter()
            .map(|owed| owed.context.phase.as_str())
            .collect()
    }

    /// The targets of its owed phases other than the run's own, each once.
    pub fn other_targets(&self) -> Vec<&str> {
        let mut others: Vec<&str> = Vec::new();
        for target in self.owed.iter().filter_map(|owed| owed.target.as_deref()) {
            if Some(target) != self.target.as_deref() && !others.contains(&target) {
                others.push(target);
            }
        }
        others
    }
}

impl Engine {
    /// Every run left unfinished in the journal, on any cluster.
    pub async fn interrupted(&self) -> Result<Vec<InterruptedRun>, ScenarioError> {
        Ok(self
            .journal
            .unfinished()
            .await?
            .into_iter()
            .map(|(id, entries)| InterruptedRun::from_entries(id, &entries))
            .collect())
    }

    /// Rolls back every phase of `run` still owing it (newest first) on this engine's
    /// cluster, removes the canaries of every phase of `drill` that writes them (a kill
    /// can come after the first write, before anything was journaled as injected), marks
    /// the run finished in the journal and returns its record as `interrupted`. Refuses a
    /// run recorded on another cluster: rolling back there would touch the wrong cluster
    /// and leave the real one as the fault left it.
    pub async fn recover(
        &self,
        run: &InterruptedRun,
        drill: Option<&Drill>,
    ) -> Result<RunRecord, ScenarioError> {
        if let Some(cluster) = &run.cluster
            && !cluster.same_cluster(&self.binding.identity)
        {
            return Err(ScenarioError(format!(
                "run {} ran on {cluster}, not on {}",
                run.id, self.binding.identity
            )));
        }
        // Every owed phase's cluster is checked before anything is rolled back anywhere.
        let mut plan = Vec::new();
        for owed in &run.owed {
            let target = owed.target.as_deref().unwrap_or(&self.binding.target);
            let engine = self.on(Some(target)).ok_or_else(|| {
                ScenarioError(format!(
                    "phase {} of run {} acted on target `{target}`, which is not open",
                    owed.context.phase, run.id
                ))
            })?;
            let then = owed.cluster.as_ref().or(run.cluster.as_ref());
            let gone = match then {
                Some(then) if !then.same_cluster(&engine.binding.identity) => {
                    if !then.embedded {
                        return Err(ScenarioError(format!(
                            "phase {} of run {} ran on {then}, but target `{target}` now reaches {}",
                            owed.context.phase, run.id, engine.binding.identity
                        )));
                    }
                    // An embedded sandbox ended with the process that ran the phase.
                    true
                }
                _ => false,
            };
            plan.push((owed, engine, gone));
        }
        let mut timeline = vec![event(
            None,
            format!(
                "Run found interrupted; rolling back on target {} ({})",
                self.binding.target, self.binding.identity
            ),
        )];
        while let Some((owed, engine, gone)) = plan.pop() {
            let ctx = &owed.context;
            let outcome = if gone {
                "nothing to roll back: the embedded sandbox it used ended with its process".into()
            } else {
                match engine.host.load(&ctx.scenario).await {
                    Ok(scenario) => engine.rollback(&run.id, ctx, scenario.as_ref()).await,
                    Err(err) => {
                        format!("cannot load scenario {} to roll back: {err}", ctx.scenario)
                    }
                }
            };
            let on = if engine.binding.target == self.binding.target {
                String::new()
            } else {
                format!(" on target {}", engine.binding.target)
            };
            timeline.push(event(
                Some(&ctx.phase),
                format!(
                    "Rollback of {}{on} after interruption: {outcome}",
                    ctx.phase
                ),
            ));
        }
        for phase in drill.map_or(&[][..], |d| d.phases.as_slice()) {
            let Some(canary) = &phase.canary else {
                continue;
            };
            let mut connections = vec![canary.read_from.as_str()];
            if canary.connection != canary.read_from {
                connections.push(canary.connection.as_str());
            }
            let mut removed = Vec::new();
            let mut failed = Vec::new();
            for connection in connections {
                match self
                    .canaries
                    .clean_up(canary, connection, &run.id, &phase.name)
                    .await
                {
                    Ok(()) => removed.push(connection.to_string()),
                    Err(err) => failed.push(format!("{connection} ({err})")),
                }
            }
            let message = match (removed.is_empty(), failed.is_empty()) {
                (_, true) => format!(
                    "Canaries of {} removed from {}",
                    phase.name,
                    removed.join(", ")
                ),
                (true, false) => format!(
                    "Canaries of {} could not be removed from {}: delete the rows of run {} by hand",
                    phase.name,
                    failed.join(", "),
                    run.id
                ),
                (false, false) => format!(
                    "Canaries of {} removed from {}; not from {} (unreachable: nothing to remove there unless it comes back)",
                    phase.name,
                    removed.join(", "),
                    failed.join(", ")
                ),
            };
            timeline.push(event(Some(&phase.name), message));
        }
        settled(self.journal.as_ref(), run, &self.binding.target, timeline).await
    }
}

/// Marks `run` finished in `journal` without rolling anything back, because nothing of
/// its cluster is left (`why` says so in the record).
pub async fn settle(
    journal: &dyn Journal,
    run: &InterruptedRun,
    target: &str,
    why: String,
) -> Result<RunRecord, ScenarioError> {
    settled(journal, run, target, vec![event(None, why)]).await
}

async fn settled(
    journal: &dyn Journal,
    run: &InterruptedRun,
    target: &str,
    timeline: Vec<TimelineEvent>,
) -> Result<RunRecord, ScenarioError> {
    let finished = Utc::now();
    let record = RunRecord {
        finished_at: Some(finished),
        outcome: Outcome::Interrupted,
        timeline,
        ..RunRecord::begun(
            run.id.clone(),
            run.drill.clone(),
            target.to_string(),
            Trigger::Cli {
                user: "recovery".into(),
            },
            run.started_at,
        )
    };
    journal
        .append(
            &run.id,
            &JournalEntry::RunFinished {
                at: finished,
                record: Some(Box::new(record.clone())),
            },
        )
        .await?;
    Ok(record)
}

fn event(phase: Option<&str>, message: String) -> TimelineEvent {
    TimelineEvent {
        at: Utc::now(),
        phase: phase.map(str::to_string),
        message,
    }
}
