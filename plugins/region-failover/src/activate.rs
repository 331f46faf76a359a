//! `step: activate`: the DR region made to serve in the runbook's order (traffic,
//! replicas, env, replication checks), verified once every service is Ready on its new
//! template, and put back to standby on rollback.

use super::*;

/// The containers of a workload's pod template, before any change.
#[derive(Serialize, Deserialize)]
pub(crate) struct SavedEnv {
    pub(crate) workload: Workload,
    /// Each container's `env` before (none: it had none).
    pub(crate) previous: BTreeMap<String, Option<Value>>,
}

pub(crate) fn containers(object: &Value) -> Vec<Value> {
    object
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

pub(crate) fn container_name(container: &Value) -> String {
    container
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// `kubectl set env`: each variable replaces an entry of that name (a `valueFrom` too)
/// or is appended.
pub(crate) fn with_env(mut container: Value, env: &BTreeMap<String, Scalar>) -> Value {
    let mut list: Vec<Value> = container
        .get("env")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (name, value) in env {
        let entry = json!({ "name": name, "value": value.text() });
        match list
            .iter_mut()
            .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
        {
            Some(existing) => *existing = entry,
            None => list.push(entry),
        }
    }
    if let Some(map) = container.as_object_mut() {
        map.insert("env".into(), Value::Array(list));
    }
    container
}

/// The containers patch. A JSON merge patch replaces a list whole (RFC 7386), so every
/// container goes, complete: the strategic merge that would patch one by name is not
/// what `patch-object` sends.
pub(crate) fn containers_patch(containers: Vec<Value>) -> Value {
    json!({ "spec": { "template": { "spec": { "containers": containers } } } })
}

pub(crate) fn env_shown(env: &BTreeMap<String, Scalar>) -> String {
    env.iter()
        .map(|(k, v)| format!("{k}={}", v.text()))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn scale_kind(before: i64, after: i64) -> &'static str {
    match before.cmp(&after) {
        std::cmp::Ordering::Less => "scale-up",
        std::cmp::Ordering::Greater => "scale-down",
        std::cmp::Ordering::Equal => "scale",
    }
}

pub(crate) fn activate_plan(phase: &Phase<Params>) -> Result<Vec<Action>, Error> {
    let p = &phase.params;
    let mut actions = Vec::new();
    if let Some(traffic) = &p.traffic {
        actions.extend(traffic_plan(traffic)?);
    }
    let workloads = if p.replicas.is_some() || p.env.is_some() {
        phase_workloads(phase)?
    } else {
        Vec::new()
    };
    for (service, workload) in &workloads {
        let object = workload.get()?;
        if let Some(replicas) = p.replicas {
            let before = spec_replicas(&object);
            actions.push(Action::new(
                scale_kind(before, i64::from(replicas)),
                workload.to_string(),
                format!("service {service}: scale from {before} to {replicas}; back to {before} on rollback"),
            ));
        }
        if let Some(env) = &p.env {
            let names: Vec<String> = containers(&object).iter().map(container_name).collect();
            actions.push(Action::new(
                ActionKind::RolloutRestart,
                workload.to_string(),
                format!(
                    "service {service}: set {} on container(s) {} of the pod template (its pods are replaced); the previous env on rollback",
                    env_shown(env),
                    names.join(", ")
                ),
            ));
        }
    }
    if let Some(replication) = &p.replication {
        if let Some(c) = &replication.cassandra {
            actions.push(Action::new(
                ActionKind::Exec,
                format!("pod/{} in namespace {}", c.pod, c.namespace),
                "nodetool describecluster: do the reachable nodes agree on one schema version",
            ));
        }
        if let Some(pg) = &replication.postgres {
            actions.push(Action::new(
                ActionKind::HealthCheck,
                format!("connection {}", pg.connection),
                format!(
                    "replay lag of the DR replica (now() - pg_last_xact_replay_timestamp()), at most {}",
                    pg.max_lag()
                ),
            ));
        }
    }
    Ok(actions)
}

pub(crate) fn activate_inject(phase: &Phase<Params>) -> Result<(), Error> {
    let mut steps: Vec<Done> = state::get_json(STEPS_KEY).unwrap_or_default();
    let result = activate_steps(phase, &mut steps);
    if let Err(err) = &result {
        done(&mut steps, format!("stopped: {err:?}"));
    }
    state::set_json(STEPS_KEY, &steps)?;
    result
}

/// The runbook's order: traffic, replicas, client configuration, replication.
pub(crate) fn activate_steps(phase: &Phase<Params>, steps: &mut Vec<Done>) -> Result<(), Error> {
    let p = &phase.params;
    if let Some(traffic) = &p.traffic {
        switch_traffic(traffic, steps)?;
    }
    let workloads = if p.replicas.is_some() || p.env.is_some() {
        phase_workloads(phase)?
    } else {
        Vec::new()
    };
    if let Some(replicas) = p.replicas {
        for (service, workload) in &workloads {
            let object = workload.get()?;
            let before = save_count(SCALED_KEY, workload, spec_replicas(&object))?;
            workload.patch(&json!({ "spec": { "replicas": replicas } }))?;
            done(
                steps,
                format!("service {service}: scaled {workload} from {before} to {replicas}"),
            );
        }
    }
    if let Some(env) = &p.env {
        let mut saved: Vec<SavedEnv> = state::get_json(ENV_KEY).unwrap_or_default();
        for (service, workload) in &workloads {
            let object = workload.get()?;
            let current = containers(&object);
            if !saved.iter().any(|s| s.workload == *workload) {
                saved.push(SavedEnv {
                    workload: workload.clone(),
                    previous: current
                        .iter()
                        .map(|c| (container_name(c), c.get("env").cloned()))
                        .collect(),
                });
                state::set_json(ENV_KEY, &saved)?;
            }
            let names: Vec<String> = current.iter().map(container_name).collect();
            let updated = current.into_iter().map(|c| with_env(c, env)).collect();
            workload.patch(&containers_patch(updated))?;
            done(
                steps,
                format!(
                    "service {service}: set {} on container(s) {} of {workload}",
                    env_shown(env),
                    names.join(", ")
                ),
            );
        }
    }
    if let Some(replication) = &p.replication {
        check_replication(replication, steps)?;
    }
    Ok(())
}

pub(crate) fn wanted_activate(phase: &Phase<Params>, service: &Service) -> usize {
    match phase.params.replicas {
        Some(replicas) => replicas as usize,
        None => service.replicas.max(1) as usize,
    }
}

pub(crate) fn activate_verify(phase: &Phase<Params>) -> Result<Verdict, Error> {
    if let Some(seen) = state::get_json::<ReplicationSeen>(REPLICATION_KEY)
        && let Some(lag) = &seen.lag
    {
        if let Some(error) = &lag.error {
            return Ok(Verdict::Failed(format!(
                "replication.postgres: the replay lag of {} could not be read, so max_lag {} is not shown to hold: {error}",
                lag.connection, lag.max_lag
            )));
        }
        if let Some(seconds) = lag.seconds
            && seconds > lag.max_seconds
        {
            return Ok(Verdict::Failed(format!(
                "replication.postgres: the DR replica {} replays {seconds:.1} s behind the primary, above max_lag {} ({} s)",
                lag.connection, lag.max_lag, lag.max_seconds
            )));
        }
    }
    let mut serving = Vec::new();
    for service in &phase.services {
        let ready = ready_count(service)?;
        let wanted = wanted_activate(phase, service);
        if ready < wanted {
            return Ok(Verdict::Recovering(format!(
                "{}: {ready}/{wanted} pods Ready",
                service.name
            )));
        }
        serving.push(format!("{} {ready}/{wanted}", service.name));
    }
    // The DR region serves with its new client configuration once every pod runs it.
    let rolled: Vec<SavedEnv> = state::get_json(ENV_KEY).unwrap_or_default();
    for saved in &rolled {
        if let Some(pending) = rollout_pending(&saved.workload)? {
            return Ok(Verdict::Recovering(pending));
        }
    }
    let steps: Vec<Done> = state::get_json(STEPS_KEY).unwrap_or_default();
    let mut text = String::from(
        "Region failover complete: DR region (this cluster) is now serving\n\nSteps:\n",
    );
    text.push_str(&steps_text(&steps));
    text.push_str(&format!(
        "{}  every phase service has its Ready pods: {}{}\n",
        rfc3339(clock::now_ms()),
        if serving.is_empty() {
            "(the phase names no service)".to_owned()
        } else {
            serving.join(", ")
        },
        if rolled.is_empty() {
            ""
        } else {
            "; every env rollout complete"
        }
    ));
    evidence::text("failover.txt", &text)?;
    // The announcement the runbook ends the activation with, for the run's timeline, the
    // report, the email and the webhooks.
    evidence::text(
        "announcement.txt",
        &format!(
            "Region failover complete: the DR region is now serving ({}).\n",
            if serving.is_empty() {
                "no service named".to_owned()
            } else {
                serving.join(", ")
            }
        ),
    )?;
    Ok(Verdict::Recovered)
}

pub(crate) fn activate_rollback() -> Result<(), Error> {
    let mut follow_ups = Vec::new();
    revert_traffic(&mut follow_ups)?;
    let saved_env: Vec<SavedEnv> = state::get_json(ENV_KEY).unwrap_or_default();
    for saved in &saved_env {
        let Some(object) = saved.workload.get_if_present()? else {
            continue;
        };
        let restored: Vec<Value> = containers(&object)
            .into_iter()
            .map(|mut container| {
                let name = container_name(&container);
                if let (Some(previous), Some(map)) =
                    (saved.previous.get(&name), container.as_object_mut())
                {
                    match previous {
                        Some(env) => map.insert("env".into(), env.clone()),
                        None => map.remove("env"),
                    };
                }
                container
            })
            .collect();
        saved.workload.patch(&containers_patch(restored))?;
        log::info(&format!("restored the env of {}", saved.workload));
    }
    state::remove(ENV_KEY);
    let scaled: Vec<Saved> = state::get_json(SCALED_KEY).unwrap_or_default();
    for saved in &scaled {
        if saved.workload.get_if_present()?.is_none() {
            continue;
        }
        saved
            .workload
            .patch(&json!({ "spec": { "replicas": saved.replicas } }))?;
        log::info(&format!(
            "scaled {} back to {} (standby)",
            saved.workload, saved.replicas
        ));
    }
    state::remove(SCALED_KEY);
    attach_follow_ups(&follow_ups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_env_replaces_a_variable_of_that_name_and_appends_the_others() {
        let container = json!({
            "name": "api",
            "image": "api:1",
            "env": [
                { "name": "REGION", "valueFrom": { "configMapKeyRef": { "name": "c", "key": "k" } } },
                { "name": "KEEP", "value": "1" }
            ]
        });
        let env = BTreeMap::from([
            ("REGION".to_owned(), Scalar::Text("dr".into())),
            ("REPLICAS".to_owned(), Scalar::Int(3)),
        ]);
        assert_eq!(
            with_env(container, &env),
            json!({
                "name": "api",
                "image": "api:1",
                "env": [
                    { "name": "REGION", "value": "dr" },
                    { "name": "KEEP", "value": "1" },
                    { "name": "REPLICAS", "value": "3" }
                ]
            })
        );
        assert_eq!(
            with_env(json!({ "name": "nexus" }), &env)["env"],
            json!([{ "name": "REGION", "value": "dr" }, { "name": "REPLICAS", "value": "3" }])
        );
    }
}
