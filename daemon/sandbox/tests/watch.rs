//! Watches as the API server answers them: periodic bookmarks, the watch-option rules of
//! streaming lists, `sendInitialEvents=false`, and a 410 Gone that makes kube-runtime's
//! watcher list again.

use crate::common;

use std::time::Duration;

use anyhow::{Context, Result, bail};
use common::TestSandbox;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};

const NS: &str = "butterfly";

#[tokio::test]
async fn a_watch_asking_for_bookmarks_gets_periodic_ones_with_the_current_version() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let pods: Api<Pod> = Api::namespaced(sandbox.client()?, NS);
    let version = pods
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .context("version")?;
    let mut stream = pods
        .watch(
            &WatchParams::default().labels("app=redis").timeout(15),
            &version,
        )
        .await?
        .boxed();
    let bookmark = tokio::time::timeout(Duration::from_secs(12), async {
        while let Some(event) = stream.try_next().await? {
            if let WatchEvent::Bookmark(bookmark) = event {
                return Ok::<_, anyhow::Error>(bookmark);
            }
        }
        bail!("the watch ended without a bookmark")
    })
    .await??;
    assert_eq!(bookmark.types.kind, "Pod");
    let bookmarked: u64 = bookmark.metadata.resource_version.parse()?;
    assert!(bookmarked >= version.parse::<u64>()?);
    sandbox.stop().await
}

#[tokio::test]
async fn a_streaming_list_without_not_older_than_and_bookmarks_is_invalid() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let client = sandbox.client()?;
    for query in [
        "watch=1&sendInitialEvents=true&allowWatchBookmarks=true",
        "watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan",
        "watch=1&resourceVersionMatch=NotOlderThan",
    ] {
        let request =
            http::Request::get(format!("/api/v1/namespaces/{NS}/pods?{query}")).body(Vec::new())?;
        match client.request_text(request).await {
            Err(kube::Error::Api(status)) => {
                assert_eq!(
                    (status.code, status.reason.as_str()),
                    (422, "Invalid"),
                    "{query}"
                );
                assert!(status.message.contains("Forbidden"), "{}", status.message);
            }
            other => bail!("{query}: expected 422 Invalid, got {other:?}"),
        }
    }
    sandbox.stop().await
}

#[tokio::test]
async fn send_initial_events_false_starts_at_the_newest_version_without_added_events() -> Result<()>
{
    let sandbox = TestSandbox::start().await?;
    let client = sandbox.client()?;
    let request = http::Request::get(format!(
        "/api/v1/namespaces/{NS}/pods?watch=1&sendInitialEvents=false&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1"
    ))
    .body(Vec::new())?;
    let body =
        tokio::time::timeout(Duration::from_secs(10), client.request_text(request)).await??;
    assert!(!body.contains("\"ADDED\""), "{body}");
    sandbox.stop().await
}

/// Reads a watcher's events up to its next `InitDone`: whether a 410 Gone came first.
async fn init_done<S>(events: &mut S) -> Result<bool>
where
    S: futures::Stream<
            Item = Result<kube::runtime::watcher::Event<Pod>, kube::runtime::watcher::Error>,
        > + Unpin,
{
    use kube::runtime::watcher;
    let mut gone = false;
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::InitDone) => return Ok(gone),
            Err(watcher::Error::WatchError(status)) if status.code == 410 => {
                assert_eq!(status.reason, "Expired");
                gone = true;
            }
            _ => {}
        }
    }
    bail!("the watcher ended")
}

#[tokio::test]
async fn the_watcher_lists_again_when_its_resource_version_is_gone() -> Result<()> {
    use kube::runtime::watcher;
    let sandbox = TestSandbox::with_config(firedrill_sandbox::SandboxConfig {
        timing: common::fast_timing(),
        history_capacity: 50,
        ..Default::default()
    })
    .await?;
    let client = sandbox.client()?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    // Each watch ends after a second; the watcher then resumes from the version it has.
    let config = watcher::Config::default().labels("app=redis").timeout(1);
    let mut events = watcher(pods, config).boxed();
    let first = tokio::time::timeout(Duration::from_secs(10), init_done(&mut events)).await??;
    assert!(!first, "the first list is not preceded by a 410");
    // More changes than the history keeps, none of them to a watched pod.
    let config_maps: Api<ConfigMap> = Api::namespaced(client, NS);
    for i in 0..80 {
        let map: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("filler-{i}")},
        }))?;
        config_maps.create(&PostParams::default(), &map).await?;
    }
    let relisted = tokio::time::timeout(Duration::from_secs(15), init_done(&mut events)).await??;
    assert!(relisted, "the watcher was told 410 Gone and listed again");
    sandbox.stop().await
}
