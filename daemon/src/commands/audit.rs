//! `firedrill audit`: every scheduled slot of every drill in a period, as Markdown, HTML or JSON; with `--bundle`, the period's evidence bundle too.

use std::path::Path;

use chrono::{DateTime, SubsecRound, Utc};
use firedrill_store::bundle::Written;

use crate::app::render::{renderer, report_error};
use crate::app::store::{open_store, store_error};
use crate::cli::{AuditArgs, AuditFormat};
use crate::exit::{CommandError, Exit};

pub fn run(path: &Path, args: &AuditArgs, now: DateTime<Utc>) -> Result<Exit, CommandError> {
    // Whole seconds: the page is for people, and sub-second stamps only add noise.
    let now = now.trunc_subsecs(0);
    let config = crate::load_config(path)?;
    let period = crate::app::audit::period(
        args.since.as_deref(),
        args.until.as_deref(),
        ("--since", "--until"),
        now,
    )
    .map_err(CommandError::Usage)?;
    for name in &args.drills {
        if config.drill(name).is_none() {
            return Err(CommandError::Usage(format!("unknown drill `{name}`")));
        }
    }
    let store = open_store(&config)?;
    let audit = crate::app::audit::audit(&config, store.as_deref(), period, now, &args.drills)
        .map_err(store_error)?;
    if let Some(file) = &args.bundle {
        let written = crate::app::bundle::bundle(&config, store.as_deref(), period, now)?;
        write_bundle(file, &written)?;
    }
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

/// Writes the bundle to `file` (through a temporary file beside it, so a file of that
/// name is always whole) and says on stderr what it holds.
fn write_bundle(file: &Path, written: &Written) -> Result<(), CommandError> {
    let io = |source| CommandError::Io {
        path: file.display().to_string(),
        source,
    };
    let mut partial = file.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    std::fs::write(&partial, &written.bytes).map_err(io)?;
    std::fs::rename(&partial, file).map_err(io)?;
    let info = &written.info;
    let records = match (info.runs.first(), info.runs.last()) {
        (Some(first), Some(last)) => format!(
            "{} records ({} to {}) after record {}",
            info.runs.len(),
            first.seq,
            last.seq,
            info.anchor.seq
        ),
        _ => "no run started in the period".to_string(),
    };
    eprintln!(
        "Evidence bundle {}: {records}, {} files, {}; chain head {}",
        file.display(),
        written.files,
        if info.public_key {
            "signed (public key included)"
        } else {
            "not signed (no storage.signing_key)"
        },
        info.chain_head
            .as_ref()
            .map_or("-".to_string(), |head| format!(
                "{} (record {})",
                head.sha256, head.seq
            ))
    );
    for path in &written.differing_reports {
        eprintln!(
            "warning: {path} is not the file recorded in the chain (rewritten since?): `verify --bundle` will name it"
        );
    }
    for run in &info.runs {
        for name in &run.missing_reports {
            eprintln!(
                "warning: report file {name} of run {} is no longer in the storage directory; the bundle says so",
                run.run_id
            );
        }
    }
    Ok(())
}
