//! Recovery of interrupted runs: each rolled back on the cluster it ran on, or left owed with the reason.
//!
//! The journal says, for every run a killed process left unfinished, which target it used
//! and which cluster that target reached then. A pass opens each run's own target (or
//! reuses an open session), checks that it still reaches that cluster, and only then lets
//! that session's engine roll the run back. A run that cannot be rolled back where it ran
//! (its target gone, unreachable, or repointed) is never marked finished: it stays owed
//! and the next pass tries again.

use std::path::PathBuf;

use firedrill_core::config::Config;
use firedrill_core::run::RunRecord;

use super::publish::publish;
pub use super::session::Sessions;
use super::session::engine_for;
use crate::adapters::journal::StoreJournal;
use crate::engine::ports::Journal as _;
use crate::engine::recovery::{InterruptedRun, settle};
use crate::exit::CommandError;

/// A run still owing its rollback after a pass, and why it could not be paid.
#[derive(Debug, Clone)]
pub struct Owed {
    pub run: InterruptedRun,
    pub reason: String,
}

impl Owed {
    /// One line naming the run, its target, the phases owed and the reason.
    pub fn describe(&self) -> String {
        let phases = self.run.owed_phases();
        format!(
            "run {} (drill {}, target {}, {}): {}",
            self.run.id,
            self.run.drill,
            self.run.target.as_deref().unwrap_or("not recorded"),
            if phases.is_empty() {
                "no phase owes a rollback".to_string()
            } else {
                format!("owes the rollback of {}", phases.join(", "))
            },
            self.reason
        )
    }
}

/// What one recovery pass did.
#[derive(Debug, Default)]
pub struct Pass {
    /// Runs rolled back (or found to have nothing left to roll back) and recorded, with
    /// their report directories.
    pub recovered: Vec<(RunRecord, PathBuf)>,
    /// Runs that stay owed.
    pub owed: Vec<Owed>,
    /// Runs of other targets than the one asked for (`recover --target`).
    pub skipped: usize,
    /// Runs that had finished but whose record was not stored yet, now stored, with their
    /// report directories.
    pub stored: Vec<(String, PathBuf)>,
}

impl Pass {
    /// What an operator reads: one line per run recovered, then one per run still owed.
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .stored
            .iter()
            .map(|(id, reports)| {
                format!(
                    "Stored run {id}, which had finished as its process stopped (report in {})",
                    reports.display()
                )
            })
            .collect();
        lines.extend(self
            .recovered
            .iter()
            .map(|(record, reports)| {
                format!(
                    "Recovered interrupted run {} on target {}: rolled back and recorded (report in {})",
                    record.id,
                    record.target,
                    reports.display()
                )
            }));
        lines.extend(
            self.owed
                .iter()
                .map(|owed| format!("NOT recovered: {}", owed.describe())),
        );
        lines
    }
}

/// What to do with one interrupted run, decided before any cluster is contacted.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// Open (or reuse) this target's session, check its cluster, roll back there.
    RollBackOn(String),
    /// The run used an embedded sandbox that ended with its process: record it, touch nothing.
    SettleEmbedded(String),
    Owe(String),
    Skip,
}

fn step(run: &InterruptedRun, config: &Config, only: Option<&str>, sessions: &Sessions) -> Step {
    let target = match (&run.target, only) {
        // `--target X` also recovers a run one of whose phases acted on X (a region
        // failover's DR cluster): that run is rolled back on every target it used.
        (Some(target), Some(only)) if target != only && !run.other_targets().contains(&only) => {
            return Step::Skip;
        }
        (Some(target), _) => target.clone(),
        // Recorded before runs were bound to their cluster: only the operator knows where
        // it ran, and says so with --target.
        (None, Some(only)) => only.to_string(),
        (None, None) => {
            return Step::Owe(
                "recorded by a firedrill older than 0.2, which did not record the cluster it \
                 ran on: roll it back with `firedrill recover --target NAME`, naming the \
                 target it ran on"
                    .into(),
            );
        }
    };
    if !config.targets.contains_key(&target) {
        return Step::Owe(format!(
            "its target `{target}` is no longer in the configuration: add it back (pointing at \
             the cluster the run used) and run `firedrill recover` again"
        ));
    }
    if let Some(cluster) = &run.cluster
        && cluster.embedded
    {
        let alive = sessions
            .get(&target)
            .is_some_and(|s| cluster.same_cluster(&s.binding().identity));
        if !alive {
            return Step::SettleEmbedded(target);
        }
    }
    Step::RollBackOn(target)
}

/// Rolls back every interrupted run (of `only`, when given) on the cluster it ran on,
/// opening targets into `sessions` as needed, and records each one it settles. Runs it
/// cannot settle are returned owed; their journal is left as it was.
pub async fn recover(
    config: &Config,
    sessions: &mut Sessions,
    only: Option<&str>,
) -> Result<Pass, CommandError> {
    if let Some(only) = only
        && !config.targets.contains_key(only)
    {
        let known: Vec<&str> = config.targets.keys().map(String::as_str).collect();
        return Err(CommandError::Usage(format!(
            "unknown target `{only}` (known: {})",
            known.join(", ")
        )));
    }
    let journal = StoreJournal::at(crate::adapters::store::StoreAt::of(config));
    let runs = journal
        .unfinished()
        .await
        .map_err(|err| CommandError::Usage(format!("cannot read the run journal: {err}")))?;
    let mut pass = Pass::default();
    // Runs that finished while the process that ran them was being killed, before their
    // record was stored: store it now from the journal.
    let unrecorded = journal
        .unrecorded()
        .await
        .map_err(|err| CommandError::Usage(format!("cannot read the run journal: {err}")))?;
    for record in unrecorded {
        let reports = publish(config, &record).await?;
        pass.stored.push((record.id.clone(), reports));
    }
    for (id, entries) in runs {
        let run = InterruptedRun::from_entries(id, &entries);
        let settled = match step(&run, config, only, sessions) {
            Step::Skip => {
                pass.skipped += 1;
                continue;
            }
            Step::Owe(reason) => Err(reason),
            Step::SettleEmbedded(target) => settle(
                &journal,
                &run,
                &target,
                "The embedded sandbox the run used ended with the process that ran it: nothing \
                 of it is left to roll back"
                    .into(),
            )
            .await
            .map_err(|err| format!("cannot record it: {err}")),
            Step::RollBackOn(target) => roll_back_on(config, sessions, &target, &run).await,
        };
        match settled {
            Ok(record) => {
                let reports = publish(config, &record).await?;
                pass.recovered.push((record, reports));
            }
            Err(reason) => pass.owed.push(Owed { run, reason }),
        }
    }
    Ok(pass)
}

async fn roll_back_on(
    config: &Config,
    sessions: &mut Sessions,
    target: &str,
    run: &InterruptedRun,
) -> Result<RunRecord, String> {
    // The run's own target and every other one its owed phases acted on.
    let others = run.other_targets();
    if let Some(gone) = others.iter().find(|t| !config.targets.contains_key(**t)) {
        return Err(format!(
            "target `{gone}`, which one of its phases acted on, is no longer in the \
             configuration: add it back (pointing at the cluster the run used) and run \
             `firedrill recover` again"
        ));
    }
    let engine = engine_for(config, sessions, target, &others)
        .await
        .map_err(|err| format!("a target it used cannot be reached: {err}"))?;
    let now = &engine.binding.identity;
    if let Some(then) = &run.cluster
        && !then.same_cluster(now)
    {
        return Err(format!(
            "it ran on {then}, but target `{target}` now reaches {now}: nothing was touched; \
             point the target back at the cluster the run used and run `firedrill recover` again"
        ));
    }
    engine
        .recover(run, config.drill(&run.drill))
        .await
        .map_err(|err| format!("cannot roll it back: {err}"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::Utc;

    use super::*;
    use crate::engine::ports::ClusterIdentity;

    const CONFIG: &str = r#"version: 1
targets:
  a: { kind: kubeconfig, kubeconfig: a.yaml }
  b: { kind: kubeconfig, kubeconfig: b.yaml }
  lab: { kind: sandbox }
default_target: a
services: {}
drills: {}
"#;

    fn config() -> Config {
        firedrill_core::config::load_str(
            "t.yaml",
            CONFIG,
            Path::new("."),
            &crate::resolve_context(),
        )
        .unwrap()
    }

    fn run(target: Option<&str>, embedded: bool) -> InterruptedRun {
        InterruptedRun {
            id: "zone-1".into(),
            drill: "zone".into(),
            started_at: Utc::now(),
            target: target.map(str::to_string),
            cluster: target.map(|_| ClusterIdentity {
                server: "https://10.0.0.1:6443".into(),
                kube_system_uid: Some("u-1".into()),
                embedded,
            }),
            owed: Vec::new(),
        }
    }

    #[test]
    fn a_run_is_rolled_back_on_its_own_target_whatever_the_current_one() {
        let none = Sessions::new();
        assert_eq!(
            step(&run(Some("a"), false), &config(), None, &none),
            Step::RollBackOn("a".into())
        );
        assert_eq!(
            step(&run(Some("a"), false), &config(), Some("a"), &none),
            Step::RollBackOn("a".into())
        );
        assert_eq!(
            step(&run(Some("a"), false), &config(), Some("b"), &none),
            Step::Skip
        );
    }

    #[test]
    fn recovering_one_target_includes_runs_with_a_phase_on_it() {
        let mut spanning = run(Some("a"), false);
        spanning.owed.push(crate::engine::recovery::OwedPhase {
            context: crate::engine::ports::PhaseContext {
                run_id: "zone-1".into(),
                drill: "zone".into(),
                phase: "activate".into(),
                scenario: "region-failover".into(),
                params: serde_json::json!({}),
                services: vec![],
            },
            target: Some("b".into()),
            cluster: None,
        });
        let none = Sessions::new();
        assert_eq!(
            step(&spanning, &config(), Some("b"), &none),
            Step::RollBackOn("a".into())
        );
        assert_eq!(step(&spanning, &config(), Some("lab"), &none), Step::Skip);
    }

    #[test]
    fn a_run_whose_target_left_the_configuration_stays_owed() {
        let Step::Owe(reason) = step(&run(Some("gone"), false), &config(), None, &Sessions::new())
        else {
            panic!("not owed");
        };
        assert!(
            reason.contains("`gone` is no longer in the configuration"),
            "{reason}"
        );
    }

    #[test]
    fn a_run_recorded_without_its_cluster_is_rolled_back_only_where_the_operator_says() {
        let Step::Owe(reason) = step(&run(None, false), &config(), None, &Sessions::new()) else {
            panic!("not owed");
        };
        assert!(reason.contains("--target NAME"), "{reason}");
        assert_eq!(
            step(&run(None, false), &config(), Some("b"), &Sessions::new()),
            Step::RollBackOn("b".into())
        );
    }

    #[test]
    fn a_run_on_an_embedded_sandbox_of_an_ended_process_is_settled_without_touching_anything() {
        assert_eq!(
            step(&run(Some("lab"), true), &config(), None, &Sessions::new()),
            Step::SettleEmbedded("lab".into())
        );
    }
}
