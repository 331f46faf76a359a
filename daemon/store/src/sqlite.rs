//! [`SqliteRunStore`]: the run chain and the outbox in one SQLite file.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use firedrill_core::run::RunRecord;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::Value;

use crate::canonical::{field_digests, path_at_offset, record_hash};
use crate::{
    BrokenLink, ChainEntry, Delivery, GENESIS_SHA256, MailQueue, QueuedMail, RunStore, StoreError,
    StoredRun, Verification,
};

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
";

/// The run store and outbox on an SQLite file.
#[derive(Debug)]
pub struct SqliteRunStore {
    conn: Connection,
    signing_key: Option<SigningKey>,
    verifying_key: Option<VerifyingKey>,
}

fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse_time(text: &str) -> DateTime<Utc> {
    // Only this module writes these columns, always with `time_text`.
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// How long a claimed message may stay `sending` before another pass may take it: far
/// longer than an SMTP exchange (30 s timeout), so only a sender that died mid-send loses
/// its claim. Its message is then sent again (at least once, never lost), with the same
/// Message-ID so mail systems can drop the duplicate.
const CLAIM_LEASE: chrono::Duration = chrono::Duration::minutes(10);

fn lease_expired(now: DateTime<Utc>) -> String {
    time_text(now - CLAIM_LEASE)
}

/// A row of `records` as stored, before any interpretation.
struct RawRecord {
    seq: u64,
    run_id: String,
    entry: String,
    field_sha256: String,
    sha256: String,
    signature: Option<String>,
}

impl SqliteRunStore {
    /// Opens (creating if needed) the database at `path`. Opening changes nothing, so
    /// reading commands can open the store of a running daemon.
    pub fn open(path: &Path) -> Result<SqliteRunStore, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.execute_batch(SCHEMA).map_err(open_err)?;
        Ok(SqliteRunStore {
            conn,
            signing_key: None,
            verifying_key: None,
        })
    }

    /// Signs every appended record's hash; verification then also checks signatures.
    pub fn with_signing_key(mut self, key: SigningKey) -> SqliteRunStore {
        self.verifying_key = Some(key.verifying_key());
        self.signing_key = Some(key);
        self
    }

    /// Checks signatures with this public key (e.g. an auditor without the secret key).
    pub fn with_verifying_key(mut self, key: VerifyingKey) -> SqliteRunStore {
        self.verifying_key = Some(key);
        self
    }

    fn raw_records(&self) -> Result<Vec<RawRecord>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT seq, run_id, entry, field_sha256, sha256, signature FROM records ORDER BY seq",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(RawRecord {
                seq: row.get::<_, i64>(0)? as u64,
                run_id: row.get(1)?,
                entry: row.get(2)?,
                field_sha256: row.get(3)?,
                sha256: row.get(4)?,
                signature: row.get(5)?,
            })
        })?;
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

impl RunStore for SqliteRunStore {
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
                |row| {
                    Ok(RawRecord {
                        seq: row.get::<_, i64>(0)? as u64,
                        run_id: row.get(1)?,
                        entry: row.get(2)?,
                        field_sha256: row.get(3)?,
                        sha256: row.get(4)?,
                        signature: row.get(5)?,
                    })
                },
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

impl MailQueue for SqliteRunStore {
    fn enqueue_mail(
        &self,
        run_id: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let inserted = self.conn.execute(
            "INSERT OR IGNORE INTO outbox (run_id, payload, status, enqueued_at, next_attempt_at)
             VALUES (?1, ?2, 'pending', ?3, ?3)",
            params![run_id, payload, time_text(now)],
        )?;
        Ok(inserted == 1)
    }

    fn due_mail(&self, now: DateTime<Utc>) -> Result<Vec<QueuedMail>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT id, run_id, payload, attempts FROM outbox
             WHERE (status = 'pending' AND next_attempt_at <= ?1)
                OR (status = 'sending' AND claimed_at <= ?2)
             ORDER BY id",
        )?;
        let rows = statement.query_map(params![time_text(now), lease_expired(now)], |row| {
            Ok(QueuedMail {
                id: row.get(0)?,
                run_id: row.get(1)?,
                payload: row.get(2)?,
                attempts: row.get::<_, i64>(3)? as u32,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn claim_mail(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let claimed = self.conn.execute(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1, claimed_at = ?2
             WHERE id = ?1
               AND (status = 'pending' OR (status = 'sending' AND claimed_at <= ?3))",
            params![id, time_text(now), lease_expired(now)],
        )?;
        Ok(claimed == 1)
    }

    fn mail_delivered(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE outbox SET status = 'delivered', delivered_at = ?2, last_error = NULL
             WHERE id = ?1",
            params![id, time_text(at)],
        )?;
        Ok(())
    }

    fn mail_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE outbox SET status = 'pending', last_error = ?2, next_attempt_at = ?3
             WHERE id = ?1",
            params![id, error, time_text(next_attempt_at)],
        )?;
        Ok(())
    }

    fn delivery(&self, run_id: &str) -> Result<Option<Delivery>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT status, attempts, last_error, next_attempt_at, enqueued_at, delivered_at
                 FROM outbox WHERE run_id = ?1",
                [run_id],
                |row| {
                    Ok(Delivery {
                        status: row.get(0)?,
                        attempts: row.get::<_, i64>(1)? as u32,
                        last_error: row.get(2)?,
                        next_attempt_at: parse_time(&row.get::<_, String>(3)?),
                        enqueued_at: parse_time(&row.get::<_, String>(4)?),
                        delivered_at: row.get::<_, Option<String>>(5)?.as_deref().map(parse_time),
                    })
                },
            )
            .optional()?)
    }
}
