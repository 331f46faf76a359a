//! The sandbox driven through the `kube` client: the seed platform, selectors, watches,
//! deletion, eviction, errors, the service proxy and ground truth.

use crate::common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use common::{TestSandbox, wait_for};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::Status;

const NS: &str = "butterfly";

fn is_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn api_error(error: kube::Error) -> Result<Box<Status>> {
    match error {
        kube::Error::Api(status) => Ok(status),
        other => bail!("expected an api error, got {other}"),
    }
}

async fn ready_pods(pods: &Api<Pod>, selector: &str) -> Result<Vec<Pod>> {
    let list = pods.list(&ListParams::default().labels(selector)).await?;
    Ok(list.items.into_iter().filter(is_ready).collect())
}

async fn zones_by_node(client: &kube::Client) -> Result<HashMap<String, String>> {
    let nodes: Api<Node> = Api::all(client.clone());
    Ok(nodes
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .map(|n| {
            let zone = n
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("topology.kubernetes.io/zone").cloned())
                .unwrap_or_default();
            (n.metadata.name.unwrap_or_default(), zone)
        })
        .collect())
}

#[tokio::test]
async fn the_seed_platform_starts_ready_and_spread_over_three_zones() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let client = sandbox.client()?;
    let zones = zones_by_node(&client).await?;
    assert_eq!(zones.len(), 9);
    assert_eq!(zones.values().collect::<BTreeSet<_>>().len(), 3);
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let all = pods.list(&ListParams::default()).await?.items;
    assert_eq!(all.len(), 6 * 3 + 3 + 3 + 3 + 2 + 2 + 3);
    assert!(all.iter().all(is_ready), "every seed pod starts Ready");
    for service in [
        "perception",
        "capsule",
        "odyssey",
        "plato",
        "nexus",
        "synapse",
    ] {
        let replicas = ready_pods(&pods, &format!("app.kubernetes.io/name={service}")).await?;
        let used: BTreeSet<String> = replicas
            .iter()
            .filter_map(|p| p.spec.as_ref()?.node_name.clone())
            .map(|n| zones.get(&n).cloned().unwrap_or_default())
            .collect();
        assert_eq!(used.len(), 3, "{service} runs one replica per zone");
        let name = replicas[0].metadata.name.clone().unwrap_or_default();
        assert!(name.starts_with(&format!("{service}-")), "{name}");
        assert_eq!(
            name.split('-').count(),
            3,
            "deployment pod names look like {name}"
        );
    }
    let cassandra = ready_pods(&pods, "app=cassandra").await?;
    let mut names: Vec<String> = cassandra
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, vec!["cassandra-0", "cassandra-1", "cassandra-2"]);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let perception = deployments.get("perception").await?;
    assert_eq!(perception.status.and_then(|s| s.ready_replicas), Some(3));
    let budgets: Api<PodDisruptionBudget> = Api::namespaced(client, NS);
    let budget = budgets.get("perception").await?;
    assert_eq!(budget.status.map(|s| s.disruptions_allowed), Some(1));
    sandbox.stop().await
}

#[tokio::test]
async fn label_and_field_selectors_narrow_lists() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let pods: Api<Pod> = Api::namespaced(sandbox.client()?, NS);
    let count = |list: Vec<Pod>| list.len();
    assert_eq!(
        count(
            pods.list(&ListParams::default().labels("app in (kafka,redis)"))
                .await?
                .items
        ),
        6
    );
    assert_eq!(
        count(
            pods.list(&ListParams::default().labels("app=postgresql"))
                .await?
                .items
        ),
        2
    );
    assert_eq!(
        count(
            pods.list(
                &ListParams::default()
                    .labels("app,app notin (kafka,redis,cassandra,janusgraph,ignite)")
            )
            .await?
            .items
        ),
        2
    );
    assert_eq!(
        count(
            pods.list(&ListParams::default().labels("!app"))
                .await?
                .items
        ),
        18
    );
    let one = pods
        .list(&ListParams::default().labels("app=cassandra"))
        .await?
        .items;
    let node = one[0]
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .context("scheduled")?;
    let on_node = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await?
        .items;
    assert!(!on_node.is_empty());
    assert!(
        on_node
            .iter()
            .all(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node.as_str()))
    );
    assert_eq!(
        count(
            pods.list(&ListParams::default().fields("status.phase=Running"))
                .await?
                .items
        ),
        34
    );
    assert_eq!(
        count(
            pods.list(&ListParams::default().fields("status.phase=Pending"))
                .await?
                .items
        ),
        0
    );
    let by_name = pods
        .list(&ListParams::default().fields("metadata.name=kafka-1"))
        .await?
        .items;
    assert_eq!(by_name.len(), 1);
    let error = pods
        .list(&ListParams::default().labels("app in kafka"))
        .await
        .err()
        .context("bad selector")?;
    assert_eq!(api_error(error)?.code, 400);
    sandbox.stop().await
}

#[tokio::test]
async fn a_watch_sees_a_force_deleted_pod_replaced() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let pods: Api<Pod> = Api::namespaced(sandbox.client()?, NS);
    let selector = "app.kubernetes.io/name=perception";
    let list = pods.list(&ListParams::default().labels(selector)).await?;
    let version = list
        .metadata
        .resource_version
        .clone()
        .context("list has a version")?;
    let victim = list.items[0].metadata.name.clone().context("named")?;
    let mut stream = pods
        .watch(
            &WatchParams::default().labels(selector).timeout(60),
            &version,
        )
        .await?
        .boxed();
    pods.delete(&victim, &DeleteParams::default().grace_period(0))
        .await?;
    let mut deleted = false;
    let mut replacement: Option<String> = None;
    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(event) = stream.try_next().await? {
            match event {
                WatchEvent::Deleted(pod)
                    if pod.metadata.name.as_deref() == Some(victim.as_str()) =>
                {
                    deleted = true
                }
                WatchEvent::Added(pod) => replacement = pod.metadata.name.clone(),
                WatchEvent::Modified(pod) if is_ready(&pod) && pod.metadata.name == replacement => {
                    return Ok::<_, anyhow::Error>(pod);
                }
                WatchEvent::Error(e) => bail!("watch error {e:?}"),
                _ => {}
            }
        }
        bail!("watch ended early")
    })
    .await
    .context("replacement became ready in time")??;
    assert!(deleted, "the watch reported the forced deletion");
    let name = outcome.metadata.name.clone().context("named")?;
    assert_ne!(name, victim);
    assert!(name.starts_with("perception-"));
    let truth = sandbox.handle.ground_truth();
    let record = truth
        .pods_ready
        .iter()
        .find(|p| p.pod == name)
        .context("ground truth has the replacement")?;
    assert_eq!(record.workload, "perception");
    assert_eq!(record.workload_kind, "Deployment");
    assert!(record.ready_at >= record.created_at);
    let lost = truth
        .pods_lost
        .iter()
        .find(|p| p.pod == victim)
        .context("ground truth has the deleted pod")?;
    assert_eq!(lost.reason, "Deleted");
    assert!(
        record.ready_at >= lost.lost_at,
        "recovery comes after the loss"
    );
    sandbox.stop().await
}

#[tokio::test]
async fn graceful_deletion_marks_the_pod_terminating_before_removing_it() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let pods: Api<Pod> = Api::namespaced(sandbox.client()?, NS);
    let deleted = pods.delete("redis-1", &DeleteParams::default()).await?;
    let pod = deleted
        .left()
        .context("graceful deletion returns the pod")?;
    assert!(pod.metadata.deletion_timestamp.is_some());
    assert!(!is_ready(&pod));
    let old_uid = pod.metadata.uid.clone();
    let back = wait_for(
        "redis-1 to come back as a new pod",
        Duration::from_secs(20),
        || async {
            Ok(pods
                .get_opt("redis-1")
                .await?
                .filter(|p| p.metadata.uid != old_uid && is_ready(p)))
        },
    )
    .await?;
    assert!(back.metadata.deletion_timestamp.is_none());
    sandbox.stop().await
}

#[tokio::test]
async fn watches_resume_from_a_version_and_answer_gone_when_it_is_too_old() -> Result<()> {
    let sandbox = TestSandbox::with_config(firedrill_sandbox::SandboxConfig {
        timing: common::fast_timing(),
        history_capacity: 50,
        ..Default::default()
    })
    .await?;
    let pods: Api<Pod> = Api::namespaced(sandbox.client()?, NS);
    let mut stream = pods
        .watch(&WatchParams::default().timeout(10), "1")
        .await?
        .boxed();
    match stream.try_next().await? {
        Some(WatchEvent::Error(status)) => assert_eq!(status.code, 410),
        other => bail!("expected 410 Gone, got {other:?}"),
    }
    let version = pods
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .context("version")?;
    pods.delete("kafka-0", &DeleteParams::default().grace_period(0))
        .await?;
    let mut resumed = pods
        .watch(&WatchParams::default().timeout(10), &version)
        .await?
        .boxed();
    let first = tokio::time::timeout(Duration::from_secs(10), resumed.try_next()).await??;
    match first {
        Some(WatchEvent::Deleted(pod)) => assert_eq!(pod.metadata.name.as_deref(), Some("kafka-0")),
        other => bail!("expected the deletion first, got {other:?}"),
    }
    sandbox.stop().await
}

#[tokio::test]
async fn eviction_answers_429_while_the_budget_is_spent() -> Result<()> {
    let mut timing = common::fast_timing();
    timing.start_delay = Duration::from_secs(3);
    timing.jitter = 0.0;
    let sandbox = TestSandbox::with_config(firedrill_sandbox::SandboxConfig {
        timing,
        ..Default::default()
    })
    .await?;
    let pods: Api<Pod> = Api::namespaced(sandbox.client()?, NS);
    let replicas = ready_pods(&pods, "app.kubernetes.io/name=capsule").await?;
    let names: Vec<String> = replicas
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    pods.evict(&names[0], &Default::default()).await?;
    let refused = pods
        .evict(&names[1], &Default::default())
        .await
        .err()
        .context("second eviction refused")?;
    let status = api_error(refused)?;
    assert_eq!(status.code, 429);
    assert!(
        status.message.contains("disruption budget"),
        "{}",
        status.message
    );
    wait_for(
        "a capsule replacement to be ready",
        Duration::from_secs(30),
        || async {
            Ok((ready_pods(&pods, "app.kubernetes.io/name=capsule")
                .await?
                .len()
                == 3)
                .then_some(()))
        },
    )
    .await?;
    pods.evict(&names[1], &Default::default()).await?;
    sandbox.stop().await
}

#[tokio::test]
async fn errors_are_kubernetes_status_objects() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let client = sandbox.client()?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let missing = api_error(pods.get("nope").await.err().context("missing pod")?)?;
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    assert_eq!(missing.message, "pods \"nope\" not found");
    let existing = pods.get("kafka-0").await?;
    let mut copy = existing.clone();
    copy.metadata.resource_version = None;
    copy.metadata.uid = None;
    let duplicate = api_error(
        pods.create(&PostParams::default(), &copy)
            .await
            .err()
            .context("duplicate")?,
    )?;
    assert_eq!(
        (duplicate.code, duplicate.reason.as_str()),
        (409, "AlreadyExists")
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let mut stale = deployments.get("plato").await?;
    deployments
        .patch(
            "plato",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"labels": {"tier": "web"}}})),
        )
        .await?;
    stale.metadata.labels = None;
    let conflict = api_error(
        deployments
            .replace("plato", &PostParams::default(), &stale)
            .await
            .err()
            .context("stale")?,
    )?;
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    let apply = deployments
        .patch(
            "plato",
            &PatchParams::apply("test"),
            &Patch::Apply(serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment"})),
        )
        .await
        .err()
        .context("server-side apply is unsupported")?;
    assert_eq!(api_error(apply)?.code, 415);
    let mut bad = Pod::default();
    bad.metadata.name = Some("Not_Valid".into());
    let invalid = api_error(
        pods.create(&PostParams::default(), &bad)
            .await
            .err()
            .context("invalid name")?,
    )?;
    assert_eq!((invalid.code, invalid.reason.as_str()), (422, "Invalid"));
    let other_ns: Api<Pod> = Api::namespaced(client.clone(), "nowhere");
    let mut pod = Pod::default();
    pod.metadata.name = Some("p".into());
    let no_namespace = api_error(
        other_ns
            .create(&PostParams::default(), &pod)
            .await
            .err()
            .context("no namespace")?,
    )?;
    assert_eq!(no_namespace.code, 404);
    let unknown = client
        .request_text(http::Request::get("/apis/batch/v1/jobs").body(Vec::new())?)
        .await
        .err()
        .context("unknown resource")?;
    assert_eq!(api_error(unknown)?.code, 404);
    let wrong_method = client
        .request_text(http::Request::post("/version").body(Vec::new())?)
        .await
        .err()
        .context("post to version")?;
    assert_eq!(api_error(wrong_method)?.code, 405);
    sandbox.stop().await
}

#[tokio::test]
async fn cordoned_nodes_get_no_replacement_pods() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let client = sandbox.client()?;
    let zones = zones_by_node(&client).await?;
    let nodes: Api<Node> = Api::all(client.clone());
    for (node, _) in zones.iter().filter(|(_, z)| *z == "zone-a") {
        nodes.cordon(node).await?;
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let selector = "app.kubernetes.io/name=nexus";
    let before = ready_pods(&pods, selector).await?;
    for pod in &before {
        pods.delete(
            pod.metadata.name.as_deref().unwrap_or_default(),
            &DeleteParams::default().grace_period(0),
        )
        .await?;
    }
    let replaced = wait_for(
        "three new nexus pods ready",
        Duration::from_secs(20),
        || async {
            let ready = ready_pods(&pods, selector).await?;
            Ok((ready.len() == 3).then_some(ready))
        },
    )
    .await?;
    for pod in replaced {
        let node = pod.spec.and_then(|s| s.node_name).unwrap_or_default();
        assert_ne!(
            zones.get(&node).map(String::as_str),
            Some("zone-a"),
            "{node} is cordoned"
        );
    }
    sandbox.stop().await
}

#[tokio::test]
async fn the_service_proxy_answers_while_the_service_has_ready_endpoints() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let client = sandbox.client()?;
    let path = "/api/v1/namespaces/butterfly/services/odyssey:8080/proxy/healthz";
    let body = client
        .request_text(http::Request::get(path).body(Vec::new())?)
        .await?;
    assert!(body.contains("odyssey"), "{body}");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    deployments
        .patch_scale(
            "odyssey",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 0}})),
        )
        .await?;
    let unavailable = wait_for(
        "odyssey to have no endpoints",
        Duration::from_secs(20),
        || async {
            match client
                .request_text(http::Request::get(path).body(Vec::new())?)
                .await
            {
                Err(kube::Error::Api(status)) if status.code == 503 => Ok(Some(status)),
                _ => Ok(None),
            }
        },
    )
    .await?;
    assert!(
        unavailable.message.contains("no endpoints available"),
        "{}",
        unavailable.message
    );
    deployments
        .patch_scale(
            "odyssey",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 2}})),
        )
        .await?;
    wait_for(
        "odyssey to answer again",
        Duration::from_secs(20),
        || async {
            Ok(client
                .request_text(http::Request::get(path).body(Vec::new())?)
                .await
                .ok())
        },
    )
    .await?;
    let missing = client
        .request_text(
            http::Request::get("/api/v1/namespaces/butterfly/services/nope/proxy/")
                .body(Vec::new())?,
        )
        .await
        .err()
        .context("unknown service")?;
    assert_eq!(api_error(missing)?.code, 404);
    sandbox.stop().await
}

#[tokio::test]
async fn ground_truth_is_served_as_json() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let client = sandbox.client()?;
    let text = client
        .request_text(http::Request::get("/sandbox/v1/ground-truth").body(Vec::new())?)
        .await?;
    let truth: serde_json::Value = serde_json::from_str(&text)?;
    let ready = truth["podsReady"].as_array().context("podsReady")?;
    assert_eq!(ready.len(), 34);
    assert!(ready.iter().any(|p| p["workload"] == "cassandra"
        && p["zone"].as_str().is_some_and(|z| z.starts_with("zone-"))));
    sandbox.stop().await
}

#[tokio::test]
async fn leases_support_optimistic_concurrency() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let leases: Api<Lease> = Api::namespaced(sandbox.client()?, NS);
    let lease: Lease = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "firedrill-leader"},
        "spec": {"holderIdentity": "replica-a", "leaseDurationSeconds": 15}
    }))?;
    let created = leases.create(&PostParams::default(), &lease).await?;
    let mut mine = created.clone();
    mine.spec
        .get_or_insert_with(Default::default)
        .holder_identity = Some("replica-b".into());
    leases
        .replace("firedrill-leader", &PostParams::default(), &mine)
        .await?;
    let mut theirs = created;
    theirs
        .spec
        .get_or_insert_with(Default::default)
        .holder_identity = Some("replica-c".into());
    let lost = leases
        .replace("firedrill-leader", &PostParams::default(), &theirs)
        .await
        .err()
        .context("stale write")?;
    assert_eq!(api_error(lost)?.code, 409);
    let holder = leases
        .get("firedrill-leader")
        .await?
        .spec
        .and_then(|s| s.holder_identity);
    assert_eq!(holder.as_deref(), Some("replica-b"));
    sandbox.stop().await
}

#[tokio::test]
async fn a_platform_file_replaces_the_seed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("platform.yaml");
    std::fs::write(
        &file,
        "namespace: shop\nzones: [eu-a, eu-b]\nnodesPerZone: 2\ndeployments:\n  - name: web\n    replicas: 4\n    pdb: {minAvailable: 3}\n",
    )?;
    let sandbox = TestSandbox::with_config(firedrill_sandbox::SandboxConfig {
        platform: firedrill_sandbox::Platform::from_file(&file)?,
        timing: common::fast_timing(),
        ..Default::default()
    })
    .await?;
    let client = sandbox.client()?;
    assert_eq!(zones_by_node(&client).await?.len(), 4);
    let pods: Api<Pod> = Api::namespaced(client, "shop");
    assert_eq!(
        ready_pods(&pods, "app.kubernetes.io/name=web").await?.len(),
        4
    );
    sandbox.stop().await
}

#[tokio::test]
async fn a_no_execute_taint_on_a_zone_moves_every_pod_elsewhere() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let client = sandbox.client()?;
    let zones = zones_by_node(&client).await?;
    let nodes: Api<Node> = Api::all(client.clone());
    let failed: Vec<String> = zones
        .iter()
        .filter(|(_, z)| *z == "zone-c")
        .map(|(n, _)| n.clone())
        .collect();
    for node in &failed {
        let taint = serde_json::json!({"spec": {"taints": [{"key": "firedrill.dev/zone-down", "effect": "NoExecute"}]}});
        nodes
            .patch(node, &PatchParams::default(), &Patch::Strategic(taint))
            .await?;
    }
    let pods: Api<Pod> = Api::namespaced(client, NS);
    let moved = wait_for(
        "34 ready pods outside zone-c",
        Duration::from_secs(30),
        || async {
            let all = pods.list(&ListParams::default()).await?.items;
            let ready_elsewhere = all
                .iter()
                .filter(|p| is_ready(p))
                .filter(|p| {
                    let node = p
                        .spec
                        .as_ref()
                        .and_then(|s| s.node_name.clone())
                        .unwrap_or_default();
                    !failed.contains(&node)
                })
                .count();
            Ok((all.len() == 34 && ready_elsewhere == 34).then_some(all))
        },
    )
    .await?;
    assert!(
        moved
            .iter()
            .any(|p| p.metadata.name.as_deref() == Some("cassandra-2"))
    );
    sandbox.stop().await
}

#[tokio::test]
async fn the_runtime_watcher_follows_a_replacement_to_ready() -> Result<()> {
    use kube::runtime::watcher;
    let sandbox = TestSandbox::start().await?;
    let pods: Api<Pod> = Api::namespaced(sandbox.client()?, NS);
    let config = watcher::Config::default().labels("app=kafka");
    let mut events = watcher(pods.clone(), config).boxed();
    // The initial list arrives first.
    let initial = tokio::time::timeout(Duration::from_secs(10), async {
        let mut names = Vec::new();
        while let Some(event) = events.try_next().await? {
            match event {
                watcher::Event::InitApply(pod) => names.push(pod.metadata.name.unwrap_or_default()),
                watcher::Event::InitDone => return Ok::<_, anyhow::Error>(names),
                _ => {}
            }
        }
        bail!("watcher ended")
    })
    .await??;
    assert_eq!(initial.len(), 3);
    let old_uid = pods.get("kafka-2").await?.metadata.uid;
    pods.delete("kafka-2", &DeleteParams::default().grace_period(0))
        .await?;
    let replacement = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(event) = events.try_next().await? {
            if let watcher::Event::Apply(pod) = event
                && pod.metadata.name.as_deref() == Some("kafka-2")
                && pod.metadata.uid != old_uid
                && is_ready(&pod)
            {
                return Ok::<_, anyhow::Error>(pod);
            }
        }
        bail!("watcher ended")
    })
    .await??;
    let truth = sandbox.handle.ground_truth();
    let uid = replacement.metadata.uid.unwrap_or_default();
    assert!(
        truth.pods_ready.iter().any(|p| p.uid == uid),
        "ground truth records the new kafka-2"
    );
    sandbox.stop().await
}

#[tokio::test]
async fn a_streaming_list_watch_ends_its_initial_events_with_a_bookmark() -> Result<()> {
    use kube::runtime::watcher;
    let sandbox = TestSandbox::start().await?;
    let pods: Api<Pod> = Api::namespaced(sandbox.client()?, NS);
    let config = watcher::Config::default()
        .labels("app=redis")
        .streaming_lists();
    let mut events = watcher(pods, config).boxed();
    let initial = tokio::time::timeout(Duration::from_secs(10), async {
        let mut names = Vec::new();
        while let Some(event) = events.try_next().await? {
            match event {
                watcher::Event::InitApply(pod) => names.push(pod.metadata.name.unwrap_or_default()),
                watcher::Event::InitDone => return Ok::<_, anyhow::Error>(names),
                _ => {}
            }
        }
        bail!("watcher ended")
    })
    .await??;
    assert_eq!(initial.len(), 3);
    sandbox.stop().await
}

#[tokio::test]
async fn a_rollout_restart_never_drops_below_the_available_minimum() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let client = sandbox.client()?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let pods: Api<Pod> = Api::namespaced(client, NS);
    let selector = "app.kubernetes.io/name=synapse";
    let before: BTreeSet<String> = ready_pods(&pods, selector)
        .await?
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    // What `kubectl rollout restart` sends.
    let restart = serde_json::json!({"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2026-11-21T12:00:00Z"
    }}}}});
    deployments
        .patch(
            "synapse",
            &PatchParams::default(),
            &Patch::Strategic(restart),
        )
        .await?;
    let fewest_ready = std::cell::Cell::new(usize::MAX);
    let most_pods = std::cell::Cell::new(0usize);
    wait_for(
        "every synapse pod replaced",
        Duration::from_secs(30),
        || {
            let pods = pods.clone();
            let before = before.clone();
            let (fewest, most) = (&fewest_ready, &most_pods);
            async move {
                let all = pods
                    .list(&ListParams::default().labels(selector))
                    .await?
                    .items;
                let ready: Vec<&Pod> = all.iter().filter(|p| is_ready(p)).collect();
                fewest.set(fewest.get().min(ready.len()));
                let live = all
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .count();
                most.set(most.get().max(live));
                let replaced = ready.len() == 3
                    && all.len() == 3
                    && ready
                        .iter()
                        .all(|p| !before.contains(p.metadata.name.as_deref().unwrap_or_default()));
                Ok(replaced.then_some(()))
            }
        },
    )
    .await?;
    // maxUnavailable 25% of 3 rounds down to 0, maxSurge 25% rounds up to 1.
    let (fewest_ready, most_pods) = (fewest_ready.get(), most_pods.get());
    assert!(fewest_ready >= 3, "ready pods dropped to {fewest_ready}");
    assert!(most_pods <= 4, "surged to {most_pods} pods");
    sandbox.stop().await
}

/// The Python `kubernetes` client asks `?watch=True` (the API server reads booleans with
/// Go's ParseBool): the answer is a stream of watch events, not a list.
#[tokio::test]
async fn a_watch_asked_for_with_watch_capital_true_streams_events() -> Result<()> {
    use futures::AsyncBufReadExt;
    let sandbox = TestSandbox::start().await?;
    let client = sandbox.client()?;
    let request = http::Request::get(format!(
        "/api/v1/namespaces/{NS}/pods?watch=True&timeoutSeconds=2&labelSelector=app%3Dredis"
    ))
    .body(Vec::new())?;
    let stream = client.request_stream(request).await?;
    let mut lines = stream.lines();
    let first = tokio::time::timeout(Duration::from_secs(10), lines.next())
        .await?
        .context("the watch ended without an event")??;
    let event: serde_json::Value = serde_json::from_str(&first)?;
    assert_eq!(event["type"], "ADDED", "{first}");
    assert_eq!(event["object"]["kind"], "Pod", "{first}");
    sandbox.stop().await
}

/// `limit` cuts a list and `continue` resumes it; the last page has no token.
#[tokio::test]
async fn a_list_with_a_limit_comes_in_pages_that_add_up_to_the_whole() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let pods: Api<Pod> = Api::all(sandbox.client()?);
    let whole = pods.list(&ListParams::default()).await?;
    assert!(whole.metadata.continue_.is_none());
    let mut names = Vec::new();
    let mut params = ListParams::default().limit(5);
    for _ in 0..100 {
        let page = pods.list(&params).await?;
        assert!(page.items.len() <= 5);
        names.extend(page.items.into_iter().filter_map(|p| p.metadata.name));
        match page.metadata.continue_.filter(|token| !token.is_empty()) {
            Some(token) => {
                assert!(page.metadata.remaining_item_count.unwrap_or(0) > 0);
                params = params.continue_token(&token);
            }
            None => break,
        }
    }
    let mut expected: Vec<String> = whole
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    expected.sort();
    names.sort();
    assert_eq!(names, expected);
    let bad = pods
        .list(&ListParams::default().limit(5).continue_token("garbage"))
        .await
        .expect_err("a made-up token is refused");
    assert_eq!(api_error(bad)?.code, 400);
    sandbox.stop().await
}

/// Clients that percent-encode the `service:port` segment (the Python client sends
/// `odyssey%3A8080`; kubectl sends `odyssey:8080`) reach the same service: the API server
/// decodes path segments.
#[tokio::test]
async fn the_service_proxy_decodes_a_percent_encoded_service_and_port() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let client = sandbox.client()?;
    for path in [
        "/api/v1/namespaces/butterfly/services/odyssey:8080/proxy/healthz",
        "/api/v1/namespaces/butterfly/services/odyssey%3A8080/proxy/healthz",
    ] {
        let body = client
            .request_text(http::Request::get(path).body(Vec::new())?)
            .await?;
        assert!(body.contains("odyssey"), "{path}: {body}");
    }
    sandbox.stop().await
}
