//! `firedrill report RUN_ID`: re-renders a recorded run's report, agenda or JSON export.

use std::path::Path;

use firedrill_core::report::Report;
use firedrill_store::RunStore;

use crate::app::render::{renderer, report_error};
use crate::app::store::{open_store, store_error};
use crate::cli::{ReportArgs, ReportFormat};
use crate::exit::{CommandError, Exit};

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
