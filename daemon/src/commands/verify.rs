//! `firedrill verify`: walks the evidence chain; exit 0 intact, 1 broken.

use std::path::Path;

use firedrill_store::RunStore;
use firedrill_store::signing::load_verifying_key;

use crate::app::store::{open_store, store_error};
use crate::cli::VerifyArgs;
use crate::exit::{CommandError, Exit};

pub fn run(path: &Path, args: &VerifyArgs) -> Result<Exit, CommandError> {
    let config = crate::load_config(path)?;
    let Some(mut store) = open_store(&config)? else {
        crate::outln!("Chain intact: no runs recorded yet.");
        return Ok(Exit::Success);
    };
    if let Some(key) = &args.public_key {
        store = store.with_verifying_key(load_verifying_key(key).map_err(store_error)?);
    }
    let verification = store.verify().map_err(store_error)?;
    match &verification.broken {
        None => {
            crate::outln!(
                "Chain intact: {} records ({} signed{}), head {}",
                verification.records,
                verification.signed_records,
                if args.public_key.is_some() {
                    ", signatures checked"
                } else {
                    ", signatures not checked: pass --public-key"
                },
                verification.head_sha256.as_deref().unwrap_or("-")
            );
            Ok(Exit::Success)
        }
        Some(broken) => {
            crate::outln!("Chain BROKEN at {broken}");
            Ok(Exit::ObjectiveFailed)
        }
    }
}
