//! HTTP pushes of a run through the outbox: webhooks and Grafana annotations queued when a
//! run starts or is recorded, one message per (run, channel), and delivered like the email:
//! claimed once across replicas, retried with [`Backoff`] until the receiver answers 2xx.
//!
//! A queued push holds its rendered body and the name of where it goes; the URL, headers
//! and token are read from the configuration (secrets from env or file) at each attempt,
//! so no secret is ever stored in the outbox, and errors name the webhook, never its URL.

use std::future::Future;

use chrono::{DateTime, Utc};
use firedrill_core::config::{Config, Grafana, TextOrSecret, Webhook, WebhookEvent};
use firedrill_core::run::RunRecord;
use firedrill_store::MailQueue;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::NotifyError;
use crate::grafana::annotations;
use crate::mailer::resolve_secret;
use crate::outbox::{Backoff, error_chain};
use crate::webhook::RunSummary;

/// One queued push, as stored in the outbox's payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Push {
    /// A POST to the webhook of this name.
    Webhook { webhook: String, body: Value },
    /// An annotation for Grafana.
    Grafana { body: Value },
}

impl Push {
    /// Who receives it, for messages: `webhook `chat``, `grafana`.
    pub fn target(&self) -> String {
        match self {
            Push::Webhook { webhook, .. } => format!("webhook `{webhook}`"),
            Push::Grafana { .. } => "grafana".to_string(),
        }
    }
}

/// The outbox channel of a webhook's event: `webhook:NAME:EVENT`.
pub fn webhook_channel(webhook: &str, event: WebhookEvent) -> String {
    let event = match event {
        WebhookEvent::Started => "started",
        WebhookEvent::Finished => "finished",
    };
    format!("webhook:{webhook}:{event}")
}

/// The outbox channel of a phase's Grafana annotation: `grafana:PHASE`.
pub fn grafana_channel(phase: &str) -> String {
    format!("grafana:{phase}")
}

/// Whether the configuration pushes anything over HTTP.
pub fn pushes_configured(config: &Config) -> bool {
    !config.webhooks.is_empty() || config.grafana.is_some()
}

fn enqueue<Q: MailQueue + ?Sized>(
    queue: &Q,
    run_id: &str,
    channel: &str,
    push: &Push,
    now: DateTime<Utc>,
) -> Result<bool, NotifyError> {
    let payload = serde_json::to_string(push)?;
    Ok(queue.enqueue_push(run_id, channel, &payload, now)?)
}

/// Queues what a recorded `run` owes its webhooks (`finished`) and Grafana (an annotation
/// per phase that ran). Idempotent: what is queued already stays as it was. Returns how
/// many pushes were newly queued.
pub fn enqueue_finished<Q: MailQueue + ?Sized>(
    queue: &Q,
    config: &Config,
    run: &RunRecord,
    now: DateTime<Utc>,
) -> Result<usize, NotifyError> {
    let mut queued = 0;
    let hooks: Vec<&Webhook> = config
        .webhooks
        .iter()
        .filter(|hook| hook.hears(WebhookEvent::Finished))
        .collect();
    if !hooks.is_empty() {
        let summary = RunSummary::finished(
            run,
            config.drill(&run.drill),
            config.api.public_url.as_deref(),
        );
        for hook in hooks {
            let push = Push::Webhook {
                webhook: hook.name.clone(),
                body: summary.render(hook.format),
            };
            let channel = webhook_channel(&hook.name, WebhookEvent::Finished);
            queued += usize::from(enqueue(queue, &run.id, &channel, &push, now)?);
        }
    }
    if let Some(grafana) = &config.grafana {
        for annotation in annotations(run, grafana) {
            let push = Push::Grafana {
                body: annotation.body,
            };
            let channel = grafana_channel(&annotation.phase);
            queued += usize::from(enqueue(queue, &run.id, &channel, &push, now)?);
        }
    }
    Ok(queued)
}

/// Queues the `started` event of `run` (as [`RunRecord::begun`] made it) for the webhooks
/// that hear it. Returns how many were newly queued.
pub fn enqueue_started<Q: MailQueue + ?Sized>(
    queue: &Q,
    config: &Config,
    run: &RunRecord,
    now: DateTime<Utc>,
) -> Result<usize, NotifyError> {
    let hooks: Vec<&Webhook> = config
        .webhooks
        .iter()
        .filter(|hook| hook.hears(WebhookEvent::Started))
        .collect();
    if hooks.is_empty() {
        return Ok(0);
    }
    let summary = RunSummary::started(run, config.drill(&run.drill));
    let mut queued = 0;
    for hook in hooks {
        let push = Push::Webhook {
            webhook: hook.name.clone(),
            body: summary.render(hook.format),
        };
        let channel = webhook_channel(&hook.name, WebhookEvent::Started);
        queued += usize::from(enqueue(queue, &run.id, &channel, &push, now)?);
    }
    Ok(queued)
}

/// One HTTP POST of a JSON body. Its `Debug` names the target only: the URL and header
/// values may be secrets.
#[derive(Clone)]
pub struct PushRequest {
    /// Who receives it, for messages (`webhook `chat``, `grafana`).
    pub target: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for PushRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushRequest")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl PushRequest {
    /// The secrets a reply might echo (URL, header values), to scrub from messages.
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.url.as_str())
            .chain(self.headers.iter().map(|(_, value)| value.as_str()))
            .filter(|secret| secret.len() >= 4)
    }
}

/// Sends one push; an error means it was not accepted (not a 2xx) and may be retried.
pub trait Pusher {
    fn post(&self, request: &PushRequest) -> impl Future<Output = Result<(), NotifyError>> + Send;
}

fn read(value: &TextOrSecret, target: &str, field: &str) -> Result<String, NotifyError> {
    match value {
        TextOrSecret::Text(text) => Ok(text.clone()),
        TextOrSecret::Secret(secret) => {
            resolve_secret(secret).map_err(|source| NotifyError::PushSecret {
                target: target.to_string(),
                field: field.to_string(),
                source,
            })
        }
    }
}

fn webhook_request(hook: &Webhook, body: &Value) -> Result<PushRequest, NotifyError> {
    let target = format!("webhook `{}`", hook.name);
    let url = read(&hook.url, &target, "url")?;
    let mut headers = Vec::with_capacity(hook.headers.len());
    for (name, value) in &hook.headers {
        headers.push((
            name.clone(),
            read(value, &target, &format!("header {name}"))?,
        ));
    }
    Ok(PushRequest {
        url,
        headers,
        body: serde_json::to_vec(body)?,
        target,
    })
}

fn grafana_request(grafana: &Grafana, body: &Value) -> Result<PushRequest, NotifyError> {
    let target = "grafana".to_string();
    let token = resolve_secret(&grafana.token).map_err(|source| NotifyError::PushSecret {
        target: target.clone(),
        field: "token".to_string(),
        source,
    })?;
    Ok(PushRequest {
        url: format!("{}/api/annotations", grafana.url),
        headers: vec![("Authorization".to_string(), format!("Bearer {token}"))],
        body: serde_json::to_vec(body)?,
        target,
    })
}

/// The request of `push` under `config`: where it goes is read from the configuration in
/// force now (a webhook no longer configured is an error, and the push stays queued).
pub fn request(push: &Push, config: &Config) -> Result<PushRequest, NotifyError> {
    match push {
        Push::Webhook { webhook, body } => {
            let hook = config
                .webhooks
                .iter()
                .find(|hook| &hook.name == webhook)
                .ok_or_else(|| NotifyError::Push {
                    target: push.target(),
                    problem: "no webhook of this name is configured (any more)".to_string(),
                })?;
            webhook_request(hook, body)
        }
        Push::Grafana { body } => {
            let grafana = config.grafana.as_ref().ok_or_else(|| NotifyError::Push {
                target: push.target(),
                problem: "`notifications.grafana` is not configured (any more)".to_string(),
            })?;
            grafana_request(grafana, body)
        }
    }
}

/// What one pass over the queued pushes did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushPass {
    /// Run id and channel of each push delivered.
    pub delivered: Vec<(String, String)>,
    /// Run id, channel and error of each push that failed this time; they stay queued.
    pub failed: Vec<(String, String, String)>,
}

/// Sends every push due at `now` through `pusher`. A failure is recorded on the message
/// with the time of its next attempt; only storage errors end the pass early.
pub async fn deliver_pushes<Q: MailQueue + ?Sized, P: Pusher>(
    queue: &Q,
    pusher: &P,
    config: &Config,
    backoff: &Backoff,
    now: DateTime<Utc>,
) -> Result<PushPass, NotifyError> {
    let mut pass = PushPass::default();
    for message in queue.due_pushes(now)? {
        if !queue.claim_mail(message.id, now)? {
            continue;
        }
        let attempts = message.attempts + 1;
        let sent = match serde_json::from_str::<Push>(&message.payload) {
            Ok(push) => match request(&push, config) {
                Ok(request) => pusher.post(&request).await,
                Err(err) => Err(err),
            },
            Err(err) => Err(NotifyError::Json(err)),
        };
        match sent {
            Ok(()) => {
                queue.mail_delivered(message.id, Utc::now().max(now))?;
                tracing::info!(run_id = %message.run_id, channel = %message.channel, attempts, "Push delivered");
                pass.delivered.push((message.run_id, message.channel));
            }
            Err(err) => {
                let error = error_chain(&err);
                let wait = backoff.delay(attempts);
                let next =
                    now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
                queue.mail_failed(message.id, &error, next)?;
                tracing::warn!(run_id = %message.run_id, channel = %message.channel, attempts, %error, next_attempt_at = %next, "Push not delivered; will retry");
                pass.failed.push((message.run_id, message.channel, error));
            }
        }
    }
    Ok(pass)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::Path;

    use firedrill_core::config::{ResolveContext, load_str};

    use super::*;

    fn config(notifications: &str) -> Config {
        let text = format!("version: 1\nnotifications:\n{notifications}");
        load_str(
            "firedrill.yaml",
            &text,
            Path::new("/nonexistent"),
            &ResolveContext::builtin(),
        )
        .unwrap()
    }

    #[test]
    fn a_webhook_request_reads_its_url_and_headers_and_debug_shows_neither() {
        // The header's secret from a file (tests share the process environment).
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "Bearer s3cret-token\n").unwrap();
        let config = config(&format!(
            "  webhooks:\n    - name: chat\n      url: http://127.0.0.1:9/hook\n      headers:\n        Authorization: {{ file: {} }}\n        X-Team: sre\n",
            token.display()
        ));
        let push = Push::Webhook {
            webhook: "chat".to_string(),
            body: serde_json::json!({"version": 1}),
        };
        let request = request(&push, &config).unwrap();
        assert_eq!(request.url, "http://127.0.0.1:9/hook");
        assert_eq!(
            request.headers,
            [
                (
                    "Authorization".to_string(),
                    "Bearer s3cret-token".to_string()
                ),
                ("X-Team".to_string(), "sre".to_string())
            ]
        );
        assert_eq!(request.body, br#"{"version":1}"#);
        let debug = format!("{request:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("127.0.0.1"),
            "{debug}"
        );
    }

    #[test]
    fn a_push_for_a_webhook_no_longer_configured_fails_naming_it() {
        let config = config("  webhooks: []\n");
        let push = Push::Webhook {
            webhook: "gone".to_string(),
            body: Value::Null,
        };
        let err = request(&push, &config).unwrap_err();
        assert_eq!(
            err.to_string(),
            "webhook `gone`: no webhook of this name is configured (any more)"
        );
    }

    #[test]
    fn a_missing_secret_names_the_webhook_and_field_and_not_the_value() {
        let config = config(
            "  webhooks:\n    - name: chat\n      url: { env: FIREDRILL_TEST_UNSET_HOOK_URL }\n",
        );
        let push = Push::Webhook {
            webhook: "chat".to_string(),
            body: Value::Null,
        };
        let err = request(&push, &config).unwrap_err();
        assert_eq!(
            error_chain(&err),
            "webhook `chat`: url: environment variable FIREDRILL_TEST_UNSET_HOOK_URL is not set"
        );
    }

    #[test]
    fn channels_name_the_webhook_and_event_or_the_phase() {
        assert_eq!(
            webhook_channel("chat", WebhookEvent::Started),
            "webhook:chat:started"
        );
        assert_eq!(grafana_channel("zone-a"), "grafana:zone-a");
        let push = Push::Grafana {
            body: serde_json::json!({"time": 1}),
        };
        let text = serde_json::to_string(&push).unwrap();
        assert_eq!(text, r#"{"kind":"grafana","body":{"time":1}}"#);
        assert_eq!(serde_json::from_str::<Push>(&text).unwrap(), push);
    }
}
