//! The outbox on PostgreSQL: per run, one email and one message per HTTP push, each
//! claimed by one sender among all replicas, with a lease for a sender that died, retried
//! until delivered.

use ::postgres::Row;
use chrono::{DateTime, Utc};

use super::{Failure, PostgresStore};
use crate::{
    CLAIM_LEASE, Delivery, EMAIL_CHANNEL, MailQueue, PushDelivery, QueuedMail, StoreError,
};

fn queued(row: &Row) -> Result<QueuedMail, Failure> {
    Ok(QueuedMail {
        id: row.try_get(0)?,
        run_id: row.try_get(1)?,
        channel: row.try_get(2)?,
        payload: row.try_get(3)?,
        attempts: row.try_get::<_, i32>(4)? as u32,
    })
}

/// `status, attempts, last_error, next_attempt_at, enqueued_at, delivered_at` from `first`.
fn delivery(row: &Row, first: usize) -> Result<Delivery, Failure> {
    Ok(Delivery {
        status: row.try_get(first)?,
        attempts: row.try_get::<_, i32>(first + 1)? as u32,
        last_error: row.try_get(first + 2)?,
        next_attempt_at: row.try_get(first + 3)?,
        enqueued_at: row.try_get(first + 4)?,
        delivered_at: row.try_get(first + 5)?,
    })
}

impl PostgresStore {
    fn enqueue(
        &self,
        run_id: &str,
        channel: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.call(|client| {
            let inserted = client.execute(
                "INSERT INTO outbox (run_id, channel, payload, status, enqueued_at,
                                     next_attempt_at)
                 VALUES ($1, $2, $3, 'pending', $4, $4)
                 ON CONFLICT (run_id, channel) DO NOTHING",
                &[&run_id, &channel, &payload, &now],
            )?;
            Ok(inserted == 1)
        })
    }

    /// Due messages of the email channel (`email` true) or of every other one.
    fn due(&self, email: bool, now: DateTime<Utc>) -> Result<Vec<QueuedMail>, StoreError> {
        self.call(|client| {
            client
                .query(
                    "SELECT id, run_id, channel, payload, attempts FROM outbox
                     WHERE ((channel = $3) = $4)
                       AND ((status = 'pending' AND next_attempt_at <= $1)
                            OR (status = 'sending' AND claimed_at <= $2))
                     ORDER BY id",
                    &[&now, &(now - CLAIM_LEASE), &EMAIL_CHANNEL, &email],
                )?
                .iter()
                .map(queued)
                .collect()
        })
    }
}

impl MailQueue for PostgresStore {
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
                     FROM outbox WHERE run_id = $1 AND channel = $2",
                    &[&run_id, &EMAIL_CHANNEL],
                )?
                .as_ref()
                .map(|row| delivery(row, 0))
                .transpose()
        })
    }

    fn push_deliveries(&self, run_id: &str) -> Result<Vec<PushDelivery>, StoreError> {
        self.call(|client| {
            client
                .query(
                    "SELECT channel, status, attempts, last_error, next_attempt_at,
                            enqueued_at, delivered_at
                     FROM outbox WHERE run_id = $1 AND channel <> $2 ORDER BY id",
                    &[&run_id, &EMAIL_CHANNEL],
                )?
                .iter()
                .map(|row| {
                    Ok(PushDelivery {
                        channel: row.try_get(0)?,
                        delivery: delivery(row, 1)?,
                    })
                })
                .collect()
        })
    }
}
