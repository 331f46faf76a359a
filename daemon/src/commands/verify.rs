//! `firedrill verify`: walks the evidence chain; exit 0 intact, 1 broken.

use std::path::Path;

use crate::app::store::{StoreAt, store_error};
use crate::cli::VerifyArgs;
use crate::exit::{CommandError, Exit};

pub fn run(path: &Path, args: &VerifyArgs) -> Result<Exit, CommandError> {
    let config = crate::load_config(path)?;
    let at = StoreAt::of(&config);
    if !at.may_hold_runs() {
        crate::outln!("Chain intact: no runs recorded yet.");
        return Ok(Exit::Success);
    }
    let store = match &args.public_key {
        Some(key) => at.open_verifying(key)?,
        None => at.open()?,
    };
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
