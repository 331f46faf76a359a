//! `step: outage`: the primary region taken out (workloads scaled to 0, nodes cordoned
//! and drained, each noted on the object), verified once no service has a Ready pod.

use super::*;

pub(crate) fn drain_timeout_ms(phase: &Phase<Params>) -> u32 {
    phase
        .params
        .drain_timeout_seconds
        .unwrap_or(DEFAULT_DRAIN_TIMEOUT_SECONDS)
        .saturating_mul(1000)
}

pub(crate) fn region_nodes(phase: &Phase<Params>) -> Result<Vec<cluster::Node>, Error> {
    let selector = phase.params.nodes.as_deref().unwrap_or("");
    let nodes = cluster::list_nodes(selector)?;
    if nodes.is_empty() {
        return Err(Error::failed(format!(
            "no node matches `nodes: {selector}`"
        )));
    }
    Ok(nodes)
}

/// The count a workload had before the outage: its annotation when an earlier attempt
/// already scaled it, else its replicas now.
pub(crate) fn count_before_outage(object: &Value) -> i64 {
    annotation(object, REPLICAS_ANNOTATION)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| spec_replicas(object))
}

pub(crate) fn outage_plan(phase: &Phase<Params>) -> Result<Vec<Action>, Error> {
    let take_out = phase.params.take_out.unwrap_or_default();
    let mut actions = Vec::new();
    if take_out.scales() {
        for (service, workload) in phase_workloads(phase)? {
            let before = count_before_outage(&workload.get()?);
            actions.push(Action::new(
                "scale-down",
                workload.to_string(),
                format!(
                    "service {service}: scale from {before} to 0, noting {REPLICAS_ANNOTATION}={before} on it"
                ),
            ));
        }
    }
    if take_out.drains() {
        let mut by_node: BTreeMap<String, Vec<cluster::Pod>> = BTreeMap::new();
        for pod in cluster::list_pods("", "")? {
            if let Some(node) = pod.node.clone()
                && !pod.terminating
            {
                by_node.entry(node).or_default().push(pod);
            }
        }
        for node in region_nodes(phase)? {
            if node.unschedulable {
                actions.push(Action::new(
                    ActionKind::Drain,
                    format!("node/{}", node.name),
                    "cordoned already: drained, and left cordoned by rollback",
                ));
            } else {
                actions.push(Action::new(
                    ActionKind::Cordon,
                    format!("node/{}", node.name),
                    format!("cordon, noting {CORDONED_ANNOTATION}=<run id> on it, then drain"),
                ));
            }
            let mut pods = by_node.remove(&node.name).unwrap_or_default();
            pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
            for pod in pods {
                let daemon = pod.owner.as_ref().is_some_and(|(k, _)| k == "DaemonSet");
                // With `both`, the services' own pods are gone with the scale-down first.
                let labels: BTreeMap<String, String> = pod.labels.iter().cloned().collect();
                let scaled = take_out.scales()
                    && phase.services.iter().any(|s| {
                        s.namespace == pod.namespace && selector_matches(&s.selector, &labels)
                    });
                if daemon || scaled {
                    continue;
                }
                actions.push(Action::new(
                    ActionKind::EvictPod,
                    format!("pod/{} in namespace {}", pod.name, pod.namespace),
                    format!("drain node {} (disruption budgets respected)", node.name),
                ));
            }
        }
    }
    Ok(actions)
}

pub(crate) fn outage_inject(phase: &Phase<Params>) -> Result<(), Error> {
    let take_out = phase.params.take_out.unwrap_or_default();
    let mut steps = Vec::new();
    let result = outage_steps(phase, take_out, &mut steps);
    if let Err(err) = &result {
        done(&mut steps, format!("stopped: {err:?}"));
    }
    evidence::text(
        "outage.txt",
        &format!(
            "Primary region outage in this cluster (take_out: {}), run {}:\n{}",
            take_out.name(),
            phase.run_id,
            steps_text(&steps)
        ),
    )?;
    result
}

pub(crate) fn outage_steps(
    phase: &Phase<Params>,
    take_out: TakeOut,
    steps: &mut Vec<Done>,
) -> Result<(), Error> {
    if take_out.scales() {
        // Found before anything changes: a service's pods are how its workload is found.
        for (service, workload) in phase_workloads(phase)? {
            let object = workload.get()?;
            // Saved before the change, so that a rollback after a crash finds it.
            let before = save_count(SCALED_KEY, &workload, count_before_outage(&object))?;
            // One patch: the count and the note of the count before change together.
            workload.patch(&json!({
                "metadata": { "annotations": { REPLICAS_ANNOTATION: before.to_string() } },
                "spec": { "replicas": 0 },
            }))?;
            done(
                steps,
                format!(
                    "service {service}: scaled {workload} from {before} to 0 ({REPLICAS_ANNOTATION}={before})"
                ),
            );
        }
    }
    if take_out.drains() {
        let nodes = region_nodes(phase)?;
        let mut cordoned: Vec<String> = state::get_json(CORDONED_KEY).unwrap_or_default();
        // Every node is cordoned before any is drained: evicted pods must not land on
        // another node of the region.
        for node in &nodes {
            if node.unschedulable && !cordoned.contains(&node.name) {
                done(
                    steps,
                    format!(
                        "node {} was cordoned already: drained, and left cordoned afterwards",
                        node.name
                    ),
                );
                continue;
            }
            if !cordoned.contains(&node.name) {
                cordoned.push(node.name.clone());
                state::set_json(CORDONED_KEY, &cordoned)?;
            }
            mark_node(&node.name, Some(&phase.run_id))?;
            cluster::cordon(&node.name)?;
            done(
                steps,
                format!(
                    "cordoned node {} ({CORDONED_ANNOTATION}={})",
                    node.name, phase.run_id
                ),
            );
        }
        for node in &nodes {
            let drained = cluster::drain(
                &node.name,
                cluster::DrainOptions {
                    timeout_ms: drain_timeout_ms(phase),
                    retry_interval_ms: 1000,
                    ignore_daemon_sets: true,
                },
            );
            match drained {
                Ok(report) => done(
                    steps,
                    format!(
                        "drained node {}: {} pod(s) evicted, {} eviction(s) retried",
                        node.name,
                        report.evicted.len(),
                        report.retries
                    ),
                ),
                // A region's pods rarely fit their disruption budgets once every node is
                // cordoned: the node stays cordoned, and verify says whether the
                // services are out.
                Err(Error::Timeout(why)) => {
                    log::warn(&why);
                    done(
                        steps,
                        format!("drain of node {} incomplete: {why}", node.name),
                    );
                }
                Err(err) => return Err(err),
            }
        }
    }
    Ok(())
}

pub(crate) fn outage_verify(phase: &Phase<Params>) -> Result<Verdict, Error> {
    for service in &phase.services {
        let ready = ready_count(service)?;
        if ready > 0 {
            return Ok(Verdict::Recovering(format!(
                "{}: {ready} Ready pod(s) left",
                service.name
            )));
        }
    }
    Ok(Verdict::Recovered)
}

pub(crate) fn outage_rollback() -> Result<(), Error> {
    let scaled: Vec<Saved> = state::get_json(SCALED_KEY).unwrap_or_default();
    for saved in &scaled {
        let Some(object) = saved.workload.get_if_present()? else {
            continue;
        };
        // Restored already (by the failback step) when the note is gone and it runs.
        let out = annotation(&object, REPLICAS_ANNOTATION).is_some() || spec_replicas(&object) == 0;
        if !out {
            log::info(&format!("{} is back already", saved.workload));
            continue;
        }
        saved.workload.patch(&json!({
            "metadata": { "annotations": { REPLICAS_ANNOTATION: null } },
            "spec": { "replicas": saved.replicas },
        }))?;
        log::info(&format!(
            "scaled {} back to {}",
            saved.workload, saved.replicas
        ));
    }
    state::remove(SCALED_KEY);
    let cordoned: Vec<String> = state::get_json(CORDONED_KEY).unwrap_or_default();
    for node in &cordoned {
        let object = match get_json("v1", "Node", None, node) {
            Ok(object) => object,
            Err(Error::NotFound(_)) => continue,
            Err(err) => return Err(err),
        };
        // No note: uncordoned already (by the failback step), or never cordoned.
        if annotation(&object, CORDONED_ANNOTATION).is_some() {
            release_node(node)?;
            log::info(&format!("uncordoned node {node}"));
        }
    }
    state::remove(CORDONED_KEY);
    Ok(())
}
