//! The `postgres` capability: statements on named, granted connections. The real driver
//! comes later; [`NoPostgres`] answers until then and tests use their own fakes.

use async_trait::async_trait;

use super::BackendError;
use super::View;
use crate::bindings::postgres::Host;
pub use crate::bindings::postgres::{RowSet, Value};
use crate::bindings::types::Error as WitError;
use crate::grants::Request;

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
        let backend = self.backend.clone();
        Ok(backend
            .query(&connection, &statement, &params)
            .await
            .map_err(WitError::from))
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
        let backend = self.backend.clone();
        Ok(backend
            .execute(&connection, &statement, &params)
            .await
            .map_err(WitError::from))
    }
}
