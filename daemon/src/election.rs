//! Leader election with a Kubernetes Lease (coordination.k8s.io/v1), as client-go does it.
//!
//! Every replica tries, every third of the lease duration, to create the Lease, renew it
//! if it holds it, or take it over if its holder has not renewed it for a whole duration.
//! Writes carry the resourceVersion read, so two replicas racing for a lease cannot both
//! win: the API server refuses the second with 409. The decision is a pure function.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use kube::Client;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What the Lease says, as far as election cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseView {
    pub holder: Option<String>,
    pub renewed: Option<DateTime<Utc>>,
    pub duration: Duration,
    pub transitions: u64,
}

/// What this replica does about the Lease now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseAction {
    /// No Lease yet: create it, holding it.
    Create,
    /// We hold it: renew it.
    Renew,
    /// Its holder stopped renewing (or released it): take it over.
    TakeOver,
    /// Someone else holds it and renews it.
    Follow { leader: String },
}

/// The election rule.
pub fn decide(lease: Option<&LeaseView>, me: &str, now: DateTime<Utc>) -> LeaseAction {
    let Some(lease) = lease else {
        return LeaseAction::Create;
    };
    match (&lease.holder, lease.renewed) {
        (Some(holder), _) if holder == me => LeaseAction::Renew,
        (Some(holder), Some(renewed))
            if now - renewed <= chrono::Duration::from_std(lease.duration).unwrap_or_default() =>
        {
            LeaseAction::Follow {
                leader: holder.clone(),
            }
        }
        _ => LeaseAction::TakeOver,
    }
}

/// The replica's identity: `$FIREDRILL_POD_NAME` (set by the chart), else host and pid.
pub fn identity() -> String {
    std::env::var("FIREDRILL_POD_NAME").unwrap_or_else(|_| {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "firedrill".into());
        format!("{host}-{}", std::process::id())
    })
}

/// Campaigns for a Lease through the Kubernetes API.
#[derive(Clone)]
pub struct LeaseElector {
    client: Client,
    namespace: String,
    name: String,
    identity: String,
    duration: Duration,
}

impl std::fmt::Debug for LeaseElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseElector")
            .field("lease", &self.name)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

fn micro(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl LeaseElector {
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: String,
        duration: Duration,
    ) -> Self {
        Self {
            client,
            namespace: namespace.to_string(),
            name: name.to_string(),
            identity,
            duration,
        }
    }

    fn url(&self, with_name: bool) -> String {
        let base = format!(
            "/apis/coordination.k8s.io/v1/namespaces/{}/leases",
            self.namespace
        );
        if with_name {
            format!("{base}/{}", self.name)
        } else {
            base
        }
    }

    fn body(
        &self,
        now: DateTime<Utc>,
        acquired: DateTime<Utc>,
        transitions: u64,
        resource_version: Option<&str>,
    ) -> Value {
        let mut metadata = json!({ "name": self.name, "namespace": self.namespace });
        if let Some(version) = resource_version {
            metadata["resourceVersion"] = json!(version);
        }
        json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": self.duration.as_secs().max(1),
                "acquireTime": micro(acquired),
                "renewTime": micro(now),
                "leaseTransitions": transitions,
            }
        })
    }

    async fn send(
        &self,
        method: http::Method,
        url: String,
        body: Option<Value>,
    ) -> Result<Value, kube::Error> {
        let request = http::Request::builder()
            .method(method)
            .uri(url)
            .header("Content-Type", "application/json")
            .body(body.map(|b| b.to_string().into_bytes()).unwrap_or_default())
            .map_err(kube::Error::HttpError)?;
        let text = self.client.request_text(request).await?;
        serde_json::from_str(&text).map_err(kube::Error::SerdeError)
    }

    /// One round of the campaign; true when this replica holds the Lease afterwards.
    pub async fn campaign(&self, now: DateTime<Utc>) -> Result<bool, String> {
        let current = match self.send(http::Method::GET, self.url(true), None).await {
            Ok(lease) => Some(lease),
            Err(kube::Error::Api(status)) if status.code == 404 => None,
            Err(err) => return Err(err.to_string()),
        };
        let view = current.as_ref().map(|lease| LeaseView {
            holder: lease
                .pointer("/spec/holderIdentity")
                .and_then(Value::as_str)
                .map(str::to_string),
            renewed: lease
                .pointer("/spec/renewTime")
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
            duration: Duration::from_secs(
                lease
                    .pointer("/spec/leaseDurationSeconds")
                    .and_then(Value::as_u64)
                    .unwrap_or(15),
            ),
            transitions: lease
                .pointer("/spec/leaseTransitions")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        });
        let version = current
            .as_ref()
            .and_then(|l| l.pointer("/metadata/resourceVersion"))
            .and_then(Value::as_str);
        let acquired = current
            .as_ref()
            .and_then(|l| l.pointer("/spec/acquireTime"))
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or(now, |t| t.with_timezone(&Utc));
        let result = match decide(view.as_ref(), &self.identity, now) {
            LeaseAction::Follow { .. } => return Ok(false),
            LeaseAction::Create => {
                self.send(
                    http::Method::POST,
                    self.url(false),
                    Some(self.body(now, now, 0, None)),
                )
                .await
            }
            LeaseAction::Renew => {
                let transitions = view.as_ref().map_or(0, |v| v.transitions);
                self.send(
                    http::Method::PUT,
                    self.url(true),
                    Some(self.body(now, acquired, transitions, version)),
                )
                .await
            }
            LeaseAction::TakeOver => {
                let transitions = view.as_ref().map_or(0, |v| v.transitions + 1);
                self.send(
                    http::Method::PUT,
                    self.url(true),
                    Some(self.body(now, now, transitions, version)),
                )
                .await
            }
        };
        match result {
            Ok(_) => Ok(true),
            // Another replica wrote first: it won this round.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(err) => Err(err.to_string()),
        }
    }
}

/// Campaigns until `shutdown`, publishing whether this replica leads. A replica that
/// cannot reach the API server stops leading after one lease duration, before anyone else
/// may take over.
pub async fn run(elector: LeaseElector, leading: watch::Sender<bool>, shutdown: CancellationToken) {
    let period = (elector.duration / 3).max(Duration::from_millis(200));
    let mut last_success: Option<tokio::time::Instant> = None;
    loop {
        match elector.campaign(Utc::now()).await {
            Ok(lead) => {
                if lead {
                    last_success = Some(tokio::time::Instant::now());
                }
                if *leading.borrow() != lead {
                    tracing::info!(identity = %elector.identity, leading = lead, "Leadership changed");
                }
                let _ = leading.send(lead);
            }
            Err(err) => {
                tracing::warn!(error = %err, "Lease campaign failed");
                let expired =
                    last_success.is_none_or(|at| at.elapsed() >= elector.duration * 2 / 3);
                if expired {
                    let _ = leading.send(false);
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn lease(holder: &str, renewed: &str) -> LeaseView {
        LeaseView {
            holder: Some(holder.into()),
            renewed: Some(at(renewed)),
            duration: Duration::from_secs(15),
            transitions: 0,
        }
    }

    #[test]
    fn no_lease_is_created_a_held_one_renewed_a_live_one_followed() {
        let now = at("2026-11-21T12:00:10Z");
        assert_eq!(decide(None, "a", now), LeaseAction::Create);
        assert_eq!(
            decide(Some(&lease("a", "2026-11-21T12:00:00Z")), "a", now),
            LeaseAction::Renew
        );
        assert_eq!(
            decide(Some(&lease("b", "2026-11-21T12:00:00Z")), "a", now),
            LeaseAction::Follow { leader: "b".into() }
        );
    }

    #[test]
    fn a_lease_not_renewed_for_its_duration_is_taken_over() {
        let stale = lease("b", "2026-11-21T12:00:00Z");
        assert_eq!(
            decide(Some(&stale), "a", at("2026-11-21T12:00:15Z")),
            LeaseAction::Follow { leader: "b".into() }
        );
        assert_eq!(
            decide(Some(&stale), "a", at("2026-11-21T12:00:16Z")),
            LeaseAction::TakeOver
        );
        let released = LeaseView {
            holder: None,
            ..stale
        };
        assert_eq!(
            decide(Some(&released), "a", at("2026-11-21T12:00:01Z")),
            LeaseAction::TakeOver
        );
    }
}
