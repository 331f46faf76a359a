//! The outbox on SQLite: one message per run, claimed with a lease, retried until delivered.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::times;
use crate::{CLAIM_LEASE, Delivery, MailQueue, QueuedMail, StoreError};

fn lease_expired(now: DateTime<Utc>) -> String {
    times::millis_text(now - CLAIM_LEASE)
}

impl MailQueue for SqliteStore {
    fn enqueue_mail(
        &self,
        run_id: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let inserted = self.conn.execute(
            "INSERT OR IGNORE INTO outbox (run_id, payload, status, enqueued_at, next_attempt_at)
             VALUES (?1, ?2, 'pending', ?3, ?3)",
            params![run_id, payload, times::millis_text(now)],
        )?;
        Ok(inserted == 1)
    }

    fn due_mail(&self, now: DateTime<Utc>) -> Result<Vec<QueuedMail>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT id, run_id, payload, attempts FROM outbox
             WHERE (status = 'pending' AND next_attempt_at <= ?1)
                OR (status = 'sending' AND claimed_at <= ?2)
             ORDER BY id",
        )?;
        let rows = statement.query_map(
            params![times::millis_text(now), lease_expired(now)],
            |row| {
                Ok(QueuedMail {
                    id: row.get(0)?,
                    run_id: row.get(1)?,
                    payload: row.get(2)?,
                    attempts: row.get::<_, i64>(3)? as u32,
                })
            },
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
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
                 FROM outbox WHERE run_id = ?1",
                [run_id],
                |row| {
                    Ok(Delivery {
                        status: row.get(0)?,
                        attempts: row.get::<_, i64>(1)? as u32,
                        last_error: row.get(2)?,
                        next_attempt_at: times::parse(&row.get::<_, String>(3)?),
                        enqueued_at: times::parse(&row.get::<_, String>(4)?),
                        delivered_at: row
                            .get::<_, Option<String>>(5)?
                            .as_deref()
                            .map(times::parse),
                    })
                },
            )
            .optional()?)
    }
}
