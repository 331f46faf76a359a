//! The store as commands open it (`open_store`: nothing is created by reading), and its
//! errors as command errors. Where it is: `adapters::store::StoreAt`.

use firedrill_core::config::Config;
use firedrill_store::{Store, StoreError};

pub use crate::adapters::store::{OpenError, StoreAt};

use crate::exit::CommandError;

/// A store error as a command error, causes included (the shared `CommandError` has no
/// store variant yet).
pub fn store_error(err: StoreError) -> CommandError {
    CommandError::Usage(crate::exit::error_chain(&err))
}

impl From<OpenError> for CommandError {
    fn from(err: OpenError) -> Self {
        CommandError::Usage(crate::exit::error_chain(&err))
    }
}

/// The configuration's store, or `None` when no run was ever recorded in its SQLite file
/// (reading commands must not create it).
pub fn open_store(config: &Config) -> Result<Option<Box<dyn Store>>, CommandError> {
    let at = StoreAt::of(config);
    if !at.may_hold_runs() {
        return Ok(None);
    }
    Ok(Some(at.open()?))
}
