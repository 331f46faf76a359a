//! The evidence bundle of a period (`firedrill audit --bundle`, the console's download): the store's chain segment, the runs' report files and the public key as `.tar.gz` bytes, and the offline check of one (`firedrill verify --bundle`).
//!
//! The bundle's layout and rules are `firedrill_store::bundle`'s; this module only finds
//! what goes in: the rows from the store, the report files under
//! `storage/reports/RUN_ID/`, the public half of `storage.signing_key`. Everything here
//! blocks (store and file reads): call it off the async workers.

use std::io;
use std::path::Path;

use chrono::{DateTime, Utc};
use firedrill_core::config::Config;
use firedrill_store::bundle::{self, BundleCheck, BundleError, Period, Segment, Written};
use firedrill_store::signing::{load_signing_key, load_verifying_key};
use firedrill_store::{Store, StoreError};

/// Why a period's bundle could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot read the evidence chain")]
    Store(#[source] StoreError),
    #[error("cannot read storage.signing_key for the bundle's public key")]
    Key(#[source] StoreError),
    #[error("cannot make the evidence bundle")]
    Bundle(#[from] BundleError),
}

/// Why a bundle could not be checked at all (a bundle that reads but does not hold is a
/// [`BundleCheck`] with problems, not an error).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("cannot read the bundle {path}")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot read the public key")]
    Key(#[source] StoreError),
}

/// The evidence bundle of the runs that started in `[since, until)` in `store` (`None`:
/// no run was ever recorded), made at `now`: their records and every record between
/// them, anchored at the record before, with the runs' report files and artefacts and,
/// when `storage.signing_key` is set, its public key. `Written::bytes` is the `.tar.gz`.
pub fn bundle(
    config: &Config,
    store: Option<&dyn Store>,
    (since, until): (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> Result<Written, ExportError> {
    let rows = match store {
        Some(store) => store.raw_records().map_err(ExportError::Store)?,
        None => Vec::new(),
    };
    let public_key = config
        .signing_key
        .as_deref()
        .map(load_signing_key)
        .transpose()
        .map_err(ExportError::Key)?
        .map(|key| key.verifying_key());
    let period = Period { since, until };
    let segment = Segment::of_period(rows, period);
    let reports = config.storage_path.join("reports");
    Ok(bundle::build(
        now,
        period,
        &segment,
        public_key.as_ref(),
        |run_id, name| report_file(&reports, run_id, name),
    )?)
}

/// `reports/RUN_ID/NAME`, or `None` when it is gone. The names come from the chain: one
/// that is not a single plain path component is never looked up.
fn report_file(reports: &Path, run_id: &str, name: &str) -> io::Result<Option<Vec<u8>>> {
    let plain =
        |part: &str| !part.is_empty() && part != "." && part != ".." && !part.contains(['/', '\\']);
    if !plain(run_id) || !plain(name) {
        return Ok(None);
    }
    let path = reports.join(run_id).join(name);
    match std::fs::read(&path) {
        Ok(content) => Ok(Some(content)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(io::Error::new(
            err.kind(),
            format!("{}: {err}", path.display()),
        )),
    }
}

/// Checks the bundle in the file `path` offline; signatures with the key in `public_key`
/// when given (32 bytes, raw or hex), else with the bundle's own.
pub fn check_file(path: &Path, public_key: Option<&Path>) -> Result<BundleCheck, CheckError> {
    let trusted = public_key
        .map(load_verifying_key)
        .transpose()
        .map_err(CheckError::Key)?;
    let bytes = std::fs::read(path).map_err(|source| CheckError::Read {
        path: path.display().to_string(),
        source,
    })?;
    Ok(bundle::check(&bytes, trusted.as_ref()))
}

impl From<ExportError> for crate::exit::CommandError {
    fn from(err: ExportError) -> Self {
        crate::exit::CommandError::Usage(crate::exit::error_chain(&err))
    }
}

impl From<CheckError> for crate::exit::CommandError {
    fn from(err: CheckError) -> Self {
        crate::exit::CommandError::Usage(crate::exit::error_chain(&err))
    }
}
