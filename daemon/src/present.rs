//! A drill on a terminal: run through the app with its progress on stderr, then its record or summary, its JUnit file and its exit code.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use firedrill_core::report::{JunitSuite, junit_xml};
use firedrill_core::run::{Outcome, PhaseVerdict, RunRecord};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use firedrill_core::config::Config;

use crate::app::drill::{DrillRun, run_drill};
use crate::cli::{OutputFormat, RunArgs};
use crate::engine::Progress;
use crate::exit::{CommandError, Exit};

/// Runs a drill (the app's `run_drill`) with its progress on stderr and the record or a
/// summary on stdout, and writes its JUnit XML when `--junit` asks (also when the drill
/// could not run); returns the exit code and the report directory. `demo` runs its
/// drill through this too.
pub async fn run_and_print(
    config: &Config,
    config_sha256: String,
    args: &RunArgs,
    metrics: Option<&crate::metrics::Metrics>,
) -> Result<(Exit, PathBuf), CommandError> {
    let (progress, printer) = progress_printer();
    let ran = run_drill(
        DrillRun {
            config,
            config_sha256,
            drill: &args.drill,
            target: args.target.as_deref(),
            metrics,
        },
        progress,
        |pass| {
            for line in pass.lines() {
                eprintln!("{line}");
            }
        },
    )
    .await;
    let _ = printer.await;
    if let Some(path) = &args.junit {
        let suite = match &ran {
            Ok((record, _)) => JunitSuite::from_run(record),
            Err(err) => unrecorded(args, Some(config), err),
        };
        if let Err(err) = write_junit(path, &suite).await {
            // A drill that passed must not pass CI without its file; any other outcome
            // already fails the job with its own exit code or error.
            match &ran {
                Ok((record, _)) if exit_of(&record.outcome) == Exit::Success => return Err(err),
                _ => eprintln!("error: {err}"),
            }
        }
    }
    let (record, reports) = ran?;
    match args.output {
        OutputFormat::Json => {
            let text = serde_json::to_string_pretty(&record).map_err(|err| {
                CommandError::Usage(format!("cannot encode the run record: {err}"))
            })?;
            crate::sayln!("{text}");
        }
        OutputFormat::Text => {
            crate::say!("{}", summary(&record));
            crate::sayln!("\nReport: {}", reports.join("report.md").display());
            if let Some(path) = &args.junit {
                crate::sayln!("JUnit: {}", path.display());
            }
        }
    }
    Ok((exit_of(&record.outcome), reports))
}

/// The JUnit testsuite of a drill that left no record (`error` is why), dated now.
pub fn unrecorded(
    args: &RunArgs,
    config: Option<&Config>,
    error: &dyn std::error::Error,
) -> JunitSuite {
    let target = args.target.clone().or_else(|| {
        config
            .and_then(|config| config.drill(&args.drill))
            .map(|drill| drill.target.clone())
    });
    JunitSuite::unrecorded(
        &args.drill,
        target.as_deref(),
        &crate::exit::error_chain(error),
        chrono::Utc::now(),
    )
}

/// Writes `suite` as a JUnit XML document to `path` (`run --junit`).
pub async fn write_junit(path: &Path, suite: &JunitSuite) -> Result<(), CommandError> {
    let xml = junit_xml(std::slice::from_ref(suite));
    tokio::fs::write(path, xml)
        .await
        .map_err(|source| CommandError::Io {
            path: format!("cannot write the JUnit file {}", path.display()),
            source,
        })
}

/// A channel for the engine's progress and the task printing it to stderr; the task ends
/// when the sender is dropped (the run is over).
pub fn progress_printer() -> (UnboundedSender<Progress>, JoinHandle<()>) {
    let (progress, mut events) = tokio::sync::mpsc::unbounded_channel();
    let printer = tokio::spawn(async move {
        // Recovery updates come every verify call; show one when it says something new,
        // or once a second.
        let mut last: Option<(String, tokio::time::Instant)> = None;
        while let Some(event) = events.recv().await {
            if let Progress::Recovering { reason, .. } = &event {
                let now = tokio::time::Instant::now();
                if let Some((previous, at)) = &last
                    && previous == reason
                    && now.duration_since(*at) < Duration::from_secs(1)
                {
                    continue;
                }
                last = Some((reason.clone(), now));
            }
            print_progress(&event);
        }
    });
    (progress, printer)
}

/// The exit code of a run's outcome.
pub fn exit_of(outcome: &Outcome) -> Exit {
    match outcome {
        Outcome::Passed => Exit::Success,
        Outcome::Failed => Exit::ObjectiveFailed,
        // The steady state did not hold: nothing ran, as with an abort before the fault.
        Outcome::Aborted { .. } | Outcome::Interrupted | Outcome::NotStarted { .. } => {
            Exit::Aborted
        }
        Outcome::Error { .. } => Exit::Error,
    }
}

fn print_progress(event: &Progress) {
    let mut err = std::io::stderr().lock();
    let _ = match event {
        Progress::PhaseStarted { phase, rto } => writeln!(
            err,
            "> {phase}: injecting{}",
            rto.map(|r| format!(" (RTO {} s)", r.as_secs()))
                .unwrap_or_default()
        ),
        Progress::Recovering {
            phase,
            elapsed,
            reason,
        } => writeln!(err, "  {phase}: {:>6.1} s  {reason}", elapsed.as_secs_f64()),
        Progress::PhaseFinished {
            phase,
            verdict,
            recovery,
        } => writeln!(
            err,
            "< {phase}: {}{}",
            verdict.label(),
            recovery
                .map(|r| format!(", recovered in {:.2} s", r.as_secs_f64()))
                .unwrap_or_default()
        ),
    };
}

/// The text summary printed after a run.
pub fn summary(record: &RunRecord) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nRun {}: {}{}",
        record.id,
        record.outcome.label(),
        record
            .duration_seconds()
            .map(|d| format!(" in {d:.1} s"))
            .unwrap_or_default()
    );
    if let Outcome::Aborted { reason }
    | Outcome::Error { message: reason }
    | Outcome::NotStarted { reason } = &record.outcome
    {
        let _ = writeln!(out, "  {reason}");
    }
    // A drill spanning clusters says where each phase ran.
    let spans = record.phases.iter().any(|p| p.target.is_some());
    let on = |phase: &firedrill_core::run::PhaseRecord| {
        if spans {
            format!("{:<14} ", phase.target.as_deref().unwrap_or(&record.target))
        } else {
            String::new()
        }
    };
    let _ = writeln!(
        out,
        "\n{:<18} {}{:>10} {:>10}  RESULT",
        "PHASE",
        if spans {
            format!("{:<14} ", "ON")
        } else {
            String::new()
        },
        "RTO",
        "MEASURED"
    );
    for phase in &record.phases {
        let secs = |v: Option<f64>| v.map(|s| format!("{s:.2} s")).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:<18} {}{:>10} {:>10}  {}",
            phase.name,
            on(phase),
            secs(phase.rto_target_seconds),
            secs(phase.recovery_seconds),
            phase.verdict.label()
        );
        match &phase.verdict {
            PhaseVerdict::Failed { reasons } => {
                for reason in reasons {
                    let _ = writeln!(out, "  - {reason}");
                }
            }
            PhaseVerdict::Error { message: reason } | PhaseVerdict::Aborted { reason } => {
                let _ = writeln!(out, "  - {reason}");
            }
            _ => {}
        }
    }
    if !record.availability.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<18} {:>7} {:>9} {:>9} {:>9}",
            "SERVICE", "PROBES", "AVAIL", "P95", "MAX"
        );
        for service in &record.availability {
            let ms = |v: Option<f64>| {
                v.map(|s| format!("{:.1} ms", s * 1000.0))
                    .unwrap_or_else(|| "-".into())
            };
            let _ = writeln!(
                out,
                "{:<18} {:>7} {:>8.2}% {:>9} {:>9}",
                service.service,
                service.probes,
                service.ratio() * 100.0,
                ms(service.latency_p95_seconds),
                ms(service.latency_max_seconds)
            );
        }
    }
    out
}
