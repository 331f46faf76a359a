//! The run chain on PostgreSQL: appending under a transaction-scoped advisory lock, so
//! replicas appending at once still form one line; the chain's rules are shared
//! (`crate::chain`).

use std::collections::BTreeMap;

use ::postgres::Row;
use chrono::{DateTime, Utc};
use firedrill_core::run::RunRecord;

use super::{Failure, LOCK_CLASS, PostgresStore};
use crate::chain::{self, RawRecord};
use crate::{RunStore, StoreError, StoredRun, Verification};

/// The second key of the lock every appender takes.
const CHAIN_LOCK: i32 = 2;

const SELECT_RECORDS: &str =
    "SELECT seq, run_id, entry, field_sha256, sha256, signature FROM records";

/// A row of [`SELECT_RECORDS`].
fn raw_record(row: &Row) -> Result<RawRecord, Failure> {
    Ok(RawRecord {
        seq: row.try_get::<_, i64>(0)? as u64,
        run_id: row.try_get(1)?,
        entry: row.try_get(2)?,
        field_sha256: row.try_get(3)?,
        sha256: row.try_get(4)?,
        signature: row.try_get(5)?,
    })
}

impl RunStore for PostgresStore {
    fn append(
        &mut self,
        run: &RunRecord,
        report_sha256: BTreeMap<String, String>,
        appended_at: DateTime<Utc>,
    ) -> Result<StoredRun, StoreError> {
        let keys = &self.keys;
        self.call(|client| {
            let mut tx = client.transaction()?;
            // Every appender queues here before it reads the head, so two replicas cannot
            // both chain onto the same predecessor. Released at commit or rollback (also
            // when the connection drops). Each later statement sees what the previous
            // holder committed (READ COMMITTED takes a snapshot per statement).
            tx.execute(
                "SELECT pg_advisory_xact_lock($1, $2)",
                &[&LOCK_CLASS, &CHAIN_LOCK],
            )?;
            if tx
                .query_opt("SELECT 1 FROM records WHERE run_id = $1", &[&run.id])?
                .is_some()
            {
                return Err(StoreError::Duplicate(run.id.clone()).into());
            }
            let head = match tx.query_opt(
                "SELECT seq, sha256 FROM records ORDER BY seq DESC LIMIT 1",
                &[],
            )? {
                Some(row) => Some((row.try_get::<_, i64>(0)? as u64, row.try_get(1)?)),
                None => None,
            };
            let sealed = chain::seal(head, run, report_sha256, appended_at, keys)?;
            tx.execute(
                "INSERT INTO records (seq, run_id, entry, field_sha256, sha256, signature)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &sealed.seq(),
                    &run.id,
                    &sealed.entry_text,
                    &sealed.field_sha256,
                    &sealed.sha256,
                    &sealed.signature,
                ],
            )?;
            tx.commit()?;
            Ok(sealed.stored())
        })
    }

    fn runs(&self) -> Result<Vec<StoredRun>, StoreError> {
        self.raw_records()?
            .into_iter()
            .map(RawRecord::into_stored)
            .collect()
    }

    fn run(&self, run_id: &str) -> Result<Option<StoredRun>, StoreError> {
        let raw = self.call(|client| {
            client
                .query_opt(&format!("{SELECT_RECORDS} WHERE run_id = $1"), &[&run_id])?
                .as_ref()
                .map(raw_record)
                .transpose()
        })?;
        raw.map(RawRecord::into_stored).transpose()
    }

    fn raw_records(&self) -> Result<Vec<RawRecord>, StoreError> {
        self.call(|client| {
            client
                .query(&format!("{SELECT_RECORDS} ORDER BY seq"), &[])?
                .iter()
                .map(raw_record)
                .collect()
        })
    }

    fn verify(&self) -> Result<Verification, StoreError> {
        Ok(chain::verify(&self.raw_records()?, &self.keys))
    }
}
