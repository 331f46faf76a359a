//! `WasmtimeHost` (engine, linker, cache, epoch ticker) and `Plugin` (one loaded scenario,
//! of either WIT version: the version is found at load and every call adapts to it).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Config, Engine, Store, Trap, UpdateDeadline};

use crate::bindings::types::{Action, Description, Error as WitError, Phase, Verdict};
use crate::bindings::v0_2::types::{Action as ActionV2, ActionKind, Change, Findings};
use crate::bindings::{v0_1, v0_2};
use crate::cache::{ComponentCache, LoadReport};
use crate::capabilities::Backends;
use crate::error::PluginError;
use crate::grants::{Granter, Grants};
use crate::guard::{Effect, Trace, Violation};
use crate::limits::Limits;
use crate::store::HostState;
use crate::text::quoted;

/// How often the epoch advances. Each tick lets a running plugin yield to the async
/// executor, which is what lets the wall-clock deadline interrupt a busy loop.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Advances the engine's epoch from a background thread until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: &Engine) -> Result<Self, PluginError> {
        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("firedrill-plugin-epoch".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|source| PluginError::Setup {
                message: "cannot start the epoch thread".into(),
                source: Some(source.into()),
            })?;
        Ok(Self { stop })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A version of the WIT package `firedrill:scenario` the host accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WitVersion {
    /// `0.1.0`: `verify` without a trigger, no `findings`.
    V0_1,
    /// `0.2.0`: typed action kinds, `verify` with its trigger, `findings`.
    V0_2,
}

impl WitVersion {
    /// The version as the WIT package spells it, e.g. `0.2.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            WitVersion::V0_1 => "0.1.0",
            WitVersion::V0_2 => "0.2.0",
        }
    }

    /// The version a component targets, from its exports: `findings` is new in 0.2.0
    /// (its imports do not tell: 0.2.0 imports the 0.1.0 capability interfaces).
    pub fn of(engine: &Engine, component: &wasmtime::component::Component) -> Self {
        let exports_findings = component
            .component_type()
            .exports(engine)
            .any(|(name, _)| name == "findings");
        if exports_findings {
            WitVersion::V0_2
        } else {
            WitVersion::V0_1
        }
    }
}

impl std::fmt::Display for WitVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `inject` did, as the capabilities saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Injected {
    /// The first successful disruptive capability call: where the recovery clock starts.
    pub first_effect: Option<Effect>,
    /// The last successful disruptive capability call.
    pub last_effect: Option<Effect>,
    /// Time `drain` spent waiting to retry evictions a disruption budget refused.
    pub held_back: Duration,
}

/// What `verify` answered, and how it found out.
#[derive(Clone, Debug)]
pub struct Verified {
    pub verdict: Verdict,
    /// The call used `http`, `postgres`, `redis` or `exec`: a read the host's cluster
    /// watch cannot cover, so a change of the cluster alone need not change the answer.
    pub outside_cluster: bool,
}

/// A component's pre-instantiated bindings, by WIT version.
#[derive(Clone)]
enum Pre {
    V0_1(v0_1::ScenarioPre<HostState>),
    V0_2(v0_2::ScenarioPre<HostState>),
}

impl Pre {
    fn component(&self) -> &wasmtime::component::Component {
        match self {
            Pre::V0_1(pre) => pre.instance_pre().component(),
            Pre::V0_2(pre) => pre.instance_pre().component(),
        }
    }

    async fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<Bindings> {
        Ok(match self {
            Pre::V0_1(pre) => Bindings::V0_1(pre.instantiate_async(store).await?),
            Pre::V0_2(pre) => Bindings::V0_2(pre.instantiate_async(store).await?),
        })
    }
}

/// One instance's exports, by WIT version.
enum Bindings {
    V0_1(v0_1::Scenario),
    V0_2(v0_2::Scenario),
}

/// The plugin host: one per daemon. Cheap to share behind an `Arc`.
pub struct WasmtimeHost {
    engine: Engine,
    linker: Arc<Linker<HostState>>,
    cache: ComponentCache,
    backends: Backends,
    _ticker: EpochTicker,
}

impl std::fmt::Debug for WasmtimeHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmtimeHost")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// The engine configuration every plugin runs under; part of the cache key.
fn engine_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.consume_fuel(true);
    config.epoch_interruption(true);
    config
}

impl WasmtimeHost {
    /// A host whose precompiled components live in `cache_dir` (none: compile every
    /// load) and whose capabilities call `backends`.
    pub fn new(cache_dir: Option<PathBuf>, backends: Backends) -> Result<Self, PluginError> {
        let engine = Engine::new(&engine_config()).map_err(|source| PluginError::Setup {
            message: "cannot create the wasmtime engine".into(),
            source: Some(source.into()),
        })?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|source| {
            PluginError::Setup {
                message: "cannot link WASI".into(),
                source: Some(source.into()),
            }
        })?;
        crate::linking::link_capabilities(&mut linker).map_err(|source| PluginError::Setup {
            message: "cannot link the scenario capabilities".into(),
            source: Some(source.into()),
        })?;
        let ticker = EpochTicker::start(&engine)?;
        Ok(Self {
            engine,
            linker: Arc::new(linker),
            cache: ComponentCache::new(cache_dir),
            backends,
            _ticker: ticker,
        })
    }

    /// The engine (for tools that inspect components).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads a plugin file with its grants and limits, and calls `describe` once to
    /// learn (and validate) its name.
    pub async fn load_file(
        &self,
        path: &Path,
        grants: Grants,
        limits: Limits,
    ) -> Result<Plugin, PluginError> {
        let bytes = std::fs::read(path).map_err(|source| PluginError::Io {
            path: path.display().to_string(),
            source,
        })?;
        self.load_bytes(&path.display().to_string(), &bytes, grants, limits)
            .await
    }

    /// Like [`WasmtimeHost::load_file`], for bytes already in memory; `label` names them in errors.
    pub async fn load_bytes(
        &self,
        label: &str,
        bytes: &[u8],
        grants: Grants,
        limits: Limits,
    ) -> Result<Plugin, PluginError> {
        let (component, load) = self.cache.load(&self.engine, label, bytes)?;
        let version = WitVersion::of(&self.engine, &component);
        let invalid = |source: wasmtime::Error| PluginError::InvalidComponent {
            path: label.to_owned(),
            wit_version: version.as_str(),
            source: source.into(),
        };
        let instance_pre = self.linker.instantiate_pre(&component).map_err(invalid)?;
        let pre = match version {
            WitVersion::V0_1 => Pre::V0_1(v0_1::ScenarioPre::new(instance_pre).map_err(invalid)?),
            WitVersion::V0_2 => Pre::V0_2(v0_2::ScenarioPre::new(instance_pre).map_err(invalid)?),
        };
        // `describe` runs with no grants under the name of the file: it must not call
        // capabilities, and the plugin's own name is not known before it answers.
        let provisional = Path::new(label).file_stem().map_or_else(
            || label.to_owned(),
            |stem| stem.to_string_lossy().into_owned(),
        );
        let mut plugin = Plugin {
            engine: self.engine.clone(),
            pre,
            version,
            granter: Arc::new(Granter::new(provisional, Grants::default())),
            backends: self.backends.clone(),
            limits,
            load,
            description: None,
        };
        let description = plugin.describe().await?;
        plugin.granter = Arc::new(Granter::new(description.name.clone(), grants));
        plugin.description = Some(description);
        Ok(plugin)
    }
}

/// One loaded scenario plugin. Every call gets a fresh instance (`Store`) with the
/// plugin's limits; the compiled code and import resolution are shared.
#[derive(Clone)]
pub struct Plugin {
    engine: Engine,
    pre: Pre,
    version: WitVersion,
    granter: Arc<Granter>,
    backends: Backends,
    limits: Limits,
    load: LoadReport,
    description: Option<Description>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("scenario", &self.granter.scenario())
            .field("wit_version", &self.version)
            .field("limits", &self.limits)
            .field("load", &self.load)
            .finish_non_exhaustive()
    }
}

/// Where a call failed: instantiation errors mean an incompatible component, call
/// errors (that are not traps) mean the plugin returned values the host cannot lift.
enum Stage {
    Instantiate,
    Call,
}

type CallFuture<'a, R> = Pin<Box<dyn Future<Output = wasmtime::Result<R>> + Send + 'a>>;

impl Plugin {
    /// The scenario name (from `describe`).
    pub fn name(&self) -> &str {
        self.granter.scenario()
    }

    /// The WIT version the component targets (found from its exports at load).
    pub fn wit_version(&self) -> WitVersion {
        self.version
    }

    /// What `describe` answered when the plugin was loaded.
    pub fn description(&self) -> Option<&Description> {
        self.description.as_ref()
    }

    /// How the component was loaded (cache hit or compiled) and how long it took.
    pub fn load_report(&self) -> LoadReport {
        self.load
    }

    /// The compiled component (from the cache or compiled at load).
    pub fn component(&self) -> &wasmtime::component::Component {
        self.pre.component()
    }

    /// The limits of each call.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The same plugin with other limits (e.g. the phase's deadline).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Calls `describe` and validates its answer.
    pub async fn describe(&self) -> Result<Description, PluginError> {
        let (description, _) = self
            .call("describe", "describe", None, |bindings, store| {
                Box::pin(async move {
                    match bindings {
                        Bindings::V0_1(b) => b.call_describe(store).await,
                        Bindings::V0_2(b) => b.call_describe(store).await,
                    }
                })
            })
            .await?;
        self.validate_description(&description)?;
        Ok(description)
    }

    /// Calls `plan`: the actions `inject` would take. A 0.2.0 plugin's typed kinds are
    /// given as the kebab-case names 0.1.0 plugins write (`delete-pod`, `cordon`...).
    pub async fn plan(&self, phase: &Phase) -> Result<Vec<Action>, PluginError> {
        let (actions, _) = self
            .call_phase("plan", phase, |b, s, p| {
                Box::pin(async move {
                    match b {
                        Bindings::V0_1(b) => b.call_plan(s, &p).await,
                        Bindings::V0_2(b) => Ok(b
                            .call_plan(s, &p)
                            .await?
                            .map(|actions| actions.into_iter().map(action_of).collect())),
                    }
                })
            })
            .await?;
        check_actions(&actions).map_err(|reason| self.malformed("plan", reason))?;
        Ok(actions)
    }

    /// Calls `inject`: causes the fault, and reports the disruptive capability calls it
    /// made (the recovery clock starts at the first).
    pub async fn inject(&self, phase: &Phase) -> Result<Injected, PluginError> {
        let ((), trace) = self
            .call_phase("inject", phase, |b, s, p| {
                Box::pin(async move {
                    match b {
                        Bindings::V0_1(b) => b.call_inject(s, &p).await,
                        Bindings::V0_2(b) => b.call_inject(s, &p).await,
                    }
                })
            })
            .await?;
        Ok(Injected {
            first_effect: trace.first_effect,
            last_effect: trace.last_effect,
            held_back: trace.held_back,
        })
    }

    /// Calls `verify`: is the system recovered yet? `trigger` is the cluster change that
    /// prompted the call (none for a timer call); a 0.1.0 plugin is not told.
    pub async fn verify(
        &self,
        phase: &Phase,
        trigger: Option<Change>,
    ) -> Result<Verified, PluginError> {
        let (verdict, trace) = self
            .call_phase("verify", phase, move |b, s, p| {
                Box::pin(async move {
                    match b {
                        Bindings::V0_1(b) => b.call_verify(s, &p).await,
                        Bindings::V0_2(b) => b.call_verify(s, &p, trigger.as_ref()).await,
                    }
                })
            })
            .await?;
        Ok(Verified {
            verdict,
            outside_cluster: trace.outside_cluster,
        })
    }

    /// Calls `findings` once the phase's wait for recovery ended: the data loss the
    /// scenario measured and its follow-ups. None for a 0.1.0 plugin, which has no such
    /// export.
    pub async fn findings(&self, phase: &Phase) -> Result<Option<Findings>, PluginError> {
        if self.version == WitVersion::V0_1 {
            return Ok(None);
        }
        let (findings, _) = self
            .call_phase("findings", phase, |b, s, p| {
                Box::pin(async move {
                    match b {
                        Bindings::V0_1(_) => Ok(Ok(None)),
                        Bindings::V0_2(b) => Ok(b.call_findings(s, &p).await?.map(Some)),
                    }
                })
            })
            .await?;
        Ok(findings)
    }

    /// Calls `rollback`: undoes the fault.
    pub async fn rollback(&self, phase: &Phase) -> Result<(), PluginError> {
        let ((), _) = self
            .call_phase("rollback", phase, |b, s, p| {
                Box::pin(async move {
                    match b {
                        Bindings::V0_1(b) => b.call_rollback(s, &p).await,
                        Bindings::V0_2(b) => b.call_rollback(s, &p).await,
                    }
                })
            })
            .await?;
        Ok(())
    }

    /// A phase call: runs it, then turns the scenario's own `error` into a `PluginError`.
    async fn call_phase<R, F>(
        &self,
        function: &'static str,
        phase: &Phase,
        f: F,
    ) -> Result<(R, Trace), PluginError>
    where
        R: Send + 'static,
        F: for<'a> FnOnce(
                &'a Bindings,
                &'a mut Store<HostState>,
                Phase,
            ) -> CallFuture<'a, Result<R, WitError>>
            + Send,
    {
        let owned = phase.clone();
        let (result, trace) = self
            .call(function, &phase.run_id, Some(&phase.name), move |b, s| {
                f(b, s, owned)
            })
            .await?;
        let value = result.map_err(|error| {
            let (kind, message) = match error {
                WitError::InvalidParams(m) => ("invalid-params", m),
                WitError::NotFound(m) => ("not-found", m),
                WitError::Refused(m) => ("refused", m),
                WitError::Timeout(m) => ("timeout", m),
                WitError::Unavailable(m) => ("unavailable", m),
                WitError::Failed(m) => ("failed", m),
            };
            PluginError::Scenario {
                scenario: self.name().to_owned(),
                function,
                kind,
                message,
            }
        })?;
        Ok((value, trace))
    }

    /// Runs one export in a fresh store under the limits and classifies any failure;
    /// with the value comes what the capabilities traced during the call.
    async fn call<R, F>(
        &self,
        function: &'static str,
        run_id: &str,
        phase: Option<&str>,
        f: F,
    ) -> Result<(R, Trace), PluginError>
    where
        R: Send + 'static,
        F: for<'a> FnOnce(&'a Bindings, &'a mut Store<HostState>) -> CallFuture<'a, R> + Send,
    {
        // `plan` is a dry run: whatever the grants, it may only read.
        let granter = if function == "plan" {
            Arc::new(self.granter.read_only())
        } else {
            self.granter.clone()
        };
        let state = HostState::new(
            granter,
            self.backends.clone(),
            self.limits.clone(),
            run_id.to_owned(),
            phase.map(str::to_owned),
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.memory);
        store
            .set_fuel(self.limits.fuel)
            .map_err(|source| PluginError::Setup {
                message: "cannot set fuel".into(),
                source: Some(source.into()),
            })?;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));

        let pre = self.pre.clone();
        let outcome = tokio::time::timeout(self.limits.deadline, async {
            let bindings = pre
                .instantiate(&mut store)
                .await
                .map_err(|e| (Stage::Instantiate, e))?;
            f(&bindings, &mut store).await.map_err(|e| (Stage::Call, e))
        })
        .await;

        match outcome {
            Err(_elapsed) => Err(PluginError::Timeout {
                scenario: self.name().to_owned(),
                function,
                deadline_ms: self.limits.deadline.as_millis(),
            }),
            Ok(Ok(value)) => Ok((value, std::mem::take(&mut store.data_mut().guard.trace))),
            Ok(Err((stage, error))) => Err(self.classify(function, store.data(), stage, error)),
        }
    }

    /// Turns a wasmtime error into the most precise `PluginError`.
    fn classify(
        &self,
        function: &'static str,
        state: &HostState,
        stage: Stage,
        error: wasmtime::Error,
    ) -> PluginError {
        let scenario = self.name().to_owned();
        // A rule the plugin broke explains the error, whatever trap followed it.
        match &state.guard.violation {
            Some(Violation::Denied(denied)) => {
                return PluginError::Denied {
                    denied: denied.clone(),
                };
            }
            Some(Violation::LogFlood(detail)) => {
                return PluginError::LogFlood {
                    scenario,
                    function,
                    detail: detail.clone(),
                };
            }
            None => {}
        }
        let trap = error.downcast_ref::<Trap>().copied();
        if trap == Some(Trap::OutOfFuel) {
            return PluginError::OutOfFuel {
                scenario,
                function,
                fuel: self.limits.fuel,
            };
        }
        if state.memory.exceeded() {
            return PluginError::MemoryExhausted {
                scenario,
                function,
                limit_bytes: state.memory.limit_bytes(),
            };
        }
        match (trap, stage) {
            (Some(trap), _) => {
                let stderr = state.stderr_tail();
                let detail = if stderr.is_empty() {
                    trap.to_string()
                } else {
                    format!("{trap}; stderr: {stderr}")
                };
                PluginError::Trap {
                    scenario,
                    function,
                    detail,
                    source: error.into(),
                }
            }
            (None, Stage::Instantiate) => PluginError::InvalidComponent {
                path: scenario,
                wit_version: self.version.as_str(),
                source: error.into(),
            },
            // Not a trap during a call: wasmtime could not lift what the plugin
            // returned (invalid UTF-8, pointers out of bounds, bad discriminants...).
            (None, Stage::Call) => PluginError::MalformedResult {
                scenario,
                function,
                reason: format!("{error:#}"),
            },
        }
    }

    fn malformed(&self, function: &'static str, reason: String) -> PluginError {
        PluginError::MalformedResult {
            scenario: self.name().to_owned(),
            function,
            reason,
        }
    }

    fn validate_description(&self, description: &Description) -> Result<(), PluginError> {
        check_description(description).map_err(|reason| self.malformed("describe", reason))
    }
}

/// Checks what a plugin's `describe` returned: a DNS-label-like name, a semantic version
/// and a params schema that is a JSON object. The error is the reason
/// [`PluginError::MalformedResult`] reports. Pure, so the fuzz binary (`fuzz/`) drives it.
pub fn check_description(description: &Description) -> Result<(), String> {
    let name_ok = !description.name.is_empty()
        && description.name.len() <= 63
        && description
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !description.name.starts_with('-');
    if !name_ok {
        return Err(format!(
            "name {} must be 1-63 lowercase letters, digits or dashes",
            quoted(&description.name)
        ));
    }
    if !is_semver(&description.version) {
        return Err(format!(
            "version {} is not a semantic version like 1.2.0",
            quoted(&description.version)
        ));
    }
    match serde_json::from_str::<serde_json::Value>(&description.params_schema) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(_) => Err("params-schema is JSON but not an object".into()),
        Err(error) => Err(format!("params-schema is not JSON: {error}")),
    }
}

/// Checks what a plugin's `plan` returned: every action names its kind. The error is the
/// reason [`PluginError::MalformedResult`] reports. Pure, so the fuzz binary drives it.
pub fn check_actions(actions: &[Action]) -> Result<(), String> {
    match actions.iter().find(|a| a.kind.trim().is_empty()) {
        Some(action) => Err(format!(
            "an action has an empty kind (target {})",
            quoted(&action.target)
        )),
        None => Ok(()),
    }
}

/// A 0.2.0 action as the engine reads it: its kind by the kebab-case name.
fn action_of(action: ActionV2) -> Action {
    Action {
        kind: action_kind_name(action.kind),
        target: action.target,
        detail: action.detail,
    }
}

/// The kebab-case name of a typed action kind, as 0.1.0 plugins spell it.
pub fn action_kind_name(kind: ActionKind) -> String {
    let known = match kind {
        ActionKind::DeletePod => "delete-pod",
        ActionKind::EvictPod => "evict-pod",
        ActionKind::Cordon => "cordon",
        ActionKind::Uncordon => "uncordon",
        ActionKind::Drain => "drain",
        ActionKind::RolloutRestart => "rollout-restart",
        ActionKind::Exec => "exec",
        ActionKind::Stop => "stop",
        ActionKind::Promote => "promote",
        ActionKind::Sql => "sql",
        ActionKind::Redis => "redis",
        ActionKind::Silence => "silence",
        ActionKind::Snapshot => "snapshot",
        ActionKind::HealthCheck => "health-check",
        ActionKind::Other(name) => return name,
    };
    known.to_owned()
}

/// `MAJOR.MINOR.PATCH` with an optional `-pre` / `+build` suffix.
fn is_semver(version: &str) -> bool {
    let core = version.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::is_semver;

    #[test]
    fn semantic_versions_are_recognised() {
        assert!(is_semver("1.2.0"));
        assert!(is_semver("0.1.0-alpha.1"));
        assert!(!is_semver("1.2"));
        assert!(!is_semver("v1.2.0"));
        assert!(!is_semver(""));
    }
}
