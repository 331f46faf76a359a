//! The outbox on PostgreSQL: one message per run, claimed by one sender among all
//! replicas, with a lease for a sender that died, retried until delivered.

use ::postgres::Row;
use chrono::{DateTime, Utc};

use super::{Failure, PostgresStore};
use crate::{CLAIM_LEASE, Delivery, MailQueue, QueuedMail, StoreError};

fn queued(row: &Row) -> Result<QueuedMail, Failure> {
    Ok(QueuedMail {
        id: row.try_get(0)?,
        run_id: row.try_get(1)?,
        payload: row.try_get(2)?,
        attempts: row.try_get::<_, i32>(3)? as u32,
    })
}

fn delivery(row: &Row) -> Result<Delivery, Failure> {
    Ok(Delivery {
        status: row.try_get(0)?,
        attempts: row.try_get::<_, i32>(1)? as u32,
        last_error: row.try_get(2)?,
        next_attempt_at: row.try_get(3)?,
        enqueued_at: row.try_get(4)?,
        delivered_at: row.try_get(5)?,
    })
}

impl MailQueue for PostgresStore {
    fn enqueue_mail(
        &self,
        run_id: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.call(|client| {
            let inserted = client.execute(
                "INSERT INTO outbox (run_id, payload, status, enqueued_at, next_attempt_at)
                 VALUES ($1, $2, 'pending', $3, $3) ON CONFLICT (run_id) DO NOTHING",
                &[&run_id, &payload, &now],
            )?;
            Ok(inserted == 1)
        })
    }

    fn due_mail(&self, now: DateTime<Utc>) -> Result<Vec<QueuedMail>, StoreError> {
        self.call(|client| {
            client
                .query(
                    "SELECT id, run_id, payload, attempts FROM outbox
                     WHERE (status = 'pending' AND next_attempt_at <= $1)
                        OR (status = 'sending' AND claimed_at <= $2)
                     ORDER BY id",
                    &[&now, &(now - CLAIM_LEASE)],
                )?
                .iter()
                .map(queued)
                .collect()
        })
    }

    fn claim_mail(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        // The row lock makes this exactly once across replicas: a second claimer waits for
        // the first's commit, then PostgreSQL re-checks the condition on the row as the
        // first left it (`sending`, claimed now) and updates nothing.
        self.call(|client| {
            let claimed = client.execute(
                "UPDATE outbox SET status = 'sending', attempts = attempts + 1, claimed_at = $2
                 WHERE id = $1
                   AND (status = 'pending' OR (status = 'sending' AND claimed_at <= $3))",
                &[&id, &now, &(now - CLAIM_LEASE)],
            )?;
            Ok(claimed == 1)
        })
    }

    fn mail_delivered(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.call(|client| {
            client.execute(
                "UPDATE outbox SET status = 'delivered', delivered_at = $2, last_error = NULL
                 WHERE id = $1",
                &[&id, &at],
            )?;
            Ok(())
        })
    }

    fn mail_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.call(|client| {
            client.execute(
                "UPDATE outbox SET status = 'pending', last_error = $2, next_attempt_at = $3
                 WHERE id = $1",
                &[&id, &error, &next_attempt_at],
            )?;
            Ok(())
        })
    }

    fn delivery(&self, run_id: &str) -> Result<Option<Delivery>, StoreError> {
        self.call(|client| {
            client
                .query_opt(
                    "SELECT status, attempts, last_error, next_attempt_at, enqueued_at,
                            delivered_at
                     FROM outbox WHERE run_id = $1",
                    &[&run_id],
                )?
                .as_ref()
                .map(delivery)
                .transpose()
        })
    }
}
