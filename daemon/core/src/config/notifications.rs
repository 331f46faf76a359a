//! Resolving `notifications.webhooks` and `notifications.grafana` (HTTP pushes of a run),
//! and `api.public_url` that their report links use, with located diagnostics.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::raw;
pub use super::raw::{WebhookEvent, WebhookFormat};
use super::resolve::{Secret, check_name, resolve_secret};
use super::{FieldPath, Reporter};

/// A value given as text in the file, or a secret read when it is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextOrSecret {
    Text(String),
    Secret(Secret),
}

/// One webhook of `notifications.webhooks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Unique among webhooks; names it in logs and in the outbox's channel.
    pub name: String,
    /// The URL; a secret one is read at each delivery and never logged.
    pub url: TextOrSecret,
    pub format: WebhookFormat,
    /// The events it hears, each once, in order (`started` before `finished`).
    pub events: BTreeSet<WebhookEvent>,
    /// Extra headers in file order.
    pub headers: Vec<(String, TextOrSecret)>,
}

impl Webhook {
    pub fn hears(&self, event: WebhookEvent) -> bool {
        self.events.contains(&event)
    }
}

/// `notifications.grafana`: region annotations pushed per phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grafana {
    /// Base URL without a trailing `/`.
    pub url: String,
    pub token: Secret,
    pub tags: Vec<String>,
    pub dashboard_uid: Option<String>,
}

/// Headers firedrill sets itself (or the HTTP client does): a webhook may not override them.
const RESERVED_HEADERS: &[&str] = &[
    "content-length",
    "content-type",
    "host",
    "transfer-encoding",
    "connection",
];

fn http_url_problem(url: &str) -> Option<&'static str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        None => Some("expected an http:// or https:// URL"),
        Some(rest)
            if rest
                .split(['/', '?', '#'])
                .next()
                .unwrap_or_default()
                .is_empty() =>
        {
            Some("the URL names no host")
        }
        Some(_) if url.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            Some("the URL has spaces or control characters in it")
        }
        Some(_) => None,
    }
}

/// An HTTP header name: an RFC 9110 token.
fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

fn text_or_secret(
    value: &raw::RawTextOrSecret,
    path: &FieldPath,
    rel: &dyn Fn(&str) -> PathBuf,
    reporter: &mut Reporter<'_>,
) -> Option<TextOrSecret> {
    match value {
        raw::RawTextOrSecret::Text(text) => Some(TextOrSecret::Text(text.clone())),
        raw::RawTextOrSecret::Secret(secret) => {
            resolve_secret(secret, path, rel, reporter).map(TextOrSecret::Secret)
        }
    }
}

/// `notifications.webhooks`: names unique and DNS-label-like, URLs given as text checked
/// here (a secret one is checked when read), events without repeats, header names valid
/// and none firedrill sets itself.
pub(super) fn resolve_webhooks(
    raw: &[raw::RawWebhook],
    path: &FieldPath,
    rel: &dyn Fn(&str) -> PathBuf,
    reporter: &mut Reporter<'_>,
) -> Vec<Webhook> {
    let mut webhooks = Vec::new();
    let mut names = BTreeSet::new();
    for (i, hook) in raw.iter().enumerate() {
        let path = path.index(i);
        check_name(reporter, &path.key("name"), "webhook", &hook.name);
        if !names.insert(hook.name.as_str()) {
            reporter.error(
                &path.key("name"),
                format!("another webhook is named `{}` already", hook.name),
            );
        }
        if let raw::RawTextOrSecret::Text(url) = &hook.url
            && let Some(problem) = http_url_problem(url)
        {
            reporter.error(&path.key("url"), problem);
        }
        let url = text_or_secret(&hook.url, &path.key("url"), rel, reporter);
        let listed = hook
            .events
            .clone()
            .unwrap_or_else(|| vec![WebhookEvent::Finished]);
        if listed.is_empty() {
            reporter.error(
                &path.key("events"),
                "name at least one event (`started`, `finished`), or leave `events` out",
            );
        }
        let mut events = BTreeSet::new();
        for (j, event) in listed.iter().enumerate() {
            if !events.insert(*event) {
                reporter.error(&path.key("events").index(j), "this event is listed twice");
            }
        }
        let mut headers = Vec::new();
        for (name, value) in &hook.headers {
            let header_path = path.key("headers").key(name);
            if !valid_header_name(name) {
                reporter.key_error(
                    &header_path,
                    format!("`{name}` is not an HTTP header name (letters, digits, `-`)"),
                );
            } else if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                reporter.key_error(
                    &header_path,
                    format!("`{name}` is set by firedrill itself and cannot be configured"),
                );
            }
            if let raw::RawTextOrSecret::Text(text) = value
                && text.chars().any(|c| c.is_control())
            {
                reporter.error(&header_path, "a header value cannot hold line breaks");
            }
            if let Some(value) = text_or_secret(value, &header_path, rel, reporter) {
                headers.push((name.clone(), value));
            }
        }
        if let Some(url) = url {
            webhooks.push(Webhook {
                name: hook.name.clone(),
                url,
                format: hook.format.unwrap_or(WebhookFormat::Json),
                events,
                headers,
            });
        }
    }
    webhooks
}

/// `notifications.grafana`.
pub(super) fn resolve_grafana(
    raw: &raw::RawGrafana,
    path: &FieldPath,
    rel: &dyn Fn(&str) -> PathBuf,
    reporter: &mut Reporter<'_>,
) -> Option<Grafana> {
    if let Some(problem) = http_url_problem(&raw.url) {
        reporter.error(&path.key("url"), problem);
    }
    let tags = raw
        .tags
        .clone()
        .unwrap_or_else(|| vec!["firedrill".to_string()]);
    for (i, tag) in tags.iter().enumerate() {
        if tag.trim().is_empty() {
            reporter.error(&path.key("tags").index(i), "a tag cannot be empty");
        }
    }
    if raw.dashboard_uid.as_deref().is_some_and(str::is_empty) {
        reporter.error(
            &path.key("dashboard_uid"),
            "empty: name a dashboard's UID, or leave `dashboard_uid` out",
        );
    }
    let token = resolve_secret(&raw.token, &path.key("token"), rel, reporter)?;
    Some(Grafana {
        url: raw.url.trim_end_matches('/').to_string(),
        token,
        tags,
        dashboard_uid: raw.dashboard_uid.clone(),
    })
}

/// `api.public_url`, without its trailing `/`.
pub(super) fn resolve_public_url(
    raw: Option<&str>,
    path: &FieldPath,
    reporter: &mut Reporter<'_>,
) -> Option<String> {
    let url = raw?;
    if let Some(problem) = http_url_problem(url) {
        reporter.error(path, problem);
        return None;
    }
    Some(url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_a_scheme_and_a_host() {
        assert_eq!(http_url_problem("https://hooks.example.com/x"), None);
        assert_eq!(http_url_problem("http://127.0.0.1:8080"), None);
        assert!(http_url_problem("hooks.example.com/x").is_some());
        assert!(http_url_problem("https:///path").is_some());
        assert!(http_url_problem("https://a b").is_some());
    }

    #[test]
    fn header_names_are_tokens() {
        assert!(valid_header_name("Authorization"));
        assert!(valid_header_name("X-Firedrill-Signature"));
        assert!(!valid_header_name("Bad Header"));
        assert!(!valid_header_name("X:Y"));
        assert!(!valid_header_name(""));
    }
}
