//! [`Guard`]: what every capability shares in one call: who is calling (run, phase,
//! scenario), the grant check, the limits, and the first rule the plugin broke.
//!
//! Capabilities see the guard and their own backend only (see `capabilities::View`), never
//! the whole call state, so adding one touches its module, the WIT and one line of
//! `linking.rs`.

use std::sync::Arc;

use crate::grants::{Denied, Granter, Request};
use crate::limits::Limits;

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

/// The shared part of one call's state.
pub struct Guard {
    granter: Arc<Granter>,
    pub(crate) limits: Limits,
    pub(crate) run_id: String,
    /// The phase of the call (`None` for `describe`): state and evidence belong to it.
    pub(crate) phase: Option<String>,
    pub(crate) violation: Option<Violation>,
}

impl Guard {
    pub(crate) fn new(
        granter: Arc<Granter>,
        limits: Limits,
        run_id: String,
        phase: Option<String>,
    ) -> Self {
        Self {
            granter,
            limits,
            run_id,
            phase,
            violation: None,
        }
    }

    /// The scenario name used in messages.
    pub fn scenario(&self) -> &str {
        self.granter.scenario()
    }

    /// The phase this call belongs to: its phase, or the scenario for `describe`.
    pub(crate) fn phase(&self) -> &str {
        self.phase.as_deref().unwrap_or_else(|| self.scenario())
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
}
