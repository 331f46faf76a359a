//! `HostState`: the data of one `Store`, i.e. of one plugin call.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::capabilities::Backends;
use crate::grants::{Denied, Granter, Request};
use crate::limits::{Limits, MemoryLimiter};

/// How much of the plugin's stderr is kept (to quote a panic message in errors).
const STDERR_CAPTURE_BYTES: usize = 64 * 1024;

/// A rule the plugin broke during a call. The first one wins: it is what the call
/// reports, whatever the plugin did afterwards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A capability that is not granted.
    Denied(Denied),
    /// More log lines or bytes than the budget.
    LogFlood(String),
}

/// A violation as a wasmtime error: returned from an import, it ends the call.
#[derive(Debug, thiserror::Error)]
#[error("{0:?}")]
pub(crate) struct ViolationTrap(pub Violation);

/// The data of one `Store`.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) stderr: MemoryOutputPipe,
    pub(crate) memory: MemoryLimiter,
    pub(crate) granter: Arc<Granter>,
    pub(crate) backends: Backends,
    pub(crate) limits: Limits,
    pub(crate) run_id: String,
    /// The phase of the call (`None` for `describe`): state and evidence belong to it.
    pub(crate) phase: Option<String>,
    pub(crate) log_lines: u32,
    pub(crate) log_bytes: usize,
    pub(crate) violation: Option<Violation>,
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
            granter,
            backends,
            limits,
            run_id,
            phase,
            log_lines: 0,
            log_bytes: 0,
            violation: None,
        }
    }

    /// Whose state this call reads and writes: its run and phase.
    pub(crate) fn state_scope(&self) -> crate::capabilities::state::Scope<'_> {
        crate::capabilities::state::Scope {
            run_id: &self.run_id,
            phase: self.phase.as_deref().unwrap_or_else(|| self.scenario()),
            scenario: self.scenario(),
        }
    }

    /// The scenario name used in messages.
    pub fn scenario(&self) -> &str {
        self.granter.scenario()
    }

    /// Checks a request against the grants; a denial is recorded and ends the call.
    pub(crate) fn check(&mut self, request: &Request<'_>) -> wasmtime::Result<()> {
        match self.granter.check(request) {
            Ok(()) => Ok(()),
            Err(denied) => Err(self.violate(Violation::Denied(denied))),
        }
    }

    /// Records a violation (the first one wins) and returns the error that ends the call.
    pub(crate) fn violate(&mut self, violation: Violation) -> wasmtime::Error {
        tracing::warn!(scenario = %self.scenario(), ?violation, "Plugin broke a host rule");
        let first = self.violation.get_or_insert(violation).clone();
        wasmtime::Error::new(ViolationTrap(first))
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
