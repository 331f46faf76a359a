//! `Databases`: the plugin host's `postgres` and `redis` ports over the configuration's
//! named connections (tokio-postgres and redis-rs), with lazy reconnection and timeouts.
//!
//! Each connection name has at most one live client, created on first use and replaced
//! when it turns out closed or broken, so a failover costs the drill one failed call and
//! not every call after it. Nothing is retried that might have run: a statement or
//! command that failed because the connection broke is reported as `unavailable`, and the
//! next call reconnects. The one exception is a Redis `READONLY` reply on a Sentinel
//! connection: the command did not run, so it is sent again once to the master the
//! Sentinels name now.
//!
//! Errors reach the plugin as the WIT `error`: an unknown connection (or one of the other
//! kind) is `not-found`; a server that cannot be reached, or a connection that broke, is
//! `unavailable`; no answer within the connect timeout (5 s) or statement timeout (10 s)
//! is `timeout`; anything the server refused (SQL errors with their SQLSTATE, Redis error
//! replies such as `READONLY`, failed authentication) is `refused`.
//!
//! # PostgreSQL
//!
//! Parameters are sent with fixed types: `null` (type inferred by the server), `boolean`
//! → `bool`, `int` → `int8`, `float` → `float8`, `text` → `text`, `bytes` → `bytea`.
//! PostgreSQL converts `int8` and `float8` where a narrower column is assigned or
//! compared, but not `text`: compare a text parameter with a non-text column through a
//! cast in the statement, e.g. `WHERE id = $1::int`.
//!
//! Columns of type `bool`, `int2`/`int4`/`int8` (and `oid`, `xid`, `xid8`),
//! `float4`/`float8`, text types (`text`, `varchar`, `char`, `name`, `json`, `jsonb`)
//! and `bytea` map to the matching WIT value; `timestamptz` (RFC 3339, UTC), `timestamp`,
//! `date`, `numeric`, `uuid` and `pg_lsn` come back as their usual text; SQL `NULL` as
//! `null`. Any other type comes back as the hex of its binary form (`\x...`): cast it to
//! text in the statement (`col::text`) to read it.
//!
//! TLS: `sslmode=require` in the URL connects with TLS (rustls, certificates checked
//! against the platform's trust store); otherwise the connection is plain.
//!
//! # Redis
//!
//! A connection with `sentinel` asks the Sentinel nodes in order for the master's address
//! (`SENTINEL get-master-addr-by-name`), connects there and checks with `ROLE` that it is
//! the master; it asks again after any connection error or `READONLY` reply. The URL's
//! host is then ignored, its database number, user name and `rediss://` scheme are kept.
//! The password applies to the data nodes; Sentinels are reached without one. Replies
//! map to the WIT `reply`; nested arrays (and maps) inside an array become the RESP text
//! of the nested value.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use firedrill_core::config::{Config, Connection, Secret};
use firedrill_core::config::{ConnectionKind, Sentinel};
use firedrill_host::capabilities::BackendError;
use firedrill_host::capabilities::postgres::{Postgres, RowSet, Value};
use firedrill_host::capabilities::redis::{Redis, Reply, ReplyItem};
use tokio::sync::Mutex;
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};

use crate::exit::error_chain;

/// Why the configured connections cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("connection {connection}: invalid postgres URL")]
    PostgresUrl {
        connection: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("connection {connection}: invalid redis URL")]
    RedisUrl {
        connection: String,
        #[source]
        source: redis::RedisError,
    },
}

/// How long to wait for a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing a connection (TCP, TLS, authentication; for Sentinel connections,
    /// each Sentinel asked and the master).
    pub connect: Duration,
    /// One statement or command, from sending it to its last row.
    pub statement: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            statement: Duration::from_secs(10),
        }
    }
}

/// The configuration's PostgreSQL and Redis connections, by name. Cheap to build (no
/// connection is opened before its first use) and cheap to clone (clones share the
/// connections).
#[derive(Clone)]
pub struct Databases {
    connections: Arc<BTreeMap<String, Backend>>,
}

enum Backend {
    Postgres(PostgresConnection),
    Redis(RedisConnection),
}

impl std::fmt::Debug for Databases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (name, backend) in self.connections.iter() {
            let kind = match backend {
                Backend::Postgres(_) => "postgres",
                Backend::Redis(_) => "redis",
            };
            map.entry(name, &kind);
        }
        map.finish()
    }
}

impl Databases {
    /// The connections of a resolved configuration, with the default [`Timeouts`].
    pub fn from_config(config: &Config) -> Result<Self, DatabaseError> {
        Self::new(&config.connections, Timeouts::default())
    }

    /// Connections by name. URLs are parsed now; secrets are read at each connect, so a
    /// rotated password is picked up on the next reconnection.
    pub fn new(
        connections: &BTreeMap<String, Connection>,
        timeouts: Timeouts,
    ) -> Result<Self, DatabaseError> {
        let mut backends = BTreeMap::new();
        for (name, connection) in connections {
            let backend = match connection.kind {
                ConnectionKind::Postgres => {
                    Backend::Postgres(PostgresConnection::new(name, connection, timeouts)?)
                }
                ConnectionKind::Redis => {
                    Backend::Redis(RedisConnection::new(name, connection, timeouts)?)
                }
            };
            backends.insert(name.clone(), backend);
        }
        Ok(Self {
            connections: Arc::new(backends),
        })
    }

    fn postgres(&self, name: &str) -> Result<&PostgresConnection, BackendError> {
        match self.connections.get(name) {
            Some(Backend::Postgres(connection)) => Ok(connection),
            Some(Backend::Redis(_)) => Err(BackendError::NotFound(format!(
                "connection {name} is a redis connection, not a postgres one"
            ))),
            None => Err(BackendError::NotFound(format!(
                "no postgres connection {name} is configured"
            ))),
        }
    }

    fn redis(&self, name: &str) -> Result<&RedisConnection, BackendError> {
        match self.connections.get(name) {
            Some(Backend::Redis(connection)) => Ok(connection),
            Some(Backend::Postgres(_)) => Err(BackendError::NotFound(format!(
                "connection {name} is a postgres connection, not a redis one"
            ))),
            None => Err(BackendError::NotFound(format!(
                "no redis connection {name} is configured"
            ))),
        }
    }
}

#[async_trait]
impl Postgres for Databases {
    async fn query(
        &self,
        connection: &str,
        statement: &str,
        params: &[Value],
    ) -> Result<RowSet, BackendError> {
        let connection = self.postgres(connection)?;
        connection
            .run(|client| async move {
                let prepared = prepare(&client, statement, params).await?;
                let params = sql_params(params);
                let rows = client.query(&prepared, &as_sql(&params)).await?;
                Ok((prepared, rows))
            })
            .await
            .and_then(|(prepared, rows)| row_set(&prepared, &rows))
    }

    async fn execute(
        &self,
        connection: &str,
        statement: &str,
        params: &[Value],
    ) -> Result<u64, BackendError> {
        let connection = self.postgres(connection)?;
        connection
            .run(|client| async move {
                let prepared = prepare(&client, statement, params).await?;
                let params = sql_params(params);
                client.execute(&prepared, &as_sql(&params)).await
            })
            .await
    }
}

#[async_trait]
impl Redis for Databases {
    async fn command(&self, connection: &str, args: &[String]) -> Result<Reply, BackendError> {
        self.redis(connection)?.command(args).await
    }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

struct PostgresConnection {
    name: String,
    config: tokio_postgres::Config,
    password: Option<Secret>,
    timeouts: Timeouts,
    client: Mutex<Option<Arc<tokio_postgres::Client>>>,
}

impl PostgresConnection {
    fn new(name: &str, connection: &Connection, timeouts: Timeouts) -> Result<Self, DatabaseError> {
        let config = connection
            .url
            .parse::<tokio_postgres::Config>()
            .map_err(|source| DatabaseError::PostgresUrl {
                connection: name.to_string(),
                source,
            })?;
        Ok(Self {
            name: name.to_string(),
            config,
            password: connection.password.clone(),
            timeouts,
            client: Mutex::new(None),
        })
    }

    /// Runs `work` on the live client (connecting first if there is none) within the
    /// statement timeout; forgets the client when the connection broke or timed out.
    async fn run<T, F, Fut>(&self, work: F) -> Result<T, BackendError>
    where
        F: FnOnce(Arc<tokio_postgres::Client>) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let client = self.client().await?;
        match tokio::time::timeout(self.timeouts.statement, work(client.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                let (error, broken) = self.classify(&error);
                if broken {
                    self.forget(&client).await;
                }
                Err(error)
            }
            Err(_) => {
                // The statement may still run on the server; a fresh connection is the
                // only sure way not to read its late answer as the next one's.
                self.forget(&client).await;
                Err(BackendError::Timeout(format!(
                    "postgres connection {}: no answer within {:?}",
                    self.name, self.timeouts.statement
                )))
            }
        }
    }

    async fn client(&self) -> Result<Arc<tokio_postgres::Client>, BackendError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref().filter(|client| !client.is_closed()) {
            return Ok(client.clone());
        }
        *slot = None;
        let client = Arc::new(self.connect().await?);
        *slot = Some(client.clone());
        Ok(client)
    }

    async fn forget(&self, broken: &Arc<tokio_postgres::Client>) {
        let mut slot = self.client.lock().await;
        if slot
            .as_ref()
            .is_some_and(|client| Arc::ptr_eq(client, broken))
        {
            *slot = None;
        }
    }

    async fn connect(&self) -> Result<tokio_postgres::Client, BackendError> {
        let mut config = self.config.clone();
        if config.get_password().is_none()
            && let Some(secret) = &self.password
        {
            let password = firedrill_notify::resolve_secret(secret).map_err(|e| {
                BackendError::Unavailable(format!(
                    "postgres connection {}: password: {e}",
                    self.name
                ))
            })?;
            config.password(password);
        }
        config.connect_timeout(self.timeouts.connect);
        let require_tls = config.get_ssl_mode() == tokio_postgres::config::SslMode::Require;
        let connecting = async {
            if require_tls {
                let tls = tls_connector().map_err(|e| {
                    BackendError::Unavailable(format!("postgres connection {}: {e}", self.name))
                })?;
                let (client, connection) = config
                    .connect(tls)
                    .await
                    .map_err(|e| self.connect_error(&e))?;
                spawn_connection(self.name.clone(), connection);
                Ok(client)
            } else {
                let (client, connection) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| self.connect_error(&e))?;
                spawn_connection(self.name.clone(), connection);
                Ok(client)
            }
        };
        match tokio::time::timeout(self.timeouts.connect, connecting).await {
            Ok(result) => result,
            Err(_) => Err(BackendError::Timeout(format!(
                "postgres connection {}: could not connect within {:?}",
                self.name, self.timeouts.connect
            ))),
        }
    }

    fn connect_error(&self, error: &tokio_postgres::Error) -> BackendError {
        match error.as_db_error() {
            // Failed authentication or a missing database: the server said no.
            Some(db) if !is_unavailable_code(db.code().code()) => BackendError::Refused(format!(
                "postgres connection {}: SQLSTATE {}: {}",
                self.name,
                db.code().code(),
                db.message()
            )),
            _ => BackendError::Unavailable(format!(
                "postgres connection {}: {}",
                self.name,
                error_chain(error)
            )),
        }
    }

    /// The error for the plugin, and whether the connection is broken.
    fn classify(&self, error: &tokio_postgres::Error) -> (BackendError, bool) {
        if let Some(db) = error.as_db_error() {
            let code = db.code().code();
            let message = format!(
                "postgres connection {}: SQLSTATE {code}: {}",
                self.name,
                db.message()
            );
            if is_unavailable_code(code) {
                return (BackendError::Unavailable(message), true);
            }
            return (BackendError::Refused(message), false);
        }
        let io =
            std::error::Error::source(error).is_some_and(|source| source.is::<std::io::Error>());
        let message = format!("postgres connection {}: {}", self.name, error_chain(error));
        if error.is_closed() || io {
            (BackendError::Unavailable(message), true)
        } else {
            // Parameters that do not fit and the like: the connection is fine.
            (BackendError::Refused(message), false)
        }
    }
}

/// SQLSTATEs that mean "this server cannot serve you now": connection exceptions (class
/// 08) and operator intervention (57P01 admin shutdown, 57P02 crash shutdown, 57P03
/// cannot connect now, e.g. still starting up).
fn is_unavailable_code(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
}

fn spawn_connection<S, T>(name: String, connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio_postgres::tls::TlsStream + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(connection = %name, error = %error, "PostgreSQL connection closed.");
        }
    });
}

/// rustls with the ring provider and the platform's trust store.
fn tls_connector() -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A certificate the platform ships but rustls cannot parse is skipped, as
        // browsers do; the others still verify.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err("TLS: no trusted certificates found in the platform's store".to_string());
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// `statement` prepared with the declared types of `params`.
async fn prepare(
    client: &tokio_postgres::Client,
    statement: &str,
    params: &[Value],
) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
    client.prepare_typed(statement, &param_types(params)).await
}

/// The declared parameter types (see the module docs); `unknown` lets the server infer
/// the type of a `null`.
fn param_types(params: &[Value]) -> Vec<Type> {
    params
        .iter()
        .map(|value| match value {
            Value::Null => Type::UNKNOWN,
            Value::Boolean(_) => Type::BOOL,
            Value::Int(_) => Type::INT8,
            Value::Float(_) => Type::FLOAT8,
            Value::Text(_) => Type::TEXT,
            Value::Bytes(_) => Type::BYTEA,
        })
        .collect()
}

/// The parameters as [`SqlParam`]s; borrow them with [`as_sql`].
fn sql_params(params: &[Value]) -> Vec<SqlParam<'_>> {
    params.iter().map(SqlParam).collect()
}

fn as_sql<'a>(params: &'a [SqlParam<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    params
        .iter()
        .map(|param| param as &(dyn ToSql + Sync))
        .collect()
}

/// A WIT value as a statement parameter, written in the binary form of the type the
/// server assigned (the declared one, or the inferred one for `null`).
#[derive(Debug)]
struct SqlParam<'a>(&'a Value);

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for SqlParam<'_> {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        let mismatch = |what: &str| -> BoxError { format!("cannot send {what} as {ty}").into() };
        match self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Boolean(value) if *ty == Type::BOOL => value.to_sql(ty, out),
            Value::Boolean(_) => Err(mismatch("a boolean")),
            Value::Int(value) => match *ty {
                Type::INT8 => value.to_sql(ty, out),
                Type::INT4 => i32::try_from(*value)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*value)?.to_sql(ty, out),
                _ => Err(mismatch("an int")),
            },
            Value::Float(value) => match *ty {
                Type::FLOAT8 => value.to_sql(ty, out),
                // Only reached for a statement that forces `float4`; precision is lost
                // as PostgreSQL's own cast would lose it.
                Type::FLOAT4 => (*value as f32).to_sql(ty, out),
                _ => Err(mismatch("a float")),
            },
            Value::Text(value) if <&str as ToSql>::accepts(ty) => value.as_str().to_sql(ty, out),
            Value::Text(_) => Err(mismatch("text")),
            Value::Bytes(value) if *ty == Type::BYTEA => value.as_slice().to_sql(ty, out),
            Value::Bytes(_) => Err(mismatch("bytes")),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value in `to_sql`, which knows the value's kind.
        true
    }

    to_sql_checked!();
}

/// A column's raw binary value, whatever its type.
struct RawColumn<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for RawColumn<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Self(Some(raw)))
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Self(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn row_set(
    statement: &tokio_postgres::Statement,
    rows: &[tokio_postgres::Row],
) -> Result<RowSet, BackendError> {
    let columns = statement
        .columns()
        .iter()
        .map(|column| column.name().to_string())
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut values = Vec::with_capacity(row.len());
        for (index, column) in row.columns().iter().enumerate() {
            let RawColumn(raw) = row
                .try_get::<_, RawColumn<'_>>(index)
                .map_err(|e| BackendError::Refused(format!("column {}: {e}", column.name())))?;
            values.push(match raw {
                None => Value::Null,
                Some(raw) => decode(column.type_(), raw),
            });
        }
        out.push(values);
    }
    Ok(RowSet { columns, rows: out })
}

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// A column value from its binary form; types without a WIT counterpart as text.
fn decode(ty: &Type, raw: &[u8]) -> Value {
    decode_known(ty, raw).unwrap_or_else(|| {
        let mut text = String::from("\\x");
        for byte in raw {
            let _ = write!(text, "{byte:02x}");
        }
        Value::Text(text)
    })
}

fn decode_known(ty: &Type, raw: &[u8]) -> Option<Value> {
    if let Kind::Domain(base) = ty.kind() {
        return decode_known(base, raw);
    }
    if let Kind::Enum(_) = ty.kind() {
        return Some(Value::Text(String::from_utf8_lossy(raw).into_owned()));
    }
    let text = |bytes: &[u8]| Value::Text(String::from_utf8_lossy(bytes).into_owned());
    let value = match *ty {
        Type::BOOL => Value::Boolean(*raw.first()? != 0),
        Type::INT2 => Value::Int(i16::from_be_bytes(raw.try_into().ok()?).into()),
        Type::INT4 => Value::Int(i32::from_be_bytes(raw.try_into().ok()?).into()),
        Type::INT8 => Value::Int(i64::from_be_bytes(raw.try_into().ok()?)),
        Type::OID | Type::XID | Type::CID => {
            Value::Int(u32::from_be_bytes(raw.try_into().ok()?).into())
        }
        Type::XID8 => {
            let xid = u64::from_be_bytes(raw.try_into().ok()?);
            i64::try_from(xid).map_or_else(|_| Value::Text(xid.to_string()), Value::Int)
        }
        Type::FLOAT4 => Value::Float(f32::from_be_bytes(raw.try_into().ok()?).into()),
        Type::FLOAT8 => Value::Float(f64::from_be_bytes(raw.try_into().ok()?)),
        Type::TEXT
        | Type::VARCHAR
        | Type::BPCHAR
        | Type::NAME
        | Type::UNKNOWN
        | Type::JSON
        | Type::XML
        | Type::CHAR => text(raw),
        // jsonb's binary form is a version byte (1) and the JSON text.
        Type::JSONB => text(raw.get(1..)?),
        Type::BYTEA => Value::Bytes(raw.to_vec()),
        Type::TIMESTAMPTZ | Type::TIMESTAMP => {
            let micros = i64::from_be_bytes(raw.try_into().ok()?);
            Value::Text(match micros {
                i64::MAX => "infinity".to_string(),
                i64::MIN => "-infinity".to_string(),
                _ => {
                    let at = chrono::DateTime::from_timestamp_micros(
                        micros.checked_add(POSTGRES_EPOCH_MICROS)?,
                    )?;
                    if *ty == Type::TIMESTAMPTZ {
                        at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                    } else {
                        at.naive_utc().format("%Y-%m-%d %H:%M:%S%.f").to_string()
                    }
                }
            })
        }
        Type::DATE => {
            let days = i32::from_be_bytes(raw.try_into().ok()?);
            Value::Text(match days {
                i32::MAX => "infinity".to_string(),
                i32::MIN => "-infinity".to_string(),
                _ => {
                    let epoch = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)?;
                    epoch
                        .checked_add_signed(chrono::TimeDelta::days(days.into()))?
                        .to_string()
                }
            })
        }
        Type::UUID => {
            let bytes: [u8; 16] = raw.try_into().ok()?;
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            Value::Text(format!(
                "{}-{}-{}-{}-{}",
                &hex[0..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..32]
            ))
        }
        Type::PG_LSN => {
            let lsn = u64::from_be_bytes(raw.try_into().ok()?);
            Value::Text(format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF))
        }
        Type::NUMERIC => Value::Text(numeric_text(raw)?),
        _ => return None,
    };
    Some(value)
}

/// `numeric`'s binary form: digit count, weight (of the first base-10000 digit), sign,
/// display scale, then the base-10000 digits.
fn numeric_text(raw: &[u8]) -> Option<String> {
    let word =
        |i: usize| -> Option<u16> { Some(u16::from_be_bytes([*raw.get(i)?, *raw.get(i + 1)?])) };
    let ndigits = usize::from(word(0)?);
    let weight = i32::from(word(2)?.cast_signed());
    let sign = word(4)?;
    let dscale = usize::from(word(6)?);
    match sign {
        0xC000 => return Some("NaN".to_string()),
        0xD000 => return Some("Infinity".to_string()),
        0xF000 => return Some("-Infinity".to_string()),
        _ => {}
    }
    let digits = (0..ndigits)
        .map(|i| word(8 + 2 * i))
        .collect::<Option<Vec<u16>>>()?;
    let digit = |position: i32| -> u16 {
        usize::try_from(position)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut text = String::new();
    if sign == 0x4000 {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        for position in 0..=weight {
            if position == 0 {
                let _ = write!(text, "{}", digit(position));
            } else {
                let _ = write!(text, "{:04}", digit(position));
            }
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut position = weight + 1;
        while fraction.len() < dscale {
            let _ = write!(fraction, "{:04}", digit(position));
            position += 1;
        }
        fraction.truncate(dscale);
        text.push('.');
        text.push_str(&fraction);
    }
    Some(text)
}

// ---------------------------------------------------------------------------------------
// Redis

struct RedisConnection {
    name: String,
    info: redis::ConnectionInfo,
    sentinel: Option<Sentinel>,
    password: Option<Secret>,
    timeouts: Timeouts,
    connection: Mutex<Option<redis::aio::MultiplexedConnection>>,
}

impl RedisConnection {
    fn new(name: &str, connection: &Connection, timeouts: Timeouts) -> Result<Self, DatabaseError> {
        let info = redis::IntoConnectionInfo::into_connection_info(connection.url.as_str())
            .map_err(|source| DatabaseError::RedisUrl {
                connection: name.to_string(),
                source,
            })?;
        Ok(Self {
            name: name.to_string(),
            info,
            sentinel: connection.sentinel.clone(),
            password: connection.password.clone(),
            timeouts,
            connection: Mutex::new(None),
        })
    }

    async fn command(&self, args: &[String]) -> Result<Reply, BackendError> {
        let Some((name, rest)) = args.split_first() else {
            return Err(BackendError::Refused(format!(
                "redis connection {}: empty command",
                self.name
            )));
        };
        let mut command = redis::cmd(name);
        for arg in rest {
            command.arg(arg);
        }
        // A READONLY reply on a Sentinel connection means the master moved and the
        // command did not run: ask the Sentinels again and send it once more.
        let attempts = if self.sentinel.is_some() { 2 } else { 1 };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut connection = self.connection().await?;
            let sent = command.query_async::<redis::Value>(&mut connection);
            match tokio::time::timeout(self.timeouts.statement, sent).await {
                Ok(Ok(value)) => return reply(value),
                Ok(Err(error)) => {
                    let read_only =
                        error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly);
                    let (error, broken) = self.classify(&error);
                    if broken || read_only {
                        self.forget().await;
                    }
                    if !(read_only && attempt < attempts) {
                        return Err(error);
                    }
                }
                Err(_) => {
                    self.forget().await;
                    return Err(BackendError::Timeout(format!(
                        "redis connection {}: no answer within {:?}",
                        self.name, self.timeouts.statement
                    )));
                }
            }
        }
    }

    async fn connection(&self) -> Result<redis::aio::MultiplexedConnection, BackendError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let connection = self.connect().await?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    async fn forget(&self) {
        *self.connection.lock().await = None;
    }

    fn connection_config(&self) -> redis::AsyncConnectionConfig {
        redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeouts.connect))
            .set_response_timeout(Some(self.timeouts.statement))
    }

    async fn connect(&self) -> Result<redis::aio::MultiplexedConnection, BackendError> {
        let mut info = self.info.clone();
        if let Some(sentinel) = &self.sentinel {
            let (host, port) = self.ask_sentinels(sentinel).await?;
            let addr = match info.addr() {
                redis::ConnectionAddr::TcpTls {
                    insecure,
                    tls_params,
                    ..
                } => redis::ConnectionAddr::TcpTls {
                    host,
                    port,
                    insecure: *insecure,
                    tls_params: tls_params.clone(),
                },
                _ => redis::ConnectionAddr::Tcp(host, port),
            };
            info = info.set_addr(addr);
        }
        if info.redis_settings().password().is_none()
            && let Some(secret) = &self.password
        {
            let password = firedrill_notify::resolve_secret(secret).map_err(|e| {
                BackendError::Unavailable(format!("redis connection {}: password: {e}", self.name))
            })?;
            let settings = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(settings);
        }
        let address = info.addr().to_string();
        let mut connection = self.open(info, &address).await?;
        if let Some(sentinel) = &self.sentinel {
            // A Sentinel may still name the old master for a moment during a failover.
            let role = tokio::time::timeout(
                self.timeouts.statement,
                redis::cmd("ROLE").query_async::<redis::Value>(&mut connection),
            )
            .await;
            let is_master = match role {
                Ok(Ok(redis::Value::Array(items))) => matches!(
                    items.first(),
                    Some(redis::Value::BulkString(role)) if role == b"master"
                ),
                _ => false,
            };
            if !is_master {
                return Err(BackendError::Unavailable(format!(
                    "redis connection {}: the sentinels name {address} as master of {}, \
                     but it is not a master (yet)",
                    self.name, sentinel.master
                )));
            }
        }
        Ok(connection)
    }

    async fn open(
        &self,
        info: redis::ConnectionInfo,
        address: &str,
    ) -> Result<redis::aio::MultiplexedConnection, BackendError> {
        let client = redis::Client::open(info).map_err(|e| {
            BackendError::Unavailable(format!("redis connection {}: {address}: {e}", self.name))
        })?;
        let config = self.connection_config();
        let opening = client.get_multiplexed_async_connection_with_config(&config);
        match tokio::time::timeout(self.timeouts.connect, opening).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(error)) => Err(
                if error.kind() == redis::ErrorKind::AuthenticationFailed
                    || matches!(error.kind(), redis::ErrorKind::Server(_))
                {
                    BackendError::Refused(format!(
                        "redis connection {}: {address}: {error}",
                        self.name
                    ))
                } else if error.is_timeout() {
                    BackendError::Timeout(format!(
                        "redis connection {}: {address}: {error}",
                        self.name
                    ))
                } else {
                    BackendError::Unavailable(format!(
                        "redis connection {}: {address}: {error}",
                        self.name
                    ))
                },
            ),
            Err(_) => Err(BackendError::Timeout(format!(
                "redis connection {}: could not connect to {address} within {:?}",
                self.name, self.timeouts.connect
            ))),
        }
    }

    /// The master's address from the first Sentinel that knows it.
    async fn ask_sentinels(&self, sentinel: &Sentinel) -> Result<(String, u16), BackendError> {
        let mut failures = Vec::new();
        for node in &sentinel.nodes {
            match self.ask_sentinel(node, &sentinel.master).await {
                Ok(address) => return Ok(address),
                Err(failure) => failures.push(format!("{node}: {failure}")),
            }
        }
        Err(BackendError::Unavailable(format!(
            "redis connection {}: no sentinel named the master of {} ({})",
            self.name,
            sentinel.master,
            failures.join("; ")
        )))
    }

    async fn ask_sentinel(&self, node: &str, master: &str) -> Result<(String, u16), String> {
        let client = redis::Client::open(format!("redis://{node}")).map_err(|e| e.to_string())?;
        let config = self.connection_config();
        let asking = async {
            let mut connection = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(master)
                .query_async::<Option<(String, String)>>(&mut connection)
                .await
        };
        match tokio::time::timeout(self.timeouts.connect, asking).await {
            Ok(Ok(Some((host, port)))) => port
                .parse()
                .map(|port| (host, port))
                .map_err(|_| format!("answered the port {port:?}")),
            Ok(Ok(None)) => Err(format!("does not know {master}")),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.timeouts.connect)),
        }
    }

    /// The error for the plugin, and whether the connection is broken.
    fn classify(&self, error: &redis::RedisError) -> (BackendError, bool) {
        // Server errors read as the server wrote them, e.g. `READONLY You can't write...`.
        let message = match (error.code(), error.detail()) {
            (Some(code), Some(detail)) => {
                format!("redis connection {}: {code} {detail}", self.name)
            }
            _ => format!("redis connection {}: {error}", self.name),
        };
        if error.is_timeout() {
            (BackendError::Timeout(message), true)
        } else if error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_unrecoverable_error()
        {
            (BackendError::Unavailable(message), true)
        } else {
            (BackendError::Refused(message), false)
        }
    }
}

fn reply(value: redis::Value) -> Result<Reply, BackendError> {
    Ok(match value {
        redis::Value::Nil => Reply::Nil,
        redis::Value::Okay => Reply::Status("OK".to_string()),
        redis::Value::SimpleString(text) => Reply::Status(text),
        redis::Value::Int(number) => Reply::Int(number),
        redis::Value::BulkString(data) => Reply::Data(data),
        redis::Value::VerbatimString { text, .. } => Reply::Data(text.into_bytes()),
        redis::Value::Double(number) => Reply::Status(number.to_string()),
        redis::Value::Boolean(flag) => Reply::Int(flag.into()),
        redis::Value::Array(items) | redis::Value::Set(items) => {
            Reply::Array(items.into_iter().map(reply_item).collect())
        }
        redis::Value::Map(pairs) => Reply::Array(
            pairs
                .into_iter()
                .flat_map(|(key, value)| [reply_item(key), reply_item(value)])
                .collect(),
        ),
        redis::Value::Attribute { data, .. } => return reply(*data),
        redis::Value::ServerError(error) => {
            return Err(BackendError::Refused(error.to_string()));
        }
        other => Reply::Data(resp_text(&other).into_bytes()),
    })
}

/// An array element: scalars as they are, anything nested as its RESP text.
fn reply_item(value: redis::Value) -> ReplyItem {
    match value {
        redis::Value::Nil => ReplyItem::Nil,
        redis::Value::Okay => ReplyItem::Status("OK".to_string()),
        redis::Value::SimpleString(text) => ReplyItem::Status(text),
        redis::Value::Int(number) => ReplyItem::Int(number),
        redis::Value::BulkString(data) => ReplyItem::Data(data),
        redis::Value::VerbatimString { text, .. } => ReplyItem::Data(text.into_bytes()),
        redis::Value::Double(number) => ReplyItem::Status(number.to_string()),
        redis::Value::Boolean(flag) => ReplyItem::Int(flag.into()),
        other => ReplyItem::Data(resp_text(&other).into_bytes()),
    }
}

/// The RESP2 text of a value, e.g. `*2\r\n$1\r\na\r\n:1\r\n`.
fn resp_text(value: &redis::Value) -> String {
    let mut out = String::new();
    write_resp(&mut out, value);
    out
}

fn write_resp(out: &mut String, value: &redis::Value) {
    match value {
        redis::Value::Nil => out.push_str("$-1\r\n"),
        redis::Value::Okay => out.push_str("+OK\r\n"),
        redis::Value::SimpleString(text) => {
            let _ = write!(out, "+{text}\r\n");
        }
        redis::Value::Int(number) => {
            let _ = write!(out, ":{number}\r\n");
        }
        redis::Value::BulkString(data) => {
            let _ = write!(
                out,
                "${}\r\n{}\r\n",
                data.len(),
                String::from_utf8_lossy(data)
            );
        }
        redis::Value::VerbatimString { text, .. } => {
            let _ = write!(out, "${}\r\n{text}\r\n", text.len());
        }
        redis::Value::Double(number) => {
            let text = number.to_string();
            let _ = write!(out, "${}\r\n{text}\r\n", text.len());
        }
        redis::Value::Boolean(flag) => {
            let _ = write!(out, ":{}\r\n", i64::from(*flag));
        }
        redis::Value::Array(items) | redis::Value::Set(items) => {
            let _ = write!(out, "*{}\r\n", items.len());
            for item in items {
                write_resp(out, item);
            }
        }
        redis::Value::Map(pairs) => {
            let _ = write!(out, "*{}\r\n", pairs.len() * 2);
            for (key, value) in pairs {
                write_resp(out, key);
                write_resp(out, value);
            }
        }
        redis::Value::Attribute { data, .. } => write_resp(out, data),
        redis::Value::Push { data, .. } => {
            let _ = write!(out, "*{}\r\n", data.len());
            for item in data {
                write_resp(out, item);
            }
        }
        redis::Value::ServerError(error) => {
            let _ = write!(out, "-{error}\r\n");
        }
        other => {
            let text = format!("{other:?}");
            let _ = write!(out, "${}\r\n{text}\r\n", text.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_binary_form_reads_as_decimal_text() {
        // 12345.678: weight 1, digits [1, 2345, 6780], dscale 3.
        let raw = [0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1A, 0x7C];
        assert_eq!(numeric_text(&raw).as_deref(), Some("12345.678"));
        // -0.05: weight -1, digits [500], dscale 2.
        let raw = [0, 1, 0xFF, 0xFF, 0x40, 0, 0, 2, 0x01, 0xF4];
        assert_eq!(numeric_text(&raw).as_deref(), Some("-0.05"));
        // 0 with no digits.
        assert_eq!(
            numeric_text(&[0, 0, 0, 0, 0, 0, 0, 0]).as_deref(),
            Some("0")
        );
    }

    #[test]
    fn nested_arrays_in_a_reply_become_resp_text() {
        let value = redis::Value::Array(vec![
            redis::Value::BulkString(b"a".to_vec()),
            redis::Value::Array(vec![redis::Value::Int(1), redis::Value::Nil]),
        ]);
        let expected = Reply::Array(vec![
            ReplyItem::Data(b"a".to_vec()),
            ReplyItem::Data(b"*2\r\n:1\r\n$-1\r\n".to_vec()),
        ]);
        // The WIT types have no `PartialEq`.
        assert_eq!(
            format!("{:?}", reply(value)),
            format!("{:?}", Ok::<_, BackendError>(expected))
        );
    }
}
