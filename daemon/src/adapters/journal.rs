//! The engine's write-ahead run journal in embedded SQLite (`SqliteJournal`), and
//! `JournalState`, the plugins' `state` capability kept in that journal.
//!
//! Every entry is committed (SQLite in WAL mode with `synchronous = FULL`) before the engine
//! takes the step it announces, so a process killed at any point leaves a journal that says
//! what to undo.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use firedrill_host::capabilities::BackendError;
use firedrill_host::capabilities::state::StateStore;
use rusqlite::{Connection, params};

use crate::engine::ports::{Journal, JournalEntry, ScenarioError};

/// The journal file under the storage directory.
pub const JOURNAL_FILE: &str = "journal.db";

/// The run journal: one row per entry, in order.
#[derive(Debug)]
pub struct SqliteJournal {
    path: PathBuf,
    connection: Mutex<Option<Connection>>,
}

fn failed(path: &Path, err: impl std::fmt::Display) -> ScenarioError {
    ScenarioError(format!("run journal {}: {err}", path.display()))
}

impl SqliteJournal {
    /// The journal at `path`, created (with its directory) on first use.
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            connection: Mutex::new(None),
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, ScenarioError> {
        let mut guard = self
            .connection
            .lock()
            .map_err(|_| failed(&self.path, "lock poisoned"))?;
        if guard.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| failed(&self.path, e))?;
            }
            let connection = Connection::open(&self.path).map_err(|e| failed(&self.path, e))?;
            connection
                .busy_timeout(Duration::from_secs(5))
                .and_then(|()| connection.pragma_update(None, "journal_mode", "WAL"))
                .and_then(|()| connection.pragma_update(None, "synchronous", "FULL"))
                .and_then(|()| {
                    connection.execute_batch(
                        "CREATE TABLE IF NOT EXISTS journal (
                             seq INTEGER PRIMARY KEY AUTOINCREMENT,
                             run TEXT NOT NULL,
                             kind TEXT NOT NULL,
                             entry TEXT NOT NULL
                         );
                         CREATE INDEX IF NOT EXISTS journal_run ON journal (run);",
                    )
                })
                .map_err(|e| failed(&self.path, e))?;
            *guard = Some(connection);
        }
        match guard.as_ref() {
            Some(connection) => f(connection).map_err(|e| failed(&self.path, e)),
            None => Err(failed(&self.path, "not open")),
        }
    }

    fn entries_of(&self, run_id: &str) -> Result<Vec<JournalEntry>, ScenarioError> {
        let rows = self.with(|c| {
            let mut statement =
                c.prepare("SELECT entry FROM journal WHERE run = ?1 ORDER BY seq")?;
            let rows = statement
                .query_map(params![run_id], |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(rows)
        })?;
        Ok(rows
            .iter()
            .filter_map(|text| serde_json::from_str(text).ok())
            .collect())
    }
}

#[async_trait]
impl Journal for SqliteJournal {
    async fn append(&self, run_id: &str, entry: &JournalEntry) -> Result<(), ScenarioError> {
        let text = serde_json::to_string(entry)
            .map_err(|err| ScenarioError(format!("cannot encode a journal entry: {err}")))?;
        let kind = match entry {
            JournalEntry::RunStarted { .. } => "run-started",
            JournalEntry::Injecting { .. } => "injecting",
            JournalEntry::RolledBack { .. } => "rolled-back",
            JournalEntry::State { .. } => "state",
            JournalEntry::RunFinished { .. } => "run-finished",
        };
        self.with(|c| {
            c.execute(
                "INSERT INTO journal (run, kind, entry) VALUES (?1, ?2, ?3)",
                params![run_id, kind, text],
            )
            .map(|_| ())
        })
    }

    async fn unfinished(&self) -> Result<Vec<(String, Vec<JournalEntry>)>, ScenarioError> {
        let runs: Vec<String> = self.with(|c| {
            let mut statement = c.prepare(
                "SELECT run FROM journal GROUP BY run
                 HAVING SUM(kind = 'run-finished') = 0
                 ORDER BY MIN(seq)",
            )?;
            let runs = statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(runs)
        })?;
        runs.into_iter()
            .map(|run| {
                let entries = self.entries_of(&run)?;
                Ok((run, entries))
            })
            .collect()
    }
}

type StateKey = (String, String, String);

/// Scenario state (`state.set` / `state.get`) written through to the run journal: a
/// rollback after a crash, in a new process, reads what `inject` saved.
#[derive(Debug)]
pub struct JournalState {
    journal: Arc<SqliteJournal>,
    cache: Mutex<BTreeMap<StateKey, String>>,
    loaded: Mutex<BTreeSet<String>>,
}

impl JournalState {
    pub fn new(journal: Arc<SqliteJournal>) -> Self {
        Self {
            journal,
            cache: Mutex::new(BTreeMap::new()),
            loaded: Mutex::new(BTreeSet::new()),
        }
    }

    fn backend(err: ScenarioError) -> BackendError {
        BackendError::Unavailable(err.0)
    }

    /// Loads a run's state from the journal once per process.
    fn load(&self, run_id: &str) -> Result<(), BackendError> {
        let first = self
            .loaded
            .lock()
            .map(|mut loaded| loaded.insert(run_id.to_string()))
            .unwrap_or(false);
        if !first {
            return Ok(());
        }
        let entries = self.journal.entries_of(run_id).map_err(Self::backend)?;
        if let Ok(mut cache) = self.cache.lock() {
            for entry in entries {
                if let JournalEntry::State {
                    scenario,
                    key,
                    value,
                } = entry
                {
                    let id = (run_id.to_string(), scenario, key);
                    match value {
                        Some(value) => cache.insert(id, value),
                        None => cache.remove(&id),
                    };
                }
            }
        }
        Ok(())
    }

    async fn write(
        &self,
        run_id: &str,
        scenario: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), BackendError> {
        self.load(run_id)?;
        let entry = JournalEntry::State {
            scenario: scenario.to_string(),
            key: key.to_string(),
            value: value.map(str::to_string),
        };
        self.journal
            .append(run_id, &entry)
            .await
            .map_err(Self::backend)?;
        if let Ok(mut cache) = self.cache.lock() {
            let id = (run_id.to_string(), scenario.to_string(), key.to_string());
            match value {
                Some(value) => cache.insert(id, value.to_string()),
                None => cache.remove(&id),
            };
        }
        Ok(())
    }
}

#[async_trait]
impl StateStore for JournalState {
    async fn get(
        &self,
        run_id: &str,
        scenario: &str,
        key: &str,
    ) -> Result<Option<String>, BackendError> {
        self.load(run_id)?;
        Ok(self.cache.lock().ok().and_then(|cache| {
            cache
                .get(&(run_id.to_string(), scenario.to_string(), key.to_string()))
                .cloned()
        }))
    }

    async fn set(
        &self,
        run_id: &str,
        scenario: &str,
        key: &str,
        value: &str,
    ) -> Result<(), BackendError> {
        self.write(run_id, scenario, key, Some(value)).await
    }

    async fn remove(&self, run_id: &str, scenario: &str, key: &str) -> Result<(), BackendError> {
        self.write(run_id, scenario, key, None).await
    }

    async fn len(&self, run_id: &str, scenario: &str) -> Result<usize, BackendError> {
        self.load(run_id)?;
        Ok(self.cache.lock().map_or(0, |cache| {
            cache
                .keys()
                .filter(|(run, s, _)| run == run_id && s == scenario)
                .count()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unfinished_runs_survive_reopening_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let journal = SqliteJournal::new(&path);
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
            .append("b", &JournalEntry::RunFinished { at })
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
        let reopened = SqliteJournal::new(&path);
        let unfinished = reopened.unfinished().await.unwrap();
        assert_eq!(unfinished.len(), 1);
        assert_eq!(unfinished[0].0, "a");
        assert_eq!(unfinished[0].1.len(), 2, "entries in order");
        assert!(matches!(
            unfinished[0].1[1],
            JournalEntry::RolledBack { .. }
        ));
    }

    #[tokio::test]
    async fn scenario_state_survives_a_new_process_reading_the_same_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let state = JournalState::new(Arc::new(SqliteJournal::new(&path)));
        state
            .set("run-1", "zone-failure", "cordoned", "[\"a\",\"b\"]")
            .await
            .unwrap();
        state
            .set("run-1", "zone-failure", "tmp", "x")
            .await
            .unwrap();
        state.remove("run-1", "zone-failure", "tmp").await.unwrap();
        state
            .set("run-2", "zone-failure", "cordoned", "[]")
            .await
            .unwrap();

        // A new process: nothing in memory, only the journal on disk.
        let fresh = JournalState::new(Arc::new(SqliteJournal::new(&path)));
        assert_eq!(
            fresh
                .get("run-1", "zone-failure", "cordoned")
                .await
                .unwrap()
                .as_deref(),
            Some("[\"a\",\"b\"]")
        );
        assert_eq!(
            fresh.get("run-1", "zone-failure", "tmp").await.unwrap(),
            None
        );
        assert_eq!(fresh.len("run-1", "zone-failure").await.unwrap(), 1);
        assert_eq!(
            fresh.get("run-1", "pod-failure", "cordoned").await.unwrap(),
            None
        );
    }
}
