//! The ports the engine drives: scenario plugins, availability probes, the run journal.
//!
//! The engine is written against these traits only; `main` wires the real adapters
//! (the wasmtime host, the Kubernetes API, SQLite) and tests wire small fakes.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use firedrill_core::config::Canary;
use firedrill_core::run::DataLoss;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// A service as a phase sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRef {
    pub name: String,
    pub namespace: String,
    pub selector: String,
    /// Replicas the service runs with when healthy (its Ready pods before the drill).
    pub replicas: u32,
    /// The fewest Ready pods the service may have (the configuration's `min_ready`).
    #[serde(default)]
    pub min_ready: u32,
    /// The target it was read on (drills spanning clusters name the same service on each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// What every scenario call receives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseContext {
    pub run_id: String,
    pub drill: String,
    pub phase: String,
    pub scenario: String,
    /// The phase's parameters, a JSON object.
    pub params: serde_json::Value,
    pub services: Vec<ServiceRef>,
}

/// One action a scenario would take (from `plan`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedAction {
    pub kind: String,
    pub target: String,
    pub detail: String,
}

impl PlannedAction {
    pub fn describe(&self) -> String {
        format!("{} {}: {}", self.kind, self.target, self.detail)
    }
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    Recovered,
    Recovering(String),
    Failed(String),
}

/// Why a scenario call failed (the plugin trapped, ran out of time, was denied a
/// capability, or its host could not run it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScenarioError(pub String);

/// One disruptive capability call of `inject` (a delete, cordon, eviction, stop), dated
/// when the host received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    pub at: Instant,
    /// What it did, e.g. `cordon node zone-a-1`.
    pub action: String,
}

/// What the host saw `inject` do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Injected {
    /// The fault's first effect: the phase's recovery clock starts here. `None` when the
    /// host saw no disruptive call (the clock then starts when `inject` returned).
    pub first_effect: Option<Effect>,
    /// Its last disruptive call (for a zone: the last eviction accepted).
    pub last_effect: Option<Effect>,
    /// How long evictions waited on disruption budgets that refused them.
    pub held_back: Duration,
}

/// What one `verify` call answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub recovery: Recovery,
    /// The call read something the phase's cluster watch does not see (HTTP, a database,
    /// `exec`): its answer is dated by the call's end, not by a watched change.
    pub outside_cluster: bool,
}

/// What a scenario reports after the wait for recovery (WIT 0.2 `findings`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Findings {
    pub data_loss: Option<DataLoss>,
    /// Work the scenario found for the review meeting.
    pub follow_ups: Vec<String>,
}

/// A loaded scenario plugin.
#[async_trait]
pub trait Scenario: Send + Sync {
    async fn plan(&self, ctx: &PhaseContext) -> Result<Vec<PlannedAction>, ScenarioError>;
    /// Causes the fault, and says when its first and last effects were.
    async fn inject(&self, ctx: &PhaseContext) -> Result<Injected, ScenarioError>;
    /// Is the system recovered? `trigger` is the watched change that prompted the call
    /// (`None` for a call on the fallback timer or without a watch).
    async fn verify(
        &self,
        ctx: &PhaseContext,
        trigger: Option<&Change>,
    ) -> Result<Verified, ScenarioError>;
    /// What the scenario measured itself, after the wait (none by default).
    async fn findings(&self, _ctx: &PhaseContext) -> Result<Option<Findings>, ScenarioError> {
        Ok(None)
    }
    async fn rollback(&self, ctx: &PhaseContext) -> Result<(), ScenarioError>;
}

/// One change a phase's cluster watch saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Counts the phase's changes from 1.
    pub seq: u64,
    /// When the watch event arrived.
    pub at: Instant,
    /// `Pod` or `Node`.
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// What changed, e.g. `became Ready`, `deleted`, `cordoned`.
    pub summary: String,
}

impl Change {
    /// `Pod shop/web-7c9f became Ready`.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{} {}", self.kind, self.name, self.summary),
            None => format!("{} {} {}", self.kind, self.name, self.summary),
        }
    }
}

/// What a phase's watch covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchScope {
    /// The services' pods (every pod of their namespaces is watched).
    pub services: Vec<ServiceRef>,
    /// Nodes too (phases whose plan cordons or drains).
    pub nodes: bool,
}

/// When one pod's replacement reached each step, as the watch saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSeen {
    /// `namespace/name` of the pod lost.
    pub lost: String,
    pub lost_at: Instant,
    /// `namespace/name` of its replacement, if one appeared.
    pub replacement: Option<String>,
    pub created: Option<Instant>,
    pub scheduled: Option<Instant>,
    pub node: Option<String>,
    pub zone: Option<String>,
    pub started: Option<Instant>,
    pub ready: Option<Instant>,
}

/// One service's readiness over the phase, as the watch saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadinessSeen {
    pub service: String,
    /// Ready (and not terminating) pods when the watch synced.
    pub ready_at_start: u32,
    /// The fewest Ready pods at any moment of the phase.
    pub min_ready: u32,
    /// The pod disruption budget covering the service's pods, if any: its name and how
    /// many of the service's pods it allows to be unavailable at once.
    pub budget: Option<(String, u32)>,
}

/// What a phase's watch saw, when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchSeen {
    pub pods: Vec<PodSeen>,
    pub services: Vec<ReadinessSeen>,
    /// Watch events received (after the initial lists).
    pub events: u64,
}

/// A phase's cluster watch: a cache the scenario's reads are answered from while it runs,
/// and the changes that drive `verify`.
#[async_trait]
pub trait PhaseWatch: Send + Sync {
    /// The latest change (`None` before the first); a receiver wakes on every change.
    fn changes(&self) -> tokio::sync::watch::Receiver<Option<Change>>;
    /// Reads of the scenario answered by the API rather than this cache so far: a verify
    /// call that made one is dated by its end.
    fn direct_reads(&self) -> u64;
    /// Stops the watch (reads go to the API again) and says what it saw.
    async fn finish(&self) -> WatchSeen;
}

/// Starts phase watches (`KubeWatches` over kube-runtime's reflector in production).
#[async_trait]
pub trait Watches: Send + Sync {
    /// Lists and watches `scope`, returning once the cache is synced.
    async fn watch(&self, scope: &WatchScope) -> Result<Arc<dyn PhaseWatch>, ScenarioError>;
}

/// Finds scenarios by name: `ScenarioHost` / `WasmtimeHost` in production.
#[async_trait]
pub trait ScenarioHost: Send + Sync {
    async fn load(&self, scenario: &str) -> Result<Arc<dyn Scenario>, ScenarioError>;
    /// SHA-256 of the plugin a scenario name resolves to, for the run record.
    fn plugin_sha256(&self, scenario: &str) -> Option<String>;
    /// Artefacts the scenarios attached during run `run_id`, in the order attached.
    async fn evidence(&self, _run_id: &str) -> Vec<Attached> {
        Vec::new()
    }
}

/// One evidence artefact a scenario attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// The phase whose call attached it (`None` outside a phase call).
    pub phase: Option<String>,
    pub scenario: String,
    pub name: String,
    pub content: String,
    /// When the scenario attached it.
    pub captured_at: DateTime<Utc>,
}

/// One endpoint to probe for a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeTarget {
    pub service: String,
    pub probe: firedrill_core::config::Probe,
}

/// The result of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    pub ok: bool,
    pub latency: Duration,
    /// Why a failed probe failed (the status and the API server's message, a timeout, a
    /// refused connection).
    pub failure: Option<String>,
}

/// Sends availability probes (`HttpProber` over the Kubernetes service proxy or plain
/// HTTP in production).
#[async_trait]
pub trait Prober: Send + Sync {
    /// Sends one probe; a probe that does not answer within `timeout` fails with
    /// latency = timeout.
    async fn probe(&self, target: &ProbeTarget, timeout: Duration) -> ProbeOutcome;
}

/// Measures the services before a drill: Ready pods per service (for `replicas`).
#[async_trait]
pub trait Baseline: Send + Sync {
    async fn ready_pods(&self, namespace: &str, selector: &str) -> Result<u32, ScenarioError>;
}

/// Which cluster a session reached: recorded when a run starts, so that the run is rolled
/// back only on that cluster (not on whatever a target name points at later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterIdentity {
    /// The API server's URL as the client reached it.
    pub server: String,
    /// The UID of the `kube-system` namespace: it changes when the cluster is rebuilt or
    /// the kubeconfig is repointed at another cluster behind the same URL. `None` when it
    /// could not be read (the credentials may not get namespaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_system_uid: Option<String>,
    /// The embedded sandbox of the process that ran the drill: it ends with that process,
    /// so nothing of it is left to roll back afterwards.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub embedded: bool,
}

impl ClusterIdentity {
    /// Is `other` (read now) the cluster this identity was read from? The URLs must match,
    /// and the `kube-system` UIDs too where both were read.
    pub fn same_cluster(&self, other: &ClusterIdentity) -> bool {
        self.server == other.server
            && self.embedded == other.embedded
            && match (&self.kube_system_uid, &other.kube_system_uid) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl std::fmt::Display for ClusterIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.embedded {
            write!(f, "the embedded sandbox at {}", self.server)?;
        } else {
            write!(f, "API server {}", self.server)?;
        }
        match &self.kube_system_uid {
            Some(uid) => write!(f, " (kube-system namespace {uid})"),
            None => write!(f, " (kube-system namespace not readable)"),
        }
    }
}

/// The target a session is connected to: the configuration's name and the cluster behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterBinding {
    pub target: String,
    pub identity: ClusterIdentity,
}

/// A step of a run written to the journal *before* it happens, so a daemon killed at any
/// point knows on restart what to undo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum JournalEntry {
    RunStarted {
        drill: String,
        at: DateTime<Utc>,
        /// The configuration's name of the target the run used (absent in journals
        /// written before runs were bound to their cluster).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        /// Which cluster that target reached when the run started.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cluster: Option<ClusterIdentity>,
    },
    /// About to call `inject`: from here `rollback` is owed.
    Injecting {
        phase: String,
        context: PhaseContext,
        at: DateTime<Utc>,
        /// The target the phase acts on (absent in journals written before drills could
        /// span targets: then the run's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        /// Which cluster that target reached when the run opened it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cluster: Option<ClusterIdentity>,
    },
    /// `rollback` finished (whatever it reported): nothing more is owed for the phase.
    RolledBack { phase: String, at: DateTime<Utc> },
    /// A scenario set (`Some`) or removed (`None`) a key of its state, so that a rollback
    /// in a fresh process sees what `inject` saved.
    State {
        scenario: String,
        /// The phase whose state it is; absent in journals written before state was kept
        /// per phase (then the scenario's state, shared by its phases).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phase: Option<String>,
        key: String,
        value: Option<String>,
    },
    /// The run is over and nothing is owed. Carries the run's record until it is stored
    /// (`Recorded`): a process killed between the two stores it at the next start.
    RunFinished {
        at: DateTime<Utc>,
        /// Absent in journals written before records were kept here.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        record: Option<Box<firedrill_core::run::RunRecord>>,
    },
    /// The run's record is in the evidence store.
    Recorded { at: DateTime<Utc> },
}

/// The write-ahead journal of runs (`StoreJournal` in production).
#[async_trait]
pub trait Journal: Send + Sync {
    async fn append(&self, run_id: &str, entry: &JournalEntry) -> Result<(), ScenarioError>;
    /// Runs with a `RunStarted` and no `RunFinished`, with their entries in order.
    async fn unfinished(&self) -> Result<Vec<(String, Vec<JournalEntry>)>, ScenarioError>;
    /// Records of runs finished and not yet `Recorded`, oldest first.
    async fn unrecorded(&self) -> Result<Vec<firedrill_core::run::RunRecord>, ScenarioError> {
        Ok(Vec::new())
    }
}

/// Reads which alerts are firing (`PrometheusAlerts` over the Prometheus HTTP API).
#[async_trait]
pub trait AlertSource: Send + Sync {
    /// Names of the alerts firing now.
    async fn firing(&self) -> Result<Vec<String>, ScenarioError>;
}

/// Answers PromQL instant queries for the checks (`PrometheusApi` over the Prometheus
/// HTTP API).
#[async_trait]
pub trait MetricsSource: Send + Sync {
    /// The answer at `at`: one sample per series (a scalar answer: one without labels).
    async fn query(
        &self,
        promql: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<firedrill_core::check::Sample>, ScenarioError>;
}

/// Where a phase's canary writes go and are read back from (`DatabaseCanaries` over the
/// PostgreSQL and Redis connections in production). Canaries are keyed by run and phase.
#[async_trait]
pub trait CanaryStore: Send + Sync {
    /// Makes ready to write (e.g. creates the canary table).
    async fn prepare(
        &self,
        canary: &Canary,
        run_id: &str,
        phase: &str,
    ) -> Result<(), ScenarioError>;
    /// Writes canary `seq`; `Ok` means the database acknowledged it.
    async fn write(
        &self,
        canary: &Canary,
        run_id: &str,
        phase: &str,
        seq: u64,
    ) -> Result<(), ScenarioError>;
    /// The sequence numbers present on `canary.read_from`.
    async fn read_back(
        &self,
        canary: &Canary,
        run_id: &str,
        phase: &str,
    ) -> Result<BTreeSet<u64>, ScenarioError>;
    /// Removes the phase's canaries from `connection` (one of the canary's two).
    async fn clean_up(
        &self,
        canary: &Canary,
        connection: &str,
        run_id: &str,
        phase: &str,
    ) -> Result<(), ScenarioError>;
}
