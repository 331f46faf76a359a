//! The authorization gate over HTTP: who a request is (admin or a ServiceAccount, from
//! [`crate::auth`]'s tokens), the middleware that answers 401 and 403 before any handler
//! runs, the TokenRequest handler and `SelfSubjectAccessReview`.

use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use super::common::{ApiError, AppState, decode_query_pairs};
use crate::auth::{ADMIN_TOKEN, Identity, TokenError, lifetime_of, mint};
use crate::object::{self, str_at};
use crate::rbac::{self, Attributes, Decision};

const DEFAULT_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";

/// Why a request was refused before reaching a handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No valid credential: 401.
    Unauthorized,
    /// RBAC denied: 403 with the API server's message and details.
    Forbidden {
        /// `pods "web-1" is forbidden: User ...`.
        message: String,
        /// `{"name": "web-1", "kind": "pods"}`.
        details: Value,
    },
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthorized => {
                ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized")
                    .into_response()
            }
            Self::Forbidden { message, details } => {
                ApiError::new(StatusCode::FORBIDDEN, "Forbidden", message)
                    .with_details(details)
                    .into_response()
            }
        }
    }
}

/// Who `headers` say the caller is.
pub fn identify(app: &AppState, headers: &HeaderMap) -> Result<Identity, Refusal> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Identity::Admin);
    };
    let text = value.to_str().map_err(|_| Refusal::Unauthorized)?;
    let token = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or(Refusal::Unauthorized)?;
    if token == ADMIN_TOKEN {
        return Ok(Identity::Admin);
    }
    let state = app.store.lock();
    app.tokens
        .authenticate(&state, token, Utc::now())
        .map(Identity::ServiceAccount)
        .ok_or(Refusal::Unauthorized)
}

/// Authenticates and authorizes one request; `Ok` lets it through.
pub fn admit(
    app: &AppState,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Result<(), Refusal> {
    let Identity::ServiceAccount(user) = identify(app, headers)? else {
        return Ok(());
    };
    let attributes = Attributes::from_request(method, path, &decode_query_pairs(query));
    let mut checks = vec![attributes.clone()];
    // A WebSocket exec/attach/port-forward is a GET, authorized as `get` on the
    // subresource; the API server since 1.35 (AuthorizePodWebsocketUpgradeCreatePermission,
    // on by default) also requires `create`, which SPDY's POST always needed. The sandbox
    // requires both, so what passes here passes on every version.
    if attributes.verb == "get"
        && attributes.resource == "pods"
        && matches!(
            attributes.subresource.as_str(),
            "exec" | "attach" | "portforward"
        )
    {
        checks.push(Attributes {
            verb: "create".to_owned(),
            ..attributes
        });
    }
    let state = app.store.lock();
    for check in &checks {
        if let Decision::Deny(reason) = rbac::authorize(&state, &user, check) {
            let (message, details) = rbac::forbidden(&user, check, &reason);
            tracing::debug!(user = %user.name, %message, "Request forbidden");
            return Err(Refusal::Forbidden { message, details });
        }
    }
    Ok(())
}

/// The middleware in front of every route: 401 for an unknown or expired token, 403 when
/// RBAC denies a ServiceAccount, before any handler (or exec upgrade) runs.
pub async fn guard(AxumState(app): AxumState<AppState>, request: Request, next: Next) -> Response {
    let admitted = admit(
        &app,
        request.method(),
        request.uri().path(),
        request.uri().query().unwrap_or_default(),
        request.headers(),
    );
    match admitted {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            // Read what the client is still sending before refusing, as the API server
            // (Go's net/http, which drains up to 256 KiB of an unread body) does:
            // answering mid-upload makes the connection close under a client that is
            // still writing its body (kubectl then reports a broken pipe instead of the
            // 401/403).
            let _ = axum::body::to_bytes(request.into_body(), REFUSED_BODY_LIMIT).await;
            refusal.into_response()
        }
    }
}

/// The most of a refused request's body read before answering, as Go's net/http server
/// drains (larger bodies are cut off and their connection closed).
const REFUSED_BODY_LIMIT: usize = 256 * 1024;

/// `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`: a TokenRequest answered
/// with `status.token` and `status.expirationTimestamp` (201).
pub fn token_request(
    app: &AppState,
    namespace: &str,
    name: &str,
    request: &Value,
) -> Result<Response, ApiError> {
    let lifetime = lifetime_of(request).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("TokenRequest.authentication.k8s.io \"{name}\" is invalid: {e}"),
        )
    })?;
    let state = app.store.lock();
    let (token, expires) =
        mint(&app.tokens, &state, namespace, name, lifetime).map_err(|e| match e {
            TokenError::NotFound { name, .. } => ApiError::not_found("serviceaccounts", &name),
            other => ApiError::bad_request(other.to_string()),
        })?;
    let audiences = match request.pointer("/spec/audiences").and_then(Value::as_array) {
        Some(given) if !given.is_empty() => Value::Array(given.clone()),
        _ => json!([DEFAULT_AUDIENCE]),
    };
    let body = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": object::timestamp(Utc::now()),
        },
        "spec": {
            "audiences": audiences,
            "expirationSeconds": lifetime.as_secs(),
            "boundObjectRef": request.pointer("/spec/boundObjectRef").cloned().unwrap_or(Value::Null),
        },
        "status": {
            "token": token,
            "expirationTimestamp": object::timestamp(expires),
        },
    });
    Ok((
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response())
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`: may the caller do
/// `spec.resourceAttributes` (or `spec.nonResourceAttributes`)? What `kubectl auth can-i`
/// asks.
pub fn self_subject_access_review(
    app: &AppState,
    headers: &HeaderMap,
    review: &Value,
) -> Result<Response, ApiError> {
    let identity = identify(app, headers)
        .map_err(|_| ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized"))?;
    let spec = review.get("spec").cloned().unwrap_or(Value::Null);
    let attributes = if let Some(resource) =
        spec.get("resourceAttributes").filter(|v| v.is_object())
    {
        Attributes {
            verb: str_at(resource, "/verb").to_owned(),
            resource_request: true,
            api_group: str_at(resource, "/group").to_owned(),
            resource: str_at(resource, "/resource").to_owned(),
            subresource: str_at(resource, "/subresource").to_owned(),
            namespace: str_at(resource, "/namespace").to_owned(),
            name: str_at(resource, "/name").to_owned(),
            path: String::new(),
        }
    } else if let Some(non_resource) = spec.get("nonResourceAttributes").filter(|v| v.is_object()) {
        Attributes {
            verb: str_at(non_resource, "/verb").to_owned(),
            path: str_at(non_resource, "/path").to_owned(),
            ..Attributes::default()
        }
    } else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ));
    };
    let decision = match &identity {
        Identity::Admin => Decision::Allow(String::new()),
        Identity::ServiceAccount(user) => rbac::authorize(&app.store.lock(), user, &attributes),
    };
    let mut status = json!({"allowed": decision.allowed()});
    let reason = match &decision {
        Decision::Allow(reason) | Decision::Deny(reason) => reason,
    };
    if !reason.is_empty() {
        status["reason"] = json!(reason);
    }
    let body = json!({
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": spec,
        "status": status,
    });
    Ok((
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response())
}
