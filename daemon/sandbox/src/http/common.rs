//! What every HTTP handler shares: the [`AppState`], the Kubernetes `Status` error
//! ([`ApiError`]) and JSON responses, and the decoding of queries, bodies and selectors.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::body::Bytes;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::config::Timing;
use crate::ground_truth::Recorder;
use crate::platform::Platform;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Store, StoreError};
use crate::{auth, protobuf, simulated};

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
    pub kafka_logs: Arc<simulated::KafkaLogs>,
    /// The ServiceAccount tokens minted so far.
    pub tokens: Arc<auth::Tokens>,
    /// The pods whose container is a local process: their output is their log.
    pub processes: crate::controllers::processes::Processes,
}

/// A Kubernetes `Status` failure.
#[derive(Debug)]
pub struct ApiError {
    pub(super) code: StatusCode,
    pub(super) reason: &'static str,
    pub(super) message: String,
    pub(super) details: Option<Value>,
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

    pub(super) fn no_route() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub(super) fn method_not_allowed(method: &Method) -> Self {
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

pub(super) fn json_response(code: StatusCode, body: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub(super) type ApiResult = Result<Response, ApiError>;

/// Decodes `a=b&c=d` with `%xx` and `+` escapes; a repeated key keeps its last value.
pub(super) fn url_decode_pairs(query: &str) -> HashMap<String, String> {
    decode_query_pairs(query).into_iter().collect()
}

/// Decodes `a=b&c=d` with `%xx` and `+` escapes into pairs, in order, repeated keys kept
/// (exec's `command=` repeats).
/// A boolean query parameter as the API server reads it (Go's `strconv.ParseBool`): `1`,
/// `t`, `T`, `TRUE`, `true`, `True` are true; anything else is not.
pub(crate) fn query_bool(value: Option<&str>) -> bool {
    matches!(value, Some("1" | "t" | "T" | "TRUE" | "true" | "True"))
}

/// Percent-decodes `text` (`+` as a space only in queries).
fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => out.push(b' '),
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

/// A path segment as the API server reads it: percent-decoded (`capsule%3Ahttp` is
/// `capsule:http`), after the path was split at `/`.
pub(crate) fn decode_path_segment(segment: &str) -> String {
    percent_decode(segment, false)
}

pub(crate) fn decode_query_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |text: &str| percent_decode(text, true);
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

pub(super) fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
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

pub(super) fn dry_run(query: &HashMap<String, String>) -> bool {
    query.get("dryRun").is_some_and(|v| !v.is_empty())
}

pub(super) fn selectors(
    query: &HashMap<String, String>,
) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(query.get("labelSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
    let fields = FieldSelector::parse(query.get("fieldSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("unable to parse field selector: {e}")))?;
    Ok((labels, fields))
}

#[cfg(test)]
mod tests {
    use super::query_bool;

    /// The Python `kubernetes` client sends `watch=True`; Go's ParseBool forms all count.
    #[test]
    fn boolean_query_parameters_are_read_as_go_parses_them() {
        for yes in ["1", "t", "T", "TRUE", "true", "True"] {
            assert!(query_bool(Some(yes)), "{yes}");
        }
        for no in ["0", "f", "false", "False", "yes", ""] {
            assert!(!query_bool(Some(no)), "{no}");
        }
        assert!(!query_bool(None));
    }
}
