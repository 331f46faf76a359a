//! What a webhook POSTs about a run: the versioned JSON summary ([`RunSummary`]) and its
//! rendering as a Slack message ([`slack_message`]). Pure: no I/O.

use chrono::{DateTime, Utc};
use firedrill_core::config::{Drill, WebhookEvent, WebhookFormat};
use firedrill_core::report::{Report, format_seconds};
use firedrill_core::run::{Outcome, PhaseRecord, PhaseVerdict, RunRecord, Trigger};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The version of [`RunSummary`]'s JSON: fields are only ever added within a version.
pub const SUMMARY_VERSION: u32 = 1;

/// A run as a webhook of format `json` receives it (documented on `WebhookFormat` in the
/// configuration schema and in the README).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// [`SUMMARY_VERSION`].
    pub version: u32,
    pub event: WebhookEvent,
    pub drill: String,
    pub run_id: String,
    pub target: String,
    /// As in the run record: `{"kind": "schedule", "slot": ...}`, `{"kind": "cli", "user": ...}`.
    pub trigger: Trigger,
    /// The trigger in words, as the report says it.
    pub trigger_text: String,
    pub started_at: DateTime<Utc>,
    /// None when the run has just started.
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<f64>,
    /// None when the run has just started.
    pub outcome: Option<OutcomeSummary>,
    /// Every phase: as measured once finished, as planned (targets only) when started.
    pub phases: Vec<PhaseSummary>,
    /// The report in the API (`{api.public_url}/api/v1/runs/RUN/report`), once recorded
    /// and when `api.public_url` is set.
    pub report_url: Option<String>,
    /// What the run announced (a region failover's "DR region is now serving"), oldest
    /// first: `09:41:07 UTC (activate-dr): ...`. Left out when there is none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub announcements: Vec<String>,
}

/// How the run ended, and why when there is more to say than the label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeSummary {
    /// `passed`, `failed`, `aborted`, `interrupted`, `error`, `not-started`.
    pub label: String,
    pub reason: Option<String>,
}

/// One phase's recovery time against its target, and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseSummary {
    pub name: String,
    pub scenario: String,
    /// `passed`, `failed`, `timed-out`, `aborted`, `error`, `skipped`, `interrupted`; none
    /// when the run has just started.
    pub verdict: Option<String>,
    /// Why it did not pass, with figures (`recovered in 95.2 s, over the 60 s RTO`).
    pub reasons: Vec<String>,
    pub rto_target_seconds: Option<f64>,
    pub recovery_seconds: Option<f64>,
    /// Whether the measured recovery met the target; none without both figures.
    pub rto_met: Option<bool>,
}

impl RunSummary {
    /// The summary of a recorded run. `public_url`: `api.public_url`, for the report link.
    pub fn finished(run: &RunRecord, drill: Option<&Drill>, public_url: Option<&str>) -> Self {
        let report = Report::from_run(run, drill, &[]);
        RunSummary {
            version: SUMMARY_VERSION,
            event: WebhookEvent::Finished,
            drill: run.drill.clone(),
            run_id: run.id.clone(),
            target: run.target.clone(),
            trigger: run.trigger.clone(),
            trigger_text: report.trigger,
            started_at: run.started_at,
            finished_at: run.finished_at,
            duration_seconds: run.duration_seconds(),
            outcome: Some(OutcomeSummary {
                label: run.outcome.label().to_string(),
                reason: outcome_reason(run),
            }),
            phases: run.phases.iter().map(measured_phase).collect(),
            report_url: public_url.map(|base| report_url(base, &run.id)),
            announcements: report
                .announcements
                .iter()
                .map(|a| match &a.phase {
                    Some(phase) => format!("{} ({phase}): {}", a.at, a.text),
                    None => format!("{}: {}", a.at, a.text),
                })
                .collect(),
        }
    }

    /// The summary of a run that has just begun (`run` as [`RunRecord::begun`] made it):
    /// the drill's phases with their targets, nothing measured yet.
    pub fn started(run: &RunRecord, drill: Option<&Drill>) -> Self {
        let report = Report::from_run(run, drill, &[]);
        let phases = drill
            .map(|drill| {
                drill
                    .phases
                    .iter()
                    .map(|phase| PhaseSummary {
                        name: phase.name.clone(),
                        scenario: phase.scenario.clone(),
                        verdict: None,
                        reasons: Vec::new(),
                        rto_target_seconds: phase.objectives.rto.map(|rto| rto.as_secs_f64()),
                        recovery_seconds: None,
                        rto_met: None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        RunSummary {
            version: SUMMARY_VERSION,
            event: WebhookEvent::Started,
            drill: run.drill.clone(),
            run_id: run.id.clone(),
            target: run.target.clone(),
            trigger: run.trigger.clone(),
            trigger_text: report.trigger,
            started_at: run.started_at,
            finished_at: None,
            duration_seconds: None,
            outcome: None,
            phases,
            report_url: None,
            announcements: Vec::new(),
        }
    }

    /// The request body of a webhook of `format`.
    pub fn render(&self, format: WebhookFormat) -> Value {
        match format {
            // Plain fields, string keys: serialising to a `Value` cannot fail.
            WebhookFormat::Json => serde_json::to_value(self).unwrap_or(Value::Null),
            WebhookFormat::Slack => slack_message(self),
        }
    }
}

/// `{base}/api/v1/runs/{run}/report`: the report as the API serves it (HTML to a browser).
pub fn report_url(base: &str, run_id: &str) -> String {
    format!("{}/api/v1/runs/{run_id}/report", base.trim_end_matches('/'))
}

fn verdict_reasons(verdict: &PhaseVerdict) -> Vec<String> {
    match verdict {
        PhaseVerdict::Failed { reasons } => reasons.clone(),
        PhaseVerdict::TimedOut => vec!["not recovered before the phase deadline".to_string()],
        PhaseVerdict::Aborted { reason } => vec![reason.clone()],
        PhaseVerdict::Error { message } => vec![message.clone()],
        PhaseVerdict::Passed | PhaseVerdict::Skipped | PhaseVerdict::Interrupted => Vec::new(),
    }
}

fn measured_phase(phase: &PhaseRecord) -> PhaseSummary {
    PhaseSummary {
        name: phase.name.clone(),
        scenario: phase.scenario.clone(),
        verdict: Some(phase.verdict.label().to_string()),
        reasons: verdict_reasons(&phase.verdict),
        rto_target_seconds: phase.rto_target_seconds,
        recovery_seconds: phase.recovery_seconds,
        rto_met: phase
            .recovery_seconds
            .zip(phase.rto_target_seconds)
            .map(|(measured, target)| measured <= target),
    }
}

/// Why the run ended as it did, in a sentence; none for a pass.
fn outcome_reason(run: &RunRecord) -> Option<String> {
    match &run.outcome {
        Outcome::Passed => None,
        Outcome::Aborted { reason } | Outcome::NotStarted { reason } => Some(reason.clone()),
        Outcome::Error { message } => Some(message.clone()),
        Outcome::Interrupted => Some(
            "firedrill stopped during the run; what it had injected was rolled back afterwards"
                .to_string(),
        ),
        Outcome::Failed => {
            let failed: Vec<String> = run
                .phases
                .iter()
                .filter(|phase| !phase.verdict.passed() && phase.verdict != PhaseVerdict::Skipped)
                .map(|phase| {
                    let reasons = verdict_reasons(&phase.verdict);
                    if reasons.is_empty() {
                        format!("{}: {}", phase.name, phase.verdict.label())
                    } else {
                        format!("{}: {}", phase.name, reasons.join(", "))
                    }
                })
                .collect();
            (!failed.is_empty()).then(|| failed.join("; "))
        }
    }
}

/// Slack's limits: 50 blocks a message, 150 characters of header, 3000 of section text.
const SLACK_MAX_PHASE_BLOCKS: usize = 40;
const SLACK_HEADER_CHARS: usize = 150;
const SLACK_SECTION_CHARS: usize = 3000;

/// `&`, `<` and `>` as Slack's mrkdwn wants them, so text from the run cannot make links
/// or mentions.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut clipped: String = text.chars().take(max.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

fn section(text: &str) -> Value {
    json!({
        "type": "section",
        "text": { "type": "mrkdwn", "text": clip(text, SLACK_SECTION_CHARS) },
    })
}

fn emoji(verdict: &str) -> &'static str {
    match verdict {
        "passed" => ":white_check_mark:",
        "failed" | "timed-out" | "error" | "not-started" => ":x:",
        "aborted" => ":octagonal_sign:",
        "skipped" => ":fast_forward:",
        _ => ":warning:",
    }
}

fn rto_line(phase: &PhaseSummary) -> String {
    let figure = |seconds: Option<f64>| seconds.map_or_else(|| "-".to_string(), format_seconds);
    match (
        phase.recovery_seconds,
        phase.rto_target_seconds,
        &phase.verdict,
    ) {
        (_, target, None) => format!("RTO target {}", figure(target)),
        (measured, Some(target), Some(_)) => {
            format!(
                "RTO {} vs target {}",
                figure(measured),
                format_seconds(target)
            )
        }
        (measured, None, Some(_)) => format!("RTO {} (no target)", figure(measured)),
    }
}

/// The run as a Slack message for an incoming webhook: a header (drill and outcome), the
/// run's facts, a section per phase (RTO against its target and the verdict), the outcome
/// with its reason, the report link; and `text`, the fallback notifications show.
pub fn slack_message(summary: &RunSummary) -> Value {
    let status = match &summary.outcome {
        Some(outcome) => outcome.label.to_uppercase(),
        None => "started".to_string(),
    };
    let header = clip(&format!("{}: {status}", summary.drill), SLACK_HEADER_CHARS);
    let mut facts = format!(
        "*Run* `{}`\n*Target* {} · *Trigger* {}\n*Started* {}",
        slack_escape(&summary.run_id),
        slack_escape(&summary.target),
        slack_escape(&summary.trigger_text),
        summary.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
    );
    if let Some(finished) = summary.finished_at {
        facts.push_str(&format!(
            " · *Finished* {}",
            finished.format("%Y-%m-%d %H:%M:%S UTC")
        ));
        if let Some(seconds) = summary.duration_seconds {
            facts.push_str(&format!(" ({})", format_seconds(seconds)));
        }
    }
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": header } }),
        section(&facts),
    ];
    for phase in summary.phases.iter().take(SLACK_MAX_PHASE_BLOCKS) {
        let mut text = match &phase.verdict {
            Some(verdict) => format!(
                "{} *{}* (`{}`): {}\n{}",
                emoji(verdict),
                slack_escape(&phase.name),
                slack_escape(&phase.scenario),
                verdict,
                rto_line(phase)
            ),
            None => format!(
                "*{}* (`{}`)\n{}",
                slack_escape(&phase.name),
                slack_escape(&phase.scenario),
                rto_line(phase)
            ),
        };
        for reason in &phase.reasons {
            text.push_str(&format!("\n• {}", slack_escape(reason)));
        }
        blocks.push(section(&text));
    }
    if summary.phases.len() > SLACK_MAX_PHASE_BLOCKS {
        blocks.push(section(&format!(
            "… and {} more phases (see the report)",
            summary.phases.len() - SLACK_MAX_PHASE_BLOCKS
        )));
    }
    for announcement in &summary.announcements {
        blocks.push(section(&format!(
            ":loudspeaker: {}",
            slack_escape(announcement)
        )));
    }
    if let Some(outcome) = &summary.outcome {
        let mut text = format!("{} *Outcome:* {}", emoji(&outcome.label), outcome.label);
        if let Some(reason) = &outcome.reason {
            text.push_str(&format!(": {}", slack_escape(reason)));
        }
        blocks.push(section(&text));
    }
    if let Some(url) = &summary.report_url {
        blocks.push(section(&format!("<{url}|Report of {}>", summary.run_id)));
    }
    json!({ "text": slack_fallback(summary), "blocks": blocks })
}

/// One line for notifications and clients without blocks.
fn slack_fallback(summary: &RunSummary) -> String {
    let Some(outcome) = &summary.outcome else {
        return format!(
            "firedrill: drill {} started (run {}, {})",
            summary.drill, summary.run_id, summary.trigger_text
        );
    };
    let phases: Vec<String> = summary
        .phases
        .iter()
        .map(|phase| {
            format!(
                "{} {} ({})",
                phase.name,
                rto_line(phase),
                phase.verdict.as_deref().unwrap_or("-")
            )
        })
        .collect();
    let mut text = format!(
        "firedrill: drill {} {} (run {})",
        summary.drill,
        outcome.label.to_uppercase(),
        summary.run_id
    );
    if !phases.is_empty() {
        text.push_str(&format!(": {}", phases.join("; ")));
    }
    slack_escape(&text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use firedrill_core::report::fixtures::{failing_run, passing_run};

    use super::*;

    #[test]
    fn a_finished_summary_carries_each_phase_s_rto_against_its_target() {
        let run = failing_run();
        let summary = RunSummary::finished(&run, None, Some("https://firedrill.example.com/"));
        assert_eq!(summary.version, 1);
        assert_eq!(summary.event, WebhookEvent::Finished);
        assert_eq!(summary.run_id, run.id);
        assert_eq!(summary.phases.len(), run.phases.len());
        for (phase, record) in summary.phases.iter().zip(&run.phases) {
            assert_eq!(phase.recovery_seconds, record.recovery_seconds);
            assert_eq!(phase.rto_target_seconds, record.rto_target_seconds);
            assert_eq!(phase.verdict.as_deref(), Some(record.verdict.label()));
        }
        let outcome = summary.outcome.as_ref().unwrap();
        assert_eq!(outcome.label, "failed");
        let failed = run.phases.iter().find(|p| !p.verdict.passed()).unwrap();
        assert!(
            outcome.reason.as_deref().unwrap().starts_with(&failed.name),
            "{outcome:?}"
        );
        assert_eq!(
            summary.report_url.as_deref(),
            Some(
                format!(
                    "https://firedrill.example.com/api/v1/runs/{}/report",
                    run.id
                )
                .as_str()
            )
        );
        let json = summary.render(WebhookFormat::Json);
        assert_eq!(json["version"], 1);
        assert_eq!(json["event"], "finished");
        assert_eq!(json["outcome"]["label"], "failed");
        assert_eq!(
            json["trigger"]["kind"],
            serde_json::to_value(&run.trigger).unwrap()["kind"]
        );
    }

    #[test]
    fn what_a_run_announced_goes_into_its_summary_and_slack_message() {
        let mut run = passing_run();
        // No announcement: the field is left out, as before.
        let quiet = RunSummary::finished(&run, None, None).render(WebhookFormat::Json);
        assert!(quiet.get("announcements").is_none(), "{quiet}");
        let at = run.started_at + chrono::Duration::seconds(90);
        run.evidence.push(firedrill_core::run::Evidence {
            phase: Some("activate-dr".into()),
            name: firedrill_core::report::ANNOUNCEMENT_EVIDENCE.into(),
            captured_at: at,
            sha256: String::new(),
            content: "\nRegion failover complete: the DR region is now serving.\nsteps...\n".into(),
        });
        let summary = RunSummary::finished(&run, None, None);
        let expected = format!(
            "{} (activate-dr): Region failover complete: the DR region is now serving.",
            at.format("%H:%M:%S UTC")
        );
        assert_eq!(summary.announcements, std::slice::from_ref(&expected));
        assert_eq!(
            summary.render(WebhookFormat::Json)["announcements"][0],
            expected.as_str()
        );
        let slack = summary.render(WebhookFormat::Slack).to_string();
        assert!(
            slack.contains(":loudspeaker:") && slack.contains("Region failover complete"),
            "{slack}"
        );
    }

    #[test]
    fn rto_met_compares_the_measured_recovery_with_the_target() {
        let run = passing_run();
        let summary = RunSummary::finished(&run, None, None);
        for phase in &summary.phases {
            if let (Some(measured), Some(target)) =
                (phase.recovery_seconds, phase.rto_target_seconds)
            {
                assert_eq!(phase.rto_met, Some(measured <= target));
            } else {
                assert_eq!(phase.rto_met, None);
            }
        }
        assert_eq!(
            summary.outcome.unwrap().reason,
            None,
            "a pass needs no reason"
        );
        assert_eq!(summary.report_url, None, "no public URL configured");
    }

    #[test]
    fn a_slack_message_has_a_header_a_section_per_phase_the_outcome_and_a_fallback() {
        let run = failing_run();
        let summary = RunSummary::finished(&run, None, Some("https://fd.example.com"));
        let message = summary.render(WebhookFormat::Slack);
        let blocks = message["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(
            blocks[0]["text"]["text"],
            format!("{}: FAILED", run.drill).as_str()
        );
        let texts: Vec<&str> = blocks[1..]
            .iter()
            .map(|b| b["text"]["text"].as_str().unwrap())
            .collect();
        for phase in &run.phases {
            let block = texts
                .iter()
                .find(|t| t.contains(&format!("*{}*", phase.name)))
                .unwrap_or_else(|| panic!("no block for {}: {texts:?}", phase.name));
            if let (Some(measured), Some(target)) =
                (phase.recovery_seconds, phase.rto_target_seconds)
            {
                let line = format!(
                    "RTO {} vs target {}",
                    format_seconds(measured),
                    format_seconds(target)
                );
                assert!(block.contains(&line), "{block}");
            }
            assert!(block.contains(phase.verdict.label()), "{block}");
        }
        assert!(texts.iter().any(|t| t.contains("*Outcome:* failed")));
        assert!(
            texts
                .iter()
                .any(|t| t.contains("<https://fd.example.com/api/v1/runs/"))
        );
        let text = message["text"].as_str().unwrap();
        assert!(
            text.contains(&run.drill) && text.contains("FAILED"),
            "{text}"
        );
    }

    #[test]
    fn slack_text_from_the_run_cannot_make_links_or_mentions() {
        let mut run = failing_run();
        run.outcome = Outcome::Aborted {
            reason: "<!channel> & <https://evil.example|click>".to_string(),
        };
        let message = RunSummary::finished(&run, None, None).render(WebhookFormat::Slack);
        let all = message.to_string();
        assert!(!all.contains("<!channel>"), "{all}");
        assert!(all.contains("&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"));
    }

    #[test]
    fn a_started_summary_lists_the_planned_phases_without_figures() {
        let run = RunRecord::begun(
            "zone-failure-20261102T090000Z-0001".to_string(),
            "zone-failure".to_string(),
            "lab".to_string(),
            Trigger::Cli {
                user: "alice".to_string(),
            },
            failing_run().started_at,
        );
        let summary = RunSummary::started(&run, None);
        assert_eq!(summary.event, WebhookEvent::Started);
        assert_eq!(summary.outcome, None);
        assert_eq!(summary.finished_at, None);
        assert_eq!(summary.trigger_text, "command line (alice)");
        let slack = summary.render(WebhookFormat::Slack);
        assert_eq!(slack["blocks"][0]["text"]["text"], "zone-failure: started");
        assert!(
            slack["text"]
                .as_str()
                .unwrap()
                .contains("drill zone-failure started")
        );
    }

    #[test]
    fn long_texts_are_clipped_to_slack_s_limits() {
        let long = "x".repeat(5000);
        assert_eq!(clip(&long, 3000).chars().count(), 3000);
        assert_eq!(clip("short", 3000), "short");
    }
}
