//! The Kafka canary tools on Kafka pods: `kafka-verifiable-producer.sh`, which appends
//! what it got acknowledged to the workload's [`Logs`], and `kafka-console-consumer.sh`,
//! which reads them back (from a group's committed offsets with `--group`).

use std::fmt::Write as _;

use super::kafka_topics::partitions;
use super::{Context, Logs, Output, Record, SIMULATED_HINT};
use crate::platform::Topic;

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
pub(super) fn options(
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
pub(super) fn option<'a>(
    parsed: &'a [(String, Option<String>)],
    flags: &[&str],
) -> Option<&'a str> {
    parsed
        .iter()
        .rev()
        .find(|(flag, _)| flags.contains(&flag.as_str()))
        .and_then(|(_, value)| value.as_deref())
}

pub(super) fn has_flag(parsed: &[(String, Option<String>)], flag: &str) -> bool {
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
pub(super) fn verifiable_producer(args: &[String], context: &Context, logs: &mut Logs) -> Output {
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
        messages.push(Record {
            value: value.clone(),
            timestamp_ms: timestamp,
        });
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
/// by partition in offset order, then `Processed a total of N messages` on stderr, as the
/// real tool does when `--timeout-ms` passes without a message. Each partition is read
/// from the `--group`'s committed offset; without one (or without a group) from the
/// beginning with `--from-beginning`, else from the end (`auto.offset.reset`). With a
/// group the offsets reached are committed as the consumer closes. Partitions without a
/// leader deliver nothing. The simulation answers at once; it never waits for new
/// messages.
pub(super) fn console_consumer(args: &[String], context: &Context, logs: &mut Logs) -> Output {
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
    let group = option(&parsed, &["--group"]).map(str::to_owned);
    let from_beginning = has_flag(&parsed, "--from-beginning");
    let mut stdout = String::new();
    let mut count = 0u64;
    let mut reached: Vec<(u32, u64)> = Vec::new();
    for state in partitions(topic, &context.ring) {
        if state.leader.is_none() || only_partition.is_some_and(|p| p != u64::from(state.partition))
        {
            continue;
        }
        let end = logs.log_end(topic_name, state.partition);
        let committed = group
            .as_deref()
            .and_then(|g| logs.committed(g, topic_name, state.partition));
        let start = committed.unwrap_or(if from_beginning { 0 } else { end });
        let mut position = start.min(end);
        let messages = logs
            .topics
            .get(topic_name)
            .and_then(|log| log.partitions.get(state.partition as usize))
            .map(Vec::as_slice)
            .unwrap_or_default();
        while position < end && max_messages.is_none_or(|max| count < max) {
            if let Some(record) = messages.get(position as usize) {
                stdout.push_str(&record.value);
                stdout.push('\n');
            }
            count += 1;
            position += 1;
        }
        reached.push((state.partition, position));
    }
    if let Some(group) = group {
        let offsets = logs.groups.entry(group).or_default();
        for (partition, position) in reached {
            offsets.insert((topic_name.to_owned(), partition), position);
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
    use super::super::tests::{UP, command, kafka};
    use super::super::{Logs, MemberState, Output, run};

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
}
