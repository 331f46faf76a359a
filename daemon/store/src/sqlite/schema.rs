//! The SQLite file's schema changes, in versions kept in `PRAGMA user_version`: each is
//! applied once, in order, in one `IMMEDIATE` transaction, so two processes opening an old
//! file at once change it once.
//!
//! Version 0 is the base schema `open` creates (`CREATE TABLE IF NOT EXISTS`, as 0.1 and
//! 0.2 wrote it); a released version is never edited: a change is a new one at the end.

use rusqlite::{Connection, TransactionBehavior};

use crate::StoreError;

/// Version `i + 1` is `MIGRATIONS[i]`.
const MIGRATIONS: &[&str] = &[
    // 1: the outbox keyed by run and channel (`email`, or an HTTP push such as
    // `webhook:slack:finished`) instead of by run alone. SQLite cannot drop the old
    // UNIQUE (run_id), so the table is rebuilt; every existing message is an email.
    r#"
CREATE TABLE outbox_by_channel (
    id              INTEGER PRIMARY KEY,
    run_id          TEXT NOT NULL,
    channel         TEXT NOT NULL DEFAULT 'email',
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'delivered')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    enqueued_at     TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    claimed_at      TEXT,
    delivered_at    TEXT,
    UNIQUE (run_id, channel)
);
INSERT INTO outbox_by_channel (id, run_id, channel, payload, status, attempts, last_error,
                               enqueued_at, next_attempt_at, claimed_at, delivered_at)
    SELECT id, run_id, 'email', payload, status, attempts, last_error,
           enqueued_at, next_attempt_at, claimed_at, delivered_at
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_by_channel RENAME TO outbox;
"#,
];

/// The schema version this build knows.
pub(super) fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Applies the versions `conn`'s file lacks; refuses a file a newer build changed.
pub(super) fn migrate(conn: &mut Connection, path: &str) -> Result<(), StoreError> {
    let too_new = |found| StoreError::SqliteSchemaTooNew {
        path: path.to_string(),
        found,
        known: latest_version(),
    };
    // Up to date: only read, so reading commands never wait for the writer's lock here.
    match version(conn)? {
        found if found == latest_version() => return Ok(()),
        found if found > latest_version() => return Err(too_new(found)),
        _ => {}
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another process may have migrated it while this one waited for the lock.
    let found = version(&tx)?;
    if found > latest_version() {
        return Err(too_new(found));
    }
    for (to, migration) in (1..).zip(MIGRATIONS).skip(found.max(0) as usize) {
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", to)?;
    }
    tx.commit()?;
    Ok(())
}
