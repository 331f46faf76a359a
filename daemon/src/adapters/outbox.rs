//! `LockedStore`: the run store's outbox (emails and HTTP pushes) behind a mutex, so delivery can run on any thread.
//!
//! A store's connection may move between threads but not be shared; the outbox's delivery
//! is async and holds the queue across sends, so it gets the store behind a mutex, locked
//! only for each short queue operation (never across a send).

use parking_lot::Mutex;

use chrono::{DateTime, Utc};
use firedrill_store::{Delivery, MailQueue, PushDelivery, QueuedMail, Store, StoreError};

pub struct LockedStore(Mutex<Box<dyn Store>>);

impl std::fmt::Debug for LockedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockedStore").finish_non_exhaustive()
    }
}

impl LockedStore {
    pub fn new(store: Box<dyn Store>) -> Self {
        Self(Mutex::new(store))
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // The queue is a sync trait called from async delivery: on a multi-threaded
        // runtime, tell tokio this worker blocks (its other tasks move to another
        // thread) for the write and its fsync or commit.
        let run = || f(&**self.0.lock());
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(run),
            _ => run(),
        }
    }
}

impl MailQueue for LockedStore {
    fn enqueue_mail(
        &self,
        run_id: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.with(|s| s.enqueue_mail(run_id, payload, now))
    }
    fn enqueue_push(
        &self,
        run_id: &str,
        channel: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.with(|s| s.enqueue_push(run_id, channel, payload, now))
    }
    fn due_mail(&self, now: DateTime<Utc>) -> Result<Vec<QueuedMail>, StoreError> {
        self.with(|s| s.due_mail(now))
    }
    fn due_pushes(&self, now: DateTime<Utc>) -> Result<Vec<QueuedMail>, StoreError> {
        self.with(|s| s.due_pushes(now))
    }
    fn claim_mail(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.with(|s| s.claim_mail(id, now))
    }
    fn mail_delivered(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.with(|s| s.mail_delivered(id, at))
    }
    fn mail_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with(|s| s.mail_failed(id, error, next_attempt_at))
    }
    fn delivery(&self, run_id: &str) -> Result<Option<Delivery>, StoreError> {
        self.with(|s| s.delivery(run_id))
    }
    fn push_deliveries(&self, run_id: &str) -> Result<Vec<PushDelivery>, StoreError> {
        self.with(|s| s.push_deliveries(run_id))
    }
}
