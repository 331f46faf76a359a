//! The canary writer of one phase: sequence-numbered writes at a fixed cadence, in a task
//! of their own, from before the fault until recovery; then the read-back and the data loss.

use std::collections::BTreeSet;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use firedrill_core::canary::{CanaryWrite, data_loss};
use firedrill_core::config::Canary;
use firedrill_core::run::DataLoss;
use firedrill_core::series::{CanarySeries, canary_series};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::ports::{CanaryStore, ScenarioError};

/// How long the read-back keeps trying after recovery (a promoted replica may still be
/// opening for connections when `verify` first sees it accept a write).
const READ_BACK_PATIENCE: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Log {
    writes: Vec<CanaryWrite>,
    last_error: Option<String>,
}

/// Canaries being written for a phase. Dropping it stops the writer.
pub(super) struct CanaryRun {
    canary: Canary,
    store: Arc<dyn CanaryStore>,
    run_id: String,
    phase: String,
    started: Instant,
    log: Arc<Mutex<Log>>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl CanaryRun {
    /// Prepares the store and starts writing.
    pub(super) async fn start(
        store: Arc<dyn CanaryStore>,
        canary: &Canary,
        run_id: &str,
        phase: &str,
    ) -> Result<Self, String> {
        store.prepare(canary, run_id, phase).await.map_err(|err| {
            format!(
                "cannot prepare canary writes on {}: {err}",
                canary.connection
            )
        })?;
        let started = Instant::now();
        let log = Arc::new(Mutex::new(Log::default()));
        let stop = CancellationToken::new();
        let task = tokio::spawn(write_loop(
            store.clone(),
            canary.clone(),
            run_id.to_string(),
            phase.to_string(),
            started,
            log.clone(),
            stop.clone(),
        ));
        Ok(Self {
            canary: canary.clone(),
            store,
            run_id: run_id.to_string(),
            phase: phase.to_string(),
            started,
            log,
            stop,
            task: Some(task),
        })
    }

    /// Writes acknowledged so far, and the last write error.
    pub(super) fn acknowledged(&self) -> (u64, Option<String>) {
        let log = self.log.lock();
        (
            log.writes.iter().filter(|w| w.acknowledged).count() as u64,
            log.last_error.clone(),
        )
    }

    /// Stops writing and removes what was written, measuring nothing: for a phase that
    /// ends before its fault.
    pub(super) async fn discard(mut self) {
        self.stop_writer().await;
        let mut connections = vec![&self.canary.connection];
        if self.canary.read_from != self.canary.connection {
            connections.push(&self.canary.read_from);
        }
        for connection in connections {
            if let Err(err) = self.clean_up(connection).await {
                tracing::warn!(run = %self.run_id, phase = %self.phase, connection = %connection, error = %err, "Could not remove the phase's canaries");
            }
        }
    }

    async fn clean_up(&self, connection: &str) -> Result<(), ScenarioError> {
        self.store
            .clean_up(&self.canary, connection, &self.run_id, &self.phase)
            .await
    }

    async fn stop_writer(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            // The writer finishes its current write (bounded by the write timeout).
            let _ = task.await;
        }
    }

    /// When the writer started: where the phase's canary series begins.
    pub(super) fn started(&self) -> Instant {
        self.started
    }

    /// Stops writing, reads the canaries back and removes them. `fault_at` is when
    /// `inject` was called; `started_at` is [`CanaryRun::started`] on the wall clock, where
    /// the series of writes begins. After a phase that did not recover, one read is tried;
    /// after recovery, reads are retried for a few seconds.
    pub(super) async fn finish(
        mut self,
        fault_at: Instant,
        recovered: bool,
        started_at: DateTime<Utc>,
    ) -> Result<(DataLoss, CanarySeries), String> {
        self.stop_writer().await;
        let patience = if recovered {
            READ_BACK_PATIENCE
        } else {
            Duration::ZERO
        };
        let give_up = Instant::now() + patience;
        let surviving: BTreeSet<u64> = loop {
            match self
                .store
                .read_back(&self.canary, &self.run_id, &self.phase)
                .await
            {
                Ok(seqs) => break seqs,
                Err(err) if Instant::now() >= give_up => {
                    return Err(format!(
                        "cannot read the canaries back from {}: {err}",
                        self.canary.read_from
                    ));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        // Removed where they were read; if that is still a standby (the fault never
        // failed anything over), where they were written.
        if let Err(err) = self.clean_up(&self.canary.read_from).await
            && (self.canary.connection == self.canary.read_from
                || self.clean_up(&self.canary.connection).await.is_err())
        {
            tracing::warn!(run = %self.run_id, phase = %self.phase, error = %err, "Could not remove the phase's canaries");
        }
        let writes = self.log.lock().writes.clone();
        let method = format!(
            "canary writes every {} ms to {} from {} ms before the fault until recovery, read back from {}",
            self.canary.interval.as_millis(),
            self.canary.connection,
            self.canary.lead.as_millis(),
            self.canary.read_from
        );
        let series = canary_series(&writes, &surviving, started_at, self.canary.interval);
        Ok((
            data_loss(
                &writes,
                &surviving,
                fault_at.saturating_duration_since(self.started),
                method,
            ),
            series,
        ))
    }
}

impl Drop for CanaryRun {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn write_loop(
    store: Arc<dyn CanaryStore>,
    canary: Canary,
    run_id: String,
    phase: String,
    started: Instant,
    log: Arc<Mutex<Log>>,
    stop: CancellationToken,
) {
    // A write to a dead server may hang until TCP gives up; the cadence matters more.
    let write_timeout = (canary.interval * 10).max(Duration::from_secs(1));
    let mut ticks = tokio::time::interval(canary.interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut seq = 0u64;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        seq += 1;
        let at = Instant::now().saturating_duration_since(started);
        let result =
            tokio::time::timeout(write_timeout, store.write(&canary, &run_id, &phase, seq)).await;
        let error = match result {
            Ok(Ok(())) => None,
            Ok(Err(err)) => Some(err.to_string()),
            Err(_) => Some(format!("no answer within {} ms", write_timeout.as_millis())),
        };
        {
            let mut log = log.lock();
            log.writes.push(CanaryWrite {
                seq,
                at,
                acknowledged: error.is_none(),
            });
            if error.is_some() {
                log.last_error = error;
            }
        }
    }
}
