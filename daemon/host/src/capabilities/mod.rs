//! One module per WIT import: each owns its backend trait (port), its bindings and its
//! permission check.
//!
//! Backends report failures as [`BackendError`]; the bindings hand those to the plugin
//! as the WIT `error` type, because a failing cluster or database is something a
//! scenario may handle. A capability that is not granted is different: it ends the call.

use std::sync::Arc;

use crate::bindings::types::Error as WitError;

pub mod clock;
pub mod cluster;
pub mod evidence;
pub mod http;
pub mod log;
pub mod postgres;
pub mod redis;
pub mod state;

/// Why a backend could not do what was asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl From<BackendError> for WitError {
    fn from(error: BackendError) -> Self {
        match error {
            BackendError::NotFound(m) => WitError::NotFound(m),
            BackendError::Refused(m) => WitError::Refused(m),
            BackendError::Timeout(m) => WitError::Timeout(m),
            BackendError::Unavailable(m) => WitError::Unavailable(m),
        }
    }
}

/// The adapters the capabilities call. `Backends::default()` has no cluster, no
/// databases, a real HTTP client and in-memory state and evidence.
#[derive(Clone)]
pub struct Backends {
    pub cluster: Arc<dyn cluster::Cluster>,
    pub http: Arc<dyn http::Http>,
    pub postgres: Arc<dyn postgres::Postgres>,
    pub redis: Arc<dyn redis::Redis>,
    pub state: Arc<dyn state::StateStore>,
    pub evidence: Arc<dyn evidence::EvidenceSink>,
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backends").finish_non_exhaustive()
    }
}

impl Default for Backends {
    fn default() -> Self {
        Self {
            cluster: Arc::new(cluster::NoCluster),
            http: Arc::new(http::HyperHttp::new()),
            postgres: Arc::new(postgres::NoPostgres),
            redis: Arc::new(redis::NoRedis),
            state: Arc::new(state::InMemoryState::default()),
            evidence: Arc::new(evidence::InMemoryEvidence::default()),
        }
    }
}

/// Lets the generated `types` interface (types only, no functions) link.
impl crate::bindings::types::Host for crate::store::HostState {}
