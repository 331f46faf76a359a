//! The HTTP API: the router and the dispatcher that parses Kubernetes paths and sends
//! each request to its handler (verbs, subresources, watch, service proxy, exec,
//! discovery, auth, and the sandbox's own ground-truth endpoint).
//!
//! Files: [`common`] (state, errors, request decoding), [`verbs`] (get, list, watch,
//! create, update, patch, delete), [`subresources`] (scale, eviction, log), [`watch`]
//! (watch streams), [`proxy`] (the service proxy), [`exec`] (the `pods/exec` WebSocket
//! transport), [`auth`] (the 401/403 gate, TokenRequest, SelfSubjectAccessReview).

pub mod auth;
pub mod common;
pub mod exec;
pub mod proxy;
pub mod subresources;
pub mod verbs;
pub mod watch;

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State as AxumState};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::discovery;
use crate::resources::{self, ResourceDef};

pub use common::{ApiError, AppState, status_body};
use common::{ApiResult, json_response, parse_body, url_decode_pairs};
use proxy::service_proxy;
use subresources::{evict, pod_log, scale};
use verbs::{create, delete, delete_collection, list, object_response, patch, update, watch};

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
    let decoded: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(common::decode_path_segment)
        .collect();
    let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let result = route(&app, &method, &segments, &headers, &query, body).await;
    result.unwrap_or_else(IntoResponse::into_response)
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
        let watching =
            target.watch_path || common::query_bool(query.get("watch").map(String::as_str));
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
