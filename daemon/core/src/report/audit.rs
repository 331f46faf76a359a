//! The auditor's view: every scheduled slot of every drill in a period, and what became of it.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Drill;
use crate::run::{Outcome, Trigger};

/// What the audit needs to know about one stored run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRun {
    pub run_id: String,
    pub drill: String,
    pub trigger: Trigger,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub outcome: Outcome,
    /// SHA-256 of the rendered Markdown report, as recorded in the chain.
    pub report_sha256: Option<String>,
}

impl AuditRun {
    /// Whether this run serves `slot`: it names it as its slot, or catches it up.
    fn serves(&self, slot: DateTime<Utc>) -> bool {
        self.scheduled_for == Some(slot)
            || match &self.trigger {
                Trigger::Schedule { slot: own } => *own == slot,
                Trigger::CatchUp { missed_slots } => missed_slots.contains(&slot),
                Trigger::Cli { .. } | Trigger::Api { .. } => false,
            }
    }
}

/// The result of walking the evidence chain, as the store reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainStatus {
    pub intact: bool,
    pub records: u64,
    /// The hash of the newest record (anchor it elsewhere to detect truncation).
    pub head_sha256: Option<String>,
    /// The first broken link, in a sentence, when not intact.
    pub problem: Option<String>,
}

/// Why a slot has no successful run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum MissedReason {
    /// A blackout window covered the slot.
    Blackout { reason: String },
    /// No run was recorded for the slot: the daemon was down or not leading.
    DaemonDown,
    /// The run started but was aborted.
    Aborted { reason: String },
    /// The daemon died mid-run.
    Interrupted,
    /// The drill could not run.
    Error { message: String },
    /// The steady-state checks did not hold, so nothing was injected.
    NotStarted { reason: String },
}

/// What became of one slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SlotStatus {
    OnTime,
    Late {
        late_seconds: f64,
    },
    Missed {
        reason: MissedReason,
    },
    /// The slot is after the audit's "now": nothing could have happened yet.
    Upcoming,
}

/// One scheduled slot and its run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditSlot {
    pub slot: DateTime<Utc>,
    /// `2026-11-08 10:00 CET`, in the drill's time zone.
    pub local: String,
    pub status: SlotStatus,
    /// `on time`, `late (12m)`, `missed: blackout (year-end freeze)`, ...
    pub status_text: String,
    pub run_id: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    /// `Some(true)` only when a run for the slot finished with every objective met.
    pub objectives_met: Option<bool>,
    pub outcome: Option<String>,
    pub report_sha256: Option<String>,
}

/// Counts over a drill's slots.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlotTotals {
    pub slots: u32,
    pub on_time: u32,
    pub late: u32,
    pub missed: u32,
    pub upcoming: u32,
    pub objectives_met: u32,
    pub objectives_failed: u32,
}

/// The slots of one drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillAudit {
    pub drill: String,
    pub cron: String,
    pub timezone: String,
    pub grace_seconds: f64,
    /// `15m`: how late a run may start and still be on time.
    pub grace: String,
    pub slots: Vec<AuditSlot>,
    pub totals: SlotTotals,
}

/// The auditor's page for a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Audit {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    pub chain: ChainStatus,
    pub drills: Vec<DrillAudit>,
    pub totals: SlotTotals,
    /// Runs in the period that served no slot (manual runs): listed, not judged.
    pub unscheduled_runs: Vec<AuditRun>,
    /// Every slot ran on time, met its objectives, and the chain is intact.
    pub clean: bool,
}

/// A bound on slots per drill, so a `* * * * *` drill audited over years stays finite.
const MAX_SLOTS_PER_DRILL: usize = 10_000;

impl Audit {
    /// Classifies every slot of every scheduled drill in `[since, until)`. `now` separates
    /// missed slots from upcoming ones; `runs` are the stored runs (any order).
    pub fn build(
        drills: &[Drill],
        runs: &[AuditRun],
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        chain: ChainStatus,
    ) -> Audit {
        let mut served: Vec<&str> = Vec::new();
        let mut drill_audits = Vec::new();
        for drill in drills {
            let Some(schedule) = &drill.schedule else {
                continue;
            };
            let grace = Duration::from_std(schedule.grace).unwrap_or(Duration::zero());
            let tz = schedule.schedule.timezone;
            let mut slots = Vec::new();
            let mut totals = SlotTotals::default();
            let first_after = since - Duration::seconds(1);
            for slot in schedule
                .schedule
                .slots_after(first_after)
                .take_while(|slot| slot.at < until)
                .take(MAX_SLOTS_PER_DRILL)
            {
                // The first run for the slot counts; retries after it do not rewrite history.
                let run = runs
                    .iter()
                    .filter(|r| r.drill == drill.name && r.serves(slot.at))
                    .min_by_key(|r| r.started_at);
                if let Some(run) = run {
                    served.push(&run.run_id);
                }
                let status = match (run, &slot.blacked_out) {
                    (None, Some(reason)) => SlotStatus::Missed {
                        reason: MissedReason::Blackout {
                            reason: reason.clone(),
                        },
                    },
                    (None, None) if slot.at > now => SlotStatus::Upcoming,
                    (None, None) => SlotStatus::Missed {
                        reason: MissedReason::DaemonDown,
                    },
                    (Some(run), _) => match &run.outcome {
                        Outcome::Aborted { reason } => SlotStatus::Missed {
                            reason: MissedReason::Aborted {
                                reason: reason.clone(),
                            },
                        },
                        Outcome::Interrupted => SlotStatus::Missed {
                            reason: MissedReason::Interrupted,
                        },
                        Outcome::Error { message } => SlotStatus::Missed {
                            reason: MissedReason::Error {
                                message: message.clone(),
                            },
                        },
                        Outcome::NotStarted { reason } => SlotStatus::Missed {
                            reason: MissedReason::NotStarted {
                                reason: reason.clone(),
                            },
                        },
                        Outcome::Passed | Outcome::Failed => {
                            let late = run.started_at - slot.at;
                            if late > grace {
                                SlotStatus::Late {
                                    late_seconds: late.num_milliseconds() as f64 / 1000.0,
                                }
                            } else {
                                SlotStatus::OnTime
                            }
                        }
                    },
                };
                let objectives_met = run.and_then(|r| match r.outcome {
                    Outcome::Passed => Some(true),
                    Outcome::Failed => Some(false),
                    _ => None,
                });
                totals.slots += 1;
                match &status {
                    SlotStatus::OnTime => totals.on_time += 1,
                    SlotStatus::Late { .. } => totals.late += 1,
                    SlotStatus::Missed { .. } => totals.missed += 1,
                    SlotStatus::Upcoming => totals.upcoming += 1,
                }
                match objectives_met {
                    Some(true) => totals.objectives_met += 1,
                    Some(false) => totals.objectives_failed += 1,
                    None => {}
                }
                slots.push(AuditSlot {
                    slot: slot.at,
                    local: slot.local(tz).format("%Y-%m-%d %H:%M %Z").to_string(),
                    status_text: status_text(&status),
                    status,
                    run_id: run.map(|r| r.run_id.clone()),
                    started_at: run.map(|r| r.started_at),
                    objectives_met,
                    outcome: run.map(|r| r.outcome.label().to_string()),
                    report_sha256: run.and_then(|r| r.report_sha256.clone()),
                });
            }
            drill_audits.push(DrillAudit {
                drill: drill.name.clone(),
                cron: schedule.schedule.cron.to_string(),
                timezone: tz.name().to_string(),
                grace_seconds: grace.num_seconds() as f64,
                grace: super::format::format_seconds(grace.num_seconds() as f64),
                slots,
                totals,
            });
        }
        let mut unscheduled_runs: Vec<AuditRun> = runs
            .iter()
            .filter(|r| r.started_at >= since && r.started_at < until)
            .filter(|r| !served.contains(&r.run_id.as_str()))
            .cloned()
            .collect();
        unscheduled_runs.sort_by_key(|r| r.started_at);
        let totals = drill_audits
            .iter()
            .fold(SlotTotals::default(), |acc, d| SlotTotals {
                slots: acc.slots + d.totals.slots,
                on_time: acc.on_time + d.totals.on_time,
                late: acc.late + d.totals.late,
                missed: acc.missed + d.totals.missed,
                upcoming: acc.upcoming + d.totals.upcoming,
                objectives_met: acc.objectives_met + d.totals.objectives_met,
                objectives_failed: acc.objectives_failed + d.totals.objectives_failed,
            });
        let clean =
            chain.intact && totals.late == 0 && totals.missed == 0 && totals.objectives_failed == 0;
        Audit {
            since,
            until,
            generated_at: now,
            chain,
            drills: drill_audits,
            totals,
            unscheduled_runs,
            clean,
        }
    }
}

fn status_text(status: &SlotStatus) -> String {
    match status {
        SlotStatus::OnTime => "on time".to_string(),
        SlotStatus::Late { late_seconds } => {
            format!("late ({})", super::format::format_seconds(*late_seconds))
        }
        SlotStatus::Upcoming => "upcoming".to_string(),
        SlotStatus::Missed { reason } => match reason {
            MissedReason::Blackout { reason } => format!("missed: blackout ({reason})"),
            MissedReason::DaemonDown => "missed: no run recorded (daemon down)".to_string(),
            MissedReason::Aborted { reason } => format!("missed: aborted ({reason})"),
            MissedReason::Interrupted => "missed: interrupted (daemon stopped mid-run)".to_string(),
            MissedReason::Error { message } => format!("missed: could not run ({message})"),
            MissedReason::NotStarted { reason } => format!("missed: not started ({reason})"),
        },
    }
}
