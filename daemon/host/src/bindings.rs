//! Rust bindings generated from the WIT packages the host accepts, one module per version.
//!
//! `firedrill:scenario@0.2.0` imports the 0.1.0 capability interfaces unchanged (see
//! `sdk/wit/since_v0.2.0/README.md`), so its bindings reuse the 0.1.0 modules through
//! `with:`: every capability is implemented once, on the 0.1.0 traits, and serves both.

/// `firedrill:scenario@0.1.0` (frozen).
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit/since_v0.1.0",
        world: "scenario",
        // Every import may suspend (cluster watches, HTTP, sleeps) and may end the call
        // (a capability that is not granted, a log budget spent), hence async + trappable.
        imports: { default: async | trappable },
        exports: { default: async },
    });

    pub use firedrill::scenario::{
        clock, cluster, evidence, http, log, postgres, redis, state, types,
    };
}

/// `firedrill:scenario@0.2.0`: new exports and types over the 0.1.0 capabilities.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit/since_v0.2.0",
        world: "scenario",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "firedrill:scenario/types@0.1.0": super::v0_1::types,
            "firedrill:scenario/cluster@0.1.0": super::v0_1::cluster,
            "firedrill:scenario/http@0.1.0": super::v0_1::http,
            "firedrill:scenario/postgres@0.1.0": super::v0_1::postgres,
            "firedrill:scenario/redis@0.1.0": super::v0_1::redis,
            "firedrill:scenario/clock@0.1.0": super::v0_1::clock,
            "firedrill:scenario/log@0.1.0": super::v0_1::log,
            "firedrill:scenario/state@0.1.0": super::v0_1::state,
            "firedrill:scenario/evidence@0.1.0": super::v0_1::evidence,
        },
    });

    pub use firedrill::scenario0_2_0::types;
}

/// The versions accepted, as an error message names them.
pub const ACCEPTED_VERSIONS: &str = "0.1.0 or 0.2.0";

/// The newest WIT version the host accepts (what `plugin new` scaffolds).
pub const WIT_VERSION: &str = "0.2.0";

pub use v0_1::{clock, cluster, evidence, http, log, postgres, redis, state, types};
