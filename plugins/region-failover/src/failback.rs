//! `step: failback`: what the outage noted on workloads and nodes restored, traffic
//! switched back once the primary is Ready again.

use super::*;

/// What `failback` restored, per service: the sum of the counts noted on its workloads.
pub(crate) type Restored = BTreeMap<String, i64>;

pub(crate) fn wanted_failback(service: &Service, restored: &Restored) -> u32 {
    let noted = restored
        .get(&service.name)
        .copied()
        .unwrap_or(0)
        .clamp(0, i64::from(u32::MAX));
    service.replicas.max(noted as u32).max(1)
}

pub(crate) fn ready_timeout_ms(phase: &Phase<Params>) -> u32 {
    phase
        .params
        .ready_timeout_seconds
        .unwrap_or(DEFAULT_READY_TIMEOUT_SECONDS)
        .saturating_mul(1000)
}

/// Nodes the outage cordoned: unschedulable and carrying its note (who cordoned them).
pub(crate) fn noted_nodes() -> Result<Vec<(String, String)>, Error> {
    let mut noted = Vec::new();
    for node in cluster::list_nodes("")?
        .into_iter()
        .filter(|n| n.unschedulable)
    {
        let object = get_json("v1", "Node", None, &node.name)?;
        if let Some(by) = annotation(&object, CORDONED_ANNOTATION) {
            noted.push((node.name, by));
        }
    }
    Ok(noted)
}

pub(crate) fn failback_plan(phase: &Phase<Params>) -> Result<Vec<Action>, Error> {
    let mut actions = Vec::new();
    for (service, workload) in phase_workloads(phase)? {
        let object = workload.get()?;
        let action = match annotation(&object, REPLICAS_ANNOTATION) {
            Some(count) => Action::new(
                "scale-up",
                workload.to_string(),
                format!(
                    "service {service}: scale from {} to {count} ({REPLICAS_ANNOTATION}), removing the note",
                    spec_replicas(&object)
                ),
            ),
            None => Action::new(
                "scale-up",
                workload.to_string(),
                format!(
                    "service {service}: scale back to its {REPLICAS_ANNOTATION} count (not set now: the outage step sets it)"
                ),
            ),
        };
        actions.push(action);
    }
    let nodes = noted_nodes()?;
    if nodes.is_empty() {
        actions.push(Action::new(
            ActionKind::Uncordon,
            format!("nodes noted {CORDONED_ANNOTATION}"),
            "uncordon each and remove the note (none now: the outage step sets it)",
        ));
    }
    for (node, by) in nodes {
        actions.push(Action::new(
            ActionKind::Uncordon,
            format!("node/{node}"),
            format!("cordoned by run {by}: uncordon, removing the note"),
        ));
    }
    if let Some(traffic) = &phase.params.traffic {
        actions.push(Action::new(
            "wait-ready",
            "the phase's services",
            format!(
                "wait up to {} s for their pods to be Ready before switching traffic back",
                ready_timeout_ms(phase) / 1000
            ),
        ));
        actions.extend(traffic_plan(traffic)?);
    }
    Ok(actions)
}

pub(crate) fn failback_inject(phase: &Phase<Params>) -> Result<(), Error> {
    let mut steps = Vec::new();
    let result = failback_steps(phase, &mut steps);
    if let Err(err) = &result {
        done(&mut steps, format!("stopped: {err:?}"));
    }
    evidence::text(
        "failback.txt",
        &format!(
            "Failback to the primary region (this cluster):\n{}",
            steps_text(&steps)
        ),
    )?;
    result
}

pub(crate) fn failback_steps(phase: &Phase<Params>, steps: &mut Vec<Done>) -> Result<(), Error> {
    let mut restored: Restored = state::get_json(RESTORED_KEY).unwrap_or_default();
    for (service, workload) in phase_workloads(phase)? {
        let object = workload.get()?;
        let Some(noted) = annotation(&object, REPLICAS_ANNOTATION) else {
            continue;
        };
        let count: i64 = noted.trim().parse().map_err(|_| {
            Error::failed(format!(
                "{workload}: {REPLICAS_ANNOTATION}={noted:?} is not a replica count"
            ))
        })?;
        *restored.entry(service.clone()).or_default() += count;
        state::set_json(RESTORED_KEY, &restored)?;
        workload.patch(&json!({
            "metadata": { "annotations": { REPLICAS_ANNOTATION: null } },
            "spec": { "replicas": count },
        }))?;
        done(
            steps,
            format!(
                "service {service}: scaled {workload} from {} back to {count} ({REPLICAS_ANNOTATION})",
                spec_replicas(&object)
            ),
        );
    }
    for (node, by) in noted_nodes()? {
        release_node(&node)?;
        done(
            steps,
            format!("uncordoned node {node} (cordoned by run {by})"),
        );
    }
    if steps.is_empty() {
        done(
            steps,
            format!(
                "nothing to restore: no workload of the phase's services carries {REPLICAS_ANNOTATION} and no node carries {CORDONED_ANNOTATION}"
            ),
        );
    }
    if let Some(traffic) = &phase.params.traffic {
        // The runbook switches traffic back once the primary has recovered.
        for service in &phase.services {
            let wanted = wanted_failback(service, &restored);
            match cluster::wait_pods_ready(
                &service.namespace,
                &service.selector,
                wanted,
                ready_timeout_ms(phase),
            ) {
                Ok(ready) => done(
                    steps,
                    format!("service {}: {ready}/{wanted} pods Ready", service.name),
                ),
                Err(Error::Timeout(why)) => {
                    return Err(Error::failed(format!(
                        "service {} has not {wanted} Ready pods after {} s (`ready_timeout_seconds`), so traffic was not switched back: {why}",
                        service.name,
                        ready_timeout_ms(phase) / 1000
                    )));
                }
                Err(err) => return Err(err),
            }
        }
        switch_traffic(traffic, steps)?;
    }
    Ok(())
}

pub(crate) fn failback_verify(phase: &Phase<Params>) -> Result<Verdict, Error> {
    let restored: Restored = state::get_json(RESTORED_KEY).unwrap_or_default();
    for service in &phase.services {
        let ready = ready_count(service)?;
        let wanted = wanted_failback(service, &restored) as usize;
        if ready < wanted {
            return Ok(Verdict::Recovering(format!(
                "{}: {ready}/{wanted} pods Ready",
                service.name
            )));
        }
    }
    Ok(Verdict::Recovered)
}

pub(crate) fn failback_rollback() -> Result<(), Error> {
    // The primary serving again is the point of the step: only its traffic switch is
    // undone.
    let mut follow_ups = Vec::new();
    revert_traffic(&mut follow_ups)?;
    attach_follow_ups(&follow_ups)
}
