//! Canary writes over the configured database connections: rows of a table in
//! PostgreSQL, a list per run and phase in Redis.
//!
//! PostgreSQL: `CREATE TABLE IF NOT EXISTS <table> (run_id text, phase text, seq bigint,
//! written_at timestamptz DEFAULT now(), PRIMARY KEY (run_id, phase, seq))`, one `INSERT`
//! per canary, read back with a `SELECT` on `read_from`. Redis: `RPUSH
//! firedrill:canary:<run>:<phase> <seq>` (with a day's expiry in case clean-up never
//! runs), read back with `LRANGE`. Both are removed after the read-back.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use firedrill_core::config::Canary;
use firedrill_core::config::ConnectionKind;
use firedrill_host::capabilities::BackendError;
use firedrill_host::capabilities::postgres::{Postgres, Value};
use firedrill_host::capabilities::redis::{Redis, Reply, ReplyItem};

use crate::engine::ports::{CanaryStore, ScenarioError};

/// Seconds a Redis canary list lives if it is never cleaned up.
const REDIS_CANARY_TTL_SECONDS: &str = "86400";

/// [`CanaryStore`] over the host's database backends.
#[derive(Clone)]
pub struct DatabaseCanaries {
    postgres: Arc<dyn Postgres>,
    redis: Arc<dyn Redis>,
}

impl std::fmt::Debug for DatabaseCanaries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseCanaries").finish_non_exhaustive()
    }
}

impl DatabaseCanaries {
    pub fn new(postgres: Arc<dyn Postgres>, redis: Arc<dyn Redis>) -> Self {
        Self { postgres, redis }
    }
}

/// The configured table as a quoted identifier (`"schema"."table"`), so that names such as
/// `order` work; the configuration only admits lowercase letters, digits and `_`.
fn quoted(table: &str) -> String {
    table
        .split('.')
        .map(|part| format!("\"{part}\""))
        .collect::<Vec<_>>()
        .join(".")
}

fn redis_key(run_id: &str, phase: &str) -> String {
    format!("firedrill:canary:{run_id}:{phase}")
}

fn err(connection: &str) -> impl Fn(BackendError) -> ScenarioError {
    let connection = connection.to_string();
    move |e| ScenarioError(format!("{connection}: {e}"))
}

fn text(value: &str) -> Value {
    Value::Text(value.to_string())
}

#[async_trait]
impl CanaryStore for DatabaseCanaries {
    async fn prepare(
        &self,
        canary: &Canary,
        _run_id: &str,
        _phase: &str,
    ) -> Result<(), ScenarioError> {
        match canary.kind {
            ConnectionKind::Postgres => {
                // The table name was checked to be a plain identifier when the
                // configuration was loaded.
                let statement = format!(
                    "CREATE TABLE IF NOT EXISTS {} (run_id text NOT NULL, phase text NOT NULL, \
                     seq bigint NOT NULL, written_at timestamptz NOT NULL DEFAULT now(), \
                     PRIMARY KEY (run_id, phase, seq))",
                    quoted(&canary.table)
                );
                self.postgres
                    .execute(&canary.connection, &statement, &[])
                    .await
                    .map_err(err(&canary.connection))?;
            }
            ConnectionKind::Redis => {
                self.redis
                    .command(&canary.connection, &["PING".to_string()])
                    .await
                    .map_err(err(&canary.connection))?;
            }
        }
        Ok(())
    }

    async fn write(
        &self,
        canary: &Canary,
        run_id: &str,
        phase: &str,
        seq: u64,
    ) -> Result<(), ScenarioError> {
        match canary.kind {
            ConnectionKind::Postgres => {
                let statement = format!(
                    "INSERT INTO {} (run_id, phase, seq) VALUES ($1, $2, $3)",
                    quoted(&canary.table)
                );
                let seq =
                    i64::try_from(seq).map_err(|_| ScenarioError("sequence overflow".into()))?;
                self.postgres
                    .execute(
                        &canary.connection,
                        &statement,
                        &[text(run_id), text(phase), Value::Int(seq)],
                    )
                    .await
                    .map_err(err(&canary.connection))?;
            }
            ConnectionKind::Redis => {
                let key = redis_key(run_id, phase);
                let reply = self
                    .redis
                    .command(
                        &canary.connection,
                        &["RPUSH".into(), key.clone(), seq.to_string()],
                    )
                    .await
                    .map_err(err(&canary.connection))?;
                // The first element created the list: give it an expiry in case clean-up
                // never runs. The write is acknowledged whatever EXPIRE answers.
                if matches!(reply, Reply::Int(1))
                    && let Err(e) = self
                        .redis
                        .command(
                            &canary.connection,
                            &["EXPIRE".into(), key, REDIS_CANARY_TTL_SECONDS.into()],
                        )
                        .await
                {
                    tracing::debug!(connection = %canary.connection, error = %e, "EXPIRE on the canary list failed");
                }
            }
        }
        Ok(())
    }

    async fn read_back(
        &self,
        canary: &Canary,
        run_id: &str,
        phase: &str,
    ) -> Result<BTreeSet<u64>, ScenarioError> {
        let mut seqs = BTreeSet::new();
        match canary.kind {
            ConnectionKind::Postgres => {
                let statement = format!(
                    "SELECT seq FROM {} WHERE run_id = $1 AND phase = $2",
                    quoted(&canary.table)
                );
                let rows = match self
                    .postgres
                    .query(&canary.read_from, &statement, &[text(run_id), text(phase)])
                    .await
                {
                    Ok(rows) => rows,
                    // The table itself did not survive (it was created on a primary
                    // whose writes never reached `read_from`): no canary did.
                    Err(BackendError::Refused(message)) if message.contains("42P01") => {
                        tracing::warn!(connection = %canary.read_from, table = %canary.table, "The canary table is missing after recovery: every canary counts as lost");
                        return Ok(seqs);
                    }
                    Err(e) => return Err(err(&canary.read_from)(e)),
                };
                for row in rows.rows {
                    match row.first() {
                        Some(Value::Int(seq)) => {
                            seqs.insert(u64::try_from(*seq).unwrap_or_default());
                        }
                        other => {
                            return Err(ScenarioError(format!(
                                "{}: unexpected canary row {other:?}",
                                canary.read_from
                            )));
                        }
                    }
                }
            }
            ConnectionKind::Redis => {
                let reply = self
                    .redis
                    .command(
                        &canary.read_from,
                        &[
                            "LRANGE".into(),
                            redis_key(run_id, phase),
                            "0".into(),
                            "-1".into(),
                        ],
                    )
                    .await
                    .map_err(err(&canary.read_from))?;
                let Reply::Array(items) = reply else {
                    return Err(ScenarioError(format!(
                        "{}: LRANGE answered {reply:?}",
                        canary.read_from
                    )));
                };
                for item in items {
                    let seq = match &item {
                        ReplyItem::Data(bytes) => std::str::from_utf8(bytes)
                            .ok()
                            .and_then(|s| s.parse::<u64>().ok()),
                        ReplyItem::Status(s) => s.parse::<u64>().ok(),
                        ReplyItem::Int(n) => u64::try_from(*n).ok(),
                        ReplyItem::Nil => None,
                    };
                    match seq {
                        Some(seq) => {
                            seqs.insert(seq);
                        }
                        None => {
                            return Err(ScenarioError(format!(
                                "{}: unexpected canary entry {item:?}",
                                canary.read_from
                            )));
                        }
                    }
                }
            }
        }
        Ok(seqs)
    }

    async fn clean_up(
        &self,
        canary: &Canary,
        connection: &str,
        run_id: &str,
        phase: &str,
    ) -> Result<(), ScenarioError> {
        match canary.kind {
            ConnectionKind::Postgres => {
                let statement = format!(
                    "DELETE FROM {} WHERE run_id = $1 AND phase = $2",
                    quoted(&canary.table)
                );
                self.postgres
                    .execute(connection, &statement, &[text(run_id), text(phase)])
                    .await
                    .map_err(err(connection))?;
            }
            ConnectionKind::Redis => {
                self.redis
                    .command(connection, &["DEL".into(), redis_key(run_id, phase)])
                    .await
                    .map_err(err(connection))?;
            }
        }
        Ok(())
    }
}
