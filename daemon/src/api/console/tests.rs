//! The web console through the API's router: every page, the viewer token, the forms' admin token and origin check.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use firedrill_core::report::Renderer;
use firedrill_core::run::Trigger;
use firedrill_store::{MailQueue, RunStore};
use http_body_util::BodyExt;
use parking_lot::Mutex;
use tower::ServiceExt;

use super::Console;
use crate::api::{AppState, RunJob, Running, router};
use crate::metrics::Metrics;

struct Rig {
    _dir: tempfile::TempDir,
    app: axum::Router,
    jobs: tokio::sync::mpsc::UnboundedReceiver<RunJob>,
    running: Arc<Mutex<Option<Running>>>,
    run_id: String,
}

/// A drill scheduled Mondays 09:00 UTC with one stored run serving the slot of
/// 2026-11-02 (on time), its email and one webhook queued; a drill on a target that
/// does not answer.
fn rig(viewer_token: Option<&str>) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("dead.kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{ name: dead, cluster: { server: \"http://127.0.0.1:9\" } }]\nusers: [{ name: dead, user: {} }]\ncontexts: [{ name: dead, context: { cluster: dead, user: dead } }]\ncurrent-context: dead\n",
    )
    .unwrap();
    let config = firedrill_core::config::load_str(
        "t.yaml",
        &format!(
            "version: 1\ntargets:\n  dead: {{ kind: kubeconfig, kubeconfig: {} }}\ndrills:\n  full-dr:\n    description: Every failure in turn\n    schedule: {{ cron: \"0 9 * * MON\" }}\n    phases: [{{ name: kill, scenario: pod-failure, objectives: {{ rto: 2m }} }}]\n  elsewhere:\n    target: dead\n    phases: [{{ name: kill, scenario: pod-failure }}]\n",
            kubeconfig.display()
        ),
        dir.path(),
        &crate::resolve_context(),
    )
    .unwrap();
    let store_path = dir.path().join("firedrill.db");
    let run = firedrill_core::report::fixtures::passing_run();
    let mut store = firedrill_store::SqliteStore::open(&store_path).unwrap();
    store.append(&run, BTreeMap::new(), Utc::now()).unwrap();
    store.enqueue_mail(&run.id, "{}", Utc::now()).unwrap();
    store
        .enqueue_push(&run.id, "webhook:chat:finished", "{}", Utc::now())
        .unwrap();
    let (jobs_tx, jobs) = tokio::sync::mpsc::unbounded_channel();
    let running: Arc<Mutex<Option<Running>>> = Arc::default();
    let state = AppState {
        config: tokio::sync::watch::channel(crate::app::live::LiveConfig {
            config: Arc::new(config),
            sha256: String::new(),
        })
        .1,
        metrics: Metrics::new().unwrap(),
        store: crate::app::store::StoreAt::Sqlite(store_path),
        renderer: Arc::new(Renderer::with_overrides(&[]).unwrap()),
        token: Some("adm1n".into()),
        jobs: jobs_tx,
        running: running.clone(),
        ready: Arc::new(AtomicBool::new(true)),
        leading: tokio::sync::watch::channel(true).1,
        console: Console::new(viewer_token.map(str::to_string)).unwrap(),
    };
    Rig {
        _dir: dir,
        app: router(state),
        jobs,
        running,
        run_id: run.id,
    }
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn send(app: &axum::Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

/// A form post as a browser sends it from the console itself.
fn form(uri: &str) -> axum::http::request::Builder {
    form_from(uri, "same-origin")
}

/// A form post as a browser sends it from a page whose relation to the console is `site`
/// (`same-origin`, `cross-site`).
fn form_from(uri: &str, site: &str) -> axum::http::request::Builder {
    Request::post(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("host", "127.0.0.1:9477")
        .header("origin", "http://127.0.0.1:9477")
        .header("sec-fetch-site", site)
}

fn post(builder: axum::http::request::Builder, body: &str) -> Request<Body> {
    builder.body(Body::from(body.to_string())).unwrap()
}

fn location(answer: &Answer) -> &str {
    answer
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn every_page_has_one_h1_and_is_sent_with_a_policy_that_allows_no_script() {
    let rig = rig(None);
    let run = format!("/runs/{}", rig.run_id);
    for uri in ["/", "/runs", run.as_str(), "/audit"] {
        let answer = send(&rig.app, get(uri)).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}: {}", answer.body);
        assert_eq!(answer.body.matches("<h1").count(), 1, "{uri}");
        assert!(answer.body.contains("name=\"viewport\""), "{uri}");
        assert!(!answer.body.contains("<script"), "{uri}");
        let policy = answer.headers["content-security-policy"].to_str().unwrap();
        assert!(policy.starts_with("default-src 'none'"), "{uri}: {policy}");
        assert!(!policy.contains("script-src"), "{uri}: {policy}");
        assert_eq!(answer.headers["x-frame-options"], "DENY", "{uri}");
        assert_eq!(answer.headers["cache-control"], "no-store", "{uri}");
    }
    // The report may be framed by the console, and only by it.
    let report = send(&rig.app, get(&format!("{run}/report"))).await;
    assert_eq!(report.status, StatusCode::OK);
    assert!(
        report
            .body
            .contains(&format!("DR Drill Report: {}", rig.run_id))
    );
    assert_eq!(report.headers["x-frame-options"], "SAMEORIGIN");
    let policy = report.headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("frame-ancestors 'self'"), "{policy}");
    // Without a viewer token there is nothing to sign in to.
    let login = send(&rig.app, get("/login?next=/runs")).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&login), "/runs");
}

#[tokio::test]
async fn the_drills_page_shows_each_schedule_in_words_its_next_run_last_result_and_overdue_flag() {
    let rig = rig(None);
    let body = send(&rig.app, get("/")).await.body;
    assert!(body.contains("<th scope=\"row\">full-dr"), "{body}");
    assert!(body.contains("weekly"), "{body}");
    assert!(body.contains("<code>0 9 * * MON</code>"), "{body}");
    assert!(body.contains("<time datetime=\""), "{body}");
    assert!(
        body.contains(&format!("href=\"&#x2F;runs&#x2F;{}\"", rig.run_id))
            || body.contains(&format!("href=\"/runs/{}\"", rig.run_id)),
        "{body}"
    );
    assert!(body.contains("✓ passed"), "{body}");
    // `elsewhere` has no schedule: it cannot be overdue, and says so in words.
    assert!(body.contains("not scheduled (run on demand)"), "{body}");
    assert!(body.contains("never run"), "{body}");
}

#[tokio::test]
async fn runs_are_filtered_by_drill_and_outcome() {
    let rig = rig(None);
    let all = send(&rig.app, get("/runs")).await.body;
    assert!(all.contains("Runs 1–1 of 1"), "{all}");
    assert!(all.contains(&rig.run_id), "{all}");
    assert!(all.contains("pending (0 attempts)"), "{all}");
    let failed = send(&rig.app, get("/runs?drill=full-dr&outcome=failed")).await;
    assert_eq!(failed.status, StatusCode::OK);
    assert!(failed.body.contains("No run matches."), "{}", failed.body);
    assert!(!failed.body.contains(&rig.run_id), "{}", failed.body);
    assert!(
        failed
            .body
            .contains("<option value=\"failed\" selected>failed</option>"),
        "{}",
        failed.body
    );
    assert!(failed.body.contains("Clear the filter"));
}

#[tokio::test]
async fn the_run_page_shows_each_phase_the_evidence_with_hashes_and_the_delivery_status() {
    let rig = rig(None);
    let answer = send(&rig.app, get(&format!("/runs/{}", rig.run_id))).await;
    let body = answer.body;
    for phase in [
        "pod-failure",
        "zone-failure",
        "db-failover",
        "kafka-failover",
    ] {
        assert!(
            body.contains(&format!("<th scope=\"row\">{phase}<br>")),
            "{phase}: {body}"
        );
    }
    assert!(body.contains("38s (2m)"), "{body}");
    assert!(
        body.contains("4f1c2b8a9d3e6f7a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a"),
        "{body}"
    );
    assert!(body.contains("<th scope=\"row\">email</th>"), "{body}");
    assert!(
        body.contains("<th scope=\"row\">webhook:chat:finished</th>"),
        "{body}"
    );
    assert!(body.contains("… pending"), "{body}");
    assert!(body.contains("<iframe class=\"report\""), "{body}");
    assert!(body.contains("sandbox></iframe>"), "{body}");
    let missing = send(&rig.app, get("/runs/nope")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing.body.contains("<h1>Not found</h1>"),
        "{}",
        missing.body
    );
}

#[tokio::test]
async fn the_audit_page_shows_every_slot_of_the_period_and_the_chain() {
    let rig = rig(None);
    let body = send(&rig.app, get("/audit?since=2026-10-26&until=2026-11-08"))
        .await
        .body;
    assert!(body.contains("✓ intact"), "{body}");
    assert!(body.contains("2 scheduled slots"), "{body}");
    assert!(body.contains("✓ on time"), "{body}");
    assert!(
        body.contains("✗ missed: no run recorded (daemon down)"),
        "{body}"
    );
    assert!(body.contains("value=\"2026-10-26\""), "{body}");
    assert!(body.contains(&rig.run_id), "{body}");
    // The period's evidence bundle is a link away, for exactly this period.
    assert!(
        body.contains("href=\"&#x2F;audit&#x2F;bundle?since=2026-10-26&amp;until=2026-11-08\"")
            || body.contains("href=\"/audit/bundle?since=2026-10-26&amp;until=2026-11-08\""),
        "{body}"
    );
    let bundle = send(
        &rig.app,
        get("/audit/bundle?since=2026-10-26&until=2026-11-08"),
    )
    .await;
    assert_eq!(bundle.status, StatusCode::OK, "{}", bundle.body);
    assert_eq!(bundle.headers["content-type"], "application/gzip");
    assert!(bundle.body.starts_with('\u{1f}'), "gzip's magic number");
    assert_eq!(
        bundle.headers["content-disposition"],
        "attachment; filename=\"firedrill-evidence-20261026-20261109.tar.gz\""
    );
    let bad = send(&rig.app, get("/audit?since=2026-11-08&until=2026-10-26")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("role=\"alert\""), "{}", bad.body);
    assert!(bad.body.contains("must be before until"), "{}", bad.body);
}

#[tokio::test]
async fn the_plan_page_of_a_drill_whose_target_does_not_answer_says_why() {
    let rig = rig(None);
    let answer = send(&rig.app, get("/drills/elsewhere/plan")).await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{}", answer.body);
    assert!(answer.body.contains("No plan: target"), "{}", answer.body);
    // The trigger form is there all the same, carrying the admin token field.
    assert!(
        answer
            .body
            .contains("<label for=\"run-token\">Admin token</label>"),
        "{}",
        answer.body
    );
    let unknown = send(&rig.app, get("/drills/nope/plan")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn with_a_viewer_token_pages_need_a_session_cookie_or_a_bearer_token() {
    let rig = rig(Some("v1ewer"));
    let answer = send(&rig.app, get("/runs?drill=full-dr")).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&answer), "/login?next=%2Fruns%3Fdrill%3Dfull-dr");
    let login = send(&rig.app, get(location(&answer))).await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(
        login
            .body
            .contains("<input type=\"hidden\" name=\"next\" value=\"&#x2F;runs?drill=full-dr\">"),
        "{}",
        login.body
    );
    // Bearer tokens: the viewer's and the admin's read; another is refused.
    for (token, status) in [
        ("v1ewer", StatusCode::OK),
        ("adm1n", StatusCode::OK),
        ("guess", StatusCode::FORBIDDEN),
    ] {
        let request = Request::get("/runs")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&rig.app, request).await.status, status, "{token}");
    }
    // The sign-in form: a wrong token is refused, the right one sets the cookie.
    let wrong = send(&rig.app, post(form("/login"), "token=guess&next=%2Fruns")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.headers.get("set-cookie").is_none());
    let right = send(&rig.app, post(form("/login"), "token=v1ewer&next=%2Fruns")).await;
    assert_eq!(right.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&right), "/runs");
    let cookie = right.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("firedrill_console="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_string();
    let request = Request::get("/runs")
        .header("cookie", &pair)
        .body(Body::empty())
        .unwrap();
    let page = send(&rig.app, request).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Sign out"), "{}", page.body);
    // A sign-in never sends the browser to another site.
    let away = send(
        &rig.app,
        post(form("/login"), "token=v1ewer&next=%2F%2Fevil.example"),
    )
    .await;
    assert_eq!(location(&away), "/");
    // Another site's form cannot sign anybody in.
    let cross = send(
        &rig.app,
        post(form_from("/login", "cross-site"), "token=v1ewer"),
    )
    .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    // Signing out clears the cookie.
    let out = send(&rig.app, post(form("/logout").header("cookie", &pair), "")).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(
        out.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    // The JSON API is as it was: its reads need no token.
    assert_eq!(
        send(&rig.app, get("/api/v1/runs")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn triggering_from_the_console_needs_the_admin_token_in_a_same_origin_post() {
    let mut rig = rig(Some("v1ewer"));
    // Another site's page posting the right token is refused.
    let cross = send(
        &rig.app,
        post(
            Request::post("/drills/full-dr/run")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("host", "127.0.0.1:9477")
                .header("origin", "https://evil.example"),
            "token=adm1n",
        ),
    )
    .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN, "{}", cross.body);
    let cross = send(
        &rig.app,
        post(
            form_from("/drills/full-dr/run", "cross-site"),
            "token=adm1n",
        ),
    )
    .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    // No token, or the viewer's: refused.
    let none = send(&rig.app, post(form("/drills/full-dr/run"), "token=")).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    let viewer = send(&rig.app, post(form("/drills/full-dr/run"), "token=v1ewer")).await;
    assert_eq!(viewer.status, StatusCode::FORBIDDEN);
    assert!(rig.jobs.try_recv().is_err(), "nothing was queued");
    // A GET never changes anything.
    let get_run = send(&rig.app, get("/drills/full-dr/run")).await;
    assert_eq!(get_run.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(rig.jobs.try_recv().is_err(), "nothing was queued");
    // The admin token from this origin queues the run, then the drills page says so.
    let queued = send(&rig.app, post(form("/drills/full-dr/run"), "token=adm1n")).await;
    assert_eq!(queued.status, StatusCode::SEE_OTHER, "{}", queued.body);
    assert_eq!(location(&queued), "/?queued=full-dr");
    let job = rig.jobs.try_recv().unwrap();
    assert_eq!(job.drill, "full-dr");
    assert_eq!(
        job.trigger,
        Trigger::Api {
            client: "console".into()
        }
    );
    let request = Request::get("/?queued=full-dr")
        .header("authorization", "Bearer v1ewer")
        .body(Body::empty())
        .unwrap();
    let page = send(&rig.app, request).await.body;
    assert!(page.contains("Drill full-dr queued"), "{page}");
    let unknown = send(&rig.app, post(form("/drills/nope/run"), "token=adm1n")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn aborting_from_the_console_cancels_the_run_in_progress() {
    let rig = rig(None);
    let none = send(&rig.app, post(form("/runs/x/abort"), "token=adm1n")).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    let cancel = tokio_util::sync::CancellationToken::new();
    *rig.running.lock() = Some(Running {
        run_id: "full-dr-1".into(),
        cancel: cancel.clone(),
    });
    let page = send(&rig.app, get("/")).await.body;
    assert!(
        page.contains("action=\"&#x2F;runs&#x2F;full-dr-1&#x2F;abort\""),
        "{page}"
    );
    assert!(
        page.contains("<label for=\"abort-token\">Admin token</label>"),
        "{page}"
    );
    let wrong = send(&rig.app, post(form("/runs/full-dr-1/abort"), "token=no")).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(!cancel.is_cancelled());
    let aborted = send(&rig.app, post(form("/runs/full-dr-1/abort"), "token=adm1n")).await;
    assert_eq!(aborted.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&aborted), "/?aborting=full-dr-1");
    assert!(cancel.is_cancelled());
}
