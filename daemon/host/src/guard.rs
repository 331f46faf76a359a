//! [`Guard`]: what every capability shares in one call: who is calling (run, phase,
//! scenario), the grant check, the limits, the first rule the plugin broke, and the
//! call's [`Trace`] (its disruptive effects and whether it read outside the cluster).
//!
//! Capabilities see the guard and their own backend only (see `capabilities::View`), never
//! the whole call state, so adding one touches its module, the WIT and one line of
//! `linking.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// One successful disruptive capability call, dated when the call was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effect {
    /// When the capability call started.
    pub at: Instant,
    /// What it did, e.g. `cordon node zone-a-1`, `delete pod web/web-7c9f`.
    pub action: String,
}

/// What the capabilities marked during one call; every capability marks it the same way,
/// through [`Guard::disrupted`], [`Guard::held_back`] and [`Guard::outside_cluster`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// The first successful disruptive call.
    pub first_effect: Option<Effect>,
    /// The last successful disruptive call (the first one if there was one only).
    pub last_effect: Option<Effect>,
    /// Time `drain` spent waiting to retry evictions a disruption budget refused.
    pub held_back: Duration,
    /// The call used `http`, `postgres`, `redis` or `exec`: reads the host's cluster
    /// watch cannot cover.
    pub outside_cluster: bool,
}

/// The shared part of one call's state.
pub struct Guard {
    granter: Arc<Granter>,
    pub(crate) limits: Limits,
    pub(crate) run_id: String,
    /// The phase of the call (`None` for `describe`): state and evidence belong to it.
    pub(crate) phase: Option<String>,
    pub(crate) violation: Option<Violation>,
    /// The call's effects and reads, for `inject` and `verify`.
    pub(crate) trace: Trace,
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
            trace: Trace::default(),
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

    /// Records a successful disruptive call that started at `at`. Calls may finish out of
    /// order (a drain's evictions run concurrently): first and last go by start time.
    pub(crate) fn disrupted(&mut self, at: Instant, action: String) {
        let effect = Effect { at, action };
        let trace = &mut self.trace;
        if trace
            .first_effect
            .as_ref()
            .is_none_or(|first| at < first.at)
        {
            trace.first_effect = Some(effect.clone());
        }
        if trace.last_effect.as_ref().is_none_or(|last| at >= last.at) {
            trace.last_effect = Some(effect);
        }
    }

    /// Records time spent waiting for a disruption budget to allow an eviction.
    pub(crate) fn held_back(&mut self, waited: Duration) {
        self.trace.held_back = self.trace.held_back.saturating_add(waited);
    }

    /// Records that the call read or acted outside the cluster (http, databases, exec).
    pub(crate) fn outside_cluster(&mut self) {
        self.trace.outside_cluster = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::Grants;

    fn guard() -> Guard {
        let granter = Arc::new(Granter::new("probe", Grants::default()));
        Guard::new(granter, Limits::default(), "run-1".into(), None)
    }

    #[test]
    fn first_and_last_effects_go_by_when_the_calls_started() {
        let mut guard = guard();
        let start = Instant::now();
        let later = start + Duration::from_millis(10);
        guard.disrupted(later, "evict pod web/web-2".into());
        guard.disrupted(start, "evict pod web/web-1".into());
        let first = guard.trace.first_effect.as_ref().map(|e| e.action.as_str());
        let last = guard.trace.last_effect.as_ref().map(|e| e.action.as_str());
        assert_eq!(first, Some("evict pod web/web-1"));
        assert_eq!(last, Some("evict pod web/web-2"));
    }

    #[test]
    fn waits_for_disruption_budgets_add_up() {
        let mut guard = guard();
        guard.held_back(Duration::from_millis(20));
        guard.held_back(Duration::from_millis(30));
        assert_eq!(guard.trace.held_back, Duration::from_millis(50));
        assert!(!guard.trace.outside_cluster);
    }
}
