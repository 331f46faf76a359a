//! The verbs on a resource: get (its response), list, watch, create, update, patch,
//! delete and deletecollection, with selectors, dry runs and resourceVersion
//! preconditions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::common::{
    ApiError, ApiResult, AppState, dry_run, json_response, parse_body, query_bool, selectors,
};
use super::watch as watches;
use crate::controllers;
use crate::object::{self, int_at, str_at};
use crate::patch::{self, PatchKind};
use crate::resources::{PODS, ResourceDef};
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Object, State, StoreError};
use crate::table;

pub(super) fn object_response(
    resource: &ResourceDef,
    object: &Value,
    accept: &str,
    query: &HashMap<String, String>,
    code: StatusCode,
) -> Response {
    if table::wanted(accept) {
        let version = str_at(object, "/metadata/resourceVersion")
            .parse()
            .unwrap_or(0);
        let include = query.get("includeObject").map(String::as_str).unwrap_or("");
        return json_response(
            code,
            &table::table(resource, std::iter::once(object), version, include),
        );
    }
    json_response(code, object)
}

fn matching(
    state: &State,
    resource: &ResourceDef,
    namespace: Option<&str>,
    labels: &LabelSelector,
    fields: &FieldSelector,
) -> Vec<Object> {
    if let Some(name) = fields.name() {
        return match namespace {
            Some(ns) => state
                .get(resource, ns, name)
                .into_iter()
                .cloned()
                .collect::<Vec<_>>(),
            None => state
                .list(resource, None)
                .filter(|o| object::name(o) == name)
                .cloned()
                .collect(),
        }
        .into_iter()
        .filter(|o| labels.matches_object(o) && fields.matches(o))
        .collect();
    }
    if resource.plural == PODS.plural
        && let Some(node) = fields.equals("spec.nodeName")
    {
        return state
            .pods_on_node(node)
            .filter(|o| namespace.is_none_or(|ns| object::namespace(o) == ns))
            .filter(|o| labels.matches_object(o) && fields.matches(o))
            .cloned()
            .collect();
    }
    state
        .select(resource, namespace, labels)
        .filter(|o| fields.matches(o))
        .cloned()
        .collect()
}

pub(super) fn list(
    app: &AppState,
    resource: &ResourceDef,
    namespace: Option<&str>,
    query: &HashMap<String, String>,
    accept: &str,
) -> ApiResult {
    let (labels, fields) = selectors(query)?;
    let page = Page::from_query(query)?;
    let (items, version) = {
        let state = app.store.lock();
        (
            matching(&state, resource, namespace, &labels, &fields),
            state.resource_version(),
        )
    };
    let (items, more) = page.cut(items, version);
    if table::wanted(accept) {
        let include = query.get("includeObject").map(String::as_str).unwrap_or("");
        let mut body = table::table(resource, items.iter().map(|o| &**o), version, include);
        if let (Some(more), Some(metadata)) = (&more, body["metadata"].as_object_mut()) {
            metadata.insert("continue".into(), json!(more.token));
            metadata.insert("remainingItemCount".into(), json!(more.remaining));
        }
        return Ok(json_response(StatusCode::OK, &body));
    }
    // Serialised by hand so thousands of pods are written once, not cloned into a Value.
    let mut text = String::with_capacity(items.len() * 2048 + 128);
    text.push_str(&format!(
        "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{{\"resourceVersion\":\"{version}\"{}}},\"items\":[",
        resource.kind,
        resource.api_version(),
        more.map(|more| format!(
            ",\"continue\":{},\"remainingItemCount\":{}",
            json!(more.token),
            more.remaining
        ))
        .unwrap_or_default()
    ));
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&item.to_string());
    }
    text.push_str("]}");
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        text,
    )
        .into_response())
}

/// `limit` and `continue` of a list (kubectl sends `limit=500`, the Python client whatever
/// its caller asks). The token names where the next page starts; unlike the API server,
/// which serves every page from the first page's snapshot, the sandbox serves later pages
/// from the objects as they are then (objects created meanwhile before the cut are missed,
/// as they would be by the next list anyway).
struct Page {
    limit: Option<usize>,
    /// The (namespace, name) of the previous page's last object.
    after: Option<(String, String)>,
}

/// What a cut list leaves for the next page.
struct More {
    token: String,
    remaining: usize,
}

impl Page {
    fn from_query(query: &HashMap<String, String>) -> Result<Page, ApiError> {
        let limit = match query.get("limit").map(String::as_str) {
            None | Some("" | "0") => None,
            Some(text) => Some(text.parse::<usize>().map_err(|_| {
                ApiError::bad_request(format!("invalid limit {text:?}: a positive integer"))
            })?),
        };
        let after = match query.get("continue").map(String::as_str) {
            None | Some("") => None,
            Some(token) => Some(decode_continue(token).and_then(|key| {
                key.split_once('/')
                    .map(|(namespace, name)| (namespace.to_owned(), name.to_owned()))
            }).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "continue key is not valid: {token:?} (use the token of the previous page)"
                ))
            })?),
        };
        Ok(Page { limit, after })
    }

    /// The page of `items` (in the store's order: by namespace, then name) and, when more
    /// follow, the token.
    fn cut(&self, items: Vec<Object>, version: u64) -> (Vec<Object>, Option<More>) {
        let mut items: Vec<Object> = match &self.after {
            Some((namespace, name)) => items
                .into_iter()
                .filter(|o| (object::namespace(o), object::name(o)) > (namespace, name))
                .collect(),
            None => items,
        };
        match self.limit {
            Some(limit) if items.len() > limit => {
                let remaining = items.len() - limit;
                items.truncate(limit);
                let last = items
                    .last()
                    .map(|o| format!("{}/{}", object::namespace(o), object::name(o)))
                    .unwrap_or_default();
                let token = encode_continue(version, &last);
                (items, Some(More { token, remaining }))
            }
            _ => (items, None),
        }
    }
}

/// `{version}:{hex of the last key}`: opaque to clients, as the API server's is.
fn encode_continue(version: u64, last: &str) -> String {
    let hex: String = last.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{version}:{hex}")
}

fn decode_continue(token: &str) -> Option<String> {
    let (_, hex) = token.split_once(':')?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

pub(super) fn watch(
    app: &AppState,
    resource: &'static ResourceDef,
    namespace: Option<String>,
    query: &HashMap<String, String>,
    accept: &str,
) -> ApiResult {
    let (labels, fields) = selectors(query)?;
    let resource_version = match query.get("resourceVersion").map(String::as_str) {
        None | Some("" | "0") => None,
        Some(text) => Some(
            text.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version {text:?}")))?,
        ),
    };
    // The API server's watch-options validation (ValidateListOptions): a streaming list
    // needs `resourceVersionMatch=NotOlderThan` and bookmarks, and `resourceVersionMatch`
    // means nothing on a watch without `sendInitialEvents`.
    let send_initial_events = query
        .get("sendInitialEvents")
        .map(|v| query_bool(Some(v.as_str())));
    let bookmarks = query_bool(query.get("allowWatchBookmarks").map(String::as_str));
    let version_match = query
        .get("resourceVersionMatch")
        .map(String::as_str)
        .unwrap_or("");
    let mut forbidden = Vec::new();
    if send_initial_events.is_some() {
        if version_match != "NotOlderThan" {
            forbidden.push(
                "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            );
        }
        if !bookmarks {
            forbidden.push(
                "allowWatchBookmarks: Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true",
            );
        }
    } else if !version_match.is_empty() {
        forbidden.push(
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        );
    }
    if !forbidden.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            match forbidden.as_slice() {
                [one] => format!("ListOptions.meta.k8s.io \"\" is invalid: {one}"),
                many => format!(
                    "ListOptions.meta.k8s.io \"\" is invalid: [{}]",
                    many.join(", ")
                ),
            },
        ));
    }
    // `sendInitialEvents=false` without a resourceVersion starts at the newest version,
    // with no synthetic ADDED events.
    let resource_version = match (send_initial_events, resource_version) {
        (Some(false), None) => Some(app.store.lock().resource_version()),
        (_, version) => version,
    };
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let request = watches::WatchRequest {
        resource,
        namespace,
        labels,
        fields,
        resource_version,
        timeout,
        bookmarks,
        as_table: table::wanted(accept),
        send_initial_events: send_initial_events == Some(true),
    };
    Ok(watches::respond(&app.store, request, app.shutdown.clone()))
}

pub(super) fn create(
    app: &AppState,
    resource: &'static ResourceDef,
    namespace: Option<&str>,
    body: &Value,
    query: &HashMap<String, String>,
) -> ApiResult {
    let mut object = body.clone();
    if !object.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a json object",
        ));
    }
    if let Some(namespace) = namespace {
        let given = object::namespace(&object).to_owned();
        if !given.is_empty() && given != namespace {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        object::metadata_mut(&mut object)
            .insert("namespace".to_owned(), Value::String(namespace.to_owned()));
    } else if resource.namespaced {
        return Err(ApiError::no_route());
    }
    if let Some(body_kind) = object.get("kind").and_then(Value::as_str)
        && body_kind != resource.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind of the body ({body_kind}) does not match the resource ({})",
            resource.kind
        )));
    }
    object::metadata_mut(&mut object).remove("resourceVersion");
    if resource.plural == "pods" && object.pointer("/status/phase").is_none() {
        object["status"] = json!({"phase": "Pending"});
    }
    if dry_run(query) {
        return Ok(json_response(StatusCode::CREATED, &object));
    }
    let created = app.store.lock().create(resource, object)?;
    Ok(json_response(StatusCode::CREATED, &created))
}

/// Replaces an object (or only its status), honouring a resourceVersion precondition.
pub(super) fn write(
    state: &mut State,
    resource: &'static ResourceDef,
    namespace: &str,
    name: &str,
    mut new: Value,
    subresource: Option<&str>,
    dry: bool,
) -> Result<Object, ApiError> {
    let existing = state
        .get(resource, namespace, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&resource.qualified_name(), name))?;
    if !new.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a json object",
        ));
    }
    let given_name = object::name(&new);
    if !given_name.is_empty() && given_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({given_name}) does not match the name on the URL ({name})"
        )));
    }
    let given_version = str_at(&new, "/metadata/resourceVersion");
    if !given_version.is_empty() && given_version != str_at(&existing, "/metadata/resourceVersion")
    {
        return Err(StoreError::Conflict {
            resource: resource.qualified_name(),
            name: name.to_owned(),
        }
        .into());
    }
    let mut merged = match subresource {
        Some(_) => {
            let mut merged = (*existing).clone();
            merged["status"] = new.get("status").cloned().unwrap_or(Value::Null);
            merged
        }
        None => {
            if resource.has_status {
                match existing.get("status") {
                    Some(status) => new["status"] = status.clone(),
                    None => {
                        if let Some(map) = new.as_object_mut() {
                            map.remove("status");
                        }
                    }
                }
            }
            new
        }
    };
    {
        let metadata = object::metadata_mut(&mut merged);
        metadata.insert("name".to_owned(), Value::String(name.to_owned()));
        if resource.namespaced {
            metadata.insert("namespace".to_owned(), Value::String(namespace.to_owned()));
        }
        for owned in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match existing.pointer(&format!("/metadata/{owned}")) {
                Some(value) => {
                    metadata.insert(owned.to_owned(), value.clone());
                }
                None => {
                    metadata.remove(owned);
                }
            }
        }
    }
    if resource.has_generation() && merged.get("spec") != existing.get("spec") {
        let generation = int_at(&existing, "/metadata/generation").unwrap_or(1) + 1;
        object::metadata_mut(&mut merged).insert("generation".to_owned(), Value::from(generation));
    }
    if resource.plural == "pods"
        && subresource.is_none()
        && str_at(&existing, "/spec/nodeName") != str_at(&merged, "/spec/nodeName")
        && !str_at(&existing, "/spec/nodeName").is_empty()
    {
        return Err(StoreError::Invalid {
            resource: resource.qualified_name(),
            name: name.to_owned(),
            message: "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations), `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)".to_owned(),
        }
        .into());
    }
    if dry {
        return Ok(Arc::new(merged));
    }
    Ok(state.replace(resource, merged)?)
}

pub(super) fn update(
    app: &AppState,
    resource: &'static ResourceDef,
    namespace: &str,
    name: &str,
    body: Value,
    subresource: Option<&str>,
    query: &HashMap<String, String>,
) -> ApiResult {
    let mut state = app.store.lock();
    let written = write(
        &mut state,
        resource,
        namespace,
        name,
        body,
        subresource,
        dry_run(query),
    )?;
    Ok(json_response(StatusCode::OK, &written))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn patch(
    app: &AppState,
    resource: &'static ResourceDef,
    namespace: &str,
    name: &str,
    content_type: &str,
    body: &Bytes,
    subresource: Option<&str>,
    query: &HashMap<String, String>,
) -> ApiResult {
    let kind = PatchKind::from_content_type(content_type).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {content_type})"),
        )
    })?;
    let patch_body = parse_body(body)?;
    let mut state = app.store.lock();
    let existing = state
        .get(resource, namespace, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&resource.qualified_name(), name))?;
    let mut patched = (*existing).clone();
    patch::apply(kind, &mut patched, &patch_body)
        .map_err(|message| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message))?;
    let written = write(
        &mut state,
        resource,
        namespace,
        name,
        patched,
        subresource,
        dry_run(query),
    )?;
    Ok(json_response(StatusCode::OK, &written))
}

fn grace_period(query: &HashMap<String, String>, body: &Value) -> Option<i64> {
    query
        .get("gracePeriodSeconds")
        .and_then(|g| g.parse().ok())
        .or_else(|| int_at(body, "/gracePeriodSeconds"))
}

fn delete_one(
    state: &mut State,
    resource: &'static ResourceDef,
    object: &Object,
    grace: Option<i64>,
) -> Option<Object> {
    if resource.plural == "pods" {
        controllers::delete_pod(state, object, grace)
    } else {
        state.remove(resource, object::namespace(object), object::name(object))
    }
}

pub(super) fn delete(
    app: &AppState,
    resource: &'static ResourceDef,
    namespace: &str,
    name: &str,
    query: &HashMap<String, String>,
    body: &Bytes,
) -> ApiResult {
    let options = parse_body(body)?;
    let mut state = app.store.lock();
    let existing = state
        .get(resource, namespace, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&resource.qualified_name(), name))?;
    let wanted_uid = str_at(&options, "/preconditions/uid");
    if !wanted_uid.is_empty() && wanted_uid != object::uid(&existing) {
        return Err(StoreError::Conflict {
            resource: resource.qualified_name(),
            name: name.to_owned(),
        }
        .into());
    }
    if dry_run(query) {
        return Ok(json_response(StatusCode::OK, &existing));
    }
    let result = delete_one(
        &mut state,
        resource,
        &existing,
        grace_period(query, &options),
    );
    let code = if result.as_ref().is_some_and(|o| object::is_terminating(o)) {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok(json_response(code, &result.unwrap_or(existing)))
}

pub(super) fn delete_collection(
    app: &AppState,
    resource: &'static ResourceDef,
    namespace: Option<&str>,
    query: &HashMap<String, String>,
) -> ApiResult {
    let (labels, fields) = selectors(query)?;
    let mut state = app.store.lock();
    let victims = matching(&state, resource, namespace, &labels, &fields);
    let grace = grace_period(query, &Value::Null);
    let mut deleted = Vec::new();
    for victim in &victims {
        if !dry_run(query) {
            delete_one(&mut state, resource, victim, grace);
        }
        deleted.push((**victim).clone());
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "kind": format!("{}List", resource.kind),
            "apiVersion": resource.api_version(),
            "metadata": {"resourceVersion": state.resource_version().to_string()},
            "items": deleted,
        }),
    ))
}
