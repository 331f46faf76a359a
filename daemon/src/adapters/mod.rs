//! Adapters at the edge: the real implementations of the engine's and the plugin host's ports.

pub mod builtin;
pub mod canaries;
pub mod databases;
pub mod host;
pub mod journal;
pub mod kube;
pub mod outbox;
pub mod prober;
pub mod prometheus;
pub mod store;
pub mod watch;
