//! JUnit XML of drill runs for CI: one testsuite per run, one testcase per phase objective and per PromQL check, failures naming the figure.
//!
//! The document has the shape CI servers read (Jenkins' and Ant's `junit.xsd`):
//! `testsuites > testsuite(name, tests, failures, errors, skipped, time, timestamp,
//! hostname, id, package) > properties, testcase(name, classname, time) > failure |
//! error | skipped, system-out, system-err`. Each testcase's `classname` is
//! `firedrill.DRILL.PHASE` (`firedrill.DRILL` for what belongs to the run), its `name` is
//! stable from run to run (`RTO`, `availability floor: web`, `check error-ratio (during)`)
//! so a CI server's history follows each objective, and the figures go in the messages
//! (`RTO 74.2 s exceeded target 60 s`). A PromQL check is one testcase per check, stage
//! and phase, judged as the engine judges it ([`crate::check::summaries`]).
//!
//! A document fails a CI job (has a failure or an error) exactly when the run did not pass:
//! a run that did not finish its phases (aborted, interrupted, error, not started) has an
//! `error` testcase `run` of its own, and a failed phase whose reason no objective's
//! testcase names has a `verdict` testcase. Rendering is pure; the caller writes the file.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::check::{CheckSummary, summaries};
use crate::measure::{checklist_miss, rpo_misses};
use crate::run::{
    Check, CheckResult, CheckStage, CheckVerdict, Outcome, PhaseRecord, PhaseVerdict, RunRecord,
    Trigger,
};

/// One run as a testsuite.
#[derive(Debug, Clone, PartialEq)]
pub struct JunitSuite {
    /// The drill's name.
    pub name: String,
    /// When the run started.
    pub timestamp: DateTime<Utc>,
    /// How long it ran, in seconds (0 when it never finished).
    pub time_seconds: f64,
    /// The target (cluster) the drill ran against: where the "tests" were executed.
    pub hostname: String,
    /// `run_id`, `target`, `trigger`, `outcome`, ... in order.
    pub properties: Vec<(String, String)>,
    pub cases: Vec<JunitCase>,
    /// The run's timeline, one line per event (`system-out`).
    pub output: String,
}

/// One objective, check or the run itself.
#[derive(Debug, Clone, PartialEq)]
pub struct JunitCase {
    pub name: String,
    /// `firedrill.DRILL.PHASE`, or `firedrill.DRILL` for the run's own testcases.
    pub classname: String,
    /// How long the phase ran, for its `recovery` testcase; 0 for the others.
    pub time_seconds: f64,
    pub result: JunitResult,
}

/// How a testcase ended.
#[derive(Debug, Clone, PartialEq)]
pub enum JunitResult {
    Passed,
    /// The objective or check was evaluated and missed; `kind` becomes the `type`
    /// attribute (`rto`, `rpo`, `availability`, `checklist`, `timed-out`, a check's verdict).
    Failure {
        kind: String,
        message: String,
        detail: String,
    },
    /// The run or phase could not be judged (aborted, interrupted, plugin or cluster error).
    Error {
        kind: String,
        message: String,
        detail: String,
    },
    /// Not evaluated: the phase did not run, or the figure was not measured.
    Skipped {
        message: String,
    },
}

impl JunitResult {
    fn failed(&self) -> bool {
        matches!(
            self,
            JunitResult::Failure { .. } | JunitResult::Error { .. }
        )
    }
}

impl JunitSuite {
    /// The testsuite of a recorded run.
    pub fn from_run(run: &RunRecord) -> Self {
        let drill = run.drill.as_str();
        let run_class = format!("firedrill.{drill}");
        let mut cases = Vec::new();
        if let Some(case) = run_case(&run.outcome, &run_class) {
            cases.push(case);
        }
        // Judged as the engine judged them: by check, stage and phase.
        let groups = summaries(&run.checks);
        let mut emitted = vec![false; groups.len()];
        // The drill's steady state first, as it was evaluated.
        for (index, group) in groups.iter().enumerate() {
            if group.phase.is_none() && group.stage == CheckStage::Before {
                cases.push(check_case(group, &run.checks, &run_class));
                emitted[index] = true;
            }
        }
        for phase in &run.phases {
            let class = format!("firedrill.{drill}.{}", phase.name);
            let first = cases.len();
            phase_cases(phase, &class, &mut cases);
            let mut own: Vec<usize> = (0..groups.len())
                .filter(|&i| !emitted[i] && groups[i].phase == Some(phase.name.as_str()))
                .collect();
            own.sort_by_key(|&i| groups[i].stage);
            for index in own {
                cases.push(check_case(&groups[index], &run.checks, &class));
                emitted[index] = true;
            }
            // A failed phase fails a testcase, even for a reason none of them names.
            if let PhaseVerdict::Failed { reasons } = &phase.verdict
                && !cases[first..].iter().any(|c| c.result.failed())
            {
                cases.push(JunitCase {
                    name: "verdict".to_string(),
                    classname: class,
                    time_seconds: 0.0,
                    result: JunitResult::Failure {
                        kind: "verdict".to_string(),
                        message: reasons.join("; "),
                        detail: String::new(),
                    },
                });
            }
        }
        // The drill's own `during` and `after` checks, and any naming a phase not recorded.
        for (index, group) in groups.iter().enumerate() {
            if !emitted[index] {
                let class = match group.phase {
                    Some(phase) => format!("firedrill.{drill}.{phase}"),
                    None => run_class.clone(),
                };
                cases.push(check_case(group, &run.checks, &class));
            }
        }
        // A failed run always fails the document, whatever the objectives' testcases say.
        if run.outcome == Outcome::Failed && !cases.iter().any(|c| c.result.failed()) {
            cases.push(JunitCase {
                name: "run".to_string(),
                classname: run_class,
                time_seconds: 0.0,
                result: JunitResult::Failure {
                    kind: "failed".to_string(),
                    message: "the drill failed an objective".to_string(),
                    detail: String::new(),
                },
            });
        }

        let mut properties = vec![
            ("run_id".to_string(), run.id.clone()),
            ("target".to_string(), run.target.clone()),
            ("trigger".to_string(), trigger_label(&run.trigger)),
            ("outcome".to_string(), run.outcome.label().to_string()),
        ];
        if let Some(reason) = outcome_reason(&run.outcome) {
            properties.push(("reason".to_string(), reason.to_string()));
        }
        properties.push(("started_at".to_string(), instant(run.started_at)));
        if let Some(finished) = run.finished_at {
            properties.push(("finished_at".to_string(), instant(finished)));
        }
        if let Some(slot) = run.scheduled_for {
            properties.push(("scheduled_for".to_string(), instant(slot)));
        }
        let mut output = String::new();
        for event in &run.timeline {
            let _ = writeln!(
                output,
                "{}  {}{}",
                instant(event.at),
                event
                    .phase
                    .as_deref()
                    .map(|p| format!("[{p}] "))
                    .unwrap_or_default(),
                event.message
            );
        }
        Self {
            name: run.drill.clone(),
            timestamp: run.started_at,
            time_seconds: run.duration_seconds().unwrap_or(0.0),
            hostname: run.target.clone(),
            properties,
            cases,
            output,
        }
    }

    /// The testsuite of a drill that produced no record: the configuration did not load,
    /// the drill is unknown, or its target could not be opened. One `error` testcase
    /// `run` carries `error`; `at` is when it was attempted.
    pub fn unrecorded(drill: &str, target: Option<&str>, error: &str, at: DateTime<Utc>) -> Self {
        let mut properties = Vec::new();
        if let Some(target) = target {
            properties.push(("target".to_string(), target.to_string()));
        }
        properties.push(("outcome".to_string(), "error".to_string()));
        properties.push(("reason".to_string(), error.to_string()));
        properties.push(("started_at".to_string(), instant(at)));
        Self {
            name: drill.to_string(),
            timestamp: at,
            time_seconds: 0.0,
            hostname: target.unwrap_or("unknown").to_string(),
            properties,
            cases: vec![JunitCase {
                name: "run".to_string(),
                classname: format!("firedrill.{drill}"),
                time_seconds: 0.0,
                result: JunitResult::Error {
                    kind: "error".to_string(),
                    message: format!("the drill could not run: {error}"),
                    detail: String::new(),
                },
            }],
            output: String::new(),
        }
    }

    pub fn tests(&self) -> usize {
        self.cases.len()
    }

    pub fn failures(&self) -> usize {
        self.count(|r| matches!(r, JunitResult::Failure { .. }))
    }

    pub fn errors(&self) -> usize {
        self.count(|r| matches!(r, JunitResult::Error { .. }))
    }

    pub fn skipped(&self) -> usize {
        self.count(|r| matches!(r, JunitResult::Skipped { .. }))
    }

    fn count(&self, matches: impl Fn(&JunitResult) -> bool) -> usize {
        self.cases.iter().filter(|c| matches(&c.result)).count()
    }
}

/// The JUnit XML document of `suites`: `<testsuites>` holding one `<testsuite>` each.
pub fn junit_xml(suites: &[JunitSuite]) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let sum = |count: fn(&JunitSuite) -> usize| suites.iter().map(count).sum::<usize>();
    let _ = writeln!(
        xml,
        "<testsuites name=\"firedrill\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{}\">",
        sum(JunitSuite::tests),
        sum(JunitSuite::failures),
        sum(JunitSuite::errors),
        seconds(suites.iter().map(|s| s.time_seconds).sum()),
    );
    for (id, suite) in suites.iter().enumerate() {
        write_suite(&mut xml, id, suite);
    }
    xml.push_str("</testsuites>\n");
    xml
}

fn write_suite(xml: &mut String, id: usize, suite: &JunitSuite) {
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\" hostname=\"{}\" id=\"{id}\" package=\"firedrill.{}\">",
        attr(&suite.name),
        suite.tests(),
        suite.failures(),
        suite.errors(),
        suite.skipped(),
        seconds(suite.time_seconds),
        // The schema's timestamp has no zone: it is UTC (`started_at` has the instant).
        suite.timestamp.format("%Y-%m-%dT%H:%M:%S"),
        attr(&suite.hostname),
        attr(&suite.name),
    );
    if !suite.properties.is_empty() {
        xml.push_str("    <properties>\n");
        for (name, value) in &suite.properties {
            let _ = writeln!(
                xml,
                "      <property name=\"{}\" value=\"{}\"/>",
                attr(name),
                attr(value)
            );
        }
        xml.push_str("    </properties>\n");
    }
    for case in &suite.cases {
        write_case(xml, case);
    }
    if suite.output.is_empty() {
        xml.push_str("    <system-out/>\n");
    } else {
        let _ = writeln!(xml, "    <system-out>{}</system-out>", text(&suite.output));
    }
    xml.push_str("    <system-err/>\n");
    xml.push_str("  </testsuite>\n");
}

fn write_case(xml: &mut String, case: &JunitCase) {
    let _ = write!(
        xml,
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
        attr(&case.name),
        attr(&case.classname),
        seconds(case.time_seconds)
    );
    let (element, kind, message, detail) = match &case.result {
        JunitResult::Passed => {
            xml.push_str("/>\n");
            return;
        }
        JunitResult::Skipped { message } => {
            let _ = writeln!(xml, ">\n      <skipped message=\"{}\"/>", attr(message));
            xml.push_str("    </testcase>\n");
            return;
        }
        JunitResult::Failure {
            kind,
            message,
            detail,
        } => ("failure", kind, message, detail),
        JunitResult::Error {
            kind,
            message,
            detail,
        } => ("error", kind, message, detail),
    };
    let _ = write!(
        xml,
        ">\n      <{element} message=\"{}\" type=\"{}\"",
        attr(message),
        attr(kind)
    );
    if detail.is_empty() {
        xml.push_str("/>\n");
    } else {
        let _ = writeln!(xml, ">{}</{element}>", text(detail));
    }
    xml.push_str("    </testcase>\n");
}

/// The run's own testcase, when it did not get through its phases.
fn run_case(outcome: &Outcome, classname: &str) -> Option<JunitCase> {
    let (kind, message) = match outcome {
        Outcome::Passed | Outcome::Failed => return None,
        Outcome::Aborted { reason } => ("aborted", format!("the drill was aborted: {reason}")),
        Outcome::Interrupted => (
            "interrupted",
            "firedrill stopped during the run; what it had injected was rolled back when it next started"
                .to_string(),
        ),
        Outcome::Error { message } => ("error", format!("the drill could not run: {message}")),
        Outcome::NotStarted { reason } => (
            "not-started",
            format!("the drill did not start: {reason}"),
        ),
    };
    Some(JunitCase {
        name: "run".to_string(),
        classname: classname.to_string(),
        time_seconds: 0.0,
        result: JunitResult::Error {
            kind: kind.to_string(),
            message,
            detail: String::new(),
        },
    })
}

fn outcome_reason(outcome: &Outcome) -> Option<&str> {
    match outcome {
        Outcome::Aborted { reason } | Outcome::NotStarted { reason } => Some(reason),
        Outcome::Error { message } => Some(message),
        Outcome::Passed | Outcome::Failed | Outcome::Interrupted => None,
    }
}

/// A phase's testcases: `recovery`, then each objective it has (`RTO`, `RPO`,
/// `availability floor: SERVICE`, each checklist row that is an objective).
fn phase_cases(phase: &PhaseRecord, class: &str, cases: &mut Vec<JunitCase>) {
    let case = |name: String, time_seconds: f64, result: JunitResult| JunitCase {
        name,
        classname: class.to_string(),
        time_seconds,
        result,
    };
    // Why a figure was not measured, when the phase did not get to measure it.
    let unmeasured: Option<String> = match &phase.verdict {
        PhaseVerdict::Passed | PhaseVerdict::Failed { .. } => None,
        PhaseVerdict::Skipped => Some(
            "the phase did not run (an earlier phase failed, or the run was stopped)".to_string(),
        ),
        PhaseVerdict::TimedOut => {
            Some("not measured: the phase did not recover before its deadline".to_string())
        }
        PhaseVerdict::Aborted { reason } => {
            Some(format!("not measured: the phase was aborted ({reason})"))
        }
        PhaseVerdict::Error { message } => {
            Some(format!("not measured: the phase failed ({message})"))
        }
        PhaseVerdict::Interrupted => {
            Some("not measured: firedrill stopped while the phase ran".to_string())
        }
    };
    let skipped = |fallback: &str| JunitResult::Skipped {
        message: unmeasured.clone().unwrap_or_else(|| fallback.to_string()),
    };
    let phase_seconds = phase.finished_at.map_or(0.0, |end| {
        (end - phase.started_at).num_milliseconds() as f64 / 1000.0
    });

    // How long a phase that timed out waited.
    let waited = match (phase.injected_at, phase.finished_at) {
        (Some(fault), Some(end)) => format!(
            "not recovered {} s after the fault, at the phase deadline",
            figure((end - fault).num_milliseconds() as f64 / 1000.0)
        ),
        _ => "not recovered before the phase deadline".to_string(),
    };

    // Recovery itself.
    let recovery = match &phase.verdict {
        PhaseVerdict::Passed | PhaseVerdict::Failed { .. } => JunitResult::Passed,
        PhaseVerdict::Skipped => skipped(""),
        PhaseVerdict::TimedOut => JunitResult::Failure {
            kind: "timed-out".to_string(),
            message: waited.clone(),
            detail: phase_detail(phase),
        },
        PhaseVerdict::Aborted { reason } => JunitResult::Error {
            kind: "aborted".to_string(),
            message: format!("aborted: {reason}"),
            detail: phase_detail(phase),
        },
        PhaseVerdict::Error { message } => JunitResult::Error {
            kind: "error".to_string(),
            message: message.clone(),
            detail: phase_detail(phase),
        },
        PhaseVerdict::Interrupted => JunitResult::Error {
            kind: "interrupted".to_string(),
            message: "firedrill stopped while the phase ran; it was rolled back when firedrill next started"
                .to_string(),
            detail: phase_detail(phase),
        },
    };
    // The phase's own duration; its other testcases take none, so a parser that adds up
    // testcase times gets no more than the run took.
    cases.push(case("recovery".to_string(), phase_seconds, recovery));

    if let Some(target) = phase.rto_target_seconds {
        let result = match phase.recovery_seconds {
            Some(measured) if measured > target => JunitResult::Failure {
                kind: "rto".to_string(),
                message: format!(
                    "RTO {} s exceeded target {} s",
                    figure(measured),
                    figure(target)
                ),
                detail: phase_detail(phase),
            },
            Some(_) => JunitResult::Passed,
            // A deadline is never shorter than the RTO: missed, though not measured.
            None if phase.verdict == PhaseVerdict::TimedOut => JunitResult::Failure {
                kind: "rto".to_string(),
                message: format!("RTO target {} s exceeded: {waited}", figure(target)),
                detail: phase_detail(phase),
            },
            None => skipped("not measured: no recovery was recorded"),
        };
        cases.push(case("RTO".to_string(), 0.0, result));
    }

    if let Some(target) = phase.rpo_target_seconds {
        let result = match &phase.data_loss {
            Some(loss) => {
                let rpo = std::time::Duration::try_from_secs_f64(target.max(0.0))
                    .unwrap_or(std::time::Duration::MAX);
                let misses = rpo_misses(rpo, loss);
                if misses.is_empty() {
                    JunitResult::Passed
                } else {
                    JunitResult::Failure {
                        kind: "rpo".to_string(),
                        message: misses.join("; "),
                        detail: format!(
                            "{} canary writes, {} acknowledged, {} acknowledged lost; loss window {} s against the RPO target {} s ({})",
                            loss.canaries_written,
                            loss.canaries_acknowledged,
                            loss.acknowledged_lost,
                            figure(loss.loss_window_seconds),
                            figure(target),
                            loss.method
                        ),
                    }
                }
            }
            None => skipped("not measured: the phase wrote no canaries and checked no backup"),
        };
        cases.push(case("RPO".to_string(), 0.0, result));
    }

    if let Some(floor) = phase.availability_floor {
        let probed: Vec<_> = phase.availability.iter().filter(|s| s.probes > 0).collect();
        if probed.is_empty() {
            cases.push(case(
                "availability floor".to_string(),
                0.0,
                skipped("not measured: no service was probed during the phase"),
            ));
        }
        for service in probed {
            let ratio = service.ratio();
            let result = if ratio < floor {
                JunitResult::Failure {
                    kind: "availability".to_string(),
                    message: format!(
                        "{} availability {:.2}% below the floor {:.2}% ({} of {} probes failed)",
                        service.service,
                        ratio * 100.0,
                        floor * 100.0,
                        service.probes - service.successes,
                        service.probes
                    ),
                    detail: service
                        .last_failure
                        .as_deref()
                        .map(|why| format!("the last failed probe: {why}"))
                        .unwrap_or_default(),
                }
            } else {
                JunitResult::Passed
            };
            cases.push(case(
                format!("availability floor: {}", service.service),
                0.0,
                result,
            ));
        }
    }

    for row in phase.checklist.iter().filter(|row| row.objective) {
        let result = if row.passed {
            JunitResult::Passed
        } else {
            JunitResult::Failure {
                kind: "checklist".to_string(),
                message: checklist_miss(row),
                detail: String::new(),
            }
        };
        cases.push(case(
            format!("{}: {}", check_label(row.check), row.service),
            0.0,
            result,
        ));
    }
}

/// What a failure's body says about its phase: the fault, recovery and rollback.
fn phase_detail(phase: &PhaseRecord) -> String {
    let mut detail = format!("phase {} (scenario {})", phase.name, phase.scenario);
    if let Some(clock) = &phase.clock {
        let _ = write!(
            detail,
            "\nrecovery clock started at {}{}",
            instant(clock.started_at),
            clock
                .first_action
                .as_deref()
                .map(|action| format!(" by {action}"))
                .unwrap_or_default()
        );
    }
    if let Some(at) = phase.injected_at {
        let _ = write!(detail, "\nfault in place at {}", instant(at));
    }
    if let Some(at) = phase.recovered_at {
        let _ = write!(detail, "\nrecovered at {}", instant(at));
    }
    if let Some(detection) = &phase.detection {
        let _ = write!(detail, "\ndetected by {detection}");
    }
    if let Some(rollback) = &phase.rollback {
        let _ = write!(detail, "\nrollback: {rollback}");
    }
    detail
}

fn check_label(check: Check) -> &'static str {
    match check {
        Check::MinReady => "min-ready",
        Check::PdbRespected => "pdb-respected",
        Check::FailedProbes => "failed-probes",
    }
}

/// A check's testcase, failed when the check did not hold as the engine judges it
/// ([`summaries`]: before and after, its last evaluation, `within` retries included;
/// during a phase, any failed or no-data evaluation); the message names the deciding
/// evaluation's figure, the body lists every evaluation that was not a pass.
fn check_case(group: &CheckSummary<'_>, results: &[CheckResult], class: &str) -> JunitCase {
    let result = if group.held {
        JunitResult::Passed
    } else {
        let mut message = check_message(group.deciding);
        if group.evaluations > 1 {
            let _ = write!(
                message,
                " ({} of {} evaluations missed)",
                group.misses, group.evaluations
            );
        }
        let mut detail = String::new();
        for result in results.iter().filter(|r| {
            r.check == group.check
                && r.stage == group.stage
                && r.phase.as_deref() == group.phase
                && r.verdict != CheckVerdict::Pass
        }) {
            let _ = writeln!(
                detail,
                "{} {}: {}\n  query: {}",
                instant(result.at),
                result.verdict.label(),
                result.message,
                result.query
            );
        }
        JunitResult::Failure {
            kind: group.deciding.verdict.label().to_string(),
            message,
            detail,
        }
    };
    JunitCase {
        name: format!("check {} ({})", group.check, group.stage.label()),
        classname: class.to_string(),
        time_seconds: 0.0,
        result,
    }
}

/// `error-ratio 0.031 is not < 0.01 {job="web"}`; `error-ratio: no data for QUERY`.
fn check_message(result: &CheckResult) -> String {
    match (result.verdict, result.value) {
        (CheckVerdict::Fail, Some(value)) => format!(
            "{} {value} is not {}{}",
            result.check,
            result.expect,
            result
                .series
                .as_deref()
                .map(|s| format!(" {s}"))
                .unwrap_or_default()
        ),
        (CheckVerdict::NoData, _) => {
            format!("{}: no data for {}", result.check, result.query)
        }
        _ => format!("{}: {}", result.check, result.message),
    }
}

fn trigger_label(trigger: &Trigger) -> String {
    match trigger {
        Trigger::Schedule { slot } => format!("schedule ({})", instant(*slot)),
        Trigger::CatchUp { missed_slots } => {
            format!("catch-up ({} missed slots)", missed_slots.len())
        }
        Trigger::Cli { user } => format!("cli ({user})"),
        Trigger::Api { client } => format!("api ({client})"),
    }
}

fn instant(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A figure in seconds or a ratio, as short as it reads: `74.2`, `60`, `0.001`.
fn figure(value: f64) -> String {
    if value != 0.0 && value.abs() < 0.001 {
        return value.to_string();
    }
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() || text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// A `time` attribute: non-negative seconds with three decimals.
fn seconds(value: f64) -> String {
    if value.is_finite() && value > 0.0 {
        format!("{value:.3}")
    } else {
        "0.000".to_string()
    }
}

/// `value` escaped for a double-quoted attribute: markup and quotes as entities, tabs and
/// line breaks as character references (so they survive attribute normalisation), and
/// characters XML 1.0 cannot carry as U+FFFD.
fn attr(value: &str) -> String {
    escape(value, true)
}

/// `value` escaped for element content.
fn text(value: &str) -> String {
    escape(value, false)
}

fn escape(value: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\'' if attribute => out.push_str("&apos;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
