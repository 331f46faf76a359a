//! Sessions: a target opened (the embedded sandbox started, or a cluster connected), its identity read, and the engine wired to its adapters.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use firedrill_core::config::{Config, SandboxRegion, Target};
use firedrill_host::Backends;
use firedrill_sandbox::{Platform, Sandbox, SandboxConfig, SandboxHandle};
use sha2::{Digest, Sha256};

use crate::adapters::canaries::DatabaseCanaries;
use crate::adapters::databases::Databases;
use crate::adapters::host::WasmtimeScenarios;
use crate::adapters::journal::{JournalState, StoreJournal};
use crate::adapters::kube::{KubeCluster, connect_in_cluster, connect_kubeconfig, connect_url};
use crate::adapters::prober::HttpProber;
use crate::adapters::prometheus::PrometheusApi;
use crate::engine::Engine;
use crate::engine::ports::{AlertSource, ClusterBinding, ClusterIdentity, MetricsSource};
use crate::exit::CommandError;

/// A connected target with the engine wired to it.
pub struct Session {
    pub engine: Engine,
    pub cluster: KubeCluster,
    pub scenarios: Arc<WasmtimeScenarios>,
    /// The in-process sandbox, when the target is the sandbox; dropped with the session.
    pub sandbox: Option<SandboxHandle>,
}

impl Session {
    /// The target's name and the cluster it reached when it was opened.
    pub fn binding(&self) -> &ClusterBinding {
        &self.engine.binding
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

fn usage(message: impl Into<String>) -> CommandError {
    CommandError::Usage(message.into())
}

/// Connects to `target_name` (starting the embedded sandbox when it is one), reads which
/// cluster it reaches, and wires the engine's adapters. Fails when the cluster does not
/// answer: nothing can be drilled or rolled back there.
pub async fn open(config: &Config, target_name: &str) -> Result<Session, CommandError> {
    let Some(target) = config.targets.get(target_name) else {
        let known: Vec<&str> = config.targets.keys().map(String::as_str).collect();
        return Err(usage(format!(
            "unknown target `{target_name}` (known: {})",
            known.join(", ")
        )));
    };
    let (connected, sandbox) = match target {
        Target::Sandbox { platform, region } => {
            let platform = match platform {
                Some(path) => Platform::from_file(path).map_err(|err| usage(err.to_string()))?,
                None if *region == SandboxRegion::Dr => Platform::seed_dr(),
                None => Platform::seed(),
            };
            let listener =
                tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|source| CommandError::Io {
                        path: "listen on 127.0.0.1".into(),
                        source,
                    })?;
            let config = SandboxConfig {
                platform,
                ..SandboxConfig::default()
            };
            let sandbox = Sandbox::start(listener, config, std::future::pending())
                .await
                .map_err(|err| usage(format!("cannot start the sandbox: {err}")))?;
            let client = connect_url(&sandbox.base_url()).map_err(|err| usage(err.to_string()))?;
            (client, Some(sandbox))
        }
        Target::Kubeconfig {
            context,
            kubeconfig,
        } => (
            connect_kubeconfig(kubeconfig.as_deref(), context.as_deref())
                .await
                .map_err(|err| usage(err.to_string()))?,
            None,
        ),
        Target::InCluster => (
            connect_in_cluster().map_err(|err| usage(err.to_string()))?,
            None,
        ),
    };
    let client = connected.client;
    let cluster = KubeCluster::new(client.clone());
    let kube_system_uid = cluster.kube_system_uid().await.map_err(|err| {
        usage(format!(
            "target `{target_name}` ({}) does not answer: {err}",
            connected.server
        ))
    })?;
    let binding = ClusterBinding {
        target: target_name.to_string(),
        identity: ClusterIdentity {
            server: connected.server,
            kube_system_uid,
            embedded: sandbox.is_some(),
        },
    };
    let journal = Arc::new(StoreJournal::at(crate::adapters::store::StoreAt::of(
        config,
    )));
    let databases = Arc::new(Databases::from_config(config).map_err(|err| usage(err.to_string()))?);
    let backends = Backends {
        cluster: Arc::new(cluster.clone()),
        state: Arc::new(JournalState::new(journal.clone())),
        postgres: databases.clone(),
        redis: databases,
        ..Backends::default()
    };
    let canaries = Arc::new(DatabaseCanaries::new(
        backends.postgres.clone(),
        backends.redis.clone(),
    ));
    let scenarios =
        Arc::new(WasmtimeScenarios::new(config, backends).map_err(|err| usage(err.to_string()))?);
    let prober = HttpProber::new(client).map_err(|source| CommandError::Io {
        path: "TLS roots for probes".into(),
        source,
    })?;
    let prometheus_api = |connection: &firedrill_core::config::Prometheus| {
        PrometheusApi::new(connection)
            .map(Arc::new)
            .map_err(|err| usage(err.to_string()))
    };
    let alerts = match &config.abort.alerts {
        Some(abort) => Some(prometheus_api(&abort.prometheus)? as Arc<dyn AlertSource>),
        None => None,
    };
    let metrics = match &config.prometheus {
        Some(connection) => Some(prometheus_api(connection)? as Arc<dyn MetricsSource>),
        None => None,
    };
    let engine = Engine {
        host: scenarios.clone(),
        prober: Arc::new(prober),
        baseline: Arc::new(cluster.clone()),
        journal,
        alerts,
        metrics,
        canaries,
        watches: Some(Arc::new(cluster.watches())),
        verify_interval: Duration::from_millis(100),
        verify_fallback: Duration::from_secs(2),
        binding,
        elsewhere: BTreeMap::new(),
    };
    Ok(Session {
        engine,
        cluster,
        scenarios,
        sandbox,
    })
}

/// Sessions by target name, opened as they are needed and kept for reuse.
pub type Sessions = BTreeMap<String, Session>;

/// The engine of `target`'s session, acting also on `others` (the other targets a drill's
/// phases name), each session opened into `sessions` unless it already is.
pub async fn engine_for(
    config: &Config,
    sessions: &mut Sessions,
    target: &str,
    others: &[&str],
) -> Result<Engine, CommandError> {
    for name in std::iter::once(target).chain(others.iter().copied()) {
        if !sessions.contains_key(name) {
            sessions.insert(name.to_string(), open(config, name).await?);
        }
    }
    let engine_of = |name: &str| {
        sessions
            .get(name)
            .map(|session| session.engine.clone())
            .ok_or_else(|| usage(format!("target `{name}` has no session")))
    };
    let mut engine = engine_of(target)?;
    for other in others {
        engine
            .elsewhere
            .insert((*other).to_string(), engine_of(other)?);
    }
    Ok(engine)
}

/// SHA-256 of the configuration file, recorded with every run (empty if unreadable).
pub fn config_sha256(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| hex::encode(Sha256::digest(bytes)))
        .unwrap_or_default()
}
