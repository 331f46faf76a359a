//! `firedrill verify`: walks the evidence chain, or checks an evidence bundle offline (`--bundle`); exit 0 intact, 1 broken.

use std::path::Path;

use firedrill_store::bundle::{BundleCheck, SignatureCheck};

use crate::app::store::{StoreAt, store_error};
use crate::cli::VerifyArgs;
use crate::exit::{CommandError, Exit};

pub fn run(path: &Path, args: &VerifyArgs) -> Result<Exit, CommandError> {
    if let Some(bundle) = &args.bundle {
        // Offline: the auditor's machine has the bundle, not the configuration.
        let checked = crate::app::bundle::check_file(bundle, args.public_key.as_deref())?;
        return Ok(print_bundle_check(&checked));
    }
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

/// What a bundle's check found, one problem a line; exit 0 intact, 1 broken.
fn print_bundle_check(checked: &BundleCheck) -> Exit {
    if !checked.intact() {
        crate::outln!(
            "Bundle BROKEN: {} problem{}",
            checked.problems.len(),
            if checked.problems.len() == 1 { "" } else { "s" }
        );
        for problem in &checked.problems {
            crate::outln!("  {problem}");
        }
        return Exit::ObjectiveFailed;
    }
    let (records, signed) = checked
        .segment
        .as_ref()
        .map_or((0, 0), |segment| (segment.records, segment.signed_records));
    let signatures = match checked.signatures {
        SignatureCheck::TrustedKey => {
            format!("{signed} signed, signatures checked with --public-key")
        }
        SignatureCheck::BundleKey => format!(
            "{signed} signed, signatures checked with the bundle's own key (pass --public-key \
             with a key you trust to prove who signed)"
        ),
        SignatureCheck::NotChecked if signed > 0 => {
            format!("{signed} signed, signatures not checked: pass --public-key")
        }
        SignatureCheck::NotChecked => "not signed".to_string(),
    };
    crate::outln!(
        "Bundle intact: {records} records ({signatures}); {} files match the MANIFEST",
        // The manifest lists every file but itself.
        checked.files.saturating_sub(1)
    );
    if let Some(info) = &checked.info {
        crate::outln!(
            "Period {} to {}, made {}",
            info.period.since,
            info.period.until,
            info.created_at
        );
        crate::outln!("Anchor: record {} {}", info.anchor.seq, info.anchor.sha256);
        if let Some(head) = &info.head {
            crate::outln!("Segment head: record {} {}", head.seq, head.sha256);
        }
        if let Some(head) = &info.chain_head {
            crate::outln!(
                "Chain head at export: record {} {} (compare with a head published elsewhere)",
                head.seq,
                head.sha256
            );
        }
    }
    for missing in &checked.missing_reports {
        crate::outln!("Not in the bundle (gone from the store's directory at export): {missing}");
    }
    Exit::Success
}
