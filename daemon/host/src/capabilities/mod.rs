//! One module per WIT import: each owns its backend trait (port), its data and its
//! bindings, implemented on its own [`View`] of a call (the shared guard and its backend),
//! never on the whole call state (Spin's factors are the model). `linking.rs` registers
//! each with one line.
//!
//! Backends report failures as [`BackendError`]; the bindings hand those to the plugin
//! as the WIT `error` type, because a failing cluster or database is something a
//! scenario may handle. A capability that is not granted is different: it ends the call.

use std::marker::PhantomData;
use std::sync::Arc;

use wasmtime::component::HasData;

use crate::bindings::types::Error as WitError;
use crate::guard::Guard;

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

/// A capability's view of one call: the shared guard (grants, limits, violations, whose
/// call it is) and the capability's backend.
pub struct View<'a, B: ?Sized> {
    pub(crate) guard: &'a mut Guard,
    pub(crate) backend: Arc<B>,
}

impl<'a, B: ?Sized> View<'a, B> {
    pub(crate) fn of(guard: &'a mut Guard, backend: &Arc<B>) -> Self {
        Self {
            guard,
            backend: backend.clone(),
        }
    }
}

/// Marks `View<'_, B>` as the data a capability's bindings see.
pub struct Cap<B: ?Sized>(PhantomData<B>);

impl<B: ?Sized + 'static> HasData for Cap<B> {
    type Data<'a> = View<'a, B>;
}

/// The data of the `types` interface: it has types only, no functions.
pub struct TypesOnly;

impl HasData for TypesOnly {
    type Data<'a> = TypesOnly;
}

impl crate::bindings::types::Host for TypesOnly {}

impl crate::bindings::v0_2::types::Host for TypesOnly {}
