//! Both backends behind one interface, so that every contract test runs on each: a fresh SQLite file, a fresh database on the test PostgreSQL server.
//!
//! A contract test is a function taking `&dyn Backend`; [`on_both_backends!`] makes a
//! `sqlite::NAME` and a `postgres::NAME` test of each.

use std::path::PathBuf;

use ed25519_dalek::{SigningKey, VerifyingKey};
use firedrill_store::{DATABASE_FILE, PostgresStore, SqliteStore, Store};

use crate::postgres_server::PostgresServer;

/// `mod sqlite` and `mod postgres`, each with a test per contract function named.
macro_rules! on_both_backends {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $test() {
                    super::$test(&crate::backends::Sqlite::new());
                }
            )+
        }
        mod postgres {
            $(
                #[test]
                fn $test() {
                    super::$test(&crate::backends::Postgres::new());
                }
            )+
        }
    };
}
pub(crate) use on_both_backends;

/// What a store is opened with.
#[derive(Debug, Clone)]
pub enum Keys {
    None,
    Signing(SigningKey),
    Verifying(VerifyingKey),
}

/// Where a contract test keeps its store.
pub trait Backend {
    /// Opens the test's store: the same file or database every time, as a new process would.
    fn open(&self, keys: Keys) -> Box<dyn Store>;
    /// Another empty store of the same kind.
    fn fresh(&self) -> Box<dyn Backend>;
    /// The tables themselves, as whoever holds the file or owns the database reaches them.
    fn raw(&self) -> Box<dyn Raw>;
}

/// `store` given `keys` through its builder methods (each backend has its own).
fn with_keys<S: Store + 'static>(
    store: S,
    keys: Keys,
    signing: fn(S, SigningKey) -> S,
    verifying: fn(S, VerifyingKey) -> S,
) -> Box<dyn Store> {
    Box::new(match keys {
        Keys::None => store,
        Keys::Signing(key) => signing(store, key),
        Keys::Verifying(key) => verifying(store, key),
    })
}

/// Direct access to the store's tables, for tampering.
pub trait Raw {
    /// Runs one statement; the database's message when it fails.
    fn execute(&mut self, sql: &str) -> Result<(), String>;
    /// A text column of record `seq`.
    fn column(&mut self, name: &str, seq: i64) -> String;
    fn set_column(&mut self, name: &str, seq: i64, value: &str);
    /// Drops the triggers that keep `records` append-only.
    fn drop_append_only_triggers(&mut self);
}

/// A store file in a temporary directory.
pub struct Sqlite {
    dir: tempfile::TempDir,
}

impl Sqlite {
    pub fn new() -> Sqlite {
        Sqlite {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join(DATABASE_FILE)
    }
}

impl Backend for Sqlite {
    fn open(&self, keys: Keys) -> Box<dyn Store> {
        let store = SqliteStore::open(&self.path()).unwrap();
        with_keys(
            store,
            keys,
            SqliteStore::with_signing_key,
            SqliteStore::with_verifying_key,
        )
    }

    fn fresh(&self) -> Box<dyn Backend> {
        Box::new(Sqlite::new())
    }

    fn raw(&self) -> Box<dyn Raw> {
        Box::new(rusqlite::Connection::open(self.path()).unwrap())
    }
}

impl Raw for rusqlite::Connection {
    fn execute(&mut self, sql: &str) -> Result<(), String> {
        self.execute_batch(sql).map_err(|err| err.to_string())
    }

    fn column(&mut self, name: &str, seq: i64) -> String {
        self.query_row(
            &format!("SELECT {name} FROM records WHERE seq = ?1"),
            [seq],
            |row| row.get(0),
        )
        .unwrap()
    }

    fn set_column(&mut self, name: &str, seq: i64, value: &str) {
        rusqlite::Connection::execute(
            self,
            &format!("UPDATE records SET {name} = ?1 WHERE seq = ?2"),
            rusqlite::params![value, seq],
        )
        .unwrap();
    }

    fn drop_append_only_triggers(&mut self) {
        self.execute_batch("DROP TRIGGER records_no_update; DROP TRIGGER records_no_delete;")
            .unwrap();
    }
}

/// A database of its own on this process's PostgreSQL server.
pub struct Postgres {
    server: &'static PostgresServer,
    database: String,
}

impl Postgres {
    pub fn new() -> Postgres {
        let server = PostgresServer::shared();
        Postgres {
            server,
            database: server.create_database(),
        }
    }

    pub fn url(&self) -> String {
        self.server.url(&self.database)
    }

    pub fn open_store(&self) -> PostgresStore {
        PostgresStore::open(&self.url(), None).unwrap()
    }

    /// A superuser connection to this database.
    pub fn admin(&self) -> postgres::Client {
        self.server.admin(&self.database)
    }
}

impl Backend for Postgres {
    fn open(&self, keys: Keys) -> Box<dyn Store> {
        with_keys(
            self.open_store(),
            keys,
            PostgresStore::with_signing_key,
            PostgresStore::with_verifying_key,
        )
    }

    fn fresh(&self) -> Box<dyn Backend> {
        Box::new(Postgres::new())
    }

    fn raw(&self) -> Box<dyn Raw> {
        Box::new(self.admin())
    }
}

/// A PostgreSQL error with its causes: its `Display` alone is "db error".
pub fn pg_message(err: &postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => format!("{err}: {}", db.message()),
        None => format!("{err:?}"),
    }
}

impl Raw for postgres::Client {
    fn execute(&mut self, sql: &str) -> Result<(), String> {
        self.batch_execute(sql).map_err(|err| pg_message(&err))
    }

    fn column(&mut self, name: &str, seq: i64) -> String {
        self.query_one(
            &format!("SELECT {name} FROM records WHERE seq = $1"),
            &[&seq],
        )
        .unwrap()
        .get(0)
    }

    fn set_column(&mut self, name: &str, seq: i64, value: &str) {
        postgres::Client::execute(
            self,
            &format!("UPDATE records SET {name} = $1 WHERE seq = $2"),
            &[&value, &seq],
        )
        .unwrap();
    }

    fn drop_append_only_triggers(&mut self) {
        self.batch_execute(
            "DROP TRIGGER records_no_update ON records; DROP TRIGGER records_no_delete ON records;",
        )
        .unwrap();
    }
}
