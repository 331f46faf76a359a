//! The `postgres` capability: statements on named, granted connections. The real driver
//! comes later; [`NoPostgres`] answers until then and tests use their own fakes.

use std::time::Instant;

use async_trait::async_trait;

use super::BackendError;
use super::View;
use crate::bindings::postgres::Host;
pub use crate::bindings::postgres::{RowSet, Value};
use crate::bindings::types::Error as WitError;
use crate::grants::Request;
use crate::text::shown;

/// PostgreSQL connections named in the configuration (the port).
#[async_trait]
pub trait Postgres: Send + Sync {
    async fn query(
        &self,
        connection: &str,
        statement: &str,
        params: &[Value],
    ) -> Result<RowSet, BackendError>;
    async fn execute(
        &self,
        connection: &str,
        statement: &str,
        params: &[Value],
    ) -> Result<u64, BackendError>;
}

/// The backend when no PostgreSQL connection is configured.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPostgres;

#[async_trait]
impl Postgres for NoPostgres {
    async fn query(&self, connection: &str, _: &str, _: &[Value]) -> Result<RowSet, BackendError> {
        Err(BackendError::NotFound(format!(
            "no postgres connection {connection} is configured"
        )))
    }
    async fn execute(&self, connection: &str, _: &str, _: &[Value]) -> Result<u64, BackendError> {
        Err(BackendError::NotFound(format!(
            "no postgres connection {connection} is configured"
        )))
    }
}

impl Host for View<'_, dyn Postgres> {
    async fn query(
        &mut self,
        connection: String,
        statement: String,
        params: Vec<Value>,
    ) -> wasmtime::Result<Result<RowSet, WitError>> {
        self.guard.check(&Request::Postgres {
            operation: "query",
            connection: &connection,
        })?;
        self.guard.outside_cluster();
        let backend = self.backend.clone();
        let at = Instant::now();
        let result = backend.query(&connection, &statement, &params).await;
        if result.is_ok() && !is_read_only(&statement) {
            self.guard
                .disrupted(at, sql_effect(&connection, &statement));
        }
        Ok(result.map_err(WitError::from))
    }

    async fn execute(
        &mut self,
        connection: String,
        statement: String,
        params: Vec<Value>,
    ) -> wasmtime::Result<Result<u64, WitError>> {
        self.guard.check(&Request::Postgres {
            operation: "execute",
            connection: &connection,
        })?;
        self.guard.outside_cluster();
        let backend = self.backend.clone();
        let at = Instant::now();
        let result = backend.execute(&connection, &statement, &params).await;
        // `execute` is for statements that change something: every one is a write.
        if result.is_ok() {
            self.guard
                .disrupted(at, sql_effect(&connection, &statement));
        }
        Ok(result.map_err(WitError::from))
    }
}

/// An effect's description of a statement.
fn sql_effect(connection: &str, statement: &str) -> String {
    format!("sql on {}: {}", shown(connection), shown(statement.trim()))
}

/// Is a `query` a plain read? `SELECT`, `SHOW`, `EXPLAIN`, `VALUES`, `TABLE` that call
/// no server function of the `pg_` family (`SELECT pg_promote()` fails a database over)
/// and take no locks; anything else counts as a write, including `WITH`, which may
/// modify data.
pub fn is_read_only(statement: &str) -> bool {
    let lowered = statement.trim_start().to_ascii_lowercase();
    let first = lowered
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("");
    matches!(first, "select" | "show" | "explain" | "values" | "table")
        && !lowered.contains("pg_")
        && !lowered.contains(" for update")
        && !lowered.contains(" for share")
        && !lowered.contains(" into ")
        && !lowered.contains("nextval(")
        && !lowered.contains("setval(")
}

#[cfg(test)]
mod tests {
    use super::is_read_only;

    #[test]
    fn plain_selects_are_reads_and_everything_else_a_write() {
        assert!(is_read_only("SELECT count(*) FROM canaries"));
        assert!(is_read_only("  show transaction_read_only"));
        assert!(!is_read_only("SELECT pg_promote()"));
        assert!(!is_read_only("SELECT * FROM jobs FOR UPDATE SKIP LOCKED"));
        assert!(!is_read_only("INSERT INTO t VALUES (1) RETURNING id"));
        assert!(!is_read_only(
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d"
        ));
    }
}
