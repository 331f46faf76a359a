//! Exit codes and the error type shared by every command.

use std::process::ExitCode;

use firedrill_core::config::ConfigError;

/// The exit codes firedrill promises (documented in `firedrill --help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything passed.
    Success = 0,
    /// A drill failed an objective, or `verify` found a broken chain.
    ObjectiveFailed = 1,
    /// Bad configuration or input, or an unreachable dependency.
    Error = 2,
    /// A drill was aborted.
    Aborted = 3,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// Why a command could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`firedrill {command}` is not available yet: {reason}")]
    NotYet {
        command: &'static str,
        reason: &'static str,
    },
}

/// An error and its causes, `: `-separated (a cause already named by the text above it is
/// not repeated), for messages people read.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
