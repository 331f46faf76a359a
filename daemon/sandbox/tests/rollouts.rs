//! Rollouts as the real controllers and kubelet make them: an image that cannot be pulled
//! (`ErrImagePull`, `ImagePullBackOff`, never Ready) and `kubectl rollout undo`, the
//! `Recreate` strategy (every old pod gone before a new one), and a StatefulSet's rolling
//! restart (highest ordinal first, `currentRevision`/`updateRevision`, `kubectl rollout
//! status`).

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Result;
use common::{TestSandbox, wait_for};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};

const NS: &str = "butterfly";
const BROKEN: &str = "firedrill.invalid/never-ready:0";

fn is_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn image(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.as_deref())
        .unwrap_or_default()
}

fn waiting_reason(pod: &Pod) -> Option<&str> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?
        .waiting
        .as_ref()?
        .reason
        .as_deref()
}

/// The kubelet's events about `pod`, oldest first.
async fn events_about(events: &Api<Event>, pod: &str) -> Result<Vec<String>> {
    let mut found: Vec<(u64, String)> = events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(pod))
        .map(|e| {
            let version = e
                .metadata
                .resource_version
                .as_deref()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let text = format!(
                "{}: {}",
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default()
            );
            (version, text)
        })
        .collect();
    found.sort();
    Ok(found.into_iter().map(|(_, text)| text).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_from_an_invalid_registry_never_pulls_and_rollout_undo_brings_the_old_one_back()
-> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let client = sandbox.client()?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let events: Api<Event> = Api::namespaced(client.clone(), NS);
    let deployments: Api<Deployment> = Api::namespaced(client, NS);
    let selector = "app.kubernetes.io/name=plato";
    let good = image(
        &pods
            .list(&ListParams::default().labels(selector))
            .await?
            .items[0],
    )
    .to_owned();
    tokio::task::block_in_place(|| {
        sandbox.kubectl_ok(&["set", "image", "deploy/plato", &format!("plato={BROKEN}")])
    })?;
    // The new pod is scheduled and stays Pending, its container waiting on the pull.
    let broken = wait_for(
        "a pod failing its pull",
        Duration::from_secs(20),
        || async {
            let list = pods.list(&ListParams::default().labels(selector)).await?;
            Ok(list
                .items
                .into_iter()
                .find(|p| image(p) == BROKEN && waiting_reason(p).is_some()))
        },
    )
    .await?;
    let name = broken.metadata.name.clone().unwrap_or_default();
    assert_eq!(
        broken.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Pending")
    );
    assert!(!is_ready(&broken));
    assert!(
        matches!(
            waiting_reason(&broken),
            Some("ErrImagePull" | "ImagePullBackOff")
        ),
        "{broken:?}"
    );
    let table = tokio::task::block_in_place(|| sandbox.kubectl_ok(&["get", "pod", &name]))?;
    assert!(
        table.contains("ErrImagePull") || table.contains("ImagePullBackOff"),
        "kubectl shows the waiting reason as the status:\n{table}"
    );
    // After a sync the kubelet backs off (10 s before it tries again).
    let backing_off = wait_for("ImagePullBackOff", Duration::from_secs(10), || async {
        let pod = pods.get(&name).await?;
        Ok((waiting_reason(&pod) == Some("ImagePullBackOff")).then_some(pod))
    })
    .await?;
    assert!(!is_ready(&backing_off));
    let seen = events_about(&events, &name).await?;
    let expected = [
        format!("Pulling: Pulling image \"{BROKEN}\""),
        format!(
            "Failed: Failed to pull image \"{BROKEN}\": failed to pull and unpack image \"{BROKEN}\""
        ),
        "Failed: Error: ErrImagePull".to_owned(),
        format!("BackOff: Back-off pulling image \"{BROKEN}\""),
        "Failed: Error: ImagePullBackOff".to_owned(),
    ];
    let mut rest = seen.iter();
    for want in &expected {
        assert!(
            rest.any(|got| got.starts_with(want.as_str())),
            "event {want:?} in order among {seen:#?}"
        );
    }
    // The rolling update keeps every old pod (maxUnavailable 25% of 3 is 0): the rollout
    // never completes.
    let ready = pods
        .list(&ListParams::default().labels(selector))
        .await?
        .items
        .into_iter()
        .filter(|p| is_ready(p) && image(p) == good)
        .count();
    assert_eq!(ready, 3);
    let status = tokio::task::block_in_place(|| {
        sandbox.kubectl(&["rollout", "status", "deploy/plato", "--timeout=2s"])
    })?;
    assert!(!status.success, "{}", status.stdout);
    // `kubectl rollout undo` copies the previous revision's template back: the old
    // replicaset takes over again as the newest revision.
    tokio::task::block_in_place(|| sandbox.kubectl_ok(&["rollout", "undo", "deploy/plato"]))?;
    tokio::task::block_in_place(|| {
        sandbox.kubectl_ok(&["rollout", "status", "deploy/plato", "--timeout=60s"])
    })?;
    let deployment = deployments.get("plato").await?;
    let template_image = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone());
    assert_eq!(template_image.as_deref(), Some(good.as_str()));
    assert_eq!(
        deployment
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("deployment.kubernetes.io/revision"))
            .map(String::as_str),
        Some("3")
    );
    wait_for("the broken pod gone", Duration::from_secs(20), || async {
        let list = pods.list(&ListParams::default().labels(selector)).await?;
        Ok(list.items.iter().all(|p| image(p) == good).then_some(()))
    })
    .await?;
    sandbox.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recreate_rollout_starts_no_new_pod_until_every_old_one_is_gone() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let client = sandbox.client()?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let deployments: Api<Deployment> = Api::namespaced(client, NS);
    let selector = "app.kubernetes.io/name=nexus";
    let old: BTreeSet<String> = pods
        .list(&ListParams::default().labels(selector))
        .await?
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    let patch = serde_json::json!({"spec": {
        "strategy": {"type": "Recreate", "rollingUpdate": null},
        "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-12-07T06:00:00Z"}}},
    }});
    deployments
        .patch("nexus", &PatchParams::default(), &Patch::Merge(patch))
        .await?;
    let overlap = std::cell::RefCell::new(None);
    wait_for(
        "three new nexus pods Ready",
        Duration::from_secs(30),
        || {
            let (pods, old, overlap) = (pods.clone(), old.clone(), &overlap);
            async move {
                let list = pods
                    .list(&ListParams::default().labels(selector))
                    .await?
                    .items;
                let names = |new: bool| -> Vec<String> {
                    list.iter()
                        .filter_map(|p| p.metadata.name.clone())
                        .filter(|n| old.contains(n) != new)
                        .collect()
                };
                let (olds, news) = (names(false), names(true));
                if !olds.is_empty() && !news.is_empty() {
                    *overlap.borrow_mut() = Some((olds, news));
                }
                let ready = list
                    .iter()
                    .filter(|p| {
                        is_ready(p) && !old.contains(p.metadata.name.as_deref().unwrap_or(""))
                    })
                    .count();
                Ok((ready == 3 && list.len() == 3).then_some(()))
            }
        },
    )
    .await?;
    assert_eq!(
        overlap.into_inner(),
        None,
        "old (terminating included) and new pods side by side"
    );
    sandbox.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_rollout_status_waits_for_a_statefulset_restarted_from_its_highest_ordinal()
-> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let client = sandbox.client()?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let events: Api<Event> = Api::namespaced(client.clone(), NS);
    let sets: Api<StatefulSet> = Api::namespaced(client, NS);
    let uids = || async {
        let list = pods
            .list(&ListParams::default().labels("app=cassandra"))
            .await?;
        Ok::<_, anyhow::Error>(
            list.items
                .into_iter()
                .map(|p| p.metadata.uid.unwrap_or_default())
                .collect::<BTreeSet<String>>(),
        )
    };
    let before = uids().await?;
    let revision = |sts: &StatefulSet| {
        let status = sts.status.clone().unwrap_or_default();
        (status.current_revision, status.update_revision)
    };
    let (current, update) = revision(&sets.get("cassandra").await?);
    assert_eq!(current, update, "at rest");
    let since = sets
        .get("cassandra")
        .await?
        .metadata
        .resource_version
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    tokio::task::block_in_place(|| {
        sandbox.kubectl_ok(&["rollout", "restart", "statefulset/cassandra"])
    })?;
    // Once the controller has seen the restart, the update revision is a new one and the
    // current revision stays the old one until every pod runs the new.
    let rolling = wait_for("the restart observed", Duration::from_secs(10), || async {
        let sts = sets.get("cassandra").await?;
        let observed = sts.status.as_ref().and_then(|s| s.observed_generation);
        Ok((observed == sts.metadata.generation).then_some(sts))
    })
    .await?;
    let (current_during, update_during) = revision(&rolling);
    assert_eq!(current_during, current);
    assert_ne!(update_during, update);
    let out = tokio::task::block_in_place(|| {
        sandbox.kubectl_ok(&[
            "rollout",
            "status",
            "statefulset/cassandra",
            "--timeout=60s",
        ])
    })?;
    assert!(out.contains("roll out complete"), "{out}");
    // When kubectl says so, every pod has been replaced and is Ready.
    let after = uids().await?;
    assert_eq!(after.len(), 3);
    assert!(after.is_disjoint(&before), "{before:?} {after:?}");
    let done = sets.get("cassandra").await?;
    let (current_after, update_after) = revision(&done);
    assert_eq!(current_after, update_during);
    assert_eq!(update_after, update_during);
    let status = done.status.unwrap_or_default();
    assert_eq!(status.ready_replicas, Some(3));
    assert_eq!(status.updated_replicas, Some(3));
    assert_eq!(status.current_replicas, Some(3));
    // Replaced from the highest ordinal down, one at a time.
    let mut created: Vec<(u64, String)> = events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("SuccessfulCreate"))
        .filter(|e| e.involved_object.name.as_deref() == Some("cassandra"))
        .filter_map(|e| {
            let version = e
                .metadata
                .resource_version
                .as_deref()?
                .parse::<u64>()
                .ok()?;
            (version > since).then(|| (version, e.message.unwrap_or_default()))
        })
        .collect();
    created.sort();
    let order: Vec<&str> = created
        .iter()
        .filter_map(|(_, m)| m.split_whitespace().nth(2))
        .collect();
    assert_eq!(order, ["cassandra-2", "cassandra-1", "cassandra-0"]);
    sandbox.stop().await
}

/// A template put back as it was (a rollback) is its old ReplicaSet's again, which becomes
/// the newest revision (the real controller renumbers it) instead of a new ReplicaSet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_put_back_makes_its_old_replicaset_the_newest_revision() -> Result<()> {
    use k8s_openapi::api::apps::v1::ReplicaSet;
    let sandbox = TestSandbox::start().await?;
    let client = sandbox.client()?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let sets: Api<ReplicaSet> = Api::namespaced(client, NS);
    let set_image = |image: &str| {
        serde_json::json!({"spec": {"template": {"spec": {"containers": [
            {"name": "capsule", "image": image}
        ]}}}})
    };
    let revision = |annotations: Option<&std::collections::BTreeMap<String, String>>| {
        annotations
            .and_then(|a| a.get("deployment.kubernetes.io/revision"))
            .cloned()
            .unwrap_or_default()
    };
    let original = deployments.get("capsule").await?;
    let image = original
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    for next in [
        "registry.example.com/butterfly/capsule:2.0.0",
        image.as_str(),
    ] {
        deployments
            .patch(
                "capsule",
                &PatchParams::default(),
                &Patch::Strategic(set_image(next)),
            )
            .await?;
        tokio::task::block_in_place(|| {
            sandbox.kubectl_ok(&["rollout", "status", "deploy/capsule", "--timeout=60s"])
        })?;
    }
    let list = sets
        .list(&ListParams::default().labels("app.kubernetes.io/name=capsule"))
        .await?
        .items;
    assert_eq!(list.len(), 2, "the original and the 2.0.0 replicaset");
    let back = list
        .iter()
        .find(|rs| {
            rs.spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .and_then(|t| t.spec.as_ref())
                .and_then(|s| s.containers.first())
                .and_then(|c| c.image.as_deref())
                == Some(image.as_str())
        })
        .ok_or_else(|| anyhow::anyhow!("no replicaset of the original image: {list:?}"))?;
    assert_eq!(revision(back.metadata.annotations.as_ref()), "3");
    let deployment = deployments.get("capsule").await?;
    assert_eq!(revision(deployment.metadata.annotations.as_ref()), "3");
    sandbox.stop().await
}
