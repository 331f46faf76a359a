//! The post-drill report model, laid out as the runbook's "Post-Drill Analysis" template.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::charts::Charts;
use super::format::{format_latency, format_percent, format_seconds};
use crate::config::Drill;
use crate::run::{
    Check, CheckVerdict, ChecklistRow, ClockStart, ClockStop, Evidence, Outcome, PhaseRecord,
    PhaseVerdict, RunRecord, ServiceAvailability, Trigger,
};

/// Shown under "Lessons Learned" until people write theirs.
const LESSONS_PLACEHOLDER: &str =
    "_To be completed at the review meeting: what surprised us, what worked, what to change._";

/// One row of "Availability During Drill".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AvailabilityRow {
    pub service: String,
    /// The lowest success ratio over the whole drill and each of its phases, in 0..=1.
    pub min_availability_ratio: f64,
    pub min_availability: String,
    /// The highest p95 latency over the whole drill and each of its phases, in seconds.
    pub max_latency_p95_seconds: Option<f64>,
    pub max_latency_p95: String,
    pub probes: u64,
    pub failed_probes: u64,
    /// Whether some phase's availability floor was broken by this service.
    pub below_floor: bool,
}

/// One row of "Recovery Times".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryRow {
    pub phase: String,
    pub scenario: String,
    /// The target the phase acted on, when the drill spans targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub target_rto_seconds: Option<f64>,
    pub target_rto: String,
    pub actual_rto_seconds: Option<f64>,
    pub actual_rto: String,
    /// `Pass`, `Fail`, `Timed out`, `Aborted`, `Error`, `Skipped`, `Interrupted`.
    pub status: String,
    pub passed: bool,
    /// How recovery was detected (measured, not assumed).
    pub detection: Option<String>,
    /// Where the clock started and stopped, in a sentence.
    pub clock: Option<String>,
}

/// One row of "Validation Checklist": a service's figure for one of the runbook's checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChecklistReportRow {
    pub phase: String,
    /// The runbook's wording, e.g. `Minimum replicas maintained`.
    pub check: String,
    pub service: String,
    /// `2 Ready at the lowest`, `1 unavailable at once`, `0 failed probes`.
    pub observed: String,
    /// `at least 2 (min_ready)`, `at most 1 (PDB web-pdb)`, `at most 0`.
    pub expected: String,
    /// `Pass` / `Fail`, with `(objective)` when it decides the phase.
    pub status: String,
    pub passed: bool,
}

/// One row of "PromQL Checks": a check's evaluations at one stage of the drill or a phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRow {
    pub check: String,
    /// `before` (steady state), `during` or `after`.
    pub stage: String,
    /// The phase, or `-` for the drill's own checks.
    pub phase: String,
    /// `< 0.01`, `present`.
    pub expect: String,
    /// The deciding evaluation's value, `-` without one.
    pub value: String,
    /// `3 of 12` evaluations that were not a pass.
    pub misses: String,
    /// `Pass`, or the deciding verdict: `Fail`, `No data`, `Error`.
    pub status: String,
    pub passed: bool,
    /// The deciding evaluation, in words.
    pub message: String,
    /// The query as sent.
    pub query: String,
}

/// One row of "Pod Recovery": a pod lost and its replacement's steps, as offsets from
/// the loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodRow {
    pub phase: String,
    pub pod: String,
    pub replacement: String,
    /// `node-b (zone-b)`.
    pub placed: String,
    pub created: String,
    pub scheduled: String,
    pub started: String,
    pub ready: String,
}

/// Data-loss figures of a phase that ran canaries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataLossRow {
    pub phase: String,
    pub canaries_written: u64,
    pub canaries_acknowledged: u64,
    pub acknowledged_lost: u64,
    /// Age of the backup a restore used, formatted; `-` when none.
    pub backup_age: String,
    pub loss_window: String,
    pub target_rpo: String,
    pub passed: bool,
    pub method: String,
}

/// An evidence artefact, by name and hash (the content stays in the run record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceRow {
    pub phase: Option<String>,
    pub name: String,
    pub captured_at: DateTime<Utc>,
    pub sha256: String,
}

/// A problem the run revealed, with its figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    pub phase: Option<String>,
    pub text: String,
}

/// A proposed follow-up; owners and deadlines are set at the review meeting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionItem {
    pub text: String,
}

/// The post-drill report of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub run_id: String,
    pub drill: String,
    pub description: Option<String>,
    pub target: String,
    pub trigger: String,
    /// `2026-11-08 09:00 UTC`.
    pub date: String,
    /// `2026-11-08`, for subjects and file names.
    pub day: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `09:00:00 - 09:41:00 UTC (41m)`, or `09:00:00 UTC - (unfinished)`.
    pub duration: String,
    pub duration_seconds: Option<f64>,
    pub participants: Vec<String>,
    /// The outcome's label: passed, failed, aborted, interrupted, error.
    pub outcome: String,
    /// Upper-case verdict for subjects and headlines.
    pub verdict: String,
    pub passed: bool,
    pub executive_summary: String,
    pub availability: Vec<AvailabilityRow>,
    pub recovery_times: Vec<RecoveryRow>,
    pub data_loss: Vec<DataLossRow>,
    pub checklist: Vec<ChecklistReportRow>,
    /// PromQL checks, in the order first evaluated.
    pub checks: Vec<CheckRow>,
    pub pods: Vec<PodRow>,
    pub issues: Vec<Issue>,
    pub action_items: Vec<ActionItem>,
    /// What the drill announced as it happened (a region failover's "DR region is now
    /// serving"), from scenarios' `announcement.txt` evidence, oldest first.
    #[serde(default)]
    pub announcements: Vec<Announcement>,
    pub lessons_learned: String,
    pub evidence: Vec<EvidenceRow>,
    pub config_sha256: String,
    pub plugin_sha256: Vec<(String, String)>,
    /// The timeline, availability and latency, and canary charts, as SVG with their notes.
    /// Templates get them; the JSON export leaves them out (see [`super::report_json`]).
    #[serde(default)]
    pub charts: Charts,
}

impl Report {
    /// Builds the report of `run`. `drill` (the drill's configuration, when it still exists)
    /// supplies participants when the run recorded none, and the description.
    pub fn from_run(
        run: &RunRecord,
        drill: Option<&Drill>,
        extra_participants: &[String],
    ) -> Report {
        let participants = participants(run, drill, extra_participants);
        let availability = availability_rows(run);
        let recovery_times: Vec<RecoveryRow> = run.phases.iter().map(recovery_row).collect();
        let data_loss: Vec<DataLossRow> = run.phases.iter().filter_map(data_loss_row).collect();
        let (issues, action_items) = issues_and_actions(run);
        let executive_summary = executive_summary(
            run,
            &recovery_times,
            &availability,
            &data_loss,
            issues.len(),
        );
        Report {
            run_id: run.id.clone(),
            drill: run.drill.clone(),
            description: run
                .description
                .clone()
                .or_else(|| drill.and_then(|d| d.description.clone())),
            target: run.target.clone(),
            trigger: describe_trigger(&run.trigger),
            date: run.started_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            day: run.started_at.format("%Y-%m-%d").to_string(),
            started_at: run.started_at,
            finished_at: run.finished_at,
            duration: describe_duration(run),
            duration_seconds: run.duration_seconds(),
            participants,
            outcome: run.outcome.label().to_string(),
            verdict: run.outcome.label().to_uppercase(),
            passed: run.outcome == Outcome::Passed,
            executive_summary,
            availability,
            recovery_times,
            data_loss,
            checklist: run
                .phases
                .iter()
                .flat_map(|p| p.checklist.iter().map(|row| checklist_row(&p.name, row)))
                .collect(),
            checks: check_rows(run),
            pods: run.phases.iter().flat_map(pod_rows).collect(),
            issues,
            action_items,
            announcements: announcements(run),
            lessons_learned: LESSONS_PLACEHOLDER.to_string(),
            evidence: run
                .evidence
                .iter()
                .map(|e| EvidenceRow {
                    phase: e.phase.clone(),
                    name: e.name.clone(),
                    captured_at: e.captured_at,
                    sha256: e.sha256.clone(),
                })
                .collect(),
            config_sha256: run.config_sha256.clone(),
            plugin_sha256: run
                .plugin_sha256
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            charts: Charts::from_run(run),
        }
    }

    /// The email subject: drill, verdict and date.
    pub fn subject(&self) -> String {
        format!(
            "[firedrill] {}: {} ({})",
            self.drill, self.verdict, self.day
        )
    }
}

fn check_rows(run: &RunRecord) -> Vec<CheckRow> {
    crate::check::summaries(&run.checks)
        .into_iter()
        .map(|summary| {
            let deciding = summary.deciding;
            CheckRow {
                check: summary.check.to_string(),
                stage: summary.stage.label().to_string(),
                phase: summary.phase.unwrap_or("-").to_string(),
                expect: deciding.expect.clone(),
                value: deciding
                    .value
                    .map_or_else(|| "-".to_string(), crate::check::format_value),
                misses: format!("{} of {}", summary.misses, summary.evaluations),
                status: if summary.held {
                    "Pass".to_string()
                } else {
                    match deciding.verdict {
                        CheckVerdict::Pass | CheckVerdict::Fail => "Fail",
                        CheckVerdict::NoData => "No data",
                        CheckVerdict::Error => "Error",
                    }
                    .to_string()
                },
                passed: summary.held,
                message: deciding.message.clone(),
                query: deciding.query.clone(),
            }
        })
        .collect()
}

fn participants(run: &RunRecord, drill: Option<&Drill>, extra: &[String]) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    let drill_participants = drill.map(|d| d.participants.as_slice()).unwrap_or(&[]);
    for name in run
        .participants
        .iter()
        .chain(drill_participants)
        .chain(extra)
    {
        if !all.contains(name) {
            all.push(name.clone());
        }
    }
    all
}

fn describe_trigger(trigger: &Trigger) -> String {
    match trigger {
        Trigger::Schedule { slot } => {
            format!("schedule (slot {})", slot.format("%Y-%m-%d %H:%M UTC"))
        }
        Trigger::CatchUp { missed_slots } => format!(
            "catch-up for {} missed slot{}",
            missed_slots.len(),
            if missed_slots.len() == 1 { "" } else { "s" }
        ),
        Trigger::Cli { user } => format!("command line ({user})"),
        Trigger::Api { client } => format!("API ({client})"),
    }
}

fn describe_duration(run: &RunRecord) -> String {
    let start = run.started_at.format("%H:%M:%S");
    match (run.finished_at, run.duration_seconds()) {
        (Some(end), Some(seconds)) => {
            let end_text = if end.date_naive() == run.started_at.date_naive() {
                end.format("%H:%M:%S").to_string()
            } else {
                end.format("%Y-%m-%d %H:%M:%S").to_string()
            };
            format!("{start} - {end_text} UTC ({})", format_seconds(seconds))
        }
        _ => format!("{start} UTC - (unfinished)"),
    }
}

fn availability_rows(run: &RunRecord) -> Vec<AvailabilityRow> {
    // Services in the order the drill-wide figures list them, then any only phases saw.
    let mut services: Vec<&str> = run
        .availability
        .iter()
        .map(|a| a.service.as_str())
        .collect();
    for phase in &run.phases {
        for a in &phase.availability {
            if !services.contains(&a.service.as_str()) {
                services.push(&a.service);
            }
        }
    }
    services
        .into_iter()
        .map(|service| {
            let overall = run.availability.iter().filter(|a| a.service == service);
            let per_phase = run
                .phases
                .iter()
                .flat_map(|p| p.availability.iter().filter(|a| a.service == service));
            let samples: Vec<&ServiceAvailability> = overall.chain(per_phase).collect();
            let min_ratio = samples.iter().map(|a| a.ratio()).fold(1.0_f64, f64::min);
            let max_p95 = samples
                .iter()
                .filter_map(|a| a.latency_p95_seconds)
                .fold(None, |acc: Option<f64>, v| {
                    Some(acc.map_or(v, |m| m.max(v)))
                });
            // Drill-wide probe counts when present (phases overlap them), else the phases' sum.
            let (probes, successes) = match run.availability.iter().find(|a| a.service == service) {
                Some(a) => (a.probes, a.successes),
                None => run
                    .phases
                    .iter()
                    .flat_map(|p| p.availability.iter().filter(|a| a.service == service))
                    .fold((0, 0), |(p, s), a| (p + a.probes, s + a.successes)),
            };
            let below_floor = run.phases.iter().any(|phase| {
                phase.availability_floor.is_some_and(|floor| {
                    phase
                        .availability
                        .iter()
                        .any(|a| a.service == service && a.ratio() < floor)
                })
            });
            AvailabilityRow {
                service: service.to_string(),
                min_availability_ratio: min_ratio,
                min_availability: format_percent(min_ratio),
                max_latency_p95_seconds: max_p95,
                max_latency_p95: format_latency(max_p95),
                probes,
                failed_probes: probes.saturating_sub(successes),
                below_floor,
            }
        })
        .collect()
}

fn status_text(verdict: &PhaseVerdict) -> &'static str {
    match verdict {
        PhaseVerdict::Passed => "Pass",
        PhaseVerdict::Failed { .. } => "Fail",
        PhaseVerdict::TimedOut => "Fail (timed out)",
        PhaseVerdict::Aborted { .. } => "Aborted",
        PhaseVerdict::Error { .. } => "Error",
        PhaseVerdict::Skipped => "Skipped",
        PhaseVerdict::Interrupted => "Interrupted",
    }
}

fn recovery_row(phase: &PhaseRecord) -> RecoveryRow {
    let actual_rto = match (phase.recovery_seconds, &phase.verdict) {
        (Some(seconds), _) => format_seconds(seconds),
        (None, PhaseVerdict::TimedOut) => "not recovered".to_string(),
        (None, _) => "n/a".to_string(),
    };
    RecoveryRow {
        phase: phase.name.clone(),
        scenario: phase.scenario.clone(),
        target: phase.target.clone(),
        target_rto_seconds: phase.rto_target_seconds,
        target_rto: phase
            .rto_target_seconds
            .map_or_else(|| "none".to_string(), format_seconds),
        actual_rto_seconds: phase.recovery_seconds,
        actual_rto,
        status: status_text(&phase.verdict).to_string(),
        passed: phase.verdict.passed(),
        detection: phase.detection.clone(),
        clock: phase.clock.as_ref().map(|clock| {
            let start = match (clock.started_by, &clock.first_action) {
                (ClockStart::FirstAction, Some(action)) => {
                    format!("from the fault's first effect ({action})")
                }
                _ => "from the end of inject".to_string(),
            };
            let inject = match (&clock.last_action, clock.held_back_seconds > 0.0) {
                (Some(last), true) => format!(
                    "; putting the fault in place took {} up to {last}, {} of it evictions held back by disruption budgets",
                    format_seconds(clock.inject_seconds),
                    format_seconds(clock.held_back_seconds)
                ),
                (Some(last), false) if clock.inject_seconds > 0.0 => format!(
                    "; putting the fault in place took {} up to {last}",
                    format_seconds(clock.inject_seconds)
                ),
                _ => String::new(),
            };
            let stop = match (clock.stopped_by, &clock.event) {
                (ClockStop::WatchEvent, Some(event)) => {
                    format!("to the watch event after which verify first reported recovery ({event})")
                }
                _ => "to the end of the verify call that first reported recovery".to_string(),
            };
            format!("{start} {stop}{inject}")
        }),
    }
}

fn checklist_row(phase: &str, row: &ChecklistRow) -> ChecklistReportRow {
    let (check, observed, expected) = match row.check {
        Check::MinReady => (
            "Minimum replicas maintained",
            format!("{} Ready at the lowest", row.observed),
            format!("at least {} (min_ready)", row.limit),
        ),
        Check::PdbRespected => (
            "PDB respected",
            format!("{} unavailable at once", row.observed),
            format!(
                "at most {} (PDB {})",
                row.limit,
                row.source.as_deref().unwrap_or("?")
            ),
        ),
        Check::FailedProbes => (
            "No 5xx errors or failed probes",
            format!("{} failed probes", row.observed),
            format!("at most {}", row.limit),
        ),
    };
    let status = if row.passed { "Pass" } else { "Fail" };
    ChecklistReportRow {
        phase: phase.to_string(),
        check: check.to_string(),
        service: row.service.clone(),
        observed,
        expected,
        status: if row.objective {
            format!("{status} (objective)")
        } else {
            status.to_string()
        },
        passed: row.passed,
    }
}

fn pod_rows(phase: &PhaseRecord) -> Vec<PodRow> {
    phase
        .pods
        .iter()
        .map(|pod| {
            let after = |at: Option<DateTime<Utc>>| match at {
                Some(at) => {
                    let ms = (at - pod.lost_at).num_milliseconds() as f64;
                    format!("+{}", format_seconds(ms / 1000.0))
                }
                None => "-".to_string(),
            };
            PodRow {
                phase: phase.name.clone(),
                pod: pod.pod.clone(),
                replacement: pod
                    .replacement
                    .clone()
                    .unwrap_or_else(|| "(none seen)".into()),
                placed: match (&pod.node, &pod.zone) {
                    (Some(node), Some(zone)) => format!("{node} ({zone})"),
                    (Some(node), None) => node.clone(),
                    _ => "-".to_string(),
                },
                created: after(pod.created_at),
                scheduled: after(pod.scheduled_at),
                started: after(pod.started_at),
                ready: after(pod.ready_at),
            }
        })
        .collect()
}

fn data_loss_row(phase: &PhaseRecord) -> Option<DataLossRow> {
    let loss = phase.data_loss.as_ref()?;
    // The verdict's own rule.
    let within_rpo = phase.rpo_target_seconds.is_none_or(|rpo| {
        // A stored target that is not a duration (negative, NaN) judges as zero.
        let rpo = std::time::Duration::try_from_secs_f64(rpo).unwrap_or(if rpo > 0.0 {
            std::time::Duration::MAX
        } else {
            std::time::Duration::ZERO
        });
        crate::measure::rpo_misses(rpo, loss).is_empty()
    });
    Some(DataLossRow {
        phase: phase.name.clone(),
        canaries_written: loss.canaries_written,
        canaries_acknowledged: loss.canaries_acknowledged,
        acknowledged_lost: loss.acknowledged_lost,
        backup_age: loss
            .backup_age_seconds
            .map_or_else(|| "-".to_string(), format_seconds),
        loss_window: format_seconds(loss.loss_window_seconds),
        target_rpo: phase
            .rpo_target_seconds
            .map_or_else(|| "none".to_string(), format_seconds),
        passed: within_rpo,
        method: loss.method.clone(),
    })
}

fn issues_and_actions(run: &RunRecord) -> (Vec<Issue>, Vec<ActionItem>) {
    let mut found = Findings::default();

    match &run.outcome {
        Outcome::Aborted { reason } => found.push(
            None,
            format!("The drill was aborted: {reason}."),
            format!(
                "Find the cause of the abort ({reason}) and re-run drill `{}` once it is fixed.",
                run.drill
            ),
        ),
        Outcome::Interrupted => {
            // What recovery did, from its first timeline line on: each rollback, the
            // canaries removed, what could not be done.
            let recovery: Vec<&str> = run
                .timeline
                .iter()
                .skip_while(|e| !e.message.starts_with("Run found interrupted"))
                .map(|e| e.message.trim_end_matches('.'))
                .collect();
            let issue = if recovery.is_empty() {
                "The run was interrupted: the daemon stopped mid-drill and rolled back on restart."
                    .to_string()
            } else {
                format!(
                    "The run was interrupted: the daemon stopped mid-drill. Recovery: {}.",
                    recovery.join("; ")
                )
            };
            found.push(
                None,
                issue,
                "Find why the daemon stopped during the drill and re-run it.".to_string(),
            );
        }
        Outcome::Error { message } => found.push(
            None,
            format!("The drill could not run: {message}."),
            format!(
                "Fix the cause ({message}) and re-run drill `{}`.",
                run.drill
            ),
        ),
        Outcome::NotStarted { reason } => found.push(
            None,
            format!("The drill did not start: {reason}."),
            format!(
                "Restore the steady state the checks describe (or correct the checks), then re-run drill `{}`.",
                run.drill
            ),
        ),
        Outcome::Passed | Outcome::Failed => {}
    }
    // Checks that did not hold during or after a phase or the drill.
    for summary in crate::check::summaries(&run.checks) {
        if summary.held || summary.stage == crate::run::CheckStage::Before {
            continue;
        }
        let phase = summary.phase;
        let what = match phase {
            Some(phase) => format!("phase `{phase}`"),
            None => "the drill".to_string(),
        };
        found.push(
            phase,
            format!(
                "PromQL check `{}` did not hold {} {what}: {}.",
                summary.check,
                match summary.stage {
                    crate::run::CheckStage::During => "during",
                    _ => "after",
                },
                summary.deciding.message
            ),
            format!(
                "Find why `{}` broke ({}) and fix it, or correct the check.",
                summary.check, summary.deciding.query
            ),
        );
    }

    for phase in &run.phases {
        let name = phase.name.as_str();
        let before = found.issues.len();
        if let (Some(actual), Some(target)) = (phase.recovery_seconds, phase.rto_target_seconds)
            && actual > target
        {
            found.push(
                    Some(name),
                    format!(
                        "Slow recovery in phase `{name}`: {} against a {} RTO target (+{}).",
                        format_seconds(actual),
                        format_seconds(target),
                        format_seconds(actual - target)
                    ),
                    format!(
                        "Find what slowed recovery in `{name}` ({} against {}) and bring it under target.",
                        format_seconds(actual),
                        format_seconds(target)
                    ),
                );
        }
        match &phase.verdict {
            // Handled after the figures below.
            PhaseVerdict::Failed { .. } => {}
            PhaseVerdict::TimedOut => found.push(
                Some(name),
                format!(
                    "Phase `{name}` did not recover before its deadline{}.",
                    phase
                        .rto_target_seconds
                        .map(|t| format!(" (RTO target {})", format_seconds(t)))
                        .unwrap_or_default()
                ),
                format!("Find why `{name}` never recovered and fix the recovery path."),
            ),
            PhaseVerdict::Aborted { reason } => found.push(
                Some(name),
                format!("Phase `{name}` was aborted: {reason}."),
                format!("Review the abort condition hit in `{name}` ({reason})."),
            ),
            PhaseVerdict::Error { message } => found.push(
                Some(name),
                format!("Phase `{name}` failed with an error: {message}."),
                format!("Fix the error in `{name}` ({message})."),
            ),
            PhaseVerdict::Passed | PhaseVerdict::Skipped | PhaseVerdict::Interrupted => {}
        }
        if let Some(loss) = &phase.data_loss
            && loss.acknowledged_lost > 0
        {
            found.push(
                    Some(name),
                    format!(
                        "Data loss in phase `{name}`: {} of {} acknowledged writes lost, loss window {}{}.",
                        loss.acknowledged_lost,
                        loss.canaries_acknowledged,
                        format_seconds(loss.loss_window_seconds),
                        phase
                            .rpo_target_seconds
                            .map(|t| format!(" (RPO target {})", format_seconds(t)))
                            .unwrap_or_default()
                    ),
                    format!(
                        "Find how acknowledged writes were lost in `{name}` and check replication settings."
                    ),
                );
        }
        for a in &phase.availability {
            if a.successes < a.probes {
                let below = phase.availability_floor.filter(|floor| a.ratio() < *floor);
                found.push(
                    Some(name),
                    format!(
                        "Availability dip for `{}` during `{name}`: {} ({} of {} probes failed, p95 {}){}.",
                        a.service,
                        format_percent(a.ratio()),
                        a.probes - a.successes,
                        a.probes,
                        format_latency(a.latency_p95_seconds),
                        below
                            .map(|floor| format!(", below the {} floor", format_percent(floor)))
                            .unwrap_or_default()
                    ),
                    format!(
                        "Find why `{}` failed probes during `{name}` (replicas, PDB, readiness, client retries).",
                        a.service
                    ),
                );
            }
        }
        for row in phase
            .checklist
            .iter()
            .filter(|r| !r.passed && r.check != Check::FailedProbes)
        {
            found.push(
                Some(name),
                format!(
                    "Checklist in phase `{name}`: {}.",
                    crate::measure::checklist_miss(row)
                ),
                match row.check {
                    Check::MinReady => format!(
                        "Raise `{}`'s replicas or its disruption budget so that a `{name}` keeps {} Ready.",
                        row.service, row.limit
                    ),
                    _ => format!(
                        "Find how `{name}` took more of `{}`'s pods at once than its budget allows.",
                        row.service
                    ),
                },
            );
        }
        for step in &phase.follow_ups {
            found.push(
                Some(name),
                format!("Manual follow-up left by phase `{name}`: {step}"),
                step.clone(),
            );
        }
        // The engine's reasons repeat what the figures above already say (RTO, loss,
        // dips); they are listed only for a failed phase that no figure explains.
        if let PhaseVerdict::Failed { reasons } = &phase.verdict
            && found.issues.len() == before
        {
            for reason in reasons {
                found.push(
                    Some(name),
                    format!("Phase `{name}` missed an objective: {reason}."),
                    format!("Address `{name}`: {reason}."),
                );
            }
        }
    }
    // Steps a scenario cannot undo itself (e.g. rebuilding a failed-over database's old
    // primary) arrive as `follow-up.txt` evidence, one step a line.
    for evidence in run.evidence.iter().filter(|e| e.name == FOLLOW_UP_EVIDENCE) {
        for step in evidence
            .content
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            let issue = match &evidence.phase {
                Some(phase) => format!("Manual follow-up left by phase `{phase}`: {step}"),
                None => format!("Manual follow-up: {step}"),
            };
            found.push(evidence.phase.as_deref(), issue, step.to_string());
        }
    }
    (found.issues, found.actions)
}

/// The evidence name under which a scenario lists manual follow-up steps, one a line.
pub const FOLLOW_UP_EVIDENCE: &str = "follow-up.txt";

/// The evidence name under which a scenario announces what it did (its first line), for
/// everyone the run tells: the timeline, the report and email, the webhooks.
pub const ANNOUNCEMENT_EVIDENCE: &str = "announcement.txt";

/// One announcement of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Announcement {
    pub phase: Option<String>,
    /// `09:41:07 UTC`.
    pub at: String,
    pub text: String,
}

/// What an `announcement.txt` announces: its first line that is not blank.
pub fn announced(content: &str) -> Option<&str> {
    content.lines().map(str::trim).find(|l| !l.is_empty())
}

/// The run's announcements: the first line of each `announcement.txt`, oldest first.
pub fn announcements(run: &RunRecord) -> Vec<Announcement> {
    let mut found: Vec<(&Evidence, &str)> = run
        .evidence
        .iter()
        .filter(|e| e.name == ANNOUNCEMENT_EVIDENCE)
        .filter_map(|e| Some((e, announced(&e.content)?)))
        .collect();
    found.sort_by_key(|(e, _)| e.captured_at);
    found
        .into_iter()
        .map(|(e, text)| Announcement {
            phase: e.phase.clone(),
            at: e.captured_at.format("%H:%M:%S UTC").to_string(),
            text: text.to_string(),
        })
        .collect()
}

#[derive(Default)]
struct Findings {
    issues: Vec<Issue>,
    actions: Vec<ActionItem>,
}

impl Findings {
    fn push(&mut self, phase: Option<&str>, issue: String, action: String) {
        self.issues.push(Issue {
            phase: phase.map(str::to_string),
            text: issue,
        });
        self.actions.push(ActionItem { text: action });
    }
}

fn executive_summary(
    run: &RunRecord,
    recovery: &[RecoveryRow],
    availability: &[AvailabilityRow],
    data_loss: &[DataLossRow],
    issue_count: usize,
) -> String {
    let mut sentences = Vec::new();
    let duration = run
        .duration_seconds()
        .map(|s| format!(" and took {}", format_seconds(s)))
        .unwrap_or_default();
    sentences.push(format!(
        "Drill `{}` ran on target `{}` on {}{}, triggered by {}.",
        run.drill,
        run.target,
        run.started_at.format("%Y-%m-%d at %H:%M UTC"),
        duration,
        describe_trigger(&run.trigger)
    ));
    let passed = recovery.iter().filter(|r| r.passed).count();
    let verdict = match &run.outcome {
        Outcome::Passed => "Result: PASSED".to_string(),
        Outcome::Failed => "Result: FAILED".to_string(),
        Outcome::Aborted { reason } => format!("Result: ABORTED ({reason})"),
        Outcome::Interrupted => "Result: INTERRUPTED".to_string(),
        Outcome::Error { message } => format!("Result: ERROR ({message})"),
        Outcome::NotStarted { reason } => format!("Result: NOT STARTED ({reason})"),
    };
    sentences.push(format!(
        "{verdict}; {passed} of {} phases met their objectives.",
        recovery.len()
    ));
    let slow: Vec<String> = recovery
        .iter()
        .filter_map(|r| match (r.actual_rto_seconds, r.target_rto_seconds) {
            (Some(actual), Some(target)) if actual > target => Some(format!(
                "`{}` recovered in {} against {}",
                r.phase,
                format_seconds(actual),
                format_seconds(target)
            )),
            _ => None,
        })
        .collect();
    if !slow.is_empty() {
        sentences.push(format!("Recovery over target: {}.", slow.join("; ")));
    }
    if let Some(worst) = availability.iter().min_by(|a, b| {
        a.min_availability_ratio
            .total_cmp(&b.min_availability_ratio)
    }) {
        if worst.min_availability_ratio < 1.0 {
            sentences.push(format!(
                "Lowest availability: `{}` at {}.",
                worst.service, worst.min_availability
            ));
        } else {
            sentences.push("Every probed service stayed fully available.".to_string());
        }
    }
    if !data_loss.is_empty() {
        let lost: u64 = data_loss.iter().map(|d| d.acknowledged_lost).sum();
        sentences.push(if lost == 0 {
            "No acknowledged write was lost.".to_string()
        } else {
            format!("{lost} acknowledged writes were lost.")
        });
    }
    sentences.push(match issue_count {
        0 => "No issues were identified.".to_string(),
        1 => "1 issue was identified.".to_string(),
        n => format!("{n} issues were identified."),
    });
    sentences.join(" ")
}
