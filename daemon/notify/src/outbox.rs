//! The persistent outbox's email: queue one message per run, deliver what is due, back off on failure.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use firedrill_store::MailQueue;

use crate::NotifyError;
use crate::mailer::Mailer;
use crate::message::OutgoingEmail;

/// Exponential backoff between attempts: `initial`, doubled after each failure, capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    /// 30 s, 1 min, 2 min ... up to 1 h: a mail server down for a maintenance window is
    /// retried often enough, and one down for a day is not hammered.
    fn default() -> Backoff {
        Backoff {
            initial: Duration::from_secs(30),
            max: Duration::from_secs(3600),
        }
    }
}

impl Backoff {
    /// The wait after the `attempts`-th failed attempt (1-based).
    pub fn delay(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(31);
        self.initial
            .checked_mul(1u32 << doublings)
            .map_or(self.max, |delay| delay.min(self.max))
    }
}

/// What one pass over the outbox did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryPass {
    pub delivered: Vec<String>,
    /// Run ids whose message failed this time, with the error; they stay queued.
    pub failed: Vec<(String, String)>,
}

/// Queues `email`; false when its run already has a message (queued or delivered).
pub fn enqueue<Q: MailQueue + ?Sized>(
    queue: &Q,
    email: &OutgoingEmail,
    now: DateTime<Utc>,
) -> Result<bool, NotifyError> {
    let payload = serde_json::to_string(email)?;
    Ok(queue.enqueue_mail(&email.run_id, &payload, now)?)
}

/// `err` and its causes, `: `-separated.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Sends every message due at `now`. A failure is recorded on the message with the time of
/// its next attempt; only storage errors end the pass early.
pub async fn deliver_due<Q: MailQueue + ?Sized, M: Mailer>(
    queue: &Q,
    mailer: &M,
    backoff: &Backoff,
    now: DateTime<Utc>,
) -> Result<DeliveryPass, NotifyError> {
    let mut pass = DeliveryPass::default();
    for mail in queue.due_mail(now)? {
        if !queue.claim_mail(mail.id, now)? {
            continue;
        }
        let attempts = mail.attempts + 1;
        let sent = match serde_json::from_str::<OutgoingEmail>(&mail.payload) {
            Ok(email) => mailer.send(&email).await,
            Err(err) => Err(NotifyError::Json(err)),
        };
        match sent {
            Ok(()) => {
                queue.mail_delivered(mail.id, Utc::now().max(now))?;
                tracing::info!(run_id = %mail.run_id, attempts, "Report email delivered");
                pass.delivered.push(mail.run_id);
            }
            Err(err) => {
                let error = error_chain(&err);
                let wait = backoff.delay(attempts);
                let next =
                    now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
                queue.mail_failed(mail.id, &error, next)?;
                tracing::warn!(run_id = %mail.run_id, attempts, %error, next_attempt_at = %next, "Report email not delivered; will retry");
                pass.failed.push((mail.run_id, error));
            }
        }
    }
    Ok(pass)
}

/// Delivers due messages every `poll` until `shutdown` completes.
pub async fn run_outbox<Q: MailQueue, M: Mailer>(
    queue: &Q,
    mailer: &M,
    backoff: Backoff,
    poll: Duration,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NotifyError> {
    tokio::pin!(shutdown);
    loop {
        deliver_due(queue, mailer, &backoff, Utc::now()).await?;
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            () = tokio::time::sleep(poll) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let backoff = Backoff::default();
        let secs: Vec<u64> = (1..=9).map(|n| backoff.delay(n).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff.delay(1000).as_secs(), 3600);
    }
}
