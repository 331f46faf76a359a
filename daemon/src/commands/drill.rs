//! `firedrill run` and `firedrill plan`: a drill against a target, for real or as a dry run.

use std::path::Path;

use firedrill_core::measure::BlastCount;

use crate::app::session::{config_sha256, open};
use crate::cli::{DrillArgs, RunArgs};
use crate::engine::ports::{PhaseContext, ScenarioHost};
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
    // Limits apply per phase; report the largest.
    let mut worst = BlastCount::default();
    for phase in &drill.phases {
        let mut services = Vec::new();
        for name in &phase.services {
            if let Some(service) = config.services.get(name) {
                let selector = service.selector.to_string();
                let replicas = session
                    .cluster
                    .count_ready(&service.namespace, &selector)
                    .await
                    .map_err(|err| usage(format!("cannot read service {name}: {err}")))?;
                services.push(crate::engine::ports::ServiceRef {
                    name: name.clone(),
                    namespace: service.namespace.clone(),
                    selector,
                    replicas,
                });
            }
        }
        let ctx = PhaseContext {
            run_id: "plan".into(),
            drill: drill.name.clone(),
            phase: phase.name.clone(),
            scenario: phase.scenario.clone(),
            params: serde_json::Value::Object(phase.params.clone()),
            services,
        };
        crate::sayln!("Phase {} ({})", phase.name, phase.scenario);
        let scenario = match session.scenarios.load(&phase.scenario).await {
            Ok(scenario) => scenario,
            Err(err) => {
                crate::sayln!("  cannot load: {err}\n");
                continue;
            }
        };
        match scenario.plan(&ctx).await {
            Ok(actions) if actions.is_empty() => crate::sayln!("  (no actions)"),
            Ok(actions) => {
                let count = BlastCount::of(actions.iter().map(|a| a.kind.as_str()));
                worst.pods = worst.pods.max(count.pods);
                worst.nodes = worst.nodes.max(count.nodes);
                for action in &actions {
                    crate::sayln!(
                        "  {:<16} {}  ({})",
                        action.kind,
                        action.target,
                        action.detail
                    );
                }
            }
            Err(err) => crate::sayln!("  plan failed: {err}"),
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
    crate::sayln!(
        "Blast radius: {} disrupted, {} cordoned (largest phase)",
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
