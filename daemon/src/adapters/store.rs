//! `StoreAt`: where the store is (the SQLite file under `storage.path`, or the
//! `storage.postgres` database several replicas share), and opening it as a
//! `Box<dyn firedrill_store::Store>`.

use std::path::{Path, PathBuf};

use firedrill_core::config::{Config, PostgresStorage};
use firedrill_store::signing::{load_signing_key, load_verifying_key};
use firedrill_store::{DATABASE_FILE, PostgresStore, SqliteStore, Store, StoreError};

/// Where the configuration keeps the journal, run records, outbox and scheduler state.
#[derive(Clone, Debug, PartialEq)]
pub enum StoreAt {
    /// `storage.path/firedrill.db`.
    Sqlite(PathBuf),
    /// `storage.postgres`.
    Postgres(PostgresStorage),
}

/// A store that could not be opened, or its password that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("storage.postgres.password: {0}")]
    Password(String),
}

impl StoreAt {
    /// The store `config` names.
    pub fn of(config: &Config) -> Self {
        match &config.postgres_storage {
            Some(pg) => Self::Postgres(pg.clone()),
            None => Self::Sqlite(config.storage_path.join(DATABASE_FILE)),
        }
    }

    /// For messages and logs: the file, or the database's URL (which holds no password).
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(path) => path.display().to_string(),
            Self::Postgres(pg) => pg.url.clone(),
        }
    }

    /// Whether a reading command may find runs here without creating anything: the
    /// SQLite file exists; a database always may.
    pub fn may_hold_runs(&self) -> bool {
        match self {
            Self::Sqlite(path) => path.exists(),
            Self::Postgres(_) => true,
        }
    }

    /// Opens the store (creating the SQLite file and its directory, or applying the
    /// database's migrations, as needed). Blocking: call it off the async workers.
    pub fn open(&self) -> Result<Box<dyn Store>, OpenError> {
        Ok(match self {
            Self::Sqlite(path) => Box::new(SqliteStore::open(path)?),
            Self::Postgres(pg) => Box::new(postgres(pg)?),
        })
    }

    /// Opens the store and runs `f` on it (one short use: the store is closed after).
    /// Blocking, as [`Self::open`].
    pub fn with<T>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, StoreError>,
    ) -> Result<T, OpenError> {
        Ok(f(&*self.open()?)?)
    }

    /// [`Self::open`], signing every appended record with the key in `signing_key`.
    pub fn open_signing(&self, signing_key: Option<&Path>) -> Result<Box<dyn Store>, OpenError> {
        let Some(file) = signing_key else {
            return self.open();
        };
        let key = load_signing_key(file)?;
        Ok(match self {
            Self::Sqlite(path) => Box::new(SqliteStore::open(path)?.with_signing_key(key)),
            Self::Postgres(pg) => Box::new(postgres(pg)?.with_signing_key(key)),
        })
    }

    /// [`Self::open`], checking signatures with the public key in `public_key`.
    pub fn open_verifying(&self, public_key: &Path) -> Result<Box<dyn Store>, OpenError> {
        let key = load_verifying_key(public_key)?;
        Ok(match self {
            Self::Sqlite(path) => Box::new(SqliteStore::open(path)?.with_verifying_key(key)),
            Self::Postgres(pg) => Box::new(postgres(pg)?.with_verifying_key(key)),
        })
    }
}

fn postgres(pg: &PostgresStorage) -> Result<PostgresStore, OpenError> {
    let password = pg
        .password
        .as_ref()
        .map(|secret| firedrill_notify::resolve_secret(secret).map_err(|e| e.to_string()))
        .transpose()
        .map_err(OpenError::Password)?;
    Ok(PostgresStore::open(&pg.url, password.as_deref())?)
}
