//! The run journal on each backend: entries in order per run, and the runs a killed process left unfinished or unrecorded.

use firedrill_store::RunJournal;

use crate::backends::{Backend, Keys, on_both_backends};

on_both_backends!(
    journal_entries_come_back_in_order_per_run_after_reopening,
    runs_without_an_end_are_found_in_the_order_they_started,
    finished_runs_without_a_record_are_found_by_their_finishing_entry,
);

/// Journals, interleaved: `done` started, finished and recorded; `killed` started and
/// injected; `unrecorded` started and finished.
fn journal_three_runs(store: &dyn RunJournal) {
    for (run, kind) in [
        ("done", "run-started"),
        ("killed", "run-started"),
        ("done", "injecting"),
        ("unrecorded", "run-started"),
        ("killed", "injecting"),
        ("done", "run-finished"),
        ("unrecorded", "run-finished"),
        ("done", "recorded"),
    ] {
        let entry = format!(r#"{{"run":"{run}","kind":"{kind}"}}"#);
        store.journal_append(run, kind, &entry).unwrap();
    }
}

fn journal_entries_come_back_in_order_per_run_after_reopening(backend: &dyn Backend) {
    journal_three_runs(&*backend.open(Keys::None));
    let store = backend.open(Keys::None);
    let kinds = |run: &str| -> Vec<String> {
        store
            .journal_entries(run)
            .unwrap()
            .iter()
            .map(|entry| {
                let value: serde_json::Value = serde_json::from_str(entry).unwrap();
                value["kind"].as_str().unwrap().to_string()
            })
            .collect()
    };
    assert_eq!(
        kinds("done"),
        ["run-started", "injecting", "run-finished", "recorded"]
    );
    assert_eq!(kinds("killed"), ["run-started", "injecting"]);
    assert!(kinds("never-journaled").is_empty());
}

fn runs_without_an_end_are_found_in_the_order_they_started(backend: &dyn Backend) {
    let store = backend.open(Keys::None);
    assert!(
        store
            .journal_runs_without("run-finished")
            .unwrap()
            .is_empty()
    );
    journal_three_runs(&*store);
    assert_eq!(
        store.journal_runs_without("run-finished").unwrap(),
        ["killed"]
    );
    assert_eq!(
        store.journal_runs_without("recorded").unwrap(),
        ["killed", "unrecorded"]
    );
}

fn finished_runs_without_a_record_are_found_by_their_finishing_entry(backend: &dyn Backend) {
    let store = backend.open(Keys::None);
    journal_three_runs(&*store);
    assert_eq!(
        store
            .journal_entries_lacking("run-finished", "recorded")
            .unwrap(),
        [r#"{"run":"unrecorded","kind":"run-finished"}"#]
    );
    store
        .journal_append("unrecorded", "recorded", "{}")
        .unwrap();
    assert!(
        store
            .journal_entries_lacking("run-finished", "recorded")
            .unwrap()
            .is_empty()
    );
}
