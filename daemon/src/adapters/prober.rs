//! `HttpProber` (availability probes through the Kubernetes service proxy or to a plain URL)
//! and `PrometheusAlerts` (which alerts are firing, for abort conditions).

use std::time::Duration;

use async_trait::async_trait;
use firedrill_core::config::Probe;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use kube::Client;
use tokio::time::Instant;

use crate::engine::ports::{AlertSource, ProbeOutcome, ProbeTarget, Prober, ScenarioError};

type Https = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// Sends probes: `service_proxy` ones through the API server (the same path on the
/// sandbox and on a real cluster), `url` ones directly over HTTP(S).
#[derive(Clone)]
pub struct HttpProber {
    kube: Client,
    http: HttpClient<Https, Empty<bytes::Bytes>>,
}

impl std::fmt::Debug for HttpProber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProber").finish_non_exhaustive()
    }
}

impl HttpProber {
    pub fn new(kube: Client) -> Result<Self, std::io::Error> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            kube,
            http: HttpClient::builder(TokioExecutor::new()).build(https),
        })
    }

    async fn send(&self, probe: &Probe) -> bool {
        match probe {
            Probe::ServiceProxy {
                namespace,
                service,
                port,
                path,
            } => {
                let target = match port {
                    Some(port) => format!("{service}:{port}"),
                    None => service.clone(),
                };
                let url = format!("/api/v1/namespaces/{namespace}/services/{target}/proxy{path}");
                let Ok(request) = http::Request::get(url).body(Vec::new()) else {
                    return false;
                };
                match self.kube.send(request.map(kube::client::Body::from)).await {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        // Read the body so the connection is reused.
                        let _ = response.into_body().collect().await;
                        ok
                    }
                    Err(_) => false,
                }
            }
            Probe::Url(url) => {
                let Ok(uri) = url.parse::<http::Uri>() else {
                    return false;
                };
                match self.http.get(uri).await {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        let _ = response.into_body().collect().await;
                        ok
                    }
                    Err(_) => false,
                }
            }
        }
    }
}

#[async_trait]
impl Prober for HttpProber {
    async fn probe(&self, target: &ProbeTarget, timeout: Duration) -> ProbeOutcome {
        let start = Instant::now();
        match tokio::time::timeout(timeout, self.send(&target.probe)).await {
            Ok(ok) => ProbeOutcome {
                ok,
                latency: start.elapsed(),
            },
            Err(_) => ProbeOutcome {
                ok: false,
                latency: timeout,
            },
        }
    }
}

/// Firing alerts from the Prometheus HTTP API (`GET /api/v1/alerts`).
#[derive(Clone)]
pub struct PrometheusAlerts {
    base: String,
    http: HttpClient<Https, Empty<bytes::Bytes>>,
}

impl std::fmt::Debug for PrometheusAlerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusAlerts")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl PrometheusAlerts {
    pub fn new(base: &str) -> Result<Self, std::io::Error> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            http: HttpClient::builder(TokioExecutor::new()).build(https),
        })
    }
}

/// The names of the alerts in state `firing` in an `/api/v1/alerts` answer.
pub fn firing_alerts(body: &[u8]) -> Result<Vec<String>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|err| format!("not JSON: {err}"))?;
    let alerts = value
        .pointer("/data/alerts")
        .and_then(serde_json::Value::as_array)
        .ok_or("no data.alerts in the answer")?;
    Ok(alerts
        .iter()
        .filter(|a| a["state"] == "firing")
        .filter_map(|a| a.pointer("/labels/alertname")?.as_str().map(str::to_string))
        .collect())
}

#[async_trait]
impl AlertSource for PrometheusAlerts {
    async fn firing(&self) -> Result<Vec<String>, ScenarioError> {
        let url = format!("{}/api/v1/alerts", self.base);
        let uri: http::Uri = url
            .parse()
            .map_err(|err| ScenarioError(format!("bad Prometheus URL {url}: {err}")))?;
        let response = tokio::time::timeout(Duration::from_secs(10), self.http.get(uri))
            .await
            .map_err(|_| ScenarioError(format!("{url} did not answer within 10 s")))?
            .map_err(|err| ScenarioError(format!("{url}: {err}")))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|err| ScenarioError(format!("{url}: {err}")))?
            .to_bytes();
        if !status.is_success() {
            return Err(ScenarioError(format!("{url} answered {status}")));
        }
        firing_alerts(&body).map_err(|err| ScenarioError(format!("{url}: {err}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_firing_alerts_are_read_from_the_prometheus_answer() {
        let body = br#"{"status":"success","data":{"alerts":[
            {"labels":{"alertname":"KubeAPIDown","severity":"critical"},"state":"firing"},
            {"labels":{"alertname":"DiskFilling"},"state":"pending"},
            {"labels":{"alertname":"Watchdog"},"state":"firing"}]}}"#;
        assert_eq!(firing_alerts(body).unwrap(), ["KubeAPIDown", "Watchdog"]);
        assert!(firing_alerts(b"<html>").is_err());
        assert!(firing_alerts(br#"{"status":"error"}"#).is_err());
    }
}
