//! The JUnit XML of the fixture runs, parsed back with a real XML parser and held to the schema's shape.

use chrono::Duration;

use super::*;
use crate::report::fixtures;
use crate::run::{CheckResult, CheckStage, CheckVerdict};

fn document(run: &RunRecord) -> String {
    junit_xml(&[JunitSuite::from_run(run)])
}

/// A testcase as read back: (classname, name, outcome element or "passed", message, type).
#[derive(Debug, Clone, PartialEq)]
struct Read {
    classname: String,
    name: String,
    outcome: String,
    message: String,
    kind: String,
}

/// Parses `xml`, checks it has the shape of the common JUnit schema (Jenkins' and Ant's
/// `junit.xsd`: elements, their order, required attributes, decimal times, counts that
/// match the testcases) and returns every testcase of its one suite.
fn parse(xml: &str) -> Vec<Read> {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert_eq!(suites.len(), 1, "{xml}");
    let suite = suites[0];
    assert_eq!(suite.tag_name().name(), "testsuite");
    for attribute in [
        "name",
        "tests",
        "failures",
        "errors",
        "skipped",
        "time",
        "timestamp",
        "hostname",
        "id",
        "package",
    ] {
        assert!(
            suite.has_attribute(attribute),
            "testsuite has no {attribute}"
        );
    }
    let decimal = |value: Option<&str>| {
        let value = value.unwrap_or_default();
        assert!(
            !value.is_empty() && value.chars().all(|c| c.is_ascii_digit() || c == '.'),
            "not an xs:decimal: {value:?}"
        );
    };
    decimal(suite.attribute("time"));
    let timestamp = suite.attribute("timestamp").unwrap_or_default();
    assert!(
        chrono::NaiveDateTime::parse_from_str(timestamp, "%Y-%m-%dT%H:%M:%S").is_ok(),
        "the schema's timestamp pattern: {timestamp}"
    );
    // properties?, testcase*, system-out?, system-err?, in that order.
    let order = ["properties", "testcase", "system-out", "system-err"];
    let mut last = 0;
    let mut cases = Vec::new();
    for child in suite.children().filter(|n| n.is_element()) {
        let at = order
            .iter()
            .position(|o| *o == child.tag_name().name())
            .unwrap_or_else(|| panic!("unexpected <{}>", child.tag_name().name()));
        assert!(at >= last, "<{}> out of order", child.tag_name().name());
        last = at;
        match child.tag_name().name() {
            "properties" => {
                for property in child.children().filter(|n| n.is_element()) {
                    assert_eq!(property.tag_name().name(), "property");
                    assert!(property.has_attribute("name") && property.has_attribute("value"));
                }
            }
            "testcase" => {
                decimal(child.attribute("time"));
                let results: Vec<_> = child.children().filter(|n| n.is_element()).collect();
                assert!(
                    results.len() <= 1,
                    "a testcase with {} results",
                    results.len()
                );
                let (outcome, message, kind) = match results.first() {
                    None => ("passed".to_string(), String::new(), String::new()),
                    Some(result) => {
                        let outcome = result.tag_name().name().to_string();
                        assert!(["failure", "error", "skipped"].contains(&outcome.as_str()));
                        if outcome != "skipped" {
                            assert!(
                                result.has_attribute("message") && result.has_attribute("type")
                            );
                        }
                        (
                            outcome,
                            result.attribute("message").unwrap_or_default().to_string(),
                            result.attribute("type").unwrap_or_default().to_string(),
                        )
                    }
                };
                cases.push(Read {
                    classname: child.attribute("classname").unwrap_or_default().to_string(),
                    name: child.attribute("name").unwrap_or_default().to_string(),
                    outcome,
                    message,
                    kind,
                });
            }
            _ => {}
        }
    }
    let count = |outcome: &str| {
        cases
            .iter()
            .filter(|c| c.outcome == outcome)
            .count()
            .to_string()
    };
    assert_eq!(
        suite.attribute("tests"),
        Some(cases.len().to_string().as_str())
    );
    assert_eq!(suite.attribute("failures"), Some(count("failure").as_str()));
    assert_eq!(suite.attribute("errors"), Some(count("error").as_str()));
    assert_eq!(suite.attribute("skipped"), Some(count("skipped").as_str()));
    assert_eq!(root.attribute("tests"), suite.attribute("tests"));
    assert_eq!(root.attribute("failures"), suite.attribute("failures"));
    assert_eq!(root.attribute("errors"), suite.attribute("errors"));
    cases
}

fn case<'a>(cases: &'a [Read], classname: &str, name: &str) -> &'a Read {
    cases
        .iter()
        .find(|c| c.classname == classname && c.name == name)
        .unwrap_or_else(|| panic!("no testcase {classname} / {name} in {cases:#?}"))
}

fn evaluation(
    check: &str,
    stage: CheckStage,
    phase: Option<&str>,
    verdict: CheckVerdict,
    value: Option<f64>,
) -> CheckResult {
    CheckResult {
        check: check.to_string(),
        stage,
        phase: phase.map(str::to_string),
        query: format!("{check}:ratio5m{{job=\"web\"}}"),
        expect: "< 0.01".to_string(),
        value,
        series: value.map(|_| "{job=\"web\"}".to_string()),
        at: fixtures::slot(),
        verdict,
        message: format!("{check} evaluated: {}", verdict.label()),
    }
}

/// A run whose steady state did not hold: nothing injected, every phase skipped.
fn not_started_run() -> RunRecord {
    let mut run = fixtures::passing_run();
    run.outcome = Outcome::NotStarted {
        reason: "steady state: error-ratio 0.031 is not < 0.01".to_string(),
    };
    for phase in &mut run.phases {
        phase.verdict = PhaseVerdict::Skipped;
        phase.injected_at = None;
        phase.recovered_at = None;
        phase.recovery_seconds = None;
        phase.availability.clear();
        phase.data_loss = None;
    }
    run.checks = vec![evaluation(
        "error-ratio",
        CheckStage::Before,
        None,
        CheckVerdict::Fail,
        Some(0.031),
    )];
    run
}

#[test]
fn a_passing_run_is_one_suite_whose_every_objective_passes() {
    let run = fixtures::passing_run();
    let xml = document(&run);
    let cases = parse(&xml);
    assert!(cases.iter().all(|c| c.outcome == "passed"), "{cases:#?}");
    // Per phase: recovery, RTO and one availability floor per probed service; RPO for the
    // database phase.
    assert_eq!(cases.len(), 4 * (2 + 6) + 1, "{cases:#?}");
    let rto = case(&cases, "firedrill.full-dr.zone-failure", "RTO");
    assert_eq!(rto.outcome, "passed");
    case(&cases, "firedrill.full-dr.db-failover", "RPO");
    case(
        &cases,
        "firedrill.full-dr.pod-failure",
        "availability floor: capsule",
    );
    for property in [
        format!("<property name=\"run_id\" value=\"{}\"/>", run.id),
        "<property name=\"target\" value=\"sandbox\"/>".to_string(),
        "<property name=\"trigger\" value=\"schedule (2026-11-02T09:00:00.000Z)\"/>".to_string(),
        "<property name=\"outcome\" value=\"passed\"/>".to_string(),
    ] {
        assert!(xml.contains(&property), "{property} in\n{xml}");
    }
    assert!(
        xml.contains("<testsuite name=\"full-dr\" tests=\"33\" failures=\"0\" errors=\"0\" skipped=\"0\" time=\"2460.000\" timestamp=\"2026-11-02T09:00:20\""),
        "{xml}"
    );
}

#[test]
fn a_missed_rto_is_a_failure_naming_the_measured_time_and_the_target() {
    let cases = parse(&document(&fixtures::failing_run()));
    let rto = case(&cases, "firedrill.full-dr.zone-failure", "RTO");
    assert_eq!(rto.outcome, "failure");
    assert_eq!(rto.kind, "rto");
    assert_eq!(rto.message, "RTO 432 s exceeded target 300 s");
    let floor = case(
        &cases,
        "firedrill.full-dr.zone-failure",
        "availability floor: capsule",
    );
    assert_eq!(floor.outcome, "failure");
    assert_eq!(
        floor.message,
        "capsule availability 95.50% below the floor 99.00% (9 of 200 probes failed)"
    );
    // The database phase failed for a reason no objective's testcase names (its loss window
    // is within the RPO): its verdict is a testcase of its own.
    assert_eq!(
        case(&cases, "firedrill.full-dr.db-failover", "RPO").outcome,
        "passed"
    );
    let verdict = case(&cases, "firedrill.full-dr.db-failover", "verdict");
    assert_eq!(verdict.outcome, "failure");
    assert_eq!(verdict.message, "3 acknowledged writes lost");
    assert!(
        cases
            .iter()
            .all(|c| c.classname.starts_with("firedrill.full-dr.")),
        "{cases:#?}"
    );
}

#[test]
fn a_phase_that_timed_out_missed_its_rto_and_did_not_recover() {
    let mut run = fixtures::failing_run();
    let zone = &mut run.phases[1];
    zone.verdict = PhaseVerdict::TimedOut;
    zone.recovered_at = None;
    zone.recovery_seconds = None;
    zone.finished_at = zone.injected_at.map(|at| at + Duration::seconds(600));
    let cases = parse(&document(&run));
    let class = "firedrill.full-dr.zone-failure";
    let recovery = case(&cases, class, "recovery");
    assert_eq!(
        (recovery.outcome.as_str(), recovery.kind.as_str()),
        ("failure", "timed-out")
    );
    assert_eq!(
        recovery.message,
        "not recovered 600 s after the fault, at the phase deadline"
    );
    let rto = case(&cases, class, "RTO");
    assert_eq!(rto.outcome, "failure");
    assert_eq!(
        rto.message,
        "RTO target 300 s exceeded: not recovered 600 s after the fault, at the phase deadline"
    );
}

#[test]
fn a_missed_rpo_names_the_writes_lost_and_the_window() {
    let mut run = fixtures::failing_run();
    run.phases[2].rpo_target_seconds = Some(1.0);
    let cases = parse(&document(&run));
    let rpo = case(&cases, "firedrill.full-dr.db-failover", "RPO");
    assert_eq!(rpo.outcome, "failure");
    assert_eq!(
        rpo.message,
        "3 acknowledged writes lost over 4.2 s, beyond the 1 s RPO"
    );
    // Named by the RPO testcase now: no separate verdict testcase.
    assert!(!cases.iter().any(|c| c.name == "verdict"), "{cases:#?}");
}

#[test]
fn checklist_rows_that_are_objectives_are_testcases_with_their_figures() {
    let mut run = fixtures::watched_run();
    // A row that is not an objective is no testcase: it failed nothing.
    run.phases[1].checklist[2].objective = false;
    let cases = parse(&document(&run));
    let class = "firedrill.full-dr.zone-failure";
    let min_ready = case(&cases, class, "min-ready: capsule");
    assert_eq!(min_ready.outcome, "failure");
    assert_eq!(min_ready.kind, "checklist");
    assert_eq!(
        min_ready.message,
        "capsule fell to 1 Ready pods, below its min_ready of 2"
    );
    let budget = case(&cases, class, "pdb-respected: capsule");
    assert_eq!(
        budget.message,
        "capsule had 2 pods unavailable at once; its disruption budget capsule-pdb allows 1"
    );
    assert!(!cases.iter().any(|c| c.name == "failed-probes: capsule"));
}

#[test]
fn an_aborted_run_errors_on_the_run_and_the_phase_and_skips_the_phases_after() {
    let cases = parse(&document(&fixtures::aborted_run()));
    let run = case(&cases, "firedrill.full-dr", "run");
    assert_eq!(run.outcome, "error");
    assert_eq!(run.kind, "aborted");
    assert_eq!(
        run.message,
        "the drill was aborted: capsule availability 91.00% below the 95.00% abort floor"
    );
    let recovery = case(&cases, "firedrill.full-dr.zone-failure", "recovery");
    assert_eq!(recovery.outcome, "error");
    assert_eq!(recovery.kind, "aborted");
    // The RTO was not measured; the availability it had until the abort was.
    assert_eq!(
        case(&cases, "firedrill.full-dr.zone-failure", "RTO").outcome,
        "skipped"
    );
    assert_eq!(
        case(
            &cases,
            "firedrill.full-dr.zone-failure",
            "availability floor: capsule"
        )
        .message,
        "capsule availability 91.00% below the floor 99.00% (9 of 100 probes failed)"
    );
    for phase in ["db-failover", "kafka-failover"] {
        let class = format!("firedrill.full-dr.{phase}");
        let of_phase: Vec<_> = cases.iter().filter(|c| c.classname == class).collect();
        assert!(!of_phase.is_empty());
        assert!(
            of_phase.iter().all(|c| c.outcome == "skipped"),
            "{of_phase:#?}"
        );
    }
}

#[test]
fn an_interrupted_run_and_a_run_that_did_not_start_still_fail_the_document() {
    let cases = parse(&document(&fixtures::interrupted_run()));
    assert_eq!(case(&cases, "firedrill.full-dr", "run").kind, "interrupted");
    assert_eq!(
        case(&cases, "firedrill.full-dr.pod-failure", "recovery").outcome,
        "error"
    );

    let cases = parse(&document(&not_started_run()));
    let run = case(&cases, "firedrill.full-dr", "run");
    assert_eq!(
        (run.outcome.as_str(), run.kind.as_str()),
        ("error", "not-started")
    );
    let steady = case(&cases, "firedrill.full-dr", "check error-ratio (before)");
    assert_eq!(steady.outcome, "failure");
    assert_eq!(steady.kind, "fail");
    assert_eq!(
        steady.message,
        "error-ratio 0.031 is not < 0.01 {job=\"web\"}"
    );
    // The run's own testcases come first, then the phases, every one skipped.
    assert_eq!(cases[0].name, "run");
    assert_eq!(cases[1].name, "check error-ratio (before)");
    assert!(
        cases[2..].iter().all(|c| c.outcome == "skipped"),
        "{cases:#?}"
    );
}

#[test]
fn check_evaluations_are_grouped_by_check_stage_and_phase_and_judged_as_the_engine_does() {
    let mut run = fixtures::passing_run();
    let zone = Some("zone-failure");
    run.outcome = Outcome::Failed;
    run.checks = vec![
        evaluation(
            "error-ratio",
            CheckStage::Before,
            None,
            CheckVerdict::Pass,
            Some(0.0),
        ),
        evaluation(
            "error-ratio",
            CheckStage::During,
            zone,
            CheckVerdict::Pass,
            Some(0.001),
        ),
        evaluation(
            "error-ratio",
            CheckStage::During,
            zone,
            CheckVerdict::Fail,
            Some(0.031),
        ),
        evaluation(
            "consumer-lag",
            CheckStage::After,
            zone,
            CheckVerdict::NoData,
            None,
        ),
        evaluation(
            "error-ratio",
            CheckStage::During,
            zone,
            CheckVerdict::Pass,
            Some(0.002),
        ),
        evaluation(
            "metrics-flowing",
            CheckStage::After,
            None,
            CheckVerdict::Error,
            None,
        ),
        // Back to baseline within its `within`: the last evaluation decides.
        evaluation(
            "latency",
            CheckStage::After,
            zone,
            CheckVerdict::Fail,
            Some(0.9),
        ),
        evaluation(
            "latency",
            CheckStage::After,
            zone,
            CheckVerdict::Pass,
            Some(0.1),
        ),
    ];
    let cases = parse(&document(&run));
    let checks: Vec<_> = cases
        .iter()
        .filter(|c| c.name.starts_with("check "))
        .collect();
    let names: Vec<(&str, &str)> = checks
        .iter()
        .map(|c| (c.classname.as_str(), c.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("firedrill.full-dr", "check error-ratio (before)"),
            (
                "firedrill.full-dr.zone-failure",
                "check error-ratio (during)"
            ),
            (
                "firedrill.full-dr.zone-failure",
                "check consumer-lag (after)"
            ),
            ("firedrill.full-dr.zone-failure", "check latency (after)"),
            ("firedrill.full-dr", "check metrics-flowing (after)"),
        ]
    );
    assert_eq!(checks[0].outcome, "passed");
    assert_eq!(
        checks[1].message,
        "error-ratio 0.031 is not < 0.01 {job=\"web\"} (1 of 3 evaluations missed)"
    );
    assert_eq!(
        (checks[2].outcome.as_str(), checks[2].kind.as_str()),
        ("failure", "no-data")
    );
    assert_eq!(
        checks[2].message,
        "consumer-lag: no data for consumer-lag:ratio5m{job=\"web\"}"
    );
    assert_eq!(checks[3].outcome, "passed", "{:#?}", checks[3]);
    assert_eq!(checks[4].kind, "error");
    assert_eq!(
        checks[4].message,
        "metrics-flowing: metrics-flowing evaluated: error"
    );
    // A phase's checks follow its objectives, before the next phase's.
    let during = cases
        .iter()
        .position(|c| c.name == "check error-ratio (during)")
        .unwrap_or_default();
    assert_eq!(
        cases[during - 1].classname,
        "firedrill.full-dr.zone-failure"
    );
    assert_eq!(cases[during + 3].classname, "firedrill.full-dr.db-failover");
}

#[test]
fn a_phase_failed_by_a_check_fails_that_check_not_a_verdict_testcase() {
    let mut run = fixtures::passing_run();
    run.outcome = Outcome::Failed;
    run.phases[1].verdict = PhaseVerdict::Failed {
        reasons: vec!["check error-ratio (during) fail: 0.031 is not < 0.01".to_string()],
    };
    run.checks = vec![evaluation(
        "error-ratio",
        CheckStage::During,
        Some("zone-failure"),
        CheckVerdict::Fail,
        Some(0.031),
    )];
    let cases = parse(&document(&run));
    let failed: Vec<_> = cases.iter().filter(|c| c.outcome == "failure").collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0].name, "check error-ratio (during)");
    assert_eq!(failed[0].classname, "firedrill.full-dr.zone-failure");
}

#[test]
fn the_document_fails_exactly_when_the_run_did_not_pass() {
    let mut errored = fixtures::passing_run();
    errored.outcome = Outcome::Error {
        message: "blast radius exceeded".to_string(),
    };
    errored.phases.clear();
    let mut failed_unnamed = fixtures::passing_run();
    failed_unnamed.outcome = Outcome::Failed;
    for run in [
        fixtures::passing_run(),
        fixtures::failing_run(),
        fixtures::watched_run(),
        fixtures::aborted_run(),
        fixtures::interrupted_run(),
        not_started_run(),
        errored,
        failed_unnamed,
    ] {
        let suite = JunitSuite::from_run(&run);
        let fails = suite.failures() + suite.errors() > 0;
        assert_eq!(
            fails,
            run.outcome != Outcome::Passed,
            "{}: {:#?}",
            run.outcome.label(),
            suite.cases
        );
        parse(&junit_xml(&[suite]));
    }
}

#[test]
fn markup_quotes_line_breaks_and_control_characters_are_escaped() {
    let mut run = fixtures::aborted_run();
    let reason = "web <5xx> & \"quotes\" 'too'\nsecond line\u{1b}[0m\ttab".to_string();
    run.outcome = Outcome::Aborted {
        reason: reason.clone(),
    };
    run.phases[1].verdict = PhaseVerdict::Aborted {
        reason: reason.clone(),
    };
    run.timeline[0].message = "]]> <![CDATA[ & </system-out>".to_string();
    let xml = document(&run);
    let cases = parse(&xml);
    let expected = reason.replace('\u{1b}', "\u{FFFD}");
    assert_eq!(
        case(&cases, "firedrill.full-dr", "run").message,
        format!("the drill was aborted: {expected}")
    );
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}"));
    let out = doc
        .descendants()
        .find(|n| n.has_tag_name("system-out"))
        .and_then(|n| n.text())
        .unwrap_or_default();
    assert!(out.contains("]]> <![CDATA[ & </system-out>"), "{out}");
}

#[test]
fn a_drill_that_left_no_record_is_one_error_naming_why() {
    let at = fixtures::slot() + Duration::seconds(5);
    let suite = JunitSuite::unrecorded("zone", Some("lab"), "unknown drill `zone`", at);
    let cases = parse(&junit_xml(&[suite]));
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].classname, "firedrill.zone");
    assert_eq!(cases[0].outcome, "error");
    assert_eq!(
        cases[0].message,
        "the drill could not run: unknown drill `zone`"
    );
}

#[test]
fn figures_read_as_short_as_they_are() {
    assert_eq!(figure(74.2), "74.2");
    assert_eq!(figure(60.0), "60");
    assert_eq!(figure(0.001), "0.001");
    assert_eq!(figure(1.23456), "1.235");
    assert_eq!(figure(0.0), "0");
    assert_eq!(figure(0.0004), "0.0004");
}

#[test]
fn a_watched_failing_run_renders_as_the_snapshot() {
    insta::assert_snapshot!(document(&fixtures::watched_run()));
}
