//! The application layer: what commands and the API call — open a session on a target, recover interrupted runs, publish a run.
//!
//! Commands parse arguments, call these and print; the engine below knows nothing of
//! targets' configuration, files or email.

pub mod publish;
pub mod recovery;
pub mod session;
