//! The web console: HTML pages for people on the API's address (the drills, the runs, one run with its report, the audit, a drill's plan) and the forms that trigger and abort runs.
//!
//! Pages are rendered on the server from tera templates (`reports/console/`): no
//! JavaScript, no asset from anywhere else, so they work offline, in air-gapped clusters
//! and with scripts disabled. Reading is open, or needs the viewer token
//! (`api.viewer_token`) as a bearer token or as the session cookie `/login` sets
//! ([`access`]). Triggering and aborting need the admin token (`api.token`) typed into
//! the form itself, and every form post must come from this origin; no GET changes
//! anything. Every page is sent with a Content-Security-Policy that allows nothing but
//! its own inline styles, same-origin frames (the report) and form posts to itself.
//!
//! # Layout
//!
//! - this file: [`Console`], [`routes`] and the handlers (the audit's evidence bundle
//!   is `app::bundle`'s, served as a download).
//! - [`access`]: the viewer token, session cookies, the same-origin check.
//! - [`view`]: the page models, built by pure functions.
//! - [`pages`]: the embedded templates.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{SubsecRound, Utc};
use firedrill_core::config::Drill;
use serde::{Deserialize, Serialize};

use super::{ApiError, AppState, abort_run, bearer, check_admin, error, queue_run, with_store};
use crate::app::live::LiveConfig;
use crate::app::plan::DrillPlan;
use crate::app::session::Session;

mod access;
mod pages;
mod view;

#[cfg(test)]
mod tests;

use view::{Layout, RunSummary};

/// What the console's pages may load: their own inline styles, `data:` images, the report
/// in a same-origin frame, forms posted to themselves. No script runs, from anywhere.
const PAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The report as served into the run page's frame: its inline styles and charts only.
const REPORT_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; frame-ancestors 'self'; base-uri 'none'";

/// How long the plan page waits for the target and the scenarios' plans.
const PLAN_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the console cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("the console's templates do not parse")]
    Templates(#[source] tera::Error),
    #[error("rendering the console page `{name}` failed")]
    Render {
        name: String,
        #[source]
        source: tera::Error,
    },
}

/// A target's session the plan page opened, and the configuration it was opened with.
struct PlanSession {
    config_sha256: String,
    session: Arc<Session>,
}

/// The console's part of the API's state: its templates, who may read it, and the
/// sessions its plan pages opened (one per target, reopened when the configuration
/// changes).
#[derive(Clone)]
pub struct Console {
    pages: Arc<pages::Pages>,
    access: access::ViewerAccess,
    plans: Arc<tokio::sync::Mutex<HashMap<String, PlanSession>>>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

impl Console {
    /// The console with its templates compiled; `viewer_token` (the resolved
    /// `api.viewer_token`) guards its pages, `None` leaves them open.
    pub fn new(viewer_token: Option<String>) -> Result<Console, ConsoleError> {
        Ok(Console {
            pages: Arc::new(pages::Pages::new()?),
            access: access::ViewerAccess::new(viewer_token),
            plans: Arc::default(),
        })
    }
}

/// The console's routes, merged into the API's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(drills))
        .route("/runs", get(runs))
        .route("/runs/{id}", get(run))
        .route("/runs/{id}/report", get(report))
        .route("/runs/{id}/abort", post(abort))
        .route("/drills/{name}/plan", get(plan))
        .route("/drills/{name}/run", post(trigger))
        .route("/audit", get(audit))
        .route("/audit/bundle", get(bundle))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
}

// ---------------------------------------------------------------------------------------
// Responses.

/// An HTML response with the console's security headers: `policy` as its CSP, framing as
/// `frame` allows, never cached (pages show live state and may be private).
fn html(status: StatusCode, body: String, policy: &'static str, frame: &'static str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    let pairs = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CONTENT_SECURITY_POLICY, policy),
        (header::X_FRAME_OPTIONS, frame),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in pairs {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Renders page `name` from `page`; a page that cannot be rendered is logged and
/// answered in plain text.
fn render(state: &AppState, status: StatusCode, name: &str, page: &impl Serialize) -> Response {
    match state.console.pages.render(name, page) {
        Ok(body) => html(status, body, PAGE_POLICY, "DENY"),
        Err(err) => {
            let chain = crate::exit::error_chain(&err);
            tracing::error!(page = name, error = %chain, "Could not render a console page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("could not render the page: {chain}\n"),
            )
                .into_response()
        }
    }
}

/// `303 See Other` to `location` (after a form, and to the sign-in page).
fn redirect(location: &str, cookie: Option<String>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::SET_COOKIE, value);
    }
    response
}

fn layout(title: impl Into<String>, section: &'static str, viewer: &Viewer) -> Layout {
    Layout {
        title: title.into(),
        section,
        signed_in: viewer.signed_in,
    }
}

/// A page that only says something, with a link back.
fn message(
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    heading: &str,
    text: String,
    back: (&str, &str),
) -> Response {
    let page = view::MessagePage {
        layout: layout(heading, "", viewer),
        heading: heading.to_string(),
        message: text,
        back_url: back.0.to_string(),
        back_text: back.1.to_string(),
    };
    render(state, status, "message.html", &page)
}

/// An API error as a page.
fn error_page(state: &AppState, viewer: &Viewer, err: ApiError, back: (&str, &str)) -> Response {
    let ApiError(status, text) = err;
    let heading = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::UNAUTHORIZED => "Token needed",
        StatusCode::FORBIDDEN => "Refused",
        StatusCode::SERVICE_UNAVAILABLE => "Not available here",
        _ => "Something went wrong",
    };
    message(state, viewer, status, heading, text, back)
}

fn internal(err: impl std::error::Error) -> ApiError {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        crate::exit::error_chain(&err),
    )
}

// ---------------------------------------------------------------------------------------
// Who is reading.

/// A reader let in: `signed_in` when by a session cookie (the page offers to sign out).
/// As a handler's argument it lets the request in or answers for it ([`viewer`]).
#[derive(Debug, Clone, Copy)]
struct Viewer {
    signed_in: bool,
}

impl axum::extract::FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Response> {
        viewer(state, &parts.headers, &parts.uri).map_err(|response| *response)
    }
}

/// Whether the request carries a valid session cookie.
fn signed_in(state: &AppState, headers: &HeaderMap) -> bool {
    access::cookie(headers, access::COOKIE)
        .is_some_and(|value| state.console.access.session_valid(value, Utc::now()))
}

/// Lets a reader in: anyone while the pages are open; else a valid session cookie, or the
/// viewer (or admin) token as a bearer token. A browser without either is sent to the
/// sign-in form, which brings it back to `uri` afterwards.
fn viewer(state: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<Viewer, Box<Response>> {
    let access = &state.console.access;
    if access.open() {
        return Ok(Viewer { signed_in: false });
    }
    if signed_in(state, headers) {
        return Ok(Viewer { signed_in: true });
    }
    if let Some(token) = bearer(headers) {
        if access.matches(token) || check_admin(state, token).is_ok() {
            return Ok(Viewer { signed_in: false });
        }
        let anonymous = Viewer { signed_in: false };
        return Err(Box::new(message(
            state,
            &anonymous,
            StatusCode::FORBIDDEN,
            "Refused",
            "That bearer token is neither the viewer token nor the admin token.".into(),
            ("/login", "Sign in"),
        )));
    }
    let next = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let encoded: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    Err(Box::new(redirect(&format!("/login?next={encoded}"), None)))
}

/// Refuses a form posted from another site (see [`access::same_origin`]).
fn check_form_origin(state: &AppState, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let public_url = state.config().api.public_url.clone();
    access::same_origin(headers, public_url.as_deref()).map_err(|why| {
        let viewer = Viewer {
            signed_in: signed_in(state, headers),
        };
        Box::new(message(
            state,
            &viewer,
            StatusCode::FORBIDDEN,
            "Refused",
            why,
            ("/", "Drills"),
        ))
    })
}

// ---------------------------------------------------------------------------------------
// Pages.

/// The stored runs as lists show them (none before the first run).
async fn summaries(state: &AppState) -> Result<Vec<RunSummary>, ApiError> {
    with_store(state, |store| {
        let Some(store) = store else {
            return Ok(Vec::new());
        };
        Ok(store
            .runs()
            .map_err(internal)?
            .iter()
            .map(|stored| RunSummary::of(&stored.entry.run))
            .collect())
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
struct DrillsQuery {
    queued: Option<String>,
    aborting: Option<String>,
}

/// A name or run id fit to be repeated on a page (what the forms redirect with).
fn plain_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 200
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// `/`: every drill, its schedule in words, next slot, last result and overdue flag; the
/// run in progress with its abort form.
async fn drills(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<DrillsQuery>,
) -> Response {
    let runs = match summaries(&state).await {
        Ok(runs) => runs,
        Err(err) => return error_page(&state, &viewer, err, ("/", "Drills")),
    };
    let config = state.config();
    let now = Utc::now();
    let mut page = view::drills_page(
        layout("Drills", "drills", &viewer),
        &config,
        &runs,
        |drill| state.metrics.is_overdue(drill, now),
        now,
    );
    page.running = state
        .running
        .lock()
        .clone()
        .map(|running| view::RunningView {
            abort_url: format!("{}/abort", view::run_url(&running.run_id)),
            run_id: running.run_id,
        });
    page.can_trigger = state.token.is_some();
    page.leading = *state.leading.borrow();
    page.notice = match (query.queued, query.aborting) {
        (Some(name), _) if plain_name(&name) && config.drill(&name).is_some() => Some(format!(
            "Drill {name} queued: it starts as soon as no other drill is running, and is listed under Runs once it has finished."
        )),
        (_, Some(id)) if plain_name(&id) => Some(format!(
            "Aborting run {id}: its current phase is rolled back, then the run is recorded as aborted."
        )),
        _ => None,
    };
    render(&state, StatusCode::OK, "drills.html", &page)
}

#[derive(Debug, Default, Deserialize)]
struct RunsQuery {
    drill: Option<String>,
    outcome: Option<String>,
    page: Option<String>,
}

/// `/runs`: the recorded runs, newest first, filtered by drill and outcome, 20 a page.
async fn runs(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<RunsQuery>,
) -> Response {
    let filter = view::RunsFilter::parse(
        query.drill.as_deref(),
        query.outcome.as_deref(),
        query.page.as_deref(),
    );
    let wanted = filter.clone();
    let listed = with_store(&state, move |store| {
        let Some(store) = store else {
            return Ok((view::select(Vec::new(), &wanted), Vec::new()));
        };
        let stored = store.runs().map_err(internal)?;
        let mut known: Vec<String> = stored.iter().map(|s| s.entry.run.drill.clone()).collect();
        known.sort();
        known.dedup();
        let summaries = stored
            .iter()
            .map(|s| RunSummary::of(&s.entry.run))
            .collect();
        let mut selection = view::select(summaries, &wanted);
        // Only the page's runs: one outbox query each.
        for row in &mut selection.rows {
            row.email = store
                .delivery(&row.id)
                .map_err(internal)?
                .map(|d| view::describe_delivery(&d));
        }
        Ok((selection, known))
    })
    .await;
    let (selection, known) = match listed {
        Ok(listed) => listed,
        Err(err) => return error_page(&state, &viewer, err, ("/runs", "Runs")),
    };
    let config = state.config();
    let page = view::runs_page(
        layout("Runs", "runs", &viewer),
        &config,
        &known,
        selection,
        &filter,
    );
    render(&state, StatusCode::OK, "runs.html", &page)
}

/// `/runs/ID`: one run's figures per phase, evidence with hashes, place in the chain,
/// email and push delivery, and its report in a frame.
async fn run(State(state): State<AppState>, viewer: Viewer, Path(id): Path<String>) -> Response {
    let found = with_store(&state, move |store| {
        let missing = || error(StatusCode::NOT_FOUND, format!("No run `{id}` is recorded."));
        let store = store.ok_or_else(missing)?;
        let stored = store.run(&id).map_err(internal)?.ok_or_else(missing)?;
        let email = store.delivery(&id).map_err(internal)?;
        let pushes = store.push_deliveries(&id).map_err(internal)?;
        Ok((stored, email, pushes))
    })
    .await;
    let (stored, email, pushes) = match found {
        Ok(found) => found,
        Err(err) => return error_page(&state, &viewer, err, ("/runs", "Runs")),
    };
    let config = state.config();
    let page = view::run_page(
        layout(format!("Run {}", stored.entry.run.id), "runs", &viewer),
        &config,
        &stored,
        email.as_ref(),
        &pushes,
    );
    render(&state, StatusCode::OK, "run.html", &page)
}

/// `/runs/ID/report`: the run's HTML report as mailed, for the run page's frame.
async fn report(State(state): State<AppState>, viewer: Viewer, Path(id): Path<String>) -> Response {
    let stored = match super::stored_run(&state, &id).await {
        Ok(stored) => stored,
        Err(err) => return error_page(&state, &viewer, err, ("/runs", "Runs")),
    };
    let config = state.config();
    match firedrill_notify::render_run(&state.renderer, &config, &stored.entry.run) {
        Ok(rendered) => html(
            StatusCode::OK,
            rendered.report_html,
            REPORT_POLICY,
            "SAMEORIGIN",
        ),
        Err(err) => error_page(&state, &viewer, internal(err), ("/runs", "Runs")),
    }
}

#[derive(Debug, Default, Deserialize)]
struct AuditQuery {
    since: Option<String>,
    until: Option<String>,
}

/// `/audit`: every scheduled slot of the period on time, late or missed, objectives met,
/// and the chain's verification.
async fn audit(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<AuditQuery>,
) -> Response {
    let given = |text: Option<String>| text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    let (since_text, until_text) = (given(query.since), given(query.until));
    // Whole seconds, as `firedrill audit` does.
    let now = Utc::now().trunc_subsecs(0);
    let mut page = view::AuditPage {
        layout: layout("Audit", "audit", &viewer),
        since: since_text.clone().unwrap_or_default(),
        until: until_text.clone().unwrap_or_default(),
        error: None,
        audit: None,
        period: None,
        unscheduled: Vec::new(),
        bundle_url: None,
    };
    let period = match crate::app::audit::period(
        since_text.as_deref(),
        until_text.as_deref(),
        ("since", "until"),
        now,
    ) {
        Ok(period) => period,
        Err(why) => {
            page.error = Some(why);
            return render(&state, StatusCode::BAD_REQUEST, "audit.html", &page);
        }
    };
    // The bundle of exactly this period: the same texts, the same defaults.
    page.bundle_url = Some(format!(
        "/audit/bundle{}",
        view::query(&[
            ("since", since_text.as_deref().unwrap_or("")),
            ("until", until_text.as_deref().unwrap_or("")),
        ])
    ));
    if since_text.is_none() {
        page.since = period.0.format("%Y-%m-%d").to_string();
    }
    if until_text.is_none() {
        page.until = now.format("%Y-%m-%d").to_string();
    }
    let config = state.config();
    let audited = with_store(&state, move |store| {
        crate::app::audit::audit(&config, store.as_deref(), period, now, &[]).map_err(internal)
    })
    .await;
    match audited {
        Ok(audit) => {
            page.show(audit);
            render(&state, StatusCode::OK, "audit.html", &page)
        }
        Err(err) => error_page(&state, &viewer, err, ("/audit", "Audit")),
    }
}

/// `/audit/bundle`: the evidence bundle of the period (`firedrill audit --bundle`), a
/// `.tar.gz` to check offline with `firedrill verify --bundle`.
async fn bundle(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<AuditQuery>,
) -> Response {
    let given = |text: Option<String>| text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    let now = Utc::now().trunc_subsecs(0);
    let period = match crate::app::audit::period(
        given(query.since).as_deref(),
        given(query.until).as_deref(),
        ("since", "until"),
        now,
    ) {
        Ok(period) => period,
        Err(why) => {
            return message(
                &state,
                &viewer,
                StatusCode::BAD_REQUEST,
                "No bundle",
                why,
                ("/audit", "Audit"),
            );
        }
    };
    let config = state.config();
    let made = with_store(&state, move |store| {
        crate::app::bundle::bundle(&config, store.as_deref(), period, now).map_err(internal)
    })
    .await;
    match made {
        Ok(written) => {
            let name = format!(
                "firedrill-evidence-{}-{}.tar.gz",
                period.0.format("%Y%m%d"),
                period.1.format("%Y%m%d")
            );
            let mut response = (StatusCode::OK, written.bytes).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/gzip"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
            response
        }
        Err(err) => error_page(&state, &viewer, err, ("/audit", "Audit")),
    }
}

/// The plan of `drill` on its own target (and the other targets its phases name),
/// through sessions kept for the plan pages.
async fn plan_of(state: &AppState, live: &LiveConfig, drill: &Drill) -> Result<DrillPlan, String> {
    let target = drill.target.clone();
    let work = async {
        let others = drill.other_targets(&target);
        let mut engines = Vec::new();
        for name in std::iter::once(target.as_str()).chain(others.iter().copied()) {
            let mut sessions = state.console.plans.lock().await;
            let session = match sessions.get(name) {
                Some(kept) if kept.config_sha256 == live.sha256 => kept.session.clone(),
                _ => {
                    let session = crate::app::session::open(&live.config, name)
                        .await
                        .map_err(|err| {
                            format!(
                                "target `{name}` cannot be reached: {}",
                                crate::exit::error_chain(&err)
                            )
                        })?;
                    let session = Arc::new(session);
                    sessions.insert(
                        name.to_string(),
                        PlanSession {
                            config_sha256: live.sha256.clone(),
                            session: session.clone(),
                        },
                    );
                    session
                }
            };
            engines.push(session.engine.clone());
        }
        let mut engines = engines.into_iter();
        let mut engine = engines
            .next()
            .ok_or_else(|| format!("target `{target}` has no session"))?;
        for (name, other) in others.iter().zip(engines) {
            engine.elsewhere.insert((*name).to_string(), other);
        }
        crate::app::plan::plan(&live.config, &engine, drill, &target).await
    };
    tokio::time::timeout(PLAN_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "target `{target}` did not answer within {} s",
                PLAN_TIMEOUT.as_secs()
            ))
        })
}

/// `/drills/NAME/plan`: the dry run (read-only, as `firedrill plan`), and the form that
/// triggers the drill.
async fn plan(State(state): State<AppState>, viewer: Viewer, Path(name): Path<String>) -> Response {
    let live = state.config.borrow().clone();
    let Some(drill) = live.config.drill(&name) else {
        return message(
            &state,
            &viewer,
            StatusCode::NOT_FOUND,
            "Not found",
            format!("No drill named `{name}` is configured."),
            ("/", "Drills"),
        );
    };
    let planned = plan_of(&state, &live, drill).await;
    let mut page = view::plan_page(
        layout(format!("Plan of {}", drill.name), "drills", &viewer),
        drill,
        planned.as_ref().map_err(Clone::clone),
    );
    page.can_trigger = state.token.is_some();
    page.leading = *state.leading.borrow();
    let status = if page.error.is_some() {
        StatusCode::BAD_GATEWAY
    } else {
        StatusCode::OK
    };
    render(&state, status, "plan.html", &page)
}

// ---------------------------------------------------------------------------------------
// Forms.

/// A form carrying the admin token.
#[derive(Debug, Default, Deserialize)]
struct AdminForm {
    #[serde(default)]
    token: String,
}

/// Checks an admin form: from this origin, with the admin token.
fn admin_form(
    state: &AppState,
    headers: &HeaderMap,
    form: &AdminForm,
) -> Result<(), Box<Response>> {
    check_form_origin(state, headers)?;
    let viewer = Viewer {
        signed_in: signed_in(state, headers),
    };
    if form.token.is_empty() {
        return Err(Box::new(message(
            state,
            &viewer,
            StatusCode::UNAUTHORIZED,
            "Token needed",
            "Type the admin token (api.token) into the form.".into(),
            ("/", "Drills"),
        )));
    }
    check_admin(state, &form.token)
        .map_err(|err| Box::new(error_page(state, &viewer, err, ("/", "Drills"))))
}

/// `POST /drills/NAME/run`: queues a run, as `POST /api/v1/drills/NAME/run` does.
async fn trigger(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<AdminForm>,
) -> Response {
    if let Err(response) = admin_form(&state, &headers, &form) {
        return *response;
    }
    match queue_run(&state, &name, "console".into()) {
        Ok(()) => {
            let encoded: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
            redirect(&format!("/?queued={encoded}"), None)
        }
        Err(err) => {
            let viewer = Viewer {
                signed_in: signed_in(&state, &headers),
            };
            error_page(&state, &viewer, err, ("/", "Drills"))
        }
    }
}

/// `POST /runs/ID/abort`: aborts the run in progress, as the API's abort does.
async fn abort(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<AdminForm>,
) -> Response {
    if let Err(response) = admin_form(&state, &headers, &form) {
        return *response;
    }
    match abort_run(&state, &id) {
        Ok(()) => {
            let encoded: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
            redirect(&format!("/?aborting={encoded}"), None)
        }
        Err(err) => {
            let viewer = Viewer {
                signed_in: signed_in(&state, &headers),
            };
            error_page(&state, &viewer, err, ("/", "Drills"))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

/// `GET /login`: the sign-in form (straight on when the pages are open).
async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    let next = access::safe_next(query.next.as_deref());
    if state.console.access.open() || signed_in(&state, &headers) {
        return redirect(&next, None);
    }
    let page = view::LoginPage {
        layout: layout("Sign in", "", &Viewer { signed_in: false }),
        next,
        error: None,
    };
    render(&state, StatusCode::OK, "login.html", &page)
}

#[derive(Debug, Default, Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
    next: Option<String>,
}

/// `POST /login`: the viewer (or admin) token in exchange for a session cookie.
async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Err(response) = check_form_origin(&state, &headers) {
        return *response;
    }
    let next = access::safe_next(form.next.as_deref());
    let access = &state.console.access;
    if access.open() {
        return redirect(&next, None);
    }
    if !(access.matches(&form.token) || check_admin(&state, &form.token).is_ok()) {
        // A wrong guess costs time, so guessing is slow.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let page = view::LoginPage {
            layout: layout("Sign in", "", &Viewer { signed_in: false }),
            next,
            error: Some("That is neither the viewer token nor the admin token.".into()),
        };
        return render(&state, StatusCode::UNAUTHORIZED, "login.html", &page);
    }
    let public_url = state.config().api.public_url.clone();
    let secure = access::over_https(&headers, public_url.as_deref());
    let cookie = access
        .mint(Utc::now())
        .map(|value| access::set_cookie(&value, secure));
    redirect(&next, cookie)
}

/// `POST /logout`: ends the session.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(response) = check_form_origin(&state, &headers) {
        return *response;
    }
    let public_url = state.config().api.public_url.clone();
    let secure = access::over_https(&headers, public_url.as_deref());
    let to = if state.console.access.open() {
        "/"
    } else {
        "/login"
    };
    redirect(to, Some(access::clear_cookie(secure)))
}
