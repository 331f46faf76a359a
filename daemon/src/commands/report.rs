//! `firedrill report RUN_ID`: re-renders a recorded run's report, agenda or JSON export.

use std::path::Path;

use firedrill_core::config::Config;
use firedrill_core::report::{Renderer, Report, TEMPLATE_FILES};
use firedrill_store::RunStore;

use super::runs::{open_store, store_error};
use crate::cli::{ReportArgs, ReportFormat};
use crate::exit::{CommandError, Exit};

/// The renderer with the user's template directory (`report.templates`) applied: every
/// known template file found there replaces the built-in one.
pub(crate) fn renderer(config: &Config) -> Result<Renderer, CommandError> {
    let mut overrides = Vec::new();
    if let Some(dir) = &config.report.templates {
        for (file, _) in TEMPLATE_FILES {
            let path = dir.join(file);
            match std::fs::read_to_string(&path) {
                Ok(text) => overrides.push(((*file).to_string(), text)),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(CommandError::Io {
                        path: path.display().to_string(),
                        source,
                    });
                }
            }
        }
    }
    Renderer::with_overrides(&overrides).map_err(report_error)
}

pub(crate) fn report_error(err: firedrill_core::report::ReportError) -> CommandError {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    CommandError::Usage(text)
}

pub fn run(path: &Path, args: &ReportArgs) -> Result<Exit, CommandError> {
    let config = crate::load_config(path)?;
    let stored = match open_store(&config)? {
        Some(store) => store.run(&args.run_id).map_err(store_error)?,
        None => None,
    };
    let Some(stored) = stored else {
        return Err(CommandError::Usage(format!(
            "no recorded run `{}` (see `firedrill runs`)",
            args.run_id
        )));
    };
    let run = &stored.entry.run;
    let report = Report::from_run(run, config.drill(&run.drill), &config.report.participants);
    let renderer = renderer(&config)?;
    let rendered = renderer.render_all(&report).map_err(report_error)?;
    let text = match args.format {
        ReportFormat::Md => rendered.report_markdown,
        ReportFormat::Html => rendered.report_html,
        ReportFormat::Json => rendered.report_json,
        ReportFormat::Agenda => rendered.agenda_markdown,
    };
    crate::out!("{text}");
    if !text.ends_with('\n') {
        crate::outln!();
    }
    Ok(Exit::Success)
}
