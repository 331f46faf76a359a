//! Per-call limits (fuel, memory, deadline, log budget) and the limiter that enforces memory.

use std::time::Duration;

/// The limits of one plugin call. The defaults suit a drill phase call; the engine sets
/// the deadline from the phase configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// CPU budget in wasmtime fuel units (roughly one per wasm instruction).
    pub fuel: u64,
    /// Cap on the linear memory of the instance, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock deadline of one call, instantiation included.
    pub deadline: Duration,
    /// Log lines one call may write.
    pub log_lines: u32,
    /// Log bytes one call may write.
    pub log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // Enough for Python and JS components to start (their interpreters run a
            // few hundred million instructions per call), far below an infinite loop.
            fuel: 5_000_000_000,
            memory_bytes: 256 * 1024 * 1024,
            deadline: Duration::from_secs(60),
            log_lines: 1_000,
            log_bytes: 256 * 1024,
        }
    }
}

/// Caps linear memory and remembers whether the plugin hit the cap, so a trap that
/// follows a refused `memory.grow` (Rust aborts on allocation failure) is reported as
/// memory exhaustion rather than as a crash.
#[derive(Debug)]
pub struct MemoryLimiter {
    limit_bytes: usize,
    exceeded: bool,
}

impl MemoryLimiter {
    /// A limiter with a cap in bytes.
    pub fn new(limit_bytes: usize) -> Self {
        Self {
            limit_bytes,
            exceeded: false,
        }
    }

    /// Did the plugin ask for more memory than the cap?
    pub fn exceeded(&self) -> bool {
        self.exceeded
    }

    /// The cap in bytes.
    pub fn limit_bytes(&self) -> usize {
        self.limit_bytes
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit_bytes {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; a million entries is far beyond any
        // real plugin and keeps a table bomb from eating host memory.
        Ok(desired <= 1_000_000)
    }
}
