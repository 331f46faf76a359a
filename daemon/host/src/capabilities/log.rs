//! The `log` capability: plugin messages into the daemon's log, within a per-call budget.

use crate::bindings::log::{Host, Level};
use crate::guard::{Guard, Violation};

/// Longest message kept; longer ones are cut (and still count in full against the budget).
const MAX_MESSAGE_CHARS: usize = 4_096;

/// What one call has logged so far, against `Limits::log_lines` and `log_bytes`.
#[derive(Debug, Default)]
pub struct Budget {
    lines: u32,
    bytes: usize,
}

/// The log's view of a call: the guard (limits, violations) and the budget spent.
pub struct LogView<'a> {
    pub(crate) guard: &'a mut Guard,
    pub(crate) budget: &'a mut Budget,
}

/// Marks [`LogView`] as the data the `log` bindings see.
pub struct Log;

impl wasmtime::component::HasData for Log {
    type Data<'a> = LogView<'a>;
}

impl Host for LogView<'_> {
    async fn write(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.budget.lines = self.budget.lines.saturating_add(1);
        self.budget.bytes = self.budget.bytes.saturating_add(message.len());
        let limits = &self.guard.limits;
        if self.budget.lines > limits.log_lines || self.budget.bytes > limits.log_bytes {
            let detail = format!(
                "more than {} lines or {} bytes in one call",
                limits.log_lines, limits.log_bytes
            );
            return Err(self.guard.violate(Violation::LogFlood(detail)));
        }
        let message: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
        let scenario = self.guard.scenario();
        let run_id = &self.guard.run_id;
        match level {
            Level::Debug => tracing::debug!(scenario, run_id, "{message}"),
            Level::Info => tracing::info!(scenario, run_id, "{message}"),
            Level::Warn => tracing::warn!(scenario, run_id, "{message}"),
            Level::Error => tracing::error!(scenario, run_id, "{message}"),
        }
        Ok(())
    }
}
