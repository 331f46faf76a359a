//! A drill's dry run: each phase's planned actions against the cluster as it is now, its canaries and the blast radius, changing nothing.
//!
//! `firedrill plan` prints it and the web console's `/drills/NAME/plan` page shows it;
//! both come here, so the two never disagree.

use firedrill_core::config::{Config, Drill};
use firedrill_core::measure::BlastCount;

use crate::engine::Engine;
use crate::engine::ports::PlannedAction;

/// What one phase would do.
#[derive(Debug)]
pub struct PlannedPhase {
    pub phase: String,
    pub scenario: String,
    /// The target it acts on.
    pub target: String,
    /// The scenario's planned actions, or why they could not be had (the plugin would not
    /// load, or its `plan` failed).
    pub actions: Result<Vec<PlannedAction>, String>,
    /// The canary writes the phase would make, in a sentence.
    pub canary: Option<PlannedCanary>,
}

/// A phase's canary writes, as planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCanary {
    pub connection: String,
    pub read_from: String,
    pub interval_ms: u128,
    pub lead_ms: u128,
}

impl PlannedCanary {
    /// `a write every 100 ms from 1000 ms before the fault until recovery, read back from X`.
    pub fn describe(&self) -> String {
        format!(
            "a write every {} ms from {} ms before the fault until recovery, read back from {}",
            self.interval_ms, self.lead_ms, self.read_from
        )
    }
}

/// A drill's plan against one target.
#[derive(Debug)]
pub struct DrillPlan {
    pub drill: String,
    pub target: String,
    pub phases: Vec<PlannedPhase>,
    /// The largest phase's disruption (limits apply per phase).
    pub worst: BlastCount,
    /// The configured limits the largest phase exceeds, as sentences; empty when within.
    pub exceeded: Vec<String>,
}

impl DrillPlan {
    /// `Blast radius: 1 pod disrupted, 0 nodes cordoned (largest phase)`.
    pub fn blast_radius(&self) -> String {
        let worst = &self.worst;
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
        format!(
            "Blast radius: {} disrupted, {} cordoned{also} (largest phase)",
            plural(worst.pods, "pod", "pods"),
            plural(worst.nodes, "node", "nodes")
        )
    }
}

fn plural(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Asks each phase's scenario of `drill` for its plan through `engine` (the session of
/// `target`, acting on the drill's other targets too), read-only whatever the grants. Fails only when the drill's services cannot
/// be read from the cluster; a phase whose plan fails says why in its `actions`.
pub async fn plan(
    config: &Config,
    engine: &Engine,
    drill: &Drill,
    target: &str,
) -> Result<DrillPlan, String> {
    let plans = engine.plan(config, drill).await?;
    let mut worst = BlastCount::default();
    let mut phases = Vec::new();
    for (plan, phase) in plans.into_iter().zip(&drill.phases) {
        if let Ok(actions) = &plan.actions {
            worst = worst.max(BlastCount::of(actions.iter().map(|a| a.kind.as_str())));
        }
        phases.push(PlannedPhase {
            phase: plan.phase,
            scenario: plan.scenario,
            target: plan.target,
            actions: plan.actions,
            canary: phase.canary.as_ref().map(|canary| PlannedCanary {
                connection: canary.connection.clone(),
                read_from: canary.read_from.clone(),
                interval_ms: canary.interval.as_millis(),
                lead_ms: canary.lead.as_millis(),
            }),
        });
    }
    Ok(DrillPlan {
        drill: drill.name.clone(),
        target: target.to_string(),
        exceeded: worst.exceeds(&drill.blast_radius),
        worst,
        phases,
    })
}
