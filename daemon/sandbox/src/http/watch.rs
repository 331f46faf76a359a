//! Watch streams: newline-delimited JSON watch events from a resourceVersion (or from a
//! synthetic list of ADDED events), filtered by namespace and selectors, ended by
//! `timeoutSeconds`, a lagging consumer (410 Gone) or sandbox shutdown.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, watch};

use crate::object;
use crate::resources::ResourceDef;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Change, ChangeKind, Store};
use crate::table;

/// What a watch request asked for.
#[derive(Debug)]
pub struct WatchRequest {
    /// The kind watched.
    pub resource: &'static ResourceDef,
    /// One namespace, or all.
    pub namespace: Option<String>,
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `resourceVersion`: `None` (or `0`) starts with the current objects as ADDED.
    pub resource_version: Option<u64>,
    /// `timeoutSeconds`.
    pub timeout: Option<Duration>,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// Whether kubectl asked for Table rows.
    pub as_table: bool,
    /// `sendInitialEvents=true` (streaming lists): after the initial ADDED events, a
    /// bookmark annotated `k8s.io/initial-events-end` tells the client the list is done.
    pub send_initial_events: bool,
}

impl WatchRequest {
    fn matches(&self, object: &Value) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|ns| object::namespace(object) == ns)
            && self.labels.matches_object(object)
            && self.fields.matches(object)
    }

    fn line(&self, kind: &str, object: &Value) -> Bytes {
        let object = if self.as_table {
            table::table(
                self.resource,
                std::iter::once(object),
                object::str_at(object, "/metadata/resourceVersion")
                    .parse()
                    .unwrap_or(0),
                "",
            )
        } else {
            object.clone()
        };
        let mut text = json!({"type": kind, "object": object}).to_string();
        text.push('\n');
        Bytes::from(text)
    }
}

fn gone(message: String) -> Bytes {
    let mut text = json!({
        "type": "ERROR",
        "object": {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": "Expired",
            "code": 410,
        },
    })
    .to_string();
    text.push('\n');
    Bytes::from(text)
}

fn key(object: &Value) -> (String, String) {
    (
        object::namespace(object).to_owned(),
        object::name(object).to_owned(),
    )
}

/// Starts a watch and returns its streaming response.
pub fn respond(
    store: &Arc<Store>,
    mut request: WatchRequest,
    shutdown: watch::Receiver<bool>,
) -> Response {
    if request.send_initial_events {
        // A streaming list starts from the current state, whatever version it names.
        request.resource_version = None;
    }
    let (sender, receiver) = mpsc::channel::<Bytes>(256);
    let mut first: Vec<Bytes> = Vec::new();
    let mut known: HashSet<(String, String)> = HashSet::new();
    let current;
    let subscription = {
        let state = store.lock();
        current = state.resource_version();
        for object in state.list(request.resource, request.namespace.as_deref()) {
            if request.matches(object) {
                known.insert(key(object));
                if request.resource_version.is_none() {
                    first.push(request.line("ADDED", object));
                }
            }
        }
        if request.send_initial_events {
            let bookmark = json!({
                "type": "BOOKMARK",
                "object": {
                    "kind": request.resource.kind,
                    "apiVersion": request.resource.api_version(),
                    "metadata": {
                        "resourceVersion": current.to_string(),
                        "annotations": {"k8s.io/initial-events-end": "true"},
                    },
                },
            });
            first.push(Bytes::from(format!("{bookmark}\n")));
        }
        match request.resource_version {
            None => Ok((Vec::new(), state.subscribe())),
            Some(version) => state.watch_from(version),
        }
    };
    match subscription {
        Err(too_old) => {
            let message = format!(
                "too old resource version: {} ({})",
                request.resource_version.unwrap_or(0),
                too_old.oldest
            );
            first.push(gone(message));
            drop(sender);
            return stream_response(first, receiver);
        }
        Ok((backlog, live)) => {
            tokio::spawn(pump(
                request, known, current, backlog, live, sender, shutdown,
            ));
        }
    }
    stream_response(first, receiver)
}

fn stream_response(first: Vec<Bytes>, receiver: mpsc::Receiver<Bytes>) -> Response {
    let head = futures::stream::iter(first.into_iter().map(Ok::<_, Infallible>));
    let tail = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|bytes| (Ok::<_, Infallible>(bytes), receiver))
    });
    let body = Body::from_stream(futures::StreamExt::chain(head, tail));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// What to send for one change, tracking which objects the watcher has seen match so an
/// object leaving the selector is reported DELETED and one entering it ADDED.
fn translate(
    request: &WatchRequest,
    known: &mut HashSet<(String, String)>,
    change: &Change,
) -> Option<Bytes> {
    if change.resource.plural != request.resource.plural {
        return None;
    }
    let matches = request.matches(&change.object);
    let key = key(&change.object);
    let kind = match change.kind {
        ChangeKind::Deleted => {
            let was_known = known.remove(&key);
            if !matches && !was_known {
                return None;
            }
            ChangeKind::Deleted
        }
        ChangeKind::Added | ChangeKind::Modified => {
            if matches {
                if known.insert(key) {
                    ChangeKind::Added
                } else {
                    change.kind
                }
            } else if known.remove(&key) {
                ChangeKind::Deleted
            } else {
                return None;
            }
        }
    };
    Some(request.line(kind.as_str(), &change.object))
}

async fn pump(
    request: WatchRequest,
    mut known: HashSet<(String, String)>,
    current: u64,
    backlog: Vec<Arc<Change>>,
    mut live: broadcast::Receiver<Arc<Change>>,
    sender: mpsc::Sender<Bytes>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut last_version = request.resource_version.unwrap_or(current);
    for change in &backlog {
        last_version = change.resource_version;
        if let Some(line) = translate(&request, &mut known, change)
            && sender.send(line).await.is_err()
        {
            return;
        }
    }
    last_version = last_version.max(current);
    let deadline = tokio::time::sleep(request.timeout.unwrap_or(Duration::from_secs(1800)));
    tokio::pin!(deadline);
    let mut bookmark = tokio::time::interval(Duration::from_secs(5));
    bookmark.tick().await;
    loop {
        tokio::select! {
            received = live.recv() => match received {
                Ok(change) => {
                    if change.resource_version <= last_version {
                        continue;
                    }
                    last_version = change.resource_version;
                    if let Some(line) = translate(&request, &mut known, &change)
                        && sender.send(line).await.is_err()
                    {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // The watcher fell too far behind to be sent every change; like an
                    // API server it is told to start again from a fresh list.
                    let _ = sender
                        .send(gone(format!("too old resource version: {last_version}")))
                        .await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = bookmark.tick(), if request.bookmarks => {
                let line = json!({
                    "type": "BOOKMARK",
                    "object": {
                        "kind": request.resource.kind,
                        "apiVersion": request.resource.api_version(),
                        "metadata": {"resourceVersion": last_version.to_string()},
                    },
                });
                if sender.send(Bytes::from(format!("{line}\n"))).await.is_err() {
                    return;
                }
            }
            () = &mut deadline => return,
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
            () = sender.closed() => return,
        }
    }
}
