//! The email outbox: one delivery pass over what the run store holds — after `run` and `recover`, and in `serve`'s outbox loop.

use chrono::Utc;
use firedrill_core::config::Config;
use firedrill_notify::Backoff;
use firedrill_store::MailQueue;

use crate::adapters::outbox::LockedStore;
use crate::app::store::StoreAt;

/// What one pass did.
#[derive(Debug, Default)]
pub struct OutboxPass {
    /// Messages not delivered this time, by run id, with why; they stay queued.
    pub failed: Vec<(String, String)>,
    /// Messages still waiting after the pass (due now or later).
    pub waiting: usize,
}

/// Tries to deliver every message due now. `Ok(None)` when email is not configured or
/// nothing was ever recorded; `Err` when the mailer or the store cannot be used (the
/// messages stay queued either way).
pub async fn deliver(config: &Config) -> Result<Option<OutboxPass>, String> {
    let Some(email) = &config.email else {
        return Ok(None);
    };
    let at = StoreAt::of(config);
    if !at.may_hold_runs() {
        return Ok(None);
    }
    let mailer = firedrill_notify::mailer_from_config(&email.transport)
        .map_err(|err| format!("email cannot be sent: {err}"))?;
    let store = tokio::task::spawn_blocking(move || at.open())
        .await
        .map_err(|err| format!("outbox: the task opening the store failed: {err}"))?
        .map_err(|err| format!("outbox: {}", crate::exit::error_chain(&err)))?;
    let store = LockedStore::new(store);
    let pass = firedrill_notify::deliver_due(&store, &mailer, &Backoff::default(), Utc::now())
        .await
        .map_err(|err| format!("outbox not processed: {err}"))?;
    let waiting = store
        .due_mail(Utc::now() + chrono::Duration::days(3650))
        .map(|due| due.len())
        .unwrap_or_default();
    Ok(Some(OutboxPass {
        failed: pass.failed,
        waiting,
    }))
}

/// [`deliver`], saying on stderr what could not be delivered (for `run` and `recover`).
pub async fn deliver_and_say(config: &Config) {
    match deliver(config).await {
        Ok(Some(pass)) => {
            for (run, error) in pass.failed {
                eprintln!(
                    "Report email for {run} not delivered yet ({error}); it stays in the outbox and is retried"
                );
            }
        }
        Ok(None) => {}
        Err(err) => eprintln!("Email not sent: {err}; messages stay in the outbox"),
    }
}
