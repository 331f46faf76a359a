//! Built-in scenario `kafka-broker` (the runbook's phase 4): delete one Kafka broker pod,
//! with `kafka-topics.sh --describe` before and after as evidence; recovered when the
//! broker is back, every partition has a leader and every ISR is whole again.
//!
//! A canary checks that no acknowledged message is lost: Kafka's own
//! `kafka-verifiable-producer.sh` (`--acks -1`) writes a batch before the fault and a small
//! batch at most once a second while recovering, through a Ready broker; after recovery
//! `kafka-console-consumer.sh --from-beginning` reads the topic back and every
//! acknowledged value must be there. Values are `<prefix>.<i>` with a prefix per run and
//! batch (the tool takes an integer), so earlier runs' messages do not count.

use std::collections::{BTreeMap, BTreeSet};

use firedrill_sdk::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Params {
    /// The broker pod to delete. Default: the second Ready broker by name (the runbook
    /// describes on `kafka-0` and deletes `kafka-1`), or the only one.
    pod: Option<String>,
    /// Deletion grace period; 0 is `--grace-period=0 --force`, as the runbook does.
    grace_period_seconds: u32,
    /// Container running Kafka. Default: the pod's first container.
    container: Option<String>,
    /// The topics tool in the broker image.
    topics_command: String,
    /// `--bootstrap-server` for the topics tool, as seen from inside a broker pod.
    bootstrap_server: String,
    /// Only these topics (default: every topic).
    topics: Vec<String>,
    /// How long one describe may take.
    describe_timeout_ms: u32,
    /// How long one canary producer run may take: short, so that a producer blocked by
    /// leaderless partitions cannot stall `verify` (and the measured recovery).
    producer_timeout_ms: u32,
    /// Whether to run the canary producer and consumer.
    canary: bool,
    /// The topic the canary writes to.
    canary_topic: String,
    /// Messages written before the fault.
    canary_messages: u32,
    /// Messages written by each batch while recovering (at most one batch a second).
    canary_batch_messages: u32,
    /// The verifiable producer in the broker image.
    producer_command: String,
    /// The console consumer in the broker image.
    consumer_command: String,
    /// The consumer's `--timeout-ms`: it stops when no message arrives for this long.
    consumer_timeout_ms: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            pod: None,
            grace_period_seconds: 0,
            container: None,
            topics_command: "kafka-topics.sh".into(),
            bootstrap_server: "localhost:9092".into(),
            topics: Vec::new(),
            describe_timeout_ms: 60_000,
            producer_timeout_ms: 15_000,
            canary: true,
            canary_topic: "firedrill-canary".into(),
            canary_messages: 20,
            canary_batch_messages: 5,
            producer_command: "kafka-verifiable-producer.sh".into(),
            consumer_command: "kafka-console-consumer.sh".into(),
            consumer_timeout_ms: 10_000,
        }
    }
}

/// One partition line of `kafka-topics.sh --describe`.
#[derive(Debug, PartialEq, Eq)]
struct Partition {
    topic: String,
    partition: String,
    leader: Option<String>,
    replicas: BTreeSet<String>,
    isr: BTreeSet<String>,
}

fn parse(describe: &str) -> Vec<Partition> {
    let mut partitions = Vec::new();
    for line in describe.lines() {
        if !line.contains("Partition:") {
            continue;
        }
        let field = |name: &str| {
            line.split('\t')
                .map(str::trim)
                .find_map(|f| f.strip_prefix(name).map(|v| v.trim().to_string()))
        };
        let ids = |value: Option<String>| -> BTreeSet<String> {
            value
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        let leader = field("Leader:").filter(|l| l != "none" && l != "-1");
        partitions.push(Partition {
            topic: field("Topic:").unwrap_or_default(),
            partition: field("Partition:").unwrap_or_default(),
            leader,
            replicas: ids(field("Replicas:")),
            isr: ids(field("Isr:")),
        });
    }
    partitions
}

struct KafkaBroker;

fn service(phase: &Phase<Params>) -> Result<&Service, Error> {
    phase.first_service("Kafka")
}

/// The names of the Ready brokers, sorted.
fn ready_pods(service: &Service) -> Result<Vec<String>, Error> {
    Ok(cluster::ready_pods(service)?
        .into_iter()
        .map(|p| p.name)
        .collect())
}

/// Runs `command` in the broker `pod` of the phase's service.
fn exec(
    phase: &Phase<Params>,
    pod: &str,
    command: &[String],
    timeout_ms: u32,
) -> Result<cluster::ExecOutput, Error> {
    cluster::exec(
        &service(phase)?.namespace,
        pod,
        phase.params.container.as_deref(),
        command,
        timeout_ms,
    )
}

/// The failure of `command`, which exited non-zero in `pod`.
fn exited(command: &[String], pod: &str, out: &cluster::ExecOutput) -> Error {
    Error::failed(format!(
        "{} in {pod} exited with {}: {}",
        command.join(" "),
        out.exit_code,
        out.stderr.trim()
    ))
}

fn victim(phase: &Phase<Params>) -> Result<String, Error> {
    if let Some(pod) = &phase.params.pod {
        return Ok(pod.clone());
    }
    let pods = ready_pods(service(phase)?)?;
    pods.get(1)
        .or(pods.first())
        .cloned()
        .ok_or_else(|| Error::failed("no Ready Kafka broker to delete"))
}

fn describe(phase: &Phase<Params>, pod: &str) -> Result<String, Error> {
    let p = &phase.params;
    let mut command = vec![
        p.topics_command.clone(),
        "--describe".into(),
        "--bootstrap-server".into(),
        p.bootstrap_server.clone(),
    ];
    for topic in &p.topics {
        command.push("--topic".into());
        command.push(topic.clone());
    }
    let out = exec(phase, pod, &command, p.describe_timeout_ms)?;
    if out.exit_code != 0 {
        return Err(exited(&command, pod, &out));
    }
    Ok(out.stdout)
}

/// Why the partitions are not healthy, or `None` when every one has a leader and a
/// whole ISR.
fn unhealthy(partitions: &[Partition]) -> Option<String> {
    if partitions.is_empty() {
        return Some("no partitions described".into());
    }
    let leaderless = partitions.iter().filter(|p| p.leader.is_none()).count();
    let shrunk: Vec<String> = partitions
        .iter()
        .filter(|p| p.isr != p.replicas)
        .map(|p| format!("{}-{}", p.topic, p.partition))
        .collect();
    if leaderless == 0 && shrunk.is_empty() {
        return None;
    }
    Some(format!(
        "{leaderless} partition(s) without a leader, {} with a shrunk ISR{}",
        shrunk.len(),
        shrunk
            .first()
            .map(|p| format!(" (e.g. {p})"))
            .unwrap_or_default()
    ))
}

// ----- the canary -----

/// The `state` key of the canary's record.
const CANARY_KEY: &str = "canary";
/// Batches per run: the batch number is the prefix's last three digits.
const MAX_BATCHES: u32 = 1000;
/// The least time between two batches while recovering.
const BATCH_INTERVAL_MS: u64 = 1000;

/// What the canary wrote so far in this run (kept in `state` between calls).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Canary {
    /// The run's part of every value prefix: `base * 1000 + batch`.
    base: u32,
    /// The batches, oldest first.
    batches: Vec<Batch>,
}

/// One run of the verifiable producer.
#[derive(Debug, Serialize, Deserialize)]
struct Batch {
    /// The value prefix (`<prefix>.<i>`).
    prefix: u32,
    /// When it ran, milliseconds since the Unix epoch.
    at_ms: u64,
    /// The broker pod it ran in.
    pod: String,
    /// Messages it tried to send.
    sent: u32,
    /// The indices `i` the producer reported acknowledged.
    acked: Vec<u32>,
    /// The first refusal, if any (`NotEnoughReplicasException: ...`).
    refusal: Option<String>,
}

impl Canary {
    fn writes(&self) -> u64 {
        self.batches.iter().map(|b| u64::from(b.sent)).sum()
    }

    fn acknowledged(&self) -> u64 {
        self.batches.iter().map(|b| b.acked.len() as u64).sum()
    }
}

/// A stable number in `1..1_000_000` from the run id (FNV-1a): the run's prefix base.
fn prefix_base(run_id: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in run_id.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    1 + hash % 999_999
}

/// What one verifiable producer run printed: acknowledged indices of `prefix`, messages
/// it reported, and the first refusal.
fn parse_producer(stdout: &str, prefix: u32) -> (Vec<u32>, u32, Option<String>) {
    let mut acked = Vec::new();
    let mut reported = 0;
    let mut refusal = None;
    for line in stdout.lines() {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line.trim()) else {
            continue;
        };
        match event["name"].as_str() {
            Some("producer_send_success") => {
                reported += 1;
                if let Some((p, i)) = event["value"].as_str().and_then(split_value)
                    && p == prefix
                {
                    acked.push(i);
                }
            }
            Some("producer_send_error") => {
                reported += 1;
                if refusal.is_none() {
                    let exception = event["exception"].as_str().unwrap_or("error");
                    let exception = exception.rsplit(['.', ' ']).next().unwrap_or(exception);
                    refusal = Some(format!(
                        "{exception}: {}",
                        event["message"].as_str().unwrap_or_default()
                    ));
                }
            }
            _ => {}
        }
    }
    (acked, reported, refusal)
}

/// `<prefix>.<i>` as numbers.
fn split_value(value: &str) -> Option<(u32, u32)> {
    let (prefix, index) = value.trim().split_once('.')?;
    Some((prefix.parse().ok()?, index.parse().ok()?))
}

/// Runs the verifiable producer in `pod` for the next batch and records it.
fn produce(phase: &Phase<Params>, canary: &mut Canary, pod: &str, count: u32) -> Result<(), Error> {
    let p = &phase.params;
    let batch = canary.batches.len() as u32;
    let prefix = canary.base * MAX_BATCHES + batch;
    let command = vec![
        p.producer_command.clone(),
        "--bootstrap-server".into(),
        p.bootstrap_server.clone(),
        "--topic".into(),
        p.canary_topic.clone(),
        "--max-messages".into(),
        count.to_string(),
        "--acks".into(),
        "-1".into(),
        "--value-prefix".into(),
        prefix.to_string(),
    ];
    let at_ms = clock::now_ms();
    let out = exec(phase, pod, &command, p.producer_timeout_ms)?;
    let (acked, reported, refusal) = parse_producer(&out.stdout, prefix);
    if out.exit_code != 0 && reported == 0 {
        return Err(exited(&command, pod, &out));
    }
    // A producer that exits cleanly resolved every send; one that died may have sent
    // only what it reported.
    let sent = if out.exit_code == 0 {
        count.max(reported)
    } else {
        reported
    };
    canary.batches.push(Batch {
        prefix,
        at_ms,
        pod: pod.to_owned(),
        sent,
        acked,
        refusal,
    });
    Ok(())
}

/// Writes a batch while recovering, at most one a second, through a Ready broker; a
/// producer that cannot run is logged, not fatal (the fault may be the reason).
fn produce_while_recovering(phase: &Phase<Params>, ready: &[String]) -> Result<(), Error> {
    let Some(mut canary) = state::get_json::<Canary>(CANARY_KEY) else {
        return Ok(());
    };
    let last = canary.batches.last().map_or(0, |b| b.at_ms);
    if canary.batches.len() as u32 >= MAX_BATCHES
        || clock::now_ms().saturating_sub(last) < BATCH_INTERVAL_MS
    {
        return Ok(());
    }
    let Some(pod) = ready.first() else {
        return Ok(());
    };
    match produce(phase, &mut canary, pod, phase.params.canary_batch_messages) {
        Ok(()) => state::set_json(CANARY_KEY, &canary),
        Err(Error::InvalidParams(e)) => Err(Error::InvalidParams(e)),
        Err(err) => {
            log::warn(&format!("canary producer in {pod}: {err:?}"));
            Ok(())
        }
    }
}

/// The comparison of what was acknowledged with what a consumer read back.
#[derive(Debug, PartialEq)]
struct Comparison {
    /// This run's values the consumer returned.
    consumed: u64,
    /// Every value it returned.
    consumed_total: u64,
    /// Acknowledged values missing, by batch index.
    lost: BTreeMap<usize, Vec<u32>>,
}

impl Comparison {
    fn lost_count(&self) -> u64 {
        self.lost.values().map(|l| l.len() as u64).sum()
    }
}

fn compare(canary: &Canary, consumed: &str) -> Comparison {
    let prefixes: BTreeSet<u32> = canary.batches.iter().map(|b| b.prefix).collect();
    let mut seen: BTreeSet<(u32, u32)> = BTreeSet::new();
    let mut consumed_total = 0;
    for line in consumed.lines().map(str::trim).filter(|l| !l.is_empty()) {
        consumed_total += 1;
        if let Some((prefix, index)) = split_value(line)
            && prefixes.contains(&prefix)
        {
            seen.insert((prefix, index));
        }
    }
    let lost = canary
        .batches
        .iter()
        .enumerate()
        .filter_map(|(n, batch)| {
            let missing: Vec<u32> = batch
                .acked
                .iter()
                .copied()
                .filter(|i| !seen.contains(&(batch.prefix, *i)))
                .collect();
            (!missing.is_empty()).then_some((n, missing))
        })
        .collect();
    Comparison {
        consumed: seen.len() as u64,
        consumed_total,
        lost,
    }
}

/// The `canary.txt` evidence.
fn canary_report(params: &Params, canary: &Canary, comparison: &Comparison) -> String {
    let mut text = format!(
        "canary topic {}: {} batches, value prefixes {}..{}\nproduced {}, acknowledged {}, consumed {} of them ({} messages on the topic)\nacknowledged and lost: {}\n\n",
        params.canary_topic,
        canary.batches.len(),
        canary.batches.first().map_or(0, |b| b.prefix),
        canary.batches.last().map_or(0, |b| b.prefix),
        canary.writes(),
        canary.acknowledged(),
        comparison.consumed,
        comparison.consumed_total,
        comparison.lost_count(),
    );
    let start = canary.batches.first().map_or(0, |b| b.at_ms);
    for (n, batch) in canary.batches.iter().enumerate() {
        text.push_str(&format!(
            "{:<7} +{:>7.3} s  {:<10}  prefix {}  sent {}, acknowledged {}",
            if n == 0 { "inject" } else { "verify" },
            batch.at_ms.saturating_sub(start) as f64 / 1000.0,
            batch.pod,
            batch.prefix,
            batch.sent,
            batch.acked.len()
        ));
        if let Some(refusal) = &batch.refusal {
            text.push_str(&format!("; first refusal: {refusal}"));
        }
        if let Some(lost) = comparison.lost.get(&n) {
            let shown: Vec<String> = lost
                .iter()
                .take(10)
                .map(|i| format!("{}.{i}", batch.prefix))
                .collect();
            text.push_str(&format!("; LOST {}: {}", lost.len(), shown.join(", ")));
        }
        text.push('\n');
    }
    text
}

/// Reads the canary topic back from `pod` and reports the data loss. `Ok(None)`: no
/// acknowledged message lost; `Ok(Some(why))`: some were.
fn check_canary(phase: &Phase<Params>, pod: &str) -> Result<Option<String>, Error> {
    let Some(canary) = state::get_json::<Canary>(CANARY_KEY) else {
        return Ok(None);
    };
    let p = &phase.params;
    let command = vec![
        p.consumer_command.clone(),
        "--bootstrap-server".into(),
        p.bootstrap_server.clone(),
        "--topic".into(),
        p.canary_topic.clone(),
        "--from-beginning".into(),
        "--timeout-ms".into(),
        p.consumer_timeout_ms.to_string(),
    ];
    let out = exec(
        phase,
        pod,
        &command,
        p.consumer_timeout_ms.saturating_add(p.describe_timeout_ms),
    )?;
    if out.exit_code != 0 {
        return Err(exited(&command, pod, &out));
    }
    let comparison = compare(&canary, &out.stdout);
    let lost = comparison.lost_count();
    evidence::text("canary.txt", &canary_report(p, &canary, &comparison))?;
    let lost_at: Vec<u64> = comparison
        .lost
        .keys()
        .map(|n| canary.batches[*n].at_ms)
        .collect();
    let loss_window_seconds = match (lost_at.first(), lost_at.last()) {
        (Some(first), Some(last)) => Some(last.saturating_sub(*first) as f64 / 1000.0),
        _ => None,
    };
    evidence::keep_data_loss(&evidence::DataLoss {
        writes: canary.writes(),
        acknowledged: canary.acknowledged(),
        acknowledged_lost: lost,
        loss_window_seconds,
        method: format!(
            "kafka-verifiable-producer.sh --acks -1 wrote {} messages to {} before and during the fault; kafka-console-consumer.sh --from-beginning read the topic back after recovery",
            canary.writes(),
            p.canary_topic
        ),
        ..Default::default()
    })?;
    if lost == 0 {
        return Ok(None);
    }
    Ok(Some(format!(
        "{lost} of {} acknowledged canary messages are missing from {} after recovery",
        canary.acknowledged(),
        p.canary_topic
    )))
}

impl Scenario for KafkaBroker {
    type Params = Params;

    fn describe() -> Description {
        Description::new(
            "kafka-broker",
            "0.1.0",
            "Deletes one Kafka broker pod, with kafka-topics.sh --describe before and after as evidence and a canary producer/consumer (no acknowledged message may be lost); recovered when the broker is back, every partition has a leader and every ISR is whole again.",
        )
        .params_schema(serde_json::json!({
            "type": "object",
            "properties": {
                "pod": { "type": "string" },
                "grace_period_seconds": { "type": "integer", "minimum": 0, "default": 0 },
                "container": { "type": "string" },
                "topics_command": { "type": "string", "default": "kafka-topics.sh" },
                "bootstrap_server": { "type": "string", "default": "localhost:9092" },
                "topics": { "type": "array", "items": { "type": "string" } },
                "describe_timeout_ms": { "type": "integer", "minimum": 1000, "default": 60000 },
                "producer_timeout_ms": { "type": "integer", "minimum": 1000, "default": 15000 },
                "canary": { "type": "boolean", "default": true },
                "canary_topic": { "type": "string", "minLength": 1, "default": "firedrill-canary" },
                "canary_messages": { "type": "integer", "minimum": 1, "maximum": 100000, "default": 20 },
                "canary_batch_messages": { "type": "integer", "minimum": 0, "maximum": 100000, "default": 5 },
                "producer_command": { "type": "string", "default": "kafka-verifiable-producer.sh" },
                "consumer_command": { "type": "string", "default": "kafka-console-consumer.sh" },
                "consumer_timeout_ms": { "type": "integer", "minimum": 100, "default": 10000 }
            },
            "additionalProperties": false
        }))
        .needs(Capability::cluster(&[Verb::List, Verb::Delete], &["*"]))
        .needs(Capability::Exec(vec!["*".into()]))
    }

    fn plan(phase: &Phase<Params>) -> Result<Vec<Action>, Error> {
        let service = service(phase)?;
        let pod = victim(phase)?;
        let p = &phase.params;
        let mut actions = vec![
            Action::new(
                ActionKind::Exec,
                format!("a Ready broker of {}", service.name),
                format!(
                    "{} --describe (before and after)",
                    phase.params.topics_command
                ),
            ),
            Action::new(
                ActionKind::DeletePod,
                format!("pod/{pod} in namespace {}", service.namespace),
                format!(
                    "delete with grace period {} s",
                    phase.params.grace_period_seconds
                ),
            ),
        ];
        if p.canary {
            actions.insert(
                1,
                Action::new(
                    ActionKind::Exec,
                    format!("a Ready broker of {}", service.name),
                    format!(
                        "{} --acks -1: {} messages to {} before the fault, {} a second while recovering; {} --from-beginning after",
                        p.producer_command,
                        p.canary_messages,
                        p.canary_topic,
                        p.canary_batch_messages,
                        p.consumer_command
                    ),
                ),
            );
        }
        Ok(actions)
    }

    fn inject(phase: &Phase<Params>) -> Result<(), Error> {
        let service = service(phase)?;
        let pod = victim(phase)?;
        let witness = ready_pods(service)?
            .into_iter()
            .find(|p| *p != pod)
            .unwrap_or_else(|| pod.clone());
        let before = describe(phase, &witness)?;
        evidence::text("topics-before.txt", &before)?;
        if let Some(why) = unhealthy(&parse(&before)) {
            return Err(Error::failed(format!(
                "the topics are not healthy before the drill ({why}); nothing was deleted"
            )));
        }
        if phase.params.canary {
            let mut canary = Canary {
                base: prefix_base(&phase.run_id),
                batches: Vec::new(),
            };
            produce(phase, &mut canary, &witness, phase.params.canary_messages).map_err(
                |err| {
                    Error::failed(format!(
                        "the canary producer could not run before the drill ({err:?}); nothing was deleted (set canary: false to drill without it)"
                    ))
                },
            )?;
            if canary.acknowledged() == 0 {
                let why = canary
                    .batches
                    .first()
                    .and_then(|b| b.refusal.clone())
                    .unwrap_or_else(|| "no acknowledgement".into());
                return Err(Error::failed(format!(
                    "{} acknowledged none of {} canary messages before the drill ({why}); nothing was deleted",
                    phase.params.canary_topic, phase.params.canary_messages
                )));
            }
            state::set_json(CANARY_KEY, &canary)?;
        }
        cluster::delete_pod(
            &service.namespace,
            &pod,
            Some(phase.params.grace_period_seconds),
        )?;
        state::set("deleted", &pod)?;
        log::info(&format!("deleted Kafka broker {}/{pod}", service.namespace));
        Ok(())
    }

    fn verify(phase: &Phase<Params>) -> Result<Verdict, Error> {
        let service = service(phase)?;
        let ready = ready_pods(service)?;
        if phase.params.canary && phase.params.canary_batch_messages > 0 {
            produce_while_recovering(phase, &ready)?;
        }
        if ready.len() < service.replicas as usize {
            return Ok(Verdict::Recovering(format!(
                "{}/{} brokers Ready",
                ready.len(),
                service.replicas
            )));
        }
        let Some(witness) = ready.first() else {
            return Ok(Verdict::Recovering("no broker Ready".into()));
        };
        let after = match describe(phase, witness) {
            Ok(after) => after,
            Err(Error::Failed(e) | Error::Unavailable(e) | Error::Timeout(e)) => {
                return Ok(Verdict::Recovering(format!("describe: {e}")));
            }
            Err(err) => return Err(err),
        };
        if let Some(why) = unhealthy(&parse(&after)) {
            return Ok(Verdict::Recovering(why));
        }
        if phase.params.canary {
            match check_canary(phase, witness) {
                Ok(None) => {}
                Ok(Some(lost)) => {
                    evidence::text("topics-after.txt", &after)?;
                    return Ok(Verdict::Failed(lost));
                }
                Err(Error::InvalidParams(e)) => return Err(Error::InvalidParams(e)),
                Err(err) => return Ok(Verdict::Recovering(format!("canary consumer: {err:?}"))),
            }
        }
        evidence::text("topics-after.txt", &after)?;
        Ok(Verdict::Recovered)
    }

    fn findings(_phase: &Phase<Params>) -> Result<Findings, Error> {
        // Measured during the phase and kept in state: this call is a fresh instance.
        Ok(evidence::kept_findings())
    }

    fn rollback(_phase: &Phase<Params>) -> Result<(), Error> {
        // The StatefulSet replaces the broker and it rejoins the ISRs: nothing to undo.
        state::remove("deleted");
        state::remove(CANARY_KEY);
        Ok(())
    }
}

export_scenario!(KafkaBroker);
