//! `firedrill schedule`: the next runs of every drill, in its time zone and UTC.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};
use firedrill_core::config::Config;
use serde::Serialize;

use crate::app::calendar::{cadence, format_local};
use crate::cli::{OutputFormat, ScheduleArgs};
use crate::exit::{CommandError, Exit};

/// One listed slot: a run, or a stretch of slots removed by a blackout.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Listed {
    Run {
        utc: DateTime<Utc>,
        local: String,
    },
    Skipped {
        first_utc: DateTime<Utc>,
        last_utc: DateTime<Utc>,
        slots: usize,
        reason: String,
    },
}

/// The upcoming slots of one drill.
#[derive(Debug, Clone, Serialize)]
pub struct DrillRuns {
    pub drill: String,
    pub cron: String,
    pub timezone: String,
    pub slots: Vec<Listed>,
}

pub fn run(path: &Path, args: &ScheduleArgs, now: DateTime<Utc>) -> Result<Exit, CommandError> {
    let config = crate::load_config(path)?;
    let from = match &args.from {
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|err| {
                CommandError::Usage(format!(
                    "--from `{text}` is not an RFC 3339 instant such as 2026-03-28T00:00:00Z ({err})"
                ))
            })?,
        None => now,
    };
    for name in &args.drills {
        if config.drill(name).is_none() {
            let known: Vec<&str> = config.drills.iter().map(|d| d.name.as_str()).collect();
            return Err(CommandError::Usage(format!(
                "unknown drill `{name}` (known: {})",
                known.join(", ")
            )));
        }
    }
    let listing = upcoming(&config, &args.drills, from, usize::from(args.count));
    match args.output {
        OutputFormat::Json => {
            let text = serde_json::to_string_pretty(&listing)
                .map_err(|err| CommandError::Usage(format!("cannot render JSON: {err}")))?;
            crate::outln!("{text}");
        }
        OutputFormat::Text => crate::out!("{}", render_text(&config, &listing, from)),
    }
    Ok(Exit::Success)
}

/// The next `count` runs of each selected drill after `from`, with the blacked-out slots
/// between them folded into one entry per stretch.
pub fn upcoming(
    config: &Config,
    only: &[String],
    from: DateTime<Utc>,
    count: usize,
) -> Vec<DrillRuns> {
    config
        .drills
        .iter()
        .filter(|drill| only.is_empty() || only.contains(&drill.name))
        .filter_map(|drill| {
            let schedule = &drill.schedule.as_ref()?.schedule;
            let mut slots: Vec<Listed> = Vec::new();
            let mut runs = 0;
            // Bound the walk: a schedule blacked out for years still terminates.
            for slot in schedule.slots_after(from).take(count + 10_000) {
                if runs == count {
                    break;
                }
                match (slot.blacked_out, slots.last_mut()) {
                    (None, _) => {
                        runs += 1;
                        slots.push(Listed::Run {
                            utc: slot.at,
                            local: format_local(slot.at, schedule.timezone),
                        });
                    }
                    (
                        Some(reason),
                        Some(Listed::Skipped {
                            last_utc,
                            slots: n,
                            reason: previous,
                            ..
                        }),
                    ) if *previous == reason => {
                        *last_utc = slot.at;
                        *n += 1;
                    }
                    (Some(reason), _) => slots.push(Listed::Skipped {
                        first_utc: slot.at,
                        last_utc: slot.at,
                        slots: 1,
                        reason,
                    }),
                }
            }
            Some(DrillRuns {
                drill: drill.name.clone(),
                cron: schedule.cron.to_string(),
                timezone: schedule.timezone.to_string(),
                slots,
            })
        })
        .collect()
}

fn render_text(config: &Config, listing: &[DrillRuns], from: DateTime<Utc>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Runs after {} UTC\n", from.format("%Y-%m-%d %H:%M"));
    for drill_runs in listing {
        let Some(drill) = config.drill(&drill_runs.drill) else {
            continue;
        };
        let Some(schedule) = &drill.schedule else {
            continue;
        };
        let _ = writeln!(
            out,
            "{}  {} \"{}\" in {}, missed runs: {}",
            drill.name,
            cadence(&schedule.schedule, from),
            drill_runs.cron,
            drill_runs.timezone,
            match schedule.missed {
                firedrill_core::config::MissedRunPolicy::Skip => "skip",
                firedrill_core::config::MissedRunPolicy::RunOnce => "run once",
            }
        );
        for slot in &drill_runs.slots {
            match slot {
                Listed::Run { utc, local } => {
                    let _ = writeln!(out, "  {local:<36} {} UTC", utc.format("%Y-%m-%d %H:%M"));
                }
                Listed::Skipped {
                    first_utc,
                    last_utc,
                    slots,
                    reason,
                } => {
                    let tz = schedule.schedule.timezone;
                    let when = if slots == &1 {
                        format_local(*first_utc, tz)
                    } else {
                        format!(
                            "{} slots {} .. {}",
                            slots,
                            first_utc.with_timezone(&tz).format("%Y-%m-%d"),
                            last_utc.with_timezone(&tz).format("%Y-%m-%d")
                        )
                    };
                    let _ = writeln!(out, "  skipped {when} (blackout: {reason})");
                }
            }
        }
        let _ = writeln!(out);
    }
    let unscheduled: Vec<&str> = config
        .drills
        .iter()
        .filter(|drill| drill.schedule.is_none())
        .map(|drill| drill.name.as_str())
        .collect();
    if !unscheduled.is_empty() {
        let _ = writeln!(
            out,
            "Not scheduled (run when triggered): {}",
            unscheduled.join(", ")
        );
    }
    out
}
