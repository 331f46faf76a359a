//! Moving the storage layout of firedrill 0.1 into the one file: `journal.db` (the run
//! journal) and `scheduler.json` (handled slots) beside `firedrill.db`.
//!
//! The move happens once, inside one write transaction that also marks it done in `meta`,
//! so two processes opening the directory at once import it once. The old files are then
//! renamed `*.migrated`, kept for whoever wants to look; nothing is deleted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::SqliteStore;
use crate::StoreError;

/// The run journal of 0.1, under the storage directory.
pub const LEGACY_JOURNAL_FILE: &str = "journal.db";
/// The scheduler state of 0.1, under the storage directory.
pub const LEGACY_SCHEDULE_FILE: &str = "scheduler.json";

struct Legacy {
    /// `meta` key marking the import done.
    key: &'static str,
    file: PathBuf,
}

impl SqliteStore {
    /// Imports the older layout's files found beside this store (once), then renames them.
    pub(super) fn migrate_legacy_files(&mut self) -> Result<(), StoreError> {
        let Some(dir) = self.path.parent().map(Path::to_path_buf) else {
            return Ok(());
        };
        let found: Vec<Legacy> = [
            ("migrated:journal.db", LEGACY_JOURNAL_FILE),
            ("migrated:scheduler.json", LEGACY_SCHEDULE_FILE),
        ]
        .into_iter()
        .map(|(key, name)| Legacy {
            key,
            file: dir.join(name),
        })
        .filter(|legacy| legacy.file.exists())
        .collect();
        if found.is_empty() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for legacy in &found {
            let done: Option<String> = tx
                .query_row(
                    "SELECT value FROM meta WHERE key = ?1",
                    [legacy.key],
                    |row| row.get(0),
                )
                .optional()?;
            if done.is_some() {
                continue;
            }
            let imported = if legacy.key.ends_with("journal.db") {
                import_journal(&tx, &legacy.file)?
            } else {
                import_schedule(&tx, &legacy.file)?
            };
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                params![
                    legacy.key,
                    format!("{imported} rows from {}", legacy.file.display())
                ],
            )?;
        }
        tx.commit()?;
        for legacy in &found {
            let mut kept = legacy.file.clone().into_os_string();
            kept.push(".migrated");
            // Best effort: the import is marked done, so a file that stays is never read again.
            let _ = std::fs::rename(&legacy.file, kept);
        }
        Ok(())
    }
}

fn migrate_error(file: &Path, problem: impl std::fmt::Display) -> StoreError {
    StoreError::Migrate {
        path: file.display().to_string(),
        problem: problem.to_string(),
    }
}

/// Copies every journal entry of the old file, in order. An old journal that cannot be
/// read stops the open: it may say which rollbacks a killed run still owes.
fn import_journal(tx: &Connection, file: &Path) -> Result<usize, StoreError> {
    let old = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|err| migrate_error(file, err))?;
    let read = || -> rusqlite::Result<Vec<(String, String, String)>> {
        let exists: Option<String> = old
            .query_row(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'journal'",
                [],
                |row| row.get(0),
            )
            .optional()?;
        if exists.is_none() {
            return Ok(Vec::new()); // created, never written
        }
        let mut statement = old.prepare("SELECT run, kind, entry FROM journal ORDER BY seq")?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
        rows.collect()
    };
    let rows = read().map_err(|err| migrate_error(file, err))?;
    let mut insert = tx.prepare("INSERT INTO journal (run, kind, entry) VALUES (?1, ?2, ?3)")?;
    for (run, kind, entry) in &rows {
        insert.execute(params![run, kind, entry])?;
    }
    Ok(rows.len())
}

/// Copies the handled instants. A file that does not parse was treated as empty by 0.1 (the
/// schedule starts afresh), and is here too; it is kept, renamed, like a good one.
fn import_schedule(tx: &Connection, file: &Path) -> Result<usize, StoreError> {
    let text = std::fs::read_to_string(file).map_err(|err| migrate_error(file, err))?;
    let handled: BTreeMap<String, DateTime<Utc>> = serde_json::from_str(&text).unwrap_or_default();
    super::schedule::save(tx, &handled)?;
    Ok(handled.len())
}
