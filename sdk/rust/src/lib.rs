//! Write firedrill scenario plugins in Rust: implement [`Scenario`], call
//! [`export_scenario!`], build for `wasm32-wasip2`.
//!
//! ```ignore
//! use firedrill_sdk::prelude::*;
//!
//! #[derive(serde::Deserialize)]
//! struct Params { count: u32 }
//!
//! struct KillPods;
//!
//! impl Scenario for KillPods {
//!     type Params = Params;
//!     fn describe() -> Description {
//!         Description::new("kill-pods", "0.1.0", "Deletes pods and waits for replacements")
//!     }
//!     fn plan(phase: &Phase<Params>) -> Result<Vec<Action>, Error> { Ok(vec![]) }
//!     fn inject(phase: &Phase<Params>) -> Result<(), Error> { Ok(()) }
//!     fn verify(phase: &Phase<Params>) -> Result<Verdict, Error> { Ok(Verdict::Recovered) }
//!     // Optional: `findings` (data loss measured, follow-ups), none by default.
//!     fn rollback(phase: &Phase<Params>) -> Result<(), Error> { Ok(()) }
//! }
//!
//! export_scenario!(KillPods);
//! ```
//!
//! # Layout
//!
//! - [`bindings`]: the code `wit-bindgen` generates from `sdk/wit/since_v0.2.0` (whose
//!   capability interfaces are 0.1.0's, imported unchanged).
//! - [`Scenario`], [`Phase`]: the trait a plugin implements and its typed input.
//! - [`cluster`], [`http`], [`postgres`], [`redis`], [`clock`], [`log`], [`state`],
//!   [`evidence`]: the host capabilities, with small helpers over the raw imports.
//! - [`export_scenario!`]: exports a `Scenario` as the component's WIT exports.
//! - [`duration`]: parameters written as durations (`30s`, `1h30m`), as the configuration
//!   writes them.

pub mod duration;

use serde::de::DeserializeOwned;

/// Bindings generated from the WIT package `firedrill:scenario@0.2.0`.
#[allow(clippy::too_many_arguments)] // generated: the WIT functions' own arity
pub mod bindings {
    wit_bindgen::generate!({
        world: "scenario",
        path: "../wit/since_v0.2.0",
        pub_export_macro: true,
        export_macro_name: "__export_scenario_world",
        default_bindings_module: "firedrill_sdk::bindings",
        generate_all,
    });
}

pub use bindings::firedrill::scenario0_1_0::types::{
    Capability, ClusterAccess, Description, Error, Phase as RawPhase, Service, Verb, Verdict,
};
pub use bindings::firedrill::scenario0_2_0::types::{
    Action, ActionKind, Change, DataLoss, Findings,
};

/// The version of the WIT package this SDK targets.
pub const WIT_VERSION: &str = "0.2.0";

/// Everything a plugin usually needs.
pub mod prelude {
    pub use crate::{
        Action, ActionKind, Capability, Change, DataLoss, Description, Error, Findings, Phase,
        Scenario, Service, Verb, Verdict, clock, cluster, evidence, export_scenario, http, log,
        postgres, redis, state,
    };
}

/// The input of a phase call, with parameters decoded into the scenario's type.
#[derive(Debug, Clone)]
pub struct Phase<P> {
    /// Identifier of the drill run.
    pub run_id: String,
    /// Name of the phase in the drill.
    pub name: String,
    /// The phase parameters.
    pub params: P,
    /// The services the phase acts on.
    pub services: Vec<Service>,
    /// In `verify`: the cluster change that prompted the call (the latest the host saw);
    /// none for a call on the host's fallback timer, and in every other export.
    pub trigger: Option<Change>,
}

impl<P> Phase<P> {
    /// The phase's first service, for scenarios that act on one; `what` names it in the
    /// `invalid-params` error when the phase has none ("the phase needs the {what}
    /// service").
    pub fn first_service(&self, what: &str) -> Result<&Service, Error> {
        self.services
            .first()
            .ok_or_else(|| Error::InvalidParams(format!("the phase needs the {what} service")))
    }
}

/// A scenario: the logic of one drill phase.
pub trait Scenario {
    /// Phase parameters, decoded from the JSON the host passes. Use `#[serde(default)]`
    /// for optional fields; a decoding failure fails the call with `invalid-params`.
    type Params: DeserializeOwned;

    /// Name, version, summary, parameters schema and capabilities.
    fn describe() -> Description;
    /// What `inject` would do; must not change anything.
    fn plan(phase: &Phase<Self::Params>) -> Result<Vec<Action>, Error>;
    /// Causes the fault.
    fn inject(phase: &Phase<Self::Params>) -> Result<(), Error>;
    /// Is the system recovered yet? Called when a watched object changes
    /// (`phase.trigger`) and on a slow fallback timer.
    fn verify(phase: &Phase<Self::Params>) -> Result<Verdict, Error>;
    /// What the scenario found out (data loss it measured, follow-ups), called once after
    /// the wait for recovery ends. None by default.
    fn findings(phase: &Phase<Self::Params>) -> Result<Findings, Error> {
        let _ = phase;
        Ok(Findings::none())
    }
    /// Undoes the fault; must be safe to call more than once.
    fn rollback(phase: &Phase<Self::Params>) -> Result<(), Error>;
}

impl Description {
    /// A description with no parameters and no capabilities.
    pub fn new(name: &str, version: &str, summary: &str) -> Self {
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            summary: summary.to_owned(),
            params_schema: r#"{"type":"object"}"#.to_owned(),
            capabilities: Vec::new(),
        }
    }

    /// Sets the JSON Schema of the parameters.
    pub fn params_schema(mut self, schema: serde_json::Value) -> Self {
        self.params_schema = schema.to_string();
        self
    }

    /// Declares a capability the scenario may use.
    pub fn needs(mut self, capability: Capability) -> Self {
        self.capabilities.push(capability);
        self
    }
}

impl Capability {
    /// Kubernetes `verbs` in `namespaces` (`*` for all, `:cluster` for nodes).
    pub fn cluster(verbs: &[Verb], namespaces: &[&str]) -> Self {
        Capability::Cluster(ClusterAccess {
            verbs: verbs.to_vec(),
            namespaces: namespaces.iter().map(|n| (*n).to_owned()).collect(),
        })
    }
}

impl Action {
    /// An action for `plan`: `kind` is an [`ActionKind`] or its kebab-case name
    /// (`"delete-pod"`; a name the daemon does not know becomes [`ActionKind::Other`]).
    pub fn new(
        kind: impl Into<ActionKind>,
        target: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind: kind.into(),
            target: target.into(),
            detail: detail.into(),
        }
    }
}

impl ActionKind {
    const KNOWN: [(&'static str, ActionKind); 14] = [
        ("delete-pod", ActionKind::DeletePod),
        ("evict-pod", ActionKind::EvictPod),
        ("cordon", ActionKind::Cordon),
        ("uncordon", ActionKind::Uncordon),
        ("drain", ActionKind::Drain),
        ("rollout-restart", ActionKind::RolloutRestart),
        ("exec", ActionKind::Exec),
        ("stop", ActionKind::Stop),
        ("promote", ActionKind::Promote),
        ("sql", ActionKind::Sql),
        ("redis", ActionKind::Redis),
        ("silence", ActionKind::Silence),
        ("snapshot", ActionKind::Snapshot),
        ("health-check", ActionKind::HealthCheck),
    ];
}

impl From<&str> for ActionKind {
    fn from(name: &str) -> Self {
        Self::KNOWN
            .iter()
            .find(|(known, _)| *known == name)
            .map_or_else(
                || ActionKind::Other(name.to_owned()),
                |(_, kind)| kind.clone(),
            )
    }
}

impl Findings {
    /// Nothing found: no data loss measured, no follow-ups.
    pub fn none() -> Self {
        Self {
            data_loss: None,
            follow_ups: Vec::new(),
        }
    }

    /// Adds the data loss the scenario measured.
    pub fn with_data_loss(mut self, loss: impl Into<DataLoss>) -> Self {
        self.data_loss = Some(loss.into());
        self
    }

    /// Adds a manual step for the report's action items.
    pub fn follow_up(mut self, step: impl Into<String>) -> Self {
        self.follow_ups.push(step.into());
        self
    }
}

impl Error {
    /// A scenario failure with a reason for the report.
    pub fn failed(reason: impl Into<String>) -> Self {
        Error::Failed(reason.into())
    }
}

/// Kubernetes: pods, nodes, evictions, drains, rollouts, exec, readiness waits.
pub mod cluster {
    pub use crate::bindings::firedrill::scenario0_1_0::cluster::*;

    impl Pod {
        /// The value of a label, if set.
        pub fn label(&self, key: &str) -> Option<&str> {
            self.labels
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        }
    }

    /// The Ready pods of `service` that are not terminating, sorted by name: a
    /// deterministic choice of victim or witness, like a runbook's `.items[0]`.
    pub fn ready_pods(service: &crate::Service) -> Result<Vec<Pod>, crate::Error> {
        let mut pods: Vec<Pod> = list_pods(&service.namespace, &service.selector)?
            .into_iter()
            .filter(|p| p.ready && !p.terminating)
            .collect();
        pods.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(pods)
    }
}

/// Outbound HTTP to granted hosts.
pub mod http {
    pub use crate::bindings::firedrill::scenario0_1_0::http::*;

    /// A GET with a timeout.
    pub fn get(url: &str, timeout_ms: u32) -> Result<Response, crate::Error> {
        send(&Request {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout_ms,
        })
    }
}

/// PostgreSQL statements on named connections.
pub mod postgres {
    pub use crate::bindings::firedrill::scenario0_1_0::postgres::*;
}

/// Redis commands on named connections.
pub mod redis {
    pub use crate::bindings::firedrill::scenario0_1_0::redis::*;

    /// Runs a command given as string slices.
    pub fn run(connection: &str, args: &[&str]) -> Result<Reply, crate::Error> {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        command(connection, &args)
    }
}

/// Time.
pub mod clock {
    pub use crate::bindings::firedrill::scenario0_1_0::clock::*;

    /// Sleeps without blocking the host.
    pub fn sleep(duration: core::time::Duration) {
        sleep_ms(u32::try_from(duration.as_millis()).unwrap_or(u32::MAX));
    }
}

/// The daemon's log.
pub mod log {
    pub use crate::bindings::firedrill::scenario0_1_0::log::*;

    pub fn debug(message: &str) {
        write(Level::Debug, message);
    }
    pub fn info(message: &str) {
        write(Level::Info, message);
    }
    pub fn warn(message: &str) {
        write(Level::Warn, message);
    }
    pub fn error(message: &str) {
        write(Level::Error, message);
    }
}

/// Key/value state kept in the run journal, for `rollback` after a crash.
pub mod state {
    pub use crate::bindings::firedrill::scenario0_1_0::state::*;

    /// Stores a value as JSON.
    pub fn set_json<T: serde::Serialize>(key: &str, value: &T) -> Result<(), crate::Error> {
        let text = serde_json::to_string(value).map_err(|e| crate::Error::Failed(e.to_string()))?;
        set(key, &text)
    }

    /// Reads a value stored with [`set_json`]; none if absent or not decodable.
    pub fn get_json<T: serde::de::DeserializeOwned>(key: &str) -> Option<T> {
        get(key).and_then(|text| serde_json::from_str(&text).ok())
    }
}

/// Evidence artefacts attached to the run.
pub mod evidence {
    pub use crate::bindings::firedrill::scenario0_1_0::evidence::*;

    /// Attaches plain text.
    pub fn text(name: &str, content: &str) -> Result<(), crate::Error> {
        attach(name, "text/plain", content)
    }

    /// Data loss the scenario measured itself, for the phase record (the host's canaries
    /// cover writes; this is for what only the scenario can see, such as the age of the
    /// backup a restore used). Attached as `data-loss.json`; the last one of a phase counts.
    #[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
    pub struct DataLoss {
        /// Writes the scenario made.
        pub writes: u64,
        /// Of those, acknowledged by the database.
        pub acknowledged: u64,
        /// Acknowledged and missing afterwards.
        pub acknowledged_lost: u64,
        /// The window of lost data, in seconds (default: the backup's age).
        pub loss_window_seconds: Option<f64>,
        /// Age of the newest backup, in seconds: what a restore from it loses at most.
        pub backup_age_seconds: Option<f64>,
        /// How it was measured, in a sentence for the report.
        pub method: String,
    }

    /// The same measurement as 0.2.0's `findings` carry it (milliseconds).
    impl From<DataLoss> for crate::DataLoss {
        fn from(loss: DataLoss) -> Self {
            let millis = |seconds: f64| (seconds.max(0.0) * 1000.0).round() as u64;
            Self {
                writes: loss.writes,
                acknowledged: loss.acknowledged,
                acknowledged_lost: loss.acknowledged_lost,
                loss_window_ms: loss.loss_window_seconds.map(millis),
                backup_age_ms: loss.backup_age_seconds.map(millis),
                method: loss.method,
            }
        }
    }

    /// State key under which [`keep_data_loss`] keeps a measurement for `findings`.
    pub const DATA_LOSS_KEY: &str = "firedrill.data-loss";

    /// Keeps a measurement made in `inject` or `verify` for this phase's `findings`
    /// (which runs in a fresh instance): the last one kept counts.
    pub fn keep_data_loss(loss: &DataLoss) -> Result<(), crate::Error> {
        crate::state::set_json(DATA_LOSS_KEY, loss)
    }

    /// Findings carrying the measurement [`keep_data_loss`] kept, if any.
    pub fn kept_findings() -> crate::Findings {
        match crate::state::get_json::<DataLoss>(DATA_LOSS_KEY) {
            Some(loss) => crate::Findings::none().with_data_loss(loss),
            None => crate::Findings::none(),
        }
    }

    /// Reports [`DataLoss`] for this phase as a `data-loss.json` artefact, as 0.1.0-era
    /// scenarios do; new scenarios return it from `findings` instead.
    pub fn data_loss(loss: &DataLoss) -> Result<(), crate::Error> {
        let json = serde_json::to_string(loss)
            .map_err(|e| crate::Error::Failed(format!("data-loss.json: {e}")))?;
        attach("data-loss.json", "application/json", &json)
    }
}

/// Not public API: used by [`export_scenario!`].
#[doc(hidden)]
pub mod __private {
    use super::*;

    pub fn decode<S: Scenario>(
        raw: RawPhase,
        trigger: Option<Change>,
    ) -> Result<Phase<S::Params>, Error> {
        let text = if raw.params.trim().is_empty() {
            "{}"
        } else {
            raw.params.as_str()
        };
        let params = serde_json::from_str(text)
            .map_err(|e| Error::InvalidParams(format!("phase parameters: {e}")))?;
        Ok(Phase {
            run_id: raw.run_id,
            name: raw.name,
            params,
            services: raw.services,
            trigger,
        })
    }
}

/// Exports a [`Scenario`] implementation as the component's `describe`, `plan`,
/// `inject`, `verify`, `findings` and `rollback`.
#[macro_export]
macro_rules! export_scenario {
    ($scenario:ty) => {
        #[doc(hidden)]
        struct __FiredrillExport;

        impl $crate::bindings::Guest for __FiredrillExport {
            fn describe() -> $crate::Description {
                <$scenario as $crate::Scenario>::describe()
            }
            fn plan(phase: $crate::RawPhase) -> Result<Vec<$crate::Action>, $crate::Error> {
                let phase = $crate::__private::decode::<$scenario>(phase, None)?;
                <$scenario as $crate::Scenario>::plan(&phase)
            }
            fn inject(phase: $crate::RawPhase) -> Result<(), $crate::Error> {
                let phase = $crate::__private::decode::<$scenario>(phase, None)?;
                <$scenario as $crate::Scenario>::inject(&phase)
            }
            fn verify(
                phase: $crate::RawPhase,
                trigger: Option<$crate::Change>,
            ) -> Result<$crate::Verdict, $crate::Error> {
                let phase = $crate::__private::decode::<$scenario>(phase, trigger)?;
                <$scenario as $crate::Scenario>::verify(&phase)
            }
            fn findings(phase: $crate::RawPhase) -> Result<$crate::Findings, $crate::Error> {
                let phase = $crate::__private::decode::<$scenario>(phase, None)?;
                <$scenario as $crate::Scenario>::findings(&phase)
            }
            fn rollback(phase: $crate::RawPhase) -> Result<(), $crate::Error> {
                let phase = $crate::__private::decode::<$scenario>(phase, None)?;
                <$scenario as $crate::Scenario>::rollback(&phase)
            }
        }

        $crate::bindings::__export_scenario_world!(__FiredrillExport with_types_in $crate::bindings);
    };
}
