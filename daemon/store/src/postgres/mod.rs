//! [`PostgresStore`]: the run journal, the run chain, the outbox and the scheduler state in
//! one PostgreSQL database, shared by every replica of the daemon.
//!
//! [`PostgresStore::open`] connects (TLS with `sslmode=require`, see below), applies the
//! schema migrations the database lacks (`migrate`) and keeps the one connection; a
//! connection the server closed (a restart) is found before the next call sends anything
//! on it, and replaced. Every call blocks on the
//! server: the client runs its own small tokio runtime, so async callers open and call the
//! store on tokio's blocking pool (`spawn_blocking`) or inside `block_in_place`, never on a
//! worker (that panics). Dropping it anywhere is fine.
//!
//! Several processes may use one database at once, which is the point:
//! - the chain stays linear: an append takes a transaction-scoped advisory lock before it
//!   reads the head, and a trigger refuses updates, deletes and truncation of `records`;
//! - a message is claimed by one sender only (a conditional `UPDATE` of its row);
//! - every journal entry is a committed transaction when `journal_append` returns (durable
//!   as the server's `synchronous_commit` makes commits; `off` is raised to `on` for this
//!   connection), and saving handled slots is one transaction.
//!
//! TLS: `sslmode=require` in the URL connects with TLS (rustls with the ring provider,
//! certificates checked against the platform's trust store); otherwise the connection is
//! plain. Errors name the server as `host:port/database`, never the password.
//!
//! - `chain`: [`RunStore`](crate::RunStore), appending under the advisory lock.
//! - `outbox`: [`MailQueue`](crate::MailQueue), claims that two replicas cannot both win.
//! - `journal`: [`RunJournal`](crate::RunJournal), one commit per entry.
//! - `schedule`: [`ScheduleState`](crate::ScheduleState), saved in one transaction.
//! - `migrate`: the versioned schema (`schema_migrations`), applied once under a lock.

mod chain;
mod journal;
mod migrate;
mod outbox;
mod schedule;

use std::sync::Arc;
use std::time::Duration;

use ::postgres::config::{Host, SslMode};
use ::postgres::{Client, Config, NoTls};
use ed25519_dalek::{SigningKey, VerifyingKey};
use parking_lot::Mutex;

use crate::StoreError;
use crate::chain::Keys;

/// How long connecting may take when the URL does not say (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The first key of every advisory lock this store takes (`pg_advisory_xact_lock(int4,
/// int4)`): "fdrl", so that other applications' locks in the same database do not collide.
const LOCK_CLASS: i32 = 0x6664_726c;

/// The whole store in one PostgreSQL database.
pub struct PostgresStore {
    /// One connection per store; the traits take `&self`, and the client needs `&mut`.
    connection: Mutex<Connection>,
    /// How to connect again (the password included: it is never printed).
    config: Config,
    /// `host:port/database`, for messages.
    server: String,
    keys: Keys,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host:port/database?...` or
    /// `key=value` pairs), with `password` when the URL carries none, and applies the
    /// schema migrations it lacks. A database already at this version is only read, so a
    /// role that may not create tables can open it.
    pub fn open(url: &str, password: Option<&str>) -> Result<PostgresStore, StoreError> {
        let mut config: Config = url
            .parse()
            .map_err(|source| StoreError::PostgresUrl { source })?;
        if config.get_password().is_none()
            && let Some(password) = password
        {
            config.password(password);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("firedrill");
        }
        let server = server_name(&config);
        let mut client = connect(&config, &server)?;
        migrate::migrate(&mut client, &server).map_err(|failure| failure.named(&server))?;
        Ok(PostgresStore {
            connection: Mutex::new(Connection(Some(client))),
            config,
            server,
            keys: Keys::default(),
        })
    }

    /// The server and database, as `host:port/database`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Signs every appended record's hash; verification then also checks signatures.
    pub fn with_signing_key(mut self, key: SigningKey) -> PostgresStore {
        self.keys.sign_with(key);
        self
    }

    /// Checks signatures with this public key (e.g. an auditor without the secret key).
    pub fn with_verifying_key(mut self, key: VerifyingKey) -> PostgresStore {
        self.keys.verify_with(key);
        self
    }

    /// Runs `work` on the connection (a new one if the server closed the last, see
    /// [`usable`]), and names the server in its errors.
    fn call<T>(
        &self,
        work: impl FnOnce(&mut Client) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection.lock();
        let timeout = self
            .config
            .get_connect_timeout()
            .copied()
            .unwrap_or(CONNECT_TIMEOUT);
        if connection
            .0
            .as_mut()
            .is_some_and(|client| !usable(client, timeout))
        {
            connection.0 = None;
        }
        let client = match connection.0.as_mut() {
            Some(client) => client,
            None => connection.0.insert(connect(&self.config, &self.server)?),
        };
        work(client).map_err(|failure| failure.named(&self.server))
    }
}

/// Whether the connection still reaches the server: an empty query (no effect, one round
/// trip) answered within `timeout`.
///
/// The client reads its socket only while a call runs, so a connection the server closed
/// since the last call (a restart, a failover, `idle_session_timeout`) still looks open;
/// the statement sent on it would fail ("connection closed") although the server is back,
/// and after a write that failed so, whether it was applied is not known. Checking first
/// replaces such a connection before anything is sent on it.
fn usable(client: &mut Client, timeout: Duration) -> bool {
    !client.is_closed() && client.is_valid(timeout).is_ok()
}

/// The store's connection, closed where closing may block.
struct Connection(Option<Client>);

impl Drop for Connection {
    fn drop(&mut self) {
        let Some(client) = self.0.take() else {
            return;
        };
        // Closing blocks on the client's own runtime, which panics on a thread that drives
        // a tokio runtime (a store dropped in async code): there it closes on a thread of
        // its own. Elsewhere it closes here.
        if tokio::runtime::Handle::try_current().is_ok() {
            let _ = std::thread::Builder::new()
                .name("firedrill-store-close".to_string())
                .spawn(move || drop(client));
        }
    }
}

/// What went wrong inside a call, before the server's name is attached.
enum Failure {
    Query(::postgres::Error),
    Store(StoreError),
}

impl Failure {
    fn named(self, server: &str) -> StoreError {
        match self {
            Failure::Query(source) => StoreError::Postgres {
                server: server.to_string(),
                source,
            },
            Failure::Store(err) => err,
        }
    }
}

impl From<::postgres::Error> for Failure {
    fn from(err: ::postgres::Error) -> Self {
        Failure::Query(err)
    }
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        Failure::Store(err)
    }
}

impl From<serde_json::Error> for Failure {
    fn from(err: serde_json::Error) -> Self {
        Failure::Store(StoreError::Json(err))
    }
}

/// A new connection, its commits durable.
fn connect(config: &Config, server: &str) -> Result<Client, StoreError> {
    let connect_error = |source| StoreError::PostgresConnect {
        server: server.to_string(),
        source,
    };
    let mut client = if config.get_ssl_mode() == SslMode::Require {
        config.connect(tls_connector(server)?)
    } else {
        config.connect(NoTls)
    }
    .map_err(connect_error)?;
    // A journal entry must survive the server's crash once `journal_append` returns: a
    // server (or role) with asynchronous commits gets synchronous ones on this connection.
    // `local`, `remote_write` and `remote_apply` already wait for the local flush.
    let synchronous = client
        .query_one("SHOW synchronous_commit", &[])
        .and_then(|row| row.try_get::<_, String>(0))
        .map_err(connect_error)?;
    if synchronous == "off" {
        client
            .batch_execute("SET synchronous_commit = on")
            .map_err(connect_error)?;
    }
    Ok(client)
}

/// rustls with the ring provider and the platform's trust store.
fn tls_connector(server: &str) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    let tls_error = |problem: String| StoreError::PostgresTls {
        server: server.to_string(),
        problem,
    };
    let mut roots = rustls::RootCertStore::empty();
    // A certificate the platform ships but rustls cannot parse is skipped; the others
    // still verify.
    let (added, _skipped) =
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if added == 0 {
        return Err(tls_error(
            "no trusted certificates in the platform's store".to_string(),
        ));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|err| tls_error(err.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// `host:port/database` (hosts separated by commas), as errors name the server: never the
/// user's password.
fn server_name(config: &Config) -> String {
    const DEFAULT_PORT: u16 = 5432;
    let ports = config.get_ports();
    // One port applies to every host; otherwise there is one port per host.
    let port = |i: usize| {
        ports
            .get(i)
            .or(ports.first())
            .copied()
            .unwrap_or(DEFAULT_PORT)
    };
    let mut hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| match host {
            Host::Tcp(name) => format!("{name}:{}", port(i)),
            Host::Unix(dir) => format!("{}:{}", dir.display(), port(i)),
        })
        .collect();
    if hosts.is_empty() {
        hosts = config
            .get_hostaddrs()
            .iter()
            .enumerate()
            .map(|(i, addr)| format!("{addr}:{}", port(i)))
            .collect();
    }
    // PostgreSQL's default database is the user's name.
    let database = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{}/{database}", hosts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(url: &str) -> String {
        server_name(&url.parse().unwrap_or_else(|err| panic!("{url}: {err}")))
    }

    #[test]
    fn the_server_is_named_by_host_port_and_database_without_the_password() {
        assert_eq!(
            name("postgres://firedrill:s3cret@db.example:6432/drills?sslmode=disable"),
            "db.example:6432/drills"
        );
        assert_eq!(
            name("postgres://firedrill@db.example"),
            "db.example:5432/firedrill"
        );
        assert_eq!(
            name("host=a,b port=5433 user=u password=s3cret dbname=d"),
            "a:5433,b:5433/d"
        );
        assert_eq!(name("host=a,b port=1,2 dbname=d"), "a:1,b:2/d");
        assert_eq!(name("hostaddr=127.0.0.1 dbname=d"), "127.0.0.1:5432/d");
    }

    #[test]
    fn an_invalid_url_is_refused_without_quoting_it() {
        let err = PostgresStore::open("postgres://u:s3cret@host:notaport/db", None).unwrap_err();
        assert!(matches!(err, StoreError::PostgresUrl { .. }), "{err:?}");
        let mut chain = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            chain.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        assert!(!chain.contains("s3cret"), "{chain}");
    }
}
