//! Built-in scenario `kafka-cluster-recovery` (the runbook's "Kafka Recovery → Full
//! Cluster Recovery" and "Data Restoration → Point-in-Time Recovery"): recreate topics
//! from their definitions and check each is whole again, and/or replay a consumer group
//! from a point in time by resetting its offsets; rollback puts the group's offsets back.
//!
//! Everything runs in a broker pod through `exec` with Kafka's own tools
//! (`kafka-topics.sh`, `kafka-consumer-groups.sh`). Recreating a topic deletes it first,
//! which loses every message it held: refused unless `allow_data_loss: true`, and listed
//! as a follow-up, since no rollback can bring the messages back.

use std::collections::{BTreeMap, BTreeSet};

use firedrill_sdk::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// A broker pod that runs the tools. Default: the first Ready pod of the phase's
    /// first service.
    #[serde(default)]
    pod: Option<String>,
    /// Its container. Default: the pod's first container.
    #[serde(default)]
    container: Option<String>,
    /// The topic definitions recreated (`recreate`, `both`).
    #[serde(default)]
    topics: Vec<TopicDefinition>,
    /// What the phase does.
    #[serde(default)]
    mode: Mode,
    /// Recreating deletes every message of the topics: refused unless this is true.
    #[serde(default)]
    allow_data_loss: bool,
    /// The consumer group reset to a point in time (`replay`, `both`).
    #[serde(default)]
    replay: Option<Replay>,
    /// `--bootstrap-server`, as seen inside the pod.
    #[serde(default = "default_bootstrap_server")]
    bootstrap_server: String,
    /// The topics tool in the broker image.
    #[serde(default = "default_topics_command")]
    topics_command: String,
    /// The consumer groups tool in the broker image.
    #[serde(default = "default_groups_command")]
    groups_command: String,
    /// How long one tool run may take.
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u32,
}

fn default_bootstrap_server() -> String {
    "localhost:9092".into()
}
fn default_topics_command() -> String {
    "kafka-topics.sh".into()
}
fn default_groups_command() -> String {
    "kafka-consumer-groups.sh".into()
}
fn default_timeout_ms() -> u32 {
    60_000
}

/// One topic as it should be after the recovery.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct TopicDefinition {
    name: String,
    partitions: u32,
    replication_factor: u32,
    /// Topic configs (`min.insync.replicas: 2`), given to `--create` as `--config k=v`.
    #[serde(default)]
    configs: BTreeMap<String, serde_json::Value>,
}

impl TopicDefinition {
    /// The configs as `key=value` text.
    fn config_pairs(&self) -> Vec<(String, String)> {
        self.configs
            .iter()
            .map(|(key, value)| {
                let text = match value {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                (key.clone(), text)
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    /// Delete and recreate the topics from their definitions.
    #[default]
    Recreate,
    /// Reset the group's offsets to a point in time.
    Replay,
    /// Both: recreate the topics, then replay the group (on another topic).
    Both,
}

impl Mode {
    fn recreates(self) -> bool {
        matches!(self, Mode::Recreate | Mode::Both)
    }
    fn replays(self) -> bool {
        matches!(self, Mode::Replay | Mode::Both)
    }
}

/// The point-in-time replay: `group`'s offsets on `topic` reset to a time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Replay {
    group: String,
    topic: String,
    /// `YYYY-MM-DDTHH:mm:SS.sss` (UTC unless it ends in `Z` or `±HH:MM`), as
    /// `--to-datetime` takes it.
    #[serde(default)]
    to_datetime: Option<String>,
    /// Or this many minutes before the phase starts.
    #[serde(default)]
    minutes_ago: Option<u32>,
}

/// The broker pod the tools run in.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Target {
    namespace: String,
    pod: String,
}

/// What `recreate` did, for verify, findings and rollback (kept in `state`).
#[derive(Debug, Serialize, Deserialize)]
struct Recreated {
    target: Target,
    topics: Vec<TopicDefinition>,
    /// The topics that existed and were deleted.
    deleted: Vec<String>,
    /// The topics created again so far.
    created: Vec<String>,
}

/// What `replay` did (kept in `state`): the offsets before, for rollback, and after.
#[derive(Debug, Serialize, Deserialize)]
struct Replayed {
    target: Target,
    group: String,
    topic: String,
    datetime: String,
    /// Committed offset per partition before the reset (`None`: none committed).
    before: BTreeMap<u32, Option<u64>>,
    /// The offset the reset committed per partition.
    after: BTreeMap<u32, u64>,
    /// Log end offset per partition, read after the reset.
    log_end: BTreeMap<u32, u64>,
}

impl Replayed {
    /// Messages the group reads again: those between the new and the old offset.
    fn replayed(&self) -> u64 {
        self.after
            .iter()
            .map(|(p, after)| {
                let before = self
                    .before
                    .get(p)
                    .copied()
                    .flatten()
                    .or(self.log_end.get(p).copied())
                    .unwrap_or(0);
                before.saturating_sub(*after)
            })
            .sum()
    }

    /// Messages the group has ahead of it after the reset (its lag).
    fn lag(&self) -> u64 {
        self.after
            .iter()
            .map(|(p, after)| {
                self.log_end
                    .get(p)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(*after)
            })
            .sum()
    }
}

const RECREATE_KEY: &str = "recreate";
const REPLAY_KEY: &str = "replay";
const TOOLS_KEY: &str = "tools";

struct KafkaClusterRecovery;

/// A legal Kafka topic name.
fn legal_topic(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// `YYYY-MM-DDTHH:mm:SS.sss` with an optional `Z` or `±HH:MM`, as `--to-datetime` takes.
fn valid_datetime(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|b| b.iter().all(u8::is_ascii_digit))
    };
    let base = bytes.len() >= 23
        && digits(0..4)
        && bytes[4] == b'-'
        && digits(5..7)
        && bytes[7] == b'-'
        && digits(8..10)
        && bytes[10] == b'T'
        && digits(11..13)
        && bytes[13] == b':'
        && digits(14..16)
        && bytes[16] == b':'
        && digits(17..19)
        && bytes[19] == b'.'
        && digits(20..23);
    let zone = text.get(23..).unwrap_or("");
    base && (zone.is_empty()
        || zone == "Z"
        || (zone.len() == 6
            && matches!(zone.as_bytes()[0], b'+' | b'-')
            && zone.as_bytes()[3] == b':'))
}

/// `ms` since the Unix epoch as `YYYY-MM-DDTHH:mm:SS.sssZ`.
fn iso_utc(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let in_day = ms % 86_400_000;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// Rejects parameters that cannot work, naming the parameter.
fn check(p: &Params) -> Result<(), Error> {
    let invalid = |message: String| Err(Error::InvalidParams(message));
    if p.mode.recreates() {
        if p.topics.is_empty() {
            return invalid("topics: mode recreate needs the topic definitions".into());
        }
        let mut seen = BTreeSet::new();
        for topic in &p.topics {
            if !legal_topic(&topic.name) {
                return invalid(format!(
                    "topics: {:?} is not a legal Kafka topic name",
                    topic.name
                ));
            }
            if !seen.insert(&topic.name) {
                return invalid(format!("topics: {} is defined twice", topic.name));
            }
            if topic.partitions == 0 || topic.replication_factor == 0 {
                return invalid(format!(
                    "topics: {} needs partitions and replication_factor of at least 1",
                    topic.name
                ));
            }
        }
    }
    if p.mode.replays() {
        let Some(replay) = &p.replay else {
            return invalid(
                "replay: mode replay needs replay: {group, topic, to_datetime | minutes_ago}"
                    .into(),
            );
        };
        if replay.group.is_empty() || !legal_topic(&replay.topic) {
            return invalid("replay: group and topic must be given".into());
        }
        match (&replay.to_datetime, replay.minutes_ago) {
            (Some(text), None) if valid_datetime(text) => {}
            (Some(text), None) => {
                return invalid(format!(
                    "replay.to_datetime: {text:?} is not YYYY-MM-DDTHH:mm:SS.sss (optionally with Z or ±HH:MM)"
                ));
            }
            (None, Some(_)) => {}
            _ => return invalid("replay: give exactly one of to_datetime and minutes_ago".into()),
        }
        if p.mode.recreates() && p.topics.iter().any(|t| t.name == replay.topic) {
            return invalid(format!(
                "replay.topic: {} is recreated in the same phase, which empties it: there is nothing to replay",
                replay.topic
            ));
        }
    } else if p.replay.is_some() {
        return invalid("replay: set mode: replay (or both) to use it".into());
    }
    Ok(())
}

fn target(phase: &Phase<Params>) -> Result<Target, Error> {
    let service = phase.first_service("Kafka")?;
    if let Some(pod) = &phase.params.pod {
        return Ok(Target {
            namespace: service.namespace.clone(),
            pod: pod.clone(),
        });
    }
    cluster::ready_pods(service)?
        .into_iter()
        .next()
        .map(|p| Target {
            namespace: p.namespace,
            pod: p.name,
        })
        .ok_or_else(|| Error::failed(format!("service {} has no Ready broker", service.name)))
}

/// Runs a tool in the broker pod with `--bootstrap-server` added.
fn tool(
    phase: &Phase<Params>,
    at: &Target,
    program: &str,
    args: &[String],
) -> Result<cluster::ExecOutput, Error> {
    let p = &phase.params;
    let mut command = vec![program.to_owned()];
    command.extend(args.iter().cloned());
    command.push("--bootstrap-server".into());
    command.push(p.bootstrap_server.clone());
    cluster::exec(
        &at.namespace,
        &at.pod,
        p.container.as_deref(),
        &command,
        p.timeout_ms,
    )
}

/// The failure of a tool run, with what it printed.
fn exited(program: &str, args: &[String], out: &cluster::ExecOutput) -> Error {
    Error::failed(format!(
        "{program} {} exited with {}: {}",
        args.join(" "),
        out.exit_code,
        first_line(&format!("{}\n{}", out.stdout.trim(), out.stderr.trim()))
    ))
}

fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_owned()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// `--version` of the topics tool: says whether these are the sandbox's simulated tools.
fn tools_version(phase: &Phase<Params>, at: &Target) -> String {
    let command = vec![phase.params.topics_command.clone(), "--version".into()];
    cluster::exec(
        &at.namespace,
        &at.pod,
        phase.params.container.as_deref(),
        &command,
        phase.params.timeout_ms,
    )
    .map(|out| first_line(&out.stdout))
    .unwrap_or_default()
}

// ----- topics -----

/// One topic as `kafka-topics.sh --describe` shows it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Described {
    partition_count: Option<u32>,
    replication_factor: Option<u32>,
    configs: BTreeMap<String, String>,
    /// Per partition: leader (`None` for `none`/`-1`), replicas, ISR.
    partitions: Vec<(Option<String>, usize, usize)>,
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split('\t')
        .map(str::trim)
        .find_map(|f| f.strip_prefix(name).map(str::trim))
}

fn parse_describe(text: &str) -> Described {
    let mut described = Described::default();
    let count = |value: Option<&str>| {
        value
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .count()
    };
    for line in text.lines() {
        if line.contains("PartitionCount:") {
            described.partition_count = field(line, "PartitionCount:").and_then(|v| v.parse().ok());
            described.replication_factor =
                field(line, "ReplicationFactor:").and_then(|v| v.parse().ok());
            described.configs = field(line, "Configs:")
                .unwrap_or_default()
                .split(',')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect();
        } else if line.contains("Partition:") {
            let leader = field(line, "Leader:")
                .filter(|l| !matches!(*l, "none" | "-1" | ""))
                .map(str::to_owned);
            described.partitions.push((
                leader,
                count(field(line, "Replicas:")),
                count(field(line, "Isr:")),
            ));
        }
    }
    described
}

/// Why a described topic does not match its definition, or `None` when it does: the
/// partition count, the replication factor, the configs, a leader for every partition
/// and an ISR as large as the replication factor.
fn mismatch(definition: &TopicDefinition, described: &Described) -> Option<String> {
    let name = &definition.name;
    if described.partition_count != Some(definition.partitions) {
        return Some(format!(
            "{name} has {} partitions, not {}",
            described
                .partition_count
                .map_or("unknown".into(), |n| n.to_string()),
            definition.partitions
        ));
    }
    if described.replication_factor != Some(definition.replication_factor) {
        return Some(format!(
            "{name} has replication factor {}, not {}",
            described
                .replication_factor
                .map_or("unknown".into(), |n| n.to_string()),
            definition.replication_factor
        ));
    }
    for (key, value) in definition.config_pairs() {
        if described.configs.get(&key) != Some(&value) {
            return Some(format!("{name} lacks the config {key}={value}"));
        }
    }
    if described.partitions.len() as u32 != definition.partitions {
        return Some(format!(
            "{name}: {} of {} partitions described",
            described.partitions.len(),
            definition.partitions
        ));
    }
    let leaderless = described
        .partitions
        .iter()
        .filter(|p| p.0.is_none())
        .count();
    let short = described
        .partitions
        .iter()
        .filter(|p| p.2 as u32 != definition.replication_factor)
        .count();
    if leaderless > 0 || short > 0 {
        return Some(format!(
            "{name}: {leaderless} partition(s) without a leader, {short} with an ISR smaller than {}",
            definition.replication_factor
        ));
    }
    None
}

/// `--describe --topic NAME`: its output, or `None` when the topic does not exist.
fn describe_topic(phase: &Phase<Params>, at: &Target, name: &str) -> Result<Option<String>, Error> {
    let args = strings(&["--describe", "--topic", name]);
    let out = tool(phase, at, &phase.params.topics_command, &args)?;
    if out.exit_code == 0 {
        return Ok(Some(out.stdout));
    }
    let said = format!("{}{}", out.stdout, out.stderr);
    if said.contains("does not exist") || said.contains("UnknownTopicOrPartition") {
        return Ok(None);
    }
    Err(exited(&phase.params.topics_command, &args, &out))
}

/// Creates one topic. `Ok(None)`: created (or already there as defined by an earlier
/// call); `Ok(Some(why))`: not yet (still being deleted, or brokers missing), to retry.
fn create_topic(
    phase: &Phase<Params>,
    at: &Target,
    topic: &TopicDefinition,
) -> Result<Option<String>, Error> {
    let mut args = strings(&[
        "--create",
        "--topic",
        &topic.name,
        "--partitions",
        &topic.partitions.to_string(),
        "--replication-factor",
        &topic.replication_factor.to_string(),
    ]);
    for (key, value) in topic.config_pairs() {
        args.push("--config".into());
        args.push(format!("{key}={value}"));
    }
    let out = tool(phase, at, &phase.params.topics_command, &args)?;
    if out.exit_code == 0 {
        return Ok(None);
    }
    // Deletion is asynchronous on a real cluster, and a recovering cluster may not have
    // all its brokers yet: both pass; verify tries again.
    Ok(Some(format!(
        "creating {}: {}",
        topic.name,
        first_line(&format!("{}\n{}", out.stdout.trim(), out.stderr.trim()))
    )))
}

fn inject_recreate(phase: &Phase<Params>, at: &Target) -> Result<(), Error> {
    let p = &phase.params;
    let mut before = String::new();
    let mut existing = Vec::new();
    for topic in &p.topics {
        match describe_topic(phase, at, &topic.name)? {
            Some(text) => {
                before.push_str(&text);
                existing.push(topic.name.clone());
            }
            None => before.push_str(&format!("{}: does not exist\n", topic.name)),
        }
    }
    evidence::text("topics-before.txt", &before)?;
    let mut record = Recreated {
        target: at.clone(),
        topics: p.topics.clone(),
        deleted: Vec::new(),
        created: Vec::new(),
    };
    // Kept before anything is deleted: a rollback after a crash recreates what is gone.
    state::set_json(RECREATE_KEY, &record)?;
    for name in &existing {
        let args = strings(&["--delete", "--topic", name]);
        let out = tool(phase, at, &p.topics_command, &args)?;
        if out.exit_code != 0 {
            return Err(exited(&p.topics_command, &args, &out));
        }
        record.deleted.push(name.clone());
        state::set_json(RECREATE_KEY, &record)?;
        log::info(&format!(
            "deleted topic {name} in {}/{}",
            at.namespace, at.pod
        ));
    }
    for topic in &p.topics {
        match create_topic(phase, at, topic)? {
            None => record.created.push(topic.name.clone()),
            Some(why) => log::info(&format!("{why}; verify tries again")),
        }
    }
    state::set_json(RECREATE_KEY, &record)
}

fn names(topics: &[TopicDefinition]) -> String {
    topics
        .iter()
        .map(|t| t.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn verify_recreate(phase: &Phase<Params>) -> Result<Option<String>, Error> {
    let Some(mut record) = state::get_json::<Recreated>(RECREATE_KEY) else {
        return Err(Error::failed("no topic was recreated"));
    };
    let mut after = String::new();
    for topic in &record.topics.clone() {
        if !record.created.contains(&topic.name) {
            if let Some(why) = create_topic(phase, &record.target, topic)? {
                return Ok(Some(why));
            }
            record.created.push(topic.name.clone());
            state::set_json(RECREATE_KEY, &record)?;
        }
        let Some(text) = describe_topic(phase, &record.target, &topic.name)? else {
            return Ok(Some(format!("{} is not described yet", topic.name)));
        };
        if let Some(why) = mismatch(topic, &parse_describe(&text)) {
            return Ok(Some(why));
        }
        after.push_str(&text);
    }
    evidence::text("topics-after.txt", &after)?;
    Ok(None)
}

// ----- consumer groups -----

/// Rows of a `kafka-consumer-groups.sh` table for `topic`: partition and the columns
/// after it (`CURRENT-OFFSET LOG-END-OFFSET LAG ...` or `NEW-OFFSET`).
fn table_rows(text: &str, group: &str, topic: &str) -> BTreeMap<u32, Vec<String>> {
    let mut rows = BTreeMap::new();
    let mut in_table = false;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"GROUP") {
            in_table = true;
            continue;
        }
        if !in_table || words.len() < 4 || words[0] != group || words[1] != topic {
            continue;
        }
        if let Ok(partition) = words[2].parse::<u32>() {
            rows.insert(
                partition,
                words[3..].iter().map(|w| (*w).to_owned()).collect(),
            );
        }
    }
    rows
}

fn describe_group(phase: &Phase<Params>, at: &Target, group: &str) -> Result<String, Error> {
    let args = strings(&["--describe", "--group", group]);
    let out = tool(phase, at, &phase.params.groups_command, &args)?;
    if out.exit_code != 0 {
        return Err(exited(&phase.params.groups_command, &args, &out));
    }
    Ok(out.stdout)
}

/// Committed offset and log end per partition of `topic` (`None`: nothing committed).
fn group_offsets(
    text: &str,
    group: &str,
    topic: &str,
) -> BTreeMap<u32, (Option<u64>, Option<u64>)> {
    table_rows(text, group, topic)
        .into_iter()
        .map(|(partition, columns)| {
            let number = |i: usize| columns.get(i).and_then(|v| v.parse::<u64>().ok());
            (partition, (number(0), number(1)))
        })
        .collect()
}

fn offsets_report(record: &Replayed) -> String {
    let mut text = format!(
        "consumer group {} on {} reset to {}\n{:<10} {:>15} {:>15} {:>15} {:>15}\n",
        record.group,
        record.topic,
        record.datetime,
        "PARTITION",
        "BEFORE",
        "AFTER",
        "LOG-END",
        "REPLAYED"
    );
    for (partition, after) in &record.after {
        let before = record.before.get(partition).copied().flatten();
        let end = record.log_end.get(partition).copied().unwrap_or(0);
        let replayed = before.unwrap_or(end).saturating_sub(*after);
        text.push_str(&format!(
            "{partition:<10} {:>15} {after:>15} {end:>15} {replayed:>15}\n",
            before.map_or("-".to_owned(), |b| b.to_string())
        ));
    }
    text.push_str(&format!(
        "messages read again: {}; lag after the reset: {}\n",
        record.replayed(),
        record.lag()
    ));
    text
}

fn inject_replay(phase: &Phase<Params>, at: &Target, replay: &Replay) -> Result<(), Error> {
    let p = &phase.params;
    let datetime = match (&replay.to_datetime, replay.minutes_ago) {
        (Some(text), _) => text.clone(),
        (None, Some(minutes)) => {
            iso_utc(clock::now_ms().saturating_sub(u64::from(minutes) * 60_000))
        }
        (None, None) => return Err(Error::InvalidParams("replay: no time given".into())),
    };
    let described = describe_group(phase, at, &replay.group)?;
    let before: BTreeMap<u32, Option<u64>> =
        group_offsets(&described, &replay.group, &replay.topic)
            .into_iter()
            .map(|(partition, (committed, _))| (partition, committed))
            .collect();
    let mut record = Replayed {
        target: at.clone(),
        group: replay.group.clone(),
        topic: replay.topic.clone(),
        datetime: datetime.clone(),
        before,
        after: BTreeMap::new(),
        log_end: BTreeMap::new(),
    };
    // Kept before the reset: a rollback after a crash puts the old offsets back.
    state::set_json(REPLAY_KEY, &record)?;
    let args = strings(&[
        "--reset-offsets",
        "--group",
        &replay.group,
        "--topic",
        &replay.topic,
        "--to-datetime",
        &datetime,
        "--execute",
    ]);
    let out = tool(phase, at, &p.groups_command, &args)?;
    if out.exit_code != 0 {
        return Err(exited(&p.groups_command, &args, &out));
    }
    record.after = table_rows(&out.stdout, &replay.group, &replay.topic)
        .into_iter()
        .filter_map(|(partition, columns)| Some((partition, columns.first()?.parse().ok()?)))
        .collect();
    if record.after.is_empty() {
        return Err(Error::failed(format!(
            "{} --reset-offsets printed no new offset for {}: {}",
            p.groups_command,
            replay.topic,
            first_line(&out.stderr)
        )));
    }
    let described = describe_group(phase, at, &replay.group)?;
    record.log_end = group_offsets(&described, &replay.group, &replay.topic)
        .into_iter()
        .filter_map(|(partition, (_, end))| Some((partition, end?)))
        .collect();
    state::set_json(REPLAY_KEY, &record)?;
    evidence::text("offsets.txt", &offsets_report(&record))?;
    log::info(&format!(
        "reset group {} on {} to {datetime}: {} messages to replay",
        replay.group,
        replay.topic,
        record.lag()
    ));
    Ok(())
}

fn verify_replay(phase: &Phase<Params>) -> Result<Option<String>, Error> {
    let Some(record) = state::get_json::<Replayed>(REPLAY_KEY) else {
        return Err(Error::failed("no consumer group was reset"));
    };
    let described = describe_group(phase, &record.target, &record.group)?;
    let now = group_offsets(&described, &record.group, &record.topic);
    // The reset holds once every partition has a committed offset at or past the new one
    // (consumers started since may have moved on).
    for (partition, after) in &record.after {
        match now.get(partition).and_then(|(committed, _)| *committed) {
            Some(committed) if committed >= *after => {}
            other => {
                return Ok(Some(format!(
                    "{}-{partition}: committed offset {} for group {}, expected {after}",
                    record.topic,
                    other.map_or("-".to_owned(), |o| o.to_string()),
                    record.group
                )));
            }
        }
    }
    let lag: u64 = now
        .values()
        .filter_map(|(committed, end)| Some(end.as_ref()?.saturating_sub((*committed)?)))
        .sum();
    evidence::text(
        "group-after.txt",
        &format!(
            "{described}\ntotal lag of {} on {}: {lag}\n",
            record.group, record.topic
        ),
    )?;
    Ok(None)
}

/// Puts the group's offsets back: one `--to-offset` reset per saved offset (on the
/// partitions that had it), `--delete-offsets` where none was committed before.
fn rollback_replay(phase: &Phase<Params>, record: &Replayed) -> Result<(), Error> {
    let p = &phase.params;
    let mut by_offset: BTreeMap<Option<u64>, Vec<u32>> = BTreeMap::new();
    for (partition, before) in &record.before {
        by_offset.entry(*before).or_default().push(*partition);
    }
    for partition in record.after.keys() {
        if !record.before.contains_key(partition) {
            by_offset.entry(None).or_default().push(*partition);
        }
    }
    for (offset, partitions) in by_offset {
        let scope = format!(
            "{}:{}",
            record.topic,
            partitions
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        );
        let args = match offset {
            Some(offset) => strings(&[
                "--reset-offsets",
                "--group",
                &record.group,
                "--topic",
                &scope,
                "--to-offset",
                &offset.to_string(),
                "--execute",
            ]),
            None => strings(&[
                "--delete-offsets",
                "--group",
                &record.group,
                "--topic",
                &scope,
            ]),
        };
        let out = tool(phase, &record.target, &p.groups_command, &args)?;
        if out.exit_code != 0 {
            return Err(exited(&p.groups_command, &args, &out));
        }
    }
    log::info(&format!(
        "put the offsets of group {} on {} back as they were before the replay",
        record.group, record.topic
    ));
    Ok(())
}

impl Scenario for KafkaClusterRecovery {
    type Params = Params;

    fn describe() -> Description {
        Description::new(
            "kafka-cluster-recovery",
            "0.1.0",
            "The runbook's Kafka full cluster recovery and point-in-time replay: recreates topics from their definitions (deleting them loses their messages: refused unless allow_data_loss) and checks partitions, replication factor, leaders and ISRs; and/or resets a consumer group's offsets to a time, recording the offsets before and after and the messages to replay, put back on rollback.",
        )
        .params_schema(serde_json::json!({
            "type": "object",
            "properties": {
                "pod": { "type": "string" },
                "container": { "type": "string" },
                "topics": { "type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "name": { "type": "string", "minLength": 1, "maxLength": 249 },
                        "partitions": { "type": "integer", "minimum": 1 },
                        "replication_factor": { "type": "integer", "minimum": 1 },
                        "configs": { "type": "object" }
                    },
                    "required": ["name", "partitions", "replication_factor"],
                    "additionalProperties": false
                } },
                "mode": { "enum": ["recreate", "replay", "both"], "default": "recreate" },
                "allow_data_loss": { "type": "boolean", "default": false },
                "replay": {
                    "type": "object",
                    "properties": {
                        "group": { "type": "string", "minLength": 1 },
                        "topic": { "type": "string", "minLength": 1 },
                        "to_datetime": { "type": "string" },
                        "minutes_ago": { "type": "integer", "minimum": 0 }
                    },
                    "required": ["group", "topic"],
                    "additionalProperties": false
                },
                "bootstrap_server": { "type": "string", "default": "localhost:9092" },
                "topics_command": { "type": "string", "default": "kafka-topics.sh" },
                "groups_command": { "type": "string", "default": "kafka-consumer-groups.sh" },
                "timeout_ms": { "type": "integer", "minimum": 1000, "default": 60000 }
            },
            "additionalProperties": false
        }))
        .needs(Capability::cluster(&[Verb::List], &["*"]))
        .needs(Capability::Exec(vec!["*".into()]))
    }

    fn plan(phase: &Phase<Params>) -> Result<Vec<Action>, Error> {
        let p = &phase.params;
        check(p)?;
        let at = target(phase)?;
        let where_ = format!("pod/{} in namespace {}", at.pod, at.namespace);
        let mut actions = Vec::new();
        if p.mode.recreates() {
            let guard = if p.allow_data_loss {
                "allowed by allow_data_loss: true"
            } else {
                "REFUSED unless allow_data_loss: true"
            };
            for topic in &p.topics {
                actions.push(Action::new(
                    ActionKind::Exec,
                    where_.clone(),
                    format!(
                        "{} --delete --topic {} then --create --partitions {} --replication-factor {}: every message of {} is lost ({guard})",
                        p.topics_command,
                        topic.name,
                        topic.partitions,
                        topic.replication_factor,
                        topic.name
                    ),
                ));
            }
        }
        if let (true, Some(replay)) = (p.mode.replays(), &p.replay) {
            let when = match (&replay.to_datetime, replay.minutes_ago) {
                (Some(text), _) => text.clone(),
                (None, Some(minutes)) => format!("{minutes} minutes before inject"),
                (None, None) => String::new(),
            };
            actions.push(Action::new(
                ActionKind::Exec,
                where_,
                format!(
                    "{} --reset-offsets --group {} --topic {} --to-datetime {when} --execute (offsets saved first, put back on rollback)",
                    p.groups_command, replay.group, replay.topic
                ),
            ));
        }
        Ok(actions)
    }

    fn inject(phase: &Phase<Params>) -> Result<(), Error> {
        let p = &phase.params;
        check(p)?;
        // Refused before anything runs in the cluster.
        if p.mode.recreates() && !p.allow_data_loss {
            return Err(Error::InvalidParams(format!(
                "mode recreate deletes every message of {} and cannot be rolled back: set allow_data_loss: true to drill it (nothing was deleted)",
                names(&p.topics)
            )));
        }
        let at = target(phase)?;
        let version = tools_version(phase, &at);
        state::set(TOOLS_KEY, &version)?;
        evidence::text(
            "tools.txt",
            &format!(
                "{} --version in {}/{}: {version}\n",
                p.topics_command, at.namespace, at.pod
            ),
        )?;
        if p.mode.recreates() {
            inject_recreate(phase, &at)?;
        }
        if let (true, Some(replay)) = (p.mode.replays(), &p.replay) {
            inject_replay(phase, &at, replay)?;
        }
        Ok(())
    }

    fn verify(phase: &Phase<Params>) -> Result<Verdict, Error> {
        let p = &phase.params;
        let mut waiting = Vec::new();
        if p.mode.recreates() {
            match verify_recreate(phase) {
                Ok(Some(why)) => waiting.push(why),
                Ok(None) => {}
                Err(Error::Unavailable(e) | Error::Timeout(e)) => waiting.push(e),
                Err(err) => return Err(err),
            }
        }
        if p.mode.replays() {
            match verify_replay(phase) {
                Ok(Some(why)) => waiting.push(why),
                Ok(None) => {}
                Err(Error::Unavailable(e) | Error::Timeout(e)) => waiting.push(e),
                Err(err) => return Err(err),
            }
        }
        if waiting.is_empty() {
            Ok(Verdict::Recovered)
        } else {
            Ok(Verdict::Recovering(waiting.join("; ")))
        }
    }

    fn findings(_phase: &Phase<Params>) -> Result<Findings, Error> {
        let mut findings = Findings::none();
        let version = state::get(TOOLS_KEY).unwrap_or_default();
        if version.contains("simulated") {
            findings = findings.follow_up(format!(
                "This phase ran on the sandbox's simulated Kafka tools (kafka-topics.sh --version: {version}): its offsets, partitions and timings come from a simulation; drill it against a real Kafka cluster before relying on them."
            ));
        }
        if let Some(record) = state::get_json::<Recreated>(RECREATE_KEY)
            && !record.deleted.is_empty()
        {
            let (topics, were) = match record.deleted.as_slice() {
                [one] => (format!("Topic {one}"), "was"),
                many => (format!("Topics {}", many.join(", ")), "were"),
            };
            findings = findings.follow_up(format!(
                "{topics} {were} deleted and recreated empty: every message {} held is gone and no rollback brings it back; re-publish what consumers need from the producers or a mirror.",
                if record.deleted.len() == 1 { "it" } else { "they" }
            ));
        }
        if let Some(record) = state::get_json::<Replayed>(REPLAY_KEY) {
            log::info(&format!(
                "group {} was reset to {}: {} messages read again",
                record.group,
                record.datetime,
                record.replayed()
            ));
        }
        Ok(findings)
    }

    fn rollback(phase: &Phase<Params>) -> Result<(), Error> {
        if let Some(record) = state::get_json::<Replayed>(REPLAY_KEY) {
            rollback_replay(phase, &record)?;
            state::remove(REPLAY_KEY);
        }
        if let Some(record) = state::get_json::<Recreated>(RECREATE_KEY) {
            // Nothing brings the messages back; at least every defined topic exists again
            // (an inject that stopped between delete and create left it missing).
            for topic in &record.topics {
                if describe_topic(phase, &record.target, &topic.name)?.is_none()
                    && let Some(why) = create_topic(phase, &record.target, topic)?
                {
                    return Err(Error::failed(why));
                }
            }
            state::remove(RECREATE_KEY);
        }
        state::remove(TOOLS_KEY);
        Ok(())
    }
}

export_scenario!(KafkaClusterRecovery);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_utc_formats_epoch_milliseconds() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_utc(1_796_119_200_123), "2026-12-01T10:00:00.123Z");
        assert!(valid_datetime("2026-12-01T10:00:00.000"));
        assert!(valid_datetime("2026-12-01T10:00:00.000Z"));
        assert!(valid_datetime("2026-12-01T10:00:00.000+01:00"));
        assert!(!valid_datetime("2026-12-01 10:00"));
    }

    #[test]
    fn describe_output_is_checked_against_the_definition() {
        let text = "Topic: t\tTopicId: x\tPartitionCount: 2\tReplicationFactor: 3\tConfigs: min.insync.replicas=2\n\tTopic: t\tPartition: 0\tLeader: 0\tReplicas: 0,1,2\tIsr: 0,1,2\n\tTopic: t\tPartition: 1\tLeader: 1\tReplicas: 1,2,0\tIsr: 1,2\n";
        let mut definition = TopicDefinition {
            name: "t".into(),
            partitions: 2,
            replication_factor: 3,
            configs: BTreeMap::from([("min.insync.replicas".into(), serde_json::json!(2))]),
        };
        let why = mismatch(&definition, &parse_describe(text));
        assert_eq!(
            why.as_deref(),
            Some("t: 0 partition(s) without a leader, 1 with an ISR smaller than 3")
        );
        definition.partitions = 12;
        assert_eq!(
            mismatch(&definition, &parse_describe(text)).as_deref(),
            Some("t has 2 partitions, not 12")
        );
    }

    #[test]
    fn group_tables_are_read_by_column() {
        let text = "\nGROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID\ng               t               0          7               10              3               -               -               -\ng               t               1          -               10              -               -               -               -\n";
        let offsets = group_offsets(text, "g", "t");
        assert_eq!(offsets.get(&0), Some(&(Some(7), Some(10))));
        assert_eq!(offsets.get(&1), Some(&(None, Some(10))));
        let record = Replayed {
            target: Target {
                namespace: "n".into(),
                pod: "p".into(),
            },
            group: "g".into(),
            topic: "t".into(),
            datetime: "d".into(),
            before: BTreeMap::from([(0, Some(7)), (1, None)]),
            after: BTreeMap::from([(0, 2), (1, 4)]),
            log_end: BTreeMap::from([(0, 10), (1, 10)]),
        };
        assert_eq!(record.replayed(), 5 + 6);
        assert_eq!(record.lag(), 8 + 6);
    }
}
