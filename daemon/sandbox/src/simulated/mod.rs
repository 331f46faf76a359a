//! The commands `pods/exec` simulates: `nodetool status` and `repair`, `cqlsh`,
//! `sstableloader` and reading backup files on Cassandra pods, and `kafka-topics.sh`,
//! `kafka-consumer-groups.sh`, `kafka-verifiable-producer.sh` and
//! `kafka-console-consumer.sh` on Kafka pods, from a snapshot of the simulated pods
//! ([`Ring`]) and the workload's kept state ([`Logs`]: topics, messages, committed
//! offsets, keyspaces); anything else is "command not found" (exit code 127).
//!
//! Pure but for [`pods`]: [`pods::context`] builds the [`Ring`] from the store, the clock
//! and the ground truth, and [`KafkaLogs`] keeps each workload's [`Logs`] between calls;
//! the tools turn them into text and change them as the real tools change the real
//! servers (a producer appends, `--delete` drops a topic and its messages, a reset commits
//! offsets, `sstableloader` loads rows). `http::exec` calls [`run`] and sends its
//! [`Output`] over the WebSocket. Every tool that has a `--version` says there that it
//! is the sandbox's simulation ([`SIMULATED_MARK`]).
//!
//! Files: this one (the model and the dispatch), [`nodetool`], [`kafka_topics`],
//! [`kafka_clients`] (the verifiable producer and the console consumer),
//! [`kafka_groups`] (consumer groups), [`cassandra`] (`cqlsh`, `sstableloader`,
//! `nodetool repair`, the backup files), [`pods`].

pub mod cassandra;
pub mod kafka_clients;
pub mod kafka_groups;
pub mod kafka_topics;
pub mod nodetool;
pub mod pods;

use std::collections::BTreeMap;

use crate::platform::{Backup, ConsumerGroup, Topic};

pub use kafka_clients::min_insync_replicas;
use kafka_clients::{console_consumer, verifiable_producer};
use kafka_topics::kafka_topics;
pub use kafka_topics::{PartitionState, partitions};
use nodetool::nodetool;
pub use nodetool::nodetool_status;
pub(crate) use pods::owner_workload;
pub use pods::{KafkaLogs, context};

/// What a simulated command printed and how it exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The exit code (0 is success).
    pub exit_code: i32,
}

impl Output {
    fn ok(stdout: String) -> Self {
        Self {
            stdout,
            stderr: String::new(),
            exit_code: 0,
        }
    }

    fn fail(stderr: String, exit_code: i32) -> Self {
        Self {
            stdout: String::new(),
            stderr,
            exit_code,
        }
    }
}

/// Which simulated software a pod runs, from its labels or image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Software {
    /// Cassandra: `nodetool`.
    Cassandra,
    /// Kafka: `kafka-topics.sh`.
    Kafka,
    /// Anything else: no simulated tools.
    Other,
}

impl Software {
    /// Cassandra when the `app` (or `app.kubernetes.io/name`) label is `cassandra` or an
    /// image name contains `cassandra`; Kafka likewise; otherwise [`Software::Other`].
    pub fn detect<'a>(
        labels: impl Iterator<Item = (&'a str, &'a str)> + Clone,
        images: impl Iterator<Item = &'a str> + Clone,
    ) -> Self {
        let is = |software: &str| {
            labels.clone().any(|(key, value)| {
                matches!(key, "app" | "app.kubernetes.io/name") && value == software
            }) || images.clone().any(|image| image.contains(software))
        };
        if is("cassandra") {
            Self::Cassandra
        } else if is("kafka") {
            Self::Kafka
        } else {
            Self::Other
        }
    }
}

/// The state of one member (ordinal) of a workload, as its peers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// No pod of this ordinal exists.
    Missing,
    /// The pod exists but its containers have not started.
    Pending,
    /// Running, not Ready yet: starting up (a Cassandra node joining).
    Starting,
    /// Running and Ready.
    Ready,
    /// Being deleted.
    Terminating,
    /// Running but taken out of service (its node is not Ready).
    Unreachable,
}

/// One member of a workload: a statefulset ordinal and what is known of its pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The ordinal (Kafka broker id).
    pub ordinal: u32,
    /// The pod name (`cassandra-0`), stable across replacements.
    pub pod: String,
    /// Its state.
    pub state: MemberState,
    /// The pod's IP, or the last one it had, or a stable stand-in.
    pub address: String,
    /// The zone of its node, or of the last node it ran on.
    pub rack: String,
    /// Whether a Ready Kafka broker has caught up with the partition leaders (false during
    /// the catch-up delay after it became Ready again).
    pub caught_up: bool,
}

impl Member {
    fn in_sync(&self) -> bool {
        self.state == MemberState::Ready && self.caught_up
    }
}

/// The members of the workload a pod belongs to, by ordinal, and its identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ring {
    /// The workload's namespace.
    pub namespace: String,
    /// The workload's name (seeds stable ids).
    pub workload: String,
    /// Members in ordinal order, `0..replicas` (and any higher ordinal still present).
    pub members: Vec<Member>,
}

/// What a simulated command can see: the pod's software, its ring and the topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The software of the pod exec runs in.
    pub software: Software,
    /// Its workload's members.
    pub ring: Ring,
    /// The Kafka topics the platform declares (meaningful for Kafka pods; what the
    /// workload holds once [`Logs`] took them over may differ: topics are created and
    /// deleted).
    pub topics: Vec<Topic>,
    /// The consumer groups the platform declares (Kafka pods).
    pub consumer_groups: Vec<ConsumerGroup>,
    /// The backup sets the platform declares (Cassandra pods).
    pub backups: Vec<Backup>,
    /// Wall-clock time in milliseconds since the Unix epoch (the producer's timestamps).
    pub now_ms: i64,
}

/// What one simulated workload keeps between commands, as its real servers would on
/// disk: a Kafka workload's topics (created from the platform's on first use, then as
/// `kafka-topics.sh` creates and deletes them), their messages and the consumer groups'
/// committed offsets; a Cassandra workload's keyspaces. Kept by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Logs {
    /// Messages by topic name.
    topics: BTreeMap<String, TopicLog>,
    /// The topics that exist; `None` until the first Kafka command seeds them.
    catalogue: Option<Vec<Topic>>,
    /// How often each topic name was created after the platform's (its id changes).
    incarnations: BTreeMap<String, u32>,
    /// Committed offsets: group id -> (topic, partition) -> offset.
    groups: BTreeMap<String, BTreeMap<(String, u32), u64>>,
    /// The Cassandra cluster's schema and rows; `None` until the first Cassandra command.
    cassandra: Option<cassandra::Cluster>,
}

/// The messages of one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct TopicLog {
    /// Messages by partition, in offset order (offset = index: no retention runs).
    partitions: Vec<Vec<Record>>,
    /// The partition the next message goes to (the producer assigns round-robin).
    next_partition: u32,
}

/// One message: its value and its timestamp (create time, ms since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    value: String,
    timestamp_ms: i64,
}

impl Logs {
    /// The values a topic holds, partition by partition, in offset order.
    pub fn values(&self, topic: &str) -> Vec<&str> {
        self.topics
            .get(topic)
            .into_iter()
            .flat_map(|log| log.partitions.iter().flatten())
            .map(|record| record.value.as_str())
            .collect()
    }

    /// The committed offset of `group` on a partition, if any.
    pub fn committed(&self, group: &str, topic: &str, partition: u32) -> Option<u64> {
        self.groups
            .get(group)?
            .get(&(topic.to_owned(), partition))
            .copied()
    }

    /// The rows a Cassandra table holds, if the table exists.
    pub fn rows(&self, keyspace: &str, table: &str) -> Option<u64> {
        self.cassandra.as_ref()?.rows(keyspace, table)
    }

    /// Whether a Cassandra keyspace exists.
    pub fn has_keyspace(&self, keyspace: &str) -> bool {
        self.cassandra
            .as_ref()
            .is_some_and(|cluster| cluster.has_keyspace(keyspace))
    }

    /// The log end offset of a partition (0 for an empty or unknown one).
    fn log_end(&self, topic: &str, partition: u32) -> u64 {
        self.topics
            .get(topic)
            .and_then(|log| log.partitions.get(partition as usize))
            .map_or(0, |messages| messages.len() as u64)
    }

    /// The topics that exist (the platform's until the first Kafka command seeds them).
    fn catalogue<'a>(&'a self, context: &'a Context) -> &'a [Topic] {
        self.catalogue.as_deref().unwrap_or(&context.topics)
    }

    /// Takes the platform's Kafka state over on first use: its topics, each partition's
    /// preloaded messages (the newest stamped now, the others `message_interval` apart)
    /// and the consumer groups' committed offsets.
    fn seed_kafka(&mut self, context: &Context) {
        if self.catalogue.is_some() {
            return;
        }
        for topic in &context.topics {
            let interval = i64::try_from(topic.message_interval.as_millis()).unwrap_or(0);
            let partitions = (0..topic.partitions)
                .map(|partition| {
                    (0..topic.messages)
                        .map(|index| Record {
                            value: format!("{}-{partition}-{index}", topic.name),
                            timestamp_ms: context.now_ms
                                - interval * i64::from(topic.messages - 1 - index),
                        })
                        .collect()
                })
                .collect();
            self.topics.insert(
                topic.name.clone(),
                TopicLog {
                    partitions,
                    next_partition: 0,
                },
            );
        }
        for group in &context.consumer_groups {
            let Some(topic) = context.topics.iter().find(|t| t.name == group.topic) else {
                continue;
            };
            let offsets = self.groups.entry(group.name.clone()).or_default();
            for partition in 0..topic.partitions {
                let end = self
                    .topics
                    .get(&topic.name)
                    .and_then(|log| log.partitions.get(partition as usize))
                    .map_or(0, |messages| messages.len() as u64);
                offsets.insert(
                    (topic.name.clone(), partition),
                    end.saturating_sub(group.lag),
                );
            }
        }
        self.catalogue = Some(context.topics.clone());
    }
}

/// What the simulated tools add to their `--version` so that a scenario, or a person,
/// can tell the sandbox's simulation from the real software.
pub const SIMULATED_MARK: &str = "simulated by the firedrill sandbox";

const SIMULATED_HINT: &str = "the sandbox simulates `nodetool status` and `repair`, `cqlsh`, `sstableloader`, `ls` and `cat` of backup files on Cassandra pods, and `kafka-topics.sh`, `kafka-consumer-groups.sh`, `kafka-verifiable-producer.sh` and `kafka-console-consumer.sh` on Kafka pods; see the firedrill-sandbox docs, or run commands locally with `exec: local` in the platform file";

/// Runs a command against the simulated state, which the command may change as the real
/// tool changes the real servers (`logs` is the pod's workload's).
pub fn run(command: &[String], context: &Context, logs: &mut Logs) -> Output {
    let words = unwrap_shell(command);
    let Some(program) = words.first() else {
        return Output::fail("sandbox: empty command\n".to_owned(), 127);
    };
    let base = program.rsplit('/').next().unwrap_or(program);
    let args = &words[1..];
    if context.software == Software::Kafka {
        logs.seed_kafka(context);
    }
    if context.software == Software::Cassandra {
        cassandra::seed(logs, context);
    }
    // The tools below see the topics that exist now, not the platform's.
    let current;
    let context = if context.software == Software::Kafka {
        current = Context {
            topics: logs.catalogue(context).to_vec(),
            ..context.clone()
        };
        &current
    } else {
        context
    };
    match (base, context.software) {
        ("nodetool", Software::Cassandra) if cassandra::is_repair(args) => {
            cassandra::nodetool_repair(args, context, logs)
        }
        ("nodetool", Software::Cassandra) => nodetool(args, &context.ring),
        ("cqlsh", Software::Cassandra) => cassandra::cqlsh(args, context, logs),
        ("sstableloader", Software::Cassandra) => cassandra::sstableloader(args, context, logs),
        ("ls" | "cat", Software::Cassandra) => cassandra::files(base, args, context, logs),
        ("kafka-topics.sh" | "kafka-topics", Software::Kafka) => kafka_topics(args, context, logs),
        ("kafka-consumer-groups.sh" | "kafka-consumer-groups", Software::Kafka) => {
            kafka_groups::consumer_groups(args, context, logs)
        }
        ("kafka-verifiable-producer.sh" | "kafka-verifiable-producer", Software::Kafka) => {
            verifiable_producer(args, context, logs)
        }
        ("kafka-console-consumer.sh" | "kafka-console-consumer", Software::Kafka) => {
            console_consumer(args, context, logs)
        }
        _ => Output::fail(
            format!("sandbox: {program}: command not found ({SIMULATED_HINT})\n"),
            127,
        ),
    }
}

/// `sh -c "nodetool status"` runs `nodetool status` when the script is a plain command
/// (no pipes, redirections, variables or quoting); anything else stays as it is.
fn unwrap_shell(command: &[String]) -> Vec<String> {
    if let [shell, flag, script] = command {
        let shell_name = shell.rsplit('/').next().unwrap_or(shell);
        let plain = !script.chars().any(|c| "|&;<>$`'\"\\(){}*?~#\n".contains(c));
        if matches!(shell_name, "sh" | "bash") && flag == "-c" && plain {
            return script.split_whitespace().map(str::to_owned).collect();
        }
    }
    command.to_vec()
}

/// A 64-bit FNV-1a hash of `text` with a seed: stable ids without a crypto dependency.
fn stable_hash(seed: u64, text: &str) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64's finaliser: names differing in one character get unrelated ids.
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// Sixteen stable bytes derived from `text`.
fn stable_bytes(text: &str) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&stable_hash(1, text).to_be_bytes());
    bytes[8..].copy_from_slice(&stable_hash(2, text).to_be_bytes());
    bytes
}

/// A stable version-4-shaped UUID derived from `text` (a Cassandra host ID).
pub fn stable_uuid(text: &str) -> String {
    let mut b = stable_bytes(text);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A stable Kafka topic id: 16 bytes in unpadded URL-safe base64 (22 characters).
pub fn stable_topic_id(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = stable_bytes(text);
    let mut out = String::with_capacity(22);
    let mut buffer = 0u32;
    let mut bits = 0u32;
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(char::from(ALPHABET[((buffer >> bits) & 63) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (6 - bits)) & 63) as usize]));
    }
    out
}

/// A stand-in address for a member whose pod never had an IP.
pub fn stand_in_address(ordinal: u32) -> String {
    format!("10.255.{}.{}", ordinal / 250, ordinal % 250 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn ring(states: &[(MemberState, bool)]) -> Ring {
        Ring {
            namespace: "butterfly".to_owned(),
            workload: "kafka".to_owned(),
            members: states
                .iter()
                .enumerate()
                .map(|(ordinal, (state, caught_up))| Member {
                    ordinal: ordinal as u32,
                    pod: format!("kafka-{ordinal}"),
                    state: *state,
                    address: format!("10.244.0.{}", ordinal + 1),
                    rack: format!("zone-{}", ["a", "b", "c"][ordinal % 3]),
                    caught_up: *caught_up,
                })
                .collect(),
        }
    }

    pub(super) fn command(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    pub(super) fn kafka(states: &[(MemberState, bool)]) -> Context {
        Context {
            software: Software::Kafka,
            ring: ring(states),
            topics: Topic::defaults(),
            consumer_groups: Vec::new(),
            backups: Vec::new(),
            now_ms: 1_700_000_000_000,
        }
    }

    pub(super) const UP: (MemberState, bool) = (MemberState::Ready, true);

    #[test]
    fn nodetool_is_not_found_on_a_kafka_pod() {
        let output = run(
            &command("nodetool status"),
            &kafka(&[UP]),
            &mut Logs::default(),
        );
        assert_eq!(output.exit_code, 127);
        assert!(
            output
                .stderr
                .starts_with("sandbox: nodetool: command not found (")
        );
    }

    #[test]
    fn a_plain_sh_c_script_runs_the_simulated_command() {
        let output = run(
            &[
                "sh".to_owned(),
                "-c".to_owned(),
                "kafka-topics.sh --list".to_owned(),
            ],
            &kafka(&[UP]),
            &mut Logs::default(),
        );
        assert_eq!(output.stdout, "firedrill-canary\norders\n");
        let piped = run(
            &[
                "sh".to_owned(),
                "-c".to_owned(),
                "kafka-topics.sh --list | wc -l".to_owned(),
            ],
            &kafka(&[UP]),
            &mut Logs::default(),
        );
        assert_eq!(piped.exit_code, 127);
        assert!(piped.stderr.starts_with("sandbox: sh: command not found"));
    }

    #[test]
    fn stable_ids_are_stable_and_distinct() {
        assert_eq!(stable_uuid("a/cassandra-0"), stable_uuid("a/cassandra-0"));
        assert_ne!(stable_uuid("a/cassandra-0"), stable_uuid("a/cassandra-1"));
        let uuid = stable_uuid("a/cassandra-0");
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
        let other = stable_uuid("a/cassandra-1");
        let shared = uuid
            .chars()
            .zip(other.chars())
            .filter(|(a, b)| a == b)
            .count();
        assert!(shared < 20, "{uuid} and {other} look alike");
    }
}
