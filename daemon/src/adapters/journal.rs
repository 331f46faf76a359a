//! The engine's write-ahead run journal (`StoreJournal`) in the one store, and
//! `JournalState`, the plugins' `state` capability kept in that journal.
//!
//! Every entry is committed (SQLite in WAL mode with `synchronous = FULL`, or a
//! PostgreSQL transaction with synchronous commit; see `firedrill_store`) before the
//! engine takes the step it announces, so a process killed at any point leaves a journal
//! that says what to undo. The writes and their fsync
//! run on tokio's blocking pool, never on a worker thread that drives probes and plugin calls.

use std::collections::{BTreeMap, BTreeSet};
#[cfg(test)]
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use firedrill_host::capabilities::BackendError;
use firedrill_host::capabilities::state::{Scope, StateStore};
use firedrill_store::{Store, StoreError};
use parking_lot::Mutex;

use crate::adapters::store::StoreAt;
use crate::engine::ports::{Journal, JournalEntry, ScenarioError};

/// The run journal: one row per entry, in order, in the store's `journal` table.
#[derive(Debug, Clone)]
pub struct StoreJournal {
    inner: Arc<Inner>,
}

struct Inner {
    at: StoreAt,
    store: Mutex<Option<Box<dyn Store>>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

fn failed(at: &str, err: impl std::fmt::Display) -> ScenarioError {
    ScenarioError(format!("run journal {at}: {err}"))
}

/// A store error with its causes, for the journal's string errors.
fn store_failed(at: &str, err: &(dyn std::error::Error + 'static)) -> ScenarioError {
    failed(at, crate::exit::error_chain(err))
}

impl Inner {
    /// Runs `f` on the store (opening it on first use). Blocking: call it from the
    /// blocking pool.
    fn with<T>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, StoreError>,
    ) -> Result<T, ScenarioError> {
        let mut guard = self.store.lock();
        let described = || self.at.describe();
        if guard.is_none() {
            let store = self.at.open().map_err(|e| store_failed(&described(), &e))?;
            *guard = Some(store);
        }
        match guard.as_deref() {
            Some(store) => f(store).map_err(|e| store_failed(&described(), &e)),
            None => Err(failed(&described(), "not open")),
        }
    }

    /// Appends one encoded entry (committed and synced before it returns).
    fn insert(&self, run_id: &str, kind: &str, text: &str) -> Result<(), ScenarioError> {
        self.with(|store| store.journal_append(run_id, kind, text))
    }

    fn entries_of(&self, run_id: &str) -> Result<Vec<JournalEntry>, ScenarioError> {
        let rows = self.with(|store| store.journal_entries(run_id))?;
        Ok(rows
            .iter()
            .filter_map(|text| serde_json::from_str(text).ok())
            .collect())
    }
}

impl StoreJournal {
    /// The journal in the SQLite store at `path` (`storage/firedrill.db`), opened on first use.
    #[cfg(test)]
    pub fn new(path: &Path) -> Self {
        Self::at(StoreAt::Sqlite(path.to_path_buf()))
    }

    /// The journal in the store `at`, opened on first use.
    pub fn at(at: StoreAt) -> Self {
        Self {
            inner: Arc::new(Inner {
                at,
                store: Mutex::new(None),
            }),
        }
    }

    /// Runs blocking store work on tokio's blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, ScenarioError> + Send + 'static,
    ) -> Result<T, ScenarioError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|err| {
                failed(
                    &self.inner.at.describe(),
                    format!("journal task failed: {err}"),
                )
            })?
    }

    async fn entries_of(&self, run_id: &str) -> Result<Vec<JournalEntry>, ScenarioError> {
        let run_id = run_id.to_string();
        self.blocking(move |inner| inner.entries_of(&run_id)).await
    }
}

#[async_trait]
impl Journal for StoreJournal {
    async fn append(&self, run_id: &str, entry: &JournalEntry) -> Result<(), ScenarioError> {
        let (kind, text) = encode(entry)?;
        let run_id = run_id.to_string();
        self.blocking(move |inner| inner.insert(&run_id, kind, &text))
            .await
    }

    async fn unfinished(&self) -> Result<Vec<(String, Vec<JournalEntry>)>, ScenarioError> {
        self.blocking(|inner| {
            let runs = inner.with(|store| store.journal_runs_without(RUN_FINISHED))?;
            runs.into_iter()
                .map(|run| {
                    let entries = inner.entries_of(&run)?;
                    Ok((run, entries))
                })
                .collect()
        })
        .await
    }

    async fn unrecorded(&self) -> Result<Vec<firedrill_core::run::RunRecord>, ScenarioError> {
        self.blocking(|inner| {
            let texts =
                inner.with(|store| store.journal_entries_lacking(RUN_FINISHED, RECORDED))?;
            Ok(texts
                .iter()
                .filter_map(|text| match serde_json::from_str(text) {
                    Ok(JournalEntry::RunFinished {
                        record: Some(record),
                        ..
                    }) => Some(*record),
                    _ => None,
                })
                .collect())
        })
        .await
    }
}

/// Appends `entry` through a store the caller already holds open (blocking: off the
/// async workers), so recording a run and journaling it share one connection.
pub fn append_to(
    store: &dyn Store,
    run_id: &str,
    entry: &JournalEntry,
) -> Result<(), ScenarioError> {
    let (kind, text) = encode(entry)?;
    store
        .journal_append(run_id, kind, &text)
        .map_err(|err| store_failed("(the store)", &err))
}

/// Journals that the run finished, with its record, unless that entry is there already:
/// when the store was down as the run ended the engine could not write it, and a run
/// stored later must not look unfinished to the next recovery.
pub fn ensure_finished(
    store: &dyn Store,
    record: &firedrill_core::run::RunRecord,
) -> Result<(), ScenarioError> {
    let entries = store
        .journal_entries(&record.id)
        .map_err(|err| store_failed("(the store)", &err))?;
    let finished = entries.iter().any(|text| {
        matches!(
            serde_json::from_str::<JournalEntry>(text),
            Ok(JournalEntry::RunFinished { .. })
        )
    });
    if finished {
        return Ok(());
    }
    append_to(
        store,
        &record.id,
        &JournalEntry::RunFinished {
            at: record.finished_at.unwrap_or_else(chrono::Utc::now),
            record: Some(Box::new(record.clone())),
        },
    )
}

const RUN_FINISHED: &str = "run-finished";
const RECORDED: &str = "recorded";

/// The entry's kind column and its JSON.
fn encode(entry: &JournalEntry) -> Result<(&'static str, String), ScenarioError> {
    let text = serde_json::to_string(entry)
        .map_err(|err| ScenarioError(format!("cannot encode a journal entry: {err}")))?;
    let kind = match entry {
        JournalEntry::RunStarted { .. } => "run-started",
        JournalEntry::Injecting { .. } => "injecting",
        JournalEntry::RolledBack { .. } => "rolled-back",
        JournalEntry::State { .. } => "state",
        JournalEntry::RunFinished { .. } => RUN_FINISHED,
        JournalEntry::Recorded { .. } => RECORDED,
    };
    Ok((kind, text))
}

/// (run, phase, key) for state kept per phase; (run, scenario, key) in `legacy` for
/// entries of journals written before state was kept per phase.
type StateKey = (String, String, String);

#[derive(Debug, Default)]
struct Cache {
    by_phase: BTreeMap<StateKey, String>,
    legacy: BTreeMap<StateKey, String>,
    loaded: BTreeSet<String>,
}

/// Scenario state (`state.set` / `state.get`) written through to the run journal, per
/// run and phase: a rollback after a crash, in a new process, reads what that phase's
/// `inject` saved.
#[derive(Debug)]
pub struct JournalState {
    journal: StoreJournal,
    cache: Mutex<Cache>,
}

fn key_of(scope: Scope<'_>, key: &str) -> StateKey {
    (scope.run_id.into(), scope.phase.into(), key.into())
}

fn legacy_key_of(scope: Scope<'_>, key: &str) -> StateKey {
    (scope.run_id.into(), scope.scenario.into(), key.into())
}

impl JournalState {
    pub fn new(journal: Arc<StoreJournal>) -> Self {
        Self {
            journal: (*journal).clone(),
            cache: Mutex::new(Cache::default()),
        }
    }

    fn backend(err: ScenarioError) -> BackendError {
        BackendError::Unavailable(err.0)
    }

    /// Loads a run's state from the journal once per process.
    async fn load(&self, run_id: &str) -> Result<(), BackendError> {
        if self.cache.lock().loaded.contains(run_id) {
            return Ok(());
        }
        let entries = self
            .journal
            .entries_of(run_id)
            .await
            .map_err(Self::backend)?;
        let mut cache = self.cache.lock();
        if !cache.loaded.insert(run_id.to_string()) {
            return Ok(()); // another call loaded it meanwhile
        }
        for entry in entries {
            if let JournalEntry::State {
                scenario,
                phase,
                key,
                value,
            } = entry
            {
                let (map, id) = match phase {
                    Some(phase) => (&mut cache.by_phase, (run_id.to_string(), phase, key)),
                    None => (&mut cache.legacy, (run_id.to_string(), scenario, key)),
                };
                match value {
                    Some(value) => map.insert(id, value),
                    None => map.remove(&id),
                };
            }
        }
        Ok(())
    }

    async fn write(
        &self,
        scope: Scope<'_>,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), BackendError> {
        self.load(scope.run_id).await?;
        let entry = JournalEntry::State {
            scenario: scope.scenario.to_string(),
            phase: Some(scope.phase.to_string()),
            key: key.to_string(),
            value: value.map(str::to_string),
        };
        self.journal
            .append(scope.run_id, &entry)
            .await
            .map_err(Self::backend)?;
        let mut cache = self.cache.lock();
        // What the phase writes now supersedes what an older version kept for its scenario.
        cache.legacy.remove(&legacy_key_of(scope, key));
        match value {
            Some(value) => cache.by_phase.insert(key_of(scope, key), value.to_string()),
            None => cache.by_phase.remove(&key_of(scope, key)),
        };
        Ok(())
    }
}

#[async_trait]
impl StateStore for JournalState {
    async fn get(&self, scope: Scope<'_>, key: &str) -> Result<Option<String>, BackendError> {
        self.load(scope.run_id).await?;
        let cache = self.cache.lock();
        Ok(cache
            .by_phase
            .get(&key_of(scope, key))
            .or_else(|| cache.legacy.get(&legacy_key_of(scope, key)))
            .cloned())
    }

    async fn set(&self, scope: Scope<'_>, key: &str, value: &str) -> Result<(), BackendError> {
        self.write(scope, key, Some(value)).await
    }

    async fn remove(&self, scope: Scope<'_>, key: &str) -> Result<(), BackendError> {
        self.write(scope, key, None).await
    }

    async fn len(&self, scope: Scope<'_>) -> Result<usize, BackendError> {
        self.load(scope.run_id).await?;
        let cache = self.cache.lock();
        Ok(cache
            .by_phase
            .keys()
            .filter(|(run, phase, _)| run == scope.run_id && phase == scope.phase)
            .count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unfinished_runs_survive_reopening_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(firedrill_store::DATABASE_FILE);
        let journal = StoreJournal::new(&path);
        let at = chrono::Utc::now();
        journal
            .append(
                "a",
                &JournalEntry::RunStarted {
                    drill: "d".into(),
                    at,
                    target: None,
                    cluster: None,
                },
            )
            .await
            .unwrap();
        journal
            .append(
                "b",
                &JournalEntry::RunStarted {
                    drill: "d".into(),
                    at,
                    target: None,
                    cluster: None,
                },
            )
            .await
            .unwrap();
        journal
            .append("b", &JournalEntry::RunFinished { at, record: None })
            .await
            .unwrap();
        journal
            .append(
                "a",
                &JournalEntry::RolledBack {
                    phase: "p".into(),
                    at,
                },
            )
            .await
            .unwrap();
        drop(journal);
        let reopened = StoreJournal::new(&path);
        let unfinished = reopened.unfinished().await.unwrap();
        assert_eq!(unfinished.len(), 1);
        assert_eq!(unfinished[0].0, "a");
        assert_eq!(unfinished[0].1.len(), 2, "entries in order");
        assert!(matches!(
            unfinished[0].1[1],
            JournalEntry::RolledBack { .. }
        ));
    }

    /// A run killed after it finished and before its record was stored: the journal
    /// still has the record, until `Recorded` says the store has it.
    #[tokio::test]
    async fn a_finished_run_keeps_its_record_in_the_journal_until_it_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(firedrill_store::DATABASE_FILE);
        let journal = StoreJournal::new(&path);
        let at = chrono::Utc::now();
        let record = firedrill_core::report::fixtures::passing_run_at(at);
        for (run, recorded) in [("old", false), ("a", false), ("b", true)] {
            let started = JournalEntry::RunStarted {
                drill: "d".into(),
                at,
                target: None,
                cluster: None,
            };
            journal.append(run, &started).await.unwrap();
            let finished = JournalEntry::RunFinished {
                at,
                // Journals written before records were kept there have none.
                record: (run != "old").then(|| {
                    Box::new(firedrill_core::run::RunRecord {
                        id: run.into(),
                        ..record.clone()
                    })
                }),
            };
            journal.append(run, &finished).await.unwrap();
            if recorded {
                journal
                    .append(run, &JournalEntry::Recorded { at })
                    .await
                    .unwrap();
            }
        }
        let reopened = StoreJournal::new(&path);
        assert!(reopened.unfinished().await.unwrap().is_empty());
        let unrecorded = reopened.unrecorded().await.unwrap();
        assert_eq!(unrecorded.len(), 1, "{unrecorded:?}");
        assert_eq!(unrecorded[0].id, "a");
        assert_eq!(
            unrecorded[0].phases, record.phases,
            "the whole record is kept"
        );
        reopened
            .append("a", &JournalEntry::Recorded { at })
            .await
            .unwrap();
        assert!(reopened.unrecorded().await.unwrap().is_empty());
    }

    fn scope<'a>(run_id: &'a str, phase: &'a str) -> Scope<'a> {
        Scope {
            run_id,
            phase,
            scenario: "zone-failure",
        }
    }

    #[tokio::test]
    async fn phase_state_survives_a_new_process_reading_the_same_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(firedrill_store::DATABASE_FILE);
        let state = JournalState::new(Arc::new(StoreJournal::new(&path)));
        state
            .set(scope("run-1", "zone-a"), "cordoned", "[\"a1\"]")
            .await
            .unwrap();
        state
            .set(scope("run-1", "zone-b"), "cordoned", "[\"b1\"]")
            .await
            .unwrap();
        state
            .set(scope("run-1", "zone-a"), "tmp", "x")
            .await
            .unwrap();
        state.remove(scope("run-1", "zone-a"), "tmp").await.unwrap();
        state
            .set(scope("run-2", "zone-a"), "cordoned", "[]")
            .await
            .unwrap();

        // A new process: nothing in memory, only the journal on disk.
        let fresh = JournalState::new(Arc::new(StoreJournal::new(&path)));
        let get = |run, phase, key| {
            let fresh = &fresh;
            async move { fresh.get(scope(run, phase), key).await.unwrap() }
        };
        assert_eq!(
            get("run-1", "zone-a", "cordoned").await.as_deref(),
            Some("[\"a1\"]")
        );
        assert_eq!(
            get("run-1", "zone-b", "cordoned").await.as_deref(),
            Some("[\"b1\"]"),
            "two phases of one scenario keep their own state"
        );
        assert_eq!(get("run-1", "zone-a", "tmp").await, None);
        assert_eq!(fresh.len(scope("run-1", "zone-a")).await.unwrap(), 1);
        assert_eq!(get("run-1", "zone-c", "cordoned").await, None);
    }

    /// A run interrupted under a version that kept state per scenario is still rolled
    /// back with what its `inject` saved.
    #[tokio::test]
    async fn state_journaled_per_scenario_by_older_versions_is_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(firedrill_store::DATABASE_FILE);
        let journal = StoreJournal::new(&path);
        let old =
            r#"{"kind":"state","scenario":"zone-failure","key":"cordoned","value":"[\"n1\"]"}"#;
        let entry: JournalEntry = serde_json::from_str(old).expect("an older entry parses");
        journal.append("run-1", &entry).await.unwrap();

        let state = JournalState::new(Arc::new(StoreJournal::new(&path)));
        assert_eq!(
            state
                .get(scope("run-1", "zone-a"), "cordoned")
                .await
                .unwrap()
                .as_deref(),
            Some("[\"n1\"]")
        );
        state
            .remove(scope("run-1", "zone-a"), "cordoned")
            .await
            .unwrap();
        assert_eq!(
            state
                .get(scope("run-1", "zone-a"), "cordoned")
                .await
                .unwrap(),
            None
        );
    }
}
