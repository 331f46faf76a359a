//! `kafka-topics.sh --describe` and `--list` on Kafka pods, in Kafka 3's format, and the
//! placement of partitions over the brokers that the Kafka tools share.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Member, Output, Ring, SIMULATED_HINT, stable_topic_id};
use crate::platform::Topic;

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

pub(super) fn kafka_topics(args: &[String], ring: &Ring, topics: &[Topic]) -> Output {
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
        let create = run(
            &command("kafka-topics.sh --create --topic x"),
            &context,
            &mut Logs::default(),
        );
        assert_eq!(create.exit_code, 1);
    }
}
