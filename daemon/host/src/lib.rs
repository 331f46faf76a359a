//! The plugin host: loads scenario components and runs their calls under grants and limits.
//!
//! A scenario plugin is a WebAssembly component targeting the WIT world
//! `firedrill:scenario/scenario@0.1.0` (`sdk/wit/since_v0.1.0`) or `@0.2.0`
//! (`sdk/wit/since_v0.2.0`, which imports 0.1.0's capabilities unchanged); the version
//! is found from the component's exports at load ([`WitVersion`]). The host compiles it once
//! (cached on disk by content hash and engine configuration), keeps one `InstancePre` per
//! plugin, and runs every call in a fresh `Store` with fuel, a memory cap and a wall-clock
//! deadline. Every capability import is checked by the pure [`Granter`] against the
//! grants of the drill's configuration. Whatever a plugin does, a call ends with a value or
//! a typed [`PluginError`]; the host never panics or hangs because of a plugin.
//!
//! # Layout
//!
//! - [`host`]: [`WasmtimeHost`] (engine, epoch ticker, linker) and [`Plugin`] (one loaded
//!   component of either version: `describe`, `plan`, `inject` ([`Injected`]), `verify`
//!   ([`Verified`]), `findings`, `rollback`).
//! - [`cache`]: the precompiled-component cache on disk.
//! - [`grants`]: [`Grants`] from the configuration and the pure [`Granter`] that checks
//!   each capability request.
//! - [`limits`]: [`Limits`] per call (fuel, memory, deadline, log budget) and the memory
//!   limiter that records exhaustion.
//! - [`store`]: [`HostState`], the data of one `Store`: WASI context, memory limiter,
//!   stderr, the guard, the backends and each capability's own data.
//! - `guard`: `Guard`, what every capability shares in a call: whose call it is, the grant
//!   check, the limits, the first violation seen and the call's trace ([`Effect`]s,
//!   time held back by disruption budgets, reads outside the cluster).
//! - [`capabilities`]: one module per WIT import (`cluster`, `http`, `postgres`, `redis`,
//!   `clock`, `log`, `state`, `evidence`), each with its backend trait (port), its data and
//!   the bindings implemented on its own view of the call (guard + backend), which checks
//!   the grant before calling the backend.
//! - `linking`: the one place each capability is linked to its view (one line each).
//! - `text`: guest strings as messages show them (escaped, cut short).
//! - [`error`]: [`PluginError`], what a failed call reports.
//! - [`inspect`]: `firedrill plugin inspect FILE.wasm`.
//! - [`scaffold`]: `firedrill plugin new NAME --lang rust`.
//! - [`paths`]: the default plugin directory and the plugins in a directory.
//! - [`testing`] (feature `testing`): `InMemoryCluster`, a fake cluster for tests.
//! - `bindings`: the code `wasmtime::component::bindgen!` generates from the WIT, one
//!   module per version (`v0_2` reuses `v0_1`'s capability interfaces).

mod bindings;
pub mod cache;
pub mod capabilities;
pub mod error;
pub mod grants;
mod guard;
pub mod host;
pub mod inspect;
pub mod limits;
mod linking;
pub mod paths;
pub mod scaffold;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod text;

pub use bindings::WIT_VERSION;
pub use bindings::types::{
    Action, Capability, ClusterAccess, Description, Error as ScenarioError, Phase, Service, Verb,
    Verdict,
};
pub use bindings::v0_2::types::{Action as TypedAction, ActionKind, Change, DataLoss, Findings};
pub use capabilities::Backends;
pub use error::PluginError;
pub use grants::{ClusterGrant, Denied, Granter, Grants, Request, Scope};
pub use guard::Effect;
pub use host::{Injected, Plugin, Verified, WasmtimeHost, WitVersion};
pub use limits::Limits;
pub use store::HostState;
