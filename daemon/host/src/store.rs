//! `HostState`: the data of one `Store`, i.e. of one plugin call: WASI, the memory limiter,
//! the captured stderr, the shared [`Guard`], and each capability's own data.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::capabilities::{Backends, log};
use crate::grants::Granter;
use crate::guard::Guard;
use crate::limits::{Limits, MemoryLimiter};

/// How much of the plugin's stderr is kept (to quote a panic message in errors).
const STDERR_CAPTURE_BYTES: usize = 64 * 1024;

/// The data of one `Store`.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) stderr: MemoryOutputPipe,
    pub(crate) memory: MemoryLimiter,
    pub(crate) guard: Guard,
    /// The capabilities' backends (the ports the daemon wires).
    pub(crate) backends: Backends,
    /// The `log` capability's budget spent so far.
    pub(crate) log: log::Budget,
}

impl HostState {
    /// State for one call: a locked-down WASI (no arguments, environment, preopened
    /// directories, sockets or name lookups; stdout discarded, stderr captured).
    pub(crate) fn new(
        granter: Arc<Granter>,
        backends: Backends,
        limits: Limits,
        run_id: String,
        phase: Option<String>,
    ) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE_BYTES);
        let wasi = WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            stderr,
            memory: MemoryLimiter::new(limits.memory_bytes),
            guard: Guard::new(granter, limits, run_id, phase),
            backends,
            log: log::Budget::default(),
        }
    }

    /// The scenario name used in messages.
    pub fn scenario(&self) -> &str {
        self.guard.scenario()
    }

    /// The end of what the plugin wrote to stderr, e.g. a Rust panic message.
    pub(crate) fn stderr_tail(&self) -> String {
        let bytes = self.stderr.contents();
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim();
        let start = text
            .char_indices()
            .rev()
            .nth(2_000)
            .map_or(0, |(index, _)| index);
        text[start..].to_owned()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
