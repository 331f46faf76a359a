//! `FileJournal`: the engine's write-ahead run journal as an append-only JSON-lines file, synced on every entry.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

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
}
