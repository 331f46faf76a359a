//! Built-in scenario `kafka-broker` (the runbook's phase 4): delete one Kafka broker pod,
//! with `kafka-topics.sh --describe` before and after as evidence; recovered when the
//! broker is back, every partition has a leader and every ISR is whole again.

use std::collections::BTreeSet;

use firedrill_sdk::prelude::*;
use serde::Deserialize;

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
    phase
        .services
        .first()
        .ok_or_else(|| Error::InvalidParams("the phase needs the Kafka service".into()))
}

fn ready_pods(service: &Service) -> Result<Vec<String>, Error> {
    let mut pods: Vec<String> = cluster::list_pods(&service.namespace, &service.selector)?
        .into_iter()
        .filter(|p| p.ready && !p.terminating)
        .map(|p| p.name)
        .collect();
    pods.sort();
    Ok(pods)
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
    let out = cluster::exec(
        &service(phase)?.namespace,
        pod,
        p.container.as_deref(),
        &command,
        p.describe_timeout_ms,
    )?;
    if out.exit_code != 0 {
        return Err(Error::failed(format!(
            "{} in {pod} exited with {}: {}",
            command.join(" "),
            out.exit_code,
            out.stderr.trim()
        )));
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

impl Scenario for KafkaBroker {
    type Params = Params;

    fn describe() -> Description {
        Description::new(
            "kafka-broker",
            "0.1.0",
            "Deletes one Kafka broker pod, with kafka-topics.sh --describe before and after as evidence; recovered when the broker is back, every partition has a leader and every ISR is whole again.",
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
                "describe_timeout_ms": { "type": "integer", "minimum": 1000, "default": 60000 }
            },
            "additionalProperties": false
        }))
        .needs(Capability::cluster(&[Verb::List, Verb::Delete], &["*"]))
        .needs(Capability::Exec(vec!["*".into()]))
    }

    fn plan(phase: &Phase<Params>) -> Result<Vec<Action>, Error> {
        let service = service(phase)?;
        let pod = victim(phase)?;
        Ok(vec![
            Action::new(
                "exec",
                format!("a Ready broker of {}", service.name),
                format!(
                    "{} --describe (before and after)",
                    phase.params.topics_command
                ),
            ),
            Action::new(
                "delete-pod",
                format!("pod/{pod} in namespace {}", service.namespace),
                format!(
                    "delete with grace period {} s",
                    phase.params.grace_period_seconds
                ),
            ),
        ])
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
        evidence::text("topics-after.txt", &after)?;
        Ok(Verdict::Recovered)
    }

    fn rollback(_phase: &Phase<Params>) -> Result<(), Error> {
        // The StatefulSet replaces the broker and it rejoins the ISRs: nothing to undo.
        state::remove("deleted");
        Ok(())
    }
}

export_scenario!(KafkaBroker);
