//! The evidence store as commands and the API open it, and its errors as command errors.

use firedrill_core::config::Config;
use firedrill_store::{DATABASE_FILE, SqliteStore, StoreError};

use crate::exit::CommandError;

/// A store error as a command error, causes included (the shared `CommandError` has no
/// store variant yet).
pub fn store_error(err: StoreError) -> CommandError {
    CommandError::Usage(crate::exit::error_chain(&err))
}

/// The run store under the configuration's storage path, or `None` when no run was ever
/// recorded (reading commands must not create it).
pub fn open_store(config: &Config) -> Result<Option<SqliteStore>, CommandError> {
    let path = config.storage_path.join(DATABASE_FILE);
    if !path.exists() {
        return Ok(None);
    }
    SqliteStore::open(&path).map(Some).map_err(store_error)
}
