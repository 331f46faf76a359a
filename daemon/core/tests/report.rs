//! Post-drill report, agenda and audit rendered from hand-made runs, compared with snapshots.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, TimeZone, Utc};
use firedrill_core::config::raw::{MissedRunPolicy, PhaseFailurePolicy};
use firedrill_core::config::{BlastRadius, Drill, DrillSchedule};
use firedrill_core::report::fixtures::{
    aborted_run, failing_run, failing_run_at, interrupted_run, passing_run, passing_run_at, slot,
};
use firedrill_core::report::{
    Agenda, Audit, AuditRun, ChainStatus, MissedReason, Renderer, Report, SlotStatus,
};
use firedrill_core::run::RunRecord;
use firedrill_core::schedule::{Blackout, CronExpr, Schedule};

/// The one way tests look at rendered output: the Markdown report followed by the agenda.
fn rendered(run: &RunRecord) -> String {
    let report = Report::from_run(run, None, &[]);
    let renderer = Renderer::new().unwrap();
    format!(
        "{}\n---- agenda ----\n{}",
        renderer.report_markdown(&report).unwrap(),
        renderer.agenda_markdown(&report).unwrap()
    )
}

#[test]
fn passing_run_report_and_agenda() {
    insta::assert_snapshot!(rendered(&passing_run()));
}

#[test]
fn failing_run_report_and_agenda() {
    insta::assert_snapshot!(rendered(&failing_run()));
}

#[test]
fn aborted_run_report_and_agenda() {
    insta::assert_snapshot!(rendered(&aborted_run()));
}

#[test]
fn interrupted_run_report_says_the_run_is_unfinished() {
    let text = rendered(&interrupted_run());
    assert!(text.contains("(unfinished)"), "{text}");
    assert!(text.contains("INTERRUPTED"), "{text}");
    assert!(
        text.contains("| pod-failure | 2m | n/a | Interrupted |"),
        "{text}"
    );
}

#[test]
fn failing_run_names_the_slow_phase_the_dip_and_the_lost_writes_with_figures() {
    let report = Report::from_run(&failing_run(), None, &[]);
    let issues: Vec<&str> = report.issues.iter().map(|i| i.text.as_str()).collect();
    assert!(
        issues
            .iter()
            .any(|i| i.contains("7m 12s against a 5m RTO target (+2m 12s)")),
        "{issues:#?}"
    );
    assert!(
        issues.iter().any(|i| i.contains("`capsule`")
            && i.contains("95.50%")
            && i.contains("below the 99.00% floor")),
        "{issues:#?}"
    );
    assert!(
        issues
            .iter()
            .any(|i| i.contains("3 of 600 acknowledged writes lost")),
        "{issues:#?}"
    );
    assert_eq!(report.issues.len(), report.action_items.len());
    let capsule = report
        .availability
        .iter()
        .find(|a| a.service == "capsule")
        .unwrap();
    assert_eq!(capsule.min_availability, "95.50%");
    assert_eq!(capsule.max_latency_p95, "1250 ms");
    assert!(capsule.below_floor);
}

#[test]
fn agenda_keeps_the_runbook_time_boxes() {
    let agenda = Agenda::from_report(&Report::from_run(&failing_run(), None, &[]));
    let boxes: Vec<(&str, u32)> = agenda
        .items
        .iter()
        .map(|i| (i.title.as_str(), i.minutes))
        .collect();
    assert_eq!(
        boxes,
        [
            ("Drill Overview", 5),
            ("Results Review", 15),
            ("Issues Discussion", 20),
            ("Action Items", 10),
            ("Process Improvements", 10)
        ]
    );
    assert_eq!(agenda.total_minutes, 60);
}

#[test]
fn html_report_escapes_what_the_run_recorded() {
    let mut run = failing_run();
    run.participants = vec!["<script>alert(1)</script>".to_string()];
    let report = Report::from_run(&run, None, &[]);
    let rendered = Renderer::new().unwrap().render_all(&report).unwrap();
    assert!(!rendered.report_html.contains("<script>"));
    assert!(rendered.report_html.contains("&lt;script&gt;"));
    assert!(rendered.report_html.contains("<table"));
}

#[test]
fn html_report_and_email_render_the_markdown_of_the_report_texts() {
    let report = Report::from_run(&failing_run(), None, &[]);
    let rendered = Renderer::new().unwrap().render_all(&report).unwrap();
    for html in [&rendered.report_html, &rendered.email_html] {
        assert!(
            html.contains("Drill <code>full-dr</code> ran on target"),
            "{html}"
        );
        assert!(html.contains("phase <code>zone-failure</code>"), "{html}");
        assert!(!html.contains('`'), "a backtick left raw: {html}");
    }
    let html = &rendered.report_html;
    assert!(html.contains(
        "<p><em>To be completed at the review meeting: what surprised us, what worked, \
         what to change.</em></p>"
    ));
    assert!(!html.contains("_To be completed"), "{html}");
    // One-paragraph texts inside list items carry no paragraph of their own.
    assert!(
        html.contains("<li>Slow recovery in phase <code>zone-failure</code>"),
        "{html}"
    );
    assert!(html.contains("<li>&#9744; Find what slowed recovery in <code>zone-failure</code>"));
    // The Markdown report keeps its texts exactly.
    assert!(
        rendered
            .report_markdown
            .contains("Slow recovery in phase `zone-failure`")
    );
    assert!(rendered.report_markdown.contains(
        "_To be completed at the review meeting: what surprised us, what worked, what to change._"
    ));
}

#[test]
fn markdown_in_the_html_report_never_passes_raw_html_through() {
    let mut run = aborted_run();
    run.outcome = firedrill_core::run::Outcome::Aborted {
        reason: "<script>alert(1)</script> and <b onclick=x>bold</b>".to_string(),
    };
    let report = Report::from_run(&run, None, &[]);
    let rendered = Renderer::new().unwrap().render_all(&report).unwrap();
    for html in [&rendered.report_html, &rendered.email_html] {
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<b onclick"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
    }
    // Block HTML, links that would run code, and images are shown as text too.
    let html = firedrill_core::report::markdown_html(
        "<div onmouseover=x>hi</div>\n\n[click](javascript:alert(1)) [docs](https://example.invalid/) ![x](https://tracker.invalid/p.png)",
        false,
    );
    assert!(!html.contains("<div"), "{html}");
    assert!(
        html.contains("&lt;div onmouseover=x&gt;hi&lt;/div&gt;"),
        "{html}"
    );
    assert!(!html.contains("javascript:"), "{html}");
    assert!(html.contains("click"), "{html}");
    assert!(
        html.contains(r#"<a href="https://example.invalid/">docs</a>"#),
        "{html}"
    );
    assert!(!html.contains("<img"), "{html}");
}

#[test]
fn json_export_is_the_same_model() {
    let report = Report::from_run(&failing_run(), None, &[]);
    let rendered = Renderer::new().unwrap().render_all(&report).unwrap();
    let back: Report = serde_json::from_str(&rendered.report_json).unwrap();
    // Less its charts: drawings, not data.
    assert!(!rendered.report_json.contains("<svg"));
    assert_eq!(
        back,
        Report {
            charts: firedrill_core::report::Charts::default(),
            ..report
        }
    );
}

#[test]
fn user_templates_override_the_embedded_ones() {
    let renderer = Renderer::with_overrides(&[(
        "report.md.tera".to_string(),
        "custom {{ report.drill }} {{ report.verdict }}".to_string(),
    )])
    .unwrap();
    let report = Report::from_run(&passing_run(), None, &[]);
    assert_eq!(
        renderer.report_markdown(&report).unwrap(),
        "custom full-dr PASSED"
    );
    // The others keep their defaults.
    assert!(
        renderer
            .agenda_markdown(&report)
            .unwrap()
            .contains("Drill Overview")
    );
}

#[test]
fn an_unknown_or_broken_override_is_an_error() {
    let unknown = Renderer::with_overrides(&[("nope.tera".to_string(), String::new())]);
    assert!(unknown.unwrap_err().to_string().contains("nope.tera"));
    let broken =
        Renderer::with_overrides(&[("agenda.md.tera".to_string(), "{% if %}".to_string())]);
    assert!(broken.unwrap_err().to_string().contains("agenda.md.tera"));
}

fn weekly_drill(blackout: Option<Blackout>) -> Drill {
    Drill {
        name: "full-dr".to_string(),
        description: None,
        target: "sandbox".to_string(),
        schedule: Some(DrillSchedule {
            schedule: Schedule {
                cron: CronExpr::parse("0 9 * * 1").unwrap(),
                timezone: chrono_tz::UTC,
                blackouts: blackout.into_iter().collect(),
            },
            missed: MissedRunPolicy::Skip,
            grace: std::time::Duration::from_secs(15 * 60),
        }),
        on_phase_failure: PhaseFailurePolicy::Stop,
        blast_radius: BlastRadius::default(),
        participants: vec![],
        recipients: vec![],
        checks: Default::default(),
        expect_down: vec![],
        phases: vec![],
    }
}

fn audit_run(run: &RunRecord) -> AuditRun {
    AuditRun {
        run_id: run.id.clone(),
        drill: run.drill.clone(),
        trigger: run.trigger.clone(),
        scheduled_for: run.scheduled_for,
        started_at: run.started_at,
        outcome: run.outcome.clone(),
        report_sha256: Some("ab".repeat(32)),
    }
}

fn intact() -> ChainStatus {
    ChainStatus {
        intact: true,
        records: 3,
        head_sha256: Some("cd".repeat(32)),
        problem: None,
    }
}

#[test]
fn audit_classifies_on_time_late_missed_blacked_out_failed_and_upcoming_slots() {
    let week = Duration::days(7);
    let first = slot(); // Monday 2026-11-02 09:00 UTC
    let freeze = Blackout::Window {
        start: first + week * 3 - Duration::hours(1),
        end: first + week * 3 + Duration::hours(1),
        reason: "launch freeze".to_string(),
    };
    let drill = weekly_drill(Some(freeze));
    let on_time = passing_run_at(first);
    let failed = failing_run_at(first + week);
    let mut late = passing_run_at(first + week * 4);
    late.started_at = first + week * 4 + Duration::hours(2);
    let runs: Vec<AuditRun> = [&on_time, &failed, &late]
        .into_iter()
        .map(audit_run)
        .collect();
    // Slot 3 (week 2) has no run: the daemon was down. Slot 4 is blacked out. Slot 6 is after now.
    let now = first + week * 5 - Duration::hours(1);
    let audit = Audit::build(
        &[drill],
        &runs,
        first - Duration::days(1),
        first + week * 5 + Duration::days(1),
        now,
        intact(),
    );
    let statuses: Vec<&SlotStatus> = audit.drills[0].slots.iter().map(|s| &s.status).collect();
    assert_eq!(statuses.len(), 6);
    assert_eq!(statuses[0], &SlotStatus::OnTime);
    assert_eq!(statuses[1], &SlotStatus::OnTime);
    assert_eq!(audit.drills[0].slots[1].objectives_met, Some(false));
    assert_eq!(
        statuses[2],
        &SlotStatus::Missed {
            reason: MissedReason::DaemonDown
        }
    );
    assert_eq!(
        statuses[3],
        &SlotStatus::Missed {
            reason: MissedReason::Blackout {
                reason: "launch freeze".to_string()
            }
        }
    );
    assert_eq!(
        statuses[4],
        &SlotStatus::Late {
            late_seconds: 7200.0
        }
    );
    assert_eq!(statuses[5], &SlotStatus::Upcoming);
    assert_eq!(audit.totals.objectives_failed, 1);
    assert!(!audit.clean);
    assert_eq!(
        audit.drills[0].slots[0].run_id.as_deref(),
        Some(on_time.id.as_str())
    );
}

#[test]
fn audit_counts_an_aborted_run_as_a_missed_slot_with_its_reason() {
    let drill = weekly_drill(None);
    let aborted = aborted_run();
    let audit = Audit::build(
        &[drill],
        &[audit_run(&aborted)],
        slot() - Duration::hours(1),
        slot() + Duration::hours(1),
        slot() + Duration::days(1),
        intact(),
    );
    let only = &audit.drills[0].slots[0];
    assert!(
        only.status_text
            .starts_with("missed: aborted (capsule availability"),
        "{}",
        only.status_text
    );
    assert_eq!(only.run_id.as_deref(), Some(aborted.id.as_str()));
}

#[test]
fn audit_markdown_shows_the_missed_and_the_failed_slot_and_the_chain() {
    let drill = weekly_drill(None);
    let week = Duration::days(7);
    let failed = failing_run_at(slot() + week);
    let audit = Audit::build(
        &[drill],
        &[audit_run(&failed)],
        Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 11, 15, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap(),
        intact(),
    );
    let renderer = Renderer::new().unwrap();
    insta::assert_snapshot!(renderer.audit_markdown(&audit).unwrap());
    let html = renderer.audit_html(&audit).unwrap();
    assert!(html.contains("missed: no run recorded (daemon down)"));
    assert!(html.contains("FAILED"));
}

#[test]
fn a_catch_up_run_serves_the_slots_it_names_and_counts_them_late() {
    let drill = weekly_drill(None);
    let week = Duration::days(7);
    let mut catch_up = passing_run_at(slot() + week);
    catch_up.trigger = firedrill_core::run::Trigger::CatchUp {
        missed_slots: vec![slot(), slot() + week],
    };
    catch_up.scheduled_for = None;
    catch_up.started_at = slot() + week + Duration::hours(3);
    let audit = Audit::build(
        &[drill],
        &[audit_run(&catch_up)],
        slot() - Duration::hours(1),
        slot() + week + Duration::hours(1),
        slot() + week * 2,
        intact(),
    );
    let slots = &audit.drills[0].slots;
    assert_eq!(slots.len(), 2);
    for slot in slots {
        assert!(matches!(slot.status, SlotStatus::Late { .. }), "{slot:?}");
        assert_eq!(slot.run_id.as_deref(), Some(catch_up.id.as_str()));
    }
    assert!(audit.unscheduled_runs.is_empty());
}

#[test]
fn follow_up_steps_a_scenario_left_become_action_items() {
    let mut run = passing_run();
    run.evidence.push(firedrill_core::run::Evidence {
        phase: Some("postgres-failover".into()),
        name: "follow-up.txt".into(),
        captured_at: slot(),
        sha256: String::new(),
        content: "Rebuild the old PostgreSQL primary butterfly/postgresql-0 as a replica.\n".into(),
    });
    let report = Report::from_run(&run, None, &[]);
    let actions: Vec<&str> = report
        .action_items
        .iter()
        .map(|a| a.text.as_str())
        .collect();
    assert_eq!(
        actions,
        ["Rebuild the old PostgreSQL primary butterfly/postgresql-0 as a replica."]
    );
    assert!(
        report.issues[0]
            .text
            .starts_with("Manual follow-up left by phase `postgres-failover`"),
        "{:?}",
        report.issues
    );
}

#[test]
fn a_watched_phase_reports_its_clock_pod_steps_and_checklist() {
    let run = firedrill_core::report::fixtures::watched_run();
    let report = Report::from_run(&run, None, &[]);
    let zone = &report.recovery_times[1];
    let clock = zone.clock.as_deref().expect("clock sentence");
    assert!(
        clock.starts_with("from the fault's first effect (cordon node zone-a-1) to the watch event after which verify first reported recovery (Pod butterfly/capsule-9 became Ready)"),
        "{clock}"
    );
    assert!(
        clock.ends_with("; putting the fault in place took 24s up to evict pod butterfly/capsule-2, 20s of it evictions held back by disruption budgets"),
        "{clock}"
    );
    let pod = &report.pods[0];
    assert_eq!(
        (
            pod.placed.as_str(),
            pod.scheduled.as_str(),
            pod.ready.as_str()
        ),
        ("zone-b-1 (zone-b)", "+0.2s", "+32s"),
        "{pod:?}"
    );
    let rows: Vec<(&str, &str, &str)> = report
        .checklist
        .iter()
        .map(|r| (r.check.as_str(), r.observed.as_str(), r.status.as_str()))
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                "Minimum replicas maintained",
                "1 Ready at the lowest",
                "Fail (objective)"
            ),
            ("PDB respected", "2 unavailable at once", "Fail (objective)"),
            (
                "No 5xx errors or failed probes",
                "9 failed probes",
                "Fail (objective)"
            ),
        ]
    );
    let issues: Vec<&str> = report.issues.iter().map(|i| i.text.as_str()).collect();
    assert!(
        issues.contains(&"Checklist in phase `zone-failure`: capsule fell to 1 Ready pods, below its min_ready of 2."),
        "{issues:#?}"
    );
    let rendered = Renderer::new().unwrap().render_all(&report).unwrap();
    let markdown = rendered.report_markdown;
    for expected in [
        "### Validation Checklist",
        "| zone-failure | PDB respected | capsule | 2 unavailable at once | at most 1 (PDB capsule-pdb) | Fail (objective) |",
        "### Pod Recovery",
        "| zone-failure | butterfly/capsule-2 | butterfly/capsule-9 | zone-b-1 (zone-b) | +0.1s | +0.2s | +1.2s | +32s |",
        "- Recovery of `zone-failure`: timed from the fault's first effect (cordon node zone-a-1)",
    ] {
        assert!(markdown.contains(expected), "{expected}\n{markdown}");
    }
    let html = rendered.report_html;
    assert!(
        html.contains("<h3 style=\"font-size: 16px; margin: 12px 0 8px 0;\">Pod Recovery</h3>"),
        "{html}"
    );
}
