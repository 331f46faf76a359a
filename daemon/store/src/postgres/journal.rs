//! The run journal on PostgreSQL: each entry committed when `journal_append` returns, read
//! per run, and the queries that find what a killed process left unfinished or unrecorded.

use ::postgres::types::ToSql;

use super::PostgresStore;
use crate::{RunJournal, StoreError};

impl PostgresStore {
    fn texts(&self, sql: &str, args: &[&(dyn ToSql + Sync)]) -> Result<Vec<String>, StoreError> {
        self.call(|client| {
            let mut texts = Vec::new();
            for row in client.query(sql, args)? {
                texts.push(row.try_get(0)?);
            }
            Ok(texts)
        })
    }
}

impl RunJournal for PostgresStore {
    fn journal_append(&self, run_id: &str, kind: &str, entry: &str) -> Result<(), StoreError> {
        // Autocommit: committed (and flushed, see `connect`) when `execute` returns.
        self.call(|client| {
            client.execute(
                "INSERT INTO journal (run, kind, entry) VALUES ($1, $2, $3)",
                &[&run_id, &kind, &entry],
            )?;
            Ok(())
        })
    }

    fn journal_entries(&self, run_id: &str) -> Result<Vec<String>, StoreError> {
        self.texts(
            "SELECT entry FROM journal WHERE run = $1 ORDER BY seq",
            &[&run_id],
        )
    }

    fn journal_runs_without(&self, kind: &str) -> Result<Vec<String>, StoreError> {
        self.texts(
            "SELECT run FROM journal GROUP BY run
             HAVING count(*) FILTER (WHERE kind = $1) = 0 ORDER BY min(seq)",
            &[&kind],
        )
    }

    fn journal_entries_lacking(
        &self,
        kind: &str,
        missing: &str,
    ) -> Result<Vec<String>, StoreError> {
        self.texts(
            "SELECT entry FROM journal WHERE kind = $1 AND run IN (
                 SELECT run FROM journal GROUP BY run
                 HAVING count(*) FILTER (WHERE kind = $2) = 0
             ) ORDER BY seq",
            &[&kind, &missing],
        )
    }
}
