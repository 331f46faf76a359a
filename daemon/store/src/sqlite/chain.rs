//! The run chain on SQLite: appending under the write lock, reading, and handing the rows
//! to the shared chain rules (`crate::chain`) to verify.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use firedrill_core::run::RunRecord;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::SqliteStore;
use crate::chain::{self, RawRecord};
use crate::{RunStore, StoreError, StoredRun, Verification};

const SELECT_RECORDS: &str =
    "SELECT seq, run_id, entry, field_sha256, sha256, signature FROM records";

/// A row of [`SELECT_RECORDS`].
fn raw_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawRecord> {
    Ok(RawRecord {
        seq: row.get::<_, i64>(0)? as u64,
        run_id: row.get(1)?,
        entry: row.get(2)?,
        field_sha256: row.get(3)?,
        sha256: row.get(4)?,
        signature: row.get(5)?,
    })
}

impl RunStore for SqliteStore {
    fn append(
        &mut self,
        run: &RunRecord,
        report_sha256: BTreeMap<String, String>,
        appended_at: DateTime<Utc>,
    ) -> Result<StoredRun, StoreError> {
        // IMMEDIATE takes the write lock before reading the head, so two writers cannot
        // both chain onto the same predecessor.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: Option<i64> = tx
            .query_row(
                "SELECT seq FROM records WHERE run_id = ?1",
                [&run.id],
                |row| row.get(0),
            )
            .optional()?;
        if exists.is_some() {
            return Err(StoreError::Duplicate(run.id.clone()));
        }
        let head: Option<(u64, String)> = tx
            .query_row(
                "SELECT seq, sha256 FROM records ORDER BY seq DESC LIMIT 1",
                [],
                |row| Ok((row.get::<_, i64>(0)? as u64, row.get(1)?)),
            )
            .optional()?;
        let sealed = chain::seal(head, run, report_sha256, appended_at, &self.keys)?;
        tx.execute(
            "INSERT INTO records (seq, run_id, entry, field_sha256, sha256, signature)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                sealed.seq(),
                run.id,
                sealed.entry_text,
                sealed.field_sha256,
                sealed.sha256,
                sealed.signature
            ],
        )?;
        tx.commit()?;
        Ok(sealed.stored())
    }

    fn runs(&self) -> Result<Vec<StoredRun>, StoreError> {
        self.raw_records()?
            .into_iter()
            .map(RawRecord::into_stored)
            .collect()
    }

    fn run(&self, run_id: &str) -> Result<Option<StoredRun>, StoreError> {
        let raw = self
            .conn
            .query_row(
                &format!("{SELECT_RECORDS} WHERE run_id = ?1"),
                [run_id],
                raw_record,
            )
            .optional()?;
        raw.map(RawRecord::into_stored).transpose()
    }

    fn raw_records(&self) -> Result<Vec<RawRecord>, StoreError> {
        let mut statement = self
            .conn
            .prepare(&format!("{SELECT_RECORDS} ORDER BY seq"))?;
        let rows = statement.query_map([], raw_record)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn verify(&self) -> Result<Verification, StoreError> {
        Ok(chain::verify(&self.raw_records()?, &self.keys))
    }
}
