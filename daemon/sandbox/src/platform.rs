//! The platform the sandbox preloads: the seed (butterfly's services over three zones) or
//! one read from a platform file, turned into namespace, node and workload objects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::SandboxError;

/// The annotation on a pod template that sets its pods' start delay (`3s`, `500ms`).
pub const START_DELAY_ANNOTATION: &str = "sandbox.firedrill.dev/start-delay";

/// The platform file exactly as written (see the crate docs for the format).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPlatform {
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    zones: Option<Vec<String>>,
    #[serde(default)]
    nodes_per_zone: Option<u32>,
    #[serde(default)]
    deployments: Vec<RawWorkload>,
    #[serde(default)]
    statefulsets: Vec<RawWorkload>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawWorkload {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    replicas: Option<u32>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    service: Option<bool>,
    #[serde(default)]
    pdb: Option<RawPdb>,
    #[serde(default)]
    start_delay: Option<String>,
    #[serde(default)]
    exec: Option<RawExecMode>,
    #[serde(default)]
    env: Option<BTreeMap<String, Scalar>>,
    #[serde(default)]
    topics: Option<Vec<RawTopic>>,
    #[serde(default)]
    catch_up_delay: Option<String>,
    #[serde(default)]
    consumer_groups: Option<Vec<RawConsumerGroup>>,
    #[serde(default)]
    backups: Option<Vec<RawBackup>>,
    #[serde(default)]
    process: Option<RawProcess>,
}

/// A workload whose container is a local process, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProcess {
    command: Vec<Scalar>,
    #[serde(default)]
    env: Option<BTreeMap<String, Scalar>>,
    #[serde(default)]
    ready: Option<RawReadiness>,
}

/// When a process pod is Ready, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReadiness {
    tcp: u16,
}

/// How exec on a workload's pods runs, as written.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawExecMode {
    Simulated,
    Local,
}

/// A scalar YAML value taken as text (`2`, `true` and `"2"` all give a string).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl Scalar {
    fn into_text(self) -> String {
        match self {
            Self::Bool(b) => b.to_string(),
            Self::Int(n) => n.to_string(),
            Self::Float(x) => x.to_string(),
            Self::Text(text) => text,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawTopic {
    name: String,
    #[serde(default)]
    partitions: Option<u32>,
    #[serde(default)]
    replication_factor: Option<u32>,
    #[serde(default)]
    configs: Option<BTreeMap<String, Scalar>>,
    #[serde(default)]
    messages: Option<u32>,
    #[serde(default)]
    message_interval: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConsumerGroup {
    name: String,
    topic: String,
    #[serde(default)]
    lag: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawBackup {
    path: String,
    keyspace: String,
    #[serde(default)]
    replication: Option<String>,
    #[serde(default)]
    age: Option<String>,
    tables: Vec<RawBackupTable>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawBackupTable {
    name: String,
    rows: u64,
    #[serde(default)]
    columns: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPdb {
    #[serde(default)]
    max_unavailable: Option<u32>,
    #[serde(default)]
    min_available: Option<u32>,
}

/// Which controller runs a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    /// A Deployment (with ReplicaSets).
    Deployment,
    /// A StatefulSet.
    StatefulSet,
}

/// A disruption budget for a workload's pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// `maxUnavailable: n`.
    MaxUnavailable(u32),
    /// `minAvailable: n`.
    MinAvailable(u32),
}

/// One workload of the platform, defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Deployment or StatefulSet.
    pub kind: WorkloadKind,
    /// Its name, also the Service's.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Desired replicas.
    pub replicas: u32,
    /// The labels of its pods, also its selector and its Service's selector.
    pub labels: BTreeMap<String, String>,
    /// The container image shown in pod specs.
    pub image: String,
    /// The container and Service port (named `http` for deployments).
    pub port: u16,
    /// Whether a Service fronts it.
    pub service: bool,
    /// Its PodDisruptionBudget, if any.
    pub budget: Option<Budget>,
    /// How long its pods take from scheduled to running; `None` uses the sandbox default.
    pub start_delay: Option<Duration>,
    /// How `exec` on its pods runs: simulated (the default) or as a local process.
    pub exec: ExecMode,
    /// The Kafka topics its brokers hold, if its pods are Kafka brokers; `None` gives the
    /// default topics ([`Topic::defaults`]).
    pub topics: Option<Vec<Topic>>,
    /// How long a Kafka broker whose pod became Ready again takes to catch up and rejoin
    /// the ISRs; `None` uses [`crate::Timing::isr_catch_up`].
    pub catch_up_delay: Option<Duration>,
    /// The consumer groups a Kafka workload starts with, and their committed offsets.
    pub consumer_groups: Vec<ConsumerGroup>,
    /// The Cassandra backup sets (simulated files) its pods can read.
    pub backups: Vec<Backup>,
    /// The local process each of its pods' container is, if any (platform files only).
    pub process: Option<ProcessSpec>,
}

/// A container that is a process on the sandbox's machine: the kubelet starts it when
/// its pod starts running, restarts it when it exits while the pod lives, and stops it
/// (SIGTERM, then SIGKILL after the grace period) before a deleted pod is removed. Only a
/// platform file declares one, for integration tests against real local servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// The program and its arguments (no shell).
    pub command: Vec<String>,
    /// Variables added to the sandbox's environment.
    pub env: BTreeMap<String, String>,
    /// The readiness probe: Ready while this loopback TCP port accepts connections;
    /// `None`: Ready while the process runs.
    pub ready_tcp: Option<u16>,
}

/// How `pods/exec` runs a command on a workload's pods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ExecMode {
    /// The sandbox answers the commands it simulates (`nodetool status`,
    /// `kafka-topics.sh --describe`) from the simulated pods' state.
    #[default]
    Simulated,
    /// The command runs as a child process of the sandbox, on the machine running it,
    /// with these variables added to the sandbox's environment. Only a platform file
    /// turns this on, for integration tests against real local servers.
    Local {
        /// Extra environment variables.
        env: BTreeMap<String, String>,
    },
}

/// A simulated Kafka topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    /// The topic name.
    pub name: String,
    /// Its partition count.
    pub partitions: u32,
    /// Its replication factor (capped at the broker count when described).
    pub replication_factor: u32,
    /// Topic configs shown by `--describe` (`min.insync.replicas=2`).
    pub configs: BTreeMap<String, String>,
    /// Messages each partition holds when the sandbox first reads the workload's state.
    pub messages: u32,
    /// The time between two of those messages; the newest is stamped at that first read.
    pub message_interval: Duration,
    /// The brokers of each partition, preferred leader first, when fixed at creation
    /// (`kafka-topics.sh --create` places replicas on the brokers up then); `None`: the
    /// round-robin placement over every broker of [`crate::simulated::partitions`].
    pub assignment: Option<Vec<Vec<u32>>>,
}

/// The default time between a topic's preloaded messages.
const MESSAGE_INTERVAL: Duration = Duration::from_secs(60);

/// A Kafka consumer group declared by the platform: its committed offsets on `topic`
/// are `lag` messages behind each partition's log end (never below 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroup {
    /// The group id.
    pub name: String,
    /// The topic it has committed offsets on.
    pub topic: String,
    /// How far behind the log end each partition's committed offset is.
    pub lag: u64,
}

/// A Cassandra backup set the pods can read, as `aws s3 sync` would leave it:
/// `PATH/schema.cql` (the keyspace's schema), and per table `PATH/KEYSPACE/TABLE/` with
/// the snapshot's `manifest.json` (its `created_at`), `schema.cql` and SSTable files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// The backup directory.
    pub path: String,
    /// The keyspace it holds (also live in the cluster, as the production keyspace).
    pub keyspace: String,
    /// The keyspace's replication map, in CQL.
    pub replication: String,
    /// How old the snapshot is when the sandbox first reads the workload's state.
    pub age: Duration,
    /// Its tables.
    pub tables: Vec<BackupTable>,
}

/// One table of a [`Backup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupTable {
    /// The table name.
    pub name: String,
    /// The rows its SSTables hold.
    pub rows: u64,
    /// The column definitions in CQL (`id uuid PRIMARY KEY, payload text`).
    pub columns: String,
}

/// The default replication of a backup's keyspace.
const BACKUP_REPLICATION: &str = "{'class': 'NetworkTopologyStrategy', 'dc1': '3'}";
/// The default columns of a backup's table.
const BACKUP_COLUMNS: &str = "id uuid PRIMARY KEY, payload text, created_at timestamp";

impl Topic {
    /// The topics a Kafka workload holds unless its platform entry declares its own:
    /// `firedrill-canary` (3 partitions) and `orders` (6 partitions), both with
    /// replication factor 3 and `min.insync.replicas=2`.
    pub fn defaults() -> Vec<Topic> {
        [("firedrill-canary", 3), ("orders", 6)]
            .into_iter()
            .map(|(name, partitions)| Topic {
                name: name.to_owned(),
                partitions,
                replication_factor: 3,
                configs: BTreeMap::from([("min.insync.replicas".to_owned(), "2".to_owned())]),
                messages: 0,
                message_interval: MESSAGE_INTERVAL,
                assignment: None,
            })
            .collect()
    }
}

/// The platform the sandbox starts with.
#[derive(Debug, Clone, PartialEq)]
pub struct Platform {
    /// The zones nodes are spread over (`topology.kubernetes.io/zone`).
    pub zones: Vec<String>,
    /// Nodes in each zone.
    pub nodes_per_zone: u32,
    /// The workloads, deployments first.
    pub workloads: Vec<Workload>,
}

const SEED_NAMESPACE: &str = "butterfly";

/// The seed's Kafka topics: the defaults and the runbook's `rim.fast-path` (12
/// partitions, replication factor 3, two hours of messages, one a minute per partition),
/// and the consumer group `perception` caught up on it.
fn seed_kafka() -> (Vec<Topic>, Vec<ConsumerGroup>) {
    let mut topics = Topic::defaults();
    topics.push(Topic {
        name: "rim.fast-path".to_owned(),
        partitions: 12,
        replication_factor: 3,
        configs: BTreeMap::from([("min.insync.replicas".to_owned(), "2".to_owned())]),
        messages: 120,
        message_interval: MESSAGE_INTERVAL,
        assignment: None,
    });
    let groups = vec![ConsumerGroup {
        name: "perception".to_owned(),
        topic: "rim.fast-path".to_owned(),
        lag: 0,
    }];
    (topics, groups)
}

/// The seed's Cassandra backup: keyspace `butterfly` as downloaded to
/// `/tmp/cassandra-backup` (the runbook's step 2), taken 45 minutes before.
fn seed_backup() -> Backup {
    Backup {
        path: "/tmp/cassandra-backup".to_owned(),
        keyspace: "butterfly".to_owned(),
        replication: BACKUP_REPLICATION.to_owned(),
        age: Duration::from_secs(45 * 60),
        tables: vec![
            BackupTable {
                name: "events".to_owned(),
                rows: 5000,
                columns: BACKUP_COLUMNS.to_owned(),
            },
            BackupTable {
                name: "capsules".to_owned(),
                rows: 1200,
                columns: "id uuid PRIMARY KEY, owner text, body blob".to_owned(),
            },
        ],
    }
}

fn deployment(name: &str) -> Workload {
    Workload {
        kind: WorkloadKind::Deployment,
        name: name.to_owned(),
        namespace: SEED_NAMESPACE.to_owned(),
        replicas: 3,
        labels: BTreeMap::from([("app.kubernetes.io/name".to_owned(), name.to_owned())]),
        image: format!("registry.example.com/butterfly/{name}:1.0.0"),
        port: 8080,
        service: true,
        budget: Some(Budget::MaxUnavailable(1)),
        start_delay: None,
        exec: ExecMode::Simulated,
        topics: None,
        catch_up_delay: None,
        consumer_groups: Vec::new(),
        backups: Vec::new(),
        process: None,
    }
}

fn statefulset(name: &str, replicas: u32, image: &str, port: u16) -> Workload {
    Workload {
        kind: WorkloadKind::StatefulSet,
        name: name.to_owned(),
        namespace: SEED_NAMESPACE.to_owned(),
        replicas,
        labels: BTreeMap::from([("app".to_owned(), name.to_owned())]),
        image: image.to_owned(),
        port,
        service: true,
        budget: None,
        start_delay: None,
        exec: ExecMode::Simulated,
        topics: None,
        catch_up_delay: None,
        consumer_groups: Vec::new(),
        backups: Vec::new(),
        process: None,
    }
}

impl Platform {
    /// The seed platform: namespace `butterfly`, nine nodes over `zone-a`..`zone-c`, six
    /// deployments with Services and PDBs (maxUnavailable 1), and the Cassandra, Kafka,
    /// Redis, PostgreSQL, JanusGraph and Ignite statefulsets (the runbook's stateful
    /// services) with their Services; Kafka holds the runbook's `rim.fast-path` with two
    /// hours of messages and the group `perception` caught up on it, and the Cassandra
    /// pods see a 45-minute-old backup of keyspace `butterfly` in `/tmp/cassandra-backup`.
    pub fn seed() -> Self {
        let mut workloads: Vec<Workload> = [
            "perception",
            "capsule",
            "odyssey",
            "plato",
            "nexus",
            "synapse",
        ]
        .into_iter()
        .map(deployment)
        .collect();
        let mut cassandra = statefulset("cassandra", 3, "cassandra:4.1", 9042);
        cassandra.backups = vec![seed_backup()];
        workloads.push(cassandra);
        let mut kafka = statefulset("kafka", 3, "apache/kafka:3.7.0", 9092);
        let (topics, groups) = seed_kafka();
        kafka.topics = Some(topics);
        kafka.consumer_groups = groups;
        workloads.push(kafka);
        workloads.push(statefulset("redis", 3, "redis:7.2", 6379));
        workloads.push(statefulset("postgresql", 2, "postgres:16", 5432));
        workloads.push(statefulset(
            "janusgraph",
            2,
            "janusgraph/janusgraph:1.0",
            8182,
        ));
        workloads.push(statefulset(
            "ignite",
            3,
            "apacheignite/ignite:2.16.0",
            10800,
        ));
        Self {
            zones: vec!["zone-a".into(), "zone-b".into(), "zone-c".into()],
            nodes_per_zone: 3,
            workloads,
        }
    }

    /// The DR region's seed platform: the seed's services on four nodes in `dr-zone-a`
    /// and `dr-zone-b`, the applications at one replica each (a warm standby that a
    /// failover scales up), the stateful services at full size (replicating).
    pub fn seed_dr() -> Self {
        let mut platform = Self::seed();
        for workload in &mut platform.workloads {
            if workload.kind == WorkloadKind::Deployment {
                workload.replicas = 1;
            }
        }
        platform.zones = vec!["dr-zone-a".into(), "dr-zone-b".into()];
        platform.nodes_per_zone = 2;
        platform
    }

    /// An empty platform (nodes but no workloads) over `zones` x `nodes_per_zone`.
    pub fn nodes_only(zones: Vec<String>, nodes_per_zone: u32) -> Self {
        Self {
            zones,
            nodes_per_zone,
            workloads: Vec::new(),
        }
    }

    /// Reads a platform file (YAML, format in the crate docs).
    pub fn from_file(path: &Path) -> Result<Self, SandboxError> {
        let text = std::fs::read_to_string(path).map_err(|source| SandboxError::ReadPlatform {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml(&text, path)
    }

    /// Parses platform YAML; `origin` names the file in errors.
    pub fn from_yaml(text: &str, origin: &Path) -> Result<Self, SandboxError> {
        let options = serde_saphyr::options! { strict_booleans: true };
        let raw: RawPlatform =
            serde_saphyr::from_str_with_options(text, options).map_err(|error| {
                SandboxError::InvalidPlatform {
                    path: origin.to_owned(),
                    message: error.to_string(),
                }
            })?;
        resolve(raw, origin)
    }

    /// The namespaces the workloads live in, deduplicated, in order.
    pub fn namespaces(&self) -> Vec<&str> {
        let mut namespaces: Vec<&str> = Vec::new();
        for workload in &self.workloads {
            if !namespaces.contains(&workload.namespace.as_str()) {
                namespaces.push(&workload.namespace);
            }
        }
        namespaces
    }
}

fn resolve(raw: RawPlatform, origin: &Path) -> Result<Platform, SandboxError> {
    let invalid = |message: String| SandboxError::InvalidPlatform {
        path: PathBuf::from(origin),
        message,
    };
    let namespace = raw.namespace.unwrap_or_else(|| SEED_NAMESPACE.to_owned());
    let zones = raw
        .zones
        .unwrap_or_else(|| vec!["zone-a".into(), "zone-b".into(), "zone-c".into()]);
    if zones.is_empty() {
        return Err(invalid("zones: at least one zone is needed".to_owned()));
    }
    let nodes_per_zone = raw.nodes_per_zone.unwrap_or(3);
    if nodes_per_zone == 0 {
        return Err(invalid("nodesPerZone: must be at least 1".to_owned()));
    }
    let mut workloads = Vec::new();
    let mut seen = Vec::new();
    let all = raw
        .deployments
        .into_iter()
        .map(|w| (WorkloadKind::Deployment, w))
        .chain(
            raw.statefulsets
                .into_iter()
                .map(|w| (WorkloadKind::StatefulSet, w)),
        );
    for (kind, raw_workload) in all {
        let section = match kind {
            WorkloadKind::Deployment => "deployments",
            WorkloadKind::StatefulSet => "statefulsets",
        };
        let name = raw_workload.name;
        if !crate::names::valid_name(&name) || name.contains('.') {
            return Err(invalid(format!(
                "{section}.{name}: name must be a lowercase DNS label"
            )));
        }
        let namespace = raw_workload.namespace.unwrap_or_else(|| namespace.clone());
        if seen.contains(&(namespace.clone(), name.clone())) {
            return Err(invalid(format!(
                "{section}.{name}: a workload of this name already exists in namespace {namespace}"
            )));
        }
        seen.push((namespace.clone(), name.clone()));
        let start_delay = match raw_workload.start_delay {
            Some(text) => Some(
                humantime::parse_duration(&text)
                    .map_err(|error| invalid(format!("{section}.{name}.startDelay: {error}")))?,
            ),
            None => None,
        };
        let budget = match raw_workload.pdb {
            None => None,
            Some(RawPdb {
                max_unavailable: Some(n),
                min_available: None,
            }) => Some(Budget::MaxUnavailable(n)),
            Some(RawPdb {
                max_unavailable: None,
                min_available: Some(n),
            }) => Some(Budget::MinAvailable(n)),
            Some(_) => {
                return Err(invalid(format!(
                    "{section}.{name}.pdb: set exactly one of maxUnavailable and minAvailable"
                )));
            }
        };
        let exec = match (raw_workload.exec, raw_workload.env) {
            (Some(RawExecMode::Local), env) => ExecMode::Local {
                env: env
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(key, value)| (key, value.into_text()))
                    .collect(),
            },
            (_, Some(_)) => {
                return Err(invalid(format!(
                    "{section}.{name}.env: only a workload with `exec: local` takes env"
                )));
            }
            (Some(RawExecMode::Simulated) | None, None) => ExecMode::Simulated,
        };
        let topics = match raw_workload.topics {
            None => None,
            Some(raw_topics) => Some(resolve_topics(raw_topics, section, &name, &invalid)?),
        };
        let catch_up_delay = match raw_workload.catch_up_delay {
            Some(text) => Some(
                humantime::parse_duration(&text)
                    .map_err(|error| invalid(format!("{section}.{name}.catchUpDelay: {error}")))?,
            ),
            None => None,
        };
        let at = format!("{section}.{name}");
        let consumer_groups = match raw_workload.consumer_groups {
            None => Vec::new(),
            Some(raw_groups) => {
                let declared = topics.clone().unwrap_or_else(Topic::defaults);
                resolve_groups(raw_groups, &declared, &at, &invalid)?
            }
        };
        let backups = resolve_backups(raw_workload.backups.unwrap_or_default(), &at, &invalid)?;
        let process = match raw_workload.process {
            None => None,
            Some(raw_process) => Some(resolve_process(
                raw_process,
                &ProcessContext {
                    at: format!("{section}.{name}"),
                    replicas: raw_workload.replicas.unwrap_or(3),
                    simulated: topics.is_some()
                        || catch_up_delay.is_some()
                        || !consumer_groups.is_empty()
                        || !backups.is_empty(),
                },
                &invalid,
            )?),
        };
        let default_labels = match kind {
            WorkloadKind::Deployment => ("app.kubernetes.io/name".to_owned(), name.clone()),
            WorkloadKind::StatefulSet => ("app".to_owned(), name.clone()),
        };
        let labels = raw_workload
            .labels
            .unwrap_or_else(|| BTreeMap::from([default_labels]));
        if labels.is_empty() {
            return Err(invalid(format!(
                "{section}.{name}.labels: at least one label is needed to select the pods"
            )));
        }
        workloads.push(Workload {
            kind,
            image: raw_workload
                .image
                .unwrap_or_else(|| format!("registry.example.com/{namespace}/{name}:1.0.0")),
            namespace,
            replicas: raw_workload.replicas.unwrap_or(3),
            labels,
            port: raw_workload.port.unwrap_or(8080),
            service: raw_workload.service.unwrap_or(true),
            budget,
            start_delay,
            exec,
            topics,
            catch_up_delay,
            consumer_groups,
            backups,
            process,
            name,
        });
    }
    Ok(Platform {
        zones,
        nodes_per_zone,
        workloads,
    })
}

/// Where a `process:` entry sits and what else its workload declares.
struct ProcessContext {
    at: String,
    replicas: u32,
    /// Whether it declares the state of a simulated server (topics, consumer groups, a
    /// catch-up delay, backups).
    simulated: bool,
}

/// Checks a `process:` entry. Refused: an empty command; more than one replica (every
/// pod would run the same command on the same port, so all but one would crash-loop);
/// Kafka topics, consumer groups, a catch-up delay or Cassandra backups (the state of a
/// simulated server, which a real process is not); a readiness port of 0.
fn resolve_process(
    raw: RawProcess,
    context: &ProcessContext,
    invalid: &dyn Fn(String) -> SandboxError,
) -> Result<ProcessSpec, SandboxError> {
    let at = &context.at;
    // Words may be written as numbers (`--port, 6391`): each is taken as its text.
    let command: Vec<String> = raw.command.into_iter().map(Scalar::into_text).collect();
    if command.first().is_none_or(|program| program.is_empty()) {
        return Err(invalid(format!(
            "{at}.process.command: name the program to run (and its arguments)"
        )));
    }
    if context.replicas > 1 {
        return Err(invalid(format!(
            "{at}.process: a process workload has at most 1 replica (each pod would run the same command on the same port), not {}",
            context.replicas
        )));
    }
    if context.simulated {
        return Err(invalid(format!(
            "{at}.process: topics, consumerGroups, catchUpDelay and backups describe simulated Kafka brokers and Cassandra nodes; a process workload runs a real server"
        )));
    }
    if raw.ready.as_ref().is_some_and(|ready| ready.tcp == 0) {
        return Err(invalid(format!(
            "{at}.process.ready.tcp: a port from 1 to 65535"
        )));
    }
    Ok(ProcessSpec {
        command,
        env: raw
            .env
            .unwrap_or_default()
            .into_iter()
            .map(|(key, value)| (key, value.into_text()))
            .collect(),
        ready_tcp: raw.ready.map(|ready| ready.tcp),
    })
}

fn resolve_topics(
    raw_topics: Vec<RawTopic>,
    section: &str,
    workload: &str,
    invalid: &dyn Fn(String) -> SandboxError,
) -> Result<Vec<Topic>, SandboxError> {
    let mut topics: Vec<Topic> = Vec::new();
    for raw in raw_topics {
        let at = format!("{section}.{workload}.topics.{}", raw.name);
        let legal = !raw.name.is_empty()
            && raw.name.len() <= 249
            && raw
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !legal {
            return Err(invalid(format!(
                "{at}: a topic name is 1 to 249 characters of a-z, A-Z, 0-9, '.', '_' and '-'"
            )));
        }
        if topics.iter().any(|t| t.name == raw.name) {
            return Err(invalid(format!("{at}: the topic is declared twice")));
        }
        let partitions = raw.partitions.unwrap_or(1);
        let replication_factor = raw.replication_factor.unwrap_or(3);
        if partitions == 0 || replication_factor == 0 {
            return Err(invalid(format!(
                "{at}: partitions and replicationFactor must be at least 1"
            )));
        }
        let message_interval = match raw.message_interval {
            Some(text) => humantime::parse_duration(&text)
                .map_err(|error| invalid(format!("{at}.messageInterval: {error}")))?,
            None => MESSAGE_INTERVAL,
        };
        topics.push(Topic {
            name: raw.name,
            partitions,
            replication_factor,
            configs: raw
                .configs
                .unwrap_or_default()
                .into_iter()
                .map(|(key, value)| (key, value.into_text()))
                .collect(),
            messages: raw.messages.unwrap_or(0),
            message_interval,
            assignment: None,
        });
    }
    Ok(topics)
}

fn resolve_groups(
    raw_groups: Vec<RawConsumerGroup>,
    topics: &[Topic],
    at: &str,
    invalid: &dyn Fn(String) -> SandboxError,
) -> Result<Vec<ConsumerGroup>, SandboxError> {
    let mut groups: Vec<ConsumerGroup> = Vec::new();
    for raw in raw_groups {
        let at = format!("{at}.consumerGroups.{}", raw.name);
        if raw.name.is_empty() {
            return Err(invalid(format!("{at}: a group needs a name")));
        }
        if !topics.iter().any(|t| t.name == raw.topic) {
            return Err(invalid(format!(
                "{at}.topic: {} is not one of the workload's topics",
                raw.topic
            )));
        }
        if groups.iter().any(|g| g.name == raw.name) {
            return Err(invalid(format!("{at}: the group is declared twice")));
        }
        groups.push(ConsumerGroup {
            name: raw.name,
            topic: raw.topic,
            lag: raw.lag.unwrap_or(0),
        });
    }
    Ok(groups)
}

/// A CQL identifier the simulated `cqlsh` accepts unquoted.
fn cql_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 48
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn resolve_backups(
    raw_backups: Vec<RawBackup>,
    at: &str,
    invalid: &dyn Fn(String) -> SandboxError,
) -> Result<Vec<Backup>, SandboxError> {
    let mut backups: Vec<Backup> = Vec::new();
    for raw in raw_backups {
        let at = format!("{at}.backups.{}", raw.path);
        let path = raw.path.trim_end_matches('/').to_owned();
        if !path.starts_with('/') || path.len() < 2 || path.contains("//") {
            return Err(invalid(format!("{at}: the path must be absolute")));
        }
        if backups.iter().any(|b| b.path == path) {
            return Err(invalid(format!("{at}: the backup is declared twice")));
        }
        if !cql_identifier(&raw.keyspace) {
            return Err(invalid(format!(
                "{at}.keyspace: a keyspace name is a lowercase identifier (a-z, 0-9, _)"
            )));
        }
        let age = match raw.age {
            Some(text) => humantime::parse_duration(&text)
                .map_err(|error| invalid(format!("{at}.age: {error}")))?,
            None => Duration::from_secs(3600),
        };
        let mut tables: Vec<BackupTable> = Vec::new();
        for table in raw.tables {
            if !cql_identifier(&table.name) || tables.iter().any(|t| t.name == table.name) {
                return Err(invalid(format!(
                    "{at}.tables.{}: a table name is a lowercase identifier, once per backup",
                    table.name
                )));
            }
            tables.push(BackupTable {
                name: table.name,
                rows: table.rows,
                columns: table.columns.unwrap_or_else(|| BACKUP_COLUMNS.to_owned()),
            });
        }
        backups.push(Backup {
            path,
            keyspace: raw.keyspace,
            replication: raw
                .replication
                .unwrap_or_else(|| BACKUP_REPLICATION.to_owned()),
            age,
            tables,
        });
    }
    Ok(backups)
}

/// The objects that make up a platform, ready for the store: `(plural, object)` in
/// creation order (namespaces first).
pub fn objects(platform: &Platform) -> Vec<(&'static str, Value)> {
    let mut objects = Vec::new();
    for namespace in ["default", "kube-system", "kube-node-lease"]
        .into_iter()
        .chain(platform.namespaces())
    {
        if objects
            .iter()
            .any(|(_, o): &(&str, Value)| crate::object::name(o) == namespace)
        {
            continue;
        }
        objects.push((
            "namespaces",
            json!({"metadata": {"name": namespace, "labels": {"kubernetes.io/metadata.name": namespace}},
                   "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
        ));
    }
    objects.push((
        "services",
        json!({"metadata": {"name": "kubernetes", "namespace": "default",
                            "labels": {"component": "apiserver", "provider": "kubernetes"}},
               "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1",
                        "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}}),
    ));
    let mut index = 0u32;
    for (zone_index, zone) in platform.zones.iter().enumerate() {
        for n in 1..=platform.nodes_per_zone {
            index += 1;
            objects.push((
                "nodes",
                node(&format!("{zone}-node-{n}"), zone, zone_index, index),
            ));
        }
    }
    for (service_index, workload) in platform.workloads.iter().enumerate() {
        objects.extend(workload_objects(workload, service_index));
    }
    objects
}

/// A Ready node in a zone; `index` makes its addresses unique.
pub fn node(name: &str, zone: &str, zone_index: usize, index: u32) -> Value {
    json!({
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": "sandbox.standard-8",
                "topology.kubernetes.io/region": "sandbox",
                "topology.kubernetes.io/zone": zone,
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"podCIDR": format!("10.244.{}.0/24", index % 256), "providerID": format!("sandbox://{name}")},
        "status": {
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": "7910m", "memory": "31Gi", "pods": "110", "ephemeral-storage": "95Gi"},
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure"},
                {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID"},
                {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"},
            ],
            "addresses": [
                {"type": "InternalIP", "address": format!("10.0.{}.{}", zone_index, index % 250 + 4)},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": "",
                "containerRuntimeVersion": "containerd://1.7.24",
                "kernelVersion": "6.1.0-sandbox",
                "kubeProxyVersion": "v1.33.0",
                "kubeletVersion": "v1.33.0",
                "machineID": "",
                "operatingSystem": "linux",
                "osImage": "firedrill sandbox",
                "systemUUID": "",
            },
        },
    })
}

fn workload_objects(workload: &Workload, service_index: usize) -> Vec<(&'static str, Value)> {
    let mut objects = Vec::new();
    let labels: serde_json::Map<String, Value> = workload
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let port_name = match workload.kind {
        WorkloadKind::Deployment => "http".to_owned(),
        WorkloadKind::StatefulSet => {
            format!("{}-port", &workload.name[..workload.name.len().min(9)])
        }
    };
    let mut annotations = serde_json::Map::new();
    if let Some(delay) = workload.start_delay {
        annotations.insert(
            START_DELAY_ANNOTATION.to_owned(),
            Value::String(humantime::format_duration(delay).to_string()),
        );
    }
    // A process pod's readiness is what the kubelet checks: its TCP port, or nothing.
    let readiness = match &workload.process {
        None => json!({"httpGet": {"path": "/ready", "port": workload.port}, "periodSeconds": 5}),
        Some(ProcessSpec {
            ready_tcp: Some(port),
            ..
        }) => json!({"tcpSocket": {"port": port}, "periodSeconds": 1}),
        Some(_) => Value::Null,
    };
    let mut template = json!({
        "metadata": {"labels": labels, "annotations": annotations},
        "spec": {
            "containers": [{
                "name": workload.name,
                "image": workload.image,
                "ports": [{"name": port_name, "containerPort": workload.port, "protocol": "TCP"}],
                "readinessProbe": readiness,
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                "imagePullPolicy": "IfNotPresent",
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            }],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
        },
    });
    if let Some(container) = template.pointer_mut("/spec/containers/0")
        && let Some(fields) = container.as_object_mut()
    {
        if let Some(process) = &workload.process {
            fields.insert("command".to_owned(), json!(process.command));
        }
        if fields.get("readinessProbe").is_some_and(Value::is_null) {
            fields.remove("readinessProbe");
        }
    }
    let metadata =
        json!({"name": workload.name, "namespace": workload.namespace, "labels": labels});
    match workload.kind {
        WorkloadKind::Deployment => objects.push((
            "deployments",
            json!({
                "metadata": metadata,
                "spec": {
                    "replicas": workload.replicas,
                    "selector": {"matchLabels": labels},
                    "template": template,
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                    "revisionHistoryLimit": 10,
                    "progressDeadlineSeconds": 600,
                },
            }),
        )),
        WorkloadKind::StatefulSet => objects.push((
            "statefulsets",
            json!({
                "metadata": metadata,
                "spec": {
                    "replicas": workload.replicas,
                    "selector": {"matchLabels": labels},
                    "serviceName": workload.name,
                    "template": template,
                    "podManagementPolicy": "OrderedReady",
                    "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                    "revisionHistoryLimit": 10,
                },
            }),
        )),
    }
    if workload.service {
        let cluster_ip = match workload.kind {
            // Statefulsets get headless services, as their peers address pods directly.
            WorkloadKind::StatefulSet => Value::String("None".to_owned()),
            WorkloadKind::Deployment => Value::String(format!(
                "10.96.{}.{}",
                (service_index / 250) % 256,
                service_index % 250 + 2
            )),
        };
        objects.push((
            "services",
            json!({
                "metadata": {"name": workload.name, "namespace": workload.namespace, "labels": labels},
                "spec": {
                    "type": "ClusterIP",
                    "clusterIP": cluster_ip,
                    "selector": labels,
                    "ports": [{"name": port_name, "port": workload.port, "targetPort": workload.port, "protocol": "TCP"}],
                    "sessionAffinity": "None",
                },
            }),
        ));
    }
    if let Some(budget) = workload.budget {
        let (field, value) = match budget {
            Budget::MaxUnavailable(n) => ("maxUnavailable", n),
            Budget::MinAvailable(n) => ("minAvailable", n),
        };
        objects.push((
            "poddisruptionbudgets",
            json!({
                "metadata": {"name": workload.name, "namespace": workload.namespace, "labels": labels},
                "spec": {"selector": {"matchLabels": labels}, field: value},
            }),
        ));
    }
    objects
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_workload_runs_its_command_and_is_probed_on_its_tcp_port()
    -> Result<(), SandboxError> {
        let platform = Platform::from_yaml(
            "statefulsets:\n  - name: redis\n    replicas: 1\n    port: 6391\n    exec: local\n    process:\n      command: [redis-server, --port, 6391, --save, '']\n      env: {TZ: UTC}\n      ready: {tcp: 6391}\n",
            Path::new("platform.yaml"),
        )?;
        let redis = &platform.workloads[0];
        assert_eq!(
            redis.process,
            Some(ProcessSpec {
                command: ["redis-server", "--port", "6391", "--save", ""]
                    .map(String::from)
                    .to_vec(),
                env: BTreeMap::from([("TZ".to_owned(), "UTC".to_owned())]),
                ready_tcp: Some(6391),
            })
        );
        let objects = objects(&platform);
        let (_, statefulset) = objects
            .iter()
            .find(|(plural, _)| *plural == "statefulsets")
            .ok_or_else(|| SandboxError::Seed("no statefulset".into()))?;
        let container = &statefulset["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["command"][0], "redis-server");
        assert_eq!(container["readinessProbe"]["tcpSocket"]["port"], 6391);
        Ok(())
    }

    #[test]
    fn a_process_workload_refuses_replicas_kafka_fields_and_an_empty_command() {
        let message = |yaml: &str| {
            Platform::from_yaml(yaml, Path::new("p.yaml"))
                .map(|_| String::new())
                .unwrap_or_else(|e| e.to_string())
        };
        let replicas =
            message("statefulsets:\n  - name: db\n    process: {command: [sleep, '9']}\n");
        assert!(
            replicas.contains("statefulsets.db.process") && replicas.contains("at most 1"),
            "{replicas}"
        );
        let kafka = message(
            "statefulsets:\n  - name: kafka\n    replicas: 1\n    catchUpDelay: 1s\n    process: {command: [sleep, '9']}\n",
        );
        assert!(kafka.contains("simulated Kafka"), "{kafka}");
        let empty =
            message("deployments:\n  - name: web\n    replicas: 1\n    process: {command: []}\n");
        assert!(empty.contains("deployments.web.process.command"), "{empty}");
        let port = message(
            "deployments:\n  - name: web\n    replicas: 0\n    process: {command: [sleep, '9'], ready: {tcp: 0}}\n",
        );
        assert!(port.contains("process.ready.tcp"), "{port}");
        let unknown = message(
            "deployments:\n  - name: web\n    replicas: 1\n    process: {command: [sleep], shell: true}\n",
        );
        assert!(unknown.contains("shell"), "{unknown}");
    }

    #[test]
    fn the_seed_has_six_services_six_statefulsets_and_nine_nodes() {
        let seed = Platform::seed();
        let objects = objects(&seed);
        let count = |plural: &str| objects.iter().filter(|(p, _)| *p == plural).count();
        assert_eq!(count("nodes"), 9);
        assert_eq!(count("deployments"), 6);
        assert_eq!(count("statefulsets"), 6);
        assert_eq!(count("poddisruptionbudgets"), 6);
        assert_eq!(count("services"), 13);
    }

    #[test]
    fn the_seed_kafka_has_rim_fast_path_and_a_group_and_cassandra_a_backup() {
        let seed = Platform::seed();
        let kafka = seed.workloads.iter().find(|w| w.name == "kafka");
        let topics = kafka.and_then(|w| w.topics.clone()).unwrap_or_default();
        let fast_path = topics.iter().find(|t| t.name == "rim.fast-path");
        assert_eq!(
            fast_path.map(|t| (t.partitions, t.replication_factor, t.messages)),
            Some((12, 3, 120))
        );
        assert_eq!(
            kafka.map(|w| w.consumer_groups.clone()).unwrap_or_default(),
            [ConsumerGroup {
                name: "perception".to_owned(),
                topic: "rim.fast-path".to_owned(),
                lag: 0
            }]
        );
        let cassandra = seed.workloads.iter().find(|w| w.name == "cassandra");
        let backups = cassandra.map(|w| w.backups.clone()).unwrap_or_default();
        assert_eq!(backups.len(), 1);
        assert_eq!(backups[0].path, "/tmp/cassandra-backup");
        assert_eq!(backups[0].tables[0].rows, 5000);
    }

    #[test]
    fn a_platform_file_declares_messages_consumer_groups_and_backups() -> Result<(), SandboxError> {
        let platform = Platform::from_yaml(
            "statefulsets:\n  - name: kafka\n    topics: [{name: t, partitions: 2, messages: 5, messageInterval: 10s}]\n    consumerGroups: [{name: g, topic: t, lag: 2}]\n  - name: cassandra\n    backups:\n      - path: /backups/2026-12-01/\n        keyspace: shop\n        age: 2h\n        tables: [{name: orders, rows: 10, columns: 'id int PRIMARY KEY'}]\n",
            Path::new("platform.yaml"),
        )?;
        let kafka = &platform.workloads[0];
        let topic = &kafka.topics.clone().unwrap_or_default()[0];
        assert_eq!(topic.messages, 5);
        assert_eq!(topic.message_interval, Duration::from_secs(10));
        assert_eq!(kafka.consumer_groups[0].lag, 2);
        let backup = &platform.workloads[1].backups[0];
        assert_eq!(backup.path, "/backups/2026-12-01");
        assert_eq!(backup.age, Duration::from_secs(7200));
        assert_eq!(backup.tables[0].columns, "id int PRIMARY KEY");
        let message = |yaml: &str| {
            Platform::from_yaml(yaml, Path::new("p.yaml"))
                .map(|_| String::new())
                .unwrap_or_else(|e| e.to_string())
        };
        let group = message(
            "statefulsets:\n  - name: kafka\n    consumerGroups: [{name: g, topic: nope}]\n",
        );
        assert!(
            group.contains("statefulsets.kafka.consumerGroups.g.topic"),
            "{group}"
        );
        let keyspace = message(
            "statefulsets:\n  - name: c\n    backups: [{path: /b, keyspace: Bad-Name, tables: []}]\n",
        );
        assert!(keyspace.contains("keyspace"), "{keyspace}");
        Ok(())
    }

    #[test]
    fn a_platform_file_overrides_the_seed() -> Result<(), SandboxError> {
        let platform = Platform::from_yaml(
            "namespace: shop\nzones: [eu-1a, eu-1b]\nnodesPerZone: 2\ndeployments:\n  - name: web\n    replicas: 4\n    startDelay: 500ms\n    pdb: {maxUnavailable: 1}\nstatefulsets:\n  - name: db\n    replicas: 1\n    port: 5432\n",
            Path::new("platform.yaml"),
        )?;
        assert_eq!(platform.zones, vec!["eu-1a", "eu-1b"]);
        assert_eq!(platform.workloads.len(), 2);
        assert_eq!(platform.workloads[0].namespace, "shop");
        assert_eq!(
            platform.workloads[0].start_delay,
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            platform.workloads[1].labels.get("app").map(String::as_str),
            Some("db")
        );
        Ok(())
    }

    #[test]
    fn a_platform_file_declares_local_exec_topics_and_a_catch_up_delay() -> Result<(), SandboxError>
    {
        let platform = Platform::from_yaml(
            "statefulsets:\n  - name: kafka\n    topics:\n      - {name: payments, partitions: 12, replicationFactor: 2, configs: {min.insync.replicas: 1, cleanup.policy: compact}}\n    catchUpDelay: 750ms\n  - name: tools\n    exec: local\n    env: {PORT: 6380, MODE: fast}\n",
            Path::new("platform.yaml"),
        )?;
        let kafka = &platform.workloads[0];
        assert_eq!(kafka.exec, ExecMode::Simulated);
        assert_eq!(kafka.catch_up_delay, Some(Duration::from_millis(750)));
        let topics = kafka.topics.clone().unwrap_or_default();
        assert_eq!(topics.len(), 1);
        assert_eq!(topics[0].partitions, 12);
        assert_eq!(topics[0].replication_factor, 2);
        assert_eq!(
            topics[0]
                .configs
                .get("min.insync.replicas")
                .map(String::as_str),
            Some("1")
        );
        assert_eq!(
            platform.workloads[1].exec,
            ExecMode::Local {
                env: BTreeMap::from([
                    ("MODE".to_owned(), "fast".to_owned()),
                    ("PORT".to_owned(), "6380".to_owned()),
                ])
            }
        );
        Ok(())
    }

    #[test]
    fn env_without_local_exec_and_bad_topics_are_errors() {
        let message = |yaml: &str| {
            Platform::from_yaml(yaml, Path::new("p.yaml"))
                .map(|_| String::new())
                .unwrap_or_else(|e| e.to_string())
        };
        let env = message("statefulsets:\n  - name: db\n    env: {A: b}\n");
        assert!(env.contains("statefulsets.db.env"), "{env}");
        let mode = message("statefulsets:\n  - name: db\n    exec: remote\n");
        assert!(mode.contains("remote"), "{mode}");
        let topic = message("statefulsets:\n  - name: kafka\n    topics: [{name: 'bad name'}]\n");
        assert!(
            topic.contains("statefulsets.kafka.topics.bad name"),
            "{topic}"
        );
        let zero =
            message("statefulsets:\n  - name: kafka\n    topics: [{name: t, partitions: 0}]\n");
        assert!(zero.contains("at least 1"), "{zero}");
    }

    #[test]
    fn unknown_fields_in_a_platform_file_are_errors_naming_the_file() {
        let error = Platform::from_yaml(
            "deployments:\n  - name: web\n    replica: 3\n",
            Path::new("p.yaml"),
        );
        let message = error
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string());
        assert!(message.contains("p.yaml"), "{message}");
        assert!(message.contains("replica"), "{message}");
    }
}
