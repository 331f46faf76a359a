//! `HttpProber`: availability probes through the Kubernetes service proxy or to a plain URL.

use std::time::Duration;

use async_trait::async_trait;
use firedrill_core::config::Probe;
use http_body_util::Empty;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use kube::Client;
use tokio::time::Instant;

use crate::engine::ports::{ProbeOutcome, ProbeTarget, Prober};

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

    /// Sends one probe: `Ok` on a 2xx answer, else why it failed.
    async fn send(&self, probe: &Probe) -> Result<(), String> {
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
                let request = http::Request::get(url)
                    .body(Vec::new())
                    .map_err(|err| format!("bad probe request: {err}"))?;
                let response = self
                    .kube
                    .send(request.map(kube::client::Body::from))
                    .await
                    .map_err(|err| err.to_string())?;
                read_answer(response).await
            }
            Probe::Url(url) => {
                let uri = url
                    .parse::<http::Uri>()
                    .map_err(|err| format!("bad probe URL {url}: {err}"))?;
                let response = self.http.get(uri).await.map_err(|err| err.to_string())?;
                read_answer(response).await
            }
        }
    }
}

/// Reads the whole body (so the connection is reused, and to say why on failure) and
/// judges the answer.
async fn read_answer<B>(response: http::Response<B>) -> Result<(), String>
where
    B: http_body_util::BodyExt,
{
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    answer(status, &body)
}

/// A 2xx answer, or `HTTP 403 Forbidden: <the Status message>` (the API server's
/// `message` when the body is a Kubernetes Status, else the body's first line).
fn answer(status: http::StatusCode, body: &[u8]) -> Result<(), String> {
    if status.is_success() {
        return Ok(());
    }
    let detail = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .or_else(|| {
            String::from_utf8_lossy(body)
                .lines()
                .next()
                .map(|line| line.chars().take(200).collect())
        })
        .filter(|detail| !detail.trim().is_empty());
    Err(match detail {
        Some(detail) => format!("HTTP {status}: {detail}"),
        None => format!("HTTP {status}"),
    })
}

#[async_trait]
impl Prober for HttpProber {
    async fn probe(&self, target: &ProbeTarget, timeout: Duration) -> ProbeOutcome {
        let start = Instant::now();
        match tokio::time::timeout(timeout, self.send(&target.probe)).await {
            Ok(sent) => ProbeOutcome {
                ok: sent.is_ok(),
                latency: start.elapsed(),
                failure: sent.err(),
            },
            Err(_) => ProbeOutcome {
                ok: false,
                latency: timeout,
                failure: Some(format!("no answer within {} ms", timeout.as_millis())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_probe_says_why_with_the_api_servers_message() {
        let forbidden = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"services \"web:http\" is forbidden: User \"system:serviceaccount:ops:firedrill\" cannot get resource \"services/proxy\" in API group \"\" in the namespace \"shop\"","reason":"Forbidden","code":403}"#;
        assert_eq!(
            answer(http::StatusCode::FORBIDDEN, forbidden),
            Err(r#"HTTP 403 Forbidden: services "web:http" is forbidden: User "system:serviceaccount:ops:firedrill" cannot get resource "services/proxy" in API group "" in the namespace "shop""#.to_string())
        );
        assert_eq!(
            answer(http::StatusCode::BAD_GATEWAY, b"upstream down\nmore"),
            Err("HTTP 502 Bad Gateway: upstream down".to_string())
        );
        assert_eq!(
            answer(http::StatusCode::SERVICE_UNAVAILABLE, b""),
            Err("HTTP 503 Service Unavailable".to_string())
        );
        assert_eq!(answer(http::StatusCode::OK, b"fine"), Ok(()));
    }
}
