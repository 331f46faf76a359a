//! Publishing a finished run: the evidence chain, the report files, and its email, webhooks and Grafana annotations queued in the outbox.

use std::path::PathBuf;

use chrono::Utc;
use firedrill_core::config::Config;
use firedrill_core::run::RunRecord;
use firedrill_store::Store;

use crate::adapters::journal;
use crate::app::render::renderer;
use crate::app::store::{StoreAt, store_error};
use crate::engine::ports::JournalEntry;
use crate::exit::CommandError;

fn usage(message: impl Into<String>) -> CommandError {
    CommandError::Usage(message.into())
}

/// Records a finished run: appends it to the evidence chain with its report files'
/// hashes, writes the report, agenda and JSON export to `storage/reports/RUN_ID/` and
/// queues the email, webhooks and annotations (delivered by [`crate::app::outbox`]).
/// Returns the report directory.
pub async fn publish(config: &Config, record: &RunRecord) -> Result<PathBuf, CommandError> {
    // Appending to the chain fsyncs: on the blocking pool, not a worker thread.
    let (store, dir) = {
        let (config, owned) = (config.clone(), record.clone());
        tokio::task::spawn_blocking(move || record_run(&config, &owned))
            .await
            .map_err(|err| usage(format!("cannot record run {}: {}", record.id, why(&err))))??
    };
    drop(store);
    Ok(dir)
}

fn why(err: &tokio::task::JoinError) -> &'static str {
    if err.is_panic() {
        "the recording task panicked"
    } else {
        "the recording task was cancelled"
    }
}

/// The blocking part of [`publish`]: the chain append and the report files.
fn record_run(
    config: &Config,
    record: &RunRecord,
) -> Result<(Box<dyn Store>, PathBuf), CommandError> {
    std::fs::create_dir_all(&config.storage_path).map_err(|source| CommandError::Io {
        path: config.storage_path.display().to_string(),
        source,
    })?;
    let mut store = StoreAt::of(config).open_signing(config.signing_key.as_deref())?;
    let renderer = renderer(config)?;
    // Stored already when a process was killed after storing it and before journaling
    // that it had: the chain keeps one record per run, the files are written again.
    let already = store.run(&record.id).map_err(store_error)?.is_some();
    let rendered = if already {
        // What the run owes people is queued again (once per run and channel): the process
        // that stored it may have died before queuing.
        firedrill_notify::render_run(&renderer, config, record).and_then(|rendered| {
            firedrill_notify::queue_notifications(&*store, config, record, &rendered, Utc::now())
                .map(|_| rendered)
        })
    } else {
        firedrill_notify::publish_run(&mut *store, &renderer, config, record, Utc::now())
            .map(|published| published.rendered)
    }
    .map_err(|err| usage(format!("cannot record run {}: {err}", record.id)))?;
    let dir = config.storage_path.join("reports").join(&record.id);
    std::fs::create_dir_all(&dir).map_err(|source| CommandError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    for (name, content) in rendered.files() {
        let file = dir.join(name);
        std::fs::write(&file, content).map_err(|source| CommandError::Io {
            path: file.display().to_string(),
            source,
        })?;
    }
    // The journal may now forget the record it kept for this moment.
    if let Err(err) = journal::ensure_finished(&*store, record).and_then(|()| {
        journal::append_to(
            &*store,
            &record.id,
            &JournalEntry::Recorded { at: Utc::now() },
        )
    }) {
        tracing::warn!(run = %record.id, error = %err, "Could not journal that the run is stored; it is checked again at the next start");
    }
    Ok((store, dir))
}
