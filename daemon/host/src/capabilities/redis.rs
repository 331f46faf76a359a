//! The `redis` capability: commands on named, granted connections. The real driver comes
//! later; [`NoRedis`] answers until then and tests use their own fakes.

use std::time::Instant;

use async_trait::async_trait;

use super::BackendError;
use super::View;
use crate::bindings::redis::Host;
pub use crate::bindings::redis::{Reply, ReplyItem};
use crate::bindings::types::Error as WitError;
use crate::grants::Request;
use crate::text::shown;

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
        self.guard.outside_cluster();
        let backend = self.backend.clone();
        let at = Instant::now();
        let result = backend.command(&connection, &args).await;
        if result.is_ok() && !is_read_only(&args) {
            let command = args.first().map_or("", String::as_str);
            let action = format!("redis on {}: {}", shown(&connection), shown(command));
            self.guard.disrupted(at, action);
        }
        Ok(result.map_err(WitError::from))
    }
}

/// Commands that only read (data or server state). Anything else counts as a write,
/// including `SENTINEL FAILOVER`, `DEBUG SLEEP` and commands this list does not know.
const READ_ONLY_COMMANDS: &[&str] = &[
    "get",
    "mget",
    "strlen",
    "getrange",
    "exists",
    "type",
    "ttl",
    "pttl",
    "keys",
    "scan",
    "dbsize",
    "hget",
    "hmget",
    "hgetall",
    "hkeys",
    "hvals",
    "hlen",
    "hexists",
    "lrange",
    "llen",
    "lindex",
    "smembers",
    "scard",
    "sismember",
    "zrange",
    "zscore",
    "zcard",
    "xlen",
    "xrange",
    "info",
    "ping",
    "echo",
    "role",
    "time",
    "lastsave",
    "wait",
];

/// Is a command a read? `SENTINEL` reads only with its read-only subcommands.
pub fn is_read_only(args: &[String]) -> bool {
    let Some(command) = args.first().map(|c| c.to_ascii_lowercase()) else {
        return true;
    };
    if command == "sentinel" {
        let sub = args
            .get(1)
            .map(|s| s.to_ascii_lowercase())
            .unwrap_or_default();
        return matches!(
            sub.as_str(),
            "get-master-addr-by-name"
                | "masters"
                | "master"
                | "replicas"
                | "slaves"
                | "sentinels"
                | "ckquorum"
        );
    }
    READ_ONLY_COMMANDS.contains(&command.as_str())
}

#[cfg(test)]
mod tests {
    use super::is_read_only;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn reads_are_told_from_writes_by_command_name() {
        assert!(is_read_only(&args(&["GET", "canary:1"])));
        assert!(is_read_only(&args(&[
            "sentinel",
            "get-master-addr-by-name",
            "m"
        ])));
        assert!(!is_read_only(&args(&["SET", "canary:1", "1"])));
        assert!(!is_read_only(&args(&["SENTINEL", "FAILOVER", "m"])));
        assert!(!is_read_only(&args(&["DEBUG", "SLEEP", "30"])));
    }
}
