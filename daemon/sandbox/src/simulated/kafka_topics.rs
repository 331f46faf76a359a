//! `kafka-topics.sh --describe`, `--list`, `--create` and `--delete` on Kafka pods, in
//! Kafka 3's format, and the placement of partitions over the brokers that the Kafka tools
//! share.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::{
    Context, Logs, Member, MemberState, Output, Ring, SIMULATED_HINT, SIMULATED_MARK, TopicLog,
    stable_topic_id,
};
use crate::platform::Topic;

/// The Kafka version the simulated tools say they are.
pub(super) const KAFKA_VERSION: &str = "3.7.0";

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

/// The partitions of a topic over the ring: partition `p` on the brokers its assignment
/// fixed at creation, else on brokers `(p + i) % n` for `i` in `0..rf` (rf capped at
/// `n`); a replica is in sync while its broker is Ready and caught up; the leader is the
/// first in-sync replica.
pub fn partitions(topic: &Topic, ring: &Ring) -> Vec<PartitionState> {
    let brokers = ring.members.len() as u32;
    let factor = topic.replication_factor.min(brokers);
    (0..topic.partitions)
        .map(|partition| {
            let assigned = topic
                .assignment
                .as_ref()
                .and_then(|a| a.get(partition as usize));
            let replicas: Vec<u32> = match assigned {
                Some(replicas) => replicas.clone(),
                None => (0..factor)
                    .map(|i| (partition + i) % brokers.max(1))
                    .collect(),
            };
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

/// What `--create` was given besides the topic name.
#[derive(Debug, Default)]
struct CreateOptions {
    partitions: Option<String>,
    replication_factor: Option<String>,
    configs: Vec<String>,
    if_not_exists: bool,
    if_exists: bool,
}

pub(super) fn kafka_topics(args: &[String], context: &Context, logs: &mut Logs) -> Output {
    let ring = &context.ring;
    let topics = &context.topics;
    let mut action: Option<&str> = None;
    let mut topic_filter: Option<String> = None;
    let mut filter = PartitionFilter::All;
    let mut create = CreateOptions::default();
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
            "--version" => {
                return Output::ok(format!("{KAFKA_VERSION} ({SIMULATED_MARK})\n"));
            }
            "--partitions" | "--replication-factor" | "--config" => {
                let Some(given) = value() else {
                    return Output::fail(format!("Option {flag} requires an argument\n"), 1);
                };
                match flag {
                    "--partitions" => create.partitions = Some(given),
                    "--replication-factor" => create.replication_factor = Some(given),
                    _ => create.configs.push(given),
                }
            }
            "--if-not-exists" => create.if_not_exists = true,
            "--if-exists" => create.if_exists = true,
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
    if action == Some("--create") {
        return create_topic(topic_filter.as_deref(), &create, context, logs);
    }
    if action == Some("--delete") && selected.is_empty() && create.if_exists {
        return Output::ok(String::new());
    }
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
        Some("--describe") => Output::ok(describe(&selected, ring, filter, logs)),
        Some("--delete") => match &topic_filter {
            Some(name) => {
                delete_topic(name, logs);
                Output::ok(String::new())
            }
            None => Output::fail(
                "Missing required argument \"[topic]\"\n".to_owned(),
                1,
            ),
        },
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

/// `--create`: refused when the topic exists (unless `--if-not-exists`) or the
/// replication factor exceeds the brokers that are up, as the controller refuses it;
/// otherwise an empty topic (offsets from 0) with the broker defaults (1 partition,
/// replication factor 1) for what is not given.
fn create_topic(
    name: Option<&str>,
    options: &CreateOptions,
    context: &Context,
    logs: &mut Logs,
) -> Output {
    let Some(name) = name else {
        return Output::fail("Missing required argument \"[topic]\"\n".to_owned(), 1);
    };
    let legal = !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !legal {
        return refused(&format!(
            "org.apache.kafka.common.errors.InvalidTopicException: Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    if context.topics.iter().any(|t| t.name == name) {
        if options.if_not_exists {
            return Output::ok(String::new());
        }
        return refused(&format!(
            "org.apache.kafka.common.errors.TopicExistsException: Topic '{name}' already exists."
        ));
    }
    let number = |given: &Option<String>, flag: &str| -> Result<u32, Output> {
        given.as_deref().map_or(Ok(1), |text| {
            text.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    refused(&format!(
                        "org.apache.kafka.common.errors.InvalidConfigurationException: {flag} must be a positive number, not {text}"
                    ))
                })
        })
    };
    let (partitions, factor) = match (
        number(&options.partitions, "--partitions"),
        number(&options.replication_factor, "--replication-factor"),
    ) {
        (Ok(partitions), Ok(factor)) => (partitions, factor),
        (Err(output), _) | (_, Err(output)) => return output,
    };
    // The controller places replicas on the brokers registered with it: those up.
    let up: Vec<u32> = context
        .ring
        .members
        .iter()
        .filter(|m| m.state == MemberState::Ready)
        .map(|m| m.ordinal)
        .collect();
    let available = up.len() as u32;
    if factor > available {
        return refused(&format!(
            "org.apache.kafka.common.errors.InvalidReplicationFactorException: Replication factor: {factor} larger than available brokers: {available}."
        ));
    }
    let mut configs = BTreeMap::new();
    for pair in &options.configs {
        let Some((key, value)) = pair.split_once('=') else {
            return refused(&format!(
                "org.apache.kafka.common.errors.InvalidConfigurationException: Invalid topic config: {pair} (expected key=value)"
            ));
        };
        configs.insert(key.trim().to_owned(), value.trim().to_owned());
    }
    let topic = Topic {
        name: name.to_owned(),
        partitions,
        replication_factor: factor,
        configs,
        messages: 0,
        message_interval: Duration::from_secs(60),
        // Round-robin over the brokers up, each partition led by the next one, as
        // Kafka's rack-unaware assignment does (without its random starting broker).
        assignment: Some(
            (0..partitions)
                .map(|partition| {
                    (0..factor)
                        .map(|i| up[((partition + i) % available) as usize])
                        .collect()
                })
                .collect(),
        ),
    };
    logs.topics.insert(
        name.to_owned(),
        TopicLog {
            partitions: vec![Vec::new(); partitions as usize],
            next_partition: 0,
        },
    );
    *logs.incarnations.entry(name.to_owned()).or_default() += 1;
    let mut catalogue = context.topics.clone();
    catalogue.push(topic);
    logs.catalogue = Some(catalogue);
    Output::ok(format!("Created topic {name}.\n"))
}

/// `--delete`: the topic, its messages and every group's committed offsets on it are
/// gone (the group coordinator drops the offsets of deleted partitions).
fn delete_topic(name: &str, logs: &mut Logs) {
    if let Some(catalogue) = &mut logs.catalogue {
        catalogue.retain(|t| t.name != name);
    }
    logs.topics.remove(name);
    for offsets in logs.groups.values_mut() {
        offsets.retain(|(topic, _), _| topic != name);
    }
}

/// The topic command's failure: its message on stdout and the exception on stderr, as
/// `TopicCommand` prints them, exit code 1.
fn refused(exception: &str) -> Output {
    let message = exception.split_once(": ").map_or(exception, |(_, m)| m);
    Output {
        stdout: format!("Error while executing topic command : {message}\n"),
        stderr: format!("ERROR {exception}\n"),
        exit_code: 1,
    }
}

fn describe(topics: &[&Topic], ring: &Ring, filter: PartitionFilter, logs: &Logs) -> String {
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
                // A recreated topic is a new topic: Kafka gives it a new id.
                stable_topic_id(&match logs.incarnations.get(&topic.name) {
                    Some(n) => format!("{}/{}/{}#{n}", ring.namespace, ring.workload, topic.name),
                    None => format!("{}/{}/{}", ring.namespace, ring.workload, topic.name),
                }),
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

#[cfg(test)]
mod tests {
    use super::super::tests::{UP, command, kafka, ring};
    use super::super::{Logs, MemberState, run};
    use super::*;

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
    }

    #[test]
    fn kafka_topics_creates_with_broker_defaults_and_refuses_more_replicas_than_brokers_up() {
        let mut logs = Logs::default();
        let context = kafka(&[UP, (MemberState::Missing, false), UP]);
        let refused = run(
            &command("kafka-topics.sh --create --topic x --partitions 12 --replication-factor 3"),
            &context,
            &mut logs,
        );
        assert_eq!(refused.exit_code, 1);
        assert_eq!(
            refused.stdout,
            "Error while executing topic command : Replication factor: 3 larger than available brokers: 2.\n"
        );
        let created = run(
            &command("kafka-topics.sh --create --topic x"),
            &context,
            &mut logs,
        );
        assert_eq!(created.stdout, "Created topic x.\n");
        let described = run(
            &command("kafka-topics.sh --describe --topic x"),
            &context,
            &mut logs,
        );
        assert!(
            described
                .stdout
                .contains("PartitionCount: 1\tReplicationFactor: 1\tConfigs: \n"),
            "{}",
            described.stdout
        );
        let again = run(
            &command("kafka-topics.sh --create --topic x"),
            &context,
            &mut logs,
        );
        assert!(again.stdout.contains("Topic 'x' already exists."));
        let quiet = run(
            &command("kafka-topics.sh --create --if-not-exists --topic x"),
            &context,
            &mut logs,
        );
        assert_eq!(quiet.exit_code, 0);
        // Created while broker 1 is down: its replicas are on the brokers up, in sync.
        let placed = run(
            &command("kafka-topics.sh --create --topic y --partitions 3 --replication-factor 2"),
            &context,
            &mut logs,
        );
        assert_eq!(placed.exit_code, 0, "{placed:?}");
        let described = run(
            &command("kafka-topics.sh --describe --topic y"),
            &context,
            &mut logs,
        );
        let lines: Vec<&str> = described.stdout.lines().skip(1).collect();
        assert_eq!(
            lines,
            [
                "\tTopic: y\tPartition: 0\tLeader: 0\tReplicas: 0,2\tIsr: 0,2",
                "\tTopic: y\tPartition: 1\tLeader: 2\tReplicas: 2,0\tIsr: 2,0",
                "\tTopic: y\tPartition: 2\tLeader: 0\tReplicas: 0,2\tIsr: 0,2",
            ]
        );
        let version = run(&command("kafka-topics.sh --version"), &context, &mut logs);
        assert!(version.stdout.contains(super::super::SIMULATED_MARK));
    }
}
