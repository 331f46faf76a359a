//! `firedrill run` and `firedrill plan`: a drill against a target, for real or as a dry run.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use firedrill_core::config::Config;
use firedrill_core::measure::BlastCount;
use firedrill_core::run::{Outcome, PhaseVerdict, RunRecord, Trigger};
use tokio_util::sync::CancellationToken;

use crate::app::publish::publish;
use crate::app::recovery::{Sessions, recover};
use crate::app::session::{config_sha256, open};
use crate::cli::{DrillArgs, OutputFormat, RunArgs};
use crate::engine::ports::{PhaseContext, ScenarioHost};
use crate::engine::{Progress, RunRequest};
use crate::exit::{CommandError, Exit};

fn usage(message: impl Into<String>) -> CommandError {
    CommandError::Usage(message.into())
}

/// `firedrill run DRILL`.
pub async fn run(config_path: &Path, args: &RunArgs) -> Result<Exit, CommandError> {
    let config = crate::load_config(config_path)?;
    let (exit, _) = run_loaded(&config, config_sha256(config_path), args, None).await?;
    Ok(exit)
}

/// Runs a drill of an already loaded configuration; returns the exit code and the
/// directory holding the run's report files. `metrics`, when given, observes the run.
pub async fn run_loaded(
    config: &Config,
    config_sha256: String,
    args: &RunArgs,
    metrics: Option<&crate::metrics::Metrics>,
) -> Result<(Exit, PathBuf), CommandError> {
    let config = config.clone();
    let Some(drill) = config.drill(&args.drill) else {
        return Err(unknown_drill(&config, &args.drill));
    };
    let target = args.target.clone().unwrap_or_else(|| drill.target.clone());
    let mut sessions = Sessions::new();
    sessions.insert(target.clone(), open(&config, &target).await?);
    // A previous process killed mid-drill owes rollbacks: pay them before anything else,
    // each on the cluster its run used. What cannot be paid now stays owed, and is said.
    let pass = recover(&config, &mut sessions, None).await?;
    for line in pass.lines() {
        eprintln!("{line}");
    }
    let Some(session) = sessions.remove(&target) else {
        return Err(usage(format!("target `{target}` has no session")));
    };
    drop(sessions);

    let cancel = CancellationToken::new();
    {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            crate::commands::sandbox::shutdown_signal().await;
            eprintln!("Aborting: rolling back the current phase...");
            cancel.cancel();
        });
    }
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
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let record = session
        .engine
        .run(
            &config,
            RunRequest {
                run_id: None,
                drill: drill.name.clone(),
                trigger: Trigger::Cli { user },
                scheduled_for: None,
                config_sha256,
            },
            cancel,
            Some(progress),
        )
        .await;
    let _ = printer.await;
    if let Some(metrics) = metrics {
        metrics.observe_run(&record);
    }
    let reports = publish(&config, &record).await?;
    match args.output {
        OutputFormat::Json => {
            let text = serde_json::to_string_pretty(&record)
                .map_err(|err| usage(format!("cannot encode the run record: {err}")))?;
            crate::sayln!("{text}");
        }
        OutputFormat::Text => {
            crate::say!("{}", summary(&record));
            crate::sayln!("\nReport: {}", reports.join("report.md").display());
        }
    }
    let exit = match record.outcome {
        Outcome::Passed => Exit::Success,
        Outcome::Failed => Exit::ObjectiveFailed,
        Outcome::Aborted { .. } | Outcome::Interrupted => Exit::Aborted,
        Outcome::Error { .. } => Exit::Error,
    };
    Ok((exit, reports))
}

fn unknown_drill(config: &Config, name: &str) -> CommandError {
    let known: Vec<&str> = config.drills.iter().map(|d| d.name.as_str()).collect();
    usage(format!(
        "unknown drill `{name}` (known: {})",
        known.join(", ")
    ))
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
    use std::fmt::Write as _;
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
    if let Outcome::Aborted { reason } | Outcome::Error { message: reason } = &record.outcome {
        let _ = writeln!(out, "  {reason}");
    }
    let _ = writeln!(
        out,
        "\n{:<18} {:>10} {:>10}  RESULT",
        "PHASE", "TARGET", "MEASURED"
    );
    for phase in &record.phases {
        let secs = |v: Option<f64>| v.map(|s| format!("{s:.2} s")).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:<18} {:>10} {:>10}  {}",
            phase.name,
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

/// `firedrill plan DRILL`: every action each phase would take, changing nothing.
pub async fn plan(config_path: &Path, args: &DrillArgs) -> Result<Exit, CommandError> {
    let config = crate::load_config(config_path)?;
    let Some(drill) = config.drill(&args.drill) else {
        return Err(unknown_drill(&config, &args.drill));
    };
    let target = args.target.clone().unwrap_or_else(|| drill.target.clone());
    let session = open(&config, &target).await?;
    crate::sayln!(
        "Plan of drill {} against target {target} (nothing is changed)\n",
        drill.name
    );
    // Limits apply per phase; report the largest.
    let mut worst = BlastCount::default();
    for phase in &drill.phases {
        let mut services = Vec::new();
        for name in &phase.services {
            if let Some(service) = config.services.get(name) {
                let selector = service.selector.to_string();
                let replicas = session
                    .cluster
                    .count_ready(&service.namespace, &selector)
                    .await
                    .map_err(|err| usage(format!("cannot read service {name}: {err}")))?;
                services.push(crate::engine::ports::ServiceRef {
                    name: name.clone(),
                    namespace: service.namespace.clone(),
                    selector,
                    replicas,
                });
            }
        }
        let ctx = PhaseContext {
            run_id: "plan".into(),
            drill: drill.name.clone(),
            phase: phase.name.clone(),
            scenario: phase.scenario.clone(),
            params: serde_json::Value::Object(phase.params.clone()),
            services,
        };
        crate::sayln!("Phase {} ({})", phase.name, phase.scenario);
        let scenario = match session.scenarios.load(&phase.scenario).await {
            Ok(scenario) => scenario,
            Err(err) => {
                crate::sayln!("  cannot load: {err}\n");
                continue;
            }
        };
        match scenario.plan(&ctx).await {
            Ok(actions) if actions.is_empty() => crate::sayln!("  (no actions)"),
            Ok(actions) => {
                let count = BlastCount::of(actions.iter().map(|a| a.kind.as_str()));
                worst.pods = worst.pods.max(count.pods);
                worst.nodes = worst.nodes.max(count.nodes);
                for action in &actions {
                    crate::sayln!(
                        "  {:<16} {}  ({})",
                        action.kind,
                        action.target,
                        action.detail
                    );
                }
            }
            Err(err) => crate::sayln!("  plan failed: {err}"),
        }
        if let Some(canary) = &phase.canary {
            crate::sayln!(
                "  {:<16} connection {}  (a write every {} ms from {} ms before the fault until recovery, read back from {})",
                "canary",
                canary.connection,
                canary.interval.as_millis(),
                canary.lead.as_millis(),
                canary.read_from
            );
        }
        crate::sayln!();
    }
    let plural = |n: u32, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    crate::sayln!(
        "Blast radius: {} disrupted, {} cordoned (largest phase)",
        plural(worst.pods, "pod", "pods"),
        plural(worst.nodes, "node", "nodes")
    );
    let exceeded = worst.exceeds(&drill.blast_radius);
    if exceeded.is_empty() {
        crate::sayln!("Within the configured blast radius.");
        Ok(Exit::Success)
    } else {
        crate::sayln!(
            "Exceeds the configured blast radius: {}",
            exceeded.join("; ")
        );
        Ok(Exit::ObjectiveFailed)
    }
}
