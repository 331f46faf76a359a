//! The daemon's HTTP API (axum): health, metrics, drills, runs, reports, and bearer-token-guarded triggers.
//!
//! The HTTP layer sees only its own [`AppState`]: the configuration, the metrics, where
//! the run store is, and two channels to the runner (a queue of runs to start, and the
//! handle of the run in progress for aborts). The web console's pages ([`console`]) are
//! served by the same router, beside the JSON under `/api/v1`.

use std::sync::Arc;

use parking_lot::Mutex;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use firedrill_core::config::Config;
use firedrill_core::report::Renderer;
use firedrill_core::run::Trigger;
use firedrill_store::Store;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

pub mod console;

/// A run the API asks the runner to start.
#[derive(Debug, Clone, PartialEq)]
pub struct RunJob {
    pub drill: String,
    pub trigger: Trigger,
    pub scheduled_for: Option<chrono::DateTime<Utc>>,
}

/// The run in progress, for `POST /api/v1/runs/{id}/abort`.
#[derive(Debug, Clone)]
pub struct Running {
    pub run_id: String,
    pub cancel: CancellationToken,
}

/// What the HTTP layer can see.
#[derive(Clone)]
pub struct AppState {
    /// The configuration in force (replaced when the daemon reloads it).
    pub config: tokio::sync::watch::Receiver<crate::app::live::LiveConfig>,
    pub metrics: Metrics,
    pub store: crate::app::store::StoreAt,
    pub renderer: Arc<Renderer>,
    /// The bearer token triggers need; `None`: triggering over HTTP is disabled.
    pub token: Option<String>,
    pub jobs: tokio::sync::mpsc::UnboundedSender<RunJob>,
    pub running: Arc<Mutex<Option<Running>>>,
    /// Ready once the targets are connected.
    pub ready: Arc<std::sync::atomic::AtomicBool>,
    /// Whether this replica leads (always true without leader election).
    pub leading: tokio::sync::watch::Receiver<bool>,
    /// The web console: its pages, its viewer token, the sessions its plans use.
    pub console: console::Console,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// The API's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/drills", get(drills))
        .route("/api/v1/drills/{name}/run", post(trigger))
        .route("/api/v1/runs", get(runs))
        .route("/api/v1/runs/{id}", get(run))
        .route("/api/v1/runs/{id}/report", get(report))
        .route("/api/v1/runs/{id}/abort", post(abort))
        .merge(console::routes())
        .with_state(state)
}

/// An error answer: a status and a message, as `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({ "error": self.1 }))).into_response()
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError(status, message.into())
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.ready.load(std::sync::atomic::Ordering::SeqCst) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "recovering interrupted runs\n",
        )
            .into_response()
    }
}

impl AppState {
    fn config(&self) -> Arc<Config> {
        self.config.borrow().config.clone()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.refresh_schedule(&state.config(), Utc::now());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn drills(State(state): State<AppState>) -> Response {
    let now = Utc::now();
    let config = state.config();
    let list: Vec<_> = config
        .drills
        .iter()
        .map(|drill| {
            let schedule = drill.schedule.as_ref();
            json!({
                "name": drill.name,
                "description": drill.description,
                "target": drill.target,
                "cron": schedule.map(|s| s.schedule.cron.to_string()),
                "timezone": schedule.map(|s| s.schedule.timezone.to_string()),
                "next_run": schedule.and_then(|s| s.schedule.next_runs(now, 1).first().copied()),
                "phases": drill.phases.iter().map(|p| json!({
                    "name": p.name,
                    "scenario": p.scenario,
                    "rto_seconds": p.objectives.rto.map(|d| d.as_secs_f64()),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    axum::Json(list).into_response()
}

/// Constant-time comparison, so response timing does not reveal how much of a guessed
/// token was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The bearer token of a request's `Authorization` header, if it has one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// 401 without a bearer token, 403 with a wrong one (or when none is configured).
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(presented) = bearer(headers) else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "this endpoint needs `Authorization: Bearer TOKEN`",
        ));
    };
    check_admin(state, presented).map(|()| "api".into())
}

/// Whether `presented` is the admin token (`api.token`): 403 when it is not, or when
/// none is configured.
fn check_admin(state: &AppState, presented: &str) -> Result<(), ApiError> {
    match &state.token {
        Some(token) if same(token.as_bytes(), presented.as_bytes()) => Ok(()),
        Some(_) => Err(error(StatusCode::FORBIDDEN, "wrong token")),
        None => Err(error(
            StatusCode::FORBIDDEN,
            "no API token is configured (api.token), so runs cannot be triggered over HTTP",
        )),
    }
}

async fn trigger(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let client = match authorize(&state, &headers) {
        Ok(client) => client,
        Err(response) => return response.into_response(),
    };
    if let Err(response) = queue_run(&state, &name, client) {
        return response.into_response();
    }
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({ "queued": name, "runs": "/api/v1/runs" })),
    )
        .into_response()
}

/// Queues a run of drill `name` for the runner, triggered by `client` (the caller checked
/// the admin token): 503 on a follower or while shutting down, 404 for an unknown drill.
fn queue_run(state: &AppState, name: &str, client: String) -> Result<(), ApiError> {
    if !*state.leading.borrow() {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "this replica is not the leader; send the request to the leader (the Lease's holder)",
        ));
    }
    if state.config().drill(name).is_none() {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("no drill named `{name}`"),
        ));
    }
    let job = RunJob {
        drill: name.to_string(),
        trigger: Trigger::Api { client },
        scheduled_for: None,
    };
    state.jobs.send(job).map_err(|_| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the runner is shutting down",
        )
    })
}

async fn abort(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = authorize(&state, &headers) {
        return response.into_response();
    }
    match abort_run(&state, &id) {
        Ok(()) => (StatusCode::ACCEPTED, axum::Json(json!({ "aborting": id }))).into_response(),
        Err(response) => response.into_response(),
    }
}

/// Cancels run `id` if it is the one in progress (the caller checked the admin token):
/// the engine rolls back its current phase and the runner records it aborted.
fn abort_run(state: &AppState, id: &str) -> Result<(), ApiError> {
    let running = state.running.lock().clone();
    match running {
        Some(running) if running.run_id == id => {
            running.cancel.cancel();
            Ok(())
        }
        _ => Err(error(
            StatusCode::NOT_FOUND,
            format!("no run `{id}` in progress"),
        )),
    }
}

/// Runs `f` on the run store (`None` before the first run) on tokio's blocking pool: a
/// SQLite read never stalls the workers that serve other requests and drive the drill.
async fn with_store<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(Option<Box<dyn Store>>) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let at = state.store.clone();
    tokio::task::spawn_blocking(move || {
        if !at.may_hold_runs() {
            return f(None);
        }
        let store = at.open().map_err(|err| {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                crate::exit::error_chain(&err),
            )
        })?;
        f(Some(store))
    })
    .await
    .map_err(|err| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("run store task failed: {err}"),
        )
    })?
}

async fn runs(State(state): State<AppState>) -> Response {
    let listed = with_store(&state, |store| {
        let Some(store) = store else {
            return Ok(Vec::new());
        };
        let runs = store
            .runs()
            .map_err(|err| error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?;
        Ok(runs
            .iter()
            .map(|stored| {
                let run = &stored.entry.run;
                json!({
                    "id": run.id,
                    "drill": run.drill,
                    "started_at": run.started_at,
                    "finished_at": run.finished_at,
                    "outcome": run.outcome.label(),
                    "sha256": stored.sha256,
                })
            })
            .collect::<Vec<_>>())
    })
    .await;
    match listed {
        Ok(runs) => axum::Json(runs).into_response(),
        Err(response) => response.into_response(),
    }
}

async fn stored_run(state: &AppState, id: &str) -> Result<firedrill_store::StoredRun, ApiError> {
    let id = id.to_string();
    with_store(state, move |store| {
        let missing = || error(StatusCode::NOT_FOUND, format!("no run `{id}`"));
        store
            .ok_or_else(missing)?
            .run(&id)
            .map_err(|err| error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?
            .ok_or_else(missing)
    })
    .await
}

async fn run(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match stored_run(&state, &id).await {
        Ok(stored) => axum::Json(stored.entry.run).into_response(),
        Err(response) => response.into_response(),
    }
}

async fn report(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let stored = match stored_run(&state, &id).await {
        Ok(stored) => stored,
        Err(response) => return response.into_response(),
    };
    let run = &stored.entry.run;
    let config = state.config();
    let rendered = match firedrill_notify::render_run(&state.renderer, &config, run) {
        Ok(rendered) => rendered,
        Err(err) => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response();
        }
    };
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            rendered.report_html,
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            rendered.report_markdown,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests;
