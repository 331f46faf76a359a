//! The console's page models: plain serde data built by pure functions from the configuration, stored runs and plans, which the templates only lay out.
//!
//! Every text a page shows (times, figures, URLs, what a status means) is decided here,
//! so templates stay free of logic and the rules are unit-tested.

use chrono::{DateTime, Utc};
use firedrill_core::config::{Config, Drill};
use firedrill_core::report::{Audit, Report, format_latency, format_percent, format_seconds};
use firedrill_core::run::{Outcome, PhaseVerdict, RunRecord};
use firedrill_store::{Delivery, PushDelivery, StoredRun};
use serde::Serialize;

use crate::app::plan::DrillPlan;

/// Runs per page of `/runs`.
pub const RUNS_PER_PAGE: usize = 20;

/// Every outcome label, in the order the filter offers them.
pub const OUTCOMES: [&str; 6] = [
    "passed",
    "failed",
    "aborted",
    "interrupted",
    "error",
    "not-started",
];

/// What every page shares: its title, which navigation entry is current, and whether
/// the sign-out button is shown.
#[derive(Debug, Clone, Serialize)]
pub struct Layout {
    pub title: String,
    /// `drills`, `runs`, `audit`, or empty.
    pub section: &'static str,
    pub signed_in: bool,
}

/// An instant as people read it and as `<time datetime>` carries it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stamp {
    pub text: String,
    pub iso: String,
}

impl Stamp {
    pub fn of(at: DateTime<Utc>) -> Stamp {
        Stamp {
            text: at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            iso: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

/// A path segment, percent-encoded (names are DNS-label-like, but a URL is never built
/// from unchecked text).
pub fn segment(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `/runs/ID`.
pub fn run_url(id: &str) -> String {
    format!("/runs/{}", segment(id))
}

/// A query string from its non-empty pairs: `?drill=a&page=2`, or empty.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (key, value) in pairs {
        if !value.is_empty() {
            serializer.append_pair(key, value);
            any = true;
        }
    }
    if any {
        format!("?{}", serializer.finish())
    } else {
        String::new()
    }
}

/// Whether an outcome is good news; the label always says which it is, colour only adds.
fn outcome_tone(label: &str) -> &'static str {
    match label {
        "passed" => "ok",
        "failed" | "error" | "interrupted" => "bad",
        _ => "warn",
    }
}

/// A stored run as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub id: String,
    pub url: String,
    pub drill: String,
    pub started: Stamp,
    #[serde(skip)]
    pub started_at: DateTime<Utc>,
    pub duration: String,
    pub outcome: String,
    pub tone: &'static str,
    /// The email's delivery, when read (`delivered (1 attempt)`).
    pub email: Option<String>,
}

impl RunSummary {
    pub fn of(run: &RunRecord) -> RunSummary {
        let outcome = run.outcome.label();
        RunSummary {
            id: run.id.clone(),
            url: run_url(&run.id),
            drill: run.drill.clone(),
            started: Stamp::of(run.started_at),
            started_at: run.started_at,
            duration: run
                .duration_seconds()
                .map_or_else(|| "-".to_string(), format_seconds),
            outcome: outcome.to_string(),
            tone: outcome_tone(outcome),
            email: None,
        }
    }
}

/// `delivered (1 attempt)`, `pending (3 attempts): connection refused`.
pub fn describe_delivery(delivery: &Delivery) -> String {
    let attempts = if delivery.attempts == 1 {
        "1 attempt".to_string()
    } else {
        format!("{} attempts", delivery.attempts)
    };
    match &delivery.last_error {
        Some(error) if delivery.status != "delivered" => {
            format!("{} ({attempts}): {error}", delivery.status)
        }
        _ => format!("{} ({attempts})", delivery.status),
    }
}

// ---------------------------------------------------------------------------------------
// `/`: the drills.

/// A drill's schedule in words.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleView {
    /// `weekly`, `monthly`, ...
    pub cadence: String,
    pub cron: String,
    pub timezone: String,
    /// `Tue 2026-11-24 10:00 CET (+01:00)`.
    pub next_local: Option<String>,
    pub next: Option<Stamp>,
}

/// One row of `/`.
#[derive(Debug, Clone, Serialize)]
pub struct DrillRow {
    pub name: String,
    pub description: Option<String>,
    pub target: String,
    pub phases: Vec<String>,
    pub schedule: Option<ScheduleView>,
    pub last: Option<RunSummary>,
    /// `None` for a drill without a schedule (it cannot be late).
    pub overdue: Option<bool>,
    pub plan_url: String,
    pub runs_url: String,
}

/// The run in progress, with its abort form.
#[derive(Debug, Clone, Serialize)]
pub struct RunningView {
    pub run_id: String,
    pub abort_url: String,
}

/// `/`.
#[derive(Debug, Clone, Serialize)]
pub struct DrillsPage {
    pub layout: Layout,
    pub drills: Vec<DrillRow>,
    pub running: Option<RunningView>,
    /// What the last form did (`Drill single-pod queued ...`).
    pub notice: Option<String>,
    /// Whether an admin token is configured (the abort form is shown).
    pub can_trigger: bool,
    pub leading: bool,
}

/// The drills page: each configured drill with its schedule, next slot, last run (from
/// `runs`, any order) and overdue flag (`overdue` says, per drill).
pub fn drills_page(
    layout: Layout,
    config: &Config,
    runs: &[RunSummary],
    overdue: impl Fn(&Drill) -> Option<bool>,
    now: DateTime<Utc>,
) -> DrillsPage {
    let drills = config
        .drills
        .iter()
        .map(|drill| {
            let schedule = drill.schedule.as_ref().map(|s| {
                let next = s.schedule.next_runs(now, 1).first().copied();
                ScheduleView {
                    cadence: crate::app::calendar::cadence(&s.schedule, now),
                    cron: s.schedule.cron.to_string(),
                    timezone: s.schedule.timezone.name().to_string(),
                    next_local: next
                        .map(|at| crate::app::calendar::format_local(at, s.schedule.timezone)),
                    next: next.map(Stamp::of),
                }
            });
            let last = runs
                .iter()
                .filter(|run| run.drill == drill.name)
                .max_by_key(|run| run.started_at)
                .cloned();
            DrillRow {
                name: drill.name.clone(),
                description: drill.description.clone(),
                target: drill.target.clone(),
                phases: drill.phases.iter().map(|p| p.name.clone()).collect(),
                schedule,
                last,
                overdue: overdue(drill),
                plan_url: format!("/drills/{}/plan", segment(&drill.name)),
                runs_url: format!("/runs{}", query(&[("drill", &drill.name)])),
            }
        })
        .collect();
    DrillsPage {
        layout,
        drills,
        running: None,
        notice: None,
        can_trigger: false,
        leading: true,
    }
}

// ---------------------------------------------------------------------------------------
// `/runs`: the runs, filtered and paginated.

/// What `/runs` was asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunsFilter {
    pub drill: Option<String>,
    pub outcome: Option<String>,
    /// 1-based.
    pub page: usize,
}

impl RunsFilter {
    /// From the query's texts: empty means no filter, a page that is not a positive
    /// number is the first.
    pub fn parse(drill: Option<&str>, outcome: Option<&str>, page: Option<&str>) -> RunsFilter {
        let some = |text: Option<&str>| {
            text.map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
        };
        RunsFilter {
            drill: some(drill),
            outcome: some(outcome),
            page: page
                .and_then(|p| p.trim().parse::<usize>().ok())
                .filter(|p| *p > 0)
                .unwrap_or(1),
        }
    }

    fn url(&self, page: usize) -> String {
        let page = if page > 1 {
            page.to_string()
        } else {
            String::new()
        };
        format!(
            "/runs{}",
            query(&[
                ("drill", self.drill.as_deref().unwrap_or("")),
                ("outcome", self.outcome.as_deref().unwrap_or("")),
                ("page", &page),
            ])
        )
    }
}

/// One page of runs out of those matching a filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub rows: Vec<RunSummary>,
    pub total: usize,
    pub page: usize,
    pub pages: usize,
}

/// The runs matching `filter`, newest first, cut to its page (a page past the last shows
/// the last).
pub fn select(mut runs: Vec<RunSummary>, filter: &RunsFilter) -> Selection {
    runs.retain(|run| {
        filter.drill.as_ref().is_none_or(|d| &run.drill == d)
            && filter.outcome.as_ref().is_none_or(|o| &run.outcome == o)
    });
    runs.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(b.id.cmp(&a.id)));
    let total = runs.len();
    let pages = total.div_ceil(RUNS_PER_PAGE).max(1);
    let page = filter.page.clamp(1, pages);
    let rows = runs
        .into_iter()
        .skip((page - 1) * RUNS_PER_PAGE)
        .take(RUNS_PER_PAGE)
        .collect();
    Selection {
        rows,
        total,
        page,
        pages,
    }
}

/// An option of a `<select>`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    pub value: String,
    pub selected: bool,
}

/// `/runs`.
#[derive(Debug, Clone, Serialize)]
pub struct RunsPage {
    pub layout: Layout,
    pub drills: Vec<Choice>,
    pub outcomes: Vec<Choice>,
    pub rows: Vec<RunSummary>,
    pub total: usize,
    pub page: usize,
    pub pages: usize,
    /// `Runs 21–40 of 45`, or that none match.
    pub showing: String,
    pub previous_url: Option<String>,
    pub next_url: Option<String>,
    pub filtered: bool,
}

/// The runs page of `selection`; the drill filter offers the configured drills and any
/// other drill `known` (drills of stored runs).
pub fn runs_page(
    layout: Layout,
    config: &Config,
    known: &[String],
    selection: Selection,
    filter: &RunsFilter,
) -> RunsPage {
    let mut names: Vec<String> = config.drills.iter().map(|d| d.name.clone()).collect();
    for name in known {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    if let Some(drill) = &filter.drill
        && !names.contains(drill)
    {
        names.push(drill.clone());
    }
    let drills = names
        .into_iter()
        .map(|value| Choice {
            selected: filter.drill.as_ref() == Some(&value),
            value,
        })
        .collect();
    let outcomes = OUTCOMES
        .iter()
        .map(|value| Choice {
            value: (*value).to_string(),
            selected: filter.outcome.as_deref() == Some(*value),
        })
        .collect();
    let first = (selection.page - 1) * RUNS_PER_PAGE + 1;
    let last = first + selection.rows.len() - usize::from(!selection.rows.is_empty());
    let showing = if selection.total == 0 {
        "No run matches.".to_string()
    } else {
        format!("Runs {first}–{last} of {}", selection.total)
    };
    RunsPage {
        layout,
        drills,
        outcomes,
        showing,
        previous_url: (selection.page > 1).then(|| filter.url(selection.page - 1)),
        next_url: (selection.page < selection.pages).then(|| filter.url(selection.page + 1)),
        filtered: filter.drill.is_some() || filter.outcome.is_some(),
        total: selection.total,
        page: selection.page,
        pages: selection.pages,
        rows: selection.rows,
    }
}

// ---------------------------------------------------------------------------------------
// `/runs/ID`: one run.

/// One phase's figures.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseView {
    pub name: String,
    pub scenario: String,
    pub verdict: String,
    pub tone: &'static str,
    /// Why it did not pass, in sentences.
    pub reasons: Vec<String>,
    pub started: Stamp,
    pub injected: Option<Stamp>,
    pub recovered: Option<Stamp>,
    pub target_rto: String,
    pub actual_rto: String,
    /// `met`, `missed`, `n/a`: the RTO against its target.
    pub rto_status: String,
    /// The lowest availability of any service during the phase, and which.
    pub min_availability: String,
    pub availability_floor: String,
    pub data_loss: Option<String>,
    pub rollback: Option<String>,
    pub detection: Option<String>,
}

fn phase_view(phase: &firedrill_core::run::PhaseRecord) -> PhaseView {
    let reasons = match &phase.verdict {
        PhaseVerdict::Failed { reasons } => reasons.clone(),
        PhaseVerdict::Aborted { reason } => vec![reason.clone()],
        PhaseVerdict::Error { message } => vec![message.clone()],
        PhaseVerdict::TimedOut => vec!["not recovered before the phase deadline".to_string()],
        PhaseVerdict::Passed | PhaseVerdict::Skipped | PhaseVerdict::Interrupted => Vec::new(),
    };
    let label = phase.verdict.label();
    let rto_status = match (phase.rto_target_seconds, phase.recovery_seconds) {
        (Some(target), Some(actual)) if actual <= target => "met",
        (Some(_), _) => "missed",
        (None, _) => "n/a",
    };
    let lowest = phase
        .availability
        .iter()
        .min_by(|a, b| a.ratio().total_cmp(&b.ratio()));
    PhaseView {
        name: phase.name.clone(),
        scenario: phase.scenario.clone(),
        verdict: label.to_string(),
        tone: match label {
            "passed" => "ok",
            "skipped" => "warn",
            _ => "bad",
        },
        reasons,
        started: Stamp::of(phase.started_at),
        injected: phase.injected_at.map(Stamp::of),
        recovered: phase.recovered_at.map(Stamp::of),
        target_rto: phase
            .rto_target_seconds
            .map_or_else(|| "none".to_string(), format_seconds),
        actual_rto: phase
            .recovery_seconds
            .map_or_else(|| "not recovered".to_string(), format_seconds),
        rto_status: rto_status.to_string(),
        min_availability: lowest.map_or_else(
            || "no probes".to_string(),
            |a| format!("{} ({})", format_percent(a.ratio()), a.service),
        ),
        availability_floor: phase
            .availability_floor
            .map_or_else(|| "none".to_string(), format_percent),
        data_loss: phase.data_loss.as_ref().map(|loss| {
            format!(
                "{} of {} acknowledged writes lost, window {}",
                loss.acknowledged_lost,
                loss.canaries_acknowledged,
                format_seconds(loss.loss_window_seconds)
            )
        }),
        rollback: phase.rollback.clone(),
        detection: phase.detection.clone(),
    }
}

/// A service's availability over the whole run.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceView {
    pub service: String,
    pub availability: String,
    pub probes: u64,
    pub failed: u64,
    pub latency_p95: String,
}

/// One piece of evidence and its hash.
#[derive(Debug, Clone, Serialize)]
pub struct EvidenceView {
    pub name: String,
    pub phase: Option<String>,
    pub captured: Stamp,
    pub sha256: String,
}

/// A named hash (a report file, a plugin).
#[derive(Debug, Clone, Serialize)]
pub struct Hash {
    pub name: String,
    pub sha256: String,
}

/// Where one message about the run stands.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    /// `email`, `webhook:chat:finished`, `grafana:kill`.
    pub channel: String,
    pub status: String,
    pub tone: &'static str,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub enqueued: Stamp,
    pub delivered: Option<Stamp>,
    pub next_attempt: Option<Stamp>,
}

fn delivery_view(channel: &str, delivery: &Delivery) -> DeliveryView {
    let delivered = delivery.status == "delivered";
    DeliveryView {
        channel: channel.to_string(),
        status: delivery.status.clone(),
        tone: if delivered { "ok" } else { "warn" },
        attempts: delivery.attempts,
        last_error: delivery.last_error.clone(),
        enqueued: Stamp::of(delivery.enqueued_at),
        delivered: delivery.delivered_at.map(Stamp::of),
        next_attempt: (!delivered).then(|| Stamp::of(delivery.next_attempt_at)),
    }
}

/// `/runs/ID`.
#[derive(Debug, Clone, Serialize)]
pub struct RunPage {
    pub layout: Layout,
    pub run_id: String,
    pub drill: String,
    pub description: Option<String>,
    pub target: String,
    pub trigger: String,
    pub started: Stamp,
    pub finished: Option<Stamp>,
    pub duration: String,
    pub outcome: String,
    pub tone: &'static str,
    /// Why it was aborted, errored or not started.
    pub outcome_reason: Option<String>,
    pub executive_summary: String,
    pub phases: Vec<PhaseView>,
    pub services: Vec<ServiceView>,
    pub evidence: Vec<EvidenceView>,
    pub config_sha256: String,
    pub plugins: Vec<Hash>,
    pub report_files: Vec<Hash>,
    pub chain_seq: u64,
    pub record_sha256: String,
    pub previous_sha256: String,
    pub signed: bool,
    pub appended: Stamp,
    pub email_configured: bool,
    pub email: Option<DeliveryView>,
    pub pushes: Vec<DeliveryView>,
    pub report_url: String,
    pub json_url: String,
}

/// The page of one stored run with its email's and pushes' delivery.
pub fn run_page(
    layout: Layout,
    config: &Config,
    stored: &StoredRun,
    email: Option<&Delivery>,
    pushes: &[PushDelivery],
) -> RunPage {
    let run = &stored.entry.run;
    let report = Report::from_run(run, config.drill(&run.drill), &config.report.participants);
    let outcome = run.outcome.label();
    let outcome_reason = match &run.outcome {
        Outcome::Aborted { reason } | Outcome::NotStarted { reason } => Some(reason.clone()),
        Outcome::Error { message } => Some(message.clone()),
        Outcome::Interrupted => Some("the daemon stopped mid-run; it was rolled back".into()),
        Outcome::Passed | Outcome::Failed => None,
    };
    RunPage {
        layout,
        run_id: run.id.clone(),
        drill: run.drill.clone(),
        description: report.description.clone(),
        target: run.target.clone(),
        trigger: report.trigger.clone(),
        started: Stamp::of(run.started_at),
        finished: run.finished_at.map(Stamp::of),
        duration: report.duration.clone(),
        outcome: outcome.to_string(),
        tone: outcome_tone(outcome),
        outcome_reason,
        executive_summary: report.executive_summary.clone(),
        phases: run.phases.iter().map(phase_view).collect(),
        services: run
            .availability
            .iter()
            .map(|a| ServiceView {
                service: a.service.clone(),
                availability: format_percent(a.ratio()),
                probes: a.probes,
                failed: a.probes.saturating_sub(a.successes),
                latency_p95: format_latency(a.latency_p95_seconds),
            })
            .collect(),
        evidence: run
            .evidence
            .iter()
            .map(|e| EvidenceView {
                name: e.name.clone(),
                phase: e.phase.clone(),
                captured: Stamp::of(e.captured_at),
                sha256: e.sha256.clone(),
            })
            .collect(),
        config_sha256: run.config_sha256.clone(),
        plugins: run
            .plugin_sha256
            .iter()
            .map(|(name, sha256)| Hash {
                name: name.clone(),
                sha256: sha256.clone(),
            })
            .collect(),
        report_files: stored
            .entry
            .report_sha256
            .iter()
            .map(|(name, sha256)| Hash {
                name: name.clone(),
                sha256: sha256.clone(),
            })
            .collect(),
        chain_seq: stored.entry.seq,
        record_sha256: stored.sha256.clone(),
        previous_sha256: stored.entry.prev_sha256.clone(),
        signed: stored.signed,
        appended: Stamp::of(stored.entry.appended_at),
        email_configured: config.email.is_some(),
        email: email.map(|d| delivery_view("email", d)),
        pushes: pushes
            .iter()
            .map(|p| delivery_view(&p.channel, &p.delivery))
            .collect(),
        report_url: format!("{}/report", run_url(&run.id)),
        json_url: format!("/api/v1/runs/{}", segment(&run.id)),
    }
}

// ---------------------------------------------------------------------------------------
// `/audit`.

/// `/audit`: the period view of `firedrill audit`, with its form.
#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    pub layout: Layout,
    /// The form's values (`YYYY-MM-DD`, or what was typed).
    pub since: String,
    pub until: String,
    /// Why the period was refused; the form is shown again.
    pub error: Option<String>,
    pub audit: Option<Audit>,
    /// The audit's instants as people read them.
    pub period: Option<PeriodView>,
    /// The runs that served no slot, as lists show them.
    pub unscheduled: Vec<UnscheduledRun>,
    /// `/audit/bundle?...`, when the evidence bundle can be downloaded.
    pub bundle_url: Option<String>,
}

/// The instants of an audit.
#[derive(Debug, Clone, Serialize)]
pub struct PeriodView {
    pub since: Stamp,
    pub until: Stamp,
    pub generated: Stamp,
}

/// A run in the period that served no slot.
#[derive(Debug, Clone, Serialize)]
pub struct UnscheduledRun {
    pub id: String,
    pub url: String,
    pub drill: String,
    pub started: Stamp,
    pub outcome: String,
    pub tone: &'static str,
}

impl AuditPage {
    /// Shows `audit` on the page.
    pub fn show(&mut self, audit: Audit) {
        self.period = Some(PeriodView {
            since: Stamp::of(audit.since),
            until: Stamp::of(audit.until),
            generated: Stamp::of(audit.generated_at),
        });
        self.unscheduled = audit
            .unscheduled_runs
            .iter()
            .map(|run| {
                let outcome = run.outcome.label();
                UnscheduledRun {
                    id: run.run_id.clone(),
                    url: run_url(&run.run_id),
                    drill: run.drill.clone(),
                    started: Stamp::of(run.started_at),
                    outcome: outcome.to_string(),
                    tone: outcome_tone(outcome),
                }
            })
            .collect();
        self.audit = Some(audit);
    }
}

// ---------------------------------------------------------------------------------------
// `/drills/NAME/plan`.

/// One planned action.
#[derive(Debug, Clone, Serialize)]
pub struct ActionView {
    pub kind: String,
    pub target: String,
    pub detail: String,
}

/// One phase of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedPhaseView {
    pub phase: String,
    pub scenario: String,
    /// The target it acts on, when it is not the drill's (drills spanning clusters).
    pub target: Option<String>,
    pub actions: Vec<ActionView>,
    /// Why its plan could not be had.
    pub error: Option<String>,
    pub canary: Option<String>,
}

/// `/drills/NAME/plan`.
#[derive(Debug, Clone, Serialize)]
pub struct PlanPage {
    pub layout: Layout,
    pub drill: String,
    pub description: Option<String>,
    pub target: String,
    pub phases: Vec<PlannedPhaseView>,
    pub blast_radius: String,
    pub exceeded: Vec<String>,
    /// Why no plan could be had at all (the target does not answer).
    pub error: Option<String>,
    pub can_trigger: bool,
    pub leading: bool,
    pub trigger_url: String,
}

/// The plan page of `drill`: `plan` when it could be had, else why not.
pub fn plan_page(layout: Layout, drill: &Drill, plan: Result<&DrillPlan, String>) -> PlanPage {
    let mut page = PlanPage {
        layout,
        drill: drill.name.clone(),
        description: drill.description.clone(),
        target: drill.target.clone(),
        phases: Vec::new(),
        blast_radius: String::new(),
        exceeded: Vec::new(),
        error: None,
        can_trigger: false,
        leading: true,
        trigger_url: format!("/drills/{}/run", segment(&drill.name)),
    };
    match plan {
        Ok(plan) => {
            page.target = plan.target.clone();
            page.blast_radius = plan.blast_radius();
            page.exceeded = plan.exceeded.clone();
            page.phases = plan
                .phases
                .iter()
                .map(|phase| {
                    let (actions, error) = match &phase.actions {
                        Ok(actions) => (
                            actions
                                .iter()
                                .map(|a| ActionView {
                                    kind: a.kind.clone(),
                                    target: a.target.clone(),
                                    detail: a.detail.clone(),
                                })
                                .collect(),
                            None,
                        ),
                        Err(err) => (Vec::new(), Some(err.clone())),
                    };
                    PlannedPhaseView {
                        phase: phase.phase.clone(),
                        scenario: phase.scenario.clone(),
                        target: (phase.target != plan.target).then(|| phase.target.clone()),
                        actions,
                        error,
                        canary: phase.canary.as_ref().map(|c| {
                            format!("canary on connection {}: {}", c.connection, c.describe())
                        }),
                    }
                })
                .collect();
        }
        Err(err) => page.error = Some(err),
    }
    page
}

// ---------------------------------------------------------------------------------------
// Sign-in and messages.

/// `/login`.
#[derive(Debug, Clone, Serialize)]
pub struct LoginPage {
    pub layout: Layout,
    /// Where to go once signed in (a local path).
    pub next: String,
    pub error: Option<String>,
}

/// A page that only says something: a refused form, a missing run.
#[derive(Debug, Clone, Serialize)]
pub struct MessagePage {
    pub layout: Layout,
    pub heading: String,
    pub message: String,
    pub back_url: String,
    pub back_text: String,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn summary(id: &str, drill: &str, outcome: &str, minute: u32) -> RunSummary {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 2, 9, minute, 0)
            .single()
            .unwrap();
        RunSummary {
            id: id.into(),
            url: run_url(id),
            drill: drill.into(),
            started: Stamp::of(at),
            started_at: at,
            duration: "-".into(),
            outcome: outcome.into(),
            tone: outcome_tone(outcome),
            email: None,
        }
    }

    #[test]
    fn runs_are_filtered_by_drill_and_outcome_newest_first() {
        let runs = vec![
            summary("a", "single-pod", "passed", 1),
            summary("b", "zone", "failed", 2),
            summary("c", "single-pod", "failed", 3),
            summary("d", "single-pod", "passed", 4),
        ];
        let all = select(runs.clone(), &RunsFilter::parse(None, None, None));
        let ids: Vec<_> = all.rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["d", "c", "b", "a"]);
        let passed = select(
            runs.clone(),
            &RunsFilter::parse(Some("single-pod"), Some("passed"), None),
        );
        let ids: Vec<_> = passed.rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["d", "a"]);
        assert_eq!(passed.total, 2);
        let none = select(runs, &RunsFilter::parse(Some("zone"), Some("passed"), None));
        assert_eq!((none.total, none.page, none.pages), (0, 1, 1));
    }

    #[test]
    fn pages_hold_twenty_runs_and_link_their_neighbours_with_the_filter_kept() {
        let runs: Vec<_> = (0..45)
            .map(|i| summary(&format!("r{i:02}"), "single-pod", "passed", i))
            .collect();
        let filter = RunsFilter::parse(Some("single-pod"), None, Some("2"));
        let selection = select(runs.clone(), &filter);
        assert_eq!(selection.rows.len(), 20);
        assert_eq!((selection.page, selection.pages), (2, 3));
        assert_eq!(selection.rows[0].id, "r24");
        let config = firedrill_core::config::load_str(
            "t.yaml",
            "version: 1\ndrills:\n  single-pod:\n    phases: [{ name: kill, scenario: pod-failure }]\n",
            std::path::Path::new("."),
            &crate::resolve_context(),
        )
        .unwrap();
        let layout = Layout {
            title: "Runs".into(),
            section: "runs",
            signed_in: false,
        };
        let page = runs_page(layout.clone(), &config, &[], selection, &filter);
        assert_eq!(page.showing, "Runs 21–40 of 45");
        assert_eq!(page.previous_url.as_deref(), Some("/runs?drill=single-pod"));
        assert_eq!(
            page.next_url.as_deref(),
            Some("/runs?drill=single-pod&page=3")
        );
        // A page past the last shows the last.
        let last = select(runs, &RunsFilter::parse(None, None, Some("99")));
        assert_eq!((last.page, last.rows.len()), (3, 5));
        let page = runs_page(layout, &config, &[], last, &RunsFilter::default());
        assert_eq!(page.showing, "Runs 41–45 of 45");
        assert_eq!(page.next_url, None);
    }

    #[test]
    fn a_page_number_that_is_not_a_positive_number_is_the_first() {
        assert_eq!(RunsFilter::parse(None, None, Some("x")).page, 1);
        assert_eq!(RunsFilter::parse(None, None, Some("0")).page, 1);
        assert_eq!(RunsFilter::parse(Some(" "), Some(""), None).drill, None);
    }

    #[test]
    fn a_delivery_reads_as_its_status_attempts_and_last_error_until_delivered() {
        let at = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).single().unwrap();
        let mut delivery = Delivery {
            status: "pending".into(),
            attempts: 3,
            last_error: Some("connection refused".into()),
            next_attempt_at: at,
            enqueued_at: at,
            delivered_at: None,
        };
        assert_eq!(
            describe_delivery(&delivery),
            "pending (3 attempts): connection refused"
        );
        delivery.status = "delivered".into();
        delivery.attempts = 1;
        assert_eq!(describe_delivery(&delivery), "delivered (1 attempt)");
    }
}
