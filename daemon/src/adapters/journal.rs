//! `FileJournal`: the engine's write-ahead run journal as an append-only JSON-lines file, synced on every entry;
//! and `JournalState`, the plugins' `state` capability kept in that journal.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use firedrill_host::capabilities::BackendError;
use firedrill_host::capabilities::state::StateStore;

use crate::engine::ports::{Journal, JournalEntry, ScenarioError};

/// One line of the journal.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    run: String,
    entry: JournalEntry,
}

/// Appends every entry as one line and syncs it to disk before returning, so an entry
/// written before a side effect survives a crash right after it.
#[derive(Debug)]
pub struct FileJournal {
    path: PathBuf,
    lock: tokio::sync::Mutex<()>,
}

impl FileJournal {
    /// The journal at `path`, created (with its directory) on first append.
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            lock: tokio::sync::Mutex::new(()),
        }
    }
}

fn io(path: &Path, err: std::io::Error) -> ScenarioError {
    ScenarioError(format!("run journal {}: {err}", path.display()))
}

#[async_trait]
impl Journal for FileJournal {
    async fn append(&self, run_id: &str, entry: &JournalEntry) -> Result<(), ScenarioError> {
        let _guard = self.lock.lock().await;
        let mut line = serde_json::to_string(&Line {
            run: run_id.to_string(),
            entry: entry.clone(),
        })
        .map_err(|err| ScenarioError(format!("cannot encode a journal entry: {err}")))?;
        line.push('\n');
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(&self.path, e))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| io(&self.path, e))?;
        file.write_all(line.as_bytes())
            .map_err(|e| io(&self.path, e))?;
        file.sync_data().map_err(|e| io(&self.path, e))
    }

    async fn unfinished(&self) -> Result<Vec<(String, Vec<JournalEntry>)>, ScenarioError> {
        let _guard = self.lock.lock().await;
        let file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(io(&self.path, err)),
        };
        let mut runs: BTreeMap<String, Vec<JournalEntry>> = BTreeMap::new();
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(|e| io(&self.path, e))?;
            // A crash can leave a torn last line: it was never acted upon, skip it.
            let Ok(line) = serde_json::from_str::<Line>(&line) else {
                continue;
            };
            runs.entry(line.run).or_default().push(line.entry);
        }
        Ok(runs
            .into_iter()
            .filter(|(_, entries)| {
                !entries
                    .iter()
                    .any(|e| matches!(e, JournalEntry::RunFinished { .. }))
            })
            .collect())
    }
}

impl FileJournal {
    /// Every entry of `run_id`, in order (the torn last line of a crash is skipped).
    fn entries_of(&self, run_id: &str) -> Result<Vec<JournalEntry>, ScenarioError> {
        let file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(io(&self.path, err)),
        };
        let mut entries = Vec::new();
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(|e| io(&self.path, e))?;
            if let Ok(line) = serde_json::from_str::<Line>(&line)
                && line.run == run_id
            {
                entries.push(line.entry);
            }
        }
        Ok(entries)
    }
}

type StateKey = (String, String, String);

/// Scenario state (`state.set` / `state.get`) written through to the run journal: a
/// rollback after a crash, in a new process, reads what `inject` saved.
#[derive(Debug)]
pub struct JournalState {
    journal: Arc<FileJournal>,
    cache: std::sync::Mutex<BTreeMap<StateKey, String>>,
    loaded: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl JournalState {
    pub fn new(journal: Arc<FileJournal>) -> Self {
        Self {
            journal,
            cache: std::sync::Mutex::new(BTreeMap::new()),
            loaded: std::sync::Mutex::new(std::collections::BTreeSet::new()),
        }
    }

    fn backend(err: ScenarioError) -> BackendError {
        BackendError::Unavailable(err.0)
    }

    /// Loads a run's state from the journal once per process.
    async fn load(&self, run_id: &str) -> Result<(), BackendError> {
        let first = self
            .loaded
            .lock()
            .map(|mut loaded| loaded.insert(run_id.to_string()))
            .unwrap_or(false);
        if !first {
            return Ok(());
        }
        let entries = {
            let _guard = self.journal.lock.lock().await;
            self.journal.entries_of(run_id).map_err(Self::backend)?
        };
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
        self.load(run_id).await?;
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
        self.load(run_id).await?;
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
        self.load(run_id).await?;
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
    async fn unfinished_runs_survive_reopening_and_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let journal = FileJournal::new(&path);
        let at = chrono::Utc::now();
        journal
            .append(
                "a",
                &JournalEntry::RunStarted {
                    drill: "d".into(),
                    at,
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
                },
            )
            .await
            .unwrap();
        journal
            .append("b", &JournalEntry::RunFinished { at })
            .await
            .unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"run\":\"c\",\"entry\":{\"ki")
            .unwrap();
        let reopened = FileJournal::new(&path);
        let unfinished = reopened.unfinished().await.unwrap();
        assert_eq!(unfinished.len(), 1);
        assert_eq!(unfinished[0].0, "a");
    }

    #[tokio::test]
    async fn scenario_state_survives_a_new_process_reading_the_same_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let state = JournalState::new(Arc::new(FileJournal::new(&path)));
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
        let fresh = JournalState::new(Arc::new(FileJournal::new(&path)));
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
