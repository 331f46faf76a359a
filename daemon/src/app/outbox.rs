//! The outbox: one delivery pass over what the run store holds — report emails, webhooks and Grafana annotations — after `run` and `recover`, and in `serve`'s outbox loop; and a run's `started` webhooks, queued and sent beside the drill.

use chrono::Utc;
use firedrill_core::config::Config;
use firedrill_core::run::RunRecord;
use firedrill_notify::{Backoff, HttpPusher};
use firedrill_store::MailQueue;

use crate::adapters::outbox::LockedStore;
use crate::app::store::StoreAt;

/// What one pass did for one kind of message.
#[derive(Debug, Default)]
pub struct Delivered {
    /// Messages not delivered this time (the run id; for a push, with its channel), with
    /// why; they stay queued.
    pub failed: Vec<(String, String)>,
    /// Messages of this kind still waiting after the pass (due now or later).
    pub waiting: usize,
}

/// What one pass did. Each kind is `None` when the configuration has none of it, and an
/// `Err` when it could not be sent at all this time (no mailer or HTTP client, the store
/// failed); its messages stay queued either way.
#[derive(Debug, Default)]
pub struct OutboxPass {
    /// The report emails.
    pub mail: Option<Result<Delivered, String>>,
    /// Webhooks and Grafana annotations.
    pub pushes: Option<Result<Delivered, String>>,
}

/// Opens the store for a pass, on the blocking pool.
async fn open(at: StoreAt) -> Result<LockedStore, String> {
    let store = tokio::task::spawn_blocking(move || at.open())
        .await
        .map_err(|err| format!("outbox: the task opening the store failed: {err}"))?
        .map_err(|err| format!("outbox: {}", crate::exit::error_chain(&err)))?;
    Ok(LockedStore::new(store))
}

/// Messages still waiting, as `due` (due mail or due pushes) sees them in ten years.
fn waiting(
    due: impl FnOnce(chrono::DateTime<Utc>) -> Result<usize, firedrill_store::StoreError>,
) -> usize {
    due(Utc::now() + chrono::Duration::days(3650)).unwrap_or_default()
}

async fn deliver_mail(config: &Config, store: &LockedStore) -> Option<Result<Delivered, String>> {
    let email = config.email.as_ref()?;
    let mailer = match firedrill_notify::mailer_from_config(&email.transport) {
        Ok(mailer) => mailer,
        Err(err) => return Some(Err(format!("email cannot be sent: {err}"))),
    };
    let pass = firedrill_notify::deliver_due(store, &mailer, &Backoff::default(), Utc::now())
        .await
        .map_err(|err| format!("outbox not processed: {err}"));
    Some(pass.map(|pass| Delivered {
        failed: pass.failed,
        waiting: waiting(|later| store.due_mail(later).map(|due| due.len())),
    }))
}

async fn deliver_pushes(config: &Config, store: &LockedStore) -> Option<Result<Delivered, String>> {
    if !firedrill_notify::pushes_configured(config) {
        return None;
    }
    let pusher = match HttpPusher::new() {
        Ok(pusher) => pusher,
        Err(err) => {
            return Some(Err(format!(
                "webhooks and annotations cannot be sent: {}",
                crate::exit::error_chain(&err)
            )));
        }
    };
    let pass =
        firedrill_notify::deliver_pushes(store, &pusher, config, &Backoff::default(), Utc::now())
            .await
            .map_err(|err| format!("outbox not processed: {err}"));
    Some(pass.map(|pass| {
        Delivered {
            failed: pass
                .failed
                .into_iter()
                .map(|(run, channel, error)| (format!("{run} ({channel})"), error))
                .collect(),
            waiting: waiting(|later| store.due_pushes(later).map(|due| due.len())),
        }
    }))
}

/// Tries to deliver every message due now: the emails when email is configured, the
/// webhooks and Grafana annotations when any is. `Err` when the store cannot be opened
/// (the messages stay queued).
pub async fn deliver(config: &Config) -> Result<OutboxPass, String> {
    let pushes = firedrill_notify::pushes_configured(config);
    let at = StoreAt::of(config);
    if (config.email.is_none() && !pushes) || !at.may_hold_runs() {
        return Ok(OutboxPass::default());
    }
    let store = open(at).await?;
    Ok(OutboxPass {
        mail: deliver_mail(config, &store).await,
        pushes: deliver_pushes(config, &store).await,
    })
}

/// [`deliver`], saying on stderr what could not be delivered (for `run` and `recover`).
pub async fn deliver_and_say(config: &Config) {
    let pass = match deliver(config).await {
        Ok(pass) => pass,
        Err(err) => {
            eprintln!("Notifications not sent: {err}; messages stay in the outbox");
            return;
        }
    };
    match pass.mail {
        Some(Ok(mail)) => {
            for (run, error) in mail.failed {
                eprintln!(
                    "Report email for {run} not delivered yet ({error}); it stays in the outbox and is retried"
                );
            }
        }
        Some(Err(err)) => eprintln!("Email not sent: {err}; messages stay in the outbox"),
        None => {}
    }
    match pass.pushes {
        Some(Ok(pushes)) => {
            for (push, error) in pushes.failed {
                eprintln!(
                    "Push {push} not delivered yet ({error}); it stays in the outbox and is retried"
                );
            }
        }
        Some(Err(err)) => {
            eprintln!("Webhooks not sent: {err}; messages stay in the outbox");
        }
        None => {}
    }
}

/// Queues the `started` webhooks of `run` (as [`RunRecord::begun`] made it) and sends them,
/// on a task of its own: a drill never waits for its announcement, and never fails because
/// of it (problems are logged; what was queued is retried by the outbox). `None` when no
/// webhook hears `started`. Await the handle before the process exits, so a send is not
/// cut off mid-way (it would then wait out its claim lease).
pub fn announce_start(config: &Config, run: RunRecord) -> Option<tokio::task::JoinHandle<()>> {
    let hears = config
        .webhooks
        .iter()
        .any(|hook| hook.hears(firedrill_core::config::WebhookEvent::Started));
    if !hears {
        return None;
    }
    let config = config.clone();
    Some(tokio::spawn(async move {
        let store = match open(StoreAt::of(&config)).await {
            Ok(store) => store,
            Err(err) => {
                tracing::warn!(run = %run.id, error = %err, "Could not queue the run's started webhooks; the drill goes on");
                return;
            }
        };
        if let Err(err) = firedrill_notify::enqueue_started(&store, &config, &run, Utc::now()) {
            let error = crate::exit::error_chain(&err);
            tracing::warn!(run = %run.id, %error, "Could not queue the run's started webhooks; the drill goes on");
            return;
        }
        if let Some(Err(err)) = deliver_pushes(&config, &store).await {
            tracing::warn!(run = %run.id, error = %err, "Started webhooks queued, not sent yet; the outbox retries them");
        }
    }))
}
