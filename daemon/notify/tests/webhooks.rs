//! Webhooks and Grafana annotations through the outbox to a real HTTP receiver on loopback:
//! what arrives (figures, Slack blocks, headers from secrets, bearer token), a receiver that
//! is down and comes back (delivered once), two senders sharing the store, and refusals
//! that never leak a secret.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use firedrill_core::config::{Config, ResolveContext, load_str};
use firedrill_core::report::Renderer;
use firedrill_core::report::fixtures::{failing_run, slot};
use firedrill_core::run::{RunRecord, Trigger};
use firedrill_notify::{
    Backoff, HttpPusher, deliver_pushes, enqueue_started, publish_run, pushes_configured,
};
use firedrill_store::{DATABASE_FILE, MailQueue, SqliteStore};
use firedrill_tests::receiver::Receiver;

fn config(dir: &Path, notifications: &str) -> Config {
    let text = format!(
        "version: 1\nstorage: {{ path: data }}\napi: {{ public_url: 'https://firedrill.example.com/' }}\nnotifications:\n{notifications}"
    );
    load_str("firedrill.yaml", &text, dir, &ResolveContext::builtin()).unwrap()
}

/// The failing fixture run (phases `pod-failure`, `zone-failure` over its RTO,
/// `db-failover` losing writes, `kafka-failover`) recorded in a fresh store.
fn recorded(dir: &Path, config: &Config) -> (SqliteStore, RunRecord) {
    let run = failing_run();
    let mut store = SqliteStore::open(&dir.join(DATABASE_FILE)).unwrap();
    let published =
        publish_run(&mut store, &Renderer::new().unwrap(), config, &run, slot()).unwrap();
    assert!(!published.email_queued, "no email configured");
    (store, run)
}

async fn pass(
    store: &SqliteStore,
    config: &Config,
    now: DateTime<Utc>,
) -> firedrill_notify::PushPass {
    deliver_pushes(
        store,
        &HttpPusher::new().unwrap(),
        config,
        &Backoff::default(),
        now,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_finished_run_s_summary_arrives_with_its_figures_and_headers_read_from_secrets() {
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hook-token"), "Bearer file-secret-42\n").unwrap();
    let config = config(
        dir.path(),
        &format!(
            "  webhooks:\n    - name: ci\n      url: {}/hooks/firedrill\n      headers:\n        Authorization: {{ file: hook-token }}\n        X-Package: {{ env: CARGO_PKG_NAME }}\n        X-Team: sre\n",
            receiver.url()
        ),
    );
    assert!(pushes_configured(&config));
    let (store, run) = recorded(dir.path(), &config);

    let done = pass(&store, &config, slot()).await;
    assert_eq!(
        done.delivered,
        [(run.id.clone(), "webhook:ci:finished".to_string())]
    );
    let requests = receiver.wait_for(1, Duration::from_secs(5));
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/hooks/firedrill")
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.header("authorization"),
        Some("Bearer file-secret-42")
    );
    // Cargo sets the package's name in the environment of its tests.
    assert_eq!(request.header("x-package"), Some("firedrill-notify"));
    assert_eq!(request.header("x-team"), Some("sre"));

    let body = request.json();
    assert_eq!(body["version"], 1);
    assert_eq!(body["event"], "finished");
    assert_eq!(body["drill"], "full-dr");
    assert_eq!(body["run_id"], run.id.as_str());
    assert_eq!(body["target"], "sandbox");
    assert_eq!(body["trigger"]["kind"], "schedule");
    assert_eq!(
        body["started_at"],
        serde_json::to_value(run.started_at).unwrap()
    );
    assert_eq!(
        body["finished_at"],
        serde_json::to_value(run.finished_at).unwrap()
    );
    assert_eq!(body["outcome"]["label"], "failed");
    let reason = body["outcome"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("zone-failure: recovery took 432s, over the 300s RTO target")
            && reason.contains("db-failover: 3 acknowledged writes lost"),
        "{reason}"
    );
    let phases = body["phases"].as_array().unwrap();
    let names: Vec<&str> = phases.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "pod-failure",
            "zone-failure",
            "db-failover",
            "kafka-failover"
        ]
    );
    let zone = &phases[1];
    assert_eq!(zone["rto_target_seconds"], 300.0);
    assert_eq!(zone["recovery_seconds"], 432.0);
    assert_eq!(zone["rto_met"], false);
    assert_eq!(zone["verdict"], "failed");
    assert_eq!(phases[0]["rto_met"], true);
    assert_eq!(phases[0]["verdict"], "passed");
    assert_eq!(
        body["report_url"],
        format!(
            "https://firedrill.example.com/api/v1/runs/{}/report",
            run.id
        )
        .as_str()
    );

    // Delivered once: later passes send nothing more.
    let later = pass(&store, &config, slot() + chrono::Duration::days(1)).await;
    assert!(later.delivered.is_empty() && later.failed.is_empty());
    assert_eq!(receiver.requests().len(), 1);
    let deliveries = store.push_deliveries(&run.id).unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].delivery.status, "delivered");
    assert_eq!(
        store.delivery(&run.id).unwrap(),
        None,
        "a webhook is not the email"
    );
}

#[tokio::test]
async fn a_slack_webhook_receives_blocks_and_a_text_fallback() {
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &format!(
            "  webhooks:\n    - name: chat\n      format: slack\n      url: {}/services/T0/B0/XYZ\n",
            receiver.url()
        ),
    );
    let (store, run) = recorded(dir.path(), &config);
    pass(&store, &config, slot()).await;
    let body = receiver.wait_for(1, Duration::from_secs(5))[0].json();
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["text"], "full-dr: FAILED");
    let zone = blocks
        .iter()
        .filter_map(|b| b["text"]["text"].as_str())
        .find(|t| t.contains("*zone-failure*"))
        .unwrap();
    assert!(zone.contains("RTO 7m 12s vs target 5m"), "{zone}");
    assert!(zone.contains("failed"), "{zone}");
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains("full-dr FAILED") && text.contains(&run.id),
        "{text}"
    );
    assert!(
        text.contains("zone-failure RTO 7m 12s vs target 5m (failed)"),
        "{text}"
    );
}

#[tokio::test]
async fn a_push_queued_while_the_receiver_is_down_arrives_exactly_once_after_it_comes_back() {
    // A port nothing listens on yet.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &format!("  webhooks:\n    - name: ci\n      url: http://127.0.0.1:{port}/hook\n"),
    );
    let (store, run) = recorded(dir.path(), &config);

    let refused = pass(&store, &config, slot()).await;
    assert_eq!(refused.failed.len(), 1);
    let (_, channel, error) = &refused.failed[0];
    assert_eq!(channel, "webhook:ci:finished");
    assert!(error.starts_with("webhook `ci`: "), "{error}");
    assert!(
        !error.contains("127.0.0.1"),
        "the URL is not in the error: {error}"
    );
    let waiting = &store.push_deliveries(&run.id).unwrap()[0].delivery;
    assert_eq!((waiting.status.as_str(), waiting.attempts), ("pending", 1));

    let receiver = Receiver::on(port);
    // Not due before its backoff (30 s after the first failure), then sent once.
    assert!(
        pass(&store, &config, slot() + chrono::Duration::seconds(10))
            .await
            .delivered
            .is_empty()
    );
    assert!(receiver.requests().is_empty());
    let retried = pass(&store, &config, slot() + chrono::Duration::seconds(30)).await;
    assert_eq!(retried.delivered.len(), 1);
    assert!(
        pass(&store, &config, slot() + chrono::Duration::hours(2))
            .await
            .delivered
            .is_empty()
    );
    let requests = receiver.wait_for(1, Duration::from_secs(5));
    assert_eq!(requests.len(), 1, "exactly once");
    assert_eq!(requests[0].json()["run_id"], run.id.as_str());
    let delivered = &store.push_deliveries(&run.id).unwrap()[0].delivery;
    assert_eq!(
        (delivered.status.as_str(), delivered.attempts),
        ("delivered", 2)
    );
    assert_eq!(delivered.last_error, None);
}

#[tokio::test]
async fn a_refusal_is_retried_and_its_error_never_holds_a_secret() {
    let receiver = Receiver::start();
    receiver.answer(500);
    receiver.echo_headers();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hook-url"),
        format!("{}/hook/s3cret-path\n", receiver.url()),
    )
    .unwrap();
    std::fs::write(dir.path().join("hook-token"), "Bearer s3cret-token").unwrap();
    let config = config(
        dir.path(),
        "  webhooks:\n    - name: chat\n      url: { file: hook-url }\n      headers: { Authorization: { file: hook-token } }\n",
    );
    let (store, run) = recorded(dir.path(), &config);
    let refused = pass(&store, &config, slot()).await;
    let error = &refused.failed[0].2;
    assert!(error.starts_with("webhook `chat`: HTTP 500"), "{error}");
    assert!(
        error.contains("[redacted]"),
        "the echoed token was scrubbed: {error}"
    );
    let stored = store.push_deliveries(&run.id).unwrap()[0].delivery.clone();
    let last_error = stored.last_error.unwrap();
    assert!(!last_error.contains("s3cret"), "{last_error}");
    receiver.answer(200);
    let retried = pass(&store, &config, slot() + chrono::Duration::seconds(30)).await;
    assert_eq!(retried.delivered.len(), 1);
    assert_eq!(receiver.requests().len(), 2);
}

#[tokio::test]
async fn grafana_receives_one_region_annotation_per_phase_with_the_bearer_token() {
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("grafana-token"), "glsa_token_123\n").unwrap();
    let config = config(
        dir.path(),
        &format!(
            "  grafana:\n    url: {}/grafana/\n    token: {{ file: grafana-token }}\n    tags: [firedrill, dr]\n    dashboard_uid: firedrill-overview\n",
            receiver.url()
        ),
    );
    let (store, run) = recorded(dir.path(), &config);
    let done = pass(&store, &config, slot()).await;
    assert_eq!(done.delivered.len(), run.phases.len());
    let requests = receiver.wait_for(run.phases.len(), Duration::from_secs(5));
    assert_eq!(requests.len(), run.phases.len());
    for (request, phase) in requests.iter().zip(&run.phases) {
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", "/grafana/api/annotations")
        );
        assert_eq!(
            request.header("authorization"),
            Some("Bearer glsa_token_123")
        );
        let body = request.json();
        assert_eq!(body["time"], phase.started_at.timestamp_millis());
        assert_eq!(
            body["timeEnd"],
            phase.finished_at.unwrap().timestamp_millis()
        );
        assert_eq!(body["dashboardUID"], "firedrill-overview");
        let tags: Vec<&str> = body["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(
            tags,
            [
                "firedrill",
                "dr",
                "drill:full-dr",
                &format!("phase:{}", phase.name),
                "outcome:failed",
                &format!("verdict:{}", phase.verdict.label()),
            ]
        );
        let text = body["text"].as_str().unwrap();
        assert!(
            text.starts_with(&format!("firedrill full-dr / {}: RTO ", phase.name)),
            "{text}"
        );
        assert!(text.contains(phase.verdict.label()), "{text}");
    }
    let channels: Vec<String> = store
        .push_deliveries(&run.id)
        .unwrap()
        .into_iter()
        .map(|p| p.channel)
        .collect();
    assert_eq!(
        channels,
        [
            "grafana:pod-failure",
            "grafana:zone-failure",
            "grafana:db-failover",
            "grafana:kafka-failover"
        ]
    );
}

#[tokio::test]
async fn two_senders_sharing_the_store_deliver_each_push_once() {
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &format!(
            "  webhooks:\n    - {{ name: a, url: {url}/a }}\n    - {{ name: b, url: {url}/b, events: [started, finished] }}\n  grafana: {{ url: {url}, token: {{ env: CARGO_PKG_NAME }} }}\n",
            url = receiver.url()
        ),
    );
    let (first, run) = recorded(dir.path(), &config);
    let started = RunRecord::begun(
        "full-dr-20261102T100000Z-0002".to_string(),
        "full-dr".to_string(),
        "sandbox".to_string(),
        Trigger::Cli {
            user: "alice".to_string(),
        },
        slot(),
    );
    assert_eq!(
        enqueue_started(&first, &config, &started, slot()).unwrap(),
        1,
        "only b hears started"
    );
    let second = SqliteStore::open(&dir.path().join(DATABASE_FILE)).unwrap();
    let (one, two) = tokio::join!(
        pass(&first, &config, slot()),
        pass(&second, &config, slot())
    );
    // Two finished webhooks, four annotations, one started webhook.
    assert_eq!(one.delivered.len() + two.delivered.len(), 7);
    let requests = receiver.wait_for(7, Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(receiver.requests().len(), 7, "each once: {requests:#?}");
    let started_body = requests
        .iter()
        .map(|r| r.json())
        .find(|b| b["event"] == "started")
        .unwrap();
    assert_eq!(started_body["run_id"], "full-dr-20261102T100000Z-0002");
    assert_eq!(started_body["outcome"], serde_json::Value::Null);
    assert_eq!(first.push_deliveries(&run.id).unwrap().len(), 6);
}
