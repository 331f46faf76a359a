//! The `redis` capability: commands on named, granted connections. The real driver comes
//! later; [`NoRedis`] answers until then and tests use their own fakes.

use async_trait::async_trait;

use super::BackendError;
use super::View;
use crate::bindings::redis::Host;
pub use crate::bindings::redis::{Reply, ReplyItem};
use crate::bindings::types::Error as WitError;
use crate::grants::Request;

/// Redis connections named in the configuration (the port).
#[async_trait]
pub trait Redis: Send + Sync {
    async fn command(&self, connection: &str, args: &[String]) -> Result<Reply, BackendError>;
}

/// The backend when no Redis connection is configured.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoRedis;

#[async_trait]
impl Redis for NoRedis {
    async fn command(&self, connection: &str, _: &[String]) -> Result<Reply, BackendError> {
        Err(BackendError::NotFound(format!(
            "no redis connection {connection} is configured"
        )))
    }
}

impl Host for View<'_, dyn Redis> {
    async fn command(
        &mut self,
        connection: String,
        args: Vec<String>,
    ) -> wasmtime::Result<Result<Reply, WitError>> {
        self.guard.check(&Request::Redis {
            connection: &connection,
        })?;
        let backend = self.backend.clone();
        Ok(backend
            .command(&connection, &args)
            .await
            .map_err(WitError::from))
    }
}
