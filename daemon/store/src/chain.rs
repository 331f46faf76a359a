//! The chain's rules, whatever holds the rows: sealing the record that follows the head
//! (entry, field digests, hash, signature) and walking stored rows to the first broken link.
//!
//! A backend only moves rows: it reads the head and inserts a [`Sealed`] record under its
//! own write lock, and hands its rows to [`verify`] as [`RawRecord`]s, exactly as stored.
//! [`verify_segment`] walks part of the chain from an [`Anchor`] with no store at all: what
//! an evidence bundle's checker runs ([`crate::bundle`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use firedrill_core::run::RunRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::canonical::{canonical_json, field_digests, path_at_offset, record_hash};
use crate::{BrokenLink, ChainEntry, GENESIS_SHA256, StoreError, StoredRun, Verification};

/// The keys a store signs appended records with and checks signatures against.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    signing: Option<SigningKey>,
    verifying: Option<VerifyingKey>,
}

impl Keys {
    /// Signs with `key`, and so also checks signatures with its public half.
    pub(crate) fn sign_with(&mut self, key: SigningKey) {
        self.verifying = Some(key.verifying_key());
        self.signing = Some(key);
    }

    /// Checks signatures with `key` (e.g. an auditor without the secret key).
    pub(crate) fn verify_with(&mut self, key: VerifyingKey) {
        self.verifying = Some(key);
    }
}

/// A row of the records table as stored, before any interpretation: what
/// [`RunStore::raw_records`](crate::RunStore::raw_records) reads and an evidence bundle
/// carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecord {
    pub seq: u64,
    pub run_id: String,
    /// The [`ChainEntry`] as canonical JSON, exactly as stored.
    pub entry: String,
    /// The per-field digests (path → SHA-256) as JSON, exactly as stored.
    pub field_sha256: String,
    /// The record hash over the field digests.
    pub sha256: String,
    /// The ed25519 signature of `sha256`, hex, when the store signs.
    pub signature: Option<String>,
}

/// A point of the chain: a record's sequence number and hash. The anchor of a segment is
/// the record just before it ([`Anchor::genesis`] before the first record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    pub seq: u64,
    pub sha256: String,
}

impl Anchor {
    /// Before the first record: seq 0, the all-zero hash the first record chains onto.
    pub fn genesis() -> Anchor {
        Anchor {
            seq: 0,
            sha256: GENESIS_SHA256.to_string(),
        }
    }

    /// The point `record` is.
    pub fn of(record: &RawRecord) -> Anchor {
        Anchor {
            seq: record.seq,
            sha256: record.sha256.clone(),
        }
    }
}

impl RawRecord {
    pub fn into_stored(self) -> Result<StoredRun, StoreError> {
        Ok(StoredRun {
            entry: serde_json::from_str(&self.entry)?,
            sha256: self.sha256,
            signed: self.signature.is_some(),
        })
    }
}

/// The next record, ready to insert: its columns and what `append` returns.
#[derive(Debug)]
pub(crate) struct Sealed {
    pub entry: ChainEntry,
    /// The entry as canonical JSON: the text stored and re-read by [`verify`].
    pub entry_text: String,
    /// The per-field digests as JSON.
    pub field_sha256: String,
    pub sha256: String,
    pub signature: Option<String>,
}

impl Sealed {
    pub(crate) fn seq(&self) -> i64 {
        self.entry.seq as i64
    }

    pub(crate) fn stored(self) -> StoredRun {
        StoredRun {
            signed: self.signature.is_some(),
            entry: self.entry,
            sha256: self.sha256,
        }
    }
}

/// The record of `run` that follows `head` (the newest record's seq and hash; `None` for
/// the first record), hashed and, with a signing key, signed.
pub(crate) fn seal(
    head: Option<(u64, String)>,
    run: &RunRecord,
    report_sha256: BTreeMap<String, String>,
    appended_at: DateTime<Utc>,
    keys: &Keys,
) -> Result<Sealed, StoreError> {
    let (seq, prev_sha256) = match head {
        Some((seq, sha256)) => (seq + 1, sha256),
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
    let signature = keys
        .signing
        .as_ref()
        .map(|key| hex::encode(key.sign(sha256.as_bytes()).to_bytes()));
    Ok(Sealed {
        entry,
        entry_text: canonical_json(&value),
        field_sha256: serde_json::to_string(&digests)?,
        sha256,
        signature,
    })
}

/// Walks `records` (every row, ordered by seq) from the first and stops at the first
/// broken link.
pub(crate) fn verify(records: &[RawRecord], keys: &Keys) -> Verification {
    verify_segment(records, &Anchor::genesis(), keys.verifying.as_ref())
}

/// Walks `records`, consecutive rows ordered by seq, as the part of a chain that follows
/// `anchor`, and stops at the first broken link: each record's field digests, hash,
/// number and link to the one before (the first's to the anchor), and with
/// `verifying_key` its signature. The same rules as [`RunStore::verify`](crate::RunStore::verify),
/// without a store: an evidence bundle's chain segment is checked with this.
pub fn verify_segment(
    records: &[RawRecord],
    anchor: &Anchor,
    verifying_key: Option<&VerifyingKey>,
) -> Verification {
    let mut verification = Verification {
        records: 0,
        head_sha256: None,
        signed_records: 0,
        broken: None,
    };
    let mut prev = (anchor.seq, anchor.sha256.as_str());
    for raw in records {
        verification.records += 1;
        if let Some(broken) = check(raw, prev, verifying_key) {
            verification.broken = Some(broken);
            return verification;
        }
        if raw.signature.is_some() {
            verification.signed_records += 1;
        }
        verification.head_sha256 = Some(raw.sha256.clone());
        prev = (raw.seq, raw.sha256.as_str());
    }
    verification
}

/// Checks one record against the seq and hash of the record before it; the first problem
/// found.
fn check(
    raw: &RawRecord,
    (prev_seq, prev_sha256): (u64, &str),
    verifying_key: Option<&VerifyingKey>,
) -> Option<BrokenLink> {
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
    let (expected_prev, expected_seq) = (prev_sha256, prev_seq.saturating_add(1));
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
    if let Some(key) = verifying_key {
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

/// The byte offset of a 1-based line and column, as serde_json reports errors.
fn line_col_offset(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    line_start + column.saturating_sub(1)
}
