//! The subresources drills use besides `status` (handled with the verbs): `scale`,
//! `pods/eviction` (429 while a PodDisruptionBudget forbids it) and `pods/log`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::{Method, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::common::{
    ApiError, ApiResult, AppState, dry_run, json_response, parse_body, status_body,
};
use super::verbs::write;
use crate::controllers::{self, disruption};
use crate::object::{self, int_at, str_at};
use crate::patch::{self, PatchKind};
use crate::resources::{PODDISRUPTIONBUDGETS, PODS, ResourceDef};
use crate::selector::LabelSelector;
use crate::store::Object;

#[allow(clippy::too_many_arguments)]
pub(super) fn scale(
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

pub(super) fn evict(
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

pub(super) fn pod_log(app: &AppState, namespace: &str, name: &str) -> ApiResult {
    let state = app.store.lock();
    let pod = state
        .get(&PODS, namespace, name)
        .ok_or_else(|| ApiError::not_found("pods", name))?;
    let started = str_at(pod, "/status/startTime");
    // A process pod's log is its process's output.
    if let Some(text) = app.processes.log(namespace, name) {
        return Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], text).into_response());
    }
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
