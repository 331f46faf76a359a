//! `firedrill check`: validates the configuration and prints a one-screen summary.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use firedrill_core::config::{self, Config, Drill};
use firedrill_core::duration::HumanDuration;

use crate::app::calendar::{cadence, format_local};
use crate::exit::{CommandError, Exit};

/// Checks the file at `path` and prints the summary, or prints the JSON Schema.
pub fn run(path: &Path, schema: bool, now: DateTime<Utc>) -> Result<Exit, CommandError> {
    if schema {
        let text = serde_json::to_string_pretty(&config::json_schema())
            .map_err(|err| CommandError::Usage(format!("cannot render the schema: {err}")))?;
        crate::outln!("{text}");
        return Ok(Exit::Success);
    }
    let config = crate::load_config(path)?;
    crate::out!("{}", summary(&config, now));
    Ok(Exit::Success)
}

/// The summary `check` prints for a valid configuration.
pub fn summary(config: &Config, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}: valid\n", config.source);
    let objectives: Vec<String> = [
        ("RTO", config.objectives.rto),
        ("RPO", config.objectives.rpo),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|v| format!("{name} {}", human(v))))
    .collect();
    if !objectives.is_empty() {
        let _ = writeln!(out, "Objectives  {}", objectives.join(", "));
    }
    let targets: Vec<String> = config
        .targets
        .keys()
        .map(|name| {
            if *name == config.default_target {
                format!("{name} (default)")
            } else {
                name.clone()
            }
        })
        .collect();
    let _ = writeln!(out, "Targets     {}", targets.join(", "));
    let probed = config
        .services
        .values()
        .filter(|service| !service.probes.is_empty())
        .count();
    let _ = writeln!(
        out,
        "Services    {}, {probed} probed every {}",
        config.services.len(),
        human(config.probing.interval)
    );
    let _ = writeln!(out, "Drills      {}", config.drills.len());
    let width = config
        .drills
        .iter()
        .map(|drill| drill.name.len())
        .max()
        .unwrap_or(0);
    for drill in &config.drills {
        let _ = writeln!(out);
        let _ = write!(out, "{}", drill_summary(drill, width, now));
    }
    out
}

fn drill_summary(drill: &Drill, width: usize, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let pad = " ".repeat(width + 2);
    match &drill.schedule {
        Some(schedule) => {
            let s = &schedule.schedule;
            let _ = writeln!(
                out,
                "{:width$}  {} \"{}\" {}, target {}",
                drill.name,
                cadence(s, now),
                s.cron,
                s.timezone,
                drill.target
            );
            match s.next_runs(now, 1).first() {
                Some(next) => {
                    let _ = writeln!(
                        out,
                        "{pad}next {} ({} UTC)",
                        format_local(*next, s.timezone),
                        next.format("%Y-%m-%d %H:%M")
                    );
                }
                None => {
                    let _ = writeln!(out, "{pad}no run in the next five years");
                }
            }
        }
        None => {
            let _ = writeln!(
                out,
                "{:width$}  not scheduled (runs when triggered), target {}",
                drill.name, drill.target
            );
        }
    }
    let phases: Vec<String> = drill
        .phases
        .iter()
        .map(|phase| {
            let mut goals = Vec::new();
            if let Some(rto) = phase.objectives.rto {
                goals.push(format!("RTO {}", human(rto)));
            }
            if let Some(rpo) = phase.objectives.rpo {
                goals.push(format!("RPO {}", human(rpo)));
            }
            if let Some(floor) = phase.objectives.availability_floor {
                goals.push(format!("availability >= {}%", floor * 100.0));
            }
            // A phase acting on another target than the drill's says which.
            let name = match &phase.target {
                Some(target) if *target != drill.target => format!("{} on {target}", phase.name),
                _ => phase.name.clone(),
            };
            if goals.is_empty() {
                name
            } else {
                format!("{name} ({})", goals.join(", "))
            }
        })
        .collect();
    let _ = writeln!(out, "{pad}{}", phases.join(" -> "));
    out
}

fn human(duration: Duration) -> String {
    HumanDuration(duration).to_string()
}
