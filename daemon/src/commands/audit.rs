//! `firedrill audit`: every scheduled slot of every drill in a period, as Markdown, HTML or JSON.

use std::path::Path;

use chrono::{DateTime, Duration, NaiveDate, SubsecRound, Utc};
use firedrill_core::report::{Audit, AuditRun, ChainStatus};

use crate::app::render::{renderer, report_error};
use crate::app::store::{open_store, store_error};
use crate::cli::{AuditArgs, AuditFormat};
use crate::exit::{CommandError, Exit};

/// `YYYY-MM-DD` (midnight UTC; for `--until`, the end of that day) or RFC 3339.
fn parse_date(flag: &str, text: &str, end_of_day: bool) -> Result<DateTime<Utc>, CommandError> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let day = if end_of_day {
            day.succ_opt().unwrap_or(day)
        } else {
            day
        };
        return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|err| {
            CommandError::Usage(format!(
                "{flag} `{text}` is neither a date (2026-10-01) nor an RFC 3339 instant ({err})"
            ))
        })
}

pub fn run(path: &Path, args: &AuditArgs, now: DateTime<Utc>) -> Result<Exit, CommandError> {
    // Whole seconds: the page is for people, and sub-second stamps only add noise.
    let now = now.trunc_subsecs(0);
    let config = crate::load_config(path)?;
    let until = match &args.until {
        Some(text) => parse_date("--until", text, true)?,
        None => now,
    };
    let since = match &args.since {
        Some(text) => parse_date("--since", text, false)?,
        None => until - Duration::days(92),
    };
    if since >= until {
        return Err(CommandError::Usage(format!(
            "--since ({since}) must be before --until ({until})"
        )));
    }
    for name in &args.drills {
        if config.drill(name).is_none() {
            return Err(CommandError::Usage(format!("unknown drill `{name}`")));
        }
    }
    let (runs, chain) = match open_store(&config)? {
        Some(store) => {
            let verification = store.verify().map_err(store_error)?;
            let runs: Vec<AuditRun> = store
                .runs()
                .map_err(store_error)?
                .into_iter()
                .map(|stored| AuditRun {
                    report_sha256: stored.entry.report_sha256.get("report.md").cloned(),
                    run_id: stored.entry.run.id,
                    drill: stored.entry.run.drill,
                    trigger: stored.entry.run.trigger,
                    scheduled_for: stored.entry.run.scheduled_for,
                    started_at: stored.entry.run.started_at,
                    outcome: stored.entry.run.outcome,
                })
                .collect();
            let chain = ChainStatus {
                intact: verification.intact(),
                records: verification.records,
                head_sha256: verification.head_sha256.clone(),
                problem: verification.broken.as_ref().map(ToString::to_string),
            };
            (runs, chain)
        }
        None => (
            Vec::new(),
            ChainStatus {
                intact: true,
                records: 0,
                head_sha256: None,
                problem: None,
            },
        ),
    };
    let drills: Vec<_> = config
        .drills
        .iter()
        .filter(|d| args.drills.is_empty() || args.drills.contains(&d.name))
        .cloned()
        .collect();
    let audit = Audit::build(&drills, &runs, since, until, now, chain);
    let text = match args.format {
        AuditFormat::Md => renderer(&config)?
            .audit_markdown(&audit)
            .map_err(report_error)?,
        AuditFormat::Html => renderer(&config)?
            .audit_html(&audit)
            .map_err(report_error)?,
        AuditFormat::Json => serde_json::to_string_pretty(&audit)
            .map_err(|err| CommandError::Usage(format!("cannot encode the audit: {err}")))?,
    };
    crate::out!("{text}");
    if !text.ends_with('\n') {
        crate::outln!();
    }
    Ok(if audit.clean {
        Exit::Success
    } else {
        Exit::ObjectiveFailed
    })
}
