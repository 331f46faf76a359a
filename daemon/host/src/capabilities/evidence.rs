//! The `evidence` capability: named text artefacts attached to the run. The run journal
//! will implement [`EvidenceSink`]; until then [`InMemoryEvidence`] does.

use std::sync::Mutex;

use async_trait::async_trait;

use super::BackendError;
use super::View;
use crate::bindings::evidence::Host;
use crate::bindings::types::Error as WitError;

/// Largest artefact a plugin may attach.
pub const MAX_ARTEFACT_BYTES: usize = 1024 * 1024;

/// One artefact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artefact {
    pub run_id: String,
    pub scenario: String,
    /// The phase whose call attached it (`None` outside a phase call).
    pub phase: Option<String>,
    /// When the plugin attached it.
    pub captured_at: std::time::SystemTime,
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
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Artefact>> {
        // Only pushes and clones: a poisoned lock still guards a consistent list.
        self.artefacts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Everything attached so far.
    pub fn artefacts(&self) -> Vec<Artefact> {
        self.lock().clone()
    }
}

#[async_trait]
impl EvidenceSink for InMemoryEvidence {
    async fn attach(&self, artefact: Artefact) -> Result<(), BackendError> {
        self.lock().push(artefact);
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

/// Checks an artefact a plugin attaches: a file-like name and at most
/// [`MAX_ARTEFACT_BYTES`] of content. The error is the reason the plugin's `attach` call is
/// refused with. Pure, so the fuzz binary (`fuzz/`) drives it.
pub fn check_artefact(name: &str, content_bytes: usize) -> Result<(), String> {
    if !valid_name(name) {
        return Err(format!(
            "evidence name {} must be 1-128 characters of letters, digits, '.', '-', '_'",
            crate::text::quoted(name)
        ));
    }
    if content_bytes > MAX_ARTEFACT_BYTES {
        return Err(format!(
            "evidence {name} is {content_bytes} bytes, more than {MAX_ARTEFACT_BYTES}"
        ));
    }
    Ok(())
}

impl Host for View<'_, dyn EvidenceSink> {
    async fn attach(
        &mut self,
        name: String,
        media_type: String,
        content: String,
    ) -> wasmtime::Result<Result<(), WitError>> {
        if let Err(reason) = check_artefact(&name, content.len()) {
            return Ok(Err(WitError::Refused(reason)));
        }
        let sink = self.backend.clone();
        let artefact = Artefact {
            run_id: self.guard.run_id.clone(),
            scenario: self.guard.scenario().to_owned(),
            phase: self.guard.phase.clone(),
            captured_at: std::time::SystemTime::now(),
            name,
            media_type,
            content,
        };
        Ok(sink.attach(artefact).await.map_err(WitError::from))
    }
}
