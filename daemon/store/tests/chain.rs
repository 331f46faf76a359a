//! The evidence chain on each backend: append, reopen, verify, and tampering caught field by field.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use ed25519_dalek::SigningKey;
use firedrill_core::report::fixtures::{aborted_run, failing_run_at, passing_run_at, slot};
use firedrill_store::canonical::leaves;
use firedrill_store::{Store, StoreError, report_hashes};
use serde_json::Value;

use crate::backends::{Backend, Keys, on_both_backends};

on_both_backends!(
    appended_runs_form_an_intact_signed_chain_that_survives_reopening,
    a_run_is_recorded_once,
    the_records_table_refuses_updates_and_deletes,
    verify_names_the_record_and_field_of_a_single_changed_byte_anywhere_in_a_record,
    a_renumbered_or_deleted_record_breaks_the_chain,
    records_signed_by_another_key_are_caught,
    an_interrupted_run_without_an_end_is_stored_and_read_back_unchanged,
);

pub fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

/// The store of `backend` with three signed runs: passing, failing, aborted.
pub fn store_with_three_runs(backend: &dyn Backend) -> Box<dyn Store> {
    let mut store = backend.open(Keys::Signing(key()));
    let week = Duration::days(7);
    let mut aborted = aborted_run();
    aborted.id = "full-dr-aborted".to_string();
    for (i, run) in [
        passing_run_at(slot()),
        failing_run_at(slot() + week),
        aborted,
    ]
    .iter()
    .enumerate()
    {
        let hashes = report_hashes([("report.md", "# report"), ("report.html", "<html>")]);
        store
            .append(run, hashes, slot() + week * i as i32 + Duration::hours(1))
            .unwrap();
    }
    store
}

fn appended_runs_form_an_intact_signed_chain_that_survives_reopening(backend: &dyn Backend) {
    let head = {
        let store = store_with_three_runs(backend);
        let verification = store.verify().unwrap();
        assert!(verification.intact(), "{verification:?}");
        assert_eq!(verification.records, 3);
        assert_eq!(verification.signed_records, 3);
        verification.head_sha256.unwrap()
    };
    let reopened = backend.open(Keys::Verifying(key().verifying_key()));
    let verification = reopened.verify().unwrap();
    assert!(verification.intact());
    assert_eq!(verification.head_sha256.as_deref(), Some(head.as_str()));
    let runs = reopened.runs().unwrap();
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[1].entry.prev_sha256, runs[0].sha256);
    assert_eq!(
        runs[1].entry.run,
        failing_run_at(slot() + Duration::days(7))
    );
    assert_eq!(
        runs[0].entry.report_sha256["report.md"],
        firedrill_store::canonical::sha256_hex(b"# report")
    );
    assert!(reopened.run("full-dr-aborted").unwrap().is_some());
    assert!(reopened.run("nope").unwrap().is_none());
}

fn a_run_is_recorded_once(backend: &dyn Backend) {
    let mut store = store_with_three_runs(backend);
    let again = store.append(&passing_run_at(slot()), BTreeMap::new(), Utc::now());
    assert!(matches!(again, Err(StoreError::Duplicate(_))), "{again:?}");
}

fn the_records_table_refuses_updates_and_deletes(backend: &dyn Backend) {
    drop(store_with_three_runs(backend));
    let mut raw = backend.raw();
    let update = raw.execute("UPDATE records SET run_id = 'x' WHERE seq = 1");
    assert!(update.unwrap_err().contains("append-only"));
    let delete = raw.execute("DELETE FROM records WHERE seq = 1");
    assert!(delete.unwrap_err().contains("append-only"));
}

/// Changes one byte of `text` at `offset` to another byte (keeping it ASCII).
fn flip(text: &str, offset: usize) -> String {
    let mut bytes = text.as_bytes().to_vec();
    bytes[offset] = match bytes[offset] {
        b'0'..=b'8' => bytes[offset] + 1,
        b'9' => b'0',
        b if b.is_ascii_lowercase() => b.to_ascii_uppercase(),
        b if b.is_ascii_uppercase() => b.to_ascii_lowercase(),
        b'x' => b'y',
        _ => b'x',
    };
    String::from_utf8(bytes).unwrap()
}

/// The byte offset in `entry` (canonical JSON) where the leaf at `path` starts: replace the
/// leaf with a marker, re-serialise, and find the marker (the text before it is unchanged).
fn leaf_offset(entry: &Value, path: &str) -> usize {
    let mut marked = entry.clone();
    let pointer = to_pointer(path);
    *marked.pointer_mut(&pointer).unwrap() = Value::String("\u{1}MARK".to_string());
    let text = firedrill_store::canonical::canonical_json(&marked);
    text.find("\"\\u0001MARK\"").unwrap()
}

/// `run.phases[1]["report.md"]` → `/run/phases/1/report.md`.
fn to_pointer(path: &str) -> String {
    let mut pointer = String::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("[\"") {
            let end = after.find("\"]").unwrap();
            pointer.push('/');
            pointer.push_str(&after[..end].replace('~', "~0").replace('/', "~1"));
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').unwrap();
            pointer.push('/');
            pointer.push_str(&after[..end]);
            rest = &after[end + 1..];
        } else {
            let rest_trimmed = rest.strip_prefix('.').unwrap_or(rest);
            let end = rest_trimmed.find(['.', '[']).unwrap_or(rest_trimmed.len());
            pointer.push('/');
            pointer.push_str(&rest_trimmed[..end]);
            rest = &rest_trimmed[end..];
        }
    }
    pointer
}

fn verify_names_the_record_and_field_of_a_single_changed_byte_anywhere_in_a_record(
    backend: &dyn Backend,
) {
    let store = store_with_three_runs(backend);
    let mut raw = backend.raw();
    // The attacker holds the database: the append-only triggers are no obstacle.
    raw.drop_append_only_triggers();
    let seq = 2;
    let run_id = raw.column("run_id", seq);
    let entry_text = raw.column("entry", seq);
    let entry: Value = serde_json::from_str(&entry_text).unwrap();
    let paths: Vec<String> = leaves(&entry).into_iter().map(|(path, _)| path).collect();
    assert!(paths.len() > 100, "the fixture should exercise many fields");

    let mut checked = 0;
    let expect_broken = |field: &str, what: &str| {
        let verification = store.verify().unwrap();
        let broken = verification
            .broken
            .unwrap_or_else(|| panic!("changing {what} went unnoticed"));
        assert_eq!(broken.seq, seq as u64, "{what}: {broken}");
        if field != "run_id" {
            assert_eq!(broken.run_id, run_id, "{what}: {broken}");
        }
        assert_eq!(broken.field, field, "{what}: {broken}");
    };

    // Every field of the entry: one byte each, the first byte of the value (inside the
    // quotes for strings).
    for path in &paths {
        let start = leaf_offset(&entry, path);
        let inside_string = entry_text.as_bytes()[start] == b'"'
            && entry_text.as_bytes().get(start + 1) != Some(&b'"');
        let offset = if inside_string { start + 1 } else { start };
        raw.set_column("entry", seq, &flip(&entry_text, offset));
        expect_broken(path, &format!("entry field {path}"));
        raw.set_column("entry", seq, &entry_text);
        checked += 1;
    }

    // Every field digest.
    let digests_text = raw.column("field_sha256", seq);
    for path in &paths {
        let key = serde_json::to_string(path).unwrap();
        let offset = digests_text.find(&format!("{key}:\"")).unwrap() + key.len() + 2;
        raw.set_column("field_sha256", seq, &flip(&digests_text, offset));
        expect_broken(
            &format!("field_sha256[{key}]"),
            &format!("digest of {path}"),
        );
        raw.set_column("field_sha256", seq, &digests_text);
        checked += 1;
    }

    // The row's own columns.
    for name in ["run_id", "sha256", "signature"] {
        let original = raw.column(name, seq);
        raw.set_column(name, seq, &flip(&original, 3));
        expect_broken(name, name);
        raw.set_column(name, seq, &original);
        checked += 1;
    }
    assert!(
        store.verify().unwrap().intact(),
        "restoring every byte restores the chain"
    );
    assert_eq!(checked, paths.len() * 2 + 3);
}

fn a_renumbered_or_deleted_record_breaks_the_chain(backend: &dyn Backend) {
    let store = store_with_three_runs(backend);
    let mut raw = backend.raw();
    raw.drop_append_only_triggers();
    raw.execute("UPDATE records SET seq = 4 WHERE seq = 3")
        .unwrap();
    let broken = store.verify().unwrap().broken.unwrap();
    assert_eq!((broken.seq, broken.field.as_str()), (4, "seq"), "{broken}");
    raw.execute("UPDATE records SET seq = 3 WHERE seq = 4")
        .unwrap();
    raw.execute("DELETE FROM records WHERE seq = 2").unwrap();
    let broken = store.verify().unwrap().broken.unwrap();
    assert_eq!((broken.seq, broken.field.as_str()), (3, "seq"), "{broken}");
}

fn records_signed_by_another_key_are_caught(backend: &dyn Backend) {
    drop(store_with_three_runs(backend));
    let other = SigningKey::from_bytes(&[9u8; 32]);
    let store = backend.open(Keys::Verifying(other.verifying_key()));
    let broken = store.verify().unwrap().broken.unwrap();
    assert_eq!((broken.seq, broken.field.as_str()), (1, "signature"));
}

fn an_interrupted_run_without_an_end_is_stored_and_read_back_unchanged(backend: &dyn Backend) {
    let mut store = store_with_three_runs(backend);
    let mut interrupted = firedrill_core::report::fixtures::interrupted_run();
    interrupted.id = "full-dr-interrupted".to_string();
    assert!(interrupted.finished_at.is_none());
    store
        .append(&interrupted, BTreeMap::new(), slot() + Duration::days(30))
        .unwrap();
    let back = store.run("full-dr-interrupted").unwrap().unwrap();
    assert_eq!(back.entry.run, interrupted);
    assert_eq!(back.entry.seq, 4);
    assert!(store.verify().unwrap().intact());
}
