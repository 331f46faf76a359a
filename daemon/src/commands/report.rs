//! `firedrill report RUN_ID`: re-renders a recorded run's report, agenda, JSON export or JUnit XML.

use std::path::Path;

use firedrill_core::report::{JunitSuite, junit_xml};

use crate::app::render::renderer;
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
    let render = || {
        firedrill_notify::render_run(&renderer(&config)?, &config, run)
            .map_err(|err| CommandError::Usage(crate::exit::error_chain(&err)))
    };
    let text = match args.format {
        ReportFormat::Md => render()?.report_markdown,
        ReportFormat::Html => render()?.report_html,
        ReportFormat::Json => render()?.report_json,
        ReportFormat::Agenda => render()?.agenda_markdown,
        // From the record alone: the same document `run --junit` wrote.
        ReportFormat::Junit => junit_xml(&[JunitSuite::from_run(run)]),
    };
    crate::out!("{text}");
    if !text.ends_with('\n') {
        crate::outln!();
    }
    Ok(Exit::Success)
}
