//! Built-in scenario `service-recovery` (DR runbook, "Service Recovery — Single Service
//! Down"): one service's Deployment is broken with an image that can never be pulled, then
//! the runbook's procedure is driven and each step timed: wait until the service is down,
//! `kubectl rollout restart`, and when that has not brought it back within
//! `restart_wait`, `kubectl rollout undo` (the template's images and strategy as they were
//! before the fault put back); recovered when the service has its baseline Ready pods
//! again, no pod left that is not Ready, and the Deployment's rollout is complete.
//! Rollback puts the saved images and strategy back (idempotent).

use firedrill_sdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// An image nobody can pull: RFC 2606 reserves `.invalid`, so its registry never resolves.
const DEFAULT_BREAK_IMAGE: &str = "firedrill.invalid/never-ready:0";

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Params {
    /// The Deployment to break. Default: the one owning the service's pods.
    deployment: Option<String>,
    /// The container whose image is replaced. Default: the template's first container.
    container: Option<String>,
    /// The image that breaks it.
    break_image: String,
    /// Switch the strategy to `Recreate` so every old pod goes and the service is down;
    /// false keeps the rolling update, which keeps the old pods (degraded, not down).
    recreate: bool,
    /// How long the restart may take to bring the service back before the undo.
    #[serde(deserialize_with = "firedrill_sdk::duration::deserialize_ms")]
    restart_wait: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            deployment: None,
            container: None,
            break_image: DEFAULT_BREAK_IMAGE.into(),
            recreate: true,
            restart_wait: 30_000,
        }
    }
}

/// Milliseconds as `30 s`, `1.5 s`.
fn seconds(ms: u64) -> String {
    let text = format!("{:.3}", ms as f64 / 1000.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} s")
}

/// `state` key: the Deployment as it was before the fault.
const SAVED: &str = "saved";
/// `state` key: where the procedure is and what it did when.
const PROCEDURE: &str = "procedure";

/// What `kubectl rollout undo` would copy back from the previous revision, saved before
/// the fault: the capability cannot list ReplicaSets, so the template as inject found it
/// stands for the previous revision.
#[derive(Serialize, Deserialize)]
struct Saved {
    namespace: String,
    deployment: String,
    /// The container whose image was replaced.
    container: String,
    /// Every container's image before the fault, by container name.
    images: Vec<(String, String)>,
    /// `spec.strategy` before the fault (null when unset).
    strategy: Value,
}

/// Where the runbook's procedure is.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "kebab-case")]
enum Step {
    /// Fault injected; waiting for the service to be down (runbook steps 1-2).
    AwaitFailure,
    /// `kubectl rollout restart` sent (step 3); waiting up to `restart_wait`.
    Restarted,
    /// `kubectl rollout undo` done (step 4); waiting for the service.
    Undone,
    /// Recovered (step 5).
    Recovered,
}

/// The procedure's state and its timed log, kept between `verify` calls (each a fresh
/// instance) and read by `findings`.
#[derive(Serialize, Deserialize)]
struct Procedure {
    /// When the fault was injected, milliseconds since the Unix epoch.
    fault_at_ms: u64,
    step: Step,
    /// When the current step began.
    step_at_ms: u64,
    /// Whether a broken pod's container state was noted (`kubectl describe pod`).
    diagnosed: bool,
    /// The template the current step rolls out, as its pods show it.
    #[serde(default)]
    expected: Option<Template>,
    log: Vec<Entry>,
}

/// What a pod made from a Deployment's template carries of it: the containers' images
/// and the template's annotations (`kubectl rollout restart`'s `restartedAt` among them).
#[derive(Serialize, Deserialize, Clone)]
struct Template {
    images: Vec<(String, String)>,
    annotations: Vec<(String, String)>,
}

impl Template {
    fn of(deployment: &Value) -> Self {
        let annotations = deployment
            .pointer("/spec/template/metadata/annotations")
            .and_then(Value::as_object)
            .map(|map| {
                map.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            images: images(deployment),
            annotations,
        }
    }

    /// Was `pod` (as JSON) made from this template?
    fn made(&self, pod: &Value) -> bool {
        let containers = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let images_match = self.images.iter().all(|(name, image)| {
            containers
                .iter()
                .any(|c| container_name(c) == name && c["image"] == image.as_str())
        });
        let annotations_match = self.annotations.iter().all(|(key, value)| {
            pod.pointer("/metadata/annotations")
                .and_then(|a| a.get(key))
                .and_then(Value::as_str)
                == Some(value.as_str())
        });
        images_match && annotations_match
    }
}

#[derive(Serialize, Deserialize)]
struct Entry {
    at_ms: u64,
    what: String,
}

impl Procedure {
    fn note(&mut self, at_ms: u64, what: impl Into<String>) {
        self.log.push(Entry {
            at_ms,
            what: what.into(),
        });
    }

    /// Milliseconds from the fault to the first log entry that starts with `prefix`.
    fn after_fault(&self, prefix: &str) -> Option<u64> {
        self.log
            .iter()
            .find(|e| e.what.starts_with(prefix))
            .map(|e| e.at_ms.saturating_sub(self.fault_at_ms))
    }

    /// `procedure.txt`: each step and its time after the fault.
    fn report(&self, saved: &Saved) -> String {
        let mut text = format!(
            "service-recovery of deployment/{} in namespace {}\n\n",
            saved.deployment, saved.namespace
        );
        for entry in &self.log {
            text.push_str(&format!(
                "+{:>9.3} s  {}\n",
                entry.at_ms.saturating_sub(self.fault_at_ms) as f64 / 1000.0,
                entry.what
            ));
        }
        text
    }
}

struct ServiceRecovery;

/// The phase's one service.
fn service(phase: &Phase<Params>) -> Result<&Service, Error> {
    if phase.services.len() > 1 {
        return Err(Error::InvalidParams(format!(
            "service-recovery drills one service; the phase names {}",
            phase.services.len()
        )));
    }
    phase.first_service("one")
}

fn get_json(kind: &str, namespace: &str, name: &str) -> Result<Value, Error> {
    let text = cluster::get_object("apps/v1", kind, Some(namespace), name)?;
    serde_json::from_str(&text)
        .map_err(|e| Error::failed(format!("unreadable {kind} {namespace}/{name}: {e}")))
}

/// The name of the controller of `kind` in an object's owner references.
fn controller(object: &Value, kind: &str) -> Option<String> {
    object
        .pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r["controller"].as_bool() == Some(true) && r["kind"] == kind)
        .and_then(|r| r["name"].as_str())
        .map(str::to_owned)
}

/// The Deployment to break: the parameter, else the one owning the service's pods
/// (pod → ReplicaSet → Deployment, as `kubectl` finds it).
fn deployment_name(phase: &Phase<Params>, service: &Service) -> Result<String, Error> {
    if let Some(name) = &phase.params.deployment {
        return Ok(name.clone());
    }
    let mut sets = std::collections::BTreeSet::new();
    let mut others = std::collections::BTreeSet::new();
    for pod in cluster::list_pods(&service.namespace, &service.selector)? {
        match pod.owner {
            Some((kind, name)) if kind == "ReplicaSet" => {
                sets.insert(name);
            }
            Some((kind, name)) => {
                others.insert(format!("{}/{name}", kind.to_lowercase()));
            }
            None => {}
        }
    }
    let mut deployments = std::collections::BTreeSet::new();
    for set in sets {
        let replica_set = get_json("ReplicaSet", &service.namespace, &set)?;
        if let Some(name) = controller(&replica_set, "Deployment") {
            deployments.insert(name);
        }
    }
    let mut found = deployments.into_iter();
    match (found.next(), found.next()) {
        (Some(name), None) => Ok(name),
        (Some(first), Some(second)) => Err(Error::InvalidParams(format!(
            "{}'s pods belong to more than one Deployment ({first}, {second}): name one with the `deployment` parameter",
            service.name
        ))),
        (None, _) => Err(Error::failed(format!(
            "{}'s pods belong to no Deployment{}: service-recovery drills a Deployment, as the runbook's `kubectl rollout restart deployment/[service]` does",
            service.name,
            if others.is_empty() {
                String::new()
            } else {
                format!(
                    " (their controllers: {})",
                    others.into_iter().collect::<Vec<_>>().join(", ")
                )
            }
        ))),
    }
}

/// The template's containers.
fn containers(deployment: &Value) -> Vec<Value> {
    deployment
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn container_name(container: &Value) -> &str {
    container["name"].as_str().unwrap_or_default()
}

/// Every container's image, by container name.
fn images(deployment: &Value) -> Vec<(String, String)> {
    containers(deployment)
        .iter()
        .map(|c| {
            (
                container_name(c).to_owned(),
                c["image"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The container whose image is replaced, and its image.
fn target_container(phase: &Phase<Params>, deployment: &Value) -> Result<(String, String), Error> {
    let containers = containers(deployment);
    let found = match &phase.params.container {
        Some(wanted) => containers.iter().find(|c| container_name(c) == wanted),
        None => containers.first(),
    };
    match found {
        Some(c) => Ok((
            container_name(c).to_owned(),
            c["image"].as_str().unwrap_or_default().to_owned(),
        )),
        None => Err(Error::InvalidParams(format!(
            "the Deployment's template has no container {}",
            phase.params.container.as_deref().unwrap_or("at all")
        ))),
    }
}

/// Puts the saved images and strategy back (`kubectl rollout undo` to the revision before
/// the fault): one merge patch, the containers list whole since merge patches replace
/// lists. A patch that changes nothing leaves the Deployment as it is, so this is safe to
/// repeat.
fn put_back(saved: &Saved) -> Result<(String, Value), Error> {
    let deployment = get_json("Deployment", &saved.namespace, &saved.deployment)?;
    let mut restored = containers(&deployment);
    for container in &mut restored {
        let name = container_name(container).to_owned();
        if let Some((_, image)) = saved.images.iter().find(|(n, _)| *n == name) {
            container["image"] = Value::String(image.clone());
        }
    }
    let patch = json!({"spec": {
        "strategy": saved.strategy,
        "template": {"spec": {"containers": restored}},
    }});
    let patched = cluster::patch_object(
        "apps/v1",
        "Deployment",
        Some(&saved.namespace),
        &saved.deployment,
        &patch.to_string(),
    )?;
    let patched = serde_json::from_str(&patched)
        .map_err(|e| Error::failed(format!("unreadable patched Deployment: {e}")))?;
    let images: Vec<String> = saved
        .images
        .iter()
        .map(|(name, image)| format!("{name}={image}"))
        .collect();
    let restored = format!(
        "image {}, strategy {}",
        images.join(", "),
        saved.strategy["type"].as_str().unwrap_or("unset")
    );
    Ok((restored, patched))
}

/// A pod as JSON, from the phase's cache.
fn pod_object(namespace: &str, name: &str) -> Option<Value> {
    let text = cluster::get_object("v1", "Pod", Some(namespace), name).ok()?;
    serde_json::from_str(&text).ok()
}

/// Has the Deployment rolled out? `None` when every replica runs the current template
/// and is Ready, no old one left (what `kubectl rollout status` waits for), else where it
/// is.
fn rollout_pending(saved: &Saved) -> Result<Option<String>, Error> {
    let deployment = get_json("Deployment", &saved.namespace, &saved.deployment)?;
    let int = |pointer: &str| deployment.pointer(pointer).and_then(Value::as_i64);
    let wanted = int("/spec/replicas").unwrap_or(1);
    let (updated, ready, replicas) = (
        int("/status/updatedReplicas").unwrap_or(0),
        int("/status/readyReplicas").unwrap_or(0),
        int("/status/replicas").unwrap_or(0),
    );
    let observed =
        int("/status/observedGeneration").unwrap_or(0) >= int("/metadata/generation").unwrap_or(0);
    Ok((!(observed && updated >= wanted && ready >= wanted && replicas <= updated)).then(|| {
        format!(
            "deployment/{}: {updated}/{wanted} updated, {ready}/{wanted} Ready, {replicas} running",
            saved.deployment
        )
    }))
}

/// Notes, once, why a pod that is not Ready is not (its container's waiting reason), as
/// the runbook's `kubectl describe pod` shows it. Pods are read from the phase's cache.
fn diagnose(procedure: &mut Procedure, namespace: &str, pods: &[&cluster::Pod]) {
    if procedure.diagnosed {
        return;
    }
    for pod in pods.iter().filter(|p| !p.ready) {
        let Some(object) = pod_object(namespace, &pod.name) else {
            continue;
        };
        let statuses = object
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for status in statuses {
            if let Some(reason) = status
                .pointer("/state/waiting/reason")
                .and_then(Value::as_str)
            {
                let message = status
                    .pointer("/state/waiting/message")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                procedure.note(
                    clock::now_ms(),
                    format!(
                        "describe pod {}: container {} waiting, {reason}: {message}",
                        pod.name,
                        status["name"].as_str().unwrap_or_default()
                    ),
                );
                procedure.diagnosed = true;
                return;
            }
        }
    }
}

impl Scenario for ServiceRecovery {
    type Params = Params;

    fn describe() -> Description {
        Description::new(
            "service-recovery",
            "0.1.0",
            "Breaks one service's Deployment with an image that cannot be pulled (strategy Recreate: the service goes down), then runs the runbook's procedure — rollout restart, and rollout undo when the restart does not bring it back — timing each step; recovered when the service has its Ready pods back.",
        )
        .params_schema(json!({
            "type": "object",
            "properties": {
                "deployment": { "type": "string", "minLength": 1 },
                "container": { "type": "string", "minLength": 1 },
                "break_image": { "type": "string", "minLength": 1, "default": DEFAULT_BREAK_IMAGE },
                "recreate": { "type": "boolean", "default": true },
                "restart_wait": {
                    "type": ["string", "integer"],
                    "pattern": "^([0-9]+(ms|s|m|h))+$",
                    "minimum": 0,
                    "default": "30s"
                }
            },
            "additionalProperties": false
        }))
        .needs(Capability::cluster(
            &[Verb::Get, Verb::List, Verb::Patch],
            &["*"],
        ))
    }

    fn plan(phase: &Phase<Params>) -> Result<Vec<Action>, Error> {
        let service = service(phase)?;
        let name = deployment_name(phase, service)?;
        let deployment = get_json("Deployment", &service.namespace, &name)?;
        let (container, image) = target_container(phase, &deployment)?;
        let target = format!("deployment/{name} in namespace {}", service.namespace);
        let strategy = if phase.params.recreate {
            ", strategy Recreate: every pod replaced by one that never becomes Ready (the service is down)"
        } else {
            ": the rolling update stalls on a pod that never becomes Ready"
        };
        Ok(vec![
            Action::new(
                "set-image",
                target.clone(),
                format!(
                    "container {container}: image {} (was {image}){strategy}",
                    phase.params.break_image
                ),
            ),
            Action::new(
                ActionKind::RolloutRestart,
                target.clone(),
                "runbook step 3, once the service is down",
            ),
            Action::new(
                "rollout-undo",
                target,
                format!(
                    "runbook step 4, when the restart has not brought it back within {}: the images and strategy before the fault put back",
                    seconds(phase.params.restart_wait)
                ),
            ),
        ])
    }

    fn inject(phase: &Phase<Params>) -> Result<(), Error> {
        let service = service(phase)?;
        let name = deployment_name(phase, service)?;
        let deployment = get_json("Deployment", &service.namespace, &name)?;
        let (container, image) = target_container(phase, &deployment)?;
        let broken = &phase.params.break_image;
        if containers(&deployment)
            .iter()
            .any(|c| c["image"] == *broken)
        {
            return Err(Error::failed(format!(
                "deployment/{name} already runs {broken}: an earlier drill was not rolled back (run `firedrill recover`); nothing was changed"
            )));
        }
        if cluster::ready_pods(service)?.is_empty() {
            return Err(Error::failed(format!(
                "{} has no Ready pod before the drill; nothing was changed",
                service.name
            )));
        }
        // Saved before the fault, so that a rollback in a fresh instance (after a crash)
        // can put it back; never overwritten, so a repeated inject keeps the healthy one.
        let saved = match state::get_json::<Saved>(SAVED) {
            Some(saved) => saved,
            None => {
                let saved = Saved {
                    namespace: service.namespace.clone(),
                    deployment: name.clone(),
                    container: container.clone(),
                    images: images(&deployment),
                    strategy: deployment
                        .pointer("/spec/strategy")
                        .cloned()
                        .unwrap_or(Value::Null),
                };
                state::set_json(SAVED, &saved)?;
                saved
            }
        };
        let mut patched = containers(&deployment);
        for c in &mut patched {
            if container_name(c) == container {
                c["image"] = Value::String(broken.clone());
            }
        }
        let mut spec = json!({"template": {"spec": {"containers": patched}}});
        if phase.params.recreate {
            // A real API server refuses `rollingUpdate` beside `Recreate`.
            spec["strategy"] = json!({"type": "Recreate", "rollingUpdate": null});
        }
        let fault_at_ms = clock::now_ms();
        let mut procedure = Procedure {
            fault_at_ms,
            step: Step::AwaitFailure,
            step_at_ms: fault_at_ms,
            diagnosed: false,
            expected: None,
            log: Vec::new(),
        };
        procedure.note(
            fault_at_ms,
            format!(
                "inject: container {container} image {broken} (was {image}){}",
                if phase.params.recreate {
                    format!(
                        ", strategy Recreate (was {})",
                        saved.strategy["type"].as_str().unwrap_or("unset")
                    )
                } else {
                    String::new()
                }
            ),
        );
        state::set_json(PROCEDURE, &procedure)?;
        cluster::patch_object(
            "apps/v1",
            "Deployment",
            Some(&service.namespace),
            &name,
            &json!({ "spec": spec }).to_string(),
        )?;
        log::info(&format!(
            "broke deployment/{name} in namespace {}: container {container} image {broken}",
            service.namespace
        ));
        Ok(())
    }

    fn verify(phase: &Phase<Params>) -> Result<Verdict, Error> {
        let service = service(phase)?;
        let (Some(saved), Some(mut procedure)) = (
            state::get_json::<Saved>(SAVED),
            state::get_json::<Procedure>(PROCEDURE),
        ) else {
            return Err(Error::failed("nothing was injected in this phase"));
        };
        // Pods only, from the phase's cache: the recovery is dated at the change that
        // brought the last pod Ready.
        let pods = cluster::list_pods(&service.namespace, &service.selector)?;
        let live: Vec<&cluster::Pod> = pods.iter().filter(|p| !p.terminating).collect();
        let ready = live.iter().filter(|p| p.ready).count();
        let baseline = (service.replicas as usize).max(1);
        let now = clock::now_ms();
        let deployment = format!("deployment/{}", saved.deployment);
        let verdict = match procedure.step {
            Step::Recovered => return Ok(Verdict::Recovered),
            Step::AwaitFailure => {
                // With Recreate the service goes down; a rolling update keeps the old pods
                // and stalls on a new one that never becomes Ready.
                let failing = if phase.params.recreate {
                    ready == 0
                } else {
                    live.iter().any(|p| !p.ready)
                };
                if !failing {
                    return Ok(Verdict::Recovering(format!(
                        "waiting for the fault to show: {ready} of {} pods Ready",
                        live.len()
                    )));
                }
                procedure.note(
                    now,
                    if phase.params.recreate {
                        format!(
                            "down: no Ready pod of {} (runbook steps 1-2: kubectl get pods, kubectl describe pod)",
                            service.name
                        )
                    } else {
                        format!(
                            "degraded: {} of {} pods of {} not Ready (runbook steps 1-2)",
                            live.len() - ready,
                            live.len(),
                            service.name
                        )
                    },
                );
                cluster::rollout_restart(
                    &saved.namespace,
                    cluster::WorkloadKind::Deployment,
                    &saved.deployment,
                )?;
                let at = clock::now_ms();
                procedure.note(
                    at,
                    format!("restart: kubectl rollout restart {deployment} (runbook step 3)"),
                );
                // Read in this call, which reports no recovery: the pods of the restarted
                // template are then recognised from the cache alone.
                let restarted = get_json("Deployment", &saved.namespace, &saved.deployment)?;
                procedure.expected = Some(Template::of(&restarted));
                procedure.step = Step::Restarted;
                procedure.step_at_ms = at;
                Verdict::Recovering(format!(
                    "{deployment} restarted; waiting up to {} for it to come back",
                    seconds(phase.params.restart_wait)
                ))
            }
            step @ (Step::Restarted | Step::Undone) => {
                diagnose(&mut procedure, &saved.namespace, &live);
                // After the diagnosis, so that the log stays in time order.
                let now = clock::now_ms();
                let by = if step == Step::Restarted {
                    "restart"
                } else {
                    "undo"
                };
                // Pods first, from the cache: every one Ready and made from the template
                // this step rolls out, so the recovery is dated at the change that made
                // it so. A rolling update may have scaled the broken pods away before its
                // next ReplicaSet made any, so Ready counts alone do not say it. If the
                // pods do not show the template as it was read (a webhook rewrote an
                // image), the Deployment's rollout status decides.
                let pending = if ready >= baseline && ready == live.len() {
                    let made = procedure.expected.as_ref().is_some_and(|template| {
                        live.iter().all(|pod| {
                            pod_object(&saved.namespace, &pod.name)
                                .is_some_and(|p| template.made(&p))
                        })
                    });
                    if made { None } else { rollout_pending(&saved)? }
                } else {
                    Some(format!(
                        "{ready}/{baseline} pods Ready after the {by}, {} not Ready",
                        live.len() - ready
                    ))
                };
                if pending.is_none() {
                    procedure.note(
                        now,
                        format!(
                            "recovered by {by}: {ready}/{baseline} pods Ready, none left that is not (runbook step 5)"
                        ),
                    );
                    procedure.step = Step::Recovered;
                    Verdict::Recovered
                } else if step == Step::Restarted
                    && now.saturating_sub(procedure.step_at_ms) >= phase.params.restart_wait
                {
                    procedure.note(
                        now,
                        format!(
                            "the restart did not bring it back within {}: {}",
                            seconds(phase.params.restart_wait),
                            pending.as_deref().unwrap_or_default()
                        ),
                    );
                    let (restored, patched) = put_back(&saved)?;
                    procedure.expected = Some(Template::of(&patched));
                    let at = clock::now_ms();
                    procedure.note(
                        at,
                        format!(
                            "undo: kubectl rollout undo {deployment} (runbook step 4): {restored}"
                        ),
                    );
                    procedure.step = Step::Undone;
                    procedure.step_at_ms = at;
                    Verdict::Recovering(format!(
                        "{deployment} rolled back to its images before the fault"
                    ))
                } else {
                    Verdict::Recovering(pending.unwrap_or_default())
                }
            }
        };
        state::set_json(PROCEDURE, &procedure)?;
        Ok(verdict)
    }

    fn findings(phase: &Phase<Params>) -> Result<Findings, Error> {
        let (Some(saved), Some(procedure)) = (
            state::get_json::<Saved>(SAVED),
            state::get_json::<Procedure>(PROCEDURE),
        ) else {
            return Ok(Findings::none());
        };
        evidence::text("procedure.txt", &procedure.report(&saved))?;
        let name = &saved.deployment;
        let restart = procedure.after_fault("restart:");
        let undo = procedure.after_fault("undo:");
        let recovered = procedure.after_fault("recovered by");
        let finding = match (procedure.step, restart, undo, recovered) {
            (Step::Recovered, Some(restart), None, Some(recovered)) => format!(
                "Service recovery of {name}: `kubectl rollout restart` (runbook step 3, {} after the fault) brought it back {} later, {} after the fault; no rollback was needed.",
                seconds(restart),
                seconds(recovered.saturating_sub(restart)),
                seconds(recovered)
            ),
            (Step::Recovered, Some(restart), Some(undo), Some(recovered)) => format!(
                "Service recovery of {name}: `kubectl rollout restart` (runbook step 3, {} after the fault) did not bring it back within {}; `kubectl rollout undo` (step 4, {} after the fault) did, {} later, {} after the fault. After a restart, a plain `kubectl rollout undo` returns to the revision the restart replaced, which still has the fault: write step 4 with `--to-revision`.",
                seconds(restart),
                seconds(phase.params.restart_wait),
                seconds(undo),
                seconds(recovered.saturating_sub(undo)),
                seconds(recovered)
            ),
            (step, ..) => format!(
                "Service recovery of {name} did not complete: it stopped at {} (see procedure.txt); rollback puts the images and strategy from before the drill back.",
                match step {
                    Step::AwaitFailure => "waiting for the fault to show",
                    Step::Restarted => "the wait after `kubectl rollout restart`",
                    Step::Undone | Step::Recovered => "the wait after `kubectl rollout undo`",
                }
            ),
        };
        Ok(Findings::none().follow_up(finding))
    }

    fn rollback(_phase: &Phase<Params>) -> Result<(), Error> {
        let Some(saved) = state::get_json::<Saved>(SAVED) else {
            // Inject failed before it changed anything.
            return Ok(());
        };
        match put_back(&saved) {
            Ok((restored, _)) => {
                log::info(&format!(
                    "deployment/{} in namespace {}: {restored}",
                    saved.deployment, saved.namespace
                ));
                Ok(())
            }
            Err(Error::NotFound(why)) => {
                // Nothing left to put back: someone deleted the Deployment.
                log::warn(&format!(
                    "deployment/{} in namespace {} is gone, nothing to roll back: {why}",
                    saved.deployment, saved.namespace
                ));
                Ok(())
            }
            Err(err) => Err(err),
        }
    }
}

export_scenario!(ServiceRecovery);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_written_without_trailing_zeros() {
        assert_eq!(seconds(30_000), "30 s");
        assert_eq!(seconds(1_500), "1.5 s");
        assert_eq!(seconds(6_321), "6.321 s");
    }
}
