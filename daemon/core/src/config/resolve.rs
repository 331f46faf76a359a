//! The resolved configuration: validated, defaults applied, references between sections checked.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;

pub use super::raw::SandboxRegion;
use super::raw::{self, TargetKind};
// Value enums the file and the resolved configuration share: used through here, so that
// nothing past resolution depends on the file's raw shape.
use super::checks::{
    Check, CheckSet, KnownChecks, Prometheus, resolve_attached, resolve_checks, resolve_prometheus,
};
use super::notifications::{
    Grafana, Webhook, resolve_grafana, resolve_public_url, resolve_webhooks,
};
pub use super::raw::{ConnectionKind, MissedRunPolicy, PhaseFailurePolicy, SmtpTls};
use super::{Broken, FieldPath, Reporter};
use crate::duration::HumanDuration;
use crate::schedule::{Blackout, CronExpr, Schedule, resolve_local};
use crate::selector::LabelSelector;

/// A Redis connection's Sentinels: the master's name and the Sentinels' `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentinel {
    pub master: String,
    pub nodes: Vec<String>,
}

/// Names of the scenario plugins shipped with firedrill (built from `plugins/` and the
/// stateful scenarios to come), in the order of the runbook's drill procedure. Names only:
/// the host knows no scenario's logic.
pub const BUILTIN_SCENARIOS: &[&str] = &[
    "pre-drill",
    "pod-failure",
    "service-recovery",
    "zone-failure",
    "cassandra-node",
    "cassandra-restore",
    "postgres-failover",
    "redis-sentinel-failover",
    "kafka-broker",
    "kafka-cluster-recovery",
    "region-failover",
    "postgres-restore",
    "redis-restore",
    "ordered-restart",
    "full-recovery",
];

/// What resolution needs to know from outside the file.
#[derive(Debug, Clone)]
pub struct ResolveContext {
    /// Scenario names of the plugins that ship with firedrill.
    pub builtin_scenarios: Vec<String>,
}

impl ResolveContext {
    /// The context of a firedrill build: its built-in scenarios.
    pub fn builtin() -> Self {
        Self {
            builtin_scenarios: BUILTIN_SCENARIOS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// A checked configuration, ready to drive drills.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, as given (for messages).
    pub source: String,
    pub storage_path: PathBuf,
    /// The ed25519 key that signs run records, if configured.
    pub signing_key: Option<PathBuf>,
    /// The PostgreSQL database of the store; `None`: the SQLite file under `storage_path`.
    pub postgres_storage: Option<PostgresStorage>,
    pub objectives: Objectives,
    pub targets: BTreeMap<String, Target>,
    pub default_target: String,
    pub services: BTreeMap<String, Service>,
    pub probing: Probing,
    pub connections: BTreeMap<String, Connection>,
    pub plugins: Plugins,
    /// Drills in the order the file lists them.
    pub drills: Vec<Drill>,
    /// The Prometheus checks query, if configured.
    pub prometheus: Option<Prometheus>,
    /// PromQL checks by name.
    pub checks: BTreeMap<String, Check>,
    pub abort: Abort,
    pub blast_radius: BlastRadius,
    pub report: Report,
    pub email: Option<Email>,
    /// `notifications.webhooks`, in file order.
    pub webhooks: Vec<Webhook>,
    /// `notifications.grafana`.
    pub grafana: Option<Grafana>,
    pub api: Api,
    /// `None`: a single replica runs drills without election.
    pub leader_election: Option<LeaderElection>,
}

impl Config {
    pub fn drill(&self, name: &str) -> Option<&Drill> {
        self.drills.iter().find(|drill| drill.name == name)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Objectives {
    pub rto: Option<Duration>,
    pub rpo: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Sandbox {
        platform: Option<PathBuf>,
        /// The built-in platform when no file is given.
        region: SandboxRegion,
    },
    Kubeconfig {
        context: Option<String>,
        kubeconfig: Option<PathBuf>,
    },
    InCluster,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub kind: WorkloadKind,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    /// The target it runs in; `None`: whichever the drill runs on.
    pub target: Option<String>,
    pub namespace: String,
    pub selector: LabelSelector,
    pub workload: Option<Workload>,
    pub min_ready: u32,
    pub probes: Vec<Probe>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Url(String),
    ServiceProxy {
        namespace: String,
        service: String,
        port: Option<String>,
        path: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Probing {
    pub interval: Duration,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    Env(String),
    File(PathBuf),
}

/// The store's PostgreSQL database (`storage.postgres`).
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresStorage {
    /// The URL, with no password in it.
    pub url: String,
    pub password: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub kind: ConnectionKind,
    pub url: String,
    pub password: Option<Secret>,
    pub sentinel: Option<Sentinel>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PluginLimits {
    pub memory_bytes: u64,
    pub call_timeout: Duration,
    pub fuel: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plugins {
    /// `None`: the default next to the executable, decided by the binary.
    pub dir: Option<PathBuf>,
    pub limits: PluginLimits,
    pub custom: BTreeMap<String, PathBuf>,
    pub grants: BTreeMap<String, Grant>,
}

/// The Kubernetes verbs a grant may name.
pub const KUBERNETES_VERBS: &[&str] = &["get", "list", "watch", "patch", "delete", "evict"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubernetesRule {
    pub verbs: BTreeSet<String>,
    pub namespaces: BTreeSet<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant {
    pub kubernetes: Vec<KubernetesRule>,
    pub hosts: Vec<String>,
    /// Namespaces in which `exec` is allowed.
    pub exec: Vec<String>,
    pub connections: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DrillSchedule {
    pub schedule: Schedule,
    pub missed: MissedRunPolicy,
    pub grace: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Drill {
    pub name: String,
    pub description: Option<String>,
    pub target: String,
    pub schedule: Option<DrillSchedule>,
    pub on_phase_failure: PhaseFailurePolicy,
    pub blast_radius: BlastRadius,
    pub participants: Vec<String>,
    pub recipients: Vec<String>,
    /// The drill's own checks: `before` (steady state), `during` every phase, `after`.
    pub checks: CheckSet,
    /// Services taken down on purpose: probed, never a reason to abort.
    pub expect_down: Vec<String>,
    pub phases: Vec<Phase>,
}

impl Drill {
    /// The targets its phases name besides the run's own, each once, in phase order.
    pub fn other_targets<'a>(&'a self, run_target: &'a str) -> Vec<&'a str> {
        let mut others: Vec<&str> = Vec::new();
        for target in self.phases.iter().filter_map(|p| p.target.as_deref()) {
            if target != run_target && !others.contains(&target) {
                others.push(target);
            }
        }
        others
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub name: String,
    pub scenario: String,
    /// The target it acts on; `None`: the run's (the drill's, or `run --target`'s).
    pub target: Option<String>,
    /// Names of the services it acts on (every service when the file named none).
    pub services: Vec<String>,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub objectives: PhaseObjectives,
    /// How long `verify` is polled for before the phase fails.
    pub deadline: Duration,
    /// Canary writes measuring data loss, if the phase has them.
    pub canary: Option<Canary>,
    /// The phase's own checks (`during`, `after`; never `before`).
    pub checks: CheckSet,
}

/// Canary writes of a phase, defaults applied (see `raw::RawCanary`).
#[derive(Debug, Clone, PartialEq)]
pub struct Canary {
    /// The connection written to.
    pub connection: String,
    /// Its kind (both connections are of the same kind).
    pub kind: ConnectionKind,
    /// The connection read back from after recovery.
    pub read_from: String,
    pub interval: Duration,
    pub lead: Duration,
    /// PostgreSQL table of the canary rows.
    pub table: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhaseObjectives {
    pub rto: Option<Duration>,
    pub rpo: Option<Duration>,
    pub availability_floor: Option<f64>,
    /// Fail when a service drops below its `min_ready`.
    pub min_ready: bool,
    /// Fail when a service has more pods unavailable at once than its budget allows.
    pub pdb_respected: bool,
    /// Fail when a service has more failed probes than this.
    pub max_failed_probes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Abort {
    pub availability_window: u32,
    pub availability_floor: f64,
    pub alerts: Option<AlertAbort>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertAbort {
    pub prometheus: Prometheus,
    pub names: Vec<String>,
    pub interval: Duration,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlastRadius {
    pub max_pods: Option<u32>,
    pub max_nodes: Option<u32>,
    pub max_service_fraction: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub templates: Option<PathBuf>,
    pub participants: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EmailTransport {
    Smtp {
        host: String,
        port: u16,
        tls: SmtpTls,
        username: Option<String>,
        password: Option<Secret>,
    },
    Maildir(PathBuf),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub transport: EmailTransport,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderElection {
    pub namespace: String,
    pub lease: String,
    pub duration: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Api {
    pub listen: SocketAddr,
    pub token: Option<Secret>,
    /// The token reading the web console needs; `None`: its pages are open.
    pub viewer_token: Option<Secret>,
    /// The URL people reach the API at, without a trailing `/` (report links).
    pub public_url: Option<String>,
}

const DEFAULT_TARGET: &str = "sandbox";
const DEFAULT_API_LISTEN: &str = "127.0.0.1:9477";

/// Validates `raw` and builds the resolved configuration, reporting every problem found.
/// Returns `None` only when the problems leave nothing sensible to build.
pub(crate) fn resolve(
    raw: &raw::RawConfig,
    broken: &Broken,
    base_dir: &Path,
    file: &str,
    context: &ResolveContext,
    reporter: &mut Reporter<'_>,
) -> Option<Config> {
    let root = FieldPath::root();
    if raw.version != 1 {
        reporter.error(
            &root.key("version"),
            format!(
                "unsupported version {} (this firedrill reads version 1)",
                raw.version
            ),
        );
    }
    let rel = |path: &str| -> PathBuf {
        let path = Path::new(path);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            base_dir.join(path)
        }
    };

    let objectives = raw
        .objectives
        .as_ref()
        .map(|o| Objectives {
            rto: o.rto.map(|d| d.0),
            rpo: o.rpo.map(|d| d.0),
        })
        .unwrap_or_default();

    // Targets: the sandbox is always available, even when the file does not list it.
    let mut targets = BTreeMap::new();
    targets.insert(
        DEFAULT_TARGET.to_string(),
        Target::Sandbox {
            platform: None,
            region: SandboxRegion::Primary,
        },
    );
    for (name, target) in &raw.targets {
        let path = root.key("targets").key(name);
        check_name(reporter, &path, "target", name);
        let misplaced = |field: &str, present: bool, reporter: &mut Reporter<'_>| {
            if present {
                reporter.key_error(
                    &path.key(field),
                    format!(
                        "`{field}` does not apply to a target of kind {}",
                        target_kind_name(target.kind)
                    ),
                );
            }
        };
        let resolved = match target.kind {
            TargetKind::Sandbox => {
                misplaced("context", target.context.is_some(), reporter);
                misplaced("kubeconfig", target.kubeconfig.is_some(), reporter);
                if target.platform.is_some() && target.region.is_some() {
                    reporter.key_error(
                        &path.key("region"),
                        "`region` picks a built-in platform; it does not apply with `platform`",
                    );
                }
                Target::Sandbox {
                    platform: target.platform.as_deref().map(rel),
                    region: target.region.unwrap_or(SandboxRegion::Primary),
                }
            }
            TargetKind::Kubeconfig => {
                misplaced("platform", target.platform.is_some(), reporter);
                misplaced("region", target.region.is_some(), reporter);
                Target::Kubeconfig {
                    context: target.context.clone(),
                    kubeconfig: target.kubeconfig.as_deref().map(rel),
                }
            }
            TargetKind::InCluster => {
                misplaced("context", target.context.is_some(), reporter);
                misplaced("kubeconfig", target.kubeconfig.is_some(), reporter);
                misplaced("platform", target.platform.is_some(), reporter);
                misplaced("region", target.region.is_some(), reporter);
                Target::InCluster
            }
        };
        targets.insert(name.clone(), resolved);
    }
    let default_target = raw
        .default_target
        .clone()
        .unwrap_or_else(|| DEFAULT_TARGET.to_string());
    if !targets.contains_key(&default_target) && !broken.has("targets", &default_target) {
        reporter.error(
            &root.key("default_target"),
            format!(
                "unknown target `{default_target}` (known: {})",
                join(targets.keys())
            ),
        );
    }

    let mut services = BTreeMap::new();
    for (name, service) in &raw.services {
        let path = root.key("services").key(name);
        check_name(reporter, &path, "service", name);
        if let Some(resolved) = resolve_service(name, service, &path, reporter) {
            services.insert(name.clone(), resolved);
        }
        if let Some(target) = &service.target
            && !targets.contains_key(target)
            && !broken.has("targets", target)
        {
            reporter.error(
                &path.key("target"),
                format!(
                    "unknown target `{target}` (known: {})",
                    join(targets.keys())
                ),
            );
        }
    }

    let probing = Probing {
        interval: raw.probing.interval.map_or(Duration::from_secs(1), |d| d.0),
        timeout: raw.probing.timeout.map_or(Duration::from_secs(2), |d| d.0),
    };
    if probing.interval.is_zero() {
        reporter.error(
            &root.key("probing").key("interval"),
            "must be longer than zero",
        );
    }
    if probing.timeout.is_zero() {
        reporter.error(
            &root.key("probing").key("timeout"),
            "must be longer than zero",
        );
    }

    let mut connections = BTreeMap::new();
    for (name, connection) in &raw.connections {
        let path = root.key("connections").key(name);
        check_name(reporter, &path, "connection", name);
        let scheme_ok = match connection.kind {
            ConnectionKind::Postgres => {
                connection.url.starts_with("postgres://")
                    || connection.url.starts_with("postgresql://")
            }
            ConnectionKind::Redis => {
                connection.url.starts_with("redis://") || connection.url.starts_with("rediss://")
            }
        };
        if !scheme_ok {
            reporter.error(
                &path.key("url"),
                match connection.kind {
                    ConnectionKind::Postgres => "a postgres connection needs a postgres:// URL",
                    ConnectionKind::Redis => "a redis connection needs a redis:// or rediss:// URL",
                },
            );
        }
        if connection.kind != ConnectionKind::Redis && connection.sentinel.is_some() {
            reporter.key_error(
                &path.key("sentinel"),
                "`sentinel` applies only to redis connections",
            );
        }
        let password = connection
            .password
            .as_ref()
            .and_then(|secret| resolve_secret(secret, &path.key("password"), &rel, reporter));
        connections.insert(
            name.clone(),
            Connection {
                kind: connection.kind,
                url: connection.url.clone(),
                password,
                sentinel: connection.sentinel.as_ref().map(|s| Sentinel {
                    master: s.master.clone(),
                    nodes: s.nodes.clone(),
                }),
            },
        );
    }

    let plugins = resolve_plugins(&raw.plugins, &connections, broken, context, &rel, reporter);
    let mut scenarios: BTreeSet<String> = context.builtin_scenarios.iter().cloned().collect();
    scenarios.extend(plugins.custom.keys().cloned());
    for name in plugins.grants.keys() {
        if !scenarios.contains(name) {
            reporter.key_error(
                &root.key("plugins").key("grants").key(name),
                format!(
                    "grant for unknown scenario `{name}` (known: {})",
                    join(&scenarios)
                ),
            );
        }
    }

    let blast_radius = resolve_blast_radius(&raw.blast_radius, &root.key("blast_radius"), reporter);

    let prometheus = raw
        .prometheus
        .as_ref()
        .and_then(|p| resolve_prometheus(p, &root.key("prometheus"), &rel, reporter));
    let checks = resolve_checks(&raw.checks, &root, reporter);
    let check_names: BTreeSet<String> = raw.checks.keys().cloned().collect();

    let service_names: BTreeSet<String> = raw.services.keys().cloned().collect();
    let service_targets: BTreeMap<String, Option<String>> = raw
        .services
        .iter()
        .map(|(name, service)| (name.clone(), service.target.clone()))
        .collect();
    let mut drills = Vec::new();
    for (name, drill) in &raw.drills {
        let path = root.key("drills").key(name);
        check_name(reporter, &path, "drill", name);
        let known = Known {
            connections: &connections,
            targets: &targets,
            services: &service_names,
            service_targets: &service_targets,
            scenarios: &scenarios,
            broken,
            checks: KnownChecks {
                names: &check_names,
                broken,
                prometheus: raw.prometheus.is_some(),
            },
        };
        if let Some(resolved) = resolve_drill(
            name,
            drill,
            &path,
            &known,
            &default_target,
            &blast_radius,
            reporter,
        ) {
            drills.push(resolved);
        }
    }

    let availability_window = raw.abort.availability_window.unwrap_or(10);
    if availability_window == 0 {
        reporter.error(
            &root.key("abort").key("availability_window"),
            "must be at least 1 probe",
        );
    }
    let availability_floor = raw.abort.availability_floor.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&availability_floor) {
        reporter.error(
            &root.key("abort").key("availability_floor"),
            format!("{availability_floor} is not a ratio between 0 and 1"),
        );
    }
    let alerts = raw.abort.alerts.as_ref().and_then(|alerts| {
        let path = root.key("abort").key("alerts");
        let source = match &alerts.prometheus {
            Some(url) => {
                if !url.starts_with("http://") && !url.starts_with("https://") {
                    reporter.error(
                        &path.key("prometheus"),
                        "expected an http:// or https:// URL",
                    );
                }
                Some(Prometheus::plain(url))
            }
            None => {
                if raw.prometheus.is_none() {
                    reporter.key_error(
                        &path,
                        "abort alerts need a Prometheus: set `prometheus.url`, or `prometheus` here",
                    );
                }
                prometheus.clone()
            }
        };
        if alerts.names.is_empty() {
            reporter.error(&path.key("names"), "name at least one alert");
        }
        source.map(|prometheus| AlertAbort {
            prometheus,
            names: alerts.names.clone(),
            interval: alerts.interval.map_or(Duration::from_secs(15), |d| d.0),
        })
    });

    let webhooks = resolve_webhooks(
        &raw.notifications.webhooks,
        &root.key("notifications").key("webhooks"),
        &rel,
        reporter,
    );
    let grafana = raw.notifications.grafana.as_ref().and_then(|grafana| {
        resolve_grafana(
            grafana,
            &root.key("notifications").key("grafana"),
            &rel,
            reporter,
        )
    });
    let public_url = resolve_public_url(
        raw.api.public_url.as_deref(),
        &root.key("api").key("public_url"),
        reporter,
    );
    let email = raw.notifications.email.as_ref().and_then(|email| {
        resolve_email(
            email,
            &root.key("notifications").key("email"),
            &rel,
            reporter,
        )
    });

    let listen_text = raw.api.listen.as_deref().unwrap_or(DEFAULT_API_LISTEN);
    let listen = match listen_text.parse::<SocketAddr>() {
        Ok(addr) => addr,
        Err(_) => {
            reporter.error(
                &root.key("api").key("listen"),
                format!("`{listen_text}` is not an address such as 127.0.0.1:9477 or [::]:9477"),
            );
            SocketAddr::from(([127, 0, 0, 1], 9477))
        }
    };
    let token =
        raw.api.token.as_ref().and_then(|secret| {
            resolve_secret(secret, &root.key("api").key("token"), &rel, reporter)
        });
    let viewer_token = raw.api.viewer_token.as_ref().and_then(|secret| {
        resolve_secret(secret, &root.key("api").key("viewer_token"), &rel, reporter)
    });
    let postgres_storage = raw.storage.postgres.as_ref().and_then(|pg| {
        let path = root.key("storage").key("postgres");
        let password = pg
            .password
            .as_ref()
            .and_then(|secret| resolve_secret(secret, &path.key("password"), &rel, reporter));
        postgres_url_problem(&pg.url)
            .map(|problem| reporter.error(&path.key("url"), problem))
            .is_none()
            .then(|| PostgresStorage {
                url: pg.url.clone(),
                password,
            })
    });

    Some(Config {
        source: file.to_string(),
        storage_path: rel(raw.storage.path.as_deref().unwrap_or("firedrill-data")),
        signing_key: raw.storage.signing_key.as_deref().map(rel),
        postgres_storage,
        objectives,
        targets,
        default_target,
        services,
        probing,
        connections,
        plugins,
        drills,
        prometheus,
        checks,
        abort: Abort {
            availability_window,
            availability_floor,
            alerts,
        },
        blast_radius,
        report: Report {
            templates: raw.report.templates.as_deref().map(rel),
            participants: raw.report.participants.clone(),
        },
        email,
        webhooks,
        grafana,
        api: Api {
            listen,
            token,
            viewer_token,
            public_url,
        },
        leader_election: raw.leader_election.enabled.then(|| LeaderElection {
            namespace: raw
                .leader_election
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            lease: raw
                .leader_election
                .lease
                .clone()
                .unwrap_or_else(|| "firedrill".into()),
            duration: raw
                .leader_election
                .duration
                .map_or(Duration::from_secs(15), |d| d.0),
        }),
    })
}

struct Known<'a> {
    broken: &'a Broken,
    connections: &'a BTreeMap<String, Connection>,
    targets: &'a BTreeMap<String, Target>,
    /// Every declared service name, including those whose definition has problems (those
    /// are reported once, where they are defined).
    services: &'a BTreeSet<String>,
    /// The target each declared service names, if it names one.
    service_targets: &'a BTreeMap<String, Option<String>>,
    scenarios: &'a BTreeSet<String>,
    checks: KnownChecks<'a>,
}

fn resolve_service(
    name: &str,
    service: &raw::RawService,
    path: &FieldPath,
    reporter: &mut Reporter<'_>,
) -> Option<Service> {
    if service.namespace.is_empty() {
        reporter.error(&path.key("namespace"), "namespace must not be empty");
    }
    let selector = match LabelSelector::parse(&service.selector) {
        Ok(selector) => Some(selector),
        Err(err) => {
            reporter.error(&path.key("selector"), err.to_string());
            None
        }
    };
    let workload = service.workload.as_deref().and_then(|text| {
        let parsed = text.split_once('/').and_then(|(kind, workload_name)| {
            let kind = match kind {
                "deployment" | "deploy" | "deployments" => WorkloadKind::Deployment,
                "statefulset" | "sts" | "statefulsets" => WorkloadKind::StatefulSet,
                _ => return None,
            };
            (!workload_name.is_empty()).then(|| Workload {
                kind,
                name: workload_name.to_string(),
            })
        });
        if parsed.is_none() {
            reporter.error(
                &path.key("workload"),
                format!("`{text}` is not `deployment/NAME` or `statefulset/NAME`"),
            );
        }
        parsed
    });
    let min_ready = service.min_ready.unwrap_or(1);
    let mut probes = Vec::new();
    for (i, probe) in service.probes.iter().enumerate() {
        let probe_path = path.key("probes").index(i);
        match (&probe.url, &probe.service_proxy) {
            (Some(url), None) => {
                if url.starts_with("http://") || url.starts_with("https://") {
                    probes.push(Probe::Url(url.clone()));
                } else {
                    reporter.error(
                        &probe_path.key("url"),
                        "expected an http:// or https:// URL",
                    );
                }
            }
            (None, Some(proxy)) => {
                let probe_path_value = proxy.path.clone().unwrap_or_else(|| "/".into());
                if !probe_path_value.starts_with('/') {
                    reporter.error(
                        &probe_path.key("service_proxy").key("path"),
                        "must start with /",
                    );
                }
                probes.push(Probe::ServiceProxy {
                    namespace: service.namespace.clone(),
                    service: proxy.service.clone(),
                    port: proxy.port.clone(),
                    path: probe_path_value,
                });
            }
            _ => reporter.error(
                &probe_path,
                "a probe needs exactly one of `url` or `service_proxy`",
            ),
        }
    }
    Some(Service {
        name: name.to_string(),
        target: service.target.clone(),
        namespace: service.namespace.clone(),
        selector: selector?,
        workload,
        min_ready,
        probes,
    })
}

/// Why `url` is no PostgreSQL URL firedrill accepts for its store, if it is not.
fn postgres_url_problem(url: &str) -> Option<String> {
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        return Some(format!(
            "`{url}` is not a postgres:// URL (e.g. postgres://firedrill@db:5432/firedrill)"
        ));
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if let Some((user, _)) = authority.rsplit_once('@')
        && user.contains(':')
    {
        return Some(
            "the URL holds a password: put it under storage.postgres.password (env or file) instead"
                .into(),
        );
    }
    if authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
        .is_empty()
    {
        return Some(format!("`{url}` names no host"));
    }
    None
}

pub(super) fn resolve_secret(
    secret: &raw::RawSecret,
    path: &FieldPath,
    rel: &dyn Fn(&str) -> PathBuf,
    reporter: &mut Reporter<'_>,
) -> Option<Secret> {
    match (&secret.env, &secret.file) {
        (Some(env), None) if !env.is_empty() => Some(Secret::Env(env.clone())),
        (None, Some(file)) if !file.is_empty() => Some(Secret::File(rel(file))),
        _ => {
            reporter.error(
                path,
                "a secret needs exactly one of `env: VARIABLE` or `file: PATH` (never the value itself)",
            );
            None
        }
    }
}

fn resolve_plugins(
    raw: &raw::RawPlugins,
    connections: &BTreeMap<String, Connection>,
    broken: &Broken,
    context: &ResolveContext,
    rel: &dyn Fn(&str) -> PathBuf,
    reporter: &mut Reporter<'_>,
) -> Plugins {
    let path = FieldPath::root().key("plugins");
    let memory_mib = raw.limits.memory_mib.unwrap_or(64);
    if memory_mib == 0 {
        reporter.error(&path.key("limits").key("memory_mib"), "must be at least 1");
    }
    let call_timeout = raw
        .limits
        .call_timeout
        .map_or(Duration::from_secs(120), |d| d.0);
    if call_timeout.is_zero() {
        reporter.error(
            &path.key("limits").key("call_timeout"),
            "must be longer than zero",
        );
    }
    let fuel = raw.limits.fuel.unwrap_or(10_000_000_000);
    if fuel == 0 {
        reporter.error(&path.key("limits").key("fuel"), "must be at least 1");
    }
    let mut custom = BTreeMap::new();
    for (name, plugin) in &raw.custom {
        let entry = path.key("custom").key(name);
        check_name(reporter, &entry, "scenario", name);
        if context
            .builtin_scenarios
            .iter()
            .any(|builtin| builtin == name)
        {
            reporter.key_error(
                &entry,
                format!("`{name}` is a built-in scenario; give the custom plugin another name"),
            );
        }
        custom.insert(name.clone(), rel(&plugin.path));
    }
    let mut grants = BTreeMap::new();
    for (name, grant) in &raw.grants {
        let entry = path.key("grants").key(name);
        let mut kubernetes = Vec::new();
        for (i, rule) in grant.kubernetes.iter().enumerate() {
            let rule_path = entry.key("kubernetes").index(i);
            for (j, verb) in rule.verbs.iter().enumerate() {
                if !KUBERNETES_VERBS.contains(&verb.as_str()) {
                    reporter.error(
                        &rule_path.key("verbs").index(j),
                        format!(
                            "unknown verb `{verb}` (expected one of {})",
                            KUBERNETES_VERBS.join(", ")
                        ),
                    );
                }
            }
            if rule.namespaces.is_empty() {
                reporter.error(
                    &rule_path.key("namespaces"),
                    "name at least one namespace, or `*`",
                );
            }
            kubernetes.push(KubernetesRule {
                verbs: rule.verbs.iter().cloned().collect(),
                namespaces: rule.namespaces.iter().cloned().collect(),
            });
        }
        for (i, connection) in grant.connections.iter().enumerate() {
            if !connections.contains_key(connection) && !broken.has("connections", connection) {
                reporter.error(
                    &entry.key("connections").index(i),
                    format!(
                        "unknown connection `{connection}` (known: {})",
                        join(connections.keys())
                    ),
                );
            }
        }
        for (i, host) in grant.hosts.iter().enumerate() {
            if host.is_empty() || host.contains('/') || host.contains(' ') {
                reporter.error(
                    &entry.key("hosts").index(i),
                    format!("`{host}` is not a host or host:port"),
                );
            }
        }
        grants.insert(
            name.clone(),
            Grant {
                kubernetes,
                hosts: grant.hosts.clone(),
                exec: grant.exec.clone(),
                connections: grant.connections.clone(),
            },
        );
    }
    Plugins {
        dir: raw.dir.as_deref().map(rel),
        limits: PluginLimits {
            memory_bytes: u64::from(memory_mib) * 1024 * 1024,
            call_timeout,
            fuel,
        },
        custom,
        grants,
    }
}

fn resolve_blast_radius(
    raw: &raw::RawBlastRadius,
    path: &FieldPath,
    reporter: &mut Reporter<'_>,
) -> BlastRadius {
    if let Some(fraction) = raw.max_service_fraction
        && !(fraction > 0.0 && fraction <= 1.0)
    {
        reporter.error(
            &path.key("max_service_fraction"),
            format!("{fraction} is not a fraction in (0, 1]"),
        );
    }
    BlastRadius {
        max_pods: raw.max_pods,
        max_nodes: raw.max_nodes,
        max_service_fraction: raw.max_service_fraction,
    }
}

fn resolve_drill(
    name: &str,
    drill: &raw::RawDrill,
    path: &FieldPath,
    known: &Known<'_>,
    default_target: &str,
    global_radius: &BlastRadius,
    reporter: &mut Reporter<'_>,
) -> Option<Drill> {
    let target = drill
        .target
        .clone()
        .unwrap_or_else(|| default_target.to_string());
    if drill.target.is_some()
        && !known.targets.contains_key(&target)
        && !known.broken.has("targets", &target)
    {
        reporter.error(
            &path.key("target"),
            format!(
                "unknown target `{target}` (known: {})",
                join(known.targets.keys())
            ),
        );
    }
    let schedule = drill
        .schedule
        .as_ref()
        .and_then(|schedule| resolve_schedule(schedule, &path.key("schedule"), reporter));

    // A drill may only tighten the global blast radius, never widen it.
    let own = drill
        .blast_radius
        .as_ref()
        .map(|radius| resolve_blast_radius(radius, &path.key("blast_radius"), reporter))
        .unwrap_or_default();
    let blast_radius = BlastRadius {
        max_pods: min_opt(own.max_pods, global_radius.max_pods),
        max_nodes: min_opt(own.max_nodes, global_radius.max_nodes),
        max_service_fraction: match (own.max_service_fraction, global_radius.max_service_fraction) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        },
    };

    if drill.phases.is_empty() {
        reporter.error(&path.key("phases"), "a drill needs at least one phase");
    }
    for (i, service) in drill.expect_down.iter().enumerate() {
        if !known.services.contains(service) && !known.broken.has("services", service) {
            reporter.error(
                &path.key("expect_down").index(i),
                format!(
                    "unknown service `{service}` (known: {})",
                    join(known.services)
                ),
            );
        }
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut phases = Vec::new();
    for (i, phase) in drill.phases.iter().enumerate() {
        let phase_path = path.key("phases").index(i);
        check_name(reporter, &phase_path.key("name"), "phase", &phase.name);
        if let Some(first) = seen.insert(&phase.name, i) {
            reporter.error(
                &phase_path.key("name"),
                format!(
                    "duplicate phase name `{}` (also phase {} of this drill)",
                    phase.name,
                    first + 1
                ),
            );
        }
        if !known.scenarios.contains(&phase.scenario) && !known.broken.section("plugins") {
            reporter.error(
                &phase_path.key("scenario"),
                format!(
                    "unknown scenario `{}` (built-in and custom scenarios: {})",
                    phase.scenario,
                    join(known.scenarios)
                ),
            );
        }
        if let Some(phase_target) = &phase.target
            && !known.targets.contains_key(phase_target)
            && !known.broken.has("targets", phase_target)
        {
            reporter.error(
                &phase_path.key("target"),
                format!(
                    "unknown target `{phase_target}` (known: {})",
                    join(known.targets.keys())
                ),
            );
        }
        let acts_on = phase.target.as_deref().unwrap_or(&target);
        // Where a service lives: the target it names, else the drill's.
        let lives_on = |service: &str| {
            known
                .service_targets
                .get(service)
                .cloned()
                .flatten()
                .unwrap_or_else(|| target.clone())
        };
        let services = match &phase.services {
            Some(list) => {
                for (j, service) in list.iter().enumerate() {
                    if !known.services.contains(service) && !known.broken.has("services", service) {
                        reporter.error(
                            &phase_path.key("services").index(j),
                            format!(
                                "unknown service `{service}` (known: {})",
                                join(known.services)
                            ),
                        );
                    } else if lives_on(service) != acts_on {
                        let home = lives_on(service);
                        reporter.error(
                            &phase_path.key("services").index(j),
                            format!(
                                "service `{service}` runs on target `{home}`, but this phase \
                                 acts on target `{acts_on}` (set the phase's `target`, or name \
                                 the service declared for `{acts_on}`)"
                            ),
                        );
                    }
                }
                list.clone()
            }
            None => known
                .services
                .iter()
                .filter(|service| lives_on(service) == acts_on)
                .cloned()
                .collect(),
        };
        let objectives = PhaseObjectives {
            rto: phase.objectives.rto.map(|d| d.0),
            rpo: phase.objectives.rpo.map(|d| d.0),
            availability_floor: phase.objectives.availability_floor,
            min_ready: phase.objectives.min_ready.unwrap_or(false),
            pdb_respected: phase.objectives.pdb_respected.unwrap_or(false),
            max_failed_probes: phase.objectives.max_failed_probes,
        };
        if objectives.rto.is_some_and(|rto| rto.is_zero()) {
            reporter.error(
                &phase_path.key("objectives").key("rto"),
                "must be longer than zero",
            );
        }
        if let Some(floor) = objectives.availability_floor
            && !(0.0..=1.0).contains(&floor)
        {
            reporter.error(
                &phase_path.key("objectives").key("availability_floor"),
                format!("{floor} is not a ratio between 0 and 1 (write 0.99 for 99%)"),
            );
        }
        let deadline = match (phase.deadline, objectives.rto) {
            (Some(deadline), rto) => {
                if rto.is_some_and(|rto| deadline.0 < rto) {
                    reporter.error(
                        &phase_path.key("deadline"),
                        format!("the deadline ({deadline}) is shorter than the phase's RTO"),
                    );
                }
                deadline.0
            }
            (None, Some(rto)) => rto * 2,
            (None, None) => Duration::from_secs(15 * 60),
        };
        let canary = phase
            .canary
            .as_ref()
            .and_then(|canary| resolve_canary(canary, &phase_path.key("canary"), known, reporter));
        let checks = phase
            .checks
            .as_ref()
            .map(|checks| {
                let at = phase_path.key("checks");
                CheckSet {
                    before: Vec::new(),
                    during: resolve_attached(
                        &checks.during,
                        &at.key("during"),
                        &known.checks,
                        reporter,
                    ),
                    after: resolve_attached(
                        &checks.after,
                        &at.key("after"),
                        &known.checks,
                        reporter,
                    ),
                }
            })
            .unwrap_or_default();
        phases.push(Phase {
            name: phase.name.clone(),
            scenario: phase.scenario.clone(),
            target: phase.target.clone(),
            services,
            params: phase.params.clone(),
            objectives,
            deadline,
            canary,
            checks,
        });
    }
    let checks = drill
        .checks
        .as_ref()
        .map(|checks| {
            let at = path.key("checks");
            CheckSet {
                before: resolve_attached(
                    &checks.before,
                    &at.key("before"),
                    &known.checks,
                    reporter,
                ),
                during: resolve_attached(
                    &checks.during,
                    &at.key("during"),
                    &known.checks,
                    reporter,
                ),
                after: resolve_attached(&checks.after, &at.key("after"), &known.checks, reporter),
            }
        })
        .unwrap_or_default();
    Some(Drill {
        name: name.to_string(),
        description: drill.description.clone(),
        target,
        schedule,
        on_phase_failure: drill.on_phase_failure.unwrap_or(PhaseFailurePolicy::Stop),
        blast_radius,
        participants: drill.participants.clone(),
        recipients: drill.recipients.clone(),
        checks,
        expect_down: drill.expect_down.clone(),
        phases,
    })
}

fn kind_name(kind: ConnectionKind) -> &'static str {
    match kind {
        ConnectionKind::Postgres => "postgres",
        ConnectionKind::Redis => "redis",
    }
}

fn resolve_canary(
    raw: &raw::RawCanary,
    path: &FieldPath,
    known: &Known<'_>,
    reporter: &mut Reporter<'_>,
) -> Option<Canary> {
    let lookup = |name: &str, field: &str, reporter: &mut Reporter<'_>| {
        let found = known.connections.get(name).map(|c| c.kind);
        if found.is_none() && !known.broken.has("connections", name) {
            reporter.error(
                &path.key(field),
                format!(
                    "unknown connection `{name}` (known: {})",
                    join(known.connections.keys())
                ),
            );
        }
        found
    };
    let kind = lookup(&raw.connection, "connection", reporter);
    let read_from = raw
        .read_from
        .clone()
        .unwrap_or_else(|| raw.connection.clone());
    let read_kind = match &raw.read_from {
        Some(name) => lookup(name, "read_from", reporter),
        None => kind,
    };
    if let (Some(kind), Some(read_kind)) = (kind, read_kind)
        && kind != read_kind
    {
        reporter.error(
            &path.key("read_from"),
            format!(
                "`{read_from}` is a {} connection but `{}` is {}: canaries are read back from the same kind of database",
                kind_name(read_kind),
                raw.connection,
                kind_name(kind)
            ),
        );
    }
    let interval = raw.interval.map_or(Duration::from_millis(100), |d| d.0);
    if interval < Duration::from_millis(10) {
        reporter.error(
            &path.key("interval"),
            format!(
                "{} is too short: canaries are written at most every 10ms",
                HumanDuration(interval)
            ),
        );
    }
    let lead = raw.lead.map_or(Duration::from_secs(1), |d| d.0);
    if lead < interval {
        reporter.error(
            &path.key("lead"),
            "must be at least one interval, so that a canary is written before the fault",
        );
    }
    let table = raw
        .table
        .clone()
        .unwrap_or_else(|| "firedrill_canary".to_string());
    let identifier = |part: &str| {
        let mut chars = part.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let parts: Vec<&str> = table.split('.').collect();
    if parts.len() > 2 || !parts.iter().all(|p| identifier(p)) {
        reporter.error(
            &path.key("table"),
            format!("`{table}` is not a plain table name (lowercase letters, digits, `_`, optionally `schema.table`)"),
        );
    }
    if raw.table.is_some() && kind == Some(ConnectionKind::Redis) {
        reporter.error(
            &path.key("table"),
            "`table` applies only to postgres canaries",
        );
    }
    Some(Canary {
        connection: raw.connection.clone(),
        kind: kind?,
        read_from,
        interval,
        lead,
        table,
    })
}

fn resolve_schedule(
    raw: &raw::RawSchedule,
    path: &FieldPath,
    reporter: &mut Reporter<'_>,
) -> Option<DrillSchedule> {
    let cron = match CronExpr::parse(&raw.cron) {
        Ok(cron) => Some(cron),
        Err(err) => {
            reporter.error(
                &path.key("cron"),
                format!("invalid cron expression `{}`: {err}", raw.cron),
            );
            None
        }
    };
    let timezone_name = raw.timezone.as_deref().unwrap_or("UTC");
    let timezone = match timezone_name.parse::<Tz>() {
        Ok(tz) => Some(tz),
        Err(_) => {
            reporter.error(
                &path.key("timezone"),
                format!("unknown time zone `{timezone_name}` (expected an IANA name such as Europe/Berlin or UTC)"),
            );
            None
        }
    };
    let mut blackouts = Vec::new();
    for (i, blackout) in raw.blackouts.iter().enumerate() {
        let blackout_path = path.key("blackouts").index(i);
        let Some(tz) = timezone else { continue };
        match (&blackout.from, &blackout.until, &blackout.cron, &blackout.duration) {
            (Some(from), Some(until), None, None) => {
                let start = parse_instant(from, tz);
                let end = parse_instant(until, tz);
                if start.is_none() {
                    reporter.error(&blackout_path.key("from"), instant_help(from));
                }
                if end.is_none() {
                    reporter.error(&blackout_path.key("until"), instant_help(until));
                }
                if let (Some(start), Some(end)) = (start, end) {
                    if start >= end {
                        reporter.error(&blackout_path.key("until"), "must be after `from`");
                    } else {
                        blackouts.push(Blackout::Window {
                            start,
                            end,
                            reason: blackout.reason.clone(),
                        });
                    }
                }
            }
            (None, None, Some(cron_text), Some(duration)) => match CronExpr::parse(cron_text) {
                Ok(cron) => match chrono::Duration::from_std(duration.0) {
                    Ok(length) if !duration.0.is_zero() => blackouts.push(Blackout::Recurring {
                        cron,
                        duration: length,
                        reason: blackout.reason.clone(),
                    }),
                    _ => reporter.error(&blackout_path.key("duration"), "must be a positive duration"),
                },
                Err(err) => reporter.error(
                    &blackout_path.key("cron"),
                    format!("invalid cron expression `{cron_text}`: {err}"),
                ),
            },
            _ => reporter.error(
                &blackout_path,
                "a blackout needs either `from` and `until` (a fixed window) or `cron` and `duration` (a recurring one)",
            ),
        }
    }
    let schedule = Schedule {
        cron: cron?,
        timezone: timezone?,
        blackouts,
    };
    // A schedule that never fires (e.g. 30 February) is almost certainly a typo.
    // A fixed reference instant keeps resolution pure; five years of search from it
    // finds even leap-day schedules.
    if schedule
        .slots_after(DateTime::<Utc>::from_timestamp(0, 0).unwrap_or_default())
        .next()
        .is_none()
    {
        reporter.error(
            &path.key("cron"),
            format!("cron expression `{}` never fires", raw.cron),
        );
    }
    Some(DrillSchedule {
        schedule,
        missed: raw.missed.unwrap_or(MissedRunPolicy::RunOnce),
        grace: raw.grace.map_or(Duration::from_secs(15 * 60), |d| d.0),
    })
}

/// Parses RFC 3339, or a local date / date-time read in `tz`.
pub fn parse_instant(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(local) = NaiveDateTime::parse_from_str(text, format) {
            return resolve_local(tz, local);
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| resolve_local(tz, date.and_hms_opt(0, 0, 0)?))
}

fn instant_help(text: &str) -> String {
    format!(
        "`{text}` is not a date or time (expected RFC 3339 like 2026-12-20T00:00:00Z, or a local 2026-12-20 / 2026-12-20T18:00)"
    )
}

/// Names end up in metric labels, file names and URLs: keep them to DNS-label characters.
pub(super) fn check_name(reporter: &mut Reporter<'_>, path: &FieldPath, what: &str, name: &str) {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if !ok {
        reporter.key_error(
            path,
            format!(
                "{what} name `{name}` must be 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit"
            ),
        );
    }
}

fn resolve_email(
    raw: &raw::RawEmail,
    path: &FieldPath,
    rel: &dyn Fn(&str) -> PathBuf,
    reporter: &mut Reporter<'_>,
) -> Option<Email> {
    if !raw.from.contains('@') {
        reporter.error(
            &path.key("from"),
            format!("`{}` is not an email address", raw.from),
        );
    }
    if raw.to.is_empty() {
        reporter.error(&path.key("to"), "name at least one recipient");
    }
    for (field, list) in [("to", &raw.to), ("cc", &raw.cc)] {
        for (i, address) in list.iter().enumerate() {
            if !address.contains('@') {
                reporter.error(
                    &path.key(field).index(i),
                    format!("`{address}` is not an email address"),
                );
            }
        }
    }
    let transport = match (&raw.smtp, &raw.maildir) {
        (Some(smtp), None) => {
            let tls = smtp.tls.unwrap_or(SmtpTls::Starttls);
            let port = smtp.port.unwrap_or(match tls {
                SmtpTls::Starttls => 587,
                SmtpTls::Tls => 465,
                SmtpTls::None => 25,
            });
            let password = smtp.password.as_ref().and_then(|secret| {
                resolve_secret(secret, &path.key("smtp").key("password"), rel, reporter)
            });
            EmailTransport::Smtp {
                host: smtp.host.clone(),
                port,
                tls,
                username: smtp.username.clone(),
                password,
            }
        }
        (None, Some(dir)) => EmailTransport::Maildir(rel(dir)),
        _ => {
            reporter.error(path, "email needs exactly one of `smtp` or `maildir`");
            return None;
        }
    };
    Some(Email {
        from: raw.from.clone(),
        to: raw.to.clone(),
        cc: raw.cc.clone(),
        transport,
    })
}

fn target_kind_name(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::Sandbox => "sandbox",
        TargetKind::Kubeconfig => "kubeconfig",
        TargetKind::InCluster => "in-cluster",
    }
}

fn min_opt(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pub(super) fn join<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let names: Vec<&str> = items.into_iter().map(String::as_str).collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}
