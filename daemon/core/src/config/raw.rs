//! The configuration file exactly as written: serde types with no defaults applied and no cross-checks.
//!
//! Field docs here become the descriptions of the published JSON Schema
//! (`firedrill check --schema`), so they are written for the person editing the file.

use std::collections::BTreeMap;

use indexmap::IndexMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;

/// A firedrill configuration file.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Version of this file's format. Only `1` exists.
    pub version: u32,
    /// Where firedrill keeps its run journal, evidence chain, reports and mail outbox.
    #[serde(default)]
    pub storage: RawStorage,
    /// The platform's overall recovery objectives (the DR runbook's RTO and RPO).
    #[serde(default)]
    pub objectives: Option<RawObjectives>,
    /// Clusters firedrill can drill, by name.
    #[serde(default)]
    pub targets: IndexMap<String, RawTarget>,
    /// The target a drill uses when it names none. Defaults to `sandbox`.
    #[serde(default)]
    pub default_target: Option<String>,
    /// The services the platform runs, by name.
    #[serde(default)]
    pub services: IndexMap<String, RawService>,
    /// How availability probes are sent during drills.
    #[serde(default)]
    pub probing: RawProbing,
    /// Named connections to databases that scenarios may be granted.
    #[serde(default)]
    pub connections: IndexMap<String, RawConnection>,
    /// Where plugins are found, their limits, and what each may do.
    #[serde(default)]
    pub plugins: RawPlugins,
    /// The drills, by name.
    #[serde(default)]
    pub drills: IndexMap<String, RawDrill>,
    /// The Prometheus that checks query (and abort alerts are read from, unless they name
    /// another).
    #[serde(default)]
    pub prometheus: Option<RawPrometheus>,
    /// PromQL checks by name: steady-state hypotheses and verification checklists, attached
    /// to drills and phases under their `checks`.
    #[serde(default)]
    pub checks: IndexMap<String, RawCheck>,
    /// Conditions that stop a running drill and roll it back.
    #[serde(default)]
    pub abort: RawAbort,
    /// Upper bounds on what any drill may touch; a drill may lower them.
    #[serde(default)]
    pub blast_radius: RawBlastRadius,
    /// The post-drill report and review agenda.
    #[serde(default)]
    pub report: RawReport,
    /// Who hears about finished drills, and how.
    #[serde(default)]
    pub notifications: RawNotifications,
    /// The daemon's HTTP API (health, metrics, drills, runs, reports).
    #[serde(default)]
    pub api: RawApi,
    /// Several `firedrill serve` replicas elect one leader with a Kubernetes Lease; only
    /// the leader runs drills.
    #[serde(default)]
    pub leader_election: RawLeaderElection,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLeaderElection {
    /// Elect a leader before running drills. Default: false (a single replica).
    #[serde(default)]
    pub enabled: bool,
    /// Namespace of the Lease, on the default target. Default: `default`.
    pub namespace: Option<String>,
    /// Name of the Lease. Default: `firedrill`.
    pub lease: Option<String>,
    /// How long a leader's claim lasts without renewal; a standby takes over after it.
    /// Default: 15s.
    pub duration: Option<HumanDuration>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    /// Directory for the run journal, evidence chain, reports and outbox. Relative paths are
    /// relative to the configuration file. Default: `firedrill-data`.
    pub path: Option<String>,
    /// A file holding a 32-byte ed25519 secret key (raw or 64 hex digits): every run
    /// record's hash is then signed, and `firedrill verify --public-key` checks it.
    pub signing_key: Option<String>,
    /// Keep the journal, run records, outbox and scheduler state in PostgreSQL instead of
    /// the SQLite file under `path`: what several replicas share (`path` still holds the
    /// rendered reports and the plugin cache, which each replica may keep for itself).
    pub postgres: Option<RawPostgresStorage>,
}

/// The PostgreSQL database of the store.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPostgresStorage {
    /// Connection URL without password, e.g.
    /// `postgres://firedrill@db.example:5432/firedrill?sslmode=require`.
    pub url: String,
    /// The password, from an environment variable or a file.
    pub password: Option<RawSecret>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawObjectives {
    /// Recovery time objective: the longest acceptable time to restore service.
    pub rto: Option<HumanDuration>,
    /// Recovery point objective: the largest acceptable window of lost data.
    pub rpo: Option<HumanDuration>,
}

/// A cluster firedrill can drill.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// `sandbox` (the embedded simulated cluster), `kubeconfig` (a context of a kubeconfig
    /// file) or `in-cluster` (the service account of the pod firedrill runs in).
    pub kind: TargetKind,
    /// With `kubeconfig`: the context to use. Default: the file's current context.
    pub context: Option<String>,
    /// With `kubeconfig`: the file. Default: `$KUBECONFIG`, then `~/.kube/config`.
    pub kubeconfig: Option<String>,
    /// With `sandbox`: a platform file replacing the built-in seed platform.
    pub platform: Option<String>,
    /// With `sandbox` and no `platform`: which built-in platform the simulated cluster
    /// starts with: `primary` (the default: nine nodes in `zone-a`..`zone-c`, every
    /// service at full size) or `dr` (the DR region: four nodes in `dr-zone-a` and
    /// `dr-zone-b`, the same services with the applications at one replica, standing by).
    pub region: Option<SandboxRegion>,
}

/// The built-in platform of an embedded sandbox target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxRegion {
    Primary,
    Dr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    Sandbox,
    Kubeconfig,
    InCluster,
}

/// A service of the platform: which pods are it, and how to tell it is available.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    /// The namespace its pods run in.
    pub namespace: String,
    /// Label selector of its pods, in kubectl syntax: `app.kubernetes.io/name=perception`,
    /// `tier in (web,api),!canary`.
    pub selector: String,
    /// The workload that owns its pods, as `deployment/NAME` or `statefulset/NAME`.
    pub workload: Option<String>,
    /// The fewest Ready pods at which the service still counts as up. Default: 1.
    pub min_ready: Option<u32>,
    /// The target (cluster) the service runs in, for drills spanning clusters: a DR
    /// region's copy of a service is declared again with `target: dr`. Default: whichever
    /// target the drill runs on. A service with a target is probed only by runs that use
    /// that target.
    pub target: Option<String>,
    /// Endpoints probed for availability during every drill. None: not probed.
    #[serde(default)]
    pub probes: Vec<RawProbe>,
}

/// One availability probe: an HTTP GET expected to answer 2xx.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawProbe {
    /// A URL firedrill requests directly.
    pub url: Option<String>,
    /// A Kubernetes Service reached through the API server's service proxy (works the same
    /// on the sandbox and on a real cluster, and needs no network path to the pods).
    pub service_proxy: Option<RawServiceProxy>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawServiceProxy {
    /// The Service's name (in the service's namespace).
    pub service: String,
    /// The Service port's name or number. Default: the Service's first port.
    pub port: Option<String>,
    /// The HTTP path to request. Default: `/`.
    pub path: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawProbing {
    /// How often every probe is sent. Default: 1s.
    pub interval: Option<HumanDuration>,
    /// How long a probe may take before it counts as failed. Default: 2s.
    pub timeout: Option<HumanDuration>,
}

/// A named database connection. Credentials come from the environment or a file, never
/// from this file.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConnection {
    /// `postgres` or `redis`.
    pub kind: ConnectionKind,
    /// Connection URL without password, e.g. `postgres://firedrill@10.0.0.5:5432/app` or
    /// `redis://10.0.0.7:6379`.
    pub url: String,
    /// The password, from an environment variable or a file.
    pub password: Option<RawSecret>,
    /// Redis only: Sentinel addresses (`host:port`) and the monitored master's name.
    pub sentinel: Option<RawSentinel>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionKind {
    Postgres,
    Redis,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSentinel {
    pub master: String,
    pub nodes: Vec<String>,
}

/// A Prometheus (or compatible: Thanos, Mimir, VictoriaMetrics) HTTP API.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPrometheus {
    /// Base URL, e.g. `http://prometheus.monitoring:9090` (a path prefix is kept:
    /// `https://mimir.example.com/prometheus`).
    pub url: String,
    /// Sent as `Authorization: Bearer ...`.
    pub bearer_token: Option<RawSecret>,
    /// Sent as HTTP basic authentication.
    pub basic_auth: Option<RawBasicAuth>,
    /// A PEM file of CA certificates trusted for `https://` besides the system's.
    pub ca_file: Option<String>,
    /// How long one query may take. Default: 10s.
    pub timeout: Option<HumanDuration>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBasicAuth {
    pub username: String,
    pub password: RawSecret,
}

/// A PromQL check: an instant query and what its answer must be. Every series returned
/// must meet `expect`; a query that returns no series is "no data", never a pass.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    /// What the check stands for, e.g. the runbook's checklist line (shown in reports).
    pub description: Option<String>,
    /// The PromQL instant query. `$__range` stands for the time since the phase (or, for a
    /// drill's own checks, the drill) began, e.g. `deriv(lag[$__range])`.
    pub query: String,
    /// A comparison every series must meet (`< 0.01`, `<= 0`, `>= 2`, `== 1`, `!= 0`), or
    /// `present` (at least one series: "metrics flowing").
    pub expect: String,
    /// While a phase runs: time between two evaluations. Default: 15s.
    pub every: Option<HumanDuration>,
    /// After recovery: keep evaluating until the check passes, for at most this long
    /// ("back to baseline within 2m"). Default: evaluated once.
    pub within: Option<HumanDuration>,
    /// While a phase runs: a violation aborts the drill and rolls it back at once, like
    /// the availability floor. Default: `false` (the violation is recorded and fails the
    /// phase).
    pub abort: Option<bool>,
}

/// The checks a drill evaluates, by name (see `checks`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDrillChecks {
    /// The steady-state hypothesis, evaluated before anything is injected: if one fails
    /// or has no data the drill does not start (recorded as `not-started`).
    #[serde(default)]
    pub before: Vec<String>,
    /// Evaluated while each phase runs, at each check's `every`.
    #[serde(default)]
    pub during: Vec<String>,
    /// Evaluated once everything is rolled back (the verification checklist); a failure
    /// fails the drill.
    #[serde(default)]
    pub after: Vec<String>,
}

/// The checks a phase evaluates, besides its drill's (see `checks`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPhaseChecks {
    /// Evaluated while the phase runs, at each check's `every`.
    #[serde(default)]
    pub during: Vec<String>,
    /// Evaluated once the phase has recovered; a failure fails the phase.
    #[serde(default)]
    pub after: Vec<String>,
}

/// A secret read at run time: exactly one of `env` or `file`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSecret {
    /// Name of an environment variable holding the secret.
    pub env: Option<String>,
    /// Path of a file holding the secret (e.g. a mounted Kubernetes Secret).
    pub file: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPlugins {
    /// Directory of the plugin `.wasm` files. Default: `plugins` next to the directory of
    /// the firedrill executable (where `plugins/build` puts them).
    pub dir: Option<String>,
    /// Resource limits for every plugin call.
    #[serde(default)]
    pub limits: RawPluginLimits,
    /// Plugins beyond the built-in ones, by scenario name.
    #[serde(default)]
    pub custom: IndexMap<String, RawCustomPlugin>,
    /// What each scenario may do, by scenario name. A scenario without a grant may only
    /// read the clock, log, keep state and attach evidence.
    #[serde(default)]
    pub grants: IndexMap<String, RawGrant>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPluginLimits {
    /// Memory a plugin instance may grow to, in MiB. Default: 64.
    pub memory_mib: Option<u32>,
    /// Wall-clock time one plugin call may take (a drain blocked by a disruption budget
    /// can take minutes). Default: 2m.
    pub call_timeout: Option<HumanDuration>,
    /// CPU budget of one call in wasmtime fuel units (about one per instruction). Default:
    /// 10 000 000 000.
    pub fuel: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCustomPlugin {
    /// Path of the component (`.wasm`); relative paths are relative to this file.
    pub path: String,
}

/// Capabilities granted to one scenario.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGrant {
    /// Kubernetes access: each rule allows its verbs in its namespaces.
    #[serde(default)]
    pub kubernetes: Vec<RawKubernetesRule>,
    /// Hosts (`host` or `host:port`) the scenario may send HTTP requests to.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Namespaces in which the scenario may run commands in pods (`kubectl exec`).
    #[serde(default)]
    pub exec: Vec<String>,
    /// Names of `connections` the scenario may use.
    #[serde(default)]
    pub connections: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawKubernetesRule {
    /// Verbs: get, list, watch, patch, delete, evict.
    pub verbs: Vec<String>,
    /// Namespaces the verbs apply in: a name, `*` for every namespace, or `:cluster` for
    /// cluster-scoped objects such as nodes (`*` does not include them: deleting pods
    /// everywhere is not cordoning nodes).
    pub namespaces: Vec<String>,
}

/// A drill: phases run in order on a schedule.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDrill {
    /// What the drill proves, in a sentence (shown in reports).
    pub description: Option<String>,
    /// The target to drill. Default: `default_target`.
    pub target: Option<String>,
    /// When the drill runs by itself. Without one it runs only when triggered.
    pub schedule: Option<RawSchedule>,
    /// What happens when a phase fails its objective: `stop` (roll back and end the drill,
    /// the default) or `continue` with the next phase.
    pub on_phase_failure: Option<PhaseFailurePolicy>,
    /// Tighter blast-radius limits for this drill.
    pub blast_radius: Option<RawBlastRadius>,
    /// Participants named in this drill's report (in addition to `report.participants`).
    #[serde(default)]
    pub participants: Vec<String>,
    /// Extra recipients of this drill's report email.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// PromQL checks (names under `checks`) evaluated before, during and after the drill.
    pub checks: Option<RawDrillChecks>,
    /// Services the drill takes down on purpose (a region failover's primary region):
    /// still probed and reported, but their failing probes never abort the run.
    #[serde(default)]
    pub expect_down: Vec<String>,
    /// The phases, run in this order.
    pub phases: Vec<RawPhase>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseFailurePolicy {
    Stop,
    Continue,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    /// Five-field cron expression (minute hour day-of-month month day-of-week), or a macro
    /// such as `@weekly` or `@quarterly`, read in `timezone`.
    pub cron: String,
    /// IANA time zone, e.g. `Europe/Berlin`. Default: `UTC`.
    pub timezone: Option<String>,
    /// What to do about slots missed while the daemon was down: `skip` them, or `run-once`
    /// (one catch-up run for all of them) when it comes back. Default: `run-once`.
    pub missed: Option<MissedRunPolicy>,
    /// How late a run may start and still count as on time. Default: 15m.
    pub grace: Option<HumanDuration>,
    /// Windows in which the drill must not start.
    #[serde(default)]
    pub blackouts: Vec<RawBlackout>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MissedRunPolicy {
    Skip,
    RunOnce,
}

/// A blackout window: either fixed (`from` and `until`) or recurring (`cron` and
/// `duration`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBlackout {
    /// Start of a fixed window: RFC 3339 (`2026-12-20T00:00:00+01:00`), or a local date or
    /// date-time in the schedule's time zone (`2026-12-20`, `2026-12-20T18:00`).
    pub from: Option<String>,
    /// End of a fixed window (exclusive), in the same forms as `from`.
    pub until: Option<String>,
    /// Start of a recurring window, as a cron expression in the schedule's time zone.
    pub cron: Option<String>,
    /// Length of a recurring window.
    pub duration: Option<HumanDuration>,
    /// Why drills pause here (shown in `firedrill schedule` and the audit).
    pub reason: String,
}

/// One phase: a scenario plugin with parameters and objectives.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPhase {
    /// The phase's name, unique in its drill (shown in reports and metrics).
    pub name: String,
    /// The scenario plugin that runs this phase.
    pub scenario: String,
    /// The target (cluster) this phase acts on, for drills spanning clusters (a region
    /// failover acts on the primary, then on the DR region). Default: the drill's target.
    pub target: Option<String>,
    /// The services the phase acts on. Default: every service of the phase's target.
    pub services: Option<Vec<String>>,
    /// Parameters passed to the scenario, checked against its parameter schema.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// What the phase must achieve to pass.
    #[serde(default)]
    pub objectives: RawPhaseObjectives,
    /// How long to wait for recovery before the phase fails. Default: twice the RTO, or
    /// 15m without one.
    pub deadline: Option<HumanDuration>,
    /// Canary writes that measure data loss: written at a fixed cadence from before the
    /// fault until recovery, then read back.
    pub canary: Option<RawCanary>,
    /// PromQL checks (names under `checks`) evaluated while this phase runs and after it
    /// recovers.
    pub checks: Option<RawPhaseChecks>,
}

/// Canary writes through a named connection: sequence-numbered writes started before the
/// fault and kept going through it, read back after recovery. Acknowledged writes missing
/// afterwards are the phase's data loss.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCanary {
    /// The `connections` entry written to (postgres: rows of `table`; redis: a list key).
    /// A redis connection with `sentinel` follows the current master.
    pub connection: String,
    /// The connection the canaries are read back from after recovery, e.g. the promoted
    /// replica. Default: `connection`.
    pub read_from: Option<String>,
    /// Time between two writes. Default: 100ms.
    pub interval: Option<HumanDuration>,
    /// How long canaries are written before the fault is injected. Default: 1s.
    pub lead: Option<HumanDuration>,
    /// PostgreSQL only: the table holding canary rows, created when missing. Default:
    /// `firedrill_canary`.
    pub table: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPhaseObjectives {
    /// Target recovery time: from fault injected to recovery verified.
    pub rto: Option<HumanDuration>,
    /// Largest acceptable data-loss window, for scenarios that measure it.
    pub rpo: Option<HumanDuration>,
    /// Lowest acceptable availability (0..1) of every probed service during the phase.
    pub availability_floor: Option<f64>,
    /// `true`: the phase fails when a service's Ready pods drop below its `min_ready` at
    /// any moment (the runbook's "all services maintained minimum replicas"). Measured
    /// from the phase's watch and shown in the report either way.
    pub min_ready: Option<bool>,
    /// `true`: the phase fails when more of a service's pods are unavailable at once than
    /// its pod disruption budget allows ("PDB respected").
    pub pdb_respected: Option<bool>,
    /// The most failed probes (5xx, timeouts, refused) a service may have during the
    /// phase; `0` is the runbook's "no 5xx errors during failover".
    pub max_failed_probes: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAbort {
    /// How many of a service's most recent probes the abort check looks at. Default: 10.
    pub availability_window: Option<u32>,
    /// Abort when a service's success ratio over that window falls below this (0..1).
    /// Default: 0.5.
    pub availability_floor: Option<f64>,
    /// Abort when any of these alerts fires in Prometheus.
    pub alerts: Option<RawAlertAbort>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAlertAbort {
    /// Base URL of the Prometheus (or Alertmanager-compatible) API. Default: the
    /// `prometheus` connection.
    pub prometheus: Option<String>,
    /// Alert names that abort a drill when firing.
    pub names: Vec<String>,
    /// How often alerts are checked. Default: 15s.
    pub interval: Option<HumanDuration>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBlastRadius {
    /// The most pods one phase may disrupt.
    pub max_pods: Option<u32>,
    /// The most nodes one phase may cordon or drain.
    pub max_nodes: Option<u32>,
    /// The largest fraction (0..1) of one service's pods disrupted at once.
    pub max_service_fraction: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawReport {
    /// A directory of tera templates overriding the built-in ones (same file names).
    pub templates: Option<String>,
    /// Participants named in every report.
    #[serde(default)]
    pub participants: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNotifications {
    /// The post-drill email. Without it, reports are only written to storage.
    pub email: Option<RawEmail>,
    /// HTTP endpoints told about every run (chat channels, CI, incident tools): a JSON
    /// POST when a run is recorded, and when it starts if asked. Deliveries wait in the
    /// outbox with the email and are retried until the receiver accepts them (2xx).
    #[serde(default)]
    pub webhooks: Vec<RawWebhook>,
    /// Push each phase of every recorded run to Grafana as a region annotation.
    pub grafana: Option<RawGrafana>,
}

/// One webhook.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    /// Names the webhook in logs and in the outbox (never its URL); unique.
    pub name: String,
    /// The URL POSTed to: as text (`https://ci.example.com/hooks/firedrill`), or, when it
    /// is itself a secret such as a Slack incoming-webhook URL, `{ env: VAR }` or
    /// `{ file: PATH }`.
    pub url: RawTextOrSecret,
    /// `json` (default): firedrill's summary, format version 1 (see `WebhookFormat`).
    /// `slack`: a Slack message (`blocks` and a `text` fallback) for an incoming webhook.
    pub format: Option<WebhookFormat>,
    /// When to POST: `[finished]` (default: once the run is recorded, with its figures),
    /// or `[started, finished]` to hear when a drill begins too.
    pub events: Option<Vec<WebhookEvent>>,
    /// Extra request headers; a value may be a secret, e.g.
    /// `Authorization: { env: HOOK_TOKEN }` (the variable holding `Bearer ...`).
    #[serde(default)]
    pub headers: IndexMap<String, RawTextOrSecret>,
}

/// What a webhook POSTs.
///
/// `json`, version 1: an object with `version` (1), `event` (`started` or `finished`),
/// `drill`, `run_id`, `target`, `trigger` (`{kind, ...}` as in the run record) and
/// `trigger_text`, `started_at` and `finished_at` (RFC 3339; `finished_at` null when
/// started), `duration_seconds`, `outcome` (`{label, reason}`: label `passed`, `failed`,
/// `aborted`, `interrupted`, `error` or `not-started`, reason null or why; null when
/// started), `phases` (each `{name, scenario, verdict, reasons, rto_target_seconds,
/// recovery_seconds, rto_met}`; verdict null when started) and `report_url` (null unless
/// `api.public_url` is set). Fields are only ever added within a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WebhookFormat {
    Json,
    Slack,
}

/// A moment of a run a webhook hears about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum WebhookEvent {
    /// The drill is about to run (best effort: never delays or fails the drill).
    Started,
    /// The run is recorded, with its outcome and figures.
    Finished,
}

/// Grafana's annotation API (`POST /api/annotations`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGrafana {
    /// Grafana's base URL, e.g. `https://grafana.example.com` (or with a sub-path).
    pub url: String,
    /// A service account token with the annotations:write permission, from env or file.
    pub token: RawSecret,
    /// Tags on every annotation, beside `drill:NAME`, `phase:NAME`, `outcome:LABEL` and
    /// `verdict:LABEL`. Default: `[firedrill]`.
    pub tags: Option<Vec<String>>,
    /// Annotate this dashboard only; default: an organisation-wide annotation.
    pub dashboard_uid: Option<String>,
}

/// A text value, or a secret read at run time (`{ env: VAR }` or `{ file: PATH }`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RawTextOrSecret {
    Text(String),
    Secret(RawSecret),
}

impl<'de> Deserialize<'de> for RawTextOrSecret {
    /// By hand rather than `untagged`: a mistake inside `{ env: .. }` is then reported
    /// where it is, not as "did not match any variant".
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawTextOrSecret;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("text, or a secret `{ env: VARIABLE }` / `{ file: PATH }`")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(RawTextOrSecret::Text(text.to_string()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                RawSecret::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawTextOrSecret::Secret)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    /// The sender, e.g. `firedrill <firedrill@example.com>`.
    pub from: String,
    /// Recipients of every report.
    pub to: Vec<String>,
    /// Copy recipients.
    #[serde(default)]
    pub cc: Vec<String>,
    /// Deliver through this SMTP server.
    pub smtp: Option<RawSmtp>,
    /// Or deliver into this local mailbox directory (Maildir `new/`), e.g. for demos.
    pub maildir: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    pub host: String,
    /// Default: 587 with `starttls`, 465 with `tls`, 25 with `none`.
    pub port: Option<u16>,
    /// `starttls` (default), `tls` (implicit TLS) or `none` (loopback/testing only).
    pub tls: Option<SmtpTls>,
    pub username: Option<String>,
    pub password: Option<RawSecret>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SmtpTls {
    Starttls,
    Tls,
    None,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    /// Address the HTTP API listens on. Default: `127.0.0.1:9477`.
    pub listen: Option<String>,
    /// Bearer token required to trigger or abort runs (over the API, and from the web
    /// console's forms).
    pub token: Option<RawSecret>,
    /// Token required to read the web console's pages (`/`, `/runs`, `/audit`, ...): sent
    /// as `Authorization: Bearer TOKEN`, or typed once into the console's sign-in form,
    /// which sets an HttpOnly, SameSite=Strict session cookie valid for 12 hours. Without
    /// it the pages are open to whoever reaches the address. The JSON API is unaffected.
    /// Read when `serve` starts, like `token`.
    pub viewer_token: Option<RawSecret>,
    /// The URL people reach this API at (e.g. `https://firedrill.example.com`, behind an
    /// ingress): webhooks then link each run's report (`/api/v1/runs/RUN/report`).
    pub public_url: Option<String>,
}
