//! `firedrill run` and `firedrill plan`: a drill against a target, for real or as a dry run.

use std::path::Path;

use crate::app::session::{Sessions, config_sha256, engine_for};
use crate::cli::{DrillArgs, RunArgs};
use crate::exit::{CommandError, Exit};

fn usage(message: impl Into<String>) -> CommandError {
    CommandError::Usage(message.into())
}

/// `firedrill run DRILL`.
pub async fn run(config_path: &Path, args: &RunArgs) -> Result<Exit, CommandError> {
    let config = match crate::load_config(config_path) {
        Ok(config) => config,
        Err(err) => {
            // `--junit` is written whatever happens, so a CI job sees why.
            if let Some(path) = &args.junit {
                let suite = crate::present::unrecorded(args, None, &err);
                if let Err(write) = crate::present::write_junit(path, &suite).await {
                    eprintln!("error: {write}");
                }
            }
            return Err(err.into());
        }
    };
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
    let others = drill.other_targets(&target);
    let mut sessions = Sessions::new();
    let engine = engine_for(&config, &mut sessions, &target, &others).await?;
    crate::sayln!(
        "Plan of drill {} against target {target}{} (nothing is changed)\n",
        drill.name,
        if others.is_empty() {
            String::new()
        } else {
            format!(" and {}", others.join(", "))
        }
    );
    let plan = crate::app::plan::plan(&config, &engine, drill, &target)
        .await
        .map_err(usage)?;
    for phase in &plan.phases {
        if others.is_empty() {
            crate::sayln!("Phase {} ({})", phase.phase, phase.scenario);
        } else {
            crate::sayln!(
                "Phase {} ({}) on target {}",
                phase.phase,
                phase.scenario,
                phase.target
            );
        }
        match &phase.actions {
            Ok(actions) if actions.is_empty() => crate::sayln!("  (no actions)"),
            Ok(actions) => {
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
                "  {:<16} connection {}  ({})",
                "canary",
                canary.connection,
                canary.describe()
            );
        }
        crate::sayln!();
    }
    crate::sayln!("{}", plan.blast_radius());
    if plan.exceeded.is_empty() {
        crate::sayln!("Within the configured blast radius.");
        Ok(Exit::Success)
    } else {
        crate::sayln!(
            "Exceeds the configured blast radius: {}",
            plan.exceeded.join("; ")
        );
        Ok(Exit::ObjectiveFailed)
    }
}
