//! The commands `pods/exec` simulates: `nodetool status` on Cassandra pods, and
//! `kafka-topics.sh --describe`/`--list`, `kafka-verifiable-producer.sh` and
//! `kafka-console-consumer.sh` on Kafka pods, from a snapshot of the simulated pods
//! ([`Ring`]) and the messages the topics hold ([`Logs`]); anything else is "command not
//! found" (exit code 127).
//!
//! Pure: the exec module builds the [`Ring`] from the store, the clock and the ground
//! truth, and keeps each workload's [`Logs`] between calls; this module only turns them
//! into the tools' text (the producer appends what it got acknowledged to the logs).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::platform::Topic;

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
    /// The Kafka topics (meaningful for Kafka pods).
    pub topics: Vec<Topic>,
    /// Wall-clock time in milliseconds since the Unix epoch (the producer's timestamps).
    pub now_ms: i64,
}

/// The messages one Kafka workload's topics hold, by topic name; kept by the caller
/// between commands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Logs {
    topics: BTreeMap<String, TopicLog>,
}

/// The messages of one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct TopicLog {
    /// Values by partition, in offset order.
    partitions: Vec<Vec<String>>,
    /// The partition the next message goes to (the producer assigns round-robin).
    next_partition: u32,
}

impl Logs {
    /// The values a topic holds, partition by partition, in offset order.
    pub fn values(&self, topic: &str) -> Vec<&str> {
        self.topics
            .get(topic)
            .into_iter()
            .flat_map(|log| log.partitions.iter().flatten())
            .map(String::as_str)
            .collect()
    }
}

const SIMULATED_HINT: &str = "the sandbox simulates `nodetool status` on Cassandra pods, and `kafka-topics.sh --describe` or `--list`, `kafka-verifiable-producer.sh` and `kafka-console-consumer.sh` on Kafka pods; see the firedrill-sandbox docs, or run commands locally with `exec: local` in the platform file";

/// Runs a command against the simulated state; the Kafka producer appends the messages
/// it got acknowledged to `logs` (the pod's workload's).
pub fn run(command: &[String], context: &Context, logs: &mut Logs) -> Output {
    let words = unwrap_shell(command);
    let Some(program) = words.first() else {
        return Output::fail("sandbox: empty command\n".to_owned(), 127);
    };
    let base = program.rsplit('/').next().unwrap_or(program);
    let args = &words[1..];
    match (base, context.software) {
        ("nodetool", Software::Cassandra) => nodetool(args, &context.ring),
        ("kafka-topics.sh" | "kafka-topics", Software::Kafka) => {
            kafka_topics(args, &context.ring, &context.topics)
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

// ----- nodetool -----

/// The replication factor `Owns (effective)` assumes (the runbook's keyspaces use 3).
const CASSANDRA_REPLICATION: usize = 3;
/// Cassandra 4's default `num_tokens`.
const CASSANDRA_TOKENS: u32 = 16;

fn nodetool(args: &[String], ring: &Ring) -> Output {
    let mut rest = args.iter();
    let mut positional = Vec::new();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "-h" | "--host" | "-p" | "--port" | "-u" | "--username" | "-pw" | "--password"
            | "-pwf" | "--password-file" => {
                rest.next();
            }
            "-r" | "--resolve-ip" | "-pp" | "--print-port" => {}
            flag if flag.starts_with("--") && flag.contains('=') => {}
            _ => positional.push(arg.as_str()),
        }
    }
    match positional.as_slice() {
        ["status"] | ["status", _] => Output::ok(nodetool_status(ring)),
        [] => Output::fail(
            "sandbox: nodetool needs a command; the sandbox simulates `nodetool status`\n"
                .to_owned(),
            1,
        ),
        [command, ..] => Output::fail(
            format!(
                "sandbox: nodetool {command} is not simulated; the sandbox simulates `nodetool status`\n"
            ),
            1,
        ),
    }
}

/// `nodetool status` of one datacenter, `dc1`, in Cassandra 4's layout.
pub fn nodetool_status(ring: &Ring) -> String {
    let nodes = ring.members.len().max(1);
    let owns = 100.0 * CASSANDRA_REPLICATION.min(nodes) as f64 / nodes as f64;
    let mut rows: Vec<[String; 7]> = vec![[
        "--".to_owned(),
        "Address".to_owned(),
        "Load".to_owned(),
        "Tokens".to_owned(),
        "Owns (effective)".to_owned(),
        "Host ID".to_owned(),
        "Rack".to_owned(),
    ]];
    for member in &ring.members {
        let status = match member.state {
            MemberState::Ready => "UN",
            MemberState::Starting => "UJ",
            MemberState::Missing
            | MemberState::Pending
            | MemberState::Terminating
            | MemberState::Unreachable => "DN",
        };
        let identity = format!("{}/{}", ring.namespace, member.pod);
        let load_mib = 200 + stable_hash(3, &identity) % 800;
        rows.push([
            status.to_owned(),
            member.address.clone(),
            format!("{load_mib}.{:02} MiB", stable_hash(4, &identity) % 100),
            CASSANDRA_TOKENS.to_string(),
            format!("{owns:.1}%"),
            stable_uuid(&identity),
            member.rack.clone(),
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let datacenter = "Datacenter: dc1";
    let mut out = format!(
        "{datacenter}\n{}\nStatus=Up/Down\n|/ State=Normal/Leaving/Joining/Moving\n",
        "=".repeat(datacenter.len())
    );
    for row in &rows {
        let mut line = String::new();
        for (index, cell) in row.iter().enumerate() {
            if index + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[index]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push('\n');
    out
}

// ----- kafka-topics.sh -----

/// One partition as `--describe` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    /// The partition number.
    pub partition: u32,
    /// The leader's broker id, `None` when no replica is in sync.
    pub leader: Option<u32>,
    /// Broker ids holding a replica, preferred leader first.
    pub replicas: Vec<u32>,
    /// The in-sync replicas, in replica order.
    pub isr: Vec<u32>,
}

/// The partitions of a topic over the ring: partition `p` on brokers
/// `(p + i) % n` for `i` in `0..rf` (rf capped at `n`); a replica is in sync while its
/// broker is Ready and caught up; the leader is the first in-sync replica.
pub fn partitions(topic: &Topic, ring: &Ring) -> Vec<PartitionState> {
    let brokers = ring.members.len() as u32;
    let factor = topic.replication_factor.min(brokers);
    (0..topic.partitions)
        .map(|partition| {
            let replicas: Vec<u32> = (0..factor)
                .map(|i| (partition + i) % brokers.max(1))
                .collect();
            let isr: Vec<u32> = replicas
                .iter()
                .copied()
                .filter(|broker| {
                    ring.members
                        .iter()
                        .find(|m| m.ordinal == *broker)
                        .is_some_and(Member::in_sync)
                })
                .collect();
            PartitionState {
                partition,
                leader: isr.first().copied(),
                replicas,
                isr,
            }
        })
        .collect()
}

fn join_ids(ids: &[u32]) -> String {
    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// Which partitions `--describe` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartitionFilter {
    All,
    UnderReplicated,
    Unavailable,
}

fn kafka_topics(args: &[String], ring: &Ring, topics: &[Topic]) -> Output {
    let mut action: Option<&str> = None;
    let mut topic_filter: Option<String> = None;
    let mut filter = PartitionFilter::All;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value)),
            _ => (arg.as_str(), None),
        };
        let mut value = || inline.map(str::to_owned).or_else(|| rest.next().cloned());
        match flag {
            "--describe" | "--list" | "--create" | "--alter" | "--delete" => {
                if action.is_some_and(|a| a != flag) {
                    return Output::fail(
                        "Command must include exactly one action: --list, --describe, --create, --alter or --delete\n"
                            .to_owned(),
                        1,
                    );
                }
                action = Some(flag);
            }
            "--bootstrap-server" | "--command-config" => {
                if value().is_none() {
                    return Output::fail(format!("Option {flag} requires an argument\n"), 1);
                }
            }
            "--topic" => match value() {
                Some(name) => topic_filter = Some(name),
                None => return Output::fail("Option --topic requires an argument\n".to_owned(), 1),
            },
            "--under-replicated-partitions" => filter = PartitionFilter::UnderReplicated,
            "--unavailable-partitions" => filter = PartitionFilter::Unavailable,
            "--exclude-internal" => {}
            other => {
                return Output::fail(
                    format!(
                        "sandbox: kafka-topics.sh: {other} is not a recognized option here ({SIMULATED_HINT})\n"
                    ),
                    1,
                );
            }
        }
    }
    let selected: Vec<&Topic> = {
        let mut selected: Vec<&Topic> = topics
            .iter()
            .filter(|t| topic_filter.as_deref().is_none_or(|name| t.name == name))
            .collect();
        selected.sort_by(|a, b| a.name.cmp(&b.name));
        selected
    };
    if let Some(name) = &topic_filter
        && selected.is_empty()
        && matches!(action, Some("--describe" | "--alter" | "--delete"))
    {
        return Output::fail(
            format!(
                "Error while executing topic command : Topic '{name}' does not exist as expected\n"
            ),
            1,
        );
    }
    match action {
        Some("--list") => Output::ok(
            selected
                .iter()
                .map(|t| format!("{}\n", t.name))
                .collect::<String>(),
        ),
        Some("--describe") => Output::ok(describe(&selected, ring, filter)),
        Some(other) => Output::fail(
            format!("sandbox: kafka-topics.sh {other} is not simulated ({SIMULATED_HINT})\n"),
            1,
        ),
        None => Output::fail(
            "Command must include exactly one action: --list, --describe, --create, --alter or --delete\n"
                .to_owned(),
            1,
        ),
    }
}

fn describe(topics: &[&Topic], ring: &Ring, filter: PartitionFilter) -> String {
    let mut out = String::new();
    for topic in topics {
        let factor = topic.replication_factor.min(ring.members.len() as u32);
        let states = partitions(topic, ring);
        let shown: Vec<&PartitionState> = states
            .iter()
            .filter(|p| match filter {
                PartitionFilter::All => true,
                PartitionFilter::UnderReplicated => p.isr.len() < p.replicas.len(),
                PartitionFilter::Unavailable => p.leader.is_none(),
            })
            .collect();
        if filter == PartitionFilter::All {
            let configs: BTreeMap<&str, &str> = topic
                .configs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let configs = configs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            let _ = writeln!(
                out,
                "Topic: {}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}",
                topic.name,
                stable_topic_id(&format!(
                    "{}/{}/{}",
                    ring.namespace, ring.workload, topic.name
                )),
                topic.partitions,
                factor,
                configs
            );
        }
        for state in shown {
            let leader = state
                .leader
                .map_or_else(|| "none".to_owned(), |l| l.to_string());
            let _ = writeln!(
                out,
                "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}",
                topic.name,
                state.partition,
                leader,
                join_ids(&state.replicas),
                join_ids(&state.isr)
            );
        }
    }
    out
}

// ----- kafka-verifiable-producer.sh and kafka-console-consumer.sh -----

/// The most messages one simulated producer run may send (`--max-messages`).
const MAX_PRODUCED: i64 = 100_000;

/// `min.insync.replicas` of a topic: its config, or the broker default 1.
pub fn min_insync_replicas(topic: &Topic) -> usize {
    topic
        .configs
        .get("min.insync.replicas")
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(1)
}

/// Splits a tool's arguments into `(flag, value)` pairs, accepting `--flag value` and
/// `--flag=value`; `bare` flags take no value. Anything else is the tool's usage error.
fn options(
    tool: &str,
    args: &[String],
    valued: &[&str],
    bare: &[&str],
) -> Result<Vec<(String, Option<String>)>, Output> {
    let mut parsed = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        if bare.contains(&flag) && inline.is_none() {
            parsed.push((flag.to_owned(), None));
        } else if valued.contains(&flag) {
            match inline.or_else(|| rest.next().cloned()) {
                Some(value) => parsed.push((flag.to_owned(), Some(value))),
                None => {
                    return Err(Output::fail(
                        format!("{tool}: error: argument {flag}: expected one argument\n"),
                        1,
                    ));
                }
            }
        } else {
            return Err(Output::fail(
                format!(
                    "sandbox: {tool}: {arg} is not a recognized option here ({SIMULATED_HINT})\n"
                ),
                1,
            ));
        }
    }
    Ok(parsed)
}

/// The last value given for any of `flags`.
fn option<'a>(parsed: &'a [(String, Option<String>)], flags: &[&str]) -> Option<&'a str> {
    parsed
        .iter()
        .rev()
        .find(|(flag, _)| flags.contains(&flag.as_str()))
        .and_then(|(_, value)| value.as_deref())
}

fn has_flag(parsed: &[(String, Option<String>)], flag: &str) -> bool {
    parsed.iter().any(|(f, _)| f == flag)
}

/// A JSON string literal.
fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

fn json_key(key: Option<&str>) -> String {
    key.map_or_else(|| "null".to_owned(), json_string)
}

/// How many replicas must have a message before the producer counts it acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Acks {
    /// `--acks 0`: fire and forget.
    None,
    /// `--acks 1`: the leader.
    Leader,
    /// `--acks -1`: every in-sync replica, at least `min.insync.replicas`.
    All,
}

/// `kafka-verifiable-producer.sh`: sends `--max-messages` values (`<prefix>.<i>`, or
/// `<i>`) round-robin over the topic's partitions and prints one JSON line per event as
/// Kafka's `VerifiableProducer` does. A message is acknowledged when its partition has a
/// leader and, with `--acks -1` (the default), at least `min.insync.replicas` in-sync
/// replicas; acknowledged messages are appended to the partition's log. The producer does
/// not retry, like the real tool (`retries=0`).
fn verifiable_producer(args: &[String], context: &Context, logs: &mut Logs) -> Output {
    const TOOL: &str = "verifiable-producer";
    let parsed = match options(
        TOOL,
        args,
        &[
            "--bootstrap-server",
            "--broker-list",
            "--topic",
            "--max-messages",
            "--throughput",
            "--acks",
            "--value-prefix",
            "--repeating-keys",
            "--message-create-time",
            "--producer.config",
            "--command-config",
        ],
        &[],
    ) {
        Ok(parsed) => parsed,
        Err(output) => return output,
    };
    if option(&parsed, &["--bootstrap-server", "--broker-list"]).is_none() {
        return Output::fail(
            format!(
                "{TOOL}: error: one of the arguments --bootstrap-server --broker-list is required\n"
            ),
            1,
        );
    }
    let Some(topic_name) = option(&parsed, &["--topic"]) else {
        return Output::fail(format!("{TOOL}: error: argument --topic is required\n"), 1);
    };
    let integer = |flag: &str, default: i64| -> Result<i64, Output> {
        option(&parsed, &[flag]).map_or(Ok(default), |value| {
            value.trim().parse::<i64>().map_err(|_| {
                Output::fail(
                    format!(
                        "{TOOL}: error: argument {flag}: could not convert '{value}' to Integer\n"
                    ),
                    1,
                )
            })
        })
    };
    let numbers = (|| {
        Ok::<_, Output>((
            integer("--max-messages", -1)?,
            integer("--acks", -1)?,
            option(&parsed, &["--value-prefix"])
                .map(|_| integer("--value-prefix", 0))
                .transpose()?,
            integer("--repeating-keys", 0)?,
        ))
    })();
    let (max_messages, acks, value_prefix, repeating_keys) = match numbers {
        Ok(numbers) => numbers,
        Err(output) => return output,
    };
    if !(0..=MAX_PRODUCED).contains(&max_messages) {
        return Output::fail(
            format!(
                "sandbox: {TOOL}: the simulation needs --max-messages between 0 and {MAX_PRODUCED} (it does not produce forever)\n"
            ),
            1,
        );
    }
    let acks = match acks {
        -1 => Acks::All,
        0 => Acks::None,
        1 => Acks::Leader,
        other => {
            return Output::fail(
                format!(
                    "Invalid value {other} for configuration acks: String must be one of: all, -1, 0, 1\n"
                ),
                1,
            );
        }
    };
    let topic = context.topics.iter().find(|t| t.name == topic_name);
    let states = topic
        .map(|t| partitions(t, &context.ring))
        .unwrap_or_default();
    let min_insync = topic.map_or(1, min_insync_replicas);
    let log = logs.topics.entry(topic_name.to_owned()).or_default();
    if log.partitions.len() < states.len() {
        log.partitions.resize(states.len(), Vec::new());
    }
    let mut out = String::new();
    let mut timestamp = context.now_ms;
    let _ = writeln!(
        out,
        r#"{{"timestamp":{timestamp},"name":"startup_complete"}}"#
    );
    let mut acked = 0u64;
    for index in 0..max_messages {
        timestamp += 1;
        let value = match value_prefix {
            Some(prefix) => format!("{prefix}.{index}"),
            None => index.to_string(),
        };
        let key = (repeating_keys > 0).then(|| (index % repeating_keys).to_string());
        let head = format!(r#""timestamp":{timestamp},"name":"#);
        let refused = |exception: &str, message: &str| {
            format!(
                r#"{{{head}"producer_send_error","key":{},"value":{},"topic":{},"exception":"class org.apache.kafka.common.errors.{exception}","message":{}}}"#,
                json_key(key.as_deref()),
                json_string(&value),
                json_string(topic_name),
                json_string(message)
            )
        };
        if states.is_empty() {
            let _ = writeln!(
                out,
                "{}",
                refused(
                    "TimeoutException",
                    &format!("Topic {topic_name} not present in metadata after 60000 ms.")
                )
            );
            continue;
        }
        let partition = (log.next_partition as usize) % states.len();
        log.next_partition = log.next_partition.wrapping_add(1);
        let state = &states[partition];
        if state.leader.is_none() {
            let _ = writeln!(
                out,
                "{}",
                refused(
                    "NotLeaderOrFollowerException",
                    "For requests intended only for the leader, this error indicates that the broker is not the current leader. For requests intended for any replica, this error indicates that the broker is not a replica of the topic partition."
                )
            );
            continue;
        }
        if acks == Acks::All && state.isr.len() < min_insync {
            let _ = writeln!(
                out,
                "{}",
                refused(
                    "NotEnoughReplicasException",
                    "Messages are rejected since there are fewer in-sync replicas than required."
                )
            );
            continue;
        }
        let messages = &mut log.partitions[partition];
        let offset = if acks == Acks::None {
            -1
        } else {
            messages.len() as i64
        };
        messages.push(value.clone());
        acked += 1;
        let _ = writeln!(
            out,
            r#"{{{head}"producer_send_success","key":{},"value":{},"topic":{},"partition":{partition},"offset":{offset}}}"#,
            json_key(key.as_deref()),
            json_string(&value),
            json_string(topic_name)
        );
    }
    timestamp += 1;
    let _ = writeln!(
        out,
        r#"{{"timestamp":{timestamp},"name":"shutdown_complete"}}"#
    );
    // The simulated sends take a millisecond each.
    let throughput = acked as f64 * 1000.0 / (max_messages.max(1) as f64);
    let _ = writeln!(
        out,
        r#"{{"timestamp":{timestamp},"name":"tool_data","sent":{max_messages},"acked":{acked},"target_throughput":-1,"avg_throughput":{throughput:?}}}"#
    );
    Output::ok(out)
}

/// `kafka-console-consumer.sh`: prints the values of the topic, one per line, partition
/// by partition in offset order (only with `--from-beginning`: a new consumer otherwise
/// starts at the end), then `Processed a total of N messages` on stderr, as the real tool
/// does when `--timeout-ms` passes without a message. Partitions without a leader deliver
/// nothing. The simulation answers at once; it never waits for new messages.
fn console_consumer(args: &[String], context: &Context, logs: &Logs) -> Output {
    const TOOL: &str = "console-consumer";
    let parsed = match options(
        TOOL,
        args,
        &[
            "--bootstrap-server",
            "--topic",
            "--timeout-ms",
            "--max-messages",
            "--partition",
            "--group",
            "--consumer-property",
            "--consumer.config",
            "--command-config",
            "--property",
            "--isolation-level",
        ],
        &["--from-beginning", "--skip-message-on-error"],
    ) {
        Ok(parsed) => parsed,
        Err(output) => return output,
    };
    if option(&parsed, &["--bootstrap-server"]).is_none() {
        return Output::fail(
            "Exactly one of --bootstrap-server or --bootstrap-controller must be specified\n"
                .to_owned(),
            1,
        );
    }
    let Some(topic_name) = option(&parsed, &["--topic"]) else {
        return Output::fail(
            "Exactly one of --include/--topic is required.\n".to_owned(),
            1,
        );
    };
    let number = |flag: &str| -> Result<Option<u64>, Output> {
        option(&parsed, &[flag])
            .map(|value| {
                value.trim().parse::<u64>().map_err(|_| {
                    Output::fail(
                        format!("The value of {flag} must be a number: {value}\n"),
                        1,
                    )
                })
            })
            .transpose()
    };
    let (max_messages, only_partition) = match (number("--max-messages"), number("--partition")) {
        (Ok(max), Ok(partition)) => (max, partition),
        (Err(output), _) | (_, Err(output)) => return output,
    };
    let Some(topic) = context.topics.iter().find(|t| t.name == topic_name) else {
        return Output {
            stdout: String::new(),
            stderr: format!(
                "WARN [Consumer clientId=console-consumer, groupId=console-consumer] Error while fetching metadata with correlation id 2 : {{{topic_name}=UNKNOWN_TOPIC_OR_PARTITION}}\nProcessed a total of 0 messages\n"
            ),
            exit_code: 0,
        };
    };
    let mut stdout = String::new();
    let mut count = 0u64;
    if has_flag(&parsed, "--from-beginning") {
        let log = logs.topics.get(topic_name);
        'partitions: for state in partitions(topic, &context.ring) {
            if state.leader.is_none()
                || only_partition.is_some_and(|p| p != u64::from(state.partition))
            {
                continue;
            }
            let values = log
                .and_then(|log| log.partitions.get(state.partition as usize))
                .into_iter()
                .flatten();
            for value in values {
                if max_messages.is_some_and(|max| count >= max) {
                    break 'partitions;
                }
                stdout.push_str(value);
                stdout.push('\n');
                count += 1;
            }
        }
    }
    let mut stderr = String::new();
    if max_messages.is_none_or(|max| count < max) {
        stderr.push_str("ERROR Error processing message, terminating consumer process:  (org.apache.kafka.tools.consumer.ConsoleConsumer)\norg.apache.kafka.common.errors.TimeoutException\n");
    }
    let _ = writeln!(stderr, "Processed a total of {count} messages");
    Output {
        stdout,
        stderr,
        exit_code: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(states: &[(MemberState, bool)]) -> Ring {
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

    fn command(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    fn kafka(states: &[(MemberState, bool)]) -> Context {
        Context {
            software: Software::Kafka,
            ring: ring(states),
            topics: Topic::defaults(),
            now_ms: 1_700_000_000_000,
        }
    }

    const UP: (MemberState, bool) = (MemberState::Ready, true);

    #[test]
    fn nodetool_status_lays_out_columns_like_cassandra_4() {
        let mut context = kafka(&[
            UP,
            (MemberState::Missing, false),
            (MemberState::Starting, false),
        ]);
        context.software = Software::Cassandra;
        context.ring.workload = "cassandra".to_owned();
        for member in &mut context.ring.members {
            member.pod = member.pod.replace("kafka", "cassandra");
        }
        let output = run(
            &command("nodetool -h localhost status"),
            &context,
            &mut Logs::default(),
        );
        assert_eq!(output.exit_code, 0, "{output:?}");
        let lines: Vec<&str> = output.stdout.lines().collect();
        assert_eq!(lines[0], "Datacenter: dc1");
        assert_eq!(lines[1], "===============");
        assert_eq!(lines[2], "Status=Up/Down");
        assert_eq!(lines[3], "|/ State=Normal/Leaving/Joining/Moving");
        assert!(
            lines[4].starts_with("--  Address     Load        Tokens  Owns (effective)  Host ID"),
            "{}",
            lines[4]
        );
        assert!(lines[4].ends_with("  Rack"), "{}", lines[4]);
        assert!(lines[5].starts_with("UN  10.244.0.1  "), "{}", lines[5]);
        assert!(lines[6].starts_with("DN  10.244.0.2  "), "{}", lines[6]);
        assert!(lines[7].starts_with("UJ  10.244.0.3  "), "{}", lines[7]);
        assert!(
            lines[5].contains("  16      100.0%            "),
            "{}",
            lines[5]
        );
        assert!(lines[5].ends_with("  zone-a"), "{}", lines[5]);
        // Every column starts where its header does.
        let rack = lines[4].find("Rack");
        assert_eq!(lines[6].find("zone-b"), rack);
    }

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
    fn partitions_are_assigned_round_robin_and_led_by_the_first_in_sync_replica() {
        let topic = &Topic::defaults()[1];
        let all_up = partitions(topic, &ring(&[UP, UP, UP]));
        assert_eq!(all_up[0].replicas, vec![0, 1, 2]);
        assert_eq!(all_up[4].replicas, vec![1, 2, 0]);
        assert_eq!(all_up[4].leader, Some(1));
        let one_down = partitions(topic, &ring(&[UP, (MemberState::Missing, false), UP]));
        assert!(one_down.iter().all(|p| !p.isr.contains(&1)));
        assert!(one_down.iter().all(|p| p.leader != Some(1)));
        assert_eq!(one_down[1].leader, Some(2));
        let catching_up = partitions(topic, &ring(&[UP, (MemberState::Ready, false), UP]));
        assert_eq!(catching_up, one_down);
        let none = partitions(
            topic,
            &ring(&[(MemberState::Missing, false), (MemberState::Pending, false)]),
        );
        assert!(none.iter().all(|p| p.leader.is_none() && p.isr.is_empty()));
        assert_eq!(
            none[0].replicas,
            vec![0, 1],
            "the factor is capped at the brokers"
        );
    }

    #[test]
    fn kafka_topics_describe_prints_kafka_3_format() {
        let output = run(
            &command(
                "/opt/kafka/bin/kafka-topics.sh --bootstrap-server localhost:9092 --describe --topic orders",
            ),
            &kafka(&[UP, (MemberState::Terminating, false), UP]),
            &mut Logs::default(),
        );
        assert_eq!(output.exit_code, 0, "{output:?}");
        let lines: Vec<&str> = output.stdout.lines().collect();
        assert_eq!(lines.len(), 7);
        let id = stable_topic_id("butterfly/kafka/orders");
        assert_eq!(id.len(), 22);
        assert_eq!(
            lines[0],
            format!(
                "Topic: orders\tTopicId: {id}\tPartitionCount: 6\tReplicationFactor: 3\tConfigs: min.insync.replicas=2"
            )
        );
        assert_eq!(
            lines[1],
            "\tTopic: orders\tPartition: 0\tLeader: 0\tReplicas: 0,1,2\tIsr: 0,2"
        );
        assert_eq!(
            lines[2],
            "\tTopic: orders\tPartition: 1\tLeader: 2\tReplicas: 1,2,0\tIsr: 2,0"
        );
    }

    #[test]
    fn kafka_topics_lists_filters_and_rejects_what_it_does_not_simulate() {
        let context = kafka(&[UP, (MemberState::Missing, false), UP]);
        let list = run(
            &command("kafka-topics --bootstrap-server=k:9092 --list"),
            &context,
            &mut Logs::default(),
        );
        assert_eq!(list.stdout, "firedrill-canary\norders\n");
        let under = run(
            &command("kafka-topics.sh --describe --under-replicated-partitions"),
            &context,
            &mut Logs::default(),
        );
        assert_eq!(under.stdout.lines().count(), 9, "{}", under.stdout);
        assert!(!under.stdout.contains("PartitionCount"));
        let missing = run(
            &command("kafka-topics.sh --describe --topic nope"),
            &context,
            &mut Logs::default(),
        );
        assert_eq!(missing.exit_code, 1);
        assert!(
            missing.stderr.contains("Topic 'nope' does not exist"),
            "{}",
            missing.stderr
        );
        let unknown = run(
            &command("kafka-topics.sh --describe --frobnicate"),
            &context,
            &mut Logs::default(),
        );
        assert_eq!(unknown.exit_code, 1);
        assert!(unknown.stderr.contains("--frobnicate"));
        let create = run(
            &command("kafka-topics.sh --create --topic x"),
            &context,
            &mut Logs::default(),
        );
        assert_eq!(create.exit_code, 1);
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

    fn events_in(output: &Output) -> Vec<serde_json::Value> {
        output
            .stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
            .collect()
    }

    fn named<'a>(events: &'a [serde_json::Value], name: &str) -> Vec<&'a serde_json::Value> {
        events.iter().filter(|e| e["name"] == name).collect()
    }

    const PRODUCE: &str = "kafka-verifiable-producer.sh --bootstrap-server localhost:9092 --topic firedrill-canary --acks -1";

    #[test]
    fn the_verifiable_producer_prints_kafka_events_and_spreads_messages_round_robin() {
        let context = kafka(&[UP, UP, UP]);
        let mut logs = Logs::default();
        let output = run(
            &command(&format!("{PRODUCE} --max-messages 4 --value-prefix 7")),
            &context,
            &mut logs,
        );
        assert_eq!(output.exit_code, 0, "{output:?}");
        let events = events_in(&output);
        assert_eq!(events.len(), 7, "{}", output.stdout);
        assert_eq!(events[0]["name"], "startup_complete");
        let first = output.stdout.lines().nth(1).unwrap_or_default();
        assert!(
            first.starts_with(r#"{"timestamp":1700000000001,"name":"producer_send_success","key":null,"value":"7.0","topic":"firedrill-canary","partition":0,"offset":0}"#),
            "{first}"
        );
        let sent = named(&events, "producer_send_success");
        let placed: Vec<(u64, u64)> = sent
            .iter()
            .map(|e| {
                (
                    e["partition"].as_u64().unwrap(),
                    e["offset"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(placed, [(0, 0), (1, 0), (2, 0), (0, 1)]);
        assert_eq!(events[5]["name"], "shutdown_complete");
        assert_eq!(events[6]["name"], "tool_data");
        assert_eq!(events[6]["sent"], 4);
        assert_eq!(events[6]["acked"], 4);
        assert_eq!(
            logs.values("firedrill-canary"),
            ["7.0", "7.3", "7.1", "7.2"]
        );
    }

    #[test]
    fn acks_all_refuses_messages_while_the_isr_is_below_min_insync_replicas() {
        // Two of three brokers down: every partition keeps a leader but one in-sync
        // replica, below the canary topic's min.insync.replicas=2.
        let down = (MemberState::Missing, false);
        let mut logs = Logs::default();
        let output = run(
            &command(&format!("{PRODUCE} --max-messages 3 --value-prefix 1")),
            &kafka(&[UP, down, down]),
            &mut logs,
        );
        let events = events_in(&output);
        let refused = named(&events, "producer_send_error");
        assert_eq!(refused.len(), 3, "{}", output.stdout);
        assert_eq!(
            refused[0]["exception"],
            "class org.apache.kafka.common.errors.NotEnoughReplicasException"
        );
        assert_eq!(refused[0]["value"], "1.0");
        assert_eq!(named(&events, "tool_data")[0]["acked"], 0);
        assert!(logs.values("firedrill-canary").is_empty());
        // acks=1 only needs the leader.
        let leader_only = run(
            &command(
                "kafka-verifiable-producer.sh --bootstrap-server k:9092 --topic firedrill-canary --max-messages 3 --acks 1",
            ),
            &kafka(&[UP, down, down]),
            &mut logs,
        );
        assert_eq!(
            named(&events_in(&leader_only), "producer_send_success").len(),
            3
        );
        // One broker down: the ISR keeps two replicas, enough.
        let one_down = run(
            &command(&format!("{PRODUCE} --max-messages 3 --value-prefix 2")),
            &kafka(&[UP, down, UP]),
            &mut logs,
        );
        assert_eq!(
            named(&events_in(&one_down), "producer_send_success").len(),
            3
        );
        // No broker in sync: no leader.
        let none = run(
            &command(&format!("{PRODUCE} --max-messages 1")),
            &kafka(&[down, (MemberState::Ready, false), down]),
            &mut logs,
        );
        assert_eq!(
            named(&events_in(&none), "producer_send_error")[0]["exception"],
            "class org.apache.kafka.common.errors.NotLeaderOrFollowerException"
        );
        assert_eq!(logs.values("firedrill-canary").len(), 6);
    }

    #[test]
    fn the_console_consumer_returns_every_acknowledged_message_in_partition_order() {
        let mut logs = Logs::default();
        let up = kafka(&[UP, UP, UP]);
        run(
            &command(&format!("{PRODUCE} --max-messages 5 --value-prefix 3")),
            &up,
            &mut logs,
        );
        run(
            &command(&format!("{PRODUCE} --max-messages 2 --value-prefix 4")),
            &kafka(&[
                UP,
                (MemberState::Missing, false),
                (MemberState::Missing, false),
            ]),
            &mut logs,
        );
        let consume = "kafka-console-consumer.sh --bootstrap-server localhost:9092 --topic firedrill-canary --from-beginning --timeout-ms 10000";
        let output = run(&command(consume), &up, &mut logs);
        assert_eq!(output.exit_code, 0, "{output:?}");
        assert_eq!(output.stdout, "3.0\n3.3\n3.1\n3.4\n3.2\n");
        assert!(
            output.stderr.ends_with("Processed a total of 5 messages\n"),
            "{}",
            output.stderr
        );
        let limited = run(
            &command(&format!("{consume} --max-messages 2")),
            &up,
            &mut logs,
        );
        assert_eq!(limited.stdout, "3.0\n3.3\n");
        assert_eq!(limited.stderr, "Processed a total of 2 messages\n");
        // A new consumer without --from-beginning starts at the end.
        let latest = run(
            &command(
                "kafka-console-consumer.sh --bootstrap-server k:9092 --topic firedrill-canary",
            ),
            &up,
            &mut logs,
        );
        assert_eq!(latest.stdout, "");
        // A partition without a leader delivers nothing until it has one again: with
        // one replica per partition, broker 1 down leaves partition 1 leaderless.
        let single = |states: &[(MemberState, bool)]| {
            let mut context = kafka(states);
            context.topics[0].replication_factor = 1;
            context.topics[0].configs.clear();
            context
        };
        let mut single_logs = Logs::default();
        run(
            &command(&format!("{PRODUCE} --max-messages 3 --value-prefix 5")),
            &single(&[UP, UP, UP]),
            &mut single_logs,
        );
        let leaderless = run(
            &command(consume),
            &single(&[UP, (MemberState::Missing, false), UP]),
            &mut single_logs,
        );
        assert_eq!(leaderless.stdout, "5.0\n5.2\n");
        let unknown = run(
            &command(
                "kafka-console-consumer.sh --bootstrap-server k:9092 --topic nope --from-beginning",
            ),
            &up,
            &mut logs,
        );
        assert!(unknown.stderr.contains("UNKNOWN_TOPIC_OR_PARTITION"));
    }

    #[test]
    fn the_producer_and_consumer_reject_what_they_do_not_simulate() {
        let context = kafka(&[UP]);
        let mut logs = Logs::default();
        let forever = run(&command(PRODUCE), &context, &mut logs);
        assert_eq!(forever.exit_code, 1);
        assert!(
            forever.stderr.contains("--max-messages"),
            "{}",
            forever.stderr
        );
        let no_topic = run(
            &command("kafka-verifiable-producer.sh --bootstrap-server k:9092 --max-messages 1"),
            &context,
            &mut logs,
        );
        assert_eq!(
            no_topic.stderr,
            "verifiable-producer: error: argument --topic is required\n"
        );
        let prefix = run(
            &command(&format!("{PRODUCE} --max-messages 1 --value-prefix run-1")),
            &context,
            &mut logs,
        );
        assert_eq!(prefix.exit_code, 1);
        let unknown = run(
            &command("kafka-console-consumer.sh --bootstrap-server k:9092 --topic t --formatter x"),
            &context,
            &mut logs,
        );
        assert_eq!(unknown.exit_code, 1);
        assert!(unknown.stderr.contains("--formatter"));
        assert!(logs.values("firedrill-canary").is_empty());
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
