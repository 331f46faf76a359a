//! The application layer: what commands and the API call — open a session on a target, recover interrupted runs, publish a run.
//!
//! Commands parse arguments, call these and print; the engine below knows nothing of
//! targets' configuration, files or email.

pub mod audit;
pub mod bundle;
pub mod calendar;
pub mod drill;
pub mod live;
pub mod outbox;
pub mod plan;
pub mod publish;
pub mod recovery;
pub mod render;
pub mod session;
pub mod signals;
pub mod store;
