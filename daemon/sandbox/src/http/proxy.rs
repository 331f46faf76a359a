//! The service proxy `/api/v1/namespaces/{ns}/services/{name}[:{port}]/proxy/{path}`:
//! round-robin over the Service's Ready endpoints, 503 while it has none.

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;
use rand::Rng;
use serde_json::{Value, json};

use super::common::{ApiError, ApiResult, AppState};
use crate::object::str_at;
use crate::resources::{ENDPOINTS, SERVICES};

/// The Kubernetes service proxy: 200 after a small latency while the Service has Ready
/// endpoints, 503 while it has none, 404 for an unknown Service.
pub(super) async fn service_proxy(
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
