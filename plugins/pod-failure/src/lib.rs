//! Built-in scenario `pod-failure` (the runbook's phase 1): force-delete one Ready pod of
//! every service; recovered when each service has its replicas Ready again.

use firedrill_sdk::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Params {
    /// Pods deleted per service.
    pods_per_service: usize,
    /// Grace period of the deletion; 0 is `--grace-period=0 --force`.
    grace_period_seconds: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            pods_per_service: 1,
            grace_period_seconds: 0,
        }
    }
}

struct PodFailure;

impl Scenario for PodFailure {
    type Params = Params;

    fn describe() -> Description {
        Description::new(
            "pod-failure",
            "0.1.0",
            "Force-deletes one Ready pod of every service; recovered when each has its replicas Ready again.",
        )
        .params_schema(serde_json::json!({
            "type": "object",
            "properties": {
                "pods_per_service": { "type": "integer", "minimum": 1, "default": 1 },
                "grace_period_seconds": { "type": "integer", "minimum": 0, "default": 0 }
            },
            "additionalProperties": false
        }))
        .needs(Capability::cluster(&[Verb::List, Verb::Delete], &["*"]))
    }

    fn plan(phase: &Phase<Params>) -> Result<Vec<Action>, Error> {
        let mut actions = Vec::new();
        for service in &phase.services {
            for pod in cluster::ready_pods(service)?
                .into_iter()
                .take(phase.params.pods_per_service)
            {
                actions.push(Action::new(
                    ActionKind::DeletePod,
                    format!("pod/{} in namespace {}", pod.name, pod.namespace),
                    format!(
                        "delete with grace period {} s ({})",
                        phase.params.grace_period_seconds, service.name
                    ),
                ));
            }
        }
        Ok(actions)
    }

    fn inject(phase: &Phase<Params>) -> Result<(), Error> {
        let mut deleted = Vec::new();
        for service in &phase.services {
            let victims: Vec<_> = cluster::ready_pods(service)?
                .into_iter()
                .take(phase.params.pods_per_service)
                .collect();
            if victims.is_empty() {
                return Err(Error::failed(format!(
                    "service {} has no Ready pod to delete",
                    service.name
                )));
            }
            for pod in victims {
                cluster::delete_pod(
                    &pod.namespace,
                    &pod.name,
                    Some(phase.params.grace_period_seconds),
                )?;
                log::info(&format!(
                    "deleted pod {}/{} of {}",
                    pod.namespace, pod.name, service.name
                ));
                deleted.push(pod.name);
            }
        }
        state::set_json("deleted", &deleted)?;
        evidence::text("deleted-pods.txt", &deleted.join("\n"))
    }

    fn verify(phase: &Phase<Params>) -> Result<Verdict, Error> {
        // A deleted pod is either gone (forced) or terminating, so Ready pods that are not
        // terminating are replacements or survivors; a StatefulSet's replacement reuses
        // the name, which is why names are not compared.
        for service in &phase.services {
            let replacements = cluster::ready_pods(service)?.len();
            if replacements < service.replicas as usize {
                return Ok(Verdict::Recovering(format!(
                    "{}: {replacements}/{} pods Ready",
                    service.name, service.replicas
                )));
            }
        }
        Ok(Verdict::Recovered)
    }

    fn rollback(_phase: &Phase<Params>) -> Result<(), Error> {
        // Controllers replace deleted pods: there is nothing to undo.
        Ok(())
    }
}

export_scenario!(PodFailure);
