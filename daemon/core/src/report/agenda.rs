//! The review-meeting agenda of the runbook, with its time boxes, filled from one run's report.

use serde::{Deserialize, Serialize};

use super::model::Report;

/// One time-boxed item of the review meeting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgendaItem {
    pub number: u32,
    pub title: String,
    pub minutes: u32,
    /// The runbook's prompts, each followed by what this run contributes.
    pub points: Vec<String>,
}

/// The review meeting for one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agenda {
    pub run_id: String,
    pub drill: String,
    pub date: String,
    pub verdict: String,
    pub total_minutes: u32,
    pub items: Vec<AgendaItem>,
}

impl Agenda {
    /// The runbook's five items (5 + 15 + 20 + 10 + 10 minutes), filled from `report`.
    pub fn from_report(report: &Report) -> Agenda {
        let phases: Vec<&str> = report
            .recovery_times
            .iter()
            .map(|r| r.phase.as_str())
            .collect();
        let tested = format!(
            "What was tested: drill `{}`{} on target `{}`; phases: {}",
            report.drill,
            report
                .description
                .as_ref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default(),
            report.target,
            if phases.is_empty() {
                "none ran".to_string()
            } else {
                phases.join(", ")
            }
        );
        let who = format!(
            "Who participated: {}",
            if report.participants.is_empty() {
                "(not recorded)".to_string()
            } else {
                report.participants.join(", ")
            }
        );

        let mut results = vec![format!(
            "Success/failure of each phase (overall: {})",
            report.verdict
        )];
        results.extend(report.recovery_times.iter().map(|r| {
            format!(
                "`{}`: {} (recovered in {}, target {})",
                r.phase, r.status, r.actual_rto, r.target_rto
            )
        }));
        let with_target: Vec<_> = report
            .recovery_times
            .iter()
            .filter(|r| r.target_rto_seconds.is_some())
            .collect();
        let within = with_target
            .iter()
            .filter(|r| match (r.actual_rto_seconds, r.target_rto_seconds) {
                (Some(actual), Some(target)) => actual <= target,
                _ => false,
            })
            .count();
        results.push(format!(
            "RTO achievement: {within} of {} phases within target",
            with_target.len()
        ));

        let mut issues = vec!["Problems encountered:".to_string()];
        if report.issues.is_empty() {
            issues.push("none identified by the run".to_string());
        } else {
            issues.extend(report.issues.iter().map(|i| i.text.clone()));
        }
        issues.push("Root causes".to_string());

        let mut actions = vec!["Proposed actions:".to_string()];
        if report.action_items.is_empty() {
            actions.push("none proposed by the run".to_string());
        } else {
            actions.extend(report.action_items.iter().map(|a| a.text.clone()));
        }
        actions.push("Assign owners".to_string());
        actions.push("Set deadlines".to_string());

        let improvements = vec![
            "Runbook updates".to_string(),
            "Automation opportunities".to_string(),
            "Lessons learned (fill in the report's section)".to_string(),
        ];

        let items = vec![
            item(1, "Drill Overview", 5, vec![tested, who]),
            item(2, "Results Review", 15, results),
            item(3, "Issues Discussion", 20, issues),
            item(4, "Action Items", 10, actions),
            item(5, "Process Improvements", 10, improvements),
        ];
        Agenda {
            run_id: report.run_id.clone(),
            drill: report.drill.clone(),
            date: report.date.clone(),
            verdict: report.verdict.clone(),
            total_minutes: items.iter().map(|i| i.minutes).sum(),
            items,
        }
    }
}

fn item(number: u32, title: &str, minutes: u32, points: Vec<String>) -> AgendaItem {
    AgendaItem {
        number,
        title: title.to_string(),
        minutes,
        points,
    }
}
