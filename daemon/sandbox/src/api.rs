//! The HTTP API: routes Kubernetes paths to the store (list, get, create, update, patch,
//! delete, watch), the subresources drills use (status, scale, eviction, log, service
//! proxy), discovery, and the sandbox's own ground-truth endpoint.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State as AxumState};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::config::Timing;
use crate::controllers::{self, disruption};
use crate::ground_truth::Recorder;
use crate::object::{self, int_at, str_at};
use crate::patch::{self, PatchKind};
use crate::platform::Platform;
use crate::resources::{self, ENDPOINTS, PODDISRUPTIONBUDGETS, PODS, ResourceDef, SERVICES};
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Object, State, Store, StoreError};
use crate::{auth, discovery, exec, protobuf, table, watch as watches};

/// What the HTTP layer sees: the store, timing for probes, the recorder and shutdown.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The object store.
    pub store: Arc<Store>,
    /// Probe latency and the like.
    pub timing: Timing,
    /// Ground truth for `/sandbox/v1/ground-truth`.
    pub recorder: Recorder,
    /// Flips to `true` when the sandbox stops, ending watch streams.
    pub shutdown: watch::Receiver<bool>,
    /// The listening address, for discovery.
    pub address: SocketAddr,
    /// Round-robins service proxy requests over endpoints.
    pub proxy_counter: Arc<AtomicU64>,
    /// The platform the sandbox started with: how `pods/exec` runs on each workload.
    pub platform: Arc<Platform>,
    /// The messages simulated Kafka producers wrote, for simulated consumers.
    pub kafka_logs: Arc<exec::KafkaLogs>,
    /// The ServiceAccount tokens minted so far.
    pub tokens: Arc<auth::Tokens>,
}

/// The router: `pods/exec` (a WebSocket upgrade) has its own route; everything else goes
/// through one dispatcher that parses Kubernetes paths. Every request passes
/// [`auth::guard`] first (401/403).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/api/v1/namespaces/{namespace}/pods/{name}/exec",
            axum::routing::any(exec::handle),
        )
        .fallback(dispatch)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .with_state(state)
}

/// A Kubernetes `Status` failure.
#[derive(Debug)]
pub struct ApiError {
    code: StatusCode,
    reason: &'static str,
    message: String,
    details: Option<Value>,
}

impl ApiError {
    pub(crate) fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub(crate) fn not_found(resource: &str, name: &str) -> Self {
        let mut error = Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{resource} \"{name}\" not found"),
        );
        error.details =
            Some(json!({"name": name, "kind": resource.split('.').next().unwrap_or(resource)}));
        error
    }

    pub(crate) fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    fn no_route() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    fn method_not_allowed(method: &Method) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource: {method}"),
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { resource, name } => Self::not_found(&resource, &name),
            StoreError::AlreadyExists { resource, name } => {
                let mut e = Self::new(
                    StatusCode::CONFLICT,
                    "AlreadyExists",
                    format!("{resource} \"{name}\" already exists"),
                );
                e.details = Some(json!({"name": name, "kind": resource}));
                e
            }
            StoreError::Conflict { resource, name } => {
                let mut e = Self::new(
                    StatusCode::CONFLICT,
                    "Conflict",
                    format!(
                        "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                    ),
                );
                e.details = Some(json!({"name": name, "kind": resource}));
                e
            }
            StoreError::Invalid {
                resource,
                name,
                message,
            } => {
                let mut e = Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Invalid",
                    format!("{resource} \"{name}\" is invalid: {message}"),
                );
                e.details =
                    Some(json!({"name": name, "kind": resource, "causes": [{"message": message}]}));
                e
            }
        }
    }
}

/// A `Status` body with this code, reason and message.
pub fn status_body(code: StatusCode, reason: &str, message: &str, details: Option<Value>) -> Value {
    let mut status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": if code.is_success() { "Success" } else { "Failure" },
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    if let Some(details) = details {
        status["details"] = details;
    }
    status
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(
            self.code,
            &status_body(self.code, self.reason, &self.message, self.details),
        )
    }
}

fn json_response(code: StatusCode, body: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

type ApiResult = Result<Response, ApiError>;

/// A parsed request for the resource API.
struct Target {
    resource: &'static ResourceDef,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
    rest: Vec<String>,
    watch_path: bool,
}

fn parse_target(group: &str, version: &str, segments: &[&str]) -> Result<Target, ApiError> {
    let (watch_path, segments) = match segments.split_first() {
        Some((&"watch", rest)) => (true, rest),
        _ => (false, segments),
    };
    let owned = |s: Option<&&str>| s.map(|s| (*s).to_owned());
    let namespaced = segments.first() == Some(&"namespaces")
        && segments.len() >= 3
        && resources::find(group, version, segments[2]).is_some_and(|r| r.namespaced);
    let (namespace, plural, name, subresource, rest) = if namespaced {
        (
            owned(segments.get(1)),
            segments[2],
            owned(segments.get(3)),
            owned(segments.get(4)),
            segments.get(5..).unwrap_or_default(),
        )
    } else {
        let plural = segments.first().ok_or_else(ApiError::no_route)?;
        (
            None,
            *plural,
            owned(segments.get(1)),
            owned(segments.get(2)),
            segments.get(3..).unwrap_or_default(),
        )
    };
    let resource = resources::find(group, version, plural).ok_or_else(ApiError::no_route)?;
    if (!resource.namespaced && namespace.is_some())
        || (resource.namespaced && namespace.is_none() && name.is_some())
    {
        return Err(ApiError::no_route());
    }
    Ok(Target {
        resource,
        namespace,
        name,
        subresource,
        rest: rest.iter().map(|s| (*s).to_owned()).collect(),
        watch_path,
    })
}

async fn dispatch(
    AxumState(app): AxumState<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(raw_query): RawQuery,
    body: Bytes,
) -> Response {
    let query: HashMap<String, String> = raw_query
        .as_deref()
        .map(url_decode_pairs)
        .unwrap_or_default();
    let path = uri.path().to_owned();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let result = route(&app, &method, &segments, &headers, &query, body).await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Decodes `a=b&c=d` with `%xx` and `+` escapes; a repeated key keeps its last value.
fn url_decode_pairs(query: &str) -> HashMap<String, String> {
    decode_query_pairs(query).into_iter().collect()
}

/// Decodes `a=b&c=d` with `%xx` and `+` escapes into pairs, in order, repeated keys kept
/// (exec's `command=` repeats).
pub(crate) fn decode_query_pairs(query: &str) -> Vec<(String, String)> {
    fn decode(text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                    match u8::from_str_radix(hex, 16) {
                        Ok(b) => {
                            out.push(b);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

async fn route(
    app: &AppState,
    method: &Method,
    segments: &[&str],
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: Bytes,
) -> ApiResult {
    let get_only = |value: Value| -> ApiResult {
        if *method == Method::GET {
            Ok(json_response(StatusCode::OK, &value))
        } else {
            Err(ApiError::method_not_allowed(method))
        }
    };
    match segments {
        [] => get_only(
            json!({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version", "/sandbox/v1/ground-truth"]}),
        ),
        ["version"] => get_only(discovery::version()),
        // kubectl's client-side validation downloads the OpenAPI v2 document (protobuf).
        // An empty document makes every kind unknown to it, so validation passes and
        // `kubectl apply -f` / `create -f` work; the server checks what it stores.
        ["openapi", "v2"] | ["swagger-2.0.0.pb-v1"] if *method == Method::GET => Ok((
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
            )],
            discovery::EMPTY_OPENAPI_V2_PROTOBUF,
        )
            .into_response()),
        ["healthz" | "livez" | "readyz"] => Ok((StatusCode::OK, "ok").into_response()),
        ["api"] => get_only(discovery::core_versions(&app.address.to_string())),
        ["apis"] => get_only(discovery::groups()),
        ["api", version] => {
            get_only(discovery::resource_list("", version).ok_or_else(ApiError::no_route)?)
        }
        ["apis", group] => get_only(discovery::group(group).ok_or_else(ApiError::no_route)?),
        ["apis", group, version] => {
            get_only(discovery::resource_list(group, version).ok_or_else(ApiError::no_route)?)
        }
        ["sandbox", "v1", "ground-truth"] => {
            get_only(serde_json::to_value(app.recorder.snapshot()).map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    e.to_string(),
                )
            })?)
        }
        ["api", "v1", rest @ ..] => {
            let target = parse_target("", "v1", rest)?;
            resource_request(app, method, target, headers, query, body).await
        }
        [
            "apis",
            "authorization.k8s.io",
            "v1",
            "selfsubjectaccessreviews",
        ] => {
            if *method != Method::POST {
                return Err(ApiError::method_not_allowed(method));
            }
            auth::self_subject_access_review(app, headers, &parse_body(&body)?)
        }
        ["apis", group, version, rest @ ..] => {
            let target = parse_target(group, version, rest)?;
            resource_request(app, method, target, headers, query, body).await
        }
        _ => Err(ApiError::no_route()),
    }
}

fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    if body.starts_with(protobuf::MAGIC) {
        if let Some(decoded) = protobuf::decode(body) {
            return Ok(decoded);
        }
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "the sandbox accepts json bodies only, not protobuf (use kubectl apply -f or create -f)",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid json: {e}")))
}

fn dry_run(query: &HashMap<String, String>) -> bool {
    query.get("dryRun").is_some_and(|v| !v.is_empty())
}

async fn resource_request(
    app: &AppState,
    method: &Method,
    target: Target,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: Bytes,
) -> ApiResult {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    let resource = target.resource;
    let namespace = target.namespace.clone();
    let Some(name) = target.name.clone() else {
        let watching = target.watch_path
            || matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
        return match *method {
            Method::GET if watching => watch(app, resource, namespace, query, accept),
            Method::GET => list(app, resource, namespace.as_deref(), query, accept),
            Method::POST => create(
                app,
                resource,
                namespace.as_deref(),
                &parse_body(&body)?,
                query,
            ),
            Method::DELETE => delete_collection(app, resource, namespace.as_deref(), query),
            _ => Err(ApiError::method_not_allowed(method)),
        };
    };
    let namespace = namespace.unwrap_or_default();
    if target.watch_path {
        let mut query = query.clone();
        query.insert("fieldSelector".to_owned(), format!("metadata.name={name}"));
        return watch(
            app,
            resource,
            Some(namespace).filter(|n| !n.is_empty()),
            &query,
            accept,
        );
    }
    match target.subresource.as_deref() {
        None => match *method {
            Method::GET => {
                let state = app.store.lock();
                let object = state
                    .get(resource, &namespace, &name)
                    .ok_or_else(|| ApiError::not_found(&resource.qualified_name(), &name))?;
                Ok(object_response(
                    resource,
                    object,
                    accept,
                    query,
                    StatusCode::OK,
                ))
            }
            Method::PUT => update(
                app,
                resource,
                &namespace,
                &name,
                parse_body(&body)?,
                None,
                query,
            ),
            Method::PATCH => patch(
                app,
                resource,
                &namespace,
                &name,
                &content_type,
                &body,
                None,
                query,
            ),
            Method::DELETE => delete(app, resource, &namespace, &name, query, &body),
            _ => Err(ApiError::method_not_allowed(method)),
        },
        Some("status") if resource.has_status => match *method {
            Method::GET => {
                let state = app.store.lock();
                let object = state
                    .get(resource, &namespace, &name)
                    .ok_or_else(|| ApiError::not_found(&resource.qualified_name(), &name))?;
                Ok(json_response(StatusCode::OK, object))
            }
            Method::PUT => update(
                app,
                resource,
                &namespace,
                &name,
                parse_body(&body)?,
                Some("status"),
                query,
            ),
            Method::PATCH => patch(
                app,
                resource,
                &namespace,
                &name,
                &content_type,
                &body,
                Some("status"),
                query,
            ),
            _ => Err(ApiError::method_not_allowed(method)),
        },
        Some("scale")
            if matches!(
                resource.plural,
                "deployments" | "statefulsets" | "replicasets"
            ) =>
        {
            scale(
                app,
                method,
                resource,
                &namespace,
                &name,
                &content_type,
                &body,
                query,
            )
        }
        Some("eviction") if resource.plural == "pods" => {
            if *method != Method::POST {
                return Err(ApiError::method_not_allowed(method));
            }
            evict(app, &namespace, &name, &parse_body(&body)?, query)
        }
        Some("token") if resource.plural == "serviceaccounts" => {
            if *method != Method::POST {
                return Err(ApiError::method_not_allowed(method));
            }
            auth::token_request(app, &namespace, &name, &parse_body(&body)?)
        }
        Some("log") if resource.plural == "pods" => {
            if *method != Method::GET {
                return Err(ApiError::method_not_allowed(method));
            }
            pod_log(app, &namespace, &name)
        }
        Some("proxy") if resource.plural == "services" => {
            service_proxy(app, &namespace, &name, &target.rest.join("/")).await
        }
        _ => Err(ApiError::no_route()),
    }
}

fn object_response(
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

fn selectors(query: &HashMap<String, String>) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(query.get("labelSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
    let fields = FieldSelector::parse(query.get("fieldSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("unable to parse field selector: {e}")))?;
    Ok((labels, fields))
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
    state
        .list(resource, namespace)
        .filter(|o| labels.matches_object(o) && fields.matches(o))
        .cloned()
        .collect()
}

fn list(
    app: &AppState,
    resource: &ResourceDef,
    namespace: Option<&str>,
    query: &HashMap<String, String>,
    accept: &str,
) -> ApiResult {
    let (labels, fields) = selectors(query)?;
    let (items, version) = {
        let state = app.store.lock();
        (
            matching(&state, resource, namespace, &labels, &fields),
            state.resource_version(),
        )
    };
    if table::wanted(accept) {
        let include = query.get("includeObject").map(String::as_str).unwrap_or("");
        return Ok(json_response(
            StatusCode::OK,
            &table::table(resource, items.iter().map(|o| &**o), version, include),
        ));
    }
    // Serialised by hand so thousands of pods are written once, not cloned into a Value.
    let mut text = String::with_capacity(items.len() * 2048 + 128);
    text.push_str(&format!(
        "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{{\"resourceVersion\":\"{version}\"}},\"items\":[",
        resource.kind,
        resource.api_version()
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

fn watch(
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
        bookmarks: query
            .get("allowWatchBookmarks")
            .is_some_and(|v| v == "true"),
        as_table: table::wanted(accept),
        send_initial_events: query.get("sendInitialEvents").is_some_and(|v| v == "true"),
    };
    Ok(watches::respond(&app.store, request, app.shutdown.clone()))
}

fn create(
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
fn write(
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

fn update(
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
fn patch(
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

fn delete(
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

fn delete_collection(
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

#[allow(clippy::too_many_arguments)]
fn scale(
    app: &AppState,
    method: &Method,
    resource: &'static ResourceDef,
    namespace: &str,
    name: &str,
    content_type: &str,
    body: &Bytes,
    query: &HashMap<String, String>,
) -> ApiResult {
    let mut state = app.store.lock();
    let existing = state
        .get(resource, namespace, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&resource.qualified_name(), name))?;
    let scale_of = |object: &Value| {
        let selector = object
            .pointer("/spec/selector/matchLabels")
            .and_then(Value::as_object)
            .map(|labels| {
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        json!({
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                "name": object::name(object),
                "namespace": object::namespace(object),
                "uid": object::uid(object),
                "resourceVersion": str_at(object, "/metadata/resourceVersion"),
                "creationTimestamp": str_at(object, "/metadata/creationTimestamp"),
            },
            "spec": {"replicas": int_at(object, "/spec/replicas").unwrap_or(0)},
            "status": {"replicas": int_at(object, "/status/replicas").unwrap_or(0), "selector": selector},
        })
    };
    let current = scale_of(&existing);
    let wanted = match *method {
        Method::GET => return Ok(json_response(StatusCode::OK, &current)),
        Method::PUT => parse_body(body)?,
        Method::PATCH => {
            let kind = PatchKind::from_content_type(content_type).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UnsupportedMediaType",
                    "unsupported patch type",
                )
            })?;
            let mut patched = current.clone();
            patch::apply(kind, &mut patched, &parse_body(body)?)
                .map_err(|m| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", m))?;
            patched
        }
        _ => return Err(ApiError::method_not_allowed(method)),
    };
    let replicas = int_at(&wanted, "/spec/replicas")
        .filter(|r| *r >= 0)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                "spec.replicas: Invalid value: must be a non-negative integer",
            )
        })?;
    let mut updated = (*existing).clone();
    updated["spec"]["replicas"] = Value::from(replicas);
    if let Some(version) = wanted
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    {
        object::metadata_mut(&mut updated).insert(
            "resourceVersion".to_owned(),
            Value::String(version.to_owned()),
        );
    }
    let written = write(
        &mut state,
        resource,
        namespace,
        name,
        updated,
        None,
        dry_run(query),
    )?;
    Ok(json_response(StatusCode::OK, &scale_of(&written)))
}

fn evict(
    app: &AppState,
    namespace: &str,
    name: &str,
    body: &Value,
    query: &HashMap<String, String>,
) -> ApiResult {
    let mut state = app.store.lock();
    let pod = state
        .get(&PODS, namespace, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found("pods", name))?;
    let budgets: Vec<Object> = state
        .list(&PODDISRUPTIONBUDGETS, Some(namespace))
        .filter(|pdb| LabelSelector::from_json(pdb.pointer("/spec/selector")).matches_object(&pod))
        .cloned()
        .collect();
    if budgets.len() > 1 {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        ));
    }
    if let Some(pdb) = budgets.first()
        && !object::is_terminating(&pod)
    {
        let figures = disruption(&state, pdb);
        let healthy_pod = object::pod_is_ready(&pod);
        // An unhealthy pod may go while the budget is met (IfHealthyBudget); a healthy
        // one only while a disruption is allowed.
        let allowed = if healthy_pod {
            figures.allowed() > 0
        } else {
            figures.healthy >= figures.desired
        };
        if !allowed {
            let mut error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Cannot evict pod as it would violate the pod's disruption budget.",
            );
            error.details = Some(json!({"causes": [{
                "reason": "DisruptionBudget",
                "message": format!(
                    "The disruption budget {} needs {} healthy pods and has {} currently",
                    object::name(pdb), figures.desired, figures.healthy
                ),
            }]}));
            return Err(error);
        }
    }
    if !dry_run(query) {
        controllers::delete_pod(
            &mut state,
            &pod,
            int_at(body, "/deleteOptions/gracePeriodSeconds"),
        );
        controllers::emit_event(
            &mut state,
            &pod,
            "Normal",
            "Evicted",
            "Evicted by the eviction API",
            "eviction",
        );
    }
    Ok(json_response(
        StatusCode::CREATED,
        &status_body(StatusCode::CREATED, "", "", None),
    ))
}

fn pod_log(app: &AppState, namespace: &str, name: &str) -> ApiResult {
    let state = app.store.lock();
    let pod = state
        .get(&PODS, namespace, name)
        .ok_or_else(|| ApiError::not_found("pods", name))?;
    let started = str_at(pod, "/status/startTime");
    if started.is_empty() {
        return Err(ApiError::bad_request(format!(
            "container \"{}\" in pod \"{name}\" is waiting to start: ContainerCreating",
            str_at(pod, "/spec/containers/0/name")
        )));
    }
    let text = format!(
        "{started} INFO starting {} on {}\n{started} INFO listening on :{}\n{started} INFO ready\n",
        str_at(pod, "/spec/containers/0/image"),
        str_at(pod, "/spec/nodeName"),
        int_at(pod, "/spec/containers/0/ports/0/containerPort").unwrap_or(8080),
    );
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], text).into_response())
}

/// The Kubernetes service proxy: 200 after a small latency while the Service has Ready
/// endpoints, 503 while it has none, 404 for an unknown Service.
async fn service_proxy(
    app: &AppState,
    namespace: &str,
    name_and_port: &str,
    path: &str,
) -> ApiResult {
    // `name`, `name:port` or `scheme:name:port`.
    let parts: Vec<&str> = name_and_port.split(':').collect();
    let name = if parts.len() == 3 { parts[1] } else { parts[0] };
    let endpoint = {
        let state = app.store.lock();
        if state.get(&SERVICES, namespace, name).is_none() {
            return Err(ApiError::not_found("services", name));
        }
        let addresses: Vec<String> = state
            .get(&ENDPOINTS, namespace, name)
            .and_then(|e| e.get("subsets").and_then(Value::as_array).cloned())
            .into_iter()
            .flatten()
            .flat_map(|s| {
                s.get("addresses")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .map(|a| str_at(&a, "/targetRef/name").to_owned())
            .collect();
        if addresses.is_empty() {
            None
        } else {
            let turn = app.proxy_counter.fetch_add(1, Ordering::Relaxed) as usize;
            Some((addresses[turn % addresses.len()].clone(), addresses.len()))
        }
    };
    let Some((pod, ready)) = endpoint else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            format!("no endpoints available for service \"{name}\""),
        ));
    };
    let base = app.timing.probe_latency;
    let latency = if base.is_zero() {
        base
    } else {
        base.mul_f64(rand::rng().random_range(0.5..2.0))
    };
    tokio::time::sleep(latency).await;
    let body = json!({
        "service": name,
        "namespace": namespace,
        "path": format!("/{path}"),
        "servedBy": pod,
        "readyEndpoints": ready,
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_else(|_| Response::new(Body::empty())))
}
