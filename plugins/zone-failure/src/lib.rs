//! Built-in scenario `zone-failure` (the runbook's phase 2): cordon every node of a zone
//! and drain it through the Eviction API (disruption budgets respected); recovered when
//! every service has its replicas Ready outside the zone; rollback uncordons the zone.

use firedrill_sdk::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// The value of `topology.kubernetes.io/zone` of the nodes to take out.
    zone: String,
    /// How long a drain keeps retrying evictions blocked by a disruption budget.
    #[serde(default = "default_drain_timeout")]
    drain_timeout_seconds: u32,
}

fn default_drain_timeout() -> u32 {
    90
}

const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

struct ZoneFailure;

fn zone_nodes(zone: &str) -> Result<Vec<cluster::Node>, Error> {
    let nodes = cluster::list_nodes(&format!("{ZONE_LABEL}={zone}"))?;
    if nodes.is_empty() {
        return Err(Error::failed(format!("no node has {ZONE_LABEL}={zone}")));
    }
    Ok(nodes)
}

impl Scenario for ZoneFailure {
    type Params = Params;

    fn describe() -> Description {
        Description::new(
            "zone-failure",
            "0.1.0",
            "Cordons and drains every node of a zone; recovered when every service runs its replicas in the other zones.",
        )
        .params_schema(serde_json::json!({
            "type": "object",
            "required": ["zone"],
            "properties": {
                "zone": { "type": "string", "minLength": 1 },
                "drain_timeout_seconds": { "type": "integer", "minimum": 1, "default": 90 }
            },
            "additionalProperties": false
        }))
        .needs(Capability::cluster(&[Verb::List, Verb::Patch], &[":cluster"]))
        .needs(Capability::cluster(&[Verb::List, Verb::Evict], &["*"]))
    }

    fn plan(phase: &Phase<Params>) -> Result<Vec<Action>, Error> {
        let mut actions = Vec::new();
        // Every pod once, grouped by node: a list per node would read the whole cluster
        // once per node of the zone.
        let mut by_node: std::collections::BTreeMap<String, Vec<cluster::Pod>> =
            std::collections::BTreeMap::new();
        for pod in cluster::list_pods("", "")? {
            if let Some(node) = pod.node.clone()
                && !pod.terminating
            {
                by_node.entry(node).or_default().push(pod);
            }
        }
        for node in zone_nodes(&phase.params.zone)? {
            actions.push(Action::new(
                ActionKind::Cordon,
                format!("node/{}", node.name),
                format!("zone {}", phase.params.zone),
            ));
            let mut pods = by_node.remove(&node.name).unwrap_or_default();
            pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
            for pod in pods {
                if pod
                    .owner
                    .as_ref()
                    .is_some_and(|(kind, _)| kind == "DaemonSet")
                {
                    continue;
                }
                actions.push(Action::new(
                    ActionKind::EvictPod,
                    format!("pod/{} in namespace {}", pod.name, pod.namespace),
                    format!("drain node {} (disruption budgets respected)", node.name),
                ));
            }
        }
        Ok(actions)
    }

    fn inject(phase: &Phase<Params>) -> Result<(), Error> {
        let nodes = zone_nodes(&phase.params.zone)?;
        let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
        // Remember the nodes first: a rollback in a fresh instance must find them.
        state::set_json("cordoned", &names)?;
        for node in &names {
            cluster::cordon(node)?;
            log::info(&format!("cordoned node {node}"));
        }
        let mut report = Vec::new();
        for node in &names {
            let drained = cluster::drain(
                node,
                cluster::DrainOptions {
                    timeout_ms: phase.params.drain_timeout_seconds.saturating_mul(1000),
                    retry_interval_ms: 1000,
                    ignore_daemon_sets: true,
                },
            )?;
            log::info(&format!(
                "drained node {node}: {} pods evicted, {} evictions retried (disruption budget)",
                drained.evicted.len(),
                drained.retries
            ));
            report.push(format!(
                "{node}: evicted {} (retries {})",
                drained.evicted.join(", "),
                drained.retries
            ));
        }
        evidence::text("drained-nodes.txt", &report.join("\n"))
    }

    fn verify(phase: &Phase<Params>) -> Result<Verdict, Error> {
        let zone_nodes: Vec<String> = state::get_json("cordoned").unwrap_or_default();
        for service in &phase.services {
            let pods = cluster::list_pods(&service.namespace, &service.selector)?;
            let outside = pods
                .iter()
                .filter(|p| p.ready && !p.terminating)
                .filter(|p| p.node.as_ref().is_some_and(|n| !zone_nodes.contains(n)))
                .count();
            if outside < service.replicas as usize {
                return Ok(Verdict::Recovering(format!(
                    "{}: {outside}/{} pods Ready outside zone {}",
                    service.name, service.replicas, phase.params.zone
                )));
            }
        }
        Ok(Verdict::Recovered)
    }

    fn rollback(phase: &Phase<Params>) -> Result<(), Error> {
        let mut nodes: Vec<String> = state::get_json("cordoned").unwrap_or_default();
        if nodes.is_empty() {
            nodes = zone_nodes(&phase.params.zone)?
                .into_iter()
                .map(|n| n.name)
                .collect();
        }
        for node in nodes {
            cluster::uncordon(&node)?;
            log::info(&format!("uncordoned node {node}"));
        }
        Ok(())
    }
}

export_scenario!(ZoneFailure);
