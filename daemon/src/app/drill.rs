//! Running one drill: its target's session, the recovery owed before it, the engine run and publishing the record.

use std::path::PathBuf;

use firedrill_core::config::Config;
use firedrill_core::run::{RunRecord, Trigger};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::app::publish::publish;
use crate::app::recovery::{Pass, Sessions, recover};
use crate::app::session::{engine_for, open};
use crate::engine::{Progress, RunRequest};
use crate::exit::CommandError;

fn usage(message: impl Into<String>) -> CommandError {
    CommandError::Usage(message.into())
}

/// What to run.
pub struct DrillRun<'a> {
    pub config: &'a Config,
    /// SHA-256 of the configuration file, for the record.
    pub config_sha256: String,
    pub drill: &'a str,
    /// The target to use instead of the drill's own.
    pub target: Option<&'a str>,
    /// Observes the run when given (`demo` serves /metrics while it runs).
    pub metrics: Option<&'a crate::metrics::Metrics>,
}

/// Runs a drill of an already loaded configuration: opens its target, first rolls back
/// what a killed process left owed on any target (`recovered` hears what that pass did),
/// runs the drill (Ctrl-C or SIGTERM aborts and rolls back), then records and publishes
/// it. Returns the record and the directory of its report files.
pub async fn run_drill(
    run: DrillRun<'_>,
    progress: UnboundedSender<Progress>,
    recovered: impl FnOnce(&Pass),
) -> Result<(RunRecord, PathBuf), CommandError> {
    let config = run.config.clone();
    let Some(drill) = config.drill(run.drill) else {
        return Err(unknown_drill(&config, run.drill));
    };
    let target = run
        .target
        .map_or_else(|| drill.target.clone(), str::to_string);
    let mut sessions = Sessions::new();
    sessions.insert(target.clone(), open(&config, &target).await?);
    // A previous process killed mid-drill owes rollbacks: pay them before anything else,
    // each on the cluster its run used. What cannot be paid now stays owed, and is said.
    let pass = recover(&config, &mut sessions, None).await?;
    recovered(&pass);
    // A drill spanning clusters acts on the other targets its phases name too; their
    // sessions live as long as the run.
    let engine = engine_for(
        &config,
        &mut sessions,
        &target,
        &drill.other_targets(&target),
    )
    .await?;

    let cancel = CancellationToken::new();
    {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            crate::app::signals::shutdown_signal().await;
            eprintln!("Aborting: rolling back the current phase...");
            cancel.cancel();
        });
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let request = RunRequest::new(&drill.name, Trigger::Cli { user }, None, run.config_sha256);
    // The `started` webhooks go out beside the drill, never in its way.
    let announced = crate::app::outbox::announce_start(
        &config,
        RunRecord::begun(
            request.run_id.clone(),
            drill.name.clone(),
            target.clone(),
            request.trigger.clone(),
            chrono::Utc::now(),
        ),
    );
    let record = engine.run(&config, request, cancel, Some(progress)).await;
    drop(sessions);
    if let Some(announced) = announced {
        let _ = announced.await;
    }
    if let Some(metrics) = run.metrics {
        metrics.observe_run(&record);
    }
    let reports = publish(&config, &record).await?;
    // This run's email and pushes, and any a recovery above queued, go out now if they can.
    crate::app::outbox::deliver_and_say(&config).await;
    Ok((record, reports))
}

/// `unknown drill NAME (known: ...)`.
pub fn unknown_drill(config: &Config, name: &str) -> CommandError {
    let known: Vec<&str> = config.drills.iter().map(|d| d.name.as_str()).collect();
    usage(format!(
        "unknown drill `{name}` (known: {})",
        known.join(", ")
    ))
}
