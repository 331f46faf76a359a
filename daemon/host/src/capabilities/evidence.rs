//! The `evidence` capability: named text artefacts attached to the run. The run journal
//! will implement [`EvidenceSink`]; until then [`InMemoryEvidence`] does.

use std::sync::Mutex;

use async_trait::async_trait;

use super::BackendError;
use crate::bindings::evidence::Host;
use crate::bindings::types::Error as WitError;
use crate::store::HostState;

/// Largest artefact a plugin may attach.
pub const MAX_ARTEFACT_BYTES: usize = 1024 * 1024;

/// One artefact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artefact {
    pub run_id: String,
    pub scenario: String,
    pub name: String,
    pub media_type: String,
    pub content: String,
}

/// Where artefacts go (the port).
#[async_trait]
pub trait EvidenceSink: Send + Sync {
    async fn attach(&self, artefact: Artefact) -> Result<(), BackendError>;
}

/// Artefacts kept in memory, for tests and until the run journal lands.
#[derive(Debug, Default)]
pub struct InMemoryEvidence {
    artefacts: Mutex<Vec<Artefact>>,
}

impl InMemoryEvidence {
    /// Everything attached so far.
    pub fn artefacts(&self) -> Vec<Artefact> {
        self.artefacts.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl EvidenceSink for InMemoryEvidence {
    async fn attach(&self, artefact: Artefact) -> Result<(), BackendError> {
        self.artefacts
            .lock()
            .map_err(|_| BackendError::Unavailable("evidence lock poisoned".into()))?
            .push(artefact);
        Ok(())
    }
}

/// Is `name` a short file-like name (no path separators, no control characters)?
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

impl Host for HostState {
    async fn attach(
        &mut self,
        name: String,
        media_type: String,
        content: String,
    ) -> wasmtime::Result<Result<(), WitError>> {
        if !valid_name(&name) {
            return Ok(Err(WitError::Refused(format!(
                "evidence name {name:?} must be 1-128 characters of letters, digits, '.', '-', '_'"
            ))));
        }
        if content.len() > MAX_ARTEFACT_BYTES {
            return Ok(Err(WitError::Refused(format!(
                "evidence {name} is {} bytes, more than {MAX_ARTEFACT_BYTES}",
                content.len()
            ))));
        }
        let sink = self.backends.evidence.clone();
        let artefact = Artefact {
            run_id: self.run_id.clone(),
            scenario: self.scenario().to_owned(),
            name,
            media_type,
            content,
        };
        Ok(sink.attach(artefact).await.map_err(WitError::from))
    }
}
