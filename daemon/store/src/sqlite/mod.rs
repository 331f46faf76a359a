//! [`SqliteStore`]: the run journal, the run chain, the outbox and the scheduler state in
//! one SQLite file, opened one way.
//!
//! Every connection is opened by [`SqliteStore::open`]: WAL (readers never wait for the
//! writer), `synchronous = FULL` (a committed journal entry survives a power cut, which the
//! engine relies on before each step), a 5 s busy timeout (the daemon, `firedrill run` and
//! reading commands share the file), and the schema created if missing. Every call blocks
//! on the disk: async callers run it on tokio's blocking pool.
//!
//! - `chain`: [`RunStore`](crate::RunStore), the append-only hash chain of run records.
//! - `outbox`: [`MailQueue`](crate::MailQueue), report emails and HTTP pushes until
//!   delivered.
//! - `journal`: [`RunJournal`](crate::RunJournal), the engine's write-ahead entries.
//! - `schedule`: [`ScheduleState`](crate::ScheduleState), how far each drill's slots were handled.
//! - `migrate`: the storage layout of 0.1 (`journal.db` and `scheduler.json` beside
//!   `firedrill.db`) moved into this file on first open.
//! - `schema`: the schema's later versions (`PRAGMA user_version`), applied once on open.

mod chain;
mod journal;
mod migrate;
mod outbox;
mod schedule;
mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::{SigningKey, VerifyingKey};
use rusqlite::Connection;

use crate::StoreError;
use crate::chain::Keys;

pub use migrate::{LEGACY_JOURNAL_FILE, LEGACY_SCHEDULE_FILE};

/// Version 0 of the schema; `schema` changes it from there.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS records (
    seq          INTEGER PRIMARY KEY,
    run_id       TEXT NOT NULL UNIQUE,
    entry        TEXT NOT NULL,
    field_sha256 TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    signature    TEXT
);
-- The chain only grows. Anyone holding the file can drop these triggers; `verify` is what
-- catches that, the triggers stop honest mistakes.
CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'run records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
BEGIN SELECT RAISE(ABORT, 'run records are append-only'); END;

CREATE TABLE IF NOT EXISTS outbox (
    id              INTEGER PRIMARY KEY,
    run_id          TEXT NOT NULL UNIQUE,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'delivered')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    enqueued_at     TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    claimed_at      TEXT,
    delivered_at    TEXT
);

-- The engine's write-ahead journal: one row per entry, in order. `kind` is the entry's
-- tag, kept in its own column for the queries that find unfinished runs.
CREATE TABLE IF NOT EXISTS journal (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    run   TEXT NOT NULL,
    kind  TEXT NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_run ON journal (run);

-- The instant up to which each drill's schedule slots were handled.
CREATE TABLE IF NOT EXISTS schedule (
    drill         TEXT PRIMARY KEY,
    handled_until TEXT NOT NULL
);

-- What this file has done once: migrations from older layouts.
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// The whole store on one SQLite file (`firedrill.db` under `storage.path`).
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    keys: Keys,
}

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the database at `path`, and moves
    /// an older layout's files beside it into it (see `migrate`). Otherwise opening changes
    /// nothing, so reading commands can open the store of a running daemon.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Directory {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(5))
            .and_then(|()| conn.pragma_update(None, "journal_mode", "WAL"))
            .and_then(|()| conn.pragma_update(None, "synchronous", "FULL"))
            .and_then(|()| conn.execute_batch(SCHEMA))
            .map_err(open_err)?;
        schema::migrate(&mut conn, &path.display().to_string())?;
        let mut store = SqliteStore {
            conn,
            path: path.to_path_buf(),
            keys: Keys::default(),
        };
        store.migrate_legacy_files()?;
        Ok(store)
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Signs every appended record's hash; verification then also checks signatures.
    pub fn with_signing_key(mut self, key: SigningKey) -> SqliteStore {
        self.keys.sign_with(key);
        self
    }

    /// Checks signatures with this public key (e.g. an auditor without the secret key).
    pub fn with_verifying_key(mut self, key: VerifyingKey) -> SqliteStore {
        self.keys.verify_with(key);
        self
    }
}
