//! Authentication and the authorization gate: ServiceAccount tokens (TokenRequest), who a
//! request is (admin or a ServiceAccount), the middleware that answers 401 and 403 before
//! any handler runs, and `SelfSubjectAccessReview`.
//!
//! Compatibility: a request without an `Authorization` header, or with the admin token
//! the sandbox's kubeconfig carries ([`ADMIN_TOKEN`]), is the admin and skips RBAC, so
//! existing clients that connect without credentials keep full access. Only requests
//! bearing a minted ServiceAccount token are authorized with RBAC (deny by default).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{Value, json};

use crate::api::{ApiError, AppState, decode_query_pairs};
use crate::object::{self, int_at, str_at};
use crate::rbac::{self, Attributes, Decision, UserInfo};
use crate::resources::SERVICEACCOUNTS;
use crate::store::State;

/// The bearer token of the admin user in the kubeconfig the sandbox writes.
pub const ADMIN_TOKEN: &str = "firedrill-sandbox-admin";

/// The admin's user name (as kubeadm's and kind's admin kubeconfigs).
pub const ADMIN_USER: &str = "kubernetes-admin";

/// A token's lifetime when the TokenRequest does not say (the API server's default).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// The shortest lifetime the API server accepts in a TokenRequest.
pub const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(600);

const DEFAULT_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";

/// Who a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// No credential or the admin token: full access.
    Admin,
    /// A ServiceAccount's minted token: authorized with RBAC.
    ServiceAccount(UserInfo),
}

impl Identity {
    /// The user and groups, as RBAC and reviews see them.
    pub fn user(&self) -> UserInfo {
        match self {
            Self::Admin => UserInfo {
                name: ADMIN_USER.to_owned(),
                groups: vec![
                    "system:masters".to_owned(),
                    "system:authenticated".to_owned(),
                ],
            },
            Self::ServiceAccount(user) => user.clone(),
        }
    }
}

/// What a minted token stands for.
#[derive(Debug, Clone)]
struct Bound {
    namespace: String,
    name: String,
    /// The ServiceAccount's uid when the token was minted: a recreated account of the
    /// same name does not inherit its predecessor's tokens.
    uid: String,
    expires: DateTime<Utc>,
}

/// The tokens minted so far; opaque random strings the sandbox remembers.
#[derive(Debug, Default)]
pub struct Tokens {
    by_token: Mutex<HashMap<String, Bound>>,
}

impl Tokens {
    fn locked(&self) -> std::sync::MutexGuard<'_, HashMap<String, Bound>> {
        // Entries are inserted and removed whole: a poisoned map is still consistent.
        self.by_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Mints a token for the ServiceAccount `namespace/name` (uid `uid`) valid until
    /// `expires`.
    pub fn mint(&self, namespace: &str, name: &str, uid: &str, expires: DateTime<Utc>) -> String {
        let token = format!(
            "firedrill-sa.{}",
            Alphanumeric.sample_string(&mut rand::rng(), 48)
        );
        self.locked().insert(
            token.clone(),
            Bound {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                uid: uid.to_owned(),
                expires,
            },
        );
        token
    }

    /// The ServiceAccount user of `token` at `now`, if the token is known, unexpired, and
    /// its ServiceAccount still exists with the uid it was minted for. Expired tokens
    /// and tokens of deleted accounts are forgotten.
    pub fn authenticate(&self, state: &State, token: &str, now: DateTime<Utc>) -> Option<UserInfo> {
        let mut tokens = self.locked();
        let bound = tokens.get(token)?;
        let account_alive = state
            .get(&SERVICEACCOUNTS, &bound.namespace, &bound.name)
            .is_some_and(|account| object::uid(account) == bound.uid);
        if bound.expires <= now || !account_alive {
            tokens.remove(token);
            return None;
        }
        Some(UserInfo::service_account(&bound.namespace, &bound.name))
    }
}

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
        Err(refusal) => refusal.into_response(),
    }
}

/// Why a token could not be minted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The ServiceAccount does not exist.
    #[error("serviceaccounts \"{name}\" not found")]
    NotFound {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// The lifetime is shorter than ten minutes (or absurdly long).
    #[error("spec.expirationSeconds: Invalid value: {seconds}: {why}")]
    InvalidLifetime {
        /// The requested lifetime.
        seconds: i64,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// Mints a token for a ServiceAccount lasting `lifetime`; returns it and its expiry.
pub fn mint(
    app_tokens: &Tokens,
    state: &State,
    namespace: &str,
    name: &str,
    lifetime: Duration,
) -> Result<(String, DateTime<Utc>), TokenError> {
    let account = state
        .get(&SERVICEACCOUNTS, namespace, name)
        .ok_or_else(|| TokenError::NotFound {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })?;
    let lifetime =
        chrono::Duration::from_std(lifetime).map_err(|_| TokenError::InvalidLifetime {
            seconds: i64::MAX,
            why: "may not specify a duration larger than 2^32 seconds",
        })?;
    let expires = Utc::now() + lifetime;
    let token = app_tokens.mint(namespace, name, object::uid(account), expires);
    Ok((token, expires))
}

fn lifetime_of(request: &Value) -> Result<Duration, TokenError> {
    let Some(seconds) = int_at(request, "/spec/expirationSeconds") else {
        return Ok(DEFAULT_TOKEN_LIFETIME);
    };
    if seconds < MIN_TOKEN_LIFETIME.as_secs() as i64 {
        return Err(TokenError::InvalidLifetime {
            seconds,
            why: "may not specify a duration less than 10 minutes",
        });
    }
    if seconds > 1 << 32 {
        return Err(TokenError::InvalidLifetime {
            seconds,
            why: "may not specify a duration larger than 2^32 seconds",
        });
    }
    Ok(Duration::from_secs(seconds.unsigned_abs()))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn tokens_expire_and_die_with_their_service_account() {
        let store = Store::new(16);
        let mut state = store.lock();
        state
            .create(
                &crate::resources::NAMESPACES,
                json!({"metadata": {"name": "shop"}}),
            )
            .map_err(|e| format!("{e:?}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let account = state
            .create(
                &SERVICEACCOUNTS,
                json!({"metadata": {"name": "drill", "namespace": "shop"}}),
            )
            .unwrap_or_else(|e| panic!("{e:?}"));
        let tokens = Tokens::default();
        let now = Utc::now();
        let token = tokens.mint(
            "shop",
            "drill",
            object::uid(&account),
            now + chrono::Duration::seconds(600),
        );
        let user = tokens.authenticate(&state, &token, now);
        assert_eq!(
            user.map(|u| u.name),
            Some("system:serviceaccount:shop:drill".to_owned())
        );
        assert!(
            tokens
                .authenticate(&state, "firedrill-sa.nope", now)
                .is_none()
        );
        assert!(
            tokens
                .authenticate(&state, &token, now + chrono::Duration::seconds(601))
                .is_none(),
            "expired"
        );
        let second = tokens.mint(
            "shop",
            "drill",
            object::uid(&account),
            now + chrono::Duration::seconds(600),
        );
        state.remove(&SERVICEACCOUNTS, "shop", "drill");
        state
            .create(
                &SERVICEACCOUNTS,
                json!({"metadata": {"name": "drill", "namespace": "shop"}}),
            )
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(
            tokens.authenticate(&state, &second, now).is_none(),
            "a recreated account does not inherit the tokens"
        );
    }

    #[test]
    fn lifetimes_follow_the_token_request_api() {
        assert_eq!(lifetime_of(&json!({})), Ok(DEFAULT_TOKEN_LIFETIME));
        assert_eq!(
            lifetime_of(&json!({"spec": {"expirationSeconds": 7200}})),
            Ok(Duration::from_secs(7200))
        );
        assert!(lifetime_of(&json!({"spec": {"expirationSeconds": 60}})).is_err());
    }
}
