//! Rust bindings generated from the WIT package `firedrill:scenario@0.1.0`.
//!
//! The host keeps one bindings module per WIT version it accepts; today that is only
//! 0.1.0. When a new version is released, it gets its own module beside this one and
//! an adapter, and this one stays as it is.

wasmtime::component::bindgen!({
    path: "../../sdk/wit/since_v0.1.0",
    world: "scenario",
    // Every import may suspend (cluster watches, HTTP, sleeps) and may end the call
    // (a capability that is not granted, a log budget spent), hence async + trappable.
    imports: { default: async | trappable },
    exports: { default: async },
});

/// The version of the WIT package these bindings target.
pub const WIT_VERSION: &str = "0.1.0";

pub use firedrill::scenario::{clock, cluster, evidence, http, log, postgres, redis, state, types};
