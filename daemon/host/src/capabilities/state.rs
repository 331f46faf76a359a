//! The `state` capability: a small key/value per run and phase, so `rollback` can run in a
//! fresh instance (or a new process, from the run journal's [`StateStore`]).

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::BackendError;
use super::View;
use crate::bindings::state::Host;
use crate::bindings::types::Error as WitError;
use crate::guard::Guard;

/// Largest value a plugin may store.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Most keys one phase may keep in one run.
pub const MAX_KEYS: usize = 256;

/// Whose state: one phase of one run. Two phases of the same scenario in one drill
/// (zone-a then zone-b) each keep their own keys, so each rolls back only what it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope<'a> {
    pub run_id: &'a str,
    /// The phase's name in the drill (the scenario's name for calls outside a phase).
    pub phase: &'a str,
    /// The scenario running the phase (kept beside the phase, for stores written before
    /// state was keyed by phase).
    pub scenario: &'a str,
}

/// Where scenario state lives (the port).
#[async_trait]
pub trait StateStore: Send + Sync {
    async fn get(&self, scope: Scope<'_>, key: &str) -> Result<Option<String>, BackendError>;
    async fn set(&self, scope: Scope<'_>, key: &str, value: &str) -> Result<(), BackendError>;
    async fn remove(&self, scope: Scope<'_>, key: &str) -> Result<(), BackendError>;
    /// Number of keys kept for this run and phase (for the key cap).
    async fn len(&self, scope: Scope<'_>) -> Result<usize, BackendError>;
}

/// Entries keyed by run id, phase and key.
type Entries = BTreeMap<(String, String, String), String>;

fn id(scope: Scope<'_>, key: &str) -> (String, String, String) {
    (scope.run_id.into(), scope.phase.into(), key.into())
}

/// State kept in memory, for tests.
#[derive(Debug, Default)]
pub struct InMemoryState {
    entries: Mutex<Entries>,
}

impl InMemoryState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // Every update is a single map operation: a panic elsewhere cannot leave the map
        // half-written, so a poisoned lock still guards consistent data.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl StateStore for InMemoryState {
    async fn get(&self, scope: Scope<'_>, key: &str) -> Result<Option<String>, BackendError> {
        Ok(self.lock().get(&id(scope, key)).cloned())
    }
    async fn set(&self, scope: Scope<'_>, key: &str, value: &str) -> Result<(), BackendError> {
        self.lock().insert(id(scope, key), value.into());
        Ok(())
    }
    async fn remove(&self, scope: Scope<'_>, key: &str) -> Result<(), BackendError> {
        self.lock().remove(&id(scope, key));
        Ok(())
    }
    async fn len(&self, scope: Scope<'_>) -> Result<usize, BackendError> {
        Ok(self
            .lock()
            .keys()
            .filter(|(run, phase, _)| run == scope.run_id && phase == scope.phase)
            .count())
    }
}

/// Whose state a call reads and writes: its run and phase.
fn scope_of(guard: &Guard) -> Scope<'_> {
    Scope {
        run_id: &guard.run_id,
        phase: guard.phase(),
        scenario: guard.scenario(),
    }
}

impl Host for View<'_, dyn StateStore> {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        let store = self.backend.clone();
        // A failing store reads as an absent key: `get` has no error case, and a
        // rollback that finds nothing to undo says so in its own result.
        Ok(store.get(scope_of(self.guard), &key).await.unwrap_or(None))
    }

    async fn set(&mut self, key: String, value: String) -> wasmtime::Result<Result<(), WitError>> {
        if value.len() > MAX_VALUE_BYTES {
            return Ok(Err(WitError::Refused(format!(
                "state value for {key} is {} bytes, more than {MAX_VALUE_BYTES}",
                value.len()
            ))));
        }
        let store = self.backend.clone();
        let scope = scope_of(self.guard);
        let existing = store.get(scope, &key).await;
        if matches!(existing, Ok(None)) {
            match store.len(scope).await {
                Ok(len) if len >= MAX_KEYS => {
                    return Ok(Err(WitError::Refused(format!(
                        "state already holds {MAX_KEYS} keys for this phase of the run"
                    ))));
                }
                Ok(_) => {}
                Err(error) => return Ok(Err(error.into())),
            }
        }
        Ok(store.set(scope, &key, &value).await.map_err(WitError::from))
    }

    async fn remove(&mut self, key: String) -> wasmtime::Result<()> {
        let store = self.backend.clone();
        if let Err(error) = store.remove(scope_of(self.guard), &key).await {
            tracing::warn!(scenario = %self.guard.scenario(), %error, "Could not remove plugin state");
        }
        Ok(())
    }
}
