//! `firedrill run` and `firedrill plan`: a drill against a target, for real or as a dry run.

use std::path::Path;

use firedrill_core::measure::BlastCount;

use crate::app::session::{config_sha256, open};
use crate::cli::{DrillArgs, RunArgs};
use crate::exit::{CommandError, Exit};

fn usage(message: impl Into<String>) -> CommandError {
    CommandError::Usage(message.into())
}

/// `firedrill run DRILL`.
pub async fn run(config_path: &Path, args: &RunArgs) -> Result<Exit, CommandError> {
    let config = crate::load_config(config_path)?;
    let (exit, _) =
        crate::present::run_and_print(&config, config_sha256(config_path), args, None).await?;
    Ok(exit)
}

/// `firedrill plan DRILL`: every action each phase would take, changing nothing.
pub async fn plan(config_path: &Path, args: &DrillArgs) -> Result<Exit, CommandError> {
    let config = crate::load_config(config_path)?;
    let Some(drill) = config.drill(&args.drill) else {
        return Err(crate::app::drill::unknown_drill(&config, &args.drill));
    };
    let target = args.target.clone().unwrap_or_else(|| drill.target.clone());
    let session = open(&config, &target).await?;
    crate::sayln!(
        "Plan of drill {} against target {target} (nothing is changed)\n",
        drill.name
    );
    let plans = session.engine.plan(&config, drill).await.map_err(usage)?;
    // Limits apply per phase; report the largest.
    let mut worst = BlastCount::default();
    for (plan, phase) in plans.iter().zip(&drill.phases) {
        crate::sayln!("Phase {} ({})", plan.phase, plan.scenario);
        match &plan.actions {
            Ok(actions) if actions.is_empty() => crate::sayln!("  (no actions)"),
            Ok(actions) => {
                let count = BlastCount::of(actions.iter().map(|a| a.kind.as_str()));
                worst = worst.max(count);
                for action in actions {
                    crate::sayln!(
                        "  {:<16} {}  ({})",
                        action.kind,
                        action.target,
                        action.detail
                    );
                }
            }
            Err(err) => crate::sayln!("  {err}"),
        }
        if let Some(canary) = &phase.canary {
            crate::sayln!(
                "  {:<16} connection {}  (a write every {} ms from {} ms before the fault until recovery, read back from {})",
                "canary",
                canary.connection,
                canary.interval.as_millis(),
                canary.lead.as_millis(),
                canary.read_from
            );
        }
        crate::sayln!();
    }
    let plural = |n: u32, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut also = String::new();
    if worst.workloads > 0 {
        also.push_str(&format!(
            ", {} restarted",
            plural(worst.workloads, "workload", "workloads")
        ));
    }
    if worst.processes > 0 {
        also.push_str(&format!(
            ", {} in pods or servers",
            plural(worst.processes, "command", "commands")
        ));
    }
    crate::sayln!(
        "Blast radius: {} disrupted, {} cordoned{also} (largest phase)",
        plural(worst.pods, "pod", "pods"),
        plural(worst.nodes, "node", "nodes")
    );
    let exceeded = worst.exceeds(&drill.blast_radius);
    if exceeded.is_empty() {
        crate::sayln!("Within the configured blast radius.");
        Ok(Exit::Success)
    } else {
        crate::sayln!(
            "Exceeds the configured blast radius: {}",
            exceeded.join("; ")
        );
        Ok(Exit::ObjectiveFailed)
    }
}
