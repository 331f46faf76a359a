//! The PostgreSQL schema, in versions: each migration is applied once, in order, and noted
//! in `schema_migrations`, all under one transaction-scoped advisory lock, so replicas
//! opening a new database at once migrate it once.
//!
//! A released migration is never edited: a change to the schema is a new one at the end.

use ::postgres::Client;

use super::{Failure, LOCK_CLASS};
use crate::StoreError;

/// The second key of the lock every migrating opener takes.
const MIGRATION_LOCK: i32 = 1;

/// Version `i + 1` is `MIGRATIONS[i]`.
const MIGRATIONS: &[&str] = &[
    // 1: the four tables. `entry` is the canonical JSON text exactly as hashed (`jsonb`
    // would rewrite it), and times the scheduler compares keep their nanoseconds as text.
    r#"
CREATE TABLE records (
    seq          bigint PRIMARY KEY CHECK (seq > 0),
    run_id       text NOT NULL UNIQUE,
    entry        text NOT NULL,
    field_sha256 text NOT NULL,
    sha256       text NOT NULL,
    signature    text
);
-- The chain only grows. Whoever owns the table can drop these triggers; `verify` is what
-- catches that, the triggers stop honest mistakes.
CREATE FUNCTION records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'run records are append-only';
END
$$;
CREATE TRIGGER records_no_update BEFORE UPDATE ON records
    FOR EACH ROW EXECUTE FUNCTION records_append_only();
CREATE TRIGGER records_no_delete BEFORE DELETE ON records
    FOR EACH ROW EXECUTE FUNCTION records_append_only();
CREATE TRIGGER records_no_truncate BEFORE TRUNCATE ON records
    FOR EACH STATEMENT EXECUTE FUNCTION records_append_only();

CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id          text NOT NULL UNIQUE,
    payload         text NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'sending', 'delivered')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    enqueued_at     timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    claimed_at      timestamptz,
    delivered_at    timestamptz
);
CREATE INDEX outbox_undelivered ON outbox (id) WHERE status <> 'delivered';

-- The engine's write-ahead journal: one row per entry, in order. `kind` is the entry's
-- tag, kept in its own column for the queries that find unfinished runs.
CREATE TABLE journal (
    seq   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run   text NOT NULL,
    kind  text NOT NULL,
    entry text NOT NULL
);
CREATE INDEX journal_run ON journal (run);

-- The instant up to which each drill's schedule slots were handled (RFC 3339, exact).
CREATE TABLE schedule (
    drill         text PRIMARY KEY,
    handled_until text NOT NULL
);
"#,
    // 2: the outbox keyed by run and channel (`email`, or an HTTP push such as
    // `webhook:slack:finished`) instead of by run alone; every existing message is an email.
    r#"
ALTER TABLE outbox ADD COLUMN channel text NOT NULL DEFAULT 'email';
ALTER TABLE outbox DROP CONSTRAINT outbox_run_id_key;
ALTER TABLE outbox ADD CONSTRAINT outbox_run_id_channel_key UNIQUE (run_id, channel);
"#,
];

/// The schema version this build knows.
pub(super) fn latest_version() -> i32 {
    MIGRATIONS.len() as i32
}

/// The version noted in `schema_migrations`; 0 for a database without it.
fn current_version(client: &mut impl ::postgres::GenericClient) -> Result<i32, Failure> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])?
        .try_get(0)?;
    if !exists {
        return Ok(0);
    }
    Ok(client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )?
        .try_get(0)?)
}

/// Applies the migrations the database lacks; refuses a database migrated by a newer build.
pub(super) fn migrate(client: &mut Client, server: &str) -> Result<(), Failure> {
    let too_new = |found: i32| {
        Failure::Store(StoreError::SchemaTooNew {
            server: server.to_string(),
            found,
            known: latest_version(),
        })
    };
    // Up to date: only read (no lock, no DDL), so a read-only role can open the store.
    match current_version(client)? {
        found if found == latest_version() => return Ok(()),
        found if found > latest_version() => return Err(too_new(found)),
        _ => {}
    }
    let mut tx = client.transaction()?;
    // Held until commit or rollback (also when this process dies): another opener waits
    // here, then finds the migrations applied.
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&LOCK_CLASS, &MIGRATION_LOCK],
    )?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )?;
    let found = current_version(&mut tx)?;
    if found > latest_version() {
        return Err(too_new(found));
    }
    for (version, migration) in (1..).zip(MIGRATIONS).skip(found as usize) {
        tx.batch_execute(migration)?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&version],
        )?;
    }
    tx.commit()?;
    Ok(())
}
