//! The run journal on SQLite: entries appended in order, read per run, and the queries that
//! find what a killed process left unfinished or unrecorded.

use rusqlite::params;

use super::SqliteStore;
use crate::{RunJournal, StoreError};

impl SqliteStore {
    fn texts(&self, sql: &str, args: impl rusqlite::Params) -> Result<Vec<String>, StoreError> {
        let mut statement = self.conn.prepare_cached(sql)?;
        let rows = statement.query_map(args, |row| row.get::<_, String>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

impl RunJournal for SqliteStore {
    fn journal_append(&self, run_id: &str, kind: &str, entry: &str) -> Result<(), StoreError> {
        // Autocommit with `synchronous = FULL`: synced when `execute` returns.
        self.conn.execute(
            "INSERT INTO journal (run, kind, entry) VALUES (?1, ?2, ?3)",
            params![run_id, kind, entry],
        )?;
        Ok(())
    }

    fn journal_entries(&self, run_id: &str) -> Result<Vec<String>, StoreError> {
        self.texts(
            "SELECT entry FROM journal WHERE run = ?1 ORDER BY seq",
            params![run_id],
        )
    }

    fn journal_runs_without(&self, kind: &str) -> Result<Vec<String>, StoreError> {
        self.texts(
            "SELECT run FROM journal GROUP BY run HAVING SUM(kind = ?1) = 0 ORDER BY MIN(seq)",
            params![kind],
        )
    }

    fn journal_entries_lacking(
        &self,
        kind: &str,
        missing: &str,
    ) -> Result<Vec<String>, StoreError> {
        self.texts(
            "SELECT entry FROM journal WHERE kind = ?1 AND run IN (
                 SELECT run FROM journal GROUP BY run HAVING SUM(kind = ?2) = 0
             ) ORDER BY seq",
            params![kind, missing],
        )
    }
}
