//! `kafka-consumer-groups.sh` on Kafka pods: `--list`, `--describe` (committed offsets,
//! log end offsets and lag in Kafka 3's column layout), `--reset-offsets` (`--to-datetime`,
//! `--to-offset`, `--to-earliest`, `--to-latest`, `--to-current`; `--dry-run` or
//! `--execute`) and `--delete-offsets`, over the workload's kept committed offsets.
//!
//! The simulated groups never have active members (no consumer runs between execs), so a
//! reset is always allowed, as Kafka allows it for an inactive group.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDateTime};

use super::kafka_clients::{has_flag, option, options};
use super::kafka_topics::KAFKA_VERSION;
use super::{Context, Logs, Output, SIMULATED_MARK};

const TOOL: &str = "kafka-consumer-groups";

/// How a reset picks each partition's new offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResetTo {
    /// The earliest offset whose message timestamp is at or after this time (ms since the
    /// Unix epoch), or the log end when there is none (Kafka's `offsetsForTimes`).
    Datetime(i64),
    /// This offset, clamped to the log's start and end.
    Offset(u64),
    Earliest,
    Latest,
    Current,
}

pub(super) fn consumer_groups(args: &[String], context: &Context, logs: &mut Logs) -> Output {
    let parsed = match options(
        TOOL,
        args,
        &[
            "--bootstrap-server",
            "--group",
            "--topic",
            "--to-datetime",
            "--to-offset",
            "--command-config",
            "--timeout",
        ],
        &[
            "--list",
            "--describe",
            "--reset-offsets",
            "--delete-offsets",
            "--execute",
            "--dry-run",
            "--to-earliest",
            "--to-latest",
            "--to-current",
            "--all-topics",
            "--offsets",
            "--version",
        ],
    ) {
        Ok(parsed) => parsed,
        Err(output) => return output,
    };
    if has_flag(&parsed, "--version") {
        return Output::ok(format!("{KAFKA_VERSION} ({SIMULATED_MARK})\n"));
    }
    if option(&parsed, &["--bootstrap-server"]).is_none() {
        return Output::fail(
            "Missing required argument \"[bootstrap-server]\"\n".to_owned(),
            1,
        );
    }
    let actions: Vec<&str> = [
        "--list",
        "--describe",
        "--reset-offsets",
        "--delete-offsets",
    ]
    .into_iter()
    .filter(|a| has_flag(&parsed, a))
    .collect();
    let [action] = actions.as_slice() else {
        return Output::fail(
            "Command must include exactly one action: --list, --describe, --delete, --reset-offsets, --delete-offsets\n"
                .to_owned(),
            1,
        );
    };
    if *action == "--list" {
        return Output::ok(logs.groups.keys().map(|g| format!("{g}\n")).collect());
    }
    let Some(group) = option(&parsed, &["--group"]) else {
        return Output::fail(
            format!(
                "Option [{}] takes one of these options: [all-groups], [group]\n",
                &action[2..]
            ),
            1,
        );
    };
    let scopes: Vec<&str> = parsed
        .iter()
        .filter(|(flag, _)| flag == "--topic")
        .filter_map(|(_, value)| value.as_deref())
        .collect();
    match *action {
        "--describe" => describe(group, context, logs),
        "--delete-offsets" => delete_offsets(group, &scopes, context, logs),
        _ => reset(group, &scopes, &parsed, context, logs),
    }
}

/// `--describe --group G`: one row per partition the group has committed offsets on.
fn describe(group: &str, context: &Context, logs: &Logs) -> Output {
    let Some(offsets) = logs.groups.get(group) else {
        return Output {
            stdout: String::new(),
            stderr: format!("\nError: Consumer group '{group}' does not exist.\n"),
            exit_code: 0,
        };
    };
    let rows: Vec<[String; 6]> = offsets
        .iter()
        .filter(|((topic, _), _)| context.topics.iter().any(|t| t.name == *topic))
        .map(|((topic, partition), offset)| {
            let end = logs.log_end(topic, *partition);
            [
                group.to_owned(),
                topic.clone(),
                partition.to_string(),
                offset.to_string(),
                end.to_string(),
                end.saturating_sub(*offset).to_string(),
            ]
        })
        .collect();
    let group_width = rows.iter().map(|r| r[0].len()).max().unwrap_or(0).max(15);
    let topic_width = rows.iter().map(|r| r[1].len()).max().unwrap_or(0).max(15);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<group_width$} {:<topic_width$} {:<10} {:<15} {:<15} {:<15} {:<15} {:<15} CLIENT-ID",
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST"
    );
    for [g, topic, partition, current, end, lag] in &rows {
        let _ = writeln!(
            out,
            "{g:<group_width$} {topic:<topic_width$} {partition:<10} {current:<15} {end:<15} {lag:<15} {:<15} {:<15} -",
            "-", "-"
        );
    }
    out.push('\n');
    Output {
        stdout: out,
        stderr: format!("\nConsumer group '{group}' has no active members.\n"),
        exit_code: 0,
    }
}

/// The partitions `--topic T` or `--topic T:0,2` names, checked against the topics.
fn scoped(scopes: &[&str], context: &Context) -> Result<Vec<(String, u32)>, Output> {
    let mut selected = Vec::new();
    for scope in scopes {
        let (name, partitions) = match scope.split_once(':') {
            Some((name, list)) => {
                let mut numbers = Vec::new();
                for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    match part.parse::<u32>() {
                        Ok(n) => numbers.push(n),
                        Err(_) => {
                            return Err(Output::fail(
                                format!("Error: Invalid partition '{part}' in --topic {scope}\n"),
                                1,
                            ));
                        }
                    }
                }
                (name, Some(numbers))
            }
            None => (*scope, None),
        };
        let Some(topic) = context.topics.iter().find(|t| t.name == name) else {
            return Err(Output::fail(
                format!(
                    "Error: Executing consumer group command failed due to org.apache.kafka.common.errors.UnknownTopicOrPartitionException: This server does not host this topic-partition: {name}\n"
                ),
                1,
            ));
        };
        let all: Vec<u32> = (0..topic.partitions).collect();
        for partition in partitions.unwrap_or(all) {
            if partition >= topic.partitions {
                return Err(Output::fail(
                    format!(
                        "Error: Executing consumer group command failed due to org.apache.kafka.common.errors.UnknownTopicOrPartitionException: This server does not host this topic-partition: {name}-{partition}\n"
                    ),
                    1,
                ));
            }
            selected.push((name.to_owned(), partition));
        }
    }
    Ok(selected)
}

/// Parses `--to-datetime`: `YYYY-MM-DDTHH:mm:SS[.sss]` with an optional `Z` or `±HH:MM`;
/// without a zone, UTC (the pod's default time zone).
pub(super) fn parse_datetime(text: &str) -> Option<i64> {
    let text = text.trim();
    let zoned = text
        .strip_suffix('Z')
        .map(|t| format!("{t}+00:00"))
        .unwrap_or_else(|| text.to_owned());
    if let Ok(at) = DateTime::parse_from_str(&zoned, "%Y-%m-%dT%H:%M:%S%.f%:z") {
        return Some(at.timestamp_millis());
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|at| at.and_utc().timestamp_millis())
}

fn reset(
    group: &str,
    scopes: &[&str],
    parsed: &[(String, Option<String>)],
    context: &Context,
    logs: &mut Logs,
) -> Output {
    let mut specs = Vec::new();
    if let Some(text) = option(parsed, &["--to-datetime"]) {
        match parse_datetime(text) {
            Some(at) => specs.push(ResetTo::Datetime(at)),
            None => {
                return Output::fail(
                    format!(
                        "Error: Executing consumer group command failed due to Error parsing timestamp '{text}': expected the format YYYY-MM-DDTHH:mm:SS.sss\n"
                    ),
                    1,
                );
            }
        }
    }
    if let Some(text) = option(parsed, &["--to-offset"]) {
        match text.trim().parse::<u64>() {
            Ok(offset) => specs.push(ResetTo::Offset(offset)),
            Err(_) => {
                return Output::fail(
                    format!("Error: the value of --to-offset must be a number: {text}\n"),
                    1,
                );
            }
        }
    }
    for (flag, spec) in [
        ("--to-earliest", ResetTo::Earliest),
        ("--to-latest", ResetTo::Latest),
        ("--to-current", ResetTo::Current),
    ] {
        if has_flag(parsed, flag) {
            specs.push(spec);
        }
    }
    let [spec] = specs.as_slice() else {
        return Output::fail(
            "Option [reset-offsets] takes exactly one of these options: [to-datetime], [by-duration], [to-earliest], [to-latest], [shift-by], [from-file], [to-current], [to-offset]\n"
                .to_owned(),
            1,
        );
    };
    let mut selected = if has_flag(parsed, "--all-topics") {
        let committed: Vec<(String, u32)> = logs
            .groups
            .get(group)
            .map(|offsets| offsets.keys().cloned().collect())
            .unwrap_or_default();
        committed
    } else if scopes.is_empty() {
        return Output::fail(
            "Option [reset-offsets] takes one of these options: [all-topics], [topic]\n".to_owned(),
            1,
        );
    } else {
        match scoped(scopes, context) {
            Ok(selected) => selected,
            Err(output) => return output,
        }
    };
    selected.sort();
    selected.dedup();
    let mut new_offsets: BTreeMap<(String, u32), u64> = BTreeMap::new();
    for (topic, partition) in &selected {
        let end = logs.log_end(topic, *partition);
        let offset = match *spec {
            ResetTo::Datetime(at) => logs
                .topics
                .get(topic)
                .and_then(|log| log.partitions.get(*partition as usize))
                .and_then(|messages| messages.iter().position(|r| r.timestamp_ms >= at))
                .map_or(end, |index| index as u64),
            ResetTo::Offset(offset) => offset.min(end),
            ResetTo::Earliest => 0,
            ResetTo::Latest => end,
            ResetTo::Current => logs
                .committed(group, topic, *partition)
                .unwrap_or(end)
                .min(end),
        };
        new_offsets.insert((topic.clone(), *partition), offset);
    }
    let mut stdout = String::new();
    let mut stderr = String::new();
    let execute = has_flag(parsed, "--execute");
    if !execute && !has_flag(parsed, "--dry-run") {
        stderr.push_str("WARN: No action will be performed as the --execute option is missing. In a future major release, the default behavior of this command will be to prompt the user before executing the reset rather than doing a dry run. You should add the --dry-run option explicitly if you are scripting this command and want to keep the current default behavior without prompting.\n");
    }
    let _ = writeln!(
        stdout,
        "\n{:<30} {:<30} {:<10} {:<15}",
        "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"
    );
    for ((topic, partition), offset) in &new_offsets {
        let _ = writeln!(
            stdout,
            "{group:<30} {topic:<30} {:<10} {:<15}",
            partition.to_string(),
            offset.to_string()
        );
    }
    if execute {
        logs.groups
            .entry(group.to_owned())
            .or_default()
            .extend(new_offsets);
    }
    Output {
        stdout,
        stderr,
        exit_code: 0,
    }
}

/// `--delete-offsets --group G --topic T[:p,...]`: forgets the group's committed offsets
/// on those partitions.
fn delete_offsets(group: &str, scopes: &[&str], context: &Context, logs: &mut Logs) -> Output {
    if scopes.is_empty() {
        return Output::fail(
            "Option [delete-offsets] takes the following options: [topic], [group]\n".to_owned(),
            1,
        );
    }
    let selected = match scoped(scopes, context) {
        Ok(selected) => selected,
        Err(output) => return output,
    };
    let Some(offsets) = logs.groups.get_mut(group) else {
        return Output::fail(
            format!(
                "Error: Encounter some unknown error: Consumer group '{group}' does not exist.\n"
            ),
            1,
        );
    };
    let mut out = format!(
        "Request succeed for deleting offsets with topic {} group {group}\n\n{:<30} {:<15} {:<15}\n",
        scopes.join(", "),
        "TOPIC",
        "PARTITION",
        "STATUS"
    );
    for (topic, partition) in selected {
        offsets.remove(&(topic.clone(), partition));
        let _ = writeln!(
            out,
            "{topic:<30} {:<15} {:<15}",
            partition.to_string(),
            "Successful"
        );
    }
    Output::ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{UP, command, kafka};
    use super::super::{Context, Logs, Output, run};
    use super::*;
    use crate::platform::{ConsumerGroup, Topic};

    const NOW: i64 = 1_700_000_000_000;

    /// A topic `events` of 2 partitions with 10 messages each, one a minute, the newest
    /// at `NOW`, and group `app` 3 behind on each partition.
    fn context() -> Context {
        let mut context = kafka(&[UP, UP, UP]);
        let mut topic = Topic::defaults().remove(0);
        topic.name = "events".to_owned();
        topic.partitions = 2;
        topic.messages = 10;
        context.topics.push(topic);
        context.consumer_groups = vec![ConsumerGroup {
            name: "app".to_owned(),
            topic: "events".to_owned(),
            lag: 3,
        }];
        context.now_ms = NOW;
        context
    }

    fn groups(text: &str, logs: &mut Logs) -> Output {
        run(
            &command(&format!(
                "kafka-consumer-groups.sh --bootstrap-server localhost:9092 {text}"
            )),
            &context(),
            logs,
        )
    }

    /// The data rows of a table: every line after the header, split on whitespace.
    fn rows(stdout: &str) -> Vec<Vec<String>> {
        stdout
            .lines()
            .skip_while(|l| !l.starts_with("GROUP"))
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.split_whitespace().map(str::to_owned).collect())
            .collect()
    }

    #[test]
    fn describe_shows_committed_offsets_log_end_and_lag_in_kafka_columns() {
        let mut logs = Logs::default();
        let output = groups("--describe --group app", &mut logs);
        assert_eq!(output.exit_code, 0, "{output:?}");
        let header = output.stdout.lines().nth(1).unwrap_or_default();
        assert_eq!(
            header,
            "GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID"
        );
        assert_eq!(
            rows(&output.stdout),
            [
                ["app", "events", "0", "7", "10", "3", "-", "-", "-"],
                ["app", "events", "1", "7", "10", "3", "-", "-", "-"],
            ]
        );
        assert!(output.stderr.contains("has no active members"));
        let list = groups("--list", &mut logs);
        assert_eq!(list.stdout, "app\n");
        let missing = groups("--describe --group nope", &mut logs);
        assert!(
            missing
                .stderr
                .contains("Consumer group 'nope' does not exist")
        );
    }

    #[test]
    fn reset_to_datetime_moves_to_the_first_message_at_or_after_it_and_only_with_execute() {
        let mut logs = Logs::default();
        // Six minutes before the newest message: offset 3 is stamped exactly then, the
        // first at or after it on each partition.
        let at = chrono::DateTime::from_timestamp_millis(NOW - 6 * 60_000)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string())
            .unwrap_or_default();
        let dry = groups(
            &format!("--reset-offsets --group app --topic events --to-datetime {at} --dry-run"),
            &mut logs,
        );
        assert_eq!(dry.exit_code, 0, "{dry:?}");
        assert_eq!(
            dry.stdout.lines().nth(1).unwrap_or_default().trim_end(),
            "GROUP                          TOPIC                          PARTITION  NEW-OFFSET"
        );
        assert_eq!(
            rows(&dry.stdout),
            [["app", "events", "0", "3"], ["app", "events", "1", "3"]]
        );
        assert_eq!(
            logs.committed("app", "events", 0),
            Some(7),
            "a dry run changes nothing"
        );
        let warned = groups(
            &format!("--reset-offsets --group app --topic events --to-datetime {at}"),
            &mut logs,
        );
        assert!(warned.stderr.contains("--execute option is missing"));
        assert_eq!(logs.committed("app", "events", 0), Some(7));
        let done = groups(
            &format!("--reset-offsets --group app --topic events:1 --to-datetime {at}Z --execute"),
            &mut logs,
        );
        assert_eq!(rows(&done.stdout), [["app", "events", "1", "3"]]);
        assert_eq!(logs.committed("app", "events", 0), Some(7));
        assert_eq!(logs.committed("app", "events", 1), Some(3));
        // After the newest message: the log end.
        let future = groups(
            "--reset-offsets --group app --topic events --to-datetime 2099-01-01T00:00:00.000 --execute",
            &mut logs,
        );
        assert_eq!(
            rows(&future.stdout),
            [["app", "events", "0", "10"], ["app", "events", "1", "10"]]
        );
        // Back, per partition, to saved offsets; beyond the log end is clamped.
        groups(
            "--reset-offsets --group app --topic events:0 --to-offset 7 --execute",
            &mut logs,
        );
        groups(
            "--reset-offsets --group app --topic events:1 --to-offset 99 --execute",
            &mut logs,
        );
        assert_eq!(logs.committed("app", "events", 0), Some(7));
        assert_eq!(logs.committed("app", "events", 1), Some(10));
        let bad = groups(
            "--reset-offsets --group app --topic events --to-datetime yesterday --execute",
            &mut logs,
        );
        assert_eq!(bad.exit_code, 1);
        let unknown = groups(
            "--reset-offsets --group app --topic nope --to-earliest --execute",
            &mut logs,
        );
        assert_eq!(unknown.exit_code, 1);
        assert!(unknown.stderr.contains("UnknownTopicOrPartition"));
    }

    #[test]
    fn a_console_consumer_in_a_group_resumes_from_committed_offsets_and_commits() {
        let mut logs = Logs::default();
        let consume = "kafka-console-consumer.sh --bootstrap-server k:9092 --topic events --group app --timeout-ms 1000";
        let first = run(&command(consume), &context(), &mut logs);
        assert_eq!(
            first.stdout,
            "events-0-7\nevents-0-8\nevents-0-9\nevents-1-7\nevents-1-8\nevents-1-9\n"
        );
        assert_eq!(logs.committed("app", "events", 0), Some(10));
        let again = run(&command(consume), &context(), &mut logs);
        assert_eq!(
            again.stdout, "",
            "nothing new: the group resumes at the end"
        );
        // A replay: reset to the earliest, read it all again.
        groups(
            "--reset-offsets --group app --topic events --to-earliest --execute",
            &mut logs,
        );
        let replay = run(&command(consume), &context(), &mut logs);
        assert_eq!(replay.stdout.lines().count(), 20);
        assert!(
            replay
                .stderr
                .ends_with("Processed a total of 20 messages\n")
        );
    }

    #[test]
    fn deleting_a_topic_drops_its_messages_and_offsets_and_recreating_starts_at_zero() {
        let mut logs = Logs::default();
        let topics = |text: &str, logs: &mut Logs| {
            run(
                &command(&format!("kafka-topics.sh --bootstrap-server k:9092 {text}")),
                &context(),
                logs,
            )
        };
        let deleted = topics("--delete --topic events", &mut logs);
        assert_eq!(deleted.exit_code, 0, "{deleted:?}");
        assert!(logs.values("events").is_empty());
        assert_eq!(logs.committed("app", "events", 0), None);
        let gone = topics("--describe --topic events", &mut logs);
        assert_eq!(gone.exit_code, 1);
        let created = topics(
            "--create --topic events --partitions 4 --replication-factor 3 --config min.insync.replicas=2",
            &mut logs,
        );
        assert_eq!(created.stdout, "Created topic events.\n");
        let described = topics("--describe --topic events", &mut logs);
        let lines: Vec<&str> = described.stdout.lines().collect();
        assert_eq!(lines.len(), 5, "{}", described.stdout);
        assert!(
            lines[0].contains(
                "PartitionCount: 4\tReplicationFactor: 3\tConfigs: min.insync.replicas=2"
            )
        );
        assert!(
            !lines[0].contains(&super::super::stable_topic_id("butterfly/kafka/events")),
            "a recreated topic has a new id"
        );
        let describe = groups("--describe --group app", &mut logs);
        assert!(rows(&describe.stdout).is_empty(), "{}", describe.stdout);
        let reset = groups(
            "--reset-offsets --group app --topic events --to-earliest --execute",
            &mut logs,
        );
        assert_eq!(rows(&reset.stdout).len(), 4);
        assert_eq!(logs.committed("app", "events", 3), Some(0));
    }

    #[test]
    fn the_version_says_it_is_simulated() {
        let output = groups("--version", &mut Logs::default());
        assert_eq!(output.stdout, format!("3.7.0 ({SIMULATED_MARK})\n"));
    }
}
