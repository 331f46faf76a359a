//! After a run: the report is rendered, the run recorded with the report hashes, and one
//! email queued and delivered (Maildir, so no server is needed).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use firedrill_core::config::{Config, ResolveContext, SEED_CONFIG, load_str};
use firedrill_core::report::Renderer;
use firedrill_core::report::fixtures::failing_run;
use firedrill_core::run::RunRecord;
use firedrill_notify::{Backoff, deliver_due, mailer_from_config, publish_run};
use firedrill_store::canonical::sha256_hex;
use firedrill_store::{DATABASE_FILE, MailQueue, RunStore, SqliteStore};

fn seed_config(dir: &std::path::Path) -> Config {
    let context = ResolveContext::builtin();
    load_str("firedrill.yaml", SEED_CONFIG, dir, &context).unwrap()
}

#[tokio::test]
async fn a_published_run_is_recorded_with_its_report_hashes_and_mailed_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = seed_config(dir.path());
    let run = RunRecord {
        drill: "zone-failure".to_string(),
        ..failing_run()
    };
    let mut store = SqliteStore::open(&dir.path().join(DATABASE_FILE)).unwrap();
    let renderer = Renderer::new().unwrap();

    let published = publish_run(&mut store, &renderer, &config, &run, Utc::now()).unwrap();
    assert!(published.email_queued);
    let stored = store.run(&run.id).unwrap().unwrap();
    assert_eq!(
        stored.entry.report_sha256["report.md"],
        sha256_hex(published.rendered.report_markdown.as_bytes())
    );
    assert_eq!(stored.entry.report_sha256.len(), 4);
    assert!(store.verify().unwrap().intact());
    // Publishing the same run twice is refused by the chain: no second email either.
    assert!(publish_run(&mut store, &renderer, &config, &run, Utc::now()).is_err());

    // The seed delivers to a Maildir under the config's directory.
    let email = config.email.as_ref().unwrap();
    let mailer = mailer_from_config(&email.transport).unwrap();
    let pass = deliver_due(&store, &mailer, &Backoff::default(), Utc::now())
        .await
        .unwrap();
    assert_eq!(pass.delivered.len(), 1);
    let delivery = store.delivery(&run.id).unwrap().unwrap();
    assert_eq!(delivery.status, "delivered");
    let maildir = dir.path().join("firedrill-data/mailbox/new");
    let files: Vec<_> = std::fs::read_dir(&maildir).unwrap().collect();
    assert_eq!(files.len(), 1);
    let raw = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
    assert!(
        raw.contains("Subject: [firedrill] zone-failure: FAILED (2026-11-02)"),
        "{raw}"
    );
    assert!(raw.contains("To: sre-team@example.com"), "{raw}");
}

#[tokio::test]
async fn the_outbox_loop_delivers_queued_mail_and_stops_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let config = seed_config(dir.path());
    let run = RunRecord {
        drill: "zone-failure".to_string(),
        ..failing_run()
    };
    let mut store = SqliteStore::open(&dir.path().join(DATABASE_FILE)).unwrap();
    publish_run(
        &mut store,
        &Renderer::new().unwrap(),
        &config,
        &run,
        Utc::now(),
    )
    .unwrap();
    let mailer = mailer_from_config(&config.email.as_ref().unwrap().transport).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async {
        let _ = stopped.await;
    };
    let watcher = async {
        // Bounded wait for the loop's first pass to deliver.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while store.delivery(&run.id).unwrap().unwrap().status != "delivered" {
            assert!(
                std::time::Instant::now() < deadline,
                "not delivered within 20 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        stop.send(()).unwrap();
    };
    let (looped, ()) = tokio::join!(
        firedrill_notify::run_outbox(
            &store,
            &mailer,
            Backoff::default(),
            std::time::Duration::from_millis(50),
            shutdown
        ),
        watcher
    );
    looped.unwrap();
    let maildir = dir.path().join("firedrill-data/mailbox/new");
    assert_eq!(std::fs::read_dir(&maildir).unwrap().count(), 1);
}
