//! Example scenario: force-delete Ready pods of each service, then report recovery once
//! every service has its replicas Ready again.

use firedrill_sdk::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Params {
    /// Pods to delete per service.
    pods_per_service: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            pods_per_service: 1,
        }
    }
}

struct PodKiller;

/// The Ready pods of `service` that `inject` would delete.
fn victims(service: &Service, count: usize) -> Result<Vec<cluster::Pod>, Error> {
    let pods = cluster::list_pods(&service.namespace, &service.selector)?;
    Ok(pods
        .into_iter()
        .filter(|p| p.ready && !p.terminating)
        .take(count)
        .collect())
}

impl Scenario for PodKiller {
    type Params = Params;

    fn describe() -> Description {
        Description::new(
            "rust-pod-killer",
            "0.1.0",
            "Force-deletes Ready pods of each service and waits for replacements.",
        )
        .params_schema(serde_json::json!({
            "type": "object",
            "properties": { "pods_per_service": { "type": "integer", "minimum": 1 } },
            "additionalProperties": false
        }))
        .needs(Capability::cluster(&[Verb::List, Verb::Delete], &["*"]))
    }

    fn plan(phase: &Phase<Params>) -> Result<Vec<Action>, Error> {
        let mut actions = Vec::new();
        for service in &phase.services {
            for pod in victims(service, phase.params.pods_per_service)? {
                actions.push(Action::new(
                    ActionKind::DeletePod,
                    format!("pod/{} in namespace {}", pod.name, pod.namespace),
                    "force-delete (grace period 0)",
                ));
            }
        }
        Ok(actions)
    }

    fn inject(phase: &Phase<Params>) -> Result<(), Error> {
        let mut deleted = Vec::new();
        for service in &phase.services {
            for pod in victims(service, phase.params.pods_per_service)? {
                cluster::delete_pod(&pod.namespace, &pod.name, Some(0))?;
                log::info(&format!("deleted pod {}/{}", pod.namespace, pod.name));
                deleted.push(format!("{}/{}", pod.namespace, pod.name));
            }
        }
        state::set_json("deleted", &deleted)?;
        evidence::text("deleted-pods.txt", &deleted.join("\n"))
    }

    fn verify(phase: &Phase<Params>) -> Result<Verdict, Error> {
        for service in &phase.services {
            let ready = cluster::list_pods(&service.namespace, &service.selector)?
                .iter()
                .filter(|p| p.ready && !p.terminating)
                .count();
            if ready < service.replicas as usize {
                return Ok(Verdict::Recovering(format!(
                    "{}: {ready}/{} pods ready",
                    service.name, service.replicas
                )));
            }
        }
        Ok(Verdict::Recovered)
    }

    fn rollback(_phase: &Phase<Params>) -> Result<(), Error> {
        // Deleted pods are replaced by their controllers: nothing to undo but the record.
        state::remove("deleted");
        Ok(())
    }
}

export_scenario!(PodKiller);
