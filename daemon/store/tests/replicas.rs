//! PostgreSQL shared by replicas: appends and claims from several connections at once, migrations applied once, passwords and errors, a lost connection.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

use chrono::Utc;
use firedrill_core::report::fixtures::{passing_run_at, slot};
use firedrill_store::{MailQueue, PostgresStore, RunJournal, RunStore, StoreError, report_hashes};

use crate::backends::{Postgres, pg_message};
use crate::chain::key;
use crate::postgres_server::{PASSWORD, PASSWORD_USER, PostgresServer};

/// Runs `work(i, store)` on `n` threads, each with its own connection to `database`,
/// released together; their results in thread order.
fn on_replicas<T: Send + 'static>(
    database: &Postgres,
    n: usize,
    work: impl Fn(usize, PostgresStore) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let start = Arc::new(Barrier::new(n));
    let work = Arc::new(work);
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let store = database.open_store();
            let (start, work) = (start.clone(), work.clone());
            std::thread::spawn(move || {
                start.wait();
                work(i, store)
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|thread| thread.join().unwrap())
        .collect()
}

/// `err` with its causes, as the daemon prints it.
fn chain_of(err: &StoreError) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[test]
fn two_replicas_appending_fifty_runs_each_at_once_form_one_linear_chain() {
    let database = Postgres::new();
    on_replicas(&database, 2, |replica, store| {
        let mut store = store.with_signing_key(key());
        for i in 0..50 {
            let mut run = passing_run_at(slot());
            run.id = format!("replica-{replica}-run-{i}");
            store
                .append(&run, report_hashes([("report.md", "# report")]), Utc::now())
                .unwrap();
        }
    });
    let store = database.open_store().with_signing_key(key());
    let verification = store.verify().unwrap();
    assert!(verification.intact(), "{:?}", verification.broken);
    assert_eq!(verification.records, 100);
    assert_eq!(verification.signed_records, 100);
    let runs = store.runs().unwrap();
    let seqs: Vec<u64> = runs.iter().map(|run| run.entry.seq).collect();
    assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
    for pair in runs.windows(2) {
        assert_eq!(pair[1].entry.prev_sha256, pair[0].sha256);
    }
    let ids: BTreeSet<&str> = runs.iter().map(|run| run.entry.run.id.as_str()).collect();
    assert_eq!(ids.len(), 100);
}

#[test]
fn two_replicas_claiming_due_mail_at_once_claim_each_message_once() {
    let database = Postgres::new();
    let now = slot();
    let store = database.open_store();
    for i in 0..50 {
        assert!(store.enqueue_mail(&format!("run-{i}"), "{}", now).unwrap());
    }
    let all: BTreeSet<i64> = store.due_mail(now).unwrap().iter().map(|m| m.id).collect();
    assert_eq!(all.len(), 50);
    // Both walk the same due list in the same order, so they contend for every message.
    let claimed = on_replicas(&database, 2, move |_, store| {
        let due = store.due_mail(now).unwrap();
        due.iter()
            .filter(|mail| store.claim_mail(mail.id, now).unwrap())
            .map(|mail| mail.id)
            .collect::<Vec<i64>>()
    });
    let total: usize = claimed.iter().map(Vec::len).sum();
    let union: BTreeSet<i64> = claimed.iter().flatten().copied().collect();
    assert_eq!(total, 50, "claimed: {claimed:?}");
    assert_eq!(union, all);
    for i in 0..50 {
        let delivery = store.delivery(&format!("run-{i}")).unwrap().unwrap();
        assert_eq!(
            (delivery.status.as_str(), delivery.attempts),
            ("sending", 1)
        );
    }
}

#[test]
fn replicas_opening_a_new_database_at_once_migrate_it_once() {
    let server = PostgresServer::shared();
    let database = server.create_database();
    let url = server.url(&database);
    let start = Arc::new(Barrier::new(4));
    let openers: Vec<_> = (0..4)
        .map(|_| {
            let (url, start) = (url.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                PostgresStore::open(&url, None).map(drop)
            })
        })
        .collect();
    for opener in openers {
        opener.join().unwrap().unwrap();
    }
    let mut admin = server.admin(&database);
    let row = admin
        .query_one("SELECT count(*), max(version) FROM schema_migrations", &[])
        .unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i32>(1)), (2, 2));
}

#[test]
fn a_store_migrated_by_a_newer_firedrill_is_refused() {
    let database = Postgres::new();
    drop(database.open_store());
    database
        .admin()
        .batch_execute("INSERT INTO schema_migrations (version) VALUES (99)")
        .unwrap();
    let err = PostgresStore::open(&database.url(), None).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                found: 99,
                known: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade firedrill"), "{err}");
}

/// A database of schema version 1 held one email per run: migrated to version 2, its
/// undelivered email is still the run's email, and the run takes HTTP pushes beside it.
#[test]
fn a_version_1_outbox_keeps_its_email_and_takes_pushes_after_the_upgrade() {
    let database = Postgres::new();
    drop(database.open_store());
    // Back to version 1 as it was released, with an email waiting.
    database
        .admin()
        .batch_execute(
            "ALTER TABLE outbox DROP CONSTRAINT outbox_run_id_channel_key;
             ALTER TABLE outbox DROP COLUMN channel;
             ALTER TABLE outbox ADD CONSTRAINT outbox_run_id_key UNIQUE (run_id);
             DELETE FROM schema_migrations WHERE version = 2;
             INSERT INTO outbox (run_id, payload, status, enqueued_at, next_attempt_at)
                 VALUES ('run-a', 'mail', 'pending', now(), now());",
        )
        .unwrap();
    let store = database.open_store();
    let now = Utc::now();
    let due = store.due_mail(now).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        (
            due[0].run_id.as_str(),
            due[0].channel.as_str(),
            due[0].payload.as_str()
        ),
        ("run-a", "email", "mail")
    );
    assert!(
        !store.enqueue_mail("run-a", "again", now).unwrap(),
        "still one email"
    );
    assert!(
        store
            .enqueue_push("run-a", "webhook:chat:finished", "{}", now)
            .unwrap()
    );
    assert_eq!(store.due_pushes(now).unwrap().len(), 1);
    assert_eq!(store.delivery("run-a").unwrap().unwrap().status, "pending");
    let row = database
        .admin()
        .query_one("SELECT max(version) FROM schema_migrations", &[])
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 2);
}

#[test]
fn a_role_that_may_only_read_opens_an_up_to_date_store() {
    let database = Postgres::new();
    database
        .open_store()
        .journal_append("run-a", "run-started", "{}")
        .unwrap();
    let mut admin = database.admin();
    let name = admin
        .query_one("SELECT current_database()", &[])
        .unwrap()
        .get::<_, String>(0);
    let reader = format!("{name}_reader");
    admin
        .batch_execute(&format!(
            "CREATE ROLE {reader} LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader}"
        ))
        .unwrap();
    let url = database.url().replace("postgres@", &format!("{reader}@"));
    let store = PostgresStore::open(&url, None).unwrap();
    assert_eq!(store.journal_entries("run-a").unwrap(), ["{}"]);
    let refused = store
        .journal_append("run-b", "run-started", "{}")
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::Postgres { .. }),
        "{refused:?}"
    );
}

#[test]
fn the_records_table_refuses_truncation() {
    let database = Postgres::new();
    let mut store = database.open_store();
    store
        .append(&passing_run_at(slot()), Default::default(), slot())
        .unwrap();
    let refused = database
        .admin()
        .batch_execute("TRUNCATE records")
        .unwrap_err();
    assert!(pg_message(&refused).contains("append-only"), "{refused:?}");
    assert_eq!(store.verify().unwrap().records, 1);
}

#[test]
fn a_password_outside_the_url_is_used_and_errors_name_the_server_but_never_the_password() {
    let server = PostgresServer::shared();
    let database = server.create_database();
    let url = format!(
        "postgres://{PASSWORD_USER}@127.0.0.1:{}/{database}?sslmode=disable",
        server.port
    );
    server
        .admin(&database)
        .batch_execute(&format!("GRANT ALL ON SCHEMA public TO {PASSWORD_USER}"))
        .unwrap();
    let store = PostgresStore::open(&url, Some(PASSWORD)).unwrap();
    store.journal_append("run-a", "run-started", "{}").unwrap();
    let named = format!("127.0.0.1:{}/{database}", server.port);
    assert_eq!(store.server(), named);
    assert!(!format!("{store:?}").contains(PASSWORD));

    let wrong = PostgresStore::open(&url, Some("not the password")).unwrap_err();
    assert!(
        matches!(wrong, StoreError::PostgresConnect { .. }),
        "{wrong:?}"
    );
    let text = chain_of(&wrong);
    assert!(text.contains(&named), "{text}");
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(!text.contains("not the password"), "{text}");

    // A password in the URL wins, and is not quoted either.
    let in_url = url.replace(
        &format!("{PASSWORD_USER}@"),
        &format!("{PASSWORD_USER}:wrong-in-url@"),
    );
    let wrong = PostgresStore::open(&in_url, Some(PASSWORD)).unwrap_err();
    let text = chain_of(&wrong);
    assert!(!text.contains("wrong-in-url"), "{text}");

    // Nobody listening: named too.
    let closed = format!("postgres://u:secret@127.0.0.1:1/{database}?connect_timeout=2");
    let unreachable = PostgresStore::open(&closed, None).unwrap_err();
    let text = chain_of(&unreachable);
    assert!(text.contains(&format!("127.0.0.1:1/{database}")), "{text}");
    assert!(!text.contains("secret"), "{text}");
}

#[test]
fn a_store_whose_connection_the_server_closed_connects_again() {
    let database = Postgres::new();
    let store = database.open_store();
    store.journal_append("run-a", "run-started", "{}").unwrap();
    let terminated = database
        .admin()
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'firedrill'",
            &[],
        )
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(terminated, 1);
    let start = std::time::Instant::now();
    while database
        .admin()
        .query_one(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'firedrill'",
            &[],
        )
        .unwrap()
        .get::<_, i64>(0)
        > 0
    {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "the session ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The server ended the session before the call: the call finds that out before sending
    // anything and runs on a new connection (as after a restart of the server).
    store.journal_append("run-a", "run-finished", "{}").unwrap();
    assert_eq!(store.journal_entries("run-a").unwrap(), ["{}", "{}"]);
}

/// How the daemon calls the store: opened on tokio's blocking pool, used there or in
/// `block_in_place` (the client runs a runtime of its own, which a worker may not block
/// on), and dropped anywhere, a worker included.
#[test]
fn a_store_is_opened_and_used_from_tokio_blocking_pool_and_block_in_place() {
    let database = Postgres::new();
    let url = database.url();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let store = tokio::task::spawn_blocking(move || PostgresStore::open(&url, None))
            .await
            .unwrap()
            .unwrap();
        tokio::task::block_in_place(|| store.journal_append("run-a", "run-started", "{}")).unwrap();
        let store = tokio::task::spawn_blocking(move || {
            store.journal_append("run-a", "injecting", "{}").unwrap();
            store
        })
        .await
        .unwrap();
        assert_eq!(
            tokio::task::block_in_place(|| store.journal_entries("run-a")).unwrap(),
            ["{}", "{}"]
        );
        // On a worker: the connection closes on a thread of its own.
        drop(store);
    });
}

/// `sslmode=require` goes through TLS (the test server offers none), and the refusal
/// names the server.
#[test]
fn sslmode_require_refuses_a_server_without_tls_naming_it() {
    let database = Postgres::new();
    let url = database.url().replace("sslmode=disable", "sslmode=require");
    let err = PostgresStore::open(&url, None).unwrap_err();
    assert!(matches!(err, StoreError::PostgresConnect { .. }), "{err:?}");
    let text = chain_of(&err);
    let port = PostgresServer::shared().port;
    assert!(text.contains(&format!("127.0.0.1:{port}/")), "{text}");
    assert!(text.contains("TLS"), "{text}");
}
