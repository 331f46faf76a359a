//! The outbox on SQLite: per run, one email and one message per HTTP push, each claimed
//! with a lease and retried until delivered.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::SqliteStore;
use crate::times;
use crate::{
    CLAIM_LEASE, Delivery, EMAIL_CHANNEL, MailQueue, PushDelivery, QueuedMail, StoreError,
};

fn lease_expired(now: DateTime<Utc>) -> String {
    times::millis_text(now - CLAIM_LEASE)
}

fn queued(row: &Row<'_>) -> rusqlite::Result<QueuedMail> {
    Ok(QueuedMail {
        id: row.get(0)?,
        run_id: row.get(1)?,
        channel: row.get(2)?,
        payload: row.get(3)?,
        attempts: row.get::<_, i64>(4)? as u32,
    })
}

/// `status, attempts, last_error, next_attempt_at, enqueued_at, delivered_at` from `first`.
fn delivery(row: &Row<'_>, first: usize) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        status: row.get(first)?,
        attempts: row.get::<_, i64>(first + 1)? as u32,
        last_error: row.get(first + 2)?,
        next_attempt_at: times::parse(&row.get::<_, String>(first + 3)?),
        enqueued_at: times::parse(&row.get::<_, String>(first + 4)?),
        delivered_at: row
            .get::<_, Option<String>>(first + 5)?
            .as_deref()
            .map(times::parse),
    })
}

impl SqliteStore {
    fn enqueue(
        &self,
        run_id: &str,
        channel: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let inserted = self.conn.execute(
            "INSERT OR IGNORE INTO outbox
                 (run_id, channel, payload, status, enqueued_at, next_attempt_at)
             VALUES (?1, ?2, ?3, 'pending', ?4, ?4)",
            params![run_id, channel, payload, times::millis_text(now)],
        )?;
        Ok(inserted == 1)
    }

    /// Due messages of the email channel (`email` true) or of every other one.
    fn due(&self, email: bool, now: DateTime<Utc>) -> Result<Vec<QueuedMail>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT id, run_id, channel, payload, attempts FROM outbox
             WHERE ((channel = ?3) = ?4)
               AND ((status = 'pending' AND next_attempt_at <= ?1)
                    OR (status = 'sending' AND claimed_at <= ?2))
             ORDER BY id",
        )?;
        let rows = statement.query_map(
            params![
                times::millis_text(now),
                lease_expired(now),
                EMAIL_CHANNEL,
                email
            ],
            queued,
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

impl MailQueue for SqliteStore {
    fn enqueue_mail(
        &self,
        run_id: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.enqueue(run_id, EMAIL_CHANNEL, payload, now)
    }

    fn enqueue_push(
        &self,
        run_id: &str,
        channel: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.enqueue(run_id, channel, payload, now)
    }

    fn due_mail(&self, now: DateTime<Utc>) -> Result<Vec<QueuedMail>, StoreError> {
        self.due(true, now)
    }

    fn due_pushes(&self, now: DateTime<Utc>) -> Result<Vec<QueuedMail>, StoreError> {
        self.due(false, now)
    }

    fn claim_mail(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let claimed = self.conn.execute(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1, claimed_at = ?2
             WHERE id = ?1
               AND (status = 'pending' OR (status = 'sending' AND claimed_at <= ?3))",
            params![id, times::millis_text(now), lease_expired(now)],
        )?;
        Ok(claimed == 1)
    }

    fn mail_delivered(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE outbox SET status = 'delivered', delivered_at = ?2, last_error = NULL
             WHERE id = ?1",
            params![id, times::millis_text(at)],
        )?;
        Ok(())
    }

    fn mail_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE outbox SET status = 'pending', last_error = ?2, next_attempt_at = ?3
             WHERE id = ?1",
            params![id, error, times::millis_text(next_attempt_at)],
        )?;
        Ok(())
    }

    fn delivery(&self, run_id: &str) -> Result<Option<Delivery>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT status, attempts, last_error, next_attempt_at, enqueued_at, delivered_at
                 FROM outbox WHERE run_id = ?1 AND channel = ?2",
                params![run_id, EMAIL_CHANNEL],
                |row| delivery(row, 0),
            )
            .optional()?)
    }

    fn push_deliveries(&self, run_id: &str) -> Result<Vec<PushDelivery>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT channel, status, attempts, last_error, next_attempt_at, enqueued_at,
                    delivered_at
             FROM outbox WHERE run_id = ?1 AND channel <> ?2 ORDER BY id",
        )?;
        let rows = statement.query_map(params![run_id, EMAIL_CHANNEL], |row| {
            Ok(PushDelivery {
                channel: row.get(0)?,
                delivery: delivery(row, 1)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}
