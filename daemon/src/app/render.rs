//! The report renderer with the user's templates applied, and its errors as command errors.

use firedrill_core::config::Config;
use firedrill_core::report::{Renderer, TEMPLATE_FILES};

use crate::exit::CommandError;

/// The renderer with the user's template directory (`report.templates`) applied: every
/// known template file found there replaces the built-in one.
pub fn renderer(config: &Config) -> Result<Renderer, CommandError> {
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

/// A report error as a command error, causes included.
pub fn report_error(err: firedrill_core::report::ReportError) -> CommandError {
    CommandError::Usage(crate::exit::error_chain(&err))
}
