//! `firedrill runs`: the recorded runs, oldest first, with outcome and email delivery (and, as JSON, each webhook's and annotation's).

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::app::store::{open_store, store_error};
use crate::cli::{OutputFormat, RunsArgs};
use crate::exit::{CommandError, Exit};

#[derive(Debug, Serialize)]
struct Listed {
    run_id: String,
    drill: String,
    started_at: chrono::DateTime<chrono::Utc>,
    duration_seconds: Option<f64>,
    outcome: String,
    email: Option<String>,
    /// Webhooks and Grafana annotations of the run, by outbox channel (JSON only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pushes: Vec<firedrill_store::PushDelivery>,
}

pub fn run(path: &Path, args: &RunsArgs) -> Result<Exit, CommandError> {
    let config = crate::load_config(path)?;
    let Some(store) = open_store(&config)? else {
        if args.output == OutputFormat::Json {
            crate::outln!("[]");
        } else {
            crate::outln!(
                "No runs recorded in {}.",
                crate::app::store::StoreAt::of(&config).describe()
            );
        }
        return Ok(Exit::Success);
    };
    let mut listed = Vec::new();
    for stored in store.runs().map_err(store_error)? {
        let run = &stored.entry.run;
        if !args.drills.is_empty() && !args.drills.contains(&run.drill) {
            continue;
        }
        let email = store
            .delivery(&run.id)
            .map_err(store_error)?
            .map(|d| format!("{} ({} attempts)", d.status, d.attempts));
        let pushes = store.push_deliveries(&run.id).map_err(store_error)?;
        listed.push(Listed {
            run_id: run.id.clone(),
            drill: run.drill.clone(),
            started_at: run.started_at,
            duration_seconds: run.duration_seconds(),
            outcome: run.outcome.label().to_string(),
            email,
            pushes,
        });
    }
    match args.output {
        OutputFormat::Json => {
            let text = serde_json::to_string_pretty(&listed)
                .map_err(|err| CommandError::Usage(format!("cannot encode runs: {err}")))?;
            crate::outln!("{text}");
        }
        OutputFormat::Text => {
            let mut out = String::new();
            let _ = writeln!(
                out,
                "{:<44} {:<18} {:<20} {:>10} {:<12} EMAIL",
                "RUN", "DRILL", "STARTED (UTC)", "DURATION", "OUTCOME"
            );
            for run in &listed {
                let _ = writeln!(
                    out,
                    "{:<44} {:<18} {:<20} {:>10} {:<12} {}",
                    run.run_id,
                    run.drill,
                    run.started_at.format("%Y-%m-%d %H:%M:%S"),
                    run.duration_seconds
                        .map_or_else(|| "-".to_string(), firedrill_core::report::format_seconds),
                    run.outcome,
                    run.email.as_deref().unwrap_or("-")
                );
            }
            crate::out!("{out}");
        }
    }
    Ok(Exit::Success)
}
