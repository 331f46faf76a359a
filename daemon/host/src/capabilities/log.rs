//! The `log` capability: plugin messages into the daemon's log, within a per-call budget.

use crate::bindings::log::{Host, Level};
use crate::store::{HostState, Violation};

/// Longest message kept; longer ones are cut (and still count in full against the budget).
const MAX_MESSAGE_CHARS: usize = 4_096;

impl Host for HostState {
    async fn write(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.log_lines = self.log_lines.saturating_add(1);
        self.log_bytes = self.log_bytes.saturating_add(message.len());
        if self.log_lines > self.limits.log_lines || self.log_bytes > self.limits.log_bytes {
            let detail = format!(
                "more than {} lines or {} bytes in one call",
                self.limits.log_lines, self.limits.log_bytes
            );
            return Err(self.violate(Violation::LogFlood(detail)));
        }
        let message: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
        let scenario = self.scenario();
        let run_id = &self.run_id;
        match level {
            Level::Debug => tracing::debug!(scenario, run_id, "{message}"),
            Level::Info => tracing::info!(scenario, run_id, "{message}"),
            Level::Warn => tracing::warn!(scenario, run_id, "{message}"),
            Level::Error => tracing::error!(scenario, run_id, "{message}"),
        }
        Ok(())
    }
}
