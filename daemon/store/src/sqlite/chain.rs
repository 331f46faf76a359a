//! The run chain on SQLite: appending under the write lock, reading, and walking it to the first broken link.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, Verifier};
use firedrill_core::run::RunRecord;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde_json::Value;

use super::SqliteStore;
use crate::canonical::{field_digests, path_at_offset, record_hash};
use crate::{
    BrokenLink, ChainEntry, GENESIS_SHA256, RunStore, StoreError, StoredRun, Verification,
};

/// A row of `records` as stored, before any interpretation.
struct RawRecord {
    seq: u64,
    run_id: String,
    entry: String,
    field_sha256: String,
    sha256: String,
    signature: Option<String>,
}

impl RawRecord {
    /// A row of `SELECT seq, run_id, entry, field_sha256, sha256, signature`.
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawRecord> {
        Ok(RawRecord {
            seq: row.get::<_, i64>(0)? as u64,
            run_id: row.get(1)?,
            entry: row.get(2)?,
            field_sha256: row.get(3)?,
            sha256: row.get(4)?,
            signature: row.get(5)?,
        })
    }
}

impl SqliteStore {
    fn raw_records(&self) -> Result<Vec<RawRecord>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT seq, run_id, entry, field_sha256, sha256, signature FROM records ORDER BY seq",
        )?;
        let rows = statement.query_map([], RawRecord::from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn stored(raw: RawRecord) -> Result<StoredRun, StoreError> {
        Ok(StoredRun {
            entry: serde_json::from_str(&raw.entry)?,
            sha256: raw.sha256,
            signed: raw.signature.is_some(),
        })
    }

    /// Checks one record against its predecessor's hash; the first problem found.
    fn check(&self, raw: &RawRecord, prev: Option<&RawRecord>) -> Option<BrokenLink> {
        let broken = |field: &str, problem: String| {
            Some(BrokenLink {
                seq: raw.seq,
                run_id: raw.run_id.clone(),
                field: field.to_string(),
                problem,
            })
        };
        let value: Value = match serde_json::from_str(&raw.entry) {
            Ok(value) => value,
            Err(err) => {
                let offset = line_col_offset(&raw.entry, err.line(), err.column());
                let field = path_at_offset(&raw.entry, offset);
                return broken(
                    if field.is_empty() { "entry" } else { &field },
                    format!("the stored entry is no longer valid JSON ({err})"),
                );
            }
        };
        let recorded: BTreeMap<String, String> = match serde_json::from_str(&raw.field_sha256) {
            Ok(map) => map,
            Err(err) => {
                return broken(
                    "field_sha256",
                    format!("the field digests are no longer valid JSON ({err})"),
                );
            }
        };
        let actual = field_digests(&value);
        // The record hash covers the recorded digests: while it holds, the digests are as
        // appended, so a field that disagrees with its digest is a changed field; when it
        // does not hold, a digest (or the hash itself) was edited.
        let digests_intact = record_hash(&recorded) == raw.sha256;
        for (path, digest) in &actual {
            match recorded.get(path) {
                Some(expected) if expected == digest => {}
                Some(_) if digests_intact => {
                    return broken(path, "does not match its recorded digest".to_string());
                }
                Some(_) => {
                    return broken(
                        &format!("field_sha256[{}]", Value::String(path.clone())),
                        "the recorded digest of this field was changed".to_string(),
                    );
                }
                None => return broken(path, "is not among the recorded fields".to_string()),
            }
        }
        if let Some(path) = recorded.keys().find(|path| !actual.contains_key(*path)) {
            return broken(
                path,
                "was recorded but is missing from the entry".to_string(),
            );
        }
        if !digests_intact {
            return broken(
                "sha256",
                "the record hash does not match the record's field digests".to_string(),
            );
        }
        let entry: ChainEntry = match serde_json::from_value(value) {
            Ok(entry) => entry,
            Err(err) => return broken("entry", format!("is not a run record ({err})")),
        };
        if entry.seq != raw.seq {
            return broken(
                "seq",
                format!(
                    "the row is numbered {} but its entry says {}",
                    raw.seq, entry.seq
                ),
            );
        }
        if entry.run.id != raw.run_id {
            return broken(
                "run_id",
                format!(
                    "the row names run {} but its entry is run {}",
                    raw.run_id, entry.run.id
                ),
            );
        }
        let (expected_prev, expected_seq) = match prev {
            Some(prev) => (prev.sha256.as_str(), prev.seq + 1),
            None => (GENESIS_SHA256, 1),
        };
        if raw.seq != expected_seq {
            return broken(
                "seq",
                format!("expected record {expected_seq} here: a record is missing"),
            );
        }
        if entry.prev_sha256 != expected_prev {
            return broken(
                "prev_sha256",
                format!("does not match the previous record's hash {expected_prev}"),
            );
        }
        if let Some(key) = &self.verifying_key {
            let Some(signature) = &raw.signature else {
                return broken("signature", "the record is not signed".to_string());
            };
            let valid = hex::decode(signature)
                .ok()
                .and_then(|bytes| Signature::from_slice(&bytes).ok())
                .is_some_and(|sig| key.verify(raw.sha256.as_bytes(), &sig).is_ok());
            if !valid {
                return broken(
                    "signature",
                    "is not a valid signature of the record hash by the configured key".to_string(),
                );
            }
        }
        None
    }
}

/// The byte offset of a 1-based line and column, as serde_json reports errors.
fn line_col_offset(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    line_start + column.saturating_sub(1)
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
        let head: Option<(i64, String)> = tx
            .query_row(
                "SELECT seq, sha256 FROM records ORDER BY seq DESC LIMIT 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let (seq, prev_sha256) = match head {
            Some((seq, sha)) => (seq as u64 + 1, sha),
            None => (1, GENESIS_SHA256.to_string()),
        };
        let entry = ChainEntry {
            seq,
            prev_sha256,
            appended_at,
            run: run.clone(),
            report_sha256,
        };
        let value = serde_json::to_value(&entry)?;
        let digests = field_digests(&value);
        let sha256 = record_hash(&digests);
        let signature = self
            .signing_key
            .as_ref()
            .map(|key| hex::encode(key.sign(sha256.as_bytes()).to_bytes()));
        tx.execute(
            "INSERT INTO records (seq, run_id, entry, field_sha256, sha256, signature)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                seq as i64,
                run.id,
                crate::canonical::canonical_json(&value),
                serde_json::to_string(&digests)?,
                sha256,
                signature
            ],
        )?;
        tx.commit()?;
        Ok(StoredRun {
            entry,
            sha256,
            signed: signature.is_some(),
        })
    }

    fn runs(&self) -> Result<Vec<StoredRun>, StoreError> {
        self.raw_records()?.into_iter().map(Self::stored).collect()
    }

    fn run(&self, run_id: &str) -> Result<Option<StoredRun>, StoreError> {
        let raw = self
            .conn
            .query_row(
                "SELECT seq, run_id, entry, field_sha256, sha256, signature FROM records WHERE run_id = ?1",
                [run_id],
                RawRecord::from_row,
            )
            .optional()?;
        raw.map(Self::stored).transpose()
    }

    fn verify(&self) -> Result<Verification, StoreError> {
        let records = self.raw_records()?;
        let mut verification = Verification {
            records: 0,
            head_sha256: None,
            signed_records: 0,
            broken: None,
        };
        let mut prev: Option<&RawRecord> = None;
        for raw in &records {
            verification.records += 1;
            if let Some(broken) = self.check(raw, prev) {
                verification.broken = Some(broken);
                return Ok(verification);
            }
            if raw.signature.is_some() {
                verification.signed_records += 1;
            }
            verification.head_sha256 = Some(raw.sha256.clone());
            prev = Some(raw);
        }
        Ok(verification)
    }
}
