//! The HTTP API through its router: auth on triggers, listing, records and reports.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;
use firedrill_store::RunStore;

struct Rig {
    _dir: tempfile::TempDir,
    app: Router,
    jobs: tokio::sync::mpsc::UnboundedReceiver<RunJob>,
    run_id: String,
}

fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let config = firedrill_core::config::load_str(
        "t.yaml",
        "version: 1\ndrills:\n  single-pod:\n    schedule: { cron: \"0 10 * * TUE\" }\n    phases: [{ name: kill, scenario: pod-failure, objectives: { rto: 2m } }]\n",
        dir.path(),
        &crate::resolve_context(),
    )
    .unwrap();
    let store_path = dir.path().join("firedrill.db");
    let run = firedrill_core::report::fixtures::passing_run();
    let mut store = firedrill_store::SqliteStore::open(&store_path).unwrap();
    store.append(&run, BTreeMap::new(), Utc::now()).unwrap();
    let (jobs_tx, jobs) = tokio::sync::mpsc::unbounded_channel();
    let state = AppState {
        config: tokio::sync::watch::channel(crate::app::live::LiveConfig {
            config: Arc::new(config),
            sha256: String::new(),
        })
        .1,
        metrics: Metrics::new().unwrap(),
        store: crate::app::store::StoreAt::Sqlite(store_path),
        renderer: Arc::new(Renderer::with_overrides(&[]).unwrap()),
        token: Some("s3cret".into()),
        jobs: jobs_tx,
        running: Arc::new(Mutex::new(None)),
        ready: Arc::new(AtomicBool::new(true)),
        leading: tokio::sync::watch::channel(true).1,
        console: console::Console::new(None).unwrap(),
    };
    Rig {
        _dir: dir,
        app: router(state),
        jobs,
        run_id: run.id,
    }
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn post(uri: &str, token: Option<&str>) -> Request<Body> {
    let mut builder = Request::post(uri);
    if let Some(token) = token {
        builder = builder.header("Authorization", format!("Bearer {token}"));
    }
    builder.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn triggering_a_run_needs_the_bearer_token() {
    let mut rig = rig();
    let (status, body) = send(&rig.app, post("/api/v1/drills/single-pod/run", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = send(
        &rig.app,
        post("/api/v1/drills/single-pod/run", Some("guess")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(rig.jobs.try_recv().is_err(), "nothing was queued");
    let (status, body) = send(
        &rig.app,
        post("/api/v1/drills/single-pod/run", Some("s3cret")),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let job = rig.jobs.try_recv().unwrap();
    assert_eq!(job.drill, "single-pod");
    assert!(matches!(job.trigger, Trigger::Api { .. }));
    let (status, _) = send(&rig.app, post("/api/v1/drills/nope/run", Some("s3cret"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn aborting_needs_the_token_and_a_run_in_progress() {
    let rig = rig();
    let (status, _) = send(&rig.app, post("/api/v1/runs/x/abort", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(&rig.app, post("/api/v1/runs/x/abort", Some("s3cret"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn runs_are_listed_and_served_with_their_measurements_and_report() {
    let rig = rig();
    let (status, body) = send(
        &rig.app,
        Request::get("/api/v1/runs").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list[0]["id"], rig.run_id.as_str());
    assert_eq!(list[0]["outcome"], "passed");

    let uri = format!("/api/v1/runs/{}", rig.run_id);
    let (status, body) = send(&rig.app, Request::get(&uri).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let record: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        record["phases"][0]["recovery_seconds"].is_number(),
        "{record}"
    );

    let report_uri = format!("/api/v1/runs/{}/report", rig.run_id);
    let (status, markdown) = send(
        &rig.app,
        Request::get(&report_uri).body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        markdown.starts_with(&format!("# DR Drill Report: {}", rig.run_id)),
        "{markdown}"
    );
    let (status, html) = send(
        &rig.app,
        Request::get(&report_uri)
            .header("Accept", "text/html")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<table"), "{html}");

    let (status, _) = send(
        &rig.app,
        Request::get("/api/v1/runs/nope")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn health_metrics_and_drills_answer() {
    let rig = rig();
    let (status, _) = send(
        &rig.app,
        Request::get("/healthz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(
        &rig.app,
        Request::get("/readyz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, metrics) = send(
        &rig.app,
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        metrics.contains("firedrill_drill_next_run_timestamp_seconds{drill=\"single-pod\"}"),
        "{metrics}"
    );
    let (status, body) = send(
        &rig.app,
        Request::get("/api/v1/drills").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let drills: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(drills[0]["name"], "single-pod");
    assert!(drills[0]["next_run"].is_string());
}
