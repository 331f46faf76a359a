//! Built-in scenario `cassandra-node` (the runbook's phase 3a): delete one Cassandra pod,
//! with `nodetool status` before and after as evidence; recovered when the replacement is
//! Up/Normal and the ring has every node `UN`.

use firedrill_sdk::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Params {
    /// The pod to delete. Default: the first Ready pod by name (the runbook's `.items[0]`).
    pod: Option<String>,
    /// Deletion grace period; 0 is `--grace-period=0 --force`, as the runbook does.
    grace_period_seconds: u32,
    /// Container running Cassandra. Default: the pod's first container.
    container: Option<String>,
    /// Replication factor of the keyspaces: quorum is `rf / 2 + 1` nodes up.
    replication_factor: u32,
    /// How long one `nodetool status` may take.
    nodetool_timeout_ms: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            pod: None,
            grace_period_seconds: 0,
            container: None,
            replication_factor: 3,
            nodetool_timeout_ms: 30_000,
        }
    }
}

struct CassandraNode;

/// When `verify` last ran `nodetool status` (ms since the epoch).
const LAST_LOOK_KEY: &str = "last-nodetool-ms";
/// The fewest `UN` nodes `verify` has seen.
const LOWEST_UP_KEY: &str = "lowest-up";

fn service(phase: &Phase<Params>) -> Result<&Service, Error> {
    phase.first_service("Cassandra")
}

fn victim(phase: &Phase<Params>) -> Result<String, Error> {
    if let Some(pod) = &phase.params.pod {
        return Ok(pod.clone());
    }
    cluster::ready_pods(service(phase)?)?
        .into_iter()
        .next()
        .map(|p| p.name)
        .ok_or_else(|| Error::failed("no Ready Cassandra pod to delete"))
}

/// `nodetool status` in `pod`.
fn nodetool_status(phase: &Phase<Params>, pod: &str) -> Result<String, Error> {
    let service = service(phase)?;
    let out = cluster::exec(
        &service.namespace,
        pod,
        phase.params.container.as_deref(),
        &["nodetool".to_string(), "status".to_string()],
        phase.params.nodetool_timeout_ms,
    )?;
    if out.exit_code != 0 {
        return Err(Error::failed(format!(
            "nodetool status in {pod} exited with {}: {}",
            out.exit_code,
            out.stderr.trim()
        )));
    }
    Ok(out.stdout)
}

/// Node states from `nodetool status`: the two-letter code of every node line.
fn states(status: &str) -> Vec<String> {
    status
        .lines()
        .filter_map(|line| {
            let code = line.split_whitespace().next()?;
            let valid = code.len() == 2
                && matches!(code.as_bytes()[0], b'U' | b'D')
                && matches!(code.as_bytes()[1], b'N' | b'L' | b'J' | b'M');
            valid.then(|| code.to_string())
        })
        .collect()
}

impl Scenario for CassandraNode {
    type Params = Params;

    fn describe() -> Description {
        Description::new(
            "cassandra-node",
            "0.1.0",
            "Deletes one Cassandra pod, with nodetool status before and after as evidence; recovered when the replacement is Ready and every node of the ring is UN; fails if quorum was lost on the way (quorum.txt says the fewest nodes up it saw).",
        )
        .params_schema(serde_json::json!({
            "type": "object",
            "properties": {
                "pod": { "type": "string" },
                "grace_period_seconds": { "type": "integer", "minimum": 0, "default": 0 },
                "container": { "type": "string" },
                "replication_factor": { "type": "integer", "minimum": 1, "default": 3 },
                "nodetool_timeout_ms": { "type": "integer", "minimum": 1000, "default": 30000 }
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
                ActionKind::Exec,
                format!("a Ready pod of {}", service.name),
                "nodetool status (before and after)",
            ),
            Action::new(
                ActionKind::DeletePod,
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
        let before = nodetool_status(phase, &pod)?;
        evidence::text("nodetool-status-before.txt", &before)?;
        let down: Vec<_> = states(&before).into_iter().filter(|s| s != "UN").collect();
        if !down.is_empty() {
            return Err(Error::failed(format!(
                "the ring is not healthy before the drill ({} node(s) not UN); nothing was deleted",
                down.len()
            )));
        }
        cluster::delete_pod(
            &service.namespace,
            &pod,
            Some(phase.params.grace_period_seconds),
        )?;
        state::set("deleted", &pod)?;
        state::remove(LAST_LOOK_KEY);
        state::remove(LOWEST_UP_KEY);
        log::info(&format!(
            "deleted Cassandra pod {}/{pod}",
            service.namespace
        ));
        Ok(())
    }

    fn verify(phase: &Phase<Params>) -> Result<Verdict, Error> {
        let service = service(phase)?;
        let ready = cluster::ready_pods(service)?;
        let replicas = service.replicas as usize;
        let Some(pod) = ready.first() else {
            return Ok(Verdict::Recovering("no Cassandra pod Ready".into()));
        };
        // nodetool starts a JVM: while pods are still coming back, look at the ring at
        // most once a second (enough to see quorum lost), every call once they are all up.
        let now = clock::now_ms();
        let last: u64 = state::get_json(LAST_LOOK_KEY).unwrap_or(0);
        if ready.len() < replicas && now.saturating_sub(last) < 1_000 {
            return Ok(Verdict::Recovering(format!(
                "{}/{replicas} Cassandra pods Ready",
                ready.len()
            )));
        }
        state::set_json(LAST_LOOK_KEY, &now)?;
        let status = match nodetool_status(phase, &pod.name) {
            Ok(status) => status,
            Err(Error::Failed(e) | Error::Unavailable(e) | Error::Timeout(e)) => {
                return Ok(Verdict::Recovering(format!("nodetool status: {e}")));
            }
            Err(err) => return Err(err),
        };
        let states = states(&status);
        let nodes = states.len().max(replicas);
        let up = states.iter().filter(|s| s.as_str() == "UN").count();
        let lowest = state::get_json::<usize>(LOWEST_UP_KEY)
            .unwrap_or(usize::MAX)
            .min(up);
        state::set_json(LOWEST_UP_KEY, &lowest)?;
        let quorum = (phase.params.replication_factor / 2 + 1) as usize;
        if ready.len() < replicas {
            return Ok(Verdict::Recovering(format!(
                "{}/{replicas} Cassandra pods Ready, {up} of {nodes} nodes UN (quorum {quorum} {})",
                ready.len(),
                if up >= quorum { "holds" } else { "lost" }
            )));
        }
        if up < nodes {
            return Ok(Verdict::Recovering(format!(
                "{up} of {nodes} nodes UN (quorum {quorum} {})",
                if up >= quorum { "holds" } else { "lost" }
            )));
        }
        evidence::text("nodetool-status-after.txt", &status)?;
        let held = lowest >= quorum;
        evidence::text(
            "quorum.txt",
            &format!(
                "fewest nodes UN seen while recovering: {lowest} of {nodes}; quorum ({quorum} of replication factor {}) {}\n",
                phase.params.replication_factor,
                if held { "held" } else { "was lost" }
            ),
        )?;
        if held {
            Ok(Verdict::Recovered)
        } else {
            Ok(Verdict::Failed(format!(
                "quorum was lost while recovering: at one point only {lowest} of {nodes} nodes were UN (quorum {quorum})"
            )))
        }
    }

    fn rollback(_phase: &Phase<Params>) -> Result<(), Error> {
        // The StatefulSet replaces the pod and Cassandra rejoins it: nothing to undo.
        state::remove("deleted");
        state::remove(LAST_LOOK_KEY);
        state::remove(LOWEST_UP_KEY);
        Ok(())
    }
}

export_scenario!(CassandraNode);
