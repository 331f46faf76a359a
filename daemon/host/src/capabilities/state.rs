//! The `state` capability: a small key/value per run and scenario, so `rollback` can run
//! in a fresh instance. The run journal will implement [`StateStore`]; until then
//! [`InMemoryState`] does.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::BackendError;

/// Entries keyed by run id, scenario and key.
type Entries = BTreeMap<(String, String, String), String>;
use crate::bindings::state::Host;
use crate::bindings::types::Error as WitError;
use crate::store::HostState;

/// Largest value a plugin may store.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Most keys one scenario may keep in one run.
pub const MAX_KEYS: usize = 256;

/// Where scenario state lives (the port).
#[async_trait]
pub trait StateStore: Send + Sync {
    async fn get(
        &self,
        run_id: &str,
        scenario: &str,
        key: &str,
    ) -> Result<Option<String>, BackendError>;
    async fn set(
        &self,
        run_id: &str,
        scenario: &str,
        key: &str,
        value: &str,
    ) -> Result<(), BackendError>;
    async fn remove(&self, run_id: &str, scenario: &str, key: &str) -> Result<(), BackendError>;
    /// Number of keys kept for this run and scenario (for the key cap).
    async fn len(&self, run_id: &str, scenario: &str) -> Result<usize, BackendError>;
}

/// State kept in memory, for tests and until the run journal lands.
#[derive(Debug, Default)]
pub struct InMemoryState {
    entries: Mutex<Entries>,
}

impl InMemoryState {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Entries>, BackendError> {
        self.entries
            .lock()
            .map_err(|_| BackendError::Unavailable("state store lock poisoned".into()))
    }
}

#[async_trait]
impl StateStore for InMemoryState {
    async fn get(
        &self,
        run_id: &str,
        scenario: &str,
        key: &str,
    ) -> Result<Option<String>, BackendError> {
        Ok(self
            .lock()?
            .get(&(run_id.into(), scenario.into(), key.into()))
            .cloned())
    }
    async fn set(
        &self,
        run_id: &str,
        scenario: &str,
        key: &str,
        value: &str,
    ) -> Result<(), BackendError> {
        self.lock()?
            .insert((run_id.into(), scenario.into(), key.into()), value.into());
        Ok(())
    }
    async fn remove(&self, run_id: &str, scenario: &str, key: &str) -> Result<(), BackendError> {
        self.lock()?
            .remove(&(run_id.into(), scenario.into(), key.into()));
        Ok(())
    }
    async fn len(&self, run_id: &str, scenario: &str) -> Result<usize, BackendError> {
        Ok(self
            .lock()?
            .keys()
            .filter(|(run, s, _)| run == run_id && s == scenario)
            .count())
    }
}

impl Host for HostState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        let store = self.backends.state.clone();
        // A failing store reads as an absent key: `get` has no error case, and a
        // rollback that finds nothing to undo says so in its own result.
        Ok(store
            .get(&self.run_id, self.scenario(), &key)
            .await
            .unwrap_or(None))
    }

    async fn set(&mut self, key: String, value: String) -> wasmtime::Result<Result<(), WitError>> {
        if value.len() > MAX_VALUE_BYTES {
            return Ok(Err(WitError::Refused(format!(
                "state value for {key} is {} bytes, more than {MAX_VALUE_BYTES}",
                value.len()
            ))));
        }
        let store = self.backends.state.clone();
        let scenario = self.scenario().to_owned();
        let existing = store.get(&self.run_id, &scenario, &key).await;
        if matches!(existing, Ok(None)) {
            match store.len(&self.run_id, &scenario).await {
                Ok(len) if len >= MAX_KEYS => {
                    return Ok(Err(WitError::Refused(format!(
                        "state already holds {MAX_KEYS} keys for this run"
                    ))));
                }
                Ok(_) => {}
                Err(error) => return Ok(Err(error.into())),
            }
        }
        Ok(store
            .set(&self.run_id, &scenario, &key, &value)
            .await
            .map_err(WitError::from))
    }

    async fn remove(&mut self, key: String) -> wasmtime::Result<()> {
        let store = self.backends.state.clone();
        if let Err(error) = store.remove(&self.run_id, self.scenario(), &key).await {
            tracing::warn!(scenario = %self.scenario(), %error, "Could not remove plugin state");
        }
        Ok(())
    }
}
