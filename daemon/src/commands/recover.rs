//! `firedrill recover`: roll back the runs a killed firedrill left unfinished, each on the cluster it ran on.

use std::path::Path;

use crate::app::recovery::{Sessions, recover as recover_runs};
use crate::cli::RecoverArgs;
use crate::exit::{CommandError, Exit};

/// `firedrill recover [--target T]`: exits 2 when a run stays owed.
pub async fn recover(config_path: &Path, args: &RecoverArgs) -> Result<Exit, CommandError> {
    let config = crate::load_config(config_path)?;
    let mut sessions = Sessions::new();
    let pass = recover_runs(&config, &mut sessions, args.target.as_deref()).await?;
    for line in pass.lines() {
        eprintln!("{line}");
    }
    if !pass.recovered.is_empty() || !pass.stored.is_empty() {
        crate::app::outbox::deliver_and_say(&config).await;
    }
    if pass.skipped > 0 {
        eprintln!(
            "{} interrupted run(s) of other targets left as they are (run `firedrill recover` without --target for them).",
            pass.skipped
        );
    }
    if pass.recovered.is_empty()
        && pass.owed.is_empty()
        && pass.stored.is_empty()
        && pass.skipped == 0
    {
        eprintln!("No interrupted run: nothing to roll back.");
    }
    if pass.owed.is_empty() {
        Ok(Exit::Success)
    } else {
        eprintln!(
            "{} run(s) still owe a rollback: their clusters may be as the fault left them. Fix what each line says, then run `firedrill recover` again.",
            pass.owed.len()
        );
        Ok(Exit::Error)
    }
}
