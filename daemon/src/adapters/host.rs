//! `WasmtimeScenarios`: the engine's scenario host over the wasmtime plugin host, with the configuration's grants and limits.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use firedrill_core::config::ConnectionKind;
use firedrill_core::config::{Config, Grant, PluginLimits};
use firedrill_core::run::DataLoss;
use firedrill_host::capabilities::evidence::InMemoryEvidence;
use firedrill_host::{Backends, ClusterGrant, Grants, Limits, Plugin, WasmtimeHost};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::engine::ports::{
    Attached, Change, Effect, Findings, Injected, PhaseContext, PlannedAction, Recovery, Scenario,
    ScenarioError, ScenarioHost, Verified,
};

/// The directory plugins are read from when the configuration names none:
/// `$FIREDRILL_PLUGIN_DIR`, else `plugins` beside the executable's directory (where
/// `plugins/build` puts them: `target/debug/firedrill` -> `target/plugins`). A scenario
/// found there overrides the built-in one of that name; none is needed for built-ins.
pub fn default_plugin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FIREDRILL_PLUGIN_DIR") {
        return PathBuf::from(dir);
    }
    firedrill_host::paths::default_plugin_dir().unwrap_or_else(|_| PathBuf::from("plugins"))
}

/// Translates a configuration grant into the host's grants.
pub fn host_grants(grant: &Grant, config: &Config) -> Grants {
    let mut postgres = Vec::new();
    let mut redis = Vec::new();
    for name in &grant.connections {
        match config.connections.get(name).map(|c| c.kind) {
            Some(ConnectionKind::Postgres) => postgres.push(name.clone()),
            Some(ConnectionKind::Redis) => redis.push(name.clone()),
            None => {}
        }
    }
    Grants {
        cluster: grant
            .kubernetes
            .iter()
            .map(|rule| ClusterGrant {
                verbs: rule.verbs.iter().cloned().collect(),
                namespaces: rule.namespaces.iter().cloned().collect(),
            })
            .collect(),
        exec: grant.exec.clone(),
        http: grant.hosts.clone(),
        postgres,
        redis,
    }
}

fn host_limits(limits: &PluginLimits) -> Limits {
    Limits {
        fuel: limits.fuel,
        memory_bytes: usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX),
        deadline: limits.call_timeout,
        ..Limits::default()
    }
}

/// Scenario plugins loaded on first use from the plugin directory (or a custom path),
/// each with its grants; one per scenario name for the host's lifetime.
pub struct WasmtimeScenarios {
    host: WasmtimeHost,
    locator: PluginLocator,
    grants: BTreeMap<String, Grants>,
    limits: Limits,
    evidence: Arc<InMemoryEvidence>,
    loaded: tokio::sync::Mutex<BTreeMap<String, Arc<WasmScenario>>>,
    hashes: Mutex<BTreeMap<String, String>>,
}

impl std::fmt::Debug for WasmtimeScenarios {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmtimeScenarios")
            .field("locator", &self.locator)
            .finish_non_exhaustive()
    }
}

impl WasmtimeScenarios {
    /// A host for `config`'s scenarios whose capabilities call `backends` (its evidence
    /// sink is replaced by one this host can read back per run).
    pub fn new(config: &Config, mut backends: Backends) -> Result<Self, ScenarioError> {
        let evidence = Arc::new(InMemoryEvidence::default());
        backends.evidence = evidence.clone();
        let cache = config.storage_path.join("plugin-cache");
        let host = WasmtimeHost::new(Some(cache), backends)
            .map_err(|err| ScenarioError(format!("cannot start the plugin host: {err}")))?;
        let grants = config
            .plugins
            .grants
            .iter()
            .map(|(name, grant)| (name.clone(), host_grants(grant, config)))
            .collect();
        Ok(Self {
            host,
            locator: PluginLocator::new(config),
            grants,
            limits: host_limits(&config.plugins.limits),
            evidence,
            loaded: tokio::sync::Mutex::new(BTreeMap::new()),
            hashes: Mutex::new(BTreeMap::new()),
        })
    }

    /// Where `scenario`'s component comes from.
    pub fn source(&self, scenario: &str) -> Result<PluginSource, ScenarioError> {
        self.locator.source(scenario)
    }
}

/// Finds a scenario's component: `plugins.custom`, else `NAME.wasm` in the plugin
/// directory, else the scenario built into this binary.
#[derive(Clone, Debug)]
pub struct PluginLocator {
    plugin_dir: PathBuf,
    custom: BTreeMap<String, PathBuf>,
}

impl PluginLocator {
    /// The locator of `config` (`plugins.dir`, else [`default_plugin_dir`]; `plugins.custom`).
    pub fn new(config: &Config) -> Self {
        Self {
            plugin_dir: config
                .plugins
                .dir
                .clone()
                .unwrap_or_else(default_plugin_dir),
            custom: config.plugins.custom.clone(),
        }
    }

    /// The locator with no configuration: the default directory and the built-ins.
    pub fn unconfigured() -> Self {
        Self {
            plugin_dir: default_plugin_dir(),
            custom: BTreeMap::new(),
        }
    }

    /// Where a scenario's component comes from: `plugins.custom`, else a file in the
    /// plugin directory, else the one built into this binary.
    pub fn source(&self, scenario: &str) -> Result<PluginSource, ScenarioError> {
        if let Some(path) = self.custom.get(scenario) {
            return Ok(PluginSource::File(path.clone()));
        }
        let path = self.plugin_dir.join(format!("{scenario}.wasm"));
        if path.is_file() {
            return Ok(PluginSource::File(path));
        }
        if let Some(bytes) = super::builtin::get(scenario) {
            return Ok(PluginSource::BuiltIn(scenario.to_string(), bytes));
        }
        Err(ScenarioError(format!(
            "no plugin for scenario `{scenario}`: it is not built in ({}), not in {} and not under plugins.custom",
            super::builtin::names().collect::<Vec<_>>().join(", "),
            self.plugin_dir.display()
        )))
    }
}

/// Where a scenario's component is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginSource {
    /// A file: `plugins.custom`, or `NAME.wasm` in the plugin directory.
    File(PathBuf),
    /// The built-in scenario of that name, compiled into the binary.
    BuiltIn(String, &'static [u8]),
}

impl PluginSource {
    /// The component's bytes.
    pub fn read(&self) -> Result<std::borrow::Cow<'static, [u8]>, ScenarioError> {
        match self {
            Self::BuiltIn(_, bytes) => Ok(std::borrow::Cow::Borrowed(bytes)),
            Self::File(path) => std::fs::read(path).map(Into::into).map_err(|err| {
                ScenarioError(format!("cannot read plugin {}: {err}", path.display()))
            }),
        }
    }
}

impl std::fmt::Display for PluginSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::BuiltIn(name, _) => write!(f, "built-in:{name}"),
        }
    }
}

#[async_trait]
impl ScenarioHost for WasmtimeScenarios {
    async fn load(&self, scenario: &str) -> Result<Arc<dyn Scenario>, ScenarioError> {
        let mut loaded = self.loaded.lock().await;
        if let Some(plugin) = loaded.get(scenario) {
            return Ok(plugin.clone());
        }
        let source = self.source(scenario)?;
        let bytes = source.read()?;
        let grants = self.grants.get(scenario).cloned().unwrap_or_default();
        let plugin = self
            .host
            .load_bytes(&source.to_string(), &bytes, grants, self.limits.clone())
            .await
            .map_err(|err| ScenarioError(err.to_string()))?;
        if plugin.name() != scenario {
            return Err(ScenarioError(format!(
                "plugin {source} describes itself as `{}`, not `{scenario}`",
                plugin.name()
            )));
        }
        self.hashes
            .lock()
            .insert(scenario.to_string(), hex::encode(Sha256::digest(&bytes)));
        let plugin = Arc::new(WasmScenario { plugin });
        loaded.insert(scenario.to_string(), plugin.clone());
        Ok(plugin)
    }

    fn plugin_sha256(&self, scenario: &str) -> Option<String> {
        self.hashes.lock().get(scenario).cloned()
    }

    async fn evidence(&self, run_id: &str) -> Vec<Attached> {
        self.evidence
            .artefacts()
            .into_iter()
            .filter(|a| a.run_id == run_id)
            .map(|a| Attached {
                phase: a.phase,
                scenario: a.scenario,
                name: a.name,
                content: a.content,
                captured_at: a.captured_at.into(),
            })
            .collect()
    }
}

/// One loaded plugin as the engine's `Scenario`.
struct WasmScenario {
    plugin: Plugin,
}

fn phase(ctx: &PhaseContext) -> firedrill_host::Phase {
    firedrill_host::Phase {
        run_id: ctx.run_id.clone(),
        name: ctx.phase.clone(),
        params: ctx.params.to_string(),
        services: ctx
            .services
            .iter()
            .map(|s| firedrill_host::Service {
                name: s.name.clone(),
                namespace: s.namespace.clone(),
                selector: s.selector.clone(),
                replicas: s.replicas,
            })
            .collect(),
    }
}

fn failed(err: firedrill_host::PluginError) -> ScenarioError {
    ScenarioError(err.to_string())
}

#[async_trait]
impl Scenario for WasmScenario {
    async fn plan(&self, ctx: &PhaseContext) -> Result<Vec<PlannedAction>, ScenarioError> {
        let actions = self.plugin.plan(&phase(ctx)).await.map_err(failed)?;
        Ok(actions
            .into_iter()
            .map(|a| PlannedAction {
                kind: a.kind,
                target: a.target,
                detail: a.detail,
            })
            .collect())
    }

    async fn inject(&self, ctx: &PhaseContext) -> Result<Injected, ScenarioError> {
        let injected = self.plugin.inject(&phase(ctx)).await.map_err(failed)?;
        let effect = |effect: firedrill_host::Effect| Effect {
            at: tokio::time::Instant::from_std(effect.at),
            action: effect.action,
        };
        Ok(Injected {
            first_effect: injected.first_effect.map(effect),
            last_effect: injected.last_effect.map(effect),
            held_back: injected.held_back,
        })
    }

    async fn verify(
        &self,
        ctx: &PhaseContext,
        trigger: Option<&Change>,
    ) -> Result<Verified, ScenarioError> {
        let trigger = trigger.map(|change| firedrill_host::Change {
            kind: change.kind.clone(),
            namespace: change.namespace.clone(),
            name: change.name.clone(),
            summary: change.summary.clone(),
            age_ms: u32::try_from(change.at.elapsed().as_millis()).unwrap_or(u32::MAX),
        });
        let verified = self
            .plugin
            .verify(&phase(ctx), trigger)
            .await
            .map_err(failed)?;
        let recovery = match verified.verdict {
            firedrill_host::Verdict::Recovered => Recovery::Recovered,
            firedrill_host::Verdict::Recovering(reason) => Recovery::Recovering(reason),
            firedrill_host::Verdict::Failed(reason) => Recovery::Failed(reason),
        };
        Ok(Verified {
            recovery,
            outside_cluster: verified.outside_cluster,
        })
    }

    async fn findings(&self, ctx: &PhaseContext) -> Result<Option<Findings>, ScenarioError> {
        let Some(findings) = self.plugin.findings(&phase(ctx)).await.map_err(failed)? else {
            return Ok(None);
        };
        let seconds = |ms: u64| Duration::from_millis(ms).as_secs_f64();
        let data_loss = findings.data_loss.map(|loss| DataLoss {
            canaries_written: loss.writes,
            canaries_acknowledged: loss.acknowledged,
            acknowledged_lost: loss.acknowledged_lost,
            // A backup's age is the window a restore from it loses (as `data-loss.json`).
            loss_window_seconds: loss
                .loss_window_ms
                .or(loss.backup_age_ms)
                .map_or(0.0, seconds),
            backup_age_seconds: loss.backup_age_ms.map(seconds),
            method: loss.method,
        });
        Ok(Some(Findings {
            data_loss,
            follow_ups: findings.follow_ups,
        }))
    }

    async fn rollback(&self, ctx: &PhaseContext) -> Result<(), ScenarioError> {
        self.plugin.rollback(&phase(ctx)).await.map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locator(dir: &std::path::Path, custom: &[(&str, PathBuf)]) -> PluginLocator {
        PluginLocator {
            plugin_dir: dir.to_path_buf(),
            custom: custom
                .iter()
                .map(|(name, path)| (name.to_string(), path.clone()))
                .collect(),
        }
    }

    #[test]
    fn a_scenario_comes_from_custom_then_the_plugin_dir_then_the_binary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = locator(dir.path(), &[]);
        // Nothing on disk: the built-in one, byte for byte.
        let source = empty.source("pod-failure").expect("built in");
        assert_eq!(
            source,
            PluginSource::BuiltIn(
                "pod-failure".into(),
                super::super::builtin::get("pod-failure").expect("embedded")
            )
        );
        assert_eq!(source.to_string(), "built-in:pod-failure");
        // A file of that name in the plugin directory overrides it.
        let file = dir.path().join("pod-failure.wasm");
        std::fs::write(&file, b"override").expect("write");
        let source = empty.source("pod-failure").expect("file");
        assert_eq!(source, PluginSource::File(file.clone()));
        assert_eq!(source.read().expect("read").as_ref(), b"override");
        // plugins.custom wins over both, and adds names nothing else has.
        let custom = dir.path().join("elsewhere.wasm");
        let with_custom = locator(
            dir.path(),
            &[("pod-failure", custom.clone()), ("mine", custom.clone())],
        );
        assert_eq!(
            with_custom.source("pod-failure").expect("custom"),
            PluginSource::File(custom.clone())
        );
        assert_eq!(
            with_custom.source("mine").expect("custom"),
            PluginSource::File(custom)
        );
        // A name found nowhere says where it looked.
        let err = empty.source("nope").expect_err("missing");
        assert!(err.0.contains("no plugin for scenario `nope`"), "{}", err.0);
        assert!(
            err.0.contains("zone-failure"),
            "lists the built-ins: {}",
            err.0
        );
        assert!(
            err.0.contains(&dir.path().display().to_string()),
            "{}",
            err.0
        );
    }
}
