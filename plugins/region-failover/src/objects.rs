//! Kubernetes objects through the `cluster` capability: JSON reads and merge patches,
//! the workloads behind a service (and their rollouts), and the nodes the outage notes.

use super::*;

/// An annotation of an object, if set.
pub(crate) fn annotation(object: &Value, key: &str) -> Option<String> {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// `spec.replicas`, defaulted to 1 as the API server does.
pub(crate) fn spec_replicas(object: &Value) -> i64 {
    object
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

pub(crate) fn get_json(
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
) -> Result<Value, Error> {
    let text = cluster::get_object(api_version, kind, namespace, name)?;
    serde_json::from_str(&text).map_err(|e| Error::failed(format!("unreadable {kind} {name}: {e}")))
}

pub(crate) fn patch(
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    merge_patch: &Value,
) -> Result<(), Error> {
    cluster::patch_object(api_version, kind, namespace, name, &merge_patch.to_string())?;
    Ok(())
}

/// A workload whose replicas and pod template this scenario changes.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) struct Workload {
    pub(crate) namespace: String,
    /// `Deployment`, `StatefulSet`, or `ReplicaSet` for one no Deployment owns.
    pub(crate) kind: String,
    pub(crate) name: String,
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} in namespace {}",
            self.kind.to_ascii_lowercase(),
            self.name,
            self.namespace
        )
    }
}

impl Workload {
    pub(crate) fn new(namespace: &str, kind: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            kind: kind.to_owned(),
            name: name.to_owned(),
        }
    }

    pub(crate) fn get(&self) -> Result<Value, Error> {
        get_json("apps/v1", &self.kind, Some(&self.namespace), &self.name)
    }

    /// A JSON merge patch: objects merge, `null` removes, lists are replaced whole.
    pub(crate) fn patch(&self, merge_patch: &Value) -> Result<(), Error> {
        patch(
            "apps/v1",
            &self.kind,
            Some(&self.namespace),
            &self.name,
            merge_patch,
        )
    }

    /// The workload as it is now, or none when it was deleted meanwhile.
    pub(crate) fn get_if_present(&self) -> Result<Option<Value>, Error> {
        match self.get() {
            Ok(object) => Ok(Some(object)),
            Err(Error::NotFound(_)) => Ok(None),
            Err(err) => Err(err),
        }
    }
}

/// `deployment/api` or `statefulset/db` → (kind, name).
pub(crate) fn parse_workload_spec(spec: &str) -> Result<(&'static str, String), String> {
    let bad = || format!("{spec:?} is not deployment/NAME or statefulset/NAME");
    let (kind, name) = spec.split_once('/').ok_or_else(bad)?;
    let kind = match kind.to_ascii_lowercase().as_str() {
        "deployment" | "deployments" | "deploy" => "Deployment",
        "statefulset" | "statefulsets" | "sts" => "StatefulSet",
        _ => return Err(bad()),
    };
    if name.is_empty() || name.contains('/') {
        return Err(bad());
    }
    Ok((kind, name.to_owned()))
}

/// The controller of a ReplicaSet: its Deployment, or the ReplicaSet itself.
pub(crate) fn replica_set_owner(namespace: &str, name: &str) -> Result<Option<Workload>, Error> {
    let rs = match get_json("apps/v1", "ReplicaSet", Some(namespace), name) {
        Ok(rs) => rs,
        // Replaced while we looked: its pods go with it.
        Err(Error::NotFound(_)) => return Ok(None),
        Err(err) => return Err(err),
    };
    let deployment = rs
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
        .filter(|o| o.get("kind").and_then(Value::as_str) == Some("Deployment"))
        .and_then(|o| o.get("name").and_then(Value::as_str));
    Ok(Some(match deployment {
        Some(deployment) => Workload::new(namespace, "Deployment", deployment),
        None => Workload::new(namespace, "ReplicaSet", name),
    }))
}

/// The workloads of one service: named in `workloads`, else the owners of its pods (a
/// pod owned by a ReplicaSet belongs to that ReplicaSet's Deployment; a StatefulSet owns
/// its pods), else — a service scaled to 0 has no pods — a Deployment or StatefulSet named
/// like the service or a label value of its selector whose pod template the selector
/// matches.
pub(crate) fn service_workloads(
    phase: &Phase<Params>,
    service: &Service,
) -> Result<Vec<Workload>, Error> {
    if let Some(spec) = phase.params.workloads.get(&service.name) {
        let (kind, name) = parse_workload_spec(spec)
            .map_err(|why| invalid(format!("`workloads.{}`: {why}", service.name)))?;
        return Ok(vec![Workload::new(&service.namespace, kind, &name)]);
    }
    let mut found = BTreeSet::new();
    let mut owners: BTreeMap<String, Option<Workload>> = BTreeMap::new();
    for pod in cluster::list_pods(&service.namespace, &service.selector)? {
        let Some((kind, name)) = pod.owner else {
            continue;
        };
        match kind.as_str() {
            "ReplicaSet" => {
                if !owners.contains_key(&name) {
                    let owner = replica_set_owner(&pod.namespace, &name)?;
                    owners.insert(name.clone(), owner);
                }
                if let Some(Some(workload)) = owners.get(&name) {
                    found.insert(workload.clone());
                }
            }
            "StatefulSet" => {
                found.insert(Workload::new(&pod.namespace, "StatefulSet", &name));
            }
            _ => {}
        }
    }
    if !found.is_empty() {
        return Ok(found.into_iter().collect());
    }
    let mut candidates = vec![service.name.clone()];
    for value in pinned_values(&service.selector) {
        if !candidates.contains(&value) {
            candidates.push(value);
        }
    }
    for name in &candidates {
        for kind in ["Deployment", "StatefulSet"] {
            let workload = Workload::new(&service.namespace, kind, name);
            let Some(object) = workload.get_if_present()? else {
                continue;
            };
            let labels: BTreeMap<String, String> = object
                .pointer("/spec/template/metadata/labels")
                .cloned()
                .and_then(|l| serde_json::from_value(l).ok())
                .unwrap_or_default();
            if selector_matches(&service.selector, &labels) {
                found.insert(workload);
            }
        }
    }
    if found.is_empty() {
        return Err(Error::failed(format!(
            "service {}: no workload found: no pod matches {} in namespace {}, and no Deployment or StatefulSet named {} has pods it selects; name it in `workloads: {{ {}: deployment/NAME }}`",
            service.name,
            service.selector,
            service.namespace,
            candidates.join(" or "),
            service.name
        )));
    }
    Ok(found.into_iter().collect())
}

/// Every phase service's workloads, with the service each belongs to.
pub(crate) fn phase_workloads(phase: &Phase<Params>) -> Result<Vec<(String, Workload)>, Error> {
    let mut all: Vec<(String, Workload)> = Vec::new();
    for service in &phase.services {
        for workload in service_workloads(phase, service)? {
            if !all.iter().any(|(_, w)| *w == workload) {
                all.push((service.name.clone(), workload));
            }
        }
    }
    Ok(all)
}

/// A workload's replica count saved before this phase changed it.
#[derive(Serialize, Deserialize, Clone)]
pub(crate) struct Saved {
    pub(crate) workload: Workload,
    pub(crate) replicas: i64,
}

/// Records a workload's replica count in the state list `key`, unless the workload is
/// recorded already: an earlier attempt of this phase saw the count before any change.
/// Returns the count recorded.
pub(crate) fn save_count(key: &str, workload: &Workload, replicas: i64) -> Result<i64, Error> {
    let mut saved: Vec<Saved> = state::get_json(key).unwrap_or_default();
    if let Some(earlier) = saved.iter().find(|s| s.workload == *workload) {
        return Ok(earlier.replicas);
    }
    saved.push(Saved {
        workload: workload.clone(),
        replicas,
    });
    state::set_json(key, &saved)?;
    Ok(replicas)
}

/// The Ready, not terminating pods of a service.
pub(crate) fn ready_count(service: &Service) -> Result<usize, Error> {
    Ok(cluster::ready_pods(service)?.len())
}

/// Why the rollout of a workload's new pod template is not complete, like `kubectl
/// rollout status`; none when it is.
pub(crate) fn rollout_pending(workload: &Workload) -> Result<Option<String>, Error> {
    let Some(object) = workload.get_if_present()? else {
        return Ok(Some(format!("{workload} is gone")));
    };
    let int = |pointer: &str| object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0);
    let wanted = spec_replicas(&object);
    let (generation, observed) = (
        int("/metadata/generation"),
        int("/status/observedGeneration"),
    );
    let (replicas, updated, ready) = (
        int("/status/replicas"),
        int("/status/updatedReplicas"),
        int("/status/readyReplicas"),
    );
    Ok(if observed < generation {
        Some(format!("{workload}: new pod template not observed yet"))
    } else if updated < wanted || ready < wanted || replicas > wanted {
        Some(format!(
            "{workload}: rolling out the env: {updated}/{wanted} updated, {ready}/{wanted} Ready, {replicas} pods"
        ))
    } else {
        None
    })
}

pub(crate) fn mark_node(node: &str, by: Option<&str>) -> Result<(), Error> {
    patch(
        "v1",
        "Node",
        None,
        node,
        &json!({ "metadata": { "annotations": { CORDONED_ANNOTATION: by } } }),
    )
}

/// Uncordons a node and removes its annotation, in that order: stopped in between, the
/// annotation left behind still says a rollback or failback has a node to uncordon.
pub(crate) fn release_node(node: &str) -> Result<(), Error> {
    cluster::uncordon(node)?;
    mark_node(node, None)
}
